//! Descriptor control, forwarded to the host: fcntl (flags, duplication, pipe sizes,
//! seals, record locks), flock, and the ioctls on files and terminals that are not
//! socket or terminal-setting requests (FIONREAD, FIONBIO, FIOCLEX, TCGETS/TCGETA,
//! TIOCGPGRP, TIOCGWINSZ).

use abi_shared::hypercall::{FsRequest, LinuxFlock, Request, Response, TtyRequest};
use abi_shared::linux::errno;

use super::fs::record_dup;
use super::{err, Ctx, EFAULT, EINVAL};
use crate::hypercall::{call, call_ret};
use crate::mm::uaccess;

const F_DUPFD: i32 = abi_shared::linux::general::F_DUPFD as i32;
const F_GETFD: i32 = abi_shared::linux::general::F_GETFD as i32;
const F_SETFD: i32 = abi_shared::linux::general::F_SETFD as i32;
const F_GETFL: i32 = abi_shared::linux::general::F_GETFL as i32;
const F_SETFL: i32 = abi_shared::linux::general::F_SETFL as i32;
const F_DUPFD_CLOEXEC: i32 = abi_shared::linux::general::F_DUPFD_CLOEXEC as i32;
const F_SETPIPE_SZ: i32 = abi_shared::linux::general::F_SETPIPE_SZ as i32;
const F_GETPIPE_SZ: i32 = abi_shared::linux::general::F_GETPIPE_SZ as i32;
const F_ADD_SEALS: i32 = abi_shared::linux::general::F_ADD_SEALS as i32;
const F_GET_SEALS: i32 = abi_shared::linux::general::F_GET_SEALS as i32;
const F_NOTIFY: i32 = abi_shared::linux::general::F_NOTIFY as i32;
const FD_CLOEXEC: u64 = abi_shared::linux::general::FD_CLOEXEC as u64;
const TCGETS: u64 = linux_raw_sys::ioctl::TCGETS as u64;
const TCGETA: u64 = linux_raw_sys::ioctl::TCGETA as u64;
/// struct termio's c_cc length (NCC).
const NCC: usize = abi_shared::linux::general::NCC as usize;
const TIOCGPGRP: u64 = linux_raw_sys::ioctl::TIOCGPGRP as u64;
const TIOCGWINSZ: u64 = linux_raw_sys::ioctl::TIOCGWINSZ as u64;
const FIONREAD: u64 = linux_raw_sys::ioctl::FIONREAD as u64;
const FIONBIO: u64 = linux_raw_sys::ioctl::FIONBIO as u64;
const FIONCLEX: u64 = linux_raw_sys::ioctl::FIONCLEX as u64;
const FIOCLEX: u64 = linux_raw_sys::ioctl::FIOCLEX as u64;
const O_NONBLOCK: u64 = abi_shared::linux::general::O_NONBLOCK as u64;

/// fcntl's record-lock commands (F_GETLK, F_SETLK, F_SETLKW, F_OFD_*).
fn fcntl_lock(fd: i32, cmd: i32, addr: u64) -> i64 {
    let lock: LinuxFlock = tryret!(uaccess::read_struct(addr));
    match call(&Request::Fs(FsRequest::FcntlLock { fd, cmd, lock })) {
        Response::Flock(l) => uaccess::write_struct(addr, &l).map_or(EFAULT, |_| 0),
        Response::Ret(r) => r,
        _ => EINVAL,
    }
}

pub fn flock(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fs(FsRequest::Flock { fd: c.int(0), op: c.int(1) }))
}

pub fn fcntl(c: &mut Ctx<'_>) -> i64 {
    match c.int(1) {
        cmd @ (5..=7 | 36..=38) => fcntl_lock(c.int(0), cmd, c.arg(2)),
        cmd @ (F_DUPFD | F_GETFD | F_SETFD | F_GETFL | F_SETFL | F_DUPFD_CLOEXEC | F_SETPIPE_SZ | F_GETPIPE_SZ
        | F_ADD_SEALS | F_GET_SEALS) => {
            let r = call_ret(&Request::Fs(FsRequest::Fcntl { fd: c.int(0), cmd, arg: c.arg(2) }));
            if cmd == F_DUPFD || cmd == F_DUPFD_CLOEXEC {
                return record_dup(c.int(0), r);
            }
            r
        }
        // Directory notification is the host's: it signals this process (SIGIO), and the
        // monitor passes the signal on to the program.
        F_NOTIFY => call_ret(&Request::Fs(FsRequest::Fcntl { fd: c.int(0), cmd: F_NOTIFY, arg: c.arg(2) })),
        _ => EINVAL,
    }
}

/// An ioctl whose answer is an int the kernel stores at `out`.
fn int_out(r: i64, out: u64) -> i64 {
    if r < 0 {
        return r;
    }
    uaccess::copy_to_user(out, &(r as i32).to_le_bytes()).map_or(EFAULT, |_| 0)
}

/// FIONBIO: set or clear O_NONBLOCK as `*arg` says.
fn fionbio(fd: i32, arg: u64) -> i64 {
    let mut on = [0u8; 4];
    if uaccess::copy_from_user(arg, &mut on).is_err() {
        return EFAULT;
    }
    let fl = call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_GETFL, arg: 0 }));
    if fl < 0 {
        return fl;
    }
    let fl = fl as u64;
    let new = if i32::from_le_bytes(on) != 0 { fl | O_NONBLOCK } else { fl & !O_NONBLOCK };
    if new == fl {
        return 0;
    }
    call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_SETFL, arg: new }))
}

/// TCGETA: the terminal's termios in the old `struct termio` (16-bit flags, NCC control
/// characters, one zero padding byte), written whole as Linux writes it. Not a terminal
/// is ENOTTY before the pointer is looked at.
fn tcgeta(fd: i32, out: u64) -> i64 {
    let t = match call(&Request::Tty(TtyRequest::IoctlTcgets { fd })) {
        Response::Termios(t) => t,
        Response::Ret(e) => return e,
        _ => return EFAULT,
    };
    let mut termio = [0u8; 18];
    for (i, flag) in [t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag].into_iter().enumerate() {
        termio[i * 2..i * 2 + 2].copy_from_slice(&(flag as u16).to_le_bytes());
    }
    termio[8] = t.c_line;
    termio[9..9 + NCC].copy_from_slice(&t.c_cc[..NCC]);
    uaccess::copy_to_user(out, &termio).map_or(EFAULT, |_| 0)
}

pub fn ioctl(c: &mut Ctx<'_>) -> i64 {
    let (fd, out) = (c.int(0), c.arg(2));
    let resp = match c.arg(1) & 0xffff_ffff {
        TCGETS => call(&Request::Tty(TtyRequest::IoctlTcgets { fd })),
        TCGETA => return tcgeta(fd, out),
        TIOCGWINSZ => call(&Request::Tty(TtyRequest::IoctlGetWinsize { fd })),
        FIONREAD => return int_out(call_ret(&Request::Fs(FsRequest::IoctlFionread { fd })), out),
        TIOCGPGRP => return int_out(call_ret(&Request::Tty(TtyRequest::IoctlGetPgrp { fd })), out),
        FIOCLEX => return call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_SETFD, arg: FD_CLOEXEC })),
        FIONCLEX => return call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_SETFD, arg: 0 })),
        FIONBIO => return fionbio(fd, out),
        request => {
            if let Some(r) = super::net::ioctl(fd, request, out) {
                return r;
            }
            if let Some(r) = super::tty::ioctl(fd, request, out) {
                return r;
            }
            // Unknown requests: a bad fd is still EBADF, otherwise "not a terminal".
            let r = call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_GETFD, arg: 0 }));
            if r >= 0 {
                super::unsupported(crate::stats::Unsupported::Ioctl, request);
            }
            return if r < 0 { r } else { err(errno::ENOTTY) };
        }
    };
    match resp {
        Response::Termios(t) => uaccess::write_struct(out, &t).map_or(EFAULT, |_| 0),
        Response::Winsize(w) => uaccess::write_struct(out, &w).map_or(EFAULT, |_| 0),
        Response::Ret(e) => e,
        _ => EFAULT,
    }
}
