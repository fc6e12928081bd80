//! Futex sleeps and wakes in the host (shared and PI futexes, and every wait that must not spin).

use serde::{Deserialize, Serialize};

/// `Request::Futex`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FutexRequest {
    /// Sleep in the host until the u32 at guest-physical `gpa` no longer holds `expected`
    /// and someone sends `FutexWake` for it, or `timeout_ns` (relative; u64::MAX: none)
    /// passes, or a host signal interrupts: `Ret(0)`, `-EAGAIN` (the value differed at
    /// once), `-ETIMEDOUT`, `-EINTR`. By exit: the vCPU thread itself sleeps (no core used).
    /// `shared`: `gpa` lies in a shared file mapping and the host's futex is keyed by the
    /// file's page, so waiters and wakers of other processes (linuxrun's or native) meet
    /// there; otherwise the word is this process's alone (a vCPU's wake word).
    FutexSleep { gpa: u64, expected: u32, timeout_ns: u64, shared: bool },
    /// A priority-inheritance futex operation (FUTEX_LOCK_PI, LOCK_PI2, TRYLOCK_PI,
    /// UNLOCK_PI with the program's flags) on the word at guest-physical `gpa`, made by the
    /// calling vCPU's own host thread, whose id is the Linux thread's (the host's PI futex
    /// records and checks owners by tid). `timeout`: LOCK_PI's (s, ns) as given (absolute).
    /// By exit. `Ret` as the host's futex answers.
    FutexPi { gpa: u64, op: i32, timeout: Option<[i64; 2]> },
    /// Wake up to `count` threads sleeping in `FutexSleep` on `gpa` (with the same
    /// `shared`): `Ret(woken)`.
    FutexWake { gpa: u64, count: u32, shared: bool },
}
