//! Counters, at the bottom of the guest kernel so that every layer can count without
//! calling up: per syscall, served in the guest or forwarded by hypercall (sent to the
//! monitor at exit for `--stats`), and the memory layer's page faults, 2 MiB mappings and
//! memory given back to the host (the -v summary).
//!
//! Everything here is a relaxed atomic: counting never takes a lock, and the threads of a
//! process, each on its own vCPU, count into the same tables (the monitor reads them by
//! address at exit). Whether a syscall needed a hypercall is counted per vCPU, in its
//! per-CPU page.

use core::sync::atomic::{AtomicU64, Ordering};

pub const SLOTS: usize = 512;

/// [nr][0] = served in the guest, [nr][1] = needed at least one hypercall.
static COUNTS: [[AtomicU64; 2]; SLOTS] = [const { [const { AtomicU64::new(0) }; 2] }; SLOTS];
/// Per syscall number: calls that returned an error (-4095..=-1).
static FAILED: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];
/// Syscall numbers answered ENOSYS because linuxrun lacks them (a bit each).
static UNIMPLEMENTED: [AtomicU64; SLOTS / 64] = [const { AtomicU64::new(0) }; SLOTS / 64];
/// Features linuxrun lacks that a program asked for (`Unsupported` kind, value), each once.
static FEATURES: spin::Mutex<[(u64, u64); FEATURE_SLOTS]> = spin::Mutex::new([(0, 0); FEATURE_SLOTS]);
const FEATURE_SLOTS: usize = 32;
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

static THREADS_HANDED_OFF: AtomicU64 = AtomicU64::new(0);

/// A thread was started on an ended thread's vCPU waiting in the guest (task/threads.rs).
pub fn note_thread_handed_off() {
    THREADS_HANDED_OFF.fetch_add(1, Ordering::Relaxed);
}

/// Threads started inside the guest, for the -v summary.
pub fn threads_handed_off() -> u64 {
    THREADS_HANDED_OFF.load(Ordering::Relaxed)
}

pub fn note_huge_mapping() {
    HUGE_MAPPINGS.fetch_add(1, Ordering::Relaxed);
}

/// (user page faults taken, 2 MiB mappings made), for the -v summary.
pub fn memory_counters() -> (u64, u64) {
    (PAGE_FAULTS.load(Ordering::Relaxed), HUGE_MAPPINGS.load(Ordering::Relaxed))
}

/// Hypercalls made by this vCPU's syscall in flight.
#[inline]
fn hypercalls_now() -> &'static AtomicU64 {
    crate::percpu::slot(crate::percpu::HYPERCALLS_NOW)
}

pub fn note_hypercall() {
    let n = hypercalls_now();
    // Only this vCPU writes its slot: no locked instruction needed.
    n.store(n.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

pub fn note_page_fault() {
    PAGE_FAULTS.fetch_add(1, Ordering::Relaxed);
}

pub fn begin_syscall() {
    hypercalls_now().store(0, Ordering::Relaxed);
}

/// Count syscall `nr`, which returned `ret`; returns whether it was served in the guest.
pub fn end_syscall(nr: u64, ret: i64) -> bool {
    let in_guest = hypercalls_now().load(Ordering::Relaxed) == 0;
    if (nr as usize) < SLOTS {
        COUNTS[nr as usize][if in_guest { 0 } else { 1 }].fetch_add(1, Ordering::Relaxed);
        if (-4095..0).contains(&ret) {
            FAILED[nr as usize].fetch_add(1, Ordering::Relaxed);
        }
    }
    in_guest
}

/// The counter tables for the exit hypercall, as (kernel address, size): the per-syscall
/// (in guest, hypercall) pairs, the failed counts, the unimplemented syscalls' bitmap and
/// the unsupported features' (kind, value) pairs.
pub fn counters_tables() -> [(u64, u64); 4] {
    [
        (&raw const COUNTS as u64, core::mem::size_of::<[[AtomicU64; 2]; SLOTS]>() as u64),
        (&raw const FAILED as u64, core::mem::size_of::<[AtomicU64; SLOTS]>() as u64),
        (&raw const UNIMPLEMENTED as u64, core::mem::size_of::<[AtomicU64; SLOTS / 64]>() as u64),
        // The list's address inside its static lock (read by the host at exit, when no
        // syscall adds to it any more).
        (core::ptr::from_ref(&*FEATURES.lock()) as u64, core::mem::size_of::<[(u64, u64); FEATURE_SLOTS]>() as u64),
    ]
}

/// Syscall `nr` was answered ENOSYS because linuxrun does not implement it: remembered for
/// the end of the run. Returns whether this is the first time.
pub fn note_unimplemented(nr: u64) -> bool {
    let (word, bit) = (nr as usize / 64, 1u64 << (nr % 64));
    (nr as usize) < SLOTS && UNIMPLEMENTED[word].fetch_or(bit, Ordering::Relaxed) & bit == 0
}

/// A feature linuxrun lacks (`Unsupported`) that an implemented call was asked for:
/// remembered for the end of the run. Returns whether this is the first time.
pub fn note_unsupported(what: Unsupported, value: u64) -> bool {
    let key = (what as u64, value);
    let mut list = FEATURES.lock();
    if list.contains(&key) {
        return false;
    }
    if let Some(free) = list.iter_mut().find(|e| e.0 == 0) {
        *free = key;
    }
    true
}

/// A forked child reports what it used itself.
pub fn forget_unimplemented() {
    for w in &UNIMPLEMENTED {
        w.store(0, Ordering::Relaxed);
    }
    *FEATURES.lock() = [(0, 0); FEATURE_SLOTS];
}

pub use abi_shared::syscalls::Unsupported;

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
