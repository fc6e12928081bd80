//! futex for a process of one thread: nobody else can change a futex word or wake a
//! waiter, so FUTEX_WAKE finds no one (0) and FUTEX_WAIT on a word that still holds the
//! expected value sleeps until its timeout, or for good without one, as it would on Linux
//! with no other thread. glibc calls these even in single-threaded programs (pthread_once's
//! wake after the initialiser ran, which backtrace() and iconv use), and aborts on ENOSYS.
//! The x86_64 kernel's task/futex.rs serves them once threads come to arm64.

use super::{Ctx, EFAULT, EINVAL, ENOSYS};
use crate::bringup::{clock, uspace};

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;
const EAGAIN: i64 = -(abi_shared::linux::errno::EAGAIN as i64);
const ETIMEDOUT: i64 = -(abi_shared::linux::errno::ETIMEDOUT as i64);

pub fn futex(c: &mut Ctx<'_>) -> i64 {
    let [uaddr, op, val, timeout, _uaddr2, val3] = c.args;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let bitset = matches!(cmd, FUTEX_WAIT_BITSET | FUTEX_WAKE_BITSET);
    if !matches!(cmd, FUTEX_WAIT | FUTEX_WAKE | FUTEX_WAIT_BITSET | FUTEX_WAKE_BITSET) {
        return ENOSYS;
    }
    if op & FUTEX_CLOCK_REALTIME != 0 && cmd != FUTEX_WAIT_BITSET {
        return ENOSYS;
    }
    if bitset && val3 as u32 == 0 {
        return EINVAL;
    }
    if uaddr % 4 != 0 {
        return EINVAL;
    }
    if cmd == FUTEX_WAKE || cmd == FUTEX_WAKE_BITSET {
        return 0;
    }
    let mut word = [0u8; 4];
    if !uspace::with(|s| s.copy_in(uaddr, &mut word)) {
        return EFAULT;
    }
    if u32::from_le_bytes(word) != val as u32 {
        return EAGAIN;
    }
    if timeout == 0 {
        crate::arch::halt()
    }
    let mut ts = [0u8; 16];
    if !uspace::with(|s| s.copy_in(timeout, &mut ts)) {
        return EFAULT;
    }
    let sec = i64::from_le_bytes(ts[..8].try_into().unwrap_or([0; 8]));
    let nsec = i64::from_le_bytes(ts[8..].try_into().unwrap_or([0; 8]));
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return EINVAL;
    }
    let ns = (sec as u64).saturating_mul(1_000_000_000).saturating_add(nsec as u64);
    // FUTEX_WAIT's timeout is relative (CLOCK_MONOTONIC); FUTEX_WAIT_BITSET's absolute, on
    // CLOCK_REALTIME with the flag, CLOCK_MONOTONIC without.
    let now = || if op & FUTEX_CLOCK_REALTIME != 0 { clock::realtime_ns() } else { clock::monotonic_ns() };
    let until = if cmd == FUTEX_WAIT { now().saturating_add(ns) } else { ns };
    while now() < until {
        core::hint::spin_loop();
    }
    ETIMEDOUT
}
