//! Darwin (macOS) host personality: the same functions as `linux.rs`, translating with
//! the tables of `darwin_tables.rs` (plain data, unit-tested on Linux and checked at
//! compile time against the `libc` crate's macOS constants).
//!
//! Never run on a Mac so far: it type-checks with `cargo clippy --target
//! x86_64-apple-darwin` (which also evaluates the compile-time checks), and the table
//! logic is tested on Linux; the struct copies below are checked for layout at compile time.

use abi_shared::hypercall::{LinuxRusage, LinuxTms};
use abi_shared::linux::{LinuxStat, LinuxStatfs, LinuxStatx, LinuxTermios, LinuxWinsize};
use libc::{c_int, c_uint, mode_t};

use super::darwin_tables as t;
use super::LinuxErrno;

// The layouts the conversions below assume (x86_64 and arm64 macOS alike).
const _: () = assert!(std::mem::size_of::<libc::stat>() == 144);
const _: () = assert!(std::mem::offset_of!(libc::stat, st_ino) == 8);
const _: () = assert!(std::mem::offset_of!(libc::stat, st_size) == 96);
const _: () = assert!(std::mem::size_of::<libc::termios>() == 72);
const _: () = assert!(std::mem::offset_of!(libc::termios, c_cc) == 32);
const _: () = assert!(std::mem::offset_of!(libc::termios, c_ispeed) == 56);
const _: () = assert!(std::mem::size_of::<libc::winsize>() == 8);
const _: () =
    assert!(libc::FD_CLOEXEC == 1 && libc::F_OK == 0 && libc::R_OK == 4 && libc::W_OK == 2 && libc::X_OK == 1);
const _: () = assert!(libc::S_IFMT == 0o170000 && libc::S_IFLNK == 0o120000 && libc::S_IFSOCK == 0o140000);

const _: () = assert!(std::mem::size_of::<libc::fsid_t>() == 8);

const EINVAL: LinuxErrno = t::lerr::EINVAL;

/// The statx fields `statx_to_linux` fills (from `stat`, with `st_birthtime`).
pub const STATX_CARRIED_MASK: u32 = t::STATX_FROM_STAT;

/// A host errno as Linux numbers it.
pub fn errno_to_linux(host_errno: c_int) -> LinuxErrno {
    t::errno_darwin_to_linux(host_errno)
}

/// AT_FDCWD (-100 on Linux, -2 on Darwin); other negative dirfds are EBADF.
pub fn dirfd_to_host(linux_dirfd: i32) -> Result<c_int, LinuxErrno> {
    if linux_dirfd == t::LINUX_AT_FDCWD {
        Ok(libc::AT_FDCWD)
    } else if linux_dirfd < 0 {
        Err(t::lerr::EBADF)
    } else {
        Ok(linux_dirfd)
    }
}

/// open/openat flags, F_SETFL's argument and dup3's flags.
pub fn open_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    t::open_flags_to_darwin(linux_flags)
}

/// F_GETFL's result.
pub fn open_flags_to_linux(host_flags: c_int) -> i32 {
    t::open_flags_to_linux(host_flags)
}

/// F_SETFD's argument: FD_CLOEXEC is 1 on both. Other bits are dropped, as Linux's
/// F_SETFD ignores them.
pub fn fd_flags_to_host(linux_flags: i32) -> c_int {
    linux_flags & 1
}

pub fn fd_flags_to_linux(host_flags: c_int) -> i32 {
    host_flags & 1
}

/// File type and permission bits are numbered alike.
pub fn mode_to_host(linux_mode: u32) -> mode_t {
    (linux_mode & 0o177777) as mode_t
}

/// mknod's device number (Linux's 32-bit encoding) as Darwin's `dev_t` (major in the top 8
/// bits, minor in the low 24): EINVAL for a major Darwin cannot express.
pub fn dev_to_host(linux_dev: u32) -> Result<libc::dev_t, LinuxErrno> {
    let (major, minor) = abi_shared::linux::decode_dev32(linux_dev);
    if major > 0xff {
        return Err(EINVAL);
    }
    Ok(((major << 24) | minor) as libc::dev_t)
}

pub fn mode_to_linux(host_mode: mode_t) -> u32 {
    t::mode_to_linux(host_mode)
}

/// openat's mode, as the variadic argument (promoted to int).
pub fn open_mode_to_host(linux_mode: u32) -> c_uint {
    linux_mode & 0o7777
}

pub fn seek_whence_to_host(linux_whence: u32) -> Result<c_int, LinuxErrno> {
    t::to_darwin(t::SEEK_WHENCE, i64::from(linux_whence)).map(|d| d as c_int).ok_or(EINVAL)
}

/// newfstatat's flags. AT_EMPTY_PATH is refused (Darwin's fstatat has no such flag).
pub fn stat_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    t::at_flags_to_darwin(linux_flags, &[t::AT_NOFOLLOW], t::AT_NO_AUTOMOUNT)
}

/// statx's flags, for the fstatat that stands in for statx.
pub fn statx_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    t::at_flags_to_darwin(linux_flags, &[t::AT_NOFOLLOW], t::AT_NO_AUTOMOUNT | t::AT_STATX_SYNC)
}

/// statx's mask: any request is answered with what `stat` has (the mask reports it).
pub fn statx_mask_to_host(linux_mask: u32) -> Result<c_uint, LinuxErrno> {
    if linux_mask & 0x8000_0000 != 0 {
        // STATX__RESERVED: Linux answers EINVAL.
        return Err(EINVAL);
    }
    Ok(linux_mask)
}

pub fn unlink_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    t::at_flags_to_darwin(linux_flags, &[t::AT_REMOVEDIR_ROW], 0)
}

/// renameat2's flags as renameatx_np's.
pub fn rename_flags_to_host(linux_flags: u32) -> Result<c_uint, LinuxErrno> {
    t::bits_to_darwin(t::RENAME_FLAGS, i64::from(linux_flags)).map(|d| d as c_uint).map_err(|_| EINVAL)
}

/// F_OK, R_OK, W_OK, X_OK are numbered alike.
pub fn access_mode_to_host(linux_mode: i32) -> Result<c_int, LinuxErrno> {
    if linux_mode & !7 != 0 {
        Err(EINVAL)
    } else {
        Ok(linux_mode)
    }
}

pub fn access_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    t::at_flags_to_darwin(linux_flags, &[t::AT_EACCESS_ROW, t::AT_NOFOLLOW], 0)
}

/// pipe2's flags as Darwin open flags (O_CLOEXEC, O_NONBLOCK), which the server applies
/// with fcntl after pipe(). O_DIRECT (packet pipes) does not exist on Darwin: EINVAL.
pub fn pipe_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    const ALLOWED: i32 = 0x80000 | 0x800; // O_CLOEXEC | O_NONBLOCK
    if linux_flags & !ALLOWED != 0 {
        return Err(EINVAL);
    }
    t::open_flags_to_darwin(linux_flags)
}

pub fn link_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    t::at_flags_to_darwin(linux_flags, &[t::AT_FOLLOW], 0)
}

pub fn utimensat_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    t::at_flags_to_darwin(linux_flags, &[t::AT_NOFOLLOW], 0)
}

/// UTIME_NOW / UTIME_OMIT have other values on Darwin (-1, -2).
pub fn utime_nsec_to_host(linux_nsec: i64) -> libc::c_long {
    t::UTIME_SPECIAL.iter().find(|r| r.linux == linux_nsec).map_or(linux_nsec, |r| r.darwin)
}

pub fn chown_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    t::at_flags_to_darwin(linux_flags, &[t::AT_NOFOLLOW], 0)
}

/// RUSAGE_THREAD has no Darwin counterpart: EINVAL.
pub fn rusage_who_to_host(linux_who: i32) -> Result<c_int, LinuxErrno> {
    t::to_darwin(t::RUSAGE_WHO, i64::from(linux_who)).map(|d| d as c_int).ok_or(EINVAL)
}

/// Darwin reports ru_maxrss in bytes, Linux in kilobytes.
pub fn rusage_to_linux(ru: &libc::rusage) -> LinuxRusage {
    LinuxRusage {
        ru_utime: [ru.ru_utime.tv_sec, i64::from(ru.ru_utime.tv_usec)],
        ru_stime: [ru.ru_stime.tv_sec, i64::from(ru.ru_stime.tv_usec)],
        ru_maxrss: ru.ru_maxrss / 1024,
        ru_ixrss: ru.ru_ixrss,
        ru_idrss: ru.ru_idrss,
        ru_isrss: ru.ru_isrss,
        ru_minflt: ru.ru_minflt,
        ru_majflt: ru.ru_majflt,
        ru_nswap: ru.ru_nswap,
        ru_inblock: ru.ru_inblock,
        ru_oublock: ru.ru_oublock,
        ru_msgsnd: ru.ru_msgsnd,
        ru_msgrcv: ru.ru_msgrcv,
        ru_nsignals: ru.ru_nsignals,
        ru_nvcsw: ru.ru_nvcsw,
        ru_nivcsw: ru.ru_nivcsw,
    }
}

/// times() counts CLK_TCK = 100 ticks per second on Darwin, Linux's USER_HZ.
#[allow(clippy::unnecessary_cast)]
pub fn clock_ticks_to_linux(ticks: libc::clock_t) -> i64 {
    ticks as i64
}

pub fn tms_to_linux(tms: &libc::tms) -> LinuxTms {
    LinuxTms {
        tms_utime: clock_ticks_to_linux(tms.tms_utime),
        tms_stime: clock_ticks_to_linux(tms.tms_stime),
        tms_cutime: clock_ticks_to_linux(tms.tms_cutime),
        tms_cstime: clock_ticks_to_linux(tms.tms_cstime),
    }
}

/// A Darwin scheduling policy in Linux's numbering (an unknown one reads as SCHED_OTHER).
pub fn sched_policy_to_linux(host_policy: c_int) -> i32 {
    t::to_linux(t::SCHED_POLICY, i64::from(host_policy)).unwrap_or(0) as i32
}

fn darwin_stat(st: &libc::stat) -> t::DarwinStat {
    t::DarwinStat {
        dev: st.st_dev,
        mode: st.st_mode,
        nlink: st.st_nlink,
        ino: st.st_ino,
        uid: st.st_uid,
        gid: st.st_gid,
        rdev: st.st_rdev,
        atime: (st.st_atime, st.st_atime_nsec),
        mtime: (st.st_mtime, st.st_mtime_nsec),
        ctime: (st.st_ctime, st.st_ctime_nsec),
        birthtime: (st.st_birthtime, st.st_birthtime_nsec),
        size: st.st_size,
        blocks: st.st_blocks,
        blksize: st.st_blksize,
    }
}

/// `struct stat` as x86_64 Linux lays it out (device numbers re-encoded).
pub fn stat_to_linux(st: &libc::stat) -> LinuxStat {
    t::stat_to_linux(&darwin_stat(st))
}

/// statx from Darwin's stat: the basic fields and the birth time.
pub fn statx_to_linux(st: &libc::stat) -> LinuxStatx {
    t::statx_to_linux(&darwin_stat(st))
}

fn darwin_termios(tio: &libc::termios) -> t::DarwinTermios {
    t::DarwinTermios {
        c_iflag: tio.c_iflag,
        c_oflag: tio.c_oflag,
        c_cflag: tio.c_cflag,
        c_lflag: tio.c_lflag,
        c_cc: tio.c_cc,
        c_ispeed: tio.c_ispeed,
        c_ospeed: tio.c_ospeed,
    }
}

/// TIOCGETA's termios as the kernel's TCGETS one.
pub fn termios_to_linux(tio: &libc::termios) -> LinuxTermios {
    t::termios_to_linux(&darwin_termios(tio))
}

/// TCSETS's termios as Darwin's (for TIOCSETA); what Darwin cannot express is EINVAL.
pub fn termios_to_host(linux: &LinuxTermios) -> Result<libc::termios, LinuxErrno> {
    let d = t::termios_to_darwin(linux)?;
    Ok(libc::termios {
        c_iflag: d.c_iflag,
        c_oflag: d.c_oflag,
        c_cflag: d.c_cflag,
        c_lflag: d.c_lflag,
        c_cc: d.c_cc,
        c_ispeed: d.c_ispeed,
        c_ospeed: d.c_ospeed,
    })
}

/// `struct winsize` is the same on both.
pub fn winsize_to_linux(ws: &libc::winsize) -> LinuxWinsize {
    LinuxWinsize { ws_row: ws.ws_row, ws_col: ws.ws_col, ws_xpixel: ws.ws_xpixel, ws_ypixel: ws.ws_ypixel }
}

/// A Linux signal number as Darwin numbers it. SIGSTKFLT, SIGPWR and the real-time
/// signals have no Darwin counterpart; they become SIGKILL (used only to end linuxrun the
/// way the program ended, where any uncatchable death is the nearest).
pub fn signal_to_host(linux_sig: i32) -> c_int {
    t::signal_to_darwin(linux_sig).unwrap_or(libc::SIGKILL)
}

/// The Darwin signal a Linux signal is caught as, or `None` (SIGKILL, SIGSTOP, and the
/// signals Darwin lacks: SIGSTKFLT, SIGPWR, the real-time ones).
pub fn host_signal_of(linux_sig: i32) -> Option<c_int> {
    t::signal_to_darwin(linux_sig).filter(|&d| d != libc::SIGKILL && d != libc::SIGSTOP)
}

/// sigqueue to another process: Darwin has no queued signals, so a plain kill (the value
/// and code are lost).
pub fn sigqueue(pid: i32, sig: c_int, _code: i32, _value: u64) -> c_int {
    // SAFETY: kill takes no pointers.
    unsafe { libc::kill(pid, sig) }
}

/// The Linux signal a Darwin signal is, or `None` (SIGEMT, SIGINFO).
pub fn linux_signal_of(host_sig: c_int) -> Option<i32> {
    t::signal_to_linux(host_sig)
}

/// Darwin's si_code in Linux's terms: SI_USER, SI_QUEUE, SI_TIMER, SI_MESGQ and SI_ASYNCIO
/// are 0x10001..=0x10005 there, 0 and -1..=-4 on Linux; other codes come from the kernel.
pub fn si_code_to_linux(code: c_int) -> i32 {
    t::si_code_to_linux(code)
}

/// Rewrite the Darwin directory records in `host` into Linux `linux_dirent64` records in
/// `out`; returns (bytes written, bytes of `host` consumed).
pub fn dirents_to_linux(host: &[u8], out: &mut [u8]) -> (usize, usize) {
    t::darwin_dirents_to_linux(host, out)
}

/// The host's number for a Linux resource limit, or `None` where Darwin has no such limit
/// (RLIMIT_LOCKS, SIGPENDING, MSGQUEUE, NICE, RTPRIO, RTTIME).
pub fn rlimit_resource_to_host(linux_resource: u32) -> Option<c_int> {
    t::to_darwin(t::RLIMIT_RESOURCES, i64::from(linux_resource)).map(|d| d as c_int)
}

/// A host rlimit value in Linux's terms (Darwin's RLIM_INFINITY is 2^63 - 1).
pub fn rlim_to_linux(host: u64) -> u64 {
    t::rlim_to_linux(host)
}

/// `struct statfs` as Linux has it: f_type from the file system's name, ST_* flags.
pub fn statfs_to_linux(st: &libc::statfs) -> LinuxStatfs {
    // SAFETY: fsid_t is two 32-bit integers (size checked above); its field is private.
    let fsid: [i32; 2] = unsafe { std::mem::transmute(st.f_fsid) };
    let mut fstypename = [0u8; 16];
    for (d, s) in fstypename.iter_mut().zip(st.f_fstypename.iter()) {
        *d = *s as u8;
    }
    t::statfs_to_linux(&t::DarwinStatfs {
        bsize: st.f_bsize,
        blocks: st.f_blocks,
        bfree: st.f_bfree,
        bavail: st.f_bavail,
        files: st.f_files,
        ffree: st.f_ffree,
        fsid,
        flags: st.f_flags,
        fstypename,
    })
}

/// A Linux xattr name as Darwin's (only "user.NAME" has one: NAME).
pub fn xattr_name_to_host(linux_name: &[u8]) -> Result<&[u8], LinuxErrno> {
    t::xattr_name_to_darwin(linux_name)
}

/// Darwin xattr options for Linux setxattr flags, XATTR_NOFOLLOW unless following.
pub fn xattr_options_to_host(linux_flags: i32, follow: bool) -> Result<c_int, LinuxErrno> {
    t::xattr_options_to_darwin(linux_flags, follow)
}

/// Darwin's name list as Linux lists it ("user." before each name).
pub fn xattr_list_to_linux(host_list: &[u8]) -> Vec<u8> {
    t::xattr_list_to_linux(host_list)
}

/// fallocate's arguments and mode: whether to keep the size (FALLOC_FL_KEEP_SIZE).
pub fn fallocate_mode_to_host(linux_mode: i32, offset: i64, len: i64) -> Result<bool, LinuxErrno> {
    t::fallocate_mode_to_darwin(linux_mode, offset, len)
}

/// fadvise64's checks (the advice is only a hint, not passed on).
pub fn fadvise_check(is_fifo: bool, len: i64, linux_advice: i32) -> Result<(), LinuxErrno> {
    t::fadvise_check(is_fifo, len, linux_advice)
}

/// memfd_create's flags: whether the stand-in file is close-on-exec.
pub fn memfd_flags_to_host(linux_flags: u32) -> Result<bool, LinuxErrno> {
    t::memfd_flags_to_darwin(linux_flags)
}

// ---------------------------------------------------------------------------------------
// processes: wait and kill

/// wait4/waitid options (Darwin numbers WCONTINUED and WNOWAIT differently).
pub fn wait_options_to_host(linux: i32) -> Result<c_int, LinuxErrno> {
    t::wait_options_to_darwin(linux)
}

/// A Darwin wait status in Linux's encoding (signal numbers and "continued" differ).
pub fn wait_status_to_linux(host: c_int) -> i32 {
    t::wait_status_to_linux(host)
}

/// waitid's idtype; Darwin has no P_PIDFD.
pub fn idtype_to_host(linux: i32) -> Result<libc::idtype_t, LinuxErrno> {
    match linux {
        0 => Ok(libc::P_ALL),
        1 => Ok(libc::P_PID),
        2 => Ok(libc::P_PGID),
        _ => Err(abi_shared::linux::errno::EINVAL as LinuxErrno),
    }
}

/// The SIGCHLD fields of Darwin's siginfo in Linux numbers: the CLD_* codes are alike, the
/// signal numbers (si_signo, and si_status when a signal ended the child) are not.
pub fn wait_info_to_linux(si: &libc::siginfo_t) -> abi_shared::hypercall::WaitInfo {
    let sig = |d: i32| t::signal_to_linux(d).unwrap_or(d);
    const CLD_EXITED: i32 = 1;
    let status = if si.si_code == CLD_EXITED { si.si_status } else { sig(si.si_status) };
    abi_shared::hypercall::WaitInfo {
        signo: if si.si_signo == 0 { 0 } else { sig(si.si_signo) },
        code: si.si_code,
        pid: si.si_pid,
        uid: si.si_uid,
        status,
    }
}

/// A Linux signal number for kill(2); one Darwin lacks is EINVAL.
pub fn kill_signal_to_host(linux_sig: i32) -> Result<c_int, LinuxErrno> {
    if linux_sig == 0 {
        return Ok(0);
    }
    t::signal_to_darwin(linux_sig).ok_or(abi_shared::linux::errno::EINVAL as LinuxErrno)
}

// ---------------------------------------------------------------------------------------
// scheduling priority

/// The C library's type for getpriority/setpriority's `which`.
pub type PriorityWhich = c_int;

/// getpriority/setpriority's `which`: Darwin numbers PRIO_PROCESS, PRIO_PGRP and PRIO_USER
/// as Linux does; its own PRIO_DARWIN_* are not Linux's.
pub fn priority_which_to_host(linux: i32) -> Result<PriorityWhich, LinuxErrno> {
    match linux {
        0 => Ok(libc::PRIO_PROCESS),
        1 => Ok(libc::PRIO_PGRP),
        2 => Ok(libc::PRIO_USER),
        _ => Err(EINVAL),
    }
}
