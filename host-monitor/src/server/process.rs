//! Other processes: waiting for children and signalling them. Linux pids are host pids
//! (each Linux process is a host `linuxrun` process), so wait4, waitid and kill are the
//! host's own, with numbers translated by the host personality.
//!
//! fork itself is not served here: it must run on the vCPU thread (see machine.rs), so the
//! guest always sends it through the exit doorbell and `vcpu_request` picks it out.
//! vfork's hand-over between the child and the waiting parent is served here.

use abi_shared::hypercall::{decode_frame, LinuxRusage, ProcRequest, Request, Response, VcpuRequest, WaitInfo};
use abi_shared::layout::vcpu_block;
use abi_shared::linux::errno;
use std::os::fd::OwnedFd;

use super::fs::{check, ret, Failure, Handled};
use super::{lock, Server};
use crate::guest_mem::GuestMemory;
use crate::host::{self, sys, LinuxErrno};

impl Server {
    /// Serve one process request: waits, signals to processes, and vfork's hand-over.
    pub(super) fn process(&self, mem: &GuestMemory, req: &ProcRequest<'_>) -> Response {
        let result = match req {
            ProcRequest::Wait4 { pid, options } => self.wait4_tracing(*pid, *options),
            ProcRequest::Waitid { idtype, id, options } => match self.traced_stop_id(*idtype, *id, *options) {
                Some(r) => Ok(Response::WaitedId { ret: 0, info: trapped_info(&r), rusage: LinuxRusage::default() }),
                None => waitid(*idtype, *id, *options),
            },
            ProcRequest::Ptrace { pid, op } => self.ptrace_op(*pid, op),
            ProcRequest::Kill { pid, sig } => kill(*pid, *sig),
            ProcRequest::StopSelf { sig } => {
                crate::signals::stop_self(*sig);
                ret(0)
            }
            ProcRequest::GroupOrphaned => ret(i64::from(sys::own_group_orphaned())),
            ProcRequest::Sigqueue { pid, sig, code, value } => {
                let sig = host::kill_signal_to_host(*sig).map_err(Failure::Errno);
                sig.and_then(|s| check(host::sigqueue(*pid, s, *code, *value)).and_then(ret))
            }
            ProcRequest::VforkCopyBack { va, buf } => {
                // The write to the link can block: not under the lock.
                let link = lock(&self.vfork_done).clone();
                Ok(copy_back(link.as_deref(), mem, *va, buf.as_slice()))
            }
            ProcRequest::VforkWait => Ok(self.vfork_wait()),
            ProcRequest::VforkTakeCopyBack { buf } => {
                Ok(take_copy_back(&mut lock(&self.vfork_copy_back), mem, buf.as_slice()))
            }
        };
        result.unwrap_or_else(Response::from)
    }
}

impl Server {
    /// A stop of one of our tracees that wait4(pid) reports before the host's child events.
    fn traced_stop(&self, pid: i32, peek: bool) -> Option<crate::ptrace::Reported> {
        if !self.ptrace().has_tracees() {
            return None;
        }
        self.ptrace().wait(pid, peek)
    }

    /// wait4: our tracees' stops and ends first, then the host's children; when the host
    /// has no child for it but tracees that are not our children remain, wait for them.
    fn wait4_tracing(&self, pid: i32, options: i32) -> Handled {
        const WNOHANG: i32 = abi_shared::linux::general::WNOHANG as i32;
        loop {
            if let Some(r) = self.traced_stop(pid, false) {
                return Ok(Response::Waited { ret: r.pid.into(), status: r.status, rusage: LinuxRusage::default() });
            }
            match wait4(pid, options) {
                Err(Failure::Errno(e)) if e == errno::ECHILD as LinuxErrno && self.ptrace().has_adopted_tracees() => {
                    if options & WNOHANG != 0 {
                        return Ok(Response::Waited { ret: 0, status: 0, rusage: LinuxRusage::default() });
                    }
                    self.ptrace().wait_for_news().map_err(Failure::Errno)?;
                }
                other => return other,
            }
        }
    }

    /// As `traced_stop`, for waitid's (idtype, id): P_ALL 0, P_PID 1, P_PGID 2.
    fn traced_stop_id(&self, idtype: i32, id: i32, options: i32) -> Option<crate::ptrace::Reported> {
        let pid = match idtype {
            0 => -1,
            1 if id > 0 => id,
            2 if id > 0 => -id,
            2 => 0,
            _ => return None,
        };
        self.traced_stop(pid, options & abi_shared::linux::general::WNOWAIT as i32 != 0)
    }

    /// ptrace's requests that need the monitor (docs/debugging.md).
    fn ptrace_op(&self, pid: i32, op: &abi_shared::hypercall::PtraceOp) -> Handled {
        use abi_shared::hypercall::PtraceOp;
        let p = self.ptrace();
        match op {
            PtraceOp::TraceMe => p.trace_me().map(Response::Ret).map_err(Failure::Errno),
            PtraceOp::ForkedTracee { options, seized } => {
                p.forked_tracee(*options, *seized).map(Response::Ret).map_err(Failure::Errno)
            }
            PtraceOp::Regs => match p.regs(pid) {
                Ok((status, regs)) => Ok(Response::Bytes { ret: status.into(), data: regs }),
                Err(e) => Err(Failure::Errno(e)),
            },
            PtraceOp::SetOptions { options } => {
                p.set_options(pid, *options).map(|()| Response::Ret(0)).map_err(Failure::Errno)
            }
            PtraceOp::Command(cmd) => match p.command(pid, cmd.clone()) {
                Ok(None) => ret(0),
                Ok(Some((ok, data))) => Ok(Response::Bytes { ret: if ok { 0 } else { -i64::from(errno::EIO) }, data }),
                Err(e) => Err(Failure::Errno(e)),
            },
            PtraceOp::Detach { signal } => p.detach(pid, *signal).map(|()| Response::Ret(0)).map_err(Failure::Errno),
            PtraceOp::Attach { seize, options } => {
                p.attach(pid, *seize, *options).map(Response::Ret).map_err(Failure::Errno)
            }
            PtraceOp::Attached { tracer, .. } => p.attached(*tracer).map(Response::Ret).map_err(Failure::Errno),
            PtraceOp::Interrupt => p.interrupt(pid).map(Response::Ret).map_err(Failure::Errno),
            PtraceOp::Listen => p.listen(pid).map(Response::Ret).map_err(Failure::Errno),
        }
    }
}

/// waitid's report of a tracee's stop: CLD_TRAPPED with the stop's signal.
fn trapped_info(r: &crate::ptrace::Reported) -> WaitInfo {
    const CLD_TRAPPED: i32 = 4;
    let uid = rustix::process::getuid().as_raw();
    WaitInfo {
        signo: abi_shared::linux::general::SIGCHLD as i32,
        code: CLD_TRAPPED,
        pid: r.pid,
        uid,
        status: r.status >> 8 & 0xff,
    }
}

/// What `VcpuRequest::StartThread` asks for (see its documentation).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThreadStart {
    pub vcpu: u32,
    pub block: u64,
    pub cr3: u64,
    pub entry: u64,
    pub arg: u64,
}

/// The request waiting in the vCPU block at `block`, if it is one that only the thread
/// running the vCPU can serve (`Request::Vcpu`: fork carries the vCPU into the child; a
/// thread starts and ends there; see machine.rs and threads.rs). The guest sends them
/// through the exit doorbell.
pub fn vcpu_request(mem: &GuestMemory, block: u64) -> Option<VcpuRequest> {
    let area = block + vcpu_block::HC_REQUEST;
    let len = mem.read_u32(area).ok()?;
    let len = u64::from(len).min(vcpu_block::HC_REQUEST_SIZE - 4);
    let frame = mem.read_vec(area, len + 4).ok()?;
    match decode_frame::<Request<'_>>(&frame) {
        Ok(Request::Vcpu(req)) => Some(req),
        _ => None,
    }
}

/// vfork's suspension of the parent: a pipe whose write end only the child keeps, until
/// its exec passes the point of no return or it ends (the host closes it then). Both ends
/// live above the program's fds.
pub struct VforkLink {
    read: OwnedFd,
    write: OwnedFd,
}

impl VforkLink {
    pub fn new(floor: i32) -> std::io::Result<VforkLink> {
        let (read, write) = sys::pipe()?;
        // The low numbers go back to the program's range.
        let (read, write) = (sys::move_above_floor(read, floor), sys::move_above_floor(write, floor));
        Ok(VforkLink { read: read?, write: write? })
    }

    /// In the parent, right after the fork: only the child keeps the write end, so the
    /// read end sees EOF once the child has exec'd or ended.
    pub fn parent_side(self) -> VforkWait {
        drop(self.write);
        VforkWait { read: self.read }
    }

    /// In the child: the end to close at exec (see `Server::vfork_done`).
    pub fn child_keeps(self) -> OwnedFd {
        self.write
    }
}

/// A vfork parent's end of the link, waited on by `ProcRequest::VforkWait`.
pub struct VforkWait {
    read: OwnedFd,
}

impl VforkWait {
    /// Read what the child sent (the records of the memory it wrote, see `copy_back`) into
    /// `stream` until EOF (Ok) or until a host signal interrupts the read (Err: the caller
    /// waits again later; like Linux's vfork wait, signals do not end it).
    pub fn wait(&self, stream: &mut Vec<u8>) -> Result<(), ()> {
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            match rustix::io::read(&self.read, &mut chunk) {
                Ok(0) => return Ok(()),
                Ok(n) => stream.extend_from_slice(&chunk[..n]),
                Err(rustix::io::Errno::INTR) => return Err(()),
                Err(_) => return Ok(()),
            }
        }
    }
}

/// Largest piece of memory in one copy-back record.
pub const COPY_BACK_RECORD_MAX: usize = 4096;

/// The vfork child's copy-back: the user range at `va` (in guest segments `buf`) goes down
/// the link as records of at most a page, read piece by piece (no copy of the whole range,
/// whatever length the guest names). A parent that is gone is not an error.
pub fn copy_back(
    link: Option<&OwnedFd>,
    mem: &GuestMemory,
    va: u64,
    buf: &[abi_shared::hypercall::GuestSeg],
) -> Response {
    let efault = Response::Ret(-i64::from(errno::EFAULT));
    if buf.iter().any(|s| mem.range(s.gpa, s.len).is_err()) {
        return efault;
    }
    let Some(link) = link else { return Response::Ret(0) };
    let mut record = [0u8; 16 + COPY_BACK_RECORD_MAX];
    let mut at = va;
    for seg in buf {
        let mut done = 0u64;
        while done < seg.len {
            let n = (seg.len - done).min(COPY_BACK_RECORD_MAX as u64) as usize;
            record[..8].copy_from_slice(&at.to_le_bytes());
            record[8..16].copy_from_slice(&(n as u64).to_le_bytes());
            if mem.read(seg.gpa + done, &mut record[16..16 + n]).is_err() {
                return efault;
            }
            if write_all(link, &record[..16 + n]).is_err() {
                return Response::Ret(0);
            }
            done += n as u64;
            at = at.wrapping_add(n as u64);
        }
    }
    Response::Ret(0)
}

fn write_all(fd: &OwnedFd, mut data: &[u8]) -> std::io::Result<()> {
    while !data.is_empty() {
        match rustix::io::write(fd, data) {
            Ok(n) => data = &data[n..],
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The vfork parent takes the records its child sent: as many whole ones as fit in `buf`.
pub fn take_copy_back(pending: &mut Vec<u8>, mem: &GuestMemory, buf: &[abi_shared::hypercall::GuestSeg]) -> Response {
    let room: u64 = buf.iter().map(|s| s.len).sum();
    let mut end = 0usize;
    while end + 16 <= pending.len() {
        let len = u64::from_le_bytes(pending[end + 8..end + 16].try_into().unwrap_or_default());
        // The stream comes from another guest: a length past what is there ends it.
        let next = match usize::try_from(len).ok().and_then(|l| (end + 16).checked_add(l)) {
            Some(n) if n <= pending.len() && n as u64 <= room => n,
            _ => break,
        };
        end = next;
    }
    match mem.write_segs(buf, &pending[..end]) {
        Ok(n) if n == end => {
            pending.drain(..end);
            Response::Ret(end as i64)
        }
        _ => Response::Ret(-i64::from(errno::EFAULT)),
    }
}

fn wait4(pid: i32, options: i32) -> Handled {
    let options = host::wait_options_to_host(options)?;
    let (r, status, ru) = sys::wait4(pid, options)?;
    if r > 0 && (libc::WIFEXITED(status) || libc::WIFSIGNALED(status)) {
        crate::strace::process_gone(r as i32);
    }
    let rusage = if r > 0 { host::rusage_to_linux(&ru) } else { LinuxRusage::default() };
    let status = if r > 0 { host::wait_status_to_linux(status) } else { 0 };
    Ok(Response::Waited { ret: r, status, rusage })
}

fn waitid(idtype: i32, id: i32, options: i32) -> Handled {
    let idtype = host::idtype_to_host(idtype).map_err(Failure::Errno)?;
    let options = host::wait_options_to_host(options).map_err(Failure::Errno)?;
    let id = libc::id_t::try_from(id).map_err(|_| Failure::Errno(errno::EINVAL as LinuxErrno))?;
    let si = sys::waitid(idtype, id, options)?;
    if options & libc::WNOWAIT == 0 {
        // SAFETY: waitid filled si; si_pid is 0 when no child had changed state.
        let pid = unsafe { si.si_pid() };
        if pid > 0 && matches!(si.si_code, libc::CLD_EXITED | libc::CLD_KILLED | libc::CLD_DUMPED) {
            crate::strace::process_gone(pid);
        }
    }
    let info: WaitInfo = host::wait_info_to_linux(&si);
    // waitid has no rusage of its own; Linux's raw syscall fills one from the child, which
    // the host's libc waitid does not give us.
    Ok(Response::WaitedId { ret: 0, info, rusage: LinuxRusage::default() })
}

fn kill(pid: i32, linux_sig: i32) -> Handled {
    let sig = host::kill_signal_to_host(linux_sig).map_err(Failure::Errno)?;
    sys::kill(pid, sig)?;
    if reaches_self(pid) {
        // The host delivered it to us as well, but with our own pid as sender, which the
        // monitor's handler takes for one of its kicks: record it for the guest here.
        crate::signals::note_sent_to_self(linux_sig);
    }
    ret(0)
}

/// Whether kill(pid) signals the caller too (pid -1 excludes it on Linux).
fn reaches_self(pid: i32) -> bool {
    let (me, group) = (sys::getpid(), sys::getpgrp());
    pid == 0 || pid == me || pid == -group
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_shared::hypercall::GuestSeg;
    use abi_shared::hypercall::ProcRequest;

    #[test]
    fn copy_back_streams_page_records_and_the_parent_takes_whole_ones() {
        let link = VforkLink::new(100).expect("pipe");
        let mut ram = vec![0u8; 4 * 4096 + 16];
        for (i, b) in ram[..4096 + 100].iter_mut().enumerate() {
            *b = (i % 251) as u8;
        }
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let VforkLink { read, write } = link;
        // A range of a page and 100 bytes: two records, the second one short.
        let r = copy_back(Some(&write), &mem, 0x7000_0000, &[GuestSeg { gpa: 0, len: 4096 + 100 }]);
        assert_eq!(r, Response::Ret(0));
        drop(write);
        let wait = VforkLink { read, write: VforkLink::new(100).expect("pipe").write }.parent_side();
        let mut pending = Vec::new();
        assert_eq!(wait.wait(&mut pending), Ok(()));
        assert_eq!(pending.len(), 16 + 4096 + 16 + 100);
        assert_eq!(&pending[..16], &[0x7000_0000u64.to_le_bytes(), 4096u64.to_le_bytes()].concat()[..]);
        // Room for one record and a half: only the whole one is handed over.
        let out = [GuestSeg { gpa: 2 * 4096, len: 4096 + 16 + 50 }];
        assert_eq!(take_copy_back(&mut pending, &mem, &out), Response::Ret(16 + 4096));
        assert_eq!(mem.read_vec(2 * 4096 + 16, 4096).unwrap(), mem.read_vec(0, 4096).unwrap());
        assert_eq!(take_copy_back(&mut pending, &mem, &out), Response::Ret(16 + 100));
        assert_eq!(mem.read_u64(2 * 4096).unwrap(), 0x7000_1000);
        assert_eq!(take_copy_back(&mut pending, &mem, &out), Response::Ret(0));
        // Without a parent waiting, a copy-back is a no-op.
        assert_eq!(copy_back(None, &mem, 0, &[GuestSeg { gpa: 0, len: 10 }]), Response::Ret(0));
        assert_eq!(
            copy_back(None, &mem, 0, &[GuestSeg { gpa: 1 << 40, len: 10 }]),
            Response::Ret(-i64::from(errno::EFAULT))
        );
    }

    fn err(e: u32) -> Response {
        Response::Ret(-i64::from(e))
    }

    /// The requests these tests send need none of the server's state.
    fn handle(req: &ProcRequest<'_>) -> Response {
        let result = match *req {
            ProcRequest::Wait4 { pid, options } => wait4(pid, options),
            ProcRequest::Waitid { idtype, id, options } => waitid(idtype, id, options),
            ProcRequest::Kill { pid, sig } => kill(pid, sig),
            ref other => panic!("not a stateless request: {other:?}"),
        };
        result.unwrap_or_else(Response::from)
    }

    /// One test, so that no other test's child is reaped or waited for by mistake.
    #[test]
    fn children_are_waited_for_and_then_echild() {
        // SAFETY: the child only calls _exit.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: ends the child at once.
            unsafe { libc::_exit(7) };
        }
        match handle(&ProcRequest::Wait4 { pid, options: 0 }) {
            Response::Waited { ret, status, .. } => {
                assert_eq!(ret, i64::from(pid));
                assert_eq!(status, 7 << 8);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(handle(&ProcRequest::Wait4 { pid, options: 1 }), err(errno::ECHILD));
        assert_eq!(handle(&ProcRequest::Waitid { idtype: 1, id: pid, options: 4 | 1 }), err(errno::ECHILD));
        assert_eq!(handle(&ProcRequest::Waitid { idtype: 9, id: 0, options: 4 }), err(errno::EINVAL));
        assert_eq!(handle(&ProcRequest::Waitid { idtype: 1, id: -1, options: 4 }), err(errno::EINVAL));
    }

    #[test]
    fn kill_checks_processes() {
        // SAFETY: getpid cannot fail.
        let me = sys::getpid();
        assert_eq!(handle(&ProcRequest::Kill { pid: me, sig: 0 }), Response::Ret(0));
        assert_eq!(handle(&ProcRequest::Kill { pid: i32::MAX, sig: 0 }), err(errno::ESRCH));
    }
}
