//! The Linux x86_64 ABI as the guest program sees it.
//!
//! Numbers come from `linux-raw-sys` (generated from Linux's headers); the structs that
//! cross the hypercall boundary are declared here with serde so that the host personality
//! fills them in Linux's terms whatever the host is.

use serde::{Deserialize, Serialize};

pub use linux_raw_sys::errno;
pub use linux_raw_sys::general;

/// The longest path Linux accepts, with its NUL (as a length).
pub const PATH_MAX: usize = general::PATH_MAX as usize;

pub use bytemuck::{bytes_of, bytes_of_mut, pod_read_unaligned, Zeroable};

/// Plain-old-data structs copied byte for byte into guest user memory: every
/// `bytemuck::Pod` type, whose derive checks the layout (repr(C), no padding, any bit
/// pattern valid) at compile time. The trait only names the byte views its users call.
pub trait Pod: bytemuck::Pod {
    fn as_bytes(&self) -> &[u8] {
        bytemuck::bytes_of(self)
    }

    fn as_bytes_mut(&mut self) -> &mut [u8] {
        bytemuck::bytes_of_mut(self)
    }
}

impl<T: bytemuck::Pod> Pod for T {}

/// (major, minor) of a device number in Linux's 32-bit encoding, the `unsigned int dev` of
/// mknod (the kernel's `new_decode_dev`): minor bits 0-7, major bits 8-19, the rest of the
/// minor in bits 20-31.
pub const fn decode_dev32(dev: u32) -> (u32, u32) {
    ((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00))
}

/// `struct stat` of x86_64 (144 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LinuxStat {
    pub st_dev: u64,
    pub st_ino: u64,
    pub st_nlink: u64,
    pub st_mode: u32,
    pub st_uid: u32,
    pub st_gid: u32,
    pub pad0: u32,
    pub st_rdev: u64,
    pub st_size: i64,
    pub st_blksize: i64,
    pub st_blocks: i64,
    pub st_atime: i64,
    pub st_atime_nsec: i64,
    pub st_mtime: i64,
    pub st_mtime_nsec: i64,
    pub st_ctime: i64,
    pub st_ctime_nsec: i64,
    pub unused: [i64; 3],
}
const _: () = assert!(core::mem::size_of::<LinuxStat>() == 144);

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
pub struct StatxTimestamp {
    pub tv_sec: i64,
    pub tv_nsec: u32,
    pub reserved: i32,
}
const _: () = assert!(core::mem::size_of::<StatxTimestamp>() == 16);

/// `struct statx` (256 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LinuxStatx {
    pub stx_mask: u32,
    pub stx_blksize: u32,
    pub stx_attributes: u64,
    pub stx_nlink: u32,
    pub stx_uid: u32,
    pub stx_gid: u32,
    pub stx_mode: u16,
    pub spare0: u16,
    pub stx_ino: u64,
    pub stx_size: u64,
    pub stx_blocks: u64,
    pub stx_attributes_mask: u64,
    pub stx_atime: StatxTimestamp,
    pub stx_btime: StatxTimestamp,
    pub stx_ctime: StatxTimestamp,
    pub stx_mtime: StatxTimestamp,
    pub stx_rdev_major: u32,
    pub stx_rdev_minor: u32,
    pub stx_dev_major: u32,
    pub stx_dev_minor: u32,
    pub stx_mnt_id: u64,
    pub stx_dio_mem_align: u32,
    pub stx_dio_offset_align: u32,
    pub spare3: [u64; 12],
}
const _: () = assert!(core::mem::size_of::<LinuxStatx>() == 256);

/// The kernel's `struct termios` (TCGETS), not glibc's larger one.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LinuxTermios {
    pub c_iflag: u32,
    pub c_oflag: u32,
    pub c_cflag: u32,
    pub c_lflag: u32,
    pub c_line: u8,
    pub c_cc: [u8; 19],
}
const _: () = assert!(core::mem::size_of::<LinuxTermios>() == 36);

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LinuxWinsize {
    pub ws_row: u16,
    pub ws_col: u16,
    pub ws_xpixel: u16,
    pub ws_ypixel: u16,
}
const _: () = assert!(core::mem::size_of::<LinuxWinsize>() == 8);

/// `struct statfs` of x86_64 (120 bytes): every field a long, `f_fsid` two ints.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, bytemuck::Pod, bytemuck::Zeroable)]
pub struct LinuxStatfs {
    /// The file system's magic number (EXT4_SUPER_MAGIC, TMPFS_MAGIC...).
    pub f_type: i64,
    pub f_bsize: i64,
    pub f_blocks: u64,
    pub f_bfree: u64,
    pub f_bavail: u64,
    pub f_files: u64,
    pub f_ffree: u64,
    pub f_fsid: [i32; 2],
    pub f_namelen: i64,
    pub f_frsize: i64,
    /// ST_* mount flags, ST_VALID included.
    pub f_flags: i64,
    pub f_spare: [i64; 4],
}
const _: () = assert!(core::mem::size_of::<LinuxStatfs>() == 120);

/// `struct timespec`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, bytemuck::Pod, bytemuck::Zeroable)]
pub struct Timespec {
    pub tv_sec: i64,
    pub tv_nsec: i64,
}
const _: () = assert!(core::mem::size_of::<Timespec>() == 16);

/// Linux signal numbers (x86_64).
pub mod signal {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGQUIT: i32 = 3;
    pub const SIGILL: i32 = 4;
    pub const SIGTRAP: i32 = 5;
    pub const SIGABRT: i32 = 6;
    pub const SIGBUS: i32 = 7;
    pub const SIGFPE: i32 = 8;
    pub const SIGKILL: i32 = 9;
    pub const SIGUSR1: i32 = 10;
    pub const SIGSEGV: i32 = 11;
    pub const SIGUSR2: i32 = 12;
    pub const SIGPIPE: i32 = 13;
    pub const SIGALRM: i32 = 14;
    pub const SIGTERM: i32 = 15;
    pub const SIGSTKFLT: i32 = 16;
    pub const SIGCHLD: i32 = 17;
    pub const SIGCONT: i32 = 18;
    pub const SIGSTOP: i32 = 19;
    pub const SIGTSTP: i32 = 20;
    pub const SIGTTIN: i32 = 21;
    pub const SIGTTOU: i32 = 22;
    pub const SIGURG: i32 = 23;
    pub const SIGXCPU: i32 = 24;
    pub const SIGXFSZ: i32 = 25;
    pub const SIGVTALRM: i32 = 26;
    pub const SIGPROF: i32 = 27;
    pub const SIGWINCH: i32 = 28;
    pub const SIGIO: i32 = 29;
    pub const SIGPWR: i32 = 30;
    pub const SIGSYS: i32 = 31;
    pub const SIGRTMIN: i32 = 32;
    /// Highest signal number (_NSIG - 1).
    pub const SIGRTMAX: i32 = 64;

    /// What a signal does when its handler is SIG_DFL (Linux's signal(7) table).
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub enum DefaultAction {
        Ignore,
        Stop,
        Terminate,
        /// Terminate, with a core dump where the limit allows one.
        Core,
    }

    pub fn default_action(sig: i32) -> DefaultAction {
        match sig {
            SIGCHLD | SIGURG | SIGWINCH | SIGCONT => DefaultAction::Ignore,
            SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
            SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ | SIGSYS => {
                DefaultAction::Core
            }
            _ => DefaultAction::Terminate,
        }
    }

    /// The names of signals 1 to 31 by number (index 0 holds "0", as strace shows it);
    /// 32 is SIGRTMIN and those above it SIGRT_n, as strace names them.
    pub const NAMES: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
}

#[cfg(test)]
mod tests {
    use super::*;
    use core::mem::size_of;

    #[test]
    fn struct_layouts_match_linux_raw_sys() {
        assert_eq!(size_of::<LinuxStat>(), size_of::<general::stat>());
        assert_eq!(size_of::<LinuxStatx>(), size_of::<general::statx>());
        assert_eq!(core::mem::offset_of!(LinuxStat, st_size), core::mem::offset_of!(general::stat, st_size));
        assert_eq!(core::mem::offset_of!(LinuxStatx, stx_mtime), core::mem::offset_of!(general::statx, stx_mtime));
        assert_eq!(size_of::<LinuxStatfs>(), size_of::<general::statfs>());
        assert_eq!(core::mem::offset_of!(LinuxStatfs, f_fsid), core::mem::offset_of!(general::statfs, f_fsid));
        assert_eq!(core::mem::offset_of!(LinuxStatfs, f_namelen), core::mem::offset_of!(general::statfs, f_namelen));
        assert_eq!(core::mem::offset_of!(LinuxStatfs, f_flags), core::mem::offset_of!(general::statfs, f_flags));
    }
}
