//! Terminal ioctls that change a host terminal: termios (TCSETS, TCSETSW, TCSETSF), the
//! window size, the foreground process group and the controlling terminal. The terminal is
//! the host's, and so are the session and process groups (Linux pids are host pids): the
//! host performs each on the same descriptor. Pseudo-terminal masters' TIOCGPTN and
//! TIOCSPTLCK are here too (posix_openpt, grantpt, unlockpt and ptsname use them). The read-only ones (TCGETS, TIOCGWINSZ,
//! TIOCGPGRP, FIONREAD) are in fs.rs.

use abi_shared::hypercall::{Request, TtyRequest};
use abi_shared::linux::signal::SIGTTOU;
use abi_shared::linux::{LinuxTermios, LinuxWinsize};

use super::EFAULT;
use crate::hypercall::call_ret;
use crate::mm::uaccess;
use crate::signal::{bit, lock, SIG_IGN};

const TCSETS: u64 = linux_raw_sys::ioctl::TCSETS as u64;
const TCSETSW: u64 = linux_raw_sys::ioctl::TCSETSW as u64;
const TCSETSF: u64 = linux_raw_sys::ioctl::TCSETSF as u64;
const TIOCSCTTY: u64 = linux_raw_sys::ioctl::TIOCSCTTY as u64;
const TIOCSPGRP: u64 = linux_raw_sys::ioctl::TIOCSPGRP as u64;
const TIOCSWINSZ: u64 = linux_raw_sys::ioctl::TIOCSWINSZ as u64;
const TIOCNOTTY: u64 = linux_raw_sys::ioctl::TIOCNOTTY as u64;
const TIOCGSID: u64 = linux_raw_sys::ioctl::TIOCGSID as u64;
const TIOCGPTN: u64 = linux_raw_sys::ioctl::TIOCGPTN as u64;
const TIOCSPTLCK: u64 = linux_raw_sys::ioctl::TIOCSPTLCK as u64;

/// The ioctls served here, or `None` for the caller to go on with others.
pub fn ioctl(fd: i32, request: u64, arg: u64) -> Option<i64> {
    Some(match request {
        TCSETS | TCSETSW | TCSETSF => tcsets(fd, (request - TCSETS) as u8, arg),
        TIOCSWINSZ => match uaccess::read_struct::<LinuxWinsize>(arg) {
            Ok(winsize) => call_ret(&Request::Tty(TtyRequest::IoctlSetWinsize { fd, winsize })),
            Err(e) => e,
        },
        TIOCSPGRP => match read_int(arg) {
            Ok(pgrp) => call_ret(&Request::Tty(TtyRequest::IoctlSetPgrp { fd, pgrp, ttou_ignored: sigttou_ignored() })),
            Err(e) => e,
        },
        // The argument is a value, not a pointer.
        TIOCSCTTY => call_ret(&Request::Tty(TtyRequest::IoctlSetCtty { fd, steal: arg as i32 })),
        TIOCNOTTY => call_ret(&Request::Tty(TtyRequest::IoctlNoCtty { fd })),
        TIOCGSID => int_out(call_ret(&Request::Tty(TtyRequest::IoctlGetSid { fd })), arg),
        TIOCGPTN => int_out(call_ret(&Request::Tty(TtyRequest::IoctlGetPtyNumber { fd })), arg),
        TIOCSPTLCK => match read_int(arg) {
            Ok(lock) => call_ret(&Request::Tty(TtyRequest::IoctlSetPtyLock { fd, lock })),
            Err(e) => e,
        },
        _ => return None,
    })
}

fn tcsets(fd: i32, when: u8, arg: u64) -> i64 {
    match uaccess::read_struct::<LinuxTermios>(arg) {
        Ok(termios) => {
            call_ret(&Request::Tty(TtyRequest::IoctlTcsets { fd, when, termios, ttou_ignored: sigttou_ignored() }))
        }
        Err(e) => e,
    }
}

/// An answer the kernel stores as an int at `out`.
fn int_out(r: i64, out: u64) -> i64 {
    if r < 0 {
        return r;
    }
    uaccess::copy_to_user(out, &(r as i32).to_le_bytes()).map_or(EFAULT, |_| 0)
}

fn read_int(addr: u64) -> Result<i32, i64> {
    let mut b = [0u8; 4];
    uaccess::copy_from_user(addr, &mut b)?;
    Ok(i32::from_le_bytes(b))
}

/// Whether the program blocks or ignores SIGTTOU: then Linux lets a background process
/// change its terminal instead of stopping it (tty_check_change). The host process's own
/// mask and dispositions are not the program's, so the host is told.
fn sigttou_ignored() -> bool {
    let st = lock();
    st.me.blocked & bit(SIGTTOU) != 0 || st.proc.actions[SIGTTOU as usize].handler == SIG_IGN
}
