//! The KVM backend on arm64 Linux hosts (docs/arm64.md), for the aarch64 guest kernel:
//! KVM_ARM_VCPU_INIT with the host's preferred target, the first state through
//! KVM_SET_ONE_REG (PC, PSTATE, SP_EL1, x0 and the MMU's system registers), guest RAM in
//! growing memory slots, and the doorbell as an MMIO exit (`layout::arm64::DOORBELL_GPA`,
//! the doorbell number as the stored value).
//!
//! Not yet here (each answers an error, never a wrong result): fork (a new VM in the child
//! with the saved vCPU state), several vCPUs (threads), the file window, the ioeventfd wake
//! port of the shared-memory transport, and interrupts (no in-kernel GIC is created, so a
//! caught host signal waits for the guest's next exit).
//!
//! The small descriptor helpers repeat those of kvm.rs, which is x86_64-only; they are to
//! move to a shared module when fork support comes here too.

use std::fs::OpenOptions;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, RawFd};
use std::sync::Mutex;

use kvm_bindings::{kvm_userspace_memory_region, kvm_vcpu_init, KVM_ARM_VCPU_PSCI_0_2, KVM_SYSTEM_EVENT_SHUTDOWN};
use kvm_ioctls::{Kvm, VcpuExit, VcpuFd, VmFd};

use abi_shared::bootinfo::Flavour;
use abi_shared::layout::arm64;

use super::arm64_regs::*;
use super::{Arm64BootState, BootState, Exit, RegSnapshot, Vcpu, Vm, VmmError};
use crate::guest_mem::GuestMemory;

/// The further pieces of guest RAM, registered as the guest asks (`Vm::grow_ram`).
const RAM_GROWN_FIRST_SLOT: u32 = 128;

fn failed(what: &str, e: impl std::fmt::Display) -> VmmError {
    VmmError::Failed(format!("{what}: {e}"))
}

/// Move `fd` to the lowest free number at or above `floor` (close-on-exec), closing the
/// original, so that the Linux program finds the low fd numbers free as on Linux.
fn move_fd_high(fd: RawFd, floor: i32) -> Result<RawFd, VmmError> {
    // SAFETY: F_DUPFD_CLOEXEC on an fd we own creates a new fd; no memory is involved.
    let high = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, floor) };
    let e = std::io::Error::last_os_error();
    // SAFETY: fd is ours; the duplicate (if any) refers to the same object.
    unsafe { libc::close(fd) };
    if high < 0 {
        return Err(failed("moving a KVM descriptor", e));
    }
    Ok(high)
}

fn open_kvm(floor: i32) -> Result<Kvm, VmmError> {
    let file = OpenOptions::new().read(true).write(true).open("/dev/kvm").map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            VmmError::Unavailable("/dev/kvm does not exist: this arm64 machine offers no KVM".into())
        }
        std::io::ErrorKind::PermissionDenied => VmmError::Unavailable(
            "no permission to open /dev/kvm (add your user to the 'kvm' group, or run as root)".into(),
        ),
        _ => VmmError::Unavailable(format!("cannot open /dev/kvm: {e}")),
    })?;
    let fd = move_fd_high(file.into_raw_fd(), floor)?;
    // SAFETY: fd is an open /dev/kvm descriptor that nothing else owns.
    Ok(unsafe { Kvm::from_raw_fd(fd) })
}

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

pub struct KvmArm64Vm {
    _kvm: Kvm,
    vm: VmFd,
    ram_slots: Mutex<Vec<kvm_userspace_memory_region>>,
    owned: Mutex<Vec<i32>>,
    fd_floor: i32,
    /// The generic timer's frequency (CNTFRQ_EL0), in kHz.
    counter_khz: u64,
}

impl KvmArm64Vm {
    pub fn create(mem: &GuestMemory, fd_floor: i32) -> Result<KvmArm64Vm, VmmError> {
        let kvm = open_kvm(fd_floor)?;
        let vm0 = kvm.create_vm().map_err(|e| failed("KVM_CREATE_VM", e))?;
        let vm_fd = move_fd_high(vm0.as_raw_fd(), fd_floor)?;
        std::mem::forget(vm0);
        // SAFETY: vm_fd is a VM descriptor we own exclusively.
        let vm = unsafe { kvm.create_vmfd_from_rawfd(vm_fd) }.map_err(|e| failed("adopting the VM fd", e))?;
        let first = ram_piece(mem, 0, 0, mem.size().min(super::RAM_FIRST_PIECE));
        // SAFETY: the region is a piece of GuestMemory's mapping, which outlives the VM.
        unsafe { vm.set_user_memory_region(first) }.map_err(|e| failed("KVM_SET_USER_MEMORY_REGION", e))?;
        let owned = vec![kvm.as_raw_fd(), vm.as_raw_fd()];
        Ok(KvmArm64Vm {
            _kvm: kvm,
            vm,
            ram_slots: Mutex::new(vec![first]),
            owned: Mutex::new(owned),
            fd_floor,
            counter_khz: counter_khz(),
        })
    }
}

/// `_IO(KVMIO, 0x41)`.
const KVM_CREATE_VCPU: libc::c_ulong = 0xAE41;

impl Vm for KvmArm64Vm {
    fn flavour(&self) -> Flavour {
        // Real privilege levels (EL1 kernel, EL0 program), as the classic x86_64 flavour.
        Flavour::Classic
    }

    fn tsc_khz(&self) -> u64 {
        self.counter_khz
    }

    fn create_vcpu(&self, id: u64, _mem: &GuestMemory) -> Result<Box<dyn Vcpu>, VmmError> {
        if id != 0 {
            return Err(VmmError::Failed("threads are not supported on arm64 yet".into()));
        }
        // SAFETY: KVM_CREATE_VCPU takes the vCPU id by value and returns a new fd or -1.
        let v0 = unsafe { libc::ioctl(self.vm.as_raw_fd(), KVM_CREATE_VCPU, id as libc::c_ulong) };
        if v0 < 0 {
            return Err(failed("KVM_CREATE_VCPU", std::io::Error::last_os_error()));
        }
        let fd = move_fd_high(v0, self.fd_floor)?;
        // SAFETY: fd is the vCPU descriptor we just created and own.
        let vcpu = unsafe { self.vm.create_vcpu_from_rawfd(fd) }.map_err(|e| failed("adopting the vCPU fd", e))?;
        let mut init = kvm_vcpu_init::default();
        self.vm.get_preferred_target(&mut init).map_err(|e| failed("KVM_ARM_PREFERRED_TARGET", e))?;
        init.features[0] |= 1 << KVM_ARM_VCPU_PSCI_0_2;
        vcpu.vcpu_init(&init).map_err(|e| failed("KVM_ARM_VCPU_INIT", e))?;
        if let Ok(mut o) = self.owned.lock() {
            o.push(vcpu.as_raw_fd());
        }
        Ok(Box::new(KvmArm64Vcpu { fd: vcpu }))
    }

    fn owned_fds(&self) -> Vec<i32> {
        self.owned.lock().map(|o| o.clone()).unwrap_or_default()
    }

    /// No ioeventfd doorbell yet: every hypercall exits (`Doorbell::PortIo`, here MMIO).
    fn wake_eventfd(&self, _port: u16) -> Option<std::fs::File> {
        None
    }

    fn arm_wake_port(&self, _port: u16) {}

    fn ram_registered(&self) -> u64 {
        self.ram_slots.lock().map(|r| registered_end(&r)).unwrap_or(0)
    }

    fn grow_ram(&self, mem: &GuestMemory, wanted: u64) -> u64 {
        let Ok(mut ram) = self.ram_slots.lock() else { return 0 };
        let start = registered_end(&ram);
        let end = super::next_ram_end(start, wanted, mem.size());
        if end == start {
            return start;
        }
        let Ok(grown) = u32::try_from(ram.len() - 1) else { return start };
        let piece = ram_piece(mem, RAM_GROWN_FIRST_SLOT + grown, start, end);
        // SAFETY: the piece lies inside GuestMemory's mapping, which outlives the VM.
        match unsafe { self.vm.set_user_memory_region(piece) } {
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

    fn prepare_fork(&self) -> Result<(), VmmError> {
        Err(VmmError::Failed("fork is not supported on arm64 yet".into()))
    }

    fn after_fork_parent(&self, _mem: &GuestMemory) -> Result<(), VmmError> {
        Ok(())
    }

    fn after_fork_child(&self, _mem: &GuestMemory) -> Result<(), VmmError> {
        Err(VmmError::Failed("fork is not supported on arm64 yet".into()))
    }
}

pub struct KvmArm64Vcpu {
    fd: VcpuFd,
}

impl KvmArm64Vcpu {
    fn set(&self, id: u64, value: u64, name: &str) -> Result<(), VmmError> {
        self.fd
            .set_one_reg(id, &value.to_le_bytes())
            .map(|_| ())
            .map_err(|e| failed(&format!("KVM_SET_ONE_REG {name}"), e))
    }

    fn get(&self, id: u64) -> u64 {
        let mut b = [0u8; 8];
        match self.fd.get_one_reg(id, &mut b) {
            Ok(_) => u64::from_le_bytes(b),
            Err(_) => 0,
        }
    }
}

impl Vcpu for KvmArm64Vcpu {
    fn set_boot_state(&mut self, _state: &BootState) -> Result<(), VmmError> {
        Err(VmmError::Failed("an x86_64 boot state for an arm64 vCPU".into()))
    }

    fn set_arm64_boot_state(&mut self, st: &Arm64BootState) -> Result<(), VmmError> {
        for (reg, value, name) in boot_sys_regs(st) {
            self.set(kvm_sys_reg(reg), value, name)?;
        }
        self.set(SP_EL1, st.sp_el1, "SP_EL1")?;
        self.set(X0, st.x0, "x0")?;
        self.set(PSTATE, st.pstate, "PSTATE")?;
        self.set(PC, st.pc, "PC")
    }

    fn run(&mut self) -> Result<Exit, VmmError> {
        let exit = match self.fd.run() {
            Ok(VcpuExit::MmioWrite(addr, data)) if addr == arm64::DOORBELL_GPA => {
                let mut v = [0u8; 8];
                let n = data.len().min(8);
                v[..n].copy_from_slice(&data[..n]);
                Ok(doorbell_exit(u64::from_le_bytes(v)))
            }
            Ok(VcpuExit::MmioWrite(addr, _)) => Ok(Exit::Other(format!("guest store to unbacked address {addr:#x}"))),
            Ok(VcpuExit::MmioRead(addr, data)) => {
                data.fill(0);
                Ok(Exit::Other(format!("guest load from unbacked address {addr:#x}")))
            }
            Ok(VcpuExit::SystemEvent(t, _)) if t == KVM_SYSTEM_EVENT_SHUTDOWN => Ok(Exit::Shutdown),
            Ok(VcpuExit::SystemEvent(t, _)) => Ok(Exit::Other(format!("system event {t}"))),
            Ok(VcpuExit::InternalError) => Ok(Exit::Other("KVM internal error".into())),
            Ok(other) => Ok(Exit::Other(format!("{other:?}"))),
            Err(e) if e.errno() == libc::EINTR || e.errno() == libc::EAGAIN => Ok(Exit::Interrupted),
            Err(e) if e.errno() == libc::EFAULT => Ok(Exit::BadAddress),
            Err(e) => Err(failed("KVM_RUN", e)),
        };
        self.fd.set_kvm_immediate_exit(0);
        exit
    }

    /// In the x86_64 names of the report: rip = PC, rsp = SP_EL0, rax = x0, cr2 = FAR_EL1,
    /// cr3 = TTBR0_EL1, cs = ESR_EL1's exception class.
    fn snapshot(&self) -> RegSnapshot {
        RegSnapshot {
            rip: self.get(PC),
            rsp: self.get(SP_EL0),
            rax: self.get(X0),
            cr2: self.get(FAR_EL1),
            cr3: self.get(TTBR0_EL1),
            cs: (self.get(ESR_EL1) >> 26) as u16,
        }
    }

    fn counters(&self) -> Vec<(String, u64)> {
        super::kvm_stats::read(self.fd.as_raw_fd())
    }

    fn kick_flag(&mut self) -> Option<*const std::sync::atomic::AtomicU8> {
        let run = self.fd.get_kvm_run();
        Some(std::ptr::addr_of_mut!(run.immediate_exit) as *const std::sync::atomic::AtomicU8)
    }

    /// No interrupt controller yet: the guest sees caught host signals at its next exit.
    fn inject_interrupt(&mut self, _vector: u8) -> Result<(), VmmError> {
        Ok(())
    }

    fn finish_pending_exit(&mut self) -> Result<(), VmmError> {
        self.fd.set_kvm_immediate_exit(1);
        let _ = self.fd.run();
        self.fd.set_kvm_immediate_exit(0);
        Ok(())
    }

    fn suspend_for_fork(&mut self) -> Result<(), VmmError> {
        Err(VmmError::Failed("fork is not supported on arm64 yet".into()))
    }

    fn resume_after_fork(&mut self) -> Result<(), VmmError> {
        Err(VmmError::Failed("fork is not supported on arm64 yet".into()))
    }
}
