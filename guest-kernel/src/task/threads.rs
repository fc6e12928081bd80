//! Threads: each Linux thread runs on its own vCPU, which the monitor runs on its own host
//! thread, so the threads of a program run in parallel on the host's cores.
//!
//! A vCPU index (0 for the first thread) names a slot: its block of guest memory (the
//! static blocks below the kernel for the first `STATIC_VCPU_BLOCKS`, then 2 MiB pieces
//! of guest RAM holding eight blocks each), its page tables (mm/vcpu_roots.rs) and its
//! `Thread` object, which are all reused by the next thread given the slot. A slot is
//! free again once its thread has exited and the monitor has said (the block's
//! `VCPU_IN_USE` word) that the old vCPU will never run again.
//!
//! Starting a thread: the creating thread claims a slot, fills the `Thread` (with the
//! user registers the new thread starts with), builds the page tables and asks the
//! monitor (`VcpuRequest::StartThread`) for a host thread that runs the vCPU from
//! `thread_entry`, which finishes on the new vCPU what only it can do (its per-CPU page,
//! its syscall MSRs, its FS base) and enters user mode.
//!
//! The hand-off inside the guest: a thread that ends keeps its vCPU in the guest for a
//! short while (`WAIT_FOR_NEXT_NS`), looking at its slot's `HANDOFF` word. A thread created
//! meanwhile takes that slot (`claim_waiting`) and its vCPU starts the new thread at once,
//! with no `StartThread` exit and no host thread to wake: the host thread, and so the
//! thread id, is the ended thread's, as when the monitor gives a new thread an ended one's
//! idle host thread. A vCPU nobody takes goes on to `ThreadExit` as before, so an idle
//! process burns no core for longer than the wait. Not done where the monitor must see
//! every thread start (`--strace` counts threads, `--gdb`), nor once a thread has changed
//! its credentials (the ended thread's host thread may not have the creator's).

use core::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, AtomicU8, Ordering};

use alloc::boxed::Box;

use abi_shared::hypercall::{ControlRequest, ExitHow, Request, VcpuRequest};
use abi_shared::layout::{
    vcpu_block, vcpu_block_gpa, MAX_VCPUS, PERCPU_WINDOW_VA, STATIC_VCPU_BLOCKS, VCPU_BLOCK_SIZE,
};
use abi_shared::linux::errno;
use abi_shared::vcpus::{AtomicVcpuSet, VcpuSet};
use spin::Mutex;

use super::{process, Thread, COMM_LEN};
use crate::arch::entry::TrapFrame;
use crate::arch::platform;
use crate::percpu;

/// How a new thread enters user mode.
pub struct ThreadStart {
    /// Its user registers (the creator's at clone, with rax = 0 and the new stack).
    pub frame: TrapFrame,
    pub fs_base: u64,
    pub gs_base: u64,
    /// CLONE_CHILD_SETTID's address (0: none): the new thread writes its tid there.
    pub set_child_tid: u64,
    /// CLONE_PARENT_SETTID's address (0: none).
    pub set_parent_tid: u64,
}

const SLOTS_LEN: usize = MAX_VCPUS as usize;
/// The slots that belong to a live thread (slot 0: the first thread, never reused).
static SLOTS: AtomicVcpuSet = AtomicVcpuSet::only(0);
/// The `Thread` object of each slot (null until first used; never freed).
static SLOT_THREADS: [AtomicPtr<Thread>; SLOTS_LEN] = [const { AtomicPtr::new(core::ptr::null_mut()) }; SLOTS_LEN];
/// The 2 MiB pieces of guest RAM with the blocks of slots `STATIC_VCPU_BLOCKS..`.
const BLOCKS_PER_PIECE: u64 = (2 << 20) / VCPU_BLOCK_SIZE;
static EXTRA_BLOCKS: [AtomicU64; SLOTS_LEN / BLOCKS_PER_PIECE as usize] =
    [const { AtomicU64::new(0) }; SLOTS_LEN / BLOCKS_PER_PIECE as usize];
/// Serialises slot claims and the allocation of extra blocks.
static SPAWN_LOCK: Mutex<()> = Mutex::new(());

/// Per slot: whether its ended thread's vCPU waits in the guest for the next thread.
static HANDOFF: [AtomicU8; SLOTS_LEN] = [const { AtomicU8::new(NOT_WAITING) }; SLOTS_LEN];
/// No vCPU waits on the slot in the guest.
const NOT_WAITING: u8 = 0;
/// The ended thread's vCPU looks at the word (`wait_for_next_thread`).
const WAITING: u8 = 1;
/// A creator took the slot: the vCPU starts the slot's `Thread` (set by the creator).
const CLAIMED: u8 = 2;
/// The vCPU is to leave by `ThreadExit` (after an exec, or in a fork's child).
const LEAVE: u8 = 3;
/// How long an ended thread's vCPU waits in the guest for a new thread before it leaves
/// by exit (and its host thread sleeps): enough for a program that creates a thread right
/// after joining one, bounded so that an idle process frees its core soon.
const WAIT_FOR_NEXT_NS: u64 = 250_000;

/// The block of slot `vcpu`, allocating its piece of RAM on first use.
fn block_of(vcpu: u32) -> Option<u64> {
    let v = u64::from(vcpu);
    if v < STATIC_VCPU_BLOCKS {
        return Some(vcpu_block_gpa(v));
    }
    let piece = &EXTRA_BLOCKS[(v / BLOCKS_PER_PIECE) as usize];
    let mut base = piece.load(Ordering::Acquire);
    if base == 0 {
        base = crate::mm::frame::alloc_huge_zeroed()?;
        piece.store(base, Ordering::Release);
    }
    Some(base + (v % BLOCKS_PER_PIECE) * VCPU_BLOCK_SIZE)
}

/// The block of slot `vcpu` if its memory exists already (no allocation).
pub fn block_if_made(vcpu: u32) -> Option<u64> {
    let v = u64::from(vcpu);
    if v < STATIC_VCPU_BLOCKS {
        return Some(vcpu_block_gpa(v));
    }
    let base = EXTRA_BLOCKS.get((v / BLOCKS_PER_PIECE) as usize)?.load(Ordering::Acquire);
    (base != 0).then_some(base + (v % BLOCKS_PER_PIECE) * VCPU_BLOCK_SIZE)
}

/// The slot of the process's first thread: 0, except in the child of a fork made by
/// another thread, where the forking thread (and its slot) became the first.
static MAIN_SLOT: AtomicU32 = AtomicU32::new(0);

/// The slot of the process's first thread.
pub fn main_slot() -> u32 {
    MAIN_SLOT.load(Ordering::Relaxed)
}

fn in_use_word(block: u64) -> &'static AtomicU64 {
    percpu::remote_block_word(block, vcpu_block::VCPU_IN_USE)
}

/// A claimed slot: its index, its block, and where its vCPU already waits in the guest
/// (`claim_waiting`), the id of that vCPU's host thread, which the new thread gets.
struct Claimed {
    vcpu: u32,
    block: u64,
    waiting_tid: Option<u32>,
}

/// Whether an ended thread's vCPU may wait in the guest for the next thread, and a new
/// thread take such a vCPU (`watched`: the monitor must see every thread start and end;
/// see the module's documentation).
fn hand_off_allowed(watched: bool) -> bool {
    !watched && !super::creds::ever_changed()
}

/// Take a slot whose ended thread's vCPU waits in the guest. The caller holds `SPAWN_LOCK`.
fn claim_waiting() -> Option<Claimed> {
    for v in 1..MAX_VCPUS as u32 {
        if HANDOFF[v as usize].load(Ordering::Relaxed) != WAITING || v == main_slot() {
            continue;
        }
        let Some(block) = block_if_made(v) else { continue };
        // The waiting vCPU's Thread still has its ended thread's id: its host thread's.
        let Some(old) = thread_of_slot(v) else { continue };
        let tid = old.tid.load(Ordering::SeqCst);
        if tid == 0 || SLOTS.contains(v) {
            continue;
        }
        if HANDOFF[v as usize].compare_exchange(WAITING, CLAIMED, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
            // VCPU_IN_USE is still 1: the monitor never retired the vCPU.
            SLOTS.insert(v);
            super::fork_gate::thread_starts(v);
            return Some(Claimed { vcpu: v, block, waiting_tid: Some(tid) });
        }
    }
    None
}

/// Claim a free slot. None when every slot belongs to a live thread (or RAM ran out). A
/// slot whose ended thread's vCPU waits in the guest comes first; a slot whose thread has
/// exited but whose vCPU the monitor has not retired yet (that takes microseconds) is
/// waited for rather than refused.
fn claim_slot(in_guest: bool) -> Option<Claimed> {
    let _guard = SPAWN_LOCK.lock();
    if let Some(c) = in_guest.then(claim_waiting).flatten() {
        return Some(c);
    }
    loop {
        let mut retiring = false;
        for v in 1..MAX_VCPUS as u32 {
            if SLOTS.contains(v) {
                continue;
            }
            let block = block_of(v)?;
            if in_use_word(block).load(Ordering::SeqCst) != 0 {
                retiring = true;
                continue;
            }
            SLOTS.insert(v);
            in_use_word(block).store(1, Ordering::SeqCst);
            super::fork_gate::thread_starts(v);
            return Some(Claimed { vcpu: v, block, waiting_tid: None });
        }
        if !retiring {
            return None;
        }
        core::hint::spin_loop();
    }
}

fn release_slot(vcpu: u32) {
    SLOTS.remove(vcpu);
}

/// The slot's `Thread`, made ready for a new thread of the running process.
fn thread_for_slot(vcpu: u32, clear_child_tid: u64) -> &'static Thread {
    let slot = &SLOT_THREADS[vcpu as usize];
    let mut t = slot.load(Ordering::Acquire);
    if t.is_null() {
        let fresh = Box::new(Thread {
            process: process(),
            tid: AtomicU32::new(0),
            creds: super::creds::Credentials::new(),
            clear_child_tid: AtomicU64::new(0),
            robust_list: AtomicU64::new(0),
            comm: Mutex::new([0; COMM_LEN]),
            pdeathsig: AtomicU32::new(0),
            vcpu: AtomicU32::new(vcpu),
            start: Mutex::new(None),
            signals: Mutex::new(super::signals::ThreadSignals::new()),
            interrupted_syscall: AtomicU64::new(u64::MAX),
            seccomp: super::seccomp::State::new(),
        });
        t = Box::leak(fresh);
        slot.store(t, Ordering::Release);
    }
    // SAFETY: slot objects are leaked boxes, never freed.
    let t: &'static Thread = unsafe { &*t };
    t.tid.store(0, Ordering::Relaxed);
    // The creator's credentials: its vCPU thread makes the new thread's host thread.
    super::creds::make_known();
    t.creds.copy_from(&super::current().creds);
    t.seccomp.copy_from(&super::current().seccomp);
    t.clear_child_tid.store(clear_child_tid, Ordering::Relaxed);
    t.robust_list.store(0, Ordering::Relaxed);
    *t.comm.lock() = super::comm_padded();
    t.pdeathsig.store(0, Ordering::Relaxed);
    t.vcpu.store(vcpu, Ordering::Relaxed);
    t.interrupted_syscall.store(u64::MAX, Ordering::Relaxed);
    let blocked = super::current().signals.lock().blocked;
    t.signals.lock().reset_for_new_thread(blocked);
    *t.start.lock() = None;
    t
}

/// How many threads the process has.
pub fn count() -> u32 {
    process().threads.load(Ordering::Relaxed)
}

/// Every live thread of the process but the caller's.
pub fn others() -> impl Iterator<Item = &'static Thread> {
    let me = percpu::cpu_index();
    SLOTS.load().without(me).iter().filter_map(thread_of_slot)
}

fn thread_of_slot(vcpu: u32) -> Option<&'static Thread> {
    if vcpu == 0 {
        return Some(super::main_thread());
    }
    // SAFETY: slot objects are leaked boxes, never freed (or null).
    unsafe { SLOT_THREADS[vcpu as usize].load(Ordering::Acquire).as_ref() }
}

/// The ids of every live thread, the process's first (or the caller) first.
pub fn tids() -> alloc::vec::Vec<i32> {
    let mut ids = alloc::vec![super::tid()];
    ids.extend(others().map(Thread::tid));
    ids.sort_unstable();
    ids
}

/// The live thread of the process whose id is `tid`.
pub fn find(tid: i32) -> Option<&'static Thread> {
    if tid == super::tid() {
        return Some(super::current());
    }
    others().find(|t| t.tid() == tid)
}

/// Thread `t` (not the caller) has a signal to take: bring it into its kernel. A thread
/// in user code is kicked (an interrupt), one blocked in a host call is interrupted by the
/// monitor's kick signal, and one waiting in the guest (a futex, a sleep) is woken on its
/// vCPU's wake word.
pub fn wake_for_signal(t: &Thread) {
    let vcpu = t.vcpu();
    if let Some(block) = block_of(vcpu) {
        super::futex::interrupt_wait(block);
    }
    crate::hypercall::call_ret(&Request::Control(ControlRequest::KickVcpus { vcpus: VcpuSet::only(vcpu) }));
}

/// Start a thread of the running process; returns its tid. `may_hand_off`: it may start
/// on an ended thread's vCPU waiting in the guest (the monitor need not see it start).
pub fn spawn(start: ThreadStart, clear_child_tid: u64, may_hand_off: bool) -> Result<i32, i64> {
    let in_guest = hand_off_allowed(!may_hand_off);
    let Claimed { vcpu, block, waiting_tid } = claim_slot(in_guest).ok_or(-(errno::EAGAIN as i64))?;
    let thread = thread_for_slot(vcpu, clear_child_tid);
    let cr3 = {
        // Page-table writers hold the address-space lock: no top-level entry is added
        // while the copy is made.
        let _space = crate::mm::SPACE.lock();
        crate::mm::vcpu_roots::build(vcpu, block)
    };
    crate::mm::tlb::add_vcpu(vcpu, block);
    process().threads.fetch_add(1, Ordering::SeqCst);
    // A vCPU waiting in the guest is on its way to `thread_main` already: nothing to ask.
    let ret = if let Some(tid) = waiting_tid {
        crate::stats::note_thread_handed_off();
        i64::from(tid)
    } else {
        start_on_host(vcpu, block, cr3, thread)
    };
    if ret < 0 {
        super::fork_gate::thread_gone(vcpu);
        process().threads.fetch_sub(1, Ordering::SeqCst);
        crate::mm::tlb::remove_vcpu(vcpu);
        crate::mm::vcpu_roots::forget(vcpu);
        in_use_word(block).store(0, Ordering::SeqCst);
        release_slot(vcpu);
        return Err(ret);
    }
    // The monitor answers with the tid before the new vCPU may run user code: the ids are
    // written here, before the new thread takes its start state (and so before it can exit
    // and clear CLONE_CHILD_CLEARTID's word, which glibc shares with CLONE_PARENT_SETTID's;
    // written after that, the id would make its joiner wait for ever).
    let tid = ret as u32;
    thread.tid.store(tid, Ordering::SeqCst);
    for at in [start.set_parent_tid, start.set_child_tid] {
        if at != 0 {
            // As Linux's: a fault here is ignored.
            let _ = crate::mm::uaccess::copy_to_user(at, &tid.to_le_bytes());
        }
    }
    *thread.start.lock() = Some(start);
    Ok(ret as i32)
}

/// Ask the monitor for a host thread that runs vCPU `vcpu` from `thread_entry`: the new
/// thread's id, or -errno.
fn start_on_host(vcpu: u32, block: u64, cr3: u64, thread: &Thread) -> i64 {
    crate::hypercall::call_ret(&Request::Vcpu(VcpuRequest::StartThread {
        vcpu,
        block,
        cr3,
        entry: thread_entry as *const () as u64,
        arg: core::ptr::from_ref(thread) as u64,
    }))
}

core::arch::global_asm!(
    r#"
    .section .text
    .globl thread_entry
thread_entry:
    /* The monitor set rsp to this vCPU's kernel stack and rdi to its Thread. */
    xor %ebp, %ebp
    call {main}
    ud2
    "#,
    main = sym thread_main,
    options(att_syntax)
);

extern "C" {
    fn thread_entry();
}

/// A new thread's first kernel code, on its own vCPU.
extern "C" fn thread_main(thread: *const Thread) -> ! {
    // SAFETY: `spawn` passed a slot's Thread, which lives for the whole run.
    let thread: &'static Thread = unsafe { &*thread };
    let vcpu = thread.vcpu.load(Ordering::Relaxed);
    let block = block_of(vcpu).unwrap_or(0);
    percpu::set_block_gpa(block);
    percpu::set_cpu_index(vcpu);
    percpu::slot(percpu::NO_WORKER).store(1, Ordering::Relaxed);
    super::percpu::set_current_thread(thread);
    crate::arch::init_syscall_msrs();
    // The creator (`spawn`) hands over the start state once it has written the ids.
    let start = loop {
        if let Some(start) = thread.start.lock().take() {
            break start;
        }
        core::hint::spin_loop();
    };
    platform::set_fs_base(start.fs_base);
    platform::set_gs_base(start.gs_base);
    // The vCPU may be an ended thread's, with that thread's translations still cached
    // (under pvm in the hypervisor's shadow tables, which a new CR3 does not drop).
    platform::flush_tlb_all();
    crate::mm::tlb::before_user();
    crate::arch::entry::enter_user(&start.frame)
}

/// exit(2) of the calling thread. The last thread's exit ends the process with `status`;
/// otherwise `ends_alone` is told (--strace's line for a thread's end) and the thread ends.
/// `watched`: the monitor must see every thread start and end (no wait in the guest).
pub fn exit_thread(status: i32, ends_alone: fn(i32), watched: bool) -> ! {
    if process().threads.fetch_sub(1, Ordering::SeqCst) == 1 {
        super::exit::terminate(ExitHow::Status(status & 0xff));
    }
    ends_alone(status);
    end_thread(hand_off_allowed(watched))
}

/// Another thread execs (task/fork_gate.rs): the calling thread ends, at a safe point, as
/// if it had exited (it is never the last: the exec'ing thread lives on).
pub fn exit_for_exec() -> ! {
    process().threads.fetch_sub(1, Ordering::SeqCst);
    end_thread(false)
}

/// `may_wait`: the vCPU may wait in the guest for the next thread (`wait_for_next_thread`).
fn end_thread(may_wait: bool) -> ! {
    let t = super::current();
    let vcpu = t.vcpu.load(Ordering::Relaxed);
    // Gone at once from /proc/self/task and from the threads signals are given to, as the
    // thread count already is. The slot cannot be given out again before the monitor has
    // retired its vCPU (`VCPU_IN_USE`), so its Thread stays ours meanwhile.
    if vcpu != main_slot() {
        release_slot(vcpu);
    }
    release_thread_words(t);
    crate::mm::tlb::remove_vcpu(vcpu);
    crate::mm::vcpu_roots::forget(vcpu);
    if may_wait && vcpu != main_slot() {
        wait_for_next_thread(t, vcpu);
    } else {
        // Nothing more of this thread runs in the guest: a fork need not wait for it.
        super::fork_gate::thread_gone(vcpu);
    }
    crate::hypercall::call(&Request::Vcpu(VcpuRequest::ThreadExit));
    platform::halt_forever()
}

/// The ended thread's vCPU waits in the guest, for at most `WAIT_FOR_NEXT_NS`, for a
/// creator to give its slot to a new thread (`claim_waiting`), and then starts that thread
/// here. Returns when nobody came, or when told to leave (exec, a fork's child).
fn wait_for_next_thread(t: &'static Thread, vcpu: u32) {
    let word = &HANDOFF[vcpu as usize];
    {
        // With the claimers' lock: a creator takes the slot only once the fork gate counts
        // the ended thread gone (the new one is counted when claimed), and an exec or a
        // fork's child that finds the vCPU gone finds it waiting too (`only_the_caller_left`).
        let _guard = SPAWN_LOCK.lock();
        word.store(WAITING, Ordering::SeqCst);
        super::fork_gate::thread_gone(vcpu);
    }
    let until = crate::time::monotonic_ns().saturating_add(WAIT_FOR_NEXT_NS);
    while word.load(Ordering::Acquire) == WAITING && crate::time::monotonic_ns() < until {
        core::hint::spin_loop();
    }
    if word.compare_exchange(WAITING, NOT_WAITING, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        return;
    }
    // Claimed, or told to leave; no one else writes the word until it is WAITING again.
    if word.swap(NOT_WAITING, Ordering::SeqCst) == CLAIMED {
        start_here(t)
    }
}

/// Start the slot's new thread on this vCPU as the monitor starts one: `thread_main` with
/// the slot's `Thread`, on an empty kernel stack (the ended thread's frames are dropped).
fn start_here(thread: &'static Thread) -> ! {
    const TOP: u64 = PERCPU_WINDOW_VA + vcpu_block::KSTACK_TOP;
    // SAFETY: the ended thread never returns to anything on this vCPU's kernel stack, so
    // it may start again from its top; `thread_main` gets what `thread_entry` gives it.
    unsafe {
        core::arch::asm!(
            "mov rsp, {top}",
            "xor ebp, ebp",
            "call {main}",
            "ud2",
            top = in(reg) TOP,
            main = sym thread_main,
            in("rdi") core::ptr::from_ref(thread),
            options(noreturn)
        )
    }
}

/// What a dying thread owes the others: its robust futexes marked as its owner's death,
/// and CLONE_CHILD_CLEARTID's word cleared and woken (pthread_join waits on it).
fn release_thread_words(t: &Thread) {
    let robust = t.robust_list.load(Ordering::Relaxed);
    if robust != 0 {
        super::futex::release_robust_list(robust, t.tid.load(Ordering::Relaxed));
    }
    let ctid = t.clear_child_tid.load(Ordering::Relaxed);
    if ctid != 0 && crate::mm::uaccess::copy_to_user(ctid, &0u32.to_le_bytes()).is_ok() {
        super::futex::wake(super::futex::Key::shared(ctid), 1, u32::MAX);
    }
}

/// execve past its point of no return (Linux's de_thread): every other thread ends, and
/// the caller becomes the process's first thread, with its id (the pid). A thread other
/// than the first hands its vCPU to the host thread that ran the first, whose id is the
/// pid (`VcpuRequest::ExecLeader`); the first thread's hypercall worker serves it from then on.
pub fn exec_takes_over() {
    let closed = super::fork_gate::end_others_for_exec();
    if percpu::cpu_index() != main_slot() {
        let worker = crate::hypercall::call_ret(&Request::Vcpu(VcpuRequest::ExecLeader)) > 0;
        crate::hypercall::transport::set_worker(worker);
        super::current().tid.store(super::pid() as u32, Ordering::SeqCst);
    }
    only_the_caller_left();
    super::fork_gate::exec_done(closed);
}

/// After fork (in the child) and exec: the calling thread is the only one left, and it
/// now runs as the process's first thread would.
pub fn only_the_caller_left() {
    let me = percpu::cpu_index();
    // vCPUs waiting in the guest for a new thread leave (in a fork's child, they do not
    // exist: their slots must not be given to them).
    for (v, word) in HANDOFF.iter().enumerate() {
        if v as u32 != me {
            let _ = word.compare_exchange(WAITING, LEAVE, Ordering::SeqCst, Ordering::SeqCst);
        }
    }
    SLOTS.set_only(me);
    MAIN_SLOT.store(me, Ordering::Relaxed);
    process().threads.store(1, Ordering::SeqCst);
    crate::mm::tlb::only_this_vcpu();
    super::fork_gate::only_the_caller_left();
    super::futex::forget_other_waiters();
}
