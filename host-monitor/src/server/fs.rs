//! File and descriptor requests: the Linux file syscalls the guest forwards, performed with
//! host syscalls.
//!
//! Requests carry Linux numbers; every flag, mode and struct goes through the host
//! personality (`crate::host`) on its way to and from the host. Each request is checked
//! before anything happens on the host:
//! - fd arguments the monitor reserved for itself (/dev/kvm, the VM, vCPUs) are EBADF;
//! - paths longer than PATH_MAX are ENAMETOOLONG, and a NUL inside one is malformed;
//! - guest buffers must lie in guest RAM (else `Malformed(BadGuestAddress)`, which the
//!   guest turns into EFAULT) and are checked before the host call, so that a bad buffer
//!   never costs the program data (a directory position, bytes of a pipe).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use abi_shared::hypercall::{FsRequest, GuestSeg, LinuxFlock, MalformedReason, Response, SegList};
use abi_shared::linux::{errno, general};
use libc::c_int;

use super::FdGuard;
use crate::guest_mem::{GuestMemory, OutOfBounds, MAX_SEGMENTS};
use crate::host::sys;
use crate::host::{self, LinuxErrno};
use crate::vfs::{self, Last, Mounted, View};
use abi_shared::linux::PATH_MAX;

/// Linux caps one read or write at INT_MAX rounded down to a page (MAX_RW_COUNT).
const MAX_RW_COUNT: usize = 0x7fff_f000;
/// Largest host buffer one getdents64 uses; a bigger guest buffer just gets fewer entries
/// than it could hold, which getdents64 callers handle (they loop until 0).
const MAX_DIRENTS_BUFFER: usize = 1 << 20;
/// Largest host buffer one readlinkat uses: no Linux link target is longer than a page.
const MAX_LINK_BUFFER: usize = 64 * 1024;

const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;
const EINVAL: LinuxErrno = errno::EINVAL as LinuxErrno;
const ENAMETOOLONG: LinuxErrno = errno::ENAMETOOLONG as LinuxErrno;
const ERANGE: LinuxErrno = errno::ERANGE as LinuxErrno;
const EOVERFLOW: LinuxErrno = errno::EOVERFLOW as LinuxErrno;
/// The capability chroot needs (Linux's number, also the bit in capget's sets).
const CAP_SYS_CHROOT: u32 = 18;

/// Linux fcntl commands served here.
const F_DUPFD: i32 = general::F_DUPFD as i32;
const F_DUPFD_CLOEXEC: i32 = general::F_DUPFD_CLOEXEC as i32;
const F_GETFD: i32 = general::F_GETFD as i32;
const F_SETFD: i32 = general::F_SETFD as i32;
const F_GETFL: i32 = general::F_GETFL as i32;
const F_SETFL: i32 = general::F_SETFL as i32;
const F_GETPIPE_SZ: i32 = general::F_GETPIPE_SZ as i32;
const F_SETPIPE_SZ: i32 = general::F_SETPIPE_SZ as i32;
const F_NOTIFY: i32 = general::F_NOTIFY as i32;

mod attrs;
mod events;
mod extra;

/// Why a request produced no result: an errno for the program, or a malformed request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Failure {
    Errno(LinuxErrno),
    Malformed(MalformedReason),
}

impl From<Failure> for Response {
    fn from(f: Failure) -> Response {
        match f {
            Failure::Errno(e) => Response::Ret(-i64::from(e)),
            Failure::Malformed(why) => Response::Malformed(why),
        }
    }
}

/// A host call's failure: its Linux errno is the program's.
impl From<LinuxErrno> for Failure {
    fn from(e: LinuxErrno) -> Failure {
        Failure::Errno(e)
    }
}

impl From<OutOfBounds> for Failure {
    fn from(_: OutOfBounds) -> Failure {
        Failure::Malformed(MalformedReason::BadGuestAddress)
    }
}

/// What a request handler returns.
pub(super) type Handled = Result<Response, Failure>;

/// Serve one file or descriptor request, in the process's filesystem view.
pub fn handle(fds: &FdGuard, mem: &GuestMemory, req: &FsRequest<'_>) -> Response {
    handle_in(fds, vfs::current(), mem, req)
}

/// Serve one file or descriptor request with paths resolved in `view`.
pub fn handle_in(fds: &FdGuard, view: &View, mem: &GuestMemory, req: &FsRequest<'_>) -> Response {
    let fs = Fs { fds, mem, view };
    let result = match req {
        FsRequest::Openat { dirfd, path, flags, mode } => fs.openat(*dirfd, path, *flags, *mode),
        FsRequest::Close { fd } => fs.close(*fd),
        FsRequest::Read { fd, buf, offset } => fs.read(*fd, buf, *offset),
        FsRequest::Write { fd, buf, offset } => fs.write(*fd, buf, *offset),
        FsRequest::Lseek { fd, offset, whence } => fs.lseek(*fd, *offset, *whence),
        FsRequest::Fstat { fd } => fs.fstat(*fd),
        FsRequest::Fstatat { dirfd, path, flags } => fs.fstatat(*dirfd, path, *flags),
        FsRequest::Statx { dirfd, path, flags, mask } => fs.statx(*dirfd, path, *flags, *mask),
        FsRequest::Getdents64 { fd, buf } => fs.getdents64(*fd, buf),
        FsRequest::Mkdirat { dirfd, path, mode } => fs.mkdirat(*dirfd, path, *mode),
        FsRequest::Mknodat { dirfd, path, mode, dev } => fs.mknodat(*dirfd, path, *mode, *dev),
        FsRequest::Unlinkat { dirfd, path, flags } => fs.unlinkat(*dirfd, path, *flags),
        FsRequest::Renameat2 { olddirfd, oldpath, newdirfd, newpath, flags } => {
            fs.renameat2(*olddirfd, oldpath, *newdirfd, newpath, *flags)
        }
        FsRequest::Symlinkat { target, newdirfd, linkpath } => fs.symlinkat(target, *newdirfd, linkpath),
        FsRequest::Readlinkat { dirfd, path, buf } => fs.readlinkat(*dirfd, path, buf),
        FsRequest::Truncate { path, length } => fs.truncate(path, *length),
        FsRequest::Ftruncate { fd, length } => fs.ftruncate(*fd, *length),
        FsRequest::Fsync { fd } => fs.fsync(*fd),
        FsRequest::Fdatasync { fd } => fs.fdatasync(*fd),
        FsRequest::Sync => {
            rustix::fs::sync();
            ret(0)
        }
        FsRequest::Syncfs { fd } => fs.syncfs(*fd),
        FsRequest::Chroot { path } => fs.chroot(path),
        FsRequest::Fchmodat { dirfd, path, mode } => fs.fchmodat(*dirfd, path, *mode),
        FsRequest::Fchmod { fd, mode } => fs.fchmod(*fd, *mode),
        FsRequest::Faccessat { dirfd, path, mode, flags } => fs.faccessat(*dirfd, path, *mode, *flags),
        FsRequest::Getcwd { buf } => fs.getcwd(buf),
        FsRequest::Chdir { path } => fs.chdir(path),
        FsRequest::Fchdir { fd } => fs.fchdir(*fd),
        FsRequest::Dup { fd } => fs.dup(*fd),
        FsRequest::Dup3 { oldfd, newfd, flags } => fs.dup3(*oldfd, *newfd, *flags),
        FsRequest::Fcntl { fd, cmd, arg } => fs.fcntl(*fd, *cmd, *arg),
        FsRequest::Umask { mask } => Ok(umask(*mask)),
        FsRequest::Pipe2 { flags } => fs.pipe2(*flags),
        FsRequest::EpollCreate { cloexec } => fs.epoll_create(*cloexec),
        FsRequest::Eventfd { initval, flags } => fs.eventfd(*initval, *flags),
        FsRequest::TimerfdCreate { clock, flags } => fs.timerfd_create(*clock, *flags),
        FsRequest::TimerfdSettime { fd, flags, new } => fs.timerfd_settime(*fd, *flags, new),
        FsRequest::TimerfdGettime { fd } => fs.timerfd_gettime(*fd),
        FsRequest::EpollCtl { epfd, op, fd, events, data } => fs.epoll_ctl(*epfd, *op, *fd, *events, *data),
        FsRequest::EpollWait { epfd, max, timeout_ns } => fs.epoll_wait(*epfd, *max, *timeout_ns),
        FsRequest::Linkat { olddirfd, oldpath, newdirfd, newpath, flags } => {
            fs.linkat(*olddirfd, oldpath, *newdirfd, newpath, *flags)
        }
        FsRequest::Utimensat { dirfd, path, times, flags } => fs.utimensat(*dirfd, *path, times.as_ref(), *flags),
        FsRequest::Fchownat { dirfd, path, uid, gid, flags } => fs.fchownat(*dirfd, path, *uid, *gid, *flags),
        FsRequest::Fchown { fd, uid, gid } => fs.fchown(*fd, *uid, *gid),
        FsRequest::IoctlFionread { fd } => fs.fionread(*fd),
        FsRequest::Realpath { path, buf } => fs.realpath(path, buf),
        FsRequest::Getxattr { target, name, buf, size } => fs.getxattr(target, name, buf, *size),
        FsRequest::FcntlLock { fd, cmd, lock } => fs.fcntl_lock(*fd, *cmd, lock),
        FsRequest::Flock { fd, op } => fs.flock(*fd, *op),
        FsRequest::Poll { fds, timeout_ns } => fs.poll(fds, *timeout_ns),
        FsRequest::Listxattr { target, buf, size } => fs.listxattr(target, buf, *size),
        FsRequest::Statfs { path } => fs.statfs(path),
        FsRequest::Fstatfs { fd } => fs.fstatfs(*fd),
        FsRequest::Sendfile { out_fd, in_fd, offset, count } => fs.sendfile(*out_fd, *in_fd, *offset, *count),
        FsRequest::CopyFileRange { fd_in, off_in, fd_out, off_out, len, flags } => {
            fs.copy_file_range(*fd_in, *off_in, *fd_out, *off_out, *len, *flags)
        }
        FsRequest::Fallocate { fd, mode, offset, len } => fs.fallocate(*fd, *mode, *offset, *len),
        FsRequest::Fadvise { fd, offset, len, advice } => fs.fadvise(*fd, *offset, *len, *advice),
        FsRequest::SyncFileRange { fd, offset, nbytes, flags } => fs.sync_file_range(*fd, *offset, *nbytes, *flags),
        FsRequest::Setxattr { target, name, value, flags } => fs.setxattr(target, name, value, *flags),
        FsRequest::Removexattr { target, name } => fs.removexattr(target, name),
        FsRequest::MemfdCreate { name, flags } => fs.memfd_create(name, *flags),
    };
    result.unwrap_or_else(Response::from)
}

/// The Linux device number of the character device open at `fd`, None for anything else.
fn char_device(fd: c_int) -> Option<u64> {
    let st = host::stat_to_linux(&sys::fstat(fd).ok()?);
    (st.st_mode & general::S_IFMT == general::S_IFCHR).then_some(st.st_rdev)
}

/// A successful call's value.
pub(super) fn ret(value: i64) -> Handled {
    Ok(Response::Ret(value))
}

/// A host call's result: the value, or the Linux errno of its failure. Call it right after
/// the host call, before anything else can change `errno`.
pub(super) fn check<T: TryInto<i64>>(r: T) -> Result<i64, Failure> {
    Ok(sys::check(r)?)
}

/// A Linux path as the host wants it: NUL-terminated, at most PATH_MAX bytes with the NUL.
pub(super) fn c_path(path: &[u8]) -> Result<CString, Failure> {
    if path.len() >= PATH_MAX {
        return Err(Failure::Errno(ENAMETOOLONG));
    }
    CString::new(path).map_err(|_| Failure::Malformed(MalformedReason::Decode))
}

/// A resolved host path for a host call.
fn host_c_path(host: Vec<u8>) -> Result<CString, Failure> {
    CString::new(host).map_err(|_| Failure::Malformed(MalformedReason::Decode))
}

/// The host's AT_FDCWD (absolute paths ignore the dirfd; this one is always valid).
fn host_cwd() -> c_int {
    libc::AT_FDCWD
}

/// The guest directory a host directory descriptor shows in `view`; ENOTDIR if it is not
/// a directory (as Linux says for a relative path from such a dirfd), None if the view
/// does not show it.
fn guest_dir_of_fd(view: &View, fd: c_int) -> Result<Option<Vec<u8>>, Failure> {
    if sys::file_type(fd)? != libc::S_IFDIR {
        return Err(Failure::Errno(errno::ENOTDIR as LinuxErrno));
    }
    Ok(view.guest_path_of_fd(fd))
}

/// getcwd in a mounted view: the guest path of the working directory with its NUL, or, as
/// Linux says for a directory outside the process's root, "(unreachable)" and the host's.
fn guest_getcwd(view: &Mounted, buf: &mut [u8]) -> Result<i64, Failure> {
    // The view remembers the cwd by name; the host knows whether it still exists (Linux:
    // ENOENT once the working directory has been removed).
    let mut scratch = vec![0u8; PATH_MAX];
    if let Err(e) = sys::getcwd(&mut scratch) {
        if e == errno::ENOENT as LinuxErrno {
            return Err(Failure::Errno(e));
        }
    }
    let cwd = match view.cwd() {
        Some(cwd) => cwd,
        None => {
            let host = std::env::current_dir().map_err(|_| Failure::Errno(errno::ENOENT as LinuxErrno))?;
            let mut s = b"(unreachable)".to_vec();
            s.extend_from_slice(host.as_os_str().as_bytes());
            s
        }
    };
    if cwd.len() + 1 > buf.len() {
        return Err(Failure::Errno(ERANGE));
    }
    buf[..cwd.len()].copy_from_slice(&cwd);
    buf[cwd.len()] = 0;
    Ok(cwd.len() as i64 + 1)
}

/// After a change of directory the view could not follow by path (fchdir, or a chdir
/// relative to an unreachable directory): the guest path the view shows for the host's.
fn set_cwd_from_host(view: &Mounted) {
    let host = std::env::current_dir().ok();
    view.set_cwd(host.and_then(|h| view.table().guest_of(h.as_os_str().as_bytes())));
}

/// Shorten `iov` so that it names at most `limit` bytes, as Linux does with MAX_RW_COUNT.
fn cap_iovecs(iov: &mut Vec<libc::iovec>, limit: usize) {
    let mut left = limit;
    let mut keep = 0;
    for v in iov.iter_mut() {
        if left == 0 {
            break;
        }
        v.iov_len = v.iov_len.min(left);
        left -= v.iov_len;
        keep += 1;
    }
    iov.truncate(keep);
}

fn umask(mask: u32) -> Response {
    let old = sys::umask(host::mode_to_host(mask & 0o777));
    Response::Ret(i64::from(host::mode_to_linux(old)))
}

/// Open what execveat's (dirfd, path) names, read-only and close-on-exec, for the checks
/// and the guest loader. An empty path with AT_EMPTY_PATH is `dirfd` itself (fexecve, also
/// of an O_PATH descriptor, which is why it is opened again rather than duplicated).
pub(super) fn open_for_exec(
    fds: &FdGuard,
    mem: &GuestMemory,
    dirfd: i32,
    path: &[u8],
    flags: i32,
) -> Result<c_int, Failure> {
    let fs = Fs { fds, mem, view: vfs::current() };
    if path.is_empty() {
        if flags as u32 & general::AT_EMPTY_PATH == 0 {
            return Err(Failure::Errno(errno::ENOENT as LinuxErrno));
        }
        return Ok(sys::reopen_readonly(fs.fd(dirfd)?)?);
    }
    let nofollow = if flags as u32 & general::AT_SYMLINK_NOFOLLOW != 0 { general::O_NOFOLLOW } else { 0 };
    let open_flags = (general::O_RDONLY | general::O_CLOEXEC | nofollow) as i32;
    let at = fs.at(dirfd, path, last_from_open_flags(open_flags))?;
    let host_flags = host::open_flags_to_host(open_flags)?;
    Ok(sys::openat(at.dirfd, &at.path, host_flags, 0)?)
}

/// The guard, guest memory and filesystem view a request is served with.
pub(super) struct Fs<'a> {
    pub(super) fds: &'a FdGuard,
    pub(super) mem: &'a GuestMemory,
    pub(super) view: &'a View,
}

/// A guest path argument made ready for a host `*at` call.
pub(super) struct HostAt {
    pub dirfd: c_int,
    pub path: CString,
    /// The view's mount it lies in, when the view resolved it: renames and links between
    /// two mounts are EXDEV, as on Linux.
    pub mount: Option<usize>,
}

/// What a lookup does with a final symlink, from the Linux AT_SYMLINK_NOFOLLOW flag.
fn last_from_at_flags(flags: i32) -> Last {
    if flags as u32 & general::AT_SYMLINK_NOFOLLOW != 0 {
        Last::NoFollow
    } else {
        Last::Follow
    }
}

/// What open does with a final symlink: O_NOFOLLOW names the link (and fails on it), and
/// so does O_CREAT|O_EXCL (which never creates through a link).
fn last_from_open_flags(flags: i32) -> Last {
    let flags = flags as u32;
    let excl = general::O_CREAT | general::O_EXCL;
    if flags & general::O_NOFOLLOW != 0 || flags & excl == excl {
        Last::NoFollow
    } else {
        Last::Follow
    }
}

/// Two resolved paths that must lie in the same mount (rename, link).
fn same_mount(a: &HostAt, b: &HostAt) -> Result<(), Failure> {
    match (a.mount, b.mount) {
        (Some(x), Some(y)) if x != y => Err(Failure::Errno(errno::EXDEV as LinuxErrno)),
        _ => Ok(()),
    }
}

impl<'a> Fs<'a> {
    pub(super) fn new(fds: &'a FdGuard, mem: &'a GuestMemory, view: &'a View) -> Fs<'a> {
        Fs { fds, mem, view }
    }

    /// A Linux fd argument, refused if it is one of the monitor's own.
    pub(super) fn fd(&self, fd: i32) -> Result<c_int, Failure> {
        if self.fds.is_reserved(fd) {
            return Err(Failure::Errno(EBADF));
        }
        Ok(fd)
    }

    /// A Linux dirfd argument: AT_FDCWD or an fd that is not the monitor's.
    fn dirfd(&self, dirfd: i32) -> Result<c_int, Failure> {
        let host_dirfd = host::dirfd_to_host(dirfd).map_err(Failure::Errno)?;
        if host_dirfd >= 0 {
            self.fd(host_dirfd)
        } else {
            Ok(host_dirfd)
        }
    }

    /// The host (dirfd, path) that name what the guest's (dirfd, path) names. In the
    /// identity view (the default on Linux) that is the same pair, checked; in a mounted
    /// view the path is resolved as Linux would in the guest's namespace, and the host gets
    /// an absolute host path. An absolute path ignores `dirfd`, as on Linux, even when it
    /// is no descriptor at all.
    pub(super) fn at(&self, dirfd: i32, path: &[u8], last: Last) -> Result<HostAt, Failure> {
        let dirfd = if path.starts_with(b"/") { general::AT_FDCWD } else { dirfd };
        let host_dirfd = self.dirfd(dirfd)?;
        let View::Mounted(view) = self.view else {
            return Ok(HostAt { dirfd: host_dirfd, path: c_path(path)?, mount: None });
        };
        match self.resolve_in(view, dirfd, host_dirfd, path, last)? {
            Some(r) => Ok(HostAt { dirfd: host_cwd(), path: host_c_path(r.host)?, mount: Some(r.mount) }),
            None => Ok(HostAt { dirfd: host_dirfd, path: c_path(path)?, mount: None }),
        }
    }

    /// Resolve a guest (dirfd, path) in a mounted view; None when the host must take the
    /// path as it is: an empty path (AT_EMPTY_PATH names `dirfd` itself, else ENOENT, the
    /// host says which), or a relative path from a directory the view does not show.
    fn resolve_in(
        &self,
        view: &Mounted,
        dirfd: i32,
        host_dirfd: c_int,
        path: &[u8],
        last: Last,
    ) -> Result<Option<vfs::Resolved>, Failure> {
        c_path(path)?;
        if path.is_empty() {
            return Ok(None);
        }
        let base = if path.starts_with(b"/") {
            b"/".to_vec()
        } else if dirfd == general::AT_FDCWD {
            match view.cwd() {
                Some(cwd) => cwd,
                None => return Ok(None),
            }
        } else {
            match guest_dir_of_fd(self.view, host_dirfd)? {
                Some(dir) => dir,
                None => return Ok(None),
            }
        };
        view.resolve(&base, path, last).map(Some).map_err(Failure::Errno)
    }

    /// Host iovecs for a read or write: at most IOV_MAX segments (else EINVAL, as readv),
    /// a total that does not overflow, all in guest RAM, capped at MAX_RW_COUNT bytes.
    pub(super) fn rw_iovecs(&self, buf: &SegList<'_>) -> Result<Vec<libc::iovec>, Failure> {
        let segs = buf.as_slice();
        if segs.len() > MAX_SEGMENTS {
            return Err(Failure::Errno(EINVAL));
        }
        buf.total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
        let mut iov = self.mem.iovecs(segs)?;
        cap_iovecs(&mut iov, MAX_RW_COUNT);
        Ok(iov)
    }

    /// Check an output scatter list and return its total length, at most `cap`. The host
    /// call then fills a host buffer of that length and `copy_out` scatters it.
    fn out_len(&self, buf: &SegList<'_>, cap: usize) -> Result<usize, Failure> {
        let total = buf.total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
        if buf.as_slice().len() > MAX_SEGMENTS {
            return Err(Failure::Malformed(MalformedReason::BadLength));
        }
        self.mem.iovecs(buf.as_slice())?;
        Ok(usize::try_from(total).unwrap_or(usize::MAX).min(cap))
    }

    /// Copy the first `len` bytes of `data` to the guest's segments.
    fn copy_out(&self, segs: &[GuestSeg], data: &[u8], len: i64) -> Result<i64, Failure> {
        let n = usize::try_from(len).map_err(|_| Failure::Errno(EOVERFLOW))?;
        let bytes = data.get(..n).ok_or(Failure::Errno(EOVERFLOW))?;
        self.mem.write_segs(segs, bytes)?;
        Ok(len)
    }

    fn openat(&self, dirfd: i32, path: &[u8], flags: i32, mode: u32) -> Handled {
        let at = self.at(dirfd, path, last_from_open_flags(flags))?;
        let host_flags = host::open_flags_to_host(flags)?;
        let mode = host::open_mode_to_host(mode);
        let fd = sys::openat(at.dirfd, &at.path, host_flags, mode)?;
        if (path == b"/dev/null" || path == b"/dev/zero") && flags & general::O_PATH as i32 == 0 {
            if let Some(rdev) = char_device(fd) {
                return Ok(Response::OpenedCharDevice { fd: fd.into(), rdev });
            }
        }
        ret(fd.into())
    }

    fn close(&self, fd: i32) -> Handled {
        // fd is not one of the monitor's own descriptors: closing it affects only the
        // program's descriptor table.
        let closed = sys::close(self.fd(fd)?);
        // The number is free even when close reports an error.
        sys::emulated_closed(fd);
        closed?;
        ret(0)
    }

    fn read(&self, fd: i32, buf: &SegList<'_>, offset: Option<i64>) -> Handled {
        let fd = self.fd(fd)?;
        // read(2) of nothing (the guest sends no segment; readv sends an empty one): still
        // read's checks (EISDIR, ESPIPE), which readv of nothing does not all make.
        if buf.as_slice().is_empty() {
            return ret(sys::read_into(fd, &mut [], offset)? as i64);
        }
        let iov = self.rw_iovecs(buf)?;
        // An eventfd or timerfd the host emulates (macOS) is read through the emulation.
        // SAFETY: every iovec names checked guest RAM, which stays mapped during the call.
        if let Some(done) = unsafe { sys::emulated_read(fd, &iov, offset) } {
            return ret(done?);
        }
        // SAFETY: every iovec names checked guest RAM, which stays mapped during the call;
        // there are at most IOV_MAX of them.
        ret(unsafe { sys::read_vectored(fd, &iov, offset) }?)
    }

    fn write(&self, fd: i32, buf: &SegList<'_>, offset: Option<i64>) -> Handled {
        let fd = self.fd(fd)?;
        if buf.as_slice().is_empty() {
            return ret(sys::write_from(fd, &[], offset)? as i64);
        }
        let iov = self.rw_iovecs(buf)?;
        // SAFETY: every iovec names checked guest RAM, which stays mapped during the call.
        if let Some(done) = unsafe { sys::emulated_write(fd, &iov, offset) } {
            return ret(done?);
        }
        // SAFETY: every iovec names checked guest RAM, which stays mapped during the call;
        // there are at most IOV_MAX of them.
        ret(unsafe { sys::write_vectored(fd, &iov, offset) }?)
    }

    fn lseek(&self, fd: i32, offset: i64, whence: u32) -> Handled {
        let fd = self.fd(fd)?;
        let whence = host::seek_whence_to_host(whence)?;
        ret(sys::lseek(fd, offset, whence)?)
    }

    fn fstat(&self, fd: i32) -> Handled {
        let st = sys::fstat(self.fd(fd)?)?;
        Ok(Response::Stat(host::stat_to_linux(&st)))
    }

    fn fstatat(&self, dirfd: i32, path: &[u8], flags: i32) -> Handled {
        let st = self.host_stat(dirfd, path, flags)?;
        Ok(Response::Stat(host::stat_to_linux(&st)))
    }

    /// fstatat on the host. An empty path with AT_EMPTY_PATH means `dirfd` itself (glibc's
    /// fstat is exactly that): served with fstat, which every host has, since not every
    /// host's fstatat knows the flag.
    fn host_stat(&self, dirfd: i32, path: &[u8], flags: i32) -> Result<libc::stat, Failure> {
        let linux_empty_path = general::AT_EMPTY_PATH as i32;
        if path.is_empty() && flags & linux_empty_path != 0 {
            return Ok(if dirfd == general::AT_FDCWD { sys::stat_cwd()? } else { sys::fstat(self.fd(dirfd)?)? });
        }
        let at = self.at(dirfd, path, last_from_at_flags(flags))?;
        let flags = host::stat_flags_to_host(flags & !linux_empty_path)?;
        Ok(sys::fstatat(at.dirfd, &at.path, flags)?)
    }

    /// statx. An empty path with AT_EMPTY_PATH names `dirfd` itself; the host call is told
    /// so apart from the other flags, since not every host's call knows the flag.
    fn statx(&self, dirfd: i32, path: &[u8], flags: i32, mask: u32) -> Handled {
        let linux_empty_path = general::AT_EMPTY_PATH as i32;
        let empty_path = path.is_empty() && flags & linux_empty_path != 0;
        let HostAt { dirfd, path, .. } = self.at(dirfd, path, last_from_at_flags(flags))?;
        let flags = host::statx_flags_to_host(flags & !linux_empty_path)?;
        let mask = host::statx_mask_to_host(mask)?;
        Ok(Response::Statx(sys::statx(dirfd, &path, flags, empty_path, mask)?))
    }

    fn getdents64(&self, fd: i32, buf: &SegList<'_>) -> Handled {
        let fd = self.fd(fd)?;
        let len = self.out_len(buf, MAX_DIRENTS_BUFFER)?;
        let mut dirents = vec![0u8; len];
        let n = sys::getdents64(fd, &mut dirents)?;
        #[cfg(target_os = "linux")]
        let n = super::procfs::filter_task_listing(fd, &mut dirents, n as usize) as i64;
        ret(self.copy_out(buf.as_slice(), &dirents, n as i64)?)
    }

    fn mkdirat(&self, dirfd: i32, path: &[u8], mode: u32) -> Handled {
        let HostAt { dirfd, path, .. } = self.at(dirfd, path, Last::Parent)?;
        sys::mkdirat(dirfd, &path, host::mode_to_host(mode))?;
        ret(0)
    }

    /// mknodat: the file types Linux's mknod makes (type 0 is a regular file); a directory
    /// is EPERM and anything else EINVAL, as Linux's may_mknod says before the lookup.
    fn mknodat(&self, dirfd: i32, path: &[u8], mode: u32, dev: u32) -> Handled {
        let mode = match mode & general::S_IFMT {
            0 => mode | general::S_IFREG,
            general::S_IFREG | general::S_IFIFO | general::S_IFSOCK | general::S_IFCHR | general::S_IFBLK => mode,
            general::S_IFDIR => return Err(Failure::Errno(errno::EPERM as LinuxErrno)),
            _ => return Err(Failure::Errno(EINVAL)),
        };
        let HostAt { dirfd, path, .. } = self.at(dirfd, path, Last::Parent)?;
        sys::mknodat(dirfd, &path, host::mode_to_host(mode), host::dev_to_host(dev)?)?;
        ret(0)
    }

    fn unlinkat(&self, dirfd: i32, path: &[u8], flags: i32) -> Handled {
        let HostAt { dirfd, path, .. } = self.at(dirfd, path, Last::Parent)?;
        let flags = host::unlink_flags_to_host(flags)?;
        sys::unlinkat(dirfd, &path, flags)?;
        ret(0)
    }

    fn renameat2(&self, olddirfd: i32, oldpath: &[u8], newdirfd: i32, newpath: &[u8], flags: u32) -> Handled {
        let old = self.at(olddirfd, oldpath, Last::Parent)?;
        let new = self.at(newdirfd, newpath, Last::Parent)?;
        same_mount(&old, &new)?;
        if flags == 0 {
            sys::renameat(old.dirfd, &old.path, new.dirfd, &new.path)?;
        } else {
            let flags = host::rename_flags_to_host(flags)?;
            sys::renameat2(old.dirfd, &old.path, new.dirfd, &new.path, flags)?;
        }
        ret(0)
    }

    /// symlinkat: the target is text and stays as given (it is resolved when used).
    fn symlinkat(&self, target: &[u8], newdirfd: i32, linkpath: &[u8]) -> Handled {
        let target = c_path(target)?;
        let HostAt { dirfd: newdirfd, path: linkpath, .. } = self.at(newdirfd, linkpath, Last::Parent)?;
        sys::symlinkat(&target, newdirfd, &linkpath)?;
        ret(0)
    }

    /// readlinkat: the link's bytes into the segments, without NUL; returns their length.
    fn readlinkat(&self, dirfd: i32, path: &[u8], buf: &SegList<'_>) -> Handled {
        let HostAt { dirfd, path, .. } = self.at(dirfd, path, Last::NoFollow)?;
        let len = self.out_len(buf, MAX_LINK_BUFFER)?;
        if len == 0 {
            return Err(Failure::Errno(EINVAL));
        }
        let mut target = vec![0u8; len];
        let n = sys::readlinkat(dirfd, &path, &mut target)?;
        ret(self.copy_out(buf.as_slice(), &target, n as i64)?)
    }

    fn truncate(&self, path: &[u8], length: i64) -> Handled {
        let path = match self.view {
            View::Identity => c_path(path)?,
            View::Mounted(_) => self.at(general::AT_FDCWD, path, Last::Follow)?.path,
        };
        sys::truncate(&path, length)?;
        ret(0)
    }

    fn ftruncate(&self, fd: i32, length: i64) -> Handled {
        sys::ftruncate(self.fd(fd)?, length)?;
        ret(0)
    }

    fn fsync(&self, fd: i32) -> Handled {
        sys::fsync(self.fd(fd)?)?;
        ret(0)
    }

    fn fdatasync(&self, fd: i32) -> Handled {
        sys::fdatasync(self.fd(fd)?)?;
        ret(0)
    }

    fn syncfs(&self, fd: i32) -> Handled {
        sys::syncfs(self.fd(fd)?)?;
        ret(0)
    }

    fn fchmodat(&self, dirfd: i32, path: &[u8], mode: u32) -> Handled {
        let HostAt { dirfd, path, .. } = self.at(dirfd, path, Last::Follow)?;
        sys::fchmodat(dirfd, &path, host::mode_to_host(mode))?;
        ret(0)
    }

    fn fchmod(&self, fd: i32, mode: u32) -> Handled {
        sys::fchmod(self.fd(fd)?, host::mode_to_host(mode))?;
        ret(0)
    }

    /// faccessat (flags 0) and faccessat2.
    fn faccessat(&self, dirfd: i32, path: &[u8], mode: i32, flags: i32) -> Handled {
        let HostAt { dirfd, path, .. } = self.at(dirfd, path, last_from_at_flags(flags))?;
        let mode = host::access_mode_to_host(mode)?;
        let flags = host::access_flags_to_host(flags)?;
        sys::faccessat(dirfd, &path, mode, flags)?;
        ret(0)
    }

    /// The getcwd syscall: the path with its NUL into the segments; returns the length
    /// including the NUL, or ERANGE if it does not fit.
    fn getcwd(&self, buf: &SegList<'_>) -> Handled {
        let len = self.out_len(buf, PATH_MAX)?;
        let mut cwd = vec![0u8; len];
        let n = match self.view {
            View::Identity => sys::getcwd(&mut cwd)?,
            View::Mounted(view) => guest_getcwd(view, &mut cwd)?,
        };
        ret(self.copy_out(buf.as_slice(), &cwd, n)?)
    }

    fn chdir(&self, path: &[u8]) -> Handled {
        let View::Mounted(view) = self.view else {
            sys::chdir(&c_path(path)?)?;
            return ret(0);
        };
        let resolved = self.resolve_in(view, general::AT_FDCWD, host_cwd(), path, Last::Follow)?;
        let host = match &resolved {
            Some(r) => host_c_path(r.host.clone())?,
            None => c_path(path)?,
        };
        sys::chdir(&host)?;
        match resolved {
            Some(r) => view.set_cwd(Some(r.guest)),
            None => set_cwd_from_host(view),
        }
        ret(0)
    }

    /// chroot, with Linux's checks in Linux's order: the lookup (ENOENT, ENOTDIR, EACCES,
    /// ELOOP...), search permission on the directory, then CAP_SYS_CHROOT (EPERM). The new
    /// root is a new filesystem view (`MountTable::chrooted`), not a host chroot: the
    /// monitor goes on reaching its own files (/dev/kvm for a fork's VM, /proc), and paths
    /// resolved in the view (absolute ones, relative ones from a working directory inside
    /// it) cannot leave the new root. The working directory stays where it is, outside the
    /// root if it was: relative paths from there are the host's as they are, as from any
    /// working directory the view does not show (Linux would keep them in the mount
    /// namespace; the view is not a sandbox). Each chroot keeps its old view allocated
    /// (another thread may be using it): a program that chroots in a loop grows the monitor.
    fn chroot(&self, path: &[u8]) -> Handled {
        let (resolved, host) = match self.view {
            View::Identity => (None, c_path(path)?),
            View::Mounted(view) => match self.resolve_in(view, general::AT_FDCWD, host_cwd(), path, Last::Follow)? {
                Some(r) => {
                    let host = host_c_path(r.host.clone())?;
                    (Some(r), host)
                }
                None => (None, c_path(path)?),
            },
        };
        if sys::fstatat(libc::AT_FDCWD, &host, 0)?.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(Failure::Errno(errno::ENOTDIR as LinuxErrno));
        }
        sys::faccessat(libc::AT_FDCWD, &host, libc::X_OK, libc::AT_EACCESS)?;
        let [effective, ..] = sys::thread_capget(0)?;
        if effective & (1 << CAP_SYS_CHROOT) == 0 {
            return Err(Failure::Errno(errno::EPERM as LinuxErrno));
        }
        let table = match (self.view, resolved) {
            (View::Mounted(view), Some(r)) => view.table().chrooted(&r.guest),
            // The identity view, or a directory the view does not show (reached from a
            // working directory outside it): that host directory alone.
            _ => {
                let canonical = std::fs::canonicalize(std::ffi::OsStr::from_bytes(host.to_bytes())).map_err(|e| {
                    Failure::Errno(e.raw_os_error().map_or(errno::ENOENT as LinuxErrno, host::errno_to_linux))
                })?;
                vfs::mounts::MountTable::new(canonical.as_os_str().as_bytes().to_vec())
            }
        };
        vfs::replace(View::new(table));
        ret(0)
    }

    fn fchdir(&self, fd: i32) -> Handled {
        sys::fchdir(self.fd(fd)?)?;
        if let View::Mounted(view) = self.view {
            set_cwd_from_host(view);
        }
        ret(0)
    }

    /// dup: the new fd is the lowest free one, never one the monitor holds.
    fn dup(&self, fd: i32) -> Handled {
        let new = sys::dup(self.fd(fd)?)?;
        sys::emulated_dup(fd, new, false);
        ret(new.into())
    }

    /// dup3 exactly: EINVAL if oldfd == newfd, flags only O_CLOEXEC. A `newfd` below the
    /// program's limit that is one of the monitor's descriptors is made free first (see
    /// `FdGuard::make_free`); one that cannot move (KVM's) gives EBUSY, which Linux's dup2
    /// and dup3 give for a number another thread is opening.
    fn dup3(&self, oldfd: i32, newfd: i32, flags: i32) -> Handled {
        let oldfd = self.fd(oldfd)?;
        let flags = host::open_flags_to_host(flags)?;
        if oldfd != newfd && self.fds.is_reserved(newfd) {
            sys::fd_flags(oldfd)?;
            if !self.fds.make_free(newfd) {
                return Err(Failure::Errno(errno::EBUSY as LinuxErrno));
            }
        }
        let new = sys::dup3(oldfd, newfd, flags)?;
        sys::emulated_dup(oldfd, new, flags & libc::O_CLOEXEC != 0);
        ret(new.into())
    }

    fn fcntl(&self, fd: i32, cmd: i32, arg: u64) -> Handled {
        let fd = self.fd(fd)?;
        match cmd {
            F_DUPFD => self.fcntl_dupfd(fd, false, arg),
            F_DUPFD_CLOEXEC => self.fcntl_dupfd(fd, true, arg),
            F_GETFD => ret(i64::from(host::fd_flags_to_linux(sys::fd_flags(fd)?))),
            F_SETFD => {
                // Linux reads the argument as an int.
                sys::set_fd_flags(fd, host::fd_flags_to_host(arg as i32))?;
                ret(0)
            }
            // An emulated epoll set or timerfd (a kqueue on macOS) keeps O_NONBLOCK itself.
            F_GETFL if sys::emulated_nonblock(fd, None).is_some() => {
                let nonblock = sys::emulated_nonblock(fd, None) == Some(true);
                ret(i64::from(general::O_RDWR | if nonblock { general::O_NONBLOCK } else { 0 }))
            }
            F_SETFL if sys::emulated_nonblock(fd, None).is_some() => {
                sys::emulated_nonblock(fd, Some(arg as u32 & general::O_NONBLOCK != 0));
                ret(0)
            }
            F_GETFL => ret(i64::from(host::open_flags_to_linux(sys::status_flags(fd)?))),
            F_SETFL => {
                sys::set_status_flags(fd, host::open_flags_to_host(arg as i32)?)?;
                ret(0)
            }
            // The argument an int, as Linux reads it.
            F_GETPIPE_SZ | F_SETPIPE_SZ => ret(sys::pipe_size(fd, cmd == F_SETPIPE_SZ, arg as c_int)?),
            extra::F_ADD_SEALS | extra::F_GET_SEALS => ret(sys::seals(fd, cmd == extra::F_ADD_SEALS, arg as c_int)?),
            // Linux reads the DN_* bits as an unsigned int.
            F_NOTIFY => ret(sys::dnotify(fd, arg as u32)?),
            _ => Err(Failure::Errno(EINVAL)),
        }
    }

    /// F_DUPFD(_CLOEXEC): the lowest fd >= arg the program does not hold. The host
    /// skips the monitor's descriptors; the lowest of them below its answer that can move
    /// away (see `FdGuard::make_free`) makes room for the program's instead.
    fn fcntl_dupfd(&self, fd: c_int, cloexec: bool, arg: u64) -> Handled {
        let min = c_int::try_from(arg).map_err(|_| Failure::Errno(EINVAL))?;
        let got = sys::dup_at_least(fd, min, cloexec)?;
        let Some(free) = self.fds.reserved_between(min, got).into_iter().find(|&r| self.fds.make_free(r)) else {
            sys::emulated_dup(fd, got, cloexec);
            return ret(got.into());
        };
        let flags = if cloexec { libc::O_CLOEXEC } else { 0 };
        let placed = sys::dup3(got, free, flags);
        sys::close_quietly(got);
        let placed = placed?;
        sys::emulated_dup(fd, placed, cloexec);
        ret(placed.into())
    }

    fn pipe2(&self, flags: i32) -> Handled {
        let flags = host::pipe_flags_to_host(flags)?;
        let [read_end, write_end] = sys::pipe2(flags)?;
        Ok(Response::Fds([read_end, write_end]))
    }

    /// FIONREAD: how many bytes a read would return now.
    fn fionread(&self, fd: i32) -> Handled {
        ret(i64::from(sys::bytes_readable(self.fd(fd)?)?))
    }
}

impl Fs<'_> {
    /// Record locks (the host says which commands it serves). A blocking F_SETLKW blocks
    /// the vCPU thread (or worker) like any blocking call.
    fn fcntl_lock(&self, fd: i32, cmd: i32, lock: &LinuxFlock) -> Handled {
        match sys::fcntl_lock(self.fd(fd)?, cmd, lock)? {
            Some(found) => Ok(Response::Flock(found)),
            None => ret(0),
        }
    }

    /// flock: LOCK_SH 1, LOCK_EX 2, LOCK_NB 4, LOCK_UN 8 (the same on Linux and macOS).
    fn flock(&self, fd: i32, op: i32) -> Handled {
        let fd = self.fd(fd)?;
        if op & !(1 | 2 | 4 | 8) != 0 {
            return Err(Failure::Errno(EINVAL));
        }
        sys::flock(fd, op)?;
        ret(0)
    }
}

#[cfg(test)]
#[path = "fs_view_tests.rs"]
mod view_tests;

#[cfg(test)]
mod tests {
    use super::*;
    use abi_shared::hypercall::{FsRequest, Request, TtyRequest};
    use abi_shared::linux::{general as lx, LinuxStat};
    use proptest::prelude::*;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    use std::path::PathBuf;

    const AT_FDCWD: i32 = lx::AT_FDCWD;
    const RAM: usize = 64 * 1024;

    use crate::vfs::PROCESS_WIDE;

    use super::super::test_support::{open_pty, TempDir};
    use std::os::fd::AsRawFd;

    fn call<'a>(mem: &GuestMemory, req: impl Into<Request<'a>>) -> Response {
        super::super::test_support::serve(&FdGuard::default(), mem, &req.into())
    }

    /// The value of a `Response::Ret`.
    fn value(resp: Response) -> i64 {
        match resp {
            Response::Ret(v) => v,
            other => panic!("expected Ret, got {other:?}"),
        }
    }

    fn err(e: u32) -> Response {
        Response::Ret(-i64::from(e))
    }

    fn seg(gpa: u64, len: u64) -> GuestSeg {
        GuestSeg { gpa, len }
    }

    fn open(mem: &GuestMemory, path: &[u8], flags: u32, mode: u32) -> i32 {
        let fd = value(call(mem, FsRequest::Openat { dirfd: AT_FDCWD, path, flags: flags as i32, mode }));
        assert!(fd >= 0, "open {:?}: {fd}", String::from_utf8_lossy(path));
        fd as i32
    }

    fn close(mem: &GuestMemory, fd: i32) {
        assert_eq!(call(mem, FsRequest::Close { fd }), Response::Ret(0));
    }

    #[test]
    fn opening_dev_null_or_zero_says_which_device_it_is() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        for (path, rdev) in [(&b"/dev/null"[..], 0x103), (b"/dev/zero", 0x105)] {
            let openat = |flags: u32| FsRequest::Openat { dirfd: AT_FDCWD, path, flags: flags as i32, mode: 0 };
            let Response::OpenedCharDevice { fd, rdev: got } = call(&mem, openat(lx::O_RDWR)) else {
                panic!("{path:?}: no device answer")
            };
            assert_eq!(got, rdev);
            close(&mem, fd as i32);
            // O_PATH opens nothing to read or write: the plain answer.
            let fd = value(call(&mem, openat(lx::O_PATH)));
            close(&mem, fd as i32);
        }
        // Another path to the same device: the plain answer (the guest knows only these two).
        let fd = value(call(&mem, FsRequest::Openat { dirfd: AT_FDCWD, path: b"/dev/./null", flags: 0, mode: 0 }));
        close(&mem, fd as i32);
    }

    fn read(mem: &GuestMemory, fd: i32, segs: &[GuestSeg], offset: Option<i64>) -> Response {
        call(mem, FsRequest::Read { fd, buf: SegList::Borrowed(segs), offset })
    }

    fn write(mem: &GuestMemory, fd: i32, segs: &[GuestSeg], offset: Option<i64>) -> Response {
        call(mem, FsRequest::Write { fd, buf: SegList::Borrowed(segs), offset })
    }

    fn stat_of(resp: Response) -> LinuxStat {
        match resp {
            Response::Stat(st) => st,
            other => panic!("expected Stat, got {other:?}"),
        }
    }

    fn assert_stat_matches(st: &LinuxStat, md: &std::fs::Metadata) {
        assert_eq!(st.st_dev, md.dev());
        assert_eq!(st.st_ino, md.ino());
        assert_eq!(st.st_mode, md.mode());
        assert_eq!(st.st_nlink, md.nlink());
        assert_eq!((st.st_uid, st.st_gid), (md.uid(), md.gid()));
        assert_eq!(st.st_size, md.size() as i64);
        assert_eq!(st.st_blocks, md.blocks() as i64);
        assert_eq!(st.st_blksize, md.blksize() as i64);
        assert_eq!((st.st_mtime, st.st_mtime_nsec), (md.mtime(), md.mtime_nsec()));
        assert_eq!((st.st_ctime, st.st_ctime_nsec), (md.ctime(), md.ctime_nsec()));
    }

    #[test]
    fn write_then_read_through_split_segments() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fd = open(&mem, &dir.join("data"), lx::O_RDWR | lx::O_CREAT | lx::O_TRUNC, 0o644);

        mem.write(0x100, b"hello ").unwrap();
        mem.write(0x2000, b"world").unwrap();
        assert_eq!(value(write(&mem, fd, &[seg(0x100, 6), seg(0x2000, 5)], None)), 11);
        assert_eq!(std::fs::read(dir.host("data")).unwrap(), b"hello world");

        assert_eq!(value(call(&mem, FsRequest::Lseek { fd, offset: 0, whence: lx::SEEK_SET })), 0);
        assert_eq!(value(read(&mem, fd, &[seg(0x3000, 4), seg(0x5000, 100)], None)), 11);
        assert_eq!(mem.read_vec(0x3000, 4).unwrap(), b"hell");
        assert_eq!(mem.read_vec(0x5000, 8).unwrap(), b"o world\0");
        assert_eq!(value(read(&mem, fd, &[seg(0x3000, 4)], None)), 0, "at end of file");
        close(&mem, fd);
    }

    #[test]
    fn pread_and_pwrite_use_the_offset_and_keep_the_position() {
        let dir = TempDir::new();
        std::fs::write(dir.host("data"), b"0123456789").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fd = open(&mem, &dir.join("data"), lx::O_RDWR, 0);

        mem.write(0x10, b"AB").unwrap();
        assert_eq!(value(write(&mem, fd, &[seg(0x10, 1), seg(0x11, 1)], Some(3))), 2);
        assert_eq!(std::fs::read(dir.host("data")).unwrap(), b"012AB56789");
        assert_eq!(value(read(&mem, fd, &[seg(0x100, 2), seg(0x200, 2)], Some(6))), 4);
        assert_eq!(mem.read_vec(0x100, 2).unwrap(), b"67");
        assert_eq!(mem.read_vec(0x200, 2).unwrap(), b"89");
        assert_eq!(value(read(&mem, fd, &[seg(0x100, 2)], Some(100))), 0);
        assert_eq!(read(&mem, fd, &[seg(0x100, 2)], Some(-1)), err(errno::EINVAL));
        assert_eq!(value(call(&mem, FsRequest::Lseek { fd, offset: 0, whence: lx::SEEK_CUR })), 0);
        close(&mem, fd);
    }

    #[test]
    fn fstat_and_fstatat_match_std_metadata() {
        let dir = TempDir::new();
        std::fs::write(dir.host("file"), vec![7u8; 5000]).unwrap();
        std::os::unix::fs::symlink("file", dir.host("link")).unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let md = std::fs::metadata(dir.host("file")).unwrap();

        let fd = open(&mem, &dir.join("file"), lx::O_RDONLY, 0);
        assert_stat_matches(&stat_of(call(&mem, FsRequest::Fstat { fd })), &md);
        let path = dir.join("file");
        assert_stat_matches(&stat_of(call(&mem, FsRequest::Fstatat { dirfd: AT_FDCWD, path: &path, flags: 0 })), &md);

        // Following the link gives the file; AT_SYMLINK_NOFOLLOW gives the link itself.
        let link = dir.join("link");
        assert_stat_matches(&stat_of(call(&mem, FsRequest::Fstatat { dirfd: AT_FDCWD, path: &link, flags: 0 })), &md);
        let nofollow = lx::AT_SYMLINK_NOFOLLOW as i32;
        let st = stat_of(call(&mem, FsRequest::Fstatat { dirfd: AT_FDCWD, path: &link, flags: nofollow }));
        assert_stat_matches(&st, &std::fs::symlink_metadata(dir.host("link")).unwrap());
        assert_eq!(st.st_mode & lx::S_IFMT, lx::S_IFLNK);

        // AT_EMPTY_PATH with an empty path is fstat; without the flag, ENOENT.
        let empty_path = lx::AT_EMPTY_PATH as i32;
        assert_stat_matches(&stat_of(call(&mem, FsRequest::Fstatat { dirfd: fd, path: b"", flags: empty_path })), &md);
        assert_eq!(call(&mem, FsRequest::Fstatat { dirfd: fd, path: b"", flags: 0 }), err(errno::ENOENT));
        assert_eq!(
            call(&mem, FsRequest::Fstatat { dirfd: AT_FDCWD, path: &path, flags: 0x4000_0000 }),
            err(errno::EINVAL)
        );
        close(&mem, fd);
    }

    #[test]
    fn statx_reports_the_files_fields() {
        let dir = TempDir::new();
        std::fs::write(dir.host("file"), b"abc").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let md = std::fs::metadata(dir.host("file")).unwrap();
        let path = dir.join("file");
        let mask = lx::STATX_BASIC_STATS | lx::STATX_BTIME;
        let stx = match call(&mem, FsRequest::Statx { dirfd: AT_FDCWD, path: &path, flags: 0, mask }) {
            Response::Statx(stx) => stx,
            other => panic!("expected Statx, got {other:?}"),
        };
        assert_eq!(stx.stx_mask & lx::STATX_BASIC_STATS, lx::STATX_BASIC_STATS);
        assert_eq!(stx.stx_ino, md.ino());
        assert_eq!(stx.stx_size, 3);
        assert_eq!(u32::from(stx.stx_mode), md.mode());
        assert_eq!(stx.stx_nlink, 1);
        assert_eq!((stx.stx_mtime.tv_sec, i64::from(stx.stx_mtime.tv_nsec)), (md.mtime(), md.mtime_nsec()));
        assert_eq!(stx.stx_mask & !host::STATX_CARRIED_MASK, 0);

        let missing = dir.join("missing");
        assert_eq!(
            call(&mem, FsRequest::Statx { dirfd: AT_FDCWD, path: &missing, flags: 0, mask }),
            err(errno::ENOENT)
        );
    }

    /// Names in a getdents64 buffer.
    fn dirent_names(mut buf: &[u8]) -> Vec<String> {
        let mut names = Vec::new();
        while buf.len() >= 19 {
            let reclen = usize::from(u16::from_le_bytes([buf[16], buf[17]]));
            let name = &buf[19..reclen];
            let end = name.iter().position(|&b| b == 0).unwrap();
            names.push(String::from_utf8_lossy(&name[..end]).into_owned());
            buf = &buf[reclen..];
        }
        names
    }

    #[test]
    fn getdents64_lists_the_directory_across_segments() {
        let dir = TempDir::new();
        for name in ["a", "bb", "ccc"] {
            std::fs::write(dir.host(name), b"").unwrap();
        }
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fd = open(&mem, &dir.join(""), lx::O_RDONLY | lx::O_DIRECTORY, 0);

        // Too small for one entry: EINVAL, as the host syscall says.
        assert_eq!(
            call(&mem, FsRequest::Getdents64 { fd, buf: SegList::Borrowed(&[seg(0x100, 10)]) }),
            err(errno::EINVAL)
        );

        let segs = [seg(0x1000, 30), seg(0x8000, 4096)];
        let mut names = Vec::new();
        loop {
            let n = value(call(&mem, FsRequest::Getdents64 { fd, buf: SegList::Borrowed(&segs) })) as u64;
            if n == 0 {
                break;
            }
            let mut bytes = mem.read_vec(0x1000, n.min(30)).unwrap();
            bytes.extend(mem.read_vec(0x8000, n.saturating_sub(30)).unwrap());
            names.extend(dirent_names(&bytes));
        }
        names.sort();
        assert_eq!(names, [".", "..", "a", "bb", "ccc"]);
        close(&mem, fd);
    }

    #[test]
    fn readlinkat_returns_the_target_without_nul() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let link = dir.join("link");
        let made = call(&mem, FsRequest::Symlinkat { target: b"some/target", newdirfd: AT_FDCWD, linkpath: &link });
        assert_eq!(made, Response::Ret(0));

        let segs = [seg(0x100, 3), seg(0x200, 100)];
        let n =
            value(call(&mem, FsRequest::Readlinkat { dirfd: AT_FDCWD, path: &link, buf: SegList::Borrowed(&segs) }));
        assert_eq!(n, 11);
        assert_eq!(mem.read_vec(0x100, 3).unwrap(), b"som");
        assert_eq!(mem.read_vec(0x200, 9).unwrap(), b"e/target\0");

        // A buffer shorter than the target gets its start; an empty one is EINVAL.
        let short = [seg(0x300, 4)];
        assert_eq!(
            call(&mem, FsRequest::Readlinkat { dirfd: AT_FDCWD, path: &link, buf: SegList::Borrowed(&short) }),
            Response::Ret(4)
        );
        assert_eq!(
            call(&mem, FsRequest::Readlinkat { dirfd: AT_FDCWD, path: &link, buf: SegList::Borrowed(&[]) }),
            err(errno::EINVAL)
        );
        std::fs::write(dir.host("file"), b"").unwrap();
        let file = dir.join("file");
        assert_eq!(
            call(&mem, FsRequest::Readlinkat { dirfd: AT_FDCWD, path: &file, buf: SegList::Borrowed(&segs) }),
            err(errno::EINVAL)
        );
    }

    #[test]
    fn getcwd_counts_the_nul_and_says_erange_when_short() {
        let _lock = PROCESS_WIDE.lock().unwrap_or_else(|e| e.into_inner());
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let cwd = std::env::current_dir().unwrap();
        let cwd = cwd.as_os_str().as_bytes();

        assert_eq!(call(&mem, FsRequest::Getcwd { buf: SegList::Borrowed(&[seg(0x100, 1)]) }), err(errno::ERANGE));
        assert_eq!(call(&mem, FsRequest::Getcwd { buf: SegList::Borrowed(&[]) }), err(errno::ERANGE));
        let segs = [seg(0x100, 2), seg(0x1000, 8192)];
        let n = value(call(&mem, FsRequest::Getcwd { buf: SegList::Borrowed(&segs) }));
        assert_eq!(n as usize, cwd.len() + 1);
        let mut got = mem.read_vec(0x100, 2).unwrap();
        got.extend(mem.read_vec(0x1000, n as u64 - 2).unwrap());
        assert_eq!(&got[..cwd.len()], cwd);
        assert_eq!(got[cwd.len()], 0);
    }

    #[test]
    fn chdir_and_fchdir_move_the_working_directory() {
        let _lock = PROCESS_WIDE.lock().unwrap_or_else(|e| e.into_inner());
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let before = std::env::current_dir().unwrap();
        let back = open(&mem, before.as_os_str().as_bytes(), lx::O_RDONLY | lx::O_DIRECTORY, 0);

        assert_eq!(call(&mem, FsRequest::Chdir { path: &dir.join("") }), Response::Ret(0));
        let now = std::env::current_dir().unwrap();
        assert_eq!(now.canonicalize().unwrap(), dir.host("").canonicalize().unwrap());
        assert_eq!(call(&mem, FsRequest::Fchdir { fd: back }), Response::Ret(0));
        assert_eq!(std::env::current_dir().unwrap(), before);
        assert_eq!(call(&mem, FsRequest::Chdir { path: &dir.join("missing") }), err(errno::ENOENT));
        close(&mem, back);
    }

    #[test]
    fn umask_returns_the_previous_mask() {
        let _lock = PROCESS_WIDE.lock().unwrap_or_else(|e| e.into_inner());
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let old = value(call(&mem, FsRequest::Umask { mask: 0o7027 }));
        assert_eq!(value(call(&mem, FsRequest::Umask { mask: old as u32 })), 0o027);
    }

    #[test]
    fn rename_noreplace_refuses_an_existing_target() {
        let dir = TempDir::new();
        std::fs::write(dir.host("a"), b"A").unwrap();
        std::fs::write(dir.host("b"), b"B").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let (a, b, c) = (dir.join("a"), dir.join("b"), dir.join("c"));
        let rename = |old: &[u8], new: &[u8], flags| {
            call(
                &mem,
                FsRequest::Renameat2 { olddirfd: AT_FDCWD, oldpath: old, newdirfd: AT_FDCWD, newpath: new, flags },
            )
        };
        assert_eq!(rename(&a, &b, lx::RENAME_NOREPLACE), err(errno::EEXIST));
        assert_eq!(rename(&a, &c, lx::RENAME_NOREPLACE), Response::Ret(0));
        assert_eq!(rename(&c, &b, 0), Response::Ret(0));
        assert_eq!(std::fs::read(dir.host("b")).unwrap(), b"A");
        assert_eq!(rename(&a, &b, 0), err(errno::ENOENT));
        assert_eq!(rename(&b, &c, 0x100), err(errno::EINVAL));
    }

    #[test]
    fn missing_files_are_enoent() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let path = dir.join("missing");
        assert_eq!(
            call(&mem, FsRequest::Openat { dirfd: AT_FDCWD, path: &path, flags: 0, mode: 0 }),
            err(errno::ENOENT)
        );
        assert_eq!(call(&mem, FsRequest::Fstatat { dirfd: AT_FDCWD, path: &path, flags: 0 }), err(errno::ENOENT));
        assert_eq!(call(&mem, FsRequest::Unlinkat { dirfd: AT_FDCWD, path: &path, flags: 0 }), err(errno::ENOENT));
        assert_eq!(call(&mem, FsRequest::Truncate { path: &path, length: 0 }), err(errno::ENOENT));
    }

    #[test]
    fn guest_buffers_outside_ram_are_malformed() {
        let dir = TempDir::new();
        std::fs::write(dir.host("data"), b"data").unwrap();
        std::os::unix::fs::symlink("data", dir.host("link")).unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fd = open(&mem, &dir.join("data"), lx::O_RDWR, 0);
        let bad = Response::Malformed(MalformedReason::BadGuestAddress);
        let outside = [seg(0x100, 4), seg(RAM as u64 - 2, 4)];

        assert_eq!(read(&mem, fd, &outside, None), bad);
        assert_eq!(write(&mem, fd, &outside, Some(0)), bad);
        assert_eq!(read(&mem, fd, &[seg(u64::MAX, 2)], None), bad);
        assert_eq!(value(call(&mem, FsRequest::Lseek { fd, offset: 0, whence: lx::SEEK_CUR })), 0, "nothing consumed");
        let link = dir.join("link");
        assert_eq!(
            call(&mem, FsRequest::Readlinkat { dirfd: AT_FDCWD, path: &link, buf: SegList::Borrowed(&outside) }),
            bad
        );
        assert_eq!(call(&mem, FsRequest::Getcwd { buf: SegList::Borrowed(&outside) }), bad);

        let dirfd = open(&mem, &dir.join(""), lx::O_RDONLY | lx::O_DIRECTORY, 0);
        assert_eq!(call(&mem, FsRequest::Getdents64 { fd: dirfd, buf: SegList::Borrowed(&outside) }), bad);

        let overflow = [seg(0, u64::MAX), seg(0, 2)];
        let bad_length = Response::Malformed(MalformedReason::BadLength);
        assert_eq!(read(&mem, fd, &overflow, None), bad_length);
        assert_eq!(call(&mem, FsRequest::Getdents64 { fd: dirfd, buf: SegList::Borrowed(&overflow) }), bad_length);
        close(&mem, dirfd);
        close(&mem, fd);
    }

    #[test]
    fn more_segments_than_iov_max_is_einval() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let segs = vec![seg(0, 1); MAX_SEGMENTS + 1];
        assert_eq!(read(&mem, 0, &segs, None), err(errno::EINVAL));
    }

    /// dup2 onto one of the monitor's movable descriptors: it moves away (the guard
    /// follows it) and the program gets the number.
    #[test]
    fn dup3_onto_a_movable_monitor_descriptor_moves_it() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let other = open(&mem, &dir.join(""), lx::O_RDONLY | lx::O_DIRECTORY, 0);
        let movable = crate::own_fd::MovableFd::new(std::fs::File::open("/dev/null").unwrap().into());
        let mine = movable.raw();
        let fds = FdGuard::default();
        fds.reserve(mine);
        assert_eq!(
            handle(&fds, &mem, &FsRequest::Dup3 { oldfd: other, newfd: mine, flags: 0 }),
            Response::Ret(mine.into())
        );
        let moved = movable.raw();
        assert_ne!(moved, mine);
        assert!(!fds.is_reserved(mine) && fds.is_reserved(moved));
        // The number is the program's now: a directory, not /dev/null.
        assert_eq!(sys::fstat(mine).map(|st| st.st_mode & libc::S_IFMT), Ok(libc::S_IFDIR));
        close(&mem, mine);
        close(&mem, other);
    }

    #[test]
    fn reserved_fds_are_ebadf() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let mine = open(&mem, &dir.join(""), lx::O_RDONLY | lx::O_DIRECTORY, 0);
        let other = open(&mem, &dir.join(""), lx::O_RDONLY | lx::O_DIRECTORY, 0);
        let fds = FdGuard::default();
        fds.reserve(mine);
        let guarded = |req: FsRequest<'_>| handle(&fds, &mem, &req);
        let ebadf = err(errno::EBADF);

        assert_eq!(guarded(FsRequest::Close { fd: mine }), ebadf);
        assert_eq!(guarded(FsRequest::Read { fd: mine, buf: SegList::Borrowed(&[seg(0, 1)]), offset: None }), ebadf);
        assert_eq!(guarded(FsRequest::Fstat { fd: mine }), ebadf);
        assert_eq!(guarded(FsRequest::Fstatat { dirfd: mine, path: b"x", flags: 0 }), ebadf);
        assert_eq!(guarded(FsRequest::Openat { dirfd: mine, path: b"x", flags: 0, mode: 0 }), ebadf);
        // A target that is the monitor's and cannot move (as KVM's): EBUSY, left alone.
        assert_eq!(guarded(FsRequest::Dup3 { oldfd: other, newfd: mine, flags: 0 }), err(errno::EBUSY));
        assert!(fds.is_reserved(mine) && sys::fd_flags(mine).is_ok());
        assert_eq!(guarded(FsRequest::Dup { fd: mine }), ebadf);
        assert_eq!(guarded(FsRequest::Fcntl { fd: mine, cmd: F_SETFD, arg: 0 }), ebadf);
        assert_eq!(guarded(FsRequest::Fchdir { fd: mine }), ebadf);
        let rename =
            FsRequest::Renameat2 { olddirfd: AT_FDCWD, oldpath: b"a", newdirfd: mine, newpath: b"b", flags: 0 };
        assert_eq!(guarded(rename), ebadf);
        // Negative dirfds other than AT_FDCWD never reach the host (where one may be its AT_FDCWD).
        assert_eq!(guarded(FsRequest::Fstatat { dirfd: -2, path: b"x", flags: 0 }), ebadf);

        assert!(sys::fd_flags(mine).is_ok(), "the reserved fd is still open");
        close(&mem, mine);
        close(&mem, other);
    }

    #[test]
    fn paths_too_long_or_with_nul() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let long = vec![b'a'; 5000];
        assert_eq!(
            call(&mem, FsRequest::Openat { dirfd: AT_FDCWD, path: &long, flags: 0, mode: 0 }),
            err(errno::ENAMETOOLONG)
        );
        assert_eq!(call(&mem, FsRequest::Chdir { path: &long }), err(errno::ENAMETOOLONG));

        // The limit is Linux's: 4095 bytes and the NUL fit, 4096 do not.
        let fits = vec![b'/'; PATH_MAX - 1];
        let fd = open(&mem, &fits, lx::O_RDONLY | lx::O_DIRECTORY, 0);
        close(&mem, fd);
        let too_long = vec![b'/'; PATH_MAX];
        assert_eq!(
            call(&mem, FsRequest::Fstatat { dirfd: AT_FDCWD, path: &too_long, flags: 0 }),
            err(errno::ENAMETOOLONG)
        );

        let with_nul = call(&mem, FsRequest::Openat { dirfd: AT_FDCWD, path: b"/tmp\0/x", flags: 0, mode: 0 });
        assert_eq!(with_nul, Response::Malformed(MalformedReason::Decode));
    }

    #[test]
    fn fcntl_flags_and_duplicates() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let flags = lx::O_WRONLY | lx::O_CREAT | lx::O_APPEND | lx::O_CLOEXEC;
        let fd = open(&mem, &dir.join("f"), flags, 0o600);
        let fcntl = |fd, cmd, arg| call(&mem, FsRequest::Fcntl { fd, cmd, arg });

        assert_eq!(fcntl(fd, F_GETFD, 0), Response::Ret(i64::from(lx::FD_CLOEXEC)));
        assert_eq!(fcntl(fd, F_SETFD, 0), Response::Ret(0));
        assert_eq!(fcntl(fd, F_GETFD, 0), Response::Ret(0));
        let fl = value(fcntl(fd, F_GETFL, 0)) as u32;
        assert_eq!(fl & (lx::O_ACCMODE | lx::O_APPEND), lx::O_WRONLY | lx::O_APPEND);
        assert_eq!(fcntl(fd, F_SETFL, u64::from(lx::O_NONBLOCK)), Response::Ret(0));
        assert_eq!(value(fcntl(fd, F_GETFL, 0)) as u32 & (lx::O_NONBLOCK | lx::O_APPEND), lx::O_NONBLOCK);

        let high = value(fcntl(fd, F_DUPFD_CLOEXEC, 100));
        assert!(high >= 100);
        assert_eq!(fcntl(high as i32, F_GETFD, 0), Response::Ret(i64::from(lx::FD_CLOEXEC)));
        assert_eq!(fcntl(fd, F_DUPFD, u64::MAX), err(errno::EINVAL));
        assert_eq!(fcntl(fd, 9999, 0), err(errno::EINVAL));
        close(&mem, high as i32);
        close(&mem, fd);
    }

    #[test]
    fn dup_and_dup3() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fd = open(&mem, &dir.join("f"), lx::O_RDWR | lx::O_CREAT, 0o600);
        let copy = value(call(&mem, FsRequest::Dup { fd })) as i32;
        assert_ne!(copy, fd);

        assert_eq!(call(&mem, FsRequest::Dup3 { oldfd: fd, newfd: fd, flags: 0 }), err(errno::EINVAL));
        let cloexec = lx::O_CLOEXEC as i32;
        assert_eq!(
            call(&mem, FsRequest::Dup3 { oldfd: fd, newfd: copy, flags: cloexec }),
            Response::Ret(i64::from(copy))
        );
        let getfd = call(&mem, FsRequest::Fcntl { fd: copy, cmd: F_GETFD, arg: 0 });
        assert_eq!(getfd, Response::Ret(i64::from(lx::FD_CLOEXEC)));
        assert_eq!(call(&mem, FsRequest::Dup3 { oldfd: fd, newfd: copy, flags: 1 }), err(errno::EINVAL));
        close(&mem, copy);
        close(&mem, fd);
    }

    #[test]
    fn sizes_positions_and_syncs() {
        let dir = TempDir::new();
        std::fs::write(dir.host("f"), b"0123456789").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let path = dir.join("f");
        let fd = open(&mem, &path, lx::O_RDWR, 0);

        assert_eq!(call(&mem, FsRequest::Ftruncate { fd, length: 3 }), Response::Ret(0));
        assert_eq!(std::fs::metadata(dir.host("f")).unwrap().len(), 3);
        assert_eq!(call(&mem, FsRequest::Truncate { path: &path, length: 20 }), Response::Ret(0));
        assert_eq!(call(&mem, FsRequest::Lseek { fd, offset: 0, whence: lx::SEEK_END }), Response::Ret(20));
        assert_eq!(call(&mem, FsRequest::Lseek { fd, offset: 0, whence: 99 }), err(errno::EINVAL));
        assert_eq!(call(&mem, FsRequest::Ftruncate { fd, length: -1 }), err(errno::EINVAL));
        assert_eq!(call(&mem, FsRequest::Fsync { fd }), Response::Ret(0));
        assert_eq!(call(&mem, FsRequest::Fdatasync { fd }), Response::Ret(0));
        close(&mem, fd);
    }

    #[test]
    fn directories_links_modes_and_access() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let dirfd = open(&mem, &dir.join(""), lx::O_RDONLY | lx::O_DIRECTORY, 0);

        // Relative to a directory fd.
        assert_eq!(call(&mem, FsRequest::Mkdirat { dirfd, path: b"sub", mode: 0o755 }), Response::Ret(0));
        assert!(dir.host("sub").is_dir());
        assert_eq!(call(&mem, FsRequest::Mkdirat { dirfd, path: b"sub", mode: 0o755 }), err(errno::EEXIST));
        assert_eq!(call(&mem, FsRequest::Unlinkat { dirfd, path: b"sub", flags: 0 }), err(errno::EISDIR));
        let removedir = lx::AT_REMOVEDIR as i32;
        assert_eq!(call(&mem, FsRequest::Unlinkat { dirfd, path: b"sub", flags: removedir }), Response::Ret(0));
        assert!(!dir.host("sub").exists());

        // An absolute path ignores dirfd, even one that is no descriptor; a relative one
        // needs it.
        let abs = dir.join("abs");
        assert_eq!(call(&mem, FsRequest::Mkdirat { dirfd: -5, path: &abs, mode: 0o755 }), Response::Ret(0));
        assert_eq!(call(&mem, FsRequest::Unlinkat { dirfd: -5, path: &abs, flags: removedir }), Response::Ret(0));
        assert_eq!(call(&mem, FsRequest::Mkdirat { dirfd: -5, path: b"rel", mode: 0o755 }), err(errno::EBADF));

        // mknodat: a FIFO and a type-0 regular file; a directory and a symlink are refused
        // as Linux refuses them; an absolute path ignores a dirfd that is no descriptor.
        let fifo = lx::S_IFIFO | 0o644;
        assert_eq!(call(&mem, FsRequest::Mknodat { dirfd, path: b"p", mode: fifo, dev: 0 }), Response::Ret(0));
        assert!(std::fs::symlink_metadata(dir.host("p")).unwrap().file_type().is_fifo());
        assert_eq!(call(&mem, FsRequest::Mknodat { dirfd, path: b"p", mode: fifo, dev: 0 }), err(errno::EEXIST));
        assert_eq!(call(&mem, FsRequest::Mknodat { dirfd, path: b"r", mode: 0o600, dev: 0 }), Response::Ret(0));
        assert!(dir.host("r").is_file());
        let mkdir = lx::S_IFDIR | 0o755;
        assert_eq!(call(&mem, FsRequest::Mknodat { dirfd, path: b"d", mode: mkdir, dev: 0 }), err(errno::EPERM));
        let link = lx::S_IFLNK | 0o777;
        assert_eq!(call(&mem, FsRequest::Mknodat { dirfd, path: b"l", mode: link, dev: 0 }), err(errno::EINVAL));
        let abs = dir.join("q");
        assert_eq!(call(&mem, FsRequest::Mknodat { dirfd: -5, path: &abs, mode: fifo, dev: 0 }), Response::Ret(0));
        assert_eq!(call(&mem, FsRequest::Mknodat { dirfd: -5, path: b"q2", mode: fifo, dev: 0 }), err(errno::EBADF));
        for name in [&b"p"[..], b"r", b"q"] {
            assert_eq!(call(&mem, FsRequest::Unlinkat { dirfd, path: name, flags: 0 }), Response::Ret(0));
        }

        let fd = value(call(
            &mem,
            FsRequest::Openat { dirfd, path: b"f", flags: (lx::O_CREAT | lx::O_WRONLY) as i32, mode: 0o644 },
        ));
        assert!(fd >= 0);
        let fd = fd as i32;
        assert_eq!(call(&mem, FsRequest::Fchmodat { dirfd, path: b"f", mode: 0o600 }), Response::Ret(0));
        assert_eq!(std::fs::metadata(dir.host("f")).unwrap().mode() & 0o7777, 0o600);
        assert_eq!(call(&mem, FsRequest::Fchmod { fd, mode: 0o640 }), Response::Ret(0));
        assert_eq!(std::fs::metadata(dir.host("f")).unwrap().mode() & 0o7777, 0o640);

        let access = |path: &[u8], mode: u32, flags: u32| {
            call(&mem, FsRequest::Faccessat { dirfd, path, mode: mode as i32, flags: flags as i32 })
        };
        assert_eq!(access(b"f", lx::F_OK, 0), Response::Ret(0));
        assert_eq!(access(b"f", lx::R_OK, lx::AT_EACCESS), Response::Ret(0));
        // No execute bit anywhere: EACCES even for root.
        assert_eq!(access(b"f", lx::X_OK, 0), err(errno::EACCES));
        assert_eq!(access(b"f", lx::X_OK, lx::AT_EACCESS | lx::AT_SYMLINK_NOFOLLOW), err(errno::EACCES));
        assert_eq!(access(b"missing", lx::F_OK, 0), err(errno::ENOENT));
        assert_eq!(access(b"f", lx::F_OK, 0x1), err(errno::EINVAL));

        assert_eq!(
            call(&mem, FsRequest::Symlinkat { target: b"f", newdirfd: dirfd, linkpath: b"l" }),
            Response::Ret(0)
        );
        assert_eq!(std::fs::read_link(dir.host("l")).unwrap(), PathBuf::from("f"));
        assert_eq!(call(&mem, FsRequest::Unlinkat { dirfd, path: b"l", flags: 0 }), Response::Ret(0));
        close(&mem, fd);
        close(&mem, dirfd);
    }

    #[test]
    fn terminal_ioctls_on_a_file_are_enotty() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fd = open(&mem, &dir.join("f"), lx::O_RDWR | lx::O_CREAT, 0o600);
        assert_eq!(call(&mem, TtyRequest::IoctlTcgets { fd }), err(errno::ENOTTY));
        assert_eq!(call(&mem, TtyRequest::IoctlGetWinsize { fd }), err(errno::ENOTTY));
        close(&mem, fd);
    }

    #[test]
    fn terminal_ioctls_on_a_pty() {
        let Some((master, slave)) = open_pty() else {
            eprintln!("no pseudo-terminals on this host: pty test skipped");
            return;
        };
        let (master, slave) = (master.as_raw_fd(), slave.as_raw_fd());
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let ws = libc::winsize { ws_row: 33, ws_col: 101, ws_xpixel: 0, ws_ypixel: 0 };
        sys::set_window_size(master, &ws).unwrap();
        match call(&mem, TtyRequest::IoctlGetWinsize { fd: slave }) {
            Response::Winsize(got) => assert_eq!((got.ws_row, got.ws_col), (33, 101)),
            other => panic!("expected Winsize, got {other:?}"),
        }
        let host = sys::tcgetattr(slave).unwrap();
        match call(&mem, TtyRequest::IoctlTcgets { fd: slave }) {
            Response::Termios(t) => {
                assert_eq!(
                    (t.c_iflag, t.c_oflag, t.c_cflag, t.c_lflag),
                    (host.c_iflag, host.c_oflag, host.c_cflag, host.c_lflag)
                );
                assert_eq!(t.c_cc[libc::VINTR], host.c_cc[libc::VINTR]);
            }
            other => panic!("expected Termios, got {other:?}"),
        }
    }

    #[test]
    fn cap_iovecs_limits_the_total() {
        let iov = |len| libc::iovec { iov_base: std::ptr::null_mut(), iov_len: len };
        let lens = |v: &Vec<libc::iovec>| v.iter().map(|i| i.iov_len).collect::<Vec<_>>();
        let mut v = vec![iov(4), iov(4), iov(4)];
        cap_iovecs(&mut v, 10);
        assert_eq!(lens(&v), [4, 4, 2]);
        let mut v = vec![iov(4), iov(4), iov(4)];
        cap_iovecs(&mut v, 8);
        assert_eq!(lens(&v), [4, 4]);
        let mut v = vec![iov(usize::MAX), iov(1)];
        cap_iovecs(&mut v, MAX_RW_COUNT);
        assert_eq!(lens(&v), [MAX_RW_COUNT]);
    }

    #[test]
    fn pipe2_makes_a_pipe_with_the_flags() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let flags = (lx::O_CLOEXEC | lx::O_NONBLOCK) as i32;
        let [r, w] = match call(&mem, FsRequest::Pipe2 { flags }) {
            Response::Fds(fds) => fds,
            other => panic!("expected Fds, got {other:?}"),
        };
        let fcntl = |fd, cmd| call(&mem, FsRequest::Fcntl { fd, cmd, arg: 0 });
        assert_eq!(fcntl(r, F_GETFD), Response::Ret(i64::from(lx::FD_CLOEXEC)));
        assert_ne!(value(fcntl(w, F_GETFL)) as u32 & lx::O_NONBLOCK, 0);
        assert_eq!(fcntl(r, F_GETPIPE_SZ), Response::Ret(65536));
        assert_eq!(call(&mem, FsRequest::Fcntl { fd: r, cmd: F_SETPIPE_SZ, arg: 8192 }), Response::Ret(8192));
        // An empty non-blocking pipe: EAGAIN; then FIONREAD counts what was written.
        assert_eq!(read(&mem, r, &[seg(0x100, 8)], None), err(errno::EAGAIN));
        mem.write(0x200, b"hello").unwrap();
        assert_eq!(write(&mem, w, &[seg(0x200, 5)], None), Response::Ret(5));
        assert_eq!(call(&mem, FsRequest::IoctlFionread { fd: r }), Response::Ret(5));
        assert_eq!(value(read(&mem, r, &[seg(0x100, 8)], None)), 5);
        assert_eq!(mem.read_vec(0x100, 5).unwrap(), b"hello");
        close(&mem, r);
        close(&mem, w);

        assert_eq!(call(&mem, FsRequest::Pipe2 { flags: 0x1 }), err(errno::EINVAL));
    }

    #[test]
    fn fionread_and_tiocgpgrp_on_a_file() {
        let dir = TempDir::new();
        std::fs::write(dir.host("f"), b"0123456789").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fd = open(&mem, &dir.join("f"), lx::O_RDONLY, 0);
        assert_eq!(value(read(&mem, fd, &[seg(0x100, 4)], None)), 4);
        // A regular file: what is left to read.
        assert_eq!(call(&mem, FsRequest::IoctlFionread { fd }), Response::Ret(6));
        assert_eq!(call(&mem, TtyRequest::IoctlGetPgrp { fd }), err(errno::ENOTTY));
        close(&mem, fd);
        assert_eq!(call(&mem, FsRequest::IoctlFionread { fd }), err(errno::EBADF));
        let guard = FdGuard::default();
        guard.reserve(fd);
        let req = FsRequest::IoctlFionread { fd };
        assert_eq!(handle(&guard, &mem, &req), err(errno::EBADF));
    }

    #[test]
    fn tiocgpgrp_on_a_pty() {
        let Some((_master, slave)) = open_pty() else {
            eprintln!("no pseudo-terminals on this host: pty test skipped");
            return;
        };
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        // Not our controlling terminal: the host says ENOTTY, as it would to the program.
        let got = call(&mem, TtyRequest::IoctlGetPgrp { fd: slave.as_raw_fd() });
        assert!(got == err(errno::ENOTTY) || matches!(got, Response::Ret(v) if v > 0), "{got:?}");
    }

    #[test]
    fn linkat_makes_hard_links() {
        let dir = TempDir::new();
        std::fs::write(dir.host("f"), b"x").unwrap();
        std::os::unix::fs::symlink("f", dir.host("sym")).unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let dirfd = open(&mem, &dir.join(""), lx::O_RDONLY | lx::O_DIRECTORY, 0);
        let link = |old: &[u8], new: &[u8], flags: u32| {
            call(
                &mem,
                FsRequest::Linkat { olddirfd: dirfd, oldpath: old, newdirfd: dirfd, newpath: new, flags: flags as i32 },
            )
        };
        assert_eq!(link(b"f", b"g", 0), Response::Ret(0));
        assert_eq!(std::fs::metadata(dir.host("f")).unwrap().nlink(), 2);
        assert_eq!(link(b"f", b"g", 0), err(errno::EEXIST));
        assert_eq!(link(b"missing", b"h", 0), err(errno::ENOENT));
        assert_eq!(link(b"", b"h", 0x1), err(errno::EINVAL));
        // Without AT_SYMLINK_FOLLOW the link itself is linked; with it, its target.
        assert_eq!(link(b"sym", b"sym2", 0), Response::Ret(0));
        assert!(std::fs::symlink_metadata(dir.host("sym2")).unwrap().file_type().is_symlink());
        assert_eq!(link(b"sym", b"f3", lx::AT_SYMLINK_FOLLOW), Response::Ret(0));
        assert_eq!(std::fs::metadata(dir.host("f")).unwrap().nlink(), 3);
        std::fs::create_dir(dir.host("d")).unwrap();
        assert_eq!(link(b"d", b"d2", 0), err(errno::EPERM));
        close(&mem, dirfd);
    }

    #[test]
    fn utimensat_sets_omits_and_nows() {
        let dir = TempDir::new();
        std::fs::write(dir.host("f"), b"x").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let path = dir.join("f");
        let utimens =
            |dirfd, path: Option<&[u8]>, times, flags| call(&mem, FsRequest::Utimensat { dirfd, path, times, flags });
        let times = Some([(1_000_000_000, 123_456_789), (1_234_567_890, 987_654_321)]);
        assert_eq!(utimens(AT_FDCWD, Some(&path), times, 0), Response::Ret(0));
        let md = std::fs::metadata(dir.host("f")).unwrap();
        assert_eq!((md.atime(), md.atime_nsec()), (1_000_000_000, 123_456_789));
        assert_eq!((md.mtime(), md.mtime_nsec()), (1_234_567_890, 987_654_321));

        // UTIME_OMIT keeps a time, UTIME_NOW takes the clock.
        let omit = i64::from(lx::UTIME_OMIT);
        let now = i64::from(lx::UTIME_NOW);
        let times = Some([(5, omit), (0, now)]);
        assert_eq!(utimens(AT_FDCWD, Some(&path), times, 0), Response::Ret(0));
        let md = std::fs::metadata(dir.host("f")).unwrap();
        assert_eq!(md.atime(), 1_000_000_000);
        assert!(md.mtime() > 1_600_000_000);

        // A NULL path sets the times of the fd itself (futimens).
        let fd = open(&mem, &path, lx::O_RDONLY, 0);
        let times = Some([(7, 0), (8, 0)]);
        assert_eq!(utimens(fd, None, times, 0), Response::Ret(0));
        let md = std::fs::metadata(dir.host("f")).unwrap();
        assert_eq!((md.atime(), md.mtime()), (7, 8));
        // NULL times: both now.
        assert_eq!(utimens(fd, None, None, 0), Response::Ret(0));
        assert!(std::fs::metadata(dir.host("f")).unwrap().atime() > 1_600_000_000);
        close(&mem, fd);

        let bad = Some([(0, 1_000_000_000), (0, 0)]);
        assert_eq!(utimens(AT_FDCWD, Some(&path), bad, 0), err(errno::EINVAL));
        assert_eq!(utimens(AT_FDCWD, Some(&path), None, 0x1), err(errno::EINVAL));
        let missing = dir.join("missing");
        assert_eq!(utimens(AT_FDCWD, Some(&missing), None, 0), err(errno::ENOENT));
        // A NULL path with AT_FDCWD names nothing.
        assert_eq!(utimens(AT_FDCWD, None, None, 0), err(errno::EFAULT));
    }

    #[test]
    fn chown_to_our_own_ids_and_bad_flags() {
        let dir = TempDir::new();
        std::fs::write(dir.host("f"), b"x").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let md = std::fs::metadata(dir.host("f")).unwrap();
        let (uid, gid) = (md.uid(), md.gid());
        let path = dir.join("f");
        let chown = |path: &[u8], uid, gid, flags: u32| {
            call(&mem, FsRequest::Fchownat { dirfd: AT_FDCWD, path, uid, gid, flags: flags as i32 })
        };
        assert_eq!(chown(&path, uid, gid, 0), Response::Ret(0));
        assert_eq!(chown(&path, u32::MAX, u32::MAX, 0), Response::Ret(0));
        assert_eq!(chown(&path, uid, gid, lx::AT_SYMLINK_NOFOLLOW), Response::Ret(0));
        assert_eq!(chown(&path, uid, gid, 0x1), err(errno::EINVAL));
        assert_eq!(chown(&dir.join("missing"), uid, gid, 0), err(errno::ENOENT));
        let fd = open(&mem, &path, lx::O_RDONLY, 0);
        assert_eq!(call(&mem, FsRequest::Fchown { fd, uid, gid }), Response::Ret(0));
        close(&mem, fd);
        assert_eq!(call(&mem, FsRequest::Fchown { fd, uid, gid }), err(errno::EBADF));
    }

    #[test]
    fn realpath_resolves_links_and_dots() {
        let dir = TempDir::new();
        std::fs::create_dir(dir.host("d")).unwrap();
        std::fs::write(dir.host("d/f"), b"x").unwrap();
        std::os::unix::fs::symlink("d/f", dir.host("l")).unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let want = std::fs::canonicalize(dir.host("d/f")).unwrap();
        let want = want.as_os_str().as_bytes();
        let segs = [seg(0x100, 3), seg(0x1000, 4096)];
        for path in [dir.join("l"), dir.join("d/../d/./f")] {
            let n = value(call(&mem, FsRequest::Realpath { path: &path, buf: SegList::Borrowed(&segs) }));
            assert_eq!(n as usize, want.len());
            let mut got = mem.read_vec(0x100, 3).unwrap();
            got.extend(mem.read_vec(0x1000, n as u64 - 3).unwrap());
            assert_eq!(got, want);
        }
        let short = [seg(0x100, 3)];
        let path = dir.join("l");
        assert_eq!(call(&mem, FsRequest::Realpath { path: &path, buf: SegList::Borrowed(&short) }), err(errno::ERANGE));
        let missing = dir.join("missing");
        assert_eq!(
            call(&mem, FsRequest::Realpath { path: &missing, buf: SegList::Borrowed(&segs) }),
            err(errno::ENOENT)
        );
        let outside = [seg(RAM as u64, 10)];
        assert_eq!(
            call(&mem, FsRequest::Realpath { path: &path, buf: SegList::Borrowed(&outside) }),
            Response::Malformed(MalformedReason::BadGuestAddress)
        );
    }

    proptest! {
        /// Whatever segments the guest names, a read answers (bytes or Malformed) and
        /// never touches memory outside guest RAM.
        #[test]
        fn reads_with_arbitrary_segments_never_panic(
            segs in proptest::collection::vec((0u64..2 * RAM as u64, 0u64..RAM as u64), 0..6),
        ) {
            let mut ram = vec![0u8; RAM];
            let mem = GuestMemory::from_vec_for_test(&mut ram);
            let zero_file = std::fs::File::open("/dev/zero").unwrap();
            let zero = zero_file.as_raw_fd();
            let segs: Vec<GuestSeg> = segs.into_iter().map(|(gpa, len)| seg(gpa, len)).collect();
            let inside = segs.iter().all(|s| s.len == 0 || s.gpa + s.len <= RAM as u64);
            let total: u64 = segs.iter().map(|s| s.len).sum();
            let got = read(&mem, zero, &segs, None);
            drop(zero_file);
            if inside {
                prop_assert_eq!(got, Response::Ret(total as i64));
            } else {
                prop_assert_eq!(got, Response::Malformed(MalformedReason::BadGuestAddress));
            }
        }
    }
}
