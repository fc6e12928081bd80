//! `--gdb` in the guest kernel: a thread stops for the debugger where Linux stops a ptraced
//! thread (the program's first instruction, a breakpoint or single-step trap, a signal
//! about to be delivered), sends its user registers to the monitor's gdb stub and carries
//! out the debugger's commands until it is told to run again (see abi_shared::debug).
//!
//! Memory goes through the kernel's own user-access routines, so a page not yet faulted in
//! (a file page, the stack below its lowest touch) is read as a touch would read it, an
//! unmapped address is an error, and a write to read-only text changes this process's
//! private copy of the page, as ptrace's POKETEXT does.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicBool, AtomicI32, AtomicU32, Ordering};

use abi_shared::debug::{DebugCommand, DebugEvent, DebugRegs, MAX_DEBUG_IO};
use abi_shared::hypercall::{ControlRequest, Request, Response};
use abi_shared::layout::{selectors, user, MAX_VCPUS, PAGE_SIZE};
use abi_shared::linux::Pod;
use spin::{Mutex, Once};

use crate::arch::entry::{TrapFrame, SYSCALL_VECTOR};
use crate::arch::platform;
use crate::mm::uaccess;

/// The trap flag: single-step.
const RFLAGS_TF: u64 = 0x100;
/// RFLAGS bits a debugger may change (those sigreturn lets user code change).
const USER_RFLAGS: u64 = 0x0000_0001 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4_0000 | 0x1_0000;
const INT3: u8 = 0xcc;
const SIGTRAP: i32 = abi_shared::linux::general::SIGTRAP as i32;

/// A debugger is attached (BootInfo flag); cleared for good when the monitor stops
/// answering as one (gdb went away) and in a forked child.
static ACTIVE: AtomicBool = AtomicBool::new(false);
/// The debugger is a ptrace tracer (PTRACE_TRACEME), not `--gdb`: exec stops too.
static PTRACED: AtomicBool = AtomicBool::new(false);
/// The tracer's PTRACE_SETOPTIONS.
static PTRACE_OPTIONS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);
const PTRACE_O_TRACEEXIT: u64 = 0x40;
const PTRACE_O_TRACEFORK: u64 = 0x2;
const PTRACE_O_TRACEVFORK: u64 = 0x4;
const PTRACE_O_TRACEVFORKDONE: u64 = 0x20;
const PTRACE_O_EXITKILL: u64 = 1 << 20;
/// Traced by PTRACE_SEIZE: an exec makes no SIGTRAP, PTRACE_INTERRUPT may stop us.
static SEIZED: AtomicBool = AtomicBool::new(false);
/// A PTRACE_EVENT_STOP waits for the next return to user mode: after PTRACE_INTERRUPT, in
/// a seized tracee's new child, after a seize while stopped, and after a SIGCONT (Linux's
/// JOBCTL_TRAP_NOTIFY: a seized tracee reports a SIGCONT with an event stop, and one that
/// listens, PTRACE_LISTEN, waits for it). Any event stop takes it.
static INTERRUPT: AtomicBool = AtomicBool::new(false);
/// The stop signal of the group-stop a seized tracee is in (seized while stopped), until a
/// SIGCONT; 0 none. Its event stops show it, SIGTRAP otherwise, as Linux's do.
static GROUP_STOP: AtomicI32 = AtomicI32::new(0);
/// The pid of the process that attached or seized us: a PTRACE_INTERRUPT from anyone else
/// is not taken. A followed fork's child keeps it (its copy of this memory).
static TRACER: AtomicI32 = AtomicI32::new(0);
/// Per vCPU: orig_rax as the tracer left it at a syscall-enter-stop (SETREGS may change
/// the number, or set it to -1 to skip the call).
static ORIG_RAX: [core::sync::atomic::AtomicU64; MAX_VCPUS as usize] =
    [const { core::sync::atomic::AtomicU64::new(u64::MAX) }; MAX_VCPUS as usize];
/// Per vCPU: the number of the syscall its thread entered last (u64::MAX after
/// rt_sigreturn or a skipped call), which is what Linux's orig_rax shows at any stop or in
/// a core while the thread's latest entry from user mode is that syscall.
static SYSCALL_NR: [core::sync::atomic::AtomicU64; MAX_VCPUS as usize] =
    [const { core::sync::atomic::AtomicU64::new(u64::MAX) }; MAX_VCPUS as usize];
/// The tracer's last resume was PTRACE_SYSCALL: stop at syscall entries and exits.
static SYSCALL_STOPS: AtomicBool = AtomicBool::new(false);
/// Per vCPU: the tracer asked for a single step at a syscall-exit-stop, which steps the
/// instruction after `syscall` (not the return from it, as a step over `syscall` does).
static STEP_FROM_EXIT_STOP: [AtomicBool; MAX_VCPUS as usize] = [const { AtomicBool::new(false) }; MAX_VCPUS as usize];
/// Per vCPU: the debugger asked this thread to single-step (the trap flag is its).
static STEPPING: [AtomicBool; MAX_VCPUS as usize] = [const { AtomicBool::new(false) }; MAX_VCPUS as usize];
/// The debugger's breakpoints: address -> the byte the `int3` replaced.
static BREAKPOINTS: Mutex<BTreeMap<u64, u8>> = Mutex::new(BTreeMap::new());

/// Texts only the layers above know (/proc/self/auxv and maps), given by boot.
pub struct ProcTexts {
    pub auxv: fn() -> Vec<u8>,
    pub maps: fn() -> Vec<u8>,
    pub cmdline: fn() -> Vec<u8>,
    /// Any of the process's own /proc files (`true`: the text of a link), as procfs
    /// serves them, or a negative errno.
    pub file: fn(&[u8], bool) -> Result<Vec<u8>, i64>,
}
static PROC_TEXTS: Once<ProcTexts> = Once::new();

pub fn init(enabled: bool, texts: ProcTexts) {
    ACTIVE.store(enabled, Ordering::Relaxed);
    PROC_TEXTS.call_once(|| texts);
    crate::task::fork_gate::set_debug_halt(halt_at_gate);
    if enabled {
        // The host now catches the signals left at their default action (host.rs).
        super::host::actions_changed();
    }
}

/// /proc/self/auxv, maps and cmdline, as the layers above render them (also for core
/// dumps).
pub fn auxv() -> Vec<u8> {
    PROC_TEXTS.get().map(|t| (t.auxv)()).unwrap_or_default()
}

pub fn maps() -> Vec<u8> {
    PROC_TEXTS.get().map(|t| (t.maps)()).unwrap_or_default()
}

pub fn cmdline() -> Vec<u8> {
    PROC_TEXTS.get().map(|t| (t.cmdline)()).unwrap_or_default()
}

/// The debugger's read of a /proc file (`DebugCommand::ReadProcFile`): up to
/// `MAX_DEBUG_IO` bytes from `offset`, or the errno.
fn proc_file(path: &[u8], link: bool, offset: u64) -> (bool, Vec<u8>) {
    let read = PROC_TEXTS.get().map_or(Err(-i64::from(abi_shared::linux::errno::ENOENT)), |t| (t.file)(path, link));
    match read {
        Ok(text) => {
            let start = offset.min(text.len() as u64) as usize;
            let end = text.len().min(start + MAX_DEBUG_IO as usize);
            (true, text[start..end].to_vec())
        }
        Err(e) => (false, ((-e) as i32).to_le_bytes().to_vec()),
    }
}

#[inline]
pub fn active() -> bool {
    ACTIVE.load(Ordering::Relaxed)
}

/// PTRACE_TRACEME accepted by the monitor: from now on the thread stops for the tracer
/// as it does for `--gdb` (signal-delivery-stops, single steps), and at exec and, when
/// asked, at syscalls.
pub fn become_traced() {
    PTRACED.store(true, Ordering::Relaxed);
    ACTIVE.store(true, Ordering::Relaxed);
    super::host::actions_changed();
}

pub fn traced() -> bool {
    PTRACED.load(Ordering::Relaxed) && active()
}

/// Whether the tracer asked for syscall stops (PTRACE_SYSCALL).
#[inline]
pub fn syscall_stops() -> bool {
    SYSCALL_STOPS.load(Ordering::Relaxed)
}

/// The debugger went away (or detached): run on as if never stopped.
fn forget_debugger() {
    if PTRACED.load(Ordering::Relaxed) && PTRACE_OPTIONS.load(Ordering::Relaxed) & PTRACE_O_EXITKILL != 0 {
        // PTRACE_O_EXITKILL: the tracer is gone (a tracer that detached cleared the
        // options first, as Linux's detach does).
        let sig = abi_shared::linux::general::SIGKILL as i32;
        let pid = crate::task::pid();
        crate::hypercall::call_ret(&Request::Proc(abi_shared::hypercall::ProcRequest::Kill { pid, sig }));
    }
    ACTIVE.store(false, Ordering::Relaxed);
    SEIZED.store(false, Ordering::Relaxed);
    INTERRUPT.store(false, Ordering::Relaxed);
    GROUP_STOP.store(0, Ordering::Relaxed);
    PTRACED.store(false, Ordering::Relaxed);
    SYSCALL_STOPS.store(false, Ordering::Relaxed);
    PTRACE_OPTIONS.store(0, Ordering::Relaxed);
    forget_breakpoints();
}

/// ptrace's syscall-enter-stop of syscall `nr`: the tracer sees orig_rax = nr and
/// rax = -ENOSYS, as on Linux. A signal it resumes with is not delivered (Linux does not
/// promise to either). Returns the number to run, as the tracer left orig_rax: another
/// call, or u64::MAX (-1) to skip it, the result then being the rax it left (-ENOSYS
/// unless it set one).
pub fn syscall_entry_stop(frame: &mut TrapFrame, nr: u64) -> u64 {
    let mut regs = regs_of(frame);
    regs.orig_rax = nr;
    regs.gprs[0] = -i64::from(abi_shared::linux::errno::ENOSYS) as u64;
    frame.rax = regs.gprs[0];
    let orig = &ORIG_RAX[crate::percpu::cpu_index() as usize % MAX_VCPUS as usize];
    orig.store(nr, Ordering::Relaxed);
    let _ = stop_with(frame, DebugEvent::SyscallEntry, regs);
    let nr = orig.swap(u64::MAX, Ordering::Relaxed);
    if nr != u64::MAX {
        frame.rax = nr;
    }
    nr
}

/// ptrace's syscall-exit-stop: orig_rax = nr, rax the result (already in the frame).
pub fn syscall_exit_stop(frame: &mut TrapFrame, nr: u64) {
    let mut regs = regs_of(frame);
    regs.orig_rax = nr;
    let _ = stop_with(frame, DebugEvent::SyscallExit, regs);
    if stepping().load(Ordering::Relaxed) {
        STEP_FROM_EXIT_STOP[crate::percpu::cpu_index() as usize % MAX_VCPUS as usize].store(true, Ordering::Relaxed);
    }
}

/// A traced thread is about to exit with `status` (exit, exit_group): the tracer's
/// PTRACE_EVENT_EXIT stop, registers as at the syscall's entry.
pub fn exit_stop(frame: &mut TrapFrame, nr: u64, status: i32) {
    if !traced() || PTRACE_OPTIONS.load(Ordering::Relaxed) & PTRACE_O_TRACEEXIT == 0 {
        return;
    }
    let mut regs = regs_of(frame);
    regs.orig_rax = nr;
    let _ = stop_with(frame, DebugEvent::Exit(status), regs);
}

/// Whether a fork (`vfork`: a vfork) of this process is followed by its tracer
/// (PTRACE_O_TRACEFORK / TRACEVFORK).
pub fn follows_fork(vfork: bool) -> bool {
    let bit = if vfork { PTRACE_O_TRACEVFORK } else { PTRACE_O_TRACEFORK };
    traced() && PTRACE_OPTIONS.load(Ordering::Relaxed) & bit != 0
}

/// The parent's PTRACE_EVENT_FORK/VFORK stop, once `child` exists.
pub fn fork_event(frame: &mut TrapFrame, child: i32, vfork: bool) {
    if follows_fork(vfork) {
        let _ = stop(frame, DebugEvent::Fork { child, vfork });
    }
}

/// A vfork parent's wait for `child` is over: PTRACE_EVENT_VFORK_DONE with
/// PTRACE_O_TRACEVFORKDONE.
pub fn vfork_done_event(frame: &mut TrapFrame, child: i32) {
    if traced() && PTRACE_OPTIONS.load(Ordering::Relaxed) & PTRACE_O_TRACEVFORKDONE != 0 {
        let sig = stop(frame, DebugEvent::VforkDone { child });
        queue_resumed_signal(sig);
    }
}

/// Another process asks to trace this one (PTRACE_ATTACH, or PTRACE_SEIZE when `seize`);
/// its monitor sent the request to ours, which checks that `tracer` may trace us under the
/// host's rules and connects it. Then an attach stops us with a SIGSTOP from the tracer,
/// as Linux's does; a seize does not stop us.
pub fn attach_requested(tracer: i32, seize: bool) {
    use abi_shared::hypercall::{ProcRequest, PtraceOp};
    if active() && !traced() {
        // Under `--gdb`: one debugger at a time (the asker gives up: EPERM).
        return;
    }
    let op = PtraceOp::Attached { tracer, seize };
    let r = crate::hypercall::call_ret(&Request::Proc(ProcRequest::Ptrace { pid: 0, op }));
    if r < 0 {
        return;
    }
    PTRACE_OPTIONS.store(r as u64 & 0xffff_ffff, Ordering::Relaxed);
    SEIZED.store(seize, Ordering::Relaxed);
    SYSCALL_STOPS.store(false, Ordering::Relaxed);
    TRACER.store(tracer, Ordering::Relaxed);
    become_traced();
    if seize && r & abi_shared::debug::ATTACHED_WHILE_STOPPED != 0 {
        // Seized while stopped: the stop goes on as a PTRACE_EVENT_STOP with SIGSTOP
        // (Linux's seize re-traps a stopped task so), the group-stop until a SIGCONT.
        GROUP_STOP.store(abi_shared::linux::general::SIGSTOP as i32, Ordering::Relaxed);
        INTERRUPT.store(true, Ordering::Relaxed);
    }
    if !seize {
        let me = crate::task::current();
        let sig = abi_shared::linux::general::SIGSTOP as i32;
        super::raise_thread(me, super::SigInfo::sent_by(sig, super::SI_USER, tracer, crate::task::uid()));
    }
}

/// `sender`'s PTRACE_INTERRUPT (of a seized tracee): stop at the next return to user
/// mode, if `sender` is our tracer: a stray ring is not taken. (A forger is not stopped:
/// a queued signal's sender pid is the sender's word, but the forger must be allowed to
/// signal us.)
pub fn interrupt_requested(sender: i32) {
    if traced() && SEIZED.load(Ordering::Relaxed) && sender == TRACER.load(Ordering::Relaxed) {
        INTERRUPT.store(true, Ordering::Relaxed);
    }
}

/// A SIGCONT was sent to this process (Linux's prepare_signal): a group-stop is over, and
/// a seized tracee makes a PTRACE_EVENT_STOP for it (the end of a PTRACE_LISTEN).
pub fn continued() {
    GROUP_STOP.store(0, Ordering::Relaxed);
    if seized() {
        INTERRUPT.store(true, Ordering::Relaxed);
    }
}

/// Whether a PTRACE_EVENT_STOP waits (a wait for a signal ends for it).
pub fn interrupt_pending() -> bool {
    INTERRUPT.load(Ordering::Relaxed)
}

/// Before returning to user mode: the PTRACE_EVENT_STOP that waits (`interrupted`: the
/// syscall a signal cut short, shown as at a signal stop). Returns whether it stopped.
pub fn interrupt_stop(frame: &mut TrapFrame, interrupted: &mut Option<u64>) -> bool {
    if !INTERRUPT.swap(false, Ordering::Relaxed) || !traced() {
        return false;
    }
    // A signal the tracer resumes with here is not delivered: Linux drops it at an event
    // stop (do_jobctl_trap ignores ptrace_stop's answer).
    let _ = stop_showing_restart(frame, DebugEvent::Interrupt { signal: event_stop_signal() }, interrupted);
    true
}

/// The signal of a PTRACE_EVENT_STOP: the group-stop's, else SIGTRAP.
fn event_stop_signal() -> i32 {
    match GROUP_STOP.load(Ordering::Relaxed) {
        0 => SIGTRAP,
        s => s,
    }
}

/// PTRACE_LISTEN: wait, without running, for what ends a listen on Linux: a SIGCONT (the
/// monitor catches it for a traced process) or the tracer's PTRACE_INTERRUPT. Other
/// signals stay pending, as in a group-stop; SIGKILL ends the process in the host.
fn listen() {
    super::wait::sleep_until(&|| {
        super::host::take();
        INTERRUPT.swap(false, Ordering::Relaxed)
    });
}

/// Whether this process was seized (PTRACE_SEIZE) rather than attached.
pub fn seized() -> bool {
    SEIZED.load(Ordering::Relaxed) && traced()
}

/// The options to keep across a fork whose child the tracer follows.
pub fn options() -> u64 {
    PTRACE_OPTIONS.load(Ordering::Relaxed)
}

/// In the child of a followed fork (after `forget_in_child`): traced by the parent's
/// tracer with the parent's options, starting with a SIGSTOP as Linux's auto-attached
/// children do, or with a PTRACE_EVENT_STOP when the parent was seized (`seized`). If the
/// monitor cannot arrange it, the child runs untraced.
pub fn become_forked_tracee(options: u64, seized: bool) {
    use abi_shared::hypercall::{ProcRequest, PtraceOp};
    let op = PtraceOp::ForkedTracee { options, seized };
    let r = crate::hypercall::call_ret(&Request::Proc(ProcRequest::Ptrace { pid: 0, op }));
    if r != 0 {
        return;
    }
    PTRACE_OPTIONS.store(options, Ordering::Relaxed);
    become_traced();
    if seized {
        // Linux's auto-attached child of a seized tracee starts with a PTRACE_EVENT_STOP.
        SEIZED.store(true, Ordering::Relaxed);
        INTERRUPT.store(true, Ordering::Relaxed);
        return;
    }
    let me = crate::task::current();
    let sig = abi_shared::linux::general::SIGSTOP as i32;
    super::raise_thread(me, super::SigInfo::sent_by(sig, super::SI_USER, crate::task::pid(), crate::task::uid()));
}

/// A traced process has exec'd: the exec stop, before the syscall-exit-stop. The tracer's
/// monitor turns it into Linux's SIGTRAP (a signal the thread gets when resumed) unless
/// the tracer asked for PTRACE_EVENT_EXEC.
pub fn exec_stop(frame: &mut TrapFrame, nr: u64) {
    if !traced() {
        return;
    }
    let mut regs = regs_of(frame);
    regs.orig_rax = nr;
    let sig = stop_with(frame, DebugEvent::Exec, regs);
    queue_resumed_signal(sig);
}

fn stepping() -> &'static AtomicBool {
    &STEPPING[crate::percpu::cpu_index() as usize % MAX_VCPUS as usize]
}

/// A forked child is not debugged (gdb follows the parent): its copy of the memory loses
/// the breakpoints, as gdb removes them from a child it detaches from. A vfork child's
/// writes go back to its parent, so there they stay (the child normally execs at once).
pub fn forget_in_child(vfork: bool) {
    if !active() {
        return;
    }
    ACTIVE.store(false, Ordering::Relaxed);
    PTRACED.store(false, Ordering::Relaxed);
    SEIZED.store(false, Ordering::Relaxed);
    INTERRUPT.store(false, Ordering::Relaxed);
    GROUP_STOP.store(0, Ordering::Relaxed);
    SYSCALL_STOPS.store(false, Ordering::Relaxed);
    PTRACE_OPTIONS.store(0, Ordering::Relaxed);
    if vfork {
        BREAKPOINTS.lock().clear();
    } else {
        forget_breakpoints();
    }
    for s in &STEPPING {
        s.store(false, Ordering::Relaxed);
    }
}

/// Put back every byte a breakpoint replaced.
fn forget_breakpoints() {
    let bps = core::mem::take(&mut *BREAKPOINTS.lock());
    for (addr, orig) in bps {
        let _ = uaccess::poke_user(addr, &[orig]);
    }
}

/// A #BP from user mode: if it is one of the debugger's breakpoints, stop there (rip set
/// back to it) and return true; the program's own `int3` is a SIGTRAP as usual.
pub fn breakpoint_trap(frame: &mut TrapFrame) -> bool {
    if !BREAKPOINTS.lock().contains_key(&frame.rip.wrapping_sub(1)) {
        return false;
    }
    frame.rip -= 1;
    if !active() {
        // gdb went away while the program ran: its breakpoints go, and the instruction
        // under this one runs as if none had been there.
        forget_breakpoints();
        return true;
    }
    let sig = stop(frame, DebugEvent::Breakpoint);
    queue_resumed_signal(sig);
    true
}

/// A #DB from user mode: if the debugger was single-stepping this thread, stop (the step
/// is done) and return true.
pub fn debug_trap(frame: &mut TrapFrame) -> bool {
    if !active() || !stepping().swap(false, Ordering::Relaxed) {
        return false;
    }
    frame.rflags &= !RFLAGS_TF;
    let sig = stop(frame, DebugEvent::Step);
    queue_resumed_signal(sig);
    true
}

/// Before returning to user mode after a syscall: a single step over `syscall` ends here
/// (the trap flag is off in the kernel and would only fire one instruction later).
/// Returns whether it stopped.
pub fn after_syscall(frame: &mut TrapFrame) -> bool {
    if STEP_FROM_EXIT_STOP[crate::percpu::cpu_index() as usize % MAX_VCPUS as usize].swap(false, Ordering::Relaxed) {
        // The trap flag is set for the next user instruction: its #DB ends the step.
        return false;
    }
    if !active() || frame.vector != SYSCALL_VECTOR || !stepping().swap(false, Ordering::Relaxed) {
        return false;
    }
    frame.rflags &= !RFLAGS_TF;
    frame.r11 &= !RFLAGS_TF;
    let sig = stop(frame, DebugEvent::Step);
    queue_resumed_signal(sig);
    true
}

/// A signal the debugger chose to deliver at a trap stop is the thread's own.
fn queue_resumed_signal(sig: i32) {
    if sig > 0 {
        let me = crate::task::current();
        super::raise_thread(me, super::SigInfo::sent_by(sig, super::SI_USER, crate::task::pid(), crate::task::uid()));
    }
}

/// Per vCPU (a thread keeps its vCPU): the siginfo of the signal the thread is stopped for
/// (PTRACE_GETSIGINFO, gdb's `$_siginfo`); several threads may be stopped at once.
static STOP_SIGINFO: [Mutex<Option<super::SigInfo>>; MAX_VCPUS as usize] =
    [const { Mutex::new(None) }; MAX_VCPUS as usize];

fn stop_siginfo() -> &'static Mutex<Option<super::SigInfo>> {
    &STOP_SIGINFO[crate::percpu::cpu_index() as usize % MAX_VCPUS as usize]
}

/// Signal `sig` is about to be delivered: the debugger sees it first and says which
/// signal to deliver instead (0: none).
/// The siginfo may be replaced by the tracer (PTRACE_SETSIGINFO).
///
/// A syscall the signal cut short (`interrupted`) shows as at any stop before delivery
/// (`stop_showing_restart`).
pub fn signal_stop(frame: &mut TrapFrame, sig: i32, info: &mut super::SigInfo, interrupted: &mut Option<u64>) -> i32 {
    if !active() {
        return sig;
    }
    *stop_siginfo().lock() = Some(*info);
    let chosen = stop_showing_restart(frame, DebugEvent::Signal(sig), interrupted);
    if let Some(new) = stop_siginfo().lock().take() {
        *info = new;
    }
    chosen
}

/// Linux's restart codes, as a stop before signal delivery shows them in rax.
const ERESTARTSYS: u64 = -512i64 as u64;
const ERESTARTNOINTR: u64 = -513i64 as u64;

/// Stop for `event` before signals are delivered, a syscall a signal cut short
/// (`interrupted`: restarted unless a handler without SA_RESTART runs, or always when it
/// carries `ALWAYS_RESTART`) showing as on Linux: orig_rax its number, rax -ERESTARTSYS
/// (-ERESTARTNOINTR for an always-restarted one). And as on Linux the registers decide
/// after the stop: a restart is due when orig_rax is a number and rax one of those codes.
/// So a tracer that sets orig_rax to -1 cancels it, and one that puts such registers back
/// at a later stop brings it back (gdb does both around a `call` in a program stopped in
/// a blocking read).
fn stop_showing_restart(frame: &mut TrapFrame, event: DebugEvent, interrupted: &mut Option<u64>) -> i32 {
    const EINTR: u64 = -(abi_shared::linux::errno::EINTR as i64) as u64;
    const ALWAYS: u64 = super::ALWAYS_RESTART;
    let shown = interrupted.map(|nr| {
        frame.rax = if nr & ALWAYS != 0 { ERESTARTNOINTR } else { ERESTARTSYS };
        nr & !ALWAYS
    });
    let mut regs = regs_of(frame);
    regs.orig_rax = shown.unwrap_or(regs.orig_rax);
    let orig = &ORIG_RAX[crate::percpu::cpu_index() as usize % MAX_VCPUS as usize];
    orig.store(regs.orig_rax, Ordering::Relaxed);
    let chosen = stop_with(frame, event, regs);
    let nr = orig.swap(u64::MAX, Ordering::Relaxed);
    *interrupted = None;
    if (frame.rax == ERESTARTSYS || frame.rax == ERESTARTNOINTR) && nr != u64::MAX {
        // Restarted when no handler runs; a handler (without SA_RESTART, and unless the
        // code says always) sees EINTR.
        let always = if frame.rax == ERESTARTNOINTR { ALWAYS } else { 0 };
        *interrupted = Some(nr | always);
        frame.rax = EINTR;
    }
    chosen
}

/// The calling thread entered syscall `nr` (u64::MAX: none, its registers are the user's
/// own, as after rt_sigreturn, which Linux marks so too).
pub fn note_syscall(nr: u64) {
    SYSCALL_NR[crate::percpu::cpu_index() as usize % MAX_VCPUS as usize].store(nr, Ordering::Relaxed);
}

/// orig_rax of a thread whose latest entry from user mode made `frame`, on `vcpu`: the
/// syscall's number after a syscall, -1 after an exception or interrupt, as on Linux.
pub fn orig_rax_of(frame: &TrapFrame, vcpu: u32) -> u64 {
    if frame.vector == SYSCALL_VECTOR {
        SYSCALL_NR[vcpu as usize % MAX_VCPUS as usize].load(Ordering::Relaxed)
    } else {
        u64::MAX
    }
}

/// Stop the running thread for the debugger; returns the signal it resumes with.
pub fn stop(frame: &mut TrapFrame, event: DebugEvent) -> i32 {
    let regs = regs_of(frame);
    stop_with(frame, event, regs)
}

/// Whether stops are `--gdb`'s, which are all-stop: the other threads stop too (a ptrace
/// tracer stops one thread at a time, as on Linux).
fn all_stop() -> bool {
    active() && !PTRACED.load(Ordering::Relaxed)
}

/// `stop` with the registers the debugger is shown. Under `--gdb` every other thread is
/// stopped first (fork_gate's `stop_others_for_debugger`), and runs again when gdb
/// resumes it, normally with this one.
fn stop_with(frame: &mut TrapFrame, event: DebugEvent, regs: DebugRegs) -> i32 {
    if !all_stop() {
        return stop_alone(frame, event, regs);
    }
    if !crate::task::fork_gate::stop_others_for_debugger(event == DebugEvent::Breakpoint) {
        // Another thread stopped first and this one was held with it: the `int3` runs
        // again (rip is on it) and stops then, if gdb still has the breakpoint.
        return 0;
    }
    let signal = stop_alone(frame, event, regs);
    let together =
        RESUMED_TOGETHER[crate::percpu::cpu_index() as usize % MAX_VCPUS as usize].swap(0, Ordering::Relaxed);
    crate::task::fork_gate::debugger_resumed(together);
    signal
}

/// Per vCPU: the `together` of the thread's last `Resume`.
static RESUMED_TOGETHER: [AtomicU32; MAX_VCPUS as usize] = [const { AtomicU32::new(0) }; MAX_VCPUS as usize];

/// The thread's stop for `event` and the debugger's commands, until it resumes it.
fn stop_alone(frame: &mut TrapFrame, event: DebugEvent, regs: DebugRegs) -> i32 {
    let tid = crate::task::tid();
    let mut answer =
        crate::hypercall::call(&Request::Control(ControlRequest::DebugStop { tid, event, regs: regs.as_bytes() }));
    loop {
        let Response::Debug(cmd) = answer else {
            // The monitor no longer debugs (gdb or the tracer went away): run on as if
            // never stopped.
            forget_debugger();
            return match event {
                DebugEvent::Signal(s) => s,
                _ => 0,
            };
        };
        let (ok, data) = match cmd {
            DebugCommand::Resume { step, signal, syscall, together } => {
                RESUMED_TOGETHER[crate::percpu::cpu_index() as usize % MAX_VCPUS as usize]
                    .store(together, Ordering::Relaxed);
                stepping().store(step, Ordering::Relaxed);
                SYSCALL_STOPS.store(syscall, Ordering::Relaxed);
                if step {
                    frame.rflags |= RFLAGS_TF;
                }
                return signal;
            }
            DebugCommand::WriteRegisters { regs } => (set_regs(frame, &regs), Vec::new()),
            DebugCommand::Listen => {
                // No reply: the tracer's next word comes with our next stop.
                listen();
                let mut again = regs_of(frame);
                again.orig_rax =
                    ORIG_RAX[crate::percpu::cpu_index() as usize % MAX_VCPUS as usize].load(Ordering::Relaxed);
                let event = DebugEvent::Interrupt { signal: event_stop_signal() };
                let regs = again.as_bytes();
                answer = crate::hypercall::call(&Request::Control(ControlRequest::DebugStop { tid, event, regs }));
                continue;
            }
            other => carry_out(other),
        };
        answer = crate::hypercall::call(&Request::Control(ControlRequest::DebugReply { tid, ok, data: &data }));
    }
}

/// A command that does not touch the stopped thread's frame: its result.
fn carry_out(cmd: DebugCommand) -> (bool, Vec<u8>) {
    match cmd {
        DebugCommand::ReadMemory { addr, len } => read_memory(addr, len.min(MAX_DEBUG_IO)),
        DebugCommand::WriteMemory { addr, data } => (write_memory(addr, &data), Vec::new()),
        DebugCommand::InsertBreakpoint { addr } => (insert_breakpoint(addr), Vec::new()),
        DebugCommand::RemoveBreakpoint { addr } => (remove_breakpoint(addr), Vec::new()),
        DebugCommand::ReadAuxv => (true, auxv()),
        DebugCommand::ReadSiginfo => match *stop_siginfo().lock() {
            Some(info) => (true, info.as_bytes().to_vec()),
            None => (false, Vec::new()),
        },
        DebugCommand::SetPtraceOptions { options } => {
            PTRACE_OPTIONS.store(options, Ordering::Relaxed);
            (true, Vec::new())
        }
        DebugCommand::ReadMaps => (true, maps()),
        DebugCommand::ReadProcFile { path, link, offset } => proc_file(&path, link, offset),
        DebugCommand::WriteSiginfo { info } => {
            // At a signal-delivery-stop the signal goes with it; at other stops Linux
            // keeps it for GETSIGINFO only, which is answered from the stop here.
            let mut kept = stop_siginfo().lock();
            if let (Some(k), true) = (kept.as_mut(), info.len() == core::mem::size_of::<super::SigInfo>()) {
                *k = abi_shared::linux::pod_read_unaligned(&info);
            }
            (info.len() == core::mem::size_of::<super::SigInfo>(), Vec::new())
        }
        // The callers handle these themselves.
        DebugCommand::Resume { .. } | DebugCommand::WriteRegisters { .. } | DebugCommand::Listen => (false, Vec::new()),
    }
}

/// All-stop: another thread stopped for `--gdb` and closed the fork gate; this one stops
/// quietly where it waits at the gate (in its kernel, holding no lock: after an entry from
/// user code, in a guest sleep, after a host call the monitor's kick cut short), as Linux's
/// gdb stops the other threads with a SIGSTOP it does not report. gdb lists it and reads
/// its registers (those of its latest entry from user mode; for a call cut short, shown as
/// at a signal stop: orig_rax its number, rax -ERESTARTSYS) and memory. `held` is called
/// once the monitor holds it. Its frame belongs to the code below the gate, so a register
/// write is refused; a single step is taken at the return to user mode (`arm_step`).
/// Returns the `together` of its resume (0: none).
fn halt_at_gate(held: &dyn Fn()) -> u32 {
    if !all_stop() {
        held();
        return 0;
    }
    let tid = crate::task::tid();
    let mut regs = regs_of(&crate::arch::entry::user_entry_frame());
    if let Some(nr) = crate::task::peek_interrupted_syscall() {
        let always = nr & super::ALWAYS_RESTART != 0;
        regs.orig_rax = nr & !super::ALWAYS_RESTART;
        regs.gprs[0] = if always { ERESTARTNOINTR } else { ERESTARTSYS };
    }
    let event = DebugEvent::Halted;
    let recorded =
        crate::hypercall::call(&Request::Control(ControlRequest::DebugStop { tid, event, regs: regs.as_bytes() }));
    if recorded != Response::Ret(1) {
        forget_debugger();
        held();
        return 0;
    }
    // The monitor lists this thread from now on: the stopping thread may report its stop.
    held();
    // An empty reply with no command outstanding asks for the first command.
    let mut answer = crate::hypercall::call(&Request::Control(ControlRequest::DebugReply { tid, ok: true, data: &[] }));
    loop {
        let Response::Debug(cmd) = answer else {
            forget_debugger();
            return 0;
        };
        let (ok, data) = match cmd {
            DebugCommand::Resume { step, signal, together, .. } => {
                stepping().store(step, Ordering::Relaxed);
                queue_resumed_signal(signal);
                return together;
            }
            other => carry_out(other),
        };
        answer = crate::hypercall::call(&Request::Control(ControlRequest::DebugReply { tid, ok, data: &data }));
    }
}

/// Before returning to user mode: a thread the debugger resumed with a step from a quiet
/// stop (`halt_at_gate`, which could not set the trap flag) gets it here. After a syscall
/// the step ends at its return instead (`after_syscall`).
pub fn arm_step(frame: &mut TrapFrame) {
    if stepping().load(Ordering::Relaxed) && frame.vector != SYSCALL_VECTOR {
        frame.rflags |= RFLAGS_TF;
    }
}

/// The bytes of `[addr, addr + len)` up to the first that cannot be read.
fn read_memory(addr: u64, len: u32) -> (bool, Vec<u8>) {
    let mut out = alloc::vec![0u8; len as usize];
    let mut done = 0usize;
    while done < out.len() {
        let va = addr.wrapping_add(done as u64);
        let n = ((PAGE_SIZE - (va & (PAGE_SIZE - 1))) as usize).min(out.len() - done);
        if uaccess::copy_from_user(va, &mut out[done..done + n]).is_err() {
            break;
        }
        done += n;
    }
    out.truncate(done);
    // The debugger's breakpoints are not part of the program: show what they replaced
    // (gdb expects a stub to hide them, as gdbserver does).
    let end = addr.saturating_add(done as u64);
    for (&bp, &orig) in BREAKPOINTS.lock().range(addr..end) {
        out[(bp - addr) as usize] = orig;
    }
    (done > 0 || len == 0, out)
}

/// The debugger's write; where it covers one of its breakpoints, the new byte is what the
/// breakpoint keeps for its removal and the `int3` stays.
fn write_memory(addr: u64, data: &[u8]) -> bool {
    let bps = BREAKPOINTS.lock();
    let end = addr.saturating_add(data.len() as u64);
    if bps.range(addr..end).next().is_none() {
        drop(bps);
        return uaccess::poke_user(addr, data).is_ok();
    }
    let mut data = data.to_vec();
    let covered: Vec<u64> = bps.range(addr..end).map(|(&bp, _)| bp).collect();
    drop(bps);
    let mut saved = Vec::new();
    for &bp in &covered {
        saved.push((bp, data[(bp - addr) as usize]));
        data[(bp - addr) as usize] = INT3;
    }
    if uaccess::poke_user(addr, &data).is_err() {
        return false;
    }
    let mut bps = BREAKPOINTS.lock();
    for (bp, byte) in saved {
        if let Some(orig) = bps.get_mut(&bp) {
            *orig = byte;
        }
    }
    true
}

fn insert_breakpoint(addr: u64) -> bool {
    let mut bps = BREAKPOINTS.lock();
    if bps.contains_key(&addr) {
        return true;
    }
    let mut orig = [0u8; 1];
    if uaccess::copy_from_user(addr, &mut orig).is_err() || uaccess::poke_user(addr, &[INT3]).is_err() {
        return false;
    }
    bps.insert(addr, orig[0]);
    true
}

fn remove_breakpoint(addr: u64) -> bool {
    match BREAKPOINTS.lock().remove(&addr) {
        Some(orig) => uaccess::poke_user(addr, &[orig]).is_ok(),
        None => false,
    }
}

/// The thread's user registers: its trap frame, FS/GS bases and FPU/SSE state.
pub fn regs_of(frame: &TrapFrame) -> DebugRegs {
    let f = frame;
    let mut fx = FxArea([0; 512]);
    // SAFETY: fxsave64 writes 512 bytes to a 64-byte aligned buffer; the kernel never uses
    // the FPU, so these are the user's registers.
    unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) fx.0.as_mut_ptr(), options(nostack)) };
    let stepping = stepping().load(Ordering::Relaxed);
    DebugRegs {
        gprs: [
            f.rax, f.rbx, f.rcx, f.rdx, f.rsi, f.rdi, f.rbp, f.rsp, f.r8, f.r9, f.r10, f.r11, f.r12, f.r13, f.r14,
            f.r15,
        ],
        rip: f.rip,
        rflags: if stepping { f.rflags & !RFLAGS_TF } else { f.rflags },
        cs: selectors::USER_CS as u64,
        ss: selectors::USER_DS as u64,
        fs_base: platform::fs_base(),
        gs_base: platform::gs_base(),
        orig_rax: orig_rax_of(frame, crate::percpu::cpu_index()),
        fxsave: fx.0,
    }
}

#[repr(C, align(64))]
struct FxArea([u8; 512]);

fn canonical_user(v: u64) -> bool {
    v < user::TASK_SIZE
}

/// Apply the debugger's registers; false (nothing changed) if they do not decode or name
/// a base outside user space.
fn set_regs(frame: &mut TrapFrame, bytes: &[u8]) -> bool {
    if bytes.len() != core::mem::size_of::<DebugRegs>() {
        return false;
    }
    let r: DebugRegs = abi_shared::linux::pod_read_unaligned(bytes);
    if !canonical_user(r.fs_base) || !canonical_user(r.gs_base) {
        return false;
    }
    // At a syscall-enter-stop orig_rax is the number the call runs with (elsewhere it is
    // only shown).
    let orig = &ORIG_RAX[crate::percpu::cpu_index() as usize % MAX_VCPUS as usize];
    orig.store(r.orig_rax, Ordering::Relaxed);
    let g = r.gprs;
    (frame.rax, frame.rbx, frame.rcx, frame.rdx, frame.rsi, frame.rdi, frame.rbp, frame.rsp) =
        (g[0], g[1], g[2], g[3], g[4], g[5], g[6], g[7]);
    (frame.r8, frame.r9, frame.r10, frame.r11, frame.r12, frame.r13, frame.r14, frame.r15) =
        (g[8], g[9], g[10], g[11], g[12], g[13], g[14], g[15]);
    // A non-canonical rip is the return path's to turn into a #GP, as after sigreturn.
    frame.rip = r.rip;
    frame.rflags = (frame.rflags & !USER_RFLAGS) | (r.rflags & USER_RFLAGS & !RFLAGS_TF);
    platform::set_fs_base(r.fs_base);
    platform::set_gs_base(r.gs_base);
    let mut fx = FxArea(r.fxsave);
    // Reserved MXCSR bits would make fxrstor fault in the kernel.
    let mxcsr = u32::from_le_bytes([fx.0[24], fx.0[25], fx.0[26], fx.0[27]]) & 0xffbf;
    fx.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
    // SAFETY: a 64-byte aligned 512-byte area whose MXCSR holds only valid bits.
    unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) fx.0.as_ptr(), options(nostack)) };
    true
}
