//! Hosts without SysV IPC and POSIX message queues that a program could share (macOS has
//! SysV IPC, but with other limits and struct layouts, and no mqueue; an unported host has
//! nothing): the program's calls answer ENOSYS.

use std::ffi::CStr;
use std::time::Duration;

use abi_shared::ipc::IpcKind;
use libc::c_int;

use super::SysResult;
use crate::host::LinuxErrno;
use abi_shared::linux::errno;

const ENOSYS: LinuxErrno = errno::ENOSYS as LinuxErrno;

pub fn ipc_get(_kind: IpcKind, _key: i32, _arg: u64, _flags: i32) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn ipc_ctl(_kind: IpcKind, _id: i32, _cmd: i32, _semnum: i32, _value: i32, _buf: &mut Vec<u8>) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn semtimedop(_id: i32, _sops: &[u8], _timeout: Option<Duration>) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn msgsnd(_id: i32, _msg: &[u8], _flags: i32) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn msgrcv(_id: i32, _buf: &mut [u8], _msgtyp: i64, _flags: i32) -> SysResult<usize> {
    Err(ENOSYS)
}

pub fn shm_size(_id: i32) -> SysResult<u64> {
    Err(ENOSYS)
}

/// # Safety
/// As on Linux; nothing is mapped here.
pub unsafe fn shm_attach_at(_id: i32, _addr: *mut u8, _flags: i32) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn mq_open(_name: &CStr, _flags: i32, _mode: u32, _attr: Option<[i64; 2]>) -> SysResult<c_int> {
    Err(ENOSYS)
}

pub fn mq_unlink(_name: &CStr) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn mq_timedsend(_fd: c_int, _msg: &[u8], _prio: u32, _timeout: Option<[i64; 2]>) -> SysResult<()> {
    Err(ENOSYS)
}

pub fn mq_timedreceive(_fd: c_int, _buf: &mut [u8], _timeout: Option<[i64; 2]>) -> SysResult<(usize, u32)> {
    Err(ENOSYS)
}

pub fn mq_getsetattr(_fd: c_int, _new_flags: Option<i64>) -> SysResult<[i64; 8]> {
    Err(ENOSYS)
}

/// What mq_notify registers.
pub struct MqNotification<'a> {
    pub how: i32,
    pub signo: i32,
    pub value: u64,
    pub cookie: &'a [u8],
}

pub fn mq_notify(_fd: c_int, _n: Option<MqNotification<'_>>) -> SysResult<()> {
    Err(ENOSYS)
}
