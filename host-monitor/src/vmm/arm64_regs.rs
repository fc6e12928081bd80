//! The arm64 backends' pure parts, compiled on every host and unit-tested on Linux x86_64:
//! the system registers the first state sets, by their architectural encoding, which both
//! hypervisors name them by (KVM's KVM_SET_ONE_REG ids wrap it, Hypervisor.framework's
//! `hv_sys_reg_t` is it), KVM's core-register ids, the generic timer's frequency, and
//! what a doorbell store means. The exits of Hypervisor.framework, which hands the
//! monitor raw exception syndromes, are decoded in `arm64_exits.rs`.

use abi_shared::layout::ports;

use super::Exit;

/// KVM_REG_ARM64 | KVM_REG_SIZE_U64.
const REG_U64: u64 = 0x6030_0000_0000_0000;
/// KVM_REG_ARM_CORE: an offset into `struct kvm_regs`, in 32-bit words.
const CORE: u64 = 0x0010 << 16;
/// KVM_REG_ARM64_SYSREG.
const SYSREG: u64 = 0x0013 << 16;

/// The id of the 64-bit core register at byte `offset` of `struct kvm_regs`.
pub const fn core_reg(offset: u64) -> u64 {
    REG_U64 | CORE | (offset / 4)
}

/// The architectural encoding of system register (op0, op1, CRn, CRm, op2), as MRS/MSR
/// and the ESR of a trapped access give it (and as `hv_sys_reg_t` numbers it).
pub const fn sys_reg_encoding(op0: u16, op1: u16, crn: u16, crm: u16, op2: u16) -> u16 {
    (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2
}

/// KVM's id of the system register with encoding `enc`.
pub const fn kvm_sys_reg(enc: u16) -> u64 {
    REG_U64 | SYSREG | enc as u64
}

/// System registers by encoding, shared by the backends.
#[allow(dead_code)] // A table: not every register has a user in every build.
pub mod enc {
    use super::sys_reg_encoding as e;

    pub const SCTLR_EL1: u16 = e(3, 0, 1, 0, 0);
    pub const CPACR_EL1: u16 = e(3, 0, 1, 0, 2);
    pub const TTBR0_EL1: u16 = e(3, 0, 2, 0, 0);
    pub const TTBR1_EL1: u16 = e(3, 0, 2, 0, 1);
    pub const TCR_EL1: u16 = e(3, 0, 2, 0, 2);
    pub const SPSR_EL1: u16 = e(3, 0, 4, 0, 0);
    pub const ELR_EL1: u16 = e(3, 0, 4, 0, 1);
    pub const SP_EL0: u16 = e(3, 0, 4, 1, 0);
    pub const ESR_EL1: u16 = e(3, 0, 5, 2, 0);
    pub const FAR_EL1: u16 = e(3, 0, 6, 0, 0);
    pub const MAIR_EL1: u16 = e(3, 0, 10, 2, 0);
    pub const VBAR_EL1: u16 = e(3, 0, 12, 0, 0);
    pub const TPIDR_EL1: u16 = e(3, 0, 13, 0, 4);
    pub const CNTKCTL_EL1: u16 = e(3, 0, 14, 1, 0);
    pub const TPIDR_EL0: u16 = e(3, 3, 13, 0, 2);
    pub const TPIDRRO_EL0: u16 = e(3, 3, 13, 0, 3);
    pub const CNTV_CTL_EL0: u16 = e(3, 3, 14, 3, 1);
    pub const CNTV_CVAL_EL0: u16 = e(3, 3, 14, 3, 2);
    pub const SP_EL1: u16 = e(3, 4, 4, 1, 0);
}

/// The EL1 system registers the first state (`Arm64BootState`) sets, in the order they
/// are written: the MMU's registers before SCTLR_EL1 turns it on.
pub fn boot_sys_regs(st: &super::Arm64BootState) -> [(u16, u64, &'static str); 6] {
    [
        (enc::MAIR_EL1, st.mair_el1, "MAIR_EL1"),
        (enc::TCR_EL1, st.tcr_el1, "TCR_EL1"),
        (enc::TTBR0_EL1, st.ttbr0_el1, "TTBR0_EL1"),
        (enc::TTBR1_EL1, st.ttbr1_el1, "TTBR1_EL1"),
        (enc::CPACR_EL1, st.cpacr_el1, "CPACR_EL1"),
        (enc::SCTLR_EL1, st.sctlr_el1, "SCTLR_EL1"),
    ]
}

// `struct kvm_regs`: regs[31], sp (SP_EL0), pc, pstate, then sp_el1.
pub const X0: u64 = core_reg(0);
pub const SP_EL0: u64 = core_reg(31 * 8);
pub const PC: u64 = core_reg(32 * 8);
pub const PSTATE: u64 = core_reg(33 * 8);
pub const SP_EL1: u64 = core_reg(34 * 8);
pub const TTBR0_EL1: u64 = kvm_sys_reg(enc::TTBR0_EL1);
pub const ESR_EL1: u64 = kvm_sys_reg(enc::ESR_EL1);
pub const FAR_EL1: u64 = kvm_sys_reg(enc::FAR_EL1);

/// CNTFRQ_EL0 of this host (the guest's virtual counter runs at the same rate), in kHz.
#[cfg(target_arch = "aarch64")]
pub fn counter_khz() -> u64 {
    let hz: u64;
    // SAFETY: reading CNTFRQ_EL0 at EL0 is allowed (Linux and macOS) and has no side effects.
    unsafe { core::arch::asm!("mrs {}, cntfrq_el0", out(reg) hz, options(nomem, nostack)) };
    hz / 1000
}

/// The exit a store of `value` to the doorbell page stands for (its value is the
/// `layout::ports` number of the x86_64 doorbell it replaces).
pub fn doorbell_exit(value: u64) -> Exit {
    match u16::try_from(value) {
        Ok(ports::HYPERCALL) => Exit::Hypercall,
        Ok(ports::GROW_RAM) => Exit::GrowRam,
        Ok(other) => Exit::UnknownPort(other),
        Err(_) => Exit::Other(format!("doorbell with value {value:#x}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn register_ids_are_kvms() {
        // As the kernel's ARM64_CORE_REG / ARM64_SYS_REG macros give them.
        assert_eq!(PC, 0x6030_0000_0010_0040);
        assert_eq!(X0, 0x6030_0000_0010_0000);
        assert_eq!(PSTATE, 0x6030_0000_0010_0042);
        assert_eq!(SP_EL1, 0x6030_0000_0010_0044);
        assert_eq!(kvm_sys_reg(enc::SCTLR_EL1), 0x6030_0000_0013_c080);
        assert_eq!(kvm_sys_reg(enc::TCR_EL1), 0x6030_0000_0013_c102);
        assert_eq!(kvm_sys_reg(enc::MAIR_EL1), 0x6030_0000_0013_c510);
        assert_eq!(ESR_EL1, 0x6030_0000_0013_c290);
    }

    #[test]
    fn system_register_encodings_are_the_architectures() {
        // As the Arm ARM encodes them (and hv_sys_reg_t numbers them).
        assert_eq!(enc::SCTLR_EL1, 0xc080);
        assert_eq!(enc::TTBR0_EL1, 0xc100);
        assert_eq!(enc::TTBR1_EL1, 0xc101);
        assert_eq!(enc::TCR_EL1, 0xc102);
        assert_eq!(enc::SPSR_EL1, 0xc200);
        assert_eq!(enc::ELR_EL1, 0xc201);
        assert_eq!(enc::SP_EL0, 0xc208);
        assert_eq!(enc::ESR_EL1, 0xc290);
        assert_eq!(enc::FAR_EL1, 0xc300);
        assert_eq!(enc::MAIR_EL1, 0xc510);
        assert_eq!(enc::VBAR_EL1, 0xc600);
        assert_eq!(enc::TPIDR_EL0, 0xde82);
        assert_eq!(enc::CNTV_CTL_EL0, 0xdf19);
        assert_eq!(enc::CNTV_CVAL_EL0, 0xdf1a);
        assert_eq!(enc::SP_EL1, 0xe208);
        assert_eq!(kvm_sys_reg(sys_reg_encoding(3, 0, 2, 0, 0)), TTBR0_EL1);
    }

    #[test]
    fn boot_registers_turn_the_mmu_on_last() {
        let st = crate::vmm::Arm64BootState { sctlr_el1: 1, mair_el1: 2, ..Default::default() };
        let regs = boot_sys_regs(&st);
        assert_eq!(regs.last().map(|r| (r.0, r.1)), Some((enc::SCTLR_EL1, 1)));
        assert_eq!(regs[0], (enc::MAIR_EL1, 2, "MAIR_EL1"));
    }

    #[test]
    fn doorbells_map_to_exits() {
        assert_eq!(doorbell_exit(u64::from(ports::HYPERCALL)), Exit::Hypercall);
        assert_eq!(doorbell_exit(u64::from(ports::GROW_RAM)), Exit::GrowRam);
        assert_eq!(doorbell_exit(0x99), Exit::UnknownPort(0x99));
        assert!(matches!(doorbell_exit(1 << 40), Exit::Other(_)));
    }
}
