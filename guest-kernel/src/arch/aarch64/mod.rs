//! aarch64-specific code (docs/arm64.md): the first instruction, the EL1 exception
//! vectors, the trap frame and the return to EL0, the MMU's page tables, the doorbell and
//! the few system registers the rest reads. The x86_64 counterpart is `arch/` itself.
//!
//! The monitor starts the vCPU at EL1 with the MMU already on (its boot tables map all
//! guest RAM in the TTBR1 half at `layout::arm64::KERNEL_BASE`), SP_EL1 at the top of the
//! vCPU block's kernel stack and x0 pointing at the BootInfo.

pub mod mmu;
pub mod sigframe;

use abi_shared::layout::arm64::{DOORBELL_GPA, KERNEL_BASE};
use abi_shared::layout::{vcpu_block, vcpu_block_gpa};

/// What the vectors save on an exception from EL0 (and from EL1, for the report): the
/// general registers, SP_EL0, ELR_EL1 (`pc`), SPSR_EL1 (`pstate`), and the FP/SIMD state,
/// which the kernel's own code may use (the target has NEON on).
#[repr(C)]
pub struct TrapFrame {
    pub x: [u64; 31],
    pub sp: u64,
    pub pc: u64,
    pub pstate: u64,
    pub fpsr: u64,
    pub fpcr: u64,
    pub v: [u128; 32],
}

const FRAME_SIZE: usize = 800;
const _: () = assert!(core::mem::size_of::<TrapFrame>() == FRAME_SIZE);

/// Which vector took the exception (passed to the Rust handlers in x1).
pub mod vector {
    pub const SYNC: u64 = 0;
    pub const IRQ: u64 = 1;
    pub const FIQ: u64 = 2;
    pub const SERROR: u64 = 3;
}

core::arch::global_asm!(
    r#"
    .macro SAVE_FRAME
    sub sp, sp, #800
    stp x0, x1, [sp, #0]
    stp x2, x3, [sp, #16]
    stp x4, x5, [sp, #32]
    stp x6, x7, [sp, #48]
    stp x8, x9, [sp, #64]
    stp x10, x11, [sp, #80]
    stp x12, x13, [sp, #96]
    stp x14, x15, [sp, #112]
    stp x16, x17, [sp, #128]
    stp x18, x19, [sp, #144]
    stp x20, x21, [sp, #160]
    stp x22, x23, [sp, #176]
    stp x24, x25, [sp, #192]
    stp x26, x27, [sp, #208]
    stp x28, x29, [sp, #224]
    mrs x0, sp_el0
    stp x30, x0, [sp, #240]
    mrs x0, elr_el1
    mrs x1, spsr_el1
    stp x0, x1, [sp, #256]
    mrs x0, fpsr
    mrs x1, fpcr
    stp x0, x1, [sp, #272]
    add x0, sp, #288
    stp q0, q1, [x0, #0]
    stp q2, q3, [x0, #32]
    stp q4, q5, [x0, #64]
    stp q6, q7, [x0, #96]
    stp q8, q9, [x0, #128]
    stp q10, q11, [x0, #160]
    stp q12, q13, [x0, #192]
    stp q14, q15, [x0, #224]
    stp q16, q17, [x0, #256]
    stp q18, q19, [x0, #288]
    stp q20, q21, [x0, #320]
    stp q22, q23, [x0, #352]
    stp q24, q25, [x0, #384]
    stp q26, q27, [x0, #416]
    stp q28, q29, [x0, #448]
    stp q30, q31, [x0, #480]
    mov x0, sp
    .endm

    .section .text.boot, "ax"
    .globl _start
_start:
    /* MMU on, SP_EL1 = this vCPU's kernel stack, x0 = &BootInfo (set by the monitor). */
    adrp x9, linuxrun_vectors
    add x9, x9, :lo12:linuxrun_vectors
    msr vbar_el1, x9
    isb
    mov x29, #0
    mov x30, #0
    bl linuxrun_kmain
1:  wfi
    b 1b

    .text
    /* Back to EL0 from the frame at sp (the layout of TrapFrame). */
    .globl linuxrun_ret_to_user
linuxrun_ret_to_user:
    add x0, sp, #288
    ldp q0, q1, [x0, #0]
    ldp q2, q3, [x0, #32]
    ldp q4, q5, [x0, #64]
    ldp q6, q7, [x0, #96]
    ldp q8, q9, [x0, #128]
    ldp q10, q11, [x0, #160]
    ldp q12, q13, [x0, #192]
    ldp q14, q15, [x0, #224]
    ldp q16, q17, [x0, #256]
    ldp q18, q19, [x0, #288]
    ldp q20, q21, [x0, #320]
    ldp q22, q23, [x0, #352]
    ldp q24, q25, [x0, #384]
    ldp q26, q27, [x0, #416]
    ldp q28, q29, [x0, #448]
    ldp q30, q31, [x0, #480]
    ldp x0, x1, [sp, #272]
    msr fpsr, x0
    msr fpcr, x1
    ldp x0, x1, [sp, #256]
    msr elr_el1, x0
    msr spsr_el1, x1
    ldp x30, x0, [sp, #240]
    msr sp_el0, x0
    ldp x0, x1, [sp, #0]
    ldp x2, x3, [sp, #16]
    ldp x4, x5, [sp, #32]
    ldp x6, x7, [sp, #48]
    ldp x8, x9, [sp, #64]
    ldp x10, x11, [sp, #80]
    ldp x12, x13, [sp, #96]
    ldp x14, x15, [sp, #112]
    ldp x16, x17, [sp, #128]
    ldp x18, x19, [sp, #144]
    ldp x20, x21, [sp, #160]
    ldp x22, x23, [sp, #176]
    ldp x24, x25, [sp, #192]
    ldp x26, x27, [sp, #208]
    ldp x28, x29, [sp, #224]
    add sp, sp, #800
    eret

linuxrun_from_el0_sync:
    SAVE_FRAME
    mov x1, #0
    bl linuxrun_trap_from_user
    b linuxrun_ret_to_user
linuxrun_from_el0_irq:
    SAVE_FRAME
    mov x1, #1
    bl linuxrun_trap_from_user
    b linuxrun_ret_to_user
linuxrun_from_el0_fiq:
    SAVE_FRAME
    mov x1, #2
    bl linuxrun_trap_from_user
    b linuxrun_ret_to_user
linuxrun_from_el0_serror:
    SAVE_FRAME
    mov x1, #3
    bl linuxrun_trap_from_user
    b linuxrun_ret_to_user
linuxrun_from_el1:
    SAVE_FRAME
    bl linuxrun_kernel_fault
1:  wfi
    b 1b

    /* VBAR_EL1: 16 entries of 128 bytes; the table is 2 KiB aligned. */
    .balign 2048
    .globl linuxrun_vectors
linuxrun_vectors:
    /* Current EL with SP_EL0: never used. */
    .balign 128
    mov x1, #0
    b linuxrun_from_el1
    .balign 128
    mov x1, #1
    b linuxrun_from_el1
    .balign 128
    mov x1, #2
    b linuxrun_from_el1
    .balign 128
    mov x1, #3
    b linuxrun_from_el1
    /* Current EL with SP_EL1: the kernel's own faults. */
    .balign 128
    mov x1, #0
    b linuxrun_from_el1
    .balign 128
    mov x1, #1
    b linuxrun_from_el1
    .balign 128
    mov x1, #2
    b linuxrun_from_el1
    .balign 128
    mov x1, #3
    b linuxrun_from_el1
    /* Lower EL, AArch64: svc, aborts, undefined instructions... */
    .balign 128
    b linuxrun_from_el0_sync
    .balign 128
    b linuxrun_from_el0_irq
    .balign 128
    b linuxrun_from_el0_fiq
    .balign 128
    b linuxrun_from_el0_serror
    /* Lower EL, AArch32: no 32-bit programs (the monitor refuses them). */
    .balign 128
    b linuxrun_from_el0_sync
    .balign 128
    b linuxrun_from_el0_irq
    .balign 128
    b linuxrun_from_el0_fiq
    .balign 128
    b linuxrun_from_el0_serror
    .balign 128
    "#
);

/// Kernel virtual address of guest-physical `gpa` (the TTBR1 direct map).
pub const fn phys_to_virt(gpa: u64) -> u64 {
    KERNEL_BASE + gpa
}

/// Guest-physical address of a kernel virtual address.
pub const fn virt_to_phys(va: u64) -> u64 {
    va - KERNEL_BASE
}

/// The top of the first vCPU's kernel stack (where SP_EL1 is after every return to EL0).
pub fn kernel_stack_top() -> u64 {
    phys_to_virt(vcpu_block_gpa(0) + vcpu_block::KSTACK_TOP)
}

/// Start the program: the frame goes to the top of the kernel stack, from where every later
/// exception from EL0 saves and restores its frame, and `eret` takes it to EL0.
pub fn enter_user(frame: &TrapFrame) -> ! {
    let at = kernel_stack_top() - FRAME_SIZE as u64;
    // SAFETY: the top FRAME_SIZE bytes of the kernel stack hold only the frames of our
    // callers (kmain at the top), which never run again; `frame` may lie there too, so the
    // copy is a memmove. This function's own frame lies deeper, below `at` (kmain's frame
    // alone is larger than a TrapFrame: it holds one). The return
    // path reads exactly a TrapFrame at the new sp.
    unsafe {
        core::ptr::copy(frame as *const TrapFrame, at as *mut TrapFrame, 1);
        core::arch::asm!("mov sp, {0}", "b linuxrun_ret_to_user", in(reg) at, options(noreturn));
    }
}

/// Tell the monitor that doorbell `n` (`layout::ports`) rang: a store to the doorbell page,
/// which KVM hands to the monitor as an MMIO exit. Returns once the monitor resumed us.
pub fn ring(n: u16) {
    let va = phys_to_virt(DOORBELL_GPA);
    // SAFETY: the doorbell page is mapped (device memory) by the monitor's boot tables; the
    // store only exits. `dsb sy` first: the request area's writes come before the ring.
    unsafe { core::arch::asm!("dsb sy", "str {v}, [{a}]", v = in(reg) u64::from(n), a = in(reg) va, options(nostack)) };
}

macro_rules! read_sysreg {
    ($name:ident, $reg:literal) => {
        #[doc = concat!("The current value of ", $reg, ".")]
        pub fn $name() -> u64 {
            let v: u64;
            // SAFETY: reading this system register has no side effects.
            unsafe { core::arch::asm!(concat!("mrs {}, ", $reg), out(reg) v, options(nomem, nostack)) };
            v
        }
    };
}

read_sysreg!(esr_el1, "esr_el1");
read_sysreg!(far_el1, "far_el1");
read_sysreg!(cntfrq_el0, "cntfrq_el0");
read_sysreg!(id_aa64isar0_el1, "id_aa64isar0_el1");
read_sysreg!(id_aa64pfr0_el1, "id_aa64pfr0_el1");

/// The virtual counter (`isb` first, so it is not read early).
pub fn cntvct_el0() -> u64 {
    let v: u64;
    // SAFETY: reading the counter has no side effects.
    unsafe { core::arch::asm!("isb", "mrs {}, cntvct_el0", out(reg) v, options(nomem, nostack)) };
    v
}

/// Stop this vCPU for good (after a panic was reported).
pub fn halt() -> ! {
    loop {
        // SAFETY: wfi only waits; with every interrupt masked it waits forever.
        unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
    }
}
