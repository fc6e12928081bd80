//! futex(2) between the threads of a process. The queue and the wake-ups are the task
//! layer's (task/futex.rs); here the arguments are checked as Linux's get_futex_key and
//! futex_wait do, and a waiter sleeps: in the host (so an idle thread costs no core)
//! until a waker, its deadline, the process's timer or a signal ends the wait.

use core::sync::atomic::Ordering;

use abi_shared::layout::user;
use abi_shared::linux::errno;

use super::{err, Ctx, EFAULT, EINVAL, ENOSYS};
use crate::mm::uaccess;
use crate::mm::vma::{VmaKind, PROT_READ, PROT_WRITE};
use crate::mm::SPACE;
use crate::task::futex::{self as task_futex, Handoff, Key, RequeuePi};
use abi_shared::hypercall::{FutexRequest, Request};

const FUTEX_WAIT: i32 = abi_shared::linux::general::FUTEX_WAIT as i32;
const FUTEX_WAKE: i32 = abi_shared::linux::general::FUTEX_WAKE as i32;
const FUTEX_REQUEUE: i32 = abi_shared::linux::general::FUTEX_REQUEUE as i32;
const FUTEX_CMP_REQUEUE: i32 = abi_shared::linux::general::FUTEX_CMP_REQUEUE as i32;
const FUTEX_WAKE_OP: i32 = abi_shared::linux::general::FUTEX_WAKE_OP as i32;
const FUTEX_WAIT_BITSET: i32 = abi_shared::linux::general::FUTEX_WAIT_BITSET as i32;
const FUTEX_WAKE_BITSET: i32 = abi_shared::linux::general::FUTEX_WAKE_BITSET as i32;
const FUTEX_LOCK_PI: i32 = abi_shared::linux::general::FUTEX_LOCK_PI as i32;
const FUTEX_UNLOCK_PI: i32 = abi_shared::linux::general::FUTEX_UNLOCK_PI as i32;
const FUTEX_TRYLOCK_PI: i32 = abi_shared::linux::general::FUTEX_TRYLOCK_PI as i32;
const FUTEX_WAIT_REQUEUE_PI: i32 = abi_shared::linux::general::FUTEX_WAIT_REQUEUE_PI as i32;
const FUTEX_CMP_REQUEUE_PI: i32 = abi_shared::linux::general::FUTEX_CMP_REQUEUE_PI as i32;
const FUTEX_LOCK_PI2: i32 = abi_shared::linux::general::FUTEX_LOCK_PI2 as i32;
const FUTEX_PRIVATE_FLAG: i32 = abi_shared::linux::general::FUTEX_PRIVATE_FLAG as i32;
const FUTEX_CLOCK_REALTIME: i32 = abi_shared::linux::general::FUTEX_CLOCK_REALTIME as i32;
const FUTEX_CMD_MASK: i32 = !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);

/// Whether `uaddr` can name a futex (get_futex_key): a 4-byte aligned word (EINVAL) in
/// user space (EFAULT). A shared (non-private) futex is keyed by its page, which Linux
/// looks up (get_user_pages), so the page must be mapped and readable, and an anonymous
/// page must be writable: "a RO anonymous page will never change and thus doesn't make
/// sense for futex operations" (EFAULT). A private futex is keyed by its address alone.
fn check_key(uaddr: u64, private: bool) -> Result<(), i64> {
    if !uaddr.is_multiple_of(4) {
        return Err(EINVAL);
    }
    if uaddr > user::TASK_SIZE - 4 {
        return Err(EFAULT);
    }
    if private {
        return Ok(());
    }
    let space = SPACE.lock();
    let vma = space.vmas.find(uaddr).ok_or(EFAULT)?;
    let anonymous = vma.kind != VmaKind::File;
    if vma.prot & (PROT_READ | PROT_WRITE) == 0 || (anonymous && vma.prot & PROT_WRITE == 0) {
        return Err(EFAULT);
    }
    Ok(())
}

/// The wait's deadline on the monotonic clock (None: no timeout). FUTEX_WAIT's timeout
/// is relative, FUTEX_WAIT_BITSET's absolute (on CLOCK_REALTIME with the flag).
fn deadline(op: i32, flags: i32, timeout: u64) -> Result<Option<u64>, i64> {
    if timeout == 0 {
        return Ok(None);
    }
    let ts: abi_shared::linux::Timespec = uaccess::read_struct(timeout)?;
    let ns = crate::time::timespec_ns(&ts).ok_or(EINVAL)?;
    let rel = if op == FUTEX_WAIT {
        ns
    } else if flags & FUTEX_CLOCK_REALTIME != 0 {
        ns.saturating_sub(crate::time::realtime_ns())
    } else {
        ns.saturating_sub(crate::time::monotonic_ns())
    };
    Ok(Some(crate::time::monotonic_ns().saturating_add(rel)))
}

/// futex(2)'s number, for a restart after a signal.
const FUTEX_NR: u64 = 202;

/// How long a waiter keeps looking at its wake word before it sleeps in the host (an
/// exit each way): a wake that comes within it costs neither side a hypercall.
const SPIN_NS: u64 = 5_000;

fn wait(uaddr: u64, op: i32, flags: i32, val: u32, timeout: u64, bitset: u32) -> Result<i64, i64> {
    // Linux reads the timeout before it looks at the futex.
    let deadline = deadline(op, flags, timeout)?;
    let private = flags & FUTEX_PRIVATE_FLAG != 0;
    check_key(uaddr, private)?;
    if bitset == 0 {
        return Err(EINVAL);
    }
    if let Some(gpa) = in_shared_file(uaddr, private) {
        return wait_in_host(gpa, val, deadline);
    }
    wait_on(&[(Key::new(uaddr, private), val)], bitset, deadline, None)
}

/// Where a shared futex lives when its word is in a MAP_SHARED file mapping (a file, a
/// shared anonymous mapping, POSIX shm): the page is the host's mapping of the file, so
/// the host's futex, keyed by the file's page, is where waiters and wakers of every
/// process meet, linuxrun's and native ones alike. The word's guest-physical address, for
/// a futex named without FUTEX_PRIVATE_FLAG in such a mapping.
fn in_shared_file(uaddr: u64, private: bool) -> Option<u64> {
    if private {
        return None;
    }
    let space = SPACE.lock();
    let vma = space.vmas.find(uaddr)?;
    let window = vma.file.as_ref()?.window?;
    Some(window + (uaddr - vma.start))
}

/// A wait on a shared futex in the host (see `in_shared_file`), until a wake there, the
/// deadline, or a signal for this thread (the monitor's kick ends the host sleep). Bitsets
/// are not told apart there: a waiter woken by a wake meant for another bit returns 0, a
/// spurious wake-up, which futex callers check for anyway.
fn wait_in_host(gpa: u64, val: u32, deadline: Option<u64>) -> Result<i64, i64> {
    loop {
        crate::task::fork_gate::checkpoint();
        let now = crate::time::monotonic_ns();
        if crate::signal::has_deliverable() {
            if deadline.is_none() {
                crate::signal::note_interrupted(FUTEX_NR);
            }
            return Err(err(errno::EINTR));
        }
        if deadline.is_some_and(|d| now >= d) {
            return Err(err(errno::ETIMEDOUT));
        }
        let until = match (deadline, crate::signal::timer::deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let timeout_ns = until.map_or(u64::MAX, |u| u.saturating_sub(now));
        let r = crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexSleep {
            gpa,
            expected: val,
            timeout_ns,
            shared: true,
        }));
        match r {
            0 => return Ok(0),
            r if r == err(errno::EAGAIN) || r == EFAULT => return Err(r),
            // A timeout (ours, or the process timer's) or a host signal: look again.
            _ => {}
        }
    }
}

/// Wake up to `count` waiters of the futex at `uaddr`: those in this process's queue and,
/// for a shared futex in a shared file mapping, those sleeping in the host (of every
/// process).
fn wake(uaddr: u64, private: bool, count: u32, bitset: u32) -> i64 {
    let local = task_futex::wake(Key::new(uaddr, private), count, bitset);
    if local < 0 {
        return local;
    }
    let left = count.saturating_sub(local as u32);
    match in_shared_file(uaddr, private) {
        Some(gpa) if left > 0 => {
            let woken =
                crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexWake { gpa, count: left, shared: true }));
            local + woken.max(0)
        }
        _ => local,
    }
}

/// Wait until one of `words` is woken (its index), the deadline passes or a signal comes.
/// `pi`: a FUTEX_WAIT_REQUEUE_PI wait, which a signal always restarts.
fn wait_on(words: &[(Key, u32)], bitset: u32, deadline: Option<u64>, pi: Option<RequeuePi>) -> Result<i64, i64> {
    let block = crate::percpu::block_gpa();
    let id = task_futex::enqueue(words, bitset, block, pi)?;
    let word = task_futex::wake_word(block);
    let spin_until = crate::time::monotonic_ns().saturating_add(SPIN_NS);
    loop {
        if word.load(Ordering::Acquire) == task_futex::WOKEN {
            return Ok(i64::from(task_futex::woken_index()));
        }
        let now = crate::time::monotonic_ns();
        let timed_out = deadline.is_some_and(|d| now >= d);
        // A requeue-PI wait that timed out says so even with a signal to take (Linux's
        // handle_early_requeue_pi_wakeup).
        let interrupted = crate::signal::has_deliverable() && !(timed_out && pi.is_some());
        if interrupted || timed_out {
            if !task_futex::dequeue(id) {
                // A waker took us off the queue first: the wake counts.
                return Ok(i64::from(task_futex::woken_index()));
            }
            if interrupted && pi.is_some() {
                // Linux's ERESTARTNOINTR for a requeue-PI wait not requeued yet (its
                // timeout is absolute, so the wait runs again unchanged).
                crate::signal::note_interrupted_always(FUTEX_NR);
            } else if interrupted && deadline.is_none() {
                // Linux's ERESTARTSYS: a wait without a timeout runs again after a handler
                // with SA_RESTART, or when no handler runs.
                crate::signal::note_interrupted(FUTEX_NR);
            }
            return Err(err(if interrupted { errno::EINTR } else { errno::ETIMEDOUT }));
        }
        if now < spin_until {
            core::hint::spin_loop();
            continue;
        }
        sleep_in_host(block, now, deadline);
    }
}

/// Sleep in the host on this vCPU's wake word until a waker, the wait's deadline, the
/// process's next timer, a signal for this thread or a host signal.
fn sleep_in_host(block: u64, now: u64, deadline: Option<u64>) {
    let until = match (deadline, crate::signal::timer::deadline()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let timeout_ns = until.map_or(u64::MAX, |u| u.saturating_sub(now));
    task_futex::sleep_on_wake_word(block, timeout_ns);
}

pub fn futex(c: &mut Ctx<'_>) -> i64 {
    let (uaddr, flags, val, timeout, uaddr2, val3) =
        (c.arg(0), c.int(1), c.arg(2) as u32, c.arg(3), c.arg(4), c.arg(5) as u32);
    let op = flags & FUTEX_CMD_MASK;
    let private = flags & FUTEX_PRIVATE_FLAG != 0;
    let key = |addr: u64| Key::new(addr, private);
    if flags & FUTEX_CLOCK_REALTIME != 0 && !matches!(op, FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2) {
        return ENOSYS;
    }
    let result = match op {
        FUTEX_WAKE => check_key(uaddr, private).map(|()| wake(uaddr, private, val, u32::MAX)),
        FUTEX_WAKE_BITSET if val3 == 0 => Err(EINVAL),
        FUTEX_WAKE_BITSET => check_key(uaddr, private).map(|()| wake(uaddr, private, val, val3)),
        FUTEX_WAIT => wait(uaddr, op, flags, val, timeout, u32::MAX),
        FUTEX_WAIT_BITSET => wait(uaddr, op, flags, val, timeout, val3),
        // The 4th argument of the requeue operations is a count, not a timeout.
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            requeue(uaddr, uaddr2, private, val, timeout, (op == FUTEX_CMP_REQUEUE).then_some(val3))
        }
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_UNLOCK_PI | FUTEX_TRYLOCK_PI => pi(uaddr, flags, op, timeout),
        FUTEX_WAIT_REQUEUE_PI => wait_requeue_pi(uaddr, flags, val, timeout, uaddr2),
        // The 4th argument is the requeue count here too.
        FUTEX_CMP_REQUEUE_PI => cmp_requeue_pi(uaddr, uaddr2, private, val, timeout, val3),
        FUTEX_WAKE_OP => check_key(uaddr, private).and_then(|()| check_key(uaddr2, private)).map(|()| {
            if in_shared_file(uaddr, private).is_some() || in_shared_file(uaddr2, private).is_some() {
                wake_op_shared(uaddr, uaddr2, val, timeout as u32, val3)
            } else {
                task_futex::wake_op(key(uaddr), key(uaddr2), val, timeout as u32, val3)
            }
        }),
        _ => Err(ENOSYS),
    };
    result.unwrap_or_else(|e| e)
}

fn requeue(uaddr: u64, uaddr2: u64, private: bool, wake: u32, requeue: u64, expected: Option<u32>) -> Result<i64, i64> {
    // Linux: negative counts are EINVAL.
    if (wake as i32) < 0 || (requeue as i32) < 0 {
        return Err(EINVAL);
    }
    check_key(uaddr, private)?;
    check_key(uaddr2, private)?;
    if uaddr == uaddr2 {
        return Err(EINVAL);
    }
    if in_shared_file(uaddr, private).is_some() {
        return requeue_shared(uaddr, wake, requeue as u32, expected);
    }
    let r = task_futex::requeue(Key::new(uaddr, private), Key::new(uaddr2, private), wake, requeue as u32, expected);
    if r < 0 {
        Err(r)
    } else {
        Ok(r)
    }
}

/// The priority-inheritance operations: the host's own, on the word's page (guest RAM or a
/// shared file's page), made by the calling vCPU's host thread, whose id is this thread's
/// (the word holds owner tids, which the host kernel checks and writes). There are no
/// priorities to inherit here; what counts is the protocol: ownership handed to a waiter,
/// FUTEX_OWNER_DIED, EDEADLK, timeouts.
fn pi(uaddr: u64, flags: i32, op: i32, timeout: u64) -> Result<i64, i64> {
    let private = flags & FUTEX_PRIVATE_FLAG != 0;
    check_key(uaddr, private)?;
    let deadline = if matches!(op, FUTEX_LOCK_PI | FUTEX_LOCK_PI2) { absolute_timeout(timeout)? } else { None };
    pi_at(uaddr, flags, op, deadline, true)
}

/// A futex timeout given as an absolute time (ns on the op's clock; None: no timeout).
fn absolute_timeout(timeout: u64) -> Result<Option<u64>, i64> {
    if timeout == 0 {
        return Ok(None);
    }
    let ts: abi_shared::linux::Timespec = uaccess::read_struct(timeout)?;
    Ok(Some(crate::time::timespec_ns(&ts).ok_or(EINVAL)?))
}

/// A PI operation on the host's futex at `uaddr` (checked), with `deadline` absolute on the
/// op's clock. `restart`: a signal during a lock wait restarts it after the handler
/// (FUTEX_LOCK_PI); otherwise the wait ends with EAGAIN (a requeued FUTEX_WAIT_REQUEUE_PI).
fn pi_at(uaddr: u64, flags: i32, op: i32, deadline: Option<u64>, restart: bool) -> Result<i64, i64> {
    let private = flags & FUTEX_PRIVATE_FLAG != 0;
    let gpa = match in_shared_file(uaddr, private) {
        Some(gpa) => gpa,
        None => task_futex::user_word_gpa(uaddr, true)?,
    };
    let pi_call = |timeout: Option<u64>| {
        let timeout = timeout.map(|ns| {
            let ts = crate::time::to_timespec(ns);
            [ts.tv_sec, ts.tv_nsec]
        });
        crate::hypercall::call_ret(&Request::Futex(FutexRequest::FutexPi { gpa, op: flags, timeout }))
    };
    let r = if matches!(op, FUTEX_LOCK_PI | FUTEX_LOCK_PI2) {
        lock_pi_in_slices(flags, op, deadline, restart, pi_call)
    } else {
        pi_call(None)
    };
    if r < 0 {
        Err(r)
    } else {
        Ok(r)
    }
}

/// How long one host wait for a PI lock lasts at most, in ns: the host restarts a PI lock
/// wait after any signal by itself, so only its end brings the thread back into the guest
/// for a signal's handler or a fork's gate.
const PI_SLICE_NS: u64 = 20_000_000;

/// A PI lock wait as host waits of at most `PI_SLICE_NS` each (`pi_call` with an absolute
/// timeout on the op's clock), until the lock is taken, the caller's own deadline passes, or
/// something fails. Between two slices the thread stops at a fork's gate, and a signal to be
/// handled ends the wait with EINTR, which with `restart` is always restarted after the
/// handler (Linux's ERESTARTNOINTR for FUTEX_LOCK_PI: glibc takes any other answer than
/// ESRCH and EDEADLK for the lock taken, so EINTR must never reach the program). Without
/// `restart` (a requeued FUTEX_WAIT_REQUEUE_PI, which Linux cannot restart: its word has
/// changed) the wait ends with EAGAIN, the lock not taken, as Linux's does.
fn lock_pi_in_slices(
    flags: i32,
    op: i32,
    deadline: Option<u64>,
    restart: bool,
    pi_call: impl Fn(Option<u64>) -> i64,
) -> i64 {
    // FUTEX_LOCK_PI's timeout is on CLOCK_REALTIME; LOCK_PI2's on CLOCK_MONOTONIC unless
    // FUTEX_CLOCK_REALTIME says otherwise.
    let realtime = op == FUTEX_LOCK_PI || flags & FUTEX_CLOCK_REALTIME != 0;
    let now = || if realtime { crate::time::realtime_ns() } else { crate::time::monotonic_ns() };
    loop {
        let slice_end = now().saturating_add(PI_SLICE_NS);
        let (until, last) = match deadline {
            Some(d) if d <= slice_end => (d, true),
            _ => (slice_end, false),
        };
        let r = pi_call(Some(until));
        // EINTR: the monitor ended the host wait for a kick (a fork's gate, a signal).
        let slice_ended = r == err(errno::EINTR) || (r == err(errno::ETIMEDOUT) && !last);
        if !slice_ended {
            return r;
        }
        crate::task::fork_gate::checkpoint();
        if crate::signal::has_deliverable() {
            if !restart {
                return err(errno::EAGAIN);
            }
            crate::signal::note_interrupted_always(FUTEX_NR);
            return err(errno::EINTR);
        }
    }
}

/// FUTEX_WAIT_REQUEUE_PI: wait on `uaddr` (if it holds `val`) until FUTEX_CMP_REQUEUE_PI
/// hands the PI futex at `uaddr2` over, and return owning it. `timeout` is absolute, on
/// CLOCK_MONOTONIC or with FUTEX_CLOCK_REALTIME on CLOCK_REALTIME, and bounds both halves.
///
/// The wait is in this process's futex queue, as a plain wait's (so a plain FUTEX_WAKE or
/// REQUEUE of the word meets it and fails with EINVAL, as on Linux, and a signal, the
/// timeout and a fork's gate end it as any futex wait of the guest); the lock is the host's
/// PI futex, as every PI lock here. The requeue either takes the lock for the waiter, which
/// then returns at once, or, the lock being held, wakes it to wait for the lock itself
/// (FUTEX_LOCK_PI2 in the host, in slices). Linux's answers: a signal before the requeue
/// restarts the wait after its handler (ERESTARTNOINTR), one after it ends the wait with
/// EAGAIN and the lock not taken; a timeout after the requeue is ETIMEDOUT, not owning it.
fn wait_requeue_pi(uaddr: u64, flags: i32, val: u32, timeout: u64, uaddr2: u64) -> Result<i64, i64> {
    let private = flags & FUTEX_PRIVATE_FLAG != 0;
    // Linux reads the timeout first, then looks at the addresses: uaddr2's key, then
    // uaddr's (with the value).
    let at = absolute_timeout(timeout)?;
    if uaddr == uaddr2 {
        return Err(EINVAL);
    }
    check_key(uaddr2, private)?;
    check_key(uaddr, private)?;
    let realtime = flags & FUTEX_CLOCK_REALTIME != 0;
    let deadline = at.map(|at| {
        let now = if realtime { crate::time::realtime_ns() } else { crate::time::monotonic_ns() };
        crate::time::monotonic_ns().saturating_add(at.saturating_sub(now))
    });
    let pi = RequeuePi { to: Key::new(uaddr2, private), tid: crate::task::tid() as u32 };
    wait_on(&[(Key::new(uaddr, private), val)], u32::MAX, deadline, Some(pi))?;
    match task_futex::handoff() {
        Handoff::Locked => Ok(0),
        Handoff::Requeued => {
            let lock = FUTEX_LOCK_PI2 | (flags & (FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME));
            pi_at(uaddr2, lock, FUTEX_LOCK_PI2, at, false)
        }
    }
}

/// FUTEX_CMP_REQUEUE_PI: if the word at `uaddr` holds `cmpval`, hand the PI futex at
/// `uaddr2` to the first FUTEX_WAIT_REQUEUE_PI waiter if it is free and requeue up to
/// `nr_requeue` more to it (see `task::futex::requeue_pi`); `nr_wake` must be 1.
fn cmp_requeue_pi(
    uaddr: u64,
    uaddr2: u64,
    private: bool,
    nr_wake: u32,
    nr_requeue: u64,
    cmpval: u32,
) -> Result<i64, i64> {
    // Linux's order: the counts, the addresses, each key, then the value.
    if (nr_wake as i32) < 0 || (nr_requeue as i32) < 0 || uaddr == uaddr2 || nr_wake != 1 {
        return Err(EINVAL);
    }
    check_key(uaddr, private)?;
    check_key(uaddr2, private)?;
    let r = task_futex::requeue_pi(Key::new(uaddr, private), Key::new(uaddr2, private), nr_requeue as u32, cmpval);
    if r < 0 {
        Err(r)
    } else {
        Ok(r)
    }
}

/// (CMP_)REQUEUE of a shared futex in a shared file mapping: its waiters sleep in the host,
/// where they cannot be moved; they are woken instead (all that would have been moved: a
/// waiter moved to the second word would have been woken from there later, and a futex
/// waiter looks at its word again after any wake-up). Returns how many woke.
fn requeue_shared(uaddr: u64, wake_count: u32, requeue_count: u32, expected: Option<u32>) -> Result<i64, i64> {
    if let Some(val) = expected {
        if task_futex::user_word(uaddr, false)?.load(Ordering::SeqCst) != val {
            return Err(err(errno::EAGAIN));
        }
    }
    Ok(wake(uaddr, false, wake_count.saturating_add(requeue_count), u32::MAX))
}

/// WAKE_OP where a word is in a shared file mapping: the operation on the second word,
/// then the wakes, each where its futex's waiters sleep.
fn wake_op_shared(uaddr: u64, uaddr2: u64, count: u32, count2: u32, op: u32) -> i64 {
    let old = match task_futex::apply_op_at(uaddr2, op) {
        Ok(old) => old,
        Err(e) => return e,
    };
    let mut woken = wake(uaddr, false, count, u32::MAX);
    if task_futex::op_compare(old, op) {
        woken += wake(uaddr2, false, count2, u32::MAX);
    }
    woken
}

/// futex_waitv's limits and flags (linux/futex.h).
const FUTEX_WAITV_MAX: u64 = abi_shared::linux::general::FUTEX_WAITV_MAX as u64;
use abi_shared::linux::general::FUTEX2_SIZE_MASK;
use abi_shared::linux::general::FUTEX2_SIZE_U32;
const FUTEX2_PRIVATE: u32 = FUTEX_PRIVATE_FLAG as u32;
const CLOCK_REALTIME: i32 = abi_shared::linux::general::CLOCK_REALTIME as i32;
const CLOCK_MONOTONIC: i32 = abi_shared::linux::general::CLOCK_MONOTONIC as i32;

/// struct futex_waitv.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
struct WaitV {
    val: u64,
    uaddr: u64,
    flags: u32,
    reserved: u32,
}

/// futex_waitv(waiters, nr_futexes, flags, timeout, clockid): wait on several 32-bit
/// futexes at once; the index of the one woken. The timeout is absolute on `clockid`.
pub fn futex_waitv(c: &mut Ctx<'_>) -> i64 {
    let (uwaiters, count, flags, utimeout, clock) = (c.arg(0), c.arg(1), c.arg(2), c.arg(3), c.int(4));
    if flags != 0 || uwaiters == 0 || count == 0 || count > FUTEX_WAITV_MAX {
        return EINVAL;
    }
    let deadline = if utimeout == 0 {
        None
    } else {
        let now = match clock {
            CLOCK_MONOTONIC => crate::time::monotonic_ns(),
            CLOCK_REALTIME => crate::time::realtime_ns(),
            _ => return EINVAL,
        };
        let ts: abi_shared::linux::Timespec = match uaccess::read_struct(utimeout) {
            Ok(t) => t,
            Err(e) => return e,
        };
        let Some(at) = crate::time::timespec_ns(&ts) else { return EINVAL };
        Some(crate::time::monotonic_ns().saturating_add(at.saturating_sub(now)))
    };
    let mut words = alloc::vec::Vec::with_capacity(count as usize);
    for i in 0..count {
        let w: WaitV = match uaccess::read_struct(uwaiters + i * core::mem::size_of::<WaitV>() as u64) {
            Ok(w) => w,
            Err(e) => return e,
        };
        if w.reserved != 0
            || w.flags & !(FUTEX2_SIZE_MASK | FUTEX2_PRIVATE) != 0
            || w.flags & FUTEX2_SIZE_MASK != FUTEX2_SIZE_U32
        {
            return EINVAL;
        }
        let private = w.flags & FUTEX2_PRIVATE != 0;
        if let Err(e) = check_key(w.uaddr, private) {
            return e;
        }
        // A value that does not fit the 32-bit word can never match it.
        let Ok(val) = u32::try_from(w.val) else { return err(errno::EAGAIN) };
        words.push((Key::new(w.uaddr, private), val));
    }
    wait_on(&words, u32::MAX, deadline, None).unwrap_or_else(|e| e)
}
