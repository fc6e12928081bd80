//! The arm64 backends' pure parts, compiled on every host and unit-tested on Linux x86_64:
//! KVM's register ids for the registers the first state sets (KVM_SET_ONE_REG), and what
//! a doorbell store means. (Hypervisor.framework's arm64 backend will name the same
//! registers through its own enums.)

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

/// The id of system register (op0, op1, CRn, CRm, op2).
pub const fn sys_reg(op0: u64, op1: u64, crn: u64, crm: u64, op2: u64) -> u64 {
    REG_U64 | SYSREG | (op0 << 14) | (op1 << 11) | (crn << 7) | (crm << 3) | op2
}

// `struct kvm_regs`: regs[31], sp (SP_EL0), pc, pstate, then sp_el1.
pub const X0: u64 = core_reg(0);
pub const SP_EL0: u64 = core_reg(31 * 8);
pub const PC: u64 = core_reg(32 * 8);
pub const PSTATE: u64 = core_reg(33 * 8);
pub const SP_EL1: u64 = core_reg(34 * 8);
pub const SCTLR_EL1: u64 = sys_reg(3, 0, 1, 0, 0);
pub const CPACR_EL1: u64 = sys_reg(3, 0, 1, 0, 2);
pub const TTBR0_EL1: u64 = sys_reg(3, 0, 2, 0, 0);
pub const TTBR1_EL1: u64 = sys_reg(3, 0, 2, 0, 1);
pub const TCR_EL1: u64 = sys_reg(3, 0, 2, 0, 2);
pub const ESR_EL1: u64 = sys_reg(3, 0, 5, 2, 0);
pub const FAR_EL1: u64 = sys_reg(3, 0, 6, 0, 0);
pub const MAIR_EL1: u64 = sys_reg(3, 0, 10, 2, 0);

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
        assert_eq!(SCTLR_EL1, 0x6030_0000_0013_c080);
        assert_eq!(TCR_EL1, 0x6030_0000_0013_c102);
        assert_eq!(MAIR_EL1, 0x6030_0000_0013_c510);
        assert_eq!(ESR_EL1, 0x6030_0000_0013_c290);
    }

    #[test]
    fn doorbells_map_to_exits() {
        assert_eq!(doorbell_exit(u64::from(ports::HYPERCALL)), Exit::Hypercall);
        assert_eq!(doorbell_exit(u64::from(ports::GROW_RAM)), Exit::GrowRam);
        assert_eq!(doorbell_exit(0x99), Exit::UnknownPort(0x99));
        assert!(matches!(doorbell_exit(1 << 40), Exit::Other(_)));
    }
}
