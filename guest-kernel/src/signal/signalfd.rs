//! signalfd: a descriptor whose reads take pending signals of a mask, served in the guest
//! because the pending signals live here. The descriptor table (task/fdtable.rs)
//! remembers which numbers are signalfds, with their state (the mask, shared by
//! duplicates as the open file is on Linux).
//!
//! Its host descriptor holds the number (so close, dup, fcntl, fork and the close-on-exec
//! sweep need nothing new) and shows its readiness to the host, so that a host epoll set
//! can watch it: on a Linux host it is a timerfd that the guest makes readable (armed to
//! expire at once) while a signal of the mask is pending and not readable (disarmed, which
//! also clears its count) otherwise. Only the guest changes it, with idempotent settings,
//! so processes that share it after a fork cannot make a read block. The guest brings
//! the mirror up to date before each host epoll wait and after each signalfd read; a
//! signal from outside cuts the host wait short (the monitor catches blocked signals, see
//! host.rs), which brings it up to date and waits again. On macOS the timerfd is the
//! monitor's emulation (a kqueue timer), which works the same way. Where the host has no
//! timerfd at all the host descriptor is /dev/null, which epoll refuses (EPERM).
//! poll and select look at a signalfd's readiness here and leave it out of the host call.

use super::SigInfo;

/// `struct signalfd_siginfo`.
pub const SIGINFO_SIZE: usize = 128;

/// Which union member of a siginfo is meaningful, as Linux's siginfo_layout decides it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Layout {
    Kill,
    Timer,
    Poll,
    Fault,
    Chld,
    Rt,
    Sys,
}

const SI_USER: i32 = abi_shared::linux::general::SI_USER as i32;
const SI_KERNEL: i32 = abi_shared::linux::general::SI_KERNEL as i32;
use abi_shared::linux::general::SI_SIGIO;
use abi_shared::linux::general::SI_TIMER;
const NSIGPOLL: i32 = abi_shared::linux::general::NSIGPOLL as i32;

fn layout(sig: i32, code: i32) -> Layout {
    use abi_shared::linux::signal::*;
    if code > SI_USER && code < SI_KERNEL {
        // Codes each signal defines for itself (ILL_*, FPE_*, SEGV_*, BUS_*, TRAP_*,
        // CLD_*, POLL_*, SYS_*), up to how many it has.
        let specific = match sig {
            SIGILL => Some((11, Layout::Fault)),
            SIGFPE => Some((15, Layout::Fault)),
            SIGSEGV => Some((10, Layout::Fault)),
            SIGBUS => Some((5, Layout::Fault)),
            SIGTRAP => Some((6, Layout::Fault)),
            SIGCHLD => Some((6, Layout::Chld)),
            SIGIO => Some((NSIGPOLL, Layout::Poll)),
            SIGSYS => Some((2, Layout::Sys)),
            _ => None,
        };
        match specific {
            Some((limit, l)) if code <= limit => l,
            _ if code <= NSIGPOLL => Layout::Poll,
            _ => Layout::Kill,
        }
    } else if code == SI_TIMER {
        Layout::Timer
    } else if code == SI_SIGIO {
        Layout::Poll
    } else if code < 0 {
        Layout::Rt
    } else {
        Layout::Kill
    }
}

fn put_u32(out: &mut [u8; SIGINFO_SIZE], at: usize, v: u32) {
    out[at..at + 4].copy_from_slice(&v.to_le_bytes());
}

fn put_u64(out: &mut [u8; SIGINFO_SIZE], at: usize, v: u64) {
    out[at..at + 8].copy_from_slice(&v.to_le_bytes());
}

/// A siginfo as one `signalfd_siginfo` record (Linux's signalfd_copyinfo). Our siginfo's
/// union starts at `fields`: word 0 is bytes 16..24 of siginfo_t, word 1 bytes 24..32...
pub fn record(info: &SigInfo) -> [u8; SIGINFO_SIZE] {
    const PID: usize = 12;
    const UID: usize = 16;
    const FD: usize = 20;
    const TID: usize = 24;
    const BAND: usize = 28;
    const OVERRUN: usize = 32;
    const STATUS: usize = 40;
    const INT: usize = 44;
    const PTR: usize = 48;
    const UTIME: usize = 56;
    const STIME: usize = 64;
    const ADDR: usize = 72;
    const SYSCALL: usize = 84;
    const CALL_ADDR: usize = 88;
    const ARCH: usize = 96;
    let mut out = [0u8; SIGINFO_SIZE];
    put_u32(&mut out, 0, info.signo as u32);
    put_u32(&mut out, 4, info.errno as u32);
    put_u32(&mut out, 8, info.code as u32);
    let [w0, w1, w2, w3, ..] = info.fields;
    let (low0, high0) = (w0 as u32, (w0 >> 32) as u32);
    match layout(info.signo, info.code) {
        Layout::Kill => {
            put_u32(&mut out, PID, low0);
            put_u32(&mut out, UID, high0);
        }
        Layout::Timer => {
            put_u32(&mut out, TID, low0);
            put_u32(&mut out, OVERRUN, high0);
            put_u64(&mut out, PTR, w1);
            put_u32(&mut out, INT, w1 as u32);
        }
        Layout::Poll => {
            put_u32(&mut out, BAND, w0 as u32);
            put_u32(&mut out, FD, w1 as u32);
        }
        Layout::Fault => put_u64(&mut out, ADDR, w0),
        Layout::Chld => {
            put_u32(&mut out, PID, low0);
            put_u32(&mut out, UID, high0);
            put_u32(&mut out, STATUS, w1 as u32);
            put_u64(&mut out, UTIME, w2);
            put_u64(&mut out, STIME, w3);
        }
        Layout::Rt => {
            put_u32(&mut out, PID, low0);
            put_u32(&mut out, UID, high0);
            put_u64(&mut out, PTR, w1);
            put_u32(&mut out, INT, w1 as u32);
        }
        Layout::Sys => {
            put_u64(&mut out, CALL_ADDR, w0);
            put_u32(&mut out, SYSCALL, w1 as u32);
            put_u32(&mut out, ARCH, (w1 >> 32) as u32);
        }
    }
    out
}

#[cfg(target_os = "none")]
mod glue {
    use abi_shared::hypercall::{FsRequest, Request, Response};
    use abi_shared::linux::errno;

    use super::{record, SIGINFO_SIZE};
    use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    use alloc::collections::BTreeSet;
    use alloc::sync::Arc;

    use crate::hypercall::{call, call_ret};
    use crate::mm::uaccess;
    use crate::signal::{self, UNBLOCKABLE};
    use crate::sysctx::{err, Ctx, EFAULT, EINVAL};
    use crate::task::fdtable::{self, Desc, Kind, FDS};

    /// What a signalfd's descriptors share: its mask, and what its host timerfd shows
    /// (`None`: the host descriptor is a /dev/null placeholder, which shows nothing).
    pub struct State {
        mask: AtomicU64,
        shown: spin::Mutex<Option<bool>>,
    }

    /// How many signalfds are open (their states alive): `sync_readiness`, which runs
    /// before every host epoll wait, costs one load while there are none.
    static OPEN: AtomicUsize = AtomicUsize::new(0);

    impl State {
        fn new(mask: u64, shown: Option<bool>) -> State {
            OPEN.fetch_add(1, Ordering::Relaxed);
            State { mask: AtomicU64::new(mask), shown: spin::Mutex::new(shown) }
        }
    }

    impl Drop for State {
        fn drop(&mut self) {
            OPEN.fetch_sub(1, Ordering::Relaxed);
        }
    }

    const CLOCK_MONOTONIC: i32 = abi_shared::linux::general::CLOCK_MONOTONIC as i32;
    const TFD_TIMER_ABSTIME: i32 = abi_shared::linux::general::TFD_TIMER_ABSTIME as i32;
    const O_RDWR: i32 = abi_shared::linux::general::O_RDWR as i32;
    const O_NONBLOCK: i32 = abi_shared::linux::general::O_NONBLOCK as i32;
    const O_CLOEXEC: i32 = abi_shared::linux::general::O_CLOEXEC as i32;
    use abi_shared::linux::general::AT_FDCWD;
    const F_GETFL: i32 = abi_shared::linux::general::F_GETFL as i32;

    pub fn signalfd(c: &mut Ctx<'_>) -> i64 {
        create_or_update(c.int(0), c.arg(1), c.arg(2), 0)
    }

    pub fn signalfd4(c: &mut Ctx<'_>) -> i64 {
        create_or_update(c.int(0), c.arg(1), c.arg(2), c.int(3))
    }

    /// signalfd4(fd, mask, sizemask, flags): a new signalfd for fd -1, else a new mask for
    /// the existing one.
    fn create_or_update(fd: i32, mask_addr: u64, size: u64, flags: i32) -> i64 {
        if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 || size != 8 {
            return EINVAL;
        }
        let mask = match uaccess::read_u64(mask_addr) {
            Ok(m) => m & !UNBLOCKABLE,
            Err(e) => return e,
        };
        if fd != -1 {
            if let Some(shared) = state_of(fd) {
                // Duplicates share the mask, as they share the open file on Linux.
                shared.mask.store(mask, Ordering::Relaxed);
                sync_readiness();
                return fd as i64;
            }
            // EBADF for a closed number, EINVAL for anything else
            let open = call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_GETFL, arg: 0 })) >= 0;
            return if open { EINVAL } else { err(errno::EBADF) };
        }
        // TFD_CLOEXEC and TFD_NONBLOCK are O_CLOEXEC and O_NONBLOCK, as SFD_* are.
        let (new, shown) = match call_ret(&Request::Fs(FsRequest::TimerfdCreate { clock: CLOCK_MONOTONIC, flags })) {
            fd if fd >= 0 => (fd, Some(false)),
            _ => {
                let placeholder = Request::Fs(FsRequest::Openat {
                    dirfd: AT_FDCWD,
                    path: b"/dev/null",
                    flags: O_RDWR | flags,
                    mode: 0,
                });
                (call_ret(&placeholder), None)
            }
        };
        if new < 0 {
            return new;
        }
        let state = State::new(mask, shown);
        FDS.opened(new as i32, Desc::new(Kind::Signalfd, true, true), Some(Arc::new(state)));
        sync_readiness();
        new
    }

    /// The state of signalfd `fd`, shared with its duplicates (the descriptor's private data).
    fn state_of(fd: i32) -> Option<Arc<State>> {
        if fdtable::kind(fd) != Kind::Signalfd {
            return None;
        }
        FDS.private(fd)?.downcast::<State>().ok()
    }

    /// The signals signalfd `fd` takes, if it is one.
    pub fn mask(fd: i32) -> Option<u64> {
        state_of(fd).map(|s| s.mask.load(Ordering::Relaxed))
    }

    /// Bring every signalfd's host readiness up to date with the signals pending for the
    /// calling thread (what a read by it would find). Costs nothing without signalfds;
    /// a host call for each whose readiness changed.
    pub fn sync_readiness() {
        if OPEN.load(Ordering::Relaxed) == 0 {
            return;
        }
        let signalfds = FDS.with_private(Kind::Signalfd);
        if signalfds.is_empty() {
            return;
        }
        signal::has_deliverable();
        let pending = signal::lock().pending();
        let mut seen = BTreeSet::new();
        for (fd, private) in signalfds {
            let Ok(state) = private.downcast::<State>() else { continue };
            // Duplicates share one state and one host timerfd: once is enough.
            if !seen.insert(Arc::as_ptr(&state) as usize) {
                continue;
            }
            let want = pending & state.mask.load(Ordering::Relaxed) != 0;
            let mut shown = state.shown.lock();
            if *shown == Some(!want) && show(fd, want) {
                *shown = Some(want);
            }
        }
    }

    /// Arm the host timerfd to expire at once (readable), or disarm it, which also clears
    /// its count (not readable).
    fn show(fd: i32, readable: bool) -> bool {
        let new = if readable { [0, 0, 0, 1] } else { [0; 4] };
        let flags = if readable { TFD_TIMER_ABSTIME } else { 0 };
        matches!(call(&Request::Fs(FsRequest::TimerfdSettime { fd, flags, new })), Response::Itimerspec(_))
    }

    /// Take one pending signal of `mask`, if any (a timer's or one from outside included).
    fn take(mask: u64) -> Option<signal::SigInfo> {
        signal::has_deliverable();
        signal::lock().take(mask).map(|(_, info)| info)
    }

    fn nonblocking(fd: i32) -> bool {
        let fl = call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_GETFL, arg: 0 }));
        fl >= 0 && fl as i32 & O_NONBLOCK != 0
    }

    /// read of signalfd `fd` with `mask`: as many records as fit, waiting (unless the
    /// descriptor is non-blocking) only for the first; a handled signal interrupts the wait
    /// (EINTR, restarted per SA_RESTART).
    pub fn read(fd: i32, mask: u64, addr: u64, len: u64) -> i64 {
        let count = len / SIGINFO_SIZE as u64;
        if count == 0 {
            return EINVAL;
        }
        let mut done = 0u64;
        // O_NONBLOCK is looked at once, as Linux does: a read already waiting keeps waiting
        // when another process sharing the descriptor sets it.
        let mut may_wait = None;
        while done < count {
            let Some(info) = take(mask) else {
                if done > 0 {
                    break;
                }
                if !*may_wait.get_or_insert_with(|| !nonblocking(fd)) {
                    return err(errno::EAGAIN);
                }
                // While it waits, a process-directed signal of `mask` may be given to this
                // thread although it blocks it (as for sigtimedwait).
                let me = crate::task::current().signals();
                me.lock().waiting_for = mask;
                let interrupted = crate::signal::wait::sleep_interruptible_until(u64::MAX, mask);
                me.lock().waiting_for = 0;
                if interrupted && signal::lock().pending() & mask == 0 {
                    return err(errno::EINTR);
                }
                continue;
            };
            if uaccess::copy_to_user(addr + done * SIGINFO_SIZE as u64, &record(&info)).is_err() {
                return if done > 0 { (done * SIGINFO_SIZE as u64) as i64 } else { EFAULT };
            }
            done += 1;
        }
        sync_readiness();
        (done * SIGINFO_SIZE as u64) as i64
    }

    /// poll's view of `fd` if it is a signalfd: readable while a signal of its mask is
    /// pending. The caller refreshed the pending set (timers, outside signals) first.
    pub fn readable(fd: i32) -> Option<bool> {
        let mask = mask(fd)?;
        Some(signal::lock().pending() & mask != 0)
    }
}

#[cfg(target_os = "none")]
pub use glue::{mask, read, readable, signalfd, signalfd4, sync_readiness};

#[cfg(test)]
mod tests {
    use super::*;
    use abi_shared::linux::signal::*;

    fn u32_at(r: &[u8; SIGINFO_SIZE], at: usize) -> u32 {
        u32::from_le_bytes(r[at..at + 4].try_into().unwrap())
    }

    fn u64_at(r: &[u8; SIGINFO_SIZE], at: usize) -> u64 {
        u64::from_le_bytes(r[at..at + 8].try_into().unwrap())
    }

    #[test]
    fn kill_records_sender() {
        let r = record(&SigInfo::sent_by(SIGUSR1, SI_USER, 4242, 1000));
        assert_eq!((u32_at(&r, 0), u32_at(&r, 8), u32_at(&r, 12), u32_at(&r, 16)), (SIGUSR1 as u32, 0, 4242, 1000));
        assert_eq!(u64_at(&r, 48), 0, "no value for kill");
    }

    #[test]
    fn sigqueue_records_sender_and_value() {
        let mut i = SigInfo::sent_by(SIGRTMIN + 1, -1, 7, 8);
        i.fields[1] = 0x1234_5678_9abc;
        let r = record(&i);
        assert_eq!((u32_at(&r, 12), u32_at(&r, 16)), (7, 8));
        assert_eq!(u64_at(&r, 48), 0x1234_5678_9abc);
        assert_eq!(u32_at(&r, 44), 0x5678_9abc);
    }

    #[test]
    fn child_records_status() {
        let mut i = SigInfo::sent_by(SIGCHLD, 1, 99, 0); // CLD_EXITED
        i.fields[1] = 3;
        let r = record(&i);
        assert_eq!((u32_at(&r, 12), u32_at(&r, 40)), (99, 3));
    }

    #[test]
    fn timer_records_id_overrun_and_value() {
        let mut i = SigInfo { signo: SIGALRM, code: SI_TIMER, ..SigInfo::default() };
        i.fields[0] = 5 | (2 << 32);
        i.fields[1] = 77;
        let r = record(&i);
        assert_eq!((u32_at(&r, 24), u32_at(&r, 32), u64_at(&r, 48), u32_at(&r, 44)), (5, 2, 77, 77));
        assert_eq!(u32_at(&r, 12), 0, "a timer has no sender");
    }

    #[test]
    fn fault_records_address_and_kernel_signals_their_zero_sender() {
        let r = record(&SigInfo::fault(SIGSEGV, 1, 0xdead_0000));
        assert_eq!(u64_at(&r, 72), 0xdead_0000);
        let r = record(&SigInfo::sent_by(SIGALRM, SI_KERNEL, 0, 0));
        assert_eq!((u32_at(&r, 8), u64_at(&r, 72)), (SI_KERNEL as u32, 0));
    }
}
