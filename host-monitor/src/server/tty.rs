//! Terminal ioctls that change a host terminal: termios, window size, foreground process
//! group, controlling terminal, and the terminal's session. The terminal, the sessions and
//! the process groups are the host's (Linux pids are host pids), so each request is the
//! host's own call on the same descriptor.

use abi_shared::hypercall::{Request, Response};
use abi_shared::linux::{errno, LinuxTermios, LinuxWinsize};
use libc::c_int;

use super::fs::{check, ret, Failure};
use super::FdGuard;
#[cfg(not(target_os = "linux"))]
use crate::host;
use crate::host::LinuxErrno;

/// libc types TIOCSCTTY differently on Darwin (u32) than ioctl's request (c_ulong).
#[allow(clippy::unnecessary_cast)]
const TIOCSCTTY: libc::c_ulong = libc::TIOCSCTTY as libc::c_ulong;

const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;
const EINVAL: LinuxErrno = errno::EINVAL as LinuxErrno;
const ENOSYS: LinuxErrno = errno::ENOSYS as LinuxErrno;

/// Serve one terminal request.
pub fn handle(fds: &FdGuard, req: &Request<'_>) -> Response {
    let result = match req {
        Request::IoctlTcsets { fd, when, termios, ttou_ignored } => {
            program_fd(fds, *fd).and_then(|fd| with_sigttou(*ttou_ignored, || set_termios(fd, *when, termios)))
        }
        Request::IoctlSetWinsize { fd, winsize } => program_fd(fds, *fd).and_then(|fd| set_winsize(fd, winsize)),
        Request::IoctlSetPgrp { fd, pgrp, ttou_ignored } => program_fd(fds, *fd).and_then(|fd| {
            // SAFETY: tcsetpgrp takes no pointers.
            with_sigttou(*ttou_ignored, || check(unsafe { libc::tcsetpgrp(fd, *pgrp) }))
        }),
        Request::IoctlSetCtty { fd, steal } => program_fd(fds, *fd).and_then(|fd| {
            // SAFETY: TIOCSCTTY takes an int argument, not a pointer.
            check(unsafe { libc::ioctl(fd, TIOCSCTTY, *steal as c_int) })
        }),
        Request::IoctlNoCtty { fd } => program_fd(fds, *fd).and_then(|fd| {
            // SAFETY: TIOCNOTTY takes no argument.
            check(unsafe { libc::ioctl(fd, libc::TIOCNOTTY) })
        }),
        Request::IoctlGetSid { fd } => program_fd(fds, *fd).and_then(|fd| {
            // SAFETY: tcgetsid takes no pointers.
            check(unsafe { libc::tcgetsid(fd) })
        }),
        Request::IoctlGetPtyNumber { fd } => program_fd(fds, *fd).and_then(pty_number),
        Request::IoctlSetPtyLock { fd, lock } => program_fd(fds, *fd).and_then(|fd| set_pty_lock(fd, *lock)),
        // Not one of ours: the dispatcher in server/mod.rs sends only the above here.
        _ => Err(Failure::Errno(ENOSYS)),
    };
    // Each call returns 0 but tcgetsid, whose value is the session.
    result.and_then(ret).unwrap_or_else(Response::from)
}

/// A descriptor of the program's: the monitor's own are EBADF.
fn program_fd(fds: &FdGuard, fd: i32) -> Result<c_int, Failure> {
    if fds.is_reserved(fd) {
        return Err(Failure::Errno(EBADF));
    }
    Ok(fd)
}

/// Run `call` with SIGTTOU blocked on this thread when the program blocks or ignores it:
/// Linux then lets a background process change the terminal (tty_check_change), and the
/// host kernel decides by the calling thread's mask. Otherwise the host does what Linux
/// does for the program: SIGTTOU to the process group and EINTR (or EIO if orphaned).
fn with_sigttou(ignored: bool, call: impl FnOnce() -> Result<i64, Failure>) -> Result<i64, Failure> {
    if !ignored {
        return call();
    }
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: the same, for the old mask pthread_sigmask fills.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set and old are valid sigset_t; only this thread's mask changes, and it is
    // restored below before anything else runs on the thread.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
    }
    // `check` inside `call` reads errno before the mask is restored.
    let result = call();
    // SAFETY: old is the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    result
}

/// TCSETS/TCSETSW/TCSETSF. On Linux the kernel's struct goes to the host's ioctl as is: the
/// C library's termios is not the kernel's (more control characters, separate speeds).
#[cfg(target_os = "linux")]
fn set_termios(fd: c_int, when: u8, t: &LinuxTermios) -> Result<i64, Failure> {
    let request = match when {
        0 => libc::TCSETS,
        1 => libc::TCSETSW,
        2 => libc::TCSETSF,
        _ => return Err(Failure::Errno(EINVAL)),
    };
    // SAFETY: TCSETS* read one kernel struct termios, which LinuxTermios is, from a valid
    // pointer.
    check(unsafe { libc::ioctl(fd, request, t as *const LinuxTermios) })
}

/// Elsewhere through tcsetattr with the struct translated (EINVAL for what the host cannot
/// express).
#[cfg(not(target_os = "linux"))]
fn set_termios(fd: c_int, when: u8, t: &LinuxTermios) -> Result<i64, Failure> {
    let action = match when {
        0 => libc::TCSANOW,
        1 => libc::TCSADRAIN,
        2 => libc::TCSAFLUSH,
        _ => return Err(Failure::Errno(EINVAL)),
    };
    let host_termios = host::termios_to_host(t).map_err(Failure::Errno)?;
    // SAFETY: host_termios is a valid struct termios for the call.
    check(unsafe { libc::tcsetattr(fd, action, &host_termios) })
}

/// TIOCGPTN: the slave's number under /dev/pts.
#[cfg(target_os = "linux")]
fn pty_number(fd: c_int) -> Result<i64, Failure> {
    let mut n: libc::c_uint = 0;
    // SAFETY: TIOCGPTN writes one unsigned int through a valid pointer.
    check(unsafe { libc::ioctl(fd, libc::TIOCGPTN, &mut n) })?;
    Ok(i64::from(n))
}

/// TIOCSPTLCK: lock or unlock the slave.
#[cfg(target_os = "linux")]
fn set_pty_lock(fd: c_int, lock: i32) -> Result<i64, Failure> {
    let lock: c_int = lock;
    // SAFETY: TIOCSPTLCK reads one int from a valid pointer.
    check(unsafe { libc::ioctl(fd, libc::TIOCSPTLCK, &lock) })
}

/// Other hosts have no /dev/pts for the slave's name to point into: what Linux answers for
/// a descriptor that is no pseudo-terminal master.
#[cfg(not(target_os = "linux"))]
fn pty_number(_fd: c_int) -> Result<i64, Failure> {
    Err(Failure::Errno(errno::ENOTTY as LinuxErrno))
}

#[cfg(not(target_os = "linux"))]
fn set_pty_lock(_fd: c_int, _lock: i32) -> Result<i64, Failure> {
    Err(Failure::Errno(errno::ENOTTY as LinuxErrno))
}

/// TIOCSWINSZ: `struct winsize` is the same on every host.
fn set_winsize(fd: c_int, w: &LinuxWinsize) -> Result<i64, Failure> {
    let ws = libc::winsize { ws_row: w.ws_row, ws_col: w.ws_col, ws_xpixel: w.ws_xpixel, ws_ypixel: w.ws_ypixel };
    // SAFETY: TIOCSWINSZ reads one struct winsize from a valid pointer.
    check(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) })
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// A pseudo-terminal pair (master, slave), or None where the host has none.
    fn open_pty() -> Option<(c_int, c_int)> {
        // SAFETY: the path is a NUL-terminated literal.
        let master = unsafe { libc::open(c"/dev/ptmx".as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) };
        if master < 0 {
            return None;
        }
        let mut unlock: c_int = 0;
        let mut n: c_int = 0;
        // SAFETY: TIOCSPTLCK reads an int, TIOCGPTN writes one; both pointers are valid.
        let ok = unsafe {
            libc::ioctl(master, libc::TIOCSPTLCK, &mut unlock) == 0 && libc::ioctl(master, libc::TIOCGPTN, &mut n) == 0
        };
        let path = std::ffi::CString::new(format!("/dev/pts/{n}")).ok()?;
        // SAFETY: the path is NUL-terminated.
        let slave =
            if ok { unsafe { libc::open(path.as_ptr(), libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC) } } else { -1 };
        if slave < 0 {
            // SAFETY: closing the master opened above.
            unsafe { libc::close(master) };
            return None;
        }
        Some((master, slave))
    }

    fn termios_of(fd: c_int) -> LinuxTermios {
        let mut t = LinuxTermios::default();
        // SAFETY: TCGETS writes one kernel struct termios, which LinuxTermios is.
        assert_eq!(unsafe { libc::ioctl(fd, libc::TCGETS, &mut t as *mut LinuxTermios) }, 0);
        t
    }

    #[test]
    fn termios_and_window_size_are_set_on_the_host_terminal() {
        let Some((master, slave)) = open_pty() else {
            eprintln!("no pseudo-terminals on this host: pty test skipped");
            return;
        };
        let guard = FdGuard::default();
        let mut t = termios_of(slave);
        t.c_lflag &= !(libc::ICANON | libc::ECHO);
        t.c_cc[libc::VMIN] = 1;
        for when in 0..3 {
            let req = Request::IoctlTcsets { fd: slave, when, termios: t, ttou_ignored: when == 1 };
            assert_eq!(handle(&guard, &req), Response::Ret(0));
        }
        assert_eq!(termios_of(slave), t);
        let bad = Request::IoctlTcsets { fd: slave, when: 3, termios: t, ttou_ignored: false };
        assert_eq!(handle(&guard, &bad), Response::Ret(-i64::from(errno::EINVAL)));
        let winsize = LinuxWinsize { ws_row: 24, ws_col: 132, ws_xpixel: 1, ws_ypixel: 2 };
        assert_eq!(handle(&guard, &Request::IoctlSetWinsize { fd: slave, winsize }), Response::Ret(0));
        let mut ws = libc::winsize { ws_row: 0, ws_col: 0, ws_xpixel: 0, ws_ypixel: 0 };
        // SAFETY: TIOCGWINSZ writes one struct winsize through a valid pointer.
        assert_eq!(unsafe { libc::ioctl(master, libc::TIOCGWINSZ, &mut ws) }, 0);
        assert_eq!((ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel), (24, 132, 1, 2));
        assert!(matches!(handle(&guard, &Request::IoctlGetPtyNumber { fd: master }), Response::Ret(n) if n >= 0));
        let enotty = Response::Ret(-i64::from(errno::ENOTTY));
        assert_eq!(handle(&guard, &Request::IoctlGetPtyNumber { fd: slave }), enotty);
        assert_eq!(handle(&guard, &Request::IoctlSetPtyLock { fd: master, lock: 0 }), Response::Ret(0));
        // Not this process's controlling terminal: ENOTTY, as on Linux.
        assert_eq!(handle(&guard, &Request::IoctlGetSid { fd: slave }), Response::Ret(-i64::from(errno::ENOTTY)));
        // SAFETY: closing the pair opened above.
        unsafe {
            libc::close(slave);
            libc::close(master);
        }
    }

    #[test]
    fn the_monitors_descriptors_and_files_are_refused() {
        let mut guard = FdGuard::default();
        // SAFETY: a plain dup of stdin, closed below.
        let mine = unsafe { libc::dup(0) };
        guard.reserve(mine);
        let ebadf = Response::Ret(-i64::from(errno::EBADF));
        assert_eq!(handle(&guard, &Request::IoctlNoCtty { fd: mine }), ebadf);
        assert_eq!(handle(&guard, &Request::IoctlSetPgrp { fd: mine, pgrp: 1, ttou_ignored: true }), ebadf);
        let file = std::fs::File::open("/proc/self/status").unwrap();
        use std::os::fd::AsRawFd;
        let enotty = Response::Ret(-i64::from(errno::ENOTTY));
        let winsize = LinuxWinsize::default();
        assert_eq!(handle(&guard, &Request::IoctlSetWinsize { fd: file.as_raw_fd(), winsize }), enotty);
        assert_eq!(handle(&guard, &Request::IoctlSetCtty { fd: file.as_raw_fd(), steal: 0 }), enotty);
        // SAFETY: closing the dup made above.
        unsafe { libc::close(mine) };
    }
}
