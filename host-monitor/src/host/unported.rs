//! Placeholder personality for hosts without one (neither Linux nor macOS).
//!
//! It has the functions of `linux.rs` that host-neutral code calls (statx's are Linux-only
//! for now) so that the crate type-checks everywhere, but it
//! translates nothing: every flag conversion refuses with ENOSYS, errnos outside the range
//! all Unix systems number alike become EIO, and structs are copied field by field without
//! translating device numbers or terminal flags. A new host gets its own module (as macOS has `darwin.rs`).

use abi_shared::hypercall::{LinuxRusage, LinuxTms};
use abi_shared::linux::{errno as lxe, general as lx, LinuxTermios, LinuxWinsize};
use libc::{c_int, c_uint, mode_t};

use super::LinuxErrno;

const ENOSYS: LinuxErrno = lxe::ENOSYS as LinuxErrno;

/// Errnos 1 (EPERM) to 34 (ERANGE) are numbered alike on Linux and the BSDs.
pub fn errno_to_linux(host_errno: c_int) -> LinuxErrno {
    if (1..=34).contains(&host_errno) {
        host_errno
    } else {
        lxe::EIO as LinuxErrno
    }
}

pub fn dirfd_to_host(linux_dirfd: i32) -> Result<c_int, LinuxErrno> {
    if linux_dirfd == lx::AT_FDCWD {
        Ok(libc::AT_FDCWD)
    } else if linux_dirfd < 0 {
        Err(lxe::EBADF as LinuxErrno)
    } else {
        Ok(linux_dirfd)
    }
}

pub fn open_flags_to_host(_linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

pub fn open_flags_to_linux(_host_flags: c_int) -> i32 {
    0
}

pub fn fd_flags_to_host(linux_flags: i32) -> c_int {
    if linux_flags & lx::FD_CLOEXEC as i32 != 0 {
        libc::FD_CLOEXEC
    } else {
        0
    }
}

pub fn fd_flags_to_linux(host_flags: c_int) -> i32 {
    if host_flags & libc::FD_CLOEXEC != 0 {
        lx::FD_CLOEXEC as i32
    } else {
        0
    }
}

/// File type and permission bits are numbered alike on every Unix.
pub fn mode_to_host(linux_mode: u32) -> mode_t {
    (linux_mode & 0o177777) as mode_t
}

pub fn dev_to_host(_linux_dev: u32) -> Result<libc::dev_t, LinuxErrno> {
    Err(ENOSYS)
}

pub fn mode_to_linux(host_mode: mode_t) -> u32 {
    u32::from(host_mode)
}

pub fn open_mode_to_host(linux_mode: u32) -> c_uint {
    linux_mode & 0o7777
}

pub fn seek_whence_to_host(_linux_whence: u32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

pub fn stat_flags_to_host(_linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

pub fn unlink_flags_to_host(_linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

pub fn rename_flags_to_host(_linux_flags: u32) -> Result<c_uint, LinuxErrno> {
    Err(ENOSYS)
}

pub fn access_mode_to_host(_linux_mode: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

pub fn access_flags_to_host(_linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

pub fn pipe_flags_to_host(_linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

pub fn link_flags_to_host(_linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

pub fn utimensat_flags_to_host(_linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

/// UTIME_NOW and UTIME_OMIT are the special values every host has, under its own numbers.
pub fn utime_nsec_to_host(linux_nsec: i64) -> libc::c_long {
    match linux_nsec {
        n if n == i64::from(lx::UTIME_NOW) => libc::UTIME_NOW,
        n if n == i64::from(lx::UTIME_OMIT) => libc::UTIME_OMIT,
        n => n as libc::c_long,
    }
}

pub fn chown_flags_to_host(_linux_flags: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

pub fn rusage_who_to_host(_linux_who: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

#[allow(clippy::unnecessary_cast)]
pub fn rusage_to_linux(ru: &libc::rusage) -> LinuxRusage {
    LinuxRusage {
        ru_utime: [ru.ru_utime.tv_sec as i64, ru.ru_utime.tv_usec as i64],
        ru_stime: [ru.ru_stime.tv_sec as i64, ru.ru_stime.tv_usec as i64],
        ru_maxrss: ru.ru_maxrss as i64,
        ru_minflt: ru.ru_minflt as i64,
        ru_majflt: ru.ru_majflt as i64,
        ru_nvcsw: ru.ru_nvcsw as i64,
        ru_nivcsw: ru.ru_nivcsw as i64,
        ..LinuxRusage::default()
    }
}

/// Clock ticks are not translated (the host's tick rate may not be USER_HZ).
#[allow(clippy::unnecessary_cast)]
pub fn clock_ticks_to_linux(ticks: libc::clock_t) -> i64 {
    ticks as i64
}

pub fn tms_to_linux(t: &libc::tms) -> LinuxTms {
    LinuxTms {
        tms_utime: clock_ticks_to_linux(t.tms_utime),
        tms_stime: clock_ticks_to_linux(t.tms_stime),
        tms_cutime: clock_ticks_to_linux(t.tms_cutime),
        tms_cstime: clock_ticks_to_linux(t.tms_cstime),
    }
}

/// Only SCHED_OTHER (0) is numbered alike everywhere; anything else is reported as it.
pub fn sched_policy_to_linux(_host_policy: c_int) -> i32 {
    0
}

/// Nor can a Linux termios be given to this host.
pub fn termios_to_host(_linux: &LinuxTermios) -> Result<libc::termios, LinuxErrno> {
    Err(ENOSYS)
}

/// The C library's type for getpriority/setpriority's `which`.
pub type PriorityWhich = c_int;

pub fn priority_which_to_host(_linux: i32) -> Result<PriorityWhich, LinuxErrno> {
    Err(ENOSYS)
}

/// Without a translation table nothing of a host termios is meaningful to Linux.
pub fn termios_to_linux(_t: &libc::termios) -> LinuxTermios {
    LinuxTermios::default()
}

pub fn winsize_to_linux(ws: &libc::winsize) -> LinuxWinsize {
    LinuxWinsize { ws_row: ws.ws_row, ws_col: ws.ws_col, ws_xpixel: ws.ws_xpixel, ws_ypixel: ws.ws_ypixel }
}

/// A Linux signal number as the host numbers it. Until this host has its own table, only
/// the classic numbers shared by every Unix pass; the rest become SIGKILL.
pub fn signal_to_host(linux_sig: i32) -> c_int {
    match linux_sig {
        1..=6 | 8 | 9 | 11 | 13..=15 => linux_sig,
        _ => libc::SIGKILL,
    }
}

/// Only RLIMIT_CPU..RLIMIT_CORE (0..=4) are numbered alike everywhere.
pub fn rlimit_resource_to_host(linux_resource: u32) -> Option<c_int> {
    (linux_resource <= 4).then_some(linux_resource as c_int)
}

pub fn rlim_to_linux(host: u64) -> u64 {
    host
}

pub fn wait_options_to_host(_linux: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}

pub fn wait_status_to_linux(host: c_int) -> i32 {
    host
}

pub fn idtype_to_host(_linux: i32) -> Result<libc::idtype_t, LinuxErrno> {
    Err(ENOSYS)
}

pub fn wait_info_to_linux(_si: &libc::siginfo_t) -> abi_shared::hypercall::WaitInfo {
    abi_shared::hypercall::WaitInfo::default()
}

pub fn kill_signal_to_host(_linux_sig: i32) -> Result<c_int, LinuxErrno> {
    Err(ENOSYS)
}
