//! Signals from outside the program: kill from another process, Ctrl-C, SIGWINCH, a
//! broken pipe. One Linux process is one host process, so they arrive at the monitor.
//!
//! The guest tells the monitor what its signal state needs from the host
//! (`ControlRequest::SignalDispositions`) and the monitor mirrors it with host dispositions:
//! - **default**: the host's default action runs, and it is Linux's: the process dies,
//!   stops or continues, and its parent sees exactly that status;
//! - **ignore**: ignored by the host too, which also keeps it ignored across a host exec;
//! - **catch** (a handler, or a blocked signal whose default would act): `on_signal` records
//!   the siginfo in the vCPU block (`HOST_SIGNAL_INFO`, then the bit in
//!   `HOST_SIGNALS_PENDING`), where the guest takes it on its next return to user mode.
//!
//! To make that return happen soon, the handler runs without SA_RESTART, so a host syscall
//! blocked on the guest's behalf (a read on an empty pipe, wait4) fails with EINTR, which
//! the guest turns into Linux's EINTR or a restart; and it kicks the other monitor thread
//! with the same signal (the worker, or the vCPU thread in KVM_RUN, which also gets
//! immediate_exit for a kick that comes just before it enters). A kick is recognised by its
//! sender: our own pid. The vCPU thread then injects `SIGNAL_KICK_VECTOR` into a guest that
//! runs user code.

use std::sync::atomic::{AtomicPtr, AtomicU64, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;

use abi_shared::hypercall::HostSignalInfo;
use abi_shared::layout::vcpu_block;

use crate::guest_mem::GuestMemory;
use crate::host;

/// The vCPU block's pending word and info slots (host addresses; null before `attach`).
static PENDING: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());
static INFO: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
/// The real-time signal queue's counter, overflow word and first entry (see the layout).
static RT_SEQ: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());
static RT_OVERFLOW: AtomicPtr<AtomicU64> = AtomicPtr::new(std::ptr::null_mut());
static RT_QUEUE: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
/// kvm_run.immediate_exit of the vCPU (null where the backend has none).
static IMMEDIATE_EXIT: AtomicPtr<AtomicU8> = AtomicPtr::new(std::ptr::null_mut());
/// The vCPU's `ForceExit` as its two words (call 0: none; Hypervisor.framework has one).
static FORCE_EXIT_CALL: AtomicUsize = AtomicUsize::new(0);
static FORCE_EXIT_VCPU: AtomicU64 = AtomicU64::new(0);
/// The monitor's two threads, as pthread_t (0: none).
static VCPU_THREAD: AtomicUsize = AtomicUsize::new(0);
static WORKER_THREAD: AtomicUsize = AtomicUsize::new(0);

const SIGPIPE: i32 = abi_shared::linux::general::SIGPIPE as i32;
/// Linux's si_code of a POSIX message queue's notification.
use abi_shared::linux::general::SI_MESGQ;

/// What the host does with one signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Class {
    Default,
    Ignore,
    Catch,
}

/// The Linux signals the host catches for the guest, as a mask a handler may read.
static CAUGHT: AtomicU64 = AtomicU64::new(0);

/// The classes set so far, per Linux signal (to change only what changed).
static CLASSES: Mutex<[Option<Class>; 65]> = Mutex::new([None; 65]);

/// Point the handler at the signal area of the vCPU block at `block`.
pub fn attach(mem: &GuestMemory, block: u64) {
    let info_len = vcpu_block::HOST_SIGNAL_INFO_SIZE * 65;
    let queue_len = vcpu_block::HOST_SIGNAL_INFO_SIZE * vcpu_block::HOST_RT_QUEUE_LEN;
    if let (Ok(p), Ok(i), Ok(seq), Ok(overflow), Ok(q)) = (
        mem.atomic_u64(block + vcpu_block::HOST_SIGNALS_PENDING),
        mem.range(block + vcpu_block::HOST_SIGNAL_INFO, info_len),
        mem.atomic_u64(block + vcpu_block::HOST_RT_SEQ),
        mem.atomic_u64(block + vcpu_block::HOST_RT_OVERFLOW),
        mem.range(block + vcpu_block::HOST_RT_QUEUE, queue_len),
    ) {
        INFO.store(i, Ordering::SeqCst);
        RT_SEQ.store(seq as *const AtomicU64 as *mut AtomicU64, Ordering::SeqCst);
        RT_OVERFLOW.store(overflow as *const AtomicU64 as *mut AtomicU64, Ordering::SeqCst);
        RT_QUEUE.store(q, Ordering::SeqCst);
        PENDING.store(p as *const AtomicU64 as *mut AtomicU64, Ordering::SeqCst);
    }
}

/// The calling thread runs the vCPU; `immediate_exit` is its backend's "do not enter" flag
/// and `force_exit` the call that stops it in the guest, where the backend has one.
pub fn set_vcpu_thread(immediate_exit: Option<&AtomicU8>, force_exit: Option<crate::vmm::ForceExit>) {
    IMMEDIATE_EXIT.store(
        immediate_exit.map_or(std::ptr::null_mut(), |f| f as *const AtomicU8 as *mut AtomicU8),
        Ordering::SeqCst,
    );
    let (call, vcpu) = force_exit.map_or((0, 0), |f| f.to_raw());
    FORCE_EXIT_CALL.store(0, Ordering::SeqCst);
    FORCE_EXIT_VCPU.store(vcpu, Ordering::SeqCst);
    FORCE_EXIT_CALL.store(call, Ordering::SeqCst);
    // SAFETY: pthread_self cannot fail.
    VCPU_THREAD.store(unsafe { libc::pthread_self() } as usize, Ordering::SeqCst);
}

/// The calling thread is the hypercall worker (`false`: it is gone).
pub fn set_worker_thread(present: bool) {
    // SAFETY: pthread_self cannot fail.
    let me = if present { (unsafe { libc::pthread_self() }) as usize } else { 0 };
    WORKER_THREAD.store(me, Ordering::SeqCst);
}

/// The guest is gone: no handler may touch its memory or the vCPU any more. Called on the
/// last monitor thread (the worker has ended): its signals are blocked, so no handler runs
/// while the pointers are cleared and the memory is unmapped afterwards. A signal that
/// arrives now stays pending and dies with the process, as if it came after the exit.
pub fn detach() {
    host::sys::block_all_signals_on_this_thread();
    IMMEDIATE_EXIT.store(std::ptr::null_mut(), Ordering::SeqCst);
    FORCE_EXIT_CALL.store(0, Ordering::SeqCst);
    PENDING.store(std::ptr::null_mut(), Ordering::SeqCst);
    INFO.store(std::ptr::null_mut(), Ordering::SeqCst);
    RT_QUEUE.store(std::ptr::null_mut(), Ordering::SeqCst);
    RT_SEQ.store(std::ptr::null_mut(), Ordering::SeqCst);
    RT_OVERFLOW.store(std::ptr::null_mut(), Ordering::SeqCst);
    VCPU_THREAD.store(0, Ordering::SeqCst);
}

/// fork(2) for the monitor (one thread left), with host signals held across it. The child's
/// memory holds a copy of the signals caught for the parent and not taken yet, which it must
/// drop (Linux does not pass pending signals on); a signal sent to the new child before that
/// would be recorded there and dropped with them, and a SIGTSTP sent at once by the parent
/// would be lost. Held, it waits in the host until the copy is gone.
pub fn fork_holding_signals() -> libc::pid_t {
    // SAFETY: pthread_sigmask with valid sets; fork with one thread in the process (the
    // caller's contract), so the child starts with consistent locks and allocator state.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let pid = libc::fork();
        if pid == 0 {
            forget_parents_pending();
        }
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        pid
    }
}

/// In a forked child: drop the copy of the parent's caught, untaken signals.
fn forget_parents_pending() {
    let (p, overflow, queue) =
        (PENDING.load(Ordering::SeqCst), RT_OVERFLOW.load(Ordering::SeqCst), RT_QUEUE.load(Ordering::SeqCst));
    if p.is_null() || overflow.is_null() || queue.is_null() {
        return;
    }
    // SAFETY: `attach` checked these words and the queue lie in guest RAM, which the child
    // inherited at the same host address; each queue entry's state word is at offset 24.
    unsafe {
        (*p).store(0, Ordering::SeqCst);
        (*overflow).store(0, Ordering::SeqCst);
        for k in 0..vcpu_block::HOST_RT_QUEUE_LEN as usize {
            let state = queue.add(k * vcpu_block::HOST_SIGNAL_INFO_SIZE as usize + 24) as *const AtomicU64;
            (*state).store(RT_FREE, Ordering::SeqCst);
        }
    }
}

/// Forget the vCPU's immediate_exit flag (its vCPU is being replaced).
pub fn detach_vcpu() {
    IMMEDIATE_EXIT.store(std::ptr::null_mut(), Ordering::SeqCst);
    FORCE_EXIT_CALL.store(0, Ordering::SeqCst);
}

/// Set the vCPU's "do not enter" flag and force it out of the guest where the backend can
/// (async-signal-safe: atomics and the framework's trap).
fn stop_vcpu() {
    let flag = IMMEDIATE_EXIT.load(Ordering::SeqCst);
    if !flag.is_null() {
        // SAFETY: the vCPU's flag stays valid while the pointer is published. Set first, so
        // that a run about to start returns at once instead of missing the kick.
        unsafe { (*flag).store(1, Ordering::SeqCst) };
    }
    let vcpu = FORCE_EXIT_VCPU.load(Ordering::SeqCst);
    if let Some(f) = crate::vmm::ForceExit::from_raw(FORCE_EXIT_CALL.load(Ordering::SeqCst), vcpu) {
        f.force();
    }
}

/// Signals caught and not yet taken by the guest (Linux mask).
pub fn pending() -> u64 {
    let p = PENDING.load(Ordering::SeqCst);
    if p.is_null() {
        return 0;
    }
    // SAFETY: `attach` stored the address of an AtomicU64 in guest RAM, which stays mapped
    // at the same host address for the life of the process (fork included).
    unsafe { (*p).load(Ordering::SeqCst) }
}

/// Interrupt a host syscall the worker is blocked in on the guest's behalf, with one of the
/// pending signals (its handler recognises the kick and does nothing else).
pub fn kick_worker() {
    kick_with_a_pending_signal(&WORKER_THREAD);
}

/// Interrupt a host call the worker is blocked in with host signal `host_sig` (a kick for
/// a signal the guest has for its first thread).
pub fn kick_worker_with(host_sig: libc::c_int) {
    kick(&WORKER_THREAD, host_sig);
}

/// Interrupt the vCPU thread (a host call it serves itself, or KVM_RUN) with one of the
/// pending signals, as `kick_worker` does for the worker.
pub fn kick_vcpu() {
    kick_with_a_pending_signal(&VCPU_THREAD);
}

/// A guest timer raising Linux signal `sig` is due: interrupt the vCPU thread (a guest in
/// user code takes the kick interrupt and finds the timer due) with that signal, which the
/// guest has the host catch while the timer is armed.
pub fn kick_vcpu_for_timer(sig: i32) {
    let Some(h) = host::host_signal_of(sig) else { return };
    stop_vcpu();
    kick(&VCPU_THREAD, h);
}

/// As `kick_vcpu_for_timer`, for the worker blocked in a host call on the guest's behalf.
pub fn kick_worker_for_timer(sig: i32) {
    if let Some(h) = host::host_signal_of(sig) {
        kick(&WORKER_THREAD, h);
    }
}

fn kick_with_a_pending_signal(thread: &AtomicUsize) {
    let sig = pending();
    if sig == 0 {
        return;
    }
    if let Some(h) = host::host_signal_of(sig.trailing_zeros() as i32 + 1) {
        kick(thread, h);
    }
}

/// From a signal handler: kick the first vCPU's thread and the worker, whichever of them
/// is not the thread running the handler.
fn kick_vcpu_and_worker(host_sig: libc::c_int) {
    // SAFETY: pthread_self is async-signal-safe.
    let me = unsafe { libc::pthread_self() } as usize;
    for t in [&VCPU_THREAD, &WORKER_THREAD] {
        if t.load(Ordering::SeqCst) != me {
            kick(t, host_sig);
        }
    }
}

fn kick(thread: &AtomicUsize, host_sig: libc::c_int) {
    let t = thread.load(Ordering::SeqCst);
    if t != 0 {
        // SAFETY: `t` is a live thread of ours (threads clear their entry before they end);
        // pthread_kill is async-signal-safe.
        unsafe { libc::pthread_kill(t as libc::pthread_t, host_sig) };
    }
}

/// The program signalled its own process group through the host: the handler ignored the
/// copy it got (its sender is us), so record it here if the host catches it.
pub fn note_sent_to_self(sig: i32) {
    let caught = CLASSES.lock().is_ok_and(|c| (1..=64).contains(&sig) && c[sig as usize] == Some(Class::Catch));
    if caught {
        // SAFETY: getpid and getuid cannot fail.
        let (pid, uid) = unsafe { (libc::getpid(), libc::getuid()) };
        record(&HostSignalInfo { signo: sig, code: 0, pid, uid, value: 0, pad: 0 });
    }
}

/// Stop this process with stop signal `sig` (Linux number) by its default action, even if
/// the monitor catches it for the guest: the default action for a moment, raised on this
/// thread (so this thread takes it before it can restore the handler), then the handler
/// again once a SIGCONT continued us. SIGSTOP stands in where the host lacks `sig`.
pub fn stop_self(sig: i32) {
    let host_sig = host::host_signal_of(sig).unwrap_or(libc::SIGSTOP);
    if host_sig == libc::SIGSTOP {
        // SAFETY: raise takes no pointers.
        unsafe { libc::raise(libc::SIGSTOP) };
        await_attach_request();
        return;
    }
    // SAFETY: sigaction/pthread_sigmask/raise on our own process with valid structs.
    unsafe {
        let mut dfl: libc::sigaction = std::mem::zeroed();
        dfl.sa_sigaction = libc::SIG_DFL;
        let mut old: libc::sigaction = std::mem::zeroed();
        libc::sigaction(host_sig, &dfl, &mut old);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, host_sig);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(host_sig);
        libc::sigaction(host_sig, &old, std::ptr::null_mut());
    }
    await_attach_request();
}

/// Just woken from a stop: if a would-be tracer woke us (it waits under its name for us:
/// ptrace.rs), its request, rung before the SIGCONT, may be in any of our threads' hands:
/// wait until it is recorded, so that the guest takes it before its program runs on.
fn await_attach_request() {
    if !crate::ptrace::attacher_waiting() {
        return;
    }
    let bit = 1u64 << (abi_shared::linux::signal::SIGSTOP - 1);
    let p = PENDING.load(Ordering::SeqCst);
    for _ in 0..200 {
        // SAFETY: `attach` checked the word lies in guest RAM, mapped for the process.
        if p.is_null() || unsafe { (*p).load(Ordering::SeqCst) } & bit != 0 {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

/// Catch the signal the monitor's threads kick each other with (threads.rs) from the start,
/// before the guest asks for any disposition.
pub fn catch_thread_kicks() {
    let Some(kick) = host::sys::thread_kick_signal() else { return };
    let Ok(mut classes) = CLASSES.lock() else { return };
    let caught = set_host_action(kick, Class::Catch);
    // Darwin's kick signal (SIGEMT) has no Linux counterpart: caught all the same.
    if let (true, Some(sig)) = (caught, host::linux_signal_of(kick)) {
        classes[sig as usize] = Some(Class::Catch);
    }
}

/// A tracer is being accepted (ptrace.rs, `attached`): every signal left at its default
/// action is caught from now on, as the guest asks once it knows it is traced (a traced
/// process stops for them), so that one sent as soon as the tracer's PTRACE_SEIZE returns
/// (strace's SIGCONT to the child it seized while stopped) reaches the guest rather than
/// the host's default action.
#[cfg(target_os = "linux")]
pub fn catch_defaults() {
    let Ok(mut classes) = CLASSES.lock() else { return };
    for sig in 1..=64i32 {
        let unblockable = sig == abi_shared::linux::signal::SIGKILL || sig == abi_shared::linux::signal::SIGSTOP;
        let Some(host_sig) = host::host_signal_of(sig).filter(|_| !unblockable) else { continue };
        if !matches!(classes[sig as usize], None | Some(Class::Default)) {
            continue;
        }
        if set_host_action(host_sig, Class::Catch) {
            classes[sig as usize] = Some(Class::Catch);
            CAUGHT.fetch_or(1u64 << (sig - 1), Ordering::SeqCst);
        }
    }
}

/// Set the host dispositions the guest asked for. Signals the host cannot catch or that its
/// libc keeps for itself are left alone.
pub fn apply(catch: u64, ignore: u64) {
    let Ok(mut classes) = CLASSES.lock() else { return };
    for sig in 1..=64i32 {
        let b = 1u64 << (sig - 1);
        let Some(host_sig) = host::host_signal_of(sig) else { continue };
        let class = if Some(host_sig) == host::sys::thread_kick_signal() {
            // The monitor's threads kick each other with it: always caught (the guest
            // takes one from another process as it takes any caught signal).
            Class::Catch
        } else if ignore & b != 0 {
            Class::Ignore
        } else if catch & b != 0 || sig == SIGPIPE {
            // SIGPIPE: the guest raises it itself when a write fails with EPIPE (the
            // copy the host sends us comes from ourselves and is dropped as a kick); one
            // sent by another process still needs to reach the guest's default action.
            Class::Catch
        } else {
            Class::Default
        };
        if classes[sig as usize] == Some(class) || (classes[sig as usize].is_none() && class == Class::Default) {
            continue;
        }
        if set_host_action(host_sig, class) {
            classes[sig as usize] = Some(class);
            let b = 1u64 << (sig - 1);
            if class == Class::Catch {
                CAUGHT.fetch_or(b, Ordering::SeqCst);
            } else {
                CAUGHT.fetch_and(!b, Ordering::SeqCst);
            }
        }
    }
}

fn set_host_action(host_sig: libc::c_int, class: Class) -> bool {
    // SAFETY: sigaction with a zeroed struct filled below; the handler is async-signal-safe.
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = match class {
            Class::Default => libc::SIG_DFL,
            Class::Ignore => libc::SIG_IGN,
            Class::Catch => on_signal as *const () as usize,
        };
        // No SA_RESTART: a blocking host syscall must end so the guest can take the signal.
        sa.sa_flags = if class == Class::Catch { libc::SA_SIGINFO } else { 0 };
        // Block everything while recording, so one handler never interrupts another.
        libc::sigfillset(&mut sa.sa_mask);
        libc::sigaction(host_sig, &sa, std::ptr::null_mut()) == 0
    }
}

/// The monitor's handler for caught signals. Async-signal-safe: atomics, plain stores into
/// guest RAM, pthread_self/pthread_kill/getpid.
extern "C" fn on_signal(host_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // SAFETY: the kernel passes a valid siginfo with SA_SIGINFO.
    let info = unsafe { &*info };
    let (pid, uid, value) = host::siginfo_sender(info);
    let code = host::si_code_to_linux(info.si_code);
    if is_ptrace_doorbell(host_sig, code, value) {
        // A tracee of ours has news: not the program's signal. End the host wait the
        // program may be blocked in, so that it looks at its tracees (ptrace.rs).
        crate::ptrace::note_doorbell(pid);
        // Linux sends the tracer a SIGCHLD (CLD_TRAPPED) at each ptrace-stop; gdb waits
        // for it. Only a caught one matters (its default is to ignore it).
        const SIGCHLD: i32 = abi_shared::linux::signal::SIGCHLD;
        const CLD_TRAPPED: i32 = 4;
        if CAUGHT.load(Ordering::SeqCst) & 1 << (SIGCHLD - 1) != 0 {
            record(&HostSignalInfo { signo: SIGCHLD, code: CLD_TRAPPED, pid, uid, value: 0, pad: 0 });
            stop_vcpu();
        }
        kick_vcpu_and_worker(host_sig);
        return;
    }
    if let Some(code) = attach_request(host_sig, code, value) {
        // Another monitor's PTRACE_ATTACH/SEIZE/INTERRUPT of our program: left in SIGSTOP's
        // slot (the host never catches SIGSTOP) for the guest, which asks us to check the
        // would-be tracer (ptrace.rs) before it takes it.
        let seize = u64::from(value == abi_shared::debug::PTRACE_SEIZE_BELL);
        record(&HostSignalInfo { signo: abi_shared::linux::signal::SIGSTOP, code, pid, uid, value: seize, pad: 0 });
        stop_vcpu();
        kick_vcpu_and_worker(host_sig);
        return;
    }
    if host_sig == libc::SIGCONT && value == abi_shared::debug::ATTACH_CONT {
        // A would-be tracer's monitor woke us from a stop to take its request (ptrace.rs):
        // not the program's signal.
        return;
    }
    // SAFETY: getpid is async-signal-safe.
    if pid == unsafe { libc::getpid() } && code != SI_MESGQ {
        // Our own kick: interrupting whatever this thread was blocked in was the point (or
        // our kill of our own group, which `note_sent_to_self` records). A message queue's
        // notification of a message we sent ourselves names us too, and is the program's.
        return;
    }
    let Some(sig) = host::linux_signal_of(host_sig) else { return };
    record(&HostSignalInfo { signo: sig, code, pid, uid, value, pad: 0 });
    stop_vcpu();
    kick_vcpu_and_worker(host_sig);
}

/// Whether a caught signal is another monitor's ptrace doorbell: the thread-kick signal,
/// queued (SI_QUEUE) with the doorbell's value.
fn is_ptrace_doorbell(host_sig: libc::c_int, code: i32, value: u64) -> bool {
    const SI_QUEUE: i32 = abi_shared::linux::general::SI_QUEUE;
    code == SI_QUEUE && value == abi_shared::debug::PTRACE_DOORBELL && Some(host_sig) == host::sys::thread_kick_signal()
}

/// Whether a caught signal is another monitor's request to attach (ATTACH or SEIZE) or to
/// interrupt (PTRACE_INTERRUPT): the si_code the guest finds it under in SIGSTOP's slot.
fn attach_request(host_sig: libc::c_int, code: i32, value: u64) -> Option<i32> {
    use abi_shared::debug::{
        ATTACH_SI_CODE, INTERRUPT_SI_CODE, PTRACE_ATTACH_BELL, PTRACE_INTERRUPT_BELL, PTRACE_SEIZE_BELL,
    };
    const SI_QUEUE: i32 = abi_shared::linux::general::SI_QUEUE;
    if code != SI_QUEUE || Some(host_sig) != host::sys::thread_kick_signal() {
        return None;
    }
    match value {
        PTRACE_ATTACH_BELL | PTRACE_SEIZE_BELL => Some(ATTACH_SI_CODE),
        PTRACE_INTERRUPT_BELL => Some(INTERRUPT_SI_CODE),
        _ => None,
    }
}

/// A signal for the program from the monitor itself (`--gdb`'s Ctrl-C: SIGINT as a
/// terminal sends it, from the kernel): recorded as the handler records one from outside
/// (which a kill of our own pid would not be: that is a kick), and the vCPU kicked.
pub fn raise_for_program(linux_sig: i32) {
    const SI_KERNEL: i32 = abi_shared::linux::general::SI_KERNEL as i32;
    record(&HostSignalInfo { signo: linux_sig, code: SI_KERNEL, pid: 0, uid: 0, value: 0, pad: 0 });
    kick_vcpu();
}

fn record(i: &HostSignalInfo) {
    let (p, slots) = (PENDING.load(Ordering::SeqCst), INFO.load(Ordering::SeqCst));
    if p.is_null() || slots.is_null() || !(1..=64).contains(&i.signo) {
        return;
    }
    let bit = 1u64 << (i.signo - 1);
    if i.signo >= abi_shared::linux::signal::SIGRTMIN && !queue_realtime(i) {
        let overflow = RT_OVERFLOW.load(Ordering::SeqCst);
        if !overflow.is_null() {
            // SAFETY: `attach` checked the word lies in guest RAM, mapped for the process.
            unsafe { (*overflow).fetch_or(bit, Ordering::SeqCst) };
        }
    } else if i.signo >= abi_shared::linux::signal::SIGRTMIN {
        // Queued: only the pending bit is left to set.
        // SAFETY: as below.
        unsafe { (*p).fetch_or(bit, Ordering::SeqCst) };
        return;
    }
    // SAFETY: `attach` checked that 65 slots lie in guest RAM; the slot is written before
    // the pending bit is published (SeqCst), and the guest reads it after taking the bit.
    unsafe {
        let slot = slots.add(i.signo as usize * vcpu_block::HOST_SIGNAL_INFO_SIZE as usize) as *mut HostSignalInfo;
        std::ptr::write_volatile(slot, *i);
        (*p).fetch_or(bit, Ordering::SeqCst);
    }
}

/// Entry states in the real-time queue (see the layout).
const RT_FREE: u64 = 0;
const RT_WRITING: u64 = 2;

/// Put one real-time signal instance in the queue; false when it is full. Lock-free: the
/// handler may run on the worker and the vCPU thread at once, and the guest frees entries
/// concurrently.
fn queue_realtime(i: &HostSignalInfo) -> bool {
    let (seq, queue) = (RT_SEQ.load(Ordering::SeqCst), RT_QUEUE.load(Ordering::SeqCst));
    if seq.is_null() || queue.is_null() {
        return false;
    }
    for k in 0..vcpu_block::HOST_RT_QUEUE_LEN as usize {
        // SAFETY: `attach` checked that the queue's entries lie in guest RAM; each is 32
        // bytes, 8-aligned, with its state word (`pad`) at offset 24.
        unsafe {
            let entry = queue.add(k * vcpu_block::HOST_SIGNAL_INFO_SIZE as usize) as *mut HostSignalInfo;
            let state = &*(std::ptr::addr_of_mut!((*entry).pad) as *const AtomicU64);
            if state.compare_exchange(RT_FREE, RT_WRITING, Ordering::AcqRel, Ordering::Relaxed).is_err() {
                continue;
            }
            std::ptr::write_volatile(entry as *mut [i32; 4], [i.signo, i.code, i.pid, i.uid as i32]);
            std::ptr::write_volatile(std::ptr::addr_of_mut!((*entry).value), i.value);
            let n = (*seq).fetch_add(1, Ordering::SeqCst) + 1;
            state.store(n << 1 | 1, Ordering::Release);
        }
        return true;
    }
    false
}

/// The signal state linuxrun was started with, for the program (ignored and blocked
/// signals survive exec on Linux), after which the monitor unblocks every signal in itself:
/// blocked host signals would never reach the guest.
pub fn inherited_state() -> (u64, u64) {
    let mut ignored = 0u64;
    for sig in 1..=64 {
        let Some(h) = host::host_signal_of(sig) else { continue };
        // SAFETY: sigaction with a null new action only reads the current one.
        let ign = unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            libc::sigaction(h, std::ptr::null(), &mut old) == 0 && old.sa_sigaction == libc::SIG_IGN
        };
        // Rust ignores SIGPIPE in every program it starts, so the monitor's own ignored
        // SIGPIPE says nothing about what linuxrun inherited.
        if ign && sig != SIGPIPE {
            ignored |= 1 << (sig - 1);
        }
    }
    let mut blocked = 0u64;
    // SAFETY: sigprocmask with a null new set reads the mask; then unblock everything.
    unsafe {
        let mut old: libc::sigset_t = std::mem::zeroed();
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        if libc::pthread_sigmask(libc::SIG_SETMASK, std::ptr::null(), &mut old) == 0 {
            for sig in 1..=64 {
                if let Some(h) = host::host_signal_of(sig) {
                    if libc::sigismember(&old, h) == 1 {
                        blocked |= 1 << (sig - 1);
                    }
                }
            }
        }
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &all, std::ptr::null_mut());
    }
    (ignored, blocked)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caught_signal_lands_in_the_area_with_its_sender() {
        let mut buf = vec![0u8; 0x20000];
        let mem = GuestMemory::from_vec_for_test(&mut buf);
        attach(&mem, 0);
        apply(1 << (libc::SIGUSR2 - 1), 0);
        // SAFETY: signal ourselves; the handler only records.
        unsafe { libc::raise(libc::SIGUSR2) };
        // raise() sends with our own pid, which the handler takes for a kick: nothing lands.
        assert_eq!(pending(), 0);
        record(&HostSignalInfo { signo: 12, code: 0, pid: 77, uid: 5, value: 0, pad: 0 });
        assert_eq!(pending(), 1 << 11);
        let slot = mem.read_vec(vcpu_block::HOST_SIGNAL_INFO + 12 * 32, 16).unwrap();
        assert_eq!(&slot[8..12], &77i32.to_le_bytes());
        apply(0, 0);
        PENDING.store(std::ptr::null_mut(), Ordering::SeqCst);
        INFO.store(std::ptr::null_mut(), Ordering::SeqCst);
    }
}
