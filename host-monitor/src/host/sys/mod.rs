//! Host calls: every system call the hypercall server makes, as small safe functions.
//!
//! `server/` decides *what* to do for a Linux request and converts numbers with the
//! personality (`crate::host`); the functions here *do* it on the host. Those that every
//! host has alike are in this file; those that differ by host are in `linux.rs`,
//! `darwin.rs` and, for hosts without a personality, `unported.rs`, each with the same
//! signatures, so that `server/` needs no `cfg(target_os)`.
//!
//! Conventions:
//! - Arguments are host values (already converted by the personality); descriptors are the
//!   raw numbers the program named, which the host kernel checks.
//! - An `Err(e)` is a positive **Linux** errno, ready for the program.
//! - The calls are built on `rustix` where its typed API says exactly what the raw call
//!   says; where a Linux request needs the raw call (a value rustix's types refuse, guest
//!   memory named by iovecs, a kernel struct) the `libc` call is made here, with its
//!   safety argument, so that `unsafe` stays in this module.

use std::ffi::{CStr, CString};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use libc::c_int;
use rustix::fs::{AtFlags, Mode};

use super::{errno_to_linux, LinuxErrno};
use abi_shared::linux::errno;

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(target_os = "macos")]
mod darwin;
#[cfg(target_os = "macos")]
pub use darwin::*;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod unported;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub use unported::*;

/// A host call's outcome: its value, or the Linux errno of its failure.
pub type SysResult<T> = Result<T, LinuxErrno>;

const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;
const EINVAL: LinuxErrno = errno::EINVAL as LinuxErrno;
const EOVERFLOW: LinuxErrno = errno::EOVERFLOW as LinuxErrno;

/// The Linux errno of a failed rustix call.
fn linux_errno(e: rustix::io::Errno) -> LinuxErrno {
    errno_to_linux(e.raw_os_error())
}

/// A rustix call's result with the failure as a Linux errno.
fn rx<T>(r: rustix::io::Result<T>) -> SysResult<T> {
    r.map_err(linux_errno)
}

/// A raw C call's result: the value, or the Linux errno of the host's `errno`. Called right
/// after the call, before anything else can change `errno`.
pub fn check<T: TryInto<i64>>(r: T) -> SysResult<i64> {
    let value: i64 = r.try_into().map_err(|_| EOVERFLOW)?;
    if value < 0 {
        Err(super::last_errno())
    } else {
        Ok(value)
    }
}

/// A descriptor number the program named, for the duration of one host call. No Rust
/// object owns a program's descriptor: the host kernel checks the number (EBADF if it is
/// not open), exactly as for the program's own call. A negative number (but AT_FDCWD) is
/// EBADF here, which is what the kernel would say, since rustix passes only valid-looking
/// descriptors. (Callers have refused negative dirfds before: an *at call with an
/// absolute path would ignore one.)
fn fd(raw: c_int) -> SysResult<BorrowedFd<'static>> {
    if raw < 0 && raw != libc::AT_FDCWD {
        return Err(EBADF);
    }
    // SAFETY: the number is only passed to the host kernel, which validates it; nothing
    // reads or closes a Rust-owned descriptor through it.
    Ok(unsafe { BorrowedFd::borrow_raw(raw) })
}

/// A descriptor of the program's as a `BorrowedFd`, for the duration of one host call.
pub fn program_fd(raw: c_int) -> SysResult<BorrowedFd<'static>> {
    fd(raw)
}

/// The host result of a call that fills a `T`.
fn out_struct<T>(call: impl FnOnce(*mut T) -> c_int) -> SysResult<T> {
    let mut out = MaybeUninit::<T>::zeroed();
    check(call(out.as_mut_ptr()))?;
    // SAFETY: `out` starts zeroed and every `T` used here (stat, statfs, statx, termios,
    // winsize, rusage, sysinfo, sched_param) is plain integers, for which zero is a valid
    // value; the call succeeded and filled it.
    Ok(unsafe { out.assume_init() })
}

fn raw_mode(mode: libc::mode_t) -> Mode {
    Mode::from_bits_retain(mode)
}

// ---------------------------------------------------------------------------------------
// Descriptors.

pub fn openat(dirfd: c_int, path: &CStr, flags: c_int, mode: libc::c_uint) -> SysResult<c_int> {
    // SAFETY: the path is NUL-terminated and outlives the call.
    Ok(check(unsafe { libc::openat(dirfd, path.as_ptr(), flags, mode) })? as c_int)
}

/// open(2) of a host path the monitor chose, read-only and close-on-exec.
pub fn open_readonly(path: &CStr) -> SysResult<c_int> {
    openat(libc::AT_FDCWD, path, libc::O_RDONLY | libc::O_CLOEXEC, 0)
}

/// close(2), reporting the host's error (EBADF for a descriptor that is not open).
pub fn close(raw: c_int) -> SysResult<()> {
    // SAFETY: closing by number affects only the descriptor table; the caller checked the
    // number is not one of the monitor's own, and no Rust object owns it.
    check(unsafe { libc::close(raw) }).map(drop)
}

/// Close a descriptor the monitor made and will not use again; a failure changes nothing.
pub fn close_quietly(raw: c_int) {
    let _ = close(raw);
}

/// The vectored read of a request: readv, or preadv at `offset`.
///
/// # Safety
/// Every iovec must name memory that is writable and stays mapped for the call (checked
/// guest RAM, from `GuestMemory::iovecs`).
pub unsafe fn read_vectored(raw: c_int, iov: &[libc::iovec], offset: Option<i64>) -> SysResult<i64> {
    let count = iov.len() as c_int;
    // SAFETY: the iovecs are valid (the caller's contract); count is their number.
    check(unsafe {
        match offset {
            None => libc::readv(raw, iov.as_ptr(), count),
            Some(off) => libc::preadv(raw, iov.as_ptr(), count, off as libc::off_t),
        }
    })
}

/// The vectored write of a request: writev, or pwritev at `offset`.
///
/// # Safety
/// Every iovec must name memory that is readable and stays mapped for the call (checked
/// guest RAM, from `GuestMemory::iovecs`).
pub unsafe fn write_vectored(raw: c_int, iov: &[libc::iovec], offset: Option<i64>) -> SysResult<i64> {
    let count = iov.len() as c_int;
    // SAFETY: the iovecs are valid (the caller's contract); count is their number.
    check(unsafe {
        match offset {
            None => libc::writev(raw, iov.as_ptr(), count),
            Some(off) => libc::pwritev(raw, iov.as_ptr(), count, off as libc::off_t),
        }
    })
}

/// read(2) or pread(2) into a host buffer.
pub fn read_into(raw: c_int, buf: &mut [u8], at: Option<i64>) -> SysResult<usize> {
    let n = match at {
        Some(off) => rx(rustix::io::pread(fd(raw)?, buf, off as u64))?,
        None => rx(rustix::io::read(fd(raw)?, buf))?,
    };
    Ok(n)
}

/// write(2) or pwrite(2) from a host buffer.
pub fn write_from(raw: c_int, buf: &[u8], at: Option<i64>) -> SysResult<usize> {
    let n = match at {
        Some(off) => rx(rustix::io::pwrite(fd(raw)?, buf, off as u64))?,
        None => rx(rustix::io::write(fd(raw)?, buf))?,
    };
    Ok(n)
}

/// lseek(2) with a host `whence` (SEEK_DATA and SEEK_HOLE included).
pub fn lseek(raw: c_int, offset: i64, whence: c_int) -> SysResult<i64> {
    // SAFETY: lseek takes no pointers.
    check(unsafe { libc::lseek(raw, offset as libc::off_t, whence) })
}

pub fn dup(raw: c_int) -> SysResult<c_int> {
    Ok(rx(rustix::io::dup(fd(raw)?))?.into_raw_fd())
}

/// dup2(2): `newfd` now names what `oldfd` names (the caller checked it is the program's).
pub fn dup2(oldfd: c_int, newfd: c_int) -> SysResult<c_int> {
    // SAFETY: dup2 takes no pointers.
    Ok(check(unsafe { libc::dup2(oldfd, newfd) })? as c_int)
}

/// F_DUPFD / F_DUPFD_CLOEXEC: the lowest free descriptor >= `min`.
pub fn dup_at_least(raw: c_int, min: c_int, cloexec: bool) -> SysResult<c_int> {
    if cloexec {
        return Ok(rx(rustix::io::fcntl_dupfd_cloexec(fd(raw)?, min))?.into_raw_fd());
    }
    // SAFETY: F_DUPFD takes an int. (Raw: rustix offers only the close-on-exec form.)
    Ok(check(unsafe { libc::fcntl(raw, libc::F_DUPFD, min) })? as c_int)
}

/// A close-on-exec duplicate of `fd` above the monitor's fd floor: the program's
/// descriptors lie below the floor, so the copy is one the program cannot name or clobber.
pub fn dup_above_floor(fd: impl AsFd, floor: c_int) -> std::io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd, floor)?)
}

/// `fd` moved above the monitor's fd floor (see `dup_above_floor`); its low number is
/// closed, giving it back to the program's range.
pub fn move_above_floor(fd: OwnedFd, floor: c_int) -> std::io::Result<OwnedFd> {
    dup_above_floor(fd.as_fd(), floor)
}

/// The host FD_* flags of a descriptor (F_GETFD).
pub fn fd_flags(raw: c_int) -> SysResult<c_int> {
    Ok(rx(rustix::io::fcntl_getfd(fd(raw)?))?.bits() as c_int)
}

/// F_SETFD with host FD_* flags.
pub fn set_fd_flags(raw: c_int, flags: c_int) -> SysResult<()> {
    rx(rustix::io::fcntl_setfd(fd(raw)?, rustix::io::FdFlags::from_bits_retain(flags as _)))
}

/// Set or clear FD_CLOEXEC on a descriptor the monitor made; a failure changes nothing.
pub fn set_cloexec_quietly(raw: c_int, cloexec: bool) {
    let _ = set_fd_flags(raw, if cloexec { libc::FD_CLOEXEC } else { 0 });
}

/// The host O_* status flags and access mode of a descriptor (F_GETFL).
pub fn status_flags(raw: c_int) -> SysResult<c_int> {
    // SAFETY: F_GETFL takes no argument. (Raw: the host's access mode bits are wanted
    // as the host numbers them, whatever rustix's OFlags would add.)
    Ok(check(unsafe { libc::fcntl(raw, libc::F_GETFL) })? as c_int)
}

/// F_SETFL with host O_* flags.
pub fn set_status_flags(raw: c_int, flags: c_int) -> SysResult<()> {
    // SAFETY: F_SETFL takes an int.
    check(unsafe { libc::fcntl(raw, libc::F_SETFL, flags) }).map(drop)
}

pub fn ftruncate(raw: c_int, length: i64) -> SysResult<()> {
    // SAFETY: ftruncate takes no pointers. (Raw: a negative length is the host's EINVAL.)
    check(unsafe { libc::ftruncate(raw, length as libc::off_t) }).map(drop)
}

pub fn truncate(path: &CStr, length: i64) -> SysResult<()> {
    // SAFETY: path is NUL-terminated and outlives the call.
    check(unsafe { libc::truncate(path.as_ptr(), length as libc::off_t) }).map(drop)
}

pub fn fsync(raw: c_int) -> SysResult<()> {
    rx(rustix::fs::fsync(fd(raw)?))
}

pub fn fchmod(raw: c_int, mode: libc::mode_t) -> SysResult<()> {
    rx(rustix::fs::fchmod(fd(raw)?, raw_mode(mode)))
}

/// fchown(2); `u32::MAX` leaves the id as it is.
pub fn fchown(raw: c_int, uid: u32, gid: u32) -> SysResult<()> {
    // SAFETY: fchown takes no pointers. (Raw: -1 ids mean "unchanged".)
    check(unsafe { libc::fchown(raw, uid, gid) }).map(drop)
}

pub fn fchdir(raw: c_int) -> SysResult<()> {
    rx(rustix::process::fchdir(fd(raw)?))
}

/// flock(2) with the operation bits as given (the host refuses a bad combination).
pub fn flock(raw: c_int, op: c_int) -> SysResult<()> {
    // SAFETY: flock takes an fd and an int.
    check(unsafe { libc::flock(raw, op) }).map(drop)
}

pub fn fstat(raw: c_int) -> SysResult<libc::stat> {
    // SAFETY: st is a valid out-pointer for one struct stat.
    out_struct(|st| unsafe { libc::fstat(raw, st) })
}

/// stat(2) of the working directory.
pub fn stat_cwd() -> SysResult<libc::stat> {
    // SAFETY: "." is NUL-terminated; st is a valid out-pointer.
    out_struct(|st| unsafe { libc::stat(c".".as_ptr(), st) })
}

pub fn fstatat(dirfd: c_int, path: &CStr, flags: c_int) -> SysResult<libc::stat> {
    // SAFETY: the path is NUL-terminated; st is a valid out-pointer for one struct stat.
    out_struct(|st| unsafe { libc::fstatat(dirfd, path.as_ptr(), st, flags) })
}

/// Whether two descriptors are open on the same file.
#[cfg_attr(target_os = "linux", allow(dead_code))] // Darwin's copy_file_range uses it.
pub fn same_file(a: c_int, b: c_int) -> SysResult<bool> {
    let (sa, sb) = (fstat(a)?, fstat(b)?);
    Ok(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
}

/// The type bits of a descriptor's file (its st_mode & S_IFMT).
pub fn file_type(raw: c_int) -> SysResult<libc::mode_t> {
    Ok(fstat(raw)?.st_mode & libc::S_IFMT)
}

// ---------------------------------------------------------------------------------------
// Paths.

pub fn mkdirat(dirfd: c_int, path: &CStr, mode: libc::mode_t) -> SysResult<()> {
    rx(rustix::fs::mkdirat(fd(dirfd)?, path, raw_mode(mode)))
}

pub fn unlinkat(dirfd: c_int, path: &CStr, flags: c_int) -> SysResult<()> {
    rx(rustix::fs::unlinkat(fd(dirfd)?, path, AtFlags::from_bits_retain(flags as _)))
}

pub fn renameat(olddirfd: c_int, oldpath: &CStr, newdirfd: c_int, newpath: &CStr) -> SysResult<()> {
    rx(rustix::fs::renameat(fd(olddirfd)?, oldpath, fd(newdirfd)?, newpath))
}

pub fn symlinkat(target: &CStr, newdirfd: c_int, linkpath: &CStr) -> SysResult<()> {
    rx(rustix::fs::symlinkat(target, fd(newdirfd)?, linkpath))
}

pub fn linkat(olddirfd: c_int, oldpath: &CStr, newdirfd: c_int, newpath: &CStr, flags: c_int) -> SysResult<()> {
    rx(rustix::fs::linkat(fd(olddirfd)?, oldpath, fd(newdirfd)?, newpath, AtFlags::from_bits_retain(flags as _)))
}

/// readlinkat(2) into a host buffer: the target's length (not NUL-terminated).
pub fn readlinkat(dirfd: c_int, path: &CStr, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: path is NUL-terminated; buf is a host buffer of buf.len() writable bytes.
    let r = unsafe { libc::readlinkat(dirfd, path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    Ok(check(r)? as usize)
}

pub fn fchmodat(dirfd: c_int, path: &CStr, mode: libc::mode_t) -> SysResult<()> {
    rx(rustix::fs::chmodat(fd(dirfd)?, path, raw_mode(mode), AtFlags::empty()))
}

/// fchownat(2); `u32::MAX` leaves the id as it is.
pub fn fchownat(dirfd: c_int, path: &CStr, uid: u32, gid: u32, flags: c_int) -> SysResult<()> {
    // SAFETY: path is NUL-terminated and outlives the call. (Raw: -1 ids mean "unchanged".)
    check(unsafe { libc::fchownat(dirfd, path.as_ptr(), uid, gid, flags) }).map(drop)
}

pub fn chdir(path: &CStr) -> SysResult<()> {
    rx(rustix::process::chdir(path))
}

/// The process's file mode creation mask is now `mask`; returns the previous one.
pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    rustix::process::umask(raw_mode(mask)).bits() as libc::mode_t
}

// ---------------------------------------------------------------------------------------
// Terminals.

/// TCGETS: the host's termios of a terminal.
pub fn tcgetattr(raw: c_int) -> SysResult<libc::termios> {
    // SAFETY: t is a valid out-pointer for one struct termios.
    out_struct(|t| unsafe { libc::tcgetattr(raw, t) })
}

/// TIOCGWINSZ.
pub fn window_size(raw: c_int) -> SysResult<libc::winsize> {
    // SAFETY: TIOCGWINSZ writes one struct winsize through the valid out-pointer ws.
    out_struct(|ws: *mut libc::winsize| unsafe { libc::ioctl(raw, libc::TIOCGWINSZ, ws) })
}

/// TIOCSWINSZ: `struct winsize` is the same on every host.
pub fn set_window_size(raw: c_int, ws: &libc::winsize) -> SysResult<()> {
    // SAFETY: TIOCSWINSZ reads one struct winsize from a valid pointer.
    check(unsafe { libc::ioctl(raw, libc::TIOCSWINSZ, ws) }).map(drop)
}

/// FIONREAD: how many bytes a read would return now.
pub fn bytes_readable(raw: c_int) -> SysResult<c_int> {
    let mut n: c_int = 0;
    // SAFETY: FIONREAD writes one int through the valid pointer.
    check(unsafe { libc::ioctl(raw, libc::FIONREAD, &mut n) })?;
    Ok(n)
}

/// TIOCGPGRP: the foreground process group of a terminal.
pub fn foreground_pgrp(raw: c_int) -> SysResult<libc::pid_t> {
    let mut pgrp: libc::pid_t = 0;
    // SAFETY: TIOCGPGRP writes one pid_t through the valid pointer.
    check(unsafe { libc::ioctl(raw, libc::TIOCGPGRP, &mut pgrp) })?;
    Ok(pgrp)
}

pub fn tcsetpgrp(raw: c_int, pgrp: libc::pid_t) -> SysResult<()> {
    // SAFETY: tcsetpgrp takes no pointers.
    check(unsafe { libc::tcsetpgrp(raw, pgrp) }).map(drop)
}

/// TIOCSCTTY: make the terminal the caller's controlling terminal (`steal` as the
/// program gave it: Linux steals only for 1).
pub fn set_controlling_tty(raw: c_int, steal: c_int) -> SysResult<()> {
    // libc types TIOCSCTTY differently on Darwin (u32) than ioctl's request (c_ulong).
    #[allow(clippy::unnecessary_cast)]
    const TIOCSCTTY: libc::c_ulong = libc::TIOCSCTTY as libc::c_ulong;
    // SAFETY: TIOCSCTTY takes an int argument, not a pointer.
    check(unsafe { libc::ioctl(raw, TIOCSCTTY, steal) }).map(drop)
}

/// TIOCNOTTY: give up the controlling terminal.
pub fn drop_controlling_tty(raw: c_int) -> SysResult<()> {
    // SAFETY: TIOCNOTTY takes no argument.
    check(unsafe { libc::ioctl(raw, libc::TIOCNOTTY) }).map(drop)
}

pub fn tcgetsid(raw: c_int) -> SysResult<libc::pid_t> {
    // SAFETY: tcgetsid takes no pointers.
    Ok(check(unsafe { libc::tcgetsid(raw) })? as libc::pid_t)
}

/// Run `call` with SIGTTOU blocked on this thread (restored after, before anything else
/// runs on the thread).
pub fn with_sigttou_blocked<T>(call: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: the same, for the old mask pthread_sigmask fills.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set and old are valid sigset_t; only this thread's mask changes, and it is
    // restored below.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
    }
    // A failing call inside reads errno before the mask is restored.
    let result = call();
    // SAFETY: old is the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    result
}

/// A host signal mask holding the given host signals.
pub fn sigset_of(signals: impl IntoIterator<Item = c_int>) -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is valid; sigemptyset/sigaddset fill it.
    let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: mask is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut mask) };
    for sig in signals {
        // SAFETY: as above; an invalid number is refused by sigaddset, changing nothing.
        unsafe { libc::sigaddset(&mut mask, sig) };
    }
    mask
}

// ---------------------------------------------------------------------------------------
// Polling, pipes, locks.

/// poll(2) over the given pollfds; returns how many are ready.
pub fn poll(pfds: &mut [libc::pollfd], timeout_ms: c_int) -> SysResult<i64> {
    // SAFETY: pfds is a valid array of pfds.len() pollfds for the duration of the call.
    check(unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) })
}

/// A pipe whose ends are owned by the caller.
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe()?)
}

// ---------------------------------------------------------------------------------------
// Processes.

pub fn getpid() -> libc::pid_t {
    rustix::process::getpid().as_raw_nonzero().get()
}

pub fn getpgrp() -> libc::pid_t {
    rustix::process::getpgrp().as_raw_nonzero().get()
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
pub fn getpriority(which: super::PriorityWhich, who: libc::id_t) -> SysResult<c_int> {
    set_errno(0);
    // SAFETY: getpriority takes no pointers.
    let nice = unsafe { libc::getpriority(which, who) };
    if nice == -1 && std::io::Error::last_os_error().raw_os_error().unwrap_or(0) != 0 {
        return Err(super::last_errno());
    }
    Ok(nice)
}

pub fn setpriority(which: super::PriorityWhich, who: libc::id_t, nice: c_int) -> SysResult<()> {
    // SAFETY: setpriority takes no pointers.
    check(unsafe { libc::setpriority(which, who, nice) }).map(drop)
}

pub fn getrusage(who: c_int) -> SysResult<libc::rusage> {
    // SAFETY: ru is a valid out-pointer for one struct rusage.
    out_struct(|ru| unsafe { libc::getrusage(who, ru) })
}

/// times(2): (clock ticks, the process's times). It cannot fail with a valid pointer, and
/// its result may legitimately look negative (it counts from an arbitrary point).
pub fn times() -> (libc::clock_t, libc::tms) {
    let mut tms = libc::tms { tms_utime: 0, tms_stime: 0, tms_cutime: 0, tms_cstime: 0 };
    // SAFETY: tms is a valid out-pointer.
    let ticks = unsafe { libc::times(&mut tms) };
    (ticks, tms)
}

/// One host nanosleep; false when a caught signal ended it early.
pub fn nanosleep(ns: u64) -> bool {
    let ts = libc::timespec {
        tv_sec: (ns / 1_000_000_000).min(i64::MAX as u64) as libc::time_t,
        tv_nsec: (ns % 1_000_000_000) as libc::c_long,
    };
    // SAFETY: a valid timespec; the remainder is not wanted.
    unsafe { libc::nanosleep(&ts, std::ptr::null_mut()) == 0 }
}

/// A host clock's time in nanoseconds.
pub fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: ts is a valid out-pointer for clock_gettime.
    unsafe { libc::clock_gettime(clock, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

// ---------------------------------------------------------------------------------------
// Temporary files.

/// `<temp dir>/<prefix>XXXXXX` as a NUL-terminated template for mkstemp/mkdtemp.
fn temp_template(prefix: &str) -> std::io::Result<Vec<u8>> {
    let mut path = std::env::temp_dir().join(format!("{prefix}XXXXXX")).as_os_str().as_bytes().to_vec();
    if path.len() >= libc::PATH_MAX as usize || path.contains(&0) {
        return Err(std::io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    path.push(0);
    Ok(path)
}

fn path_of_template(mut template: Vec<u8>) -> PathBuf {
    template.pop();
    PathBuf::from(std::ffi::OsString::from(std::ffi::OsStr::from_bytes(&template)))
}

/// What `create_temp` makes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempKind {
    /// A file, opened read-write and close-on-exec (mkstemp's mode 0600).
    #[cfg_attr(target_os = "linux", allow(dead_code))] // Darwin's memfds; tests.
    File,
    /// A directory (mode 0700).
    Dir,
}

/// Create a fresh, uniquely named file or directory in the host's temporary directory:
/// its path, and for a file the descriptor. The caller removes it (most remove it at once,
/// keeping only descriptors).
pub fn create_temp(prefix: &str, kind: TempKind) -> std::io::Result<(PathBuf, Option<OwnedFd>)> {
    let mut template = temp_template(prefix)?;
    match kind {
        TempKind::File => {
            // SAFETY: template is a writable NUL-terminated buffer ending in XXXXXX, which
            // mkstemp rewrites in place.
            let raw = unsafe { libc::mkstemp(template.as_mut_ptr().cast()) };
            if raw < 0 {
                return Err(std::io::Error::last_os_error());
            }
            // SAFETY: mkstemp made a new descriptor nothing else owns.
            let file = unsafe { OwnedFd::from_raw_fd(raw) };
            rustix::io::fcntl_setfd(&file, rustix::io::FdFlags::CLOEXEC)?;
            Ok((path_of_template(template), Some(file)))
        }
        TempKind::Dir => {
            // SAFETY: as above, for mkdtemp.
            if unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) }.is_null() {
                return Err(std::io::Error::last_os_error());
            }
            Ok((path_of_template(template), None))
        }
    }
}

/// A path as a C string for a host call.
pub fn c_string(path: &std::path::Path) -> SysResult<CString> {
    CString::new(path.as_os_str().as_bytes()).map_err(|_| errno::ENOENT as LinuxErrno)
}

/// A descriptor of a fresh empty directory that is removed at once: it stays valid, lists
/// nothing and leaves nothing behind.
pub fn open_removed_empty_dir(cloexec: bool) -> SysResult<c_int> {
    let io_errno = |e: std::io::Error| errno_to_linux(e.raw_os_error().unwrap_or(libc::EIO));
    let (path, _) = create_temp("linuxrun-procdir-", TempKind::Dir).map_err(io_errno)?;
    let cpath = c_string(&path)?;
    let flags = libc::O_RDONLY | libc::O_DIRECTORY | if cloexec { libc::O_CLOEXEC } else { 0 };
    let fd = openat(libc::AT_FDCWD, &cpath, flags, 0);
    let _ = rustix::fs::unlinkat(rustix::fs::CWD, cpath.as_c_str(), AtFlags::REMOVEDIR);
    fd
}

// ---------------------------------------------------------------------------------------
// Extended attributes: what a path- or fd-named xattr call acts on.

/// The host object of an xattr call: a descriptor, or a path (following a final symlink
/// or not).
pub enum XattrTarget {
    Fd(c_int),
    Path(CString, bool),
}

// ---------------------------------------------------------------------------------------
// Copies through a host buffer: Darwin's sendfile only sends files to sockets and it has
// no copy_file_range. Compiled everywhere so that Linux tests exercise it.

/// Host buffer size of an emulated copy.
const COPY_BUFFER: usize = 128 * 1024;

/// Copy up to `count` bytes from `fd_in` to `fd_out` through a host buffer: at the given
/// offsets with pread/pwrite (file positions untouched), else at the file positions.
/// Ends at end of input, a short read (a pipe with nothing more now) or a short write;
/// an error after some bytes ends the copy with what was done, as Linux's copies do. Bytes
/// read from a file position but not written are given back with lseek (a pipe's are lost
/// then, which only a failing write causes).
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub fn copy_through_buffer(
    fd_in: c_int,
    off_in: Option<i64>,
    fd_out: c_int,
    off_out: Option<i64>,
    count: u64,
) -> SysResult<i64> {
    if off_in.is_some_and(|o| o < 0) || off_out.is_some_and(|o| o < 0) {
        return Err(EINVAL);
    }
    let mut buf = vec![0u8; COPY_BUFFER.min(count as usize).max(1)];
    let mut done: u64 = 0;
    while done < count {
        let want = (count - done).min(buf.len() as u64) as usize;
        let got = match read_into(fd_in, &mut buf[..want], off_in.map(|o| o + done as i64)) {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        let mut written = 0usize;
        while written < got {
            let at = off_out.map(|o| o + (done + written as u64) as i64);
            match write_from(fd_out, &buf[written..got], at) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if done == 0 && written == 0 => {
                    give_back(fd_in, off_in, got);
                    return Err(e);
                }
                Err(_) => break,
            }
        }
        done += written as u64;
        if written < got {
            give_back(fd_in, off_in, got - written);
            break;
        }
        if got < want {
            break;
        }
    }
    Ok(done as i64)
}

/// Move `fd_in`'s position back over `n` bytes read but not written (nothing to do when
/// it was read at an explicit offset).
fn give_back(fd_in: c_int, off_in: Option<i64>, n: usize) {
    if off_in.is_none() && n > 0 {
        // On a pipe it fails harmlessly.
        let _ = lseek(fd_in, -(n as i64), libc::SEEK_CUR);
    }
}
