//! Hosts without Linux's event descriptors and PI futexes (macOS has kqueue and
//! EVFILT_TIMER, not yet used; an unported host has nothing): the program's epoll,
//! eventfd, timerfd and PI futex calls answer ENOSYS.

use libc::c_int;

use super::SysResult;
use crate::host::LinuxErrno;
use abi_shared::linux::errno;

const ENOSYS: LinuxErrno = errno::ENOSYS as LinuxErrno;

pub fn epoll_create(_cloexec: bool) -> SysResult<c_int> {
    Err(ENOSYS)
}

pub fn epoll_ctl(_epfd: c_int, _op: c_int, _fd: c_int, _events: u32, _data: u64) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn epoll_wait(_epfd: c_int, _max: usize, _timeout_ms: c_int) -> SysResult<Vec<(u32, u64)>> {
    Err(ENOSYS)
}

pub fn eventfd(_initval: u32, _flags: c_int) -> SysResult<c_int> {
    Err(ENOSYS)
}

pub fn timerfd_create(_clock: c_int, _flags: c_int) -> SysResult<c_int> {
    Err(ENOSYS)
}

pub fn timerfd_settime(_fd: c_int, _flags: c_int, _new: &[i64; 4]) -> SysResult<[i64; 4]> {
    Err(ENOSYS)
}

pub fn timerfd_gettime(_fd: c_int) -> SysResult<[i64; 4]> {
    Err(ENOSYS)
}

pub fn futex_pi(_word: &std::sync::atomic::AtomicU32, _op: c_int, _timeout: Option<&[i64; 2]>) -> SysResult<i64> {
    Err(ENOSYS)
}
