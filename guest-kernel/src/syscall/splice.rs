//! splice, tee and vmsplice. The program's pipes and files are host descriptors, so splice
//! and tee are the host's, moving data inside the host; the guest only reads and updates
//! splice's offsets. vmsplice names the program's memory: its buffers go to the host as
//! guest-physical segments, which the host copies into or out of the pipe (see the host's
//! server/splice.rs for why it copies).

use abi_shared::hypercall::{FsRequest, Request, SegList, SpliceRequest};
use abi_shared::linux::general::{O_ACCMODE, O_RDONLY, SPLICE_F_GIFT, SPLICE_F_MORE, SPLICE_F_MOVE, SPLICE_F_NONBLOCK};

use super::fs::{iovec_segments, MAX_RW_COUNT, SEGMENTS_PER_REQUEST};
use super::{Ctx, EFAULT, EINVAL};
use crate::hypercall::call_ret;
use crate::mm::{uaccess, Access};

const SPLICE_F_ALL: u32 = SPLICE_F_MOVE | SPLICE_F_NONBLOCK | SPLICE_F_MORE | SPLICE_F_GIFT;
const F_GETFL: i32 = abi_shared::linux::general::F_GETFL as i32;

/// An offset argument: None for NULL, else the loff_t it points to.
fn read_offset(addr: u64) -> Result<Option<i64>, i64> {
    if addr == 0 {
        return Ok(None);
    }
    uaccess::read_u64(addr).map(|v| Some(v as i64)).map_err(|_| EFAULT)
}

/// splice(fd_in, off_in, fd_out, off_out, len, flags): offsets given by pointer are read
/// here, and written back advanced by what moved (the files' positions stay), as Linux
/// does. A NULL offset uses and advances the file position (the host's).
pub fn splice(c: &mut Ctx<'_>) -> i64 {
    let (fd_in, off_in_ptr, fd_out, off_out_ptr) = (c.int(0), c.arg(1), c.int(2), c.arg(3));
    let (len, flags) = (c.arg(4).min(MAX_RW_COUNT), c.arg(5) as u32);
    if len == 0 {
        return 0;
    }
    if flags & !SPLICE_F_ALL != 0 {
        return EINVAL;
    }
    let (off_in, off_out) = match (read_offset(off_in_ptr), read_offset(off_out_ptr)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return e,
    };
    let moved = call_ret(&Request::Splice(SpliceRequest::Splice { fd_in, off_in, fd_out, off_out, len, flags }));
    if moved < 0 {
        return moved;
    }
    for (ptr, start) in [(off_out_ptr, off_out), (off_in_ptr, off_in)] {
        if let Some(o) = start {
            if uaccess::copy_to_user(ptr, &o.wrapping_add(moved).to_le_bytes()).is_err() {
                return EFAULT;
            }
        }
    }
    moved
}

/// tee(fd_in, fd_out, len, flags): between two pipes, done by the host.
pub fn tee(c: &mut Ctx<'_>) -> i64 {
    let (fd_in, fd_out, len, flags) = (c.int(0), c.int(1), c.arg(2).min(MAX_RW_COUNT), c.arg(3) as u32);
    call_ret(&Request::Splice(SpliceRequest::Tee { fd_in, fd_out, len, flags }))
}

/// vmsplice(fd, iov, nr_segs, flags): as Linux, the direction is the descriptor's: into
/// the pipe through a descriptor open for writing, else out of it into the buffers. The
/// buffers go in one request: a pipe holds far less than its segments can name, and
/// vmsplice may move less than it was given.
pub fn vmsplice(c: &mut Ctx<'_>) -> i64 {
    let (fd, iov, count, flags) = (c.int(0), c.arg(1), c.arg(2), c.arg(3) as u32);
    if flags & !SPLICE_F_ALL != 0 {
        return EINVAL;
    }
    let status = call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_GETFL, arg: 0 }));
    if status < 0 {
        return status;
    }
    let to_pipe = status as u32 & O_ACCMODE != O_RDONLY;
    let access = if to_pipe { Access::Read } else { Access::Write };
    let segs = match iovec_segments(iov, count, access) {
        Ok(s) => s,
        Err(e) => return e,
    };
    if segs.is_empty() {
        return 0;
    }
    let first = &segs[..segs.len().min(SEGMENTS_PER_REQUEST)];
    call_ret(&Request::Splice(SpliceRequest::Vmsplice { fd, buf: SegList::Borrowed(first), to_pipe, flags }))
}
