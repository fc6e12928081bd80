//! Identity, limits, randomness and other small syscalls served in the guest.

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use spin::Mutex;

use abi_shared::hypercall::{Request, Startup};
use abi_shared::layout::user;
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
    let mut h = HOSTNAME.lock();
    let n = s.hostname.len().min(64);
    h[..n].copy_from_slice(&s.hostname[..n]);
}

pub fn pid() -> i32 {
    PID.load(Ordering::Relaxed) as i32
}

pub fn uid() -> u32 {
    UID.load(Ordering::Relaxed)
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

/// The release Linux programs see: new enough for what glibc and tools check.
const RELEASE: &[u8] = b"6.1.0-linuxrun";
const VERSION: &[u8] = b"#1 SMP PREEMPT_DYNAMIC linuxrun";

pub fn uname(c: &mut Ctx<'_>) -> i64 {
    let mut uts = [0u8; 65 * 6];
    let host = *HOSTNAME.lock();
    let fields: [&[u8]; 6] = [b"Linux", &host, RELEASE, VERSION, b"x86_64", b"(none)"];
    for (i, f) in fields.iter().enumerate() {
        let f = &f[..f.iter().position(|&b| b == 0).unwrap_or(f.len()).min(64)];
        uts[i * 65..i * 65 + f.len()].copy_from_slice(f);
    }
    uaccess::copy_to_user(c.arg(0), &uts).map_or(EFAULT, |_| 0)
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
                loop {
                    crate::hypercall::call_ret(&Request::Sleep { ns: 3_600_000_000_000 });
                }
            }
            let ts: abi_shared::linux::Timespec = match uaccess::read_struct(timeout) {
                Ok(t) => t,
                Err(e) => return e,
            };
            let ns = super::time::timespec_ns(&ts).unwrap_or(0);
            // FUTEX_WAIT takes a relative timeout, FUTEX_WAIT_BITSET an absolute one.
            let rel = if op == FUTEX_WAIT {
                ns
            } else if c.int(1) & 256 != 0 {
                ns.saturating_sub(crate::time::realtime_ns())
            } else {
                ns.saturating_sub(crate::time::monotonic_ns())
            };
            super::time::sleep_ns(rel);
            err(errno::ETIMEDOUT)
        }
        _ => ENOSYS,
    }
}

/// The guest's random generator: ChaCha20 keyed by the monitor's seed.
struct ChaCha {
    key: [u32; 8],
    counter: u64,
}

static RNG: Mutex<ChaCha> = Mutex::new(ChaCha { key: [0; 8], counter: 0 });

impl ChaCha {
    fn block(&mut self) -> [u8; 64] {
        let mut s: [u32; 16] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        s[4..12].copy_from_slice(&self.key);
        s[12] = self.counter as u32;
        s[13] = (self.counter >> 32) as u32;
        self.counter += 1;
        let mut x = s;
        for _ in 0..10 {
            for &(a, b, cc, d) in &[
                (0, 4, 8, 12),
                (1, 5, 9, 13),
                (2, 6, 10, 14),
                (3, 7, 11, 15),
                (0, 5, 10, 15),
                (1, 6, 11, 12),
                (2, 7, 8, 13),
                (3, 4, 9, 14),
            ] {
                x[a] = x[a].wrapping_add(x[b]);
                x[d] = (x[d] ^ x[a]).rotate_left(16);
                x[cc] = x[cc].wrapping_add(x[d]);
                x[b] = (x[b] ^ x[cc]).rotate_left(12);
                x[a] = x[a].wrapping_add(x[b]);
                x[d] = (x[d] ^ x[a]).rotate_left(8);
                x[cc] = x[cc].wrapping_add(x[d]);
                x[b] = (x[b] ^ x[cc]).rotate_left(7);
            }
        }
        let mut out = [0u8; 64];
        for i in 0..16 {
            out[i * 4..i * 4 + 4].copy_from_slice(&x[i].wrapping_add(s[i]).to_le_bytes());
        }
        out
    }
}

pub fn seed_random(seed: &[u8; 32]) {
    let mut rng = RNG.lock();
    for i in 0..8 {
        rng.key[i] = u32::from_le_bytes([seed[i * 4], seed[i * 4 + 1], seed[i * 4 + 2], seed[i * 4 + 3]]);
    }
    // Mix in the TSC so that two runs with the same seed still differ.
    rng.key[0] ^= crate::time::rdtsc() as u32;
}

pub fn fill_random(out: &mut [u8]) {
    let mut rng = RNG.lock();
    for chunk in out.chunks_mut(64) {
        let b = rng.block();
        chunk.copy_from_slice(&b[..chunk.len()]);
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
        fill_random(&mut chunk[..n]);
        if uaccess::copy_to_user(buf + done, &chunk[..n]).is_err() {
            return if done > 0 { done as i64 } else { EFAULT };
        }
        done += n as u64;
    }
    len as i64
}
