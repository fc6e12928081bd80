//! What an arm64 guest's trap to the hypervisor means, from the raw exception syndrome
//! (ESR_EL2) and fault address the hypervisor hands over. KVM decodes these itself; Apple's
//! Hypervisor.framework gives them to the monitor as they are (`hv_vcpu_exit_t`), so the
//! `hvf_arm64.rs` backend decides from them what the exit is. Pure functions of numbers,
//! compiled on every host and unit-tested on Linux (Arm ARM, "ESR_EL2").

#![cfg_attr(not(all(target_os = "macos", target_arch = "aarch64")), allow(dead_code))]

use abi_shared::layout::{arm64, PAGE_SIZE};

/// Exception classes (ESR_ELx.EC) a guest at EL1/EL0 can raise to EL2.
pub mod ec {
    pub const UNKNOWN: u8 = 0x00;
    pub const WFX: u8 = 0x01;
    pub const FP_ACCESS: u8 = 0x07;
    pub const HVC64: u8 = 0x16;
    pub const SMC64: u8 = 0x17;
    pub const SYS_REG: u8 = 0x18;
    pub const INSTR_ABORT_LOWER: u8 = 0x20;
    pub const PC_ALIGN: u8 = 0x22;
    pub const DATA_ABORT_LOWER: u8 = 0x24;
    pub const SP_ALIGN: u8 = 0x26;
    pub const SERROR: u8 = 0x2f;
    pub const BRK64: u8 = 0x3c;
}

/// A decoded syndrome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Syndrome {
    /// WFI (`wfe` false) or WFE trapped; the instruction is to be stepped over.
    Wait {
        wfe: bool,
    },
    /// HVC #imm; the return address is already past it.
    Hvc {
        imm: u16,
    },
    /// A trapped MSR/MRS: the register's encoding, the general register, and whether it
    /// reads (MRS); the instruction is to be stepped over.
    SysReg {
        encoding: u16,
        rt: u8,
        read: bool,
    },
    /// A stage-2 data abort. With `valid` (ISV) the access is described: a `size`-byte
    /// load or store (`write`) of register `rt` (31: the zero register).
    DataAbort {
        valid: bool,
        write: bool,
        size: u8,
        rt: u8,
        sign_extend: bool,
        stage1_walk: bool,
    },
    /// A stage-2 instruction abort: the guest executed from memory it has not got.
    InstructionAbort,
    Other {
        ec: u8,
        iss: u32,
    },
}

pub fn exception_class(esr: u64) -> u8 {
    ((esr >> 26) & 0x3f) as u8
}

pub fn decode_syndrome(esr: u64) -> Syndrome {
    let iss = (esr & 0x1ff_ffff) as u32;
    match exception_class(esr) {
        ec::WFX => Syndrome::Wait { wfe: iss & 1 != 0 },
        ec::HVC64 => Syndrome::Hvc { imm: (iss & 0xffff) as u16 },
        ec::SYS_REG => {
            let op0 = ((iss >> 20) & 3) as u16;
            let op2 = ((iss >> 17) & 7) as u16;
            let op1 = ((iss >> 14) & 7) as u16;
            let crn = ((iss >> 10) & 0xf) as u16;
            let crm = ((iss >> 1) & 0xf) as u16;
            Syndrome::SysReg {
                encoding: super::arm64_regs::sys_reg_encoding(op0, op1, crn, crm, op2),
                rt: ((iss >> 5) & 0x1f) as u8,
                read: iss & 1 != 0,
            }
        }
        ec::DATA_ABORT_LOWER => Syndrome::DataAbort {
            valid: iss & (1 << 24) != 0,
            write: iss & (1 << 6) != 0,
            size: 1 << ((iss >> 22) & 3),
            rt: ((iss >> 16) & 0x1f) as u8,
            sign_extend: iss & (1 << 21) != 0,
            stage1_walk: iss & (1 << 7) != 0,
        },
        ec::INSTR_ABORT_LOWER => Syndrome::InstructionAbort,
        other => Syndrome::Other { ec: other, iss },
    }
}

/// Where a data abort's guest-physical address lies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AbortTarget {
    /// The doorbell page (`layout::arm64::DOORBELL_GPA`).
    Doorbell,
    /// Guest RAM, which is mapped whole: the host could not provide the page (a shared
    /// file mapping past its file's end), as KVM's EFAULT.
    Ram,
    /// Nothing is there.
    Unbacked,
}

pub fn abort_target(ipa: u64, mem_size: u64) -> AbortTarget {
    if (arm64::DOORBELL_GPA..arm64::DOORBELL_GPA + PAGE_SIZE).contains(&ipa) {
        AbortTarget::Doorbell
    } else if ipa < mem_size {
        AbortTarget::Ram
    } else {
        AbortTarget::Unbacked
    }
}

/// PSCI functions (SMC calling convention, through HVC) a guest may call to end itself.
pub mod psci {
    pub const SYSTEM_OFF: u64 = 0x8400_0008;
    pub const SYSTEM_RESET: u64 = 0x8400_0009;
    /// The answer to anything else: NOT_SUPPORTED (-1).
    pub const NOT_SUPPORTED: u64 = u64::MAX;
}

/// An HVC call with function id `x0`: does the guest ask to be switched off?
pub fn psci_ends_guest(x0: u64) -> bool {
    x0 == psci::SYSTEM_OFF || x0 == psci::SYSTEM_RESET
}

/// The value a load of `size` bytes gets from an unbacked address or a register that reads
/// as zero: 0; and the value a store of `size` bytes of register value `reg` carries.
pub fn stored_value(reg: u64, size: u8) -> u64 {
    match size {
        8 => reg,
        s => reg & ((1u64 << (u32::from(s) * 8)) - 1),
    }
}

/// The smallest guest-physical address size, in bits, that reaches both guest RAM and the
/// doorbell page (Hypervisor.framework's VMs default to 36 bits, 64 GiB).
pub fn ipa_bits_needed(mem_size: u64) -> u32 {
    let top = (arm64::DOORBELL_GPA + PAGE_SIZE).max(mem_size);
    64 - (top - 1).leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// ESR with exception class `ec`, IL set (a 32-bit instruction), and `iss`.
    fn esr(ec: u8, iss: u32) -> u64 {
        u64::from(ec) << 26 | 1 << 25 | u64::from(iss)
    }

    #[test]
    fn doorbell_stores_decode() {
        // str x1, [x0]: ISV, SAS=3 (8 bytes), SRT=1, SF, WnR, DFSC translation fault L3.
        let s = decode_syndrome(esr(ec::DATA_ABORT_LOWER, 1 << 24 | 3 << 22 | 1 << 16 | 1 << 15 | 1 << 6 | 0x07));
        assert_eq!(
            s,
            Syndrome::DataAbort { valid: true, write: true, size: 8, rt: 1, sign_extend: false, stage1_walk: false }
        );
        // ldrsh w3, [x2]: 2 bytes, sign-extended, a load.
        let s = decode_syndrome(esr(ec::DATA_ABORT_LOWER, 1 << 24 | 1 << 22 | 1 << 21 | 3 << 16));
        assert_eq!(
            s,
            Syndrome::DataAbort { valid: true, write: false, size: 2, rt: 3, sign_extend: true, stage1_walk: false }
        );
        // No ISV (a load pair, say): nothing to emulate.
        assert!(matches!(decode_syndrome(esr(ec::DATA_ABORT_LOWER, 1 << 6)), Syndrome::DataAbort { valid: false, .. }));
    }

    #[test]
    fn other_traps_decode() {
        assert_eq!(decode_syndrome(esr(ec::WFX, 0)), Syndrome::Wait { wfe: false });
        assert_eq!(decode_syndrome(esr(ec::WFX, 1)), Syndrome::Wait { wfe: true });
        assert_eq!(decode_syndrome(esr(ec::HVC64, 0x1234)), Syndrome::Hvc { imm: 0x1234 });
        assert_eq!(decode_syndrome(esr(ec::INSTR_ABORT_LOWER, 0x0f)), Syndrome::InstructionAbort);
        assert_eq!(decode_syndrome(esr(ec::BRK64, 7)), Syndrome::Other { ec: ec::BRK64, iss: 7 });
        // mrs x5, osdlr_el1 (op0 2, op1 0, CRn 1, CRm 3, op2 4): a read into x5.
        let iss = 2 << 20 | 4 << 17 | 1 << 10 | 5 << 5 | 3 << 1 | 1;
        assert_eq!(
            decode_syndrome(esr(ec::SYS_REG, iss)),
            Syndrome::SysReg { encoding: super::super::arm64_regs::sys_reg_encoding(2, 0, 1, 3, 4), rt: 5, read: true }
        );
        // msr cntv_ctl_el0, x0: the architectural encoding comes back.
        let iss = 3 << 20 | 1 << 17 | 3 << 14 | 14 << 10 | 3 << 1;
        assert_eq!(
            decode_syndrome(esr(ec::SYS_REG, iss)),
            Syndrome::SysReg { encoding: super::super::arm64_regs::enc::CNTV_CTL_EL0, rt: 0, read: false }
        );
    }

    #[test]
    fn aborts_find_their_target() {
        assert_eq!(abort_target(arm64::DOORBELL_GPA, 1 << 30), AbortTarget::Doorbell);
        assert_eq!(abort_target(arm64::DOORBELL_GPA + 8, 1 << 30), AbortTarget::Doorbell);
        assert_eq!(abort_target(arm64::DOORBELL_GPA + PAGE_SIZE, 1 << 30), AbortTarget::Unbacked);
        assert_eq!(abort_target(0x1000, 1 << 30), AbortTarget::Ram);
        assert_eq!(abort_target(1 << 30, 1 << 30), AbortTarget::Unbacked);
    }

    #[test]
    fn psci_and_values() {
        assert!(psci_ends_guest(psci::SYSTEM_OFF));
        assert!(psci_ends_guest(psci::SYSTEM_RESET));
        assert!(!psci_ends_guest(0x8400_0000));
        assert_eq!(stored_value(0x1122_3344_5566_7788, 8), 0x1122_3344_5566_7788);
        assert_eq!(stored_value(0x1122_3344_5566_7788, 4), 0x5566_7788);
        assert_eq!(stored_value(0x1122_3344_5566_7788, 1), 0x88);
    }

    #[test]
    fn the_doorbell_needs_a_40_bit_ipa_space() {
        // 0xff_0000_0000 is just below 1 TiB: 40 bits, more than the framework's default 36.
        assert_eq!(ipa_bits_needed(1 << 30), 40);
        assert_eq!(ipa_bits_needed(2 << 40), 41);
        assert_eq!(ipa_bits_needed((2 << 40) + 1), 42);
    }
}
