//! The program's page tables (TTBR0): 4 KiB granule, 48-bit VA, four levels, walked and
//! written through the TTBR1 direct map. Frames for new tables come from the caller.

use super::phys_to_virt;

const VALID: u64 = 1;
/// Bits [1:0] = 0b11: a table descriptor at levels 0-2, a page at level 3.
const TABLE_OR_PAGE: u64 = 2;
const ATTR_NORMAL: u64 = abi_shared::layout::arm64::ATTR_NORMAL << 2;
/// AP[1]: EL0 may access (EL1 too, PAN is off).
const AP_EL0: u64 = 1 << 6;
/// AP[2]: read-only.
const AP_RO: u64 = 1 << 7;
const SH_INNER: u64 = 3 << 8;
const AF: u64 = 1 << 10;
const NG: u64 = 1 << 11;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
const ADDR_MASK: u64 = 0x0000_ffff_ffff_f000;

/// Access a user page allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Prot {
    pub write: bool,
    pub exec: bool,
}

/// The level-3 descriptor of a user page at `gpa`.
pub fn user_pte(gpa: u64, prot: Prot) -> u64 {
    let mut e = gpa | VALID | TABLE_OR_PAGE | ATTR_NORMAL | AP_EL0 | SH_INNER | AF | NG | PXN;
    if !prot.write {
        e |= AP_RO;
    }
    if !prot.exec {
        e |= UXN;
    }
    e
}

/// A PROT_NONE page that keeps its frame: valid for EL1 only (AP[1] clear), never
/// executable, so every EL0 access faults while the contents stay.
pub fn no_access_pte(gpa: u64) -> u64 {
    gpa | VALID | TABLE_OR_PAGE | ATTR_NORMAL | SH_INNER | AF | NG | PXN | UXN
}

pub fn pte_gpa(pte: u64) -> u64 {
    pte & ADDR_MASK
}

pub fn pte_writable(pte: u64) -> bool {
    pte & AP_RO == 0
}

fn table(gpa: u64) -> *mut u64 {
    phys_to_virt(gpa) as *mut u64
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (39 - 9 * level)) & 511) as usize
}

/// The level-3 slot for `va` under `root`, creating tables with `alloc` (a zeroed frame's
/// GPA) when `alloc` is given; None if a table is missing and cannot be made.
fn slot(root: u64, va: u64, alloc: Option<&mut dyn FnMut() -> Option<u64>>) -> Option<*mut u64> {
    let mut alloc = alloc;
    let mut t = root;
    for level in 0..3 {
        // SAFETY: `t` is a page-table frame in guest RAM, mapped by the direct map; the
        // index is below 512.
        let e = unsafe { table(t).add(index(va, level)) };
        // SAFETY: as above; this vCPU is the only one that edits the tables.
        let cur = unsafe { e.read_volatile() };
        t = if cur & VALID != 0 {
            pte_gpa(cur)
        } else {
            let new = (alloc.as_mut()?)()?;
            // SAFETY: as above.
            unsafe { e.write_volatile(new | VALID | TABLE_OR_PAGE) };
            new
        };
    }
    // SAFETY: `t` is the level-3 table.
    Some(unsafe { table(t).add(index(va, 3)) })
}

/// Map the page at `va` to the frame `gpa`; false if a table frame could not be had.
pub fn map(root: u64, va: u64, gpa: u64, prot: Prot, alloc: &mut dyn FnMut() -> Option<u64>) -> bool {
    let Some(s) = slot(root, va, Some(alloc)) else { return false };
    // SAFETY: a level-3 slot of our tables; a new valid entry needs no TLB maintenance,
    // only the barrier that makes the walker see it.
    unsafe {
        s.write_volatile(user_pte(gpa, prot));
        core::arch::asm!("dsb ishst", "isb", options(nostack));
    }
    true
}

/// The level-3 descriptor of `va` (0 if unmapped) and how many bytes from `va` on share
/// its fate: a page, or up to the end of a whole missing table's range (so that a walk
/// over a large, mostly empty range skips the holes).
pub fn lookup_span(root: u64, va: u64) -> (u64, u64) {
    let mut t = root;
    for level in 0..4 {
        // SAFETY: `t` is a page-table frame of ours (direct map); the index is below 512.
        let e = unsafe { table(t).add(index(va, level)).read_volatile() };
        let covers = 1u64 << (39 - 9 * level);
        if e & VALID == 0 {
            return (0, covers - (va & (covers - 1)));
        }
        if level == 3 {
            return (e, covers - (va & (covers - 1)));
        }
        t = pte_gpa(e);
    }
    (0, 4096)
}

/// The level-3 descriptor of `va` (0 if unmapped).
pub fn lookup(root: u64, va: u64) -> u64 {
    match slot(root, va, None) {
        // SAFETY: a level-3 slot of our tables.
        Some(s) => unsafe { s.read_volatile() },
        None => 0,
    }
}

/// Replace the descriptor of `va` (unmap with 0, or change its access) and flush it from
/// the TLB; returns the old one.
pub fn replace(root: u64, va: u64, new: u64) -> u64 {
    let Some(s) = slot(root, va, None) else { return 0 };
    // SAFETY: a level-3 slot of our tables; the TLB entry for the page goes after the write.
    unsafe {
        let old = s.read_volatile();
        s.write_volatile(new);
        core::arch::asm!("dsb ishst", "tlbi vaae1is, {0}", "dsb ish", "isb", in(reg) (va >> 12) & ((1 << 44) - 1), options(nostack));
        old
    }
}

/// Install `root` as TTBR0_EL1 (ASID 0) and drop every stale translation.
pub fn activate(root: u64) {
    // SAFETY: `root` is a level-0 table whose upper half holds nothing; the kernel runs from
    // TTBR1, which this does not touch.
    unsafe {
        core::arch::asm!("msr ttbr0_el1, {0}", "isb", "tlbi vmalle1is", "dsb ish", "isb", in(reg) root, options(nostack));
    }
}

/// Make instructions the host wrote into guest RAM (a program's code) visible to fetch.
pub fn sync_icache() {
    // SAFETY: cache maintenance only.
    unsafe { core::arch::asm!("dsb ish", "ic ialluis", "dsb ish", "isb", options(nostack)) };
}
