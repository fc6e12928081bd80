//! The hypercall worker: a host thread per vCPU that serves requests the guest publishes in
//! shared memory, so a forwarded syscall costs no exit (an exit costs ~36 µs on kvm_pvm;
//! a polled request well under one).
//!
//! It polls adaptively: after each request it spins for a short while for the next one
//! (syscall-heavy programs issue them back to back), then announces that it sleeps and
//! blocks on an eventfd that the guest signals through an ioeventfd port — inside the host
//! kernel, without an exit. When a request takes long (a read on an empty pipe), the guest
//! stops its vCPU with an exit and the vCPU thread waits here for the answer.

use std::fs::File;
use std::io::{Read, Write};
use std::sync::atomic::{fence, AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use abi_shared::layout::vcpu_block;

use crate::guest_mem::GuestMemory;
use crate::server::Server;

/// How long the worker keeps polling after a request before it sleeps.
const SPIN: Duration = Duration::from_micros(abi_shared::layout::WORKER_POLL_MICROS);
/// While a caught signal waits for the guest, its kick is repeated this often (in case it
/// came just before a host call started and was lost).
const SIGNAL_REKICK: Duration = Duration::from_millis(50);

struct Shared {
    stop: AtomicBool,
    /// Signalled after every answer, for a vCPU thread waiting in `wait_for_answer`.
    answered: (Mutex<()>, Condvar),
    /// A vCPU thread waits in `wait_for_answer`: only then is the condition variable
    /// signalled (a notification is a futex syscall, too dear for every request).
    waiting: AtomicBool,
    /// The vCPU thread serves a request itself (`pause`): the guest waits in that exit and
    /// publishes nothing meanwhile, so the worker sleeps rather than poll a core away from
    /// the process that is to answer (the other end of a pipe, on a 2-core machine).
    paused: AtomicBool,
}

pub struct Worker {
    thread: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    wake: Arc<File>,
    mem: Arc<GuestMemory>,
    block: u64,
}

/// The control words of the vCPU block at `block`.
struct Control<'m> {
    req: &'m AtomicU64,
    resp: &'m AtomicU64,
    asleep: &'m AtomicU32,
    timer: GuestTimer<'m>,
    wakes_at: &'m AtomicU64,
}

impl<'m> Control<'m> {
    fn new(mem: &'m GuestMemory, block: u64) -> Option<Control<'m>> {
        Some(Control {
            req: mem.atomic_u64(block + vcpu_block::HC_REQ_SEQ).ok()?,
            resp: mem.atomic_u64(block + vcpu_block::HC_RESP_SEQ).ok()?,
            asleep: mem.atomic_u32(block + vcpu_block::HC_WORKER_ASLEEP).ok()?,
            timer: GuestTimer::new(mem, block)?,
            wakes_at: mem.atomic_u64(block + vcpu_block::WORKER_WAKES_AT).ok()?,
        })
    }
}

/// After a kick for a due timer, the next one waits this long: the guest may not have
/// reached a kernel entry yet, or its clock may run a little behind ours.
const TIMER_REKICK: Duration = Duration::from_millis(1);

/// The guest's earliest timer that raises a signal, as it publishes it in its vCPU block:
/// a program looping in user mode is interrupted at that deadline, as on Linux.
pub struct GuestTimer<'m> {
    deadline: &'m AtomicU64,
    signal: &'m AtomicU64,
}

impl<'m> GuestTimer<'m> {
    pub fn new(mem: &'m GuestMemory, block: u64) -> Option<GuestTimer<'m>> {
        Some(GuestTimer {
            deadline: mem.atomic_u64(block + vcpu_block::TIMER_DEADLINE).ok()?,
            signal: mem.atomic_u64(block + vcpu_block::TIMER_SIGNAL).ok()?,
        })
    }

    /// The deadline (host CLOCK_MONOTONIC ns), if one is armed.
    pub fn deadline(&self) -> Option<u64> {
        Some(self.deadline.load(Ordering::Acquire)).filter(|&d| d != 0)
    }

    /// The signal the earliest timer raises (read after the deadline, which the guest
    /// publishes after it).
    pub fn signal(&self) -> Option<i32> {
        Some(self.signal.load(Ordering::Relaxed) as i32).filter(|s| (1..=64).contains(s))
    }

    /// The signal of a timer that is due now.
    pub fn due(&self) -> Option<i32> {
        let d = self.deadline()?;
        if crate::server::clock_ns(libc::CLOCK_MONOTONIC) < d {
            return None;
        }
        self.signal()
    }

    /// How long until the deadline, if one is armed (zero once due).
    pub fn time_left(&self) -> Option<Duration> {
        let d = self.deadline()?;
        Some(Duration::from_nanos(d.saturating_sub(crate::server::clock_ns(libc::CLOCK_MONOTONIC))))
    }
}

impl Worker {
    /// Start serving the vCPU block at `block`. `wake` is the eventfd behind the guest's
    /// HYPERCALL_WAKE port.
    pub fn start(mem: Arc<GuestMemory>, server: Arc<Server>, block: u64, wake: File) -> std::io::Result<Worker> {
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            answered: (Mutex::new(()), Condvar::new()),
            waiting: AtomicBool::new(false),
            paused: AtomicBool::new(false),
        });
        // Shared rather than cloned: a clone would take the lowest free fd, which belongs to
        // the Linux program.
        let wake = Arc::new(wake);
        // The thread starts with its creator's (the first vCPU thread's) credentials.
        server.forget_first_vcpu_creds();
        let (m, s, w) = (mem.clone(), shared.clone(), wake.clone());
        let thread = std::thread::Builder::new()
            .name("hypercall-worker".into())
            .spawn(move || serve_loop(&m, &server, block, &s, &w))?;
        Ok(Worker { thread: Some(thread), shared, wake, mem, block })
    }

    /// Block until the request the guest published has been answered (the guest exited
    /// with HYPERCALL_WAIT). Err if the worker thread is gone (it could only die from a bug
    /// in a request handler); waiting for it would then hang linuxrun.
    pub fn wait_for_answer(&self) -> Result<(), ()> {
        let Some(c) = Control::new(&self.mem, self.block) else { return Err(()) };
        let (lock, cv) = &self.shared.answered;
        let mut guard = lock.lock().unwrap_or_else(|e| e.into_inner());
        // Announce the wait before looking: pairs with the worker storing the answer and
        // then reading `waiting` (both SeqCst), so one of the two sees the other.
        self.shared.waiting.store(true, Ordering::SeqCst);
        let mut result = Ok(());
        while c.resp.load(Ordering::SeqCst) != c.req.load(Ordering::Acquire) {
            if self.thread.as_ref().is_none_or(|t| t.is_finished()) {
                result = Err(());
                break;
            }
            // The timeout is a safety net against a missed notification, not a poll; and
            // against a signal that came just before the worker blocked in a host syscall,
            // so that its kick was lost: kick again until the guest takes the signal.
            // And against a guest timer that falls due while the worker blocks: its signal
            // must interrupt that host call, as it would interrupt the syscall on Linux.
            let nap = c.timer.time_left().map_or(SIGNAL_REKICK, |t| t.clamp(TIMER_REKICK, SIGNAL_REKICK));
            guard = cv.wait_timeout(guard, nap).map(|r| r.0).unwrap_or_else(|e| e.into_inner().0);
            crate::signals::kick_worker();
            if let Some(sig) = c.timer.due() {
                crate::signals::kick_worker_for_timer(sig);
            }
        }
        self.shared.waiting.store(false, Ordering::SeqCst);
        drop(guard);
        result
    }

    /// Stop polling until `wake_up`: the vCPU thread is about to serve a request itself.
    pub fn pause(&self) {
        self.shared.paused.store(true, Ordering::Relaxed);
    }

    /// Wake the worker from the host side (a write to its eventfd): it then polls for
    /// requests for a while, as after serving one. It is marked awake at once, so that the
    /// guest publishes its next request rather than exiting again while the worker gets a
    /// core; the eventfd is written after that, so a worker that was just going to sleep
    /// wakes again.
    pub fn wake_up(&self) {
        self.shared.paused.store(false, Ordering::Relaxed);
        if let Ok(asleep) = self.mem.atomic_u32(self.block + vcpu_block::HC_WORKER_ASLEEP) {
            asleep.store(0, Ordering::SeqCst);
        }
        let _ = (&*self.wake).write_all(&1u64.to_ne_bytes());
    }

    pub fn stop(self) {
        self.stop_keeping_wake();
    }

    /// Stop the thread (it is between requests: the one vCPU is in an exit) and hand back
    /// the wake eventfd, for a worker started again after fork.
    pub fn stop_keeping_wake(mut self) -> Option<File> {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = (&*self.wake).write_all(&1u64.to_ne_bytes());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        // The thread held the only other reference.
        Arc::try_unwrap(self.wake).ok()
    }
}

/// Block until the guest rings the wake port (or `stop`). While a caught signal waits for
/// the guest, wake every 50 ms to kick the vCPU thread again: when the guest sends its
/// requests through the exit doorbell, that thread serves them itself, and a kick that came
/// just before it blocked in a host call would otherwise be lost. Wake at the guest's timer
/// deadline too and interrupt the vCPU with the timer's signal (again every millisecond
/// until the guest has taken it and published its next deadline).
fn sleep_until_woken(wake: &File, shared: &Shared, c: &Control<'_>) {
    use std::os::fd::AsRawFd;
    while !shared.stop.load(Ordering::Relaxed) {
        // One reading of the deadline decides both when we say we wake by ourselves and how
        // long we nap. Announce it, then look at the deadline once more: pairs with the
        // guest's fence between publishing a deadline and reading this word, so either we
        // see its new deadline here or it sees that we would sleep past it and rings. (Two
        // readings, one for the nap and one for the announcement, let a deadline published
        // in between be announced and then slept through without a timeout.)
        let deadline = c.timer.deadline().unwrap_or(0);
        #[cfg(test)]
        tests::pause_before_announcing();
        c.wakes_at.store(deadline, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if c.timer.deadline().unwrap_or(0) != deadline {
            continue;
        }
        let signal_nap = (crate::signals::pending() != 0).then_some(SIGNAL_REKICK);
        let timer_nap = match until_deadline(deadline, crate::server::clock_ns(libc::CLOCK_MONOTONIC)) {
            Some(left) if left.is_zero() => {
                if let Some(sig) = c.timer.signal() {
                    crate::signals::kick_vcpu_for_timer(sig);
                }
                Some(TIMER_REKICK)
            }
            left => left,
        };
        let nap = match (signal_nap, timer_nap) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        // poll counts milliseconds: round up, a timer's signal must not come early.
        let timeout = nap.map_or(-1, |d| d.as_micros().div_ceil(1000).min(i32::MAX as u128) as i32);
        let mut pfd = libc::pollfd { fd: wake.as_raw_fd(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, timeout) };
        c.wakes_at.store(0, Ordering::Relaxed);
        if n > 0 {
            let mut count = [0u8; 8];
            let _ = (&*wake).read(&mut count);
            return;
        }
        if crate::signals::pending() != 0 {
            crate::signals::kick_vcpu();
        }
    }
}

/// How long a sleeping worker may nap for the guest deadline `deadline` (host
/// CLOCK_MONOTONIC ns; 0: none) at `now`: as long as it likes without one, zero once due.
fn until_deadline(deadline: u64, now: u64) -> Option<Duration> {
    (deadline != 0).then(|| Duration::from_nanos(deadline.saturating_sub(now)))
}

fn serve_loop(mem: &GuestMemory, server: &Server, block: u64, shared: &Shared, wake: &File) {
    crate::signals::set_worker_thread(true);
    serve_requests(mem, server, block, shared, wake);
    crate::signals::set_worker_thread(false);
}

fn serve_requests(mem: &GuestMemory, server: &Server, block: u64, shared: &Shared, wake: &File) {
    let Some(c) = Control::new(mem, block) else { return };
    let mut channel = crate::server::Channel::new(block);
    let mut last = c.resp.load(Ordering::Acquire);
    let mut idle_since = Instant::now();
    while !shared.stop.load(Ordering::Relaxed) {
        let seq = c.req.load(Ordering::Acquire);
        if seq != last {
            // A handler panicked earlier: stop rather than answer with stale data.
            if server.is_poisoned() {
                return;
            }
            server.follow_first_vcpu_creds();
            crate::server::serve_area(server, &mut channel, mem);
            last = seq;
            c.resp.store(seq, Ordering::SeqCst);
            if shared.waiting.load(Ordering::SeqCst) {
                let (lock, cv) = &shared.answered;
                drop(lock.lock());
                cv.notify_all();
            }
            idle_since = Instant::now();
            continue;
        }
        if idle_since.elapsed() < SPIN && !shared.paused.load(Ordering::Relaxed) {
            std::hint::spin_loop();
            continue;
        }
        // Announce the sleep, then look once more: pairs with the guest's fence between
        // publishing a request and reading `asleep`, so no request is left unseen.
        c.asleep.store(1, Ordering::Relaxed);
        fence(Ordering::SeqCst);
        if c.req.load(Ordering::Relaxed) == last && !shared.stop.load(Ordering::Relaxed) {
            sleep_until_woken(wake, shared, &c);
        }
        c.asleep.store(0, Ordering::Relaxed);
        idle_since = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_shared::layout::VCPU_BLOCK_SIZE;

    /// How long a worker falling asleep pauses between reading the deadline and announcing
    /// when it wakes (µs), to let a test publish a new deadline right there.
    static PAUSE_MICROS: AtomicU64 = AtomicU64::new(0);

    pub(super) fn pause_before_announcing() {
        let pause = Duration::from_micros(PAUSE_MICROS.load(Ordering::Relaxed));
        let start = Instant::now();
        while start.elapsed() < pause {
            std::hint::spin_loop();
        }
    }

    #[test]
    fn a_deadline_bounds_the_nap() {
        assert_eq!(until_deadline(0, 5), None);
        assert_eq!(until_deadline(5_000_000, 1_000_000), Some(Duration::from_millis(4)));
        assert_eq!(until_deadline(5, 9), Some(Duration::ZERO));
    }

    /// The guest's side of publishing a deadline (guest-kernel signal/timer.rs `publish`):
    /// store it, fence, and ring if the worker sleeps past it; `pause` between the fence and
    /// the look at the worker. Returns whether it rang.
    fn publish_as_the_guest(c: &Control<'_>, wake: &File, deadline: u64, pause: Duration) -> bool {
        c.timer.signal.store(14, Ordering::Relaxed);
        c.timer.deadline.store(deadline, Ordering::Release);
        fence(Ordering::SeqCst);
        std::thread::sleep(pause);
        let wakes_at = c.wakes_at.load(Ordering::Relaxed);
        let ring = c.asleep.load(Ordering::Relaxed) != 0 && (wakes_at == 0 || deadline < wakes_at);
        if ring {
            let _ = (&*wake).write_all(&1u64.to_ne_bytes());
        }
        ring
    }

    /// A worker going to sleep while the guest moves its deadline earlier wakes by the new
    /// deadline, wherever the two meet: it sees the new deadline itself, or the guest sees
    /// that it would sleep past it and rings. (When the worker took the nap from one reading
    /// of the deadline and announced another, the guest could find the new deadline
    /// announced and not ring, and the worker slept an hour.)
    #[test]
    fn a_worker_falling_asleep_never_sleeps_past_a_new_deadline() {
        let mut ram = vec![0u8; VCPU_BLOCK_SIZE as usize];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let (read_end, write_end) = std::io::pipe().expect("pipe");
        let wake = File::from(std::os::fd::OwnedFd::from(read_end));
        let ring = File::from(std::os::fd::OwnedFd::from(write_end));
        let shared = Shared {
            stop: AtomicBool::new(false),
            answered: (Mutex::new(()), Condvar::new()),
            waiting: AtomicBool::new(false),
            paused: AtomicBool::new(false),
        };
        let c = Control::new(&mem, 0).expect("control words");
        c.asleep.store(1, Ordering::SeqCst);
        // The worker pauses 2 ms between reading the deadline and announcing its wake-up; the
        // guest publishes a new one within or around that pause, and looks at what the worker
        // announced 3 ms later.
        PAUSE_MICROS.store(2000, Ordering::Relaxed);
        for round in 0..30u64 {
            let now = crate::server::clock_ns(libc::CLOCK_MONOTONIC);
            c.timer.deadline.store(now + 3_600_000_000_000, Ordering::SeqCst);
            c.wakes_at.store(0, Ordering::SeqCst);
            shared.stop.store(false, Ordering::SeqCst);
            let done = AtomicBool::new(false);
            std::thread::scope(|s| {
                s.spawn(|| {
                    sleep_until_woken(&wake, &shared, &c);
                    done.store(true, Ordering::SeqCst);
                });
                // Meet the worker at a different point of its falling asleep each round.
                let spin = Instant::now();
                while spin.elapsed() < Duration::from_micros(round * 100) {
                    std::hint::spin_loop();
                }
                let soon = crate::server::clock_ns(libc::CLOCK_MONOTONIC) + 1_000_000;
                publish_as_the_guest(&c, &ring, soon, Duration::from_millis(3));
                std::thread::sleep(Duration::from_millis(5));
                // A worker that woke by the deadline sees `stop` on its next round.
                shared.stop.store(true, Ordering::SeqCst);
                let waited = Instant::now();
                while !done.load(Ordering::SeqCst) && waited.elapsed() < Duration::from_millis(500) {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let woke = done.load(Ordering::SeqCst);
                if !woke {
                    let _ = (&ring).write_all(&1u64.to_ne_bytes());
                }
                assert!(woke, "round {round}: the worker slept past the new deadline");
            });
            // Drain a ring the worker did not consume.
            let mut pfd = libc::pollfd { fd: std::os::fd::AsRawFd::as_raw_fd(&wake), events: libc::POLLIN, revents: 0 };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut pfd, 1, 0) } > 0 {
                let _ = (&wake).read(&mut [0u8; 64]);
            }
        }
    }
}
