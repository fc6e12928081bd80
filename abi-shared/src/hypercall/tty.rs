//! Terminal ioctls that change or ask the host terminal.

use crate::linux::{LinuxTermios, LinuxWinsize};
use serde::{Deserialize, Serialize};

/// `Request::Tty`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum TtyRequest {
    /// ioctl TCGETS: answered with `Response::Termios`.
    IoctlTcgets { fd: i32 },
    /// ioctl TIOCGWINSZ: answered with `Response::Winsize`.
    IoctlGetWinsize { fd: i32 },
    /// ioctl TIOCGPGRP: the terminal's foreground process group, as `Ret`.
    IoctlGetPgrp { fd: i32 },
    /// ioctl TCSETS (`when` 0), TCSETSW (1, after output drained) and TCSETSF (2, and input
    /// flushed). `ttou_ignored`: the program blocks or ignores SIGTTOU, so that a background
    /// process may change the terminal, as on Linux.
    IoctlTcsets { fd: i32, when: u8, termios: LinuxTermios, ttou_ignored: bool },
    /// ioctl TIOCSWINSZ.
    IoctlSetWinsize { fd: i32, winsize: LinuxWinsize },
    /// ioctl TIOCSPGRP (tcsetpgrp); `ttou_ignored` as for `IoctlTcsets`.
    IoctlSetPgrp { fd: i32, pgrp: i32, ttou_ignored: bool },
    /// ioctl TIOCSCTTY: make the terminal the session's controlling terminal (`steal` 1:
    /// take it from another session, which needs CAP_SYS_ADMIN).
    IoctlSetCtty { fd: i32, steal: i32 },
    /// ioctl TIOCNOTTY: give up the controlling terminal.
    IoctlNoCtty { fd: i32 },
    /// ioctl TIOCGSID: the session of the terminal, as `Ret`.
    IoctlGetSid { fd: i32 },
    /// ioctl TIOCGPTN on a pseudo-terminal master: the slave's number (/dev/pts/N), as `Ret`.
    IoctlGetPtyNumber { fd: i32 },
    /// ioctl TIOCSPTLCK on a pseudo-terminal master: lock (non-zero) or unlock the slave.
    IoctlSetPtyLock { fd: i32, lock: i32 },
}
