//! Signals: dispositions, masks, pending signals and delivery with Linux's rt_sigframe.
//! Synchronous signals come from exceptions; asynchronous ones (from other processes)
//! arrive later through the monitor.

pub mod frame;
pub mod host;
pub mod signalfd;
pub mod syscalls;
pub mod timer;
pub mod wait;

use alloc::collections::VecDeque;
use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use abi_shared::hypercall::ExitHow;
use abi_shared::linux::signal::*;

use crate::arch::entry::{ReturnPath, TrapFrame};
use crate::arch::trap;

pub const NSIG: usize = 65;
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTART: u64 = 0x1000_0000;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;

/// `siginfo_t` (128 bytes). Only the fields our signals use are named.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pub pad: i32,
    /// si_pid/si_uid for kill, si_addr for faults.
    pub fields: [u64; 14],
}
// SAFETY: repr(C), integers only, no implicit padding (4*i32 then u64s).
unsafe impl abi_shared::linux::Pod for SigInfo {}

impl SigInfo {
    pub fn fault(signo: i32, code: i32, addr: u64) -> SigInfo {
        let mut i = SigInfo { signo, code, ..SigInfo::default() };
        i.fields[0] = addr;
        i
    }

    pub fn sent_by(signo: i32, code: i32, pid: i32, uid: u32) -> SigInfo {
        let mut i = SigInfo { signo, code, ..SigInfo::default() };
        i.fields[0] = (pid as u32 as u64) | ((uid as u64) << 32);
        i
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Action {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct AltStack {
    pub sp: u64,
    pub flags: i32,
    pub size: u64,
}

pub struct SignalState {
    pub actions: [Action; NSIG],
    pub blocked: u64,
    /// Bit per signal with at least one instance pending.
    pub pending: u64,
    /// Standard signals: the one pending instance's siginfo.
    pub info: [SigInfo; NSIG],
    /// Real-time signals queue every instance, in order.
    pub rt_queue: VecDeque<SigInfo>,
    pub altstack: AltStack,
    /// rt_sigsuspend's mask to restore once a handler frame is built (uc_sigmask).
    pub saved_mask: Option<u64>,
}

/// Most real-time signals queued at once (RLIMIT_SIGPENDING-like).
pub const RT_QUEUE_MAX: usize = 4096;

pub static STATE: Mutex<SignalState> = Mutex::new(SignalState {
    actions: [Action { handler: 0, flags: 0, restorer: 0, mask: 0 }; NSIG],
    blocked: 0,
    pending: 0,
    info: [SigInfo { signo: 0, errno: 0, code: 0, pad: 0, fields: [0; 14] }; NSIG],
    rt_queue: VecDeque::new(),
    altstack: AltStack { sp: 0, flags: 2, size: 0 },
    saved_mask: None,
});

/// execve: handlers point into the old image, so handled signals go back to their default
/// action; ignored ones stay ignored, and every flag and handler mask is cleared
/// (flush_signal_handlers). The blocked mask and pending signals are kept; the alternate
/// stack is gone with the old memory.
pub fn reset_for_exec() {
    let mut st = STATE.lock();
    for a in st.actions.iter_mut() {
        let handler = if a.handler == SIG_IGN { SIG_IGN } else { SIG_DFL };
        *a = Action { handler, ..Action::default() };
    }
    st.altstack = AltStack { sp: 0, flags: frame::SS_DISABLE, size: 0 };
    st.saved_mask = None;
    host::actions_changed();
    drop(st);
    // POSIX timers belong to the old image (ITIMER_REAL survives exec).
    timer::delete_all();
}

/// Signals the kernel raises for the instruction that just ran: delivered before others.
const SYNCHRONOUS_MASK: u64 = bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGTRAP) | bit(SIGFPE) | bit(SIGSYS);

impl SignalState {
    fn queue(&mut self, info: SigInfo) -> bool {
        let sig = info.signo;
        if sig >= SIGRTMIN {
            if self.rt_queue.len() >= RT_QUEUE_MAX {
                return false;
            }
            self.rt_queue.push_back(info);
        } else {
            self.info[sig as usize] = info;
        }
        self.pending |= bit(sig);
        true
    }

    /// The next signal among `candidates` as Linux picks it: synchronous ones first, then
    /// the lowest number.
    pub fn next_signal(&self, candidates: u64) -> Option<i32> {
        let ready = self.pending & candidates;
        let pick = if ready & SYNCHRONOUS_MASK != 0 { ready & SYNCHRONOUS_MASK } else { ready };
        (pick != 0).then(|| pick.trailing_zeros() as i32 + 1)
    }

    /// Remove one instance of `sig` and return its siginfo.
    pub fn dequeue(&mut self, sig: i32) -> SigInfo {
        if sig >= SIGRTMIN {
            let pos = self.rt_queue.iter().position(|i| i.signo == sig);
            let info =
                pos.and_then(|p| self.rt_queue.remove(p)).unwrap_or(SigInfo { signo: sig, ..SigInfo::default() });
            if !self.rt_queue.iter().any(|i| i.signo == sig) {
                self.pending &= !bit(sig);
            }
            info
        } else {
            self.pending &= !bit(sig);
            self.info[sig as usize]
        }
    }

    /// Drop every pending instance of `sig` (it became ignored).
    pub fn discard(&mut self, sig: i32) {
        self.pending &= !bit(sig);
        self.rt_queue.retain(|i| i.signo != sig);
    }
}

pub const fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Signals that cannot be caught, blocked or ignored.
pub const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Default_ {
    Ignore,
    Terminate,
    Core,
    Stop,
}

fn default_action(sig: i32) -> Default_ {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH | SIGCONT => Default_::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Default_::Stop,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ | SIGSYS => Default_::Core,
        _ => Default_::Terminate,
    }
}

/// Queue `info.signo` for this process: one pending instance for a standard signal, every
/// instance for a real-time one. Returns false when the real-time queue is full (EAGAIN).
/// An ignored signal is dropped unless it is blocked (then it waits, as on Linux).
pub fn raise(info: SigInfo) -> bool {
    let sig = info.signo;
    if !(1..NSIG as i32).contains(&sig) {
        return true;
    }
    let mut st = STATE.lock();
    let act = st.actions[sig as usize];
    let ignored = act.handler == SIG_IGN || (act.handler == SIG_DFL && default_action(sig) == Default_::Ignore);
    if ignored && st.blocked & bit(sig) == 0 {
        return true;
    }
    st.queue(info)
}

/// A forked child starts with no pending signals (Linux does not inherit them).
pub fn forget_pending() {
    let mut st = STATE.lock();
    st.pending = 0;
    st.rt_queue.clear();
}

/// Whether a pending signal would be acted on now (for sigsuspend-like waits).
pub fn has_deliverable() -> bool {
    timer::check();
    host::take();
    let st = STATE.lock();
    st.pending & !st.blocked != 0
}

/// A fault the program cannot ignore: if the signal is blocked or ignored, Linux resets it
/// to the default action (so the process dies rather than looping on the fault).
pub fn force_synchronous(_frame: &mut TrapFrame, info: SigInfo) {
    let sig = info.signo;
    {
        let mut st = STATE.lock();
        let blocked = st.blocked & bit(sig) != 0;
        if blocked || st.actions[sig as usize].handler == SIG_IGN {
            st.actions[sig as usize].handler = SIG_DFL;
            st.blocked &= !bit(sig);
            host::actions_changed();
        }
        st.queue(info);
    }
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
const NEVER_RESTARTED: [u64; 14] = [
    7,   // poll
    23,  // select
    34,  // pause
    35,  // nanosleep
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

/// The syscall that just failed with EINTR because a host signal interrupted the host
/// call behind it (u64::MAX: none). Linux's ERESTARTSYS: it runs again unless a handler
/// without SA_RESTART is invoked for the signal.
static INTERRUPTED: AtomicU64 = AtomicU64::new(u64::MAX);

/// `nr` returned EINTR: decide at delivery whether it restarts.
pub fn note_interrupted(nr: u64) {
    if !NEVER_RESTARTED.contains(&nr) {
        INTERRUPTED.store(nr, Ordering::Relaxed);
    }
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
    // A plain load first: this runs on every return to user mode, and a locked swap is
    // only needed in the rare case that a syscall was interrupted.
    let mut interrupted = match INTERRUPTED.load(Ordering::Relaxed) {
        u64::MAX => None,
        nr => {
            INTERRUPTED.store(u64::MAX, Ordering::Relaxed);
            Some(nr)
        }
    };
    loop {
        let mut st = STATE.lock();
        let Some(sig) = st.next_signal(!st.blocked) else {
            if let Some(mask) = st.saved_mask.take() {
                st.blocked = mask;
            }
            host::sync(&st);
            drop(st);
            if let Some(nr) = interrupted {
                // No handler ran: the interruption is invisible, as on Linux.
                restart_syscall(frame, nr);
                path = ReturnPath::Full;
            }
            return path;
        };
        let info = st.dequeue(sig);
        let act = st.actions[sig as usize];
        if act.handler == SIG_IGN {
            continue;
        }
        if act.handler == SIG_DFL {
            match default_action(sig) {
                Default_::Ignore => continue,
                Default_::Stop => {
                    drop(st);
                    host::stop_self(sig);
                    continue;
                }
                Default_::Terminate | Default_::Core => {
                    drop(st);
                    crate::task::exit::terminate(ExitHow::Signal(sig));
                }
            }
        }
        drop(st);
        if let Some(nr) = interrupted.take() {
            if act.flags & SA_RESTART != 0 {
                restart_syscall(frame, nr);
            }
        }
        if frame::setup(frame, sig, &info, &act).is_err() {
            // The frame could not be written (bad stack): Linux kills with SIGSEGV.
            crate::task::exit::terminate(ExitHow::Signal(SIGSEGV));
        }
        path = ReturnPath::Full;
    }
}
