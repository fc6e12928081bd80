//! Ending the process.

use abi_shared::hypercall::{ExitHow, ProcRequest, Request, Response, Startup, VcpuRequest};

use super::Ctx;
use crate::arch::platform;
use crate::hypercall;
use crate::loader::LoadError;

/// exit(2): the calling thread ends; the last one's exit ends the process.
pub fn exit(c: &mut Ctx<'_>) -> i64 {
    crate::task::threads::exit_thread(c.int(0), super::trace::thread_exited, monitor_sees_threads())
}

/// The monitor must see every thread start and end (`--strace` counts them, `--gdb` and
/// a ptrace tracer follow them): no thread is started inside the guest on an ended
/// thread's vCPU (task/threads.rs).
pub fn monitor_sees_threads() -> bool {
    super::trace::enabled() || crate::signal::debug::active()
}

pub fn exit_group(c: &mut Ctx<'_>) -> i64 {
    crate::task::exit::terminate(ExitHow::Status(c.int(0) & 0xff))
}

/// The loader could not start the program: say why, and exit as a shell would (127 when
/// the file cannot be found, 126 when it cannot be executed).
pub fn exit_with_loader_error(startup: &Startup, e: LoadError) -> ! {
    let path = core::str::from_utf8(&startup.exec_path).unwrap_or("program");
    let (status, why) = match e {
        LoadError::Open(r) if r == -(abi_shared::linux::errno::ENOENT as i64) => (127, "No such file or directory"),
        LoadError::Open(_) => (126, "cannot open the file"),
        LoadError::Read => (126, "cannot read the file"),
        LoadError::NotElf => (126, "not an ELF executable"),
        LoadError::WrongMachine => (126, "not an x86_64 ELF executable"),
        LoadError::Interpreter(_) => (127, "cannot open its ELF interpreter (the dynamic loader)"),
        LoadError::BadLayout => (126, "malformed ELF program headers"),
        LoadError::NoMemory => (126, "not enough guest memory to load it (see --memory)"),
        LoadError::StackTooBig => (126, "argument list too long"),
    };
    crate::print::log(0, format_args!("{path}: {why}"));
    crate::task::exit::terminate(ExitHow::Status(status))
}

// ---------------------------------------------------------------------------------------
// fork and wait

const CSIGNAL: u64 = abi_shared::linux::general::CSIGNAL as u64;
const CLONE_VM: u64 = abi_shared::linux::general::CLONE_VM as u64;
const CLONE_VFORK: u64 = abi_shared::linux::general::CLONE_VFORK as u64;
const CLONE_SETTLS: u64 = abi_shared::linux::general::CLONE_SETTLS as u64;
const CLONE_PARENT_SETTID: u64 = abi_shared::linux::general::CLONE_PARENT_SETTID as u64;
const CLONE_CHILD_CLEARTID: u64 = abi_shared::linux::general::CLONE_CHILD_CLEARTID as u64;
const CLONE_CHILD_SETTID: u64 = abi_shared::linux::general::CLONE_CHILD_SETTID as u64;
/// The flags a new process (not a thread) may carry here. CLONE_VM is accepted only with
/// CLONE_VFORK (posix_spawn's clone): the child gets a copy of memory instead of sharing
/// it, which a child that only execs or exits cannot tell apart.
const CLONE_PROCESS_FLAGS: u64 =
    CSIGNAL | CLONE_VM | CLONE_VFORK | CLONE_SETTLS | CLONE_PARENT_SETTID | CLONE_CHILD_CLEARTID | CLONE_CHILD_SETTID;
const SIGCHLD: u64 = abi_shared::linux::signal::SIGCHLD as u64;

/// What a fork-like clone asks for, beyond the copy itself.
#[derive(Clone, Copy, Default)]
struct CloneArgs {
    flags: u64,
    stack: u64,
    parent_tid: u64,
    child_tid: u64,
    tls: u64,
}

pub fn fork(c: &mut Ctx<'_>) -> i64 {
    do_fork(c, CloneArgs { flags: SIGCHLD, ..CloneArgs::default() })
}

/// vfork: a fork (the parent does not wait for the child's exec or exit yet, which a
/// correct vfork child cannot observe).
pub fn vfork(c: &mut Ctx<'_>) -> i64 {
    do_fork(c, CloneArgs { flags: SIGCHLD | CLONE_VFORK, ..CloneArgs::default() })
}

/// clone(flags, stack, parent_tid, child_tid, tls): a thread (CLONE_THREAD) or a new
/// process.
pub fn clone(c: &mut Ctx<'_>) -> i64 {
    let args = CloneArgs { flags: c.arg(0), stack: c.arg(1), parent_tid: c.arg(2), child_tid: c.arg(3), tls: c.arg(4) };
    clone_with(c, args)
}

/// The struct clone3 reads (Linux's `struct clone_args`, version 0 and later).
const CLONE_ARGS_SIZE_VER0: u64 = abi_shared::linux::general::CLONE_ARGS_SIZE_VER0 as u64;
const CLONE_ARGS_SIZE_MAX: u64 = 4096;

/// clone3(args, size).
pub fn clone3(c: &mut Ctx<'_>) -> i64 {
    let (ptr, size) = (c.arg(0), c.arg(1));
    if !(CLONE_ARGS_SIZE_VER0..=CLONE_ARGS_SIZE_MAX).contains(&size) {
        return super::EINVAL;
    }
    let mut raw = [0u8; 88];
    let n = (size as usize).min(raw.len());
    if crate::mm::uaccess::copy_from_user(ptr, &mut raw[..n]).is_err() {
        return super::EFAULT;
    }
    let field = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
    // Field 1 (pidfd) is read by Linux only with CLONE_PIDFD, field 10 (cgroup) only with
    // CLONE_INTO_CGROUP (glibc's pthread_create puts the tid's address in pidfd without the
    // flag); those flags are refused with the others not served (clone_with).
    let (flags, child_tid, parent_tid, exit_signal, stack, stack_size, tls) =
        (field(0), field(2), field(3), field(4), field(5), field(6), field(7));
    let (set_tid, set_tid_size) = (field(8), field(9));
    // Fields beyond what we know must be zero (Linux: E2BIG).
    if size as usize > raw.len() {
        let mut rest = alloc::vec![0u8; size as usize - raw.len()];
        if crate::mm::uaccess::copy_from_user(ptr + raw.len() as u64, &mut rest).is_err() {
            return super::EFAULT;
        }
        if rest.iter().any(|&b| b != 0) {
            return super::err(abi_shared::linux::errno::E2BIG);
        }
    }
    // clone3 has no CSIGNAL bits in `flags`: the signal is its own field.
    if flags & CSIGNAL != 0 || exit_signal > 64 || (stack == 0) != (stack_size == 0) {
        return super::EINVAL;
    }
    if set_tid != 0 || set_tid_size != 0 {
        super::unsupported(crate::stats::Unsupported::Clone3Fields, flags);
        return super::ENOSYS;
    }
    if flags & CLONE_THREAD != 0 && exit_signal != 0 {
        return super::EINVAL;
    }
    let stack_top = if stack != 0 { stack.wrapping_add(stack_size) } else { 0 };
    clone_with(c, CloneArgs { flags: flags | exit_signal, stack: stack_top, parent_tid, child_tid, tls })
}

fn clone_with(c: &mut Ctx<'_>, args: CloneArgs) -> i64 {
    // Linux's copy_process rules: threads share signal handlers, which share memory.
    if (args.flags & CLONE_THREAD != 0 && args.flags & CLONE_SIGHAND == 0)
        || (args.flags & CLONE_SIGHAND != 0 && args.flags & CLONE_VM == 0)
    {
        return super::EINVAL;
    }
    if args.flags & CLONE_THREAD != 0 {
        return clone_thread(c, &args);
    }
    if args.flags & !CLONE_PROCESS_FLAGS != 0
        || (args.flags & CLONE_VM != 0 && args.flags & CLONE_VFORK == 0)
        // Every child of ours tells its parent with SIGCHLD (a host process's exit does).
        || args.flags & CSIGNAL != SIGCHLD
    {
        super::unsupported(crate::stats::Unsupported::CloneFlags, args.flags);
        return super::ENOSYS;
    }
    do_fork(c, args)
}

const CLONE_FS: u64 = abi_shared::linux::general::CLONE_FS as u64;
const CLONE_FILES: u64 = abi_shared::linux::general::CLONE_FILES as u64;
const CLONE_SIGHAND: u64 = abi_shared::linux::general::CLONE_SIGHAND as u64;
const CLONE_THREAD: u64 = abi_shared::linux::general::CLONE_THREAD as u64;
const CLONE_SYSVSEM: u64 = abi_shared::linux::general::CLONE_SYSVSEM as u64;
const CLONE_DETACHED: u64 = abi_shared::linux::general::CLONE_DETACHED as u64;
/// What a thread may ask for here. A thread shares its process's descriptors, working
/// directory and umask (one host process holds them): without CLONE_FILES or CLONE_FS it
/// would need its own, which is not served (ENOSYS).
const CLONE_THREAD_FLAGS: u64 = CSIGNAL
    | CLONE_VM
    | CLONE_FS
    | CLONE_FILES
    | CLONE_SIGHAND
    | CLONE_THREAD
    | CLONE_SYSVSEM
    | CLONE_SETTLS
    | CLONE_PARENT_SETTID
    | CLONE_CHILD_CLEARTID
    | CLONE_CHILD_SETTID
    | CLONE_DETACHED;

/// A new thread of this process, on a vCPU of its own: it returns from the same clone with
/// 0 on `stack`, with the caller's other registers.
fn clone_thread(c: &mut Ctx<'_>, args: &CloneArgs) -> i64 {
    if args.flags & !CLONE_THREAD_FLAGS != 0 || args.flags & (CLONE_FS | CLONE_FILES) != CLONE_FS | CLONE_FILES {
        super::unsupported(crate::stats::Unsupported::CloneFlags, args.flags);
        return super::ENOSYS;
    }
    if args.flags & CLONE_SETTLS != 0 && args.tls >= abi_shared::layout::user::TASK_SIZE {
        return super::err(abi_shared::linux::errno::EPERM);
    }
    let mut frame = *c.frame;
    frame.rax = 0;
    if args.stack != 0 {
        frame.rsp = args.stack;
    }
    let start = crate::task::threads::ThreadStart {
        frame,
        fs_base: if args.flags & CLONE_SETTLS != 0 { args.tls } else { platform::fs_base() },
        gs_base: platform::gs_base(),
        set_child_tid: if args.flags & CLONE_CHILD_SETTID != 0 { args.child_tid } else { 0 },
        set_parent_tid: if args.flags & CLONE_PARENT_SETTID != 0 { args.parent_tid } else { 0 },
    };
    let clear = if args.flags & CLONE_CHILD_CLEARTID != 0 { args.child_tid } else { 0 };
    match crate::task::threads::spawn(start, clear, !monitor_sees_threads()) {
        Ok(tid) => i64::from(tid),
        Err(e) => e,
    }
}

fn do_fork(c: &mut Ctx<'_>, args: CloneArgs) -> i64 {
    if args.flags & CLONE_SETTLS != 0 && args.tls >= abi_shared::layout::user::TASK_SIZE {
        return super::err(abi_shared::linux::errno::EPERM);
    }
    let parent = crate::task::pid();
    // The other threads wait where they hold no kernel lock while the memory is copied.
    let gate = crate::task::fork_gate::close();
    let forked = hypercall::call(&Request::Vcpu(VcpuRequest::Fork { vfork: args.flags & CLONE_VFORK != 0 }));
    match forked {
        Response::Forked { child: true, .. } => crate::task::threads::only_the_caller_left(),
        Response::Forked { pid, child: false, .. } => {
            let vfork = args.flags & CLONE_VFORK != 0;
            // The tracer hears of the child before a vfork parent waits for it.
            crate::signal::debug::fork_event(c.frame, pid, vfork);
            if vfork {
                // The other threads run on while the child runs, as on Linux.
                crate::task::fork_gate::open_for_others(gate);
                wait_for_vfork_child();
                crate::mm::vfork::apply_in_parent();
                crate::signal::debug::vfork_done_event(c.frame, pid);
            }
        }
        _ => {}
    }
    crate::task::fork_gate::open(gate);
    match forked {
        Response::Forked { pid, child: false, seed } => {
            crate::random::reseed(&seed);
            if args.flags & CLONE_PARENT_SETTID != 0 {
                let _ = crate::mm::uaccess::copy_to_user(args.parent_tid, &pid.to_le_bytes());
            }
            i64::from(pid)
        }
        Response::Forked { pid, child: true, seed } => {
            crate::random::reseed(&seed);
            become_child(c, parent, pid, &args);
            0
        }
        Response::Ret(e) => e,
        _ => super::err(abi_shared::linux::errno::EAGAIN),
    }
}

/// vfork: the calling thread waits until its child has exec'd or ended. Signals do not end
/// the wait (they are taken after it). The other threads run on meanwhile; another thread's
/// fork or exec waits for the end of this one (see task/fork_gate.rs).
fn wait_for_vfork_child() {
    while hypercall::call_ret(&Request::Proc(ProcRequest::VforkWait)) == super::EINTR {
        crate::task::fork_gate::checkpoint();
    }
}

/// The new process's own state: its ids, no pending signals and no ITIMER_REAL (Linux
/// does not inherit either), and what clone's flags ask of the child.
fn become_child(c: &mut Ctx<'_>, parent: i32, pid: i32, args: &CloneArgs) {
    crate::task::become_child(parent, pid);
    crate::task::threads::only_the_caller_left();
    let vfork = args.flags & CLONE_VFORK != 0;
    let follow = crate::signal::debug::follows_fork(vfork)
        .then(|| (crate::signal::debug::options(), crate::signal::debug::seized()));
    // The child's first vCPU has a hypercall worker wherever requests go through shared
    // memory, whichever thread forked (host-monitor threads.rs, `continue_as_child`).
    hypercall::transport::set_worker(hypercall::transport::shared_memory());
    crate::signal::debug::forget_in_child(args.flags & CLONE_VFORK != 0);
    crate::signal::forget_pending();
    crate::signal::timer::set(0, 0);
    crate::signal::timer::delete_all();
    if args.flags & CLONE_VFORK != 0 {
        crate::mm::vfork::start_tracking();
    } else {
        crate::mm::vfork::stop_tracking();
        crate::mm::SPACE.lock().after_fork_child();
    }
    if args.flags & CLONE_CHILD_SETTID != 0 {
        let _ = crate::mm::uaccess::copy_to_user(args.child_tid, &pid.to_le_bytes());
    }
    if args.flags & CLONE_CHILD_CLEARTID != 0 {
        crate::task::set_clear_child_tid(args.child_tid);
    }
    if args.flags & CLONE_SETTLS != 0 {
        platform::set_fs_base(args.tls);
    }
    if args.stack != 0 {
        c.frame.rsp = args.stack;
    }
    if let Some((options, seized)) = follow {
        crate::signal::debug::become_forked_tracee(options, seized);
    }
}

/// wait4(pid, wstatus, options, rusage): the host's, since children are host processes.
pub fn wait4(c: &mut Ctx<'_>) -> i64 {
    let (pid, wstatus, options, rusage) = (c.int(0), c.arg(1), c.int(2), c.arg(3));
    match hypercall::call(&Request::Proc(ProcRequest::Wait4 { pid, options })) {
        Response::Waited { ret, status, rusage: ru } => {
            if ret > 0 {
                if wstatus != 0 && crate::mm::uaccess::copy_to_user(wstatus, &status.to_le_bytes()).is_err() {
                    return super::EFAULT;
                }
                if rusage != 0 && crate::mm::uaccess::write_struct(rusage, &ru).is_err() {
                    return super::EFAULT;
                }
            }
            ret
        }
        Response::Ret(e) => e,
        _ => super::EINVAL,
    }
}

/// waitid(idtype, id, infop, options, rusage): Linux fills a SIGCHLD siginfo, or zeroes
/// si_signo and si_pid when WNOHANG found no child ready.
pub fn waitid(c: &mut Ctx<'_>) -> i64 {
    let (idtype, id, infop, options, rusage) = (c.int(0), c.int(1), c.arg(2), c.int(3), c.arg(4));
    match hypercall::call(&Request::Proc(ProcRequest::Waitid { idtype, id, options })) {
        Response::WaitedId { ret, info, rusage: ru } => {
            if infop != 0 && write_wait_siginfo(infop, &info).is_err() {
                return super::EFAULT;
            }
            if rusage != 0 && crate::mm::uaccess::write_struct(rusage, &ru).is_err() {
                return super::EFAULT;
            }
            ret
        }
        Response::Ret(e) => e,
        _ => super::EINVAL,
    }
}

/// Write the SIGCHLD fields of a Linux x86_64 siginfo as waitid does: signo, errno, code
/// (at 0, 4, 8), then pid, uid, status (at 16, 20, 24); the bytes around them stay as they
/// were, as on Linux.
fn write_wait_siginfo(infop: u64, i: &abi_shared::hypercall::WaitInfo) -> Result<(), i64> {
    let mut head = [0u8; 12];
    head[0..4].copy_from_slice(&i.signo.to_le_bytes());
    head[8..12].copy_from_slice(&i.code.to_le_bytes());
    let mut fields = [0u8; 12];
    fields[0..4].copy_from_slice(&i.pid.to_le_bytes());
    fields[4..8].copy_from_slice(&i.uid.to_le_bytes());
    fields[8..12].copy_from_slice(&i.status.to_le_bytes());
    crate::mm::uaccess::copy_to_user(infop, &head)?;
    crate::mm::uaccess::copy_to_user(infop + 16, &fields)
}
