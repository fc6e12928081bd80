//! Entry and exit paths between ring 3 and the guest kernel, shared by both flavours.
//!
//! Syscalls and exceptions from user mode build the same `TrapFrame` on the kernel stack
//! and call into Rust; the Rust side returns how to go back: the fast path (registers
//! restored, rcx = rip and r11 = rflags, as `syscall` leaves them) or the full path that
//! restores every register from the frame (signal delivery, sigreturn, exceptions).
//! The two flavours differ only in the final instruction, chosen by `FLAVOUR_CLASSIC`.

use core::arch::global_asm;

use abi_shared::layout::{vcpu_block, PERCPU_WINDOW_VA};

/// Saved user state, in the order the entry code pushes it (lowest address first).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct TrapFrame {
    pub r15: u64,
    pub r14: u64,
    pub r13: u64,
    pub r12: u64,
    pub r11: u64,
    pub r10: u64,
    pub r9: u64,
    pub r8: u64,
    pub rbp: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rdx: u64,
    pub rcx: u64,
    pub rbx: u64,
    pub rax: u64,
    /// Exception vector, or `SYSCALL_VECTOR`.
    pub vector: u64,
    pub error: u64,
    pub rip: u64,
    pub cs: u64,
    pub rflags: u64,
    pub rsp: u64,
    pub ss: u64,
}

pub const SYSCALL_VECTOR: u64 = u64::MAX;

// The monitor reads the latest entry frame at the top of the kernel stack after a crash.
const _: () =
    assert!(core::mem::size_of::<TrapFrame>() as u64 == abi_shared::layout::vcpu_block::ENTRY_FRAME_WORDS * 8);
const _: () = {
    use abi_shared::layout::vcpu_block::entry_frame as w;
    assert!(core::mem::offset_of!(TrapFrame, r10) as u64 == w::R10 * 8);
    assert!(core::mem::offset_of!(TrapFrame, rdi) as u64 == w::RDI * 8);
    assert!(core::mem::offset_of!(TrapFrame, rsi) as u64 == w::RSI * 8);
    assert!(core::mem::offset_of!(TrapFrame, rdx) as u64 == w::RDX * 8);
    assert!(core::mem::offset_of!(TrapFrame, rax) as u64 == w::RAX * 8);
    assert!(core::mem::offset_of!(TrapFrame, vector) as u64 == w::VECTOR * 8);
    assert!(core::mem::offset_of!(TrapFrame, error) as u64 == w::ERROR * 8);
    assert!(core::mem::offset_of!(TrapFrame, rip) as u64 == w::RIP * 8);
    assert!(core::mem::offset_of!(TrapFrame, cs) as u64 == w::CS * 8);
    assert!(core::mem::offset_of!(TrapFrame, rsp) as u64 == w::RSP * 8);
};

/// How to return to user mode.
#[repr(u64)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReturnPath {
    /// rcx/r11 in the frame equal rip/rflags: `int $0x19` (pvm) or `sysretq` (classic).
    Fast = 0,
    /// Every register from the frame: `int $0x17` (pvm) or `iretq` (classic).
    Full = 1,
}

/// Per-CPU scratch used by the entry code, at a fixed address in the per-CPU window.
pub const PERCPU_VA: u64 = PERCPU_WINDOW_VA + vcpu_block::PERCPU;
pub const KSTACK_TOP_VA: u64 = PERCPU_WINDOW_VA + vcpu_block::KSTACK_TOP;

/// 0 = pvm, 1 = classic; set once at boot before the first return to user mode.
#[no_mangle]
pub static mut FLAVOUR_CLASSIC: u8 = 0;

global_asm!(
    r#"
    .set PERCPU_USER_RSP, {percpu}
    .set KSTACK_TOP, {kstack}

    .macro PUSH_GPRS
        push %rax
        push %rbx
        push %rcx
        push %rdx
        push %rsi
        push %rdi
        push %rbp
        push %r8
        push %r9
        push %r10
        push %r11
        push %r12
        push %r13
        push %r14
        push %r15
    .endm

    .macro POP_GPRS
        pop %r15
        pop %r14
        pop %r13
        pop %r12
        pop %r11
        pop %r10
        pop %r9
        pop %r8
        pop %rbp
        pop %rdi
        pop %rsi
        pop %rdx
        pop %rcx
        pop %rbx
        pop %rax
    .endm

    .section .text
    .globl syscall_entry
    .p2align 4
syscall_entry:
    /* pvm: CR3 is already the kernel's and GS is the user's; classic: CPL 0, IF clear
       by FMASK. Neither flavour needs swapgs: per-CPU data sits at a fixed address. */
    mov %rsp, PERCPU_USER_RSP
    mov $KSTACK_TOP, %rsp
    push $0x2b
    pushq PERCPU_USER_RSP
    push %r11
    push $0x33
    push %rcx
    push $0
    push $-1
    PUSH_GPRS
    cld
    mov %rsp, %rdi
    call {syscall_rust}
    jmp return_to_user

    .globl return_to_user
return_to_user:
    /* rsp = TrapFrame, rax = ReturnPath */
    test %rax, %rax
    jnz 2f
    POP_GPRS
    mov 40(%rsp), %rsp          /* frame.rsp: vector, error, rip, cs, rflags, rsp */
    cmpb $0, FLAVOUR_CLASSIC
    jne 1f
    int $0x19                   /* pvm direct switch: rip = rcx, rflags = r11 */
    ud2
1:  sysretq
2:  /* A return to a non-canonical rip (sigreturn can ask for one) must not reach iretq:
       on Intel it faults in ring 0, before the switch to user mode. Linux turns it into a
       user #GP at that rip; so do we, then try again. */
    mov {frame_rip}(%rsp), %rcx
    sar $47, %rcx
    jz 4f
    inc %rcx
    jz 4f
    mov %rsp, %rdi
    call {bad_rip}
    jmp return_to_user
4:  POP_GPRS
    add $16, %rsp               /* vector, error: rsp now at the iret frame */
    cmpb $0, FLAVOUR_CLASSIC
    jne 3f
    int $0x17                   /* pvm direct switch with the iret frame at rsp */
    ud2
3:  iretq

    /* Exception stubs: push a zero error code where the CPU pushes none, then the vector. */
    .macro EXC_NOERR vec
    .globl exc_\vec
exc_\vec:
    push $0
    push $\vec
    jmp exception_common
    .endm
    .macro EXC_ERR vec
    .globl exc_\vec
exc_\vec:
    push $\vec
    jmp exception_common
    .endm

    EXC_NOERR 0
    EXC_NOERR 1
    EXC_NOERR 2
    EXC_NOERR 3
    EXC_NOERR 4
    EXC_NOERR 5
    EXC_NOERR 6
    EXC_NOERR 7
    EXC_ERR 8
    EXC_NOERR 9
    EXC_ERR 10
    EXC_ERR 11
    EXC_ERR 12
    EXC_ERR 13
    EXC_ERR 14
    EXC_NOERR 15
    EXC_NOERR 16
    EXC_ERR 17
    EXC_NOERR 18
    EXC_NOERR 19
    EXC_NOERR 20
    EXC_ERR 21
    /* The monitor's interrupt for a caught host signal (SIGNAL_KICK_VECTOR). */
    EXC_NOERR 32

exception_common:
    PUSH_GPRS
    cld
    mov %rsp, %rdi
    call {exception_rust}
    jmp return_to_user

    /* pvm safety net: if the hypervisor declines a direct switch, `int $0x17`/`int $0x19`
       arrive through the IDT (on IST1); finish the return with the IRET_FRAME hypercall,
       whose frame is {{rax, rbx, rdi, rip, cs, rflags, rsp, ss}}. */
    .globl pvm_fallback_17
pvm_fallback_17:
    incq {fallbacks}
    mov 24(%rsp), %rsp          /* the rsp at `int $0x17`: it points at the iret frame */
    push %rdi
    push %rbx
    push %rax
    mov %rsp, %rbx
    mov $0x100d, %eax
    int $0x1b
    ud2

    .globl pvm_fallback_19
pvm_fallback_19:
    incq {fallbacks}
    mov 24(%rsp), %rdx          /* user rsp at `int $0x19` */
    push $0x2b
    push %rdx
    push %r11
    push $0x33
    push %rcx
    push %rdi
    push %rbx
    push %rax
    mov %rsp, %rbx
    mov $0x100d, %eax
    int $0x1b
    ud2
    "#,
    percpu = const PERCPU_VA,
    kstack = const KSTACK_TOP_VA,
    syscall_rust = sym syscall_from_user,
    exception_rust = sym exception_from_user,
    fallbacks = sym crate::arch::trap::PVM_FALLBACKS,
    bad_rip = sym noncanonical_return,
    frame_rip = const core::mem::offset_of!(TrapFrame, rip),
    options(att_syntax)
);

// The Rust halves of the entry paths, defined `#[no_mangle]` by the layers above
// (syscall/mod.rs, exception.rs) and called by these names, as an assembly entry path
// calls C functions: the bottom layer names them without importing the layers that define
// them.
extern "C" {
    /// The syscall dispatcher (syscall/mod.rs).
    fn syscall_from_user(frame: &mut TrapFrame) -> ReturnPath;
    /// Every exception and interrupt from user mode (exception.rs).
    fn exception_from_user(frame: &mut TrapFrame) -> ReturnPath;
    /// The full return path found a non-canonical user rip (exception.rs).
    fn noncanonical_return(frame: &mut TrapFrame) -> ReturnPath;
}

extern "C" {
    pub fn syscall_entry();
    pub fn pvm_fallback_17();
    pub fn pvm_fallback_19();
}

/// Address of exception stub `vec` (0..=21).
pub fn exception_stub(vec: u8) -> Option<u64> {
    extern "C" {
        fn exc_0();
        fn exc_1();
        fn exc_2();
        fn exc_3();
        fn exc_4();
        fn exc_5();
        fn exc_6();
        fn exc_7();
        fn exc_8();
        fn exc_9();
        fn exc_10();
        fn exc_11();
        fn exc_12();
        fn exc_13();
        fn exc_14();
        fn exc_15();
        fn exc_16();
        fn exc_17();
        fn exc_18();
        fn exc_19();
        fn exc_20();
        fn exc_21();
    }
    let stubs: [unsafe extern "C" fn(); 22] = [
        exc_0, exc_1, exc_2, exc_3, exc_4, exc_5, exc_6, exc_7, exc_8, exc_9, exc_10, exc_11, exc_12, exc_13, exc_14,
        exc_15, exc_16, exc_17, exc_18, exc_19, exc_20, exc_21,
    ];
    stubs.get(vec as usize).map(|f| *f as *const () as u64)
}

/// Address of the stub for the monitor's signal interrupt.
pub fn signal_kick_stub() -> u64 {
    extern "C" {
        fn exc_32();
    }
    exc_32 as *const () as u64
}

/// The calling thread's user registers as its latest entry from user mode saved them: a
/// copy of the frame at the top of its kernel stack (`vcpu_block::ENTRY_FRAME`), where
/// syscalls, exceptions and interrupts from user mode all build it, whatever kernel code
/// runs below it since.
pub fn user_entry_frame() -> TrapFrame {
    let at = KSTACK_TOP_VA - core::mem::size_of::<TrapFrame>() as u64;
    // SAFETY: the kernel stack window is mapped on every vCPU, and its top holds the frame
    // of the thread's latest entry from user mode; the thread is in its kernel, so the
    // frame does not change while it is copied.
    unsafe { core::ptr::read_volatile(at as *const TrapFrame) }
}

/// Enter user mode for the first time with `frame` (on the current kernel stack top).
pub fn enter_user(frame: &TrapFrame) -> ! {
    let top = KSTACK_TOP_VA - core::mem::size_of::<TrapFrame>() as u64;
    // SAFETY: the kernel stack window is mapped. The frame is moved to the top of the stack,
    // where `return_to_user` expects it; this function never returns, so nothing else on the
    // stack is needed afterwards. The caller's copy may itself overlap the top, so the move
    // is made here in assembly, choosing its direction: a Rust `ptr::copy` of a caller's
    // local to a fixed address may be lowered to a forward memcpy (the optimizer takes a
    // local and an address made from an integer never to overlap), which, with the source
    // just below the destination, copies the frame shifted (a new thread's first return to
    // user mode then jumped to one of its registers' values).
    unsafe {
        core::arch::asm!(
            "cmp %rsi, %rdi",
            "jbe 1f",
            "lea -1(%rsi,%rcx), %rsi",
            "lea -1(%rdi,%rcx), %rdi",
            "std",
            "rep movsb",
            "cld",
            "jmp 2f",
            "1:",
            "rep movsb",
            "2:",
            "mov {top}, %rsp",
            "mov $1, %eax",
            "jmp return_to_user",
            top = in(reg) top,
            in("rsi") frame as *const TrapFrame,
            in("rdi") top,
            in("rcx") core::mem::size_of::<TrapFrame>(),
            options(att_syntax, noreturn)
        );
    }
}
