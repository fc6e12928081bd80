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

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;
    use abi_shared::hypercall::GuestSeg;
    use abi_shared::hypercall::SpliceRequest;
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    fn pipe() -> (std::fs::File, OwnedFd) {
        let [r, w] = sys::pipe2(libc::O_CLOEXEC).unwrap();
        // SAFETY: pipe2 made two new descriptors nothing else owns.
        unsafe { (std::fs::File::from_raw_fd(r), OwnedFd::from_raw_fd(w)) }
    }

    #[test]
    fn vmsplice_copies_guest_memory_into_a_pipe_and_only_a_pipe() {
        let mut ram = vec![0u8; 8192];
        ram[100..105].copy_from_slice(b"hello");
        ram[5000..5006].copy_from_slice(b" world");
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fds = FdGuard::default();
        let (mut read_end, write_end) = pipe();
        let segs = [GuestSeg { gpa: 100, len: 5 }, GuestSeg { gpa: 5000, len: 6 }];
        let req = |fd| SpliceRequest::Vmsplice { fd, buf: SegList::Borrowed(&segs), to_pipe: true, flags: 0 };
        assert_eq!(handle(&fds, &mem, &req(write_end.as_raw_fd())), Response::Ret(11));
        let mut got = [0u8; 11];
        read_end.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello world");

        let file = std::fs::File::open("/dev/null").unwrap();
        let ebadf = Response::Ret(-i64::from(errno::EBADF));
        assert_eq!(handle(&fds, &mem, &req(file.as_raw_fd())), ebadf, "not a pipe");
        fds.reserve(write_end.as_raw_fd());
        assert_eq!(handle(&fds, &mem, &req(write_end.as_raw_fd())), ebadf, "the monitor's");
        let outside = [GuestSeg { gpa: 8000, len: 500 }];
        fds.unreserve(write_end.as_raw_fd());
        let r = SpliceRequest::Vmsplice {
            fd: write_end.as_raw_fd(),
            buf: SegList::Borrowed(&outside),
            to_pipe: true,
            flags: 0,
        };
        assert_eq!(
            handle(&fds, &mem, &r),
            Response::Malformed(abi_shared::hypercall::MalformedReason::BadGuestAddress)
        );
    }

    #[test]
    fn vmsplice_nonblock_on_an_empty_pipe_is_eagain() {
        let mut ram = vec![0u8; 4096];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let (read_end, _write_end) = pipe();
        let segs = [GuestSeg { gpa: 0, len: 16 }];
        let req = SpliceRequest::Vmsplice {
            fd: read_end.as_raw_fd(),
            buf: SegList::Borrowed(&segs),
            to_pipe: false,
            flags: general::SPLICE_F_NONBLOCK,
        };
        assert_eq!(handle(&FdGuard::default(), &mem, &req), Response::Ret(-i64::from(errno::EAGAIN)));
    }
}
