//! futex(2). One thread per process so far: nobody else can wake a waiter, so a wait
//! either fails at once (a bad address, the value changed), times out, or ends at a
//! signal; a wake has nobody to wake. The address checks are Linux's get_futex_key.

use abi_shared::layout::user;
use abi_shared::linux::errno;

use super::{err, Ctx, EFAULT, EINVAL, ENOSYS};
use crate::mm::uaccess;
use crate::mm::vma::{VmaKind, PROT_READ, PROT_WRITE};
use crate::mm::SPACE;
use crate::signal::wait::sleep_interruptible;

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
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

fn wait(uaddr: u64, op: i32, flags: i32, val: u32, timeout: u64) -> Result<i64, i64> {
    // Linux reads the timeout before it looks at the futex.
    let deadline = deadline(op, flags, timeout)?;
    check_key(uaddr, flags & FUTEX_PRIVATE_FLAG != 0)?;
    let mut word = [0u8; 4];
    uaccess::copy_from_user(uaddr, &mut word)?;
    if u32::from_le_bytes(word) != val {
        return Err(err(errno::EAGAIN));
    }
    match deadline {
        None => {
            // Only a signal can end this wait: EINTR once one is deliverable.
            while !sleep_interruptible(u64::MAX) {}
            Err(err(errno::EINTR))
        }
        Some(d) if sleep_interruptible(d) => Err(err(errno::EINTR)),
        Some(_) => Err(err(errno::ETIMEDOUT)),
    }
}

pub fn futex(c: &mut Ctx<'_>) -> i64 {
    let (uaddr, flags, val, timeout) = (c.arg(0), c.int(1), c.arg(2) as u32, c.arg(3));
    let op = flags & FUTEX_CMD_MASK;
    let result = match op {
        // Nobody else can be waiting: nothing to wake once the address is a valid key.
        FUTEX_WAKE | FUTEX_WAKE_BITSET => check_key(uaddr, flags & FUTEX_PRIVATE_FLAG != 0).map(|()| 0),
        FUTEX_WAIT | FUTEX_WAIT_BITSET => wait(uaddr, op, flags, val, timeout),
        _ => Err(ENOSYS),
    };
    result.unwrap_or_else(|e| e)
}
