//! Linux's decisions about an ELF executable (fs/binfmt_elf.c, `load_elf_binary` and
//! `load_elf_interp`, Linux 6.x on x86_64), as pure functions: which headers it accepts
//! before execve's point of no return, and where each PT_LOAD segment's file pages and
//! zero-filled pages go after it. The loader (elf.rs) applies them; the host's unit tests
//! check them.
//!
//! What Linux looks at, and so what we look at: the magic, e_type (ET_EXEC or ET_DYN),
//! e_machine (EM_X86_64), e_phentsize and the size of the program header table. It
//! ignores EI_CLASS, EI_DATA, EI_VERSION, EI_OSABI, e_version and e_ehsize: the 64-bit
//! loader reads every file as 64-bit little-endian.

use alloc::vec::Vec;

use abi_shared::layout::{user, PAGE_SIZE};

pub const EHDR_SIZE: usize = 64;
pub const PHDR_SIZE: usize = 56;
/// load_elf_phdrs: a table of more than 64 KiB (1170 entries) is refused.
const MAX_PHDR_TABLE: usize = 65536;
/// PATH_MAX: the longest PT_INTERP Linux reads.
const MAX_INTERP_SIZE: u64 = 4096;

const ELF_MAGIC: &[u8; 4] = b"\x7fELF";
pub const ET_EXEC: u16 = linux_raw_sys::elf_uapi::ET_EXEC as u16;
pub const ET_DYN: u16 = linux_raw_sys::elf_uapi::ET_DYN as u16;
const EM_X86_64: u16 = linux_raw_sys::elf_uapi::EM_X86_64 as u16;
/// The machine this kernel runs programs of: its own (the host build, unit-tested, is x86_64's).
#[cfg(not(target_arch = "aarch64"))]
pub const GUEST_MACHINE: u16 = EM_X86_64;
#[cfg(target_arch = "aarch64")]
pub const GUEST_MACHINE: u16 = 183; // EM_AARCH64
pub const PT_LOAD: u32 = linux_raw_sys::elf_uapi::PT_LOAD;
pub const PT_INTERP: u32 = linux_raw_sys::elf_uapi::PT_INTERP;
pub const PF_X: u32 = linux_raw_sys::elf_uapi::PF_X;
pub const PF_W: u32 = linux_raw_sys::elf_uapi::PF_W;
pub const PF_R: u32 = linux_raw_sys::elf_uapi::PF_R;

/// Why the headers are refused (all ENOEXEC for the program itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HeaderError {
    NotElf,
    WrongMachine,
    BadPhdrTable,
}

/// The ELF header fields Linux uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ehdr {
    pub magic_ok: bool,
    pub e_type: u16,
    pub e_machine: u16,
    pub e_entry: u64,
    pub e_phoff: u64,
    pub e_phentsize: u16,
    pub e_phnum: u16,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}
fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap_or([0; 4]))
}
fn le64(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap_or([0; 8]))
}

impl Ehdr {
    /// Read the header as Linux does: 64-bit little-endian whatever EI_CLASS and EI_DATA
    /// say; the bytes of a file shorter than the header count as zero (execve's buffer is
    /// zeroed before the file is read into it).
    pub fn parse(file_start: &[u8]) -> Ehdr {
        let mut b = [0u8; EHDR_SIZE];
        let n = file_start.len().min(EHDR_SIZE);
        b[..n].copy_from_slice(&file_start[..n]);
        Ehdr {
            magic_ok: &b[..4] == ELF_MAGIC,
            e_type: le16(&b, 16),
            e_machine: le16(&b, 18),
            e_entry: le64(&b, 24),
            e_phoff: le64(&b, 32),
            e_phentsize: le16(&b, 54),
            e_phnum: le16(&b, 56),
        }
    }

    /// load_elf_binary's first checks, in its order.
    pub fn check_program(&self) -> Result<(), HeaderError> {
        if !self.magic_ok || (self.e_type != ET_EXEC && self.e_type != ET_DYN) {
            return Err(HeaderError::NotElf);
        }
        if self.e_machine != GUEST_MACHINE {
            return Err(HeaderError::WrongMachine);
        }
        self.phdr_table_len().map(|_| ())
    }

    /// What Linux checks of the interpreter before the point of no return (its e_type is
    /// checked only while loading it, after).
    pub fn check_interpreter(&self) -> Result<(), HeaderError> {
        if !self.magic_ok {
            return Err(HeaderError::NotElf);
        }
        if self.e_machine != GUEST_MACHINE {
            return Err(HeaderError::WrongMachine);
        }
        self.phdr_table_len().map(|_| ())
    }

    /// The size of the program header table in bytes (load_elf_phdrs' checks).
    pub fn phdr_table_len(&self) -> Result<usize, HeaderError> {
        let len = PHDR_SIZE * self.e_phnum as usize;
        if self.e_phentsize as usize != PHDR_SIZE || len == 0 || len > MAX_PHDR_TABLE {
            return Err(HeaderError::BadPhdrTable);
        }
        Ok(len)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Phdr {
    pub p_type: u32,
    pub p_flags: u32,
    pub p_offset: u64,
    pub p_vaddr: u64,
    pub p_filesz: u64,
    pub p_memsz: u64,
    pub p_align: u64,
}

/// The program header table (`raw` is whole entries).
pub fn parse_phdrs(raw: &[u8]) -> Vec<Phdr> {
    raw.chunks_exact(PHDR_SIZE)
        .map(|e| Phdr {
            p_type: le32(e, 0),
            p_flags: le32(e, 4),
            p_offset: le64(e, 8),
            p_vaddr: le64(e, 16),
            p_filesz: le64(e, 32),
            p_memsz: le64(e, 40),
            p_align: le64(e, 48),
        })
        .collect()
}

/// Linux reads the first PT_INTERP only if it holds 2 to PATH_MAX bytes.
pub fn interp_size_ok(p: &Phdr) -> bool {
    (2..=MAX_INTERP_SIZE).contains(&p.p_filesz)
}

/// The interpreter path in PT_INTERP's bytes: they must end in a NUL; the path is what
/// comes before the first NUL (Linux hands the buffer to open_exec as a C string).
pub fn interp_path(bytes: &[u8]) -> Option<&[u8]> {
    if bytes.last() != Some(&0) {
        return None;
    }
    bytes.split(|&b| b == 0).next()
}

pub const fn page_floor(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}
/// Rounded up to a page, or None past the end of the address space.
pub fn page_ceil(a: u64) -> Option<u64> {
    a.checked_add(PAGE_SIZE - 1).map(page_floor)
}
fn page_offset(a: u64) -> u64 {
    a & (PAGE_SIZE - 1)
}

/// A loaded image, as both loaders place it.
pub struct Image {
    pub entry: u64,
    pub phdr: u64,
    /// Load bias (the base of an ET_DYN, 0 for ET_EXEC).
    pub bias: u64,
    /// One past the highest page of its segments.
    pub end: u64,
}

/// Where an ET_DYN image goes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Placement {
    /// ELF_ET_DYN_BASE: a program that has an interpreter.
    DynBase,
    /// Where mmap puts the whole image (top-down): the interpreter, or an ET_DYN without
    /// one (a static PIE, ld.so run directly).
    TopDown,
}

/// total_mapping_size: from the lowest PT_LOAD's page to the highest one's end.
pub fn total_mapping_size(loads: &[Phdr]) -> u64 {
    let min = loads.iter().map(|p| page_floor(p.p_vaddr)).min().unwrap_or(0);
    let max = loads.iter().map(|p| p.p_vaddr.wrapping_add(p.p_memsz)).max().unwrap_or(0);
    max.wrapping_sub(min)
}

/// maximum_alignment: the largest power-of-two p_align of the PT_LOADs, at least a page.
pub fn maximum_alignment(loads: &[Phdr]) -> u64 {
    let align = loads.iter().map(|p| p.p_align).filter(|a| a.is_power_of_two()).max().unwrap_or(0);
    page_ceil(align).unwrap_or(PAGE_SIZE).max(PAGE_SIZE)
}

/// The load bias of a PIE that has an interpreter: ELF_ET_DYN_BASE (no randomization)
/// aligned down to the segments' alignment, less the first PT_LOAD's address. Linux takes
/// the first segment in table order, not the lowest one.
pub fn dyn_base_bias(loads: &[Phdr]) -> u64 {
    let base = user::ET_DYN_BASE & !(maximum_alignment(loads) - 1);
    page_floor(base.wrapping_sub(loads.first().map_or(0, |p| p.p_vaddr)))
}

/// The load bias that puts the first PT_LOAD's page at `placed`.
pub fn bias_for(loads: &[Phdr], placed: u64) -> u64 {
    placed.wrapping_sub(page_floor(loads.first().map_or(0, |p| p.p_vaddr)))
}

/// Where one PT_LOAD goes: file pages, then zero-filled pages (its bss).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentPlan {
    /// `[start, end)` mapped from the file at `offset` (page aligned); `read_end` is where
    /// the segment's file bytes end (the rest of that page stays zero).
    pub file: Option<FilePages>,
    /// `[start, end)` of anonymous zero pages, always writable (Linux maps a segment's
    /// bss with vm_brk, whatever its p_flags say; PF_X adds exec).
    pub zero: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FilePages {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
    pub read_end: u64,
}

/// The pages of `p` at `bias`, or None where Linux's mmap or its checks fail (which kill
/// the process: this runs after the point of no return).
pub fn plan_segment(p: &Phdr, bias: u64) -> Option<SegmentPlan> {
    // load_elf_binary's own check, on the unbiased address.
    if p.p_vaddr >= user::TASK_SIZE
        || p.p_filesz > p.p_memsz
        || p.p_memsz > user::TASK_SIZE
        || user::TASK_SIZE - p.p_memsz < p.p_vaddr
    {
        return None;
    }
    let addr = bias.wrapping_add(p.p_vaddr);
    let fits = |start: u64, end: u64| start >= user::MMAP_MIN && start < end && end <= user::TASK_SIZE;
    let file = if p.p_filesz > 0 {
        // mmap needs a page-aligned file offset: p_offset and p_vaddr must agree modulo
        // the page size.
        let offset = p.p_offset.checked_sub(page_offset(p.p_vaddr)).filter(|o| page_offset(*o) == 0)?;
        let (start, read_end) = (page_floor(addr), addr.checked_add(p.p_filesz)?);
        let end = page_ceil(read_end)?;
        if !fits(start, end) {
            return None;
        }
        Some(FilePages { start, end, offset, read_end })
    } else {
        None
    };
    let zero_start = match file {
        Some(f) => f.end,
        None => page_floor(addr),
    };
    let zero_end = page_ceil(addr.checked_add(p.p_memsz)?)?;
    let zero = if p.p_memsz > p.p_filesz && zero_start < zero_end {
        if !fits(zero_start, zero_end) {
            return None;
        }
        Some((zero_start, zero_end))
    } else {
        None
    };
    Some(SegmentPlan { file, zero })
}

/// AT_PHDR: the address of the program headers inside the PT_LOAD whose file bytes hold
/// them (the last such, as Linux's loop leaves it); without one, the bias (Linux adds it
/// to 0).
pub fn phdr_address(loads: &[Phdr], e_phoff: u64, bias: u64) -> u64 {
    loads
        .iter()
        .rev()
        .find(|p| p.p_offset <= e_phoff && e_phoff < p.p_offset.wrapping_add(p.p_filesz))
        .map_or(0, |p| (e_phoff - p.p_offset).wrapping_add(p.p_vaddr))
        .wrapping_add(bias)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(ident: [u8; 4], e_type: u16, machine: u16, phentsize: u16, phnum: u16) -> Vec<u8> {
        let mut h = vec![0u8; EHDR_SIZE];
        h[..4].copy_from_slice(ELF_MAGIC);
        h[4..8].copy_from_slice(&ident);
        h[16..18].copy_from_slice(&e_type.to_le_bytes());
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h[54..56].copy_from_slice(&phentsize.to_le_bytes());
        h[56..58].copy_from_slice(&phnum.to_le_bytes());
        h
    }

    #[test]
    fn class_data_and_version_bytes_are_ignored() {
        for ident in [[2, 1, 1, 0], [1, 1, 1, 0], [0, 0, 0, 0], [2, 2, 9, 0x61]] {
            let h = Ehdr::parse(&header(ident, ET_EXEC, EM_X86_64, 56, 2));
            assert_eq!(h.check_program(), Ok(()), "{ident:?}");
        }
    }

    #[test]
    fn type_machine_and_table_are_checked() {
        let check = |t, m, entsize, n| Ehdr::parse(&header([2, 1, 1, 0], t, m, entsize, n)).check_program();
        assert_eq!(check(1, EM_X86_64, 56, 2), Err(HeaderError::NotElf));
        assert_eq!(check(ET_DYN, 3, 56, 2), Err(HeaderError::WrongMachine));
        assert_eq!(check(ET_DYN, EM_X86_64, 32, 2), Err(HeaderError::BadPhdrTable));
        assert_eq!(check(ET_DYN, EM_X86_64, 56, 0), Err(HeaderError::BadPhdrTable));
        assert_eq!(check(ET_DYN, EM_X86_64, 56, 1170), Ok(()));
        assert_eq!(check(ET_DYN, EM_X86_64, 56, 1171), Err(HeaderError::BadPhdrTable));
        assert_eq!(Ehdr::parse(b"\x7fELF").check_program(), Err(HeaderError::NotElf));
    }

    #[test]
    fn interpreter_path_must_end_in_nul() {
        assert_eq!(interp_path(b"/lib/ld.so\0"), Some(&b"/lib/ld.so"[..]));
        assert_eq!(interp_path(b"/a\0junk\0"), Some(&b"/a"[..]));
        assert_eq!(interp_path(b"/lib/ld.so"), None);
        assert_eq!(interp_path(b""), None);
        let p = |n| Phdr { p_type: PT_INTERP, p_filesz: n, ..Phdr::default() };
        assert!(!interp_size_ok(&p(0)) && !interp_size_ok(&p(1)) && !interp_size_ok(&p(4097)));
        assert!(interp_size_ok(&p(2)) && interp_size_ok(&p(4096)));
    }

    fn load(vaddr: u64, offset: u64, filesz: u64, memsz: u64) -> Phdr {
        Phdr {
            p_type: PT_LOAD,
            p_flags: PF_R,
            p_offset: offset,
            p_vaddr: vaddr,
            p_filesz: filesz,
            p_memsz: memsz,
            p_align: 0x1000,
        }
    }

    #[test]
    fn segment_pages_and_bss() {
        let plan = plan_segment(&load(0x401238, 0x1238, 0x100, 0x3000), 0).unwrap();
        let file = FilePages { start: 0x401000, end: 0x402000, offset: 0x1000, read_end: 0x401338 };
        assert_eq!(plan, SegmentPlan { file: Some(file), zero: Some((0x402000, 0x405000)) });
        let bss_only = plan_segment(&load(0x600010, 0, 0, 0x10), 0).unwrap();
        assert_eq!(bss_only, SegmentPlan { file: None, zero: Some((0x600000, 0x601000)) });
    }

    #[test]
    fn segments_linux_refuses() {
        assert_eq!(plan_segment(&load(0x401000, 0x1000, 0x200, 0x100), 0), None, "filesz > memsz");
        assert_eq!(plan_segment(&load(0x401000, 0x1800, 0x10, 0x10), 0), None, "offset not congruent");
        assert_eq!(plan_segment(&load(0x1000, 0, 0x10, 0x10), 0), None, "below mmap_min_addr");
        assert_eq!(plan_segment(&load(0x401000, 0x1000, 0x10, 0x7fff_ffc0_0000), 0), None, "past TASK_SIZE");
        assert!(plan_segment(&load(0x401000, 0x1000, 0x10, 40 << 40), 0).is_some(), "memory is checked apart");
    }

    #[test]
    fn placement_follows_the_first_segment() {
        let loads = [load(0x2000, 0x2000, 0x10, 0x10), load(0, 0, 0x10, 0x10)];
        assert_eq!(total_mapping_size(&loads), 0x2010);
        assert_eq!(dyn_base_bias(&loads), user::ET_DYN_BASE - 0x2000);
        assert_eq!(bias_for(&loads, 0x7000_0000_0000), 0x7000_0000_0000 - 0x2000);
        let aligned = [Phdr { p_align: 0x20_0000, ..load(0, 0, 0x10, 0x10) }];
        assert_eq!(dyn_base_bias(&aligned), user::ET_DYN_BASE & !0x1f_ffff);
    }

    #[test]
    fn phdr_address_is_inside_the_segment_holding_the_table() {
        let loads = [load(0x400000, 0, 0x1000, 0x1000), load(0x401000, 0x1000, 0x1000, 0x1000)];
        assert_eq!(phdr_address(&loads, 64, 0), 0x400040);
        assert_eq!(phdr_address(&loads, 0x1100, 0x10), 0x401110);
        assert_eq!(phdr_address(&loads, 0x2000, 0x10), 0x10, "none: Linux adds the bias to 0");
    }
}
