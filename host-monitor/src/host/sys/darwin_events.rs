//! epoll, eventfd and timerfd on macOS, which has kqueue instead (the rules and the
//! arithmetic are in `host/event_emul.rs`, tested on every host; the eventfd object in
//! `emul_eventfd.rs`, tested on Linux).
//!
//! Every emulated descriptor is a host descriptor with the program's number, so close,
//! dup, poll, select and the close-on-exec sweep work on it as on any other:
//! - an epoll set is a kqueue; its interest list (`EpollSet`) is kept here;
//! - a timerfd is a kqueue holding one EVFILT_TIMER (ident 1), armed one-shot for the
//!   next expiry: the kqueue is readable once the timer fired, which poll, select and an
//!   epoll set (a kqueue watching a kqueue) see;
//! - an eventfd is one end of a socketpair (`emul_eventfd.rs`).
//!
//! The registry maps each of the program's numbers that names one of these to its object
//! (duplicates share one), kept by the hooks the server calls where numbers change
//! (`emulated_dup`, `emulated_closed`, `emulated_prune` after close_range and exec's
//! sweep) and consulted by read and write (`emulated_read`, `emulated_write`): these
//! descriptors are never read raw. macOS does not let a fork child inherit a kqueue, so
//! the child makes each epoll set and timerfd anew at the same numbers, from the registry
//! (`emulated_after_fork`): from then on parent and child have separate copies (Linux
//! shares one set and one timer; see docs/macos.md).

use std::collections::BTreeMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use libc::c_int;

use super::emul_eventfd::Eventfd;
use super::{check, fd_flags, fstat, set_fd_flags, status_flags, SysResult};
use crate::host::darwin_tables::{clock_id_to_darwin, kq};
use crate::host::event_emul::{self as emul, Change, EpollSet, Fired, Target, Timer};
use crate::host::{errno_to_linux, LinuxErrno};
use crate::own_fd::HeldFd;
use abi_shared::linux::errno;

const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;
const EINVAL: LinuxErrno = errno::EINVAL as LinuxErrno;
const ESPIPE: LinuxErrno = errno::ESPIPE as LinuxErrno;
const EAGAIN: LinuxErrno = errno::EAGAIN as LinuxErrno;
/// The ident of a timerfd's one timer in its kqueue.
const TIMER_IDENT: c_int = 1;

struct Epoll {
    set: EpollSet,
    /// Tells sets apart for the nesting rule (duplicates share one).
    id: u64,
}

struct TimerFd {
    timer: Timer,
    /// The Linux clock id.
    clock: i32,
    nonblock: bool,
}

#[derive(Clone)]
enum Obj {
    Epoll(Arc<Mutex<Epoll>>),
    Eventfd(Arc<Eventfd<HeldFd>>),
    Timer(Arc<Mutex<TimerFd>>),
}

impl Obj {
    fn ptr(&self) -> usize {
        match self {
            Obj::Epoll(a) => Arc::as_ptr(a) as usize,
            Obj::Eventfd(a) => Arc::as_ptr(a) as usize,
            Obj::Timer(a) => Arc::as_ptr(a) as usize,
        }
    }
}

struct Slot {
    obj: Obj,
    /// Close-on-exec as made (a fork child's new kqueue gets it back).
    cloexec: bool,
}

static REGISTRY: Mutex<BTreeMap<c_int, Slot>> = Mutex::new(BTreeMap::new());
/// Whether the registry has ever had an entry: reads of every other descriptor skip the lock.
static ANY: AtomicBool = AtomicBool::new(false);
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn lookup(fd: c_int) -> Option<Obj> {
    if !ANY.load(Ordering::Relaxed) {
        return None;
    }
    lock(&REGISTRY).get(&fd).map(|s| s.obj.clone())
}

fn register(fd: c_int, obj: Obj, cloexec: bool) {
    lock(&REGISTRY).insert(fd, Slot { obj, cloexec });
    ANY.store(true, Ordering::Relaxed);
}

fn kevent_of(ident: c_int, filter: i16, flags: u16, fflags: u32, data: isize) -> libc::kevent {
    libc::kevent { ident: ident as libc::uintptr_t, filter, flags, fflags, data, udata: std::ptr::null_mut() }
}

const NO_WAIT: libc::timespec = libc::timespec { tv_sec: 0, tv_nsec: 0 };

/// Make kevent changes on `kq`, each reporting its own result (EV_RECEIPT). A delete of a
/// filter that is already gone (its descriptor closed and reopened) is no error.
fn apply(kq: c_int, changes: &[libc::kevent]) -> SysResult<()> {
    if changes.is_empty() {
        return Ok(());
    }
    let list: Vec<libc::kevent> =
        changes.iter().map(|k| libc::kevent { flags: k.flags | libc::EV_RECEIPT, ..*k }).collect();
    let mut out = list.clone();
    let n = list.len() as c_int;
    // SAFETY: `list` and `out` hold `n` kevents each; the timeout is a valid timespec.
    let got = check(unsafe { libc::kevent(kq, list.as_ptr(), n, out.as_mut_ptr(), n, &NO_WAIT) })? as usize;
    for (r, asked) in out[..got].iter().zip(&list) {
        let e = r.data as c_int;
        if r.flags & libc::EV_ERROR != 0 && e != 0 && !(asked.flags & libc::EV_DELETE != 0 && e == libc::ENOENT) {
            return Err(errno_to_linux(e));
        }
    }
    Ok(())
}

fn epoll_changes(changes: &[Change]) -> Vec<libc::kevent> {
    changes.iter().map(|&(fd, filter, flags)| kevent_of(fd, filter, flags, 0, 0)).collect()
}

fn new_kqueue() -> SysResult<c_int> {
    // SAFETY: kqueue takes no arguments.
    Ok(check(unsafe { libc::kqueue() })? as c_int)
}

fn set_cloexec(fd: c_int, cloexec: bool) {
    let _ = set_fd_flags(fd, if cloexec { libc::FD_CLOEXEC } else { 0 });
}

// ---------------------------------------------------------------------------------------
// epoll

/// epoll_create1: a kqueue at the lowest free number.
pub fn epoll_create(cloexec: bool) -> SysResult<c_int> {
    let kq = new_kqueue()?;
    set_cloexec(kq, cloexec);
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    register(kq, Obj::Epoll(Arc::new(Mutex::new(Epoll { set: EpollSet::default(), id }))), cloexec);
    Ok(kq)
}

/// What `fd` is for the epoll rules (EBADF if it is not open).
fn target_of(fd: c_int) -> SysResult<Target> {
    match lookup(fd) {
        Some(Obj::Epoll(_) | Obj::Timer(_)) => return Ok(Target::Kqueue),
        Some(Obj::Eventfd(_)) => return Ok(Target::Socket),
        None => {}
    }
    let st = fstat(fd)?;
    Ok(match st.st_mode & libc::S_IFMT {
        libc::S_IFREG | libc::S_IFDIR => Target::Regular,
        libc::S_IFSOCK => Target::Socket,
        _ => Target::Stream,
    })
}

/// The epoll sets each set watches, by id (for the nesting rule).
fn nesting_graph() -> BTreeMap<u64, Vec<u64>> {
    let slots: Vec<(c_int, Arc<Mutex<Epoll>>)> = lock(&REGISTRY)
        .iter()
        .filter_map(|(&fd, s)| match &s.obj {
            Obj::Epoll(e) => Some((fd, e.clone())),
            _ => None,
        })
        .collect();
    let ids: BTreeMap<c_int, u64> = slots.iter().map(|(fd, e)| (*fd, lock(e).id)).collect();
    let mut graph = BTreeMap::new();
    for (_, e) in &slots {
        let e = lock(e);
        let inside = e.set.entries.keys().filter_map(|fd| ids.get(fd).copied()).collect();
        graph.insert(e.id, inside);
    }
    graph
}

/// epoll_ctl with Linux's rules and order of checks.
pub fn epoll_ctl(epfd: c_int, op: c_int, fd: c_int, events: u32, data: u64) -> SysResult<()> {
    fd_flags(epfd)?;
    let target = target_of(fd)?;
    let Some(Obj::Epoll(ep)) = lookup(epfd) else {
        return Err(if target == Target::Regular { errno::EPERM as LinuxErrno } else { EINVAL });
    };
    if target != Target::Regular && op == crate::host::darwin_tables::EPOLL_CTL_ADD {
        if let Some(Obj::Epoll(child)) = lookup(fd) {
            // One lock at a time: `child` may be `ep` itself (a duplicate of the set).
            let parent_id = lock(&ep).id;
            let child_id = lock(&child).id;
            if parent_id == child_id {
                // A duplicate of the set itself: the same file, as Linux sees it.
                return Err(EINVAL);
            }
            let graph = nesting_graph();
            let inside = |x: u64| graph.get(&x).cloned().unwrap_or_default();
            if let Some(e) = emul::nesting_error(parent_id, child_id, &inside) {
                return Err(e as LinuxErrno);
            }
        }
    }
    let mut set = lock(&ep);
    let ctl = set.set.ctl(epfd, op, fd, events, data, target).map_err(|e| e as LinuxErrno)?;
    apply(epfd, &epoll_changes(&ctl.changes))?;
    set.set.commit(ctl);
    Ok(())
}

/// epoll_wait for at most `max` records (negative timeout: none). A signal ends it with
/// EINTR, as the guest expects.
pub fn epoll_wait(epfd: c_int, max: usize, timeout_ms: c_int) -> SysResult<Vec<(u32, u64)>> {
    let Some(Obj::Epoll(ep)) = lookup(epfd) else {
        fd_flags(epfd)?;
        return Err(EINVAL);
    };
    let mut out = vec![kevent_of(0, 0, 0, 0, 0); max.max(1)];
    let ts = libc::timespec {
        tv_sec: libc::time_t::from(timeout_ms.max(0) / 1000),
        tv_nsec: libc::c_long::from(timeout_ms.max(0) % 1000) * 1_000_000,
    };
    let timeout = if timeout_ms < 0 { std::ptr::null() } else { &ts as *const libc::timespec };
    // SAFETY: `out` has room for `out.len()` kevents; no changes; the timeout is null or
    // a valid timespec.
    let n = check(unsafe { libc::kevent(epfd, std::ptr::null(), 0, out.as_mut_ptr(), out.len() as c_int, timeout) })?
        as usize;
    let fired: Vec<Fired> =
        out[..n].iter().map(|k| (k.ident as c_int, k.filter, k.flags, k.fflags, k.data as i64)).collect();
    let mut set = lock(&ep);
    let (records, after) = set.set.merge(&fired, max);
    // Disabling the other filter of a oneshot entry; one already gone is no matter.
    let _ = apply(epfd, &epoll_changes(&after));
    Ok(records)
}

// ---------------------------------------------------------------------------------------
// eventfd

/// eventfd2: the program's end of a new socketpair; the monitor's end above `floor`.
pub fn eventfd(initval: u32, flags: c_int, floor: c_int) -> SysResult<c_int> {
    let (nonblock, cloexec, semaphore) = emul::eventfd_flags(flags).map_err(|e| e as LinuxErrno)?;
    let keep = |peer: OwnedFd| -> SysResult<HeldFd> {
        let moved = crate::startup::with_fd_room(|| super::move_above_floor(peer, floor))
            .map_err(|e| errno_to_linux(e.raw_os_error().unwrap_or(libc::EMFILE)))?;
        Ok(HeldFd::new(moved))
    };
    let (efd, mine) = Eventfd::new(initval, semaphore, keep)?;
    let fd = mine.as_raw_fd();
    if nonblock {
        super::set_status_flags(fd, status_flags(fd)? | libc::O_NONBLOCK)?;
    }
    set_cloexec(fd, cloexec);
    register(fd, Obj::Eventfd(Arc::new(efd)), cloexec);
    // The number is the program's now; the registry (and the program's close) owns it.
    std::mem::forget(mine);
    Ok(fd)
}

// ---------------------------------------------------------------------------------------
// timerfd

/// The time of a timerfd's clock, in nanoseconds.
fn now_ns(clock: i32) -> u64 {
    let id: libc::clockid_t = clock_id_to_darwin(clock).unwrap_or(libc::CLOCK_UPTIME_RAW);
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: `ts` is a valid out-pointer.
    unsafe { libc::clock_gettime(id, &mut ts) };
    (ts.tv_sec.max(0) as u64).saturating_mul(1_000_000_000).saturating_add(ts.tv_nsec.max(0) as u64)
}

/// Arm the kqueue `kq` for the timer's next expiry (one-shot), dropping whatever was
/// armed or had fired: the kqueue is readable once the new expiry passes.
fn arm(kq: c_int, t: &Timer, now: u64) -> SysResult<()> {
    let mut changes = vec![kevent_of(TIMER_IDENT, libc::EVFILT_TIMER, libc::EV_DELETE, 0, 0)];
    if let Some(ns) = t.until_next(now) {
        let ns = ns.clamp(1, isize::MAX as u64) as isize;
        changes.push(kevent_of(
            TIMER_IDENT,
            libc::EVFILT_TIMER,
            libc::EV_ADD | libc::EV_ONESHOT,
            libc::NOTE_NSECONDS,
            ns,
        ));
    }
    apply(kq, &changes)
}

pub fn timerfd_create(clock: c_int, flags: c_int) -> SysResult<c_int> {
    let (nonblock, cloexec) = emul::timerfd_create_check(clock, flags).map_err(|e| e as LinuxErrno)?;
    let kq = new_kqueue()?;
    set_cloexec(kq, cloexec);
    let t = TimerFd { timer: Timer::default(), clock, nonblock };
    register(kq, Obj::Timer(Arc::new(Mutex::new(t))), cloexec);
    Ok(kq)
}

fn timer_of(fd: c_int) -> SysResult<Arc<Mutex<TimerFd>>> {
    match lookup(fd) {
        Some(Obj::Timer(t)) => Ok(t),
        _ => {
            fd_flags(fd)?;
            Err(EINVAL)
        }
    }
}

pub fn timerfd_settime(fd: c_int, flags: c_int, new: &[i64; 4]) -> SysResult<[i64; 4]> {
    let t = timer_of(fd)?;
    let mut t = lock(&t);
    let now = now_ns(t.clock);
    let old = t.timer.set(now, flags, new).map_err(|e| e as LinuxErrno)?;
    arm(fd, &t.timer, now)?;
    Ok(old)
}

pub fn timerfd_gettime(fd: c_int) -> SysResult<[i64; 4]> {
    let t = timer_of(fd)?;
    let mut t = lock(&t);
    let now = now_ns(t.clock);
    Ok(t.timer.get(now))
}

/// A timerfd read: the expirations since the last read, waiting for one unless
/// nonblocking.
fn timer_read(fd: c_int, t: &Mutex<TimerFd>) -> SysResult<u64> {
    loop {
        {
            let mut t = lock(t);
            let now = now_ns(t.clock);
            if let Some(n) = t.timer.take(now) {
                arm(fd, &t.timer, now)?;
                return Ok(n);
            }
            // Not yet (or the kqueue fired a moment early): arm again, so that the
            // kqueue is readable exactly when a read will succeed.
            arm(fd, &t.timer, now)?;
            if t.nonblock {
                return Err(EAGAIN);
            }
        }
        let mut ev = kevent_of(0, 0, 0, 0, 0);
        // SAFETY: one writable kevent, no changes, no timeout (a signal ends the wait).
        check(unsafe { libc::kevent(fd, std::ptr::null(), 0, &mut ev, 1, std::ptr::null()) })?;
    }
}

// ---------------------------------------------------------------------------------------
// The server's hooks

/// read(2) (readv, pread) of an emulated descriptor; None for any other.
///
/// # Safety
/// Every iovec must name writable memory that stays mapped for the call (checked guest
/// RAM, from `GuestMemory::iovecs`).
pub unsafe fn emulated_read(fd: c_int, iov: &[libc::iovec], offset: Option<i64>) -> Option<SysResult<i64>> {
    let obj = lookup(fd)?;
    let total: usize = iov.iter().map(|v| v.iov_len).sum();
    let value = match obj {
        Obj::Epoll(_) => return Some(Err(EINVAL)),
        _ if offset.is_some() => return Some(Err(ESPIPE)),
        _ if total < 8 => return Some(Err(EINVAL)),
        Obj::Eventfd(e) => {
            let nonblock = status_flags(fd).map(|f| f & libc::O_NONBLOCK != 0).unwrap_or(false);
            e.read(fd, nonblock)
        }
        Obj::Timer(t) => timer_read(fd, &t),
    };
    Some(value.map(|v| {
        let mut bufs: Vec<&mut [u8]> = iov
            .iter()
            .filter(|v| v.iov_len > 0)
            // SAFETY: the caller's contract: each iovec is writable mapped memory.
            .map(|v| unsafe { std::slice::from_raw_parts_mut(v.iov_base.cast::<u8>(), v.iov_len) })
            .collect();
        emul::scatter(v, &mut bufs);
        8
    }))
}

/// write(2) (writev, pwrite) of an emulated descriptor; None for any other.
///
/// # Safety
/// Every iovec must name readable memory that stays mapped for the call.
pub unsafe fn emulated_write(fd: c_int, iov: &[libc::iovec], offset: Option<i64>) -> Option<SysResult<i64>> {
    let obj = lookup(fd)?;
    let Obj::Eventfd(e) = obj else { return Some(Err(EINVAL)) };
    if offset.is_some() {
        return Some(Err(ESPIPE));
    }
    let bufs: Vec<&[u8]> = iov
        .iter()
        .filter(|v| v.iov_len > 0)
        // SAFETY: the caller's contract: each iovec is readable mapped memory.
        .map(|v| unsafe { std::slice::from_raw_parts(v.iov_base.cast::<u8>(), v.iov_len) })
        .collect();
    let Some(value) = emul::gather(&bufs) else { return Some(Err(EINVAL)) };
    let nonblock = status_flags(fd).map(|f| f & libc::O_NONBLOCK != 0).unwrap_or(false);
    Some(e.write(fd, value, nonblock).map(|()| 8))
}

/// F_GETFL / F_SETFL of an emulated kqueue (epoll set, timerfd), whose O_NONBLOCK is
/// kept here: Some(nonblocking now) after applying `set`; None for any other descriptor.
pub fn emulated_nonblock(fd: c_int, set: Option<bool>) -> Option<bool> {
    match lookup(fd)? {
        Obj::Timer(t) => {
            let mut t = lock(&t);
            if let Some(nb) = set {
                t.nonblock = nb;
            }
            Some(t.nonblock)
        }
        // An epoll set's O_NONBLOCK changes nothing (epoll_wait has its own timeout).
        Obj::Epoll(_) => Some(set.unwrap_or(false)),
        Obj::Eventfd(_) => None,
    }
}

/// `fd` was closed (or replaced by dup2): it names nothing emulated any more, and no
/// epoll set watches it (the kqueues dropped its filters with the number).
pub fn emulated_closed(fd: c_int) {
    if !ANY.load(Ordering::Relaxed) {
        return;
    }
    let (gone, sets) = {
        let mut reg = lock(&REGISTRY);
        let gone = reg.remove(&fd);
        let sets: Vec<Arc<Mutex<Epoll>>> = reg
            .values()
            .filter_map(|s| match &s.obj {
                Obj::Epoll(e) => Some(e.clone()),
                _ => None,
            })
            .collect();
        (gone, sets)
    };
    for s in sets {
        lock(&s).set.forget(fd);
    }
    // The last number of an object gone: its memory and the monitor's socket end go too.
    drop(gone);
}

/// `new` became a duplicate of `old` (dup, dup2, dup3, F_DUPFD).
pub fn emulated_dup(old: c_int, new: c_int, cloexec: bool) {
    if old == new || !ANY.load(Ordering::Relaxed) {
        return;
    }
    emulated_closed(new);
    let obj = lookup(old);
    if let Some(obj) = obj {
        register(new, obj, cloexec);
    }
}

/// After close_range or exec's close-on-exec sweep: forget the numbers no longer open.
pub fn emulated_prune() {
    if !ANY.load(Ordering::Relaxed) {
        return;
    }
    let fds: Vec<c_int> = lock(&REGISTRY).keys().copied().collect();
    for fd in fds {
        if fd_flags(fd) == Err(EBADF) {
            emulated_closed(fd);
        }
    }
}

/// In a fork child: the kqueues were not inherited. Make each epoll set and timerfd anew
/// at its numbers, arm the timers and register the sets' interests again.
pub fn emulated_after_fork() {
    if !ANY.load(Ordering::Relaxed) {
        return;
    }
    let slots: Vec<(c_int, Obj, bool)> =
        lock(&REGISTRY).iter().map(|(&fd, s)| (fd, s.obj.clone(), s.cloexec)).collect();
    let mut groups: BTreeMap<usize, Vec<(c_int, Obj, bool)>> = BTreeMap::new();
    for s in slots.into_iter().filter(|(_, o, _)| !matches!(o, Obj::Eventfd(_))) {
        groups.entry(s.1.ptr()).or_default().push(s);
    }
    let mut sets = Vec::new();
    for members in groups.values() {
        let Ok(kq) = new_kqueue() else { continue };
        // SAFETY: `kq` is new and owned here; it is dropped (closed) after the copies.
        let kq = unsafe { OwnedFd::from_raw_fd(kq) };
        for &(fd, _, cloexec) in members {
            if fd != kq.as_raw_fd() {
                // SAFETY: dup2 takes no pointers; `fd` is the program's number, empty in
                // the child (its kqueue was not inherited).
                unsafe { libc::dup2(kq.as_raw_fd(), fd) };
            }
            set_cloexec(fd, cloexec);
        }
        let keep_open = members.iter().any(|&(fd, _, _)| fd == kq.as_raw_fd());
        if keep_open {
            std::mem::forget(kq);
        }
        let (fd, obj, _) = &members[0];
        match obj {
            Obj::Timer(t) => {
                let t = lock(t);
                let _ = arm(*fd, &t.timer, now_ns(t.clock));
            }
            Obj::Epoll(e) => sets.push((*fd, e.clone())),
            Obj::Eventfd(_) => {}
        }
    }
    // The sets last: they may watch the kqueues just made.
    for (fd, e) in sets {
        let changes = lock(&e).set.rebuild();
        for c in epoll_changes(&changes) {
            let _ = apply(fd, &[c]);
        }
    }
}

/// epoll on a kqueue registers EVFILT_READ on its descriptor: the kq constants and libc's
/// must agree (checked at compile time).
const _: () = assert!(kq::EVFILT_READ == libc::EVFILT_READ && kq::EV_DISABLE == libc::EV_DISABLE);
