//! Demand paging of private file mappings: a page fault reads the page from the held file
//! into a fresh frame, which is the mapping's private copy from then on (writes stay in
//! it: copy-on-write without a shared page to copy from, since the guest has no page
//! cache). Neighbouring pages come along (fault-around, as Linux's fault_around_bytes):
//! a page fault costs tens of microseconds on kvm_pvm, a hypercall a few, so ld.so's
//! library mappings must not cost one of each per page.

use abi_shared::hypercall::{GuestSeg, MmRequest, Request, SegList};
use abi_shared::layout::{PAGE_SIZE, PHYS_MAP_BASE};

use super::frame;
use super::paging::{self, page_ceil, PageProt, TlbBatch};
use super::space::{prot_of, AccessError};
use super::vma::Vma;

/// Pages read per fault at most: an aligned 64 KiB window around the faulting page,
/// Linux's default fault_around_bytes.
const FAULT_AROUND_PAGES: usize = 64;

fn present(va: u64) -> bool {
    paging::translate(va).is_some()
}

/// The run of not-yet-present pages around `page` inside its fault-around window and the
/// VMA: one contiguous stretch of the file, so that one read fills it.
fn window(vma: &Vma, page: u64) -> (u64, u64) {
    let size = FAULT_AROUND_PAGES as u64 * PAGE_SIZE;
    let aligned = page & !(size - 1);
    let (lo_bound, hi_bound) = (aligned.max(vma.start), (aligned + size).min(vma.end));
    let mut lo = page;
    while lo > lo_bound && !present(lo - PAGE_SIZE) {
        lo -= PAGE_SIZE;
    }
    let mut hi = page + PAGE_SIZE;
    while hi < hi_bound && !present(hi) {
        hi += PAGE_SIZE;
    }
    (lo, hi)
}

/// Fault in `page` (absent, in the private file VMA `vma`) and its neighbours; returns
/// the frame of `page`. A page wholly beyond the end of the file is `BeyondFile` (SIGBUS);
/// the part of the last page past the end reads as zero.
pub fn fault_in(vma: &Vma, page: u64) -> Result<u64, AccessError> {
    let Some(backing) = vma.file.as_ref() else { return Err(AccessError::Unmapped) };
    if let Some(base) = backing.window {
        return fault_in_shared(vma, base, backing.size, page);
    }
    let Some(file) = backing.file.as_ref() else { return Err(AccessError::Unmapped) };
    let (lo, hi) = window(vma, page);
    let count = ((hi - lo) / PAGE_SIZE) as usize;
    let mut frames = [0u64; FAULT_AROUND_PAGES];
    for i in 0..count {
        match frame::alloc_zeroed() {
            Some(gpa) => frames[i] = gpa,
            None => {
                frames[..i].iter().copied().for_each(frame::free);
                return Err(AccessError::OutOfMemory);
            }
        }
    }
    let mut segs = [GuestSeg { gpa: 0, len: 0 }; FAULT_AROUND_PAGES];
    let mut nsegs = 0;
    for &gpa in &frames[..count] {
        if nsegs > 0 && segs[nsegs - 1].gpa + segs[nsegs - 1].len == gpa {
            segs[nsegs - 1].len += PAGE_SIZE;
        } else {
            segs[nsegs] = GuestSeg { gpa, len: PAGE_SIZE };
            nsegs += 1;
        }
    }
    let offset = vma.file_offset(lo).unwrap_or(0);
    let n = crate::hypercall::call_ret(&Request::Mm(MmRequest::FileRead {
        handle: file.handle,
        buf: SegList::Borrowed(&segs[..nsegs]),
        offset,
    }));
    // Pages holding file data; a read error maps nothing (SIGBUS, as Linux's EIO fault).
    let data_end = if n < 0 { lo } else { lo + page_ceil(n as u64) };
    let prot = prot_of(vma.prot);
    let mut result = Err(AccessError::BeyondFile);
    for (i, &gpa) in frames[..count].iter().enumerate() {
        let va = lo + i as u64 * PAGE_SIZE;
        if va >= data_end {
            frame::free(gpa);
        } else if !paging::map_accessed(va, gpa, prot) {
            frame::free(gpa);
            if va == page {
                result = Err(AccessError::OutOfMemory);
            }
        } else if va == page {
            result = Ok(gpa);
        }
    }
    result
}

/// A MAP_SHARED page: map it to its place in the file window (the host mapped the file
/// there), with its not-yet-present neighbours, which cost nothing more to map. The kernel
/// reaches window pages through its direct map too, for user copies.
fn fault_in_shared(vma: &Vma, base: u64, size: u64, page: u64) -> Result<u64, AccessError> {
    let file_end = page_ceil(size);
    let offset_of = |va: u64| vma.file_offset(va).unwrap_or(u64::MAX);
    let gpa_of = |va: u64| base + (va - vma.start);
    // Past the size known at mmap, the file may have grown since, and below it the file
    // may have shrunk (a truncation the monitor reported): only the host can tell.
    let known = |va: u64| offset_of(va) < file_end && !truncated(gpa_of(va));
    if !known(page) && !window_page_backed(gpa_of(page)) {
        return Err(AccessError::BeyondFile);
    }
    let (lo, hi) = window(vma, page);
    let prot = prot_of(vma.prot);
    let wanted = |va: u64| va == page || known(va);
    for va in (lo..hi).step_by(PAGE_SIZE as usize).filter(|&va| wanted(va)) {
        let gpa = gpa_of(va);
        // A neighbour that cannot be mapped (no memory for a page table) is left for its
        // own fault.
        if (!map_direct(gpa) || !paging::map_accessed(va, gpa, prot)) && va == page {
            return Err(AccessError::OutOfMemory);
        }
    }
    Ok(base + (page - vma.start))
}

/// File-window ranges (guest-physical start -> end) where a file was found truncated
/// below the size the guest knew: pages there are mapped only after asking the host.
#[cfg(target_os = "none")]
static TRUNCATED: spin::Mutex<alloc::collections::BTreeMap<u64, u64>> =
    spin::Mutex::new(alloc::collections::BTreeMap::new());

#[cfg(target_os = "none")]
fn truncated(gpa: u64) -> bool {
    let set = TRUNCATED.lock();
    !set.is_empty() && set.range(..=gpa).next_back().is_some_and(|(_, &end)| gpa < end)
}

#[cfg(not(target_os = "none"))]
fn truncated(_gpa: u64) -> bool {
    false
}

/// A window range goes back to the allocator: what was learnt about its file goes too.
#[cfg(target_os = "none")]
pub fn forget_truncation(start: u64, end: u64) {
    TRUNCATED.lock().retain(|&s, e| *e <= start || s >= end);
}

/// The monitor's request after a touch it could not serve (see
/// `vcpu_block::WINDOW_RESYNC`): a page this kernel mapped lies past its file's end now,
/// since the file was truncated. Unmap every such page, so that the next touch is a page
/// fault here and a SIGBUS, as on Linux, and answer whether there was one.
#[cfg(target_os = "none")]
pub fn resync_window_if_asked() {
    use abi_shared::layout::vcpu_block::{
        WINDOW_RESYNC, WINDOW_RESYNC_ASKED, WINDOW_RESYNC_FOUND_NOTHING, WINDOW_RESYNC_IDLE,
    };
    use core::sync::atomic::{AtomicU64, Ordering};
    let word = crate::hypercall::transport::control::<AtomicU64>(WINDOW_RESYNC);
    if word.load(Ordering::Acquire) != WINDOW_RESYNC_ASKED {
        return;
    }
    let found = unmap_pages_past_file_ends();
    word.store(if found { WINDOW_RESYNC_IDLE } else { WINDOW_RESYNC_FOUND_NOTHING }, Ordering::Release);
}

/// For every shared file VMA: find where its file ends now (binary search with the
/// host's probe: the pages of a VMA are consecutive pages of its file), and unmap the
/// mapped pages past it. Returns whether any was mapped.
#[cfg(target_os = "none")]
fn unmap_pages_past_file_ends() -> bool {
    let space = super::space::SPACE.lock();
    let mut tlb = TlbBatch::new();
    let mut found = false;
    for vma in space.vmas.iter() {
        let Some(base) = vma.file.as_ref().and_then(|f| f.window) else { continue };
        let pages = (vma.end - vma.start) / PAGE_SIZE;
        let (mut lo, mut hi) = (0, pages);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if window_page_backed(base + mid * PAGE_SIZE) {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        let cut = vma.start + lo * PAGE_SIZE;
        if !(cut..vma.end).step_by(PAGE_SIZE as usize).any(present) {
            continue;
        }
        found = true;
        paging::unmap_range(cut, vma.end, &mut tlb);
        unmap_direct(base + lo * PAGE_SIZE, pages.saturating_sub(lo) * PAGE_SIZE, &mut tlb);
        TRUNCATED.lock().insert(base + lo * PAGE_SIZE, base + pages * PAGE_SIZE);
    }
    tlb.flush();
    found
}

/// Whether the file mapped at window page `gpa` reaches it now (the host's answer: the
/// file may have grown or shrunk since the mapping was made).
pub fn window_page_backed(gpa: u64) -> bool {
    crate::hypercall::call_ret(&Request::Mm(MmRequest::WindowPageBacked { gpa })) == 1
}

/// Before the kernel itself touches the bytes of the page at `gpa`: a file-window page
/// whose file was truncated below it would fault in the host (and stop the VM), where
/// Linux answers EFAULT. Guest RAM needs no check.
pub fn direct_access_ok(gpa: u64) -> bool {
    gpa < abi_shared::layout::FILE_WINDOW_GPA || window_page_backed(gpa & !(PAGE_SIZE - 1))
}

/// The kernel's direct-map entry for a window page (RAM is mapped at boot; the window is
/// not, and its pages come and go).
fn map_direct(gpa: u64) -> bool {
    let va = PHYS_MAP_BASE + gpa;
    paging::translate(va).is_some() || paging::map(va, gpa, PageProt { read: true, write: true, exec: false })
}

/// Remove the direct-map entries of the window range `[gpa, gpa+len)` (its host mapping
/// is about to go); the caller flushes the TLB.
pub fn unmap_direct(gpa: u64, len: u64, tlb: &mut TlbBatch) {
    paging::unmap_range(PHYS_MAP_BASE + gpa, PHYS_MAP_BASE + gpa + len, tlb);
}
