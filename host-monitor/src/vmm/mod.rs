//! The hypervisor behind a small interface: a VM with guest RAM and vCPUs that run until
//! the guest needs the monitor. KVM implements it on Linux (`kvm.rs`, `kvm_arm64.rs`),
//! Hypervisor.framework on macOS (`hvf.rs` on Intel Macs, `hvf_arm64.rs` on Apple Silicon,
//! through our own FFI modules `hvf_sys.rs` and `hvf_arm64_sys.rs`). Nothing outside
//! `vmm/` knows which one runs.
//!
//! # Threads
//!
//! **Every call on a vCPU is made from the thread that created it** (`Vm::create_vcpu`),
//! and that thread is the one that runs it. Hypervisor.framework requires this (a vCPU
//! belongs to its creating thread; calls from another thread fail), and KVM is fastest
//! that way, so the abstraction imposes it on both: one Linux thread = one host thread =
//! one vCPU, created and run by that thread. Another thread stops a running vCPU by
//! setting the flag `Vcpu::kick_flag` gives (KVM's immediate_exit; the Hypervisor.framework
//! backends keep their own and look at it before each run), so that a run about to start
//! returns at once, then calling `Vcpu::force_exit`'s function where the backend has one
//! (Hypervisor.framework's `hv_vcpu_interrupt`/`hv_vcpus_exit`, which work from any
//! thread), and sending its thread the host kick signal (`threads.rs`, `signals.rs`), which
//! ends KVM_RUN or a host call the thread is blocked in.
//!
//! # Fork
//!
//! Neither hypervisor lets a forked child use its parent's VM, and Hypervisor.framework
//! allows one VM per process, so a Linux `fork` runs this sequence (Noah's approach):
//!
//! 1. each vCPU's own thread calls `Vcpu::suspend_for_fork` (its state is saved in the
//!    `Vcpu` object and the hypervisor's vCPU is released): the forking thread's, and,
//!    where the hypervisor needs it (`Vm::fork_suspends_all_vcpus`), every other thread's,
//!    which `fork_suspend::suspend_others_for_fork` asks for and waits for;
//! 2. the forking thread calls `Vm::prepare_fork` (Hypervisor.framework: unmap guest RAM,
//!    destroy the VM);
//! 3. the monitor forks (guest RAM is a private mapping: the child gets a copy-on-write
//!    copy at the same host address);
//! 4. the parent calls `Vm::after_fork_parent`, the child `Vm::after_fork_child`, each with
//!    its guest memory (a new VM over the same host region);
//! 5. each surviving vCPU's thread calls `Vcpu::resume_after_fork` (a new hypervisor vCPU
//!    with the saved state). In the child only the forking thread survives.
//!
//! `machine.rs` runs this sequence for the guest's fork, vfork and fork-like clone; these
//! methods are its hypervisor half.

/// The Hypervisor.framework backend, on Intel macOS only.
#[cfg(all(target_os = "macos", target_arch = "x86_64"))]
pub mod hvf;
/// The Hypervisor.framework backend on Apple Silicon (docs/arm64.md): the aarch64 guest.
#[cfg(all(target_os = "macos", target_arch = "aarch64"))]
pub mod hvf_arm64;
#[cfg(all(target_os = "linux", target_arch = "x86_64"))]
pub mod kvm;
/// KVM on arm64 Linux hosts (docs/arm64.md): the aarch64 guest kernel.
#[cfg(all(target_os = "linux", target_arch = "aarch64"))]
pub mod kvm_arm64;
#[cfg(target_os = "linux")]
mod kvm_stats;
// Compiled on every host: the framework's declarations and the backend's pure VMX parts,
// unit-tested on Linux; the arm64 backends' register ids and doorbells, likewise.
pub mod arm64_exits;
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
pub mod arm64_regs;
pub mod hvf_arm64_sys;
pub mod hvf_common;
pub mod hvf_sys;
pub mod hvf_vmx;

use std::fmt;
use std::sync::Arc;

use abi_shared::bootinfo::Flavour;
use abi_shared::layout::HUGE_PAGE_SIZE;

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

/// The aarch64 guest's first state (docs/arm64.md): EL1h with the MMU already on over
/// the monitor's boot tables, so that the kernel starts at its linked address.
// Built by machine_arm64.rs, in aarch64 builds only.
#[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
#[derive(Clone, Debug, Default)]
pub struct Arm64BootState {
    pub pc: u64,
    /// SP_EL1: the top of the vCPU block's kernel stack.
    pub sp_el1: u64,
    /// x0: the kernel's argument (the BootInfo's address).
    pub x0: u64,
    pub pstate: u64,
    pub sctlr_el1: u64,
    pub tcr_el1: u64,
    pub mair_el1: u64,
    pub ttbr0_el1: u64,
    pub ttbr1_el1: u64,
    pub cpacr_el1: u64,
}

/// Why a vCPU stopped running guest code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// The guest rang the hypercall doorbell.
    Hypercall,
    /// The guest waits for the hypercall worker's answer (shared-memory transport).
    HypercallWait,
    /// A request to serve on the vCPU thread, after which the sleeping hypercall worker is
    /// to be woken (`ports::HYPERCALL_WORKER_ASLEEP`).
    HypercallWorkerAsleep,
    /// The guest rang the worker's wake port before it was an ioeventfd (the first time).
    WakePort,
    /// The guest asks, by exit, for its sleeping worker to be woken
    /// (`ports::WORKER_WAKE_BY_EXIT`).
    WakeWorker,
    /// The guest needs more of its RAM registered (`ports::GROW_RAM`).
    GrowRam,
    /// Port I/O the monitor does not serve.
    UnknownPort(u16),
    /// Triple fault or similar: the guest is gone.
    Shutdown,
    Halt,
    /// A signal interrupted KVM_RUN, or another thread kicked the vCPU (the caller decides
    /// what to do).
    Interrupted,
    /// KVM_RUN failed with EFAULT: the guest touched guest-physical memory whose host page
    /// cannot be had (a page of a shared file mapping past its file's end).
    BadAddress,
    /// Anything else, described.
    Other(String),
}

impl Exit {
    /// Name used in `--stats` ("vm_exits").
    pub fn stat_name(&self) -> &'static str {
        match self {
            Exit::Hypercall => "hypercall_doorbell",
            Exit::HypercallWait => "hypercall_wait",
            Exit::HypercallWorkerAsleep => "hypercall_worker_asleep",
            Exit::WakePort => "wake_port",
            Exit::WakeWorker => "worker_wake",
            Exit::GrowRam => "ram_grow",
            Exit::UnknownPort(_) => "io_unknown",
            Exit::Shutdown => "shutdown",
            Exit::Halt => "hlt",
            Exit::Interrupted => "interrupted",
            Exit::BadAddress => "bad_address",
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
        write!(
            f,
            "rip={:#x} rsp={:#x} rax={:#x} cs={:#x} cr2={:#x} cr3={:#x}",
            self.rip, self.rsp, self.rax, self.cs, self.cr2, self.cr3
        )
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

/// How any thread forces a vCPU out of `run`: a hypervisor call made with the vCPU's id
/// (Hypervisor.framework's `hv_vcpu_interrupt`, `hv_vcpus_exit`). Copied into the registry
/// of running vCPUs (`threads.rs`) and the signal handler's (`signals.rs`); valid while the
/// vCPU is registered there (a call for a vCPU that has just gone fails harmlessly).
#[derive(Clone, Copy, Debug)]
pub struct ForceExit {
    call: fn(u64),
    vcpu: u64,
}

impl ForceExit {
    // Only the Hypervisor.framework backends make one.
    #[cfg_attr(target_os = "linux", allow(dead_code))]
    pub fn new(call: fn(u64), vcpu: u64) -> ForceExit {
        ForceExit { call, vcpu }
    }

    /// Make the call. The framework's calls are thin traps, made from signal handlers too.
    pub fn force(&self) {
        (self.call)(self.vcpu)
    }

    /// As two words, for a signal handler's atomics (`signals.rs`); the call is never 0.
    pub fn to_raw(self) -> (usize, u64) {
        (self.call as usize, self.vcpu)
    }

    /// Back from `to_raw`'s words; `None` for a call word of 0.
    pub fn from_raw(call: usize, vcpu: u64) -> Option<ForceExit> {
        if call == 0 {
            return None;
        }
        // SAFETY: a non-zero `call` word comes only from `to_raw` of a `fn(u64)` of this
        // program (function pointers and usize have the same size), which stays valid.
        let call = unsafe { std::mem::transmute::<usize, fn(u64)>(call) };
        Some(ForceExit { call, vcpu })
    }
}

/// One virtual CPU. Every method is called from the thread that created it (see the
/// module documentation); implementations may refuse calls from any other thread.
pub trait Vcpu {
    fn set_boot_state(&mut self, state: &BootState) -> Result<(), VmmError>;
    /// The aarch64 guest's first state; only arm64 backends take it.
    #[cfg_attr(not(target_arch = "aarch64"), allow(dead_code))]
    fn set_arm64_boot_state(&mut self, state: &Arm64BootState) -> Result<(), VmmError> {
        let _ = state;
        Err(VmmError::Failed("this hypervisor backend runs x86_64 guests only".into()))
    }
    fn run(&mut self) -> Result<Exit, VmmError>;
    fn snapshot(&self) -> RegSnapshot;
    /// Hypervisor counters worth reporting in `--stats` (name, value).
    fn counters(&self) -> Vec<(String, u64)>;
    /// A flag in memory shared with the hypervisor that a signal handler on any thread may
    /// set to make the next (or current) `run` return `Exit::Interrupted` promptly; valid
    /// until `suspend_for_fork`. `None`: the backend has no such flag.
    fn kick_flag(&mut self) -> Option<*const std::sync::atomic::AtomicU8>;
    /// The call that stops this vCPU while it runs guest code, from any thread (after its
    /// kick flag is set). `None`: the host kick signal to its thread does it (KVM).
    fn force_exit(&self) -> Option<ForceExit> {
        None
    }
    /// Raise external interrupt `vector` in the guest, now or as soon as it enables
    /// interrupts (the guest kernel takes caught host signals in its handler).
    fn inject_interrupt(&mut self, vector: u8) -> Result<(), VmmError>;
    /// The thread this vCPU ran has ended at an exit: complete that exit now (KVM would
    /// otherwise complete the stopped instruction at the next thread's first one), so
    /// that the vCPU can start another thread from `set_boot_state`.
    fn finish_pending_exit(&mut self) -> Result<(), VmmError>;
    /// Fork step 1 (module documentation): save the complete vCPU state here and release
    /// the hypervisor's vCPU. Only `resume_after_fork` may follow.
    fn suspend_for_fork(&mut self) -> Result<(), VmmError>;
    /// Fork step 5: a new hypervisor vCPU on the rebuilt VM, with the saved state.
    fn resume_after_fork(&mut self) -> Result<(), VmmError>;
}

/// Shared by the threads that run the VM's vCPUs (each creates its own: `create_vcpu`).
pub trait Vm: Send + Sync {
    /// Which privilege flavour this hypervisor runs the guest kernel in.
    fn flavour(&self) -> Flavour;
    /// TSC frequency in kHz as the guest will see it.
    fn tsc_khz(&self) -> u64;
    fn create_vcpu(&self, id: u64, mem: &GuestMemory) -> Result<Box<dyn Vcpu>, VmmError>;
    /// Host fds the monitor owns (so the guest cannot touch them).
    fn owned_fds(&self) -> Vec<i32>;
    /// An eventfd that the hypervisor signals, without an exit, when the guest writes to
    /// I/O `port` (KVM's ioeventfd). `None` where the hypervisor cannot do that: the guest
    /// then uses the exit doorbell for every request.
    fn wake_eventfd(&self, port: u16) -> Option<std::fs::File>;
    /// Make `port` an ioeventfd now that the guest has rung it (after `wake_eventfd`). If
    /// it already is one, nothing changes; if the hypervisor refuses, its rings keep exiting.
    fn arm_wake_port(&self, port: u16);
    /// Whether a thread's vCPU outlives its thread, kept by its host thread for the next
    /// thread with its index (KVM, which cannot destroy a vCPU). `false`: it is destroyed
    /// with the thread (Hypervisor.framework, whose fork needs every vCPU gone).
    fn keeps_idle_vcpus(&self) -> bool {
        true
    }
    /// Whether every other vCPU must be suspended, each by its own thread, before a fork
    /// (Hypervisor.framework, whose VM can be destroyed only once every vCPU is: see
    /// `fork_suspend::suspend_others_for_fork`). KVM forks with the other vCPUs as they are.
    fn fork_suspends_all_vcpus(&self) -> bool {
        false
    }
    /// Whether the forking thread's vCPU may go on with the fork now: with
    /// `fork_suspends_all_vcpus`, once it is the only vCPU left.
    fn fork_possible(&self) -> bool {
        true
    }
    /// How much of guest RAM, from GPA 0, the hypervisor knows now.
    fn ram_registered(&self) -> u64;
    /// Register guest RAM up to at least `wanted` (capped at its size), ahead of need;
    /// returns the registered end, unchanged when the hypervisor refused.
    fn grow_ram(&self, mem: &GuestMemory, wanted: u64) -> u64;
    /// Fork step 2 (module documentation), after every vCPU was suspended: release what a
    /// forked process cannot share (Hypervisor.framework: the process's one VM).
    fn prepare_fork(&self) -> Result<(), VmmError>;
    /// Fork step 4 in the parent: rebuild the VM over `mem`.
    fn after_fork_parent(&self, mem: &GuestMemory) -> Result<(), VmmError>;
    /// Fork step 4 in the child: build this process's own VM over its copy of `mem`.
    fn after_fork_child(&self, mem: &GuestMemory) -> Result<(), VmmError>;
}

/// How much guest RAM a new VM registers at first: enough for the guest kernel, its heap
/// and a small program. Registering a KVM memory slot costs time in proportion to its
/// size on kvm_pvm (its shadow-paging reverse maps: ~1 ms per GiB), paid again by every
/// forked child, so the rest comes in doubling pieces when the guest asks.
pub const RAM_FIRST_PIECE: u64 = 128 << 20;

/// Where the registered RAM should end after a request for `wanted`: at least double what
/// is registered (so a growing program asks a handful of times), 2 MiB aligned, at most the
/// whole of guest RAM.
pub fn next_ram_end(registered: u64, wanted: u64, size: u64) -> u64 {
    let doubled = registered.saturating_mul(2);
    let aligned = wanted.saturating_add(HUGE_PAGE_SIZE - 1) & !(HUGE_PAGE_SIZE - 1);
    doubled.max(aligned).min(size).max(registered)
}

/// Create the VM for this host with `mem` as guest RAM.
pub fn create_vm(mem: &GuestMemory, force: Option<Flavour>, fd_floor: i32) -> Result<Arc<dyn Vm>, VmmError> {
    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    {
        kvm::KvmVm::create(mem, force, fd_floor).map(|vm| Arc::new(vm) as Arc<dyn Vm>)
    }
    #[cfg(all(target_os = "linux", target_arch = "aarch64"))]
    {
        let _ = force; // one flavour on arm64: real EL1
        kvm_arm64::KvmArm64Vm::create(mem, fd_floor).map(|vm| Arc::new(vm) as Arc<dyn Vm>)
    }
    #[cfg(all(target_os = "macos", target_arch = "aarch64"))]
    {
        let _ = (force, fd_floor); // one flavour on arm64; Hypervisor.framework uses no fds
        hvf_arm64::HvfArm64Vm::create(mem).map(|vm| Arc::new(vm) as Arc<dyn Vm>)
    }
    #[cfg(all(target_os = "macos", target_arch = "x86_64"))]
    {
        let _ = fd_floor; // Hypervisor.framework uses no file descriptors.
        hvf::HvfVm::create(mem, force).map(|vm| Arc::new(vm) as Arc<dyn Vm>)
    }
    #[cfg(not(any(
        all(target_os = "linux", any(target_arch = "x86_64", target_arch = "aarch64")),
        all(target_os = "macos", any(target_arch = "x86_64", target_arch = "aarch64"))
    )))]
    {
        let _ = (mem, force, fd_floor);
        Err(VmmError::Unavailable(
            "linuxrun has no hypervisor backend for this host: it runs on Linux with KVM and on Macs".into(),
        ))
    }
}

/// TSC ticks per millisecond, measured against the monotonic clock (for hypervisors that
/// cannot tell the guest's TSC frequency).
#[cfg(target_arch = "x86_64")]
pub fn measure_tsc_khz() -> u64 {
    // SAFETY: rdtsc has no side effects.
    let t0 = unsafe { core::arch::x86_64::_rdtsc() };
    let start = std::time::Instant::now();
    std::thread::sleep(std::time::Duration::from_millis(20));
    // SAFETY: as above.
    let t1 = unsafe { core::arch::x86_64::_rdtsc() };
    let ns = start.elapsed().as_nanos().max(1) as u64;
    t1.wrapping_sub(t0) * 1_000_000 / ns
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_force_exit_survives_its_trip_through_the_signal_handlers_words() {
        use std::sync::atomic::{AtomicU64, Ordering};
        static FORCED: AtomicU64 = AtomicU64::new(0);
        fn record(vcpu: u64) {
            FORCED.store(vcpu, Ordering::SeqCst);
        }
        let (call, vcpu) = ForceExit::new(record, 7).to_raw();
        assert_ne!(call, 0);
        ForceExit::from_raw(call, vcpu).expect("a call").force();
        assert_eq!(FORCED.load(Ordering::SeqCst), 7);
        assert!(ForceExit::from_raw(0, 7).is_none(), "no call published");
    }

    #[test]
    fn registered_ram_at_least_doubles_and_stops_at_the_size() {
        const MIB: u64 = 1 << 20;
        assert_eq!(next_ram_end(128 * MIB, 130 * MIB, 4096 * MIB), 256 * MIB);
        // A request beyond double is met whole, rounded up to 2 MiB.
        assert_eq!(next_ram_end(128 * MIB, 600 * MIB + 1, 4096 * MIB), 602 * MIB);
        assert_eq!(next_ram_end(3072 * MIB, 3074 * MIB, 4096 * MIB), 4096 * MIB);
        // Nothing left to register: the end stays.
        assert_eq!(next_ram_end(4096 * MIB, 5000 * MIB, 4096 * MIB), 4096 * MIB);
        // Guest RAM of an odd size ends where it ends.
        assert_eq!(next_ram_end(128 * MIB, 129 * MIB, 200 * MIB + 4096), 200 * MIB + 4096);
    }
}
