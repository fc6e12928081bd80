//! Other processes: waiting, signals to them, and the vfork hand-over.

use super::SegList;
use serde::{Deserialize, Serialize};

/// `Request::Proc`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProcRequest<'a> {
    /// A vfork child, before its exec or exit: memory it wrote that its parent shares on
    /// Linux. The user range at `va` is in the guest-physical segments `buf`; the monitor
    /// streams it to the waiting parent's monitor. `Ret(0)`, also when there is no parent
    /// waiting (a copy of nothing).
    VforkCopyBack { va: u64, buf: SegList<'a> },
    /// The vfork parent, once answered: the next records of what its child wrote, each a
    /// little-endian u64 address, u64 length (at most 4 KiB) and that many bytes, as many
    /// whole records as fit in `buf`. `Ret` is the bytes written; 0 when none are left.
    VforkTakeCopyBack { buf: SegList<'a> },
    /// wait4: answered with `Response::Waited`.
    Wait4 { pid: i32, options: i32 },
    /// waitid: answered with `Response::WaitedId`.
    Waitid { idtype: i32, id: i32, options: i32 },
    /// kill of another process (or process group): its Linux signal number.
    Kill { pid: i32, sig: i32 },
    /// rt_sigqueueinfo to another process: Linux signal, si_code and si_value (the host
    /// fills in our pid and uid, as Linux's sigqueue does).
    Sigqueue { pid: i32, sig: i32, code: i32, value: u64 },
    /// The default action of stop signal `sig` (Linux number), taken in the guest: stop the
    /// host process with that very signal, so that its parent's wait reports it; answered
    /// once a SIGCONT continued it.
    StopSelf { sig: i32 },
    /// Whether this process's group is orphaned (no member has a parent in another group
    /// of the session), where Linux discards a SIGTSTP, SIGTTIN or SIGTTOU that would stop
    /// it: `Ret(1)` if so, `Ret(0)` otherwise.
    GroupOrphaned,
    /// A vfork parent, after its `Fork` answered: wait until the child has exec'd or
    /// ended, and keep what it wrote for `VforkTakeCopyBack`.
    /// `Ret(0)`, or `Ret(-EINTR)` when a host signal cut the wait short (the guest waits
    /// again: signals do not end a vfork wait).
    VforkWait,
    /// ptrace: `op` on tracee `pid` (the caller is its tracer), or PTRACE_TRACEME.
    Ptrace { pid: i32, op: PtraceOp },
}

/// What a ptrace request asks of the monitor (see docs/debugging.md).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PtraceOp {
    /// PTRACE_TRACEME: the parent becomes the tracer. `Ret(0)`; `Ret(-EPERM)` when
    /// already traced.
    TraceMe,
    /// The stopped tracee's registers: `Response::Bytes` with its `DebugRegs` and, in
    /// `ret`, the stop's wait status (what waitpid reported); `-ESRCH` when it is not
    /// stopped or not ours.
    Regs,
    /// PTRACE_SETOPTIONS: `Ret(0)`.
    SetOptions { options: u64 },
    /// A command to the stopped tracee: `Response::Bytes` (ret 0, or -EIO when it failed),
    /// or `Ret(0)` for `Resume`.
    Command(crate::debug::DebugCommand),
    /// PTRACE_DETACH: resume with `signal` and end the tracing.
    Detach { signal: i32 },
    /// In a child forked by a tracee whose tracer asked for fork events: be traced by the
    /// parent's tracer, with the parent's `options`, seized if the parent was. `Ret(0)`,
    /// or an error (the child then runs untraced).
    ForkedTracee { options: u64, seized: bool },
    /// PTRACE_ATTACH (`seize` false) or PTRACE_SEIZE (with its options) of process `pid`:
    /// the tracer's monitor rings the tracee's and proves it may trace it (docs/debugging.md).
    /// `Ret(0)`, or -ESRCH / -EPERM as Linux answers.
    Attach { seize: bool, options: u64 },
    /// In the tracee, told by its monitor that `tracer` asks to attach: accept it if it
    /// proves it may trace us. `Ret(0)` when now traced by it.
    Attached { tracer: i32, seize: bool },
    /// PTRACE_INTERRUPT of a seized tracee: `Ret(0)`; -ESRCH when it is not ours.
    Interrupt,
    /// PTRACE_LISTEN at a seized tracee's event stop: `Ret(0)`; -EIO otherwise.
    Listen,
}
