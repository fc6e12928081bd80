//! Terminal ioctls that change a host terminal: termios, window size, foreground process
//! group, controlling terminal, and the terminal's session. The terminal, the sessions and
//! the process groups are the host's (Linux pids are host pids), so each request is the
//! host's own call on the same descriptor.

use abi_shared::hypercall::{Response, TtyRequest};
use abi_shared::linux::{errno, LinuxWinsize};
use libc::c_int;

use super::fs::{ret, Failure};
use super::FdGuard;
use crate::host::sys::{self, SysResult};
use crate::host::{self, LinuxErrno};

const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;

/// Serve one terminal request.
pub fn handle(fds: &FdGuard, req: &TtyRequest) -> Response {
    let result = match req {
        TtyRequest::IoctlTcgets { fd } => {
            program_fd(fds, *fd).and_then(|fd| Ok(Response::Termios(host::termios_to_linux(&sys::tcgetattr(fd)?))))
        }
        TtyRequest::IoctlGetWinsize { fd } => {
            program_fd(fds, *fd).and_then(|fd| Ok(Response::Winsize(host::winsize_to_linux(&sys::window_size(fd)?))))
        }
        TtyRequest::IoctlGetPgrp { fd } => {
            program_fd(fds, *fd).and_then(|fd| ret(i64::from(sys::foreground_pgrp(fd)?)))
        }
        TtyRequest::IoctlTcsets { fd, when, termios, ttou_ignored } => program_fd(fds, *fd)
            .and_then(|fd| done(with_sigttou(*ttou_ignored, || sys::set_termios(fd, *when, termios)))),
        TtyRequest::IoctlSetWinsize { fd, winsize } => {
            program_fd(fds, *fd).and_then(|fd| done(set_winsize(fd, winsize)))
        }
        TtyRequest::IoctlSetPgrp { fd, pgrp, ttou_ignored } => {
            program_fd(fds, *fd).and_then(|fd| done(with_sigttou(*ttou_ignored, || sys::tcsetpgrp(fd, *pgrp))))
        }
        TtyRequest::IoctlSetCtty { fd, steal } => {
            program_fd(fds, *fd).and_then(|fd| done(sys::set_controlling_tty(fd, *steal)))
        }
        TtyRequest::IoctlNoCtty { fd } => program_fd(fds, *fd).and_then(|fd| done(sys::drop_controlling_tty(fd))),
        // tcgetsid's value is the session.
        TtyRequest::IoctlGetSid { fd } => program_fd(fds, *fd).and_then(|fd| ret(i64::from(sys::tcgetsid(fd)?))),
        TtyRequest::IoctlGetPtyNumber { fd } => program_fd(fds, *fd).and_then(|fd| ret(sys::pty_number(fd)?)),
        TtyRequest::IoctlSetPtyLock { fd, lock } => {
            program_fd(fds, *fd).and_then(|fd| done(sys::set_pty_lock(fd, *lock)))
        }
    };
    result.unwrap_or_else(Response::from)
}

/// A call whose success is 0.
fn done(r: SysResult<()>) -> Result<Response, Failure> {
    r?;
    ret(0)
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
fn with_sigttou<T>(ignored: bool, call: impl FnOnce() -> T) -> T {
    if ignored {
        sys::with_sigttou_blocked(call)
    } else {
        call()
    }
}

/// TIOCSWINSZ: `struct winsize` is the same on every host.
fn set_winsize(fd: c_int, w: &LinuxWinsize) -> SysResult<()> {
    let ws = libc::winsize { ws_row: w.ws_row, ws_col: w.ws_col, ws_xpixel: w.ws_xpixel, ws_ypixel: w.ws_ypixel };
    sys::set_window_size(fd, &ws)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::host;
    use abi_shared::hypercall::TtyRequest;
    use abi_shared::linux::LinuxTermios;
    use std::os::fd::AsRawFd;

    use super::super::test_support::open_pty;

    fn termios_of(fd: c_int) -> LinuxTermios {
        host::termios_to_linux(&sys::tcgetattr(fd).unwrap())
    }

    #[test]
    fn termios_and_window_size_are_set_on_the_host_terminal() {
        let Some((master, slave)) = open_pty() else {
            eprintln!("no pseudo-terminals on this host: pty test skipped");
            return;
        };
        let (master, slave) = (master.as_raw_fd(), slave.as_raw_fd());
        let guard = FdGuard::default();
        let mut t = termios_of(slave);
        t.c_lflag &= !(libc::ICANON | libc::ECHO);
        t.c_cc[libc::VMIN] = 1;
        for when in 0..3 {
            let req = TtyRequest::IoctlTcsets { fd: slave, when, termios: t, ttou_ignored: when == 1 };
            assert_eq!(handle(&guard, &req), Response::Ret(0));
        }
        assert_eq!(termios_of(slave), t);
        let bad = TtyRequest::IoctlTcsets { fd: slave, when: 3, termios: t, ttou_ignored: false };
        assert_eq!(handle(&guard, &bad), Response::Ret(-i64::from(errno::EINVAL)));
        let winsize = LinuxWinsize { ws_row: 24, ws_col: 132, ws_xpixel: 1, ws_ypixel: 2 };
        assert_eq!(handle(&guard, &TtyRequest::IoctlSetWinsize { fd: slave, winsize }), Response::Ret(0));
        let ws = sys::window_size(master).unwrap();
        assert_eq!((ws.ws_row, ws.ws_col, ws.ws_xpixel, ws.ws_ypixel), (24, 132, 1, 2));
        assert!(matches!(handle(&guard, &TtyRequest::IoctlGetPtyNumber { fd: master }), Response::Ret(n) if n >= 0));
        let enotty = Response::Ret(-i64::from(errno::ENOTTY));
        assert_eq!(handle(&guard, &TtyRequest::IoctlGetPtyNumber { fd: slave }), enotty);
        assert_eq!(handle(&guard, &TtyRequest::IoctlSetPtyLock { fd: master, lock: 0 }), Response::Ret(0));
        // Not this process's controlling terminal: ENOTTY, as on Linux.
        assert_eq!(handle(&guard, &TtyRequest::IoctlGetSid { fd: slave }), Response::Ret(-i64::from(errno::ENOTTY)));
    }

    #[test]
    fn the_monitors_descriptors_and_files_are_refused() {
        let guard = FdGuard::default();
        // A plain dup of stdin, closed at the end.
        let mine = rustix::io::dup(std::io::stdin()).unwrap();
        guard.reserve(mine.as_raw_fd());
        let ebadf = Response::Ret(-i64::from(errno::EBADF));
        assert_eq!(handle(&guard, &TtyRequest::IoctlNoCtty { fd: mine.as_raw_fd() }), ebadf);
        let set_pgrp = TtyRequest::IoctlSetPgrp { fd: mine.as_raw_fd(), pgrp: 1, ttou_ignored: true };
        assert_eq!(handle(&guard, &set_pgrp), ebadf);
        let file = std::fs::File::open("/proc/self/status").unwrap();
        let enotty = Response::Ret(-i64::from(errno::ENOTTY));
        let winsize = LinuxWinsize::default();
        assert_eq!(handle(&guard, &TtyRequest::IoctlSetWinsize { fd: file.as_raw_fd(), winsize }), enotty);
        assert_eq!(handle(&guard, &TtyRequest::IoctlSetCtty { fd: file.as_raw_fd(), steal: 0 }), enotty);
    }
}
