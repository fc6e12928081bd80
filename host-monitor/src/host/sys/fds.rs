//! Descriptors: open, close, read and write, duplicate, fcntl flags, stat, sync,
//! truncate, poll and pipes.

use super::*;

pub fn openat(dirfd: c_int, path: &CStr, flags: c_int, mode: libc::c_uint) -> SysResult<c_int> {
    // SAFETY: the path is NUL-terminated and outlives the call.
    Ok(check(unsafe { libc::openat(dirfd, path.as_ptr(), flags, mode) })? as c_int)
}

/// open(2) of a host path the monitor chose, read-only and close-on-exec.
pub fn open_readonly(path: &CStr) -> SysResult<c_int> {
    openat(libc::AT_FDCWD, path, libc::O_RDONLY | libc::O_CLOEXEC, 0)
}

/// close(2), reporting the host's error (EBADF for a descriptor that is not open).
pub fn close(raw: c_int) -> SysResult<()> {
    // SAFETY: closing by number affects only the descriptor table; the caller checked the
    // number is not one of the monitor's own, and no Rust object owns it.
    check(unsafe { libc::close(raw) }).map(drop)
}

/// Close a descriptor the monitor made and will not use again; a failure changes nothing.
pub fn close_quietly(raw: c_int) {
    let _ = close(raw);
}

/// The vectored read of a request: readv, or preadv at `offset`.
///
/// # Safety
/// Every iovec must name memory that is writable and stays mapped for the call (checked
/// guest RAM, from `GuestMemory::iovecs`).
pub unsafe fn read_vectored(raw: c_int, iov: &[libc::iovec], offset: Option<i64>) -> SysResult<i64> {
    let count = iov.len() as c_int;
    // SAFETY: the iovecs are valid (the caller's contract); count is their number.
    check(unsafe {
        match offset {
            None => libc::readv(raw, iov.as_ptr(), count),
            Some(off) => libc::preadv(raw, iov.as_ptr(), count, off as libc::off_t),
        }
    })
}

/// The vectored write of a request: writev, or pwritev at `offset`.
///
/// # Safety
/// Every iovec must name memory that is readable and stays mapped for the call (checked
/// guest RAM, from `GuestMemory::iovecs`).
pub unsafe fn write_vectored(raw: c_int, iov: &[libc::iovec], offset: Option<i64>) -> SysResult<i64> {
    let count = iov.len() as c_int;
    // SAFETY: the iovecs are valid (the caller's contract); count is their number.
    check(unsafe {
        match offset {
            None => libc::writev(raw, iov.as_ptr(), count),
            Some(off) => libc::pwritev(raw, iov.as_ptr(), count, off as libc::off_t),
        }
    })
}

/// read(2) or pread(2) into a host buffer.
pub fn read_into(raw: c_int, buf: &mut [u8], at: Option<i64>) -> SysResult<usize> {
    let n = match at {
        Some(off) => rx(rustix::io::pread(fd(raw)?, buf, off as u64))?,
        None => rx(rustix::io::read(fd(raw)?, buf))?,
    };
    Ok(n)
}

/// write(2) or pwrite(2) from a host buffer.
pub fn write_from(raw: c_int, buf: &[u8], at: Option<i64>) -> SysResult<usize> {
    let n = match at {
        Some(off) => rx(rustix::io::pwrite(fd(raw)?, buf, off as u64))?,
        None => rx(rustix::io::write(fd(raw)?, buf))?,
    };
    Ok(n)
}

/// lseek(2) with a host `whence` (SEEK_DATA and SEEK_HOLE included).
pub fn lseek(raw: c_int, offset: i64, whence: c_int) -> SysResult<i64> {
    // SAFETY: lseek takes no pointers.
    check(unsafe { libc::lseek(raw, offset as libc::off_t, whence) })
}

pub fn dup(raw: c_int) -> SysResult<c_int> {
    Ok(rx(rustix::io::dup(fd(raw)?))?.into_raw_fd())
}

/// dup2(2): `newfd` now names what `oldfd` names (the caller checked it is the program's).
pub fn dup2(oldfd: c_int, newfd: c_int) -> SysResult<c_int> {
    // SAFETY: dup2 takes no pointers.
    Ok(check(unsafe { libc::dup2(oldfd, newfd) })? as c_int)
}

/// F_DUPFD / F_DUPFD_CLOEXEC: the lowest free descriptor >= `min`.
pub fn dup_at_least(raw: c_int, min: c_int, cloexec: bool) -> SysResult<c_int> {
    if cloexec {
        return Ok(rx(rustix::io::fcntl_dupfd_cloexec(fd(raw)?, min))?.into_raw_fd());
    }
    // SAFETY: F_DUPFD takes an int. (Raw: rustix offers only the close-on-exec form.)
    Ok(check(unsafe { libc::fcntl(raw, libc::F_DUPFD, min) })? as c_int)
}

/// A close-on-exec duplicate of `fd` above the monitor's fd floor: the program's
/// descriptors lie below the floor, so the copy is one the program cannot name or clobber.
pub fn dup_above_floor(fd: impl AsFd, floor: c_int) -> std::io::Result<OwnedFd> {
    Ok(rustix::io::fcntl_dupfd_cloexec(fd, floor)?)
}

/// `fd` moved above the monitor's fd floor (see `dup_above_floor`); its low number is
/// closed, giving it back to the program's range.
pub fn move_above_floor(fd: OwnedFd, floor: c_int) -> std::io::Result<OwnedFd> {
    dup_above_floor(fd.as_fd(), floor)
}

/// The host FD_* flags of a descriptor (F_GETFD).
pub fn fd_flags(raw: c_int) -> SysResult<c_int> {
    Ok(rx(rustix::io::fcntl_getfd(fd(raw)?))?.bits() as c_int)
}

/// F_SETFD with host FD_* flags.
pub fn set_fd_flags(raw: c_int, flags: c_int) -> SysResult<()> {
    rx(rustix::io::fcntl_setfd(fd(raw)?, rustix::io::FdFlags::from_bits_retain(flags as _)))
}

/// Set or clear FD_CLOEXEC on a descriptor the monitor made; a failure changes nothing.
pub fn set_cloexec_quietly(raw: c_int, cloexec: bool) {
    let _ = set_fd_flags(raw, if cloexec { libc::FD_CLOEXEC } else { 0 });
}

/// The host O_* status flags and access mode of a descriptor (F_GETFL).
pub fn status_flags(raw: c_int) -> SysResult<c_int> {
    // SAFETY: F_GETFL takes no argument. (Raw: the host's access mode bits are wanted
    // as the host numbers them, whatever rustix's OFlags would add.)
    Ok(check(unsafe { libc::fcntl(raw, libc::F_GETFL) })? as c_int)
}

/// F_SETFL with host O_* flags.
pub fn set_status_flags(raw: c_int, flags: c_int) -> SysResult<()> {
    // SAFETY: F_SETFL takes an int.
    check(unsafe { libc::fcntl(raw, libc::F_SETFL, flags) }).map(drop)
}

pub fn ftruncate(raw: c_int, length: i64) -> SysResult<()> {
    // SAFETY: ftruncate takes no pointers. (Raw: a negative length is the host's EINVAL.)
    check(unsafe { libc::ftruncate(raw, length as libc::off_t) }).map(drop)
}

pub fn truncate(path: &CStr, length: i64) -> SysResult<()> {
    // SAFETY: path is NUL-terminated and outlives the call.
    check(unsafe { libc::truncate(path.as_ptr(), length as libc::off_t) }).map(drop)
}

pub fn fsync(raw: c_int) -> SysResult<()> {
    rx(rustix::fs::fsync(fd(raw)?))
}

pub fn fchmod(raw: c_int, mode: libc::mode_t) -> SysResult<()> {
    rx(rustix::fs::fchmod(fd(raw)?, raw_mode(mode)))
}

/// fchown(2); `u32::MAX` leaves the id as it is.
pub fn fchown(raw: c_int, uid: u32, gid: u32) -> SysResult<()> {
    // SAFETY: fchown takes no pointers. (Raw: -1 ids mean "unchanged".)
    check(unsafe { libc::fchown(raw, uid, gid) }).map(drop)
}

pub fn fchdir(raw: c_int) -> SysResult<()> {
    rx(rustix::process::fchdir(fd(raw)?))
}

/// flock(2) with the operation bits as given (the host refuses a bad combination).
pub fn flock(raw: c_int, op: c_int) -> SysResult<()> {
    // SAFETY: flock takes an fd and an int.
    check(unsafe { libc::flock(raw, op) }).map(drop)
}

pub fn fstat(raw: c_int) -> SysResult<libc::stat> {
    // SAFETY: st is a valid out-pointer for one struct stat.
    out_struct(|st| unsafe { libc::fstat(raw, st) })
}

/// stat(2) of the working directory.
pub fn stat_cwd() -> SysResult<libc::stat> {
    // SAFETY: "." is NUL-terminated; st is a valid out-pointer.
    out_struct(|st| unsafe { libc::stat(c".".as_ptr(), st) })
}

pub fn fstatat(dirfd: c_int, path: &CStr, flags: c_int) -> SysResult<libc::stat> {
    // SAFETY: the path is NUL-terminated; st is a valid out-pointer for one struct stat.
    out_struct(|st| unsafe { libc::fstatat(dirfd, path.as_ptr(), st, flags) })
}

/// Whether two descriptors are open on the same file.
#[cfg_attr(target_os = "linux", allow(dead_code))] // Darwin's copy_file_range uses it.
pub fn same_file(a: c_int, b: c_int) -> SysResult<bool> {
    let (sa, sb) = (fstat(a)?, fstat(b)?);
    Ok(sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino)
}

/// The type bits of a descriptor's file (its st_mode & S_IFMT).
pub fn file_type(raw: c_int) -> SysResult<libc::mode_t> {
    Ok(fstat(raw)?.st_mode & libc::S_IFMT)
}

/// poll(2) over the given pollfds; returns how many are ready.
pub fn poll(pfds: &mut [libc::pollfd], timeout_ms: c_int) -> SysResult<i64> {
    // SAFETY: pfds is a valid array of pfds.len() pollfds for the duration of the call.
    check(unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, timeout_ms) })
}

/// A pipe whose ends are owned by the caller.
pub fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    Ok(rustix::pipe::pipe()?)
}
