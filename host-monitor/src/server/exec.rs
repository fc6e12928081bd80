//! The host's part of execve: finding and checking the new program exactly as the first
//! program was (program.rs), before the guest tears anything down, and the close-on-exec
//! sweep at the point of no return (and close_range's, which is the same walk over the
//! program's descriptors).

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;

use abi_shared::hypercall::{ExecPlan, ExecRequest, GuestSeg, Response};
use abi_shared::linux::{errno, general};
use libc::c_int;
use std::os::fd::AsRawFd;

use super::fs::{self, Failure, Handled};
use super::{lock, procfs, FdGuard, Server};
use crate::guest_mem::GuestMemory;
use crate::host::sys::{self, fd_host_path};
use crate::host::LinuxErrno;

/// Linux's limit on one argument or environment string, its NUL included (MAX_ARG_STRLEN,
/// 32 pages).
const MAX_ARG_STRLEN: usize = 32 * 4096;
/// The most bytes of arguments and environment one exec takes, counted as Linux counts
/// them: each string with its NUL, plus a pointer per string. Linux allows a quarter of the
/// stack rlimit (so 2 MiB under the usual 8 MiB stack limit); the monitor keeps to that.
const ARG_MAX_BYTES: usize = 2 << 20;

const E2BIG: LinuxErrno = errno::E2BIG as LinuxErrno;
use crate::program::{self, Found};
use crate::vfs;

/// PrepareExec: open the program, follow its `#!` lines and check its ELF interpreter.
/// On success the ELF is open (close-on-exec) for the guest loader; on failure nothing is.
fn prepare(fds: &FdGuard, mem: &GuestMemory, dirfd: i32, path: &[u8], flags: i32) -> Handled {
    let allowed = general::AT_EMPTY_PATH | general::AT_SYMLINK_NOFOLLOW;
    if flags as u32 & !allowed != 0 {
        return Err(Failure::Errno(errno::EINVAL as LinuxErrno));
    }
    let fd = fs::open_for_exec(fds, mem, dirfd, path, flags)?;
    let filename = exec_filename(dirfd, path);
    if crate::native::is_native(fd) {
        let exe = std::fs::read_link(fd_host_path(fd)).map(|p| p.into_os_string().into_vec()).unwrap_or_default();
        return Ok(Response::Exec(ExecPlan { fd, filename, exe, argv_prefix: None, native: true, seed: [0; 32] }));
    }
    let found = Found { guest: PathBuf::from(OsStr::from_bytes(&filename)), host: fd_host_path(fd) };
    let chain = match program::follow_scripts(vfs::current(), found.clone()) {
        Ok(chain) => chain,
        Err(e) => {
            close(fd);
            return Err(Failure::Errno(e.errno));
        }
    };
    let elf_fd = if chain.elf == found {
        fd
    } else {
        close(fd);
        open_readonly(&chain.elf.host)?
    };
    let exe =
        vfs::current().guest_path_of_fd(elf_fd).unwrap_or_else(|| chain.elf.guest.clone().into_os_string().into_vec());
    Ok(Response::Exec(ExecPlan {
        fd: elf_fd,
        filename,
        exe,
        argv_prefix: chain.argv_prefix,
        native: false,
        seed: crate::entropy::seed(),
    }))
}

/// ExecNative: the host execs a `--native` program; returns only on failure.
fn exec_native(fds: &FdGuard, mem: &GuestMemory, fd: i32, args: &[GuestSeg], argc: u32, blocked: u64) -> Handled {
    if fd < 0 || fds.is_reserved(fd) || !crate::native::is_native(fd) {
        return Err(Failure::Errno(errno::EBADF as LinuxErrno));
    }
    // Refused before anything is read: the strings alone would be over the limit.
    let total = args.iter().try_fold(0u64, |sum, seg| sum.checked_add(seg.len));
    if total.is_none_or(|t| t > ARG_MAX_BYTES as u64) {
        return Err(Failure::Errno(E2BIG));
    }
    let mut bytes = Vec::new();
    for seg in args {
        let part = mem.read_vec(seg.gpa, seg.len).map_err(|_| Failure::Errno(errno::EFAULT as LinuxErrno))?;
        bytes.extend_from_slice(&part);
    }
    let (argv, envp) =
        crate::native::split_args(&bytes, argc as usize).ok_or(Failure::Errno(errno::EINVAL as LinuxErrno))?;
    check_arg_sizes(&argv, &envp)?;
    let blocked_signals = (1..=64).filter(|s| blocked & (1u64 << (s - 1)) != 0);
    let mask = sys::sigset_of(blocked_signals.filter_map(crate::host::host_signal_of));
    let e = crate::native::exec(fd, &argv, &envp, &mask);
    Err(Failure::Errno(crate::host::errno_to_linux(e)))
}

/// E2BIG, as Linux's execve answers, for a string longer than MAX_ARG_STRLEN or strings
/// and pointers that add up to more than ARG_MAX_BYTES.
fn check_arg_sizes(argv: &[CString], envp: &[CString]) -> Result<(), Failure> {
    let mut total = 0usize;
    for s in argv.iter().chain(envp) {
        let len = s.as_bytes_with_nul().len();
        if len > MAX_ARG_STRLEN {
            return Err(Failure::Errno(E2BIG));
        }
        total += len + std::mem::size_of::<u64>();
    }
    if total > ARG_MAX_BYTES {
        return Err(Failure::Errno(E2BIG));
    }
    Ok(())
}

impl Server {
    /// Serve one exec request.
    pub(super) fn exec(&self, mem: &GuestMemory, req: &ExecRequest<'_>) -> Response {
        let result = match req {
            ExecRequest::PrepareExec { dirfd, path, flags } => prepare(&self.fds, mem, *dirfd, path, *flags),
            ExecRequest::ExecNative { fd, args, argc, blocked } => {
                exec_native(&self.fds, mem, *fd, args.as_slice(), *argc, *blocked)
            }
            ExecRequest::CloseOnExec => {
                // A vfork child's exec ends the parent's wait: the link goes (see vfork_done).
                if let Some(fd) = lock(&self.vfork_done).take() {
                    self.fds.unreserve(fd.as_raw_fd());
                }
                close_on_exec(&self.fds)
            }
            ExecRequest::CloseRange { first, last, flags } => close_range(&self.fds, *first, *last, *flags),
            ExecRequest::FdsEnd => fds_end(&self.fds),
        };
        result.unwrap_or_else(Response::from)
    }
}

/// The name Linux's execveat gives the program (bprm->filename): the path itself when it
/// is absolute or relative to the working directory, else "/dev/fd/N" or "/dev/fd/N/path".
pub fn exec_filename(dirfd: i32, path: &[u8]) -> Vec<u8> {
    if path.starts_with(b"/") || dirfd == general::AT_FDCWD {
        return path.to_vec();
    }
    let mut name = format!("/dev/fd/{dirfd}").into_bytes();
    if !path.is_empty() {
        name.push(b'/');
        name.extend_from_slice(path);
    }
    name
}

fn open_readonly(host: &std::path::Path) -> Result<c_int, Failure> {
    Ok(sys::open_readonly(&sys::c_string(host)?)?)
}

/// Close a descriptor opened here (or one of the program's at exec), not used after.
fn close(fd: c_int) {
    sys::close_quietly(fd);
}

/// CloseOnExec: close every program descriptor marked FD_CLOEXEC (the monitor's own lie
/// above the program's and are left alone).
fn close_on_exec(fds: &FdGuard) -> Handled {
    let mut closed = 0;
    for fd in procfs::open_program_fds(fds)? {
        if sys::fd_flags(fd).is_ok_and(|flags| flags & libc::FD_CLOEXEC != 0) {
            close(fd);
            closed += 1;
        }
    }
    sys::emulated_prune();
    Ok(Response::Ret(closed))
}

/// close_range's flags (linux/close_range.h).
const CLOSE_RANGE_UNSHARE: u32 = 1 << 1;
const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;

/// close_range(first, last, flags) over the program's descriptors only: the monitor's own
/// (above the floor, or reserved) are never closed whatever the range. CLOSE_RANGE_UNSHARE
/// asks for a private descriptor table first; a Linux process here is a host process whose
/// table no other Linux process shares, so there is nothing to unshare (and unsharing on the
/// host would part the monitor's threads).
fn close_range(fds: &FdGuard, first: u32, last: u32, flags: u32) -> Handled {
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Failure::Errno(errno::EINVAL as LinuxErrno));
    }
    let in_range = |fd: &i32| (first..=last).contains(&(*fd as u32));
    for fd in procfs::open_program_fds(fds)?.into_iter().filter(in_range) {
        if flags & CLOSE_RANGE_CLOEXEC != 0 {
            sys::set_cloexec_quietly(fd, true);
        } else {
            close(fd);
        }
    }
    sys::emulated_prune();
    Ok(Response::Ret(0))
}

/// FdsEnd: one past the program's highest open descriptor (0 when it has none).
fn fds_end(fds: &FdGuard) -> Handled {
    let highest = procfs::open_program_fds(fds)?.last().copied();
    Ok(Response::Ret(highest.map_or(0, |fd| i64::from(fd) + 1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    fn is_open(fd: c_int) -> bool {
        sys::fd_flags(fd).is_ok()
    }

    /// The monitor's own descriptors (the lowest reserved one and above) are not the
    /// program's: the end lies below them, and past every program descriptor.
    #[test]
    fn fds_end_is_past_the_programs_descriptors_and_below_the_monitors() {
        let (a, b) = (sys::dup(0).unwrap(), sys::dup(0).unwrap());
        let (program, mine) = (a.min(b), a.max(b));
        let guard = FdGuard::default();
        guard.reserve(mine);
        let Response::Ret(end) = fds_end(&guard).unwrap() else { panic!("not a Ret") };
        assert!(i64::from(program) < end && end <= i64::from(mine), "{program} < {end} <= {mine}");
        close(program);
        close(mine);
    }

    /// Ranges of one descriptor each: other tests of this process own the fds around ours.
    #[test]
    fn close_range_spares_the_monitors_descriptors() {
        // The monitor's descriptors lie above the program's, as the floor makes them.
        // Plain dups of stdin, closed by the test.
        let (a, b) = (sys::dup(0).unwrap(), sys::dup(0).unwrap());
        let (program, mine) = (a.min(b), a.max(b));
        let guard = FdGuard::default();
        guard.reserve(mine);
        let (m, p) = (mine as u32, program as u32);
        assert_eq!(close_range(&guard, m, m, 0).unwrap(), Response::Ret(0));
        assert!(is_open(mine));
        assert_eq!(close_range(&guard, p, p, CLOSE_RANGE_CLOEXEC).unwrap(), Response::Ret(0));
        assert_eq!(sys::fd_flags(program), Ok(libc::FD_CLOEXEC));
        assert_eq!(close_range(&guard, p, p, CLOSE_RANGE_UNSHARE).unwrap(), Response::Ret(0));
        assert!(!is_open(program));
        let einval = Failure::Errno(errno::EINVAL as LinuxErrno);
        assert_eq!(close_range(&guard, p, p, 1).unwrap_err(), einval);
        assert_eq!(close_range(&guard, p + 1, p, 0).unwrap_err(), einval);
        close(mine);
    }

    /// A file registered as a `--native` program (this is the only test that registers
    /// one: the list is set once per process), already removed from the file system.
    fn native_test_file() -> std::os::fd::OwnedFd {
        let (path, file) = sys::create_temp("linuxrun-native-", sys::TempKind::File).unwrap();
        crate::native::install(std::slice::from_ref(&path)).unwrap();
        std::fs::remove_file(&path).unwrap();
        file.unwrap()
    }

    fn strings(lens: &[usize]) -> Vec<CString> {
        lens.iter().map(|&n| CString::new(vec![b'a'; n]).unwrap()).collect()
    }

    #[test]
    fn native_arguments_are_capped_as_linux_caps_them() {
        let e2big = Err(Failure::Errno(E2BIG));
        assert_eq!(check_arg_sizes(&strings(&[3, 10]), &strings(&[20])), Ok(()));
        // One string: MAX_ARG_STRLEN with its NUL is the most.
        assert_eq!(check_arg_sizes(&strings(&[MAX_ARG_STRLEN - 1]), &[]), Ok(()));
        assert_eq!(check_arg_sizes(&strings(&[MAX_ARG_STRLEN]), &[]), e2big);
        assert_eq!(check_arg_sizes(&[], &strings(&[MAX_ARG_STRLEN])), e2big);
        // The total counts a pointer per string: 2 MiB of empty strings is over.
        let many_empty = strings(&vec![0; ARG_MAX_BYTES / 9 + 1]);
        assert_eq!(check_arg_sizes(&many_empty, &[]), e2big);
        let per_string = 1000 + 1 + 8;
        assert_eq!(check_arg_sizes(&strings(&vec![1000; ARG_MAX_BYTES / per_string]), &[]), Ok(()));
        assert_eq!(check_arg_sizes(&strings(&vec![1000; ARG_MAX_BYTES / per_string + 1]), &[]), e2big);
    }

    #[test]
    fn native_exec_refuses_oversized_arguments_before_reading_them() {
        let mut ram = vec![0u8; 4096];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        // A segment far past guest RAM: had it been read, the answer would be EFAULT.
        let huge = [GuestSeg { gpa: 0, len: ARG_MAX_BYTES as u64 + 1 }];
        let split = [GuestSeg { gpa: 0, len: u64::MAX }, GuestSeg { gpa: 0, len: 2 }];
        let native = native_test_file();
        for args in [&huge[..], &split[..]] {
            let r = exec_native(&FdGuard::default(), &mem, native.as_raw_fd(), args, 1, 0);
            assert_eq!(r, Err(Failure::Errno(E2BIG)));
        }
    }

    #[test]
    fn filenames_are_linuxs() {
        assert_eq!(exec_filename(general::AT_FDCWD, b"./a"), b"./a");
        assert_eq!(exec_filename(5, b"/bin/x"), b"/bin/x");
        assert_eq!(exec_filename(5, b""), b"/dev/fd/5");
        assert_eq!(exec_filename(5, b"sub/x"), b"/dev/fd/5/sub/x");
    }
}
