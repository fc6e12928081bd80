//! Load an ELF executable (static, static-PIE, or dynamic with its interpreter) into a
//! fresh user address space.
//! The file is read through hypercalls straight into the frames that back its segments.

use alloc::vec;
use alloc::vec::Vec;

use abi_shared::hypercall::{ExitHow, FsRequest, Request, SegList, Startup};
use abi_shared::layout::{user, PAGE_SIZE};
use abi_shared::linux::errno;
use abi_shared::linux::general::{AT_FDCWD, O_CLOEXEC, O_RDONLY};

use super::elf_rules::{
    self as rules, Ehdr, HeaderError, Image, Phdr, Placement, SegmentPlan, EHDR_SIZE, PT_INTERP, PT_LOAD,
};
use super::stack::{self, StackInput};
use crate::arch::entry::{TrapFrame, SYSCALL_VECTOR};
use crate::hypercall;
use crate::mm::paging::page_ceil;
use crate::mm::uaccess;
use crate::mm::vma::{VmaKind, PROT_EXEC, PROT_READ, PROT_WRITE};
use crate::mm::{Access, SPACE};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoadError {
    /// The host could not open or read the file (negative errno).
    Open(i64),
    /// A read came short (EIO, as Linux's elf_read says).
    Read,
    NotElf,
    WrongMachine,
    /// The ELF interpreter could not be opened, or is no x86_64 ELF (negative errno).
    Interpreter(i64),
    BadLayout,
    NoMemory,
    StackTooBig,
}

const RLIMIT_STACK: u64 = abi_shared::linux::general::RLIMIT_STACK as u64;

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
/// return the registers to enter it with. Like execve, a failure found while checking the
/// headers is an error (the caller exits 126 or 127 as a shell would); a failure while
/// mapping the image kills the program with SIGSEGV, as Linux does past the point of no
/// return.
pub fn exec(startup: &Startup) -> Result<TrapFrame, LoadError> {
    let fd = open(&startup.exec_path).map_err(LoadError::Open)?;
    // A relative path was made absolute at startup (the program may chdir before
    // /proc/self/maps is read).
    let exe = if startup.exec_path.starts_with(b"/") { startup.exec_path.clone() } else { crate::task::exe_path() };
    let program = Program { fd, exe: &exe, execfn: &startup.filename, argv: &startup.argv, envp: &startup.envp };
    let result = check(fd).and_then(|checked| match load(&program, checked) {
        // The first program's arguments were never measured by an execve: that is a
        // refusal, not a failed image.
        Err(LoadError::StackTooBig) => Err(LoadError::StackTooBig),
        Err(e) => die_like_linux(&startup.exec_path, e),
        ok => ok,
    });
    close(fd);
    result
}

/// The image could not be mapped: Linux kills the process with SIGSEGV at that point.
fn die_like_linux(path: &[u8], e: LoadError) -> ! {
    let path = core::str::from_utf8(path).unwrap_or("program");
    let why = match e {
        LoadError::NoMemory => "its segments do not fit in memory (see --memory)",
        _ => "its segments cannot be mapped as the ELF headers say",
    };
    crate::print::log(0, format_args!("{path}: {why}; killed by SIGSEGV, as Linux does"));
    crate::task::exit::terminate(ExitHow::Signal(abi_shared::linux::signal::SIGSEGV))
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

/// The ELF headers of a program and of its interpreter (open), read and checked while the
/// old image still exists, so that execve can still fail with an errno instead of killing
/// the process: what Linux checks before its point of no return.
pub struct Checked {
    elf: Parsed,
    interp: Option<Interpreter>,
}

struct Interpreter {
    path: Vec<u8>,
    fd: i32,
    elf: Parsed,
}

impl Drop for Interpreter {
    fn drop(&mut self) {
        close(self.fd);
    }
}

pub fn check(fd: i32) -> Result<Checked, LoadError> {
    let elf = parse(fd)?;
    elf.hdr.check_program().map_err(header_error)?;
    let interp = match elf.interp_path(fd)? {
        Some(path) => Some(open_interpreter(path)?),
        None => None,
    };
    Ok(Checked { elf, interp })
}

fn header_error(e: HeaderError) -> LoadError {
    match e {
        HeaderError::NotElf => LoadError::NotElf,
        HeaderError::WrongMachine => LoadError::WrongMachine,
        HeaderError::BadPhdrTable => LoadError::BadLayout,
    }
}

/// Open the interpreter and check its headers as Linux does before the point of no
/// return: a short header is EIO, anything else wrong ELIBBAD.
fn open_interpreter(path: Vec<u8>) -> Result<Interpreter, LoadError> {
    let fd = open(&path).map_err(LoadError::Interpreter)?;
    let elf = match parse(fd) {
        Ok(elf) if elf.hdr.check_interpreter().is_ok() => Ok(elf),
        Err(LoadError::Read) => Err(LoadError::Interpreter(-(errno::EIO as i64))),
        _ => Err(LoadError::Interpreter(-(errno::ELIBBAD as i64))),
    };
    match elf {
        Ok(elf) => Ok(Interpreter { path, fd, elf }),
        Err(e) => {
            close(fd);
            Err(e)
        }
    }
}

/// Load `program` (and its ELF interpreter, if it names one), build its stack and return
/// the registers to enter it with. An error here comes after the point of no return.
pub fn load(program: &Program<'_>, checked: Checked) -> Result<TrapFrame, LoadError> {
    let (fd, elf, interp) = (program.fd, checked.elf, checked.interp);
    // Linux puts a PIE that has an interpreter at ELF_ET_DYN_BASE, and lets mmap place
    // one without (a static PIE, or ld.so run directly).
    let placement = if interp.is_some() { Placement::DynBase } else { Placement::TopDown };
    let image = map_image(fd, &elf, placement, program.exe)?;
    set_break(&elf, &image, interp.is_some());
    let interp = match interp {
        Some(i) => Some(load_interpreter(&i)?),
        None => None,
    };
    build_frame(program, &elf, &image, interp.as_ref())
}

impl LoadError {
    /// What execve returns when the new program fails these checks.
    pub fn errno(self) -> u32 {
        match self {
            LoadError::Open(e) | LoadError::Interpreter(e) => (-e) as u32,
            LoadError::Read => errno::EIO,
            LoadError::NotElf | LoadError::WrongMachine | LoadError::BadLayout => errno::ENOEXEC,
            LoadError::NoMemory => errno::ENOMEM,
            LoadError::StackTooBig => errno::E2BIG,
        }
    }
}

fn open(path: &[u8]) -> Result<i32, i64> {
    let fd = hypercall::call_ret(&Request::Fs(FsRequest::Openat {
        dirfd: AT_FDCWD,
        path,
        flags: (O_RDONLY | O_CLOEXEC) as i32,
        mode: 0,
    }));
    if fd < 0 {
        Err(fd)
    } else {
        Ok(fd as i32)
    }
}

fn close(fd: i32) {
    hypercall::call_ret(&Request::Fs(FsRequest::Close { fd }));
}

/// The interpreter: an ELF of its own, placed by mmap (top-down), like Linux does. Its
/// e_type is checked only now, past the point of no return, as Linux does.
fn load_interpreter(interp: &Interpreter) -> Result<Image, LoadError> {
    let t = interp.elf.hdr.e_type;
    if t != rules::ET_DYN && t != rules::ET_EXEC {
        return Err(LoadError::NotElf);
    }
    map_image(interp.fd, &interp.elf, Placement::TopDown, &interp.path)
}

struct Parsed {
    hdr: Ehdr,
    phdrs: Vec<Phdr>,
}

impl Parsed {
    /// The first PT_INTERP's path, checked as Linux checks it (ENOEXEC for a size out of
    /// 2..=PATH_MAX or a missing NUL, EIO for a short read).
    fn interp_path(&self, fd: i32) -> Result<Option<Vec<u8>>, LoadError> {
        let Some(p) = self.phdrs.iter().find(|p| p.p_type == PT_INTERP) else { return Ok(None) };
        if !rules::interp_size_ok(p) {
            return Err(LoadError::BadLayout);
        }
        let mut bytes = vec![0u8; p.p_filesz as usize];
        read_exact(fd, &mut bytes, p.p_offset)?;
        rules::interp_path(&bytes).map(|path| Some(path.to_vec())).ok_or(LoadError::BadLayout)
    }

    fn loads(&self) -> Vec<Phdr> {
        self.phdrs.iter().filter(|p| p.p_type == PT_LOAD).copied().collect()
    }
}

fn read_exact(fd: i32, buf: &mut [u8], offset: u64) -> Result<(), LoadError> {
    let n = hypercall::pread_kernel(fd, buf, offset as i64);
    if n == buf.len() as i64 {
        Ok(())
    } else if n < 0 {
        Err(LoadError::Open(n))
    } else {
        Err(LoadError::Read)
    }
}

/// The ELF header (zero past the end of a short file, as in Linux's buffer) and, if the
/// header passes load_elf_phdrs' checks, the program header table. A table that cannot
/// be read whole is ENOEXEC, as load_elf_phdrs says.
fn parse(fd: i32) -> Result<Parsed, LoadError> {
    let mut ehdr = [0u8; EHDR_SIZE];
    let n = hypercall::pread_kernel(fd, &mut ehdr, 0);
    if n < 0 {
        return Err(LoadError::Open(n));
    }
    let hdr = Ehdr::parse(&ehdr[..n as usize]);
    if !hdr.magic_ok {
        return Err(LoadError::NotElf);
    }
    let len = hdr.phdr_table_len().map_err(header_error)?;
    let mut raw = vec![0u8; len];
    read_exact(fd, &mut raw, hdr.e_phoff).map_err(|_| LoadError::BadLayout)?;
    Ok(Parsed { hdr, phdrs: rules::parse_phdrs(&raw) })
}

/// Map the PT_LOAD segments of `elf` in table order, as Linux does: each one replaces
/// whatever an earlier one left in its pages, and its bss is zero-filled writable memory.
fn map_image(fd: i32, elf: &Parsed, placement: Placement, path: &[u8]) -> Result<Image, LoadError> {
    let hdr = &elf.hdr;
    let loads = elf.loads();
    if loads.is_empty() {
        return Err(LoadError::BadLayout);
    }
    let bias = match (hdr.e_type == rules::ET_DYN, placement) {
        (false, _) => 0,
        (true, Placement::DynBase) => rules::dyn_base_bias(&loads),
        (true, Placement::TopDown) => top_down_bias(&loads)?,
    };
    let mut end = 0u64;
    for p in &loads {
        let plan = rules::plan_segment(p, bias).ok_or(LoadError::BadLayout)?;
        load_segment(fd, p, &plan, path)?;
        // plan_segment checked that the segment ends inside the address space.
        end = end.max(page_ceil(bias.wrapping_add(p.p_vaddr).wrapping_add(p.p_memsz)));
    }
    let entry = bias.wrapping_add(hdr.e_entry);
    if entry >= user::TASK_SIZE {
        return Err(LoadError::BadLayout);
    }
    Ok(Image { entry, phdr: rules::phdr_address(&loads, hdr.e_phoff, bias), bias, end })
}

/// A PIE without an interpreter (or the interpreter itself) goes where mmap puts the whole
/// image, aligned down to its segments' alignment.
fn top_down_bias(loads: &[Phdr]) -> Result<u64, LoadError> {
    let total = rules::page_ceil(rules::total_mapping_size(loads)).ok_or(LoadError::BadLayout)?;
    let placed = SPACE.lock().find_placement(0, total).map_err(|_| LoadError::NoMemory)?;
    Ok(rules::bias_for(loads, placed & !(rules::maximum_alignment(loads) - 1)))
}

fn segment_prot(flags: u32) -> u32 {
    let mut prot = 0;
    if flags & rules::PF_R != 0 {
        prot |= PROT_READ;
    }
    if flags & rules::PF_W != 0 {
        prot |= PROT_WRITE;
    }
    if flags & rules::PF_X != 0 {
        prot |= PROT_EXEC;
    }
    prot
}

/// Map one segment: its file pages (writable while they are read in, then given the
/// segment's protection) and its zero-filled pages (fresh frames are zero).
fn load_segment(fd: i32, p: &Phdr, plan: &SegmentPlan, path: &[u8]) -> Result<(), LoadError> {
    let prot = segment_prot(p.p_flags);
    if let Some(f) = plan.file {
        // A private writable mapping is committed memory: Linux's overcommit heuristic
        // refuses one larger than all memory.
        map_fresh(f.start, f.end, prot | PROT_WRITE, prot & PROT_WRITE != 0)?;
        read_into(fd, f.start, f.read_end - f.start, f.offset)?;
        crate::fs::procfs::name_image(f.start, f.end, path, f.offset);
        let _ = SPACE.lock().protect(f.start, f.end, prot);
    }
    if let Some((start, end)) = plan.zero {
        map_fresh(start, end, PROT_READ | PROT_WRITE | (prot & PROT_EXEC), true)?;
    }
    Ok(())
}

/// Replace `[start, end)` with fresh anonymous memory.
fn map_fresh(start: u64, end: u64, prot: u32, committed: bool) -> Result<(), LoadError> {
    let mut space = SPACE.lock();
    if committed && end - start > space.commit_limit {
        return Err(LoadError::NoMemory);
    }
    space.map_anon(start, end - start, prot, true, VmaKind::Image).map_err(|_| LoadError::NoMemory)?;
    Ok(())
}

/// Read `len` bytes of the file at `offset` to user address `addr`. A file that ends
/// early leaves zeros, as a mapping of a short file reads them.
fn read_into(fd: i32, addr: u64, len: u64, offset: u64) -> Result<(), LoadError> {
    let mut segs = Vec::new();
    uaccess::user_segments(addr, len, Access::Write, &mut segs).map_err(|_| LoadError::NoMemory)?;
    let n = hypercall::call_ret(&Request::Fs(FsRequest::Read {
        fd,
        buf: SegList::Borrowed(&segs),
        offset: Some(offset as i64),
    }));
    if n < 0 {
        return Err(LoadError::Read);
    }
    Ok(())
}

/// The program break starts after the program's image; a static PIE sits at the top of the
/// mmap area where it could not grow, so Linux moves the break of an interpreter-less
/// ET_DYN to ELF_ET_DYN_BASE, and so do we.
fn set_break(elf: &Parsed, program: &Image, has_interp: bool) {
    let brk = if elf.hdr.e_type == rules::ET_DYN && !has_interp { user::ET_DYN_BASE } else { program.end };
    let mut space = SPACE.lock();
    space.brk_start = brk;
    space.brk = brk;
}

fn build_frame(
    program: &Program<'_>,
    elf: &Parsed,
    image: &Image,
    interp: Option<&Image>,
) -> Result<TrapFrame, LoadError> {
    let (uid, euid, gid, egid) = crate::task::credentials();
    let vdso = super::vdso::map_into_process().map_err(|_| LoadError::NoMemory)?;
    let hwcap = crate::arch::platform::cpuid(1, 0)[3] as u64;
    let auxv = [
        (stack::AT_SYSINFO_EHDR, vdso),
        (stack::AT_PHDR, image.phdr),
        (stack::AT_PHENT, rules::PHDR_SIZE as u64),
        (stack::AT_PHNUM, elf.hdr.e_phnum as u64),
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
