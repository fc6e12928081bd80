//! Process ids, groups, usage and priorities as the host has them.

use super::SegList;
use serde::{Deserialize, Serialize};

/// `Request::Info`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum InfoRequest<'a> {
    /// getgroups: `size` 0 returns the count; otherwise the ids (u32 each) go into `buf`.
    Getgroups {
        size: i32,
        buf: SegList<'a>,
    },
    Getpgid {
        pid: i32,
    },
    Getsid {
        pid: i32,
    },
    Setpgid {
        pid: i32,
        pgid: i32,
    },
    Setsid,
    /// getrusage: answered with `Response::Rusage`.
    Getrusage {
        who: i32,
    },
    /// times: answered with `Response::Times`.
    Times,
    /// sysinfo: answered with `Response::Sysinfo` (the host's values, mem_unit 1).
    Sysinfo,
    /// sched_getscheduler of another process: its Linux policy as `Ret`.
    SchedGetscheduler {
        pid: i32,
    },
    /// sched_getparam of another process: its priority as `Ret`.
    SchedGetparam {
        pid: i32,
    },
    /// getpriority with Linux's `which` (PRIO_PROCESS, PRIO_PGRP, PRIO_USER): `Ret` is what
    /// the raw syscall returns, 20 - nice (1..=40), or -errno.
    Getpriority {
        which: i32,
        who: i32,
    },
    /// setpriority: `nice` as the program gave it (Linux clamps it to -20..=19).
    Setpriority {
        which: i32,
        who: i32,
        nice: i32,
    },
    /// ioprio_get (`set` None) or ioprio_set: Linux's `which` (IOPRIO_WHO_PROCESS,
    /// IOPRIO_WHO_PGRP, IOPRIO_WHO_USER); the guest names the calling thread by its id,
    /// never 0, since the host thread that serves the request may be another.
    Ioprio {
        which: i32,
        who: i32,
        set: Option<i32>,
    },
}
