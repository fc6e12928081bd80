//! A thin FFI module for Apple's Hypervisor.framework (Intel Macs), written from Apple's
//! headers (`Hypervisor/hv.h`, `hv_vmx.h`, `hv_arch_vmx.h`, `hv_arch_x86.h`, `hv_error.h`)
//! and the Intel SDM (VMCS field encodings, exit reasons, control bits).
//!
//! No build script and no SDK: the constants below are compiled on every host (so that
//! the pure decoding helpers in `hvf.rs` are unit-tested on Linux), and the `extern`
//! block exists only on x86_64 macOS, where it links `Hypervisor.framework`. That keeps
//! `cargo check/clippy --target x86_64-apple-darwin` working on a Linux machine.
//!
//! Signatures follow the C headers exactly. In particular `hv_vcpu_write_msr`,
//! `hv_vcpu_write_register` and `hv_vmx_vcpu_write_vmcs` take the value itself (a
//! `uint64_t`), not a pointer to it (the mistake of xhypervisor 0.3's `write_msr`), and
//! `hv_vcpu_interrupt` takes an array of vCPU ids and its length.
#![allow(dead_code)] // A binding: not every constant has a user yet.

/// `hv_return_t` (a `mach_error_t`, an `int`).
pub type HvReturn = i32;
/// `hv_vcpuid_t` (`unsigned int`).
pub type HvVcpuId = u32;
/// `hv_vm_options_t`, `hv_vcpu_options_t`, `hv_memory_flags_t` (all `uint64_t`).
pub type HvOptions = u64;
/// `hv_x86_reg_t` (a C enum: `int`-sized; its values are below).
pub type HvX86Reg = u32;
/// `hv_vmx_capability_t` (a C enum).
pub type HvVmxCapability = u32;

// hv_error.h. The values are `mach_error_t`s (err_local | err_sub(0xba5) | code), written
// here as the unsigned pattern they have.
pub const HV_SUCCESS: HvReturn = 0;
pub const HV_ERROR: HvReturn = 0xfae9_4001_u32 as i32;
pub const HV_BUSY: HvReturn = 0xfae9_4002_u32 as i32;
pub const HV_BAD_ARGUMENT: HvReturn = 0xfae9_4003_u32 as i32;
pub const HV_ILLEGAL_GUEST_STATE: HvReturn = 0xfae9_4004_u32 as i32;
pub const HV_NO_RESOURCES: HvReturn = 0xfae9_4005_u32 as i32;
pub const HV_NO_DEVICE: HvReturn = 0xfae9_4006_u32 as i32;
pub const HV_DENIED: HvReturn = 0xfae9_4007_u32 as i32;
pub const HV_FAULT: HvReturn = 0xfae9_4008_u32 as i32;
pub const HV_UNSUPPORTED: HvReturn = 0xfae9_400f_u32 as i32;

/// The name of an `hv_return_t`, for messages.
pub fn hv_error_name(r: HvReturn) -> &'static str {
    match r {
        HV_SUCCESS => "HV_SUCCESS",
        HV_ERROR => "HV_ERROR",
        HV_BUSY => "HV_BUSY",
        HV_BAD_ARGUMENT => "HV_BAD_ARGUMENT",
        HV_ILLEGAL_GUEST_STATE => "HV_ILLEGAL_GUEST_STATE",
        HV_NO_RESOURCES => "HV_NO_RESOURCES",
        HV_NO_DEVICE => "HV_NO_DEVICE",
        HV_DENIED => "HV_DENIED",
        HV_FAULT => "HV_FAULT",
        HV_UNSUPPORTED => "HV_UNSUPPORTED",
        _ => "unknown hv_return_t",
    }
}

// hv_types.h
pub const HV_VM_DEFAULT: HvOptions = 0;
pub const HV_VCPU_DEFAULT: HvOptions = 0;
pub const HV_MEMORY_READ: HvOptions = 1 << 0;
pub const HV_MEMORY_WRITE: HvOptions = 1 << 1;
pub const HV_MEMORY_EXEC: HvOptions = 1 << 2;

// hv_arch_x86.h: hv_x86_reg_t, in declaration order.
pub const HV_X86_RIP: HvX86Reg = 0;
pub const HV_X86_RFLAGS: HvX86Reg = 1;
pub const HV_X86_RAX: HvX86Reg = 2;
pub const HV_X86_RCX: HvX86Reg = 3;
pub const HV_X86_RDX: HvX86Reg = 4;
pub const HV_X86_RBX: HvX86Reg = 5;
pub const HV_X86_RSI: HvX86Reg = 6;
pub const HV_X86_RDI: HvX86Reg = 7;
pub const HV_X86_RSP: HvX86Reg = 8;
pub const HV_X86_RBP: HvX86Reg = 9;
pub const HV_X86_R8: HvX86Reg = 10;
pub const HV_X86_R9: HvX86Reg = 11;
pub const HV_X86_R10: HvX86Reg = 12;
pub const HV_X86_R11: HvX86Reg = 13;
pub const HV_X86_R12: HvX86Reg = 14;
pub const HV_X86_R13: HvX86Reg = 15;
pub const HV_X86_R14: HvX86Reg = 16;
pub const HV_X86_R15: HvX86Reg = 17;
pub const HV_X86_CS: HvX86Reg = 18;
pub const HV_X86_SS: HvX86Reg = 19;
pub const HV_X86_DS: HvX86Reg = 20;
pub const HV_X86_ES: HvX86Reg = 21;
pub const HV_X86_FS: HvX86Reg = 22;
pub const HV_X86_GS: HvX86Reg = 23;
pub const HV_X86_IDT_BASE: HvX86Reg = 24;
pub const HV_X86_IDT_LIMIT: HvX86Reg = 25;
pub const HV_X86_GDT_BASE: HvX86Reg = 26;
pub const HV_X86_GDT_LIMIT: HvX86Reg = 27;
pub const HV_X86_LDTR: HvX86Reg = 28;
pub const HV_X86_LDT_BASE: HvX86Reg = 29;
pub const HV_X86_LDT_LIMIT: HvX86Reg = 30;
pub const HV_X86_LDT_AR: HvX86Reg = 31;
pub const HV_X86_TR: HvX86Reg = 32;
pub const HV_X86_TSS_BASE: HvX86Reg = 33;
pub const HV_X86_TSS_LIMIT: HvX86Reg = 34;
pub const HV_X86_TSS_AR: HvX86Reg = 35;
pub const HV_X86_CR0: HvX86Reg = 36;
pub const HV_X86_CR1: HvX86Reg = 37;
pub const HV_X86_CR2: HvX86Reg = 38;
pub const HV_X86_CR3: HvX86Reg = 39;
pub const HV_X86_CR4: HvX86Reg = 40;
pub const HV_X86_DR0: HvX86Reg = 41;
pub const HV_X86_DR7: HvX86Reg = 48;
pub const HV_X86_TPR: HvX86Reg = 49;
pub const HV_X86_XCR0: HvX86Reg = 50;

/// The general-purpose registers, RIP and RFLAGS (what a fork must carry besides the VMCS).
pub const GPRS: [HvX86Reg; 18] = [
    HV_X86_RIP,
    HV_X86_RFLAGS,
    HV_X86_RAX,
    HV_X86_RCX,
    HV_X86_RDX,
    HV_X86_RBX,
    HV_X86_RSI,
    HV_X86_RDI,
    HV_X86_RSP,
    HV_X86_RBP,
    HV_X86_R8,
    HV_X86_R9,
    HV_X86_R10,
    HV_X86_R11,
    HV_X86_R12,
    HV_X86_R13,
    HV_X86_R14,
    HV_X86_R15,
];

// hv_vmx.h: hv_vmx_capability_t.
pub const HV_VMX_CAP_PINBASED: HvVmxCapability = 0;
pub const HV_VMX_CAP_PROCBASED: HvVmxCapability = 1;
pub const HV_VMX_CAP_PROCBASED2: HvVmxCapability = 2;
pub const HV_VMX_CAP_ENTRY: HvVmxCapability = 3;
pub const HV_VMX_CAP_EXIT: HvVmxCapability = 4;
pub const HV_VMX_CAP_PREEMPTION_TIMER: HvVmxCapability = 32;

/// VMCS field encodings (Intel SDM vol. 3, appendix B; hv_arch_vmx.h uses the same names).
pub mod vmcs {
    // 16-bit guest-state fields: selectors.
    pub const GUEST_ES: u32 = 0x0800;
    pub const GUEST_CS: u32 = 0x0802;
    pub const GUEST_SS: u32 = 0x0804;
    pub const GUEST_DS: u32 = 0x0806;
    pub const GUEST_FS: u32 = 0x0808;
    pub const GUEST_GS: u32 = 0x080a;
    pub const GUEST_LDTR: u32 = 0x080c;
    pub const GUEST_TR: u32 = 0x080e;
    // 64-bit read-only data.
    pub const RO_GUEST_PHYSICAL_ADDRESS: u32 = 0x2400;
    // 64-bit guest-state fields.
    pub const GUEST_LINK_POINTER: u32 = 0x2800;
    pub const GUEST_IA32_DEBUGCTL: u32 = 0x2802;
    pub const GUEST_IA32_PAT: u32 = 0x2804;
    pub const GUEST_IA32_EFER: u32 = 0x2806;
    // 32-bit control fields.
    pub const CTRL_PIN_BASED: u32 = 0x4000;
    pub const CTRL_CPU_BASED: u32 = 0x4002;
    pub const CTRL_EXC_BITMAP: u32 = 0x4004;
    pub const CTRL_VMEXIT_CONTROLS: u32 = 0x400c;
    pub const CTRL_VMENTRY_CONTROLS: u32 = 0x4012;
    pub const CTRL_VMENTRY_IRQ_INFO: u32 = 0x4016;
    pub const CTRL_VMENTRY_EXC_ERROR: u32 = 0x4018;
    pub const CTRL_VMENTRY_INSTR_LEN: u32 = 0x401a;
    pub const CTRL_CPU_BASED2: u32 = 0x401e;
    // 32-bit read-only data.
    pub const RO_INSTR_ERROR: u32 = 0x4400;
    pub const RO_EXIT_REASON: u32 = 0x4402;
    pub const RO_VMEXIT_IRQ_INFO: u32 = 0x4404;
    pub const RO_VMEXIT_IRQ_ERROR: u32 = 0x4406;
    pub const RO_IDT_VECTOR_INFO: u32 = 0x4408;
    pub const RO_IDT_VECTOR_ERROR: u32 = 0x440a;
    pub const RO_VMEXIT_INSTR_LEN: u32 = 0x440c;
    // 32-bit guest-state fields.
    pub const GUEST_ES_LIMIT: u32 = 0x4800;
    pub const GUEST_CS_LIMIT: u32 = 0x4802;
    pub const GUEST_SS_LIMIT: u32 = 0x4804;
    pub const GUEST_DS_LIMIT: u32 = 0x4806;
    pub const GUEST_FS_LIMIT: u32 = 0x4808;
    pub const GUEST_GS_LIMIT: u32 = 0x480a;
    pub const GUEST_LDTR_LIMIT: u32 = 0x480c;
    pub const GUEST_TR_LIMIT: u32 = 0x480e;
    pub const GUEST_GDTR_LIMIT: u32 = 0x4810;
    pub const GUEST_IDTR_LIMIT: u32 = 0x4812;
    pub const GUEST_ES_AR: u32 = 0x4814;
    pub const GUEST_CS_AR: u32 = 0x4816;
    pub const GUEST_SS_AR: u32 = 0x4818;
    pub const GUEST_DS_AR: u32 = 0x481a;
    pub const GUEST_FS_AR: u32 = 0x481c;
    pub const GUEST_GS_AR: u32 = 0x481e;
    pub const GUEST_LDTR_AR: u32 = 0x4820;
    pub const GUEST_TR_AR: u32 = 0x4822;
    pub const GUEST_INTERRUPTIBILITY: u32 = 0x4824;
    pub const GUEST_ACTIVITY_STATE: u32 = 0x4826;
    pub const GUEST_SYSENTER_CS: u32 = 0x482a;
    // Natural-width control fields.
    pub const CTRL_CR0_MASK: u32 = 0x6000;
    pub const CTRL_CR4_MASK: u32 = 0x6002;
    pub const CTRL_CR0_SHADOW: u32 = 0x6004;
    pub const CTRL_CR4_SHADOW: u32 = 0x6006;
    // Natural-width read-only data.
    pub const RO_EXIT_QUALIFIC: u32 = 0x6400;
    pub const RO_GUEST_LIN_ADDR: u32 = 0x640a;
    // Natural-width guest-state fields.
    pub const GUEST_CR0: u32 = 0x6800;
    pub const GUEST_CR3: u32 = 0x6802;
    pub const GUEST_CR4: u32 = 0x6804;
    pub const GUEST_ES_BASE: u32 = 0x6806;
    pub const GUEST_CS_BASE: u32 = 0x6808;
    pub const GUEST_SS_BASE: u32 = 0x680a;
    pub const GUEST_DS_BASE: u32 = 0x680c;
    pub const GUEST_FS_BASE: u32 = 0x680e;
    pub const GUEST_GS_BASE: u32 = 0x6810;
    pub const GUEST_LDTR_BASE: u32 = 0x6812;
    pub const GUEST_TR_BASE: u32 = 0x6814;
    pub const GUEST_GDTR_BASE: u32 = 0x6816;
    pub const GUEST_IDTR_BASE: u32 = 0x6818;
    pub const GUEST_DR7: u32 = 0x681a;
    pub const GUEST_RSP: u32 = 0x681c;
    pub const GUEST_RIP: u32 = 0x681e;
    pub const GUEST_RFLAGS: u32 = 0x6820;
    pub const GUEST_PENDING_DBG: u32 = 0x6822;
    pub const GUEST_SYSENTER_ESP: u32 = 0x6824;
    pub const GUEST_SYSENTER_EIP: u32 = 0x6826;

    /// The guest-state fields a fork carries from the old VM's vCPU to the new one
    /// (segment state, descriptor tables, control registers, EFER, interruptibility), and
    /// an event waiting to be injected at the next entry (the kick interrupt, or one an
    /// exit cut short). RIP, RSP and RFLAGS travel as registers.
    pub const FORK_STATE: &[u32] = &[
        CTRL_VMENTRY_EXC_ERROR,
        CTRL_VMENTRY_INSTR_LEN,
        CTRL_VMENTRY_IRQ_INFO,
        GUEST_ES,
        GUEST_CS,
        GUEST_SS,
        GUEST_DS,
        GUEST_FS,
        GUEST_GS,
        GUEST_LDTR,
        GUEST_TR,
        GUEST_IA32_PAT,
        GUEST_IA32_EFER,
        GUEST_ES_LIMIT,
        GUEST_CS_LIMIT,
        GUEST_SS_LIMIT,
        GUEST_DS_LIMIT,
        GUEST_FS_LIMIT,
        GUEST_GS_LIMIT,
        GUEST_LDTR_LIMIT,
        GUEST_TR_LIMIT,
        GUEST_GDTR_LIMIT,
        GUEST_IDTR_LIMIT,
        GUEST_ES_AR,
        GUEST_CS_AR,
        GUEST_SS_AR,
        GUEST_DS_AR,
        GUEST_FS_AR,
        GUEST_GS_AR,
        GUEST_LDTR_AR,
        GUEST_TR_AR,
        GUEST_INTERRUPTIBILITY,
        CTRL_CR0_SHADOW,
        CTRL_CR4_SHADOW,
        GUEST_CR0,
        GUEST_CR3,
        GUEST_CR4,
        GUEST_ES_BASE,
        GUEST_CS_BASE,
        GUEST_SS_BASE,
        GUEST_DS_BASE,
        GUEST_FS_BASE,
        GUEST_GS_BASE,
        GUEST_LDTR_BASE,
        GUEST_TR_BASE,
        GUEST_GDTR_BASE,
        GUEST_IDTR_BASE,
        GUEST_DR7,
    ];
}

/// Basic VM-exit reasons (Intel SDM vol. 3, appendix C; `VMX_REASON_*` in hv_arch_vmx.h).
pub mod reason {
    pub const EXC_NMI: u32 = 0;
    pub const IRQ: u32 = 1;
    pub const TRIPLE_FAULT: u32 = 2;
    pub const INIT: u32 = 3;
    pub const IRQ_WND: u32 = 7;
    pub const VIRTUAL_NMI_WND: u32 = 8;
    pub const CPUID: u32 = 10;
    pub const HLT: u32 = 12;
    pub const VMCALL: u32 = 18;
    pub const MOV_CR: u32 = 28;
    pub const IO: u32 = 30;
    pub const RDMSR: u32 = 31;
    pub const WRMSR: u32 = 32;
    pub const VMENTRY_GUEST: u32 = 33;
    pub const VMENTRY_MSR: u32 = 34;
    pub const MTF: u32 = 37;
    pub const PAUSE: u32 = 40;
    pub const VMENTRY_MC: u32 = 41;
    pub const EPT_VIOLATION: u32 = 48;
    pub const EPT_MISCONFIG: u32 = 49;
    pub const VMX_TIMER_EXPIRED: u32 = 52;
    pub const XSETBV: u32 = 55;
    /// Bit 31 of the exit reason: the VM entry itself failed.
    pub const ENTRY_FAILED: u32 = 1 << 31;
}

/// VMX control bits (Intel SDM vol. 3, 24.6-24.8; hv_vmx.h's names).
pub mod ctrl {
    /// Primary processor-based: exit on HLT.
    pub const CPU_BASED_HLT: u64 = 1 << 7;
    pub const CPU_BASED_CR8_LOAD: u64 = 1 << 19;
    pub const CPU_BASED_CR8_STORE: u64 = 1 << 20;
    pub const CPU_BASED_TPR_SHADOW: u64 = 1 << 21;
    pub const CPU_BASED_SECONDARY_CTLS: u64 = 1 << 31;
    /// VM-exit: host is 64-bit, save and load IA32_EFER.
    pub const VMEXIT_HOST_IA32E: u64 = 1 << 9;
    pub const VMEXIT_SAVE_EFER: u64 = 1 << 20;
    pub const VMEXIT_LOAD_EFER: u64 = 1 << 21;
    /// VM-entry: the guest is in IA-32e mode, load IA32_EFER from the guest area.
    pub const VMENTRY_GUEST_IA32E: u64 = 1 << 9;
    pub const VMENTRY_LOAD_EFER: u64 = 1 << 15;
    /// VM-entry interruption information: valid, type "hardware exception".
    pub const IRQ_INFO_VALID: u64 = 1 << 31;
    pub const IRQ_INFO_HARD_EXC: u64 = 3 << 8;
    pub const IRQ_INFO_ERROR_VALID: u64 = 1 << 11;
}

/// MSR numbers the backend passes through natively.
pub mod msr {
    pub const IA32_TSC: u32 = 0x10;
    pub const IA32_SYSENTER_CS: u32 = 0x174;
    pub const IA32_SYSENTER_ESP: u32 = 0x175;
    pub const IA32_SYSENTER_EIP: u32 = 0x176;
    pub const IA32_EFER: u32 = 0xc000_0080;
    pub const STAR: u32 = 0xc000_0081;
    pub const LSTAR: u32 = 0xc000_0082;
    pub const CSTAR: u32 = 0xc000_0083;
    pub const FMASK: u32 = 0xc000_0084;
    pub const FS_BASE: u32 = 0xc000_0100;
    pub const GS_BASE: u32 = 0xc000_0101;
    pub const KERNEL_GS_BASE: u32 = 0xc000_0102;
    pub const TSC_AUX: u32 = 0xc000_0103;

    /// Native (no exit) in the guest: the SYSCALL MSRs and the segment bases, which the
    /// guest kernel and `swapgs`/`wrfsbase` use on hot paths.
    /// (The list other Hypervisor.framework VMMs enable; TSC_AUX separately, see hvf.rs.)
    pub const NATIVE: [u32; 10] = [
        STAR,
        LSTAR,
        CSTAR,
        FMASK,
        FS_BASE,
        GS_BASE,
        KERNEL_GS_BASE,
        IA32_SYSENTER_CS,
        IA32_SYSENTER_ESP,
        IA32_SYSENTER_EIP,
    ];
}

#[cfg(all(target_os = "macos", target_arch = "x86_64"))]
#[link(name = "Hypervisor", kind = "framework")]
extern "C" {
    // hv.h
    pub fn hv_vm_create(flags: HvOptions) -> HvReturn;
    pub fn hv_vm_destroy() -> HvReturn;
    pub fn hv_vm_map(uva: *const core::ffi::c_void, gpa: u64, size: usize, flags: HvOptions) -> HvReturn;
    pub fn hv_vm_unmap(gpa: u64, size: usize) -> HvReturn;
    pub fn hv_vm_sync_tsc(tsc: u64) -> HvReturn;
    pub fn hv_vcpu_create(vcpu: *mut HvVcpuId, flags: HvOptions) -> HvReturn;
    pub fn hv_vcpu_destroy(vcpu: HvVcpuId) -> HvReturn;
    pub fn hv_vcpu_read_register(vcpu: HvVcpuId, reg: HvX86Reg, value: *mut u64) -> HvReturn;
    pub fn hv_vcpu_write_register(vcpu: HvVcpuId, reg: HvX86Reg, value: u64) -> HvReturn;
    pub fn hv_vcpu_read_fpstate(vcpu: HvVcpuId, buffer: *mut core::ffi::c_void, size: usize) -> HvReturn;
    pub fn hv_vcpu_write_fpstate(vcpu: HvVcpuId, buffer: *mut core::ffi::c_void, size: usize) -> HvReturn;
    pub fn hv_vcpu_enable_native_msr(vcpu: HvVcpuId, msr: u32, enable: bool) -> HvReturn;
    pub fn hv_vcpu_read_msr(vcpu: HvVcpuId, msr: u32, value: *mut u64) -> HvReturn;
    pub fn hv_vcpu_write_msr(vcpu: HvVcpuId, msr: u32, value: u64) -> HvReturn;
    pub fn hv_vcpu_flush(vcpu: HvVcpuId) -> HvReturn;
    pub fn hv_vcpu_invalidate_tlb(vcpu: HvVcpuId) -> HvReturn;
    pub fn hv_vcpu_run(vcpu: HvVcpuId) -> HvReturn;
    pub fn hv_vcpu_interrupt(vcpus: *mut HvVcpuId, vcpu_count: u32) -> HvReturn;
    pub fn hv_vcpu_get_exec_time(vcpu: HvVcpuId, time: *mut u64) -> HvReturn;
    // hv_vmx.h
    pub fn hv_vmx_vcpu_read_vmcs(vcpu: HvVcpuId, field: u32, value: *mut u64) -> HvReturn;
    pub fn hv_vmx_vcpu_write_vmcs(vcpu: HvVcpuId, field: u32, value: u64) -> HvReturn;
    pub fn hv_vmx_read_capability(field: HvVmxCapability, value: *mut u64) -> HvReturn;
}
