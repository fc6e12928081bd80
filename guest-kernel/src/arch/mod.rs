//! x86_64-specific code: entry paths, the IDT, and the flavour-specific primitives.
//! (An aarch64 port would add a sibling with the same surface.)

pub mod entry;
pub mod platform;
pub mod trap;

use abi_shared::layout::selectors;

const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_FMASK: u32 = 0xc000_0084;

/// RFLAGS bits cleared on `syscall`: TF, IF, DF, IOPL, NT, AC (as Linux does).
const SYSCALL_FMASK: u64 = 0x4_7700;

/// Program the syscall MSRs. Under pvm each `wrmsr` traps (~4 µs); this runs once.
pub fn init_syscall_msrs() {
    // sysretq loads CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8: 0x23 gives 0x33/0x2b.
    let star = ((selectors::USER32_CS as u64) << 48) | ((selectors::KERNEL_CS as u64) << 32);
    platform::wrmsr(MSR_STAR, star);
    platform::wrmsr(MSR_LSTAR, entry::syscall_entry as *const () as u64);
    platform::wrmsr(MSR_FMASK, SYSCALL_FMASK);
}
