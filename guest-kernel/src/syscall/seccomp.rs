//! seccomp: the `seccomp` syscall and prctl's PR_{GET,SET}_SECCOMP and
//! PR_{GET,SET}_NO_NEW_PRIVS, and what a thread's filters decide at each syscall entry
//! (after ptrace's syscall-enter-stop, as on Linux, so a filter sees the tracer's changes).
//! Strict mode and classic BPF filters with every action but user notification (no
//! listener descriptor: SECCOMP_FILTER_FLAG_NEW_LISTENER is EINVAL and the action is not
//! offered) and tracer events (no tracer takes PTRACE_O_TRACESECCOMP, so
//! SECCOMP_RET_TRACE is ENOSYS, as on Linux without one). The state is task/seccomp.rs,
//! the BPF task/seccomp_bpf.rs.

use alloc::vec::Vec;

use abi_shared::linux::errno;
use abi_shared::linux::signal::{SIGKILL, SIGSYS};

use super::{err, Ctx, EFAULT, EINVAL, ENOSYS};
use crate::arch::entry::TrapFrame;
use crate::mm::uaccess;
use crate::signal::SigInfo;
use crate::task::seccomp::{AttachError, MODE_DISABLED, MODE_FILTER, MODE_STRICT, RET_ACTION_FULL};
use crate::task::seccomp_bpf::{self, SockFilter};
use crate::task::{self, threads};

const SET_MODE_STRICT: u64 = 0;
const SET_MODE_FILTER: u64 = 1;
const GET_ACTION_AVAIL: u64 = 2;
const GET_NOTIF_SIZES: u64 = 3;

const FLAG_TSYNC: u64 = 1 << 0;
const FLAG_LOG: u64 = 1 << 1;
const FLAG_SPEC_ALLOW: u64 = 1 << 2;
const FLAG_NEW_LISTENER: u64 = 1 << 3;
const FLAG_TSYNC_ESRCH: u64 = 1 << 4;
const FLAG_WAIT_KILLABLE_RECV: u64 = 1 << 5;
const FLAG_MASK: u64 =
    FLAG_TSYNC | FLAG_LOG | FLAG_SPEC_ALLOW | FLAG_NEW_LISTENER | FLAG_TSYNC_ESRCH | FLAG_WAIT_KILLABLE_RECV;

const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_DATA: u32 = 0xffff;

/// AUDIT_ARCH_X86_64: seccomp_data.arch and SIGSYS's si_arch.
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// SIGSYS's si_code for a seccomp trap.
const SYS_SECCOMP: i32 = 1;
const MAX_ERRNO: u32 = 4095;
const CAP_SYS_ADMIN: u32 = 21;

/// The syscalls strict mode allows: read, write, exit, rt_sigreturn.
const STRICT_ALLOWED: [u64; 4] = [0, 1, 60, 15];

pub fn seccomp(c: &mut Ctx<'_>) -> i64 {
    do_seccomp(c.arg(0), c.arg(1), c.arg(2))
}

fn do_seccomp(op: u64, flags: u64, uargs: u64) -> i64 {
    match op {
        SET_MODE_STRICT if flags == 0 && uargs == 0 => set_strict(),
        SET_MODE_FILTER => set_filter(flags, uargs),
        GET_ACTION_AVAIL if flags == 0 => action_available(uargs),
        GET_NOTIF_SIZES if flags == 0 => notif_sizes(uargs),
        _ => EINVAL,
    }
}

/// prctl(PR_SET_SECCOMP, mode, filter).
pub fn prctl_set(mode: u64, filter: u64) -> i64 {
    match mode {
        m if m == u64::from(MODE_STRICT) => do_seccomp(SET_MODE_STRICT, 0, 0),
        m if m == u64::from(MODE_FILTER) => do_seccomp(SET_MODE_FILTER, 0, filter),
        _ => EINVAL,
    }
}

/// prctl(PR_GET_SECCOMP): the mode (in strict mode the prctl itself is fatal, as on Linux).
pub fn prctl_get() -> i64 {
    i64::from(task::current().seccomp().mode())
}

/// prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0). exec never grants privileges under linuxrun
/// (set-user-ID bits are not honoured), so the flag's effect is what it allows: filters
/// without CAP_SYS_ADMIN.
pub fn prctl_set_no_new_privs(args: [u64; 4]) -> i64 {
    if args != [1, 0, 0, 0] {
        return EINVAL;
    }
    task::current().seccomp().set_no_new_privs();
    0
}

pub fn prctl_get_no_new_privs(args: [u64; 4]) -> i64 {
    if args != [0; 4] {
        return EINVAL;
    }
    i64::from(task::current().seccomp().no_new_privs())
}

fn set_strict() -> i64 {
    if task::current().seccomp().set_strict() {
        0
    } else {
        EINVAL
    }
}

/// SECCOMP_SET_MODE_FILTER, with Linux's checks in Linux's order.
fn set_filter(flags: u64, uargs: u64) -> i64 {
    if flags & !FLAG_MASK != 0 {
        return EINVAL;
    }
    if flags & (FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV) != 0 {
        // No listener descriptor yet: refused as a kernel without the flag would.
        super::unsupported(
            crate::stats::Unsupported::SeccompFlags,
            flags & (FLAG_NEW_LISTENER | FLAG_WAIT_KILLABLE_RECV),
        );
        return EINVAL;
    }
    let prog = match read_program(uargs) {
        Ok(p) => p,
        Err(e) => return e,
    };
    let me = task::current().seccomp();
    if me.mode() == MODE_STRICT {
        return EINVAL;
    }
    if flags & FLAG_TSYNC != 0 {
        let before = me.chain();
        if let Some(t) = threads::others().find(|t| !t.seccomp().may_sync_to(before.as_ref())) {
            return if flags & FLAG_TSYNC_ESRCH != 0 { err(errno::ESRCH) } else { i64::from(t.tid()) };
        }
    }
    let chain = match me.attach(prog) {
        Ok(c) => c,
        Err(AttachError::WrongMode) => return EINVAL,
        Err(AttachError::TooLong) => return err(errno::ENOMEM),
    };
    if flags & FLAG_TSYNC != 0 {
        let nnp = me.no_new_privs();
        threads::others().for_each(|t| t.seccomp().sync_to(&chain, nnp));
    }
    0
}

/// The `struct sock_fprog` at `uargs`, checked: EFAULT, EINVAL for its length, EACCES
/// without no_new_privs or CAP_SYS_ADMIN, then EFAULT and EINVAL for the instructions.
fn read_program(uargs: u64) -> Result<Vec<seccomp_bpf::Insn>, i64> {
    let mut fprog = [0u8; 16];
    uaccess::copy_from_user(uargs, &mut fprog).map_err(|_| EFAULT)?;
    let len = u16::from_le_bytes([fprog[0], fprog[1]]) as usize;
    let filter = u64::from_le_bytes(fprog[8..16].try_into().unwrap_or_default());
    if len == 0 || len > seccomp_bpf::MAX_INSNS {
        return Err(EINVAL);
    }
    let privileged = task::creds::caps()[0] & (1 << CAP_SYS_ADMIN) != 0;
    if !task::current().seccomp().no_new_privs() && !privileged {
        return Err(err(errno::EACCES));
    }
    let mut bytes = alloc::vec![0u8; len * 8];
    uaccess::copy_from_user(filter, &mut bytes).map_err(|_| EFAULT)?;
    let insns: Vec<SockFilter> =
        bytes.chunks_exact(8).map(|b| SockFilter::from_bytes(b.try_into().unwrap_or(&[0; 8]))).collect();
    seccomp_bpf::check(&insns).map_err(|()| EINVAL)
}

/// SECCOMP_GET_ACTION_AVAIL: every action but user notification (no listener).
fn action_available(uargs: u64) -> i64 {
    let action = match uaccess::read_u32(uargs) {
        Ok(a) => a,
        Err(_) => return EFAULT,
    };
    match action {
        RET_KILL_PROCESS | RET_KILL_THREAD | RET_TRAP | RET_ERRNO | RET_TRACE | RET_LOG | RET_ALLOW => 0,
        _ => err(errno::EOPNOTSUPP),
    }
}

/// SECCOMP_GET_NOTIF_SIZES: struct seccomp_notif, seccomp_notif_resp, seccomp_data.
fn notif_sizes(uargs: u64) -> i64 {
    let sizes = [80u16, 24, seccomp_bpf::DATA_LEN as u16];
    let bytes: Vec<u8> = sizes.iter().flat_map(|s| s.to_le_bytes()).collect();
    uaccess::copy_to_user(uargs, &bytes).map_or(EFAULT, |_| 0)
}

/// At syscall entry: None to run syscall `nr`, or the value its rax gets instead (the
/// call is skipped; a verdict that kills has queued its signal, which the return to user
/// mode acts on, or does not return).
#[inline]
pub fn on_entry(nr: u64, frame: &mut TrapFrame) -> Option<i64> {
    match task::current().seccomp().mode() {
        MODE_DISABLED => None,
        MODE_STRICT => strict(nr),
        _ => filtered(nr, frame),
    }
}

/// Strict mode: anything but the four calls kills the thread with SIGKILL.
fn strict(nr: u64) -> Option<i64> {
    if STRICT_ALLOWED.contains(&nr) {
        return None;
    }
    if threads::count() > 1 {
        threads::exit_thread(SIGKILL, super::trace::thread_exited, super::process::monitor_sees_threads());
    }
    crate::task::exit::terminate(abi_shared::hypercall::ExitHow::Signal(SIGKILL));
}

fn filtered(nr: u64, frame: &mut TrapFrame) -> Option<i64> {
    let verdict = task::current().seccomp().evaluate(&seccomp_data(nr, frame));
    let data = verdict & RET_DATA;
    match verdict & RET_ACTION_FULL {
        RET_ALLOW | RET_LOG => None,
        RET_ERRNO => Some(-i64::from(data.min(MAX_ERRNO))),
        // No tracer takes seccomp events, and no listener takes notifications.
        RET_TRACE | RET_USER_NOTIF => Some(ENOSYS),
        RET_TRAP => {
            crate::signal::force_synchronous(frame, sigsys(nr, frame, data));
            // rax shows the syscall's number, as Linux's rollback leaves it.
            Some(nr as i64)
        }
        action => {
            if action == RET_KILL_THREAD && threads::count() > 1 {
                threads::exit_thread(SIGSYS, super::trace::thread_exited, super::process::monitor_sees_threads());
            }
            // The process dies of SIGSYS, with a core dump where the limit allows one,
            // whatever the program made of SIGSYS.
            crate::signal::force_default(sigsys(nr, frame, data));
            Some(nr as i64)
        }
    }
}

/// `struct seccomp_data` of syscall `nr` as the frame holds it: nr, arch, the address after
/// the `syscall` instruction, the six arguments.
fn seccomp_data(nr: u64, frame: &TrapFrame) -> [u8; seccomp_bpf::DATA_LEN as usize] {
    let mut d = [0u8; seccomp_bpf::DATA_LEN as usize];
    d[0..4].copy_from_slice(&(nr as u32).to_le_bytes());
    d[4..8].copy_from_slice(&AUDIT_ARCH_X86_64.to_le_bytes());
    d[8..16].copy_from_slice(&frame.rip.to_le_bytes());
    let args = [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9];
    for (i, a) in args.iter().enumerate() {
        d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
    }
    d
}

/// SIGSYS's siginfo for a seccomp verdict: si_errno the filter's data, si_call_addr,
/// si_syscall, si_arch.
fn sigsys(nr: u64, frame: &TrapFrame, data: u32) -> SigInfo {
    let mut info = SigInfo { signo: SIGSYS, errno: data as i32, code: SYS_SECCOMP, ..SigInfo::default() };
    info.fields[0] = frame.rip;
    info.fields[1] = (nr & 0xffff_ffff) | (u64::from(AUDIT_ARCH_X86_64) << 32);
    info
}
