//! Files and descriptors: paths, reads and writes, metadata, pipes, polls and the event
//! descriptors (epoll, eventfd, timerfd) the host keeps.

use super::{LinuxFlock, SegList, XattrTarget};
use alloc::vec::Vec;
use serde::{Deserialize, Serialize};

/// `Request::Fs`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FsRequest<'a> {
    Openat {
        dirfd: i32,
        path: &'a [u8],
        flags: i32,
        mode: u32,
    },
    Close {
        fd: i32,
    },
    /// read/readv into the segments; `offset` set for pread64/preadv.
    Read {
        fd: i32,
        buf: SegList<'a>,
        offset: Option<i64>,
    },
    /// write/writev from the segments; `offset` set for pwrite64/pwritev.
    Write {
        fd: i32,
        buf: SegList<'a>,
        offset: Option<i64>,
    },
    Lseek {
        fd: i32,
        offset: i64,
        whence: u32,
    },
    Fstat {
        fd: i32,
    },
    /// newfstatat (and stat/lstat, which the guest maps onto it).
    Fstatat {
        dirfd: i32,
        path: &'a [u8],
        flags: i32,
    },
    Statx {
        dirfd: i32,
        path: &'a [u8],
        flags: i32,
        mask: u32,
    },
    Getdents64 {
        fd: i32,
        buf: SegList<'a>,
    },
    Mkdirat {
        dirfd: i32,
        path: &'a [u8],
        mode: u32,
    },
    Unlinkat {
        dirfd: i32,
        path: &'a [u8],
        flags: i32,
    },
    Renameat2 {
        olddirfd: i32,
        oldpath: &'a [u8],
        newdirfd: i32,
        newpath: &'a [u8],
        flags: u32,
    },
    Symlinkat {
        target: &'a [u8],
        newdirfd: i32,
        linkpath: &'a [u8],
    },
    Readlinkat {
        dirfd: i32,
        path: &'a [u8],
        buf: SegList<'a>,
    },
    Truncate {
        path: &'a [u8],
        length: i64,
    },
    Ftruncate {
        fd: i32,
        length: i64,
    },
    Fsync {
        fd: i32,
    },
    Fdatasync {
        fd: i32,
    },
    Fchmodat {
        dirfd: i32,
        path: &'a [u8],
        mode: u32,
    },
    Fchmod {
        fd: i32,
        mode: u32,
    },
    Faccessat {
        dirfd: i32,
        path: &'a [u8],
        mode: i32,
        flags: i32,
    },
    Getcwd {
        buf: SegList<'a>,
    },
    Chdir {
        path: &'a [u8],
    },
    Fchdir {
        fd: i32,
    },
    Dup {
        fd: i32,
    },
    Dup3 {
        oldfd: i32,
        newfd: i32,
        flags: i32,
    },
    /// fcntl commands whose argument is an integer (F_DUPFD, F_GETFD/SETFD, F_GETFL/SETFL...).
    Fcntl {
        fd: i32,
        cmd: i32,
        arg: u64,
    },
    Umask {
        mask: u32,
    },
    /// pipe2: answered with `Response::Fds([read_end, write_end])`.
    Pipe2 {
        flags: i32,
    },
    /// linkat (and link): flags AT_SYMLINK_FOLLOW, AT_EMPTY_PATH.
    Linkat {
        olddirfd: i32,
        oldpath: &'a [u8],
        newdirfd: i32,
        newpath: &'a [u8],
        flags: i32,
    },
    /// utimensat (and utimes, futimesat, utime, futimens). `path` None is a NULL path (the
    /// times of `dirfd` itself); `times` None is NULL (both now). Each time is
    /// (tv_sec, tv_nsec), with UTIME_NOW and UTIME_OMIT as Linux numbers them.
    Utimensat {
        dirfd: i32,
        path: Option<&'a [u8]>,
        times: Option<[(i64, i64); 2]>,
        flags: i32,
    },
    /// fchownat (and chown, lchown): uid/gid u32::MAX leave that id unchanged.
    Fchownat {
        dirfd: i32,
        path: &'a [u8],
        uid: u32,
        gid: u32,
        flags: i32,
    },
    Fchown {
        fd: i32,
        uid: u32,
        gid: u32,
    },
    /// ioctl FIONREAD: the number of bytes ready to read, as `Ret`.
    IoctlFionread {
        fd: i32,
    },
    /// The absolute path of `path` with every symlink, `.` and `..` resolved, without NUL,
    /// into `buf`; `Ret` is its length (ERANGE when `buf` is shorter).
    Realpath {
        path: &'a [u8],
        buf: SegList<'a>,
    },
    /// getxattr/lgetxattr/fgetxattr: the value into `buf` (`buf` empty: just its size).
    Getxattr {
        target: XattrTarget<'a>,
        name: &'a [u8],
        buf: SegList<'a>,
        size: u64,
    },
    /// fcntl record locks (F_GETLK, F_SETLK, F_SETLKW and the F_OFD_* ones): F_GETLK's
    /// answer is `Response::Flock`.
    FcntlLock {
        fd: i32,
        cmd: i32,
        lock: LinuxFlock,
    },
    /// flock(2).
    Flock {
        fd: i32,
        op: i32,
    },
    /// poll(2) over (fd, Linux events) pairs for at most `timeout_ns` (None: no limit).
    /// Answered with `Response::Polled`.
    Poll {
        fds: Vec<(i32, i16)>,
        timeout_ns: Option<u64>,
    },
    /// listxattr/llistxattr/flistxattr: the NUL-separated names into `buf`.
    Listxattr {
        target: XattrTarget<'a>,
        buf: SegList<'a>,
        size: u64,
    },
    /// statfs of a path (symlinks followed): answered with `Response::Statfs`.
    Statfs {
        path: &'a [u8],
    },
    /// fstatfs: answered with `Response::Statfs`.
    Fstatfs {
        fd: i32,
    },
    /// sendfile of at most `count` bytes, done by the host (no data passes the guest). With
    /// `offset` the input is read there and its file position stays; without, it advances.
    /// `Ret` is the number of bytes moved; the guest updates the program's offset.
    Sendfile {
        out_fd: i32,
        in_fd: i32,
        offset: Option<i64>,
        count: u64,
    },
    /// copy_file_range of at most `len` bytes, done by the host; offsets as for sendfile.
    CopyFileRange {
        fd_in: i32,
        off_in: Option<i64>,
        fd_out: i32,
        off_out: Option<i64>,
        len: u64,
        flags: u32,
    },
    /// fallocate with Linux's FALLOC_FL_* mode bits.
    Fallocate {
        fd: i32,
        mode: i32,
        offset: i64,
        len: i64,
    },
    /// sync_file_range, its flags and range already checked by the guest (Linux checks them
    /// before the descriptor): the host's, or a sync of the whole file where the host has no
    /// such call.
    SyncFileRange {
        fd: i32,
        offset: i64,
        nbytes: i64,
        flags: u32,
    },
    /// fadvise64 with Linux's POSIX_FADV_* advice.
    Fadvise {
        fd: i32,
        offset: i64,
        len: i64,
        advice: i32,
    },
    /// setxattr/lsetxattr/fsetxattr: the value is read from `value` (empty: a zero-length
    /// value); `flags` XATTR_CREATE / XATTR_REPLACE.
    Setxattr {
        target: XattrTarget<'a>,
        name: &'a [u8],
        value: SegList<'a>,
        flags: i32,
    },
    /// removexattr/lremovexattr/fremovexattr.
    Removexattr {
        target: XattrTarget<'a>,
        name: &'a [u8],
    },
    /// memfd_create: a new anonymous file (`name` without "memfd:", MFD_* flags); `Ret` is
    /// its fd.
    MemfdCreate {
        name: &'a [u8],
        flags: u32,
    },
    /// eventfd2: a host eventfd with Linux's `flags` (EFD_CLOEXEC, EFD_NONBLOCK,
    /// EFD_SEMAPHORE). `Ret(fd)`.
    Eventfd {
        initval: u32,
        flags: i32,
    },
    /// timerfd_create: a host timerfd on Linux clock `clock` with Linux `flags`
    /// (TFD_CLOEXEC, TFD_NONBLOCK). `Ret(fd)`.
    TimerfdCreate {
        clock: i32,
        flags: i32,
    },
    /// timerfd_settime: `new` is the itimerspec (interval s, ns, value s, ns); answered
    /// with `Response::Itimerspec` (the old setting) or -errno.
    TimerfdSettime {
        fd: i32,
        flags: i32,
        new: [i64; 4],
    },
    /// timerfd_gettime: `Response::Itimerspec` (interval s, ns, time left s, ns).
    TimerfdGettime {
        fd: i32,
    },
    /// epoll_create1: a host epoll instance; `cloexec` is EPOLL_CLOEXEC. `Ret(fd)`.
    EpollCreate {
        cloexec: bool,
    },
    /// epoll_ctl(epfd, op, fd, {events, data}) on host descriptors (`events`/`data` are
    /// ignored for EPOLL_CTL_DEL): `Ret(0)` or -errno as Linux's.
    EpollCtl {
        epfd: i32,
        op: i32,
        fd: i32,
        events: u32,
        data: u64,
    },
    /// epoll_wait on `epfd` for at most `max` events and `timeout_ns` (None: no limit; the
    /// host rounds up to milliseconds): `Response::EpollEvents` (empty: the time ran out),
    /// or -EINTR when a host signal cut the wait short.
    EpollWait {
        epfd: i32,
        max: u32,
        timeout_ns: Option<u64>,
    },
    /// mknodat (and mknod): `mode` holds the file type (S_IFIFO, S_IFSOCK, S_IFREG or 0,
    /// S_IFCHR, S_IFBLK; the guest refuses the others as Linux does) and the permission
    /// bits, to which the host applies the umask; `dev` is the device number in Linux's
    /// 32-bit encoding (the syscall's `unsigned int`), used for devices only.
    Mknodat {
        dirfd: i32,
        path: &'a [u8],
        mode: u32,
        dev: u32,
    },
    /// sync: every filesystem's dirty data and metadata to disk.
    Sync,
    /// syncfs: the filesystem holding `fd`.
    Syncfs {
        fd: i32,
    },
    /// chroot: the directory becomes the process's "/" (in the monitor's filesystem view).
    Chroot {
        path: &'a [u8],
    },
}
