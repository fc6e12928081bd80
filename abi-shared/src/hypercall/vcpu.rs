//! Requests only the host thread running the calling vCPU can serve; they always come by exit.

use serde::{Deserialize, Serialize};

/// `Request::Vcpu`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum VcpuRequest {
    /// fork: the monitor forks its whole process (always sent through the exit doorbell:
    /// only the vCPU thread can carry the vCPU into the child). Answered with
    /// `Response::Forked` on both sides, or `Ret(-errno)`. `vfork`: the parent is answered
    /// only once the child has exec'd or ended, as vfork suspends it on Linux.
    Fork { vfork: bool },
    /// A new thread of the program (clone with CLONE_THREAD): start a host thread that
    /// creates vCPU `vcpu` and runs it from `entry` (the guest kernel's secondary entry)
    /// with rsp = the per-CPU window's kernel stack and rdi = `arg`, on page tables `cr3`,
    /// with the GDT, TSS and VIF page of the vCPU block at `block`. `Ret(tid)`: the host
    /// thread's id, which is the Linux thread's; `-EAGAIN` when the host cannot.
    /// Sent by exit (the vCPU thread builds vCPUs).
    StartThread { vcpu: u32, block: u64, cr3: u64, entry: u64, arg: u64 },
    /// The calling thread ends (exit(2) of a thread that is not the last): the host releases
    /// its vCPU and, once it will never run again, stores 0 in the block's
    /// `vcpu_block::VCPU_IN_USE` word. No answer: the vCPU never runs again. By exit.
    ThreadExit,
}
