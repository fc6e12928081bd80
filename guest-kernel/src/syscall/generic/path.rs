//! Calls on paths and descriptors that the host serves as they come (the bring-up set:
//! no /proc, no descriptor kinds of the guest's own yet).

use abi_shared::hypercall::{ExecRequest, FsRequest, Request, Response, SegList};
use abi_shared::linux::Pod;

use super::{Ctx, EFAULT, EINVAL, ENOSYS};
use crate::bringup::{hypercall, uspace};
use abi_shared::linux::PATH_MAX;

const ERANGE: i64 = -(abi_shared::linux::errno::ERANGE as i64);
const ENAMETOOLONG: i64 = -(abi_shared::linux::errno::ENAMETOOLONG as i64);
const UTIME_OMIT: i64 = abi_shared::linux::general::UTIME_OMIT as i64;

fn path(addr: u64) -> Result<alloc::vec::Vec<u8>, i64> {
    match uspace::with(|s| s.read_cstr(addr, PATH_MAX)) {
        Some(p) => Ok(p),
        None => Err(EFAULT),
    }
}

pub fn mkdirat(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.args[1]));
    hypercall::call_ret(&Request::Fs(FsRequest::Mkdirat { dirfd: c.args[0] as i32, path: &p, mode: c.args[2] as u32 }))
}

pub fn unlinkat(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.args[1]));
    hypercall::call_ret(&Request::Fs(FsRequest::Unlinkat {
        dirfd: c.args[0] as i32,
        path: &p,
        flags: c.args[2] as i32,
    }))
}

pub fn symlinkat(c: &mut Ctx<'_>) -> i64 {
    let target = tryret!(path(c.args[0]));
    let link = tryret!(path(c.args[2]));
    hypercall::call_ret(&Request::Fs(FsRequest::Symlinkat {
        target: &target,
        newdirfd: c.args[1] as i32,
        linkpath: &link,
    }))
}

pub fn linkat(c: &mut Ctx<'_>) -> i64 {
    let old = tryret!(path(c.args[1]));
    let new = tryret!(path(c.args[3]));
    hypercall::call_ret(&Request::Fs(FsRequest::Linkat {
        olddirfd: c.args[0] as i32,
        oldpath: &old,
        newdirfd: c.args[2] as i32,
        newpath: &new,
        flags: c.args[4] as i32,
    }))
}

fn rename(c: &Ctx<'_>, flags: u32) -> i64 {
    let old = tryret!(path(c.args[1]));
    let new = tryret!(path(c.args[3]));
    hypercall::call_ret(&Request::Fs(FsRequest::Renameat2 {
        olddirfd: c.args[0] as i32,
        oldpath: &old,
        newdirfd: c.args[2] as i32,
        newpath: &new,
        flags,
    }))
}

pub fn renameat(c: &mut Ctx<'_>) -> i64 {
    rename(c, 0)
}

pub fn renameat2(c: &mut Ctx<'_>) -> i64 {
    rename(c, c.args[4] as u32)
}

/// The program's path as the exec named it, and once asked for, its absolute path with
/// symlinks resolved (what /proc/self/exe shows; task/exe.rs on x86_64).
static EXE: spin::Mutex<(alloc::vec::Vec<u8>, Option<alloc::vec::Vec<u8>>)> =
    spin::Mutex::new((alloc::vec::Vec::new(), None));

/// A relative path means the working directory of now, which the program may change:
/// it is resolved at once; an absolute one waits for the first readlink.
pub fn init_exe(path: &[u8]) {
    let resolved = (!path.starts_with(b"/")).then(|| absolute_path(path));
    *EXE.lock() = (path.to_vec(), resolved);
}

/// `path` made absolute by the host (symlinks, `.` and `..` resolved), or as it is if the
/// host cannot.
fn absolute_path(path: &[u8]) -> alloc::vec::Vec<u8> {
    let mut buf = alloc::vec![0u8; PATH_MAX];
    let seg = [hypercall::kernel_buf_seg(&buf)];
    let n = hypercall::call_ret(&Request::Fs(FsRequest::Realpath { path, buf: SegList::Borrowed(&seg) }));
    if n > 0 {
        buf.truncate(n as usize);
        buf
    } else {
        path.to_vec()
    }
}

fn exe_path() -> alloc::vec::Vec<u8> {
    let mut exe = EXE.lock();
    if exe.1.is_none() {
        let abs = absolute_path(&exe.0);
        exe.1 = Some(abs);
    }
    exe.1.clone().unwrap_or_default()
}

/// /proc/self/exe and /proc/<our pid>/exe name the program, not the host's process (the
/// monitor): the guest answers them.
fn is_own_exe_link(p: &[u8]) -> bool {
    let Some(rest) = p.strip_prefix(b"/proc/").and_then(|r| r.strip_suffix(b"/exe")) else { return false };
    rest == b"self" || rest == alloc::format!("{}", super::ids().pid).as_bytes()
}

pub fn readlinkat(c: &mut Ctx<'_>) -> i64 {
    if (c.args[3] as i64) <= 0 {
        return EINVAL;
    }
    let p = tryret!(path(c.args[1]));
    if is_own_exe_link(&p) {
        let exe = exe_path();
        let n = exe.len().min(c.args[3] as usize);
        return if uspace::with(|s| s.copy_out(c.args[2], &exe[..n])) { n as i64 } else { EFAULT };
    }
    let Some(segs) = uspace::with(|s| s.segments(c.args[2], c.args[3].min(PATH_MAX as u64), true)) else {
        return EFAULT;
    };
    hypercall::call_ret(&Request::Fs(FsRequest::Readlinkat {
        dirfd: c.args[0] as i32,
        path: &p,
        buf: SegList::Borrowed(&segs),
    }))
}

pub fn getdents64(c: &mut Ctx<'_>) -> i64 {
    let Some(segs) = uspace::with(|s| s.segments(c.args[1], c.args[2].min(1 << 20), true)) else { return EFAULT };
    hypercall::call_ret(&Request::Fs(FsRequest::Getdents64 { fd: c.args[0] as i32, buf: SegList::Borrowed(&segs) }))
}

pub fn truncate(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.args[0]));
    hypercall::call_ret(&Request::Fs(FsRequest::Truncate { path: &p, length: c.args[1] as i64 }))
}

pub fn ftruncate(c: &mut Ctx<'_>) -> i64 {
    hypercall::call_ret(&Request::Fs(FsRequest::Ftruncate { fd: c.args[0] as i32, length: c.args[1] as i64 }))
}

pub fn fsync(c: &mut Ctx<'_>) -> i64 {
    hypercall::call_ret(&Request::Fs(FsRequest::Fsync { fd: c.args[0] as i32 }))
}

pub fn fdatasync(c: &mut Ctx<'_>) -> i64 {
    hypercall::call_ret(&Request::Fs(FsRequest::Fdatasync { fd: c.args[0] as i32 }))
}

pub fn fchmodat(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.args[1]));
    hypercall::call_ret(&Request::Fs(FsRequest::Fchmodat { dirfd: c.args[0] as i32, path: &p, mode: c.args[2] as u32 }))
}

pub fn fchmod(c: &mut Ctx<'_>) -> i64 {
    hypercall::call_ret(&Request::Fs(FsRequest::Fchmod { fd: c.args[0] as i32, mode: c.args[1] as u32 }))
}

fn access(c: &Ctx<'_>, flags: i32) -> i64 {
    let p = tryret!(path(c.args[1]));
    hypercall::call_ret(&Request::Fs(FsRequest::Faccessat {
        dirfd: c.args[0] as i32,
        path: &p,
        mode: c.args[2] as i32,
        flags,
    }))
}

pub fn faccessat(c: &mut Ctx<'_>) -> i64 {
    access(c, 0)
}

pub fn faccessat2(c: &mut Ctx<'_>) -> i64 {
    access(c, c.args[3] as i32)
}

/// In Linux's order: a buffer too small is ERANGE whatever its address, then EFAULT.
pub fn getcwd(c: &mut Ctx<'_>) -> i64 {
    let cwd = alloc::vec![0u8; PATH_MAX];
    let seg = [hypercall::kernel_buf_seg(&cwd)];
    let n = hypercall::call_ret(&Request::Fs(FsRequest::Getcwd { buf: SegList::Borrowed(&seg) }));
    if n == ERANGE {
        return ENAMETOOLONG;
    }
    if n < 0 {
        return n;
    }
    if n as u64 > c.args[1] {
        return ERANGE;
    }
    if uspace::with(|s| s.copy_out(c.args[0], &cwd[..n as usize])) {
        n
    } else {
        EFAULT
    }
}

pub fn chdir(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.args[0]));
    hypercall::call_ret(&Request::Fs(FsRequest::Chdir { path: &p }))
}

pub fn chroot(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.args[0]));
    hypercall::call_ret(&Request::Fs(FsRequest::Chroot { path: &p }))
}

pub fn fchdir(c: &mut Ctx<'_>) -> i64 {
    hypercall::call_ret(&Request::Fs(FsRequest::Fchdir { fd: c.args[0] as i32 }))
}

pub fn dup(c: &mut Ctx<'_>) -> i64 {
    hypercall::call_ret(&Request::Fs(FsRequest::Dup { fd: c.args[0] as i32 }))
}

pub fn dup3(c: &mut Ctx<'_>) -> i64 {
    let (old, new, flags) = (c.args[0] as i32, c.args[1] as i32, c.args[2] as i32);
    if old == new {
        return EINVAL;
    }
    hypercall::call_ret(&Request::Fs(FsRequest::Dup3 { oldfd: old, newfd: new, flags }))
}

/// The commands whose argument is a number go to the host; record locks and owner
/// commands (whose argument is a user struct, or a signal) are not served yet; an
/// unknown command is EINVAL, as on Linux.
pub fn fcntl(c: &mut Ctx<'_>) -> i64 {
    const F_DUPFD: i32 = abi_shared::linux::general::F_DUPFD as i32;
    const F_GETFD: i32 = abi_shared::linux::general::F_GETFD as i32;
    const F_SETFD: i32 = abi_shared::linux::general::F_SETFD as i32;
    const F_GETFL: i32 = abi_shared::linux::general::F_GETFL as i32;
    const F_SETFL: i32 = abi_shared::linux::general::F_SETFL as i32;
    const F_NOTIFY: i32 = abi_shared::linux::general::F_NOTIFY as i32;
    const F_DUPFD_CLOEXEC: i32 = abi_shared::linux::general::F_DUPFD_CLOEXEC as i32;
    const F_SETPIPE_SZ: i32 = abi_shared::linux::general::F_SETPIPE_SZ as i32;
    const F_GETPIPE_SZ: i32 = abi_shared::linux::general::F_GETPIPE_SZ as i32;
    const F_ADD_SEALS: i32 = abi_shared::linux::general::F_ADD_SEALS as i32;
    const F_GET_SEALS: i32 = abi_shared::linux::general::F_GET_SEALS as i32;
    match c.args[1] as i32 {
        cmd @ (F_DUPFD | F_GETFD | F_SETFD | F_GETFL | F_SETFL | F_DUPFD_CLOEXEC | F_SETPIPE_SZ | F_GETPIPE_SZ
        | F_ADD_SEALS | F_GET_SEALS | F_NOTIFY) => {
            hypercall::call_ret(&Request::Fs(FsRequest::Fcntl { fd: c.args[0] as i32, cmd, arg: c.args[2] }))
        }
        // Locks (F_GETLK.., F_OFD_*), owners and signals (F_SETOWN.., F_GETOWN_EX..), leases.
        5..=11 | 15 | 16 | 36..=38 | 1024 | 1025 => ENOSYS,
        _ => EINVAL,
    }
}

pub fn pipe2(c: &mut Ctx<'_>) -> i64 {
    let [r, w] = match hypercall::call(&Request::Fs(FsRequest::Pipe2 { flags: c.args[1] as i32 })) {
        Response::Fds(pair) => pair,
        other => return hypercall::ret_of(other),
    };
    let mut out = [0u8; 8];
    out[..4].copy_from_slice(&r.to_le_bytes());
    out[4..].copy_from_slice(&w.to_le_bytes());
    if uspace::with(|s| s.copy_out(c.args[0], &out)) {
        0
    } else {
        hypercall::call_ret(&Request::Fs(FsRequest::Close { fd: r }));
        hypercall::call_ret(&Request::Fs(FsRequest::Close { fd: w }));
        EFAULT
    }
}

pub fn close_range(c: &mut Ctx<'_>) -> i64 {
    hypercall::call_ret(&Request::Exec(ExecRequest::CloseRange {
        first: c.args[0] as u32,
        last: c.args[1] as u32,
        flags: c.args[2] as u32,
    }))
}

pub fn statx(c: &mut Ctx<'_>) -> i64 {
    let p = tryret!(path(c.args[1]));
    let req = Request::Fs(FsRequest::Statx {
        dirfd: c.args[0] as i32,
        path: &p,
        flags: c.args[2] as i32,
        mask: c.args[3] as u32,
    });
    match hypercall::call(&req) {
        Response::Statx(st) => {
            if uspace::with(|s| s.copy_out(c.args[4], st.as_bytes())) {
                0
            } else {
                EFAULT
            }
        }
        other => hypercall::ret_of(other),
    }
}

pub fn umask(c: &mut Ctx<'_>) -> i64 {
    hypercall::call_ret(&Request::Fs(FsRequest::Umask { mask: c.args[0] as u32 & 0o777 }))
}

pub fn utimensat(c: &mut Ctx<'_>) -> i64 {
    let times = match c.args[2] {
        0 => None,
        a => {
            let mut raw = [0u8; 32];
            if !uspace::with(|s| s.copy_in(a, &mut raw)) {
                return EFAULT;
            }
            let w = |i: usize| i64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().unwrap_or_default());
            Some([(w(0), w(1)), (w(2), w(3))])
        }
    };
    if times.is_some_and(|t| t[0].1 == UTIME_OMIT && t[1].1 == UTIME_OMIT) {
        return 0;
    }
    let p = match c.args[1] {
        0 => None,
        a => Some(tryret!(path(a))),
    };
    hypercall::call_ret(&Request::Fs(FsRequest::Utimensat {
        dirfd: c.args[0] as i32,
        path: p.as_deref(),
        times,
        flags: c.args[3] as i32,
    }))
}
