//! How a request reaches the host. Today: an `out` to the hypercall port, which exits to the
//! monitor's vCPU thread. The shared-memory transport served by a polling host worker (no
//! exit) implements the same trait; the guest learns which one to use from BootInfo.

use abi_shared::layout::ports;

pub trait Transport {
    /// The request area is filled: have the host serve it, and return once the response
    /// area holds the answer.
    fn ring(&self);
}

/// Exit doorbell: the vCPU stops in `KVM_RUN`, the monitor serves the request on the vCPU
/// thread and resumes it.
pub struct PortIo;

impl Transport for PortIo {
    fn ring(&self) {
        // SAFETY: an `out` to the hypercall port only exits to the monitor; the compiler
        // fence in asm! (no `nomem`) orders the request writes before it and the response
        // reads after it.
        unsafe {
            core::arch::asm!("out dx, al", in("dx") ports::HYPERCALL, in("al") 0u8, options(nostack));
        }
    }
}

static PORT_IO: PortIo = PortIo;

pub fn current() -> &'static dyn Transport {
    &PORT_IO
}
