//! The signal state's home: dispositions, blocked masks, pending signals with their
//! siginfo, alternate stacks. The data and its bookkeeping live here, in the task layer
//! (every layer above may raise or inspect signals); delivery, frames, the signal syscalls
//! and signalfd are signal/'s.
//!
//! As on Linux, part of it is the process's and part each thread's: the dispositions and
//! the process-directed pending set (`kill`, outside senders, timers) are shared
//! (`SignalState`, in the `Process`); the blocked mask, the thread-directed pending set
//! (`tgkill`, faults), the alternate stack and sigsuspend's saved mask are the thread's
//! (`ThreadSignals`, in each `Thread`). Lock order: the process's, then a thread's.

use alloc::collections::VecDeque;

use abi_shared::linux::signal::*;

pub use super::siginfo::SigInfo;

/// sigaltstack's flag for no alternate stack.
pub const SS_DISABLE: i32 = abi_shared::linux::general::SS_DISABLE as i32;

pub const NSIG: usize = 65;
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

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

impl AltStack {
    pub const DISABLED: AltStack = AltStack { sp: 0, flags: SS_DISABLE, size: 0 };
}

/// A set of pending signals: one instance of each standard signal, every instance of a
/// real-time one, in order.
pub struct Pending {
    /// Bit per signal with at least one instance pending.
    pub mask: u64,
    /// Standard signals: the one pending instance's siginfo.
    info: [SigInfo; NSIG],
    /// Real-time signals queue every instance, in order.
    rt_queue: VecDeque<SigInfo>,
}

/// Most real-time signals queued at once in one set (RLIMIT_SIGPENDING-like).
pub const RT_QUEUE_MAX: usize = 4096;

/// Signals the kernel raises for the instruction that just ran: delivered before others.
const SYNCHRONOUS_MASK: u64 = bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGTRAP) | bit(SIGFPE) | bit(SIGSYS);

impl Pending {
    pub const fn new() -> Pending {
        Pending {
            mask: 0,
            info: [SigInfo { signo: 0, errno: 0, code: 0, pad: 0, fields: [0; 14] }; NSIG],
            rt_queue: VecDeque::new(),
        }
    }

    /// Make `info` pending: false when the real-time queue is full.
    pub fn queue(&mut self, info: SigInfo) -> bool {
        let sig = info.signo;
        if sig >= SIGRTMIN {
            if self.rt_queue.len() >= RT_QUEUE_MAX {
                return false;
            }
            self.rt_queue.push_back(info);
        } else {
            self.info[sig as usize] = info;
        }
        self.mask |= bit(sig);
        true
    }

    /// The next signal among `candidates` as Linux picks it: synchronous ones first, then
    /// the lowest number.
    pub fn next_signal(&self, candidates: u64) -> Option<i32> {
        let ready = self.mask & candidates;
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
                self.mask &= !bit(sig);
            }
            info
        } else {
            self.mask &= !bit(sig);
            self.info[sig as usize]
        }
    }

    /// Drop every pending instance of `sig` (it became ignored).
    pub fn discard(&mut self, sig: i32) {
        self.mask &= !bit(sig);
        self.rt_queue.retain(|i| i.signo != sig);
    }

    /// Drop everything (a forked child starts with nothing pending).
    pub fn clear(&mut self) {
        self.mask = 0;
        self.rt_queue.clear();
    }

    /// Instances queued: one per standard signal, each real-time one (/proc's SigQ).
    pub fn count(&self) -> u64 {
        u64::from((self.mask & (bit(SIGRTMIN) - 1)).count_ones()) + self.rt_queue.len() as u64
    }
}

/// What all threads of a process share: the dispositions and process-directed signals.
pub struct SignalState {
    pub actions: [Action; NSIG],
    pub shared: Pending,
}

impl SignalState {
    /// Every action the default, nothing pending.
    pub const fn new() -> SignalState {
        SignalState {
            actions: [Action { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0 }; NSIG],
            shared: Pending::new(),
        }
    }
}

/// One thread's part.
pub struct ThreadSignals {
    pub blocked: u64,
    /// Signals sent to this thread (tgkill, tkill, its own faults).
    pub pending: Pending,
    pub altstack: AltStack,
    /// rt_sigsuspend's mask to restore once a handler frame is built (uc_sigmask).
    pub saved_mask: Option<u64>,
    /// The blocked signals this thread waits for (sigtimedwait, a signalfd read): a
    /// process-directed one may be given to it although it blocks them (Linux unblocks
    /// them for the wait, in `real_blocked`).
    pub waiting_for: u64,
    /// The blocked mask the host's dispositions were last worked out with (signal/host.rs);
    /// `NEVER_SYNCED` for a new thread.
    pub synced_blocked: u64,
}

/// No real mask: unblockable signals are never blocked.
const NEVER_SYNCED: u64 = u64::MAX;

impl ThreadSignals {
    pub const fn new() -> ThreadSignals {
        ThreadSignals {
            blocked: 0,
            pending: Pending::new(),
            altstack: AltStack::DISABLED,
            saved_mask: None,
            waiting_for: 0,
            synced_blocked: NEVER_SYNCED,
        }
    }

    /// Whether a process-directed `sig` may be given to this thread.
    pub fn wants(&self, sig: i32) -> bool {
        (self.blocked & !self.waiting_for) & bit(sig) == 0
    }

    /// A new thread's: its creator's mask, nothing pending, no alternate stack (Linux
    /// clears it for a clone that shares the memory without CLONE_VFORK).
    pub fn reset_for_new_thread(&mut self, blocked: u64) {
        self.blocked = blocked;
        self.pending.clear();
        self.altstack = AltStack::DISABLED;
        self.saved_mask = None;
        self.waiting_for = 0;
        self.synced_blocked = NEVER_SYNCED;
    }
}

pub const fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}
