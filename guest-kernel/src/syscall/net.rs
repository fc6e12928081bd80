//! Sockets: host sockets under the program's descriptor numbers. The calls are forwarded
//! with their Linux arguments; this side reads and writes the user structures (sockaddrs,
//! msghdr, option values, control messages) with Linux's checks and in Linux's order,
//! raises SIGPIPE for EPIPE unless MSG_NOSIGNAL, and records descriptors that arrive
//! (accept, socketpair, SCM_RIGHTS) in the descriptor table.
//!
//! A blocking call blocks only its own vCPU's host thread; a signal for the thread
//! interrupts it (EINTR), and the syscall is restarted or not at delivery as Linux decides
//! (ERESTARTSYS).

use alloc::vec;
use alloc::vec::Vec;

use abi_shared::hypercall::{FsRequest, GuestSeg, NetRequest, Request, Response, SegList};
use abi_shared::linux::errno;

use super::fs::{iovec_segments, rw_segments};
use super::{err, Ctx, EFAULT, EINVAL};
use crate::hypercall::{call, call_ret};
use crate::mm::uaccess;
use crate::mm::Access;
use crate::task::fdtable::{Desc, FDS};

/// sizeof(struct sockaddr_storage): the longest address a call takes or returns.
const SOCKADDR_MAX: usize = 128;
/// Linux's UIO_MAXIOV: the most iovecs in a msghdr, and the most messages in one
/// sendmmsg/recvmmsg.
const UIO_MAXIOV: u64 = abi_shared::linux::general::UIO_MAXIOV as u64;
/// The most bytes of option value or control messages one request carries (the host's
/// `server::net::MAX_INLINE`).
const MAX_INLINE: usize = 8192;
/// The most segments one transfer request carries (as for read and write).
const SEGMENTS_PER_REQUEST: usize = 512;
/// sizeof(struct msghdr) and sizeof(struct mmsghdr) on x86_64.
const MSGHDR_SIZE: usize = 56;
const MMSGHDR_SIZE: u64 = 64;

const MSG_DONTWAIT: i32 = linux_raw_sys::net::MSG_DONTWAIT as i32;
const MSG_NOSIGNAL: i32 = linux_raw_sys::net::MSG_NOSIGNAL as i32;
const MSG_WAITFORONE: i32 = 0x1_0000;
const SOL_SOCKET: i32 = linux_raw_sys::net::SOL_SOCKET as i32;
const SCM_RIGHTS: i32 = linux_raw_sys::net::SCM_RIGHTS as i32;
const SO_ATTACH_FILTER: i32 = linux_raw_sys::net::SO_ATTACH_FILTER as i32;
const SO_ATTACH_REUSEPORT_CBPF: i32 = linux_raw_sys::net::SO_ATTACH_REUSEPORT_CBPF as i32;
/// Linux's BPF_MAXINSNS; one request carries up to MAX_INLINE / 8 of them.
const BPF_MAXINSNS: usize = 4096;
const SOCK_NONBLOCK: i32 = 0o4000;
const SOCK_CLOEXEC: i32 = 0o2_000_000;

/// A socket address argument (Linux's move_addr_to_kernel): a length outside
/// 0..=sizeof(sockaddr_storage) is EINVAL, an unreadable address EFAULT.
fn read_addr(addr: u64, len: u64) -> Result<Vec<u8>, i64> {
    let len = len as i32;
    if len < 0 || len as usize > SOCKADDR_MAX {
        return Err(EINVAL);
    }
    let mut out = vec![0u8; len as usize];
    uaccess::copy_from_user(addr, &mut out)?;
    Ok(out)
}

fn read_i32(addr: u64) -> Result<i32, i64> {
    let mut b = [0u8; 4];
    uaccess::copy_from_user(addr, &mut b)?;
    Ok(i32::from_le_bytes(b))
}

fn read_u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// Give an address back (Linux's move_addr_to_user): the caller's length is read (EFAULT)
/// and must not be negative (EINVAL); at most that much of the address is copied, and
/// the length is set to the address's whole length.
fn write_addr(kaddr: &[u8], uaddr: u64, ulen: u64) -> Result<(), i64> {
    let len = read_i32(ulen)?;
    if len < 0 {
        return Err(EINVAL);
    }
    let n = (len as usize).min(kaddr.len());
    if n > 0 {
        uaccess::copy_to_user(uaddr, &kaddr[..n])?;
    }
    uaccess::copy_to_user(ulen, &(kaddr.len() as i32).to_le_bytes())
}

/// An EPIPE from a send raises SIGPIPE unless the caller said MSG_NOSIGNAL.
fn sigpipe_unless(r: i64, flags: i32) -> i64 {
    if r == err(errno::EPIPE) && flags & MSG_NOSIGNAL == 0 {
        crate::signal::raise(crate::signal::SigInfo::sent_by(
            abi_shared::linux::signal::SIGPIPE,
            crate::signal::SI_USER,
            crate::task::pid(),
            crate::task::uid(),
        ));
    }
    r
}

/// Record the descriptors an SCM_RIGHTS message brought: host descriptors.
fn note_passed_fds(control: &[u8]) {
    let mut at = 0usize;
    while at + 16 <= control.len() {
        let len = read_u64_at(control, at) as usize;
        let word = |o: usize| control.get(o..o + 4).and_then(|b| b.try_into().ok()).map_or(0, i32::from_le_bytes);
        if len < 16 || len > control.len() - at {
            break;
        }
        if word(at + 8) == SOL_SOCKET && word(at + 12) == SCM_RIGHTS {
            for fd in control[at + 16..at + len].chunks_exact(4) {
                FDS.opened(i32::from_le_bytes([fd[0], fd[1], fd[2], fd[3]]), Desc::HOST, None);
            }
        }
        at += len.next_multiple_of(8);
    }
}

pub fn socket(c: &mut Ctx<'_>) -> i64 {
    let fd = call_ret(&Request::Net(NetRequest::Socket { domain: c.int(0), ty: c.int(1), protocol: c.int(2) }));
    if fd >= 0 {
        FDS.opened(fd as i32, Desc::HOST, None);
    }
    fd
}

/// socketpair: like pipe2, the pair is closed again if it cannot be stored (EFAULT).
pub fn socketpair(c: &mut Ctx<'_>) -> i64 {
    let [a, b] =
        match call(&Request::Net(NetRequest::Socketpair { domain: c.int(0), ty: c.int(1), protocol: c.int(2) })) {
            Response::Fds(pair) => pair,
            Response::Ret(e) => return e,
            _ => return EFAULT,
        };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&a.to_le_bytes());
    out[4..].copy_from_slice(&b.to_le_bytes());
    if uaccess::copy_to_user(c.arg(3), &out).is_err() {
        call_ret(&Request::Fs(FsRequest::Close { fd: a }));
        call_ret(&Request::Fs(FsRequest::Close { fd: b }));
        return EFAULT;
    }
    FDS.opened(a, Desc::HOST, None);
    FDS.opened(b, Desc::HOST, None);
    0
}

fn bind_connect(c: &Ctx<'_>, connect: bool) -> i64 {
    let addr = tryret!(read_addr(c.arg(1), c.arg(2)));
    call_ret(&Request::Net(NetRequest::BindConnect { fd: c.int(0), addr: &addr, connect }))
}

pub fn bind(c: &mut Ctx<'_>) -> i64 {
    bind_connect(c, false)
}

pub fn connect(c: &mut Ctx<'_>) -> i64 {
    bind_connect(c, true)
}

pub fn listen(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Net(NetRequest::Listen { fd: c.int(0), backlog: c.int(1) }))
}

fn do_accept(fd: i32, uaddr: u64, ulen: u64, flags: i32) -> i64 {
    if flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC) != 0 {
        return EINVAL;
    }
    let (new, addr) = match call(&Request::Net(NetRequest::Accept { fd, flags })) {
        Response::SockAddr { ret, addr } if ret >= 0 => (ret as i32, addr),
        Response::SockAddr { ret, .. } | Response::Ret(ret) => return ret,
        _ => return EFAULT,
    };
    if uaddr != 0 {
        if let Err(e) = write_addr(&addr, uaddr, ulen) {
            // Linux drops the connection it accepted when the address cannot be stored.
            call_ret(&Request::Fs(FsRequest::Close { fd: new }));
            return e;
        }
    }
    FDS.opened(new, Desc::HOST, None);
    new.into()
}

pub fn accept(c: &mut Ctx<'_>) -> i64 {
    do_accept(c.int(0), c.arg(1), c.arg(2), 0)
}

pub fn accept4(c: &mut Ctx<'_>) -> i64 {
    do_accept(c.int(0), c.arg(1), c.arg(2), c.int(3))
}

fn sockname(c: &Ctx<'_>, peer: bool) -> i64 {
    match call(&Request::Net(NetRequest::SockName { fd: c.int(0), peer })) {
        Response::SockAddr { ret: 0, addr } => write_addr(&addr, c.arg(1), c.arg(2)).map_or_else(|e| e, |()| 0),
        Response::SockAddr { ret, .. } | Response::Ret(ret) => ret,
        _ => EFAULT,
    }
}

pub fn getsockname(c: &mut Ctx<'_>) -> i64 {
    sockname(c, false)
}

pub fn getpeername(c: &mut Ctx<'_>) -> i64 {
    sockname(c, true)
}

pub fn shutdown(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Net(NetRequest::Shutdown { fd: c.int(0), how: c.int(1) }))
}

pub fn getsockopt(c: &mut Ctx<'_>) -> i64 {
    let (fd, level, name, optval, optlen) = (c.int(0), c.int(1), c.int(2), c.arg(3), c.arg(4));
    let len = tryret!(read_i32(optlen));
    if len < 0 {
        return EINVAL;
    }
    match call(&Request::Net(NetRequest::Getsockopt { fd, level, name, len: len as u32 })) {
        Response::Bytes { ret: 0, data } => {
            if uaccess::copy_to_user(optval, &data).is_err() {
                return EFAULT;
            }
            uaccess::copy_to_user(optlen, &(data.len() as i32).to_le_bytes()).map_or(EFAULT, |()| 0)
        }
        Response::Bytes { ret, .. } | Response::Ret(ret) => ret,
        _ => EFAULT,
    }
}

pub fn setsockopt(c: &mut Ctx<'_>) -> i64 {
    let (fd, level, name, optval, optlen) = (c.int(0), c.int(1), c.int(2), c.arg(3), c.int(4));
    if optlen < 0 {
        return EINVAL;
    }
    let value = if level == SOL_SOCKET && (name == SO_ATTACH_FILTER || name == SO_ATTACH_REUSEPORT_CBPF) {
        tryret!(filter_program(optval, optlen))
    } else {
        let mut v = vec![0u8; (optlen as usize).min(MAX_INLINE)];
        tryret!(uaccess::copy_from_user(optval, &mut v));
        v
    };
    call_ret(&Request::Net(NetRequest::Setsockopt { fd, level, name, value: &value }))
}

/// The instructions of a `struct sock_fprog` (a count and a pointer): the host builds its
/// own copy of the struct around them.
fn filter_program(optval: u64, optlen: i32) -> Result<Vec<u8>, i64> {
    if optlen as usize != 16 {
        return Err(EINVAL);
    }
    let mut fprog = [0u8; 16];
    uaccess::copy_from_user(optval, &mut fprog)?;
    let count = usize::from(u16::from_le_bytes([fprog[0], fprog[1]]));
    if count == 0 || count > BPF_MAXINSNS {
        return Err(EINVAL);
    }
    if count * 8 > MAX_INLINE {
        return Err(err(errno::ENOMEM));
    }
    let mut insns = vec![0u8; count * 8];
    uaccess::copy_from_user(read_u64_at(&fprog, 8), &mut insns)?;
    Ok(insns)
}

/// One message to send: the data's segments, the destination and control messages.
struct Outgoing {
    segs: Vec<GuestSeg>,
    addr: Option<Vec<u8>>,
    control: Vec<u8>,
}

fn send(fd: i32, out: &Outgoing, flags: i32) -> i64 {
    let segs = &out.segs[..out.segs.len().min(SEGMENTS_PER_REQUEST)];
    let r = call_ret(&Request::Net(NetRequest::Sendmsg {
        fd,
        buf: SegList::Borrowed(segs),
        addr: out.addr.as_deref(),
        control: &out.control,
        flags,
    }));
    sigpipe_unless(r, flags)
}

pub fn sendto(c: &mut Ctx<'_>) -> i64 {
    let (fd, buf, len, flags, uaddr, alen) = (c.int(0), c.arg(1), c.arg(2), c.int(3), c.arg(4), c.arg(5));
    let segs = tryret!(rw_segments(buf, len, Access::Read));
    let addr = if uaddr == 0 { None } else { Some(tryret!(read_addr(uaddr, alen))) };
    send(fd, &Outgoing { segs, addr, control: Vec::new() }, flags)
}

/// A user `struct msghdr`, read.
struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
}

fn read_msghdr(addr: u64) -> Result<MsgHdr, i64> {
    let mut raw = [0u8; MSGHDR_SIZE];
    uaccess::copy_from_user(addr, &mut raw)?;
    let word = |at| read_u64_at(&raw, at);
    Ok(MsgHdr {
        name: word(0),
        namelen: word(8) as u32,
        iov: word(16),
        iovlen: word(24),
        control: word(32),
        controllen: word(40),
    })
}

/// The message a user msghdr describes (Linux's copy_msghdr_from_user and sendmsg checks).
fn outgoing(m: &MsgHdr) -> Result<Outgoing, i64> {
    if m.iovlen > UIO_MAXIOV {
        return Err(err(errno::EMSGSIZE));
    }
    let addr = if m.name == 0 {
        None
    } else {
        if (m.namelen as i32) < 0 {
            return Err(EINVAL);
        }
        Some(read_addr(m.name, u64::from(m.namelen).min(SOCKADDR_MAX as u64))?)
    };
    if m.controllen > i32::MAX as u64 {
        return Err(err(errno::ENOBUFS));
    }
    if m.controllen as usize > MAX_INLINE {
        return Err(err(errno::ENOBUFS));
    }
    let mut control = vec![0u8; m.controllen as usize];
    uaccess::copy_from_user(m.control, &mut control)?;
    let segs = iovec_segments(m.iov, m.iovlen, Access::Read)?;
    Ok(Outgoing { segs, addr, control })
}

pub fn sendmsg(c: &mut Ctx<'_>) -> i64 {
    let m = tryret!(read_msghdr(c.arg(1)));
    let out = tryret!(outgoing(&m));
    send(c.int(0), &out, c.int(2))
}

/// What one receive brought, before it is stored for the caller.
struct Incoming {
    len: i64,
    addr: Vec<u8>,
    control: Vec<u8>,
    flags: i32,
}

fn receive(fd: i32, segs: &[GuestSeg], control_len: usize, flags: i32) -> Result<Incoming, i64> {
    let segs = &segs[..segs.len().min(SEGMENTS_PER_REQUEST)];
    let control_len = control_len.min(MAX_INLINE) as u32;
    match call(&Request::Net(NetRequest::Recvmsg { fd, buf: SegList::Borrowed(segs), control_len, flags })) {
        Response::Received { ret, addr, control, flags } if ret >= 0 => {
            note_passed_fds(&control);
            Ok(Incoming { len: ret, addr, control, flags })
        }
        Response::Received { ret, .. } | Response::Ret(ret) => Err(ret),
        _ => Err(EFAULT),
    }
}

pub fn recvfrom(c: &mut Ctx<'_>) -> i64 {
    let (fd, buf, len, flags, uaddr, ulen) = (c.int(0), c.arg(1), c.arg(2), c.int(3), c.arg(4), c.arg(5));
    let segs = tryret!(rw_segments(buf, len, Access::Write));
    let got = tryret!(receive(fd, &segs, 0, flags));
    // No address (a connected stream) is reported as a length of 0, as Linux does.
    if uaddr != 0 {
        tryret!(write_addr(&got.addr, uaddr, ulen));
    }
    got.len
}

/// Receive one message for a user msghdr at `hdr` and fill in its name, control and flags
/// (Linux's ____sys_recvmsg): the byte count.
fn recv_into(fd: i32, hdr: u64, flags: i32) -> i64 {
    let m = tryret!(read_msghdr(hdr));
    if m.iovlen > UIO_MAXIOV {
        return err(errno::EMSGSIZE);
    }
    let segs = tryret!(iovec_segments(m.iov, m.iovlen, Access::Write));
    let control_len = if m.control == 0 { 0 } else { m.controllen as usize };
    let got = tryret!(receive(fd, &segs, control_len, flags));
    // msg_namelen: the whole address's length (0 when there is none); the name truncated
    // to the caller's room.
    let namelen = if m.name == 0 { 0 } else { got.addr.len() };
    if namelen > 0 {
        let n = namelen.min(m.namelen as usize);
        tryret!(uaccess::copy_to_user(m.name, &got.addr[..n]));
    }
    tryret!(uaccess::copy_to_user(hdr + 8, &(namelen as u32).to_le_bytes()));
    if !got.control.is_empty() {
        tryret!(uaccess::copy_to_user(m.control, &got.control));
    }
    tryret!(uaccess::copy_to_user(hdr + 40, &(got.control.len() as u64).to_le_bytes()));
    tryret!(uaccess::copy_to_user(hdr + 48, &got.flags.to_le_bytes()));
    got.len
}

pub fn recvmsg(c: &mut Ctx<'_>) -> i64 {
    recv_into(c.int(0), c.arg(1), c.int(2))
}

/// sendmmsg: the messages one after the other; the count sent, or the first one's error.
pub fn sendmmsg(c: &mut Ctx<'_>) -> i64 {
    let (fd, vec, vlen, flags) = (c.int(0), c.arg(1), c.arg(2) as u32 as u64, c.int(3));
    let mut sent = 0u64;
    for i in 0..vlen.min(UIO_MAXIOV) {
        let hdr = vec + i * MMSGHDR_SIZE;
        let r = match read_msghdr(hdr).and_then(|m| outgoing(&m)) {
            Ok(out) => send(fd, &out, flags),
            Err(e) => e,
        };
        if r < 0 {
            return if sent > 0 { sent as i64 } else { r };
        }
        if uaccess::copy_to_user(hdr + MSGHDR_SIZE as u64, &(r as u32).to_le_bytes()).is_err() {
            return if sent > 0 { sent as i64 } else { EFAULT };
        }
        sent += 1;
    }
    sent as i64
}

/// recvmmsg: up to `vlen` messages; MSG_WAITFORONE makes all but the first non-blocking,
/// and the timeout is checked after each message (as Linux does).
pub fn recvmmsg(c: &mut Ctx<'_>) -> i64 {
    let (fd, vec, vlen, mut flags, timeout) = (c.int(0), c.arg(1), c.arg(2) as u32 as u64, c.int(3), c.arg(4));
    let deadline = if timeout == 0 {
        None
    } else {
        let ts = tryret!(uaccess::read_struct::<abi_shared::linux::Timespec>(timeout));
        match crate::time::timespec_ns(&ts) {
            Some(ns) => Some(crate::time::monotonic_ns().saturating_add(ns)),
            None => return EINVAL,
        }
    };
    let mut got = 0u64;
    for i in 0..vlen.min(UIO_MAXIOV) {
        let hdr = vec + i * MMSGHDR_SIZE;
        let r = recv_into(fd, hdr, flags & !MSG_WAITFORONE);
        if r < 0 {
            return if got > 0 { got as i64 } else { r };
        }
        if uaccess::copy_to_user(hdr + MSGHDR_SIZE as u64, &(r as u32).to_le_bytes()).is_err() {
            return if got > 0 { got as i64 } else { EFAULT };
        }
        got += 1;
        if flags & MSG_WAITFORONE != 0 {
            flags |= MSG_DONTWAIT;
        }
        if deadline.is_some_and(|d| crate::time::monotonic_ns() >= d) {
            break;
        }
    }
    got as i64
}

/// Linux's SIOCGIFCONF; the other socket ioctls the host runs (server/net.rs keeps the
/// list): interface queries on a `struct ifreq`, and int or time answers.
const SIOCGIFCONF: u64 = linux_raw_sys::ioctl::SIOCGIFCONF as u64;
const IFREQ_SIZE: usize = 40;

fn ifreq_query(cmd: u64) -> bool {
    matches!(
        cmd,
        0x8910 | 0x8913 | 0x8915 | 0x8917 | 0x8919 | 0x891b | 0x891d | 0x8921 | 0x8927 | 0x8933 | 0x8942 | 0x8970
    )
}

fn answer_only_query(cmd: u64) -> bool {
    // SIOCATMARK, TIOCOUTQ (SIOCOUTQ), SIOCOUTQNSD, SIOCGSTAMP, SIOCGSTAMPNS
    matches!(cmd, 0x8905 | 0x5411 | 0x894b | 0x8906 | 0x8907)
}

/// The socket ioctls; None for any other request.
pub fn ioctl(fd: i32, cmd: u64, arg: u64) -> Option<i64> {
    if cmd == SIOCGIFCONF {
        return Some(ifconf(fd, arg));
    }
    let input = if ifreq_query(cmd) {
        let mut req = vec![0u8; IFREQ_SIZE];
        if let Err(e) = uaccess::copy_from_user(arg, &mut req) {
            return Some(e);
        }
        req
    } else if answer_only_query(cmd) {
        Vec::new()
    } else {
        return None;
    };
    Some(match call(&Request::Net(NetRequest::SocketIoctl { fd, cmd: cmd as u32, arg: &input })) {
        Response::Bytes { ret, data } if ret >= 0 => uaccess::copy_to_user(arg, &data).map_or(EFAULT, |()| ret),
        Response::Bytes { ret, .. } | Response::Ret(ret) => ret,
        _ => EFAULT,
    })
}

/// SIOCGIFCONF: `struct ifconf` is a length and a pointer; with a NULL pointer it asks
/// only for the length needed.
fn ifconf(fd: i32, arg: u64) -> i64 {
    let mut conf = [0u8; 16];
    tryret!(uaccess::copy_from_user(arg, &mut conf));
    let len = i32::from_le_bytes([conf[0], conf[1], conf[2], conf[3]]);
    let buf = read_u64_at(&conf, 8);
    let want = if buf == 0 { 0 } else { len.max(0) as u32 };
    match call(&Request::Net(NetRequest::IfConf { fd, len: want })) {
        Response::Bytes { ret, data } if ret >= 0 => {
            if buf != 0 {
                tryret!(uaccess::copy_to_user(buf, &data));
            }
            uaccess::copy_to_user(arg, &(ret as i32).to_le_bytes()).map_or(EFAULT, |()| 0)
        }
        Response::Bytes { ret, .. } | Response::Ret(ret) => ret,
        _ => EFAULT,
    }
}
