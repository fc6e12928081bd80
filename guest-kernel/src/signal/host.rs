//! Signals that come through the host: the monitor catches them for us (see the monitor's
//! `signals.rs`) and leaves them in this vCPU's block; and the host dispositions our signal
//! state asks for, which the monitor mirrors so that the host's default actions (die, stop,
//! continue) are Linux's and ignored signals stay ignored across a host exec.

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use abi_shared::hypercall::{ControlRequest, HostSignalInfo, ProcRequest, Request};
use abi_shared::layout::{vcpu_block, vcpu_block_gpa, PHYS_MAP_BASE};

use abi_shared::linux::signal::{SIGRTMIN, SIGSTOP};

use crate::hypercall::transport::process_control;

use super::{bit, raise, SigInfo, SignalState, ThreadSignals, NSIG, SIG_DFL, SIG_IGN, UNBLOCKABLE};

fn slot(sig: i32) -> HostSignalInfo {
    let addr = PHYS_MAP_BASE
        + vcpu_block_gpa(0)
        + vcpu_block::HOST_SIGNAL_INFO
        + sig as u64 * vcpu_block::HOST_SIGNAL_INFO_SIZE;
    // SAFETY: 65 slots lie inside the block (see layout); the monitor wrote this one before
    // it set the pending bit we took.
    unsafe { core::ptr::read_volatile(addr as *const HostSignalInfo) }
}

/// Take every signal the monitor caught since the last look and queue it as if sent here:
/// the real-time instances from their queue first, in the order they came, then each
/// other signal from its slot. One atomic load when there is none: this runs on every
/// return to user mode.
pub fn take() {
    let word: &AtomicU64 = process_control(vcpu_block::HOST_SIGNALS_PENDING);
    if word.load(Ordering::Relaxed) == 0 {
        return;
    }
    let mut taken = word.swap(0, Ordering::AcqRel);
    take_realtime_queue();
    // Real-time signals whose instance found the queue full went to their slot.
    let overflow = process_control::<AtomicU64>(vcpu_block::HOST_RT_OVERFLOW).swap(0, Ordering::AcqRel);
    while taken != 0 {
        let sig = taken.trailing_zeros() as i32 + 1;
        taken &= taken - 1;
        if sig >= SIGRTMIN && overflow & bit(sig) == 0 {
            continue;
        }
        let mut h = slot(sig);
        h.signo = sig;
        match h.code {
            // Not a signal: another process asks to trace us (the host never catches
            // SIGSTOP, so its slot carries these; the monitor checks the asker).
            abi_shared::debug::ATTACH_SI_CODE => super::debug::attach_requested(h.pid, h.value == 1),
            abi_shared::debug::INTERRUPT_SI_CODE => super::debug::interrupt_requested(h.pid),
            _ => {
                raise(info_of(&h));
            }
        }
    }
}

/// si_code of a POSIX timer's signal.
use abi_shared::linux::general::SI_TIMER;

fn info_of(h: &HostSignalInfo) -> SigInfo {
    let mut info = SigInfo { signo: h.signo, code: h.code, ..SigInfo::default() };
    // A host timer's signal (a timer on a CPU-time clock) names the host's timer id where
    // a sender's pid would be: the program knows it by its own id.
    let pid = match h.code {
        SI_TIMER => super::timer::id_of_host(h.pid).map_or(h.pid, |id| id as i32),
        _ => h.pid,
    };
    info.fields[0] = (pid as u32 as u64) | (u64::from(h.uid) << 32);
    info.fields[1] = h.value;
    info
}

/// The full entries of the monitor's real-time queue, raised in the order they were sent;
/// each entry is freed once read.
fn take_realtime_queue() {
    let mut found: [(u64, HostSignalInfo); vcpu_block::HOST_RT_QUEUE_LEN as usize] =
        [(0, HostSignalInfo::default()); vcpu_block::HOST_RT_QUEUE_LEN as usize];
    let mut n = 0;
    for k in 0..vcpu_block::HOST_RT_QUEUE_LEN {
        let entry = vcpu_block::HOST_RT_QUEUE + k * vcpu_block::HOST_SIGNAL_INFO_SIZE;
        let state: &AtomicU64 = process_control(entry + 24);
        let s = state.load(Ordering::Acquire);
        if s & 1 == 0 {
            continue;
        }
        // SAFETY: the entry lies in the block (see layout); the monitor finished writing it
        // before it published the full state we just read (Acquire).
        let h =
            unsafe { core::ptr::read_volatile((PHYS_MAP_BASE + vcpu_block_gpa(0) + entry) as *const HostSignalInfo) };
        state.store(0, Ordering::Release);
        found[n] = (s >> 1, h);
        n += 1;
    }
    let found = &mut found[..n];
    found.sort_unstable_by_key(|(seq, _)| *seq);
    for (_, h) in found.iter() {
        raise(info_of(h));
    }
}

/// (catch, ignore) as the monitor should set them for `st` with `blocked`: a handled signal
/// must be caught, and so must a blocked one (Linux keeps it pending until it is unblocked
/// or taken by sigwait, even one whose default is to ignore it); an ignored one is ignored
/// by the host as well.
fn wanted(st: &SignalState, blocked: u64) -> (u64, u64) {
    let mut handled = 0;
    let mut ignored = 0;
    let mut dfl = 0;
    for (sig, a) in st.actions.iter().enumerate().skip(1) {
        match a.handler {
            SIG_IGN => ignored |= bit(sig as i32),
            SIG_DFL => dfl |= bit(sig as i32),
            _ => handled |= bit(sig as i32),
        }
    }
    // An armed timer's signal too: the monitor interrupts the vCPU with it at the deadline.
    // A blocked signal stays pending even if ignored (Linux's sig_ignored() is false for a
    // blocked one), so the host catches it rather than ignore it.
    // Under a debugger every signal with its default action is caught too: it stops for
    // gdb before that action, as a ptraced process's does (gdb's Ctrl-C is a SIGINT).
    let debugged = if super::debug::active() { dfl } else { 0 };
    // Under --strace every signal is caught, ignored ones too: strace shows each signal
    // the process gets (a SIGCHLD nobody handles, a SIGPIPE it ignores) before its
    // disposition applies, and the guest prints that line (`trace::signal_taken`).
    let traced = if super::strace_sees_signals() { dfl | ignored } else { 0 };
    let catch =
        (handled | debugged | traced | (blocked & (dfl | ignored)) | (super::timer::armed_signals() & !ignored))
            & !UNBLOCKABLE;
    (catch, ignored & !blocked & !traced & !UNBLOCKABLE)
}

/// Before the host execs a native program in place of this process: every signal the
/// program ignores is ignored by the host (blocked ones too, which it otherwise catches),
/// since that is what survives an exec, as on Linux. If the exec fails, the next `sync`
/// sets things back.
pub fn before_native_exec(st: &SignalState) {
    let ignored = st
        .actions
        .iter()
        .enumerate()
        .skip(1)
        .filter(|(_, a)| a.handler == SIG_IGN)
        .fold(0, |m, (sig, _)| m | bit(sig as i32))
        & !UNBLOCKABLE;
    let catch = SENT_CATCH.load(Ordering::Relaxed) & !ignored;
    SENT_CATCH.store(catch, Ordering::Relaxed);
    SENT_IGNORE.store(ignored, Ordering::Relaxed);
    actions_changed();
    crate::hypercall::call_ret(&Request::Control(ControlRequest::SignalDispositions { catch, ignore: ignored }));
}

/// What the monitor was last told, and whether dispositions changed since.
static SENT_CATCH: AtomicU64 = AtomicU64::new(0);
static SENT_IGNORE: AtomicU64 = AtomicU64::new(0);
static ACTIONS_CHANGED: AtomicBool = AtomicBool::new(true);
/// The number of threads when the dispositions were last worked out.
static SYNCED_THREADS: AtomicU32 = AtomicU32::new(1);

/// An action changed (sigaction, exec, SA_RESETHAND...): recompute at the next `sync`.
pub fn actions_changed() {
    ACTIONS_CHANGED.store(true, Ordering::Relaxed);
}

/// Tell the monitor if what it must catch or ignore changed, for the running thread
/// `me`. Cheap when nothing did (the common case on every return to user mode): two
/// comparisons. A blocked signal must stay pending only when every thread blocks it (else
/// Linux gives it to one that does not, whose default action is the host's too), so with
/// several threads the mask that counts is what all of them block; the caller holds the
/// process's signal lock, which serialises this.
pub fn sync(st: &SignalState, me: &mut ThreadSignals) {
    // What all threads block changes when one exits (a new one syncs on its own).
    let threads = crate::task::threads::count();
    if !ACTIONS_CHANGED.load(Ordering::Relaxed)
        && me.blocked == me.synced_blocked
        && threads == SYNCED_THREADS.load(Ordering::Relaxed)
    {
        return;
    }
    ACTIONS_CHANGED.store(false, Ordering::Relaxed);
    SYNCED_THREADS.store(threads, Ordering::Relaxed);
    me.synced_blocked = me.blocked;
    let blocked = crate::task::threads::others().fold(me.blocked, |all, t| all & t.signals().lock().blocked);
    let (catch, ignore) = wanted(st, blocked);
    // A signal the host catches needlessly is still Linux's: the guest applies its default
    // action itself. So what is caught only grows (until it becomes ignored): a mask that
    // blocks everything for a moment, as glibc's pthread_create and fork do, then costs one
    // hypercall once, not two every time.
    let sent_catch = SENT_CATCH.load(Ordering::Relaxed);
    let catch = catch | (sent_catch & !ignore);
    if catch == sent_catch && ignore == SENT_IGNORE.load(Ordering::Relaxed) {
        return;
    }
    SENT_CATCH.store(catch, Ordering::Relaxed);
    SENT_IGNORE.store(ignore, Ordering::Relaxed);
    crate::hypercall::call_ret(&Request::Control(ControlRequest::SignalDispositions { catch, ignore }));
}

/// The state linuxrun inherited: ignored signals stay ignored and the blocked mask stays
/// blocked across exec, as on Linux. The monitor already ignores the ignored ones.
pub fn inherit(st: &mut SignalState, me: &mut ThreadSignals, ignored: u64, blocked: u64) {
    for sig in 1..NSIG as i32 {
        if ignored & bit(sig) != 0 && UNBLOCKABLE & bit(sig) == 0 {
            st.actions[sig as usize].handler = SIG_IGN;
        }
    }
    me.blocked = blocked & !UNBLOCKABLE;
    SENT_IGNORE.store(ignored & !UNBLOCKABLE, Ordering::Relaxed);
    actions_changed();
}

/// The default action of stop signal `sig`: the host process stops (its parent's wait sees
/// WIFSTOPPED with `sig`) until a SIGCONT continues it.
/// Whether Linux would discard stop signal `sig` here rather than stop: a SIGTSTP, SIGTTIN
/// or SIGTTOU (not SIGSTOP) to a process whose group is orphaned.
pub fn stop_discarded(sig: i32) -> bool {
    sig != SIGSTOP && crate::hypercall::call_ret(&Request::Proc(ProcRequest::GroupOrphaned)) == 1
}

pub fn stop_self(sig: i32) {
    crate::hypercall::call_ret(&Request::Proc(ProcRequest::StopSelf { sig }));
}
