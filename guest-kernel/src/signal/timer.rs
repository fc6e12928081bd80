//! ITIMER_REAL (alarm, setitimer) and POSIX timers (timer_create): deadlines on the
//! monotonic clock checked whenever the kernel runs (syscall entry and exit, exceptions,
//! the monitor's signal interrupt) and woken up for by every sleep. For a program spinning
//! in user mode without syscalls, the earliest deadline is published in the vCPU block
//! (`publish`): a monitor thread interrupts the vCPU when it is due, with the timer's own
//! signal, which the host catches while the timer is armed (`armed_signals`).

use core::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};

use abi_shared::layout::vcpu_block;

use crate::hypercall::transport::process_control;

use spin::Mutex;

use abi_shared::linux::signal::SIGALRM;

use super::{raise, SigInfo, SI_KERNEL};
use crate::time::monotonic_ns;

#[derive(Clone, Copy, Debug, Default)]
pub struct RealTimer {
    /// Monotonic deadline in ns; 0 = disarmed.
    pub deadline: u64,
    pub interval: u64,
}

static REAL: Mutex<RealTimer> = Mutex::new(RealTimer { deadline: 0, interval: 0 });
/// Whether the timer is armed, readable without the lock: `check` runs on every return to
/// user mode and must cost nothing when no timer is set.
static ARMED: AtomicBool = AtomicBool::new(false);

/// Arm (deadline 0 disarms) and return the previous setting as (remaining, interval).
pub fn set(value_ns: u64, interval_ns: u64) -> (u64, u64) {
    let now = monotonic_ns();
    let old = {
        let mut t = REAL.lock();
        let old = remaining(&t, now);
        *t =
            RealTimer { deadline: if value_ns == 0 { 0 } else { now.saturating_add(value_ns) }, interval: interval_ns };
        ARMED.store(t.deadline != 0, Ordering::Relaxed);
        old
    };
    publish();
    old
}

/// Signals of the armed timers (bit n-1 for signal n): the host must catch them, so that
/// the kick that interrupts a vCPU at their deadline reaches us and acts on nothing else.
static ARMED_SIGNALS: AtomicU64 = AtomicU64::new(0);

pub fn armed_signals() -> u64 {
    ARMED_SIGNALS.load(Ordering::Relaxed)
}

/// The earliest deadline that raises a signal, with that signal; and every armed
/// timer's signal.
fn earliest_signalling() -> (Option<(u64, i32)>, u64) {
    let mut best: Option<(u64, i32)> = None;
    let mut signals = 0;
    let mut consider = |deadline: u64, sig: i32| {
        signals |= super::bit(sig);
        if best.is_none_or(|(d, _)| deadline < d) {
            best = Some((deadline, sig));
        }
    };
    let real = REAL.lock().deadline;
    if real != 0 {
        consider(real, SIGALRM);
    }
    if ANY_POSIX_ARMED.load(Ordering::Relaxed) {
        for p in TIMERS.lock().iter().flatten() {
            if let (d, Some(sig)) = (p.deadline, p.signo) {
                if d != 0 {
                    consider(d, sig);
                }
            }
        }
    }
    (best, signals)
}

/// Tell the monitor our earliest signalling deadline (after any change to the timers). If
/// its worker sleeps and would wake only later than that, ring it so it sleeps again with
/// the new deadline (one port write, handled inside the host kernel).
fn publish() {
    let (earliest, signals) = earliest_signalling();
    if ARMED_SIGNALS.swap(signals, Ordering::Relaxed) != signals {
        super::host::actions_changed();
    }
    let (deadline, sig) = earliest.unwrap_or((0, 0));
    let published: &AtomicU64 = process_control(vcpu_block::TIMER_DEADLINE);
    if published.load(Ordering::Relaxed) == deadline {
        return;
    }
    process_control::<AtomicU64>(vcpu_block::TIMER_SIGNAL).store(sig as u64, Ordering::Relaxed);
    published.store(deadline, Ordering::Release);
    if deadline == 0 {
        return;
    }
    // Pairs with the worker's fence between announcing when it wakes and reading our
    // deadline: either it sees the new deadline, or we see that it must be woken.
    fence(Ordering::SeqCst);
    let asleep = process_control::<AtomicU32>(vcpu_block::HC_WORKER_ASLEEP).load(Ordering::Relaxed) != 0;
    let wakes_at = process_control::<AtomicU64>(vcpu_block::WORKER_WAKES_AT).load(Ordering::Relaxed);
    if asleep && (wakes_at == 0 || deadline < wakes_at) {
        crate::hypercall::transport::wake_worker();
    }
}

pub fn get() -> (u64, u64) {
    remaining(&REAL.lock(), monotonic_ns())
}

fn remaining(t: &RealTimer, now: u64) -> (u64, u64) {
    if t.deadline == 0 {
        (0, t.interval)
    } else {
        (t.deadline.saturating_sub(now).max(1), t.interval)
    }
}

/// The earliest armed deadline of every timer, if any.
pub fn deadline() -> Option<u64> {
    let d = REAL.lock().deadline;
    let real = (d != 0).then_some(d);
    match (real, posix_deadline()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// Raise the signals of the timers that are due (re-arming periodic ones).
pub fn check() {
    check_posix();
    check_real();
}

/// Raise SIGALRM if ITIMER_REAL's deadline passed.
fn check_real() {
    if !ARMED.load(Ordering::Relaxed) {
        return;
    }
    let now = monotonic_ns();
    let fired = {
        let mut t = REAL.lock();
        if t.deadline == 0 || t.deadline > now {
            false
        } else {
            t.deadline = if t.interval == 0 { 0 } else { now + t.interval - (now - t.deadline) % t.interval };
            ARMED.store(t.deadline != 0, Ordering::Relaxed);
            true
        }
    };
    if fired {
        raise(SigInfo { signo: SIGALRM, code: SI_KERNEL, ..SigInfo::default() });
        publish();
    }
}

// ---------------------------------------------------------------------------------------
// POSIX timers (timer_create and friends): like ITIMER_REAL, deadlines on the monotonic
// clock checked whenever the kernel runs and woken up for by every sleep.

/// struct sigevent's notify values.
pub const SIGEV_SIGNAL: i32 = abi_shared::linux::general::SIGEV_SIGNAL as i32;
pub const SIGEV_NONE: i32 = abi_shared::linux::general::SIGEV_NONE as i32;
pub const SIGEV_THREAD_ID: i32 = abi_shared::linux::general::SIGEV_THREAD_ID as i32;
/// si_code of a timer's signal.
use abi_shared::linux::general::SI_TIMER;
/// Most timers one process may own here (Linux's limit is RLIMIT_SIGPENDING-bound).
pub const MAX_TIMERS: usize = 256;

#[derive(Clone, Copy, Debug)]
pub struct PosixTimer {
    /// None for SIGEV_NONE.
    pub signo: Option<i32>,
    pub value: u64,
    /// On CLOCK_REALTIME (absolute times are shifted by the realtime offset).
    pub realtime: bool,
    /// Monotonic deadline in ns; 0 = disarmed.
    pub deadline: u64,
    pub interval: u64,
    /// Expirations missed while the previous signal was still pending (timer_getoverrun).
    pub overrun: i32,
    pending_overrun: i32,
    /// SIGEV_THREAD_ID: the thread its signal is for (0: the process). glibc's SIGEV_THREAD
    /// timers name their helper thread, the only one that takes the signal (SIGTIMER's
    /// default action ends the process).
    pub thread: i32,
    /// A timer on a CPU-time clock is the host's own timer by this id (timer_create on
    /// the host, which signals the host process; the monitor passes the signal on): the
    /// guest keeps only the id.
    pub host: Option<i32>,
}

static TIMERS: Mutex<alloc::vec::Vec<Option<PosixTimer>>> = Mutex::new(alloc::vec::Vec::new());
static ANY_POSIX_ARMED: AtomicBool = AtomicBool::new(false);

/// A new disarmed timer; its id, or None when the table is full. Without a `value` the
/// signal carries the timer's id, as Linux does for a timer created without a sigevent.
pub fn create(signo: Option<i32>, value: Option<u64>, realtime: bool, thread: i32) -> Option<usize> {
    let mut t = TIMERS.lock();
    let id = match t.iter().position(Option::is_none) {
        Some(free) => free,
        None if t.len() < MAX_TIMERS => {
            t.push(None);
            t.len() - 1
        }
        None => return None,
    };
    let value = value.unwrap_or(id as u64);
    t[id] = Some(PosixTimer {
        signo,
        value,
        realtime,
        deadline: 0,
        interval: 0,
        overrun: 0,
        pending_overrun: 0,
        thread,
        host: None,
    });
    Some(id)
}

/// The value its signal carries (the id when timer_create had no sigevent).
pub fn value_of(id: usize) -> Option<u64> {
    TIMERS.lock().get(id)?.as_ref().map(|p| p.value)
}

/// Back timer `id` by host timer `host`.
pub fn set_host(id: usize, host: i32) {
    if let Some(Some(p)) = TIMERS.lock().get_mut(id) {
        p.host = Some(host);
    }
}

/// The host timer behind timer `id`, if it is one.
pub fn host_of(id: usize) -> Option<i32> {
    TIMERS.lock().get(id)?.as_ref()?.host
}

/// The program's id of host timer `host` (for the si_timerid of its signal).
pub fn id_of_host(host: i32) -> Option<usize> {
    TIMERS.lock().iter().position(|p| p.as_ref().is_some_and(|p| p.host == Some(host)))
}

pub fn is_realtime(id: usize) -> bool {
    TIMERS.lock().get(id).and_then(|p| p.as_ref()).is_some_and(|p| p.realtime)
}

/// Arm timer `id` (deadline 0 disarms); returns the previous (remaining, interval), or None
/// for an unknown id.
pub fn settime(id: usize, deadline: u64, interval: u64) -> Option<(u64, u64)> {
    let now = monotonic_ns();
    let mut t = TIMERS.lock();
    let timer = t.get_mut(id)?.as_mut()?;
    let old = remaining(&RealTimer { deadline: timer.deadline, interval: timer.interval }, now);
    timer.deadline = deadline;
    timer.interval = if deadline == 0 { 0 } else { interval };
    ANY_POSIX_ARMED.store(t.iter().flatten().any(|p| p.deadline != 0), Ordering::Relaxed);
    drop(t);
    publish();
    Some(old)
}

pub fn gettime(id: usize) -> Option<(u64, u64)> {
    let t = TIMERS.lock();
    let timer = t.get(id)?.as_ref()?;
    Some(remaining(&RealTimer { deadline: timer.deadline, interval: timer.interval }, monotonic_ns()))
}

pub fn getoverrun(id: usize) -> Option<i32> {
    TIMERS.lock().get(id)?.as_ref().map(|p| p.overrun)
}

pub fn delete(id: usize) -> bool {
    let deleted = match TIMERS.lock().get_mut(id) {
        Some(slot @ Some(_)) => {
            *slot = None;
            true
        }
        _ => false,
    };
    publish();
    deleted
}

/// fork and exec: POSIX timers are not inherited and do not survive exec. The host timers
/// go too (after a fork the host has none: the host's fork did not copy them).
pub fn delete_all() {
    let hosts: alloc::vec::Vec<i32> = TIMERS.lock().iter().flatten().filter_map(|p| p.host).collect();
    for id in hosts {
        crate::hypercall::call_ret(&abi_shared::hypercall::Request::Clock(
            abi_shared::hypercall::ClockRequest::CpuTimerDelete { id },
        ));
    }
    TIMERS.lock().clear();
    ANY_POSIX_ARMED.store(false, Ordering::Relaxed);
    publish();
}

/// The earliest armed deadline of the POSIX timers.
fn posix_deadline() -> Option<u64> {
    if !ANY_POSIX_ARMED.load(Ordering::Relaxed) {
        return None;
    }
    TIMERS.lock().iter().flatten().filter(|p| p.deadline != 0).map(|p| p.deadline).min()
}

/// Fire the POSIX timers that are due. A timer whose previous signal is still pending
/// counts an overrun instead of queueing another, as on Linux.
fn check_posix() {
    if !ANY_POSIX_ARMED.load(Ordering::Relaxed) {
        return;
    }
    let now = monotonic_ns();
    let mut due = alloc::vec::Vec::new();
    let mut fired = false;
    {
        let mut t = TIMERS.lock();
        for (id, timer) in t.iter_mut().enumerate() {
            let Some(p) = timer.as_mut() else { continue };
            if p.deadline == 0 || p.deadline > now {
                continue;
            }
            fired = true;
            let missed = (now - p.deadline).checked_div(p.interval).unwrap_or(0);
            p.deadline = if p.interval == 0 { 0 } else { p.deadline + (missed + 1) * p.interval };
            p.pending_overrun = p.pending_overrun.saturating_add(missed.min(i32::MAX as u64) as i32);
            if let Some(sig) = p.signo {
                due.push((id, sig, p.value, p.thread));
            }
        }
        ANY_POSIX_ARMED.store(t.iter().flatten().any(|p| p.deadline != 0), Ordering::Relaxed);
    }
    if fired {
        publish();
    }
    for (id, sig, value, thread) in due {
        // A thread that has ended takes no more signals (Linux drops them too).
        let target = match thread {
            0 => None,
            tid => match crate::task::threads::find(tid) {
                Some(t) => Some(t),
                None => continue,
            },
        };
        let pending = match target {
            Some(t) => t.signals().lock().pending.mask,
            None => super::state().lock().shared.mask,
        };
        let already = pending & super::bit(sig) != 0 && sig < abi_shared::linux::signal::SIGRTMIN;
        let mut t = TIMERS.lock();
        let Some(p) = t.get_mut(id).and_then(Option::as_mut) else { continue };
        if already {
            p.pending_overrun = p.pending_overrun.saturating_add(1);
            continue;
        }
        p.overrun = p.pending_overrun;
        p.pending_overrun = 0;
        let mut info = SigInfo { signo: sig, code: SI_TIMER, ..SigInfo::default() };
        // _timer: si_tid, si_overrun, then si_sigval.
        info.fields[0] = (id as u32 as u64) | ((p.overrun as u32 as u64) << 32);
        info.fields[1] = value;
        drop(t);
        match target {
            Some(t) => super::raise_thread(t, info),
            None => raise(info),
        };
    }
}
