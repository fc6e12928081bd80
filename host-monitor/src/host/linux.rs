//! Linux host personality: the host speaks the guest's ABI, so conversions are identities.
//!
//! What makes the identity true is checked at compile time below: every Linux constant a
//! request may carry (from `linux-raw-sys`, the guest's view) must equal the `libc` crate's
//! constant of the same name (the host's view). A host where they differ (a Linux host of
//! another architecture, where e.g. O_DIRECTORY has another value) fails to build here
//! instead of silently passing wrong flags.
//!
//! Flag conversions pass unknown bits through unchanged: the host kernel validates them
//! exactly as it does for a native program, which is what differential tests compare.

use abi_shared::hypercall::{LinuxRusage, LinuxSysinfo, LinuxTms};
use abi_shared::linux::{errno as lxe, general as lx, LinuxStatx, LinuxTermios, LinuxWinsize, StatxTimestamp};
use libc::{c_int, c_uint, mode_t};

use super::LinuxErrno;

/// Assert at compile time that each named constant has the same value in `libc` (host) and
/// in the given Linux module (guest).
macro_rules! same_value {
    ($linux:ident: $($name:ident),* $(,)?) => {
        $(
            const _: () = assert!(
                libc::$name as i64 == $linux::$name as i64,
                concat!("host and Linux disagree on ", stringify!($name)),
            );
        )*
    };
}

same_value!(lx:
    O_RDONLY, O_WRONLY, O_RDWR, O_ACCMODE, O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC, O_APPEND,
    O_NONBLOCK, O_DSYNC, O_SYNC, O_DIRECT, O_DIRECTORY, O_NOFOLLOW, O_NOATIME, O_CLOEXEC,
    O_PATH, O_TMPFILE,
    FD_CLOEXEC, F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC,
    AT_FDCWD, AT_SYMLINK_NOFOLLOW, AT_SYMLINK_FOLLOW, AT_REMOVEDIR, AT_EACCESS,
    AT_NO_AUTOMOUNT, AT_EMPTY_PATH, AT_STATX_SYNC_AS_STAT, AT_STATX_FORCE_SYNC,
    AT_STATX_DONT_SYNC,
    SEEK_SET, SEEK_CUR, SEEK_END, SEEK_DATA, SEEK_HOLE,
    RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT,
    F_OK, R_OK, W_OK, X_OK,
    S_IFMT, S_IFSOCK, S_IFLNK, S_IFREG, S_IFBLK, S_IFDIR, S_IFCHR, S_IFIFO,
    S_ISUID, S_ISGID, S_ISVTX,
    STATX_TYPE, STATX_MODE, STATX_NLINK, STATX_UID, STATX_GID, STATX_ATIME, STATX_MTIME,
    STATX_CTIME, STATX_INO, STATX_SIZE, STATX_BLOCKS, STATX_BASIC_STATS, STATX_BTIME,
    STATX_MNT_ID, STATX_DIOALIGN, STATX_ALL,
    UTIME_NOW, UTIME_OMIT, F_GETPIPE_SZ, F_SETPIPE_SZ,
    RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD,
);

// statfs is served with the raw syscalls straight into `LinuxStatfs`: the host kernel's
// struct must be the guest's (true on every 64-bit Linux).
const _: () = assert!(std::mem::size_of::<libc::statfs>() == std::mem::size_of::<abi_shared::linux::LinuxStatfs>());

// Linux's uapi headers call O_ASYNC FASYNC.
const _: () = assert!(libc::O_ASYNC as i64 == lx::FASYNC as i64);

same_value!(lxe:
    EPERM, ENOENT, ESRCH, EINTR, EIO, ENXIO, E2BIG, ENOEXEC, EBADF, ECHILD, EAGAIN, ENOMEM,
    EACCES, EFAULT, ENOTBLK, EBUSY, EEXIST, EXDEV, ENODEV, ENOTDIR, EISDIR, EINVAL, ENFILE,
    EMFILE, ENOTTY, ETXTBSY, EFBIG, ENOSPC, ESPIPE, EROFS, EMLINK, EPIPE, EDOM, ERANGE,
    EDEADLK, ENAMETOOLONG, ENOLCK, ENOSYS, ENOTEMPTY, ELOOP, ENOMSG, EIDRM, ENOSTR, ENODATA,
    ETIME, ENOSR, ENOLINK, EPROTO, EBADMSG, EOVERFLOW, EILSEQ, EUSERS, ENOTSOCK,
    EDESTADDRREQ, EMSGSIZE, EPROTOTYPE, ENOPROTOOPT, EPROTONOSUPPORT, ESOCKTNOSUPPORT,
    EOPNOTSUPP, EPFNOSUPPORT, EAFNOSUPPORT, EADDRINUSE, EADDRNOTAVAIL, ENETDOWN,
    ENETUNREACH, ENETRESET, ECONNABORTED, ECONNRESET, ENOBUFS, EISCONN, ENOTCONN, ESHUTDOWN,
    ETOOMANYREFS, ETIMEDOUT, ECONNREFUSED, EHOSTDOWN, EHOSTUNREACH, EALREADY, EINPROGRESS,
    ESTALE, EDQUOT, ECANCELED, EOWNERDEAD, ENOTRECOVERABLE, ENOKEY, EKEYEXPIRED,
    EKEYREVOKED, EKEYREJECTED, ERFKILL, EHWPOISON,
);

/// The statx fields `LinuxStatx` carries. Newer kernels fill more (STATX_SUBVOL,
/// STATX_WRITE_ATOMIC...) in what `LinuxStatx` still calls `spare3`; their mask bits are
/// cleared so that the program never reads a field we did not copy.
pub const STATX_CARRIED_MASK: u32 =
    lx::STATX_BASIC_STATS | lx::STATX_BTIME | lx::STATX_MNT_ID | lx::STATX_DIOALIGN | lx::STATX_MNT_ID_UNIQUE;

/// A host errno as Linux numbers it.
pub fn errno_to_linux(host_errno: c_int) -> LinuxErrno {
    host_errno
}

/// The host dirfd for a Linux `dirfd` argument: AT_FDCWD becomes the host's AT_FDCWD, any
/// other negative value is EBADF (so it cannot alias the host's AT_FDCWD).
pub fn dirfd_to_host(linux_dirfd: i32) -> Result<c_int, LinuxErrno> {
    if linux_dirfd == lx::AT_FDCWD {
        Ok(libc::AT_FDCWD)
    } else if linux_dirfd < 0 {
        Err(lxe::EBADF as LinuxErrno)
    } else {
        Ok(linux_dirfd)
    }
}

/// open/openat flags, also F_SETFL's argument and dup3's flags.
pub fn open_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_flags)
}

/// F_GETFL's result.
pub fn open_flags_to_linux(host_flags: c_int) -> i32 {
    host_flags
}

/// F_SETFD's argument (FD_CLOEXEC).
pub fn fd_flags_to_host(linux_flags: i32) -> c_int {
    linux_flags
}

/// F_GETFD's result.
pub fn fd_flags_to_linux(host_flags: c_int) -> i32 {
    host_flags
}

/// A mode for mkdirat, fchmod(at) and umask: file type and permission bits.
pub fn mode_to_host(linux_mode: u32) -> mode_t {
    linux_mode
}

/// mknod's device number (Linux's 32-bit encoding) as the host's `dev_t`.
pub fn dev_to_host(linux_dev: u32) -> Result<libc::dev_t, LinuxErrno> {
    let (major, minor) = abi_shared::linux::decode_dev32(linux_dev);
    Ok(rustix::fs::makedev(major, minor))
}

/// A mode the host reports (umask's previous mask).
pub fn mode_to_linux(host_mode: mode_t) -> u32 {
    host_mode
}

/// openat's mode, in the type a variadic C argument needs.
pub fn open_mode_to_host(linux_mode: u32) -> c_uint {
    linux_mode
}

/// lseek's whence (SEEK_SET/CUR/END/DATA/HOLE).
pub fn seek_whence_to_host(linux_whence: u32) -> Result<c_int, LinuxErrno> {
    c_int::try_from(linux_whence).map_err(|_| lxe::EINVAL as LinuxErrno)
}

/// newfstatat's flags (AT_SYMLINK_NOFOLLOW, AT_NO_AUTOMOUNT, AT_EMPTY_PATH).
pub fn stat_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_flags)
}

/// statx's flags (newfstatat's plus AT_STATX_*_SYNC).
pub fn statx_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_flags)
}

/// statx's mask of wanted fields.
pub fn statx_mask_to_host(linux_mask: u32) -> Result<c_uint, LinuxErrno> {
    Ok(linux_mask)
}

/// unlinkat's flags (AT_REMOVEDIR).
pub fn unlink_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_flags)
}

/// renameat2's flags (RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT).
pub fn rename_flags_to_host(linux_flags: u32) -> Result<c_uint, LinuxErrno> {
    Ok(linux_flags)
}

/// faccessat's mode (F_OK or R_OK|W_OK|X_OK).
pub fn access_mode_to_host(linux_mode: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_mode)
}

/// faccessat2's flags (AT_EACCESS, AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH).
pub fn access_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_flags)
}

/// pipe2's flags (O_CLOEXEC, O_NONBLOCK, O_DIRECT); the host rejects the rest.
pub fn pipe_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_flags)
}

/// linkat's flags (AT_SYMLINK_FOLLOW, AT_EMPTY_PATH).
pub fn link_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_flags)
}

/// utimensat's flags (AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH).
pub fn utimensat_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_flags)
}

/// A utimensat `tv_nsec`: nanoseconds, or UTIME_NOW / UTIME_OMIT.
pub fn utime_nsec_to_host(linux_nsec: i64) -> libc::c_long {
    linux_nsec
}

/// fchownat's flags (AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH).
pub fn chown_flags_to_host(linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_flags)
}

/// getrusage's `who` (RUSAGE_SELF, RUSAGE_CHILDREN, RUSAGE_THREAD).
pub fn rusage_who_to_host(linux_who: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_who)
}

/// `struct rusage` as x86_64 Linux lays it out.
// The casts are identities on x86_64 hosts.
#[allow(clippy::unnecessary_cast)]
pub fn rusage_to_linux(ru: &libc::rusage) -> LinuxRusage {
    LinuxRusage {
        ru_utime: [ru.ru_utime.tv_sec as i64, ru.ru_utime.tv_usec as i64],
        ru_stime: [ru.ru_stime.tv_sec as i64, ru.ru_stime.tv_usec as i64],
        ru_maxrss: ru.ru_maxrss as i64,
        ru_ixrss: ru.ru_ixrss as i64,
        ru_idrss: ru.ru_idrss as i64,
        ru_isrss: ru.ru_isrss as i64,
        ru_minflt: ru.ru_minflt as i64,
        ru_majflt: ru.ru_majflt as i64,
        ru_nswap: ru.ru_nswap as i64,
        ru_inblock: ru.ru_inblock as i64,
        ru_oublock: ru.ru_oublock as i64,
        ru_msgsnd: ru.ru_msgsnd as i64,
        ru_msgrcv: ru.ru_msgrcv as i64,
        ru_nsignals: ru.ru_nsignals as i64,
        ru_nvcsw: ru.ru_nvcsw as i64,
        ru_nivcsw: ru.ru_nivcsw as i64,
    }
}

/// A count of clock ticks (times()); the host's tick is Linux's USER_HZ.
#[allow(clippy::unnecessary_cast)]
pub fn clock_ticks_to_linux(ticks: libc::clock_t) -> i64 {
    ticks as i64
}

/// `struct tms`.
pub fn tms_to_linux(t: &libc::tms) -> LinuxTms {
    LinuxTms {
        tms_utime: clock_ticks_to_linux(t.tms_utime),
        tms_stime: clock_ticks_to_linux(t.tms_stime),
        tms_cutime: clock_ticks_to_linux(t.tms_cutime),
        tms_cstime: clock_ticks_to_linux(t.tms_cstime),
    }
}

/// `struct sysinfo` with sizes in bytes (mem_unit 1), as a 64-bit Linux reports them.
#[allow(clippy::unnecessary_cast)]
pub fn sysinfo_to_linux(si: &libc::sysinfo) -> LinuxSysinfo {
    let unit = u64::from(si.mem_unit.max(1));
    let bytes = |v| (v as u64).saturating_mul(unit);
    LinuxSysinfo {
        uptime: si.uptime as i64,
        loads: [si.loads[0] as u64, si.loads[1] as u64, si.loads[2] as u64],
        totalram: bytes(si.totalram),
        freeram: bytes(si.freeram),
        sharedram: bytes(si.sharedram),
        bufferram: bytes(si.bufferram),
        totalswap: bytes(si.totalswap),
        freeswap: bytes(si.freeswap),
        procs: si.procs,
        totalhigh: bytes(si.totalhigh),
        freehigh: bytes(si.freehigh),
        mem_unit: 1,
        ..LinuxSysinfo::default()
    }
}

/// A scheduling policy the host reports (sched_getscheduler), in Linux's numbering.
pub fn sched_policy_to_linux(host_policy: c_int) -> i32 {
    host_policy
}

/// `struct statx`, limited to the fields in `STATX_CARRIED_MASK`.
pub fn statx_to_linux(stx: &libc::statx) -> LinuxStatx {
    LinuxStatx {
        stx_mask: stx.stx_mask & STATX_CARRIED_MASK,
        stx_blksize: stx.stx_blksize,
        stx_attributes: stx.stx_attributes,
        stx_nlink: stx.stx_nlink,
        stx_uid: stx.stx_uid,
        stx_gid: stx.stx_gid,
        stx_mode: stx.stx_mode,
        spare0: 0,
        stx_ino: stx.stx_ino,
        stx_size: stx.stx_size,
        stx_blocks: stx.stx_blocks,
        stx_attributes_mask: stx.stx_attributes_mask,
        stx_atime: statx_timestamp_to_linux(&stx.stx_atime),
        stx_btime: statx_timestamp_to_linux(&stx.stx_btime),
        stx_ctime: statx_timestamp_to_linux(&stx.stx_ctime),
        stx_mtime: statx_timestamp_to_linux(&stx.stx_mtime),
        stx_rdev_major: stx.stx_rdev_major,
        stx_rdev_minor: stx.stx_rdev_minor,
        stx_dev_major: stx.stx_dev_major,
        stx_dev_minor: stx.stx_dev_minor,
        stx_mnt_id: stx.stx_mnt_id,
        stx_dio_mem_align: stx.stx_dio_mem_align,
        stx_dio_offset_align: stx.stx_dio_offset_align,
        spare3: [0; 12],
    }
}

fn statx_timestamp_to_linux(ts: &libc::statx_timestamp) -> StatxTimestamp {
    StatxTimestamp { tv_sec: ts.tv_sec, tv_nsec: ts.tv_nsec, reserved: 0 }
}

/// The kernel's `struct termios` (what TCGETS returns) from the C library's, which has room
/// for more control characters than the kernel's 19.
pub fn termios_to_linux(t: &libc::termios) -> LinuxTermios {
    let mut c_cc = [0u8; 19];
    for (linux, host) in c_cc.iter_mut().zip(t.c_cc.iter()) {
        *linux = *host;
    }
    LinuxTermios {
        c_iflag: t.c_iflag,
        c_oflag: t.c_oflag,
        c_cflag: t.c_cflag,
        c_lflag: t.c_lflag,
        c_line: t.c_line,
        c_cc,
    }
}

/// TIOCGWINSZ's `struct winsize`.
pub fn winsize_to_linux(ws: &libc::winsize) -> LinuxWinsize {
    LinuxWinsize { ws_row: ws.ws_row, ws_col: ws.ws_col, ws_xpixel: ws.ws_xpixel, ws_ypixel: ws.ws_ypixel }
}

/// A Linux signal number as the host numbers it (identity on Linux).
pub fn signal_to_host(linux_sig: i32) -> c_int {
    linux_sig
}

/// The host signal a Linux signal is caught as, or `None` where the host cannot catch it:
/// SIGKILL, SIGSTOP, and the two real-time signals glibc keeps for its threads.
pub fn host_signal_of(linux_sig: i32) -> Option<c_int> {
    let reserved = |s: i32| s == libc::SIGKILL || s == libc::SIGSTOP || s == 32 || s == 33;
    ((1..=64).contains(&linux_sig) && !reserved(linux_sig)).then_some(linux_sig)
}

/// rt_sigqueueinfo to another process with our pid and uid as sender; -1 with errno set on
/// failure.
pub fn sigqueue(pid: i32, sig: c_int, code: i32, value: u64) -> c_int {
    // SAFETY: a zeroed siginfo is valid; the kill-layout fields are set through a raw view
    // of the 128-byte struct (signo, errno, code, then pid, uid, sigval at 16, 20, 24).
    unsafe {
        let mut info: libc::siginfo_t = std::mem::zeroed();
        let raw = &mut info as *mut libc::siginfo_t as *mut u8;
        std::ptr::write_unaligned(raw as *mut i32, sig);
        std::ptr::write_unaligned(raw.add(8) as *mut i32, code);
        std::ptr::write_unaligned(raw.add(16) as *mut i32, libc::getpid());
        std::ptr::write_unaligned(raw.add(20) as *mut u32, libc::getuid());
        std::ptr::write_unaligned(raw.add(24) as *mut u64, value);
        libc::syscall(libc::SYS_rt_sigqueueinfo, pid, sig, &info) as c_int
    }
}

/// The Linux signal a host signal is (identity on Linux).
pub fn linux_signal_of(host_sig: c_int) -> Option<i32> {
    (1..=64).contains(&host_sig).then_some(host_sig)
}

/// si_code in Linux's terms (identity on Linux).
pub fn si_code_to_linux(code: c_int) -> i32 {
    code
}

/// The host's number for a Linux resource limit (getrlimit/setrlimit/prlimit), or `None`
/// where the host has no such limit. Identity on Linux.
pub fn rlimit_resource_to_host(linux_resource: u32) -> Option<c_int> {
    // Linux has 16 resources (RLIMIT_CPU..=RLIMIT_RTTIME); the kernel refuses others itself.
    (linux_resource < 16).then_some(linux_resource as c_int)
}

/// A host rlimit value in Linux's terms (RLIM_INFINITY is all ones on both).
pub fn rlim_to_linux(host: u64) -> u64 {
    host
}

// ---------------------------------------------------------------------------------------
// processes: wait and kill (Linux numbers are the host's)

/// wait4/waitid options.
pub fn wait_options_to_host(linux: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux)
}

/// A host wait status in Linux's encoding.
pub fn wait_status_to_linux(host: c_int) -> i32 {
    host
}

/// waitid's idtype (P_ALL, P_PID, P_PGID, P_PIDFD).
pub fn idtype_to_host(linux: i32) -> Result<libc::idtype_t, LinuxErrno> {
    match linux {
        0 => Ok(libc::P_ALL),
        1 => Ok(libc::P_PID),
        2 => Ok(libc::P_PGID),
        3 => Ok(libc::P_PIDFD),
        _ => Err(abi_shared::linux::errno::EINVAL as LinuxErrno),
    }
}

/// The SIGCHLD fields of the siginfo waitid filled.
pub fn wait_info_to_linux(si: &libc::siginfo_t) -> abi_shared::hypercall::WaitInfo {
    // SAFETY: waitid filled a SIGCHLD siginfo (or left it zeroed): the pid, uid and status
    // fields are the valid union members.
    let (pid, uid, status) = unsafe { (si.si_pid(), si.si_uid(), si.si_status()) };
    abi_shared::hypercall::WaitInfo { signo: si.si_signo, code: si.si_code, pid, uid, status }
}

/// A Linux signal number for kill(2): the same on Linux (0 checks existence).
pub fn kill_signal_to_host(linux_sig: i32) -> Result<c_int, LinuxErrno> {
    Ok(linux_sig)
}

// ---------------------------------------------------------------------------------------
// scheduling priority

/// The C library's type for getpriority/setpriority's `which`.
pub type PriorityWhich = libc::__priority_which_t;

/// getpriority/setpriority's `which`: PRIO_PROCESS, PRIO_PGRP, PRIO_USER (Linux's numbers).
pub fn priority_which_to_host(linux: i32) -> Result<PriorityWhich, LinuxErrno> {
    match linux {
        0 => Ok(libc::PRIO_PROCESS),
        1 => Ok(libc::PRIO_PGRP),
        2 => Ok(libc::PRIO_USER),
        _ => Err(lxe::EINVAL as LinuxErrno),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;
    use std::mem::MaybeUninit;
    use std::os::unix::fs::MetadataExt;

    fn linux(e: u32) -> LinuxErrno {
        e as LinuxErrno
    }

    #[test]
    fn errno_values_are_linux_numbers() {
        assert_eq!(errno_to_linux(libc::EAGAIN), 11);
        assert_eq!(errno_to_linux(libc::ENOENT), linux(lxe::ENOENT));
        assert_eq!(errno_to_linux(libc::ENAMETOOLONG), linux(lxe::ENAMETOOLONG));
    }

    #[test]
    fn at_fdcwd_maps_and_other_negative_dirfds_are_ebadf() {
        assert_eq!(dirfd_to_host(-100), Ok(libc::AT_FDCWD));
        assert_eq!(dirfd_to_host(-2), Err(linux(lxe::EBADF)));
        assert_eq!(dirfd_to_host(i32::MIN), Err(linux(lxe::EBADF)));
        assert_eq!(dirfd_to_host(0), Ok(0));
        assert_eq!(dirfd_to_host(7), Ok(7));
    }

    #[test]
    fn open_flags_are_the_hosts() {
        let linux_flags = (lx::O_WRONLY | lx::O_CREAT | lx::O_EXCL | lx::O_CLOEXEC | lx::O_DIRECTORY) as i32;
        let host = libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_CLOEXEC | libc::O_DIRECTORY;
        assert_eq!(open_flags_to_host(linux_flags), Ok(host));
        assert_eq!(open_flags_to_linux(host), linux_flags);
        assert_eq!(fd_flags_to_host(lx::FD_CLOEXEC as i32), libc::FD_CLOEXEC);
        assert_eq!(fd_flags_to_linux(libc::FD_CLOEXEC), lx::FD_CLOEXEC as i32);
    }

    #[test]
    fn at_flags_and_masks_are_the_hosts() {
        let nofollow = lx::AT_SYMLINK_NOFOLLOW as i32;
        assert_eq!(
            stat_flags_to_host(nofollow | lx::AT_EMPTY_PATH as i32),
            Ok(libc::AT_SYMLINK_NOFOLLOW | libc::AT_EMPTY_PATH)
        );
        assert_eq!(statx_flags_to_host(lx::AT_STATX_DONT_SYNC as i32), Ok(libc::AT_STATX_DONT_SYNC));
        assert_eq!(statx_mask_to_host(lx::STATX_BASIC_STATS), Ok(libc::STATX_BASIC_STATS));
        assert_eq!(unlink_flags_to_host(lx::AT_REMOVEDIR as i32), Ok(libc::AT_REMOVEDIR));
        assert_eq!(rename_flags_to_host(lx::RENAME_NOREPLACE), Ok(libc::RENAME_NOREPLACE));
        assert_eq!(access_mode_to_host((lx::R_OK | lx::X_OK) as i32), Ok(libc::R_OK | libc::X_OK));
        assert_eq!(access_flags_to_host(lx::AT_EACCESS as i32), Ok(libc::AT_EACCESS));
    }

    #[test]
    fn seek_whence_out_of_range_is_einval() {
        assert_eq!(seek_whence_to_host(lx::SEEK_END), Ok(libc::SEEK_END));
        assert_eq!(seek_whence_to_host(lx::SEEK_HOLE), Ok(libc::SEEK_HOLE));
        assert_eq!(seek_whence_to_host(u32::MAX), Err(linux(lxe::EINVAL)));
    }

    #[test]
    fn modes_are_unchanged() {
        assert_eq!(mode_to_host(0o4755 | lx::S_IFDIR), 0o4755 | libc::S_IFDIR);
        assert_eq!(mode_to_linux(0o022), 0o022);
        assert_eq!(open_mode_to_host(0o644), 0o644);
    }

    fn host_stat(path: &str) -> libc::stat {
        let path = CString::new(path).unwrap();
        let mut st = MaybeUninit::<libc::stat>::uninit();
        // SAFETY: path is NUL-terminated and st is a valid out-pointer.
        assert_eq!(unsafe { libc::stat(path.as_ptr(), st.as_mut_ptr()) }, 0);
        // SAFETY: stat succeeded and filled st.
        unsafe { st.assume_init() }
    }

    #[test]
    fn stat_fields_match_std_metadata() {
        let st = super::super::stat_to_linux(&host_stat("/"));
        let md = std::fs::metadata("/").unwrap();
        assert_eq!(st.st_dev, md.dev());
        assert_eq!(st.st_ino, md.ino());
        assert_eq!(st.st_mode, md.mode());
        assert_eq!(st.st_nlink, md.nlink());
        assert_eq!(st.st_uid, md.uid());
        assert_eq!(st.st_size, md.size() as i64);
        assert_eq!(st.st_blocks, md.blocks() as i64);
        assert_eq!(st.st_mtime, md.mtime());
        assert_eq!(st.st_mtime_nsec, md.mtime_nsec());
        assert_eq!((st.pad0, st.unused), (0, [0; 3]));
    }

    #[test]
    fn statx_mask_drops_fields_we_do_not_carry() {
        let path = CString::new("/").unwrap();
        let mut stx = MaybeUninit::<libc::statx>::zeroed();
        // SAFETY: path is NUL-terminated and stx a valid out-pointer.
        let r = unsafe { libc::statx(libc::AT_FDCWD, path.as_ptr(), 0, libc::STATX_ALL, stx.as_mut_ptr()) };
        assert_eq!(r, 0);
        // SAFETY: zeroed is a valid statx (integers only), and statx filled it.
        let mut stx = unsafe { stx.assume_init() };
        stx.stx_mask |= lx::STATX_SUBVOL | lx::STATX_WRITE_ATOMIC;
        let out = statx_to_linux(&stx);
        assert_eq!(out.stx_mask & (lx::STATX_SUBVOL | lx::STATX_WRITE_ATOMIC), 0);
        assert_eq!(out.stx_mask & lx::STATX_BASIC_STATS, stx.stx_mask & lx::STATX_BASIC_STATS);
        let md = std::fs::metadata("/").unwrap();
        assert_eq!(out.stx_ino, md.ino());
        assert_eq!(u32::from(out.stx_mode), md.mode());
        assert_eq!(out.stx_mtime.tv_sec, md.mtime());
        assert_eq!(i64::from(out.stx_mtime.tv_nsec), md.mtime_nsec());
    }

    #[test]
    fn termios_keeps_the_kernels_nineteen_control_characters() {
        // SAFETY: termios is integers only; all-zero is a valid value.
        let mut t: libc::termios = unsafe { MaybeUninit::zeroed().assume_init() };
        t.c_iflag = 1;
        t.c_oflag = 2;
        t.c_cflag = 3;
        t.c_lflag = 4;
        t.c_line = 5;
        for (i, c) in t.c_cc.iter_mut().enumerate() {
            *c = i as u8 + 1;
        }
        let out = termios_to_linux(&t);
        assert_eq!((out.c_iflag, out.c_oflag, out.c_cflag, out.c_lflag, out.c_line), (1, 2, 3, 4, 5));
        let want: Vec<u8> = (1..=19).collect();
        assert_eq!(&out.c_cc[..], &want[..]);
    }

    #[test]
    fn winsize_is_copied() {
        let ws = libc::winsize { ws_row: 24, ws_col: 80, ws_xpixel: 640, ws_ypixel: 480 };
        assert_eq!(winsize_to_linux(&ws), LinuxWinsize { ws_row: 24, ws_col: 80, ws_xpixel: 640, ws_ypixel: 480 });
    }
}
