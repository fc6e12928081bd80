//! Loading a static (or static-PIE) arm64 ELF with the shared rules of loader/elf_rules.rs
//! and the shared initial stack of loader/stack.rs. File pages are read by the host
//! straight into their frames; a program with PT_INTERP (dynamic) is refused for now.

use alloc::vec;
use alloc::vec::Vec;

use abi_shared::hypercall::{FsRequest, Request, SegList, Startup};
use abi_shared::layout::{user, PAGE_SIZE};

use crate::arch::mmu::{self, Prot};
use crate::bringup::frames;
use crate::bringup::hypercall;
use crate::bringup::uspace::{Space, SPACE};
use crate::loader::elf_rules::{self, Ehdr, PF_W, PF_X, PT_INTERP, PT_LOAD};
use crate::loader::stack::{self, StackInput};

/// Why a program could not be loaded (as errno, the way execve fails).
pub struct LoadError(pub i32);

const ENOEXEC: i32 = abi_shared::linux::errno::ENOEXEC as i32;
const ENOMEM: i32 = abi_shared::linux::errno::ENOMEM as i32;
const EIO: i32 = abi_shared::linux::errno::EIO as i32;
const O_RDONLY_CLOEXEC: i32 = 0o2_000_000;
use abi_shared::linux::general::AT_FDCWD;
/// The stack region's size (RLIMIT_STACK's usual 8 MiB), demand-paged.
const STACK_SIZE: u64 = 8 << 20;

/// Where the program starts.
pub struct Entry {
    pub pc: u64,
    pub sp: u64,
}

fn pread(fd: i32, segs: &[abi_shared::hypercall::GuestSeg], offset: u64) -> i64 {
    hypercall::call_ret(&Request::Fs(FsRequest::Read { fd, buf: SegList::Borrowed(segs), offset: Some(offset as i64) }))
}

/// Map `[start, end)` with fresh frames, filling `[start, read_end)` from the file at
/// `offset`.
fn load_file_pages(space: &mut Space, fd: i32, f: &elf_rules::FilePages, prot: Prot) -> Result<(), LoadError> {
    let mut va = f.start;
    while va < f.end {
        let gpa = frames::alloc().ok_or(LoadError(ENOMEM))?;
        if !space.map_page(va, gpa, prot) {
            return Err(LoadError(ENOMEM));
        }
        let want = f.read_end.saturating_sub(va).min(PAGE_SIZE);
        if want > 0 {
            let seg = [abi_shared::hypercall::GuestSeg { gpa, len: want }];
            let got = pread(fd, &seg, f.offset + (va - f.start));
            if got < 0 {
                return Err(LoadError(-got as i32));
            }
        }
        va += PAGE_SIZE;
    }
    Ok(())
}

fn load(fd: i32, startup: &Startup) -> Result<Entry, LoadError> {
    let mut head = vec![0u8; 4096];
    let got = hypercall::pread_kernel(fd, &mut head, 0);
    if got < 0 {
        return Err(LoadError(-got as i32));
    }
    head.truncate(got as usize);
    let eh = Ehdr::parse(&head);
    eh.check_program().map_err(|_| LoadError(ENOEXEC))?;
    let table_len = eh.phdr_table_len().map_err(|_| LoadError(ENOEXEC))?;
    let mut raw = vec![0u8; table_len];
    if hypercall::pread_kernel(fd, &mut raw, eh.e_phoff as i64) != table_len as i64 {
        return Err(LoadError(EIO));
    }
    let phdrs = elf_rules::parse_phdrs(&raw);
    if phdrs.iter().any(|p| p.p_type == PT_INTERP) {
        // Dynamic programs need the full loader (loader/elf.rs), not ported yet.
        return Err(LoadError(ENOEXEC));
    }
    let loads: Vec<_> = phdrs.iter().copied().filter(|p| p.p_type == PT_LOAD).collect();
    if loads.is_empty() {
        return Err(LoadError(ENOEXEC));
    }
    let bias = if eh.e_type == elf_rules::ET_DYN { elf_rules::dyn_base_bias(&loads) } else { 0 };
    let mut guard = SPACE.lock();
    let space = guard.insert(Space::new().ok_or(LoadError(ENOMEM))?);
    let mut end = 0;
    for p in &loads {
        let plan = elf_rules::plan_segment(p, bias).ok_or(LoadError(ENOEXEC))?;
        let prot = Prot { write: p.p_flags & PF_W != 0, exec: p.p_flags & PF_X != 0 };
        if let Some(f) = plan.file {
            space.add(f.start, f.end, prot, true);
            load_file_pages(space, fd, &f, prot)?;
            end = end.max(f.end);
        }
        if let Some((zs, ze)) = plan.zero {
            space.add(zs, ze, Prot { write: true, exec: prot.exec }, true);
            end = end.max(ze);
        }
    }
    mmu::sync_icache();
    space.brk_start = end;
    space.brk = end;
    let top = user::STACK_TOP;
    space.add(top - STACK_SIZE, top, Prot { write: true, exec: false }, true);
    let mut random = [0u8; 16];
    crate::random::fill(&mut random);
    let auxv = [
        (stack::AT_PHDR, elf_rules::phdr_address(&loads, eh.e_phoff, bias)),
        (stack::AT_PHENT, elf_rules::PHDR_SIZE as u64),
        (stack::AT_PHNUM, u64::from(eh.e_phnum)),
        (stack::AT_PAGESZ, PAGE_SIZE),
        (stack::AT_BASE, 0),
        (stack::AT_FLAGS, 0),
        (stack::AT_ENTRY, bias.wrapping_add(eh.e_entry)),
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
        StackInput { top, argv: &startup.argv, envp: &startup.envp, execfn: &startup.exec_path, random, auxv: &auxv };
    let image = stack::build(&input, STACK_SIZE / 4).ok_or(LoadError(7))?; // E2BIG
    if !space.copy_out(image.sp, &image.bytes) {
        return Err(LoadError(ENOMEM));
    }
    Ok(Entry { pc: bias.wrapping_add(eh.e_entry), sp: image.sp })
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

/// Open and load the program the host resolved; the descriptor is closed either way.
pub fn exec(startup: &Startup) -> Result<Entry, LoadError> {
    let fd = hypercall::call_ret(&Request::Fs(FsRequest::Openat {
        dirfd: AT_FDCWD,
        path: &startup.exec_path,
        flags: O_RDONLY_CLOEXEC,
        mode: 0,
    }));
    if fd < 0 {
        return Err(LoadError(-fd as i32));
    }
    let r = load(fd as i32, startup);
    let _ = hypercall::call_ret(&Request::Fs(FsRequest::Close { fd: fd as i32 }));
    r
}
