//! Process attributes and system information that belong to the host process: process
//! group, session, supplementary groups, resource usage, CPU times, sysinfo. One Linux
//! process is one host process, so the host's answers are this program's.

use alloc::vec::Vec;

use abi_shared::hypercall::{InfoRequest, Request, Response, SegList};

use super::{Ctx, EFAULT, EINVAL};
use crate::hypercall::{call, call_ret};
use crate::mm::uaccess;
use crate::mm::Access;

/// getgroups: size 0 returns the count, a size below it is EINVAL; only the ids stored are
/// touched in the user's array.
pub fn getgroups(c: &mut Ctx<'_>) -> i64 {
    let (size, list) = (c.int(0), c.arg(1));
    if size < 0 {
        return EINVAL;
    }
    let count = i64::from(crate::task::creds::ngroups());
    if size == 0 {
        return count;
    }
    if (size as i64) < count {
        return EINVAL;
    }
    let mut segs = Vec::new();
    if let Err(e) = uaccess::user_segments(list, count as u64 * 4, Access::Write, &mut segs) {
        return e;
    }
    call_ret(&Request::Info(InfoRequest::Getgroups { size, buf: SegList::Borrowed(&segs) }))
}

pub fn getpgid(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Info(InfoRequest::Getpgid { pid: c.int(0) }))
}

pub fn getpgrp(_: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Info(InfoRequest::Getpgid { pid: 0 }))
}

pub fn getsid(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Info(InfoRequest::Getsid { pid: c.int(0) }))
}

pub fn setpgid(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Info(InfoRequest::Setpgid { pid: c.int(0), pgid: c.int(1) }))
}

pub fn setsid(_: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Info(InfoRequest::Setsid))
}

/// getpriority as the raw syscall answers: 20 - nice, so 1 (nice 19) to 40 (nice -20);
/// the C library turns that back into the nice value.
pub fn getpriority(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Info(InfoRequest::Getpriority { which: c.int(0), who: c.int(1) }))
}

/// setpriority: the host sets the nice value of its process (the program's), of a process
/// group or of a user's processes, with the host's permission checks.
pub fn setpriority(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Info(InfoRequest::Setpriority { which: c.int(0), who: c.int(1), nice: c.int(2) }))
}

/// IOPRIO_WHO_PROCESS: `who` is a thread id, 0 the caller.
const IOPRIO_WHO_PROCESS: i32 = 1;

/// ioprio_get/ioprio_set: the host's I/O priorities, of the calling thread's own host
/// thread for IOPRIO_WHO_PROCESS 0 (Linux's I/O priority is a thread's).
pub fn ioprio_get(c: &mut Ctx<'_>) -> i64 {
    let (which, who) = ioprio_target(c.int(0), c.int(1));
    call_ret(&Request::Info(InfoRequest::Ioprio { which, who, set: None }))
}

pub fn ioprio_set(c: &mut Ctx<'_>) -> i64 {
    let (which, who) = ioprio_target(c.int(0), c.int(1));
    call_ret(&Request::Info(InfoRequest::Ioprio { which, who, set: Some(c.int(2)) }))
}

fn ioprio_target(which: i32, who: i32) -> (i32, i32) {
    if which == IOPRIO_WHO_PROCESS && who == 0 {
        (which, crate::task::tid())
    } else {
        (which, who)
    }
}

/// getrusage: the host's numbers (RUSAGE_THREAD is the vCPU's host thread).
pub fn getrusage(c: &mut Ctx<'_>) -> i64 {
    match call(&Request::Info(InfoRequest::Getrusage { who: c.int(0) })) {
        Response::Rusage(ru) => uaccess::write_struct(c.arg(1), &ru).map_or(EFAULT, |_| 0),
        Response::Ret(e) => e,
        _ => EINVAL,
    }
}

/// times: `struct tms` if the pointer is not NULL, and the tick count either way.
pub fn times(c: &mut Ctx<'_>) -> i64 {
    match call(&Request::Info(InfoRequest::Times)) {
        Response::Times { ticks, tms } => {
            if c.arg(0) != 0 && uaccess::write_struct(c.arg(0), &tms).is_err() {
                return EFAULT;
            }
            ticks
        }
        Response::Ret(e) => e,
        _ => EINVAL,
    }
}

/// sysinfo: the host's uptime, loads, swap and process count; RAM as the smaller of the
/// host's and this VM's (a program sizing itself by free memory must fit in guest RAM).
pub fn sysinfo(c: &mut Ctx<'_>) -> i64 {
    let mut si = match call(&Request::Info(InfoRequest::Sysinfo)) {
        Response::Sysinfo(si) => si,
        Response::Ret(e) => return e,
        _ => return EINVAL,
    };
    let (guest_free, _) = crate::mm::frame::usage();
    si.totalram = si.totalram.min(crate::mm::guest_ram_size());
    si.freeram = si.freeram.min(guest_free);
    si.sharedram = si.sharedram.min(si.totalram);
    si.bufferram = si.bufferram.min(si.totalram);
    uaccess::write_struct(c.arg(0), &si).map_or(EFAULT, |_| 0)
}
