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
    /// open of the host's /proc/`path` for what the guest's /proc does not know better:
    /// other processes' directories (`<pid>/...`), system files (`meminfo`, `vmstat`,
    /// ...), and `self/mounts` / `self/mountinfo`, which the host rewrites for the
    /// program's filesystem view. `path` is relative, its components neither empty nor
    /// "." or ".." (a final slash is allowed); the program's own process (`self`,
    /// `thread-self`, its pid and its threads' ids) is refused with EACCES, since those
    /// entries would describe the monitor. `Ret` is the new fd; a host without /proc:
    /// ENOENT.
    OpenHostProc { path: &'a [u8], flags: i32, mode: u32 },
    /// The program's Linux command line (`argv`: its strings, each NUL-terminated) and
    /// name (`comm`, at most 15 bytes), published as the host process's title and the
    /// calling host thread's name, so that the host's /proc, ps and pgrep show the Linux
    /// program rather than `linuxrun`; `exe` (the program's path) is published where
    /// other monitors find it (`HostProcLink`). An empty `argv` (or `exe`) leaves it as
    /// it was (prctl(PR_SET_NAME) changes the name only). `Ret(0)`; a host that cannot
    /// show them ignores them. By exit: the name is the calling thread's.
    ProcessName { argv: &'a [u8], comm: &'a [u8], exe: &'a [u8] },
    /// readlink of the host's /proc/`path` (checked as `OpenHostProc` checks it) into
    /// `buf`, cut to its length: `Ret(n)`. `<pid>/exe` of another linuxrun'd process
    /// reads as the Linux program's path that process published (`ProcessName`).
    HostProcLink { path: &'a [u8], buf: SegList<'a> },
}
