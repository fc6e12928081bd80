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

use crate::linux::{LinuxStat, LinuxStatfs, LinuxStatx, LinuxTermios, LinuxWinsize};

mod clock;
mod control;
mod exec;
mod fs;
mod futex;
mod info;
mod ipc;
mod mm;
mod net;
mod notify;
mod pidfd;
mod process;
mod procfs;
mod splice;
mod tty;
mod vcpu;

pub use clock::ClockRequest;
pub use control::ControlRequest;
pub use exec::ExecRequest;
pub use fs::FsRequest;
pub use futex::FutexRequest;
pub use info::InfoRequest;
pub use ipc::IpcRequest;
pub use mm::MmRequest;
pub use net::NetRequest;
pub use notify::NotifyRequest;
pub use pidfd::PidfdRequest;
pub use process::{ProcRequest, PtraceOp};
pub use procfs::ProcfsRequest;
pub use splice::SpliceRequest;
pub use tty::TtyRequest;
pub use vcpu::VcpuRequest;

/// Bumped on every incompatible change; the first hypercall (`Hello`) checks it.
pub const PROTOCOL_VERSION: u32 = 42;

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

/// `FsRequest::Fsync { fd }.into()` and the like: a family's request as a `Request`.
macro_rules! family_into_request {
    ($($family:ident: $ty:ident $(<$lt:lifetime>)?),* $(,)?) => {
        $(impl<'a> From<$ty $(<$lt>)?> for Request<'a> {
            fn from(req: $ty $(<$lt>)?) -> Request<'a> {
                Request::$family(req)
            }
        })*
    };
}

family_into_request! {
    Control: ControlRequest<'a>,
    Fs: FsRequest<'a>,
    Mm: MmRequest<'a>,
    Proc: ProcRequest<'a>,
    Exec: ExecRequest<'a>,
    Vcpu: VcpuRequest,
    Futex: FutexRequest,
    Tty: TtyRequest,
    Info: InfoRequest<'a>,
    Clock: ClockRequest<'a>,
    Procfs: ProcfsRequest<'a>,
    Net: NetRequest<'a>,
    Ipc: IpcRequest<'a>,
    Notify: NotifyRequest<'a>,
    Splice: SpliceRequest<'a>,
    Pidfd: PidfdRequest<'a>,
}

impl Request<'_> {
    /// Whether only the host thread running the calling vCPU may serve the request, so
    /// that the guest must send it by exit rather than to the hypercall worker: the end
    /// of the guest and fork, thread start and end (`Request::Vcpu`), a futex sleep (that
    /// thread's own sleep), a credential change (the thread's own; the worker follows it,
    /// see the monitor's server/creds.rs), and the program's name (the calling thread's).
    pub fn needs_vcpu_thread(&self) -> bool {
        match self {
            Request::Vcpu(_) => true,
            Request::Control(c) => matches!(c, ControlRequest::Exit { .. } | ControlRequest::Panic { .. }),
            Request::Futex(f) => matches!(f, FutexRequest::FutexSleep { .. } | FutexRequest::FutexPi { .. }),
            Request::Procfs(p) => matches!(p, ProcfsRequest::ProcessName { .. }),
            Request::Creds { op } => op.changes(),
            _ => false,
        }
    }
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
    /// Requests about the run itself: the handshake, start-up data, the end, logs, traces,
    /// kicks and the debugger.
    Control(#[serde(borrow)] ControlRequest<'a>),
    /// Files and descriptors: paths, reads and writes, metadata, pipes, polls and the event
    /// descriptors (epoll, eventfd, timerfd) the host keeps.
    Fs(#[serde(borrow)] FsRequest<'a>),
    /// Guest memory and the host files behind it: releasing RAM, held files for page faults,
    /// shared file windows.
    Mm(#[serde(borrow)] MmRequest<'a>),
    /// Other processes: waiting, signals to them, and the vfork hand-over.
    Proc(#[serde(borrow)] ProcRequest<'a>),
    /// execve and the descriptor table around it.
    Exec(#[serde(borrow)] ExecRequest<'a>),
    /// Requests only the host thread running the calling vCPU can serve; they always come by exit.
    Vcpu(VcpuRequest),
    /// Futex sleeps and wakes in the host (shared and PI futexes, and every wait that must not
    /// spin).
    Futex(FutexRequest),
    /// Terminal ioctls that change or ask the host terminal.
    Tty(TtyRequest),
    /// Process ids, groups, usage and priorities as the host has them.
    Info(#[serde(borrow)] InfoRequest<'a>),
    /// CPU-time clocks and timers, setting the clock, and the scheduler's calls.
    Clock(#[serde(borrow)] ClockRequest<'a>),
    /// What /proc needs from the host.
    Procfs(#[serde(borrow)] ProcfsRequest<'a>),
    /// Sockets.
    Net(#[serde(borrow)] NetRequest<'a>),
    /// SysV IPC and POSIX message queues.
    Ipc(#[serde(borrow)] IpcRequest<'a>),
    /// inotify.
    Notify(#[serde(borrow)] NotifyRequest<'a>),
    /// splice, tee and vmsplice.
    Splice(#[serde(borrow)] SpliceRequest<'a>),
    /// Process descriptors.
    Pidfd(#[serde(borrow)] PidfdRequest<'a>),
    /// A credential call of the running thread (`CredOp`), made by the host thread that
    /// serves this vCPU (its own vCPU thread: the guest sends it by exit), with the host's
    /// rules. `Response::Creds`: the call's result and the thread's credentials after it.
    Creds { op: CredOp<'a> },
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LinuxFlock {
    pub l_type: i16,
    pub l_whence: i16,
    pub pad0: u32,
    pub l_start: i64,
    pub l_len: i64,
    pub l_pid: i32,
    pub pad1: u32,
}

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
    /// An open of exactly `/dev/null` or `/dev/zero` that found a character device: the
    /// descriptor and its Linux device number, so that the guest can serve its reads and
    /// writes itself without asking what it opened.
    OpenedCharDevice {
        fd: i64,
        rdev: u64,
    },
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
    /// arguments with `ExecRequest::ExecNative` instead of loading it.
    pub native: bool,
    /// Fresh host entropy for the guest's random generator: the new image's AT_RANDOM (its
    /// stack-protector canary) and getrandom come from the host, as on Linux.
    pub seed: [u8; 32],
}

/// Everything the guest needs to start the program, sent once.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Startup {
    /// Path the host resolved (PATH search done), opened by the guest loader: the ELF
    /// file, after any `#!` scripts.
    pub exec_path: Vec<u8>,
    /// The name execve would have been given (a script's own path, as the user named it or
    /// PATH found it): the process's comm and AT_EXECFN, as Linux names it.
    pub filename: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    /// The argument vector before `#!` scripts rewrote `argv` (None: no script), for
    /// --strace's first execve line.
    pub script_argv: Option<Vec<Vec<u8>>>,
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
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
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LinuxTms {
    pub tms_utime: i64,
    pub tms_stime: i64,
    pub tms_cutime: i64,
    pub tms_cstime: i64,
}

/// `struct sysinfo` of x86_64 Linux (112 bytes), its padding spelled out.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
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
        let req = Request::Fs(FsRequest::Read { fd: 3, buf: SegList::Borrowed(&segs), offset: Some(7) });
        match round_trip(&req) {
            Request::Fs(FsRequest::Read { fd: 3, buf, offset: Some(7) }) => assert_eq!(buf.as_slice(), &segs),
            other => panic!("decoded {other:?}"),
        }
    }

    #[test]
    fn paths_are_bytes_not_strings() {
        let req = Request::Fs(FsRequest::Openat { dirfd: -100, path: b"/tmp/\xff\xfe", flags: 0o100, mode: 0o644 });
        assert_eq!(round_trip(&req), req);
    }

    #[test]
    fn frame_too_large_is_an_error() {
        let big = [0u8; 9000];
        let req = Request::Control(ControlRequest::Trace { line: &big });
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
        let req = Request::Fs(FsRequest::Utimensat { dirfd: -100, path: Some(b"f"), times, flags: 0x100 });
        assert_eq!(round_trip(&req), req);
        let req = Request::Fs(FsRequest::Utimensat { dirfd: 3, path: None, times: None, flags: 0 });
        assert_eq!(round_trip(&req), req);
        let req =
            Request::Fs(FsRequest::Linkat { olddirfd: 3, oldpath: b"a", newdirfd: -100, newpath: b"b", flags: 0x400 });
        assert_eq!(round_trip(&req), req);
        assert_eq!(round_trip(&Request::Info(InfoRequest::Setsid)), Request::Info(InfoRequest::Setsid));
        let req = Request::Fs(FsRequest::CopyFileRange {
            fd_in: 3,
            off_in: Some(7),
            fd_out: 4,
            off_out: None,
            len: 1 << 40,
            flags: 0,
        });
        assert_eq!(round_trip(&req), req);
        let value = [GuestSeg { gpa: 0x1000, len: 5 }];
        let target = XattrTarget::Path { path: b"/tmp/f", follow: false };
        let req =
            Request::Fs(FsRequest::Setxattr { target, name: b"user.x", value: SegList::Borrowed(&value), flags: 1 });
        match round_trip(&req) {
            Request::Fs(FsRequest::Setxattr { name: b"user.x", value, flags: 1, .. }) => {
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
            let req = Request::Fs(FsRequest::Write { fd, buf: SegList::Borrowed(&segs), offset: off });
            let back = round_trip(&req);
            prop_assert_eq!(back, Request::Fs(FsRequest::Write { fd, buf: SegList::Owned(std::vec![GuestSeg { gpa, len }]), offset: off }));
        }
    }
}
