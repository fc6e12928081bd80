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

const ITIMER_REAL: i32 = abi_shared::linux::general::ITIMER_REAL as i32;
const ITIMER_VIRTUAL: i32 = abi_shared::linux::general::ITIMER_VIRTUAL as i32;
const ITIMER_PROF: i32 = abi_shared::linux::general::ITIMER_PROF as i32;

fn timeval_ns(addr: u64) -> Result<u64, i64> {
    let tv: abi_shared::linux::Timespec = uaccess::read_struct(addr)?;
    if tv.tv_sec < 0 || !(0..1_000_000).contains(&tv.tv_nsec) {
        return Err(EINVAL);
    }
    // Linux clamps huge timer values rather than wrapping them.
    Ok((tv.tv_sec as u64).saturating_mul(1_000_000_000).saturating_add(tv.tv_nsec as u64 * 1000))
}

fn write_itimerval(addr: u64, (value, interval): (u64, u64)) -> Result<(), i64> {
    let tv = |ns: u64| abi_shared::linux::Timespec {
        tv_sec: (ns / 1_000_000_000) as i64,
        tv_nsec: ((ns % 1_000_000_000) / 1000) as i64,
    };
    uaccess::write_struct(addr, &tv(interval))?;
    uaccess::write_struct(addr + 16, &tv(value))
}

/// The host's CPU-time itimer `which` (ITIMER_VIRTUAL, ITIMER_PROF): the monitor process's
/// own, which counts the CPU time of the program's threads (their vCPU threads) and of the
/// monitor's, and signals the process with SIGVTALRM or SIGPROF, which the monitor passes
/// on like any signal from outside (a loop without syscalls included). `new` as interval
/// then value, in ns; the old or current setting, in ns.
fn cpu_itimer(which: i32, new: Option<(u64, u64)>) -> Result<(u64, u64), i64> {
    let us = |ns: u64| [(ns / 1_000_000_000) as i64, ((ns % 1_000_000_000) / 1000) as i64];
    let new = new.map(|(i, v)| {
        let (i, v) = (us(i), us(v));
        [i[0], i[1], v[0], v[1]]
    });
    match crate::hypercall::call(&abi_shared::hypercall::Request::Clock(
        abi_shared::hypercall::ClockRequest::CpuItimer { which, new },
    )) {
        abi_shared::hypercall::Response::Itimerspec(t) => {
            let ns = |s: i64, us: i64| (s as u64).saturating_mul(1_000_000_000).saturating_add(us as u64 * 1000);
            Ok((ns(t[2], t[3]), ns(t[0], t[1])))
        }
        abi_shared::hypercall::Response::Ret(e) if e < 0 => Err(e),
        _ => Err(EINVAL),
    }
}

/// ITIMER_REAL counts down in the guest; ITIMER_VIRTUAL and ITIMER_PROF are the host's.
pub fn setitimer(c: &mut Ctx<'_>) -> i64 {
    let (which, new, old) = (c.int(0), c.arg(1), c.arg(2));
    if !matches!(which, ITIMER_REAL | ITIMER_VIRTUAL | ITIMER_PROF) {
        return EINVAL;
    }
    let (interval, value) = if new != 0 {
        match (timeval_ns(new), timeval_ns(new + 16)) {
            (Ok(i), Ok(v)) => (i, v),
            (Err(e), _) | (_, Err(e)) => return e,
        }
    } else {
        (0, 0)
    };
    let previous = if which == ITIMER_REAL {
        timer::set(value, interval)
    } else {
        match cpu_itimer(which, Some((interval, value))) {
            Ok(p) => p,
            Err(e) => return e,
        }
    };
    if old != 0 && write_itimerval(old, previous).is_err() {
        return EFAULT;
    }
    0
}

pub fn getitimer(c: &mut Ctx<'_>) -> i64 {
    let which = c.int(0);
    if !matches!(which, ITIMER_REAL | ITIMER_VIRTUAL | ITIMER_PROF) {
        return EINVAL;
    }
    let now = if which == ITIMER_REAL {
        timer::get()
    } else {
        match cpu_itimer(which, None) {
            Ok(p) => p,
            Err(e) => return e,
        }
    };
    write_itimerval(c.arg(1), now).map_or(EFAULT, |_| 0)
}

/// alarm(seconds): returns the seconds left on the previous alarm, rounded as Linux does.
pub fn alarm(c: &mut Ctx<'_>) -> i64 {
    let secs = c.arg(0) as u32 as u64;
    let (left, _) = timer::set(secs * 1_000_000_000, 0);
    if left == 0 {
        0
    } else {
        // Linux rounds to the nearest second, and never reports 0 for a pending alarm.
        ((left + 500_000_000) / 1_000_000_000).max(1) as i64
    }
}

const CLOCK_REALTIME: i32 = abi_shared::linux::general::CLOCK_REALTIME as i32;
const CLOCK_MONOTONIC: i32 = abi_shared::linux::general::CLOCK_MONOTONIC as i32;
const CLOCK_BOOTTIME: i32 = abi_shared::linux::general::CLOCK_BOOTTIME as i32;
const TIMER_ABSTIME: u64 = abi_shared::linux::general::TIMER_ABSTIME as u64;

/// The clocks POSIX timers run on in the guest; timers on CPU-time clocks are the host's
/// (`task::cpu_clock`).
fn timer_clock_ok(clock: i32) -> bool {
    matches!(clock, CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME)
}

/// struct sigevent as far as timers use it: (notify, signo, value, tid).
fn read_sigevent(addr: u64) -> Result<(i32, i32, u64, i32), i64> {
    let mut raw = [0u8; 20];
    uaccess::copy_from_user(addr, &mut raw)?;
    let int = |o: usize| i32::from_le_bytes([raw[o], raw[o + 1], raw[o + 2], raw[o + 3]]);
    let value = u64::from_le_bytes(raw[..8].try_into().unwrap_or_default());
    Ok((int(12), int(8), value, int(16)))
}

pub fn timer_create(c: &mut Ctx<'_>) -> i64 {
    let (clock, sevp, idp) = (c.int(0), c.arg(1), c.arg(2));
    let host_clock = if timer_clock_ok(clock) {
        None
    } else {
        match task::cpu_clock::host_clock(clock) {
            Some(h) => Some(h),
            None => return EINVAL,
        }
    };
    let (notify, signo, value, tid) = if sevp == 0 {
        (timer::SIGEV_SIGNAL, SIGALRM, None, 0)
    } else {
        match read_sigevent(sevp) {
            Ok((notify, signo, value, tid)) => (notify, signo, Some(value), tid),
            Err(e) => return e,
        }
    };
    let signo = match notify {
        timer::SIGEV_NONE => None,
        timer::SIGEV_SIGNAL | timer::SIGEV_THREAD_ID if valid_signal(signo) && signo != 0 => Some(signo),
        _ => return EINVAL,
    };
    // SIGEV_THREAD_ID: a thread of ours (its signal is raised for the process, which gives
    // it to a thread that takes it: glibc's timer thread waits for it in sigwaitinfo).
    if notify == timer::SIGEV_THREAD_ID && task::threads::find(tid).is_none() {
        return EINVAL;
    }
    let Some(id) = timer::create(signo, value, clock == CLOCK_REALTIME) else { return err(errno::EAGAIN) };
    if let Some(host) = host_clock {
        let req = abi_shared::hypercall::Request::Clock(abi_shared::hypercall::ClockRequest::CpuTimerCreate {
            clock: host,
            notify,
            signo: signo.unwrap_or(0),
            value: timer::value_of(id).unwrap_or(id as u64),
            tid,
        });
        let r = crate::hypercall::call_ret(&req);
        if r < 0 {
            timer::delete(id);
            return r;
        }
        timer::set_host(id, r as i32);
    }
    if uaccess::copy_to_user(idp, &(id as i32).to_le_bytes()).is_err() {
        delete_timer(id);
        return EFAULT;
    }
    0
}

fn timer_id(c: &Ctx<'_>) -> usize {
    // A negative id becomes huge and unknown.
    c.int(0) as u32 as usize
}

fn write_itimerspec(addr: u64, (value, interval): (u64, u64)) -> Result<(), i64> {
    uaccess::write_struct(addr, &crate::time::to_timespec(interval))?;
    uaccess::write_struct(addr + 16, &crate::time::to_timespec(value))
}

pub fn timer_settime(c: &mut Ctx<'_>) -> i64 {
    let (id, flags, new, old) = (timer_id(c), c.arg(1), c.arg(2), c.arg(3));
    let read = |a: u64| -> Result<u64, i64> {
        let ts: abi_shared::linux::Timespec = uaccess::read_struct(a)?;
        crate::time::timespec_ns(&ts).ok_or(EINVAL)
    };
    let (interval, value) = match (read(new), read(new + 16)) {
        (Ok(i), Ok(v)) => (i, v),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    if let Some(host) = timer::host_of(id) {
        let split = |ns: u64| [(ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as i64];
        let (i, v) = (split(interval), split(value));
        let req = abi_shared::hypercall::Request::Clock(abi_shared::hypercall::ClockRequest::CpuTimerSettime {
            id: host,
            flags: flags as i32,
            new: [i[0], i[1], v[0], v[1]],
        });
        return match crate::hypercall::call(&req) {
            abi_shared::hypercall::Response::Itimerspec(prev) => {
                if old != 0 && write_host_itimerspec(old, &prev).is_err() {
                    return EFAULT;
                }
                0
            }
            abi_shared::hypercall::Response::Ret(e) if e < 0 => e,
            _ => EINVAL,
        };
    }
    let now = crate::time::monotonic_ns();
    let deadline = if value == 0 {
        0
    } else if flags & TIMER_ABSTIME != 0 {
        // An absolute time on the timer's clock, as a monotonic deadline (at least now:
        // a time in the past expires at once). CLOCK_REALTIME is shifted by its offset now.
        let clock_now = if timer::is_realtime(id) { crate::time::realtime_ns() } else { now };
        now.saturating_add(value.saturating_sub(clock_now)).max(1)
    } else {
        now.saturating_add(value)
    };
    let Some(previous) = timer::settime(id, deadline, interval) else { return EINVAL };
    if old != 0 && write_itimerspec(old, previous).is_err() {
        return EFAULT;
    }
    0
}

fn write_host_itimerspec(addr: u64, t: &[i64; 4]) -> Result<(), i64> {
    let ts = |s: i64, ns: i64| abi_shared::linux::Timespec { tv_sec: s, tv_nsec: ns };
    uaccess::write_struct(addr, &ts(t[0], t[1]))?;
    uaccess::write_struct(addr + 16, &ts(t[2], t[3]))
}

pub fn timer_gettime(c: &mut Ctx<'_>) -> i64 {
    let id = timer_id(c);
    if let Some(host) = timer::host_of(id) {
        return match crate::hypercall::call(&abi_shared::hypercall::Request::Clock(
            abi_shared::hypercall::ClockRequest::CpuTimerGettime { id: host },
        )) {
            abi_shared::hypercall::Response::Itimerspec(t) => write_host_itimerspec(c.arg(1), &t).map_or(EFAULT, |_| 0),
            abi_shared::hypercall::Response::Ret(e) if e < 0 => e,
            _ => EINVAL,
        };
    }
    match timer::gettime(id) {
        Some(now) => write_itimerspec(c.arg(1), now).map_or(EFAULT, |_| 0),
        None => EINVAL,
    }
}

pub fn timer_getoverrun(c: &mut Ctx<'_>) -> i64 {
    let id = timer_id(c);
    if let Some(host) = timer::host_of(id) {
        return crate::hypercall::call_ret(&abi_shared::hypercall::Request::Clock(
            abi_shared::hypercall::ClockRequest::CpuTimerGetoverrun { id: host },
        ));
    }
    timer::getoverrun(id).map_or(EINVAL, i64::from)
}

/// Delete timer `id` (and the host timer behind it); false for an unknown id.
fn delete_timer(id: usize) -> bool {
    if let Some(host) = timer::host_of(id) {
        crate::hypercall::call_ret(&abi_shared::hypercall::Request::Clock(
            abi_shared::hypercall::ClockRequest::CpuTimerDelete { id: host },
        ));
    }
    timer::delete(id)
}

pub fn timer_delete(c: &mut Ctx<'_>) -> i64 {
    if delete_timer(timer_id(c)) {
        0
    } else {
        EINVAL
    }
}
