//! File attributes and extra names, forwarded to the host: hard links, access and
//! modification times (utimensat, utimes, futimesat, utime), owners (chown family) and
//! extended attributes (the get/list side; fs_extra.rs has the set/remove side).

use alloc::vec::Vec;

use abi_shared::hypercall::{FsRequest, Request, SegList, XattrTarget};
use abi_shared::linux::errno;
use abi_shared::linux::general::{AT_FDCWD, AT_SYMLINK_NOFOLLOW};

use super::fs::{path, segments, through_proc};
use super::{err, Ctx, EINVAL};
use crate::hypercall::call_ret;
use crate::mm::uaccess;
use crate::mm::Access;

/// utimensat's special tv_nsec values.
const UTIME_OMIT: i64 = abi_shared::linux::general::UTIME_OMIT as i64;

fn do_linkat(olddirfd: i32, old: u64, newdirfd: i32, new: u64, flags: i32) -> i64 {
    let oldpath = tryret!(path(old));
    let newpath = tryret!(path(new));
    call_ret(&Request::Fs(FsRequest::Linkat { olddirfd, oldpath: &oldpath, newdirfd, newpath: &newpath, flags }))
}

pub fn link(c: &mut Ctx<'_>) -> i64 {
    do_linkat(AT_FDCWD, c.arg(0), AT_FDCWD, c.arg(1), 0)
}

pub fn linkat(c: &mut Ctx<'_>) -> i64 {
    do_linkat(c.int(0), c.arg(1), c.int(2), c.arg(3), c.int(4))
}

/// Two (i64, i64) pairs from user memory: timespecs, timevals or a utimbuf's seconds.
fn read_pairs(addr: u64, words: usize) -> Result<[(i64, i64); 2], i64> {
    let mut b = [0u8; 32];
    uaccess::copy_from_user(addr, &mut b[..words * 8])?;
    let w = |i: usize| {
        i64::from_le_bytes([
            b[i * 8],
            b[i * 8 + 1],
            b[i * 8 + 2],
            b[i * 8 + 3],
            b[i * 8 + 4],
            b[i * 8 + 5],
            b[i * 8 + 6],
            b[i * 8 + 7],
        ])
    };
    Ok(if words == 4 { [(w(0), w(1)), (w(2), w(3))] } else { [(w(0), 0), (w(1), 0)] })
}

/// utimensat and the older calls mapped onto it. A NULL path (`path_addr` 0) names
/// `dirfd` itself.
fn do_utimens(dirfd: i32, path_addr: u64, times: Option<[(i64, i64); 2]>, flags: i32) -> i64 {
    let p = match path_addr {
        0 => None,
        a => Some(tryret!(path(a))),
    };
    let (dirfd, p) = match p {
        Some(p) => {
            let follow = flags & AT_SYMLINK_NOFOLLOW as i32 == 0;
            let (dirfd, p) = tryret!(through_proc(dirfd, p, follow));
            (dirfd, Some(p))
        }
        None => (dirfd, None),
    };
    call_ret(&Request::Fs(FsRequest::Utimensat { dirfd, path: p.as_deref(), times, flags }))
}

pub fn utimensat(c: &mut Ctx<'_>) -> i64 {
    let times = match c.arg(2) {
        0 => None,
        a => Some(tryret!(read_pairs(a, 4))),
    };
    // Linux: both times UTIME_OMIT is a successful no-op, checked before anything else.
    if times.is_some_and(|t| t[0].1 == UTIME_OMIT && t[1].1 == UTIME_OMIT) {
        return 0;
    }
    do_utimens(c.int(0), c.arg(1), times, c.int(3))
}

/// utimes/futimesat: timevals, whose microseconds must be in range.
fn do_futimesat(dirfd: i32, path_addr: u64, tv: u64) -> i64 {
    let times = match tv {
        0 => None,
        a => {
            let t = tryret!(read_pairs(a, 4));
            if t.iter().any(|&(_, usec)| !(0..1_000_000).contains(&usec)) {
                return EINVAL;
            }
            Some(t.map(|(sec, usec)| (sec, usec * 1000)))
        }
    };
    do_utimens(dirfd, path_addr, times, 0)
}

pub fn utimes(c: &mut Ctx<'_>) -> i64 {
    do_futimesat(AT_FDCWD, c.arg(0), c.arg(1))
}

pub fn futimesat(c: &mut Ctx<'_>) -> i64 {
    do_futimesat(c.int(0), c.arg(1), c.arg(2))
}

/// utime: a `struct utimbuf` of whole seconds (actime, modtime).
pub fn utime(c: &mut Ctx<'_>) -> i64 {
    let times = match c.arg(1) {
        0 => None,
        a => Some(tryret!(read_pairs(a, 2))),
    };
    do_utimens(AT_FDCWD, c.arg(0), times, 0)
}

fn do_fchownat(dirfd: i32, path_addr: u64, uid: u64, gid: u64, flags: i32) -> i64 {
    let p = tryret!(path(path_addr));
    let (dirfd, p) = tryret!(through_proc(dirfd, p, flags & AT_SYMLINK_NOFOLLOW as i32 == 0));
    call_ret(&Request::Fs(FsRequest::Fchownat { dirfd, path: &p, uid: uid as u32, gid: gid as u32, flags }))
}

pub fn chown(c: &mut Ctx<'_>) -> i64 {
    do_fchownat(AT_FDCWD, c.arg(0), c.arg(1), c.arg(2), 0)
}

pub fn lchown(c: &mut Ctx<'_>) -> i64 {
    do_fchownat(AT_FDCWD, c.arg(0), c.arg(1), c.arg(2), AT_SYMLINK_NOFOLLOW as i32)
}

pub fn fchownat(c: &mut Ctx<'_>) -> i64 {
    do_fchownat(c.int(0), c.arg(1), c.arg(2), c.arg(3), c.int(4))
}

pub fn fchown(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fs(FsRequest::Fchown { fd: c.int(0), uid: c.arg(1) as u32, gid: c.arg(2) as u32 }))
}

/// Longest xattr name Linux accepts (XATTR_NAME_MAX), without the NUL.
const XATTR_NAME_MAX: usize = abi_shared::linux::general::XATTR_NAME_MAX as usize;

pub(super) fn xattr_name(addr: u64) -> Result<Vec<u8>, i64> {
    match uaccess::read_cstr(addr, XATTR_NAME_MAX)? {
        Some(n) if !n.is_empty() => Ok(n),
        _ => Err(err(errno::ERANGE)),
    }
}

fn do_getxattr(target: XattrTarget<'_>, name: u64, buf: u64, size: u64) -> i64 {
    let name = tryret!(xattr_name(name));
    let segs = if size == 0 { Vec::new() } else { tryret!(segments(buf, size, Access::Write)) };
    call_ret(&Request::Fs(FsRequest::Getxattr { target, name: &name, buf: SegList::Borrowed(&segs), size }))
}

fn do_listxattr(target: XattrTarget<'_>, buf: u64, size: u64) -> i64 {
    let segs = if size == 0 { Vec::new() } else { tryret!(segments(buf, size, Access::Write)) };
    call_ret(&Request::Fs(FsRequest::Listxattr { target, buf: SegList::Borrowed(&segs), size }))
}

pub fn getxattr(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(0)));
    do_getxattr(XattrTarget::Path { path: &p, follow: true }, c.arg(1), c.arg(2), c.arg(3))
}

pub fn lgetxattr(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(0)));
    do_getxattr(XattrTarget::Path { path: &p, follow: false }, c.arg(1), c.arg(2), c.arg(3))
}

pub fn fgetxattr(c: &mut Ctx<'_>) -> i64 {
    do_getxattr(XattrTarget::Fd(c.int(0)), c.arg(1), c.arg(2), c.arg(3))
}

pub fn listxattr(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(0)));
    do_listxattr(XattrTarget::Path { path: &p, follow: true }, c.arg(1), c.arg(2))
}

pub fn llistxattr(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(0)));
    do_listxattr(XattrTarget::Path { path: &p, follow: false }, c.arg(1), c.arg(2))
}

pub fn flistxattr(c: &mut Ctx<'_>) -> i64 {
    do_listxattr(XattrTarget::Fd(c.int(0)), c.arg(1), c.arg(2))
}
