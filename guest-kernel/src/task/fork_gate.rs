//! The fork gate: while one thread forks, every other thread of the process waits at a
//! point where it holds no lock of the guest kernel.
//!
//! The monitor forks the whole host process, and the child runs on a copy of guest memory
//! taken at that instant. Only the forking thread exists in the child; if another thread
//! held a lock of the guest kernel then (the address space, the futex queue, a descriptor
//! table...), the copy would hold it for ever and the child would hang at its first use.
//! Linux has no such problem (the child's kernel state is built, not copied); here the other
//! threads are stopped at safe points first:
//! - the forking thread closes the gate and brings every other live thread into its kernel:
//!   a thread in user code is kicked (its kick interrupt enters the kernel), one sleeping
//!   in the guest (a futex, sigsuspend) is woken on its wake word, one blocked in a host
//!   call is interrupted by the monitor's kick signal (the call ends with EINTR and is
//!   restarted after the fork, as Linux restarts a call a frozen task was taken out of);
//! - each thread checks the gate where it holds no lock: on every entry from user mode
//!   (syscall, exception, interrupt), before returning from a syscall, and in its sleeps;
//!   finding it closed, it says so (`PARKED`) and sleeps in the host until it opens;
//! - once every other live thread is parked, the fork happens; then the gate opens on both
//!   sides (in the child, the parked threads do not exist). A vfork parent keeps it closed
//!   until its child has exec'd or ended and what the child wrote is back in memory: the
//!   child's writes come back as whole pages (mm/vfork.rs), which would undo what other
//!   threads wrote to the same pages meanwhile.
//!
//! A single-threaded process never closes the gate, and the check costs one relaxed load.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};

use abi_shared::hypercall::{ControlRequest, FutexRequest, Request};
use abi_shared::layout::MAX_VCPUS;
use abi_shared::vcpus::VcpuSet;

use crate::percpu;

/// A vCPU's state, as the gate sees it.
const RUNNING: u8 = 0;
/// Waiting at the gate.
const PARKED: u8 = 1;
/// No thread runs on it (never started, or its thread has ended).
const GONE: u8 = 2;

static STATE: [AtomicU8; MAX_VCPUS as usize] = {
    let mut s = [const { AtomicU8::new(GONE) }; MAX_VCPUS as usize];
    s[0] = AtomicU8::new(RUNNING);
    s
};

/// Closed (1) while a thread forks; parked threads sleep in the host on this word.
static CLOSED: AtomicU32 = AtomicU32::new(0);
/// Held by the forking thread: forks of one process happen one at a time.
static FORKING: AtomicBool = AtomicBool::new(false);
/// The vCPU of the thread that closed the gate (it never waits at its own gate).
static FORKER: AtomicU32 = AtomicU32::new(u32::MAX);

/// How long the forking thread waits between kicks of threads that have not parked yet
/// (a kick can come before a new thread's vCPU is registered with the monitor), in ns.
const REKICK_NS: u64 = 2_000_000;
/// After this long (ns) the fork goes ahead without the threads still running, and says so.
const GIVE_UP_NS: u64 = 2_000_000_000;

/// A thread starts on vCPU `index`.
pub fn thread_starts(index: u32) {
    STATE[index as usize].store(RUNNING, Ordering::SeqCst);
}

/// The thread on vCPU `index` has done everything it does in the guest before it leaves.
pub fn thread_gone(index: u32) {
    STATE[index as usize].store(GONE, Ordering::SeqCst);
}

/// Wait here while a fork is under way. The caller holds no lock of the guest kernel.
#[inline]
pub fn checkpoint() {
    if CLOSED.load(Ordering::Relaxed) != 0 && FORKER.load(Ordering::Relaxed) != percpu::cpu_index() {
        park();
    }
}

#[cold]
fn park() {
    let me = &STATE[percpu::cpu_index() as usize];
    loop {
        me.store(PARKED, Ordering::SeqCst);
        // A fork takes milliseconds: sleep in the host rather than take a core from it.
        while CLOSED.load(Ordering::SeqCst) != 0 {
            crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexSleep {
                gpa: closed_word_gpa(),
                expected: 1,
                timeout_ns: u64::MAX,
                shared: false,
            }));
        }
        me.store(RUNNING, Ordering::SeqCst);
        // Closed again between the load and the store (the next fork): park for it too.
        if CLOSED.load(Ordering::SeqCst) == 0 {
            return;
        }
    }
}

fn closed_word_gpa() -> u64 {
    crate::hypercall::kernel_va_to_gpa(core::ptr::from_ref(&CLOSED) as u64)
}

/// The calling thread is about to fork: stop every other thread at a safe point. Returns
/// whether the gate was closed (a single-threaded process needs no gate).
pub fn close() -> bool {
    while FORKING.compare_exchange(false, true, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        // Another thread forks: wait at its gate like everyone else.
        checkpoint();
        core::hint::spin_loop();
    }
    if super::threads::count() <= 1 && others_running().is_empty() {
        FORKING.store(false, Ordering::SeqCst);
        return false;
    }
    FORKER.store(percpu::cpu_index(), Ordering::SeqCst);
    CLOSED.store(1, Ordering::SeqCst);
    let start = crate::time::monotonic_ns();
    let mut kicked_at = 0;
    loop {
        let running = others_running();
        if running.is_empty() {
            return true;
        }
        let now = crate::time::monotonic_ns();
        if now.saturating_sub(start) > GIVE_UP_NS {
            crate::kwarn!("fork: threads on vCPUs {:?} did not stop; forking without them", running);
            return true;
        }
        if kicked_at == 0 || now.saturating_sub(kicked_at) > REKICK_NS {
            kick(running);
            kicked_at = now;
        }
        core::hint::spin_loop();
    }
}

/// The fork is done (in the parent, or in the child, where only the caller exists).
pub fn open(closed: bool) {
    if closed {
        FORKER.store(u32::MAX, Ordering::SeqCst);
        CLOSED.store(0, Ordering::SeqCst);
        crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexWake {
            gpa: closed_word_gpa(),
            count: i32::MAX as u32,
            shared: false,
        }));
        FORKING.store(false, Ordering::SeqCst);
    }
}

/// In a forked child: the other threads do not exist here.
pub fn only_the_caller_left() {
    let me = percpu::cpu_index() as usize;
    for (i, s) in STATE.iter().enumerate() {
        s.store(if i == me { RUNNING } else { GONE }, Ordering::SeqCst);
    }
}

fn others_running() -> VcpuSet {
    let me = percpu::cpu_index();
    let mut set = VcpuSet::EMPTY;
    for (i, s) in STATE.iter().enumerate() {
        if i as u32 != me && s.load(Ordering::SeqCst) == RUNNING {
            set = set.with(i as u32);
        }
    }
    set
}

/// Bring the threads of `vcpus` into their kernels: out of a guest sleep, out of a host
/// call, out of user code.
fn kick(vcpus: VcpuSet) {
    for v in vcpus.iter() {
        if let Some(block) = super::threads::block_if_made(v) {
            super::futex::interrupt_wait(block);
        }
    }
    crate::hypercall::call_ret(&Request::Control(ControlRequest::KickVcpus { vcpus }));
}
