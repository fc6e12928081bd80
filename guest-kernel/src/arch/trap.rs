//! The IDT and the exception vectors. What an exception means for the program (a page
//! fault, a signal) is decided above, in exception.rs, which the entry code calls by name.

use abi_shared::layout::{selectors, IDT_GPA, KERNEL_BASE, SIGNAL_KICK_VECTOR};

use super::entry;
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
