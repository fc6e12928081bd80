//! Clocks from the TSC, calibrated once against the host's clocks at the first hypercall.

use core::sync::atomic::{AtomicU64, Ordering};

static TSC_KHZ: AtomicU64 = AtomicU64::new(1);
static TSC_BASE: AtomicU64 = AtomicU64::new(0);
static REALTIME_BASE_NS: AtomicU64 = AtomicU64::new(0);
static MONOTONIC_BASE_NS: AtomicU64 = AtomicU64::new(0);

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects (CR4.TSD is clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

pub fn init(tsc_khz: u64, tsc_at_hello: u64, realtime_ns: u64, monotonic_ns: u64) {
    TSC_KHZ.store(tsc_khz.max(1), Ordering::Relaxed);
    TSC_BASE.store(tsc_at_hello, Ordering::Relaxed);
    REALTIME_BASE_NS.store(realtime_ns, Ordering::Relaxed);
    MONOTONIC_BASE_NS.store(monotonic_ns, Ordering::Relaxed);
}

/// Nanoseconds since the calibration point.
fn elapsed_ns() -> u64 {
    let ticks = rdtsc().saturating_sub(TSC_BASE.load(Ordering::Relaxed));
    // ticks / (khz * 1000) seconds = ticks * 1_000_000 / khz ns; u128 avoids overflow.
    ((ticks as u128 * 1_000_000) / TSC_KHZ.load(Ordering::Relaxed) as u128) as u64
}

/// The TSC frequency the monitor measured (what /proc/cpuinfo shows as the clock).
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

pub fn realtime_ns() -> u64 {
    REALTIME_BASE_NS.load(Ordering::Relaxed) + elapsed_ns()
}

pub fn monotonic_ns() -> u64 {
    MONOTONIC_BASE_NS.load(Ordering::Relaxed) + elapsed_ns()
}

/// Spin until `deadline` on the monotonic clock (nanosleep; a single-threaded guest has
/// nothing else to run, and a blocking host sleep would cost an exit anyway).
pub fn sleep_until_monotonic(deadline_ns: u64) {
    while monotonic_ns() < deadline_ns {
        core::hint::spin_loop();
    }
}
