//! pidfds: Linux pids are host pids, so a pidfd is the host's, and poll, epoll, waitid
//! (P_PIDFD) and close treat it as any other of the program's descriptors. Signals a
//! program sends its own process through a pidfd never get here: the guest delivers those
//! itself (after `PidfdPid` told it the pidfd is its own), as it does for kill.

use abi_shared::hypercall::{PidfdRequest, Response};
use abi_shared::linux::{errno, general};

use super::fs::{ret, Failure, Fs, Handled};
use super::FdGuard;
use crate::guest_mem::GuestMemory;
use crate::host::{self, sys, LinuxErrno};
use crate::vfs;

const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;
/// pidfd_send_signal's flag for the pidfd's process group (Linux 6.9).
const PIDFD_SIGNAL_PROCESS_GROUP: u32 = 1 << 2;

/// Serve one pidfd request.
pub fn handle(fds: &FdGuard, mem: &GuestMemory, req: &PidfdRequest<'_>) -> Response {
    let fs = Fs::new(fds, mem, vfs::current());
    let result = match req {
        PidfdRequest::PidfdOpen { pid, flags } => open(*pid, *flags),
        PidfdRequest::PidfdPid { fd } => pid_of(&fs, *fd),
        PidfdRequest::PidfdSendSignal { fd, sig, info, flags } => send_signal(&fs, *fd, *sig, *info, *flags),
        PidfdRequest::PidfdGetfd { pidfd, targetfd, flags } => getfd(fds, &fs, *pidfd, *targetfd, *flags),
    };
    result.unwrap_or_else(Response::from)
}

fn open(pid: i32, flags: u32) -> Handled {
    ret(sys::pidfd_open(pid, flags)?.into())
}

fn pid_of(fs: &Fs<'_>, fd: i32) -> Handled {
    ret(sys::pidfd_pid(fs.fd(fd)?)?.into())
}

/// The siginfo must be a whole Linux one (the guest copies exactly 128 bytes).
fn send_signal(fs: &Fs<'_>, fd: i32, linux_sig: i32, info: Option<&[u8]>, flags: u32) -> Handled {
    let fd = fs.fd(fd)?;
    let info: Option<&[u8; 128]> = match info {
        Some(bytes) => Some(bytes.try_into().map_err(|_| Failure::Errno(errno::EINVAL as LinuxErrno))?),
        None => None,
    };
    let sig = host::kill_signal_to_host(linux_sig).map_err(Failure::Errno)?;
    sys::pidfd_send_signal(fd, sig, info, flags)?;
    if flags & PIDFD_SIGNAL_PROCESS_GROUP != 0 && in_our_group(fd) {
        // The host delivered it to us as well, with our own pid as sender, which the
        // monitor's handler takes for one of its kicks (as for kill of our group).
        crate::signals::note_sent_to_self(linux_sig);
    }
    ret(0)
}

/// Whether the process a pidfd (or PIDFD_SELF_*) refers to is in our process group.
fn in_our_group(fd: i32) -> bool {
    let pid = match fd {
        general::PIDFD_SELF_THREAD | general::PIDFD_SELF_THREAD_GROUP => sys::getpid(),
        fd => match sys::pidfd_pid(fd) {
            Ok(pid) => pid,
            Err(_) => return false,
        },
    };
    sys::getpgid(pid).is_ok_and(|group| group == sys::getpgrp())
}

/// pidfd_getfd may not reach the monitor's own descriptors, ours (a pidfd of this
/// process) or another monitor's (a child of the program runs one too, with its own
/// descriptors at the same floor): only numbers below the floor, where programs' are.
fn getfd(fds: &FdGuard, fs: &Fs<'_>, pidfd: i32, targetfd: i32, flags: u32) -> Handled {
    let pidfd = fs.fd(pidfd)?;
    let floor = fds.floor();
    if fds.is_reserved(targetfd) || (floor > 0 && targetfd >= floor) {
        return Err(Failure::Errno(EBADF));
    }
    ret(sys::pidfd_getfd(pidfd, targetfd, flags)?.into())
}
