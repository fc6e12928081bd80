//! Where the program's descriptors end, as far as the guest knows: close() of a number at
//! or past that end is EBADF, answered here without a hypercall. A child that closes every
//! number up to RLIMIT_NOFILE before it execs (Python 2's subprocess with close_fds, many
//! daemons and shells of old; a vfork child whose exec failed does it before it reports)
//! otherwise paid a hypercall per number: microseconds each, tens of them when the host's
//! cores are busy (no worker polls then, every request is a VM exit), so under a limit of
//! 2^20 descriptors a failed subprocess took most of a minute.
//!
//! The end is asked from the monitor (FdsEnd) after a close() that found nothing to close,
//! and holds only while no descriptor can have been made since: every hypercall but those
//! that only close (close, close_range, FdsEnd itself) bumps a generation before it is sent
//! and again after its answer, and an end learnt under another generation is not used (a
//! thread's concurrent open is one such hypercall).

use core::sync::atomic::{AtomicU64, Ordering};

use abi_shared::hypercall::{ExecRequest, FsRequest, Request};
use abi_shared::linux::errno;
use spin::Mutex;

static GENERATION: AtomicU64 = AtomicU64::new(0);
/// (generation, end): every program descriptor was below `end` in that generation.
static KNOWN: Mutex<Option<(u64, i64)>> = Mutex::new(None);

const EBADF: i64 = -(errno::EBADF as i64);

/// Whether `req` can only close descriptors (or ask where they end): it leaves what is
/// known about their end true.
pub fn only_closes(req: &Request<'_>) -> bool {
    matches!(
        req,
        Request::Fs(FsRequest::Close { .. })
            | Request::Exec(ExecRequest::CloseRange { .. })
            | Request::Exec(ExecRequest::FdsEnd)
    )
}

/// Called before a hypercall that may make a descriptor is sent, and after its answer.
#[inline]
pub fn may_change() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

fn generation() -> u64 {
    GENERATION.load(Ordering::Acquire)
}

/// The end, if it is known for the current generation.
fn known_end() -> Option<i64> {
    let known = *KNOWN.lock();
    known.filter(|&(g, _)| g == generation()).map(|(_, end)| end)
}

/// close(fd) answered here: EBADF for a number past every open descriptor (a negative one
/// too), None when only the monitor can tell.
pub fn close_past_end(fd: i32) -> Option<i64> {
    if fd < 0 {
        return Some(EBADF);
    }
    known_end().filter(|&end| i64::from(fd) >= end).map(|_| EBADF)
}

/// After close()'s hypercall answered `r`: a number that was not open may be the first of
/// a run, so learn where the descriptors end (one hypercall) unless that is known.
pub fn after_close(r: i64) -> i64 {
    if r == EBADF && known_end().is_none() {
        let g = generation();
        let end = crate::hypercall::call_ret(&Request::Exec(ExecRequest::FdsEnd));
        if end >= 0 {
            learn(g, end);
        }
    }
    r
}

/// A close_range(first, u32::MAX) that succeeded, sent in generation `g`: nothing is open
/// at or past `first` any more.
pub fn closed_from(g: u64, first: u32) {
    let end = known_end().map_or(i64::from(first), |e| e.min(i64::from(first)));
    learn(g, end);
}

/// The generation a close_range is sent in (for `closed_from`).
pub fn current() -> u64 {
    generation()
}

/// Record `end`, learnt from a request sent in generation `g`, unless a descriptor may
/// have been made since.
fn learn(g: u64, end: i64) {
    let mut known = KNOWN.lock();
    if generation() == g {
        *known = Some((g, end));
    }
}
