//! Terminals: termios, window size, process groups, the controlling terminal, and
//! SIGTTOU blocking.

use super::*;

/// TCGETS: the host's termios of a terminal.
pub fn tcgetattr(raw: c_int) -> SysResult<libc::termios> {
    // SAFETY: t is a valid out-pointer for one struct termios.
    out_struct(|t| unsafe { libc::tcgetattr(raw, t) })
}

/// TIOCGWINSZ.
pub fn window_size(raw: c_int) -> SysResult<libc::winsize> {
    // SAFETY: TIOCGWINSZ writes one struct winsize through the valid out-pointer ws.
    out_struct(|ws: *mut libc::winsize| unsafe { libc::ioctl(raw, libc::TIOCGWINSZ, ws) })
}

/// TIOCSWINSZ: `struct winsize` is the same on every host.
pub fn set_window_size(raw: c_int, ws: &libc::winsize) -> SysResult<()> {
    // SAFETY: TIOCSWINSZ reads one struct winsize from a valid pointer.
    check(unsafe { libc::ioctl(raw, libc::TIOCSWINSZ, ws) }).map(drop)
}

/// FIONREAD: how many bytes a read would return now.
pub fn bytes_readable(raw: c_int) -> SysResult<c_int> {
    let mut n: c_int = 0;
    // SAFETY: FIONREAD writes one int through the valid pointer.
    check(unsafe { libc::ioctl(raw, libc::FIONREAD, &mut n) })?;
    Ok(n)
}

/// TIOCGPGRP: the foreground process group of a terminal.
pub fn foreground_pgrp(raw: c_int) -> SysResult<libc::pid_t> {
    let mut pgrp: libc::pid_t = 0;
    // SAFETY: TIOCGPGRP writes one pid_t through the valid pointer.
    check(unsafe { libc::ioctl(raw, libc::TIOCGPGRP, &mut pgrp) })?;
    Ok(pgrp)
}

pub fn tcsetpgrp(raw: c_int, pgrp: libc::pid_t) -> SysResult<()> {
    // SAFETY: tcsetpgrp takes no pointers.
    check(unsafe { libc::tcsetpgrp(raw, pgrp) }).map(drop)
}

/// TIOCSCTTY: make the terminal the caller's controlling terminal (`steal` as the
/// program gave it: Linux steals only for 1).
pub fn set_controlling_tty(raw: c_int, steal: c_int) -> SysResult<()> {
    // libc types TIOCSCTTY differently on Darwin (u32) than ioctl's request (c_ulong).
    #[allow(clippy::unnecessary_cast)]
    const TIOCSCTTY: libc::c_ulong = libc::TIOCSCTTY as libc::c_ulong;
    // SAFETY: TIOCSCTTY takes an int argument, not a pointer.
    check(unsafe { libc::ioctl(raw, TIOCSCTTY, steal) }).map(drop)
}

/// TIOCNOTTY: give up the controlling terminal.
pub fn drop_controlling_tty(raw: c_int) -> SysResult<()> {
    // SAFETY: TIOCNOTTY takes no argument.
    check(unsafe { libc::ioctl(raw, libc::TIOCNOTTY) }).map(drop)
}

pub fn tcgetsid(raw: c_int) -> SysResult<libc::pid_t> {
    // SAFETY: tcgetsid takes no pointers.
    Ok(check(unsafe { libc::tcgetsid(raw) })? as libc::pid_t)
}

/// Run `call` with SIGTTOU blocked on this thread (restored after, before anything else
/// runs on the thread).
pub fn with_sigttou_blocked<T>(call: impl FnOnce() -> T) -> T {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before use.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: the same, for the old mask pthread_sigmask fills.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: set and old are valid sigset_t; only this thread's mask changes, and it is
    // restored below.
    unsafe {
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old);
    }
    // A failing call inside reads errno before the mask is restored.
    let result = call();
    // SAFETY: old is the mask saved above.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    result
}

/// A host signal mask holding the given host signals.
pub fn sigset_of(signals: impl IntoIterator<Item = c_int>) -> libc::sigset_t {
    // SAFETY: a zeroed sigset_t is valid; sigemptyset/sigaddset fill it.
    let mut mask: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: mask is a valid sigset_t.
    unsafe { libc::sigemptyset(&mut mask) };
    for sig in signals {
        // SAFETY: as above; an invalid number is refused by sigaddset, changing nothing.
        unsafe { libc::sigaddset(&mut mask, sig) };
    }
    mask
}
