//! The vDSO's machine code: hand-written, position-independent assembly (assembled by
//! rustc, so building needs no other tool). It is copied out of the kernel image into every
//! program's vDSO at `CODE_OFFSET`; it finds the vvar page at a fixed distance before
//! itself, and references nothing else, so it runs at any address.
//!
//! Each function computes what the guest's syscall would, from the same parameters with
//! the same math (vvar.rs), and falls back to the real `syscall` instruction for what it
//! does not serve itself (CPU-time clocks, invalid clock ids), so errors are the kernel's.
//! Like Linux's vDSO, a bad pointer faults in user mode instead of returning EFAULT.

use super::{Function, CODE_OFFSET, FUNCTIONS, VVAR_SIZE};
use crate::vvar::{OFF_MONOTONIC_BASE, OFF_REALTIME_BASE, OFF_TSC_BASE, OFF_TSC_MULT};

use abi_shared::linux::general::CLOCK_BOOTTIME;
use abi_shared::linux::general::CLOCK_MONOTONIC;
use abi_shared::linux::general::CLOCK_MONOTONIC_COARSE;
use abi_shared::linux::general::CLOCK_MONOTONIC_RAW;
/// Clock ids (linux/time.h) and which base each reads: the syscall path (syscall/time.rs)
/// maps them the same way.
use abi_shared::linux::general::CLOCK_REALTIME;
use abi_shared::linux::general::CLOCK_REALTIME_COARSE;
use abi_shared::linux::general::CLOCK_TAI;
const REALTIME_CLOCKS: u32 = 1 << CLOCK_REALTIME | 1 << CLOCK_REALTIME_COARSE | 1 << CLOCK_TAI;
const MONOTONIC_CLOCKS: u32 =
    1 << CLOCK_MONOTONIC | 1 << CLOCK_MONOTONIC_RAW | 1 << CLOCK_MONOTONIC_COARSE | 1 << CLOCK_BOOTTIME;
const COARSE_CLOCKS: u32 = 1 << CLOCK_REALTIME_COARSE | 1 << CLOCK_MONOTONIC_COARSE;
/// Highest clock id the masks cover (bit test needs ids below 32).
const MAX_VDSO_CLOCK: u32 = CLOCK_TAI;

/// The resolutions clock_getres reports (what syscall/time.rs answers).
const HRES_NS: u32 = 1;
const COARSE_RES_NS: u32 = 4_000_000;

/// Magic numbers for division by a constant, as rustc emits them: n / 10^9 is
/// ((n >> 9) * RECIP_1E9) >> (64 + 11) and n / 1000 is ((n >> 3) * RECIP_1E3) >> (64 + 4).
const RECIP_1E9: u64 = 19_342_813_113_834_067;
const RECIP_1E3: u64 = 2_361_183_241_434_822_607;

const SYS_CLOCK_GETTIME: u32 = 228;
const SYS_CLOCK_GETRES: u32 = 229;
const SYS_GETCPU: u32 = 309;

core::arch::global_asm!(
    ".pushsection .text.linuxrun_vdso,\"ax\",@progbits",
    ".balign 16",
    ".globl linuxrun_vdso_code",
    ".hidden linuxrun_vdso_code",
    "linuxrun_vdso_code:",
    ".Lvdso_start:",
    // int clock_gettime(clockid_t clock = %edi, struct timespec *ts = %rsi)
    ".Lclock_gettime:",
    "    cmp ${max_clock}, %edi",
    "    ja .Lclock_gettime_syscall", // unsigned: negative ids (CPU clocks by pid) too
    "    mov ${realtime_clocks}, %eax",
    "    mov ${off_realtime}, %ecx",
    "    bt %edi, %eax",
    "    jc 1f",
    "    mov ${monotonic_clocks}, %eax",
    "    mov ${off_monotonic}, %ecx",
    "    bt %edi, %eax",
    "    jnc .Lclock_gettime_syscall",
    "1:  call .Lnow",
    "    call .Lsplit",
    "    mov %rax, (%rsi)",
    "    mov %rdx, 8(%rsi)",
    "    xor %eax, %eax",
    "    ret",
    ".Lclock_gettime_syscall:",
    "    mov ${sys_clock_gettime}, %eax",
    "    syscall",
    "    ret",
    ".Lclock_gettime_end:",
    // int gettimeofday(struct timeval *tv = %rdi, struct timezone *tz = %rsi)
    ".Lgettimeofday:",
    "    test %rdi, %rdi",
    "    jz 1f",
    "    mov ${off_realtime}, %ecx",
    "    call .Lnow",
    "    call .Lsplit",
    "    mov %rax, (%rdi)",
    "    mov %rdx, %rax", // usec = nsec / 1000, by multiplying with the reciprocal (as rustc does)
    "    shr $3, %rax",
    "    movabs ${recip_1e3}, %rdx",
    "    mul %rdx",
    "    shr $4, %rdx",
    "    mov %rdx, 8(%rdi)",
    "1:  test %rsi, %rsi",
    "    jz 2f",
    "    movq $0, (%rsi)", // no timezone was ever set: minuteswest = dsttime = 0
    "2:  xor %eax, %eax",
    "    ret",
    ".Lgettimeofday_end:",
    // time_t time(time_t *t = %rdi)
    ".Ltime:",
    "    mov ${off_realtime}, %ecx",
    "    call .Lnow",
    "    call .Lsplit",
    "    test %rdi, %rdi",
    "    jz 1f",
    "    mov %rax, (%rdi)",
    "1:  ret",
    ".Ltime_end:",
    // int getcpu(unsigned *cpu = %rdi, unsigned *node = %rsi, void *cache = %rdx): the
    // kernel knows which vCPU runs; arguments are already where the syscall wants them.
    ".Lgetcpu:",
    "    mov ${sys_getcpu}, %eax",
    "    syscall",
    "    ret",
    ".Lgetcpu_end:",
    // int clock_getres(clockid_t clock = %edi, struct timespec *res = %rsi)
    ".Lclock_getres:",
    "    cmp ${max_clock}, %edi",
    "    ja .Lclock_getres_syscall",
    "    mov ${vdso_clocks}, %eax",
    "    bt %edi, %eax",
    "    jnc .Lclock_getres_syscall",
    "    test %rsi, %rsi",
    "    jz 1f",
    "    mov ${hres_ns}, %eax",
    "    mov ${coarse_res_ns}, %edx",
    "    mov ${coarse_clocks}, %ecx",
    "    bt %edi, %ecx",
    "    cmovc %edx, %eax",
    "    movq $0, (%rsi)",
    "    mov %rax, 8(%rsi)",
    "1:  xor %eax, %eax",
    "    ret",
    ".Lclock_getres_syscall:",
    "    mov ${sys_clock_getres}, %eax",
    "    syscall",
    "    ret",
    ".Lclock_getres_end:",
    // In: %rcx = offset in the vvar of the clock's base. Out: %rax = the clock in ns, as
    // Vvar::{realtime,monotonic}_ns computes it. Clobbers %rcx, %rdx, %r8.
    ".Lnow:",
    "    lea (.Lvdso_start - {vvar_distance})(%rip), %r8",
    "    lfence", // no earlier read of the TSC than the program's order says
    "    rdtsc",
    "    shl $32, %rdx",
    "    or %rdx, %rax",
    "    sub {off_tsc_base}(%r8), %rax",
    "    jae 1f",
    "    xor %eax, %eax", // before the calibration point: 0 ticks
    "1:  mulq {off_tsc_mult}(%r8)", // rdx:rax = ticks * mult (32.32 fixed point)
    "    shrd $32, %rdx, %rax",
    "    shr $32, %rdx",
    "    jnz 2f", // the ns do not fit 64 bits: saturate
    "    add (%r8,%rcx), %rax",
    "    ret",
    "2:  mov $-1, %rax",
    "    add (%r8,%rcx), %rax",
    "    ret",
    // In: %rax = ns. Out: %rax = ns / 10^9, %rdx = ns % 10^9, without `div` (~30 cycles):
    // a multiplication by the reciprocal, exact for every 64-bit value (rustc's sequence).
    // Clobbers %r9.
    ".Lsplit:",
    "    mov %rax, %r9",
    "    shr $9, %rax",
    "    movabs ${recip_1e9}, %rdx",
    "    mul %rdx",
    "    mov %rdx, %rax",
    "    shr $11, %rax",
    "    imul $1000000000, %rax, %rdx",
    "    neg %rdx",
    "    add %r9, %rdx",
    "    ret",
    ".Lvdso_end:",
    ".popsection",
    // Where each function is: the code length, then (offset, size) per FUNCTIONS entry.
    ".pushsection .rodata.linuxrun_vdso_table,\"a\",@progbits",
    ".balign 8",
    ".globl linuxrun_vdso_table",
    ".hidden linuxrun_vdso_table",
    "linuxrun_vdso_table:",
    "    .quad .Lvdso_end - .Lvdso_start",
    "    .quad .Lclock_gettime - .Lvdso_start, .Lclock_gettime_end - .Lclock_gettime",
    "    .quad .Lgettimeofday - .Lvdso_start, .Lgettimeofday_end - .Lgettimeofday",
    "    .quad .Ltime - .Lvdso_start, .Ltime_end - .Ltime",
    "    .quad .Lgetcpu - .Lvdso_start, .Lgetcpu_end - .Lgetcpu",
    "    .quad .Lclock_getres - .Lvdso_start, .Lclock_getres_end - .Lclock_getres",
    ".popsection",
    max_clock = const MAX_VDSO_CLOCK,
    realtime_clocks = const REALTIME_CLOCKS,
    monotonic_clocks = const MONOTONIC_CLOCKS,
    vdso_clocks = const REALTIME_CLOCKS | MONOTONIC_CLOCKS,
    coarse_clocks = const COARSE_CLOCKS,
    hres_ns = const HRES_NS,
    coarse_res_ns = const COARSE_RES_NS,
    off_realtime = const OFF_REALTIME_BASE,
    off_monotonic = const OFF_MONOTONIC_BASE,
    off_tsc_base = const OFF_TSC_BASE,
    off_tsc_mult = const OFF_TSC_MULT,
    recip_1e9 = const RECIP_1E9,
    recip_1e3 = const RECIP_1E3,
    vvar_distance = const VVAR_SIZE + CODE_OFFSET,
    sys_clock_gettime = const SYS_CLOCK_GETTIME,
    sys_clock_getres = const SYS_CLOCK_GETRES,
    sys_getcpu = const SYS_GETCPU,
    options(att_syntax),
);

extern "C" {
    static linuxrun_vdso_code: u8;
    static linuxrun_vdso_table: [u64; 1 + 2 * FUNCTIONS.len()];
}

/// The code bytes (to copy to `CODE_OFFSET` in the image).
pub fn bytes() -> &'static [u8] {
    // SAFETY: the table and the code are immutable data that global_asm! above emits; the
    // table's first word is the code's length, so the slice covers exactly the code.
    unsafe {
        let len = linuxrun_vdso_table[0] as usize;
        core::slice::from_raw_parts(core::ptr::addr_of!(linuxrun_vdso_code), len)
    }
}

pub fn functions() -> [Function; FUNCTIONS.len()] {
    // SAFETY: immutable data emitted by global_asm! above.
    let table = unsafe { &*core::ptr::addr_of!(linuxrun_vdso_table) };
    core::array::from_fn(|i| Function { name: FUNCTIONS[i], offset: table[1 + 2 * i], size: table[2 + 2 * i] })
}
