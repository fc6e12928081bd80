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

/// Whether this process's group is orphaned as Linux judges it when a SIGTSTP, SIGTTIN or
/// SIGTTOU is about to stop a member (`will_become_orphaned_pgrp`): no member, zombies and
/// children of init aside, has its parent in another group of the same session, so nobody
/// there could continue a stopped member, and Linux discards the signal. The host applies
/// its own rule to the stop we raise; the guest asks first so that what it shows (--strace's
/// "stopped by" line) and does agrees with what will happen.
pub fn own_group_orphaned() -> bool {
    getsid(0).is_ok_and(|sid| group_orphaned(getpgrp(), sid))
}

/// Whether process group `pgrp` of session `sid` is orphaned (see `own_group_orphaned`).
fn group_orphaned(pgrp: libc::pid_t, sid: libc::pid_t) -> bool {
    let parents = group_member_parents(pgrp);
    // We are a member ourselves: no members found means no answer, and then not orphaned.
    !parents.is_empty() && parents.into_iter().all(|ppid| !parent_holds_group(ppid, pgrp, sid))
}

/// A parent in another group of our session keeps our group from being orphaned. Init does
/// not (Linux skips members whose parent is init), nor a parent we cannot see.
fn parent_holds_group(ppid: libc::pid_t, pgrp: libc::pid_t, sid: libc::pid_t) -> bool {
    ppid > 1 && getpgid(ppid).is_ok_and(|g| g != pgrp) && getsid(ppid).is_ok_and(|s| s == sid)
}

/// The parents of the live (not zombie) members of process group `pgrp`, from /proc.
#[cfg(target_os = "linux")]
fn group_member_parents(pgrp: libc::pid_t) -> Vec<libc::pid_t> {
    let Ok(dir) = std::fs::read_dir("/proc") else { return Vec::new() };
    dir.filter_map(Result::ok)
        .filter(|e| e.file_name().as_bytes().iter().all(u8::is_ascii_digit))
        .filter_map(|e| std::fs::read(e.path().join("stat")).ok())
        .filter_map(|stat| live_member_parent(&stat, pgrp))
        .collect()
}

/// From a /proc/PID/stat text ("pid (comm) state ppid pgrp ..."; comm may hold spaces and
/// parentheses, so the fields are read after the last ')'): the parent of a live member of
/// `pgrp`.
#[cfg(any(target_os = "linux", test))]
fn live_member_parent(stat: &[u8], pgrp: libc::pid_t) -> Option<libc::pid_t> {
    let after = &stat[stat.iter().rposition(|&b| b == b')')? + 1..];
    let text = std::str::from_utf8(after).ok()?;
    let mut fields = text.split_ascii_whitespace();
    let state = fields.next()?;
    let ppid: libc::pid_t = fields.next()?.parse().ok()?;
    let group: libc::pid_t = fields.next()?.parse().ok()?;
    (group == pgrp && state != "Z" && state != "X").then_some(ppid)
}

/// The parents of the live (not zombie) members of process group `pgrp`, from libproc.
#[cfg(target_os = "macos")]
fn group_member_parents(pgrp: libc::pid_t) -> Vec<libc::pid_t> {
    let mut pids = vec![0 as libc::pid_t; 256];
    let bytes = (pids.len() * std::mem::size_of::<libc::pid_t>()) as c_int;
    // SAFETY: the buffer holds `bytes` bytes of pid_t slots.
    let got = unsafe { libc::proc_listpgrppids(pgrp, pids.as_mut_ptr().cast(), bytes) };
    pids.truncate((got.max(0) as usize / std::mem::size_of::<libc::pid_t>()).min(256));
    pids.into_iter().filter(|&p| p > 0).filter_map(bsd_info_parent).collect()
}

/// A live process's parent, from its BSD info (None for a zombie or a process we cannot see).
#[cfg(target_os = "macos")]
fn bsd_info_parent(pid: libc::pid_t) -> Option<libc::pid_t> {
    // SAFETY: proc_bsdinfo is plain data; zero is a valid value.
    let mut info: libc::proc_bsdinfo = unsafe { std::mem::zeroed() };
    let size = std::mem::size_of::<libc::proc_bsdinfo>() as c_int;
    // SAFETY: `info` is a writable proc_bsdinfo of `size` bytes.
    let got = unsafe {
        libc::proc_pidinfo(pid, libc::PROC_PIDTBSDINFO, 0, (&mut info as *mut libc::proc_bsdinfo).cast(), size)
    };
    (got == size && info.pbi_status != libc::SZOMB).then_some(info.pbi_ppid as libc::pid_t)
}

/// Hosts with neither /proc nor libproc: never orphaned (the host's own rule still applies
/// to the stop itself).
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn group_member_parents(_pgrp: libc::pid_t) -> Vec<libc::pid_t> {
    Vec::new()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stat_line_gives_a_live_members_parent() {
        assert_eq!(live_member_parent(b"42 (sh) S 7 42 42 34816 42 4194560", 42), Some(7));
        assert_eq!(live_member_parent(b"42 (a) b) (c) R 9 42 1 0", 42), Some(9));
        assert_eq!(live_member_parent(b"42 (sh) S 7 43 43 0", 42), None);
        assert_eq!(live_member_parent(b"42 (sh) Z 7 42 42 0", 42), None);
        assert_eq!(live_member_parent(b"42 (sh", 42), None);
    }

    #[test]
    fn a_group_with_a_parent_elsewhere_in_the_session_is_not_orphaned() {
        // A child in a group of its own under us (same session, our group elsewhere) is not
        // orphaned; one that made its own session is. The child only waits to be killed.
        let judge = |new_session: bool| {
            // SAFETY: fork in a test; the child makes only async-signal-safe calls.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: setsid/setpgid/pause/_exit take no pointers.
                unsafe {
                    if new_session {
                        libc::setsid();
                    } else {
                        libc::setpgid(0, 0);
                    }
                    loop {
                        libc::pause();
                    }
                }
            }
            while getpgid(pid).ok() != Some(pid) {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            let orphaned = group_orphaned(pid, getsid(pid).unwrap());
            // SAFETY: kill/waitpid of our own child, with a valid status pointer.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut 0, 0);
            }
            orphaned
        };
        assert!(!judge(false));
        assert!(judge(true));
    }
}
