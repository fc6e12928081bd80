//! eventfd where the host has none (macOS), from POSIX pieces only, so that the same
//! code runs (and is unit-tested) on Linux.
//!
//! The program's descriptor is one end of a UNIX stream socketpair; the monitor keeps the
//! other end (the "peer"). The counter lives in a page mapped MAP_SHARED | MAP_ANON,
//! which a fork shares, as a forked child shares Linux's eventfd. One invariant ties the
//! two, kept under a lock in the same page: **the program's end has bytes to read while
//! the counter is not zero**, and none while it is (one byte per write, drained when a
//! read takes the counter to zero). So poll, select and a
//! kqueue (the emulated epoll) see the program's descriptor readable exactly when a read
//! would succeed, and always writable (nothing ever fills the peer's side), as Linux's
//! eventfd is short of a full counter. Reads and writes of the descriptor come here
//! (never the raw host read); O_NONBLOCK is the socket's own status flag, so fcntl works
//! on it as it is.
//!
//! Known differences: a write that would overflow the counter (2^64 - 2) waits by
//! sleeping in 10 ms steps rather than on a wakeup, and EPOLLOUT is not withdrawn at a
//! full counter; an eventfd passed to another process with SCM_RIGHTS arrives as the
//! plain socket (that process has neither the counter nor the peer).

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use libc::c_int;

use super::{check, SysResult};
use crate::host::event_emul::{eventfd_add, eventfd_take};
use crate::host::LinuxErrno;
use abi_shared::linux::errno;

/// The shared page's contents.
#[repr(C)]
struct Shared {
    lock: AtomicU32,
    count: AtomicU64,
}

/// One eventfd: its counter page and the monitor's end of the socketpair (`P`: the kind
/// of owner the caller keeps it in).
pub struct Eventfd<P: AsFd> {
    shared: *mut Shared,
    peer: P,
    pub semaphore: bool,
}

// SAFETY: `shared` points to a page mapped for the object's whole life; every access to
// it is through atomics (the count only under the page's lock).
unsafe impl<P: AsFd + Send> Send for Eventfd<P> {}
// SAFETY: as above; `&self` methods only use atomics and host calls.
unsafe impl<P: AsFd + Sync> Sync for Eventfd<P> {}

const PAGE: usize = 4096;
#[cfg(target_os = "linux")]
const SEND_FLAGS: c_int = libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL;
// Darwin has no MSG_NOSIGNAL: the peer gets SO_NOSIGPIPE instead.
#[cfg(not(target_os = "linux"))]
const SEND_FLAGS: c_int = libc::MSG_DONTWAIT;

fn errno_of(e: i32) -> LinuxErrno {
    e as LinuxErrno
}

/// Holds the page's lock (a spin lock: every holder makes one short host call at most).
struct Locked<'a>(&'a Shared);

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        self.0.lock.store(0, Ordering::Release);
    }
}

impl<P: AsFd> Eventfd<P> {
    /// A new eventfd at `initval`: the object and the program's end (blocking and
    /// inheritable; the caller applies EFD_NONBLOCK and EFD_CLOEXEC). `keep` places the
    /// monitor's end (above the monitor's fd floor, say).
    pub fn new(
        initval: u32,
        semaphore: bool,
        keep: impl FnOnce(OwnedFd) -> SysResult<P>,
    ) -> SysResult<(Self, OwnedFd)> {
        let mut pair = [0 as c_int; 2];
        // SAFETY: `pair` has room for the two descriptors socketpair writes.
        check(unsafe { libc::socketpair(libc::AF_UNIX, libc::SOCK_STREAM, 0, pair.as_mut_ptr()) })?;
        // SAFETY: socketpair succeeded: both numbers are new descriptors owned by nobody.
        let (mine, peer) = unsafe { (OwnedFd::from_raw_fd(pair[0]), OwnedFd::from_raw_fd(pair[1])) };
        #[cfg(target_os = "macos")]
        {
            let one: c_int = 1;
            // SAFETY: the option value is a c_int that outlives the call.
            check(unsafe {
                libc::setsockopt(
                    peer.as_raw_fd(),
                    libc::SOL_SOCKET,
                    libc::SO_NOSIGPIPE,
                    (&one as *const c_int).cast(),
                    std::mem::size_of::<c_int>() as libc::socklen_t,
                )
            })?;
        }
        // SAFETY: an anonymous shared mapping of one page; no existing memory is named.
        let page = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                PAGE,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED | libc::MAP_ANON,
                -1,
                0,
            )
        };
        if page == libc::MAP_FAILED {
            return Err(crate::host::last_errno());
        }
        let shared = page.cast::<Shared>();
        // SAFETY: the page is new, writable and zeroed, big and aligned enough for Shared.
        unsafe { shared.write(Shared { lock: AtomicU32::new(0), count: AtomicU64::new(0) }) };
        let efd = Eventfd { shared, peer: keep(peer)?, semaphore };
        if initval > 0 {
            let _l = efd.lock();
            efd.set_count(0, u64::from(initval), mine.as_raw_fd())?;
        }
        Ok((efd, mine))
    }

    fn shared(&self) -> &Shared {
        // SAFETY: the page stays mapped while `self` lives (unmapped in Drop).
        unsafe { &*self.shared }
    }

    fn lock(&self) -> Locked<'_> {
        let s = self.shared();
        while s.lock.compare_exchange_weak(0, 1, Ordering::Acquire, Ordering::Relaxed).is_err() {
            std::thread::yield_now();
        }
        Locked(s)
    }

    /// Under the lock: the counter goes from `old` to `new` (a write when it grows); the
    /// readiness bytes follow. Every write adds a byte, so that an edge-triggered waiter
    /// (EV_CLEAR) sees each write as Linux's eventfd shows it (a wakeup per write); a
    /// counter back at zero drains them all.
    fn set_count(&self, old: u64, new: u64, mine: c_int) -> SysResult<()> {
        if new > old {
            let byte = [1u8];
            // SAFETY: one byte from a live buffer to the monitor's own socket.
            let sent = unsafe { libc::send(self.peer.as_fd().as_raw_fd(), byte.as_ptr().cast(), 1, SEND_FLAGS) };
            // A full socket buffer already holds bytes: the descriptor is readable.
            if sent < 0 && old == 0 {
                return Err(crate::host::last_errno());
            }
        } else if old > 0 && new == 0 {
            let mut bytes = [0u8; 256];
            loop {
                // SAFETY: into a live buffer of that many bytes; the program's end holds
                // the bytes the invariant promises.
                let got = unsafe { libc::recv(mine, bytes.as_mut_ptr().cast(), bytes.len(), libc::MSG_DONTWAIT) };
                if got < bytes.len() as isize {
                    break;
                }
            }
        }
        self.shared().count.store(new, Ordering::Relaxed);
        Ok(())
    }

    /// The counter now (for tests and gettime-like looks).
    pub fn count(&self) -> u64 {
        let _l = self.lock();
        self.shared().count.load(Ordering::Relaxed)
    }

    /// read(2) of the program's end `mine`: the value, EAGAIN when nonblocking and zero,
    /// EINTR when a signal ends the wait.
    pub fn read(&self, mine: c_int, nonblock: bool) -> SysResult<u64> {
        loop {
            {
                let _l = self.lock();
                let count = self.shared().count.load(Ordering::Relaxed);
                if let Some((value, new)) = eventfd_take(count, self.semaphore) {
                    self.set_count(count, new, mine)?;
                    return Ok(value);
                }
            }
            if nonblock {
                return Err(errno_of(errno::EAGAIN as i32));
            }
            // Wait for the readiness byte (another thread or process writes).
            let mut pfd = libc::pollfd { fd: mine, events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            check(unsafe { libc::poll(&mut pfd, 1, -1) })?;
        }
    }

    /// write(2) of `value` to the program's end `mine`.
    pub fn write(&self, mine: c_int, value: u64, nonblock: bool) -> SysResult<()> {
        loop {
            {
                let _l = self.lock();
                let count = self.shared().count.load(Ordering::Relaxed);
                match eventfd_add(count, value) {
                    Ok(new) => return self.set_count(count, new, mine),
                    Err(e) if e != errno::EAGAIN as i32 || nonblock => return Err(errno_of(e)),
                    Err(_) => {}
                }
            }
            // A full counter: wait for a read (rare; a short sleep, cut short by signals).
            // SAFETY: poll of no descriptors is a sleep.
            check(unsafe { libc::poll(std::ptr::null_mut(), 0, 10) })?;
        }
    }
}

impl<P: AsFd> Drop for Eventfd<P> {
    fn drop(&mut self) {
        // SAFETY: the page was mapped in `new` and nothing uses it after the object.
        unsafe { libc::munmap(self.shared.cast(), PAGE) };
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn readable(fd: c_int) -> bool {
        let mut pfd = libc::pollfd { fd, events: libc::POLLIN | libc::POLLOUT, revents: 0 };
        // SAFETY: one valid pollfd, no wait.
        unsafe { libc::poll(&mut pfd, 1, 0) };
        assert!(pfd.revents & libc::POLLOUT != 0, "always writable");
        pfd.revents & libc::POLLIN != 0
    }

    fn pending(fd: c_int) -> c_int {
        let mut n: c_int = 0;
        // SAFETY: FIONREAD writes one int.
        assert_eq!(unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) }, 0);
        n
    }

    fn make(initval: u32, semaphore: bool) -> (Eventfd<OwnedFd>, OwnedFd) {
        Eventfd::new(initval, semaphore, Ok).unwrap()
    }

    #[test]
    fn counter_and_readiness() {
        let (e, mine) = make(0, false);
        let fd = mine.as_raw_fd();
        assert!(!readable(fd));
        assert_eq!(e.read(fd, true), Err(errno::EAGAIN as LinuxErrno));
        e.write(fd, 3, true).unwrap();
        assert!(readable(fd));
        e.write(fd, 4, true).unwrap();
        assert_eq!(e.count(), 7);
        assert_eq!(pending(fd), 2, "one byte per write: an edge for each");
        assert_eq!(e.read(fd, true), Ok(7));
        assert!(!readable(fd), "drained: not readable");
        assert_eq!(pending(fd), 0);
        assert_eq!(e.write(fd, u64::MAX, true), Err(errno::EINVAL as LinuxErrno));
        e.write(fd, u64::MAX - 1, true).unwrap();
        assert_eq!(e.write(fd, 1, true), Err(errno::EAGAIN as LinuxErrno), "full counter");
        assert_eq!(e.read(fd, true), Ok(u64::MAX - 1));
    }

    #[test]
    fn semaphore_reads_one_at_a_time() {
        let (e, mine) = make(2, true);
        let fd = mine.as_raw_fd();
        assert!(readable(fd));
        assert_eq!(e.read(fd, true), Ok(1));
        assert!(readable(fd), "1 left");
        assert_eq!(e.read(fd, true), Ok(1));
        assert!(!readable(fd));
        assert_eq!(e.read(fd, true), Err(errno::EAGAIN as LinuxErrno));
    }

    #[test]
    fn blocking_read_waits_for_a_writer() {
        let (e, mine) = make(0, false);
        let fd = mine.as_raw_fd();
        std::thread::scope(|s| {
            s.spawn(|| e.write(fd, 9, false).unwrap());
            assert_eq!(e.read(fd, false), Ok(9));
        });
    }

    #[test]
    fn fork_shares_the_counter() {
        let (e, mine) = make(1, false);
        let fd = mine.as_raw_fd();
        // SAFETY: the child only writes to the counter (atomics, one send) and _exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            let ok = e.write(fd, 41, true).is_ok();
            // SAFETY: ends the child without running the parent's destructors or tests.
            unsafe { libc::_exit(if ok { 0 } else { 1 }) };
        }
        let mut status = 0;
        // SAFETY: waits for the child just forked.
        assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
        assert_eq!(status, 0);
        assert_eq!(e.read(fd, true), Ok(42), "the child's write is the parent's counter");
        assert!(!readable(fd));
    }
}
