//! Host calls that differ by host, on macOS: the Darwin calls, with what Darwin lacks
//! emulated (copies go through a host buffer with pread/pwrite, a memfd is an unlinked
//! temporary file, fallocate is F_PREALLOCATE plus ftruncate). Numbers and structs are
//! translated by the personality (`crate::host`).

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::sync::atomic::AtomicU32;

use abi_shared::hypercall::{LinuxFlock, LinuxSysinfo};
use abi_shared::linux::{errno, LinuxStatfs, LinuxStatx, LinuxTermios};
use libc::c_int;

use super::{
    check, copy_through_buffer, create_temp, dup_at_least, file_type, fstat, fstatat, lseek, openat, out_struct,
    same_file, set_fd_flags, set_status_flags, stat_cwd, status_flags, SysResult, TempKind, XattrTarget, EBADF, EINVAL,
};
use crate::host::{self, LinuxErrno};

const ENOSYS: LinuxErrno = errno::ENOSYS as LinuxErrno;
const ENOTTY: LinuxErrno = errno::ENOTTY as LinuxErrno;
const E2BIG: LinuxErrno = errno::E2BIG as LinuxErrno;
/// Linux's XATTR_SIZE_MAX: the longest value or name list.
const XATTR_SIZE_MAX: usize = 65536;

/// The errno of the calling thread is now `value`.
pub(super) fn set_errno(value: c_int) {
    // SAFETY: __error returns the calling thread's errno location.
    unsafe { *libc::__error() = value };
}

/// A host path that names what `fd` is open on, even if the file was renamed or removed.
pub fn fd_host_path(raw: c_int) -> PathBuf {
    PathBuf::from(format!("/dev/fd/{raw}"))
}

/// fcntl(F_NOTIFY) with Linux's DN_* bits: Darwin has no directory notification, so the
/// answers are Linux's (clearing is accepted on any file, events only on a directory,
/// ENOTDIR otherwise) but no signal ever comes.
pub fn dnotify(raw: c_int, events: u32) -> SysResult<i64> {
    let kind = super::file_type(raw)?;
    if events & !abi_shared::linux::general::DN_MULTISHOT == 0 || kind == libc::S_IFDIR {
        Ok(0)
    } else {
        Err(errno::ENOTDIR as LinuxErrno)
    }
}

/// mknodat(2): `mode` holds the file type and the permission bits. Darwin's mknod makes
/// devices (root only) but not regular files, so those are created with open; a FIFO is
/// mkfifoat (which needs no privilege, as on Linux).
pub fn mknodat(dirfd: c_int, path: &CStr, mode: libc::mode_t, dev: libc::dev_t) -> SysResult<()> {
    let perm = mode & 0o7777;
    match mode & libc::S_IFMT {
        libc::S_IFREG => {
            let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_CLOEXEC;
            let fd = openat(dirfd, path, flags, libc::c_uint::from(perm))?;
            super::close_quietly(fd);
            Ok(())
        }
        libc::S_IFIFO => {
            // SAFETY: the path is NUL-terminated and outlives the call.
            check(unsafe { libc::mkfifoat(dirfd, path.as_ptr(), perm) }).map(drop)
        }
        // SAFETY: the path is NUL-terminated and outlives the call.
        _ => check(unsafe { libc::mknodat(dirfd, path.as_ptr(), mode, dev) }).map(drop),
    }
}

/// There are no O_PATH descriptors here: a duplicate reads the same file (the loader uses
/// positioned reads, so the shared offset does not matter).
pub fn reopen_readonly(raw: c_int) -> SysResult<c_int> {
    dup_at_least(raw, 0, true)
}

/// statx from fstatat: the basic stats and the birth time (`st_birthtime`). `empty_path`
/// names `dirfd` itself, served with fstat, which Darwin's fstatat does not do.
pub fn statx(dirfd: c_int, path: &CStr, flags: c_int, empty_path: bool, _mask: libc::c_uint) -> SysResult<LinuxStatx> {
    let st = match (empty_path, dirfd) {
        (true, libc::AT_FDCWD) => stat_cwd()?,
        (true, dirfd) => fstat(dirfd)?,
        (false, _) => fstatat(dirfd, path, flags)?,
    };
    Ok(host::statx_to_linux(&st))
}

/// Darwin's directory records (getdirentries64, what its readdir uses) rewritten as Linux
/// `linux_dirent64` records into `out`. A Linux record is never longer than the Darwin one,
/// so everything read fits; d_off is Darwin's d_seekoff.
pub fn getdents64(raw: c_int, out: &mut [u8]) -> SysResult<usize> {
    extern "C" {
        // libSystem's stub for the getdirentries64 system call.
        fn __getdirentries64(
            fd: c_int,
            buf: *mut libc::c_void,
            nbytes: libc::size_t,
            basep: *mut libc::off_t,
        ) -> libc::ssize_t;
    }
    let len = out.len();
    let mut records = vec![0u8; len];
    let mut base: libc::off_t = 0;
    // SAFETY: records is a host buffer of exactly `len` writable bytes; base is a valid
    // out-pointer.
    let n = check(unsafe { __getdirentries64(raw, records.as_mut_ptr().cast(), len, &mut base) })?;
    let n = (n as usize).min(len);
    let (written, consumed) = host::dirents_to_linux(&records[..n], out);
    if written == 0 && consumed < n {
        // A record the translation could not read: nothing sensible to hand over.
        return Err(errno::EIO as LinuxErrno);
    }
    Ok(written)
}

/// Apply host O_CLOEXEC (as FD_CLOEXEC) and O_NONBLOCK to a fresh descriptor.
fn set_open_flags(raw: c_int, flags: c_int) -> SysResult<()> {
    if flags & libc::O_CLOEXEC != 0 {
        set_fd_flags(raw, libc::FD_CLOEXEC)?;
    }
    if flags & libc::O_NONBLOCK != 0 {
        set_status_flags(raw, status_flags(raw)? | libc::O_NONBLOCK)?;
    }
    Ok(())
}

/// No pipe2 here: pipe(), then the flags (host O_CLOEXEC and O_NONBLOCK, all the
/// personality lets through) with fcntl. Unlike pipe2 this is not atomic: a fork+exec in
/// another thread between the two could inherit the descriptors.
pub fn pipe2(flags: c_int) -> SysResult<[c_int; 2]> {
    if flags & !(libc::O_CLOEXEC | libc::O_NONBLOCK) != 0 {
        return Err(EINVAL);
    }
    let (r, w) = super::pipe().map_err(|e| host::errno_to_linux(e.raw_os_error().unwrap_or(libc::EIO)))?;
    for end in [&r, &w] {
        // On failure both ends close as `r` and `w` drop.
        set_open_flags(end.as_raw_fd(), flags)?;
    }
    Ok([std::os::fd::IntoRawFd::into_raw_fd(r), std::os::fd::IntoRawFd::into_raw_fd(w)])
}

/// utimensat, or futimens for a NULL path (Darwin's utimensat needs a path).
pub fn utimensat(
    dirfd: c_int,
    path: Option<&CStr>,
    times: Option<&[libc::timespec; 2]>,
    flags: c_int,
) -> SysResult<()> {
    let times = times.map_or(std::ptr::null(), |t| t.as_ptr());
    match path {
        // SAFETY: path is NUL-terminated, times NULL or two timespecs.
        Some(p) => check(unsafe { libc::utimensat(dirfd, p.as_ptr(), times, flags) }).map(drop),
        None if flags != 0 => Err(EINVAL),
        // SAFETY: times is NULL or two timespecs.
        None => check(unsafe { libc::futimens(dirfd, times) }).map(drop),
    }
}

/// Darwin's pipes have no settable size.
pub fn pipe_size(_raw: c_int, _set: bool, _size: c_int) -> SysResult<i64> {
    Err(errno::EOPNOTSUPP as LinuxErrno)
}

/// renameatx_np, whose RENAME_EXCL and RENAME_SWAP the personality produced.
pub fn renameat2(olddirfd: c_int, oldpath: &CStr, newdirfd: c_int, newpath: &CStr, flags: u32) -> SysResult<()> {
    // SAFETY: both paths are NUL-terminated and outlive the call.
    check(unsafe { libc::renameatx_np(olddirfd, oldpath.as_ptr(), newdirfd, newpath.as_ptr(), flags) }).map(drop)
}

/// No fdatasync: fsync does more, never less.
/// Darwin has no per-filesystem sync: after the descriptor check, everything is synced
/// (a superset of what syncfs promises).
pub fn syncfs(raw: c_int) -> SysResult<()> {
    super::fstat(raw)?;
    rustix::fs::sync();
    Ok(())
}

pub fn fdatasync(raw: c_int) -> SysResult<()> {
    super::fsync(raw)
}

pub fn faccessat(dirfd: c_int, path: &CStr, mode: c_int, flags: c_int) -> SysResult<()> {
    // SAFETY: path is NUL-terminated and outlives the call.
    check(unsafe { libc::faccessat(dirfd, path.as_ptr(), mode, flags) }).map(drop)
}

/// getcwd into `buf`: length with NUL, ERANGE when it does not fit (Linux's syscall).
pub fn getcwd(buf: &mut [u8]) -> SysResult<i64> {
    if buf.is_empty() {
        return Err(errno::ERANGE as LinuxErrno);
    }
    // SAFETY: buf is a host buffer of buf.len() writable bytes.
    let p = unsafe { libc::getcwd(buf.as_mut_ptr().cast(), buf.len()) };
    if p.is_null() {
        return Err(host::last_errno());
    }
    let len = buf.iter().position(|&b| b == 0).ok_or(errno::ERANGE as LinuxErrno)?;
    Ok(len as i64 + 1)
}

/// No dup3: dup3's checks (EINVAL for the same fd or a flag other than O_CLOEXEC), then
/// dup2 and FD_CLOEXEC. Not atomic, like pipe2 above.
pub fn dup3(oldfd: c_int, newfd: c_int, flags: c_int) -> SysResult<c_int> {
    if oldfd == newfd || flags & !libc::O_CLOEXEC != 0 {
        return Err(EINVAL);
    }
    let fd = super::dup2(oldfd, newfd)?;
    set_open_flags(newfd, flags & libc::O_CLOEXEC)?;
    Ok(fd)
}

/// The Linux xattr name as Darwin's (the Linux user namespace is Darwin's only one).
fn xattr_name(name: &CStr) -> SysResult<CString> {
    let host = host::xattr_name_to_host(name.to_bytes())?;
    CString::new(host).map_err(|_| EINVAL)
}

/// getxattr: the value's size when `out` is empty, else the value.
pub fn getxattr(target: &XattrTarget, name: &CStr, out: &mut [u8]) -> SysResult<usize> {
    let name = xattr_name(name)?;
    let len = out.len();
    let buf = if len == 0 { std::ptr::null_mut() } else { out.as_mut_ptr().cast::<libc::c_void>() };
    let r = match target {
        // SAFETY: name is NUL-terminated; buf is NULL with length 0 or `len` bytes.
        XattrTarget::Fd(fd) => unsafe { libc::fgetxattr(*fd, name.as_ptr(), buf, len, 0, 0) },
        XattrTarget::Path(p, follow) => {
            let options = host::xattr_options_to_host(0, *follow)?;
            // SAFETY: as above; p is NUL-terminated.
            unsafe { libc::getxattr(p.as_ptr(), name.as_ptr(), buf, len, 0, options) }
        }
    };
    Ok(check(r)? as usize)
}

/// Darwin's raw name list of `target` (NULL buffer with `len` 0: its size).
fn darwin_xattr_list(target: &XattrTarget, out: *mut libc::c_char, len: usize) -> isize {
    match target {
        // SAFETY: out is NULL with length 0 or a buffer of `len` bytes.
        XattrTarget::Fd(fd) => unsafe { libc::flistxattr(*fd, out, len, 0) },
        XattrTarget::Path(p, follow) => {
            let options = if *follow { 0 } else { libc::XATTR_NOFOLLOW };
            // SAFETY: as above; p is NUL-terminated.
            unsafe { libc::listxattr(p.as_ptr(), out, len, options) }
        }
    }
}

/// listxattr: Darwin's names, each listed as "user.NAME"; the size asked for (empty
/// `out`) is that of the Linux list.
pub fn listxattr(target: &XattrTarget, out: &mut [u8]) -> SysResult<usize> {
    let need = check(darwin_xattr_list(target, std::ptr::null_mut(), 0))? as usize;
    let mut names = vec![0u8; need];
    let got = if need == 0 { 0 } else { check(darwin_xattr_list(target, names.as_mut_ptr().cast(), need))? as usize };
    let linux = host::xattr_list_to_linux(&names[..got.min(need)]);
    if linux.len() > XATTR_SIZE_MAX {
        return Err(E2BIG);
    }
    if out.is_empty() {
        return Ok(linux.len());
    }
    let dest = out.get_mut(..linux.len()).ok_or(errno::ERANGE as LinuxErrno)?;
    dest.copy_from_slice(&linux);
    Ok(linux.len())
}

pub fn setxattr(target: &XattrTarget, name: &CStr, value: &[u8], flags: i32) -> SysResult<()> {
    let name = xattr_name(name)?;
    let (v, n) = (value.as_ptr().cast::<libc::c_void>(), value.len());
    let r = match target {
        XattrTarget::Fd(fd) => {
            let options = host::xattr_options_to_host(flags, true)?;
            // SAFETY: name is NUL-terminated; v is a buffer of exactly n bytes.
            unsafe { libc::fsetxattr(*fd, name.as_ptr(), v, n, 0, options) }
        }
        XattrTarget::Path(p, follow) => {
            let options = host::xattr_options_to_host(flags, *follow)?;
            // SAFETY: as above; p is NUL-terminated.
            unsafe { libc::setxattr(p.as_ptr(), name.as_ptr(), v, n, 0, options) }
        }
    };
    check(r).map(drop)
}

pub fn removexattr(target: &XattrTarget, name: &CStr) -> SysResult<()> {
    let name = xattr_name(name)?;
    let r = match target {
        // SAFETY: name is NUL-terminated.
        XattrTarget::Fd(fd) => unsafe { libc::fremovexattr(*fd, name.as_ptr(), 0) },
        XattrTarget::Path(p, follow) => {
            let options = host::xattr_options_to_host(0, *follow)?;
            // SAFETY: name and p are NUL-terminated.
            unsafe { libc::removexattr(p.as_ptr(), name.as_ptr(), options) }
        }
    };
    check(r).map(drop)
}

/// Record locks are not served on this host yet.
pub fn fcntl_lock(_raw: c_int, _linux_cmd: i32, _lock: &LinuxFlock) -> SysResult<Option<LinuxFlock>> {
    Err(ENOSYS)
}

pub fn statfs(path: &CStr) -> SysResult<LinuxStatfs> {
    // SAFETY: the path is NUL-terminated; st is a valid out-pointer for one statfs.
    let st = out_struct(|st: *mut libc::statfs| unsafe { libc::statfs(path.as_ptr(), st) })?;
    Ok(host::statfs_to_linux(&st))
}

pub fn fstatfs(raw: c_int) -> SysResult<LinuxStatfs> {
    // SAFETY: st is a valid out-pointer for one statfs.
    let st = out_struct(|st: *mut libc::statfs| unsafe { libc::fstatfs(raw, st) })?;
    Ok(host::statfs_to_linux(&st))
}

/// sendfile: Linux refuses an output opened O_APPEND (EINVAL) and an input or output of
/// the wrong direction (EBADF); the copy itself goes through a buffer.
pub fn sendfile(out_fd: c_int, in_fd: c_int, offset: Option<i64>, count: u64) -> SysResult<i64> {
    let (in_mode, out_mode) = (status_flags(in_fd)?, status_flags(out_fd)?);
    if in_mode & libc::O_ACCMODE == libc::O_WRONLY || out_mode & libc::O_ACCMODE == libc::O_RDONLY {
        return Err(EBADF);
    }
    if out_mode & libc::O_APPEND != 0 {
        return Err(EINVAL);
    }
    copy_through_buffer(in_fd, offset, out_fd, None, count)
}

/// copy_file_range's checks as Linux makes them (flags, file types, directions, an
/// overlapping range of the same file), then the copy through a buffer. Unlike Linux
/// before 5.3 and like Linux since, any two files will do, whatever their file systems.
pub fn copy_file_range(
    fd_in: c_int,
    off_in: Option<i64>,
    fd_out: c_int,
    off_out: Option<i64>,
    len: u64,
    flags: u32,
) -> SysResult<i64> {
    if flags != 0 {
        return Err(EINVAL);
    }
    for fd in [fd_in, fd_out] {
        match file_type(fd)? {
            libc::S_IFDIR => return Err(errno::EISDIR as LinuxErrno),
            libc::S_IFREG => {}
            _ => return Err(EINVAL),
        }
    }
    let (in_mode, out_mode) = (status_flags(fd_in)?, status_flags(fd_out)?);
    if in_mode & libc::O_ACCMODE == libc::O_WRONLY
        || out_mode & libc::O_ACCMODE == libc::O_RDONLY
        || out_mode & libc::O_APPEND != 0
    {
        return Err(EBADF);
    }
    let pos = |fd: c_int, off: Option<i64>| -> SysResult<i64> {
        match off {
            Some(o) => Ok(o),
            None => lseek(fd, 0, libc::SEEK_CUR),
        }
    };
    let (from, to) = (pos(fd_in, off_in)?, pos(fd_out, off_out)?);
    if same_file(fd_in, fd_out)? && from < to.saturating_add(len as i64) && to < from.saturating_add(len as i64) {
        return Err(EINVAL);
    }
    let n = copy_through_buffer(fd_in, Some(from), fd_out, Some(to), len)?;
    // Without an offset the file position moves past what was copied, as Linux's does.
    for (fd, off, start) in [(fd_in, off_in, from), (fd_out, off_out, to)] {
        if off.is_none() && n > 0 {
            let _ = lseek(fd, start + n, libc::SEEK_SET);
        }
    }
    Ok(n)
}

/// fallocate in Linux's order of checks (vfs_fallocate), then F_PREALLOCATE for the part
/// past the end of the file (contiguous if possible) and, without FALLOC_FL_KEEP_SIZE,
/// ftruncate to the new end.
pub fn fallocate(raw: c_int, mode: i32, offset: i64, len: i64) -> SysResult<()> {
    let keep_size = host::fallocate_mode_to_host(mode, offset, len)?;
    if status_flags(raw)? & libc::O_ACCMODE == libc::O_RDONLY {
        return Err(EBADF);
    }
    match file_type(raw)? {
        libc::S_IFIFO => return Err(errno::ESPIPE as LinuxErrno),
        libc::S_IFDIR => return Err(errno::EISDIR as LinuxErrno),
        libc::S_IFREG => {}
        _ => return Err(errno::ENODEV as LinuxErrno),
    }
    let end = offset.checked_add(len).ok_or(errno::EFBIG as LinuxErrno)?;
    let size = fstat(raw)?.st_size;
    if end > size {
        let mut store = libc::fstore_t {
            fst_flags: libc::F_ALLOCATECONTIG,
            fst_posmode: libc::F_PEOFPOSMODE,
            fst_offset: 0,
            fst_length: end - size,
            fst_bytesalloc: 0,
        };
        // SAFETY: F_PREALLOCATE reads and updates one fstore_t through the valid pointer.
        if unsafe { libc::fcntl(raw, libc::F_PREALLOCATE, &mut store) } < 0 {
            store.fst_flags = libc::F_ALLOCATEALL;
            // SAFETY: as above.
            check(unsafe { libc::fcntl(raw, libc::F_PREALLOCATE, &mut store) })?;
        }
        if !keep_size {
            super::ftruncate(raw, end)?;
        }
    }
    Ok(())
}

/// I/O priorities: Darwin has no such classes (ENOSYS, as for a kernel without them).
pub fn ioprio(_which: i32, _who: i32, _set: Option<i32>) -> SysResult<i64> {
    Err(ENOSYS)
}

/// sync_file_range: Darwin has none. Linux's ESPIPE for what is not a file, a directory,
/// a block device or a link; then, when the flags ask for any writing or waiting, an fsync
/// of the whole file (more than asked, which the call allows: it only starts or waits for
/// writes).
pub fn sync_file_range(raw: c_int, _offset: i64, _nbytes: i64, flags: u32) -> SysResult<()> {
    let kind = file_type(raw)?;
    if ![libc::S_IFREG, libc::S_IFDIR, libc::S_IFBLK, libc::S_IFLNK].contains(&kind) {
        return Err(errno::ESPIPE as LinuxErrno);
    }
    if flags != 0 {
        // SAFETY: fsync takes no pointers.
        check(unsafe { libc::fsync(raw) })?;
    }
    Ok(())
}

/// fadvise: Linux's checks; the advice is a hint Darwin is not given.
pub fn fadvise(raw: c_int, _offset: i64, len: i64, advice: i32) -> SysResult<()> {
    let is_fifo = file_type(raw)? == libc::S_IFIFO;
    host::fadvise_check(is_fifo, len, advice)
}

/// A memfd here: a file made and unlinked at once in the host's temporary directory, open
/// read-write (what a memfd is to its users: an fd to a file with no name).
pub fn memfd_create(_name: &CStr, flags: u32) -> SysResult<c_int> {
    let cloexec = host::memfd_flags_to_host(flags)?;
    let (path, file) = create_temp("linuxrun-memfd-", TempKind::File)
        .map_err(|e| host::errno_to_linux(e.raw_os_error().unwrap_or(libc::EIO)))?;
    let file = file.ok_or(errno::EIO as LinuxErrno)?;
    let _ = std::fs::remove_file(&path);
    let raw = std::os::fd::IntoRawFd::into_raw_fd(file);
    let _ = super::fchmod(raw, 0o777);
    super::set_cloexec_quietly(raw, cloexec);
    Ok(raw)
}

/// File seals do not exist on Darwin: EINVAL, what Linux answers for a file that cannot be
/// sealed (a memfd made without sealing support still reports F_SEAL_SEAL instead).
pub fn seals(_raw: c_int, _add: bool, _seals: c_int) -> SysResult<i64> {
    Err(EINVAL)
}

/// PRIO_PROCESS sets the whole process here.
pub fn set_other_threads_priority(_which: host::PriorityWhich, _nice: i32) {}

pub fn sysinfo() -> SysResult<LinuxSysinfo> {
    Err(ENOSYS)
}

/// No sched_getscheduler here: every process is SCHED_OTHER, if it exists.
pub fn sched_getscheduler(pid: libc::pid_t) -> SysResult<i32> {
    super::process_exists(pid)?;
    Ok(0)
}

pub fn sched_getparam(pid: libc::pid_t) -> SysResult<i32> {
    super::process_exists(pid)?;
    Ok(0)
}

/// TCSETS* through tcsetattr with the struct translated (EINVAL for what the host cannot
/// express).
pub fn set_termios(raw: c_int, when: u8, t: &LinuxTermios) -> SysResult<()> {
    let action = match when {
        0 => libc::TCSANOW,
        1 => libc::TCSADRAIN,
        2 => libc::TCSAFLUSH,
        _ => return Err(EINVAL),
    };
    let host_termios = host::termios_to_host(t)?;
    // SAFETY: host_termios is a valid struct termios for the call.
    check(unsafe { libc::tcsetattr(raw, action, &host_termios) }).map(drop)
}

/// There is no /dev/pts for the slave's name to point into: what Linux answers for a
/// descriptor that is no pseudo-terminal master.
pub fn pty_number(_raw: c_int) -> SysResult<i64> {
    Err(ENOTTY)
}

pub fn set_pty_lock(_raw: c_int, _lock: i32) -> SysResult<()> {
    Err(ENOTTY)
}

/// No memfd here: a temporary file opened twice, then unlinked. (A read-write descriptor
/// on the lowest free fd, a read-only one; both close-on-exec.)
pub fn anonymous_file_pair() -> SysResult<(OwnedFd, OwnedFd)> {
    let io_errno = |e: std::io::Error| host::errno_to_linux(e.raw_os_error().unwrap_or(libc::EIO));
    let (path, rw) = create_temp("linuxrun-proc-", TempKind::File).map_err(io_errno)?;
    let rw = rw.ok_or(errno::EIO as LinuxErrno)?;
    let ro = openat(libc::AT_FDCWD, &super::c_string(&path)?, libc::O_RDONLY | libc::O_CLOEXEC, 0);
    // The file stays reachable through the two descriptors.
    let _ = std::fs::remove_file(&path);
    // SAFETY: openat made a new descriptor nothing else owns.
    Ok((rw, unsafe { OwnedFd::from_raw_fd(ro?) }))
}

/// F_GETPATH for files and directories; pipes and sockets named as Linux does.
pub fn fd_path(raw: c_int) -> SysResult<Vec<u8>> {
    let st = fstat(raw).map_err(|_| errno::ENOENT as LinuxErrno)?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => return Ok(format!("pipe:[{}]", st.st_ino).into_bytes()),
        libc::S_IFSOCK => return Ok(format!("socket:[{}]", st.st_ino).into_bytes()),
        _ => {}
    }
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: F_GETPATH writes at most PATH_MAX bytes into buf.
    check(unsafe { libc::fcntl(raw, libc::F_GETPATH, buf.as_mut_ptr()) })?;
    buf.truncate(buf.iter().position(|&b| b == 0).unwrap_or(buf.len()));
    Ok(buf)
}

/// Open fds: ask each fd below the descriptor limit.
pub fn open_fds() -> SysResult<Vec<i32>> {
    // SAFETY: getdtablesize takes no arguments.
    let max = unsafe { libc::getdtablesize() }.clamp(0, 1 << 16);
    Ok((0..max).filter(|&fd| super::fd_flags(fd).is_ok()).collect())
}

// Darwin's futex: the address-wait calls its C++ and Rust standard libraries use.
extern "C" {
    fn __ulock_wait(operation: u32, addr: *mut libc::c_void, value: u64, timeout_us: u32) -> c_int;
    fn __ulock_wake(operation: u32, addr: *mut libc::c_void, wake_value: u64) -> c_int;
}
const UL_COMPARE_AND_WAIT: u32 = 1;
/// The cross-process kind, keyed by the physical page (a shared file mapping).
const UL_COMPARE_AND_WAIT_SHARED: u32 = 3;

fn ulock_operation(shared: bool) -> u32 {
    if shared {
        UL_COMPARE_AND_WAIT_SHARED
    } else {
        UL_COMPARE_AND_WAIT
    }
}
const ULF_WAKE_ALL: u32 = 0x100;

/// As on Linux (see sys/linux.rs), with `__ulock_wait`; timeouts are in microseconds.
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout_ns: u64, shared: bool) -> SysResult<()> {
    let timeout_us = if timeout_ns == u64::MAX { 0 } else { (timeout_ns / 1000).clamp(1, u64::from(u32::MAX)) as u32 };
    // SAFETY: the word is a valid, aligned u32 for the call; the kernel only reads it.
    let r = unsafe {
        __ulock_wait(ulock_operation(shared), word.as_ptr() as *mut libc::c_void, u64::from(expected), timeout_us)
    };
    if r >= 0 {
        return Ok(());
    }
    match std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINTR) {
        libc::ETIMEDOUT => Err(errno::ETIMEDOUT as LinuxErrno),
        libc::EINTR => Err(errno::EINTR as LinuxErrno),
        e => Err(host::errno_to_linux(e)),
    }
}

/// As on Linux; Darwin wakes one or all, so any count above one wakes all (a spurious
/// wake-up is allowed to a futex waiter), and cannot say how many woke.
pub fn futex_wake(word: &AtomicU32, count: u32, shared: bool) -> u32 {
    let op = if count > 1 { ulock_operation(shared) | ULF_WAKE_ALL } else { ulock_operation(shared) };
    // SAFETY: as in futex_wait.
    let r = unsafe { __ulock_wake(op, word.as_ptr() as *mut libc::c_void, 0) };
    u32::from(r == 0)
}

/// The calling thread's id (Darwin's are 64-bit; Linux programs get the low bits).
pub fn gettid() -> i32 {
    let mut id: u64 = 0;
    // SAFETY: a null thread means the calling one; id is a valid out-pointer.
    unsafe { libc::pthread_threadid_np(0 as libc::pthread_t, &mut id) };
    id as i32
}

/// The host signal one monitor thread sends another to end a host call it is blocked in
/// (a running vCPU is stopped by Hypervisor.framework's own call, `vmm::ForceExit`).
/// Darwin has no real-time signals; SIGEMT is one no Linux program can name (it has no
/// Linux counterpart), which the hardware never raises on Intel or Apple Silicon Macs.
pub fn thread_kick_signal() -> Option<c_int> {
    Some(libc::SIGEMT)
}

/// accept(2) (the host has no accept4; the server applies the flags with fcntl, so
/// `_flags` is 0): the new descriptor and the peer's host sockaddr.
pub fn accept4(raw: c_int, _flags: c_int) -> SysResult<(c_int, Vec<u8>)> {
    super::net::with_sockaddr_out(|addr, len| {
        // SAFETY: addr and len name a sockaddr buffer and its size (with_sockaddr_out).
        unsafe { libc::accept(raw, addr, len) }
    })
}

/// Show the program's name where macOS shows a thread's (pthread_setname_np of the calling
/// thread, which `ps -M` and debuggers show). A process's command line cannot be changed
/// from inside it on macOS (`ps` reads it from the kernel's copy of the exec arguments),
/// so `argv` is not shown.
pub fn set_process_name(_argv: &[u8], comm: &[u8]) {
    let name: Vec<u8> = comm.iter().copied().filter(|&b| b != 0).take(15).collect();
    if name.is_empty() {
        return;
    }
    if let Ok(name) = CString::new(name) {
        // SAFETY: name is a NUL-terminated string; the call names the calling thread.
        unsafe { libc::pthread_setname_np(name.as_ptr()) };
    }
}

/// No /proc for other monitors to read it from on macOS: not published.
pub fn published_exe_file(_exe: &[u8]) -> SysResult<OwnedFd> {
    Err(errno::ENOSYS as LinuxErrno)
}
