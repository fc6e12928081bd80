//! `--strace`: one line per syscall, in strace's format, marked with where it was served.

use core::fmt::Write;
use core::sync::atomic::{AtomicBool, Ordering};

use super::table::Entry;
use crate::print::FixedBuf;

/// How to show an argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Signed decimal.
    D,
    /// Hexadecimal.
    X,
    /// Octal (modes).
    Oct,
    /// A file descriptor.
    Fd,
    /// A directory fd: AT_FDCWD by name.
    DirFd,
    /// A NUL-terminated string.
    Str,
    /// A pointer.
    Ptr,
    /// The bytes being written: the next argument is the length.
    WBuf,
}

pub type Line = FixedBuf<600>;

/// --strace: set once at boot.
static ENABLED: AtomicBool = AtomicBool::new(false);

pub fn set_enabled(on: bool) {
    ENABLED.store(on, Ordering::Relaxed);
}

#[inline]
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

pub fn before(nr: u64, entry: Option<&Entry>, args: &[u64; 6]) -> Line {
    let mut line = Line::new();
    let Some(e) = entry else {
        let _ = write!(line, "syscall_{nr:#x}({:#x}, {:#x}, {:#x}", args[0], args[1], args[2]);
        return line;
    };
    let _ = write!(line, "{}(", e.name);
    for (i, kind) in e.args.iter().enumerate() {
        if i > 0 {
            let _ = line.write_str(", ");
        }
        show_arg(&mut line, *kind, args[i], args.get(i + 1).copied().unwrap_or(0));
    }
    line
}

fn show_arg(line: &mut Line, kind: Arg, v: u64, next: u64) {
    let _ = match kind {
        Arg::D => write!(line, "{}", v as i64),
        Arg::X => write!(line, "{v:#x}"),
        Arg::Oct => write!(line, "0{v:o}"),
        Arg::Fd => write!(line, "{}", v as i32),
        Arg::DirFd if v as i32 == -100 => line.write_str("AT_FDCWD"),
        Arg::DirFd => write!(line, "{}", v as i32),
        Arg::Ptr if v == 0 => line.write_str("NULL"),
        Arg::Ptr => write!(line, "{v:#x}"),
        Arg::Str => show_string(line, v, 4096, None),
        Arg::WBuf => show_string(line, v, next as usize, Some(32)),
    };
}

/// Quote user bytes as strace does (escapes, `...` when cut).
fn show_string(line: &mut Line, addr: u64, len: usize, cut: Option<usize>) -> core::fmt::Result {
    let mut buf = [0u8; 64];
    let want = len.min(cut.unwrap_or(64)).min(buf.len());
    let bytes: &[u8] = if cut.is_some() {
        match crate::mm::uaccess::copy_from_user(addr, &mut buf[..want]) {
            Ok(()) => &buf[..want],
            Err(_) => return write!(line, "{addr:#x}"),
        }
    } else {
        match crate::mm::uaccess::read_cstr(addr, 4096) {
            Ok(Some(s)) => {
                let n = s.len().min(buf.len());
                buf[..n].copy_from_slice(&s[..n]);
                &buf[..n]
            }
            _ => return write!(line, "{addr:#x}"),
        }
    };
    line.write_char('"')?;
    for &b in bytes {
        match b {
            b'\n' => line.write_str("\\n")?,
            b'\t' => line.write_str("\\t")?,
            b'"' => line.write_str("\\\"")?,
            b'\\' => line.write_str("\\\\")?,
            0x20..=0x7e => line.write_char(b as char)?,
            _ => write!(line, "\\{b:o}")?,
        }
    }
    line.write_char('"')?;
    if cut.is_some_and(|c| len > c) {
        line.write_str("...")?;
    }
    Ok(())
}

pub fn after(mut line: Line, ret: i64, in_guest: bool, full_return: bool) {
    let place = if in_guest { "guest" } else { "hypercall" };
    let _ = if full_return {
        write!(line, ") = ? [{place}]")
    } else if (-4095..0).contains(&ret) {
        write!(line, ") = -1 {} [{place}]", errno_name(-ret))
    } else if ret > 0xffff {
        write!(line, ") = {ret:#x} [{place}]")
    } else {
        write!(line, ") = {ret} [{place}]")
    };
    crate::hypercall::trace(line.as_bytes());
}

pub fn errno_name(e: i64) -> &'static str {
    const NAMES: [&str; 41] = [
        "0",
        "EPERM",
        "ENOENT",
        "ESRCH",
        "EINTR",
        "EIO",
        "ENXIO",
        "E2BIG",
        "ENOEXEC",
        "EBADF",
        "ECHILD",
        "EAGAIN",
        "ENOMEM",
        "EACCES",
        "EFAULT",
        "ENOTBLK",
        "EBUSY",
        "EEXIST",
        "EXDEV",
        "ENODEV",
        "ENOTDIR",
        "EISDIR",
        "EINVAL",
        "ENFILE",
        "EMFILE",
        "ENOTTY",
        "ETXTBSY",
        "EFBIG",
        "ENOSPC",
        "ESPIPE",
        "EROFS",
        "EMLINK",
        "EPIPE",
        "EDOM",
        "ERANGE",
        "EDEADLK",
        "ENAMETOOLONG",
        "ENOLCK",
        "ENOSYS",
        "ENOTEMPTY",
        "ELOOP",
    ];
    NAMES.get(e as usize).copied().unwrap_or(match e {
        95 => "EOPNOTSUPP",
        110 => "ETIMEDOUT",
        _ => "E?",
    })
}

/// A syscall that does not return (exit, exit_group).
pub fn no_return(mut line: Line) {
    let _ = line.write_str(") = ?");
    crate::hypercall::trace(line.as_bytes());
}
