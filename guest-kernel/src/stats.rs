//! Counters, at the bottom of the guest kernel so that every layer can count without
//! calling up: per syscall, served in the guest or forwarded by hypercall (sent to the
//! monitor at exit for `--stats`), and the memory layer's page faults, 2 MiB mappings and
//! memory given back to the host (the -v summary).
//!
//! Everything here is a relaxed atomic or, for the per-syscall table the monitor reads
//! by address, a plain array: counting never takes a lock. With several vCPUs the table
//! and the hypercall count of the syscall in flight become per-vCPU (the monitor sums
//! them); the memory counters are already safe to share.

use core::sync::atomic::{AtomicU64, Ordering};

pub const SLOTS: usize = 512;

/// [nr][0] = served in the guest, [nr][1] = needed at least one hypercall.
#[no_mangle]
static mut COUNTS: [[u64; 2]; SLOTS] = [[0; 2]; SLOTS];
/// Hypercalls made by the syscall in flight.
static HYPERCALLS_NOW: AtomicU64 = AtomicU64::new(0);
static PAGE_FAULTS: AtomicU64 = AtomicU64::new(0);
static HUGE_MAPPINGS: AtomicU64 = AtomicU64::new(0);

static RELEASED_BYTES: AtomicU64 = AtomicU64::new(0);
static RELEASE_CALLS: AtomicU64 = AtomicU64::new(0);

/// Freed memory handed back to the host (`ok`: the host took it).
pub fn note_released(bytes: u64, ok: bool) {
    RELEASE_CALLS.fetch_add(1, Ordering::Relaxed);
    if ok {
        RELEASED_BYTES.fetch_add(bytes, Ordering::Relaxed);
    }
}

/// (bytes given back to the host, hypercalls that did it), for the -v summary.
pub fn release_counters() -> (u64, u64) {
    (RELEASED_BYTES.load(Ordering::Relaxed), RELEASE_CALLS.load(Ordering::Relaxed))
}

pub fn note_huge_mapping() {
    HUGE_MAPPINGS.fetch_add(1, Ordering::Relaxed);
}

/// (user page faults taken, 2 MiB mappings made), for the -v summary.
pub fn memory_counters() -> (u64, u64) {
    (PAGE_FAULTS.load(Ordering::Relaxed), HUGE_MAPPINGS.load(Ordering::Relaxed))
}

pub fn note_hypercall() {
    HYPERCALLS_NOW.fetch_add(1, Ordering::Relaxed);
}

pub fn note_page_fault() {
    PAGE_FAULTS.fetch_add(1, Ordering::Relaxed);
}

pub fn begin_syscall() {
    HYPERCALLS_NOW.store(0, Ordering::Relaxed);
}

/// Count syscall `nr`; returns whether it was served in the guest.
pub fn end_syscall(nr: u64) -> bool {
    let in_guest = HYPERCALLS_NOW.load(Ordering::Relaxed) == 0;
    if (nr as usize) < SLOTS {
        // SAFETY: one vCPU updates the counters, from syscall context only.
        unsafe { COUNTS[nr as usize][if in_guest { 0 } else { 1 }] += 1 };
    }
    in_guest
}

/// The counter table's kernel address and size, for the exit hypercall.
pub fn counters_table() -> (u64, u64) {
    (&raw const COUNTS as u64, core::mem::size_of::<[[u64; 2]; SLOTS]>() as u64)
}

/// `none` in the in-flight slot.
const NONE_IN_FLIGHT: u64 = u64::MAX;
/// The syscall in flight, in the per-CPU page where the monitor can read it after a crash.
#[inline]
fn in_flight() -> &'static AtomicU64 {
    crate::percpu::slot(crate::percpu::SYSCALL_IN_FLIGHT)
}

/// Name of the syscall being served, for panic diagnostics.
pub fn in_flight_name() -> &'static str {
    match in_flight().load(Ordering::Relaxed) {
        NONE_IN_FLIGHT => "none",
        nr => abi_shared::syscalls::syscall_name(nr).unwrap_or("unknown"),
    }
}

/// Syscall `nr` is being served (the monitor names it if the guest dies in it).
#[inline]
pub fn set_in_flight(nr: u64) {
    in_flight().store(nr, Ordering::Relaxed);
}

#[inline]
pub fn clear_in_flight() {
    in_flight().store(NONE_IN_FLIGHT, Ordering::Relaxed);
}
