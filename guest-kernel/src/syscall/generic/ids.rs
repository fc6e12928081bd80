//! Identity calls, served from the startup block.

use super::{ids, Ctx};

pub fn getpid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().pid)
}

/// One thread per process so far: its id is the pid.
pub fn gettid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().pid)
}

pub fn getppid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().ppid)
}

pub fn getuid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().uid)
}

pub fn geteuid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().euid)
}

pub fn getgid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().gid)
}

pub fn getegid(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().egid)
}

/// The clear-child-tid address matters only to threads, which do not exist yet.
pub fn set_tid_address(_: &mut Ctx<'_>) -> i64 {
    i64::from(ids().pid)
}

/// The robust futex list matters only when a thread dies holding a lock.
pub fn set_robust_list(c: &mut Ctx<'_>) -> i64 {
    if c.args[1] != 24 {
        return super::EINVAL;
    }
    0
}

pub fn sched_yield(_: &mut Ctx<'_>) -> i64 {
    0
}
