//! The aarch64 guest's bring-up layer (docs/arm64.md): what the x86_64 kernel's `mm/`,
//! `hypercall/` and `loader/elf.rs` do, reduced to what a static arm64 program needs to
//! start, print and exit, until those modules are ported. Built only for
//! `aarch64-unknown-none`; the ELF rules and the initial stack come from the shared
//! `loader/` modules.

pub mod clock;
pub mod frames;
pub mod hypercall;
pub mod loader;
pub mod uspace;

use core::fmt::Write;

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// The kernel heap: `size` bytes of guest RAM from `gpa`, through the direct map.
pub fn init_heap(gpa: u64, size: u64) {
    // SAFETY: the range lies in registered guest RAM after the kernel image, used by
    // nothing else (the frame allocator starts after it), and this runs once at boot.
    unsafe { HEAP.lock().init(crate::arch::phys_to_virt(gpa) as *mut u8, size as usize) };
}

/// A fixed buffer that formats without allocating (panic messages).
struct Buf {
    bytes: [u8; 256],
    len: usize,
}

impl Write for Buf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let n = s.len().min(self.bytes.len() - self.len);
        self.bytes[self.len..self.len + n].copy_from_slice(&s.as_bytes()[..n]);
        self.len += n;
        Ok(())
    }
}

/// Report that the guest kernel cannot go on, and stop.
pub fn die(args: core::fmt::Arguments<'_>) -> ! {
    let mut b = Buf { bytes: [0; 256], len: 0 };
    let _ = b.write_fmt(args);
    hypercall::panic_message(&b.bytes[..b.len]);
    crate::arch::halt()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    die(format_args!("guest kernel panic: {info}"))
}

/// An exception the kernel took at EL1 (a bug here): report where, and stop.
#[no_mangle]
extern "C" fn linuxrun_kernel_fault(frame: &crate::arch::TrapFrame, kind: u64) -> ! {
    die(format_args!(
        "guest kernel exception (vector {kind}) at pc {:#x}: ESR_EL1 {:#x} FAR_EL1 {:#x}",
        frame.pc,
        crate::arch::esr_el1(),
        crate::arch::far_el1()
    ))
}
