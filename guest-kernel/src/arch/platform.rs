//! The privilege primitives, the only code that knows which flavour runs (see docs/pvm.md).
//!
//! * pvm (kvm_pvm): the kernel runs deprivileged; the hypervisor offers direct switches
//!   (`int $0x19`, `int $0x17`, in entry.rs), hypercalls through `int $0x1b`, CR2 in the VIF
//!   page, and demands U=1 on every page-table entry and a user twin of the top-level table.
//! * classic (VMX/SVM KVM, Hypervisor.framework): real ring 0 with `sysretq`/`iretq`,
//!   `mov %cr2`, `invlpg`, and U=0 on kernel pages.

use core::arch::asm;
use core::sync::atomic::{AtomicU8, Ordering};

use abi_shared::bootinfo::Flavour;
use abi_shared::layout::{vcpu_block, PERCPU_WINDOW_VA};

use super::entry::FLAVOUR_CLASSIC;

static FLAVOUR: AtomicU8 = AtomicU8::new(0);

/// Page-table bits.
pub const PTE_PRESENT: u64 = 1 << 0;
pub const PTE_WRITE: u64 = 1 << 1;
pub const PTE_USER: u64 = 1 << 2;
pub const PTE_NX: u64 = 1 << 63;

/// pvm hypercall numbers (`int $0x1b`, handled inside the hypervisor, no exit to the monitor).
mod pvm_hc {
    pub const FLUSH_TLB: u32 = 0x1007;
    pub const FLUSH_TLB_ONE: u32 = 0x1008;
    pub const HALT: u32 = 0x1009;
}

pub fn init(flavour: Flavour) {
    FLAVOUR.store(flavour as u8, Ordering::Relaxed);
    // SAFETY: written once at boot, before any return to user mode reads it.
    unsafe { FLAVOUR_CLASSIC = (flavour == Flavour::Classic) as u8 };
}

pub fn flavour() -> Flavour {
    if FLAVOUR.load(Ordering::Relaxed) == Flavour::Classic as u8 {
        Flavour::Classic
    } else {
        Flavour::Pvm
    }
}

pub fn is_pvm() -> bool {
    flavour() == Flavour::Pvm
}

/// pvm flavour: whether the top-level table has a user-mode twin at +4 KiB to keep in sync.
pub fn has_user_pml4_twin() -> bool {
    is_pvm()
}

fn pvm_hypercall(nr: u32, rbx: u64) -> u64 {
    let ret: u64;
    // SAFETY: `int $0x1b` is the kvm_pvm hypercall gate; it clobbers only rax (result) and
    // reads rbx/rcx/rdx as arguments. rbx is reserved by LLVM, so it is swapped in by hand.
    unsafe {
        asm!(
            "xchg {arg}, rbx",
            "int 0x1b",
            "xchg {arg}, rbx",
            arg = inout(reg) rbx => _,
            inout("rax") nr as u64 => ret,
            in("rcx") 0u64,
            in("rdx") 0u64,
        );
    }
    ret
}

/// The address of the last page fault.
pub fn fault_address() -> u64 {
    if is_pvm() {
        // The hypervisor stores CR2 in the VIF page (+8); `mov %cr2` would trap.
        let vif_cr2 = (PERCPU_WINDOW_VA + vcpu_block::VIF + 8) as *const u64;
        // SAFETY: the VIF page is mapped in the per-CPU window for the whole run.
        unsafe { core::ptr::read_volatile(vif_cr2) }
    } else {
        let cr2: u64;
        // SAFETY: reading CR2 in ring 0 has no side effects.
        unsafe { asm!("mov {}, cr2", out(reg) cr2, options(nomem, nostack)) };
        cr2
    }
}

/// Forget any cached translation of `va`.
pub fn flush_tlb_page(va: u64) {
    if is_pvm() {
        pvm_hypercall(pvm_hc::FLUSH_TLB_ONE, va);
    } else {
        // SAFETY: invlpg only drops a TLB entry.
        unsafe { asm!("invlpg [{}]", in(reg) va, options(nostack)) };
    }
}

/// Forget all cached user translations.
pub fn flush_tlb_all() {
    if is_pvm() {
        pvm_hypercall(pvm_hc::FLUSH_TLB, 0);
    } else {
        // SAFETY: reloading CR3 with its own value flushes non-global entries only.
        unsafe {
            asm!("mov {t}, cr3", "mov cr3, {t}", t = out(reg) _, options(nostack));
        }
    }
}

/// Set the user FS base (TLS). `wrfsbase` runs natively under pvm and reaches user mode.
pub fn set_fs_base(value: u64) {
    // SAFETY: CR4.FSGSBASE is set by the monitor; the kernel itself never uses FS.
    unsafe { asm!("wrfsbase {}", in(reg) value, options(nostack, nomem)) };
}

pub fn fs_base() -> u64 {
    let v: u64;
    // SAFETY: CR4.FSGSBASE is set by the monitor.
    unsafe { asm!("rdfsbase {}", out(reg) v, options(nostack, nomem)) };
    v
}

/// An `fxsave` image: x87, MMX and SSE registers with MXCSR (512 bytes, 16-byte aligned).
#[repr(C, align(16))]
pub struct FxArea(pub [u8; 512]);

/// The FPU/SSE registers of the running thread. The kernel never uses them, so in the
/// kernel they are still the user's.
pub fn fxsave() -> FxArea {
    let mut a = FxArea([0; 512]);
    // SAFETY: fxsave64 writes 512 bytes to a 16-byte aligned area of that size.
    unsafe { asm!("fxsave64 [{}]", in(reg) a.0.as_mut_ptr(), options(nostack)) };
    a
}

/// MSR_KERNEL_GS_BASE: under pvm it holds the user's GS base while the kernel runs (the
/// hypervisor swaps GS on each switch, as `swapgs` would), so the user's value is read and
/// written there; `wrgsbase` in the kernel would change a base that is discarded on return.
const MSR_KERNEL_GS_BASE: u32 = 0xc000_0102;

/// Set the user GS base (arch_prctl ARCH_SET_GS).
pub fn set_gs_base(value: u64) {
    if is_pvm() {
        wrmsr(MSR_KERNEL_GS_BASE, value);
    } else {
        // SAFETY: as for FS; the classic kernel does not use GS (per-CPU data has a fixed
        // address and nothing swaps GS), so the value stays the user's.
        unsafe { asm!("wrgsbase {}", in(reg) value, options(nostack, nomem)) };
    }
}

pub fn gs_base() -> u64 {
    if is_pvm() {
        return rdmsr(MSR_KERNEL_GS_BASE);
    }
    let v: u64;
    // SAFETY: CR4.FSGSBASE is set by the monitor.
    unsafe { asm!("rdgsbase {}", out(reg) v, options(nostack, nomem)) };
    v
}

/// Read a model-specific register (traps under pvm, ~4 µs: off hot paths).
pub fn rdmsr(msr: u32) -> u64 {
    let (lo, hi): (u32, u32);
    // SAFETY: only called for MSRs the kernel owns; rdmsr has no side effects.
    unsafe { asm!("rdmsr", in("ecx") msr, out("eax") lo, out("edx") hi, options(nostack, nomem)) };
    (hi as u64) << 32 | lo as u64
}

/// Write a model-specific register (it traps under pvm, ~4 µs: boot and rare syscalls only).
pub fn wrmsr(msr: u32, value: u64) {
    // SAFETY: only called for MSRs the kernel owns (the syscall MSRs, the user GS base).
    unsafe {
        asm!("wrmsr", in("ecx") msr, in("eax") value as u32, in("edx") (value >> 32) as u32, options(nostack));
    }
}

/// Stop this vCPU for good (after the monitor was told why).
pub fn halt_forever() -> ! {
    loop {
        if is_pvm() {
            pvm_hypercall(pvm_hc::HALT, 0);
        } else {
            // SAFETY: hlt in ring 0 with interrupts off waits forever; the monitor ends the VM.
            unsafe { asm!("cli", "hlt", options(nomem, nostack)) };
        }
    }
}

/// CPUID as this flavour can execute it from the kernel.
pub fn cpuid(leaf: u32, subleaf: u32) -> [u32; 4] {
    let (a, b, c, d): (u32, u32, u32, u32);
    if is_pvm() {
        // SAFETY: `int $0x1a` is the pvm paravirtual CPUID; same registers as cpuid. rbx is
        // reserved by LLVM, hence the exchange through a scratch register.
        unsafe {
            asm!("xchg {t:r}, rbx", "int 0x1a", "xchg {t:r}, rbx", t = out(reg) b, inout("eax") leaf => a,
                 inout("ecx") subleaf => c, out("edx") d);
        }
    } else {
        let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
        (a, b, c, d) = (r.eax, r.ebx, r.ecx, r.edx);
    }
    [a, b, c, d]
}
