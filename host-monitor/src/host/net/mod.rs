//! The socket personality: Linux socket numbers, addresses, options, message flags and
//! control messages as the host's, and back.
//!
//! What is the same for every host lives here: which Linux options and ioctls may reach a
//! host at all (their values must be plain bytes: a value holding a pointer would make the
//! host kernel read or write the monitor's memory at an address the program chose), and
//! the walk over Linux control messages. The conversions themselves are per host, with
//! the same signatures: `linux.rs` (identities), `darwin.rs` (the tables of
//! `darwin_tables.rs`), `unported.rs` (refuses).

use abi_shared::linux::errno;

use super::LinuxErrno;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(target_os = "macos")]
mod darwin;
#[cfg(target_os = "macos")]
pub use darwin::*;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod unported;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub use unported::*;

const ENOPROTOOPT: LinuxErrno = errno::ENOPROTOOPT as LinuxErrno;
const ENOTTY: LinuxErrno = errno::ENOTTY as LinuxErrno;
const EINVAL: LinuxErrno = errno::EINVAL as LinuxErrno;

/// Linux option levels (socket.h, in.h).
pub const SOL_SOCKET: i32 = linux_raw_sys::net::SOL_SOCKET as i32;
const IPPROTO_IP: i32 = linux_raw_sys::net::IPPROTO_IP as i32;
const IPPROTO_TCP: i32 = linux_raw_sys::net::IPPROTO_TCP as i32;
const IPPROTO_UDP: i32 = linux_raw_sys::net::IPPROTO_UDP as i32;
const IPPROTO_IPV6: i32 = linux_raw_sys::net::IPPROTO_IPV6 as i32;
const IPPROTO_ICMPV6: i32 = linux_raw_sys::net::IPPROTO_ICMPV6 as i32;
const IPPROTO_SCTP: i32 = linux_raw_sys::net::IPPROTO_SCTP as i32;
const IPPROTO_UDPLITE: i32 = linux_raw_sys::net::IPPROTO_UDPLITE as i32;
const IPPROTO_RAW: i32 = linux_raw_sys::net::IPPROTO_RAW as i32;
const SOL_PACKET: i32 = linux_raw_sys::net::SOL_PACKET as i32;
const SOL_NETLINK: i32 = linux_raw_sys::net::SOL_NETLINK as i32;
const SOL_ALG: i32 = linux_raw_sys::net::SOL_ALG as i32;
const SOL_TLS: i32 = linux_raw_sys::net::SOL_TLS as i32;
// The MPTCP option level is SOL_MPTCP (284), not the protocol number IPPROTO_MPTCP (262).
const SOL_MPTCP: i32 = linux_raw_sys::net::SOL_MPTCP as i32;

/// SOL_SOCKET options whose value is a `struct sock_fprog` (a length and a pointer).
pub const SO_ATTACH_FILTER: i32 = linux_raw_sys::net::SO_ATTACH_FILTER as i32;
pub const SO_ATTACH_REUSEPORT_CBPF: i32 = linux_raw_sys::net::SO_ATTACH_REUSEPORT_CBPF as i32;
/// SCM_RIGHTS: a control message of descriptor numbers.
pub const SCM_RIGHTS: i32 = linux_raw_sys::net::SCM_RIGHTS as i32;

/// What a Linux socket option's value is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionValue {
    /// Plain bytes: passed as they are.
    Plain,
    /// A classic BPF program: the guest sends its instructions, the host makes the
    /// `struct sock_fprog` that points at a copy.
    Filter,
    /// A level outside the list: not passed (some protocols' options hold pointers), but
    /// the program gets the errno its socket gives for a level it does not know, which
    /// depends on the socket (EOPNOTSUPP for AF_UNIX, ENOPROTOOPT for IP): the server asks
    /// the host with `UNKNOWN_LEVEL`, which no protocol has.
    UnknownLevel,
}

/// An option level no Linux protocol uses, for asking a socket how it refuses one.
pub const UNKNOWN_LEVEL: i32 = 0x7fff_fff0;

/// Whether a Linux (level, option) may reach the host, and as what. The netfilter,
/// arptables, ebtables and IPVS controls that share the IP levels (their structs carry
/// pointers) are ENOPROTOOPT, as Linux answers an option it does not know.
pub fn option_value(level: i32, name: i32) -> Result<OptionValue, LinuxErrno> {
    match level {
        SOL_SOCKET if name == SO_ATTACH_FILTER || name == SO_ATTACH_REUSEPORT_CBPF => Ok(OptionValue::Filter),
        // 64..=79: ipt/ip6t controls; 81 and up: arptables (96), ebtables (128), IPVS (1088);
        // 80 is SO_ORIGINAL_DST, a sockaddr.
        IPPROTO_IP if (64..=79).contains(&name) || name > 80 => Err(ENOPROTOOPT),
        IPPROTO_IPV6 if (64..=65).contains(&name) => Err(ENOPROTOOPT),
        SOL_SOCKET | IPPROTO_IP | IPPROTO_TCP | IPPROTO_UDP | IPPROTO_IPV6 | IPPROTO_ICMPV6 | IPPROTO_SCTP
        | IPPROTO_UDPLITE | IPPROTO_RAW | SOL_PACKET | SOL_NETLINK | SOL_ALG | SOL_TLS | SOL_MPTCP => {
            Ok(OptionValue::Plain)
        }
        _ => Ok(OptionValue::UnknownLevel),
    }
}

/// Linux's SIOCGIFCONF, whose `struct ifconf` holds a pointer (the server runs it on a
/// host buffer).
pub const SIOCGIFCONF: u32 = linux_raw_sys::ioctl::SIOCGIFCONF;
/// `struct ifreq` on x86_64 Linux.
pub const IFREQ_SIZE: usize = 40;

/// The socket ioctls a program may send (Linux numbers), each with the size of its plain
/// argument: interface queries on a `struct ifreq` and the int or time queries. Setting
/// interfaces, and requests whose argument points elsewhere (SIOCETHTOOL, SIOCDEVPRIVATE),
/// are not among them: ENOTTY, as for a request the socket does not know.
pub fn socket_ioctl_size(cmd: u32) -> Result<usize, LinuxErrno> {
    match cmd {
        // SIOCGIFNAME, SIOCGIFFLAGS, SIOCGIFADDR, SIOCGIFDSTADDR, SIOCGIFBRDADDR,
        // SIOCGIFNETMASK, SIOCGIFMETRIC, SIOCGIFMTU, SIOCGIFHWADDR, SIOCGIFINDEX,
        // SIOCGIFTXQLEN, SIOCGIFMAP
        0x8910 | 0x8913 | 0x8915 | 0x8917 | 0x8919 | 0x891b | 0x891d | 0x8921 | 0x8927 | 0x8933 | 0x8942 | 0x8970 => {
            Ok(IFREQ_SIZE)
        }
        // SIOCATMARK, SIOCOUTQ (TIOCOUTQ), SIOCOUTQNSD: an int
        0x8905 | 0x5411 | 0x894b => Ok(4),
        // SIOCGSTAMP, SIOCGSTAMPNS: a timeval / timespec
        0x8906 | 0x8907 => Ok(16),
        _ => Err(ENOTTY),
    }
}

/// One Linux control message: level, type and data.
pub struct Cmsg<'a> {
    pub level: i32,
    pub ty: i32,
    pub data: &'a [u8],
}

/// Linux `struct cmsghdr` (x86_64): cmsg_len (u64), level, type; data aligned to 8.
pub const LINUX_CMSG_HDR: usize = 16;

/// The control messages of a Linux `msg_control` buffer, as the kernel walks them
/// (CMSG_FIRSTHDR/CMSG_NXTHDR): a header whose length is too small or runs past the
/// buffer is EINVAL.
pub fn linux_cmsgs(buf: &[u8]) -> Result<Vec<Cmsg<'_>>, LinuxErrno> {
    let mut out = Vec::new();
    let mut at = 0usize;
    while at + LINUX_CMSG_HDR <= buf.len() {
        let word = |o: usize| buf[o..o + 4].try_into().map(i32::from_ne_bytes).unwrap_or(0);
        let len = buf[at..at + 8].try_into().map(u64::from_ne_bytes).unwrap_or(0);
        let len = usize::try_from(len).map_err(|_| EINVAL)?;
        if len < LINUX_CMSG_HDR || len > buf.len() - at {
            return Err(EINVAL);
        }
        out.push(Cmsg { level: word(at + 8), ty: word(at + 12), data: &buf[at + LINUX_CMSG_HDR..at + len] });
        at += len.next_multiple_of(8);
    }
    Ok(out)
}

/// The descriptor numbers that Linux control messages pass (SCM_RIGHTS).
pub fn passed_fds(control: &[u8]) -> Result<Vec<i32>, LinuxErrno> {
    let mut fds = Vec::new();
    for m in linux_cmsgs(control)? {
        if m.level == SOL_SOCKET && m.ty == SCM_RIGHTS {
            fds.extend(m.data.chunks_exact(4).map(|c| i32::from_ne_bytes([c[0], c[1], c[2], c[3]])));
        }
    }
    Ok(fds)
}

/// Linux AF_UNIX.
pub const AF_UNIX: u16 = linux_raw_sys::net::AF_UNIX as u16;

/// The path of a Linux AF_UNIX sockaddr (without its NUL), if it has one: None for
/// another family, an unnamed address or an abstract name (leading NUL).
pub fn unix_path(addr: &[u8]) -> Option<&[u8]> {
    let family = u16::from_ne_bytes([*addr.first()?, *addr.get(1)?]);
    let body = &addr[2..];
    if family != AF_UNIX || body.first().is_none_or(|&b| b == 0) {
        return None;
    }
    let end = body.iter().position(|&b| b == 0).unwrap_or(body.len());
    Some(&body[..end])
}

/// A Linux AF_UNIX sockaddr for `path`, as long as the kernel reports one (family, the
/// path and its NUL); None if the path does not fit `sun_path` (108 bytes).
pub fn unix_sockaddr(path: &[u8]) -> Option<Vec<u8>> {
    if path.len() >= 108 {
        return None;
    }
    let mut out = AF_UNIX.to_ne_bytes().to_vec();
    out.extend_from_slice(path);
    out.push(0);
    Some(out)
}

/// The socket() and accept4() flags a host call cannot take itself: the server sets them
/// with fcntl right after the call.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Emulated {
    pub nonblock: bool,
    pub cloexec: bool,
}

/// A Linux socket() as the host's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HostSocket {
    pub domain: libc::c_int,
    pub ty: libc::c_int,
    pub protocol: libc::c_int,
    pub emulated: Emulated,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmsg(level: i32, ty: i32, data: &[u8]) -> Vec<u8> {
        let mut v = ((LINUX_CMSG_HDR + data.len()) as u64).to_ne_bytes().to_vec();
        v.extend_from_slice(&level.to_ne_bytes());
        v.extend_from_slice(&ty.to_ne_bytes());
        v.extend_from_slice(data);
        v.resize(v.len().next_multiple_of(8), 0);
        v
    }

    #[test]
    fn passed_fds_walks_every_rights_message() {
        let mut buf = cmsg(SOL_SOCKET, SCM_RIGHTS, &[3, 0, 0, 0, 4, 0, 0, 0, 5, 0, 0, 0]);
        buf.extend(cmsg(SOL_SOCKET, 2, &[0; 12]));
        buf.extend(cmsg(SOL_SOCKET, SCM_RIGHTS, &[9, 0, 0, 0]));
        assert_eq!(passed_fds(&buf), Ok(vec![3, 4, 5, 9]));
    }

    #[test]
    fn bad_cmsg_lengths_are_einval() {
        let mut short = cmsg(SOL_SOCKET, SCM_RIGHTS, &[1, 0, 0, 0]);
        short[..8].copy_from_slice(&8u64.to_ne_bytes());
        assert_eq!(passed_fds(&short).err(), Some(EINVAL));
        let mut long = cmsg(SOL_SOCKET, SCM_RIGHTS, &[1, 0, 0, 0]);
        long[..8].copy_from_slice(&1000u64.to_ne_bytes());
        assert_eq!(passed_fds(&long).err(), Some(EINVAL));
        // A trailing piece shorter than a header is ignored, as CMSG_NXTHDR does.
        assert_eq!(passed_fds(&[0; 8]), Ok(vec![]));
    }

    #[test]
    fn pointer_carrying_options_never_reach_the_host_as_bytes() {
        assert_eq!(option_value(SOL_SOCKET, SO_ATTACH_FILTER), Ok(OptionValue::Filter));
        assert_eq!(option_value(SOL_SOCKET, 2), Ok(OptionValue::Plain));
        assert_eq!(option_value(IPPROTO_IP, 64), Err(ENOPROTOOPT)); // IPT_SO_SET_REPLACE
        assert_eq!(option_value(IPPROTO_IP, 128), Err(ENOPROTOOPT)); // EBT_SO_SET_ENTRIES
        assert_eq!(option_value(IPPROTO_IP, 80), Ok(OptionValue::Plain)); // SO_ORIGINAL_DST
        assert_eq!(option_value(IPPROTO_IPV6, 64), Err(ENOPROTOOPT));
        assert_eq!(option_value(IPPROTO_IPV6, 67), Ok(OptionValue::Plain)); // IPV6_TCLASS
        assert_eq!(option_value(999, 1), Ok(OptionValue::UnknownLevel));
        assert_eq!(option_value(283, 4), Ok(OptionValue::UnknownLevel)); // SOL_XDP, XDP_UMEM_REG
    }

    #[test]
    fn unix_paths() {
        let addr = unix_sockaddr(b"/tmp/s").unwrap();
        assert_eq!(unix_path(&addr), Some(&b"/tmp/s"[..]));
        assert_eq!(unix_path(&[1, 0, 0, b'x']), None); // abstract
        assert_eq!(unix_path(&[1, 0]), None); // unnamed
        assert_eq!(unix_path(&[2, 0, 0, 80]), None);
        assert!(unix_sockaddr(&[b'a'; 108]).is_none());
    }
}
