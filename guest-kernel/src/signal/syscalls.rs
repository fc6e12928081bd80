//! The signal syscalls.

use abi_shared::linux::errno;
use abi_shared::linux::signal::{SIGKILL, SIGSTOP};

use super::frame::{self, MIN_SIGSTKSZ, SS_DISABLE, SS_ONSTACK};
use super::{bit, raise, Action, AltStack, SigInfo, NSIG, SIG_IGN, SI_TKILL, SI_USER, STATE, UNBLOCKABLE};
use crate::mm::uaccess;
use crate::syscall::{err, ids, Ctx, EFAULT, EINVAL};

const SIG_BLOCK: i32 = 0;
const SIG_UNBLOCK: i32 = 1;
const SIG_SETMASK: i32 = 2;
const SS_AUTODISARM: i32 = 1 << 31;

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
            Ok(a) => Some(a),
            Err(e) => return e,
        }
    } else {
        None
    };
    let old = STATE.lock().actions[sig as usize];
    if oact != 0 {
        if let Err(e) = write_action(oact, &old) {
            return e;
        }
    }
    if let Some(mut a) = new {
        a.mask &= !UNBLOCKABLE;
        let mut st = STATE.lock();
        st.actions[sig as usize] = a;
        // Setting SIG_IGN discards a pending instance, as on Linux.
        if a.handler == SIG_IGN {
            st.pending &= !bit(sig);
        }
    }
    0
}

pub fn rt_sigprocmask(c: &mut Ctx<'_>) -> i64 {
    let (how, set, oset, size) = (c.int(0), c.arg(1), c.arg(2), c.arg(3));
    if size != 8 {
        return EINVAL;
    }
    let old = STATE.lock().blocked;
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
        STATE.lock().blocked = blocked & !UNBLOCKABLE;
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
    let st = STATE.lock();
    let pending = st.pending & st.blocked;
    drop(st);
    let n = c.arg(1) as usize;
    uaccess::copy_to_user(c.arg(0), &pending.to_le_bytes()[..n]).map_or(EFAULT, |_| 0)
}

pub fn rt_sigreturn(c: &mut Ctx<'_>) -> i64 {
    c.full_return = true;
    if frame::restore(c.frame).is_err() {
        crate::syscall::process::terminate(abi_shared::hypercall::ExitHow::Signal(abi_shared::linux::signal::SIGSEGV));
    }
    c.frame.rax as i64
}

pub fn sigaltstack(c: &mut Ctx<'_>) -> i64 {
    let (ss, old) = (c.arg(0), c.arg(1));
    let sp = c.frame.rsp;
    let cur = STATE.lock().altstack;
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
        STATE.lock().altstack = alt;
    }
    0
}

/// Signals to ourselves are served here; other processes come with process support.
fn signal_self(sig: i32, code: i32) -> i64 {
    if sig == 0 {
        return 0;
    }
    if !valid_signal(sig) {
        return EINVAL;
    }
    raise(SigInfo::sent_by(sig, code, ids::pid(), ids::uid()));
    0
}

pub fn kill(c: &mut Ctx<'_>) -> i64 {
    let (pid, sig) = (c.int(0), c.int(1));
    if pid == ids::pid() || pid == 0 || pid == -1 || pid == -ids::pid() {
        return signal_self(sig, SI_USER);
    }
    err(errno::ESRCH)
}

pub fn tgkill(c: &mut Ctx<'_>) -> i64 {
    let (tgid, tid, sig) = (c.int(0), c.int(1), c.int(2));
    if tgid <= 0 || tid <= 0 {
        return EINVAL;
    }
    if tgid != ids::pid() || tid != ids::pid() {
        return err(errno::ESRCH);
    }
    signal_self(sig, SI_TKILL)
}

pub fn tkill(c: &mut Ctx<'_>) -> i64 {
    let (tid, sig) = (c.int(0), c.int(1));
    if tid <= 0 {
        return EINVAL;
    }
    if tid != ids::pid() {
        return err(errno::ESRCH);
    }
    signal_self(sig, SI_TKILL)
}

pub fn rt_sigtimedwait(_c: &mut Ctx<'_>) -> i64 {
    crate::syscall::ENOSYS
}

pub fn rt_sigqueueinfo(_c: &mut Ctx<'_>) -> i64 {
    crate::syscall::ENOSYS
}

pub fn rt_tgsigqueueinfo(_c: &mut Ctx<'_>) -> i64 {
    crate::syscall::ENOSYS
}

pub fn rt_sigsuspend(_c: &mut Ctx<'_>) -> i64 {
    crate::syscall::ENOSYS
}
