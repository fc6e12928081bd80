//! Linux's limits on execve's arguments (fs/exec.c), checked while they are copied in,
//! before the old image is gone: a failure is E2BIG for the caller, not a dead process.

/// Longest single argument or environment string, NUL included (MAX_ARG_STRLEN).
pub const MAX_ARG_STRLEN: u64 = 32 * 4096;
/// The least room arguments get whatever RLIMIT_STACK says (ARG_MAX).
pub const ARG_MAX: u64 = abi_shared::linux::general::ARG_MAX as u64;
/// Linux's default stack limit (_STK_LIM).
const STK_LIM: u64 = 8 << 20;
const POINTER: u64 = 8;

/// Room for the arguments, their pointers included: a quarter of RLIMIT_STACK, at most
/// three quarters of _STK_LIM and at least ARG_MAX (bprm_stack_limits).
pub fn arg_limit(rlimit_stack: u64) -> u64 {
    (STK_LIM / 4 * 3).min(rlimit_stack / 4).max(ARG_MAX)
}

/// What is left for the strings while they are copied in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    left: u64,
}

impl Budget {
    /// The room left once `argc` and `envc` pointers are set aside (Linux counts at least
    /// one argv pointer: an empty argv gets an empty argv[0]); None is E2BIG.
    pub fn new(rlimit_stack: u64, argc: u64, envc: u64) -> Option<Budget> {
        let limit = arg_limit(rlimit_stack);
        let pointers = argc.max(1).checked_add(envc)?.checked_mul(POINTER)?;
        (limit > pointers).then(|| Budget { left: limit - pointers })
    }

    /// Take room for a string of `len` bytes and its NUL; false is E2BIG.
    pub fn take(&mut self, len: u64) -> bool {
        let need = len.saturating_add(1);
        if need > MAX_ARG_STRLEN || need > self.left {
            return false;
        }
        self.left -= need;
        true
    }

    /// Whether `count` pointers alone already exceed any limit (for stopping early while
    /// counting a huge pointer array).
    pub fn too_many(rlimit_stack: u64, count: u64) -> bool {
        count.saturating_mul(POINTER) >= arg_limit(rlimit_stack)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEFAULT_STACK: u64 = 8 << 20;

    #[test]
    fn limit_follows_rlimit_stack_within_bounds() {
        assert_eq!(arg_limit(DEFAULT_STACK), 2 << 20);
        assert_eq!(arg_limit(u64::MAX), 6 << 20);
        assert_eq!(arg_limit(4096), ARG_MAX);
    }

    #[test]
    fn one_string_may_not_exceed_max_arg_strlen() {
        let mut b = Budget::new(DEFAULT_STACK, 1, 0).unwrap();
        assert!(b.take(MAX_ARG_STRLEN - 1));
        assert!(!b.take(MAX_ARG_STRLEN));
    }

    #[test]
    fn strings_and_pointers_share_the_limit() {
        let mut b = Budget::new(DEFAULT_STACK, 0, 0).unwrap();
        let mut total = 0;
        while b.take(MAX_ARG_STRLEN - 1) {
            total += MAX_ARG_STRLEN;
        }
        assert!(total <= (2 << 20) - 8 && total > (2 << 20) - 8 - MAX_ARG_STRLEN);
        assert_eq!(Budget::new(DEFAULT_STACK, 1 << 18, 0), None);
        assert!(Budget::too_many(DEFAULT_STACK, 1 << 18));
    }
}
