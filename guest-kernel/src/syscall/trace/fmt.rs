//! The small pieces of strace's notation every argument is made of: numbers, names from
//! the tables, flag sets, signals, modes, device numbers, quoted strings and paths, and the
//! read of a plain value from user memory.

use core::fmt::Write;

use abi_shared::linux::general as g;

use super::xlat::{self, name_of, Xlat};
use super::Line;

/// strace's limit on string and buffer lengths (`-s 32`).
pub(super) const MAX_STRLEN: usize = 32;
/// Longest path shown (the line has room for little more).
pub(super) const MAX_PATH: usize = 512;

/// A plain value of type T at `addr` in user memory (None for NULL or a bad address).
pub(super) fn read<T: abi_shared::linux::Pod + Default>(addr: u64) -> Option<T> {
    if addr == 0 {
        return None;
    }
    crate::mm::uaccess::read_struct::<T>(addr).ok()
}

pub(super) fn ptr(line: &mut Line, v: u64) -> core::fmt::Result {
    if v == 0 {
        line.write_str("NULL")
    } else {
        write!(line, "{v:#x}")
    }
}

pub(super) fn dirfd(line: &mut Line, v: u64) -> core::fmt::Result {
    if v as i32 == g::AT_FDCWD {
        line.write_str("AT_FDCWD")
    } else {
        write!(line, "{}", v as i32)
    }
}

/// strace's `%#03o`: 0644, 000, 04755.
pub fn mode(line: &mut Line, v: u64) -> core::fmt::Result {
    if v == 0 {
        line.write_str("000")
    } else {
        write!(line, "0{v:o}")
    }
}

/// The name of `v` in `table`, else the number (hexadecimal or decimal).
pub(super) fn named(line: &mut Line, table: Xlat, v: u64, hex: bool) -> core::fmt::Result {
    match name_of(table, v) {
        Some(n) => line.write_str(n),
        None if hex => write!(line, "{v:#x}"),
        None => write!(line, "{}", v as i64),
    }
}

/// The names of the bits of `v` in table order, then what is left in hexadecimal; `zero`
/// for no bit at all.
pub fn flags(line: &mut Line, table: Xlat, v: u64, zero: &str) -> core::fmt::Result {
    if v == 0 {
        return line.write_str(zero);
    }
    flag_names(line, table, v, false)
}

/// The bits of `v` by name; `sep_first` puts a `|` before the first.
pub(super) fn flag_names(line: &mut Line, table: Xlat, v: u64, mut sep: bool) -> core::fmt::Result {
    let mut rest = v;
    for &(bits, name) in table {
        if bits != 0 && rest & bits == bits {
            if sep {
                line.write_char('|')?;
            }
            line.write_str(name)?;
            rest &= !bits;
            sep = true;
        }
    }
    if rest != 0 {
        if sep {
            line.write_char('|')?;
        }
        write!(line, "{rest:#x}")?;
    }
    Ok(())
}

/// O_RDONLY|O_CLOEXEC|O_DIRECTORY.
pub fn open_flags(line: &mut Line, v: u64) -> core::fmt::Result {
    let acc = ["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"][(v & 3) as usize];
    line.write_str(acc)?;
    let rest = v & !3;
    if rest == 0 {
        return Ok(());
    }
    flag_names(line, xlat::OPEN_FLAGS, rest, true)
}

pub(super) fn map_flags(line: &mut Line, v: u64) -> core::fmt::Result {
    let kind = v & 0xf;
    let rest = v & !0xf;
    match name_of(xlat::MAP_TYPES, kind) {
        Some(n) => line.write_str(n)?,
        None => write!(line, "{kind:#x}")?,
    }
    if rest != 0 {
        flag_names(line, xlat::MAP_FLAGS, rest, true)?;
    }
    Ok(())
}

pub(super) fn sock_type(line: &mut Line, v: u64) -> core::fmt::Result {
    let base = v & 0xf;
    named(line, xlat::SOCK_TYPES, base, true)?;
    let rest = v & !0xf;
    if rest != 0 {
        flag_names(line, xlat::SOCK_FLAGS, rest, true)?;
    }
    Ok(())
}

/// SIGINT, SIGRTMIN, SIGRT_3, or the number.
pub fn signal(line: &mut Line, v: u64) -> core::fmt::Result {
    let s = v as i32;
    match s {
        1..=31 => line.write_str(xlat::SIGNALS[s as usize]),
        32 => line.write_str("SIGRTMIN"),
        33..=64 => write!(line, "SIGRT_{}", s - 32),
        _ => write!(line, "{s}"),
    }
}

/// `%#x`: 0 as 0, else 0x...
pub fn hex0(line: &mut Line, v: u64) -> core::fmt::Result {
    if v == 0 {
        line.write_char('0')
    } else {
        write!(line, "{v:#x}")
    }
}

/// glibc's major()/minor() of a 64-bit dev_t.
pub(super) fn dev_parts(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major & 0xffff_ffff, minor & 0xffff_ffff)
}

/// S_IFREG|S_ISUID|0755.
pub(super) fn file_mode(line: &mut Line, m: u32) -> core::fmt::Result {
    let kind = match m & g::S_IFMT {
        g::S_IFREG => "S_IFREG",
        g::S_IFDIR => "S_IFDIR",
        g::S_IFCHR => "S_IFCHR",
        g::S_IFBLK => "S_IFBLK",
        g::S_IFIFO => "S_IFIFO",
        g::S_IFLNK => "S_IFLNK",
        g::S_IFSOCK => "S_IFSOCK",
        _ => "",
    };
    if kind.is_empty() {
        write!(line, "0{:o}", m & g::S_IFMT)?;
    } else {
        line.write_str(kind)?;
    }
    for (bit, name) in [(g::S_ISUID, "S_ISUID"), (g::S_ISGID, "S_ISGID"), (g::S_ISVTX, "S_ISVTX")] {
        if m & bit != 0 {
            write!(line, "|{name}")?;
        }
    }
    line.write_char('|')?;
    mode(line, u64::from(m & 0o777))
}

pub(super) fn rlim_value(line: &mut Line, v: u64) -> core::fmt::Result {
    if v == u64::MAX {
        line.write_str("RLIM64_INFINITY")
    } else if v > 0 && v.is_multiple_of(1024) {
        write!(line, "{}*1024", v / 1024)
    } else {
        write!(line, "{v}")
    }
}

/// A path: the whole string (up to a limit), or the address when it cannot be read.
pub(super) fn path(line: &mut Line, addr: u64) -> core::fmt::Result {
    if addr == 0 {
        return line.write_str("NULL");
    }
    match crate::mm::uaccess::read_cstr(addr, 4096) {
        Ok(Some(s)) => {
            let n = s.len().min(MAX_PATH);
            quote(line, &s[..n], n < s.len(), false)
        }
        _ => write!(line, "{addr:#x}"),
    }
}

/// A C string cut at strace's 32 bytes (argv elements).
pub(super) fn short_string(line: &mut Line, addr: u64) -> core::fmt::Result {
    match crate::mm::uaccess::read_cstr(addr, 4096) {
        Ok(Some(s)) => {
            let n = s.len().min(MAX_STRLEN);
            quote(line, &s[..n], n < s.len(), false)
        }
        _ => write!(line, "{addr:#x}"),
    }
}

/// `len` bytes at `addr`, the first 32 shown.
pub(super) fn buffer(line: &mut Line, addr: u64, len: usize, hex: bool) -> core::fmt::Result {
    let mut buf = [0u8; MAX_STRLEN];
    let n = len.min(MAX_STRLEN);
    if crate::mm::uaccess::copy_from_user(addr, &mut buf[..n]).is_err() {
        return write!(line, "{addr:#x}");
    }
    quote(line, &buf[..n], len > n, hex)
}

/// strace's quoting: printable ASCII as is, `\"` `\\` `\t` `\n` `\v` `\f` `\r`, other bytes
/// in octal (three digits when a digit follows), all in `\xNN` when `hex`; `...` after the
/// closing quote when the string was cut.
pub fn quote(line: &mut Line, bytes: &[u8], cut: bool, hex: bool) -> core::fmt::Result {
    line.write_char('"')?;
    for (i, &b) in bytes.iter().enumerate() {
        if hex {
            write!(line, "\\x{b:02x}")?;
            continue;
        }
        match b {
            b'"' => line.write_str("\\\"")?,
            b'\\' => line.write_str("\\\\")?,
            b'\t' => line.write_str("\\t")?,
            b'\n' => line.write_str("\\n")?,
            0x0b => line.write_str("\\v")?,
            0x0c => line.write_str("\\f")?,
            b'\r' => line.write_str("\\r")?,
            0x20..=0x7e => line.write_char(b as char)?,
            _ => {
                let digit_follows = bytes.get(i + 1).is_some_and(|n| (b'0'..=b'7').contains(n));
                if digit_follows {
                    write!(line, "\\{b:03o}")?
                } else {
                    write!(line, "\\{b:o}")?
                }
            }
        }
    }
    line.write_char('"')?;
    if cut {
        line.write_str("...")?;
    }
    Ok(())
}

/// `["./prog", "a"]`: at most 32 elements, then `...`.
pub(super) fn argv(line: &mut Line, addr: u64) -> core::fmt::Result {
    if addr == 0 {
        return line.write_str("NULL");
    }
    line.write_char('[')?;
    for i in 0..=MAX_STRLEN as u64 {
        let Some(p) = read::<u64>(addr + 8 * i) else { break };
        if p == 0 {
            break;
        }
        if i > 0 {
            line.write_str(", ")?;
        }
        if i == MAX_STRLEN as u64 {
            line.write_str("...")?;
            break;
        }
        short_string(line, p)?;
    }
    line.write_char(']')
}

/// `0x7ffd... /* 12 vars */`.
pub(super) fn envp(line: &mut Line, addr: u64) -> core::fmt::Result {
    if addr == 0 {
        return line.write_str("NULL");
    }
    let mut n = 0u64;
    while let Some(p) = read::<u64>(addr + 8 * n) {
        if p == 0 {
            break;
        }
        n += 1;
    }
    write!(line, "{addr:#x} /* {n} vars */")
}
