//! Load an ELF executable (static, static-PIE, or dynamic with its interpreter) into a
//! fresh user address space.
//! The file is read through hypercalls straight into the frames that back its segments.

use alloc::vec;
use alloc::vec::Vec;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header;
use goblin::elf::program_header::{ProgramHeader, PF_R, PF_W, PF_X, PT_INTERP, PT_LOAD, PT_PHDR};
use goblin::elf64::header::{Header, SIZEOF_EHDR};

use abi_shared::hypercall::{Request, SegList, Startup};
use abi_shared::layout::{user, PAGE_SIZE};
use abi_shared::linux::general::{AT_FDCWD, O_CLOEXEC, O_RDONLY};

use super::stack::{self, StackInput};
use crate::arch::entry::{TrapFrame, SYSCALL_VECTOR};
use crate::hypercall;
use crate::mm::paging::{page_ceil, page_floor};
use crate::mm::uaccess;
use crate::mm::vma::{VmaKind, PROT_EXEC, PROT_READ, PROT_WRITE};
use crate::mm::{Access, SPACE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// The host could not open the file (negative errno).
    Open(i64),
    Read,
    NotElf,
    WrongMachine,
    /// The ELF interpreter could not be opened (negative errno).
    Interpreter(i64),
    BadLayout,
    NoMemory,
    StackTooBig,
}

const RLIMIT_STACK: u64 = 3;

/// Room for the initial stack's arguments: Linux's limit for the strings and pointers, plus
/// a page for auxv and the rest (execve measured the arguments exactly before it got here).
fn stack_limit() -> u64 {
    super::args::arg_limit(crate::task::rlimit_soft(RLIMIT_STACK)) + PAGE_SIZE
}

/// The soft RLIMIT_STACK, which execve measures arguments against.
pub fn rlimit_stack() -> u64 {
    crate::task::rlimit_soft(RLIMIT_STACK)
}
/// Linux's stack_expand: room below the arguments in the initial stack VMA.
const STACK_EXPAND: u64 = 128 << 10;

/// Load `startup.exec_path` (and its ELF interpreter, if it names one), build its stack and
/// return the registers to enter it with.
pub fn exec(startup: &Startup) -> Result<TrapFrame, LoadError> {
    let fd = open(&startup.exec_path).map_err(LoadError::Open)?;
    // A relative path was made absolute at startup (the program may chdir before
    // /proc/self/maps is read).
    let exe = if startup.exec_path.starts_with(b"/") { startup.exec_path.clone() } else { crate::task::exe_path() };
    let program = Program { fd, exe: &exe, execfn: &startup.exec_path, argv: &startup.argv, envp: &startup.envp };
    let result = check(fd).and_then(|checked| load(&program, checked));
    close(fd);
    result
}

/// What to load into the (empty) user address space.
pub struct Program<'a> {
    /// The ELF, open for reading; the caller closes it.
    pub fd: i32,
    /// Its path, for /proc/self/maps.
    pub exe: &'a [u8],
    /// The name it was executed by (AT_EXECFN).
    pub execfn: &'a [u8],
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
}

/// The ELF headers of a program, read and checked while the old image still exists (so
/// that execve can still fail with ENOEXEC instead of killing the process).
pub struct Checked {
    elf: Parsed,
    interp_path: Option<Vec<u8>>,
}

pub fn check(fd: i32) -> Result<Checked, LoadError> {
    let elf = parse(fd)?;
    let interp_path = elf.interp_path(fd)?;
    Ok(Checked { elf, interp_path })
}

/// Load `program` (and its ELF interpreter, if it names one), build its stack and return
/// the registers to enter it with.
pub fn load(program: &Program<'_>, checked: Checked) -> Result<TrapFrame, LoadError> {
    let (fd, elf, interp_path) = (program.fd, checked.elf, checked.interp_path);
    // Linux puts a PIE that has an interpreter at ELF_ET_DYN_BASE, and lets mmap place
    // one without (a static PIE, or ld.so run directly).
    let placement = if interp_path.is_some() { Placement::DynBase } else { Placement::TopDown };
    let image = map_image(fd, &elf, placement)?;
    name_segments(&elf, &image, program.exe);
    set_break(&elf, &image, interp_path.is_some());
    let interp = match interp_path {
        Some(path) => Some(load_interpreter(&path)?),
        None => None,
    };
    build_frame(program, &image, interp.as_ref())
}

impl LoadError {
    /// What execve returns when the new program fails these checks.
    pub fn errno(self) -> u32 {
        use abi_shared::linux::errno;
        match self {
            LoadError::Open(e) | LoadError::Interpreter(e) => (-e) as u32,
            // Linux says ENOEXEC for program headers it cannot read (a truncated file) too.
            LoadError::Read | LoadError::NotElf | LoadError::WrongMachine | LoadError::BadLayout => errno::ENOEXEC,
            LoadError::NoMemory => errno::ENOMEM,
            LoadError::StackTooBig => errno::E2BIG,
        }
    }
}

fn open(path: &[u8]) -> Result<i32, i64> {
    let fd =
        hypercall::call_ret(&Request::Openat { dirfd: AT_FDCWD, path, flags: (O_RDONLY | O_CLOEXEC) as i32, mode: 0 });
    if fd < 0 {
        Err(fd)
    } else {
        Ok(fd as i32)
    }
}

fn close(fd: i32) {
    hypercall::call_ret(&Request::Close { fd });
}

/// The interpreter: an ELF of its own, placed by mmap (top-down), like Linux does.
fn load_interpreter(path: &[u8]) -> Result<Image, LoadError> {
    let fd = open(path).map_err(LoadError::Interpreter)?;
    let result = parse(fd).and_then(|elf| {
        if elf.hdr.e_type != header::ET_DYN && elf.hdr.e_type != header::ET_EXEC {
            return Err(LoadError::NotElf);
        }
        let image = map_image(fd, &elf, Placement::TopDown)?;
        name_segments(&elf, &image, path);
        Ok(image)
    });
    close(fd);
    result
}

/// A loaded image.
pub struct Image {
    entry: u64,
    phdr: u64,
    phnum: u64,
    /// Load bias (the base for an ET_DYN, 0 for ET_EXEC).
    bias: u64,
    /// One past the highest page of its segments.
    end: u64,
}

/// Where an ET_DYN image goes.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Placement {
    DynBase,
    TopDown,
}

struct Parsed {
    hdr: Header,
    phdrs: Vec<ProgramHeader>,
}

impl Parsed {
    /// The PT_INTERP path, without its NUL.
    fn interp_path(&self, fd: i32) -> Result<Option<Vec<u8>>, LoadError> {
        let Some(p) = self.phdrs.iter().find(|p| p.p_type == PT_INTERP) else { return Ok(None) };
        if p.p_filesz < 2 || p.p_filesz > 4096 {
            return Err(LoadError::BadLayout);
        }
        let mut path = vec![0u8; p.p_filesz as usize];
        read_exact(fd, &mut path, p.p_offset)?;
        if path.pop() != Some(0) || path.contains(&0) {
            return Err(LoadError::BadLayout);
        }
        Ok(Some(path))
    }
}

fn read_exact(fd: i32, buf: &mut [u8], offset: u64) -> Result<(), LoadError> {
    let n = hypercall::pread_kernel(fd, buf, offset as i64);
    if n == buf.len() as i64 {
        Ok(())
    } else {
        Err(LoadError::Read)
    }
}

fn parse(fd: i32) -> Result<Parsed, LoadError> {
    let mut ehdr = [0u8; SIZEOF_EHDR];
    read_exact(fd, &mut ehdr, 0).map_err(|_| LoadError::NotElf)?;
    let hdr = Header::parse(&ehdr).map_err(|_| LoadError::NotElf)?;
    if hdr.e_ident[header::EI_CLASS] != header::ELFCLASS64 || hdr.e_machine != header::EM_X86_64 {
        return Err(LoadError::WrongMachine);
    }
    if hdr.e_type != header::ET_EXEC && hdr.e_type != header::ET_DYN {
        return Err(LoadError::NotElf);
    }
    let phnum = hdr.e_phnum as usize;
    if hdr.e_phentsize as usize != goblin::elf64::program_header::SIZEOF_PHDR || phnum == 0 || phnum > 256 {
        return Err(LoadError::BadLayout);
    }
    let mut raw = vec![0u8; phnum * goblin::elf64::program_header::SIZEOF_PHDR];
    read_exact(fd, &mut raw, hdr.e_phoff)?;
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs = ProgramHeader::parse(&raw, 0, phnum, ctx).map_err(|_| LoadError::BadLayout)?;
    Ok(Parsed { hdr, phdrs })
}

/// Map the PT_LOAD segments of `elf` and fill them from the file.
fn map_image(fd: i32, elf: &Parsed, placement: Placement) -> Result<Image, LoadError> {
    let hdr = &elf.hdr;
    let loads: Vec<&ProgramHeader> = elf.phdrs.iter().filter(|p| p.p_type == PT_LOAD).collect();
    let lowest = loads.iter().map(|p| page_floor(p.p_vaddr)).min().ok_or(LoadError::BadLayout)?;
    let highest = loads
        .iter()
        .map(|p| p.p_vaddr.checked_add(p.p_memsz).map(page_ceil))
        .try_fold(0u64, |m, e| e.map(|e| m.max(e)))
        .ok_or(LoadError::BadLayout)?;
    let bias = match (hdr.e_type == header::ET_DYN, placement) {
        (false, _) => 0,
        (true, Placement::DynBase) => user::ET_DYN_BASE.checked_sub(lowest).ok_or(LoadError::BadLayout)?,
        (true, Placement::TopDown) => {
            let place = SPACE.lock().find_placement(0, highest - lowest).map_err(|_| LoadError::NoMemory)?;
            place - lowest
        }
    };
    if bias.checked_add(highest).is_none_or(|e| e > user::TASK_SIZE) || lowest + bias < user::MMAP_MIN {
        return Err(LoadError::BadLayout);
    }
    let mut mapped_end = 0u64;
    let mut pieces = Vec::new();
    for p in &loads {
        let start = page_floor(bias + p.p_vaddr).max(mapped_end);
        mapped_end = load_segment(fd, p, bias, mapped_end)?;
        if start < mapped_end {
            pieces.push((start, mapped_end, segment_prot(p.p_flags)));
        }
    }
    // Loading needed write access; now give each piece its real protection. A page shared
    // with a previous segment keeps the first segment's protection.
    for (start, end, prot) in pieces {
        let _ = SPACE.lock().protect(start, end, prot);
    }
    let phdr = elf
        .phdrs
        .iter()
        .find(|p| p.p_type == PT_PHDR)
        .map(|p| p.p_vaddr)
        .or_else(|| loads.iter().find(|p| p.p_offset == 0).map(|p| p.p_vaddr + hdr.e_phoff))
        .unwrap_or(0)
        + bias;
    Ok(Image { entry: bias + hdr.e_entry, phdr, phnum: elf.phdrs.len() as u64, bias, end: bias + highest })
}

/// Name the file-backed part of each PT_LOAD for /proc/self/maps, as Linux's file
/// mappings show it (the zero-filled tail past p_filesz is anonymous there).
fn name_segments(elf: &Parsed, image: &Image, path: &[u8]) {
    let mut named_end = 0;
    for p in elf.phdrs.iter().filter(|p| p.p_type == PT_LOAD && p.p_filesz > 0) {
        let first = page_floor(image.bias + p.p_vaddr);
        let start = first.max(named_end);
        let end = page_ceil(image.bias + p.p_vaddr + p.p_filesz);
        crate::fs::procfs::name_image(start, end, path, page_floor(p.p_offset) + (start - first));
        named_end = named_end.max(end);
    }
}

/// The program break starts after the program's image; a static PIE sits at the top of the
/// mmap area where it could not grow, so Linux moves the break of an interpreter-less
/// ET_DYN to ELF_ET_DYN_BASE, and so do we.
fn set_break(elf: &Parsed, program: &Image, has_interp: bool) {
    let brk = if elf.hdr.e_type == header::ET_DYN && !has_interp { user::ET_DYN_BASE } else { program.end };
    let mut space = SPACE.lock();
    space.brk_start = brk;
    space.brk = brk;
}

fn segment_prot(flags: u32) -> u32 {
    let mut prot = 0;
    if flags & PF_R != 0 {
        prot |= PROT_READ;
    }
    if flags & PF_W != 0 {
        prot |= PROT_WRITE;
    }
    if flags & PF_X != 0 {
        prot |= PROT_EXEC;
    }
    prot
}

/// Reserve the segment (writable while loading), then read its file bytes into place; the
/// rest of its memory is zero because frames come zeroed. Returns the new mapped end.
fn load_segment(fd: i32, p: &ProgramHeader, bias: u64, mapped_end: u64) -> Result<u64, LoadError> {
    if p.p_filesz > p.p_memsz {
        return Err(LoadError::BadLayout);
    }
    let start = page_floor(bias + p.p_vaddr).max(mapped_end);
    let end = page_ceil(bias + p.p_vaddr + p.p_memsz);
    if start < end {
        SPACE
            .lock()
            .map_anon(start, end - start, segment_prot(p.p_flags) | PROT_WRITE, true, VmaKind::Image)
            .map_err(|_| LoadError::NoMemory)?;
    }
    if p.p_filesz > 0 {
        let mut segs = Vec::new();
        uaccess::user_segments(bias + p.p_vaddr, p.p_filesz, Access::Write, &mut segs)
            .map_err(|_| LoadError::NoMemory)?;
        let n =
            hypercall::call_ret(&Request::Read { fd, buf: SegList::Borrowed(&segs), offset: Some(p.p_offset as i64) });
        if n != p.p_filesz as i64 {
            return Err(LoadError::Read);
        }
    }
    Ok(end.max(mapped_end))
}

fn build_frame(program: &Program<'_>, image: &Image, interp: Option<&Image>) -> Result<TrapFrame, LoadError> {
    let (uid, euid, gid, egid) = crate::task::credentials();
    let vdso = super::vdso::map_into_process().map_err(|_| LoadError::NoMemory)?;
    let hwcap = crate::arch::platform::cpuid(1, 0)[3] as u64;
    let auxv = [
        (stack::AT_SYSINFO_EHDR, vdso),
        (stack::AT_PHDR, image.phdr),
        (stack::AT_PHENT, goblin::elf64::program_header::SIZEOF_PHDR as u64),
        (stack::AT_PHNUM, image.phnum),
        (stack::AT_PAGESZ, PAGE_SIZE),
        (stack::AT_BASE, interp.map_or(0, |i| i.bias)),
        (stack::AT_FLAGS, 0),
        (stack::AT_ENTRY, image.entry),
        (stack::AT_UID, uid as u64),
        (stack::AT_EUID, euid as u64),
        (stack::AT_GID, gid as u64),
        (stack::AT_EGID, egid as u64),
        (stack::AT_SECURE, 0),
        (stack::AT_HWCAP, hwcap),
        (stack::AT_HWCAP2, 0x2), // HWCAP2_FSGSBASE: the kernel enables FSGSBASE
        (stack::AT_CLKTCK, 100),
        (stack::AT_MINSIGSTKSZ, crate::signal::frame::MIN_SIGSTKSZ),
    ];
    let mut random = [0u8; 16];
    crate::random::fill(&mut random);
    let input = StackInput {
        top: user::STACK_TOP,
        argv: program.argv,
        envp: program.envp,
        execfn: program.execfn,
        random,
        auxv: &auxv,
    };
    // Linux refuses arguments above a quarter of the stack limit (execve checked it before
    // the old image was gone; this is the first program's check).
    let img = stack::build(&input, stack_limit()).ok_or(LoadError::StackTooBig)?;
    // As Linux: the stack VMA starts as the arguments plus 128 KiB, and grows down on
    // faults below it up to RLIMIT_STACK.
    let initial = page_ceil(img.bytes.len() as u64) + STACK_EXPAND;
    SPACE
        .lock()
        .map_anon(user::STACK_TOP - initial, initial, PROT_READ | PROT_WRITE, true, VmaKind::Stack)
        .map_err(|_| LoadError::NoMemory)?;
    uaccess::copy_to_user(img.sp, &img.bytes).map_err(|_| LoadError::NoMemory)?;
    Ok(TrapFrame {
        rip: interp.map_or(image.entry, |i| i.entry),
        rsp: img.sp,
        cs: 0x33,
        ss: 0x2b,
        rflags: 0x202,
        vector: SYSCALL_VECTOR,
        ..TrapFrame::default()
    })
}
