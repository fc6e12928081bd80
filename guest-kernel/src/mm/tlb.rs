//! TLB coherence between the vCPUs of one process (TLB shootdowns).
//!
//! Each vCPU caches translations (in the CPU's TLB, and under pvm in the hypervisor's
//! shadow tables) that only a flush on that vCPU drops. When a thread unmaps, protects or
//! moves memory, the other vCPUs must have dropped the old translations before the call
//! returns, as on Linux. The protocol:
//! - a generation counter, bumped by every change that needs a flush elsewhere;
//! - per vCPU (its per-CPU page): `IN_USER`, 1 while it runs user code, and `TLB_SEEN`,
//!   the generation it has flushed up to. Every return to user mode publishes `IN_USER`
//!   and then flushes if the generation moved (`before_user`), so a vCPU in the kernel or
//!   blocked in the host needs nothing from the initiator;
//! - the initiator bumps the generation, asks the monitor to interrupt the vCPUs that run
//!   user code and have not seen it (`ControlRequest::KickVcpus`; their kick interrupt enters the
//!   kernel, which clears `IN_USER`, and flushes on the way back), and waits until each
//!   has either left user mode or flushed.
//!
//! A single-threaded process never gets here beyond one relaxed load.

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use abi_shared::hypercall::{ControlRequest, Request};
use abi_shared::layout::MAX_VCPUS;
use abi_shared::vcpus::{AtomicVcpuSet, VcpuSet};

use crate::arch::platform;
use crate::percpu::{self, IN_USER, TLB_SEEN};

static GENERATION: AtomicU64 = AtomicU64::new(0);
/// The vCPUs that run a thread of this process.
static ACTIVE: AtomicVcpuSet = AtomicVcpuSet::only(0);
/// Per vCPU: its block's guest-physical address.
static BLOCKS: [AtomicU64; MAX_VCPUS as usize] = [const { AtomicU64::new(0) }; MAX_VCPUS as usize];
/// Set when the process first had a second vCPU (never cleared: a cheap test).
static SEVERAL: AtomicBool = AtomicBool::new(false);

/// vCPU `index` (block at `block`) starts running a thread.
pub fn add_vcpu(index: u32, block: u64) {
    BLOCKS[index as usize].store(block, Ordering::SeqCst);
    percpu::remote_slot(block, TLB_SEEN).store(GENERATION.load(Ordering::SeqCst), Ordering::SeqCst);
    percpu::remote_slot(block, IN_USER).store(0, Ordering::SeqCst);
    SEVERAL.store(true, Ordering::SeqCst);
    ACTIVE.insert(index);
}

/// vCPU `index` stops running threads.
pub fn remove_vcpu(index: u32) {
    ACTIVE.remove(index);
}

/// The process is down to its calling vCPU (fork's child, exec).
pub fn only_this_vcpu() {
    ACTIVE.set_only(percpu::cpu_index());
}

/// The first vCPU's block, for the record (vCPU 0 is there from boot).
pub fn init_first(block: u64) {
    BLOCKS[0].store(block, Ordering::SeqCst);
}

/// Entry from user mode (syscall, exception, interrupt).
#[inline]
pub fn entered_kernel() {
    if SEVERAL.load(Ordering::Relaxed) {
        percpu::slot(IN_USER).store(0, Ordering::Release);
    }
}

/// About to return to user mode: say so, then catch up with any shootdown since this
/// vCPU last flushed. The swap orders the `IN_USER` store before the generation load
/// (pairs with `shootdown`'s bump-then-look).
#[inline]
pub fn before_user() {
    if !SEVERAL.load(Ordering::Relaxed) {
        return;
    }
    percpu::slot(IN_USER).swap(1, Ordering::SeqCst);
    let generation = GENERATION.load(Ordering::SeqCst);
    let seen = percpu::slot(TLB_SEEN);
    if seen.load(Ordering::Relaxed) != generation {
        platform::flush_tlb_all();
        seen.store(generation, Ordering::Release);
    }
}

/// After this vCPU changed translations and flushed its own TLB: make every other vCPU of
/// the process drop them too before returning.
pub fn shootdown() {
    if !SEVERAL.load(Ordering::Relaxed) {
        return;
    }
    let me = percpu::cpu_index();
    let others = ACTIVE.load().without(me);
    if others.is_empty() {
        return;
    }
    let generation = GENERATION.fetch_add(1, Ordering::SeqCst) + 1;
    let behind = |v: u32| {
        let block = BLOCKS[v as usize].load(Ordering::SeqCst);
        percpu::remote_slot(block, IN_USER).load(Ordering::SeqCst) != 0
            && percpu::remote_slot(block, TLB_SEEN).load(Ordering::SeqCst) < generation
    };
    let kick = others.iter().filter(|&v| behind(v)).fold(VcpuSet::EMPTY, VcpuSet::with);
    if kick.is_empty() {
        return;
    }
    crate::hypercall::call_ret(&Request::Control(ControlRequest::KickVcpus { vcpus: kick }));
    for v in kick.iter() {
        while behind(v) {
            core::hint::spin_loop();
        }
    }
}
