//! Socket requests: a program's sockets are host sockets with the same numbers, so it
//! meets native programs on the host's network and UNIX sockets, and read, write, poll,
//! epoll, fork and exec treat them as any other descriptor.
//!
//! Each request is checked before the host call: descriptor arguments (and the numbers an
//! SCM_RIGHTS message passes) must not be the monitor's own; guest buffers must lie in
//! guest RAM; options and ioctls whose values could carry a pointer are refused or
//! rebuilt (`host::net`). AF_UNIX paths are guest paths: they are resolved in the
//! filesystem view, and a path the host reports is shown as the view shows it.

use abi_shared::hypercall::{MalformedReason, NetRequest, Response, SegList};
use abi_shared::linux::{errno, general};
use libc::c_int;

use super::fs::{ret, Failure, Fs, Handled};
use super::FdGuard;
use crate::guest_mem::{GuestMemory, MAX_SEGMENTS};
use crate::host::net::{self as personality, OptionValue};
use crate::host::{sys, LinuxErrno};
use crate::vfs::{self, Last, View};

/// Most bytes of option value, control messages or ifconf records one answer carries
/// (the response area is 16 KiB; Linux's own limit on ancillary data is optmem_max, 20 KiB
/// by default, and no option value is near this).
pub const MAX_INLINE: usize = 8192;

const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;
const EINVAL: LinuxErrno = errno::EINVAL as LinuxErrno;
const ENAMETOOLONG: LinuxErrno = errno::ENAMETOOLONG as LinuxErrno;

/// Serve one socket request.
pub fn handle(fds: &FdGuard, mem: &GuestMemory, req: &NetRequest<'_>) -> Response {
    let net = Net { fs: Fs::new(fds, mem, vfs::current()) };
    let result = match req {
        NetRequest::Socket { domain, ty, protocol } => net.socket(*domain, *ty, *protocol),
        NetRequest::Socketpair { domain, ty, protocol } => net.socketpair(*domain, *ty, *protocol),
        NetRequest::BindConnect { fd, addr, connect } => net.bind_connect(*fd, addr, *connect),
        NetRequest::Listen { fd, backlog } => net.listen(*fd, *backlog),
        NetRequest::Accept { fd, flags } => net.accept(*fd, *flags),
        NetRequest::SockName { fd, peer } => net.sockname(*fd, *peer),
        NetRequest::Shutdown { fd, how } => net.shutdown(*fd, *how),
        NetRequest::Getsockopt { fd, level, name, len } => net.getsockopt(*fd, *level, *name, *len),
        NetRequest::Setsockopt { fd, level, name, value } => net.setsockopt(*fd, *level, *name, value),
        NetRequest::Sendmsg { fd, buf, addr, control, flags } => net.sendmsg(*fd, buf, *addr, control, *flags),
        NetRequest::Recvmsg { fd, buf, control_len, flags } => net.recvmsg(*fd, buf, *control_len, *flags),
        NetRequest::SocketIoctl { fd, cmd, arg } => net.ioctl(*fd, *cmd, arg),
        NetRequest::IfConf { fd, len } => net.ifconf(*fd, *len),
    };
    result.unwrap_or_else(Response::from)
}

/// The file requests' guard, guest memory and filesystem view (AF_UNIX paths resolve in it).
struct Net<'a> {
    fs: Fs<'a>,
}

impl Net<'_> {
    /// A descriptor argument, refused if it is one of the monitor's own.
    fn fd(&self, fd: i32) -> Result<c_int, Failure> {
        self.fs.fd(fd)
    }

    fn socket(&self, domain: i32, ty: i32, protocol: i32) -> Handled {
        let s = personality::socket_to_host(domain, ty, protocol)?;
        let fd = sys::socket(s.domain, s.ty, s.protocol)?;
        sys::set_socket_flags(fd, s.emulated.nonblock, s.emulated.cloexec)?;
        ret(fd.into())
    }

    fn socketpair(&self, domain: i32, ty: i32, protocol: i32) -> Handled {
        let s = personality::socket_to_host(domain, ty, protocol)?;
        let pair = sys::socketpair(s.domain, s.ty, s.protocol)?;
        for (i, fd) in pair.iter().enumerate() {
            if let Err(e) = sys::set_socket_flags(*fd, s.emulated.nonblock, s.emulated.cloexec) {
                // set_socket_flags closed this one; close the other too.
                sys::close_quietly(pair[1 - i]);
                return Err(e.into());
            }
        }
        Ok(Response::Fds(pair))
    }

    /// A Linux sockaddr the program gave, as the host's: an AF_UNIX path resolved in the
    /// filesystem view (`last` says what a final symlink does: bind creates the name,
    /// connect and sendto follow it).
    fn host_addr(&self, addr: &[u8], last: Last) -> Result<Vec<u8>, Failure> {
        let Some(path) = personality::unix_path(addr) else {
            return Ok(personality::sockaddr_to_host(addr)?);
        };
        if matches!(self.fs.view, View::Identity) {
            return Ok(personality::sockaddr_to_host(addr)?);
        }
        let at = self.fs.at(general::AT_FDCWD, path, last)?;
        let linux = personality::unix_sockaddr(at.path.as_bytes()).ok_or(Failure::Errno(ENAMETOOLONG))?;
        Ok(personality::sockaddr_to_host(&linux)?)
    }

    /// A host sockaddr as the program sees it: Linux's layout, and an AF_UNIX path as the
    /// view shows it.
    fn linux_addr(&self, host: &[u8]) -> Vec<u8> {
        let linux = personality::sockaddr_to_linux(host);
        let View::Mounted(view) = self.fs.view else { return linux };
        let Some(path) = personality::unix_path(&linux) else { return linux };
        view.table().guest_of(path).and_then(|g| personality::unix_sockaddr(&g)).unwrap_or(linux)
    }

    fn bind_connect(&self, fd: i32, addr: &[u8], connect: bool) -> Handled {
        let fd = self.fd(fd)?;
        let host = self.host_addr(addr, if connect { Last::Follow } else { Last::Parent })?;
        sys::bind_or_connect(fd, &host, connect)?;
        ret(0)
    }

    fn listen(&self, fd: i32, backlog: i32) -> Handled {
        sys::listen(self.fd(fd)?, backlog)?;
        ret(0)
    }

    fn accept(&self, fd: i32, flags: i32) -> Handled {
        let fd = self.fd(fd)?;
        let (host_flags, emulated) = personality::accept_flags_to_host(flags)?;
        let (new, addr) = sys::accept4(fd, host_flags)?;
        sys::set_socket_flags(new, emulated.nonblock, emulated.cloexec)?;
        Ok(Response::SockAddr { ret: new.into(), addr: self.linux_addr(&addr) })
    }

    fn sockname(&self, fd: i32, peer: bool) -> Handled {
        let addr = sys::sockname(self.fd(fd)?, peer)?;
        Ok(Response::SockAddr { ret: 0, addr: self.linux_addr(&addr) })
    }

    fn shutdown(&self, fd: i32, how: i32) -> Handled {
        let fd = self.fd(fd)?;
        sys::shutdown(fd, personality::shutdown_how_to_host(how)?)?;
        ret(0)
    }

    fn getsockopt(&self, fd: i32, level: i32, name: i32, len: u32) -> Handled {
        let fd = self.fd(fd)?;
        if personality::option_value(level, name)? == OptionValue::UnknownLevel {
            return Err(unknown_level(fd));
        }
        let (h_level, h_name) = personality::sockopt_to_host(level, name)?;
        let len = (len as usize).min(MAX_INLINE);
        let data = sys::getsockopt(fd, h_level, h_name, len)?;
        Ok(Response::Bytes { ret: 0, data })
    }

    fn setsockopt(&self, fd: i32, level: i32, name: i32, value: &[u8]) -> Handled {
        let fd = self.fd(fd)?;
        let kind = personality::option_value(level, name)?;
        if kind == OptionValue::UnknownLevel {
            return Err(unknown_level(fd));
        }
        let (h_level, h_name) = personality::sockopt_to_host(level, name)?;
        if kind == OptionValue::Filter {
            sys::attach_filter(fd, h_level, h_name, value)?;
        } else {
            sys::setsockopt(fd, h_level, h_name, value)?;
        }
        ret(0)
    }

    /// Host iovecs for a socket transfer: at most MAX_SEGMENTS, all in guest RAM.
    fn iovecs(&self, buf: &SegList<'_>) -> Result<Vec<libc::iovec>, Failure> {
        if buf.as_slice().len() > MAX_SEGMENTS {
            return Err(Failure::Errno(EINVAL));
        }
        buf.total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
        Ok(self.fs.mem.iovecs(buf.as_slice())?)
    }

    fn sendmsg(&self, fd: i32, buf: &SegList<'_>, addr: Option<&[u8]>, control: &[u8], flags: i32) -> Handled {
        let fd = self.fd(fd)?;
        // Passing one of the monitor's descriptors would hand it to another process.
        if personality::passed_fds(control)?.iter().any(|&f| self.fs.fds.is_reserved(f)) {
            return Err(Failure::Errno(EBADF));
        }
        let iov = self.iovecs(buf)?;
        let addr = addr.map(|a| self.host_addr(a, Last::Follow)).transpose()?;
        let control = personality::cmsgs_to_host(control)?;
        let (flags, _) = personality::msg_flags_to_host(flags)?;
        // SAFETY: every iovec names checked guest RAM, which stays mapped during the call.
        ret(unsafe { sys::sendmsg(fd, &iov, addr.as_deref(), &control, flags) }?)
    }

    fn recvmsg(&self, fd: i32, buf: &SegList<'_>, control_len: u32, flags: i32) -> Handled {
        let fd = self.fd(fd)?;
        let iov = self.iovecs(buf)?;
        let (host_flags, cloexec_by_hand) = personality::msg_flags_to_host(flags)?;
        let control_len = (control_len as usize).min(MAX_INLINE);
        // SAFETY: every iovec names checked guest RAM, which stays mapped during the call.
        let got = unsafe { sys::recvmsg(fd, &iov, control_len, host_flags) }?;
        let control = personality::cmsgs_to_linux(&got.control);
        if cloexec_by_hand {
            for passed in personality::passed_fds(&control).unwrap_or_default() {
                sys::set_cloexec_quietly(passed, true);
            }
        }
        Ok(Response::Received {
            ret: got.len,
            addr: if got.addr.is_empty() { Vec::new() } else { self.linux_addr(&got.addr) },
            control,
            flags: personality::msg_flags_to_linux(got.flags),
        })
    }

    fn ioctl(&self, fd: i32, cmd: u32, arg: &[u8]) -> Handled {
        let fd = self.fd(fd)?;
        let size = personality::socket_ioctl_size(cmd)?;
        let host_cmd = personality::socket_ioctl_to_host(cmd)?;
        let mut copy = arg.to_vec();
        copy.resize(size, 0);
        let r = sys::ioctl_struct(fd, host_cmd, &mut copy)?;
        Ok(Response::Bytes { ret: r, data: copy })
    }

    fn ifconf(&self, fd: i32, len: u32) -> Handled {
        let fd = self.fd(fd)?;
        let host_cmd = personality::socket_ioctl_to_host(personality::SIOCGIFCONF)?;
        let len = (len as usize).min(MAX_INLINE);
        let (used, data) = sys::ifconf(fd, host_cmd, len)?;
        Ok(Response::Bytes { ret: used, data })
    }
}

/// How the socket refuses an option level it does not know: its own errno for a level no
/// protocol has (EBADF, ENOTSOCK and the like come first, as for the real call).
fn unknown_level(fd: c_int) -> Failure {
    match sys::getsockopt(fd, personality::UNKNOWN_LEVEL, 0, 4) {
        Err(e) => Failure::Errno(e),
        Ok(_) => Failure::Errno(errno::ENOPROTOOPT as LinuxErrno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_shared::hypercall::GuestSeg;
    use abi_shared::hypercall::NetRequest;

    const RAM: usize = 64 * 1024;

    fn pair(fds: &FdGuard, mem: &GuestMemory) -> [i32; 2] {
        // AF_UNIX, SOCK_DGRAM
        match handle(fds, mem, &NetRequest::Socketpair { domain: 1, ty: 2, protocol: 0 }) {
            Response::Fds(p) => p,
            other => panic!("socketpair: {other:?}"),
        }
    }

    fn rights(fd: i32) -> Vec<u8> {
        let mut c = 20u64.to_ne_bytes().to_vec();
        c.extend(1i32.to_ne_bytes());
        c.extend(1i32.to_ne_bytes());
        c.extend(fd.to_ne_bytes());
        c.extend([0u8; 4]);
        c
    }

    #[test]
    fn a_message_moves_between_guest_buffers_with_a_passed_descriptor() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fds = FdGuard::default();
        let [a, b] = pair(&fds, &mem);
        mem.write(0x100, b"guest data").unwrap();
        let send = NetRequest::Sendmsg {
            fd: a,
            buf: SegList::Owned(vec![GuestSeg { gpa: 0x100, len: 10 }]),
            addr: None,
            control: &rights(a),
            flags: 0,
        };
        assert_eq!(handle(&fds, &mem, &send), Response::Ret(10));
        let recv = NetRequest::Recvmsg {
            fd: b,
            buf: SegList::Owned(vec![GuestSeg { gpa: 0x200, len: 64 }]),
            control_len: 24,
            flags: 0,
        };
        let Response::Received { ret, control, .. } = handle(&fds, &mem, &recv) else { panic!("no message") };
        assert_eq!(ret, 10);
        assert_eq!(mem.read_vec(0x200, 10).unwrap(), b"guest data");
        let passed = personality::passed_fds(&control).unwrap();
        assert_eq!(passed.len(), 1);
        for fd in [a, b, passed[0]] {
            sys::close_quietly(fd);
        }
    }

    #[test]
    fn the_monitors_descriptors_cannot_be_named_or_passed() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fds = FdGuard::default();
        let [a, b] = pair(&fds, &mem);
        fds.reserve(b);
        let ebadf = Response::Ret(-i64::from(EBADF));
        let control = rights(b);
        let send = NetRequest::Sendmsg {
            fd: a,
            buf: SegList::Owned(vec![GuestSeg { gpa: 0x100, len: 1 }]),
            addr: None,
            control: &control,
            flags: 0,
        };
        assert_eq!(handle(&fds, &mem, &send), ebadf, "passing a reserved descriptor");
        assert_eq!(handle(&fds, &mem, &NetRequest::Listen { fd: b, backlog: 1 }), ebadf);
        assert_eq!(handle(&fds, &mem, &NetRequest::Getsockopt { fd: b, level: 1, name: 3, len: 4 }), ebadf);
        // Buffers outside guest RAM are malformed, not a host fault.
        let outside = NetRequest::Recvmsg {
            fd: a,
            buf: SegList::Owned(vec![GuestSeg { gpa: RAM as u64, len: 8 }]),
            control_len: 0,
            flags: 0,
        };
        assert_eq!(handle(&fds, &mem, &outside), Response::Malformed(MalformedReason::BadGuestAddress));
        sys::close_quietly(a);
        sys::close_quietly(b);
    }

    #[test]
    fn unknown_option_levels_get_the_sockets_own_errno() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fds = FdGuard::default();
        let [a, b] = pair(&fds, &mem);
        // A UNIX socket refuses a level it does not know with EOPNOTSUPP.
        let r = handle(&fds, &mem, &NetRequest::Getsockopt { fd: a, level: 283, name: 4, len: 32 });
        assert_eq!(r, Response::Ret(-i64::from(errno::EOPNOTSUPP)));
        let r = handle(&fds, &mem, &NetRequest::Setsockopt { fd: a, level: 283, name: 4, value: &[0; 32] });
        assert_eq!(r, Response::Ret(-i64::from(errno::EOPNOTSUPP)));
        sys::close_quietly(a);
        sys::close_quietly(b);
    }
}
