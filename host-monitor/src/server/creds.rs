//! Credentials (`Request::Creds`): the program is a host process, so its ids, groups and
//! capabilities are the host's, changed with the host's rules (EPERM where the host
//! refuses) and answered with what the host thread has afterwards, for the guest to cache.
//!
//! Credentials are per thread on Linux (glibc's setuid makes every thread make the raw
//! call). A Linux thread's host-side work is done by host threads, and each of them must
//! act with that thread's credentials:
//! - a thread's own vCPU thread serves every request of a thread other than the first,
//!   and credential calls of every thread (the guest sends them by exit): the host's
//!   per-thread call changes exactly that host thread;
//! - the first vCPU's requests are also served by its hypercall worker (worker.rs): every
//!   change the first vCPU's thread makes is kept here, and the worker makes the same
//!   calls on itself before it serves its next request (`follow_first_vcpu`); a new worker
//!   starts from its creator, the first vCPU's thread, with nothing to follow;
//! - a new thread's host thread is created by its creator's vCPU thread and inherits its
//!   credentials; an idle one left by an ended thread is reused only when its credentials
//!   are its creator's (threads.rs).

use std::cell::Cell;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use abi_shared::hypercall::{CredOp, CredState, MalformedReason, Response};
use abi_shared::linux::errno;

use crate::guest_mem::GuestMemory;
use crate::host::sys::{self, SysResult};
use crate::host::LinuxErrno;

/// Linux's NGROUPS_MAX.
const NGROUPS_MAX: u64 = abi_shared::linux::general::NGROUPS_MAX as u64;

/// A credential change, as the host thread made it (and another may make it again).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Change {
    Setuid(u32),
    Setgid(u32),
    Setreuid(u32, u32),
    Setregid(u32, u32),
    Setresuid(u32, u32, u32),
    Setresgid(u32, u32, u32),
    Setfsuid(u32),
    Setfsgid(u32),
    Setgroups(Vec<u32>),
    Capset(u64, u64, u64),
    Keepcaps(bool),
    Exec,
}

/// Make `change` on the calling host thread: the call's result (setfsuid/setfsgid: the
/// previous fs id).
pub fn apply(change: &Change) -> SysResult<i64> {
    match change {
        Change::Setuid(u) => sys::thread_setuid(*u).map(|()| 0),
        Change::Setgid(g) => sys::thread_setgid(*g).map(|()| 0),
        Change::Setreuid(r, e) => sys::thread_setreuid(*r, *e).map(|()| 0),
        Change::Setregid(r, e) => sys::thread_setregid(*r, *e).map(|()| 0),
        Change::Setresuid(r, e, s) => sys::thread_setresuid(*r, *e, *s).map(|()| 0),
        Change::Setresgid(r, e, s) => sys::thread_setresgid(*r, *e, *s).map(|()| 0),
        Change::Setfsuid(u) => Ok(i64::from(sys::thread_setfsuid(*u))),
        Change::Setfsgid(g) => Ok(i64::from(sys::thread_setfsgid(*g))),
        Change::Setgroups(list) => sys::thread_setgroups(list).map(|()| 0),
        Change::Capset(e, p, i) => sys::thread_capset(*e, *p, *i).map(|()| 0),
        Change::Keepcaps(k) => sys::thread_set_keepcaps(*k).map(|()| 0),
        Change::Exec => {
            exec();
            Ok(0)
        }
    }
}

/// What Linux's execve does to the credentials of a program without set-id bits or file
/// capabilities: the saved ids become the effective ones, keep-capabilities is cleared,
/// and a process with no uid 0 keeps no permitted or effective capability.
fn exec() {
    let now = sys::thread_creds();
    let (uids, gids) = (now.uids, now.gids);
    if uids[2] != uids[1] {
        let _ = sys::thread_setresuid(u32::MAX, u32::MAX, uids[1]);
    }
    if gids[2] != gids[1] {
        let _ = sys::thread_setresgid(u32::MAX, u32::MAX, gids[1]);
    }
    if now.keepcaps {
        let _ = sys::thread_set_keepcaps(false);
    }
    if uids[0] != 0 && uids[1] != 0 && (now.caps[0] | now.caps[1]) != 0 {
        let _ = sys::thread_capset(0, 0, now.caps[2]);
    }
}

/// Give the calling host thread the credentials `target` (another host thread's), as far as
/// the host lets it: a thread that execs becomes the process's first and its vCPU moves to
/// the first vCPU's host thread (threads.rs, `Handover`), which is to act with the exec'ing
/// thread's credentials from then on. Groups and group ids first, while the thread may
/// still be privileged, the user ids with the capabilities kept across them, then the
/// capabilities themselves. Returns whether the thread has `target` now (the bounding set,
/// which can only shrink, is left as it is).
pub fn take_on(target: &sys::ThreadCreds) -> bool {
    let same = |now: &sys::ThreadCreds| {
        now.uids == target.uids
            && now.gids == target.gids
            && now.groups == target.groups
            && now.caps[..3] == target.caps[..3]
            && now.keepcaps == target.keepcaps
    };
    if same(&sys::thread_creds()) {
        return true;
    }
    let (u, g, c) = (target.uids, target.gids, target.caps);
    let _ = sys::thread_setgroups(&target.groups);
    let _ = sys::thread_setresgid(g[0], g[1], g[2]);
    let _ = sys::thread_setfsgid(g[3]);
    let _ = sys::thread_set_keepcaps(true);
    let _ = sys::thread_setresuid(u[0], u[1], u[2]);
    let _ = sys::thread_setfsuid(u[3]);
    let _ = sys::thread_capset(c[0], c[1], c[2]);
    let _ = sys::thread_set_keepcaps(target.keepcaps);
    same(&sys::thread_creds())
}

thread_local! {
    /// This host thread runs the first vCPU (set once by `Machine::run`).
    static FIRST_VCPU_THREAD: Cell<bool> = const { Cell::new(false) };
}

/// The calling thread runs the first vCPU: its credential changes are followed by the
/// hypercall worker.
pub fn mark_first_vcpu_thread() {
    FIRST_VCPU_THREAD.with(|c| c.set(true));
}

/// The changes the first vCPU's thread made that its hypercall worker has yet to make.
#[derive(Default, Debug)]
pub struct FirstVcpuChanges {
    pending: AtomicBool,
    changes: Mutex<Vec<Change>>,
}

impl FirstVcpuChanges {
    fn push(&self, change: Change) {
        super::lock(&self.changes).push(change);
        self.pending.store(true, Ordering::Release);
    }

    /// The worker: make the changes the first vCPU's thread made since it last looked.
    pub fn follow(&self) {
        if !self.pending.load(Ordering::Acquire) {
            return;
        }
        self.pending.store(false, Ordering::Relaxed);
        let changes = std::mem::take(&mut *super::lock(&self.changes));
        for c in &changes {
            if let Err(e) = apply(c) {
                log::warn!("the hypercall worker could not follow the credential change {c:?}: errno {e}");
            }
        }
    }

    /// A new worker starts with its creator's credentials: nothing to follow.
    pub fn forget(&self) {
        super::lock(&self.changes).clear();
        self.pending.store(false, Ordering::Relaxed);
    }
}

/// The supplementary groups setgroups names: u32s in guest memory (at most NGROUPS_MAX,
/// which the caller checked).
fn groups(mem: &GuestMemory, segs: &[abi_shared::hypercall::GuestSeg]) -> Result<Vec<u32>, MalformedReason> {
    let mut bytes = Vec::new();
    for s in segs {
        bytes.extend_from_slice(&mem.read_vec(s.gpa, s.len).map_err(|_| MalformedReason::BadGuestAddress)?);
    }
    if bytes.len() % 4 != 0 {
        return Err(MalformedReason::BadLength);
    }
    Ok(bytes.chunks_exact(4).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect())
}

/// `Request::Creds`, on the host thread that serves the calling vCPU.
pub fn handle(first: &FirstVcpuChanges, mem: &GuestMemory, op: &CredOp<'_>) -> Response {
    let change = match op {
        CredOp::Get => None,
        CredOp::CapgetOther(tid) => {
            return match sys::thread_capget(*tid) {
                Ok([e, p, i]) => Response::Creds(CredState { caps: [e, p, i, 0], ..Default::default() }),
                Err(e) => Response::Creds(CredState { ret: -i64::from(e), ..Default::default() }),
            };
        }
        CredOp::Setuid(u) => Some(Change::Setuid(*u)),
        CredOp::Setgid(g) => Some(Change::Setgid(*g)),
        CredOp::Setreuid(r, e) => Some(Change::Setreuid(*r, *e)),
        CredOp::Setregid(r, e) => Some(Change::Setregid(*r, *e)),
        CredOp::Setresuid(r, e, s) => Some(Change::Setresuid(*r, *e, *s)),
        CredOp::Setresgid(r, e, s) => Some(Change::Setresgid(*r, *e, *s)),
        CredOp::Setfsuid(u) => Some(Change::Setfsuid(*u)),
        CredOp::Setfsgid(g) => Some(Change::Setfsgid(*g)),
        CredOp::Setgroups(segs) if segs.total_len().is_none_or(|n| n > NGROUPS_MAX * 4) => {
            return Response::Creds(CredState { ret: -i64::from(errno::EINVAL), ..state(0) });
        }
        CredOp::Setgroups(segs) => match groups(mem, segs.as_slice()) {
            Ok(list) => Some(Change::Setgroups(list)),
            Err(why) => return Response::Malformed(why),
        },
        CredOp::Capset { effective, permitted, inheritable } => {
            Some(Change::Capset(*effective, *permitted, *inheritable))
        }
        CredOp::Keepcaps(k) => Some(Change::Keepcaps(*k)),
        CredOp::Exec => Some(Change::Exec),
    };
    let ret = match &change {
        None => Ok(0),
        Some(c) => apply(c),
    };
    if let (Ok(_), Some(c)) = (&ret, change) {
        if FIRST_VCPU_THREAD.with(Cell::get) {
            first.push(c);
        }
    }
    Response::Creds(state(ret.unwrap_or_else(|e: LinuxErrno| -i64::from(e))))
}

/// The calling host thread's credentials, with a call's result.
fn state(ret: i64) -> CredState {
    let t = sys::thread_creds();
    CredState {
        ret,
        uids: t.uids,
        gids: t.gids,
        ngroups: t.groups.len() as u32,
        caps: t.caps,
        keepcaps: t.keepcaps,
        dumpable: sys::dumpable(),
    }
}
