//! The hypervisor behind a small interface: a VM with guest RAM and vCPUs that run until
//! the guest needs the monitor. KVM implements it on Linux; Hypervisor.framework will on
//! macOS. Nothing outside `vmm/` knows which one runs.

#[cfg(target_os = "linux")]
pub mod kvm;
#[cfg(target_os = "linux")]
mod kvm_stats;

use std::fmt;

use abi_shared::bootinfo::Flavour;

use crate::guest_mem::GuestMemory;

/// Registers and system state a vCPU starts with (64-bit long mode, paging on).
#[derive(Clone, Debug, Default)]
pub struct BootState {
    pub rip: u64,
    pub rsp: u64,
    pub rdi: u64,
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
    pub gdt_base: u64,
    pub gdt_limit: u16,
    pub idt_base: u64,
    pub idt_limit: u16,
    pub tr_base: u64,
    pub tr_limit: u32,
    /// (index, value) pairs written before the first instruction.
    pub msrs: Vec<(u32, u64)>,
}

/// Why a vCPU stopped running guest code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The guest rang the hypercall doorbell.
    Hypercall,
    /// Port I/O the monitor does not serve.
    UnknownPort(u16),
    /// Triple fault or similar: the guest is gone.
    Shutdown,
    Halt,
    /// A signal interrupted KVM_RUN (the caller decides what to do).
    Interrupted,
    /// Anything else, described.
    Other(String),
}

impl Exit {
    /// Name used in `--stats` ("vm_exits").
    pub fn stat_name(&self) -> &'static str {
        match self {
            Exit::Hypercall => "hypercall_doorbell",
            Exit::UnknownPort(_) => "io_unknown",
            Exit::Shutdown => "shutdown",
            Exit::Halt => "hlt",
            Exit::Interrupted => "interrupted",
            Exit::Other(_) => "other",
        }
    }
}

/// Register snapshot for diagnostics.
#[derive(Clone, Debug, Default)]
pub struct RegSnapshot {
    pub rip: u64,
    pub rsp: u64,
    pub rax: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cs: u16,
}

impl fmt::Display for RegSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "rip={:#x} rsp={:#x} rax={:#x} cs={:#x} cr2={:#x} cr3={:#x}", self.rip, self.rsp, self.rax, self.cs, self.cr2, self.cr3)
    }
}

#[derive(Debug)]
pub enum VmmError {
    /// The hypervisor device is missing or not accessible (with a user-facing hint).
    Unavailable(String),
    Failed(String),
}

impl fmt::Display for VmmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VmmError::Unavailable(s) | VmmError::Failed(s) => f.write_str(s),
        }
    }
}

pub trait Vcpu {
    fn set_boot_state(&mut self, state: &BootState) -> Result<(), VmmError>;
    fn run(&mut self) -> Result<Exit, VmmError>;
    fn snapshot(&self) -> RegSnapshot;
    /// Hypervisor counters worth reporting in `--stats` (name, value).
    fn counters(&self) -> Vec<(String, u64)>;
}

pub trait Vm {
    /// Which privilege flavour this hypervisor runs the guest kernel in.
    fn flavour(&self) -> Flavour;
    /// TSC frequency in kHz as the guest will see it.
    fn tsc_khz(&self) -> u64;
    fn create_vcpu(&self, id: u64, mem: &GuestMemory) -> Result<Box<dyn Vcpu>, VmmError>;
    /// Host fds the monitor owns (so the guest cannot touch them).
    fn owned_fds(&self) -> Vec<i32>;
}

/// Create the VM for this host with `mem` as guest RAM.
pub fn create_vm(mem: &GuestMemory, force: Option<Flavour>, fd_floor: i32) -> Result<Box<dyn Vm>, VmmError> {
    #[cfg(target_os = "linux")]
    {
        kvm::KvmVm::create(mem, force, fd_floor).map(|vm| Box::new(vm) as Box<dyn Vm>)
    }
    #[cfg(all(not(target_os = "linux"), target_arch = "aarch64"))]
    {
        let _ = (mem, force, fd_floor);
        Err(VmmError::Unavailable(
            "Apple Silicon's Hypervisor.framework runs only arm64 guests, and linuxrun's arm64 guest kernel \
             does not exist yet: linuxrun needs an Intel Mac (or Linux with KVM) for now"
                .into(),
        ))
    }
    #[cfg(all(not(target_os = "linux"), not(target_arch = "aarch64")))]
    {
        let _ = (mem, force, fd_floor);
        Err(VmmError::Unavailable("the Hypervisor.framework backend is not written yet: linuxrun runs on Linux with KVM for now".into()))
    }
}
