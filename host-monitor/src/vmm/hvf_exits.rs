//! Serving the exits of the Hypervisor.framework backend (`hvf.rs`): what each VM exit
//! needs (instruction emulation for CPUID, XSETBV, MSRs and control registers, the
//! doorbells, EPT violations inside guest RAM), and event injection (exceptions, the kick
//! interrupt through an interrupt window, events an exit cut short). The decisions that
//! are pure functions of numbers are in `hvf_vmx.rs`; this file makes the framework calls.

use super::sys::{self, msr, reason, vmcs, HvVcpuId};
use super::{read_reg, read_vmcs, write_reg, write_vmcs, HvfVcpu};
use crate::vmm::hvf_vmx::*;
use crate::vmm::{Exit, Vcpu, VmmError};

impl HvfVcpu {
    /// Interrupt-window exiting on or off.
    pub(super) fn set_irq_window(&self, id: HvVcpuId, on: bool) -> Result<(), VmmError> {
        let proc1 = read_vmcs(id, vmcs::CTRL_CPU_BASED)?;
        let want = if on { proc1 | CPU_BASED_IRQ_WND } else { proc1 & !CPU_BASED_IRQ_WND };
        if want != proc1 {
            write_vmcs(id, vmcs::CTRL_CPU_BASED, want)?;
        }
        Ok(())
    }

    /// The exit cut short the delivery of an event: deliver it again on the next entry.
    pub(super) fn reinject_interrupted_event(&self, id: HvVcpuId) -> Result<(), VmmError> {
        let info = read_vmcs(id, vmcs::RO_IDT_VECTOR_INFO)?;
        if info & sys::ctrl::IRQ_INFO_VALID == 0 {
            return Ok(());
        }
        let error = read_vmcs(id, vmcs::RO_IDT_VECTOR_ERROR).unwrap_or(0);
        let len = read_vmcs(id, vmcs::RO_VMEXIT_INSTR_LEN).unwrap_or(0);
        for (field, value) in reinjection(info, error, len) {
            write_vmcs(id, field, value)?;
        }
        Ok(())
    }

    pub(super) fn count(&mut self, name: &'static str) {
        *self.exits.entry(name).or_default() += 1;
    }

    /// RIP past the instruction that exited, and no STI/MOV-SS blocking left over.
    pub(super) fn advance(&self, id: HvVcpuId) -> Result<(), VmmError> {
        let len = read_vmcs(id, vmcs::RO_VMEXIT_INSTR_LEN)?;
        let rip = read_reg(id, sys::HV_X86_RIP)?;
        write_reg(id, sys::HV_X86_RIP, rip.wrapping_add(len))?;
        let blocking = read_vmcs(id, vmcs::GUEST_INTERRUPTIBILITY)?;
        if blocking & 3 != 0 {
            write_vmcs(id, vmcs::GUEST_INTERRUPTIBILITY, blocking & !3)?;
        }
        Ok(())
    }

    pub(super) fn inject(&self, id: HvVcpuId, vector: u8, error_code: Option<u32>) -> Result<(), VmmError> {
        if let Some(code) = error_code {
            write_vmcs(id, vmcs::CTRL_VMENTRY_EXC_ERROR, u64::from(code))?;
        }
        write_vmcs(id, vmcs::CTRL_VMENTRY_IRQ_INFO, exception_info(vector, error_code.is_some()))
    }

    /// The guest's privilege level: SS.DPL is the CPL under VMX; CS.DPL agrees in
    /// 64-bit code. Ring 0 needs both at 0.
    pub(super) fn in_ring0(&self, id: HvVcpuId) -> Result<bool, VmmError> {
        let cs = read_vmcs(id, vmcs::GUEST_CS_AR)?;
        let ss = read_vmcs(id, vmcs::GUEST_SS_AR)?;
        Ok(ar::dpl(cs) == 0 && ar::dpl(ss) == 0)
    }

    pub(super) fn emulate_cpuid(&self, id: HvVcpuId) -> Result<(), VmmError> {
        let leaf = read_reg(id, sys::HV_X86_RAX)? as u32;
        let subleaf = read_reg(id, sys::HV_X86_RCX)? as u32;
        let r = core::arch::x86_64::__cpuid_count(leaf, subleaf);
        let cr4 = read_vmcs(id, vmcs::CTRL_CR4_SHADOW)?;
        let [a, b, c, d] = filter_cpuid(leaf, subleaf, [r.eax, r.ebx, r.ecx, r.edx], cr4, self.rdtscp);
        write_reg(id, sys::HV_X86_RAX, u64::from(a))?;
        write_reg(id, sys::HV_X86_RBX, u64::from(b))?;
        write_reg(id, sys::HV_X86_RCX, u64::from(c))?;
        write_reg(id, sys::HV_X86_RDX, u64::from(d))?;
        self.advance(id)
    }

    /// XSETBV (only reachable once the guest enables CR4.OSXSAVE): XCR0 within what the
    /// host supports and with x87 set, else #GP(0).
    pub(super) fn emulate_xsetbv(&self, id: HvVcpuId) -> Result<(), VmmError> {
        let index = read_reg(id, sys::HV_X86_RCX)? as u32;
        let value = (read_reg(id, sys::HV_X86_RDX)? << 32) | (read_reg(id, sys::HV_X86_RAX)? & 0xffff_ffff);
        let host = core::arch::x86_64::__cpuid_count(0xd, 0);
        let supported = (u64::from(host.edx) << 32) | u64::from(host.eax);
        if !xsetbv_valid(index, value, supported) {
            return self.inject(id, VEC_GP, Some(0));
        }
        write_reg(id, sys::HV_X86_XCR0, value)?;
        self.advance(id)
    }

    /// RDMSR/WRMSR of a non-native MSR: EFER lives in the VMCS; anything else is #GP(0),
    /// as for an MSR the processor does not have.
    pub(super) fn emulate_msr(&self, id: HvVcpuId, write: bool) -> Result<(), VmmError> {
        let index = read_reg(id, sys::HV_X86_RCX)? as u32;
        if index != msr::IA32_EFER {
            return self.inject(id, VEC_GP, Some(0));
        }
        let efer = read_vmcs(id, vmcs::GUEST_IA32_EFER)?;
        if write {
            let value = (read_reg(id, sys::HV_X86_RDX)? << 32) | (read_reg(id, sys::HV_X86_RAX)? & 0xffff_ffff);
            if !efer_write_valid(efer, value) {
                return self.inject(id, VEC_GP, Some(0));
            }
            write_vmcs(id, vmcs::GUEST_IA32_EFER, value)?;
        } else {
            write_reg(id, sys::HV_X86_RAX, efer & 0xffff_ffff)?;
            write_reg(id, sys::HV_X86_RDX, efer >> 32)?;
        }
        self.advance(id)
    }

    /// MOV to CR0/CR4 that changes a masked bit. CR0 must keep PE, PG (long mode) and
    /// may not set CD/NW; CR4 keeps VMXE in the real register, hidden by the shadow.
    pub(super) fn emulate_cr(&self, id: HvVcpuId, qualification: u64) -> Result<Option<Exit>, VmmError> {
        let access = decode_cr_access(qualification);
        if access.cr == 8 && access.kind <= 1 {
            // CR8 (the task priority) exits only because HLT exiting wants CR8 exiting;
            // the guest has no local APIC to prioritize: reads give 0, writes are dropped.
            if access.kind == 1 {
                write_reg(id, gpr_reg(access.gpr), 0)?;
            }
            self.advance(id)?;
            return Ok(None);
        }
        if access.kind != 0 || !(access.cr == 0 || access.cr == 4) {
            return Ok(Some(Exit::Other(format!("unexpected control-register exit {access:?}"))));
        }
        let value = read_reg(id, gpr_reg(access.gpr))?;
        if access.cr == 0 {
            if !cr0_write_valid(value) {
                self.inject(id, VEC_GP, Some(0))?;
                return Ok(None);
            }
            write_vmcs(id, vmcs::GUEST_CR0, real_cr0(value))?;
            write_vmcs(id, vmcs::CTRL_CR0_SHADOW, value)?;
        } else {
            if !cr4_write_valid(value) {
                self.inject(id, VEC_GP, Some(0))?;
                return Ok(None);
            }
            write_vmcs(id, vmcs::GUEST_CR4, real_cr4(value))?;
            write_vmcs(id, vmcs::CTRL_CR4_SHADOW, value)?;
        }
        self.advance(id)?;
        Ok(None)
    }

    /// Serve one exit; `None` means "resume the guest".
    pub(super) fn handle_exit(&mut self, id: HvVcpuId, exit_reason: u64) -> Result<Option<Exit>, VmmError> {
        match classify_exit(exit_reason) {
            ExitKind::EntryFailed(basic) => {
                self.count("entry_failed");
                let qualification = read_vmcs(id, vmcs::RO_EXIT_QUALIFIC).unwrap_or(0);
                Ok(Some(Exit::Other(format!(
                    "VM entry failed: exit reason {basic} ({}), qualification {qualification:#x}",
                    if basic == reason::VMENTRY_GUEST {
                        "invalid guest state"
                    } else {
                        "see the Intel SDM, appendix C"
                    }
                ))))
            }
            ExitKind::HostEvent => {
                // A host interrupt (or `hv_vcpu_interrupt`: the kick flag says so before the
                // next entry) may have come while the guest took an event.
                self.count("host_interrupt");
                self.reinject_interrupted_event(id).map(|()| None)
            }
            ExitKind::InterruptWindow => {
                self.count("interrupt_window");
                self.set_irq_window(id, false)?;
                match self.deferred_interrupt.take() {
                    Some(vector) => self.inject_interrupt(vector).map(|()| None),
                    None => Ok(None),
                }
            }
            ExitKind::Io => {
                let io = decode_io(read_vmcs(id, vmcs::RO_EXIT_QUALIFIC)?);
                self.count("io");
                if io.string || io.rep {
                    return Ok(Some(Exit::Other(format!("string I/O instruction on port {:#x}", io.port))));
                }
                if io.is_in {
                    let rax = read_reg(id, sys::HV_X86_RAX)?;
                    write_reg(id, sys::HV_X86_RAX, rax_after_unserved_in(rax, io.size))?;
                }
                self.advance(id)?;
                Ok(Some(port_exit(io.port, io.is_in)))
            }
            ExitKind::Vmcall => {
                self.count("vmcall");
                if self.in_ring0(id)? {
                    self.advance(id)?;
                    Ok(Some(Exit::Hypercall))
                } else {
                    // A user program's VMCALL is an invalid instruction, as on bare metal.
                    self.inject(id, VEC_UD, None)?;
                    Ok(None)
                }
            }
            ExitKind::Hlt => {
                self.count("hlt");
                self.advance(id)?;
                Ok(Some(Exit::Halt))
            }
            ExitKind::TripleFault => {
                self.count("triple_fault");
                Ok(Some(Exit::Shutdown))
            }
            ExitKind::Cpuid => {
                self.count("cpuid");
                self.emulate_cpuid(id).map(|()| None)
            }
            ExitKind::Xsetbv => {
                self.count("xsetbv");
                self.emulate_xsetbv(id).map(|()| None)
            }
            ExitKind::Msr { write } => {
                self.count("msr");
                self.emulate_msr(id, write).map(|()| None)
            }
            ExitKind::MovCr => {
                self.count("mov_cr");
                let qualification = read_vmcs(id, vmcs::RO_EXIT_QUALIFIC)?;
                self.emulate_cr(id, qualification)
            }
            ExitKind::EptViolation => {
                self.count("ept_violation");
                let gpa = read_vmcs(id, vmcs::RO_GUEST_PHYSICAL_ADDRESS)?;
                let qualification = read_vmcs(id, vmcs::RO_EXIT_QUALIFIC)?;
                if self.ept.retry(gpa, self.mem_size) {
                    // The fault may have hit while the guest delivered an exception.
                    return self.reinject_interrupted_event(id).map(|()| None);
                }
                let gla = read_vmcs(id, vmcs::RO_GUEST_LIN_ADDR).unwrap_or(0);
                Ok(Some(Exit::Other(format!(
                    "EPT violation at guest-physical {gpa:#x} (linear {gla:#x}, qualification {qualification:#x}{})",
                    if gpa < self.mem_size { ", repeated inside guest RAM" } else { ", outside guest RAM" }
                ))))
            }
            ExitKind::ExceptionOrNmi => {
                self.count("exception");
                let (vector, kind) = exit_event(read_vmcs(id, vmcs::RO_VMEXIT_IRQ_INFO)?);
                // An NMI meant for the host, which the framework has handled.
                if kind == EVENT_TYPE_NMI {
                    return self.reinject_interrupted_event(id).map(|()| None);
                }
                let error = read_vmcs(id, vmcs::RO_VMEXIT_IRQ_ERROR).unwrap_or(0);
                let qualification = read_vmcs(id, vmcs::RO_EXIT_QUALIFIC).unwrap_or(0);
                Ok(Some(Exit::Other(format!(
                    "exception exit: vector {vector}, type {kind}, error code {error:#x}, qualification {qualification:#x}"
                ))))
            }
            ExitKind::Other(other) => {
                self.count("other");
                let qualification = read_vmcs(id, vmcs::RO_EXIT_QUALIFIC).unwrap_or(0);
                Ok(Some(Exit::Other(format!(
                    "unhandled VM exit reason {other} (Intel SDM appendix C), qualification {qualification:#x}"
                ))))
            }
        }
    }
}
