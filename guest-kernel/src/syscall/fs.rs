//! File and descriptor syscalls, forwarded to the host. Arguments are read from user memory
//! here (paths, iovecs) and buffers are passed as guest-physical scatter lists.

use alloc::vec::Vec;

use abi_shared::hypercall::{FsRequest, GuestSeg, Request, Response, SegList};
use abi_shared::linux::errno;
use abi_shared::linux::general::{
    AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_NOFOLLOW, O_CREAT, O_TRUNC, O_WRONLY, S_IFBLK, S_IFCHR, S_IFDIR, S_IFIFO,
    S_IFMT, S_IFREG, S_IFSOCK,
};

use super::{err, Ctx, EFAULT, EINVAL};
use crate::fs::{memdev, procfs};
use crate::hypercall::{call, call_ret, kernel_buf_seg};
use crate::mm::uaccess::{self, user_segments};
use crate::mm::Access;
use crate::task::fdtable::{self, Desc, Kind, FDS};
use abi_shared::linux::PATH_MAX;

/// Linux caps one read or write at this many bytes.
pub(super) const MAX_RW_COUNT: u64 = 0x7fff_f000;
const IOV_MAX: u64 = 1024;

const F_GETFD: i32 = abi_shared::linux::general::F_GETFD as i32;

/// A path argument: at most PATH_MAX bytes including the NUL.
pub(super) fn path(addr: u64) -> Result<Vec<u8>, i64> {
    match uaccess::read_cstr(addr, PATH_MAX - 1)? {
        Some(p) => Ok(p),
        None => Err(err(errno::ENAMETOOLONG)),
    }
}

pub(super) fn segments(addr: u64, len: u64, access: Access) -> Result<Vec<GuestSeg>, i64> {
    let mut segs = Vec::new();
    user_segments(addr, len.min(MAX_RW_COUNT), access, &mut segs)?;
    Ok(segs)
}

/// The scatter list of a read or write buffer. As on Linux, a buffer that is only partly
/// accessible transfers its accessible start (the copy stops at the first bad page); only
/// when nothing of it is accessible is the call EFAULT.
pub(super) fn rw_segments(addr: u64, len: u64, access: Access) -> Result<Vec<GuestSeg>, i64> {
    let mut segs = Vec::new();
    let r = user_segments(addr, len.min(MAX_RW_COUNT), access, &mut segs);
    match r {
        Err(e) if segs.is_empty() => Err(e),
        _ => Ok(segs),
    }
}

/// The scatter list of a user iovec array. Like Linux: the whole array is read first (EFAULT
/// if it cannot be), a negative length or too many entries is EINVAL, a buffer beyond user
/// space is EFAULT; then the transfer covers the buffers up to the first page that cannot
/// be accessed (readv/writev return that partial count), EFAULT only if that is nothing.
pub(super) fn iovec_segments(iov: u64, count: u64, access: Access) -> Result<Vec<GuestSeg>, i64> {
    if count > IOV_MAX {
        return Err(EINVAL);
    }
    // Most calls name a few buffers: read those on the stack, more on the heap.
    let mut small = [0u8; 16 * 16];
    let mut large = Vec::new();
    let bytes = if count <= 16 {
        &mut small[..count as usize * 16]
    } else {
        large.resize(count as usize * 16, 0);
        &mut large[..]
    };
    uaccess::copy_from_user(iov, bytes)?;
    let entries = || {
        bytes.chunks_exact(16).map(|e| {
            let word = |i: usize| {
                u64::from_le_bytes([e[i], e[i + 1], e[i + 2], e[i + 3], e[i + 4], e[i + 5], e[i + 6], e[i + 7]])
            };
            (word(0), word(8))
        })
    };
    let mut total = 0u64;
    for (base, len) in entries() {
        if (len as i64) < 0 {
            return Err(EINVAL);
        }
        let len = len.min(MAX_RW_COUNT - total);
        if base.checked_add(len).is_none_or(|end| end > abi_shared::layout::user::TASK_SIZE) {
            return Err(EFAULT);
        }
        total += len;
    }
    let mut segs = Vec::new();
    let mut left = MAX_RW_COUNT;
    for (base, len) in entries() {
        let len = len.min(left);
        if len == 0 {
            continue;
        }
        if let Err(e) = user_segments(base, len, access, &mut segs) {
            return if segs.is_empty() { Err(e) } else { Ok(segs) };
        }
        left -= len;
    }
    Ok(segs)
}

/// Most segments one request carries: they must fit the request area (a postcard segment is
/// up to ~15 bytes) and the host's per-request limit. Memory built from scattered 4 KiB
/// frames needs one segment per page, so a large transfer goes in several requests.
pub(super) const SEGMENTS_PER_REQUEST: usize = 512;

/// A transfer split into requests of at most SEGMENTS_PER_REQUEST segments; it stops at the
/// first short or failed one, returning what was done before it (as one large host call
/// would have ended early).
fn chunked(segs: &[GuestSeg], offset: Option<i64>, mut one: impl FnMut(&[GuestSeg], Option<i64>) -> i64) -> i64 {
    // A transfer of nothing still goes to the host, which checks the descriptor (EBADF,
    // EISDIR, ESPIPE) as Linux does before it finds there is nothing to move.
    if segs.is_empty() {
        return one(&[], offset);
    }
    let mut done: i64 = 0;
    for chunk in segs.chunks(SEGMENTS_PER_REQUEST.max(1)) {
        let want: u64 = chunk.iter().map(|s| s.len).sum();
        let r = one(chunk, offset.map(|o| o.saturating_add(done)));
        if r < 0 {
            return if done > 0 { done } else { r };
        }
        done += r;
        if (r as u64) < want {
            break;
        }
    }
    done
}

fn do_read(fd: i32, segs: &[GuestSeg], offset: Option<i64>) -> i64 {
    chunked(segs, offset, |chunk, off| {
        call_ret(&Request::Fs(FsRequest::Read { fd, buf: SegList::Borrowed(chunk), offset: off }))
    })
}

/// A write to a pipe or socket nobody reads fails with EPIPE and raises SIGPIPE, as on Linux
/// (the monitor itself ignores SIGPIPE, so the host only reports EPIPE).
fn do_write(fd: i32, segs: &[GuestSeg], offset: Option<i64>) -> i64 {
    let r = chunked(segs, offset, |chunk, off| {
        call_ret(&Request::Fs(FsRequest::Write { fd, buf: SegList::Borrowed(chunk), offset: off }))
    });
    if r == err(errno::EPIPE) {
        crate::signal::raise(crate::signal::SigInfo::sent_by(
            abi_shared::linux::signal::SIGPIPE,
            crate::signal::SI_USER,
            crate::task::pid(),
            crate::task::uid(),
        ));
    }
    r
}

pub fn read(c: &mut Ctx<'_>) -> i64 {
    let desc = fdtable::get(c.int(0));
    if let Some(r) = memdev::read(c.int(0), desc, c.arg(1), c.arg(2), None) {
        return r;
    }
    if desc.kind == Kind::Inotify {
        return super::notify::read(c.int(0), c.arg(1), c.arg(2));
    }
    if desc.kind == Kind::Proc && procfs::refuses_read(c.int(0)) {
        return err(errno::EBADF);
    }
    let segs = tryret!(rw_segments(c.arg(1), c.arg(2), Access::Write));
    do_read(c.int(0), &segs, None)
}

pub fn write(c: &mut Ctx<'_>) -> i64 {
    let desc = fdtable::get(c.int(0));
    if let Some(r) = memdev::write(desc, c.arg(1), c.arg(2)) {
        return r;
    }
    if desc.kind == Kind::Proc {
        if let Some(r) = procfs::write(c.int(0), c.arg(1), c.arg(2)) {
            return r;
        }
    }
    let segs = tryret!(rw_segments(c.arg(1), c.arg(2), Access::Read));
    do_write(c.int(0), &segs, None)
}

pub fn pread64(c: &mut Ctx<'_>) -> i64 {
    if (c.arg(3) as i64) < 0 {
        return EINVAL;
    }
    if let Some(r) = memdev::read(c.int(0), fdtable::get(c.int(0)), c.arg(1), c.arg(2), Some(c.arg(3) as i64)) {
        return r;
    }
    let segs = tryret!(rw_segments(c.arg(1), c.arg(2), Access::Write));
    do_read(c.int(0), &segs, Some(c.arg(3) as i64))
}

pub fn pwrite64(c: &mut Ctx<'_>) -> i64 {
    if (c.arg(3) as i64) < 0 {
        return EINVAL;
    }
    let desc = fdtable::get(c.int(0));
    if let Some(r) = memdev::write(desc, c.arg(1), c.arg(2)) {
        return r;
    }
    if desc.kind == Kind::Proc {
        if let Some(r) = procfs::write(c.int(0), c.arg(1), c.arg(2)) {
            return r;
        }
    }
    let segs = tryret!(rw_segments(c.arg(1), c.arg(2), Access::Read));
    do_write(c.int(0), &segs, Some(c.arg(3) as i64))
}

/// The vectored calls move nothing as the host's vectored calls do (a readv of nothing on a
/// directory is 0, where read is EISDIR): one empty segment keeps the host on readv.
fn vectored(segs: Vec<GuestSeg>) -> Vec<GuestSeg> {
    if segs.is_empty() {
        alloc::vec![GuestSeg { gpa: 0, len: 0 }]
    } else {
        segs
    }
}

pub fn readv(c: &mut Ctx<'_>) -> i64 {
    let segs = vectored(tryret!(iovec_segments(c.arg(1), c.arg(2), Access::Write)));
    do_read(c.int(0), &segs, None)
}

pub fn writev(c: &mut Ctx<'_>) -> i64 {
    let segs = vectored(tryret!(iovec_segments(c.arg(1), c.arg(2), Access::Read)));
    do_write(c.int(0), &segs, None)
}

pub fn preadv(c: &mut Ctx<'_>) -> i64 {
    let segs = vectored(tryret!(iovec_segments(c.arg(1), c.arg(2), Access::Write)));
    do_read(c.int(0), &segs, Some(c.arg(3) as i64))
}

pub fn pwritev(c: &mut Ctx<'_>) -> i64 {
    let segs = vectored(tryret!(iovec_segments(c.arg(1), c.arg(2), Access::Read)));
    do_write(c.int(0), &segs, Some(c.arg(3) as i64))
}

// preadv2/pwritev2's RWF_* flags (linux/fs.h).
const RWF_HIPRI: u64 = 0x1;
const RWF_DSYNC: u64 = 0x2;
const RWF_SYNC: u64 = 0x4;
/// Every flag Linux knows: NOWAIT, APPEND, NOAPPEND, ATOMIC, DONTCACHE besides the three.
const RWF_KNOWN: u64 = 0xff;

pub fn preadv2(c: &mut Ctx<'_>) -> i64 {
    let (offset, flags) = (tryret!(rw2_offset(c.arg(3) as i64)), c.arg(5));
    let segs = vectored(tryret!(iovec_segments(c.arg(1), c.arg(2), Access::Write)));
    tryret!(rw2_flags(flags));
    // RWF_HIPRI asks for polled I/O, a hint; the sync flags are for writes.
    do_read(c.int(0), &segs, offset)
}

pub fn pwritev2(c: &mut Ctx<'_>) -> i64 {
    let (offset, flags) = (tryret!(rw2_offset(c.arg(3) as i64)), c.arg(5));
    let segs = vectored(tryret!(iovec_segments(c.arg(1), c.arg(2), Access::Read)));
    tryret!(rw2_flags(flags));
    let n = do_write(c.int(0), &segs, offset);
    if n > 0 && flags & (RWF_DSYNC | RWF_SYNC) != 0 {
        // O_DSYNC / O_SYNC for this write: on the disk before the call returns.
        let fd = c.int(0);
        let synced = if flags & RWF_SYNC != 0 {
            call_ret(&Request::Fs(FsRequest::Fsync { fd }))
        } else {
            call_ret(&Request::Fs(FsRequest::Fdatasync { fd }))
        };
        // A pipe or socket cannot be synced (EINVAL) and Linux's write ignores the flags.
        if synced < 0 && synced != EINVAL {
            return synced;
        }
    }
    n
}

/// preadv2/pwritev2's offset: -1 is the file position (as readv/writev), other negative
/// offsets EINVAL.
fn rw2_offset(offset: i64) -> Result<Option<i64>, i64> {
    match offset {
        -1 => Ok(None),
        o if o < 0 => Err(EINVAL),
        o => Ok(Some(o)),
    }
}

/// The RWF_* flags served: HIPRI, DSYNC, SYNC. Unknown ones are EOPNOTSUPP, as Linux
/// answers; known ones linuxrun lacks (NOWAIT, APPEND, ...) too, what Linux answers for a
/// file that cannot honour them, and they are counted.
fn rw2_flags(flags: u64) -> Result<(), i64> {
    let unserved = flags & !(RWF_HIPRI | RWF_DSYNC | RWF_SYNC);
    if unserved == 0 {
        return Ok(());
    }
    if unserved & !RWF_KNOWN == 0 {
        super::unsupported(crate::stats::Unsupported::RwFlags, unserved);
    }
    Err(err(errno::EOPNOTSUPP))
}

fn do_openat(dirfd: i32, path_addr: u64, flags: i32, mode: u32) -> i64 {
    let p = tryret!(path(path_addr));
    if let Some(r) = procfs::openat(dirfd, &p, flags, mode) {
        return r;
    }
    match call(&Request::Fs(FsRequest::Openat { dirfd, path: &p, flags, mode })) {
        Response::OpenedCharDevice { fd, rdev } => {
            memdev::opened(fd, flags, rdev);
            fd
        }
        other => crate::hypercall::ret_of(other),
    }
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

/// close releases the number even when it reports an error: the table forgets it first,
/// so that no new open of the number can meet the old kind.
pub fn close(c: &mut Ctx<'_>) -> i64 {
    if let Some(r) = crate::hypercall::fds_end::close_past_end(c.int(0)) {
        return r;
    }
    FDS.closed(c.int(0));
    crate::hypercall::fds_end::after_close(call_ret(&Request::Fs(FsRequest::Close { fd: c.int(0) })))
}

pub fn lseek(c: &mut Ctx<'_>) -> i64 {
    if fdtable::kind(c.int(0)) != Kind::Proc {
        return call_ret(&Request::Fs(FsRequest::Lseek {
            fd: c.int(0),
            offset: c.arg(1) as i64,
            whence: c.arg(2) as u32,
        }));
    }
    if let Some(r) = procfs::lseek(c.int(0), c.arg(1) as i64, c.arg(2) as u32) {
        return r;
    }
    call_ret(&Request::Fs(FsRequest::Lseek { fd: c.int(0), offset: c.arg(1) as i64, whence: c.arg(2) as u32 }))
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
    if let Some(r) = procfs::fstatat(dirfd, &p, out, flags) {
        return r;
    }
    host_stat_into(&Request::Fs(FsRequest::Fstatat { dirfd, path: &p, flags }), out)
}

/// fstat and newfstatat: the host's `Stat` answer copied to `out`.
fn host_stat_into(req: &Request<'_>, out: u64) -> i64 {
    match crate::hypercall::call_stat(req) {
        Ok(st) => uaccess::write_struct(out, &st).map_or(EFAULT, |_| 0),
        Err(e) => e,
    }
}

pub fn stat(c: &mut Ctx<'_>) -> i64 {
    do_fstatat(AT_FDCWD, c.arg(0), c.arg(1), 0)
}

pub fn lstat(c: &mut Ctx<'_>) -> i64 {
    do_fstatat(AT_FDCWD, c.arg(0), c.arg(1), AT_SYMLINK_NOFOLLOW as i32)
}

pub fn newfstatat(c: &mut Ctx<'_>) -> i64 {
    do_fstatat(c.int(0), c.arg(1), c.arg(2), c.int(3))
}

pub fn fstat(c: &mut Ctx<'_>) -> i64 {
    if fdtable::kind(c.int(0)) == Kind::Proc {
        if let Some(r) = procfs::fstat(c.int(0), c.arg(1)) {
            return r;
        }
    }
    host_stat_into(&Request::Fs(FsRequest::Fstat { fd: c.int(0) }), c.arg(1))
}

pub fn statx(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(1)));
    if let Some(r) = procfs::statx(c.int(0), &p, c.int(2), c.arg(3) as u32, c.arg(4)) {
        return r;
    }
    stat_into(
        &Request::Fs(FsRequest::Statx { dirfd: c.int(0), path: &p, flags: c.int(2), mask: c.arg(3) as u32 }),
        c.arg(4),
    )
}

pub fn getdents64(c: &mut Ctx<'_>) -> i64 {
    if fdtable::kind(c.int(0)) == Kind::Proc {
        if let Some(r) = procfs::getdents64(c.int(0), c.arg(1), c.arg(2).min(MAX_RW_COUNT)) {
            return r;
        }
    }
    let segs = tryret!(segments(c.arg(1), c.arg(2), Access::Write));
    call_ret(&Request::Fs(FsRequest::Getdents64 { fd: c.int(0), buf: SegList::Borrowed(&segs) }))
}

/// getdents, the call glibc before 2.30 made for readdir (old static programs still do):
/// getdents64's records rewritten in place into `struct linux_dirent`'s layout, which
/// takes exactly as many bytes per entry (the name one byte earlier, d_type in the last
/// byte of the record).
pub fn getdents(c: &mut Ctx<'_>) -> i64 {
    let n = getdents64(c);
    if n > 0 {
        tryret!(old_dirents_in_place(c.arg(1), n as u64));
    }
    n
}

/// Rewrite the `len` bytes of getdents64 records at `buf` as `struct linux_dirent`s.
fn old_dirents_in_place(buf: u64, len: u64) -> Result<(), i64> {
    // d_ino, d_off, d_reclen, d_type, then the name (linux_dirent64).
    const NAME64: usize = 19;
    let mut off = 0u64;
    while off < len {
        let mut rec = [0u8; 512];
        uaccess::copy_from_user(buf + off, &mut rec[..NAME64])?;
        let reclen = usize::from(u16::from_le_bytes([rec[16], rec[17]]));
        if !(NAME64 + 1..=rec.len()).contains(&reclen) || off + reclen as u64 > len {
            return Err(EFAULT);
        }
        uaccess::copy_from_user(buf + off + NAME64 as u64, &mut rec[NAME64..reclen])?;
        let d_type = rec[18];
        let name_len = rec[NAME64..reclen].iter().position(|&b| b == 0).unwrap_or(reclen - NAME64);
        rec.copy_within(NAME64..NAME64 + name_len, NAME64 - 1);
        rec[NAME64 - 1 + name_len] = 0;
        rec[reclen - 1] = d_type;
        uaccess::copy_to_user(buf + off, &rec[..reclen])?;
        off += reclen as u64;
    }
    Ok(())
}

/// Where a call that makes or removes a name goes: itself, or what a /proc link in the
/// path leads to; an Err is the answer for a name in /proc itself.
fn entry_target(dirfd: i32, p: Vec<u8>, what: procfs::NameOp) -> Result<(i32, Vec<u8>), i64> {
    procfs::entry_target(dirfd, &p, what).unwrap_or(Ok((dirfd, p)))
}

fn do_mkdirat(dirfd: i32, path_addr: u64, mode: u32) -> i64 {
    let p = tryret!(path(path_addr));
    let (dirfd, p) = tryret!(entry_target(dirfd, p, procfs::NameOp::Make));
    call_ret(&Request::Fs(FsRequest::Mkdirat { dirfd, path: &p, mode }))
}

pub fn mkdir(c: &mut Ctx<'_>) -> i64 {
    do_mkdirat(AT_FDCWD, c.arg(0), c.arg(1) as u32)
}

pub fn mkdirat(c: &mut Ctx<'_>) -> i64 {
    do_mkdirat(c.int(0), c.arg(1), c.arg(2) as u32)
}

/// mknodat: as Linux, the path is read first, then the file type checked (may_mknod: a
/// directory is EPERM, a symlink or unknown type EINVAL), then the node made by the host.
/// The mode is a umode_t and the device an unsigned int (Linux's 32-bit encoding).
fn do_mknodat(dirfd: i32, path_addr: u64, mode: u64, dev: u64) -> i64 {
    let p = tryret!(path(path_addr));
    let mode = u32::from(mode as u16);
    match mode & S_IFMT {
        0 | S_IFREG | S_IFIFO | S_IFSOCK | S_IFCHR | S_IFBLK => {}
        S_IFDIR => return err(errno::EPERM),
        _ => return EINVAL,
    }
    let (dirfd, p) = tryret!(entry_target(dirfd, p, procfs::NameOp::Make));
    call_ret(&Request::Fs(FsRequest::Mknodat { dirfd, path: &p, mode, dev: dev as u32 }))
}

pub fn mknod(c: &mut Ctx<'_>) -> i64 {
    do_mknodat(AT_FDCWD, c.arg(0), c.arg(1), c.arg(2))
}

pub fn mknodat(c: &mut Ctx<'_>) -> i64 {
    do_mknodat(c.int(0), c.arg(1), c.arg(2), c.arg(3))
}

fn do_unlinkat(dirfd: i32, path_addr: u64, flags: i32) -> i64 {
    let p = tryret!(path(path_addr));
    let (dirfd, p) = tryret!(entry_target(dirfd, p, procfs::NameOp::Remove));
    call_ret(&Request::Fs(FsRequest::Unlinkat { dirfd, path: &p, flags }))
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
    call_ret(&Request::Fs(FsRequest::Renameat2 { olddirfd, oldpath: &oldpath, newdirfd, newpath: &newpath, flags }))
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
    call_ret(&Request::Fs(FsRequest::Symlinkat { target: &t, newdirfd, linkpath: &l }))
}

pub fn symlink(c: &mut Ctx<'_>) -> i64 {
    do_symlinkat(c.arg(0), AT_FDCWD, c.arg(1))
}

pub fn symlinkat(c: &mut Ctx<'_>) -> i64 {
    do_symlinkat(c.arg(0), c.int(1), c.arg(2))
}

fn do_readlinkat(dirfd: i32, path_addr: u64, buf: u64, size: u64) -> i64 {
    // Linux's bufsiz is an int.
    let size = size as i32;
    if size <= 0 {
        return EINVAL;
    }
    let size = size as u64;
    let p = tryret!(path(path_addr));
    if let Some(r) = procfs::readlinkat(dirfd, &p, buf, size.min(MAX_RW_COUNT)) {
        return r;
    }
    let segs = tryret!(segments(buf, size, Access::Write));
    call_ret(&Request::Fs(FsRequest::Readlinkat { dirfd, path: &p, buf: SegList::Borrowed(&segs) }))
}

pub fn readlink(c: &mut Ctx<'_>) -> i64 {
    do_readlinkat(AT_FDCWD, c.arg(0), c.arg(1), c.arg(2))
}

pub fn readlinkat(c: &mut Ctx<'_>) -> i64 {
    do_readlinkat(c.int(0), c.arg(1), c.arg(2), c.arg(3))
}

pub fn truncate(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(0)));
    let (dirfd, p) = tryret!(through_proc(AT_FDCWD, p, true));
    if dirfd != AT_FDCWD && !p.starts_with(b"/") {
        // A /proc link relative to a directory fd (cwd): truncate takes no dirfd.
        return err(errno::EOPNOTSUPP);
    }
    call_ret(&Request::Fs(FsRequest::Truncate { path: &p, length: c.arg(1) as i64 }))
}

pub fn ftruncate(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fs(FsRequest::Ftruncate { fd: c.int(0), length: c.arg(1) as i64 }))
}

pub fn fsync(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fs(FsRequest::Fsync { fd: c.int(0) }))
}

pub fn fdatasync(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fs(FsRequest::Fdatasync { fd: c.int(0) }))
}

pub fn sync(_: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fs(FsRequest::Sync))
}

pub fn syncfs(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fs(FsRequest::Syncfs { fd: c.int(0) }))
}

fn do_fchmodat(dirfd: i32, path_addr: u64, mode: u32) -> i64 {
    let p = tryret!(path(path_addr));
    let (dirfd, p) = tryret!(through_proc(dirfd, p, true));
    call_ret(&Request::Fs(FsRequest::Fchmodat { dirfd, path: &p, mode }))
}

/// Where a path-based change really goes: itself, or what a /proc link it names points at.
pub(super) fn through_proc(dirfd: i32, p: Vec<u8>, follow: bool) -> Result<(i32, Vec<u8>), i64> {
    procfs::change_target(dirfd, &p, follow).unwrap_or(Ok((dirfd, p)))
}

pub fn chmod(c: &mut Ctx<'_>) -> i64 {
    do_fchmodat(AT_FDCWD, c.arg(0), c.arg(1) as u32)
}

pub fn fchmodat(c: &mut Ctx<'_>) -> i64 {
    do_fchmodat(c.int(0), c.arg(1), c.arg(2) as u32)
}

pub fn fchmod(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Fs(FsRequest::Fchmod { fd: c.int(0), mode: c.arg(1) as u32 }))
}

fn do_faccessat(dirfd: i32, path_addr: u64, mode: i32, flags: i32) -> i64 {
    let p = tryret!(path(path_addr));
    if let Some(r) = procfs::faccessat(dirfd, &p, mode, flags) {
        return r;
    }
    call_ret(&Request::Fs(FsRequest::Faccessat { dirfd, path: &p, mode, flags }))
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

/// getcwd in Linux's order: the path is found first (into a kernel buffer), a buffer too
/// small for it is ERANGE whatever its address, and only then is it copied out (EFAULT).
/// A path longer than PATH_MAX is ENAMETOOLONG.
pub fn getcwd(c: &mut Ctx<'_>) -> i64 {
    let cwd = alloc::vec![0u8; PATH_MAX];
    let seg = [kernel_buf_seg(&cwd)];
    let n = call_ret(&Request::Fs(FsRequest::Getcwd { buf: SegList::Borrowed(&seg) }));
    if n == err(errno::ERANGE) {
        return err(errno::ENAMETOOLONG);
    }
    if n < 0 {
        return n;
    }
    if n as u64 > c.arg(1) {
        return err(errno::ERANGE);
    }
    uaccess::copy_to_user(c.arg(0), &cwd[..n as usize]).map_or(EFAULT, |_| n)
}

pub fn chdir(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(0)));
    if let Some(r) = procfs::chdir(&p) {
        return r;
    }
    call_ret(&Request::Fs(FsRequest::Chdir { path: &p }))
}

/// chroot: the monitor makes the directory the root of the process's filesystem view.
pub fn chroot(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(0)));
    call_ret(&Request::Fs(FsRequest::Chroot { path: &p }))
}

pub fn fchdir(c: &mut Ctx<'_>) -> i64 {
    if let Some(r) = procfs::fchdir(c.int(0)) {
        return r;
    }
    call_ret(&Request::Fs(FsRequest::Fchdir { fd: c.int(0) }))
}

/// A dup-like call on `old` returned `r`: a new number (or, for dup2/dup3, the target,
/// replaced) now names the same open file. A failure changed nothing (every error of
/// dup3 comes before it closes the target).
pub(super) fn record_dup(old: i32, r: i64) -> i64 {
    if let Ok(new) = i32::try_from(r) {
        if new >= 0 {
            FDS.duplicated(old, new);
        }
    }
    r
}

pub fn dup(c: &mut Ctx<'_>) -> i64 {
    let r = call_ret(&Request::Fs(FsRequest::Dup { fd: c.int(0) }));
    record_dup(c.int(0), r)
}

pub fn dup2(c: &mut Ctx<'_>) -> i64 {
    let (old, new) = (c.int(0), c.int(1));
    if old == new {
        // dup2(fd, fd) returns fd if it is open (dup3 would say EINVAL).
        let r = call_ret(&Request::Fs(FsRequest::Fcntl { fd: old, cmd: F_GETFD, arg: 0 }));
        return if r < 0 { r } else { old as i64 };
    }
    let r = call_ret(&Request::Fs(FsRequest::Dup3 { oldfd: old, newfd: new, flags: 0 }));
    record_dup(old, r)
}

pub fn dup3(c: &mut Ctx<'_>) -> i64 {
    let r = call_ret(&Request::Fs(FsRequest::Dup3 { oldfd: c.int(0), newfd: c.int(1), flags: c.int(2) }));
    record_dup(c.int(0), r)
}

/// The host creates the files, so it must have the mask; the task keeps a copy for /proc.
pub fn umask(c: &mut Ctx<'_>) -> i64 {
    let mask = (c.arg(0) & 0o777) as u32;
    let old = call_ret(&Request::Fs(FsRequest::Umask { mask }));
    if old >= 0 {
        crate::task::set_umask(mask);
    }
    old
}

/// pipe2 as Linux does it: make the pipe, then store the two fds; if they cannot be stored
/// the pipe is closed again and the call is EFAULT.
fn do_pipe2(fds: u64, flags: i32) -> i64 {
    let [r, w] = match call(&Request::Fs(FsRequest::Pipe2 { flags })) {
        Response::Fds(pair) => pair,
        Response::Ret(e) => return e,
        _ => return EFAULT,
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&r.to_le_bytes());
    out[4..].copy_from_slice(&w.to_le_bytes());
    if uaccess::copy_to_user(fds, &out).is_err() {
        call_ret(&Request::Fs(FsRequest::Close { fd: r }));
        call_ret(&Request::Fs(FsRequest::Close { fd: w }));
        return EFAULT;
    }
    FDS.opened(r, Desc::new(Kind::Pipe, true, false), None);
    FDS.opened(w, Desc::new(Kind::Pipe, false, true), None);
    0
}

pub fn pipe(c: &mut Ctx<'_>) -> i64 {
    do_pipe2(c.arg(0), 0)
}

pub fn pipe2(c: &mut Ctx<'_>) -> i64 {
    do_pipe2(c.arg(0), c.int(1))
}
