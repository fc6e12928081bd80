//! The process address space: VMAs plus the page tables that back them.

use core::sync::atomic::{AtomicU64, Ordering};

use spin::Mutex;

use abi_shared::bootinfo::BootInfo;
use abi_shared::layout::{user, HUGE_PAGE_SIZE, PAGE_SIZE, PHYS_MAP_BASE};

use super::paging::{self, page_ceil, page_floor, PageProt, TlbBatch};
use super::release::Release;
use super::vma::{FileBacking, Vma, VmaKind, VmaMap, PROT_EXEC, PROT_READ, PROT_WRITE};
use super::{filemap, frame, heap, window};
use abi_shared::hypercall::{MmRequest, Request};
use alloc::vec::Vec;

/// Linux's stack_guard_gap: 256 pages kept free below a growing stack.
const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

/// Size of the kernel heap carved from guest RAM at boot.
const HEAP_MAX: u64 = 32 << 20;

pub struct AddressSpace {
    pub vmas: VmaMap,
    /// Program break: where the heap VMA started and where the break is now.
    pub brk_start: u64,
    pub brk: u64,
    /// Largest single writable private mapping granted (Linux's heuristic overcommit
    /// refuses one request larger than all memory): guest RAM.
    pub commit_limit: u64,
    /// mlockall(MCL_FUTURE): new mappings are locked (Linux's mm->def_flags).
    pub lock_future: bool,
}

/// How far the main stack may grow: RLIMIT_STACK's soft limit, which the task layer
/// keeps here (the fault path reads it without taking the limits' lock). RLIM_INFINITY
/// until the startup limits arrive, as the task's table starts.
static STACK_LIMIT: AtomicU64 = AtomicU64::new(u64::MAX);

pub fn set_stack_limit(bytes: u64) {
    STACK_LIMIT.store(bytes, Ordering::Relaxed);
}

pub static SPACE: Mutex<AddressSpace> =
    Mutex::new(AddressSpace { vmas: VmaMap::new(), brk_start: 0, brk: 0, commit_limit: 0, lock_future: false });

pub fn init(info: &BootInfo) {
    let heap_size = HEAP_MAX.min(info.mem_size / 8) & !(PAGE_SIZE - 1);
    // SAFETY: [free_start, free_start + heap_size) is guest RAM no one else uses, mapped by
    // the direct map; the frame allocator starts after it.
    unsafe { heap::init(PHYS_MAP_BASE + info.free_start, heap_size) };
    frame::init(info.free_start + heap_size, info.mem_size);
    SPACE.lock().commit_limit = info.mem_size;
}

/// Bytes of guest RAM (what sysinfo reports as total).
pub fn guest_ram_size() -> u64 {
    SPACE.lock().commit_limit
}

pub fn prot_of(prot: u32) -> PageProt {
    PageProt { read: prot & PROT_READ != 0, write: prot & PROT_WRITE != 0, exec: prot & PROT_EXEC != 0 }
}

/// Why a user access cannot be satisfied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AccessError {
    /// No VMA there (SEGV_MAPERR).
    Unmapped,
    /// The VMA forbids this access (SEGV_ACCERR).
    Protection,
    /// Guest RAM is exhausted.
    OutOfMemory,
    /// A file mapping's page lies beyond the end of the file, or reading it failed
    /// (SIGBUS, as on Linux).
    BeyondFile,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Exec,
}

impl AddressSpace {
    /// Make the page holding `va` present for `access`, allocating a zero frame on first
    /// touch (or reading a file mapping's page); returns the frame. Shared by the
    /// page-fault handler and kernel user-copies.
    pub fn populate(&mut self, va: u64, access: Access) -> Result<u64, AccessError> {
        if self.vmas.find(va).is_none() && !self.grow_stack(va) {
            return Err(AccessError::Unmapped);
        }
        let vma = self.vmas.find(va).ok_or(AccessError::Unmapped)?;
        let allowed = match access {
            Access::Read => vma.prot & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0,
            Access::Write => vma.prot & PROT_WRITE != 0,
            Access::Exec => vma.prot & PROT_EXEC != 0,
        };
        if !allowed {
            return Err(AccessError::Protection);
        }
        let page = page_floor(va);
        if let Some((gpa, _)) = paging::translate(page) {
            return Ok(gpa);
        }
        if vma.file.is_some() {
            return filemap::fault_in(vma, page);
        }
        if let Some(gpa) = map_huge_block(vma, va) {
            return Ok(gpa + (page - (va & !(HUGE_PAGE_SIZE - 1))));
        }
        let gpa = frame::alloc_zeroed().ok_or(AccessError::OutOfMemory)?;
        // Accessed (and dirty, when writable) from the start: it is about to be, and KVM
        // then fills in the neighbours' shadow entries along with this one's.
        if !paging::map_accessed(page, gpa, prot_of(vma.prot)) {
            frame::free(gpa);
            return Err(AccessError::OutOfMemory);
        }
        fault_around(vma, page);
        Ok(gpa)
    }

    /// Make `[start, end)` present ahead of its first touch, as far as its protection
    /// allows (MAP_POPULATE; small anonymous mappings). Failures are left to the faults
    /// that would have come anyway.
    pub fn prefault(&mut self, start: u64, end: u64) {
        for va in (start..end).step_by(PAGE_SIZE as usize) {
            let writable = self.vmas.find(va).is_some_and(|v| v.prot & PROT_WRITE != 0);
            let access = if writable { Access::Write } else { Access::Read };
            if self.populate(va, access).is_err() {
                return;
            }
        }
    }

    /// A fault at `va` below a stack VMA grows it down to `va`, as Linux's expand_stack:
    /// the stack may span at most RLIMIT_STACK, and must stay `STACK_GUARD_GAP` above an
    /// accessible mapping below it. Returns whether it grew.
    fn grow_stack(&mut self, va: u64) -> bool {
        let page = page_floor(va);
        let Some(stack) = self.vmas.next_above(va).filter(|v| v.kind == VmaKind::Stack) else { return false };
        let (stack_start, stack_end, prot) = (stack.start, stack.end, stack.prot);
        if stack_end - page > STACK_LIMIT.load(Ordering::Relaxed) {
            return false;
        }
        if let Some(prev) = self.vmas.prev_below(stack_start) {
            let accessible = prev.prot != 0 && prev.kind != VmaKind::Stack;
            if prev.end > page || (accessible && page - prev.end < STACK_GUARD_GAP) {
                return false;
            }
        }
        self.vmas.insert(Vma::anon(page, stack_start, prot, VmaKind::Stack));
        true
    }

    /// Unmap `[start, end)` (page aligned) and free its frames; shared file pages go back
    /// to the host's file mapping.
    pub fn unmap_range(&mut self, start: u64, end: u64) {
        let removed = self.vmas.remove_range(start, end);
        let mut release = Release::new();
        let mut windows = Vec::new();
        for v in &removed {
            match v.file.as_ref().and_then(|f| f.window) {
                Some(window) => {
                    drop_shared_pages(v.start, v.end, &mut release.tlb);
                    filemap::unmap_direct(window, v.end - v.start, &mut release.tlb);
                    windows.push((window, v.end - v.start));
                }
                None => release_pages(v.start, v.end, &mut release),
            }
            // Empty page tables would keep those 2 MiB blocks from being mapped whole again.
            // Freeing them needs a full TLB flush (expensive on kvm_pvm: every cached
            // translation is rebuilt), so only ranges that could hold a 2 MiB page do it.
            if v.end - v.start >= HUGE_PAGE_SIZE
                && paging::free_empty_tables(v.start, v.end, |pt| release.table_page(pt))
            {
                release.tlb.flush_all_later();
            }
        }
        release.finish();
        // Only now, with no TLB entry left to reach them, may the host take the pages away.
        for (gpa, len) in windows {
            crate::hypercall::call_ret(&Request::Mm(MmRequest::FileUnmapShared { gpa, len }));
            window::free(gpa, len);
        }
    }

    /// mmap of anonymous memory: place (or, with `fixed`, replace at `addr`) and record it.
    /// Pages appear on first touch.
    pub fn map_anon(&mut self, addr: u64, len: u64, prot: u32, fixed: bool, kind: VmaKind) -> Result<u64, i64> {
        self.map_vma(addr, len, fixed, Vma::anon(0, 0, prot, kind))
    }

    /// mmap of a file, pages read on first touch.
    pub fn map_file(&mut self, addr: u64, len: u64, prot: u32, fixed: bool, file: FileBacking) -> Result<u64, i64> {
        self.map_vma(addr, len, fixed, Vma { file: Some(file), ..Vma::anon(0, 0, prot, VmaKind::File) })
    }

    /// Place `template` (its start and end are set here) and record it.
    fn map_vma(&mut self, addr: u64, len: u64, fixed: bool, template: Vma) -> Result<u64, i64> {
        let len = page_ceil(len);
        let start = if fixed {
            self.unmap_range(addr, addr + len);
            addr
        } else if len >= HUGE_PAGE_SIZE && template.kind == VmaKind::Anon {
            self.find_placement_huge_aligned(addr, len)?
        } else {
            self.find_placement(addr, len)?
        };
        self.vmas.insert(Vma { start, end: start + len, locked: self.lock_future, ..template });
        Ok(start)
    }

    /// In a forked child (not a vfork child, which shares its parent's memory on Linux):
    /// memory locks are not inherited, and MADV_WIPEONFORK memory starts out zero.
    pub fn after_fork_child(&mut self) {
        self.lock_future = false;
        let wiped: Vec<(u64, u64)> = self.vmas.iter().filter(|v| v.wipe_on_fork).map(|v| (v.start, v.end)).collect();
        let mut release = Release::new();
        for &(start, end) in &wiped {
            release_pages(start, end, &mut release);
        }
        release.finish();
        let all: Vec<(u64, u64)> = self.vmas.iter().filter(|v| v.locked).map(|v| (v.start, v.end)).collect();
        for (start, end) in all {
            let _ = self.vmas.update_range(start, end, |v| v.locked = false);
        }
    }

    /// As Linux does for anonymous mappings of 2 MiB or more (THP alignment): start on a
    /// 2 MiB boundary, so that the mapping is made of whole 2 MiB pages. A usable hint wins.
    fn find_placement_huge_aligned(&self, hint: u64, len: u64) -> Result<u64, i64> {
        let placed = self.find_placement(hint, len)?;
        if placed == page_floor(hint) && hint != 0 {
            return Ok(placed);
        }
        match self.vmas.find_free_topdown(len + HUGE_PAGE_SIZE, user::MMAP_MIN, user::MMAP_TOP) {
            // The free range [s, s + len + 2M) holds an aligned start at or above s.
            Some(s) => Ok((s + HUGE_PAGE_SIZE - 1) & !(HUGE_PAGE_SIZE - 1)),
            None => Ok(placed),
        }
    }

    /// Linux's placement: the hint if that range is free, else top-down below MMAP_TOP.
    pub fn find_placement(&self, hint: u64, len: u64) -> Result<u64, i64> {
        let hint = page_floor(hint);
        if hint >= user::MMAP_MIN
            && hint.checked_add(len).is_some_and(|e| e <= user::TASK_SIZE)
            && self.vmas.is_free(hint, hint + len)
        {
            return Ok(hint);
        }
        self.vmas
            .find_free_topdown(len, user::MMAP_MIN, user::MMAP_TOP)
            .ok_or(-(abi_shared::linux::errno::ENOMEM as i64))
    }

    /// Top-down placement of `len` bytes at the same offset within 2 MiB as `like`, so that
    /// mremap can move 2 MiB mappings whole.
    pub fn find_placement_congruent(&self, len: u64, like: u64) -> Result<u64, i64> {
        let slack = len.checked_add(HUGE_PAGE_SIZE).ok_or(-(abi_shared::linux::errno::ENOMEM as i64))?;
        match self.vmas.find_free_topdown(slack, user::MMAP_MIN, user::MMAP_TOP) {
            Some(s) => Ok(s + (like.wrapping_sub(s) & (HUGE_PAGE_SIZE - 1))),
            None => self.find_placement(0, len),
        }
    }

    pub fn protect(&mut self, start: u64, end: u64, prot: u32) -> Result<(), ()> {
        self.vmas.protect_range(start, end, prot)?;
        let mut tlb = TlbBatch::new();
        let mut va = start;
        while va < end {
            match paging::probe(va) {
                paging::Probe::Absent { until } => {
                    va = until;
                    continue;
                }
                // A 2 MiB mapping the range covers whole keeps its size (a loaded program's
                // text: the loader protects each segment after reading it in).
                paging::Probe::Huge { start: block, .. }
                    if block >= start
                        && block + HUGE_PAGE_SIZE <= end
                        && paging::protect_huge(block, prot_of(prot)) =>
                {
                    tlb.add(block);
                    va = block + HUGE_PAGE_SIZE;
                    continue;
                }
                _ => {}
            }
            if paging::protect(va, prot_of(prot)) {
                tlb.add(va);
            }
            va += PAGE_SIZE;
        }
        tlb.flush();
        Ok(())
    }

    /// MADV_DONTNEED on private anonymous memory: drop the pages; the next touch sees zeros.
    pub fn discard(&mut self, start: u64, end: u64) {
        let mut release = Release::new();
        for v in self.vmas.overlapping(start, end) {
            let (s, e) = (v.start.max(start), v.end.min(end));
            if v.file.as_ref().is_some_and(|f| f.window.is_some()) {
                // Shared file pages stay in the file: only this mapping of them goes.
                drop_shared_pages(s, e, &mut release.tlb);
            } else {
                release_pages(s, e, &mut release);
            }
        }
        release.finish();
    }

    /// Whether `[start, end)` holds a shared file mapping whose file may not be written
    /// (mprotect cannot add PROT_WRITE there: EACCES, as on Linux).
    pub fn has_readonly_shared(&self, start: u64, end: u64) -> bool {
        self.vmas.overlapping(start, end).any(|v| v.file.as_ref().is_some_and(|f| f.window.is_some() && !f.may_write))
    }
}

/// Remove the user mappings of shared file pages in `[start, end)` (the pages belong to
/// the host's file mapping, not to the frame allocator).
fn drop_shared_pages(start: u64, end: u64, tlb: &mut TlbBatch) {
    paging::unmap_range(start, end, tlb);
}

/// Pages mapped together on a fault in anonymous memory: the aligned window around the
/// faulting page. A page fault costs three hypervisor exits on kvm_pvm (~30 µs each on
/// our hosts: the exception, its delivery, the shadow-paging fault on the retry), mapping
/// one more zeroed frame well under a microsecond, and programs touch fresh memory in runs
/// (malloc'd buffers, a growing stack). Linux faults around only in file mappings; here
/// the trade is a few pages of memory for one fault instead of sixteen.
const FAULT_AROUND_PAGES: u64 = 16;
/// The anonymous fault-around window in bytes.
pub const FAULT_AROUND_BYTES: u64 = FAULT_AROUND_PAGES * PAGE_SIZE;

/// After a fault on `page` of the anonymous `vma`, map its not yet mapped neighbours in
/// the fault-around window with zeroed frames. They are marked accessed, so that the
/// hypervisor's shadow paging fills them in with the faulting page (KVM prefetches
/// neighbouring entries that are present and accessed) rather than on each first touch.
fn fault_around(vma: &Vma, page: u64) {
    if !is_anonymous(vma.kind) {
        return;
    }
    let window_start = page & !(FAULT_AROUND_BYTES - 1);
    let start = window_start.max(vma.start);
    let end = (window_start + FAULT_AROUND_BYTES).min(vma.end);
    let prot = prot_of(vma.prot);
    for va in (start..end).step_by(PAGE_SIZE as usize) {
        if va == page || paging::translate(va).is_some() {
            continue;
        }
        let Some(gpa) = frame::alloc_zeroed() else { return };
        if !paging::map_accessed(va, gpa, prot) {
            frame::free(gpa);
            return;
        }
    }
}

/// Anonymous memory: zero-filled on first touch, and free to be populated ahead of it. A
/// loaded ELF segment is too: its file bytes were copied in at load time, so a page not
/// present there is its bss (a compiler's runs to megabytes, first touched page by page).
fn is_anonymous(kind: VmaKind) -> bool {
    matches!(kind, VmaKind::Anon | VmaKind::Heap | VmaKind::Stack | VmaKind::Image)
}

/// Anonymous memory is mapped 2 MiB at a time where the whole aligned block lies in the
/// VMA and nothing is mapped there yet: one fault then covers 512 pages, and on
/// huge-page-backed guest RAM the hypervisor maps it in one piece too (a 4 KiB fault costs
/// tens of microseconds on kvm_pvm). Returns the 2 MiB frame. A loaded ELF segment too: the
/// loader reads a big program's text into whole blocks, and its mprotect keeps them whole.
fn map_huge_block(vma: &Vma, va: u64) -> Option<u64> {
    let block = va & !(HUGE_PAGE_SIZE - 1);
    if !is_anonymous(vma.kind)
        || block < vma.start
        || block + HUGE_PAGE_SIZE > vma.end
        || !paging::huge_slot_empty(block)
    {
        return None;
    }
    let gpa = frame::alloc_huge_zeroed()?;
    if !paging::map_huge(block, gpa, prot_of(vma.prot)) {
        frame::free_huge(gpa);
        return None;
    }
    crate::stats::note_huge_mapping();
    Some(gpa)
}

/// Unmap and free the frames of every mapped page in `[start, end)`, skipping unmapped
/// stretches a table at a time (a sparse 16 GiB mapping must not take 4 million steps).
pub(super) fn release_pages(start: u64, end: u64, release: &mut Release) {
    let mut va = start;
    while va < end {
        match paging::probe(va) {
            paging::Probe::Absent { until } => va = until,
            paging::Probe::Huge { start: block, gpa } if block >= start && block + HUGE_PAGE_SIZE <= end => {
                paging::unmap_huge(block);
                release.huge(gpa);
                release.tlb.add(block);
                va = block + HUGE_PAGE_SIZE;
            }
            // A page of a 2 MiB mapping only partly released: unmap() splits it first.
            paging::Probe::Huge { .. } | paging::Probe::Page => {
                if let Some(gpa) = paging::unmap(va) {
                    release.page(gpa);
                    release.tlb.add(va);
                }
                va += PAGE_SIZE;
            }
        }
    }
}
