//! From the first instruction to the program's first instruction, on aarch64 (the x86_64
//! counterpart is boot.rs): check the BootInfo, set up the heap and the frames, say hello
//! to the monitor, fetch the startup block, load the program, `eret` to EL0.

use alloc::vec;

use abi_shared::bootinfo::{BootInfo, BOOT_INFO_MAGIC, BOOT_INFO_VERSION};
use abi_shared::hypercall::{ControlRequest, Request, Response, SegList, Startup, PROTOCOL_VERSION};

use crate::arch::TrapFrame;
use crate::bringup::{self, hypercall};

/// The kernel heap's size; the frames for user memory and page tables follow it.
const HEAP_SIZE: u64 = 8 << 20;

/// Entered from arch/aarch64's `_start` with x0 = the BootInfo's address.
#[no_mangle]
extern "C" fn linuxrun_kmain(info: &BootInfo) -> ! {
    if info.magic != BOOT_INFO_MAGIC || info.version != BOOT_INFO_VERSION {
        bringup::die(format_args!("boot info magic/version mismatch: the monitor and guest kernel were built apart"));
    }
    bringup::init_heap(info.free_start, HEAP_SIZE);
    bringup::frames::init(info.free_start + HEAP_SIZE, info.mem_size);
    let startup = fetch_startup(info);
    crate::syscall::init(&startup);
    let entry = match bringup::loader::exec(&startup) {
        Ok(e) => e,
        Err(e) => crate::syscall::exit_with_loader_error(&startup, e),
    };
    crate::syscall::set_sigtramp(entry.sigtramp);
    let mut frame = TrapFrame { x: [0; 31], sp: entry.sp, pc: entry.pc, pstate: 0, fpsr: 0, fpcr: 0, v: [0; 32] };
    frame.x[0] = 0; // ELF_PLAT_INIT: x0 (rtld_fini for a static program) starts zero
    crate::arch::enter_user(&frame)
}

/// Say hello (checks the protocol, anchors the clock), then fetch argv, envp and ids.
fn fetch_startup(info: &BootInfo) -> Startup {
    let ticks = crate::arch::cntvct_el0();
    let hello = match hypercall::call(&Request::Control(ControlRequest::Hello { version: PROTOCOL_VERSION })) {
        Response::Hello(h) => h,
        other => bringup::die(format_args!("hypercall protocol mismatch: {other:?}")),
    };
    bringup::clock::init(ticks, hello.realtime_ns, hello.monotonic_ns);
    crate::random::reseed(&info.random_seed);
    let buf = vec![0u8; hello.startup_len as usize];
    let seg = [hypercall::kernel_buf_seg(&buf)];
    let got = hypercall::call_ret(&Request::Control(ControlRequest::GetStartup { buf: SegList::Borrowed(&seg) }));
    if got != hello.startup_len as i64 {
        bringup::die(format_args!("startup block: got {got}, expected {}", hello.startup_len));
    }
    match postcard::from_bytes::<Startup>(&buf) {
        Ok(s) => s,
        Err(_) => bringup::die(format_args!("startup block does not decode")),
    }
}
