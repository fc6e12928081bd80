//! Sockets on macOS: Linux's address families, socket types, sockaddr layouts (Darwin's
//! have a length byte), option levels and names, MSG_* flags and control messages, by the
//! tables of `darwin_tables.rs` (unit-tested on Linux). Darwin has no SOCK_NONBLOCK,
//! SOCK_CLOEXEC, accept4 or MSG_CMSG_CLOEXEC: the server sets those with fcntl after the
//! call. Darwin has no interface ioctls in Linux's numbering: ENOTTY.

use libc::c_int;

use super::super::darwin_tables as t;
use super::{Emulated, HostSocket, LinuxErrno};

pub fn socket_to_host(domain: i32, ty: i32, protocol: i32) -> Result<HostSocket, LinuxErrno> {
    let domain = t::socket_domain_to_darwin(domain)?;
    let (ty, nonblock, cloexec) = t::socket_type_to_darwin(ty)?;
    Ok(HostSocket { domain, ty, protocol, emulated: Emulated { nonblock, cloexec } })
}

pub fn accept_flags_to_host(flags: i32) -> Result<(c_int, Emulated), LinuxErrno> {
    if flags & !(t::SOCK_NONBLOCK | t::SOCK_CLOEXEC) != 0 {
        return Err(t::lerr::EINVAL);
    }
    Ok((0, Emulated { nonblock: flags & t::SOCK_NONBLOCK != 0, cloexec: flags & t::SOCK_CLOEXEC != 0 }))
}

pub fn sockaddr_to_host(linux: &[u8]) -> Result<Vec<u8>, LinuxErrno> {
    t::sockaddr_to_darwin(linux)
}

pub fn sockaddr_to_linux(host: &[u8]) -> Vec<u8> {
    t::sockaddr_to_linux(host).unwrap_or_default()
}

pub fn sockopt_to_host(level: i32, name: i32) -> Result<(c_int, c_int), LinuxErrno> {
    t::sockopt_to_darwin(level, name)
}

pub fn msg_flags_to_host(linux: i32) -> Result<(c_int, bool), LinuxErrno> {
    t::msg_flags_to_darwin(linux)
}

pub fn msg_flags_to_linux(host: c_int) -> i32 {
    t::msg_flags_to_linux(host)
}

pub fn cmsgs_to_host(linux: &[u8]) -> Result<Vec<u8>, LinuxErrno> {
    t::cmsgs_to_darwin(linux)
}

pub fn cmsgs_to_linux(host: &[u8]) -> Vec<u8> {
    t::cmsgs_to_linux(host)
}

/// SHUT_RD, SHUT_WR and SHUT_RDWR are 0, 1 and 2 on both.
pub fn shutdown_how_to_host(linux: i32) -> Result<c_int, LinuxErrno> {
    match linux {
        0..=2 => Ok(linux),
        _ => Err(t::lerr::EINVAL),
    }
}

pub fn socket_ioctl_to_host(_linux: u32) -> Result<libc::c_ulong, LinuxErrno> {
    Err(t::lerr::ENOTTY)
}
