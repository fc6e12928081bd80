//! Requests about the run itself: the handshake, start-up data, the end, logs, traces, kicks
//! and the debugger.

use super::{ExitHow, SegList};
use serde::{Deserialize, Serialize};

/// `Request::Control`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ControlRequest<'a> {
    /// First call: checks the protocol version and returns the clock and startup sizes.
    Hello { version: u32 },
    /// Write the postcard-encoded `Startup` into `buf`.
    GetStartup { buf: SegList<'a> },
    /// The program ended: `code` is the exit status, or the signal that killed it.
    Exit { how: ExitHow, stats: SegList<'a> },
    /// One `--strace` line (without newline): the thread id in decimal, a space, the text,
    /// with a tab where strace pads to its result column (the monitor adds the pid prefix
    /// and the padding).
    Trace { line: &'a [u8] },
    /// The guest kernel cannot go on; the monitor prints this and the vCPU state.
    Panic { message: &'a [u8] },
    /// Log line from the guest kernel (shown with `-v`).
    Log { level: u8, message: &'a [u8] },
    /// The host dispositions the program's signal state asks for (Linux signal masks, bit
    /// n-1 = signal n): `catch`, delivered to the guest through the host signal area;
    /// `ignore`, ignored by the host too (and so across a host exec); the rest take the host's
    /// default action, which kills, stops or continues the host process as Linux would.
    SignalDispositions { catch: u64, ignore: u64 },
    /// setrlimit/prlimit64 of RLIMIT_NOFILE: the program's new soft limit, which the host
    /// then enforces (its open, dup, pipe... fail with EMFILE there, as on Linux). `Ret(0)`.
    SetFdLimit { soft: u64 },
    /// Interrupt the vCPUs in `vcpus` that run guest code: each takes the
    /// kick interrupt (`SIGNAL_KICK_VECTOR`) before it runs more user code (TLB shootdowns,
    /// signals for a thread). A vCPU blocked in the host on its thread's behalf sees its
    /// host call end with EINTR. `Ret(0)`.
    KickVcpus { vcpus: crate::vcpus::VcpuSet },
    /// `--gdb`: thread `tid` stopped for the debugger (see `debug`), with its registers
    /// (`DebugRegs` bytes). Answered by `Response::Debug` with the debugger's first command.
    DebugStop { tid: i32, event: crate::debug::DebugEvent, regs: &'a [u8] },
    /// `--gdb`: the result of the last command (`ok`, and the bytes a read produced);
    /// answered by the next command.
    DebugReply { tid: i32, ok: bool, data: &'a [u8] },
    /// The core file name pattern (the host's core_pattern where it names a file, else
    /// `core`; `.%p` added where core_uses_pid asks): `Bytes { ret: 0, data }`.
    CorePattern,
}
