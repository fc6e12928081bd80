//! The IDT and what happens when user code raises an exception.

use abi_shared::layout::{selectors, IDT_GPA, KERNEL_BASE, SIGNAL_KICK_VECTOR};

use super::entry::{self, ReturnPath, TrapFrame};
use super::platform;

/// How often the pvm hypervisor declined a direct switch (diagnostics for `-v`).
#[no_mangle]
pub static mut PVM_FALLBACKS: u64 = 0;

pub const VEC_DIVIDE: u64 = 0;
pub const VEC_DEBUG: u64 = 1;
pub const VEC_BREAKPOINT: u64 = 3;
pub const VEC_OVERFLOW: u64 = 4;
pub const VEC_BOUND: u64 = 5;
pub const VEC_INVALID_OP: u64 = 6;
pub const VEC_DEVICE_NA: u64 = 7;
pub const VEC_NMI: u64 = 2;
pub const VEC_DOUBLE_FAULT: u64 = 8;
pub const VEC_GP: u64 = 13;
pub const VEC_PAGE_FAULT: u64 = 14;
pub const VEC_X87: u64 = 16;
pub const VEC_ALIGNMENT: u64 = 17;
pub const VEC_MACHINE_CHECK: u64 = 18;
pub const VEC_SIMD: u64 = 19;

/// Write one 64-bit interrupt gate.
fn set_gate(vector: usize, handler: u64, ist: u8, dpl: u8) {
    let idt = (KERNEL_BASE + IDT_GPA) as *mut [u64; 2];
    let low = (handler & 0xffff)
        | ((selectors::KERNEL_CS as u64) << 16)
        | ((ist as u64 & 7) << 32)
        | ((0x8e | ((dpl as u64 & 3) << 5)) << 40)
        | (((handler >> 16) & 0xffff) << 48);
    let high = handler >> 32;
    // SAFETY: the IDT page lies in the kernel window; vector < 256 keeps the write inside it.
    unsafe { core::ptr::write_volatile(idt.add(vector), [low, high]) };
}

/// Fill the IDT (the monitor pointed IDTR at it). Breakpoint and overflow gates have DPL 3
/// so `int3`/`into` from user mode arrive as #BP/#OF, as on Linux.
pub fn init_idt() {
    for vec in 0..=21u8 {
        if let Some(stub) = entry::exception_stub(vec) {
            // On IST1 what can arrive anywhere, including the two instructions of
            // `syscall_entry` that still run on the user's stack in ring 0 (classic).
            let ist = if [VEC_NMI, VEC_DOUBLE_FAULT, VEC_MACHINE_CHECK].contains(&(vec as u64)) { 1 } else { 0 };
            let dpl = if vec as u64 == VEC_BREAKPOINT || vec as u64 == VEC_OVERFLOW { 3 } else { 0 };
            set_gate(vec as usize, stub, ist, dpl);
        }
    }
    set_gate(SIGNAL_KICK_VECTOR as usize, entry::signal_kick_stub(), 0, 0);
    if platform::is_pvm() {
        set_gate(0x17, entry::pvm_fallback_17 as *const () as u64, 1, 0);
        set_gate(0x19, entry::pvm_fallback_19 as *const () as u64, 1, 0);
    }
}

/// Every exception lands here with the user's state in `frame`.
#[no_mangle]
pub extern "C" fn exception_from_user(frame: &mut TrapFrame) -> ReturnPath {
    if frame.vector == SIGNAL_KICK_VECTOR as u64 {
        return signal_kick(frame);
    }
    if frame.cs & 3 == 0 {
        kernel_exception(frame);
    }
    if frame.vector == VEC_PAGE_FAULT {
        let addr = platform::fault_address();
        crate::mm::fault::user_page_fault(frame, addr);
    } else {
        crate::signal::synchronous_exception(frame);
    }
    // An exception interrupted arbitrary code: rcx and r11 are live user values, so the way
    // back is always the full restore.
    crate::signal::deliver_pending(frame);
    ReturnPath::Full
}

/// How often the monitor's signal interrupt arrived (diagnostics).
#[no_mangle]
pub static SIGNAL_KICKS: core::sync::atomic::AtomicU64 = core::sync::atomic::AtomicU64::new(0);

/// The monitor caught a host signal while user code ran: take it now, as Linux would at
/// the interrupt that follows the sender's signal_wake_up. The kernel runs with interrupts
/// disabled, so this only arrives from user mode.
fn signal_kick(frame: &mut TrapFrame) -> ReturnPath {
    SIGNAL_KICKS.fetch_add(1, core::sync::atomic::Ordering::Relaxed);
    if frame.cs & 3 == 0 {
        kernel_exception(frame);
    }
    crate::mm::fault::resync_window_if_asked();
    crate::signal::deliver_pending(frame);
    ReturnPath::Full
}

/// The full return path found a non-canonical user rip (set by sigreturn): `iretq` would
/// fault in ring 0 on Intel (classic flavour). Linux reports it as a #GP in user mode at that
/// rip (SIGSEGV, SI_KERNEL); the signal's handler, or the default action, follows.
#[no_mangle]
pub extern "C" fn noncanonical_return(frame: &mut TrapFrame) -> ReturnPath {
    crate::kdebug!("return to non-canonical rip {:#x}: #GP", frame.rip);
    frame.vector = VEC_GP;
    frame.error = 0;
    frame.cs = selectors::USER_CS as u64;
    exception_from_user(frame)
}

/// An exception in the kernel itself is a bug in the kernel: report and stop.
fn kernel_exception(frame: &TrapFrame) -> ! {
    let cr2 = if frame.vector == VEC_PAGE_FAULT { platform::fault_address() } else { 0 };
    crate::kpanic!(
        "kernel exception {} (error {:#x}) at rip {:#x}, rsp {:#x}, cr2 {:#x}, syscall in flight {}",
        frame.vector,
        frame.error,
        frame.rip,
        frame.rsp,
        cr2,
        crate::stats::in_flight_name()
    );
}
