//! Host calls that differ by host, on a Linux host: the host's own syscalls, which already
//! speak Linux (the raw syscall where the C library's wrapper would change the meaning).

use std::ffi::CStr;
use std::os::fd::{FromRawFd, IntoRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::AtomicU32;

use abi_shared::hypercall::{LinuxFlock, LinuxSysinfo};
use abi_shared::linux::{errno, LinuxStatfs, LinuxStatx, LinuxTermios};
use libc::c_int;

use super::{check, fd, openat, out_struct, rx, SysResult, XattrTarget, EINVAL};
use crate::host::{self, LinuxErrno};

/// The errno of the calling thread is now `value`.
pub(super) fn set_errno(value: c_int) {
    // SAFETY: __errno_location returns the calling thread's errno location.
    unsafe { *libc::__errno_location() = value };
}

/// A host path that names what `fd` is open on, even if the file was renamed or removed.
pub fn fd_host_path(raw: c_int) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{raw}"))
}

/// A new read-only descriptor of the file `fd` names (`fd` may be an O_PATH descriptor,
/// which is why it is opened again rather than duplicated).
pub fn reopen_readonly(raw: c_int) -> SysResult<c_int> {
    let path = super::c_string(&fd_host_path(raw)).map_err(|_| errno::EBADF as LinuxErrno)?;
    openat(libc::AT_FDCWD, &path, libc::O_RDONLY | libc::O_CLOEXEC, 0)
}

/// fcntl(F_NOTIFY) with Linux's DN_* bits: the kernel then signals this process (SIGIO by
/// default) when the directory changes, and the monitor passes the signal to the program.
pub fn dnotify(raw: c_int, events: u32) -> SysResult<i64> {
    // SAFETY: F_NOTIFY takes an int argument (the DN_* bits).
    check(unsafe { libc::fcntl(raw, libc::F_NOTIFY, events as c_int) })
}

/// mknodat(2): `mode` holds the file type (one mknod makes) and the permission bits.
pub fn mknodat(dirfd: c_int, path: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> SysResult<()> {
    use rustix::fs::{FileType, Mode};
    rx(rustix::fs::mknodat(fd(dirfd)?, path, FileType::from_raw_mode(mode), Mode::from_raw_mode(mode), dev))
}

/// statx(2). `empty_path` (the request's AT_EMPTY_PATH with an empty path) names `dirfd`
/// itself; `flags` are the other host AT_* flags.
pub fn statx(dirfd: c_int, path: &CStr, flags: c_int, empty_path: bool, mask: libc::c_uint) -> SysResult<LinuxStatx> {
    let flags = flags | if empty_path { libc::AT_EMPTY_PATH } else { 0 };
    let stx = out_struct(|stx: *mut libc::statx| {
        // SAFETY: path is NUL-terminated; stx is a valid out-pointer for one struct statx.
        let r = unsafe { libc::syscall(libc::SYS_statx, dirfd, path.as_ptr(), flags, mask, stx) };
        r as c_int
    })?;
    Ok(host::statx_to_linux(&stx))
}

/// getdents64(2) into a host buffer: Linux `linux_dirent64` records; returns their length.
pub fn getdents64(raw: c_int, out: &mut [u8]) -> SysResult<usize> {
    // SAFETY: out is a host buffer of exactly out.len() writable bytes.
    let r = unsafe { libc::syscall(libc::SYS_getdents64, raw, out.as_mut_ptr(), out.len()) };
    Ok(check(r)? as usize)
}

/// eventfd(2) with Linux's flags (this host is Linux: they are the host's). The floor is
/// for hosts that keep a descriptor of their own with it (macOS).
pub fn eventfd(initval: u32, flags: c_int, _floor: c_int) -> SysResult<c_int> {
    const KNOWN: c_int = libc::EFD_CLOEXEC | libc::EFD_NONBLOCK | libc::EFD_SEMAPHORE;
    if flags & !KNOWN != 0 {
        return Err(EINVAL);
    }
    // SAFETY: eventfd takes no pointers.
    Ok(check(unsafe { libc::eventfd(initval, flags) })? as c_int)
}

/// timerfd_create(2) with Linux's clock and flags (this host is Linux).
pub fn timerfd_create(clock: c_int, flags: c_int) -> SysResult<c_int> {
    // SAFETY: timerfd_create takes no pointers.
    Ok(check(unsafe { libc::timerfd_create(clock, flags) })? as c_int)
}

fn itimerspec_of(v: &[i64; 4]) -> libc::itimerspec {
    libc::itimerspec {
        it_interval: libc::timespec { tv_sec: v[0], tv_nsec: v[1] },
        it_value: libc::timespec { tv_sec: v[2], tv_nsec: v[3] },
    }
}

fn itimerspec_values(t: &libc::itimerspec) -> [i64; 4] {
    [t.it_interval.tv_sec, t.it_interval.tv_nsec, t.it_value.tv_sec, t.it_value.tv_nsec]
}

/// timerfd_settime(2): the old setting.
pub fn timerfd_settime(fd: c_int, flags: c_int, new: &[i64; 4]) -> SysResult<[i64; 4]> {
    let new = itimerspec_of(new);
    let mut old = itimerspec_of(&[0; 4]);
    // SAFETY: new and old are valid itimerspecs for the call.
    check(unsafe { libc::timerfd_settime(fd, flags, &new, &mut old) })?;
    Ok(itimerspec_values(&old))
}

/// timerfd_gettime(2).
pub fn timerfd_gettime(fd: c_int) -> SysResult<[i64; 4]> {
    let mut cur = itimerspec_of(&[0; 4]);
    // SAFETY: cur is a valid out-pointer.
    check(unsafe { libc::timerfd_gettime(fd, &mut cur) })?;
    Ok(itimerspec_values(&cur))
}

/// epoll_create1(2); the flag is EPOLL_CLOEXEC.
pub fn epoll_create(cloexec: bool) -> SysResult<c_int> {
    let flags = if cloexec { libc::EPOLL_CLOEXEC } else { 0 };
    // SAFETY: epoll_create1 takes no pointers.
    Ok(check(unsafe { libc::epoll_create1(flags) })? as c_int)
}

/// epoll_ctl(2) with Linux's own op numbers and event bits (this host is Linux).
pub fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, events: u32, data: u64) -> SysResult<()> {
    let mut ev = libc::epoll_event { events, u64: data };
    // SAFETY: ev is a valid epoll_event for the call (the kernel ignores it for DEL).
    check(unsafe { libc::epoll_ctl(epfd, op, fd, &mut ev) })?;
    Ok(())
}

/// epoll_wait(2) for at most `max` events: (events, data) of each ready one.
pub fn epoll_wait(epfd: c_int, max: usize, timeout_ms: c_int) -> SysResult<Vec<(u32, u64)>> {
    let mut evs = vec![libc::epoll_event { events: 0, u64: 0 }; max];
    // SAFETY: evs holds `max` writable epoll_events for the call.
    let n = check(unsafe { libc::epoll_wait(epfd, evs.as_mut_ptr(), max as c_int, timeout_ms) })? as usize;
    Ok(evs[..n].iter().map(|e| (e.events, e.u64)).collect())
}

/// pipe2(2) with host flags.
pub fn pipe2(flags: c_int) -> SysResult<[c_int; 2]> {
    let flags = rustix::pipe::PipeFlags::from_bits_retain(flags as _);
    let (read_end, write_end) = rx(rustix::pipe::pipe_with(flags))?;
    Ok([read_end.into_raw_fd(), write_end.into_raw_fd()])
}

/// The utimensat syscall itself: unlike the C library's wrapper it takes a NULL path
/// (then it sets the times of `dirfd`), exactly as a Linux program's call does.
pub fn utimensat(
    dirfd: c_int,
    path: Option<&CStr>,
    times: Option<&[libc::timespec; 2]>,
    flags: c_int,
) -> SysResult<()> {
    let path = path.map_or(std::ptr::null(), |p| p.as_ptr());
    let times = times.map_or(std::ptr::null(), |t| t.as_ptr());
    // SAFETY: path is NULL or NUL-terminated, times NULL or two timespecs; both outlive
    // the call.
    check(unsafe { libc::syscall(libc::SYS_utimensat, dirfd, path, times, flags) }).map(drop)
}

/// F_GETPIPE_SZ, or F_SETPIPE_SZ to `size` (an int, as Linux reads it).
pub fn pipe_size(raw: c_int, set: bool, size: c_int) -> SysResult<i64> {
    let cmd = if set { libc::F_SETPIPE_SZ } else { libc::F_GETPIPE_SZ };
    // SAFETY: both commands take an int (ignored by F_GETPIPE_SZ).
    check(unsafe { libc::fcntl(raw, cmd, size) })
}

/// renameat2(2) with host RENAME_* flags.
pub fn renameat2(olddirfd: c_int, oldpath: &CStr, newdirfd: c_int, newpath: &CStr, flags: u32) -> SysResult<()> {
    // SAFETY: both paths are NUL-terminated and outlive the call.
    let r =
        unsafe { libc::syscall(libc::SYS_renameat2, olddirfd, oldpath.as_ptr(), newdirfd, newpath.as_ptr(), flags) };
    check(r).map(drop)
}

pub fn syncfs(raw: c_int) -> SysResult<()> {
    rx(rustix::fs::syncfs(fd(raw)?))
}

pub fn fdatasync(raw: c_int) -> SysResult<()> {
    rx(rustix::fs::fdatasync(fd(raw)?))
}

/// With flags, the faccessat2 syscall; on kernels without it (ENOSYS, before 5.8) the C
/// library's faccessat, which emulates the flags as glibc does.
pub fn faccessat(dirfd: c_int, path: &CStr, mode: c_int, flags: c_int) -> SysResult<()> {
    if flags != 0 {
        // SAFETY: path is NUL-terminated and outlives the call.
        let r = unsafe { libc::syscall(libc::SYS_faccessat2, dirfd, path.as_ptr(), mode, flags) };
        match check(r) {
            Err(e) if e == errno::ENOSYS as LinuxErrno => {}
            done => return done.map(drop),
        }
    }
    // SAFETY: path is NUL-terminated and outlives the call.
    check(unsafe { libc::faccessat(dirfd, path.as_ptr(), mode, flags) }).map(drop)
}

/// The Linux getcwd syscall into `buf`: length with NUL, ERANGE when it does not fit.
pub fn getcwd(buf: &mut [u8]) -> SysResult<i64> {
    // SAFETY: buf is a host buffer of buf.len() writable bytes.
    check(unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) })
}

/// dup3(2) with host O_CLOEXEC (the caller checked `newfd` is not the monitor's).
pub fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> SysResult<c_int> {
    // SAFETY: dup3 takes no pointers.
    Ok(check(unsafe { libc::dup3(oldfd, newfd, flags) })? as c_int)
}

/// An xattr value's buffer for the C call: NULL when `out` is empty (a size query).
fn xattr_buffer(out: &mut [u8]) -> *mut libc::c_void {
    if out.is_empty() {
        std::ptr::null_mut()
    } else {
        out.as_mut_ptr().cast()
    }
}

/// getxattr and friends: the value's size when `out` is empty, else the value (ERANGE
/// when it does not fit), exactly as the host reports it.
pub fn getxattr(target: &XattrTarget, name: &CStr, out: &mut [u8]) -> SysResult<usize> {
    let (buf, len) = (xattr_buffer(out), out.len());
    // SAFETY: name and path are NUL-terminated; buf is NULL with length 0 or a buffer of
    // exactly `len` bytes.
    let r = unsafe {
        match target {
            XattrTarget::Fd(fd) => libc::fgetxattr(*fd, name.as_ptr(), buf, len),
            XattrTarget::Path(p, true) => libc::getxattr(p.as_ptr(), name.as_ptr(), buf, len),
            XattrTarget::Path(p, false) => libc::lgetxattr(p.as_ptr(), name.as_ptr(), buf, len),
        }
    };
    Ok(check(r)? as usize)
}

/// listxattr and friends: the size of the name list when `out` is empty, else the list.
pub fn listxattr(target: &XattrTarget, out: &mut [u8]) -> SysResult<usize> {
    let (buf, len) = (xattr_buffer(out).cast::<libc::c_char>(), out.len());
    // SAFETY: path is NUL-terminated; buf is NULL with length 0 or a buffer of `len` bytes.
    let r = unsafe {
        match target {
            XattrTarget::Fd(fd) => libc::flistxattr(*fd, buf, len),
            XattrTarget::Path(p, true) => libc::listxattr(p.as_ptr(), buf, len),
            XattrTarget::Path(p, false) => libc::llistxattr(p.as_ptr(), buf, len),
        }
    };
    Ok(check(r)? as usize)
}

pub fn setxattr(target: &XattrTarget, name: &CStr, value: &[u8], flags: i32) -> SysResult<()> {
    let (v, n) = (value.as_ptr().cast::<libc::c_void>(), value.len());
    // SAFETY: name and path are NUL-terminated; v is a buffer of exactly n bytes.
    let r = unsafe {
        match target {
            XattrTarget::Fd(fd) => libc::fsetxattr(*fd, name.as_ptr(), v, n, flags),
            XattrTarget::Path(p, true) => libc::setxattr(p.as_ptr(), name.as_ptr(), v, n, flags),
            XattrTarget::Path(p, false) => libc::lsetxattr(p.as_ptr(), name.as_ptr(), v, n, flags),
        }
    };
    check(r).map(drop)
}

pub fn removexattr(target: &XattrTarget, name: &CStr) -> SysResult<()> {
    // SAFETY: name and path are NUL-terminated.
    let r = unsafe {
        match target {
            XattrTarget::Fd(fd) => libc::fremovexattr(*fd, name.as_ptr()),
            XattrTarget::Path(p, true) => libc::removexattr(p.as_ptr(), name.as_ptr()),
            XattrTarget::Path(p, false) => libc::lremovexattr(p.as_ptr(), name.as_ptr()),
        }
    };
    check(r).map(drop)
}

/// Record locks. Linux numbers: F_GETLK 5, F_SETLK 6, F_SETLKW 7, F_OFD_GETLK 36,
/// F_OFD_SETLK 37, F_OFD_SETLKW 38; `struct flock` is the same on a Linux host. The lock
/// a GETLK found (None for the SET commands).
pub fn fcntl_lock(raw: c_int, linux_cmd: i32, lock: &LinuxFlock) -> SysResult<Option<LinuxFlock>> {
    let cmd = match linux_cmd {
        5 => libc::F_GETLK,
        6 => libc::F_SETLK,
        7 => libc::F_SETLKW,
        36 => libc::F_OFD_GETLK,
        37 => libc::F_OFD_SETLK,
        38 => libc::F_OFD_SETLKW,
        _ => return Err(EINVAL),
    };
    let mut fl = libc::flock {
        l_type: lock.l_type,
        l_whence: lock.l_whence,
        l_start: lock.l_start,
        l_len: lock.l_len,
        l_pid: lock.l_pid,
    };
    // SAFETY: fl is a valid struct flock for the duration of the call.
    check(unsafe { libc::fcntl(raw, cmd, &mut fl) })?;
    if cmd != libc::F_GETLK && cmd != libc::F_OFD_GETLK {
        return Ok(None);
    }
    Ok(Some(LinuxFlock {
        l_type: fl.l_type,
        l_whence: fl.l_whence,
        l_start: fl.l_start,
        l_len: fl.l_len,
        l_pid: fl.l_pid,
        ..LinuxFlock::default()
    }))
}

/// The host kernel fills Linux's `struct statfs` itself (same layout on every 64-bit
/// Linux; checked in host/linux.rs). The raw syscalls keep f_flags, which the `libc`
/// crate's struct hides.
pub fn statfs(path: &CStr) -> SysResult<LinuxStatfs> {
    // SAFETY: the path is NUL-terminated; st is a valid out-pointer for one struct statfs,
    // which is what LinuxStatfs is on this host.
    out_struct(|st: *mut LinuxStatfs| unsafe { libc::syscall(libc::SYS_statfs, path.as_ptr(), st) } as c_int)
}

pub fn fstatfs(raw: c_int) -> SysResult<LinuxStatfs> {
    // SAFETY: as for statfs.
    out_struct(|st: *mut LinuxStatfs| unsafe { libc::syscall(libc::SYS_fstatfs, raw, st) } as c_int)
}

pub fn sendfile(out_fd: c_int, in_fd: c_int, offset: Option<i64>, count: u64) -> SysResult<i64> {
    let mut off = offset.unwrap_or(0);
    let offp = if offset.is_some() { &mut off as *mut i64 } else { std::ptr::null_mut() };
    // SAFETY: offp is NULL or points to a live off_t; sendfile moves data between two fds.
    check(unsafe { libc::sendfile(out_fd, in_fd, offp, count as usize) })
}

pub fn copy_file_range(
    fd_in: c_int,
    off_in: Option<i64>,
    fd_out: c_int,
    off_out: Option<i64>,
    len: u64,
    flags: u32,
) -> SysResult<i64> {
    between_offsets(libc::SYS_copy_file_range, fd_in, off_in, fd_out, off_out, len, flags)
}

/// copy_file_range(2) or splice(2) (`nr`): the same arguments, each offset a pointer to a
/// loff_t or NULL for the file position.
fn between_offsets(
    nr: libc::c_long,
    fd_in: c_int,
    off_in: Option<i64>,
    fd_out: c_int,
    off_out: Option<i64>,
    len: u64,
    flags: u32,
) -> SysResult<i64> {
    let (mut a, mut b) = (off_in.unwrap_or(0), off_out.unwrap_or(0));
    let pa = if off_in.is_some() { &mut a as *mut i64 } else { std::ptr::null_mut() };
    let pb = if off_out.is_some() { &mut b as *mut i64 } else { std::ptr::null_mut() };
    // SAFETY: pa and pb are NULL or point to live loff_t values; no other pointers.
    check(unsafe { libc::syscall(nr, fd_in, pa, fd_out, pb, len as usize, flags) })
}

/// fallocate(2) with Linux's mode bits, which are the host's.
pub fn fallocate(raw: c_int, mode: i32, offset: i64, len: i64) -> SysResult<()> {
    // SAFETY: fallocate takes no pointers.
    check(unsafe { libc::fallocate(raw, mode, offset, len) }).map(drop)
}

/// ioprio_get (`set` None) or ioprio_set, with Linux's arguments as given.
pub fn ioprio(which: i32, who: i32, set: Option<i32>) -> SysResult<i64> {
    // SAFETY: ioprio_get and ioprio_set take no pointers.
    check(unsafe {
        match set {
            None => libc::syscall(libc::SYS_ioprio_get, which, who),
            Some(prio) => libc::syscall(libc::SYS_ioprio_set, which, who, prio),
        }
    })
}

/// sync_file_range(2) with Linux's flags (the guest checked them and the range).
pub fn sync_file_range(raw: c_int, offset: i64, nbytes: i64, flags: u32) -> SysResult<()> {
    // SAFETY: sync_file_range takes no pointers.
    check(unsafe { libc::sync_file_range(raw, offset, nbytes, flags) }).map(drop)
}

/// The raw syscall, not posix_fadvise (which returns the error instead of setting errno).
pub fn fadvise(raw: c_int, offset: i64, len: i64, advice: i32) -> SysResult<()> {
    // SAFETY: fadvise64 takes no pointers.
    check(unsafe { libc::syscall(libc::SYS_fadvise64, raw, offset, len, advice) }).map(drop)
}

/// memfd_create(2) with Linux's flags (the host checks them).
pub fn memfd_create(name: &CStr, flags: u32) -> SysResult<c_int> {
    // SAFETY: name is NUL-terminated; the host checks the flags.
    Ok(check(unsafe { libc::memfd_create(name.as_ptr(), flags) })? as c_int)
}

/// F_ADD_SEALS with `seals`, or F_GET_SEALS (the seal bits are the same on every Linux).
pub fn seals(raw: c_int, add: bool, seals: c_int) -> SysResult<i64> {
    let cmd = if add { libc::F_ADD_SEALS } else { libc::F_GET_SEALS };
    // SAFETY: both commands take an int (ignored by F_GET_SEALS).
    check(unsafe { libc::fcntl(raw, cmd, seals) })
}

/// On Linux a nice value belongs to a thread: give the monitor's other threads the one the
/// main thread now has. Best effort: the program's own thread is already set.
pub fn set_other_threads_priority(which: host::PriorityWhich, nice: i32) {
    let pid = super::getpid();
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else { return };
    for tid in tasks.flatten().filter_map(|e| e.file_name().to_str().and_then(|s| s.parse::<libc::pid_t>().ok())) {
        if tid != pid {
            let _ = super::setpriority(which, tid as libc::id_t, nice);
        }
    }
}

pub fn sysinfo() -> SysResult<LinuxSysinfo> {
    // SAFETY: si is a valid out-pointer for one struct sysinfo.
    let si = out_struct(|si| unsafe { libc::sysinfo(si) })?;
    Ok(host::sysinfo_to_linux(&si))
}

/// sched_getscheduler(2): the Linux policy number.
pub fn sched_getscheduler(pid: libc::pid_t) -> SysResult<i32> {
    // SAFETY: sched_getscheduler takes no pointers.
    let policy = check(unsafe { libc::sched_getscheduler(pid) })?;
    Ok(host::sched_policy_to_linux(policy as c_int))
}

/// sched_getparam(2): the static priority.
pub fn sched_getparam(pid: libc::pid_t) -> SysResult<i32> {
    // SAFETY: p is a valid out-pointer for one struct sched_param.
    let p = out_struct(|p| unsafe { libc::sched_getparam(pid, p) })?;
    Ok(p.sched_priority)
}

/// TCSETS/TCSETSW/TCSETSF (`when` 0, 1, 2). The kernel's struct goes to the host's ioctl
/// as is: the C library's termios is not the kernel's (more control characters, separate
/// speeds).
pub fn set_termios(raw: c_int, when: u8, t: &LinuxTermios) -> SysResult<()> {
    let request = match when {
        0 => libc::TCSETS,
        1 => libc::TCSETSW,
        2 => libc::TCSETSF,
        _ => return Err(EINVAL),
    };
    // SAFETY: TCSETS* read one kernel struct termios, which LinuxTermios is, from a valid
    // pointer.
    check(unsafe { libc::ioctl(raw, request, t as *const LinuxTermios) }).map(drop)
}

/// TIOCGPTN: the slave's number under /dev/pts.
pub fn pty_number(raw: c_int) -> SysResult<i64> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through a valid pointer.
    check(unsafe { libc::ioctl(raw, libc::TIOCGPTN, &mut n) })?;
    Ok(i64::from(n))
}

/// TIOCSPTLCK: lock or unlock the slave.
pub fn set_pty_lock(raw: c_int, lock: i32) -> SysResult<()> {
    let lock: c_int = lock;
    // SAFETY: TIOCSPTLCK reads one int from a valid pointer.
    check(unsafe { libc::ioctl(raw, libc::TIOCSPTLCK, &lock) }).map(drop)
}

/// A new anonymous file: (a read-write descriptor on the lowest free fd, a read-only one
/// of the same file), both close-on-exec.
pub fn anonymous_file_pair() -> SysResult<(OwnedFd, OwnedFd)> {
    let flags = rustix::fs::MemfdFlags::CLOEXEC;
    let rw = rx(rustix::fs::memfd_create(c"linuxrun-proc", flags))?;
    let path = super::c_string(&fd_host_path(std::os::fd::AsRawFd::as_raw_fd(&rw)))?;
    let ro = openat(libc::AT_FDCWD, &path, libc::O_RDONLY | libc::O_CLOEXEC, 0)?;
    // SAFETY: openat made a new descriptor nothing else owns.
    Ok((rw, unsafe { OwnedFd::from_raw_fd(ro) }))
}

/// What the host's /proc/self/fd/N link says: exactly Linux's format.
pub fn fd_path(raw: c_int) -> SysResult<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    match std::fs::read_link(fd_host_path(raw)) {
        Ok(p) => Ok(p.as_os_str().as_bytes().to_vec()),
        // A closed descriptor: Linux's readlink of /proc/self/fd/N says ENOENT.
        Err(e) => Err(host::errno_to_linux(e.raw_os_error().unwrap_or(libc::EBADF))),
    }
}

/// Open fds as the host's /proc/self/fd lists them (less the one reading it).
/// The open descriptors when the table is full (listing /proc/self/fd would take one):
/// every number below the hard limit that F_GETFD finds open.
fn probed_open_fds() -> Vec<i32> {
    let hard = rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum.unwrap_or(1 << 20);
    let end = i32::try_from(hard.min(1 << 20)).unwrap_or(1 << 20);
    (0..end).filter(|&fd| super::fd_flags(fd).is_ok()).collect()
}

pub fn open_fds() -> SysResult<Vec<i32>> {
    // SAFETY: the path is a NUL-terminated literal.
    let dir = unsafe { libc::opendir(c"/proc/self/fd".as_ptr()) };
    if dir.is_null() {
        let e = host::last_errno();
        if e == errno::EMFILE as LinuxErrno {
            return Ok(probed_open_fds());
        }
        return Err(e);
    }
    // SAFETY: dir is a valid DIR* until closedir below.
    let own = unsafe { libc::dirfd(dir) };
    let mut out = Vec::new();
    loop {
        // SAFETY: dir is valid; readdir returns null at the end.
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is a NUL-terminated name inside the dirent readdir returned.
        let name = unsafe { CStr::from_ptr((*ent).d_name.as_ptr()) };
        if let Some(fd) = name.to_str().ok().and_then(|s| s.parse::<i32>().ok()) {
            if fd != own {
                out.push(fd);
            }
        }
    }
    // SAFETY: dir came from opendir and is closed once.
    unsafe { libc::closedir(dir) };
    Ok(out)
}

/// Sleep while the u32 `word` (guest RAM, shared by the process's vCPU threads) holds
/// `expected`, until `futex_wake` on it, `timeout_ns` (relative; `u64::MAX`: none) or a
/// signal: Err(EAGAIN) when it differed at once, ETIMEDOUT, EINTR. `shared`: the word is
/// in a shared file mapping, keyed by the file's page so that other processes meet it.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: u64, shared: bool) -> SysResult<()> {
    use rustix::thread::futex;
    let timeout = (timeout_ns != u64::MAX).then_some(rustix::time::Timespec {
        tv_sec: (timeout_ns / 1_000_000_000) as i64,
        tv_nsec: (timeout_ns % 1_000_000_000) as i64,
    });
    rx(futex::wait(word, futex_flags(shared), expected, timeout.as_ref()))
}

fn futex_flags(shared: bool) -> rustix::thread::futex::Flags {
    if shared {
        rustix::thread::futex::Flags::empty()
    } else {
        rustix::thread::futex::Flags::PRIVATE
    }
}

/// A priority-inheritance futex operation with Linux's op and flags (this host is Linux):
/// the word holds owner tids, which are this process's thread ids.
pub fn futex_pi(word: &AtomicU32, op: c_int, timeout: Option<&[i64; 2]>) -> SysResult<i64> {
    const FUTEX_CMD_MASK: c_int = !(libc::FUTEX_PRIVATE_FLAG | libc::FUTEX_CLOCK_REALTIME);
    if !matches!(
        op & FUTEX_CMD_MASK,
        libc::FUTEX_LOCK_PI | libc::FUTEX_LOCK_PI2 | libc::FUTEX_TRYLOCK_PI | libc::FUTEX_UNLOCK_PI
    ) {
        return Err(EINVAL);
    }
    let ts = timeout.map(|t| libc::timespec { tv_sec: t[0], tv_nsec: t[1] });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: the word is a valid aligned u32 in our memory; ts_ptr is null or points to a
    // timespec that lives across the call; the other arguments are unused by these ops.
    check(unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), op, 0, ts_ptr, 0, 0) })
}

/// Wake up to `count` threads sleeping in `futex_wait` on `word` (with the same
/// `shared`); how many woke.
pub fn futex_wake(word: &AtomicU32, count: u32, shared: bool) -> u32 {
    // The kernel reads the count as an int: u32::MAX ("all") would be -1, which wakes one.
    let count = count.min(i32::MAX as u32);
    rustix::thread::futex::wake(word, futex_flags(shared), count).map_or(0, |n| n as u32)
}

/// The calling thread's id, which is the Linux thread's it runs.
pub fn gettid() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}

/// The host signal one monitor thread sends another to stop its vCPU or end a host call it
/// is blocked in: the highest real-time signal, which the C library leaves alone.
pub fn thread_kick_signal() -> Option<c_int> {
    Some(libc::SIGRTMAX())
}

/// accept4(2) with the host's flags: the new descriptor and the peer's host sockaddr.
pub fn accept4(raw: c_int, flags: c_int) -> SysResult<(c_int, Vec<u8>)> {
    super::net::with_sockaddr_out(|addr, len| {
        // SAFETY: addr and len name a sockaddr buffer and its size (with_sockaddr_out).
        unsafe { libc::accept4(raw, addr, len, flags) }
    })
}

/// inotify_init1(2) with Linux's flags (this host is Linux).
pub fn inotify_init(flags: c_int) -> SysResult<c_int> {
    // SAFETY: inotify_init1 takes no pointers.
    Ok(check(unsafe { libc::inotify_init1(flags) })? as c_int)
}

/// inotify_add_watch(2) of a host path: the watch descriptor.
pub fn inotify_add_watch(raw: c_int, path: &CStr, mask: u32) -> SysResult<i64> {
    // SAFETY: path is NUL-terminated and outlives the call.
    check(unsafe { libc::inotify_add_watch(raw, path.as_ptr(), mask) })
}

pub fn inotify_rm_watch(raw: c_int, wd: c_int) -> SysResult<()> {
    // SAFETY: inotify_rm_watch takes no pointers.
    check(unsafe { libc::inotify_rm_watch(raw, wd) }).map(drop)
}

/// splice(2) with Linux's flags; an offset given is used (and not reported back: the
/// caller adds the bytes moved).
pub fn splice(
    fd_in: c_int,
    off_in: Option<i64>,
    fd_out: c_int,
    off_out: Option<i64>,
    len: u64,
    flags: u32,
) -> SysResult<i64> {
    between_offsets(libc::SYS_splice, fd_in, off_in, fd_out, off_out, len, flags)
}

/// tee(2) with Linux's flags.
pub fn tee(fd_in: c_int, fd_out: c_int, len: u64, flags: u32) -> SysResult<i64> {
    // SAFETY: tee takes no pointers.
    check(unsafe { libc::syscall(libc::SYS_tee, fd_in, fd_out, len as usize, flags) })
}

/// vmsplice's transfer as a copy: wait until the pipe has room (a write) or data (a
/// read), unless `nowait` (SPLICE_F_NONBLOCK: EAGAIN instead), then move what can be moved
/// without waiting again. That is Linux's vmsplice: it fills the room there is and returns
/// (a program may vmsplice more than the pipe holds and then drain it itself), and it
/// ignores the pipe's O_NONBLOCK, which belongs to the open file (shared with other
/// processes: not ours to change). RWF_NOWAIT says "without waiting" for one call; a
/// kernel whose pipes do not take it (EOPNOTSUPP) gets a plain readv/writev after the
/// readiness check.
///
/// # Safety
/// Every iovec must name memory that stays mapped for the call and is writable (a read)
/// or readable (a write): checked guest RAM, from `GuestMemory::iovecs`.
pub unsafe fn pipe_vectored(raw: c_int, iov: &[libc::iovec], write: bool, nowait: bool) -> SysResult<i64> {
    const EAGAIN: LinuxErrno = errno::EAGAIN as LinuxErrno;
    let count = iov.len() as c_int;
    let transfer = |flags: c_int| {
        // SAFETY: the iovecs are valid (the caller's contract); count is their number;
        // offset -1 is the current position.
        check(unsafe {
            if write {
                libc::pwritev2(raw, iov.as_ptr(), count, -1, flags)
            } else {
                libc::preadv2(raw, iov.as_ptr(), count, -1, flags)
            }
        })
    };
    let events = if write { libc::POLLOUT } else { libc::POLLIN };
    loop {
        match transfer(libc::RWF_NOWAIT) {
            Err(e) if e == EAGAIN && !nowait => {
                wait_for(raw, events, -1)?;
            }
            Err(e) if e == errno::EOPNOTSUPP as LinuxErrno => {
                return if wait_for(raw, events, if nowait { 0 } else { -1 })? { transfer(0) } else { Err(EAGAIN) };
            }
            done => return done,
        }
    }
}

/// Wait at most `timeout_ms` (-1: no limit) for `events` on `raw`; whether it came (a
/// signal ends the wait with EINTR).
fn wait_for(raw: c_int, events: libc::c_short, timeout_ms: c_int) -> SysResult<bool> {
    let mut pfd = [libc::pollfd { fd: raw, events, revents: 0 }];
    Ok(super::poll(&mut pfd, timeout_ms)? > 0)
}

/// pidfd_open(2) with Linux's flags.
pub fn pidfd_open(pid: libc::pid_t, flags: u32) -> SysResult<c_int> {
    // SAFETY: pidfd_open takes no pointers.
    Ok(check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, flags) })? as c_int)
}

/// The pid a pidfd refers to, as its /proc fdinfo says ("Pid:"; -1 once the process has
/// been reaped); EBADF when `raw` is not open or is no pidfd.
pub fn pidfd_pid(raw: c_int) -> SysResult<i32> {
    const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{raw}")).map_err(|_| EBADF)?;
    let line = info.lines().find_map(|l| l.strip_prefix("Pid:")).ok_or(EBADF)?;
    line.trim().parse().map_err(|_| EBADF)
}

/// pidfd_send_signal(2) of a Linux signal (this host's numbers) with the program's
/// 128-byte siginfo, if any.
pub fn pidfd_send_signal(raw: c_int, sig: c_int, info: Option<&[u8; 128]>, flags: u32) -> SysResult<()> {
    let info = info.map_or(std::ptr::null(), |i| i.as_ptr());
    // SAFETY: info is NULL or 128 readable bytes (a Linux siginfo_t) that outlive the call.
    check(unsafe { libc::syscall(libc::SYS_pidfd_send_signal, raw, sig, info, flags) }).map(drop)
}

/// pidfd_getfd(2): a new descriptor in this process for `targetfd` of the pidfd's process.
pub fn pidfd_getfd(pidfd: c_int, targetfd: c_int, flags: u32) -> SysResult<c_int> {
    // SAFETY: pidfd_getfd takes no pointers.
    Ok(check(unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd, targetfd, flags) })? as c_int)
}

/// Show the program's Linux command line and name where the host shows a process's:
/// `comm` becomes the calling thread's name (prctl(PR_SET_NAME), what /proc/PID/comm and
/// stat show when it is the main thread), and `argv` (NUL-terminated strings) is written
/// over the monitor's own argument strings, which /proc/PID/cmdline reads. That area is
/// the monitor's command line, `linuxrun [options] PROGRAM ARGS`, so the program's argv
/// usually fits; the rest is filled with NULs (ps and pgrep drop trailing NULs; the guest's
/// /proc trims them, see server/procfs.rs), and a longer argv is cut to the area.
pub fn set_process_name(argv: &[u8], comm: &[u8]) {
    if !comm.is_empty() {
        let name: Vec<u8> = comm.iter().copied().filter(|&b| b != 0).take(15).collect();
        if let Ok(name) = std::ffi::CString::new(name) {
            // SAFETY: PR_SET_NAME reads a NUL-terminated string of at most 16 bytes.
            unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr(), 0u64, 0u64, 0u64) };
        }
    }
    if argv.is_empty() {
        return;
    }
    static AREA: std::sync::OnceLock<Option<(usize, usize)>> = std::sync::OnceLock::new();
    static WRITING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let Some((start, end)) = *AREA.get_or_init(own_arg_area) else { return };
    let len = end - start;
    let n = argv.len().min(len - 1);
    let _one_at_a_time = WRITING.lock();
    // SAFETY: [start, end) is this process's own argument strings (the kernel's
    // arg_start/arg_end), in the initial stack, mapped and writable for the process's
    // life; n < len, and the strings are only read (by the kernel for /proc, and by
    // std::env::args, which copies them) while not written here.
    unsafe {
        std::ptr::copy_nonoverlapping(argv.as_ptr(), start as *mut u8, n);
        std::ptr::write_bytes((start + n) as *mut u8, 0, len - n);
    }
}

/// [arg_start, arg_end) of this process (fields 48 and 49 of /proc/self/stat).
fn own_arg_area() -> Option<(usize, usize)> {
    let stat = std::fs::read("/proc/self/stat").ok()?;
    let after = stat.iter().rposition(|&b| b == b')')?;
    let text = std::str::from_utf8(&stat[after + 1..]).ok()?;
    let fields: Vec<&str> = text.split_ascii_whitespace().collect();
    // fields[0] is field 3 (state).
    let start: usize = fields.get(48 - 3)?.parse().ok()?;
    let end: usize = fields.get(49 - 3)?.parse().ok()?;
    (start > 0 && end > start && end - start < 1 << 20).then_some((start, end))
}

/// A new memfd named `PUBLISHED_EXE_NAME` holding `exe`: other monitors find it among this
/// process's descriptors (proc_view.rs) and read the program's path from it.
pub fn published_exe_file(exe: &[u8]) -> SysResult<OwnedFd> {
    let name = std::ffi::CString::new(super::PUBLISHED_EXE_NAME).map_err(|_| EINVAL)?;
    let file = rx(rustix::fs::memfd_create(&name, rustix::fs::MemfdFlags::CLOEXEC))?;
    let mut done = 0;
    while done < exe.len() {
        done += rx(rustix::io::write(&file, &exe[done..]))?;
    }
    Ok(file)
}
