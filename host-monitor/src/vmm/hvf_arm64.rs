//! The Hypervisor.framework backend on Apple Silicon (docs/arm64.md), for the aarch64
//! guest kernel: the same guest as under KVM on arm64 Linux (`kvm_arm64.rs`), the same
//! first state (`Arm64BootState`) and the same doorbell (a store to the unbacked page at
//! `layout::arm64::DOORBELL_GPA`).
//!
//! **Nothing in this file has ever run on a Mac.** It is written from Apple's headers and
//! the Arm ARM, and type-checked by `cargo clippy --target aarch64-apple-darwin` on Linux;
//! its pure parts (system-register encodings `arm64_regs.rs`, syndrome decoding and exit
//! decisions `arm64_exits.rs`, the FFI types `hvf_arm64_sys.rs`, the framework's error
//! messages `hvf_common.rs`) are unit-tested on Linux. docs/arm64.md lists what is unproven.
//!
//! How the guest is run:
//! - One VM per process (`hv_vm_create`), with a guest-physical space large enough for the
//!   doorbell page (40 bits: the framework's default is 36, so the size is set through a
//!   VM configuration, macOS 13 and later); all of guest RAM mapped once (`hv_vm_map`,
//!   GPA 0 = the start of `GuestMemory`'s host region).
//! - A vCPU is created by, and only used from, its own thread (`hv_vcpu_create` binds it);
//!   `hv_vcpu_run` fills the exit structure the framework gave at creation. Its first
//!   state goes in with `hv_vcpu_set_sys_reg` (MAIR, TCR, TTBR0/1, CPACR, then SCTLR with
//!   the MMU on; SP_EL1) and `hv_vcpu_set_reg` (x0, CPSR, PC).
//! - Exits: a stage-2 data abort on the doorbell page is the doorbell (its stored value
//!   names it, as under KVM; PC is stepped over the store); an abort inside guest RAM is
//!   `Exit::BadAddress` (as KVM's EFAULT), elsewhere the guest touched nothing; WFI is the
//!   guest halting (it waits with every interrupt masked only after a panic), WFE a pause;
//!   HVC is a PSCI call (SYSTEM_OFF/RESET end the guest, anything else is NOT_SUPPORTED);
//!   a trapped system-register access reads as zero and ignores writes.
//! - The virtual timer: every vCPU's counter offset is 0, so the guest's CNTVCT_EL0 is the
//!   host's counter on every vCPU and across a fork; the timer stays masked (the guest
//!   takes no timer interrupts), so it never exits.
//! - Kicks: another thread sets the vCPU's kick flag, which `run` looks at before each
//!   `hv_vcpu_run`, and calls `hv_vcpus_exit` (`Vcpu::force_exit`), after which the run
//!   returns HV_EXIT_REASON_CANCELED; a host signal delivered to the thread while it runs
//!   the guest ends the run with HV_EXIT_REASON_UNKNOWN (other VMMs report so), taken as
//!   an interruption too.
//! - Not yet, as in `kvm_arm64.rs` (each answers an error, never a wrong result): fork,
//!   several vCPUs (threads), interrupts into the guest, the file window.

use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::thread::ThreadId;

use abi_shared::bootinfo::Flavour;

use super::arm64_exits::{
    abort_target, decode_syndrome, exception_class, ipa_bits_needed, psci, psci_ends_guest, stored_value, AbortTarget,
    Syndrome,
};
use super::arm64_regs::{boot_sys_regs, counter_khz, doorbell_exit, enc};
use super::hvf_arm64_sys::{self as sys, HvVcpu, HvVcpuExit};
use super::hvf_common::{check_hv_support, hv, vm_create_error, Machine};
use super::{Arm64BootState, BootState, Exit, ForceExit, RegSnapshot, Vcpu, Vm, VmmError};
use crate::guest_mem::GuestMemory;

/// Hypervisor.framework allows one VM per process.
static VM_EXISTS: AtomicBool = AtomicBool::new(false);

/// HV_EXIT_REASON_UNKNOWN in a row, with no kick, before the backend gives up (a signal
/// explains one; a stream of them would be a fault the framework does not name).
const UNKNOWN_EXIT_LIMIT: u32 = 1000;

/// The VM with guest RAM mapped; a configuration whose guest-physical space reaches the
/// doorbell page.
fn create_vm(mem: &GuestMemory) -> Result<(), VmmError> {
    let needed = ipa_bits_needed(mem.size());
    let mut max = 0u32;
    // SAFETY: max is a valid out-pointer.
    hv("hv_vm_config_get_max_ipa_size", unsafe { sys::hv_vm_config_get_max_ipa_size(&mut max) })?;
    if max < needed {
        return Err(VmmError::Unavailable(format!(
            "this Mac's Hypervisor.framework gives a VM {max} bits of guest-physical address space; linuxrun's \
             arm64 guest needs {needed} (its doorbell page is at {:#x}, docs/arm64.md)",
            abi_shared::layout::arm64::DOORBELL_GPA
        )));
    }
    // SAFETY: takes no arguments; returns a new configuration object or NULL.
    let config = unsafe { sys::hv_vm_config_create() };
    if config.is_null() {
        return Err(VmmError::Failed("hv_vm_config_create returned nothing".into()));
    }
    // SAFETY: config is the live object just created.
    let set = hv("hv_vm_config_set_ipa_size", unsafe { sys::hv_vm_config_set_ipa_size(config, needed) });
    // SAFETY: as above; the framework keeps what it needs of the configuration.
    let r = set.map(|()| unsafe { sys::hv_vm_create(config) });
    // SAFETY: our reference to the object, released once.
    unsafe { sys::os_release(config) };
    match r? {
        sys::HV_SUCCESS => {}
        r => return Err(vm_create_error(r, Machine::AppleSilicon)),
    }
    let size = usize::try_from(mem.size()).map_err(|_| VmmError::Failed("guest RAM too large".into()))?;
    // SAFETY: the region is GuestMemory's mapping, aligned to the host's 16 KiB pages (an
    // mmap) and `size` bytes long (a multiple of 1 MiB); it outlives the VM.
    let r = unsafe {
        sys::hv_vm_map(
            mem.host_base().cast(),
            0,
            size,
            sys::HV_MEMORY_READ | sys::HV_MEMORY_WRITE | sys::HV_MEMORY_EXEC,
        )
    };
    hv("hv_vm_map (guest RAM)", r).inspect_err(|_| {
        // SAFETY: the VM was just created and has no vCPUs.
        unsafe { sys::hv_vm_destroy() };
    })
}

/// The process's one Hypervisor.framework VM on Apple Silicon.
pub struct HvfArm64Vm {
    mem_size: u64,
    counter_khz: u64,
}

impl HvfArm64Vm {
    pub fn create(mem: &GuestMemory) -> Result<HvfArm64Vm, VmmError> {
        check_hv_support(Machine::AppleSilicon)?;
        if VM_EXISTS.swap(true, Ordering::SeqCst) {
            return Err(VmmError::Failed("a Hypervisor.framework VM already exists in this process".into()));
        }
        if let Err(e) = create_vm(mem) {
            VM_EXISTS.store(false, Ordering::SeqCst);
            return Err(e);
        }
        Ok(HvfArm64Vm { mem_size: mem.size(), counter_khz: counter_khz() })
    }
}

impl Drop for HvfArm64Vm {
    fn drop(&mut self) {
        // SAFETY: unmapping the range we mapped; destroy fails harmlessly (HV_BUSY) while a
        // vCPU exists. Neither takes pointers.
        unsafe {
            sys::hv_vm_unmap(0, self.mem_size as usize);
            sys::hv_vm_destroy();
        }
        VM_EXISTS.store(false, Ordering::SeqCst);
    }
}

impl Vm for HvfArm64Vm {
    fn flavour(&self) -> Flavour {
        // Real privilege levels (EL1 kernel, EL0 program), as under KVM.
        Flavour::Classic
    }

    fn tsc_khz(&self) -> u64 {
        self.counter_khz
    }

    /// Creates the vCPU on the calling thread, which must be the one that runs it.
    fn create_vcpu(&self, id: u64, _mem: &GuestMemory) -> Result<Box<dyn Vcpu>, VmmError> {
        if id != 0 {
            return Err(VmmError::Failed("threads are not supported on arm64 yet".into()));
        }
        let mut vcpu: HvVcpu = 0;
        let mut exit: *const HvVcpuExit = std::ptr::null();
        // SAFETY: both are valid out-pointers; NULL asks for the default configuration.
        hv("hv_vcpu_create", unsafe { sys::hv_vcpu_create(&mut vcpu, &mut exit, std::ptr::null_mut()) })?;
        let made = HvfArm64Vcpu {
            id: vcpu,
            exit,
            thread: std::thread::current().id(),
            mem_size: self.mem_size,
            kick: Box::new(AtomicU8::new(0)),
            unknown_in_a_row: 0,
            exits: BTreeMap::new(),
            _not_send: PhantomData,
        };
        if exit.is_null() {
            return Err(VmmError::Failed("hv_vcpu_create gave no exit structure".into()));
        }
        // SAFETY: the vCPU is this thread's; the call takes no pointers.
        hv("hv_vcpu_set_vtimer_offset", unsafe { sys::hv_vcpu_set_vtimer_offset(vcpu, 0) })?;
        // SAFETY: as above.
        hv("hv_vcpu_set_vtimer_mask", unsafe { sys::hv_vcpu_set_vtimer_mask(vcpu, true) })?;
        Ok(Box::new(made))
    }

    fn owned_fds(&self) -> Vec<i32> {
        Vec::new()
    }

    /// No ioeventfd: every hypercall exits through the doorbell.
    fn wake_eventfd(&self, _port: u16) -> Option<std::fs::File> {
        None
    }

    fn arm_wake_port(&self, _port: u16) {}

    /// All of guest RAM is mapped at once.
    fn ram_registered(&self) -> u64 {
        self.mem_size
    }

    fn grow_ram(&self, _mem: &GuestMemory, _wanted: u64) -> u64 {
        self.mem_size
    }

    fn keeps_idle_vcpus(&self) -> bool {
        false
    }

    fn prepare_fork(&self) -> Result<(), VmmError> {
        Err(VmmError::Failed("fork is not supported on arm64 yet".into()))
    }

    fn after_fork_parent(&self, _mem: &GuestMemory) -> Result<(), VmmError> {
        Ok(())
    }

    fn after_fork_child(&self, _mem: &GuestMemory) -> Result<(), VmmError> {
        Err(VmmError::Failed("fork is not supported on arm64 yet".into()))
    }
}

/// `ForceExit`'s call: stop vCPU `vcpu` now, or at the start of its next run.
fn exit_vcpu(vcpu: u64) {
    // SAFETY: the array is the one id, valid for the call; a vCPU that is gone makes the
    // call fail, harmlessly.
    unsafe { sys::hv_vcpus_exit(&vcpu, 1) };
}

pub struct HvfArm64Vcpu {
    id: HvVcpu,
    /// The framework's exit structure for this vCPU (valid while the vCPU exists).
    exit: *const HvVcpuExit,
    thread: ThreadId,
    mem_size: u64,
    /// Set by a kicker: the next `run` returns `Exit::Interrupted` before entering.
    kick: Box<AtomicU8>,
    unknown_in_a_row: u32,
    exits: BTreeMap<&'static str, u64>,
    /// A vCPU belongs to its creating thread.
    _not_send: PhantomData<*const ()>,
}

impl HvfArm64Vcpu {
    fn on_own_thread(&self) -> Result<HvVcpu, VmmError> {
        if std::thread::current().id() != self.thread {
            return Err(VmmError::Failed(
                "a Hypervisor.framework vCPU was used from a thread other than its own".into(),
            ));
        }
        Ok(self.id)
    }

    fn count(&mut self, name: &'static str) {
        *self.exits.entry(name).or_default() += 1;
    }

    fn reg(&self, reg: sys::HvReg) -> Result<u64, VmmError> {
        let mut v = 0u64;
        // SAFETY: v is a valid out-pointer; the vCPU is this thread's (checked by callers).
        hv(&format!("hv_vcpu_get_reg({reg})"), unsafe { sys::hv_vcpu_get_reg(self.id, reg, &mut v) }).map(|()| v)
    }

    fn set_reg(&self, reg: sys::HvReg, value: u64) -> Result<(), VmmError> {
        // SAFETY: takes no pointers; the vCPU is this thread's.
        hv(&format!("hv_vcpu_set_reg({reg})"), unsafe { sys::hv_vcpu_set_reg(self.id, reg, value) })
    }

    fn sys_reg(&self, reg: sys::HvSysReg) -> Result<u64, VmmError> {
        let mut v = 0u64;
        // SAFETY: v is a valid out-pointer; the vCPU is this thread's.
        hv(&format!("hv_vcpu_get_sys_reg({reg:#x})"), unsafe { sys::hv_vcpu_get_sys_reg(self.id, reg, &mut v) })
            .map(|()| v)
    }

    fn set_sys_reg(&self, reg: sys::HvSysReg, value: u64, name: &str) -> Result<(), VmmError> {
        // SAFETY: takes no pointers; the vCPU is this thread's.
        hv(&format!("hv_vcpu_set_sys_reg({name})"), unsafe { sys::hv_vcpu_set_sys_reg(self.id, reg, value) })
    }

    /// Step over the 4-byte instruction that trapped.
    fn advance(&self) -> Result<(), VmmError> {
        let pc = self.reg(sys::HV_REG_PC)?;
        self.set_reg(sys::HV_REG_PC, pc.wrapping_add(4))
    }

    /// General register `n` as a load or store names it (31: the zero register).
    fn x(&self, n: u8) -> Result<u64, VmmError> {
        sys::x_reg(n).map_or(Ok(0), |r| self.reg(r))
    }

    fn set_x(&self, n: u8, value: u64) -> Result<(), VmmError> {
        sys::x_reg(n).map_or(Ok(()), |r| self.set_reg(r, value))
    }

    /// Serve an exception exit; `None` means "resume the guest".
    fn handle_exception(&mut self, e: &sys::HvExitException) -> Result<Option<Exit>, VmmError> {
        match decode_syndrome(e.syndrome) {
            Syndrome::DataAbort { valid, write, size, rt, .. } => match abort_target(e.physical_address, self.mem_size)
            {
                AbortTarget::Doorbell if valid && write => {
                    self.count("doorbell");
                    let value = stored_value(self.x(rt)?, size);
                    self.advance()?;
                    Ok(Some(doorbell_exit(value)))
                }
                AbortTarget::Ram => {
                    self.count("bad_address");
                    Ok(Some(Exit::BadAddress))
                }
                AbortTarget::Doorbell | AbortTarget::Unbacked => {
                    self.count("unbacked");
                    Ok(Some(Exit::Other(format!(
                        "guest {} unbacked guest-physical address {:#x} (virtual {:#x})",
                        if write { "store to" } else { "load from" },
                        e.physical_address,
                        e.virtual_address
                    ))))
                }
            },
            Syndrome::Wait { wfe: true } => {
                self.count("wfe");
                self.advance().map(|()| None)
            }
            Syndrome::Wait { wfe: false } => {
                self.count("wfi");
                self.advance()?;
                Ok(Some(Exit::Halt))
            }
            Syndrome::Hvc { .. } => {
                self.count("hvc");
                // The return address is already past the HVC.
                if psci_ends_guest(self.x(0)?) {
                    return Ok(Some(Exit::Shutdown));
                }
                self.set_x(0, psci::NOT_SUPPORTED).map(|()| None)
            }
            Syndrome::SysReg { encoding, rt, read } => {
                self.count("sys_reg");
                log::debug!(
                    "trapped system register {encoding:#x} ({}): reads as zero",
                    if read { "read" } else { "write" }
                );
                if read {
                    self.set_x(rt, 0)?;
                }
                self.advance().map(|()| None)
            }
            Syndrome::InstructionAbort => {
                self.count("unbacked");
                Ok(Some(Exit::Other(format!(
                    "guest executed unbacked guest-physical address {:#x} (virtual {:#x})",
                    e.physical_address, e.virtual_address
                ))))
            }
            Syndrome::Other { ec, iss } => {
                self.count("other");
                Ok(Some(Exit::Other(format!(
                    "exception class {ec:#x} (ISS {iss:#x}) trapped to the hypervisor at virtual {:#x}",
                    e.virtual_address
                ))))
            }
        }
    }
}

impl Drop for HvfArm64Vcpu {
    fn drop(&mut self) {
        if std::thread::current().id() == self.thread {
            // SAFETY: the vCPU is this thread's and is not used again.
            unsafe { sys::hv_vcpu_destroy(self.id) };
        }
        // On another thread the framework would refuse; the vCPU goes with the process.
    }
}

impl Vcpu for HvfArm64Vcpu {
    fn set_boot_state(&mut self, _state: &BootState) -> Result<(), VmmError> {
        Err(VmmError::Failed("an x86_64 boot state for an arm64 vCPU".into()))
    }

    fn set_arm64_boot_state(&mut self, st: &Arm64BootState) -> Result<(), VmmError> {
        self.on_own_thread()?;
        for (reg, value, name) in boot_sys_regs(st) {
            self.set_sys_reg(reg, value, name)?;
        }
        self.set_sys_reg(enc::SP_EL1, st.sp_el1, "SP_EL1")?;
        self.set_reg(sys::HV_REG_X0, st.x0)?;
        self.set_reg(sys::HV_REG_CPSR, st.pstate)?;
        self.set_reg(sys::HV_REG_PC, st.pc)
    }

    fn run(&mut self) -> Result<Exit, VmmError> {
        let id = self.on_own_thread()?;
        loop {
            if self.kick.swap(0, Ordering::SeqCst) != 0 {
                self.unknown_in_a_row = 0;
                return Ok(Exit::Interrupted);
            }
            // SAFETY: the vCPU is this thread's.
            let r = unsafe { sys::hv_vcpu_run(id) };
            hv("hv_vcpu_run", r)?;
            // SAFETY: the framework's exit structure for this vCPU, filled by the run that
            // just returned; read by value.
            let exit = unsafe { *self.exit };
            if exit.reason != sys::HV_EXIT_REASON_UNKNOWN {
                self.unknown_in_a_row = 0;
            }
            match exit.reason {
                sys::HV_EXIT_REASON_CANCELED => {
                    self.count("canceled");
                    self.kick.store(0, Ordering::SeqCst);
                    return Ok(Exit::Interrupted);
                }
                sys::HV_EXIT_REASON_UNKNOWN => {
                    self.count("unknown");
                    self.unknown_in_a_row += 1;
                    if self.unknown_in_a_row > UNKNOWN_EXIT_LIMIT {
                        return Ok(Exit::Other(format!(
                            "{UNKNOWN_EXIT_LIMIT} exits of unknown reason in a row (syndrome {:#x}, class {:#x})",
                            exit.exception.syndrome,
                            exception_class(exit.exception.syndrome)
                        )));
                    }
                    self.kick.store(0, Ordering::SeqCst);
                    return Ok(Exit::Interrupted);
                }
                sys::HV_EXIT_REASON_VTIMER_ACTIVATED => {
                    // The guest armed its timer, whose interrupt it does not take yet: it
                    // stays masked (the framework masked it for this exit).
                    self.count("vtimer");
                }
                sys::HV_EXIT_REASON_EXCEPTION => {
                    if let Some(e) = self.handle_exception(&exit.exception)? {
                        return Ok(e);
                    }
                }
                other => return Ok(Exit::Other(format!("hv_vcpu_run: exit reason {other}"))),
            }
        }
    }

    /// In the x86_64 names of the report, as `kvm_arm64.rs` gives them: rip = PC,
    /// rsp = SP_EL0, rax = x0, cr2 = FAR_EL1, cr3 = TTBR0_EL1, cs = ESR_EL1's class.
    fn snapshot(&self) -> RegSnapshot {
        if self.on_own_thread().is_err() {
            return RegSnapshot::default();
        }
        let sys_reg = |r| self.sys_reg(r).unwrap_or(0);
        RegSnapshot {
            rip: self.reg(sys::HV_REG_PC).unwrap_or(0),
            rsp: sys_reg(enc::SP_EL0),
            rax: self.reg(sys::HV_REG_X0).unwrap_or(0),
            cr2: sys_reg(enc::FAR_EL1),
            cr3: sys_reg(enc::TTBR0_EL1),
            cs: (sys_reg(enc::ESR_EL1) >> 26) as u16,
        }
    }

    fn counters(&self) -> Vec<(String, u64)> {
        let mut out: Vec<(String, u64)> = self.exits.iter().map(|(k, v)| (format!("hvf_exit_{k}"), *v)).collect();
        if self.on_own_thread().is_ok() {
            let mut ns = 0u64;
            // SAFETY: ns is a valid out-pointer; the vCPU is this thread's.
            if unsafe { sys::hv_vcpu_get_exec_time(self.id, &mut ns) } == sys::HV_SUCCESS {
                out.push(("hvf_guest_exec_ns".into(), ns));
            }
        }
        out
    }

    fn kick_flag(&mut self) -> Option<*const AtomicU8> {
        Some(&*self.kick as *const AtomicU8)
    }

    fn force_exit(&self) -> Option<ForceExit> {
        Some(ForceExit::new(exit_vcpu, self.id))
    }

    /// No interrupt controller yet (as under KVM): a caught host signal reaches the guest at
    /// its next exit.
    fn inject_interrupt(&mut self, _vector: u8) -> Result<(), VmmError> {
        Ok(())
    }

    /// Every exit's instruction was stepped over when it was taken.
    fn finish_pending_exit(&mut self) -> Result<(), VmmError> {
        Ok(())
    }

    fn suspend_for_fork(&mut self) -> Result<(), VmmError> {
        Err(VmmError::Failed("fork is not supported on arm64 yet".into()))
    }

    fn resume_after_fork(&mut self) -> Result<(), VmmError> {
        Err(VmmError::Failed("fork is not supported on arm64 yet".into()))
    }
}
