//! epoll, eventfd and timerfd: an epoll instance is the host's, and the descriptors it watches are the host's
//! too (the program's files, pipes and terminals are host descriptors with the same
//! numbers), so epoll_ctl is forwarded as it is. epoll_wait waits in the host like poll
//! does: cut short by our own timers and by signals, which end it with EINTR (Linux never
//! restarts epoll_wait). A signalfd's host descriptor shows its readiness (signal/
//! signalfd.rs), brought up to date before each host wait; /proc files have a host
//! stand-in that epoll refuses as Linux refuses regular files (EPERM). An eventfd
//! is the host's too, so it wakes epoll, poll and other processes as on Linux; so is a
//! timerfd, whose expirations the host counts. On macOS the monitor emulates all three on
//! kqueue (host-monitor/src/host/sys/darwin_events.rs); nothing changes here.

use alloc::vec::Vec;

use abi_shared::hypercall::{FsRequest, Request, Response};
use abi_shared::linux::errno;

use super::{err, Ctx, EFAULT, EINVAL};
use crate::hypercall::{call, call_ret};
use crate::mm::uaccess;
use crate::task::fdtable::{Desc, Kind, FDS};
use crate::time::monotonic_ns;

const EPOLL_CLOEXEC: i32 = abi_shared::linux::general::EPOLL_CLOEXEC as i32;
const EPOLL_CTL_ADD: i32 = abi_shared::linux::general::EPOLL_CTL_ADD as i32;
const EPOLL_CTL_DEL: i32 = abi_shared::linux::general::EPOLL_CTL_DEL as i32;
const EPOLL_CTL_MOD: i32 = abi_shared::linux::general::EPOLL_CTL_MOD as i32;
/// sizeof(struct epoll_event) on x86_64: packed, a u32 and a u64.
const EVENT_SIZE: u64 = 12;
/// Linux's EP_MAX_EVENTS: INT_MAX / sizeof(struct epoll_event).
const MAX_EVENTS: i64 = i32::MAX as i64 / EVENT_SIZE as i64;

fn create(flags: i32) -> i64 {
    if flags & !EPOLL_CLOEXEC != 0 {
        return EINVAL;
    }
    let fd = call_ret(&Request::Fs(FsRequest::EpollCreate { cloexec: flags & EPOLL_CLOEXEC != 0 }));
    if fd >= 0 {
        FDS.opened(fd as i32, Desc::new(Kind::Host, true, true), None);
    }
    fd
}

/// epoll_create(size): size is only checked (it must be positive).
pub fn epoll_create(c: &mut Ctx<'_>) -> i64 {
    if c.int(0) <= 0 {
        return EINVAL;
    }
    create(0)
}

pub fn epoll_create1(c: &mut Ctx<'_>) -> i64 {
    create(c.int(0))
}

pub fn epoll_ctl(c: &mut Ctx<'_>) -> i64 {
    let (epfd, op, fd, event) = (c.int(0), c.int(1), c.int(2), c.arg(3));
    if !matches!(op, EPOLL_CTL_ADD | EPOLL_CTL_DEL | EPOLL_CTL_MOD) {
        return EINVAL;
    }
    // Linux reads the event (EFAULT) for ADD and MOD before it looks at the descriptors.
    let (events, data) = if op == EPOLL_CTL_DEL {
        (0, 0)
    } else {
        let mut raw = [0u8; EVENT_SIZE as usize];
        if uaccess::copy_from_user(event, &mut raw).is_err() {
            return EFAULT;
        }
        let events = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]);
        let data = u64::from_le_bytes(raw[4..12].try_into().unwrap_or_default());
        (events, data)
    };
    call_ret(&Request::Fs(FsRequest::EpollCtl { epfd, op, fd, events, data }))
}

/// Wait until an event, `deadline` (monotonic ns) or a signal; copy the events out.
fn wait(epfd: i32, events: u64, max: i64, deadline: Option<u64>) -> i64 {
    if max <= 0 || max > MAX_EVENTS {
        return EINVAL;
    }
    let Some(len) = (max as u64).checked_mul(EVENT_SIZE) else { return EINVAL };
    // Linux's access_ok: the whole array must be user addresses (mapped or not).
    if events.checked_add(len).is_none_or(|end| end > abi_shared::layout::user::TASK_SIZE) {
        return EFAULT;
    }
    let max = max.min(u32::MAX as i64) as u32;
    loop {
        crate::task::fork_gate::checkpoint();
        // A signalfd in the set shows the signals pending now (a signal from outside cut
        // the last wait short and is pending since).
        crate::signal::signalfd::sync_readiness();
        // Linux looks for ready events before it checks for signals, and does not sleep
        // when a signal is already pending.
        let pending = crate::signal::has_deliverable();
        let now = monotonic_ns();
        let timeout_ns = if pending {
            Some(0)
        } else {
            let until = match (deadline, crate::signal::timer::deadline()) {
                (Some(d), Some(t)) => Some(d.min(t)),
                (d, t) => d.or(t),
            };
            until.map(|u| u.saturating_sub(now))
        };
        match call(&Request::Fs(FsRequest::EpollWait { epfd, max, timeout_ns })) {
            Response::EpollEvents(ready) if !ready.is_empty() => return copy_out(events, &ready),
            Response::EpollEvents(_) => {}
            // A caught signal cut the host's wait short.
            Response::Ret(e) if e == err(errno::EINTR) => {}
            Response::Ret(e) => return e,
            _ => return EINVAL,
        }
        if crate::signal::has_deliverable() {
            return err(errno::EINTR);
        }
        if deadline.is_some_and(|d| monotonic_ns() >= d) {
            return 0;
        }
    }
}

fn copy_out(events: u64, ready: &[(u32, u64)]) -> i64 {
    let mut raw = Vec::with_capacity(ready.len() * EVENT_SIZE as usize);
    for &(ev, data) in ready {
        raw.extend_from_slice(&ev.to_le_bytes());
        raw.extend_from_slice(&data.to_le_bytes());
    }
    match uaccess::copy_to_user(events, &raw) {
        Ok(()) => ready.len() as i64,
        Err(e) => e,
    }
}

/// A timeout in milliseconds (negative: none) as a deadline.
fn ms_deadline(ms: i32) -> Option<u64> {
    (ms >= 0).then(|| monotonic_ns().saturating_add(ms as u64 * 1_000_000))
}

pub fn epoll_wait(c: &mut Ctx<'_>) -> i64 {
    wait(c.int(0), c.arg(1), c.int(2).into(), ms_deadline(c.int(3)))
}

/// epoll_pwait: epoll_wait with a signal mask in force while it waits.
pub fn epoll_pwait(c: &mut Ctx<'_>) -> i64 {
    if c.arg(4) != 0 && c.arg(5) != 8 {
        return EINVAL;
    }
    let (epfd, events, max, deadline) = (c.int(0), c.arg(1), i64::from(c.int(2)), ms_deadline(c.int(3)));
    super::poll::with_temporary_mask(c.arg(4), || wait(epfd, events, max, deadline))
}

/// epoll_pwait2: a timespec timeout (NULL: none).
pub fn epoll_pwait2(c: &mut Ctx<'_>) -> i64 {
    if c.arg(4) != 0 && c.arg(5) != 8 {
        return EINVAL;
    }
    let deadline = if c.arg(3) == 0 {
        None
    } else {
        match uaccess::read_struct::<abi_shared::linux::Timespec>(c.arg(3)) {
            Ok(ts) => match crate::time::timespec_ns(&ts) {
                Some(ns) => Some(monotonic_ns().saturating_add(ns)),
                None => return EINVAL,
            },
            Err(e) => return e,
        }
    };
    let (epfd, events, max) = (c.int(0), c.arg(1), i64::from(c.int(2)));
    super::poll::with_temporary_mask(c.arg(4), || wait(epfd, events, max, deadline))
}

/// eventfd2(initval, flags): a host eventfd (its reads and writes are the host's).
pub fn eventfd2(c: &mut Ctx<'_>) -> i64 {
    new_eventfd(c.arg(0) as u32, c.int(1))
}

/// eventfd(initval): eventfd2 without flags.
pub fn eventfd(c: &mut Ctx<'_>) -> i64 {
    new_eventfd(c.arg(0) as u32, 0)
}

fn new_eventfd(initval: u32, flags: i32) -> i64 {
    let fd = call_ret(&Request::Fs(FsRequest::Eventfd { initval, flags }));
    if fd >= 0 {
        FDS.opened(fd as i32, Desc::new(Kind::Host, true, true), None);
    }
    fd
}

/// timerfd_create(clock, flags): a host timerfd; the guest's clocks are the host's (its
/// monotonic and real-time clocks read the same), so absolute times pass as they are.
pub fn timerfd_create(c: &mut Ctx<'_>) -> i64 {
    let fd = call_ret(&Request::Fs(FsRequest::TimerfdCreate { clock: c.int(0), flags: c.int(1) }));
    if fd >= 0 {
        FDS.opened(fd as i32, Desc::new(Kind::Host, true, false), None);
    }
    fd
}

/// struct itimerspec as four i64: interval (s, ns), value (s, ns).
fn read_itimerspec(addr: u64) -> Result<[i64; 4], i64> {
    let mut raw = [0u8; 32];
    uaccess::copy_from_user(addr, &mut raw)?;
    Ok(core::array::from_fn(|i| i64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default())))
}

fn write_itimerspec(addr: u64, v: &[i64; 4]) -> i64 {
    let mut raw = [0u8; 32];
    for (i, x) in v.iter().enumerate() {
        raw[i * 8..i * 8 + 8].copy_from_slice(&x.to_le_bytes());
    }
    uaccess::copy_to_user(addr, &raw).map_or(EFAULT, |()| 0)
}

pub fn timerfd_settime(c: &mut Ctx<'_>) -> i64 {
    let (fd, flags, new, old) = (c.int(0), c.int(1), c.arg(2), c.arg(3));
    let new = match read_itimerspec(new) {
        Ok(v) => v,
        Err(e) => return e,
    };
    match call(&Request::Fs(FsRequest::TimerfdSettime { fd, flags, new })) {
        Response::Itimerspec(prev) if old != 0 => write_itimerspec(old, &prev),
        Response::Itimerspec(_) => 0,
        Response::Ret(e) => e,
        _ => EINVAL,
    }
}

pub fn timerfd_gettime(c: &mut Ctx<'_>) -> i64 {
    match call(&Request::Fs(FsRequest::TimerfdGettime { fd: c.int(0) })) {
        Response::Itimerspec(cur) => write_itimerspec(c.arg(1), &cur),
        Response::Ret(e) => e,
        _ => EINVAL,
    }
}
