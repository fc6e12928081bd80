//! The host's part of the guest's /proc: anonymous read-only files holding what the guest
//! generated, empty directories standing for /proc directories, the path behind a
//! descriptor (for /proc/self/fd/N) and the list of the program's descriptors.
//!
//! Guest fds are host fds, so a /proc file must be a real host descriptor: the guest then
//! reads, seeks, maps and polls it like any file, with no more guest code.

use std::os::fd::{AsFd, AsRawFd, IntoRawFd, OwnedFd};
use std::sync::{Arc, OnceLock};

use abi_shared::hypercall::{GuestSeg, MalformedReason, ProcfsRequest, Response, SegList};
use abi_shared::linux::{errno, general};

use super::fs::{ret, Failure, Handled};
use super::FdGuard;
use crate::guest_mem::{GuestMemory, MAX_SEGMENTS};
use crate::host::sys;
use crate::host::LinuxErrno;
use crate::own_fd::MovableFd;

const EBADF: LinuxErrno = errno::EBADF as LinuxErrno;
/// The largest /proc file we accept (a maps file of 65530 VMAs is under 10 MiB).
const MAX_CONTENT: u64 = 64 << 20;

/// Serve one /proc helper request.
pub fn handle(fds: &FdGuard, mem: &GuestMemory, req: &ProcfsRequest<'_>) -> Response {
    let result = match req {
        ProcfsRequest::OpenMemory { content, cloexec } => open_memory(mem, content, *cloexec),
        ProcfsRequest::OpenEmptyDir { cloexec } => open_empty_dir(*cloexec),
        ProcfsRequest::FdPath { fd, buf } => fd_path(fds, mem, *fd, buf),
        ProcfsRequest::ListFds { buf } => list_fds(fds, mem, buf),
        ProcfsRequest::OpenHostProc { path, flags, mode } => open_host_proc(path, *flags, *mode),
        ProcfsRequest::ProcessName { argv, comm, exe } => {
            sys::set_process_name(argv, comm);
            if !exe.is_empty() {
                // Best effort: a host that cannot publish it shows the monitor's exe.
                let _ = publish_exe(fds, exe);
            }
            ret(0)
        }
        ProcfsRequest::HostProcLink { path, buf } => host_proc_link(mem, path, buf),
    };
    result.unwrap_or_else(Response::from)
}

fn open_empty_dir(cloexec: bool) -> Handled {
    ret(sys::open_removed_empty_dir(cloexec)?.into())
}

/// The host's /proc/`path` (see `ProcfsRequest::OpenHostProc`). Three kinds of path are
/// rewritten rather than opened: `self/mounts` and `self/mountinfo` (the monitor's mounts,
/// shown through the program's filesystem view), and the cmdline of another linuxrun'd
/// process, whose host title (see `sys::set_process_name`) is its Linux argv padded with
/// NULs, trimmed here to the argv itself.
fn open_host_proc(path: &[u8], flags: i32, mode: u32) -> Handled {
    let (names, parts) = host_proc_parts(path)?;
    let first = parts.first().copied().unwrap_or(b"");
    let writing = flags as u32 & (general::O_ACCMODE | general::O_TRUNC | general::O_CREAT) != 0;
    let cloexec = flags as u32 & general::O_CLOEXEC != 0;
    let mount_list = first == b"self" && !writing && parts.len() == 2 && matches!(parts[1], b"mounts" | b"mountinfo");
    if let Some(table) = crate::vfs::current().mount_table().filter(|_| mount_list) {
        let host = sys::read_host_proc(names)?;
        return memory_file(&crate::vfs::mounts::view_mount_list(table, &host, parts[1] == b"mountinfo"), cloexec);
    }
    // Outside a mounted view the monitor's mounts are the program's: the file itself.
    if (first == b"self" && !mount_list) || first == b"thread-self" {
        return Err(Failure::Errno(errno::EACCES as LinuxErrno));
    }
    if let Some(pid) = proc_number(first) {
        if pid == sys::getpid() || sys::is_own_thread(pid) {
            return Err(Failure::Errno(errno::EACCES as LinuxErrno));
        }
        let cmdline = matches!(parts[1..], [b"cmdline"] | [b"task", _, b"cmdline"]);
        if cmdline && !writing && sys::runs_linuxrun(pid) {
            let mut text = sys::read_host_proc(names)?;
            while text.len() > 1 && text.ends_with(b"\0\0") {
                text.pop();
            }
            return memory_file(&text, cloexec);
        }
    }
    let mut full = b"/proc/".to_vec();
    full.extend_from_slice(path);
    let host_flags = crate::host::open_flags_to_host(flags)?;
    let full = super::fs::c_path(&full)?;
    let fd: i32 = sys::openat(libc::AT_FDCWD, &full, host_flags, crate::host::open_mode_to_host(mode))?;
    // (A number left here after a close and reused names no such thread: harmless.)
    match (proc_number(first), &parts[..]) {
        (Some(pid), [_, b"task"]) if sys::runs_linuxrun(pid) => lock_task_dirs().insert(fd, pid),
        _ => lock_task_dirs().remove(&fd),
    };
    ret(fd.into())
}

/// The program's descriptors of `/proc/PID/task` of another linuxrun'd process, with
/// that PID: their listings leave out the other monitor's own threads.
static TASK_DIRS: std::sync::Mutex<std::collections::BTreeMap<i32, i32>> =
    std::sync::Mutex::new(std::collections::BTreeMap::new());

fn lock_task_dirs() -> std::sync::MutexGuard<'static, std::collections::BTreeMap<i32, i32>> {
    TASK_DIRS.lock().unwrap_or_else(|e| e.into_inner())
}

/// A listing (`linux_dirent64` records, `n` bytes) read from the program's descriptor
/// `fd`: if it is another linuxrun'd process's `task/` directory, the entries of that
/// monitor's own threads (its request worker, its re-kicker, its gdb stub, the host's
/// KVM worker) are taken out, as they are no threads of the Linux program there (gdb
/// attaches each thread `task/` lists, and would retry these for ever). Returns the
/// new length.
#[cfg(target_os = "linux")]
pub fn filter_task_listing(fd: i32, dirents: &mut [u8], n: usize) -> usize {
    let Some(pid) = lock_task_dirs().get(&fd).copied() else { return n };
    let mut at = 0;
    let mut kept = 0;
    while at + 19 <= n {
        let reclen = u16::from_ne_bytes([dirents[at + 16], dirents[at + 17]]) as usize;
        if reclen < 19 || at + reclen > n {
            break;
        }
        let name = &dirents[at + 19..at + reclen];
        let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
        let monitor_thread = std::str::from_utf8(name)
            .ok()
            .and_then(|t| t.parse::<i32>().ok())
            .filter(|&tid| tid != pid)
            .and_then(|tid| std::fs::read(format!("/proc/{pid}/task/{tid}/comm")).ok())
            .is_some_and(|comm| is_monitor_thread_name(comm.strip_suffix(b"\n").unwrap_or(&comm)));
        if !monitor_thread {
            dirents.copy_within(at..at + reclen, kept);
            kept += reclen;
        }
        at += reclen;
    }
    kept
}

/// The names a monitor gives its own threads (cut to 15 bytes, as comm is), and the
/// host's KVM workers that live in a VM's process.
fn is_monitor_thread_name(comm: &[u8]) -> bool {
    matches!(comm, b"hypercall-worke" | b"rekick" | b"linuxrun-gdb") || comm.starts_with(b"kvm-")
}

/// A host /proc path checked (relative, no empty, "." or ".." component; a final slash
/// allowed): the path without that slash, and its components.
fn host_proc_parts(path: &[u8]) -> Result<(&[u8], Vec<&[u8]>), Failure> {
    let names = path.strip_suffix(b"/").unwrap_or(path);
    let parts: Vec<&[u8]> = names.split(|&b| b == b'/').collect();
    if !path.is_empty() && parts.iter().any(|n| n.is_empty() || *n == b"." || *n == b"..") {
        return Err(Failure::Malformed(MalformedReason::NotAllowed));
    }
    Ok((names, parts))
}

/// readlink of the host's /proc/`path` (see `ProcfsRequest::HostProcLink`).
fn host_proc_link(mem: &GuestMemory, path: &[u8], buf: &SegList<'_>) -> Handled {
    let (names, parts) = host_proc_parts(path)?;
    let first = parts.first().copied().unwrap_or(b"");
    let pid = proc_number(first);
    if first == b"self" || first == b"thread-self" || pid.is_some_and(|p| p == sys::getpid() || sys::is_own_thread(p)) {
        return Err(Failure::Errno(errno::EACCES as LinuxErrno));
    }
    let published = match (pid, &parts[1..]) {
        (Some(pid), [b"exe"]) if sys::runs_linuxrun(pid) => sys::published_exe_of(pid),
        _ => None,
    };
    let target = match published {
        Some(t) => t,
        None => sys::read_host_proc_link(names)?,
    };
    let total = buf.total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
    let n = target.len().min(usize::try_from(total).unwrap_or(usize::MAX));
    mem.write_segs(buf.as_slice(), &target[..n])?;
    ret(n as i64)
}

/// The descriptor holding the program's path for other monitors (none yet).
static PUBLISHED_EXE: OnceLock<Arc<MovableFd>> = OnceLock::new();

/// Publish the program's path (see `sys::published_exe_file`) at a monitor descriptor,
/// the same one after each exec; a forked monitor replaces its copy of the parent's.
fn publish_exe(fds: &FdGuard, exe: &[u8]) -> Result<(), Failure> {
    let file = sys::published_exe_file(exe)?;
    if let Some(published) = PUBLISHED_EXE.get() {
        published.replace_with(file.as_fd())?;
        return Ok(());
    }
    let fd = crate::startup::with_fd_room(|| sys::dup_above_floor(&file, fds.floor()))
        .map_err(|e| Failure::Errno(crate::host::errno_to_linux(e.raw_os_error().unwrap_or(libc::EIO))))?;
    let published = MovableFd::new(fd);
    fds.reserve(published.raw());
    let _ = PUBLISHED_EXE.set(published);
    Ok(())
}

/// A /proc directory name that is a number (a pid or a thread id).
fn proc_number(name: &[u8]) -> Option<i32> {
    let s = std::str::from_utf8(name).ok()?;
    (!s.starts_with('0') && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse().ok())?
}

/// A read-only anonymous file holding `content`, on the lowest free descriptor.
fn memory_file(content: &[u8], cloexec: bool) -> Handled {
    let (rw, ro) = sys::anonymous_file_pair()?;
    let mut done = 0;
    while done < content.len() {
        let rest = &content[done..];
        let v = libc::iovec { iov_base: rest.as_ptr() as *mut libc::c_void, iov_len: rest.len() };
        // SAFETY: the iovec names the rest of `content`, alive for the call.
        let n = unsafe { sys::write_vectored(rw.as_raw_fd(), &[v], None) }?;
        if n == 0 {
            return Err(Failure::Errno(errno::EIO as LinuxErrno));
        }
        done += n as usize;
    }
    let fd = rw.into_raw_fd();
    if let Err(e) = sys::dup2(ro.as_raw_fd(), fd) {
        sys::close_quietly(fd);
        return Err(e.into());
    }
    drop(ro);
    sys::set_cloexec_quietly(fd, cloexec);
    ret(i64::from(fd))
}

fn open_memory(mem: &GuestMemory, content: &SegList<'_>, cloexec: bool) -> Handled {
    let segs = content.as_slice();
    let total = content.total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
    if segs.len() > MAX_SEGMENTS || total > MAX_CONTENT {
        return Err(Failure::Malformed(MalformedReason::BadLength));
    }
    let iov = mem.iovecs(segs)?;
    let (rw, ro) = sys::anonymous_file_pair()?;
    write_all(&rw, &iov, segs)?;
    // `rw` took the lowest free fd, so it is the number the program must get: put the
    // read-only description there (writes then fail with EBADF, as on a /proc file).
    let fd = rw.into_raw_fd();
    if let Err(e) = sys::dup2(ro.as_raw_fd(), fd) {
        sys::close_quietly(fd);
        return Err(e.into());
    }
    drop(ro);
    sys::set_cloexec_quietly(fd, cloexec);
    ret(i64::from(fd))
}

/// Write the guest segments (checked by `iovecs`) to the new file, a segment at a time.
fn write_all(rw: &OwnedFd, iov: &[libc::iovec], segs: &[GuestSeg]) -> Result<(), Failure> {
    for (v, s) in iov.iter().zip(segs) {
        let mut done = 0usize;
        while done < s.len as usize {
            // `done` stays below the iovec's length, so the pointer stays in the segment.
            let rest =
                libc::iovec { iov_base: v.iov_base.cast::<u8>().wrapping_add(done).cast(), iov_len: v.iov_len - done };
            // SAFETY: the iovec names the rest of a segment of checked guest RAM.
            let n = unsafe { sys::write_vectored(rw.as_raw_fd(), &[rest], None) }?;
            if n == 0 {
                return Err(Failure::Errno(errno::EIO as LinuxErrno));
            }
            done += n as usize;
        }
    }
    Ok(())
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
    let path = host_path_to_guest_view(sys::fd_path(fd)?);
    let total = buf.total_len().ok_or(Failure::Malformed(MalformedReason::BadLength))?;
    let n = path.len().min(usize::try_from(total).unwrap_or(usize::MAX));
    mem.write_segs(buf.as_slice(), &path[..n])?;
    ret(n as i64)
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
/// floor, the lowest reserved one), or, where the program may hold numbers above the
/// floor too, every open fd but the monitor's.
pub(super) fn open_program_fds(fds: &FdGuard) -> Result<Vec<i32>, Failure> {
    let limit = if fds.shared() { i32::MAX } else { fds.lowest_reserved().unwrap_or(i32::MAX) };
    let mut open: Vec<i32> = sys::open_fds()?.into_iter().filter(|&fd| fd < limit && !fds.is_reserved(fd)).collect();
    open.sort_unstable();
    Ok(open)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_shared::hypercall::ProcfsRequest;
    use std::fs::File;
    use std::io::{Read, Write};
    use std::os::fd::FromRawFd;
    use std::os::unix::fs::MetadataExt;

    fn mem_with(buf: &mut Vec<u8>) -> GuestMemory {
        GuestMemory::from_vec_for_test(buf)
    }

    /// The descriptor a request made, closed when the test is done with it.
    fn adopt(fd: i64) -> File {
        assert!(fd >= 0, "a descriptor, not an error: {fd}");
        // SAFETY: the request made a new descriptor that nothing else owns.
        unsafe { File::from_raw_fd(fd as i32) }
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
            &ProcfsRequest::OpenMemory { content: SegList::Borrowed(&segs), cloexec: true },
        );
        let Response::Ret(fd) = r else { panic!("{r:?}") };
        let mut file = adopt(fd);
        let mut out = Vec::new();
        file.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello world");
        assert!(file.write(b"x").is_err());
        assert!(rustix::io::fcntl_getfd(&file).unwrap().contains(rustix::io::FdFlags::CLOEXEC));
    }

    #[test]
    fn open_memory_outside_guest_ram_is_malformed() {
        let mut ram = vec![0u8; 4096];
        let mem = mem_with(&mut ram);
        let segs = [GuestSeg { gpa: 4000, len: 200 }];
        let r = handle(
            &FdGuard::default(),
            &mem,
            &ProcfsRequest::OpenMemory { content: SegList::Borrowed(&segs), cloexec: true },
        );
        assert_eq!(r, Response::Malformed(MalformedReason::BadGuestAddress));
    }

    #[test]
    fn empty_dir_is_a_directory_that_lists_nothing_on_disk() {
        let mut ram = vec![0u8; 4096];
        let mem = mem_with(&mut ram);
        let Response::Ret(fd) = handle(&FdGuard::default(), &mem, &ProcfsRequest::OpenEmptyDir { cloexec: true })
        else {
            panic!()
        };
        let st = adopt(fd).metadata().unwrap();
        assert!(st.is_dir());
        assert_eq!(st.nlink(), 0, "removed at once");
    }

    #[test]
    fn fd_path_names_files_and_pipes_like_linux() {
        let mut ram = vec![0u8; 8192];
        let mem = mem_with(&mut ram);
        let file = File::open("/etc/passwd").unwrap();
        let fd = file.as_raw_fd();
        let segs = [GuestSeg { gpa: 0, len: 4096 }];
        let r = handle(&FdGuard::default(), &mem, &ProcfsRequest::FdPath { fd, buf: SegList::Borrowed(&segs) });
        assert_eq!(r, Response::Ret(11));
        assert_eq!(&mem.read_vec(0, 11).unwrap(), b"/etc/passwd");
        let (a, _b) = rustix::pipe::pipe().unwrap();
        let Response::Ret(n) = handle(
            &FdGuard::default(),
            &mem,
            &ProcfsRequest::FdPath { fd: a.as_raw_fd(), buf: SegList::Borrowed(&segs) },
        ) else {
            panic!()
        };
        assert!(mem.read_vec(0, n as u64).unwrap().starts_with(b"pipe:["));
        let guard = FdGuard::default();
        guard.reserve(fd);
        let r = handle(&guard, &mem, &ProcfsRequest::FdPath { fd, buf: SegList::Borrowed(&segs) });
        assert_eq!(r, Response::Ret(-(errno::EBADF as i64)));
    }

    #[test]
    fn list_fds_includes_an_open_file_and_skips_reserved_ones() {
        let mut ram = vec![0u8; 65536];
        let mem = mem_with(&mut ram);
        let file = File::open("/etc/passwd").unwrap();
        let fd = file.as_raw_fd();
        let segs = [GuestSeg { gpa: 0, len: 65536 }];
        let list = |guard: &FdGuard| {
            let Response::Ret(n) = handle(guard, &mem, &ProcfsRequest::ListFds { buf: SegList::Borrowed(&segs) })
            else {
                panic!()
            };
            let bytes = mem.read_vec(0, n as u64 * 4).unwrap();
            bytes.chunks_exact(4).map(|c| i32::from_le_bytes(c.try_into().unwrap())).collect::<Vec<_>>()
        };
        assert!(list(&FdGuard::default()).contains(&fd));
        let guard = FdGuard::default();
        guard.reserve(fd);
        assert!(!list(&guard).contains(&fd));
    }
}
