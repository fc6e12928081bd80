//! Resource limits (getrlimit/setrlimit/prlimit64), per process.

use spin::Mutex;

use super::RLIM_INFINITY;

const RLIM_NLIMITS: usize = abi_shared::linux::general::RLIM_NLIMITS as usize;
const RLIMIT_STACK: u64 = abi_shared::linux::general::RLIMIT_STACK as u64;

/// Each Linux resource's (soft, hard) limit, by resource number.
pub struct Limits(Mutex<[(u64, u64); RLIM_NLIMITS]>);

/// Why a new limit was refused.
pub enum LimitError {
    /// Not a resource, or soft above hard.
    Invalid,
    /// Raising the hard limit needs privilege.
    NotPermitted,
}

impl Limits {
    pub const fn new() -> Limits {
        Limits(Mutex::new([(RLIM_INFINITY, RLIM_INFINITY); RLIM_NLIMITS]))
    }

    pub fn init(&self, resource: u32, soft: u64, hard: u64) {
        if let Some(slot) = self.0.lock().get_mut(resource as usize) {
            *slot = (soft, hard);
            tell_memory(u64::from(resource), soft);
        }
    }

    fn get(&self, resource: u64) -> Option<(u64, u64)> {
        self.0.lock().get(resource as usize).copied()
    }
}

/// (soft, hard) of a Linux resource, or None for an unknown one.
pub fn rlimit(resource: u64) -> Option<(u64, u64)> {
    super::process().limits.get(resource)
}

/// The soft limit of a Linux resource (RLIM_INFINITY for an unknown one).
pub fn rlimit_soft(resource: u64) -> u64 {
    rlimit(resource).map_or(RLIM_INFINITY, |(soft, _)| soft)
}

/// Every resource limit (soft, hard) by Linux resource number.
pub fn rlimits() -> [(u64, u64); RLIM_NLIMITS] {
    *super::process().limits.0.lock()
}

/// Set a limit as setrlimit does: soft at most hard, and only root raises a hard limit.
pub fn set_rlimit(resource: u64, soft: u64, hard: u64) -> Result<(), LimitError> {
    let mut limits = super::process().limits.0.lock();
    let slot = limits.get_mut(resource as usize).ok_or(LimitError::Invalid)?;
    if soft > hard {
        return Err(LimitError::Invalid);
    }
    if hard > slot.1 && super::uid() != 0 {
        return Err(LimitError::NotPermitted);
    }
    *slot = (soft, hard);
    tell_memory(resource, soft);
    Ok(())
}

/// The memory layer keeps its own copy of the limits it enforces.
fn tell_memory(resource: u64, soft: u64) {
    if resource == RLIMIT_STACK {
        crate::mm::set_stack_limit(soft);
    }
}
