//! Signals: dispositions, masks, pending signals and delivery with Linux's rt_sigframe.
//! Synchronous signals come from exceptions; asynchronous ones (from other processes)
//! arrive later through the monitor.

pub mod frame;
pub mod syscalls;

use spin::Mutex;

use abi_shared::hypercall::ExitHow;
use abi_shared::linux::signal::*;

use crate::arch::entry::{ReturnPath, TrapFrame};
use crate::arch::trap;

pub const NSIG: usize = 65;
pub const SIG_DFL: u64 = 0;
pub const SIG_IGN: u64 = 1;

pub const SA_SIGINFO: u64 = 0x4;
pub const SA_ONSTACK: u64 = 0x0800_0000;
pub const SA_RESTORER: u64 = 0x0400_0000;
pub const SA_NODEFER: u64 = 0x4000_0000;
pub const SA_RESETHAND: u64 = 0x8000_0000;

pub const SI_USER: i32 = 0;
pub const SI_KERNEL: i32 = 0x80;
pub const SI_TKILL: i32 = -6;

/// `siginfo_t` (128 bytes). Only the fields our signals use are named.
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pub pad: i32,
    /// si_pid/si_uid for kill, si_addr for faults.
    pub fields: [u64; 14],
}
// SAFETY: repr(C), integers only, no implicit padding (4*i32 then u64s).
unsafe impl abi_shared::linux::Pod for SigInfo {}

impl Default for SigInfo {
    fn default() -> Self {
        SigInfo { signo: 0, errno: 0, code: 0, pad: 0, fields: [0; 14] }
    }
}

impl SigInfo {
    pub fn fault(signo: i32, code: i32, addr: u64) -> SigInfo {
        let mut i = SigInfo { signo, code, ..SigInfo::default() };
        i.fields[0] = addr;
        i
    }

    pub fn sent_by(signo: i32, code: i32, pid: i32, uid: u32) -> SigInfo {
        let mut i = SigInfo { signo, code, ..SigInfo::default() };
        i.fields[0] = (pid as u32 as u64) | ((uid as u64) << 32);
        i
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Action {
    pub handler: u64,
    pub flags: u64,
    pub restorer: u64,
    pub mask: u64,
}

#[derive(Clone, Copy, Debug, Default)]
pub struct AltStack {
    pub sp: u64,
    pub flags: i32,
    pub size: u64,
}

pub struct SignalState {
    pub actions: [Action; NSIG],
    pub blocked: u64,
    pub pending: u64,
    pub info: [SigInfo; NSIG],
    pub altstack: AltStack,
}

pub static STATE: Mutex<SignalState> = Mutex::new(SignalState {
    actions: [Action { handler: 0, flags: 0, restorer: 0, mask: 0 }; NSIG],
    blocked: 0,
    pending: 0,
    info: [SigInfo { signo: 0, errno: 0, code: 0, pad: 0, fields: [0; 14] }; NSIG],
    altstack: AltStack { sp: 0, flags: 2, size: 0 },
});

pub const fn bit(sig: i32) -> u64 {
    1u64 << (sig - 1)
}

/// Signals that cannot be caught, blocked or ignored.
pub const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);

#[derive(Clone, Copy, PartialEq, Eq)]
enum Default_ {
    Ignore,
    Terminate,
    Core,
    Stop,
}

fn default_action(sig: i32) -> Default_ {
    match sig {
        SIGCHLD | SIGURG | SIGWINCH | SIGCONT => Default_::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => Default_::Stop,
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ | SIGSYS => Default_::Core,
        _ => Default_::Terminate,
    }
}

/// Queue `info.signo` for this process (one pending instance per signal number).
pub fn raise(info: SigInfo) {
    let sig = info.signo;
    if !(1..NSIG as i32).contains(&sig) {
        return;
    }
    let mut st = STATE.lock();
    let act = st.actions[sig as usize];
    let ignored = act.handler == SIG_IGN || (act.handler == SIG_DFL && default_action(sig) == Default_::Ignore);
    if ignored && st.blocked & bit(sig) == 0 {
        return;
    }
    st.pending |= bit(sig);
    st.info[sig as usize] = info;
}

/// A fault the program cannot ignore: if the signal is blocked or ignored, Linux resets it
/// to the default action (so the process dies rather than looping on the fault).
pub fn force_synchronous(_frame: &mut TrapFrame, info: SigInfo) {
    let sig = info.signo;
    {
        let mut st = STATE.lock();
        let blocked = st.blocked & bit(sig) != 0;
        if blocked || st.actions[sig as usize].handler == SIG_IGN {
            st.actions[sig as usize].handler = SIG_DFL;
            st.blocked &= !bit(sig);
        }
        st.pending |= bit(sig);
        st.info[sig as usize] = info;
    }
}

/// Turn a non-page-fault exception from user mode into its signal.
pub fn synchronous_exception(frame: &mut TrapFrame) {
    if (frame.vector == trap::VEC_GP || frame.vector == trap::VEC_INVALID_OP) && emulate_cpuid(frame) {
        return;
    }
    let (sig, code, addr) = match frame.vector {
        trap::VEC_DIVIDE => (SIGFPE, 1, frame.rip),       // FPE_INTDIV
        trap::VEC_DEBUG => (SIGTRAP, 2, frame.rip),       // TRAP_TRACE
        trap::VEC_BREAKPOINT => (SIGTRAP, SI_KERNEL, 0),
        trap::VEC_OVERFLOW | trap::VEC_BOUND => (SIGSEGV, SI_KERNEL, 0),
        trap::VEC_INVALID_OP => (SIGILL, 2, frame.rip),   // ILL_ILLOPN
        trap::VEC_DEVICE_NA | trap::VEC_X87 | trap::VEC_SIMD => (SIGFPE, 0, frame.rip),
        trap::VEC_ALIGNMENT => (SIGBUS, 1, frame.rip),    // BUS_ADRALN
        _ => (SIGSEGV, SI_KERNEL, 0),                     // #GP and the rest
    };
    crate::kdebug!("exception {} (error {:#x}) at rip {:#x}: signal {}", frame.vector, frame.error, frame.rip, sig);
    force_synchronous(frame, SigInfo::fault(sig, code, addr));
}

/// Under pvm a user `cpuid` may trap; answer it with the paravirtual CPUID and step over.
fn emulate_cpuid(frame: &mut TrapFrame) -> bool {
    let mut insn = [0u8; 2];
    if crate::mm::uaccess::copy_from_user(frame.rip, &mut insn).is_err() || insn != [0x0f, 0xa2] {
        return false;
    }
    let r = crate::arch::platform::cpuid(frame.rax as u32, frame.rcx as u32);
    frame.rax = r[0] as u64;
    frame.rbx = r[1] as u64;
    frame.rcx = r[2] as u64;
    frame.rdx = r[3] as u64;
    frame.rip += 2;
    true
}

/// Deliver the lowest unblocked pending signal, if any: run its handler (rewriting `frame`
/// to enter it), or apply the default action. Called on every return to user mode.
pub fn deliver_pending(frame: &mut TrapFrame) -> ReturnPath {
    loop {
        let mut st = STATE.lock();
        let ready = st.pending & !st.blocked;
        if ready == 0 {
            return ReturnPath::Fast;
        }
        let sig = ready.trailing_zeros() as i32 + 1;
        st.pending &= !bit(sig);
        let info = st.info[sig as usize];
        let act = st.actions[sig as usize];
        if act.handler == SIG_IGN {
            continue;
        }
        if act.handler == SIG_DFL {
            match default_action(sig) {
                Default_::Ignore => continue,
                // Stopping needs job control in the host (not yet): carry on as if continued.
                Default_::Stop => continue,
                Default_::Terminate | Default_::Core => {
                    drop(st);
                    crate::syscall::process::terminate(ExitHow::Signal(sig));
                }
            }
        }
        drop(st);
        if frame::setup(frame, sig, &info, &act).is_err() {
            // The frame could not be written (bad stack): Linux kills with SIGSEGV.
            crate::syscall::process::terminate(ExitHow::Signal(SIGSEGV));
        }
        return ReturnPath::Full;
    }
}
