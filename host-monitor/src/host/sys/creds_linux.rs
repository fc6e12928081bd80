//! Credentials of the calling host thread, on Linux: the raw system calls, which change
//! only the calling thread (the C library's setuid & co. change every thread of the
//! process by signalling them, which would change the monitor's other threads, and so the
//! program's other threads, too). The ids go to the kernel as the program gave them
//! (-1 included), so its checks and errnos are Linux's own.

use libc::{c_long, c_void};

use super::{check, SysResult};

/// A host thread's credentials, in the host's (here: Linux's) terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadCreds {
    /// Real, effective, saved set- and filesystem user id.
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub groups: Vec<u32>,
    /// Effective, permitted, inheritable and bounding sets.
    pub caps: [u64; 4],
    pub keepcaps: bool,
}

/// A raw system call with up to three integer arguments.
fn raw3(nr: c_long, a: u64, b: u64, c: u64) -> SysResult<i64> {
    // SAFETY: the calls made through this take integers only (no pointers).
    check(unsafe { libc::syscall(nr, a, b, c) })
}

pub fn thread_setuid(uid: u32) -> SysResult<()> {
    raw3(libc::SYS_setuid, uid.into(), 0, 0).map(drop)
}

pub fn thread_setgid(gid: u32) -> SysResult<()> {
    raw3(libc::SYS_setgid, gid.into(), 0, 0).map(drop)
}

pub fn thread_setreuid(r: u32, e: u32) -> SysResult<()> {
    raw3(libc::SYS_setreuid, r.into(), e.into(), 0).map(drop)
}

pub fn thread_setregid(r: u32, e: u32) -> SysResult<()> {
    raw3(libc::SYS_setregid, r.into(), e.into(), 0).map(drop)
}

pub fn thread_setresuid(r: u32, e: u32, s: u32) -> SysResult<()> {
    raw3(libc::SYS_setresuid, r.into(), e.into(), s.into()).map(drop)
}

pub fn thread_setresgid(r: u32, e: u32, s: u32) -> SysResult<()> {
    raw3(libc::SYS_setresgid, r.into(), e.into(), s.into()).map(drop)
}

/// setfsuid: the previous fs uid (the call never fails; an id it refuses is not taken).
pub fn thread_setfsuid(uid: u32) -> u32 {
    raw3(libc::SYS_setfsuid, uid.into(), 0, 0).unwrap_or(0) as u32
}

pub fn thread_setfsgid(gid: u32) -> u32 {
    raw3(libc::SYS_setfsgid, gid.into(), 0, 0).unwrap_or(0) as u32
}

pub fn thread_setgroups(groups: &[u32]) -> SysResult<()> {
    let ptr = if groups.is_empty() { std::ptr::null() } else { groups.as_ptr() };
    // SAFETY: ptr is NULL with a count of 0, or `groups` with its length.
    check(unsafe { libc::syscall(libc::SYS_setgroups, groups.len() as c_long, ptr) }).map(drop)
}

/// The kernel's capability header and version 3 data (two 32-bit halves per set).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const CAP_VERSION_3: u32 = 0x2008_0522;

/// capget of the calling thread (`tid` 0) or of another host thread or process:
/// (effective, permitted, inheritable).
pub fn thread_capget(tid: i32) -> SysResult<[u64; 3]> {
    let mut h = CapHeader { version: CAP_VERSION_3, pid: tid };
    let mut d = [CapData::default(); 2];
    // SAFETY: h and d are the header and the two data records version 3 reads and writes.
    check(unsafe { libc::syscall(libc::SYS_capget, &mut h as *mut CapHeader, d.as_mut_ptr() as *mut c_void) })?;
    let join = |f: fn(&CapData) -> u32| u64::from(f(&d[0])) | (u64::from(f(&d[1])) << 32);
    Ok([join(|d| d.effective), join(|d| d.permitted), join(|d| d.inheritable)])
}

/// capset of the calling thread.
pub fn thread_capset(effective: u64, permitted: u64, inheritable: u64) -> SysResult<()> {
    let mut h = CapHeader { version: CAP_VERSION_3, pid: 0 };
    let half = |v: u64, hi: bool| if hi { (v >> 32) as u32 } else { v as u32 };
    let d: [CapData; 2] = [false, true].map(|hi| CapData {
        effective: half(effective, hi),
        permitted: half(permitted, hi),
        inheritable: half(inheritable, hi),
    });
    // SAFETY: h and d are the header and two data records version 3 reads.
    check(unsafe { libc::syscall(libc::SYS_capset, &mut h as *mut CapHeader, d.as_ptr() as *const c_void) }).map(drop)
}

/// prctl(PR_SET_KEEPCAPS) of the calling thread.
pub fn thread_set_keepcaps(keep: bool) -> SysResult<()> {
    // SAFETY: PR_SET_KEEPCAPS takes integers only.
    check(unsafe { libc::prctl(libc::PR_SET_KEEPCAPS, u64::from(keep), 0u64, 0u64, 0u64) }).map(drop)
}

/// The process's dumpable flag (PR_GET_DUMPABLE).
pub fn dumpable() -> u32 {
    // SAFETY: PR_GET_DUMPABLE takes no pointers.
    unsafe { libc::prctl(libc::PR_GET_DUMPABLE, 0u64, 0u64, 0u64, 0u64) }.max(0) as u32
}

/// The calling thread's credentials.
pub fn thread_creds() -> ThreadCreds {
    let (mut r, mut e, mut s) = (0u32, 0u32, 0u32);
    // SAFETY: three valid out-pointers for the ids.
    unsafe { libc::syscall(libc::SYS_getresuid, &mut r as *mut u32, &mut e as *mut u32, &mut s as *mut u32) };
    // setfsuid(-1) changes nothing and says the current fs uid.
    let fsuid = thread_setfsuid(u32::MAX);
    let (mut rg, mut eg, mut sg) = (0u32, 0u32, 0u32);
    // SAFETY: as above.
    unsafe { libc::syscall(libc::SYS_getresgid, &mut rg as *mut u32, &mut eg as *mut u32, &mut sg as *mut u32) };
    let fsgid = thread_setfsgid(u32::MAX);
    let caps = thread_capget(0).unwrap_or_default();
    // SAFETY: PR_GET_KEEPCAPS takes no pointers.
    let keepcaps = unsafe { libc::prctl(libc::PR_GET_KEEPCAPS, 0u64, 0u64, 0u64, 0u64) } > 0;
    ThreadCreds {
        uids: [r, e, s, fsuid],
        gids: [rg, eg, sg, fsgid],
        groups: thread_groups(),
        caps: [caps[0], caps[1], caps[2], bounding_set()],
        keepcaps,
    }
}

/// The calling thread's supplementary groups (the raw call: per thread).
fn thread_groups() -> Vec<u32> {
    loop {
        // SAFETY: a count of 0 with NULL asks for the count only.
        let n = unsafe { libc::syscall(libc::SYS_getgroups, 0 as c_long, std::ptr::null_mut::<u32>()) };
        if n <= 0 {
            return Vec::new();
        }
        let mut v = vec![0u32; n as usize];
        // SAFETY: v has room for n ids.
        let got = unsafe { libc::syscall(libc::SYS_getgroups, n, v.as_mut_ptr()) };
        if got >= 0 {
            v.truncate(got as usize);
            return v;
        }
    }
}

/// The capabilities in the bounding set (PR_CAPBSET_READ of each until the kernel knows
/// no more).
fn bounding_set() -> u64 {
    let mut set = 0u64;
    for cap in 0..64u64 {
        // SAFETY: PR_CAPBSET_READ takes integers only.
        match unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap, 0u64, 0u64, 0u64) } {
            1 => set |= 1 << cap,
            0 => {}
            _ => break,
        }
    }
    set
}
