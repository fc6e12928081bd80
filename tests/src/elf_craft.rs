//! Tiny x86_64 ELF executables written byte by byte, for the `elf/*` cases: each one bends
//! one rule of the format, and the native kernel's verdict (runs, ENOEXEC, killed by
//! SIGSEGV...) is what linuxrun's loader must reproduce.
//!
//! The program: store 'K' into its data page (so the page must be loaded and writable),
//! write the page's first 3 bytes ("oK\n") to stdout, exit 0.
//!
//! File layout: page 0 holds the ELF header and the code, page 1 the data, the program
//! header table starts at 0x2000 (outside every segment), PT_INTERP's bytes follow it.

use crate::process::Status;

const TEXT: u64 = 0x40_0000;
const DATA: u64 = 0x40_1000;
const PHOFF: usize = 0x2000;
const PHDR_SIZE: usize = 56;
pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

#[derive(Clone, Copy)]
pub struct Load {
    pub vaddr: u64,
    pub offset: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub flags: u32,
}

/// The text segment (page 0, read+exec) and the data segment (page 1, read+write).
pub const TEXT_SEGMENT: Load = Load { vaddr: TEXT, offset: 0, filesz: 0x1000, memsz: 0x1000, flags: PF_R | PF_X };
pub const DATA_SEGMENT: Load = Load { vaddr: DATA, offset: 0x1000, filesz: 0x1000, memsz: 0x1000, flags: PF_R | PF_W };

#[derive(Clone)]
pub struct Spec {
    pub loads: Vec<Load>,
    /// PT_INTERP's bytes (the entry comes first in the table).
    pub interp: Option<Vec<u8>>,
    /// EI_CLASS, EI_DATA, EI_VERSION, EI_OSABI.
    pub ident: [u8; 4],
    pub e_type: u16,
    pub e_machine: u16,
    pub e_phentsize: u16,
    /// PT_NULL entries appended to the table.
    pub padding_entries: usize,
    /// e_phnum when it should not count the table's entries.
    pub e_phnum: Option<u16>,
    /// Position-independent (ET_DYN, RIP-relative code, addresses from 0), without an
    /// interpreter: placed where mmap puts it, as a static PIE.
    pub pie: bool,
}

impl Default for Spec {
    fn default() -> Spec {
        Spec {
            loads: vec![TEXT_SEGMENT, DATA_SEGMENT],
            interp: None,
            ident: [2, 1, 1, 0],
            e_type: 2,
            e_machine: 62,
            e_phentsize: PHDR_SIZE as u16,
            padding_entries: 0,
            e_phnum: None,
            pie: false,
        }
    }
}

/// The code at TEXT + 0x40: `code()`, or `pic_code()` for a PIE.
fn code_for(spec: &Spec) -> Vec<u8> {
    if spec.pie {
        pic_code()
    } else {
        code()
    }
}

/// The same as `code`, RIP-relative: the text page is at 0 and the data page at 0x1000.
fn pic_code() -> Vec<u8> {
    // mov byte [rip + disp], 'K' (7 bytes at 0x40, so the next one is at 0x47)
    let mut c = vec![0xc6, 0x05];
    c.extend_from_slice(&(0x1001u32 - 0x47).to_le_bytes());
    c.push(b'K');
    c.extend_from_slice(&[0xb8, 1, 0, 0, 0, 0xbf, 1, 0, 0, 0]);
    // lea rsi, [rip + disp] (at 0x51, next at 0x58)
    c.extend_from_slice(&[0x48, 0x8d, 0x35]);
    c.extend_from_slice(&(0x1000u32 - 0x58).to_le_bytes());
    c.extend_from_slice(&[0xba, 3, 0, 0, 0, 0x0f, 0x05]);
    c.extend_from_slice(&[0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]);
    c
}

/// mov byte [DATA+1], 'K'; write(1, DATA, 3); exit(0).
fn code() -> Vec<u8> {
    let mut c = vec![0xc6, 0x04, 0x25];
    c.extend_from_slice(&(DATA as u32 + 1).to_le_bytes());
    c.push(b'K');
    c.extend_from_slice(&[0xb8, 1, 0, 0, 0, 0xbf, 1, 0, 0, 0, 0xbe]);
    c.extend_from_slice(&(DATA as u32).to_le_bytes());
    c.extend_from_slice(&[0xba, 3, 0, 0, 0, 0x0f, 0x05]);
    c.extend_from_slice(&[0xb8, 60, 0, 0, 0, 0x31, 0xff, 0x0f, 0x05]);
    c
}

fn phdr(p_type: u32, flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Vec<u8> {
    let mut e = Vec::with_capacity(PHDR_SIZE);
    e.extend_from_slice(&p_type.to_le_bytes());
    e.extend_from_slice(&flags.to_le_bytes());
    for v in [offset, vaddr, vaddr, filesz, memsz, 0x1000] {
        e.extend_from_slice(&v.to_le_bytes());
    }
    e
}

pub fn build(spec: &Spec) -> Vec<u8> {
    let entries = spec.loads.len() + spec.interp.is_some() as usize + spec.padding_entries;
    let interp_at = PHOFF + entries * PHDR_SIZE;
    let mut table = Vec::new();
    if let Some(i) = &spec.interp {
        table.extend(phdr(3, PF_R, interp_at as u64, 0, i.len() as u64, i.len() as u64));
    }
    let base = if spec.pie { TEXT } else { 0 };
    for l in &spec.loads {
        table.extend(phdr(1, l.flags, l.offset, l.vaddr - base, l.filesz, l.memsz));
    }
    table.resize(entries * PHDR_SIZE, 0);

    let mut f = vec![0u8; interp_at];
    f[..4].copy_from_slice(b"\x7fELF");
    f[4..8].copy_from_slice(&spec.ident);
    let phnum = spec.e_phnum.unwrap_or(entries as u16);
    let put = |f: &mut Vec<u8>, at: usize, bytes: &[u8]| f[at..at + bytes.len()].copy_from_slice(bytes);
    let e_type = if spec.pie { 3 } else { spec.e_type };
    put(&mut f, 16, &e_type.to_le_bytes());
    put(&mut f, 18, &spec.e_machine.to_le_bytes());
    put(&mut f, 20, &1u32.to_le_bytes());
    put(&mut f, 24, &(TEXT - base + 0x40).to_le_bytes());
    put(&mut f, 32, &(PHOFF as u64).to_le_bytes());
    put(&mut f, 52, &64u16.to_le_bytes());
    put(&mut f, 54, &spec.e_phentsize.to_le_bytes());
    put(&mut f, 56, &phnum.to_le_bytes());
    put(&mut f, 0x40, &code_for(spec));
    put(&mut f, 0x1000, b"ok\n");
    put(&mut f, PHOFF, &table);
    f.extend(spec.interp.iter().flatten());
    f
}

/// An `elf/` case: a name, the file, what running it natively gives (as a shell reports
/// a failed exec: 126, or 127 when a file is missing).
pub struct Crafted {
    pub name: &'static str,
    pub file: Vec<u8>,
    pub native: Status,
    /// Another executable file beside it (name, content), for PT_INTERP to name.
    pub companion: Option<(&'static str, &'static [u8])>,
}

/// The cases. Verdicts that depend on the host's configuration are left out: a mapping
/// below vm.mmap_min_addr works for root, and a bss larger than RAM + swap but not
/// absurd works under overcommit mode 1 or on a big machine.
pub fn cases() -> Vec<Crafted> {
    let runs = Status::Exit(0);
    let enoexec = Status::Exit(126);
    let segv = Status::Signal(11);
    let with = |f: &dyn Fn(&mut Spec)| {
        let mut s = Spec::default();
        f(&mut s);
        build(&s)
    };
    let ident = |ident: [u8; 4]| with(&|s| s.ident = ident);
    let interp = |bytes: &[u8]| with(&|s| s.interp = Some(bytes.to_vec()));
    let data = |change: &dyn Fn(&mut Load)| {
        with(&|s| {
            let mut d = DATA_SEGMENT;
            change(&mut d);
            s.loads = vec![TEXT_SEGMENT, d];
        })
    };
    let c = |name, file, native| Crafted { name, file, native, companion: None };
    let not_elf_interp = Crafted {
        companion: Some(("interp.sh", b"#!/bin/sh\n")),
        ..c("interp-not-elf", interp(b"./interp.sh\0"), enoexec.clone())
    };
    vec![
        c("ordered", build(&Spec::default()), runs.clone()),
        // Linux maps PT_LOADs in table order, whatever their addresses.
        c("descending", with(&|s| s.loads.reverse()), runs.clone()),
        c("pie-ordered", with(&|s| s.pie = true), runs.clone()),
        // The load bias comes from the first PT_LOAD in the table, not the lowest.
        c(
            "pie-descending",
            with(&|s| {
                s.pie = true;
                s.loads.reverse();
            }),
            runs.clone(),
        ),
        // A later segment replaces the pages an earlier one's memsz reached over.
        c("memsz-over-next-segment", with(&|s| s.loads[0].memsz = 0x3000), runs.clone()),
        // 40 TiB of bss: more than any machine's memory, so Linux's vm_brk fails after
        // the point of no return.
        c("bss-40-tib", data(&|d| d.memsz = 40 << 40), segv.clone()),
        c("filesz-above-memsz", data(&|d| d.memsz = 0x800), segv.clone()),
        c("offset-not-congruent", data(&|d| d.offset = 0x1800), segv.clone()),
        c("interp-empty", interp(b""), enoexec.clone()),
        c("interp-only-nul", interp(b"\0"), enoexec.clone()),
        c("interp-unterminated", interp(b"/nonexistent"), enoexec.clone()),
        c("interp-missing", interp(b"/nonexistent\0ignored\0"), Status::Exit(127)),
        // open_exec's EACCES, and ELIBBAD for an executable that is no ELF.
        c("interp-not-executable", interp(b"/etc/passwd\0"), enoexec.clone()),
        c("interp-directory", interp(b"/tmp\0"), enoexec.clone()),
        not_elf_interp,
        // The 64-bit loader ignores EI_CLASS, EI_DATA, EI_VERSION and EI_OSABI.
        c("class-32", ident([1, 1, 1, 0]), runs.clone()),
        c("class-none", ident([0, 1, 1, 0]), runs.clone()),
        c("big-endian-mark", ident([2, 2, 1, 0]), runs.clone()),
        c("odd-version-osabi", ident([2, 0, 9, 0x61]), runs.clone()),
        c("phentsize-32", with(&|s| s.e_phentsize = 32), enoexec.clone()),
        c("phnum-0", with(&|s| s.e_phnum = Some(0)), enoexec.clone()),
        c("phnum-73", with(&|s| s.padding_entries = 71), runs.clone()),
        // More than 64 KiB of program headers.
        c("phnum-1171", with(&|s| s.padding_entries = 1169), enoexec.clone()),
        c("type-rel", with(&|s| s.e_type = 1), enoexec.clone()),
        c("machine-aarch64", with(&|s| s.e_machine = 183), enoexec),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_is_as_documented() {
        let f = build(&Spec { interp: Some(b"/x\0".to_vec()), ..Spec::default() });
        assert_eq!(&f[..4], b"\x7fELF");
        assert_eq!(&f[0x1000..0x1003], b"ok\n");
        assert_eq!(u16::from_le_bytes([f[56], f[57]]), 3);
        assert_eq!(&f[PHOFF..PHOFF + 4], &3u32.to_le_bytes(), "PT_INTERP first");
        assert_eq!(&f[f.len() - 3..], b"/x\0");
    }
}
