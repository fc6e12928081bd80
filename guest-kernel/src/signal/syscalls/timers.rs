//! Timers that end in a signal: the interval timers (setitimer, getitimer, alarm) and the
//! POSIX timers (timer_create and the calls on a timer id).

use super::*;

const ITIMER_REAL: i32 = abi_shared::linux::general::ITIMER_REAL as i32;
const ITIMER_VIRTUAL: i32 = abi_shared::linux::general::ITIMER_VIRTUAL as i32;
const ITIMER_PROF: i32 = abi_shared::linux::general::ITIMER_PROF as i32;

fn timeval_ns(addr: u64) -> Result<u64, i64> {
    let tv: abi_shared::linux::Timespec = uaccess::read_struct(addr)?;
    if tv.tv_sec < 0 || !(0..1_000_000).contains(&tv.tv_nsec) {
        return Err(EINVAL);
    }
    // Linux clamps huge timer values rather than wrapping them.
    Ok((tv.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(tv.tv_nsec as u64 * 1000))
}

fn write_itimerval(addr: u64, (value, interval): (u64, u64)) -> Result<(), i64> {
    let tv = |ns: u64| abi_shared::linux::Timespec {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_nsec: ((ns % 1_000_000_000) / 1000) as i64,
    };
    uaccess::write_struct(addr, &tv(interval))?;
    uaccess::write_struct(addr + 16, &tv(value))
}

/// The host's CPU-time itimer `which` (ITIMER_VIRTUAL, ITIMER_PROF): the monitor process's
/// own, which counts the CPU time of the program's threads (their vCPU threads) and of the
/// monitor's, and signals the process with SIGVTALRM or SIGPROF, which the monitor passes
/// on like any signal from outside (a loop without syscalls included). `new` as interval
/// then value, in ns; the old or current setting, in ns.
fn cpu_itimer(which: i32, new: Option<(u64, u64)>) -> Result<(u64, u64), i64> {
    let us = |ns: u64| [(ns / 1_000_000_000) as i64, ((ns % 1_000_000_000) / 1000) as i64];
    let new = new.map(|(i, v)| {
        let (i, v) = (us(i), us(v));
        [i[0], i[1], v[0], v[1]]
    });
    match crate::hypercall::call(&abi_shared::hypercall::Request::Clock(
        abi_shared::hypercall::ClockRequest::CpuItimer { which, new },
    )) {
        abi_shared::hypercall::Response::Itimerspec(t) => {
            let ns = |s: i64, us: i64| (s as u64).saturating_mul(1_000_000_000).saturating_add(us as u64 * 1000);
            Ok((ns(t[2], t[3]), ns(t[0], t[1])))
        }
        abi_shared::hypercall::Response::Ret(e) if e < 0 => Err(e),
        _ => Err(EINVAL),
    }
}

/// ITIMER_REAL counts down in the guest; ITIMER_VIRTUAL and ITIMER_PROF are the host's.
pub fn setitimer(c: &mut Ctx<'_>) -> i64 {
    let (which, new, old) = (c.int(0), c.arg(1), c.arg(2));
    if !matches!(which, ITIMER_REAL | ITIMER_VIRTUAL | ITIMER_PROF) {
        return EINVAL;
    }
    let (interval, value) = if new != 0 {
        match (timeval_ns(new), timeval_ns(new + 16)) {
            (Ok(i), Ok(v)) => (i, v),
            (Err(e), _) | (_, Err(e)) => return e,
        }
    } else {
        (0, 0)
    };
    let previous = if which == ITIMER_REAL {
        timer::set(value, interval)
    } else {
        match cpu_itimer(which, Some((interval, value))) {
            Ok(p) => p,
            Err(e) => return e,
        }
    };
    if old != 0 && write_itimerval(old, previous).is_err() {
        return EFAULT;
    }
    0
}

pub fn getitimer(c: &mut Ctx<'_>) -> i64 {
    let which = c.int(0);
    if !matches!(which, ITIMER_REAL | ITIMER_VIRTUAL | ITIMER_PROF) {
        return EINVAL;
    }
    let now = if which == ITIMER_REAL {
        timer::get()
    } else {
        match cpu_itimer(which, None) {
            Ok(p) => p,
            Err(e) => return e,
        }
    };
    write_itimerval(c.arg(1), now).map_or(EFAULT, |_| 0)
}

/// alarm(seconds): returns the seconds left on the previous alarm, rounded as Linux does.
pub fn alarm(c: &mut Ctx<'_>) -> i64 {
    let secs = c.arg(0) as u32 as u64;
    let (left, _) = timer::set(secs * 1_000_000_000, 0);
    if left == 0 {
        0
    } else {
        // Linux rounds to the nearest second, and never reports 0 for a pending alarm.
        ((left + 500_000_000) / 1_000_000_000).max(1) as i64
    }
}

const CLOCK_REALTIME: i32 = abi_shared::linux::general::CLOCK_REALTIME as i32;
const CLOCK_MONOTONIC: i32 = abi_shared::linux::general::CLOCK_MONOTONIC as i32;
const CLOCK_BOOTTIME: i32 = abi_shared::linux::general::CLOCK_BOOTTIME as i32;
const TIMER_ABSTIME: u64 = abi_shared::linux::general::TIMER_ABSTIME as u64;

/// The clocks POSIX timers run on in the guest; timers on CPU-time clocks are the host's
/// (`task::cpu_clock`).
fn timer_clock_ok(clock: i32) -> bool {
    matches!(clock, CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME)
}

/// struct sigevent as far as timers use it: (notify, signo, value, tid).
fn read_sigevent(addr: u64) -> Result<(i32, i32, u64, i32), i64> {
    let mut raw = [0u8; 20];
    uaccess::copy_from_user(addr, &mut raw)?;
    let int = |o: usize| i32::from_le_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]);
    let value = u64::from_le_bytes(raw[..8].try_into().unwrap_or_default());
    Ok((int(12), int(8), value, int(16)))
}

pub fn timer_create(c: &mut Ctx<'_>) -> i64 {
    let (clock, sevp, idp) = (c.int(0), c.arg(1), c.arg(2));
    let host_clock = if timer_clock_ok(clock) {
        None
    } else {
        match task::cpu_clock::host_clock(clock) {
            Some(h) => Some(h),
            None => return EINVAL,
        }
    };
    let (notify, signo, value, tid) = if sevp == 0 {
        (timer::SIGEV_SIGNAL, SIGALRM, None, 0)
    } else {
        match read_sigevent(sevp) {
            Ok((notify, signo, value, tid)) => (notify, signo, Some(value), tid),
            Err(e) => return e,
        }
    };
    let signo = match notify {
        timer::SIGEV_NONE => None,
        timer::SIGEV_SIGNAL | timer::SIGEV_THREAD_ID if valid_signal(signo) && signo != 0 => Some(signo),
        _ => return EINVAL,
    };
    // SIGEV_THREAD_ID: a thread of ours, which alone gets the signal.
    if notify == timer::SIGEV_THREAD_ID && task::threads::find(tid).is_none() {
        return EINVAL;
    }
    let thread = if notify == timer::SIGEV_THREAD_ID { tid } else { 0 };
    let Some(id) = timer::create(signo, value, clock == CLOCK_REALTIME, thread) else { return err(errno::EAGAIN) };
    if let Some(host) = host_clock {
        let req = abi_shared::hypercall::Request::Clock(abi_shared::hypercall::ClockRequest::CpuTimerCreate {
            clock: host,
            notify,
            signo: signo.unwrap_or(0),
            value: timer::value_of(id).unwrap_or(id as u64),
            tid,
        });
        let r = crate::hypercall::call_ret(&req);
        if r < 0 {
            timer::delete(id);
            return r;
        }
        timer::set_host(id, r as i32);
    }
    if uaccess::copy_to_user(idp, &(id as i32).to_le_bytes()).is_err() {
        delete_timer(id);
        return EFAULT;
    }
    0
}

fn timer_id(c: &Ctx<'_>) -> usize {
    // A negative id becomes huge and unknown.
    c.int(0) as u32 as usize
}

fn write_itimerspec(addr: u64, (value, interval): (u64, u64)) -> Result<(), i64> {
    uaccess::write_struct(addr, &crate::time::to_timespec(interval))?;
    uaccess::write_struct(addr + 16, &crate::time::to_timespec(value))
}

pub fn timer_settime(c: &mut Ctx<'_>) -> i64 {
    let (id, flags, new, old) = (timer_id(c), c.arg(1), c.arg(2), c.arg(3));
    let read = |a: u64| -> Result<u64, i64> {
        let ts: abi_shared::linux::Timespec = uaccess::read_struct(a)?;
        crate::time::timespec_ns(&ts).ok_or(EINVAL)
    };
    let (interval, value) = match (read(new), read(new + 16)) {
        (Ok(i), Ok(v)) => (i, v),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    if let Some(host) = timer::host_of(id) {
        let split = |ns: u64| [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64];
        let (i, v) = (split(interval), split(value));
        let req = abi_shared::hypercall::Request::Clock(abi_shared::hypercall::ClockRequest::CpuTimerSettime {
            id: host,
            flags: flags as i32,
            new: [i[0], i[1], v[0], v[1]],
        });
        return match crate::hypercall::call(&req) {
            abi_shared::hypercall::Response::Itimerspec(prev) => {
                if old != 0 && write_host_itimerspec(old, &prev).is_err() {
                    return EFAULT;
                }
                0
            }
            abi_shared::hypercall::Response::Ret(e) if e < 0 => e,
            _ => EINVAL,
        };
    }
    let now = crate::time::monotonic_ns();
    let deadline = if value == 0 {
        0
    } else if flags & TIMER_ABSTIME != 0 {
        // An absolute time on the timer's clock, as a monotonic deadline (at least now:
        // a time in the past expires at once). CLOCK_REALTIME is shifted by its offset now.
        let clock_now = if timer::is_realtime(id) { crate::time::realtime_ns() } else { now };
        now.saturating_add(value.saturating_sub(clock_now)).max(1)
    } else {
        now.saturating_add(value)
    };
    let Some(previous) = timer::settime(id, deadline, interval) else { return EINVAL };
    if old != 0 && write_itimerspec(old, previous).is_err() {
        return EFAULT;
    }
    0
}

fn write_host_itimerspec(addr: u64, t: &[i64; 4]) -> Result<(), i64> {
    let ts = |s: i64, ns: i64| abi_shared::linux::Timespec { tv_sec: s, tv_nsec: ns };
    uaccess::write_struct(addr, &ts(t[0], t[1]))?;
    uaccess::write_struct(addr + 16, &ts(t[2], t[3]))
}

pub fn timer_gettime(c: &mut Ctx<'_>) -> i64 {
    let id = timer_id(c);
    if let Some(host) = timer::host_of(id) {
        return match crate::hypercall::call(&abi_shared::hypercall::Request::Clock(
            abi_shared::hypercall::ClockRequest::CpuTimerGettime { id: host },
        )) {
            abi_shared::hypercall::Response::Itimerspec(t) => write_host_itimerspec(c.arg(1), &t).map_or(EFAULT, |_| 0),
            abi_shared::hypercall::Response::Ret(e) if e < 0 => e,
            _ => EINVAL,
        };
    }
    match timer::gettime(id) {
        Some(now) => write_itimerspec(c.arg(1), now).map_or(EFAULT, |_| 0),
        None => EINVAL,
    }
}

pub fn timer_getoverrun(c: &mut Ctx<'_>) -> i64 {
    let id = timer_id(c);
    if let Some(host) = timer::host_of(id) {
        return crate::hypercall::call_ret(&abi_shared::hypercall::Request::Clock(
            abi_shared::hypercall::ClockRequest::CpuTimerGetoverrun { id: host },
        ));
    }
    timer::getoverrun(id).map_or(EINVAL, i64::from)
}

/// Delete timer `id` (and the host timer behind it); false for an unknown id.
fn delete_timer(id: usize) -> bool {
    if let Some(host) = timer::host_of(id) {
        crate::hypercall::call_ret(&abi_shared::hypercall::Request::Clock(
            abi_shared::hypercall::ClockRequest::CpuTimerDelete { id: host },
        ));
    }
    timer::delete(id)
}

pub fn timer_delete(c: &mut Ctx<'_>) -> i64 {
    if delete_timer(timer_id(c)) {
        0
    } else {
        EINVAL
    }
}
