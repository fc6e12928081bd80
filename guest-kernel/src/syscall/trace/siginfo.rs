//! `siginfo_t` as strace shows it: in a signal-delivery line (`--- SIGCHLD {...} ---`) and
//! as rt_sigqueueinfo's argument. Which fields follow `si_code` depends on who sent the
//! signal (a process: its pid and uid; a timer; a queued value) or, for signals the kernel
//! makes, on the signal (a fault's address, a child's status). host-monitor's
//! tests/strace.rs holds it against the real strace.

use core::fmt::Write;

use super::fmt::{hex0, ptr, signal};
use super::Line;
use crate::task::siginfo::SigInfo;

const SIGILL: i32 = 4;
const SIGTRAP: i32 = 5;
const SIGBUS: i32 = 7;
const SIGFPE: i32 = 8;
const SIGSEGV: i32 = 11;
const SIGCHLD: i32 = 17;
const SIGIO: i32 = 29;
const SIGSYS: i32 = 31;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;
const SI_QUEUE: i32 = -1;
const SI_TIMER: i32 = -2;
const SI_MESGQ: i32 = -3;
const SI_TKILL: i32 = -6;

/// si_code values any signal can have (sent by a process or by the kernel for no
/// particular reason), by name.
const GENERIC_CODES: &[(i32, &str)] = &[
    (SI_USER, "SI_USER"),
    (SI_KERNEL, "SI_KERNEL"),
    (SI_QUEUE, "SI_QUEUE"),
    (SI_TIMER, "SI_TIMER"),
    (SI_MESGQ, "SI_MESGQ"),
    (-4, "SI_ASYNCIO"),
    (-5, "SI_SIGIO"),
    (SI_TKILL, "SI_TKILL"),
    (-7, "SI_DETHREAD"),
    (-60, "SI_ASYNCNL"),
];

/// The kernel's own si_code values (1, 2, ...) of each signal that has them.
fn signal_codes(signo: i32) -> &'static [&'static str] {
    match signo {
        SIGILL => &[
            "ILL_ILLOPC",
            "ILL_ILLOPN",
            "ILL_ILLADR",
            "ILL_ILLTRP",
            "ILL_PRVOPC",
            "ILL_PRVREG",
            "ILL_COPROC",
            "ILL_BADSTK",
            "ILL_BADIADDR",
        ],
        SIGFPE => &[
            "FPE_INTDIV",
            "FPE_INTOVF",
            "FPE_FLTDIV",
            "FPE_FLTOVF",
            "FPE_FLTUND",
            "FPE_FLTRES",
            "FPE_FLTINV",
            "FPE_FLTSUB",
        ],
        SIGSEGV => &["SEGV_MAPERR", "SEGV_ACCERR", "SEGV_BNDERR", "SEGV_PKUERR"],
        SIGBUS => &["BUS_ADRALN", "BUS_ADRERR", "BUS_OBJERR", "BUS_MCEERR_AR", "BUS_MCEERR_AO"],
        SIGTRAP => &["TRAP_BRKPT", "TRAP_TRACE", "TRAP_BRANCH", "TRAP_HWBKPT", "TRAP_UNK"],
        SIGCHLD => &["CLD_EXITED", "CLD_KILLED", "CLD_DUMPED", "CLD_TRAPPED", "CLD_STOPPED", "CLD_CONTINUED"],
        SIGIO => &["POLL_IN", "POLL_OUT", "POLL_MSG", "POLL_ERR", "POLL_PRI", "POLL_HUP"],
        SIGSYS => &["SYS_SECCOMP", "SYS_USER_DISPATCH"],
        _ => &[],
    }
}

fn code_name(signo: i32, code: i32) -> Option<&'static str> {
    if code > 0 && code != SI_KERNEL {
        return signal_codes(signo).get(code as usize - 1).copied();
    }
    GENERIC_CODES.iter().find(|(c, _)| *c == code).map(|(_, name)| *name)
}

/// The `int` at byte `offset` of the union after the header (`fields`).
fn int_at(info: &SigInfo, offset: usize) -> i32 {
    let word = info.fields[offset / 8];
    (word >> (8 * (offset % 8))) as u32 as i32
}

fn long_at(info: &SigInfo, offset: usize) -> u64 {
    info.fields[offset / 8]
}

/// `{si_signo=SIGUSR1, si_code=SI_USER, si_pid=12, si_uid=0}` and the like.
pub(super) fn siginfo(line: &mut Line, info: &SigInfo) -> core::fmt::Result {
    line.write_str("{si_signo=")?;
    signal(line, info.signo as u64)?;
    line.write_str(", si_code=")?;
    match code_name(info.signo, info.code) {
        Some(name) => line.write_str(name)?,
        None => write!(line, "{}", info.code)?,
    }
    if info.errno != 0 {
        match super::xlat::ERRNOS.get(info.errno as usize).copied().flatten() {
            Some((name, _)) => write!(line, ", si_errno={name}")?,
            None => write!(line, ", si_errno={}", info.errno)?,
        }
    }
    let (pid, uid) = (int_at(info, 0), int_at(info, 4) as u32);
    match info.code {
        SI_TIMER => {
            line.write_str(", si_timerid=")?;
            hex0(line, int_at(info, 0) as u32 as u64)?;
            write!(line, ", si_overrun={}", int_at(info, 4))?;
            value(line, long_at(info, 8))?;
        }
        SI_QUEUE | SI_MESGQ => {
            write!(line, ", si_pid={pid}, si_uid={uid}")?;
            value(line, long_at(info, 8))?;
        }
        code if code <= 0 => write!(line, ", si_pid={pid}, si_uid={uid}")?,
        // Made by the kernel: what the signal is about.
        _ => match info.signo {
            SIGCHLD => {
                write!(line, ", si_pid={pid}, si_uid={uid}, si_status=")?;
                let status = int_at(info, 8);
                // A child killed, dumped, trapped, stopped or continued by a signal: its
                // name (an exit status otherwise).
                if (2..=6).contains(&info.code) {
                    signal(line, status as u64)?;
                } else {
                    write!(line, "{status}")?;
                }
                write!(line, ", si_utime={}, si_stime={}", long_at(info, 16) as i64, long_at(info, 24) as i64)?;
            }
            SIGILL | SIGFPE | SIGSEGV | SIGBUS | SIGTRAP => {
                line.write_str(", si_addr=")?;
                ptr(line, long_at(info, 0))?;
            }
            SIGIO => write!(line, ", si_band={}, si_fd={}", long_at(info, 0) as i64, int_at(info, 8))?,
            SIGSYS => sigsys(line, info)?,
            _ => {}
        },
    }
    line.write_char('}')
}

/// A seccomp trap's fields: where the call was made, which, for which architecture.
fn sigsys(line: &mut Line, info: &SigInfo) -> core::fmt::Result {
    line.write_str(", si_call_addr=")?;
    ptr(line, long_at(info, 0))?;
    let nr = int_at(info, 8) as u32 as u64;
    match abi_shared::syscalls::syscall_name(nr) {
        Some(name) => write!(line, ", si_syscall=__NR_{name}")?,
        None => write!(line, ", si_syscall={nr}")?,
    }
    match int_at(info, 12) as u32 {
        AUDIT_ARCH_X86_64 => line.write_str(", si_arch=AUDIT_ARCH_X86_64"),
        arch => write!(line, ", si_arch={arch:#x}"),
    }
}

/// A queued value: strace shows both views of the union.
fn value(line: &mut Line, v: u64) -> core::fmt::Result {
    write!(line, ", si_int={}, si_ptr=", v as u32 as i32)?;
    ptr(line, v)
}
