//! CPU-time clocks: Linux's encoding of their ids, and their readings, which only the host
//! has. A program's thread is a host thread of the monitor process by the same id (its vCPU
//! thread, to which the host accounts the time the vCPU runs guest code), and its process
//! is the monitor's, so the host kernel's clocks of those ids are the truth (the process's
//! includes the monitor's own threads). The guest puts the caller's thread id where the
//! program meant "this thread": the host thread serving the request is another one.

use abi_shared::hypercall::{ClockRequest, Request};

/// Linux's encoding: `(~pid << 3) | which`, bit 2 for a thread's clock, which 0..2 (PROF,
/// VIRT, SCHED); which 3 without the thread bit is a clock descriptor's id.
const PERTHREAD: i32 = 4;
const SCHED: i32 = 2;
const CLOCKFD: i32 = 3;
pub const CLOCK_PROCESS_CPUTIME_ID: i32 = abi_shared::linux::general::CLOCK_PROCESS_CPUTIME_ID as i32;
pub const CLOCK_THREAD_CPUTIME_ID: i32 = abi_shared::linux::general::CLOCK_THREAD_CPUTIME_ID as i32;

/// What a clock id names, for ids that are not the TSC-backed clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuClock {
    /// A CPU-time clock as the host kernel takes it; `own_thread` for the calling thread's
    /// own (clock_nanosleep refuses it).
    Cpu {
        host: i32,
        own_thread: bool,
    },
    /// A clock descriptor's (`(~fd << 3) | 3`): not served (no PTP clocks here).
    Fd,
    Invalid,
}

fn encode(pid: i32, thread: bool, which: i32) -> i32 {
    (!pid << 3) | if thread { PERTHREAD } else { 0 } | which
}

/// Classify a clock id that is not one of the TSC-backed clocks.
pub fn classify(clock: i32) -> CpuClock {
    let me = super::tid();
    match clock {
        CLOCK_PROCESS_CPUTIME_ID => CpuClock::Cpu { host: encode(0, false, SCHED), own_thread: false },
        CLOCK_THREAD_CPUTIME_ID => CpuClock::Cpu { host: encode(me, true, SCHED), own_thread: true },
        c if c < 0 => {
            let (pid, thread, which) = (!(c >> 3), c & PERTHREAD != 0, c & 3);
            if which == CLOCKFD {
                return if thread { CpuClock::Invalid } else { CpuClock::Fd };
            }
            if thread {
                let tid = if pid == 0 { me } else { pid };
                // One of our threads, or none: the monitor's own threads are not the
                // program's.
                if tid != me && tid != super::pid() && super::threads::find(tid).is_none() {
                    return CpuClock::Invalid;
                }
                CpuClock::Cpu { host: encode(tid, true, which), own_thread: tid == me }
            } else if pid == me || pid == super::pid() {
                CpuClock::Cpu { host: encode(0, false, which), own_thread: false }
            } else {
                CpuClock::Cpu { host: c, own_thread: false }
            }
        }
        _ => CpuClock::Invalid,
    }
}

/// The host encoding of a valid CPU-time clock id, else None.
pub fn host_clock(clock: i32) -> Option<i32> {
    match classify(clock) {
        CpuClock::Cpu { host, .. } => Some(host),
        _ => None,
    }
}

/// A CPU-time clock's reading (`res` false) or resolution in ns, from the host; -EINVAL
/// for a clock it does not know (a process that does not exist).
pub fn read(host: i32, res: bool) -> Result<u64, i64> {
    let r = crate::hypercall::call_ret(&Request::Clock(ClockRequest::CpuClock { clock: host, res }));
    if r < 0 {
        Err(r)
    } else {
        Ok(r as u64)
    }
}
