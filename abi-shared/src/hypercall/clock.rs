//! CPU-time clocks and timers, setting the clock, and the scheduler's calls.

use serde::{Deserialize, Serialize};

/// `Request::Clock`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClockRequest<'a> {
    /// clock_gettime (`res` false) or clock_getres (`res` true) of a CPU-time clock, as the
    /// host's kernel encodes it (`(~pid << 3) | which`, bit 2 for a thread; the guest has
    /// put the calling thread's id in place of "this thread"). `Ret(ns)` or -errno.
    CpuClock { clock: i32, res: bool },
    /// setitimer (`new` Some) or getitimer of ITIMER_VIRTUAL (1) or ITIMER_PROF (2), the
    /// host process's own: interval seconds, microseconds, then value seconds,
    /// microseconds. `Itimerspec` with the old (or current) setting, in the same units.
    CpuItimer { which: i32, new: Option<[i64; 4]> },
    /// timer_create on a CPU-time clock (encoded as in `CpuClock`): a host timer that
    /// signals the host process (`notify` SIGEV_SIGNAL, SIGEV_THREAD_ID with `tid`, or
    /// SIGEV_NONE) with `signo` and `value`. `Ret(host timer id)`.
    CpuTimerCreate { clock: i32, notify: i32, signo: i32, value: u64, tid: i32 },
    /// timer_settime of a host timer: `new` as interval s, ns, value s, ns;
    /// `Itimerspec` with the old setting.
    CpuTimerSettime { id: i32, flags: i32, new: [i64; 4] },
    /// timer_gettime of a host timer: `Itimerspec`.
    CpuTimerGettime { id: i32 },
    /// timer_getoverrun of a host timer: `Ret`.
    CpuTimerGetoverrun { id: i32 },
    /// timer_delete of a host timer: `Ret`.
    CpuTimerDelete { id: i32 },
    /// clock_settime, with the host's checks (EPERM unless privileged). `Ret`.
    ClockSettime { clock: i32, sec: i64, nsec: i64 },
    /// settimeofday: the time (seconds, microseconds) and the timezone (minutes west,
    /// dst type), each optional. `Ret`.
    Settimeofday { tv: Option<[i64; 2]>, tz: Option<[i32; 2]> },
    /// clock_adjtime (adjtimex is CLOCK_REALTIME's) with Linux's `struct timex` (208
    /// bytes). `Bytes` with the clock state (or -errno) and the struct as the host filled it.
    ClockAdjtime { clock: i32, timex: &'a [u8] },
    /// sched_setscheduler (`policy` Some) or sched_setparam of a thread or process (`own`:
    /// one of the program's threads, by its id). `Ret`.
    SchedSet { pid: i32, own: bool, policy: Option<i32>, priority: i32 },
    /// sched_rr_get_interval: `Ret(ns)` or -errno.
    SchedRrGetInterval { pid: i32, own: bool },
    /// sched_setaffinity with the mask's bytes. `Ret`.
    SchedSetaffinity { pid: i32, own: bool, mask: &'a [u8] },
    /// sched_getaffinity into at most `len` bytes: `Bytes` (ret: the size the kernel wrote).
    SchedGetaffinity { pid: i32, own: bool, len: u32 },
}
