//! Process descriptors.

use serde::{Deserialize, Serialize};

/// `Request::Pidfd`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PidfdRequest<'a> {
    /// pidfd_open of a host pid (Linux's are the host's) with Linux `flags`. `Ret(fd)`.
    PidfdOpen { pid: i32, flags: u32 },
    /// The pid the pidfd `fd` refers to (its /proc fdinfo "Pid:"): `Ret(pid)`, `Ret(-1)`
    /// once that process has been reaped, -EBADF when `fd` is not a pidfd.
    PidfdPid { fd: i32 },
    /// pidfd_send_signal of Linux signal `sig` to another process, with the program's
    /// 128-byte siginfo if it gave one. `Ret(0)` or -errno.
    PidfdSendSignal { fd: i32, sig: i32, info: Option<&'a [u8]>, flags: u32 },
    /// pidfd_getfd: a duplicate of the target's descriptor `targetfd` in this process.
    /// `Ret(fd)`.
    PidfdGetfd { pidfd: i32, targetfd: i32, flags: u32 },
}
