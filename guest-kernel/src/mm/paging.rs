//! The user half of the page tables: map, unmap, translate and change protection of 4 KiB
//! pages. Tables are reached through the direct map. Under pvm, the top-level table has a
//! user-mode twin that must hold the same entries (the hypervisor hides the upper half).

use abi_shared::layout::{KERNEL_PML4_GPA, PAGE_SIZE, USER_PML4_GPA};

use super::frame;
use crate::arch::platform::{self, PTE_NX, PTE_PRESENT, PTE_USER, PTE_WRITE};

const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;

/// A software bit (ignored by the MMU when P=0): the entry holds a frame that PROT_NONE
/// makes inaccessible. The frame stays with the mapping until it is unmapped.
const PTE_SOFT_PROTNONE: u64 = 1 << 9;

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

/// Walk to the last-level table for `va`, creating tables when `create`.
fn leaf_table(va: u64, create: bool) -> Option<u64> {
    let mut t = KERNEL_PML4_GPA;
    for level in (1..=3).rev() {
        let i = index(va, level);
        let e = read_entry(t, i);
        if e & PTE_PRESENT != 0 {
            t = e & ADDR_MASK;
            continue;
        }
        if !create {
            return None;
        }
        let new = frame::alloc_zeroed()?;
        // Intermediate entries allow everything; the leaf decides.
        let entry = new | PTE_PRESENT | PTE_WRITE | PTE_USER;
        write_entry(t, i, entry);
        if level == 3 && platform::has_user_pml4_twin() {
            write_entry(USER_PML4_GPA, i, entry);
        }
        t = new;
    }
    Some(t)
}

/// Map `va` to `gpa`. Returns false if a page-table page could not be allocated.
pub fn map(va: u64, gpa: u64, prot: PageProt) -> bool {
    match leaf_table(va, true) {
        Some(t) => {
            write_entry(t, index(va, 0), gpa | prot.pte_bits());
            true
        }
        None => false,
    }
}

/// The frame behind `va`, if mapped, with whether it is writable.
pub fn translate(va: u64) -> Option<(u64, bool)> {
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

/// Change the protection of a mapped page; returns whether it was mapped.
pub fn protect(va: u64, prot: PageProt) -> bool {
    let Some(t) = leaf_table(va, false) else { return false };
    let i = index(va, 0);
    let e = read_entry(t, i);
    if !has_frame(e) {
        return false;
    }
    write_entry(t, i, (e & ADDR_MASK) | prot.pte_bits());
    true
}

/// Move the mapping at `from` to `to` (mremap), keeping the frame.
pub fn move_page(from: u64, to: u64, prot: PageProt) -> bool {
    match unmap(from) {
        Some(gpa) => map(to, gpa, prot),
        None => true,
    }
}

/// Collects pages whose translation changed and flushes them at once: a single-page flush
/// costs a hypercall under pvm, so long runs become one full flush.
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

    pub fn flush(self) {
        if self.overflow {
            platform::flush_tlb_all();
        } else {
            for &va in &self.pages[..self.count] {
                platform::flush_tlb_page(va);
            }
        }
    }
}

pub const fn page_floor(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}

pub const fn page_ceil(a: u64) -> u64 {
    (a + PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}
