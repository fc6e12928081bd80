//! SysV IPC and POSIX message queue requests: the host's own objects, so a program shares
//! semaphores, message queues, shared memory and mqueues with native programs (and with
//! the other linuxrun processes, which are host processes too).
//!
//! Nothing here trusts the guest: structs and arrays are read from and written to guest
//! RAM through checked segments and passed to the host as the host's own buffers, sized
//! by the command (never by the guest); message sizes are capped; a queue descriptor or a
//! SIGEV_THREAD socket must not be one of the monitor's own; shmat maps only inside the
//! file window, over a range as long as the segment.

use std::ffi::CString;
use std::time::Duration;

use abi_shared::hypercall::{GuestSeg, IpcRequest, MalformedReason, Response, SegList};
use abi_shared::ipc::{self, CtlArg, IpcKind};
use abi_shared::linux::errno;

use super::fs::{ret, Failure, Handled};
use super::FdGuard;
use crate::guest_mem::GuestMemory;
use crate::host::sys::{self, MqNotification};
use crate::host::LinuxErrno;

const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;
const EINVAL: LinuxErrno = errno::EINVAL as LinuxErrno;
const EMSGSIZE: LinuxErrno = errno::EMSGSIZE as LinuxErrno;

/// Serve one IPC request.
pub fn handle(fds: &FdGuard, mem: &GuestMemory, req: &IpcRequest<'_>) -> Response {
    serve(&Ipc { fds, mem }, req).unwrap_or_else(Response::from)
}

fn serve(ipc: &Ipc<'_>, req: &IpcRequest<'_>) -> Handled {
    let mem = ipc.mem;
    match req {
        IpcRequest::IpcGet { kind, key, arg, flags } => ret_of(sys::ipc_get(*kind, *key, *arg, *flags)),
        IpcRequest::IpcCtl { kind, id, cmd, semnum, value, buf } => ipc.ctl(*kind, *id, *cmd, *semnum, *value, buf),
        IpcRequest::Semop { id, sops, timeout_ns } => {
            ret_of(sys::semtimedop(*id, sops, timeout_ns.map(Duration::from_nanos)))
        }
        IpcRequest::Msgsnd { id, msg, flags } => ipc.msgsnd(*id, msg, *flags),
        IpcRequest::Msgrcv { id, msg, size, msgtyp, flags } => ipc.msgrcv(*id, msg, *size, *msgtyp, *flags),
        IpcRequest::ShmAttach { id, gpa, len, flags } => {
            ret_of(mem.attach_shm_window(*gpa, *len, *id, *flags).map(|()| 0))
        }
        IpcRequest::MqOpen { name, flags, mode, attr } => {
            ret_of(sys::mq_open(&name_of(name)?, *flags, *mode, *attr).map(i64::from))
        }
        IpcRequest::MqUnlink { name } => ret_of(sys::mq_unlink(&name_of(name)?).map(|()| 0)),
        IpcRequest::MqTransfer { fd, buf, send: true, prio, timeout } => ipc.mq_send(*fd, buf, *prio, *timeout),
        IpcRequest::MqTransfer { fd, buf, send: false, timeout, .. } => ipc.mq_receive(*fd, buf, *timeout),
        IpcRequest::MqNotify { fd, how, signo, value, cookie } => ipc.mq_notify(*fd, *how, *signo, *value, cookie),
        IpcRequest::MqGetsetattr { fd, new_flags, old } => ipc.mq_getsetattr(*fd, *new_flags, old),
    }
}

fn ret_of(r: Result<i64, LinuxErrno>) -> Handled {
    ret(r?)
}

/// A queue name as the mq syscalls take it (the guest read it as a C string).
fn name_of(name: &[u8]) -> Result<CString, Failure> {
    CString::new(name).map_err(|_| Failure::Malformed(MalformedReason::Decode))
}

/// The bytes of a scatter list of at most `max` bytes (a longer one is refused).
fn gather(mem: &GuestMemory, segs: &[GuestSeg], max: usize, too_long: LinuxErrno) -> Result<Vec<u8>, Failure> {
    let total = SegList::Borrowed(segs).total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
    if total > max as u64 {
        return Err(Failure::Errno(too_long));
    }
    let mut out = Vec::with_capacity(total as usize);
    for s in segs {
        out.extend_from_slice(&mem.read_vec(s.gpa, s.len)?);
    }
    Ok(out)
}

/// How many bytes a scatter list names, if that is at most `max`.
fn room(segs: &[GuestSeg], max: usize) -> Result<usize, Failure> {
    let total = SegList::Borrowed(segs).total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
    Ok(total.min(max as u64) as usize)
}

struct Ipc<'a> {
    fds: &'a FdGuard,
    mem: &'a GuestMemory,
}

impl Ipc<'_> {
    /// A descriptor argument, refused if it is one of the monitor's own.
    fn fd(&self, fd: i32) -> Result<i32, Failure> {
        if self.fds.is_reserved(fd) {
            return Err(Failure::Errno(EBADF));
        }
        Ok(fd)
    }

    fn ctl(&self, kind: IpcKind, id: i32, cmd: i32, semnum: i32, value: i32, buf: &SegList<'_>) -> Handled {
        let arg = ipc::ctl_arg(kind, cmd).ok_or(Failure::Errno(EINVAL))?;
        let segs = buf.as_slice();
        let mut data = match arg {
            // What the command reads comes from the guest; `sys::ipc_ctl` sizes the buffer
            // for the command (a short one reads as zeros, a long one is cut).
            CtlArg::StructIn(n) => gather(self.mem, segs, n, EINVAL)?,
            CtlArg::ArrayIn => gather(self.mem, segs, 2 * 65536, EINVAL)?,
            _ => Vec::new(),
        };
        let r = sys::ipc_ctl(kind, id, cmd, semnum, value, &mut data)?;
        if matches!(arg, CtlArg::StructOut(_) | CtlArg::ArrayOut) {
            self.mem.write_segs(segs, &data)?;
        }
        ret(r)
    }

    fn msgsnd(&self, id: i32, msg: &SegList<'_>, flags: i32) -> Handled {
        let bytes = gather(self.mem, msg.as_slice(), 8 + ipc::MSG_MAX_BYTES, EINVAL)?;
        ret(sys::msgsnd(id, &bytes, flags)?)
    }

    /// msgrcv into a host buffer of the size the program asked for (capped), then as much
    /// of it as the program's buffer holds; a message longer than that is EFAULT, as the
    /// copy to the program fails on Linux (the message is gone then, as there).
    fn msgrcv(&self, id: i32, msg: &SegList<'_>, size: u64, msgtyp: i64, flags: i32) -> Handled {
        let room = room(msg.as_slice(), 8 + ipc::MSG_MAX_BYTES)?;
        let mut buf = vec![0u8; 8 + (size.min(ipc::MSG_MAX_BYTES as u64) as usize)];
        let n = sys::msgrcv(id, &mut buf, msgtyp, flags)?;
        if 8 + n > room {
            return Err(Failure::Errno(errno::EFAULT as LinuxErrno));
        }
        self.mem.write_segs(msg.as_slice(), &buf[..8 + n])?;
        ret(n as i64)
    }

    fn mq_send(&self, fd: i32, buf: &SegList<'_>, prio: u32, timeout: Option<[i64; 2]>) -> Handled {
        let fd = self.fd(fd)?;
        let msg = gather(self.mem, buf.as_slice(), ipc::MQ_MSGSIZE_MAX, EMSGSIZE)?;
        sys::mq_timedsend(fd, &msg, prio, timeout)?;
        ret(0)
    }

    /// mq_timedreceive into a host buffer no longer than the queue's messages can be (a
    /// buffer shorter than that is EMSGSIZE, from the host as from Linux).
    fn mq_receive(&self, fd: i32, buf: &SegList<'_>, timeout: Option<[i64; 2]>) -> Handled {
        let fd = self.fd(fd)?;
        let msgsize = sys::mq_getsetattr(fd, None)?[2].max(0) as usize;
        let len = room(buf.as_slice(), ipc::MQ_MSGSIZE_MAX)?.min(msgsize.max(1));
        let mut data = vec![0u8; len];
        let (n, prio) = sys::mq_timedreceive(fd, &mut data, timeout)?;
        self.mem.write_segs(buf.as_slice(), &data[..n])?;
        Ok(Response::Bytes { ret: n as i64, data: prio.to_le_bytes().to_vec() })
    }

    fn mq_notify(&self, fd: i32, how: Option<i32>, signo: i32, value: u64, cookie: &[u8]) -> Handled {
        let fd = self.fd(fd)?;
        let n = match how {
            None => None,
            Some(how) => {
                // SIGEV_THREAD names the netlink socket the notification goes to.
                if how == ipc::SIGEV_THREAD && self.fds.is_reserved(signo) {
                    return Err(Failure::Errno(EBADF));
                }
                Some(MqNotification { how, signo, value, cookie })
            }
        };
        sys::mq_notify(fd, n)?;
        ret(0)
    }

    fn mq_getsetattr(&self, fd: i32, new_flags: Option<i64>, old: &SegList<'_>) -> Handled {
        let fd = self.fd(fd)?;
        let attr = sys::mq_getsetattr(fd, new_flags)?;
        let bytes: Vec<u8> = attr.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.mem.write_segs(old.as_slice(), &bytes)?;
        ret(0)
    }
}
