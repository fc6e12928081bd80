//! Sockets.

use super::SegList;
use serde::{Deserialize, Serialize};

/// `Request::Net`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NetRequest<'a> {
    // Sockets: host sockets, so that a program and native programs meet on the host's
    // network and UNIX sockets. Addresses are Linux `sockaddr` bytes; AF_UNIX paths are
    // guest paths, which the host resolves in the filesystem view.
    /// socket(domain, type, protocol) with Linux's numbers and SOCK_NONBLOCK/SOCK_CLOEXEC
    /// in `ty`. `Ret(fd)`.
    Socket {
        domain: i32,
        ty: i32,
        protocol: i32,
    },
    /// socketpair: `Response::Fds` or -errno.
    Socketpair {
        domain: i32,
        ty: i32,
        protocol: i32,
    },
    /// bind (`connect` false) or connect (`connect` true) to the Linux sockaddr `addr`.
    BindConnect {
        fd: i32,
        addr: &'a [u8],
        connect: bool,
    },
    Listen {
        fd: i32,
        backlog: i32,
    },
    /// accept4 with Linux's SOCK_NONBLOCK/SOCK_CLOEXEC `flags`: `Response::SockAddr` with
    /// the new descriptor and the peer's whole address (the guest truncates it to the
    /// caller's buffer and reports the full length, as Linux does).
    Accept {
        fd: i32,
        flags: i32,
    },
    /// getsockname (`peer` false) or getpeername: `Response::SockAddr` with `ret` 0.
    SockName {
        fd: i32,
        peer: bool,
    },
    Shutdown {
        fd: i32,
        how: i32,
    },
    /// getsockopt with a buffer of `len` bytes: `Response::Bytes` (the value, as long as
    /// the host says it is) or -errno.
    Getsockopt {
        fd: i32,
        level: i32,
        name: i32,
        len: u32,
    },
    Setsockopt {
        fd: i32,
        level: i32,
        name: i32,
        value: &'a [u8],
    },
    /// sendmsg from the segments, to `addr` if given, with Linux control messages
    /// `control` and Linux MSG_* `flags`. `Ret(bytes sent)`.
    Sendmsg {
        fd: i32,
        buf: SegList<'a>,
        addr: Option<&'a [u8]>,
        control: &'a [u8],
        flags: i32,
    },
    /// recvmsg into the segments, with room for `control_len` bytes of control messages:
    /// `Response::Received`, or -errno.
    Recvmsg {
        fd: i32,
        buf: SegList<'a>,
        control_len: u32,
        flags: i32,
    },
    /// A socket or interface ioctl whose argument is a plain struct of `arg.len()` bytes
    /// (struct ifreq, an int): the host runs it on a copy and answers `Response::Bytes`
    /// with the struct as the host left it (`ret` is the ioctl's value).
    SocketIoctl {
        fd: i32,
        cmd: u32,
        arg: &'a [u8],
    },
    /// SIOCGIFCONF with a buffer of `len` bytes (0: only the length needed):
    /// `Response::Bytes` with `ret` the length used and the `struct ifreq` records.
    IfConf {
        fd: i32,
        len: u32,
    },
}
