//! The task layer: a process and (from the next step on) its threads. It owns what Linux
//! keeps in `task_struct` and `signal_struct` for us: ids, credentials, resource limits,
//! the program's file and name, the umask, the dumpable flag, the clear-child-tid and
//! robust-list pointers, and the descriptor table (fdtable.rs: each fd's kind). The
//! syscalls that read or change these live in syscall/ids.rs and call down here; the
//! layers above (signal, fs/procfs, loader) read them here too. The memory layer below
//! is told what it needs (the stack limit) rather than asking.
//!
//! Shape: a `Process` (shared by all its threads) and a `Thread` (one per user thread,
//! pointing at its process). Today there is one of each, in statics; `current()` finds
//! the running thread through the per-vCPU page (crate::percpu), so that once clone makes
//! threads, each vCPU runs its own `Thread` of the same `Process`. Every field is an
//! atomic or sits behind a `spin::Mutex`, so the structures are already safe to share
//! between vCPUs; the hot accessors (`pid`, `uid`...) are relaxed atomic loads, with no
//! lock and no allocation.
//!
//! The signal state lives here too (signals.rs: the data and its queue); signal/ delivers
//! signals, builds frames and serves the signal syscalls on top of it.

pub mod cpu_clock;
pub mod creds;
mod exe;
pub mod exit;
pub mod fdtable;
pub mod fork_gate;
pub mod futex;
pub mod futex_queue;
mod limits;
pub mod percpu;
pub mod seccomp;
pub mod seccomp_bpf;
pub mod siginfo;
pub mod signals;
pub mod threads;
mod uts;

use core::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use spin::Mutex;

use alloc::vec::Vec;

use abi_shared::hypercall::Startup;

pub use exe::{exe_path, set_exe};
pub use limits::{rlimit, rlimit_soft, rlimits, set_rlimit, LimitError, Limits};
use signals::{SignalState, ThreadSignals};
pub use uts::{hostname, kernel_release, kernel_version, uts_fields};

/// TASK_COMM_LEN: the thread name, NUL included.
pub const COMM_LEN: usize = 16;

/// What all threads of a program share.
pub struct Process {
    pid: AtomicU32,
    ppid: AtomicU32,
    limits: Limits,
    /// The file mode creation mask, as the host process has it too (umask is forwarded:
    /// the host creates the files); kept here so reading it costs no hypercall.
    umask: AtomicU32,
    /// prctl PR_SET_DUMPABLE's value (SUID_DUMP_USER at exec).
    dumpable: AtomicU32,
    /// How many CPUs the process may run on (sched_getaffinity, /proc).
    cpus: AtomicU32,
    /// Dispositions, the blocked mask, pending signals (signals.rs).
    signals: Mutex<SignalState>,
    /// Threads alive (the last one's exit ends the process).
    threads: AtomicU32,
    /// The membarrier registrations (MEMBARRIER_CMD_REGISTER_* bits); Linux keeps them
    /// with the memory, so a fork's child and a new image start with none.
    membarrier: AtomicU32,
}

/// One thread of a process.
pub struct Thread {
    process: &'static Process,
    tid: AtomicU32,
    /// The thread's credentials (Linux's are per thread; creds.rs).
    creds: creds::Credentials,
    /// CLONE_CHILD_CLEARTID's address, as set_tid_address sets it.
    clear_child_tid: AtomicU64,
    /// set_robust_list's head.
    robust_list: AtomicU64,
    /// The thread's name (prctl PR_SET_NAME/PR_GET_NAME), NUL-padded.
    comm: Mutex<[u8; COMM_LEN]>,
    /// prctl PR_SET_PDEATHSIG's signal (kept and reported; nothing delivers it yet).
    pdeathsig: AtomicU32,
    /// The vCPU that runs this thread (its index; 0 for the first thread).
    vcpu: AtomicU32,
    /// How a new thread enters user mode (threads.rs), taken by its first kernel code.
    start: Mutex<Option<threads::ThreadStart>>,
    /// The blocked mask, thread-directed pending signals, the alternate stack (signals.rs).
    signals: Mutex<ThreadSignals>,
    /// The syscall that just failed with EINTR because a signal interrupted the host call
    /// behind it (u64::MAX: none); signal/ decides at delivery whether it runs again.
    interrupted_syscall: AtomicU64,
    /// seccomp's mode, filters and no_new_privs (seccomp.rs).
    seccomp: seccomp::State,
}

const RLIM_INFINITY: u64 = u64::MAX;

static MAIN_PROCESS: Process = Process {
    pid: AtomicU32::new(1),
    ppid: AtomicU32::new(0),
    limits: Limits::new(),
    umask: AtomicU32::new(0o022),
    dumpable: AtomicU32::new(1),
    cpus: AtomicU32::new(1),
    signals: Mutex::new(SignalState::new()),
    threads: AtomicU32::new(1),
    membarrier: AtomicU32::new(0),
};

/// The program's first (and so far only) thread.
static MAIN_THREAD: Thread = Thread {
    process: &MAIN_PROCESS,
    tid: AtomicU32::new(1),
    creds: creds::Credentials::new(),
    clear_child_tid: AtomicU64::new(0),
    robust_list: AtomicU64::new(0),
    comm: Mutex::new([0; COMM_LEN]),
    pdeathsig: AtomicU32::new(0),
    vcpu: AtomicU32::new(0),
    start: Mutex::new(None),
    signals: Mutex::new(ThreadSignals::new()),
    interrupted_syscall: AtomicU64::new(u64::MAX),
    seccomp: seccomp::State::new(),
};

/// The process's first thread (vCPU 0's).
pub fn main_thread() -> &'static Thread {
    &MAIN_THREAD
}

/// The thread this vCPU runs.
#[inline]
pub fn current() -> &'static Thread {
    percpu::current_thread().unwrap_or(&MAIN_THREAD)
}

/// The process of the running thread.
#[inline]
pub fn process() -> &'static Process {
    current().process
}

/// The signal state of the running thread's process.
#[inline]
pub fn signals() -> &'static Mutex<SignalState> {
    &process().signals
}

impl Thread {
    /// This thread's part of the signal state (lock it after the process's, if both).
    pub fn signals(&self) -> &Mutex<ThreadSignals> {
        &self.signals
    }

    /// seccomp's state of this thread.
    pub fn seccomp(&self) -> &seccomp::State {
        &self.seccomp
    }

    pub fn tid(&self) -> i32 {
        self.tid.load(Ordering::Relaxed) as i32
    }

    /// The thread's name without its NUL padding.
    pub fn comm(&self) -> Vec<u8> {
        let comm = *self.comm.lock();
        comm[..comm.iter().position(|&b| b == 0).unwrap_or(COMM_LEN)].to_vec()
    }

    /// Rename the thread (prctl PR_SET_NAME by itself, or a write to its /proc comm file).
    pub fn set_comm(&self, comm: [u8; COMM_LEN]) {
        *self.comm.lock() = comm;
    }

    /// The index of the vCPU that runs it.
    pub fn vcpu(&self) -> u32 {
        self.vcpu.load(Ordering::Relaxed)
    }

    /// Whether this is the thread running on this vCPU.
    pub fn is_current(&self) -> bool {
        core::ptr::eq(self, current())
    }
}

/// The running thread's syscall `nr` failed with EINTR because of a signal.
pub fn note_interrupted_syscall(nr: u64) {
    current().interrupted_syscall.store(nr, Ordering::Relaxed);
}

/// The syscall noted as interrupted, if any, left in place.
pub fn peek_interrupted_syscall() -> Option<u64> {
    match current().interrupted_syscall.load(Ordering::Relaxed) {
        u64::MAX => None,
        nr => Some(nr),
    }
}

/// The syscall a signal interrupted, if any (taken: asked once per return to user mode).
#[inline]
pub fn take_interrupted_syscall() -> Option<u64> {
    let slot = &current().interrupted_syscall;
    // A plain load first: this runs on every return to user mode, and the store is only
    // needed in the rare case that a syscall was interrupted.
    match slot.load(Ordering::Relaxed) {
        u64::MAX => None,
        nr => {
            slot.store(u64::MAX, Ordering::Relaxed);
            Some(nr)
        }
    }
}

/// The startup block's ids, limits, umask and names; this vCPU runs the main thread.
pub fn init(s: &Startup) {
    percpu::set_current_thread(&MAIN_THREAD);
    let p = process();
    p.pid.store(s.pid as u32, Ordering::Relaxed);
    p.ppid.store(s.ppid as u32, Ordering::Relaxed);
    current().tid.store(s.pid as u32, Ordering::Relaxed);
    current().creds.init(s.uid, s.euid, s.gid, s.egid);
    p.umask.store(s.umask & 0o777, Ordering::Relaxed);
    p.cpus.store(s.cpu_count.max(1), Ordering::Relaxed);
    for &(res, soft, hard) in &s.rlimits {
        p.limits.init(res, soft, hard);
    }
    uts::init(&s.hostname, &s.kernel_release, &s.kernel_version);
    set_exec(&s.exec_path);
    // Linux names the process after the file execve was given: a script's own name.
    set_comm_from_path(&s.filename);
}

/// A forked child: its own pid (and, as the main thread, tid), and its parent's.
pub fn become_child(parent: i32, pid: i32) {
    crate::stats::forget_unimplemented();
    let p = process();
    p.membarrier.store(0, Ordering::Relaxed);
    p.pid.store(pid as u32, Ordering::Relaxed);
    p.ppid.store(parent as u32, Ordering::Relaxed);
    current().tid.store(pid as u32, Ordering::Relaxed);
}

/// A new program image from `path` (the path it was executed by): Linux names the thread
/// after the file's base name, makes the process dumpable and forgets the old
/// /proc/self/exe.
pub fn set_exec(path: &[u8]) {
    set_comm_from_path(path);
    process().dumpable.store(1, Ordering::Relaxed);
    process().membarrier.store(0, Ordering::Relaxed);
    set_exe(path);
}

/// execve: the old image's set_tid_address and robust-list pointers mean nothing in the
/// new one (Linux clears them in exec_mm_release).
pub fn forget_thread_pointers() {
    let t = current();
    t.clear_child_tid.store(0, Ordering::Relaxed);
    t.robust_list.store(0, Ordering::Relaxed);
}

#[inline]
pub fn pid() -> i32 {
    process().pid.load(Ordering::Relaxed) as i32
}

#[inline]
pub fn ppid() -> i32 {
    process().ppid.load(Ordering::Relaxed) as i32
}

#[inline]
pub fn tid() -> i32 {
    current().tid.load(Ordering::Relaxed) as i32
}

#[inline]
pub fn uid() -> u32 {
    current().creds.uid()
}

#[inline]
pub fn euid() -> u32 {
    current().creds.euid()
}

#[inline]
pub fn gid() -> u32 {
    current().creds.gid()
}

#[inline]
pub fn egid() -> u32 {
    current().creds.egid()
}

/// The running thread's (uid, euid, gid, egid).
pub fn credentials() -> (u32, u32, u32, u32) {
    (uid(), euid(), gid(), egid())
}

pub fn cpu_count() -> u32 {
    process().cpus.load(Ordering::Relaxed)
}

/// The CPU getcpu reports for the running thread: its vCPU index folded into the CPU
/// count. Linux's answer is always below the number of possible CPUs (programs index
/// per-CPU arrays with it), and a program may have more threads than the host has CPUs.
pub fn current_cpu() -> u32 {
    crate::percpu::cpu_index() % cpu_count().max(1)
}

pub fn umask() -> u32 {
    process().umask.load(Ordering::Relaxed)
}

/// Record the mask the host process now has; returns the old one.
pub fn set_umask(mask: u32) -> u32 {
    process().umask.swap(mask & 0o777, Ordering::Relaxed)
}

/// membarrier's registrations (MEMBARRIER_CMD_REGISTER_* bits).
pub fn membarrier_registrations() -> u32 {
    process().membarrier.load(Ordering::Relaxed)
}

pub fn membarrier_register(cmd: u32) {
    process().membarrier.fetch_or(cmd, Ordering::Relaxed);
}

pub fn dumpable() -> u32 {
    process().dumpable.load(Ordering::Relaxed)
}

pub fn set_dumpable(value: u32) {
    process().dumpable.store(value, Ordering::Relaxed);
}

pub fn pdeathsig() -> u32 {
    current().pdeathsig.load(Ordering::Relaxed)
}

pub fn set_pdeathsig(sig: u32) {
    current().pdeathsig.store(sig, Ordering::Relaxed);
}

/// CLONE_CHILD_CLEARTID's address (as set_tid_address sets it).
pub fn set_clear_child_tid(addr: u64) {
    current().clear_child_tid.store(addr, Ordering::Relaxed);
}

pub fn set_robust_list(head: u64) {
    current().robust_list.store(head, Ordering::Relaxed);
}

impl Thread {
    /// set_robust_list's head (get_robust_list).
    pub fn robust_list(&self) -> u64 {
        self.robust_list.load(Ordering::Relaxed)
    }
}

/// The thread name, NUL-padded (prctl PR_GET_NAME copies all of it).
pub fn comm_padded() -> [u8; COMM_LEN] {
    *current().comm.lock()
}

/// The thread name without its NUL padding.
pub fn comm() -> Vec<u8> {
    current().comm()
}

pub fn set_comm(comm: [u8; COMM_LEN]) {
    current().set_comm(comm);
}

/// The process's name, as /proc/<pid>/comm and stat show it: its first thread's (the
/// thread whose id is the pid), or the caller's once that one has ended.
pub fn process_comm() -> Vec<u8> {
    threads::find(pid()).unwrap_or_else(current).comm()
}

/// Name the thread after the base name of `path` (at most 15 bytes, as Linux's comm).
pub fn set_comm_from_path(path: &[u8]) {
    let base = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
    let mut comm = [0u8; COMM_LEN];
    let n = base.len().min(COMM_LEN - 1);
    comm[..n].copy_from_slice(&base[..n]);
    set_comm(comm);
}
