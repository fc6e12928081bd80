//! The KVM backend (rust-vmm's kvm-ioctls). Detects kvm_pvm, where the guest kernel runs in
//! the pvm flavour with its VIF page registered before the first instruction.

use std::fs::OpenOptions;
use std::mem::ManuallyDrop;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use kvm_bindings::{
    kvm_fpu, kvm_msr_entry, kvm_regs, kvm_segment, kvm_sregs, kvm_userspace_memory_region, kvm_vcpu_events, kvm_xcrs,
    kvm_xsave, Msrs, KVM_MAX_CPUID_ENTRIES,
};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};

use abi_shared::bootinfo::Flavour;
use abi_shared::layout::{ports, selectors};

use super::{BootState, Exit, RegSnapshot, Vcpu, Vm, VmmError};
use crate::guest_mem::{GuestMemory, WINDOW_CHUNK};

/// _IOW(KVMIO, 0x46, struct kvm_userspace_memory_region): kvm-ioctls does not export it,
/// and the window's slots are added from the hypercall worker, which has no `VmFd`.
const KVM_SET_USER_MEMORY_REGION: libc::c_ulong = 0x4020_ae46;
/// Slot 0 is the first piece of guest RAM; the file window's chunks follow (at most 64).
const WINDOW_FIRST_SLOT: u32 = 1;
/// The further pieces of guest RAM, registered as the guest asks (`Vm::grow_ram`).
const RAM_GROWN_FIRST_SLOT: u32 = 128;

/// kvm_pvm's identification MSR and the value it reads on this host build ("PVM").
const MSR_PVM_ID: u32 = 0x4b56_4d11;
const PVM_ID_VALUE: u64 = 0x4d_5650;

pub struct KvmVm {
    shared: Arc<KvmShared>,
    first_vcpu: Mutex<Option<VcpuFd>>,
    flavour: Flavour,
}

/// What the VM and its vCPUs share. A forked child replaces the VM (a KVM VM belongs to
/// the address space that created it), so the VM sits behind a lock with a generation
/// number that tells each vCPU whether it must be rebuilt.
struct KvmShared {
    kvm: Kvm,
    vm: Mutex<VmFd>,
    /// Bumped each time the VM is replaced (in a forked child).
    generation: AtomicU64,
    /// The VM's descriptor, for the file window's slot registration (made from the
    /// hypercall worker, which holds no lock).
    window_vm_fd: Arc<AtomicI32>,
    fd_floor: i32,
    owned: Mutex<Vec<i32>>,
    /// Eventfds for ioeventfd ports of the current VM (kept open with it).
    ioeventfds: Mutex<Vec<WakePort>>,
    /// The memory slots of guest RAM, in GPA order and contiguous from 0 (a forked child
    /// registers the same ones in its VM).
    ram_slots: Mutex<Vec<kvm_userspace_memory_region>>,
    /// vCPUs of ended threads, as (id, VM generation, descriptor). KVM cannot destroy a
    /// vCPU short of the whole VM, nor create a second one with the same id, so the next
    /// thread given the same id takes its predecessor's.
    retired: Mutex<Vec<(u64, u64, VcpuFd)>>,
}

/// An eventfd that the guest signals by writing to `port`. KVM learns of it only when the
/// guest first rings the port (that one `out` exits, see `arm_wake_port`): on kvm_pvm a VM
/// torn down within some 10 ms of getting an ioeventfd takes that long to close, which
/// every short-lived process paid in its exit, while a guest whose exits prove the
/// hypervisor dear never rings the port at all.
struct WakePort {
    fd: RawFd,
    port: u16,
    registered: bool,
}

fn failed(what: &str, e: impl std::fmt::Display) -> VmmError {
    VmmError::Failed(format!("{what}: {e}"))
}

/// Move `fd` to the lowest free number at or above `floor` (close-on-exec), closing the
/// original, so that the Linux program finds the low fd numbers free as on Linux.
fn move_fd_high(fd: RawFd, floor: i32) -> Result<RawFd, VmmError> {
    // SAFETY: F_DUPFD_CLOEXEC on an fd we own creates a new fd; no memory is involved.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor) };
    if high < 0 {
        let e = std::io::Error::last_os_error();
        // SAFETY: fd is ours; left open it would take one of the program's numbers.
        unsafe { libc::close(fd) };
        return Err(failed("moving a KVM descriptor", e));
    }
    // SAFETY: fd is ours and no longer needed (the duplicate refers to the same object).
    unsafe { libc::close(fd) };
    Ok(high)
}

fn open_kvm(floor: i32) -> Result<Kvm, VmmError> {
    let file = OpenOptions::new().read(true).write(true).open("/dev/kvm").map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => VmmError::Unavailable(
            "/dev/kvm does not exist: this machine offers no KVM (enable virtualization, or load kvm_intel/kvm_amd)"
                .into(),
        ),
        std::io::ErrorKind::PermissionDenied => VmmError::Unavailable(
            "no permission to open /dev/kvm (add your user to the 'kvm' group, or run as root)".into(),
        ),
        _ => VmmError::Unavailable(format!("cannot open /dev/kvm: {e}")),
    })?;
    let fd = move_fd_high(file.into_raw_fd(), floor)?;
    // SAFETY: fd is an open /dev/kvm descriptor that nothing else owns.
    Ok(unsafe { Kvm::from_raw_fd(fd) })
}

/// KVM_CREATE_VM, again when a signal cut it short: a stop and continue of a process that
/// is still building its VM (a freshly forked child its parent stops) makes it fail with
/// EINTR, which no restart hides.
fn create_vm_retrying(kvm: &Kvm) -> Result<VmFd, VmmError> {
    loop {
        match kvm.create_vm() {
            Err(e) if e.errno() == libc::EINTR => continue,
            r => return r.map_err(|e| failed("KVM_CREATE_VM", e)),
        }
    }
}

/// A new VM with the guest RAM slots `ram`, its descriptor above `floor`.
fn new_vm(kvm: &Kvm, ram: &[kvm_userspace_memory_region], floor: i32) -> Result<VmFd, VmmError> {
    let vm0 = create_vm_retrying(kvm)?;
    let vm_fd = move_fd_high(vm0.as_raw_fd(), floor)?;
    std::mem::forget(vm0);
    // SAFETY: vm_fd is a VM descriptor we own exclusively.
    let vm = unsafe { kvm.create_vmfd_from_rawfd(vm_fd) }.map_err(|e| failed("adopting the VM fd", e))?;
    crate::timing::mark("VM create");
    for region in ram {
        // SAFETY: every region is a piece of GuestMemory's mapping (ram_piece), which
        // outlives the VM (both live for the whole run, and the VM is dropped first).
        unsafe { vm.set_user_memory_region(*region) }.map_err(|e| failed("KVM_SET_USER_MEMORY_REGION", e))?;
    }
    crate::timing::mark("memory slots");
    Ok(vm)
}

/// The memory slot for guest RAM `[start, end)`.
fn ram_piece(mem: &GuestMemory, slot: u32, start: u64, end: u64) -> kvm_userspace_memory_region {
    kvm_userspace_memory_region {
        slot,
        flags: 0,
        guest_phys_addr: start,
        memory_size: end - start,
        userspace_addr: mem.host_base() as u64 + start,
    }
}

fn registered_end(ram: &[kvm_userspace_memory_region]) -> u64 {
    ram.last().map_or(0, |r| r.guest_phys_addr + r.memory_size)
}

impl KvmVm {
    pub fn create(mem: &GuestMemory, force: Option<Flavour>, fd_floor: i32) -> Result<KvmVm, VmmError> {
        let kvm = open_kvm(fd_floor)?;
        let ram = vec![ram_piece(mem, 0, 0, mem.size().min(super::RAM_FIRST_PIECE))];
        let vm = new_vm(&kvm, &ram, fd_floor)?;
        let window_vm_fd = Arc::new(AtomicI32::new(vm.as_raw_fd()));
        let cell = window_vm_fd.clone();
        // The file window: a memory slot per chunk, registered when the monitor first maps
        // a file there (KVM allows adding slots while vCPUs run). KVM then follows the
        // monitor's mmaps inside it through its MMU notifiers.
        mem.set_window_activate(Box::new(move |gpa, len, host| {
            let region = kvm_userspace_memory_region {
                slot: WINDOW_FIRST_SLOT + ((gpa - abi_shared::layout::FILE_WINDOW_GPA) / WINDOW_CHUNK) as u32,
                flags: 0,
                guest_phys_addr: gpa,
                memory_size: len,
                userspace_addr: host as u64,
            };
            // SAFETY: KVM_SET_USER_MEMORY_REGION reads the region struct; the memory is part
            // of the window reservation, which lives as long as GuestMemory and so outlives
            // the VM; the VM fd stays open while hypercalls are served.
            unsafe { libc::ioctl(cell.load(Ordering::Acquire), KVM_SET_USER_MEMORY_REGION, &region) == 0 }
        }));
        let vcpu = new_vcpu(&kvm, &vm, 0, fd_floor)?;
        let detected = if read_msr(&vcpu, MSR_PVM_ID) == Some(PVM_ID_VALUE) { Flavour::Pvm } else { Flavour::Classic };
        crate::timing::mark("flavour MSR");
        let flavour = match force {
            Some(f) if f != detected => {
                return Err(VmmError::Unavailable(format!(
                    "--platform {}: this KVM runs only the {} flavour ({})",
                    if f == Flavour::Pvm { "pvm" } else { "classic" },
                    if detected == Flavour::Pvm { "pvm" } else { "classic" },
                    if detected == Flavour::Pvm { "it is kvm_pvm" } else { "it is not kvm_pvm" },
                )))
            }
            _ => detected,
        };
        let owned = vec![kvm.as_raw_fd(), vm.as_raw_fd(), vcpu.as_raw_fd()];
        let shared = Arc::new(KvmShared {
            kvm,
            vm: Mutex::new(vm),
            generation: AtomicU64::new(0),
            window_vm_fd,
            fd_floor,
            owned: Mutex::new(owned),
            ioeventfds: Mutex::new(Vec::new()),
            ram_slots: Mutex::new(ram),
            retired: Mutex::new(Vec::new()),
        });
        Ok(KvmVm { shared, first_vcpu: Mutex::new(Some(vcpu)), flavour })
    }
}

/// `_IO(KVMIO, 0x41)`.
const KVM_CREATE_VCPU: libc::c_ulong = 0xAE41;

fn new_vcpu(kvm: &Kvm, vm: &VmFd, id: u64, floor: i32) -> Result<VcpuFd, VmmError> {
    // Created with the bare ioctl rather than `VmFd::create_vcpu`: that maps the vCPU's
    // kvm_run area, a mapping that would outlive the moved descriptor and keep the vCPU,
    // and with it the whole VM, alive until the process exits (where tearing it down then
    // holds up the exit by milliseconds).
    // SAFETY: KVM_CREATE_VCPU takes the vCPU id by value and returns a new fd or -1.
    let v0 = unsafe { libc::ioctl(vm.as_raw_fd(), KVM_CREATE_VCPU, id as libc::c_ulong) };
    if v0 < 0 {
        return Err(failed("KVM_CREATE_VCPU", std::io::Error::last_os_error()));
    }
    let fd = move_fd_high(v0, floor)?;
    // SAFETY: fd is the vCPU descriptor we just created and own.
    let vcpu = unsafe { vm.create_vcpu_from_rawfd(fd) }.map_err(|e| failed("adopting the vCPU fd", e))?;
    crate::timing::mark("vCPU create");
    vcpu.set_cpuid2(&supported_cpuid(kvm)?).map_err(|e| failed("KVM_SET_CPUID2", e))?;
    crate::timing::mark("CPUID");
    Ok(vcpu)
}

/// KVM_GET_SUPPORTED_CPUID, asked once per run (~0.3 ms each time on kvm_pvm): every vCPU
/// gets the same table, a thread's and a forked child's too (the child inherits this copy
/// with the monitor's memory). The first vCPU fills it before any thread or fork exists,
/// so later readers take no lock (none can be held across a fork).
fn supported_cpuid(kvm: &Kvm) -> Result<kvm_bindings::CpuId, VmmError> {
    static SUPPORTED: std::sync::OnceLock<kvm_bindings::CpuId> = std::sync::OnceLock::new();
    if let Some(c) = SUPPORTED.get() {
        return Ok(c.clone());
    }
    let c = kvm.get_supported_cpuid(KVM_MAX_CPUID_ENTRIES).map_err(|e| failed("KVM_GET_SUPPORTED_CPUID", e))?;
    let _ = SUPPORTED.set(c.clone());
    Ok(c)
}

fn read_msr(vcpu: &VcpuFd, index: u32) -> Option<u64> {
    let mut msrs = Msrs::from_entries(&[kvm_msr_entry { index, ..Default::default() }]).ok()?;
    match vcpu.get_msrs(&mut msrs) {
        Ok(1) => Some(msrs.as_slice()[0].data),
        _ => None,
    }
}

impl Vm for KvmVm {
    fn flavour(&self) -> Flavour {
        self.flavour
    }

    fn tsc_khz(&self) -> u64 {
        let from_kvm = self.first_vcpu.lock().ok().and_then(|v| v.as_ref().and_then(|v| v.get_tsc_khz().ok()));
        match from_kvm {
            Some(khz) if khz > 0 => khz as u64,
            _ => super::measure_tsc_khz(),
        }
    }

    fn create_vcpu(&self, id: u64, _mem: &GuestMemory) -> Result<Box<dyn Vcpu>, VmmError> {
        let generation = self.shared.generation.load(Ordering::Acquire);
        let taken = if id == 0 { self.first_vcpu.lock().ok().and_then(|mut v| v.take()) } else { None };
        let fd = match taken.or_else(|| self.shared.take_retired(id, generation)) {
            Some(v) => v,
            None => self.shared.new_vcpu(id)?,
        };
        let mut vcpu = KvmVcpu {
            fd: ManuallyDrop::new(fd),
            id,
            shared: self.shared.clone(),
            generation,
            saved: None,
            deferred_interrupt: None,
        };
        vcpu.forget_previous_run();
        Ok(Box::new(vcpu))
    }

    fn owned_fds(&self) -> Vec<i32> {
        self.shared.owned.lock().map(|o| o.clone()).unwrap_or_default()
    }

    fn wake_eventfd(&self, port: u16) -> Option<std::fs::File> {
        let floor = self.shared.fd_floor;
        let efd = vmm_sys_util::eventfd::EventFd::new(libc::EFD_CLOEXEC).ok()?;
        let high = move_fd_high(efd.as_raw_fd(), floor).ok()?;
        std::mem::forget(efd);
        // SAFETY: `high` is the eventfd just created and moved; nothing else owns it.
        let efd = unsafe { vmm_sys_util::eventfd::EventFd::from_raw_fd(high) };
        // The worker's handle: a duplicate above the program's fds.
        // SAFETY: F_DUPFD_CLOEXEC on our eventfd returns a new fd or -1.
        let dup = unsafe { libc::fcntl(efd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, floor) };
        if dup < 0 {
            return None;
        }
        if let Ok(mut o) = self.shared.owned.lock() {
            o.push(efd.as_raw_fd());
            o.push(dup);
        }
        if let Ok(mut e) = self.shared.ioeventfds.lock() {
            e.push(WakePort { fd: efd.as_raw_fd(), port, registered: false });
        }
        // Its registration, once made, lives as long as the VM; keep the eventfd open with it.
        std::mem::forget(efd);
        // SAFETY: dup is a fresh descriptor we own.
        Some(unsafe { std::fs::File::from_raw_fd(dup) })
    }

    fn arm_wake_port(&self, port: u16) {
        let (Ok(vm), Ok(mut ports)) = (self.shared.vm.lock(), self.shared.ioeventfds.lock()) else { return };
        let Some(wake) = ports.iter_mut().find(|w| w.port == port && !w.registered) else { return };
        // SAFETY: the eventfd stays open while this module records it; ManuallyDrop keeps
        // this temporary owner from closing it.
        let efd = std::mem::ManuallyDrop::new(unsafe { vmm_sys_util::eventfd::EventFd::from_raw_fd(wake.fd) });
        let address = kvm_ioctls::IoEventAddress::Pio(port.into());
        wake.registered = vm.register_ioevent(&efd, &address, kvm_ioctls::NoDatamatch).is_ok();
    }

    fn ram_registered(&self) -> u64 {
        self.shared.ram_slots.lock().map(|r| registered_end(&r)).unwrap_or(0)
    }

    fn grow_ram(&self, mem: &GuestMemory, wanted: u64) -> u64 {
        let (Ok(vm), Ok(mut ram)) = (self.shared.vm.lock(), self.shared.ram_slots.lock()) else { return 0 };
        let start = registered_end(&ram);
        let end = super::next_ram_end(start, wanted, mem.size());
        if end == start {
            return start;
        }
        let Ok(grown) = u32::try_from(ram.len() - 1) else { return start };
        let piece = ram_piece(mem, RAM_GROWN_FIRST_SLOT + grown, start, end);
        // SAFETY: the piece lies inside GuestMemory's mapping (end <= its size), which
        // outlives the VM.
        match unsafe { vm.set_user_memory_region(piece) } {
            Ok(()) => {
                ram.push(piece);
                end
            }
            Err(e) => {
                log::warn!("registering guest RAM {start:#x}..{end:#x}: {e}");
                start
            }
        }
    }

    /// KVM lets a process keep its VM across fork: nothing to release.
    fn prepare_fork(&self) -> Result<(), VmmError> {
        Ok(())
    }

    /// The parent's VM was never torn down.
    fn after_fork_parent(&self, _mem: &GuestMemory) -> Result<(), VmmError> {
        Ok(())
    }

    /// A KVM VM belongs to the address space that created it (KVM refuses ioctls from
    /// another mm), so the child builds its own over its copy-on-write copy of guest RAM,
    /// registers the file window's active chunks again, and leaves the parent's VM and
    /// ioeventfds (inherited descriptors) behind. Its vCPUs follow in `resume_after_fork`.
    fn after_fork_child(&self, mem: &GuestMemory) -> Result<(), VmmError> {
        let sh = &self.shared;
        let ram = sh.ram_slots.lock().map_err(|_| VmmError::Failed("RAM slot lock poisoned".into()))?.clone();
        let new = new_vm(&sh.kvm, &ram, sh.fd_floor)?;
        let new_fd = new.as_raw_fd();
        let mut vm = sh.vm.lock().map_err(|_| VmmError::Failed("VM lock poisoned".into()))?;
        // Dropping the parent's VmFd only closes this process's descriptor.
        *vm = new;
        drop(vm);
        if let Ok(mut e) = sh.ioeventfds.lock() {
            for wake in e.drain(..) {
                // SAFETY: an ioeventfd of the parent's VM that only this module holds.
                unsafe { libc::close(wake.fd) };
            }
        }
        if let Ok(mut o) = sh.owned.lock() {
            *o = vec![sh.kvm.as_raw_fd(), new_fd];
        }
        if let Ok(mut first) = self.first_vcpu.lock() {
            first.take();
        }
        // The parent's ended threads' vCPUs: closing them only drops our references.
        if let Ok(mut retired) = sh.retired.lock() {
            retired.clear();
        }
        sh.window_vm_fd.store(new_fd, Ordering::Release);
        sh.generation.fetch_add(1, Ordering::AcqRel);
        if !mem.reactivate_window() {
            return Err(VmmError::Failed("registering the file window in the new VM".into()));
        }
        Ok(())
    }
}

impl KvmShared {
    /// The vCPU `id` of an ended thread on the current VM, if there is one.
    fn take_retired(&self, id: u64, generation: u64) -> Option<VcpuFd> {
        let mut retired = self.retired.lock().ok()?;
        let at = retired.iter().position(|(i, g, _)| *i == id && *g == generation)?;
        Some(retired.swap_remove(at).2)
    }

    /// A vCPU on the current VM; its descriptor is recorded as the monitor's.
    fn new_vcpu(&self, id: u64) -> Result<VcpuFd, VmmError> {
        let vm = self.vm.lock().map_err(|_| VmmError::Failed("VM lock poisoned".into()))?;
        let v = new_vcpu(&self.kvm, &vm, id, self.fd_floor)?;
        if let Ok(mut o) = self.owned.lock() {
            o.push(v.as_raw_fd());
        }
        Ok(v)
    }
}

/// Everything KVM lets user space read of a vCPU, enough to rebuild it in another VM.
struct SavedState {
    regs: kvm_regs,
    sregs: kvm_sregs,
    fpu: kvm_fpu,
    xsave: kvm_xsave,
    xcrs: kvm_xcrs,
    events: kvm_vcpu_events,
    msrs: Vec<kvm_msr_entry>,
    /// The host TSC when the state was taken: the guest's TSC (its clock) must not stand
    /// still while the fork happens.
    host_tsc: u64,
}

/// MSRs a vCPU carries beyond its registers: syscall entry, FS/GS bases, PAT, TSC, and
/// kvm_pvm's VIF page registration (the only paravirtual MSR this host build has).
const SAVED_MSRS: &[u32] = &[
    0x10,        // IA32_TSC
    0x174,       // SYSENTER_CS
    0x175,       // SYSENTER_ESP
    0x176,       // SYSENTER_EIP
    0x277,       // PAT
    0xc000_0081, // STAR
    0xc000_0082, // LSTAR
    0xc000_0083, // CSTAR
    0xc000_0084, // SFMASK
    0xc000_0100, // FS_BASE
    0xc000_0101, // GS_BASE
    0xc000_0102, // KERNEL_GS_BASE
    0xc000_0103, // TSC_AUX
    MSR_PVM_VIF,
];

/// kvm_pvm: the VIF page MSR (see machine.rs).
const MSR_PVM_VIF: u32 = 0x4b56_4d10;
const MSR_IA32_TSC: u32 = 0x10;

fn host_tsc() -> u64 {
    // SAFETY: rdtsc has no side effects.
    unsafe { core::arch::x86_64::_rdtsc() }
}

pub struct KvmVcpu {
    /// Taken out only by `Drop`, which gives it back to the VM for the next thread.
    fd: ManuallyDrop<VcpuFd>,
    id: u64,
    shared: Arc<KvmShared>,
    /// The VM generation this vCPU belongs to (see KvmShared).
    generation: u64,
    saved: Option<SavedState>,
    /// An interrupt to inject as soon as the guest can take one (KVM_EXIT_IRQ_WINDOW_OPEN).
    deferred_interrupt: Option<u8>,
}

fn code_segment(selector: u16) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: 11,
        present: 1,
        dpl: 0,
        db: 0,
        s: 1,
        l: 1,
        g: 1,
        ..Default::default()
    }
}

fn data_segment(selector: u16) -> kvm_segment {
    kvm_segment { type_: 3, db: 1, l: 0, ..code_segment(selector) }
}

impl Vcpu for KvmVcpu {
    fn finish_pending_exit(&mut self) -> Result<(), VmmError> {
        finish_with_immediate_exit(&mut self.fd);
        self.forget_previous_run();
        Ok(())
    }

    fn set_boot_state(&mut self, st: &BootState) -> Result<(), VmmError> {
        let mut s = self.fd.get_sregs().map_err(|e| failed("KVM_GET_SREGS", e))?;
        s.cr0 = st.cr0;
        s.cr3 = st.cr3;
        s.cr4 = st.cr4;
        s.efer = st.efer;
        s.cs = code_segment(selectors::KERNEL_CS);
        s.ss = data_segment(selectors::KERNEL_DS);
        let null = kvm_segment { present: 0, ..data_segment(0) };
        s.ds = null;
        s.es = null;
        s.fs = null;
        s.gs = null;
        s.gdt.base = st.gdt_base;
        s.gdt.limit = st.gdt_limit;
        s.idt.base = st.idt_base;
        s.idt.limit = st.idt_limit;
        s.tr = kvm_segment {
            base: st.tr_base,
            limit: st.tr_limit,
            selector: selectors::TSS,
            type_: 11,
            present: 1,
            ..Default::default()
        };
        self.fd.set_sregs(&s).map_err(|e| failed("KVM_SET_SREGS", e))?;
        let entries: Vec<kvm_msr_entry> =
            st.msrs.iter().map(|&(index, data)| kvm_msr_entry { index, data, ..Default::default() }).collect();
        let msrs = Msrs::from_entries(&entries).map_err(|e| failed("building the MSR list", format!("{e:?}")))?;
        let n = self.fd.set_msrs(&msrs).map_err(|e| failed("KVM_SET_MSRS", e))?;
        if n != entries.len() {
            return Err(VmmError::Failed(format!(
                "KVM_SET_MSRS accepted {n} of {} MSRs (refused: {:#x})",
                entries.len(),
                entries[n].index
            )));
        }
        // x87 and SSE control words as after reset (a vCPU taken over from an ended thread
        // still has that thread's).
        let fpu = kvm_fpu { fcw: 0x37f, mxcsr: 0x1f80, ..Default::default() };
        self.fd.set_fpu(&fpu).map_err(|e| failed("KVM_SET_FPU", e))?;
        let mut r = self.fd.get_regs().map_err(|e| failed("KVM_GET_REGS", e))?;
        r.rip = st.rip;
        r.rsp = st.rsp;
        r.rdi = st.rdi;
        r.rflags = 2;
        self.fd.set_regs(&r).map_err(|e| failed("KVM_SET_REGS", e))
    }

    fn run(&mut self) -> Result<Exit, VmmError> {
        if crate::timing::wants_guest_clock() {
            self.note_guest_clock();
        }
        let exit = self.run_once();
        // A kick (see `kick_flag`) asks for one return from KVM_RUN, not all of them.
        self.fd.set_kvm_immediate_exit(0);
        if exit.as_ref().is_ok_and(|e| *e == Exit::Interrupted) && self.fd.get_kvm_run().request_interrupt_window != 0 {
            self.open_interrupt_window()?;
        }
        exit
    }

    fn snapshot(&self) -> RegSnapshot {
        let r = self.fd.get_regs().unwrap_or_default();
        let s = self.fd.get_sregs().unwrap_or_default();
        RegSnapshot { rip: r.rip, rsp: r.rsp, rax: r.rax, cr2: s.cr2, cr3: s.cr3, cs: s.cs.selector }
    }

    fn counters(&self) -> Vec<(String, u64)> {
        super::kvm_stats::read(self.fd.as_raw_fd())
    }

    /// kvm_run.immediate_exit: a signal handler sets it so that a KVM_RUN about to start
    /// returns at once (a signal that arrives just before the ioctl would not stop it).
    fn kick_flag(&mut self) -> Option<*const std::sync::atomic::AtomicU8> {
        let run = self.fd.get_kvm_run();
        Some(std::ptr::addr_of_mut!(run.immediate_exit) as *const std::sync::atomic::AtomicU8)
    }

    /// KVM_INTERRUPT when the guest has interrupts enabled; otherwise ask KVM to stop the
    /// vCPU as soon as it does (KVM_EXIT_IRQ_WINDOW_OPEN) and inject then.
    fn inject_interrupt(&mut self, vector: u8) -> Result<(), VmmError> {
        let run = self.fd.get_kvm_run();
        if run.ready_for_interrupt_injection != 0 && run.if_flag != 0 {
            return interrupt(&self.fd, vector);
        }
        run.request_interrupt_window = 1;
        self.deferred_interrupt = Some(vector);
        Ok(())
    }

    /// Save the complete state. The vCPU stopped at an exit whose instruction KVM completes
    /// only on the next KVM_RUN (an `out` is retired then), so first re-enter with
    /// immediate_exit: the instruction completes and no guest code runs.
    fn suspend_for_fork(&mut self) -> Result<(), VmmError> {
        self.fd.set_kvm_immediate_exit(1);
        let r = self.fd.run().map(|_| ());
        self.fd.set_kvm_immediate_exit(0);
        match r {
            Err(e) if e.errno() == libc::EINTR => {}
            Ok(()) => {}
            Err(e) => return Err(failed("completing the exit before fork", e)),
        }
        self.saved = Some(self.save()?);
        Ok(())
    }

    /// In the parent the VM is unchanged and so is this vCPU. In a forked child it is a new
    /// KVM vCPU on the child's VM with the saved state.
    fn resume_after_fork(&mut self) -> Result<(), VmmError> {
        let saved = self.saved.take().ok_or_else(|| VmmError::Failed("resume_after_fork without suspend".into()))?;
        let generation = self.shared.generation.load(Ordering::Acquire);
        if generation == self.generation {
            return Ok(());
        }
        let fd = self.shared.new_vcpu(self.id)?;
        // The parent's vCPU: closing it here only drops this process's reference.
        drop(ManuallyDrop::into_inner(std::mem::replace(&mut self.fd, ManuallyDrop::new(fd))));
        self.generation = generation;
        self.restore(&saved)
    }
}

/// KVM_INTERRUPT (_IOW(KVMIO, 0x86, struct kvm_interrupt)): queue an external interrupt
/// (the VM has no in-kernel interrupt controller, so the monitor plays the PIC).
fn interrupt(fd: &VcpuFd, vector: u8) -> Result<(), VmmError> {
    const KVM_INTERRUPT: libc::c_ulong = 0x4004_ae86;
    let irq: u32 = vector.into();
    // SAFETY: KVM_INTERRUPT reads one u32 from the pointer, which is valid for the call.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), KVM_INTERRUPT, &irq) };
    if r < 0 {
        return Err(failed("KVM_INTERRUPT", std::io::Error::last_os_error()));
    }
    Ok(())
}

/// A thread's vCPU ends with its thread: finish the exit it stopped at (see
/// `suspend_for_fork`: KVM would otherwise complete that instruction at the next thread's
/// first instruction) and give the descriptor back for the next thread with this id.
impl Drop for KvmVcpu {
    fn drop(&mut self) {
        // SAFETY: `fd` is taken exactly once, here, and not used afterwards.
        let mut fd = unsafe { ManuallyDrop::take(&mut self.fd) };
        // vCPU 0 is the first thread's, never reused (and its process is ending); one of a
        // replaced VM belongs to nobody.
        if self.id == 0 || self.generation != self.shared.generation.load(Ordering::Acquire) {
            return;
        }
        finish_with_immediate_exit(&mut fd);
        if let Ok(mut retired) = self.shared.retired.lock() {
            retired.push((self.id, self.generation, fd));
        }
    }
}

/// One KVM_RUN that returns at once: KVM completes the exit the vCPU stopped at.
fn finish_with_immediate_exit(fd: &mut VcpuFd) {
    fd.set_kvm_immediate_exit(1);
    let _ = fd.run();
    fd.set_kvm_immediate_exit(0);
}

impl KvmVcpu {
    /// `-v`'s timing line: the guest's TSC against the host's clock before the first run.
    fn note_guest_clock(&self) {
        let khz = self.fd.get_tsc_khz().unwrap_or(0) as u64;
        if let Some(tsc) = read_msr(&self.fd, MSR_IA32_TSC) {
            crate::timing::guest_clock(tsc, khz);
        }
    }

    /// A vCPU taken over from an ended thread: no interrupt window asked for, no kick left.
    fn forget_previous_run(&mut self) {
        let run = self.fd.get_kvm_run();
        run.request_interrupt_window = 0;
        run.immediate_exit = 0;
    }

    fn run_once(&mut self) -> Result<Exit, VmmError> {
        match self.fd.run() {
            Ok(VcpuExit::IoOut(port, _)) if port == ports::HYPERCALL => Ok(Exit::Hypercall),
            Ok(VcpuExit::IoOut(port, _)) if port == ports::HYPERCALL_WAIT => Ok(Exit::HypercallWait),
            Ok(VcpuExit::IoOut(port, _)) if port == ports::GROW_RAM => Ok(Exit::GrowRam),
            Ok(VcpuExit::IoOut(port, _)) if port == ports::HYPERCALL_WORKER_ASLEEP => Ok(Exit::HypercallWorkerAsleep),
            Ok(VcpuExit::IoOut(port, _)) if port == ports::HYPERCALL_WAKE => Ok(Exit::WakePort),
            Ok(VcpuExit::IoOut(port, _)) if port == ports::WORKER_WAKE_BY_EXIT => Ok(Exit::WakeWorker),
            Ok(VcpuExit::IoOut(port, _)) => Ok(Exit::UnknownPort(port)),
            Ok(VcpuExit::IoIn(port, data)) => {
                data.fill(0xff);
                Ok(Exit::UnknownPort(port))
            }
            Ok(VcpuExit::Hlt) => Ok(Exit::Halt),
            Ok(VcpuExit::Shutdown) => Ok(Exit::Shutdown),
            Ok(VcpuExit::FailEntry(reason, cpu)) => {
                Ok(Exit::Other(format!("entry failed (reason {reason:#x}, cpu {cpu})")))
            }
            Ok(VcpuExit::InternalError) => Ok(Exit::Other("KVM internal error".into())),
            // Asked for by `inject_interrupt`: the guest can take the interrupt now.
            Ok(VcpuExit::IrqWindowOpen) => Ok(Exit::Interrupted),
            Ok(other) => Ok(Exit::Other(format!("{other:?}"))),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Ok(Exit::Interrupted),
            Err(e) if e.errno() == libc::EFAULT => Ok(Exit::BadAddress),
            Err(e) => Err(failed("KVM_RUN", e)),
        }
    }

    /// After KVM_EXIT_IRQ_WINDOW_OPEN (or any return while one is requested): inject the
    /// deferred interrupt if the guest can take it now.
    fn open_interrupt_window(&mut self) -> Result<(), VmmError> {
        let run = self.fd.get_kvm_run();
        if run.ready_for_interrupt_injection == 0 || run.if_flag == 0 {
            return Ok(());
        }
        run.request_interrupt_window = 0;
        match self.deferred_interrupt.take() {
            Some(vector) => interrupt(&self.fd, vector),
            None => Ok(()),
        }
    }

    fn save(&self) -> Result<SavedState, VmmError> {
        let f = &self.fd;
        let entries: Vec<kvm_msr_entry> =
            SAVED_MSRS.iter().map(|&index| kvm_msr_entry { index, ..Default::default() }).collect();
        let mut msrs = Msrs::from_entries(&entries).map_err(|e| failed("building the MSR list", format!("{e:?}")))?;
        let n = f.get_msrs(&mut msrs).map_err(|e| failed("KVM_GET_MSRS", e))?;
        Ok(SavedState {
            regs: f.get_regs().map_err(|e| failed("KVM_GET_REGS", e))?,
            sregs: f.get_sregs().map_err(|e| failed("KVM_GET_SREGS", e))?,
            fpu: f.get_fpu().map_err(|e| failed("KVM_GET_FPU", e))?,
            xsave: f.get_xsave().map_err(|e| failed("KVM_GET_XSAVE", e))?,
            xcrs: f.get_xcrs().map_err(|e| failed("KVM_GET_XCRS", e))?,
            events: f.get_vcpu_events().map_err(|e| failed("KVM_GET_VCPU_EVENTS", e))?,
            // KVM_GET_MSRS stops at the first MSR it does not know: keep those it read.
            msrs: msrs.as_slice()[..n].to_vec(),
            host_tsc: host_tsc(),
        })
    }

    fn restore(&self, st: &SavedState) -> Result<(), VmmError> {
        let f = &self.fd;
        f.set_sregs(&st.sregs).map_err(|e| failed("KVM_SET_SREGS", e))?;
        f.set_xcrs(&st.xcrs).map_err(|e| failed("KVM_SET_XCRS", e))?;
        f.set_fpu(&st.fpu).map_err(|e| failed("KVM_SET_FPU", e))?;
        // SAFETY: the buffer came from KVM_GET_XSAVE on a vCPU with the same CPUID, so it
        // holds no state larger than the 4 KiB kvm_xsave.
        unsafe { f.set_xsave(&st.xsave) }.map_err(|e| failed("KVM_SET_XSAVE", e))?;
        let elapsed = host_tsc().wrapping_sub(st.host_tsc);
        for m in &st.msrs {
            let data = if m.index == MSR_IA32_TSC { m.data.wrapping_add(elapsed) } else { m.data };
            let one = Msrs::from_entries(&[kvm_msr_entry { index: m.index, data, ..Default::default() }])
                .map_err(|e| failed("building the MSR list", format!("{e:?}")))?;
            if f.set_msrs(&one).map_err(|e| failed("KVM_SET_MSRS", e))? != 1 {
                return Err(VmmError::Failed(format!("KVM_SET_MSRS refused MSR {:#x} in the forked vCPU", m.index)));
            }
        }
        f.set_vcpu_events(&st.events).map_err(|e| failed("KVM_SET_VCPU_EVENTS", e))?;
        f.set_regs(&st.regs).map_err(|e| failed("KVM_SET_REGS", e))
    }
}
