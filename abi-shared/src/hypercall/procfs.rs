//! What /proc needs from the host.

use super::SegList;
use serde::{Deserialize, Serialize};

/// `Request::Procfs`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcfsRequest<'a> {
    /// A /proc file the guest generated: the host makes an anonymous file holding
    /// `content` and returns it opened read-only (O_CLOEXEC if `cloexec`) on the lowest
    /// free fd, so that read, lseek, mmap, poll and dup need nothing more from the guest.
    OpenMemory { content: SegList<'a>, cloexec: bool },
    /// A new descriptor of an empty directory, on the lowest free fd: a /proc directory
    /// whose entries the guest lists itself.
    OpenEmptyDir { cloexec: bool },
    /// The path behind fd `fd` as Linux's /proc/self/fd/N link shows it ("/a/b",
    /// "pipe:[ino]", "socket:[ino]"...), without NUL, into `buf`; `Ret` is its length,
    /// truncated to `buf` as readlink does.
    FdPath { fd: i32, buf: SegList<'a> },
    /// The program's open fds in ascending order, as little-endian i32s into `buf`; `Ret`
    /// is how many there are (only those that fit are written).
    ListFds { buf: SegList<'a> },
    /// open of the host's own /proc/sys/`path` (a sysctl the guest's /proc does not serve
    /// itself), whatever the program's filesystem view: `path` is relative to /proc/sys
    /// ("" is /proc/sys itself), its components neither empty nor "." or ".." (a final
    /// slash is allowed). `Ret` is the new fd; the host has no /proc/sys: ENOENT.
    OpenProcSys { path: &'a [u8], flags: i32, mode: u32 },
}
