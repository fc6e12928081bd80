//! Sockets: the BSD socket calls, with addresses, option values and control messages as
//! host-format bytes (the personality in `host::net` converted them). They are the same
//! calls on every host; only accept4 differs (per-host modules).

use super::*;

/// Largest sockaddr a host returns (`struct sockaddr_storage` is 128 bytes everywhere).
const SOCKADDR_MAX: usize = 128;

fn socklen(len: usize) -> SysResult<libc::socklen_t> {
    libc::socklen_t::try_from(len).map_err(|_| EINVAL)
}

pub fn socket(domain: c_int, ty: c_int, protocol: c_int) -> SysResult<c_int> {
    // SAFETY: socket takes no pointers.
    Ok(check(unsafe { libc::socket(domain, ty, protocol) })? as c_int)
}

pub fn socketpair(domain: c_int, ty: c_int, protocol: c_int) -> SysResult<[c_int; 2]> {
    let mut fds = [-1 as c_int; 2];
    // SAFETY: fds is a writable array of two ints, as socketpair fills.
    check(unsafe { libc::socketpair(domain, ty, protocol, fds.as_mut_ptr()) })?;
    Ok(fds)
}

/// bind(2) (`connect` false) or connect(2) to a host sockaddr.
pub fn bind_or_connect(raw: c_int, addr: &[u8], connect: bool) -> SysResult<()> {
    let len = socklen(addr.len())?;
    let ptr = addr.as_ptr().cast::<libc::sockaddr>();
    // SAFETY: ptr names addr.len() readable bytes for the call; the kernel reads at most
    // `len` of them (and copies them first, so alignment does not matter).
    check(unsafe {
        if connect {
            libc::connect(raw, ptr, len)
        } else {
            libc::bind(raw, ptr, len)
        }
    })
    .map(drop)
}

pub fn listen(raw: c_int, backlog: c_int) -> SysResult<()> {
    // SAFETY: listen takes no pointers.
    check(unsafe { libc::listen(raw, backlog) }).map(drop)
}

/// Call `f` with a sockaddr buffer and its length, and return the address the call wrote
/// (the host's whole address, never more than the buffer).
pub(super) fn with_sockaddr_out(
    f: impl FnOnce(*mut libc::sockaddr, *mut libc::socklen_t) -> c_int,
) -> SysResult<(c_int, Vec<u8>)> {
    let mut buf = [0u8; SOCKADDR_MAX];
    let mut len = SOCKADDR_MAX as libc::socklen_t;
    let r = check(f(buf.as_mut_ptr().cast(), &mut len))?;
    let n = (len as usize).min(SOCKADDR_MAX);
    Ok((r as c_int, buf[..n].to_vec()))
}

/// getsockname(2) (`peer` false) or getpeername(2): the host sockaddr.
pub fn sockname(raw: c_int, peer: bool) -> SysResult<Vec<u8>> {
    with_sockaddr_out(|addr, len| {
        // SAFETY: addr names SOCKADDR_MAX writable bytes and len holds that size.
        unsafe {
            if peer {
                libc::getpeername(raw, addr, len)
            } else {
                libc::getsockname(raw, addr, len)
            }
        }
    })
    .map(|(_, a)| a)
}

pub fn shutdown(raw: c_int, how: c_int) -> SysResult<()> {
    // SAFETY: shutdown takes no pointers.
    check(unsafe { libc::shutdown(raw, how) }).map(drop)
}

/// getsockopt(2) with a `len`-byte buffer: the value as long as the host says it is.
pub fn getsockopt(raw: c_int, level: c_int, name: c_int, len: usize) -> SysResult<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut got = socklen(len)?;
    // SAFETY: buf has `len` writable bytes and `got` says so.
    check(unsafe { libc::getsockopt(raw, level, name, buf.as_mut_ptr().cast(), &mut got) })?;
    buf.truncate((got as usize).min(len));
    Ok(buf)
}

/// setsockopt(2) with a value of plain bytes (the personality refused options whose
/// value holds pointers).
pub fn setsockopt(raw: c_int, level: c_int, name: c_int, value: &[u8]) -> SysResult<()> {
    let len = socklen(value.len())?;
    // SAFETY: value names `len` readable bytes for the call.
    check(unsafe { libc::setsockopt(raw, level, name, value.as_ptr().cast(), len) }).map(drop)
}

/// setsockopt(2) for a classic BPF program (SO_ATTACH_FILTER and its reuseport twin):
/// `insns` are `struct sock_filter` records (8 bytes each), copied into host memory.
pub fn attach_filter(raw: c_int, level: c_int, name: c_int, insns: &[u8]) -> SysResult<()> {
    #[repr(C)]
    struct SockFprog {
        len: u16,
        filter: *const u8,
    }
    let count = u16::try_from(insns.len() / 8).map_err(|_| EINVAL)?;
    let copy: Vec<u64> = insns.chunks_exact(8).map(|c| u64::from_ne_bytes(c.try_into().unwrap_or_default())).collect();
    let prog = SockFprog { len: count, filter: copy.as_ptr().cast() };
    let len = socklen(std::mem::size_of::<SockFprog>())?;
    // SAFETY: prog points at `count` 8-byte instructions in `copy`, which outlives the
    // call; the kernel copies the program.
    check(unsafe { libc::setsockopt(raw, level, name, (&prog as *const SockFprog).cast(), len) }).map(drop)
}

/// sendmsg(2) of guest memory to an optional host sockaddr, with host control messages.
///
/// # Safety
/// Every iovec must name memory that is readable and stays mapped for the call (checked
/// guest RAM).
pub unsafe fn sendmsg(
    raw: c_int,
    iov: &[libc::iovec],
    addr: Option<&[u8]>,
    control: &[u8],
    flags: c_int,
) -> SysResult<i64> {
    // SAFETY: msghdr is plain data; zero is a valid value for each field.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    if let Some(a) = addr {
        msg.msg_name = a.as_ptr() as *mut libc::c_void;
        msg.msg_namelen = socklen(a.len())?;
    }
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iov.len() as _;
    if !control.is_empty() {
        msg.msg_control = control.as_ptr() as *mut libc::c_void;
        msg.msg_controllen = control.len() as _;
    }
    // SAFETY: every pointer in msg names memory valid for the call (the caller's contract
    // for the iovecs; addr and control are borrowed slices); sendmsg only reads them.
    check(unsafe { libc::sendmsg(raw, &msg, flags) })
}

/// What recvmsg(2) received besides the data.
pub struct Received {
    pub len: i64,
    /// The sender's host sockaddr (empty if the socket reported none).
    pub addr: Vec<u8>,
    /// Host control messages.
    pub control: Vec<u8>,
    /// The host's msg_flags.
    pub flags: c_int,
}

/// recvmsg(2) into guest memory, with `control_len` bytes of room for control messages.
///
/// # Safety
/// Every iovec must name memory that is writable and stays mapped for the call (checked
/// guest RAM).
pub unsafe fn recvmsg(raw: c_int, iov: &[libc::iovec], control_len: usize, flags: c_int) -> SysResult<Received> {
    let mut addr = [0u8; SOCKADDR_MAX];
    // u64 words: the kernel aligns control messages to the host's word.
    let mut control = vec![0u64; control_len.div_ceil(8)];
    // SAFETY: msghdr is plain data; zero is a valid value for each field.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_name = addr.as_mut_ptr().cast();
    msg.msg_namelen = SOCKADDR_MAX as libc::socklen_t;
    msg.msg_iov = iov.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = iov.len() as _;
    if control_len > 0 {
        msg.msg_control = control.as_mut_ptr().cast();
        msg.msg_controllen = control_len as _;
    }
    // SAFETY: every pointer in msg names memory valid and writable for the call (the
    // caller's contract for the iovecs; addr and control are local buffers of the sizes
    // given).
    let len = check(unsafe { libc::recvmsg(raw, &mut msg, flags) })?;
    let name_len = (msg.msg_namelen as usize).min(SOCKADDR_MAX);
    let control_used = (msg.msg_controllen as usize).min(control_len);
    // SAFETY: `control` holds control_len.div_ceil(8) * 8 >= control_used initialized bytes.
    let control_bytes = unsafe { std::slice::from_raw_parts(control.as_ptr().cast::<u8>(), control_used) };
    Ok(Received { len, addr: addr[..name_len].to_vec(), control: control_bytes.to_vec(), flags: msg.msg_flags })
}

/// An ioctl whose argument is a plain struct (`arg`, changed in place): its value.
pub fn ioctl_struct(raw: c_int, cmd: libc::c_ulong, arg: &mut [u8]) -> SysResult<i64> {
    // SAFETY: the personality allowed only requests whose argument is a plain struct of at
    // most arg.len() bytes, which the kernel reads and writes in place.
    check(unsafe { libc::ioctl(raw, cmd as _, arg.as_mut_ptr()) })
}

/// SIOCGIFCONF with a `len`-byte buffer (0: ask only for the length): the length used and
/// the `struct ifreq` records.
pub fn ifconf(raw: c_int, cmd: libc::c_ulong, len: usize) -> SysResult<(i64, Vec<u8>)> {
    #[repr(C)]
    struct IfConf {
        len: c_int,
        buf: *mut u8,
    }
    let mut records = vec![0u8; len];
    let mut conf = IfConf {
        len: c_int::try_from(len).map_err(|_| EINVAL)?,
        buf: if len == 0 { std::ptr::null_mut() } else { records.as_mut_ptr() },
    };
    // SAFETY: conf names a buffer of conf.len writable bytes (or none, to ask the length).
    check(unsafe { libc::ioctl(raw, cmd as _, &mut conf as *mut IfConf) })?;
    let used = usize::try_from(conf.len).unwrap_or(0).min(len);
    records.truncate(used);
    Ok((i64::from(conf.len), records))
}

/// Make a new descriptor non-blocking and/or close-on-exec: socket() and accept4() flags
/// on a host that cannot take them in the call. If that fails the descriptor is closed
/// and the call fails, as the program never saw the number.
pub fn set_socket_flags(raw: c_int, nonblock: bool, cloexec: bool) -> SysResult<()> {
    let set = || -> SysResult<()> {
        if nonblock {
            set_status_flags(raw, status_flags(raw)? | libc::O_NONBLOCK)?;
        }
        if cloexec {
            set_fd_flags(raw, fd_flags(raw)? | libc::FD_CLOEXEC)?;
        }
        Ok(())
    };
    set().inspect_err(|_| close_quietly(raw))
}
