//! The end of the process: the monitor learns how it ended, with the syscall counters.

use abi_shared::hypercall::{ControlRequest, ExitHow, GuestSeg, Request, SegList};

/// Tell the monitor how the program ended (with the syscall counters) and stop.
pub fn terminate(how: ExitHow) -> ! {
    crate::mm::vfork::copy_back();
    let (faults, huge) = crate::stats::memory_counters();
    let (released, release_calls) = crate::stats::release_counters();
    // SAFETY: a plain read of a counter only the entry code's fallback path increments.
    let fallbacks = unsafe { core::ptr::read_volatile(&raw const crate::arch::trap::PVM_FALLBACKS) };
    crate::print::log(
        2,
        format_args!(
            "{faults} user page faults, {huge} 2 MiB mappings, {fallbacks} declined direct switches, \
             {} KiB given back to the host in {release_calls} hypercalls, \
             {} threads started on a vCPU waiting in the guest",
            released >> 10,
            crate::stats::threads_handed_off()
        ),
    );
    let seg =
        crate::stats::counters_tables().map(|(va, len)| GuestSeg { gpa: crate::hypercall::kernel_va_to_gpa(va), len });
    crate::hypercall::call(&Request::Control(ControlRequest::Exit { how, stats: SegList::Borrowed(&seg) }));
    crate::arch::platform::halt_forever()
}
