//! `--gdb PORT`: a gdb remote-protocol stub on 127.0.0.1:PORT, as `qemu-user -g` offers.
//!
//! The program's threads stop in the guest kernel (abi_shared::debug) and wait in their
//! `DebugStop` hypercall, served by their own serving thread, which hands the stop to this
//! session and waits for commands. One host thread runs the protocol (the `gdbstub` crate)
//! on the TCP connection: it reports stops, and turns gdb's reads and writes of registers
//! and memory and its breakpoints into commands for the stopped thread, which the guest
//! kernel carries out with its own user-access routines. gdb's file reads (`info proc`,
//! the shared libraries) are in files.rs, and `$_siginfo`, which the crate does not
//! offer, in wire.rs. See docs/debugging.md.
//!
//! Stops are all-stop, as gdb expects of a Linux target by default: before a thread's stop
//! reaches the monitor, the guest has stopped every other thread (fork_gate's
//! `CLOSED_FOR_DEBUG`), each of which waits here quietly (`DebugEvent::Halted`: listed,
//! never reported) until gdb resumes the program.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::num::NonZeroUsize;
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;

use abi_shared::debug::{DebugCommand, DebugEvent, DebugRegs, MAX_DEBUG_IO};
use abi_shared::hypercall::{ExitHow, Response};
use gdbstub::common::{Signal, Tid};
use gdbstub::conn::Connection;
use gdbstub::stub::run_blocking::{self, BlockingEventLoop};
use gdbstub::stub::{DisconnectReason, GdbStub, MultiThreadStopReason};
use gdbstub::target::ext::base::multithread::{
    MultiThreadBase, MultiThreadResume, MultiThreadResumeOps, MultiThreadSchedulerLocking,
    MultiThreadSchedulerLockingOps, MultiThreadSingleStep, MultiThreadSingleStepOps,
};
use gdbstub::target::ext::base::BaseOps;
use gdbstub::target::ext::breakpoints::{Breakpoints, BreakpointsOps, SwBreakpoint, SwBreakpointOps};
use gdbstub::target::{Target, TargetError, TargetResult};

mod arch;
mod files;
mod wire;

use arch::{LinuxX86_64, Regs};
use wire::Wire;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A stopped thread, waiting in its `DebugStop` hypercall.
struct Stopped {
    event: DebugEvent,
    regs: DebugRegs,
    /// Told to gdb (a stop reported); one stopped meanwhile waits for the next report.
    reported: bool,
    /// The debugger's next command for it, taken by its serving thread.
    command: Option<DebugCommand>,
    /// The result of the last command, taken by the protocol thread.
    reply: Option<(bool, Vec<u8>)>,
    /// How it resumes when gdb says `resume` (step, Linux signal).
    action: Option<(bool, i32)>,
    /// A command other than `Resume` was handed to it and its reply is due: a reply with
    /// none outstanding (a quiet stop asking for its first command) is not one.
    replying: bool,
}

#[derive(Default)]
struct State {
    threads: BTreeMap<i32, Stopped>,
    /// Stops not yet reported, in arrival order.
    queue: VecDeque<i32>,
    /// The program's end, once the guest told it.
    ended: Option<ExitHow>,
    /// gdb went away: stops are answered at once, and the program runs on undebugged.
    detached: bool,
    /// The thread of the last stop reported.
    last: Option<i32>,
    /// gdb's next resume runs only the threads it names (scheduler locking, and its step
    /// over a breakpoint): the others stay stopped.
    locked: bool,
    /// How many thread resumes the session has handed out (`Resume`'s `together`).
    resumed: u32,
}

/// The debugger side of the program's stops, shared by the serving threads and the
/// protocol thread.
pub struct Session {
    state: Mutex<State>,
    changed: Condvar,
    /// A byte written here wakes the protocol thread while it waits for a stop.
    wake_tx: UnixStream,
    wake_rx: UnixStream,
    /// The connection's descriptor (the protocol thread owns the connection).
    conn_fd: i32,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Session {
    /// Listen on 127.0.0.1:`port`, wait for gdb to connect (as qemu-user does, before the
    /// program starts), and start the protocol thread. The session's descriptors sit above
    /// the monitor's fd floor, out of the program's way.
    pub fn start(port: u16, floor: i32) -> Result<Arc<Session>, String> {
        let err = |e: std::io::Error| format!("--gdb: {e}");
        let above = |fd: std::os::fd::OwnedFd| crate::host::sys::move_above_floor(fd, floor).map_err(err);
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, port))
            .map_err(|e| format!("--gdb: cannot listen on 127.0.0.1:{port}: {e}"))?;
        let listener = TcpListener::from(above(listener.into())?);
        let (wake_tx, wake_rx) = UnixStream::pair().map_err(err)?;
        let (wake_tx, wake_rx) = (UnixStream::from(above(wake_tx.into())?), UnixStream::from(above(wake_rx.into())?));
        wake_tx.set_nonblocking(true).map_err(err)?;
        wake_rx.set_nonblocking(true).map_err(err)?;
        let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
        crate::diag!("linuxrun: waiting for gdb on 127.0.0.1:{port} (target remote 127.0.0.1:{port})");
        let (conn, _) = listener.accept().map_err(err)?;
        drop(listener);
        let conn = TcpStream::from(above(conn.into())?);
        let _ = conn.set_nodelay(true);
        let session = Arc::new(Session {
            state: Mutex::new(State::default()),
            changed: Condvar::new(),
            conn_fd: conn.as_raw_fd(),
            wake_tx,
            wake_rx,
            thread: Mutex::new(None),
        });
        let s = session.clone();
        let handle =
            std::thread::Builder::new().name("linuxrun-gdb".into()).spawn(move || s.serve(conn)).map_err(err)?;
        *lock(&session.thread) = Some(handle);
        Ok(session)
    }

    /// The descriptors the session holds (the program may not name them).
    pub fn fds(&self) -> Vec<i32> {
        vec![self.conn_fd, self.wake_tx.as_raw_fd(), self.wake_rx.as_raw_fd()]
    }

    fn wake(&self) {
        let _ = (&self.wake_tx).write(&[1]);
    }

    /// A thread stopped (serving thread): wait for the debugger's first command. A quiet
    /// stop (`Halted`, all-stop) is listed at once, never reported, and answered
    /// `Ret(1)`: the thread asks for its first command next, with an empty reply.
    pub fn stopped(&self, tid: i32, event: DebugEvent, regs: &[u8]) -> Response {
        if regs.len() != std::mem::size_of::<DebugRegs>() {
            return Response::Malformed(abi_shared::hypercall::MalformedReason::BadLength);
        }
        let regs: DebugRegs = abi_shared::linux::pod_read_unaligned(regs);
        let mut st = lock(&self.state);
        if st.detached || st.ended.is_some() {
            return Response::Ret(0);
        }
        let quiet = event == DebugEvent::Halted;
        let stopped =
            Stopped { event, regs, reported: quiet, command: None, reply: None, action: None, replying: false };
        st.threads.insert(tid, stopped);
        if quiet {
            return Response::Ret(1);
        }
        st.queue.push_back(tid);
        drop(st);
        self.wake();
        self.next_command(tid)
    }

    /// The result of the last command (serving thread): wait for the next one.
    pub fn replied(&self, tid: i32, ok: bool, data: &[u8]) -> Response {
        let mut st = lock(&self.state);
        match st.threads.get_mut(&tid) {
            Some(t) if t.replying => {
                t.replying = false;
                t.reply = Some((ok, data.to_vec()));
            }
            Some(_) => {}
            None => return Response::Ret(0),
        }
        drop(st);
        self.changed.notify_all();
        self.next_command(tid)
    }

    fn next_command(&self, tid: i32) -> Response {
        let mut st = lock(&self.state);
        loop {
            // A resume handed out goes through even if gdb left since: the threads resumed
            // with this one wait for it (`Resume`'s `together`).
            let resuming = st.threads.get(&tid).is_some_and(|t| matches!(t.command, Some(DebugCommand::Resume { .. })));
            if !resuming && (st.detached || st.ended.is_some()) {
                st.threads.remove(&tid);
                return Response::Ret(0);
            }
            let Some(t) = st.threads.get_mut(&tid) else { return Response::Ret(0) };
            if let Some(cmd) = t.command.take() {
                if matches!(cmd, DebugCommand::Resume { .. }) {
                    st.threads.remove(&tid);
                } else {
                    t.replying = true;
                }
                return Response::Debug(cmd);
            }
            st = self.changed.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// The program ended (its last thread's exit, or a signal): tell gdb, and let every
    /// thread still stopped go.
    pub fn program_ended(&self, how: ExitHow) {
        lock(&self.state).ended = Some(how);
        self.changed.notify_all();
        self.wake();
    }

    /// At linuxrun's end: wait until gdb has been told how the program ended.
    pub fn finish(&self) {
        let handle = lock(&self.thread).take();
        if let Some(h) = handle {
            let _ = h.join();
        }
    }

    /// The protocol thread: run the protocol until it ends.
    fn serve(self: Arc<Self>, conn: TcpStream) {
        // gdb takes the target for stopped when it connects: the first thread at its
        // first instruction.
        if !self.first_stop() {
            return self.detach();
        }
        let mut target = Debugee { session: self.clone(), files: files::Files::default() };
        match GdbStub::new(Wire::new(conn, self.clone())).run_blocking::<EventLoop>(&mut target) {
            Ok(DisconnectReason::Kill) => {
                // gdb's `kill`: the program ends as by SIGKILL.
                // SAFETY: kill(2) on our own process has no memory-safety preconditions.
                unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
            }
            Ok(_) => {}
            Err(e) => log::info!("gdb session ended: {e}"),
        }
        self.detach();
    }

    /// Wait for the program's first stop and count it as reported; false if it ended.
    fn first_stop(&self) -> bool {
        let mut st = lock(&self.state);
        loop {
            if st.ended.is_some() {
                return false;
            }
            if let Some(tid) = st.queue.pop_front() {
                if let Some(t) = st.threads.get_mut(&tid) {
                    t.reported = true;
                    st.last = Some(tid);
                    return true;
                }
                continue;
            }
            drop(st);
            let mut fds = [libc::pollfd { fd: self.wake_rx.as_raw_fd(), events: libc::POLLIN, revents: 0 }];
            // SAFETY: one valid pollfd that outlives the call.
            unsafe { libc::poll(fds.as_mut_ptr(), 1, -1) };
            let mut sink = [0u8; 64];
            while matches!((&self.wake_rx).read_some(&mut sink), Some(n) if n > 0) {}
            st = lock(&self.state);
        }
    }

    fn detach(&self) {
        let mut st = lock(&self.state);
        st.detached = true;
        st.queue.clear();
        drop(st);
        self.changed.notify_all();
    }

    /// Send `cmd` to stopped thread `tid` and wait for its result.
    fn command(&self, tid: i32, cmd: DebugCommand) -> Option<(bool, Vec<u8>)> {
        let mut st = lock(&self.state);
        st.threads.get_mut(&tid)?.command = Some(cmd);
        self.changed.notify_all();
        loop {
            if st.ended.is_some() {
                return None;
            }
            let t = st.threads.get_mut(&tid)?;
            if let Some(r) = t.reply.take() {
                return Some(r);
            }
            st = self.changed.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Any reported stopped thread (for requests that name none).
    fn some_thread(&self) -> Option<i32> {
        lock(&self.state).threads.iter().find(|(_, t)| t.reported).map(|(&tid, _)| tid)
    }

    /// The siginfo (Linux's 128 bytes) of what stopped thread `tid` (None: the thread of
    /// the last stop) stopped for, as a ptrace tracer's PTRACE_GETSIGINFO sees it: a
    /// signal's own, the guest's; a debugger's trap's, as Linux makes it.
    fn siginfo(&self, tid: Option<i32>) -> Option<Vec<u8>> {
        let (tid, event, rip) = {
            let st = lock(&self.state);
            let tid = tid.filter(|t| st.threads.get(t).is_some_and(|t| t.reported)).or(st.last)?;
            let t = st.threads.get(&tid).filter(|t| t.reported)?;
            (tid, t.event, t.regs.rip)
        };
        match event {
            DebugEvent::Signal(_) => match self.command(tid, DebugCommand::ReadSiginfo)? {
                (true, info) => Some(info),
                (false, _) => None,
            },
            other => Some(trap_siginfo(other, rip).to_vec()),
        }
    }
}

/// The SIGTRAP siginfo Linux gives a traced thread for a debugger's trap: SI_KERNEL for an
/// `int3`; TRAP_TRACE with the address of the next instruction for a single step; SI_USER
/// otherwise (the stop after exec).
fn trap_siginfo(event: DebugEvent, rip: u64) -> [u8; 128] {
    const SI_KERNEL: i32 = 0x80;
    const TRAP_TRACE: i32 = 2;
    let (code, addr) = match event {
        DebugEvent::Breakpoint => (SI_KERNEL, 0),
        DebugEvent::Step => (TRAP_TRACE, rip),
        _ => (0, 0),
    };
    let mut info = [0u8; 128];
    info[0..4].copy_from_slice(&abi_shared::linux::signal::SIGTRAP.to_le_bytes());
    info[8..12].copy_from_slice(&code.to_le_bytes());
    info[16..24].copy_from_slice(&addr.to_le_bytes());
    info
}

/// The gdbstub target: the program, through its stopped threads.
struct Debugee {
    session: Arc<Session>,
    /// gdb's open files (host I/O).
    files: files::Files,
}

fn tid_of(tid: Tid) -> i32 {
    tid.get() as i32
}

fn gdb_tid(tid: i32) -> Tid {
    NonZeroUsize::new(tid.max(1) as usize).unwrap_or(NonZeroUsize::MIN)
}

/// A Linux signal number as gdb numbers it (gdb's own numbering is that of Linux for
/// the classic signals; real-time ones are told apart).
fn gdb_signal(sig: i32) -> Signal {
    match sig {
        1..=31 => Signal(Signal::from_linux(sig)),
        _ => Signal::SIGTRAP,
    }
}

/// Extension: gdb's own signal numbers differ from Linux's from 7 on.
trait FromLinux {
    fn from_linux(sig: i32) -> u8;
    fn to_linux(self) -> i32;
}

impl FromLinux for Signal {
    fn from_linux(sig: i32) -> u8 {
        use abi_shared::linux::signal as l;
        let s = match sig {
            l::SIGHUP => Signal::SIGHUP,
            l::SIGINT => Signal::SIGINT,
            l::SIGQUIT => Signal::SIGQUIT,
            l::SIGILL => Signal::SIGILL,
            l::SIGTRAP => Signal::SIGTRAP,
            l::SIGABRT => Signal::SIGABRT,
            l::SIGBUS => Signal::SIGBUS,
            l::SIGFPE => Signal::SIGFPE,
            l::SIGKILL => Signal::SIGKILL,
            l::SIGUSR1 => Signal::SIGUSR1,
            l::SIGSEGV => Signal::SIGSEGV,
            l::SIGUSR2 => Signal::SIGUSR2,
            l::SIGPIPE => Signal::SIGPIPE,
            l::SIGALRM => Signal::SIGALRM,
            l::SIGTERM => Signal::SIGTERM,
            l::SIGCHLD => Signal::SIGCHLD,
            l::SIGCONT => Signal::SIGCONT,
            l::SIGSTOP => Signal::SIGSTOP,
            l::SIGTSTP => Signal::SIGTSTP,
            l::SIGTTIN => Signal::SIGTTIN,
            l::SIGTTOU => Signal::SIGTTOU,
            l::SIGURG => Signal::SIGURG,
            l::SIGXCPU => Signal::SIGXCPU,
            l::SIGXFSZ => Signal::SIGXFSZ,
            l::SIGVTALRM => Signal::SIGVTALRM,
            l::SIGPROF => Signal::SIGPROF,
            l::SIGWINCH => Signal::SIGWINCH,
            l::SIGIO => Signal::SIGIO,
            l::SIGPWR => Signal::SIGPWR,
            l::SIGSYS => Signal::SIGSYS,
            _ => Signal::SIGTRAP,
        };
        s.0
    }

    fn to_linux(self) -> i32 {
        (1..32).find(|&l| Signal::from_linux(l) == self.0).unwrap_or(0)
    }
}

impl Target for Debugee {
    type Arch = LinuxX86_64;
    type Error = &'static str;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::MultiThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }

    fn support_auxv(&mut self) -> Option<gdbstub::target::ext::auxv::AuxvOps<'_, Self>> {
        Some(self)
    }

    fn support_host_io(&mut self) -> Option<gdbstub::target::ext::host_io::HostIoOps<'_, Self>> {
        Some(self)
    }
}

impl Debugee {
    fn command(&self, tid: Tid, cmd: DebugCommand) -> TargetResult<Vec<u8>, Self> {
        match self.session.command(tid_of(tid), cmd) {
            Some((true, data)) => Ok(data),
            Some((false, _)) => Err(TargetError::Errno(14)), // EFAULT
            None => Err(TargetError::NonFatal),
        }
    }

    fn any_thread_command(&self, cmd: DebugCommand) -> TargetResult<Vec<u8>, Self> {
        let tid = self.session.some_thread().ok_or(TargetError::NonFatal)?;
        self.command(gdb_tid(tid), cmd)
    }
}

impl MultiThreadBase for Debugee {
    fn read_registers(&mut self, regs: &mut Regs, tid: Tid) -> TargetResult<(), Self> {
        let st = lock(&self.session.state);
        let t = st.threads.get(&tid_of(tid)).ok_or(TargetError::NonFatal)?;
        *regs = Regs::from_debug(&t.regs);
        Ok(())
    }

    fn write_registers(&mut self, regs: &Regs, tid: Tid) -> TargetResult<(), Self> {
        let mut new = {
            let st = lock(&self.session.state);
            st.threads.get(&tid_of(tid)).ok_or(TargetError::NonFatal)?.regs
        };
        regs.to_debug(&mut new);
        self.command(tid, DebugCommand::WriteRegisters { regs: abi_shared::linux::bytes_of(&new).to_vec() })?;
        if let Some(t) = lock(&self.session.state).threads.get_mut(&tid_of(tid)) {
            t.regs = new;
        }
        Ok(())
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8], tid: Tid) -> TargetResult<usize, Self> {
        let mut done = 0;
        while done < data.len() {
            let len = (data.len() - done).min(MAX_DEBUG_IO as usize) as u32;
            let addr = start.wrapping_add(done as u64);
            let got = match self.command(tid, DebugCommand::ReadMemory { addr, len }) {
                Ok(got) => got,
                Err(e) if done == 0 => return Err(e),
                Err(_) => break,
            };
            let n = got.len().min(data.len() - done);
            data[done..done + n].copy_from_slice(&got[..n]);
            done += n;
            if n < len as usize {
                break;
            }
        }
        Ok(done)
    }

    fn write_addrs(&mut self, start: u64, data: &[u8], tid: Tid) -> TargetResult<(), Self> {
        for (i, chunk) in data.chunks(MAX_DEBUG_IO as usize).enumerate() {
            let addr = start.wrapping_add((i * MAX_DEBUG_IO as usize) as u64);
            self.command(tid, DebugCommand::WriteMemory { addr, data: chunk.to_vec() })?;
        }
        Ok(())
    }

    /// Every stopped thread, which under all-stop is every thread of the program (one whose
    /// own stop is not reported yet too: it is stopped, and it stays so until reported).
    fn list_active_threads(&mut self, report: &mut dyn FnMut(Tid)) -> Result<(), Self::Error> {
        let st = lock(&self.session.state);
        for &tid in st.threads.keys() {
            report(gdb_tid(tid));
        }
        Ok(())
    }

    fn support_resume(&mut self) -> Option<MultiThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadResume for Debugee {
    /// Resume the reported threads: each with its action, the others with none (continue)
    /// unless gdb locked them (they stay stopped).
    fn resume(&mut self) -> Result<(), Self::Error> {
        let mut st = lock(&self.session.state);
        let locked = core::mem::take(&mut st.locked);
        let going: Vec<(i32, bool, i32)> = st
            .threads
            .iter_mut()
            .filter(|(_, t)| t.reported)
            .filter_map(|(&tid, t)| t.action.take().or((!locked).then_some((false, 0))).map(|(s, g)| (tid, s, g)))
            .collect();
        let together = st.resumed.wrapping_add(going.len() as u32);
        st.resumed = together;
        for (tid, step, signal) in going {
            if let Some(t) = st.threads.get_mut(&tid) {
                t.command = Some(DebugCommand::Resume { step, signal, syscall: false, together });
            }
        }
        drop(st);
        self.session.changed.notify_all();
        Ok(())
    }

    fn clear_resume_actions(&mut self) -> Result<(), Self::Error> {
        let mut st = lock(&self.session.state);
        st.locked = false;
        for t in st.threads.values_mut() {
            t.action = None;
        }
        Ok(())
    }

    fn set_resume_action_continue(&mut self, tid: Tid, signal: Option<Signal>) -> Result<(), Self::Error> {
        if let Some(t) = lock(&self.session.state).threads.get_mut(&tid_of(tid)) {
            t.action = Some((false, signal.map_or(0, Signal::to_linux)));
        }
        Ok(())
    }

    fn support_single_step(&mut self) -> Option<MultiThreadSingleStepOps<'_, Self>> {
        Some(self)
    }

    fn support_scheduler_locking(&mut self) -> Option<MultiThreadSchedulerLockingOps<'_, Self>> {
        Some(self)
    }
}

impl MultiThreadSingleStep for Debugee {
    fn set_resume_action_step(&mut self, tid: Tid, signal: Option<Signal>) -> Result<(), Self::Error> {
        if let Some(t) = lock(&self.session.state).threads.get_mut(&tid_of(tid)) {
            t.action = Some((true, signal.map_or(0, Signal::to_linux)));
        }
        Ok(())
    }
}

impl MultiThreadSchedulerLocking for Debugee {
    /// The threads without an action of their own stay stopped at the next resume (gdb
    /// steps a thread over a breakpoint so, and `set scheduler-locking on` asks for it).
    fn set_resume_action_scheduler_lock(&mut self) -> Result<(), Self::Error> {
        lock(&self.session.state).locked = true;
        Ok(())
    }
}

impl Breakpoints for Debugee {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }
}

impl SwBreakpoint for Debugee {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.any_thread_command(DebugCommand::InsertBreakpoint { addr }).is_ok())
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.any_thread_command(DebugCommand::RemoveBreakpoint { addr }).is_ok())
    }
}

impl gdbstub::target::ext::auxv::Auxv for Debugee {
    fn get_auxv(&self, offset: u64, length: usize, buf: &mut [u8]) -> TargetResult<usize, Self> {
        let auxv = self.any_thread_command(DebugCommand::ReadAuxv)?;
        let start = (offset as usize).min(auxv.len());
        let n = length.min(buf.len()).min(auxv.len() - start);
        buf[..n].copy_from_slice(&auxv[start..start + n]);
        Ok(n)
    }
}

enum EventLoop {}

impl BlockingEventLoop for EventLoop {
    type Target = Debugee;
    type Connection = Wire;
    type StopReason = MultiThreadStopReason<u64>;

    fn wait_for_stop_reason(
        target: &mut Debugee,
        conn: &mut Wire,
    ) -> Result<
        run_blocking::Event<Self::StopReason>,
        run_blocking::WaitForStopReasonError<&'static str, <Wire as Connection>::Error>,
    > {
        let session = &target.session;
        loop {
            // Drain the wake-ups first, then look: a stop after the look wakes the poll.
            let mut sink = [0u8; 64];
            while matches!((&session.wake_rx).read_some(&mut sink), Some(n) if n > 0) {}
            if let Some(reason) = next_stop(session) {
                return Ok(run_blocking::Event::TargetStopped(reason));
            }
            if let Some(byte) = conn.pending() {
                return Ok(run_blocking::Event::IncomingData(byte));
            }
            // gdbstub acknowledges a packet without flushing.
            conn.send().map_err(run_blocking::WaitForStopReasonError::Connection)?;
            let mut fds = [
                libc::pollfd { fd: conn.fd(), events: libc::POLLIN, revents: 0 },
                libc::pollfd { fd: session.wake_rx.as_raw_fd(), events: libc::POLLIN, revents: 0 },
            ];
            // SAFETY: two valid pollfd entries that outlive the call.
            let r = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if r < 0 {
                continue;
            }
            if fds[0].revents != 0 {
                conn.receive().map_err(run_blocking::WaitForStopReasonError::Connection)?;
            }
        }
    }

    fn on_interrupt(_target: &mut Debugee) -> Result<Option<Self::StopReason>, &'static str> {
        // As gdb's Ctrl-C on Linux: SIGINT for the program, which stops for the debugger
        // when it is about to be delivered (gdb does not pass it on by default).
        log::info!("gdb interrupts the program (SIGINT)");
        crate::signals::raise_for_program(abi_shared::linux::signal::SIGINT);
        Ok(None)
    }
}

/// The next stop to report: the program's end, or the oldest unreported stop.
fn next_stop(session: &Session) -> Option<MultiThreadStopReason<u64>> {
    let mut st = lock(&session.state);
    if let Some(how) = st.ended {
        return Some(match how {
            ExitHow::Status(code) => MultiThreadStopReason::Exited(code as u8),
            ExitHow::Signal(sig) | ExitHow::CoreDumped(sig) => MultiThreadStopReason::Terminated(gdb_signal(sig)),
        });
    }
    while let Some(tid) = st.queue.pop_front() {
        let Some(t) = st.threads.get_mut(&tid) else { continue };
        t.reported = true;
        let event = t.event;
        st.last = Some(tid);
        let g = gdb_tid(tid);
        return Some(match event {
            DebugEvent::Breakpoint => MultiThreadStopReason::SwBreak(g),
            // The ptrace-only events do not reach gdb (the guest sends them to a tracer).
            DebugEvent::Start
            | DebugEvent::Step
            | DebugEvent::SyscallEntry
            | DebugEvent::SyscallExit
            | DebugEvent::Exec
            | DebugEvent::Exit(_)
            | DebugEvent::Fork { .. }
            | DebugEvent::Interrupt { .. }
            | DebugEvent::VforkDone { .. }
            | DebugEvent::Halted => MultiThreadStopReason::SignalWithThread { tid: g, signal: Signal::SIGTRAP },
            DebugEvent::Signal(sig) => MultiThreadStopReason::SignalWithThread { tid: g, signal: gdb_signal(sig) },
        });
    }
    None
}

/// Non-blocking read of what is there.
trait ReadSome {
    fn read_some(self, buf: &mut [u8]) -> Option<usize>;
}

impl ReadSome for &UnixStream {
    fn read_some(self, buf: &mut [u8]) -> Option<usize> {
        use std::io::Read;
        let mut s = self;
        s.read(buf).ok()
    }
}
