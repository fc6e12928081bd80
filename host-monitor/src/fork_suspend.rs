//! Hypervisor.framework's fork with several threads. Its VM must be destroyed for a fork
//! (docs/macos.md), which it allows only once every vCPU is destroyed, and a vCPU can be
//! destroyed only by its own thread. So the forking thread asks every other vCPU's thread
//! to suspend its vCPU (`Vcpu::suspend_for_fork`: state saved, vCPU destroyed) and waits
//! until only its own is left (`suspend_others_for_fork`); the others do so between two
//! runs (`suspend_if_forking`, at the top of each vCPU loop) and wait there until the fork
//! is done and the VM rebuilt, then resume theirs on it. KVM forks with the other vCPUs
//! as they are (`Vm::fork_suspends_all_vcpus` is false): it pays one relaxed load per loop.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, PoisonError};

use crate::vmm::{Vcpu, Vm};

/// A fork that needs every other vCPU suspended (`Vm::fork_suspends_all_vcpus`) is under
/// way: `FORK_SUSPEND` says so under its lock, `SUSPEND_WANTED` without it (the one relaxed
/// load each vCPU loop pays, KVM included), `SUSPENDED` wakes the forking thread when a vCPU
/// has been suspended and the suspended threads when the fork is done.
static FORK_SUSPEND: Mutex<bool> = Mutex::new(false);
static SUSPEND_WANTED: AtomicBool = AtomicBool::new(false);
static SUSPENDED: Condvar = Condvar::new();
/// How often the forking thread interrupts the threads that have not suspended yet (one
/// about to block in a host call misses a signal), and when it gives up.
const SUSPEND_RESEND: std::time::Duration = std::time::Duration::from_millis(2);
const SUSPEND_GIVE_UP: std::time::Duration = std::time::Duration::from_secs(2);

fn fork_suspend() -> Held {
    FORK_SUSPEND.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The lock, held by a forking thread across the host fork (`threads::HeldForFork`), so
/// that no thread that does not exist in the child holds it there.
pub type Held = std::sync::MutexGuard<'static, bool>;

pub fn hold() -> Held {
    fork_suspend()
}

/// While it lives, the other vCPUs stay suspended; dropping it (once the VM is rebuilt,
/// or the fork given up) lets their threads resume them.
pub struct ForkSuspension(());

impl Drop for ForkSuspension {
    fn drop(&mut self) {
        let mut wanted = fork_suspend();
        *wanted = false;
        SUSPEND_WANTED.store(false, Ordering::SeqCst);
        SUSPENDED.notify_all();
    }
}

/// Before a fork by vCPU `me`: where the hypervisor needs it, have every other vCPU's
/// thread suspend its vCPU (a thread in the guest is forced out, one blocked in a host call,
/// parked at the guest's fork gate, is interrupted by the kick signal; each suspends at the
/// top of its loop). `Ok(None)`: nothing to do (KVM). `Err`: they did not all stop in time;
/// the fork fails with EAGAIN and they go on.
pub fn suspend_others_for_fork(vm: &dyn Vm, me: u32) -> Result<Option<ForkSuspension>, ()> {
    if !vm.fork_suspends_all_vcpus() {
        return Ok(None);
    }
    *fork_suspend() = true;
    SUSPEND_WANTED.store(true, Ordering::SeqCst);
    let suspension = ForkSuspension(());
    let start = std::time::Instant::now();
    loop {
        if vm.fork_possible() {
            return Ok(Some(suspension));
        }
        if start.elapsed() > SUSPEND_GIVE_UP {
            log::warn!("fork: the other threads' vCPUs did not stop within {SUSPEND_GIVE_UP:?}");
            return Err(());
        }
        crate::threads::interrupt_others(me);
        let wanted = fork_suspend();
        let _ = SUSPENDED.wait_timeout(wanted, SUSPEND_RESEND);
    }
}

/// A vCPU's thread between two runs: if a fork wants every vCPU suspended, suspend this
/// one, wait until the fork is done and resume it (on the rebuilt VM). `Ok(true)`: it was
/// suspended, and its kick words have changed (the caller registers it again).
pub fn suspend_if_forking(vcpu: &mut dyn Vcpu) -> Result<bool, crate::vmm::VmmError> {
    if !SUSPEND_WANTED.load(Ordering::Relaxed) {
        return Ok(false);
    }
    let mut wanted = fork_suspend();
    if !*wanted {
        return Ok(false);
    }
    vcpu.suspend_for_fork()?;
    SUSPENDED.notify_all();
    while *wanted {
        wanted = SUSPENDED.wait(wanted).unwrap_or_else(PoisonError::into_inner);
    }
    drop(wanted);
    vcpu.resume_after_fork()?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU8, AtomicUsize};
    use std::sync::Arc;

    use abi_shared::bootinfo::Flavour;

    use crate::guest_mem::GuestMemory;
    use crate::vmm::{BootState, Exit, RegSnapshot, VmmError};

    /// A hypervisor that, like Hypervisor.framework, needs every vCPU suspended to fork.
    struct FakeVm {
        live: Arc<AtomicUsize>,
        needs_all: bool,
    }

    struct FakeVcpu {
        live: Arc<AtomicUsize>,
        resumed: Arc<AtomicUsize>,
    }

    impl Vm for FakeVm {
        fn flavour(&self) -> Flavour {
            Flavour::Classic
        }
        fn tsc_khz(&self) -> u64 {
            1
        }
        fn create_vcpu(&self, _id: u64, _mem: &GuestMemory) -> Result<Box<dyn Vcpu>, VmmError> {
            Err(VmmError::Failed("not here".into()))
        }
        fn owned_fds(&self) -> Vec<i32> {
            Vec::new()
        }
        fn wake_eventfd(&self, _port: u16) -> Option<std::fs::File> {
            None
        }
        fn arm_wake_port(&self, _port: u16) {}
        fn ram_registered(&self) -> u64 {
            0
        }
        fn grow_ram(&self, _mem: &GuestMemory, _wanted: u64) -> u64 {
            0
        }
        fn fork_suspends_all_vcpus(&self) -> bool {
            self.needs_all
        }
        fn fork_possible(&self) -> bool {
            self.live.load(Ordering::SeqCst) <= 1
        }
        fn prepare_fork(&self) -> Result<(), VmmError> {
            Ok(())
        }
        fn after_fork_parent(&self, _mem: &GuestMemory) -> Result<(), VmmError> {
            Ok(())
        }
        fn after_fork_child(&self, _mem: &GuestMemory) -> Result<(), VmmError> {
            Ok(())
        }
    }

    impl Vcpu for FakeVcpu {
        fn set_boot_state(&mut self, _state: &BootState) -> Result<(), VmmError> {
            Ok(())
        }
        fn run(&mut self) -> Result<Exit, VmmError> {
            Ok(Exit::Interrupted)
        }
        fn snapshot(&self) -> RegSnapshot {
            RegSnapshot::default()
        }
        fn counters(&self) -> Vec<(String, u64)> {
            Vec::new()
        }
        fn kick_flag(&mut self) -> Option<*const AtomicU8> {
            None
        }
        fn inject_interrupt(&mut self, _vector: u8) -> Result<(), VmmError> {
            Ok(())
        }
        fn finish_pending_exit(&mut self) -> Result<(), VmmError> {
            Ok(())
        }
        fn suspend_for_fork(&mut self) -> Result<(), VmmError> {
            self.live.fetch_sub(1, Ordering::SeqCst);
            Ok(())
        }
        fn resume_after_fork(&mut self) -> Result<(), VmmError> {
            self.live.fetch_add(1, Ordering::SeqCst);
            self.resumed.fetch_add(1, Ordering::SeqCst);
            Ok(())
        }
    }

    #[test]
    fn a_fork_that_needs_it_has_the_other_vcpus_suspended_until_it_is_done() {
        // KVM: nothing to do, and a vCPU loop is not held up.
        let live = Arc::new(AtomicUsize::new(2));
        let kvm = FakeVm { live: live.clone(), needs_all: false };
        assert!(matches!(suspend_others_for_fork(&kvm, 0), Ok(None)));
        let resumed = Arc::new(AtomicUsize::new(0));
        let mut v = FakeVcpu { live: live.clone(), resumed: resumed.clone() };
        assert!(!suspend_if_forking(&mut v).unwrap());

        // Two vCPUs: the forker's and another thread's, which looks between its runs.
        let hvf = FakeVm { live: live.clone(), needs_all: true };
        let stop = Arc::new(AtomicBool::new(false));
        let other = {
            let (stop, live, resumed) = (stop.clone(), live.clone(), resumed.clone());
            std::thread::spawn(move || {
                let mut v = FakeVcpu { live, resumed };
                while !stop.load(Ordering::SeqCst) {
                    suspend_if_forking(&mut v).unwrap();
                    std::thread::yield_now();
                }
            })
        };
        let suspension = suspend_others_for_fork(&hvf, 0).expect("the other vCPU suspends");
        assert!(suspension.is_some());
        assert_eq!(live.load(Ordering::SeqCst), 1, "only the forking thread's vCPU is left");
        assert_eq!(resumed.load(Ordering::SeqCst), 0, "and it stays suspended meanwhile");
        drop(suspension);
        while resumed.load(Ordering::SeqCst) == 0 {
            std::thread::yield_now();
        }
        assert_eq!(live.load(Ordering::SeqCst), 2, "resumed once the fork is done");
        stop.store(true, Ordering::SeqCst);
        other.join().unwrap();
    }
}
