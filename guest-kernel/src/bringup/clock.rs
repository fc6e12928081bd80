//! Time on the generic timer: CNTVCT_EL0 ticks at CNTFRQ_EL0, anchored at boot to the
//! host's CLOCK_REALTIME and CLOCK_MONOTONIC from the Hello answer.

use core::sync::atomic::{AtomicU64, Ordering};

static FREQ: AtomicU64 = AtomicU64::new(1);
static BASE_TICKS: AtomicU64 = AtomicU64::new(0);
static BASE_REALTIME: AtomicU64 = AtomicU64::new(0);
static BASE_MONOTONIC: AtomicU64 = AtomicU64::new(0);

pub fn init(ticks: u64, realtime_ns: u64, monotonic_ns: u64) {
    FREQ.store(crate::arch::cntfrq_el0().max(1), Ordering::Relaxed);
    BASE_TICKS.store(ticks, Ordering::Relaxed);
    BASE_REALTIME.store(realtime_ns, Ordering::Relaxed);
    BASE_MONOTONIC.store(monotonic_ns, Ordering::Relaxed);
}

fn since_boot_ns() -> u64 {
    let ticks = crate::arch::cntvct_el0().wrapping_sub(BASE_TICKS.load(Ordering::Relaxed));
    (u128::from(ticks) * 1_000_000_000 / u128::from(FREQ.load(Ordering::Relaxed))) as u64
}

pub fn realtime_ns() -> u64 {
    BASE_REALTIME.load(Ordering::Relaxed) + since_boot_ns()
}

pub fn monotonic_ns() -> u64 {
    BASE_MONOTONIC.load(Ordering::Relaxed) + since_boot_ns()
}

/// The counter's resolution in ns (at least 1).
pub fn resolution_ns() -> u64 {
    (1_000_000_000 / FREQ.load(Ordering::Relaxed)).max(1)
}
