//! Hosts other than Linux: no kernel encoding of other threads' and processes' CPU clocks
//! (a thread's clock reads as the process's),
//! no POSIX timers on them, and no Linux scheduler calls. The program's CPU-time clocks
//! other than the process's and thread's own, its timers on CPU-time clocks, clock setting
//! and the sched_set* calls answer ENOSYS (setitimer's CPU-time timers are the host's own,
//! in process.rs).

use super::SysResult;
use crate::host::LinuxErrno;
use abi_shared::linux::errno;

const ENOSYS: LinuxErrno = errno::ENOSYS as LinuxErrno;

/// A CPU-time clock in Linux's encoding: this process's (pid 0) and any thread's of ours
/// read as the host process's own CPU clock (a thread's own time cannot be named by its id
/// here); another process's is ENOSYS.
pub fn cpu_clock(clock: i32, res: bool) -> SysResult<u64> {
    let (pid, thread) = (!(clock >> 3), clock & 4 != 0);
    if pid != 0 && !thread {
        return Err(ENOSYS);
    }
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer for either call.
    let r = unsafe {
        if res {
            libc::clock_getres(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts)
        } else {
            libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts)
        }
    };
    super::check(r)?;
    Ok((ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64))
}

pub fn cpu_timer_create(_clock: i32, _notify: i32, _signo: i32, _value: u64, _tid: i32) -> SysResult<i32> {
    Err(ENOSYS)
}

pub fn cpu_timer_settime(_id: i32, _flags: i32, _new: &[i64; 4]) -> SysResult<[i64; 4]> {
    Err(ENOSYS)
}

pub fn cpu_timer_gettime(_id: i32) -> SysResult<[i64; 4]> {
    Err(ENOSYS)
}

pub fn cpu_timer_getoverrun(_id: i32) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn cpu_timer_delete(_id: i32) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn clock_settime(_clock: i32, _sec: i64, _nsec: i64) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn settimeofday(_tv: Option<[i64; 2]>, _tz: Option<[i32; 2]>) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn clock_adjtime(_clock: i32, _timex: &mut [u8]) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn is_own_thread(_tid: i32) -> bool {
    false
}

pub fn sched_set(_pid: i32, _policy: Option<i32>, _priority: i32) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn sched_rr_get_interval(_pid: i32) -> SysResult<u64> {
    Err(ENOSYS)
}

pub fn sched_setaffinity(_pid: i32, _mask: &[u8]) -> SysResult<i64> {
    Err(ENOSYS)
}

pub fn sched_getaffinity(_pid: i32, _len: usize) -> SysResult<Vec<u8>> {
    Err(ENOSYS)
}
