//! splice, tee and vmsplice. splice and tee move data between host descriptors inside the
//! host: the program's pipes and files are host descriptors with its numbers. vmsplice
//! copies between the program's memory and the pipe as readv/writev would: Linux may let
//! the pipe reference the pages themselves, but guest RAM is reused by the guest kernel as
//! it sees fit, so a pipe holding its pages could later show other memory. What a program
//! can observe is the same (the data it gave, in order), save that changing the buffer
//! after vmsplice without SPLICE_F_GIFT does not change what the reader gets.

use abi_shared::hypercall::{Response, SegList, SpliceRequest};
use abi_shared::linux::{errno, general};

use super::fs::{ret, Failure, Fs, Handled};
use super::FdGuard;
use crate::guest_mem::GuestMemory;
use crate::host::{sys, LinuxErrno};
use crate::vfs;

/// Most bytes one splice or tee request moves: a pipe holds far less (1 MiB at most by
/// default), so this only bounds a file-to-file detour the host may refuse anyway.
const MAX_TRANSFER: u64 = 16 << 20;

/// Serve one splice, tee or vmsplice request.
pub fn handle(fds: &FdGuard, mem: &GuestMemory, req: &SpliceRequest<'_>) -> Response {
    let fs = Fs::new(fds, mem, vfs::current());
    let result = match req {
        SpliceRequest::Splice { fd_in, off_in, fd_out, off_out, len, flags } => {
            splice(&fs, *fd_in, *off_in, *fd_out, *off_out, *len, *flags)
        }
        SpliceRequest::Tee { fd_in, fd_out, len, flags } => tee(&fs, *fd_in, *fd_out, *len, *flags),
        SpliceRequest::Vmsplice { fd, buf, to_pipe, flags } => vmsplice(&fs, *fd, buf, *to_pipe, *flags),
    };
    result.unwrap_or_else(Response::from)
}

fn splice(
    fs: &Fs<'_>,
    fd_in: i32,
    off_in: Option<i64>,
    fd_out: i32,
    off_out: Option<i64>,
    len: u64,
    flags: u32,
) -> Handled {
    let (fd_in, fd_out) = (fs.fd(fd_in)?, fs.fd(fd_out)?);
    ret(sys::splice(fd_in, off_in, fd_out, off_out, len.min(MAX_TRANSFER), flags)?)
}

fn tee(fs: &Fs<'_>, fd_in: i32, fd_out: i32, len: u64, flags: u32) -> Handled {
    let (fd_in, fd_out) = (fs.fd(fd_in)?, fs.fd(fd_out)?);
    ret(sys::tee(fd_in, fd_out, len.min(MAX_TRANSFER), flags)?)
}

/// vmsplice as a copy: a write into the pipe (`to_pipe`) or a read out of it, refused
/// (EBADF, as Linux) unless `fd` is a pipe.
fn vmsplice(fs: &Fs<'_>, fd: i32, buf: &SegList<'_>, to_pipe: bool, flags: u32) -> Handled {
    if flags & !(general::SPLICE_F_MOVE | general::SPLICE_F_NONBLOCK | general::SPLICE_F_MORE | general::SPLICE_F_GIFT)
        != 0
    {
        return Err(Failure::Errno(errno::EINVAL as LinuxErrno));
    }
    let fd = fs.fd(fd)?;
    if sys::file_type(fd)? != libc::S_IFIFO {
        return Err(Failure::Errno(errno::EBADF as LinuxErrno));
    }
    let iov = fs.rw_iovecs(buf)?;
    if iov.is_empty() {
        return ret(0);
    }
    let nowait = flags & general::SPLICE_F_NONBLOCK != 0;
    // SAFETY: every iovec names checked guest RAM, which stays mapped during the call;
    // there are at most IOV_MAX of them.
    ret(unsafe { sys::pipe_vectored(fd, &iov, to_pipe, nowait) }?)
}
