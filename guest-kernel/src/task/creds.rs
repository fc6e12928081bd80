//! A thread's credentials, as the host thread behind it has them (the program is a host
//! process: the host changes and checks its ids, see host-monitor server/creds.rs). Linux
//! keeps credentials per thread, and so do we: each `Thread` caches its own, filled from
//! the startup block, completed from the host the first time a call needs more (the saved
//! and fs ids, groups, capabilities), and replaced by the host's answer to every change.
//! A new thread starts with its creator's (its host thread is made by the creator's).

use core::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use abi_shared::hypercall::{CredOp, CredState, Request, Response};

use super::Thread;

/// Some thread of the process has asked the host to change its credentials (since the
/// program started; a fork's child inherits the flag). Until then every host thread of the
/// process has the same credentials, so an ended thread's vCPU may start the next thread
/// inside the guest (task/threads.rs) without the monitor comparing them.
static EVER_CHANGED: AtomicBool = AtomicBool::new(false);

/// Whether a thread of the process may have credentials another does not have.
pub fn ever_changed() -> bool {
    EVER_CHANGED.load(Ordering::SeqCst)
}

pub struct Credentials {
    /// Real, effective, saved set- and filesystem user id.
    uids: [AtomicU32; 4],
    gids: [AtomicU32; 4],
    ngroups: AtomicU32,
    /// Effective, permitted, inheritable and bounding capability sets.
    caps: [AtomicU64; 4],
    keepcaps: AtomicBool,
    /// The fields beyond the startup block's real and effective ids are the host's (asked
    /// once, or set by a change).
    known: AtomicBool,
}

impl Credentials {
    pub const fn new() -> Credentials {
        Credentials {
            uids: [const { AtomicU32::new(0) }; 4],
            gids: [const { AtomicU32::new(0) }; 4],
            ngroups: AtomicU32::new(0),
            caps: [const { AtomicU64::new(0) }; 4],
            keepcaps: AtomicBool::new(false),
            known: AtomicBool::new(false),
        }
    }

    /// The startup block's ids (the saved and fs ones are taken to be the effective ones
    /// until the host is asked).
    pub fn init(&self, uid: u32, euid: u32, gid: u32, egid: u32) {
        for (slot, v) in self.uids.iter().zip([uid, euid, euid, euid]) {
            slot.store(v, Ordering::Relaxed);
        }
        for (slot, v) in self.gids.iter().zip([gid, egid, egid, egid]) {
            slot.store(v, Ordering::Relaxed);
        }
        self.known.store(false, Ordering::Relaxed);
    }

    pub fn copy_from(&self, other: &Credentials) {
        for (a, b) in self.uids.iter().zip(&other.uids) {
            a.store(b.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        for (a, b) in self.gids.iter().zip(&other.gids) {
            a.store(b.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        for (a, b) in self.caps.iter().zip(&other.caps) {
            a.store(b.load(Ordering::Relaxed), Ordering::Relaxed);
        }
        self.ngroups.store(other.ngroups.load(Ordering::Relaxed), Ordering::Relaxed);
        self.keepcaps.store(other.keepcaps.load(Ordering::Relaxed), Ordering::Relaxed);
        self.known.store(other.known.load(Ordering::Relaxed), Ordering::Relaxed);
    }

    fn store(&self, s: &CredState) {
        for (slot, v) in self.uids.iter().zip(s.uids) {
            slot.store(v, Ordering::Relaxed);
        }
        for (slot, v) in self.gids.iter().zip(s.gids) {
            slot.store(v, Ordering::Relaxed);
        }
        for (slot, v) in self.caps.iter().zip(s.caps) {
            slot.store(v, Ordering::Relaxed);
        }
        self.ngroups.store(s.ngroups, Ordering::Relaxed);
        self.keepcaps.store(s.keepcaps, Ordering::Relaxed);
        self.known.store(true, Ordering::Relaxed);
    }

    #[inline]
    pub fn uid(&self) -> u32 {
        self.uids[0].load(Ordering::Relaxed)
    }

    #[inline]
    pub fn euid(&self) -> u32 {
        self.uids[1].load(Ordering::Relaxed)
    }

    #[inline]
    pub fn gid(&self) -> u32 {
        self.gids[0].load(Ordering::Relaxed)
    }

    #[inline]
    pub fn egid(&self) -> u32 {
        self.gids[1].load(Ordering::Relaxed)
    }
}

/// Ask the host for the running thread's credentials if they are not known yet.
fn ensure_known(t: &Thread) {
    if !t.creds.known.load(Ordering::Relaxed) {
        if let Response::Creds(s) = crate::hypercall::call(&Request::Creds { op: CredOp::Get }) {
            t.creds.store(&s);
        }
    }
}

/// The running thread's (real, effective, saved, fs) user ids.
pub fn uids() -> [u32; 4] {
    let t = super::current();
    ensure_known(t);
    t.creds.uids.each_ref().map(|a| a.load(Ordering::Relaxed))
}

pub fn gids() -> [u32; 4] {
    let t = super::current();
    ensure_known(t);
    t.creds.gids.each_ref().map(|a| a.load(Ordering::Relaxed))
}

/// (effective, permitted, inheritable, bounding) capability sets.
pub fn caps() -> [u64; 4] {
    let t = super::current();
    ensure_known(t);
    t.creds.caps.each_ref().map(|a| a.load(Ordering::Relaxed))
}

/// Make the running thread's credentials known (once per process lifetime at most: a new
/// thread copies them, and /proc shows one thread's to another).
pub fn make_known() {
    ensure_known(super::current());
}

/// Thread `t`'s (uids, gids, capability sets), if known (a thread's are known once it or
/// the thread that created it asked the host).
pub fn of_thread(t: &Thread) -> Option<([u32; 4], [u32; 4], [u64; 4])> {
    let c = &t.creds;
    c.known.load(Ordering::Relaxed).then(|| {
        (
            c.uids.each_ref().map(|a| a.load(Ordering::Relaxed)),
            c.gids.each_ref().map(|a| a.load(Ordering::Relaxed)),
            c.caps.each_ref().map(|a| a.load(Ordering::Relaxed)),
        )
    })
}

pub fn ngroups() -> u32 {
    let t = super::current();
    ensure_known(t);
    t.creds.ngroups.load(Ordering::Relaxed)
}

pub fn keepcaps() -> bool {
    let t = super::current();
    ensure_known(t);
    t.creds.keepcaps.load(Ordering::Relaxed)
}

/// What a credential call changed, for the dumpable flag (Linux's commit_creds resets it
/// when an effective or fs id changes, or the permitted capabilities grow).
fn resets_dumpable(before: &CredState, after: &CredState) -> bool {
    before.uids[1] != after.uids[1]
        || before.uids[3] != after.uids[3]
        || before.gids[1] != after.gids[1]
        || before.gids[3] != after.gids[3]
        || after.caps[1] & !before.caps[1] != 0
}

fn snapshot(t: &Thread) -> CredState {
    CredState {
        uids: t.creds.uids.each_ref().map(|a| a.load(Ordering::Relaxed)),
        gids: t.creds.gids.each_ref().map(|a| a.load(Ordering::Relaxed)),
        caps: t.creds.caps.each_ref().map(|a| a.load(Ordering::Relaxed)),
        ..Default::default()
    }
}

/// Make the credential call `op` on the host for the running thread and cache what the
/// host thread has afterwards: the call's result (0, setfsuid's previous id, or -errno).
pub fn change(op: CredOp<'_>) -> i64 {
    // Before the call: a thread created from now on must not take an ended one's vCPU
    // in the guest (whose host thread may have the old credentials).
    EVER_CHANGED.store(true, Ordering::SeqCst);
    let t = super::current();
    ensure_known(t);
    let before = snapshot(t);
    match crate::hypercall::call(&Request::Creds { op }) {
        Response::Creds(s) => {
            if resets_dumpable(&before, &s) {
                super::set_dumpable(s.dumpable);
            }
            t.creds.store(&s);
            s.ret
        }
        Response::Malformed(abi_shared::hypercall::MalformedReason::BadGuestAddress) => {
            -(abi_shared::linux::errno::EFAULT as i64)
        }
        _ => -(abi_shared::linux::errno::EINVAL as i64),
    }
}

/// capget of another task (a thread or process id that is not the running thread's):
/// (effective, permitted, inheritable) or -errno.
pub fn capget_other(tid: i32) -> Result<[u64; 3], i64> {
    match crate::hypercall::call(&Request::Creds { op: CredOp::CapgetOther(tid) }) {
        Response::Creds(s) if s.ret < 0 => Err(s.ret),
        Response::Creds(s) => Ok([s.caps[0], s.caps[1], s.caps[2]]),
        _ => Err(-(abi_shared::linux::errno::EINVAL as i64)),
    }
}

/// A Linux program was executed: the host thread's credentials change as Linux's execve
/// changes them (saved ids from the effective ones; see the monitor). Only asked when
/// something would change.
pub fn exec() {
    let t = super::current();
    if !t.creds.known.load(Ordering::Relaxed) {
        // Never changed by the program: the host process's own, which exec keeps.
        return;
    }
    let s = snapshot(t);
    let nonroot = s.uids[0] != 0 && s.uids[1] != 0;
    let keep = t.creds.keepcaps.load(Ordering::Relaxed);
    if s.uids[2] != s.uids[1] || s.gids[2] != s.gids[1] || keep || (nonroot && (s.caps[0] | s.caps[1]) != 0) {
        change(CredOp::Exec);
    }
}
