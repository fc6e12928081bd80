//! More file requests: statfs, in-host copies (sendfile, copy_file_range), fallocate and
//! fadvise, the xattr write side, memfd_create and file seals.
//!
//! On a Linux host each is the host's own syscall (the kernel's checks are Linux's). On
//! macOS the personality translates, and what Darwin lacks is emulated: copies go through a
//! host buffer with pread/pwrite, a memfd is an unlinked temporary file, fallocate is
//! F_PREALLOCATE plus ftruncate. Data never passes through the guest.

use std::ffi::CString;

use abi_shared::hypercall::{GuestSeg, MalformedReason, Response, SegList, XattrTarget};
use abi_shared::linux::errno;
// Path-only calls (statfs, the path xattr calls) resolve from the working directory.
use abi_shared::linux::general::AT_FDCWD;
use libc::c_int;

use super::{check, ret, Failure, Fs, Handled, Last};
use crate::guest_mem::MAX_SEGMENTS;
#[cfg(target_os = "macos")]
use crate::host;
use crate::host::LinuxErrno;

/// Most bytes one sendfile or copy_file_range request moves (the guest asks for at most
/// this much per request and loops): a request ends in bounded time.
pub(super) const MAX_TRANSFER: u64 = 16 << 20;
/// Linux's XATTR_SIZE_MAX: the largest value setxattr takes.
const XATTR_SIZE_MAX: u64 = 65536;
/// The longest memfd name Linux takes (NAME_MAX less "memfd:").
const MFD_NAME_MAX: usize = 249;

const EINVAL: LinuxErrno = errno::EINVAL as LinuxErrno;
const E2BIG: LinuxErrno = errno::E2BIG as LinuxErrno;

/// fcntl F_ADD_SEALS / F_GET_SEALS, Linux's numbers.
pub(super) const F_ADD_SEALS: i32 = 1033;
pub(super) const F_GET_SEALS: i32 = 1034;

fn name_cstring(name: &[u8]) -> Result<CString, Failure> {
    CString::new(name).map_err(|_| Failure::Malformed(MalformedReason::Decode))
}

impl Fs<'_> {
    pub(super) fn statfs(&self, path: &[u8]) -> Handled {
        let path = self.at(AT_FDCWD, path, Last::Follow)?.path;
        Ok(Response::Statfs(statfs_host(StatfsOf::Path(&path))?))
    }

    pub(super) fn fstatfs(&self, fd: i32) -> Handled {
        let fd = self.fd(fd)?;
        Ok(Response::Statfs(statfs_host(StatfsOf::Fd(fd))?))
    }

    pub(super) fn sendfile(&self, out_fd: i32, in_fd: i32, offset: Option<i64>, count: u64) -> Handled {
        let out_fd = self.fd(out_fd)?;
        let in_fd = self.fd(in_fd)?;
        ret(sendfile_host(out_fd, in_fd, offset, count.min(MAX_TRANSFER))?)
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
        ret(copy_file_range_host(fd_in, off_in, fd_out, off_out, len.min(MAX_TRANSFER), flags)?)
    }

    pub(super) fn fallocate(&self, fd: i32, mode: i32, offset: i64, len: i64) -> Handled {
        let fd = self.fd(fd)?;
        ret(fallocate_host(fd, mode, offset, len)?)
    }

    pub(super) fn fadvise(&self, fd: i32, offset: i64, len: i64, advice: i32) -> Handled {
        let fd = self.fd(fd)?;
        ret(fadvise_host(fd, offset, len, advice)?)
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
        ret(setxattr_host(&target, name, &value, flags)?)
    }

    pub(super) fn removexattr(&self, target: &XattrTarget<'_>, name: &[u8]) -> Handled {
        let target = self.xattr_target(target)?;
        ret(removexattr_host(&target, name)?)
    }

    /// The host object an xattr request names: a checked fd, or a host path.
    fn xattr_target(&self, target: &XattrTarget<'_>) -> Result<HostXattrTarget, Failure> {
        Ok(match target {
            XattrTarget::Fd(fd) => HostXattrTarget::Fd(self.fd(*fd)?),
            XattrTarget::Path { path, follow } => {
                let last = if *follow { Last::Follow } else { Last::NoFollow };
                HostXattrTarget::Path(self.at(AT_FDCWD, path, last)?.path, *follow)
            }
        })
    }

    pub(super) fn memfd_create(&self, name: &[u8], flags: u32) -> Handled {
        if name.len() > MFD_NAME_MAX {
            return Err(Failure::Errno(EINVAL));
        }
        let name = name_cstring(name)?;
        ret(memfd_create_host(&name, flags)?)
    }
}

/// What an xattr call acts on, in host terms.
enum HostXattrTarget {
    Fd(c_int),
    Path(CString, bool),
}

enum StatfsOf<'a> {
    Path(&'a CString),
    Fd(c_int),
}

// ---------------------------------------------------------------------------------------
// Linux host: the host's syscalls.

/// The host kernel fills Linux's `struct statfs` itself (same layout on every 64-bit
/// Linux; checked in host/linux.rs). The raw syscalls keep f_flags, which the `libc`
/// crate's struct hides.
#[cfg(target_os = "linux")]
fn statfs_host(of: StatfsOf<'_>) -> Result<abi_shared::linux::LinuxStatfs, Failure> {
    super::out_struct(|st: *mut abi_shared::linux::LinuxStatfs| {
        // SAFETY: the path is NUL-terminated; st is a valid out-pointer for one struct
        // statfs, which is what LinuxStatfs is on this host.
        let r = unsafe {
            match of {
                StatfsOf::Path(p) => libc::syscall(libc::SYS_statfs, p.as_ptr(), st),
                StatfsOf::Fd(fd) => libc::syscall(libc::SYS_fstatfs, fd, st),
            }
        };
        r as c_int
    })
}

#[cfg(target_os = "linux")]
fn sendfile_host(out_fd: c_int, in_fd: c_int, offset: Option<i64>, count: u64) -> Result<i64, Failure> {
    let mut off = offset.unwrap_or(0);
    let offp = if offset.is_some() { &mut off as *mut i64 } else { std::ptr::null_mut() };
    // SAFETY: offp is NULL or points to a live off_t; sendfile moves data between two fds.
    check(unsafe { libc::sendfile(out_fd, in_fd, offp, count as usize) })
}

#[cfg(target_os = "linux")]
fn copy_file_range_host(
    fd_in: c_int,
    off_in: Option<i64>,
    fd_out: c_int,
    off_out: Option<i64>,
    len: u64,
    flags: u32,
) -> Result<i64, Failure> {
    let (mut a, mut b) = (off_in.unwrap_or(0), off_out.unwrap_or(0));
    let pa = if off_in.is_some() { &mut a as *mut i64 } else { std::ptr::null_mut() };
    let pb = if off_out.is_some() { &mut b as *mut i64 } else { std::ptr::null_mut() };
    // SAFETY: pa and pb are NULL or point to live loff_t values; no other pointers.
    check(unsafe { libc::syscall(libc::SYS_copy_file_range, fd_in, pa, fd_out, pb, len as usize, flags) })
}

#[cfg(target_os = "linux")]
fn fallocate_host(fd: c_int, mode: i32, offset: i64, len: i64) -> Result<i64, Failure> {
    // SAFETY: fallocate takes no pointers.
    check(unsafe { libc::fallocate(fd, mode, offset, len) })
}

/// The raw syscall, not posix_fadvise (which returns the error instead of setting errno).
#[cfg(target_os = "linux")]
fn fadvise_host(fd: c_int, offset: i64, len: i64, advice: i32) -> Result<i64, Failure> {
    // SAFETY: fadvise64 takes no pointers.
    check(unsafe { libc::syscall(libc::SYS_fadvise64, fd, offset, len, advice) })
}

#[cfg(target_os = "linux")]
fn setxattr_host(target: &HostXattrTarget, name: &[u8], value: &[u8], flags: i32) -> Result<i64, Failure> {
    let name = name_cstring(name)?;
    let (v, n) = (value.as_ptr().cast::<libc::c_void>(), value.len());
    // SAFETY: name and path are NUL-terminated; v is a buffer of exactly n bytes.
    let r = unsafe {
        match target {
            HostXattrTarget::Fd(fd) => libc::fsetxattr(*fd, name.as_ptr(), v, n, flags),
            HostXattrTarget::Path(p, true) => libc::setxattr(p.as_ptr(), name.as_ptr(), v, n, flags),
            HostXattrTarget::Path(p, false) => libc::lsetxattr(p.as_ptr(), name.as_ptr(), v, n, flags),
        }
    };
    check(r)
}

#[cfg(target_os = "linux")]
fn removexattr_host(target: &HostXattrTarget, name: &[u8]) -> Result<i64, Failure> {
    let name = name_cstring(name)?;
    // SAFETY: name and path are NUL-terminated.
    let r = unsafe {
        match target {
            HostXattrTarget::Fd(fd) => libc::fremovexattr(*fd, name.as_ptr()),
            HostXattrTarget::Path(p, true) => libc::removexattr(p.as_ptr(), name.as_ptr()),
            HostXattrTarget::Path(p, false) => libc::lremovexattr(p.as_ptr(), name.as_ptr()),
        }
    };
    check(r)
}

#[cfg(target_os = "linux")]
fn memfd_create_host(name: &CString, flags: u32) -> Result<i64, Failure> {
    // SAFETY: name is NUL-terminated; the host checks the flags.
    check(unsafe { libc::memfd_create(name.as_ptr(), flags) })
}

/// F_ADD_SEALS / F_GET_SEALS (the seal bits are the same on every Linux).
#[cfg(target_os = "linux")]
pub(super) fn seals_host(fd: c_int, cmd: i32, arg: u64) -> Result<i64, Failure> {
    let host_cmd = if cmd == F_ADD_SEALS { libc::F_ADD_SEALS } else { libc::F_GET_SEALS };
    // SAFETY: both commands take an int (ignored by F_GET_SEALS).
    check(unsafe { libc::fcntl(fd, host_cmd, arg as c_int) })
}

// ---------------------------------------------------------------------------------------
// Copies through a host buffer: Darwin's sendfile only sends files to sockets and it has
// no copy_file_range. Compiled everywhere so that Linux tests exercise it.

/// Host buffer size of an emulated copy.
const COPY_BUFFER: usize = 128 * 1024;

fn host_read(fd: c_int, buf: &mut [u8], at: Option<i64>) -> isize {
    // SAFETY: buf is a host buffer of buf.len() writable bytes.
    unsafe {
        match at {
            Some(off) => libc::pread(fd, buf.as_mut_ptr().cast(), buf.len(), off as libc::off_t),
            None => libc::read(fd, buf.as_mut_ptr().cast(), buf.len()),
        }
    }
}

fn host_write(fd: c_int, buf: &[u8], at: Option<i64>) -> isize {
    // SAFETY: buf is a host buffer of buf.len() readable bytes.
    unsafe {
        match at {
            Some(off) => libc::pwrite(fd, buf.as_ptr().cast(), buf.len(), off as libc::off_t),
            None => libc::write(fd, buf.as_ptr().cast(), buf.len()),
        }
    }
}

/// Copy up to `count` bytes from `fd_in` to `fd_out` through a host buffer: at the given
/// offsets with pread/pwrite (file positions untouched), else at the file positions.
/// Ends at end of input, a short read (a pipe with nothing more now) or a short write;
/// an error after some bytes ends the copy with what was done, as Linux's copies do. Bytes
/// read from a file position but not written are given back with lseek (a pipe's are lost
/// then, which only a failing write causes).
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub(super) fn copy_through_buffer(
    fd_in: c_int,
    off_in: Option<i64>,
    fd_out: c_int,
    off_out: Option<i64>,
    count: u64,
) -> Result<i64, Failure> {
    if off_in.is_some_and(|o| o < 0) || off_out.is_some_and(|o| o < 0) {
        return Err(Failure::Errno(EINVAL));
    }
    let mut buf = vec![0u8; COPY_BUFFER.min(count as usize).max(1)];
    let mut done: u64 = 0;
    while done < count {
        let want = (count - done).min(buf.len() as u64) as usize;
        let got = match check(host_read(fd_in, &mut buf[..want], off_in.map(|o| o + done as i64))) {
            Ok(0) => break,
            Ok(n) => n as usize,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        let mut written = 0usize;
        while written < got {
            let at = off_out.map(|o| o + (done + written as u64) as i64);
            match check(host_write(fd_out, &buf[written..got], at)) {
                Ok(0) => break,
                Ok(n) => written += n as usize,
                Err(e) if done == 0 && written == 0 => {
                    give_back(fd_in, off_in, got);
                    return Err(e);
                }
                Err(_) => break,
            }
        }
        done += written as u64;
        if written < got {
            give_back(fd_in, off_in, got - written);
            break;
        }
        if got < want {
            break;
        }
    }
    Ok(done as i64)
}

/// Move `fd_in`'s position back over `n` bytes read but not written (nothing to do when
/// it was read at an explicit offset).
fn give_back(fd_in: c_int, off_in: Option<i64>, n: usize) {
    if off_in.is_none() && n > 0 {
        // SAFETY: lseek takes no pointers; on a pipe it fails harmlessly.
        unsafe { libc::lseek(fd_in, -(n as libc::off_t), libc::SEEK_CUR) };
    }
}

// ---------------------------------------------------------------------------------------
// macOS host.

#[cfg(target_os = "macos")]
fn statfs_host(of: StatfsOf<'_>) -> Result<abi_shared::linux::LinuxStatfs, Failure> {
    let st = super::out_struct(|st: *mut libc::statfs| {
        // SAFETY: the path is NUL-terminated; st is a valid out-pointer for one statfs.
        unsafe {
            match of {
                StatfsOf::Path(p) => libc::statfs(p.as_ptr(), st),
                StatfsOf::Fd(fd) => libc::fstatfs(fd, st),
            }
        }
    })?;
    Ok(host::statfs_to_linux(&st))
}

/// The type bits of an fd's file (its st_mode & S_IFMT).
#[cfg(target_os = "macos")]
fn file_type(fd: c_int) -> Result<libc::mode_t, Failure> {
    // SAFETY: st is a valid out-pointer for one struct stat.
    let st = super::out_struct(|st| unsafe { libc::fstat(fd, st) })?;
    Ok(st.st_mode & libc::S_IFMT)
}

/// The access mode and O_APPEND of an fd.
#[cfg(target_os = "macos")]
fn open_mode(fd: c_int) -> Result<c_int, Failure> {
    // SAFETY: F_GETFL takes no argument.
    Ok(check(unsafe { libc::fcntl(fd, libc::F_GETFL) })? as c_int)
}

#[cfg(target_os = "macos")]
const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;

/// sendfile: Linux refuses an output opened O_APPEND (EINVAL) and an input or output of
/// the wrong direction (EBADF); the copy itself goes through a buffer.
#[cfg(target_os = "macos")]
fn sendfile_host(out_fd: c_int, in_fd: c_int, offset: Option<i64>, count: u64) -> Result<i64, Failure> {
    let (in_mode, out_mode) = (open_mode(in_fd)?, open_mode(out_fd)?);
    if in_mode & libc::O_ACCMODE == libc::O_WRONLY || out_mode & libc::O_ACCMODE == libc::O_RDONLY {
        return Err(Failure::Errno(EBADF));
    }
    if out_mode & libc::O_APPEND != 0 {
        return Err(Failure::Errno(EINVAL));
    }
    copy_through_buffer(in_fd, offset, out_fd, None, count)
}

/// copy_file_range's checks as Linux makes them (flags, file types, directions, an
/// overlapping range of the same file), then the copy through a buffer. Unlike Linux
/// before 5.3 and like Linux since, any two files will do, whatever their file systems.
#[cfg(target_os = "macos")]
fn copy_file_range_host(
    fd_in: c_int,
    off_in: Option<i64>,
    fd_out: c_int,
    off_out: Option<i64>,
    len: u64,
    flags: u32,
) -> Result<i64, Failure> {
    if flags != 0 {
        return Err(Failure::Errno(EINVAL));
    }
    for fd in [fd_in, fd_out] {
        match file_type(fd)? {
            libc::S_IFDIR => return Err(Failure::Errno(errno::EISDIR as LinuxErrno)),
            libc::S_IFREG => {}
            _ => return Err(Failure::Errno(EINVAL)),
        }
    }
    let (in_mode, out_mode) = (open_mode(fd_in)?, open_mode(fd_out)?);
    if in_mode & libc::O_ACCMODE == libc::O_WRONLY
        || out_mode & libc::O_ACCMODE == libc::O_RDONLY
        || out_mode & libc::O_APPEND != 0
    {
        return Err(Failure::Errno(EBADF));
    }
    let pos = |fd: c_int, off: Option<i64>| -> Result<i64, Failure> {
        match off {
            Some(o) => Ok(o),
            // SAFETY: lseek takes no pointers.
            None => check(unsafe { libc::lseek(fd, 0, libc::SEEK_CUR) }),
        }
    };
    let (from, to) = (pos(fd_in, off_in)?, pos(fd_out, off_out)?);
    if same_file(fd_in, fd_out)? && from < to.saturating_add(len as i64) && to < from.saturating_add(len as i64) {
        return Err(Failure::Errno(EINVAL));
    }
    let n = copy_through_buffer(fd_in, Some(from), fd_out, Some(to), len)?;
    // Without an offset the file position moves past what was copied, as Linux's does.
    for (fd, off, start) in [(fd_in, off_in, from), (fd_out, off_out, to)] {
        if off.is_none() && n > 0 {
            // SAFETY: lseek takes no pointers.
            unsafe { libc::lseek(fd, start + n, libc::SEEK_SET) };
        }
    }
    Ok(n)
}

#[cfg(target_os = "macos")]
fn same_file(a: c_int, b: c_int) -> Result<bool, Failure> {
    // SAFETY: st is a valid out-pointer for one struct stat.
    let sa = super::out_struct(|st| unsafe { libc::fstat(a, st) })?;
    // SAFETY: as above.
    let sb = super::out_struct(|st| unsafe { libc::fstat(b, st) })?;
    Ok(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
}

/// fallocate in Linux's order of checks (vfs_fallocate), then F_PREALLOCATE for the part
/// past the end of the file (contiguous if possible) and, without FALLOC_FL_KEEP_SIZE,
/// ftruncate to the new end.
#[cfg(target_os = "macos")]
fn fallocate_host(fd: c_int, mode: i32, offset: i64, len: i64) -> Result<i64, Failure> {
    let keep_size = host::fallocate_mode_to_host(mode, offset, len).map_err(Failure::Errno)?;
    if open_mode(fd)? & libc::O_ACCMODE == libc::O_RDONLY {
        return Err(Failure::Errno(EBADF));
    }
    match file_type(fd)? {
        libc::S_IFIFO => return Err(Failure::Errno(errno::ESPIPE as LinuxErrno)),
        libc::S_IFDIR => return Err(Failure::Errno(errno::EISDIR as LinuxErrno)),
        libc::S_IFREG => {}
        _ => return Err(Failure::Errno(errno::ENODEV as LinuxErrno)),
    }
    let end = offset.checked_add(len).ok_or(Failure::Errno(errno::EFBIG as LinuxErrno))?;
    // SAFETY: st is a valid out-pointer for one struct stat.
    let size = super::out_struct(|st| unsafe { libc::fstat(fd, st) })?.st_size;
    if end > size {
        let mut store = libc::fstore_t {
            fst_flags: libc::F_ALLOCATECONTIG,
            fst_posmode: libc::F_PEOFPOSMODE,
            fst_offset: 0,
            fst_length: end - size,
            fst_bytesalloc: 0,
        };
        // SAFETY: F_PREALLOCATE reads and updates one fstore_t through the valid pointer.
        if unsafe { libc::fcntl(fd, libc::F_PREALLOCATE, &mut store) } < 0 {
            store.fst_flags = libc::F_ALLOCATEALL;
            // SAFETY: as above.
            check(unsafe { libc::fcntl(fd, libc::F_PREALLOCATE, &mut store) })?;
        }
        if !keep_size {
            // SAFETY: ftruncate takes no pointers.
            check(unsafe { libc::ftruncate(fd, end) })?;
        }
    }
    Ok(0)
}

/// fadvise: Linux's checks; the advice is a hint Darwin is not given.
#[cfg(target_os = "macos")]
fn fadvise_host(fd: c_int, _offset: i64, len: i64, advice: i32) -> Result<i64, Failure> {
    let is_fifo = file_type(fd)? == libc::S_IFIFO;
    host::fadvise_check(is_fifo, len, advice).map_err(Failure::Errno)?;
    Ok(0)
}

#[cfg(target_os = "macos")]
fn setxattr_host(target: &HostXattrTarget, name: &[u8], value: &[u8], flags: i32) -> Result<i64, Failure> {
    let name = name_cstring(host::xattr_name_to_host(name).map_err(Failure::Errno)?)?;
    let (v, n) = (value.as_ptr().cast::<libc::c_void>(), value.len());
    let r = match target {
        HostXattrTarget::Fd(fd) => {
            let options = host::xattr_options_to_host(flags, true).map_err(Failure::Errno)?;
            // SAFETY: name is NUL-terminated; v is a buffer of exactly n bytes.
            unsafe { libc::fsetxattr(*fd, name.as_ptr(), v, n, 0, options) }
        }
        HostXattrTarget::Path(p, follow) => {
            let options = host::xattr_options_to_host(flags, *follow).map_err(Failure::Errno)?;
            // SAFETY: as above; p is NUL-terminated.
            unsafe { libc::setxattr(p.as_ptr(), name.as_ptr(), v, n, 0, options) }
        }
    };
    check(r)
}

#[cfg(target_os = "macos")]
fn removexattr_host(target: &HostXattrTarget, name: &[u8]) -> Result<i64, Failure> {
    let name = name_cstring(host::xattr_name_to_host(name).map_err(Failure::Errno)?)?;
    let r = match target {
        // SAFETY: name is NUL-terminated.
        HostXattrTarget::Fd(fd) => unsafe { libc::fremovexattr(*fd, name.as_ptr(), 0) },
        HostXattrTarget::Path(p, follow) => {
            let options = host::xattr_options_to_host(0, *follow).map_err(Failure::Errno)?;
            // SAFETY: name and p are NUL-terminated.
            unsafe { libc::removexattr(p.as_ptr(), name.as_ptr(), options) }
        }
    };
    check(r)
}

/// A memfd on macOS: a file made and unlinked at once in the host's temporary directory,
/// open read-write (what a memfd is to its users: an fd to a file with no name).
#[cfg(target_os = "macos")]
fn memfd_create_host(_name: &CString, flags: u32) -> Result<i64, Failure> {
    use std::os::unix::ffi::OsStrExt;
    let cloexec = host::memfd_flags_to_host(flags).map_err(Failure::Errno)?;
    let template = std::env::temp_dir().join("linuxrun-memfd-XXXXXX");
    let mut bytes = CString::new(template.as_os_str().as_bytes())
        .map_err(|_| Failure::Errno(errno::ENOENT as LinuxErrno))?
        .into_bytes_with_nul();
    // SAFETY: bytes is a writable NUL-terminated template ending in XXXXXX.
    let fd = check(unsafe { libc::mkstemp(bytes.as_mut_ptr().cast()) })? as c_int;
    // SAFETY: mkstemp wrote the file's name into the NUL-terminated template; fd is ours.
    unsafe {
        libc::unlink(bytes.as_ptr().cast());
        libc::fchmod(fd, 0o777);
        if cloexec {
            libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC);
        }
    }
    Ok(i64::from(fd))
}

/// File seals do not exist on Darwin: EINVAL, what Linux answers for a file that cannot be
/// sealed (a memfd made without sealing support still reports F_SEAL_SEAL instead).
#[cfg(target_os = "macos")]
pub(super) fn seals_host(_fd: c_int, _cmd: i32, _arg: u64) -> Result<i64, Failure> {
    Err(Failure::Errno(EINVAL))
}

/// getxattr on macOS: the Linux name's user namespace is Darwin's only one.
#[cfg(target_os = "macos")]
impl Fs<'_> {
    pub(super) fn getxattr(&self, target: &XattrTarget<'_>, name: &[u8], buf: &SegList<'_>, size: u64) -> Handled {
        let name = name_cstring(host::xattr_name_to_host(name).map_err(Failure::Errno)?)?;
        let len = if size == 0 { 0 } else { self.out_len(buf, size.min(XATTR_SIZE_MAX) as usize)? };
        let mut value = vec![0u8; len];
        let out = if len == 0 { std::ptr::null_mut() } else { value.as_mut_ptr().cast::<libc::c_void>() };
        let r = match self.xattr_target(target)? {
            // SAFETY: name is NUL-terminated; out is NULL with length 0 or `len` bytes.
            HostXattrTarget::Fd(fd) => unsafe { libc::fgetxattr(fd, name.as_ptr(), out, len, 0, 0) },
            HostXattrTarget::Path(p, follow) => {
                let options = host::xattr_options_to_host(0, follow).map_err(Failure::Errno)?;
                // SAFETY: as above; p is NUL-terminated.
                unsafe { libc::getxattr(p.as_ptr(), name.as_ptr(), out, len, 0, options) }
            }
        };
        let n = check(r)?;
        if len == 0 {
            return ret(n);
        }
        ret(self.copy_out(buf.as_slice(), &value, n)?)
    }

    /// listxattr on macOS: Darwin's names, each listed as "user.NAME"; the size asked
    /// for is that of the Linux list.
    pub(super) fn listxattr(&self, target: &XattrTarget<'_>, buf: &SegList<'_>, size: u64) -> Handled {
        let target = self.xattr_target(target)?;
        let list = |out: *mut libc::c_char, len: usize| -> isize {
            match &target {
                // SAFETY: out is NULL with length 0 or a buffer of `len` bytes.
                HostXattrTarget::Fd(fd) => unsafe { libc::flistxattr(*fd, out, len, 0) },
                HostXattrTarget::Path(p, follow) => {
                    let options = if *follow { 0 } else { libc::XATTR_NOFOLLOW };
                    // SAFETY: as above; p is NUL-terminated.
                    unsafe { libc::listxattr(p.as_ptr(), out, len, options) }
                }
            }
        };
        let need = check(list(std::ptr::null_mut(), 0))? as usize;
        let mut names = vec![0u8; need];
        let got = if need == 0 { 0 } else { check(list(names.as_mut_ptr().cast(), need))? as usize };
        let linux = host::xattr_list_to_linux(&names[..got.min(need)]);
        if linux.len() as u64 > XATTR_SIZE_MAX {
            return Err(Failure::Errno(E2BIG));
        }
        if size == 0 {
            return ret(linux.len() as i64);
        }
        let len = self.out_len(buf, size.min(XATTR_SIZE_MAX) as usize)?;
        if linux.len() > len {
            return Err(Failure::Errno(errno::ERANGE as LinuxErrno));
        }
        ret(self.copy_out(buf.as_slice(), &linux, linux.len() as i64)?)
    }
}

// ---------------------------------------------------------------------------------------
// Hosts without a personality.

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
mod unported {
    use super::*;
    const ENOSYS: Failure = Failure::Errno(errno::ENOSYS as LinuxErrno);
    // Every function here refuses: the host has no personality to do it with.

    pub fn statfs_host(_: StatfsOf<'_>) -> Result<abi_shared::linux::LinuxStatfs, Failure> {
        Err(ENOSYS)
    }
    pub fn sendfile_host(_: c_int, _: c_int, _: Option<i64>, _: u64) -> Result<i64, Failure> {
        Err(ENOSYS)
    }
    pub fn copy_file_range_host(
        _: c_int,
        _: Option<i64>,
        _: c_int,
        _: Option<i64>,
        _: u64,
        _: u32,
    ) -> Result<i64, Failure> {
        Err(ENOSYS)
    }
    pub fn fallocate_host(_: c_int, _: i32, _: i64, _: i64) -> Result<i64, Failure> {
        Err(ENOSYS)
    }
    pub fn fadvise_host(_: c_int, _: i64, _: i64, _: i32) -> Result<i64, Failure> {
        Err(ENOSYS)
    }
    pub fn setxattr_host(_: &HostXattrTarget, _: &[u8], _: &[u8], _: i32) -> Result<i64, Failure> {
        Err(ENOSYS)
    }
    pub fn removexattr_host(_: &HostXattrTarget, _: &[u8]) -> Result<i64, Failure> {
        Err(ENOSYS)
    }
    pub fn memfd_create_host(_: &CString, _: u32) -> Result<i64, Failure> {
        Err(ENOSYS)
    }
    pub fn seals_host(_: c_int, _: i32, _: u64) -> Result<i64, Failure> {
        Err(ENOSYS)
    }
}
#[cfg(not(any(target_os = "linux", target_os = "macos")))]
pub(super) use unported::*;

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::super::handle;
    use super::*;
    use crate::guest_mem::GuestMemory;
    use crate::server::FdGuard;
    use abi_shared::hypercall::Request;
    use abi_shared::linux::general as lx;
    use std::os::unix::ffi::OsStrExt;
    use std::os::unix::io::{AsRawFd, FromRawFd};

    const RAM: usize = 64 * 1024;

    /// A fresh directory, removed with its contents on drop.
    struct TempDir(std::path::PathBuf);

    impl TempDir {
        fn new() -> TempDir {
            let mut bytes = std::env::temp_dir().join("linuxrun-extra-XXXXXX").as_os_str().as_bytes().to_vec();
            bytes.push(0);
            // SAFETY: bytes is a writable NUL-terminated template ending in XXXXXX.
            assert!(!unsafe { libc::mkdtemp(bytes.as_mut_ptr().cast()) }.is_null());
            bytes.pop();
            TempDir(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(&bytes)))
        }

        fn path(&self, name: &str) -> std::path::PathBuf {
            self.0.join(name)
        }

        fn bytes(&self, name: &str) -> Vec<u8> {
            self.path(name).as_os_str().as_bytes().to_vec()
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn call(mem: &GuestMemory, req: Request<'_>) -> Response {
        handle(&FdGuard::default(), mem, &req)
    }

    fn errno_of(e: u32) -> Response {
        Response::Ret(-i64::from(e))
    }

    /// An fd of `path` opened with std (closed by the File).
    fn file(path: &std::path::Path, write: bool) -> std::fs::File {
        std::fs::OpenOptions::new().read(true).write(write).create(write).truncate(false).open(path).unwrap()
    }

    fn position(f: &std::fs::File) -> i64 {
        // SAFETY: lseek takes no pointers.
        unsafe { libc::lseek(f.as_raw_fd(), 0, libc::SEEK_CUR) }
    }

    #[test]
    fn statfs_is_the_hosts() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let path = dir.bytes("");
        let got = match call(&mem, Request::Statfs { path: &path }) {
            Response::Statfs(st) => st,
            other => panic!("expected Statfs, got {other:?}"),
        };
        let c = CString::new(path.clone()).unwrap();
        let mut host = std::mem::MaybeUninit::<libc::statfs>::zeroed();
        // SAFETY: c is NUL-terminated; host is a valid out-pointer.
        assert_eq!(unsafe { libc::statfs(c.as_ptr(), host.as_mut_ptr()) }, 0);
        // SAFETY: statfs filled it.
        let host = unsafe { host.assume_init() };
        assert_eq!((got.f_type, got.f_bsize, got.f_blocks), (host.f_type, host.f_bsize, host.f_blocks));
        assert_eq!(got.f_flags & 0x20, 0x20, "ST_VALID");
        let d = file(&dir.path(""), false);
        // Free-space counts move while other processes write: compare what cannot.
        let stable = |st: &abi_shared::linux::LinuxStatfs| {
            (st.f_type, st.f_bsize, st.f_blocks, st.f_files, st.f_fsid, st.f_flags)
        };
        match call(&mem, Request::Fstatfs { fd: d.as_raw_fd() }) {
            Response::Statfs(f) => assert_eq!(stable(&f), stable(&got)),
            other => panic!("expected Statfs, got {other:?}"),
        }
        let missing = dir.bytes("missing");
        assert_eq!(call(&mem, Request::Statfs { path: &missing }), errno_of(errno::ENOENT));
        assert_eq!(call(&mem, Request::Statfs { path: &[b'a'; 5000] }), errno_of(errno::ENAMETOOLONG));
        let mut guard = FdGuard::default();
        guard.reserve(d.as_raw_fd());
        assert_eq!(handle(&guard, &mem, &Request::Fstatfs { fd: d.as_raw_fd() }), errno_of(errno::EBADF));
    }

    #[test]
    fn sendfile_offsets_and_the_per_request_cap() {
        let dir = TempDir::new();
        std::fs::write(dir.path("in"), b"0123456789").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let (input, output) = (file(&dir.path("in"), false), file(&dir.path("out"), true));
        let (in_fd, out_fd) = (input.as_raw_fd(), output.as_raw_fd());
        let send = |offset, count| call(&mem, Request::Sendfile { out_fd, in_fd, offset, count });
        assert_eq!(send(Some(6), 100), Response::Ret(4));
        assert_eq!(position(&input), 0, "an offset leaves the position alone");
        assert_eq!(send(None, 3), Response::Ret(3));
        assert_eq!(position(&input), 3);
        assert_eq!(std::fs::read(dir.path("out")).unwrap(), b"6789012");
        assert_eq!(send(Some(-1), 1), errno_of(errno::EINVAL));

        // A guest asking for more than one request may move gets MAX_TRANSFER.
        let big = file(&dir.path("big"), true);
        big.set_len(MAX_TRANSFER + 4096).unwrap();
        let sink = file(&dir.path("sink"), true);
        let r = call(
            &mem,
            Request::Sendfile { out_fd: sink.as_raw_fd(), in_fd: big.as_raw_fd(), offset: Some(0), count: u64::MAX },
        );
        assert_eq!(r, Response::Ret(MAX_TRANSFER as i64));
    }

    #[test]
    fn copy_file_range_moves_data_in_the_host() {
        let dir = TempDir::new();
        std::fs::write(dir.path("in"), b"abcdefghij").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let (input, output) = (file(&dir.path("in"), false), file(&dir.path("out"), true));
        let (fd_in, fd_out) = (input.as_raw_fd(), output.as_raw_fd());
        let copy = |off_in, off_out, len, flags| {
            call(&mem, Request::CopyFileRange { fd_in, off_in, fd_out, off_out, len, flags })
        };
        assert_eq!(copy(Some(2), Some(0), 3, 0), Response::Ret(3));
        assert_eq!((position(&input), position(&output)), (0, 0));
        assert_eq!(copy(None, Some(3), 100, 0), Response::Ret(10));
        assert_eq!(position(&input), 10);
        assert_eq!(std::fs::read(dir.path("out")).unwrap(), b"cdeabcdefghij");
        assert_eq!(copy(Some(0), None, 1, 1), errno_of(errno::EINVAL));
    }

    #[test]
    fn the_buffered_copy_behaves_like_the_kernels() {
        let dir = TempDir::new();
        let data: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
        std::fs::write(dir.path("in"), &data).unwrap();
        let (input, output) = (file(&dir.path("in"), false), file(&dir.path("out"), true));
        let (fd_in, fd_out) = (input.as_raw_fd(), output.as_raw_fd());
        // At explicit offsets, across several buffers: the positions stay.
        assert_eq!(copy_through_buffer(fd_in, Some(1000), fd_out, Some(10), 290_000), Ok(290_000));
        assert_eq!((position(&input), position(&output)), (0, 0));
        assert_eq!(&std::fs::read(dir.path("out")).unwrap()[10..], &data[1000..291_000]);
        // At the positions, stopping at end of input.
        // SAFETY: lseek takes no pointers.
        unsafe { libc::lseek(fd_in, 299_990, libc::SEEK_SET) };
        assert_eq!(copy_through_buffer(fd_in, None, fd_out, None, 100), Ok(10));
        assert_eq!((position(&input), position(&output)), (300_000, 10));
        assert_eq!(copy_through_buffer(fd_in, None, fd_out, None, 100), Ok(0));
        assert_eq!(copy_through_buffer(fd_in, Some(-1), fd_out, None, 1), Err(Failure::Errno(EINVAL)));
        assert_eq!(copy_through_buffer(fd_in, Some(0), 9999, None, 1), Err(Failure::Errno(errno::EBADF as LinuxErrno)));
        assert_eq!(position(&input), 300_000, "a failed write gives the bytes back (none were read at a position)");
        // A write failure after reading at the position: the position is given back.
        // SAFETY: lseek takes no pointers.
        unsafe { libc::lseek(fd_in, 5, libc::SEEK_SET) };
        assert_eq!(copy_through_buffer(fd_in, None, 9999, None, 10), Err(Failure::Errno(errno::EBADF as LinuxErrno)));
        assert_eq!(position(&input), 5);
        // From a pipe: what is there now.
        let mut fds = [0; 2];
        // SAFETY: fds is a valid out-pointer for two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        // SAFETY: the pipe's ends are ours; the Files close them.
        let (r, w) = unsafe { (std::fs::File::from_raw_fd(fds[0]), std::fs::File::from_raw_fd(fds[1])) };
        std::io::Write::write_all(&mut &w, b"piped").unwrap();
        assert_eq!(copy_through_buffer(r.as_raw_fd(), None, fd_out, Some(0), 1000), Ok(5));
        assert_eq!(&std::fs::read(dir.path("out")).unwrap()[..5], b"piped");
    }

    #[test]
    fn fallocate_and_fadvise_are_the_hosts() {
        let dir = TempDir::new();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let f = file(&dir.path("f"), true);
        let fd = f.as_raw_fd();
        let keep = lx::FALLOC_FL_KEEP_SIZE as i32;
        assert_eq!(call(&mem, Request::Fallocate { fd, mode: 0, offset: 0, len: 8192 }), Response::Ret(0));
        assert_eq!(call(&mem, Request::Fallocate { fd, mode: keep, offset: 8192, len: 4096 }), Response::Ret(0));
        assert_eq!(f.metadata().unwrap().len(), 8192);
        assert_eq!(call(&mem, Request::Fallocate { fd, mode: 0, offset: 0, len: 0 }), errno_of(errno::EINVAL));
        let advice = lx::POSIX_FADV_SEQUENTIAL as i32;
        assert_eq!(call(&mem, Request::Fadvise { fd, offset: 0, len: 0, advice }), Response::Ret(0));
        assert_eq!(call(&mem, Request::Fadvise { fd, offset: 0, len: 0, advice: 99 }), errno_of(errno::EINVAL));
        let mut fds = [0; 2];
        // SAFETY: fds is a valid out-pointer for two ints.
        assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
        assert_eq!(call(&mem, Request::Fadvise { fd: fds[0], offset: 0, len: 0, advice }), errno_of(errno::ESPIPE));
        // SAFETY: closing the pipe made above.
        unsafe {
            libc::close(fds[0]);
            libc::close(fds[1]);
        }
    }

    #[test]
    fn setxattr_reads_the_value_from_guest_memory() {
        let dir = TempDir::new();
        std::fs::write(dir.path("f"), b"").unwrap();
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let path = dir.bytes("f");
        let target = || XattrTarget::Path { path: &path, follow: true };
        mem.write(0x100, b"val").unwrap();
        mem.write(0x2000, b"ue").unwrap();
        let segs = [GuestSeg { gpa: 0x100, len: 3 }, GuestSeg { gpa: 0x2000, len: 2 }];
        let set = |segs: &[GuestSeg], flags| {
            call(&mem, Request::Setxattr { target: target(), name: b"user.t", value: SegList::Borrowed(segs), flags })
        };
        let first = set(&segs, 0);
        if first == errno_of(errno::EOPNOTSUPP) {
            eprintln!("no user xattrs on the temp dir's file system: test skipped");
            return;
        }
        assert_eq!(first, Response::Ret(0));
        let c = CString::new(path.clone()).unwrap();
        let mut v = [0u8; 16];
        // SAFETY: c and the name are NUL-terminated; v is a buffer of v.len() bytes.
        let n = unsafe { libc::getxattr(c.as_ptr(), c"user.t".as_ptr(), v.as_mut_ptr().cast(), v.len()) };
        assert_eq!(&v[..n as usize], b"value");
        let create = lx::XATTR_CREATE as i32;
        assert_eq!(set(&segs, create), errno_of(errno::EEXIST));
        // A value outside guest RAM: malformed, and the old value stays.
        let outside = [GuestSeg { gpa: RAM as u64 - 1, len: 2 }];
        assert_eq!(set(&outside, 0), Response::Malformed(MalformedReason::BadGuestAddress));
        let too_big = [GuestSeg { gpa: 0, len: RAM as u64 }, GuestSeg { gpa: 0, len: 2 }];
        assert_eq!(set(&too_big, 0), errno_of(errno::E2BIG));
        let remove = || call(&mem, Request::Removexattr { target: target(), name: b"user.t" });
        assert_eq!(remove(), Response::Ret(0));
        assert_eq!(remove(), errno_of(errno::ENODATA));
    }

    #[test]
    fn memfd_create_and_seals() {
        let mut ram = vec![0u8; RAM];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let flags = lx::MFD_CLOEXEC | lx::MFD_ALLOW_SEALING;
        let fd = match call(&mem, Request::MemfdCreate { name: b"t", flags }) {
            Response::Ret(fd) if fd >= 0 => fd as i32,
            other => panic!("memfd_create: {other:?}"),
        };
        // SAFETY: the fd was just made for this test; the File closes it.
        let _f = unsafe { std::fs::File::from_raw_fd(fd) };
        let seals = |cmd, arg| call(&mem, Request::Fcntl { fd, cmd, arg });
        assert_eq!(seals(F_GET_SEALS, 0), Response::Ret(0));
        assert_eq!(seals(F_ADD_SEALS, u64::from(lx::F_SEAL_GROW)), Response::Ret(0));
        assert_eq!(seals(F_GET_SEALS, 0), Response::Ret(i64::from(lx::F_SEAL_GROW)));
        assert_eq!(call(&mem, Request::MemfdCreate { name: &[b'n'; 250], flags: 0 }), errno_of(errno::EINVAL));
        assert_eq!(call(&mem, Request::MemfdCreate { name: b"x", flags: 0x100 }), errno_of(errno::EINVAL));
    }
}
