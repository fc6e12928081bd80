//! ptrace(2) of the tracer: the tracee is another linuxrun'd process, whose stops reach
//! this process's monitor (host-monitor/src/ptrace.rs); requests on a stopped tracee go
//! to it through the monitors as `--gdb`'s commands do (docs/debugging.md, "ptrace inside
//! the guest"). Here the Linux side: the request numbers, `user_regs_struct`, `struct
//! user` offsets, the errors Linux gives.

use abi_shared::debug::{DebugCommand, DebugRegs};
use abi_shared::hypercall::{ProcRequest, PtraceOp, Request, Response};
use abi_shared::linux::errno;

use super::{err, Ctx, EFAULT};
use crate::hypercall;
use crate::mm::uaccess;

const PTRACE_TRACEME: u64 = 0;
const PTRACE_PEEKTEXT: u64 = 1;
const PTRACE_PEEKDATA: u64 = 2;
const PTRACE_PEEKUSR: u64 = 3;
const PTRACE_POKETEXT: u64 = 4;
const PTRACE_POKEDATA: u64 = 5;
const PTRACE_POKEUSR: u64 = 6;
const PTRACE_CONT: u64 = 7;
const PTRACE_KILL: u64 = 8;
const PTRACE_SINGLESTEP: u64 = 9;
const PTRACE_GETREGS: u64 = 12;
const PTRACE_SETREGS: u64 = 13;
const PTRACE_GETFPREGS: u64 = 14;
const PTRACE_SETFPREGS: u64 = 15;
const PTRACE_ATTACH: u64 = 16;
const PTRACE_DETACH: u64 = 17;
const PTRACE_SYSCALL: u64 = 24;
const PTRACE_SETOPTIONS: u64 = 0x4200;
const PTRACE_GETEVENTMSG: u64 = 0x4201;
const PTRACE_GETSIGINFO: u64 = 0x4202;
const PTRACE_SETSIGINFO: u64 = 0x4203;
const PTRACE_GETREGSET: u64 = 0x4204;
const PTRACE_SETREGSET: u64 = 0x4205;
const PTRACE_SEIZE: u64 = 0x4206;
const PTRACE_INTERRUPT: u64 = 0x4207;
const PTRACE_LISTEN: u64 = 0x4208;
const PTRACE_GET_SYSCALL_INFO: u64 = 0x420e;

/// The options that are implemented: TRACESYSGOOD, TRACEFORK, TRACEVFORK, TRACEEXEC,
/// TRACEVFORKDONE, TRACEEXIT and EXITKILL; TRACECLONE is accepted, and has nothing to
/// follow (clone makes a new process only as fork does; new threads of a tracee are not
/// traced).
const SUPPORTED_OPTIONS: u64 = 0x1 | 0x2 | 0x4 | 0x8 | 0x10 | 0x20 | 0x40 | 1 << 20;
/// Every option Linux knows (PTRACE_O_MASK).
const KNOWN_OPTIONS: u64 = 0x7f | 1 << 20 | 1 << 21;

const NT_PRSTATUS: u64 = 1;
const NT_PRFPREG: u64 = 2;
/// `struct user_regs_struct`: 27 longs.
const USER_REGS_LEN: usize = 27 * 8;
/// The size of `struct user` (gdb reads its u_debugreg[8], at 848, with PEEKUSER).
const USER_SIZE: u64 = 912;
/// `struct user`'s u_debugreg[0..8].
const USER_DEBUGREG: u64 = 848;
/// `struct ptrace_syscall_info`'s arch for x86_64 (AUDIT_ARCH_X86_64).
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

const EIO: i64 = err(errno::EIO);
const ESRCH: i64 = err(errno::ESRCH);
const EPERM: i64 = err(errno::EPERM);

pub fn ptrace(c: &mut Ctx<'_>) -> i64 {
    let (req, pid, addr, data) = (c.arg(0), c.int(1), c.arg(2), c.arg(3));
    match req {
        PTRACE_TRACEME => trace_me(),
        PTRACE_PEEKTEXT | PTRACE_PEEKDATA => peek_data(pid, addr, data),
        PTRACE_POKETEXT | PTRACE_POKEDATA => {
            command_ret(pid, DebugCommand::WriteMemory { addr, data: data.to_le_bytes().to_vec() })
        }
        PTRACE_PEEKUSR => peek_user(pid, addr, data),
        PTRACE_GETREGS => match regs(pid) {
            Ok((_, r)) => put(data, &user_regs(&r)),
            Err(e) => e,
        },
        PTRACE_SETREGS => set_regs(pid, data),
        PTRACE_GETFPREGS => match regs(pid) {
            Ok((_, r)) => put(data, &r.fxsave),
            Err(e) => e,
        },
        PTRACE_SETFPREGS => set_fpregs(pid, data),
        PTRACE_GETREGSET => get_regset(pid, addr, data),
        PTRACE_CONT | PTRACE_SYSCALL | PTRACE_SINGLESTEP => resume(pid, req, data),
        PTRACE_KILL => kill(pid),
        PTRACE_DETACH => match valid_signal(data) {
            Some(signal) => call(pid, PtraceOp::Detach { signal }),
            None => EIO,
        },
        PTRACE_SETOPTIONS => set_options(pid, data),
        PTRACE_GETEVENTMSG => get_event_msg(pid, data),
        PTRACE_GETSIGINFO => get_siginfo(pid, data),
        PTRACE_ATTACH => call(pid, PtraceOp::Attach { seize: false, options: 0 }),
        PTRACE_SEIZE => seize(pid, addr, data),
        PTRACE_INTERRUPT => call(pid, PtraceOp::Interrupt),
        PTRACE_LISTEN => call(pid, PtraceOp::Listen),
        PTRACE_POKEUSR => poke_user(pid, addr, data),
        PTRACE_SETREGSET => set_regset(pid, addr, data),
        PTRACE_SETSIGINFO => set_siginfo(pid, data),
        PTRACE_GET_SYSCALL_INFO => get_syscall_info(pid, addr, data),
        // Anything else: Linux's answer to a request it does not take.
        _ => EIO,
    }
}

fn call(pid: i32, op: PtraceOp) -> i64 {
    hypercall::call_ret(&Request::Proc(ProcRequest::Ptrace { pid, op }))
}

fn trace_me() -> i64 {
    if crate::signal::debug::active() {
        return EPERM;
    }
    match call(0, PtraceOp::TraceMe) {
        0 => {
            crate::signal::debug::become_traced();
            0
        }
        // The parent is not a linuxrun'd process: nothing could see our stops, so we run
        // untraced (a program checking that nobody traces it still gets its 0).
        1 => 0,
        e => e,
    }
}

/// The stopped tracee's registers and its stop's wait status.
fn regs(pid: i32) -> Result<(i32, DebugRegs), i64> {
    stop_of(pid).map(|(status, regs, _)| (status, regs))
}

/// The stopped tracee's wait status, registers and event message (PTRACE_GETEVENTMSG).
fn stop_of(pid: i32) -> Result<(i32, DebugRegs, u64), i64> {
    const N: usize = core::mem::size_of::<DebugRegs>();
    match hypercall::call(&Request::Proc(ProcRequest::Ptrace { pid, op: PtraceOp::Regs })) {
        Response::Bytes { ret, data } if ret >= 0 && data.len() == N + 8 => {
            let msg = u64::from_le_bytes(data[N..].try_into().unwrap_or_default());
            Ok((ret as i32, abi_shared::linux::pod_read_unaligned(&data[..N]), msg))
        }
        Response::Ret(e) if e < 0 => Err(e),
        Response::Bytes { ret, .. } if ret < 0 => Err(ret),
        _ => Err(ESRCH),
    }
}

/// A command with a reply: its data, or -EIO when the tracee could not do it.
fn command(pid: i32, cmd: DebugCommand) -> Result<alloc::vec::Vec<u8>, i64> {
    match hypercall::call(&Request::Proc(ProcRequest::Ptrace { pid, op: PtraceOp::Command(cmd) })) {
        Response::Bytes { ret: 0, data } => Ok(data),
        Response::Bytes { ret, .. } | Response::Ret(ret) if ret < 0 => Err(ret),
        _ => Err(EIO),
    }
}

fn command_ret(pid: i32, cmd: DebugCommand) -> i64 {
    command(pid, cmd).map_or_else(|e| e, |_| 0)
}

fn put(addr: u64, bytes: &[u8]) -> i64 {
    if uaccess::copy_to_user(addr, bytes).is_err() {
        return EFAULT;
    }
    0
}

/// PEEKTEXT/PEEKDATA: the raw call stores the word at `data`.
fn peek_data(pid: i32, addr: u64, data: u64) -> i64 {
    match command(pid, DebugCommand::ReadMemory { addr, len: 8 }) {
        Ok(bytes) if bytes.len() == 8 => put(data, &bytes),
        Ok(_) => EIO,
        Err(e) => e,
    }
}

/// PEEKUSER: a word of `struct user`: the registers, and zeros for the debug registers
/// (there are no hardware breakpoints) and the rest.
fn peek_user(pid: i32, offset: u64, data: u64) -> i64 {
    if !offset.is_multiple_of(8) || offset >= USER_SIZE {
        return EIO;
    }
    let (_, r) = match regs(pid) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let regs = user_regs(&r);
    // Past the registers (u_debugreg included: no hardware breakpoints) reads as zero.
    let o = offset as usize;
    let word = regs.get(o..o + 8).map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap_or_default()));
    put(data, &word.to_le_bytes())
}

/// Linux's `user_regs_struct` from the stop's registers.
fn user_regs(r: &DebugRegs) -> [u8; USER_REGS_LEN] {
    let g = &r.gprs;
    // gprs: rax rbx rcx rdx rsi rdi rbp rsp r8..r15.
    let words: [u64; 27] = [
        g[15], g[14], g[13], g[12], g[6], g[1], g[11], g[10], g[9], g[8], g[0], g[2], g[3], g[4], g[5], r.orig_rax,
        r.rip, r.cs, r.rflags, g[7], r.ss, r.fs_base, r.gs_base, 0, 0, 0, 0,
    ];
    let mut out = [0u8; USER_REGS_LEN];
    for (i, w) in words.iter().enumerate() {
        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// PTRACE_SEIZE: `addr` must be 0 and `data` the options, as Linux checks them.
fn seize(pid: i32, addr: u64, options: u64) -> i64 {
    if addr != 0 || options & !KNOWN_OPTIONS != 0 {
        return EIO;
    }
    if options & !SUPPORTED_OPTIONS != 0 {
        crate::syscall::unsupported(crate::stats::Unsupported::PtraceOption, options & !SUPPORTED_OPTIONS);
        return err(errno::EINVAL);
    }
    call(pid, PtraceOp::Attach { seize: true, options })
}

/// POKEUSER: a register of `struct user` (as SETREGS would set it), or a debug register:
/// there are no hardware breakpoints, so only 0 (nothing armed) is taken, EIO otherwise
/// (gdb then uses software watchpoints); other offsets are EIO, as on Linux.
fn poke_user(pid: i32, offset: u64, data: u64) -> i64 {
    if !offset.is_multiple_of(8) || offset >= USER_SIZE {
        return EIO;
    }
    let (_, mut r) = match regs(pid) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if (offset as usize) < USER_REGS_LEN {
        let mut user = user_regs(&r);
        let o = offset as usize;
        user[o..o + 8].copy_from_slice(&data.to_le_bytes());
        apply_user_regs(&mut r, &user);
        return write_regs(pid, &r);
    }
    if (USER_DEBUGREG..USER_DEBUGREG + 64).contains(&offset) && data == 0 {
        return 0;
    }
    EIO
}

/// SETREGSET: NT_PRSTATUS and NT_PRFPREG through an iovec; a shorter one sets the first
/// registers (a whole number of them), as Linux does.
fn set_regset(pid: i32, kind: u64, iov: u64) -> i64 {
    let mut v = [0u8; 16];
    if uaccess::copy_from_user(iov, &mut v).is_err() {
        return EFAULT;
    }
    let base = u64::from_le_bytes(v[0..8].try_into().unwrap_or_default());
    let len = u64::from_le_bytes(v[8..16].try_into().unwrap_or_default());
    let (_, mut r) = match regs(pid) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let (unit, size) = match kind {
        NT_PRSTATUS => (8u64, USER_REGS_LEN as u64),
        NT_PRFPREG => (16, 512),
        _ => return err(errno::EINVAL),
    };
    if !len.is_multiple_of(unit) {
        return err(errno::EINVAL);
    }
    let n = len.min(size) as usize;
    match kind {
        NT_PRSTATUS => {
            let mut user = user_regs(&r);
            if uaccess::copy_from_user(base, &mut user[..n]).is_err() {
                return EFAULT;
            }
            apply_user_regs(&mut r, &user);
        }
        _ => {
            if uaccess::copy_from_user(base, &mut r.fxsave[..n]).is_err() {
                return EFAULT;
            }
        }
    }
    let ret = write_regs(pid, &r);
    if ret == 0 && put(iov + 8, &(n as u64).to_le_bytes()) != 0 {
        return EFAULT;
    }
    ret
}

/// SETSIGINFO: the siginfo the stopped tracee's signal is delivered with.
fn set_siginfo(pid: i32, data: u64) -> i64 {
    let mut info = alloc::vec![0u8; 128];
    if uaccess::copy_from_user(data, &mut info).is_err() {
        return EFAULT;
    }
    command_ret(pid, DebugCommand::WriteSiginfo { info })
}

/// PTRACE_GET_SYSCALL_INFO: `struct ptrace_syscall_info` of the stop, `size` bytes of it
/// at most stored at `data`; returns its full size. As on Linux, a syscall stop is known
/// as one only by its SIGTRAP|0x80 (PTRACE_O_TRACESYSGOOD); other stops give op NONE.
fn get_syscall_info(pid: i32, size: u64, data: u64) -> i64 {
    const OP_ENTRY: u8 = 1;
    const OP_EXIT: u8 = 2;
    let (status, r, msg) = match stop_of(pid) {
        Ok(s) => s,
        Err(e) => return e,
    };
    let mut info = [0u8; 88];
    info[4..8].copy_from_slice(&AUDIT_ARCH_X86_64.to_le_bytes());
    info[8..16].copy_from_slice(&r.rip.to_le_bytes());
    info[16..24].copy_from_slice(&r.gprs[7].to_le_bytes());
    let syscall_stop = (status >> 8) & 0xffff == 0x80 | 5;
    let g = &r.gprs;
    let len = match msg {
        1 if syscall_stop => {
            info[0] = OP_ENTRY;
            // nr, then rdi rsi rdx r10 r8 r9.
            let words = [r.orig_rax, g[5], g[4], g[3], g[10], g[8], g[9]];
            for (i, w) in words.iter().enumerate() {
                info[24 + i * 8..32 + i * 8].copy_from_slice(&w.to_le_bytes());
            }
            24 + 56
        }
        2 if syscall_stop => {
            info[0] = OP_EXIT;
            let rval = g[0];
            info[24..32].copy_from_slice(&rval.to_le_bytes());
            info[32] = u8::from(rval >= (-4095i64) as u64);
            24 + 9
        }
        _ => 24,
    };
    let n = (size as usize).min(len);
    if put(data, &info[..n]) != 0 {
        return EFAULT;
    }
    len as i64
}

/// `user_regs_struct` bytes into `r` (the selectors and ds/es/fs/gs are kept).
fn apply_user_regs(r: &mut DebugRegs, bytes: &[u8; USER_REGS_LEN]) {
    let w = |i: usize| u64::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    let order = [15usize, 14, 13, 12, 6, 1, 11, 10, 9, 8, 0, 2, 3, 4, 5];
    for (i, &g) in order.iter().enumerate() {
        r.gprs[g] = w(i);
    }
    r.orig_rax = w(15);
    r.rip = w(16);
    r.rflags = w(18);
    r.gprs[7] = w(19);
    r.fs_base = w(21);
    r.gs_base = w(22);
}

fn write_regs(pid: i32, r: &DebugRegs) -> i64 {
    use abi_shared::linux::Pod;
    command_ret(pid, DebugCommand::WriteRegisters { regs: r.as_bytes().to_vec() })
}

fn set_regs(pid: i32, data: u64) -> i64 {
    let mut bytes = [0u8; USER_REGS_LEN];
    if uaccess::copy_from_user(data, &mut bytes).is_err() {
        return EFAULT;
    }
    let (_, mut r) = match regs(pid) {
        Ok(r) => r,
        Err(e) => return e,
    };
    apply_user_regs(&mut r, &bytes);
    write_regs(pid, &r)
}

fn set_fpregs(pid: i32, data: u64) -> i64 {
    let (_, mut r) = match regs(pid) {
        Ok(r) => r,
        Err(e) => return e,
    };
    if uaccess::copy_from_user(data, &mut r.fxsave).is_err() {
        return EFAULT;
    }
    write_regs(pid, &r)
}

/// GETREGSET: NT_PRSTATUS and NT_PRFPREG through an iovec, whose length is set to what
/// was written.
fn get_regset(pid: i32, kind: u64, iov: u64) -> i64 {
    let mut v = [0u8; 16];
    if uaccess::copy_from_user(iov, &mut v).is_err() {
        return EFAULT;
    }
    let base = u64::from_le_bytes(v[0..8].try_into().unwrap_or_default());
    let len = u64::from_le_bytes(v[8..16].try_into().unwrap_or_default());
    let (_, r) = match regs(pid) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let user = user_regs(&r);
    let set: &[u8] = match kind {
        NT_PRSTATUS => &user,
        NT_PRFPREG => &r.fxsave,
        _ => return err(errno::EINVAL),
    };
    let n = set.len().min(len as usize);
    if put(base, &set[..n]) != 0 || put(iov + 8, &(n as u64).to_le_bytes()) != 0 {
        return EFAULT;
    }
    0
}

fn valid_signal(data: u64) -> Option<i32> {
    (data < 65).then_some(data as i32)
}

fn resume(pid: i32, req: u64, data: u64) -> i64 {
    let Some(signal) = valid_signal(data) else { return EIO };
    let step = req == PTRACE_SINGLESTEP;
    let cmd = DebugCommand::Resume { step, signal, syscall: req == PTRACE_SYSCALL, together: 0 };
    match hypercall::call(&Request::Proc(ProcRequest::Ptrace { pid, op: PtraceOp::Command(cmd) })) {
        Response::Ret(r) => r,
        _ => EIO,
    }
}

/// PTRACE_KILL: SIGKILL, as Linux does it for a stopped tracee.
fn kill(pid: i32) -> i64 {
    if regs(pid).is_err() {
        return ESRCH;
    }
    let sig = abi_shared::linux::general::SIGKILL as i32;
    let _ = hypercall::call_ret(&Request::Proc(ProcRequest::Kill { pid, sig }));
    0
}

fn set_options(pid: i32, options: u64) -> i64 {
    if options & !KNOWN_OPTIONS != 0 {
        return err(errno::EINVAL);
    }
    if options & !SUPPORTED_OPTIONS != 0 {
        // TRACEVFORKDONE/SECCOMP, EXITKILL, SUSPEND_SECCOMP: not
        // done yet, and a tracer must not believe they are.
        crate::syscall::unsupported(crate::stats::Unsupported::PtraceOption, options & !SUPPORTED_OPTIONS);
        return err(errno::EINVAL);
    }
    call(pid, PtraceOp::SetOptions { options })
}

/// GETEVENTMSG: after PTRACE_EVENT_EXEC the former thread id, after PTRACE_EVENT_EXIT the
/// exit status; else 0.
fn get_event_msg(pid: i32, data: u64) -> i64 {
    match stop_of(pid) {
        Ok((_, _, msg)) => put(data, &msg.to_le_bytes()),
        Err(e) => e,
    }
}

/// GETSIGINFO: at a signal-delivery-stop the signal's siginfo; at other stops SIGTRAP with
/// si_code SIGTRAP|0x80 at a syscall stop (with TRACESYSGOOD), SI_USER otherwise.
fn get_siginfo(pid: i32, data: u64) -> i64 {
    // A signal-delivery-stop: the signal's own siginfo, as the tracee has it.
    if let Ok(info) = command(pid, DebugCommand::ReadSiginfo) {
        if info.len() == 128 {
            return put(data, &info);
        }
    }
    let (status, _) = match regs(pid) {
        Ok(r) => r,
        Err(e) => return e,
    };
    let stop_sig = (status >> 8) & 0xff;
    let mut info = [0u8; 128];
    let (signo, code) = if stop_sig & 0x80 != 0 { (stop_sig & 0x7f, stop_sig) } else { (stop_sig, 0) };
    info[0..4].copy_from_slice(&signo.to_le_bytes());
    info[8..12].copy_from_slice(&code.to_le_bytes());
    put(data, &info)
}

/// The bytes one memory command moves here.
const CHUNK: u64 = abi_shared::debug::MAX_DEBUG_IO as u64;
/// The most iovecs one call takes (UIO_MAXIOV).
const UIO_MAXIOV: u64 = 1024;

/// An iovec array of the caller's: (base, len) pairs.
fn read_iovecs(addr: u64, count: u64) -> Result<alloc::vec::Vec<(u64, u64)>, i64> {
    if count > UIO_MAXIOV {
        return Err(err(errno::EINVAL));
    }
    let mut out = alloc::vec::Vec::with_capacity(count as usize);
    for i in 0..count {
        let mut v = [0u8; 16];
        uaccess::copy_from_user(addr + i * 16, &mut v).map_err(|_| EFAULT)?;
        let base = u64::from_le_bytes(v[0..8].try_into().unwrap_or_default());
        let len = u64::from_le_bytes(v[8..16].try_into().unwrap_or_default());
        if (len as i64) < 0 {
            return Err(err(errno::EINVAL));
        }
        out.push((base, len));
    }
    Ok(out)
}

/// The remote side as runs of at most `CHUNK` bytes, in order.
fn chunks(iov: &[(u64, u64)]) -> impl Iterator<Item = (u64, u32)> + '_ {
    let max = CHUNK;
    iov.iter().flat_map(move |&(base, len)| {
        (0..len.div_ceil(max)).map(move |k| (base + k * max, (len - k * max).min(max) as u32))
    })
}

/// process_vm_readv/process_vm_writev: only a stopped tracee of the caller's can be
/// reached (its memory is read by its own guest kernel, through the monitors).
pub fn process_vm_readv(c: &mut Ctx<'_>) -> i64 {
    process_vm(c, false)
}

pub fn process_vm_writev(c: &mut Ctx<'_>) -> i64 {
    process_vm(c, true)
}

fn process_vm(c: &mut Ctx<'_>, write: bool) -> i64 {
    let (pid, local, lcount, remote, rcount, flags) = (c.int(0), c.arg(1), c.arg(2), c.arg(3), c.arg(4), c.arg(5));
    if flags != 0 {
        return err(errno::EINVAL);
    }
    let (local, remote) = match (read_iovecs(local, lcount), read_iovecs(remote, rcount)) {
        (Ok(l), Ok(r)) => (l, r),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    if regs(pid).is_err() {
        // Not a stopped tracee: out of reach (a running process's memory cannot be
        // served by its guest), as Linux says of a process it may not touch.
        return if pid <= 0 { ESRCH } else { EPERM };
    }
    let total = local.iter().map(|l| l.1).sum::<u64>().min(remote.iter().map(|r| r.1).sum());
    // The caller's side as one stream: gather it for a write, scatter into it after a read.
    let mut done = 0u64;
    let mut local_at = LocalCursor { iov: &local, index: 0, offset: 0 };
    for (addr, len) in chunks(&remote) {
        let len = (u64::from(len)).min(total - done);
        if len == 0 {
            break;
        }
        let moved = if write {
            let mut buf = alloc::vec![0u8; len as usize];
            if local_at.copy(&mut buf, false).is_err() {
                return if done == 0 { EFAULT } else { done as i64 };
            }
            match command(pid, DebugCommand::WriteMemory { addr, data: buf }) {
                Ok(_) => len,
                Err(_) => 0,
            }
        } else {
            match command(pid, DebugCommand::ReadMemory { addr, len: len as u32 }) {
                Ok(mut data) => {
                    let n = data.len() as u64;
                    if local_at.copy(&mut data, true).is_err() {
                        return if done == 0 { EFAULT } else { done as i64 };
                    }
                    n
                }
                Err(_) => 0,
            }
        };
        done += moved;
        if moved < len {
            break;
        }
    }
    if done == 0 && total > 0 {
        return EFAULT;
    }
    done as i64
}

/// A position in the caller's iovecs.
struct LocalCursor<'a> {
    iov: &'a [(u64, u64)],
    index: usize,
    offset: u64,
}

impl LocalCursor<'_> {
    /// Move `buf.len()` bytes between `buf` and the caller's memory (into it when `out`).
    fn copy(&mut self, buf: &mut [u8], out: bool) -> Result<(), ()> {
        let mut at = 0usize;
        while at < buf.len() {
            let &(base, len) = self.iov.get(self.index).ok_or(())?;
            let n = ((len - self.offset) as usize).min(buf.len() - at);
            let addr = base + self.offset;
            let r = if out {
                uaccess::copy_to_user(addr, &buf[at..at + n])
            } else {
                uaccess::copy_from_user(addr, &mut buf[at..at + n])
            };
            r.map_err(|_| ())?;
            at += n;
            self.offset += n as u64;
            if self.offset == len {
                (self.index, self.offset) = (self.index + 1, 0);
            }
        }
        Ok(())
    }
}
