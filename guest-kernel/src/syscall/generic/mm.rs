//! brk and anonymous private mmap on demand-paged zero memory; munmap, mprotect.

use abi_shared::layout::{user, PAGE_SIZE};

use super::{Ctx, EINVAL, ENOMEM, ENOSYS};
use crate::arch::mmu::Prot;
use crate::bringup::frames;
use crate::bringup::uspace::{self, page_ceil};

const PROT_READ: u64 = abi_shared::linux::general::PROT_READ as u64;
const PROT_WRITE: u64 = abi_shared::linux::general::PROT_WRITE as u64;
const PROT_EXEC: u64 = abi_shared::linux::general::PROT_EXEC as u64;
const MAP_SHARED: u64 = abi_shared::linux::general::MAP_SHARED as u64;
const MAP_PRIVATE: u64 = abi_shared::linux::general::MAP_PRIVATE as u64;
const MAP_FIXED: u64 = abi_shared::linux::general::MAP_FIXED as u64;
const MAP_ANONYMOUS: u64 = abi_shared::linux::general::MAP_ANONYMOUS as u64;
const MAP_FIXED_NOREPLACE: u64 = abi_shared::linux::general::MAP_FIXED_NOREPLACE as u64;
const EEXIST: i64 = -(abi_shared::linux::errno::EEXIST as i64);

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

pub fn mmap(c: &mut Ctx<'_>) -> i64 {
    let [addr, len, prot, flags, _fd, off] = c.args;
    if flags & MAP_ANONYMOUS == 0 || flags & MAP_SHARED != 0 {
        // File and shared mappings need mm/filemap.rs, not ported to arm64 yet.
        return ENOSYS;
    }
    if flags & (MAP_PRIVATE | MAP_SHARED) == 0 || len == 0 || !off.is_multiple_of(PAGE_SIZE) {
        return EINVAL;
    }
    let Some(len) = page_ceil(len).filter(|l| *l <= user::TASK_SIZE) else { return ENOMEM };
    let (p, read) = prot_of(prot);
    // Linux's overcommit heuristic: a private writable mapping larger than memory fails.
    if p.write && len > frames::total() {
        return ENOMEM;
    }
    uspace::with(|s| {
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let start = if fixed {
            if !addr.is_multiple_of(PAGE_SIZE) {
                return EINVAL;
            }
            let Some(end) = addr.checked_add(len).filter(|e| *e <= user::TASK_SIZE) else { return ENOMEM };
            if !s.is_free(addr, end) {
                if flags & MAP_FIXED_NOREPLACE != 0 {
                    return EEXIST;
                }
                s.unmap(addr, end);
            }
            addr
        } else {
            let hint = uspace::page_floor(addr);
            match hint.checked_add(len) {
                Some(end) if hint >= user::MMAP_MIN && end <= user::MMAP_TOP && s.is_free(hint, end) => hint,
                _ => match s.free_range(len) {
                    Some(a) => a,
                    None => return ENOMEM,
                },
            }
        };
        s.add(start, start + len, p, read);
        start as i64
    })
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

pub fn mprotect(c: &mut Ctx<'_>) -> i64 {
    let Some((start, end)) = range(c.args[0], c.args[1]) else { return EINVAL };
    let (p, read) = prot_of(c.args[2]);
    if uspace::with(|s| s.protect(start, end, p, read)) {
        0
    } else {
        ENOMEM
    }
}

/// Advice only: accepted and ignored (MADV_DONTNEED's zeroing is not done yet).
pub fn madvise(c: &mut Ctx<'_>) -> i64 {
    if !c.args[0].is_multiple_of(PAGE_SIZE) {
        return EINVAL;
    }
    0
}
