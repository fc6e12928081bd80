//! Giving freed user memory back to the host, so that munmap, MADV_DONTNEED and a
//! shrinking brk lower the host's RSS as they lower Linux's.
//!
//! Frames freed by one operation are collected here: whole 2 MiB frames, and runs of
//! physically contiguous 4 KiB frames at least `MIN_RUN_PAGES` long, become ranges that one
//! `ReleaseMemory` hypercall hands to the host (never a hypercall per page); shorter runs
//! go back to the free lists as before (the host keeps backing them, and a later fault on
//! them costs no host page fault). The host answers whether the ranges now read as zero;
//! the frame allocator then hands them out without zeroing them.
//!
//! Order matters: the host may drop the pages only after no TLB entry can reach them, or
//! a stale translation could write into memory the guest believes is zero. The batch
//! therefore owns the operation's `TlbBatch` and flushes it before each hypercall. The
//! same holds for frames that go back to the guest's own free lists, and for page-table
//! pages: another vCPU may still write through a stale translation until the shootdown
//! has run, and a freed frame holds the free list's link (a stray write there hands out
//! any frame, a page table or a vCPU's kernel stack among them). So every frame is freed
//! only after the flush (`deferred`), as Linux's mmu_gather frees pages.

use alloc::vec::Vec;

use abi_shared::hypercall::{GuestSeg, MmRequest, Request, SegList};
use abi_shared::layout::{HUGE_PAGE_SIZE, PAGE_SIZE};

use super::frame;
use super::paging::TlbBatch;
use crate::arch::platform;

/// Shortest run of contiguous 4 KiB frames worth a trip to the host (64 KiB, Linux's
/// fault-around size: smaller frees are left for reuse).
const MIN_RUN_PAGES: u64 = 16;
/// Ranges per hypercall; a full batch is sent early (after a full TLB flush).
const MAX_RANGES: usize = 32;
/// Freed 2 MiB frames kept in the guest, dirty, before more go back to the host: a program
/// that maps, touches and unmaps large buffers in turn reuses them, where a released frame
/// has the host fault in and zero a fresh 2 MiB page at the next touch (mmap + touch +
/// munmap of 2 MiB: ~400 → ~275 µs on kvm_pvm). Beyond these 8 MiB, freeing memory still
/// lowers the host's RSS.
const KEPT_HUGE_FRAMES: u64 = 4;
/// A frame, or run of 4 KiB frames, to free once no TLB entry can reach it.
#[derive(Clone, Copy)]
enum Deferred {
    /// [start, end) of 4 KiB frames.
    Pages(u64, u64),
    /// A 2 MiB frame.
    Huge(u64),
}

pub struct Release {
    pub tlb: TlbBatch,
    ranges: [GuestSeg; MAX_RANGES],
    count: usize,
    /// The current run of 4 KiB frames, [start, end) in guest-physical memory.
    run: (u64, u64),
    /// Frames waiting for the flush (a list on the heap: flushing early to make room would
    /// cost a whole TLB flush on every vCPU each time).
    deferred: Vec<Deferred>,
    /// 2 MiB frames among `deferred` that stay in the guest (KEPT_HUGE_FRAMES counts them).
    kept_huge: u64,
}

impl Release {
    pub const fn new() -> Release {
        Release {
            tlb: TlbBatch::new(),
            ranges: [GuestSeg { gpa: 0, len: 0 }; MAX_RANGES],
            count: 0,
            run: (0, 0),
            deferred: Vec::new(),
            kept_huge: 0,
        }
    }

    /// A freed 4 KiB frame (its page is unmapped and added to `tlb`).
    pub fn page(&mut self, gpa: u64) {
        let (start, end) = self.run;
        if start != end && gpa == end {
            self.run.1 += PAGE_SIZE;
        } else if start != end && gpa + PAGE_SIZE == start {
            self.run.0 = gpa;
        } else {
            self.close_run();
            self.run = (gpa, gpa + PAGE_SIZE);
        }
    }

    /// A freed 2 MiB frame (unmapped, and added to `tlb`): kept for reuse while few are,
    /// like a short run of 4 KiB frames (the operation flushes the TLB before it returns).
    pub fn huge(&mut self, gpa: u64) {
        if frame::free_huge_frames() + self.kept_huge < KEPT_HUGE_FRAMES {
            self.kept_huge += 1;
            self.defer(Deferred::Huge(gpa));
        } else {
            self.add_range(gpa, HUGE_PAGE_SIZE);
        }
    }

    /// A page-table page the operation emptied and unlinked: freed after the flush, which
    /// must then drop every cached translation (the caller asks for a whole flush).
    pub fn table_page(&mut self, gpa: u64) {
        self.defer(Deferred::Pages(gpa, gpa + PAGE_SIZE));
    }

    fn close_run(&mut self) {
        let (start, end) = core::mem::take(&mut self.run);
        if end - start >= MIN_RUN_PAGES * PAGE_SIZE {
            self.add_range(start, end - start);
        } else if start != end {
            self.defer(Deferred::Pages(start, end));
        }
    }

    fn defer(&mut self, what: Deferred) {
        self.deferred.push(what);
    }

    /// Only after a flush on every vCPU: the deferred frames go back to the free lists.
    fn free_deferred(&mut self) {
        for d in self.deferred.drain(..) {
            match d {
                Deferred::Pages(start, end) => (start..end).step_by(PAGE_SIZE as usize).for_each(frame::free),
                Deferred::Huge(gpa) => frame::free_huge(gpa),
            }
        }
        self.kept_huge = 0;
    }

    fn add_range(&mut self, gpa: u64, len: u64) {
        if let Some(last) = self.ranges[..self.count].last_mut() {
            if last.gpa + last.len == gpa {
                last.len += len;
                return;
            }
            if gpa + len == last.gpa {
                last.gpa = gpa;
                last.len += len;
                return;
            }
        }
        if self.count == MAX_RANGES {
            // Mid-operation: the pages may still be in the TLB.
            flush_everywhere();
            self.free_deferred();
            self.send();
        }
        self.ranges[self.count] = GuestSeg { gpa, len };
        self.count += 1;
    }

    fn send(&mut self) {
        let ranges = &self.ranges[..self.count];
        if ranges.is_empty() {
            return;
        }
        let r =
            crate::hypercall::call_ret(&Request::Mm(MmRequest::ReleaseMemory { ranges: SegList::Borrowed(ranges) }));
        // Refused (cannot happen with ranges of our own RAM): keep them as dirty frames.
        for s in ranges {
            frame::add_released(s.gpa, s.len, r == 1);
        }
        crate::stats::note_released(ranges.iter().map(|s| s.len).sum(), r >= 0);
        self.count = 0;
    }

    /// Flush the TLB (on every vCPU), then free the deferred frames and give the collected
    /// ranges to the host.
    pub fn finish(mut self) {
        self.close_run();
        core::mem::replace(&mut self.tlb, TlbBatch::new()).flush();
        self.free_deferred();
        self.send();
    }
}

/// This vCPU's whole TLB, then every other vCPU's of the process.
fn flush_everywhere() {
    platform::flush_tlb_all();
    super::tlb::shootdown();
}
