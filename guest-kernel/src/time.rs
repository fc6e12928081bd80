//! Clocks from the TSC, calibrated once against the host's clocks at the first hypercall.

use core::sync::atomic::{AtomicU64, Ordering};

use abi_shared::linux::Timespec;

use crate::vvar::Vvar;

static TSC_KHZ: AtomicU64 = AtomicU64::new(1);
static TSC_BASE: AtomicU64 = AtomicU64::new(0);
static REALTIME_BASE_NS: AtomicU64 = AtomicU64::new(0);
static MONOTONIC_BASE_NS: AtomicU64 = AtomicU64::new(0);
static TSC_MULT: AtomicU64 = AtomicU64::new(1 << 32);

pub fn rdtsc() -> u64 {
    // SAFETY: rdtsc has no side effects (CR4.TSD is clear).
    unsafe { core::arch::x86_64::_rdtsc() }
}

/// The TSC, not read before the instructions that precede it (as the vDSO reads it), so
/// that clock reads are ordered with the program's other reads of the clock.
fn rdtsc_ordered() -> u64 {
    // SAFETY: lfence and rdtsc have no side effects.
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

pub fn init(tsc_khz: u64, tsc_at_hello: u64, realtime_ns: u64, monotonic_ns: u64) {
    TSC_KHZ.store(tsc_khz.max(1), Ordering::Relaxed);
    TSC_MULT.store(crate::vvar::tsc_mult(tsc_khz), Ordering::Relaxed);
    TSC_BASE.store(tsc_at_hello, Ordering::Relaxed);
    REALTIME_BASE_NS.store(realtime_ns, Ordering::Relaxed);
    MONOTONIC_BASE_NS.store(monotonic_ns, Ordering::Relaxed);
}

/// The clock parameters, as the vDSO's vvar page holds them; both compute the clocks
/// with Vvar's math.
pub fn vvar() -> Vvar {
    Vvar {
        tsc_khz: TSC_KHZ.load(Ordering::Relaxed),
        tsc_base: TSC_BASE.load(Ordering::Relaxed),
        realtime_base_ns: REALTIME_BASE_NS.load(Ordering::Relaxed),
        monotonic_base_ns: MONOTONIC_BASE_NS.load(Ordering::Relaxed),
        tsc_mult: TSC_MULT.load(Ordering::Relaxed),
    }
}

/// The TSC frequency the monitor measured (what /proc/cpuinfo shows as the clock).
pub fn tsc_khz() -> u64 {
    TSC_KHZ.load(Ordering::Relaxed)
}

pub fn realtime_ns() -> u64 {
    vvar().realtime_ns(rdtsc_ordered())
}

pub fn monotonic_ns() -> u64 {
    vvar().monotonic_ns(rdtsc_ordered())
}

pub fn to_timespec(ns: u64) -> Timespec {
    Timespec { tv_sec: (ns / 1_000_000_000) as i64, tv_nsec: (ns % 1_000_000_000) as i64 }
}

/// A valid timespec as nanoseconds.
pub fn timespec_ns(ts: &Timespec) -> Option<u64> {
    if ts.tv_sec < 0 || !(0..1_000_000_000).contains(&ts.tv_nsec) {
        return None;
    }
    (ts.tv_sec as u64).checked_mul(1_000_000_000)?.checked_add(ts.tv_nsec as u64)
}
