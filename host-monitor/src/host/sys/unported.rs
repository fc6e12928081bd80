//! Host calls that differ by host, for hosts without a personality: each refuses with
//! ENOSYS (or answers what Linux answers where there is nothing to do), so that the crate
//! type-checks there. A new host gets its own module, as macOS has `darwin.rs`.

use std::ffi::CStr;
use std::os::fd::OwnedFd;
use std::path::PathBuf;

use abi_shared::hypercall::{LinuxFlock, LinuxSysinfo};
use abi_shared::linux::{errno, LinuxStatfs, LinuxStatx, LinuxTermios};
use libc::c_int;

use super::{SysResult, XattrTarget};
use crate::host::{self, LinuxErrno};

const ENOSYS: LinuxErrno = errno::ENOSYS as LinuxErrno;

/// Without a known errno location the value is left as it is.
pub(super) fn set_errno(_value: c_int) {}

pub fn fd_host_path(raw: c_int) -> PathBuf {
    PathBuf::from(format!("/dev/fd/{raw}"))
}

pub fn reopen_readonly(raw: c_int) -> SysResult<c_int> {
    super::dup_at_least(raw, 0, true)
}

pub fn dnotify(_: c_int, _: u32) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn mknodat(_: c_int, _: &CStr, _: libc::mode_t, _: libc::dev_t) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn statx(_: c_int, _: &CStr, _: c_int, _: bool, _: libc::c_uint) -> SysResult<LinuxStatx> {
    Err(ENOSYS)
}

pub fn getdents64(_: c_int, _: &mut [u8]) -> SysResult<usize> {
    Err(ENOSYS)
}

pub fn pipe2(_: c_int) -> SysResult<[c_int; 2]> {
    Err(ENOSYS)
}

pub fn utimensat(_: c_int, _: Option<&CStr>, _: Option<&[libc::timespec; 2]>, _: c_int) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn pipe_size(_: c_int, _: bool, _: c_int) -> SysResult<i64> {
    Err(errno::EOPNOTSUPP as LinuxErrno)
}

pub fn renameat2(_: c_int, _: &CStr, _: c_int, _: &CStr, _: u32) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn fdatasync(raw: c_int) -> SysResult<()> {
    super::fsync(raw)
}

pub fn syncfs(raw: c_int) -> SysResult<()> {
    super::fsync(raw)
}

pub fn faccessat(_: c_int, _: &CStr, _: c_int, _: c_int) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn getcwd(_: &mut [u8]) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn dup3(_: c_int, _: c_int, _: c_int) -> SysResult<c_int> {
    Err(ENOSYS)
}

/// No extended attributes yet (what Linux says on a filesystem without).
pub fn getxattr(_: &XattrTarget, _: &CStr, _: &mut [u8]) -> SysResult<usize> {
    Err(errno::EOPNOTSUPP as LinuxErrno)
}

pub fn listxattr(_: &XattrTarget, _: &mut [u8]) -> SysResult<usize> {
    Err(errno::EOPNOTSUPP as LinuxErrno)
}

pub fn setxattr(_: &XattrTarget, _: &CStr, _: &[u8], _: i32) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn removexattr(_: &XattrTarget, _: &CStr) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn fcntl_lock(_: c_int, _: i32, _: &LinuxFlock) -> SysResult<Option<LinuxFlock>> {
    Err(ENOSYS)
}

pub fn statfs(_: &CStr) -> SysResult<LinuxStatfs> {
    Err(ENOSYS)
}

pub fn fstatfs(_: c_int) -> SysResult<LinuxStatfs> {
    Err(ENOSYS)
}

pub fn sendfile(_: c_int, _: c_int, _: Option<i64>, _: u64) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn copy_file_range(_: c_int, _: Option<i64>, _: c_int, _: Option<i64>, _: u64, _: u32) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn fallocate(_: c_int, _: i32, _: i64, _: i64) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn ioprio(_: i32, _: i32, _: Option<i32>) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn sync_file_range(_: c_int, _: i64, _: i64, _: u32) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn fadvise(_: c_int, _: i64, _: i64, _: i32) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn memfd_create(_: &CStr, _: u32) -> SysResult<c_int> {
    Err(ENOSYS)
}

pub fn seals(_: c_int, _: bool, _: c_int) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn set_other_threads_priority(_: host::PriorityWhich, _: i32) {}

pub fn sysinfo() -> SysResult<LinuxSysinfo> {
    Err(ENOSYS)
}

pub fn sched_getscheduler(pid: libc::pid_t) -> SysResult<i32> {
    super::process_exists(pid)?;
    Ok(0)
}

pub fn sched_getparam(pid: libc::pid_t) -> SysResult<i32> {
    super::process_exists(pid)?;
    Ok(0)
}

pub fn set_termios(_: c_int, _: u8, _: &LinuxTermios) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn pty_number(_: c_int) -> SysResult<i64> {
    Err(errno::ENOTTY as LinuxErrno)
}

pub fn set_pty_lock(_: c_int, _: i32) -> SysResult<()> {
    Err(errno::ENOTTY as LinuxErrno)
}

pub fn anonymous_file_pair() -> SysResult<(OwnedFd, OwnedFd)> {
    Err(ENOSYS)
}

pub fn fd_path(_: c_int) -> SysResult<Vec<u8>> {
    Err(ENOSYS)
}

pub fn open_fds() -> SysResult<Vec<i32>> {
    Err(ENOSYS)
}

pub fn futex_wait(_: &std::sync::atomic::AtomicU32, _: u32, _: u64, _: bool) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn futex_wake(_: &std::sync::atomic::AtomicU32, _: u32, _: bool) -> u32 {
    0
}

pub fn gettid() -> i32 {
    // SAFETY: getpid cannot fail.
    unsafe { libc::getpid() }
}

pub fn thread_kick_signal() -> Option<c_int> {
    None
}

/// accept(2) (the host has no accept4; the server applies the flags with fcntl, so
/// `_flags` is 0): the new descriptor and the peer's host sockaddr.
pub fn accept4(raw: c_int, _flags: c_int) -> SysResult<(c_int, Vec<u8>)> {
    super::net::with_sockaddr_out(|addr, len| {
        // SAFETY: addr and len name a sockaddr buffer and its size (with_sockaddr_out).
        unsafe { libc::accept(raw, addr, len) }
    })
}

/// No host process title here: the program's name is not shown.
pub fn set_process_name(_argv: &[u8], _comm: &[u8]) {}

/// Not published here.
pub fn published_exe_file(_exe: &[u8]) -> SysResult<OwnedFd> {
    Err(ENOSYS)
}
