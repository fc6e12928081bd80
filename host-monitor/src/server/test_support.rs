//! Helpers of the server's unit tests: temporary directories and pseudo-terminals, made
//! with safe host calls.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use abi_shared::hypercall::{Request, Response};

use crate::host::sys::{create_temp, TempKind};

/// A fresh directory, removed with its contents on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> TempDir {
        let (path, _) = create_temp("linuxrun-test-", TempKind::Dir).expect("a temporary directory");
        TempDir(path)
    }

    /// Absolute path of `name` inside the directory, as request bytes.
    pub fn join(&self, name: &str) -> Vec<u8> {
        self.host(name).as_os_str().as_bytes().to_vec()
    }

    /// Absolute path of `name` inside the directory.
    pub fn host(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A pseudo-terminal pair (master, slave), or None where the host has none.
pub fn open_pty() -> Option<(OwnedFd, OwnedFd)> {
    use rustix::fs::{Mode, OFlags};
    use rustix::pty;
    let master = pty::openpt(pty::OpenptFlags::RDWR | pty::OpenptFlags::NOCTTY).ok()?;
    pty::grantpt(&master).ok()?;
    pty::unlockpt(&master).ok()?;
    let name = pty::ptsname(&master, Vec::new()).ok()?;
    let slave =
        rustix::fs::open(name.as_c_str(), OFlags::RDWR | OFlags::NOCTTY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    Some((master, slave))
}

/// Serve a request of the families that need no `Server` state, as the server's dispatcher
/// does (the unit tests of one family sometimes ask another, e.g. a tty ioctl on a file).
pub fn serve(fds: &super::FdGuard, mem: &crate::guest_mem::GuestMemory, req: &Request<'_>) -> Response {
    match req {
        Request::Fs(r) => super::fs::handle(fds, mem, r),
        Request::Tty(r) => super::tty::handle(fds, r),
        Request::Info(r) => super::info::handle(mem, r),
        Request::Clock(r) => super::clock::handle(r),
        Request::Procfs(r) => super::procfs::handle(fds, mem, r),
        Request::Net(r) => super::net::handle(fds, mem, r),
        Request::Ipc(r) => super::ipc::handle(fds, mem, r),
        Request::Notify(r) => super::notify::handle(fds, mem, r),
        Request::Splice(r) => super::splice::handle(fds, mem, r),
        Request::Pidfd(r) => super::pidfd::handle(fds, mem, r),
        Request::Futex(r) => super::threads::handle(mem, r),
        other => panic!("a request that needs the server's state: {other:?}"),
    }
}
