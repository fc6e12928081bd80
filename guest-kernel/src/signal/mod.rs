//! Signals: raising, default actions and delivery with Linux's rt_sigframe, on the state
//! the task keeps (task/signals.rs: dispositions, masks, pending signals). Synchronous
//! signals come from exceptions; asynchronous ones (from other processes) arrive later
//! through the monitor.

pub mod core;
pub mod debug;
pub mod frame;
pub mod host;
pub mod signalfd;
pub mod syscalls;
pub mod timer;
pub mod wait;

use spin::{Mutex, MutexGuard};

use abi_shared::hypercall::ExitHow;
use abi_shared::linux::signal::*;

pub use crate::task::signals::{bit, Action, AltStack, SigInfo, SignalState, ThreadSignals, NSIG, SIG_DFL, SIG_IGN};

use crate::arch::entry::{ReturnPath, TrapFrame};
use crate::arch::trap;

pub const SA_ONSTACK: u64 = abi_shared::linux::general::SA_ONSTACK as u64;
pub const SA_RESTART: u64 = abi_shared::linux::general::SA_RESTART as u64;
pub const SA_RESTORER: u64 = abi_shared::linux::general::SA_RESTORER as u64;
pub const SA_NODEFER: u64 = abi_shared::linux::general::SA_NODEFER as u64;
pub const SA_RESETHAND: u64 = abi_shared::linux::general::SA_RESETHAND as u64;

pub const SI_USER: i32 = abi_shared::linux::general::SI_USER as i32;
pub const SI_KERNEL: i32 = abi_shared::linux::general::SI_KERNEL as i32;
pub const SI_TKILL: i32 = abi_shared::linux::general::SI_TKILL;

/// execve: handlers point into the old image, so handled signals go back to their default
/// action; ignored ones stay ignored, and every flag and handler mask is cleared
/// (flush_signal_handlers). The blocked mask and pending signals are kept; the alternate
/// stack is gone with the old memory.
pub fn reset_for_exec() {
    let mut st = lock();
    for a in st.proc.actions.iter_mut() {
        let handler = if a.handler == SIG_IGN { SIG_IGN } else { SIG_DFL };
        *a = Action { handler, ..Action::default() };
    }
    st.me.altstack = AltStack::DISABLED;
    st.me.saved_mask = None;
    host::actions_changed();
    drop(st);
    // POSIX timers belong to the old image (ITIMER_REAL survives exec).
    timer::delete_all();
}

/// The process's signal state (dispositions, process-directed pending signals).
#[inline]
pub fn state() -> &'static Mutex<SignalState> {
    crate::task::signals()
}

/// The signal state the running thread sees: its process's and its own, locked in that
/// order.
pub struct Locked {
    pub proc: MutexGuard<'static, SignalState>,
    pub me: MutexGuard<'static, ThreadSignals>,
}

/// Lock the running thread's view of the signal state.
pub fn lock() -> Locked {
    let proc = state().lock();
    let me = crate::task::current().signals().lock();
    Locked { proc, me }
}

impl Locked {
    /// Signals pending for this thread: its own and the process's.
    pub fn pending(&self) -> u64 {
        self.me.pending.mask | self.proc.shared.mask
    }

    /// The next signal among `candidates` as Linux dequeues it: the thread's own first,
    /// then the process's.
    pub fn next_signal(&self, candidates: u64) -> Option<i32> {
        self.me.pending.next_signal(candidates).or_else(|| self.proc.shared.next_signal(candidates))
    }

    /// Remove one instance of `sig` (the thread's own first) and return its siginfo.
    pub fn dequeue(&mut self, sig: i32) -> SigInfo {
        if self.me.pending.mask & bit(sig) != 0 {
            self.me.pending.dequeue(sig)
        } else {
            self.proc.shared.dequeue(sig)
        }
    }

    /// Take the next signal among `candidates`, if one is pending.
    pub fn take(&mut self, candidates: u64) -> Option<(i32, SigInfo)> {
        self.next_signal(candidates).map(|sig| (sig, self.dequeue(sig)))
    }
}

/// Signals that cannot be caught, blocked or ignored.
pub const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

use abi_shared::linux::signal::{default_action, DefaultAction as Default_};

/// What --strace shows of signals.
pub enum Shown<'a> {
    /// A signal the thread takes (its handler is about to run, or its disposition applies).
    Taken(&'a SigInfo),
    /// The process stops by this signal's default action.
    StoppedBy(i32),
}

/// --strace's lines for the signals a thread takes, set by syscall/trace at boot when the
/// run is traced (it formats the lines; signal/ sits below syscall/ and calls up through
/// this).
static STRACE_HOOK: spin::Once<fn(Shown<'_>)> = spin::Once::new();

pub fn show_signals(show: fn(Shown<'_>)) {
    STRACE_HOOK.call_once(|| show);
}

/// Whether --strace shows the signals taken (then every one is caught, ignored ones too).
pub fn strace_sees_signals() -> bool {
    STRACE_HOOK.is_completed()
}

fn ignored(st: &SignalState, sig: i32) -> bool {
    if debug::traced() || strace_sees_signals() {
        // A ptrace tracer sees even the signals that would be ignored (Linux's
        // sig_ignored() is false for a ptraced task), and so does strace, whose lines
        // --strace prints; delivery ignores them afterwards.
        return false;
    }
    let act = st.actions[sig as usize];
    act.handler == SIG_IGN || (act.handler == SIG_DFL && default_action(sig) == Default_::Ignore)
}

/// Queue a process-directed `info.signo` (kill, an outside sender, a timer): one pending
/// instance for a standard signal, every instance for a real-time one. Returns false when
/// the real-time queue is full (EAGAIN). An ignored signal is dropped unless it is blocked
/// (then it waits, as on Linux). As Linux's complete_signal: the running thread takes it
/// if it does not block it, else another thread that does not is told.
pub fn raise(info: SigInfo) -> bool {
    let sig = info.signo;
    if !(1..NSIG as i32).contains(&sig) {
        return true;
    }
    if sig == SIGCONT {
        // Blocked or ignored, a SIGCONT still ends a stop (a ptrace tracee's included).
        debug::continued();
    }
    let mut st = lock();
    if ignored(&st.proc, sig) && st.me.blocked & bit(sig) == 0 {
        return true;
    }
    if !st.proc.shared.queue(info) {
        return false;
    }
    if st.me.wants(sig) {
        return true;
    }
    let target = crate::task::threads::others().find(|t| t.signals().lock().wants(sig));
    drop(st);
    if let Some(t) = target {
        crate::task::threads::wake_for_signal(t);
    }
    true
}

/// Queue a signal for thread `t` of this process (tgkill, tkill, a thread's timer).
pub fn raise_thread(t: &'static crate::task::Thread, info: SigInfo) -> bool {
    let sig = info.signo;
    if !(1..NSIG as i32).contains(&sig) {
        return true;
    }
    let proc = state().lock();
    let mut ts = t.signals().lock();
    if ignored(&proc, sig) && ts.blocked & bit(sig) == 0 {
        return true;
    }
    let queued = ts.pending.queue(info);
    let takes_it = ts.wants(sig);
    drop(ts);
    drop(proc);
    if queued && takes_it && !t.is_current() {
        crate::task::threads::wake_for_signal(t);
    }
    queued
}

/// A forked child starts with no pending signals (Linux does not inherit them).
pub fn forget_pending() {
    let mut st = lock();
    st.proc.shared.clear();
    st.me.pending.clear();
}

/// Whether a pending signal would be acted on now (for sigsuspend-like waits).
pub fn has_deliverable() -> bool {
    timer::check();
    host::take();
    let st = lock();
    st.pending() & !st.me.blocked != 0 || debug::interrupt_pending()
}

/// A fault the program cannot ignore: if the signal is blocked or ignored, Linux resets it
/// to the default action (so the process dies rather than looping on the fault). It is
/// the faulting thread's.
pub fn force_synchronous(_frame: &mut TrapFrame, info: SigInfo) {
    let sig = info.signo;
    let mut st = lock();
    let blocked = st.me.blocked & bit(sig) != 0;
    if blocked || st.proc.actions[sig as usize].handler == SIG_IGN {
        st.proc.actions[sig as usize].handler = SIG_DFL;
        st.me.blocked &= !bit(sig);
        host::actions_changed();
    }
    st.me.pending.queue(info);
}

/// A signal that ends the process by its default action whatever the program made of it
/// (Linux's force_sig_seccomp for a killing verdict): the action is reset to the default
/// and the signal unblocked. It is the calling thread's.
pub fn force_default(info: SigInfo) {
    let sig = info.signo;
    let mut st = lock();
    st.proc.actions[sig as usize].handler = SIG_DFL;
    st.me.blocked &= !bit(sig);
    host::actions_changed();
    st.me.pending.queue(info);
}

/// Turn a non-page-fault exception from user mode into its signal.
pub fn synchronous_exception(frame: &mut TrapFrame) {
    if (frame.vector == trap::VEC_GP || frame.vector == trap::VEC_INVALID_OP) && emulate_cpuid(frame) {
        return;
    }
    let (sig, code, addr) = match frame.vector {
        trap::VEC_DIVIDE => (SIGFPE, 1, frame.rip), // FPE_INTDIV
        trap::VEC_DEBUG => (SIGTRAP, 2, frame.rip), // TRAP_TRACE
        trap::VEC_BREAKPOINT => (SIGTRAP, SI_KERNEL, 0),
        trap::VEC_OVERFLOW | trap::VEC_BOUND => (SIGSEGV, SI_KERNEL, 0),
        trap::VEC_INVALID_OP => (SIGILL, 2, frame.rip), // ILL_ILLOPN
        trap::VEC_DEVICE_NA | trap::VEC_X87 | trap::VEC_SIMD => (SIGFPE, 0, frame.rip),
        trap::VEC_ALIGNMENT => (SIGBUS, 1, frame.rip), // BUS_ADRALN
        _ => (SIGSEGV, SI_KERNEL, 0),                  // #GP and the rest
    };
    crate::kdebug!("exception {} (error {:#x}) at rip {:#x}: signal {}", frame.vector, frame.error, frame.rip, sig);
    force_synchronous(frame, SigInfo::fault(sig, code, addr));
}

/// Under pvm a user `cpuid` may trap; answer it with the paravirtual CPUID and step over.
fn emulate_cpuid(frame: &mut TrapFrame) -> bool {
    let mut insn = [0u8; 2];
    if crate::mm::uaccess::copy_from_user(frame.rip, &mut insn).is_err() || insn != [0x0f, 0xa2] {
        return false;
    }
    let r = crate::arch::platform::cpuid(frame.rax as u32, frame.rcx as u32);
    frame.rax = r[0] as u64;
    frame.rbx = r[1] as u64;
    frame.rcx = r[2] as u64;
    frame.rdx = r[3] as u64;
    frame.rip += 2;
    true
}

/// Syscalls whose EINTR Linux never turns into a restart (ERESTARTNOHAND and
/// restart_block cases that re-run only when no handler ran, which the guest implements
/// itself by looping, or that always fail with EINTR).
const NEVER_RESTARTED: [u64; 17] = [
    7,   // poll
    23,  // select
    34,  // pause
    35,  // nanosleep
    65,  // semop
    69,  // msgsnd
    70,  // msgrcv
    128, // rt_sigtimedwait
    130, // rt_sigsuspend
    208, // io_getevents
    220, // semtimedop
    230, // clock_nanosleep
    232, // epoll_wait
    270, // pselect6
    271, // ppoll
    281, // epoll_pwait
    441, // epoll_pwait2
];

/// `nr` returned EINTR because a host signal interrupted the host call behind it: Linux's
/// ERESTARTSYS, decided at delivery: it runs again unless a handler without SA_RESTART is
/// invoked for the signal.
pub fn note_interrupted(nr: u64) {
    // A handler already asked for the restart to happen whatever SA_RESTART says.
    if crate::task::peek_interrupted_syscall() == Some(nr | ALWAYS_RESTART) {
        return;
    }
    if !NEVER_RESTARTED.contains(&nr) {
        crate::task::note_interrupted_syscall(nr);
    }
}

/// `nr` was left for a signal's handler and must run again after it whatever the handler's
/// SA_RESTART says (Linux's ERESTARTNOINTR).
pub fn note_interrupted_always(nr: u64) {
    crate::task::note_interrupted_syscall(nr | ALWAYS_RESTART);
}

/// Marks an interrupted syscall number that runs again even after a handler without
/// SA_RESTART.
const ALWAYS_RESTART: u64 = 1 << 63;

/// Whether `nr`, just cut short by a host signal, is noted to run again unless a handler
/// that does not restart it runs first (so that no signal taken means nothing happened).
pub fn restart_noted(nr: u64) -> bool {
    crate::task::peek_interrupted_syscall().is_some_and(|n| n & !ALWAYS_RESTART == nr)
}

/// Whether the interrupted syscall `nr` runs again after a handler whatever its SA_RESTART
/// says (Linux's ERESTARTNOINTR), as --strace names the restart code.
pub fn restarts_always(nr: u64) -> bool {
    crate::task::peek_interrupted_syscall() == Some(nr | ALWAYS_RESTART)
}

/// Make the interrupted syscall run again on return: back over `syscall` (2 bytes) with
/// its number in rax; the argument registers are still the caller's.
fn restart_syscall(frame: &mut TrapFrame, nr: u64) {
    frame.rax = nr;
    frame.rip -= 2;
}

/// Deliver every deliverable pending signal before returning to user mode, as Linux does:
/// each handler frame is built on top of the previous one, so the last one set up runs
/// first; a handler whose mask blocks the rest defers them until it returns. Default
/// actions are applied here too. Called on every return to user mode.
pub fn deliver_pending(frame: &mut TrapFrame) -> ReturnPath {
    timer::check();
    host::take();
    let mut path = ReturnPath::Fast;
    if debug::active() && debug::after_syscall(frame) {
        path = ReturnPath::Full;
    }
    if debug::active() {
        debug::arm_step(frame);
    }
    let mut interrupted = crate::task::take_interrupted_syscall();
    loop {
        // A ptrace event stop first, as Linux's job-control traps come before signals;
        // in the loop, for one that a signal's stop left waiting (a seize of a stopped
        // process, a SIGCONT).
        if debug::interrupt_pending() && debug::interrupt_stop(frame, &mut interrupted) {
            path = ReturnPath::Full;
        }
        let mut st = lock();
        let Some(sig) = st.next_signal(!st.me.blocked) else {
            if let Some(mask) = st.me.saved_mask.take() {
                st.me.blocked = mask;
            }
            let Locked { proc, me } = &mut st;
            host::sync(proc, me);
            drop(st);
            if let Some(nr) = interrupted {
                // No handler ran: the interruption is invisible, as on Linux.
                restart_syscall(frame, nr & !ALWAYS_RESTART);
                path = ReturnPath::Full;
            }
            return path;
        };
        let mut info = st.dequeue(sig);
        let mut sig = sig;
        if debug::active() && sig != SIGKILL {
            // A debugger sees the signal first, as a ptrace tracer does, and may change or
            // cancel it (registers included: the way back is the full restore).
            drop(st);
            path = ReturnPath::Full;
            let chosen = debug::signal_stop(frame, sig, &mut info, &mut interrupted);
            if chosen <= 0 || chosen >= NSIG as i32 {
                continue;
            }
            if chosen != sig {
                sig = chosen;
                info = SigInfo::sent_by(sig, SI_USER, crate::task::pid(), crate::task::uid());
            }
            st = lock();
        }
        if let Some(show) = STRACE_HOOK.get().filter(|_| sig != SIGKILL) {
            // strace's signal-delivery stop: every signal but SIGKILL, ignored ones too.
            show(Shown::Taken(&info));
        }
        let act = st.proc.actions[sig as usize];
        if act.handler == SIG_IGN {
            continue;
        }
        if act.handler == SIG_DFL {
            match default_action(sig) {
                Default_::Ignore => continue,
                Default_::Stop => {
                    drop(st);
                    if host::stop_discarded(sig) {
                        continue;
                    }
                    if let Some(show) = STRACE_HOOK.get() {
                        show(Shown::StoppedBy(sig));
                    }
                    host::stop_self(sig);
                    // What woke us may be another process's PTRACE_SEIZE, rung before its
                    // SIGCONT (ptrace.rs): taken before the program runs on.
                    host::take();
                    continue;
                }
                Default_::Terminate => {
                    drop(st);
                    crate::task::exit::terminate(ExitHow::Signal(sig));
                }
                Default_::Core => {
                    drop(st);
                    let how =
                        if core::dump(frame, sig, &info) { ExitHow::CoreDumped(sig) } else { ExitHow::Signal(sig) };
                    crate::task::exit::terminate(how);
                }
            }
        }
        drop(st);
        if let Some(nr) = interrupted.take() {
            if act.flags & SA_RESTART != 0 || nr & ALWAYS_RESTART != 0 {
                restart_syscall(frame, nr & !ALWAYS_RESTART);
            }
        }
        if frame::setup(frame, sig, &info, &act).is_err() {
            // The frame could not be written (bad stack): Linux kills with SIGSEGV.
            crate::task::exit::terminate(ExitHow::Signal(SIGSEGV));
        }
        path = ReturnPath::Full;
    }
}
