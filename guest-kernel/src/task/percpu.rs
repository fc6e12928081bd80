//! Per-vCPU data, and how each vCPU finds its own.
//!
//! Every vCPU has a block of guest-physical memory (abi_shared::layout::vcpu_block: VIF
//! page, per-CPU page, GDT, TSS, hypercall areas, kernel stack), and each vCPU's page
//! tables map its own block at the same virtual address, the per-CPU window
//! (PERCPU_WINDOW_VA). Code reaches "this vCPU's" data with a plain absolute address: no
//! GS base is involved, which matters on pvm, where the `syscall` entry runs with the
//! user's GS (swapgs must not be used) and the user may set GS to anything with
//! arch_prctl or wrgsbase. The kernel stack top (KSTACK_TOP) and the entry code's scratch
//! are in the window already; the running thread is a pointer in the per-CPU page, read
//! by `current_thread`.
//!
//! A second vCPU will find its data this way: the monitor gives it the next block
//! (VCPU_BLOCKS_GPA + n * VCPU_BLOCK_SIZE) and page tables whose top-level entry for the
//! window points at that block (the rest of the kernel half and the whole user half shared
//! with the other vCPUs' tables); the clone that starts it stores its `Thread` in the
//! block's CURRENT_THREAD slot before it first enters user mode. Nothing here changes.

use core::sync::atomic::{AtomicPtr, Ordering};

use abi_shared::layout::{vcpu_block, PERCPU_WINDOW_VA};

use super::Thread;

/// The running thread's slot in the per-CPU page (after the syscall in flight at +0x10).
const CURRENT_THREAD_VA: u64 = PERCPU_WINDOW_VA + vcpu_block::SYSCALL_IN_FLIGHT + 8;

#[inline]
fn slot() -> &'static AtomicPtr<Thread> {
    // SAFETY: the per-CPU page is mapped for the whole run, this offset is 8-byte aligned
    // and used for nothing else, and a zeroed slot is a valid (null) pointer.
    unsafe { AtomicPtr::from_ptr(CURRENT_THREAD_VA as *mut *mut Thread) }
}

/// The thread this vCPU runs, once one was set.
#[inline]
pub fn current_thread() -> Option<&'static Thread> {
    let p = slot().load(Ordering::Relaxed);
    // SAFETY: only `set_current_thread` stores here, and always a `&'static Thread`.
    unsafe { p.as_ref() }
}

/// This vCPU now runs `thread`.
pub fn set_current_thread(thread: &'static Thread) {
    slot().store(core::ptr::from_ref(thread).cast_mut(), Ordering::Relaxed);
}
