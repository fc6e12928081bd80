//! The arm64 syscall table: the generic numbering (include/uapi/asm-generic/unistd.h),
//! in the row format of the x86_64 table (syscall/table.rs): number, name, where it is
//! served, handler, how strace will show the arguments. Anything absent returns -ENOSYS.

use super::{fs, futex, ids, info, mm, path, process, signal, Handler};

/// Where a syscall is served (as in syscall/table.rs).
#[allow(dead_code)] // documentation until strace and the doc generator read this table
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    Guest,
    Host,
    Both,
}

/// How strace shows an argument (the x86_64 table's names).
#[allow(dead_code)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    D,
    X,
    Fd,
    Ptr,
    Str,
    WBuf,
    Oct,
}
use Arg::*;

#[allow(dead_code)]
pub struct Entry {
    pub name: &'static str,
    pub served: Served,
    pub args: &'static [Arg],
    pub handler: Handler,
}

/// The highest generic syscall number the table can hold, plus one.
const SLOTS: usize = 512;

macro_rules! syscall_table {
    ($($nr:literal $name:ident $served:ident $handler:path [$($arg:expr),*];)*) => {
        static TABLE: [Option<Entry>; SLOTS] = {
            let mut t = [const { None }; SLOTS];
            $(
                t[$nr] = Some(Entry {
                    name: stringify!($name),
                    served: Served::$served,
                    args: &[$($arg),*],
                    handler: $handler,
                });
            )*
            t
        };
    };
}

syscall_table! {
    17  getcwd            Host  path::getcwd          [Ptr, D];
    23  dup               Host  path::dup             [Fd];
    24  dup3              Host  path::dup3            [Fd, Fd, X];
    25  fcntl             Host  path::fcntl           [Fd, D, X];
    34  mkdirat           Host  path::mkdirat         [Fd, Str, Oct];
    35  unlinkat          Host  path::unlinkat        [Fd, Str, X];
    36  symlinkat         Host  path::symlinkat       [Str, Fd, Str];
    37  linkat            Host  path::linkat          [Fd, Str, Fd, Str, X];
    38  renameat          Host  path::renameat        [Fd, Str, Fd, Str];
    45  truncate          Host  path::truncate        [Str, D];
    46  ftruncate         Host  path::ftruncate       [Fd, D];
    48  faccessat         Host  path::faccessat       [Fd, Str, Oct];
    49  chdir             Host  path::chdir           [Str];
    50  fchdir            Host  path::fchdir          [Fd];
    51  chroot            Host  path::chroot          [Str];
    52  fchmod            Host  path::fchmod          [Fd, Oct];
    53  fchmodat          Host  path::fchmodat        [Fd, Str, Oct];
    56  openat            Host  fs::openat            [Fd, Str, X, Oct];
    57  close             Host  fs::close             [Fd];
    59  pipe2             Host  path::pipe2           [Ptr, X];
    61  getdents64        Host  path::getdents64      [Fd, Ptr, D];
    62  lseek             Host  fs::lseek             [Fd, D, D];
    63  read              Host  fs::read              [Fd, Ptr, D];
    64  write             Host  fs::write             [Fd, WBuf, D];
    65  readv             Host  fs::readv             [Fd, Ptr, D];
    66  writev            Host  fs::writev            [Fd, Ptr, D];
    67  pread64           Host  fs::pread64           [Fd, Ptr, D, D];
    68  pwrite64          Host  fs::pwrite64          [Fd, WBuf, D, D];
    69  preadv            Host  fs::preadv            [Fd, Ptr, D, D];
    70  pwritev           Host  fs::pwritev           [Fd, Ptr, D, D];
    78  readlinkat        Host  path::readlinkat      [Fd, Str, Ptr, D];
    79  newfstatat        Host  fs::newfstatat        [Fd, Str, Ptr, X];
    80  fstat             Host  fs::fstat             [Fd, Ptr];
    82  fsync             Host  path::fsync           [Fd];
    83  fdatasync         Host  path::fdatasync       [Fd];
    88  utimensat         Host  path::utimensat       [Fd, Str, Ptr, X];
    93  exit              Host  process::exit         [D];
    94  exit_group        Host  process::exit_group   [D];
    96  set_tid_address   Guest ids::set_tid_address  [Ptr];
    98  futex             Guest futex::futex          [Ptr, D, D, Ptr, Ptr, D];
    99  set_robust_list   Guest ids::set_robust_list  [Ptr, D];
    113 clock_gettime     Guest info::clock_gettime   [D, Ptr];
    114 clock_getres      Guest info::clock_getres    [D, Ptr];
    124 sched_yield       Guest ids::sched_yield      [];
    129 kill              Guest signal::kill          [D, D];
    130 tkill             Guest signal::tkill         [D, D];
    131 tgkill            Guest signal::tgkill        [D, D, D];
    132 sigaltstack       Guest signal::sigaltstack   [Ptr, Ptr];
    133 rt_sigsuspend     Guest signal::rt_sigsuspend [Ptr, D];
    134 rt_sigaction      Guest signal::rt_sigaction  [D, Ptr, Ptr, D];
    135 rt_sigprocmask    Guest signal::rt_sigprocmask [D, Ptr, Ptr, D];
    136 rt_sigpending     Guest signal::rt_sigpending [Ptr, D];
    137 rt_sigtimedwait   Guest signal::rt_sigtimedwait [Ptr, Ptr, Ptr, D];
    138 rt_sigqueueinfo   Guest signal::rt_sigqueueinfo [D, D, Ptr];
    139 rt_sigreturn      Guest signal::rt_sigreturn  [];
    160 uname             Guest info::uname           [Ptr];
    163 getrlimit         Guest ids::getrlimit        [D, Ptr];
    164 setrlimit         Guest ids::setrlimit        [D, Ptr];
    166 umask             Host  path::umask           [Oct];
    169 gettimeofday      Guest info::gettimeofday    [Ptr, Ptr];
    172 getpid            Guest ids::getpid           [];
    173 getppid           Guest ids::getppid          [];
    174 getuid            Guest ids::getuid           [];
    175 geteuid           Guest ids::geteuid          [];
    176 getgid            Guest ids::getgid           [];
    177 getegid           Guest ids::getegid          [];
    178 gettid            Guest ids::gettid           [];
    214 brk               Guest mm::brk               [X];
    215 munmap            Guest mm::munmap            [X, D];
    222 mmap              Guest mm::mmap              [X, D, X, X, Fd, X];
    226 mprotect          Guest mm::mprotect          [X, D, X];
    233 madvise           Guest mm::madvise           [X, D, D];
    261 prlimit64         Guest ids::prlimit64        [D, D, Ptr, Ptr];
    276 renameat2         Host  path::renameat2       [Fd, Str, Fd, Str, X];
    278 getrandom         Guest info::getrandom       [Ptr, D, X];
    291 statx             Host  path::statx           [Fd, Str, X, X, Ptr];
    436 close_range       Host  path::close_range     [Fd, Fd, X];
    439 faccessat2        Host  path::faccessat2      [Fd, Str, Oct, X];
}

pub fn lookup(nr: u64) -> Option<&'static Entry> {
    TABLE.get(usize::try_from(nr).ok()?)?.as_ref()
}
