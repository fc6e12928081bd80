//! The file syscalls' view of /proc. Each hook returns `None` when the call is not about
//! /proc (the caller then forwards it to the host unchanged) and `Some(result)` when it
//! served it.
//!
//! Which paths are /proc's: absolute ones that normalise under /proc, paths relative to a
//! /proc directory descriptor, and relative ones whose base (the working directory or a
//! host directory descriptor) joined with them lands in /proc; the last need a hypercall
//! for the base, so only paths that contain "proc" are checked that way.
//!
//! Names under /proc/sys and at the top of /proc that the guest does not serve are the
//! host's (other processes' directories, system files, sysctls): opened, stat'ed, read as
//! links and listed through `ProcfsRequest::OpenHostProc`, so reads and writes are the host's
//! (and so is the permission to make them). /proc/sys's directories list the guest's names
//! and the host's together, in name order as Linux lists them; /proc lists the host's
//! entries in the host's order, the guest's own standing in for the host's of the same
//! name (the program's pid among them).

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use abi_shared::hypercall::{FsRequest, ProcfsRequest, Request, Response, SegList};
use abi_shared::linux::general::{
    AT_EMPTY_PATH, AT_FDCWD, AT_SYMLINK_NOFOLLOW, O_ACCMODE, O_CLOEXEC, O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW,
    O_PATH, O_RDONLY, O_TRUNC, O_WRONLY, STATX_BASIC_STATS, S_IFDIR, S_IFLNK, S_IFMT, S_IFREG,
};
use abi_shared::linux::{errno, LinuxStat, LinuxStatfs, LinuxStatx, StatxTimestamp};

use super::fds::{self, Entry};
use super::state;
use super::tree::{self, Dir, File, Link, Node, Resolved};
use crate::hypercall::{call, call_ret, kernel_buf_seg};
use crate::mm::uaccess;
use crate::task;
use crate::task::fdtable::FDS;

const fn err(e: u32) -> i64 {
    -(e as i64)
}

const F_GETFD: i32 = abi_shared::linux::general::F_GETFD as i32;
const F_DUPFD_CLOEXEC: i32 = abi_shared::linux::general::F_DUPFD_CLOEXEC as i32;
use abi_shared::linux::general::SEEK_CUR;
use abi_shared::linux::general::SEEK_SET;
const R_OK: i32 = abi_shared::linux::general::R_OK as i32;
const W_OK: i32 = abi_shared::linux::general::W_OK as i32;
const X_OK: i32 = abi_shared::linux::general::X_OK as i32;
/// st_dev of /proc (any fixed anonymous device number will do).
const PROC_DEV: u64 = 0x16;

/// The working directory as the host last reported it (None: ask again).
static CWD: Mutex<Option<Vec<u8>>> = Mutex::new(None);

fn cwd() -> Option<Vec<u8>> {
    if let Some(c) = CWD.lock().clone() {
        return Some(c);
    }
    let mut buf = alloc::vec![0u8; 4096];
    let seg = [kernel_buf_seg(&buf)];
    let n = call_ret(&Request::Fs(FsRequest::Getcwd { buf: SegList::Borrowed(&seg) }));
    if n <= 0 {
        return None;
    }
    buf.truncate(n as usize - 1);
    *CWD.lock() = Some(buf.clone());
    Some(buf)
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

/// The absolute path `(dirfd, path)` names if it lies in /proc.
fn proc_path(dirfd: i32, path: &[u8]) -> Option<Vec<u8>> {
    if path.starts_with(b"/") {
        return (contains(path, b"proc") && tree::is_under_proc(path)).then(|| path.to_vec());
    }
    if let Some(base) = fds::dir_path(dirfd) {
        return Some(tree::join(&base, path));
    }
    if !contains(path, b"proc") {
        return None;
    }
    let base = if dirfd == AT_FDCWD { cwd()? } else { state::fd_path(dirfd).ok()? };
    let full = tree::join(&base, path);
    tree::is_under_proc(&full).then_some(full)
}

/// The table entry of `fd`, if the host's descriptor is still the one we opened.
fn checked_entry(fd: i32) -> Option<(Arc<Entry>, LinuxStat)> {
    let e = fds::get(fd)?;
    match call(&Request::Fs(FsRequest::Fstat { fd })) {
        Response::Stat(st) if (st.st_dev, st.st_ino) == e.host_id => Some((e, st)),
        _ => {
            fds::remove(fd);
            None
        }
    }
}

/// Whether fd `fd` is open (fd/N and fdinfo/N exist only then).
fn fd_open(fd: i32) -> bool {
    call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_GETFD, arg: 0 })) >= 0
}

/// Resolve, then check that fd entries name open descriptors.
/// The ids procfs paths are resolved with.
fn with_ids<T>(f: impl FnOnce(&tree::Ids<'_>) -> T) -> T {
    let tids = task::threads::tids();
    f(&tree::Ids { pid: task::pid(), tid: task::tid(), tids: &tids })
}

fn resolve(path: &[u8], follow: bool) -> Result<Resolved, i64> {
    let r = with_ids(|ids| tree::resolve(path, ids, follow)).map_err(err)?;
    let fd = match &r {
        Resolved::Node(Node::Link(Link::Fd(fd)) | Node::File(File::Fdinfo(fd)), _) => Some(*fd),
        Resolved::Follow(Link::Fd(fd)) | Resolved::Through(Link::Fd(fd), _) => Some(*fd),
        _ => None,
    };
    match fd {
        Some(fd) if !fd_open(fd) => Err(err(errno::ENOENT)),
        _ => Ok(r),
    }
}

/// Where a link out of /proc leads.
enum Target {
    /// A host path (relative to `dirfd`).
    Host(i32, Vec<u8>),
    /// Back into /proc (fd/N of a /proc descriptor).
    Proc(Vec<u8>),
    /// The descriptor itself (fd/N of a pipe, socket or host file).
    Fd(i32),
    /// The host's /proc/<path>.
    HostProc(Vec<u8>),
}

fn open_host(rel: &[u8], flags: u32) -> i64 {
    call_ret(&Request::Procfs(ProcfsRequest::OpenHostProc { path: rel, flags: flags as i32, mode: 0 }))
}

/// Run `f` on an O_PATH descriptor of the host's /proc/<rel> (of a final link itself
/// unless `follow`).
fn with_host_path(rel: &[u8], follow: bool, f: impl FnOnce(i32) -> i64) -> i64 {
    let nofollow = if follow { 0 } else { O_NOFOLLOW };
    let fd = open_host(rel, O_PATH | O_CLOEXEC | nofollow);
    if fd < 0 {
        return fd;
    }
    let r = f(fd as i32);
    call_ret(&Request::Fs(FsRequest::Close { fd: fd as i32 }));
    r
}

/// The host's stat of its /proc/<rel>.
fn host_stat(rel: &[u8], follow: bool) -> Result<LinuxStat, i64> {
    let mut out = Err(err(errno::ENOENT));
    let r = with_host_path(rel, follow, |fd| match call(&Request::Fs(FsRequest::Fstat { fd })) {
        Response::Stat(st) => {
            out = Ok(st);
            0
        }
        Response::Ret(e) => e,
        _ => err(errno::EFAULT),
    });
    if r < 0 {
        return Err(r);
    }
    out
}

/// access() of a host /proc file. A sysctl's as Linux's proc_sys_permission decides it:
/// directories are r-x for everyone, nothing is executable, and a file's mode bits apply
/// to root too (root's are the owner bits, root's group's the group bits, the rest the
/// other bits). Others' by their mode bits, with root passing all but execute, which
/// needs an x bit (or a directory).
fn host_access(rel: &[u8], mode: i32, flags: i32) -> i64 {
    let follow = flags as u32 & AT_SYMLINK_NOFOLLOW == 0;
    let st = match host_stat(rel, follow) {
        Ok(st) => st,
        Err(e) => return e,
    };
    let (uid, euid, gid, egid) = task::credentials();
    let (uid, gid) = if flags as u32 & abi_shared::linux::general::AT_EACCESS != 0 { (euid, egid) } else { (uid, gid) };
    let want = mode & (R_OK | W_OK | X_OK);
    let is_dir = st.st_mode & S_IFMT == S_IFDIR;
    if !rel.starts_with(b"sys/") && rel != b"sys" {
        let bits = st.st_mode as i32;
        let granted = if uid == 0 {
            R_OK | W_OK | if is_dir || bits & 0o111 != 0 { X_OK } else { 0 }
        } else if uid == st.st_uid {
            (bits >> 6) & 7
        } else if gid == st.st_gid {
            (bits >> 3) & 7
        } else {
            bits & 7
        };
        return if want & !granted != 0 { err(errno::EACCES) } else { 0 };
    }
    let denied = if is_dir {
        want & W_OK != 0
    } else {
        let bits = st.st_mode as i32;
        let granted = if uid == 0 {
            bits >> 6
        } else if gid == 0 {
            bits >> 3
        } else {
            bits
        } & 7;
        want & X_OK != 0 || want & !granted != 0
    };
    if denied {
        err(errno::EACCES)
    } else {
        0
    }
}

fn link_target(link: Link, rest: Option<&[u8]>) -> Result<Target, i64> {
    let under = |base: &[u8]| match rest {
        None => base.to_vec(),
        Some(r) => tree::join(base, r),
    };
    Ok(match link {
        Link::Exe if rest.is_some() => return Err(err(errno::ENOTDIR)),
        Link::Exe => Target::Host(AT_FDCWD, task::exe_path()),
        Link::Cwd => Target::Host(AT_FDCWD, rest.map_or(b".".to_vec(), <[u8]>::to_vec)),
        Link::Root => Target::Host(AT_FDCWD, under(b"/")),
        Link::Fd(fd) => match (fds::get(fd), rest) {
            (Some(e), _) => Target::Proc(under(&e.path)),
            (None, None) => Target::Fd(fd),
            (None, Some(r)) => Target::Host(fd, r.to_vec()),
        },
        // Internal links were followed by tree::resolve.
        Link::ProcSelf | Link::ThreadSelf | Link::Mounts => return Err(err(errno::ELOOP)),
    })
}

fn target_of(r: &Resolved) -> Option<Result<Target, i64>> {
    match r {
        Resolved::Host(rel) => Some(Ok(Target::HostProc(rel.clone()))),
        Resolved::Follow(link) => Some(link_target(*link, None)),
        Resolved::Through(link, rest) => Some(link_target(*link, Some(rest))),
        Resolved::Node(..) => None,
    }
}

// ---- open ----

pub fn openat(dirfd: i32, path: &[u8], flags: i32, mode: u32) -> Option<i64> {
    let full = proc_path(dirfd, path)?;
    Some(open_path(&full, flags, mode))
}

fn open_path(full: &[u8], flags: i32, mode: u32) -> i64 {
    let r = match resolve(full, flags as u32 & O_NOFOLLOW == 0) {
        Ok(r) => r,
        Err(e) => return e,
    };
    match target_of(&r) {
        Some(Ok(Target::Host(dirfd, p))) => call_ret(&Request::Fs(FsRequest::Openat { dirfd, path: &p, flags, mode })),
        Some(Ok(Target::Proc(p))) => open_path(&p, flags, mode),
        Some(Ok(Target::Fd(fd))) => reopen_fd(fd, flags, mode),
        Some(Ok(Target::HostProc(rel))) => {
            call_ret(&Request::Procfs(ProcfsRequest::OpenHostProc { path: &rel, flags, mode }))
        }
        Some(Err(e)) => e,
        None => match r {
            Resolved::Node(node, canonical) => open_node(node, &canonical, flags),
            _ => err(errno::ENOENT),
        },
    }
}

/// Opening /proc/self/fd/N of a host descriptor opens its file anew, as Linux does; a
/// pipe, socket, memfd or deleted file has no path to open, so it gets a duplicate instead
/// (sharing the file position, unlike Linux), which O_TRUNC truncates as Linux's open
/// would (a pipe or socket ignores it).
fn reopen_fd(fd: i32, flags: i32, mode: u32) -> i64 {
    if let Ok(p) = state::fd_path(fd) {
        if p.starts_with(b"/") {
            let r = call_ret(&Request::Fs(FsRequest::Openat { dirfd: AT_FDCWD, path: &p, flags, mode }));
            if r != err(errno::ENOENT) {
                return r;
            }
        }
    }
    let cmd = if flags as u32 & O_CLOEXEC != 0 { F_DUPFD_CLOEXEC } else { 0 };
    let new = call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd, arg: 0 }));
    if new >= 0 {
        FDS.duplicated(fd, new as i32);
        if flags as u32 & O_TRUNC != 0 {
            call_ret(&Request::Fs(FsRequest::Ftruncate { fd: new as i32, length: 0 }));
        }
    }
    new
}

fn open_node(node: Node, canonical: &[u8], flags: i32) -> i64 {
    let f = flags as u32;
    let cloexec = f & O_CLOEXEC != 0;
    if f & O_CREAT != 0 && f & O_EXCL != 0 {
        return err(errno::EEXIST);
    }
    let writing = f & O_ACCMODE != 0 || f & O_TRUNC != 0;
    let mut host_fd = -1;
    let fd = match node {
        Node::Link(_) => return err(errno::ELOOP),
        Node::Dir(_) if writing || f & O_CREAT != 0 => return err(errno::EISDIR),
        Node::Dir(_) => call_ret(&Request::Procfs(ProcfsRequest::OpenEmptyDir { cloexec })),
        Node::File(_) if f & O_DIRECTORY != 0 => return err(errno::ENOTDIR),
        // A comm file renames its thread (or the process's first). The others are read-only
        // (0444): root opens them anyway, as Linux's DAC override lets it, and its writes
        // fail with EINVAL; anyone else is refused here.
        Node::File(file) if writing && file != File::Comm && task::credentials().1 != 0 => return err(errno::EACCES),
        Node::File(file)
            if tree::host_source(file).is_some_and(|rel| {
                host_fd = open_host(rel, O_RDONLY | if cloexec { O_CLOEXEC } else { 0 });
                host_fd >= 0
            }) =>
        {
            host_fd
        }
        Node::File(file) => {
            let content = match super::content::generate(file, tree::thread_of(canonical)) {
                Ok(c) => c,
                Err(e) => return e,
            };
            let seg = [kernel_buf_seg(&content)];
            let segs: &[_] = if content.is_empty() { &[] } else { &seg };
            call_ret(&Request::Procfs(ProcfsRequest::OpenMemory { content: SegList::Borrowed(segs), cloexec }))
        }
    };
    if fd < 0 {
        return fd;
    }
    let host_id = match call(&Request::Fs(FsRequest::Fstat { fd: fd as i32 })) {
        Response::Stat(st) => (st.st_dev, st.st_ino),
        _ => (0, 0),
    };
    let access = f & O_ACCMODE;
    fds::insert(fd as i32, node, canonical, host_id, (access != O_WRONLY, access != O_RDONLY));
    fd
}

/// write(2) and pwrite64(2) on a /proc descriptor (None for any other): a comm file opened
/// for writing renames its thread as Linux's comm_write does (the first 15 bytes, a newline
/// included, and the whole count reported written); another file opened for writing (by
/// root) has no write operation (EINVAL); one opened read-only is EBADF.
pub fn write(fd: i32, buf: u64, len: u64) -> Option<i64> {
    let entry = fds::get(fd)?;
    if !crate::task::fdtable::get(fd).writable {
        return Some(err(errno::EBADF));
    }
    if entry.node != Node::File(File::Comm) {
        return Some(err(errno::EINVAL));
    }
    let mut comm = [0u8; task::COMM_LEN];
    let n = (len as usize).min(task::COMM_LEN - 1);
    if uaccess::copy_from_user(buf, &mut comm[..n]).is_err() {
        return Some(err(errno::EFAULT));
    }
    let thread = tree::thread_of(&entry.path).unwrap_or_else(task::pid);
    match task::threads::find(thread) {
        Some(t) => t.set_comm(comm),
        None => return Some(err(errno::ESRCH)),
    }
    Some(len.min(i64::MAX as u64) as i64)
}

/// read(2) and friends on a /proc descriptor opened write-only: EBADF, as for any file.
pub fn refuses_read(fd: i32) -> bool {
    fds::get(fd).is_some() && !crate::task::fdtable::get(fd).readable
}

// ---- stat ----

fn fnv(path: &[u8]) -> u64 {
    path.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, &b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3))
}

/// What stat says about a /proc node.
fn node_stat(node: Node, canonical: &[u8]) -> LinuxStat {
    let kind = match node {
        Node::Dir(_) => S_IFDIR,
        Node::File(_) => S_IFREG,
        Node::Link(_) => S_IFLNK,
    };
    let (_, euid, _, egid) = task::credentials();
    let (uid, gid) = if node.per_process() { (euid, egid) } else { (0, 0) };
    let t = state::exec_info().start_realtime_ns;
    let (sec, nsec) = ((t / 1_000_000_000) as i64, (t % 1_000_000_000) as i64);
    LinuxStat {
        st_dev: PROC_DEV,
        st_ino: fnv(canonical) >> 1 | 1,
        st_nlink: if kind == S_IFDIR { 2 } else { 1 },
        st_mode: kind | node.mode(),
        st_uid: uid,
        st_gid: gid,
        st_blksize: 1024,
        st_atime: sec,
        st_atime_nsec: nsec,
        st_mtime: sec,
        st_mtime_nsec: nsec,
        st_ctime: sec,
        st_ctime_nsec: nsec,
        ..LinuxStat::default()
    }
}

/// The stat of `(dirfd, path)` in /proc: Ok(stat), or a result to return as is (an errno
/// or a host answer already copied out by `host`).
fn stat_path(full: &[u8], follow: bool, host: &mut dyn FnMut(Target) -> i64) -> Result<LinuxStat, i64> {
    let r = resolve(full, follow)?;
    match target_of(&r) {
        Some(Ok(Target::Proc(p))) => stat_path(&p, true, host),
        Some(Ok(t)) => Err(host(t)),
        Some(Err(e)) => Err(e),
        None => match r {
            Resolved::Node(node, canonical) => Ok(node_stat(node, &canonical)),
            _ => Err(err(errno::ENOENT)),
        },
    }
}

fn write_stat(out: u64, st: &LinuxStat) -> i64 {
    uaccess::write_struct(out, st).map_or(err(errno::EFAULT), |_| 0)
}

fn host_stat_into(t: Target, out: u64, flags: i32) -> i64 {
    let resp = match t {
        Target::Host(dirfd, p) => {
            call(&Request::Fs(FsRequest::Fstatat { dirfd, path: &p, flags: flags & !(AT_EMPTY_PATH as i32) }))
        }
        Target::Fd(fd) => call(&Request::Fs(FsRequest::Fstat { fd })),
        Target::HostProc(rel) => {
            let follow = flags as u32 & AT_SYMLINK_NOFOLLOW == 0;
            return host_stat(&rel, follow).map_or_else(|e| e, |st| write_stat(out, &st));
        }
        Target::Proc(_) => return err(errno::ENOENT),
    };
    match resp {
        Response::Stat(st) => write_stat(out, &st),
        Response::Ret(e) => e,
        _ => err(errno::EFAULT),
    }
}

/// newfstatat, stat and lstat.
pub fn fstatat(dirfd: i32, path: &[u8], out: u64, flags: i32) -> Option<i64> {
    if path.is_empty() && flags as u32 & AT_EMPTY_PATH != 0 {
        return fstat(dirfd, out);
    }
    let full = proc_path(dirfd, path)?;
    let follow = flags as u32 & AT_SYMLINK_NOFOLLOW == 0;
    Some(match stat_path(&full, follow, &mut |t| host_stat_into(t, out, flags)) {
        Ok(st) => write_stat(out, &st),
        Err(r) => r,
    })
}

pub fn fstat(fd: i32, out: u64) -> Option<i64> {
    let (e, _) = checked_entry(fd)?;
    Some(write_stat(out, &node_stat(e.node, &e.path)))
}

fn statx_of(st: &LinuxStat) -> LinuxStatx {
    let ts = |sec: i64, nsec: i64| StatxTimestamp { tv_sec: sec, tv_nsec: nsec as u32, reserved: 0 };
    LinuxStatx {
        stx_mask: STATX_BASIC_STATS,
        stx_blksize: st.st_blksize as u32,
        stx_nlink: st.st_nlink as u32,
        stx_uid: st.st_uid,
        stx_gid: st.st_gid,
        stx_mode: st.st_mode as u16,
        stx_ino: st.st_ino,
        stx_atime: ts(st.st_atime, st.st_atime_nsec),
        stx_btime: ts(0, 0),
        stx_ctime: ts(st.st_ctime, st.st_ctime_nsec),
        stx_mtime: ts(st.st_mtime, st.st_mtime_nsec),
        stx_dev_major: 0,
        stx_dev_minor: st.st_dev as u32,
        ..LinuxStatx::default()
    }
}

pub fn statx(dirfd: i32, path: &[u8], flags: i32, mask: u32, out: u64) -> Option<i64> {
    let write = |st: &LinuxStat| uaccess::write_struct(out, &statx_of(st)).map_or(err(errno::EFAULT), |_| 0);
    if path.is_empty() && flags as u32 & AT_EMPTY_PATH != 0 {
        let (e, _) = checked_entry(dirfd)?;
        return Some(write(&node_stat(e.node, &e.path)));
    }
    let full = proc_path(dirfd, path)?;
    let follow = flags as u32 & AT_SYMLINK_NOFOLLOW == 0;
    let mut host = |t: Target| {
        let (dirfd, p) = match t {
            Target::Host(d, p) => (d, p),
            Target::Fd(fd) => (fd, Vec::new()),
            Target::HostProc(rel) => {
                return with_host_path(&rel, flags as u32 & AT_SYMLINK_NOFOLLOW == 0, |fd| {
                    let flags = flags | AT_EMPTY_PATH as i32;
                    match call(&Request::Fs(FsRequest::Statx { dirfd: fd, path: b"", flags, mask })) {
                        Response::Statx(stx) => uaccess::write_struct(out, &stx).map_or(err(errno::EFAULT), |_| 0),
                        Response::Ret(e) => e,
                        _ => err(errno::EFAULT),
                    }
                })
            }
            Target::Proc(_) => return err(errno::ENOENT),
        };
        let flags = if p.is_empty() { flags | AT_EMPTY_PATH as i32 } else { flags };
        match call(&Request::Fs(FsRequest::Statx { dirfd, path: &p, flags, mask })) {
            Response::Statx(stx) => uaccess::write_struct(out, &stx).map_or(err(errno::EFAULT), |_| 0),
            Response::Ret(e) => e,
            _ => err(errno::EFAULT),
        }
    };
    Some(match stat_path(&full, follow, &mut host) {
        Ok(st) => write(&st),
        Err(r) => r,
    })
}

// ---- access, readlink ----

pub fn faccessat(dirfd: i32, path: &[u8], mode: i32, flags: i32) -> Option<i64> {
    let full = proc_path(dirfd, path)?;
    let follow = flags as u32 & AT_SYMLINK_NOFOLLOW == 0;
    let mut host = |t: Target| match t {
        Target::Host(dirfd, p) => call_ret(&Request::Fs(FsRequest::Faccessat { dirfd, path: &p, mode, flags })),
        Target::HostProc(rel) => host_access(&rel, mode, flags),
        _ => 0,
    };
    Some(match stat_path(&full, follow, &mut host) {
        Ok(st) => {
            let root = task::credentials().1 == 0;
            let bits = st.st_mode & 0o777;
            let denied_write = mode & W_OK != 0 && !root && bits & 0o200 == 0;
            let denied_exec = mode & X_OK != 0 && bits & 0o111 == 0;
            if denied_write || denied_exec {
                err(errno::EACCES)
            } else {
                0
            }
        }
        Err(r) => r,
    })
}

fn link_text(link: Link) -> Result<Vec<u8>, i64> {
    match link {
        Link::Exe => Ok(task::exe_path()),
        Link::Cwd => cwd().ok_or(err(errno::ENOENT)),
        Link::Root => Ok(b"/".to_vec()),
        Link::Fd(fd) => match fds::get(fd) {
            Some(e) => Ok(e.path.to_vec()),
            None => state::fd_path(fd),
        },
        l => Ok(with_ids(|ids| tree::internal_link_target(l, ids))),
    }
}

/// readlink/readlinkat; `size` was checked positive by the caller.
pub fn readlinkat(dirfd: i32, path: &[u8], buf: u64, size: u64) -> Option<i64> {
    let full = proc_path(dirfd, path)?;
    let r = match resolve(&full, false) {
        Ok(r) => r,
        Err(e) => return Some(e),
    };
    let text = match r {
        Resolved::Node(Node::Link(link), _) => link_text(link),
        Resolved::Node(..) => Err(err(errno::EINVAL)),
        Resolved::Through(link, rest) => match link_target(link, Some(&rest)) {
            Ok(Target::Host(dirfd, p)) => return Some(host_readlink(dirfd, &p, buf, size)),
            Ok(Target::Proc(p)) => return readlinkat(AT_FDCWD, &p, buf, size),
            Ok(Target::Fd(_)) => Err(err(errno::EINVAL)),
            Ok(Target::HostProc(rel)) => return Some(host_proc_readlink(&rel, buf, size)),
            Err(e) => Err(e),
        },
        Resolved::Follow(_) => Err(err(errno::EINVAL)),
        Resolved::Host(rel) => return Some(host_proc_readlink(&rel, buf, size)),
    };
    Some(match text {
        Ok(t) => {
            // readlink truncates silently to the buffer.
            let n = t.len().min(size as usize);
            uaccess::copy_to_user(buf, &t[..n]).map_or(err(errno::EFAULT), |_| n as i64)
        }
        Err(e) => e,
    })
}

/// readlink of the host's /proc/<rel> (EINVAL if it is no link, as readlink says).
fn host_proc_readlink(rel: &[u8], buf: u64, size: u64) -> i64 {
    let mut segs = Vec::new();
    if let Err(e) = uaccess::user_segments(buf, size.min(4096), crate::mm::Access::Write, &mut segs) {
        return e;
    }
    call_ret(&Request::Procfs(ProcfsRequest::HostProcLink { path: rel, buf: SegList::Borrowed(&segs) }))
}

fn host_readlink(dirfd: i32, path: &[u8], buf: u64, size: u64) -> i64 {
    let mut segs = Vec::new();
    if let Err(e) = uaccess::user_segments(buf, size.min(4096), crate::mm::Access::Write, &mut segs) {
        return e;
    }
    call_ret(&Request::Fs(FsRequest::Readlinkat { dirfd, path, buf: SegList::Borrowed(&segs) }))
}

// ---- the debugger's view ----

/// For the debugger (gdb's `info proc`, through signal/debug.rs): the content of the
/// process's own /proc file at the absolute path `path`, as a read of it would see it, or
/// with `link` the text of the link there; a negative errno otherwise. Only the guest's own
/// nodes are served: a name the host's /proc answers, or a path through a link out of
/// /proc, is ENOENT here.
pub fn debugger_read(path: &[u8], link: bool) -> Result<Vec<u8>, i64> {
    if !tree::is_under_proc(path) {
        return Err(err(errno::ENOENT));
    }
    match resolve(path, !link)? {
        Resolved::Node(Node::Link(l), _) if link => link_text(l),
        Resolved::Node(_, _) if link => Err(err(errno::EINVAL)),
        Resolved::Node(Node::File(file), canonical) => super::content::generate(file, tree::thread_of(&canonical)),
        Resolved::Node(Node::Dir(_), _) => Err(err(errno::EISDIR)),
        _ => Err(err(errno::ENOENT)),
    }
}

// ---- directories: listing.rs ----

mod listing;
pub use listing::{getdents64, lseek};

// ---- descriptors and the working directory ----

/// chdir into /proc is not supported: the working directory is the host's, and /proc is
/// not a host directory. Refused with EACCES.
pub fn chdir(path: &[u8]) -> Option<i64> {
    *CWD.lock() = None;
    proc_path(AT_FDCWD, path).map(|_| err(errno::EACCES))
}

pub fn fchdir(fd: i32) -> Option<i64> {
    *CWD.lock() = None;
    fds::get(fd).map(|_| err(errno::EACCES))
}

/// A change made through a /proc link applies to what the link names, as on Linux:
/// gnulib's fchmodat and lchown emulations reach an O_PATH descriptor with
/// chmod("/proc/self/fd/N"). `Some(Ok((dirfd, path)))` is the host path to change
/// instead, `Some(Err(r))` a result to return; `None` when the path is not in /proc.
pub fn change_target(dirfd: i32, path: &[u8], follow: bool) -> Option<Result<(i32, Vec<u8>), i64>> {
    let full = proc_path(dirfd, path)?;
    Some(change_target_of(&full, follow))
}

fn change_target_of(full: &[u8], follow: bool) -> Result<(i32, Vec<u8>), i64> {
    let r = resolve(full, follow)?;
    match target_of(&r) {
        Some(Ok(Target::Host(dirfd, p))) => Ok((dirfd, p)),
        Some(Ok(Target::Proc(p))) => change_target_of(&p, true),
        Some(Ok(Target::Fd(fd))) => match state::fd_path(fd) {
            Ok(p) if p.starts_with(b"/") => Ok((AT_FDCWD, p)),
            // A pipe or socket: Linux would change its inode; we have no path for it.
            _ => Err(err(errno::EOPNOTSUPP)),
        },
        // Linux refuses mode and owner changes of sysctls (proc_sys_setattr).
        Some(Ok(Target::HostProc(rel))) => host_stat(&rel, follow).and(Err(err(errno::EPERM))),
        Some(Err(e)) => Err(e),
        // /proc's own files and directories cannot be changed.
        None => Err(err(errno::EACCES)),
    }
}

/// Whether a call makes or removes a name (mkdir, mknod; unlink, rmdir).
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum NameOp {
    Make,
    Remove,
}

/// mkdir, mknod, unlink and rmdir of a path in /proc: nothing can be made or removed in
/// /proc itself, and Linux says so by what the name is: a missing name (or parent) is
/// ENOENT, a path through a file ENOTDIR, an existing name EEXIST to make and EACCES to
/// remove (what an unprivileged process gets; root gets EPERM or ENOTDIR for some of
/// /proc's own). Through a link out of /proc (/proc/self/cwd/x) the call is the linked
/// directory's: `Some(Ok((dirfd, path)))` is the host path to use instead. `None` when the
/// path is not in /proc.
pub fn entry_target(dirfd: i32, path: &[u8], what: NameOp) -> Option<Result<(i32, Vec<u8>), i64>> {
    let full = proc_path(dirfd, path)?;
    Some(entry_target_of(&full, what))
}

fn entry_target_of(full: &[u8], what: NameOp) -> Result<(i32, Vec<u8>), i64> {
    let exists = err(if what == NameOp::Make { errno::EEXIST } else { errno::EACCES });
    match resolve(full, false)? {
        Resolved::Through(link, rest) => match link_target(link, Some(&rest))? {
            Target::Host(dirfd, p) => Ok((dirfd, p)),
            Target::Proc(p) => entry_target_of(&p, what),
            _ => Err(err(errno::ENOTDIR)),
        },
        Resolved::Host(rel) => Err(host_stat(&rel, false).map_or_else(|e| e, |_| exists)),
        Resolved::Node(..) | Resolved::Follow(_) => Err(exists),
    }
}

// ---- statfs ----

/// /proc's statfs: the host's of its /proc, or what Linux says of a proc mount.
fn proc_statfs() -> LinuxStatfs {
    let mut st = None;
    with_host_path(b"", true, |fd| {
        if let Response::Statfs(s) = call(&Request::Fs(FsRequest::Fstatfs { fd })) {
            st = Some(s);
        }
        0
    });
    st.unwrap_or(LinuxStatfs {
        f_type: 0x9fa0,
        f_bsize: 4096,
        f_namelen: 255,
        f_frsize: 4096,
        // ST_VALID | ST_NOSUID | ST_NODEV | ST_NOEXEC | ST_RELATIME
        f_flags: 0x20 | 2 | 4 | 8 | 0x1000,
        ..LinuxStatfs::default()
    })
}

fn write_statfs(out: u64, resp: Response) -> i64 {
    match resp {
        Response::Statfs(st) => uaccess::write_struct(out, &st).map_or(err(errno::EFAULT), |_| 0),
        Response::Ret(e) => e,
        _ => err(errno::EFAULT),
    }
}

/// statfs of a path in /proc: /proc's own (the host's proc mount), or, through a link out
/// of it, the linked file's.
pub fn statfs(path: &[u8], out: u64) -> Option<i64> {
    let full = proc_path(AT_FDCWD, path)?;
    let r = match resolve(&full, true) {
        Ok(r) => r,
        Err(e) => return Some(e),
    };
    Some(match target_of(&r) {
        Some(Ok(Target::Host(AT_FDCWD, p))) => write_statfs(out, call(&Request::Fs(FsRequest::Statfs { path: &p }))),
        Some(Ok(Target::Host(fd, p))) if p.is_empty() => {
            write_statfs(out, call(&Request::Fs(FsRequest::Fstatfs { fd })))
        }
        Some(Ok(Target::Fd(fd))) => write_statfs(out, call(&Request::Fs(FsRequest::Fstatfs { fd }))),
        Some(Ok(Target::Proc(p))) => return statfs(&p, out),
        Some(Err(e)) => e,
        // The host's answer for its file, or where its link leads (/proc/1/cwd).
        Some(Ok(Target::HostProc(rel))) => {
            with_host_path(&rel, true, |fd| write_statfs(out, call(&Request::Fs(FsRequest::Fstatfs { fd }))))
        }
        _ => write_statfs(out, Response::Statfs(proc_statfs())),
    })
}

/// fstatfs of a /proc descriptor of ours (the host holds an anonymous file for it).
pub fn fstatfs(fd: i32, out: u64) -> Option<i64> {
    checked_entry(fd)?;
    Some(write_statfs(out, Response::Statfs(proc_statfs())))
}
