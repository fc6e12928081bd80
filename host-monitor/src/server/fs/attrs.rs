//! Names and attributes: hard links, times, owners, the canonical path, and the xattr
//! read side (the write side is in extra.rs).

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;

use abi_shared::hypercall::{MalformedReason, SegList, XattrTarget};
use abi_shared::linux::{errno, general, PATH_MAX};

use super::{c_path, host_cwd, last_from_at_flags, ret, same_mount, Failure, Fs, Handled, HostAt, ERANGE};
use crate::host::{self, sys, LinuxErrno};
use crate::vfs::{Last, Mounted, View};

/// Linux's largest xattr value and name list (XATTR_SIZE_MAX, XATTR_LIST_MAX).
const XATTR_MAX: u64 = 65536;

impl Fs<'_> {
    pub(super) fn linkat(&self, olddirfd: i32, oldpath: &[u8], newdirfd: i32, newpath: &[u8], flags: i32) -> Handled {
        let follow = if flags as u32 & general::AT_SYMLINK_FOLLOW != 0 { Last::Follow } else { Last::NoFollow };
        let old = self.at(olddirfd, oldpath, follow)?;
        let new = self.at(newdirfd, newpath, Last::Parent)?;
        same_mount(&old, &new)?;
        let flags = host::link_flags_to_host(flags)?;
        sys::linkat(old.dirfd, &old.path, new.dirfd, &new.path, flags)?;
        ret(0)
    }

    /// utimensat; a NULL path names `dirfd` itself (futimens), NULL times mean now.
    pub(super) fn utimensat(
        &self,
        dirfd: i32,
        path: Option<&[u8]>,
        times: Option<&[(i64, i64); 2]>,
        flags: i32,
    ) -> Handled {
        let (dirfd, path) = match path {
            Some(p) => {
                let at = self.at(dirfd, p, last_from_at_flags(flags))?;
                (at.dirfd, Some(at.path))
            }
            None => (self.dirfd(dirfd)?, None),
        };
        let flags = host::utimensat_flags_to_host(flags)?;
        let times = times.map(|t| {
            t.map(|(sec, nsec)| libc::timespec { tv_sec: sec as libc::time_t, tv_nsec: host::utime_nsec_to_host(nsec) })
        });
        sys::utimensat(dirfd, path.as_deref(), times.as_ref(), flags)?;
        ret(0)
    }

    pub(super) fn fchownat(&self, dirfd: i32, path: &[u8], uid: u32, gid: u32, flags: i32) -> Handled {
        let HostAt { dirfd, path, .. } = self.at(dirfd, path, last_from_at_flags(flags))?;
        let flags = host::chown_flags_to_host(flags)?;
        sys::fchownat(dirfd, &path, uid, gid, flags)?;
        ret(0)
    }

    pub(super) fn fchown(&self, fd: i32, uid: u32, gid: u32) -> Handled {
        sys::fchown(self.fd(fd)?, uid, gid)?;
        ret(0)
    }

    /// The canonical absolute path of `path`, without NUL, into the segments.
    pub(super) fn realpath(&self, path: &[u8], buf: &SegList<'_>) -> Handled {
        if let View::Mounted(view) = self.view {
            return self.guest_realpath(view, path, buf);
        }
        let cpath = c_path(path)?;
        let len = self.out_len(buf, PATH_MAX)?;
        let resolved = std::fs::canonicalize(std::ffi::OsStr::from_bytes(cpath.as_bytes()))
            .map_err(|e| Failure::Errno(host::errno_to_linux(e.raw_os_error().unwrap_or(libc::EIO))))?;
        let bytes = resolved.as_os_str().as_bytes();
        if bytes.len() > len {
            return Err(Failure::Errno(ERANGE));
        }
        ret(self.copy_out(buf.as_slice(), bytes, bytes.len() as i64)?)
    }

    /// realpath in a mounted view: the walk's own result, a guest path.
    pub(super) fn guest_realpath(&self, view: &Mounted, path: &[u8], buf: &SegList<'_>) -> Handled {
        let len = self.out_len(buf, PATH_MAX)?;
        let resolved = match self.resolve_in(view, general::AT_FDCWD, host_cwd(), path, Last::Follow)? {
            Some(r) if r.exists => r.guest,
            Some(_) => return Err(Failure::Errno(errno::ENOENT as LinuxErrno)),
            // Relative to a working directory the view does not show: the host's answer.
            None => {
                let host = std::fs::canonicalize(std::ffi::OsStr::from_bytes(path))
                    .map_err(|e| Failure::Errno(host::errno_to_linux(e.raw_os_error().unwrap_or(libc::EIO))))?;
                let host = host.as_os_str().as_bytes();
                view.table().guest_of(host).unwrap_or_else(|| host.to_vec())
            }
        };
        if resolved.len() > len {
            return Err(Failure::Errno(ERANGE));
        }
        ret(self.copy_out(buf.as_slice(), &resolved, resolved.len() as i64)?)
    }

    /// getxattr and friends: the value's size when `size` is 0, else the value (ERANGE when
    /// it does not fit), as the host reports it.
    pub(super) fn getxattr(&self, target: &XattrTarget<'_>, name: &[u8], buf: &SegList<'_>, size: u64) -> Handled {
        let name = CString::new(name).map_err(|_| Failure::Malformed(MalformedReason::Decode))?;
        let len = if size == 0 { 0 } else { self.out_len(buf, size.min(XATTR_MAX) as usize)? };
        let mut value = vec![0u8; len];
        let n = sys::getxattr(&self.xattr_target(target)?, &name, &mut value)?;
        if len == 0 {
            return ret(n as i64);
        }
        ret(self.copy_out(buf.as_slice(), &value, n as i64)?)
    }

    /// listxattr and friends: the size of the name list when `size` is 0, else the list.
    pub(super) fn listxattr(&self, target: &XattrTarget<'_>, buf: &SegList<'_>, size: u64) -> Handled {
        let len = if size == 0 { 0 } else { self.out_len(buf, size.min(XATTR_MAX) as usize)? };
        let mut names = vec![0u8; len];
        let n = sys::listxattr(&self.xattr_target(target)?, &mut names)?;
        if len == 0 {
            return ret(n as i64);
        }
        ret(self.copy_out(buf.as_slice(), &names, n as i64)?)
    }
}
