//! Showing one argument as strace does: flags by name, structs by their fields, strings
//! quoted and cut at 32 bytes. Output arguments (a read buffer, a `struct stat`) are shown
//! from what the call left in them, since the line is made when the call returns.

use core::fmt::Write;

use abi_shared::linux::{general as g, LinuxWinsize};

use super::fmt::{
    argv, buffer, dirfd, envp, flag_names, flags, hex0, map_flags, mode, named, open_flags, path, ptr, read, signal,
    sock_type,
};
use super::structs::{
    flock, int_in_brackets, rlimit, sigaction, sigset_at, sockaddr, stat, timespec, uname, wait_status,
};
use super::xlat;
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
    /// clone3's `struct clone_args`, and after the call what it wrote (the parent's tid).
    Clone3,
    /// A signal number.
    Sig,
    /// A `struct sigaction` read by the call.
    SigAct,
    /// A `struct sigaction` the call fills.
    SigActOut,
    /// SIG_BLOCK / SIG_UNBLOCK / SIG_SETMASK.
    SigHow,
    /// A `siginfo_t` read by the call (rt_sigqueueinfo).
    SigInfo,
    /// A `siginfo_t` the call fills (rt_sigtimedwait).
    SigInfoOut,
    /// rt_sigreturn's view of the signal frame it returns from: the signal mask it
    /// restores, `{mask=[...]}` (the argument is the mask's address, which the syscall
    /// entry works out from the user stack pointer).
    SigreturnMask,
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
    /// prctl's option.
    PrctlOption,
    /// seccomp's operation.
    SeccompOp,
    /// seccomp's third argument: a `struct sock_fprog` for SET_MODE_FILTER.
    SeccompArgs,
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
            | Arg::Clone3
            | Arg::SigActOut
            | Arg::SigSetOut
            | Arg::SigInfoOut
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
        Arg::Clone => return clone(line, c),
        Arg::Clone3 => return clone3(line, c),
        Arg::Sig => signal(line, v),
        Arg::SigAct => sigaction(line, v),
        Arg::SigActOut if c.ok() => sigaction(line, v),
        Arg::SigHow => named(line, xlat::SIGPROCMASK_HOW, v, false),
        Arg::SigSet => sigset_at(line, v),
        Arg::SigInfo => siginfo_at(line, v),
        Arg::SigInfoOut if c.ok() => siginfo_at(line, v),
        Arg::SigreturnMask => {
            let _ = line.write_str("{mask=");
            let _ = sigset_at(line, v);
            line.write_char('}')
        }
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
        Arg::PrctlOption => named(line, xlat::PRCTL_OPTIONS, v, false),
        Arg::SeccompOp => named(line, xlat::SECCOMP_OPS, v, false),
        Arg::SeccompArgs if c.args[0] == 1 => sock_fprog(line, v),
        Arg::Rlimit => named(line, xlat::RLIMITS, v, false),
        Arg::RlimitIn => rlimit(line, v),
        Arg::RlimitOut if c.ok() => rlimit(line, v),
        Arg::RandomFlags => flags(line, xlat::GETRANDOM_FLAGS, v, "0"),
        Arg::Advice => named(line, xlat::MADVISE, v, false),
        Arg::UtsOut if c.ok() => uname(line, v),
        // An output argument of a call that failed (or has not returned): its address.
        Arg::SigActOut
        | Arg::SigSetOut
        | Arg::SigInfoOut
        | Arg::StatOut
        | Arg::TimespecOut
        | Arg::SockAddrOut
        | Arg::SockLen
        | Arg::WStatus
        | Arg::FdPair
        | Arg::RlimitOut
        | Arg::UtsOut
        | Arg::SeccompArgs => ptr(line, v),
    };
    true
}

/// A `struct sock_fprog` in user memory: `{len=4, filter=0x...}`.
fn sock_fprog(line: &mut Line, v: u64) -> core::fmt::Result {
    match read::<[u64; 2]>(v) {
        Some([len, filter]) if v != 0 => {
            write!(line, "{{len={}, filter=", len as u16)?;
            ptr(line, filter)?;
            line.write_char('}')
        }
        _ => ptr(line, v),
    }
}

/// A `siginfo_t` in user memory (NULL by name, an unreadable one by its address).
fn siginfo_at(line: &mut Line, v: u64) -> core::fmt::Result {
    match read::<crate::task::siginfo::SigInfo>(v) {
        Some(info) if v != 0 => super::siginfo::siginfo(line, &info),
        _ => ptr(line, v),
    }
}

/// Whether an argument the call fills is shown at all, which is known before the call:
/// ioctl requests and fcntl commands without an argument show none. (strace's begun line
/// ends with ", " when one follows.)
pub fn shown_after(kind: Arg, args: &[u64; 6]) -> bool {
    match kind {
        Arg::IoctlData => !ioctl_without_arg(args[1] as u32, args[2]),
        Arg::FcntlData => !fcntl_without_arg(args[1] as u32),
        _ => true,
    }
}

fn ioctl_without_arg(req: u32, v: u64) -> bool {
    req == linux_raw_sys::ioctl::FIOCLEX
        || req == linux_raw_sys::ioctl::FIONCLEX
        || req == linux_raw_sys::ioctl::TIOCNOTTY
        || req == linux_raw_sys::ioctl::TIOCEXCL
        || req == linux_raw_sys::ioctl::TIOCNXCL
        || req == linux_raw_sys::ioctl::TIOCSCTTY && v == 0
}

fn fcntl_without_arg(cmd: u32) -> bool {
    matches!(
        cmd,
        g::F_GETFD | g::F_GETFL | g::F_GETOWN | g::F_GETSIG | g::F_GETLEASE | g::F_GETPIPE_SZ | g::F_GET_SEALS
    )
}

fn ioctl_arg(line: &mut Line, req: u64, v: u64, c: &Call<'_>) -> bool {
    let req = req as u32;
    let _ = if ioctl_without_arg(req, v) {
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
        _ if fcntl_without_arg(cmd) => return false,
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

/// clone(child_stack=NULL, flags=CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD, child_tidptr=0x...)
/// from x86_64's argument order: flags, stack, parent_tid, child_tid, tls.
/// clone's arguments in strace's two parts: before the call the stack and the flags, after
/// it the ids and the TLS (whether anything was written).
fn clone(line: &mut Line, c: &Call<'_>) -> bool {
    let flags = c.args[0];
    let _ = if c.ret.is_none() { clone_entry(line, c) } else { clone_exit(line, c) };
    c.ret.is_none()
        || flags & (g::CLONE_PARENT_SETTID | g::CLONE_SETTLS | g::CLONE_CHILD_SETTID | g::CLONE_CHILD_CLEARTID) as u64
            != 0
}

/// clone3's struct as strace shows it: before the call `{flags=..., ..., tls=...}`; after
/// it, when the call wrote the parent's tid, ` => {parent_tid=[N]}` (whether anything was
/// written).
fn clone3(line: &mut Line, c: &Call<'_>) -> bool {
    let mut raw = [0u8; 88];
    let n = (c.args[1] as usize).min(raw.len());
    if n < 64 || crate::mm::uaccess::copy_from_user(c.args[0], &mut raw[..n]).is_err() {
        return c.ret.is_none() && ptr(line, c.args[0]).is_ok();
    }
    let field = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    let flags = field(0);
    let _ = match c.ret {
        None => clone3_entry(line, flags, &field),
        Some(_) if c.ok() && flags & g::CLONE_PARENT_SETTID as u64 != 0 => {
            let _ = line.write_str(" => {parent_tid=");
            let _ = int_in_brackets::<i32>(line, field(3));
            line.write_char('}')
        }
        Some(_) => return false,
    };
    true
}

fn clone3_entry(line: &mut Line, flags: u64, field: &dyn Fn(usize) -> u64) -> core::fmt::Result {
    line.write_str("{flags=")?;
    if flags == 0 {
        line.write_char('0')?;
    } else {
        flag_names(line, xlat::CLONE_FLAGS, flags, false)?;
    }
    if flags & g::CLONE_PIDFD as u64 != 0 {
        line.write_str(", pidfd=")?;
        ptr(line, field(1))?;
    }
    if flags & (g::CLONE_CHILD_SETTID | g::CLONE_CHILD_CLEARTID) as u64 != 0 {
        line.write_str(", child_tid=")?;
        ptr(line, field(2))?;
    }
    if flags & g::CLONE_PARENT_SETTID as u64 != 0 {
        line.write_str(", parent_tid=")?;
        ptr(line, field(3))?;
    }
    line.write_str(", exit_signal=")?;
    signal(line, field(4))?;
    line.write_str(", stack=")?;
    ptr(line, field(5))?;
    write!(line, ", stack_size={:#x}", field(6))?;
    if flags & g::CLONE_SETTLS as u64 != 0 {
        line.write_str(", tls=")?;
        ptr(line, field(7))?;
    }
    line.write_char('}')
}

fn clone_entry(line: &mut Line, c: &Call<'_>) -> core::fmt::Result {
    let [flags, stack, ..] = *c.args;
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
    Ok(())
}

fn clone_exit(line: &mut Line, c: &Call<'_>) -> core::fmt::Result {
    let [flags, _, parent_tid, child_tid, tls, _] = *c.args;
    let mut sep = "";
    if flags & g::CLONE_PARENT_SETTID as u64 != 0 {
        line.write_str("parent_tid=")?;
        if c.ok() {
            int_in_brackets::<i32>(line, parent_tid)?;
        } else {
            ptr(line, parent_tid)?;
        }
        sep = ", ";
    }
    if flags & g::CLONE_SETTLS as u64 != 0 {
        write!(line, "{sep}tls=")?;
        ptr(line, tls)?;
        sep = ", ";
    }
    if flags & (g::CLONE_CHILD_SETTID | g::CLONE_CHILD_CLEARTID) as u64 != 0 {
        write!(line, "{sep}child_tidptr=")?;
        ptr(line, child_tid)?;
    }
    Ok(())
}
