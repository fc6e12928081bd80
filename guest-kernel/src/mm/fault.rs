//! User page faults: demand paging, or the signal Linux would give (the exception handler
//! above delivers it).

use super::space::{Access, AccessError, SPACE};
use abi_shared::linux::signal::{SIGBUS, SIGSEGV};

/// #PF error-code bits.
const PF_PRESENT: u64 = 1 << 0;
const PF_WRITE: u64 = 1 << 1;
const PF_INSTR: u64 = 1 << 4;

pub const SEGV_MAPERR: i32 = abi_shared::linux::general::SEGV_MAPERR as i32;
pub const SEGV_ACCERR: i32 = abi_shared::linux::general::SEGV_ACCERR as i32;
pub const BUS_ADRERR: i32 = abi_shared::linux::general::BUS_ADRERR as i32;

/// What a user page fault came to, for the exception handler above to act on.
pub enum FaultOutcome {
    /// The page is mapped now (or a stale TLB entry was flushed): retry the access.
    Resolved,
    /// No access there: this signal, with `si_code` `code`, at the faulting address.
    Signal { signo: i32, code: i32 },
    /// Guest RAM ran out while mapping the page.
    OutOfMemory,
}

/// Resolve a user page fault at `addr` with the #PF error code `error`.
pub fn user_page_fault(error: u64, addr: u64) -> FaultOutcome {
    crate::stats::note_page_fault();
    let access = if error & PF_INSTR != 0 {
        Access::Exec
    } else if error & PF_WRITE != 0 {
        Access::Write
    } else {
        Access::Read
    };
    let result = SPACE.lock().populate(addr, access);
    match result {
        // A fault on a present page that populate allows: a write to a page a vfork child
        // tracks (mm/vfork.rs), or else a stale TLB entry. Either way, retry.
        Ok(_) if error & PF_PRESENT != 0 => {
            if access == Access::Write {
                super::vfork::before_write(addr);
            }
            crate::arch::platform::flush_tlb_page(addr);
            FaultOutcome::Resolved
        }
        Ok(_) => FaultOutcome::Resolved,
        Err(AccessError::Unmapped) => FaultOutcome::Signal { signo: SIGSEGV, code: SEGV_MAPERR },
        Err(AccessError::Protection) => FaultOutcome::Signal { signo: SIGSEGV, code: SEGV_ACCERR },
        Err(AccessError::BeyondFile) => FaultOutcome::Signal { signo: SIGBUS, code: BUS_ADRERR },
        Err(AccessError::OutOfMemory) => FaultOutcome::OutOfMemory,
    }
}

/// The most guest RAM private mappings may use, in bytes (what `--memory` allows).
pub fn commit_limit() -> u64 {
    SPACE.lock().commit_limit
}

/// On the monitor's interrupt: the monitor may ask for pages of truncated files to be
/// unmapped first (see `filemap::resync_window_if_asked`).
pub fn resync_window_if_asked() {
    super::filemap::resync_window_if_asked();
}
