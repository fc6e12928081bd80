//! Page tables for several vCPUs of one process. Each vCPU needs its own top of the page
//! tables only because the per-CPU window (`PERCPU_WINDOW_VA`) must show its own block;
//! everything else, the user half and the rest of the kernel half, is the same tables
//! for all. A thread's vCPU gets, inside its block (`vcpu_block::PAGE_TABLES`), a PML4 that
//! copies the first vCPU's (and its user-mode twin under pvm), whose last entry leads
//! through its own PDPT, PD and PT to its block. A new top-level entry (a new 512 GiB of
//! user space) is written into every vCPU's PML4 (`mirror_top_entry`); the levels below
//! are shared, so nothing else needs copying.

use core::sync::atomic::{AtomicU64, Ordering};

use abi_shared::layout::{vcpu_block, KERNEL_PML4_GPA, MAX_VCPUS, PAGE_SIZE, USER_PML4_GPA, VCPU_BLOCK_SIZE};

use super::frame;
use crate::arch::platform;

const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const PTE_PRESENT: u64 = 1;
/// The window's index at each level: PML4 511, PDPT 511, PD 0 (0xffff_ffff_c000_0000).
const WINDOW_PML4_INDEX: usize = 511;
const WINDOW_PDPT_INDEX: usize = 511;
const WINDOW_PD_INDEX: usize = 0;

/// Per vCPU index: the guest-physical address of its PML4 (0: no such vCPU yet). vCPU 0
/// runs on the tables the monitor built.
static ROOTS: [AtomicU64; MAX_VCPUS as usize] = [const { AtomicU64::new(0) }; MAX_VCPUS as usize];

fn table(gpa: u64) -> *mut u64 {
    frame::frame_ptr(gpa) as *mut u64
}

fn read(table_gpa: u64, i: usize) -> u64 {
    // SAFETY: table_gpa is a page-table page in guest RAM and i < 512.
    unsafe { core::ptr::read_volatile(table(table_gpa).add(i)) }
}

/// Write entry `i` of a table, unless it already holds `value`: a slot's tables are
/// rebuilt for every thread given the slot, with the same values but for the odd new
/// top-level entry, and under pvm a write to a table the hypervisor shadows (the idle vCPU
/// still points at them) is trapped and emulated, tens of microseconds each.
fn write(table_gpa: u64, i: usize, value: u64) {
    if read(table_gpa, i) == value {
        return;
    }
    // SAFETY: as in read.
    unsafe { core::ptr::write_volatile(table(table_gpa).add(i), value) };
}

/// Make table `to` a copy of `from` but for the entries `own` gives (index → value).
fn copy_table_except(from: u64, to: u64, own: impl Fn(usize) -> Option<u64>) {
    for i in 0..512 {
        write(to, i, own(i).unwrap_or_else(|| read(from, i)));
    }
}

/// Build the page tables of the vCPU with index `vcpu` whose block is at `block` (inside
/// the block itself) and return its CR3. Called by the thread that starts the vCPU. Each
/// entry is written once, with its final value (see `write`).
pub fn build(vcpu: u32, block: u64) -> u64 {
    let tables = block + vcpu_block::PAGE_TABLES;
    let (pml4, twin, pdpt, pd, pt) =
        (tables, tables + PAGE_SIZE, tables + 2 * PAGE_SIZE, tables + 3 * PAGE_SIZE, tables + 4 * PAGE_SIZE);
    let master_pdpt = read(KERNEL_PML4_GPA, WINDOW_PML4_INDEX) & ADDR_MASK;
    let master_pd = read(master_pdpt, WINDOW_PDPT_INDEX) & ADDR_MASK;
    let master_pt = read(master_pd, WINDOW_PD_INDEX) & ADDR_MASK;
    // The window's own chain: the same flags as the first vCPU's, our block's frames.
    let pages = (VCPU_BLOCK_SIZE / PAGE_SIZE) as usize;
    copy_table_except(master_pt, pt, |i| {
        (i < pages).then(|| (read(master_pt, i) & !ADDR_MASK) | (block + i as u64 * PAGE_SIZE))
    });
    let linked = |table: u64, index: usize, next: u64| {
        move |i: usize| (i == index).then(|| (read(table, i) & !ADDR_MASK) | next)
    };
    copy_table_except(master_pd, pd, linked(master_pd, WINDOW_PD_INDEX, pt));
    copy_table_except(master_pdpt, pdpt, linked(master_pdpt, WINDOW_PDPT_INDEX, pd));
    // Publish the root before copying the shared entries, so that an entry another vCPU
    // adds meanwhile is either copied here or mirrored there (both write the same value).
    ROOTS[vcpu as usize].store(pml4, Ordering::SeqCst);
    copy_table_except(KERNEL_PML4_GPA, pml4, linked(KERNEL_PML4_GPA, WINDOW_PML4_INDEX, pdpt));
    if platform::has_user_pml4_twin() {
        copy_table_except(USER_PML4_GPA, twin, linked(KERNEL_PML4_GPA, WINDOW_PML4_INDEX, pdpt));
    }
    mirror_again(pml4, twin);
    pml4
}

/// Entries the first vCPU's PML4 gained while `build` copied it.
fn mirror_again(pml4: u64, twin: u64) {
    for i in 0..WINDOW_PML4_INDEX {
        let e = read(KERNEL_PML4_GPA, i);
        if e & PTE_PRESENT != 0 && read(pml4, i) != e {
            write(pml4, i, e);
            if platform::has_user_pml4_twin() {
                write(twin, i, e);
            }
        }
    }
}

/// The vCPU `vcpu` is gone: its tables are no longer kept in step.
pub fn forget(vcpu: u32) {
    if vcpu != 0 {
        ROOTS[vcpu as usize].store(0, Ordering::SeqCst);
    }
}

/// Every vCPU but the first: the new top-level entry `i` (below the kernel's own) the
/// first vCPU's PML4 just got. The caller holds the address-space lock, as every writer
/// of the page tables does.
pub fn mirror_top_entry(i: usize, entry: u64) {
    for root in ROOTS.iter().skip(1) {
        let pml4 = root.load(Ordering::SeqCst);
        if pml4 != 0 {
            write(pml4, i, entry);
            if platform::has_user_pml4_twin() {
                write(pml4 + PAGE_SIZE, i, entry);
            }
        }
    }
}
