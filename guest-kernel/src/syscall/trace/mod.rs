//! `--strace`: one line per syscall, in strace's format, marked with where it was served.
//!
//! A line is made when the call returns, so that what the call filled in (a read buffer, a
//! `struct stat`, a signal mask) is shown as strace shows it; execve's and exit's lines are
//! made before the call, since it replaces or ends the memory they describe. Each line goes
//! to the monitor as `TID text`, with a tab where strace pads to its result column: the
//! monitor adds the `[pid N]` prefix (or `N ` with --strace-output), the padding, and
//! writes the line out. Nothing here runs while tracing is off but the `enabled()` test.

mod decode;
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
}

#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

const CLONE: u64 = 56;
const FORK: u64 = 57;
const VFORK: u64 = 58;
const EXECVE: u64 = 59;
const EXIT: u64 = 60;
const FCNTL: u64 = 72;
const UMASK: u64 = 95;
const EXIT_GROUP: u64 = 231;
const EXECVEAT: u64 = 322;
const CLONE3: u64 = 435;

/// Before the call: the line of a call whose arguments will not outlive it (execve,
/// execveat, exit, exit_group); None for every other call, shown at return.
#[inline(never)]
pub fn at_entry(nr: u64, entry: Option<&Entry>, args: &[u64; 6]) -> Option<Line> {
    matches!(nr, EXECVE | EXECVEAT | EXIT | EXIT_GROUP).then(|| call_line(nr, entry, args, None))
}

/// `TID name(args` of one call.
fn call_line(nr: u64, entry: Option<&Entry>, args: &[u64; 6], ret: Option<i64>) -> Line {
    let mut line = Line::new();
    let _ = write!(line, "{} ", crate::task::tid());
    let call = decode::Call { args, ret };
    match entry {
        Some(e) => {
            let _ = write!(line, "{}(", e.name);
            let mut first = true;
            for (i, kind) in e.args.iter().enumerate() {
                let mark = line.len;
                if !first {
                    let _ = line.write_str(", ");
                }
                if decode::show(&mut line, *kind, i, &call) {
                    first = false;
                } else {
                    line.len = mark;
                }
                if *kind == Arg::Clone {
                    break;
                }
            }
        }
        None => {
            // Not implemented here: the name Linux has for the number (strace's
            // `syscall_0x...` for one it has not), and the six registers.
            let _ = match abi_shared::syscalls::syscall_name(nr) {
                Some(name) => write!(line, "{name}("),
                None => write!(line, "syscall_{nr:#x}("),
            };
            for (i, a) in args.iter().enumerate() {
                let _ = line.write_str(if i > 0 { ", " } else { "" });
                let _ = decode::hex0(&mut line, *a);
            }
        }
    }
    line
}

/// After the call: the whole line (or the end of the one made at entry) with its result.
#[inline(never)]
pub fn at_exit(
    pre: Option<Line>,
    nr: u64,
    entry: Option<&Entry>,
    args: &[u64; 6],
    ret: i64,
    in_guest: bool,
    full_return: bool,
) {
    // A new process's (or thread's) return from fork: strace shows only the parent's.
    if matches!(nr, CLONE | FORK | VFORK | CLONE3) && ret == 0 {
        return;
    }
    let mut line = pre.unwrap_or_else(|| call_line(nr, entry, args, Some(ret)));
    let _ = line.write_str(")\t= ");
    if full_return {
        let _ = line.write_str("?");
    } else {
        let _ = result(&mut line, nr, args, ret);
    }
    let _ = write!(line, " [{}]", if in_guest { "guest" } else { "hypercall" });
    crate::hypercall::trace(line.as_bytes());
}

/// The result as strace shows it: `-1 ENOENT (No such file or directory)`, addresses in
/// hexadecimal, umask's in octal, fcntl's flags by name.
fn result(line: &mut Line, nr: u64, args: &[u64; 6], ret: i64) -> core::fmt::Result {
    if (-4095..0).contains(&ret) {
        let e = -ret;
        return match xlat::ERRNOS.get(e as usize).copied().flatten() {
            Some((name, text)) => write!(line, "-1 {name} ({text})"),
            None => write!(line, "-1 E??? (errno {e})"),
        };
    }
    let v = ret as u64;
    match nr {
        9 | 12 | 25 | 30 => decode::hex0(line, v),
        UMASK => decode::mode(line, v),
        FCNTL if v != 0 && args[1] == u64::from(abi_shared::linux::general::F_GETFD) => {
            write!(line, "{v:#x} (flags ")?;
            decode::flags(line, xlat::FD_FLAGS, v, "0")?;
            line.write_char(')')
        }
        FCNTL if args[1] == u64::from(abi_shared::linux::general::F_GETFL) => {
            if v == 0 {
                line.write_str("0 (flags ")?;
            } else {
                write!(line, "{v:#x} (flags ")?;
            }
            decode::open_flags(line, v)?;
            line.write_char(')')
        }
        _ => write!(line, "{ret}"),
    }
}

/// A syscall that does not return (exit, exit_group): `= ?` now.
pub fn no_return(mut line: Line) {
    let _ = line.write_str(")\t= ?");
    crate::hypercall::trace(line.as_bytes());
}

/// The first program's execve, as strace shows the exec it makes itself:
/// `execve("./prog", ["./prog", "a"], 0x7ffd... /* 12 vars */) = 0`. `sp` is the initial
/// user stack (argc, argv..., NULL, envp..., NULL), where the environment is.
#[inline(never)]
pub fn first_execve(path: &[u8], argv: &[alloc::vec::Vec<u8>], sp: u64) {
    let mut line = Line::new();
    let _ = write!(line, "{} execve(", crate::task::tid());
    let _ = decode::quote(&mut line, path, false, false);
    let _ = line.write_str(", [");
    for (i, a) in argv.iter().enumerate() {
        let _ = line.write_str(if i > 0 { ", " } else { "" });
        let n = a.len().min(32);
        let _ = decode::quote(&mut line, &a[..n], n < a.len(), false);
    }
    let _ = line.write_str("], ");
    let argc = crate::mm::uaccess::read_u64(sp).unwrap_or(0);
    let args = [0, 0, sp + 8 * (argc + 2), 0, 0, 0];
    decode::show(&mut line, Arg::Envp, 2, &decode::Call { args: &args, ret: Some(0) });
    let _ = line.write_str(")\t= 0 [guest]");
    crate::hypercall::trace(line.as_bytes());
}
