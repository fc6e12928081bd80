//! Helpers of the server's unit tests: temporary directories and pseudo-terminals, made
//! with safe host calls.

use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

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
