//! Path calls: the *at family, chdir and umask.

use super::*;

pub fn mkdirat(dirfd: c_int, path: &CStr, mode: libc::mode_t) -> SysResult<()> {
    rx(rustix::fs::mkdirat(fd(dirfd)?, path, raw_mode(mode)))
}

pub fn unlinkat(dirfd: c_int, path: &CStr, flags: c_int) -> SysResult<()> {
    rx(rustix::fs::unlinkat(fd(dirfd)?, path, AtFlags::from_bits_retain(flags as _)))
}

pub fn renameat(olddirfd: c_int, oldpath: &CStr, newdirfd: c_int, newpath: &CStr) -> SysResult<()> {
    rx(rustix::fs::renameat(fd(olddirfd)?, oldpath, fd(newdirfd)?, newpath))
}

pub fn symlinkat(target: &CStr, newdirfd: c_int, linkpath: &CStr) -> SysResult<()> {
    rx(rustix::fs::symlinkat(target, fd(newdirfd)?, linkpath))
}

pub fn linkat(olddirfd: c_int, oldpath: &CStr, newdirfd: c_int, newpath: &CStr, flags: c_int) -> SysResult<()> {
    rx(rustix::fs::linkat(fd(olddirfd)?, oldpath, fd(newdirfd)?, newpath, AtFlags::from_bits_retain(flags as _)))
}

/// readlinkat(2) into a host buffer: the target's length (not NUL-terminated).
pub fn readlinkat(dirfd: c_int, path: &CStr, buf: &mut [u8]) -> SysResult<usize> {
    // SAFETY: path is NUL-terminated; buf is a host buffer of buf.len() writable bytes.
    let r = unsafe { libc::readlinkat(dirfd, path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    Ok(check(r)? as usize)
}

pub fn fchmodat(dirfd: c_int, path: &CStr, mode: libc::mode_t) -> SysResult<()> {
    rx(rustix::fs::chmodat(fd(dirfd)?, path, raw_mode(mode), AtFlags::empty()))
}

/// fchownat(2); `u32::MAX` leaves the id as it is.
pub fn fchownat(dirfd: c_int, path: &CStr, uid: u32, gid: u32, flags: c_int) -> SysResult<()> {
    // SAFETY: path is NUL-terminated and outlives the call. (Raw: -1 ids mean "unchanged".)
    check(unsafe { libc::fchownat(dirfd, path.as_ptr(), uid, gid, flags) }).map(drop)
}

pub fn chdir(path: &CStr) -> SysResult<()> {
    rx(rustix::process::chdir(path))
}

/// The process's file mode creation mask is now `mask`; returns the previous one.
pub fn umask(mask: libc::mode_t) -> libc::mode_t {
    rustix::process::umask(raw_mode(mask)).bits() as libc::mode_t
}
