//! The hypercall server: decode a request from a vCPU's area, validate it, perform it with
//! host syscalls (through the host personality) and encode the answer.
//!
//! Nothing here trusts the guest: a malformed frame, an unknown request or a bad guest
//! address produces `Response::Malformed` or a Linux errno, never a panic.

pub mod clock;
mod control;
pub mod creds;
pub mod exec;
pub mod fs;
pub mod info;
pub mod ipc;
pub mod mm;
pub mod net;
pub mod notify;
pub mod pidfd;
pub mod process;
pub mod procfs;
pub mod splice;
#[cfg(test)]
pub(crate) mod test_support;
pub mod threads;
pub mod tty;

pub use abi_shared::hypercall::VcpuRequest;
pub use process::{vcpu_request, ThreadStart, VforkLink, VforkWait};

use abi_shared::hypercall::{
    decode_frame, encode_frame, encode_response_frame, ExitHow, MalformedReason, Request, Response, Startup,
};

use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::guest_mem::GuestMemory;

/// Host file descriptors the monitor itself uses (/dev/kvm, the VM, vCPUs...). The guest
/// may not name them: every fd argument is checked here, so a Linux program cannot close
/// or overwrite the monitor's own descriptors.
///
/// Shared by every thread that serves hypercalls, so synchronized inside: each method
/// holds the lock only for its own look or change, never across a host call.
#[derive(Default, Debug)]
pub struct FdGuard {
    /// Read for every fd a request names, changed only when the monitor opens or closes
    /// one of its own descriptors: a reader-writer lock.
    reserved: RwLock<Vec<i32>>,
    /// Lowest fd number the monitor may take for itself (the program's fds lie below,
    /// unless `shared`).
    floor: AtomicI32,
    /// The program may hold numbers at and above the floor too: its soft limit lies above
    /// the floor, or did (see `FdRange::shared`).
    shared: AtomicBool,
}

impl FdGuard {
    pub fn reserve(&self, fd: i32) {
        let mut reserved = write(&self.reserved);
        if !reserved.contains(&fd) {
            reserved.push(fd);
        }
    }

    /// A forked child's VM descriptors replace the parent's (`old`, as the child inherited
    /// them) with its own (`new`). An old one still open (another thread's vCPU, whose
    /// thread the child does not have) stays the monitor's: the program must neither see
    /// nor clobber it.
    pub fn replace_vm_fds(&self, old: &[i32], new: &[i32]) {
        for &fd in old.iter().filter(|fd| !new.contains(fd)) {
            if crate::host::sys::fd_flags(fd).is_err() {
                self.unreserve(fd);
            }
        }
        for &fd in new {
            self.reserve(fd);
        }
    }

    pub fn unreserve(&self, fd: i32) {
        write(&self.reserved).retain(|&r| r != fd);
    }

    pub fn set_floor(&self, floor: i32) {
        self.floor.store(floor, Ordering::Relaxed);
    }

    pub fn floor(&self) -> i32 {
        self.floor.load(Ordering::Relaxed)
    }

    /// From now on the program may hold numbers at and above the floor (it never stops:
    /// it may keep them after lowering its limit).
    pub fn set_shared(&self) {
        self.shared.store(true, Ordering::Relaxed);
    }

    pub fn shared(&self) -> bool {
        self.shared.load(Ordering::Relaxed)
    }

    /// Make `fd`, one of the monitor's descriptors, free for the program to name (dup2,
    /// F_DUPFD): the descriptor moves to another number. False when it cannot move (one
    /// of KVM's).
    pub fn make_free(&self, fd: i32) -> bool {
        let Some(to) = crate::own_fd::move_away(fd, self.floor()) else { return false };
        let mut reserved = write(&self.reserved);
        reserved.retain(|&r| r != fd);
        reserved.push(to);
        true
    }

    /// The monitor's descriptors in `[from, to)`, lowest first.
    pub fn reserved_between(&self, from: i32, to: i32) -> Vec<i32> {
        let mut found: Vec<i32> = read(&self.reserved)
            .iter()
            .copied()
            .chain(crate::own_fd::held())
            .filter(|r| (from..to).contains(r))
            .collect();
        found.sort_unstable();
        found
    }

    pub fn is_reserved(&self, fd: i32) -> bool {
        read(&self.reserved).contains(&fd) || crate::own_fd::is_held(fd)
    }

    /// The lowest of the monitor's descriptors: the program's are all below it.
    pub fn lowest_reserved(&self) -> Option<i32> {
        read(&self.reserved).iter().copied().min()
    }
}

/// The server's own locks guard plain tables that every change leaves whole, so a
/// handler's panic (which `Server::poisoned` records) does not make them unreadable.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn read<T>(l: &RwLock<T>) -> RwLockReadGuard<'_, T> {
    l.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T>(l: &RwLock<T>) -> RwLockWriteGuard<'_, T> {
    l.write().unwrap_or_else(PoisonError::into_inner)
}

/// The guest's counters at exit (`--stats`, the end-of-run line).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GuestCounters {
    /// Per syscall number: (served in the guest, needed a hypercall).
    pub syscalls: Vec<(u64, u64)>,
    /// Per syscall number: calls that returned an error.
    pub failed: Vec<u64>,
    /// Syscall numbers answered ENOSYS because linuxrun lacks them.
    pub unimplemented: Vec<u64>,
    /// Features of implemented calls linuxrun lacks: (`Unsupported` kind, value).
    pub unsupported: Vec<(u64, u64)>,
}

/// What the guest reported when it stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestOutcome {
    Exited(ExitHow, GuestCounters),
    Panicked(String),
}

/// Per-process state of the hypercall server, shared by every thread that serves the
/// process's vCPUs (`Arc<Server>`): it is served through `&self`, and each piece of state
/// that requests change has its own short-held lock or is atomic. No lock is held across
/// a host call that can block (a pipe read, wait4, nanosleep, poll), so while one vCPU's
/// request waits in the host, the others' are served. What belongs to one serving thread
/// and one vCPU's hypercall area is a `Channel`.
pub struct Server {
    pub fds: FdGuard,
    startup: Vec<u8>,
    pub strace: bool,
    outcome: Mutex<Option<GuestOutcome>>,
    /// Requests served, for `--stats`.
    hypercalls: AtomicU64,
    /// Files held for the guest's file mappings.
    held_files: mm::HeldFiles,
    /// A vfork child's end of the link its parent waits on (see `VforkLink`), closed when
    /// its exec passes the point of no return. Shared so that a copy-back can write to it
    /// (a pipe write, which can block) without holding the lock.
    vfork_done: Mutex<Option<Arc<OwnedFd>>>,
    /// A vfork parent: the records of what its child wrote, for the guest to take.
    vfork_copy_back: Mutex<Vec<u8>>,
    /// A vfork parent's link to its child, until `ProcRequest::VforkWait` has seen it end.
    vfork_wait: Mutex<Option<VforkWait>>,
    /// A request handler panicked: the state it was changing may be half done, so the
    /// monitor stops serving (as it did when one lock guarded the whole server).
    poisoned: AtomicBool,
    /// Credential changes of the first vCPU's thread, for its hypercall worker to follow.
    first_vcpu_creds: creds::FirstVcpuChanges,
    /// `--gdb`: the debugger's side of the program's stops.
    debugger: std::sync::OnceLock<Arc<crate::gdb::Session>>,
    /// ptrace between linuxrun'd processes: our tracer, our tracees.
    pub ptrace: crate::ptrace::Ptrace,
}

/// Every thread that serves hypercalls shares the one server.
const _: () = {
    const fn shared_between_threads<T: Send + Sync>() {}
    shared_between_threads::<Server>();
};

impl Server {
    pub fn new(startup: &Startup, fds: FdGuard, strace: bool) -> Server {
        let startup = postcard::to_allocvec(startup).expect("encoding the startup block cannot fail");
        Server {
            fds,
            startup,
            strace,
            outcome: Mutex::new(None),
            hypercalls: AtomicU64::new(0),
            held_files: Default::default(),
            vfork_done: Mutex::new(None),
            vfork_copy_back: Mutex::new(Vec::new()),
            vfork_wait: Mutex::new(None),
            poisoned: AtomicBool::new(false),
            first_vcpu_creds: Default::default(),
            debugger: std::sync::OnceLock::new(),
            ptrace: Default::default(),
        }
    }

    /// ptrace's state, told where the monitor's descriptors start now.
    pub fn ptrace(&self) -> &crate::ptrace::Ptrace {
        self.ptrace.set_floor(self.fds.floor());
        &self.ptrace
    }

    /// `--gdb`: stops of the program go to this debugger session.
    pub fn set_debugger(&self, session: Arc<crate::gdb::Session>) {
        let _ = self.debugger.set(session);
    }

    /// What the guest reported when it stopped, once (the vCPU thread looks after each
    /// request it serves).
    pub fn take_outcome(&self) -> Option<GuestOutcome> {
        lock(&self.outcome).take()
    }

    /// Held by a thread that forks the monitor, so that no other thread holds it then
    /// (the child would find it locked for ever).
    pub fn hold_outcome_for_fork(&self) -> MutexGuard<'_, Option<GuestOutcome>> {
        lock(&self.outcome)
    }

    /// Whether the guest has reported its end (a thread's vCPU looks after each request,
    /// and leaves the outcome for the first vCPU's thread to take).
    pub fn has_outcome(&self) -> bool {
        lock(&self.outcome).is_some()
    }

    /// Requests served, for `--stats`.
    pub fn hypercalls(&self) -> u64 {
        self.hypercalls.load(Ordering::Relaxed)
    }

    /// A forked child counts its own requests.
    pub fn reset_hypercalls(&self) {
        self.hypercalls.store(0, Ordering::Relaxed);
    }

    /// A vfork child: keep the end of the link its parent waits on, closed at exec.
    pub fn set_vfork_done(&self, end: OwnedFd) {
        self.fds.reserve(end.as_raw_fd());
        *lock(&self.vfork_done) = Some(Arc::new(end));
    }

    /// A vfork parent: the link its `ProcRequest::VforkWait` waits on.
    pub fn set_vfork_wait(&self, link: VforkWait) {
        lock(&self.vfork_copy_back).clear();
        *lock(&self.vfork_wait) = Some(link);
    }

    /// `ProcRequest::VforkWait`: the child's records gather in `vfork_copy_back`; the link
    /// goes once the child has let its parent go.
    fn vfork_wait(&self) -> Response {
        // The wait blocks: the link is taken out of its lock meanwhile.
        let Some(link) = lock(&self.vfork_wait).take() else { return Response::Ret(0) };
        let mut stream = std::mem::take(&mut *lock(&self.vfork_copy_back));
        let done = link.wait(&mut stream);
        *lock(&self.vfork_copy_back) = stream;
        match done {
            Ok(()) => Response::Ret(0),
            Err(()) => {
                *lock(&self.vfork_wait) = Some(link);
                Response::Ret(-i64::from(abi_shared::linux::errno::EINTR))
            }
        }
    }

    /// The first vCPU's hypercall worker: make the credential changes the first vCPU's
    /// thread made, before serving the next request (see creds.rs).
    #[inline]
    pub fn follow_first_vcpu_creds(&self) {
        self.first_vcpu_creds.follow();
    }

    /// A new hypercall worker has its creator's credentials: nothing to follow.
    pub fn forget_first_vcpu_creds(&self) {
        self.first_vcpu_creds.forget();
    }

    /// A request handler panicked earlier: nothing more may be served.
    pub fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Relaxed)
    }

    /// Serve the request in `req_area` and write the answer into `resp_area`; returns the
    /// length of the answer frame.
    pub fn serve(&self, mem: &GuestMemory, req_area: &[u8], resp_area: &mut [u8]) -> usize {
        self.hypercalls.fetch_add(1, Ordering::Relaxed);
        let watch = PanicWatch(&self.poisoned);
        let resp = match decode_frame::<Request<'_>>(req_area) {
            Ok(req) => self.dispatch(mem, &req),
            Err(_) => Response::Malformed(MalformedReason::Decode),
        };
        drop(watch);
        encode_response_frame(&resp, resp_area)
            .or_else(|_| encode_frame(&Response::Malformed(MalformedReason::BadLength), resp_area))
            .unwrap_or(0)
    }

    /// One match over the families; each family's handler matches its own requests
    /// exhaustively, so a request nobody serves is a compile error, not an ENOSYS.
    fn dispatch(&self, mem: &GuestMemory, req: &Request<'_>) -> Response {
        match req {
            Request::Control(r) => self.control(mem, r),
            Request::Fs(r) => fs::handle(&self.fds, mem, r),
            Request::Mm(r) => self.memory(mem, r),
            Request::Proc(r) => self.process(mem, r),
            Request::Exec(r) => self.exec(mem, r),
            // Served by the vCPU's own thread before it gets here (`vcpu_request`); one
            // that did not come by exit cannot be.
            Request::Vcpu(_) => Response::Ret(-i64::from(abi_shared::linux::errno::ENOSYS)),
            Request::Futex(r) => threads::handle(mem, r),
            Request::Tty(r) => tty::handle(&self.fds, r),
            Request::Info(r) => info::handle(mem, r),
            Request::Clock(r) => clock::handle(r),
            Request::Procfs(r) => procfs::handle(&self.fds, mem, r),
            Request::Net(r) => net::handle(&self.fds, mem, r),
            Request::Ipc(r) => ipc::handle(&self.fds, mem, r),
            Request::Notify(r) => notify::handle(&self.fds, mem, r),
            Request::Splice(r) => splice::handle(&self.fds, mem, r),
            Request::Pidfd(r) => pidfd::handle(&self.fds, mem, r),
            Request::Creds { op } => creds::handle(&self.first_vcpu_creds, mem, op),
        }
    }
}

/// Records a panic that unwinds out of a request handler in `Server::poisoned`.
struct PanicWatch<'a>(&'a AtomicBool);

impl Drop for PanicWatch<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            self.0.store(true, Ordering::Relaxed);
        }
    }
}

/// One serving thread's channel to one vCPU's hypercall area (the vCPU block at `block`):
/// what serving that area needs besides the shared `Server`. Each thread that serves a
/// vCPU (its hypercall worker, and the vCPU thread itself for requests that come by exit)
/// has its own, so serving needs no lock on it.
pub struct Channel {
    block: u64,
    /// The request and response frames, kept from one request to the next (zeroing 4 KiB
    /// and allocating the copy cost ~150 ns, a tenth of a forwarded stat's time in the
    /// host).
    request: Vec<u8>,
    response: Vec<u8>,
}

impl Channel {
    pub fn new(block: u64) -> Channel {
        Channel { block, request: Vec::new(), response: Vec::new() }
    }
}

/// Serve the request in the channel's vCPU block: copy the frame out (the guest could
/// change it while we decode), serve it, and copy only the used part of the answer back.
pub fn serve_area(server: &Server, channel: &mut Channel, mem: &GuestMemory) {
    use abi_shared::layout::vcpu_block;
    let block = channel.block;
    let area = block + vcpu_block::HC_REQUEST;
    let Ok(len) = mem.read_u32(area) else { return };
    let len = (u64::from(len).min(vcpu_block::HC_REQUEST_SIZE - 4) + 4) as usize;
    channel.request.resize(len, 0);
    channel.response.resize(RESPONSE_FRAME_MAX, 0);
    if mem.read(area, &mut channel.request).is_ok() {
        let used = server.serve(mem, &channel.request, &mut channel.response);
        let _ = mem.write(block + vcpu_block::HC_RESPONSE, &channel.response[..used]);
    }
}

/// The longest answer the monitor writes: the vCPU block's response area (it was 4096,
/// a quarter of the area, which turned a debugger's full-page read, 4096 bytes and their
/// framing, into a failure).
const RESPONSE_FRAME_MAX: usize = abi_shared::layout::vcpu_block::HC_RESPONSE_SIZE as usize;

// The host's clocks, which the rest of the monitor reaches through the server.
pub use crate::host::sys::clock_ns;

#[cfg(test)]
mod tests {
    use super::*;
    use abi_shared::hypercall::{decode_frame, GuestSeg, SegList, PROTOCOL_VERSION};
    use abi_shared::hypercall::{
        ControlRequest, ExecRequest, FsRequest, InfoRequest, IpcRequest, PidfdRequest, ProcRequest, ProcfsRequest,
        Request, TtyRequest,
    };
    use proptest::prelude::*;

    fn startup() -> Startup {
        Startup {
            exec_path: b"/bin/true".to_vec(),
            filename: b"/bin/true".to_vec(),
            script_argv: None,
            argv: vec![b"true".to_vec()],
            envp: vec![],
            pid: 1,
            ppid: 0,
            uid: 0,
            euid: 0,
            gid: 0,
            egid: 0,
            umask: 0o22,
            hostname: b"h".to_vec(),
            kernel_release: b"6.1.0".to_vec(),
            kernel_version: b"#1".to_vec(),
            rlimits: vec![],
            cpu_count: 1,
            ignored_signals: 0,
            blocked_signals: 0,
        }
    }

    fn serve(server: &Server, mem: &GuestMemory, req: &Request<'_>) -> Response {
        let mut area = [0u8; 4096];
        encode_frame(req, &mut area).unwrap();
        let mut resp = [0u8; 4096];
        let n = server.serve(mem, &area, &mut resp);
        assert!(n > 0);
        decode_frame(&resp).unwrap()
    }

    #[test]
    fn hello_checks_the_protocol_version() {
        let mut buf = vec![0u8; 65536];
        let mem = GuestMemory::from_vec_for_test(&mut buf);
        let s = Server::new(&startup(), FdGuard::default(), false);
        assert!(matches!(
            serve(&s, &mem, &Request::Control(ControlRequest::Hello { version: PROTOCOL_VERSION })),
            Response::Hello(_)
        ));
        assert_eq!(
            serve(&s, &mem, &Request::Control(ControlRequest::Hello { version: PROTOCOL_VERSION + 1 })),
            Response::Malformed(MalformedReason::Version)
        );
    }

    #[test]
    fn startup_block_outside_guest_ram_is_refused() {
        let mut buf = vec![0u8; 65536];
        let mem = GuestMemory::from_vec_for_test(&mut buf);
        let s = Server::new(&startup(), FdGuard::default(), false);
        let segs = [GuestSeg { gpa: 65530, len: 4096 }];
        let r = serve(&s, &mem, &Request::Control(ControlRequest::GetStartup { buf: SegList::Borrowed(&segs) }));
        assert_eq!(r, Response::Malformed(MalformedReason::BadGuestAddress));
        let segs = [GuestSeg { gpa: 4096, len: 4096 }];
        assert!(
            matches!(serve(&s, &mem, &Request::Control(ControlRequest::GetStartup { buf: SegList::Borrowed(&segs) })), Response::Ret(n) if n > 0)
        );
    }

    #[test]
    fn exit_with_counters_outside_ram_is_refused() {
        let mut buf = vec![0u8; 4096];
        let mem = GuestMemory::from_vec_for_test(&mut buf);
        let s = Server::new(&startup(), FdGuard::default(), false);
        let segs = [GuestSeg { gpa: u64::MAX - 8, len: 16 }];
        let r = serve(
            &s,
            &mem,
            &Request::Control(ControlRequest::Exit { how: ExitHow::Status(0), stats: SegList::Borrowed(&segs) }),
        );
        assert_eq!(r, Response::Malformed(MalformedReason::BadGuestAddress));
        assert!(s.take_outcome().is_none());
    }

    #[test]
    fn garbage_frame_gets_a_decode_error() {
        let mut buf = vec![0u8; 4096];
        let mem = GuestMemory::from_vec_for_test(&mut buf);
        let s = Server::new(&startup(), FdGuard::default(), false);
        let mut resp = [0u8; 64];
        let n = s.serve(&mem, &[0xff, 0xff, 0xff, 0xff, 1, 2, 3], &mut resp);
        assert!(n > 0);
        assert_eq!(decode_frame::<Response>(&resp).unwrap(), Response::Malformed(MalformedReason::Decode));
    }

    proptest! {
        /// Whatever a guest writes into its request area, the server answers and does not
        /// panic. Requests naming memory land in a small guest RAM with real fds closed off.
        #[test]
        fn arbitrary_requests_never_panic(body in proptest::collection::vec(any::<u8>(), 0..256)) {
            let mut buf = vec![0u8; 16384];
            let mem = GuestMemory::from_vec_for_test(&mut buf);
            let guard = FdGuard::default();
            // Every fd the test process could have is off limits: no request may touch them.
            for fd in 0..1024 {
                guard.reserve(fd);
            }
            let s = Server::new(&startup(), guard, false);
            let mut area = vec![0u8; body.len() + 4];
            area[..4].copy_from_slice(&(body.len() as u32).to_le_bytes());
            area[4..].copy_from_slice(&body);
            // Sleeping in a futex or changing the test process's cwd/umask is harmless but
            // slow or confusing; signalling, stopping, waiting for, renicing or exec'ing processes
            // would hit the test harness itself (kill(0), StopSelf) or other tests' children:
            // skip those requests.
            if let Ok(req) = decode_frame::<Request<'_>>(&area) {
                if matches!(req, Request::Fs(FsRequest::Chdir { .. }) | Request::Fs(FsRequest::Fchdir { .. }) | Request::Fs(FsRequest::Umask { .. })
                    // A chroot would change the whole test process's view.
                    | Request::Fs(FsRequest::Chroot { .. })
                    | Request::Fs(FsRequest::Unlinkat { .. }) | Request::Fs(FsRequest::Renameat2 { .. }) | Request::Fs(FsRequest::Mkdirat { .. }) | Request::Fs(FsRequest::Mknodat { .. }) | Request::Procfs(ProcfsRequest::OpenHostProc { .. }) | Request::Procfs(ProcfsRequest::ProcessName { .. }) | Request::Fs(FsRequest::Symlinkat { .. })
                    | Request::Fs(FsRequest::Fchmodat { .. }) | Request::Fs(FsRequest::Truncate { .. }) | Request::Fs(FsRequest::Openat { .. }) | Request::Control(ControlRequest::Exit { .. })
                    | Request::Fs(FsRequest::Setxattr { .. }) | Request::Fs(FsRequest::Removexattr { .. }) | Request::Fs(FsRequest::MemfdCreate { .. })
                    | Request::Procfs(ProcfsRequest::OpenMemory { .. }) | Request::Procfs(ProcfsRequest::OpenEmptyDir { .. })
                    | Request::Proc(ProcRequest::Kill { .. }) | Request::Proc(ProcRequest::Sigqueue { .. }) | Request::Proc(ProcRequest::StopSelf { .. }) | Request::Pidfd(PidfdRequest::PidfdSendSignal { .. })
                    | Request::Control(ControlRequest::SignalDispositions { .. }) | Request::Exec(ExecRequest::ExecNative { .. }) | Request::Proc(ProcRequest::Wait4 { .. })
                    | Request::Proc(ProcRequest::Waitid { .. }) | Request::Info(InfoRequest::Setpriority { .. }) | Request::Tty(TtyRequest::IoctlSetPgrp { .. })
                    | Request::Tty(TtyRequest::IoctlSetCtty { .. }) | Request::Tty(TtyRequest::IoctlNoCtty { .. })
                    // A credential change would change the test thread's ids.
                    | Request::Creds { .. }
                    // Host IPC objects are the whole machine's: a random request could
                    // create, block on or remove someone's.
                    | Request::Ipc(IpcRequest::IpcGet { .. }) | Request::Ipc(IpcRequest::IpcCtl { .. }) | Request::Ipc(IpcRequest::Semop { .. })
                    | Request::Ipc(IpcRequest::Msgsnd { .. }) | Request::Ipc(IpcRequest::Msgrcv { .. }) | Request::Ipc(IpcRequest::MqOpen { .. })
                    | Request::Ipc(IpcRequest::MqUnlink { .. })) {
                    return Ok(());
                }
            }
            let mut resp = [0u8; 4096];
            let n = s.serve(&mem, &area, &mut resp);
            prop_assert!(n > 0);
        }
    }
}
