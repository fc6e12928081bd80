//! The block the monitor writes at `BOOT_INFO_GPA` before the first instruction runs.

/// "LNXRUNBI"
pub const BOOT_INFO_MAGIC: u64 = 0x4942_4e55_5258_4e4c;
pub const BOOT_INFO_VERSION: u32 = 1;

/// Which privilege primitives the guest kernel must use (see docs/pvm.md).
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    /// kvm_pvm: ring 0 runs deprivileged; `int $0x19`/`int $0x17` return to user.
    Pvm = 0,
    /// Real ring 0 (VMX/SVM KVM, Hypervisor.framework): `sysretq`/`iretq`, `invlpg`.
    Classic = 1,
}

/// How the guest tells the monitor that a hypercall request is ready.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Doorbell {
    /// `out` to `ports::HYPERCALL`: an exit handled on the vCPU thread.
    PortIo = 0,
    /// Requests are published in shared memory and served by a host worker thread without
    /// an exit (see `layout::vcpu_block::HC_CONTROL` and the HYPERCALL_WAKE/WAIT ports).
    SharedMemory = 1,
}

/// `bytemuck::Pod` (no padding: u64, u32, u32, 4 x u64, u32, u32, [u8; 32], u64), so the
/// monitor copies it into guest memory with `bytemuck::bytes_of`.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct BootInfo {
    pub magic: u64,
    pub version: u32,
    pub flavour: u32,
    /// Bytes of guest RAM, starting at GPA 0.
    pub mem_size: u64,
    /// First GPA the guest kernel may allocate (2 MiB aligned, after the kernel image).
    pub free_start: u64,
    /// First unused page in the monitor's page-table area.
    pub boot_pt_next: u64,
    /// TSC ticks per millisecond, as the hypervisor reports them.
    pub tsc_khz: u64,
    pub doorbell: u32,
    pub vcpu_count: u32,
    /// Seed for the guest's random generator (AT_RANDOM, getrandom).
    pub random_seed: [u8; 32],
    /// `flags::*` bits.
    pub flags: u64,
}

/// RFLAGS bits cleared on `syscall`: TF, IF, DF, IOPL, NT, AC (as Linux does).
pub const SYSCALL_FMASK: u64 = 0x4_7700;

pub mod flags {
    /// Report every syscall (`--strace`).
    pub const STRACE: u64 = 1 << 0;
    /// A debugger is attached (`--gdb`): stop before the first instruction, at traps and
    /// at signals, and ask the monitor (abi_shared::debug).
    pub const DEBUGGER: u64 = 1 << 4;
    /// The monitor set every vCPU's syscall MSRs (STAR, LSTAR = the kernel's
    /// `syscall_entry`, FMASK = `SYSCALL_FMASK`) with its boot state: the guest skips its
    /// own `wrmsr`s, each an emulated instruction (~35-57 µs) under pvm.
    pub const SYSCALL_MSRS_SET: u64 = 1 << 5;
    /// Bits 8..11: the most verbose guest log level the monitor shows (0 errors, 1 warnings,
    /// 2 info, 3 debug, 4 trace); the guest does not send what would not be shown, since
    /// each log line is a hypercall.
    pub const LOG_LEVEL_SHIFT: u32 = 8;
    pub const LOG_LEVEL_MASK: u64 = 0x7 << LOG_LEVEL_SHIFT;
}

impl BootInfo {
    pub fn flavour(&self) -> Option<Flavour> {
        match self.flavour {
            0 => Some(Flavour::Pvm),
            1 => Some(Flavour::Classic),
            _ => None,
        }
    }
}
