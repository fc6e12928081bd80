//! Event descriptors the host keeps for the program (epoll, eventfd, timerfd) and poll:
//! each is a host descriptor with the program's number, so readiness is the host's. On
//! Linux they are the host's own epoll, eventfd and timerfd; on macOS kqueues and a
//! socketpair that `host/sys/darwin_events.rs` makes behave as Linux's.

use abi_shared::hypercall::Response;
use abi_shared::linux::errno;
use libc::c_int;

use super::{ret, Failure, Fs, Handled, EINVAL};
use crate::host::{sys, LinuxErrno};

/// Most fds one poll request may name (the request must fit the hypercall area).
const MAX_POLL_FDS: usize = 1024;
/// Most events one epoll_wait returns (more wait for the next call, as on Linux).
const MAX_EPOLL_EVENTS: usize = 1024;

impl Fs<'_> {
    pub(super) fn timerfd_create(&self, clock: i32, flags: i32) -> Handled {
        ret(i64::from(sys::timerfd_create(clock, flags)?))
    }

    pub(super) fn timerfd_settime(&self, fd: i32, flags: i32, new: &[i64; 4]) -> Handled {
        if self.fds.is_reserved(fd) {
            return Err(Failure::Errno(errno::EBADF as LinuxErrno));
        }
        Ok(Response::Itimerspec(sys::timerfd_settime(fd, flags, new)?))
    }

    pub(super) fn timerfd_gettime(&self, fd: i32) -> Handled {
        if self.fds.is_reserved(fd) {
            return Err(Failure::Errno(errno::EBADF as LinuxErrno));
        }
        Ok(Response::Itimerspec(sys::timerfd_gettime(fd)?))
    }

    pub(super) fn eventfd(&self, initval: u32, flags: i32) -> Handled {
        ret(i64::from(sys::eventfd(initval, flags, self.fds.floor())?))
    }

    pub(super) fn epoll_create(&self, cloexec: bool) -> Handled {
        ret(i64::from(sys::epoll_create(cloexec)?))
    }

    /// epoll_ctl on the program's descriptors; the monitor's own are not there (EBADF).
    pub(super) fn epoll_ctl(&self, epfd: i32, op: i32, fd: i32, events: u32, data: u64) -> Handled {
        if self.fds.is_reserved(epfd) || self.fds.is_reserved(fd) {
            return Err(Failure::Errno(errno::EBADF as LinuxErrno));
        }
        sys::epoll_ctl(epfd, op, fd, events, data)?;
        ret(0)
    }

    pub(super) fn epoll_wait(&self, epfd: i32, max: u32, timeout_ns: Option<u64>) -> Handled {
        if self.fds.is_reserved(epfd) {
            return Err(Failure::Errno(errno::EBADF as LinuxErrno));
        }
        // The guest checked the count; a big one must not make a big allocation here.
        let max = (max as usize).clamp(1, MAX_EPOLL_EVENTS);
        let timeout_ms: c_int = match timeout_ns {
            None => -1,
            // Rounded up, so a short timeout does not become a busy loop.
            Some(ns) => ns.div_ceil(1_000_000).min(c_int::MAX as u64) as c_int,
        };
        Ok(Response::EpollEvents(sys::epoll_wait(epfd, max, timeout_ms)?))
    }

    /// poll on the host. The monitor's own fds answer POLLNVAL, as closed fds do. The poll
    /// bits Linux programs use have the same numbers on Linux and macOS (POLLIN 1, POLLPRI 2,
    /// POLLOUT 4, POLLERR 8, POLLHUP 0x10, POLLNVAL 0x20).
    pub(super) fn poll(&self, fds: &[(i32, i16)], timeout_ns: Option<u64>) -> Handled {
        if fds.len() > MAX_POLL_FDS {
            return Err(Failure::Errno(EINVAL));
        }
        const POLLNVAL: i16 = abi_shared::linux::general::POLLNVAL as i16;
        let reserved = |fd: i32| fd >= 0 && self.fds.is_reserved(fd);
        let mut pfds: Vec<libc::pollfd> = fds
            .iter()
            // poll skips a negative fd: the monitor's own become -1 and are answered below.
            .map(|&(fd, events)| libc::pollfd { fd: if reserved(fd) { -1 } else { fd }, events, revents: 0 })
            .collect();
        let timeout_ms: c_int = match timeout_ns {
            None => -1,
            // Rounded up, so a short timeout does not become a busy poll.
            Some(ns) => ns.div_ceil(1_000_000).min(c_int::MAX as u64) as c_int,
        };
        let mut ready = sys::poll(&mut pfds, timeout_ms)?;
        let revents = fds
            .iter()
            .zip(&pfds)
            .map(|(&(fd, _), p)| {
                if reserved(fd) {
                    ready += 1;
                    POLLNVAL
                } else {
                    p.revents
                }
            })
            .collect();
        Ok(Response::Polled { ready, revents })
    }
}
