//! Descriptors: forwarded to the host, user buffers passed as guest-physical scatter lists.

use alloc::vec::Vec;

use abi_shared::hypercall::{FsRequest, GuestSeg, Request, Response, SegList};
use abi_shared::linux::LinuxStat;

use super::{Ctx, EFAULT, EINVAL};
use crate::bringup::{hypercall, uspace};
use abi_shared::linux::PATH_MAX;

/// The most one read or write moves per call (a short count, as Linux gives for pipes).
const MAX_IO: u64 = 1 << 20;
const IOV_MAX: u64 = 1024;

fn io(fd: u64, buf: u64, count: u64, offset: Option<i64>, into_user: bool) -> i64 {
    let count = count.min(MAX_IO);
    let Some(segs) = uspace::with(|s| s.segments(buf, count, into_user)) else { return EFAULT };
    let (fd, buf) = (fd as i32, SegList::Borrowed(&segs));
    hypercall::call_ret(&if into_user {
        Request::Fs(FsRequest::Read { fd, buf, offset })
    } else {
        Request::Fs(FsRequest::Write { fd, buf, offset })
    })
}

pub fn read(c: &mut Ctx<'_>) -> i64 {
    io(c.args[0], c.args[1], c.args[2], None, true)
}

pub fn write(c: &mut Ctx<'_>) -> i64 {
    io(c.args[0], c.args[1], c.args[2], None, false)
}

pub fn pread64(c: &mut Ctx<'_>) -> i64 {
    if (c.args[3] as i64) < 0 {
        return EINVAL;
    }
    io(c.args[0], c.args[1], c.args[2], Some(c.args[3] as i64), true)
}

pub fn pwrite64(c: &mut Ctx<'_>) -> i64 {
    if (c.args[3] as i64) < 0 {
        return EINVAL;
    }
    io(c.args[0], c.args[1], c.args[2], Some(c.args[3] as i64), false)
}

fn iov(c: &mut Ctx<'_>, into_user: bool, offset: Option<i64>) -> i64 {
    let (fd, at, n) = (c.args[0] as i32, c.args[1], c.args[2]);
    if n > IOV_MAX {
        return EINVAL;
    }
    let mut raw = alloc::vec![0u8; n as usize * 16];
    if !uspace::with(|s| s.copy_in(at, &mut raw)) {
        return EFAULT;
    }
    let mut segs: Vec<GuestSeg> = Vec::new();
    let mut total = 0u64;
    for e in raw.chunks_exact(16) {
        let base = u64::from_le_bytes(e[..8].try_into().unwrap_or_default());
        let len = u64::from_le_bytes(e[8..].try_into().unwrap_or_default());
        if (len as i64) < 0 {
            return EINVAL;
        }
        let len = len.min(MAX_IO - total);
        match uspace::with(|s| s.segments(base, len, into_user)) {
            Some(s) => segs.extend(s),
            None => return EFAULT,
        }
        total += len;
    }
    let buf = SegList::Borrowed(&segs);
    hypercall::call_ret(&if into_user {
        Request::Fs(FsRequest::Read { fd, buf, offset })
    } else {
        Request::Fs(FsRequest::Write { fd, buf, offset })
    })
}

pub fn readv(c: &mut Ctx<'_>) -> i64 {
    iov(c, true, None)
}

pub fn writev(c: &mut Ctx<'_>) -> i64 {
    iov(c, false, None)
}

pub fn preadv(c: &mut Ctx<'_>) -> i64 {
    if (c.args[3] as i64) < 0 {
        return EINVAL;
    }
    iov(c, true, Some(c.args[3] as i64))
}

pub fn pwritev(c: &mut Ctx<'_>) -> i64 {
    if (c.args[3] as i64) < 0 {
        return EINVAL;
    }
    iov(c, false, Some(c.args[3] as i64))
}

pub fn openat(c: &mut Ctx<'_>) -> i64 {
    let Some(path) = uspace::with(|s| s.read_cstr(c.args[1], PATH_MAX)) else { return EFAULT };
    hypercall::call_ret(&Request::Fs(FsRequest::Openat {
        dirfd: c.args[0] as i32,
        path: &path,
        flags: c.args[2] as i32,
        mode: c.args[3] as u32,
    }))
}

pub fn close(c: &mut Ctx<'_>) -> i64 {
    hypercall::call_ret(&Request::Fs(FsRequest::Close { fd: c.args[0] as i32 }))
}

pub fn lseek(c: &mut Ctx<'_>) -> i64 {
    hypercall::call_ret(&Request::Fs(FsRequest::Lseek {
        fd: c.args[0] as i32,
        offset: c.args[1] as i64,
        whence: c.args[2] as u32,
    }))
}

/// arm64's `struct stat` (the generic layout, 128 bytes) from the protocol's.
fn arm64_stat(st: &LinuxStat) -> [u8; 128] {
    let mut b = [0u8; 128];
    let mut put = |at: usize, v: &[u8]| b[at..at + v.len()].copy_from_slice(v);
    put(0, &st.st_dev.to_le_bytes());
    put(8, &st.st_ino.to_le_bytes());
    put(16, &st.st_mode.to_le_bytes());
    put(20, &(st.st_nlink as u32).to_le_bytes());
    put(24, &st.st_uid.to_le_bytes());
    put(28, &st.st_gid.to_le_bytes());
    put(32, &st.st_rdev.to_le_bytes());
    put(48, &st.st_size.to_le_bytes());
    put(56, &(st.st_blksize as i32).to_le_bytes());
    put(64, &st.st_blocks.to_le_bytes());
    put(72, &st.st_atime.to_le_bytes());
    put(80, &st.st_atime_nsec.to_le_bytes());
    put(88, &st.st_mtime.to_le_bytes());
    put(96, &st.st_mtime_nsec.to_le_bytes());
    put(104, &st.st_ctime.to_le_bytes());
    put(112, &st.st_ctime_nsec.to_le_bytes());
    b
}

fn stat_answer(resp: Response, out: u64) -> i64 {
    match resp {
        Response::Stat(st) => {
            if uspace::with(|s| s.copy_out(out, &arm64_stat(&st))) {
                0
            } else {
                EFAULT
            }
        }
        other => hypercall::ret_of(other),
    }
}

pub fn fstat(c: &mut Ctx<'_>) -> i64 {
    stat_answer(hypercall::call(&Request::Fs(FsRequest::Fstat { fd: c.args[0] as i32 })), c.args[1])
}

pub fn newfstatat(c: &mut Ctx<'_>) -> i64 {
    let Some(path) = uspace::with(|s| s.read_cstr(c.args[1], PATH_MAX)) else { return EFAULT };
    let req = Request::Fs(FsRequest::Fstatat { dirfd: c.args[0] as i32, path: &path, flags: c.args[3] as i32 });
    stat_answer(hypercall::call(&req), c.args[2])
}
