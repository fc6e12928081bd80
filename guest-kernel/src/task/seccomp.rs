//! seccomp's per-thread state, as Linux keeps it in each task: the mode (disabled, strict,
//! filter), the no_new_privs flag, and the chain of attached filters, newest first. A
//! chain is shared (reference counted) with the threads and children that inherited it;
//! a filter attached later extends only the attaching thread's chain (or, with
//! SECCOMP_FILTER_FLAG_TSYNC, every thread's). A fork's child has a copy of this memory,
//! so it inherits the caller's state as Linux's does, and exec keeps it.
//! The syscalls that set it and what a filter's verdict does are syscall/seccomp.rs.

use alloc::sync::Arc;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicU8, Ordering};

use spin::Mutex;

use super::seccomp_bpf::{self, Insn};

pub const MODE_DISABLED: u8 = 0;
pub const MODE_STRICT: u8 = 1;
pub const MODE_FILTER: u8 = 2;

/// SECCOMP_RET_ALLOW: what a thread without filters gets.
pub const RET_ALLOW: u32 = 0x7fff_0000;
/// SECCOMP_RET_ACTION_FULL: the action part of a filter's return value.
pub const RET_ACTION_FULL: u32 = 0xffff_0000;
/// Linux's bound on the instructions along one chain (MAX_INSNS_PER_PATH), each filter
/// counted with 4 more for its own overhead.
const MAX_INSNS_PER_PATH: usize = 32768;

/// One attached filter and the rest of the chain it was attached on top of.
pub struct Filter {
    prog: Vec<Insn>,
    prev: Option<Arc<Filter>>,
    /// This filter's and its ancestors' instructions, as Linux counts them for the bound.
    path_cost: usize,
}

impl Filter {
    fn chain(self: &Arc<Filter>) -> impl Iterator<Item = &Filter> {
        core::iter::successors(Some(&**self), |f| f.prev.as_deref())
    }
}

/// Why a filter cannot be attached (the caller's errno).
#[derive(Debug, PartialEq, Eq)]
pub enum AttachError {
    /// The thread is in strict mode (EINVAL).
    WrongMode,
    /// The chain would exceed MAX_INSNS_PER_PATH (ENOMEM).
    TooLong,
}

pub struct State {
    mode: AtomicU8,
    no_new_privs: AtomicBool,
    chain: Mutex<Option<Arc<Filter>>>,
}

impl State {
    pub const fn new() -> State {
        State { mode: AtomicU8::new(MODE_DISABLED), no_new_privs: AtomicBool::new(false), chain: Mutex::new(None) }
    }

    /// The mode; one load, so that a thread without seccomp pays nothing more per syscall.
    #[inline]
    pub fn mode(&self) -> u8 {
        self.mode.load(Ordering::Acquire)
    }

    pub fn no_new_privs(&self) -> bool {
        self.no_new_privs.load(Ordering::Relaxed)
    }

    /// PR_SET_NO_NEW_PRIVS: set for good (nothing clears it).
    pub fn set_no_new_privs(&self) {
        self.no_new_privs.store(true, Ordering::Relaxed);
    }

    /// A new thread's: its creator's (Linux copies the task's seccomp and flags at clone).
    pub fn copy_from(&self, creator: &State) {
        let chain = creator.chain.lock().clone();
        *self.chain.lock() = chain;
        self.no_new_privs.store(creator.no_new_privs(), Ordering::Relaxed);
        self.mode.store(creator.mode(), Ordering::Release);
    }

    /// SECCOMP_SET_MODE_STRICT: false (EINVAL) if filters are already attached.
    pub fn set_strict(&self) -> bool {
        let chain = self.chain.lock();
        if chain.is_some() {
            return false;
        }
        self.mode.store(MODE_STRICT, Ordering::Release);
        true
    }

    /// The chain as it is now (for SECCOMP_FILTER_FLAG_TSYNC's ancestry check).
    pub fn chain(&self) -> Option<Arc<Filter>> {
        self.chain.lock().clone()
    }

    /// Attach a checked program on top of this thread's chain; the new chain.
    pub fn attach(&self, prog: Vec<Insn>) -> Result<Arc<Filter>, AttachError> {
        let mut chain = self.chain.lock();
        if self.mode() == MODE_STRICT {
            return Err(AttachError::WrongMode);
        }
        let below = chain.as_ref().map_or(0, |f| f.path_cost);
        if prog.len() + below > MAX_INSNS_PER_PATH {
            return Err(AttachError::TooLong);
        }
        let path_cost = below + prog.len() + 4;
        let filter = Arc::new(Filter { prog, prev: chain.take(), path_cost });
        *chain = Some(filter.clone());
        self.mode.store(MODE_FILTER, Ordering::Release);
        Ok(filter)
    }

    /// Whether TSYNC may give this thread `caller_chain` (taken before the new filter):
    /// it has no filter, or its chain is part of the caller's.
    pub fn may_sync_to(&self, caller_chain: Option<&Arc<Filter>>) -> bool {
        match (self.mode(), self.chain.lock().as_ref()) {
            (MODE_DISABLED, _) => true,
            (MODE_FILTER, Some(mine)) => {
                caller_chain.is_some_and(|c| c.chain().any(|f| core::ptr::eq(f, Arc::as_ptr(mine))))
            }
            (MODE_FILTER, None) => true,
            _ => false,
        }
    }

    /// TSYNC: take the caller's chain (and its no_new_privs, if set).
    pub fn sync_to(&self, chain: &Arc<Filter>, no_new_privs: bool) {
        *self.chain.lock() = Some(chain.clone());
        if no_new_privs {
            self.set_no_new_privs();
        }
        self.mode.store(MODE_FILTER, Ordering::Release);
    }

    /// How many filters the chain holds (/proc's Seccomp_filters).
    pub fn filter_count(&self) -> usize {
        self.chain.lock().as_ref().map_or(0, |f| f.chain().count())
    }

    /// Run every filter of the chain over `data` and keep the verdict of highest
    /// precedence, as Linux does: the lowest action part, taken as a signed number (so
    /// KILL_PROCESS first, ALLOW last); among equals the newest filter's.
    pub fn evaluate(&self, data: &[u8; seccomp_bpf::DATA_LEN as usize]) -> u32 {
        let chain = self.chain.lock().clone();
        let Some(chain) = chain else { return RET_ALLOW };
        let mut verdict = RET_ALLOW;
        for f in chain.chain() {
            let ret = seccomp_bpf::run(&f.prog, data);
            if ((ret & RET_ACTION_FULL) as i32) < ((verdict & RET_ACTION_FULL) as i32) {
                verdict = ret;
            }
        }
        verdict
    }
}
