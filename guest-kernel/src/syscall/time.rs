//! The clock and sleep syscalls: clocks from the TSC (crate::time), sleeping through
//! signal::wait (short sleeps spin, long ones block the vCPU in the host).

use abi_shared::hypercall::{ClockRequest, Request, Response};
use abi_shared::linux::Timespec;

use abi_shared::linux::errno;

use super::{err, Ctx, EFAULT, EINVAL};
use crate::mm::uaccess;
use crate::signal::wait::sleep_interruptible;
use crate::task::cpu_clock::{self, CpuClock};
use crate::time::{monotonic_ns, realtime_ns, timespec_ns, to_timespec};

const CLOCK_REALTIME: i32 = abi_shared::linux::general::CLOCK_REALTIME as i32;
const CLOCK_MONOTONIC: i32 = abi_shared::linux::general::CLOCK_MONOTONIC as i32;
const CLOCK_MONOTONIC_RAW: i32 = abi_shared::linux::general::CLOCK_MONOTONIC_RAW as i32;
const CLOCK_REALTIME_COARSE: i32 = abi_shared::linux::general::CLOCK_REALTIME_COARSE as i32;
const CLOCK_MONOTONIC_COARSE: i32 = abi_shared::linux::general::CLOCK_MONOTONIC_COARSE as i32;
const CLOCK_BOOTTIME: i32 = abi_shared::linux::general::CLOCK_BOOTTIME as i32;
const CLOCK_REALTIME_ALARM: i32 = abi_shared::linux::general::CLOCK_REALTIME_ALARM as i32;
const CLOCK_BOOTTIME_ALARM: i32 = abi_shared::linux::general::CLOCK_BOOTTIME_ALARM as i32;
const CLOCK_TAI: i32 = abi_shared::linux::general::CLOCK_TAI as i32;
const TIMER_ABSTIME: u64 = abi_shared::linux::general::TIMER_ABSTIME as u64;

fn clock_now(clock: i32) -> Option<u64> {
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE | CLOCK_REALTIME_ALARM | CLOCK_TAI => Some(realtime_ns()),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME | CLOCK_BOOTTIME_ALARM => {
            Some(monotonic_ns())
        }
        _ => None,
    }
}

/// What a clock id names.
enum Clock {
    /// A clock the guest answers from the TSC: its time now.
    Tsc(u64),
    Cpu {
        host: i32,
        own_thread: bool,
    },
    Fd,
    Invalid,
}

fn classify(clock: i32) -> Clock {
    if let Some(now) = clock_now(clock) {
        return Clock::Tsc(now);
    }
    match cpu_clock::classify(clock) {
        CpuClock::Cpu { host, own_thread } => Clock::Cpu { host, own_thread },
        CpuClock::Fd => Clock::Fd,
        CpuClock::Invalid => Clock::Invalid,
    }
}

fn read_cpu_clock(host: i32, res: bool) -> Result<u64, i64> {
    cpu_clock::read(host, res)
}

pub fn clock_gettime(c: &mut Ctx<'_>) -> i64 {
    let now = match classify(c.int(0)) {
        Clock::Tsc(now) => now,
        Clock::Cpu { host, .. } => match read_cpu_clock(host, false) {
            Ok(ns) => ns,
            Err(e) => return e,
        },
        Clock::Fd | Clock::Invalid => return EINVAL,
    };
    uaccess::write_struct(c.arg(1), &to_timespec(now)).map_or(EFAULT, |_| 0)
}

pub fn clock_getres(c: &mut Ctx<'_>) -> i64 {
    let res = match (c.int(0), classify(c.int(0))) {
        (CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE, _) => 4_000_000,
        (_, Clock::Tsc(_)) => 1,
        (_, Clock::Cpu { host, .. }) => match read_cpu_clock(host, true) {
            Ok(ns) => ns,
            Err(e) => return e,
        },
        (_, Clock::Fd | Clock::Invalid) => return EINVAL,
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
    // Linux's order: an unknown clock, a clock that cannot sleep, the request, then the
    // clock's own refusal (the calling thread's CPU clock).
    let kind = classify(clock);
    match kind {
        Clock::Invalid => return EINVAL,
        Clock::Fd => return err(errno::EOPNOTSUPP),
        // CLOCK_THREAD_CPUTIME_ID has no sleep in Linux (EOPNOTSUPP); the caller's own
        // thread clock named by its id is refused by the CPU-clock sleep (EINVAL) below.
        _ if matches!(
            clock,
            CLOCK_MONOTONIC_RAW | CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE | cpu_clock::CLOCK_THREAD_CPUTIME_ID
        ) =>
        {
            return err(errno::EOPNOTSUPP)
        }
        _ => {}
    }
    let ns = match read_timespec(c.arg(2)) {
        Ok(ns) => ns,
        Err(e) => return -e.abs(),
    };
    let absolute = flags & TIMER_ABSTIME != 0;
    let rem = if absolute { 0 } else { c.arg(3) };
    match kind {
        Clock::Cpu { own_thread: true, .. } => EINVAL,
        Clock::Cpu { host, .. } => cpu_sleep(host, absolute, ns, rem),
        Clock::Tsc(now) => {
            let rel = if absolute { ns.saturating_sub(now) } else { ns };
            sleep_or_eintr(monotonic_ns().saturating_add(rel), rem)
        }
        Clock::Fd | Clock::Invalid => EINVAL,
    }
}

/// Sleep until CPU-time clock `host` reaches the target, as Linux does (which for the
/// process's own clock, with no other thread running, can be a very long time). The clock
/// advances at most as fast as wall time on every CPU at once, so each nap is the CPU time
/// left divided by the CPU count; then the clock is read again.
fn cpu_sleep(host: i32, absolute: bool, ns: u64, rem: u64) -> i64 {
    let start = match read_cpu_clock(host, false) {
        Ok(t) => t,
        Err(_) => return EINVAL,
    };
    let target = if absolute { ns } else { start.saturating_add(ns) };
    let cpus = u64::from(crate::task::cpu_count().max(1));
    loop {
        let now = read_cpu_clock(host, false).unwrap_or(target);
        if now >= target {
            return 0;
        }
        let nap = ((target - now) / cpus).max(1_000);
        if sleep_interruptible(monotonic_ns().saturating_add(nap)) {
            if rem != 0 {
                let left = target.saturating_sub(read_cpu_clock(host, false).unwrap_or(target));
                if uaccess::write_struct(rem, &to_timespec(left)).is_err() {
                    return EFAULT;
                }
            }
            return err(errno::EINTR);
        }
    }
}

/// clock_settime: Linux's checks in its order (a clock that cannot be set, the request,
/// then the clock's own), the last of them the host's, which also decides the privilege
/// (EPERM without CAP_SYS_TIME; a CPU-time clock is never settable). The guest's own
/// CLOCK_REALTIME keeps its offset from the TSC: a program that moves the host's clock
/// sees the change in processes started after it.
pub fn clock_settime(c: &mut Ctx<'_>) -> i64 {
    let clock = c.int(0);
    let host = match (clock, classify(clock)) {
        (CLOCK_REALTIME, _) => CLOCK_REALTIME,
        // Linux answers for these two by their own numbers (no setter at all in newer
        // kernels), unlike the encoded ids (never settable: EPERM).
        (cpu_clock::CLOCK_PROCESS_CPUTIME_ID | cpu_clock::CLOCK_THREAD_CPUTIME_ID, _) => clock,
        (_, Clock::Cpu { host, .. }) => host,
        _ => return EINVAL,
    };
    let ts: Timespec = match uaccess::read_struct(c.arg(1)) {
        Ok(ts) => ts,
        // Newer kernels have no setter for CPU-time clocks at all (EINVAL before the
        // request is read), older ones refuse it after (EPERM): ask the host's with a
        // harmless time (a CPU-time clock is never set).
        Err(e) if clock != CLOCK_REALTIME => {
            let r = crate::hypercall::call_ret(&Request::Clock(ClockRequest::ClockSettime {
                clock: host,
                sec: 0,
                nsec: 0,
            }));
            return if r == EINVAL { r } else { e };
        }
        Err(e) => return e,
    };
    crate::hypercall::call_ret(&Request::Clock(ClockRequest::ClockSettime {
        clock: host,
        sec: ts.tv_sec,
        nsec: ts.tv_nsec,
    }))
}

/// settimeofday: the structs are read and the microseconds checked here, as Linux does
/// before anything else; the host checks the rest and the privilege.
pub fn settimeofday(c: &mut Ctx<'_>) -> i64 {
    let tv = if c.arg(0) != 0 {
        let t: Timespec = match uaccess::read_struct(c.arg(0)) {
            Ok(t) => t,
            Err(e) => return e,
        };
        if !(0..=1_000_000).contains(&t.tv_nsec) {
            return EINVAL;
        }
        Some([t.tv_sec, t.tv_nsec])
    } else {
        None
    };
    let tz = if c.arg(1) != 0 {
        let mut raw = [0u8; 8];
        if uaccess::copy_from_user(c.arg(1), &mut raw).is_err() {
            return EFAULT;
        }
        let int = |o: usize| i32::from_le_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]);
        Some([int(0), int(4)])
    } else {
        None
    };
    crate::hypercall::call_ret(&Request::Clock(ClockRequest::Settimeofday { tv, tz }))
}

/// Linux's `struct timex` is 208 bytes.
const TIMEX_SIZE: usize = 208;

fn adjtime(clock: i32, addr: u64) -> i64 {
    let mut timex = [0u8; TIMEX_SIZE];
    if uaccess::copy_from_user(addr, &mut timex).is_err() {
        return EFAULT;
    }
    match crate::hypercall::call(&Request::Clock(ClockRequest::ClockAdjtime { clock, timex: &timex })) {
        Response::Bytes { ret, data } if ret >= 0 && data.len() == TIMEX_SIZE => {
            uaccess::copy_to_user(addr, &data).map_or(EFAULT, |_| ret)
        }
        Response::Ret(e) if e < 0 => e,
        _ => EINVAL,
    }
}

/// adjtimex: the host's clock state (and, with the privilege, its adjustment).
pub fn adjtimex(c: &mut Ctx<'_>) -> i64 {
    adjtime(CLOCK_REALTIME, c.arg(0))
}

/// clock_adjtime: Linux reads the struct first, then refuses an unknown clock (EINVAL) and
/// one it cannot adjust (EOPNOTSUPP: all but CLOCK_REALTIME here, which is the host's).
pub fn clock_adjtime(c: &mut Ctx<'_>) -> i64 {
    let clock = c.int(0);
    if clock == CLOCK_REALTIME {
        return adjtime(clock, c.arg(1));
    }
    let mut timex = [0u8; TIMEX_SIZE];
    if uaccess::copy_from_user(c.arg(1), &mut timex).is_err() {
        return EFAULT;
    }
    match classify(clock) {
        Clock::Invalid => EINVAL,
        _ => err(errno::EOPNOTSUPP),
    }
}
