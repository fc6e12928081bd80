//! The futex wait queue of a process: which threads wait on which user address, and how
//! a waker reaches them.
//!
//! A waiter enqueues itself (having checked the futex word under the queue's lock, which
//! every waker takes too, so no wake is lost between the check and the sleep) and then
//! sleeps in the host on a word of its own vCPU block (`vcpu_block::FUTEX_WAKE_WORD`): a
//! waker removes it from the queue, stores WOKEN there, and only if the waiter had gone
//! to sleep in the host (SLEEPING) asks the monitor to wake it (`Request::FutexWake`), so
//! a waiter that is still on its way to sleep costs the waker no hypercall. The sleeping
//! itself, which also ends at signals and timeouts, is the futex syscall's (syscall/).
//!
//! Keys are user addresses: the threads share one address space. A futex shared with
//! another process is not seen by that process's waiters (they have their own queue).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use alloc::vec::Vec;

use abi_shared::hypercall::Request;
use abi_shared::layout::{vcpu_block, PHYS_MAP_BASE};
use abi_shared::linux::errno;
use spin::Mutex;

use crate::mm::{paging, Access, SPACE};

/// The wake word's states.
pub const IDLE: u32 = 0;
pub const WOKEN: u32 = 1;
pub const SLEEPING: u32 = 2;

struct Waiter {
    key: u64,
    bitset: u32,
    /// The waiter's vCPU block (its wake word).
    block: u64,
    /// Tells this wait from the same thread's later ones.
    id: u64,
}

static QUEUE: Mutex<Vec<Waiter>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

const EFAULT: i64 = -(errno::EFAULT as i64);

/// The wake word of the vCPU whose block is at `block`.
pub fn wake_word(block: u64) -> &'static AtomicU32 {
    // SAFETY: vCPU blocks lie in guest RAM, mapped by the direct map for the whole run;
    // the word is 4-byte aligned and only accessed atomically.
    unsafe { AtomicU32::from_ptr((PHYS_MAP_BASE + block + vcpu_block::FUTEX_WAKE_WORD) as *mut u32) }
}

/// The user word at `uaddr` (4-byte aligned) as an atomic, its page made present and
/// writable as a user write would (EFAULT where it cannot be).
pub fn user_word(uaddr: u64, write: bool) -> Result<&'static AtomicU32, i64> {
    let access = if write { Access::Write } else { Access::Read };
    let gpa = match paging::user_page_gpa(uaddr, write) {
        Some(gpa) => gpa,
        None => SPACE.lock().populate(uaddr, access).map_err(|_| EFAULT)?,
    };
    let ptr = crate::mm::frame::frame_ptr(gpa + (uaddr & 0xfff)) as *mut u32;
    // SAFETY: the frame is present for the access, reached through the direct map, and
    // the address is 4-byte aligned (futex words are; the callers check).
    Ok(unsafe { AtomicU32::from_ptr(ptr) })
}

/// Enqueue the calling thread (its vCPU block `block`) on `uaddr` if the word there still
/// holds `val`: the wait's id, or EAGAIN/EFAULT.
pub fn enqueue(uaddr: u64, val: u32, bitset: u32, block: u64) -> Result<u64, i64> {
    wake_word(block).store(IDLE, Ordering::SeqCst);
    let mut queue = QUEUE.lock();
    let now = user_word(uaddr, false)?.load(Ordering::SeqCst);
    if now != val {
        return Err(-(errno::EAGAIN as i64));
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    queue.push(Waiter { key: uaddr, bitset, block, id });
    Ok(id)
}

/// Take wait `id` off the queue: false if a waker already did (the wait was woken).
pub fn dequeue(id: u64) -> bool {
    let mut queue = QUEUE.lock();
    match queue.iter().position(|w| w.id == id) {
        Some(i) => {
            queue.remove(i);
            true
        }
        None => false,
    }
}

/// Wake the waiter whose vCPU block is `block` (already off the queue).
fn rouse(block: u64) {
    if wake_word(block).swap(WOKEN, Ordering::SeqCst) == SLEEPING {
        crate::hypercall::call_ret(&Request::FutexWake { gpa: block + vcpu_block::FUTEX_WAKE_WORD, count: 1 });
    }
}

/// Take up to `count` waiters on `key` whose bitset meets `bitset` off `queue`.
fn take(queue: &mut Vec<Waiter>, key: u64, count: u32, bitset: u32) -> Vec<u64> {
    let mut blocks = Vec::new();
    let mut i = 0;
    while i < queue.len() && blocks.len() < count as usize {
        if queue[i].key == key && queue[i].bitset & bitset != 0 {
            blocks.push(queue.remove(i).block);
        } else {
            i += 1;
        }
    }
    blocks
}

/// FUTEX_WAKE(_BITSET): wake up to `count` waiters on `key`; returns how many.
pub fn wake(key: u64, count: u32, bitset: u32) -> i64 {
    let blocks = take(&mut QUEUE.lock(), key, count, bitset);
    for &b in &blocks {
        rouse(b);
    }
    blocks.len() as i64
}

/// FUTEX_(CMP_)REQUEUE: wake up to `wake_count` waiters on `key`, move up to
/// `requeue_count` of the rest to `key2`. With `expected`, only if the word at `key` holds
/// it (EAGAIN). Returns the woken, plus the moved ones for CMP_REQUEUE (as Linux).
pub fn requeue(key: u64, key2: u64, wake_count: u32, requeue_count: u32, expected: Option<u32>) -> i64 {
    let mut queue = QUEUE.lock();
    if let Some(val) = expected {
        match user_word(key, false) {
            Ok(w) if w.load(Ordering::SeqCst) == val => {}
            Ok(_) => return -(errno::EAGAIN as i64),
            Err(e) => return e,
        }
    }
    let woken = take(&mut queue, key, wake_count, u32::MAX);
    let mut moved = 0u32;
    for w in queue.iter_mut() {
        if moved >= requeue_count {
            break;
        }
        if w.key == key {
            w.key = key2;
            moved += 1;
        }
    }
    drop(queue);
    for &b in &woken {
        rouse(b);
    }
    woken.len() as i64 + if expected.is_some() { i64::from(moved) } else { 0 }
}

/// FUTEX_WAKE_OP: apply `op` to the word at `key2`, wake up to `count` on `key` and, if
/// the old value of `key2` met the op's comparison, up to `count2` on `key2`.
pub fn wake_op(key: u64, key2: u64, count: u32, count2: u32, op: u32) -> i64 {
    let mut queue = QUEUE.lock();
    let word = match user_word(key2, true) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let Some(old) = apply_op(word, op) else {
        return -(errno::ENOSYS as i64);
    };
    let mut woken = take(&mut queue, key, count, u32::MAX);
    if compare(old, op) {
        woken.extend(take(&mut queue, key2, count2, u32::MAX));
    }
    drop(queue);
    for &b in &woken {
        rouse(b);
    }
    woken.len() as i64
}

/// FUTEX_OP's operation on `word`; returns the old value (None: unknown operation).
fn apply_op(word: &AtomicU32, op: u32) -> Option<u32> {
    let shift_arg = op & (8 << 28) != 0;
    let kind = (op >> 28) & 7;
    let mut arg = (op >> 12) & 0xfff;
    if arg & 0x800 != 0 {
        arg |= !0xfff; // sign-extend the 12-bit argument
    }
    if shift_arg {
        if arg > 31 {
            return None;
        }
        arg = 1 << arg;
    }
    let f = |old: u32| -> u32 {
        match kind {
            0 => arg,
            1 => old.wrapping_add(arg),
            2 => old | arg,
            3 => old & !arg,
            _ => old ^ arg,
        }
    };
    if kind > 4 {
        return None;
    }
    Some(word.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |old| Some(f(old))).unwrap_or(0))
}

/// FUTEX_OP's comparison of the old value.
fn compare(old: u32, op: u32) -> bool {
    let cmp = (op >> 24) & 15;
    let mut arg = op & 0xfff;
    if arg & 0x800 != 0 {
        arg |= !0xfff;
    }
    let (old, arg) = (old as i32, arg as i32);
    match cmp {
        0 => old == arg,
        1 => old != arg,
        2 => old < arg,
        3 => old <= arg,
        4 => old > arg,
        5 => old >= arg,
        _ => false,
    }
}

const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
/// Linux's ROBUST_LIST_LIMIT: a list longer than this (or a loop) is not followed further.
const ROBUST_LIST_LIMIT: usize = 2048;

/// A dying thread's robust futexes (set_robust_list): each word it owns gets
/// FUTEX_OWNER_DIED, and a waiter is woken, as Linux's exit_robust_list does.
pub fn release_robust_list(head: u64, tid: u32) {
    let read = |addr: u64| crate::mm::uaccess::read_u64(addr).ok();
    let (Some(mut entry), Some(offset), Some(pending)) = (read(head), read(head + 8), read(head + 16)) else {
        return;
    };
    let offset = offset as i64;
    let mut seen = 0;
    while entry != head && seen < ROBUST_LIST_LIMIT {
        let next = read(entry & !1);
        if entry != pending {
            handle_death(entry.wrapping_add_signed(offset), tid);
        }
        let Some(next) = next else { return };
        entry = next;
        seen += 1;
    }
    if pending != 0 {
        handle_death(pending.wrapping_add_signed(offset), tid);
    }
}

fn handle_death(uaddr: u64, tid: u32) {
    if !uaddr.is_multiple_of(4) {
        return;
    }
    let Ok(word) = user_word(uaddr, true) else { return };
    let update = word.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
        (w & FUTEX_TID_MASK == tid).then_some((w & FUTEX_WAITERS) | FUTEX_OWNER_DIED)
    });
    if let Ok(old) = update {
        if old & FUTEX_WAITERS != 0 {
            wake(uaddr, 1, u32::MAX);
        }
    }
}
