//! POSIX message queues: the host's mqueues, whose descriptors are host descriptors under
//! the program's numbers (so poll, epoll, close, dup, fork and exec treat them as any
//! other). Arguments are read in Linux's order; messages pass through a kernel buffer.
//! Timeouts are absolute CLOCK_REALTIME times, and the guest's clocks are the host's, so
//! they pass unchanged.
//!
//! A blocking send or receive blocks in the host; a host signal ends it with EINTR, which
//! the syscall path restarts or not as Linux does for these (ERESTARTSYS).
//!
//! mq_notify: SIGEV_SIGNAL makes the host kernel signal the host process, which the
//! monitor forwards; SIGEV_THREAD (glibc's, over a netlink socket) passes the socket and
//! the cookie to the host kernel, which writes the cookie to that socket.

use alloc::vec::Vec;

use abi_shared::hypercall::{IpcRequest, Request, Response, SegList};
use abi_shared::ipc;
use abi_shared::linux::errno;

use super::{err, Ctx, EFAULT, EINVAL, ENOMEM};
use crate::hypercall::{call, call_ret, kernel_buf_seg};
use crate::mm::uaccess;
use crate::task::fdtable::{Desc, FDS};
use abi_shared::linux::PATH_MAX;

const O_CREAT: i32 = abi_shared::linux::general::O_CREAT as i32;
/// The biggest message one send or receive moves here (Linux's default limit is 8192
/// bytes; the msgsize_max sysctl may raise it to 16 MiB, which is not supported).
const MESSAGE_MAX: usize = 1 << 20;
/// Linux's MQ_PRIO_MAX.
const MQ_PRIO_MAX: u64 = 32768;

/// A queue name argument, as getname reads it.
fn read_name(addr: u64) -> Result<Vec<u8>, i64> {
    match uaccess::read_cstr(addr, PATH_MAX - 1)? {
        Some(name) => Ok(name),
        None => Err(err(errno::ENAMETOOLONG)),
    }
}

/// An absolute timeout argument (s, ns); None for NULL.
fn read_timeout(addr: u64) -> Result<Option<[i64; 2]>, i64> {
    if addr == 0 {
        return Ok(None);
    }
    let ts = uaccess::read_struct::<abi_shared::linux::Timespec>(addr)?;
    Ok(Some([ts.tv_sec, ts.tv_nsec]))
}

/// Linux reads the attributes before the name, whether or not O_CREAT asks for them.
pub fn mq_open(c: &mut Ctx<'_>) -> i64 {
    let (uname, flags, mode, uattr) = (c.arg(0), c.int(1), c.arg(2) as u32 & 0o7777, c.arg(3));
    let attr = if uattr == 0 {
        None
    } else {
        let mut a = [0u8; ipc::MQ_ATTR_SIZE];
        tryret!(uaccess::copy_from_user(uattr, &mut a));
        let long = |i: usize| i64::from_le_bytes(a[i * 8..i * 8 + 8].try_into().unwrap_or_default());
        Some([long(1), long(2)])
    };
    let name = tryret!(read_name(uname));
    let attr = attr.filter(|_| flags & O_CREAT != 0);
    let fd = call_ret(&Request::Ipc(IpcRequest::MqOpen { name: &name, flags, mode, attr }));
    if fd >= 0 {
        FDS.opened(fd as i32, Desc::HOST, None);
    }
    fd
}

pub fn mq_unlink(c: &mut Ctx<'_>) -> i64 {
    let name = tryret!(read_name(c.arg(0)));
    call_ret(&Request::Ipc(IpcRequest::MqUnlink { name: &name }))
}

/// A zeroed kernel buffer, or ENOMEM.
fn kernel_buf(len: usize) -> Result<Vec<u8>, i64> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| ENOMEM)?;
    v.resize(len, 0);
    Ok(v)
}

pub fn mq_timedsend(c: &mut Ctx<'_>) -> i64 {
    let (fd, msg, len, prio, timeout) = (c.int(0), c.arg(1), c.arg(2), c.arg(3) as u32 as u64, c.arg(4));
    let timeout = tryret!(read_timeout(timeout));
    if prio >= MQ_PRIO_MAX {
        return EINVAL;
    }
    if len > MESSAGE_MAX as u64 {
        return err(errno::EMSGSIZE);
    }
    let mut buf = tryret!(kernel_buf(len as usize));
    tryret!(uaccess::copy_from_user(msg, &mut buf));
    let seg = [kernel_buf_seg(&buf)];
    let segs = if buf.is_empty() { &[][..] } else { &seg[..] };
    call_ret(&Request::Ipc(IpcRequest::MqTransfer {
        fd,
        buf: SegList::Borrowed(segs),
        send: true,
        prio: prio as u32,
        timeout,
    }))
}

pub fn mq_timedreceive(c: &mut Ctx<'_>) -> i64 {
    let (fd, msg, len, uprio, timeout) = (c.int(0), c.arg(1), c.arg(2), c.arg(3), c.arg(4));
    let timeout = tryret!(read_timeout(timeout));
    let buf = tryret!(kernel_buf(len.min(MESSAGE_MAX as u64) as usize));
    let seg = [kernel_buf_seg(&buf)];
    let segs = if buf.is_empty() { &[][..] } else { &seg[..] };
    let req = Request::Ipc(IpcRequest::MqTransfer { fd, buf: SegList::Borrowed(segs), send: false, prio: 0, timeout });
    let (n, prio) = match call(&req) {
        Response::Bytes { ret, data } if ret >= 0 => {
            (ret as usize, data.get(..4).and_then(|b| b.try_into().ok()).map_or(0, u32::from_le_bytes))
        }
        Response::Bytes { ret, .. } | Response::Ret(ret) => return ret,
        _ => return EFAULT,
    };
    tryret!(uaccess::copy_to_user(msg, &buf[..n.min(buf.len())]));
    if uprio != 0 {
        tryret!(uaccess::copy_to_user(uprio, &prio.to_le_bytes()));
    }
    n as i64
}

/// mq_notify: the struct sigevent is read first; SIGEV_THREAD's cookie is read from the
/// pointer in sigev_value (Linux's NOTIFY_COOKIE_LEN bytes).
pub fn mq_notify(c: &mut Ctx<'_>) -> i64 {
    let (fd, uev) = (c.int(0), c.arg(1));
    if uev == 0 {
        return call_ret(&Request::Ipc(IpcRequest::MqNotify { fd, how: None, signo: 0, value: 0, cookie: &[] }));
    }
    let mut ev = [0u8; 16];
    tryret!(uaccess::copy_from_user(uev, &mut ev));
    let value = u64::from_le_bytes(ev[..8].try_into().unwrap_or_default());
    let signo = i32::from_le_bytes(ev[8..12].try_into().unwrap_or_default());
    let how = i32::from_le_bytes(ev[12..16].try_into().unwrap_or_default());
    let mut cookie = [0u8; ipc::NOTIFY_COOKIE_LEN];
    match how {
        ipc::SIGEV_THREAD => tryret!(uaccess::copy_from_user(value, &mut cookie)),
        ipc::SIGEV_NONE | ipc::SIGEV_SIGNAL => {}
        _ => return EINVAL,
    }
    let cookie: &[u8] = if how == ipc::SIGEV_THREAD { &cookie } else { &[] };
    call_ret(&Request::Ipc(IpcRequest::MqNotify { fd, how: Some(how), signo, value, cookie }))
}

/// mq_getsetattr: only mq_flags of the new attributes counts (O_NONBLOCK).
pub fn mq_getsetattr(c: &mut Ctx<'_>) -> i64 {
    let (fd, unew, uold) = (c.int(0), c.arg(1), c.arg(2));
    let new_flags = if unew == 0 {
        None
    } else {
        let mut a = [0u8; ipc::MQ_ATTR_SIZE];
        tryret!(uaccess::copy_from_user(unew, &mut a));
        Some(i64::from_le_bytes(a[..8].try_into().unwrap_or_default()))
    };
    // On the heap: the host writes it through its guest-physical address.
    let old = alloc::vec![0u8; ipc::MQ_ATTR_SIZE];
    let seg = [kernel_buf_seg(&old)];
    let r = call_ret(&Request::Ipc(IpcRequest::MqGetsetattr { fd, new_flags, old: SegList::Borrowed(&seg) }));
    if r == 0 && uold != 0 {
        tryret!(uaccess::copy_to_user(uold, &old));
    }
    r
}
