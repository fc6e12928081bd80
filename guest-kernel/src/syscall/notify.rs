//! inotify: an inotify instance is the host's, watching the host's files (so changes made
//! by native programs show too). A watched path is a guest path, which the host resolves
//! in the filesystem view as it resolves every path. The event records a read returns are
//! the host's, which are Linux's (the host being Linux).

use alloc::vec;

use abi_shared::hypercall::{FsRequest, NotifyRequest, Request, SegList};

use super::fs::{path, rw_segments};
use super::{Ctx, EFAULT};
use crate::hypercall::{call_ret, kernel_buf_seg};
use crate::mm::{uaccess, Access};
use crate::task::fdtable::{Desc, Kind, FDS};

fn init(flags: i32) -> i64 {
    let fd = call_ret(&Request::Notify(NotifyRequest::InotifyInit { flags }));
    if fd >= 0 {
        FDS.opened(fd as i32, Desc::new(Kind::Inotify, true, false), None);
    }
    fd
}

pub fn inotify_init(_c: &mut Ctx<'_>) -> i64 {
    init(0)
}

/// inotify_init1(flags): IN_NONBLOCK and IN_CLOEXEC, checked by the host.
pub fn inotify_init1(c: &mut Ctx<'_>) -> i64 {
    init(c.int(0))
}

/// inotify_add_watch(fd, path, mask): the host checks the mask and the descriptor.
pub fn inotify_add_watch(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.arg(1)));
    call_ret(&Request::Notify(NotifyRequest::InotifyAddWatch { fd: c.int(0), path: &p, mask: c.arg(2) as u32 }))
}

pub fn inotify_rm_watch(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Notify(NotifyRequest::InotifyRmWatch { fd: c.int(0), wd: c.int(1) }))
}

/// Most bytes one inotify read takes: far more than the largest event (16 bytes and a
/// name of up to NAME_MAX + 1), and a shorter read only returns fewer events.
const READ_MAX: u64 = 16 * 1024;

/// read of an inotify instance, through one contiguous kernel buffer: the host's inotify
/// copies whole events only, so a scatter list (user pages are scattered in guest RAM)
/// would be read piece by piece, failing with EINVAL when the first piece is shorter than
/// an event, or waiting for more events when one happens to fill it. The user buffer is
/// checked first and only its writable start is offered: Linux takes an event off the
/// queue before it finds it cannot copy it (EFAULT, the event lost); here nothing is taken
/// for a buffer that cannot be written.
pub fn read(fd: i32, addr: u64, len: u64) -> i64 {
    let segs = tryret!(rw_segments(addr, len, Access::Write));
    let writable: u64 = segs.iter().map(|s| s.len).sum();
    let buf = vec![0u8; writable.min(READ_MAX) as usize];
    let seg = [kernel_buf_seg(&buf)];
    let n = call_ret(&Request::Fs(FsRequest::Read { fd, buf: SegList::Borrowed(&seg), offset: None }));
    if n <= 0 {
        return n;
    }
    match uaccess::copy_to_user(addr, &buf[..n as usize]) {
        Ok(()) => n,
        Err(_) => EFAULT,
    }
}
