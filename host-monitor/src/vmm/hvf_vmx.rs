//! VMX for the Hypervisor.framework backend (`hvf.rs`), as pure functions of numbers:
//! VM-execution control words from the processor's capabilities, exit-qualification
//! decoding, segment access rights, exception injection words and the CPUID the guest
//! sees. Built on every host, so that Linux runs their tests; only the backend, which
//! exists on Intel macOS alone, uses them.

#![cfg_attr(not(all(target_os = "macos", target_arch = "x86_64")), allow(dead_code))]

use super::hvf_sys::{ctrl, vmcs, HvX86Reg};

/// A VMX control word from the capability the framework reports (low 32 bits: bits that
/// must be 1; high 32 bits: bits that may be 1) and the bits we want.
pub fn cap2ctrl(cap: u64, want: u64) -> u64 {
    (want | (cap & 0xffff_ffff)) & (cap >> 32)
}

/// The wanted bits this processor cannot set (empty when everything is available).
pub fn unavailable_ctrl(cap: u64, want: u64) -> u64 {
    want & !(cap >> 32)
}

/// The VMX capabilities the framework reports (`hv_vmx_read_capability`).
#[derive(Debug, Clone, Copy)]
pub struct VmxCaps {
    pub pin: u64,
    pub proc1: u64,
    pub proc2: u64,
    pub entry: u64,
    pub exit: u64,
}

/// Secondary control: enable RDTSCP.
pub const PROC2_RDTSCP: u64 = 1 << 3;
/// Secondary control: enable INVPCID.
const PROC2_INVPCID: u64 = 1 << 12;

/// The control fields a vCPU starts with, as (VMCS field, value), and whether the guest may
/// execute RDTSCP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Controls {
    pub fields: [(u32, u64); 8],
    pub rdtscp: bool,
}

impl Controls {
    /// The value of VMCS `field` here (0 if it is not one of the control fields).
    pub fn value(&self, field: u32) -> u64 {
        self.fields.iter().find(|(f, _)| *f == field).map_or(0, |(_, v)| *v)
    }
}

/// The VM-execution, entry and exit controls and masks for `caps`, or None when this
/// processor cannot enter a 64-bit guest that has its own EFER.
pub fn controls(caps: &VmxCaps) -> Option<Controls> {
    let want_entry = ctrl::VMENTRY_GUEST_IA32E | ctrl::VMENTRY_LOAD_EFER;
    if unavailable_ctrl(caps.entry, want_entry) != 0 {
        return None;
    }
    let proc2 = cap2ctrl(caps.proc2, PROC2_RDTSCP | PROC2_INVPCID);
    // CR8 load/store exiting with HLT exiting: other Hypervisor.framework VMMs report HLT
    // exits depend on them (our guest never touches CR8).
    let proc1 =
        ctrl::CPU_BASED_HLT | ctrl::CPU_BASED_CR8_LOAD | ctrl::CPU_BASED_CR8_STORE | ctrl::CPU_BASED_SECONDARY_CTLS;
    let fields = [
        (vmcs::CTRL_PIN_BASED, cap2ctrl(caps.pin, 0)),
        (vmcs::CTRL_CPU_BASED, cap2ctrl(caps.proc1, proc1)),
        (vmcs::CTRL_CPU_BASED2, proc2),
        (vmcs::CTRL_VMENTRY_CONTROLS, cap2ctrl(caps.entry, want_entry)),
        // Host state is the framework's business: only the bits it demands. (The guest's
        // EFER changes only through our WRMSR emulation, so it need not be saved on exit.)
        (vmcs::CTRL_VMEXIT_CONTROLS, cap2ctrl(caps.exit, 0)),
        // The guest kernel handles its own exceptions.
        (vmcs::CTRL_EXC_BITMAP, 0),
        (vmcs::CTRL_CR0_MASK, CR0_MASK),
        (vmcs::CTRL_CR4_MASK, CR4_MASK),
    ];
    Some(Controls { fields, rdtscp: proc2 & PROC2_RDTSCP != 0 })
}

/// An I/O-instruction exit, decoded from its exit qualification (Intel SDM table 28-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IoExit {
    pub port: u16,
    /// Access size in bytes: 1, 2 or 4.
    pub size: u8,
    pub is_in: bool,
    /// INS/OUTS (string instructions), which the doorbell never uses.
    pub string: bool,
    pub rep: bool,
}

pub fn decode_io(qualification: u64) -> IoExit {
    IoExit {
        port: (qualification >> 16) as u16,
        size: ((qualification & 7) + 1) as u8,
        is_in: qualification & (1 << 3) != 0,
        string: qualification & (1 << 4) != 0,
        rep: qualification & (1 << 5) != 0,
    }
}

/// RAX after an `in` from a port nobody serves: all ones in the accessed bytes (as an
/// unconnected ISA port reads), a 32-bit access zero-extending as it does on hardware.
pub fn rax_after_unserved_in(rax: u64, size: u8) -> u64 {
    match size {
        1 => (rax & !0xff) | 0xff,
        2 => (rax & !0xffff) | 0xffff,
        _ => 0xffff_ffff,
    }
}

/// A control-register access exit (Intel SDM table 28-3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CrAccess {
    pub cr: u8,
    /// 0: MOV to CR, 1: MOV from CR, 2: CLTS, 3: LMSW.
    pub kind: u8,
    /// General-purpose register number in the instruction's encoding (0 = RAX ... 15 = R15).
    pub gpr: u8,
}

pub fn decode_cr_access(qualification: u64) -> CrAccess {
    CrAccess {
        cr: (qualification & 0xf) as u8,
        kind: ((qualification >> 4) & 3) as u8,
        gpr: ((qualification >> 8) & 0xf) as u8,
    }
}

/// The framework's register id for a general-purpose register number as instructions
/// encode it (RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15), which is not the order of
/// `hv_x86_reg_t` (RAX, RCX, RDX, RBX, RSI, RDI, RSP, RBP, ...).
pub fn gpr_reg(encoding: u8) -> HvX86Reg {
    use super::hvf_sys::*;
    const BY_ENCODING: [HvX86Reg; 16] = [
        HV_X86_RAX, HV_X86_RCX, HV_X86_RDX, HV_X86_RBX, HV_X86_RSP, HV_X86_RBP, HV_X86_RSI, HV_X86_RDI, HV_X86_R8,
        HV_X86_R9, HV_X86_R10, HV_X86_R11, HV_X86_R12, HV_X86_R13, HV_X86_R14, HV_X86_R15,
    ];
    BY_ENCODING[usize::from(encoding & 15)]
}

/// VMCS segment access rights (Intel SDM 24.4.1): type, S, DPL, P, AVL, L, D/B, G, unusable.
pub mod ar {
    /// 64-bit ring-0 code: execute/read, accessed, S, P, L, G.
    pub const CODE64_RING0: u64 = 0xb | 1 << 4 | 1 << 7 | 1 << 13 | 1 << 15;
    /// Ring-0 data: read/write, accessed, S, P, D/B, G.
    pub const DATA_RING0: u64 = 0x3 | 1 << 4 | 1 << 7 | 1 << 14 | 1 << 15;
    /// A null selector (DS, ES, FS, GS, LDTR at boot): "segment unusable".
    pub const UNUSABLE: u64 = 1 << 16;
    /// A busy 64-bit TSS, present (VM entry demands type 11 for TR in IA-32e mode).
    pub const TSS64_BUSY: u64 = 0xb | 1 << 7;

    /// The descriptor privilege level in an access-rights value.
    pub fn dpl(ar: u64) -> u8 {
        ((ar >> 5) & 3) as u8
    }
}

/// CR0 bits the guest may not change without an exit (PE, NE, NW, CD, PG): VMX needs PE,
/// NE and PG set, and caching stays as the host wants.
pub const CR0_MASK: u64 = 1 | 1 << 5 | 1 << 29 | 1 << 30 | 1 << 31;
/// CR4.VMXE: set in the real CR4 (VMX operation demands it), hidden from the guest.
pub const CR4_VMXE: u64 = 1 << 13;
pub const CR4_MASK: u64 = CR4_VMXE;
const CR4_OSXSAVE: u64 = 1 << 18;

/// The interruption-information word that injects hardware exception `vector` (with an
/// error code for #GP and friends).
pub fn exception_info(vector: u8, has_error_code: bool) -> u64 {
    let mut info = u64::from(vector) | ctrl::IRQ_INFO_HARD_EXC | ctrl::IRQ_INFO_VALID;
    if has_error_code {
        info |= ctrl::IRQ_INFO_ERROR_VALID;
    }
    info
}

pub const VEC_UD: u8 = 6;
pub const VEC_GP: u8 = 13;

/// What the guest sees for CPUID, from the host's answer: VT-x, SMX and MONITOR/MWAIT are
/// hidden (the guest cannot use them), the hypervisor bit is set, OSXSAVE follows the
/// guest's CR4, the AVX family is hidden while the guest has not enabled XSAVE (so that no
/// program uses registers the guest kernel does not save), RDTSCP is shown only when the
/// VM lets the guest execute it, and the hypervisor leaves (0x4000_0000..) are empty.
pub fn filter_cpuid(leaf: u32, subleaf: u32, host: [u32; 4], guest_cr4: u64, rdtscp: bool) -> [u32; 4] {
    let [mut a, mut b, mut c, mut d] = host;
    let xsave_on = guest_cr4 & CR4_OSXSAVE != 0;
    match leaf {
        1 => {
            c &= !(1 << 3 | 1 << 5 | 1 << 6); // MONITOR, VMX, SMX
            c |= 1 << 31; // hypervisor present
            if xsave_on {
                c |= 1 << 27;
            } else {
                c &= !(1 << 27 | 1 << 28 | 1 << 12 | 1 << 29); // OSXSAVE, AVX, FMA, F16C
            }
        }
        7 if subleaf == 0 && !xsave_on => {
            // AVX2; the AVX-512 family (F, DQ, IFMA, PF, ER, CD, BW, VL).
            b &= !(1 << 5 | 1 << 16 | 1 << 17 | 1 << 21 | 1 << 26 | 1 << 27 | 1 << 28 | 1 << 30 | 1 << 31);
        }
        0x4000_0000..=0x4fff_ffff => (a, b, c, d) = (0, 0, 0, 0),
        0x8000_0001 if !rdtscp => d &= !(1 << 27),
        _ => {}
    }
    let _ = subleaf;
    [a, b, c, d]
}

#[cfg(test)]
mod tests {
    use super::super::hvf_sys::{self as sys, vmcs};
    use super::*;

    #[test]
    fn control_words_honour_the_capability() {
        // Must-be-one bits 0x16, may-be-one bits 0xffff: wanted 0x80 is kept, 0x10000 dropped.
        let cap = (0xffffu64 << 32) | 0x16;
        assert_eq!(cap2ctrl(cap, 0x80), 0x96);
        assert_eq!(cap2ctrl(cap, 0x1_0080), 0x96);
        assert_eq!(unavailable_ctrl(cap, 0x1_0080), 0x1_0000);
        assert_eq!(unavailable_ctrl(cap, 0x80), 0);
    }

    #[test]
    fn controls_follow_the_capabilities() {
        let everything = u64::MAX << 32;
        let caps = VmxCaps {
            pin: everything | 0x16,
            proc1: everything,
            proc2: everything,
            entry: everything,
            exit: everything,
        };
        let c = controls(&caps).unwrap();
        assert!(c.rdtscp);
        assert_eq!(c.value(vmcs::CTRL_PIN_BASED), 0x16, "only the bits the capability demands");
        assert_ne!(c.value(vmcs::CTRL_CPU_BASED) & ctrl::CPU_BASED_HLT, 0);
        assert_eq!(c.value(vmcs::CTRL_CR4_MASK), CR4_VMXE);
        let no_rdtscp = VmxCaps { proc2: everything & !(PROC2_RDTSCP << 32), ..caps };
        assert!(!controls(&no_rdtscp).unwrap().rdtscp);
        let no_long_mode = VmxCaps { entry: everything & !(ctrl::VMENTRY_GUEST_IA32E << 32), ..caps };
        assert_eq!(controls(&no_long_mode), None);
    }

    #[test]
    fn io_exit_qualification_decodes() {
        // out dx, al to port 0x510: size 0 (1 byte), direction out, DX-encoded.
        let q = 0x510u64 << 16;
        assert_eq!(decode_io(q), IoExit { port: 0x510, size: 1, is_in: false, string: false, rep: false });
        // in eax, dx from 0x3f8: size 3 (4 bytes), direction in.
        let q = (0x3f8u64 << 16) | 1 << 3 | 3;
        assert_eq!(decode_io(q), IoExit { port: 0x3f8, size: 4, is_in: true, string: false, rep: false });
        // rep outsb with an immediate port.
        let q = (0x80u64 << 16) | 1 << 6 | 1 << 5 | 1 << 4;
        let io = decode_io(q);
        assert!(io.string && io.rep && !io.is_in);
        assert_eq!(io.port, 0x80);
    }

    #[test]
    fn unserved_in_reads_all_ones() {
        assert_eq!(rax_after_unserved_in(0x1234_5678_9abc_def0, 1), 0x1234_5678_9abc_deff);
        assert_eq!(rax_after_unserved_in(0x1234_5678_9abc_def0, 2), 0x1234_5678_9abc_ffff);
        assert_eq!(rax_after_unserved_in(0x1234_5678_9abc_def0, 4), 0xffff_ffff);
    }

    #[test]
    fn access_rights_match_the_descriptors_the_monitor_builds() {
        // The GDT's kernel code descriptor is 0x00af9b000000ffff: access byte 0x9b, flags 0xa.
        assert_eq!(ar::CODE64_RING0, 0xa09b);
        // Kernel data 0x00cf93000000ffff: access byte 0x93, flags 0xc.
        assert_eq!(ar::DATA_RING0, 0xc093);
        assert_eq!(ar::TSS64_BUSY, 0x8b);
        assert_eq!(ar::dpl(ar::CODE64_RING0), 0);
        // A ring-3 code segment (access byte 0xfb) has DPL 3.
        assert_eq!(ar::dpl(0xa0fb), 3);
    }

    #[test]
    fn cr_access_and_register_encoding() {
        // mov cr4, r9: CR 4, type 0, register 9.
        let a = decode_cr_access(4 | 9 << 8);
        assert_eq!(a, CrAccess { cr: 4, kind: 0, gpr: 9 });
        assert_eq!(gpr_reg(0), sys::HV_X86_RAX);
        assert_eq!(gpr_reg(4), sys::HV_X86_RSP);
        assert_eq!(gpr_reg(5), sys::HV_X86_RBP);
        assert_eq!(gpr_reg(6), sys::HV_X86_RSI);
        assert_eq!(gpr_reg(7), sys::HV_X86_RDI);
        assert_eq!(gpr_reg(15), sys::HV_X86_R15);
    }

    #[test]
    fn exception_injection_words() {
        assert_eq!(exception_info(VEC_UD, false), 0x8000_0306);
        assert_eq!(exception_info(VEC_GP, true), 0x8000_0b0d);
    }

    #[test]
    fn cpuid_hides_what_the_guest_cannot_use() {
        let all = [u32::MAX; 4];
        let [_, _, c, _] = filter_cpuid(1, 0, all, 0x1_0620, true);
        assert_eq!(c & (1 << 5), 0, "VMX hidden");
        assert_eq!(c & (1 << 28), 0, "AVX hidden without OSXSAVE");
        assert_eq!(c & (1 << 27), 0, "OSXSAVE follows CR4");
        assert_ne!(c & (1 << 31), 0, "hypervisor bit");
        let [_, _, c, _] = filter_cpuid(1, 0, all, 0x1_0620 | 1 << 18, true);
        assert_ne!(c & (1 << 27 | 1 << 28), 0);
        let [_, b, _, _] = filter_cpuid(7, 0, all, 0x1_0620, true);
        assert_eq!(b & (1 << 5), 0, "AVX2 hidden");
        assert_ne!(b & 1, 0, "FSGSBASE kept");
        assert_eq!(filter_cpuid(0x4000_0000, 0, all, 0, true), [0; 4]);
        assert_eq!(filter_cpuid(0x8000_0001, 0, all, 0, false)[3] & (1 << 27), 0);
        assert_eq!(filter_cpuid(0, 0, [0xd, 1, 2, 3], 0, true), [0xd, 1, 2, 3]);
    }

    #[test]
    fn vmcs_encodings_have_the_sdm_shape() {
        // Bits 14:13 width (0 16-bit, 1 64-bit, 2 32-bit, 3 natural), 11:10 type (0
        // control, 1 read-only, 2 guest state), bit 0 access type (always 0 here).
        let width = |f: u32| (f >> 13) & 3;
        let kind = |f: u32| (f >> 10) & 3;
        assert_eq!((width(vmcs::GUEST_CS), kind(vmcs::GUEST_CS)), (0, 2));
        assert_eq!((width(vmcs::GUEST_IA32_EFER), kind(vmcs::GUEST_IA32_EFER)), (1, 2));
        assert_eq!((width(vmcs::CTRL_VMENTRY_CONTROLS), kind(vmcs::CTRL_VMENTRY_CONTROLS)), (2, 0));
        assert_eq!((width(vmcs::RO_EXIT_REASON), kind(vmcs::RO_EXIT_REASON)), (2, 1));
        assert_eq!((width(vmcs::GUEST_CS_AR), kind(vmcs::GUEST_CS_AR)), (2, 2));
        assert_eq!((width(vmcs::CTRL_CR4_SHADOW), kind(vmcs::CTRL_CR4_SHADOW)), (3, 0));
        assert_eq!((width(vmcs::RO_EXIT_QUALIFIC), kind(vmcs::RO_EXIT_QUALIFIC)), (3, 1));
        assert_eq!((width(vmcs::GUEST_RIP), kind(vmcs::GUEST_RIP)), (3, 2));
        for f in vmcs::FORK_STATE {
            assert_eq!(f & 1, 0, "{f:#x} is a full-field encoding");
        }
    }
}
