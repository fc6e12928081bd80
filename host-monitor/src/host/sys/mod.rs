//! Host calls: every system call the hypercall server makes, as small safe functions.
//!
//! `server/` decides *what* to do for a Linux request and converts numbers with the
//! personality (`crate::host`); the functions here *do* it on the host. Those that every
//! host has alike are in the topic modules (`fds`, `paths`, `terminal`, `process`, `temp`,
//! `copy`); those that differ by host are in `linux.rs`, `darwin.rs` and, for hosts without
//! a personality, `unported.rs`, each with the same signatures, so that `server/` needs no
//! `cfg(target_os)`. This file holds what they share: the result type, errno conversion
//! and the checked descriptor argument.
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

mod copy;
mod fds;
mod net;
mod paths;
mod proc_view;
mod process;
mod temp;
mod terminal;
// Darwin's copies use it; on Linux only the tests do.
#[cfg_attr(target_os = "linux", allow(unused_imports))]
pub use copy::*;
pub use fds::*;
pub use net::*;
pub use paths::*;
pub use proc_view::*;
pub use process::*;
pub use temp::*;
pub use terminal::*;

#[cfg(target_os = "linux")]
mod creds_linux;
#[cfg(target_os = "linux")]
pub use creds_linux::*;
#[cfg(not(target_os = "linux"))]
mod creds_other;
#[cfg(not(target_os = "linux"))]
pub use creds_other::*;
#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
pub use linux::*;
#[cfg(target_os = "linux")]
mod linux_ipc;
#[cfg(target_os = "linux")]
pub use linux_ipc::*;
#[cfg(target_os = "linux")]
mod linux_time;
#[cfg(target_os = "linux")]
pub use linux_time::*;

#[cfg(target_os = "macos")]
mod darwin;
#[cfg(target_os = "macos")]
pub use darwin::*;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod unported;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub use unported::*;

// eventfd from a socketpair and a shared counter: macOS's, and tested on Linux.
#[cfg(target_os = "macos")]
mod darwin_events;
#[cfg(any(target_os = "macos", all(test, target_os = "linux")))]
mod emul_eventfd;
#[cfg(target_os = "macos")]
pub use darwin_events::*;
#[cfg(not(target_os = "macos"))]
mod no_emulated_fds;
#[cfg(not(target_os = "macos"))]
pub use no_emulated_fds::*;
#[cfg(not(target_os = "linux"))]
mod no_event_fds;
#[cfg(not(target_os = "linux"))]
pub use no_event_fds::*;
#[cfg(not(target_os = "linux"))]
mod no_ipc;
#[cfg(not(target_os = "linux"))]
pub use no_ipc::*;
#[cfg(not(target_os = "linux"))]
mod no_cpu_timers;
#[cfg(not(target_os = "linux"))]
pub use no_cpu_timers::*;

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

/// The host object of an xattr call: a descriptor, or a path (following a final symlink
/// or not).
pub enum XattrTarget {
    Fd(c_int),
    Path(CString, bool),
}
