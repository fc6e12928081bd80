//! The program's threads on the host: one Linux thread is one host thread running its own
//! vCPU of the process's VM, so the threads of a program run in parallel on the host's
//! cores, and a thread's id is its host thread's id (gettid, /proc, `top -H` agree).
//!
//! The guest kernel decides everything about a thread (its vCPU index, block, page tables,
//! registers: task/threads.rs); the monitor only gives it a host thread and a vCPU:
//! - `VcpuRequest::StartThread` (from any vCPU, by exit): `start` spawns the host thread, which
//!   creates the vCPU (a vCPU belongs to the thread that creates it, see vmm/mod.rs), sets
//!   it up from the guest's block and answers with its tid once it can run;
//! - each thread's loop (`run_thread`) serves its own vCPU's exits and hypercalls (a
//!   thread's vCPU has no hypercall worker: its requests come by exit, on its own block);
//! - `VcpuRequest::ThreadExit`: the loop ends, the vCPU goes back to the VM for the next thread
//!   with that index (KVM cannot destroy one), and then the block's `VCPU_IN_USE` word
//!   tells the guest the index is free;
//! - the end of the program (exit_group from any thread, or a vCPU that died) is left for
//!   the first vCPU's thread, which `Machine::run` returns from: the others are kicked out of
//!   the guest and stop.
//!
//! Kicks: `kick_vcpus` stops the listed vCPUs (TLB shootdowns, a signal for a thread): the
//! vCPU's "do not enter" flag, the backend's call that forces a running vCPU out where it
//! has one (Hypervisor.framework), then the host kick signal to its thread (which ends
//! KVM_RUN or a host call it is blocked in with EINTR); the thread then injects the guest's
//! kick interrupt.
//!
//! Hypervisor.framework (`Vm::keeps_idle_vcpus` false) destroys a thread's vCPU with its
//! thread instead of keeping it for the next thread with its index, and destroys every vCPU
//! before a fork, each on its own thread (`fork_suspend.rs`).

use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use abi_shared::bootinfo::Flavour;
use abi_shared::hypercall::Response;
use abi_shared::layout::{
    vcpu_block, vcpu_block_gpa, MAX_VCPUS, SIGNAL_KICK_VECTOR, STATIC_VCPU_BLOCKS, VCPU_BLOCK_SIZE,
};
use abi_shared::linux::errno;
use abi_shared::vcpus::VcpuSet;

use crate::guest_mem::GuestMemory;
use crate::host::sys;
use crate::machine::MachineError;
use crate::server::{Channel, Server, ThreadStart, VcpuRequest};
use crate::vmm::{Exit, ForceExit, Vcpu, Vm};

const SLOTS: usize = MAX_VCPUS as usize;

/// How a new host thread says its tid (the thread id) or that it could not start.
type Ready = std::sync::mpsc::Sender<Result<i32, String>>;

/// A host thread of an ended thread, keeping its vCPU, waiting for the next thread with its
/// vCPU index: its tid (the new thread's) and where to send that thread's start.
struct Idle {
    index: u32,
    tid: i32,
    /// Its host thread's credentials (those of the thread that ended there).
    creds: sys::ThreadCreds,
    next: std::sync::mpsc::Sender<Next>,
}

/// What an idle host thread is told.
enum Next {
    /// Run this new thread.
    Start(ThreadStart),
    /// End, giving the vCPU back to the VM first; then say so.
    Quit(std::sync::mpsc::Sender<()>),
}

/// The idle host threads, tagged with the process id: a forked child has none of them.
static IDLE: Mutex<(u32, Vec<Idle>)> = Mutex::new((0, Vec::new()));

fn take_idle(index: u32) -> Option<Idle> {
    let mut idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner);
    if idle.0 != std::process::id() {
        return None;
    }
    let at = idle.1.iter().position(|i| i.index == index)?;
    Some(idle.1.swap_remove(at))
}

fn put_idle(entry: Idle) {
    let mut idle = IDLE.lock().unwrap_or_else(PoisonError::into_inner);
    let me = std::process::id();
    if idle.0 != me {
        *idle = (me, Vec::new());
    }
    idle.1.push(entry);
}

/// A running vCPU's thread, for kicks: its pthread and its "do not enter" flag (valid while
/// the entry is registered; the thread unregisters before its vCPU goes away).
#[derive(Clone, Copy)]
struct Running {
    pthread: usize,
    immediate_exit: usize,
    /// The backend's call that forces the vCPU out of the guest (Hypervisor.framework).
    force_exit: Option<ForceExit>,
}

static RUNNING: Mutex<[Option<Running>; SLOTS]> = Mutex::new([None; SLOTS]);
/// The vCPU index of the process's first thread (whose host thread runs `Machine::run`):
/// 0, or in the child of a fork by another thread, the forking thread's.
static MAIN: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

/// The vCPU `index` runs the process's first thread.
pub fn set_main(index: u32) {
    MAIN.store(index, Ordering::SeqCst);
}

fn main_index() -> u32 {
    MAIN.load(Ordering::SeqCst)
}
/// Per vCPU: a kick is owed (the vCPU is to take the guest's kick interrupt).
static KICKED: [AtomicBool; SLOTS] = [const { AtomicBool::new(false) }; SLOTS];

fn running() -> std::sync::MutexGuard<'static, [Option<Running>; SLOTS]> {
    RUNNING.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The calling thread runs vCPU `index`, whose backend flag stops an entry.
pub fn register(index: u32, vcpu: &mut dyn Vcpu) {
    let immediate_exit = vcpu.kick_flag().map_or(0, |f| f as usize);
    let force_exit = vcpu.force_exit();
    // SAFETY: pthread_self cannot fail.
    let pthread = unsafe { libc::pthread_self() } as usize;
    running()[index as usize] = Some(Running { pthread, immediate_exit, force_exit });
}

/// vCPU `index` stops running (its thread ends, or the process forked and it is gone).
pub fn unregister(index: u32) {
    running()[index as usize] = None;
    // Nothing owes it a kick any more (the helper would send it again and again).
    KICKED[index as usize].store(false, Ordering::SeqCst);
}

/// How many vCPUs run now.
pub fn running_count() -> usize {
    running().iter().filter(|r| r.is_some()).count()
}

/// In a forked child: only the forking thread's vCPU exists.
pub fn only_this_vcpu(index: u32) {
    let mut r = running();
    for (i, slot) in r.iter_mut().enumerate() {
        if i != index as usize {
            *slot = None;
        }
    }
}

/// Stop the vCPUs in `vcpus` and have each take the kick interrupt.
pub fn kick_vcpus(vcpus: VcpuSet) {
    let Some(sig) = sys::thread_kick_signal() else { return };
    let r = running();
    let mut owed = false;
    for (i, slot) in r.iter().enumerate() {
        if !vcpus.contains(i as u32) {
            continue;
        }
        let Some(t) = slot else { continue };
        KICKED[i].store(true, Ordering::SeqCst);
        owed = true;
        kick_one(i, t, sig);
    }
    drop(r);
    if owed {
        rekicker_wanted();
    }
}

/// Stop the vCPU of registered thread `t` (index `i`): its "do not enter" flag, and the
/// kick signal to its thread, which ends KVM_RUN or a host call it is blocked in. The
/// first vCPU's blocking host calls are made by its hypercall worker: kicked too.
fn kick_one(i: usize, t: &Running, sig: libc::c_int) {
    if t.immediate_exit != 0 {
        // SAFETY: the flag lives in the vCPU's hypervisor-shared page while it is
        // registered, and the caller holds the registry lock, which keeps it registered.
        unsafe { (*(t.immediate_exit as *const AtomicU8)).store(1, Ordering::SeqCst) };
    }
    // After the flag: a vCPU forced out just before its next entry finds the flag there.
    if let Some(f) = t.force_exit {
        f.force();
    }
    // SAFETY: a registered thread is alive (it unregisters before it ends, under the
    // registry lock the caller holds); pthread_kill with a signal the monitor catches.
    unsafe { libc::pthread_kill(t.pthread as libc::pthread_t, sig) };
    if i as u32 == main_index() {
        crate::signals::kick_worker_with(sig);
    }
}

/// A kick can be lost: one that lands after its thread last looked and before it blocks
/// in a host call (a pipe read) interrupts nothing. So a kick stays owed (`KICKED`) until
/// the vCPU takes its interrupt, and a helper thread sends owed kicks again every few
/// milliseconds. It exists only in a process that has had a second vCPU thread (so a
/// single-threaded monitor still forks with one thread), and sleeps while nothing is owed.
static REKICKER: Mutex<Option<(u32, std::thread::Thread)>> = Mutex::new(None);
const REKICK_EVERY: std::time::Duration = std::time::Duration::from_millis(5);

fn rekicker_wanted() {
    let guard = REKICKER.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((pid, t)) = guard.as_ref() {
        if *pid == std::process::id() {
            t.unpark();
        }
    }
}

/// Start the helper for this process if it has none (called as a second vCPU starts).
fn ensure_rekicker() {
    let mut guard = REKICKER.lock().unwrap_or_else(PoisonError::into_inner);
    if guard.as_ref().is_some_and(|(pid, _)| *pid == std::process::id()) {
        return;
    }
    let spawned = std::thread::Builder::new().name("rekick".into()).spawn(rekick_loop);
    if let Ok(handle) = spawned {
        *guard = Some((std::process::id(), handle.thread().clone()));
    }
}

fn rekick_loop() {
    // Host signals are for the vCPU threads and the worker, not for this one.
    sys::block_all_signals_on_this_thread();
    let Some(sig) = sys::thread_kick_signal() else { return };
    loop {
        if !KICKED.iter().any(|k| k.load(Ordering::SeqCst)) {
            std::thread::park();
            continue;
        }
        std::thread::sleep(REKICK_EVERY);
        let r = running();
        for (i, slot) in r.iter().enumerate() {
            if let (true, Some(t)) = (KICKED[i].load(Ordering::SeqCst), slot) {
                kick_one(i, t, sig);
            }
        }
    }
}

/// Whether a kick is owed to vCPU `index` (taking it).
pub fn take_kick(index: u32) -> bool {
    KICKED[index as usize].swap(false, Ordering::SeqCst)
}

/// Interrupt every registered vCPU's thread but `me`'s, out of the guest or out of a host
/// call, with no kick owed (`KICKED` stays as it is): for `fork_suspend`.
pub fn interrupt_others(me: u32) {
    let sig = sys::thread_kick_signal();
    for (i, slot) in running().iter().enumerate() {
        let Some(t) = slot else { continue };
        if i as u32 == me {
            continue;
        }
        if t.immediate_exit != 0 {
            // SAFETY: as in `kick_one`: the registry lock is held.
            unsafe { (*(t.immediate_exit as *const AtomicU8)).store(1, Ordering::SeqCst) };
        }
        if let Some(f) = t.force_exit {
            f.force();
        }
        if let Some(sig) = sig {
            // SAFETY: as in `kick_one`.
            unsafe { libc::pthread_kill(t.pthread as libc::pthread_t, sig) };
        }
    }
}

/// What the threads of one process share.
pub struct ThreadHost {
    pub vm: Arc<dyn Vm>,
    pub mem: Arc<GuestMemory>,
    pub server: Arc<Server>,
    pub flavour: Flavour,
    /// The program is ending: threads leave their loops.
    dying: AtomicBool,
    /// Why a thread's vCPU died (the whole program fails with it).
    failure: Mutex<Option<String>>,
    /// The first vCPU's thread, to wake while it waits for the end (its thread exited).
    main: std::thread::Thread,
    /// The first vCPU has a hypercall worker (the shared-memory transport is in use): so
    /// does the first vCPU of a child forked by another thread, or of a thread that execs.
    exitless: bool,
    /// A thread that execs hands its vCPU to the first vCPU's thread (`VcpuRequest::ExecLeader`).
    handover: Mutex<Option<Handover>>,
}

/// The vCPU of a thread that execs, on its way to the first vCPU's host thread, whose id
/// is the pid: the thread becomes the process's first, as Linux's de_thread makes it.
pub struct Handover {
    pub vcpu: Box<dyn Vcpu>,
    pub index: u32,
    pub block: u64,
    /// The exec'ing thread's host credentials, which the new program keeps.
    pub creds: sys::ThreadCreds,
}

// SAFETY: a vCPU moves between host threads only here, on KVM (threads exist only where a
// VM has several vCPUs; the Hypervisor.framework backend keeps one): KVM serves a vCPU's
// ioctls from any thread of the process that made it, and the vCPU's old thread makes no
// call on it once it has handed it over (it ends).
unsafe impl Send for Handover {}

/// What the first vCPU's thread found while its thread had exited.
pub enum Waited {
    /// The program's end.
    End(crate::server::GuestOutcome),
    /// A thread that execs: it becomes the first, on this host thread.
    Leader(Handover),
}

impl ThreadHost {
    pub fn new(
        vm: Arc<dyn Vm>,
        mem: Arc<GuestMemory>,
        server: Arc<Server>,
        flavour: Flavour,
        exitless: bool,
    ) -> ThreadHost {
        ThreadHost {
            vm,
            mem,
            server,
            flavour,
            dying: AtomicBool::new(false),
            failure: Mutex::new(None),
            main: std::thread::current(),
            exitless,
            handover: Mutex::new(None),
        }
    }

    /// A vCPU thread's failure, for the first vCPU's thread to report.
    pub fn take_failure(&self) -> Option<MachineError> {
        self.failure.lock().unwrap_or_else(PoisonError::into_inner).take().map(MachineError)
    }

    /// The end of the program has been decided: stop every other vCPU.
    pub fn stop_all(&self) {
        self.dying.store(true, Ordering::SeqCst);
        kick_vcpus(VcpuSet::all().without(main_index()));
    }

    /// Something for the first vCPU's thread (the outcome, a failure): interrupt it.
    fn tell_main(&self) {
        kick_vcpus(VcpuSet::only(main_index()));
        self.main.unpark();
    }

    /// The first thread has exited while others run: wait for the program's end, or for a
    /// thread that execs and becomes the first (its vCPU then runs on this host thread).
    /// Signals from outside still come to this thread (the monitor kicks the first vCPU's),
    /// so they are passed to the running vCPUs, whose guest gives each to a thread that
    /// takes it.
    pub fn wait_for_end(&self, vcpu: &mut dyn Vcpu) -> Result<Waited, MachineError> {
        unregister(main_index());
        loop {
            // Its vCPU still exists: a fork by another thread may need it suspended.
            crate::fork_suspend::suspend_if_forking(vcpu).map_err(|e| MachineError(format!("first vCPU: {e}")))?;
            if let Some(o) = self.server.take_outcome() {
                return Ok(Waited::End(o));
            }
            if let Some(h) = self.handover.lock().unwrap_or_else(PoisonError::into_inner).take() {
                return Ok(Waited::Leader(h));
            }
            if let Some(e) = self.take_failure() {
                return Err(e);
            }
            if crate::signals::pending() != 0 {
                kick_vcpus(VcpuSet::all().without(main_index()));
            }
            std::thread::park_timeout(std::time::Duration::from_millis(20));
        }
    }

    /// `VcpuRequest::StartThread`: a host thread for the new vCPU, the idle one an ended thread
    /// with this vCPU index left if there is one; `Ret(tid)` as soon as the tid is known
    /// (the vCPU may still be on its way: the guest keeps the new thread from user code
    /// until its creator has written the ids).
    pub fn start(self: &Arc<Self>, mut start: ThreadStart) -> Response {
        if !self.valid_start(&start) || sys::thread_kick_signal().is_none() {
            return Response::Ret(-i64::from(errno::EAGAIN));
        }
        if let Some(idle) = take_idle(start.vcpu) {
            // A new thread has its creator's credentials: the ended thread's host thread
            // serves it only if it has them too (a host thread cannot always take another's
            // ids: one that dropped root cannot get it back). Otherwise it ends, and a new
            // host thread, which inherits this one's, takes its vCPU.
            if idle.creds == sys::thread_creds() {
                let tid = idle.tid;
                // Counted before the thread can run, so that its first line has the prefix.
                crate::strace::thread_started(tid);
                match idle.next.send(Next::Start(start)) {
                    Ok(()) => return Response::Ret(i64::from(tid)),
                    // Its thread is gone (it cannot be, but then a new one does the work).
                    Err(std::sync::mpsc::SendError(Next::Start(back))) => {
                        crate::strace::thread_gone(tid);
                        start = back
                    }
                    Err(_) => unreachable!("only a start was sent"),
                }
            } else {
                let (done_tx, done_rx) = std::sync::mpsc::channel();
                if idle.next.send(Next::Quit(done_tx)).is_ok() {
                    let _ = done_rx.recv();
                }
            }
        }
        let (tx, rx) = std::sync::mpsc::channel();
        let host = self.clone();
        let spawned =
            std::thread::Builder::new().name(format!("vcpu{}", start.vcpu)).spawn(move || host.run_thread(start, tx));
        if spawned.is_err() {
            return Response::Ret(-i64::from(errno::EAGAIN));
        }
        match rx.recv() {
            Ok(Ok(tid)) => Response::Ret(i64::from(tid)),
            Ok(Err(e)) => {
                log::warn!("starting a thread's vCPU: {e}");
                Response::Ret(-i64::from(errno::EAGAIN))
            }
            Err(_) => Response::Ret(-i64::from(errno::EAGAIN)),
        }
    }

    /// The guest's block for a new thread must be one a vCPU may have: a static block for
    /// the first indexes, else a whole block of guest RAM; its page tables in guest RAM.
    fn valid_start(&self, s: &ThreadStart) -> bool {
        let index = u64::from(s.vcpu);
        let block_ok = if index < STATIC_VCPU_BLOCKS {
            s.block == vcpu_block_gpa(index)
        } else {
            s.block.is_multiple_of(VCPU_BLOCK_SIZE)
                && s.block.checked_add(VCPU_BLOCK_SIZE).is_some_and(|e| e <= self.mem.size())
        };
        index != u64::from(main_index())
            && index < MAX_VCPUS
            && block_ok
            && s.cr3.is_multiple_of(0x2000)
            && s.cr3 < self.mem.size()
    }

    /// A thread's host thread: say its tid, build its vCPU, run it until the thread ends;
    /// then wait, with the vCPU, for the next thread given its index (a new thread then
    /// costs no host thread, no vCPU and no descriptor: most of its start-up).
    fn run_thread(self: Arc<Self>, start: ThreadStart, ready: Ready) {
        let tid = sys::gettid();
        // Counted before the thread can run, so that its first line has the prefix.
        crate::strace::thread_started(tid);
        let _ = ready.send(Ok(tid));
        let mut vcpu = match self.prepare_vcpu(&start) {
            Ok(v) => v,
            Err(e) => {
                // The guest already counts the thread: the program cannot go on right.
                self.thread_ended(&start, ThreadEnd::Failed(format!("starting a thread's vCPU: {e}")));
                return;
            }
        };
        let mut start = start;
        loop {
            let end = self.run_one_thread(&start, vcpu.as_mut());
            if matches!(end, ThreadEnd::Exited | ThreadEnd::Leader) {
                // Gone from --strace's count (an exec's other threads end without a line;
                // the exec'ing one goes on as the first, under its id).
                crate::strace::thread_gone(tid);
            }
            if let ThreadEnd::BecameChild(child) = end {
                let (answer, wake) = *child;
                self.continue_as_child(&start, vcpu, answer, wake);
            }
            if let ThreadEnd::Leader = end {
                // The vCPU goes on as the first, on the first vCPU's host thread; this one
                // ends (its index stays in use).
                let handover = Handover { vcpu, index: start.vcpu, block: start.block, creds: sys::thread_creds() };
                *self.handover.lock().unwrap_or_else(PoisonError::into_inner) = Some(handover);
                self.main.unpark();
                return;
            }
            if !matches!(end, ThreadEnd::Exited) || !self.vm.keeps_idle_vcpus() || vcpu.finish_pending_exit().is_err() {
                // The vCPU goes back to the VM (or is destroyed, where the hypervisor can and
                // a fork needs it) before the guest may give its index again.
                drop(vcpu);
                self.thread_ended(&start, end);
                return;
            }
            let (tx, rx) = std::sync::mpsc::channel();
            put_idle(Idle { index: start.vcpu, tid, creds: sys::thread_creds(), next: tx });
            // Only now may the guest give the index to a new thread, which comes here.
            self.thread_ended(&start, ThreadEnd::Exited);
            let next = match rx.recv() {
                Ok(Next::Start(next)) => next,
                Ok(Next::Quit(done)) => {
                    drop(vcpu);
                    let _ = done.send(());
                    return;
                }
                Err(_) => return,
            };
            if let Err(e) = self.restart_vcpu(&next, vcpu.as_mut()) {
                drop(vcpu);
                self.thread_ended(&next, ThreadEnd::Failed(format!("restarting a thread's vCPU: {e}")));
                return;
            }
            start = next;
        }
    }

    /// Serve the thread's vCPU until the thread or the program ends.
    fn run_one_thread(self: &Arc<Self>, start: &ThreadStart, vcpu: &mut dyn Vcpu) -> ThreadEnd {
        KICKED[start.vcpu as usize].store(false, Ordering::SeqCst);
        register(start.vcpu, vcpu);
        ensure_rekicker();
        let end = self.serve_thread(start, vcpu);
        unregister(start.vcpu);
        end
    }

    /// What the end of a thread's loop means for the others.
    fn thread_ended(&self, start: &ThreadStart, end: ThreadEnd) {
        match end {
            ThreadEnd::Exited => {
                if let Ok(word) = self.mem.atomic_u64(start.block + vcpu_block::VCPU_IN_USE) {
                    word.store(0, Ordering::SeqCst);
                }
            }
            ThreadEnd::ProgramEnds | ThreadEnd::BecameChild(_) | ThreadEnd::Leader => self.tell_main(),
            ThreadEnd::Failed(e) => {
                *self.failure.lock().unwrap_or_else(PoisonError::into_inner) = Some(e);
                self.tell_main();
            }
        }
    }

    /// An idle vCPU takes a new thread: its descriptor tables and start registers.
    fn restart_vcpu(&self, s: &ThreadStart, vcpu: &mut dyn Vcpu) -> Result<(), String> {
        crate::boot_image::write_gdt_tss(&self.mem, s.block).map_err(|e| e.0)?;
        let state = crate::boot_image::boot_state(self.flavour, s.block, s.cr3, s.entry, s.arg);
        vcpu.set_boot_state(&state).map_err(|e| e.to_string())
    }

    fn prepare_vcpu(&self, s: &ThreadStart) -> Result<Box<dyn Vcpu>, String> {
        crate::boot_image::write_gdt_tss(&self.mem, s.block).map_err(|e| e.0)?;
        // A new vCPU's descriptor is the monitor's, above the program's fd limit.
        let made = crate::startup::with_fd_room(|| self.vm.create_vcpu(u64::from(s.vcpu), &self.mem));
        let mut vcpu = made.map_err(|e| e.to_string())?;
        for fd in self.vm.owned_fds() {
            if !self.server.fds.is_reserved(fd) {
                self.server.fds.reserve(fd);
            }
        }
        let state = crate::boot_image::boot_state(self.flavour, s.block, s.cr3, s.entry, s.arg);
        vcpu.set_boot_state(&state).map_err(|e| e.to_string())?;
        Ok(vcpu)
    }

    /// A thread's vCPU loop: its hypercalls and exits, until the thread or program ends.
    fn serve_thread(self: &Arc<Self>, start: &ThreadStart, vcpu: &mut dyn Vcpu) -> ThreadEnd {
        let (index, block) = (start.vcpu, start.block);
        let mut channel = Channel::new(block);
        loop {
            if self.dying.load(Ordering::SeqCst) {
                return ThreadEnd::ProgramEnds;
            }
            match crate::fork_suspend::suspend_if_forking(vcpu) {
                Ok(true) => register(index, vcpu),
                Ok(false) => {}
                Err(e) => return ThreadEnd::Failed(format!("thread vCPU {index}: {e}")),
            }
            let exit = match vcpu.run() {
                Ok(e) => e,
                Err(e) => return ThreadEnd::Failed(format!("thread vCPU {index}: {e}")),
            };
            match exit {
                Exit::Hypercall | Exit::HypercallWorkerAsleep => {
                    if self.dying.load(Ordering::SeqCst) {
                        return ThreadEnd::ProgramEnds;
                    }
                    match crate::server::vcpu_request(&self.mem, block) {
                        Some(VcpuRequest::ThreadExit) => return ThreadEnd::Exited,
                        Some(VcpuRequest::ExecLeader) => return ThreadEnd::Leader,
                        Some(VcpuRequest::StartThread { vcpu, block: at, cr3, entry, arg }) => {
                            let r = self.start(ThreadStart { vcpu, block: at, cr3, entry, arg });
                            if let Err(e) = crate::machine::answer(&self.mem, block, &r) {
                                return ThreadEnd::Failed(e.0);
                            }
                        }
                        Some(VcpuRequest::Fork { vfork }) => match self.fork(start, vcpu, vfork) {
                            Ok(ForkSide::Parent(r)) => {
                                // A vCPU rebuilt for the fork has new kick words.
                                register(index, vcpu);
                                if let Err(e) = crate::machine::answer(&self.mem, block, &r) {
                                    return ThreadEnd::Failed(e.0);
                                }
                            }
                            Ok(ForkSide::Child(r, wake)) => return ThreadEnd::BecameChild(Box::new((r, wake))),
                            Err(e) => return ThreadEnd::Failed(e),
                        },
                        None => crate::server::serve_area(&self.server, &mut channel, &self.mem),
                    }
                    if self.server.has_outcome() || self.server.is_poisoned() {
                        return ThreadEnd::ProgramEnds;
                    }
                }
                Exit::Interrupted => {
                    if take_kick(index) || crate::signals::pending() != 0 {
                        if let Err(e) = vcpu.inject_interrupt(SIGNAL_KICK_VECTOR) {
                            return ThreadEnd::Failed(format!("thread vCPU {index}: {e}"));
                        }
                    }
                }
                Exit::GrowRam => {
                    if let Err(e) = crate::machine::grow_ram(self.vm.as_ref(), &self.mem, block) {
                        return ThreadEnd::Failed(e.0);
                    }
                }
                // A touch past a shared file's end: this thread's own SIGBUS, as on the
                // first vCPU.
                Exit::BadAddress => match crate::machine::ask_window_resync(&self.mem, block, vcpu) {
                    Ok(true) => {}
                    Ok(false) => {
                        return ThreadEnd::Failed(self.stopped(index, block, vcpu, crate::machine::BAD_ADDRESS))
                    }
                    Err(e) => return ThreadEnd::Failed(format!("thread vCPU {index}: {e}")),
                },
                other => return ThreadEnd::Failed(self.stopped(index, block, vcpu, &format!("{other:?}"))),
            }
        }
    }

    /// Why thread vCPU `index` cannot go on, with its state for the report.
    fn stopped(&self, index: u32, block: u64, vcpu: &dyn Vcpu, why: &str) -> String {
        format!(
            "thread vCPU {index} stopped: {why}; vCPU state: {}; syscall in flight: {}; {}",
            vcpu.snapshot(),
            crate::machine::syscall_in_flight(&self.mem, block),
            crate::machine::last_entry(&self.mem, block)
        )
    }
}

/// Where a thread's fork left its host thread, with the guest's answer (and in the child,
/// the eventfd of its hypercall worker's port, when it gets a worker).
enum ForkSide {
    Parent(Response),
    Child(Response, Option<std::fs::File>),
}

/// The locks other monitor threads may take while a thread forks (the guest's other
/// threads are stopped at its fork gate, but their host threads still look at kicks and
/// the program's outcome): held across the host fork, so that none is held by a thread
/// that does not exist in the child.
pub struct HeldForFork<'a> {
    _running: std::sync::MutexGuard<'static, [Option<Running>; SLOTS]>,
    _rekicker: std::sync::MutexGuard<'static, Option<(u32, std::thread::Thread)>>,
    _idle: std::sync::MutexGuard<'static, (u32, Vec<Idle>)>,
    _failure: std::sync::MutexGuard<'a, Option<String>>,
    _outcome: std::sync::MutexGuard<'a, Option<crate::server::GuestOutcome>>,
    _suspend: crate::fork_suspend::Held,
}

impl ThreadHost {
    /// The locks of `HeldForFork`, in the one order every forking thread takes them.
    pub fn hold_for_fork(&self) -> HeldForFork<'_> {
        HeldForFork {
            _running: running(),
            _rekicker: REKICKER.lock().unwrap_or_else(PoisonError::into_inner),
            _idle: IDLE.lock().unwrap_or_else(PoisonError::into_inner),
            _failure: self.failure.lock().unwrap_or_else(PoisonError::into_inner),
            _outcome: self.server.hold_outcome_for_fork(),
            _suspend: crate::fork_suspend::hold(),
        }
    }

    /// fork(2) from a thread other than the first, on its vCPU's host thread (the only
    /// thread the host child keeps, which then runs the child as its first thread). The
    /// guest has stopped its other threads at its fork gate; the hypercall worker of the
    /// first thread stays in the parent (the child starts its own: `continue_as_child`).
    fn fork(&self, start: &ThreadStart, vcpu: &mut dyn Vcpu, vfork: bool) -> Result<ForkSide, String> {
        crate::startup::with_fd_room(|| self.fork_with_room(start, vcpu, vfork))
    }

    fn fork_with_room(&self, start: &ThreadStart, vcpu: &mut dyn Vcpu, vfork: bool) -> Result<ForkSide, String> {
        let Ok(suspension) = crate::fork_suspend::suspend_others_for_fork(self.vm.as_ref(), start.vcpu) else {
            return Ok(ForkSide::Parent(Response::Ret(-i64::from(errno::EAGAIN))));
        };
        let vmm = |e: crate::vmm::VmmError| format!("fork: {e}");
        vcpu.suspend_for_fork().map_err(vmm)?;
        self.vm.prepare_fork().map_err(vmm)?;
        let old_fds = self.vm.owned_fds();
        // A vfork whose link cannot be made is still a fork: the parent just does not wait.
        let mut link = if vfork { crate::server::VforkLink::new(self.server.fds.floor()).ok() } else { None };
        use std::io::Write;
        let _ = std::io::stdout().flush();
        let held = self.hold_for_fork();
        let pid = crate::signals::fork_holding_signals();
        drop(held);
        if pid >= 0 {
            crate::strace::forked(pid);
        }
        let side = match pid {
            p if p < 0 => {
                let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EAGAIN);
                self.vm.after_fork_parent(&self.mem).map_err(vmm)?;
                ForkSide::Parent(Response::Ret(-i64::from(crate::host::errno_to_linux(e))))
            }
            0 => {
                crate::machine::unshare_kernel_block(&self.mem);
                self.vm.after_fork_child(&self.mem).map_err(vmm)?;
                log::debug!("fork from vCPU {}: child {}", start.vcpu, std::process::id());
                // Only this thread exists here: no hypercall worker, no other vCPU.
                crate::signals::set_worker_thread(false);
                only_this_vcpu(start.vcpu);
                set_main(start.vcpu);
                // The child's first vCPU gets a hypercall worker as the parent's first has
                // one (the guest, seeing the shared-memory transport, sends it its
                // requests): the eventfd of its port, one of the monitor's descriptors.
                let wake =
                    if self.exitless { self.vm.wake_eventfd(abi_shared::layout::ports::HYPERCALL_WAKE) } else { None };
                self.server.reset_hypercalls();
                self.server.ptrace.forget_in_child();
                // macOS: the child did not inherit the kqueues behind epoll sets and timerfds.
                crate::host::sys::emulated_after_fork();
                if let Some(l) = link.take() {
                    self.server.set_vfork_done(l.child_keeps());
                }
                ForkSide::Child(
                    Response::Forked { pid: std::process::id() as i32, child: true, seed: crate::entropy::seed() },
                    wake,
                )
            }
            child => {
                // Not `unshare_kernel_block`: the other vCPUs may run while it copies.
                self.vm.after_fork_parent(&self.mem).map_err(vmm)?;
                if let Some(l) = link.take() {
                    self.server.set_vfork_wait(l.parent_side());
                }
                ForkSide::Parent(Response::Forked { pid: child, child: false, seed: crate::entropy::seed() })
            }
        };
        // The VM is rebuilt: the other vCPUs, if they were suspended, may resume.
        drop(suspension);
        vcpu.resume_after_fork().map_err(vmm)?;
        if matches!(side, ForkSide::Child(..)) {
            // The child's VM, wake eventfd and (just now) vCPU are the monitor's.
            self.server.fds.replace_vm_fds(&old_fds, &self.vm.owned_fds());
        }
        Ok(side)
    }

    /// In the child of a fork by this thread: run the program here, as its first thread,
    /// until it ends; then end the process as linuxrun ends.
    fn continue_as_child(
        &self,
        start: &ThreadStart,
        vcpu: Box<dyn Vcpu>,
        answer: Response,
        wake: Option<std::fs::File>,
    ) -> ! {
        let mut machine = crate::machine::Machine::forked_from_thread(
            self.mem.clone(),
            self.vm.clone(),
            vcpu,
            self.flavour,
            start.vcpu,
            start.block,
            wake,
        );
        let outcome = match crate::machine::answer(&self.mem, start.block, &answer) {
            Ok(()) => machine.run(self.server.clone(), &mut std::collections::BTreeMap::new()),
            Err(e) => Err(e),
        };
        crate::finish_forked_child(outcome, &machine)
    }
}

/// How a thread's loop ended.
enum ThreadEnd {
    /// The Linux thread exited; the vCPU may be reused.
    Exited,
    /// The program ends (exit_group, or the end another thread reported).
    ProgramEnds,
    /// The thread forked and this is the child, where it is the first thread.
    BecameChild(Box<(Response, Option<std::fs::File>)>),
    /// The thread execs and becomes the process's first (`VcpuRequest::ExecLeader`).
    Leader,
    Failed(String),
}
