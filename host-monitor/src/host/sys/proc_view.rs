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
