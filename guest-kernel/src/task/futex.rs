//! The futex wait queue of a process: which threads wait on which user address, and how
//! a waker reaches them.
//!
//! A waiter enqueues itself (having checked the futex word under the queue's lock, which
//! every waker takes too, so no wake is lost between the check and the sleep) and then
//! sleeps in the host on a word of its own vCPU block (`vcpu_block::FUTEX_WAKE_WORD`): a
//! waker removes it from the queue, stores WOKEN there, and only if the waiter had gone
//! to sleep in the host (SLEEPING) asks the monitor to wake it (`FutexRequest::FutexWake`), so
//! a waiter that is still on its way to sleep costs the waker no hypercall. The sleeping
//! itself, which also ends at signals and timeouts, is the futex syscall's (syscall/).
//!
//! Keys are user addresses: the threads share one address space. A futex shared with
//! another process is not seen by that process's waiters (they have their own queue).

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use alloc::vec::Vec;

use abi_shared::hypercall::{FutexRequest, Request};
use abi_shared::layout::{vcpu_block, MAX_VCPUS, PHYS_MAP_BASE};
use abi_shared::linux::errno;
use spin::Mutex;

use crate::mm::{paging, Access, SPACE};

/// The wake word's states.
pub const IDLE: u32 = 0;
pub const WOKEN: u32 = 1;
pub const SLEEPING: u32 = 2;
/// A signal came for the thread: its wait looks at its signals again.
pub const SIGNALLED: u32 = 3;

pub use super::futex_queue::{Handoff, Key, RequeuePi};
use super::futex_queue::{Taken, Waiter};

static QUEUE: Mutex<Vec<Waiter>> = Mutex::new(Vec::new());
static NEXT_ID: AtomicU64 = AtomicU64::new(1);
/// Per vCPU: the index of the word whose wake ended its last wait (futex_waitv's answer).
static WOKEN_INDEX: [AtomicU32; MAX_VCPUS as usize] = [const { AtomicU32::new(0) }; MAX_VCPUS as usize];
/// Per vCPU: how FUTEX_CMP_REQUEUE_PI ended its last FUTEX_WAIT_REQUEUE_PI wait
/// (`HANDOFF_LOCKED` or `HANDOFF_REQUEUED`), stored before its wake word.
static HANDOFF: [AtomicU32; MAX_VCPUS as usize] = [const { AtomicU32::new(0) }; MAX_VCPUS as usize];
const HANDOFF_LOCKED: u32 = 0;
const HANDOFF_REQUEUED: u32 = 1;

const EFAULT: i64 = -(errno::EFAULT as i64);
const EINVAL: i64 = -(errno::EINVAL as i64);

/// The wake word of the vCPU whose block is at `block`.
pub fn wake_word(block: u64) -> &'static AtomicU32 {
    // SAFETY: vCPU blocks lie in guest RAM, mapped by the direct map for the whole run;
    // the word is 4-byte aligned and only accessed atomically.
    unsafe { AtomicU32::from_ptr((PHYS_MAP_BASE + block + vcpu_block::FUTEX_WAKE_WORD) as *mut u32) }
}

/// The user word at `uaddr` (4-byte aligned) as an atomic, its page made present and
/// writable as a user write would (EFAULT where it cannot be).
pub fn user_word(uaddr: u64, write: bool) -> Result<&'static AtomicU32, i64> {
    let ptr = crate::mm::frame::frame_ptr(user_word_gpa(uaddr, write)?) as *mut u32;
    // SAFETY: the frame is present for the access, reached through the direct map, and
    // the address is 4-byte aligned (futex words are; the callers check).
    Ok(unsafe { AtomicU32::from_ptr(ptr) })
}

/// The guest-physical address of the user word at `uaddr`, its page made present (and
/// writable) as a user access would (EFAULT where it cannot be).
pub fn user_word_gpa(uaddr: u64, write: bool) -> Result<u64, i64> {
    let access = if write { Access::Write } else { Access::Read };
    let gpa = match paging::user_page_gpa(uaddr, write) {
        Some(gpa) => gpa,
        None => SPACE.lock().populate(uaddr, access).map_err(|_| EFAULT)?,
    };
    if write {
        // The word is written through the direct map, which a vfork child's tracking
        // must hear of first.
        crate::mm::vfork::note_kernel_write(uaddr);
    }
    Ok(gpa + (uaddr & 0xfff))
}

/// Enqueue the calling thread (its vCPU block `block`) on every `(key, value)` of `words`
/// if each word still holds its value: the wait's id, or EAGAIN/EFAULT. `pi`: a
/// FUTEX_WAIT_REQUEUE_PI wait (one word), which only FUTEX_CMP_REQUEUE_PI may end.
pub fn enqueue(words: &[(Key, u32)], bitset: u32, block: u64, pi: Option<RequeuePi>) -> Result<u64, i64> {
    wake_word(block).store(IDLE, Ordering::SeqCst);
    let vcpu = crate::percpu::cpu_index();
    let mut queue = QUEUE.lock();
    for &(key, val) in words {
        if user_word(key.addr, false)?.load(Ordering::SeqCst) != val {
            return Err(-(errno::EAGAIN as i64));
        }
    }
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    for (index, &(key, _)) in words.iter().enumerate() {
        queue.push(Waiter { key, bitset, block, vcpu, id, index: index as u32, pi });
    }
    Ok(id)
}

/// In a forked child: the waits of the parent's other threads are not this process's.
pub fn forget_other_waiters() {
    let me = crate::percpu::cpu_index();
    QUEUE.lock().retain(|w| w.vcpu == me);
}

/// Which word's wake ended this vCPU's last wait (its index in the wait's words).
pub fn woken_index() -> u32 {
    WOKEN_INDEX[crate::percpu::cpu_index() as usize].load(Ordering::SeqCst)
}

/// How FUTEX_CMP_REQUEUE_PI ended this vCPU's last FUTEX_WAIT_REQUEUE_PI wait.
pub fn handoff() -> Handoff {
    match HANDOFF[crate::percpu::cpu_index() as usize].load(Ordering::SeqCst) {
        HANDOFF_LOCKED => Handoff::Locked,
        _ => Handoff::Requeued,
    }
}

/// Take wait `id` off the queue: false if a waker already did (the wait was woken).
pub fn dequeue(id: u64) -> bool {
    super::futex_queue::dequeue(&mut QUEUE.lock(), id)
}

/// Wake, in the host, the waiter whose vCPU block is `block`: `take` found it asleep there
/// (its wake word said SLEEPING when it stored WOKEN).
fn rouse(block: u64) {
    crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexWake {
        gpa: block + vcpu_block::FUTEX_WAKE_WORD,
        count: 1,
        shared: false,
    }));
}

/// A signal was queued for the thread whose vCPU block is `block`: if it waits on its
/// wake word (a futex, a sleep), make it look at its signals. A wake (WOKEN) is kept.
pub fn interrupt_wait(block: u64) {
    let word = wake_word(block);
    if word.compare_exchange(IDLE, SIGNALLED, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        return;
    }
    if word.compare_exchange(SLEEPING, SIGNALLED, Ordering::SeqCst, Ordering::SeqCst).is_ok() {
        crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexWake {
            gpa: block + vcpu_block::FUTEX_WAKE_WORD,
            count: 1,
            shared: false,
        }));
    }
}

/// Sleep in the host on the wake word of this vCPU (block `block`) for at most
/// `timeout_ns` (u64::MAX: no limit), unless something was stored there since the caller
/// last set it IDLE: a wake, or a signal (`interrupt_wait`), which is consumed here (the
/// caller looks at its signals next).
pub fn sleep_on_wake_word(block: u64, timeout_ns: u64) {
    // A fork's gate wakes sleepers to stop them here (they hold no lock).
    super::fork_gate::checkpoint();
    let word = wake_word(block);
    if word.compare_exchange(IDLE, SLEEPING, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        let _ = word.compare_exchange(SIGNALLED, IDLE, Ordering::SeqCst, Ordering::SeqCst);
        return;
    }
    crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexSleep {
        gpa: block + vcpu_block::FUTEX_WAKE_WORD,
        expected: SLEEPING,
        timeout_ns,
        shared: false,
    }));
    if word.compare_exchange(SLEEPING, IDLE, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        let _ = word.compare_exchange(SIGNALLED, IDLE, Ordering::SeqCst, Ordering::SeqCst);
    }
    super::fork_gate::checkpoint();
}

/// Take up to `count` waiters on `key` off `queue`, storing WOKEN on each one's wake word
/// while the queue is still locked (see `futex_queue::take`) and noting which word woke it.
fn take(queue: &mut Vec<Waiter>, key: Key, count: u32, bitset: u32) -> Taken {
    super::futex_queue::take(queue, key, count, bitset, |w| {
        WOKEN_INDEX[w.vcpu as usize].store(w.index, Ordering::SeqCst);
        wake_word(w.block).swap(WOKEN, Ordering::SeqCst) == SLEEPING
    })
}

/// After the queue's lock is let go: wake in the host those `take` found asleep there.
/// How many were woken, or EINVAL where the waker met a FUTEX_WAIT_REQUEUE_PI waiter.
fn rouse_asleep(taken: Taken) -> i64 {
    for &b in &taken.asleep {
        rouse(b);
    }
    if taken.refused {
        return EINVAL;
    }
    i64::from(taken.count)
}

/// FUTEX_WAKE(_BITSET): wake up to `count` waiters on `key`; returns how many.
pub fn wake(key: Key, count: u32, bitset: u32) -> i64 {
    let taken = take(&mut QUEUE.lock(), key, count, bitset);
    rouse_asleep(taken)
}

/// FUTEX_(CMP_)REQUEUE: wake up to `wake_count` waiters on `key`, move up to
/// `requeue_count` of the rest to `key2`. With `expected`, only if the word at `key` holds
/// it (EAGAIN). Returns the woken plus the moved ones.
pub fn requeue(key: Key, key2: Key, wake_count: u32, requeue_count: u32, expected: Option<u32>) -> i64 {
    let mut queue = QUEUE.lock();
    if let Some(val) = expected {
        match user_word(key.addr, false) {
            Ok(w) if w.load(Ordering::SeqCst) == val => {}
            Ok(_) => return -(errno::EAGAIN as i64),
            Err(e) => return e,
        }
    }
    let mut woken = take(&mut queue, key, wake_count, u32::MAX);
    let mut moved = 0u32;
    for w in queue.iter_mut() {
        if moved >= requeue_count || woken.refused {
            break;
        }
        if w.key == key {
            // A FUTEX_WAIT_REQUEUE_PI waiter is FUTEX_CMP_REQUEUE_PI's only: EINVAL.
            woken.refused = w.pi.is_some();
            if !woken.refused {
                w.key = key2;
                moved += 1;
            }
        }
    }
    drop(queue);
    match rouse_asleep(woken) {
        // Linux counts the moved waiters for both operations.
        r if r >= 0 => r + i64::from(moved),
        e => e,
    }
}

/// FUTEX_CMP_REQUEUE_PI: if the word at `key` holds `expected` (else EAGAIN), hand the PI
/// futex at `key2` to the first FUTEX_WAIT_REQUEUE_PI waiter on `key` if it is free (Linux's
/// futex_proxy_trylock_atomic: its word gets the waiter's id, and FUTEX_WAITERS when more
/// may be requeued), and requeue up to `nr_requeue` more (`nr_requeue + 1` when the lock is
/// held). A requeued waiter is woken here and waits for the lock in the host's PI futex
/// itself (FUTEX_LOCK_PI2), which is where every wait for a PI lock happens; the word gets
/// FUTEX_WAITERS first, so that its owner unlocks through the kernel. Returns the waiters
/// woken plus requeued, or an error (EINVAL for a waiter of another kind or PI futex,
/// EDEADLK when the first waiter owns the lock already, EFAULT).
pub fn requeue_pi(key: Key, key2: Key, nr_requeue: u32, expected: u32) -> i64 {
    let mut queue = QUEUE.lock();
    match user_word(key.addr, false) {
        Ok(w) if w.load(Ordering::SeqCst) == expected => {}
        Ok(_) => return -(errno::EAGAIN as i64),
        Err(e) => return e,
    }
    let try_lock = |w: &Waiter| -> Result<bool, i64> {
        let tid = w.pi.map_or(0, |p| p.tid);
        let word = user_word(key2.addr, true)?;
        let mut old = word.load(Ordering::SeqCst);
        loop {
            if old & FUTEX_TID_MASK == tid {
                return Err(-(errno::EDEADLK as i64));
            }
            // Free: no owner and no waiters in the host's PI futex (an owner that died
            // with waiters leaves FUTEX_WAITERS: the host settles that one).
            let free = old & (FUTEX_TID_MASK | FUTEX_WAITERS) == 0;
            let new = if free {
                (old & FUTEX_OWNER_DIED) | tid | if nr_requeue > 0 { FUTEX_WAITERS } else { 0 }
            } else {
                old | FUTEX_WAITERS
            };
            match word.compare_exchange(old, new, Ordering::SeqCst, Ordering::SeqCst) {
                Ok(_) => return Ok(free),
                Err(now) => old = now,
            }
        }
    };
    let (taken, result) = super::futex_queue::requeue_pi(&mut queue, key, key2, nr_requeue, try_lock, |w, how| {
        WOKEN_INDEX[w.vcpu as usize].store(0, Ordering::SeqCst);
        let handoff = if how == Handoff::Locked { HANDOFF_LOCKED } else { HANDOFF_REQUEUED };
        HANDOFF[w.vcpu as usize].store(handoff, Ordering::SeqCst);
        wake_word(w.block).swap(WOKEN, Ordering::SeqCst) == SLEEPING
    });
    drop(queue);
    let count = rouse_asleep(taken);
    result.map_or_else(|e| e, |()| count)
}

/// FUTEX_WAKE_OP: apply `op` to the word at `key2`, wake up to `count` on `key` and, if
/// the old value of `key2` met the op's comparison, up to `count2` on `key2`.
pub fn wake_op(key: Key, key2: Key, count: u32, count2: u32, op: u32) -> i64 {
    let mut queue = QUEUE.lock();
    let word = match user_word(key2.addr, true) {
        Ok(w) => w,
        Err(e) => return e,
    };
    let Some(old) = apply_op(word, op) else {
        return -(errno::ENOSYS as i64);
    };
    let mut woken = take(&mut queue, key, count, u32::MAX);
    if !woken.refused && compare(old, op) {
        woken.add(take(&mut queue, key2, count2, u32::MAX));
    }
    drop(queue);
    rouse_asleep(woken)
}

/// FUTEX_WAKE_OP's operation on the user word at `uaddr`: its old value (ENOSYS for an
/// unknown operation, EFAULT).
pub fn apply_op_at(uaddr: u64, op: u32) -> Result<u32, i64> {
    let word = user_word(uaddr, true)?;
    apply_op(word, op).ok_or(-(errno::ENOSYS as i64))
}

/// FUTEX_WAKE_OP's comparison of the old value.
pub fn op_compare(old: u32, op: u32) -> bool {
    compare(old, op)
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

use abi_shared::linux::general::FUTEX_OWNER_DIED;
use abi_shared::linux::general::FUTEX_TID_MASK;
use abi_shared::linux::general::FUTEX_WAITERS;
/// Linux's ROBUST_LIST_LIMIT: a list longer than this (or a loop) is not followed further.
const ROBUST_LIST_LIMIT: usize = abi_shared::linux::general::ROBUST_LIST_LIMIT as usize;

/// A dying thread's robust futexes (set_robust_list): each word it owns gets
/// FUTEX_OWNER_DIED, and a waiter is woken, as Linux's exit_robust_list does.
pub fn release_robust_list(head: u64, tid: u32) {
    let read = |addr: u64| crate::mm::uaccess::read_u64(addr).ok();
    let (Some(entry), Some(offset), Some(pending)) = (read(head), read(head + 8), read(head + 16)) else {
        return;
    };
    let offset = offset as i64;
    // Bit 0 of an entry marks a priority-inheritance mutex (Linux's fetch_robust_entry):
    // not part of the address.
    let (mut entry, pending) = (entry & !1, pending & !1);
    let mut seen = 0;
    while entry != head && seen < ROBUST_LIST_LIMIT {
        let next = read(entry);
        if entry != pending {
            handle_death(entry.wrapping_add_signed(offset), tid);
        }
        let Some(next) = next else { return };
        entry = next & !1;
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
            wake(Key::shared(uaddr), 1, u32::MAX);
        }
    }
}
