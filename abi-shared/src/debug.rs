//! `--gdb`: what a stopped program's thread and the monitor's gdb stub say to each other.
//!
//! The guest kernel stops a thread for the debugger the way Linux stops a ptraced one (at
//! the program's first instruction, a breakpoint or single-step trap, a signal about to be
//! delivered) and sends `ControlRequest::DebugStop` with the thread's user registers. The monitor
//! answers with the debugger's first command (`Response::Debug`); the guest performs it
//! (memory goes through its own user-access routines, which fault pages in and refuse
//! what is not mapped) and sends the result with `ControlRequest::DebugReply`, whose answer is
//! the next command, until a `Resume`.

use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// The user registers of a stopped thread, as the guest kernel saved them on entry (the
/// general registers from its trap frame, the FS/GS bases, the FPU/SSE state as `fxsave`
/// writes it). General registers in gdb's amd64 order: rax, rbx, rcx, rdx, rsi, rdi, rbp,
/// rsp, r8..r15. Also the layout of a core file's NT_PRSTATUS/NT_FPREGSET source.
#[repr(C)]
#[derive(Clone, Copy, Debug, bytemuck::Pod, bytemuck::Zeroable)]
pub struct DebugRegs {
    pub gprs: [u64; 16],
    pub rip: u64,
    pub rflags: u64,
    pub cs: u64,
    pub ss: u64,
    pub fs_base: u64,
    pub gs_base: u64,
    /// The syscall number when stopped in a syscall, else u64::MAX (Linux's orig_rax -1).
    pub orig_rax: u64,
    pub fxsave: [u8; 512],
}

impl Default for DebugRegs {
    fn default() -> Self {
        bytemuck::Zeroable::zeroed()
    }
}

/// Why a thread stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DebugEvent {
    /// Before the program's first instruction.
    Start,
    /// At one of the debugger's breakpoints (rip already points at it).
    Breakpoint,
    /// A single step the debugger asked for is done.
    Step,
    /// A signal (Linux number) is about to be delivered: the debugger decides whether it
    /// is (a trap of the program's own `int3` comes as SIGTRAP).
    Signal(i32),
    /// ptrace's syscall-enter-stop (PTRACE_SYSCALL): the registers show the number in
    /// orig_rax and -ENOSYS in rax, as Linux shows them.
    SyscallEntry,
    /// ptrace's syscall-exit-stop: orig_rax is the number, rax the result.
    SyscallExit,
    /// A traced process has exec'd (before the new program's first instruction): Linux's
    /// SIGTRAP after exec, or the PTRACE_EVENT_EXEC stop with PTRACE_O_TRACEEXEC.
    Exec,
    /// A traced thread is exiting with this status (exit or exit_group): the
    /// PTRACE_EVENT_EXIT stop with PTRACE_O_TRACEEXIT (the tracer's monitor resumes it at
    /// once otherwise).
    Exit(i32),
    /// A traced process forked `child` (vfork: `vfork`) and the tracer asked for
    /// PTRACE_O_TRACEFORK/TRACEVFORK: the PTRACE_EVENT_FORK/VFORK stop of the parent. The
    /// child starts traced by the same tracer with the parent's options, stopped by a
    /// SIGSTOP, or by a PTRACE_EVENT_STOP (`Interrupt` with SIGTRAP) when the parent was
    /// seized (and then seized too).
    Fork { child: i32, vfork: bool },
    /// A seized tracee's PTRACE_EVENT_STOP, with `signal`: SIGTRAP after PTRACE_INTERRUPT,
    /// as a seized tracee's new child, or when a SIGCONT ended a PTRACE_LISTEN; the stop
    /// signal (SIGSTOP) while the process is in a group-stop (seized while stopped, or
    /// interrupted before a SIGCONT came).
    Interrupt { signal: i32 },
    /// A vfork parent's wait for `child` ended (PTRACE_O_TRACEVFORKDONE):
    /// PTRACE_EVENT_VFORK_DONE.
    VforkDone { child: i32 },
    /// `--gdb`'s all-stop: another thread stopped for the debugger, and this one stopped
    /// with it, for no reason of its own (not reported to gdb, only listed). The monitor
    /// answers `Response::Ret(1)` once it holds the thread; the thread then asks for its
    /// first command with an empty `DebugReply`.
    Halted,
}

/// What the debugger wants of a stopped thread.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DebugCommand {
    /// Read `len` bytes of user memory (at most `MAX_DEBUG_IO`): the reply's data holds
    /// the bytes read up to the first that cannot be.
    ReadMemory {
        addr: u64,
        len: u32,
    },
    /// Write user memory, read-only private pages included (as ptrace's POKEDATA does).
    WriteMemory {
        addr: u64,
        data: Vec<u8>,
    },
    /// Replace the thread's registers (`DebugRegs` bytes); segment selectors and the
    /// RFLAGS bits user code may not change are kept.
    WriteRegisters {
        regs: Vec<u8>,
    },
    /// Put an `int3` at `addr`, keeping the byte it replaces.
    InsertBreakpoint {
        addr: u64,
    },
    RemoveBreakpoint {
        addr: u64,
    },
    /// The program's auxiliary vector (as /proc/self/auxv).
    ReadAuxv,
    /// The program's mappings, as /proc/self/maps shows them.
    ReadMaps,
    /// ptrace's options (PTRACE_SETOPTIONS' bits), which decide which event stops the
    /// tracee makes (only PTRACE_O_TRACEEXIT's matters to it so far).
    SetPtraceOptions {
        options: u64,
    },
    /// The siginfo (128 bytes, Linux's layout) of the signal the thread stopped for
    /// (PTRACE_GETSIGINFO); fails at other stops.
    ReadSiginfo,
    /// Run again: single-step if `step`; deliver `signal` (Linux number, 0 for none) as
    /// the program's own, as a ptrace tracer's PTRACE_CONT does; with `syscall`, stop at
    /// the next syscall entry or exit (PTRACE_SYSCALL). `together` (`--gdb`'s all-stop;
    /// 0 for a tracer's resume) counts the threads the session has resumed so far, this
    /// one and those resumed with it included: the thread waits until that many have left
    /// their stops, so that none of them still looks stopped to a thread that stops next.
    Resume {
        step: bool,
        signal: i32,
        syscall: bool,
        together: u32,
    },
    /// PTRACE_SETSIGINFO: the siginfo (128 bytes) the signal of this signal-delivery-stop
    /// is delivered with, if the tracer lets it through.
    WriteSiginfo {
        info: Vec<u8>,
    },
    /// PTRACE_LISTEN at a PTRACE_EVENT_STOP (no reply): stay stopped, not for the tracer
    /// but as in a group-stop, until a SIGCONT comes or the tracer's PTRACE_INTERRUPT;
    /// then stop again with a new `Interrupt` event.
    Listen,
    /// The process's own /proc file at `path` (an absolute path under /proc/self), as the
    /// program would read it, or with `link` the text of the link there (gdb's `info proc`
    /// reads /proc/PID/maps, cmdline, exe, cwd): its bytes from `offset`, at most
    /// `MAX_DEBUG_IO` of them (fewer: the end). A failure's data is the errno (i32, little
    /// endian).
    ReadProcFile {
        path: Vec<u8>,
        link: bool,
        offset: u64,
    },
}

/// The most bytes one memory command moves (a request area holds it with room to spare).
pub const MAX_DEBUG_IO: u32 = 4096;

/// What one linuxrun monitor says to another about a process the second one traces with
/// ptrace (docs/debugging.md, "ptrace inside the guest"): one message per SOCK_SEQPACKET
/// packet, postcard-encoded. The tracee's monitor sends `Stop` and `Reply`; the tracer's
/// sends `Seen` and `Command`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PtraceMessage {
    /// The tracee stopped (`DebugRegs` bytes).
    Stop { event: DebugEvent, regs: Vec<u8> },
    /// The tracer has taken the stop: the tracee stops ringing its doorbell.
    Seen,
    /// A command for the stopped tracee (no reply to `Resume`).
    Command(DebugCommand),
    /// The answer to a command other than `Resume`.
    Reply { ok: bool, data: Vec<u8> },
    /// The tracee ends with this wait status (sent when the tracer is not its parent,
    /// whose host wait would not see it).
    Exited { status: i32 },
    /// PTRACE_ATTACH/SEIZE: the tracee's monitor asks the would-be tracer to read the
    /// 8 bytes at `addr` of the tracee's host process (with the host's process_vm_readv,
    /// which only a process the host lets ptrace it can do).
    Challenge { addr: u64 },
    /// The bytes read (the tracer's answer to `Challenge`), the options of a
    /// PTRACE_SEIZE (0 for an attach), and whether the tracee was stopped (by a SIGSTOP
    /// at its default action) when it was seized.
    Proof { nonce: u64, options: u64, stopped: bool },
    /// The tracee accepted the proof: it is traced from now on.
    Accepted,
    /// A child of a tracee whose tracer follows forks, to the tracer right after it
    /// connected: the options it inherited from its parent, and whether it is seized (its
    /// parent was). Linux's auto-attached child keeps both, and a tracer that seized does
    /// not set the options again.
    Inherited { options: u64, seized: bool },
}

/// The most bytes one encoded `PtraceMessage` takes (a memory command and its framing).
pub const MAX_PTRACE_MESSAGE: usize = MAX_DEBUG_IO as usize + 1024;

/// The `sigqueue` value of a ptrace doorbell: the monitor's thread-kick signal sent with
/// this value by another process means "a tracee of yours has news", not a signal for the
/// program.
pub const PTRACE_DOORBELL: u64 = 0x6c72_7074_7261_6365; // "lrptrace"

/// The `sigqueue` value with which a would-be tracer asks a linuxrun process to be attached
/// (PTRACE_ATTACH), or seized (PTRACE_SEIZE), or a seized tracee to stop (PTRACE_INTERRUPT).
pub const PTRACE_ATTACH_BELL: u64 = 0x6c72_7074_6174_7461; // "lrptatta"
pub const PTRACE_SEIZE_BELL: u64 = 0x6c72_7074_7365_697a; // "lrptseiz"
pub const PTRACE_INTERRUPT_BELL: u64 = 0x6c72_7074_696e_7472; // "lrptintr"

/// The si_code with which the monitor leaves an attach request in SIGSTOP's host-signal
/// slot (the host never catches SIGSTOP, so the slot is otherwise unused): the slot's pid is
/// the would-be tracer's, its value 1 for a seize.
pub const ATTACH_SI_CODE: i32 = -0x4c52;
/// The si_code of a PTRACE_INTERRUPT left in SIGSTOP's slot.
pub const INTERRUPT_SI_CODE: i32 = -0x4c53;
/// The `sigqueue` value of the SIGCONT with which a would-be tracer's monitor wakes a
/// stopped process so that its monitor can answer (the program does not see it).
pub const ATTACH_CONT: u64 = 0x6c72_7074_636f_6e74; // "lrptcont"
/// In the answer to `PtraceOp::Attached` (the options, otherwise): the tracee was stopped
/// when seized, and starts traced in a PTRACE_EVENT_STOP with SIGSTOP, as Linux's does.
pub const ATTACHED_WHILE_STOPPED: i64 = 1 << 40;
