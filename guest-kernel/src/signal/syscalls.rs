//! The signal syscalls.

use abi_shared::linux::errno;
use abi_shared::linux::signal::{SIGALRM, SIGKILL, SIGSTOP};

use super::frame::{self, MIN_SIGSTKSZ, SS_DISABLE, SS_ONSTACK};
use super::{
    raise, raise_thread, state, timer, Action, AltStack, SigInfo, NSIG, SIG_IGN, SI_TKILL, SI_USER, UNBLOCKABLE,
};
use crate::mm::uaccess;
use crate::sysctx::{err, Ctx, EFAULT, EINVAL};
use crate::task;

const SIG_BLOCK: i32 = abi_shared::linux::general::SIG_BLOCK as i32;
const SIG_UNBLOCK: i32 = abi_shared::linux::general::SIG_UNBLOCK as i32;
const SIG_SETMASK: i32 = abi_shared::linux::general::SIG_SETMASK as i32;
const SS_AUTODISARM: i32 = abi_shared::linux::general::SS_AUTODISARM as i32;

fn valid_signal(sig: i32) -> bool {
    (1..NSIG as i32).contains(&sig)
}

fn read_action(addr: u64) -> Result<Action, i64> {
    let mut b = [0u8; 32];
    uaccess::copy_from_user(addr, &mut b)?;
    let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().unwrap_or_default());
    Ok(Action { handler: w(0), flags: w(1), restorer: w(2), mask: w(3) })
}

fn write_action(addr: u64, a: &Action) -> Result<(), i64> {
    let mut b = [0u8; 32];
    for (i, v) in [a.handler, a.flags, a.restorer, a.mask].iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
    }
    uaccess::copy_to_user(addr, &b)
}

pub fn rt_sigaction(c: &mut Ctx<'_>) -> i64 {
    let (sig, act, oact, size) = (c.int(0), c.arg(1), c.arg(2), c.arg(3));
    if size != 8 || !valid_signal(sig) {
        return EINVAL;
    }
    let new = if act != 0 {
        if sig == SIGKILL || sig == SIGSTOP {
            return EINVAL;
        }
        match read_action(act) {
            // Unknown flag bits are dropped, so that a program can tell what is supported.
            Ok(a) => Some(Action { flags: a.flags & KNOWN_SA_FLAGS, ..a }),
            Err(e) => return e,
        }
    } else {
        None
    };
    let old = state().lock().actions[sig as usize];
    if let Some(mut a) = new {
        a.mask &= !UNBLOCKABLE;
        let mut st = state().lock();
        st.actions[sig as usize] = a;
        super::host::actions_changed();
        // Setting SIG_IGN discards pending instances, every thread's, as on Linux.
        if a.handler == SIG_IGN {
            st.shared.discard(sig);
            task::current().signals().lock().pending.discard(sig);
            for t in task::threads::others() {
                t.signals().lock().pending.discard(sig);
            }
        }
    }
    // As Linux: the old action is written after the new one is set (a bad `oact` is EFAULT
    // with the change made).
    if oact != 0 {
        if let Err(e) = write_action(oact, &Action { flags: old.flags & KNOWN_SA_FLAGS, ..old }) {
            return e;
        }
    }
    0
}

/// The sigaction flags x86_64 Linux keeps (UAPI_SA_FLAGS); it clears the rest.
const KNOWN_SA_FLAGS: u64 = (linux_raw_sys::general::SA_NOCLDSTOP
    | linux_raw_sys::general::SA_NOCLDWAIT
    | linux_raw_sys::general::SA_SIGINFO
    | linux_raw_sys::general::SA_EXPOSE_TAGBITS
    | linux_raw_sys::general::SA_ONSTACK
    | linux_raw_sys::general::SA_RESTART
    | linux_raw_sys::general::SA_NODEFER
    | linux_raw_sys::general::SA_RESETHAND
    | linux_raw_sys::general::SA_RESTORER) as u64;

pub fn rt_sigprocmask(c: &mut Ctx<'_>) -> i64 {
    let (how, set, oset, size) = (c.int(0), c.arg(1), c.arg(2), c.arg(3));
    if size != 8 {
        return EINVAL;
    }
    let me = task::current().signals();
    let old = me.lock().blocked;
    if set != 0 {
        let new = match uaccess::read_u64(set) {
            Ok(v) => v,
            Err(e) => return e,
        };
        let blocked = match how {
            SIG_BLOCK => old | new,
            SIG_UNBLOCK => old & !new,
            SIG_SETMASK => new,
            _ => return EINVAL,
        };
        me.lock().blocked = blocked & !UNBLOCKABLE;
    }
    if oset != 0 && uaccess::copy_to_user(oset, &old.to_le_bytes()).is_err() {
        return EFAULT;
    }
    0
}

pub fn rt_sigpending(c: &mut Ctx<'_>) -> i64 {
    if c.arg(1) > 8 {
        return EINVAL;
    }
    let st = super::lock();
    let pending = st.pending() & st.me.blocked;
    drop(st);
    let n = c.arg(1) as usize;
    uaccess::copy_to_user(c.arg(0), &pending.to_le_bytes()[..n]).map_or(EFAULT, |_| 0)
}

pub fn rt_sigreturn(c: &mut Ctx<'_>) -> i64 {
    c.full_return = true;
    if frame::restore(c.frame).is_err() {
        crate::task::exit::terminate(abi_shared::hypercall::ExitHow::Signal(abi_shared::linux::signal::SIGSEGV));
    }
    c.frame.rax as i64
}

pub fn sigaltstack(c: &mut Ctx<'_>) -> i64 {
    let (ss, old) = (c.arg(0), c.arg(1));
    let sp = c.frame.rsp;
    let cur = task::current().signals().lock().altstack;
    let on = cur.flags & SS_DISABLE == 0 && sp > cur.sp && sp <= cur.sp + cur.size;
    if old != 0 {
        let flags = if on { SS_ONSTACK } else { cur.flags & (SS_DISABLE | SS_AUTODISARM) };
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&cur.sp.to_le_bytes());
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b[16..].copy_from_slice(&cur.size.to_le_bytes());
        if uaccess::copy_to_user(old, &b).is_err() {
            return EFAULT;
        }
    }
    if ss != 0 {
        let mut b = [0u8; 24];
        if uaccess::copy_from_user(ss, &mut b).is_err() {
            return EFAULT;
        }
        if on {
            return err(errno::EPERM);
        }
        let new_sp = u64::from_le_bytes(b[..8].try_into().unwrap_or_default());
        let flags = i32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
        let size = u64::from_le_bytes(b[16..].try_into().unwrap_or_default());
        let mode = flags & !SS_AUTODISARM;
        if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
            return EINVAL;
        }
        let alt = if mode == SS_DISABLE {
            AltStack { sp: 0, flags: SS_DISABLE, size: 0 }
        } else {
            if size < MIN_SIGSTKSZ {
                return err(errno::ENOMEM);
            }
            AltStack { sp: new_sp, flags: flags & SS_AUTODISARM, size }
        };
        task::current().signals().lock().altstack = alt;
    }
    0
}

/// A signal to our own process is served here; other processes' go through the host.
fn signal_self(sig: i32, code: i32) -> i64 {
    if sig == 0 {
        return 0;
    }
    if !valid_signal(sig) {
        return EINVAL;
    }
    if raise(SigInfo::sent_by(sig, code, task::pid(), task::uid())) {
        // Another thread may wait in the host for a signalfd of it to become readable.
        super::signalfd::sync_readiness();
        0
    } else {
        err(errno::EAGAIN)
    }
}

/// A signal to thread `t` of our own process.
fn signal_thread(t: &'static task::Thread, sig: i32) -> i64 {
    if sig == 0 {
        return 0;
    }
    if !valid_signal(sig) {
        return EINVAL;
    }
    if raise_thread(t, SigInfo::sent_by(sig, SI_TKILL, task::pid(), task::uid())) {
        0
    } else {
        err(errno::EAGAIN)
    }
}

/// pidfd_send_signal to our own process (a pidfd of it, or PIDFD_SELF_THREAD_GROUP), or
/// with `thread` to the calling thread (PIDFD_SELF_THREAD): delivered here as kill and
/// tgkill deliver ours. `uinfo` is the program's siginfo (0: none, the kernel makes one
/// as kill does); its si_signo must be `sig`, and any si_code may be sent to oneself.
pub fn pidfd_signal_self(thread: bool, sig: i32, uinfo: u64) -> i64 {
    let info = if uinfo == 0 {
        None
    } else {
        match uaccess::read_struct::<SigInfo>(uinfo) {
            Ok(i) if i.signo != sig => return EINVAL,
            Ok(i) => Some(i),
            Err(e) => return e,
        }
    };
    if sig == 0 {
        return 0;
    }
    if !valid_signal(sig) {
        return EINVAL;
    }
    let code = if thread { SI_TKILL } else { SI_USER };
    let info = info.unwrap_or_else(|| SigInfo::sent_by(sig, code, task::pid(), task::uid()));
    let queued = if thread { raise_thread(task::current(), info) } else { raise(info) };
    if queued {
        0
    } else {
        err(errno::EAGAIN)
    }
}

pub fn kill(c: &mut Ctx<'_>) -> i64 {
    let (pid, sig) = (c.int(0), c.int(1));
    if pid == task::pid() {
        return signal_self(sig, SI_USER);
    }
    if !(0..NSIG as i32).contains(&sig) {
        return EINVAL;
    }
    if pid == -1 {
        // "Every process but init and the caller": not sent to the host's processes, which
        // include ones that are not this program's.
        return 0;
    }
    // Another process (Linux pids are host pids) or a process group, ours included: the
    // host's kill (the monitor passes our own copy back to us).
    crate::hypercall::call_ret(&abi_shared::hypercall::Request::Proc(abi_shared::hypercall::ProcRequest::Kill {
        pid,
        sig,
    }))
}

/// tkill/tgkill of another process's thread: each of our processes has one thread, whose
/// id is its pid, so the host's kill reaches it.
fn kill_other_thread(tid: i32, sig: i32) -> i64 {
    if !(0..NSIG as i32).contains(&sig) {
        return EINVAL;
    }
    crate::hypercall::call_ret(&abi_shared::hypercall::Request::Proc(abi_shared::hypercall::ProcRequest::Kill {
        pid: tid,
        sig,
    }))
}

pub fn tgkill(c: &mut Ctx<'_>) -> i64 {
    let (tgid, tid, sig) = (c.int(0), c.int(1), c.int(2));
    if tgid <= 0 || tid <= 0 {
        return EINVAL;
    }
    if tgid == task::pid() {
        return match task::threads::find(tid) {
            Some(t) => signal_thread(t, sig),
            None => err(errno::ESRCH),
        };
    }
    if tgid != tid {
        // Threads of other processes: each of our other processes' threads is not known
        // here; their first thread's id is their pid.
        return err(errno::ESRCH);
    }
    kill_other_thread(tid, sig)
}

pub fn tkill(c: &mut Ctx<'_>) -> i64 {
    let (tid, sig) = (c.int(0), c.int(1));
    if tid <= 0 {
        return EINVAL;
    }
    match task::threads::find(tid) {
        Some(t) => signal_thread(t, sig),
        None => kill_other_thread(tid, sig),
    }
}

/// sigqueue to a process. Linux lets a process queue any si_code to itself; the host
/// kernel refuses forged kernel codes for others (EPERM), as Linux does.
pub fn rt_sigqueueinfo(c: &mut Ctx<'_>) -> i64 {
    let (pid, sig, uinfo) = (c.int(0), c.int(1), c.arg(2));
    queue_to_self(pid, pid, sig, uinfo)
}

pub fn rt_tgsigqueueinfo(c: &mut Ctx<'_>) -> i64 {
    let (tgid, tid, sig, uinfo) = (c.int(0), c.int(1), c.int(2), c.arg(3));
    queue_to_self(tgid, tid, sig, uinfo)
}

fn queue_to_self(pid: i32, tid: i32, sig: i32, uinfo: u64) -> i64 {
    let mut info: SigInfo = match uaccess::read_struct(uinfo) {
        Ok(i) => i,
        Err(e) => return e,
    };
    if pid <= 0 || tid <= 0 {
        return EINVAL;
    }
    // rt_tgsigqueueinfo to one of our threads (rt_sigqueueinfo passes pid as both).
    let thread = if pid == task::pid() && pid != tid { task::threads::find(tid) } else { None };
    if pid != tid && thread.is_none() {
        return err(errno::ESRCH);
    }
    if pid != task::pid() {
        if !(0..NSIG as i32).contains(&sig) {
            return EINVAL;
        }
        let value = info.fields[1];
        return crate::hypercall::call_ret(&abi_shared::hypercall::Request::Proc(
            abi_shared::hypercall::ProcRequest::Sigqueue { pid, sig, code: info.code, value },
        ));
    }
    if sig == 0 {
        return 0;
    }
    if !valid_signal(sig) {
        return EINVAL;
    }
    info.signo = sig;
    let queued = match thread {
        Some(t) => raise_thread(t, info),
        None => raise(info),
    };
    if queued {
        super::signalfd::sync_readiness();
        0
    } else {
        err(errno::EAGAIN)
    }
}

/// Wait for one of `set`'s signals and take it without running a handler: one already
/// pending, raised by a timer, or sent from outside (the monitor catches blocked signals
/// for us); otherwise the timeout runs out (or, without one, the wait lasts forever).
pub fn rt_sigtimedwait(c: &mut Ctx<'_>) -> i64 {
    let (uset, uinfo, utimeout, size) = (c.arg(0), c.arg(1), c.arg(2), c.arg(3));
    if size != 8 {
        return EINVAL;
    }
    let set = match uaccess::read_u64(uset) {
        Ok(s) => s & !UNBLOCKABLE,
        Err(e) => return e,
    };
    let timeout = if utimeout != 0 {
        match uaccess::read_struct::<abi_shared::linux::Timespec>(utimeout) {
            Ok(ts) => match crate::time::timespec_ns(&ts) {
                Some(ns) => Some(ns),
                None => return EINVAL,
            },
            Err(e) => return e,
        }
    } else {
        None
    };
    let taken = super::lock().take(set);
    if let Some((sig, info)) = taken {
        if uinfo != 0 && uaccess::write_struct(uinfo, &info).is_err() {
            return EFAULT;
        }
        return sig as i64;
    }
    // Wait for a signal in `set` to arrive, or for a handled one to interrupt (EINTR).
    let deadline = timeout.map(|ns| crate::time::monotonic_ns().saturating_add(ns)).unwrap_or(u64::MAX);
    let me = task::current().signals();
    me.lock().waiting_for = set;
    let result = loop {
        let interrupted = super::wait::sleep_interruptible_until(deadline, set);
        if let Some(taken) = super::lock().take(set) {
            break Ok(taken);
        }
        if interrupted {
            break Err(err(errno::EINTR));
        }
        if crate::time::monotonic_ns() >= deadline {
            break Err(err(errno::EAGAIN));
        }
    };
    me.lock().waiting_for = 0;
    match result {
        Ok((sig, info)) => {
            if uinfo != 0 && uaccess::write_struct(uinfo, &info).is_err() {
                return EFAULT;
            }
            sig as i64
        }
        Err(e) => e,
    }
}

/// Block until a signal is deliverable: one of our timers' or one sent from outside (the
/// monitor's catch cuts the host sleep short).
fn wait_for_signal() {
    while !super::wait::sleep_interruptible(u64::MAX) {}
}

/// pause: wait until a signal's handler runs (or its default action ends the process);
/// always EINTR, never restarted.
pub fn pause(_c: &mut Ctx<'_>) -> i64 {
    wait_for_signal();
    err(errno::EINTR)
}

/// Replace the mask, wait for a signal, and return EINTR after its handler is set up; the
/// handler's frame records the old mask, which comes back when it returns.
pub fn rt_sigsuspend(c: &mut Ctx<'_>) -> i64 {
    if c.arg(1) != 8 {
        return EINVAL;
    }
    let mask = match uaccess::read_u64(c.arg(0)) {
        Ok(m) => m & !UNBLOCKABLE,
        Err(e) => return e,
    };
    {
        let mut me = task::current().signals().lock();
        let old = core::mem::replace(&mut me.blocked, mask);
        me.saved_mask = Some(old);
    }
    wait_for_signal();
    err(errno::EINTR)
}

mod timers;
pub use timers::{
    alarm, getitimer, setitimer, timer_create, timer_delete, timer_getoverrun, timer_gettime, timer_settime,
};
