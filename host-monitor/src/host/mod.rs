//! The host personality: conversion between the Linux ABI that requests speak and the ABI of
//! the host the monitor runs on, and (in `sys`) the host calls themselves.
//!
//! Handlers in `server/` receive Linux numbers, flags and structs; before a host call they
//! convert arguments with the `*_to_host` functions here, make the call through `sys`, and
//! convert results back with the `*_to_linux` ones. They never compare a Linux constant with
//! a host constant themselves, nor call the host directly, so `server/` has no
//! `cfg(target_os)` and each host needs only its own modules here (`sys` has one per host
//! too):
//!
//! - `linux.rs`: a Linux host, where almost everything is the identity (checked at compile
//!   time against the `libc` crate's constants).
//! - `darwin.rs`: macOS, translating with the tables of `darwin_tables.rs`, which are
//!   plain data compiled (and unit-tested) on every host and checked at compile time
//!   against the `libc` crate's macOS constants.
//!
//! Hosts that are neither get `unported`, which has the same functions and refuses every
//! flag conversion with ENOSYS, so that the crate type-checks there.
//!
//! Conventions shared by every personality:
//! - An `Err(e)` is a positive **Linux** errno, ready to be returned to the program.
//! - A `*_to_host` function rejects what the host cannot express; a `*_to_linux` function
//!   cannot fail (anything the host reports has a Linux meaning).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(all(test, target_os = "linux"))]
mod linux_tests;
#[cfg(target_os = "linux")]
pub use linux::*;

#[cfg(target_os = "macos")]
mod darwin;
#[cfg(target_os = "macos")]
pub use darwin::*;

/// The host calls themselves, per host (see sys/mod.rs).
pub mod sys;

/// The socket personality (see net/mod.rs).
pub mod net;

// One `stat_to_linux` for the hosts whose `struct stat` has Linux's field names.
#[cfg(not(target_os = "macos"))]
mod stat_fields;
#[cfg(not(target_os = "macos"))]
pub use stat_fields::stat_to_linux;

// The Darwin tables are plain data compiled on every host, so that Linux CI tests them.
mod darwin_tables;
// epoll, eventfd and timerfd emulated on kqueue (macOS): the logic, tested on every host.
mod event_emul;

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod unported;
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub use unported::*;

/// (si_pid, si_uid, and si_value or, for SIGCHLD, si_status) of a caught signal.
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub fn siginfo_sender(info: &libc::siginfo_t) -> (i32, u32, u64) {
    // SAFETY: kill, sigqueue, tkill and SIGCHLD fill the layouts these accessors read (on
    // macOS siginfo_t always carries these fields); for other kernel-generated signals the
    // fields read back as zero or unrelated integers, which is what Linux shows the
    // program too.
    unsafe {
        let third = if info.si_signo == libc::SIGCHLD {
            info.si_status() as u32 as u64
        } else {
            info.si_value().sival_ptr as u64
        };
        (info.si_pid(), info.si_uid(), third)
    }
}

/// A positive Linux errno value (what the program sees, negated, as a syscall result).
pub type LinuxErrno = i32;

/// The Linux errno for the host's `errno` right after a failed host call.
pub fn last_errno() -> LinuxErrno {
    let host = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
    errno_to_linux(host)
}
