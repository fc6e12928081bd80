//! File and descriptor syscalls, forwarded to the host. Arguments are read from user memory
//! here (paths, iovecs) and buffers are passed as guest-physical scatter lists.

use alloc::vec::Vec;

use abi_shared::hypercall::{GuestSeg, Request, Response, SegList};
use abi_shared::linux::errno;
use abi_shared::linux::general::{AT_FDCWD, AT_REMOVEDIR, O_CREAT, O_TRUNC, O_WRONLY};

use super::{err, Ctx, EFAULT, EINVAL};
use crate::hypercall::{call, call_ret};
use crate::mm::uaccess::{self, user_segments};
use crate::mm::Access;

/// Linux caps one read or write at this many bytes.
const MAX_RW_COUNT: u64 = 0x7fff_f000;
const PATH_MAX: usize = 4096;
const IOV_MAX: u64 = 1024;

const F_DUPFD: i32 = 0;
const F_GETFD: i32 = 1;
const F_SETFD: i32 = 2;
const F_GETFL: i32 = 3;
const F_SETFL: i32 = 4;
const F_DUPFD_CLOEXEC: i32 = 1030;
const TCGETS: u64 = 0x5401;
const TIOCGWINSZ: u64 = 0x5413;

/// A path argument: at most PATH_MAX bytes including the NUL.
fn path(addr: u64) -> Result<Vec<u8>, i64> {
    match uaccess::read_cstr(addr, PATH_MAX - 1)? {
        Some(p) => Ok(p),
        None => Err(err(errno::ENAMETOOLONG)),
    }
}

macro_rules! tryret {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return e,
        }
    };
}

fn segments(addr: u64, len: u64, access: Access) -> Result<Vec<GuestSeg>, i64> {
    let mut segs = Vec::new();
    user_segments(addr, len.min(MAX_RW_COUNT), access, &mut segs)?;
    Ok(segs)
}

/// The scatter list of a user iovec array.
fn iovec_segments(iov: u64, count: u64, access: Access) -> Result<Vec<GuestSeg>, i64> {
    if count > IOV_MAX {
        return Err(EINVAL);
    }
    let mut segs = Vec::new();
    let mut total = 0u64;
    for i in 0..count {
        let base = uaccess::read_u64(iov + i * 16)?;
        let len = uaccess::read_u64(iov + i * 16 + 8)?;
        if len as i64 <= 0 {
            if (len as i64) < 0 {
                return Err(EINVAL);
            }
            continue;
        }
        let len = len.min(MAX_RW_COUNT - total);
        user_segments(base, len, access, &mut segs)?;
        total += len;
    }
    Ok(segs)
}

fn do_read(fd: i32, segs: &[GuestSeg], offset: Option<i64>) -> i64 {
    call_ret(&Request::Read { fd, buf: SegList::Borrowed(segs), offset })
}

fn do_write(fd: i32, segs: &[GuestSeg], offset: Option<i64>) -> i64 {
    call_ret(&Request::Write { fd, buf: SegList::Borrowed(segs), offset })
}

pub fn read(c: &mut Ctx<'_>) -> i64 {
    let segs = tryret!(segments(c.arg(1), c.arg(2), Access::Write));
    do_read(c.int(0), &segs, None)
}

pub fn write(c: &mut Ctx<'_>) -> i64 {
    let segs = tryret!(segments(c.arg(1), c.arg(2), Access::Read));
    do_write(c.int(0), &segs, None)
}

pub fn pread64(c: &mut Ctx<'_>) -> i64 {
    if (c.arg(3) as i64) < 0 {
        return EINVAL;
    }
    let segs = tryret!(segments(c.arg(1), c.arg(2), Access::Write));
    do_read(c.int(0), &segs, Some(c.arg(3) as i64))
}

pub fn pwrite64(c: &mut Ctx<'_>) -> i64 {
    if (c.arg(3) as i64) < 0 {
        return EINVAL;
    }
    let segs = tryret!(segments(c.arg(1), c.arg(2), Access::Read));
    do_write(c.int(0), &segs, Some(c.arg(3) as i64))
}

pub fn readv(c: &mut Ctx<'_>) -> i64 {
    let segs = tryret!(iovec_segments(c.arg(1), c.arg(2), Access::Write));
    do_read(c.int(0), &segs, None)
}

pub fn writev(c: &mut Ctx<'_>) -> i64 {
    let segs = tryret!(iovec_segments(c.arg(1), c.arg(2), Access::Read));
    do_write(c.int(0), &segs, None)
}

pub fn preadv(c: &mut Ctx<'_>) -> i64 {
    let segs = tryret!(iovec_segments(c.arg(1), c.arg(2), Access::Write));
    do_read(c.int(0), &segs, Some(c.arg(3) as i64))
}

pub fn pwritev(c: &mut Ctx<'_>) -> i64 {
    let segs = tryret!(iovec_segments(c.arg(1), c.arg(2), Access::Read));
    do_write(c.int(0), &segs, Some(c.arg(3) as i64))
}

fn do_openat(dirfd: i32, path_addr: u64, flags: i32, mode: u32) -> i64 {
    let p = tryret!(path(path_addr));
    call_ret(&Request::Openat { dirfd, path: &p, flags, mode })
}

pub fn open(c: &mut Ctx<'_>) -> i64 {
    do_openat(AT_FDCWD, c.arg(0), c.int(1), c.arg(2) as u32)
}

pub fn openat(c: &mut Ctx<'_>) -> i64 {
    do_openat(c.int(0), c.arg(1), c.int(2), c.arg(3) as u32)
}

pub fn creat(c: &mut Ctx<'_>) -> i64 {
    do_openat(AT_FDCWD, c.arg(0), (O_CREAT | O_WRONLY | O_TRUNC) as i32, c.arg(1) as u32)
}

pub fn close(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Close { fd: c.int(0) })
}

pub fn lseek(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Lseek { fd: c.int(0), offset: c.arg(1) as i64, whence: c.arg(2) as u32 })
}

/// Answer a stat-like request by copying the struct to `out`.
fn stat_into(req: &Request<'_>, out: u64) -> i64 {
    match call(req) {
        Response::Stat(st) => uaccess::write_struct(out, &st).map_or(EFAULT, |_| 0),
        Response::Statx(stx) => uaccess::write_struct(out, &stx).map_or(EFAULT, |_| 0),
        Response::Ret(e) => e,
        _ => EFAULT,
    }
}

fn do_fstatat(dirfd: i32, path_addr: u64, out: u64, flags: i32) -> i64 {
    let p = tryret!(path(path_addr));
    stat_into(&Request::Fstatat { dirfd, path: &p, flags }, out)
}

pub fn stat(c: &mut Ctx<'_>) -> i64 {
    do_fstatat(AT_FDCWD, c.arg(0), c.arg(1), 0)
}

pub fn lstat(c: &mut Ctx<'_>) -> i64 {
    do_fstatat(AT_FDCWD, c.arg(0), c.arg(1), abi_shared::linux::general::AT_SYMLINK_NOFOLLOW as i32)
}

pub fn newfstatat(c: &mut Ctx<'_>) -> i64 {
    do_fstatat(c.int(0), c.arg(1), c.arg(2), c.int(3))
}

pub fn fstat(c: &mut Ctx<'_>) -> i64 {
    stat_into(&Request::Fstat { fd: c.int(0) }, c.arg(1))
}

pub fn statx(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(1)));
    stat_into(&Request::Statx { dirfd: c.int(0), path: &p, flags: c.int(2), mask: c.arg(3) as u32 }, c.arg(4))
}

pub fn getdents64(c: &mut Ctx<'_>) -> i64 {
    let segs = tryret!(segments(c.arg(1), c.arg(2), Access::Write));
    call_ret(&Request::Getdents64 { fd: c.int(0), buf: SegList::Borrowed(&segs) })
}

fn do_mkdirat(dirfd: i32, path_addr: u64, mode: u32) -> i64 {
    let p = tryret!(path(path_addr));
    call_ret(&Request::Mkdirat { dirfd, path: &p, mode })
}

pub fn mkdir(c: &mut Ctx<'_>) -> i64 {
    do_mkdirat(AT_FDCWD, c.arg(0), c.arg(1) as u32)
}

pub fn mkdirat(c: &mut Ctx<'_>) -> i64 {
    do_mkdirat(c.int(0), c.arg(1), c.arg(2) as u32)
}

fn do_unlinkat(dirfd: i32, path_addr: u64, flags: i32) -> i64 {
    let p = tryret!(path(path_addr));
    call_ret(&Request::Unlinkat { dirfd, path: &p, flags })
}

pub fn unlink(c: &mut Ctx<'_>) -> i64 {
    do_unlinkat(AT_FDCWD, c.arg(0), 0)
}

pub fn rmdir(c: &mut Ctx<'_>) -> i64 {
    do_unlinkat(AT_FDCWD, c.arg(0), AT_REMOVEDIR as i32)
}

pub fn unlinkat(c: &mut Ctx<'_>) -> i64 {
    do_unlinkat(c.int(0), c.arg(1), c.int(2))
}

fn do_rename(olddirfd: i32, old: u64, newdirfd: i32, new: u64, flags: u32) -> i64 {
    let oldpath = tryret!(path(old));
    let newpath = tryret!(path(new));
    call_ret(&Request::Renameat2 { olddirfd, oldpath: &oldpath, newdirfd, newpath: &newpath, flags })
}

pub fn rename(c: &mut Ctx<'_>) -> i64 {
    do_rename(AT_FDCWD, c.arg(0), AT_FDCWD, c.arg(1), 0)
}

pub fn renameat(c: &mut Ctx<'_>) -> i64 {
    do_rename(c.int(0), c.arg(1), c.int(2), c.arg(3), 0)
}

pub fn renameat2(c: &mut Ctx<'_>) -> i64 {
    do_rename(c.int(0), c.arg(1), c.int(2), c.arg(3), c.arg(4) as u32)
}

fn do_symlinkat(target: u64, newdirfd: i32, linkpath: u64) -> i64 {
    let t = tryret!(path(target));
    let l = tryret!(path(linkpath));
    call_ret(&Request::Symlinkat { target: &t, newdirfd, linkpath: &l })
}

pub fn symlink(c: &mut Ctx<'_>) -> i64 {
    do_symlinkat(c.arg(0), AT_FDCWD, c.arg(1))
}

pub fn symlinkat(c: &mut Ctx<'_>) -> i64 {
    do_symlinkat(c.arg(0), c.int(1), c.arg(2))
}

fn do_readlinkat(dirfd: i32, path_addr: u64, buf: u64, size: u64) -> i64 {
    if (size as i64) <= 0 {
        return EINVAL;
    }
    let p = tryret!(path(path_addr));
    let segs = tryret!(segments(buf, size, Access::Write));
    call_ret(&Request::Readlinkat { dirfd, path: &p, buf: SegList::Borrowed(&segs) })
}

pub fn readlink(c: &mut Ctx<'_>) -> i64 {
    do_readlinkat(AT_FDCWD, c.arg(0), c.arg(1), c.arg(2))
}

pub fn readlinkat(c: &mut Ctx<'_>) -> i64 {
    do_readlinkat(c.int(0), c.arg(1), c.arg(2), c.arg(3))
}

pub fn truncate(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(0)));
    call_ret(&Request::Truncate { path: &p, length: c.arg(1) as i64 })
}

pub fn ftruncate(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Ftruncate { fd: c.int(0), length: c.arg(1) as i64 })
}

pub fn fsync(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fsync { fd: c.int(0) })
}

pub fn fdatasync(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fdatasync { fd: c.int(0) })
}

fn do_fchmodat(dirfd: i32, path_addr: u64, mode: u32) -> i64 {
    let p = tryret!(path(path_addr));
    call_ret(&Request::Fchmodat { dirfd, path: &p, mode })
}

pub fn chmod(c: &mut Ctx<'_>) -> i64 {
    do_fchmodat(AT_FDCWD, c.arg(0), c.arg(1) as u32)
}

pub fn fchmodat(c: &mut Ctx<'_>) -> i64 {
    do_fchmodat(c.int(0), c.arg(1), c.arg(2) as u32)
}

pub fn fchmod(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fchmod { fd: c.int(0), mode: c.arg(1) as u32 })
}

fn do_faccessat(dirfd: i32, path_addr: u64, mode: i32, flags: i32) -> i64 {
    let p = tryret!(path(path_addr));
    call_ret(&Request::Faccessat { dirfd, path: &p, mode, flags })
}

pub fn access(c: &mut Ctx<'_>) -> i64 {
    do_faccessat(AT_FDCWD, c.arg(0), c.int(1), 0)
}

pub fn faccessat(c: &mut Ctx<'_>) -> i64 {
    do_faccessat(c.int(0), c.arg(1), c.int(2), 0)
}

pub fn faccessat2(c: &mut Ctx<'_>) -> i64 {
    do_faccessat(c.int(0), c.arg(1), c.int(2), c.int(3))
}

pub fn getcwd(c: &mut Ctx<'_>) -> i64 {
    let segs = tryret!(segments(c.arg(0), c.arg(1), Access::Write));
    call_ret(&Request::Getcwd { buf: SegList::Borrowed(&segs) })
}

pub fn chdir(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(0)));
    call_ret(&Request::Chdir { path: &p })
}

pub fn fchdir(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fchdir { fd: c.int(0) })
}

pub fn dup(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Dup { fd: c.int(0) })
}

pub fn dup2(c: &mut Ctx<'_>) -> i64 {
    let (old, new) = (c.int(0), c.int(1));
    if old == new {
        // dup2(fd, fd) returns fd if it is open (dup3 would say EINVAL).
        let r = call_ret(&Request::Fcntl { fd: old, cmd: F_GETFD, arg: 0 });
        return if r < 0 { r } else { old as i64 };
    }
    call_ret(&Request::Dup3 { oldfd: old, newfd: new, flags: 0 })
}

pub fn dup3(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Dup3 { oldfd: c.int(0), newfd: c.int(1), flags: c.int(2) })
}

pub fn fcntl(c: &mut Ctx<'_>) -> i64 {
    match c.int(1) {
        cmd @ (F_DUPFD | F_GETFD | F_SETFD | F_GETFL | F_SETFL | F_DUPFD_CLOEXEC) => {
            call_ret(&Request::Fcntl { fd: c.int(0), cmd, arg: c.arg(2) })
        }
        _ => EINVAL,
    }
}

pub fn ioctl(c: &mut Ctx<'_>) -> i64 {
    let (fd, out) = (c.int(0), c.arg(2));
    let resp = match c.arg(1) & 0xffff_ffff {
        TCGETS => call(&Request::IoctlTcgets { fd }),
        TIOCGWINSZ => call(&Request::IoctlGetWinsize { fd }),
        _ => {
            // Unknown requests: a bad fd is still EBADF, otherwise "not a terminal".
            let r = call_ret(&Request::Fcntl { fd, cmd: F_GETFD, arg: 0 });
            return if r < 0 { r } else { err(errno::ENOTTY) };
        }
    };
    match resp {
        Response::Termios(t) => uaccess::write_struct(out, &t).map_or(EFAULT, |_| 0),
        Response::Winsize(w) => uaccess::write_struct(out, &w).map_or(EFAULT, |_| 0),
        Response::Ret(e) => e,
        _ => EFAULT,
    }
}

pub fn umask(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Umask { mask: (c.arg(0) & 0o777) as u32 })
}
