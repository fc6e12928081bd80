//! Sockets on a Linux host: every number, address, option and control message is already
//! the host's, so the conversions are identities (the host kernel validates the values as
//! it does a native program's).

use libc::c_int;

use super::{Emulated, HostSocket, LinuxErrno};

// What the identities rest on.
const _: () = assert!(
    libc::SOCK_NONBLOCK == 0o4000
        && libc::SOCK_CLOEXEC == 0o2_000_000
        && libc::SOL_SOCKET == super::SOL_SOCKET
        && libc::SCM_RIGHTS == super::SCM_RIGHTS
        && libc::SO_ATTACH_FILTER == super::SO_ATTACH_FILTER
        && libc::SO_ATTACH_REUSEPORT_CBPF == super::SO_ATTACH_REUSEPORT_CBPF
        && libc::AF_UNIX as u16 == super::AF_UNIX
        && libc::SIOCGIFCONF as u32 == super::SIOCGIFCONF
        && std::mem::size_of::<libc::ifreq>() == super::IFREQ_SIZE
        && std::mem::size_of::<libc::cmsghdr>() == super::LINUX_CMSG_HDR
        && libc::MSG_CMSG_CLOEXEC == 0x4000_0000
);

pub fn socket_to_host(domain: i32, ty: i32, protocol: i32) -> Result<HostSocket, LinuxErrno> {
    Ok(HostSocket { domain, ty, protocol, emulated: Emulated::default() })
}

/// accept4's flags: the host's own (it validates them).
pub fn accept_flags_to_host(flags: i32) -> Result<(c_int, Emulated), LinuxErrno> {
    Ok((flags, Emulated::default()))
}

pub fn sockaddr_to_host(linux: &[u8]) -> Result<Vec<u8>, LinuxErrno> {
    Ok(linux.to_vec())
}

pub fn sockaddr_to_linux(host: &[u8]) -> Vec<u8> {
    host.to_vec()
}

pub fn sockopt_to_host(level: i32, name: i32) -> Result<(c_int, c_int), LinuxErrno> {
    Ok((level, name))
}

/// MSG_* flags: the host's; the second value says whether received descriptors must be
/// made close-on-exec by hand (never here: the host has MSG_CMSG_CLOEXEC).
pub fn msg_flags_to_host(linux: i32) -> Result<(c_int, bool), LinuxErrno> {
    Ok((linux, false))
}

pub fn msg_flags_to_linux(host: c_int) -> i32 {
    host
}

pub fn cmsgs_to_host(linux: &[u8]) -> Result<Vec<u8>, LinuxErrno> {
    Ok(linux.to_vec())
}

pub fn cmsgs_to_linux(host: &[u8]) -> Vec<u8> {
    host.to_vec()
}

pub fn shutdown_how_to_host(linux: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux)
}

/// A socket ioctl the personality allowed (`super::socket_ioctl_size`) as the host's.
pub fn socket_ioctl_to_host(linux: u32) -> Result<libc::c_ulong, LinuxErrno> {
    Ok(libc::c_ulong::from(linux))
}
