//! Showing one argument as strace does: flags by name, structs by their fields, strings
//! quoted and cut at 32 bytes. Output arguments (a read buffer, a `struct stat`) are shown
//! from what the call left in them, since the line is made when the call returns.

use core::fmt::Write;

use abi_shared::linux::{general as g, LinuxStat, LinuxWinsize, Timespec};

use super::xlat::{self, name_of, Xlat};
use super::Line;

/// How to show an argument (the `[..]` column of the syscall table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Signed decimal.
    D,
    /// A C int (a pid, a signed 32-bit value in a 64-bit register).
    I,
    /// Hexadecimal.
    X,
    /// Octal (modes), strace's `%#03o`.
    Oct,
    /// A file descriptor.
    Fd,
    /// A directory fd: AT_FDCWD by name.
    DirFd,
    /// A NUL-terminated path, shown whole.
    Str,
    /// A pointer (NULL by name).
    Ptr,
    /// The bytes being written: the next argument is the length.
    WBuf,
    /// A buffer the call fills: as many bytes as it returned, after the call.
    RBuf,
    /// A buffer the call fills with a NUL-terminated string (getcwd).
    RStr,
    /// Random bytes the call fills, always escaped in hex (getrandom).
    RHex,
    /// open flags: the access mode, then the other flags.
    OFlags,
    /// The mode of open/openat: shown only with O_CREAT or O_TMPFILE in the flags before it.
    OMode,
    /// AT_* flags of the *at calls.
    AtFlags,
    /// faccessat2's flags (AT_EACCESS).
    AccessAt,
    /// access modes: F_OK or R_OK|W_OK|X_OK.
    Access,
    /// mmap/mprotect protection.
    Prot,
    /// mmap flags.
    MapFlags,
    /// mmap offset: hexadecimal, 0 as 0.
    Off,
    /// An ioctl request, by name.
    Ioctl,
    /// An ioctl argument, by the request before it.
    IoctlData,
    /// A fcntl command, by name.
    Fcntl,
    /// A fcntl argument, by the command before it (absent for F_GETFD and the like).
    FcntlData,
    /// clone's whole argument list (flags, stack, parent_tid, child_tid, tls).
    Clone,
    /// A signal number.
    Sig,
    /// A `struct sigaction` read by the call.
    SigAct,
    /// A `struct sigaction` the call fills.
    SigActOut,
    /// SIG_BLOCK / SIG_UNBLOCK / SIG_SETMASK.
    SigHow,
    /// A signal set read by the call.
    SigSet,
    /// A signal set the call fills.
    SigSetOut,
    /// A `struct stat` the call fills.
    StatOut,
    /// A `struct timespec` read by the call.
    Timespec,
    /// A `struct timespec` the call fills.
    TimespecOut,
    /// A socket address read by the call; the next argument is its length.
    SockAddr,
    /// A socket address the call fills; the next argument points to its length.
    SockAddrOut,
    /// A `socklen_t *` (shown as `[N]`).
    SockLen,
    /// AF_* family.
    Family,
    /// SOCK_* type and flags.
    SockType,
    /// Protocol of a socket; the family is two arguments before.
    Proto,
    /// SHUT_RD...
    Shutdown,
    /// A wait status the call fills (`[{WIFEXITED(s) && WEXITSTATUS(s) == 0}]`).
    WStatus,
    /// wait options (WNOHANG...).
    WaitOpts,
    /// execve's argv.
    Argv,
    /// execve's envp: its address and how many variables.
    Envp,
    /// lseek's whence.
    Whence,
    /// A clock id.
    Clock,
    /// TIMER_ABSTIME or 0.
    TimerFlags,
    /// Two descriptors the call fills (pipe).
    FdPair,
    /// O_CLOEXEC / O_NONBLOCK (pipe2, dup3...).
    CloexecFlags,
    /// arch_prctl's code.
    ArchCode,
    /// A resource limit number.
    Rlimit,
    /// A `struct rlimit` read by the call.
    RlimitIn,
    /// A `struct rlimit` the call fills.
    RlimitOut,
    /// getrandom's flags.
    RandomFlags,
    /// madvise's advice.
    Advice,
    /// uname's `struct utsname`, filled.
    UtsOut,
}

/// What the formatter needs besides the argument: every argument and the return value.
pub struct Call<'a> {
    pub args: &'a [u64; 6],
    /// The return value, or None while the call has not returned (execve's line).
    pub ret: Option<i64>,
}

impl Call<'_> {
    /// The call succeeded (it has returned a non-error value).
    fn ok(&self) -> bool {
        matches!(self.ret, Some(r) if !(-4095..0).contains(&r))
    }
}

/// Whether the call fills this argument (it is shown after the call; so is every argument
/// after it).
pub fn is_output(kind: Arg) -> bool {
    matches!(
        kind,
        Arg::RBuf
            | Arg::RStr
            | Arg::RHex
            | Arg::IoctlData
            | Arg::FcntlData
            | Arg::Clone
            | Arg::SigActOut
            | Arg::SigSetOut
            | Arg::StatOut
            | Arg::TimespecOut
            | Arg::SockAddrOut
            | Arg::SockLen
            | Arg::WStatus
            | Arg::FdPair
            | Arg::RlimitOut
            | Arg::UtsOut
    )
}

/// strace's limit on string and buffer lengths (`-s 32`).
const MAX_STRLEN: usize = 32;
/// Longest path shown (the line has room for little more).
const MAX_PATH: usize = 512;

/// Write argument `i` of kind `kind`. False when strace shows no such argument (an open
/// mode without O_CREAT, F_GETFD's third argument), so no separator is written.
pub fn show(line: &mut Line, kind: Arg, i: usize, c: &Call<'_>) -> bool {
    let v = c.args[i];
    let prev = if i > 0 { c.args[i - 1] } else { 0 };
    let next = c.args.get(i + 1).copied().unwrap_or(0);
    let _ = match kind {
        Arg::D => write!(line, "{}", v as i64),
        Arg::X => hex0(line, v),
        Arg::Oct => mode(line, v),
        Arg::Fd | Arg::I => write!(line, "{}", v as i32),
        Arg::DirFd => dirfd(line, v),
        Arg::Ptr => ptr(line, v),
        Arg::Str => path(line, v),
        Arg::WBuf => buffer(line, v, next as usize, false),
        Arg::RBuf | Arg::RHex => match c.ret {
            Some(r) if c.ok() => buffer(line, v, r as usize, kind == Arg::RHex),
            _ => ptr(line, v),
        },
        Arg::RStr if c.ok() => path(line, v),
        Arg::RStr => ptr(line, v),
        Arg::OFlags => open_flags(line, v),
        Arg::OMode => {
            if prev & (g::O_CREAT as u64) == 0 && prev & (g::O_TMPFILE as u64) != g::O_TMPFILE as u64 {
                return false;
            }
            mode(line, v)
        }
        Arg::AtFlags => flags(line, xlat::AT_FLAGS, v, "0"),
        Arg::AccessAt => flags(line, xlat::ACCESS_AT_FLAGS, v, "0"),
        Arg::Access => flags(line, xlat::ACCESS_MODES, v, "F_OK"),
        Arg::Prot => flags(line, xlat::PROT, v, "PROT_NONE"),
        Arg::MapFlags => map_flags(line, v),
        Arg::Off => hex0(line, v),
        Arg::Ioctl => named(line, xlat::IOCTLS, v & 0xffff_ffff, true),
        Arg::IoctlData => return ioctl_arg(line, prev & 0xffff_ffff, v, c),
        Arg::Fcntl => named(line, xlat::FCNTL_CMDS, v, false),
        Arg::FcntlData => return fcntl_arg(line, prev as u32, v, c),
        Arg::Clone => clone(line, c),
        Arg::Sig => signal(line, v),
        Arg::SigAct => sigaction(line, v),
        Arg::SigActOut if c.ok() => sigaction(line, v),
        Arg::SigHow => named(line, xlat::SIGPROCMASK_HOW, v, false),
        Arg::SigSet => sigset_at(line, v),
        Arg::SigSetOut if c.ok() => sigset_at(line, v),
        Arg::StatOut if c.ok() => stat(line, v),
        Arg::Timespec => timespec(line, v),
        Arg::TimespecOut if c.ok() => timespec(line, v),
        Arg::SockAddr => sockaddr(line, v, next as usize),
        Arg::SockAddrOut if c.ok() => match read::<u32>(next) {
            Some(len) if next != 0 => sockaddr(line, v, len as usize),
            _ => ptr(line, v),
        },
        Arg::SockLen if c.ok() => int_in_brackets::<u32>(line, v),
        Arg::Family => named(line, xlat::ADDRESS_FAMILIES, v, false),
        Arg::SockType => sock_type(line, v),
        Arg::Proto => match c.args[i.saturating_sub(2)] {
            2 | 10 => named(line, xlat::IP_PROTOCOLS, v, false),
            _ => write!(line, "{}", v as i32),
        },
        Arg::Shutdown => named(line, xlat::SHUTDOWN_HOW, v, false),
        Arg::WStatus if matches!(c.ret, Some(r) if r > 0) => wait_status(line, v),
        Arg::WaitOpts => flags(line, xlat::WAIT_OPTIONS, v, "0"),
        Arg::Argv => argv(line, v),
        Arg::Envp => envp(line, v),
        Arg::Whence => named(line, xlat::SEEK_WHENCE, v, false),
        Arg::Clock => named(line, xlat::CLOCKS, v, false),
        Arg::TimerFlags => flags(line, xlat::TIMER_FLAGS, v, "0"),
        Arg::FdPair if c.ok() => match read::<[i32; 2]>(v) {
            Some([a, b]) => write!(line, "[{a}, {b}]"),
            None => ptr(line, v),
        },
        Arg::CloexecFlags => flags(line, xlat::CLOEXEC_FLAGS, v, "0"),
        Arg::ArchCode => named(line, xlat::ARCH_PRCTL, v, true),
        Arg::Rlimit => named(line, xlat::RLIMITS, v, false),
        Arg::RlimitIn => rlimit(line, v),
        Arg::RlimitOut if c.ok() => rlimit(line, v),
        Arg::RandomFlags => flags(line, xlat::GETRANDOM_FLAGS, v, "0"),
        Arg::Advice => named(line, xlat::MADVISE, v, false),
        Arg::UtsOut if c.ok() => uname(line, v),
        // An output argument of a call that failed (or has not returned): its address.
        Arg::SigActOut
        | Arg::SigSetOut
        | Arg::StatOut
        | Arg::TimespecOut
        | Arg::SockAddrOut
        | Arg::SockLen
        | Arg::WStatus
        | Arg::FdPair
        | Arg::RlimitOut
        | Arg::UtsOut => ptr(line, v),
    };
    true
}

/// A plain value of type T at `addr` in user memory (None for NULL or a bad address).
fn read<T: abi_shared::linux::Pod + Default>(addr: u64) -> Option<T> {
    if addr == 0 {
        return None;
    }
    crate::mm::uaccess::read_struct::<T>(addr).ok()
}

fn ptr(line: &mut Line, v: u64) -> core::fmt::Result {
    if v == 0 {
        line.write_str("NULL")
    } else {
        write!(line, "{v:#x}")
    }
}

fn dirfd(line: &mut Line, v: u64) -> core::fmt::Result {
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
fn named(line: &mut Line, table: Xlat, v: u64, hex: bool) -> core::fmt::Result {
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
fn flag_names(line: &mut Line, table: Xlat, v: u64, mut sep: bool) -> core::fmt::Result {
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

fn map_flags(line: &mut Line, v: u64) -> core::fmt::Result {
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

fn sock_type(line: &mut Line, v: u64) -> core::fmt::Result {
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

/// A signal set as strace shows it: `[INT TERM]`, or `~[...]` for the signals not in it
/// when it holds half or more of them.
fn sigset(line: &mut Line, set: u64) -> core::fmt::Result {
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
fn sigset_at(line: &mut Line, addr: u64) -> core::fmt::Result {
    if addr == 0 {
        return line.write_str("NULL");
    }
    match read::<u64>(addr) {
        Some(set) => sigset(line, set),
        None => ptr(line, addr),
    }
}

fn sigaction(line: &mut Line, addr: u64) -> core::fmt::Result {
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
fn stat(line: &mut Line, addr: u64) -> core::fmt::Result {
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

/// `%#x`: 0 as 0, else 0x...
pub fn hex0(line: &mut Line, v: u64) -> core::fmt::Result {
    if v == 0 {
        line.write_char('0')
    } else {
        write!(line, "{v:#x}")
    }
}

/// glibc's major()/minor() of a 64-bit dev_t.
fn dev_parts(dev: u64) -> (u64, u64) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major & 0xffff_ffff, minor & 0xffff_ffff)
}

/// S_IFREG|S_ISUID|0755.
fn file_mode(line: &mut Line, m: u32) -> core::fmt::Result {
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

fn timespec(line: &mut Line, addr: u64) -> core::fmt::Result {
    match read::<Timespec>(addr) {
        Some(t) => write!(line, "{{tv_sec={}, tv_nsec={}}}", t.tv_sec, t.tv_nsec),
        None => ptr(line, addr),
    }
}

fn rlim_value(line: &mut Line, v: u64) -> core::fmt::Result {
    if v == u64::MAX {
        line.write_str("RLIM64_INFINITY")
    } else if v > 0 && v.is_multiple_of(1024) {
        write!(line, "{}*1024", v / 1024)
    } else {
        write!(line, "{v}")
    }
}

fn rlimit(line: &mut Line, addr: u64) -> core::fmt::Result {
    let Some([cur, max]) = read::<[u64; 2]>(addr) else { return ptr(line, addr) };
    line.write_str("{rlim_cur=")?;
    rlim_value(line, cur)?;
    line.write_str(", rlim_max=")?;
    rlim_value(line, max)?;
    line.write_char('}')
}

fn int_in_brackets<T: abi_shared::linux::Pod + Default + core::fmt::Display>(
    line: &mut Line,
    addr: u64,
) -> core::fmt::Result {
    match read::<T>(addr) {
        Some(n) => write!(line, "[{n}]"),
        None => ptr(line, addr),
    }
}

fn uname(line: &mut Line, addr: u64) -> core::fmt::Result {
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
fn wait_status(line: &mut Line, addr: u64) -> core::fmt::Result {
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
fn sockaddr(line: &mut Line, addr: u64, len: usize) -> core::fmt::Result {
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
fn ipv6(line: &mut Line, a: &[u8]) -> core::fmt::Result {
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

fn ioctl_arg(line: &mut Line, req: u64, v: u64, c: &Call<'_>) -> bool {
    let req = req as u32;
    let _ = if req == linux_raw_sys::ioctl::FIOCLEX
        || req == linux_raw_sys::ioctl::FIONCLEX
        || req == linux_raw_sys::ioctl::TIOCNOTTY
        || req == linux_raw_sys::ioctl::TIOCEXCL
        || req == linux_raw_sys::ioctl::TIOCNXCL
        || req == linux_raw_sys::ioctl::TIOCSCTTY && v == 0
    {
        return false;
    } else if req == linux_raw_sys::ioctl::TIOCGWINSZ && c.ok() || req == linux_raw_sys::ioctl::TIOCSWINSZ {
        match read::<LinuxWinsize>(v) {
            Some(w) => write!(
                line,
                "{{ws_row={}, ws_col={}, ws_xpixel={}, ws_ypixel={}}}",
                w.ws_row, w.ws_col, w.ws_xpixel, w.ws_ypixel
            ),
            None => ptr(line, v),
        }
    } else if (req == linux_raw_sys::ioctl::FIONREAD
        || req == linux_raw_sys::ioctl::TIOCOUTQ
        || req == linux_raw_sys::ioctl::TIOCGPGRP
        || req == linux_raw_sys::ioctl::TIOCGSID
        || req == linux_raw_sys::ioctl::TIOCGPTN)
        && c.ok()
        || req == linux_raw_sys::ioctl::TIOCSPGRP
        || req == linux_raw_sys::ioctl::FIONBIO
        || req == linux_raw_sys::ioctl::FIOASYNC
        || req == linux_raw_sys::ioctl::TIOCSPTLCK
    {
        int_in_brackets::<i32>(line, v)
    } else if req == linux_raw_sys::ioctl::TCFLSH
        || req == linux_raw_sys::ioctl::TCXONC
        || req == linux_raw_sys::ioctl::TCSBRK
        || req == linux_raw_sys::ioctl::TCSBRKP
        || req == linux_raw_sys::ioctl::TIOCSCTTY
    {
        write!(line, "{}", v as i64)
    } else {
        ptr(line, v)
    };
    true
}

fn fcntl_arg(line: &mut Line, cmd: u32, v: u64, c: &Call<'_>) -> bool {
    let _ = match cmd {
        g::F_GETFD | g::F_GETFL | g::F_GETOWN | g::F_GETSIG | g::F_GETLEASE | g::F_GETPIPE_SZ | g::F_GET_SEALS => {
            return false
        }
        g::F_SETFD => flags(line, xlat::FD_FLAGS, v, "0"),
        g::F_SETFL => open_flags(line, v),
        g::F_GETLK | g::F_SETLK | g::F_SETLKW | g::F_OFD_GETLK | g::F_OFD_SETLK | g::F_OFD_SETLKW => {
            flock(line, v, (cmd == g::F_GETLK || cmd == g::F_OFD_GETLK) && c.ok())
        }
        g::F_SETSIG => signal(line, v),
        g::F_DUPFD | g::F_DUPFD_CLOEXEC | g::F_SETOWN | g::F_SETPIPE_SZ | g::F_SETLEASE | g::F_NOTIFY => {
            write!(line, "{}", v as i64)
        }
        _ => write!(line, "{v:#x}"),
    };
    true
}

fn flock(line: &mut Line, addr: u64, with_pid: bool) -> core::fmt::Result {
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

/// clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x...)
/// from x86_64's argument order: flags, stack, parent_tid, child_tid, tls.
fn clone(line: &mut Line, c: &Call<'_>) -> core::fmt::Result {
    let [flags, stack, parent_tid, child_tid, tls, _] = *c.args;
    line.write_str("child_stack=")?;
    ptr(line, stack)?;
    line.write_str(", flags=")?;
    let sig = flags & 0xff;
    let rest = flags & !0xff;
    if rest != 0 {
        flag_names(line, xlat::CLONE_FLAGS, rest, false)?;
    }
    if sig != 0 {
        if rest != 0 {
            line.write_char('|')?;
        }
        signal(line, sig)?;
    } else if rest == 0 {
        line.write_char('0')?;
    }
    if flags & g::CLONE_PARENT_SETTID as u64 != 0 {
        line.write_str(", parent_tid=")?;
        if c.ok() {
            int_in_brackets::<i32>(line, parent_tid)?;
        } else {
            ptr(line, parent_tid)?;
        }
    }
    if flags & g::CLONE_SETTLS as u64 != 0 {
        line.write_str(", tls=")?;
        ptr(line, tls)?;
    }
    if flags & (g::CLONE_CHILD_SETTID | g::CLONE_CHILD_CLEARTID) as u64 != 0 {
        line.write_str(", child_tidptr=")?;
        ptr(line, child_tid)?;
    }
    Ok(())
}

/// A path: the whole string (up to a limit), or the address when it cannot be read.
fn path(line: &mut Line, addr: u64) -> core::fmt::Result {
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
fn short_string(line: &mut Line, addr: u64) -> core::fmt::Result {
    match crate::mm::uaccess::read_cstr(addr, 4096) {
        Ok(Some(s)) => {
            let n = s.len().min(MAX_STRLEN);
            quote(line, &s[..n], n < s.len(), false)
        }
        _ => write!(line, "{addr:#x}"),
    }
}

/// `len` bytes at `addr`, the first 32 shown.
fn buffer(line: &mut Line, addr: u64, len: usize, hex: bool) -> core::fmt::Result {
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
fn argv(line: &mut Line, addr: u64) -> core::fmt::Result {
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
fn envp(line: &mut Line, addr: u64) -> core::fmt::Result {
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
