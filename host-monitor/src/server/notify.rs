//! inotify: the program's inotify instance is the host's, so its events (read through the
//! ordinary forwarded read) come from the host's filesystem, native programs' changes
//! included. A watched path is a guest path: it is resolved in the filesystem view as
//! every other path is, and the host watches what it names there.

use abi_shared::hypercall::{NotifyRequest, Response};
use abi_shared::linux::general;

use super::fs::{ret, Fs, Handled};
use super::FdGuard;
use crate::guest_mem::GuestMemory;
use crate::host::sys;
use crate::vfs::{self, Last};

/// Serve one inotify request.
pub fn handle(fds: &FdGuard, mem: &GuestMemory, req: &NotifyRequest<'_>) -> Response {
    let fs = Fs::new(fds, mem, vfs::current());
    let result = match req {
        NotifyRequest::InotifyInit { flags } => init(*flags),
        NotifyRequest::InotifyAddWatch { fd, path, mask } => add_watch(&fs, *fd, path, *mask),
        NotifyRequest::InotifyRmWatch { fd, wd } => rm_watch(&fs, *fd, *wd),
    };
    result.unwrap_or_else(Response::from)
}

/// inotify_init1: Linux's IN_NONBLOCK and IN_CLOEXEC are O_NONBLOCK and O_CLOEXEC, which
/// the host (Linux) checks itself.
fn init(flags: i32) -> Handled {
    ret(sys::inotify_init(flags)?.into())
}

/// IN_DONT_FOLLOW names a final symlink itself, as lstat does.
fn add_watch(fs: &Fs<'_>, fd: i32, path: &[u8], mask: u32) -> Handled {
    let fd = fs.fd(fd)?;
    let last = if mask & general::IN_DONT_FOLLOW != 0 { Last::NoFollow } else { Last::Follow };
    // From the working directory, the host's own (inotify_add_watch has no dirfd): `at`
    // answers AT_FDCWD with the path, or an absolute host path in a mounted view.
    let at = fs.at(general::AT_FDCWD, path, last)?;
    ret(sys::inotify_add_watch(fd, &at.path, mask)?)
}

fn rm_watch(fs: &Fs<'_>, fd: i32, wd: i32) -> Handled {
    sys::inotify_rm_watch(fs.fd(fd)?, wd)?;
    ret(0)
}
