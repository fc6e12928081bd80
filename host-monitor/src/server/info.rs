//! Process attributes and system information the host owns: process groups and sessions,
//! supplementary groups, resource usage, CPU times, sysinfo and other processes' scheduling.
//!
//! One Linux process is this host process, so the host's answers about it are the true
//! ones: its pid, process group and session are the monitor's, and so are the CPU time and
//! memory it used (guest time included).

use abi_shared::hypercall::{InfoRequest, MalformedReason, Response, SegList};
use abi_shared::linux::errno;

use super::fs::{ret, Failure, Handled};
use crate::guest_mem::{GuestMemory, MAX_SEGMENTS};
use crate::host::{self, sys, LinuxErrno};

const EINVAL: LinuxErrno = errno::EINVAL as LinuxErrno;
/// Linux's NGROUPS_MAX: no process has more supplementary groups.
const NGROUPS_MAX: usize = abi_shared::linux::general::NGROUPS_MAX as usize;

/// Serve one process-attribute or system-information request.
pub fn handle(mem: &GuestMemory, req: &InfoRequest<'_>) -> Response {
    let result = match req {
        InfoRequest::Getgroups { size, buf } => getgroups(mem, *size, buf),
        InfoRequest::Getpgid { pid } => value(sys::getpgid(*pid)),
        InfoRequest::Getsid { pid } => value(sys::getsid(*pid)),
        InfoRequest::Setpgid { pid, pgid } => value(sys::setpgid(*pid, *pgid).map(|()| 0)),
        InfoRequest::Setsid => value(sys::setsid()),
        InfoRequest::Getrusage { who } => getrusage(*who),
        InfoRequest::Times => times(),
        InfoRequest::Sysinfo => sysinfo(),
        InfoRequest::SchedGetscheduler { pid } => sched_getscheduler(*pid),
        InfoRequest::SchedGetparam { pid } => sched_getparam(*pid),
        InfoRequest::Getpriority { which, who } => getpriority(*which, *who),
        InfoRequest::Setpriority { which, who, nice } => setpriority(*which, *who, *nice),
        InfoRequest::Ioprio { which, who, set } => {
            sys::ioprio(*which, *who, *set).map_err(Failure::Errno).and_then(ret)
        }
    };
    result.unwrap_or_else(Response::from)
}

/// A host call's value as the request's result.
fn value(r: sys::SysResult<libc::pid_t>) -> Handled {
    ret(i64::from(r?))
}

/// getgroups: the count for `size` 0; EINVAL when `size` is negative or too small;
/// otherwise the ids as Linux gid_t (u32) into the segments.
fn getgroups(mem: &GuestMemory, size: i32, buf: &SegList<'_>) -> Handled {
    let size = usize::try_from(size).map_err(|_| Failure::Errno(EINVAL))?;
    let count = sys::getgroups(&mut [])?;
    if size == 0 {
        return ret(count as i64);
    }
    if size < count {
        return Err(Failure::Errno(EINVAL));
    }
    let mut gids: Vec<libc::gid_t> = vec![0; count.min(NGROUPS_MAX)];
    let n = sys::getgroups(&mut gids)?;
    let bytes: Vec<u8> = gids.iter().take(n).flat_map(|g| g.to_le_bytes()).collect();
    let segs = buf.as_slice();
    if segs.len() > MAX_SEGMENTS {
        return Err(Failure::Malformed(MalformedReason::BadLength));
    }
    let room = buf.total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
    mem.iovecs(segs)?;
    if room < bytes.len() as u64 {
        return Err(Failure::Errno(EINVAL));
    }
    mem.write_segs(segs, &bytes)?;
    ret(n as i64)
}

/// Linux's nice range; a Darwin value outside it (20) is reported as the nearest.
const NICE_MIN: i32 = -20;
const NICE_MAX: i32 = 19;

/// getpriority: the raw syscall's 20 - nice. The program's own process (`who` 0 or its
/// pid) is asked by pid: 0 would name the host thread serving this request, while the
/// program runs on the process's main thread (the vCPU's).
fn getpriority(which: i32, who: i32) -> Handled {
    let host_which = host::priority_which_to_host(which)?;
    let nice = sys::getpriority(host_which, priority_who(which, who))?;
    ret(i64::from(20 - nice.clamp(NICE_MIN, NICE_MAX)))
}

/// setpriority, clamped to Linux's range as Linux does. For the program's own process every
/// host thread is set, so that the hypercall worker runs at the program's priority too.
fn setpriority(which: i32, who: i32, nice: i32) -> Handled {
    let host_which = host::priority_which_to_host(which)?;
    let nice = nice.clamp(NICE_MIN, NICE_MAX);
    let own = is_own_process(which, who);
    sys::setpriority(host_which, priority_who(which, who), nice)?;
    if own {
        sys::set_other_threads_priority(host_which, nice);
    }
    ret(0)
}

fn is_own_process(which: i32, who: i32) -> bool {
    which == 0 && (who == 0 || who == sys::getpid())
}

/// The host `who`: the program's own process by its pid (see getpriority), anything else as
/// given (a negative id names no one, on the host as on Linux).
fn priority_who(which: i32, who: i32) -> libc::id_t {
    if is_own_process(which, who) {
        return sys::getpid() as libc::id_t;
    }
    who as libc::id_t
}

fn getrusage(who: i32) -> Handled {
    let who = host::rusage_who_to_host(who)?;
    Ok(Response::Rusage(host::rusage_to_linux(&sys::getrusage(who)?)))
}

fn times() -> Handled {
    let (ticks, tms) = sys::times();
    Ok(Response::Times { ticks: host::clock_ticks_to_linux(ticks), tms: host::tms_to_linux(&tms) })
}

fn sysinfo() -> Handled {
    Ok(Response::Sysinfo(sys::sysinfo()?))
}

fn sched_getscheduler(pid: i32) -> Handled {
    ret(i64::from(sys::sched_getscheduler(pid)?))
}

fn sched_getparam(pid: i32) -> Handled {
    ret(i64::from(sys::sched_getparam(pid)?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::server::FdGuard;
    use abi_shared::hypercall::{GuestSeg, InfoRequest, Request};

    const RAM: usize = 64 * 1024;

    fn call<'a>(mem: &GuestMemory, req: impl Into<Request<'a>>) -> Response {
        crate::server::test_support::serve(&FdGuard::default(), mem, &req.into())
    }

    fn err(e: u32) -> Response {
        Response::Ret(-i64::from(e))
    }

    fn host_groups() -> Vec<u32> {
        rustix::process::getgroups().unwrap().iter().map(|g| g.as_raw()).collect()
    }

    #[test]
    fn getgroups_counts_copies_and_checks_the_size() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let want = host_groups();
        let none = SegList::Borrowed(&[]);
        assert_eq!(call(&mem, InfoRequest::Getgroups { size: 0, buf: none.clone() }), Response::Ret(want.len() as i64));
        assert_eq!(call(&mem, InfoRequest::Getgroups { size: -1, buf: none.clone() }), err(errno::EINVAL));
        let segs = [GuestSeg { gpa: 0x100, len: 4 }, GuestSeg { gpa: 0x1000, len: 4096 }];
        let got = call(&mem, InfoRequest::Getgroups { size: 1025, buf: SegList::Borrowed(&segs) });
        assert_eq!(got, Response::Ret(want.len() as i64));
        if let Some(first) = want.first() {
            assert_eq!(mem.read_u32(0x100).unwrap(), *first);
        }
        if want.len() > 1 {
            assert_eq!(mem.read_u32(0x1000).unwrap(), want[1]);
            assert_eq!(
                call(&mem, InfoRequest::Getgroups { size: 1, buf: SegList::Borrowed(&segs) }),
                err(errno::EINVAL)
            );
        }
        if !want.is_empty() {
            let outside = [GuestSeg { gpa: RAM as u64 - 2, len: 4096 }];
            assert_eq!(
                call(&mem, InfoRequest::Getgroups { size: 1024, buf: SegList::Borrowed(&outside) }),
                Response::Malformed(MalformedReason::BadGuestAddress)
            );
        }
    }

    #[test]
    fn process_group_and_session_are_the_hosts() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        // libc, not rustix: under a container the session (or group) leader
        // may live outside our pid namespace, and then the id is 0, which
        // rustix's non-zero Pid refuses with a panic.
        // SAFETY: getpgid and getsid take no pointers.
        let (pgrp, sid) = unsafe { (libc::getpgid(0), libc::getsid(0)) };
        assert_eq!(call(&mem, InfoRequest::Getpgid { pid: 0 }), Response::Ret(i64::from(pgrp)));
        assert_eq!(call(&mem, InfoRequest::Getsid { pid: 0 }), Response::Ret(i64::from(sid)));
        assert_eq!(call(&mem, InfoRequest::Getpgid { pid: 0x3fff_ffff }), err(errno::ESRCH));
        assert_eq!(call(&mem, InfoRequest::Getsid { pid: 0x3fff_ffff }), err(errno::ESRCH));
        assert_eq!(call(&mem, InfoRequest::Setpgid { pid: 0x3fff_ffff, pgid: 0 }), err(errno::ESRCH));
        assert_eq!(call(&mem, InfoRequest::Setpgid { pid: 0, pgid: -1 }), err(errno::EINVAL));
    }

    #[test]
    fn rusage_times_and_sysinfo_answer() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        match call(&mem, InfoRequest::Getrusage { who: 0 }) {
            Response::Rusage(ru) => {
                assert!(ru.ru_maxrss > 0);
                assert!((0..1_000_000).contains(&ru.ru_utime[1]));
            }
            other => panic!("expected Rusage, got {other:?}"),
        }
        assert!(matches!(call(&mem, InfoRequest::Getrusage { who: -1 }), Response::Rusage(_)));
        assert!(matches!(call(&mem, InfoRequest::Getrusage { who: 1 }), Response::Rusage(_)));
        assert_eq!(call(&mem, InfoRequest::Getrusage { who: 7 }), err(errno::EINVAL));
        match call(&mem, InfoRequest::Times) {
            Response::Times { tms, .. } => assert!(tms.tms_utime >= 0 && tms.tms_stime >= 0),
            other => panic!("expected Times, got {other:?}"),
        }
        match call(&mem, InfoRequest::Sysinfo) {
            Response::Sysinfo(si) => {
                assert_eq!(si.mem_unit, 1);
                assert!(si.totalram > 0 && si.freeram <= si.totalram);
                assert!(si.uptime > 0 && si.procs > 0);
            }
            other => panic!("expected Sysinfo, got {other:?}"),
        }
    }

    #[test]
    fn other_processes_scheduling() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let me = rustix::process::getpid().as_raw_nonzero().get();
        assert_eq!(call(&mem, InfoRequest::SchedGetscheduler { pid: me }), Response::Ret(0));
        assert_eq!(call(&mem, InfoRequest::SchedGetparam { pid: me }), Response::Ret(0));
        let missing = 0x3fff_ffff;
        assert_eq!(call(&mem, InfoRequest::SchedGetscheduler { pid: missing }), err(errno::ESRCH));
        assert_eq!(call(&mem, InfoRequest::SchedGetparam { pid: missing }), err(errno::ESRCH));
        assert_eq!(call(&mem, InfoRequest::SchedGetscheduler { pid: -1 }), err(errno::EINVAL));
    }

    #[test]
    fn priority_is_the_raw_syscalls() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let nice = rustix::process::getpriority_process(None).unwrap();
        assert_eq!(call(&mem, InfoRequest::Getpriority { which: 0, who: 0 }), Response::Ret(i64::from(20 - nice)));
        let me = rustix::process::getpid().as_raw_nonzero().get();
        assert_eq!(call(&mem, InfoRequest::Getpriority { which: 0, who: me }), Response::Ret(i64::from(20 - nice)));
        assert_eq!(call(&mem, InfoRequest::Getpriority { which: 3, who: 0 }), err(errno::EINVAL));
        assert_eq!(call(&mem, InfoRequest::Getpriority { which: 0, who: 0x3fff_ffff }), err(errno::ESRCH));
        assert_eq!(call(&mem, InfoRequest::Setpriority { which: -1, who: 0, nice: 0 }), err(errno::EINVAL));
        assert_eq!(call(&mem, InfoRequest::Setpriority { which: 0, who: 0x3fff_ffff, nice: 0 }), err(errno::ESRCH));
        // Setting the current value again is allowed to everyone.
        assert_eq!(call(&mem, InfoRequest::Setpriority { which: 0, who: 0, nice }), Response::Ret(0));
    }
}
