//! More file requests: statfs, in-host copies (sendfile, copy_file_range), fallocate and
//! fadvise, the xattr write side, memfd_create and file seals.
//!
//! Each is one host call (`crate::host::sys`): on a Linux host the host's own syscall (the
//! kernel's checks are Linux's); on macOS what Darwin lacks is emulated there. Data never
//! passes through the guest.

use std::ffi::CString;

use abi_shared::hypercall::{GuestSeg, MalformedReason, Response, SegList, XattrTarget};
use abi_shared::linux::errno;
// Path-only calls (statfs, the path xattr calls) resolve from the working directory.
use abi_shared::linux::general::AT_FDCWD;

use super::{ret, Failure, Fs, Handled, Last};
use crate::guest_mem::MAX_SEGMENTS;
use crate::host::sys;
use crate::host::LinuxErrno;

/// Most bytes one sendfile or copy_file_range request moves (the guest asks for at most
/// this much per request and loops): a request ends in bounded time.
pub(super) const MAX_TRANSFER: u64 = 16 << 20;
/// Linux's XATTR_SIZE_MAX: the largest value setxattr takes.
const XATTR_SIZE_MAX: u64 = abi_shared::linux::general::XATTR_SIZE_MAX as u64;
/// The longest memfd name Linux takes (NAME_MAX less "memfd:").
const MFD_NAME_MAX: usize = 249;

const EINVAL: LinuxErrno = errno::EINVAL as LinuxErrno;
const E2BIG: LinuxErrno = errno::E2BIG as LinuxErrno;

/// fcntl F_ADD_SEALS / F_GET_SEALS, Linux's numbers.
pub(super) const F_ADD_SEALS: i32 = abi_shared::linux::general::F_ADD_SEALS as i32;
pub(super) const F_GET_SEALS: i32 = abi_shared::linux::general::F_GET_SEALS as i32;

fn name_cstring(name: &[u8]) -> Result<CString, Failure> {
    CString::new(name).map_err(|_| Failure::Malformed(MalformedReason::Decode))
}

impl Fs<'_> {
    pub(super) fn statfs(&self, path: &[u8]) -> Handled {
        let path = self.at(AT_FDCWD, path, Last::Follow)?.path;
        Ok(Response::Statfs(sys::statfs(&path)?))
    }

    pub(super) fn fstatfs(&self, fd: i32) -> Handled {
        Ok(Response::Statfs(sys::fstatfs(self.fd(fd)?)?))
    }

    pub(super) fn sendfile(&self, out_fd: i32, in_fd: i32, offset: Option<i64>, count: u64) -> Handled {
        let out_fd = self.fd(out_fd)?;
        let in_fd = self.fd(in_fd)?;
        ret(sys::sendfile(out_fd, in_fd, offset, count.min(MAX_TRANSFER))?)
    }

    pub(super) fn copy_file_range(
        &self,
        fd_in: i32,
        off_in: Option<i64>,
        fd_out: i32,
        off_out: Option<i64>,
        len: u64,
        flags: u32,
    ) -> Handled {
        let fd_in = self.fd(fd_in)?;
        let fd_out = self.fd(fd_out)?;
        ret(sys::copy_file_range(fd_in, off_in, fd_out, off_out, len.min(MAX_TRANSFER), flags)?)
    }

    pub(super) fn fallocate(&self, fd: i32, mode: i32, offset: i64, len: i64) -> Handled {
        sys::fallocate(self.fd(fd)?, mode, offset, len)?;
        ret(0)
    }

    pub(super) fn sync_file_range(&self, fd: i32, offset: i64, nbytes: i64, flags: u32) -> Handled {
        sys::sync_file_range(self.fd(fd)?, offset, nbytes, flags)?;
        ret(0)
    }

    pub(super) fn fadvise(&self, fd: i32, offset: i64, len: i64, advice: i32) -> Handled {
        sys::fadvise(self.fd(fd)?, offset, len, advice)?;
        ret(0)
    }

    /// The value of a setxattr: at most XATTR_SIZE_MAX bytes of checked guest memory.
    fn xattr_value(&self, value: &SegList<'_>) -> Result<Vec<u8>, Failure> {
        let segs: &[GuestSeg] = value.as_slice();
        if segs.len() > MAX_SEGMENTS {
            return Err(Failure::Malformed(MalformedReason::BadLength));
        }
        let total = value.total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
        if total > XATTR_SIZE_MAX {
            return Err(Failure::Errno(E2BIG));
        }
        let mut bytes = Vec::with_capacity(total as usize);
        for s in segs {
            bytes.extend_from_slice(&self.mem.read_vec(s.gpa, s.len)?);
        }
        Ok(bytes)
    }

    pub(super) fn setxattr(&self, target: &XattrTarget<'_>, name: &[u8], value: &SegList<'_>, flags: i32) -> Handled {
        let value = self.xattr_value(value)?;
        let target = self.xattr_target(target)?;
        sys::setxattr(&target, &name_cstring(name)?, &value, flags)?;
        ret(0)
    }

    pub(super) fn removexattr(&self, target: &XattrTarget<'_>, name: &[u8]) -> Handled {
        let target = self.xattr_target(target)?;
        sys::removexattr(&target, &name_cstring(name)?)?;
        ret(0)
    }

    /// The host object an xattr request names: a checked fd, or a host path.
    pub(super) fn xattr_target(&self, target: &XattrTarget<'_>) -> Result<sys::XattrTarget, Failure> {
        Ok(match target {
            XattrTarget::Fd(fd) => sys::XattrTarget::Fd(self.fd(*fd)?),
            XattrTarget::Path { path, follow } => {
                let last = if *follow { Last::Follow } else { Last::NoFollow };
                sys::XattrTarget::Path(self.at(AT_FDCWD, path, last)?.path, *follow)
            }
        })
    }

    pub(super) fn memfd_create(&self, name: &[u8], flags: u32) -> Handled {
        if name.len() > MFD_NAME_MAX {
            return Err(Failure::Errno(EINVAL));
        }
        let name = name_cstring(name)?;
        ret(sys::memfd_create(&name, flags)?.into())
    }
}

#[cfg(test)]
mod tests {
    use super::super::handle;
    use super::*;
    use crate::guest_mem::GuestMemory;
    use crate::server::FdGuard;
    use abi_shared::hypercall::FsRequest;
    use abi_shared::hypercall::Request;
    use abi_shared::linux::general as lx;
    use rustix::fs::SeekFrom;
    use std::os::unix::io::{AsRawFd, FromRawFd};

    use crate::server::test_support::TempDir;

    const RAM: usize = 64 * 1024;

    fn call<'a>(mem: &GuestMemory, req: impl Into<Request<'a>>) -> Response {
        crate::server::test_support::serve(&FdGuard::default(), mem, &req.into())
    }

    fn errno_of(e: u32) -> Response {
        Response::Ret(-i64::from(e))
    }

    /// An fd of `path` opened with std (closed by the File).
    fn file(path: &std::path::Path, write: bool) -> std::fs::File {
        std::fs::OpenOptions::new().read(true).write(write).create(write).truncate(false).open(path).unwrap()
    }

    fn position(f: &std::fs::File) -> i64 {
        rustix::fs::seek(f, SeekFrom::Current(0)).unwrap() as i64
    }

    fn seek_to(fd: i32, at: u64) {
        rustix::fs::seek(sys::program_fd(fd).unwrap(), SeekFrom::Start(at)).unwrap();
    }

    #[test]
    fn statfs_is_the_hosts() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let path = dir.join("");
        let got = match call(&mem, FsRequest::Statfs { path: &path }) {
            Response::Statfs(st) => st,
            other => panic!("expected Statfs, got {other:?}"),
        };
        let c = CString::new(path.clone()).unwrap();
        let host = rustix::fs::statfs(c.as_c_str()).unwrap();
        #[allow(clippy::unnecessary_cast)] // The kernel's field types differ by architecture.
        let host = (host.f_type as i64, host.f_bsize as i64, host.f_blocks as u64);
        assert_eq!((got.f_type, got.f_bsize, got.f_blocks), host);
        assert_eq!(got.f_flags & 0x20, 0x20, "ST_VALID");
        let d = file(&dir.host(""), false);
        // Free-space counts move while other processes write: compare what cannot.
        let stable = |st: &abi_shared::linux::LinuxStatfs| {
            (st.f_type, st.f_bsize, st.f_blocks, st.f_files, st.f_fsid, st.f_flags)
        };
        match call(&mem, FsRequest::Fstatfs { fd: d.as_raw_fd() }) {
            Response::Statfs(f) => assert_eq!(stable(&f), stable(&got)),
            other => panic!("expected Statfs, got {other:?}"),
        }
        let missing = dir.join("missing");
        assert_eq!(call(&mem, FsRequest::Statfs { path: &missing }), errno_of(errno::ENOENT));
        assert_eq!(call(&mem, FsRequest::Statfs { path: &[b'a'; 5000] }), errno_of(errno::ENAMETOOLONG));
        let guard = FdGuard::default();
        guard.reserve(d.as_raw_fd());
        assert_eq!(handle(&guard, &mem, &FsRequest::Fstatfs { fd: d.as_raw_fd() }), errno_of(errno::EBADF));
    }

    #[test]
    fn sendfile_offsets_and_the_per_request_cap() {
        let dir = TempDir::new();
        std::fs::write(dir.host("in"), b"0123456789").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let (input, output) = (file(&dir.host("in"), false), file(&dir.host("out"), true));
        let (in_fd, out_fd) = (input.as_raw_fd(), output.as_raw_fd());
        let send = |offset, count| call(&mem, FsRequest::Sendfile { out_fd, in_fd, offset, count });
        assert_eq!(send(Some(6), 100), Response::Ret(4));
        assert_eq!(position(&input), 0, "an offset leaves the position alone");
        assert_eq!(send(None, 3), Response::Ret(3));
        assert_eq!(position(&input), 3);
        assert_eq!(std::fs::read(dir.host("out")).unwrap(), b"6789012");
        assert_eq!(send(Some(-1), 1), errno_of(errno::EINVAL));

        // A guest asking for more than one request may move gets MAX_TRANSFER.
        let big = file(&dir.host("big"), true);
        big.set_len(MAX_TRANSFER + 4096).unwrap();
        let sink = file(&dir.host("sink"), true);
        let r = call(
            &mem,
            FsRequest::Sendfile { out_fd: sink.as_raw_fd(), in_fd: big.as_raw_fd(), offset: Some(0), count: u64::MAX },
        );
        assert_eq!(r, Response::Ret(MAX_TRANSFER as i64));
    }

    #[test]
    fn copy_file_range_moves_data_in_the_host() {
        let dir = TempDir::new();
        std::fs::write(dir.host("in"), b"abcdefghij").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let (input, output) = (file(&dir.host("in"), false), file(&dir.host("out"), true));
        let (fd_in, fd_out) = (input.as_raw_fd(), output.as_raw_fd());
        let copy = |off_in, off_out, len, flags| {
            call(&mem, FsRequest::CopyFileRange { fd_in, off_in, fd_out, off_out, len, flags })
        };
        assert_eq!(copy(Some(2), Some(0), 3, 0), Response::Ret(3));
        assert_eq!((position(&input), position(&output)), (0, 0));
        assert_eq!(copy(None, Some(3), 100, 0), Response::Ret(10));
        assert_eq!(position(&input), 10);
        assert_eq!(std::fs::read(dir.host("out")).unwrap(), b"cdeabcdefghij");
        assert_eq!(copy(Some(0), None, 1, 1), errno_of(errno::EINVAL));
    }

    #[test]
    fn the_buffered_copy_behaves_like_the_kernels() {
        let dir = TempDir::new();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.host("in"), &data).unwrap();
        let (input, output) = (file(&dir.host("in"), false), file(&dir.host("out"), true));
        let (fd_in, fd_out) = (input.as_raw_fd(), output.as_raw_fd());
        // At explicit offsets, across several buffers: the positions stay.
        assert_eq!(sys::copy_through_buffer(fd_in, Some(1000), fd_out, Some(10), 290_000), Ok(290_000));
        assert_eq!((position(&input), position(&output)), (0, 0));
        assert_eq!(&std::fs::read(dir.host("out")).unwrap()[10..], &data[1000..291_000]);
        // At the positions, stopping at end of input.
        seek_to(fd_in, 299_990);
        assert_eq!(sys::copy_through_buffer(fd_in, None, fd_out, None, 100), Ok(10));
        assert_eq!((position(&input), position(&output)), (300_000, 10));
        assert_eq!(sys::copy_through_buffer(fd_in, None, fd_out, None, 100), Ok(0));
        assert_eq!(sys::copy_through_buffer(fd_in, Some(-1), fd_out, None, 1), Err(EINVAL));
        assert_eq!(sys::copy_through_buffer(fd_in, Some(0), 9999, None, 1), Err(errno::EBADF as LinuxErrno));
        assert_eq!(position(&input), 300_000, "a failed write gives the bytes back (none were read at a position)");
        // A write failure after reading at the position: the position is given back.
        seek_to(fd_in, 5);
        assert_eq!(sys::copy_through_buffer(fd_in, None, 9999, None, 10), Err(errno::EBADF as LinuxErrno));
        assert_eq!(position(&input), 5);
        // From a pipe: what is there now.
        let (r, w) = sys::pipe().unwrap();
        let (r, w) = (std::fs::File::from(r), std::fs::File::from(w));
        std::io::Write::write_all(&mut &w, b"piped").unwrap();
        assert_eq!(sys::copy_through_buffer(r.as_raw_fd(), None, fd_out, Some(0), 1000), Ok(5));
        assert_eq!(&std::fs::read(dir.host("out")).unwrap()[..5], b"piped");
    }

    #[test]
    fn fallocate_and_fadvise_are_the_hosts() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let f = file(&dir.host("f"), true);
        let fd = f.as_raw_fd();
        let keep = lx::FALLOC_FL_KEEP_SIZE as i32;
        assert_eq!(call(&mem, FsRequest::Fallocate { fd, mode: 0, offset: 0, len: 8192 }), Response::Ret(0));
        assert_eq!(call(&mem, FsRequest::Fallocate { fd, mode: keep, offset: 8192, len: 4096 }), Response::Ret(0));
        assert_eq!(f.metadata().unwrap().len(), 8192);
        assert_eq!(call(&mem, FsRequest::Fallocate { fd, mode: 0, offset: 0, len: 0 }), errno_of(errno::EINVAL));
        let advice = lx::POSIX_FADV_SEQUENTIAL as i32;
        assert_eq!(call(&mem, FsRequest::Fadvise { fd, offset: 0, len: 0, advice }), Response::Ret(0));
        assert_eq!(call(&mem, FsRequest::Fadvise { fd, offset: 0, len: 0, advice: 99 }), errno_of(errno::EINVAL));
        let (r, _w) = sys::pipe().unwrap();
        let fd = r.as_raw_fd();
        assert_eq!(call(&mem, FsRequest::Fadvise { fd, offset: 0, len: 0, advice }), errno_of(errno::ESPIPE));
    }

    #[test]
    fn setxattr_reads_the_value_from_guest_memory() {
        let dir = TempDir::new();
        std::fs::write(dir.host("f"), b"").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let path = dir.join("f");
        let target = || XattrTarget::Path { path: &path, follow: true };
        mem.write(0x100, b"val").unwrap();
        mem.write(0x2000, b"ue").unwrap();
        let segs = [GuestSeg { gpa: 0x100, len: 3 }, GuestSeg { gpa: 0x2000, len: 2 }];
        let set = |segs: &[GuestSeg], flags| {
            call(&mem, FsRequest::Setxattr { target: target(), name: b"user.t", value: SegList::Borrowed(segs), flags })
        };
        let first = set(&segs, 0);
        if first == errno_of(errno::EOPNOTSUPP) {
            eprintln!("no user xattrs on the temp dir's file system: test skipped");
            return;
        }
        assert_eq!(first, Response::Ret(0));
        let c = CString::new(path.clone()).unwrap();
        let mut v = [0u8; 16];
        let n = rustix::fs::getxattr(c.as_c_str(), c"user.t", &mut v[..]).unwrap();
        assert_eq!(&v[..n], b"value");
        let create = lx::XATTR_CREATE as i32;
        assert_eq!(set(&segs, create), errno_of(errno::EEXIST));
        // A value outside guest RAM: malformed, and the old value stays.
        let outside = [GuestSeg { gpa: RAM as u64 - 1, len: 2 }];
        assert_eq!(set(&outside, 0), Response::Malformed(MalformedReason::BadGuestAddress));
        let too_big = [GuestSeg { gpa: 0, len: RAM as u64 }, GuestSeg { gpa: 0, len: 2 }];
        assert_eq!(set(&too_big, 0), errno_of(errno::E2BIG));
        let remove = || call(&mem, FsRequest::Removexattr { target: target(), name: b"user.t" });
        assert_eq!(remove(), Response::Ret(0));
        assert_eq!(remove(), errno_of(errno::ENODATA));
    }

    #[test]
    fn memfd_create_and_seals() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let flags = lx::MFD_CLOEXEC | lx::MFD_ALLOW_SEALING;
        let fd = match call(&mem, FsRequest::MemfdCreate { name: b"t", flags }) {
            Response::Ret(fd) if fd >= 0 => fd as i32,
            other => panic!("memfd_create: {other:?}"),
        };
        // SAFETY: the fd was just made for this test; the File closes it.
        let _f = unsafe { std::fs::File::from_raw_fd(fd) };
        let seals = |cmd, arg| call(&mem, FsRequest::Fcntl { fd, cmd, arg });
        assert_eq!(seals(F_GET_SEALS, 0), Response::Ret(0));
        assert_eq!(seals(F_ADD_SEALS, u64::from(lx::F_SEAL_GROW)), Response::Ret(0));
        assert_eq!(seals(F_GET_SEALS, 0), Response::Ret(i64::from(lx::F_SEAL_GROW)));
        assert_eq!(call(&mem, FsRequest::MemfdCreate { name: &[b'n'; 250], flags: 0 }), errno_of(errno::EINVAL));
        assert_eq!(call(&mem, FsRequest::MemfdCreate { name: b"x", flags: 0x100 }), errno_of(errno::EINVAL));
    }
}
