//! Loading an arm64 ELF (static, static-PIE, or dynamic with its ELF interpreter) with the
//! shared rules of loader/elf_rules.rs and the shared initial stack of loader/stack.rs.
//! File pages are read by the host straight into their frames.

use alloc::vec;
use alloc::vec::Vec;

use abi_shared::hypercall::{FsRequest, Request, Startup};
use abi_shared::layout::{user, PAGE_SIZE};

use crate::arch::mmu::{self, Prot};
use crate::bringup::hypercall;
use crate::bringup::uspace::{Space, SPACE};
use crate::loader::elf_rules::{self, Ehdr, Image, Phdr, Placement, EHDR_SIZE, PF_W, PF_X, PT_INTERP, PT_LOAD};
use crate::loader::stack::{self, StackInput};

/// Why a program could not be loaded: the errno execve would fail with, and whether it
/// concerns the ELF interpreter rather than the program itself.
pub struct LoadError {
    pub errno: i32,
    pub interpreter: bool,
}

impl LoadError {
    fn of(errno: i32) -> LoadError {
        LoadError { errno, interpreter: false }
    }
}

const ENOEXEC: i32 = abi_shared::linux::errno::ENOEXEC as i32;
const ENOMEM: i32 = abi_shared::linux::errno::ENOMEM as i32;
const EIO: i32 = abi_shared::linux::errno::EIO as i32;
const E2BIG: i32 = abi_shared::linux::errno::E2BIG as i32;
const ELIBBAD: i32 = abi_shared::linux::errno::ELIBBAD as i32;
const O_RDONLY_CLOEXEC: i32 = 0o2_000_000;
use abi_shared::linux::general::AT_FDCWD;
/// The stack region's size (RLIMIT_STACK's usual 8 MiB), demand-paged.
const STACK_SIZE: u64 = 8 << 20;

/// Where the program starts.
pub struct Entry {
    pub pc: u64,
    pub sp: u64,
    /// Where signal handlers return to without SA_RESTORER (the sigreturn page).
    pub sigtramp: u64,
}

/// An ELF's header and program header table.
struct Elf {
    eh: Ehdr,
    phdrs: Vec<Phdr>,
}

impl Elf {
    fn loads(&self) -> Vec<Phdr> {
        self.phdrs.iter().copied().filter(|p| p.p_type == PT_LOAD).collect()
    }
}

/// Read `buf.len()` bytes at `offset`: a short read is EIO (Linux's elf_read).
fn read_exact(fd: i32, buf: &mut [u8], offset: u64) -> Result<(), i32> {
    match hypercall::pread_kernel(fd, buf, offset as i64) {
        n if n == buf.len() as i64 => Ok(()),
        n if n < 0 => Err(-n as i32),
        _ => Err(EIO),
    }
}

/// The header (zero past the end of a short file, as Linux's buffer is) and, if it
/// passes load_elf_phdrs' checks, the program header table (ENOEXEC if it cannot be read
/// whole).
fn read_elf(fd: i32) -> Result<Elf, i32> {
    let mut head = [0u8; EHDR_SIZE];
    let got = hypercall::pread_kernel(fd, &mut head, 0);
    if got < 0 {
        return Err(-got as i32);
    }
    let eh = Ehdr::parse(&head[..got as usize]);
    if !eh.magic_ok {
        return Err(ENOEXEC);
    }
    let table_len = eh.phdr_table_len().map_err(|_| ENOEXEC)?;
    let mut raw = vec![0u8; table_len];
    read_exact(fd, &mut raw, eh.e_phoff).map_err(|_| ENOEXEC)?;
    Ok(Elf { eh, phdrs: elf_rules::parse_phdrs(&raw) })
}

/// The first PT_INTERP's path, checked as Linux checks it (ENOEXEC for a size out of
/// 2..=PATH_MAX or a missing NUL).
fn interp_path(fd: i32, elf: &Elf) -> Result<Option<Vec<u8>>, i32> {
    let Some(p) = elf.phdrs.iter().find(|p| p.p_type == PT_INTERP) else { return Ok(None) };
    if !elf_rules::interp_size_ok(p) {
        return Err(ENOEXEC);
    }
    let mut bytes = vec![0u8; p.p_filesz as usize];
    read_exact(fd, &mut bytes, p.p_offset)?;
    elf_rules::interp_path(&bytes).map(|path| Some(path.to_vec())).ok_or(ENOEXEC)
}

fn open(path: &[u8]) -> Result<i32, i32> {
    let fd = hypercall::call_ret(&Request::Fs(FsRequest::Openat {
        dirfd: AT_FDCWD,
        path,
        flags: O_RDONLY_CLOEXEC,
        mode: 0,
    }));
    if fd < 0 {
        Err(-fd as i32)
    } else {
        Ok(fd as i32)
    }
}

fn close(fd: i32) {
    let _ = hypercall::call_ret(&Request::Fs(FsRequest::Close { fd }));
}

/// Open the interpreter and check its headers as Linux does before execve's point of no
/// return: a short header is EIO, anything else wrong ELIBBAD.
fn open_interpreter(path: &[u8]) -> Result<(i32, Elf), LoadError> {
    let fd = open(path).map_err(|errno| LoadError { errno, interpreter: true })?;
    let elf = match read_elf(fd) {
        Ok(elf) if elf.eh.check_interpreter().is_ok() => Ok(elf),
        Err(EIO) => Err(EIO),
        _ => Err(ELIBBAD),
    };
    elf.map(|e| (fd, e)).map_err(|errno| {
        close(fd);
        LoadError { errno, interpreter: true }
    })
}

fn top_down_bias(space: &mut Space, loads: &[Phdr]) -> Result<u64, LoadError> {
    let total = elf_rules::page_ceil(elf_rules::total_mapping_size(loads)).ok_or(LoadError::of(ENOEXEC))?;
    let align = elf_rules::maximum_alignment(loads);
    let room = space.free_range(total + (align - PAGE_SIZE)).ok_or(LoadError::of(ENOMEM))?;
    let placed = (room + (align - 1)) & !(align - 1);
    Ok(elf_rules::bias_for(loads, placed))
}

/// Map the PT_LOAD segments of `elf` in table order, as Linux does: each one replaces
/// whatever an earlier one left in its pages (a shared page is read whole from the file at
/// the later segment's offset), and its bss is demand-zero writable memory.
fn map_image(space: &mut Space, fd: i32, elf: &Elf, placement: Placement) -> Result<Image, LoadError> {
    let loads = elf.loads();
    if loads.is_empty() {
        return Err(LoadError::of(ENOEXEC));
    }
    let bias = match (elf.eh.e_type == elf_rules::ET_DYN, placement) {
        (false, _) => 0,
        (true, Placement::DynBase) => elf_rules::dyn_base_bias(&loads),
        (true, Placement::TopDown) => top_down_bias(space, &loads)?,
    };
    let mut end = 0;
    for p in &loads {
        let plan = elf_rules::plan_segment(p, bias).ok_or(LoadError::of(ENOEXEC))?;
        let prot = Prot { write: p.p_flags & PF_W != 0, exec: p.p_flags & PF_X != 0 };
        if let Some(f) = plan.file {
            space.unmap(f.start, f.end);
            space.add(f.start, f.end, prot, true);
            space
                .fill_from_file(fd, f.start, f.end, f.read_end - f.start, f.offset, prot)
                .map_err(|e| LoadError::of(if e == -(ENOMEM as i64) { ENOMEM } else { EIO }))?;
            end = end.max(f.end);
        }
        if let Some((zs, ze)) = plan.zero {
            space.unmap(zs, ze);
            space.add(zs, ze, Prot { write: true, exec: prot.exec }, true);
            end = end.max(ze);
        }
    }
    let entry = bias.wrapping_add(elf.eh.e_entry);
    if entry >= user::TASK_SIZE {
        return Err(LoadError::of(ENOEXEC));
    }
    Ok(Image { entry, phdr: elf_rules::phdr_address(&loads, elf.eh.e_phoff, bias), bias, end })
}

/// Load the program (checked) and its interpreter (open, checked), build the stack.
fn load(fd: i32, prog: &Elf, interp: Option<&(i32, Elf)>, startup: &Startup) -> Result<Entry, LoadError> {
    let mut guard = SPACE.lock();
    let space = guard.insert(Space::new().ok_or(LoadError::of(ENOMEM))?);
    // Linux puts a PIE that has an interpreter at ELF_ET_DYN_BASE, and lets mmap place one
    // without (a static PIE, or ld.so run as the program); the break of the latter moves to
    // ELF_ET_DYN_BASE, since after an image at the top of the mmap area it could not grow.
    let placement = if interp.is_some() { Placement::DynBase } else { Placement::TopDown };
    let image = map_image(space, fd, prog, placement)?;
    let brk = if prog.eh.e_type == elf_rules::ET_DYN && interp.is_none() { user::ET_DYN_BASE } else { image.end };
    space.brk_start = brk;
    space.brk = brk;
    let top = user::STACK_TOP;
    space.add(top - STACK_SIZE, top, Prot { write: true, exec: false }, true);
    let interp = match interp {
        Some((ifd, ielf)) => {
            // Linux checks the interpreter's e_type only now, past the point of no return.
            if ielf.eh.e_type != elf_rules::ET_DYN && ielf.eh.e_type != elf_rules::ET_EXEC {
                return Err(LoadError { errno: ELIBBAD, interpreter: true });
            }
            Some(map_image(space, *ifd, ielf, Placement::TopDown)?)
        }
        None => None,
    };
    let sigtramp = map_sigtramp(space)?;
    mmu::sync_icache();
    let mut random = [0u8; 16];
    crate::random::fill(&mut random);
    let auxv = [
        (stack::AT_PHDR, image.phdr),
        (stack::AT_PHENT, elf_rules::PHDR_SIZE as u64),
        (stack::AT_PHNUM, u64::from(prog.eh.e_phnum)),
        (stack::AT_PAGESZ, PAGE_SIZE),
        (stack::AT_BASE, interp.as_ref().map_or(0, |i| i.bias)),
        (stack::AT_FLAGS, 0),
        (stack::AT_ENTRY, image.entry),
        (stack::AT_UID, u64::from(startup.uid)),
        (stack::AT_EUID, u64::from(startup.euid)),
        (stack::AT_GID, u64::from(startup.gid)),
        (stack::AT_EGID, u64::from(startup.egid)),
        (stack::AT_SECURE, 0),
        (stack::AT_HWCAP, hwcap()),
        (stack::AT_CLKTCK, 100),
        (stack::AT_MINSIGSTKSZ, 5120),
    ];
    let input =
        StackInput { top, argv: &startup.argv, envp: &startup.envp, execfn: &startup.filename, random, auxv: &auxv };
    let stack_image = stack::build(&input, STACK_SIZE / 4).ok_or(LoadError::of(E2BIG))?;
    if !space.copy_out(stack_image.sp, &stack_image.bytes) {
        return Err(LoadError::of(ENOMEM));
    }
    Ok(Entry { pc: interp.map_or(image.entry, |i| i.entry), sp: stack_image.sp, sigtramp })
}

/// Map the sigreturn page (arch/aarch64/sigframe.rs: where Linux's vDSO would be, top-down
/// in the mmap area after the interpreter) and return the address handlers return to.
fn map_sigtramp(space: &mut Space) -> Result<u64, LoadError> {
    let prot = Prot { write: false, exec: true };
    let va = space.free_range(PAGE_SIZE).ok_or(LoadError::of(ENOMEM))?;
    let gpa = crate::bringup::frames::alloc().ok_or(LoadError::of(ENOMEM))?;
    let page = crate::arch::phys_to_virt(gpa) as *mut u32;
    for (i, insn) in crate::arch::sigframe::SIGTRAMP_CODE.iter().enumerate() {
        // SAFETY: a fresh frame of guest RAM (direct map), 4 KiB; three words fit.
        unsafe { page.add(i).write(*insn) };
    }
    // SAFETY: cache maintenance only: the code's line (the three words share one) is
    // cleaned to the point of unification; the caller invalidates the instruction cache.
    unsafe { core::arch::asm!("dc cvau, {0}", "dsb ish", in(reg) page, options(nostack)) };
    if !space.map_page(va, gpa, prot) {
        return Err(LoadError::of(ENOMEM));
    }
    space.add(va, va + PAGE_SIZE, prot, true);
    Ok(va + crate::arch::sigframe::SIGTRAMP_ENTRY)
}

/// AT_HWCAP from the CPU's ID registers: FP and AdvSIMD when present, and the few
/// instruction-set extensions glibc's string functions choose by.
fn hwcap() -> u64 {
    const HWCAP_FP: u64 = 1 << 0;
    const HWCAP_ASIMD: u64 = 1 << 1;
    const HWCAP_AES: u64 = 1 << 3;
    const HWCAP_PMULL: u64 = 1 << 4;
    const HWCAP_SHA1: u64 = 1 << 5;
    const HWCAP_SHA2: u64 = 1 << 6;
    const HWCAP_CRC32: u64 = 1 << 7;
    const HWCAP_ATOMICS: u64 = 1 << 8;
    let pfr0 = crate::arch::id_aa64pfr0_el1();
    let isar0 = crate::arch::id_aa64isar0_el1();
    let field = |v: u64, shift: u32| (v >> shift) & 0xf;
    let mut caps = 0;
    if field(pfr0, 16) != 0xf {
        caps |= HWCAP_FP;
    }
    if field(pfr0, 20) != 0xf {
        caps |= HWCAP_ASIMD;
    }
    match field(isar0, 4) {
        1 => caps |= HWCAP_AES,
        2 => caps |= HWCAP_AES | HWCAP_PMULL,
        _ => {}
    }
    if field(isar0, 8) != 0 {
        caps |= HWCAP_SHA1;
    }
    if field(isar0, 12) != 0 {
        caps |= HWCAP_SHA2;
    }
    if field(isar0, 16) != 0 {
        caps |= HWCAP_CRC32;
    }
    if field(isar0, 20) >= 2 {
        caps |= HWCAP_ATOMICS;
    }
    caps
}

/// Open, check and load the program the host resolved (and its ELF interpreter, if it
/// names one); the descriptors are closed either way. What execve checks before its point
/// of no return (the program's headers, the interpreter's path, opening it and its
/// headers) fails first, with the errno execve would give.
pub fn exec(startup: &Startup) -> Result<Entry, LoadError> {
    let fd = open(&startup.exec_path).map_err(LoadError::of)?;
    let r = check_and_load(fd, startup);
    close(fd);
    r
}

fn check_and_load(fd: i32, startup: &Startup) -> Result<Entry, LoadError> {
    let prog = read_elf(fd).map_err(LoadError::of)?;
    prog.eh.check_program().map_err(|_| LoadError::of(ENOEXEC))?;
    let interp = match interp_path(fd, &prog).map_err(LoadError::of)? {
        Some(path) => Some(open_interpreter(&path)?),
        None => None,
    };
    let r = load(fd, &prog, interp.as_ref(), startup);
    if let Some((ifd, _)) = interp {
        close(ifd);
    }
    r
}
