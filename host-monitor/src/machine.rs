//! Building the guest machine: guest RAM, the VM, the boot image (boot_image.rs), BootInfo;
//! then running the vCPU and serving its hypercalls until the program ends.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use abi_shared::bootinfo::{BootInfo, Doorbell, Flavour, BOOT_INFO_MAGIC, BOOT_INFO_VERSION};
use abi_shared::hypercall::{encode_frame, Response};
use abi_shared::layout::*;
use abi_shared::linux::Pod;

use crate::boot_image;
use crate::guest_mem::GuestMemory;
use crate::server::{GuestOutcome, Server, ThreadStart, VcpuRequest};
use crate::threads::{Handover, ThreadHost, Waited};
use crate::vmm::{Exit, Vcpu, Vm};
use crate::worker::Worker;

/// The aarch64 guest machine (docs/arm64.md).
#[cfg(target_arch = "aarch64")]
#[path = "machine_arm64.rs"]
mod arm64;

#[derive(Debug)]
pub struct MachineError(pub String);

impl std::fmt::Display for MachineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

pub(crate) fn oob(e: crate::guest_mem::OutOfBounds) -> MachineError {
    MachineError(format!("guest memory too small: {e}"))
}

/// The guest (the vCPU whose block is at `block`) ran out of registered RAM: register
/// more, and say in that block how much there is now.
pub fn grow_ram(vm: &dyn Vm, mem: &GuestMemory, block: u64) -> Result<(), MachineError> {
    let wanted = mem.read_u64(block + vcpu_block::RAM_WANTED).map_err(oob)?;
    let registered = vm.grow_ram(mem, wanted);
    mem.write_u64(block + vcpu_block::RAM_REGISTERED, registered).map_err(oob)
}

/// Write `answer` as the response to the request in the vCPU block at `block` (for the
/// requests the vCPU's thread serves itself).
pub fn answer(mem: &GuestMemory, block: u64, answer: &Response) -> Result<(), MachineError> {
    let mut frame = [0u8; 64];
    let n = encode_frame(answer, &mut frame).map_err(|_| MachineError("encoding an answer".into()))?;
    mem.write(block + vcpu_block::HC_RESPONSE, &frame[..n]).map_err(oob)
}

/// After a fork, on each side: the guest kernel's own 2 MiB block (its image and the start
/// of its heap) is touched all over by every process, so each side takes its own copy
/// rather than share it copy-on-write (see `GuestMemory::unshare_huge_block`). Measured on
/// kvm_pvm: the child of a fork + exec of a static program took 200 shadow faults, 104
/// with this; a parent 53 after each fork, 24 with this.
pub fn unshare_kernel_block(mem: &GuestMemory) {
    #[cfg(target_os = "linux")]
    mem.unshare_huge_block(abi_shared::layout::KERNEL_LOAD_GPA);
    #[cfg(not(target_os = "linux"))]
    let _ = mem;
}

pub struct Machine {
    pub mem: Arc<GuestMemory>,
    /// The eventfd behind the guest's wake port, when requests go through shared memory.
    wake: Option<std::fs::File>,
    pub vm: Arc<dyn Vm>,
    pub vcpu: Box<dyn Vcpu>,
    pub flavour: Flavour,
    /// This monitor is a forked child of the one the user started.
    pub forked: bool,
    /// The guest vCPU index this machine's vCPU runs (the process's first thread's: 0, or
    /// in the child of a fork by another thread, the forking thread's) and its block.
    index: u32,
    block: u64,
}

/// Which process continues after the monitor forked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ForkSide {
    Parent,
    Child,
}

impl ForkSide {
    fn note(self) {
        log::debug!("fork: {self:?} {}", std::process::id());
    }
}

pub struct MachineConfig {
    pub memory: u64,
    pub flavour: Option<Flavour>,
    pub strace: bool,
    /// Most verbose guest log level to send (see bootinfo::flags::LOG_LEVEL_SHIFT).
    pub guest_log_level: u8,
    pub fd_floor: i32,
    /// Serve hypercalls from a worker thread through shared memory (no exit per request).
    pub exitless: bool,
    /// `--gdb`: the guest stops for a debugger.
    pub debugger: bool,
}

impl Machine {
    // On aarch64 the x86_64 machine below is not built (its helpers stay in use by
    // threads.rs, which arm64 does not reach yet).
    #[cfg_attr(target_arch = "aarch64", allow(unreachable_code))]
    pub fn build(cfg: &MachineConfig) -> Result<Machine, MachineError> {
        let mem =
            GuestMemory::new(cfg.memory).map_err(|e| MachineError(format!("cannot reserve guest memory: {e}")))?;
        crate::timing::mark("guest memory reserve");
        let vm = crate::vmm::create_vm(&mem, cfg.flavour, cfg.fd_floor).map_err(|e| MachineError(e.to_string()))?;
        #[cfg(target_arch = "aarch64")]
        return arm64::build(mem, vm, cfg);
        let flavour = vm.flavour();
        let wake = if cfg.exitless { vm.wake_eventfd(ports::HYPERCALL_WAKE) } else { None };
        crate::timing::mark("wake eventfd");
        let image = boot_image::lay_out(&mem, cfg.memory, flavour)?;
        crate::timing::mark("boot image");
        let block = vcpu_block_gpa(0);
        mem.write_u64(block + vcpu_block::RAM_REGISTERED, vm.ram_registered()).map_err(oob)?;
        let info = BootInfo {
            magic: BOOT_INFO_MAGIC,
            version: BOOT_INFO_VERSION,
            flavour: flavour as u32,
            mem_size: cfg.memory,
            free_start: image.free_start,
            boot_pt_next: image.boot_pt_next,
            tsc_khz: vm.tsc_khz(),
            doorbell: if wake.is_some() { Doorbell::SharedMemory } else { Doorbell::PortIo } as u32,
            vcpu_count: 1,
            random_seed: crate::entropy::seed(),
            flags: (if cfg.strace { abi_shared::bootinfo::flags::STRACE } else { 0 })
                | (if cfg.debugger { abi_shared::bootinfo::flags::DEBUGGER } else { 0 })
                | (if boot_image::sets_syscall_msrs(flavour) {
                    abi_shared::bootinfo::flags::SYSCALL_MSRS_SET
                } else {
                    0
                })
                | (u64::from(cfg.guest_log_level.min(4)) << abi_shared::bootinfo::flags::LOG_LEVEL_SHIFT),
        };
        mem.write(BOOT_INFO_GPA, info.as_bytes()).map_err(oob)?;
        let mut vcpu = vm.create_vcpu(0, &mem).map_err(|e| MachineError(e.to_string()))?;
        let state = boot_image::boot_state(flavour, block, KERNEL_PML4_GPA, image.entry, KERNEL_BASE + BOOT_INFO_GPA);
        vcpu.set_boot_state(&state).map_err(|e| MachineError(e.to_string()))?;
        crate::timing::mark("vCPU registers");
        Ok(Machine { mem: Arc::new(mem), wake, vm, vcpu, flavour, forked: false, index: 0, block })
    }

    /// Run until the guest reports an outcome or dies. Exits are counted by reason.
    pub fn run(
        &mut self,
        server: Arc<Server>,
        exits: &mut BTreeMap<&'static str, u64>,
    ) -> Result<GuestOutcome, MachineError> {
        let block = self.block;
        crate::server::creds::mark_first_vcpu_thread();
        // What concerns the whole process (its host signals, its timer) is in the first
        // block, whichever vCPU runs the first thread.
        crate::signals::attach(&self.mem, vcpu_block_gpa(0));
        crate::threads::set_main(self.index);
        crate::signals::catch_thread_kicks();
        self.publish_kick_flag();
        let mut worker = self.start_worker(&server, block)?;
        let threads = Arc::new(ThreadHost::new(
            self.vm.clone(),
            self.mem.clone(),
            server.clone(),
            self.flavour,
            worker.is_some(),
        ));
        crate::timing::mark("worker start");
        let outcome = self.run_vcpu(&server, &threads, &mut worker, exits);
        crate::timing::resume("program run");
        threads.stop_all();
        if let Some(w) = worker {
            w.stop();
        }
        crate::signals::detach();
        outcome
    }

    /// The guest ran out of registered RAM: register more, and say how much there is now.
    fn grow_ram(&self, block: u64) -> Result<(), MachineError> {
        grow_ram(self.vm.as_ref(), &self.mem, block)
    }

    fn start_worker(&mut self, server: &Arc<Server>, block: u64) -> Result<Option<Worker>, MachineError> {
        match self.wake.take() {
            Some(wake) => Ok(Some(
                Worker::start(self.mem.clone(), server.clone(), block, wake)
                    .map_err(|e| MachineError(format!("cannot start the hypercall worker: {e}")))?,
            )),
            None => Ok(None),
        }
    }

    /// Run the first vCPU until the program ends; it is registered for kicks meanwhile
    /// and unregistered before anything may tear it down.
    fn run_vcpu(
        &mut self,
        server: &Arc<Server>,
        threads: &Arc<ThreadHost>,
        worker: &mut Option<Worker>,
        exits: &mut BTreeMap<&'static str, u64>,
    ) -> Result<GuestOutcome, MachineError> {
        crate::threads::register(self.index, self.vcpu.as_mut());
        let outcome = self.serve_first_vcpu(server, threads, worker, exits);
        crate::threads::unregister(self.index);
        outcome
    }

    fn serve_first_vcpu(
        &mut self,
        server: &Arc<Server>,
        threads: &Arc<ThreadHost>,
        worker: &mut Option<Worker>,
        exits: &mut BTreeMap<&'static str, u64>,
    ) -> Result<GuestOutcome, MachineError> {
        // This thread's own channel to the vCPU's hypercall area (the worker has another).
        let mut channel = crate::server::Channel::new(self.block);
        loop {
            // Another thread's fork may need this vCPU suspended (Hypervisor.framework).
            if crate::fork_suspend::suspend_if_forking(self.vcpu.as_mut()).map_err(|e| MachineError(e.to_string()))? {
                self.publish_kick_flag();
                crate::threads::register(self.index, self.vcpu.as_mut());
            }
            // The vCPU's block (another one once a thread that execs has taken over).
            let block = self.block;
            let exit = self.vcpu.run().map_err(|e| MachineError(e.to_string()))?;
            *exits.entry(exit.stat_name()).or_default() += 1;
            match exit {
                Exit::Hypercall | Exit::HypercallWorkerAsleep => {
                    match crate::server::vcpu_request(&self.mem, block) {
                        Some(VcpuRequest::Fork { vfork }) => {
                            if self.fork(server, threads, worker, block, vfork)? == ForkSide::Child {
                                exits.clear();
                                self.forked = true;
                            }
                            continue;
                        }
                        Some(VcpuRequest::StartThread { vcpu, block: at, cr3, entry, arg }) => {
                            answer(&self.mem, block, &threads.start(ThreadStart { vcpu, block: at, cr3, entry, arg }))?;
                            continue;
                        }
                        Some(VcpuRequest::ThreadExit) => match threads.wait_for_end(self.vcpu.as_mut())? {
                            Waited::End(outcome) => return Ok(outcome),
                            Waited::Leader(h) => {
                                self.take_over(server, worker, h)?;
                                channel = crate::server::Channel::new(self.block);
                                continue;
                            }
                        },
                        Some(VcpuRequest::ExecLeader) => {
                            // Already the first thread (the guest does not ask then).
                            answer(&self.mem, block, &Response::Ret(i64::from(worker.is_some())))?;
                            continue;
                        }
                        None => {}
                    }
                    // Served here with the worker paused, then the worker polls for the
                    // requests that follow (a burst, or the write after a blocking read),
                    // unless that poll would take a core another thread wants: then the
                    // worker sleeps on and the burst goes by exits.
                    let handover = worker
                        .as_ref()
                        .filter(|_| exit == Exit::HypercallWorkerAsleep && crate::spare_core::spare_core());
                    if let Some(w) = handover {
                        w.pause();
                    }
                    if server.is_poisoned() {
                        return Err(MachineError("hypercall server poisoned".into()));
                    }
                    crate::server::serve_area(server, &mut channel, &self.mem);
                    if let Some(outcome) = server.take_outcome() {
                        return Ok(outcome);
                    }
                    if let Some(w) = handover {
                        w.wake_up();
                    }
                }
                Exit::HypercallWait => match worker.as_ref() {
                    Some(w) => {
                        if w.wait_for_answer().is_err() {
                            return Err(self.died("the hypercall worker thread died"));
                        }
                    }
                    None => return Err(self.died("the guest waited for a hypercall worker that does not exist")),
                },
                Exit::Interrupted => {
                    // The program's end, reported by another thread's vCPU.
                    if let Some(outcome) = server.take_outcome() {
                        return Ok(outcome);
                    }
                    if let Some(e) = threads.take_failure() {
                        return Err(e);
                    }
                    // A caught host signal, a due guest timer or a kick from another vCPU:
                    // a guest running user code would not look for it until its next
                    // syscall, so interrupt it.
                    let timer_due =
                        crate::worker::GuestTimer::new(&self.mem, vcpu_block_gpa(0)).and_then(|t| t.due()).is_some();
                    if crate::threads::take_kick(self.index) || crate::signals::pending() != 0 || timer_due {
                        self.vcpu
                            .inject_interrupt(abi_shared::layout::SIGNAL_KICK_VECTOR)
                            .map_err(|e| self.died(&e.to_string()))?;
                    }
                }
                Exit::WakePort | Exit::WakeWorker => match worker.as_ref() {
                    Some(w) => {
                        // The wake port's later rings stay in the host kernel.
                        if exit == Exit::WakePort {
                            self.vm.arm_wake_port(ports::HYPERCALL_WAKE);
                        }
                        w.wake_up();
                    }
                    None => return Err(self.died("the guest woke a hypercall worker that does not exist")),
                },
                Exit::GrowRam => self.grow_ram(block)?,
                Exit::BadAddress => self.ask_window_resync(block)?,
                Exit::UnknownPort(port) => {
                    return Err(self.died(&format!("the guest kernel used unknown I/O port {port:#x}")));
                }
                Exit::Shutdown => return Err(self.died("the guest kernel triple-faulted (shutdown)")),
                Exit::Halt => return Err(self.died("the guest kernel halted")),
                Exit::Other(what) => return Err(self.died(&what)),
            }
        }
    }

    /// The guest's fork, on the vCPU thread (the only thread a forked child keeps): save the
    /// vCPU, stop the hypercall worker (so no request is half-served and no lock is held
    /// across the fork), fork the monitor, and rebuild in the child what cannot be shared:
    /// the KVM VM and vCPU, the worker and its wake eventfd. Guest RAM is a private mapping,
    /// so the child runs on a copy-on-write copy. Each side then answers the guest.
    fn fork(
        &mut self,
        server: &Arc<Server>,
        threads: &ThreadHost,
        worker: &mut Option<Worker>,
        block: u64,
        vfork: bool,
    ) -> Result<ForkSide, MachineError> {
        // The child's new VM and the vfork link are the monitor's descriptors, above the
        // program's RLIMIT_NOFILE: room for them even when the program's table is full.
        crate::startup::with_fd_room(|| self.fork_with_room(server, threads, worker, block, vfork))
    }

    fn fork_with_room(
        &mut self,
        server: &Arc<Server>,
        threads: &ThreadHost,
        worker: &mut Option<Worker>,
        block: u64,
        vfork: bool,
    ) -> Result<ForkSide, MachineError> {
        let asked = std::time::Instant::now();
        // Hypervisor.framework: the other threads suspend their vCPUs first.
        let Ok(suspension) = crate::fork_suspend::suspend_others_for_fork(self.vm.as_ref(), self.index) else {
            self::answer(&self.mem, block, &Response::Ret(-i64::from(abi_shared::linux::errno::EAGAIN)))?;
            return Ok(ForkSide::Parent);
        };
        let vmm = |e: crate::vmm::VmmError| MachineError(format!("fork: {e}"));
        crate::signals::detach_vcpu();
        self.vcpu.suspend_for_fork().map_err(vmm)?;
        self.vm.prepare_fork().map_err(vmm)?;
        let had_worker = worker.is_some();
        if let Some(w) = worker.take() {
            self.wake = w.stop_keeping_wake();
        }
        let old_fds = self.vm.owned_fds();
        let floor = server.fds.floor();
        // A vfork whose link cannot be made is still a fork: the parent just does not wait.
        let mut link = if vfork { crate::server::VforkLink::new(floor).ok() } else { None };
        use std::io::Write;
        let _ = std::io::stdout().flush();
        // The worker was joined; the program's other threads wait at the guest's fork gate,
        // and the locks their host threads may still take are held across the fork.
        let held = threads.hold_for_fork();
        let forking = std::time::Instant::now();
        let pid = crate::signals::fork_holding_signals();
        drop(held);
        if pid >= 0 {
            crate::strace::forked(pid);
        }
        let (answer, side) = match pid {
            p if p < 0 => {
                let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EAGAIN);
                self.vm.after_fork_parent(&self.mem).map_err(vmm)?;
                (Response::Ret(-i64::from(crate::host::errno_to_linux(e))), ForkSide::Parent)
            }
            0 => {
                crate::timing::restart_at("fork asked", asked);
                crate::timing::mark_at("vCPU save and worker stop", forking);
                crate::timing::mark("host fork");
                self.unshare_kernel_block();
                crate::timing::mark("kernel block copy");
                self.vm.after_fork_child(&self.mem).map_err(vmm)?;
                ForkSide::Child.note();
                (
                    Response::Forked { pid: std::process::id() as i32, child: true, seed: crate::entropy::seed() },
                    ForkSide::Child,
                )
            }
            child => {
                // Another vCPU may write the block while it is copied: only when alone.
                if crate::threads::running_count() <= 1 {
                    self.unshare_kernel_block();
                }
                self.vm.after_fork_parent(&self.mem).map_err(vmm)?;
                if let Some(l) = link.take() {
                    server.set_vfork_wait(l.parent_side());
                }
                (Response::Forked { pid: child, child: false, seed: crate::entropy::seed() }, ForkSide::Parent)
            }
        };
        // The VM is rebuilt: the other vCPUs, if they were suspended, may resume.
        drop(suspension);
        self.vcpu.resume_after_fork().map_err(vmm)?;
        crate::timing::mark("vCPU state restore");
        self.publish_kick_flag();
        if side == ForkSide::Child {
            crate::threads::only_this_vcpu(self.index);
        }
        crate::threads::register(self.index, self.vcpu.as_mut());
        if side == ForkSide::Child {
            // The parent's wake eventfd is registered with the parent's VM: a new one.
            drop(self.wake.take());
            if had_worker {
                self.wake = self.vm.wake_eventfd(ports::HYPERCALL_WAKE);
            }
            server.fds.replace_vm_fds(&old_fds, &self.vm.owned_fds());
            server.reset_hypercalls();
            server.ptrace.forget_in_child();
            // macOS: the child did not inherit the kqueues behind epoll sets and timerfds.
            crate::host::sys::emulated_after_fork();
            if let Some(l) = link.take() {
                server.set_vfork_done(l.child_keeps());
            }
        }
        *worker = self.start_worker(server, block)?;
        crate::timing::mark("worker start");
        self::answer(&self.mem, block, &answer)?;
        Ok(side)
    }

    /// A thread other than the first execs (its other threads, the first included, have
    /// ended): its vCPU, handed over by its host thread, runs on this one from now on, whose
    /// id is the pid, as the process's first; the hypercall worker moves to its block.
    /// Answers its `VcpuRequest::ExecLeader`.
    fn take_over(
        &mut self,
        server: &Arc<Server>,
        worker: &mut Option<Worker>,
        h: Handover,
    ) -> Result<(), MachineError> {
        crate::signals::detach_vcpu();
        let old_block = self.block;
        // The old first vCPU never runs again (its thread exited).
        drop(std::mem::replace(&mut self.vcpu, h.vcpu));
        (self.index, self.block) = (h.index, h.block);
        // The new program acts with the exec'ing thread's credentials (they differ from
        // this thread's only where a thread changed its own with the raw call). Made before
        // the worker starts again below, which takes this thread's.
        if !crate::server::creds::take_on(&h.creds) {
            log::warn!("execve from a thread: the host did not give the first thread that thread's credentials");
        }
        // The guest may give the old first thread's index to a new thread (never index 0,
        // the boot vCPU's, which KVM keeps).
        if old_block != vcpu_block_gpa(0) {
            if let Ok(word) = self.mem.atomic_u64(old_block + vcpu_block::VCPU_IN_USE) {
                word.store(0, Ordering::SeqCst);
            }
        }
        crate::threads::set_main(self.index);
        self.publish_kick_flag();
        crate::threads::register(self.index, self.vcpu.as_mut());
        // A signal caught while the vCPU was on its way here kicked no one: have it looked at.
        if crate::signals::pending() != 0 {
            self.vcpu
                .inject_interrupt(abi_shared::layout::SIGNAL_KICK_VECTOR)
                .map_err(|e| self.died(&e.to_string()))?;
        }
        if let Some(w) = worker.take() {
            self.wake = w.stop_keeping_wake();
        }
        *worker = self.start_worker(server, self.block)?;
        log::debug!("execve: vCPU {} is the first thread's now (worker: {})", self.index, worker.is_some());
        answer(&self.mem, self.block, &Response::Ret(i64::from(worker.is_some())))
    }

    fn unshare_kernel_block(&self) {
        unshare_kernel_block(&self.mem);
    }

    /// The machine of a forked child whose first thread is the forking thread, whose vCPU
    /// (`index`, block `block`) came through the fork; `wake`: the eventfd of its hypercall
    /// worker's port, when it has one.
    pub fn forked_from_thread(
        mem: Arc<GuestMemory>,
        vm: Arc<dyn Vm>,
        vcpu: Box<dyn Vcpu>,
        flavour: Flavour,
        index: u32,
        block: u64,
        wake: Option<std::fs::File>,
    ) -> Machine {
        Machine { mem, wake, vm, vcpu, flavour, forked: true, index, block }
    }

    /// Tell the signal handler which thread runs the vCPU and how to stop it entering.
    fn publish_kick_flag(&mut self) {
        let flag = self.vcpu.kick_flag();
        let force_exit = self.vcpu.force_exit();
        // SAFETY: the flag lives in the vCPU's hypervisor-shared page (or the backend's own
        // box) until the next `suspend_for_fork`, which `fork` precedes with `detach_vcpu`.
        crate::signals::set_vcpu_thread(flag.map(|f| unsafe { &*f }), force_exit);
    }

    /// KVM_RUN failed with EFAULT. The one cause a program can bring about is a page of a
    /// shared file mapping whose file it truncated below that page after the guest mapped
    /// it: the host's mapping of the file raises SIGBUS there, which KVM reports so. The
    /// guest is asked (vcpu_block::WINDOW_RESYNC) to unmap such pages, so that the touch
    /// becomes its own page fault and a SIGBUS as on Linux. If its last look found none,
    /// or it has not looked yet (the touch came from the guest kernel, which cannot take
    /// the interrupt), nothing would change: the run ends as before.
    fn ask_window_resync(&mut self, block: u64) -> Result<(), MachineError> {
        match ask_window_resync(&self.mem, block, self.vcpu.as_mut()) {
            Ok(true) => Ok(()),
            Ok(false) => Err(self.died(BAD_ADDRESS)),
            Err(e) => Err(self.died(&e)),
        }
    }

    fn died(&self, what: &str) -> MachineError {
        MachineError(format!(
            "{what}; vCPU state: {}; syscall in flight: {}; {}",
            self.vcpu.snapshot(),
            self.syscall_in_flight(),
            last_entry(&self.mem, self.block)
        ))
    }

    /// The syscall the guest kernel was serving, as it published it in its per-CPU page.
    pub fn syscall_in_flight(&self) -> String {
        syscall_in_flight(&self.mem, self.block)
    }
}

/// What a vCPU's run ends with when the guest cannot be asked to turn a touch the host
/// cannot serve into its own fault.
pub const BAD_ADDRESS: &str = "KVM_RUN: Bad address (guest memory the host cannot provide)";

/// KVM_RUN of the vCPU whose block is at `block` failed with EFAULT (see
/// `Machine::ask_window_resync`): ask its guest to unmap the pages past their files' ends,
/// with the kick interrupt that makes it look. Ok(false) when the guest's last look found
/// nothing, or it has not looked yet: asking again would change nothing.
pub fn ask_window_resync(mem: &GuestMemory, block: u64, vcpu: &mut dyn Vcpu) -> Result<bool, String> {
    use abi_shared::layout::vcpu_block::{WINDOW_RESYNC, WINDOW_RESYNC_ASKED, WINDOW_RESYNC_IDLE};
    let word = mem.atomic_u64(block + WINDOW_RESYNC).map_err(|e| e.to_string())?;
    if word.load(Ordering::Acquire) != WINDOW_RESYNC_IDLE {
        return Ok(false);
    }
    word.store(WINDOW_RESYNC_ASKED, Ordering::Release);
    vcpu.inject_interrupt(abi_shared::layout::SIGNAL_KICK_VECTOR).map_err(|e| e.to_string())?;
    Ok(true)
}

/// The syscall the guest kernel was serving on the vCPU whose block is at `block`, as it
/// published it in its per-CPU page.
pub fn syscall_in_flight(mem: &GuestMemory, block: u64) -> String {
    match mem.read_u64(block + vcpu_block::SYSCALL_IN_FLIGHT) {
        Ok(u64::MAX) | Err(_) => "none".into(),
        Ok(nr) => abi_shared::syscalls::syscall_name(nr).map_or_else(|| format!("#{nr}"), str::to_owned),
    }
}

/// The latest entry from user mode of the vCPU whose block is at `block`, from the entry
/// frame at the top of its kernel stack (`vcpu_block::ENTRY_FRAME`): after a triple fault
/// KVM has reset the vCPU's registers, and this is what is left of where it was.
pub fn last_entry(mem: &GuestMemory, block: u64) -> String {
    use abi_shared::layout::vcpu_block::entry_frame as w;
    let word = |i: u64| mem.read_u64(block + vcpu_block::ENTRY_FRAME + i * 8).unwrap_or(0);
    let how = match word(w::VECTOR) {
        u64::MAX => format!("syscall {}", word(w::RAX)),
        v => format!("vector {v} (error {:#x})", word(w::ERROR)),
    };
    format!(
        "last entry from user mode: {how} at rip={:#x} rsp={:#x} cs={:#x} rdi={:#x} rsi={:#x} rdx={:#x} r10={:#x}",
        word(w::RIP),
        word(w::RSP),
        word(w::CS),
        word(w::RDI),
        word(w::RSI),
        word(w::RDX),
        word(w::R10)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dead_vcpu_is_described_by_its_latest_entry_frame() {
        use abi_shared::layout::vcpu_block::entry_frame as w;
        let block = 0x4_0000;
        let mut buf = vec![0u8; 0x8_0000];
        let mem = GuestMemory::from_vec_for_test(&mut buf);
        let frame = block + vcpu_block::ENTRY_FRAME;
        for (i, v) in [(w::VECTOR, u64::MAX), (w::RAX, 202), (w::RIP, 0x401234), (w::RSP, 0x7ffd_0000), (w::CS, 0x33)] {
            mem.write_u64(frame + i * 8, v).unwrap();
        }
        for (i, v) in [(w::RDI, 0x4c_0000), (w::RSI, 0x80), (w::RDX, 1), (w::R10, 0)] {
            mem.write_u64(frame + i * 8, v).unwrap();
        }
        mem.write_u64(block + vcpu_block::SYSCALL_IN_FLIGHT, 202).unwrap();
        assert_eq!(syscall_in_flight(&mem, block), "futex");
        assert_eq!(
            last_entry(&mem, block),
            "last entry from user mode: syscall 202 at rip=0x401234 rsp=0x7ffd0000 cs=0x33 rdi=0x4c0000 rsi=0x80 \
             rdx=0x1 r10=0x0"
        );
        mem.write_u64(frame + w::VECTOR * 8, 14).unwrap();
        mem.write_u64(frame + w::ERROR * 8, 6).unwrap();
        assert!(last_entry(&mem, block).starts_with("last entry from user mode: vector 14 (error 0x6) at rip=0x401234"));
    }
}
