//! The Linux ↔ Darwin translation tables, as plain data compiled on every host.
//!
//! `darwin.rs` (macOS only) converts with these; here they are unit-tested on Linux, and
//! each value is checked at compile time against the `libc` crate: the Darwin column
//! against libc's macOS constants when compiling for macOS (which `cargo check --target
//! x86_64-apple-darwin` does on Linux too), the Linux column against libc's Linux
//! constants when compiling for Linux. A wrong literal therefore fails a build.
//!
//! A row pairs a Linux constant with the Darwin constant that stands for it. When Darwin
//! has the same thing under its own number, both names are the same; when it lacks the
//! Linux one, the row names the nearest Darwin constant, and the doc comment of the table
//! says why. Round trips (Linux → Darwin → Linux) hold for every row whose names match.
//!
//! Conversions towards the host reject what they do not know (`Err(EINVAL)` or the errno
//! Linux itself gives for an unsupported feature); nothing unknown is passed through.
// Darwin-only users (darwin.rs) and the tests use everything; a Linux build only the tests.
#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

use abi_shared::linux::{LinuxStat, LinuxStatx, LinuxTermios, StatxTimestamp};

/// Linux errno values used as results here (positive, as `LinuxErrno`).
pub mod lerr {
    pub const EPERM: i32 = 1;
    pub const ENOENT: i32 = 2;
    pub const EBADF: i32 = 9;
    pub const EINVAL: i32 = 22;
    pub const ENAMETOOLONG: i32 = 36;
    pub const ENOTSUP: i32 = 95;
    pub const EAFNOSUPPORT: i32 = 97;
    pub const EIO: i32 = 5;
    pub const ENOPROTOOPT: i32 = 92;
    pub const ESOCKTNOSUPPORT: i32 = 94;
    pub const ESPIPE: i32 = 29;
    pub const ENOTTY: i32 = 25;
}

/// One row of a table: a Linux constant and the Darwin constant that stands for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub linux_name: &'static str,
    pub linux: i64,
    pub darwin_name: &'static str,
    pub darwin: i64,
}

impl Row {
    /// Darwin has the same thing (not a stand-in).
    pub fn exact(&self) -> bool {
        self.linux_name == self.darwin_name
    }
}

/// A table of rows, with compile-time checks of both columns against `libc`.
macro_rules! rows {
    ($(#[$m:meta])* $table:ident { $($ln:ident = $lv:expr => $dn:ident = $dv:expr),* $(,)? }) => {
        $(#[$m])*
        pub const $table: &[Row] = &[
            $(Row { linux_name: stringify!($ln), linux: $lv as i64, darwin_name: stringify!($dn), darwin: $dv as i64 }),*
        ];
        #[cfg(target_os = "macos")]
        const _: () = {
            $(assert!(libc::$dn as i64 as u32 == $dv as i64 as u32, concat!("Darwin's ", stringify!($dn), " (", stringify!($table), ")"));)*
        };
        #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
        const _: () = {
            $(assert!(libc::$ln as i64 as u32 == $lv as i64 as u32, concat!("Linux's ", stringify!($ln), " (", stringify!($table), ")"));)*
        };
    };
}

/// Like `rows!`, for tables whose Linux names the `libc` crate does not have on Linux
/// (Linux-only kernel constants): only the Darwin column is checked against `libc`, the
/// Linux one by the unit tests against `linux-raw-sys` or the Linux headers' values.
macro_rules! rows_darwin_checked {
    ($(#[$m:meta])* $table:ident { $($ln:ident = $lv:expr => $dn:ident = $dv:expr),* $(,)? }) => {
        $(#[$m])*
        pub const $table: &[Row] = &[
            $(Row { linux_name: stringify!($ln), linux: $lv as i64, darwin_name: stringify!($dn), darwin: $dv as i64 }),*
        ];
        #[cfg(target_os = "macos")]
        const _: () = {
            $(assert!(libc::$dn as i64 as u32 == $dv as i64 as u32, concat!("Darwin's ", stringify!($dn), " (", stringify!($table), ")"));)*
        };
    };
}

/// Linux value → Darwin value by the table, exact rows and stand-ins alike.
pub fn to_darwin(table: &[Row], linux: i64) -> Option<i64> {
    table.iter().find(|r| r.linux == linux).map(|r| r.darwin)
}

/// Darwin value → Linux value: the exact row first, else the first stand-in.
pub fn to_linux(table: &[Row], darwin: i64) -> Option<i64> {
    table
        .iter()
        .find(|r| r.darwin == darwin && r.exact())
        .or_else(|| table.iter().find(|r| r.darwin == darwin))
        .map(|r| r.linux)
}

/// Translate a bit set: every set bit must be in a row (`Err(leftover bits)` otherwise).
pub fn bits_to_darwin(table: &[Row], linux: i64) -> Result<i64, i64> {
    let mut out = 0;
    let mut left = linux;
    // Rows are matched against the bits still unclaimed, so a composite row (O_SYNC,
    // which contains O_DSYNC's bit) placed first claims its bits before a single one.
    for r in table {
        if r.linux != 0 && left & r.linux == r.linux {
            out |= r.darwin;
            left &= !r.linux;
        }
    }
    if left == 0 {
        Ok(out)
    } else {
        Err(left)
    }
}

/// Translate a host bit set to Linux; bits without a row are dropped.
pub fn bits_to_linux(table: &[Row], darwin: i64) -> i64 {
    table.iter().filter(|r| r.darwin != 0 && darwin & r.darwin == r.darwin).fold(0, |acc, r| acc | r.linux)
}

// ---------------------------------------------------------------------------------------
// errno

rows! {
    /// Every Linux errno (x86_64, 1..=133 without the aliases EWOULDBLOCK and EDEADLOCK),
    /// with its Darwin number. Linux-only errnos stand in as the nearest Darwin errno:
    /// the STREAMS/obscure-device family (ECHRNG, EL2NSYNC, EL3HLT, EL3RST, ELNRNG,
    /// EUNATCH, ENOCSI, EL2HLT, EADV, ESRMNT, ECOMM, EDOTDOT, EUCLEAN, EREMOTEIO,
    /// EHWPOISON) as EIO; argument-like ones (EBADE, EBADR, ENOANO, EBADRQC, EBADSLT,
    /// EBFONT, ENOTUNIQ, ENOTNAM, ENAVAIL, EISNAM) as EINVAL; EXFULL as ENOSPC; ENONET
    /// and ERFKILL as ENETDOWN; ENOPKG and ENOKEY as ENOENT; EBADFD as EBADF; EREMCHG as
    /// EADDRNOTAVAIL; the ELIB* family as ENOEXEC (ELIBMAX as EMFILE); ERESTART as EINTR;
    /// ESTRPIPE as EPIPE; ENOMEDIUM and EMEDIUMTYPE as ENODEV; the key errnos as EACCES.
    ERRNO {
        EPERM = 1 => EPERM = 1,
        ENOENT = 2 => ENOENT = 2,
        ESRCH = 3 => ESRCH = 3,
        EINTR = 4 => EINTR = 4,
        EIO = 5 => EIO = 5,
        ENXIO = 6 => ENXIO = 6,
        E2BIG = 7 => E2BIG = 7,
        ENOEXEC = 8 => ENOEXEC = 8,
        EBADF = 9 => EBADF = 9,
        ECHILD = 10 => ECHILD = 10,
        EAGAIN = 11 => EAGAIN = 35,
        ENOMEM = 12 => ENOMEM = 12,
        EACCES = 13 => EACCES = 13,
        EFAULT = 14 => EFAULT = 14,
        ENOTBLK = 15 => ENOTBLK = 15,
        EBUSY = 16 => EBUSY = 16,
        EEXIST = 17 => EEXIST = 17,
        EXDEV = 18 => EXDEV = 18,
        ENODEV = 19 => ENODEV = 19,
        ENOTDIR = 20 => ENOTDIR = 20,
        EISDIR = 21 => EISDIR = 21,
        EINVAL = 22 => EINVAL = 22,
        ENFILE = 23 => ENFILE = 23,
        EMFILE = 24 => EMFILE = 24,
        ENOTTY = 25 => ENOTTY = 25,
        ETXTBSY = 26 => ETXTBSY = 26,
        EFBIG = 27 => EFBIG = 27,
        ENOSPC = 28 => ENOSPC = 28,
        ESPIPE = 29 => ESPIPE = 29,
        EROFS = 30 => EROFS = 30,
        EMLINK = 31 => EMLINK = 31,
        EPIPE = 32 => EPIPE = 32,
        EDOM = 33 => EDOM = 33,
        ERANGE = 34 => ERANGE = 34,
        EDEADLK = 35 => EDEADLK = 11,
        ENAMETOOLONG = 36 => ENAMETOOLONG = 63,
        ENOLCK = 37 => ENOLCK = 77,
        ENOSYS = 38 => ENOSYS = 78,
        ENOTEMPTY = 39 => ENOTEMPTY = 66,
        ELOOP = 40 => ELOOP = 62,
        ENOMSG = 42 => ENOMSG = 91,
        EIDRM = 43 => EIDRM = 90,
        ECHRNG = 44 => EINVAL = 22,
        EL2NSYNC = 45 => EIO = 5,
        EL3HLT = 46 => EIO = 5,
        EL3RST = 47 => EIO = 5,
        ELNRNG = 48 => EINVAL = 22,
        EUNATCH = 49 => EIO = 5,
        ENOCSI = 50 => EIO = 5,
        EL2HLT = 51 => EIO = 5,
        EBADE = 52 => EINVAL = 22,
        EBADR = 53 => EINVAL = 22,
        EXFULL = 54 => ENOSPC = 28,
        ENOANO = 55 => EINVAL = 22,
        EBADRQC = 56 => EINVAL = 22,
        EBADSLT = 57 => EINVAL = 22,
        EBFONT = 59 => EINVAL = 22,
        ENOSTR = 60 => ENOSTR = 99,
        ENODATA = 61 => ENODATA = 96,
        ETIME = 62 => ETIME = 101,
        ENOSR = 63 => ENOSR = 98,
        ENONET = 64 => ENETDOWN = 50,
        ENOPKG = 65 => ENOENT = 2,
        EREMOTE = 66 => EREMOTE = 71,
        ENOLINK = 67 => ENOLINK = 97,
        EADV = 68 => EIO = 5,
        ESRMNT = 69 => EIO = 5,
        ECOMM = 70 => EIO = 5,
        EPROTO = 71 => EPROTO = 100,
        EMULTIHOP = 72 => EMULTIHOP = 95,
        EDOTDOT = 73 => EIO = 5,
        EBADMSG = 74 => EBADMSG = 94,
        EOVERFLOW = 75 => EOVERFLOW = 84,
        ENOTUNIQ = 76 => EINVAL = 22,
        EBADFD = 77 => EBADF = 9,
        EREMCHG = 78 => EADDRNOTAVAIL = 49,
        ELIBACC = 79 => ENOEXEC = 8,
        ELIBBAD = 80 => ENOEXEC = 8,
        ELIBSCN = 81 => ENOEXEC = 8,
        ELIBMAX = 82 => EMFILE = 24,
        ELIBEXEC = 83 => ENOEXEC = 8,
        EILSEQ = 84 => EILSEQ = 92,
        ERESTART = 85 => EINTR = 4,
        ESTRPIPE = 86 => EPIPE = 32,
        EUSERS = 87 => EUSERS = 68,
        ENOTSOCK = 88 => ENOTSOCK = 38,
        EDESTADDRREQ = 89 => EDESTADDRREQ = 39,
        EMSGSIZE = 90 => EMSGSIZE = 40,
        EPROTOTYPE = 91 => EPROTOTYPE = 41,
        ENOPROTOOPT = 92 => ENOPROTOOPT = 42,
        EPROTONOSUPPORT = 93 => EPROTONOSUPPORT = 43,
        ESOCKTNOSUPPORT = 94 => ESOCKTNOSUPPORT = 44,
        EOPNOTSUPP = 95 => EOPNOTSUPP = 102,
        EPFNOSUPPORT = 96 => EPFNOSUPPORT = 46,
        EAFNOSUPPORT = 97 => EAFNOSUPPORT = 47,
        EADDRINUSE = 98 => EADDRINUSE = 48,
        EADDRNOTAVAIL = 99 => EADDRNOTAVAIL = 49,
        ENETDOWN = 100 => ENETDOWN = 50,
        ENETUNREACH = 101 => ENETUNREACH = 51,
        ENETRESET = 102 => ENETRESET = 52,
        ECONNABORTED = 103 => ECONNABORTED = 53,
        ECONNRESET = 104 => ECONNRESET = 54,
        ENOBUFS = 105 => ENOBUFS = 55,
        EISCONN = 106 => EISCONN = 56,
        ENOTCONN = 107 => ENOTCONN = 57,
        ESHUTDOWN = 108 => ESHUTDOWN = 58,
        ETOOMANYREFS = 109 => ETOOMANYREFS = 59,
        ETIMEDOUT = 110 => ETIMEDOUT = 60,
        ECONNREFUSED = 111 => ECONNREFUSED = 61,
        EHOSTDOWN = 112 => EHOSTDOWN = 64,
        EHOSTUNREACH = 113 => EHOSTUNREACH = 65,
        EALREADY = 114 => EALREADY = 37,
        EINPROGRESS = 115 => EINPROGRESS = 36,
        ESTALE = 116 => ESTALE = 70,
        EUCLEAN = 117 => EIO = 5,
        ENOTNAM = 118 => EINVAL = 22,
        ENAVAIL = 119 => EINVAL = 22,
        EISNAM = 120 => EINVAL = 22,
        EREMOTEIO = 121 => EIO = 5,
        EDQUOT = 122 => EDQUOT = 69,
        ENOMEDIUM = 123 => ENODEV = 19,
        EMEDIUMTYPE = 124 => ENODEV = 19,
        ECANCELED = 125 => ECANCELED = 89,
        ENOKEY = 126 => ENOENT = 2,
        EKEYEXPIRED = 127 => EACCES = 13,
        EKEYREVOKED = 128 => EACCES = 13,
        EKEYREJECTED = 129 => EACCES = 13,
        EOWNERDEAD = 130 => EOWNERDEAD = 105,
        ENOTRECOVERABLE = 131 => ENOTRECOVERABLE = 104,
        ERFKILL = 132 => ENETDOWN = 50,
        EHWPOISON = 133 => EIO = 5,
    }
}

rows! {
    /// Darwin-only errnos and the Linux errno a program sees for them: EPROCLIM as EAGAIN
    /// (fork's "too many processes"), the Sun RPC errnos as EPROTO, EFTYPE as EINVAL,
    /// EAUTH/ENEEDAUTH as EACCES, EPWROFF/EDEVERR as EIO, the Mach-O errnos (EBADEXEC,
    /// EBADARCH, EBADMACHO) as ENOEXEC and ESHLIBVERS as ELIBBAD, ENOATTR as ENODATA
    /// (what Linux's getxattr says), ENOPOLICY as EPERM, EQFULL as ENOBUFS, and ENOTSUP
    /// (45; Darwin's EOPNOTSUPP is 102) as EOPNOTSUPP, which Linux's ENOTSUP also is.
    DARWIN_ONLY_ERRNO {
        EAGAIN = 11 => EPROCLIM = 67,
        EPROTO = 71 => EBADRPC = 72,
        EPROTO = 71 => ERPCMISMATCH = 73,
        EPROTO = 71 => EPROGUNAVAIL = 74,
        EPROTO = 71 => EPROGMISMATCH = 75,
        EPROTO = 71 => EPROCUNAVAIL = 76,
        EINVAL = 22 => EFTYPE = 79,
        EACCES = 13 => EAUTH = 80,
        EACCES = 13 => ENEEDAUTH = 81,
        EIO = 5 => EPWROFF = 82,
        EIO = 5 => EDEVERR = 83,
        ENOEXEC = 8 => EBADEXEC = 85,
        ENOEXEC = 8 => EBADARCH = 86,
        ELIBBAD = 80 => ESHLIBVERS = 87,
        ENOEXEC = 8 => EBADMACHO = 88,
        ENODATA = 61 => ENOATTR = 93,
        EPERM = 1 => ENOPOLICY = 103,
        ENOBUFS = 105 => EQFULL = 106,
        EOPNOTSUPP = 95 => ENOTSUP = 45,
    }
}

/// The highest Darwin errno the tables know (EQFULL).
pub const DARWIN_ERRNO_MAX: i32 = 106;

/// A Darwin errno as Linux numbers it; an errno no table knows (a future macOS) is EIO.
pub fn errno_darwin_to_linux(darwin: i32) -> i32 {
    let d = i64::from(darwin);
    to_linux(ERRNO, d).or_else(|| to_linux(DARWIN_ONLY_ERRNO, d)).map_or(lerr::EIO, |l| l as i32)
}

/// A Linux errno as Darwin numbers it (for errnos the monitor hands to the host, such as
/// a Linux program's `errno` in an exit report); unknown values are `None`.
pub fn errno_linux_to_darwin(linux: i32) -> Option<i32> {
    to_darwin(ERRNO, i64::from(linux)).map(|d| d as i32)
}

// ---------------------------------------------------------------------------------------
// open / fcntl / AT_*

rows! {
    /// open(2) flags with a Darwin counterpart (O_RDONLY, O_WRONLY, O_RDWR are 0, 1, 2 on
    /// both). O_SYNC is Linux's __O_SYNC|O_DSYNC; it is matched before O_DSYNC.
    OPEN_FLAGS {
        O_WRONLY = 0x1 => O_WRONLY = 0x1,
        O_RDWR = 0x2 => O_RDWR = 0x2,
        O_SYNC = 0x10_1000 => O_SYNC = 0x80,
        O_CREAT = 0x40 => O_CREAT = 0x200,
        O_EXCL = 0x80 => O_EXCL = 0x800,
        O_NOCTTY = 0x100 => O_NOCTTY = 0x20000,
        O_TRUNC = 0x200 => O_TRUNC = 0x400,
        O_APPEND = 0x400 => O_APPEND = 0x8,
        O_NONBLOCK = 0x800 => O_NONBLOCK = 0x4,
        O_DSYNC = 0x1000 => O_DSYNC = 0x40_0000,
        O_ASYNC = 0x2000 => O_ASYNC = 0x40,
        O_DIRECTORY = 0x1_0000 => O_DIRECTORY = 0x10_0000,
        O_NOFOLLOW = 0x2_0000 => O_NOFOLLOW = 0x100,
        O_CLOEXEC = 0x8_0000 => O_CLOEXEC = 0x100_0000,
    }
}

/// Linux open flags that are hints without a Darwin meaning, dropped: O_LARGEFILE (every
/// file is large on a 64-bit host) and O_NOATIME (Darwin has no per-open atime control).
pub const OPEN_FLAGS_DROPPED: i64 = 0x8000 | 0x4_0000;
/// O_DIRECT: Darwin has only the F_NOCACHE fcntl. Refused with EINVAL, which is what Linux
/// answers on file systems without direct I/O (tmpfs), so programs fall back.
pub const O_DIRECT: i64 = 0x4000;
/// O_PATH: no Darwin equivalent (O_EVTONLY still needs read permission); EINVAL.
pub const O_PATH: i64 = 0x20_0000;
/// O_TMPFILE (with O_DIRECTORY): EOPNOTSUPP, what Linux says where a file system lacks it.
pub const O_TMPFILE: i64 = 0x40_0000 | 0x1_0000;

/// Linux open flags → Darwin's.
pub fn open_flags_to_darwin(linux: i32) -> Result<i32, i32> {
    let l = i64::from(linux as u32);
    if l & 0x40_0000 != 0 {
        return Err(lerr::ENOTSUP);
    }
    if l & (O_DIRECT | O_PATH) != 0 {
        return Err(lerr::EINVAL);
    }
    if l & 3 == 3 {
        return Err(lerr::EINVAL);
    }
    bits_to_darwin(OPEN_FLAGS, l & !OPEN_FLAGS_DROPPED).map(|d| d as i32).map_err(|_| lerr::EINVAL)
}

/// Darwin open flags (F_GETFL) → Linux's; Darwin-internal bits are dropped.
pub fn open_flags_to_linux(darwin: i32) -> i32 {
    // Darwin's O_SYNC comes back as Linux's O_SYNC, which includes O_DSYNC's bit.
    bits_to_linux(OPEN_FLAGS, i64::from(darwin as u32)) as i32
}

/// Linux's and Darwin's AT_FDCWD.
pub const LINUX_AT_FDCWD: i32 = -100;
pub const DARWIN_AT_FDCWD: i32 = -2;
#[cfg(target_os = "macos")]
const _: () = assert!(libc::AT_FDCWD == DARWIN_AT_FDCWD);

rows! {
    /// The *at() flags Darwin shares. AT_EACCESS shares Linux's value with AT_REMOVEDIR
    /// (each call accepts only one of them), hence separate tables per call below.
    AT_FLAGS {
        AT_SYMLINK_NOFOLLOW = 0x100 => AT_SYMLINK_NOFOLLOW = 0x20,
        AT_SYMLINK_FOLLOW = 0x400 => AT_SYMLINK_FOLLOW = 0x40,
    }
}

rows! {
    /// unlinkat's flag.
    AT_REMOVEDIR_ROW {
        AT_REMOVEDIR = 0x200 => AT_REMOVEDIR = 0x80,
    }
}

rows! {
    /// faccessat's flag.
    AT_EACCESS_ROW {
        AT_EACCESS = 0x200 => AT_EACCESS = 0x10,
    }
}

/// Linux AT_EMPTY_PATH: Darwin's *at() calls have no such flag. The server must turn an
/// empty-path call into the fd call (fstat, fchown...) itself; the flag is refused here.
pub const AT_EMPTY_PATH: i64 = 0x1000;

/// Linux *at() flags → Darwin's, for a call that accepts the rows of `tables` and
/// silently drops the Linux bits in `dropped`; anything else is EINVAL.
pub fn at_flags_to_darwin(linux: i32, tables: &[&[Row]], dropped: i64) -> Result<i32, i32> {
    let mut left = i64::from(linux as u32) & !dropped;
    let mut out = 0;
    for r in tables.iter().flat_map(|t| t.iter()) {
        if left & r.linux == r.linux {
            out |= r.darwin;
            left &= !r.linux;
        }
    }
    if left != 0 {
        return Err(lerr::EINVAL);
    }
    Ok(out as i32)
}

/// The AT_SYMLINK_NOFOLLOW row alone (fstatat, utimensat, fchownat, faccessat).
pub const AT_NOFOLLOW: &[Row] = &[AT_FLAGS[0]];
/// The AT_SYMLINK_FOLLOW row alone (linkat).
pub const AT_FOLLOW: &[Row] = &[AT_FLAGS[1]];
/// AT_NO_AUTOMOUNT: dropped where Linux accepts it (stat family).
pub const AT_NO_AUTOMOUNT: i64 = 0x800;
/// The statx sync hints (AT_STATX_FORCE_SYNC, AT_STATX_DONT_SYNC): dropped.
pub const AT_STATX_SYNC: i64 = 0x2000 | 0x4000;

rows! {
    /// lseek whences: SEEK_DATA and SEEK_HOLE are swapped between the two.
    SEEK_WHENCE {
        SEEK_SET = 0 => SEEK_SET = 0,
        SEEK_CUR = 1 => SEEK_CUR = 1,
        SEEK_END = 2 => SEEK_END = 2,
        SEEK_DATA = 3 => SEEK_DATA = 4,
        SEEK_HOLE = 4 => SEEK_HOLE = 3,
    }
}

rows_darwin_checked! {
    /// renameat2 flags → renameatx_np's: RENAME_NOREPLACE is RENAME_EXCL, RENAME_EXCHANGE
    /// is RENAME_SWAP. RENAME_WHITEOUT (overlay file systems) has no counterpart: EINVAL.
    RENAME_FLAGS {
        RENAME_NOREPLACE = 1 => RENAME_EXCL = 4,
        RENAME_EXCHANGE = 2 => RENAME_SWAP = 2,
    }
}

rows! {
    /// UTIME_NOW / UTIME_OMIT in a utimensat `tv_nsec`.
    UTIME_SPECIAL {
        UTIME_NOW = 0x3fff_ffff => UTIME_NOW = -1,
        UTIME_OMIT = 0x3fff_fffe => UTIME_OMIT = -2,
    }
}

rows! {
    /// getrusage's `who`: RUSAGE_THREAD has no Darwin counterpart (EINVAL).
    RUSAGE_WHO {
        RUSAGE_SELF = 0 => RUSAGE_SELF = 0,
        RUSAGE_CHILDREN = -1 => RUSAGE_CHILDREN = -1,
    }
}

rows! {
    /// Scheduling policies (Darwin numbers them differently; SCHED_BATCH and SCHED_IDLE
    /// do not exist there).
    SCHED_POLICY {
        SCHED_OTHER = 0 => SCHED_OTHER = 1,
        SCHED_FIFO = 1 => SCHED_FIFO = 4,
        SCHED_RR = 2 => SCHED_RR = 2,
    }
}

// ---------------------------------------------------------------------------------------
// stat, statx, directory entries

/// The fields of Darwin's `struct stat` (the 64-bit-inode layout every macOS uses), as
/// plain integers, so that the conversion is testable on Linux.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DarwinStat {
    pub dev: i32,
    pub mode: u16,
    pub nlink: u16,
    pub ino: u64,
    pub uid: u32,
    pub gid: u32,
    pub rdev: i32,
    pub atime: (i64, i64),
    pub mtime: (i64, i64),
    pub ctime: (i64, i64),
    pub birthtime: (i64, i64),
    pub size: i64,
    pub blocks: i64,
    pub blksize: i32,
}

/// A Darwin `dev_t` (major in the top 8 bits, minor in the low 24) in Linux's encoding
/// (glibc's `makedev`: minor low 8 bits, major 12 bits, then the rest of each).
pub fn dev_to_linux(darwin: i32) -> u64 {
    let d = darwin as u32;
    let major = u64::from(d >> 24);
    let minor = u64::from(d & 0x00ff_ffff);
    (minor & 0xff) | ((major & 0xfff) << 8) | ((minor & !0xff) << 12) | ((major & !0xfff) << 32)
}

/// File type and permission bits are numbered alike (S_IFMT 0o170000 etc.); Darwin's
/// S_IFWHT (0o160000, union-mount whiteouts) has no Linux type and shows as a character
/// device, as Linux's overlayfs shows whiteouts.
pub fn mode_to_linux(darwin_mode: u16) -> u32 {
    let m = u32::from(darwin_mode);
    if m & 0o170000 == 0o160000 {
        (m & 0o7777) | 0o020000
    } else {
        m
    }
}

pub fn stat_to_linux(st: &DarwinStat) -> LinuxStat {
    LinuxStat {
        st_dev: dev_to_linux(st.dev),
        st_ino: st.ino,
        st_nlink: u64::from(st.nlink),
        st_mode: mode_to_linux(st.mode),
        st_uid: st.uid,
        st_gid: st.gid,
        pad0: 0,
        st_rdev: dev_to_linux(st.rdev),
        st_size: st.size,
        st_blksize: i64::from(st.blksize),
        st_blocks: st.blocks,
        st_atime: st.atime.0,
        st_atime_nsec: st.atime.1,
        st_mtime: st.mtime.0,
        st_mtime_nsec: st.mtime.1,
        st_ctime: st.ctime.0,
        st_ctime_nsec: st.ctime.1,
        unused: [0; 3],
    }
}

/// Linux statx mask bits this conversion fills: the basic stats and the birth time.
pub const STATX_FROM_STAT: u32 = 0x7ff | 0x800;

fn ts(t: (i64, i64)) -> StatxTimestamp {
    StatxTimestamp { tv_sec: t.0, tv_nsec: t.1 as u32, reserved: 0 }
}

/// statx from Darwin's stat: basic stats plus `stx_btime` from `st_birthtime`.
pub fn statx_to_linux(st: &DarwinStat) -> LinuxStatx {
    let rdev = dev_to_linux(st.rdev);
    let dev = dev_to_linux(st.dev);
    // glibc's major()/minor() of a Linux dev_t.
    let major = |d: u64| (((d >> 32) & 0xffff_f000) | ((d >> 8) & 0xfff)) as u32;
    let minor = |d: u64| (((d >> 12) & 0xffff_ff00) | (d & 0xff)) as u32;
    LinuxStatx {
        stx_mask: STATX_FROM_STAT,
        stx_blksize: st.blksize as u32,
        stx_nlink: u32::from(st.nlink),
        stx_uid: st.uid,
        stx_gid: st.gid,
        stx_mode: mode_to_linux(st.mode) as u16,
        stx_ino: st.ino,
        stx_size: st.size as u64,
        stx_blocks: st.blocks as u64,
        stx_atime: ts(st.atime),
        stx_btime: ts(st.birthtime),
        stx_ctime: ts(st.ctime),
        stx_mtime: ts(st.mtime),
        stx_rdev_major: major(rdev),
        stx_rdev_minor: minor(rdev),
        stx_dev_major: major(dev),
        stx_dev_minor: minor(dev),
        ..LinuxStatx::default()
    }
}

/// Darwin's `struct dirent` as getdirentries64 returns it: d_ino u64, d_seekoff u64,
/// d_reclen u16, d_namlen u16, d_type u8, then the name (NUL-terminated).
pub const DARWIN_DIRENT_NAME_OFFSET: usize = 21;
/// Linux's `struct linux_dirent64`: d_ino u64, d_off i64, d_reclen u16, d_type u8, name.
pub const LINUX_DIRENT64_NAME_OFFSET: usize = 19;

/// DT_* values are the same on both (DT_UNKNOWN 0 ... DT_WHT 14).
pub const DT_MAX: u8 = 14;
#[cfg(target_os = "macos")]
const _: () = assert!(libc::DT_DIR == 4 && libc::DT_REG == 8 && libc::DT_LNK == 10 && libc::DT_SOCK == 12);

/// Rewrite Darwin directory records (`src`, as getdirentries64 fills it) into Linux
/// `linux_dirent64` records in `dst`. Returns (bytes written, bytes of `src` consumed);
/// stops at the first record that does not fit (a Linux record is never longer than the
/// Darwin one: 19 vs 21 bytes of header, both padded to 8). Malformed input ends the walk.
pub fn darwin_dirents_to_linux(src: &[u8], dst: &mut [u8]) -> (usize, usize) {
    let (mut r, mut w) = (0usize, 0usize);
    while r + DARWIN_DIRENT_NAME_OFFSET <= src.len() {
        let rec = &src[r..];
        let ino = u64::from_ne_bytes(rec[0..8].try_into().unwrap_or_default());
        let seekoff = u64::from_ne_bytes(rec[8..16].try_into().unwrap_or_default());
        let reclen = usize::from(u16::from_ne_bytes([rec[16], rec[17]]));
        let namlen = usize::from(u16::from_ne_bytes([rec[18], rec[19]]));
        let dtype = rec[20];
        if reclen < DARWIN_DIRENT_NAME_OFFSET + namlen || reclen > rec.len() {
            break;
        }
        let name = &rec[DARWIN_DIRENT_NAME_OFFSET..DARWIN_DIRENT_NAME_OFFSET + namlen];
        let out_len = (LINUX_DIRENT64_NAME_OFFSET + namlen + 1 + 7) & !7;
        if w + out_len > dst.len() {
            break;
        }
        let out = &mut dst[w..w + out_len];
        out.fill(0);
        out[0..8].copy_from_slice(&ino.to_ne_bytes());
        out[8..16].copy_from_slice(&seekoff.to_ne_bytes());
        out[16..18].copy_from_slice(&(out_len as u16).to_ne_bytes());
        out[18] = if dtype <= DT_MAX { dtype } else { 0 };
        out[LINUX_DIRENT64_NAME_OFFSET..LINUX_DIRENT64_NAME_OFFSET + namlen].copy_from_slice(name);
        w += out_len;
        r += reclen;
    }
    (w, r)
}

// ---------------------------------------------------------------------------------------
// signals

rows! {
    /// Signal numbers. SIGSTKFLT, SIGPWR and the real-time signals (32..=64) have no Darwin
    /// counterpart; Darwin's SIGEMT and SIGINFO have no Linux one.
    SIGNALS {
        SIGHUP = 1 => SIGHUP = 1,
        SIGINT = 2 => SIGINT = 2,
        SIGQUIT = 3 => SIGQUIT = 3,
        SIGILL = 4 => SIGILL = 4,
        SIGTRAP = 5 => SIGTRAP = 5,
        SIGABRT = 6 => SIGABRT = 6,
        SIGBUS = 7 => SIGBUS = 10,
        SIGFPE = 8 => SIGFPE = 8,
        SIGKILL = 9 => SIGKILL = 9,
        SIGUSR1 = 10 => SIGUSR1 = 30,
        SIGSEGV = 11 => SIGSEGV = 11,
        SIGUSR2 = 12 => SIGUSR2 = 31,
        SIGPIPE = 13 => SIGPIPE = 13,
        SIGALRM = 14 => SIGALRM = 14,
        SIGTERM = 15 => SIGTERM = 15,
        SIGCHLD = 17 => SIGCHLD = 20,
        SIGCONT = 18 => SIGCONT = 19,
        SIGSTOP = 19 => SIGSTOP = 17,
        SIGTSTP = 20 => SIGTSTP = 18,
        SIGTTIN = 21 => SIGTTIN = 21,
        SIGTTOU = 22 => SIGTTOU = 22,
        SIGURG = 23 => SIGURG = 16,
        SIGXCPU = 24 => SIGXCPU = 24,
        SIGXFSZ = 25 => SIGXFSZ = 25,
        SIGVTALRM = 26 => SIGVTALRM = 26,
        SIGPROF = 27 => SIGPROF = 27,
        SIGWINCH = 28 => SIGWINCH = 28,
        SIGIO = 29 => SIGIO = 23,
        SIGSYS = 31 => SIGSYS = 12,
    }
}

pub fn signal_to_darwin(linux: i32) -> Option<i32> {
    to_darwin(SIGNALS, i64::from(linux)).map(|d| d as i32)
}

pub fn signal_to_linux(darwin: i32) -> Option<i32> {
    to_linux(SIGNALS, i64::from(darwin)).map(|l| l as i32)
}

/// Darwin's si_code as Linux's (see `host::si_code_to_linux`).
pub fn si_code_to_linux(code: i32) -> i32 {
    match code {
        0x10001 => 0,                        // SI_USER
        0x10002..=0x10005 => 0x10001 - code, // SI_QUEUE, SI_TIMER, SI_MESGQ, SI_ASYNCIO
        _ => 0x80,                           // SI_KERNEL
    }
}

rows! {
    /// sigaction flags. SA_RESTORER is dropped (the host installs its own trampolines).
    SIGACTION_FLAGS {
        SA_NOCLDSTOP = 0x1 => SA_NOCLDSTOP = 0x8,
        SA_NOCLDWAIT = 0x2 => SA_NOCLDWAIT = 0x20,
        SA_SIGINFO = 0x4 => SA_SIGINFO = 0x40,
        SA_ONSTACK = 0x0800_0000 => SA_ONSTACK = 0x1,
        SA_RESTART = 0x1000_0000 => SA_RESTART = 0x2,
        SA_NODEFER = 0x4000_0000 => SA_NODEFER = 0x10,
        SA_RESETHAND = 0x8000_0000u32 => SA_RESETHAND = 0x4,
    }
}

pub const SA_RESTORER: i64 = 0x0400_0000;

pub fn sigaction_flags_to_darwin(linux: u64) -> Result<i32, i32> {
    let l = (linux as i64) & 0xffff_ffff & !SA_RESTORER;
    bits_to_darwin(SIGACTION_FLAGS, l).map(|d| d as i32).map_err(|_| lerr::EINVAL)
}

/// A Linux 64-bit signal mask (bit n-1 = signal n) as Darwin's 32-bit `sigset_t`; signals
/// Darwin lacks are left out.
pub fn sigset_to_darwin(linux: u64) -> u32 {
    (1..=64)
        .filter(|s| linux & (1u64 << (s - 1)) != 0)
        .filter_map(signal_to_darwin)
        .fold(0, |m, d| m | (1u32 << (d - 1)))
}

pub fn sigset_to_linux(darwin: u32) -> u64 {
    (1..=32)
        .filter(|s| darwin & (1u32 << (s - 1)) != 0)
        .filter_map(signal_to_linux)
        .fold(0, |m, l| m | (1u64 << (l - 1)))
}

// ---------------------------------------------------------------------------------------
// wait

/// A Darwin wait status in Linux's encoding. Both use the traditional layout (exit code
/// << 8; signal | 0x80 for a core; signal << 8 | 0x7f for a stop) but number the signals
/// differently, and Darwin reports "continued" as a stop by SIGCONT (0x137f) where Linux
/// uses 0xffff.
pub fn wait_status_to_linux(darwin: i32) -> i32 {
    let low = darwin & 0x7f;
    let sig = |d: i32| signal_to_linux(d).unwrap_or(d);
    if low == 0 {
        darwin & 0xff00
    } else if low == 0x7f {
        let stop = (darwin >> 8) & 0xff;
        if stop == 19 {
            0xffff
        } else {
            (sig(stop) << 8) | 0x7f
        }
    } else {
        sig(low) | (darwin & 0x80)
    }
}

rows! {
    /// wait options.
    WAIT_OPTIONS {
        WNOHANG = 1 => WNOHANG = 1,
        WUNTRACED = 2 => WUNTRACED = 2,
        WEXITED = 4 => WEXITED = 4,
        WCONTINUED = 8 => WCONTINUED = 0x10,
        WNOWAIT = 0x0100_0000 => WNOWAIT = 0x20,
    }
}

/// waitpid/waitid options; __WALL, __WCLONE, __WNOTHREAD (Linux threads) are refused.
/// (Linux's WSTOPPED is WUNTRACED, 2, so it is covered.)
pub fn wait_options_to_darwin(linux: i32) -> Result<i32, i32> {
    bits_to_darwin(WAIT_OPTIONS, i64::from(linux as u32)).map(|d| d as i32).map_err(|_| lerr::EINVAL)
}

// ---------------------------------------------------------------------------------------
// rlimits, clocks

rows! {
    /// Resource limits Darwin has. RLIMIT_RSS is an alias of RLIMIT_AS there (5). Linux's
    /// RLIMIT_LOCKS, SIGPENDING, MSGQUEUE, NICE, RTPRIO, RTTIME have no Darwin limit:
    /// EINVAL (the guest answers getrlimit for those itself).
    RLIMIT_RESOURCES {
        RLIMIT_CPU = 0 => RLIMIT_CPU = 0,
        RLIMIT_FSIZE = 1 => RLIMIT_FSIZE = 1,
        RLIMIT_DATA = 2 => RLIMIT_DATA = 2,
        RLIMIT_STACK = 3 => RLIMIT_STACK = 3,
        RLIMIT_CORE = 4 => RLIMIT_CORE = 4,
        RLIMIT_AS = 9 => RLIMIT_AS = 5,
        RLIMIT_RSS = 5 => RLIMIT_RSS = 5,
        RLIMIT_NPROC = 6 => RLIMIT_NPROC = 7,
        RLIMIT_NOFILE = 7 => RLIMIT_NOFILE = 8,
        RLIMIT_MEMLOCK = 8 => RLIMIT_MEMLOCK = 6,
    }
}

/// RLIM_INFINITY: all ones on Linux, 2^63 - 1 on Darwin.
pub const LINUX_RLIM_INFINITY: u64 = u64::MAX;
pub const DARWIN_RLIM_INFINITY: u64 = 0x7fff_ffff_ffff_ffff;
#[cfg(target_os = "macos")]
const _: () = assert!(libc::RLIM_INFINITY == DARWIN_RLIM_INFINITY);

pub fn rlim_to_linux(darwin: u64) -> u64 {
    if darwin >= DARWIN_RLIM_INFINITY {
        LINUX_RLIM_INFINITY
    } else {
        darwin
    }
}

pub fn rlim_to_darwin(linux: u64) -> u64 {
    linux.min(DARWIN_RLIM_INFINITY)
}

rows! {
    /// Clock ids. Linux CLOCK_MONOTONIC stops during sleep, so it is Darwin's
    /// CLOCK_UPTIME_RAW (Darwin's CLOCK_MONOTONIC runs on in sleep: it is Linux's
    /// CLOCK_BOOTTIME). The coarse clocks are the approximate ones. CLOCK_*_ALARM and
    /// CLOCK_TAI have no Darwin counterpart: EINVAL.
    CLOCK_IDS {
        CLOCK_REALTIME = 0 => CLOCK_REALTIME = 0,
        CLOCK_MONOTONIC = 1 => CLOCK_UPTIME_RAW = 8,
        CLOCK_PROCESS_CPUTIME_ID = 2 => CLOCK_PROCESS_CPUTIME_ID = 12,
        CLOCK_THREAD_CPUTIME_ID = 3 => CLOCK_THREAD_CPUTIME_ID = 16,
        CLOCK_MONOTONIC_RAW = 4 => CLOCK_UPTIME_RAW = 8,
        CLOCK_REALTIME_COARSE = 5 => CLOCK_REALTIME = 0,
        CLOCK_MONOTONIC_COARSE = 6 => CLOCK_UPTIME_RAW_APPROX = 9,
        CLOCK_BOOTTIME = 7 => CLOCK_MONOTONIC = 6,
    }
}

pub fn clock_id_to_darwin(linux: i32) -> Result<u32, i32> {
    to_darwin(CLOCK_IDS, i64::from(linux)).map(|d| d as u32).ok_or(lerr::EINVAL)
}

// ---------------------------------------------------------------------------------------
// sockets

rows! {
    /// Address families. AF_NETLINK, AF_PACKET and the rest: EAFNOSUPPORT.
    SOCKET_DOMAINS {
        AF_UNSPEC = 0 => AF_UNSPEC = 0,
        AF_UNIX = 1 => AF_UNIX = 1,
        AF_INET = 2 => AF_INET = 2,
        AF_INET6 = 10 => AF_INET6 = 30,
    }
}

rows! {
    /// Socket types (the low bits of socket()'s type argument).
    SOCKET_TYPES {
        SOCK_STREAM = 1 => SOCK_STREAM = 1,
        SOCK_DGRAM = 2 => SOCK_DGRAM = 2,
        SOCK_RAW = 3 => SOCK_RAW = 3,
        SOCK_SEQPACKET = 5 => SOCK_SEQPACKET = 5,
    }
}

/// socket()'s type flags, which Darwin lacks: the server applies them with fcntl.
pub const SOCK_NONBLOCK: i32 = 0x800;
pub const SOCK_CLOEXEC: i32 = 0x8_0000;

/// A Linux socket type argument: (Darwin type, nonblocking, close-on-exec).
pub fn socket_type_to_darwin(linux: i32) -> Result<(i32, bool, bool), i32> {
    let base = linux & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
    let ty = to_darwin(SOCKET_TYPES, i64::from(base)).ok_or(lerr::EINVAL)? as i32;
    Ok((ty, linux & SOCK_NONBLOCK != 0, linux & SOCK_CLOEXEC != 0))
}

pub fn socket_domain_to_darwin(linux: i32) -> Result<i32, i32> {
    to_darwin(SOCKET_DOMAINS, i64::from(linux)).map(|d| d as i32).ok_or(lerr::EAFNOSUPPORT)
}

rows! {
    /// Socket option levels.
    SOCKOPT_LEVELS {
        SOL_SOCKET = 1 => SOL_SOCKET = 0xffff,
        IPPROTO_IP = 0 => IPPROTO_IP = 0,
        IPPROTO_TCP = 6 => IPPROTO_TCP = 6,
        IPPROTO_UDP = 17 => IPPROTO_UDP = 17,
        IPPROTO_IPV6 = 41 => IPPROTO_IPV6 = 41,
    }
}

rows! {
    /// SOL_SOCKET options. SO_LINGER is Darwin's SO_LINGER_SEC (Darwin's own SO_LINGER
    /// counts clock ticks). SO_PEERCRED (LOCAL_PEERCRED with another struct), SO_PASSCRED,
    /// SO_BINDTODEVICE and the rest: ENOPROTOOPT until sockets emulate them.
    SOL_SOCKET_OPTIONS {
        SO_DEBUG = 1 => SO_DEBUG = 0x1,
        SO_REUSEADDR = 2 => SO_REUSEADDR = 0x4,
        SO_TYPE = 3 => SO_TYPE = 0x1008,
        SO_ERROR = 4 => SO_ERROR = 0x1007,
        SO_DONTROUTE = 5 => SO_DONTROUTE = 0x10,
        SO_BROADCAST = 6 => SO_BROADCAST = 0x20,
        SO_SNDBUF = 7 => SO_SNDBUF = 0x1001,
        SO_RCVBUF = 8 => SO_RCVBUF = 0x1002,
        SO_KEEPALIVE = 9 => SO_KEEPALIVE = 0x8,
        SO_OOBINLINE = 10 => SO_OOBINLINE = 0x100,
        SO_LINGER = 13 => SO_LINGER_SEC = 0x1080,
        SO_REUSEPORT = 15 => SO_REUSEPORT = 0x200,
        SO_RCVLOWAT = 18 => SO_RCVLOWAT = 0x1004,
        SO_SNDLOWAT = 19 => SO_SNDLOWAT = 0x1003,
        SO_RCVTIMEO = 20 => SO_RCVTIMEO = 0x1006,
        SO_SNDTIMEO = 21 => SO_SNDTIMEO = 0x1005,
        SO_ACCEPTCONN = 30 => SO_ACCEPTCONN = 0x2,
    }
}

rows! {
    /// IPPROTO_TCP options (TCP_KEEPIDLE is Darwin's TCP_KEEPALIVE).
    TCP_OPTIONS {
        TCP_NODELAY = 1 => TCP_NODELAY = 1,
        TCP_MAXSEG = 2 => TCP_MAXSEG = 2,
        TCP_KEEPIDLE = 4 => TCP_KEEPALIVE = 0x10,
        TCP_KEEPINTVL = 5 => TCP_KEEPINTVL = 0x101,
        TCP_KEEPCNT = 6 => TCP_KEEPCNT = 0x102,
    }
}

rows! {
    /// IPPROTO_IP and IPPROTO_IPV6 options.
    IP_OPTIONS {
        IP_TOS = 1 => IP_TOS = 3,
        IP_TTL = 2 => IP_TTL = 4,
        IPV6_V6ONLY = 26 => IPV6_V6ONLY = 27,
    }
}

/// (level, option) of a Linux setsockopt/getsockopt as Darwin's.
pub fn sockopt_to_darwin(level: i32, option: i32) -> Result<(i32, i32), i32> {
    let d_level = to_darwin(SOCKOPT_LEVELS, i64::from(level)).ok_or(lerr::ENOPROTOOPT)? as i32;
    let table = match level {
        1 => SOL_SOCKET_OPTIONS,
        6 => TCP_OPTIONS,
        0 | 41 => IP_OPTIONS,
        _ => return Err(lerr::ENOPROTOOPT),
    };
    let d_opt = to_darwin(table, i64::from(option)).ok_or(lerr::ENOPROTOOPT)? as i32;
    Ok((d_level, d_opt))
}

/// Linux `sockaddr_un.sun_path` is 108 bytes, Darwin's 104.
pub const DARWIN_SUN_PATH: usize = 104;

/// A Linux sockaddr (`sa_family` a u16, then the family's fields) as Darwin's (`sa_len`
/// u8, `sa_family` u8, then the same fields). AF_UNIX paths longer than Darwin's 104
/// bytes are ENAMETOOLONG; Linux's abstract socket names (leading NUL) do not exist on
/// Darwin: EINVAL.
pub fn sockaddr_to_darwin(linux: &[u8]) -> Result<Vec<u8>, i32> {
    if linux.len() < 2 {
        return Err(lerr::EINVAL);
    }
    let family = i32::from(u16::from_ne_bytes([linux[0], linux[1]]));
    let d_family = socket_domain_to_darwin(family)?;
    let body = &linux[2..];
    let body: &[u8] = match family {
        1 => {
            if body.first() == Some(&0) {
                return Err(lerr::EINVAL);
            }
            let path_len = body.iter().position(|&b| b == 0).unwrap_or(body.len());
            if path_len >= DARWIN_SUN_PATH {
                return Err(lerr::ENAMETOOLONG);
            }
            &body[..path_len]
        }
        2 if body.len() >= 14 => &body[..14],
        10 if body.len() >= 26 => &body[..26],
        _ => return Err(lerr::EINVAL),
    };
    let mut out = Vec::with_capacity(2 + body.len() + 1);
    out.push(0);
    out.push(d_family as u8);
    out.extend_from_slice(body);
    if family == 1 {
        out.push(0);
    }
    out[0] = out.len() as u8;
    Ok(out)
}

/// A Darwin sockaddr as Linux's (the length byte dropped, the family widened).
pub fn sockaddr_to_linux(darwin: &[u8]) -> Result<Vec<u8>, i32> {
    if darwin.len() < 2 {
        return Err(lerr::EINVAL);
    }
    let family = to_linux(SOCKET_DOMAINS, i64::from(darwin[1])).ok_or(lerr::EAFNOSUPPORT)? as u16;
    let len = usize::from(darwin[0]).clamp(2, darwin.len());
    let mut out = family.to_ne_bytes().to_vec();
    out.extend_from_slice(&darwin[2..len]);
    Ok(out)
}

/// Linux `cmsghdr`: cmsg_len (size_t), level, type; data aligned to 8.
pub const LINUX_CMSG_HDR: usize = 16;
/// Darwin `cmsghdr`: cmsg_len (socklen_t), level, type; data aligned to 4.
pub const DARWIN_CMSG_HDR: usize = 12;
/// SCM_RIGHTS is 1 on both.
pub const SCM_RIGHTS: i32 = 1;
#[cfg(target_os = "macos")]
const _: () = assert!(libc::SCM_RIGHTS == SCM_RIGHTS && libc::SOL_SOCKET == 0xffff);

/// Linux control messages → Darwin's. Only SOL_SOCKET/SCM_RIGHTS (descriptor passing)
/// translates; SCM_CREDENTIALS (Darwin's SCM_CREDS has another struct and semantics) and
/// anything else: EINVAL.
pub fn cmsgs_to_darwin(linux: &[u8]) -> Result<Vec<u8>, i32> {
    let mut out = Vec::new();
    let mut r = 0;
    while r + LINUX_CMSG_HDR <= linux.len() {
        let len = u64::from_ne_bytes(linux[r..r + 8].try_into().map_err(|_| lerr::EINVAL)?) as usize;
        let level = i32::from_ne_bytes(linux[r + 8..r + 12].try_into().map_err(|_| lerr::EINVAL)?);
        let ty = i32::from_ne_bytes(linux[r + 12..r + 16].try_into().map_err(|_| lerr::EINVAL)?);
        if len < LINUX_CMSG_HDR || r + len > linux.len() {
            return Err(lerr::EINVAL);
        }
        if level != 1 || ty != SCM_RIGHTS {
            return Err(lerr::EINVAL);
        }
        let data = &linux[r + LINUX_CMSG_HDR..r + len];
        let d_len = DARWIN_CMSG_HDR + data.len();
        out.extend_from_slice(&(d_len as u32).to_ne_bytes());
        out.extend_from_slice(&0xffffi32.to_ne_bytes());
        out.extend_from_slice(&SCM_RIGHTS.to_ne_bytes());
        out.extend_from_slice(data);
        out.resize((out.len() + 3) & !3, 0);
        r += (len + 7) & !7;
    }
    Ok(out)
}

/// Darwin control messages → Linux's (SCM_RIGHTS and SCM_TIMESTAMP; others are dropped,
/// as Linux drops what the receiver did not ask for).
pub fn cmsgs_to_linux(darwin: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut r = 0;
    while r + DARWIN_CMSG_HDR <= darwin.len() {
        let word = |o: usize| i32::from_ne_bytes([darwin[o], darwin[o + 1], darwin[o + 2], darwin[o + 3]]);
        let len = word(r) as u32 as usize;
        let (level, ty) = (word(r + 4), word(r + 8));
        if len < DARWIN_CMSG_HDR || r + len > darwin.len() {
            break;
        }
        let linux_type = match (level, ty) {
            (0xffff, 1) => Some(SCM_RIGHTS),
            (0xffff, 2) => Some(29), // SCM_TIMESTAMP (SO_TIMESTAMP)
            _ => None,
        };
        if let Some(t) = linux_type {
            let data = &darwin[r + DARWIN_CMSG_HDR..r + len];
            out.extend_from_slice(&((LINUX_CMSG_HDR + data.len()) as u64).to_ne_bytes());
            out.extend_from_slice(&1i32.to_ne_bytes());
            out.extend_from_slice(&t.to_ne_bytes());
            out.extend_from_slice(data);
            out.resize((out.len() + 7) & !7, 0);
        }
        r += (len + 3) & !3;
    }
    out
}

rows! {
    /// send/recv MSG_* flags (also msg_flags on return). Linux's MSG_CMSG_CLOEXEC has no
    /// Darwin flag (the server sets FD_CLOEXEC on received descriptors) and MSG_MORE none
    /// either (dropped: the data goes out at once, which only costs a packet).
    MSG_FLAGS {
        MSG_OOB = 0x1 => MSG_OOB = 0x1,
        MSG_PEEK = 0x2 => MSG_PEEK = 0x2,
        MSG_DONTROUTE = 0x4 => MSG_DONTROUTE = 0x4,
        MSG_CTRUNC = 0x8 => MSG_CTRUNC = 0x20,
        MSG_TRUNC = 0x20 => MSG_TRUNC = 0x10,
        MSG_DONTWAIT = 0x40 => MSG_DONTWAIT = 0x80,
        MSG_EOR = 0x80 => MSG_EOR = 0x8,
        MSG_WAITALL = 0x100 => MSG_WAITALL = 0x40,
        MSG_NOSIGNAL = 0x4000 => MSG_NOSIGNAL = 0x80000,
    }
}

/// Linux flags without a Darwin counterpart that the personality handles itself.
pub const MSG_MORE: i32 = 0x8000;
pub const MSG_CMSG_CLOEXEC: i32 = 0x4000_0000;

/// Linux MSG_* flags as Darwin's, and whether received descriptors must be made
/// close-on-exec by hand. Any other flag: EOPNOTSUPP, as Linux says for a flag a socket
/// does not support.
pub fn msg_flags_to_darwin(linux: i32) -> Result<(i32, bool), i32> {
    let cloexec = linux & MSG_CMSG_CLOEXEC != 0;
    let rest = linux & !(MSG_CMSG_CLOEXEC | MSG_MORE);
    let flags = bits_to_darwin(MSG_FLAGS, i64::from(rest)).map_err(|_| lerr::ENOTSUP)?;
    Ok((flags as i32, cloexec))
}

pub fn msg_flags_to_linux(darwin: i32) -> i32 {
    bits_to_linux(MSG_FLAGS, i64::from(darwin)) as i32
}

// ---------------------------------------------------------------------------------------
// terminals

/// Darwin's `struct termios`: tcflag_t is 64-bit, 20 control characters, and the speeds
/// are separate fields holding the baud rate itself.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DarwinTermios {
    pub c_iflag: u64,
    pub c_oflag: u64,
    pub c_cflag: u64,
    pub c_lflag: u64,
    pub c_cc: [u8; 20],
    pub c_ispeed: u64,
    pub c_ospeed: u64,
}

rows! {
    /// c_iflag (IUCLC has no Darwin counterpart and is refused by `termios_to_darwin`).
    TERMIOS_IFLAG {
        IGNBRK = 0x1 => IGNBRK = 0x1,
        BRKINT = 0x2 => BRKINT = 0x2,
        IGNPAR = 0x4 => IGNPAR = 0x4,
        PARMRK = 0x8 => PARMRK = 0x8,
        INPCK = 0x10 => INPCK = 0x10,
        ISTRIP = 0x20 => ISTRIP = 0x20,
        INLCR = 0x40 => INLCR = 0x40,
        IGNCR = 0x80 => IGNCR = 0x80,
        ICRNL = 0x100 => ICRNL = 0x100,
        IXON = 0x400 => IXON = 0x200,
        IXANY = 0x800 => IXANY = 0x800,
        IXOFF = 0x1000 => IXOFF = 0x400,
        IMAXBEL = 0x2000 => IMAXBEL = 0x2000,
        IUTF8 = 0x4000 => IUTF8 = 0x4000,
    }
}

rows! {
    /// c_oflag single bits; the delay fields are `TERMIOS_ODELAY`. OLCUC: none on Darwin.
    TERMIOS_OFLAG {
        OPOST = 0x1 => OPOST = 0x1,
        ONLCR = 0x4 => ONLCR = 0x2,
        OCRNL = 0x8 => OCRNL = 0x10,
        ONOCR = 0x10 => ONOCR = 0x20,
        ONLRET = 0x20 => ONLRET = 0x40,
        OFILL = 0x40 => OFILL = 0x80,
        OFDEL = 0x80 => OFDEL = 0x20000,
        NL1 = 0x100 => NL1 = 0x100,
        CR1 = 0x200 => CR1 = 0x1000,
        CR2 = 0x400 => CR2 = 0x2000,
        TAB1 = 0x800 => TAB1 = 0x400,
        TAB2 = 0x1000 => TAB2 = 0x800,
        BS1 = 0x2000 => BS1 = 0x8000,
        VT1 = 0x4000 => VT1 = 0x10000,
        FF1 = 0x8000 => FF1 = 0x4000,
    }
}

/// Linux CR3 (0x600) and TAB3/XTABS (0x1800) are both bits of their field; they are
/// matched before the single bits.
pub const TERMIOS_ODELAY: &[(u64, u64)] = &[(0x600, 0x3000), (0x1800, 0x4)];

rows! {
    /// c_cflag bits besides the character size (Linux 0x30 → Darwin 0x300) and the speeds.
    TERMIOS_CFLAG {
        CSTOPB = 0x40 => CSTOPB = 0x400,
        CREAD = 0x80 => CREAD = 0x800,
        PARENB = 0x100 => PARENB = 0x1000,
        PARODD = 0x200 => PARODD = 0x2000,
        HUPCL = 0x400 => HUPCL = 0x4000,
        CLOCAL = 0x800 => CLOCAL = 0x8000,
        CRTSCTS = 0x8000_0000u32 => CRTSCTS = 0x30000,
    }
}

rows! {
    /// c_lflag (XCASE: none on Darwin).
    TERMIOS_LFLAG {
        ISIG = 0x1 => ISIG = 0x80,
        ICANON = 0x2 => ICANON = 0x100,
        ECHO = 0x8 => ECHO = 0x8,
        ECHOE = 0x10 => ECHOE = 0x2,
        ECHOK = 0x20 => ECHOK = 0x4,
        ECHONL = 0x40 => ECHONL = 0x10,
        NOFLSH = 0x80 => NOFLSH = 0x8000_0000u32,
        TOSTOP = 0x100 => TOSTOP = 0x40_0000,
        ECHOCTL = 0x200 => ECHOCTL = 0x40,
        ECHOPRT = 0x400 => ECHOPRT = 0x20,
        ECHOKE = 0x800 => ECHOKE = 0x1,
        FLUSHO = 0x1000 => FLUSHO = 0x80_0000,
        PENDIN = 0x4000 => PENDIN = 0x2000_0000,
        IEXTEN = 0x8000 => IEXTEN = 0x400,
        EXTPROC = 0x1_0000 => EXTPROC = 0x800,
    }
}

rows! {
    /// Control-character indexes into c_cc (VSWTC has no Darwin slot).
    TERMIOS_CC {
        VINTR = 0 => VINTR = 8,
        VQUIT = 1 => VQUIT = 9,
        VERASE = 2 => VERASE = 3,
        VKILL = 3 => VKILL = 5,
        VEOF = 4 => VEOF = 0,
        VTIME = 5 => VTIME = 17,
        VMIN = 6 => VMIN = 16,
        VSTART = 8 => VSTART = 12,
        VSTOP = 9 => VSTOP = 13,
        VSUSP = 10 => VSUSP = 10,
        VEOL = 11 => VEOL = 1,
        VREPRINT = 12 => VREPRINT = 6,
        VDISCARD = 13 => VDISCARD = 15,
        VWERASE = 14 => VWERASE = 4,
        VLNEXT = 15 => VLNEXT = 14,
        VEOL2 = 16 => VEOL2 = 2,
    }
}

/// A disabled control character: 0 on Linux, 0xff on Darwin (_POSIX_VDISABLE).
pub const LINUX_VDISABLE: u8 = 0;
pub const DARWIN_VDISABLE: u8 = 0xff;

rows! {
    /// Baud rates: Linux's Bxxx codes (in CBAUD of c_cflag) and Darwin's numeric speeds.
    TERMIOS_SPEEDS {
        B0 = 0 => B0 = 0,
        B50 = 1 => B50 = 50,
        B75 = 2 => B75 = 75,
        B110 = 3 => B110 = 110,
        B134 = 4 => B134 = 134,
        B150 = 5 => B150 = 150,
        B200 = 6 => B200 = 200,
        B300 = 7 => B300 = 300,
        B600 = 8 => B600 = 600,
        B1200 = 9 => B1200 = 1200,
        B1800 = 10 => B1800 = 1800,
        B2400 = 11 => B2400 = 2400,
        B4800 = 12 => B4800 = 4800,
        B9600 = 13 => B9600 = 9600,
        B19200 = 14 => B19200 = 19200,
        B38400 = 15 => B38400 = 38400,
        B57600 = 0x1001 => B57600 = 57600,
        B115200 = 0x1002 => B115200 = 115200,
        B230400 = 0x1003 => B230400 = 230400,
    }
}

const CBAUD: u32 = 0x100f;
const CIBAUD_SHIFT: u32 = 16;

/// Darwin's termios as the Linux kernel's (TCGETS ↔ TIOCGETA).
pub fn termios_to_linux(t: &DarwinTermios) -> LinuxTermios {
    let mut oflag = 0u64;
    let mut o = t.c_oflag;
    for &(l, d) in TERMIOS_ODELAY {
        if o & d == d {
            oflag |= l;
            o &= !d;
        }
    }
    oflag |= bits_to_linux(TERMIOS_OFLAG, o as i64) as u64;
    let speed = |s: u64| to_linux(TERMIOS_SPEEDS, s as i64).unwrap_or(15) as u32; // B38400
    let csize = ((t.c_cflag >> 4) & 0x30) as u32;
    let cflag = bits_to_linux(TERMIOS_CFLAG, t.c_cflag as i64) as u32
        | csize
        | speed(t.c_ospeed)
        | (speed(t.c_ispeed) << CIBAUD_SHIFT);
    let mut c_cc = [LINUX_VDISABLE; 19];
    for r in TERMIOS_CC {
        let c = t.c_cc[r.darwin as usize];
        c_cc[r.linux as usize] = match (r.linux, c) {
            // VMIN and VTIME are counts, not characters.
            (5 | 6, c) => c,
            (_, DARWIN_VDISABLE) => LINUX_VDISABLE,
            (_, c) => c,
        };
    }
    LinuxTermios {
        c_iflag: bits_to_linux(TERMIOS_IFLAG, t.c_iflag as i64) as u32,
        c_oflag: oflag as u32,
        c_cflag: cflag,
        c_lflag: bits_to_linux(TERMIOS_LFLAG, t.c_lflag as i64) as u32,
        c_line: 0,
        c_cc,
    }
}

/// The Linux kernel's termios as Darwin's (TCSETS ↔ TIOCSETA). Flags Darwin cannot
/// express (IUCLC, OLCUC, XCASE, an unknown speed) are EINVAL.
pub fn termios_to_darwin(t: &LinuxTermios) -> Result<DarwinTermios, i32> {
    let e = |_| lerr::EINVAL;
    let mut o = i64::from(t.c_oflag);
    let mut oflag = 0u64;
    for &(l, d) in TERMIOS_ODELAY {
        if o as u64 & l == l {
            oflag |= d;
            o &= !(l as i64);
        }
    }
    oflag |= bits_to_darwin(TERMIOS_OFLAG, o).map_err(e)? as u64;
    let cflag = i64::from(t.c_cflag);
    let speed = |code: u32| to_darwin(TERMIOS_SPEEDS, i64::from(code)).map(|s| s as u64).ok_or(lerr::EINVAL);
    let ospeed = speed(t.c_cflag & CBAUD)?;
    let ispeed = match (t.c_cflag >> CIBAUD_SHIFT) & CBAUD {
        0 => ospeed,
        code => speed(code)?,
    };
    let other = cflag & !(i64::from(CBAUD) | (i64::from(CBAUD) << CIBAUD_SHIFT) | 0x30);
    let mut cc = [DARWIN_VDISABLE; 20];
    for r in TERMIOS_CC {
        let c = t.c_cc[r.linux as usize];
        cc[r.darwin as usize] = match (r.linux, c) {
            (5 | 6, c) => c,
            (_, LINUX_VDISABLE) => DARWIN_VDISABLE,
            (_, c) => c,
        };
    }
    Ok(DarwinTermios {
        c_iflag: bits_to_darwin(TERMIOS_IFLAG, i64::from(t.c_iflag)).map_err(e)? as u64,
        c_oflag: oflag,
        c_cflag: bits_to_darwin(TERMIOS_CFLAG, other).map_err(e)? as u64 | ((cflag as u64 & 0x30) << 4),
        c_lflag: bits_to_darwin(TERMIOS_LFLAG, i64::from(t.c_lflag)).map_err(e)? as u64,
        c_cc: cc,
        c_ispeed: ispeed,
        c_ospeed: ospeed,
    })
}

rows_darwin_checked! {
    /// Terminal ioctls: Linux's request numbers and Darwin's. The termios ones carry the
    /// struct conversion above; TIOCGWINSZ/TIOCSWINSZ's `struct winsize` is the same.
    TERMINAL_IOCTLS {
        TCGETS = 0x5401 => TIOCGETA = 0x4048_7413u32,
        TCSETS = 0x5402 => TIOCSETA = 0x8048_7414u32,
        TCSETSW = 0x5403 => TIOCSETAW = 0x8048_7415u32,
        TCSETSF = 0x5404 => TIOCSETAF = 0x8048_7416u32,
        TIOCSCTTY = 0x540e => TIOCSCTTY = 0x2000_7461u32,
        TIOCGPGRP = 0x540f => TIOCGPGRP = 0x4004_7477u32,
        TIOCSPGRP = 0x5410 => TIOCSPGRP = 0x8004_7476u32,
        TIOCOUTQ = 0x5411 => TIOCOUTQ = 0x4004_7473u32,
        TIOCGWINSZ = 0x5413 => TIOCGWINSZ = 0x4008_7468u32,
        TIOCSWINSZ = 0x5414 => TIOCSWINSZ = 0x8008_7467u32,
        FIONREAD = 0x541b => FIONREAD = 0x4004_667fu32,
        FIONBIO = 0x5421 => FIONBIO = 0x8004_667eu32,
        TIOCNOTTY = 0x5422 => TIOCNOTTY = 0x2000_7471u32,
    }
}

pub fn ioctl_to_darwin(linux: u32) -> Result<u64, i32> {
    to_darwin(TERMINAL_IOCTLS, i64::from(linux)).map(|d| d as u64).ok_or(lerr::EINVAL)
}

// ---------------------------------------------------------------------------------------
// poll, mmap, madvise

rows! {
    /// poll(2) events. POLLWRNORM is POLLOUT on Darwin (same meaning); POLLWRBAND has its
    /// own number. Linux's POLLMSG and POLLRDHUP have no Darwin counterpart: dropped from
    /// requests (never reported).
    POLL_EVENTS {
        POLLIN = 0x1 => POLLIN = 0x1,
        POLLPRI = 0x2 => POLLPRI = 0x2,
        POLLOUT = 0x4 => POLLOUT = 0x4,
        POLLERR = 0x8 => POLLERR = 0x8,
        POLLHUP = 0x10 => POLLHUP = 0x10,
        POLLNVAL = 0x20 => POLLNVAL = 0x20,
        POLLRDNORM = 0x40 => POLLRDNORM = 0x40,
        POLLRDBAND = 0x80 => POLLRDBAND = 0x80,
        POLLWRNORM = 0x100 => POLLWRNORM = 0x4,
        POLLWRBAND = 0x200 => POLLWRBAND = 0x100,
    }
}

pub const POLL_DROPPED: i64 = 0x400 | 0x2000;

pub fn poll_events_to_darwin(linux: i16) -> Result<i16, i32> {
    bits_to_darwin(POLL_EVENTS, i64::from(linux as u16) & !POLL_DROPPED).map(|d| d as i16).map_err(|_| lerr::EINVAL)
}

pub fn poll_events_to_linux(darwin: i16) -> i16 {
    // POLLOUT and POLLWRNORM share Darwin's bit: report both, as Linux does for a writable fd.
    bits_to_linux(POLL_EVENTS, i64::from(darwin as u16)) as i16
}

rows! {
    /// mmap flags with a Darwin counterpart.
    MMAP_FLAGS {
        MAP_SHARED = 0x1 => MAP_SHARED = 0x1,
        MAP_PRIVATE = 0x2 => MAP_PRIVATE = 0x2,
        MAP_FIXED = 0x10 => MAP_FIXED = 0x10,
        MAP_ANONYMOUS = 0x20 => MAP_ANON = 0x1000,
        MAP_NORESERVE = 0x4000 => MAP_NORESERVE = 0x40,
    }
}

/// Hints Darwin does without: MAP_DENYWRITE, MAP_EXECUTABLE (ignored by Linux too),
/// MAP_LOCKED, MAP_POPULATE, MAP_NONBLOCK, MAP_STACK.
pub const MMAP_DROPPED: i64 = 0x800 | 0x1000 | 0x2000 | 0x8000 | 0x1_0000 | 0x2_0000;

/// mmap flags. MAP_GROWSDOWN, MAP_32BIT, MAP_HUGETLB, MAP_SYNC, MAP_FIXED_NOREPLACE
/// (which needs emulation: map without MAP_FIXED and compare) and unknown bits: EINVAL.
/// MAP_SHARED_VALIDATE (3) is MAP_SHARED after the validation done here.
pub fn mmap_flags_to_darwin(linux: i32) -> Result<i32, i32> {
    let mut l = i64::from(linux as u32) & !MMAP_DROPPED;
    if l & 3 == 3 {
        l &= !2;
    }
    if l & 3 == 0 {
        return Err(lerr::EINVAL);
    }
    bits_to_darwin(MMAP_FLAGS, l).map(|d| d as i32).map_err(|_| lerr::EINVAL)
}

rows! {
    /// madvise advice with a Darwin counterpart. MADV_DONTNEED has Darwin's number but not
    /// Linux's zero-fill-on-next-touch meaning for private anonymous memory: a caller that
    /// relies on it must remap instead. MADV_FREE is Darwin's MADV_FREE.
    MADVISE {
        MADV_NORMAL = 0 => MADV_NORMAL = 0,
        MADV_RANDOM = 1 => MADV_RANDOM = 1,
        MADV_SEQUENTIAL = 2 => MADV_SEQUENTIAL = 2,
        MADV_WILLNEED = 3 => MADV_WILLNEED = 3,
        MADV_DONTNEED = 4 => MADV_DONTNEED = 4,
        MADV_FREE = 8 => MADV_FREE = 5,
    }
}

/// Linux advice that only tunes Linux's own machinery (MADV_REMOVE 9, DONTFORK 10,
/// DOFORK 11, MERGEABLE 12, UNMERGEABLE 13, HUGEPAGE 14, NOHUGEPAGE 15, DONTDUMP 16,
/// DODUMP 17, WIPEONFORK 18, KEEPONFORK 19, COLD 20, PAGEOUT 21): nothing to do on the
/// host (`Ok(None)`).
pub const MADVISE_NOOP: std::ops::RangeInclusive<i32> = 9..=21;

pub fn madvise_to_darwin(linux: i32) -> Result<Option<i32>, i32> {
    if MADVISE_NOOP.contains(&linux) {
        return Ok(None);
    }
    to_darwin(MADVISE, i64::from(linux)).map(|d| Some(d as i32)).ok_or(lerr::EINVAL)
}

// ---------------------------------------------------------------------------------------
// epoll on kqueue
//
// Design (implemented by host/event_emul.rs, the rules, and sys/darwin_events.rs, the
// kqueue calls; docs/macos.md "Event loops on kqueue"): an epoll instance is a kqueue. Each
// registered fd becomes up to two kevents keyed by the fd, EVFILT_READ for
// EPOLLIN/EPOLLPRI/EPOLLRDHUP and EVFILT_WRITE for EPOLLOUT; the epoll_event's 64-bit data
// is kept in the monitor's interest list, since epoll reports one record per fd (the two
// filters' results are merged by fd on epoll_wait). EPOLLET is EV_CLEAR, EPOLLONESHOT is
// EV_DISPATCH (EPOLL_CTL_MOD deletes and re-adds the filters, which re-arms), EPOLL_CTL_DEL
// is EV_DELETE. EV_EOF becomes EPOLLRDHUP on a socket's read side, EPOLLHUP on a pipe's,
// EPOLLERR on a pipe's write end; EV_ERROR and a socket error become EPOLLERR.
// EPOLLEXCLUSIVE and EPOLLWAKEUP have no kqueue meaning and are dropped. kqueue
// descriptors are not inherited across fork (the child's epoll fds are rebuilt from the
// interest lists), and epoll on an epoll fd works through the nested kqueue's own
// readability. These constants are Linux's.

pub const EPOLLIN: u32 = 0x1;
pub const EPOLLPRI: u32 = 0x2;
pub const EPOLLOUT: u32 = 0x4;
pub const EPOLLERR: u32 = 0x8;
pub const EPOLLHUP: u32 = 0x10;
pub const EPOLLRDHUP: u32 = 0x2000;
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
pub const EPOLLWAKEUP: u32 = 1 << 29;
pub const EPOLLONESHOT: u32 = 1 << 30;
pub const EPOLLET: u32 = 1 << 31;
pub const EPOLL_CTL_ADD: i32 = 1;
pub const EPOLL_CTL_DEL: i32 = 2;
pub const EPOLL_CTL_MOD: i32 = 3;

/// kqueue constants used by the translation (checked against libc on macOS).
pub mod kq {
    pub const EVFILT_READ: i16 = -1;
    pub const EVFILT_WRITE: i16 = -2;
    pub const EV_ADD: u16 = 0x1;
    pub const EV_DELETE: u16 = 0x2;
    pub const EV_ENABLE: u16 = 0x4;
    pub const EV_DISABLE: u16 = 0x8;
    pub const EV_CLEAR: u16 = 0x20;
    pub const EV_DISPATCH: u16 = 0x80;
    pub const EV_ERROR: u16 = 0x4000;
    pub const EV_EOF: u16 = 0x8000;
}
#[cfg(target_os = "macos")]
const _: () = assert!(
    libc::EVFILT_READ == kq::EVFILT_READ
        && libc::EVFILT_WRITE == kq::EVFILT_WRITE
        && libc::EV_ADD == kq::EV_ADD
        && libc::EV_DELETE == kq::EV_DELETE
        && libc::EV_ENABLE == kq::EV_ENABLE
        && libc::EV_DISABLE == kq::EV_DISABLE
        && libc::EV_CLEAR == kq::EV_CLEAR
        && libc::EV_DISPATCH == kq::EV_DISPATCH
        && libc::EV_ERROR == kq::EV_ERROR
        && libc::EV_EOF == kq::EV_EOF
);

// ---------------------------------------------------------------------------------------
// uname

/// Linux's `struct utsname`: six 65-byte fields.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LinuxUtsname {
    pub sysname: [u8; 65],
    pub nodename: [u8; 65],
    pub release: [u8; 65],
    pub version: [u8; 65],
    pub machine: [u8; 65],
    pub domainname: [u8; 65],
}

/// The kernel release linuxrun reports on a Darwin host (recent enough for every glibc
/// and musl check; a program that asks gets a Linux, not Darwin's "23.x").
pub const UNAME_RELEASE: &str = "6.1.0-linuxrun";
pub const UNAME_VERSION: &str = "#1 SMP PREEMPT_DYNAMIC linuxrun on Darwin";

fn field(s: &str) -> [u8; 65] {
    let mut f = [0u8; 65];
    let b = s.as_bytes();
    let n = b.len().min(64);
    f[..n].copy_from_slice(&b[..n]);
    f
}

/// A Linux uname for a Darwin host named `hostname` (truncated to 64 bytes, as Linux
/// truncates to __NEW_UTS_LEN).
pub fn synthesized_uname(hostname: &str) -> LinuxUtsname {
    LinuxUtsname {
        sysname: field("Linux"),
        nodename: field(hostname),
        release: field(UNAME_RELEASE),
        version: field(UNAME_VERSION),
        machine: field("x86_64"),
        domainname: field("(none)"),
    }
}

// ---------------------------------------------------------------------------------------
// statfs, xattrs, fallocate, fadvise, memfd (the calls of server/fs/extra.rs)

/// Linux file system magic numbers (`f_type`), from Linux's include/uapi/linux/magic.h.
pub mod fs_magic {
    pub const EXT4: i64 = 0xef53;
    pub const TMPFS: i64 = 0x0102_1994;
    pub const NFS: i64 = 0x6969;
    pub const MSDOS: i64 = 0x4d44;
    pub const EXFAT: i64 = 0x2011_bab0;
    pub const HFSPLUS: i64 = 0x482b;
    pub const ISOFS: i64 = 0x9660;
    pub const UDF: i64 = 0x1501_3346;
    pub const SMB2: i64 = 0xfe53_4d42;
    pub const FUSE: i64 = 0x6573_5546;
    pub const AUTOFS: i64 = 0x0187;
    pub const NTFS: i64 = 0x5346_544e;
}

/// Darwin file system type names (`f_fstypename`) and the Linux magic that stands for each.
/// APFS, which Linux cannot mount, reads as ext4: both are local journaling file systems
/// with POSIX semantics, and programs only special-case f_type for network, memory or
/// copy-on-write file systems, which APFS must not be taken for. devfs reads as tmpfs (what
/// Linux's devtmpfs reports). A name not listed here reads as ext4 too.
pub const FS_TYPE_NAMES: &[(&str, i64)] = &[
    ("apfs", fs_magic::EXT4),
    ("hfs", fs_magic::HFSPLUS),
    ("msdos", fs_magic::MSDOS),
    ("exfat", fs_magic::EXFAT),
    ("nfs", fs_magic::NFS),
    ("smbfs", fs_magic::SMB2),
    ("cd9660", fs_magic::ISOFS),
    ("udf", fs_magic::UDF),
    ("tmpfs", fs_magic::TMPFS),
    ("devfs", fs_magic::TMPFS),
    ("autofs", fs_magic::AUTOFS),
    ("ntfs", fs_magic::NTFS),
    ("macfuse", fs_magic::FUSE),
    ("osxfuse", fs_magic::FUSE),
    ("fuse", fs_magic::FUSE),
];

/// The Linux magic for a Darwin `f_fstypename` (NUL-padded bytes).
pub fn fs_type_to_linux(fstypename: &[u8]) -> i64 {
    let end = fstypename.iter().position(|&b| b == 0).unwrap_or(fstypename.len());
    let name = &fstypename[..end];
    FS_TYPE_NAMES.iter().find(|(n, _)| n.as_bytes() == name).map_or(fs_magic::EXT4, |&(_, magic)| magic)
}

rows! {
    /// Mount flags in statfs's f_flags: Linux ST_* from Darwin MNT_*.
    STATFS_FLAGS {
        ST_RDONLY = 0x1 => MNT_RDONLY = 0x1,
        ST_NOSUID = 0x2 => MNT_NOSUID = 0x8,
        ST_NODEV = 0x4 => MNT_NODEV = 0x10,
        ST_NOEXEC = 0x8 => MNT_NOEXEC = 0x4,
        ST_SYNCHRONOUS = 0x10 => MNT_SYNCHRONOUS = 0x2,
        ST_NOATIME = 0x400 => MNT_NOATIME = 0x1000_0000,
    }
}

/// ST_VALID: Linux sets it in every statfs answer (f_flags is meaningful).
pub const ST_VALID: i64 = 0x20;
/// NAME_MAX of the Darwin file systems (APFS, HFS+): statfs has no field for it there.
pub const DARWIN_NAME_MAX: i64 = 255;

/// The fields of Darwin's `struct statfs` the conversion uses, as plain integers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DarwinStatfs {
    pub bsize: u32,
    pub blocks: u64,
    pub bfree: u64,
    pub bavail: u64,
    pub files: u64,
    pub ffree: u64,
    pub fsid: [i32; 2],
    pub flags: u32,
    pub fstypename: [u8; 16],
}

/// Linux's statfs from Darwin's. Darwin counts blocks in `f_bsize` (its `f_iosize` is the
/// transfer size), so that is Linux's f_bsize and f_frsize alike and the sizes agree.
pub fn statfs_to_linux(st: &DarwinStatfs) -> abi_shared::linux::LinuxStatfs {
    abi_shared::linux::LinuxStatfs {
        f_type: fs_type_to_linux(&st.fstypename),
        f_bsize: i64::from(st.bsize),
        f_blocks: st.blocks,
        f_bfree: st.bfree,
        f_bavail: st.bavail,
        f_files: st.files,
        f_ffree: st.ffree,
        f_fsid: st.fsid,
        f_namelen: DARWIN_NAME_MAX,
        f_frsize: i64::from(st.bsize),
        f_flags: bits_to_linux(STATFS_FLAGS, i64::from(st.flags)) | ST_VALID,
        f_spare: [0; 4],
    }
}

rows! {
    /// setxattr's flags as the options of Darwin's setxattr.
    XATTR_FLAGS {
        XATTR_CREATE = 0x1 => XATTR_CREATE = 0x2,
        XATTR_REPLACE = 0x2 => XATTR_REPLACE = 0x4,
    }
}

/// Darwin's XATTR_NOFOLLOW option: the l*xattr calls.
pub const XATTR_NOFOLLOW: i32 = 0x1;
#[cfg(target_os = "macos")]
const _: () = assert!(libc::XATTR_NOFOLLOW == XATTR_NOFOLLOW);

/// Darwin xattr options for a Linux call: its flags (setxattr's; 0 for the others) and
/// XATTR_NOFOLLOW unless the path's final symlink is followed.
pub fn xattr_options_to_darwin(linux_flags: i32, follow: bool) -> Result<i32, i32> {
    let flags = bits_to_darwin(XATTR_FLAGS, i64::from(linux_flags)).map_err(|_| lerr::EINVAL)? as i32;
    Ok(if follow { flags } else { flags | XATTR_NOFOLLOW })
}

/// The Linux namespace Darwin's attributes live in: Darwin names have no namespaces, so a
/// Linux "user.NAME" is the Darwin "NAME", and every Darwin name lists as "user.NAME".
pub const XATTR_USER_PREFIX: &[u8] = b"user.";

/// The Darwin name of a Linux xattr name: only the user namespace exists there. "user."
/// alone is EINVAL; the other namespaces Linux knows (trusted, security, system) and
/// unknown prefixes are EOPNOTSUPP, as on a Linux file system without them.
pub fn xattr_name_to_darwin(linux: &[u8]) -> Result<&[u8], i32> {
    match linux.strip_prefix(XATTR_USER_PREFIX) {
        Some([]) => Err(lerr::EINVAL),
        Some(rest) => Ok(rest),
        None => Err(lerr::ENOTSUP),
    }
}

/// A Darwin name list (NUL-terminated names) as Linux lists them: each with "user.".
pub fn xattr_list_to_linux(darwin: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(darwin.len() + 8 * XATTR_USER_PREFIX.len());
    for name in darwin.split(|&b| b == 0).filter(|n| !n.is_empty()) {
        out.extend_from_slice(XATTR_USER_PREFIX);
        out.extend_from_slice(name);
        out.push(0);
    }
    out
}

/// Linux FALLOC_FL_KEEP_SIZE.
pub const FALLOC_FL_KEEP_SIZE: i32 = 0x1;

/// fallocate's argument checks in Linux's order (vfs_fallocate): a negative offset or a
/// non-positive length is EINVAL, then a mode Darwin cannot do is EOPNOTSUPP: only 0
/// (allocate and extend) and FALLOC_FL_KEEP_SIZE (allocate only) are possible with
/// F_PREALLOCATE; hole punching, zeroing, collapsing and inserting ranges are not.
/// Returns whether the file size is to be kept.
pub fn fallocate_mode_to_darwin(mode: i32, offset: i64, len: i64) -> Result<bool, i32> {
    if offset < 0 || len <= 0 {
        return Err(lerr::EINVAL);
    }
    match mode {
        0 => Ok(false),
        FALLOC_FL_KEEP_SIZE => Ok(true),
        _ => Err(lerr::ENOTSUP),
    }
}

/// Linux's largest fadvise advice (POSIX_FADV_NOREUSE).
pub const POSIX_FADV_MAX: i32 = 5;

/// fadvise64's checks as Linux's generic_fadvise makes them: a pipe is ESPIPE, a negative
/// length or unknown advice EINVAL. The advice itself is only a hint; Darwin takes none.
pub fn fadvise_check(is_fifo: bool, len: i64, advice: i32) -> Result<(), i32> {
    if is_fifo {
        return Err(lerr::ESPIPE);
    }
    if len < 0 || !(0..=POSIX_FADV_MAX).contains(&advice) {
        return Err(lerr::EINVAL);
    }
    Ok(())
}

pub const MFD_CLOEXEC: u32 = 0x1;
pub const MFD_ALLOW_SEALING: u32 = 0x2;
pub const MFD_HUGETLB: u32 = 0x4;
pub const MFD_NOEXEC_SEAL: u32 = 0x8;
pub const MFD_EXEC: u32 = 0x10;

/// memfd_create's flags on Darwin, whose stand-in is an unlinked temporary file: returns
/// whether it is close-on-exec. Sealing flags are accepted (the file just cannot be
/// sealed: F_ADD_SEALS says EINVAL); MFD_HUGETLB is EINVAL, as on a Linux without huge
/// pages for it.
pub fn memfd_flags_to_darwin(flags: u32) -> Result<bool, i32> {
    if flags & !(MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_NOEXEC_SEAL | MFD_EXEC) != 0 {
        return Err(lerr::EINVAL);
    }
    Ok(flags & MFD_CLOEXEC != 0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use abi_shared::linux::{errno as lxe, general as lx};

    #[test]
    fn every_linux_errno_maps_to_a_darwin_errno() {
        // Every errno Linux defines on x86_64 (1..=133 except the unused 41 and 58).
        for e in (1..=133).filter(|e| *e != 41 && *e != 58) {
            let d = errno_linux_to_darwin(e).unwrap_or_else(|| panic!("Linux errno {e} has no row"));
            assert!((1..=DARWIN_ERRNO_MAX).contains(&d), "Linux errno {e} -> {d}");
        }
        assert_eq!(errno_linux_to_darwin(0), None);
        assert_eq!(errno_linux_to_darwin(134), None);
        assert_eq!(errno_linux_to_darwin(-1), None);
    }

    #[test]
    fn every_darwin_errno_maps_to_a_linux_errno() {
        for d in 1..=DARWIN_ERRNO_MAX {
            let l = errno_darwin_to_linux(d);
            assert!((1..=133).contains(&l), "Darwin errno {d} -> {l}");
        }
        assert_eq!(errno_darwin_to_linux(35), lxe::EAGAIN as i32);
        assert_eq!(errno_darwin_to_linux(11), lxe::EDEADLK as i32);
        assert_eq!(errno_darwin_to_linux(45), lxe::EOPNOTSUPP as i32);
        assert_eq!(errno_darwin_to_linux(102), lxe::EOPNOTSUPP as i32);
        assert_eq!(errno_darwin_to_linux(93), lxe::ENODATA as i32);
        assert_eq!(errno_darwin_to_linux(999), lerr::EIO);
    }

    #[test]
    fn errno_round_trips_where_both_have_the_errno() {
        for r in ERRNO.iter().filter(|r| r.exact()) {
            let d = errno_linux_to_darwin(r.linux as i32).unwrap();
            assert_eq!(errno_darwin_to_linux(d), r.linux as i32, "{}", r.linux_name);
        }
        // A stand-in never steals the exact row's reverse mapping.
        assert_eq!(errno_darwin_to_linux(22), lxe::EINVAL as i32);
        assert_eq!(errno_darwin_to_linux(5), lxe::EIO as i32);
        assert_eq!(errno_darwin_to_linux(2), lxe::ENOENT as i32);
    }

    #[test]
    fn errno_linux_column_matches_linux_raw_sys() {
        let named = [
            ("EAGAIN", lxe::EAGAIN),
            ("EDEADLK", lxe::EDEADLK),
            ("ENOSYS", lxe::ENOSYS),
            ("EBADE", lxe::EBADE),
            ("ENONET", lxe::ENONET),
            ("EOPNOTSUPP", lxe::EOPNOTSUPP),
            ("EHWPOISON", lxe::EHWPOISON),
        ];
        for (name, value) in named {
            let row = ERRNO.iter().find(|r| r.linux_name == name).unwrap();
            assert_eq!(row.linux, i64::from(value), "{name}");
        }
    }

    #[test]
    fn open_flags_translate_and_unknown_bits_are_refused() {
        let l = (lx::O_WRONLY | lx::O_CREAT | lx::O_EXCL | lx::O_CLOEXEC | lx::O_DIRECTORY | lx::O_NONBLOCK) as i32;
        assert_eq!(open_flags_to_darwin(l), Ok(0x1 | 0x200 | 0x800 | 0x100_0000 | 0x10_0000 | 0x4));
        assert_eq!(open_flags_to_darwin(lx::O_APPEND as i32 | lx::O_TRUNC as i32), Ok(0x8 | 0x400));
        assert_eq!(open_flags_to_darwin(lx::O_SYNC as i32), Ok(0x80));
        assert_eq!(open_flags_to_darwin(lx::O_DSYNC as i32), Ok(0x40_0000));
        assert_eq!(open_flags_to_darwin(lx::O_LARGEFILE as i32 | lx::O_NOATIME as i32), Ok(0));
        assert_eq!(open_flags_to_darwin(lx::O_DIRECT as i32), Err(lerr::EINVAL));
        assert_eq!(open_flags_to_darwin(lx::O_PATH as i32), Err(lerr::EINVAL));
        assert_eq!(open_flags_to_darwin(lx::O_TMPFILE as i32 | 2), Err(lerr::ENOTSUP));
        assert_eq!(open_flags_to_darwin(3), Err(lerr::EINVAL));
        assert_eq!(open_flags_to_darwin(0x0800_0000), Err(lerr::EINVAL));
        // And back (F_GETFL).
        assert_eq!(open_flags_to_linux(0x2 | 0x8 | 0x4), (lx::O_RDWR | lx::O_APPEND | lx::O_NONBLOCK) as i32);
        assert_eq!(open_flags_to_linux(0x80), lx::O_SYNC as i32);
        assert_eq!(open_flags_to_linux(0x40_0000), lx::O_DSYNC as i32);
    }

    #[test]
    fn open_flag_rows_match_linux_raw_sys() {
        for r in OPEN_FLAGS {
            let want = match r.linux_name {
                "O_WRONLY" => lx::O_WRONLY,
                "O_RDWR" => lx::O_RDWR,
                "O_SYNC" => lx::O_SYNC,
                "O_CREAT" => lx::O_CREAT,
                "O_EXCL" => lx::O_EXCL,
                "O_NOCTTY" => lx::O_NOCTTY,
                "O_TRUNC" => lx::O_TRUNC,
                "O_APPEND" => lx::O_APPEND,
                "O_NONBLOCK" => lx::O_NONBLOCK,
                "O_DSYNC" => lx::O_DSYNC,
                "O_ASYNC" => lx::FASYNC,
                "O_DIRECTORY" => lx::O_DIRECTORY,
                "O_NOFOLLOW" => lx::O_NOFOLLOW,
                "O_CLOEXEC" => lx::O_CLOEXEC,
                other => panic!("{other}"),
            };
            assert_eq!(r.linux, i64::from(want), "{}", r.linux_name);
        }
        assert_eq!(O_DIRECT, i64::from(lx::O_DIRECT));
        assert_eq!(O_PATH, i64::from(lx::O_PATH));
        assert_eq!(O_TMPFILE, i64::from(lx::O_TMPFILE));
        assert_eq!(OPEN_FLAGS_DROPPED, i64::from(lx::O_LARGEFILE | lx::O_NOATIME));
    }

    #[test]
    fn at_flags_depend_on_the_call() {
        let nofollow = lx::AT_SYMLINK_NOFOLLOW as i32;
        assert_eq!(at_flags_to_darwin(nofollow, &[AT_NOFOLLOW], AT_NO_AUTOMOUNT), Ok(0x20));
        assert_eq!(at_flags_to_darwin(lx::AT_NO_AUTOMOUNT as i32, &[AT_NOFOLLOW], AT_NO_AUTOMOUNT), Ok(0));
        assert_eq!(at_flags_to_darwin(lx::AT_EMPTY_PATH as i32, &[AT_NOFOLLOW], AT_NO_AUTOMOUNT), Err(lerr::EINVAL));
        assert_eq!(at_flags_to_darwin(lx::AT_REMOVEDIR as i32, &[AT_REMOVEDIR_ROW], 0), Ok(0x80));
        assert_eq!(at_flags_to_darwin(lx::AT_EACCESS as i32, &[AT_EACCESS_ROW, AT_NOFOLLOW], 0), Ok(0x10));
        assert_eq!(at_flags_to_darwin(lx::AT_SYMLINK_FOLLOW as i32, &[AT_FOLLOW], 0), Ok(0x40));
        assert_eq!(at_flags_to_darwin(nofollow, &[AT_FOLLOW], 0), Err(lerr::EINVAL));
        assert_eq!(at_flags_to_darwin(0x40_0000, &[AT_EACCESS_ROW, AT_NOFOLLOW], 0), Err(lerr::EINVAL));
        assert_eq!(AT_NO_AUTOMOUNT, i64::from(lx::AT_NO_AUTOMOUNT));
        assert_eq!(AT_EMPTY_PATH, i64::from(lx::AT_EMPTY_PATH));
        assert_eq!(AT_STATX_SYNC, i64::from(lx::AT_STATX_FORCE_SYNC | lx::AT_STATX_DONT_SYNC));
        assert_eq!(LINUX_AT_FDCWD, lx::AT_FDCWD);
    }

    fn seek_data_and_hole_swap() {
        assert_eq!(to_darwin(SEEK_WHENCE, i64::from(lx::SEEK_DATA)), Some(4));
        assert_eq!(to_darwin(SEEK_WHENCE, i64::from(lx::SEEK_HOLE)), Some(3));
        assert_eq!(to_darwin(SEEK_WHENCE, 5), None);
    }

    #[test]
    fn stat_converts_devices_and_keeps_times() {
        let st = DarwinStat {
            dev: 0x0100_0004, // major 1, minor 4
            mode: 0o100644,
            nlink: 3,
            ino: 1234,
            uid: 501,
            gid: 20,
            rdev: 0,
            atime: (1, 2),
            mtime: (3, 4),
            ctime: (5, 6),
            birthtime: (7, 8),
            size: 4096,
            blocks: 8,
            blksize: 4096,
        };
        let l = stat_to_linux(&st);
        assert_eq!(l.st_dev, (1 << 8) | 4);
        assert_eq!((l.st_mode, l.st_nlink, l.st_ino, l.st_uid, l.st_gid), (0o100644, 3, 1234, 501, 20));
        assert_eq!((l.st_mtime, l.st_mtime_nsec, l.st_ctime_nsec), (3, 4, 6));
        assert_eq!((l.st_size, l.st_blocks, l.st_blksize), (4096, 8, 4096));
        let x = statx_to_linux(&st);
        assert_eq!((x.stx_btime.tv_sec, x.stx_btime.tv_nsec), (7, 8));
        assert_eq!((x.stx_dev_major, x.stx_dev_minor), (1, 4));
        assert_eq!(x.stx_mask, lx::STATX_BASIC_STATS | lx::STATX_BTIME);
        // A big minor keeps its high bits in Linux's split encoding.
        assert_eq!(dev_to_linux(0x0212_3456), 0x56 | (2 << 8) | (0x12_3400 << 12));
        // A whiteout shows as a character device.
        assert_eq!(mode_to_linux(0o160000) & 0o170000, 0o020000);
    }

    fn darwin_record(ino: u64, seekoff: u64, dtype: u8, name: &[u8]) -> Vec<u8> {
        let reclen = (DARWIN_DIRENT_NAME_OFFSET + name.len() + 1 + 7) & !7;
        let mut r = vec![0u8; reclen];
        r[0..8].copy_from_slice(&ino.to_ne_bytes());
        r[8..16].copy_from_slice(&seekoff.to_ne_bytes());
        r[16..18].copy_from_slice(&(reclen as u16).to_ne_bytes());
        r[18..20].copy_from_slice(&(name.len() as u16).to_ne_bytes());
        r[20] = dtype;
        r[21..21 + name.len()].copy_from_slice(name);
        r
    }

    #[test]
    fn dirents_become_linux_dirent64_records() {
        let mut src = darwin_record(7, 1, 4, b".");
        src.extend(darwin_record(8, 2, 8, b"hello.txt"));
        src.extend(darwin_record(9, 3, 10, b"a-rather-long-name-for-a-link"));
        let mut dst = vec![0xaau8; src.len()];
        let (w, r) = darwin_dirents_to_linux(&src, &mut dst);
        assert_eq!(r, src.len());
        // Walk the Linux records.
        let mut names = Vec::new();
        let mut o = 0;
        while o < w {
            let ino = u64::from_ne_bytes(dst[o..o + 8].try_into().unwrap());
            let off = i64::from_ne_bytes(dst[o + 8..o + 16].try_into().unwrap());
            let reclen = usize::from(u16::from_ne_bytes([dst[o + 16], dst[o + 17]]));
            assert_eq!(reclen % 8, 0);
            let name = &dst[o + 19..o + reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap()];
            names.push((ino, off, dst[o + 18], String::from_utf8(name.to_vec()).unwrap()));
            o += reclen;
        }
        assert_eq!(o, w);
        assert_eq!(
            names,
            vec![
                (7, 1, 4, ".".to_string()),
                (8, 2, 8, "hello.txt".to_string()),
                (9, 3, 10, "a-rather-long-name-for-a-link".to_string())
            ]
        );
        // A destination too small for the second record stops after the first.
        let mut small = vec![0u8; 30];
        let (w, r) = darwin_dirents_to_linux(&src, &mut small);
        assert_eq!((w, r), (24, 24));
        // A malformed record (reclen beyond the buffer) ends the walk.
        let mut bad = darwin_record(1, 1, 8, b"x");
        bad[16] = 0xff;
        assert_eq!(darwin_dirents_to_linux(&bad, &mut dst), (0, 0));
    }

    #[test]
    fn signals_translate_and_round_trip() {
        use abi_shared::linux::signal as ls;
        assert_eq!(signal_to_darwin(ls::SIGBUS), Some(10));
        assert_eq!(signal_to_darwin(ls::SIGUSR1), Some(30));
        assert_eq!(signal_to_darwin(ls::SIGCHLD), Some(20));
        assert_eq!(signal_to_darwin(ls::SIGSTKFLT), None);
        assert_eq!(signal_to_darwin(ls::SIGPWR), None);
        assert_eq!(signal_to_darwin(ls::SIGRTMIN), None);
        for r in SIGNALS {
            assert!(r.exact());
            assert_eq!(signal_to_linux(r.darwin as i32), Some(r.linux as i32));
        }
        assert_eq!(signal_to_linux(7), None); // SIGEMT
        assert_eq!(signal_to_linux(29), None); // SIGINFO
        let mask = (1u64 << (ls::SIGUSR1 - 1)) | (1u64 << (ls::SIGCHLD - 1)) | (1u64 << (ls::SIGRTMIN - 1));
        let d = sigset_to_darwin(mask);
        assert_eq!(d, (1 << 29) | (1 << 19));
        assert_eq!(sigset_to_linux(d), mask & !(1u64 << (ls::SIGRTMIN - 1)));
    }

    #[test]
    fn si_codes() {
        assert_eq!(si_code_to_linux(0x10001), 0);
        assert_eq!(si_code_to_linux(0x10002), -1);
        assert_eq!(si_code_to_linux(0x10005), -4);
        assert_eq!(si_code_to_linux(1), 0x80);
    }

    #[test]
    fn sigaction_flags() {
        assert_eq!(sigaction_flags_to_darwin(0x0400_0000 | 0x1000_0000 | 0x4), Ok(0x2 | 0x40));
        assert_eq!(sigaction_flags_to_darwin(0x8000_0000), Ok(0x4));
        assert_eq!(sigaction_flags_to_darwin(0x100), Err(lerr::EINVAL));
    }

    #[test]
    fn wait_statuses() {
        // exit(3)
        assert_eq!(wait_status_to_linux(3 << 8), 3 << 8);
        // killed by SIGUSR1 (Darwin 30) with a core
        assert_eq!(wait_status_to_linux(30 | 0x80), 10 | 0x80);
        // stopped by SIGTSTP (Darwin 18 → Linux 20)
        assert_eq!(wait_status_to_linux((18 << 8) | 0x7f), (20 << 8) | 0x7f);
        // continued
        assert_eq!(wait_status_to_linux((19 << 8) | 0x7f), 0xffff);
        assert_eq!(wait_options_to_darwin(1 | 8), Ok(1 | 0x10));
        assert_eq!(wait_options_to_darwin(0x4000_0000), Err(lerr::EINVAL)); // __WALL
    }

    #[test]
    fn rlimits_and_clocks() {
        assert_eq!(to_darwin(RLIMIT_RESOURCES, 7), Some(8)); // NOFILE
        assert_eq!(to_darwin(RLIMIT_RESOURCES, 9), Some(5)); // AS
        assert_eq!(to_darwin(RLIMIT_RESOURCES, 13), None); // NICE
        assert_eq!(to_linux(RLIMIT_RESOURCES, 5), Some(9)); // AS wins over its alias RSS
        assert_eq!(rlim_to_linux(DARWIN_RLIM_INFINITY), u64::MAX);
        assert_eq!(rlim_to_linux(1024), 1024);
        assert_eq!(rlim_to_darwin(u64::MAX), DARWIN_RLIM_INFINITY);
        assert_eq!(clock_id_to_darwin(1), Ok(8));
        assert_eq!(clock_id_to_darwin(7), Ok(6));
        assert_eq!(clock_id_to_darwin(11), Err(lerr::EINVAL)); // CLOCK_TAI
        assert_eq!(clock_id_to_darwin(-6), Err(lerr::EINVAL)); // a CPU-clock handle
    }

    #[test]
    fn sockets() {
        assert_eq!(socket_domain_to_darwin(10), Ok(30));
        assert_eq!(socket_domain_to_darwin(16), Err(lerr::EAFNOSUPPORT));
        assert_eq!(socket_type_to_darwin(1 | SOCK_CLOEXEC), Ok((1, false, true)));
        assert_eq!(socket_type_to_darwin(2 | SOCK_NONBLOCK), Ok((2, true, false)));
        assert_eq!(socket_type_to_darwin(10), Err(lerr::EINVAL)); // SOCK_PACKET
        assert_eq!(sockopt_to_darwin(1, 2), Ok((0xffff, 4)));
        assert_eq!(sockopt_to_darwin(1, 13), Ok((0xffff, 0x1080)));
        assert_eq!(sockopt_to_darwin(6, 4), Ok((6, 0x10)));
        assert_eq!(sockopt_to_darwin(41, 26), Ok((41, 27)));
        assert_eq!(sockopt_to_darwin(1, 17), Err(lerr::ENOPROTOOPT)); // SO_PEERCRED
        assert_eq!(sockopt_to_darwin(270, 1), Err(lerr::ENOPROTOOPT)); // SOL_NETLINK
    }

    #[test]
    fn msg_flags_translate_and_refuse_the_unknown() {
        // MSG_DONTWAIT|MSG_NOSIGNAL|MSG_PEEK
        assert_eq!(msg_flags_to_darwin(0x40 | 0x4000 | 0x2), Ok((0x80 | 0x80000 | 0x2, false)));
        assert_eq!(msg_flags_to_darwin(MSG_CMSG_CLOEXEC | MSG_MORE), Ok((0, true)));
        assert_eq!(msg_flags_to_darwin(0x2000), Err(lerr::ENOTSUP)); // MSG_ERRQUEUE
                                                                     // Darwin's MSG_CTRUNC|MSG_TRUNC as Linux's.
        assert_eq!(msg_flags_to_linux(0x20 | 0x10), 0x8 | 0x20);
        for r in MSG_FLAGS {
            assert_eq!(msg_flags_to_linux(msg_flags_to_darwin(r.linux as i32).unwrap().0), r.linux as i32);
        }
    }

    #[test]
    fn sockaddrs_gain_and_lose_sa_len() {
        // sockaddr_in 127.0.0.1:80
        let mut sin = vec![2u8, 0, 0, 80, 127, 0, 0, 1];
        sin.extend([0u8; 8]);
        let d = sockaddr_to_darwin(&sin).unwrap();
        assert_eq!(d.len(), 16);
        assert_eq!(&d[..8], &[16, 2, 0, 80, 127, 0, 0, 1]);
        assert_eq!(sockaddr_to_linux(&d).unwrap(), sin);
        // sockaddr_in6: family 10 → 30
        let mut sin6 = vec![10u8, 0];
        sin6.extend([0u8; 26]);
        let d = sockaddr_to_darwin(&sin6).unwrap();
        assert_eq!((d[0], d[1], d.len()), (28, 30, 28));
        assert_eq!(sockaddr_to_linux(&d).unwrap(), sin6);
        // sockaddr_un
        let mut sun = vec![1u8, 0];
        sun.extend(b"/tmp/sock\0");
        let d = sockaddr_to_darwin(&sun).unwrap();
        assert_eq!(&d[1..], b"\x01/tmp/sock\0");
        assert_eq!(usize::from(d[0]), d.len());
        let mut long = vec![1u8, 0];
        long.extend([b'a'; 104]);
        assert_eq!(sockaddr_to_darwin(&long), Err(lerr::ENAMETOOLONG));
        assert_eq!(sockaddr_to_darwin(&[1, 0, 0, b'x']), Err(lerr::EINVAL)); // abstract
        assert_eq!(sockaddr_to_darwin(&[16, 0, 0, 0]), Err(lerr::EAFNOSUPPORT)); // netlink
        assert_eq!(sockaddr_to_darwin(&[2]), Err(lerr::EINVAL));
    }

    #[test]
    fn control_messages_rewrite_headers() {
        // Linux SCM_RIGHTS with two fds.
        let mut l = Vec::new();
        l.extend(((LINUX_CMSG_HDR + 8) as u64).to_ne_bytes());
        l.extend(1i32.to_ne_bytes());
        l.extend(1i32.to_ne_bytes());
        l.extend(5i32.to_ne_bytes());
        l.extend(6i32.to_ne_bytes());
        let d = cmsgs_to_darwin(&l).unwrap();
        assert_eq!(d.len(), 20);
        assert_eq!(u32::from_ne_bytes(d[0..4].try_into().unwrap()), 20);
        assert_eq!(i32::from_ne_bytes(d[4..8].try_into().unwrap()), 0xffff);
        assert_eq!(&d[12..], &l[16..]);
        assert_eq!(cmsgs_to_linux(&d), l);
        // SCM_CREDENTIALS is refused.
        let mut c = l.clone();
        c[12] = 2;
        assert_eq!(cmsgs_to_darwin(&c), Err(lerr::EINVAL));
    }

    fn sample_linux_termios() -> LinuxTermios {
        let mut c_cc = [0u8; 19];
        c_cc[0] = 3; // VINTR ^C
        c_cc[2] = 0x7f; // VERASE
        c_cc[4] = 4; // VEOF ^D
        c_cc[6] = 1; // VMIN
        c_cc[5] = 0; // VTIME
        LinuxTermios {
            c_iflag: 0x100 | 0x400 | 0x4000,            // ICRNL IXON IUTF8
            c_oflag: 0x1 | 0x4,                         // OPOST ONLCR
            c_cflag: 0x30 | 0x80 | 15 | (0x1002 << 16), // CS8 CREAD B38400, input B115200
            c_lflag: 0x1 | 0x2 | 0x8 | 0x10 | 0x8000,   // ISIG ICANON ECHO ECHOE IEXTEN
            c_line: 0,
            c_cc,
        }
    }

    #[test]
    fn termios_round_trips_through_darwin() {
        let l = sample_linux_termios();
        let d = termios_to_darwin(&l).unwrap();
        assert_eq!(d.c_iflag, 0x100 | 0x200 | 0x4000);
        assert_eq!(d.c_oflag, 0x1 | 0x2);
        assert_eq!(d.c_cflag, 0x300 | 0x800);
        assert_eq!(d.c_lflag, 0x80 | 0x100 | 0x8 | 0x2 | 0x400);
        assert_eq!((d.c_ospeed, d.c_ispeed), (38400, 115200));
        assert_eq!((d.c_cc[8], d.c_cc[3], d.c_cc[0], d.c_cc[16]), (3, 0x7f, 4, 1));
        assert_eq!(d.c_cc[5], DARWIN_VDISABLE); // VKILL was disabled (0) on Linux
        assert_eq!(termios_to_linux(&d), l);
        // Delay fields move as fields.
        let mut t = l;
        t.c_oflag |= 0x1800 | 0x600; // TAB3 CR3
        let d = termios_to_darwin(&t).unwrap();
        assert_eq!(d.c_oflag & (0x4 | 0x3000), 0x4 | 0x3000);
        assert_eq!(termios_to_linux(&d).c_oflag, t.c_oflag);
        // What Darwin cannot express is refused.
        let mut bad = l;
        bad.c_iflag |= 0x200; // IUCLC
        assert_eq!(termios_to_darwin(&bad), Err(lerr::EINVAL));
        let mut bad = l;
        bad.c_cflag = (bad.c_cflag & !0x100f) | 0x100f; // B4000000
        assert_eq!(termios_to_darwin(&bad), Err(lerr::EINVAL));
    }

    /// What cfmakeraw and cfsetspeed(B9600) make of a cooked termios, as a program in raw
    /// mode (an editor, a pager, tty_control.c) passes it to TCSETS.
    #[test]
    fn raw_mode_termios_round_trips_through_darwin() {
        let mut l = sample_linux_termios();
        l.c_iflag &= !(0x1 | 0x2 | 0x8 | 0x20 | 0x40 | 0x80 | 0x100 | 0x400); // IGNBRK..IXON
        l.c_oflag &= !0x1; // OPOST
        l.c_lflag &= !(0x8 | 0x40 | 0x2 | 0x1 | 0x8000); // ECHO ECHONL ICANON ISIG IEXTEN
        l.c_cflag = (l.c_cflag & !(0x30 | 0x100 | 0x100f | (0x100f << 16))) | 0x30 | 13 | (13 << 16); // CS8, B9600
        l.c_cc[6] = 1; // VMIN
        l.c_cc[5] = 0; // VTIME
        let d = termios_to_darwin(&l).unwrap();
        assert_eq!(d.c_iflag, 0x4000); // only IUTF8 left
        assert_eq!(d.c_oflag & 0x1, 0);
        assert_eq!(d.c_lflag & (0x8 | 0x10 | 0x100 | 0x80 | 0x400), 0); // ECHO ECHONL ICANON ISIG IEXTEN
        assert_eq!(d.c_cflag & 0x300, 0x300); // CS8
        assert_eq!((d.c_ospeed, d.c_ispeed), (9600, 9600));
        assert_eq!((d.c_cc[16], d.c_cc[17]), (1, 0)); // VMIN, VTIME
        assert_eq!(termios_to_linux(&d), l);
    }

    #[test]
    fn terminal_ioctls() {
        assert_eq!(ioctl_to_darwin(0x5401), Ok(0x4048_7413));
        assert_eq!(ioctl_to_darwin(0x5413), Ok(0x4008_7468));
        assert_eq!(ioctl_to_darwin(0x5409), Err(lerr::EINVAL)); // TCSBRK: not yet
                                                                // Darwin's TIOCGETA encodes sizeof(struct termios) = 72 (0x48).
        assert_eq!((0x4048_7413u32 >> 16) & 0x1fff, 72);
    }

    #[test]
    fn poll_mmap_madvise() {
        assert_eq!(poll_events_to_darwin(0x1 | 0x4 | 0x2000), Ok(0x1 | 0x4));
        assert_eq!(poll_events_to_darwin(0x200), Ok(0x100));
        assert_eq!(poll_events_to_darwin(0x4000), Err(lerr::EINVAL));
        assert_eq!(poll_events_to_linux(0x4), 0x4 | 0x100);
        assert_eq!(mmap_flags_to_darwin(0x2 | 0x20), Ok(0x2 | 0x1000));
        assert_eq!(mmap_flags_to_darwin(0x3 | 0x20000), Ok(0x1));
        assert_eq!(mmap_flags_to_darwin(0x2 | 0x10_0000), Err(lerr::EINVAL)); // FIXED_NOREPLACE
        assert_eq!(mmap_flags_to_darwin(0x20), Err(lerr::EINVAL)); // neither shared nor private
        assert_eq!(madvise_to_darwin(8), Ok(Some(5)));
        assert_eq!(madvise_to_darwin(14), Ok(None));
        assert_eq!(madvise_to_darwin(100), Err(lerr::EINVAL));
    }

    #[test]
    fn uname_is_linux() {
        let u = synthesized_uname("my-mac.local");
        assert_eq!(&u.sysname[..6], b"Linux\0");
        assert_eq!(&u.machine[..7], b"x86_64\0");
        assert_eq!(&u.nodename[..13], b"my-mac.local\0");
        let long = "h".repeat(100);
        assert_eq!(synthesized_uname(&long).nodename[64], 0);
        assert!(UNAME_RELEASE.starts_with("6."));
    }

    #[test]
    fn tables_have_no_duplicate_linux_values() {
        for table in [
            ERRNO,
            OPEN_FLAGS,
            SEEK_WHENCE,
            SIGNALS,
            SIGACTION_FLAGS,
            WAIT_OPTIONS,
            RLIMIT_RESOURCES,
            CLOCK_IDS,
            SOCKET_DOMAINS,
            SOCKET_TYPES,
            SOL_SOCKET_OPTIONS,
            TCP_OPTIONS,
            TERMIOS_IFLAG,
            TERMIOS_OFLAG,
            TERMIOS_CFLAG,
            TERMIOS_LFLAG,
            TERMIOS_CC,
            TERMIOS_SPEEDS,
            TERMINAL_IOCTLS,
            POLL_EVENTS,
            MMAP_FLAGS,
            MADVISE,
        ] {
            for (i, a) in table.iter().enumerate() {
                for b in &table[i + 1..] {
                    assert_ne!(a.linux, b.linux, "{} and {}", a.linux_name, b.linux_name);
                }
            }
        }
    }

    #[test]
    fn statfs_types_and_flags_read_as_linux() {
        let name = |s: &str| {
            let mut n = [0u8; 16];
            n[..s.len()].copy_from_slice(s.as_bytes());
            n
        };
        assert_eq!(fs_type_to_linux(&name("apfs")), lx::EXT4_SUPER_MAGIC as i64);
        // HFSPLUS_SUPER_MAGIC and NTFS_SB_MAGIC (magic.h has them; linux-raw-sys does not).
        assert_eq!(fs_type_to_linux(&name("hfs")), 0x482b);
        assert_eq!(fs_type_to_linux(&name("nfs")), lx::NFS_SUPER_MAGIC as i64);
        assert_eq!(fs_type_to_linux(&name("msdos")), lx::MSDOS_SUPER_MAGIC as i64);
        assert_eq!(fs_type_to_linux(&name("tmpfs")), lx::TMPFS_MAGIC as i64);
        assert_eq!(fs_type_to_linux(&name("devfs")), lx::TMPFS_MAGIC as i64);
        assert_eq!(fs_type_to_linux(&name("exfat")), lx::EXFAT_SUPER_MAGIC as i64);
        assert_eq!(fs_type_to_linux(&name("cd9660")), lx::ISOFS_SUPER_MAGIC as i64);
        assert_eq!(fs_type_to_linux(&name("udf")), lx::UDF_SUPER_MAGIC as i64);
        assert_eq!(fs_type_to_linux(&name("smbfs")), lx::SMB2_SUPER_MAGIC as i64);
        assert_eq!(fs_type_to_linux(&name("macfuse")), lx::FUSE_SUPER_MAGIC as i64);
        assert_eq!(fs_type_to_linux(&name("autofs")), lx::AUTOFS_SUPER_MAGIC as i64);
        assert_eq!(fs_type_to_linux(&name("ntfs")), 0x5346_544e);
        assert_eq!(fs_type_to_linux(&name("zfs-like")), lx::EXT4_SUPER_MAGIC as i64);
        assert_eq!(fs_type_to_linux(b"apfs"), lx::EXT4_SUPER_MAGIC as i64, "not NUL-padded");

        let st = DarwinStatfs {
            bsize: 4096,
            blocks: 100,
            bfree: 50,
            bavail: 40,
            files: 1000,
            ffree: 900,
            fsid: [7, -8],
            flags: 0x1 | 0x8 | 0x1000_0000 | 0x4000, // RDONLY, NOSUID, NOATIME, MNT_LOCAL
            fstypename: name("apfs"),
        };
        let l = statfs_to_linux(&st);
        assert_eq!((l.f_bsize, l.f_frsize, l.f_blocks, l.f_bfree, l.f_bavail), (4096, 4096, 100, 50, 40));
        assert_eq!((l.f_files, l.f_ffree, l.f_fsid, l.f_namelen), (1000, 900, [7, -8], 255));
        // Linux's ST_RDONLY 1, ST_NOSUID 2, ST_NODEV 4, ST_NOEXEC 8, ST_SYNCHRONOUS 16,
        // ST_NOATIME 1024 (statvfs.h); MNT_LOCAL has no ST_ bit.
        assert_eq!(l.f_flags, 1 | 2 | 1024 | ST_VALID);
        assert_eq!(bits_to_linux(STATFS_FLAGS, 0x10 | 0x4 | 0x2), 4 | 8 | 16);
    }

    #[test]
    fn xattr_names_live_in_the_user_namespace() {
        assert_eq!(xattr_name_to_darwin(b"user.mime_type"), Ok(&b"mime_type"[..]));
        assert_eq!(xattr_name_to_darwin(b"user.com.apple.quarantine"), Ok(&b"com.apple.quarantine"[..]));
        assert_eq!(xattr_name_to_darwin(b"user."), Err(lxe::EINVAL as i32));
        for other in [&b"trusted.x"[..], b"security.selinux", b"system.posix_acl_access", b"nonamespace"] {
            assert_eq!(xattr_name_to_darwin(other), Err(lxe::EOPNOTSUPP as i32));
        }
        assert_eq!(xattr_list_to_linux(b"a\0com.apple.x\0"), b"user.a\0user.com.apple.x\0");
        assert_eq!(xattr_list_to_linux(b""), b"");
    }

    #[test]
    fn xattr_options() {
        let (create, replace) = (lx::XATTR_CREATE as i32, lx::XATTR_REPLACE as i32);
        assert_eq!(xattr_options_to_darwin(0, true), Ok(0));
        assert_eq!(xattr_options_to_darwin(create, true), Ok(0x2));
        assert_eq!(xattr_options_to_darwin(replace, false), Ok(0x4 | XATTR_NOFOLLOW));
        assert_eq!(xattr_options_to_darwin(0, false), Ok(XATTR_NOFOLLOW));
        assert_eq!(xattr_options_to_darwin(4, true), Err(lxe::EINVAL as i32));
    }

    #[test]
    fn fallocate_modes_and_fadvise_checks() {
        let keep = lx::FALLOC_FL_KEEP_SIZE as i32;
        assert_eq!(fallocate_mode_to_darwin(0, 0, 4096), Ok(false));
        assert_eq!(fallocate_mode_to_darwin(keep, 100, 1), Ok(true));
        assert_eq!(fallocate_mode_to_darwin(0, -1, 1), Err(lxe::EINVAL as i32));
        assert_eq!(fallocate_mode_to_darwin(0, 0, 0), Err(lxe::EINVAL as i32));
        assert_eq!(fallocate_mode_to_darwin(0x40, 0, -5), Err(lxe::EINVAL as i32), "arguments before the mode");
        let punch = (lx::FALLOC_FL_PUNCH_HOLE | lx::FALLOC_FL_KEEP_SIZE) as i32;
        assert_eq!(fallocate_mode_to_darwin(punch, 0, 1), Err(lxe::EOPNOTSUPP as i32));
        assert_eq!(fallocate_mode_to_darwin(lx::FALLOC_FL_ZERO_RANGE as i32, 0, 1), Err(lxe::EOPNOTSUPP as i32));

        assert_eq!(fadvise_check(false, 0, lx::POSIX_FADV_DONTNEED as i32), Ok(()));
        assert_eq!(fadvise_check(false, 10, lx::POSIX_FADV_NOREUSE as i32), Ok(()));
        assert_eq!(fadvise_check(true, 0, 0), Err(lxe::ESPIPE as i32));
        assert_eq!(fadvise_check(false, -1, 0), Err(lxe::EINVAL as i32));
        assert_eq!(fadvise_check(false, 0, 6), Err(lxe::EINVAL as i32));
        assert_eq!(fadvise_check(false, 0, -1), Err(lxe::EINVAL as i32));
    }

    #[test]
    fn memfd_flags_on_darwin() {
        assert_eq!(memfd_flags_to_darwin(lx::MFD_CLOEXEC | lx::MFD_ALLOW_SEALING), Ok(true));
        assert_eq!(memfd_flags_to_darwin(0), Ok(false));
        assert_eq!(memfd_flags_to_darwin(lx::MFD_HUGETLB), Err(lxe::EINVAL as i32));
        assert_eq!(memfd_flags_to_darwin(0x100), Err(lxe::EINVAL as i32));
    }
}
