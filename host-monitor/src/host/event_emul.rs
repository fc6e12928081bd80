//! Linux's event descriptors where the host has none (macOS): the logic, without a host
//! call, compiled and unit-tested on every host. `sys/darwin_events.rs` makes the calls.
//!
//! - **epoll** is a kqueue (design in `darwin_tables.rs`, "epoll on kqueue"). `EpollSet`
//!   is the interest list Linux keeps: it applies Linux's rules to `epoll_ctl` (EEXIST,
//!   ENOENT, EINVAL, EPERM, the EPOLLEXCLUSIVE limits), turns each call into kevent
//!   changes, and merges what one `kevent` wait returns into Linux's one record per
//!   descriptor (read and write filters of one fd become one `epoll_event`; EPOLLHUP and
//!   EPOLLERR are reported whether asked or not; a EPOLLONESHOT entry is disarmed until
//!   EPOLL_CTL_MOD). `nesting_error` is Linux's ELOOP rule for epoll sets in epoll sets.
//! - **eventfd** is a counter in memory shared across fork plus a socket that holds one
//!   byte while the counter is not zero (so poll, select and kqueue see its readiness):
//!   `eventfd_add` and `eventfd_take` are the counter's rules.
//! - **timerfd** is a kqueue holding one EVFILT_TIMER, armed for the next expiry, so
//!   that the kqueue is readable once the timer has fired; `Timer` keeps the setting
//!   (absolute expiry in the clock's nanoseconds, interval) and counts expirations by
//!   arithmetic, as Linux's hrtimer forwarding does.
// Darwin uses all of it; other hosts only the tests.
#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use std::collections::BTreeMap;

use super::darwin_tables::{
    kq, EPOLLERR, EPOLLET, EPOLLEXCLUSIVE, EPOLLHUP, EPOLLIN, EPOLLONESHOT, EPOLLOUT, EPOLLPRI, EPOLLRDHUP,
    EPOLLWAKEUP, EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD,
};

/// Linux errnos the rules answer with.
pub mod err {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const EAGAIN: i32 = 11;
    pub const EEXIST: i32 = 17;
    pub const EINVAL: i32 = 22;
    pub const ELOOP: i32 = 40;
}

pub const EPOLLRDNORM: u32 = 0x40;
pub const EPOLLRDBAND: u32 = 0x80;
pub const EPOLLWRNORM: u32 = 0x100;
pub const EPOLLWRBAND: u32 = 0x200;
/// Interest bits served by the read filter, and by the write filter.
const READ_BITS: u32 = EPOLLIN | EPOLLPRI | EPOLLRDHUP | EPOLLRDNORM | EPOLLRDBAND;
const WRITE_BITS: u32 = EPOLLOUT | EPOLLWRNORM | EPOLLWRBAND;
/// What EPOLLEXCLUSIVE may come with (Linux's EPOLLEXCLUSIVE_OK_BITS).
const EXCLUSIVE_OK: u32 = EPOLLIN | EPOLLOUT | EPOLLERR | EPOLLHUP | EPOLLWAKEUP | EPOLLET | EPOLLEXCLUSIVE;
/// Linux's EP_MAX_NESTS: how deep epoll sets may nest.
pub const EP_MAX_NESTS: usize = 4;

/// What a descriptor named in epoll_ctl is, as far as the rules and the readiness care.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// A socket: end of file on the read side is EPOLLRDHUP (EPOLLHUP once both sides are).
    Socket,
    /// A pipe, FIFO, terminal or device: end of file is EPOLLHUP; a write end whose
    /// readers are gone is EPOLLERR.
    Stream,
    /// A kqueue the emulation made (an epoll set, a timerfd): readable or nothing.
    Kqueue,
    /// A regular file or directory: Linux refuses it (EPERM), since it cannot be polled.
    Regular,
}

/// One descriptor in an epoll set.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interest {
    /// The events asked for, with EPOLLERR and EPOLLHUP, which Linux always adds.
    pub events: u32,
    pub data: u64,
    pub target: Target,
    /// An EPOLLONESHOT entry that has reported: nothing more until EPOLL_CTL_MOD.
    pub disarmed: bool,
}

impl Interest {
    /// The kevent filters this entry registers, with the flags each is added with.
    pub fn filters(&self) -> Vec<(i16, u16)> {
        let mut mode = kq::EV_ADD | kq::EV_ENABLE;
        if self.events & EPOLLET != 0 {
            mode |= kq::EV_CLEAR;
        }
        if self.events & EPOLLONESHOT != 0 {
            mode |= kq::EV_DISPATCH;
        }
        let mut out = Vec::with_capacity(2);
        if self.events & READ_BITS != 0 {
            out.push((kq::EVFILT_READ, mode));
        }
        // A kqueue has no write filter (and Linux's epoll and timerfd never report
        // EPOLLOUT).
        if self.events & WRITE_BITS != 0 && self.target != Target::Kqueue {
            out.push((kq::EVFILT_WRITE, mode));
        }
        out
    }
}

/// One kevent change: (fd, filter, flags).
pub type Change = (i32, i16, u16);

/// One returned kevent, as the merge needs it: (fd, filter, flags, fflags, data).
pub type Fired = (i32, i16, u16, u32, i64);

/// The interest list of one epoll instance.
#[derive(Clone, Debug, Default)]
pub struct EpollSet {
    pub entries: BTreeMap<i32, Interest>,
}

impl EpollSet {
    /// epoll_ctl on this set, after the caller's checks (both descriptors open: EBADF;
    /// `epfd` an epoll set: EINVAL; nesting: ELOOP). Returns the kevent changes to make;
    /// the set is changed only if they are all made (`commit`).
    pub fn ctl(&self, epfd: i32, op: i32, fd: i32, events: u32, data: u64, target: Target) -> Result<Ctl, i32> {
        if !matches!(op, EPOLL_CTL_ADD | EPOLL_CTL_DEL | EPOLL_CTL_MOD) {
            return Err(err::EINVAL);
        }
        // Linux's order: a target that cannot be polled, then the same file, then the
        // EPOLLEXCLUSIVE limits, then whether the fd is in the set.
        if target == Target::Regular {
            return Err(err::EPERM);
        }
        if fd == epfd {
            return Err(err::EINVAL);
        }
        if op != EPOLL_CTL_DEL && events & EPOLLEXCLUSIVE != 0 {
            if op == EPOLL_CTL_MOD {
                return Err(err::EINVAL);
            }
            if target == Target::Kqueue || events & !EXCLUSIVE_OK != 0 {
                return Err(err::EINVAL);
            }
        }
        let old = self.entries.get(&fd);
        let delete = |old: &Interest| -> Vec<Change> {
            old.filters().into_iter().map(|(f, _)| (fd, f, kq::EV_DELETE)).collect()
        };
        match (op, old) {
            (EPOLL_CTL_ADD, Some(_)) => Err(err::EEXIST),
            (EPOLL_CTL_MOD | EPOLL_CTL_DEL, None) => Err(err::ENOENT),
            (EPOLL_CTL_DEL, Some(old)) => Ok(Ctl { fd, entry: None, changes: delete(old) }),
            // Linux refuses to modify an exclusive entry.
            (EPOLL_CTL_MOD, Some(old)) if old.events & EPOLLEXCLUSIVE != 0 => Err(err::EINVAL),
            (_, old) => {
                let entry = Interest { events: events | EPOLLERR | EPOLLHUP, data, target, disarmed: false };
                // MOD drops the old filters and adds the new ones: a fresh registration
                // re-evaluates readiness at once, as Linux's ep_modify does, and re-arms
                // a oneshot entry.
                let mut changes = old.map(delete).unwrap_or_default();
                changes.extend(entry.filters().into_iter().map(|(f, flags)| (fd, f, flags)));
                Ok(Ctl { fd, entry: Some(entry), changes })
            }
        }
    }

    /// Record a ctl whose changes the kqueue accepted.
    pub fn commit(&mut self, ctl: Ctl) {
        match ctl.entry {
            Some(e) => self.entries.insert(ctl.fd, e),
            None => self.entries.remove(&ctl.fd),
        };
    }

    /// `fd` was closed: the kqueue dropped its filters, the set forgets it.
    pub fn forget(&mut self, fd: i32) {
        self.entries.remove(&fd);
    }

    /// Merge the kevents one wait returned into Linux's records, one per descriptor in
    /// the order each first fired, at most `max`. Returns the records and the changes to
    /// make after (disabling the other filter of a oneshot entry that reported).
    pub fn merge(&mut self, fired: &[Fired], max: usize) -> (Vec<(u32, u64)>, Vec<Change>) {
        let mut order: Vec<i32> = Vec::new();
        let mut bits: BTreeMap<i32, u32> = BTreeMap::new();
        for &(fd, filter, flags, fflags, data) in fired {
            let Some(entry) = self.entries.get(&fd) else { continue };
            if entry.disarmed {
                continue;
            }
            let b = kevent_bits(entry, filter, flags, fflags, data);
            if b == 0 {
                continue;
            }
            let slot = bits.entry(fd).or_insert_with(|| {
                order.push(fd);
                0
            });
            *slot |= b;
        }
        let mut records = Vec::new();
        let mut after = Vec::new();
        for fd in order.into_iter().take(max) {
            let Some(entry) = self.entries.get_mut(&fd) else { continue };
            records.push((bits[&fd], entry.data));
            if entry.events & EPOLLONESHOT != 0 {
                entry.disarmed = true;
                after.extend(entry.filters().into_iter().map(|(f, _)| (fd, f, kq::EV_DISABLE)));
            }
        }
        (records, after)
    }

    /// The changes that register the whole set anew (a fork child's new kqueue).
    pub fn rebuild(&self) -> Vec<Change> {
        let mut out = Vec::new();
        for (&fd, e) in &self.entries {
            for (f, flags) in e.filters() {
                out.push((fd, f, if e.disarmed { (flags & !kq::EV_ENABLE) | kq::EV_DISABLE } else { flags }));
            }
        }
        out
    }
}

/// An epoll_ctl the rules accepted: the entry to record (None: removed) once the kevent
/// changes are made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ctl {
    pub fd: i32,
    pub entry: Option<Interest>,
    pub changes: Vec<Change>,
}

/// The epoll events one fired kevent stands for, for `entry`: what was asked, plus
/// EPOLLHUP and EPOLLERR. `data` is the kevent's count (bytes readable for a pipe).
pub fn kevent_bits(entry: &Interest, filter: i16, flags: u16, fflags: u32, data: i64) -> u32 {
    let asked = entry.events;
    let eof = flags & kq::EV_EOF != 0;
    let mut ev = 0;
    match filter {
        kq::EVFILT_READ => {
            // A pipe at end of file with nothing left is not readable for Linux (only
            // EPOLLHUP); a socket at end of file is (a read returns 0).
            if !eof || entry.target != Target::Stream || data > 0 {
                ev |= (EPOLLIN | EPOLLRDNORM) & asked;
            }
            if eof {
                ev |= match entry.target {
                    Target::Socket => EPOLLRDHUP & asked,
                    _ => EPOLLHUP,
                };
            }
        }
        kq::EVFILT_WRITE => {
            ev |= (EPOLLOUT | EPOLLWRNORM) & asked;
            if eof {
                // A pipe's write end without readers: EPOLLERR; a socket that can send
                // no more: EPOLLHUP.
                ev |= if entry.target == Target::Socket { EPOLLHUP } else { EPOLLERR };
            }
        }
        _ => {}
    }
    // A socket's pending error comes with EV_EOF in fflags; EV_ERROR is a failed change.
    if (eof && fflags != 0) || flags & kq::EV_ERROR != 0 {
        ev |= EPOLLERR;
    }
    ev
}

/// Linux's ELOOP rule for adding epoll set `child` to epoll set `parent`: no cycle, and no
/// chain of sets deeper than EP_MAX_NESTS below the top one. `inside(x)` lists the epoll
/// sets that set `x` watches.
pub fn nesting_error(parent: u64, child: u64, inside: &dyn Fn(u64) -> Vec<u64>) -> Option<i32> {
    // Sets reachable from `child` (with the longest path to each), to find `parent`.
    fn depth_below(x: u64, target: u64, inside: &dyn Fn(u64) -> Vec<u64>, seen: usize) -> Result<usize, ()> {
        if x == target || seen > 64 {
            return Err(());
        }
        let mut deepest = 0;
        for c in inside(x) {
            deepest = deepest.max(1 + depth_below(c, target, inside, seen + 1)?);
        }
        Ok(deepest)
    }
    match depth_below(child, parent, inside, 0) {
        Err(()) => Some(err::ELOOP),
        // parent -> child -> (below) sets: EP_MAX_NESTS + 1 levels at most.
        Ok(below) if below + 1 > EP_MAX_NESTS => Some(err::ELOOP),
        Ok(_) => None,
    }
}

// ---------------------------------------------------------------------------------------
// eventfd

pub const EFD_SEMAPHORE: i32 = 1;
pub const EFD_NONBLOCK: i32 = 0o4000;
pub const EFD_CLOEXEC: i32 = 0o2000000;
/// The largest value an eventfd counter holds.
pub const EVENTFD_MAX: u64 = u64::MAX - 1;

/// eventfd2's flags: (nonblocking, close-on-exec, semaphore); anything else is EINVAL.
pub fn eventfd_flags(flags: i32) -> Result<(bool, bool, bool), i32> {
    if flags & !(EFD_SEMAPHORE | EFD_NONBLOCK | EFD_CLOEXEC) != 0 {
        return Err(err::EINVAL);
    }
    Ok((flags & EFD_NONBLOCK != 0, flags & EFD_CLOEXEC != 0, flags & EFD_SEMAPHORE != 0))
}

/// A write of `add` to a counter at `count`: the new count, EINVAL for 2^64 - 1, EAGAIN
/// when it would pass EVENTFD_MAX (a blocking write waits for a read).
pub fn eventfd_add(count: u64, add: u64) -> Result<u64, i32> {
    if add == u64::MAX {
        return Err(err::EINVAL);
    }
    if add > EVENTFD_MAX - count {
        return Err(err::EAGAIN);
    }
    Ok(count + add)
}

/// A read of a counter at `count`: (value read, new count), None when it is zero (EAGAIN,
/// or a blocking read waits). A semaphore reads 1 at a time.
pub fn eventfd_take(count: u64, semaphore: bool) -> Option<(u64, u64)> {
    match count {
        0 => None,
        _ if semaphore => Some((1, count - 1)),
        _ => Some((count, 0)),
    }
}

// ---------------------------------------------------------------------------------------
// timerfd

pub const TFD_NONBLOCK: i32 = 0o4000;
pub const TFD_CLOEXEC: i32 = 0o2000000;
pub const TFD_TIMER_ABSTIME: i32 = 1;
pub const TFD_TIMER_CANCEL_ON_SET: i32 = 2;
pub const CLOCK_REALTIME: i32 = 0;
pub const CLOCK_MONOTONIC: i32 = 1;
pub const CLOCK_BOOTTIME: i32 = 7;
pub const CLOCK_REALTIME_ALARM: i32 = 8;
pub const CLOCK_BOOTTIME_ALARM: i32 = 9;
const NS: u64 = 1_000_000_000;

/// timerfd_create's checks: the clock (the alarm clocks need CAP_WAKE_ALARM, which a
/// program here never has: EPERM) and the flags. Returns (nonblocking, close-on-exec).
pub fn timerfd_create_check(clock: i32, flags: i32) -> Result<(bool, bool), i32> {
    match clock {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME => {}
        CLOCK_REALTIME_ALARM | CLOCK_BOOTTIME_ALARM => {
            if flags & !(TFD_NONBLOCK | TFD_CLOEXEC) != 0 {
                return Err(err::EINVAL);
            }
            return Err(err::EPERM);
        }
        _ => return Err(err::EINVAL),
    }
    if flags & !(TFD_NONBLOCK | TFD_CLOEXEC) != 0 {
        return Err(err::EINVAL);
    }
    Ok((flags & TFD_NONBLOCK != 0, flags & TFD_CLOEXEC != 0))
}

/// A timespec (seconds, nanoseconds) in nanoseconds; EINVAL as Linux's timespec64_valid.
pub fn timespec_ns(sec: i64, nsec: i64) -> Result<u64, i32> {
    if sec < 0 || !(0..NS as i64).contains(&nsec) {
        return Err(err::EINVAL);
    }
    Ok((sec as u64).saturating_mul(NS).saturating_add(nsec as u64))
}

fn timespec(ns: u64) -> (i64, i64) {
    ((ns / NS).min(i64::MAX as u64) as i64, (ns % NS) as i64)
}

/// A timerfd's setting and count. Times are nanoseconds of the timer's clock.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timer {
    pub interval: u64,
    /// The next expiry; 0: disarmed.
    pub next: u64,
    /// Expirations since the last read or setting.
    pub ticks: u64,
}

impl Timer {
    /// Count the expirations up to `now` (a periodic timer moves on by whole intervals).
    pub fn expire(&mut self, now: u64) {
        if self.next == 0 || now < self.next {
            return;
        }
        match (now - self.next).checked_div(self.interval) {
            // One shot.
            None => {
                self.ticks = self.ticks.saturating_add(1);
                self.next = 0;
            }
            Some(whole) => {
                let n = whole + 1;
                self.ticks = self.ticks.saturating_add(n);
                self.next = self.next.saturating_add(n.saturating_mul(self.interval));
            }
        }
    }

    /// timerfd_gettime: (interval s, ns, remaining s, ns); an expired one-shot timer
    /// shows 0 remaining.
    pub fn get(&mut self, now: u64) -> [i64; 4] {
        self.expire(now);
        let (is, ins) = timespec(self.interval);
        let (vs, vns) = if self.next == 0 { (0, 0) } else { timespec(self.next - now) };
        [is, ins, vs, vns]
    }

    /// timerfd_settime: `new` is (interval s, ns, value s, ns); a zero value disarms.
    /// Returns the old setting as `get` shows it. `flags` are Linux's (ABSTIME,
    /// CANCEL_ON_SET; CANCEL_ON_SET is accepted, and never cancels: see docs/macos.md).
    pub fn set(&mut self, now: u64, flags: i32, new: &[i64; 4]) -> Result<[i64; 4], i32> {
        if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
            return Err(err::EINVAL);
        }
        let interval = timespec_ns(new[0], new[1])?;
        let value = timespec_ns(new[2], new[3])?;
        let old = self.get(now);
        self.ticks = 0;
        self.interval = interval;
        self.next = match value {
            0 => 0,
            // An absolute time in the past expires at once (at the next look); 0 is
            // "disarmed" here, so the earliest absolute time is 1 ns.
            v if flags & TFD_TIMER_ABSTIME != 0 => v.max(1),
            v => now.saturating_add(v),
        };
        Ok(old)
    }

    /// A read at `now`: the expirations since the last one (None: none yet).
    pub fn take(&mut self, now: u64) -> Option<u64> {
        self.expire(now);
        (self.ticks > 0).then(|| std::mem::take(&mut self.ticks))
    }

    /// Nanoseconds from `now` until the next expiry (None: disarmed).
    pub fn until_next(&self, now: u64) -> Option<u64> {
        (self.next != 0).then(|| self.next.saturating_sub(now))
    }
}

/// Write the 8-byte value of an eventfd or timerfd read into the buffers `bufs` (at
/// least 8 bytes in all, checked by the caller), scattering it as readv does.
pub fn scatter(value: u64, bufs: &mut [&mut [u8]]) {
    let bytes = value.to_ne_bytes();
    let mut at = 0;
    for b in bufs.iter_mut() {
        let n = (bytes.len() - at).min(b.len());
        b[..n].copy_from_slice(&bytes[at..at + n]);
        at += n;
        if at == bytes.len() {
            break;
        }
    }
}

/// The 8-byte value of an eventfd write from the buffers `bufs` (at least 8 bytes).
pub fn gather(bufs: &[&[u8]]) -> Option<u64> {
    let mut bytes = [0u8; 8];
    let mut at = 0;
    for b in bufs {
        let n = (bytes.len() - at).min(b.len());
        bytes[at..at + n].copy_from_slice(&b[..n]);
        at += n;
        if at == bytes.len() {
            return Some(u64::from_ne_bytes(bytes));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interest(events: u32, target: Target) -> Interest {
        Interest { events: events | EPOLLERR | EPOLLHUP, data: 0, target, disarmed: false }
    }

    fn add(set: &mut EpollSet, fd: i32, events: u32, data: u64) -> Vec<Change> {
        let ctl = set.ctl(100, EPOLL_CTL_ADD, fd, events, data, Target::Socket).unwrap();
        let changes = ctl.changes.clone();
        set.commit(ctl);
        changes
    }

    #[test]
    fn ctl_follows_linux_rules() {
        let mut set = EpollSet::default();
        add(&mut set, 5, EPOLLIN, 7);
        let ctl = |set: &EpollSet, op, fd, ev, t| set.ctl(100, op, fd, ev, 0, t);
        assert_eq!(ctl(&set, EPOLL_CTL_ADD, 5, EPOLLIN, Target::Socket), Err(err::EEXIST));
        assert_eq!(ctl(&set, EPOLL_CTL_MOD, 6, EPOLLIN, Target::Socket), Err(err::ENOENT));
        assert_eq!(ctl(&set, EPOLL_CTL_DEL, 6, 0, Target::Socket), Err(err::ENOENT));
        assert_eq!(ctl(&set, EPOLL_CTL_ADD, 100, EPOLLIN, Target::Kqueue), Err(err::EINVAL));
        // EPERM comes before the same-file EINVAL, as in Linux.
        assert_eq!(ctl(&set, EPOLL_CTL_ADD, 100, EPOLLIN, Target::Regular), Err(err::EPERM));
        assert_eq!(ctl(&set, EPOLL_CTL_ADD, 6, EPOLLIN, Target::Regular), Err(err::EPERM));
        assert_eq!(ctl(&set, 4, 6, EPOLLIN, Target::Socket), Err(err::EINVAL));
        // EPOLLEXCLUSIVE: not with MOD, not with ONESHOT, not on an epoll set.
        assert_eq!(ctl(&set, EPOLL_CTL_MOD, 5, EPOLLIN | EPOLLEXCLUSIVE, Target::Socket), Err(err::EINVAL));
        assert_eq!(
            ctl(&set, EPOLL_CTL_ADD, 6, EPOLLIN | EPOLLEXCLUSIVE | EPOLLONESHOT, Target::Socket),
            Err(err::EINVAL)
        );
        assert_eq!(ctl(&set, EPOLL_CTL_ADD, 6, EPOLLIN | EPOLLEXCLUSIVE, Target::Kqueue), Err(err::EINVAL));
        let c = ctl(&set, EPOLL_CTL_ADD, 6, EPOLLIN | EPOLLEXCLUSIVE, Target::Socket).unwrap();
        set.commit(c);
        assert_eq!(ctl(&set, EPOLL_CTL_MOD, 6, EPOLLIN, Target::Socket), Err(err::EINVAL));
        // Linux adds EPOLLERR | EPOLLHUP to every entry.
        assert_eq!(set.entries[&5].events, EPOLLIN | EPOLLERR | EPOLLHUP);
        assert_eq!(set.entries[&5].data, 7);
        // DEL removes the registered filters and the entry.
        let c = ctl(&set, EPOLL_CTL_DEL, 5, 0, Target::Socket).unwrap();
        assert_eq!(c.changes, vec![(5, kq::EVFILT_READ, kq::EV_DELETE)]);
        set.commit(c);
        assert!(!set.entries.contains_key(&5));
    }

    #[test]
    fn level_edge_and_oneshot_become_kevent_flags() {
        let mut set = EpollSet::default();
        let level = kq::EV_ADD | kq::EV_ENABLE;
        assert_eq!(
            add(&mut set, 3, EPOLLIN | EPOLLOUT, 0),
            vec![(3, kq::EVFILT_READ, level), (3, kq::EVFILT_WRITE, level)]
        );
        assert_eq!(add(&mut set, 4, EPOLLIN | EPOLLET, 0), vec![(4, kq::EVFILT_READ, level | kq::EV_CLEAR)]);
        assert_eq!(add(&mut set, 5, EPOLLOUT | EPOLLONESHOT, 0), vec![(5, kq::EVFILT_WRITE, level | kq::EV_DISPATCH)]);
        // RDHUP alone still needs the read filter; a kqueue target gets no write filter.
        assert_eq!(add(&mut set, 6, EPOLLRDHUP, 0), vec![(6, kq::EVFILT_READ, level)]);
        let c = set.ctl(100, EPOLL_CTL_ADD, 7, EPOLLIN | EPOLLOUT, 0, Target::Kqueue).unwrap();
        assert_eq!(c.changes, vec![(7, kq::EVFILT_READ, level)]);
        // MOD: the old filters go, the new ones come.
        let c = set.ctl(100, EPOLL_CTL_MOD, 3, EPOLLOUT | EPOLLET, 9, Target::Socket).unwrap();
        assert_eq!(
            c.changes,
            vec![
                (3, kq::EVFILT_READ, kq::EV_DELETE),
                (3, kq::EVFILT_WRITE, kq::EV_DELETE),
                (3, kq::EVFILT_WRITE, level | kq::EV_CLEAR)
            ]
        );
    }

    #[test]
    fn merge_gives_one_record_per_fd() {
        let mut set = EpollSet::default();
        add(&mut set, 3, EPOLLIN | EPOLLOUT, 30);
        add(&mut set, 4, EPOLLIN, 40);
        let fired = [
            (4, kq::EVFILT_READ, 0, 0, 5),
            (3, kq::EVFILT_WRITE, 0, 0, 100),
            (3, kq::EVFILT_READ, 0, 0, 1),
            // Not in the set (closed, or deleted while it fired): left out.
            (9, kq::EVFILT_READ, 0, 0, 1),
        ];
        let (records, after) = set.merge(&fired, 10);
        assert_eq!(records, vec![(EPOLLIN, 40), (EPOLLIN | EPOLLOUT, 30)]);
        assert!(after.is_empty());
        // At most `max` records.
        let (records, _) = set.merge(&fired, 1);
        assert_eq!(records.len(), 1);
    }

    #[test]
    fn oneshot_disarms_until_mod() {
        let mut set = EpollSet::default();
        add(&mut set, 3, EPOLLIN | EPOLLOUT | EPOLLONESHOT, 1);
        let fired = [(3, kq::EVFILT_READ, kq::EV_DISPATCH, 0, 1)];
        let (records, after) = set.merge(&fired, 10);
        assert_eq!(records, vec![(EPOLLIN, 1)]);
        // Both filters are disabled: the write one has not fired yet.
        assert_eq!(after, vec![(3, kq::EVFILT_READ, kq::EV_DISABLE), (3, kq::EVFILT_WRITE, kq::EV_DISABLE)]);
        // A write event queued before the disable is not reported.
        let (records, _) = set.merge(&[(3, kq::EVFILT_WRITE, 0, 0, 1)], 10);
        assert!(records.is_empty());
        // MOD re-arms.
        let c = set.ctl(100, EPOLL_CTL_MOD, 3, EPOLLIN | EPOLLONESHOT, 2, Target::Socket).unwrap();
        set.commit(c);
        assert!(!set.entries[&3].disarmed);
        let (records, _) = set.merge(&fired, 10);
        assert_eq!(records, vec![(EPOLLIN, 2)]);
        // A fork child registers the disarmed entry disabled.
        assert_eq!(set.rebuild(), vec![(3, kq::EVFILT_READ, kq::EV_ADD | kq::EV_DISABLE | kq::EV_DISPATCH)]);
    }

    #[test]
    fn close_removes_the_entry() {
        let mut set = EpollSet::default();
        add(&mut set, 3, EPOLLIN, 1);
        set.forget(3);
        assert!(set.merge(&[(3, kq::EVFILT_READ, 0, 0, 1)], 10).0.is_empty());
        // The number may be added again afterwards.
        add(&mut set, 3, EPOLLIN, 2);
        assert_eq!(set.merge(&[(3, kq::EVFILT_READ, 0, 0, 1)], 10).0, vec![(EPOLLIN, 2)]);
    }

    #[test]
    fn hangups_and_errors() {
        let sock = interest(EPOLLIN | EPOLLRDHUP, Target::Socket);
        // Peer shut down writing: readable (read gives 0) and RDHUP, not HUP.
        assert_eq!(kevent_bits(&sock, kq::EVFILT_READ, kq::EV_EOF, 0, 0), EPOLLIN | EPOLLRDHUP);
        // A pending socket error.
        assert_eq!(kevent_bits(&sock, kq::EVFILT_READ, kq::EV_EOF, 54, 0), EPOLLIN | EPOLLRDHUP | EPOLLERR);
        // RDHUP not asked: not reported.
        let plain = interest(EPOLLIN, Target::Socket);
        assert_eq!(kevent_bits(&plain, kq::EVFILT_READ, kq::EV_EOF, 0, 0), EPOLLIN);
        // A pipe whose writers are gone: HUP, and IN only while data is left.
        let pipe = interest(EPOLLIN, Target::Stream);
        assert_eq!(kevent_bits(&pipe, kq::EVFILT_READ, kq::EV_EOF, 0, 0), EPOLLHUP);
        assert_eq!(kevent_bits(&pipe, kq::EVFILT_READ, kq::EV_EOF, 0, 3), EPOLLIN | EPOLLHUP);
        // A pipe's write end without readers: OUT | ERR.
        let wpipe = interest(EPOLLOUT, Target::Stream);
        assert_eq!(kevent_bits(&wpipe, kq::EVFILT_WRITE, kq::EV_EOF, 0, 0), EPOLLOUT | EPOLLERR);
        // Unasked OUT is not reported, EV_ERROR is ERR.
        assert_eq!(kevent_bits(&plain, kq::EVFILT_WRITE, 0, 0, 0), 0);
        assert_eq!(kevent_bits(&plain, kq::EVFILT_READ, kq::EV_ERROR, 0, 0), EPOLLIN | EPOLLERR);
    }

    #[test]
    fn nesting_rules() {
        // 1 watches 2, 2 watches 3.
        let inside = |x: u64| match x {
            1 => vec![2],
            2 => vec![3],
            _ => vec![],
        };
        assert_eq!(nesting_error(3, 1, &inside), Some(err::ELOOP), "3 -> 1 -> 2 -> 3 is a cycle");
        assert_eq!(nesting_error(4, 4, &inside), Some(err::ELOOP));
        assert_eq!(nesting_error(4, 1, &inside), None);
        // A chain 10 -> 11 -> 12 -> 13 -> 14: adding it under 9 makes it too deep.
        let chain = |x: u64| if (10..14).contains(&x) { vec![x + 1] } else { vec![] };
        assert_eq!(nesting_error(9, 11, &chain), None);
        assert_eq!(nesting_error(9, 10, &chain), Some(err::ELOOP));
    }

    #[test]
    fn eventfd_counter() {
        assert_eq!(eventfd_flags(EFD_SEMAPHORE | EFD_NONBLOCK), Ok((true, false, true)));
        assert_eq!(eventfd_flags(EFD_CLOEXEC), Ok((false, true, false)));
        assert_eq!(eventfd_flags(1 << 3), Err(err::EINVAL));
        assert_eq!(eventfd_add(0, 5), Ok(5));
        assert_eq!(eventfd_add(5, u64::MAX), Err(err::EINVAL));
        assert_eq!(eventfd_add(EVENTFD_MAX - 1, 1), Ok(EVENTFD_MAX));
        assert_eq!(eventfd_add(EVENTFD_MAX, 1), Err(err::EAGAIN));
        assert_eq!(eventfd_add(1, EVENTFD_MAX), Err(err::EAGAIN));
        assert_eq!(eventfd_take(0, false), None);
        assert_eq!(eventfd_take(7, false), Some((7, 0)));
        assert_eq!(eventfd_take(7, true), Some((1, 6)));
        assert_eq!(eventfd_take(0, true), None);
        #[cfg(target_os = "linux")]
        assert_eq!(
            (EFD_SEMAPHORE, EFD_NONBLOCK, EFD_CLOEXEC),
            (libc::EFD_SEMAPHORE, libc::EFD_NONBLOCK, libc::EFD_CLOEXEC)
        );
    }

    #[test]
    fn timer_arithmetic() {
        assert_eq!(timerfd_create_check(CLOCK_MONOTONIC, TFD_NONBLOCK), Ok((true, false)));
        assert_eq!(timerfd_create_check(CLOCK_BOOTTIME, TFD_CLOEXEC), Ok((false, true)));
        assert_eq!(timerfd_create_check(3, 0), Err(err::EINVAL));
        assert_eq!(timerfd_create_check(CLOCK_REALTIME_ALARM, 0), Err(err::EPERM));
        assert_eq!(timerfd_create_check(CLOCK_REALTIME, 4), Err(err::EINVAL));
        #[cfg(target_os = "linux")]
        assert_eq!(
            (TFD_NONBLOCK, TFD_CLOEXEC, TFD_TIMER_ABSTIME, TFD_TIMER_CANCEL_ON_SET),
            (libc::TFD_NONBLOCK, libc::TFD_CLOEXEC, libc::TFD_TIMER_ABSTIME, libc::TFD_TIMER_CANCEL_ON_SET)
        );

        let mut t = Timer::default();
        // Relative, periodic: first at now + 1.5 s, then every 0.5 s.
        assert_eq!(t.set(1000 * NS, 0, &[0, 500_000_000, 1, 500_000_000]), Ok([0; 4]));
        assert_eq!(t.take(1001 * NS), None);
        assert_eq!(t.get(1001 * NS), [0, 500_000_000, 0, 500_000_000]);
        // 2.2 s later: expirations at 1001.5, 1002.0 -> 2.
        assert_eq!(t.take(1002 * NS + 200_000_000), Some(2));
        assert_eq!(t.take(1002 * NS + 300_000_000), None);
        assert_eq!(t.until_next(1002 * NS + 300_000_000), Some(200_000_000));
        // Many intervals at once count them all.
        assert_eq!(t.take(1012 * NS + 500_000_000), Some(21));
        // settime returns the old setting and resets the count.
        let old = t.set(1012 * NS + 600_000_000, 0, &[0, 0, 0, 0]).unwrap();
        assert_eq!(old, [0, 500_000_000, 0, 400_000_000]);
        assert_eq!(t.take(2000 * NS), None);
        assert_eq!(t.until_next(2000 * NS), None);

        // Absolute, one shot; an absolute time in the past expires at once.
        let mut a = Timer::default();
        a.set(50 * NS, TFD_TIMER_ABSTIME, &[0, 0, 60, 0]).unwrap();
        assert_eq!(a.get(55 * NS), [0, 0, 5, 0]);
        assert_eq!(a.take(61 * NS), Some(1));
        assert_eq!(a.get(62 * NS), [0; 4], "an expired one-shot shows 0");
        a.set(70 * NS, TFD_TIMER_ABSTIME, &[1, 0, 10, 0]).unwrap();
        assert_eq!(a.take(70 * NS), Some(61), "10 s, then every second up to 70 s");

        // Bad values and flags.
        assert_eq!(a.set(0, 0, &[0, NS as i64, 1, 0]), Err(err::EINVAL));
        assert_eq!(a.set(0, 0, &[0, 0, -1, 0]), Err(err::EINVAL));
        assert_eq!(a.set(0, 4, &[0, 0, 1, 0]), Err(err::EINVAL));
        assert!(a.set(0, TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET, &[0, 0, 1, 0]).is_ok());
    }

    /// kqueue as its manual describes EVFILT_READ/EVFILT_WRITE: one knote per (fd,
    /// filter); without EV_CLEAR it reports while the condition holds, with EV_CLEAR once
    /// per change of state (and once at registration if ready), EV_DISPATCH disables it
    /// after it reported, closing a descriptor drops its knotes.
    #[derive(Default)]
    struct KqueueModel {
        /// (fd, filter) -> (flags, enabled, generation last reported)
        notes: BTreeMap<(i32, i16), (u16, bool, u64)>,
        /// (fd, filter) -> generation of the state (bumped by new data); 0: not ready.
        state: BTreeMap<(i32, i16), u64>,
    }

    impl KqueueModel {
        fn apply(&mut self, changes: &[Change]) {
            for &(fd, filter, flags) in changes {
                let key = (fd, filter);
                if flags & kq::EV_DELETE != 0 {
                    assert!(self.notes.remove(&key).is_some(), "delete of a missing knote: ENOENT");
                } else if flags & kq::EV_ADD != 0 {
                    // A new registration reports the current state once.
                    self.notes.insert(key, (flags, flags & kq::EV_DISABLE == 0, 0));
                } else if let Some(n) = self.notes.get_mut(&key) {
                    n.1 = flags & kq::EV_DISABLE == 0;
                }
            }
        }

        fn set_ready(&mut self, fd: i32, filter: i16) {
            *self.state.entry((fd, filter)).or_insert(0) += 1;
        }

        fn set_idle(&mut self, fd: i32, filter: i16) {
            self.state.remove(&(fd, filter));
        }

        fn close(&mut self, fd: i32) {
            self.notes.retain(|&(f, _), _| f != fd);
        }

        fn wait(&mut self) -> Vec<Fired> {
            let mut out = Vec::new();
            for (&(fd, filter), note) in self.notes.iter_mut() {
                let (flags, enabled, seen) = note;
                let Some(&generation) = self.state.get(&(fd, filter)) else { continue };
                if !*enabled || (*flags & kq::EV_CLEAR != 0 && *seen == generation) {
                    continue;
                }
                *seen = generation;
                if *flags & kq::EV_DISPATCH != 0 {
                    *enabled = false;
                }
                out.push((fd, filter, 0, 0, 1));
            }
            out
        }
    }

    /// An epoll set over the model: ctl, wait, close as darwin_events.rs drives a kqueue.
    struct Emulated {
        set: EpollSet,
        kq: KqueueModel,
    }

    impl Emulated {
        fn new() -> Self {
            Emulated { set: EpollSet::default(), kq: KqueueModel::default() }
        }
        fn ctl(&mut self, op: i32, fd: i32, events: u32, data: u64) -> Result<(), i32> {
            let c = self.set.ctl(100, op, fd, events, data, Target::Socket)?;
            self.kq.apply(&c.changes);
            self.set.commit(c);
            Ok(())
        }
        fn wait(&mut self) -> Vec<(u32, u64)> {
            let fired = self.kq.wait();
            let (records, after) = self.set.merge(&fired, 64);
            self.kq.apply(&after);
            records
        }
        fn close(&mut self, fd: i32) {
            self.kq.close(fd);
            self.set.forget(fd);
        }
    }

    #[test]
    fn level_triggered_reports_while_ready() {
        let mut e = Emulated::new();
        e.kq.set_ready(3, kq::EVFILT_READ);
        e.ctl(EPOLL_CTL_ADD, 3, EPOLLIN, 33).unwrap();
        assert_eq!(e.wait(), vec![(EPOLLIN, 33)]);
        assert_eq!(e.wait(), vec![(EPOLLIN, 33)], "still readable: reported again");
        e.kq.set_idle(3, kq::EVFILT_READ);
        assert_eq!(e.wait(), vec![]);
    }

    #[test]
    fn edge_triggered_reports_each_change_once() {
        let mut e = Emulated::new();
        e.kq.set_ready(4, kq::EVFILT_READ);
        e.ctl(EPOLL_CTL_ADD, 4, EPOLLIN | EPOLLET, 44).unwrap();
        assert_eq!(e.wait(), vec![(EPOLLIN, 44)], "ready at registration: once");
        assert_eq!(e.wait(), vec![], "no new data: no new edge");
        e.kq.set_ready(4, kq::EVFILT_READ);
        assert_eq!(e.wait(), vec![(EPOLLIN, 44)], "new data: an edge");
        assert_eq!(e.wait(), vec![]);
    }

    #[test]
    fn oneshot_rearmed_by_mod() {
        let mut e = Emulated::new();
        e.kq.set_ready(5, kq::EVFILT_READ);
        e.kq.set_ready(5, kq::EVFILT_WRITE);
        e.ctl(EPOLL_CTL_ADD, 5, EPOLLIN | EPOLLOUT | EPOLLONESHOT, 55).unwrap();
        assert_eq!(e.wait(), vec![(EPOLLIN | EPOLLOUT, 55)], "one record for both filters");
        e.kq.set_ready(5, kq::EVFILT_READ);
        assert_eq!(e.wait(), vec![], "disarmed until MOD");
        assert_eq!(e.ctl(EPOLL_CTL_ADD, 5, EPOLLIN, 0), Err(err::EEXIST), "still in the set");
        e.ctl(EPOLL_CTL_MOD, 5, EPOLLIN | EPOLLONESHOT, 56).unwrap();
        assert_eq!(e.wait(), vec![(EPOLLIN, 56)], "re-armed, with the new data");
        assert_eq!(e.wait(), vec![]);
    }

    #[test]
    fn closing_removes_and_the_number_can_come_back() {
        let mut e = Emulated::new();
        e.kq.set_ready(6, kq::EVFILT_READ);
        e.ctl(EPOLL_CTL_ADD, 6, EPOLLIN, 66).unwrap();
        e.close(6);
        assert_eq!(e.wait(), vec![]);
        assert_eq!(e.ctl(EPOLL_CTL_DEL, 6, 0, 0), Err(err::ENOENT));
        // A new file at the same number is added afresh (no EEXIST).
        e.ctl(EPOLL_CTL_ADD, 6, EPOLLIN, 67).unwrap();
        assert_eq!(e.wait(), vec![(EPOLLIN, 67)]);
        // DEL then MOD: ENOENT; the model saw the filters deleted (no ENOENT there).
        e.ctl(EPOLL_CTL_DEL, 6, 0, 0).unwrap();
        assert_eq!(e.ctl(EPOLL_CTL_MOD, 6, EPOLLIN, 0), Err(err::ENOENT));
        assert_eq!(e.wait(), vec![]);
    }

    #[test]
    fn mod_changes_the_filters() {
        let mut e = Emulated::new();
        e.kq.set_ready(7, kq::EVFILT_READ);
        e.kq.set_ready(7, kq::EVFILT_WRITE);
        e.ctl(EPOLL_CTL_ADD, 7, EPOLLIN, 1).unwrap();
        assert_eq!(e.wait(), vec![(EPOLLIN, 1)]);
        e.ctl(EPOLL_CTL_MOD, 7, EPOLLOUT, 2).unwrap();
        assert_eq!(e.wait(), vec![(EPOLLOUT, 2)]);
        e.ctl(EPOLL_CTL_MOD, 7, EPOLLIN | EPOLLOUT | EPOLLET, 3).unwrap();
        assert_eq!(e.wait(), vec![(EPOLLIN | EPOLLOUT, 3)]);
        assert_eq!(e.wait(), vec![]);
    }

    #[test]
    fn values_scatter_and_gather_across_buffers() {
        let (mut a, mut b) = ([0u8; 3], [0u8; 9]);
        scatter(0x0807_0605_0403_0201, &mut [&mut a[..], &mut b[..]]);
        assert_eq!(gather(&[&a[..], &b[..]]), Some(0x0807_0605_0403_0201));
        assert_eq!(gather(&[&a[..]]), None);
    }
}
