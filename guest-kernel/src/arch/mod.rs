//! x86_64-specific code: entry paths, the IDT, and the flavour-specific primitives.
//! (An aarch64 port would add a sibling with the same surface.)

pub mod entry;
pub mod platform;
pub mod trap;

use abi_shared::layout::selectors;

const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_FMASK: u32 = 0xc000_0084;

use abi_shared::bootinfo::SYSCALL_FMASK;

/// The monitor sets the syscall MSRs with every vCPU's boot state (boot flag
/// `SYSCALL_MSRS_SET`, read at boot).
static MONITOR_SETS_MSRS: core::sync::atomic::AtomicBool = core::sync::atomic::AtomicBool::new(false);

/// From the boot flags: whether the monitor sets the syscall MSRs itself.
pub fn note_boot_flags(flags: u64) {
    MONITOR_SETS_MSRS
        .store(flags & abi_shared::bootinfo::flags::SYSCALL_MSRS_SET != 0, core::sync::atomic::Ordering::Relaxed);
}

/// Program the syscall MSRs, unless the monitor did. Under pvm each `wrmsr` traps (an
/// emulated instruction, ~35-57 µs on our hosts): once at boot and once per thread start.
pub fn init_syscall_msrs() {
    if MONITOR_SETS_MSRS.load(core::sync::atomic::Ordering::Relaxed) {
        return;
    }
    // sysretq loads CS = STAR[63:48] + 16 and SS = STAR[63:48] + 8: 0x23 gives 0x33/0x2b.
    let star = ((selectors::USER32_CS as u64) << 48) | ((selectors::KERNEL_CS as u64) << 32);
    platform::wrmsr(MSR_STAR, star);
    platform::wrmsr(MSR_LSTAR, entry::syscall_entry as *const () as u64);
    platform::wrmsr(MSR_FMASK, SYSCALL_FMASK);
}
