//! The signal state's home: dispositions, the blocked mask, pending signals with their
//! siginfo, the alternate stack. The data and its bookkeeping live here, in the task
//! layer (every layer above may raise or inspect signals); delivery, frames, the signal
//! syscalls and signalfd are signal/'s. One state per process today: once threads
//! arrive, the blocked mask, the alternate stack and thread-directed pending signals move
//! to the Thread.

use alloc::collections::VecDeque;

use abi_shared::linux::signal::*;

pub use super::siginfo::SigInfo;

/// sigaltstack's flag for no alternate stack.
pub const SS_DISABLE: i32 = 2;

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

/// Signals the kernel raises for the instruction that just ran: delivered before others.
const SYNCHRONOUS_MASK: u64 = bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGTRAP) | bit(SIGFPE) | bit(SIGSYS);

impl SignalState {
    /// Nothing pending, nothing blocked, every action the default, no alternate stack.
    pub const fn new() -> SignalState {
        SignalState {
            actions: [Action { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0 }; NSIG],
            blocked: 0,
            pending: 0,
            info: [SigInfo { signo: 0, errno: 0, code: 0, pad: 0, fields: [0; 14] }; NSIG],
            rt_queue: VecDeque::new(),
            altstack: AltStack { sp: 0, flags: SS_DISABLE, size: 0 },
            saved_mask: None,
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
