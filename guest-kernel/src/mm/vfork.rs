//! What a vfork child writes reaches its parent. On Linux the child borrows its parent's
//! memory until it execs or exits (glibc's posix_spawn reports an exec failure that way).
//! Here the child runs in its own host process on a copy-on-write copy, so it tracks what
//! it writes and sends that back before it lets the parent go:
//!
//! - at the start the child clears the dirty bit of every user mapping; the MMU sets it
//!   again on the child's own writes, and the kernel sets it for writes it makes through
//!   the direct map (uaccess, and buffers the host fills);
//! - just before exec's point of no return, or exit, the child sends every dirty range
//!   (`VforkCopyBack`); the monitor streams it to the parent's monitor, which keeps it until
//!   the parent's guest takes it (`VforkTakeCopyBack`) and writes it to the same addresses.
//!
//! The parent is suspended the whole time (and its other threads wait at the fork gate
//! meanwhile, task/fork_gate.rs), so a dirty page in the child is the parent's page plus the
//! child's writes. Ranges the parent does not have writable (the child's own
//! new mappings) are skipped.

use core::sync::atomic::{AtomicBool, Ordering};

use alloc::vec::Vec;

use abi_shared::hypercall::{GuestSeg, ProcRequest, Request, SegList};

use super::paging;
use crate::hypercall::{call_ret, kernel_buf_seg};

/// This process is a vfork child that has not exec'd or exited yet.
static TRACKING: AtomicBool = AtomicBool::new(false);

/// In a new vfork child: start tracking writes.
pub fn start_tracking() {
    paging::for_each_user_leaf(|leaf| {
        if leaf.dirty() {
            leaf.clean();
        }
    });
    crate::arch::platform::flush_tlb_all();
    TRACKING.store(true, Ordering::Relaxed);
}

pub fn is_tracking() -> bool {
    TRACKING.load(Ordering::Relaxed)
}

/// In a child made by plain fork: nothing to track (even under a vfork child).
pub fn stop_tracking() {
    TRACKING.store(false, Ordering::Relaxed);
}

/// The kernel is about to write to user address `va` through the direct map.
pub fn note_kernel_write(va: u64) {
    if TRACKING.load(Ordering::Relaxed) {
        paging::mark_dirty(va);
    }
}

/// Before exec's point of no return or exit: send every range written since vfork.
pub fn copy_back() {
    if !TRACKING.swap(false, Ordering::Relaxed) {
        return;
    }
    let mut dirty: Vec<(u64, u64, u64)> = Vec::new();
    paging::for_each_user_leaf(|leaf| {
        if leaf.dirty() && leaf.writable() {
            dirty.push((leaf.va, leaf.gpa(), leaf.size));
        }
    });
    for (va, gpa, len) in dirty {
        let seg = [GuestSeg { gpa, len }];
        call_ret(&Request::Proc(ProcRequest::VforkCopyBack { va, buf: SegList::Borrowed(&seg) }));
    }
}

/// In the vfork parent, once its child let it go: write what the child wrote.
pub fn apply_in_parent() {
    let buf = alloc::vec![0u8; 64 * 1024];
    loop {
        let seg = [kernel_buf_seg(&buf)];
        let n = call_ret(&Request::Proc(ProcRequest::VforkTakeCopyBack { buf: SegList::Borrowed(&seg) }));
        if n <= 0 {
            return;
        }
        let mut records = &buf[..(n as usize).min(buf.len())];
        while records.len() >= 16 {
            let va = u64::from_le_bytes(records[..8].try_into().unwrap_or_default());
            let len = u64::from_le_bytes(records[8..16].try_into().unwrap_or_default()) as usize;
            let Some(data) = records[16..].get(..len) else { return };
            // A range the parent cannot write (the child's own mapping) is not shared.
            let _ = super::uaccess::copy_to_user(va, data);
            records = &records[16 + data.len()..];
        }
    }
}
