//! The program's filesystem view: which host files its paths name.
//!
//! By default on a Linux host the view is the host's own namespace ([`View::Identity`]):
//! paths go to the host kernel unchanged, at no cost. With `--root DIR` (or
//! `LINUXRUN_ROOT`) a Linux userland is "/", `--bind HOST[:GUEST]` adds mount points, and
//! the user's working directory, $HOME and /tmp stay reachable at their own paths; then
//! every path is resolved here ([`walk`]) as Linux would resolve it in that namespace, and
//! the host call gets the host path that results.
//!
//! The view is process-wide, like the working directory it tracks: it is installed once at
//! startup ([`install`]) and read by the hypercall server ([`current`]); a chroot replaces
//! it ([`replace`]).

pub mod mounts;
pub mod setup;
pub mod walk;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};
use std::sync::Mutex;

use crate::host::{self, LinuxErrno};
use mounts::MountTable;
pub use walk::{Last, Resolved};

/// How the program sees the filesystem.
#[derive(Debug)]
pub enum View {
    /// The host's own namespace: paths are passed to the host unchanged.
    Identity,
    /// A mount table over host directories, with the guest's working directory.
    Mounted(Mounted),
}

#[derive(Debug)]
pub struct Mounted {
    table: MountTable,
    /// The working directory as a guest path, or None when it is not visible in the view
    /// (fchdir to a descriptor from outside it): then relative paths go to the host as
    /// they are, from the host's working directory.
    cwd: Mutex<Option<Vec<u8>>>,
}

/// The installed view (null until [`install`]). Views are never freed: a request that
/// another thread is serving may hold a reference to the one a chroot replaced.
static VIEW: AtomicPtr<View> = AtomicPtr::new(std::ptr::null_mut());

/// The view before one is installed.
static IDENTITY: View = View::Identity;

/// Tests that change or read the working directory or the umask (process-wide) hold this.
#[cfg(test)]
pub static PROCESS_WIDE: Mutex<()> = Mutex::new(());

/// Make `view` the process's view. Only the first call has an effect.
pub fn install(view: View) {
    let new = Box::into_raw(Box::new(view));
    if VIEW.compare_exchange(std::ptr::null_mut(), new, Ordering::AcqRel, Ordering::Acquire).is_err() {
        // SAFETY: `new` came from Box::into_raw just above and was never shared.
        drop(unsafe { Box::from_raw(new) });
    }
}

/// The process's view (the identity until one is installed).
pub fn current() -> &'static View {
    let view = VIEW.load(Ordering::Acquire);
    if view.is_null() {
        return &IDENTITY;
    }
    // SAFETY: a non-null pointer here came from Box::into_raw (install, replace) and is
    // never freed, so the reference is valid for the rest of the process.
    unsafe { &*view }
}

/// chroot: `view` is the process's view from the next request on. The one it replaces is
/// left allocated (see [`VIEW`]); a process changes its root rarely, typically once.
pub fn replace(view: View) {
    VIEW.store(Box::into_raw(Box::new(view)), Ordering::Release);
}

impl View {
    /// A view over `table`; the identity table gives the identity view.
    pub fn new(table: MountTable) -> View {
        if table.is_identity() {
            return View::Identity;
        }
        let cwd = std::env::current_dir().ok().and_then(|d| table.guest_of(d.as_os_str().as_bytes()));
        View::Mounted(Mounted { table, cwd: Mutex::new(cwd) })
    }

    /// The guest path under which the host file `host` (an absolute host path, as the
    /// host reports it for a descriptor) is visible, if it is. The identity view shows
    /// every host path as itself.
    pub fn guest_view_of_host_path(&self, host: &[u8]) -> Option<Vec<u8>> {
        match self {
            View::Identity => Some(host.to_vec()),
            View::Mounted(m) => m.table.guest_of(host),
        }
    }

    /// The mount table of a mounted view (None for the identity view).
    pub fn mount_table(&self) -> Option<&MountTable> {
        match self {
            View::Identity => None,
            View::Mounted(m) => Some(&m.table),
        }
    }

    /// The guest path of what the host descriptor `fd` names, if the view shows it (for
    /// readlink of /proc/self/fd/N).
    pub fn guest_path_of_fd(&self, fd: i32) -> Option<Vec<u8>> {
        self.guest_view_of_host_path(&host_path_of_fd(fd)?)
    }

    /// The host path of the guest path `path` (relative to the working directory, final
    /// symlink followed), for the monitor's own look-ups (the program, its interpreter).
    pub fn host_path(&self, path: &[u8]) -> Result<PathBuf, LinuxErrno> {
        let host = match self {
            View::Identity => path.to_vec(),
            View::Mounted(m) => match m.cwd() {
                Some(cwd) => m.resolve(&cwd, path, Last::Follow)?.host,
                None => path.to_vec(),
            },
        };
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(&host)))
    }

    /// The host path of the absolute guest path `path` (its final symlink followed when
    /// `follow`), whatever the working directory is: for the gdb stub's file reads.
    pub fn host_path_from_root(&self, path: &[u8], follow: bool) -> Result<PathBuf, LinuxErrno> {
        let last = if follow { Last::Follow } else { Last::NoFollow };
        let host = match self {
            View::Identity => path.to_vec(),
            View::Mounted(m) => m.resolve(b"/", path, last)?.host,
        };
        Ok(PathBuf::from(std::ffi::OsStr::from_bytes(&host)))
    }

    /// The host directory serving "/" when it is not the host's own.
    pub fn root(&self) -> Option<&Path> {
        match self {
            View::Mounted(m) if m.table.root_host() != b"/" => {
                Some(Path::new(std::ffi::OsStr::from_bytes(m.table.root_host())))
            }
            _ => None,
        }
    }
}

impl Mounted {
    /// Resolve `path` from the guest directory `base` against the host.
    pub fn resolve(&self, base: &[u8], path: &[u8], last: Last) -> Result<Resolved, LinuxErrno> {
        walk::resolve(&self.table, &RealFs, base, path, last)
    }

    pub fn cwd(&self) -> Option<Vec<u8>> {
        self.cwd.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set_cwd(&self, guest: Option<Vec<u8>>) {
        *self.cwd.lock().unwrap_or_else(|e| e.into_inner()) = guest;
    }

    pub fn table(&self) -> &MountTable {
        &self.table
    }
}

/// Resolve the absolute path `path` in the tree `root` (a host directory used as "/", as
/// `--root` shows it), without the implicit mounts of a run: for `linuxrun pack`, which
/// reads a program and its libraries from a root as its loader would see them.
pub fn resolve_in_root(root: &[u8], path: &[u8], last: Last) -> Result<Resolved, LinuxErrno> {
    walk::resolve(&MountTable::new(root.to_vec()), &RealFs, b"/", path, last)
}

/// The host answering a walk's questions.
struct RealFs;

impl walk::HostFs for RealFs {
    fn node(&self, host: &[u8]) -> Result<walk::Node, LinuxErrno> {
        let path = CString::new(host).map_err(|_| errno(abi_shared::linux::errno::ENOENT))?;
        // SAFETY: a zeroed stat is a valid value for the out-pointer.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: path is NUL-terminated; st is a valid out-pointer for one struct stat.
        if unsafe { libc::lstat(path.as_ptr(), &mut st) } < 0 {
            return Err(host::last_errno());
        }
        Ok(match st.st_mode & libc::S_IFMT {
            libc::S_IFDIR => walk::Node::Dir,
            libc::S_IFLNK => walk::Node::Symlink,
            _ => walk::Node::Other,
        })
    }

    fn readlink(&self, host: &[u8]) -> Result<Vec<u8>, LinuxErrno> {
        let path = CString::new(host).map_err(|_| errno(abi_shared::linux::errno::ENOENT))?;
        let mut buf = vec![0u8; abi_shared::linux::PATH_MAX];
        // SAFETY: path is NUL-terminated; buf has buf.len() writable bytes.
        let n = unsafe { libc::readlink(path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            return Err(host::last_errno());
        }
        buf.truncate(n as usize);
        Ok(buf)
    }
}

fn errno(e: u32) -> LinuxErrno {
    e as LinuxErrno
}

/// The host's absolute path of what `fd` names (for a directory descriptor, its directory).
#[cfg(target_os = "linux")]
pub fn host_path_of_fd(fd: i32) -> Option<Vec<u8>> {
    let link = std::fs::read_link(format!("/proc/self/fd/{fd}")).ok()?;
    let bytes = link.as_os_str().as_bytes();
    bytes.starts_with(b"/").then(|| bytes.to_vec())
}

#[cfg(target_os = "macos")]
pub fn host_path_of_fd(fd: i32) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: F_GETPATH writes at most MAXPATHLEN (PATH_MAX) bytes into buf.
    if unsafe { libc::fcntl(fd, libc::F_GETPATH, buf.as_mut_ptr()) } < 0 {
        return None;
    }
    let len = buf.iter().position(|&b| b == 0)?;
    buf.truncate(len);
    buf.starts_with(b"/").then_some(buf)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub fn host_path_of_fd(_fd: i32) -> Option<Vec<u8>> {
    None
}
