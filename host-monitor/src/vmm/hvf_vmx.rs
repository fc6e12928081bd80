//! VMX for the Hypervisor.framework backend (`hvf.rs`), as pure functions of numbers:
//! VM-execution control words from the processor's capabilities, exit-reason and
//! exit-qualification decoding, what each exit means for the monitor, the checks the
//! backend's emulation of CR0/CR4/EFER/XCR0 writes makes, segment access rights, event
//! injection words (exceptions and the kick interrupt), the EPT retry rule and the CPUID
//! the guest sees. Built on every host, so that Linux runs their tests; only the backend,
//! which exists on Intel macOS alone, uses them. `hvf.rs` keeps the calls into the
//! framework and nothing it could decide from numbers alone.

#![cfg_attr(not(all(target_os = "macos", target_arch = "x86_64")), allow(dead_code))]

use abi_shared::layout::ports;

use super::hvf_sys::{ctrl, reason, vmcs, HvX86Reg};
use super::Exit;

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

/// What an exit is, from the raw exit-reason field (Intel SDM appendix C).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitKind {
    /// Bit 31: the VM entry itself failed, with this basic reason.
    EntryFailed(u32),
    /// A host interrupt, NMI window, PAUSE or the preemption timer: the framework's
    /// business; the guest resumes (after the backend looked at its kick flag).
    HostEvent,
    /// The interrupt window the backend asked for (`CPU_BASED_IRQ_WND`) is open.
    InterruptWindow,
    Io,
    Vmcall,
    Hlt,
    TripleFault,
    Cpuid,
    Xsetbv,
    Msr {
        write: bool,
    },
    MovCr,
    EptViolation,
    /// An exception or NMI (the exception bitmap is empty: only the host's NMIs, or a
    /// fault the guest could not deliver).
    ExceptionOrNmi,
    Other(u32),
}

pub fn classify_exit(raw: u64) -> ExitKind {
    let basic = (raw & 0xffff) as u32;
    if raw & u64::from(reason::ENTRY_FAILED) != 0 {
        return ExitKind::EntryFailed(basic);
    }
    match basic {
        reason::IRQ | reason::VIRTUAL_NMI_WND | reason::PAUSE | reason::VMX_TIMER_EXPIRED => ExitKind::HostEvent,
        reason::IRQ_WND => ExitKind::InterruptWindow,
        reason::IO => ExitKind::Io,
        reason::VMCALL => ExitKind::Vmcall,
        reason::HLT => ExitKind::Hlt,
        reason::TRIPLE_FAULT => ExitKind::TripleFault,
        reason::CPUID => ExitKind::Cpuid,
        reason::XSETBV => ExitKind::Xsetbv,
        reason::RDMSR => ExitKind::Msr { write: false },
        reason::WRMSR => ExitKind::Msr { write: true },
        reason::MOV_CR => ExitKind::MovCr,
        reason::EPT_VIOLATION => ExitKind::EptViolation,
        reason::EXC_NMI => ExitKind::ExceptionOrNmi,
        other => ExitKind::Other(other),
    }
}

/// What an `out` to (or `in` from) `port` asks of the monitor: the doorbells of
/// `layout::ports` (outs only), anything else an unknown port.
pub fn port_exit(port: u16, is_in: bool) -> Exit {
    match port {
        ports::HYPERCALL if !is_in => Exit::Hypercall,
        ports::HYPERCALL_WAIT if !is_in => Exit::HypercallWait,
        ports::GROW_RAM if !is_in => Exit::GrowRam,
        ports::HYPERCALL_WORKER_ASLEEP if !is_in => Exit::HypercallWorkerAsleep,
        port => Exit::UnknownPort(port),
    }
}

/// The interruption information of an exception-or-NMI exit: (vector, event type).
/// Type 2 is an NMI, which the framework handled for the host.
pub fn exit_event(info: u64) -> (u8, u8) {
    ((info & 0xff) as u8, ((info >> 8) & 7) as u8)
}

pub const EVENT_TYPE_NMI: u8 = 2;

/// XSETBV (`index`, `value`) is valid when it names XCR0, keeps x87 on, sets only what the
/// host supports (`supported`, CPUID 0xd.0 EDX:EAX) and has SSE wherever it has AVX.
/// Anything else is #GP(0), as on hardware.
pub fn xsetbv_valid(index: u32, value: u64, supported: u64) -> bool {
    index == 0 && value & 1 != 0 && value & !supported == 0 && (value & 4 == 0 || value & 2 != 0)
}

/// EFER bits a guest WRMSR may change: SCE and NXE. LME/LMA stay as long mode needs them.
pub const EFER_CHANGEABLE: u64 = 1 | 1 << 11;

pub fn efer_write_valid(old: u64, new: u64) -> bool {
    (old ^ new) & !EFER_CHANGEABLE == 0
}

const CR0_PE: u64 = 1;
const CR0_NE: u64 = 1 << 5;
const CR0_PG: u64 = 1 << 31;
const CR0_CD_NW: u64 = 3 << 29;

/// A MOV to CR0 the guest may make: PE and PG stay on (long mode), caching stays on.
pub fn cr0_write_valid(value: u64) -> bool {
    value & (CR0_PE | CR0_PG) == (CR0_PE | CR0_PG) && value & CR0_CD_NW == 0
}

/// The real CR0 for the guest's `value`: VMX operation needs NE too (the read shadow shows
/// the guest its own value).
pub fn real_cr0(value: u64) -> u64 {
    value | CR0_NE
}

/// A MOV to CR4 the guest may make: not VMXE (the guest has no VMX).
pub fn cr4_write_valid(value: u64) -> bool {
    value & CR4_VMXE == 0
}

/// The real CR4 for the guest's `value`: VMXE is on under VMX, hidden by the shadow.
pub fn real_cr4(value: u64) -> u64 {
    value | CR4_VMXE
}

/// Identical EPT violations in a row at one guest-physical address before the backend
/// gives up on a fault inside guest RAM.
pub const EPT_RETRY_LIMIT: u32 = 64;

/// The EPT-violation rule: inside guest RAM the framework fills its nested tables lazily,
/// so a violation there is retried, unless the same address faults again and again.
#[derive(Debug, Clone, Copy)]
pub struct EptRetry {
    last_gpa: u64,
    repeats: u32,
}

impl Default for EptRetry {
    fn default() -> Self {
        EptRetry { last_gpa: u64::MAX, repeats: 0 }
    }
}

impl EptRetry {
    /// A violation at `gpa` with `mem_size` bytes of guest RAM: resume the guest?
    pub fn retry(&mut self, gpa: u64, mem_size: u64) -> bool {
        self.repeats = if self.last_gpa == gpa { self.repeats + 1 } else { 1 };
        self.last_gpa = gpa;
        gpa < mem_size && self.repeats <= EPT_RETRY_LIMIT
    }
}

/// Primary processor-based control: exit as soon as the guest can take an interrupt
/// (RFLAGS.IF set, no STI or MOV-SS blocking).
pub const CPU_BASED_IRQ_WND: u64 = 1 << 2;

/// The interruption-information word that injects external interrupt `vector` (type 0).
pub fn external_interrupt_info(vector: u8) -> u64 {
    u64::from(vector) | ctrl::IRQ_INFO_VALID
}

/// An event the exit interrupted on its way into the guest (IDT-vectoring information,
/// Intel SDM 27.2.4): the VM-entry fields that deliver it again on the next entry, or none
/// when nothing was being delivered. Software interrupts and exceptions (types 4 to 6) need
/// the instruction length; an error code goes along when the information says so.
pub fn reinjection(idt_info: u64, idt_error: u64, instr_len: u64) -> Vec<(u32, u64)> {
    if idt_info & ctrl::IRQ_INFO_VALID == 0 {
        return Vec::new();
    }
    // Bit 12 (NMI unblocking) is not part of the entry format; bits 30:12 must be 0.
    let info = idt_info & (0xfff | ctrl::IRQ_INFO_VALID);
    let mut fields = vec![(vmcs::CTRL_VMENTRY_IRQ_INFO, info)];
    if info & ctrl::IRQ_INFO_ERROR_VALID != 0 {
        fields.push((vmcs::CTRL_VMENTRY_EXC_ERROR, idt_error));
    }
    if (4..=6).contains(&((info >> 8) & 7)) {
        fields.push((vmcs::CTRL_VMENTRY_INSTR_LEN, instr_len));
    }
    fields
}

/// The guest can take an external interrupt now: RFLAGS.IF is set and the instruction
/// before it did not block interrupts (STI or MOV SS: interruptibility bits 0 and 1).
pub fn can_take_interrupt(rflags: u64, interruptibility: u64) -> bool {
    rflags & (1 << 9) != 0 && interruptibility & 3 == 0
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

    #[test]
    fn exit_reasons_classify() {
        assert_eq!(classify_exit(30), ExitKind::Io);
        assert_eq!(classify_exit(18), ExitKind::Vmcall);
        assert_eq!(classify_exit(1), ExitKind::HostEvent);
        assert_eq!(classify_exit(7), ExitKind::InterruptWindow);
        assert_eq!(classify_exit(31), ExitKind::Msr { write: false });
        assert_eq!(classify_exit(32), ExitKind::Msr { write: true });
        assert_eq!(classify_exit(48), ExitKind::EptViolation);
        assert_eq!(classify_exit(0x8000_0021), ExitKind::EntryFailed(33));
        assert_eq!(classify_exit(9), ExitKind::Other(9));
        // Bits 16..30 (e.g. "pending MTF", "enclave") do not change the basic reason.
        assert_eq!(classify_exit(1 << 27 | 12), ExitKind::Hlt);
    }

    #[test]
    fn doorbell_ports_are_outs_only() {
        assert_eq!(port_exit(ports::HYPERCALL, false), Exit::Hypercall);
        assert_eq!(port_exit(ports::HYPERCALL, true), Exit::UnknownPort(ports::HYPERCALL));
        assert_eq!(port_exit(ports::GROW_RAM, false), Exit::GrowRam);
        assert_eq!(port_exit(ports::HYPERCALL_WAIT, false), Exit::HypercallWait);
        assert_eq!(port_exit(ports::HYPERCALL_WORKER_ASLEEP, false), Exit::HypercallWorkerAsleep);
        assert_eq!(port_exit(0x3f8, false), Exit::UnknownPort(0x3f8));
    }

    #[test]
    fn exception_exits_decode() {
        assert_eq!(exit_event(0x8000_0202), (2, EVENT_TYPE_NMI));
        assert_eq!(exit_event(0x8000_0b0e), (14, 3));
    }

    #[test]
    fn emulated_writes_are_checked_as_hardware_does() {
        // XCR0: x87 mandatory, AVX only with SSE, nothing the host lacks, index 0 only.
        assert!(xsetbv_valid(0, 0b111, 0b111));
        assert!(!xsetbv_valid(0, 0b110, 0b111));
        assert!(!xsetbv_valid(0, 0b101, 0b111));
        assert!(!xsetbv_valid(0, 0b1011, 0b111));
        assert!(!xsetbv_valid(1, 0b1, 0b111));
        // EFER: SCE and NXE may change, LME/LMA may not.
        let efer = 1 << 8 | 1 << 10;
        assert!(efer_write_valid(efer, efer | 1 | 1 << 11));
        assert!(!efer_write_valid(efer, efer & !(1 << 8)));
        // CR0: PE and PG stay, CD/NW stay off; the real one has NE.
        let cr0 = 0x8000_0033;
        assert!(cr0_write_valid(cr0));
        assert!(!cr0_write_valid(cr0 & !1));
        assert!(!cr0_write_valid(cr0 | 1 << 30));
        assert_eq!(real_cr0(0x8000_0011), 0x8000_0031);
        // CR4: VMXE belongs to the host.
        assert!(cr4_write_valid(0x6a0));
        assert!(!cr4_write_valid(0x6a0 | CR4_VMXE));
        assert_eq!(real_cr4(0x6a0), 0x26a0);
    }

    #[test]
    fn ept_violations_retry_inside_ram_only_for_a_while() {
        let mut e = EptRetry::default();
        assert!(e.retry(0x1000, 1 << 30));
        assert!(!e.retry(1 << 31, 1 << 30), "outside guest RAM");
        for _ in 0..EPT_RETRY_LIMIT {
            assert!(e.retry(0x2000, 1 << 30));
        }
        assert!(!e.retry(0x2000, 1 << 30), "the same fault again and again");
        assert!(e.retry(0x3000, 1 << 30), "another address starts over");
    }

    #[test]
    fn interrupted_deliveries_are_delivered_again() {
        assert!(reinjection(0, 0, 0).is_empty());
        // A page fault (vector 14, hardware exception, error code) cut short by an EPT
        // violation on the guest's stack.
        assert_eq!(
            reinjection(0x8000_0b0e, 2, 3),
            vec![(vmcs::CTRL_VMENTRY_IRQ_INFO, 0x8000_0b0e), (vmcs::CTRL_VMENTRY_EXC_ERROR, 2)]
        );
        // `int 0x80` (type 4, software interrupt) needs its length; bit 12 is dropped.
        assert_eq!(
            reinjection(0x8000_1480, 0, 2),
            vec![(vmcs::CTRL_VMENTRY_IRQ_INFO, 0x8000_0480), (vmcs::CTRL_VMENTRY_INSTR_LEN, 2)]
        );
        // The kick interrupt itself (external, type 0).
        assert_eq!(reinjection(external_interrupt_info(0xf0), 0, 0), vec![(vmcs::CTRL_VMENTRY_IRQ_INFO, 0x8000_00f0)]);
    }

    #[test]
    fn kick_interrupts_wait_for_the_guest() {
        assert_eq!(external_interrupt_info(0xf0), 0x8000_00f0);
        assert!(can_take_interrupt(0x202, 0));
        assert!(!can_take_interrupt(0x2, 0), "IF clear");
        assert!(!can_take_interrupt(0x202, 1), "STI blocking");
        assert!(!can_take_interrupt(0x202, 2), "MOV SS blocking");
        // Interruptibility bits 2 and 3 (SMI, NMI blocking) do not block an external one.
        assert!(can_take_interrupt(0x202, 8));
    }
}
