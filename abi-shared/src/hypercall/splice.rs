//! splice, tee and vmsplice.

use super::SegList;
use serde::{Deserialize, Serialize};

/// `Request::Splice`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SpliceRequest<'a> {
    /// splice of at most `len` bytes, done by the host; an offset given is where that side
    /// reads or writes (its file position stays), and the guest adds `Ret` (the bytes
    /// moved) to the program's. Linux SPLICE_F_* `flags`.
    Splice { fd_in: i32, off_in: Option<i64>, fd_out: i32, off_out: Option<i64>, len: u64, flags: u32 },
    /// tee of at most `len` bytes between two pipes. `Ret(bytes)`.
    Tee { fd_in: i32, fd_out: i32, len: u64, flags: u32 },
    /// vmsplice with the program's buffers as segments: into the pipe `fd` (`to_pipe`, its
    /// write end) or out of it. The host copies, as writev/readv would (a pipe must not
    /// keep references to guest RAM, which the guest reuses); SPLICE_F_NONBLOCK makes it
    /// fail with EAGAIN rather than wait. `Ret(bytes)`.
    Vmsplice { fd: i32, buf: SegList<'a>, to_pipe: bool, flags: u32 },
}
