//! poll, ppoll, select and pselect6: forwarded to the host's poll, with the wait cut short
//! by our own ITIMER_REAL so that a due SIGALRM interrupts it (EINTR) as on Linux.

use alloc::vec::Vec;

use abi_shared::hypercall::{FsRequest, Request, Response};
use abi_shared::linux::{errno, Timespec};

use super::{err, Ctx, EFAULT, EINVAL};
use crate::hypercall::call;
use crate::mm::uaccess;
use crate::time::monotonic_ns;

/// Most fds one call may watch here (FD_SETSIZE for select; poll beyond it is EINVAL).
const MAX_FDS: usize = 1024;

const POLLIN: i16 = abi_shared::linux::general::POLLIN as i16;
const POLLPRI: i16 = abi_shared::linux::general::POLLPRI as i16;
const POLLOUT: i16 = abi_shared::linux::general::POLLOUT as i16;
const POLLERR: i16 = abi_shared::linux::general::POLLERR as i16;
const POLLHUP: i16 = abi_shared::linux::general::POLLHUP as i16;
const POLLNVAL: i16 = abi_shared::linux::general::POLLNVAL as i16;

const POLLRDNORM: i16 = abi_shared::linux::general::POLLRDNORM as i16;

/// Poll `fds` until something is ready, `deadline` (monotonic ns) passes, or a signal is
/// due. Returns the ready count and revents, or -EINTR. Signalfds are looked at here and
/// left out of the host call (as fd -1, which poll skips); a signal that makes one
/// readable while the host waits cuts the wait short (the monitor catches blocked signals,
/// and the wait ends at our next timer's deadline).
fn poll_until(fds: &[(i32, i16)], deadline: Option<u64>) -> Result<(i64, Vec<i16>), i64> {
    let signalfds: Vec<bool> =
        fds.iter().map(|&(fd, _)| crate::task::fdtable::kind(fd) == crate::task::fdtable::Kind::Signalfd).collect();
    let host_fds: Vec<(i32, i16)> =
        fds.iter().zip(&signalfds).map(|(&(fd, ev), &local)| if local { (-1, 0) } else { (fd, ev) }).collect();
    loop {
        crate::task::fork_gate::checkpoint();
        // ppoll/pselect may just have unblocked a pending signal: Linux does not sleep then.
        if crate::signal::has_deliverable() {
            let (ready, revents) = merged(fds, &signalfds, poll_once(&host_fds)?);
            return if ready > 0 { Ok((ready, revents)) } else { Err(err(errno::EINTR)) };
        }
        if locally_ready(fds, &signalfds) {
            return Ok(merged(fds, &signalfds, poll_once(&host_fds)?));
        }
        let now = monotonic_ns();
        let until = match (deadline, crate::signal::timer::deadline()) {
            (Some(d), Some(t)) => Some(d.min(t)),
            (d, t) => d.or(t),
        };
        let timeout_ns = until.map(|u| u.saturating_sub(now));
        match call(&Request::Fs(FsRequest::Poll { fds: host_fds.clone(), timeout_ns })) {
            Response::Polled { ready, revents } if ready > 0 => return Ok(merged(fds, &signalfds, (ready, revents))),
            Response::Polled { revents, .. } => {
                if crate::signal::has_deliverable() {
                    return Err(err(errno::EINTR));
                }
                if deadline.is_some_and(|d| monotonic_ns() >= d) && !locally_ready(fds, &signalfds) {
                    return Ok((0, revents));
                }
            }
            // A caught signal cut the host's wait short: deliverable, readable through a
            // signalfd, or blocked (then Linux would not have been interrupted at all).
            Response::Ret(e) if e == err(errno::EINTR) => {}
            Response::Ret(e) => return Err(e),
            _ => return Err(EINVAL),
        }
    }
}

/// Whether a signalfd among `fds` is readable now (the pending set was refreshed by the
/// caller's `has_deliverable`).
fn locally_ready(fds: &[(i32, i16)], signalfds: &[bool]) -> bool {
    fds.iter().zip(signalfds).any(|(&(fd, ev), &local)| {
        local && ev & (POLLIN | POLLRDNORM) != 0 && crate::signal::signalfd::readable(fd) == Some(true)
    })
}

/// The host's answer for the other descriptors, with the signalfds' readiness filled in.
fn merged(fds: &[(i32, i16)], signalfds: &[bool], (ready, mut revents): (i64, Vec<i16>)) -> (i64, Vec<i16>) {
    let mut ready = ready;
    for ((&(fd, ev), &local), r) in fds.iter().zip(signalfds).zip(revents.iter_mut()) {
        if !local {
            continue;
        }
        let state = if crate::signal::signalfd::readable(fd) == Some(true) { POLLIN | POLLRDNORM } else { 0 };
        *r = state & (ev | POLLERR | POLLHUP);
        if *r != 0 {
            ready += 1;
        }
    }
    (ready, revents)
}

/// One non-blocking look at `fds`.
fn poll_once(fds: &[(i32, i16)]) -> Result<(i64, Vec<i16>), i64> {
    match call(&Request::Fs(FsRequest::Poll { fds: fds.to_vec(), timeout_ns: Some(0) })) {
        Response::Polled { ready, revents } => Ok((ready, revents)),
        Response::Ret(e) => Err(e),
        _ => Err(EINVAL),
    }
}

fn timespec_deadline(addr: u64) -> Result<Option<u64>, i64> {
    if addr == 0 {
        return Ok(None);
    }
    let ts: Timespec = uaccess::read_struct(addr)?;
    let ns = crate::time::timespec_ns(&ts).ok_or(EINVAL)?;
    Ok(Some(monotonic_ns().saturating_add(ns)))
}

fn read_pollfds(addr: u64, n: usize) -> Result<Vec<(i32, i16)>, i64> {
    let mut raw = alloc::vec![0u8; n * 8];
    uaccess::copy_from_user(addr, &mut raw)?;
    Ok(raw
        .chunks_exact(8)
        .map(|c| (i32::from_le_bytes([c[0], c[1], c[2], c[3]]), i16::from_le_bytes([c[4], c[5]])))
        .collect())
}

fn do_poll(addr: u64, nfds: u64, deadline: Option<u64>) -> i64 {
    let n = nfds as usize;
    if n > MAX_FDS {
        return EINVAL;
    }
    let fds = match read_pollfds(addr, n) {
        Ok(f) => f,
        Err(e) => return e,
    };
    let (ready, revents) = match poll_until(&fds, deadline) {
        Ok(r) => r,
        Err(e) => return e,
    };
    for (i, r) in revents.iter().enumerate() {
        // revents is the 2 bytes after fd and events.
        if uaccess::copy_to_user(addr + i as u64 * 8 + 6, &r.to_le_bytes()).is_err() {
            return EFAULT;
        }
    }
    ready
}

pub fn poll(c: &mut Ctx<'_>) -> i64 {
    let ms = c.int(2);
    let deadline = (ms >= 0).then(|| monotonic_ns().saturating_add(ms as u64 * 1_000_000));
    do_poll(c.arg(0), c.arg(1), deadline)
}

/// ppoll and pselect6's signal mask: in force while they wait. If a signal interrupts the
/// wait, the caller's mask comes back only after its handler ran (through the handler
/// frame, as for sigsuspend); otherwise at once.
pub(super) fn with_temporary_mask(mask_addr: u64, wait: impl FnOnce() -> i64) -> i64 {
    if mask_addr == 0 {
        return wait();
    }
    let mask = match uaccess::read_u64(mask_addr) {
        Ok(m) => m & !crate::signal::UNBLOCKABLE,
        Err(e) => return e,
    };
    let old = {
        let mut me = crate::task::current().signals().lock();
        core::mem::replace(&mut me.blocked, mask)
    };
    let r = wait();
    let mut me = crate::task::current().signals().lock();
    if r == err(errno::EINTR) {
        me.saved_mask = Some(old);
    } else {
        me.blocked = old;
    }
    r
}

pub fn ppoll(c: &mut Ctx<'_>) -> i64 {
    if c.arg(3) != 0 && c.arg(4) != 8 {
        return EINVAL;
    }
    match timespec_deadline(c.arg(2)) {
        Ok(deadline) => with_temporary_mask(c.arg(3), || do_poll(c.arg(0), c.arg(1), deadline)),
        Err(e) => e,
    }
}

/// select's three fd sets as a poll list and back.
fn do_select(nfds: i32, sets: [u64; 3], deadline: Option<u64>) -> i64 {
    if nfds < 0 {
        return EINVAL;
    }
    let n = (nfds as usize).min(MAX_FDS);
    let words = n.div_ceil(64);
    let mut bits = [[0u64; MAX_FDS / 64]; 3];
    for (k, &addr) in sets.iter().enumerate() {
        if addr == 0 {
            continue;
        }
        let mut raw = alloc::vec![0u8; words * 8];
        if uaccess::copy_from_user(addr, &mut raw).is_err() {
            return EFAULT;
        }
        for (w, c) in raw.chunks_exact(8).enumerate() {
            bits[k][w] = u64::from_le_bytes(c.try_into().unwrap_or_default());
        }
    }
    let is_set = |k: usize, fd: usize| bits[k][fd / 64] & (1 << (fd % 64)) != 0;
    let fds: Vec<(i32, i16)> = (0..n)
        .filter_map(|fd| {
            let ev = (if is_set(0, fd) { POLLIN } else { 0 })
                | (if is_set(1, fd) { POLLOUT } else { 0 })
                | (if is_set(2, fd) { POLLPRI } else { 0 });
            (ev != 0).then_some((fd as i32, ev))
        })
        .collect();
    let revents = match poll_until(&fds, deadline) {
        Ok((_, r)) => r,
        Err(e) => return e,
    };
    let mut out = [[0u64; MAX_FDS / 64]; 3];
    let mut count = 0;
    for (&(fd, _), &r) in fds.iter().zip(&revents) {
        if r & POLLNVAL != 0 {
            return err(errno::EBADF);
        }
        let fd = fd as usize;
        let hits = [
            is_set(0, fd) && r & (POLLIN | POLLHUP | POLLERR) != 0,
            is_set(1, fd) && r & (POLLOUT | POLLERR) != 0,
            is_set(2, fd) && r & POLLPRI != 0,
        ];
        for (k, hit) in hits.into_iter().enumerate() {
            if hit {
                out[k][fd / 64] |= 1 << (fd % 64);
                count += 1;
            }
        }
    }
    for (k, &addr) in sets.iter().enumerate() {
        if addr == 0 {
            continue;
        }
        let raw: Vec<u8> = out[k][..words].iter().flat_map(|w| w.to_le_bytes()).collect();
        if uaccess::copy_to_user(addr, &raw).is_err() {
            return EFAULT;
        }
    }
    count
}

/// Linux writes the time left back into select's timeout.
fn write_remaining(addr: u64, deadline: Option<u64>, micros: bool) {
    if let (true, Some(d)) = (addr != 0, deadline) {
        let left = d.saturating_sub(monotonic_ns());
        let sub = if micros { (left % 1_000_000_000) / 1000 } else { left % 1_000_000_000 };
        let _ = uaccess::write_struct(addr, &Timespec { tv_sec: (left / 1_000_000_000) as i64, tv_nsec: sub as i64 });
    }
}

pub fn select(c: &mut Ctx<'_>) -> i64 {
    let tv = c.arg(4);
    let deadline = if tv == 0 {
        None
    } else {
        let t: Timespec = match uaccess::read_struct(tv) {
            Ok(t) => t,
            Err(e) => return e,
        };
        if t.tv_sec < 0 || !(0..1_000_000).contains(&t.tv_nsec) {
            return EINVAL;
        }
        Some(monotonic_ns().saturating_add((t.tv_sec as u64).saturating_mul(1_000_000_000) + t.tv_nsec as u64 * 1000))
    };
    let r = do_select(c.int(0), [c.arg(1), c.arg(2), c.arg(3)], deadline);
    write_remaining(tv, deadline, true);
    r
}

/// pselect6's sixth argument points at { const sigset_t *ss; size_t ss_len }.
pub fn pselect6(c: &mut Ctx<'_>) -> i64 {
    let deadline = match timespec_deadline(c.arg(4)) {
        Ok(d) => d,
        Err(e) => return e,
    };
    let mask_addr = if c.arg(5) == 0 {
        0
    } else {
        match (uaccess::read_u64(c.arg(5)), uaccess::read_u64(c.arg(5) + 8)) {
            (Ok(0), _) => 0,
            (Ok(ss), Ok(8)) => ss,
            (Ok(_), Ok(_)) => return EINVAL,
            (Err(e), _) | (_, Err(e)) => return e,
        }
    };
    let sets = [c.arg(1), c.arg(2), c.arg(3)];
    let r = with_temporary_mask(mask_addr, || do_select(c.int(0), sets, deadline));
    write_remaining(c.arg(4), deadline, false);
    r
}
