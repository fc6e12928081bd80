//! System call dispatch: one declarative table (table.rs) maps each x86_64 number to its
//! handler, where it is served, and how `--strace` shows its arguments.

pub mod epoll;
pub mod exec;
pub mod fs;
pub mod fs_attrs;
pub mod fs_ctl;
pub mod fs_extra;
mod futex;
pub mod ids;
pub mod info;
mod ipc;
pub mod misc;
mod misc_rules;
pub mod mm;
mod mqueue;
pub mod net;
mod notify;
mod pidfd;
pub mod poll;
pub mod process;
mod ptrace;
mod seccomp;
mod splice;
mod table;
pub mod time;
pub mod trace;
pub mod tty;

use abi_shared::hypercall::Startup;
use abi_shared::layout::user;

use crate::arch::entry::{ReturnPath, TrapFrame};
/// The handler's view, defined below syscall/ so that the handlers of lower layers
/// (signal/, fs/procfs/) need not import this module.
pub use crate::sysctx::{err, Ctx, Handler, EFAULT, EINTR, EINVAL, ENOMEM, ENOSYS};

const EXIT_NR: u64 = 60;
const EXIT_GROUP_NR: u64 = 231;
const EXECVE_NR: u64 = 59;
const EXECVEAT_NR: u64 = 322;

pub fn init(startup: &Startup) {
    crate::stats::clear_in_flight();
    crate::task::init(startup);
    let mut st = crate::signal::lock();
    let st = &mut st;
    crate::signal::host::inherit(&mut st.proc, &mut st.me, startup.ignored_signals, startup.blocked_signals);
}

/// The `syscall` instruction lands here (through entry.rs) with the user state in `frame`.
#[no_mangle]
pub extern "C" fn syscall_from_user(frame: &mut TrapFrame) -> ReturnPath {
    crate::mm::tlb::entered_kernel();
    crate::task::fork_gate::checkpoint();
    let mut nr = frame.rax;
    if crate::signal::debug::syscall_stops() {
        // ptrace's syscall-enter-stop; the tracer may change the arguments and the number,
        // or skip the call (-1: its result is the rax the tracer left).
        nr = crate::signal::debug::syscall_entry_stop(frame, nr);
        if nr == u64::MAX {
            crate::signal::debug::note_syscall(u64::MAX);
            return skipped_syscall(frame);
        }
    }
    crate::signal::debug::note_syscall(nr);
    // A seccomp verdict other than "run it" skips the call with this result.
    let denied = seccomp::on_entry(nr, frame);
    let args = [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9];
    let entry = table::lookup(nr);
    let tracing = trace::enabled();
    // Begun before the call is counted: the line's own hypercall is not the call's.
    let mut pre = if tracing { Some(trace::at_entry(nr, entry, &args, frame.rsp)) } else { None };
    crate::stats::set_in_flight(nr);
    crate::stats::begin_syscall();
    if denied.is_none() && (nr == EXIT_NR || nr == EXIT_GROUP_NR) {
        crate::signal::debug::exit_stop(frame, nr, args[0] as i32 & 0xff);
        // These do not return: count them and show them now, as strace does ("= ?").
        crate::stats::end_syscall(nr, 0);
        if let Some(line) = pre.take() {
            trace::no_return(line, nr, entry);
        }
    }
    let mut ctx = Ctx { frame, args, full_return: false };
    let ret = match (denied, entry) {
        (Some(ret), _) => ret,
        (None, Some(e)) => (e.handler)(&mut ctx),
        (None, None) => unimplemented(nr),
    };
    let full = ctx.full_return;
    if nr == trace::RT_SIGRETURN {
        // The registers are the interrupted context's own: no syscall to show or restart.
        crate::signal::debug::note_syscall(u64::MAX);
    }
    if !full {
        frame.rax = ret as u64;
        if ret == EINTR {
            // Perhaps a host signal cut a host call short: restart or not at delivery.
            crate::signal::note_interrupted(nr);
        }
    }
    if full && (nr == EXECVE_NR || nr == EXECVEAT_NR) {
        crate::signal::debug::exec_stop(frame, nr);
    }
    if crate::signal::debug::syscall_stops() {
        crate::signal::debug::syscall_exit_stop(frame, nr);
    }
    let in_guest = crate::stats::end_syscall(nr, if full { 0 } else { ret });
    if let Some(pre) = pre {
        // A successful execve rewrote the frame too, but strace shows its result: 0; and
        // rt_sigreturn's is the rax it restored (an interrupted call's -EINTR, say).
        let shows_result = matches!(nr, EXECVE_NR | EXECVEAT_NR | trace::RT_SIGRETURN);
        trace::at_exit(pre, nr, entry, ret, in_guest, full && !shows_result);
    }
    crate::stats::clear_in_flight();
    crate::task::fork_gate::checkpoint();
    let path = crate::signal::deliver_pending(frame);
    crate::mm::tlb::before_user();
    if full || path == ReturnPath::Full || !fast_return_ok(frame) {
        ReturnPath::Full
    } else {
        ReturnPath::Fast
    }
}

/// A call its tracer skipped at the syscall-enter-stop (orig_rax -1): nothing runs, rax
/// stays what the tracer left, and the syscall-exit-stop shows orig_rax -1, as on Linux.
fn skipped_syscall(frame: &mut TrapFrame) -> ReturnPath {
    if crate::signal::debug::syscall_stops() {
        crate::signal::debug::syscall_exit_stop(frame, u64::MAX);
    }
    crate::task::fork_gate::checkpoint();
    crate::signal::deliver_pending(frame);
    crate::mm::tlb::before_user();
    // The tracer may have changed any register: the full restore.
    ReturnPath::Full
}

/// Syscall `nr` is not implemented: ENOSYS, counted for the end of the run and named with
/// -v the first time.
pub fn unimplemented(nr: u64) -> i64 {
    if crate::stats::note_unimplemented(nr) {
        let name = abi_shared::syscalls::syscall_name(nr).unwrap_or("unknown");
        crate::print::log(2, format_args!("not implemented yet: syscall {name} ({nr}), answered ENOSYS"));
    }
    ENOSYS
}

/// A feature of an implemented call that linuxrun lacks was asked for: counted for the end
/// of the run and named with -v the first time (the caller answers as Linux would answer
/// an unsupported request).
pub fn unsupported(what: crate::stats::Unsupported, value: u64) {
    if crate::stats::note_unsupported(what, value) {
        crate::print::log(
            2,
            format_args!("not implemented yet: {} {value:#x}, answered as unsupported", what.describe()),
        );
    }
}

/// `int $0x19`/`sysretq` restore rip from rcx and rflags from r11 and need a canonical
/// user rip (sysretq to a non-canonical address faults in ring 0).
fn fast_return_ok(frame: &TrapFrame) -> bool {
    frame.rcx == frame.rip && frame.r11 == frame.rflags && frame.rip < user::TASK_SIZE
}
