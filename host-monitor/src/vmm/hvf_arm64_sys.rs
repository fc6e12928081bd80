//! A thin FFI module for Apple's Hypervisor.framework on Apple Silicon (arm64 guests),
//! written from Apple's headers (`Hypervisor/hv_vm.h`, `hv_vcpu.h`, `hv_vcpu_types.h`,
//! `hv_vm_config.h`, `hv_gic` left out) for the `hvf_arm64.rs` backend.
//!
//! As `hvf_sys.rs` for Intel Macs: no build script and no SDK; the types and constants are
//! compiled on every host (their tests run on Linux), and the `extern` block exists only
//! on aarch64 macOS, where it links `Hypervisor.framework`, so that `cargo clippy --target
//! aarch64-apple-darwin` type-checks the backend on a Linux machine. The return codes and
//! memory flags are the Intel framework's (`hvf_sys`).
//!
//! Differences from the Intel API worth knowing: a vCPU is a `uint64_t`; `hv_vcpu_create`
//! hands back a pointer to the vCPU's exit structure, which `hv_vcpu_run` fills; general
//! registers (`hv_reg_t`, 32-bit enum) and system registers (`hv_sys_reg_t`, a 16-bit enum
//! whose values are the architectural encodings, `arm64_regs::enc`) have separate calls;
//! `hv_vcpus_exit` stops running vCPUs from any thread; `hv_vm_create` takes a
//! configuration object (NULL: the defaults, whose guest-physical space is 36 bits).
#![allow(dead_code)] // A binding: not every constant has a user yet.

// Used by the extern block and the backend, which exist on Apple Silicon only.
#[allow(unused_imports)]
pub use super::hvf_sys::{HvReturn, HV_MEMORY_EXEC, HV_MEMORY_READ, HV_MEMORY_WRITE, HV_SUCCESS};

/// `hv_vcpu_t`.
pub type HvVcpu = u64;
/// `hv_reg_t` (an enum of `uint32_t`).
pub type HvReg = u32;
/// `hv_sys_reg_t` (an enum of `uint16_t`: the register's encoding).
pub type HvSysReg = u16;
/// `hv_exit_reason_t` (an enum of `uint32_t`).
pub type HvExitReason = u32;
/// `hv_interrupt_type_t` (an enum of `uint32_t`).
pub type HvInterruptType = u32;
/// `hv_vm_config_t`, `hv_vcpu_config_t`: OS objects (NULL for the defaults).
pub type HvConfig = *mut core::ffi::c_void;
/// `hv_memory_flags_t`.
pub type HvMemoryFlags = u64;

// hv_reg_t: X0..X30, then PC, FPCR, FPSR, CPSR.
pub const HV_REG_X0: HvReg = 0;
pub const HV_REG_X30: HvReg = 30;
pub const HV_REG_PC: HvReg = 31;
pub const HV_REG_FPCR: HvReg = 32;
pub const HV_REG_FPSR: HvReg = 33;
pub const HV_REG_CPSR: HvReg = 34;

/// General register `n` (0..=30) as `hv_reg_t`; 31 (the zero register in a load or store)
/// has none.
pub fn x_reg(n: u8) -> Option<HvReg> {
    (n <= 30).then(|| HV_REG_X0 + u32::from(n))
}

// hv_exit_reason_t.
pub const HV_EXIT_REASON_CANCELED: HvExitReason = 0;
pub const HV_EXIT_REASON_EXCEPTION: HvExitReason = 1;
pub const HV_EXIT_REASON_VTIMER_ACTIVATED: HvExitReason = 2;
pub const HV_EXIT_REASON_UNKNOWN: HvExitReason = 3;

// hv_interrupt_type_t.
pub const HV_INTERRUPT_TYPE_IRQ: HvInterruptType = 0;
pub const HV_INTERRUPT_TYPE_FIQ: HvInterruptType = 1;

/// `hv_vcpu_exit_exception_t`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct HvExitException {
    /// ESR_EL2 of the trap.
    pub syndrome: u64,
    /// FAR_EL2: the guest-virtual address of an abort.
    pub virtual_address: u64,
    /// The guest-physical (intermediate physical) address of a stage-2 abort.
    pub physical_address: u64,
}

/// `hv_vcpu_exit_t`, filled by `hv_vcpu_run`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct HvVcpuExit {
    pub reason: HvExitReason,
    pub exception: HvExitException,
}

#[cfg(all(target_os = "macos", target_arch = "aarch64"))]
#[link(name = "Hypervisor", kind = "framework")]
extern "C" {
    // hv_vm.h, hv_vm_config.h (macOS 13: the guest-physical address size).
    pub fn hv_vm_create(config: HvConfig) -> HvReturn;
    pub fn hv_vm_destroy() -> HvReturn;
    pub fn hv_vm_map(addr: *mut core::ffi::c_void, ipa: u64, size: usize, flags: HvMemoryFlags) -> HvReturn;
    pub fn hv_vm_unmap(ipa: u64, size: usize) -> HvReturn;
    pub fn hv_vm_config_create() -> HvConfig;
    pub fn hv_vm_config_get_max_ipa_size(ipa_bit_length: *mut u32) -> HvReturn;
    pub fn hv_vm_config_set_ipa_size(config: HvConfig, ipa_bit_length: u32) -> HvReturn;
    // hv_vcpu.h
    pub fn hv_vcpu_create(vcpu: *mut HvVcpu, exit: *mut *const HvVcpuExit, config: HvConfig) -> HvReturn;
    pub fn hv_vcpu_destroy(vcpu: HvVcpu) -> HvReturn;
    pub fn hv_vcpu_get_reg(vcpu: HvVcpu, reg: HvReg, value: *mut u64) -> HvReturn;
    pub fn hv_vcpu_set_reg(vcpu: HvVcpu, reg: HvReg, value: u64) -> HvReturn;
    pub fn hv_vcpu_get_sys_reg(vcpu: HvVcpu, reg: HvSysReg, value: *mut u64) -> HvReturn;
    pub fn hv_vcpu_set_sys_reg(vcpu: HvVcpu, reg: HvSysReg, value: u64) -> HvReturn;
    pub fn hv_vcpu_run(vcpu: HvVcpu) -> HvReturn;
    pub fn hv_vcpus_exit(vcpus: *const HvVcpu, vcpu_count: u32) -> HvReturn;
    pub fn hv_vcpu_set_pending_interrupt(vcpu: HvVcpu, kind: HvInterruptType, pending: bool) -> HvReturn;
    pub fn hv_vcpu_get_vtimer_mask(vcpu: HvVcpu, masked: *mut bool) -> HvReturn;
    pub fn hv_vcpu_set_vtimer_mask(vcpu: HvVcpu, masked: bool) -> HvReturn;
    pub fn hv_vcpu_get_vtimer_offset(vcpu: HvVcpu, offset: *mut u64) -> HvReturn;
    pub fn hv_vcpu_set_vtimer_offset(vcpu: HvVcpu, offset: u64) -> HvReturn;
    pub fn hv_vcpu_get_exec_time(vcpu: HvVcpu, time: *mut u64) -> HvReturn;
}

// os/object.h: configuration objects are released with os_release (libSystem).
#[cfg(all(target_os = "macos", target_arch = "aarch64"))]
extern "C" {
    pub fn os_release(object: *mut core::ffi::c_void);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exit_structure_has_the_c_layout() {
        // reason (4 bytes, padded to 8), then three 64-bit words.
        assert_eq!(std::mem::size_of::<HvVcpuExit>(), 32);
        assert_eq!(std::mem::offset_of!(HvVcpuExit, exception), 8);
        assert_eq!(std::mem::offset_of!(HvExitException, physical_address), 16);
    }

    #[test]
    fn general_registers_number_as_the_header_does() {
        assert_eq!(x_reg(0), Some(HV_REG_X0));
        assert_eq!(x_reg(30), Some(HV_REG_X30));
        assert_eq!(x_reg(31), None, "the zero register");
        assert_eq!((HV_REG_PC, HV_REG_CPSR), (31, 34));
    }
}
