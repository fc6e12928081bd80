//! futex(2) between the threads of a process. The queue and the wake-ups are the task
//! layer's (task/futex.rs); here the arguments are checked as Linux's get_futex_key and
//! futex_wait do, and a waiter sleeps: in the host (so an idle thread costs no core)
//! until a waker, its deadline, the process's timer or a signal ends the wait.

use core::sync::atomic::{AtomicU32, Ordering};

use abi_shared::hypercall::Request;
use abi_shared::layout::{user, vcpu_block};
use abi_shared::linux::errno;

use super::{err, Ctx, EFAULT, EINVAL, ENOSYS};
use crate::mm::uaccess;
use crate::mm::vma::{VmaKind, PROT_READ, PROT_WRITE};
use crate::mm::SPACE;
use crate::task::futex as task_futex;

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_REQUEUE: i32 = 3;
const FUTEX_CMP_REQUEUE: i32 = 4;
const FUTEX_WAKE_OP: i32 = 5;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_WAIT_REQUEUE_PI: i32 = 11;
const FUTEX_LOCK_PI2: i32 = 13;
const FUTEX_PRIVATE_FLAG: i32 = 128;
const FUTEX_CLOCK_REALTIME: i32 = 256;
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

/// How long a waiter keeps looking at its wake word before it sleeps in the host (an
/// exit each way): a wake that comes within it costs neither side a hypercall.
const SPIN_NS: u64 = 5_000;

fn wait(uaddr: u64, op: i32, flags: i32, val: u32, timeout: u64, bitset: u32) -> Result<i64, i64> {
    // Linux reads the timeout before it looks at the futex.
    let deadline = deadline(op, flags, timeout)?;
    check_key(uaddr, flags & FUTEX_PRIVATE_FLAG != 0)?;
    if bitset == 0 {
        return Err(EINVAL);
    }
    let block = crate::percpu::block_gpa();
    let id = task_futex::enqueue(uaddr, val, bitset, block)?;
    let word = task_futex::wake_word(block);
    let spin_until = crate::time::monotonic_ns().saturating_add(SPIN_NS);
    loop {
        if word.load(Ordering::Acquire) == task_futex::WOKEN {
            return Ok(0);
        }
        let now = crate::time::monotonic_ns();
        let interrupted = crate::signal::has_deliverable();
        let timed_out = deadline.is_some_and(|d| now >= d);
        if interrupted || timed_out {
            if !task_futex::dequeue(id) {
                // A waker took us off the queue first: the wake counts.
                return Ok(0);
            }
            return Err(err(if interrupted { errno::EINTR } else { errno::ETIMEDOUT }));
        }
        if now < spin_until {
            core::hint::spin_loop();
            continue;
        }
        sleep_in_host(word, block, now, deadline);
    }
}

/// Sleep in the host on this vCPU's wake word until a waker, the wait's deadline, the
/// process's next timer or a host signal.
fn sleep_in_host(word: &AtomicU32, block: u64, now: u64, deadline: Option<u64>) {
    if word.compare_exchange(task_futex::IDLE, task_futex::SLEEPING, Ordering::SeqCst, Ordering::SeqCst).is_err() {
        return; // woken meanwhile
    }
    let until = match (deadline, crate::signal::timer::deadline()) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    };
    let timeout_ns = until.map_or(u64::MAX, |u| u.saturating_sub(now));
    crate::hypercall::call_ret(&Request::FutexSleep {
        gpa: block + vcpu_block::FUTEX_WAKE_WORD,
        expected: task_futex::SLEEPING,
        timeout_ns,
    });
    let _ = word.compare_exchange(task_futex::SLEEPING, task_futex::IDLE, Ordering::SeqCst, Ordering::SeqCst);
}

pub fn futex(c: &mut Ctx<'_>) -> i64 {
    let (uaddr, flags, val, timeout, uaddr2, val3) =
        (c.arg(0), c.int(1), c.arg(2) as u32, c.arg(3), c.arg(4), c.arg(5) as u32);
    let op = flags & FUTEX_CMD_MASK;
    let private = flags & FUTEX_PRIVATE_FLAG != 0;
    if flags & FUTEX_CLOCK_REALTIME != 0
        && !matches!(op, FUTEX_WAIT | FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2)
    {
        return ENOSYS;
    }
    let result = match op {
        FUTEX_WAKE => check_key(uaddr, private).map(|()| task_futex::wake(uaddr, val, u32::MAX)),
        FUTEX_WAKE_BITSET if val3 == 0 => Err(EINVAL),
        FUTEX_WAKE_BITSET => check_key(uaddr, private).map(|()| task_futex::wake(uaddr, val, val3)),
        FUTEX_WAIT => wait(uaddr, op, flags, val, timeout, u32::MAX),
        FUTEX_WAIT_BITSET => wait(uaddr, op, flags, val, timeout, val3),
        // The 4th argument of the requeue operations is a count, not a timeout.
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            requeue(uaddr, uaddr2, private, val, timeout, (op == FUTEX_CMP_REQUEUE).then_some(val3))
        }
        FUTEX_WAKE_OP => check_key(uaddr, private)
            .and_then(|()| check_key(uaddr2, private))
            .map(|()| task_futex::wake_op(uaddr, uaddr2, val, timeout as u32, val3)),
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
    let r = task_futex::requeue(uaddr, uaddr2, wake, requeue as u32, expected);
    if r < 0 {
        Err(r)
    } else {
        Ok(r)
    }
}
