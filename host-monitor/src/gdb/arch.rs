//! The register file gdb sees: amd64 GNU/Linux (gdb's amd64-linux description: core, SSE,
//! orig_rax and the FS/GS bases), so that gdb takes the target for a Linux process (its
//! shared-library and signal-frame support) and knows `$fs_base` for thread-local data.

use gdbstub::arch::{Arch, Registers};
use gdbstub_arch::x86::reg::id::X86_64CoreRegId;
use gdbstub_arch::x86::reg::X86_64CoreRegs;

use abi_shared::debug::DebugRegs;
use abi_shared::layout::selectors;

pub enum LinuxX86_64 {}

impl Arch for LinuxX86_64 {
    type Usize = u64;
    type Registers = Regs;
    type RegId = X86_64CoreRegId;
    type BreakpointKind = usize;

    fn target_description_xml() -> Option<&'static str> {
        Some(TARGET_XML)
    }
}

/// Size of the core and SSE registers in the `g` packet.
const CORE_SSE_BYTES: usize = 0x218;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Regs {
    pub core: X86_64CoreRegs,
    pub orig_rax: u64,
    pub fs_base: u64,
    pub gs_base: u64,
}

impl Registers for Regs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.core.rip
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        self.core.gdb_serialize(&mut write_byte);
        for v in [self.orig_rax, self.fs_base, self.gs_base] {
            v.to_le_bytes().iter().for_each(|&b| write_byte(Some(b)));
        }
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        let core = bytes.get(..CORE_SSE_BYTES).ok_or(())?;
        self.core.gdb_deserialize(core)?;
        let rest = &bytes[CORE_SSE_BYTES..];
        for (i, v) in [&mut self.orig_rax, &mut self.fs_base, &mut self.gs_base].into_iter().enumerate() {
            if let Some(b) = rest.get(i * 8..i * 8 + 8) {
                *v = u64::from_le_bytes(b.try_into().map_err(|_| ())?);
            }
        }
        Ok(())
    }
}

// fxsave layout (64-bit): the offsets gdb's i387 code reads the x87 control registers
// from, then MXCSR, ST0-7 and XMM0-15.
const FX_FCW: usize = 0;
const FX_FSW: usize = 2;
const FX_FTW: usize = 4;
const FX_FOP: usize = 6;
const FX_FIOFF: usize = 8;
const FX_FISEG: usize = 12;
const FX_FOOFF: usize = 16;
const FX_FOSEG: usize = 20;
const FX_MXCSR: usize = 24;
const FX_ST: usize = 32;
const FX_XMM: usize = 160;

fn u16_at(fx: &[u8; 512], off: usize) -> u32 {
    u32::from(u16::from_le_bytes([fx[off], fx[off + 1]]))
}

fn u32_at(fx: &[u8; 512], off: usize) -> u32 {
    u32::from_le_bytes([fx[off], fx[off + 1], fx[off + 2], fx[off + 3]])
}

/// The full x87 tag of one register from its contents (the fxsave area keeps only
/// "empty or not"): 0 valid, 1 zero, 2 special.
fn tag_of(st: &[u8]) -> u32 {
    let exponent = u16::from_le_bytes([st[8], st[9]]) & 0x7fff;
    let mantissa = u64::from_le_bytes(st[..8].try_into().unwrap_or_default());
    match exponent {
        0x7fff => 2,
        0 if mantissa == 0 => 1,
        0 => 2,
        _ if mantissa >> 63 == 0 => 2,
        _ => 0,
    }
}

impl Regs {
    pub fn from_debug(d: &DebugRegs) -> Regs {
        let fx = &d.fxsave;
        let mut core = X86_64CoreRegs { regs: d.gprs, rip: d.rip, eflags: d.rflags as u32, ..Default::default() };
        core.segments.cs = selectors::USER_CS.into();
        core.segments.ss = selectors::USER_DS.into();
        for (i, st) in core.st.iter_mut().enumerate() {
            st.copy_from_slice(&fx[FX_ST + 16 * i..FX_ST + 16 * i + 10]);
        }
        let fstat = u16_at(fx, FX_FSW);
        let top = (fstat >> 11) & 7;
        let abridged = fx[FX_FTW];
        let mut ftag = 0;
        for phys in 0..8u32 {
            let tag = if abridged & (1 << phys) != 0 {
                let st = ((phys + 8 - top) % 8) as usize;
                tag_of(&fx[FX_ST + 16 * st..FX_ST + 16 * st + 10])
            } else {
                3
            };
            ftag |= tag << (2 * phys);
        }
        core.fpu.fctrl = u16_at(fx, FX_FCW);
        core.fpu.fstat = fstat;
        core.fpu.ftag = ftag;
        core.fpu.fop = u16_at(fx, FX_FOP) & 0x7ff;
        core.fpu.fioff = u32_at(fx, FX_FIOFF);
        core.fpu.fiseg = u16_at(fx, FX_FISEG);
        core.fpu.fooff = u32_at(fx, FX_FOOFF);
        core.fpu.foseg = u16_at(fx, FX_FOSEG);
        for (i, x) in core.xmm.iter_mut().enumerate() {
            *x = u128::from_le_bytes(fx[FX_XMM + 16 * i..FX_XMM + 16 * i + 16].try_into().unwrap_or_default());
        }
        core.mxcsr = u32_at(fx, FX_MXCSR);
        Regs { core, orig_rax: d.orig_rax, fs_base: d.fs_base, gs_base: d.gs_base }
    }

    /// Write gdb's registers over `d` (what gdb cannot express, such as the rest of the
    /// fxsave area, is kept).
    pub fn to_debug(&self, d: &mut DebugRegs) {
        let c = &self.core;
        d.gprs = c.regs;
        d.rip = c.rip;
        d.rflags = (d.rflags & !0xffff_ffff) | u64::from(c.eflags);
        d.orig_rax = self.orig_rax;
        d.fs_base = self.fs_base;
        d.gs_base = self.gs_base;
        let fx = &mut d.fxsave;
        fx[FX_FCW..FX_FCW + 2].copy_from_slice(&(c.fpu.fctrl as u16).to_le_bytes());
        fx[FX_FSW..FX_FSW + 2].copy_from_slice(&(c.fpu.fstat as u16).to_le_bytes());
        let mut abridged = 0u8;
        for phys in 0..8 {
            if (c.fpu.ftag >> (2 * phys)) & 3 != 3 {
                abridged |= 1 << phys;
            }
        }
        fx[FX_FTW] = abridged;
        fx[FX_FOP..FX_FOP + 2].copy_from_slice(&((c.fpu.fop & 0x7ff) as u16).to_le_bytes());
        fx[FX_FIOFF..FX_FIOFF + 4].copy_from_slice(&c.fpu.fioff.to_le_bytes());
        fx[FX_FISEG..FX_FISEG + 2].copy_from_slice(&(c.fpu.fiseg as u16).to_le_bytes());
        fx[FX_FOOFF..FX_FOOFF + 4].copy_from_slice(&c.fpu.fooff.to_le_bytes());
        fx[FX_FOSEG..FX_FOSEG + 2].copy_from_slice(&(c.fpu.foseg as u16).to_le_bytes());
        fx[FX_MXCSR..FX_MXCSR + 4].copy_from_slice(&c.mxcsr.to_le_bytes());
        for (i, st) in c.st.iter().enumerate() {
            fx[FX_ST + 16 * i..FX_ST + 16 * i + 10].copy_from_slice(st);
        }
        for (i, x) in c.xmm.iter().enumerate() {
            fx[FX_XMM + 16 * i..FX_XMM + 16 * i + 16].copy_from_slice(&x.to_le_bytes());
        }
    }
}

/// gdb's amd64 GNU/Linux target description, SSE flavour: the register order of `Regs`.
const TARGET_XML: &str = r#"<?xml version="1.0"?>
<!DOCTYPE target SYSTEM "gdb-target.dtd">
<target version="1.0">
<architecture>i386:x86-64</architecture>
<osabi>GNU/Linux</osabi>
<feature name="org.gnu.gdb.i386.core">
<flags id="i386_eflags" size="4">
<field name="CF" start="0" end="0"/><field name="" start="1" end="1"/><field name="PF" start="2" end="2"/>
<field name="AF" start="4" end="4"/><field name="ZF" start="6" end="6"/><field name="SF" start="7" end="7"/>
<field name="TF" start="8" end="8"/><field name="IF" start="9" end="9"/><field name="DF" start="10" end="10"/>
<field name="OF" start="11" end="11"/><field name="NT" start="14" end="14"/><field name="RF" start="16" end="16"/>
<field name="VM" start="17" end="17"/><field name="AC" start="18" end="18"/><field name="VIF" start="19" end="19"/>
<field name="VIP" start="20" end="20"/><field name="ID" start="21" end="21"/>
</flags>
<reg name="rax" bitsize="64" type="int64"/><reg name="rbx" bitsize="64" type="int64"/>
<reg name="rcx" bitsize="64" type="int64"/><reg name="rdx" bitsize="64" type="int64"/>
<reg name="rsi" bitsize="64" type="int64"/><reg name="rdi" bitsize="64" type="int64"/>
<reg name="rbp" bitsize="64" type="data_ptr"/><reg name="rsp" bitsize="64" type="data_ptr"/>
<reg name="r8" bitsize="64" type="int64"/><reg name="r9" bitsize="64" type="int64"/>
<reg name="r10" bitsize="64" type="int64"/><reg name="r11" bitsize="64" type="int64"/>
<reg name="r12" bitsize="64" type="int64"/><reg name="r13" bitsize="64" type="int64"/>
<reg name="r14" bitsize="64" type="int64"/><reg name="r15" bitsize="64" type="int64"/>
<reg name="rip" bitsize="64" type="code_ptr"/>
<reg name="eflags" bitsize="32" type="i386_eflags"/>
<reg name="cs" bitsize="32" type="int32"/><reg name="ss" bitsize="32" type="int32"/>
<reg name="ds" bitsize="32" type="int32"/><reg name="es" bitsize="32" type="int32"/>
<reg name="fs" bitsize="32" type="int32"/><reg name="gs" bitsize="32" type="int32"/>
<reg name="st0" bitsize="80" type="i387_ext"/><reg name="st1" bitsize="80" type="i387_ext"/>
<reg name="st2" bitsize="80" type="i387_ext"/><reg name="st3" bitsize="80" type="i387_ext"/>
<reg name="st4" bitsize="80" type="i387_ext"/><reg name="st5" bitsize="80" type="i387_ext"/>
<reg name="st6" bitsize="80" type="i387_ext"/><reg name="st7" bitsize="80" type="i387_ext"/>
<reg name="fctrl" bitsize="32" type="int" group="float"/><reg name="fstat" bitsize="32" type="int" group="float"/>
<reg name="ftag" bitsize="32" type="int" group="float"/><reg name="fiseg" bitsize="32" type="int" group="float"/>
<reg name="fioff" bitsize="32" type="int" group="float"/><reg name="foseg" bitsize="32" type="int" group="float"/>
<reg name="fooff" bitsize="32" type="int" group="float"/><reg name="fop" bitsize="32" type="int" group="float"/>
</feature>
<feature name="org.gnu.gdb.i386.sse">
<vector id="v4f" type="ieee_single" count="4"/><vector id="v2d" type="ieee_double" count="2"/>
<vector id="v16i8" type="int8" count="16"/><vector id="v8i16" type="int16" count="8"/>
<vector id="v4i32" type="int32" count="4"/><vector id="v2i64" type="int64" count="2"/>
<union id="vec128">
<field name="v4_float" type="v4f"/><field name="v2_double" type="v2d"/>
<field name="v16_int8" type="v16i8"/><field name="v8_int16" type="v8i16"/>
<field name="v4_int32" type="v4i32"/><field name="v2_int64" type="v2i64"/>
<field name="uint128" type="uint128"/>
</union>
<reg name="xmm0" bitsize="128" type="vec128"/><reg name="xmm1" bitsize="128" type="vec128"/>
<reg name="xmm2" bitsize="128" type="vec128"/><reg name="xmm3" bitsize="128" type="vec128"/>
<reg name="xmm4" bitsize="128" type="vec128"/><reg name="xmm5" bitsize="128" type="vec128"/>
<reg name="xmm6" bitsize="128" type="vec128"/><reg name="xmm7" bitsize="128" type="vec128"/>
<reg name="xmm8" bitsize="128" type="vec128"/><reg name="xmm9" bitsize="128" type="vec128"/>
<reg name="xmm10" bitsize="128" type="vec128"/><reg name="xmm11" bitsize="128" type="vec128"/>
<reg name="xmm12" bitsize="128" type="vec128"/><reg name="xmm13" bitsize="128" type="vec128"/>
<reg name="xmm14" bitsize="128" type="vec128"/><reg name="xmm15" bitsize="128" type="vec128"/>
<reg name="mxcsr" bitsize="32" type="int" group="vector"/>
</feature>
<feature name="org.gnu.gdb.i386.linux">
<reg name="orig_rax" bitsize="64" type="int"/>
</feature>
<feature name="org.gnu.gdb.i386.segments">
<reg name="fs_base" bitsize="64" type="int"/>
<reg name="gs_base" bitsize="64" type="int"/>
</feature>
</target>
"#;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registers_round_trip_through_gdb_and_back() {
        let mut d = DebugRegs { rip: 0x401000, rflags: 0x246, fs_base: 0x7000, ..DebugRegs::default() };
        d.gprs[7] = 0x7ffe_0000;
        d.fxsave[FX_FCW..FX_FCW + 2].copy_from_slice(&0x37fu16.to_le_bytes());
        d.fxsave[FX_MXCSR..FX_MXCSR + 4].copy_from_slice(&0x1f80u32.to_le_bytes());
        d.fxsave[FX_XMM + 16..FX_XMM + 20].copy_from_slice(&[1, 2, 3, 4]);
        let r = Regs::from_debug(&d);
        assert_eq!(
            (r.core.rip, r.core.regs[7], r.core.mxcsr, r.core.fpu.fctrl),
            (0x401000, 0x7ffe_0000, 0x1f80, 0x37f)
        );
        assert_eq!(r.core.fpu.ftag, 0xffff, "an empty x87 stack is tagged empty");
        let mut bytes = Vec::new();
        r.gdb_serialize(|b| bytes.push(b.unwrap()));
        assert_eq!(bytes.len(), CORE_SSE_BYTES + 24);
        let mut back = Regs::default();
        back.gdb_deserialize(&bytes).unwrap();
        assert_eq!(back, r);
        let mut d2 = d;
        back.to_debug(&mut d2);
        assert_eq!(abi_shared::linux::bytes_of(&d2), abi_shared::linux::bytes_of(&d));
    }
}
