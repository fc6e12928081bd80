//! Signals of the aarch64 guest (one process, one thread): dispositions, the blocked mask,
//! pending signals, the alternate stack; the syscalls that use them; delivery on every
//! return to EL0 through Linux's arm64 frame (arch/aarch64/sigframe.rs); exceptions turned
//! into signals with their si_code and si_addr.
//!
//! The bring-up counterpart of the x86_64 kernel's `signal/` and `task/signals.rs`, written
//! apart because those depend on the x86_64 task and trap-frame types. The policy here
//! follows theirs (and Linux's kernel/signal.c); the frame layer is per architecture, so a
//! later port of `signal/` keeps sigframe.rs and drops this file.
//!
//! What a single-threaded program without fork needs: signals come from the program itself
//! (raise, abort, kill/tgkill/tkill/rt_sigqueueinfo to itself) and from its faults. Nothing
//! else can reach the guest yet (no interrupts: no timers, no signals from the host), so a
//! wait for a signal that is not pending sleeps for good, as it would on Linux with nobody
//! to send one.

use alloc::vec::Vec;

use abi_shared::hypercall::{ExitHow, ProcRequest, Request};
use abi_shared::layout::user;
use abi_shared::linux::signal::{SIGBUS, SIGFPE, SIGILL, SIGKILL, SIGRTMIN, SIGSEGV, SIGSTOP, SIGSYS, SIGTRAP};
use spin::Mutex;

use super::siginfo::SigInfo;
use super::{ids, terminate, Ctx, EFAULT, EINVAL};
use crate::arch::sigframe::{self, FrameInput, StackT};
use crate::arch::TrapFrame;
use crate::bringup::{hypercall, uspace};

const NSIG: i32 = 64;
const SIG_DFL: u64 = 0;
const SIG_IGN: u64 = 1;

const SA_NOCLDSTOP: u64 = 1;
const SA_NOCLDWAIT: u64 = 2;
const SA_SIGINFO: u64 = 4;
const SA_EXPOSE_TAGBITS: u64 = 0x800;
const SA_RESTORER: u64 = 0x0400_0000;
const SA_ONSTACK: u64 = 0x0800_0000;
const SA_RESTART: u64 = 0x1000_0000;
const SA_NODEFER: u64 = 0x4000_0000;
const SA_RESETHAND: u64 = 0x8000_0000;
/// The flags Linux keeps (UAPI_SA_FLAGS with arm64's SA_RESTORER); others read back clear.
const SA_KNOWN: u64 = SA_NOCLDSTOP
    | SA_NOCLDWAIT
    | SA_SIGINFO
    | SA_EXPOSE_TAGBITS
    | SA_RESTORER
    | SA_ONSTACK
    | SA_RESTART
    | SA_NODEFER
    | SA_RESETHAND;

const SIG_BLOCK: u64 = 0;
const SIG_UNBLOCK: u64 = 1;
const SIG_SETMASK: u64 = 2;

const SI_USER: i32 = 0;
const SI_KERNEL: i32 = 0x80;
const SI_TKILL: i32 = -6;
const SEGV_MAPERR: i32 = 1;
const SEGV_ACCERR: i32 = 2;
const BUS_ADRALN: i32 = 1;
const ILL_ILLOPC: i32 = 1;
const TRAP_BRKPT: i32 = 1;
const FPE_FLTUNK: i32 = 14;

const SS_ONSTACK: i32 = 1;
const SS_DISABLE: i32 = 2;
const SS_AUTODISARM: u32 = 1 << 31;
/// arm64's MINSIGSTKSZ (also AT_MINSIGSTKSZ here: no SVE state in our frames).
const MINSIGSTKSZ: u64 = 5120;

const ERESTARTSYS: i64 = 512;
const ERESTARTNOINTR: i64 = 513;
const ERESTARTNOHAND: i64 = 514;
const EINTR: i64 = -(abi_shared::linux::errno::EINTR as i64);
const EAGAIN: i64 = -(abi_shared::linux::errno::EAGAIN as i64);
const EPERM: i64 = -(abi_shared::linux::errno::EPERM as i64);
const ENOMEM: i64 = -(abi_shared::linux::errno::ENOMEM as i64);
const ESRCH: i64 = -(abi_shared::linux::errno::ESRCH as i64);

const fn bit(sig: i32) -> u64 {
    1 << (sig - 1)
}

const UNBLOCKABLE: u64 = bit(SIGKILL) | bit(SIGSTOP);
/// Linux's SYNCHRONOUS_MASK: dequeued before any other pending signal.
const SYNCHRONOUS: u64 = bit(SIGSEGV) | bit(SIGBUS) | bit(SIGILL) | bit(SIGTRAP) | bit(SIGFPE) | bit(SIGSYS);

/// `struct sigaction` as arm64's rt_sigaction takes it (handler, flags, restorer, mask).
#[derive(Clone, Copy, Debug, Default)]
struct Action {
    handler: u64,
    flags: u64,
    restorer: u64,
    mask: u64,
}

impl Action {
    const DEFAULT: Action = Action { handler: SIG_DFL, flags: 0, restorer: 0, mask: 0 };

    fn from_bytes(b: &[u8; 32]) -> Action {
        let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or([0; 8]));
        Action { handler: w(0), flags: w(1), restorer: w(2), mask: w(3) }
    }

    fn to_bytes(self) -> [u8; 32] {
        let mut b = [0u8; 32];
        for (i, v) in [self.handler, self.flags, self.restorer, self.mask].iter().enumerate() {
            b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
        }
        b
    }
}

// What a signal does when its handler is SIG_DFL: Linux's table. A stop goes on here as if
// continued at once (no job control yet), and a core dump writes no file yet.
use abi_shared::linux::signal::{default_action, DefaultAction};

struct State {
    actions: [Action; NSIG as usize],
    blocked: u64,
    /// One bit per signal with at least one entry in `queue`.
    pending: u64,
    /// Pending signals in the order sent: a standard signal at most once, real-time ones
    /// as often as sent.
    queue: Vec<SigInfo>,
    /// The alternate stack (sp, size, SS_AUTODISARM); size 0 when disabled.
    alt: (u64, u64, u32),
    /// rt_sigsuspend's mask to put back once a handler's frame holds it (or at once).
    restore_mask: Option<u64>,
    /// The last fault's address and ESR, as Linux keeps them in the thread (sigcontext's
    /// fault_address, the esr_context of later frames: Linux does not clear them either).
    fault_address: u64,
    fault_code: u64,
    /// Where a handler returns to without SA_RESTORER (the loader's sigreturn page).
    sigtramp: u64,
}

static STATE: Mutex<State> = Mutex::new(State {
    actions: [Action::DEFAULT; NSIG as usize],
    blocked: 0,
    pending: 0,
    queue: Vec::new(),
    alt: (0, 0, 0),
    restore_mask: None,
    fault_address: 0,
    fault_code: 0,
    sigtramp: 0,
});

/// The loader mapped the sigreturn page: handlers without SA_RESTORER return to `addr`.
pub fn set_sigtramp(addr: u64) {
    STATE.lock().sigtramp = addr;
}

impl State {
    fn ignored(&self, sig: i32) -> bool {
        let h = self.actions[(sig - 1) as usize].handler;
        h == SIG_IGN || (h == SIG_DFL && default_action(sig) == DefaultAction::Ignore)
    }

    /// Queue `info` for this thread (Linux's send_signal): an unblocked ignored signal is
    /// dropped, a standard signal already pending is not queued twice.
    fn send(&mut self, info: SigInfo) {
        let sig = info.signo;
        if sig == SIGKILL {
            terminate(ExitHow::Signal(SIGKILL));
        }
        if self.blocked & bit(sig) == 0 && self.ignored(sig) {
            return;
        }
        if sig < SIGRTMIN && self.pending & bit(sig) != 0 {
            return;
        }
        self.queue.push(info);
        self.pending |= bit(sig);
    }

    /// Take one pending signal of `allowed`: synchronous ones first, then the lowest number.
    fn dequeue(&mut self, allowed: u64) -> Option<SigInfo> {
        let ready = self.pending & allowed;
        if ready == 0 {
            return None;
        }
        let pick = if ready & SYNCHRONOUS != 0 { ready & SYNCHRONOUS } else { ready };
        let sig = pick.trailing_zeros() as i32 + 1;
        let at = self.queue.iter().position(|i| i.signo == sig)?;
        let info = self.queue.remove(at);
        if !self.queue.iter().any(|i| i.signo == sig) {
            self.pending &= !bit(sig);
        }
        Some(info)
    }

    fn flush(&mut self, sig: i32) {
        self.queue.retain(|i| i.signo != sig);
        self.pending &= !bit(sig);
    }

    fn on_alt_stack(&self, sp: u64) -> bool {
        let (base, size, _) = self.alt;
        sp > base && sp - base <= size
    }

    /// sas_ss_flags: SS_DISABLE, SS_ONSTACK or 0.
    fn alt_flags(&self, sp: u64) -> i32 {
        if self.alt.1 == 0 {
            SS_DISABLE
        } else if self.on_alt_stack(sp) {
            SS_ONSTACK
        } else {
            0
        }
    }

    /// do_sigaltstack's change (the caller read the new stack_t).
    fn set_alt(&mut self, new: StackT, sp: u64) -> i64 {
        if self.on_alt_stack(sp) {
            return EPERM;
        }
        let flags = new.flags as u32;
        let mode = (flags & !SS_AUTODISARM) as i32;
        if mode != SS_DISABLE && mode != SS_ONSTACK && mode != 0 {
            return EINVAL;
        }
        if mode == SS_DISABLE {
            self.alt = (0, 0, flags);
        } else if new.size < MINSIGSTKSZ {
            return ENOMEM;
        } else {
            self.alt = (new.sp, new.size, flags);
        }
        0
    }
}

/// A signal from the program to itself (kill, tgkill, tkill, raise): 0, or EINVAL for a
/// number that is no signal. Signal 0 only checks.
fn send_self(sig: i32, code: i32) -> i64 {
    if !(0..=NSIG).contains(&sig) {
        return EINVAL;
    }
    if sig != 0 {
        let me = ids();
        STATE.lock().send(SigInfo::sent_by(sig, code, me.pid, me.uid));
    }
    0
}

/// Arm64 Linux reports a fault's address without its tag byte (no SA_EXPOSE_TAGBITS here).
fn untag(addr: u64) -> u64 {
    (((addr << 8) as i64) >> 8) as u64
}

/// Linux's force_sig_fault for an exception: a blocked or ignored signal is unblocked and
/// reset to SIG_DFL (the program cannot go on past the fault), then queued; `fault` is the
/// (fault_address, ESR) pair to keep for the frame, if this exception sets it.
fn force(sig: i32, code: i32, addr: u64, fault: Option<(u64, u64)>) {
    let mut s = STATE.lock();
    let i = (sig - 1) as usize;
    if s.blocked & bit(sig) != 0 || s.actions[i].handler == SIG_IGN {
        s.actions[i].handler = SIG_DFL;
        s.blocked &= !bit(sig);
    }
    if let Some((address, esr)) = fault {
        s.fault_address = address;
        s.fault_code = esr;
    }
    s.send(SigInfo::fault(sig, code, addr));
}

const EC_DABT_LOW: u64 = 0x24;
/// The ESR bits Linux keeps for a fault on a kernel address (EC, IL, and for data aborts
/// CM and WnR), reported as a level 0 translation fault.
const ESR_KEEP_DABT: u64 = (0x3f << 26) | (1 << 25) | (1 << 8) | (1 << 6);
const ESR_KEEP_IABT: u64 = (0x3f << 26) | (1 << 25);
const FSC_FAULT: u64 = 0x04;

/// An instruction or data abort the address space did not resolve: SIGSEGV (SEGV_ACCERR
/// where a mapping is, SEGV_MAPERR elsewhere), or SIGBUS for an alignment fault.
pub fn abort_fault(esr: u64, far: u64) {
    let addr = untag(far);
    if esr & 0x3f == 0x21 {
        // An alignment fault (do_alignment_fault): arm64_notify_die keeps no address.
        force(SIGBUS, BUS_ADRALN, addr, Some((0, esr)));
        return;
    }
    let mut esr = esr;
    if addr >= user::TASK_SIZE {
        // Kernel addresses do not exist for the program: only what it knows is reported.
        let keep = if esr >> 26 == EC_DABT_LOW { ESR_KEEP_DABT } else { ESR_KEEP_IABT };
        esr = (esr & keep) | FSC_FAULT;
    }
    let code = if uspace::with(|s| s.is_mapped(addr)) { SEGV_ACCERR } else { SEGV_MAPERR };
    force(SIGSEGV, code, addr, Some((addr, esr)));
}

/// A misaligned PC or SP: SIGBUS BUS_ADRALN at the bad address.
pub fn alignment_fault(esr: u64, addr: u64) {
    force(SIGBUS, BUS_ADRALN, addr, Some((0, esr)));
}

/// An undefined instruction: SIGILL ILL_ILLOPC at the pc.
pub fn undefined(esr: u64, pc: u64) {
    force(SIGILL, ILL_ILLOPC, pc, Some((0, esr)));
}

/// A trapped floating-point exception: SIGFPE (its kind not decoded: FPE_FLTUNK).
pub fn fp_exception(esr: u64, pc: u64) {
    force(SIGFPE, FPE_FLTUNK, pc, Some((0, esr)));
}

/// `brk`: SIGTRAP TRAP_BRKPT at the pc (Linux keeps the last fault's record as it was).
pub fn breakpoint(pc: u64) {
    force(SIGTRAP, TRAP_BRKPT, pc, None);
}

/// The syscall just made, for the restart rules: its return value and first argument.
pub struct Restart {
    pub ret: i64,
    pub orig_x0: u64,
}

/// Before returning to EL0: deliver every pending unblocked signal. A handler's frame goes
/// on the stack (each later one on top of the earlier, so the last set up runs first, as on
/// Linux); a default action ends the program or does nothing. `restart` applies Linux's
/// rules to an interrupted syscall once.
pub fn deliver(frame: &mut TrapFrame, mut restart: Option<Restart>) {
    loop {
        let mut s = STATE.lock();
        let allowed = !s.blocked;
        let Some(info) = s.dequeue(allowed) else { break };
        let sig = info.signo;
        let action = s.actions[(sig - 1) as usize];
        if action.handler == SIG_IGN {
            continue;
        }
        if action.handler == SIG_DFL {
            match default_action(sig) {
                DefaultAction::Ignore | DefaultAction::Stop => continue,
                DefaultAction::Terminate | DefaultAction::Core => {
                    drop(s);
                    terminate(ExitHow::Signal(sig))
                }
            }
        }
        if let Some(r) = restart.take() {
            restart_with_handler(frame, &r, action.flags);
        }
        if action.flags & SA_RESETHAND != 0 {
            s.actions[(sig - 1) as usize].handler = SIG_DFL;
        }
        if !setup_frame(&mut s, frame, &info, &action) {
            // No room for the frame (Linux's force_sigsegv): SIGSEGV, with its default
            // action if the failing signal was SIGSEGV itself.
            if sig == SIGSEGV {
                s.actions[(SIGSEGV - 1) as usize].handler = SIG_DFL;
            }
            s.blocked &= !bit(SIGSEGV);
            let mut i = SigInfo { signo: SIGSEGV, code: SI_KERNEL, ..SigInfo::default() };
            i.fields[0] = 0;
            s.send(i);
        }
    }
    if let Some(r) = restart {
        restart_without_handler(frame, &r);
    }
    let mut s = STATE.lock();
    if let Some(mask) = s.restore_mask.take() {
        s.blocked = mask;
    }
}

/// A handler runs: an interrupted call returns EINTR unless it is to be restarted.
fn restart_with_handler(frame: &mut TrapFrame, r: &Restart, flags: u64) {
    match -r.ret {
        ERESTARTNOHAND => frame.x[0] = EINTR as u64,
        ERESTARTSYS if flags & SA_RESTART == 0 => frame.x[0] = EINTR as u64,
        ERESTARTSYS | ERESTARTNOINTR => restart_syscall(frame, r),
        _ => {}
    }
}

/// No handler ran: every interrupted call starts again.
fn restart_without_handler(frame: &mut TrapFrame, r: &Restart) {
    if matches!(-r.ret, ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND) {
        restart_syscall(frame, r);
    }
}

/// Back to the `svc` with the first argument as it was.
fn restart_syscall(frame: &mut TrapFrame, r: &Restart) {
    frame.x[0] = r.orig_x0;
    frame.pc -= 4;
}

/// Build the frame for `info`'s handler and point the registers at the handler. False:
/// the frame could not be written (the caller raises SIGSEGV).
fn setup_frame(s: &mut State, frame: &mut TrapFrame, info: &SigInfo, action: &Action) -> bool {
    let sp = frame.sp;
    let top = if action.flags & SA_ONSTACK != 0 && s.alt_flags(sp) == 0 { s.alt.0 + s.alt.1 } else { sp };
    let Some((at, _record)) = sigframe::place(top) else { return false };
    let stack = StackT { sp: s.alt.0, flags: s.alt_flags(sp) | s.alt.2 as i32, size: s.alt.1 };
    if s.alt.2 & SS_AUTODISARM != 0 {
        s.alt = (0, 0, SS_DISABLE as u32);
    }
    let info_bytes: [u8; 128] = bytemuck::cast(*info);
    // The frame keeps the mask to return to: rt_sigsuspend's caller's, or the current one.
    let saved = s.restore_mask.take().unwrap_or(s.blocked);
    let input = FrameInput {
        info: (action.flags & SA_SIGINFO != 0).then_some(&info_bytes),
        mask: saved,
        stack,
        fault_address: s.fault_address,
        fault_code: s.fault_code,
    };
    let bytes = sigframe::build(frame, &input);
    if !uspace::with(|u| u.copy_out(at, &bytes)) {
        return false;
    }
    let restorer = if action.flags & SA_RESTORER != 0 { action.restorer } else { s.sigtramp };
    sigframe::enter_handler(frame, info.signo, action.flags & SA_SIGINFO != 0, at, action.handler, restorer);
    let mut blocked = s.blocked | action.mask;
    if action.flags & SA_NODEFER == 0 {
        blocked |= bit(info.signo);
    }
    s.blocked = blocked & !UNBLOCKABLE;
    true
}

fn read<const N: usize>(addr: u64) -> Option<[u8; N]> {
    let mut b = [0u8; N];
    uspace::with(|s| s.copy_in(addr, &mut b)).then_some(b)
}

fn write(addr: u64, b: &[u8]) -> bool {
    uspace::with(|s| s.copy_out(addr, b))
}

fn read_u64(addr: u64) -> Option<u64> {
    read::<8>(addr).map(u64::from_le_bytes)
}

fn read_stack_t(addr: u64) -> Option<StackT> {
    let b = read::<24>(addr)?;
    let w = |i: usize| u64::from_le_bytes(b[i..i + 8].try_into().unwrap_or([0; 8]));
    Some(StackT { sp: w(0), flags: w(8) as u32 as i32, size: w(16) })
}

fn stack_t_bytes(st: &StackT) -> [u8; 24] {
    let mut b = [0u8; 24];
    b[..8].copy_from_slice(&st.sp.to_le_bytes());
    b[8..12].copy_from_slice(&st.flags.to_le_bytes());
    b[16..].copy_from_slice(&st.size.to_le_bytes());
    b
}

pub fn rt_sigaction(c: &mut Ctx<'_>) -> i64 {
    let (sig, act, oact, size) = (c.args[0] as i32, c.args[1], c.args[2], c.args[3]);
    if size != 8 {
        return EINVAL;
    }
    let new = if act != 0 {
        match read::<32>(act) {
            Some(b) => Some(Action::from_bytes(&b)),
            None => return EFAULT,
        }
    } else {
        None
    };
    if !(1..=NSIG).contains(&sig) || (new.is_some() && (sig == SIGKILL || sig == SIGSTOP)) {
        return EINVAL;
    }
    let old = {
        let mut s = STATE.lock();
        let i = (sig - 1) as usize;
        let old = s.actions[i];
        if let Some(mut a) = new {
            a.flags &= SA_KNOWN;
            a.mask &= !UNBLOCKABLE;
            s.actions[i] = a;
            if s.ignored(sig) {
                s.flush(sig);
            }
        }
        old
    };
    if oact != 0 && !write(oact, &old.to_bytes()) {
        return EFAULT;
    }
    0
}

pub fn rt_sigprocmask(c: &mut Ctx<'_>) -> i64 {
    let [how, set, oset, size, ..] = c.args;
    if size != 8 {
        return EINVAL;
    }
    let old = STATE.lock().blocked;
    if set != 0 {
        let Some(new) = read_u64(set) else { return EFAULT };
        let new = new & !UNBLOCKABLE;
        let mut s = STATE.lock();
        s.blocked = match how {
            SIG_BLOCK => s.blocked | new,
            SIG_UNBLOCK => s.blocked & !new,
            SIG_SETMASK => new,
            _ => return EINVAL,
        };
    }
    if oset != 0 && !write(oset, &old.to_le_bytes()) {
        return EFAULT;
    }
    0
}

/// The pending signals that are blocked (the others are delivered before the call returns).
pub fn rt_sigpending(c: &mut Ctx<'_>) -> i64 {
    let (set, size) = (c.args[0], c.args[1]);
    if size > 8 {
        return EINVAL;
    }
    let s = STATE.lock();
    let v = (s.pending & s.blocked).to_le_bytes();
    drop(s);
    if !write(set, &v[..size as usize]) {
        return EFAULT;
    }
    0
}

/// Wait under a temporary mask for a signal: one already pending is delivered (the call
/// returns EINTR under its handler, the old mask back once the handler's frame holds it).
pub fn rt_sigsuspend(c: &mut Ctx<'_>) -> i64 {
    if c.args[1] != 8 {
        return EINVAL;
    }
    let Some(mask) = read_u64(c.args[0]) else { return EFAULT };
    let mut s = STATE.lock();
    let old = s.blocked;
    s.blocked = mask & !UNBLOCKABLE;
    if s.pending & !s.blocked == 0 {
        drop(s);
        sleep_forever();
    }
    s.restore_mask = Some(old);
    -ERESTARTNOHAND
}

/// Nothing can send this guest a signal yet: sleep as Linux would, for good (the monitor
/// still ends the run when linuxrun itself is signalled).
fn sleep_forever() -> ! {
    crate::arch::halt()
}

/// Wait for one of `set`'s signals and take it without running its handler.
pub fn rt_sigtimedwait(c: &mut Ctx<'_>) -> i64 {
    let (set, uinfo, uts, size) = (c.args[0], c.args[1], c.args[2], c.args[3]);
    if size != 8 {
        return EINVAL;
    }
    let Some(set) = read_u64(set) else { return EFAULT };
    let timeout_ns = if uts != 0 {
        let Some(b) = read::<16>(uts) else { return EFAULT };
        let sec = i64::from_le_bytes(b[..8].try_into().unwrap_or([0; 8]));
        let nsec = i64::from_le_bytes(b[8..].try_into().unwrap_or([0; 8]));
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return EINVAL;
        }
        Some((sec as u64).saturating_mul(1_000_000_000).saturating_add(nsec as u64))
    } else {
        None
    };
    let set = set & !UNBLOCKABLE;
    let taken = STATE.lock().dequeue(set);
    let Some(info) = taken else {
        match timeout_ns {
            None => sleep_forever(),
            Some(ns) => {
                // Nothing can arrive meanwhile: wait out the time, then EAGAIN.
                let until = crate::bringup::clock::monotonic_ns().saturating_add(ns);
                while crate::bringup::clock::monotonic_ns() < until {
                    core::hint::spin_loop();
                }
                return EAGAIN;
            }
        }
    };
    if uinfo != 0 && !write(uinfo, bytemuck::bytes_of(&info)) {
        return EFAULT;
    }
    i64::from(info.signo)
}

pub fn kill(c: &mut Ctx<'_>) -> i64 {
    let (pid, sig) = (c.args[0] as i32, c.args[1] as i32);
    let me = ids().pid;
    if pid == me || pid == 0 || pid < -1 {
        // Ourselves, or our process group: with no fork on arm64 yet we are its only member
        // among this program's processes.
        return send_self(sig, SI_USER);
    }
    if !(0..=NSIG).contains(&sig) {
        return EINVAL;
    }
    if pid == -1 {
        // "Every process but init and the caller": not sent to the host's processes (as on
        // x86_64).
        return 0;
    }
    kill_other(pid, sig)
}

/// Another process (Linux pids are the host's): the host's kill.
fn kill_other(pid: i32, sig: i32) -> i64 {
    hypercall::call_ret(&Request::Proc(ProcRequest::Kill { pid, sig }))
}

pub fn tkill(c: &mut Ctx<'_>) -> i64 {
    let (tid, sig) = (c.args[0] as i32, c.args[1] as i32);
    if tid <= 0 {
        return EINVAL;
    }
    if tid == ids().pid {
        return send_self(sig, SI_TKILL);
    }
    if !(0..=NSIG).contains(&sig) {
        return EINVAL;
    }
    // Each process has one thread here, whose id is its pid.
    kill_other(tid, sig)
}

pub fn tgkill(c: &mut Ctx<'_>) -> i64 {
    let (tgid, tid, sig) = (c.args[0] as i32, c.args[1] as i32, c.args[2] as i32);
    if tgid <= 0 || tid <= 0 {
        return EINVAL;
    }
    let me = ids().pid;
    if tgid == me {
        return if tid == me { send_self(sig, SI_TKILL) } else { ESRCH };
    }
    if tgid != tid {
        return ESRCH;
    }
    if !(0..=NSIG).contains(&sig) {
        return EINVAL;
    }
    kill_other(tid, sig)
}

/// sigqueue to ourselves, with the caller's siginfo (its si_code may not pretend to come
/// from the kernel or from kill/tgkill, unless sent to ourselves, as on Linux).
pub fn rt_sigqueueinfo(c: &mut Ctx<'_>) -> i64 {
    let (pid, sig, uinfo) = (c.args[0] as i32, c.args[1] as i32, c.args[2]);
    let Some(b) = read::<128>(uinfo) else { return EFAULT };
    let mut info: SigInfo = bytemuck::cast(b);
    if pid != ids().pid {
        if info.code >= 0 || info.code == SI_TKILL {
            return EPERM;
        }
        // Another process would need the host to carry the value: not yet.
        return ESRCH;
    }
    if !(0..=NSIG).contains(&sig) {
        return EINVAL;
    }
    if sig != 0 {
        info.signo = sig;
        STATE.lock().send(info);
    }
    0
}

pub fn sigaltstack(c: &mut Ctx<'_>) -> i64 {
    let (uss, uoss) = (c.args[0], c.args[1]);
    let sp = c.frame.sp;
    let new = if uss != 0 {
        match read_stack_t(uss) {
            Some(st) => Some(st),
            None => return EFAULT,
        }
    } else {
        None
    };
    let mut s = STATE.lock();
    let old = StackT { sp: s.alt.0, flags: s.alt_flags(sp) | (s.alt.2 & SS_AUTODISARM) as i32, size: s.alt.1 };
    if let Some(st) = new {
        let r = s.set_alt(st, sp);
        if r != 0 {
            return r;
        }
    }
    drop(s);
    if uoss != 0 && !write(uoss, &stack_t_bytes(&old)) {
        return EFAULT;
    }
    0
}

/// Back from a handler: the registers, mask and alternate stack the frame at sp holds. A
/// frame Linux would refuse raises SIGSEGV at sp.
pub fn rt_sigreturn(c: &mut Ctx<'_>) -> i64 {
    let sp = c.frame.sp;
    let mut b = alloc::vec![0u8; sigframe::FRAME_SIZE];
    let ok = sp & 15 == 0
        && uspace::with(|s| s.copy_in(sp, &mut b))
        && match sigframe::restore(c.frame, &b) {
            Ok((mask, stack)) => {
                let mut s = STATE.lock();
                s.blocked = mask & !UNBLOCKABLE;
                // restore_altstack: errors other than EFAULT are ignored (EPERM when the
                // interrupted code ran on the alternate stack).
                let _ = s.set_alt(stack, c.frame.sp);
                true
            }
            Err(()) => false,
        };
    if !ok {
        let code = if uspace::with(|s| s.is_mapped(sp)) { SEGV_ACCERR } else { SEGV_MAPERR };
        force(SIGSEGV, code, sp, Some((0, 0)));
    }
    c.frame.x[0] as i64
}
