//! Credentials on hosts other than Linux (macOS and the unported): the BSD calls, which
//! change the whole process (these hosts have no per-thread ids through these calls), and
//! what they lack answered as Linux would answer a caller without the privilege:
//! - setresuid/setresgid map to setreuid/setregid when the saved id is left alone (-1) or
//!   equals the new effective one, else EPERM;
//! - setfsuid/setfsgid: the fs ids are the effective ones; a change is refused silently,
//!   as Linux refuses an unprivileged one (the call returns the previous fs id);
//! - capabilities: a root process (effective uid 0) has all, others none; capset is EPERM
//!   unless it changes nothing; PR_SET_KEEPCAPS is remembered and changes nothing.

use std::sync::atomic::{AtomicBool, Ordering};

use abi_shared::linux::errno;

use super::{check, SysResult};
use crate::host::LinuxErrno;

const EPERM: LinuxErrno = errno::EPERM as LinuxErrno;
const EINVAL: LinuxErrno = errno::EINVAL as LinuxErrno;
/// Linux's capabilities 0..=40.
const ALL_CAPS: u64 = (1 << 41) - 1;

/// A host thread's credentials, in Linux's terms.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ThreadCreds {
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub groups: Vec<u32>,
    pub caps: [u64; 4],
    pub keepcaps: bool,
}

static KEEPCAPS: AtomicBool = AtomicBool::new(false);

/// Linux's -1 ("unchanged") as the BSD calls spell it.
fn id(v: u32) -> libc::uid_t {
    v as libc::uid_t
}

/// Linux refuses -1 where an id is required.
fn valid(v: u32) -> SysResult<u32> {
    if v == u32::MAX {
        Err(EINVAL)
    } else {
        Ok(v)
    }
}

pub fn thread_setuid(uid: u32) -> SysResult<()> {
    let uid = valid(uid)?;
    // SAFETY: setuid takes an integer.
    check(unsafe { libc::setuid(id(uid)) }).map(drop)
}

pub fn thread_setgid(gid: u32) -> SysResult<()> {
    let gid = valid(gid)?;
    // SAFETY: setgid takes an integer.
    check(unsafe { libc::setgid(id(gid) as libc::gid_t) }).map(drop)
}

pub fn thread_setreuid(r: u32, e: u32) -> SysResult<()> {
    // SAFETY: setreuid takes integers.
    check(unsafe { libc::setreuid(id(r), id(e)) }).map(drop)
}

pub fn thread_setregid(r: u32, e: u32) -> SysResult<()> {
    // SAFETY: setregid takes integers.
    check(unsafe { libc::setregid(id(r) as libc::gid_t, id(e) as libc::gid_t) }).map(drop)
}

pub fn thread_setresuid(r: u32, e: u32, s: u32) -> SysResult<()> {
    // SAFETY: geteuid cannot fail.
    let new_e = if e == u32::MAX { unsafe { libc::geteuid() } } else { e };
    if s != u32::MAX && s != new_e {
        return Err(EPERM);
    }
    thread_setreuid(r, e)
}

pub fn thread_setresgid(r: u32, e: u32, s: u32) -> SysResult<()> {
    // SAFETY: getegid cannot fail.
    let new_e = if e == u32::MAX { unsafe { libc::getegid() } } else { e };
    if s != u32::MAX && s != new_e {
        return Err(EPERM);
    }
    thread_setregid(r, e)
}

pub fn thread_setfsuid(_uid: u32) -> u32 {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() }
}

pub fn thread_setfsgid(_gid: u32) -> u32 {
    // SAFETY: getegid cannot fail.
    unsafe { libc::getegid() }
}

pub fn thread_setgroups(groups: &[u32]) -> SysResult<()> {
    let list: Vec<libc::gid_t> = groups.iter().map(|&g| g as libc::gid_t).collect();
    // SAFETY: list holds list.len() ids.
    check(unsafe { libc::setgroups(list.len() as _, list.as_ptr()) }).map(drop)
}

fn caps() -> [u64; 3] {
    // SAFETY: geteuid/getuid cannot fail.
    let (euid, uid) = unsafe { (libc::geteuid(), libc::getuid()) };
    let effective = if euid == 0 { ALL_CAPS } else { 0 };
    let permitted = if euid == 0 || uid == 0 { ALL_CAPS } else { 0 };
    [effective, permitted, 0]
}

pub fn thread_capget(tid: i32) -> SysResult<[u64; 3]> {
    if tid != 0 {
        super::process_exists(tid)?;
        return Ok([0; 3]);
    }
    Ok(caps())
}

pub fn thread_capset(effective: u64, permitted: u64, inheritable: u64) -> SysResult<()> {
    if [effective, permitted, inheritable] == caps() {
        Ok(())
    } else {
        Err(EPERM)
    }
}

pub fn thread_set_keepcaps(keep: bool) -> SysResult<()> {
    KEEPCAPS.store(keep, Ordering::Relaxed);
    Ok(())
}

pub fn dumpable() -> u32 {
    1
}

pub fn thread_creds() -> ThreadCreds {
    // SAFETY: these cannot fail.
    let (uid, euid, gid, egid) = unsafe { (libc::getuid(), libc::geteuid(), libc::getgid(), libc::getegid()) };
    let mut groups: Vec<u32> = vec![0; 64];
    let n = super::getgroups(&mut groups).unwrap_or(0);
    groups.truncate(n);
    let [e, p, i] = caps();
    ThreadCreds {
        uids: [uid, euid, euid, euid],
        gids: [gid, egid, egid, egid],
        groups,
        caps: [e, p, i, ALL_CAPS],
        keepcaps: KEEPCAPS.load(Ordering::Relaxed),
    }
}
