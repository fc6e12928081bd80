//! ptrace between linuxrun'd processes: the tracee's and the tracer's monitors talk over a
//! SOCK_SEQPACKET connection (docs/debugging.md, "ptrace inside the guest").
//!
//! - **Tracee side**: PTRACE_TRACEME binds an abstract socket named after our host pid
//!   (`linuxrun-ptrace.PID`). At each ptrace-stop the guest's `DebugStop` lands here: the
//!   first one waits for the tracer to connect (checking with SO_PEERCRED that it is our
//!   parent), each one sends `Stop` and rings the tracer's doorbell until it says `Seen`,
//!   then serves its commands until a `Resume`.
//! - **Tracer side**: a doorbell (our thread-kick signal queued by another process with
//!   `PTRACE_DOORBELL`) records the sender's pid and interrupts a host wait the program is
//!   blocked in; the next wait4/waitid/ptrace connects to that pid's socket (checking
//!   with SO_PEERCRED that its owner is that pid), takes its stops, and reports them
//!   before the host's own child events.
//!
//! The doorbell is rung again every `RING_INTERVAL` until the stop is seen: a doorbell that
//! arrives between the tracer's look at its tracees and its entry into the host's wait4
//! would otherwise be lost.

use std::collections::BTreeMap;
use std::os::fd::OwnedFd;

use crate::own_fd::HeldFd;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Mutex;

use abi_shared::debug::{DebugCommand, DebugEvent, PtraceMessage, MAX_PTRACE_MESSAGE, PTRACE_DOORBELL};
use abi_shared::linux::{errno, general};
use rustix::event::{poll, PollFd, PollFlags};
use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketAddrUnix, SocketFlags, SocketType};

use crate::host::LinuxErrno;

/// How often a stopped tracee rings again until its tracer has seen the stop.
const RING_INTERVAL: rustix::time::Timespec = rustix::time::Timespec { tv_sec: 0, tv_nsec: 50_000_000 };

const SIGTRAP: i32 = general::SIGTRAP as i32;
const PTRACE_O_TRACESYSGOOD: u64 = 1;
const PTRACE_O_TRACEEXEC: u64 = 0x10;
const PTRACE_EVENT_FORK: i32 = 1;
const PTRACE_EVENT_VFORK: i32 = 2;
const PTRACE_EVENT_EXEC: i32 = 4;
const PTRACE_EVENT_VFORK_DONE: i32 = 5;
const PTRACE_EVENT_EXIT: i32 = 6;
const PTRACE_EVENT_STOP: i32 = 128;
const PTRACE_O_EXITKILL: u64 = 1 << 20;
/// How long an attach waits for the tracee's monitor to answer (it answers when its guest
/// next returns to user mode or ends a wait: a kick away).
const ATTACH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(3);

/// Pids whose doorbell rang and that the tracer has not looked at yet (the signal handler
/// fills them, so lock-free).
static RUNG: [AtomicI32; 32] = [const { AtomicI32::new(0) }; 32];

/// A doorbell from `pid` (async-signal-safe: atomics only).
pub fn note_doorbell(pid: i32) {
    for slot in &RUNG {
        match slot.compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst) {
            Ok(_) => return,
            Err(p) if p == pid => return,
            Err(_) => {}
        }
    }
}

fn take_rung() -> Vec<i32> {
    RUNG.iter().map(|s| s.swap(0, Ordering::SeqCst)).filter(|&p| p > 0).collect()
}

/// Ring `pid`'s doorbell: our thread-kick signal with the doorbell value.
fn ring(pid: i32) {
    ring_with(pid, PTRACE_DOORBELL);
}

fn socket_name(pid: i32) -> rustix::io::Result<SocketAddrUnix> {
    SocketAddrUnix::new_abstract_name(format!("linuxrun-ptrace.{pid}").as_bytes())
}

/// Where a would-be tracer waits while it wakes stopped process `pid` (`attach_handshake`).
fn attacher_name(pid: i32) -> rustix::io::Result<SocketAddrUnix> {
    SocketAddrUnix::new_abstract_name(format!("linuxrun-attach.{pid}").as_bytes())
}

/// In a process just woken from a stop: whether a would-be tracer woke it (it waits under
/// `attacher_name`, and is one of ours: the same user or root, as may signal us).
pub fn attacher_waiting() -> bool {
    let Ok(fd) = seqpacket() else { return false };
    let Ok(name) = attacher_name(std::process::id() as i32) else { return false };
    if rustix::net::connect(&fd, &name).is_err() {
        return false;
    }
    let Ok(cred) = rustix::net::sockopt::socket_peercred(&fd) else { return false };
    cred.uid.is_root() || cred.uid == rustix::process::getuid()
}

fn seqpacket() -> rustix::io::Result<OwnedFd> {
    rustix::net::socket_with(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
}

fn peer_pid(fd: &OwnedFd) -> Option<i32> {
    rustix::net::sockopt::socket_peercred(fd).ok().map(|c| c.pid.as_raw_nonzero().get())
}

fn send(fd: &OwnedFd, msg: &PtraceMessage) -> bool {
    let Ok(bytes) = postcard::to_allocvec(msg) else { return false };
    loop {
        match rustix::net::send(fd, &bytes, SendFlags::NOSIGNAL) {
            Ok(_) => return true,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return false,
        }
    }
}

/// The next message: `Ok(None)` when none is there yet (`wait` false), `Err` at the end of
/// the connection or on garbage.
fn recv(fd: &OwnedFd, wait: bool) -> Result<Option<PtraceMessage>, ()> {
    let mut buf = vec![0u8; MAX_PTRACE_MESSAGE];
    let flags = if wait { RecvFlags::empty() } else { RecvFlags::DONTWAIT };
    loop {
        match rustix::net::recv(fd, &mut buf[..], flags) {
            Ok((_, 0)) => return Err(()),
            Ok((_, n)) => return postcard::from_bytes(&buf[..n.min(buf.len())]).map(Some).map_err(|_| ()),
            Err(rustix::io::Errno::INTR) => {}
            Err(rustix::io::Errno::AGAIN) if !wait => return Ok(None),
            Err(_) => return Err(()),
        }
    }
}

/// Whether `fd` becomes readable within one ring interval.
fn readable_soon(fd: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(fd, PollFlags::IN)];
    matches!(poll(&mut fds, Some(&RING_INTERVAL)), Ok(n) if n > 0)
}

/// This process traced by its parent (PTRACE_TRACEME).
struct TraceeSide {
    tracer: i32,
    listener: HeldFd,
    conn: Option<HeldFd>,
    /// A followed fork's child: the options and seized state it inherited, told to the
    /// tracer once it connects (`PtraceMessage::Inherited`).
    inherited: Option<(u64, bool)>,
}

/// A stop of a tracee, as its tracer's monitor keeps it.
struct Stop {
    event: DebugEvent,
    regs: Vec<u8>,
    reported: bool,
}

/// A process this one traces.
struct Tracee {
    conn: HeldFd,
    stop: Option<Stop>,
    options: u64,
    /// The last resume was PTRACE_SYSCALL.
    syscall_stops: bool,
    /// Our host child: the host's wait reports its end. Otherwise (a child of a tracee,
    /// traced through fork events) its end comes as `Exited`, kept here until reported.
    host_child: bool,
    exited: Option<i32>,
    /// Its connection has ended.
    closed: bool,
    /// Traced by PTRACE_SEIZE (PTRACE_INTERRUPT and LISTEN apply; exec sends no SIGTRAP).
    seized: bool,
}

impl Tracee {
    fn new(conn: HeldFd, pid: i32) -> Tracee {
        let host_child = host_parent(pid) == Some(std::process::id() as i32);
        Tracee {
            conn,
            stop: None,
            options: 0,
            syscall_stops: false,
            host_child,
            exited: None,
            closed: false,
            seized: false,
        }
    }

    /// Still worth keeping: connected, or ended with an end to report.
    fn keep(&self) -> bool {
        !self.closed || (!self.host_child && self.exited.is_some())
    }
}

/// The parent of host process `pid` (from /proc/PID/stat: the field after the command
/// name, which is in parentheses and may hold anything).
fn host_parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// Both sides of ptrace for one monitor (a process may be a tracee and a tracer at once).
#[derive(Default)]
pub struct Ptrace {
    tracee: Mutex<Option<TraceeSide>>,
    tracees: Mutex<BTreeMap<i32, Tracee>>,
    /// In a forked child: the parent's tracer, which a child of a tracee traced through
    /// fork events takes over (`forked_tracee`).
    inherited_tracer: Mutex<Option<i32>>,
    /// Children our tracees' fork events announced, not connected yet: a wait for them
    /// waits for their doorbell.
    expected: Mutex<std::collections::BTreeSet<i32>>,
    /// The lowest of the monitor's descriptor numbers: our sockets go at or above it, out
    /// of the program's range (its close-on-exec sweep and close_range would close them).
    floor: AtomicI32,
}

/// What `Ptrace::wait` found: a tracee's stop to report.
pub struct Reported {
    pub pid: i32,
    /// The wait status (WIFSTOPPED).
    pub status: i32,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Ptrace {
    /// Where the monitor's own descriptors start now (the server sets it before each use).
    pub fn set_floor(&self, floor: i32) {
        self.floor.store(floor, Ordering::Relaxed);
    }

    /// `fd` moved to the monitor's numbers (with the room the program's limit would deny).
    /// Held, so that the program's close_range and exec sweep pass it by (the program's
    /// numbers may reach above the floor: docs/design-notes.md, RLIMIT_NOFILE).
    fn above_floor(&self, fd: OwnedFd) -> Option<HeldFd> {
        let floor = self.floor.load(Ordering::Relaxed);
        crate::startup::with_fd_room(|| crate::host::sys::move_above_floor(fd, floor)).ok().map(HeldFd::new)
    }
    /// In a forked child: the parent's tracees and tracer are not ours (Linux does not pass
    /// tracing on to a child unless asked to). Closes our copies of their sockets.
    pub fn forget_in_child(&self) {
        *lock(&self.inherited_tracer) = lock(&self.tracee).take().map(|side| side.tracer);
        lock(&self.tracees).clear();
        lock(&self.expected).clear();
    }

    /// In a child forked by a tracee whose tracer follows forks: be its tracee too, with
    /// the parent's options and seized state (which the tracer hears when it connects).
    pub fn forked_tracee(&self, options: u64, seized: bool) -> Result<i64, LinuxErrno> {
        let tracer = lock(&self.inherited_tracer).take().ok_or(errno::ESRCH as LinuxErrno)?;
        self.listen_for(tracer)?;
        if let Some(side) = lock(&self.tracee).as_mut() {
            side.inherited = Some((options, seized));
        }
        Ok(0)
    }

    /// Bind our socket for `tracer` to connect to.
    fn listen_for(&self, tracer: i32) -> Result<i64, LinuxErrno> {
        let eperm = |_| errno::EPERM as LinuxErrno;
        let listener = self.above_floor(seqpacket().map_err(eperm)?).ok_or(errno::EPERM as LinuxErrno)?;
        let name = socket_name(std::process::id() as i32).map_err(eperm)?;
        rustix::net::bind(&listener, &name).map_err(eperm)?;
        rustix::net::listen(&listener, 1).map_err(eperm)?;
        *lock(&self.tracee) = Some(TraceeSide { tracer, listener, conn: None, inherited: None });
        Ok(0)
    }

    /// The program ends with wait status `status`: a tracer that is not our parent hears
    /// it from us (the host tells only the parent).
    pub fn exiting(&self, status: i32) {
        // PTRACE_O_EXITKILL: our tracees die with us.
        for (&pid, t) in lock(&self.tracees).iter() {
            if t.options & PTRACE_O_EXITKILL != 0 && !t.closed {
                // SAFETY: kill takes no pointers.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        let guard = lock(&self.tracee);
        let Some(side) = guard.as_ref() else { return };
        let parent = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
        let Some(conn) = side.conn.as_ref().filter(|_| parent != side.tracer) else { return };
        if !send(conn, &PtraceMessage::Exited { status }) {
            return;
        }
        // Rung until seen, as a stop is (a ring just before the tracer's host wait4 would
        // be lost), but not for ever: the program is ending.
        for _ in 0..40 {
            ring(side.tracer);
            if readable_soon(conn) {
                return;
            }
        }
    }

    /// PTRACE_TRACEME: 0 when the parent (a linuxrun process) will see our stops, 1 when
    /// the parent is not a linuxrun process and cannot (the guest then runs untraced).
    pub fn trace_me(&self) -> Result<i64, LinuxErrno> {
        if lock(&self.tracee).is_some() {
            return Err(errno::EPERM as LinuxErrno);
        }
        let parent = rustix::process::getppid().map_or(0, |p| p.as_raw_nonzero().get());
        if parent <= 1 || !crate::host::sys::runs_linuxrun(parent) {
            return Ok(1);
        }
        self.listen_for(parent)
    }

    /// Whether this process is traced (its stops go to a tracer, not to `--gdb`).
    pub fn is_traced(&self) -> bool {
        lock(&self.tracee).is_some()
    }

    /// The guest stopped (`DebugStop`): report to the tracer and answer with its first
    /// command; `None` when the tracer has gone (the guest then runs on untraced).
    pub fn stopped(&self, event: DebugEvent, regs: &[u8]) -> Option<DebugCommand> {
        let mut guard = lock(&self.tracee);
        let side = guard.as_mut()?;
        if side.conn.is_none() {
            side.conn = accept_tracer(side).and_then(|c| self.above_floor(c));
            if let (Some(conn), Some((options, seized))) = (side.conn.as_ref(), side.inherited.take()) {
                if !send(conn, &PtraceMessage::Inherited { options, seized }) {
                    side.conn = None;
                }
            }
        }
        let answer = report_stop(side, event, regs);
        if answer.is_none() {
            *guard = None;
        }
        answer
    }

    /// The guest's answer to a command: pass it on, and answer with the next command.
    pub fn replied(&self, ok: bool, data: &[u8]) -> Option<DebugCommand> {
        let mut guard = lock(&self.tracee);
        let side = guard.as_mut()?;
        let conn = side.conn.as_ref()?;
        let answer =
            if send(conn, &PtraceMessage::Reply { ok, data: data.to_vec() }) { next_command(conn) } else { None };
        if answer.is_none() {
            *guard = None;
        }
        answer
    }

    /// Connect to the tracees whose doorbells rang, and take what they sent.
    fn collect(&self) {
        let mut tracees = lock(&self.tracees);
        for pid in take_rung() {
            if tracees.contains_key(&pid) {
                continue;
            }
            if let Some(conn) = connect_to_tracee(pid).and_then(|c| self.above_floor(c)) {
                tracees.insert(pid, Tracee::new(conn, pid));
            }
        }
        let mut expected = lock(&self.expected);
        for t in tracees.values_mut() {
            take_messages(t);
            if let Some(Stop { event: DebugEvent::Fork { child, .. }, .. }) = t.stop {
                expected.insert(child);
            }
        }
        tracees.retain(|_, t| t.keep());
        expected.retain(|p| !tracees.contains_key(p) && host_parent(*p).is_some());
    }

    /// A stop not yet reported of a tracee `pid` selects (wait4's pid: -1 any, >0 that
    /// one, 0 our group, < -1 that group); marked reported unless `peek` (WNOWAIT).
    pub fn wait(&self, pid: i32, peek: bool) -> Option<Reported> {
        self.collect();
        let mut tracees = lock(&self.tracees);
        let group = match pid {
            0 => Some(rustix::process::getpgrp().as_raw_nonzero().get()),
            p if p < -1 => Some(-p),
            _ => None,
        };
        let (&tpid, t) = tracees.iter_mut().find(|(&tpid, t)| {
            let selected = match (pid, group) {
                (_, Some(g)) => host_pgid(tpid) == Some(g),
                (-1, None) => true,
                (p, None) => p == tpid,
            };
            selected && (t.stop.as_ref().is_some_and(|s| !s.reported) || (t.closed && t.exited.is_some()))
        })?;
        if let (true, Some(status)) = (t.closed, t.exited) {
            if !peek {
                tracees.remove(&tpid);
            }
            return Some(Reported { pid: tpid, status });
        }
        let stop = t.stop.as_mut()?;
        stop.reported |= !peek;
        Some(Reported { pid: tpid, status: stop_status(stop.event, t.options) })
    }

    /// Tracees that are not our host children (the host's wait does not know them).
    pub fn has_adopted_tracees(&self) -> bool {
        lock(&self.tracees).values().any(|t| !t.host_child) || !lock(&self.expected).is_empty()
    }

    /// Block until a tracee sends something or its connection ends (or a signal, a
    /// doorbell included, interrupts: EINTR).
    pub fn wait_for_news(&self) -> Result<(), LinuxErrno> {
        let fds: Vec<OwnedFd> = {
            let tracees = lock(&self.tracees);
            tracees.values().filter(|t| !t.closed).filter_map(|t| t.conn.try_clone().ok()).collect()
        };
        if fds.is_empty() && lock(&self.expected).is_empty() {
            return Err(errno::ECHILD as LinuxErrno);
        }
        let mut polled: Vec<PollFd<'_>> = fds.iter().map(|f| PollFd::new(f, PollFlags::IN)).collect();
        match poll(&mut polled, None) {
            Ok(_) => Ok(()),
            Err(e) => Err(crate::host::errno_to_linux(e.raw_os_error())),
        }
    }

    /// Whether any process is traced by this one (its waits must look at them).
    pub fn has_tracees(&self) -> bool {
        !lock(&self.tracees).is_empty() || RUNG.iter().any(|s| s.load(Ordering::SeqCst) != 0)
    }

    /// The stopped tracee's registers followed by PTRACE_GETEVENTMSG's value (a u64), and
    /// the status its stop was reported with.
    pub fn regs(&self, pid: i32) -> Result<(i32, Vec<u8>), LinuxErrno> {
        self.collect();
        let tracees = lock(&self.tracees);
        let t = tracees.get(&pid).filter(|t| !t.closed).ok_or(errno::ESRCH as LinuxErrno)?;
        let s = t.stop.as_ref().ok_or(errno::ESRCH as LinuxErrno)?;
        let msg: u64 = match s.event {
            // The exit status as wait reports it; the former thread id (one thread: the pid).
            DebugEvent::Exit(code) => ((code & 0xff) << 8) as u64,
            DebugEvent::Exec => pid as u64,
            DebugEvent::Fork { child, .. } | DebugEvent::VforkDone { child } => child as u64,
            // Linux's PTRACE_EVENTMSG_SYSCALL_ENTRY / _EXIT.
            DebugEvent::SyscallEntry => 1,
            DebugEvent::SyscallExit => 2,
            _ => 0,
        };
        let mut data = s.regs.clone();
        data.extend_from_slice(&msg.to_le_bytes());
        Ok((stop_status(s.event, t.options), data))
    }

    /// PTRACE_SETOPTIONS: kept here (they shape the wait statuses) and told to the tracee
    /// (they decide which event stops it makes).
    pub fn set_options(&self, pid: i32, options: u64) -> Result<(), LinuxErrno> {
        self.command(pid, DebugCommand::SetPtraceOptions { options })?;
        let mut tracees = lock(&self.tracees);
        let t = tracees.get_mut(&pid).ok_or(errno::ESRCH as LinuxErrno)?;
        t.options = options;
        Ok(())
    }

    /// Send `cmd` to the stopped tracee `pid`: its reply (`None` for `Resume`).
    pub fn command(&self, pid: i32, cmd: DebugCommand) -> Result<Option<(bool, Vec<u8>)>, LinuxErrno> {
        self.collect();
        let mut tracees = lock(&self.tracees);
        let t = tracees.get_mut(&pid).filter(|t| t.stop.is_some()).ok_or(errno::ESRCH as LinuxErrno)?;
        let new_regs = match &cmd {
            DebugCommand::WriteRegisters { regs } => Some(regs.clone()),
            _ => None,
        };
        let resume = matches!(cmd, DebugCommand::Resume { .. });
        if let DebugCommand::Resume { syscall, .. } = cmd {
            t.syscall_stops = syscall;
        }
        if !send(&t.conn, &PtraceMessage::Command(cmd)) {
            tracees.remove(&pid);
            return Err(errno::ESRCH as LinuxErrno);
        }
        if resume {
            t.stop = None;
            return Ok(None);
        }
        match recv(&t.conn, true) {
            Ok(Some(PtraceMessage::Reply { ok, data })) => {
                if let (true, Some(regs), Some(stop)) = (ok, new_regs, t.stop.as_mut()) {
                    stop.regs = regs;
                }
                Ok(Some((ok, data)))
            }
            _ => {
                tracees.remove(&pid);
                Err(errno::ESRCH as LinuxErrno)
            }
        }
    }

    /// PTRACE_DETACH: resume with `signal`, then close the connection (the tracee's
    /// monitor finds it closed at its next stop and runs on untraced).
    pub fn detach(&self, pid: i32, signal: i32) -> Result<(), LinuxErrno> {
        // Options end with the tracing (PTRACE_O_EXITKILL must not fire later).
        self.command(pid, DebugCommand::SetPtraceOptions { options: 0 })?;
        self.command(pid, DebugCommand::Resume { step: false, signal, syscall: false, together: 0 })?;
        lock(&self.tracees).remove(&pid);
        Ok(())
    }
}

impl Ptrace {
    /// PTRACE_ATTACH / PTRACE_SEIZE of `pid` (docs/debugging.md, "Attaching"): ring the
    /// tracee's monitor with an attach request, connect to the socket it then binds, and
    /// prove that the host lets us ptrace it by reading the secret it names in its memory
    /// with the host's process_vm_readv (the host's own ptrace access check, Yama
    /// included).
    pub fn attach(&self, pid: i32, seize: bool, options: u64) -> Result<i64, LinuxErrno> {
        let (esrch, eperm) = (errno::ESRCH as LinuxErrno, errno::EPERM as LinuxErrno);
        let target = rustix::process::Pid::from_raw(pid).ok_or(esrch)?;
        match rustix::process::test_kill_process(target) {
            Err(rustix::io::Errno::SRCH) => return Err(esrch),
            // Not ours to signal: not ours to trace either.
            Err(_) => return Err(eperm),
            Ok(()) => {}
        }
        if pid == std::process::id() as i32 || lock(&self.tracees).contains_key(&pid) {
            return Err(eperm);
        }
        if thread_group(pid).is_some_and(|tgid| tgid != pid) && crate::host::sys::runs_linuxrun(pid) {
            // One of another monitor's own threads (its worker, its vCPUs), which its
            // /proc/PID/task lists: no Linux thread to the program (gdb tries each).
            return Err(esrch);
        }
        // A native process has no monitor to carry its stops (and would need a host
        // ptrace of it): refused as a process we may not trace.
        if !crate::host::sys::runs_linuxrun(pid) {
            return Err(eperm);
        }
        // Stopped (a stop signal at its default action stops the host process): its monitor
        // cannot answer until it is woken (docs/debugging.md, "Attaching").
        let stopped = host_state(pid) == Some('T');
        let conn = self.attach_handshake(pid, seize, options, stopped).ok_or(eperm)?;
        let conn = self.above_floor(conn).ok_or(eperm)?;
        let mut t = Tracee::new(conn, pid);
        t.options = options;
        t.seized = seize;
        lock(&self.tracees).insert(pid, t);
        if seize && stopped {
            self.await_first_stop(pid);
        }
        Ok(0)
    }

    /// Linux's PTRACE_SEIZE of a stopped process returns once the tracee is in its
    /// PTRACE_EVENT_STOP (a SIGCONT sent next, as strace sends one, comes after it): wait
    /// for that stop to arrive, for a few seconds at most.
    fn await_first_stop(&self, pid: i32) {
        let deadline = std::time::Instant::now() + ATTACH_TIMEOUT;
        while std::time::Instant::now() < deadline {
            let conn = {
                let mut tracees = lock(&self.tracees);
                let Some(t) = tracees.get_mut(&pid) else { return };
                take_messages(t);
                if t.stop.is_some() || t.closed {
                    return;
                }
                t.conn.try_clone()
            };
            let Ok(conn) = conn else { return };
            readable_soon(&conn);
        }
    }

    /// A listening socket under `attacher_name(pid)`, held above the floor until dropped.
    fn wait_under_name(&self, pid: i32) -> Option<HeldFd> {
        let fd = self.above_floor(seqpacket().ok()?)?;
        rustix::net::bind(&fd, &attacher_name(pid).ok()?).ok()?;
        rustix::net::listen(&fd, 1).ok()?;
        Some(fd)
    }

    fn attach_handshake(&self, pid: i32, seize: bool, options: u64, stopped: bool) -> Option<OwnedFd> {
        let bell = if seize { abi_shared::debug::PTRACE_SEIZE_BELL } else { abi_shared::debug::PTRACE_ATTACH_BELL };
        let deadline = std::time::Instant::now() + ATTACH_TIMEOUT;
        let mut rung = std::time::Instant::now();
        // A stopped process is told, when it wakes, that a request comes: our name is
        // there while we wait (its monitor then waits for the request before its program
        // runs on, whichever of its threads takes the signal).
        let _waiting = stopped.then(|| self.wait_under_name(pid)).flatten();
        ring_with(pid, bell);
        if stopped {
            // Rung first: the request waits, queued, and is the first thing the woken
            // monitor takes. The SIGCONT carries a value its monitor knows as ours, so
            // that the program does not see it.
            let value = libc::sigval { sival_ptr: abi_shared::debug::ATTACH_CONT as usize as *mut libc::c_void };
            // SAFETY: sigqueue takes no pointers of ours beyond the value, passed by value.
            unsafe { libc::sigqueue(pid, libc::SIGCONT, value) };
        }
        // Its monitor binds the socket when its guest takes the request.
        let conn = loop {
            if let Some(c) = connect_to_tracee(pid) {
                break c;
            }
            let now = std::time::Instant::now();
            if now > deadline {
                return None;
            }
            if now - rung > std::time::Duration::from_millis(500) {
                // A request that came while the program was between two looks at its
                // signals is taken at the next; ring again all the same.
                ring_with(pid, bell);
                rung = now;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        let addr = match recv_within(&conn, deadline)? {
            PtraceMessage::Challenge { addr } => addr,
            _ => return None,
        };
        let nonce = read_host_word(pid, addr)?;
        if !send(&conn, &PtraceMessage::Proof { nonce, options, stopped }) {
            return None;
        }
        matches!(recv_within(&conn, deadline)?, PtraceMessage::Accepted).then_some(conn)
    }

    /// In the tracee: `tracer` asks to trace us (the guest took its request). Wait for it
    /// to connect (SO_PEERCRED: that very process), ask it to read a secret from our
    /// memory, and accept it if it could: the host lets it ptrace us. `Ok(options)` (the
    /// options of a seize), or EPERM.
    pub fn attached(&self, tracer: i32) -> Result<i64, LinuxErrno> {
        let eperm = errno::EPERM as LinuxErrno;
        {
            let mut guard = lock(&self.tracee);
            match guard.as_ref() {
                // A tracer that detached (or died) left its closed connection behind.
                Some(side) if side.conn.as_ref().is_some_and(|c| connection_closed(c)) => *guard = None,
                Some(_) => return Err(eperm),
                None => {}
            }
        }
        self.listen_for(tracer)?;
        let result = self.accept_attacher(tracer);
        let mut guard = lock(&self.tracee);
        match (result, guard.as_mut()) {
            (Some((conn, answer)), Some(side)) => {
                side.conn = Some(conn);
                Ok(answer)
            }
            _ => {
                *guard = None;
                Err(eperm)
            }
        }
    }

    /// The connection and the answer to the guest: the options, with
    /// `ATTACHED_WHILE_STOPPED` when it was stopped.
    fn accept_attacher(&self, tracer: i32) -> Option<(HeldFd, i64)> {
        let deadline = std::time::Instant::now() + ATTACH_TIMEOUT;
        let conn = {
            let guard = lock(&self.tracee);
            let side = guard.as_ref()?;
            loop {
                if std::time::Instant::now() > deadline {
                    return None;
                }
                if !readable_soon(&side.listener) {
                    continue;
                }
                let Ok(conn) = rustix::net::accept_with(&side.listener, SocketFlags::CLOEXEC) else { continue };
                if peer_pid(&conn) == Some(tracer) {
                    break conn;
                }
            }
        };
        let mut secret = [0u8; 8];
        // SAFETY: getrandom writes at most 8 bytes into the buffer.
        let n = unsafe { libc::getrandom(secret.as_mut_ptr().cast(), 8, 0) };
        if n != 8 {
            return None;
        }
        // Kept in our memory until the answer is in: the address is what we name.
        let boxed = Box::new(u64::from_ne_bytes(secret));
        let addr = std::ptr::addr_of!(*boxed) as u64;
        if !send(&conn, &PtraceMessage::Challenge { addr }) {
            return None;
        }
        let PtraceMessage::Proof { nonce, options, stopped } = recv_within(&conn, deadline)? else { return None };
        if nonce != *boxed {
            return None;
        }
        // Before the tracer hears it is accepted: a signal it sends next must reach the
        // guest, as any signal to a traced process does.
        crate::signals::catch_defaults();
        if !send(&conn, &PtraceMessage::Accepted) {
            return None;
        }
        let flag = if stopped { abi_shared::debug::ATTACHED_WHILE_STOPPED } else { 0 };
        Some((self.above_floor(conn)?, (options & 0xffff_ffff) as i64 | flag))
    }

    /// PTRACE_INTERRUPT: a seized tracee of ours stops with PTRACE_EVENT_STOP (nothing
    /// when it is stopped already).
    pub fn interrupt(&self, pid: i32) -> Result<i64, LinuxErrno> {
        self.collect();
        let tracees = lock(&self.tracees);
        let t = tracees.get(&pid).filter(|t| !t.closed).ok_or(errno::ESRCH as LinuxErrno)?;
        if !t.seized {
            return Err(errno::EIO as LinuxErrno);
        }
        if t.stop.is_none() {
            ring_with(pid, abi_shared::debug::PTRACE_INTERRUPT_BELL);
        }
        Ok(0)
    }

    /// PTRACE_LISTEN: only at a seized tracee's PTRACE_EVENT_STOP. The tracee stays
    /// stopped, no longer for us (our requests get ESRCH, as Linux's do) but as in a
    /// group-stop: a SIGCONT, or our PTRACE_INTERRUPT, makes it stop again with a new
    /// PTRACE_EVENT_STOP, which our wait reports (its guest waits for them: signal/debug.rs).
    pub fn listen(&self, pid: i32) -> Result<i64, LinuxErrno> {
        self.collect();
        let mut tracees = lock(&self.tracees);
        let t = tracees.get_mut(&pid).filter(|t| !t.closed).ok_or(errno::ESRCH as LinuxErrno)?;
        let stop = t.stop.as_ref().ok_or(errno::ESRCH as LinuxErrno)?;
        if !t.seized || !matches!(stop.event, DebugEvent::Interrupt { .. }) {
            return Err(errno::EIO as LinuxErrno);
        }
        if !send(&t.conn, &PtraceMessage::Command(DebugCommand::Listen)) {
            tracees.remove(&pid);
            return Err(errno::ESRCH as LinuxErrno);
        }
        t.stop = None;
        Ok(0)
    }
}

/// Queue our thread-kick signal to `pid` with `value` (a doorbell or an attach request).
fn ring_with(pid: i32, value: u64) {
    let Some(sig) = crate::host::sys::thread_kick_signal() else { return };
    let value = libc::sigval { sival_ptr: value as usize as *mut libc::c_void };
    // SAFETY: sigqueue takes no pointers of ours beyond the value, passed by value.
    unsafe { libc::sigqueue(pid, sig, value) };
}

/// The next message before `deadline`.
fn recv_within(conn: &OwnedFd, deadline: std::time::Instant) -> Option<PtraceMessage> {
    while std::time::Instant::now() < deadline {
        if readable_soon(conn) {
            return recv(conn, true).ok().flatten();
        }
    }
    None
}

/// Whether the peer of `conn` has gone (a readable end with nothing to read).
fn connection_closed(conn: &OwnedFd) -> bool {
    let mut fds = [PollFd::new(conn, PollFlags::IN)];
    let zero = rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 };
    match poll(&mut fds, Some(&zero)) {
        Ok(n) if n > 0 => fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR),
        _ => false,
    }
}

/// 8 bytes at `addr` of host process `pid`, if the host lets us read them (it checks that
/// we may ptrace `pid`).
fn read_host_word(pid: i32, addr: u64) -> Option<u64> {
    let mut word = [0u8; 8];
    let local = libc::iovec { iov_base: word.as_mut_ptr().cast(), iov_len: 8 };
    let remote = libc::iovec { iov_base: addr as usize as *mut libc::c_void, iov_len: 8 };
    // SAFETY: one local iovec of 8 bytes we own; the remote one is the host's to check.
    let n = unsafe { libc::process_vm_readv(pid, &local, 1, &remote, 1, 0) };
    (n == 8).then(|| u64::from_ne_bytes(word))
}

/// The wait status of a stop, as Linux reports it to the tracer.
fn stop_status(event: DebugEvent, options: u64) -> i32 {
    let sig = match event {
        DebugEvent::Signal(s) => s,
        DebugEvent::SyscallEntry | DebugEvent::SyscallExit if options & PTRACE_O_TRACESYSGOOD != 0 => SIGTRAP | 0x80,
        DebugEvent::Exec if options & PTRACE_O_TRACEEXEC != 0 => SIGTRAP | PTRACE_EVENT_EXEC << 8,
        DebugEvent::Exit(_) => SIGTRAP | PTRACE_EVENT_EXIT << 8,
        DebugEvent::Fork { vfork: false, .. } => SIGTRAP | PTRACE_EVENT_FORK << 8,
        DebugEvent::Fork { vfork: true, .. } => SIGTRAP | PTRACE_EVENT_VFORK << 8,
        DebugEvent::VforkDone { .. } => SIGTRAP | PTRACE_EVENT_VFORK_DONE << 8,
        DebugEvent::Interrupt { signal } => signal | PTRACE_EVENT_STOP << 8,
        _ => SIGTRAP,
    };
    sig << 8 | 0x7f
}

/// The state letter of host process `pid` (R, S, T, ...), from /proc/PID/stat.
fn host_state(pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat[stat.rfind(')')? + 1..].split_whitespace().next()?.chars().next()
}

/// The thread group (process) host thread `tid` belongs to.
fn thread_group(tid: i32) -> Option<i32> {
    let status = std::fs::read_to_string(format!("/proc/{tid}/status")).ok()?;
    status.lines().find_map(|l| l.strip_prefix("Tgid:")).and_then(|v| v.trim().parse().ok())
}

fn host_pgid(pid: i32) -> Option<i32> {
    let pid = rustix::process::Pid::from_raw(pid)?;
    rustix::process::getpgid(Some(pid)).ok().map(|p| p.as_raw_nonzero().get())
}

/// Send the stop, wait until the tracer has seen it, and answer with its first command.
fn report_stop(side: &TraceeSide, event: DebugEvent, regs: &[u8]) -> Option<DebugCommand> {
    let conn = side.conn.as_ref()?;
    if !send(conn, &PtraceMessage::Stop { event, regs: regs.to_vec() }) {
        return None;
    }
    loop {
        ring(side.tracer);
        if readable_soon(conn) {
            match recv(conn, true) {
                Ok(Some(PtraceMessage::Seen)) => break,
                Ok(Some(PtraceMessage::Command(cmd))) => return Some(cmd),
                Ok(_) => {}
                Err(()) => return None,
            }
        }
    }
    next_command(conn)
}

/// Wait for the tracer (our parent) to connect, ringing its doorbell meanwhile; `None` if
/// the parent is gone (we were re-parented).
fn accept_tracer(side: &TraceeSide) -> Option<OwnedFd> {
    loop {
        // The tracer (our parent, or our parent's tracer) is gone: nobody will connect.
        let alive =
            rustix::process::Pid::from_raw(side.tracer).is_some_and(|p| rustix::process::test_kill_process(p).is_ok());
        if !alive {
            return None;
        }
        ring(side.tracer);
        if !readable_soon(&side.listener) {
            continue;
        }
        let Ok(conn) = rustix::net::accept_with(&side.listener, SocketFlags::CLOEXEC) else { continue };
        // Anyone may connect to an abstract name: only our tracer is served.
        if peer_pid(&conn) == Some(side.tracer) {
            return Some(conn);
        }
    }
}

fn next_command(conn: &OwnedFd) -> Option<DebugCommand> {
    loop {
        match recv(conn, true) {
            Ok(Some(PtraceMessage::Command(cmd))) => return Some(cmd),
            Ok(_) => {}
            Err(()) => return None,
        }
    }
}

/// Connect to tracee `pid`'s socket; only if the socket is that process's own.
fn connect_to_tracee(pid: i32) -> Option<OwnedFd> {
    let fd = seqpacket().ok()?;
    rustix::net::connect(&fd, &socket_name(pid).ok()?).ok()?;
    (peer_pid(&fd) == Some(pid)).then_some(fd)
}

/// Take every message waiting from a tracee (marking it closed at the end of its
/// connection).
fn take_messages(t: &mut Tracee) {
    while !t.closed {
        match recv(&t.conn, false) {
            Ok(None) => return,
            Ok(Some(PtraceMessage::Stop { event: DebugEvent::Exec, .. })) if t.options & PTRACE_O_TRACEEXEC == 0 => {
                // Without PTRACE_O_TRACEEXEC Linux reports no exec stop but sends the
                // tracee a SIGTRAP, which stops it when delivered (after its
                // syscall-exit-stop): resume it with that very signal. A seized tracee
                // gets none.
                let signal = if t.seized { 0 } else { SIGTRAP };
                let resume = DebugCommand::Resume { step: false, signal, syscall: t.syscall_stops, together: 0 };
                t.closed = !send(&t.conn, &PtraceMessage::Seen) || !send(&t.conn, &PtraceMessage::Command(resume));
            }
            Ok(Some(PtraceMessage::Stop { event, regs })) => {
                t.stop = Some(Stop { event, regs, reported: false });
                t.closed = !send(&t.conn, &PtraceMessage::Seen);
            }
            Ok(Some(PtraceMessage::Inherited { options, seized })) => {
                t.options = options;
                t.seized = seized;
            }
            Ok(Some(PtraceMessage::Exited { status })) => {
                t.exited = Some(status);
                t.closed = !send(&t.conn, &PtraceMessage::Seen);
            }
            Ok(Some(_)) => {}
            Err(()) => t.closed = true,
        }
    }
    if !t.host_child && t.exited.is_none() {
        // Gone without a word: killed from outside (SIGKILL is the one it cannot report).
        t.exited = Some(libc::SIGKILL);
    }
    t.stop = None;
}
