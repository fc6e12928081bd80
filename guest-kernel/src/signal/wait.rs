//! Waiting in the guest: until a deadline, a deliverable signal, or a wanted pending one.
//! Short waits spin; long ones block the vCPU in the host so that an idle program does
//! not burn a core. Here rather than in the time module because a wait ends at a signal.

use core::sync::atomic::Ordering;

use crate::task::futex as wake_word;
use crate::time::monotonic_ns;

/// Sleeps shorter than this spin: an exit to the host costs tens of microseconds.
const SPIN_LIMIT_NS: u64 = 100_000;

/// Sleep `ns`, or less if a signal comes for this thread (another thread's
/// `wake_for_signal` stores on this vCPU's wake word; a host signal interrupts the host
/// sleep). The caller set the wake word IDLE before it last looked at its signals.
fn sleep_ns(block: u64, ns: u64) {
    crate::task::fork_gate::checkpoint();
    if ns < SPIN_LIMIT_NS {
        let until = monotonic_ns() + ns;
        let word = wake_word::wake_word(block);
        while monotonic_ns() < until && word.load(Ordering::Relaxed) == wake_word::IDLE {
            core::hint::spin_loop();
        }
    } else {
        wake_word::sleep_on_wake_word(block, ns);
    }
}

/// Sleep until `deadline` (monotonic ns) unless a signal becomes deliverable; returns
/// whether a signal interrupted. Our own timer is the only source of signals while we
/// sleep, so the sleep is cut at its deadline.
pub fn sleep_interruptible(deadline: u64) -> bool {
    sleep_interruptible_until(deadline, 0)
}

/// As `sleep_interruptible`, also waking when a signal in `wanted` is pending (sigtimedwait
/// waits for blocked signals).
pub fn sleep_interruptible_until(deadline: u64, wanted: u64) -> bool {
    /// Without a timer nothing can wake us: sleep in long slices.
    const SLICE_NS: u64 = 3_600_000_000_000;
    let block = crate::percpu::block_gpa();
    loop {
        // Before looking: a signal queued after the look stores on the word again.
        wake_word::wake_word(block).store(wake_word::IDLE, Ordering::SeqCst);
        if super::has_deliverable() {
            return true;
        }
        if wanted != 0 && super::lock().pending() & wanted != 0 {
            return false;
        }
        let now = monotonic_ns();
        if now >= deadline {
            return false;
        }
        let until = super::timer::deadline().map_or(deadline, |t| t.min(deadline)).min(now.saturating_add(SLICE_NS));
        sleep_ns(block, until.saturating_sub(now));
    }
}

/// Sleep until `done` says so, whatever signals are pending (a ptrace tracee that listens
/// waits for one event, not for any signal). `done` is asked after each wake-up: a signal
/// from the host (which it may take), another thread's wake.
pub fn sleep_until(done: &dyn Fn() -> bool) {
    /// Nothing but a signal or a wake ends it: sleep in long slices.
    const SLICE_NS: u64 = 3_600_000_000_000;
    let block = crate::percpu::block_gpa();
    loop {
        // Before looking: a signal queued after the look stores on the word again.
        wake_word::wake_word(block).store(wake_word::IDLE, Ordering::SeqCst);
        if done() {
            return;
        }
        sleep_ns(block, SLICE_NS);
    }
}
