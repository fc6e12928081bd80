//! The vDSO's ELF image: a small shared object, laid out as glibc's and musl's vDSO lookups
//! expect (they read the dynamic section of the image at AT_SYSINFO_EHDR): one PT_LOAD
//! covering the whole image from vaddr 0, a read-only PT_DYNAMIC, DT_HASH, the dynamic
//! symbols, and symbol versions with the version "LINUX_2.6" (glibc asks for it). Section
//! headers are there too, for debuggers and `goblin`.

use alloc::vec;
use alloc::vec::Vec;

use goblin::elf::dynamic::{
    DT_HASH, DT_NULL, DT_SONAME, DT_STRSZ, DT_STRTAB, DT_SYMENT, DT_SYMTAB, DT_VERDEF, DT_VERDEFNUM, DT_VERSYM,
};
use goblin::elf::header::{ELFCLASS64, ELFDATA2LSB, ELFMAG, ELFOSABI_NONE, EM_X86_64, ET_DYN, EV_CURRENT};
use goblin::elf::program_header::{PF_R, PF_X, PT_DYNAMIC, PT_LOAD};
use goblin::elf::section_header::{
    SHF_ALLOC, SHF_EXECINSTR, SHT_DYNAMIC, SHT_DYNSYM, SHT_GNU_VERDEF, SHT_GNU_VERSYM, SHT_HASH, SHT_PROGBITS,
    SHT_STRTAB,
};
use goblin::elf::sym::{STB_GLOBAL, STB_WEAK, STT_FUNC};
use goblin::elf::symver::VER_FLG_BASE;

use super::{Function, CODE_OFFSET};

pub const SONAME: &str = "linux-vdso.so.1";
/// The version every symbol has (what glibc's `dl_vdso_vsym` looks up).
pub const VERSION: &str = "LINUX_2.6";
/// Version index of `VERSION` (1 is the object itself, the base version).
const VERSION_INDEX: u16 = 2;

const EHDR_SIZE: usize = 64;
const PHDR_SIZE: usize = 56;
const SHDR_SIZE: usize = 64;
const SYM_SIZE: usize = 24;
const VERDEF_SIZE: usize = 20;
const VERDAUX_SIZE: usize = 8;
const PAGE: u64 = 4096;

/// Section indices, in file order.
const SEC_HASH: u16 = 1;
const SEC_DYNSYM: u16 = 2;
const SEC_DYNSTR: u16 = 3;
const SEC_VERSYM: u16 = 4;
const SEC_VERDEF: u16 = 5;
const SEC_DYNAMIC: u16 = 6;
const SEC_TEXT: u16 = 7;
const SEC_SHSTRTAB: u16 = 8;
const SECTIONS: u16 = 9;
const SECTION_NAMES: [&str; SECTIONS as usize - 1] =
    [".hash", ".dynsym", ".dynstr", ".gnu.version", ".gnu.version_d", ".dynamic", ".text", ".shstrtab"];

/// The SysV ELF hash (DT_HASH buckets, Verdef hashes).
pub fn elf_hash(name: &[u8]) -> u32 {
    let mut h: u32 = 0;
    for &c in name {
        h = (h << 4).wrapping_add(c as u32);
        let g = h & 0xf000_0000;
        if g != 0 {
            h ^= g >> 24;
        }
        h &= !g;
    }
    h
}

/// A string table under construction.
struct StrTab(Vec<u8>);

impl StrTab {
    fn new() -> StrTab {
        StrTab(vec![0])
    }

    fn add(&mut self, s: &str) -> u32 {
        let at = self.0.len() as u32;
        self.0.extend_from_slice(s.as_bytes());
        self.0.push(0);
        at
    }
}

/// Little-endian field writers.
trait Put {
    fn u16(&mut self, v: u16);
    fn u32(&mut self, v: u32);
    fn u64(&mut self, v: u64);
}

impl Put for Vec<u8> {
    fn u16(&mut self, v: u16) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.extend_from_slice(&v.to_le_bytes());
    }
}

struct Symbol {
    name: Vec<u8>,
    name_offset: u32,
    bind: u8,
    value: u64,
    size: u64,
}

/// One section: its header fields and where it lands in the file (= its vaddr).
struct Section {
    /// Offset in .shstrtab.
    name: u32,
    kind: u32,
    flags: u64,
    offset: u64,
    size: u64,
    link: u16,
    info: u32,
    align: u64,
    entsize: u64,
}

/// Sections placed one after the other, each at its alignment.
struct Layout {
    at: u64,
    sections: Vec<Section>,
}

impl Layout {
    /// Place `s` at the next offset its alignment allows; returns the end.
    fn place(&mut self, mut s: Section) -> u64 {
        s.offset = align_up(self.at, s.align);
        self.at = s.offset + s.size;
        self.sections.push(s);
        self.at
    }
}

fn align_up(v: u64, align: u64) -> u64 {
    v.div_ceil(align) * align
}

/// Build the image for `code` (placed at `CODE_OFFSET`), exporting each function as
/// `__vdso_<name>` and as the weak alias `<name>`, both at version LINUX_2.6. Panics if
/// the tables outgrow the room before `CODE_OFFSET` (a fixed set of functions: the unit
/// tests catch it).
pub fn build(code: &[u8], functions: &[Function]) -> Vec<u8> {
    let mut dynstr = StrTab::new();
    let soname = dynstr.add(SONAME);
    let version = dynstr.add(VERSION);
    let mut symbols = Vec::new();
    for f in functions {
        for (name, bind) in [(alloc::format!("__vdso_{}", f.name), STB_GLOBAL), (f.name.into(), STB_WEAK)] {
            let name_offset = dynstr.add(&name);
            symbols.push(Symbol {
                name: name.into_bytes(),
                name_offset,
                bind,
                value: CODE_OFFSET + f.offset,
                size: f.size,
            });
        }
    }
    let hash = hash_table(&symbols);
    let dynsym = symbol_table(&symbols);
    let versym = version_symbols(symbols.len());
    let verdef = version_definitions(soname, version);
    let dynamic_len = 10 * 16;

    // Lay the tables out after the headers; the code goes at its fixed offset.
    let mut shstrtab = StrTab::new();
    let names: Vec<u32> = SECTION_NAMES.iter().map(|n| shstrtab.add(n)).collect();
    let mut layout = Layout { at: (EHDR_SIZE + 2 * PHDR_SIZE) as u64, sections: Vec::new() };
    let mut place = |index: u16, kind, flags: u32, size: usize, link, info, align: u64, entsize: usize| {
        let name = names[index as usize - 1];
        let flags = flags as u64;
        let (size, entsize) = (size as u64, entsize as u64);
        layout.place(Section { name, kind, flags, offset: 0, size, link, info, align, entsize })
    };
    place(SEC_HASH, SHT_HASH, SHF_ALLOC, hash.len(), SEC_DYNSYM, 0, 8, 4);
    place(SEC_DYNSYM, SHT_DYNSYM, SHF_ALLOC, dynsym.len(), SEC_DYNSTR, 1, 8, SYM_SIZE);
    place(SEC_DYNSTR, SHT_STRTAB, SHF_ALLOC, dynstr.0.len(), 0, 0, 1, 0);
    place(SEC_VERSYM, SHT_GNU_VERSYM, SHF_ALLOC, versym.len(), SEC_DYNSYM, 0, 2, 2);
    place(SEC_VERDEF, SHT_GNU_VERDEF, SHF_ALLOC, verdef.len(), SEC_DYNSTR, 2, 8, 0);
    let tables_end = place(SEC_DYNAMIC, SHT_DYNAMIC, SHF_ALLOC, dynamic_len, SEC_DYNSTR, 0, 8, 16);
    assert!(tables_end <= CODE_OFFSET, "vDSO tables overlap the code");
    place(SEC_TEXT, SHT_PROGBITS, SHF_ALLOC | SHF_EXECINSTR, code.len(), 0, 0, CODE_OFFSET, 0);
    place(SEC_SHSTRTAB, SHT_STRTAB, 0, shstrtab.0.len(), 0, 0, 1, 0);
    let sections = layout.sections;
    let shoff = align_up(layout.at, 8);
    let total = shoff + SECTIONS as u64 * SHDR_SIZE as u64;

    let offset_of = |index: u16| sections[index as usize - 1].offset;
    let dynamic = dynamic_section(&[
        (DT_SONAME, soname as u64),
        (DT_HASH, offset_of(SEC_HASH)),
        (DT_SYMTAB, offset_of(SEC_DYNSYM)),
        (DT_SYMENT, SYM_SIZE as u64),
        (DT_STRTAB, offset_of(SEC_DYNSTR)),
        (DT_STRSZ, dynstr.0.len() as u64),
        (DT_VERSYM, offset_of(SEC_VERSYM)),
        (DT_VERDEF, offset_of(SEC_VERDEF)),
        (DT_VERDEFNUM, 2),
    ]);
    assert_eq!(dynamic.len(), dynamic_len);

    let mut image = vec![0u8; total as usize];
    let mut head = elf_header(shoff);
    program_headers(&mut head, total, offset_of(SEC_DYNAMIC), dynamic_len as u64);
    image[..head.len()].copy_from_slice(&head);
    let contents: [(u16, &[u8]); 8] = [
        (SEC_HASH, &hash),
        (SEC_DYNSYM, &dynsym),
        (SEC_DYNSTR, &dynstr.0),
        (SEC_VERSYM, &versym),
        (SEC_VERDEF, &verdef),
        (SEC_DYNAMIC, &dynamic),
        (SEC_TEXT, code),
        (SEC_SHSTRTAB, &shstrtab.0),
    ];
    for (index, bytes) in contents {
        let off = offset_of(index) as usize;
        image[off..off + bytes.len()].copy_from_slice(bytes);
    }
    let mut shdrs = vec![0u8; SHDR_SIZE]; // the null section
    sections.iter().for_each(|s| section_header(&mut shdrs, s));
    image[shoff as usize..].copy_from_slice(&shdrs);
    image
}

fn elf_header(shoff: u64) -> Vec<u8> {
    let mut h = Vec::with_capacity(EHDR_SIZE);
    h.extend_from_slice(ELFMAG);
    h.extend_from_slice(&[ELFCLASS64, ELFDATA2LSB, EV_CURRENT, ELFOSABI_NONE]);
    h.extend_from_slice(&[0; 8]);
    h.u16(ET_DYN);
    h.u16(EM_X86_64);
    h.u32(EV_CURRENT as u32);
    h.u64(CODE_OFFSET); // e_entry: the start of .text, as ld sets it without _start
    h.u64(EHDR_SIZE as u64); // e_phoff
    h.u64(shoff);
    h.u32(0); // e_flags
    h.u16(EHDR_SIZE as u16);
    h.u16(PHDR_SIZE as u16);
    h.u16(2); // e_phnum
    h.u16(SHDR_SIZE as u16);
    h.u16(SECTIONS);
    h.u16(SEC_SHSTRTAB);
    h
}

/// PT_LOAD maps the whole image, headers included (the lookups read the ELF header at the
/// mapping's start); PT_DYNAMIC is read-only, so glibc does not relocate it in place.
fn program_headers(h: &mut Vec<u8>, total: u64, dynamic: u64, dynamic_len: u64) {
    for (kind, flags, offset, size, align) in
        [(PT_LOAD, PF_R | PF_X, 0, total, PAGE), (PT_DYNAMIC, PF_R, dynamic, dynamic_len, 8)]
    {
        h.u32(kind);
        h.u32(flags);
        h.u64(offset);
        h.u64(offset); // p_vaddr: the image is linked at 0
        h.u64(offset); // p_paddr
        h.u64(size);
        h.u64(size);
        h.u64(align);
    }
}

/// DT_HASH with one bucket per symbol.
fn hash_table(symbols: &[Symbol]) -> Vec<u8> {
    let nsyms = symbols.len() + 1; // with the null symbol
    let nbucket = nsyms;
    let mut buckets = vec![0u32; nbucket];
    let mut chains = vec![0u32; nsyms];
    for (i, s) in symbols.iter().enumerate() {
        let index = i as u32 + 1;
        let b = elf_hash(&s.name) as usize % nbucket;
        chains[index as usize] = buckets[b];
        buckets[b] = index;
    }
    let mut out = Vec::new();
    out.u32(nbucket as u32);
    out.u32(nsyms as u32);
    buckets.iter().chain(&chains).for_each(|&w| out.u32(w));
    out
}

fn symbol_table(symbols: &[Symbol]) -> Vec<u8> {
    let mut out = vec![0u8; SYM_SIZE]; // the null symbol
    for s in symbols {
        out.u32(s.name_offset);
        out.push(s.bind << 4 | STT_FUNC);
        out.push(0); // STV_DEFAULT
        out.u16(SEC_TEXT);
        out.u64(s.value);
        out.u64(s.size);
    }
    out
}

/// .gnu.version: the null symbol is local (0), every other is at `VERSION`.
fn version_symbols(count: usize) -> Vec<u8> {
    let mut out = Vec::new();
    out.u16(0);
    (0..count).for_each(|_| out.u16(VERSION_INDEX));
    out
}

/// .gnu.version_d: the base version (the soname) and `VERSION`.
fn version_definitions(soname: u32, version: u32) -> Vec<u8> {
    let defs = [(VER_FLG_BASE, 1u16, SONAME, soname), (0, VERSION_INDEX, VERSION, version)];
    let mut out = Vec::new();
    for (i, (flags, index, name, name_offset)) in defs.into_iter().enumerate() {
        let last = i + 1 == defs.len();
        out.u16(1); // vd_version
        out.u16(flags);
        out.u16(index);
        out.u16(1); // vd_cnt
        out.u32(elf_hash(name.as_bytes()));
        out.u32(VERDEF_SIZE as u32); // vd_aux: right after
        out.u32(if last { 0 } else { (VERDEF_SIZE + VERDAUX_SIZE) as u32 });
        out.u32(name_offset); // vda_name
        out.u32(0); // vda_next
    }
    out
}

fn dynamic_section(entries: &[(u64, u64)]) -> Vec<u8> {
    let mut out = Vec::new();
    for &(tag, value) in entries.iter().chain(&[(DT_NULL, 0)]) {
        out.u64(tag);
        out.u64(value);
    }
    out
}

fn section_header(out: &mut Vec<u8>, s: &Section) {
    out.u32(s.name);
    out.u32(s.kind);
    out.u64(s.flags);
    out.u64(if s.flags & SHF_ALLOC as u64 != 0 { s.offset } else { 0 }); // sh_addr
    out.u64(s.offset);
    out.u64(s.size);
    out.u32(s.link as u32);
    out.u32(s.info);
    out.u64(s.align);
    out.u64(s.entsize);
}
