//! Temporary files and directories, and what is made of them.

use super::*;

/// `<temp dir>/<prefix>XXXXXX` as a NUL-terminated template for mkstemp/mkdtemp.
fn temp_template(prefix: &str) -> std::io::Result<Vec<u8>> {
    let mut path = std::env::temp_dir().join(format!("{prefix}XXXXXX")).as_os_str().as_bytes().to_vec();
    if path.len() >= libc::PATH_MAX as usize || path.contains(&0) {
        return Err(std::io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    path.push(0);
    Ok(path)
}

fn path_of_template(mut template: Vec<u8>) -> PathBuf {
    template.pop();
    PathBuf::from(std::ffi::OsString::from(std::ffi::OsStr::from_bytes(&template)))
}

/// What `create_temp` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempKind {
    /// A file, opened read-write and close-on-exec (mkstemp's mode 0600).
    #[cfg_attr(target_os = "linux", allow(dead_code))] // Darwin's memfds; tests.
    File,
    /// A directory (mode 0700).
    Dir,
}

/// Create a fresh, uniquely named file or directory in the host's temporary directory:
/// its path, and for a file the descriptor. The caller removes it (most remove it at once,
/// keeping only descriptors).
pub fn create_temp(prefix: &str, kind: TempKind) -> std::io::Result<(PathBuf, Option<OwnedFd>)> {
    let mut template = temp_template(prefix)?;
    match kind {
        TempKind::File => {
            // SAFETY: template is a writable NUL-terminated buffer ending in XXXXXX, which
            // mkstemp rewrites in place.
            let raw = unsafe { libc::mkstemp(template.as_mut_ptr().cast()) };
            if raw < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: mkstemp made a new descriptor nothing else owns.
            let file = unsafe { OwnedFd::from_raw_fd(raw) };
            rustix::io::fcntl_setfd(&file, rustix::io::FdFlags::CLOEXEC)?;
            Ok((path_of_template(template), Some(file)))
        }
        TempKind::Dir => {
            // SAFETY: as above, for mkdtemp.
            if unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) }.is_null() {
                return Err(std::io::Error::last_os_error());
            }
            Ok((path_of_template(template), None))
        }
    }
}

/// A path as a C string for a host call.
pub fn c_string(path: &std::path::Path) -> SysResult<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| errno::ENOENT as LinuxErrno)
}

/// A descriptor of a fresh empty directory that is removed at once: it stays valid, lists
/// nothing and leaves nothing behind.
pub fn open_removed_empty_dir(cloexec: bool) -> SysResult<c_int> {
    let io_errno = |e: std::io::Error| errno_to_linux(e.raw_os_error().unwrap_or(libc::EIO));
    let (path, _) = create_temp("linuxrun-procdir-", TempKind::Dir).map_err(io_errno)?;
    let cpath = c_string(&path)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | if cloexec { libc::O_CLOEXEC } else { 0 };
    let fd = openat(libc::AT_FDCWD, &cpath, flags, 0);
    let _ = rustix::fs::unlinkat(rustix::fs::CWD, cpath.as_c_str(), AtFlags::REMOVEDIR);
    fd
}
