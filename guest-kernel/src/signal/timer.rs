//! ITIMER_REAL (alarm, setitimer): a deadline on the monotonic clock checked whenever the
//! kernel runs (syscall entry and exit, exceptions) and woken up for by every sleep. A
//! program spinning in user mode without syscalls sees its SIGALRM only at its next kernel
//! entry until the monitor can interrupt a running vCPU.

use core::sync::atomic::{AtomicBool, Ordering};

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
    let mut t = REAL.lock();
    let old = remaining(&t, now);
    *t = RealTimer { deadline: if value_ns == 0 { 0 } else { now.saturating_add(value_ns) }, interval: interval_ns };
    ARMED.store(t.deadline != 0, Ordering::Relaxed);
    old
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

/// The armed deadline, if any.
pub fn deadline() -> Option<u64> {
    let d = REAL.lock().deadline;
    (d != 0).then_some(d)
}

/// Raise SIGALRM if the deadline passed (re-arming a periodic timer).
pub fn check() {
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
    }
}
