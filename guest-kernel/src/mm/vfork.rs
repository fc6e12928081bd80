//! What a vfork child writes reaches its parent. On Linux the child borrows its parent's
//! memory until it execs or exits (glibc's posix_spawn reports an exec failure that way).
//! Here the child runs in its own host process on a copy-on-write copy, so it tracks what
//! it writes and sends that back before it lets the parent go:
//!
//! - at the start the child makes every user page read-only (`protect_for_vfork`, which
//!   remembers whether the page was writable); its first write to a page faults, and the
//!   kernel keeps the page's content from before that write (a snapshot) and makes it
//!   writable again. The kernel's own writes to user memory through the direct map (uaccess,
//!   futex words, buffers the host fills) take the same step before they write;
//! - just before exec's point of no return, or exit, the child compares each written page
//!   with its snapshot and sends only the bytes that changed (`VforkCopyBack`); pages the
//!   child mapped itself meanwhile are compared with zeros where they are anonymous, and
//!   sent whole otherwise. The monitor streams the ranges to the parent's monitor, which
//!   keeps them until the parent's guest takes them (`VforkTakeCopyBack`) and writes them to
//!   the same addresses.
//!
//! Only the changed bytes travel because the parent's other threads run on while the child
//! runs (task/fork_gate.rs): writing back whole pages would undo what they wrote there
//! meanwhile. Ranges the parent does not have writable (the child's own new mappings) are
//! skipped by the parent's `copy_to_user`.

use core::sync::atomic::{AtomicBool, Ordering};

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use spin::Mutex;

use abi_shared::hypercall::{GuestSeg, ProcRequest, Request, SegList};
use abi_shared::layout::PAGE_SIZE;

use super::space::SPACE;
use super::vma::VmaKind;
use super::{frame, paging};
use crate::hypercall::{call_ret, kernel_buf_seg};

/// This process is a vfork child that has not exec'd or exited yet.
static TRACKING: AtomicBool = AtomicBool::new(false);

/// The pages written since tracking began: their address and the frame holding their
/// content from before the first write (0: no frame was free, the page goes back whole).
static SNAPSHOTS: Mutex<BTreeMap<u64, u64>> = Mutex::new(BTreeMap::new());

/// In a new vfork child (or after a failed exec in one): start tracking writes.
pub fn start_tracking() {
    paging::for_each_user_leaf(|leaf| leaf.protect_for_vfork());
    crate::arch::platform::flush_tlb_all();
    TRACKING.store(true, Ordering::Relaxed);
}

pub fn is_tracking() -> bool {
    TRACKING.load(Ordering::Relaxed)
}

/// In a child made by plain fork (even under a vfork child): nothing to track; the pages
/// still read-only for tracking become writable again at once.
pub fn stop_tracking() {
    TRACKING.store(false, Ordering::Relaxed);
    let mut any = false;
    paging::for_each_user_leaf(|leaf| {
        if leaf.vfork_untouched() {
            leaf.release_from_vfork();
            any = true;
        }
    });
    if any {
        crate::arch::platform::flush_tlb_all();
    }
    free_snapshots(core::mem::take(&mut *SNAPSHOTS.lock()));
}

/// The kernel is about to write to user address `va` through the direct map.
pub fn note_kernel_write(va: u64) {
    if TRACKING.load(Ordering::Relaxed) {
        before_write(va);
    }
}

/// A write to `va` is about to happen (a write fault on a present page, or a kernel
/// write): if the page is still read-only for tracking, keep its content and make it
/// writable. Harmless where nothing is tracked (the page just becomes writable again).
pub fn before_write(va: u64) {
    let page = va & !(PAGE_SIZE - 1);
    let Some(gpa) = paging::vfork_first_write(page) else { return };
    if TRACKING.load(Ordering::Relaxed) {
        let snapshot = frame::alloc_zeroed().unwrap_or(0);
        if snapshot != 0 {
            // SAFETY: both are whole frames of guest RAM reached through the direct map:
            // `gpa` the user page's, `snapshot` one just allocated.
            unsafe {
                core::ptr::copy_nonoverlapping(frame::frame_ptr(gpa), frame::frame_ptr(snapshot), PAGE_SIZE as usize)
            };
        }
        if let Some(old) = SNAPSHOTS.lock().insert(page, snapshot) {
            free_snapshots([(page, old)]);
        }
    }
    // No flush here (one costs a hypercall under pvm): a stale read-only entry only brings a
    // spurious write fault, whose handler flushes it (mm/fault.rs), as it does right after
    // this call when a write fault brought us here.
    paging::vfork_release(page);
}

fn free_snapshots(snapshots: impl IntoIterator<Item = (u64, u64)>) {
    for (_, snapshot) in snapshots {
        if snapshot != 0 {
            frame::free(snapshot);
        }
    }
}

/// Before exec's point of no return or exit: send every byte written since vfork.
pub fn copy_back() {
    if !TRACKING.swap(false, Ordering::Relaxed) {
        return;
    }
    let snapshots = core::mem::take(&mut *SNAPSHOTS.lock());
    let mut ranges: Vec<(u64, u64, u64)> = Vec::new();
    for (&va, &snapshot) in &snapshots {
        let Some((gpa, _)) = paging::translate(va) else { continue };
        if snapshot == 0 {
            ranges.push((va, gpa, PAGE_SIZE));
        } else {
            // SAFETY: both are whole frames of guest RAM reached through the direct map.
            let (old, new) = unsafe { (frame_bytes(snapshot, PAGE_SIZE), frame_bytes(gpa, PAGE_SIZE)) };
            changed_runs(old, new, |off, len| ranges.push((va + off, gpa + off, len)));
        }
    }
    new_pages(&snapshots, &mut ranges);
    free_snapshots(snapshots);
    for (va, gpa, len) in ranges {
        let seg = [GuestSeg { gpa, len }];
        call_ret(&Request::Proc(ProcRequest::VforkCopyBack { va, buf: SegList::Borrowed(&seg) }));
    }
}

/// The pages the child mapped since tracking began (neither still read-only for tracking
/// nor snapshotted): an anonymous one's content before the child was zeros, so its nonzero
/// bytes are what the child wrote; any other goes back whole.
fn new_pages(snapshots: &BTreeMap<u64, u64>, ranges: &mut Vec<(u64, u64, u64)>) {
    let mut new = Vec::new();
    paging::for_each_user_leaf(|leaf| {
        if leaf.writable() && !leaf.vfork_untouched() && !snapshots.contains_key(&leaf.va) {
            new.push((leaf.va, leaf.gpa(), leaf.size));
        }
    });
    let space = SPACE.lock();
    for (va, gpa, len) in new {
        let anonymous = space.vmas.find(va).is_some_and(|v| v.file.is_none() && v.kind != VmaKind::Image);
        if anonymous {
            // SAFETY: a present leaf's frame (or 2 MiB block) of guest RAM, direct-mapped.
            let bytes = unsafe { frame_bytes(gpa, len) };
            nonzero_runs(bytes, |off, n| ranges.push((va + off, gpa + off, n)));
        } else {
            ranges.push((va, gpa, len));
        }
    }
}

/// # Safety
/// `[gpa, gpa + len)` is guest RAM reached through the direct map, not written meanwhile.
unsafe fn frame_bytes<'a>(gpa: u64, len: u64) -> &'a [u8] {
    // SAFETY: as the caller promises.
    unsafe { core::slice::from_raw_parts(frame::frame_ptr(gpa), len as usize) }
}

/// Each maximal run of bytes where `new` differs from `old`, as (offset, length).
fn changed_runs(old: &[u8], new: &[u8], mut run: impl FnMut(u64, u64)) {
    runs_where(new.len(), |i| old[i] != new[i], |a, b| run(a as u64, (b - a) as u64));
}

/// Each maximal run of nonzero bytes, as (offset, length).
fn nonzero_runs(bytes: &[u8], mut run: impl FnMut(u64, u64)) {
    runs_where(bytes.len(), |i| bytes[i] != 0, |a, b| run(a as u64, (b - a) as u64));
}

/// The maximal runs `[a, b)` of indexes below `len` where `hit` holds, 8 bytes at a time
/// where a whole word misses (most of a page usually does).
fn runs_where(len: usize, hit: impl Fn(usize) -> bool, mut run: impl FnMut(usize, usize)) {
    let mut start: Option<usize> = None;
    let mut i = 0;
    while i < len {
        if start.is_none() && i % 8 == 0 && i + 8 <= len && !(i..i + 8).any(&hit) {
            i += 8;
            continue;
        }
        match (hit(i), start) {
            (true, None) => start = Some(i),
            (false, Some(a)) => {
                run(a, i);
                start = None;
            }
            _ => {}
        }
        i += 1;
    }
    if let Some(a) = start {
        run(a, len);
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
