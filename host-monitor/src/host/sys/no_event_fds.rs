//! Hosts without Linux's event descriptors and PI futexes: the program's inotify, splice,
//! tee, vmsplice, pidfd and PI futex calls answer ENOSYS. epoll, eventfd and timerfd are
//! emulated on macOS (darwin_events.rs) and answer ENOSYS on an unported host.

use libc::c_int;

use super::SysResult;
use crate::host::LinuxErrno;
use abi_shared::linux::errno;

const ENOSYS: LinuxErrno = errno::ENOSYS as LinuxErrno;

#[cfg(not(target_os = "macos"))]
pub fn epoll_create(_cloexec: bool) -> SysResult<c_int> {
    Err(ENOSYS)
}

#[cfg(not(target_os = "macos"))]
pub fn epoll_ctl(_epfd: c_int, _op: c_int, _fd: c_int, _events: u32, _data: u64) -> SysResult<()> {
    Err(ENOSYS)
}

#[cfg(not(target_os = "macos"))]
pub fn epoll_wait(_epfd: c_int, _max: usize, _timeout_ms: c_int) -> SysResult<Vec<(u32, u64)>> {
    Err(ENOSYS)
}

#[cfg(not(target_os = "macos"))]
pub fn eventfd(_initval: u32, _flags: c_int, _floor: c_int) -> SysResult<c_int> {
    Err(ENOSYS)
}

#[cfg(not(target_os = "macos"))]
pub fn timerfd_create(_clock: c_int, _flags: c_int) -> SysResult<c_int> {
    Err(ENOSYS)
}

#[cfg(not(target_os = "macos"))]
pub fn timerfd_settime(_fd: c_int, _flags: c_int, _new: &[i64; 4]) -> SysResult<[i64; 4]> {
    Err(ENOSYS)
}

#[cfg(not(target_os = "macos"))]
pub fn timerfd_gettime(_fd: c_int) -> SysResult<[i64; 4]> {
    Err(ENOSYS)
}

pub fn futex_pi(_word: &std::sync::atomic::AtomicU32, _op: c_int, _timeout: Option<&[i64; 2]>) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn inotify_init(_flags: c_int) -> SysResult<c_int> {
    Err(ENOSYS)
}

pub fn inotify_add_watch(_raw: c_int, _path: &std::ffi::CStr, _mask: u32) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn inotify_rm_watch(_raw: c_int, _wd: c_int) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn splice(
    _fd_in: c_int,
    _off_in: Option<i64>,
    _fd_out: c_int,
    _off_out: Option<i64>,
    _len: u64,
    _flags: u32,
) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn tee(_fd_in: c_int, _fd_out: c_int, _len: u64, _flags: u32) -> SysResult<i64> {
    Err(ENOSYS)
}

/// # Safety
/// None needed here (nothing is called); `unsafe` to match Linux's signature.
pub unsafe fn pipe_vectored(_raw: c_int, _iov: &[libc::iovec], _write: bool, _nowait: bool) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn pidfd_open(_pid: libc::pid_t, _flags: u32) -> SysResult<c_int> {
    Err(ENOSYS)
}

pub fn pidfd_pid(_raw: c_int) -> SysResult<i32> {
    Err(ENOSYS)
}

pub fn pidfd_send_signal(_raw: c_int, _sig: c_int, _info: Option<&[u8; 128]>, _flags: u32) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn pidfd_getfd(_pidfd: c_int, _targetfd: c_int, _flags: u32) -> SysResult<c_int> {
    Err(ENOSYS)
}
