//! Processes: ids, signals, waits, priorities, resource use, sleeps and clocks.

use super::*;

pub fn getpid() -> libc::pid_t {
    rustix::process::getpid().as_raw_nonzero().get()
}

/// The caller's process group. Not rustix's getpgrp: inside a pid namespace
/// whose group leader lives outside it the answer is 0, which rustix's
/// non-zero `Pid` cannot hold (it asserts).
pub fn getpgrp() -> libc::pid_t {
    // SAFETY: getpgrp takes no arguments and cannot fail.
    unsafe { libc::getpgrp() }
}

/// getpgid(2) with the pid as the program gave it (0: the caller).
pub fn getpgid(pid: libc::pid_t) -> SysResult<libc::pid_t> {
    // SAFETY: getpgid takes no pointers.
    Ok(check(unsafe { libc::getpgid(pid) })? as libc::pid_t)
}

pub fn getsid(pid: libc::pid_t) -> SysResult<libc::pid_t> {
    // SAFETY: getsid takes no pointers.
    Ok(check(unsafe { libc::getsid(pid) })? as libc::pid_t)
}

pub fn setpgid(pid: libc::pid_t, pgid: libc::pid_t) -> SysResult<()> {
    // SAFETY: setpgid takes no pointers.
    check(unsafe { libc::setpgid(pid, pgid) }).map(drop)
}

pub fn setsid() -> SysResult<libc::pid_t> {
    Ok(rx(rustix::process::setsid())?.as_raw_nonzero().get())
}

/// kill(2) with the pid and host signal as given (0, negative pids and signal 0 included).
pub fn kill(pid: libc::pid_t, sig: c_int) -> SysResult<()> {
    // SAFETY: kill takes no pointers.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// ESRCH unless `pid` names a process (kill(pid, 0); EPERM still means it exists).
#[cfg_attr(target_os = "linux", allow(dead_code))] // Hosts without sched_* calls use it.
pub fn process_exists(pid: libc::pid_t) -> SysResult<()> {
    if pid < 0 {
        return Err(EINVAL);
    }
    match kill(pid, 0) {
        Err(e) if e == errno::EPERM as LinuxErrno => Ok(()),
        other => other,
    }
}

/// wait4(2): (pid, host status, host rusage).
pub fn wait4(pid: libc::pid_t, options: c_int) -> SysResult<(i64, c_int, libc::rusage)> {
    let mut status: c_int = 0;
    // SAFETY: rusage is plain integers, zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: status and ru are valid out-pointers for the call.
    let r = check(unsafe { libc::wait4(pid, &mut status, options, &mut ru) })?;
    Ok((r, status, ru))
}

/// waitid(2): the host siginfo (zeroed when WNOHANG finds no child, as Linux reports).
pub fn waitid(idtype: libc::idtype_t, id: libc::id_t, options: c_int) -> SysResult<libc::siginfo_t> {
    // SAFETY: siginfo_t is plain data; zero is what Linux reports when WNOHANG finds none.
    let mut si: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: si is a valid out-pointer for waitid.
    check(unsafe { libc::waitid(idtype, id, &mut si, options) })?;
    Ok(si)
}

/// getgroups(2): the count for an empty `gids`, else the ids written.
pub fn getgroups(gids: &mut [libc::gid_t]) -> SysResult<usize> {
    let ptr = if gids.is_empty() { std::ptr::null_mut() } else { gids.as_mut_ptr() };
    // SAFETY: ptr is NULL with count 0, or gids with room for gids.len() ids.
    Ok(check(unsafe { libc::getgroups(gids.len() as c_int, ptr) })? as usize)
}

/// getpriority(2): the nice value (-1 is a valid one: only errno tells a failure apart).
pub fn getpriority(which: crate::host::PriorityWhich, who: libc::id_t) -> SysResult<c_int> {
    set_errno(0);
    // SAFETY: getpriority takes no pointers.
    let nice = unsafe { libc::getpriority(which, who) };
    if nice == -1 && std::io::Error::last_os_error().raw_os_error().unwrap_or(0) != 0 {
        return Err(crate::host::last_errno());
    }
    Ok(nice)
}

pub fn setpriority(which: crate::host::PriorityWhich, who: libc::id_t, nice: c_int) -> SysResult<()> {
    // SAFETY: setpriority takes no pointers.
    check(unsafe { libc::setpriority(which, who, nice) }).map(drop)
}

pub fn getrusage(who: c_int) -> SysResult<libc::rusage> {
    // SAFETY: ru is a valid out-pointer for one struct rusage.
    out_struct(|ru| unsafe { libc::getrusage(who, ru) })
}

/// Block every signal on the calling thread (a helper thread that must not take the
/// signals meant for the vCPU threads, or a thread past the point where it may).
pub fn block_all_signals_on_this_thread() {
    // SAFETY: sigfillset fills a zeroed set; pthread_sigmask with a valid set.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
    }
}

/// times(2): (clock ticks, the process's times). It cannot fail with a valid pointer, and
/// its result may legitimately look negative (it counts from an arbitrary point).
pub fn times() -> (libc::clock_t, libc::tms) {
    let mut tms = libc::tms { tms_utime: 0, tms_stime: 0, tms_cutime: 0, tms_cstime: 0 };
    // SAFETY: tms is a valid out-pointer.
    let ticks = unsafe { libc::times(&mut tms) };
    (ticks, tms)
}

/// A host clock's time in nanoseconds.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// setitimer (`new` Some) or getitimer of ITIMER_VIRTUAL or ITIMER_PROF (the same numbers
/// on every host): this process's CPU-time timers, which signal it with SIGVTALRM or
/// SIGPROF. Values as interval s, us, then value s, us; the old (or current) setting.
// time_t and suseconds_t differ by host.
#[allow(clippy::unnecessary_cast)]
pub fn cpu_itimer(which: i32, new: Option<[i64; 4]>) -> SysResult<[i64; 4]> {
    let which = match which {
        1 => libc::ITIMER_VIRTUAL,
        2 => libc::ITIMER_PROF,
        _ => return Err(errno::EINVAL as LinuxErrno),
    };
    let tv = |s: i64, us: i64| libc::timeval { tv_sec: s as libc::time_t, tv_usec: us as libc::suseconds_t };
    let zero = libc::itimerval { it_interval: tv(0, 0), it_value: tv(0, 0) };
    let mut old = zero;
    // SAFETY: the itimervals are valid for the calls.
    let r = unsafe {
        match new {
            Some(v) => {
                let new = libc::itimerval { it_interval: tv(v[0], v[1]), it_value: tv(v[2], v[3]) };
                libc::setitimer(which, &new, &mut old)
            }
            None => libc::getitimer(which, &mut old),
        }
    };
    check(r)?;
    Ok([
        old.it_interval.tv_sec as i64,
        old.it_interval.tv_usec as i64,
        old.it_value.tv_sec as i64,
        old.it_value.tv_usec as i64,
    ])
}
