//! pidfds. Linux pids are host pids, so a pidfd is the host's (poll, epoll, waitid P_PIDFD
//! and close need nothing more). A signal a program sends its own process through one is
//! delivered here, as kill delivers those: the host is asked whose pidfd it is first.

use abi_shared::hypercall::{PidfdRequest, Request};
use abi_shared::linux::general::{PIDFD_SELF_THREAD, PIDFD_SELF_THREAD_GROUP};

use super::{Ctx, EINVAL};
use crate::hypercall::call_ret;
use crate::mm::uaccess;
use crate::signal::syscalls::pidfd_signal_self;
use crate::task::fdtable::{Desc, FDS};

/// pidfd_send_signal's scope flags (Linux 6.9): at most one may be given.
const PIDFD_SIGNAL_THREAD: u32 = 1 << 0;
const PIDFD_SIGNAL_THREAD_GROUP: u32 = 1 << 1;
const PIDFD_SIGNAL_PROCESS_GROUP: u32 = 1 << 2;
const PIDFD_SIGNAL_FLAGS: u32 = PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP;
/// sizeof(siginfo_t).
const SIGINFO_SIZE: usize = 128;

/// A new descriptor the host made: forwarded like any other.
fn opened(fd: i64) -> i64 {
    if fd >= 0 {
        FDS.opened(fd as i32, Desc::HOST, None);
    }
    fd
}

/// pidfd_open(pid, flags): the host checks both.
pub fn pidfd_open(c: &mut Ctx<'_>) -> i64 {
    opened(call_ret(&Request::Pidfd(PidfdRequest::PidfdOpen { pid: c.int(0), flags: c.arg(1) as u32 })))
}

/// pidfd_getfd(pidfd, targetfd, flags): a copy of another process's descriptor here.
pub fn pidfd_getfd(c: &mut Ctx<'_>) -> i64 {
    opened(call_ret(&Request::Pidfd(PidfdRequest::PidfdGetfd {
        pidfd: c.int(0),
        targetfd: c.int(1),
        flags: c.arg(2) as u32,
    })))
}

/// Whom a pidfd_send_signal reaches.
enum Target {
    /// Our process, or (`thread`) the calling thread: delivered in the guest.
    Us { thread: bool },
    /// Another process, a process group, or what the host will refuse: the host's call.
    Host,
}

fn target(pidfd: i32, flags: u32) -> Target {
    if flags & PIDFD_SIGNAL_PROCESS_GROUP != 0 {
        return Target::Host;
    }
    match pidfd {
        PIDFD_SELF_THREAD => Target::Us { thread: flags & PIDFD_SIGNAL_THREAD_GROUP == 0 },
        PIDFD_SELF_THREAD_GROUP => Target::Us { thread: flags & PIDFD_SIGNAL_THREAD != 0 },
        fd if call_ret(&Request::Pidfd(PidfdRequest::PidfdPid { fd })) == i64::from(crate::task::pid()) => {
            Target::Us { thread: flags & PIDFD_SIGNAL_THREAD != 0 }
        }
        _ => Target::Host,
    }
}

/// pidfd_send_signal(pidfd, sig, info, flags).
pub fn pidfd_send_signal(c: &mut Ctx<'_>) -> i64 {
    let (pidfd, sig, uinfo, flags) = (c.int(0), c.int(1), c.arg(2), c.arg(3) as u32);
    if flags & !PIDFD_SIGNAL_FLAGS != 0 || (flags & PIDFD_SIGNAL_FLAGS).count_ones() > 1 {
        return EINVAL;
    }
    match target(pidfd, flags) {
        Target::Us { thread } => pidfd_signal_self(thread, sig, uinfo),
        Target::Host => send_by_host(pidfd, sig, uinfo, flags),
    }
}

fn send_by_host(fd: i32, sig: i32, uinfo: u64, flags: u32) -> i64 {
    let mut raw = [0u8; SIGINFO_SIZE];
    if uinfo != 0 {
        if let Err(e) = uaccess::copy_from_user(uinfo, &mut raw) {
            return e;
        }
    }
    let info = (uinfo != 0).then_some(&raw[..]);
    call_ret(&Request::Pidfd(PidfdRequest::PidfdSendSignal { fd, sig, info, flags }))
}
