//! Structs in user memory shown by their fields as strace does: stat, timespec, rlimit,
//! utsname, wait statuses, signal sets and sigactions, socket addresses, flock.

use core::fmt::Write;

use abi_shared::linux::{general as g, LinuxStat, Timespec};

use super::fmt::{dev_parts, file_mode, flags, hex0, named, ptr, quote, read, rlim_value, signal};
use super::xlat;
use super::Line;

/// A signal set as strace shows it: `[INT TERM]`, or `~[...]` for the signals not in it
/// when it holds half or more of them.
pub(super) fn sigset(line: &mut Line, set: u64) -> core::fmt::Result {
    let (bits, neg) = if set.count_ones() >= 32 { (!set, true) } else { (set, false) };
    line.write_str(if neg { "~[" } else { "[" })?;
    let mut first = true;
    for s in 1..=64u64 {
        if bits & (1 << (s - 1)) != 0 {
            if !first {
                line.write_char(' ')?;
            }
            first = false;
            let start = line.len;
            signal(line, s)?;
            // Without the SIG prefix.
            let bytes = &mut line.buf[start..line.len];
            if bytes.starts_with(b"SIG") {
                line.buf.copy_within(start + 3..line.len, start);
                line.len -= 3;
            }
        }
    }
    line.write_char(']')
}

/// A signal set in user memory (x86_64's 8 bytes; the calls refuse other sizes).
pub(super) fn sigset_at(line: &mut Line, addr: u64) -> core::fmt::Result {
    if addr == 0 {
        return line.write_str("NULL");
    }
    match read::<u64>(addr) {
        Some(set) => sigset(line, set),
        None => ptr(line, addr),
    }
}

pub(super) fn sigaction(line: &mut Line, addr: u64) -> core::fmt::Result {
    // x86_64's `struct sigaction` as the kernel takes it: handler, flags, restorer, mask.
    let Some([handler, sa_flags, restorer, mask]) = read::<[u64; 4]>(addr) else { return ptr(line, addr) };
    line.write_str("{sa_handler=")?;
    match handler {
        0 => line.write_str("SIG_DFL")?,
        1 => line.write_str("SIG_IGN")?,
        h => write!(line, "{h:#x}")?,
    }
    line.write_str(", sa_mask=")?;
    sigset(line, mask)?;
    line.write_str(", sa_flags=")?;
    flags(line, xlat::SA_FLAGS, sa_flags, "0")?;
    if sa_flags & g::SA_RESTORER as u64 != 0 {
        write!(line, ", sa_restorer={restorer:#x}")?;
    }
    line.write_char('}')
}

/// `{st_mode=S_IFREG|0644, st_size=123, ...}` (st_rdev for devices), strace's short form.
pub(super) fn stat(line: &mut Line, addr: u64) -> core::fmt::Result {
    let Some(st) = read::<LinuxStat>(addr) else { return ptr(line, addr) };
    line.write_str("{st_mode=")?;
    file_mode(line, st.st_mode)?;
    let fmt = st.st_mode & g::S_IFMT;
    if fmt == g::S_IFCHR || fmt == g::S_IFBLK {
        let (major, minor) = dev_parts(st.st_rdev);
        line.write_str(", st_rdev=makedev(")?;
        hex0(line, major)?;
        line.write_str(", ")?;
        hex0(line, minor)?;
        line.write_str("), ...}")
    } else {
        write!(line, ", st_size={}, ...}}", st.st_size)
    }
}

pub(super) fn timespec(line: &mut Line, addr: u64) -> core::fmt::Result {
    match read::<Timespec>(addr) {
        Some(t) => write!(line, "{{tv_sec={}, tv_nsec={}}}", t.tv_sec, t.tv_nsec),
        None => ptr(line, addr),
    }
}

pub(super) fn rlimit(line: &mut Line, addr: u64) -> core::fmt::Result {
    let Some([cur, max]) = read::<[u64; 2]>(addr) else { return ptr(line, addr) };
    line.write_str("{rlim_cur=")?;
    rlim_value(line, cur)?;
    line.write_str(", rlim_max=")?;
    rlim_value(line, max)?;
    line.write_char('}')
}

pub(super) fn int_in_brackets<T: abi_shared::linux::Pod + Default + core::fmt::Display>(
    line: &mut Line,
    addr: u64,
) -> core::fmt::Result {
    match read::<T>(addr) {
        Some(n) => write!(line, "[{n}]"),
        None => ptr(line, addr),
    }
}

pub(super) fn uname(line: &mut Line, addr: u64) -> core::fmt::Result {
    // sysname and nodename, 65 bytes each.
    let mut u = [0u8; 130];
    if crate::mm::uaccess::copy_from_user(addr, &mut u).is_err() {
        return ptr(line, addr);
    }
    let field = |f: &[u8]| f.iter().position(|&b| b == 0).unwrap_or(f.len());
    line.write_str("{sysname=")?;
    quote(line, &u[..field(&u[..65])], false, false)?;
    line.write_str(", nodename=")?;
    quote(line, &u[65..65 + field(&u[65..])], false, false)?;
    line.write_str(", ...}")
}

/// `[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]` and the other three forms.
pub(super) fn wait_status(line: &mut Line, addr: u64) -> core::fmt::Result {
    let Some(s) = read::<i32>(addr) else { return ptr(line, addr) };
    let s = s as u32;
    let sig = u64::from(s & 0x7f);
    if s & 0xff == 0x7f {
        line.write_str("[{WIFSTOPPED(s) && WSTOPSIG(s) == ")?;
        signal(line, u64::from((s >> 8) & 0xff))?;
        if s >> 16 != 0 {
            write!(line, "}} | {:#x}]", (s >> 16) << 16)
        } else {
            line.write_str("}]")
        }
    } else if s == 0xffff {
        line.write_str("[{WIFCONTINUED(s)}]")
    } else if sig == 0 {
        write!(line, "[{{WIFEXITED(s) && WEXITSTATUS(s) == {}}}]", (s >> 8) & 0xff)
    } else {
        line.write_str("[{WIFSIGNALED(s) && WTERMSIG(s) == ")?;
        signal(line, sig)?;
        if s & 0x80 != 0 {
            line.write_str(" && WCOREDUMP(s)")?;
        }
        line.write_str("}]")
    }
}

/// Socket addresses: AF_INET, AF_INET6, AF_UNIX by their fields; others by family.
pub(super) fn sockaddr(line: &mut Line, addr: u64, len: usize) -> core::fmt::Result {
    if addr == 0 {
        return line.write_str("NULL");
    }
    let mut raw = [0u8; 128];
    let n = len.min(raw.len());
    if n < 2 || crate::mm::uaccess::copy_from_user(addr, &mut raw[..n]).is_err() {
        return ptr(line, addr);
    }
    let family = u16::from_ne_bytes([raw[0], raw[1]]);
    line.write_str("{sa_family=")?;
    named(line, xlat::ADDRESS_FAMILIES, u64::from(family), false)?;
    match family {
        2 if n >= 8 => {
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            write!(
                line,
                ", sin_port=htons({port}), sin_addr=inet_addr(\"{}.{}.{}.{}\")}}",
                raw[4], raw[5], raw[6], raw[7]
            )
        }
        10 if n >= 24 => {
            let port = u16::from_be_bytes([raw[2], raw[3]]);
            let flow = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]);
            write!(line, ", sin6_port=htons({port}), sin6_flowinfo=htonl({flow}), inet_pton(AF_INET6, \"")?;
            ipv6(line, &raw[8..24])?;
            let scope = if n >= 28 { u32::from_ne_bytes([raw[24], raw[25], raw[26], raw[27]]) } else { 0 };
            write!(line, "\", &sin6_addr), sin6_scope_id={scope}}}")
        }
        1 => {
            let path = &raw[2..n];
            line.write_str(", sun_path=")?;
            if path.first() == Some(&0) && path.len() > 1 {
                line.write_char('@')?;
                quote(line, &path[1..], false, false)?;
            } else {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                quote(line, &path[..end], false, false)?;
            }
            line.write_char('}')
        }
        _ => line.write_str(", ...}"),
    }
}

/// An IPv6 address in its shortest text form (the longest run of two or more zero groups
/// as `::`).
pub(super) fn ipv6(line: &mut Line, a: &[u8]) -> core::fmt::Result {
    let groups: [u16; 8] = core::array::from_fn(|i| u16::from_be_bytes([a[2 * i], a[2 * i + 1]]));
    let (mut best, mut best_len, mut i) = (8, 1, 0);
    while i < 8 {
        if groups[i] == 0 {
            let start = i;
            while i < 8 && groups[i] == 0 {
                i += 1;
            }
            if i - start > best_len {
                best = start;
                best_len = i - start;
            }
        } else {
            i += 1;
        }
    }
    let mut i = 0;
    while i < 8 {
        if i == best {
            line.write_str("::")?;
            i += best_len;
            continue;
        }
        if i > 0 && i != best + best_len {
            line.write_char(':')?;
        }
        write!(line, "{:x}", groups[i])?;
        i += 1;
    }
    Ok(())
}

pub(super) fn flock(line: &mut Line, addr: u64, with_pid: bool) -> core::fmt::Result {
    // x86_64's `struct flock`: short l_type, short l_whence, (pad), l_start, l_len, int l_pid.
    let Some(f) = read::<[u8; 32]>(addr) else { return ptr(line, addr) };
    let i64_at = |o: usize| i64::from_ne_bytes(f[o..o + 8].try_into().unwrap_or([0; 8]));
    line.write_str("{l_type=")?;
    named(line, xlat::LOCK_TYPES, i16::from_ne_bytes([f[0], f[1]]) as u64, false)?;
    line.write_str(", l_whence=")?;
    named(line, xlat::SEEK_WHENCE, i16::from_ne_bytes([f[2], f[3]]) as u64, false)?;
    write!(line, ", l_start={}, l_len={}", i64_at(8), i64_at(16))?;
    if with_pid {
        write!(line, ", l_pid={}", i32::from_ne_bytes([f[24], f[25], f[26], f[27]]))?;
    }
    line.write_char('}')
}
