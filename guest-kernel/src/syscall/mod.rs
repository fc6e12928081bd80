//! System call dispatch: one declarative table (table.rs) maps each x86_64 number to its
//! handler, where it is served, and how `--strace` shows its arguments.

pub mod exec;
pub mod fs;
pub mod fs_extra;
pub mod ids;
pub mod info;
pub mod misc;
mod misc_rules;
pub mod mm;
pub mod poll;
pub mod process;
mod table;
pub mod time;
mod trace;
pub mod tty;

use core::sync::atomic::{AtomicU64, Ordering};

use abi_shared::hypercall::Startup;
use abi_shared::layout::user;
use abi_shared::linux::errno;

use crate::arch::entry::{ReturnPath, TrapFrame};

/// What a handler sees.
pub struct Ctx<'a> {
    pub frame: &'a mut TrapFrame,
    pub args: [u64; 6],
    /// Set by handlers that rewrote the whole frame (rt_sigreturn): return with every
    /// register restored, and leave rax as the frame has it.
    pub full_return: bool,
}

impl Ctx<'_> {
    pub fn arg(&self, i: usize) -> u64 {
        self.args[i]
    }

    /// An `int` argument: Linux takes the low 32 bits.
    pub fn int(&self, i: usize) -> i32 {
        self.args[i] as i32
    }
}

pub type Handler = fn(&mut Ctx<'_>) -> i64;

pub const fn err(e: u32) -> i64 {
    -(e as i64)
}

pub const ENOSYS: i64 = err(errno::ENOSYS);
pub const EINVAL: i64 = err(errno::EINVAL);
pub const EFAULT: i64 = err(errno::EFAULT);
pub const ENOMEM: i64 = err(errno::ENOMEM);
pub const EINTR: i64 = err(errno::EINTR);

const NONE_IN_FLIGHT: u64 = u64::MAX;
/// The syscall in flight, in the per-CPU page where the monitor can read it after a crash.
const IN_FLIGHT_VA: u64 = abi_shared::layout::PERCPU_WINDOW_VA + abi_shared::layout::vcpu_block::SYSCALL_IN_FLIGHT;
const EXIT_NR: u64 = 60;
const EXIT_GROUP_NR: u64 = 231;
const EXECVE_NR: u64 = 59;
const EXECVEAT_NR: u64 = 322;

fn in_flight() -> &'static AtomicU64 {
    // SAFETY: the per-CPU page is mapped for the whole run, 8-byte aligned at this offset,
    // and only this vCPU uses it.
    unsafe { AtomicU64::from_ptr(IN_FLIGHT_VA as *mut u64) }
}

/// Name of the syscall being served, for panic diagnostics.
pub fn in_flight_name() -> &'static str {
    match in_flight().load(Ordering::Relaxed) {
        NONE_IN_FLIGHT => "none",
        nr => abi_shared::syscalls::syscall_name(nr).unwrap_or("unknown"),
    }
}

pub fn init(startup: &Startup) {
    in_flight().store(NONE_IN_FLIGHT, Ordering::Relaxed);
    ids::init(startup);
    crate::signal::host::inherit(&mut crate::signal::STATE.lock(), startup.ignored_signals, startup.blocked_signals);
}

/// The `syscall` instruction lands here (through entry.rs) with the user state in `frame`.
#[no_mangle]
pub extern "C" fn syscall_from_user(frame: &mut TrapFrame) -> ReturnPath {
    let nr = frame.rax;
    in_flight().store(nr, Ordering::Relaxed);
    crate::stats::begin_syscall();
    let args = [frame.rdi, frame.rsi, frame.rdx, frame.r10, frame.r8, frame.r9];
    let entry = table::lookup(nr);
    let tracing = trace::enabled();
    let mut pre = if tracing { Some(trace::before(nr, entry, &args)) } else { None };
    if nr == EXIT_NR || nr == EXIT_GROUP_NR {
        // These do not return: count them and show them now, as strace does ("= ?").
        crate::stats::end_syscall(nr);
        if let Some(line) = pre.take() {
            trace::no_return(line);
        }
    }
    let mut ctx = Ctx { frame, args, full_return: false };
    let ret = match entry {
        Some(e) => (e.handler)(&mut ctx),
        None => ENOSYS,
    };
    let full = ctx.full_return;
    if !full {
        frame.rax = ret as u64;
        if ret == EINTR {
            // Perhaps a host signal cut a host call short: restart or not at delivery.
            crate::signal::note_interrupted(nr);
        }
    }
    let in_guest = crate::stats::end_syscall(nr);
    if let Some(pre) = pre {
        // A successful execve rewrote the frame too, but strace shows its result: 0.
        let exec_done = nr == EXECVE_NR || nr == EXECVEAT_NR;
        trace::after(pre, ret, in_guest, full && !exec_done);
    }
    in_flight().store(NONE_IN_FLIGHT, Ordering::Relaxed);
    let path = crate::signal::deliver_pending(frame);
    if full || path == ReturnPath::Full || !fast_return_ok(frame) {
        ReturnPath::Full
    } else {
        ReturnPath::Fast
    }
}

/// `int $0x19`/`sysretq` restore rip from rcx and rflags from r11 and need a canonical
/// user rip (sysretq to a non-canonical address faults in ring 0).
fn fast_return_ok(frame: &TrapFrame) -> bool {
    frame.rcx == frame.rip && frame.r11 == frame.rflags && frame.rip < user::TASK_SIZE
}
