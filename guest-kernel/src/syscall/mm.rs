//! The memory syscalls, all served in the guest: brk and the mmap family.

use alloc::sync::Arc;
use alloc::vec::Vec;

use abi_shared::hypercall::{FsRequest, MmRequest, Request, Response, SegList};
use abi_shared::layout::{user, HUGE_PAGE_SIZE, PAGE_SIZE};
use abi_shared::linux::errno;
use abi_shared::linux::general::{
    F_GETFL, MADV_COLD, MADV_DONTNEED, MADV_FREE, MADV_KEEPONFORK, MADV_PAGEOUT, MADV_REMOVE, MADV_WIPEONFORK,
    O_ACCMODE, O_RDWR, O_WRONLY, S_IFCHR, S_IFMT,
};

use super::{err, Ctx, EINVAL, ENOMEM};
use crate::hypercall::call_ret;
use crate::mm::paging::{self, page_ceil, TlbBatch};
use crate::mm::uaccess::{copy_to_user, user_segments};
use crate::mm::vma::{FileBacking, HeldFile, Vma, VmaKind, PROT_READ, PROT_WRITE};
use crate::mm::{prot_of, window, Access, AddressSpace, SPACE};

const MAP_SHARED: u64 = abi_shared::linux::general::MAP_SHARED as u64;
const MAP_PRIVATE: u64 = abi_shared::linux::general::MAP_PRIVATE as u64;
const MAP_SHARED_VALIDATE: u64 = abi_shared::linux::general::MAP_SHARED_VALIDATE as u64;
const MAP_FIXED: u64 = abi_shared::linux::general::MAP_FIXED as u64;
const MAP_ANONYMOUS: u64 = abi_shared::linux::general::MAP_ANONYMOUS as u64;
const MAP_GROWSDOWN: u64 = abi_shared::linux::general::MAP_GROWSDOWN as u64;
const MAP_NORESERVE: u64 = abi_shared::linux::general::MAP_NORESERVE as u64;
const MAP_POPULATE: u64 = abi_shared::linux::general::MAP_POPULATE as u64;
const MAP_FIXED_NOREPLACE: u64 = abi_shared::linux::general::MAP_FIXED_NOREPLACE as u64;
const MREMAP_MAYMOVE: u64 = abi_shared::linux::general::MREMAP_MAYMOVE as u64;
const MREMAP_FIXED: u64 = abi_shared::linux::general::MREMAP_FIXED as u64;
const MS_ASYNC: u64 = abi_shared::linux::general::MS_ASYNC as u64;
const MS_INVALIDATE: u64 = abi_shared::linux::general::MS_INVALIDATE as u64;
const MS_SYNC: u64 = abi_shared::linux::general::MS_SYNC as u64;

/// Linux's default vm.max_map_count. Every VMA lives on the kernel heap, so the count must
/// be bounded; an operation that could split past it fails with ENOMEM, as on Linux.
const MAX_MAP_COUNT: usize = 65530;

/// Whether an operation adding up to two VMAs (a split in the middle) still fits.
fn map_count_ok() -> bool {
    SPACE.lock().vmas.len() + 2 <= MAX_MAP_COUNT
}

fn aligned(a: u64) -> bool {
    a.is_multiple_of(PAGE_SIZE)
}

fn valid_prot(prot: u64) -> Option<u32> {
    (prot & !0x7 == 0).then_some(prot as u32)
}

/// A user range [addr, addr+len) rounded to pages, inside the user half.
fn user_range(addr: u64, len: u64) -> Option<(u64, u64)> {
    if len == 0 || len > user::TASK_SIZE {
        return None;
    }
    let end = addr.checked_add(page_ceil(len))?;
    (end <= user::TASK_SIZE).then_some((addr, end))
}

/// A small private anonymous mapping is filled in at mmap: its first touch would map the
/// whole fault-around window anyway, and on kvm_pvm a page fault the guest handles costs
/// three hypervisor exits where a page already in the guest's tables costs one.
/// MAP_NORESERVE says the program may never touch it, so that one is left to fault.
fn prefault_small_anon(len: u64, prot: u32, flags: u64) -> bool {
    len <= crate::mm::FAULT_AROUND_BYTES && prot & PROT_WRITE != 0 && flags & MAP_NORESERVE == 0
}

pub fn mmap(c: &mut Ctx<'_>) -> i64 {
    if !map_count_ok() {
        return ENOMEM;
    }
    let (addr, len, flags, fd, off) = (c.arg(0), c.arg(1), c.arg(3), c.int(4), c.arg(5));
    let Some(prot) = valid_prot(c.arg(2)) else { return EINVAL };
    if len == 0 || !aligned(off) || len > user::TASK_SIZE {
        return EINVAL;
    }
    let kind = flags & MAP_SHARED_VALIDATE;
    if kind != MAP_SHARED && kind != MAP_PRIVATE && kind != MAP_SHARED_VALIDATE {
        return EINVAL;
    }
    let fixed = flags & MAP_FIXED != 0;
    let noreplace = flags & MAP_FIXED_NOREPLACE != 0;
    if (fixed || noreplace) && (!aligned(addr) || user_range(addr, len).is_none()) {
        return EINVAL;
    }
    let anonymous = flags & MAP_ANONYMOUS != 0;
    if noreplace && !SPACE.lock().vmas.is_free(addr, addr + page_ceil(len)) {
        return err(errno::EEXIST);
    }
    if !anonymous && kind != MAP_PRIVATE {
        return match mmap_shared_file(addr, len, prot, fixed || noreplace, fd, off) {
            // MAP_SHARED of /dev/zero is shared anonymous memory (Linux's shmem_zero_setup).
            e if e == err(errno::ENODEV) && is_dev_zero(fd) => match dev_zero_access(fd, prot) {
                0 => mmap_shared_anon(addr, len, prot, fixed || noreplace),
                e => e,
            },
            r => r,
        };
    }
    if anonymous && kind != MAP_PRIVATE {
        return mmap_shared_anon(addr, len, prot, fixed || noreplace);
    }
    let held = if anonymous {
        None
    } else {
        match hold_file(fd) {
            Ok(h) => h,
            Err(e) => return e,
        }
    };
    let mut space = SPACE.lock();
    let accounted = kind == MAP_PRIVATE && prot & PROT_WRITE != 0 && flags & MAP_NORESERVE == 0;
    if accounted && page_ceil(len) > space.commit_limit {
        return ENOMEM;
    }
    if noreplace && !space.vmas.is_free(addr, addr + page_ceil(len)) {
        return err(errno::EEXIST);
    }
    let fixed = fixed || noreplace;
    if anonymous {
        let kind = if flags & MAP_GROWSDOWN != 0 { VmaKind::Stack } else { VmaKind::Anon };
        let placed = space.map_anon(addr, len, prot, fixed, kind);
        if let Ok(start) = placed {
            if flags & MAP_POPULATE != 0 || (kind == VmaKind::Anon && prefault_small_anon(len, prot, flags)) {
                space.prefault(start, start + page_ceil(len));
            }
        }
        return placed.map_or_else(|e| e, |s| s as i64);
    }
    if let Some(file) = held {
        let backing = FileBacking::private(file, off);
        let placed = space.map_file(addr, len, prot, fixed, backing);
        if let (Ok(start), true) = (placed, flags & MAP_POPULATE != 0) {
            space.prefault(start, start + page_ceil(len));
        }
        drop(space);
        return match placed {
            Ok(start) => {
                crate::fs::procfs::name_file_mapping(start, start + page_ceil(len), fd, off);
                start as i64
            }
            Err(e) => e,
        };
    }
    // Not a file the host can hold for us: copy its bytes now.
    let start = match space.map_anon(addr, len, prot | PROT_WRITE, fixed, VmaKind::Anon) {
        Ok(s) => s,
        Err(e) => return e,
    };
    drop(space);
    if let Err(e) = fill_from_file(start, len, fd, off) {
        SPACE.lock().unmap_range(start, start + page_ceil(len));
        return e;
    }
    let _ = SPACE.lock().protect(start, start + page_ceil(len), prot);
    crate::fs::procfs::name_file_mapping(start, start + page_ceil(len), fd, off);
    start as i64
}

/// MAP_SHARED|MAP_ANONYMOUS: memory that a forked child shares with its parent, so it
/// lives in a host memfd mapped through the file window like a shared file (the window
/// mapping keeps the memfd alive; its descriptor is closed at once).
fn mmap_shared_anon(addr: u64, len: u64, prot: u32, fixed: bool) -> i64 {
    use abi_shared::linux::general::MFD_CLOEXEC;
    let fd = call_ret(&Request::Fs(FsRequest::MemfdCreate { name: b"dev/zero", flags: MFD_CLOEXEC }));
    if fd < 0 {
        return fd;
    }
    let fd = fd as i32;
    let mut r = call_ret(&Request::Fs(FsRequest::Ftruncate { fd, length: page_ceil(len) as i64 }));
    if r >= 0 {
        r = map_window(addr, len, prot, fixed, fd, 0, false);
    }
    call_ret(&Request::Fs(FsRequest::Close { fd }));
    r
}

/// Whether `fd` is open on /dev/zero (the character device 1:5), by whatever path.
fn is_dev_zero(fd: i32) -> bool {
    /// Linux's encoding of (major 1, minor 5).
    const RDEV_ZERO: u64 = 0x105;
    if crate::task::fdtable::kind(fd) == crate::task::fdtable::Kind::DevZero {
        return true;
    }
    match crate::hypercall::call(&Request::Fs(FsRequest::Fstat { fd })) {
        Response::Stat(st) => st.st_mode & S_IFMT == S_IFCHR && st.st_rdev == RDEV_ZERO,
        _ => false,
    }
}

/// Linux's access checks of a MAP_SHARED mapping of a device: the descriptor must be open
/// for reading, and for writing too when the mapping is writable (EACCES).
fn dev_zero_access(fd: i32, prot: u32) -> i64 {
    let flags = call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_GETFL as i32, arg: 0 }));
    if flags < 0 {
        return flags;
    }
    let mode = flags as u32 & O_ACCMODE;
    if mode == O_WRONLY || (prot & PROT_WRITE != 0 && mode != O_RDWR) {
        return err(errno::EACCES);
    }
    0
}

/// MAP_SHARED of a file: the host maps the file into a range of the file window, and the
/// user pages map to that range on first touch, so that writes reach the file (and other
/// processes) through the host's page cache, as on Linux.
fn mmap_shared_file(addr: u64, len: u64, prot: u32, fixed: bool, fd: i32, off: u64) -> i64 {
    map_window(addr, len, prot, fixed, fd, off, true)
}

/// Map `fd` at `off` through the file window; `named`: /proc/self/maps names the mapping
/// after the file (not for a descriptor closed right after).
fn map_window(addr: u64, len: u64, prot: u32, fixed: bool, fd: i32, off: u64, named: bool) -> i64 {
    let len = page_ceil(len);
    let Some(gpa) = window::alloc(len) else { return ENOMEM };
    let write = prot & PROT_WRITE != 0;
    let r = call_ret(&Request::Mm(MmRequest::FileMapShared { fd, offset: off, len, gpa, write }));
    if r < 0 {
        window::free(gpa, len);
        return r;
    }
    let backing = FileBacking {
        file: None,
        offset: off,
        window: Some(gpa),
        size: (r >> 1) as u64,
        may_write: r & 1 != 0,
        sysv_shm: false,
    };
    let placed = SPACE.lock().map_file(addr, len, prot, fixed, backing);
    placed.map_or_else(
        |e| {
            call_ret(&Request::Mm(MmRequest::FileUnmapShared { gpa, len }));
            window::free(gpa, len);
            e
        },
        |s| {
            if named {
                crate::fs::procfs::name_file_mapping(s, s + len, fd, off);
            }
            s as i64
        },
    )
}

/// Ask the host to hold `fd`'s file for demand paging. Ok(None): it cannot (not a regular
/// file, or no descriptor left for it), and the mapping is filled at once instead.
fn hold_file(fd: i32) -> Result<Option<Arc<HeldFile>>, i64> {
    let r = call_ret(&Request::Mm(MmRequest::FileHold { fd, write: false }));
    match r {
        h if h >= 0 => Ok(Some(Arc::new(HeldFile { handle: h as i32 }))),
        e if e == err(errno::ENODEV) || e == err(errno::EMFILE) || e == err(errno::ENFILE) => Ok(None),
        e => Err(e),
    }
}

/// A mapping of something that is not a regular file (a character device, say) is a
/// private copy: read its bytes into the new pages now.
fn fill_from_file(start: u64, len: u64, fd: i32, off: u64) -> Result<(), i64> {
    let mut segs = Vec::new();
    user_segments(start, len, Access::Write, &mut segs)?;
    let r = call_ret(&Request::Fs(FsRequest::Read { fd, buf: SegList::Borrowed(&segs), offset: Some(off as i64) }));
    if r < 0 {
        return Err(if r == err(errno::EISDIR) || r == err(errno::EINVAL) { err(errno::ENODEV) } else { r });
    }
    Ok(())
}

pub fn munmap(c: &mut Ctx<'_>) -> i64 {
    let addr = c.arg(0);
    let Some((start, end)) = user_range(addr, c.arg(1)).filter(|_| aligned(addr)) else { return EINVAL };
    let mut space = SPACE.lock();
    // Only a hole in the middle of a VMA adds one; unmapping whole VMAs always works.
    let inside = |a: u64| space.vmas.find(a).is_some_and(|v| v.start != a);
    let splits = inside(start) as usize + inside(end) as usize;
    if splits > 0 && space.vmas.len() + splits > MAX_MAP_COUNT {
        return ENOMEM;
    }
    space.unmap_range(start, end);
    0
}

pub fn mprotect(c: &mut Ctx<'_>) -> i64 {
    if !map_count_ok() {
        return ENOMEM;
    }
    let addr = c.arg(0);
    let Some(prot) = valid_prot(c.arg(2) & !0x0300_0000) else { return EINVAL };
    if !aligned(addr) {
        return EINVAL;
    }
    if c.arg(1) == 0 {
        return 0;
    }
    let Some((start, end)) = user_range(addr, c.arg(1)) else { return ENOMEM };
    let mut space = SPACE.lock();
    if prot & PROT_WRITE != 0 && space.has_readonly_shared(start, end) {
        return err(errno::EACCES);
    }
    match space.protect(start, end, prot) {
        Ok(()) => 0,
        Err(()) => ENOMEM,
    }
}

pub fn brk(c: &mut Ctx<'_>) -> i64 {
    if !map_count_ok() {
        return SPACE.lock().brk as i64;
    }
    let requested = c.arg(0);
    let mut space = SPACE.lock();
    let (start, cur) = (space.brk_start, space.brk);
    if requested < start || requested > user::TASK_SIZE {
        return cur as i64;
    }
    let (old_end, new_end) = (page_ceil(cur), page_ceil(requested));
    if new_end > old_end {
        let too_big = new_end - space.brk_start > space.commit_limit;
        if too_big || new_end > user::MMAP_TOP || !space.vmas.is_free(old_end, new_end) {
            return cur as i64;
        }
        let locked = space.lock_future;
        space.vmas.insert(Vma { locked, ..Vma::anon(old_end, new_end, PROT_READ | PROT_WRITE, VmaKind::Heap) });
    } else if new_end < old_end {
        space.unmap_range(new_end, old_end);
    }
    space.brk = requested;
    requested as i64
}

pub fn mremap(c: &mut Ctx<'_>) -> i64 {
    if !map_count_ok() {
        return ENOMEM;
    }
    if c.arg(1) > user::TASK_SIZE || c.arg(2) > user::TASK_SIZE {
        return EINVAL;
    }
    let (old, old_len, new_len, flags, new_addr) =
        (c.arg(0), page_ceil(c.arg(1)), page_ceil(c.arg(2)), c.arg(3), c.arg(4));
    if !aligned(old) || new_len == 0 || flags & !(MREMAP_MAYMOVE | MREMAP_FIXED) != 0 {
        return EINVAL;
    }
    if flags & MREMAP_FIXED != 0 && (flags & MREMAP_MAYMOVE == 0 || !aligned(new_addr)) {
        return EINVAL;
    }
    let mut space = SPACE.lock();
    let Some(vma) = space.vmas.find(old).cloned() else { return err(errno::EFAULT) };
    if old.checked_add(old_len).is_none_or(|e| e > vma.end) {
        return err(errno::EFAULT);
    }
    let shared = vma.file.as_ref().is_some_and(|f| f.window.is_some());
    // An old size of 0 asks for a second mapping of a shared mapping's pages (Linux's
    // "duplicate shm area"); it can only be placed elsewhere.
    if old_len == 0 && !shared {
        return EINVAL;
    }
    if old_len == 0 && flags & MREMAP_MAYMOVE == 0 {
        return ENOMEM;
    }
    if flags & MREMAP_FIXED == 0 {
        if new_len <= old_len {
            space.unmap_range(old + new_len, old + old_len);
            return old as i64;
        }
        if old + old_len == vma.end
            && space.vmas.is_free(old + old_len, old + new_len)
            && old + new_len <= user::TASK_SIZE
        {
            if shared {
                return remap_shared(&mut space, &vma, old, old_len, old, new_len);
            }
            space.vmas.insert(vma.moved(old + old_len, old + new_len, old + old_len));
            return old as i64;
        }
        if flags & MREMAP_MAYMOVE == 0 {
            return ENOMEM;
        }
    }
    let target = if flags & MREMAP_FIXED != 0 {
        if user_range(new_addr, new_len).is_none() || ranges_overlap(old, old_len, new_addr, new_len) {
            return EINVAL;
        }
        space.unmap_range(new_addr, new_addr + new_len);
        new_addr
    } else {
        match space.find_placement_congruent(new_len, old) {
            Ok(a) => a,
            Err(e) => return e,
        }
    };
    if shared {
        return remap_shared(&mut space, &vma, old, old_len, target, new_len);
    }
    move_pages(old, old_len.min(new_len), target, &vma);
    space.unmap_range(old, old + old_len);
    space.vmas.insert(vma.moved(target, target + new_len, old));
    target as i64
}

/// mremap of `[old, old+old_len)` of the shared mapping `vma` (a file's, or shared
/// anonymous memory's memfd) to `[target, target+new_len)`, which is free or `old` itself
/// (an `old_len` of 0 leaves the old mapping as it is: a second mapping of its pages).
/// Its pages are the file's, seen through the file window: the host maps the file again,
/// from the same offset and `new_len` long, at a new window range (past the old end the
/// file simply goes on, as Linux's growing mapping does), the old range goes, and the new
/// VMA's pages map to the new range on first touch.
fn remap_shared(space: &mut AddressSpace, vma: &Vma, old: u64, old_len: u64, target: u64, new_len: u64) -> i64 {
    let Some(base) = vma.file.as_ref().and_then(|f| f.window) else { return EINVAL };
    let Some(to) = window::alloc(new_len) else { return ENOMEM };
    let from = base + (old - vma.start);
    if call_ret(&Request::Mm(MmRequest::FileRemapShared { from, to, len: new_len })) < 0 {
        // A host that cannot (Darwin has no mremap): Linux's answer when it cannot grow.
        window::free(to, new_len);
        return ENOMEM;
    }
    if old_len > 0 {
        space.unmap_range(old, old + old_len);
    }
    let mut moved = vma.moved(target, target + new_len, old);
    if let Some(f) = moved.file.as_mut() {
        f.window = Some(to);
    }
    space.vmas.insert(moved);
    target as i64
}

fn ranges_overlap(a: u64, alen: u64, b: u64, blen: u64) -> bool {
    a < b + blen && b < a + alen
}

/// Move the frames of `[from, from+len)` to `to` (their contents travel with them). Whole
/// 2 MiB mappings move as one entry when source and target share their offset in 2 MiB.
fn move_pages(from: u64, len: u64, to: u64, vma: &Vma) {
    let mut tlb = TlbBatch::new();
    let prot = prot_of(vma.prot);
    let congruent = (from ^ to) & (HUGE_PAGE_SIZE - 1) == 0;
    let mut off = 0;
    while off < len {
        match paging::probe(from + off) {
            paging::Probe::Absent { until } => {
                off = until.min(from + len) - from;
                continue;
            }
            paging::Probe::Huge { start, gpa } if congruent && start == from + off && off + HUGE_PAGE_SIZE <= len => {
                paging::unmap_huge(start);
                if !paging::map_huge(to + off, gpa, prot) {
                    crate::mm::frame::free_huge(gpa);
                }
                tlb.add(start);
                off += HUGE_PAGE_SIZE;
                continue;
            }
            _ => {}
        }
        if !paging::move_page(from + off, to + off, prot) {
            // No memory for a page table: the page is lost, as its contents would be.
            crate::kwarn!("mremap: no memory for a page table at {:#x}", to + off);
        }
        tlb.add(from + off);
        off += PAGE_SIZE;
    }
    tlb.flush();
}

/// The advice values Linux knows (others are EINVAL).
fn valid_advice(advice: i32) -> bool {
    matches!(advice, 0..=4 | 8..=25 | 100 | 101)
}

pub fn madvise(c: &mut Ctx<'_>) -> i64 {
    let addr = c.arg(0);
    if !aligned(addr) {
        return EINVAL;
    }
    if c.arg(1) == 0 {
        return 0;
    }
    let Some((start, end)) = user_range(addr, c.arg(1)) else { return EINVAL };
    let advice = c.int(2);
    if !valid_advice(advice) {
        return EINVAL;
    }
    let mut space = SPACE.lock();
    if !space.vmas.is_fully_mapped(start, end) {
        return ENOMEM;
    }
    // As Linux's madvise_walk_vmas: one VMA after the other, the first refusal ends the call.
    let pieces: Vec<Vma> =
        space.vmas.overlapping(start, end).map(|v| v.slice(v.start.max(start), v.end.min(end))).collect();
    for v in &pieces {
        let r = advise(&mut space, v, advice as u32);
        if r != 0 {
            return r;
        }
    }
    0
}

/// A file mapping as Linux sees one (a `vm_file`): a held or shared file, and the private
/// copies of files that are named after them too (ELF segments, /dev/zero, /proc files).
fn file_backed(v: &Vma) -> bool {
    v.file.is_some() || v.name.is_some()
}

/// One advice for the piece `v` of a VMA: Linux's per-VMA checks, then the work.
fn advise(space: &mut AddressSpace, v: &Vma, advice: u32) -> i64 {
    let window = v.file.as_ref().and_then(|f| f.window);
    match advice {
        // Locked pages stay (can_madv_lru_vma; MADV_DONTNEED_LOCKED is the one that may).
        MADV_DONTNEED | MADV_FREE | MADV_COLD | MADV_PAGEOUT if v.locked => EINVAL,
        // MADV_FREE is for private anonymous memory only.
        MADV_FREE if v.file.is_some() => EINVAL,
        MADV_DONTNEED | MADV_FREE => {
            // Private pages go; a file mapping's are read from the file again on next touch.
            space.discard(v.start, v.end);
            0
        }
        // madvise_remove: frees a shared file's (or shared memory's) pages, which needs a
        // file and a shared mapping that may write it.
        MADV_REMOVE if v.locked || !file_backed(v) => EINVAL,
        MADV_REMOVE => match (window, v.file.as_ref().is_some_and(|f| f.may_write)) {
            (Some(gpa), true) => {
                call_ret(&Request::Mm(MmRequest::FileRemoveShared { gpa, len: v.end - v.start })).min(0)
            }
            _ => err(errno::EACCES),
        },
        // Only private anonymous memory can be wiped for a child.
        MADV_WIPEONFORK if file_backed(v) => EINVAL,
        MADV_WIPEONFORK | MADV_KEEPONFORK => {
            let wipe = advice == MADV_WIPEONFORK;
            let _ = space.vmas.update_range(v.start, v.end, |p| p.wipe_on_fork = wipe);
            0
        }
        _ => 0,
    }
}

/// `[addr, addr + len rounded up to pages)` for msync and mincore: None when it wraps or
/// leaves the user half (no VMA can be there: ENOMEM).
fn page_range(addr: u64, len: u64) -> Option<(u64, u64)> {
    let end = addr.checked_add(len.checked_add(PAGE_SIZE - 1)? & !(PAGE_SIZE - 1))?;
    (end <= user::TASK_SIZE).then_some((addr, end))
}

pub fn msync(c: &mut Ctx<'_>) -> i64 {
    let (addr, flags) = (c.arg(0), c.arg(2));
    if flags & !(MS_ASYNC | MS_INVALIDATE | MS_SYNC) != 0 || !aligned(addr) {
        return EINVAL;
    }
    if flags & MS_ASYNC != 0 && flags & MS_SYNC != 0 {
        return EINVAL;
    }
    let Some((start, end)) = page_range(addr, c.arg(1)) else { return ENOMEM };
    if start == end {
        return 0;
    }
    let space = SPACE.lock();
    // Private pages have nothing to write back. Shared file pages are the host's page
    // cache already (other processes see them); MS_SYNC also writes them to the disk.
    if flags & MS_SYNC != 0 {
        for v in space.vmas.overlapping(start, end) {
            let Some(window) = v.file.as_ref().and_then(|f| f.window) else { continue };
            let (s, e) = (v.start.max(start), v.end.min(end));
            let r = call_ret(&Request::Mm(MmRequest::FileSyncShared { gpa: window + (s - v.start), len: e - s }));
            if r < 0 {
                return r;
            }
        }
    }
    // Like Linux, a hole makes the call ENOMEM (after syncing what is mapped).
    if !space.vmas.is_fully_mapped(start, end) {
        return ENOMEM;
    }
    0
}

/// mincore: one byte per page of `[addr, addr+len)`, bit 0 set when the page is present.
pub fn mincore(c: &mut Ctx<'_>) -> i64 {
    let (addr, vec) = (c.arg(0), c.arg(2));
    if !aligned(addr) {
        return EINVAL;
    }
    let Some((start, end)) = page_range(addr, c.arg(1)) else { return ENOMEM };
    let mut page = start;
    let mut out = vec;
    while page < end {
        let mut chunk = [0u8; 256];
        let n = (((end - page) / PAGE_SIZE) as usize).min(chunk.len());
        {
            let space = SPACE.lock();
            for (i, byte) in chunk[..n].iter_mut().enumerate() {
                let va = page + i as u64 * PAGE_SIZE;
                if space.vmas.find(va).is_none() {
                    return ENOMEM;
                }
                *byte = u8::from(paging::translate(va).is_some());
            }
        }
        if let Err(e) = copy_to_user(out, &chunk[..n]) {
            return e;
        }
        page += n as u64 * PAGE_SIZE;
        out += n as u64;
    }
    0
}

/// membarrier's commands (linux/membarrier.h).
const MEMBARRIER_CMD_QUERY: u32 = 0;
const MEMBARRIER_CMD_GLOBAL: u32 = 1 << 0;
const MEMBARRIER_CMD_GLOBAL_EXPEDITED: u32 = 1 << 1;
const MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED: u32 = 1 << 2;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED: u32 = 1 << 3;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED: u32 = 1 << 4;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE: u32 = 1 << 5;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE: u32 = 1 << 6;
const MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ: u32 = 1 << 7;
const MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ: u32 = 1 << 8;
const MEMBARRIER_CMD_GET_REGISTRATIONS: u32 = 1 << 9;
const MEMBARRIER_CMD_FLAG_CPU: u32 = 1;

/// membarrier(cmd, flags, cpu_id): every other thread of the process that runs user code
/// passes through its kernel (a full barrier, and a serialising one) before the call
/// returns. That is the TLB shootdown's handshake (mm/tlb.rs), which the barrier uses.
/// The other processes' threads run in VMs of their own: a GLOBAL barrier covers this
/// process's. There are no rseq critical sections to restart (rseq is not served).
pub fn membarrier(c: &mut Ctx<'_>) -> i64 {
    let (cmd, flags) = (c.arg(0) as u32, c.arg(1) as u32);
    let flags_ok = flags == 0 || (cmd == MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ && flags == MEMBARRIER_CMD_FLAG_CPU);
    if !flags_ok || c.arg(0) > u64::from(u32::MAX) {
        return EINVAL;
    }
    let registered = crate::task::membarrier_registrations();
    let needs = |registration: u32| {
        if registered & registration == 0 {
            return err(errno::EPERM);
        }
        crate::mm::tlb::shootdown();
        0
    };
    match cmd {
        MEMBARRIER_CMD_QUERY => i64::from((MEMBARRIER_CMD_GET_REGISTRATIONS << 1) - 1),
        MEMBARRIER_CMD_GLOBAL | MEMBARRIER_CMD_GLOBAL_EXPEDITED => {
            crate::mm::tlb::shootdown();
            0
        }
        MEMBARRIER_CMD_PRIVATE_EXPEDITED => needs(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED),
        MEMBARRIER_CMD_PRIVATE_EXPEDITED_SYNC_CORE => needs(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE),
        MEMBARRIER_CMD_PRIVATE_EXPEDITED_RSEQ => needs(MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ),
        MEMBARRIER_CMD_REGISTER_GLOBAL_EXPEDITED
        | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED
        | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_SYNC_CORE
        | MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED_RSEQ => {
            crate::task::membarrier_register(cmd);
            0
        }
        MEMBARRIER_CMD_GET_REGISTRATIONS => i64::from(registered),
        _ => EINVAL,
    }
}
