//! The host's part of the guest's /proc: anonymous read-only files holding what the guest
//! generated, empty directories standing for /proc directories, the path behind a
//! descriptor (for /proc/self/fd/N) and the list of the program's descriptors.
//!
//! Guest fds are host fds, so a /proc file must be a real host descriptor: the guest then
//! reads, seeks, maps and polls it like any file, with no more guest code.

use abi_shared::hypercall::{GuestSeg, MalformedReason, Request, Response, SegList};
use abi_shared::linux::errno;
use libc::c_int;

use super::fs::{check, ret, Failure, Handled};
use super::FdGuard;
use crate::guest_mem::{GuestMemory, MAX_SEGMENTS};
use crate::host::LinuxErrno;

const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;
/// The largest /proc file we accept (a maps file of 65530 VMAs is under 10 MiB).
const MAX_CONTENT: u64 = 64 << 20;
/// Linux's PATH_MAX: no link target the guest asks for is longer.
const PATH_MAX: usize = 4096;

/// Serve one /proc helper request.
pub fn handle(fds: &FdGuard, mem: &GuestMemory, req: &Request<'_>) -> Response {
    let result = match req {
        Request::OpenMemory { content, cloexec } => open_memory(mem, content, *cloexec),
        Request::OpenEmptyDir { cloexec } => open_empty_dir(*cloexec),
        Request::FdPath { fd, buf } => fd_path(fds, mem, *fd, buf),
        Request::ListFds { buf } => list_fds(fds, mem, buf),
        _ => Err(Failure::Errno(errno::ENOSYS as LinuxErrno)),
    };
    result.unwrap_or_else(Response::from)
}

fn cloexec_flag(cloexec: bool) -> c_int {
    if cloexec {
        libc::O_CLOEXEC
    } else {
        0
    }
}

/// Closes a host descriptor of ours when dropped (error paths included).
struct Owned(c_int);

impl Drop for Owned {
    fn drop(&mut self) {
        // SAFETY: the descriptor was created by this module and not handed out.
        unsafe { libc::close(self.0) };
    }
}

fn open_memory(mem: &GuestMemory, content: &SegList<'_>, cloexec: bool) -> Handled {
    let segs = content.as_slice();
    let total = content.total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
    if segs.len() > MAX_SEGMENTS || total > MAX_CONTENT {
        return Err(Failure::Malformed(MalformedReason::BadLength));
    }
    let iov = mem.iovecs(segs)?;
    let (rw, ro) = anonymous_file_pair()?;
    write_all(&rw, &iov, segs)?;
    // `rw` took the lowest free fd, so it is the number the program must get: put the
    // read-only description there (writes then fail with EBADF, as on a /proc file).
    let fd = rw.0;
    std::mem::forget(rw);
    // SAFETY: both descriptors are ours; dup2 replaces `fd` atomically.
    let r = unsafe { libc::dup2(ro.0, fd) };
    if let Err(e) = check(r) {
        drop(Owned(fd));
        return Err(e);
    }
    drop(ro);
    set_cloexec(fd, cloexec);
    ret(i64::from(fd))
}

fn set_cloexec(fd: c_int, cloexec: bool) {
    let flags = if cloexec { libc::FD_CLOEXEC } else { 0 };
    // SAFETY: F_SETFD takes an int; fd is a descriptor this module just made.
    unsafe { libc::fcntl(fd, libc::F_SETFD, flags) };
}

fn write_all(rw: &Owned, iov: &[libc::iovec], segs: &[GuestSeg]) -> Result<(), Failure> {
    for (v, s) in iov.iter().zip(segs) {
        let mut done = 0usize;
        while done < s.len as usize {
            // SAFETY: the iovec names guest RAM checked by `iovecs`; `done` stays below
            // its length.
            let r = unsafe {
                libc::write(rw.0, (v.iov_base as *const u8).add(done) as *const libc::c_void, v.iov_len - done)
            };
            let n = check(r)?;
            if n == 0 {
                return Err(Failure::Errno(errno::EIO as LinuxErrno));
            }
            done += n as usize;
        }
    }
    Ok(())
}

/// A new anonymous file: (a read-write descriptor on the lowest free fd, a read-only one).
#[cfg(target_os = "linux")]
fn anonymous_file_pair() -> Result<(Owned, Owned), Failure> {
    // SAFETY: the name is a NUL-terminated literal.
    let rw = Owned(check(unsafe { libc::memfd_create(c"linuxrun-proc".as_ptr(), libc::MFD_CLOEXEC) })? as c_int);
    let path = std::ffi::CString::new(format!("/proc/self/fd/{}", rw.0)).map_err(|_| Failure::Errno(EBADF))?;
    // SAFETY: path is NUL-terminated and outlives the call.
    let ro = Owned(check(unsafe { libc::open(path.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) })? as c_int);
    Ok((rw, ro))
}

/// Hosts without memfd: a temporary file opened twice, then unlinked.
#[cfg(not(target_os = "linux"))]
fn anonymous_file_pair() -> Result<(Owned, Owned), Failure> {
    let mut template = temp_template("linuxrun-proc-XXXXXX")?;
    // SAFETY: template is a writable NUL-terminated buffer that mkstemp rewrites in place.
    let rw = Owned(check(unsafe { libc::mkstemp(template.as_mut_ptr() as *mut libc::c_char) })? as c_int);
    // SAFETY: template now holds the created file's NUL-terminated path.
    let ro = unsafe { libc::open(template.as_ptr() as *const libc::c_char, libc::O_RDONLY | libc::O_CLOEXEC) };
    // SAFETY: as above; the file stays reachable through the two descriptors.
    unsafe { libc::unlink(template.as_ptr() as *const libc::c_char) };
    let ro = Owned(check(ro)? as c_int);
    set_cloexec(rw.0, true);
    Ok((rw, ro))
}

/// `<temp dir>/<name>` as a NUL-terminated buffer for mkstemp/mkdtemp.
fn temp_template(name: &str) -> Result<Vec<u8>, Failure> {
    use std::os::unix::ffi::OsStrExt;
    let mut path = std::env::temp_dir().join(name).as_os_str().as_bytes().to_vec();
    if path.len() >= PATH_MAX || path.contains(&0) {
        return Err(Failure::Errno(errno::ENAMETOOLONG as LinuxErrno));
    }
    path.push(0);
    Ok(path)
}

/// A descriptor of a fresh empty directory that is removed at once: it stays valid, lists
/// nothing and leaves nothing behind.
fn open_empty_dir(cloexec: bool) -> Handled {
    let mut template = temp_template("linuxrun-procdir-XXXXXX")?;
    // SAFETY: template is a writable NUL-terminated buffer that mkdtemp rewrites in place.
    if unsafe { libc::mkdtemp(template.as_mut_ptr() as *mut libc::c_char) }.is_null() {
        return Err(Failure::Errno(crate::host::last_errno()));
    }
    let path = template.as_ptr() as *const libc::c_char;
    // SAFETY: path is the NUL-terminated name of the directory mkdtemp made.
    let fd = unsafe { libc::open(path, libc::O_RDONLY | libc::O_DIRECTORY | cloexec_flag(cloexec)) };
    let result = check(fd);
    // SAFETY: as above.
    unsafe { libc::rmdir(path) };
    ret(result?)
}

/// The guest's name for a host path: mapped back through the --root/--bind view. Names
/// that are not paths ("pipe:[ino]") and host paths the view does not show stay as the
/// host says them, as Linux shows a file outside the reader's root.
pub fn host_path_to_guest_view(host_path: Vec<u8>) -> Vec<u8> {
    if !host_path.starts_with(b"/") {
        return host_path;
    }
    crate::vfs::current().guest_view_of_host_path(&host_path).unwrap_or(host_path)
}

fn fd_path(fds: &FdGuard, mem: &GuestMemory, fd: i32, buf: &SegList<'_>) -> Handled {
    if fd < 0 || fds.is_reserved(fd) {
        return Err(Failure::Errno(EBADF));
    }
    let path = host_path_to_guest_view(host_fd_path(fd)?);
    let total = buf.total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
    let n = path.len().min(usize::try_from(total).unwrap_or(usize::MAX));
    mem.write_segs(buf.as_slice(), &path[..n])?;
    ret(n as i64)
}

/// What the host's /proc/self/fd/N link says: exactly Linux's format.
#[cfg(target_os = "linux")]
fn host_fd_path(fd: c_int) -> Result<Vec<u8>, Failure> {
    use std::os::unix::ffi::OsStrExt;
    let link = format!("/proc/self/fd/{fd}");
    match std::fs::read_link(&link) {
        Ok(p) => Ok(p.as_os_str().as_bytes().to_vec()),
        Err(e) => {
            let host = e.raw_os_error().unwrap_or(libc::EBADF);
            // A closed descriptor: Linux's readlink of /proc/self/fd/N says ENOENT.
            Err(Failure::Errno(crate::host::errno_to_linux(host)))
        }
    }
}

/// Elsewhere: F_GETPATH for files and directories; pipes and sockets named as Linux does.
#[cfg(target_os = "macos")]
fn host_fd_path(fd: c_int) -> Result<Vec<u8>, Failure> {
    // SAFETY: st is a valid out-pointer for fstat.
    let st = super::fs::out_struct(|st| unsafe { libc::fstat(fd, st) })
        .map_err(|_| Failure::Errno(errno::ENOENT as LinuxErrno))?;
    match st.st_mode & libc::S_IFMT {
        libc::S_IFIFO => return Ok(format!("pipe:[{}]", st.st_ino).into_bytes()),
        libc::S_IFSOCK => return Ok(format!("socket:[{}]", st.st_ino).into_bytes()),
        _ => {}
    }
    let mut buf = vec![0u8; libc::PATH_MAX as usize];
    // SAFETY: F_GETPATH writes at most PATH_MAX bytes into buf.
    check(unsafe { libc::fcntl(fd, libc::F_GETPATH, buf.as_mut_ptr()) })?;
    buf.truncate(buf.iter().position(|&b| b == 0).unwrap_or(buf.len()));
    Ok(buf)
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
fn host_fd_path(_fd: c_int) -> Result<Vec<u8>, Failure> {
    Err(Failure::Errno(errno::ENOSYS as LinuxErrno))
}

fn list_fds(fds: &FdGuard, mem: &GuestMemory, buf: &SegList<'_>) -> Handled {
    let open = open_program_fds(fds)?;
    let total = buf.total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
    let fit = (usize::try_from(total).unwrap_or(usize::MAX) / 4).min(open.len());
    let bytes: Vec<u8> = open[..fit].iter().flat_map(|fd| fd.to_le_bytes()).collect();
    mem.write_segs(buf.as_slice(), &bytes)?;
    ret(open.len() as i64)
}

/// The program's descriptors: every open fd below the monitor's own (which sit above a
/// floor, the lowest reserved one).
pub(super) fn open_program_fds(fds: &FdGuard) -> Result<Vec<i32>, Failure> {
    let limit = fds.lowest_reserved().unwrap_or(i32::MAX);
    let mut open: Vec<i32> = host_open_fds()?.into_iter().filter(|&fd| fd < limit && !fds.is_reserved(fd)).collect();
    open.sort_unstable();
    Ok(open)
}

/// Open fds as the host's /proc/self/fd lists them (less the one reading it).
#[cfg(target_os = "linux")]
fn host_open_fds() -> Result<Vec<i32>, Failure> {
    // SAFETY: the path is a NUL-terminated literal.
    let dir = unsafe { libc::opendir(c"/proc/self/fd".as_ptr()) };
    if dir.is_null() {
        return Err(Failure::Errno(crate::host::last_errno()));
    }
    // SAFETY: dir is a valid DIR* until closedir below.
    let own = unsafe { libc::dirfd(dir) };
    let mut out = Vec::new();
    loop {
        // SAFETY: dir is valid; readdir returns null at the end.
        let ent = unsafe { libc::readdir(dir) };
        if ent.is_null() {
            break;
        }
        // SAFETY: d_name is a NUL-terminated name inside the dirent readdir returned.
        let name = unsafe { std::ffi::CStr::from_ptr((*ent).d_name.as_ptr()) };
        if let Some(fd) = name.to_str().ok().and_then(|s| s.parse::<i32>().ok()) {
            if fd != own {
                out.push(fd);
            }
        }
    }
    // SAFETY: dir came from opendir and is closed once.
    unsafe { libc::closedir(dir) };
    Ok(out)
}

/// Elsewhere: ask each fd below the descriptor limit.
#[cfg(not(target_os = "linux"))]
fn host_open_fds() -> Result<Vec<i32>, Failure> {
    // SAFETY: getdtablesize takes no arguments.
    let max = unsafe { libc::getdtablesize() }.clamp(0, 1 << 16);
    // SAFETY: F_GETFD takes no argument and only reports whether the fd is open.
    Ok((0..max).filter(|&fd| unsafe { libc::fcntl(fd, libc::F_GETFD) } >= 0).collect())
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    fn mem_with(buf: &mut Vec<u8>) -> GuestMemory {
        GuestMemory::from_vec_for_test(buf)
    }

    #[test]
    fn open_memory_gives_a_read_only_file_with_the_content() {
        let mut ram = vec![0u8; 8192];
        ram[100..111].copy_from_slice(b"hello world");
        let mem = mem_with(&mut ram);
        let segs = [GuestSeg { gpa: 100, len: 5 }, GuestSeg { gpa: 105, len: 6 }];
        let r = handle(
            &FdGuard::default(),
            &mem,
            &Request::OpenMemory { content: SegList::Borrowed(&segs), cloexec: true },
        );
        let Response::Ret(fd) = r else { panic!("{r:?}") };
        let fd = fd as c_int;
        let mut out = [0u8; 32];
        // SAFETY: out is a valid buffer.
        let n = unsafe { libc::read(fd, out.as_mut_ptr() as *mut libc::c_void, out.len()) };
        assert_eq!(&out[..n as usize], b"hello world");
        // SAFETY: writing one byte from a valid buffer.
        assert_eq!(unsafe { libc::write(fd, out.as_ptr() as *const libc::c_void, 1) }, -1);
        // SAFETY: F_GETFD takes no argument.
        assert_eq!(unsafe { libc::fcntl(fd, libc::F_GETFD) } & libc::FD_CLOEXEC, libc::FD_CLOEXEC);
        drop(Owned(fd));
    }

    #[test]
    fn open_memory_outside_guest_ram_is_malformed() {
        let mut ram = vec![0u8; 4096];
        let mem = mem_with(&mut ram);
        let segs = [GuestSeg { gpa: 4000, len: 200 }];
        let r = handle(
            &FdGuard::default(),
            &mem,
            &Request::OpenMemory { content: SegList::Borrowed(&segs), cloexec: true },
        );
        assert_eq!(r, Response::Malformed(MalformedReason::BadGuestAddress));
    }

    #[test]
    fn empty_dir_is_a_directory_that_lists_nothing_on_disk() {
        let mut ram = vec![0u8; 4096];
        let mem = mem_with(&mut ram);
        let Response::Ret(fd) = handle(&FdGuard::default(), &mem, &Request::OpenEmptyDir { cloexec: true }) else {
            panic!()
        };
        let fd = Owned(fd as c_int);
        // SAFETY: st is a valid out-pointer.
        let st = super::super::fs::out_struct(|st| unsafe { libc::fstat(fd.0, st) }).unwrap();
        assert_eq!(st.st_mode & libc::S_IFMT, libc::S_IFDIR);
        assert_eq!(st.st_nlink, 0, "removed at once");
    }

    #[test]
    fn fd_path_names_files_and_pipes_like_linux() {
        let mut ram = vec![0u8; 8192];
        let mem = mem_with(&mut ram);
        let file = Owned(
            // SAFETY: the path is a NUL-terminated literal.
            unsafe { libc::open(c"/etc/passwd".as_ptr(), libc::O_RDONLY) },
        );
        let segs = [GuestSeg { gpa: 0, len: 4096 }];
        let r = handle(&FdGuard::default(), &mem, &Request::FdPath { fd: file.0, buf: SegList::Borrowed(&segs) });
        assert_eq!(r, Response::Ret(11));
        assert_eq!(&mem.read_vec(0, 11).unwrap(), b"/etc/passwd");
        let mut p = [0 as c_int; 2];
        // SAFETY: p is a valid out-pointer for two ints.
        unsafe { libc::pipe(p.as_mut_ptr()) };
        let (a, b) = (Owned(p[0]), Owned(p[1]));
        let Response::Ret(n) =
            handle(&FdGuard::default(), &mem, &Request::FdPath { fd: a.0, buf: SegList::Borrowed(&segs) })
        else {
            panic!()
        };
        assert!(mem.read_vec(0, n as u64).unwrap().starts_with(b"pipe:["));
        drop(b);
        let mut guard = FdGuard::default();
        guard.reserve(file.0);
        let r = handle(&guard, &mem, &Request::FdPath { fd: file.0, buf: SegList::Borrowed(&segs) });
        assert_eq!(r, Response::Ret(-(errno::EBADF as i64)));
    }

    #[test]
    fn list_fds_includes_an_open_file_and_skips_reserved_ones() {
        let mut ram = vec![0u8; 65536];
        let mem = mem_with(&mut ram);
        // SAFETY: the path is a NUL-terminated literal.
        let file = Owned(unsafe { libc::open(c"/etc/passwd".as_ptr(), libc::O_RDONLY) });
        let segs = [GuestSeg { gpa: 0, len: 65536 }];
        let list = |guard: &FdGuard| {
            let Response::Ret(n) = handle(guard, &mem, &Request::ListFds { buf: SegList::Borrowed(&segs) }) else {
                panic!()
            };
            let bytes = mem.read_vec(0, n as u64 * 4).unwrap();
            bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>()
        };
        assert!(list(&FdGuard::default()).contains(&file.0));
        let mut guard = FdGuard::default();
        guard.reserve(file.0);
        assert!(!list(&guard).contains(&file.0));
    }
}
