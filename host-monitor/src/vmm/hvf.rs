//! The Hypervisor.framework backend (Intel Macs: VT-x, x86_64 guests, classic flavour).
//!
//! **Nothing in this file has ever run on a real Mac.** It is written from Apple's headers
//! and the Intel SDM, type-checked by `cargo clippy --target x86_64-apple-darwin` on Linux;
//! its pure VMX parts (control words, exit classification and qualification decoding, the
//! checks of emulated writes, segment access rights, event injection words, CPUID
//! filtering) live in `hvf_vmx.rs`, which builds and is unit-tested everywhere; what the
//! two Hypervisor.framework backends share is in `hvf_common.rs`. This file keeps the VM
//! and the vCPU's life (creation, first state, run, fork); `hvf_exits.rs` serves the exits.
//! docs/macos.md lists what remains unproven.
//!
//! How the guest is run:
//! - One VM per process (`hv_vm_create`), guest RAM mapped once over `GuestMemory`'s host
//!   region with `hv_vm_map` (GPA 0 = the region's start, read/write/execute).
//! - A vCPU is created by, and only ever used from, its own thread (the framework binds a
//!   vCPU to its creating thread); `HvfVcpu` is therefore `!Send` and checks the thread.
//!   Several vCPUs run at once, one per Linux thread (threads.rs), as under KVM; a thread's
//!   vCPU is destroyed with its thread (`Vm::keeps_idle_vcpus`). A fork must destroy every
//!   vCPU, each on its own thread, before the VM: the forking thread has the others
//!   suspend theirs first (`Vm::fork_suspends_all_vcpus`, `fork_suspend::suspend_others_for_fork`)
//!   and they resume them on the rebuilt VM; if they do not all stop within 2 s, the
//!   guest's fork fails with EAGAIN.
//! - Kicks: another thread sets the vCPU's kick flag, which `run` looks at before every
//!   entry, then calls `hv_vcpu_interrupt` for it (`Vcpu::force_exit`): the vCPU exits,
//!   the flag makes `run` return `Exit::Interrupted`. The kick interrupt goes in through
//!   VM-entry event injection when the guest has interrupts enabled, otherwise through an
//!   interrupt-window exit as soon as it enables them. An event whose delivery an exit
//!   interrupted (IDT-vectoring information) is delivered again on the next entry.
//! - The guest starts in 64-bit long mode with the state of `BootState`, written into the
//!   VMCS: CR0/CR3/CR4 (CR4.VMXE forced on, as VMX requires, and hidden from the guest by the
//!   CR4 guest/host mask and read shadow), EFER through the VM-entry "load IA32_EFER"
//!   control, IA-32e mode guest entry control, CS/SS/TR/LDTR access rights, GDTR/IDTR.
//! - SYSCALL MSRs and the FS/GS/KERNEL_GS bases are native (`hv_vcpu_enable_native_msr`):
//!   the guest reads and writes them without exits.
//! - Doorbells: `out` to `ports::HYPERCALL` exits with reason 30 (I/O instruction); VMCALL
//!   exits with reason 18 at any privilege level, so it is honoured only from ring 0 and
//!   answered with #UD otherwise. Both advance RIP by the exit's instruction length.
//! - Exits the hypervisor leaves to us that a guest kernel takes for granted are served
//!   (`hvf_exits.rs`) without returning to the caller: CPUID (always exits under VMX), XSETBV, RDMSR/
//!   WRMSR of non-native MSRs, MOV to CR0/CR4 of masked bits, CR8 accesses, host interrupts, and EPT
//!   violations inside guest RAM (the framework populates its nested page tables lazily).

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread::ThreadId;

use abi_shared::bootinfo::Flavour;
use abi_shared::layout::selectors;

use super::hvf_common::{check_hv_support, hv, sysctl_u64, vm_create_error, Machine};
use super::hvf_sys::{self as sys, msr, vmcs, HvVcpuId, HvX86Reg};
use super::hvf_vmx::{
    ar, can_take_interrupt, controls, external_interrupt_info, real_cr0, real_cr4, unavailable_ctrl, EptRetry, VmxCaps,
    CPU_BASED_IRQ_WND, PROC2_RDTSCP,
};
use super::{BootState, Exit, ForceExit, RegSnapshot, Vcpu, Vm, VmmError};
use crate::guest_mem::GuestMemory;

/// Serving exits: the instruction emulation and event injection (`HvfVcpu::handle_exit`).
#[path = "hvf_exits.rs"]
mod exits;

/// Hypervisor.framework allows one VM per process.
static VM_EXISTS: AtomicBool = AtomicBool::new(false);
/// Live hypervisor vCPUs (the VM cannot be destroyed for a fork while any exists).
static LIVE_VCPUS: AtomicUsize = AtomicUsize::new(0);

fn map_all(mem: &GuestMemory) -> Result<(), VmmError> {
    let size = usize::try_from(mem.size()).map_err(|_| VmmError::Failed("guest RAM too large".into()))?;
    // SAFETY: the region is GuestMemory's mapping, page-aligned and `size` bytes long;
    // it outlives the VM (both live for the whole run) and is unmapped before the VM is
    // destroyed for a fork.
    let r = unsafe {
        sys::hv_vm_map(
            mem.host_base().cast_const().cast(),
            0,
            size,
            sys::HV_MEMORY_READ | sys::HV_MEMORY_WRITE | sys::HV_MEMORY_EXEC,
        )
    };
    hv("hv_vm_map (guest RAM)", r)
}

/// The file window changed on the host (GuestMemory::map_window/unmap_window): unlike
/// KVM, Hypervisor.framework does not follow host remappings, so the range is unmapped
/// and, when it now holds a file, mapped again over the new host memory.
fn remap_window(gpa: u64, len: u64, host: Option<*mut u8>) {
    let Ok(size) = usize::try_from(len) else { return };
    // SAFETY: the range lies in the file window (checked by GuestMemory); unmapping a
    // range that is not mapped fails harmlessly.
    unsafe { sys::hv_vm_unmap(gpa, size) };
    if let Some(host) = host {
        // SAFETY: host..host+len is the file mapping just made in the window
        // reservation, which outlives the VM.
        let r =
            unsafe { sys::hv_vm_map(host.cast_const().cast(), gpa, size, sys::HV_MEMORY_READ | sys::HV_MEMORY_WRITE) };
        if r != sys::HV_SUCCESS {
            log::warn!("hv_vm_map of the file window at {gpa:#x} failed: {r:#x}");
        }
    }
}

fn create_vm_checked() -> Result<(), VmmError> {
    // SAFETY: hv_vm_create takes no pointers.
    match unsafe { sys::hv_vm_create(sys::HV_VM_DEFAULT) } {
        sys::HV_SUCCESS => Ok(()),
        r => Err(vm_create_error(r, Machine::Intel)),
    }
}

/// The process's one Hypervisor.framework VM.
pub struct HvfVm {
    mem_size: u64,
    tsc_khz: u64,
    /// False between `prepare_fork` and `after_fork_*`.
    alive: Mutex<bool>,
}

impl HvfVm {
    pub fn create(mem: &GuestMemory, force: Option<Flavour>) -> Result<HvfVm, VmmError> {
        if force == Some(Flavour::Pvm) {
            return Err(VmmError::Unavailable(
                "--platform pvm: the pvm flavour exists only under Linux's kvm_pvm; Hypervisor.framework runs \
                 the classic flavour"
                    .into(),
            ));
        }
        check_hv_support(Machine::Intel)?;
        if VM_EXISTS.swap(true, Ordering::SeqCst) {
            return Err(VmmError::Failed("a Hypervisor.framework VM already exists in this process".into()));
        }
        let built = create_vm_checked().and_then(|()| {
            map_all(mem).inspect_err(|_| {
                // SAFETY: the VM was just created and has no vCPUs.
                unsafe { sys::hv_vm_destroy() };
            })
        });
        if let Err(e) = built {
            VM_EXISTS.store(false, Ordering::SeqCst);
            return Err(e);
        }
        mem.set_window_hook(Box::new(remap_window));
        let tsc_khz = sysctl_u64(c"machdep.tsc.frequency").map(|hz| hz / 1000).filter(|&k| k > 0);
        Ok(HvfVm {
            mem_size: mem.size(),
            tsc_khz: tsc_khz.unwrap_or_else(crate::vmm::measure_tsc_khz),
            alive: Mutex::new(true),
        })
    }

    fn rebuild(&self, mem: &GuestMemory) -> Result<(), VmmError> {
        let mut alive = self.alive.lock().map_err(|_| VmmError::Failed("VM state lock poisoned".into()))?;
        if *alive {
            return Err(VmmError::Failed("after_fork without prepare_fork".into()));
        }
        create_vm_checked()?;
        map_all(mem)?;
        *alive = true;
        Ok(())
    }
}

impl Drop for HvfVm {
    fn drop(&mut self) {
        if let Ok(alive) = self.alive.lock() {
            if *alive {
                // SAFETY: unmapping the range we mapped; destroy fails harmlessly (HV_BUSY)
                // if a vCPU still exists. Neither takes pointers.
                unsafe {
                    sys::hv_vm_unmap(0, self.mem_size as usize);
                    sys::hv_vm_destroy();
                }
            }
        }
        VM_EXISTS.store(false, Ordering::SeqCst);
    }
}

impl Vm for HvfVm {
    fn flavour(&self) -> Flavour {
        Flavour::Classic
    }

    fn tsc_khz(&self) -> u64 {
        self.tsc_khz
    }

    /// Creates the vCPU on the calling thread, which must be the one that runs it.
    fn create_vcpu(&self, _id: u64, mem: &GuestMemory) -> Result<Box<dyn Vcpu>, VmmError> {
        let mut vcpu = HvfVcpu {
            id: None,
            thread: std::thread::current().id(),
            mem_size: mem.size(),
            rdtscp: false,
            exits: BTreeMap::new(),
            ept: EptRetry::default(),
            saved: None,
            kick: Box::new(AtomicU8::new(0)),
            deferred_interrupt: None,
            irq_window: false,
            _not_send: PhantomData,
        };
        vcpu.create_hv_vcpu()?;
        Ok(Box::new(vcpu))
    }

    fn owned_fds(&self) -> Vec<i32> {
        Vec::new()
    }

    /// Hypervisor.framework has no ioeventfd: the guest uses the exit doorbell.
    fn wake_eventfd(&self, _port: u16) -> Option<std::fs::File> {
        None
    }

    fn arm_wake_port(&self, _port: u16) {}

    /// `hv_vm_map` maps all of guest RAM at once (Hypervisor.framework's set-up does
    /// not grow with the size the way KVM's memory slots do).
    fn ram_registered(&self) -> u64 {
        self.mem_size
    }

    fn grow_ram(&self, _mem: &GuestMemory, _wanted: u64) -> u64 {
        self.mem_size
    }

    /// A vCPU can be destroyed here, and a fork needs every one gone.
    fn keeps_idle_vcpus(&self) -> bool {
        false
    }

    /// The VM is destroyed for a fork, which it refuses while a vCPU exists, and a vCPU
    /// can be destroyed only by its own thread.
    fn fork_suspends_all_vcpus(&self) -> bool {
        true
    }

    /// Every vCPU but the forking thread's has been suspended.
    fn fork_possible(&self) -> bool {
        LIVE_VCPUS.load(Ordering::SeqCst) <= 1
    }

    fn prepare_fork(&self) -> Result<(), VmmError> {
        let mut alive = self.alive.lock().map_err(|_| VmmError::Failed("VM state lock poisoned".into()))?;
        if LIVE_VCPUS.load(Ordering::SeqCst) != 0 {
            return Err(VmmError::Failed("prepare_fork: every vCPU must be suspended first".into()));
        }
        // SAFETY: no vCPU exists; unmapping our range and destroying our VM take no pointers.
        hv("hv_vm_unmap", unsafe { sys::hv_vm_unmap(0, self.mem_size as usize) })?;
        // SAFETY: as above.
        hv("hv_vm_destroy", unsafe { sys::hv_vm_destroy() })?;
        *alive = false;
        Ok(())
    }

    fn after_fork_parent(&self, mem: &GuestMemory) -> Result<(), VmmError> {
        self.rebuild(mem)
    }

    fn after_fork_child(&self, mem: &GuestMemory) -> Result<(), VmmError> {
        self.rebuild(mem)
    }
}

/// Everything a vCPU carries across a fork.
struct SavedState {
    regs: Vec<(HvX86Reg, u64)>,
    vmcs: Vec<(u32, u64)>,
    msrs: Vec<(u32, u64)>,
    fpstate: Box<FpState>,
    /// Guest TSC and host TSC when it was read, to keep the guest's clock running.
    tsc: Option<(u64, u64)>,
}

/// The XSAVE area `hv_vcpu_read_fpstate` fills (4 KiB holds every feature the guest
/// kernel enables; 64-byte aligned as XSAVE wants).
#[repr(C, align(64))]
struct FpState([u8; 4096]);

pub struct HvfVcpu {
    id: Option<HvVcpuId>,
    thread: ThreadId,
    mem_size: u64,
    /// The VM lets the guest execute RDTSCP (CPUID says so only then).
    rdtscp: bool,
    exits: BTreeMap<&'static str, u64>,
    /// The EPT violations seen in a row (`hvf_vmx::EptRetry`).
    ept: EptRetry,
    saved: Option<SavedState>,
    /// Set by a kicker (`kick_flag`): the next entry returns `Exit::Interrupted` instead.
    kick: Box<AtomicU8>,
    /// The kick interrupt, waiting for the guest to enable interrupts.
    deferred_interrupt: Option<u8>,
    /// The processor has interrupt-window exiting (every VT-x processor should).
    irq_window: bool,
    /// A vCPU belongs to its creating thread.
    _not_send: PhantomData<*const ()>,
}

/// `ForceExit`'s call: make vCPU `vcpu` exit now (it may run on another thread).
fn interrupt_vcpu(vcpu: u64) {
    let mut id = vcpu as HvVcpuId;
    // SAFETY: the array is the one id, valid for the call; a vCPU that is gone makes the
    // call fail, harmlessly.
    unsafe { sys::hv_vcpu_interrupt(&mut id, 1) };
}

impl HvfVcpu {
    fn on_own_thread(&self) -> Result<HvVcpuId, VmmError> {
        if std::thread::current().id() != self.thread {
            return Err(VmmError::Failed(
                "a Hypervisor.framework vCPU was used from a thread other than its own".into(),
            ));
        }
        self.id.ok_or_else(|| VmmError::Failed("the vCPU is suspended for a fork".into()))
    }

    fn create_hv_vcpu(&mut self) -> Result<(), VmmError> {
        let mut id: HvVcpuId = 0;
        // SAFETY: id is a valid out-pointer.
        hv("hv_vcpu_create", unsafe { sys::hv_vcpu_create(&mut id, sys::HV_VCPU_DEFAULT) })?;
        LIVE_VCPUS.fetch_add(1, Ordering::SeqCst);
        self.id = Some(id);
        self.setup_controls(id)
    }

    fn destroy_hv_vcpu(&mut self) {
        if let Some(id) = self.id.take() {
            // SAFETY: id is this thread's vCPU and is not used again.
            unsafe { sys::hv_vcpu_destroy(id) };
            LIVE_VCPUS.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// VM-execution, entry and exit controls, masks, and native MSRs.
    fn setup_controls(&mut self, id: HvVcpuId) -> Result<(), VmmError> {
        let cap = |which, name: &str| -> Result<u64, VmmError> {
            let mut v = 0u64;
            // SAFETY: v is a valid out-pointer.
            hv(name, unsafe { sys::hv_vmx_read_capability(which, &mut v) })?;
            Ok(v)
        };
        let caps = VmxCaps {
            pin: cap(sys::HV_VMX_CAP_PINBASED, "reading the pin-based VMX capability")?,
            proc1: cap(sys::HV_VMX_CAP_PROCBASED, "reading the processor-based VMX capability")?,
            proc2: cap(sys::HV_VMX_CAP_PROCBASED2, "reading the secondary VMX capability")?,
            entry: cap(sys::HV_VMX_CAP_ENTRY, "reading the VM-entry capability")?,
            exit: cap(sys::HV_VMX_CAP_EXIT, "reading the VM-exit capability")?,
        };
        let controls = controls(&caps).ok_or_else(|| {
            VmmError::Unavailable(
                "this processor cannot enter a 64-bit guest with its own EFER through Hypervisor.framework".into(),
            )
        })?;
        self.rdtscp = controls.rdtscp;
        self.irq_window = unavailable_ctrl(caps.proc1, CPU_BASED_IRQ_WND) == 0;
        for (field, value) in controls.fields {
            write_vmcs(id, field, value)?;
        }
        for m in msr::NATIVE {
            // SAFETY: takes no pointers.
            hv(&format!("hv_vcpu_enable_native_msr({m:#x})"), unsafe { sys::hv_vcpu_enable_native_msr(id, m, true) })?;
        }
        if self.rdtscp {
            // RDTSCP reads TSC_AUX; if the framework will not pass it through, RDTSCP
            // is switched off again (and CPUID stops announcing it).
            // SAFETY: takes no pointers.
            if unsafe { sys::hv_vcpu_enable_native_msr(id, msr::TSC_AUX, true) } != sys::HV_SUCCESS {
                self.rdtscp = false;
                let proc2 = controls.value(vmcs::CTRL_CPU_BASED2);
                write_vmcs(id, vmcs::CTRL_CPU_BASED2, proc2 & !PROC2_RDTSCP)?;
            }
        }
        Ok(())
    }
}

impl Drop for HvfVcpu {
    fn drop(&mut self) {
        if std::thread::current().id() == self.thread {
            self.destroy_hv_vcpu();
        }
        // On another thread the framework would refuse; the vCPU goes with the process.
    }
}

fn read_vmcs(id: HvVcpuId, field: u32) -> Result<u64, VmmError> {
    let mut v = 0u64;
    // SAFETY: v is a valid out-pointer; id is this thread's vCPU.
    let r = unsafe { sys::hv_vmx_vcpu_read_vmcs(id, field, &mut v) };
    hv(&format!("reading VMCS field {field:#x}"), r).map(|()| v)
}

fn write_vmcs(id: HvVcpuId, field: u32, value: u64) -> Result<(), VmmError> {
    // SAFETY: takes no pointers; id is this thread's vCPU.
    let r = unsafe { sys::hv_vmx_vcpu_write_vmcs(id, field, value) };
    hv(&format!("writing VMCS field {field:#x}"), r)
}

fn read_reg(id: HvVcpuId, reg: HvX86Reg) -> Result<u64, VmmError> {
    let mut v = 0u64;
    // SAFETY: v is a valid out-pointer; id is this thread's vCPU.
    let r = unsafe { sys::hv_vcpu_read_register(id, reg, &mut v) };
    hv(&format!("reading register {reg}"), r).map(|()| v)
}

fn write_reg(id: HvVcpuId, reg: HvX86Reg, value: u64) -> Result<(), VmmError> {
    // SAFETY: takes no pointers; id is this thread's vCPU.
    let r = unsafe { sys::hv_vcpu_write_register(id, reg, value) };
    hv(&format!("writing register {reg}"), r)
}

impl Vcpu for HvfVcpu {
    fn set_boot_state(&mut self, st: &BootState) -> Result<(), VmmError> {
        let id = self.on_own_thread()?;
        let flat = 0xffff_ffffu64;
        let fields = [
            (vmcs::GUEST_CS, u64::from(selectors::KERNEL_CS)),
            (vmcs::GUEST_CS_BASE, 0),
            (vmcs::GUEST_CS_LIMIT, flat),
            (vmcs::GUEST_CS_AR, ar::CODE64_RING0),
            (vmcs::GUEST_SS, u64::from(selectors::KERNEL_DS)),
            (vmcs::GUEST_SS_BASE, 0),
            (vmcs::GUEST_SS_LIMIT, flat),
            (vmcs::GUEST_SS_AR, ar::DATA_RING0),
            (vmcs::GUEST_DS, 0),
            (vmcs::GUEST_DS_BASE, 0),
            (vmcs::GUEST_DS_LIMIT, 0),
            (vmcs::GUEST_DS_AR, ar::UNUSABLE),
            (vmcs::GUEST_ES, 0),
            (vmcs::GUEST_ES_BASE, 0),
            (vmcs::GUEST_ES_LIMIT, 0),
            (vmcs::GUEST_ES_AR, ar::UNUSABLE),
            (vmcs::GUEST_FS, 0),
            (vmcs::GUEST_FS_BASE, 0),
            (vmcs::GUEST_FS_LIMIT, 0),
            (vmcs::GUEST_FS_AR, ar::UNUSABLE),
            (vmcs::GUEST_GS, 0),
            (vmcs::GUEST_GS_BASE, 0),
            (vmcs::GUEST_GS_LIMIT, 0),
            (vmcs::GUEST_GS_AR, ar::UNUSABLE),
            (vmcs::GUEST_LDTR, 0),
            (vmcs::GUEST_LDTR_BASE, 0),
            (vmcs::GUEST_LDTR_LIMIT, 0),
            (vmcs::GUEST_LDTR_AR, ar::UNUSABLE),
            (vmcs::GUEST_TR, u64::from(selectors::TSS)),
            (vmcs::GUEST_TR_BASE, st.tr_base),
            (vmcs::GUEST_TR_LIMIT, u64::from(st.tr_limit)),
            (vmcs::GUEST_TR_AR, ar::TSS64_BUSY),
            (vmcs::GUEST_GDTR_BASE, st.gdt_base),
            (vmcs::GUEST_GDTR_LIMIT, u64::from(st.gdt_limit)),
            (vmcs::GUEST_IDTR_BASE, st.idt_base),
            (vmcs::GUEST_IDTR_LIMIT, u64::from(st.idt_limit)),
            // VMX needs PE, NE and PG in the real CR0 and VMXE in the real CR4; the
            // read shadows show the guest what it asked for.
            (vmcs::GUEST_CR0, real_cr0(st.cr0)),
            (vmcs::CTRL_CR0_SHADOW, st.cr0),
            (vmcs::GUEST_CR3, st.cr3),
            (vmcs::GUEST_CR4, real_cr4(st.cr4)),
            (vmcs::CTRL_CR4_SHADOW, st.cr4),
            (vmcs::GUEST_IA32_EFER, st.efer),
            (vmcs::GUEST_INTERRUPTIBILITY, 0),
            (vmcs::GUEST_ACTIVITY_STATE, 0),
            (vmcs::GUEST_DR7, 0x400),
        ];
        for (field, value) in fields {
            write_vmcs(id, field, value)?;
        }
        // Architectural defaults VM entry checks (no shadow VMCS: link pointer all ones;
        // the power-on PAT). The framework may own these fields; a refusal is harmless.
        for (field, value) in [(vmcs::GUEST_LINK_POINTER, u64::MAX), (vmcs::GUEST_IA32_PAT, 0x0007_0406_0007_0406)] {
            if let Err(e) = write_vmcs(id, field, value) {
                log::debug!("Hypervisor.framework kept its own value: {e}");
            }
        }
        for &(index, value) in &st.msrs {
            if index == msr::IA32_EFER {
                write_vmcs(id, vmcs::GUEST_IA32_EFER, value)?;
            } else if msr::NATIVE.contains(&index) {
                // SAFETY: takes no pointers (the value itself, not a pointer to it).
                hv(&format!("hv_vcpu_write_msr({index:#x})"), unsafe { sys::hv_vcpu_write_msr(id, index, value) })?;
            } else {
                return Err(VmmError::Failed(format!(
                    "MSR {index:#x} cannot be set before boot under Hypervisor.framework"
                )));
            }
        }
        write_reg(id, sys::HV_X86_RIP, st.rip)?;
        write_reg(id, sys::HV_X86_RSP, st.rsp)?;
        write_reg(id, sys::HV_X86_RDI, st.rdi)?;
        write_reg(id, sys::HV_X86_RFLAGS, 2)
    }

    fn run(&mut self) -> Result<Exit, VmmError> {
        let id = self.on_own_thread()?;
        loop {
            // A kick asks for one return, before the entry or after the exit it forced.
            if self.kick.swap(0, Ordering::SeqCst) != 0 {
                return Ok(Exit::Interrupted);
            }
            // SAFETY: id is this thread's vCPU.
            let r = unsafe { sys::hv_vcpu_run(id) };
            if r != sys::HV_SUCCESS {
                // Say what the VMCS says about it (a failed entry leaves its reason there).
                let reason = read_vmcs(id, vmcs::RO_EXIT_REASON).unwrap_or(0);
                let error = read_vmcs(id, vmcs::RO_INSTR_ERROR).unwrap_or(0);
                return Err(VmmError::Failed(format!(
                    "hv_vcpu_run: {} ({:#x}); exit reason {reason:#x}, VM-instruction error {error}",
                    sys::hv_error_name(r),
                    r as u32
                )));
            }
            let exit_reason = read_vmcs(id, vmcs::RO_EXIT_REASON)?;
            if let Some(exit) = self.handle_exit(id, exit_reason)? {
                return Ok(exit);
            }
        }
    }

    fn snapshot(&self) -> RegSnapshot {
        let Ok(id) = self.on_own_thread() else {
            return RegSnapshot::default();
        };
        let reg = |r| read_reg(id, r).unwrap_or(0);
        RegSnapshot {
            rip: reg(sys::HV_X86_RIP),
            rsp: reg(sys::HV_X86_RSP),
            rax: reg(sys::HV_X86_RAX),
            cr2: reg(sys::HV_X86_CR2),
            cr3: read_vmcs(id, vmcs::GUEST_CR3).unwrap_or(0),
            cs: read_vmcs(id, vmcs::GUEST_CS).unwrap_or(0) as u16,
        }
    }

    fn counters(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self.exits.iter().map(|(k, v)| (format!("hvf_exit_{k}"), *v)).collect();
        if let Ok(id) = self.on_own_thread() {
            let mut ns = 0u64;
            // SAFETY: ns is a valid out-pointer; id is this thread's vCPU.
            if unsafe { sys::hv_vcpu_get_exec_time(id, &mut ns) } == sys::HV_SUCCESS {
                out.push(("hvf_guest_exec_ns".into(), ns));
            }
        }
        out
    }

    /// The backend's own flag, which `run` looks at before every entry.
    fn kick_flag(&mut self) -> Option<*const AtomicU8> {
        Some(&*self.kick as *const AtomicU8)
    }

    /// `hv_vcpu_interrupt` with this vCPU's current id (none while suspended for a fork).
    fn force_exit(&self) -> Option<ForceExit> {
        self.id.map(|id| ForceExit::new(interrupt_vcpu, u64::from(id)))
    }

    /// An external interrupt through VM-entry event injection when the guest can take one
    /// (RFLAGS.IF, no STI/MOV-SS blocking, no other event on its way in); otherwise
    /// interrupt-window exiting, and the injection at that exit (`handle_exit`).
    fn inject_interrupt(&mut self, vector: u8) -> Result<(), VmmError> {
        let id = self.on_own_thread()?;
        let busy = read_vmcs(id, vmcs::CTRL_VMENTRY_IRQ_INFO)? & sys::ctrl::IRQ_INFO_VALID != 0;
        let rflags = read_reg(id, sys::HV_X86_RFLAGS)?;
        let blocking = read_vmcs(id, vmcs::GUEST_INTERRUPTIBILITY)?;
        if !busy && can_take_interrupt(rflags, blocking) {
            return write_vmcs(id, vmcs::CTRL_VMENTRY_IRQ_INFO, external_interrupt_info(vector));
        }
        if !self.irq_window {
            // The guest takes the kick at its next kernel entry, as before threads.
            return Ok(());
        }
        self.deferred_interrupt = Some(vector);
        self.set_irq_window(id, true)
    }

    /// An exit's instruction is stepped over when the exit is taken (`advance`): nothing
    /// is left to complete.
    fn finish_pending_exit(&mut self) -> Result<(), VmmError> {
        Ok(())
    }

    fn suspend_for_fork(&mut self) -> Result<(), VmmError> {
        let id = self.on_own_thread()?;
        let regs = sys::GPRS
            .iter()
            .chain(&[sys::HV_X86_CR2, sys::HV_X86_XCR0])
            .map(|&r| read_reg(id, r).map(|v| (r, v)))
            .collect::<Result<Vec<_>, _>>()?;
        let vmcs = vmcs::FORK_STATE.iter().map(|&f| read_vmcs(id, f).map(|v| (f, v))).collect::<Result<Vec<_>, _>>()?;
        let mut msrs = Vec::new();
        let tsc_aux = self.rdtscp.then_some(msr::TSC_AUX);
        for m in msr::NATIVE.into_iter().chain(tsc_aux) {
            let mut v = 0u64;
            // SAFETY: v is a valid out-pointer.
            hv(&format!("hv_vcpu_read_msr({m:#x})"), unsafe { sys::hv_vcpu_read_msr(id, m, &mut v) })?;
            msrs.push((m, v));
        }
        let mut fpstate = Box::new(FpState([0; 4096]));
        // SAFETY: the buffer is 4096 writable, 64-byte aligned bytes.
        hv("hv_vcpu_read_fpstate", unsafe {
            sys::hv_vcpu_read_fpstate(id, fpstate.0.as_mut_ptr().cast(), fpstate.0.len())
        })?;
        let mut guest_tsc = 0u64;
        // SAFETY: guest_tsc is a valid out-pointer.
        let tsc = (unsafe { sys::hv_vcpu_read_msr(id, msr::IA32_TSC, &mut guest_tsc) } == sys::HV_SUCCESS)
            // SAFETY: rdtsc has no side effects.
            .then(|| (guest_tsc, unsafe { core::arch::x86_64::_rdtsc() }));
        self.saved = Some(SavedState { regs, vmcs, msrs, fpstate, tsc });
        self.destroy_hv_vcpu();
        Ok(())
    }

    fn resume_after_fork(&mut self) -> Result<(), VmmError> {
        if std::thread::current().id() != self.thread {
            return Err(VmmError::Failed("resume_after_fork on a thread other than the vCPU's own".into()));
        }
        let mut saved = self.saved.take().ok_or_else(|| VmmError::Failed("resume without suspend".into()))?;
        self.create_hv_vcpu()?;
        let id = self.on_own_thread()?;
        for &(field, value) in &saved.vmcs {
            write_vmcs(id, field, value)?;
        }
        for &(reg, value) in &saved.regs {
            write_reg(id, reg, value)?;
        }
        for &(m, value) in &saved.msrs {
            // SAFETY: takes no pointers.
            hv(&format!("hv_vcpu_write_msr({m:#x})"), unsafe { sys::hv_vcpu_write_msr(id, m, value) })?;
        }
        // SAFETY: the buffer is the 4096 bytes read by suspend_for_fork.
        hv("hv_vcpu_write_fpstate", unsafe {
            sys::hv_vcpu_write_fpstate(id, saved.fpstate.0.as_mut_ptr().cast(), saved.fpstate.0.len())
        })?;
        if self.deferred_interrupt.is_some() && self.irq_window {
            // The new vCPU's controls are fresh: ask for the window again.
            self.set_irq_window(id, true)?;
        }
        if let Some((guest, host_then)) = saved.tsc {
            // SAFETY: rdtsc has no side effects.
            let elapsed = unsafe { core::arch::x86_64::_rdtsc() }.wrapping_sub(host_then);
            // SAFETY: takes no pointers. Best effort: a failure leaves the new VM's TSC.
            unsafe { sys::hv_vm_sync_tsc(guest.wrapping_add(elapsed)) };
        }
        Ok(())
    }
}
