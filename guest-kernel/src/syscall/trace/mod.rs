//! `--strace`: one line per syscall, in strace's format, marked with where it was served.
//!
//! A line is begun before the call, with the arguments the call reads, and ended when it
//! returns, with what the call filled in (a read buffer, a `struct stat`, a signal mask)
//! and its result, as strace does. Both halves go to the monitor as they happen, so that
//! it can split a call that blocks while another thread or process prints, as strace does
//! (`read(3,  <unfinished ...>`, later `<... read resumed>"x", 1) = 1`), and decide the
//! `[pid N]` prefix when the line begins: `TID \x01text` begins a line, `TID \x02text` ends
//! the one this thread began, `TID text` is a whole line (a signal's, the first execve).
//! The text has a tab where strace pads to its result column: the monitor adds the prefix
//! (or `N ` with --strace-output), the padding, and writes the line out. Nothing here runs
//! while tracing is off but the `enabled()` test.

mod decode;
mod fmt;
mod siginfo;
mod structs;
mod xlat;

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

pub use decode::Arg;

use super::table::Entry;
use crate::print::FixedBuf;

pub type Line = FixedBuf<1024>;

/// --strace: set once at boot.
static ENABLED: AtomicBool = AtomicBool::new(false);

pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
    if on {
        crate::signal::show_signals(signal_line);
    }
}

#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

const CLONE: u64 = 56;
const FORK: u64 = 57;
const VFORK: u64 = 58;
const FCNTL: u64 = 72;
const UMASK: u64 = 95;
const CLONE3: u64 = 435;
const EXECVE: u64 = 59;
const EXECVEAT: u64 = 322;
pub const RT_SIGRETURN: u64 = 15;
const RT_SIGTIMEDWAIT: u64 = 128;

/// A line begun before the call: the name and the arguments the call reads, up to the
/// first one it fills (strace's split: what the call reads is shown as it was before the
/// call, even where the call then writes over it, as rt_sigprocmask(SIG_SETMASK, &set, &set)).
pub struct Pending {
    line: Line,
    /// How much of `line` went out when the call began (the monitor has it).
    begun: usize,
    /// The arguments as the line shows them (`shown_args`).
    args: [u64; 6],
    /// The next argument to show, after the call.
    next: usize,
    /// No argument written yet (no separator before the next).
    first: bool,
}

/// The arguments strace shows for a call: its registers, but for rt_sigreturn, which takes
/// none, the address of the mask it restores from the signal frame at the user stack
/// pointer `rsp`.
fn shown_args(nr: u64, args: &[u64; 6], rsp: u64) -> [u64; 6] {
    if nr == RT_SIGRETURN {
        [crate::signal::frame::sigreturn_mask_address(rsp), 0, 0, 0, 0, 0]
    } else {
        *args
    }
}

/// A call a host signal cut short, which the guest runs again unseen unless a signal is
/// taken first (Linux would not have been interrupted by a signal the thread blocks): its
/// line waits here, one per thread, to be continued by the call's next run or ended, as
/// strace shows an interrupted call, by the signal's line.
struct Held {
    tid: i32,
    nr: u64,
    in_guest: bool,
    always: bool,
    p: Pending,
}

static HELD: spin::Mutex<alloc::vec::Vec<Held>> = spin::Mutex::new(alloc::vec::Vec::new());

fn take_held() -> Option<Held> {
    let tid = crate::task::tid();
    let mut held = HELD.lock();
    let i = held.iter().position(|h| h.tid == tid)?;
    Some(held.swap_remove(i))
}

/// End the calling thread's waiting line, if any, as interrupted.
fn end_held() {
    if let Some(h) = take_held() {
        finish(h.p, h.nr, super::table::lookup(h.nr), EINTR, false, h.in_guest, h.always);
    }
}

/// Before the call, when tracing: begin its line (`rsp`: the user stack pointer).
#[inline(never)]
pub fn at_entry(nr: u64, entry: Option<&Entry>, args: &[u64; 6], rsp: u64) -> Pending {
    if let Some(h) = take_held() {
        if h.nr == nr {
            // The interrupted call runs again: its line goes on.
            return h.p;
        }
        finish(h.p, h.nr, super::table::lookup(h.nr), EINTR, false, h.in_guest, h.always);
    }
    let args = &shown_args(nr, args, rsp);
    let mut p = Pending { line: Line::new(), begun: 0, args: *args, next: 0, first: true };
    let _ = write!(p.line, "{} {BEGIN}", crate::task::tid());
    match entry {
        Some(e) => {
            let _ = write!(p.line, "{}(", e.name);
            show_args(&mut p, e.args, args, None);
        }
        None => {
            // Not implemented here: the name Linux has for the number (strace's
            // `syscall_0x...` for one it has not), and the six registers.
            let _ = match abi_shared::syscalls::syscall_name(nr) {
                Some(name) => write!(p.line, "{name}("),
                None => write!(p.line, "syscall_{nr:#x}("),
            };
            for (i, a) in args.iter().enumerate() {
                let _ = p.line.write_str(if i > 0 { ", " } else { "" });
                let _ = fmt::hex0(&mut p.line, *a);
            }
            p.next = 6;
        }
    }
    crate::hypercall::trace(p.line.as_bytes());
    p.begun = p.line.len;
    p
}

/// The marks after `TID ` that say which half of a line a message is.
const BEGIN: char = '\x01';
const END: char = '\x02';
const THREAD_EXIT: char = '\x03';

/// Send the rest of `p`'s line, what was added since it began, after the call's name
/// (`TID \x02name\x01rest`: the name for strace's `<... name resumed>`, which the monitor
/// needs when another thread or process printed in between; by then, after an exec by a
/// thread other than the first, the thread's id is the first's).
fn send_end(p: &Pending, nr: u64, entry: Option<&Entry>) {
    let mut end = Line::new();
    let _ = write!(end, "{} {END}", crate::task::tid());
    let _ = match entry.map(|e| e.name).or_else(|| abi_shared::syscalls::syscall_name(nr)) {
        Some(name) => end.write_str(name),
        None => write!(end, "syscall_{nr:#x}"),
    };
    let _ = end.write_char(BEGIN);
    let tail = &p.line.as_bytes()[p.begun..];
    let n = tail.len().min(end.buf.len() - end.len);
    end.buf[end.len..end.len + n].copy_from_slice(&tail[..n]);
    end.len += n;
    crate::hypercall::trace(end.as_bytes());
}

/// Show the arguments from `p.next` on: before the call (`ret` None) up to the first that
/// the call fills, after it the rest.
fn show_args(p: &mut Pending, kinds: &[Arg], args: &[u64; 6], ret: Option<i64>) {
    let call = decode::Call { args, ret };
    while let Some(&kind) = kinds.get(p.next) {
        if ret.is_none() && matches!(kind, Arg::Clone | Arg::Clone3) {
            // Shown in two parts, as strace shows it: what the call reads now, the rest after.
            if !p.first {
                let _ = p.line.write_str(", ");
            }
            p.first = !decode::show(&mut p.line, kind, p.next, &call);
            return;
        }
        if kind == Arg::Clone3 {
            // ` => {parent_tid=[N]}` right after the struct, then the size.
            decode::show(&mut p.line, kind, p.next, &call);
            p.next += 1;
            continue;
        }
        if ret.is_none() && decode::is_output(kind) {
            // strace's begun line ends with the separator before what the call fills in.
            if !p.first && decode::shown_after(kind, args) {
                let _ = p.line.write_str(", ");
                p.first = true;
            }
            return;
        }
        let mark = p.line.len;
        if !p.first {
            let _ = p.line.write_str(", ");
        }
        if decode::show(&mut p.line, kind, p.next, &call) {
            p.first = false;
        } else {
            p.line.len = mark;
        }
        p.next = if kind == Arg::Clone { kinds.len() } else { p.next + 1 };
    }
}

/// After the call: the rest of its line and its result.
#[inline(never)]
pub fn at_exit(p: Pending, nr: u64, entry: Option<&Entry>, ret: i64, in_guest: bool, full_return: bool) {
    // A new process's (or thread's) return from fork: strace shows only the parent's.
    if matches!(nr, CLONE | FORK | VFORK | CLONE3) && ret == 0 {
        return;
    }
    if matches!(nr, EXECVE | EXECVEAT) && ret == 0 {
        // The other threads are gone, with any line they held; their ids may come back.
        HELD.lock().clear();
    }
    let always = crate::signal::restarts_always(nr);
    if ret == EINTR && !full_return && crate::signal::restart_noted(nr) {
        let tid = crate::task::tid();
        HELD.lock().push(Held { tid, nr, in_guest, always, p });
        return;
    }
    finish(p, nr, entry, ret, full_return, in_guest, always);
}

/// The rest of a call's line and its result (`unknown`: `?`, the call rewrote the whole
/// user state, as exit does); `always`: an interruption restarts it whatever SA_RESTART says.
fn finish(mut p: Pending, nr: u64, entry: Option<&Entry>, ret: i64, unknown: bool, in_guest: bool, always: bool) {
    let shown = p.args;
    let args = &shown;
    if let Some(e) = entry {
        show_args(&mut p, e.args, args, Some(ret));
    }
    let line = &mut p.line;
    let _ = line.write_str(")\t= ");
    let _ = if unknown { line.write_str("?") } else { result(line, nr, args, ret, always) };
    let _ = write!(line, " [{}]", if in_guest { "guest" } else { "hypercall" });
    send_end(&p, nr, entry);
}

/// The result as strace shows it: `-1 ENOENT (No such file or directory)`, addresses in
/// hexadecimal, umask's in octal, fcntl's flags by name.
fn result(line: &mut Line, nr: u64, args: &[u64; 6], ret: i64, always: bool) -> core::fmt::Result {
    if ret == EINTR {
        if let Some((code, text)) = restart_code(nr, args, always) {
            return write!(line, "? {code} ({text})");
        }
    }
    if (-4095..0).contains(&ret) {
        let e = -ret;
        return match xlat::ERRNOS.get(e as usize).copied().flatten() {
            Some((name, text)) => write!(line, "-1 {name} ({text})"),
            None => write!(line, "-1 E??? (errno {e})"),
        };
    }
    let v = ret as u64;
    match nr {
        9 | 12 | 25 | 30 => fmt::hex0(line, v),
        RT_SIGTIMEDWAIT => {
            write!(line, "{v} (")?;
            fmt::signal(line, v)?;
            line.write_char(')')
        }
        UMASK => fmt::mode(line, v),
        FCNTL if v != 0 && args[1] == u64::from(abi_shared::linux::general::F_GETFD) => {
            write!(line, "{v:#x} (flags ")?;
            fmt::flags(line, xlat::FD_FLAGS, v, "0")?;
            line.write_char(')')
        }
        FCNTL if args[1] == u64::from(abi_shared::linux::general::F_GETFL) => {
            if v == 0 {
                line.write_str("0 (flags ")?;
            } else {
                write!(line, "{v:#x} (flags ")?;
            }
            fmt::open_flags(line, v)?;
            line.write_char(')')
        }
        _ => write!(line, "{ret}"),
    }
}

/// A signal the thread takes now, before its handler runs or its disposition (default or
/// SIG_IGN) applies: strace's line for a signal-delivery stop,
/// `--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, ...} ---`; and for a stop by a
/// signal's default action, strace's group-stop line `--- stopped by SIGTSTP ---`.
#[inline(never)]
fn signal_line(shown: crate::signal::Shown<'_>) {
    end_held();
    let mut line = Line::new();
    let _ = write!(line, "{} --- ", crate::task::tid());
    let _ = match shown {
        crate::signal::Shown::Taken(info) => fmt::signal(&mut line, info.signo as u64)
            .and_then(|_| line.write_char(' '))
            .and_then(|_| siginfo::siginfo(&mut line, info)),
        crate::signal::Shown::StoppedBy(sig) => {
            line.write_str("stopped by ").and_then(|_| fmt::signal(&mut line, sig as u64))
        }
    };
    let _ = line.write_str(" ---");
    crate::hypercall::trace(line.as_bytes());
}

const EINTR: i64 = -(abi_shared::linux::errno::EINTR as i64);

/// What Linux's syscall returns when a signal cuts it short, as strace shows it at the
/// syscall's exit: a restart code that signal delivery then turns into a restart or into
/// EINTR (the program's view, which rt_sigreturn's result shows after a handler); None
/// for the calls that give EINTR outright.
fn restart_code(nr: u64, args: &[u64; 6], always: bool) -> Option<(&'static str, &'static str)> {
    const SYS: (&str, &str) = ("ERESTARTSYS", "To be restarted if SA_RESTART is set");
    const NOINTR: (&str, &str) = ("ERESTARTNOINTR", "To be restarted");
    const NOHAND: (&str, &str) = ("ERESTARTNOHAND", "To be restarted if no handler");
    const BLOCK: (&str, &str) = ("ERESTART_RESTARTBLOCK", "Interrupted by signal");
    const FUTEX: u64 = 202;
    match nr {
        // rt_sigreturn: the value it restores (the interrupted call's EINTR, when a handler
        // ended it), as it is.
        RT_SIGRETURN => None,
        // epoll_wait, epoll_pwait, epoll_pwait2, io_getevents, semop, semtimedop,
        // rt_sigtimedwait: EINTR.
        232 | 281 | 441 | 208 | 65 | 220 | 128 => None,
        // pause, rt_sigsuspend, select, pselect6, ppoll, msgsnd, msgrcv.
        34 | 130 | 23 | 270 | 271 | 69 | 70 => Some(NOHAND),
        // poll: with a timeout it resumes with what is left of it.
        7 if (args[2] as i32) < 0 => Some(NOHAND),
        // poll, nanosleep, clock_nanosleep.
        7 | 35 | 230 => Some(BLOCK),
        // A futex wait with a timeout resumes with what is left of it, as the sleeps do.
        FUTEX if args[3] != 0 && matches!(args[1] & 0x7f, 0 | 9) => Some(BLOCK),
        _ if always => Some(NOINTR),
        _ => Some(SYS),
    }
}

/// A syscall that does not return (exit, exit_group): `= ?` now.
pub fn no_return(mut p: Pending, nr: u64, entry: Option<&Entry>) {
    let _ = p.line.write_str(")\t= ?");
    send_end(&p, nr, entry);
}

/// A thread ended by exit(2) while its process goes on: strace's `+++ exited with N +++`
/// for it (the monitor writes the line and counts the thread out).
pub fn thread_exited(status: i32) {
    if enabled() {
        end_held();
        let mut line = Line::new();
        let _ = write!(line, "{} {THREAD_EXIT}{status}", crate::task::tid());
        crate::hypercall::trace(line.as_bytes());
    }
}

/// The first program's execve, as strace shows the exec it makes itself:
/// `execve("./prog", ["./prog", "a"], 0x7ffd... /* 12 vars */) = 0`. `sp` is the initial
/// user stack (argc, argv..., NULL, envp..., NULL), where the environment is.
#[inline(never)]
pub fn first_execve(path: &[u8], argv: &[alloc::vec::Vec<u8>], sp: u64) {
    let mut line = Line::new();
    let _ = write!(line, "{} execve(", crate::task::tid());
    let _ = fmt::quote(&mut line, path, false, false);
    let _ = line.write_str(", [");
    for (i, a) in argv.iter().enumerate() {
        let _ = line.write_str(if i > 0 { ", " } else { "" });
        let n = a.len().min(32);
        let _ = fmt::quote(&mut line, &a[..n], n < a.len(), false);
    }
    let _ = line.write_str("], ");
    let argc = crate::mm::uaccess::read_u64(sp).unwrap_or(0);
    let args = [0, 0, sp + 8 * (argc + 2), 0, 0, 0];
    decode::show(&mut line, Arg::Envp, 2, &decode::Call { args: &args, ret: Some(0) });
    let _ = line.write_str(")\t= 0 [guest]");
    crate::hypercall::trace(line.as_bytes());
}
