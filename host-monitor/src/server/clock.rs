//! CPU-time clocks and timers, clock setting and the scheduler calls (issue 27 item 3 and
//! 7): the host's own, since a program's thread is a host thread of this process (its
//! vCPU thread, by the same id) and its process this one. The guest has put the calling
//! thread's id where the program meant "this thread" (the worker serving the request is
//! another host thread).

use abi_shared::hypercall::{ClockRequest, Response};
use abi_shared::linux::errno;

use crate::host::sys;

fn ret(r: sys::SysResult<i64>) -> Response {
    Response::Ret(r.unwrap_or_else(|e| -i64::from(e)))
}

fn spec(r: sys::SysResult<[i64; 4]>) -> Response {
    r.map_or_else(|e| Response::Ret(-i64::from(e)), Response::Itimerspec)
}

/// A thread or process id the program named: one of its own threads (`own`), or another
/// process, which must not be one of the monitor's own threads (Linux has none there).
fn target(pid: i32, own: bool) -> Result<i32, i64> {
    if !own && pid != sys::getpid() && sys::is_own_thread(pid) {
        return Err(-i64::from(errno::ESRCH));
    }
    Ok(pid)
}

pub fn handle(req: &ClockRequest<'_>) -> Response {
    match req {
        ClockRequest::CpuClock { clock, res } => ret(sys::cpu_clock(*clock, *res).map(|ns| ns as i64)),
        ClockRequest::CpuItimer { which, new } => spec(sys::cpu_itimer(*which, *new)),
        ClockRequest::CpuTimerCreate { clock, notify, signo, value, tid } => {
            ret(sys::cpu_timer_create(*clock, *notify, *signo, *value, *tid).map(i64::from))
        }
        ClockRequest::CpuTimerSettime { id, flags, new } => spec(sys::cpu_timer_settime(*id, *flags, new)),
        ClockRequest::CpuTimerGettime { id } => spec(sys::cpu_timer_gettime(*id)),
        ClockRequest::CpuTimerGetoverrun { id } => ret(sys::cpu_timer_getoverrun(*id)),
        ClockRequest::CpuTimerDelete { id } => ret(sys::cpu_timer_delete(*id)),
        ClockRequest::ClockSettime { clock, sec, nsec } => ret(sys::clock_settime(*clock, *sec, *nsec)),
        ClockRequest::Settimeofday { tv, tz } => ret(sys::settimeofday(*tv, *tz)),
        ClockRequest::ClockAdjtime { clock, timex } => {
            let mut data = timex.to_vec();
            match sys::clock_adjtime(*clock, &mut data) {
                Ok(state) => Response::Bytes { ret: state, data },
                Err(e) => Response::Ret(-i64::from(e)),
            }
        }
        ClockRequest::SchedSet { pid, own, policy, priority } => match target(*pid, *own) {
            Ok(pid) => ret(sys::sched_set(pid, *policy, *priority)),
            Err(e) => Response::Ret(e),
        },
        ClockRequest::SchedRrGetInterval { pid, own } => match target(*pid, *own) {
            Ok(pid) => ret(sys::sched_rr_get_interval(pid).map(|ns| ns as i64)),
            Err(e) => Response::Ret(e),
        },
        ClockRequest::SchedSetaffinity { pid, own, mask } => match target(*pid, *own) {
            Ok(pid) => ret(sys::sched_setaffinity(pid, mask)),
            Err(e) => Response::Ret(e),
        },
        ClockRequest::SchedGetaffinity { pid, own, len } => match target(*pid, *own) {
            Ok(pid) => match sys::sched_getaffinity(pid, (*len).min(1 << 16) as usize) {
                Ok(data) => Response::Bytes { ret: data.len() as i64, data },
                Err(e) => Response::Ret(-i64::from(e)),
            },
            Err(e) => Response::Ret(e),
        },
    }
}
