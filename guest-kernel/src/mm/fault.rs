//! User page faults: demand paging, or SIGSEGV with Linux's siginfo.

use super::space::{Access, AccessError, SPACE};
use crate::arch::entry::TrapFrame;
use crate::signal::{self, SigInfo};
use abi_shared::hypercall::ExitHow;
use abi_shared::linux::signal::{SIGBUS, SIGKILL, SIGSEGV};

/// #PF error-code bits.
const PF_PRESENT: u64 = 1 << 0;
const PF_WRITE: u64 = 1 << 1;
const PF_INSTR: u64 = 1 << 4;

pub const SEGV_MAPERR: i32 = 1;
pub const SEGV_ACCERR: i32 = 2;
pub const BUS_ADRERR: i32 = 2;

pub fn user_page_fault(frame: &mut TrapFrame, addr: u64) {
    crate::stats::note_page_fault();
    let access = if frame.error & PF_INSTR != 0 {
        Access::Exec
    } else if frame.error & PF_WRITE != 0 {
        Access::Write
    } else {
        Access::Read
    };
    let result = SPACE.lock().populate(addr, access);
    let (signo, code) = match result {
        // A fault on a present page that populate allows means a stale TLB entry: retry.
        Ok(_) if frame.error & PF_PRESENT != 0 => {
            crate::arch::platform::flush_tlb_page(addr);
            return;
        }
        Ok(_) => return,
        Err(AccessError::Unmapped) => (SIGSEGV, SEGV_MAPERR),
        Err(AccessError::Protection) => (SIGSEGV, SEGV_ACCERR),
        Err(AccessError::BeyondFile) => (SIGBUS, BUS_ADRERR),
        Err(AccessError::OutOfMemory) => out_of_memory(),
    };
    crate::kdebug!("page fault at {:#x} (error {:#x}) from rip {:#x}: signal {}", addr, frame.error, frame.rip, signo);
    signal::force_synchronous(frame, SigInfo::fault(signo, code, addr));
}

/// Guest RAM ran out under a page fault: the process dies by SIGKILL, as Linux's OOM
/// killer ends one, and the user learns why (a signal alone would not say it was
/// linuxrun's memory size).
fn out_of_memory() -> ! {
    let mib = SPACE.lock().commit_limit >> 20;
    crate::print::log(
        0,
        format_args!(
            "guest memory (--memory {mib}M) ran out; the program was killed with SIGKILL, as Linux's OOM \
             killer would (a larger --memory may help)"
        ),
    );
    crate::task::exit::terminate(ExitHow::Signal(SIGKILL))
}

/// On the monitor's interrupt: the monitor may ask for pages of truncated files to be
/// unmapped first (see `filemap::resync_window_if_asked`).
pub fn resync_window_if_asked() {
    super::filemap::resync_window_if_asked();
}
