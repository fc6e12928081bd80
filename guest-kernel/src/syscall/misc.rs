//! Small calls served entirely in the guest: getcpu, the mlock family and personality.
//!
//! Memory locking has little to do here: guest memory is never paged out by the guest, so
//! the calls make Linux's checks (flags, RLIMIT_MEMLOCK, ranges that must be mapped) and
//! mark the VMAs locked (madvise may not discard locked pages); they do not touch page
//! tables and do not call the host.

use core::sync::atomic::{AtomicU32, Ordering};

use abi_shared::linux::errno;

use super::misc_rules::{self as rules, lock_len, lock_range, over_memlock_limit};
use super::{err, Ctx, EFAULT, EINVAL, ENOMEM};
use crate::mm::uaccess;

const RLIMIT_MEMLOCK: u64 = abi_shared::linux::general::RLIMIT_MEMLOCK as u64;

/// getcpu(cpu, node, cache): NULL pointers are skipped; both stores are attempted and a
/// fault in either is EFAULT, as Linux does. There is one NUMA node; the CPU is
/// `task::current_cpu`'s.
pub fn getcpu(c: &mut Ctx<'_>) -> i64 {
    let mut fault = false;
    let cpu = crate::task::current_cpu();
    for (ptr, value) in [(c.arg(0), cpu), (c.arg(1), 0)] {
        if ptr != 0 {
            fault |= uaccess::copy_to_user(ptr, &value.to_le_bytes()).is_err();
        }
    }
    if fault {
        EFAULT
    } else {
        0
    }
}

/// Linux's capable(CAP_IPC_LOCK), as far as the guest knows capabilities: root has it.
fn can_lock_any_amount() -> bool {
    crate::task::euid() == 0
}

/// The common part of mlock and mlock2, in do_mlock's order: EPERM with a zero limit for
/// the unprivileged, ENOMEM past the limit, then EINVAL for a range that wraps and ENOMEM
/// unless it is entirely mapped. Amounts are checked per call: the guest keeps no count of
/// what is already locked.
fn do_mlock(addr: u64, len: u64) -> i64 {
    let limit = crate::task::rlimit_soft(RLIMIT_MEMLOCK);
    if limit == 0 && !can_lock_any_amount() {
        return err(errno::EPERM);
    }
    if over_memlock_limit(lock_len(addr, len), limit) && !can_lock_any_amount() {
        return ENOMEM;
    }
    match lock_range(addr, len) {
        Err(e) => e,
        Ok(None) => 0,
        Ok(Some((start, end))) => set_locked(start, end, true),
    }
}

/// Mark the VMAs of [start, end) locked or not: 0, or ENOMEM unless every page of it
/// belongs to a mapping.
fn set_locked(start: u64, end: u64, locked: bool) -> i64 {
    match crate::mm::SPACE.lock().vmas.update_range(start, end, |v| v.locked = locked) {
        Ok(()) => 0,
        Err(()) => ENOMEM,
    }
}

pub fn mlock(c: &mut Ctx<'_>) -> i64 {
    do_mlock(c.arg(0), c.arg(1))
}

pub fn mlock2(c: &mut Ctx<'_>) -> i64 {
    if !rules::mlock2_flags_ok(c.arg(2) & 0xffff_ffff) {
        return EINVAL;
    }
    do_mlock(c.arg(0), c.arg(1))
}

/// munlock: no limits, but the range must still be mapped.
pub fn munlock(c: &mut Ctx<'_>) -> i64 {
    match lock_range(c.arg(0), c.arg(1)) {
        Err(e) => e,
        Ok(None) => 0,
        Ok(Some((start, end))) => set_locked(start, end, false),
    }
}

/// Lock (or unlock) every mapping there is; `future`: the ones to come too.
fn lock_all(locked: bool, future: bool) {
    let mut space = crate::mm::SPACE.lock();
    space.lock_future = future;
    let all: alloc::vec::Vec<(u64, u64)> = space.vmas.iter().map(|v| (v.start, v.end)).collect();
    for (start, end) in all {
        let _ = space.vmas.update_range(start, end, |v| v.locked = locked);
    }
}

/// mlockall: the flags, then EPERM with a zero limit for the unprivileged. The size of
/// the whole address space is not compared with the limit (the guest cannot count it
/// without the memory manager's help), so MCL_CURRENT succeeds where Linux might say ENOMEM.
pub fn mlockall(c: &mut Ctx<'_>) -> i64 {
    if !rules::mlockall_flags_ok(c.arg(0) & 0xffff_ffff) {
        return EINVAL;
    }
    if crate::task::rlimit_soft(RLIMIT_MEMLOCK) == 0 && !can_lock_any_amount() {
        return err(errno::EPERM);
    }
    let flags = c.arg(0) & 0xffff_ffff;
    let future = flags & rules::MCL_FUTURE != 0;
    if flags & rules::MCL_CURRENT != 0 {
        lock_all(true, future);
    } else {
        crate::mm::SPACE.lock().lock_future = future;
    }
    0
}

pub fn munlockall(_: &mut Ctx<'_>) -> i64 {
    lock_all(false, false);
    0
}

/// The process's persona (PER_LINUX = 0 at start). It lives in guest memory, so a fork
/// inherits it and an exec (done inside the same guest) keeps it, as on Linux.
static PERSONA: AtomicU32 = AtomicU32::new(0);

pub fn persona() -> u32 {
    PERSONA.load(Ordering::Relaxed)
}

pub fn personality(c: &mut Ctx<'_>) -> i64 {
    let (old, new) = rules::personality(persona(), c.arg(0) as u32);
    PERSONA.store(new, Ordering::Relaxed);
    // Linux returns the unsigned int zero-extended: never an error value.
    i64::from(old)
}
