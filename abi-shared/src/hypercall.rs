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

use crate::linux::{LinuxStat, LinuxStatx, LinuxTermios, LinuxWinsize};

/// Bumped on every incompatible change; the first hypercall (`Hello`) checks it.
pub const PROTOCOL_VERSION: u32 = 1;

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

/// What the guest asks of the host. Paths are raw bytes (Linux paths need not be UTF-8).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request<'a> {
    /// First call: checks the protocol version and returns the clock and startup sizes.
    Hello { version: u32 },
    /// Write the postcard-encoded `Startup` into `buf`.
    GetStartup { buf: SegList<'a> },
    /// The program ended: `code` is the exit status, or the signal that killed it.
    Exit { how: ExitHow, stats: SegList<'a> },
    /// One `--strace` line (without newline).
    Trace { line: &'a [u8] },
    /// The guest kernel cannot go on; the monitor prints this and the vCPU state.
    Panic { message: &'a [u8] },
    /// Log line from the guest kernel (shown with `-v`).
    Log { level: u8, message: &'a [u8] },

    Openat { dirfd: i32, path: &'a [u8], flags: i32, mode: u32 },
    Close { fd: i32 },
    /// read/readv into the segments; `offset` set for pread64/preadv.
    Read { fd: i32, buf: SegList<'a>, offset: Option<i64> },
    /// write/writev from the segments; `offset` set for pwrite64/pwritev.
    Write { fd: i32, buf: SegList<'a>, offset: Option<i64> },
    Lseek { fd: i32, offset: i64, whence: u32 },
    Fstat { fd: i32 },
    /// newfstatat (and stat/lstat, which the guest maps onto it).
    Fstatat { dirfd: i32, path: &'a [u8], flags: i32 },
    Statx { dirfd: i32, path: &'a [u8], flags: i32, mask: u32 },
    Getdents64 { fd: i32, buf: SegList<'a> },
    Mkdirat { dirfd: i32, path: &'a [u8], mode: u32 },
    Unlinkat { dirfd: i32, path: &'a [u8], flags: i32 },
    Renameat2 { olddirfd: i32, oldpath: &'a [u8], newdirfd: i32, newpath: &'a [u8], flags: u32 },
    Symlinkat { target: &'a [u8], newdirfd: i32, linkpath: &'a [u8] },
    Readlinkat { dirfd: i32, path: &'a [u8], buf: SegList<'a> },
    Truncate { path: &'a [u8], length: i64 },
    Ftruncate { fd: i32, length: i64 },
    Fsync { fd: i32 },
    Fdatasync { fd: i32 },
    Fchmodat { dirfd: i32, path: &'a [u8], mode: u32 },
    Fchmod { fd: i32, mode: u32 },
    Faccessat { dirfd: i32, path: &'a [u8], mode: i32, flags: i32 },
    Getcwd { buf: SegList<'a> },
    Chdir { path: &'a [u8] },
    Fchdir { fd: i32 },
    Dup { fd: i32 },
    Dup3 { oldfd: i32, newfd: i32, flags: i32 },
    /// fcntl commands whose argument is an integer (F_DUPFD, F_GETFD/SETFD, F_GETFL/SETFL...).
    Fcntl { fd: i32, cmd: i32, arg: u64 },
    /// ioctl TCGETS: answered with `Response::Termios`.
    IoctlTcgets { fd: i32 },
    /// ioctl TIOCGWINSZ: answered with `Response::Winsize`.
    IoctlGetWinsize { fd: i32 },
    Umask { mask: u32 },
    /// Block the vCPU for `ns` nanoseconds (nanosleep and friends); returns 0.
    Sleep { ns: u64 },
}

/// How the program ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExitHow {
    /// exit/exit_group with this status (only the low 8 bits reach a parent).
    Status(i32),
    /// Killed by this Linux signal (its default action).
    Signal(i32),
}

/// What the host answers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Response {
    /// A syscall result as Linux returns it: a value, or `-errno`.
    Ret(i64),
    Hello(HelloInfo),
    Stat(LinuxStat),
    Statx(LinuxStatx),
    Termios(LinuxTermios),
    Winsize(LinuxWinsize),
    /// The request could not be understood or named memory outside guest RAM. The guest
    /// turns this into EFAULT/EINVAL; it is never a reason for the host to stop.
    Malformed(MalformedReason),
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
    /// The limits Linux programs see: (resource, soft, hard) with Linux resource numbers.
    pub rlimits: Vec<(u32, u64, u64)>,
    pub cpu_count: u32,
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
        fn write_requests_round_trip(fd in any::<i32>(), gpa in any::<u64>(), len in any::<u64>(), off in any::<Option<i64>>()) {
            let segs = [GuestSeg { gpa, len }];
            let req = Request::Write { fd, buf: SegList::Borrowed(&segs), offset: off };
            let back = round_trip(&req);
            prop_assert_eq!(back, Request::Write { fd, buf: SegList::Owned(std::vec![GuestSeg { gpa, len }]), offset: off });
        }
    }
}
