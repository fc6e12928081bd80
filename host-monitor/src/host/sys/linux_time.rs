//! CPU-time clocks and timers, setting the clocks, and the scheduler calls, on a Linux host.
//!
//! A Linux thread of the program is a host thread of this process (its vCPU thread, with the
//! same id), and the program's pid is this process's, so the host kernel's own CPU clocks
//! and scheduler answer for them: a thread's CPU clock counts the time its vCPU ran guest
//! code (the host accounts it to the vCPU thread), the process clock this whole process
//! (the monitor's own threads included). Raw system calls: the numbers and structs are
//! Linux's on both sides, and glibc's wrappers would translate clock ids and timer ids.

use libc::{c_int, c_long};

use super::{check, SysResult};

/// A `struct sigevent` as the kernel reads it (64 bytes): value, signo, notify, tid.
fn sigevent(notify: i32, signo: i32, value: u64, tid: i32) -> [u64; 8] {
    let mut ev = [0u64; 8];
    ev[0] = value;
    ev[1] = (signo as u32 as u64) | ((notify as u32 as u64) << 32);
    ev[2] = tid as u32 as u64;
    ev
}

fn ts_ns(ts: &libc::timespec) -> u64 {
    (ts.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec as u64)
}

/// clock_gettime or clock_getres of a CPU-time clock id: nanoseconds.
pub fn cpu_clock(clock: i32, res: bool) -> SysResult<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    let nr = if res { libc::SYS_clock_getres } else { libc::SYS_clock_gettime };
    // SAFETY: ts is a valid out-pointer for either call.
    check(unsafe { libc::syscall(nr, clock as c_long, &mut ts) })?;
    Ok(ts_ns(&ts))
}

fn itimerspec_of(v: &[i64; 4]) -> [libc::timespec; 2] {
    [libc::timespec { tv_sec: v[0], tv_nsec: v[1] }, libc::timespec { tv_sec: v[2], tv_nsec: v[3] }]
}

fn itimerspec_values(t: &[libc::timespec; 2]) -> [i64; 4] {
    [t[0].tv_sec, t[0].tv_nsec, t[1].tv_sec, t[1].tv_nsec]
}

/// timer_create on `clock`: the host timer's id.
pub fn cpu_timer_create(clock: i32, notify: i32, signo: i32, value: u64, tid: i32) -> SysResult<i32> {
    let ev = sigevent(notify, signo, value, tid);
    let mut id: c_int = 0;
    // SAFETY: ev is a 64-byte sigevent and id a valid out-pointer.
    check(unsafe { libc::syscall(libc::SYS_timer_create, clock as c_long, ev.as_ptr(), &mut id) })?;
    Ok(id)
}

/// timer_settime: the old setting.
pub fn cpu_timer_settime(id: i32, flags: i32, new: &[i64; 4]) -> SysResult<[i64; 4]> {
    let new = itimerspec_of(new);
    let mut old = itimerspec_of(&[0; 4]);
    // SAFETY: new and old are valid itimerspecs (two timespecs) for the call.
    check(unsafe {
        libc::syscall(libc::SYS_timer_settime, id as c_long, flags as c_long, new.as_ptr(), old.as_mut_ptr())
    })?;
    Ok(itimerspec_values(&old))
}

pub fn cpu_timer_gettime(id: i32) -> SysResult<[i64; 4]> {
    let mut cur = itimerspec_of(&[0; 4]);
    // SAFETY: cur is a valid out-pointer.
    check(unsafe { libc::syscall(libc::SYS_timer_gettime, id as c_long, cur.as_mut_ptr()) })?;
    Ok(itimerspec_values(&cur))
}

pub fn cpu_timer_getoverrun(id: i32) -> SysResult<i64> {
    // SAFETY: no pointers.
    check(unsafe { libc::syscall(libc::SYS_timer_getoverrun, id as c_long) })
}

pub fn cpu_timer_delete(id: i32) -> SysResult<i64> {
    // SAFETY: no pointers.
    check(unsafe { libc::syscall(libc::SYS_timer_delete, id as c_long) })
}

/// clock_settime: the host decides (EINVAL for clocks that cannot be set, EPERM without
/// CAP_SYS_TIME).
pub fn clock_settime(clock: i32, sec: i64, nsec: i64) -> SysResult<i64> {
    let ts = libc::timespec { tv_sec: sec, tv_nsec: nsec };
    // SAFETY: ts is a valid timespec.
    check(unsafe { libc::syscall(libc::SYS_clock_settime, clock as c_long, &ts) })
}

pub fn settimeofday(tv: Option<[i64; 2]>, tz: Option<[i32; 2]>) -> SysResult<i64> {
    let tv = tv.map(|[s, us]| libc::timeval { tv_sec: s, tv_usec: us });
    let tvp = tv.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timeval);
    let tzp = tz.as_ref().map_or(std::ptr::null(), |t| t.as_ptr());
    // SAFETY: each pointer is null or a valid struct for the call.
    check(unsafe { libc::syscall(libc::SYS_settimeofday, tvp, tzp) })
}

/// clock_adjtime with a 208-byte `struct timex`, which the host reads and fills.
pub fn clock_adjtime(clock: i32, timex: &mut [u8]) -> SysResult<i64> {
    if timex.len() != std::mem::size_of::<libc::timex>() {
        return Err(libc::EINVAL);
    }
    // SAFETY: timex holds a whole struct timex, readable and writable.
    check(unsafe { libc::syscall(libc::SYS_clock_adjtime, clock as c_long, timex.as_mut_ptr()) })
}

/// Is `tid` one of this process's threads (the monitor's own, when the program did not name
/// one of its threads)?
pub fn is_own_thread(tid: i32) -> bool {
    // SAFETY: signal 0 only checks that the thread exists.
    tid > 0 && unsafe { libc::syscall(libc::SYS_tgkill, libc::getpid() as c_long, tid as c_long, 0) } == 0
}

/// sched_setscheduler (`policy` Some) or sched_setparam.
pub fn sched_set(pid: i32, policy: Option<i32>, priority: i32) -> SysResult<i64> {
    let param: c_int = priority;
    // SAFETY: param is a valid struct sched_param (one int).
    check(unsafe {
        match policy {
            Some(p) => libc::syscall(libc::SYS_sched_setscheduler, pid as c_long, p as c_long, &param),
            None => libc::syscall(libc::SYS_sched_setparam, pid as c_long, &param),
        }
    })
}

pub fn sched_rr_get_interval(pid: i32) -> SysResult<u64> {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer.
    check(unsafe { libc::syscall(libc::SYS_sched_rr_get_interval, pid as c_long, &mut ts) })?;
    Ok(ts_ns(&ts))
}

pub fn sched_setaffinity(pid: i32, mask: &[u8]) -> SysResult<i64> {
    // SAFETY: mask is readable for its length.
    check(unsafe { libc::syscall(libc::SYS_sched_setaffinity, pid as c_long, mask.len(), mask.as_ptr()) })
}

/// sched_getaffinity into `len` bytes: the bytes the kernel wrote.
pub fn sched_getaffinity(pid: i32, len: usize) -> SysResult<Vec<u8>> {
    let mut mask = vec![0u8; len];
    // SAFETY: mask is writable for len bytes.
    let n = check(unsafe { libc::syscall(libc::SYS_sched_getaffinity, pid as c_long, len, mask.as_mut_ptr()) })?;
    mask.truncate(n as usize);
    Ok(mask)
}
