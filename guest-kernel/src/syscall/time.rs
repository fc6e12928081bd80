//! The clock and sleep syscalls: clocks from the TSC (crate::time), sleeping through
//! signal::wait (short sleeps spin, long ones block the vCPU in the host).

use abi_shared::hypercall::Request;
use abi_shared::linux::Timespec;

use abi_shared::linux::errno;

use super::{err, Ctx, EFAULT, EINVAL};
use crate::mm::uaccess;
use crate::signal::wait::sleep_interruptible;
use crate::time::{monotonic_ns, realtime_ns, timespec_ns, to_timespec};

const CLOCK_REALTIME: i32 = 0;
const CLOCK_MONOTONIC: i32 = 1;
const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
const CLOCK_MONOTONIC_RAW: i32 = 4;
const CLOCK_REALTIME_COARSE: i32 = 5;
const CLOCK_MONOTONIC_COARSE: i32 = 6;
const CLOCK_BOOTTIME: i32 = 7;
const CLOCK_REALTIME_ALARM: i32 = 8;
const CLOCK_BOOTTIME_ALARM: i32 = 9;
const CLOCK_TAI: i32 = 11;
const TIMER_ABSTIME: u64 = 1;

fn clock_now(clock: i32) -> Option<u64> {
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | CLOCK_REALTIME_ALARM | CLOCK_TAI => Some(realtime_ns()),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => {
            Some(monotonic_ns())
        }
        // The program's CPU time is the vCPU thread's, which only the host can read.
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => {
            Some(crate::hypercall::call_ret(&Request::CpuTime).max(0) as u64)
        }
        _ => None,
    }
}

pub fn clock_gettime(c: &mut Ctx<'_>) -> i64 {
    let Some(now) = clock_now(c.int(0)) else { return EINVAL };
    uaccess::write_struct(c.arg(1), &to_timespec(now)).map_or(EFAULT, |_| 0)
}

pub fn clock_getres(c: &mut Ctx<'_>) -> i64 {
    let res = match c.int(0) {
        CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => 4_000_000,
        id if clock_now(id).is_some() => 1,
        _ => return EINVAL,
    };
    if c.arg(1) == 0 {
        return 0;
    }
    uaccess::write_struct(c.arg(1), &to_timespec(res)).map_or(EFAULT, |_| 0)
}

pub fn gettimeofday(c: &mut Ctx<'_>) -> i64 {
    if c.arg(0) != 0 {
        let ns = realtime_ns();
        let tv = Timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: ((ns % 1_000_000_000) / 1000) as i64 };
        if uaccess::write_struct(c.arg(0), &tv).is_err() {
            return EFAULT;
        }
    }
    if c.arg(1) != 0 && uaccess::copy_to_user(c.arg(1), &[0u8; 8]).is_err() {
        return EFAULT;
    }
    0
}

pub fn time(c: &mut Ctx<'_>) -> i64 {
    let secs = (realtime_ns() / 1_000_000_000) as i64;
    if c.arg(0) != 0 && uaccess::copy_to_user(c.arg(0), &secs.to_le_bytes()).is_err() {
        return EFAULT;
    }
    secs
}

fn read_timespec(addr: u64) -> Result<u64, i64> {
    let ts: Timespec = uaccess::read_struct(addr)?;
    timespec_ns(&ts).ok_or(EINVAL)
}

/// Interrupted sleeps return EINTR (never restarted, even with SA_RESTART) and, for
/// relative ones, the time left.
fn sleep_or_eintr(deadline: u64, rem: u64) -> i64 {
    if !sleep_interruptible(deadline) {
        return 0;
    }
    if rem != 0 {
        let left = deadline.saturating_sub(monotonic_ns());
        if uaccess::write_struct(rem, &to_timespec(left)).is_err() {
            return EFAULT;
        }
    }
    err(errno::EINTR)
}

pub fn nanosleep(c: &mut Ctx<'_>) -> i64 {
    match read_timespec(c.arg(0)) {
        Ok(ns) => sleep_or_eintr(monotonic_ns().saturating_add(ns), c.arg(1)),
        Err(e) => e,
    }
}

pub fn clock_nanosleep(c: &mut Ctx<'_>) -> i64 {
    let (clock, flags) = (c.int(0), c.arg(1));
    if matches!(clock, CLOCK_THREAD_CPUTIME_ID) {
        return EINVAL;
    }
    let Some(now) = clock_now(clock) else { return EINVAL };
    let ns = match read_timespec(c.arg(2)) {
        Ok(ns) => ns,
        Err(e) => return -e.abs(),
    };
    let absolute = flags & TIMER_ABSTIME != 0;
    let rel = if absolute { ns.saturating_sub(now) } else { ns };
    sleep_or_eintr(monotonic_ns().saturating_add(rel), if absolute { 0 } else { c.arg(3) })
}
