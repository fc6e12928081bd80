//! Identity calls and resource limits, served from the startup block.

use abi_shared::hypercall::{ControlRequest, Request};
use spin::Mutex;

use super::{ids, Ctx, EFAULT, EINVAL};
use crate::bringup::{hypercall, uspace};

const RLIM_NLIMITS: usize = abi_shared::linux::general::RLIM_NLIMITS as usize;
const RLIMIT_NOFILE: u64 = abi_shared::linux::general::RLIMIT_NOFILE as u64;
const ESRCH: i64 = -(abi_shared::linux::errno::ESRCH as i64);
const EPERM: i64 = -(abi_shared::linux::errno::EPERM as i64);

/// Each resource's (soft, hard) limit, from the host's at startup (RLIM_INFINITY for
/// the ones it did not send).
static LIMITS: Mutex<[(u64, u64); RLIM_NLIMITS]> = Mutex::new([(u64::MAX, u64::MAX); RLIM_NLIMITS]);

pub fn init_limits(rlimits: &[(u32, u64, u64)]) {
    let mut l = LIMITS.lock();
    for &(resource, soft, hard) in rlimits {
        if let Some(slot) = l.get_mut(resource as usize) {
            *slot = (soft, hard);
        }
    }
}

pub fn getpid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().pid)
}

/// One thread per process so far: its id is the pid.
pub fn gettid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().pid)
}

pub fn getppid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().ppid)
}

pub fn getuid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().uid)
}

pub fn geteuid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().euid)
}

pub fn getgid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().gid)
}

pub fn getegid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().egid)
}

/// The clear-child-tid address matters only to threads, which do not exist yet.
pub fn set_tid_address(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().pid)
}

/// The robust futex list matters only when a thread dies holding a lock.
pub fn set_robust_list(c: &mut Ctx<'_>) -> i64 {
    if c.args[1] != 24 {
        return super::EINVAL;
    }
    0
}

pub fn sched_yield(_: &mut Ctx<'_>) -> i64 {
    0
}

fn read_limit(addr: u64) -> Option<(u64, u64)> {
    let mut b = [0u8; 16];
    uspace::with(|s| s.copy_in(addr, &mut b)).then(|| {
        (
            u64::from_le_bytes(b[..8].try_into().unwrap_or_default()),
            u64::from_le_bytes(b[8..].try_into().unwrap_or_default()),
        )
    })
}

fn write_limit(addr: u64, (soft, hard): (u64, u64)) -> bool {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&soft.to_le_bytes());
    b[8..].copy_from_slice(&hard.to_le_bytes());
    uspace::with(|s| s.copy_out(addr, &b))
}

/// setrlimit's rules: soft at most hard, only root raises a hard limit; the host hands
/// out the descriptors, so it enforces RLIMIT_NOFILE.
fn set_limit(resource: u64, soft: u64, hard: u64) -> i64 {
    let mut l = LIMITS.lock();
    let Some(slot) = l.get_mut(resource as usize) else { return EINVAL };
    if soft > hard {
        return EINVAL;
    }
    if hard > slot.1 && ids().euid != 0 {
        return EPERM;
    }
    *slot = (soft, hard);
    drop(l);
    if resource == RLIMIT_NOFILE {
        hypercall::call_ret(&Request::Control(ControlRequest::SetFdLimit { soft }));
    }
    0
}

pub fn getrlimit(c: &mut Ctx<'_>) -> i64 {
    let Some(l) = LIMITS.lock().get(c.args[0] as usize).copied() else { return EINVAL };
    if write_limit(c.args[1], l) {
        0
    } else {
        EFAULT
    }
}

pub fn setrlimit(c: &mut Ctx<'_>) -> i64 {
    let Some((soft, hard)) = read_limit(c.args[1]) else { return EFAULT };
    set_limit(c.args[0], soft, hard)
}

/// prlimit64 on this process (pid 0 or its own); other processes do not exist here.
pub fn prlimit64(c: &mut Ctx<'_>) -> i64 {
    let [who, resource, new, old, ..] = c.args;
    let who = who as i32;
    if who != 0 && who != ids().pid {
        return ESRCH;
    }
    let Some(current) = LIMITS.lock().get(resource as usize).copied() else { return EINVAL };
    if new != 0 {
        let Some((soft, hard)) = read_limit(new) else { return EFAULT };
        let r = set_limit(resource, soft, hard);
        if r != 0 {
            return r;
        }
    }
    if old != 0 && !write_limit(old, current) {
        return EFAULT;
    }
    0
}
