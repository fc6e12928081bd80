//! brk; mmap of demand-paged zero memory (anonymous, private) and of private copies of
//! file pages (filled from the file when mapped); munmap, mprotect.

use abi_shared::hypercall::{FsRequest, Request, Response};
use abi_shared::layout::{user, PAGE_SIZE};

use super::{Ctx, EBADF, EINVAL, ENOMEM, ENOSYS};
use crate::arch::mmu::Prot;
use crate::bringup::uspace::{self, page_ceil, ProtectError, Region};
use crate::bringup::{frames, hypercall};

const PROT_READ: u64 = abi_shared::linux::general::PROT_READ as u64;
const PROT_WRITE: u64 = abi_shared::linux::general::PROT_WRITE as u64;
const PROT_EXEC: u64 = abi_shared::linux::general::PROT_EXEC as u64;
const PROT_SEM: u64 = abi_shared::linux::general::PROT_SEM as u64;
const PROT_GROWSDOWN: u64 = abi_shared::linux::general::PROT_GROWSDOWN as u64;
const PROT_GROWSUP: u64 = abi_shared::linux::general::PROT_GROWSUP as u64;
const MAP_SHARED: u64 = abi_shared::linux::general::MAP_SHARED as u64;
const MAP_PRIVATE: u64 = abi_shared::linux::general::MAP_PRIVATE as u64;
const MAP_SHARED_VALIDATE: u64 = abi_shared::linux::general::MAP_SHARED_VALIDATE as u64;
const MAP_TYPE: u64 = abi_shared::linux::general::MAP_TYPE as u64;
const MAP_FIXED: u64 = abi_shared::linux::general::MAP_FIXED as u64;
const MAP_ANONYMOUS: u64 = abi_shared::linux::general::MAP_ANONYMOUS as u64;
const MAP_FIXED_NOREPLACE: u64 = abi_shared::linux::general::MAP_FIXED_NOREPLACE as u64;
/// The flags MAP_SHARED_VALIDATE knows (Linux's LEGACY_MAP_MASK; MAP_SYNC needs DAX,
/// which no file here offers).
const LEGACY_MAP_MASK: u64 = {
    use abi_shared::linux::general as g;
    (g::MAP_SHARED
        | g::MAP_PRIVATE
        | g::MAP_FIXED
        | g::MAP_ANONYMOUS
        | g::MAP_DENYWRITE
        | g::MAP_EXECUTABLE
        | g::MAP_UNINITIALIZED
        | g::MAP_GROWSDOWN
        | g::MAP_LOCKED
        | g::MAP_NORESERVE
        | g::MAP_POPULATE
        | g::MAP_NONBLOCK
        | g::MAP_STACK
        | g::MAP_HUGETLB) as u64
};
const EEXIST: i64 = -(abi_shared::linux::errno::EEXIST as i64);
const EACCES: i64 = -(abi_shared::linux::errno::EACCES as i64);
const ENODEV: i64 = -(abi_shared::linux::errno::ENODEV as i64);
const EOVERFLOW: i64 = -(abi_shared::linux::errno::EOVERFLOW as i64);
const EOPNOTSUPP: i64 = -(abi_shared::linux::errno::EOPNOTSUPP as i64);

fn prot_of(p: u64) -> (Prot, bool) {
    (Prot { write: p & PROT_WRITE != 0, exec: p & PROT_EXEC != 0 }, p & (PROT_READ | PROT_WRITE | PROT_EXEC) != 0)
}

pub fn brk(c: &mut Ctx<'_>) -> i64 {
    let want = c.args[0];
    uspace::with(|s| {
        let (start, cur) = (s.brk_start, s.brk);
        if want < start {
            return cur as i64;
        }
        let (Some(old_end), Some(new_end)) = (page_ceil(cur), page_ceil(want)) else { return cur as i64 };
        if new_end > old_end {
            // Linux's overcommit heuristic refuses more than there is memory.
            if new_end > user::MMAP_TOP || new_end - start > frames::total() || !s.is_free(old_end, new_end) {
                return cur as i64;
            }
            s.add(old_end, new_end, Prot { write: true, exec: false }, true);
        } else if new_end < old_end {
            s.unmap(new_end, old_end);
        }
        s.brk = want;
        want as i64
    })
}

/// What mmap needs to know of a descriptor: its size, and whether it may be read and
/// written (open mode) and mapped at all (a regular file).
struct FileInfo {
    size: u64,
    readable: bool,
    writable: bool,
    regular: bool,
}

/// fstat and F_GETFL of `fd` from the host: EBADF for a descriptor that is not open (or
/// an O_PATH one, which mmap refuses the same way).
fn file_info(fd: u64) -> Result<FileInfo, i64> {
    const O_ACCMODE: i64 = abi_shared::linux::general::O_ACCMODE as i64;
    const O_RDONLY: i64 = abi_shared::linux::general::O_RDONLY as i64;
    const O_WRONLY: i64 = abi_shared::linux::general::O_WRONLY as i64;
    const O_RDWR: i64 = abi_shared::linux::general::O_RDWR as i64;
    const O_PATH: i64 = abi_shared::linux::general::O_PATH as i64;
    const F_GETFL: i32 = abi_shared::linux::general::F_GETFL as i32;
    const S_IFMT: u32 = abi_shared::linux::general::S_IFMT;
    const S_IFREG: u32 = abi_shared::linux::general::S_IFREG;
    let fd = i32::try_from(fd as i64).map_err(|_| EBADF)?;
    if fd < 0 {
        return Err(EBADF);
    }
    let fl = hypercall::call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_GETFL, arg: 0 }));
    if fl < 0 {
        return Err(fl);
    }
    if fl & O_PATH != 0 {
        return Err(EBADF);
    }
    let st = match hypercall::call(&Request::Fs(FsRequest::Fstat { fd })) {
        Response::Stat(st) => st,
        other => return Err(hypercall::ret_of(other)),
    };
    let mode = fl & O_ACCMODE;
    Ok(FileInfo {
        size: st.st_size.max(0) as u64,
        readable: mode == O_RDONLY || mode == O_RDWR,
        writable: mode == O_WRONLY || mode == O_RDWR,
        regular: st.st_mode & S_IFMT == S_IFREG,
    })
}

/// do_mmap's checks of a file mapping, in its order: the sharing type, the open mode,
/// whether the file can be mapped. A MAP_SHARED mapping is served as a private copy of
/// the file's pages when it may never be written (no PROT_WRITE now; mprotect refuses it
/// later, as Linux does for a read-only descriptor): a copy cannot show writes through
/// it to the file, so shared writable mappings are refused with ENODEV, Linux's answer for
/// a file it cannot map.
fn check_file(flags: u64, prot: u64, f: &FileInfo) -> Result<bool, i64> {
    let shared = match flags & MAP_TYPE {
        MAP_SHARED => true,
        MAP_SHARED_VALIDATE if flags & !LEGACY_MAP_MASK != 0 => return Err(EOPNOTSUPP),
        MAP_SHARED_VALIDATE => true,
        MAP_PRIVATE => false,
        _ => return Err(EINVAL),
    };
    if shared && prot & PROT_WRITE != 0 && !f.writable {
        return Err(EACCES);
    }
    if !f.readable {
        return Err(EACCES);
    }
    if !f.regular || (shared && prot & PROT_WRITE != 0) {
        return Err(ENODEV);
    }
    Ok(shared)
}

pub fn mmap(c: &mut Ctx<'_>) -> i64 {
    let [addr, len, prot, flags, fd, off] = c.args;
    // arm64's sys_mmap takes a byte offset and checks it first.
    if !off.is_multiple_of(PAGE_SIZE) {
        return EINVAL;
    }
    let anon = flags & MAP_ANONYMOUS != 0;
    let file = if anon { None } else { Some(tryret!(file_info(fd))) };
    if anon && flags & MAP_TYPE != MAP_PRIVATE {
        // Shared anonymous memory needs mm/ (it must survive fork), not ported yet.
        return if flags & MAP_TYPE == MAP_SHARED || flags & MAP_TYPE == MAP_SHARED_VALIDATE { ENOSYS } else { EINVAL };
    }
    if len == 0 {
        return EINVAL;
    }
    let Some(len) = page_ceil(len).filter(|l| *l <= user::TASK_SIZE) else { return ENOMEM };
    if off.checked_add(len).is_none() {
        return EOVERFLOW;
    }
    let shared = match &file {
        Some(f) => tryret!(check_file(flags, prot, f)),
        None => false,
    };
    let (p, read) = prot_of(prot);
    // Linux's overcommit heuristic: a private writable mapping larger than memory fails.
    if p.write && len > frames::total() {
        return ENOMEM;
    }
    uspace::with(|s| {
        let start = tryret!(place(s, addr, len, flags));
        s.add_region(Region { start, end: start + len, prot: p, read, may_write: !shared });
        if let Some(f) = file {
            // The file's pages now; pages past its end stay demand-zero (Linux would
            // raise SIGBUS there).
            let bytes = f.size.saturating_sub(off).min(len);
            let filled_end = start + page_ceil(bytes).unwrap_or(len);
            let prot = if read { p } else { Prot { write: false, exec: false } };
            if let Err(e) = s.fill_from_file(fd as i32, start, filled_end, bytes, off, prot) {
                s.unmap(start, start + len);
                return e;
            }
            if !read {
                // PROT_NONE: the contents stay for a later mprotect, out of EL0's reach.
                let _ = s.protect(start, filled_end, p, false);
            }
        }
        start as i64
    })
}

/// Where a new mapping of `len` bytes goes: at `addr` for MAP_FIXED (replacing what is
/// there) or MAP_FIXED_NOREPLACE (EEXIST if anything is), at the hint if it is free, else
/// top-down below the last mapping.
fn place(s: &mut uspace::Space, addr: u64, len: u64, flags: u64) -> Result<u64, i64> {
    if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(EINVAL);
        }
        let end = addr.checked_add(len).filter(|e| *e <= user::TASK_SIZE).ok_or(ENOMEM)?;
        if !s.is_free(addr, end) {
            if flags & MAP_FIXED_NOREPLACE != 0 {
                return Err(EEXIST);
            }
            s.unmap(addr, end);
        }
        return Ok(addr);
    }
    let hint = uspace::page_floor(addr);
    match hint.checked_add(len) {
        Some(end) if hint >= user::MMAP_MIN && end <= user::MMAP_TOP && s.is_free(hint, end) => Ok(hint),
        _ => s.free_range(len).ok_or(ENOMEM),
    }
}

fn range(addr: u64, len: u64) -> Option<(u64, u64)> {
    if !addr.is_multiple_of(PAGE_SIZE) {
        return None;
    }
    let end = page_ceil(addr.checked_add(len)?)?;
    (end <= user::TASK_SIZE).then_some((addr, end))
}

pub fn munmap(c: &mut Ctx<'_>) -> i64 {
    let Some((start, end)) = range(c.args[0], c.args[1]).filter(|_| c.args[1] != 0) else { return EINVAL };
    uspace::with(|s| s.unmap(start, end));
    0
}

/// do_mprotect_pkey's checks in its order: both growth flags EINVAL, an unaligned start
/// EINVAL, length 0 nothing to do, a range past the end of the address space ENOMEM,
/// protection bits arm64 does not offer here EINVAL (PROT_BTI and PROT_MTE exist only
/// where the CPU has them, which AT_HWCAP2 does not claim), a hole in the range ENOMEM.
pub fn mprotect(c: &mut Ctx<'_>) -> i64 {
    let [addr, len, prot, ..] = c.args;
    if prot & (PROT_GROWSDOWN | PROT_GROWSUP) == PROT_GROWSDOWN | PROT_GROWSUP || !addr.is_multiple_of(PAGE_SIZE) {
        return EINVAL;
    }
    if len == 0 {
        return 0;
    }
    let Some(end) = addr.checked_add(len).and_then(page_ceil).filter(|e| *e <= user::TASK_SIZE) else {
        return ENOMEM;
    };
    // The growth flags ask to extend the change to a stack region's growing end; the
    // regions here do not grow, so the change covers the range as given.
    if prot & !(PROT_READ | PROT_WRITE | PROT_EXEC | PROT_SEM | PROT_GROWSDOWN | PROT_GROWSUP) != 0 {
        return EINVAL;
    }
    let (p, read) = prot_of(prot);
    match uspace::with(|s| s.protect(addr, end, p, read)) {
        Ok(()) => 0,
        Err(ProtectError::Unmapped) => ENOMEM,
        Err(ProtectError::NotWritable) => EACCES,
    }
}

/// Advice only: accepted and ignored (MADV_DONTNEED's zeroing is not done yet).
/// Linux's checks come first: an unaligned start, or a length that wraps the address
/// space, is EINVAL.
pub fn madvise(c: &mut Ctx<'_>) -> i64 {
    let [addr, len, ..] = c.args;
    if !addr.is_multiple_of(PAGE_SIZE) || addr.checked_add(len).and_then(page_ceil).is_none() {
        return EINVAL;
    }
    0
}
