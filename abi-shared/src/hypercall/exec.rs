//! execve and the descriptor table around it.

use super::SegList;
use serde::{Deserialize, Serialize};

/// `Request::Exec`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecRequest<'a> {
    /// execve/execveat, before anything is torn down: find the program in the view as the
    /// first program is found (`flags` AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW), follow `#!`
    /// scripts, check the ELF and its PT_INTERP. Answer: `Response::Exec`, or `Ret(-errno)`
    /// as execve fails (ENOENT, EACCES, ENOEXEC, ELOOP...).
    PrepareExec { dirfd: i32, path: &'a [u8], flags: i32 },
    /// execve of a `--native` program (`ExecPlan::native`): the host execs the file open at
    /// `fd` with argv then envp, each string NUL-terminated, in `args` (`argc` strings of
    /// argv), with `blocked` (a Linux mask) as the signal mask. Answered only on failure.
    ExecNative { fd: i32, args: SegList<'a>, argc: u32, blocked: u64 },
    /// execve's point of no return: close every program descriptor that has FD_CLOEXEC.
    /// `Ret` is how many were closed.
    CloseOnExec,
    /// close_range(first, last, flags) with Linux's CLOSE_RANGE_* flags; the monitor's own
    /// descriptors are never touched.
    CloseRange { first: u32, last: u32, flags: u32 },
    /// Where the program's descriptors end: every one is below the answer (`Ret(highest + 1)`,
    /// 0 when none is open). The guest answers close() of a number at or above it itself.
    FdsEnd,
}
