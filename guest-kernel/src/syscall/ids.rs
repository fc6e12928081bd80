//! Identity, limits, randomness and other small syscalls served in the guest. The state
//! they read and change is the task layer's (crate::task); these are only the handlers.

use abi_shared::hypercall::{ClockRequest, ControlRequest, InfoRequest, ProcfsRequest, Request, Response};
use abi_shared::layout::{user, PAGE_SIZE};
use abi_shared::linux::errno;

use abi_shared::hypercall::{CredOp, SegList};

use super::{err, Ctx, EFAULT, EINVAL};
use crate::arch::platform;
use crate::mm::uaccess;
use crate::task::{self, creds, LimitError, COMM_LEN};

pub fn getpid(_: &mut Ctx<'_>) -> i64 {
    task::pid() as i64
}

pub fn gettid(_: &mut Ctx<'_>) -> i64 {
    task::tid() as i64
}

pub fn getppid(_: &mut Ctx<'_>) -> i64 {
    task::ppid() as i64
}

pub fn getuid(_: &mut Ctx<'_>) -> i64 {
    task::uid() as i64
}

pub fn geteuid(_: &mut Ctx<'_>) -> i64 {
    task::euid() as i64
}

pub fn getgid(_: &mut Ctx<'_>) -> i64 {
    task::gid() as i64
}

pub fn getegid(_: &mut Ctx<'_>) -> i64 {
    task::egid() as i64
}

pub fn sched_yield(_: &mut Ctx<'_>) -> i64 {
    0
}

// Credentials: the host thread behind the calling thread makes the call with the host's
// rules, and the thread's cached credentials follow its answer (task/creds.rs). Linux's
// argument checks that come before any permission check are the host kernel's own on a
// Linux host; those that need guest memory are made here, in Linux's order.

pub fn setuid(c: &mut Ctx<'_>) -> i64 {
    creds::change(CredOp::Setuid(c.arg(0) as u32))
}

pub fn setgid(c: &mut Ctx<'_>) -> i64 {
    creds::change(CredOp::Setgid(c.arg(0) as u32))
}

pub fn setreuid(c: &mut Ctx<'_>) -> i64 {
    creds::change(CredOp::Setreuid(c.arg(0) as u32, c.arg(1) as u32))
}

pub fn setregid(c: &mut Ctx<'_>) -> i64 {
    creds::change(CredOp::Setregid(c.arg(0) as u32, c.arg(1) as u32))
}

pub fn setresuid(c: &mut Ctx<'_>) -> i64 {
    creds::change(CredOp::Setresuid(c.arg(0) as u32, c.arg(1) as u32, c.arg(2) as u32))
}

pub fn setresgid(c: &mut Ctx<'_>) -> i64 {
    creds::change(CredOp::Setresgid(c.arg(0) as u32, c.arg(1) as u32, c.arg(2) as u32))
}

/// setfsuid: the previous fs uid, whether or not the new one was taken.
pub fn setfsuid(c: &mut Ctx<'_>) -> i64 {
    creds::change(CredOp::Setfsuid(c.arg(0) as u32))
}

pub fn setfsgid(c: &mut Ctx<'_>) -> i64 {
    creds::change(CredOp::Setfsgid(c.arg(0) as u32))
}

/// Store three ids as getresuid/getresgid do, stopping at the first that faults.
fn put_three(ptrs: [u64; 3], ids: [u32; 3]) -> i64 {
    for (p, id) in ptrs.iter().zip(ids) {
        if uaccess::copy_to_user(*p, &id.to_le_bytes()).is_err() {
            return EFAULT;
        }
    }
    0
}

pub fn getresuid(c: &mut Ctx<'_>) -> i64 {
    let [r, e, s, _] = creds::uids();
    put_three([c.arg(0), c.arg(1), c.arg(2)], [r, e, s])
}

pub fn getresgid(c: &mut Ctx<'_>) -> i64 {
    let [r, e, s, _] = creds::gids();
    put_three([c.arg(0), c.arg(1), c.arg(2)], [r, e, s])
}

const NGROUPS_MAX: u64 = abi_shared::linux::general::NGROUPS_MAX as u64;
use abi_shared::linux::general::CAP_SETGID;

/// setgroups: EPERM without CAP_SETGID (Linux looks first), EINVAL for a size above
/// NGROUPS_MAX, EFAULT for an unreadable list; the host checks the ids and sets them.
pub fn setgroups(c: &mut Ctx<'_>) -> i64 {
    let (size, list) = (c.arg(0) as u32 as u64, c.arg(1));
    if creds::caps()[0] & (1 << CAP_SETGID) == 0 {
        return err(errno::EPERM);
    }
    if size > NGROUPS_MAX {
        return EINVAL;
    }
    if size == 0 {
        return creds::change(CredOp::Setgroups(SegList::Borrowed(&[])));
    }
    let mut ids = alloc::vec![0u8; size as usize * 4];
    if uaccess::copy_from_user(list, &mut ids).is_err() {
        return EFAULT;
    }
    let seg = [crate::hypercall::kernel_buf_seg(&ids)];
    creds::change(CredOp::Setgroups(SegList::Borrowed(&seg)))
}

const CAP_V1: u32 = 0x1998_0330;
const CAP_V2: u32 = 0x2007_1026;
const CAP_V3: u32 = 0x2008_0522;
const CAP_LAST_CAP: u64 = abi_shared::linux::general::CAP_LAST_CAP as u64;

/// capget/capset's header check: how many 32-bit records the version carries; an unknown
/// version is EINVAL after Linux writes its own version into the header.
fn cap_records(header: u64) -> Result<usize, i64> {
    let version = uaccess::read_u32(header)?;
    match version {
        CAP_V1 => Ok(1),
        CAP_V2 | CAP_V3 => Ok(2),
        _ => {
            uaccess::copy_to_user(header, &CAP_V3.to_le_bytes())?;
            Err(EINVAL)
        }
    }
}

/// capget: the running thread's sets (pid 0 or its own tid) as the host thread has them,
/// another task's from the host.
pub fn capget(c: &mut Ctx<'_>) -> i64 {
    let (header, data) = (c.arg(0), c.arg(1));
    let records = match cap_records(header) {
        Ok(n) => n,
        // A NULL data pointer with a wrong version asks which version: 0.
        Err(e) if e == EINVAL && data == 0 => return 0,
        Err(e) => return e,
    };
    if data == 0 {
        return 0;
    }
    let pid = match uaccess::read_u32(header + 4) {
        Ok(p) => p as i32,
        Err(e) => return e,
    };
    if pid < 0 {
        return EINVAL;
    }
    let [e, p, i] = if pid == 0 || pid == task::tid() {
        let [e, p, i, _] = creds::caps();
        [e, p, i]
    } else {
        match creds::capget_other(pid) {
            Ok(sets) => sets,
            Err(e) => return e,
        }
    };
    let mut out = [0u8; 24];
    for r in 0..2 {
        for (k, set) in [e, p, i].iter().enumerate() {
            let half = (set >> (32 * r)) as u32;
            out[r * 12 + k * 4..r * 12 + k * 4 + 4].copy_from_slice(&half.to_le_bytes());
        }
    }
    uaccess::copy_to_user(data, &out[..records * 12]).map_or(EFAULT, |_| 0)
}

/// capset: only the running thread's (another pid is EPERM); the host's rules decide.
pub fn capset(c: &mut Ctx<'_>) -> i64 {
    let (header, data) = (c.arg(0), c.arg(1));
    let records = match cap_records(header) {
        Ok(n) => n,
        Err(e) => return e,
    };
    let pid = match uaccess::read_u32(header + 4) {
        Ok(p) => p as i32,
        Err(e) => return e,
    };
    if pid != 0 && pid != task::tid() {
        return err(errno::EPERM);
    }
    let mut raw = [0u8; 24];
    if uaccess::copy_from_user(data, &mut raw[..records * 12]).is_err() {
        return EFAULT;
    }
    let word = |r: usize, k: usize| {
        u64::from(u32::from_le_bytes(raw[r * 12 + k * 4..r * 12 + k * 4 + 4].try_into().unwrap_or_default()))
    };
    let set = |k: usize| word(0, k) | (word(1, k) << 32);
    creds::change(CredOp::Capset { effective: set(0), permitted: set(1), inheritable: set(2) })
}

/// Is `pid` this process (0, our own pid, or one of our threads' ids, which the sched_*
/// and prlimit calls take as Linux does)? Negative pids are EINVAL.
fn is_self(pid: i32) -> Result<bool, i64> {
    if pid < 0 {
        return Err(EINVAL);
    }
    Ok(is_us(pid))
}

/// 0, our pid or one of our threads' ids.
fn is_us(id: i32) -> bool {
    id == 0 || id == task::pid() || task::threads::find(id).is_some()
}

/// A sched_* call's target as the host takes it: (the host thread or process id, whether it
/// is one of our threads). Our threads are host threads by the same ids; 0 is the calling
/// thread, which the host would take for the thread serving the request. Negative: EINVAL.
fn sched_target(pid: i32) -> Result<(i32, bool), i64> {
    Ok(match is_self(pid)? {
        true if pid == 0 => (task::tid(), true),
        own => (pid, own),
    })
}

/// The scheduler calls are the host's: each of our threads is a host thread (its vCPU's),
/// whose policy, priority and CPU affinity the host kernel applies, with its checks and
/// privileges (SCHED_FIFO needs CAP_SYS_NICE, as natively).
pub fn sched_getscheduler(c: &mut Ctx<'_>) -> i64 {
    match sched_target(c.int(0)) {
        Err(e) => e,
        Ok((pid, _)) => crate::hypercall::call_ret(&Request::Info(InfoRequest::SchedGetscheduler { pid })),
    }
}

pub fn sched_getparam(c: &mut Ctx<'_>) -> i64 {
    let (pid, param) = (c.int(0), c.arg(1));
    if param == 0 {
        return EINVAL;
    }
    let prio = match sched_target(pid) {
        Err(e) => return e,
        Ok((pid, _)) => crate::hypercall::call_ret(&Request::Info(InfoRequest::SchedGetparam { pid })),
    };
    if prio < 0 {
        return prio;
    }
    uaccess::copy_to_user(param, &(prio as i32).to_le_bytes()).map_or(EFAULT, |_| 0)
}

/// sched_setscheduler (`policy` Some) and sched_setparam: Linux refuses a null param or a
/// negative pid, then reads the param.
fn sched_set(pid: i32, policy: Option<i32>, param: u64) -> i64 {
    if param == 0 || pid < 0 {
        return EINVAL;
    }
    let mut prio = [0u8; 4];
    if uaccess::copy_from_user(param, &mut prio).is_err() {
        return EFAULT;
    }
    match sched_target(pid) {
        Err(e) => e,
        Ok((pid, own)) => crate::hypercall::call_ret(&Request::Clock(ClockRequest::SchedSet {
            pid,
            own,
            policy,
            priority: i32::from_le_bytes(prio),
        })),
    }
}

pub fn sched_setscheduler(c: &mut Ctx<'_>) -> i64 {
    let policy = c.int(1);
    // A negative policy is EINVAL (sched_setparam's "keep the policy" is not for callers).
    if policy < 0 {
        return EINVAL;
    }
    sched_set(c.int(0), Some(policy), c.arg(2))
}

pub fn sched_setparam(c: &mut Ctx<'_>) -> i64 {
    sched_set(c.int(0), None, c.arg(1))
}

const SCHED_OTHER: i32 = 0;
const SCHED_FIFO: i32 = abi_shared::linux::general::SCHED_FIFO as i32;
const SCHED_RR: i32 = abi_shared::linux::general::SCHED_RR as i32;
const SCHED_BATCH: i32 = abi_shared::linux::general::SCHED_BATCH as i32;
const SCHED_IDLE: i32 = abi_shared::linux::general::SCHED_IDLE as i32;
const SCHED_DEADLINE: i32 = abi_shared::linux::general::SCHED_DEADLINE as i32;

/// sched_get_priority_max/min: Linux's fixed ranges (1..99 for the real-time policies, 0
/// for the others), EINVAL for an unknown policy.
fn priority_range(policy: i32, max: bool) -> i64 {
    match policy {
        SCHED_FIFO | SCHED_RR => {
            if max {
                99
            } else {
                1
            }
        }
        SCHED_OTHER | SCHED_BATCH | SCHED_IDLE | SCHED_DEADLINE => 0,
        _ => EINVAL,
    }
}

pub fn sched_get_priority_max(c: &mut Ctx<'_>) -> i64 {
    priority_range(c.int(0), true)
}

pub fn sched_get_priority_min(c: &mut Ctx<'_>) -> i64 {
    priority_range(c.int(0), false)
}

pub fn sched_rr_get_interval(c: &mut Ctx<'_>) -> i64 {
    let (pid, own) = match sched_target(c.int(0)) {
        Ok(t) => t,
        Err(e) => return e,
    };
    let ns = crate::hypercall::call_ret(&Request::Clock(ClockRequest::SchedRrGetInterval { pid, own }));
    if ns < 0 {
        return ns;
    }
    uaccess::write_struct(c.arg(1), &crate::time::to_timespec(ns as u64)).map_or(EFAULT, |_| 0)
}

/// Most bytes of a CPU mask passed through (Linux's cpumask is at most 8192 CPUs).
const MAX_MASK: u64 = 1024;

pub fn sched_setaffinity(c: &mut Ctx<'_>) -> i64 {
    let (who, len, addr) = (c.int(0), c.arg(1), c.arg(2));
    // Linux copies at most its own mask's size and zero-fills a shorter one.
    let mut mask = alloc::vec![0u8; len.min(MAX_MASK) as usize];
    if uaccess::copy_from_user(addr, &mut mask).is_err() {
        return EFAULT;
    }
    match sched_target(who) {
        Err(_) => err(errno::ESRCH),
        Ok((pid, own)) => {
            crate::hypercall::call_ret(&Request::Clock(ClockRequest::SchedSetaffinity { pid, own, mask: &mask }))
        }
    }
}

const PR_SET_PDEATHSIG: i32 = linux_raw_sys::prctl::PR_SET_PDEATHSIG as i32;
const PR_GET_PDEATHSIG: i32 = linux_raw_sys::prctl::PR_GET_PDEATHSIG as i32;
const PR_GET_DUMPABLE: i32 = linux_raw_sys::prctl::PR_GET_DUMPABLE as i32;
const PR_SET_DUMPABLE: i32 = linux_raw_sys::prctl::PR_SET_DUMPABLE as i32;
const PR_GET_KEEPCAPS: i32 = linux_raw_sys::prctl::PR_GET_KEEPCAPS as i32;
const PR_SET_KEEPCAPS: i32 = linux_raw_sys::prctl::PR_SET_KEEPCAPS as i32;
const PR_SET_NAME: i32 = linux_raw_sys::prctl::PR_SET_NAME as i32;
const PR_GET_NAME: i32 = linux_raw_sys::prctl::PR_GET_NAME as i32;
const PR_CAPBSET_READ: i32 = linux_raw_sys::prctl::PR_CAPBSET_READ as i32;
const PR_GET_SECCOMP: i32 = linux_raw_sys::prctl::PR_GET_SECCOMP as i32;
const PR_SET_SECCOMP: i32 = linux_raw_sys::prctl::PR_SET_SECCOMP as i32;
const PR_GET_NO_NEW_PRIVS: i32 = linux_raw_sys::prctl::PR_GET_NO_NEW_PRIVS as i32;
const PR_SET_NO_NEW_PRIVS: i32 = linux_raw_sys::prctl::PR_SET_NO_NEW_PRIVS as i32;

/// Up to COMM_LEN - 1 bytes of a user string, stopping at its NUL (strncpy_from_user):
/// bytes past the NUL or the limit are never touched.
fn read_comm(addr: u64) -> Result<[u8; COMM_LEN], i64> {
    let mut comm = [0u8; COMM_LEN];
    let mut got = 0usize;
    while got < COMM_LEN - 1 {
        let va = addr.checked_add(got as u64).ok_or(EFAULT)?;
        let in_page = (PAGE_SIZE - (va & (PAGE_SIZE - 1))) as usize;
        let n = in_page.min(COMM_LEN - 1 - got);
        uaccess::copy_from_user(va, &mut comm[got..got + n])?;
        if let Some(nul) = comm[got..got + n].iter().position(|&b| b == 0) {
            comm[got + nul..].fill(0);
            return Ok(comm);
        }
        got += n;
    }
    Ok(comm)
}

/// prctl: the thread name, the dumpable flag and the parent-death signal, kept here; the
/// keep-capabilities flag (the host thread's) and the bounding set; seccomp and
/// no_new_privs (syscall/seccomp.rs); other options are EINVAL.
pub fn prctl(c: &mut Ctx<'_>) -> i64 {
    let arg2 = c.arg(1);
    match c.int(0) {
        PR_SET_NAME => match read_comm(arg2) {
            Ok(comm) => {
                task::set_comm(comm);
                // The host thread takes the name too, for the host's /proc (ps, top -H).
                crate::hypercall::call(&Request::Procfs(ProcfsRequest::ProcessName {
                    argv: b"",
                    comm: &task::comm(),
                    exe: b"",
                }));
                0
            }
            Err(e) => e,
        },
        PR_GET_NAME => uaccess::copy_to_user(arg2, &task::comm_padded()).map_or(EFAULT, |_| 0),
        PR_GET_DUMPABLE => task::dumpable() as i64,
        PR_SET_DUMPABLE if arg2 <= 1 => {
            task::set_dumpable(arg2 as u32);
            0
        }
        PR_SET_PDEATHSIG if arg2 <= abi_shared::linux::signal::SIGRTMAX as u64 => {
            task::set_pdeathsig(arg2 as u32);
            0
        }
        PR_GET_KEEPCAPS => i64::from(creds::keepcaps()),
        PR_SET_KEEPCAPS if arg2 <= 1 => creds::change(CredOp::Keepcaps(arg2 == 1)),
        PR_CAPBSET_READ if arg2 <= CAP_LAST_CAP => i64::from(creds::caps()[3] & (1 << arg2) != 0),
        PR_GET_PDEATHSIG => {
            let sig = task::pdeathsig() as i32;
            uaccess::copy_to_user(arg2, &sig.to_le_bytes()).map_or(EFAULT, |_| 0)
        }
        PR_GET_SECCOMP => super::seccomp::prctl_get(),
        PR_SET_SECCOMP => super::seccomp::prctl_set(arg2, c.arg(2)),
        PR_GET_NO_NEW_PRIVS => super::seccomp::prctl_get_no_new_privs([arg2, c.arg(2), c.arg(3), c.arg(4)]),
        PR_SET_NO_NEW_PRIVS => super::seccomp::prctl_set_no_new_privs([arg2, c.arg(2), c.arg(3), c.arg(4)]),
        _ => EINVAL,
    }
}

pub fn uname(c: &mut Ctx<'_>) -> i64 {
    let mut uts = [0u8; 65 * 6];
    let (host, release, version) = task::uts_fields();
    let machine = super::misc_rules::uname_machine(super::misc::persona());
    let fields: [&[u8]; 6] = [b"Linux", &host, &release, &version, machine, b"(none)"];
    for (i, f) in fields.iter().enumerate() {
        let f = &f[..f.iter().position(|&b| b == 0).unwrap_or(f.len()).min(64)];
        uts[i * 65..i * 65 + f.len()].copy_from_slice(f);
    }
    uaccess::copy_to_user(c.arg(0), &uts).map_or(EFAULT, |_| 0)
}

fn write_limit(addr: u64, (soft, hard): (u64, u64)) -> Result<(), i64> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&soft.to_le_bytes());
    b[8..].copy_from_slice(&hard.to_le_bytes());
    uaccess::copy_to_user(addr, &b)
}

pub fn getrlimit(c: &mut Ctx<'_>) -> i64 {
    let Some(l) = task::rlimit(c.arg(0)) else { return EINVAL };
    write_limit(c.arg(1), l).map_or(EFAULT, |_| 0)
}

fn set_limit(resource: u64, soft: u64, hard: u64) -> i64 {
    match task::set_rlimit(resource, soft, hard) {
        Ok(()) => {
            if resource == abi_shared::linux::general::RLIMIT_NOFILE as u64 {
                // The host hands out the descriptors, so it enforces the limit.
                crate::hypercall::call_ret(&Request::Control(ControlRequest::SetFdLimit { soft }));
            }
            0
        }
        Err(LimitError::Invalid) => EINVAL,
        Err(LimitError::NotPermitted) => err(errno::EPERM),
    }
}

pub fn setrlimit(c: &mut Ctx<'_>) -> i64 {
    let soft = match uaccess::read_u64(c.arg(1)) {
        Ok(v) => v,
        Err(e) => return e,
    };
    let hard = match uaccess::read_u64(c.arg(1) + 8) {
        Ok(v) => v,
        Err(e) => return e,
    };
    set_limit(c.arg(0), soft, hard)
}

pub fn prlimit64(c: &mut Ctx<'_>) -> i64 {
    let (who, resource, new, old) = (c.int(0), c.arg(1), c.arg(2), c.arg(3));
    if !is_us(who) {
        return err(errno::ESRCH);
    }
    let Some(current) = task::rlimit(resource) else { return EINVAL };
    if new != 0 {
        let (Ok(soft), Ok(hard)) = (uaccess::read_u64(new), uaccess::read_u64(new + 8)) else { return EFAULT };
        let r = set_limit(resource, soft, hard);
        if r != 0 {
            return r;
        }
    }
    if old != 0 {
        if let Err(e) = write_limit(old, current) {
            return e;
        }
    }
    0
}

pub fn sched_getaffinity(c: &mut Ctx<'_>) -> i64 {
    let (who, len, mask) = (c.int(0), c.arg(1), c.arg(2));
    // A negative pid goes to the host too, which checks the length first (EINVAL), then
    // finds no such process (ESRCH), as Linux does.
    let (pid, own) = sched_target(who).unwrap_or((who, false));
    match crate::hypercall::call(&Request::Clock(ClockRequest::SchedGetaffinity {
        pid,
        own,
        len: len.min(MAX_MASK) as u32,
    })) {
        Response::Bytes { ret, data } if ret >= 0 => uaccess::copy_to_user(mask, &data).map_or(EFAULT, |_| ret),
        Response::Ret(e) if e < 0 => e,
        _ => EINVAL,
    }
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = abi_shared::linux::general::ARCH_SET_FS as u64;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;
const ARCH_GET_CPUID: u64 = 0x1011;
const ARCH_SET_CPUID: u64 = 0x1012;

pub fn arch_prctl(c: &mut Ctx<'_>) -> i64 {
    let (code, addr) = (c.arg(0), c.arg(1));
    match code {
        ARCH_SET_FS | ARCH_SET_GS if addr >= user::TASK_SIZE => err(errno::EPERM),
        ARCH_SET_FS => {
            platform::set_fs_base(addr);
            0
        }
        ARCH_SET_GS => {
            platform::set_gs_base(addr);
            0
        }
        ARCH_GET_FS => uaccess::copy_to_user(addr, &platform::fs_base().to_le_bytes()).map_or(EFAULT, |_| 0),
        ARCH_GET_GS => uaccess::copy_to_user(addr, &platform::gs_base().to_le_bytes()).map_or(EFAULT, |_| 0),
        // The guest offers no CPUID faulting: CPUID always runs (1), and setting the mode
        // either way is ENODEV, as Linux answers on a CPU without the feature.
        ARCH_GET_CPUID => 1,
        ARCH_SET_CPUID => err(errno::ENODEV),
        _ => EINVAL,
    }
}

pub fn set_tid_address(c: &mut Ctx<'_>) -> i64 {
    task::set_clear_child_tid(c.arg(0));
    task::tid() as i64
}

pub fn set_robust_list(c: &mut Ctx<'_>) -> i64 {
    // sizeof(struct robust_list_head)
    if c.arg(1) != 24 {
        return EINVAL;
    }
    task::set_robust_list(c.arg(0));
    0
}

/// get_robust_list: the head set_robust_list gave, of the caller (pid 0) or of another
/// thread of this process. musl asks it once to learn whether robust mutexes work
/// (`pthread_mutexattr_setrobust` fails where it is ENOSYS). Another process's list lives
/// in its own guest: EPERM where the host has that process (Linux too refuses where the
/// caller may not ptrace it), ESRCH where it has none.
pub fn get_robust_list(c: &mut Ctx<'_>) -> i64 {
    let (pid, head_ptr, len_ptr) = (c.int(0), c.arg(1), c.arg(2));
    let thread = match pid {
        0 => task::current(),
        tid => match task::threads::find(tid) {
            Some(t) => t,
            None if tid > 0 && host_process_exists(tid) => return err(errno::EPERM),
            None => return err(errno::ESRCH),
        },
    };
    // sizeof(struct robust_list_head)
    if uaccess::copy_to_user(len_ptr, &24u64.to_le_bytes()).is_err()
        || uaccess::copy_to_user(head_ptr, &thread.robust_list().to_le_bytes()).is_err()
    {
        return EFAULT;
    }
    0
}

/// Whether the host has a process `pid` (kill with signal 0: EPERM also means it exists).
fn host_process_exists(pid: i32) -> bool {
    let r = crate::hypercall::call_ret(&Request::Proc(abi_shared::hypercall::ProcRequest::Kill { pid, sig: 0 }));
    r == 0 || r == err(errno::EPERM)
}

/// Restartable sequences are optional for glibc; ENOSYS makes it fall back (not
/// implemented: counted as such, but every glibc program asks, so the end-of-run line
/// leaves it out).
pub fn rseq(_: &mut Ctx<'_>) -> i64 {
    super::unimplemented(334)
}

pub fn getrandom(c: &mut Ctx<'_>) -> i64 {
    let (buf, len, flags) = (c.arg(0), c.arg(1), c.arg(2));
    if flags & !0x7 != 0 {
        return EINVAL;
    }
    let len = len.min(0x7fff_f000);
    let mut done = 0u64;
    let mut chunk = [0u8; 256];
    while done < len {
        let n = (len - done).min(256) as usize;
        crate::random::fill(&mut chunk[..n]);
        if uaccess::copy_to_user(buf + done, &chunk[..n]).is_err() {
            return if done > 0 { done as i64 } else { EFAULT };
        }
        done += n as u64;
    }
    len as i64
}
