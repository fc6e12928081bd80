//! The syscall table: number, name, where it is served, how strace shows its arguments, and
//! the handler. Anything absent returns -ENOSYS (counted and traced like the rest).
//! docs/syscalls.md is generated from this table by scripts/syscall-doc.

use super::trace::Arg::{self, *};
use super::{
    epoll, exec, fs, fs_attrs, fs_ctl, fs_extra, futex, ids, info, ipc, misc, mm, mqueue, net, notify, pidfd, poll,
    process, ptrace, seccomp, splice, time, Handler,
};
use crate::signal::signalfd::{signalfd, signalfd4};
use crate::signal::syscalls as sig;

/// Where a syscall is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Served {
    /// Entirely inside the guest kernel.
    Guest,
    /// Forwarded to the host monitor.
    Host,
    /// In the guest when it can be (e.g. a no-op case), else forwarded.
    Both,
}

pub struct Entry {
    pub name: &'static str,
    /// Documentation for now: scripts/syscall-doc reads it from this file.
    #[allow(dead_code)]
    pub served: Served,
    pub args: &'static [Arg],
    pub handler: Handler,
}

const SLOTS: usize = crate::stats::SLOTS;

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
    0   read              Both  fs::read              [Fd, RBuf, D];
    1   write             Both  fs::write             [Fd, WBuf, D];
    2   open              Host  fs::open              [Str, OFlags, OMode];
    3   close             Both  fs::close             [Fd];
    4   stat              Host  fs::stat              [Str, StatOut];
    5   fstat             Host  fs::fstat             [Fd, StatOut];
    6   lstat             Host  fs::lstat             [Str, StatOut];
    7   poll              Host  poll::poll            [Ptr, D, D];
    8   lseek             Host  fs::lseek             [Fd, D, Whence];
    9   mmap              Both  mm::mmap              [Ptr, D, Prot, MapFlags, Fd, Off];
    10  mprotect          Guest mm::mprotect          [Ptr, D, Prot];
    11  munmap            Both  mm::munmap            [Ptr, D];
    12  brk               Guest mm::brk               [Ptr];
    13  rt_sigaction      Guest sig::rt_sigaction     [Sig, SigAct, SigActOut, D];
    14  rt_sigprocmask    Guest sig::rt_sigprocmask   [SigHow, SigSet, SigSetOut, D];
    15  rt_sigreturn      Guest sig::rt_sigreturn     [SigreturnMask];
    16  ioctl             Host  fs_ctl::ioctl         [Fd, Ioctl, IoctlData];
    17  pread64           Both  fs::pread64           [Fd, RBuf, D, D];
    18  pwrite64          Both  fs::pwrite64          [Fd, WBuf, D, D];
    19  readv             Host  fs::readv             [Fd, Ptr, D];
    20  writev            Host  fs::writev            [Fd, Ptr, D];
    21  access            Host  fs::access            [Str, Access];
    22  pipe              Host  fs::pipe              [FdPair];
    23  select            Host  poll::select          [D, Ptr, Ptr, Ptr, Ptr];
    24  sched_yield       Guest ids::sched_yield      [];
    25  mremap            Guest mm::mremap            [Ptr, D, D, X, Ptr];
    26  msync             Both  mm::msync             [X, D, X];
    27  mincore           Guest mm::mincore           [X, D, Ptr];
    28  madvise           Both  mm::madvise           [Ptr, D, Advice];
    29  shmget            Host  ipc::shmget           [X, D, Oct];
    30  shmat             Both  ipc::shmat            [D, X, X];
    31  shmctl            Host  ipc::shmctl           [D, D, Ptr];
    32  dup               Host  fs::dup               [Fd];
    33  dup2              Host  fs::dup2              [Fd, Fd];
    34  pause             Guest sig::pause            [];
    35  nanosleep         Both  time::nanosleep       [Timespec, TimespecOut];
    36  getitimer         Both  sig::getitimer        [D, Ptr];
    37  alarm             Guest sig::alarm            [D];
    38  setitimer         Both  sig::setitimer        [D, Ptr, Ptr];
    39  getpid            Guest ids::getpid           [];
    40  sendfile          Host  fs_extra::sendfile    [Fd, Fd, Ptr, D];
    41  socket            Host  net::socket           [Family, SockType, Proto];
    42  connect           Host  net::connect          [Fd, SockAddr, D];
    43  accept            Host  net::accept           [Fd, SockAddrOut, SockLen];
    44  sendto            Host  net::sendto           [Fd, WBuf, D, X, SockAddr, D];
    45  recvfrom          Host  net::recvfrom         [Fd, RBuf, D, X, SockAddrOut, SockLen];
    46  sendmsg           Host  net::sendmsg          [Fd, Ptr, X];
    47  recvmsg           Host  net::recvmsg          [Fd, Ptr, X];
    48  shutdown          Host  net::shutdown         [Fd, Shutdown];
    49  bind              Host  net::bind             [Fd, SockAddr, D];
    50  listen            Host  net::listen           [Fd, D];
    51  getsockname       Host  net::getsockname      [Fd, SockAddrOut, SockLen];
    52  getpeername       Host  net::getpeername      [Fd, SockAddrOut, SockLen];
    53  socketpair        Host  net::socketpair       [Family, SockType, Proto, FdPair];
    54  setsockopt        Host  net::setsockopt       [Fd, D, D, Ptr, D];
    55  getsockopt        Host  net::getsockopt       [Fd, D, D, Ptr, Ptr];
    56  clone             Host  process::clone        [Clone];
    57  fork              Host  process::fork         [];
    58  vfork             Host  process::vfork        [];
    59  execve            Both  exec::execve          [Str, Argv, Envp];
    60  exit              Guest process::exit         [D];
    61  wait4             Host  process::wait4        [I, WStatus, WaitOpts, Ptr];
    62  kill              Both  sig::kill             [I, Sig];
    63  uname             Guest ids::uname            [UtsOut];
    64  semget            Host  ipc::semget           [X, D, Oct];
    65  semop             Host  ipc::semop            [D, Ptr, D];
    66  semctl            Host  ipc::semctl           [D, D, D, X];
    67  shmdt             Guest ipc::shmdt            [X];
    68  msgget            Host  ipc::msgget           [X, Oct];
    69  msgsnd            Host  ipc::msgsnd           [D, Ptr, D, X];
    70  msgrcv            Host  ipc::msgrcv           [D, Ptr, D, D, X];
    71  msgctl            Host  ipc::msgctl           [D, D, Ptr];
    72  fcntl             Host  fs_ctl::fcntl         [Fd, Fcntl, FcntlData];
    73  flock             Host  fs_ctl::flock         [Fd, D];
    74  fsync             Host  fs::fsync             [Fd];
    75  fdatasync         Host  fs::fdatasync         [Fd];
    76  truncate          Host  fs::truncate          [Str, D];
    77  ftruncate         Host  fs::ftruncate         [Fd, D];
    78  getdents          Host  fs::getdents          [Fd, Ptr, D];
    79  getcwd            Host  fs::getcwd            [RStr, D];
    80  chdir             Host  fs::chdir             [Str];
    81  fchdir            Host  fs::fchdir            [Fd];
    82  rename            Host  fs::rename            [Str, Str];
    83  mkdir             Host  fs::mkdir             [Str, Oct];
    84  rmdir             Host  fs::rmdir             [Str];
    85  creat             Host  fs::creat             [Str, Oct];
    86  link              Host  fs_attrs::link        [Str, Str];
    87  unlink            Host  fs::unlink            [Str];
    88  symlink           Host  fs::symlink           [Str, Str];
    89  readlink          Host  fs::readlink          [Str, RBuf, D];
    90  chmod             Host  fs::chmod             [Str, Oct];
    91  fchmod            Host  fs::fchmod            [Fd, Oct];
    92  chown             Host  fs_attrs::chown       [Str, D, D];
    93  fchown            Host  fs_attrs::fchown      [Fd, D, D];
    94  lchown            Host  fs_attrs::lchown      [Str, D, D];
    95  umask             Host  fs::umask             [Oct];
    96  gettimeofday      Guest time::gettimeofday    [Ptr, Ptr];
    97  getrlimit         Guest ids::getrlimit        [Rlimit, RlimitOut];
    98  getrusage         Host  info::getrusage       [D, Ptr];
    99  sysinfo           Host  info::sysinfo         [Ptr];
    100 times             Host  info::times           [Ptr];
    101 ptrace            Host  ptrace::ptrace        [X, I, X, X];
    102 getuid            Guest ids::getuid           [];
    104 getgid            Guest ids::getgid           [];
    107 geteuid           Guest ids::geteuid          [];
    108 getegid           Guest ids::getegid          [];
    109 setpgid           Host  info::setpgid         [D, D];
    110 getppid           Guest ids::getppid          [];
    111 getpgrp           Host  info::getpgrp         [];
    112 setsid            Host  info::setsid          [];
    105 setuid            Host  ids::setuid           [D];
    106 setgid            Host  ids::setgid           [D];
    113 setreuid          Host  ids::setreuid         [D, D];
    114 setregid          Host  ids::setregid         [D, D];
    115 getgroups         Both  info::getgroups       [D, Ptr];
    116 setgroups         Host  ids::setgroups        [D, Ptr];
    117 setresuid         Host  ids::setresuid        [D, D, D];
    118 getresuid         Guest ids::getresuid        [Ptr, Ptr, Ptr];
    119 setresgid         Host  ids::setresgid        [D, D, D];
    120 getresgid         Guest ids::getresgid        [Ptr, Ptr, Ptr];
    121 getpgid           Host  info::getpgid         [D];
    122 setfsuid          Host  ids::setfsuid         [D];
    123 setfsgid          Host  ids::setfsgid         [D];
    124 getsid            Host  info::getsid          [D];
    125 capget            Both  ids::capget           [Ptr, Ptr];
    126 capset            Host  ids::capset           [Ptr, Ptr];
    127 rt_sigpending      Guest sig::rt_sigpending    [SigSetOut, D];
    128 rt_sigtimedwait    Both sig::rt_sigtimedwait  [SigSet, SigInfoOut, Timespec, D];
    129 rt_sigqueueinfo    Guest sig::rt_sigqueueinfo  [D, Sig, SigInfo];
    130 rt_sigsuspend      Both sig::rt_sigsuspend    [SigSet, D];
    131 sigaltstack       Guest sig::sigaltstack      [Ptr, Ptr];
    132 utime             Host  fs_attrs::utime       [Str, Ptr];
    133 mknod             Host  fs::mknod             [Str, Oct, X];
    135 personality       Guest misc::personality     [X];
    137 statfs            Host  fs_extra::statfs      [Str, Ptr];
    138 fstatfs           Host  fs_extra::fstatfs     [Fd, Ptr];
    140 getpriority       Host  info::getpriority     [D, D];
    141 setpriority       Host  info::setpriority     [D, D, D];
    142 sched_setparam    Host  ids::sched_setparam   [D, Ptr];
    143 sched_getparam    Host  ids::sched_getparam   [D, Ptr];
    144 sched_setscheduler Host ids::sched_setscheduler [D, D, Ptr];
    145 sched_getscheduler Host ids::sched_getscheduler [D];
    146 sched_get_priority_max Guest ids::sched_get_priority_max [D];
    147 sched_get_priority_min Guest ids::sched_get_priority_min [D];
    148 sched_rr_get_interval Host ids::sched_rr_get_interval [D, Ptr];
    149 mlock             Guest misc::mlock           [X, D];
    150 munlock           Guest misc::munlock         [X, D];
    151 mlockall          Guest misc::mlockall        [X];
    152 munlockall        Guest misc::munlockall      [];
    157 prctl             Guest ids::prctl            [PrctlOption, X, X, X, X];
    158 arch_prctl        Guest ids::arch_prctl       [ArchCode, X];
    159 adjtimex          Host  time::adjtimex        [Ptr];
    160 setrlimit         Guest ids::setrlimit        [Rlimit, RlimitIn];
    161 chroot            Host  fs::chroot            [Str];
    162 sync              Host  fs::sync              [];
    164 settimeofday      Host  time::settimeofday    [Ptr, Ptr];
    186 gettid            Guest ids::gettid           [];
    188 setxattr          Host  fs_extra::setxattr    [Str, Str, Ptr, D, X];
    189 lsetxattr         Host  fs_extra::lsetxattr   [Str, Str, Ptr, D, X];
    190 fsetxattr         Host  fs_extra::fsetxattr   [Fd, Str, Ptr, D, X];
    191 getxattr          Host  fs_attrs::getxattr    [Str, Str, Ptr, D];
    192 lgetxattr         Host  fs_attrs::lgetxattr   [Str, Str, Ptr, D];
    193 fgetxattr         Host  fs_attrs::fgetxattr   [Fd, Str, Ptr, D];
    194 listxattr         Host  fs_attrs::listxattr   [Str, Ptr, D];
    195 llistxattr        Host  fs_attrs::llistxattr  [Str, Ptr, D];
    196 flistxattr        Host  fs_attrs::flistxattr  [Fd, Ptr, D];
    197 removexattr       Host  fs_extra::removexattr [Str, Str];
    198 lremovexattr      Host  fs_extra::lremovexattr [Str, Str];
    199 fremovexattr      Host  fs_extra::fremovexattr [Fd, Str];
    200 tkill             Guest sig::tkill            [I, Sig];
    201 time              Guest time::time            [Ptr];
    202 futex             Both futex::futex            [X, D, D, Ptr, X, D];
    203 sched_setaffinity Host  ids::sched_setaffinity [D, D, Ptr];
    204 sched_getaffinity Host  ids::sched_getaffinity [D, D, Ptr];
    213 epoll_create      Host  epoll::epoll_create   [D];
    217 getdents64        Host  fs::getdents64        [Fd, Ptr, D];
    218 set_tid_address   Guest ids::set_tid_address  [X];
    220 semtimedop        Host  ipc::semtimedop       [D, Ptr, D, Ptr];
    221 fadvise64         Host  fs_extra::fadvise64   [Fd, D, D, D];
    222 timer_create      Both  sig::timer_create     [D, Ptr, Ptr];
    223 timer_settime     Both  sig::timer_settime    [D, D, Ptr, Ptr];
    224 timer_gettime     Both  sig::timer_gettime    [D, Ptr];
    225 timer_getoverrun  Both  sig::timer_getoverrun [D];
    226 timer_delete      Both  sig::timer_delete     [D];
    227 clock_settime     Host  time::clock_settime   [Clock, Timespec];
    228 clock_gettime     Both  time::clock_gettime   [Clock, TimespecOut];
    229 clock_getres      Both  time::clock_getres    [Clock, TimespecOut];
    230 clock_nanosleep   Both  time::clock_nanosleep [Clock, TimerFlags, Timespec, TimespecOut];
    231 exit_group        Guest process::exit_group   [D];
    232 epoll_wait        Host  epoll::epoll_wait     [Fd, Ptr, D, D];
    233 epoll_ctl         Host  epoll::epoll_ctl      [Fd, D, Fd, Ptr];
    234 tgkill            Guest sig::tgkill           [I, I, Sig];
    235 utimes            Host  fs_attrs::utimes      [Str, Ptr];
    240 mq_open           Host  mqueue::mq_open       [Str, X, Oct, Ptr];
    241 mq_unlink         Host  mqueue::mq_unlink     [Str];
    242 mq_timedsend      Host  mqueue::mq_timedsend  [Fd, WBuf, D, D, Ptr];
    243 mq_timedreceive   Host  mqueue::mq_timedreceive [Fd, Ptr, D, Ptr, Ptr];
    244 mq_notify         Host  mqueue::mq_notify     [Fd, Ptr];
    245 mq_getsetattr     Host  mqueue::mq_getsetattr [Fd, Ptr, Ptr];
    247 waitid            Host  process::waitid       [D, D, Ptr, X, Ptr];
    251 ioprio_set        Host  info::ioprio_set      [D, D, X];
    252 ioprio_get        Host  info::ioprio_get      [D, D];
    253 inotify_init      Host  notify::inotify_init  [];
    254 inotify_add_watch Host  notify::inotify_add_watch [Fd, Str, X];
    255 inotify_rm_watch  Host  notify::inotify_rm_watch [Fd, D];
    257 openat            Host  fs::openat            [DirFd, Str, OFlags, OMode];
    258 mkdirat           Host  fs::mkdirat           [DirFd, Str, Oct];
    259 mknodat           Host  fs::mknodat           [DirFd, Str, Oct, X];
    260 fchownat          Host  fs_attrs::fchownat    [DirFd, Str, D, D, AtFlags];
    261 futimesat         Host  fs_attrs::futimesat   [DirFd, Str, Ptr];
    262 newfstatat        Host  fs::newfstatat        [DirFd, Str, StatOut, AtFlags];
    263 unlinkat          Host  fs::unlinkat          [DirFd, Str, AtFlags];
    264 renameat          Host  fs::renameat          [DirFd, Str, DirFd, Str];
    265 linkat            Host  fs_attrs::linkat      [DirFd, Str, DirFd, Str, AtFlags];
    266 symlinkat         Host  fs::symlinkat         [Str, DirFd, Str];
    267 readlinkat        Host  fs::readlinkat        [DirFd, Str, RBuf, D];
    268 fchmodat          Host  fs::fchmodat          [DirFd, Str, Oct];
    269 faccessat         Host  fs::faccessat         [DirFd, Str, Access];
    270 pselect6          Host  poll::pselect6        [D, Ptr, Ptr, Ptr, Ptr, Ptr];
    271 ppoll             Host  poll::ppoll           [Ptr, D, Ptr, Ptr, D];
    273 set_robust_list   Guest ids::set_robust_list  [Ptr, D];
    274 get_robust_list   Both  ids::get_robust_list  [D, Ptr, Ptr];
    275 splice            Host  splice::splice        [Fd, Ptr, Fd, Ptr, D, X];
    276 tee               Host  splice::tee           [Fd, Fd, D, X];
    277 sync_file_range   Host  fs_extra::sync_file_range [Fd, D, D, X];
    278 vmsplice          Host  splice::vmsplice      [Fd, Ptr, D, X];
    280 utimensat         Host  fs_attrs::utimensat   [DirFd, Str, Ptr, AtFlags];
    281 epoll_pwait       Host  epoll::epoll_pwait    [Fd, Ptr, D, D, Ptr, D];
    282 signalfd          Guest signalfd              [Fd, Ptr, D];
    283 timerfd_create    Host  epoll::timerfd_create [D, X];
    284 eventfd           Host  epoll::eventfd        [D];
    285 fallocate         Host  fs_extra::fallocate   [Fd, X, D, D];
    286 timerfd_settime   Host  epoll::timerfd_settime [Fd, X, Ptr, Ptr];
    287 timerfd_gettime   Host  epoll::timerfd_gettime [Fd, Ptr];
    288 accept4           Host  net::accept4          [Fd, SockAddrOut, SockLen, X];
    289 signalfd4         Guest signalfd4             [Fd, Ptr, D, X];
    290 eventfd2          Host  epoll::eventfd2       [D, X];
    291 epoll_create1     Host  epoll::epoll_create1  [X];
    292 dup3              Host  fs::dup3              [Fd, Fd, CloexecFlags];
    293 pipe2             Host  fs::pipe2             [FdPair, CloexecFlags];
    294 inotify_init1     Host  notify::inotify_init1 [X];
    295 preadv            Host  fs::preadv            [Fd, Ptr, D, D];
    296 pwritev           Host  fs::pwritev           [Fd, Ptr, D, D];
    297 rt_tgsigqueueinfo Guest sig::rt_tgsigqueueinfo [D, D, Sig, SigInfo];
    299 recvmmsg          Host  net::recvmmsg         [Fd, Ptr, D, X, Ptr];
    302 prlimit64         Guest ids::prlimit64        [D, Rlimit, RlimitIn, RlimitOut];
    305 clock_adjtime     Both  time::clock_adjtime   [Clock, Ptr];
    306 syncfs            Host  fs::syncfs            [Fd];
    307 sendmmsg          Host  net::sendmmsg         [Fd, Ptr, D, X];
    309 getcpu            Guest misc::getcpu          [Ptr, Ptr, Ptr];
    310 process_vm_readv  Host  ptrace::process_vm_readv [I, Ptr, D, Ptr, D, X];
    311 process_vm_writev Host  ptrace::process_vm_writev [I, Ptr, D, Ptr, D, X];
    316 renameat2         Host  fs::renameat2         [DirFd, Str, DirFd, Str, X];
    317 seccomp           Guest seccomp::seccomp      [SeccompOp, X, SeccompArgs];
    318 getrandom         Guest ids::getrandom        [RHex, D, RandomFlags];
    319 memfd_create      Host  fs_extra::memfd_create [Str, X];
    322 execveat          Both  exec::execveat        [DirFd, Str, Argv, Envp, AtFlags];
    324 membarrier        Guest mm::membarrier        [X, X, D];
    325 mlock2            Guest misc::mlock2          [X, D, X];
    326 copy_file_range   Host  fs_extra::copy_file_range [Fd, Ptr, Fd, Ptr, D, X];
    327 preadv2           Host  fs::preadv2           [Fd, Ptr, D, D, D, X];
    328 pwritev2          Host  fs::pwritev2          [Fd, Ptr, D, D, D, X];
    332 statx             Host  fs::statx             [DirFd, Str, AtFlags, X, Ptr];
    334 rseq              Guest ids::rseq             [Ptr, X, D, X];
    424 pidfd_send_signal Both  pidfd::pidfd_send_signal [Fd, D, Ptr, X];
    434 pidfd_open        Host  pidfd::pidfd_open     [D, X];
    435 clone3            Host  process::clone3       [Clone3, D];
    436 close_range       Host  fs_extra::close_range [D, D, X];
    438 pidfd_getfd       Host  pidfd::pidfd_getfd    [Fd, D, X];
    439 faccessat2        Host  fs::faccessat2        [DirFd, Str, Access, AccessAt];
    441 epoll_pwait2      Host  epoll::epoll_pwait2   [Fd, Ptr, D, Ptr, Ptr, D];
    449 futex_waitv       Both  futex::futex_waitv    [Ptr, D, X, Ptr, D];
}

pub fn lookup(nr: u64) -> Option<&'static Entry> {
    TABLE.get(nr as usize).and_then(|e| e.as_ref())
}
