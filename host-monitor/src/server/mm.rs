//! Files behind the guest's file mappings.
//!
//! A Linux mapping keeps its file alive after the program closes the fd, and the guest
//! reads a private file mapping's pages when they are first touched. So at mmap time the
//! monitor duplicates the fd above the program's descriptor range (the duplicate is one of
//! the monitor's own: the program cannot use it, and where the host leaves no room above
//! the program's limit, it moves away when the program names its number) and reads pages
//! through it. Mappings of one file share one duplicate (the monitor has only a few
//! descriptors above the floor), counted, and closed when the guest releases the last
//! mapping. The guest knows a held file by a handle, not by the duplicate's number.

use std::collections::HashMap;
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};

use abi_shared::hypercall::{MalformedReason, MmRequest, Response, SegList};
use abi_shared::linux::errno;

use super::{lock, FdGuard, Server};
use crate::guest_mem::GuestMemory;
use crate::host::sys;
use crate::own_fd::MovableFd;

struct Held {
    key: (u64, u64),
    refs: u32,
    /// The duplicate, shared with a `read` under way: it stays open until that read ends,
    /// even when the guest releases the file meanwhile.
    file: Arc<MovableFd>,
}

/// Held files by handle. Every thread that serves hypercalls uses the one table: its lock
/// is held to look up or change it, never across a read of a file.
#[derive(Default)]
pub struct HeldFiles {
    table: Mutex<Table>,
}

#[derive(Default)]
struct Table {
    by_handle: HashMap<i32, Held>,
    by_file: HashMap<(u64, u64), i32>,
    /// The last handle given (they count up from 1; a forked child goes on counting).
    last_handle: i32,
}

fn errno_ret(e: u32) -> Response {
    Response::Ret(-i64::from(e))
}

/// A failed host call's Linux errno as the request's result.
fn linux_errno_ret(e: crate::host::LinuxErrno) -> Response {
    Response::Ret(-i64::from(e))
}

/// Why `fd` cannot be mapped, or the access mode and stat of its regular file.
fn mappable(fds: &FdGuard, fd: i32) -> Result<(i32, libc::stat), u32> {
    if fd < 0 || fds.is_reserved(fd) {
        return Err(errno::EBADF);
    }
    let flags = sys::status_flags(fd).map_err(|_| errno::EBADF)?;
    let st = sys::fstat(fd).map_err(|_| errno::EBADF)?;
    let mode = flags & libc::O_ACCMODE;
    if mode == libc::O_WRONLY {
        return Err(errno::EACCES);
    }
    if st.st_mode & libc::S_IFMT != libc::S_IFREG {
        return Err(errno::ENODEV);
    }
    Ok((mode, st))
}

impl Server {
    /// Serve one memory request.
    pub(super) fn memory(&self, mem: &GuestMemory, req: &MmRequest<'_>) -> Response {
        match req {
            MmRequest::ReleaseMemory { ranges } => match mem.release(ranges.as_slice()) {
                Ok(zeroed) => Response::Ret(i64::from(zeroed)),
                Err(_) => Response::Malformed(MalformedReason::BadGuestAddress),
            },
            MmRequest::FileHold { fd, write } => self.held_files.hold(&self.fds, *fd, *write),
            MmRequest::FileRead { handle, buf, offset } => self.held_files.read(mem, *handle, buf, *offset),
            MmRequest::FileRelease { handle } => self.held_files.release(&self.fds, *handle),
            MmRequest::FileMapShared { fd, offset, len, gpa, write } => {
                map_shared(&self.fds, mem, *fd, *offset, *len, *gpa, *write)
            }
            MmRequest::FileUnmapShared { gpa, len } => window_op(mem.unmap_window(*gpa, *len)),
            MmRequest::FileSyncShared { gpa, len } => window_op(mem.sync_window(*gpa, *len)),
            MmRequest::FileRemapShared { from, to, len } => window_op(mem.remap_window(*from, *to, *len)),
            MmRequest::FileRemoveShared { gpa, len } => window_op(mem.remove_window(*gpa, *len)),
            MmRequest::WindowPageBacked { gpa } => match mem.window_page_backed(*gpa) {
                Some(backed) => Response::Ret(i64::from(backed)),
                None => Response::Ret(-i64::from(errno::EINVAL)),
            },
        }
    }
}

/// `FileMapShared`: the file at its place in the file window.
fn map_shared(fds: &FdGuard, mem: &GuestMemory, fd: i32, offset: u64, len: u64, gpa: u64, write: bool) -> Response {
    let (mode, st) = match mappable(fds, fd) {
        Ok(v) => v,
        Err(e) => return errno_ret(e),
    };
    let size = st.st_size as u64;
    let writable = mode == libc::O_RDWR;
    if write && !writable {
        return errno_ret(errno::EACCES);
    }
    match mem.map_window(gpa, len, fd, offset, writable) {
        Ok(()) => Response::Ret(((size as i64) << 1) | i64::from(writable)),
        Err(e) => Response::Ret(-i64::from(crate::host::errno_to_linux(e))),
    }
}

/// `FileUnmapShared`, `FileSyncShared`, `FileRemapShared` and `FileRemoveShared`.
fn window_op(result: Result<(), i32>) -> Response {
    match result {
        Ok(()) => Response::Ret(0),
        Err(e) => Response::Ret(-i64::from(crate::host::errno_to_linux(e))),
    }
}

/// A handle no held file has: the next after the last, skipping those in use (after
/// i32::MAX handles it wraps round to 1).
fn next_handle(table: &Table) -> i32 {
    let mut h = table.last_handle;
    loop {
        h = if h >= i32::MAX - 1 { 1 } else { h + 1 };
        if !table.by_handle.contains_key(&h) {
            return h;
        }
    }
}

impl HeldFiles {
    /// `FileHold`: check that `fd` may be mapped as asked, then hold its file.
    pub fn hold(&self, fds: &FdGuard, fd: i32, write: bool) -> Response {
        let (mode, st) = match mappable(fds, fd) {
            Ok(v) => v,
            Err(e) => return errno_ret(e),
        };
        if write && mode != libc::O_RDWR {
            return errno_ret(errno::EACCES);
        }
        #[allow(clippy::unnecessary_cast)] // st_dev and st_ino differ in type between hosts.
        let key = (st.st_dev as u64, st.st_ino as u64);
        // Looked up and inserted under one lock, so that two holds of one file share one
        // duplicate. Duplicating does not block.
        let mut table = lock(&self.table);
        if let Some(&handle) = table.by_file.get(&key) {
            if let Some(h) = table.by_handle.get_mut(&handle) {
                h.refs += 1;
                return Response::Ret(i64::from(handle));
            }
        }
        // The duplicate is one of the monitor's own: the program cannot name it. Above the
        // floor lies beyond the program's RLIMIT_NOFILE, which the host enforces: room is
        // made for it while it is created.
        let duplicate = sys::program_fd(fd).and_then(|fd| {
            crate::startup::with_fd_room(|| sys::dup_above_floor(fd, fds.floor()))
                .map_err(|e| crate::host::errno_to_linux(e.raw_os_error().unwrap_or(libc::EIO)))
        });
        let file = match duplicate {
            Ok(file) => MovableFd::new(file),
            Err(e) => return linux_errno_ret(e),
        };
        fds.reserve(file.raw());
        let handle = next_handle(&table);
        table.last_handle = handle;
        table.by_file.insert(key, handle);
        table.by_handle.insert(handle, Held { key, refs: 1, file });
        Response::Ret(i64::from(handle))
    }

    /// `FileRead`: pread from a held file into guest RAM.
    pub fn read(&self, mem: &GuestMemory, handle: i32, buf: &SegList<'_>, offset: u64) -> Response {
        // A disk read can take long: the table is not locked meanwhile.
        let Some(file) = lock(&self.table).by_handle.get(&handle).map(|h| h.file.clone()) else {
            return errno_ret(errno::EBADF);
        };
        let Ok(iov) = mem.iovecs(buf.as_slice()) else {
            return Response::Malformed(MalformedReason::BadGuestAddress);
        };
        let Ok(offset) = libc::off_t::try_from(offset) else { return errno_ret(errno::EINVAL) };
        let mut done = 0i64;
        // Regular files return short counts only at end of file; loop over the iovecs so
        // that a large read does not depend on preadv's IOV_MAX.
        for chunk in iov.chunks(256) {
            // SAFETY: every iovec was checked to lie inside guest RAM; `fd` is the duplicate
            // this table holds, kept open by our reference and at its number by `with`.
            let read =
                file.with(|fd| unsafe { sys::read_vectored(fd.as_raw_fd(), chunk, Some(offset.saturating_add(done))) });
            let n = match read {
                Ok(n) => n,
                Err(e) => return linux_errno_ret(e),
            };
            done += n;
            if (n as usize) < chunk.iter().map(|v| v.iov_len).sum::<usize>() {
                break;
            }
        }
        Response::Ret(done)
    }

    /// `FileRelease`: one mapping fewer; the last one closes the duplicate (once a read
    /// under way on another thread is done with it).
    pub fn release(&self, fds: &FdGuard, handle: i32) -> Response {
        let mut table = lock(&self.table);
        let Some(h) = table.by_handle.get_mut(&handle) else { return errno_ret(errno::EBADF) };
        h.refs -= 1;
        if h.refs > 0 {
            return Response::Ret(0);
        }
        let key = h.key;
        let released = table.by_handle.remove(&handle);
        table.by_file.remove(&key);
        if let Some(r) = &released {
            fds.unreserve(r.file.raw());
        }
        drop(table);
        // Closed (by the last reference) outside the lock.
        drop(released);
        Response::Ret(0)
    }
}
