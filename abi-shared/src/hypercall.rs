//! The hypercall protocol: postcard-encoded requests and responses in a vCPU's shared area.
//!
//! Requests speak Linux: numbers, flags and structs are Linux's, and the host personality
//! converts them. Bulk data never travels inside a message: a request names guest-physical
//! segments (`SegList`) that the host reads or writes in place after checking them against
//! guest RAM.
//!
//! Framing in each area: a little-endian `u32` length, then that many postcard bytes.

use alloc::vec::Vec;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::linux::{LinuxStat, LinuxStatfs, LinuxStatx, LinuxTermios, LinuxWinsize, Pod};

/// Bumped on every incompatible change; the first hypercall (`Hello`) checks it.
pub const PROTOCOL_VERSION: u32 = 38;

/// A run of guest-physical memory.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuestSeg {
    pub gpa: u64,
    pub len: u64,
}

/// A scatter list: borrowed when the guest encodes, owned when the host decodes. Both encode
/// as a postcard sequence, so the guest need not allocate to send one.
#[derive(Clone, Debug)]
pub enum SegList<'a> {
    Borrowed(&'a [GuestSeg]),
    Owned(Vec<GuestSeg>),
}

impl SegList<'_> {
    pub fn as_slice(&self) -> &[GuestSeg] {
        match self {
            SegList::Borrowed(s) => s,
            SegList::Owned(v) => v,
        }
    }

    /// Sum of the segment lengths, or `None` on overflow.
    pub fn total_len(&self) -> Option<u64> {
        self.as_slice().iter().try_fold(0u64, |acc, s| acc.checked_add(s.len))
    }
}

impl PartialEq for SegList<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SegList<'_> {}

impl Serialize for SegList<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.as_slice().serialize(s)
    }
}

impl<'de> Deserialize<'de> for SegList<'_> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Vec::<GuestSeg>::deserialize(d).map(SegList::Owned)
    }
}

/// A credential call, with Linux's ids (`u32::MAX` is Linux's -1: "unchanged" where the
/// call allows it) and Linux capability masks (bit n = capability n).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum CredOp<'a> {
    /// Change nothing: the thread's credentials as they are.
    Get,
    Setuid(u32),
    Setgid(u32),
    Setreuid(u32, u32),
    Setregid(u32, u32),
    Setresuid(u32, u32, u32),
    Setresgid(u32, u32, u32),
    /// setfsuid/setfsgid: `ret` is the previous fs id, whether or not it changed.
    Setfsuid(u32),
    Setfsgid(u32),
    /// setgroups: the ids (u32 each, little-endian) in guest memory.
    Setgroups(SegList<'a>),
    /// capset of the running thread (capset's version 3 masks, already combined).
    Capset {
        effective: u64,
        permitted: u64,
        inheritable: u64,
    },
    /// prctl(PR_SET_KEEPCAPS).
    Keepcaps(bool),
    /// capget of another task (a host thread or process id): its masks in `caps`.
    CapgetOther(i32),
    /// A Linux program was executed in this process: the saved ids become the effective
    /// ones, keep-capabilities is cleared, a process without uid 0 loses its capabilities.
    Exec,
}

impl CredOp<'_> {
    /// Whether the call may change the thread's credentials (the rest only look).
    pub fn changes(&self) -> bool {
        !matches!(self, CredOp::Get | CredOp::CapgetOther(_))
    }
}

/// A thread's credentials as the host has them, and a credential call's result.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CredState {
    /// The call's result: 0 (setfsuid/setfsgid: the previous fs id) or -errno.
    pub ret: i64,
    /// Real, effective, saved set- and filesystem user id.
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    /// How many supplementary groups.
    pub ngroups: u32,
    /// Effective, permitted, inheritable and bounding capability sets.
    pub caps: [u64; 4],
    pub keepcaps: bool,
    /// The process's dumpable flag as the host has it after the call (a credential change
    /// resets it, as Linux's commit_creds does).
    pub dumpable: u32,
}

/// What the guest asks of the host. Paths are raw bytes (Linux paths need not be UTF-8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<'a> {
    /// First call: checks the protocol version and returns the clock and startup sizes.
    Hello {
        version: u32,
    },
    /// Write the postcard-encoded `Startup` into `buf`.
    GetStartup {
        buf: SegList<'a>,
    },
    /// The program ended: `code` is the exit status, or the signal that killed it.
    Exit {
        how: ExitHow,
        stats: SegList<'a>,
    },
    /// One `--strace` line (without newline): the thread id in decimal, a space, the text,
    /// with a tab where strace pads to its result column (the monitor adds the pid prefix
    /// and the padding).
    Trace {
        line: &'a [u8],
    },
    /// The guest kernel cannot go on; the monitor prints this and the vCPU state.
    Panic {
        message: &'a [u8],
    },
    /// Log line from the guest kernel (shown with `-v`).
    Log {
        level: u8,
        message: &'a [u8],
    },

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
    /// ioctl TCGETS: answered with `Response::Termios`.
    IoctlTcgets {
        fd: i32,
    },
    /// ioctl TIOCGWINSZ: answered with `Response::Winsize`.
    IoctlGetWinsize {
        fd: i32,
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
    /// ioctl TIOCGPGRP: the terminal's foreground process group, as `Ret`.
    IoctlGetPgrp {
        fd: i32,
    },
    /// The absolute path of `path` with every symlink, `.` and `..` resolved, without NUL,
    /// into `buf`; `Ret` is its length (ERANGE when `buf` is shorter).
    Realpath {
        path: &'a [u8],
        buf: SegList<'a>,
    },
    /// getgroups: `size` 0 returns the count; otherwise the ids (u32 each) go into `buf`.
    Getgroups {
        size: i32,
        buf: SegList<'a>,
    },
    Getpgid {
        pid: i32,
    },
    Getsid {
        pid: i32,
    },
    Setpgid {
        pid: i32,
        pgid: i32,
    },
    Setsid,
    /// getrusage: answered with `Response::Rusage`.
    Getrusage {
        who: i32,
    },
    /// times: answered with `Response::Times`.
    Times,
    /// sysinfo: answered with `Response::Sysinfo` (the host's values, mem_unit 1).
    Sysinfo,
    /// sched_getscheduler of another process: its Linux policy as `Ret`.
    SchedGetscheduler {
        pid: i32,
    },
    /// sched_getparam of another process: its priority as `Ret`.
    SchedGetparam {
        pid: i32,
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
    /// A /proc file the guest generated: the host makes an anonymous file holding
    /// `content` and returns it opened read-only (O_CLOEXEC if `cloexec`) on the lowest
    /// free fd, so that read, lseek, mmap, poll and dup need nothing more from the guest.
    OpenMemory {
        content: SegList<'a>,
        cloexec: bool,
    },
    /// A new descriptor of an empty directory, on the lowest free fd: a /proc directory
    /// whose entries the guest lists itself.
    OpenEmptyDir {
        cloexec: bool,
    },
    /// The path behind fd `fd` as Linux's /proc/self/fd/N link shows it ("/a/b",
    /// "pipe:[ino]", "socket:[ino]"...), without NUL, into `buf`; `Ret` is its length,
    /// truncated to `buf` as readlink does.
    FdPath {
        fd: i32,
        buf: SegList<'a>,
    },
    /// The program's open fds in ascending order, as little-endian i32s into `buf`; `Ret`
    /// is how many there are (only those that fit are written).
    ListFds {
        buf: SegList<'a>,
    },
    /// Guest RAM the guest no longer uses (freed by munmap, MADV_DONTNEED, brk): the host
    /// gives its backing memory back to the host OS. Page-aligned ranges inside guest RAM.
    /// Answer `Ret(1)`: the ranges now read as zero; `Ret(0)`: released, contents undefined
    /// (the guest must zero them before reuse).
    ReleaseMemory {
        ranges: SegList<'a>,
    },
    /// mmap of `fd`: hold its file for demand paging, independently of the fd (the program
    /// may close it). `write` when the mapping may write the file (MAP_SHARED with
    /// PROT_WRITE), which needs the fd open for writing. Answer: a handle (>= 0, held files
    /// are shared by all mappings of one file) or -errno (ENODEV: not a regular file).
    FileHold {
        fd: i32,
        write: bool,
    },
    /// pread from a held file into guest RAM (page faults of file mappings).
    FileRead {
        handle: i32,
        buf: SegList<'a>,
        offset: u64,
    },
    /// The last mapping of a held file is gone.
    FileRelease {
        handle: i32,
    },
    /// MAP_SHARED of `fd`: map `len` bytes of the file from `offset` at `gpa` in the file
    /// window (writable when the fd allows, so that mprotect can add PROT_WRITE later;
    /// `write`: the mapping wants PROT_WRITE now, EACCES without an O_RDWR fd). Answer:
    /// `Ret(size << 1 | writable)` with the file's size, or -errno.
    FileMapShared {
        fd: i32,
        offset: u64,
        len: u64,
        gpa: u64,
        write: bool,
    },
    /// Take a range of the file window back (munmap of shared file pages).
    FileUnmapShared {
        gpa: u64,
        len: u64,
    },
    /// msync(MS_SYNC) of a range of the file window.
    FileSyncShared {
        gpa: u64,
        len: u64,
    },
    /// mremap of a shared mapping: map what is mapped at window page `from` (the same file,
    /// from the same offset) again at the free window range `[to, to+len)`, `len` bytes,
    /// which may reach past the old range's end (the file goes on there). The old range
    /// stays mapped until the guest unmaps it. Answer: `Ret(0)` or -errno.
    FileRemapShared {
        from: u64,
        to: u64,
        len: u64,
    },
    /// madvise(MADV_REMOVE) of a range of the file window: free the file's pages there
    /// (punch a hole; they read as zero afterwards).
    FileRemoveShared {
        gpa: u64,
        len: u64,
    },
    /// execve/execveat, before anything is torn down: find the program in the view as the
    /// first program is found (`flags` AT_EMPTY_PATH, AT_SYMLINK_NOFOLLOW), follow `#!`
    /// scripts, check the ELF and its PT_INTERP. Answer: `Response::Exec`, or `Ret(-errno)`
    /// as execve fails (ENOENT, EACCES, ENOEXEC, ELOOP...).
    PrepareExec {
        dirfd: i32,
        path: &'a [u8],
        flags: i32,
    },
    /// execve of a `--native` program (`ExecPlan::native`): the host execs the file open at
    /// `fd` with argv then envp, each string NUL-terminated, in `args` (`argc` strings of
    /// argv), with `blocked` (a Linux mask) as the signal mask. Answered only on failure.
    ExecNative {
        fd: i32,
        args: SegList<'a>,
        argc: u32,
        blocked: u64,
    },
    /// execve's point of no return: close every program descriptor that has FD_CLOEXEC.
    /// `Ret` is how many were closed.
    CloseOnExec,
    /// fork: the monitor forks its whole process (always sent through the exit doorbell:
    /// only the vCPU thread can carry the vCPU into the child). Answered with
    /// `Response::Forked` on both sides, or `Ret(-errno)`. `vfork`: the parent is answered
    /// only once the child has exec'd or ended, as vfork suspends it on Linux.
    Fork {
        vfork: bool,
    },
    /// A vfork child, before its exec or exit: memory it wrote that its parent shares on
    /// Linux. The user range at `va` is in the guest-physical segments `buf`; the monitor
    /// streams it to the waiting parent's monitor. `Ret(0)`, also when there is no parent
    /// waiting (a copy of nothing).
    VforkCopyBack {
        va: u64,
        buf: SegList<'a>,
    },
    /// The vfork parent, once answered: the next records of what its child wrote, each a
    /// little-endian u64 address, u64 length (at most 4 KiB) and that many bytes, as many
    /// whole records as fit in `buf`. `Ret` is the bytes written; 0 when none are left.
    VforkTakeCopyBack {
        buf: SegList<'a>,
    },
    /// wait4: answered with `Response::Waited`.
    Wait4 {
        pid: i32,
        options: i32,
    },
    /// waitid: answered with `Response::WaitedId`.
    Waitid {
        idtype: i32,
        id: i32,
        options: i32,
    },
    /// kill of another process (or process group): its Linux signal number.
    Kill {
        pid: i32,
        sig: i32,
    },
    /// rt_sigqueueinfo to another process: Linux signal, si_code and si_value (the host
    /// fills in our pid and uid, as Linux's sigqueue does).
    Sigqueue {
        pid: i32,
        sig: i32,
        code: i32,
        value: u64,
    },
    /// The default action of stop signal `sig` (Linux number), taken in the guest: stop the
    /// host process with that very signal, so that its parent's wait reports it; answered
    /// once a SIGCONT continued it.
    StopSelf {
        sig: i32,
    },
    /// The host dispositions the program's signal state asks for (Linux signal masks, bit
    /// n-1 = signal n): `catch`, delivered to the guest through the host signal area;
    /// `ignore`, ignored by the host too (and so across a host exec); the rest take the host's
    /// default action, which kills, stops or continues the host process as Linux would.
    SignalDispositions {
        catch: u64,
        ignore: u64,
    },
    /// getpriority with Linux's `which` (PRIO_PROCESS, PRIO_PGRP, PRIO_USER): `Ret` is what
    /// the raw syscall returns, 20 - nice (1..=40), or -errno.
    Getpriority {
        which: i32,
        who: i32,
    },
    /// setpriority: `nice` as the program gave it (Linux clamps it to -20..=19).
    Setpriority {
        which: i32,
        who: i32,
        nice: i32,
    },
    /// close_range(first, last, flags) with Linux's CLOSE_RANGE_* flags; the monitor's own
    /// descriptors are never touched.
    CloseRange {
        first: u32,
        last: u32,
        flags: u32,
    },
    /// Where the program's descriptors end: every one is below the answer (`Ret(highest + 1)`,
    /// 0 when none is open). The guest answers close() of a number at or above it itself.
    FdsEnd,
    /// ioctl TCSETS (`when` 0), TCSETSW (1, after output drained) and TCSETSF (2, and input
    /// flushed). `ttou_ignored`: the program blocks or ignores SIGTTOU, so that a background
    /// process may change the terminal, as on Linux.
    IoctlTcsets {
        fd: i32,
        when: u8,
        termios: LinuxTermios,
        ttou_ignored: bool,
    },
    /// ioctl TIOCSWINSZ.
    IoctlSetWinsize {
        fd: i32,
        winsize: LinuxWinsize,
    },
    /// ioctl TIOCSPGRP (tcsetpgrp); `ttou_ignored` as for `IoctlTcsets`.
    IoctlSetPgrp {
        fd: i32,
        pgrp: i32,
        ttou_ignored: bool,
    },
    /// ioctl TIOCSCTTY: make the terminal the session's controlling terminal (`steal` 1:
    /// take it from another session, which needs CAP_SYS_ADMIN).
    IoctlSetCtty {
        fd: i32,
        steal: i32,
    },
    /// ioctl TIOCNOTTY: give up the controlling terminal.
    IoctlNoCtty {
        fd: i32,
    },
    /// ioctl TIOCGSID: the session of the terminal, as `Ret`.
    IoctlGetSid {
        fd: i32,
    },
    /// ioctl TIOCGPTN on a pseudo-terminal master: the slave's number (/dev/pts/N), as `Ret`.
    IoctlGetPtyNumber {
        fd: i32,
    },
    /// ioctl TIOCSPTLCK on a pseudo-terminal master: lock (non-zero) or unlock the slave.
    IoctlSetPtyLock {
        fd: i32,
        lock: i32,
    },
    /// setrlimit/prlimit64 of RLIMIT_NOFILE: the program's new soft limit, which the host
    /// then enforces (its open, dup, pipe... fail with EMFILE there, as on Linux). `Ret(0)`.
    SetFdLimit {
        soft: u64,
    },
    /// Whether the file behind the file-window page at `gpa` reaches that page now (a
    /// shared file mapping's file may have grown or shrunk since mmap): `Ret(1)` yes,
    /// `Ret(0)` the page lies past its end, `Ret(-EINVAL)` no file is mapped there.
    WindowPageBacked {
        gpa: u64,
    },
    /// A new thread of the program (clone with CLONE_THREAD): start a host thread that
    /// creates vCPU `vcpu` and runs it from `entry` (the guest kernel's secondary entry)
    /// with rsp = the per-CPU window's kernel stack and rdi = `arg`, on page tables `cr3`,
    /// with the GDT, TSS and VIF page of the vCPU block at `block`. `Ret(tid)`: the host
    /// thread's id, which is the Linux thread's; `-EAGAIN` when the host cannot.
    /// Sent by exit (the vCPU thread builds vCPUs).
    StartThread {
        vcpu: u32,
        block: u64,
        cr3: u64,
        entry: u64,
        arg: u64,
    },
    /// The calling thread ends (exit(2) of a thread that is not the last): the host releases
    /// its vCPU and, once it will never run again, stores 0 in the block's
    /// `vcpu_block::VCPU_IN_USE` word. No answer: the vCPU never runs again. By exit.
    ThreadExit,
    /// Sleep in the host until the u32 at guest-physical `gpa` no longer holds `expected`
    /// and someone sends `FutexWake` for it, or `timeout_ns` (relative; u64::MAX: none)
    /// passes, or a host signal interrupts: `Ret(0)`, `-EAGAIN` (the value differed at
    /// once), `-ETIMEDOUT`, `-EINTR`. By exit: the vCPU thread itself sleeps (no core used).
    /// `shared`: `gpa` lies in a shared file mapping and the host's futex is keyed by the
    /// file's page, so waiters and wakers of other processes (linuxrun's or native) meet
    /// there; otherwise the word is this process's alone (a vCPU's wake word).
    FutexSleep {
        gpa: u64,
        expected: u32,
        timeout_ns: u64,
        shared: bool,
    },
    /// A priority-inheritance futex operation (FUTEX_LOCK_PI, LOCK_PI2, TRYLOCK_PI,
    /// UNLOCK_PI with the program's flags) on the word at guest-physical `gpa`, made by the
    /// calling vCPU's own host thread, whose id is the Linux thread's (the host's PI futex
    /// records and checks owners by tid). `timeout`: LOCK_PI's (s, ns) as given (absolute).
    /// By exit. `Ret` as the host's futex answers.
    FutexPi {
        gpa: u64,
        op: i32,
        timeout: Option<[i64; 2]>,
    },
    /// Wake up to `count` threads sleeping in `FutexSleep` on `gpa` (with the same
    /// `shared`): `Ret(woken)`.
    FutexWake {
        gpa: u64,
        count: u32,
        shared: bool,
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
    /// Interrupt the vCPUs in `vcpus` that run guest code: each takes the
    /// kick interrupt (`SIGNAL_KICK_VECTOR`) before it runs more user code (TLB shootdowns,
    /// signals for a thread). A vCPU blocked in the host on its thread's behalf sees its
    /// host call end with EINTR. `Ret(0)`.
    KickVcpus {
        vcpus: crate::vcpus::VcpuSet,
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
    /// open of the host's own /proc/sys/`path` (a sysctl the guest's /proc does not serve
    /// itself), whatever the program's filesystem view: `path` is relative to /proc/sys
    /// ("" is /proc/sys itself), its components neither empty nor "." or ".." (a final
    /// slash is allowed). `Ret` is the new fd; the host has no /proc/sys: ENOENT.
    OpenProcSys {
        path: &'a [u8],
        flags: i32,
        mode: u32,
    },

    // Sockets: host sockets, so that a program and native programs meet on the host's
    // network and UNIX sockets. Addresses are Linux `sockaddr` bytes; AF_UNIX paths are
    // guest paths, which the host resolves in the filesystem view.
    /// socket(domain, type, protocol) with Linux's numbers and SOCK_NONBLOCK/SOCK_CLOEXEC
    /// in `ty`. `Ret(fd)`.
    Socket {
        domain: i32,
        ty: i32,
        protocol: i32,
    },
    /// socketpair: `Response::Fds` or -errno.
    Socketpair {
        domain: i32,
        ty: i32,
        protocol: i32,
    },
    /// bind (`connect` false) or connect (`connect` true) to the Linux sockaddr `addr`.
    BindConnect {
        fd: i32,
        addr: &'a [u8],
        connect: bool,
    },
    Listen {
        fd: i32,
        backlog: i32,
    },
    /// accept4 with Linux's SOCK_NONBLOCK/SOCK_CLOEXEC `flags`: `Response::SockAddr` with
    /// the new descriptor and the peer's whole address (the guest truncates it to the
    /// caller's buffer and reports the full length, as Linux does).
    Accept {
        fd: i32,
        flags: i32,
    },
    /// getsockname (`peer` false) or getpeername: `Response::SockAddr` with `ret` 0.
    SockName {
        fd: i32,
        peer: bool,
    },
    Shutdown {
        fd: i32,
        how: i32,
    },
    /// getsockopt with a buffer of `len` bytes: `Response::Bytes` (the value, as long as
    /// the host says it is) or -errno.
    Getsockopt {
        fd: i32,
        level: i32,
        name: i32,
        len: u32,
    },
    Setsockopt {
        fd: i32,
        level: i32,
        name: i32,
        value: &'a [u8],
    },
    /// sendmsg from the segments, to `addr` if given, with Linux control messages
    /// `control` and Linux MSG_* `flags`. `Ret(bytes sent)`.
    Sendmsg {
        fd: i32,
        buf: SegList<'a>,
        addr: Option<&'a [u8]>,
        control: &'a [u8],
        flags: i32,
    },
    /// recvmsg into the segments, with room for `control_len` bytes of control messages:
    /// `Response::Received`, or -errno.
    Recvmsg {
        fd: i32,
        buf: SegList<'a>,
        control_len: u32,
        flags: i32,
    },
    /// A socket or interface ioctl whose argument is a plain struct of `arg.len()` bytes
    /// (struct ifreq, an int): the host runs it on a copy and answers `Response::Bytes`
    /// with the struct as the host left it (`ret` is the ioctl's value).
    SocketIoctl {
        fd: i32,
        cmd: u32,
        arg: &'a [u8],
    },
    /// SIOCGIFCONF with a buffer of `len` bytes (0: only the length needed):
    /// `Response::Bytes` with `ret` the length used and the `struct ifreq` records.
    IfConf {
        fd: i32,
        len: u32,
    },

    // SysV IPC and POSIX message queues: the host's own, so that a program and native
    // programs share them. Structs travel in kernel buffers of the guest (`buf`), in
    // Linux's x86_64 layout; the host never sees a pointer of the program.
    /// semget/msgget/shmget (`kind`): `arg` is semget's nsems or shmget's size. `Ret(id)`.
    IpcGet {
        kind: crate::ipc::IpcKind,
        key: i32,
        arg: u64,
        flags: i32,
    },
    /// semctl/msgctl/shmctl: `semnum` is semctl's, `value` SETVAL's int; `buf` holds what
    /// the command reads (IPC_SET's struct, SETALL's u16 array) or receives what it fills
    /// (IPC_STAT, *_STAT, *_INFO, GETALL), as `ipc::ctl_arg` says. `Ret` as the call's.
    IpcCtl {
        kind: crate::ipc::IpcKind,
        id: i32,
        cmd: i32,
        semnum: i32,
        value: i32,
        buf: SegList<'a>,
    },
    /// semtimedop (and semop: no timeout) with the struct sembuf array `sops`; `timeout_ns`
    /// relative. Blocks in the host; a host signal ends it with -EINTR.
    Semop {
        id: i32,
        sops: &'a [u8],
        timeout_ns: Option<u64>,
    },
    /// msgsnd of the program's `struct msgbuf` (mtype, then `msg` total - 8 bytes of
    /// text) in the segments `msg`. `Ret(0)`.
    Msgsnd {
        id: i32,
        msg: SegList<'a>,
        flags: i32,
    },
    /// msgrcv of at most `size` bytes of text: the host writes mtype and the text into
    /// `msg` (the program's msgbuf, as far as it is mapped). `Ret(text length)`.
    Msgrcv {
        id: i32,
        msg: SegList<'a>,
        size: u64,
        msgtyp: i64,
        flags: i32,
    },
    /// shmat of segment `id` at the free file-window range `[gpa, gpa+len)`, where `len`
    /// is the segment's size in pages; `flags` SHM_RDONLY, SHM_EXEC. `Ret(0)`.
    ShmAttach {
        id: i32,
        gpa: u64,
        len: u64,
        flags: i32,
    },
    /// mq_open of queue `name` (without the leading slash, as the syscall takes it) with
    /// Linux's O_* `flags`, `mode`, and with O_CREAT the attributes (mq_maxmsg,
    /// mq_msgsize) if given. `Ret(fd)`.
    MqOpen {
        name: &'a [u8],
        flags: i32,
        mode: u32,
        attr: Option<[i64; 2]>,
    },
    MqUnlink {
        name: &'a [u8],
    },
    /// mq_timedsend (`send`, with priority `prio`) or mq_timedreceive of a message of at
    /// most `buf`'s length, with an absolute CLOCK_REALTIME (s, ns) `timeout`. Sending:
    /// `Ret(0)`; receiving: `Response::Bytes` with the length and the priority (u32).
    MqTransfer {
        fd: i32,
        buf: SegList<'a>,
        send: bool,
        prio: u32,
        timeout: Option<[i64; 2]>,
    },
    /// mq_notify: `how` None unregisters; SIGEV_SIGNAL sends `signo` with si_value
    /// `value`; SIGEV_THREAD names a netlink socket in `signo` and carries `cookie`.
    MqNotify {
        fd: i32,
        how: Option<i32>,
        signo: i32,
        value: u64,
        cookie: &'a [u8],
    },
    /// mq_getsetattr: `new_flags` sets mq_flags (O_NONBLOCK); the old struct mq_attr goes
    /// into `old`.
    MqGetsetattr {
        fd: i32,
        new_flags: Option<i64>,
        old: SegList<'a>,
    },

    // inotify, splice and pidfds: host objects like the rest of the program's descriptors.
    /// inotify_init1 with Linux's IN_NONBLOCK/IN_CLOEXEC `flags`. `Ret(fd)`.
    InotifyInit {
        flags: i32,
    },
    /// inotify_add_watch: `path` is a guest path, resolved in the filesystem view (a final
    /// symlink is not followed with IN_DONT_FOLLOW in `mask`). `Ret(watch descriptor)`.
    InotifyAddWatch {
        fd: i32,
        path: &'a [u8],
        mask: u32,
    },
    InotifyRmWatch {
        fd: i32,
        wd: i32,
    },
    /// splice of at most `len` bytes, done by the host; an offset given is where that side
    /// reads or writes (its file position stays), and the guest adds `Ret` (the bytes
    /// moved) to the program's. Linux SPLICE_F_* `flags`.
    Splice {
        fd_in: i32,
        off_in: Option<i64>,
        fd_out: i32,
        off_out: Option<i64>,
        len: u64,
        flags: u32,
    },
    /// tee of at most `len` bytes between two pipes. `Ret(bytes)`.
    Tee {
        fd_in: i32,
        fd_out: i32,
        len: u64,
        flags: u32,
    },
    /// vmsplice with the program's buffers as segments: into the pipe `fd` (`to_pipe`, its
    /// write end) or out of it. The host copies, as writev/readv would (a pipe must not
    /// keep references to guest RAM, which the guest reuses); SPLICE_F_NONBLOCK makes it
    /// fail with EAGAIN rather than wait. `Ret(bytes)`.
    Vmsplice {
        fd: i32,
        buf: SegList<'a>,
        to_pipe: bool,
        flags: u32,
    },
    /// pidfd_open of a host pid (Linux's are the host's) with Linux `flags`. `Ret(fd)`.
    PidfdOpen {
        pid: i32,
        flags: u32,
    },
    /// The pid the pidfd `fd` refers to (its /proc fdinfo "Pid:"): `Ret(pid)`, `Ret(-1)`
    /// once that process has been reaped, -EBADF when `fd` is not a pidfd.
    PidfdPid {
        fd: i32,
    },
    /// pidfd_send_signal of Linux signal `sig` to another process, with the program's
    /// 128-byte siginfo if it gave one. `Ret(0)` or -errno.
    PidfdSendSignal {
        fd: i32,
        sig: i32,
        info: Option<&'a [u8]>,
        flags: u32,
    },
    /// pidfd_getfd: a duplicate of the target's descriptor `targetfd` in this process.
    /// `Ret(fd)`.
    PidfdGetfd {
        pidfd: i32,
        targetfd: i32,
        flags: u32,
    },
    /// A vfork parent, after its `Fork` answered: wait until the child has exec'd or
    /// ended, and keep what it wrote for `VforkTakeCopyBack`.
    /// `Ret(0)`, or `Ret(-EINTR)` when a host signal cut the wait short (the guest waits
    /// again: signals do not end a vfork wait).
    VforkWait,
    /// clock_gettime (`res` false) or clock_getres (`res` true) of a CPU-time clock, as the
    /// host's kernel encodes it (`(~pid << 3) | which`, bit 2 for a thread; the guest has
    /// put the calling thread's id in place of "this thread"). `Ret(ns)` or -errno.
    CpuClock {
        clock: i32,
        res: bool,
    },
    /// setitimer (`new` Some) or getitimer of ITIMER_VIRTUAL (1) or ITIMER_PROF (2), the
    /// host process's own: interval seconds, microseconds, then value seconds,
    /// microseconds. `Itimerspec` with the old (or current) setting, in the same units.
    CpuItimer {
        which: i32,
        new: Option<[i64; 4]>,
    },
    /// timer_create on a CPU-time clock (encoded as in `CpuClock`): a host timer that
    /// signals the host process (`notify` SIGEV_SIGNAL, SIGEV_THREAD_ID with `tid`, or
    /// SIGEV_NONE) with `signo` and `value`. `Ret(host timer id)`.
    CpuTimerCreate {
        clock: i32,
        notify: i32,
        signo: i32,
        value: u64,
        tid: i32,
    },
    /// timer_settime of a host timer: `new` as interval s, ns, value s, ns;
    /// `Itimerspec` with the old setting.
    CpuTimerSettime {
        id: i32,
        flags: i32,
        new: [i64; 4],
    },
    /// timer_gettime of a host timer: `Itimerspec`.
    CpuTimerGettime {
        id: i32,
    },
    /// timer_getoverrun of a host timer: `Ret`.
    CpuTimerGetoverrun {
        id: i32,
    },
    /// timer_delete of a host timer: `Ret`.
    CpuTimerDelete {
        id: i32,
    },
    /// clock_settime, with the host's checks (EPERM unless privileged). `Ret`.
    ClockSettime {
        clock: i32,
        sec: i64,
        nsec: i64,
    },
    /// settimeofday: the time (seconds, microseconds) and the timezone (minutes west,
    /// dst type), each optional. `Ret`.
    Settimeofday {
        tv: Option<[i64; 2]>,
        tz: Option<[i32; 2]>,
    },
    /// clock_adjtime (adjtimex is CLOCK_REALTIME's) with Linux's `struct timex` (208
    /// bytes). `Bytes` with the clock state (or -errno) and the struct as the host filled it.
    ClockAdjtime {
        clock: i32,
        timex: &'a [u8],
    },
    /// sched_setscheduler (`policy` Some) or sched_setparam of a thread or process (`own`:
    /// one of the program's threads, by its id). `Ret`.
    SchedSet {
        pid: i32,
        own: bool,
        policy: Option<i32>,
        priority: i32,
    },
    /// sched_rr_get_interval: `Ret(ns)` or -errno.
    SchedRrGetInterval {
        pid: i32,
        own: bool,
    },
    /// sched_setaffinity with the mask's bytes. `Ret`.
    SchedSetaffinity {
        pid: i32,
        own: bool,
        mask: &'a [u8],
    },
    /// sched_getaffinity into at most `len` bytes: `Bytes` (ret: the size the kernel wrote).
    SchedGetaffinity {
        pid: i32,
        own: bool,
        len: u32,
    },
    /// A credential call of the running thread (`CredOp`), made by the host thread that
    /// serves this vCPU (its own vCPU thread: the guest sends it by exit), with the host's
    /// rules. `Response::Creds`: the call's result and the thread's credentials after it.
    Creds {
        op: CredOp<'a>,
    },
    /// `--gdb`: thread `tid` stopped for the debugger (see `debug`), with its registers
    /// (`DebugRegs` bytes). Answered by `Response::Debug` with the debugger's first command.
    DebugStop {
        tid: i32,
        event: crate::debug::DebugEvent,
        regs: &'a [u8],
    },
    /// `--gdb`: the result of the last command (`ok`, and the bytes a read produced);
    /// answered by the next command.
    DebugReply {
        tid: i32,
        ok: bool,
        data: &'a [u8],
    },
    /// The core file name pattern (the host's core_pattern where it names a file, else
    /// `core`; `.%p` added where core_uses_pid asks): `Bytes { ret: 0, data }`.
    CorePattern,
    /// execve by a thread other than the process's first, once every other thread has
    /// ended: the calling thread becomes the first (Linux's de_thread: it takes the
    /// leader's id, the pid). Its vCPU moves to the host thread that ran the first thread
    /// (whose id is the pid), which serves it from now on. `Ret(1)`: a hypercall worker
    /// serves the vCPU's shared-memory requests now; `Ret(0)`: they still go by exit.
    /// By exit (only the vCPU's own thread can hand it over).
    ExecLeader,
}

/// What an xattr request is about.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum XattrTarget<'a> {
    /// A path; `follow` false for the l* variants (the symlink itself).
    Path {
        path: &'a [u8],
        follow: bool,
    },
    Fd(i32),
}

/// Linux's `struct flock` (x86_64, 32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinuxFlock {
    pub l_type: i16,
    pub l_whence: i16,
    pub pad0: u32,
    pub l_start: i64,
    pub l_len: i64,
    pub l_pid: i32,
    pub pad1: u32,
}
// SAFETY: repr(C), integers only, explicit padding fields: no implicit padding.
unsafe impl crate::linux::Pod for LinuxFlock {}

/// How the program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitHow {
    /// exit/exit_group with this status (only the low 8 bits reach a parent).
    Status(i32),
    /// Killed by this Linux signal (its default action).
    Signal(i32),
    /// Killed by this Linux signal, which dumped core (a core file was written).
    CoreDumped(i32),
}

/// What the host answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A syscall result as Linux returns it: a value, or `-errno`.
    Ret(i64),
    Hello(HelloInfo),
    Stat(LinuxStat),
    Flock(LinuxFlock),
    /// poll's result: how many fds are ready, and each fd's Linux revents.
    Polled {
        ready: i64,
        revents: Vec<i16>,
    },
    /// epoll_wait's ready events: (events, data) each.
    EpollEvents(Vec<(u32, u64)>),
    /// A timer's setting: interval seconds, nanoseconds, then value seconds, nanoseconds.
    Itimerspec([i64; 4]),
    Statx(LinuxStatx),
    Termios(LinuxTermios),
    Winsize(LinuxWinsize),
    /// Two new descriptors (pipe2: read end, write end).
    Fds([i32; 2]),
    Rusage(LinuxRusage),
    /// times(): its return value (clock ticks) and the `struct tms` it fills.
    Times {
        ticks: i64,
        tms: LinuxTms,
    },
    Sysinfo(LinuxSysinfo),
    Statfs(LinuxStatfs),
    /// What `PrepareExec` found.
    Exec(ExecPlan),
    /// fork's answer: `pid` is the child's pid on both sides; `child` says which side this is.
    /// `seed`: fresh host entropy drawn by this side after the fork, for the guest's random
    /// generator (both sides start from a copy of one generator's state).
    Forked {
        pid: i32,
        child: bool,
        seed: [u8; 32],
    },
    /// wait4's answer: `ret` as wait4 returns it (pid, 0 for WNOHANG, or -errno); the wait
    /// status and the child's resource usage when `ret` > 0.
    Waited {
        ret: i64,
        status: i32,
        rusage: LinuxRusage,
    },
    /// waitid's answer: `ret` 0 or -errno; the siginfo fields of a waited-for child (all
    /// zero when WNOHANG found none), in Linux numbers.
    WaitedId {
        ret: i64,
        info: WaitInfo,
        rusage: LinuxRusage,
    },
    /// The request could not be understood or named memory outside guest RAM. The guest
    /// turns this into EFAULT/EINVAL; it is never a reason for the host to stop.
    Malformed(MalformedReason),
    /// An address-returning socket call (accept, getsockname, getpeername): its value and
    /// the Linux sockaddr, whole.
    SockAddr {
        ret: i64,
        addr: Vec<u8>,
    },
    /// recvmsg's answer: bytes received, the sender's Linux sockaddr (empty when there is
    /// none), Linux control messages and the MSG_* flags for `msg_flags`.
    Received {
        ret: i64,
        addr: Vec<u8>,
        control: Vec<u8>,
        flags: i32,
    },
    /// A value and the bytes a call filled (getsockopt, socket ioctls).
    Bytes {
        ret: i64,
        data: Vec<u8>,
    },
    /// `Request::Creds`'s answer.
    Creds(CredState),
    /// `--gdb`: what the debugger wants of the stopped thread next.
    Debug(crate::debug::DebugCommand),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MalformedReason {
    Decode,
    BadLength,
    BadGuestAddress,
    Version,
    NotAllowed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HelloInfo {
    pub version: u32,
    /// CLOCK_REALTIME and CLOCK_MONOTONIC in ns, read as the host answered.
    pub realtime_ns: u64,
    pub monotonic_ns: u64,
    /// Size of the postcard-encoded `Startup` (for `GetStartup`).
    pub startup_len: u64,
}

/// The program an execve loads, as the host found it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecPlan {
    /// The ELF to load, opened read-only with O_CLOEXEC for the loader (which closes it).
    pub fd: i32,
    /// The name execve was given, as Linux keeps it: the path, or "/dev/fd/N[/path]" for a
    /// path relative to a dirfd (AT_EXECFN, the name a script's interpreter gets).
    pub filename: Vec<u8>,
    /// The ELF's path (what /proc/self/exe and /proc/self/maps show).
    pub exe: Vec<u8>,
    /// Set when `#!` scripts stood in the way: the arguments that replace argv[0].
    pub argv_prefix: Option<Vec<Vec<u8>>>,
    /// The program is one the user asked to run natively (`--native`): the guest sends its
    /// arguments with `Request::ExecNative` instead of loading it.
    pub native: bool,
    /// Fresh host entropy for the guest's random generator: the new image's AT_RANDOM (its
    /// stack-protector canary) and getrandom come from the host, as on Linux.
    pub seed: [u8; 32],
}

/// Everything the guest needs to start the program, sent once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Startup {
    /// Path the host resolved (PATH search done), opened by the guest loader.
    pub exec_path: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    pub envp: Vec<Vec<u8>>,
    pub pid: i32,
    pub ppid: i32,
    pub uid: u32,
    pub euid: u32,
    pub gid: u32,
    pub egid: u32,
    pub umask: u32,
    pub hostname: Vec<u8>,
    /// What uname reports as release and version: the host kernel's on a Linux host, a
    /// plausible Linux's elsewhere.
    pub kernel_release: Vec<u8>,
    pub kernel_version: Vec<u8>,
    /// The limits Linux programs see: (resource, soft, hard) with Linux resource numbers.
    pub rlimits: Vec<(u32, u64, u64)>,
    pub cpu_count: u32,
    /// Signals ignored and blocked when linuxrun started (Linux masks): both survive exec on
    /// Linux, so the program starts with them (`nohup`, a shell's background job).
    pub ignored_signals: u64,
    pub blocked_signals: u64,
}

/// What the monitor's signal handler records for one caught signal (see
/// `layout::vcpu_block::HOST_SIGNAL_INFO`), in Linux terms.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostSignalInfo {
    pub signo: i32,
    /// si_code (SI_USER, SI_QUEUE, SI_TKILL, SI_KERNEL...).
    pub code: i32,
    pub pid: i32,
    pub uid: u32,
    /// si_value of sigqueue, or si_status of SIGCHLD.
    pub value: u64,
    pub pad: u64,
}

// The structs below are Linux x86_64 ABI structs that only these answers carry.

/// `struct rusage` of x86_64 Linux (144 bytes): two `struct timeval`, then 14 longs.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinuxRusage {
    /// (tv_sec, tv_usec)
    pub ru_utime: [i64; 2],
    pub ru_stime: [i64; 2],
    pub ru_maxrss: i64,
    pub ru_ixrss: i64,
    pub ru_idrss: i64,
    pub ru_isrss: i64,
    pub ru_minflt: i64,
    pub ru_majflt: i64,
    pub ru_nswap: i64,
    pub ru_inblock: i64,
    pub ru_oublock: i64,
    pub ru_msgsnd: i64,
    pub ru_msgrcv: i64,
    pub ru_nsignals: i64,
    pub ru_nvcsw: i64,
    pub ru_nivcsw: i64,
}
// SAFETY: repr(C), i64 only, no padding.
unsafe impl Pod for LinuxRusage {}

/// The siginfo fields waitid fills (SIGCHLD's), Linux numbering.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitInfo {
    pub signo: i32,
    /// CLD_EXITED, CLD_KILLED, CLD_DUMPED, CLD_STOPPED, CLD_TRAPPED, CLD_CONTINUED.
    pub code: i32,
    pub pid: i32,
    pub uid: u32,
    /// Exit status, or the signal number.
    pub status: i32,
}

/// `struct tms` of x86_64 Linux: four clock_t (clock ticks).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinuxTms {
    pub tms_utime: i64,
    pub tms_stime: i64,
    pub tms_cutime: i64,
    pub tms_cstime: i64,
}
// SAFETY: repr(C), i64 only, no padding.
unsafe impl Pod for LinuxTms {}

/// `struct sysinfo` of x86_64 Linux (112 bytes), its padding spelled out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinuxSysinfo {
    pub uptime: i64,
    pub loads: [u64; 3],
    pub totalram: u64,
    pub freeram: u64,
    pub sharedram: u64,
    pub bufferram: u64,
    pub totalswap: u64,
    pub freeswap: u64,
    pub procs: u16,
    pub pad: u16,
    pub pad1: u32,
    pub totalhigh: u64,
    pub freehigh: u64,
    pub mem_unit: u32,
    pub pad2: u32,
}
// SAFETY: repr(C), integers only, every gap an explicit field (112 bytes).
unsafe impl Pod for LinuxSysinfo {}

/// Errors on the encoding side of the protocol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    TooLarge,
    Encode,
    Decode,
}

/// Encode `msg` into `area` as one frame; returns the frame length.
pub fn encode_frame<T: Serialize>(msg: &T, area: &mut [u8]) -> Result<usize, FrameError> {
    let (header, body) = area.split_at_mut_checked(4).ok_or(FrameError::TooLarge)?;
    let used = postcard::to_slice(msg, body)
        .map_err(|e| match e {
            postcard::Error::SerializeBufferFull => FrameError::TooLarge,
            _ => FrameError::Encode,
        })?
        .len();
    header.copy_from_slice(&(used as u32).to_le_bytes());
    Ok(used + 4)
}

/// The postcard bytes of the frame at the start of `area`, if its length is sane.
pub fn frame_body(area: &[u8]) -> Result<&[u8], FrameError> {
    let header: [u8; 4] = area.get(..4).ok_or(FrameError::Decode)?.try_into().map_err(|_| FrameError::Decode)?;
    let len = u32::from_le_bytes(header) as usize;
    area.get(4..4usize.checked_add(len).ok_or(FrameError::Decode)?).ok_or(FrameError::Decode)
}

/// Decode the frame at the start of `area`.
pub fn decode_frame<'a, T: Deserialize<'a>>(area: &'a [u8]) -> Result<T, FrameError> {
    postcard::from_bytes(frame_body(area)?).map_err(|_| FrameError::Decode)
}

/// The value of a `Response::Ret` frame at the start of `area`, decoded by hand; `None` for
/// any other response (or a malformed one), which `decode_frame` then handles. Most
/// answers are `Ret`, and the guest kernel decodes them this way because serde's generic
/// path moves the whole 264-byte `Response` around (~200 ns per call there). Postcard
/// writes `Ret(v)` as the variant index 0, then `v` zigzag-encoded as a LEB128 varint.
pub fn decode_ret_frame(area: &[u8]) -> Option<i64> {
    let mut r = Varints::of_variant(area, RESPONSE_RET)?;
    r.i64()
}

/// The `LinuxStat` of a `Response::Stat` frame, decoded by hand like `decode_ret_frame`
/// (serde's generic path costs ~500 ns per stat in the guest kernel); `None` for any other
/// response. Postcard writes the struct's fields in order: unsigned ones as LEB128
/// varints, signed ones zigzag-encoded first, arrays without a length.
pub fn decode_stat_frame(area: &[u8]) -> Option<LinuxStat> {
    let mut r = Varints::of_variant(area, RESPONSE_STAT)?;
    Some(LinuxStat {
        st_dev: r.u64()?,
        st_ino: r.u64()?,
        st_nlink: r.u64()?,
        st_mode: r.u32()?,
        st_uid: r.u32()?,
        st_gid: r.u32()?,
        pad0: r.u32()?,
        st_rdev: r.u64()?,
        st_size: r.i64()?,
        st_blksize: r.i64()?,
        st_blocks: r.i64()?,
        st_atime: r.i64()?,
        st_atime_nsec: r.i64()?,
        st_mtime: r.i64()?,
        st_mtime_nsec: r.i64()?,
        st_ctime: r.i64()?,
        st_ctime_nsec: r.i64()?,
        unused: [r.i64()?, r.i64()?, r.i64()?],
    })
}

/// Encode `resp` into `area` as `encode_frame` does: the answers nearly every request gets
/// (`Ret`, `Stat`) by hand, the rest through postcard. serde's generic path costs the host
/// ~150-300 ns for a `Stat`, a sizeable part of a forwarded stat's ~1.5 µs there.
pub fn encode_response_frame(resp: &Response, area: &mut [u8]) -> Result<usize, FrameError> {
    let mut w = VarintWriter { area, at: 4 };
    match resp {
        Response::Ret(v) => {
            w.byte(RESPONSE_RET)?;
            w.i64(*v)?;
        }
        Response::Stat(st) => {
            w.byte(RESPONSE_STAT)?;
            for v in [st.st_dev, st.st_ino, st.st_nlink] {
                w.u64(v)?;
            }
            for v in [st.st_mode, st.st_uid, st.st_gid, st.pad0] {
                w.u64(v.into())?;
            }
            w.u64(st.st_rdev)?;
            let signed = [st.st_size, st.st_blksize, st.st_blocks, st.st_atime, st.st_atime_nsec, st.st_mtime];
            for v in signed.into_iter().chain([st.st_mtime_nsec, st.st_ctime, st.st_ctime_nsec]).chain(st.unused) {
                w.i64(v)?;
            }
        }
        other => return encode_frame(other, area),
    }
    let body = (w.at - 4) as u32;
    w.area[..4].copy_from_slice(&body.to_le_bytes());
    Ok(w.at)
}

/// A writer of postcard varints after a frame's 4-byte header.
struct VarintWriter<'a> {
    area: &'a mut [u8],
    at: usize,
}

impl VarintWriter<'_> {
    fn byte(&mut self, b: u8) -> Result<(), FrameError> {
        *self.area.get_mut(self.at).ok_or(FrameError::TooLarge)? = b;
        self.at += 1;
        Ok(())
    }

    /// An unsigned LEB128 varint (u32 values are written the same way).
    fn u64(&mut self, mut v: u64) -> Result<(), FrameError> {
        while v >= 0x80 {
            self.byte(v as u8 | 0x80)?;
            v >>= 7;
        }
        self.byte(v as u8)
    }

    fn i64(&mut self, v: i64) -> Result<(), FrameError> {
        self.u64(((v << 1) ^ (v >> 63)) as u64)
    }
}

/// Postcard's variant indices of the responses decoded by hand (their order in
/// `Response`; the tests compare the hand decoders with postcard).
const RESPONSE_RET: u8 = 0;
const RESPONSE_STAT: u8 = 2;

/// A reader of postcard varints.
struct Varints<'a> {
    bytes: &'a [u8],
}

impl<'a> Varints<'a> {
    /// The fields of the frame at the start of `area` if it holds response `variant`.
    fn of_variant(area: &'a [u8], variant: u8) -> Option<Varints<'a>> {
        let (&first, rest) = frame_body(area).ok()?.split_first()?;
        (first == variant).then_some(Varints { bytes: rest })
    }

    /// A LEB128 varint of at most `max_bytes` bytes whose value fits `bits` bits.
    fn varint(&mut self, max_bytes: usize, bits: u32) -> Option<u64> {
        let mut value = 0u64;
        for (i, &byte) in self.bytes.iter().enumerate().take(max_bytes) {
            let shift = 7 * i as u32;
            let part = u64::from(byte & 0x7f);
            // The last byte may only carry the bits that are left.
            if i + 1 == max_bytes && part >> (bits - shift) != 0 {
                return None;
            }
            value |= part << shift;
            if byte & 0x80 == 0 {
                self.bytes = &self.bytes[i + 1..];
                return Some(value);
            }
        }
        None
    }

    fn u64(&mut self) -> Option<u64> {
        self.varint(10, 64)
    }

    fn u32(&mut self) -> Option<u32> {
        self.varint(5, 32).map(|v| v as u32)
    }

    fn i64(&mut self) -> Option<i64> {
        let zigzag = self.u64()?;
        Some((zigzag >> 1) as i64 ^ -((zigzag & 1) as i64))
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use proptest::prelude::*;

    fn round_trip(req: &Request<'_>) -> Request<'static> {
        let mut area = [0u8; 8192];
        let n = encode_frame(req, &mut area).unwrap();
        let owned: alloc::vec::Vec<u8> = area[..n].to_vec();
        let leaked: &'static [u8] = alloc::boxed::Box::leak(owned.into_boxed_slice());
        decode_frame(leaked).unwrap()
    }

    #[test]
    fn borrowed_segments_decode_as_owned() {
        let segs = [GuestSeg { gpa: 0x1000, len: 10 }, GuestSeg { gpa: 0x5000, len: 4096 }];
        let req = Request::Read { fd: 3, buf: SegList::Borrowed(&segs), offset: Some(7) };
        match round_trip(&req) {
            Request::Read { fd: 3, buf, offset: Some(7) } => assert_eq!(buf.as_slice(), &segs),
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn paths_are_bytes_not_strings() {
        let req = Request::Openat { dirfd: -100, path: b"/tmp/\xff\xfe", flags: 0o100, mode: 0o644 };
        assert_eq!(round_trip(&req), req);
    }

    #[test]
    fn frame_too_large_is_an_error() {
        let big = [0u8; 9000];
        let req = Request::Trace { line: &big };
        let mut area = [0u8; 4096];
        assert_eq!(encode_frame(&req, &mut area), Err(FrameError::TooLarge));
    }

    #[test]
    fn lying_length_header_is_rejected() {
        let mut area = [0u8; 64];
        area[..4].copy_from_slice(&1000u32.to_le_bytes());
        assert_eq!(decode_frame::<Request<'_>>(&area), Err(FrameError::Decode));
        area[..4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert_eq!(decode_frame::<Request<'_>>(&area), Err(FrameError::Decode));
    }

    #[test]
    fn answer_structs_have_linux_sizes() {
        use core::mem::{offset_of, size_of};
        use linux_raw_sys::general as lx;
        assert_eq!(size_of::<LinuxRusage>(), size_of::<lx::rusage>());
        assert_eq!(offset_of!(LinuxRusage, ru_maxrss), offset_of!(lx::rusage, ru_maxrss));
        assert_eq!(offset_of!(LinuxRusage, ru_nivcsw), offset_of!(lx::rusage, ru_nivcsw));
        assert_eq!(size_of::<LinuxTms>(), 32);
        assert_eq!(size_of::<LinuxSysinfo>(), 112);
        assert_eq!(offset_of!(LinuxSysinfo, procs), 80);
        assert_eq!(offset_of!(LinuxSysinfo, totalhigh), 88);
        assert_eq!(offset_of!(LinuxSysinfo, mem_unit), 104);
    }

    #[test]
    fn new_requests_round_trip() {
        let times = Some([(1, 2), (3, (1 << 30) - 2)]);
        let req = Request::Utimensat { dirfd: -100, path: Some(b"f"), times, flags: 0x100 };
        assert_eq!(round_trip(&req), req);
        let req = Request::Utimensat { dirfd: 3, path: None, times: None, flags: 0 };
        assert_eq!(round_trip(&req), req);
        let req = Request::Linkat { olddirfd: 3, oldpath: b"a", newdirfd: -100, newpath: b"b", flags: 0x400 };
        assert_eq!(round_trip(&req), req);
        assert_eq!(round_trip(&Request::Setsid), Request::Setsid);
        let req =
            Request::CopyFileRange { fd_in: 3, off_in: Some(7), fd_out: 4, off_out: None, len: 1 << 40, flags: 0 };
        assert_eq!(round_trip(&req), req);
        let value = [GuestSeg { gpa: 0x1000, len: 5 }];
        let target = XattrTarget::Path { path: b"/tmp/f", follow: false };
        let req = Request::Setxattr { target, name: b"user.x", value: SegList::Borrowed(&value), flags: 1 };
        match round_trip(&req) {
            Request::Setxattr { name: b"user.x", value, flags: 1, .. } => {
                assert_eq!(value.as_slice(), &[GuestSeg { gpa: 0x1000, len: 5 }])
            }
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn only_ret_frames_decode_by_hand() {
        let mut area = [0u8; 600];
        for v in [0, 1, -1, 4095, -4095, i64::MAX, i64::MIN] {
            encode_frame(&Response::Ret(v), &mut area).unwrap();
            assert_eq!(decode_ret_frame(&area), Some(v));
        }
        encode_frame(&Response::Fds([3, 4]), &mut area).unwrap();
        assert_eq!(decode_ret_frame(&area), None);
        encode_frame(&Response::Malformed(MalformedReason::Decode), &mut area).unwrap();
        assert_eq!(decode_ret_frame(&area), None);
        // a truncated varint, and an 11-byte one
        assert_eq!(decode_ret_frame(&[2, 0, 0, 0, 0, 0x80]), None);
        assert_eq!(
            decode_ret_frame(&[11, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]),
            None
        );
    }

    #[test]
    fn seglist_total_len_detects_overflow() {
        let segs = [GuestSeg { gpa: 0, len: u64::MAX }, GuestSeg { gpa: 0, len: 1 }];
        assert_eq!(SegList::Borrowed(&segs).total_len(), None);
    }

    proptest! {
        /// Whatever bytes a guest puts in its area, decoding returns instead of panicking.
        #[test]
        fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = decode_frame::<Request<'_>>(&bytes);
            let _ = decode_frame::<Response>(&bytes);
        }

        #[test]
        fn decoding_arbitrary_bodies_never_panics(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let mut area = std::vec![0u8; body.len() + 4];
            area[..4].copy_from_slice(&(body.len() as u32).to_le_bytes());
            area[4..].copy_from_slice(&body);
            let _ = decode_frame::<Request<'_>>(&area);
        }

        #[test]
        fn ret_frames_decode_by_hand_as_postcard_does(v in any::<i64>()) {
            let mut area = [0u8; 64];
            encode_frame(&Response::Ret(v), &mut area).unwrap();
            prop_assert_eq!(decode_ret_frame(&area), Some(v));
        }

        #[test]
        fn the_hand_decoder_agrees_with_postcard_on_any_bytes(
            variant in 0u8..3,
            varint in proptest::collection::vec(any::<u8>(), 0..12),
        ) {
            let mut area = std::vec![variant];
            area.extend_from_slice(&varint);
            let len = (area.len() as u32).to_le_bytes();
            area.splice(0..0, len);
            let by_postcard = match decode_frame::<Response>(&area) {
                Ok(Response::Ret(v)) => Some(v),
                _ => None,
            };
            prop_assert_eq!(decode_ret_frame(&area), by_postcard);
        }

        #[test]
        fn stat_frames_decode_by_hand_as_postcard_does(f in proptest::collection::vec(any::<u64>(), 21), small in any::<[u32; 4]>()) {
            let st = LinuxStat {
                st_dev: f[0], st_ino: f[1], st_nlink: f[2], st_mode: small[0], st_uid: small[1], st_gid: small[2],
                pad0: small[3], st_rdev: f[3], st_size: f[4] as i64, st_blksize: f[5] as i64, st_blocks: f[6] as i64,
                st_atime: f[7] as i64, st_atime_nsec: f[8] as i64, st_mtime: f[9] as i64, st_mtime_nsec: f[10] as i64,
                st_ctime: f[11] as i64, st_ctime_nsec: f[12] as i64, unused: [f[13] as i64, f[14] as i64, f[15] as i64],
            };
            let mut area = [0u8; 600];
            encode_frame(&Response::Stat(st), &mut area).unwrap();
            prop_assert_eq!(decode_stat_frame(&area), Some(st));
            prop_assert_eq!(decode_ret_frame(&area), None);
        }

        #[test]
        fn responses_encode_by_hand_as_postcard_does(f in proptest::collection::vec(any::<u64>(), 16), small in any::<[u32; 4]>(), v in any::<i64>()) {
            let st = LinuxStat {
                st_dev: f[0], st_ino: f[1], st_nlink: f[2], st_mode: small[0], st_uid: small[1], st_gid: small[2],
                pad0: small[3], st_rdev: f[3], st_size: f[4] as i64, st_blksize: f[5] as i64, st_blocks: f[6] as i64,
                st_atime: f[7] as i64, st_atime_nsec: f[8] as i64, st_mtime: f[9] as i64, st_mtime_nsec: f[10] as i64,
                st_ctime: f[11] as i64, st_ctime_nsec: f[12] as i64, unused: [f[13] as i64, f[14] as i64, f[15] as i64],
            };
            for resp in [Response::Ret(v), Response::Stat(st), Response::Malformed(MalformedReason::Decode)] {
                let (mut by_hand, mut by_postcard) = ([0u8; 600], [0u8; 600]);
                let n = encode_response_frame(&resp, &mut by_hand).unwrap();
                let m = encode_frame(&resp, &mut by_postcard).unwrap();
                prop_assert_eq!(&by_hand[..n], &by_postcard[..m]);
            }
        }

        #[test]
        fn a_full_area_fails_the_hand_encoder_as_it_fails_postcard(len in 0usize..200, v in any::<i64>()) {
            let st = LinuxStat { st_size: v, st_mtime: v, ..Default::default() };
            for resp in [Response::Ret(v), Response::Stat(st)] {
                let (mut by_hand, mut by_postcard) = (std::vec![0u8; len], std::vec![0u8; len]);
                let hand = encode_response_frame(&resp, &mut by_hand).map_err(|_| ());
                let postcard = encode_frame(&resp, &mut by_postcard).map_err(|_| ());
                prop_assert_eq!(hand, postcard);
            }
        }

        #[test]
        fn the_stat_decoder_agrees_with_postcard_on_any_bytes(fields in proptest::collection::vec(any::<u8>(), 0..200)) {
            let mut area = std::vec![RESPONSE_STAT];
            area.extend_from_slice(&fields);
            let len = (area.len() as u32).to_le_bytes();
            area.splice(0..0, len);
            let by_postcard = match decode_frame::<Response>(&area) {
                Ok(Response::Stat(st)) => Some(st),
                _ => None,
            };
            prop_assert_eq!(decode_stat_frame(&area), by_postcard);
        }

        #[test]
        fn write_requests_round_trip(fd in any::<i32>(), gpa in any::<u64>(), len in any::<u64>(), off in any::<Option<i64>>()) {
            let segs = [GuestSeg { gpa, len }];
            let req = Request::Write { fd, buf: SegList::Borrowed(&segs), offset: off };
            let back = round_trip(&req);
            prop_assert_eq!(back, Request::Write { fd, buf: SegList::Owned(std::vec![GuestSeg { gpa, len }]), offset: off });
        }
    }
}
