//! `--native PATH`: host programs that the Linux program may exec and that then run with the
//! host's own kernel, replacing linuxrun's process (a Mach-O on macOS, or a tool linuxrun
//! cannot run). The files are matched by device and inode, so any path to them counts.

use std::ffi::CString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static NATIVE: OnceLock<Vec<(u64, u64)>> = OnceLock::new();

/// Remember the files; a path that does not exist is the user's mistake, told at once.
pub fn install(paths: &[PathBuf]) -> Result<(), String> {
    let mut ids = Vec::with_capacity(paths.len());
    for p in paths {
        let meta = std::fs::metadata(p).map_err(|e| format!("--native {}: {e}", p.display()))?;
        if !meta.is_file() {
            return Err(format!("--native {}: not a regular file", p.display()));
        }
        ids.push((meta.dev(), meta.ino()));
    }
    let _ = NATIVE.set(ids);
    Ok(())
}

/// Whether the file open at `fd` is one of the native programs.
pub fn is_native(fd: libc::c_int) -> bool {
    let Some(list) = NATIVE.get().filter(|l| !l.is_empty()) else { return false };
    // SAFETY: fstat writes into a zeroed stat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above; fd is the guest's, checked by the caller to be open.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return false;
    }
    list.contains(&(st.st_dev as u64, st.st_ino as u64))
}

/// Split `args` (argc argv strings, then envp strings, each NUL-terminated) into C strings.
pub fn split_args(args: &[u8], argc: usize) -> Option<(Vec<CString>, Vec<CString>)> {
    if args.last().is_some_and(|&b| b != 0) {
        return None;
    }
    let mut all: Vec<CString> =
        args.split_inclusive(|&b| b == 0).map(|s| CString::new(&s[..s.len() - 1]).ok()).collect::<Option<_>>()?;
    if argc > all.len() {
        return None;
    }
    let envp = all.split_off(argc);
    Some((all, envp))
}

/// Exec the program at `fd` with the host's kernel. Returns only on failure, with errno.
pub fn exec(fd: libc::c_int, argv: &[CString], envp: &[CString], blocked: &libc::sigset_t) -> i32 {
    let mut argv_ptrs: Vec<*const libc::c_char> = argv.iter().map(|s| s.as_ptr()).collect();
    argv_ptrs.push(std::ptr::null());
    let mut envp_ptrs: Vec<*const libc::c_char> = envp.iter().map(|s| s.as_ptr()).collect();
    envp_ptrs.push(std::ptr::null());
    let Some(path) = file_path(fd) else { return libc::ENOENT };
    // SAFETY: a zeroed sigset_t is a valid value to be overwritten.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    crate::startup::program_fd_limits_for_exec();
    // SAFETY: the pointer arrays are NUL-terminated and outlive the call; on success the
    // process image is replaced, on failure the old signal mask comes back.
    unsafe {
        libc::pthread_sigmask(libc::SIG_SETMASK, blocked, &mut old);
        libc::execve(path.as_ptr(), argv_ptrs.as_ptr(), envp_ptrs.as_ptr());
    }
    let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOEXEC);
    crate::startup::after_failed_exec();
    // SAFETY: restores the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    e
}

/// The host path of the file open at `fd`: exec'ing the path rather than the descriptor
/// lets a script's interpreter open the script (a close-on-exec descriptor is gone by then).
fn file_path(fd: libc::c_int) -> Option<CString> {
    let link = if cfg!(target_os = "linux") { format!("/proc/self/fd/{fd}") } else { format!("/dev/fd/{fd}") };
    let path: PathBuf = std::fs::read_link(&link).unwrap_or_else(|_| Path::new(&link).to_path_buf());
    CString::new(path.into_os_string().into_encoded_bytes()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arguments_split_into_argv_and_envp() {
        let (argv, envp) = split_args(b"prog\0-x\0A=1\0", 2).unwrap();
        assert_eq!(argv, [CString::new("prog").unwrap(), CString::new("-x").unwrap()]);
        assert_eq!(envp, [CString::new("A=1").unwrap()]);
        let (argv, envp) = split_args(b"\0", 1).unwrap();
        assert_eq!((argv.len(), envp.len()), (1, 0));
        assert!(split_args(b"prog\0", 2).is_none());
        assert!(split_args(b"prog", 1).is_none());
    }
}
