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
//! - 0x20: this block's guest-physical address (here).
//!
//! A second vCPU will find its data this way: the monitor gives it the next block
//! (VCPU_BLOCKS_GPA + n * VCPU_BLOCK_SIZE) and page tables whose top-level entry for the
//! window points at that block (the rest of the kernel half and the whole user half shared
//! with the other vCPUs' tables); its first kernel code stores the block's address here,
//! and the clone that starts it stores its thread, before it first enters user mode.
//! Nothing that reads these slots changes.

use core::sync::atomic::{AtomicU64, Ordering};

use abi_shared::layout::{vcpu_block, PERCPU_WINDOW_VA, VCPU_BLOCKS_GPA, VCPU_BLOCK_SIZE};

pub const SYSCALL_IN_FLIGHT: u64 = vcpu_block::SYSCALL_IN_FLIGHT - vcpu_block::PERCPU;
pub const CURRENT_THREAD: u64 = 0x18;
const BLOCK_GPA: u64 = 0x20;

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
    (block_gpa().saturating_sub(VCPU_BLOCKS_GPA) / VCPU_BLOCK_SIZE) as u32
}

/// The per-CPU word at `offset`, for the modules that own a slot.
#[inline]
pub fn slot(offset: u64) -> &'static AtomicU64 {
    word(offset)
}
