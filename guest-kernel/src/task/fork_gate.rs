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
//!   sides (in the child, the parked threads do not exist). A vfork parent opens it again
//!   as soon as the child exists, so the other threads run on while the child runs, as on
//!   Linux (the child's writes come back as changed bytes only, mm/vfork.rs, which do not
//!   undo what the other threads write meanwhile); it keeps the right to fork
//!   (`FORKING`) until its child has exec'd or ended, so a second fork or an exec by
//!   another thread sleeps until then (the hand-over with the child is one per process).
//!
//! A single-threaded process never closes the gate, and the check costs one relaxed load.
//!
//! execve uses the same gate to end the other threads (Linux's de_thread): the exec'ing
//! thread closes it for good (`CLOSED_FOR_EXEC`), and every other thread, at its next safe
//! point, exits there instead of waiting (`threads::exit_for_exec`: its robust list and
//! CLONE_CHILD_CLEARTID word as at any thread exit, then its vCPU stops). A thread that
//! execs while another thread forks or execs waits at that one's gate first, and so ends
//! there if that one was exec'ing: of two threads that exec at once, one wins, as on Linux.
//!
//! A core dump uses it to stop the other threads for good (Linux's zap_threads and
//! coredump_wait): the dumping thread closes it (`CLOSED_FOR_CORE`), and every other
//! thread, at its next safe point, leaves its user registers for the dump (`ThreadRegs`:
//! the frame of its latest entry from user mode, its FS/GS bases, its `fxsave` image)
//! and sleeps there until the process ends; it never runs user code again. A thread
//! stopped for `--gdb` waits in the monitor, out of reach of a kick: it is not waited for,
//! and the registers it left when it stopped go in (`HELD_REGS`, below). A thread that does
//! not come within `GIVE_UP_NS` is left out of the dump. A vfork parent's child is waited for first (until it execs or exits),
//! where Linux's dump would not wait.
//!
//! `--gdb`'s all-stop uses it to stop the other threads while one is stopped for the
//! debugger (gdb's all-stop mode; Linux's gdb stops each thread with a SIGSTOP): the
//! stopping thread closes it (`CLOSED_FOR_DEBUG`), and every other thread, at its next safe
//! point, stops quietly for the debugger there (`signal::debug`'s halt, through
//! `DEBUG_HALT`: gdb lists it, reads its registers and memory, and resumes it with the
//! others). Once every other thread is held in the monitor the gate opens again, before the
//! stop is reported: the held threads wait in the monitor, not at the gate, and run on when
//! gdb resumes them. A thread stopped for the debugger is `HELD`: no gathering waits for it
//! (it is in the monitor, out of reach of a kick), and a core dump takes the registers it
//! left when it stopped (`HELD_REGS`) instead of waiting for it.

use core::sync::atomic::{AtomicU32, AtomicU8, Ordering};

use alloc::vec::Vec;

use abi_shared::hypercall::{ControlRequest, FutexRequest, Request};
use abi_shared::layout::MAX_VCPUS;
use abi_shared::vcpus::VcpuSet;
use spin::{Mutex, Once};

use crate::arch::entry::TrapFrame;
use crate::percpu;

/// A vCPU's state, as the gate sees it.
const RUNNING: u8 = 0;
/// Waiting at the gate.
const PARKED: u8 = 1;
/// No thread runs on it (never started, or its thread has ended).
const GONE: u8 = 2;
/// Parked for a core dump, its registers left in `CORE_REGS`: it never runs again.
const LEFT_REGS: u8 = 3;
/// Stopped for the debugger (`--gdb`), waiting in the monitor until gdb resumes it, its
/// registers left in `HELD_REGS`.
const HELD: u8 = 4;

static STATE: [AtomicU8; MAX_VCPUS as usize] = {
    let mut s = [const { AtomicU8::new(GONE) }; MAX_VCPUS as usize];
    s[0] = AtomicU8::new(RUNNING);
    s
};

/// Closed (1) while a thread forks, `CLOSED_FOR_EXEC` while one execs; parked threads
/// sleep in the host on this word.
static CLOSED: AtomicU32 = AtomicU32::new(0);
/// CLOSED's value while a thread execs: every other thread ends at the gate.
const CLOSED_FOR_EXEC: u32 = 2;
/// CLOSED's value while a thread dumps core: every other thread leaves its registers at
/// the gate and stays there until the process ends.
const CLOSED_FOR_CORE: u32 = 3;
/// CLOSED's value while a thread stops for the debugger: every other thread stops for it
/// too at the gate (`DEBUG_HALT`).
const CLOSED_FOR_DEBUG: u32 = 4;
/// Counts the closings for the debugger: a thread whose halt the monitor did not take (gdb
/// went away) waits for the end of its own round, not of a later one.
static DEBUG_ROUND: AtomicU32 = AtomicU32::new(0);
/// The debugger's quiet stop of a thread at the gate (signal::debug, a layer above,
/// registers it): it calls its argument once the monitor holds the thread, and returns
/// when gdb resumes it (at once if no debugger answers), with its resume's `together`.
static DEBUG_HALT: Once<DebugHalt> = Once::new();
/// `DEBUG_HALT`'s type: it calls its argument once held, and returns the resume's
/// `together`.
pub type DebugHalt = fn(&dyn Fn()) -> u32;
/// Per vCPU: how many quiet stops for the debugger its thread has made.
static HALTS: [AtomicU32; MAX_VCPUS as usize] = [const { AtomicU32::new(0) }; MAX_VCPUS as usize];
/// Counts the threads that have left a stop for the debugger, as the monitor counts the
/// resumes it hands out (`DebugCommand::Resume`'s `together`).
static LEFT_STOPS: AtomicU32 = AtomicU32::new(0);
/// Held (1) by the forking thread: forks of one process happen one at a time. Threads
/// that want it while a vfork parent waits for its child sleep in the host on this word.
static FORKING: AtomicU32 = AtomicU32::new(0);
/// How long a thread waiting for `FORKING` sleeps before it looks again, in ns.
const FORKING_NAP_NS: u64 = 10_000_000;
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
        loop {
            match CLOSED.load(Ordering::SeqCst) {
                0 => break,
                CLOSED_FOR_EXEC => super::threads::exit_for_exec(),
                CLOSED_FOR_CORE => stay_for_core(me),
                CLOSED_FOR_DEBUG => {
                    halt_for_debugger(me);
                    continue;
                }
                _ => {}
            }
            // A sleep that would begin after an exec's or a core dump's store returns at
            // once (the word no longer holds 1).
            crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexSleep {
                gpa: word_gpa(&CLOSED),
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

/// The gate is closed for the debugger: stop for it here, quietly (gdb sees this thread
/// stopped with the one that stopped for a reason), until gdb resumes it; then back to the
/// gate, which is open by then unless another thread stops for the debugger.
#[cold]
fn halt_for_debugger(me: &AtomicU8) {
    HALTS[percpu::cpu_index() as usize].fetch_add(1, Ordering::Relaxed);
    let round = DEBUG_ROUND.load(Ordering::SeqCst);
    let together = match DEBUG_HALT.get() {
        Some(halt) => halt(&|| now_held(me)),
        None => {
            now_held(me);
            0
        }
    };
    // Resumed at once (no debugger answers any more): the stopping thread counts on this
    // one being held; wait, held, for it to open the gate.
    me.store(HELD, Ordering::SeqCst);
    while CLOSED.load(Ordering::SeqCst) == CLOSED_FOR_DEBUG && DEBUG_ROUND.load(Ordering::SeqCst) == round {
        crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexSleep {
            gpa: word_gpa(&CLOSED),
            expected: CLOSED_FOR_DEBUG,
            timeout_ns: FORKING_NAP_NS,
            shared: false,
        }));
    }
    forget_held_regs();
    me.store(PARKED, Ordering::SeqCst);
    left_stop_together(together);
}

/// The caller no longer shows as held (`HELD`) after its resume: wait until every thread
/// resumed with it (`together`: the monitor's count of resumes, this batch included; 0:
/// none to wait for) is as far. Otherwise one of them would run on while it still looked
/// held to another that stopped for the debugger meanwhile (a single step's stop comes
/// fast), which would not wait for it: its thread would run through the stop.
fn left_stop_together(together: u32) {
    if together == 0 {
        return;
    }
    let reached = |n: u32| n.wrapping_sub(together) as i32 >= 0;
    let left = LEFT_STOPS.fetch_add(1, Ordering::SeqCst).wrapping_add(1);
    if reached(left) {
        crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexWake {
            gpa: word_gpa(&LEFT_STOPS),
            count: i32::MAX as u32,
            shared: false,
        }));
        return;
    }
    let start = crate::time::monotonic_ns();
    loop {
        let left = LEFT_STOPS.load(Ordering::SeqCst);
        if reached(left) {
            return;
        }
        if crate::time::monotonic_ns().saturating_sub(start) > GIVE_UP_NS {
            crate::kwarn!("--gdb: threads resumed with this one did not leave their stops; running on");
            return;
        }
        // Sleep in the host: the others need the host's cores to get here.
        crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexSleep {
            gpa: word_gpa(&LEFT_STOPS),
            expected: left,
            timeout_ns: FORKING_NAP_NS,
            shared: false,
        }));
    }
}

/// The registers threads stopped for the debugger left (for a core dump written while
/// they are held: gdb's scheduler locking can let the dying thread run alone).
static HELD_REGS: Mutex<Vec<ThreadRegs>> = Mutex::new(Vec::new());

/// The calling thread is held by the debugger: leave its registers and say so.
fn now_held(me: &AtomicU8) {
    let regs = ThreadRegs::of_caller();
    let mut held = HELD_REGS.lock();
    held.retain(|r| r.vcpu != regs.vcpu);
    held.push(regs);
    drop(held);
    me.store(HELD, Ordering::SeqCst);
}

fn forget_held_regs() {
    let me = percpu::cpu_index();
    HELD_REGS.lock().retain(|r| r.vcpu != me);
}

/// signal::debug's quiet stop, for `CLOSED_FOR_DEBUG`.
pub fn set_debug_halt(halt: DebugHalt) {
    DEBUG_HALT.call_once(|| halt);
}

/// `--gdb`'s all-stop: the calling thread is about to stop for the debugger. Bring every
/// other thread of the process to a stop for it too (each stops quietly at its next safe
/// point: a kick in user code, a wake in a guest sleep, the monitor's kick signal in a host
/// call, as for a fork) and return once none runs: all are held in the monitor, or did
/// not come within `GIVE_UP_NS` (said so). The gate is open again on return; the caller
/// is held (no later stop waits for it) until `debugger_resumed`.
///
/// With `give_way`, a caller that another thread's stop held meanwhile (two stopped at
/// once) stops nothing and returns false: its stop was seen as a quiet one, and it is
/// to be made again if still due (a breakpoint is hit again when the thread runs on,
/// unless gdb removed it meanwhile, as Linux's gdb backs a thread up over an `int3` it
/// has not reported).
pub fn stop_others_for_debugger(give_way: bool) -> bool {
    let me = percpu::cpu_index();
    let halts = HALTS[me as usize].load(Ordering::Relaxed);
    take_forking();
    if give_way && HALTS[me as usize].load(Ordering::Relaxed) != halts {
        release_forking();
        return false;
    }
    if super::threads::count() <= 1 && others_alive().is_empty() {
        now_held(&STATE[me as usize]);
        FORKING.store(0, Ordering::SeqCst);
        return true;
    }
    FORKER.store(me, Ordering::SeqCst);
    DEBUG_ROUND.fetch_add(1, Ordering::SeqCst);
    CLOSED.store(CLOSED_FOR_DEBUG, Ordering::SeqCst);
    let missing = bring_others_to_the_gate();
    if !missing.is_empty() {
        crate::kwarn!("--gdb: threads on vCPUs {:?} did not stop; they run on", missing);
    }
    now_held(&STATE[me as usize]);
    // The others wait in the monitor now: open the gate before the stop is reported, so
    // that they go their way when gdb resumes them (and the ones that did not come, too).
    let_others_run();
    release_forking();
    true
}

/// The debugger resumed the caller (after `stop_others_for_debugger`; `together`: its
/// resume's count, see `left_stop_together`): it runs again, or waits at the gate if a fork
/// or another stop closed it meanwhile (a fork that began while this thread was held did
/// not wait for it).
pub fn debugger_resumed(together: u32) {
    let me = percpu::cpu_index();
    forget_held_regs();
    STATE[me as usize].store(RUNNING, Ordering::SeqCst);
    left_stop_together(together);
    if CLOSED.load(Ordering::SeqCst) != 0 && FORKER.load(Ordering::SeqCst) != me {
        park();
    }
}

/// With the gate closed for a debugger stop or a core dump: bring every other thread to it
/// (those still asleep at an earlier fork's gate are woken, the others brought into their
/// kernels, again every `REKICK_NS`) for at most `GIVE_UP_NS`. The vCPUs of the threads
/// that did not come (none: every thread came).
fn bring_others_to_the_gate() -> Vec<u32> {
    let start = crate::time::monotonic_ns();
    let mut kicked_at = 0;
    loop {
        let running = others_running();
        let parked = others_in(PARKED);
        if running.is_empty() && parked.is_empty() {
            return Vec::new();
        }
        let now = crate::time::monotonic_ns();
        if now.saturating_sub(start) > GIVE_UP_NS {
            return running.iter().chain(parked.iter()).collect();
        }
        if kicked_at == 0 || now.saturating_sub(kicked_at) > REKICK_NS {
            if !parked.is_empty() {
                wake_parked();
            }
            if !running.is_empty() {
                kick(running);
            }
            kicked_at = now;
        }
        core::hint::spin_loop();
    }
}

fn word_gpa(word: &'static AtomicU32) -> u64 {
    crate::hypercall::kernel_va_to_gpa(core::ptr::from_ref(word) as u64)
}

/// The calling thread is about to fork: stop every other thread at a safe point. Returns
/// whether the gate was closed (a single-threaded process needs no gate).
pub fn close() -> bool {
    take_forking();
    if super::threads::count() <= 1 && others_running().is_empty() {
        FORKING.store(0, Ordering::SeqCst);
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

/// execve has passed its point of no return: end every other thread of the process and
/// return once none runs in the guest any more (each exits at its next safe point; Linux
/// waits in de_thread the same way). Returns whether there were others, for `exec_done`.
pub fn end_others_for_exec() -> bool {
    take_forking();
    if super::threads::count() <= 1 && others_alive().is_empty() {
        FORKING.store(0, Ordering::SeqCst);
        return false;
    }
    FORKER.store(percpu::cpu_index(), Ordering::SeqCst);
    CLOSED.store(CLOSED_FOR_EXEC, Ordering::SeqCst);
    let mut kicked_at = 0;
    let mut warned = false;
    let start = crate::time::monotonic_ns();
    loop {
        if others_alive().is_empty() {
            return true;
        }
        let now = crate::time::monotonic_ns();
        if kicked_at == 0 || now.saturating_sub(kicked_at) > REKICK_NS {
            // Those parked at a fork's gate before wake up to exit; the others are brought
            // into their kernels.
            wake_parked();
            kick(others_running());
            kicked_at = now;
        }
        if !warned && now.saturating_sub(start) > GIVE_UP_NS {
            crate::kwarn!("execve: threads on vCPUs {:?} have not ended yet; waiting", others_alive());
            warned = true;
        }
        core::hint::spin_loop();
    }
}

/// A thread's user registers as a core dump writes them (NT_PRSTATUS, NT_FPREGSET).
pub struct ThreadRegs {
    pub vcpu: u32,
    pub tid: i32,
    /// The frame of its latest entry from user mode.
    pub frame: TrapFrame,
    pub fs_base: u64,
    pub gs_base: u64,
    pub fxsave: [u8; 512],
}

impl ThreadRegs {
    /// The calling thread's, read in its kernel at a safe point.
    fn of_caller() -> ThreadRegs {
        use crate::arch::platform;
        ThreadRegs {
            vcpu: percpu::cpu_index(),
            tid: super::tid(),
            frame: crate::arch::entry::user_entry_frame(),
            fs_base: platform::fs_base(),
            gs_base: platform::gs_base(),
            fxsave: platform::fxsave().0,
        }
    }
}

/// The registers the threads parked for a core dump left.
static CORE_REGS: Mutex<Vec<ThreadRegs>> = Mutex::new(Vec::new());

/// The gate is closed for a core dump: leave the caller's user registers for it and sleep
/// until the process ends (the dumping thread ends it; nothing opens this gate again).
#[cold]
fn stay_for_core(me: &AtomicU8) -> ! {
    let regs = ThreadRegs::of_caller();
    CORE_REGS.lock().push(regs);
    me.store(LEFT_REGS, Ordering::SeqCst);
    loop {
        // A kick or a signal for this thread ends the sleep early; it sleeps again.
        crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexSleep {
            gpa: word_gpa(&CLOSED),
            expected: CLOSED_FOR_CORE,
            timeout_ns: u64::MAX,
            shared: false,
        }));
    }
}

/// The calling thread dumps core (its signal's default action, RLIMIT_CORE above 0): stop
/// every other thread of the process for good, as Linux's zap_threads does, and return
/// the user registers they left, lowest vCPU first. A thread held by the debugger (in the
/// monitor, out of reach of a kick) is not waited for: the registers it left when it
/// stopped are taken. Threads that do not stop within `GIVE_UP_NS` are left out, and said
/// so.
/// The gate stays closed: the caller ends the process once the dump is written.
pub fn stop_others_for_core() -> Vec<ThreadRegs> {
    take_forking();
    if super::threads::count() <= 1 && others_alive().is_empty() {
        return Vec::new();
    }
    FORKER.store(percpu::cpu_index(), Ordering::SeqCst);
    CLOSED.store(CLOSED_FOR_CORE, Ordering::SeqCst);
    let missing = bring_others_to_the_gate();
    if !missing.is_empty() {
        crate::kwarn!("core dump: threads on vCPUs {:?} did not stop; the core leaves them out", missing);
    }
    let mut regs = core::mem::take(&mut *CORE_REGS.lock());
    let me = percpu::cpu_index();
    for held in core::mem::take(&mut *HELD_REGS.lock()) {
        if held.vcpu != me && !regs.iter().any(|r| r.vcpu == held.vcpu) {
            regs.push(held);
        }
    }
    regs.sort_by_key(|r| r.vcpu);
    regs
}

/// Become the process's one forking (or exec'ing) thread. While another thread forks, wait
/// at its gate like everyone else (and end there if it execs); while a vfork parent waits
/// for its child with the gate open, sleep in the host until it is done.
fn take_forking() {
    while FORKING.compare_exchange(0, 1, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        checkpoint();
        if CLOSED.load(Ordering::SeqCst) == 0 {
            crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexSleep {
                gpa: word_gpa(&FORKING),
                expected: 1,
                timeout_ns: FORKING_NAP_NS,
                shared: false,
            }));
        }
        core::hint::spin_loop();
    }
}

/// Let go of `FORKING` and wake the threads sleeping for it.
fn release_forking() {
    FORKING.store(0, Ordering::SeqCst);
    crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexWake {
        gpa: word_gpa(&FORKING),
        count: i32::MAX as u32,
        shared: false,
    }));
}

/// The exec'ing thread is the only one left (`end_others_for_exec` said whether the gate
/// was closed): open it for the new program's threads.
pub fn exec_done(closed: bool) {
    if closed {
        FORKER.store(u32::MAX, Ordering::SeqCst);
        CLOSED.store(0, Ordering::SeqCst);
        release_forking();
    }
}

fn wake_parked() {
    crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexWake {
        gpa: word_gpa(&CLOSED),
        count: i32::MAX as u32,
        shared: false,
    }));
}

/// The fork is done (in the parent, or in the child, where only the caller exists).
pub fn open(closed: bool) {
    if closed {
        let_others_run();
        release_forking();
    }
}

/// A vfork parent's child exists: the other threads run on while it waits for the child
/// (the caller keeps `FORKING` until `open`).
pub fn open_for_others(closed: bool) {
    if closed {
        let_others_run();
    }
}

fn let_others_run() {
    FORKER.store(u32::MAX, Ordering::SeqCst);
    CLOSED.store(0, Ordering::SeqCst);
    wake_parked();
}

/// In a forked child: the other threads do not exist here.
pub fn only_the_caller_left() {
    let me = percpu::cpu_index() as usize;
    HELD_REGS.lock().clear();
    for (i, s) in STATE.iter().enumerate() {
        s.store(if i == me { RUNNING } else { GONE }, Ordering::SeqCst);
    }
}

/// The other vCPUs whose threads have not ended (running or parked).
fn others_alive() -> VcpuSet {
    let me = percpu::cpu_index();
    let mut set = VcpuSet::EMPTY;
    for (i, s) in STATE.iter().enumerate() {
        if i as u32 != me && s.load(Ordering::SeqCst) != GONE {
            set = set.with(i as u32);
        }
    }
    set
}

fn others_running() -> VcpuSet {
    others_in(RUNNING)
}

/// The other vCPUs in gate state `state`.
fn others_in(state: u8) -> VcpuSet {
    let me = percpu::cpu_index();
    let mut set = VcpuSet::EMPTY;
    for (i, s) in STATE.iter().enumerate() {
        if i as u32 != me && s.load(Ordering::SeqCst) == state {
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
