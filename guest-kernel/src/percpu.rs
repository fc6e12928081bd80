//! This vCPU's own data, and how each vCPU finds its own.
//!
//! Every vCPU has a block of guest-physical memory (abi_shared::layout::vcpu_block: VIF
//! page, per-CPU page, GDT, TSS, hypercall areas, kernel stack), and each vCPU's page
//! tables map its own block at the same virtual address, the per-CPU window
//! (PERCPU_WINDOW_VA). Code reaches "this vCPU's" data with a plain absolute address: no
//! GS base is involved, which matters on pvm, where the `syscall` entry runs with the
//! user's GS (swapgs must not be used) and the user may set GS to anything with
//! arch_prctl or wrgsbase. The entry code finds its kernel stack (KSTACK_TOP) and scratch
//! there too.
//!
//! The per-CPU page (vcpu_block::PERCPU) holds, by offset:
//! - 0x00: the entry code's scratch (the user rsp while it switches stacks; arch/entry.rs);
//! - 0x10: the syscall in flight (stats.rs), which the monitor reads after a crash;
//! - 0x18: the running thread (task/percpu.rs);
//! - 0x20: this block's guest-physical address (here);
//! - 0x28: 1 while this vCPU runs user code, 0 in the kernel (mm/tlb.rs);
//! - 0x30: the TLB generation this vCPU has flushed up to (mm/tlb.rs);
//! - 0x38: non-zero when this vCPU has no hypercall worker (a thread's vCPU: requests go
//!   by exit; hypercall/transport.rs).
//!
//! - 0x40: this vCPU's index (getcpu, the kick mask);
//! - 0x48: the hypercalls made by this vCPU's syscall in flight (stats.rs).
//!
//! A thread's vCPU finds its data the same way: the guest gives it a block (mm/vcpu_roots.rs
//! builds its page tables, whose window maps that block while everything else is shared
//! with the other vCPUs' tables), and its first kernel code (boot.rs, `secondary_main`)
//! stores the block's address, its index and its thread here before it enters user mode.

use core::sync::atomic::{AtomicU64, Ordering};

use abi_shared::layout::{vcpu_block, PERCPU_WINDOW_VA, PHYS_MAP_BASE};

pub const SYSCALL_IN_FLIGHT: u64 = vcpu_block::SYSCALL_IN_FLIGHT - vcpu_block::PERCPU;
pub const CURRENT_THREAD: u64 = 0x18;
const BLOCK_GPA: u64 = 0x20;
pub const IN_USER: u64 = 0x28;
pub const TLB_SEEN: u64 = 0x30;
pub const NO_WORKER: u64 = 0x38;
pub const HYPERCALLS_NOW: u64 = 0x48;

/// The address of a slot of this vCPU's per-CPU page.
#[inline]
pub const fn slot_va(offset: u64) -> u64 {
    PERCPU_WINDOW_VA + vcpu_block::PERCPU + offset
}

#[inline]
fn word(offset: u64) -> &'static AtomicU64 {
    // SAFETY: the per-CPU page is mapped for the whole run, the slots are 8-byte aligned
    // and each is used for one purpose only.
    unsafe { AtomicU64::from_ptr(slot_va(offset) as *mut u64) }
}

/// The vCPU starts: `gpa` is the block the window maps.
pub fn set_block_gpa(gpa: u64) {
    word(BLOCK_GPA).store(gpa, Ordering::Relaxed);
}

/// The guest-physical address of this vCPU's block (what the per-CPU window maps).
#[inline]
pub fn block_gpa() -> u64 {
    word(BLOCK_GPA).load(Ordering::Relaxed)
}

/// This vCPU's index: what getcpu reports as the CPU.
pub fn cpu_index() -> u32 {
    word(CPU_INDEX).load(Ordering::Relaxed) as u32
}

const CPU_INDEX: u64 = 0x40;

/// The vCPU starts: its index among the process's vCPUs.
pub fn set_cpu_index(index: u32) {
    word(CPU_INDEX).store(u64::from(index), Ordering::Relaxed);
}

/// The per-CPU word at `offset` of another vCPU, whose block is at `block_gpa`, through
/// the direct map of guest RAM (the window shows only this vCPU's own block).
pub fn remote_slot(block_gpa: u64, offset: u64) -> &'static AtomicU64 {
    let va = PHYS_MAP_BASE + block_gpa + vcpu_block::PERCPU + offset;
    // SAFETY: vCPU blocks lie in guest RAM, which the direct map covers for the whole run;
    // the slots are 8-byte aligned and accessed atomically by every vCPU.
    unsafe { AtomicU64::from_ptr(va as *mut u64) }
}

/// A word of another vCPU's block (`offset` from `layout::vcpu_block`), through the direct
/// map.
pub fn remote_block_word(block_gpa: u64, offset: u64) -> &'static AtomicU64 {
    // SAFETY: as in remote_slot; the block's control words are 8-byte aligned.
    unsafe { AtomicU64::from_ptr((PHYS_MAP_BASE + block_gpa + offset) as *mut u64) }
}

/// The per-CPU word at `offset`, for the modules that own a slot.
#[inline]
pub fn slot(offset: u64) -> &'static AtomicU64 {
    word(offset)
}
