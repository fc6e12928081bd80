//! execve and execveat: replace the program in this process (the pid stays).
//!
//! Everything that can fail with an errno happens first, while the old image is intact:
//! the host finds and checks the program in the view (`PrepareExec`, the same checks as
//! for the first program), and the arguments are copied in under Linux's limits. Then the
//! point of no return: the user address space, signal handlers, thread pointers and
//! close-on-exec descriptors go, the loader maps the new image, and the syscall returns
//! into it with a fresh register frame.

use alloc::vec::Vec;

use abi_shared::hypercall::{ExecPlan, ExecRequest, ExitHow, FsRequest, Request, Response, SegList};
use abi_shared::layout::user;
use abi_shared::linux::errno;
use abi_shared::linux::general::AT_FDCWD;
use abi_shared::linux::signal::SIGSEGV;

use super::{err, Ctx, EFAULT};
use crate::arch::entry::TrapFrame;
use crate::arch::platform;
use crate::hypercall::{call, call_ret};
use crate::loader::args::{Budget, MAX_ARG_STRLEN};
use crate::loader::Checked;
use crate::mm::{uaccess, SPACE};
use abi_shared::linux::PATH_MAX;

/// The default MXCSR (all exceptions masked, round to nearest), as a new program gets it.
const MXCSR_DEFAULT: u32 = 0x1f80;

pub fn execve(c: &mut Ctx<'_>) -> i64 {
    let (path, argv, envp) = (c.arg(0), c.arg(1), c.arg(2));
    exec(c, AT_FDCWD, path, argv, envp, 0)
}

pub fn execveat(c: &mut Ctx<'_>) -> i64 {
    let (dirfd, path, argv, envp, flags) = (c.int(0), c.arg(1), c.arg(2), c.arg(3), c.int(4));
    exec(c, dirfd, path, argv, envp, flags)
}

fn exec(c: &mut Ctx<'_>, dirfd: i32, path: u64, argv: u64, envp: u64, flags: i32) -> i64 {
    let path = match uaccess::read_cstr(path, PATH_MAX - 1) {
        Ok(Some(p)) => own_exe_for_proc_link(p),
        Ok(None) => return err(errno::ENAMETOOLONG),
        Err(_) => return EFAULT,
    };
    let plan = match call(&Request::Exec(ExecRequest::PrepareExec { dirfd, path: &path, flags })) {
        Response::Exec(plan) => plan,
        Response::Ret(e) if e < 0 => return e,
        _ => return EFAULT,
    };
    if plan.native {
        let e = match copy_args(argv, envp, &plan.filename) {
            Ok(args) => exec_native(&plan, &args),
            Err(e) => e,
        };
        call_ret(&Request::Fs(FsRequest::Close { fd: plan.fd }));
        return e;
    }
    let checked = copy_args(argv, envp, &plan.filename)
        .and_then(|args| crate::loader::check(plan.fd).map(|c| (args, c)).map_err(|e| err(e.errno())));
    let (args, checked) = match checked {
        Ok(ok) => ok,
        Err(e) => {
            call_ret(&Request::Fs(FsRequest::Close { fd: plan.fd }));
            return e;
        }
    };
    let argv = match &plan.argv_prefix {
        Some(prefix) => prefix.iter().cloned().chain(args.argv.into_iter().skip(1)).collect(),
        None => args.argv,
    };
    // The point of no return: the other threads end, and the caller becomes the first.
    crate::task::threads::exec_takes_over();
    *c.frame = replace_image(&plan, checked, &argv, &args.envp);
    c.full_return = true;
    0
}

/// /proc is the guest's, not the host's: /proc/self/exe (or /proc/<our pid>/exe) is the
/// program's own file, which the host knows by its path.
/// A `--native` program: the host execs it in place of this whole process, with our
/// arguments, environment and signal mask; only a failure comes back (-errno).
fn exec_native(plan: &ExecPlan, args: &Args) -> i64 {
    let mut buf = Vec::new();
    for s in args.argv.iter().chain(&args.envp) {
        buf.extend_from_slice(s);
        buf.push(0);
    }
    let blocked = crate::task::current().signals().lock().blocked;
    crate::signal::host::before_native_exec(&crate::signal::state().lock());
    let segs = [crate::hypercall::kernel_buf_seg(&buf)];
    let argc = args.argv.len() as u32;
    // A vfork parent may go on as soon as the host exec succeeds: send it our writes first
    // (and keep tracking if the exec fails).
    let vfork_child = crate::mm::vfork::is_tracking();
    crate::mm::vfork::copy_back();
    let r = call_ret(&Request::Exec(ExecRequest::ExecNative {
        fd: plan.fd,
        args: SegList::Borrowed(&segs),
        argc,
        blocked,
    }));
    if vfork_child {
        crate::mm::vfork::start_tracking();
    }
    r
}

fn own_exe_for_proc_link(path: Vec<u8>) -> Vec<u8> {
    let mut own = alloc::format!("/proc/{}/exe", crate::task::pid()).into_bytes();
    if path == b"/proc/self/exe" || path == own {
        own = crate::task::exe_path();
        return own;
    }
    path
}

struct Args {
    argv: Vec<Vec<u8>>,
    envp: Vec<Vec<u8>>,
}

/// Copy argv and envp in as Linux does: the pointer arrays first (EFAULT), then the room
/// they leave (E2BIG), then the strings: the file name, the environment, the arguments.
fn copy_args(argv: u64, envp: u64, filename: &[u8]) -> Result<Args, i64> {
    let rlimit = crate::loader::rlimit_stack();
    let argv_ptrs = pointers(argv, rlimit)?;
    let envp_ptrs = pointers(envp, rlimit)?;
    let e2big = err(errno::E2BIG);
    let mut budget = Budget::new(rlimit, argv_ptrs.len() as u64, envp_ptrs.len() as u64).ok_or(e2big)?;
    if !budget.take(filename.len() as u64) {
        return Err(e2big);
    }
    let envp = strings(&envp_ptrs, &mut budget)?;
    let mut argv = strings(&argv_ptrs, &mut budget)?;
    // Linux gives a program started with no arguments an empty argv[0].
    if argv.is_empty() {
        argv.push(Vec::new());
    }
    Ok(Args { argv, envp })
}

/// The pointers of a NULL-terminated array (a NULL array is empty, as Linux allows).
fn pointers(array: u64, rlimit: u64) -> Result<Vec<u64>, i64> {
    let mut out = Vec::new();
    if array == 0 {
        return Ok(out);
    }
    loop {
        let at = array.checked_add(out.len() as u64 * 8).ok_or(EFAULT)?;
        let p = uaccess::read_u64(at).map_err(|_| EFAULT)?;
        if p == 0 {
            return Ok(out);
        }
        out.push(p);
        if Budget::too_many(rlimit, out.len() as u64) {
            return Err(err(errno::E2BIG));
        }
    }
}

fn strings(ptrs: &[u64], budget: &mut Budget) -> Result<Vec<Vec<u8>>, i64> {
    let mut out = Vec::with_capacity(ptrs.len());
    for &p in ptrs {
        let s = uaccess::read_cstr(p, MAX_ARG_STRLEN as usize).map_err(|_| EFAULT)?.ok_or(err(errno::E2BIG))?;
        if !budget.take(s.len() as u64) {
            return Err(err(errno::E2BIG));
        }
        out.push(s);
    }
    Ok(out)
}

/// The point of no return: drop the old image and everything tied to it, load the new one
/// and return the registers to enter it with. A new image that cannot be loaded kills the
/// process with SIGSEGV, as Linux does once the old memory is gone.
fn replace_image(plan: &ExecPlan, checked: Checked, argv: &[Vec<u8>], envp: &[Vec<u8>]) -> TrapFrame {
    // A vfork parent sees what its child wrote (the memory they shared on Linux).
    crate::mm::vfork::copy_back();
    crate::random::reseed(&plan.seed);
    tear_down_user_state();
    crate::signal::reset_for_exec();
    crate::task::forget_thread_pointers();
    crate::task::set_exec(&plan.exe);
    crate::task::creds::exec();
    // Linux names the thread after the name execve was given (a script's own name), or the
    // file's for fexecve's /dev/fd/N.
    if !plan.filename.starts_with(b"/dev/fd/") {
        crate::task::set_comm_from_path(&plan.filename);
    }
    let program = crate::loader::Program { fd: plan.fd, exe: &plan.exe, execfn: &plan.filename, argv, envp };
    let loaded = crate::loader::load(&program, checked);
    call_ret(&Request::Fs(FsRequest::Close { fd: plan.fd }));
    call_ret(&Request::Exec(ExecRequest::CloseOnExec));
    forget_closed_on_exec();
    match loaded {
        Ok(frame) => {
            crate::fs::procfs::note_exec(frame.rsp, argv, envp);
            frame
        }
        Err(e) => {
            crate::print::log(1, format_args!("execve: the new image could not be loaded ({e:?})"));
            crate::task::exit::terminate(ExitHow::Signal(SIGSEGV))
        }
    }
}

/// Unmap the whole user address space (frames, held files and shared file windows go back
/// through munmap's path) and reset the user-visible CPU state the old image set up.
fn tear_down_user_state() {
    {
        let mut space = SPACE.lock();
        space.unmap_range(0, user::TASK_SIZE);
        space.brk_start = 0;
        space.brk = 0;
    }
    platform::set_fs_base(0);
    platform::set_gs_base(0);
    // SAFETY: fninit and ldmxcsr reset only the x87 and SSE control state that user code
    // sees; the kernel does not use floating point, and the operand is a valid u32.
    unsafe {
        core::arch::asm!("fninit", "ldmxcsr [{}]", in(reg) &MXCSR_DEFAULT, options(nostack, readonly));
    }
}

/// The host closed the close-on-exec descriptors: the descriptor table forgets them.
fn forget_closed_on_exec() {
    const F_GETFD: i32 = abi_shared::linux::general::F_GETFD as i32;
    crate::task::fdtable::FDS
        .after_close_on_exec(|fd| call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_GETFD, arg: 0 })) >= 0);
}
