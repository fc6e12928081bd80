//! Identity, limits, randomness and other small syscalls served in the guest.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use spin::Mutex;

use alloc::vec::Vec;

use abi_shared::hypercall::{Request, SegList, Startup};
use abi_shared::layout::{user, PAGE_SIZE};
use abi_shared::linux::errno;

use super::{err, Ctx, EFAULT, EINVAL, ENOSYS};
use crate::arch::platform;
use crate::mm::uaccess;

static PID: AtomicU32 = AtomicU32::new(1);
static PPID: AtomicU32 = AtomicU32::new(0);
static UID: AtomicU32 = AtomicU32::new(0);
static EUID: AtomicU32 = AtomicU32::new(0);
static GID: AtomicU32 = AtomicU32::new(0);
static EGID: AtomicU32 = AtomicU32::new(0);
static CPUS: AtomicU32 = AtomicU32::new(1);
static CLEAR_CHILD_TID: AtomicU64 = AtomicU64::new(0);
static ROBUST_LIST: AtomicU64 = AtomicU64::new(0);

const RLIM_NLIMITS: usize = 16;
const RLIM_INFINITY: u64 = u64::MAX;
static RLIMITS: Mutex<[(u64, u64); RLIM_NLIMITS]> = Mutex::new([(RLIM_INFINITY, RLIM_INFINITY); RLIM_NLIMITS]);
static HOSTNAME: Mutex<[u8; 65]> = Mutex::new([0; 65]);

/// TASK_COMM_LEN: the thread name, NUL included.
const COMM_LEN: usize = 16;
/// The thread's name (prctl PR_SET_NAME/PR_GET_NAME), NUL-padded.
static COMM: Mutex<[u8; COMM_LEN]> = Mutex::new([0; COMM_LEN]);
/// prctl PR_SET_DUMPABLE's value (SUID_DUMP_USER at exec).
static DUMPABLE: AtomicU32 = AtomicU32::new(1);
/// prctl PR_SET_PDEATHSIG's signal (kept and reported; nothing delivers it yet).
static PDEATHSIG: AtomicU32 = AtomicU32::new(0);

/// The program's file: the path it was started by, and once known its absolute path with
/// symlinks resolved (what /proc/self/exe shows).
struct Exe {
    path: Vec<u8>,
    resolved: Option<Vec<u8>>,
}

static EXE: Mutex<Exe> = Mutex::new(Exe { path: Vec::new(), resolved: None });

pub fn init(s: &Startup) {
    PID.store(s.pid as u32, Ordering::Relaxed);
    PPID.store(s.ppid as u32, Ordering::Relaxed);
    UID.store(s.uid, Ordering::Relaxed);
    EUID.store(s.euid, Ordering::Relaxed);
    GID.store(s.gid, Ordering::Relaxed);
    EGID.store(s.egid, Ordering::Relaxed);
    CPUS.store(s.cpu_count.max(1), Ordering::Relaxed);
    let mut limits = RLIMITS.lock();
    for &(res, soft, hard) in &s.rlimits {
        if let Some(slot) = limits.get_mut(res as usize) {
            *slot = (soft, hard);
        }
    }
    store_field(&RELEASE, &s.kernel_release);
    store_field(&VERSION, &s.kernel_version);
    let mut h = HOSTNAME.lock();
    let n = s.hostname.len().min(64);
    h[..n].copy_from_slice(&s.hostname[..n]);
    drop(h);
    set_exec(&s.exec_path);
}

/// A new program image from `path` (the path it was executed by): Linux names the thread
/// after the file's base name and forgets the old /proc/self/exe.
pub fn set_exec(path: &[u8]) {
    set_comm_from_path(path);
    DUMPABLE.store(1, Ordering::Relaxed);
    let mut exe = EXE.lock();
    exe.path = path.to_vec();
    exe.resolved = None;
    // A relative path means the current directory of now, which the program may change:
    // resolve it at once (an absolute one waits for the first readlink).
    if !path.starts_with(b"/") {
        exe.resolved = Some(absolute_path(path));
    }
}

/// Name the thread after the base name of `path` (at most 15 bytes, as Linux's comm).
pub fn set_comm_from_path(path: &[u8]) {
    let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let mut comm = [0u8; COMM_LEN];
    let n = base.len().min(COMM_LEN - 1);
    comm[..n].copy_from_slice(&base[..n]);
    *COMM.lock() = comm;
}

/// execve: the old image's set_tid_address and robust-list pointers mean nothing in the
/// new one (Linux clears them in exec_mm_release).
pub fn forget_thread_pointers() {
    CLEAR_CHILD_TID.store(0, Ordering::Relaxed);
    ROBUST_LIST.store(0, Ordering::Relaxed);
}

/// The absolute path of the program's file, as /proc/self/exe gives it.
pub fn exe_path() -> Vec<u8> {
    let mut exe = EXE.lock();
    match &exe.resolved {
        Some(p) => p.clone(),
        None => {
            let abs = absolute_path(&exe.path);
            exe.resolved = Some(abs.clone());
            abs
        }
    }
}

/// `path` made absolute by the host: symlinks, `.` and `..` resolved. If the host cannot
/// (the file is gone), a relative path is joined to the working directory instead.
fn absolute_path(path: &[u8]) -> Vec<u8> {
    const PATH_MAX: usize = 4096;
    let mut buf = alloc::vec![0u8; PATH_MAX];
    let seg = [crate::hypercall::kernel_buf_seg(&buf)];
    let n = crate::hypercall::call_ret(&Request::Realpath { path, buf: SegList::Borrowed(&seg) });
    if n > 0 {
        buf.truncate(n as usize);
        return buf;
    }
    if path.starts_with(b"/") {
        return path.to_vec();
    }
    let n = crate::hypercall::call_ret(&Request::Getcwd { buf: SegList::Borrowed(&seg) });
    if n <= 0 {
        return path.to_vec();
    }
    // getcwd's length counts the NUL.
    buf.truncate(n as usize - 1);
    if buf.last() != Some(&b'/') {
        buf.push(b'/');
    }
    buf.extend_from_slice(path.strip_prefix(b"./").unwrap_or(path));
    buf
}

/// A forked child: its own pid, and its parent's.
pub fn become_child(parent: i32, pid: i32) {
    PID.store(pid as u32, Ordering::Relaxed);
    PPID.store(parent as u32, Ordering::Relaxed);
}

/// CLONE_CHILD_CLEARTID's address (as set_tid_address sets it).
pub fn set_clear_child_tid(addr: u64) {
    CLEAR_CHILD_TID.store(addr, Ordering::Relaxed);
}

pub fn pid() -> i32 {
    PID.load(Ordering::Relaxed) as i32
}

pub fn uid() -> u32 {
    UID.load(Ordering::Relaxed)
}

pub fn euid() -> u32 {
    EUID.load(Ordering::Relaxed)
}

/// The soft limit of a Linux resource (RLIM_INFINITY for an unknown one).
pub fn rlimit_soft(resource: u64) -> u64 {
    get_limit(resource).map_or(RLIM_INFINITY, |(soft, _)| soft)
}

pub fn ppid() -> i32 {
    PPID.load(Ordering::Relaxed) as i32
}

/// (uid, euid, gid, egid)
pub fn credentials() -> (u32, u32, u32, u32) {
    let get = |a: &AtomicU32| a.load(Ordering::Relaxed);
    (get(&UID), get(&EUID), get(&GID), get(&EGID))
}

pub fn cpu_count() -> u32 {
    CPUS.load(Ordering::Relaxed)
}

/// The thread name (prctl PR_GET_NAME), without its NUL padding.
pub fn comm() -> Vec<u8> {
    let comm = *COMM.lock();
    comm[..comm.iter().position(|&b| b == 0).unwrap_or(COMM_LEN)].to_vec()
}

fn field(slot: &Mutex<[u8; 65]>) -> Vec<u8> {
    let f = *slot.lock();
    f[..f.iter().position(|&b| b == 0).unwrap_or(64)].to_vec()
}

/// uname's nodename, release and version.
pub fn hostname() -> Vec<u8> {
    field(&HOSTNAME)
}

pub fn kernel_release() -> Vec<u8> {
    field(&RELEASE)
}

pub fn kernel_version() -> Vec<u8> {
    field(&VERSION)
}

/// Every resource limit (soft, hard) by Linux resource number.
pub fn rlimits() -> [(u64, u64); RLIM_NLIMITS] {
    *RLIMITS.lock()
}

pub fn getpid(_: &mut Ctx<'_>) -> i64 {
    pid() as i64
}

/// One thread per process so far: the thread id is the process id, as for a main thread.
pub fn gettid(_: &mut Ctx<'_>) -> i64 {
    pid() as i64
}

pub fn getppid(_: &mut Ctx<'_>) -> i64 {
    PPID.load(Ordering::Relaxed) as i64
}

pub fn getuid(_: &mut Ctx<'_>) -> i64 {
    UID.load(Ordering::Relaxed) as i64
}

pub fn geteuid(_: &mut Ctx<'_>) -> i64 {
    EUID.load(Ordering::Relaxed) as i64
}

pub fn getgid(_: &mut Ctx<'_>) -> i64 {
    GID.load(Ordering::Relaxed) as i64
}

pub fn getegid(_: &mut Ctx<'_>) -> i64 {
    EGID.load(Ordering::Relaxed) as i64
}

pub fn sched_yield(_: &mut Ctx<'_>) -> i64 {
    0
}

/// Whether setresuid/setresgid's (real, effective, saved) asks for no change: each is -1
/// or already that id. Such a call is what posix_spawn's POSIX_SPAWN_RESETIDS makes
/// (seteuid(getuid())) and always succeeds on Linux.
fn unchanged(wanted: [u32; 3], current: [u32; 3]) -> bool {
    wanted.iter().zip(current).all(|(&w, c)| w == u32::MAX || w == c)
}

/// setresuid: only the no-change case is served (the ids are the host process's, and
/// changing them is not implemented): anything else is ENOSYS.
pub fn setresuid(c: &mut Ctx<'_>) -> i64 {
    let (uid, euid) = (UID.load(Ordering::Relaxed), EUID.load(Ordering::Relaxed));
    let wanted = [c.arg(0) as u32, c.arg(1) as u32, c.arg(2) as u32];
    if unchanged(wanted, [uid, euid, euid]) {
        0
    } else {
        ENOSYS
    }
}

/// setresgid: as setresuid.
pub fn setresgid(c: &mut Ctx<'_>) -> i64 {
    let (gid, egid) = (GID.load(Ordering::Relaxed), EGID.load(Ordering::Relaxed));
    let wanted = [c.arg(0) as u32, c.arg(1) as u32, c.arg(2) as u32];
    if unchanged(wanted, [gid, egid, egid]) {
        0
    } else {
        ENOSYS
    }
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

/// The saved set-user-ID is the effective one the program was executed with.
pub fn getresuid(c: &mut Ctx<'_>) -> i64 {
    let euid = EUID.load(Ordering::Relaxed);
    put_three([c.arg(0), c.arg(1), c.arg(2)], [UID.load(Ordering::Relaxed), euid, euid])
}

pub fn getresgid(c: &mut Ctx<'_>) -> i64 {
    let egid = EGID.load(Ordering::Relaxed);
    put_three([c.arg(0), c.arg(1), c.arg(2)], [GID.load(Ordering::Relaxed), egid, egid])
}

const SCHED_OTHER: i64 = 0;

/// Is `pid` this process (0 or our own pid)? Negative pids are EINVAL.
fn is_self(pid: i32) -> Result<bool, i64> {
    if pid < 0 {
        return Err(EINVAL);
    }
    Ok(pid == 0 || pid == self::pid())
}

/// This process runs SCHED_OTHER; another one is the host's to answer (ESRCH if none).
pub fn sched_getscheduler(c: &mut Ctx<'_>) -> i64 {
    match is_self(c.int(0)) {
        Err(e) => e,
        Ok(true) => SCHED_OTHER,
        Ok(false) => crate::hypercall::call_ret(&Request::SchedGetscheduler { pid: c.int(0) }),
    }
}

pub fn sched_getparam(c: &mut Ctx<'_>) -> i64 {
    let (pid, param) = (c.int(0), c.arg(1));
    if param == 0 {
        return EINVAL;
    }
    let prio = match is_self(pid) {
        Err(e) => return e,
        Ok(true) => 0,
        Ok(false) => crate::hypercall::call_ret(&Request::SchedGetparam { pid }),
    };
    if prio < 0 {
        return prio;
    }
    uaccess::copy_to_user(param, &(prio as i32).to_le_bytes()).map_or(EFAULT, |_| 0)
}

const PR_SET_PDEATHSIG: i32 = 1;
const PR_GET_PDEATHSIG: i32 = 2;
const PR_GET_DUMPABLE: i32 = 3;
const PR_SET_DUMPABLE: i32 = 4;
const PR_SET_NAME: i32 = 15;
const PR_GET_NAME: i32 = 16;

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

/// prctl: the thread name, the dumpable flag and the parent-death signal, kept here;
/// other options are EINVAL.
pub fn prctl(c: &mut Ctx<'_>) -> i64 {
    let arg2 = c.arg(1);
    match c.int(0) {
        PR_SET_NAME => match read_comm(arg2) {
            Ok(comm) => {
                *COMM.lock() = comm;
                0
            }
            Err(e) => e,
        },
        PR_GET_NAME => {
            let comm = *COMM.lock();
            uaccess::copy_to_user(arg2, &comm).map_or(EFAULT, |_| 0)
        }
        PR_GET_DUMPABLE => DUMPABLE.load(Ordering::Relaxed) as i64,
        PR_SET_DUMPABLE if arg2 <= 1 => {
            DUMPABLE.store(arg2 as u32, Ordering::Relaxed);
            0
        }
        PR_SET_PDEATHSIG if arg2 <= abi_shared::linux::signal::SIGRTMAX as u64 => {
            PDEATHSIG.store(arg2 as u32, Ordering::Relaxed);
            0
        }
        PR_GET_PDEATHSIG => {
            let sig = PDEATHSIG.load(Ordering::Relaxed) as i32;
            uaccess::copy_to_user(arg2, &sig.to_le_bytes()).map_or(EFAULT, |_| 0)
        }
        _ => EINVAL,
    }
}

/// uname's release and version, as the monitor chose them (the host's on a Linux host).
static RELEASE: Mutex<[u8; 65]> = Mutex::new([0; 65]);
static VERSION: Mutex<[u8; 65]> = Mutex::new([0; 65]);

fn store_field(slot: &Mutex<[u8; 65]>, value: &[u8]) {
    let mut f = slot.lock();
    let n = value.len().min(64);
    f[..n].copy_from_slice(&value[..n]);
}

pub fn uname(c: &mut Ctx<'_>) -> i64 {
    let mut uts = [0u8; 65 * 6];
    let (host, release, version) = (*HOSTNAME.lock(), *RELEASE.lock(), *VERSION.lock());
    let machine = super::misc_rules::uname_machine(super::misc::persona());
    let fields: [&[u8]; 6] = [b"Linux", &host, &release, &version, machine, b"(none)"];
    for (i, f) in fields.iter().enumerate() {
        let f = &f[..f.iter().position(|&b| b == 0).unwrap_or(f.len()).min(64)];
        uts[i * 65..i * 65 + f.len()].copy_from_slice(f);
    }
    uaccess::copy_to_user(c.arg(0), &uts).map_or(EFAULT, |_| 0)
}

/// RLIMIT_STACK's soft limit: how far the main stack may grow.
pub fn stack_limit() -> u64 {
    const RLIMIT_STACK: u64 = 3;
    get_limit(RLIMIT_STACK).map_or(8 << 20, |(soft, _)| soft)
}

fn get_limit(resource: u64) -> Option<(u64, u64)> {
    RLIMITS.lock().get(resource as usize).copied()
}

fn write_limit(addr: u64, (soft, hard): (u64, u64)) -> Result<(), i64> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&soft.to_le_bytes());
    b[8..].copy_from_slice(&hard.to_le_bytes());
    uaccess::copy_to_user(addr, &b)
}

pub fn getrlimit(c: &mut Ctx<'_>) -> i64 {
    let Some(l) = get_limit(c.arg(0)) else { return EINVAL };
    write_limit(c.arg(1), l).map_or(EFAULT, |_| 0)
}

fn set_limit(resource: u64, soft: u64, hard: u64) -> i64 {
    let mut limits = RLIMITS.lock();
    let Some(slot) = limits.get_mut(resource as usize) else { return EINVAL };
    if soft > hard {
        return EINVAL;
    }
    if hard > slot.1 && UID.load(Ordering::Relaxed) != 0 {
        return err(errno::EPERM);
    }
    *slot = (soft, hard);
    0
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
    if who != 0 && who != pid() {
        return err(errno::ESRCH);
    }
    let Some(current) = get_limit(resource) else { return EINVAL };
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
    if who != 0 && who != pid() {
        return err(errno::ESRCH);
    }
    if len < 8 || len % 8 != 0 {
        return EINVAL;
    }
    let cpus = CPUS.load(Ordering::Relaxed).min(64);
    let bits: u64 = if cpus == 64 { u64::MAX } else { (1u64 << cpus) - 1 };
    uaccess::copy_to_user(mask, &bits.to_le_bytes()).map_or(EFAULT, |_| 8)
}

const ARCH_SET_GS: u64 = 0x1001;
const ARCH_SET_FS: u64 = 0x1002;
const ARCH_GET_FS: u64 = 0x1003;
const ARCH_GET_GS: u64 = 0x1004;

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
        _ => EINVAL,
    }
}

pub fn set_tid_address(c: &mut Ctx<'_>) -> i64 {
    CLEAR_CHILD_TID.store(c.arg(0), Ordering::Relaxed);
    pid() as i64
}

pub fn set_robust_list(c: &mut Ctx<'_>) -> i64 {
    // sizeof(struct robust_list_head)
    if c.arg(1) != 24 {
        return EINVAL;
    }
    ROBUST_LIST.store(c.arg(0), Ordering::Relaxed);
    0
}

/// Restartable sequences are optional for glibc; ENOSYS makes it fall back.
pub fn rseq(_: &mut Ctx<'_>) -> i64 {
    ENOSYS
}

const FUTEX_WAIT: i32 = 0;
const FUTEX_WAKE: i32 = 1;
const FUTEX_WAIT_BITSET: i32 = 9;
const FUTEX_WAKE_BITSET: i32 = 10;
const FUTEX_CMD_MASK: i32 = !(128 | 256);

/// One thread per process: nobody else can wake a waiter, so a wait either fails at once
/// (the value changed), times out, or blocks for good as it would on Linux.
pub fn futex(c: &mut Ctx<'_>) -> i64 {
    let (uaddr, op, val, timeout) = (c.arg(0), c.int(1) & FUTEX_CMD_MASK, c.arg(2) as u32, c.arg(3));
    match op {
        FUTEX_WAKE | FUTEX_WAKE_BITSET => 0,
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            if uaddr % 4 != 0 {
                return EINVAL;
            }
            let mut word = [0u8; 4];
            if uaccess::copy_from_user(uaddr, &mut word).is_err() {
                return EFAULT;
            }
            if u32::from_le_bytes(word) != val {
                return err(errno::EAGAIN);
            }
            if timeout == 0 {
                // Only a signal can end this wait: EINTR once one is deliverable.
                while !crate::signal::wait::sleep_interruptible(u64::MAX) {}
                return err(errno::EINTR);
            }
            let ts: abi_shared::linux::Timespec = match uaccess::read_struct(timeout) {
                Ok(t) => t,
                Err(e) => return e,
            };
            let Some(ns) = crate::time::timespec_ns(&ts) else { return EINVAL };
            // FUTEX_WAIT takes a relative timeout, FUTEX_WAIT_BITSET an absolute one.
            let rel = if op == FUTEX_WAIT {
                ns
            } else if c.int(1) & 256 != 0 {
                ns.saturating_sub(crate::time::realtime_ns())
            } else {
                ns.saturating_sub(crate::time::monotonic_ns())
            };
            let deadline = crate::time::monotonic_ns().saturating_add(rel);
            if crate::signal::wait::sleep_interruptible(deadline) {
                err(errno::EINTR)
            } else {
                err(errno::ETIMEDOUT)
            }
        }
        _ => ENOSYS,
    }
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
