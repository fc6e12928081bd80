//! What the guest's /proc reads of the host's (server/procfs.rs): its files, whose
//! entries are the monitor's own, which processes are other linuxrun monitors. A host
//! without /proc (macOS) answers ENOENT to the reads and "no" to the questions.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::OnceLock;

use super::SysResult;
use crate::host::errno_to_linux;

/// The host's /proc/`rel` read whole (a checked relative path).
pub fn read_host_proc(rel: &[u8]) -> SysResult<Vec<u8>> {
    let mut path = PathBuf::from("/proc");
    path.push(OsStr::from_bytes(rel));
    std::fs::read(path).map_err(|e| errno_to_linux(e.raw_os_error().unwrap_or(libc::EIO)))
}

/// (device, inode) of a file, following links.
fn file_id(path: &str) -> Option<(u64, u64)> {
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

/// Whether process `pid` runs the same linuxrun binary as this monitor (its /proc/PID/exe
/// is our executable file).
pub fn runs_linuxrun(pid: i32) -> bool {
    static OWN: OnceLock<Option<(u64, u64)>> = OnceLock::new();
    let own = OWN.get_or_init(|| file_id("/proc/self/exe"));
    own.is_some() && file_id(&format!("/proc/{pid}/exe")) == *own
}

/// readlink of the host's /proc/`rel`.
pub fn read_host_proc_link(rel: &[u8]) -> SysResult<Vec<u8>> {
    let mut path = PathBuf::from("/proc");
    path.push(OsStr::from_bytes(rel));
    match std::fs::read_link(path) {
        Ok(t) => Ok(t.as_os_str().as_bytes().to_vec()),
        Err(e) => Err(errno_to_linux(e.raw_os_error().unwrap_or(libc::EIO))),
    }
}

/// The name of the file a monitor publishes its program's path in (`/proc/PID/fd/N` of
/// it reads `/memfd:<name> (deleted)`).
pub const PUBLISHED_EXE_NAME: &str = "linuxrun-exe";

/// The program path another monitor (process `pid`) published: the content of its
/// descriptor named `PUBLISHED_EXE_NAME`, found among its /proc/PID/fd links.
pub fn published_exe_of(pid: i32) -> Option<Vec<u8>> {
    let marker = format!("/memfd:{PUBLISHED_EXE_NAME} (deleted)");
    for entry in std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.flatten() {
        if std::fs::read_link(entry.path()).is_ok_and(|t| t.as_os_str().as_bytes() == marker.as_bytes()) {
            let path = std::fs::read(entry.path()).ok()?;
            return (!path.is_empty() && path.len() < 4096).then_some(path);
        }
    }
    None
}
