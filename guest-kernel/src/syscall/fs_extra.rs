//! More file syscalls, forwarded to the host: statfs, in-host copies (sendfile,
//! copy_file_range), space and cache hints (fallocate, fadvise64), the xattr write side and
//! memfd_create. The checks Linux makes before it looks at a file are made here, in Linux's
//! order, so that errors come out as they would natively; the rest is the host's.

use alloc::vec::Vec;

use abi_shared::hypercall::{ExecRequest, FsRequest, Request, Response, SegList, XattrTarget};
use abi_shared::linux::errno;

use super::fs::{path, segments, MAX_RW_COUNT};
use super::fs_attrs::xattr_name;
use super::misc_rules::{memfd_flags_ok, MFD_NAME_MAX};
use super::{err, Ctx, EFAULT, EINVAL};
use crate::hypercall::{call, call_ret};
use crate::mm::uaccess;
use crate::mm::Access;
use crate::task::fdtable::{Desc, Kind, FDS};

fn statfs_into(req: &Request<'_>, out: u64) -> i64 {
    match call(req) {
        Response::Statfs(st) => uaccess::write_struct(out, &st).map_or(EFAULT, |_| 0),
        Response::Ret(e) => e,
        _ => EFAULT,
    }
}

pub fn statfs(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(0)));
    if let Some(r) = crate::fs::procfs::statfs(&p, c.arg(1)) {
        return r;
    }
    statfs_into(&Request::Fs(FsRequest::Statfs { path: &p }), c.arg(1))
}

pub fn fstatfs(c: &mut Ctx<'_>) -> i64 {
    if let Some(r) = crate::fs::procfs::fstatfs(c.int(0), c.arg(1)) {
        return r;
    }
    statfs_into(&Request::Fs(FsRequest::Fstatfs { fd: c.int(0) }), c.arg(1))
}

/// Most bytes one sendfile or copy_file_range request asks the host to move: a request
/// must end in bounded time, so a large transfer is several requests.
const TRANSFER_CHUNK: u64 = 16 << 20;

/// A transfer of `total` bytes as requests of at most TRANSFER_CHUNK; `one(done, want)`
/// moves up to `want` bytes starting `done` bytes in. Stops at the first short or failed
/// request and returns what was moved before it, or its error if nothing was.
fn transfer_in_chunks(total: u64, mut one: impl FnMut(u64, u64) -> i64) -> i64 {
    let mut done = 0u64;
    loop {
        let want = (total - done).min(TRANSFER_CHUNK);
        let r = one(done, want);
        if r < 0 {
            return if done > 0 { done as i64 } else { r };
        }
        done += r as u64;
        if (r as u64) < want || done >= total {
            return done as i64;
        }
    }
}

fn read_offset(addr: u64) -> Result<i64, i64> {
    uaccess::read_u64(addr).map(|v| v as i64)
}

fn write_offset(addr: u64, value: i64) -> Result<(), i64> {
    uaccess::copy_to_user(addr, &value.to_le_bytes())
}

/// sendfile: with an offset pointer the input is read from `*offset`, which is updated
/// (even when nothing moved, as Linux stores it back), and its file position is left alone.
pub fn sendfile(c: &mut Ctx<'_>) -> i64 {
    let (out_fd, in_fd, off_ptr) = (c.int(0), c.int(1), c.arg(2));
    let count = c.arg(3).min(MAX_RW_COUNT);
    let start = match off_ptr {
        0 => None,
        p => Some(tryret!(read_offset(p))),
    };
    let r = transfer_in_chunks(count, |done, want| {
        let offset = start.map(|o| o.wrapping_add(done as i64));
        call_ret(&Request::Fs(FsRequest::Sendfile { out_fd, in_fd, offset, count: want }))
    });
    if let Some(o) = start {
        let moved = r.max(0);
        if write_offset(off_ptr, o.wrapping_add(moved)).is_err() {
            return EFAULT;
        }
    }
    r
}

/// copy_file_range: flags must be 0; offsets given by pointer are updated only when
/// something was copied (then the file positions stay), as Linux does.
pub fn copy_file_range(c: &mut Ctx<'_>) -> i64 {
    let (fd_in, off_in_ptr, fd_out, off_out_ptr) = (c.int(0), c.arg(1), c.int(2), c.arg(3));
    let len = c.arg(4).min(MAX_RW_COUNT);
    let flags = c.arg(5) as u32;
    if flags != 0 {
        return EINVAL;
    }
    let off_in = match off_in_ptr {
        0 => None,
        p => Some(tryret!(read_offset(p))),
    };
    let off_out = match off_out_ptr {
        0 => None,
        p => Some(tryret!(read_offset(p))),
    };
    let r = transfer_in_chunks(len, |done, want| {
        let at = |o: Option<i64>| o.map(|o| o.wrapping_add(done as i64));
        call_ret(&Request::Fs(FsRequest::CopyFileRange {
            fd_in,
            off_in: at(off_in),
            fd_out,
            off_out: at(off_out),
            len: want,
            flags,
        }))
    });
    if r > 0 {
        for (ptr, start) in [(off_in_ptr, off_in), (off_out_ptr, off_out)] {
            if let Some(o) = start {
                if write_offset(ptr, o.wrapping_add(r)).is_err() {
                    return EFAULT;
                }
            }
        }
    }
    r
}

pub fn fallocate(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fs(FsRequest::Fallocate {
        fd: c.int(0),
        mode: c.int(1),
        offset: c.arg(2) as i64,
        len: c.arg(3) as i64,
    }))
}

/// sync_file_range's flags (SYNC_FILE_RANGE_WAIT_BEFORE, WRITE, WAIT_AFTER).
const SYNC_FILE_RANGE_VALID: u64 = 0x7;

/// sync_file_range: the flags and the range are checked here, before the descriptor, as
/// Linux checks them.
pub fn sync_file_range(c: &mut Ctx<'_>) -> i64 {
    let (offset, nbytes, flags) = (c.arg(1) as i64, c.arg(2) as i64, c.arg(3));
    let end = offset.wrapping_add(nbytes);
    if flags & !SYNC_FILE_RANGE_VALID != 0 || offset < 0 || end < 0 || end < offset {
        return EINVAL;
    }
    call_ret(&Request::Fs(FsRequest::SyncFileRange { fd: c.int(0), offset, nbytes, flags: flags as u32 }))
}

pub fn fadvise64(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fs(FsRequest::Fadvise {
        fd: c.int(0),
        offset: c.arg(1) as i64,
        len: c.arg(2) as i64,
        advice: c.int(3),
    }))
}

/// What an xattr call names: a user path (read only after the name and value, as Linux
/// 6.13+ does) and whether to follow a final symlink, or an fd.
#[derive(Clone, Copy)]
enum Named {
    Path(u64, bool),
    Fd(i32),
}

/// Run `f` with the request target for `named`, reading the path now.
fn with_target(named: Named, f: impl FnOnce(XattrTarget<'_>) -> i64) -> i64 {
    match named {
        Named::Fd(fd) => f(XattrTarget::Fd(fd)),
        Named::Path(addr, follow) => {
            let p = tryret!(path(addr));
            f(XattrTarget::Path { path: &p, follow })
        }
    }
}

const XATTR_CREATE: i32 = abi_shared::linux::general::XATTR_CREATE as i32;
const XATTR_REPLACE: i32 = abi_shared::linux::general::XATTR_REPLACE as i32;
/// XATTR_SIZE_MAX: the largest value Linux stores.
const XATTR_SIZE_MAX: u64 = abi_shared::linux::general::XATTR_SIZE_MAX as u64;

/// setxattr and friends, checked as Linux's setxattr_copy: flags, then the name (ERANGE when
/// empty or too long), then the value (E2BIG past XATTR_SIZE_MAX, EFAULT if unreadable).
fn do_setxattr(named: Named, name: u64, value: u64, size: u64, flags: i32) -> i64 {
    if flags & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
        return EINVAL;
    }
    let name = tryret!(xattr_name(name));
    if size > XATTR_SIZE_MAX {
        return err(errno::E2BIG);
    }
    let segs = if size == 0 { Vec::new() } else { tryret!(segments(value, size, Access::Read)) };
    with_target(named, |target| {
        call_ret(&Request::Fs(FsRequest::Setxattr { target, name: &name, value: SegList::Borrowed(&segs), flags }))
    })
}

fn do_removexattr(named: Named, name: u64) -> i64 {
    let name = tryret!(xattr_name(name));
    with_target(named, |target| call_ret(&Request::Fs(FsRequest::Removexattr { target, name: &name })))
}

pub fn setxattr(c: &mut Ctx<'_>) -> i64 {
    do_setxattr(Named::Path(c.arg(0), true), c.arg(1), c.arg(2), c.arg(3), c.int(4))
}

pub fn lsetxattr(c: &mut Ctx<'_>) -> i64 {
    do_setxattr(Named::Path(c.arg(0), false), c.arg(1), c.arg(2), c.arg(3), c.int(4))
}

pub fn fsetxattr(c: &mut Ctx<'_>) -> i64 {
    do_setxattr(Named::Fd(c.int(0)), c.arg(1), c.arg(2), c.arg(3), c.int(4))
}

pub fn removexattr(c: &mut Ctx<'_>) -> i64 {
    do_removexattr(Named::Path(c.arg(0), true), c.arg(1))
}

pub fn lremovexattr(c: &mut Ctx<'_>) -> i64 {
    do_removexattr(Named::Path(c.arg(0), false), c.arg(1))
}

pub fn fremovexattr(c: &mut Ctx<'_>) -> i64 {
    do_removexattr(Named::Fd(c.int(0)), c.arg(1))
}

pub fn memfd_create(c: &mut Ctx<'_>) -> i64 {
    let flags = c.arg(1) as u32;
    if !memfd_flags_ok(flags) {
        return EINVAL;
    }
    let name = match uaccess::read_cstr(c.arg(0), MFD_NAME_MAX) {
        Ok(Some(n)) => n,
        Ok(None) => return EINVAL,
        Err(e) => return e,
    };
    let fd = call_ret(&Request::Fs(FsRequest::MemfdCreate { name: &name, flags }));
    if fd >= 0 {
        FDS.opened(fd as i32, Desc::new(Kind::Memfd, true, true), None);
    }
    fd
}

/// close_range(first, last, flags): the host closes (or, with CLOSE_RANGE_CLOEXEC, marks
/// close-on-exec: the exec sweep reconciles those) the program's descriptors in the range;
/// the descriptor table forgets the closed ones.
pub fn close_range(c: &mut Ctx<'_>) -> i64 {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    let (first, last, flags) = (c.arg(0) as u32, c.arg(1) as u32, c.arg(2) as u32);
    let generation = crate::hypercall::fds_end::current();
    let r = call_ret(&Request::Exec(ExecRequest::CloseRange { first, last, flags }));
    if r == 0 && flags & CLOSE_RANGE_CLOEXEC == 0 {
        FDS.closed_range(first, last);
        // Descriptor numbers are ints: up to INT_MAX is everything from `first` on.
        if last >= i32::MAX as u32 {
            crate::hypercall::fds_end::closed_from(generation, first);
        }
    }
    r
}
