//! The user half of the page tables: map, unmap, translate and change protection of 4 KiB
//! pages. Tables are reached through the direct map. Under pvm, the top-level table has a
//! user-mode twin that must hold the same entries (the hypervisor hides the upper half).

use abi_shared::layout::{HUGE_PAGE_SIZE, KERNEL_PML4_GPA, PAGE_SIZE, USER_PML4_GPA};

use super::frame;
use crate::arch::platform::{self, PTE_NX, PTE_PRESENT, PTE_USER, PTE_WRITE};

const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const HUGE_ADDR_MASK: u64 = 0x000f_ffff_ffe0_0000;
/// PS: a PD entry that maps 2 MiB directly.
const PTE_HUGE: u64 = 1 << 7;

/// A software bit (ignored by the MMU when P=0): the entry holds a frame that PROT_NONE
/// makes inaccessible. The frame stays with the mapping until it is unmapped.
const PTE_SOFT_PROTNONE: u64 = 1 << 9;

/// Software bits of a vfork child's write tracking (mm/vfork.rs): the leaf is kept
/// read-only until the child's first write to it, so that its content from before that
/// write can be kept; `PTE_SOFT_VFORK_W` remembers whether its protection allows writing.
const PTE_SOFT_VFORK_WP: u64 = 1 << 10;
const PTE_SOFT_VFORK_W: u64 = 1 << 11;

/// Page protection in Linux terms, turned into PTE bits here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageProt {
    pub read: bool,
    pub write: bool,
    pub exec: bool,
}

/// Whether a leaf entry holds a frame (accessible or PROT_NONE).
fn has_frame(e: u64) -> bool {
    e & (PTE_PRESENT | PTE_SOFT_PROTNONE) != 0
}

impl PageProt {
    fn pte_bits(self) -> u64 {
        if !(self.read || self.write || self.exec) {
            return PTE_SOFT_PROTNONE;
        }
        let mut bits = PTE_PRESENT | PTE_USER;
        if self.write {
            bits |= PTE_WRITE;
        }
        if !self.exec {
            bits |= PTE_NX;
        }
        bits
    }
}

fn table(gpa: u64) -> *mut u64 {
    frame::frame_ptr(gpa) as *mut u64
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * level)) & 511) as usize
}

fn read_entry(table_gpa: u64, i: usize) -> u64 {
    // SAFETY: table_gpa is a page-table page (from the monitor or our frame allocator) and
    // i < 512.
    unsafe { core::ptr::read_volatile(table(table_gpa).add(i)) }
}

fn write_entry(table_gpa: u64, i: usize, value: u64) {
    // SAFETY: as in read_entry.
    unsafe { core::ptr::write_volatile(table(table_gpa).add(i), value) };
}

/// Walk to the PD (level-1 table) for `va`, creating tables when `create`.
fn pd_table(va: u64, create: bool) -> Option<u64> {
    let mut t = KERNEL_PML4_GPA;
    for level in (2..=3).rev() {
        let i = index(va, level);
        let e = read_entry(t, i);
        if e & PTE_PRESENT != 0 {
            t = e & ADDR_MASK;
            continue;
        }
        if !create {
            return None;
        }
        t = new_table(t, i, level)?;
    }
    Some(t)
}

/// Hang a fresh zeroed table under entry `i` of `parent` (a table of `level`).
fn new_table(parent: u64, i: usize, level: u32) -> Option<u64> {
    let new = frame::alloc_zeroed()?;
    // Intermediate entries allow everything; the leaf decides.
    let entry = new | PTE_PRESENT | PTE_WRITE | PTE_USER;
    write_entry(parent, i, entry);
    if level == 3 {
        if platform::has_user_pml4_twin() {
            write_entry(USER_PML4_GPA, i, entry);
        }
        super::vcpu_roots::mirror_top_entry(i, entry);
    }
    Some(new)
}

/// Turn the 2 MiB mapping at `pd[i]` into 512 equal 4 KiB mappings (before changing part
/// of it). Returns the new page table.
fn split_huge(pd: u64, i: usize) -> Option<u64> {
    let e = read_entry(pd, i);
    let pt = frame::alloc_zeroed()?;
    let bits = e & !HUGE_ADDR_MASK & !PTE_HUGE;
    let base = e & HUGE_ADDR_MASK;
    for k in 0..512u64 {
        write_entry(pt, k as usize, (base + k * PAGE_SIZE) | bits);
    }
    write_entry(pd, i, pt | PTE_PRESENT | PTE_WRITE | PTE_USER);
    // The translations are unchanged, but the hypervisor's or the CPU's cached 2 MiB entry
    // must not outlive the table it came from.
    platform::flush_tlb_all();
    Some(pt)
}

/// Walk to the last-level table for `va`, creating tables when `create`; a 2 MiB mapping on
/// the way is split (callers change single pages).
fn leaf_table(va: u64, create: bool) -> Option<u64> {
    let pd = pd_table(va, create)?;
    let i = index(va, 1);
    let e = read_entry(pd, i);
    if e & PTE_HUGE != 0 {
        return split_huge(pd, i);
    }
    if e & PTE_PRESENT != 0 {
        return Some(e & ADDR_MASK);
    }
    if !create {
        return None;
    }
    new_table(pd, i, 1)
}

/// What `va` has in the page tables.
pub enum Probe {
    /// Nothing mapped from `va` up to `until` (a whole missing table is skipped at once).
    Absent { until: u64 },
    /// Part of a 2 MiB mapping starting at `start`.
    Huge { start: u64, gpa: u64 },
    /// A 4 KiB page with a frame (possibly PROT_NONE).
    Page,
}

pub fn probe(va: u64) -> Probe {
    let mut t = KERNEL_PML4_GPA;
    for level in (1..=3).rev() {
        let e = read_entry(t, index(va, level));
        if e & PTE_PRESENT == 0 {
            let span = 1u64 << (12 + 9 * level);
            return Probe::Absent { until: (va & !(span - 1)) + span };
        }
        if level == 1 && e & PTE_HUGE != 0 {
            return Probe::Huge { start: va & !(HUGE_PAGE_SIZE - 1), gpa: e & HUGE_ADDR_MASK };
        }
        t = e & ADDR_MASK;
    }
    let e = read_entry(t, index(va, 0));
    if has_frame(e) {
        Probe::Page
    } else {
        Probe::Absent { until: page_floor(va) + PAGE_SIZE }
    }
}

/// Whether the 2 MiB block around `va` has nothing mapped (no page table at all), so that
/// one 2 MiB mapping can cover it.
pub fn huge_slot_empty(va: u64) -> bool {
    match pd_table(va, false) {
        Some(pd) => read_entry(pd, index(va, 1)) == 0,
        None => true,
    }
}

/// Map the 2 MiB block at `va` (aligned) to the 2 MiB frame `gpa`.
pub fn map_huge(va: u64, gpa: u64, prot: PageProt) -> bool {
    let Some(pd) = pd_table(va, true) else { return false };
    write_entry(pd, index(va, 1), gpa | prot.pte_bits() | PTE_HUGE);
    true
}

/// Unlink the last-level tables of the 2 MiB blocks in `[start, end)` that no longer map
/// anything, handing each to `free` (which must free it only after the whole TLB of every
/// vCPU is flushed: a cached walk may still reach it); returns whether any was unlinked.
pub fn free_empty_tables(start: u64, end: u64, mut free: impl FnMut(u64)) -> bool {
    let mut freed = false;
    let mut block = start & !(HUGE_PAGE_SIZE - 1);
    while block < end {
        if let Some(pd) = pd_table(block, false) {
            let i = index(block, 1);
            let e = read_entry(pd, i);
            if e & PTE_PRESENT != 0 && e & PTE_HUGE == 0 {
                let pt = e & ADDR_MASK;
                if (0..512).all(|k| read_entry(pt, k) == 0) {
                    write_entry(pd, i, 0);
                    free(pt);
                    freed = true;
                }
            }
            block += HUGE_PAGE_SIZE;
        } else {
            // No PD here: skip to the next 1 GiB.
            block = (block | ((1 << 30) - 1)) + 1;
        }
    }
    freed
}

/// Remove the 2 MiB mapping at `start`; the caller frees the frame and flushes the TLB.
pub fn unmap_huge(start: u64) {
    if let Some(pd) = pd_table(start, false) {
        write_entry(pd, index(start, 1), 0);
    }
}

/// Map `va` to `gpa`. Returns false if a page-table page could not be allocated.
pub fn map(va: u64, gpa: u64, prot: PageProt) -> bool {
    map_entry(va, gpa | prot.pte_bits())
}

/// `map`, with the accessed bit (and the dirty bit, when writable) already set: for a page
/// about to be touched, or mapped ahead of its first touch.
pub fn map_accessed(va: u64, gpa: u64, prot: PageProt) -> bool {
    let bits = prot.pte_bits();
    let accessed = match (bits & PTE_PRESENT != 0, bits & PTE_WRITE != 0) {
        (false, _) => 0,
        (true, false) => PTE_ACCESSED,
        (true, true) => PTE_ACCESSED | PTE_DIRTY,
    };
    map_entry(va, gpa | bits | accessed)
}

/// Write the leaf entry of `va`, allocating page-table pages on the way.
fn map_entry(va: u64, entry: u64) -> bool {
    match leaf_table(va, true) {
        Some(t) => {
            write_entry(t, index(va, 0), entry);
            true
        }
        None => false,
    }
}

/// The guest-physical address of the page holding `va` if a user access (a write when
/// `write`) would go through without a fault: one walk, no VMA lookup. Every present user
/// entry was made from its VMA's protection, so such an entry is as good as the VMA's word.
pub fn user_page_gpa(va: u64, write: bool) -> Option<u64> {
    let needed = PTE_PRESENT | PTE_USER | if write { PTE_WRITE } else { 0 };
    let mut t = KERNEL_PML4_GPA;
    for level in (1..=3).rev() {
        let e = read_entry(t, index(va, level));
        if e & PTE_PRESENT == 0 {
            return None;
        }
        if level == 1 && e & PTE_HUGE != 0 {
            return (e & needed == needed).then_some((e & HUGE_ADDR_MASK) + (page_floor(va) & (HUGE_PAGE_SIZE - 1)));
        }
        t = e & ADDR_MASK;
    }
    let e = read_entry(t, index(va, 0));
    (e & needed == needed).then_some(e & ADDR_MASK)
}

/// The frame behind `va`, if mapped, with whether it is writable.
pub fn translate(va: u64) -> Option<(u64, bool)> {
    if let Probe::Huge { start, gpa } = probe(va) {
        let e = read_entry(pd_table(va, false)?, index(va, 1));
        return Some((gpa + (page_floor(va) - start), e & PTE_WRITE != 0));
    }
    let t = leaf_table(va, false)?;
    let e = read_entry(t, index(va, 0));
    has_frame(e).then_some((e & ADDR_MASK, e & PTE_WRITE != 0))
}

/// Remove the mapping of `va` and return its frame. The caller flushes the TLB.
pub fn unmap(va: u64) -> Option<u64> {
    let t = leaf_table(va, false)?;
    let i = index(va, 0);
    let e = read_entry(t, i);
    if !has_frame(e) {
        return None;
    }
    write_entry(t, i, 0);
    Some(e & ADDR_MASK)
}

/// Remove every 4 KiB mapping in `[start, end)`, skipping absent tables quickly; the pages
/// unmapped go into `tlb` (their frames are the caller's business).
pub fn unmap_range(start: u64, end: u64, tlb: &mut TlbBatch) {
    let mut va = start;
    while va < end {
        if let Probe::Absent { until } = probe(va) {
            va = until;
            continue;
        }
        if unmap(va).is_some() {
            tlb.add(va);
        }
        va += PAGE_SIZE;
    }
}

/// Change the protection of a mapped page; returns whether it was mapped.
pub fn protect(va: u64, prot: PageProt) -> bool {
    let Some(t) = leaf_table(va, false) else { return false };
    let i = index(va, 0);
    let e = read_entry(t, i);
    if !has_frame(e) {
        return false;
    }
    // Keep what the MMU recorded (a PROT_NONE entry is not present, so the bits mean
    // nothing to the MMU there and come back with the access): the accessed bit lets the
    // hypervisor's shadow paging fill this entry in along with a faulting neighbour, and
    // the dirty bit is what a vfork child's write tracking reads.
    let recorded = e & (PTE_ACCESSED | PTE_DIRTY);
    write_entry(t, i, (e & ADDR_MASK) | keep_vfork_tracking(e, prot.pte_bits()) | recorded);
    true
}

/// New protection bits for an entry that may be under a vfork child's write tracking: such
/// an entry stays read-only until the first write, remembering whether writes are allowed.
fn keep_vfork_tracking(old: u64, bits: u64) -> u64 {
    if old & PTE_SOFT_VFORK_WP == 0 {
        return bits;
    }
    let w = if bits & PTE_WRITE != 0 { PTE_SOFT_VFORK_W } else { 0 };
    (bits & !PTE_WRITE) | PTE_SOFT_VFORK_WP | w
}

/// Change the protection of the whole 2 MiB mapping at `block` in place, without splitting
/// it; false if none is there, or for PROT_NONE (kept page by page: see `has_frame`).
pub fn protect_huge(block: u64, prot: PageProt) -> bool {
    let bits = prot.pte_bits();
    if bits & PTE_PRESENT == 0 {
        return false;
    }
    let Some(pd) = pd_table(block, false) else { return false };
    let i = index(block, 1);
    let e = read_entry(pd, i);
    if e & (PTE_PRESENT | PTE_HUGE) != PTE_PRESENT | PTE_HUGE {
        return false;
    }
    // As `protect`: keep what the MMU recorded.
    let recorded = e & (PTE_ACCESSED | PTE_DIRTY);
    write_entry(pd, i, (e & HUGE_ADDR_MASK) | keep_vfork_tracking(e, bits) | PTE_HUGE | recorded);
    true
}

/// Move the mapping at `from` to `to` (mremap), keeping the frame.
pub fn move_page(from: u64, to: u64, prot: PageProt) -> bool {
    match unmap(from) {
        // A page being moved has been in use: mapped as accessed (see `map_accessed`).
        Some(gpa) => map_accessed(to, gpa, prot),
        None => true,
    }
}

/// A: set by the MMU on the first access through an entry.
const PTE_ACCESSED: u64 = 1 << 5;
/// D: set by the MMU on the first write through a leaf entry.
const PTE_DIRTY: u64 = 1 << 6;

/// A present user leaf: its address, the table and index of its entry, and its size.
#[derive(Clone, Copy, Debug)]
pub struct UserLeaf {
    pub va: u64,
    table: u64,
    index: usize,
    pub size: u64,
}

impl UserLeaf {
    fn entry(&self) -> u64 {
        read_entry(self.table, self.index)
    }

    pub fn gpa(&self) -> u64 {
        self.entry() & if self.size == PAGE_SIZE { ADDR_MASK } else { HUGE_ADDR_MASK }
    }

    pub fn writable(&self) -> bool {
        self.entry() & PTE_WRITE != 0
    }

    /// Start a vfork child's write tracking here: clean and read-only until the first
    /// write (`vfork_first_write`). The caller flushes the TLB.
    pub fn protect_for_vfork(&self) {
        let e = self.entry();
        let w = if e & PTE_WRITE != 0 { PTE_SOFT_VFORK_W } else { 0 };
        write_entry(self.table, self.index, (e & !(PTE_DIRTY | PTE_WRITE)) | PTE_SOFT_VFORK_WP | w);
    }

    /// Whether the leaf is still as `protect_for_vfork` left it (never written since).
    pub fn vfork_untouched(&self) -> bool {
        self.entry() & PTE_SOFT_VFORK_WP != 0
    }

    /// Undo `protect_for_vfork` (tracking ended without a write here). The caller flushes
    /// the TLB.
    pub fn release_from_vfork(&self) {
        write_entry(self.table, self.index, released(self.entry()));
    }
}

/// An entry under vfork write tracking, as it is without it.
fn released(e: u64) -> u64 {
    if e & PTE_SOFT_VFORK_WP == 0 {
        return e;
    }
    let w = if e & PTE_SOFT_VFORK_W != 0 && e & PTE_PRESENT != 0 { PTE_WRITE } else { 0 };
    (e & !(PTE_SOFT_VFORK_WP | PTE_SOFT_VFORK_W)) | w
}

/// A vfork child is about to write to `va` for the first time since its tracking began:
/// the frame of the 4 KiB page there (a 2 MiB leaf is split first), if that page is still
/// untouched; None otherwise. Nothing changes until `vfork_release`.
pub fn vfork_first_write(va: u64) -> Option<u64> {
    if let Probe::Absent { .. } = probe(va) {
        return None;
    }
    let pd = pd_table(va, false)?;
    let e = read_entry(pd, index(va, 1));
    if e & PTE_HUGE != 0 && e & PTE_SOFT_VFORK_WP == 0 {
        return None;
    }
    let t = leaf_table(va, false)?;
    let e = read_entry(t, index(va, 0));
    (has_frame(e) && e & PTE_SOFT_VFORK_WP != 0).then_some(e & ADDR_MASK)
}

/// End the write tracking of the page at `va` (its old content is kept by the caller):
/// writable again where its protection allows. A stale read-only TLB entry can only bring
/// a spurious write fault, which the fault handler flushes.
pub fn vfork_release(va: u64) {
    let Some(t) = leaf_table(va, false) else { return };
    let i = index(va, 0);
    write_entry(t, i, released(read_entry(t, i)));
}

/// Every present user leaf (4 KiB pages and 2 MiB blocks), in address order.
pub fn for_each_user_leaf(mut f: impl FnMut(UserLeaf)) {
    let present_user = |e: u64| e & (PTE_PRESENT | PTE_USER) == PTE_PRESENT | PTE_USER;
    // The user half is the lower 256 entries of the top level.
    for i4 in 0..256 {
        let e4 = read_entry(KERNEL_PML4_GPA, i4);
        if !present_user(e4) {
            continue;
        }
        for i3 in 0..512 {
            let e3 = read_entry(e4 & ADDR_MASK, i3);
            if !present_user(e3) || e3 & PTE_HUGE != 0 {
                continue;
            }
            let pd = e3 & ADDR_MASK;
            for i2 in 0..512 {
                let e2 = read_entry(pd, i2);
                if !present_user(e2) {
                    continue;
                }
                let va = ((i4 as u64) << 39) | ((i3 as u64) << 30) | ((i2 as u64) << 21);
                if e2 & PTE_HUGE != 0 {
                    f(UserLeaf { va, table: pd, index: i2, size: HUGE_PAGE_SIZE });
                    continue;
                }
                let pt = e2 & ADDR_MASK;
                for i1 in 0..512 {
                    if present_user(read_entry(pt, i1)) {
                        f(UserLeaf { va: va | ((i1 as u64) << 12), table: pt, index: i1, size: PAGE_SIZE });
                    }
                }
            }
        }
    }
}

/// Up to this many pages are flushed one by one; more take one full flush. On kvm_pvm each
/// single flush is a hypercall of ~35 µs, and a full flush ~107 µs with the refaults it
/// brings (measured with mprotect of 2 to 12 touched pages), so the full one wins from
/// four pages on.
const SINGLE_FLUSHES_MAX: usize = 3;

/// Collects pages whose translation changed and flushes them at once: a single-page flush
/// costs a hypercall under pvm, so longer runs become one full flush.
pub struct TlbBatch {
    pages: [u64; 16],
    count: usize,
    overflow: bool,
}

impl TlbBatch {
    pub const fn new() -> TlbBatch {
        TlbBatch { pages: [0; 16], count: 0, overflow: false }
    }

    pub fn add(&mut self, va: u64) {
        if self.count < self.pages.len() {
            self.pages[self.count] = va;
            self.count += 1;
        } else {
            self.overflow = true;
        }
    }

    /// Make the final flush a full one (page-table pages were freed).
    pub fn flush_all_later(&mut self) {
        self.overflow = true;
    }

    pub fn flush(self) {
        if self.overflow || self.count > SINGLE_FLUSHES_MAX {
            platform::flush_tlb_all();
        } else {
            for &va in &self.pages[..self.count] {
                platform::flush_tlb_page(va);
            }
        }
        if self.overflow || self.count > 0 {
            super::tlb::shootdown();
        }
    }
}

pub const fn page_floor(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}

pub const fn page_ceil(a: u64) -> u64 {
    (a + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}
