//! How a request reaches the host.
//!
//! * `PortIo`: an `out` to the hypercall port exits to the monitor's vCPU thread, which
//!   serves the request and resumes the vCPU (~36 µs on kvm_pvm).
//! * `Shared` (the default): the guest bumps a request sequence number in shared memory; a
//!   host worker thread that polls it serves the request and bumps the response sequence
//!   number, all without an exit. When the worker has gone to sleep the guest wakes it with
//!   an `out` to an ioeventfd port (handled inside the host kernel). The guest spins for the
//!   answer for a while and then, for slow requests such as a read on an empty pipe, stops
//!   the vCPU with an exit (WAIT) instead of burning its core.
//!
//! Waking a sleeping worker costs an `out` to the ioeventfd port: ~1-5 µs on most
//! hypervisors, but as much as a whole exit on kvm_pvm hosts (measured at 45 µs there,
//! with the worker's wake-up still to come). The guest first times its exits: where the
//! fastest of them is dear, the hypervisor's exit path is, and a wake `out` leaves the guest
//! the same way; it then never rings the wake port (which KVM binds only when first rung,
//! and a VM with an ioeventfd takes ~10 ms to close if it dies young, as short-lived
//! processes do). Otherwise it times its first wakes too. Where either proves dear, a
//! request that finds the worker asleep goes by exit instead. When it follows
//! the previous request within the worker's polling time (a burst: a directory walk, a
//! copy loop, a program starting up) it asks the vCPU thread to wake the worker once it
//! has served it (`HYPERCALL_WORKER_ASLEEP`), so that the requests after it go without
//! exits (the vCPU thread does so only while the host has a core to spare); a lone request
//! (a program computing between reads) leaves the worker asleep: a polling worker would
//! take a core from the program (or from its hyperthread sibling) for nothing.
//!
//! Requests that end the guest (exit, panic) always take the exit path, so the monitor sees
//! them on the vCPU thread.
//!
//! A read of a descriptor whose previous read had to wait (a pipe between two processes, a
//! terminal) most likely waits again, for data from another process, and would end in a
//! WAIT exit anyway. It goes to the vCPU thread by exit (`HYPERCALL`): no spin burning the
//! core that other process needs, no hand-over from the worker to the vCPU thread when the
//! data comes. The request after it is the process's answer to what it read, not a burst:
//! it does not wake a sleeping worker either, which would then poll a core away from the
//! other process (a two-process ping-pong on a 2-core kvm_pvm machine: ~195 µs per round
//! trip with the worker woken for the write, ~160 µs without; `--hypercalls exit` ~145 µs).
//! The descriptor's reads go through shared memory again after `QUICK_READS_TO_FORGET`
//! reads in a row that came back about as fast as a bare exit (they found data there): one
//! such read alone proves little, since the other process's answer often comes within the
//! exit's own time.

use core::sync::atomic::{fence, AtomicU32, AtomicU64, AtomicU8, Ordering};

use abi_shared::bootinfo::Doorbell;
use abi_shared::layout::{ports, vcpu_block, vcpu_block_gpa, PERCPU_WINDOW_VA, PHYS_MAP_BASE, WORKER_POLL_MICROS};

/// How long the guest spins for an answer before it stops the vCPU (in TSC ticks; set
/// from the TSC frequency at boot): longer than a sleeping worker takes to wake up (~15-20
/// µs), short enough that a request that blocks in the host does not burn a core.
const SPIN_MICROS: u64 = 50;
/// After this many answers in a row that needed the slow path, the worker is evidently not
/// getting a core (a busy 2-core machine): use the exit doorbell for a while instead, where
/// the vCPU thread serves the request itself.
const SLOW_STREAK_LIMIT: u32 = 4;
const EXIT_MODE_REQUESTS: u32 = 256;
/// A wake `out` slower than this (at its fastest of the first `WAKE_SAMPLES`) costs about
/// what an exit does: a request then does better to exit than to wake the worker.
const DEAR_WAKE_MICROS: u64 = 15;
const WAKE_SAMPLES: u32 = 3;
/// A request served by exit slower than this (at its fastest of the first `EXIT_SAMPLES`)
/// shows an exit path slow enough that a wake `out`, which takes the same way out of the
/// guest only to stay in the host kernel, costs more than `DEAR_WAKE_MICROS` too.
const DEAR_EXIT_MICROS: u64 = 20;
const EXIT_SAMPLES: u32 = 4;

static MODE: AtomicU32 = AtomicU32::new(Doorbell::PortIo as u32);
static SPIN_TICKS: AtomicU64 = AtomicU64::new(0);
/// Consecutive slow answers, and requests left to send by exit before trying again.
static SLOW_STREAK: AtomicU32 = AtomicU32::new(0);
static EXIT_MODE_LEFT: AtomicU32 = AtomicU32::new(0);
/// Per descriptor n (n < 64): how many reads in a row must come back without waiting
/// before its reads go through shared memory again (0: they do).
static WAITING_READS: [AtomicU8; 64] = [const { AtomicU8::new(0) }; 64];
/// A read that waited marks its descriptor for this many quick reads.
const QUICK_READS_TO_FORGET: u8 = 16;
/// The fastest wake `out` seen (TSC ticks), how many were timed, and the threshold.
static WAKE_TICKS_MIN: AtomicU64 = AtomicU64::new(u64::MAX);
static WAKES_TIMED: AtomicU32 = AtomicU32::new(0);
static DEAR_WAKE_TICKS: AtomicU64 = AtomicU64::new(u64::MAX);
/// The fastest request served by exit (TSC ticks, from the `out` to the guest's resumption):
/// a read expected to wait that took little longer did not wait. How many requests that
/// did not wait in the host were timed, and the threshold.
static EXIT_TICKS_MIN: AtomicU64 = AtomicU64::new(u64::MAX);
static EXITS_TIMED: AtomicU32 = AtomicU32::new(0);
static DEAR_EXIT_TICKS: AtomicU64 = AtomicU64::new(u64::MAX);
/// When the previous request was made (TSC), and the worker's polling time in TSC ticks.
static LAST_REQUEST_TSC: AtomicU64 = AtomicU64::new(0);
static WORKER_POLL_TICKS: AtomicU64 = AtomicU64::new(0);

pub fn init(doorbell: u32, tsc_khz: u64) {
    MODE.store(doorbell, Ordering::Relaxed);
    SPIN_TICKS.store(tsc_khz.saturating_mul(SPIN_MICROS) / 1000, Ordering::Relaxed);
    DEAR_WAKE_TICKS.store(tsc_khz.saturating_mul(DEAR_WAKE_MICROS) / 1000, Ordering::Relaxed);
    DEAR_EXIT_TICKS.store(tsc_khz.saturating_mul(DEAR_EXIT_MICROS) / 1000, Ordering::Relaxed);
    WORKER_POLL_TICKS.store(tsc_khz.saturating_mul(WORKER_POLL_MICROS) / 1000, Ordering::Relaxed);
}

/// A shared word of this vCPU's block (`offset` from `layout::vcpu_block`, aligned for T).
pub fn control<T>(offset: u64) -> &'static T {
    // SAFETY: the block is mapped in the per-CPU window for the whole run; the offsets
    // callers pass are aligned for u64/u32 and the host accesses the words atomically too.
    unsafe { &*((PERCPU_WINDOW_VA + offset) as *const T) }
}

/// A shared word of the first vCPU's block, which holds what concerns the whole process
/// (the host signals caught for it, its earliest timer), from any vCPU (the direct map).
pub fn process_control<T>(offset: u64) -> &'static T {
    // SAFETY: the first vCPU's block lies in guest RAM, which the direct map covers for the
    // whole run; offsets are aligned for T and the host accesses the words atomically too.
    unsafe { &*((PHYS_MAP_BASE + vcpu_block_gpa(0) + offset) as *const T) }
}

/// Ring a monitor port that takes no request area (`ports::GROW_RAM`): one exit.
pub fn ring_port(port: u16) {
    out(port);
}

fn out(port: u16) {
    // SAFETY: an `out` to one of our doorbell ports only exits (or signals an eventfd); no
    // memory is touched. Without `nomem`, it also orders the request writes before it.
    unsafe { core::arch::asm!("out dx, al", in("dx") port, in("al") 0u8, options(nostack)) };
}

/// Have the host serve the request in the request area; returns once the response area
/// holds the answer. `must_exit`: use the exit path whatever the mode. `read_fd`: the
/// request reads this descriptor (read, readv).
pub fn ring(must_exit: bool, read_fd: Option<i32>) {
    let now = crate::time::rdtsc();
    let since_last = now.wrapping_sub(LAST_REQUEST_TSC.swap(now, Ordering::Relaxed));
    if must_exit || MODE.load(Ordering::Relaxed) != Doorbell::SharedMemory as u32 || no_worker() || use_exit_for_now() {
        out(ports::HYPERCALL);
        return;
    }
    if let Some(fd) = read_fd.filter(|&fd| read_waited_last_time(fd)) {
        let took = timed_exit(ports::HYPERCALL, false);
        note_read(fd, waited_in_exit(took));
        // What follows is the process's answer to what it read, not a burst: it does not
        // wake the worker either.
        LAST_REQUEST_TSC.store(0, Ordering::Relaxed);
        return;
    }
    let req: &AtomicU64 = control(vcpu_block::HC_REQ_SEQ);
    let resp: &AtomicU64 = control(vcpu_block::HC_RESP_SEQ);
    let asleep: &AtomicU32 = control(vcpu_block::HC_WORKER_ASLEEP);
    // Not yet published, so the worker cannot take it even if it wakes by itself now.
    if asleep.load(Ordering::Relaxed) != 0 && !wake_by_port() {
        // A polling worker would have caught this request: the next is likely as close.
        let burst = since_last < WORKER_POLL_TICKS.load(Ordering::Relaxed);
        let took = timed_exit(if burst { ports::HYPERCALL_WORKER_ASLEEP } else { ports::HYPERCALL }, read_fd.is_none());
        if let Some(fd) = read_fd {
            note_read(fd, waited_in_exit(took));
        }
        note_speed(false);
        return;
    }
    let seq = req.load(Ordering::Relaxed).wrapping_add(1);
    req.store(seq, Ordering::Release);
    // Pairs with the worker's fence between announcing sleep and re-reading the sequence:
    // either it sees our request, or we see that it sleeps and wake it.
    fence(Ordering::SeqCst);
    if asleep.load(Ordering::Relaxed) != 0 {
        timed_wake();
    }
    let start = crate::time::rdtsc();
    let spin = SPIN_TICKS.load(Ordering::Relaxed);
    let mut slow = false;
    while resp.load(Ordering::Acquire) != seq {
        if crate::time::rdtsc().wrapping_sub(start) > spin {
            // The monitor returns from this exit only once the answer is there.
            out(ports::HYPERCALL_WAIT);
            slow = true;
            break;
        }
        core::hint::spin_loop();
    }
    fence(Ordering::Acquire);
    if let Some(fd) = read_fd {
        note_read(fd, slow);
    }
    note_speed(slow);
}

/// Whether this vCPU has a hypercall worker: only the process's first thread's does (a
/// forked child's first thread, or a thread that exec'd, may be on another vCPU than the
/// boot one: the monitor gives it the worker then).
pub fn set_worker(present: bool) {
    crate::percpu::slot(crate::percpu::NO_WORKER).store(u64::from(!present), Ordering::Relaxed);
}

/// Whether requests go through shared memory to a worker (where the vCPU has one).
pub fn shared_memory() -> bool {
    MODE.load(Ordering::Relaxed) == Doorbell::SharedMemory as u32
}

/// A thread's vCPU has no hypercall worker of its own (yet): its requests go by exit.
fn no_worker() -> bool {
    crate::percpu::slot(crate::percpu::NO_WORKER).load(Ordering::Relaxed) != 0
}

/// Have the vCPU thread serve the request by an exit to `port`; returns how long that took
/// (TSC ticks), the fastest of which is kept as the cost of a bare exit. `sample`: the
/// request cannot wait in the host (it is not a read), so it counts towards the verdict on
/// exits.
fn timed_exit(port: u16, sample: bool) -> u64 {
    let start = crate::time::rdtsc();
    out(port);
    let took = crate::time::rdtsc().wrapping_sub(start);
    EXIT_TICKS_MIN.fetch_min(took, Ordering::Relaxed);
    if sample && EXITS_TIMED.load(Ordering::Relaxed) < EXIT_SAMPLES {
        EXITS_TIMED.fetch_add(1, Ordering::Relaxed);
    }
    took
}

/// Whether to wake a sleeping worker through its port rather than send the request by exit:
/// only once exits have been timed and proved cheap, and then while the first wakes, timed
/// in turn, do not prove dear.
fn wake_by_port() -> bool {
    let exits_cheap = EXITS_TIMED.load(Ordering::Relaxed) >= EXIT_SAMPLES
        && EXIT_TICKS_MIN.load(Ordering::Relaxed) <= DEAR_EXIT_TICKS.load(Ordering::Relaxed);
    exits_cheap && !wake_is_dear()
}

/// Whether a request served by exit in `took` TSC ticks waited in the host: it took well
/// over the fastest exit seen.
fn waited_in_exit(took: u64) -> bool {
    let bare_exit = EXIT_TICKS_MIN.load(Ordering::Relaxed);
    took > bare_exit.saturating_add(bare_exit / 2)
}

/// Wake the worker through the ioeventfd port, timing the first few wakes.
fn timed_wake() {
    let start = crate::time::rdtsc();
    out(ports::HYPERCALL_WAKE);
    if WAKES_TIMED.load(Ordering::Relaxed) < WAKE_SAMPLES {
        WAKE_TICKS_MIN.fetch_min(crate::time::rdtsc().wrapping_sub(start), Ordering::Relaxed);
        WAKES_TIMED.fetch_add(1, Ordering::Relaxed);
    }
}

/// Whether waking the worker has proved to cost about as much as an exit.
fn wake_is_dear() -> bool {
    WAKES_TIMED.load(Ordering::Relaxed) >= WAKE_SAMPLES
        && WAKE_TICKS_MIN.load(Ordering::Relaxed) > DEAR_WAKE_TICKS.load(Ordering::Relaxed)
}

fn waiting_reads(fd: i32) -> Option<&'static AtomicU8> {
    usize::try_from(fd).ok().and_then(|n| WAITING_READS.get(n))
}

fn read_waited_last_time(fd: i32) -> bool {
    waiting_reads(fd).is_some_and(|w| w.load(Ordering::Relaxed) != 0)
}

fn note_read(fd: i32, waited: bool) {
    if let Some(w) = waiting_reads(fd) {
        let left = w.load(Ordering::Relaxed);
        w.store(if waited { QUICK_READS_TO_FORGET } else { left.saturating_sub(1) }, Ordering::Relaxed);
    }
}

/// Wake the sleeping worker without a request (it then re-reads what it sleeps for), by
/// exit where the wake port is not used. Only the shared-memory transport has a worker.
pub fn wake_worker() {
    if MODE.load(Ordering::Relaxed) == Doorbell::SharedMemory as u32 && !no_worker() {
        out(if wake_by_port() { ports::HYPERCALL_WAKE } else { ports::WORKER_WAKE_BY_EXIT });
    }
}

/// Whether the exit doorbell is in use for now (see SLOW_STREAK_LIMIT).
fn use_exit_for_now() -> bool {
    let left = EXIT_MODE_LEFT.load(Ordering::Relaxed);
    if left == 0 {
        return false;
    }
    EXIT_MODE_LEFT.store(left - 1, Ordering::Relaxed);
    true
}

fn note_speed(slow: bool) {
    if !slow {
        SLOW_STREAK.store(0, Ordering::Relaxed);
        return;
    }
    let streak = SLOW_STREAK.load(Ordering::Relaxed) + 1;
    if streak >= SLOW_STREAK_LIMIT {
        SLOW_STREAK.store(0, Ordering::Relaxed);
        EXIT_MODE_LEFT.store(EXIT_MODE_REQUESTS, Ordering::Relaxed);
    } else {
        SLOW_STREAK.store(streak, Ordering::Relaxed);
    }
}
