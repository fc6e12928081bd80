//! Hosts whose epoll, eventfd and timerfd descriptors are the host's own (Linux) or absent
//! (unported): nothing is emulated, so the server's hooks for emulated descriptors (see
//! darwin_events.rs) do nothing, and reads and writes go to the host as they are.

use libc::c_int;

use super::SysResult;

/// # Safety
/// None needed here (nothing is touched); `unsafe` to match macOS's signature.
#[inline]
pub unsafe fn emulated_read(_fd: c_int, _iov: &[libc::iovec], _offset: Option<i64>) -> Option<SysResult<i64>> {
    None
}

/// # Safety
/// None needed here (nothing is touched); `unsafe` to match macOS's signature.
#[inline]
pub unsafe fn emulated_write(_fd: c_int, _iov: &[libc::iovec], _offset: Option<i64>) -> Option<SysResult<i64>> {
    None
}

#[inline]
pub fn emulated_nonblock(_fd: c_int, _set: Option<bool>) -> Option<bool> {
    None
}

#[inline]
pub fn emulated_closed(_fd: c_int) {}

#[inline]
pub fn emulated_dup(_old: c_int, _new: c_int, _cloexec: bool) {}

#[inline]
pub fn emulated_prune() {}

#[inline]
pub fn emulated_after_fork() {}
