//! Sockets on a host without a personality: refused (EAFNOSUPPORT for socket(), ENOSYS
//! for the rest), so that the crate type-checks there.

use libc::c_int;

use super::{Emulated, HostSocket, LinuxErrno};
use abi_shared::linux::errno;

const ENOSYS: LinuxErrno = errno::ENOSYS as LinuxErrno;

pub fn socket_to_host(_domain: i32, _ty: i32, _protocol: i32) -> Result<HostSocket, LinuxErrno> {
    Err(errno::EAFNOSUPPORT as LinuxErrno)
}

pub fn accept_flags_to_host(_flags: i32) -> Result<(c_int, Emulated), LinuxErrno> {
    Err(ENOSYS)
}

pub fn sockaddr_to_host(_linux: &[u8]) -> Result<Vec<u8>, LinuxErrno> {
    Err(ENOSYS)
}

pub fn sockaddr_to_linux(_host: &[u8]) -> Vec<u8> {
    Vec::new()
}

pub fn sockopt_to_host(_level: i32, _name: i32) -> Result<(c_int, c_int), LinuxErrno> {
    Err(ENOSYS)
}

pub fn msg_flags_to_host(_linux: i32) -> Result<(c_int, bool), LinuxErrno> {
    Err(ENOSYS)
}

pub fn msg_flags_to_linux(_host: c_int) -> i32 {
    0
}

pub fn cmsgs_to_host(_linux: &[u8]) -> Result<Vec<u8>, LinuxErrno> {
    Err(ENOSYS)
}

pub fn cmsgs_to_linux(_host: &[u8]) -> Vec<u8> {
    Vec::new()
}

pub fn shutdown_how_to_host(_linux: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

pub fn socket_ioctl_to_host(_linux: u32) -> Result<libc::c_ulong, LinuxErrno> {
    Err(errno::ENOTTY as LinuxErrno)
}
