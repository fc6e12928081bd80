//! From the first instruction to the program's first instruction.

use alloc::vec;
use alloc::vec::Vec;

use abi_shared::bootinfo::{BootInfo, Flavour, BOOT_INFO_MAGIC, BOOT_INFO_VERSION};
use abi_shared::hypercall::{ControlRequest, Request, Response, SegList, Startup, PROTOCOL_VERSION};
use abi_shared::layout::{vcpu_block_gpa, BOOT_INFO_GPA, KERNEL_BASE};

use crate::arch::{self, platform};
use crate::hypercall;

core::arch::global_asm!(
    r#"
    .section .text.boot, "ax"
    .globl _start
_start:
    /* The monitor set rsp to this vCPU's kernel stack and rdi to the BootInfo. */
    xor %ebp, %ebp
    call {kmain}
    ud2
    "#,
    kmain = sym kmain,
    options(att_syntax)
);

extern "C" fn kmain() -> ! {
    let kmain_tsc = crate::time::rdtsc();
    // SAFETY: the monitor wrote a BootInfo at BOOT_INFO_GPA, inside the kernel window.
    let info: BootInfo = unsafe { core::ptr::read_volatile((KERNEL_BASE + BOOT_INFO_GPA) as *const BootInfo) };
    let flavour = info.flavour().unwrap_or(Flavour::Pvm);
    platform::init(flavour);
    crate::percpu::set_block_gpa(vcpu_block_gpa(0));
    crate::mm::tlb::init_first(vcpu_block_gpa(0));
    if info.magic != BOOT_INFO_MAGIC || info.version != BOOT_INFO_VERSION {
        crate::kpanic!("boot info magic/version mismatch: the monitor and guest kernel were built apart");
    }
    crate::print::set_log_level(info.flags);
    crate::syscall::trace::set_enabled(info.flags & abi_shared::bootinfo::flags::STRACE != 0);
    hypercall::transport::init(info.doorbell, info.tsc_khz);
    arch::trap::init_idt();
    arch::note_boot_flags(info.flags);
    arch::init_syscall_msrs();
    crate::mm::init(&info);
    let startup = fetch_startup(&info);
    crate::syscall::init(&startup);
    let frame = match crate::loader::exec(&startup) {
        Ok(frame) => frame,
        Err(e) => crate::syscall::process::exit_with_loader_error(&startup, e),
    };
    crate::fs::procfs::note_exec(frame.rsp, &startup.argv, &startup.envp);
    if crate::syscall::trace::enabled() {
        crate::syscall::trace::first_execve(
            &startup.filename,
            startup.script_argv.as_ref().unwrap_or(&startup.argv),
            frame.rsp,
        );
    }
    crate::kdebug!("entering user: rip {:#x} rsp {:#x}", frame.rip, frame.rsp);
    stamp_boot(kmain_tsc);
    let mut frame = frame;
    // Also for core dumps, so set up whether or not a debugger is attached.
    crate::signal::debug::init(
        info.flags & abi_shared::bootinfo::flags::DEBUGGER != 0,
        crate::signal::debug::ProcTexts {
            auxv: || crate::fs::procfs::generate(crate::fs::procfs::tree::File::Auxv, None).unwrap_or_default(),
            maps: || crate::fs::procfs::generate(crate::fs::procfs::tree::File::Maps, None).unwrap_or_default(),
            cmdline: || crate::fs::procfs::generate(crate::fs::procfs::tree::File::Cmdline, None).unwrap_or_default(),
            file: crate::fs::procfs::debugger_read,
        },
    );
    if crate::signal::debug::active() {
        // Stopped before the program's first instruction; a signal the debugger sends
        // along is the program's first.
        let sig = crate::signal::debug::stop(&mut frame, abi_shared::debug::DebugEvent::Start);
        if sig > 0 {
            crate::signal::raise(crate::signal::SigInfo::sent_by(sig, 0, crate::task::pid(), crate::task::uid()));
        }
    }
    arch::entry::enter_user(&frame)
}

/// Leave the boot's TSC stamps and hypercall count in the block for the monitor's `-v`
/// timing line (no syscall is in flight yet, so the per-CPU hypercall count is the boot's).
fn stamp_boot(kmain_tsc: u64) {
    use abi_shared::layout::vcpu_block;
    let hypercalls = crate::percpu::slot(crate::percpu::HYPERCALLS_NOW).load(core::sync::atomic::Ordering::Relaxed);
    for (offset, value) in [
        (vcpu_block::BOOT_TSC_KMAIN, kmain_tsc),
        (vcpu_block::BOOT_TSC_USER, crate::time::rdtsc()),
        (vcpu_block::BOOT_HYPERCALLS, hypercalls),
    ] {
        hypercall::transport::control::<core::sync::atomic::AtomicU64>(offset)
            .store(value, core::sync::atomic::Ordering::Relaxed);
    }
}

/// Say hello (checks the protocol, calibrates the clock), then fetch argv, envp and ids.
fn fetch_startup(info: &BootInfo) -> Startup {
    let tsc_before = crate::time::rdtsc();
    let hello = match hypercall::call(&Request::Control(ControlRequest::Hello { version: PROTOCOL_VERSION })) {
        Response::Hello(h) => h,
        other => crate::kpanic!("hypercall protocol mismatch: {:?}", other),
    };
    let tsc_after = crate::time::rdtsc();
    crate::time::init(info.tsc_khz, tsc_before / 2 + tsc_after / 2, hello.realtime_ns, hello.monotonic_ns);
    crate::random::reseed(&info.random_seed);
    let mut buf: Vec<u8> = vec![0; hello.startup_len as usize];
    let seg = [hypercall::kernel_buf_seg(&buf)];
    let got = hypercall::call_ret(&Request::Control(ControlRequest::GetStartup { buf: SegList::Borrowed(&seg) }));
    if got != hello.startup_len as i64 {
        crate::kpanic!("startup block: got {}, expected {}", got, hello.startup_len);
    }
    match postcard::from_bytes::<Startup>(&buf) {
        Ok(s) => {
            buf.clear();
            s
        }
        Err(_) => crate::kpanic!("startup block does not decode"),
    }
}
