//! What an exception from user mode means for the program: a page fault the memory
//! manager resolves or turns into SIGSEGV/SIGBUS, a synchronous signal (#UD, #DE, int3...),
//! the monitor's interrupt for a host signal; then pending signals are delivered. The entry
//! code in arch/ calls these functions by their exported names, so the bottom layer does
//! not import this one.

use abi_shared::hypercall::ExitHow;
use abi_shared::layout::{selectors, SIGNAL_KICK_VECTOR};
use abi_shared::linux::signal::SIGKILL;

use crate::arch::entry::{ReturnPath, TrapFrame};
use crate::arch::platform;
use crate::arch::trap::{VEC_BREAKPOINT, VEC_DEBUG, VEC_GP, VEC_PAGE_FAULT};
use crate::mm::fault::FaultOutcome;
use crate::signal::{self, SigInfo};

/// Every exception lands here with the user's state in `frame`.
#[no_mangle]
pub extern "C" fn exception_from_user(frame: &mut TrapFrame) -> ReturnPath {
    crate::mm::tlb::entered_kernel();
    // A debugger's trap meets the gate once it is known for one (its stop goes through the
    // gate): a thread held here by another's stop would show gdb a pc past its `int3`, or
    // lose its single step to a resume without one (its #DB would become a SIGTRAP).
    // Otherwise it meets it at its next entry.
    let debug_trap = matches!(frame.vector, VEC_BREAKPOINT | VEC_DEBUG) && signal::debug::active();
    if !debug_trap {
        crate::task::fork_gate::checkpoint();
    }
    let path = handle_exception(frame);
    crate::mm::tlb::before_user();
    path
}

fn handle_exception(frame: &mut TrapFrame) -> ReturnPath {
    if frame.vector == SIGNAL_KICK_VECTOR as u64 {
        return signal_kick(frame);
    }
    if frame.cs & 3 == 0 {
        kernel_exception(frame);
    }
    if frame.vector == VEC_PAGE_FAULT {
        user_page_fault(frame);
    } else if (frame.vector == VEC_BREAKPOINT && signal::debug::breakpoint_trap(frame))
        || (frame.vector == VEC_DEBUG && signal::debug::debug_trap(frame))
    {
        // A debugger's breakpoint or single step (--gdb): it has seen the stop.
    } else {
        signal::synchronous_exception(frame);
    }
    // An exception interrupted arbitrary code: rcx and r11 are live user values, so the way
    // back is always the full restore.
    signal::deliver_pending(frame);
    ReturnPath::Full
}

fn user_page_fault(frame: &mut TrapFrame) {
    let addr = platform::fault_address();
    if emulate_vsyscall(frame, addr) {
        return;
    }
    match crate::mm::fault::user_page_fault(frame.error, addr) {
        FaultOutcome::Resolved => {}
        FaultOutcome::Signal { signo, code } => {
            crate::kdebug!(
                "page fault at {:#x} (error {:#x}) from rip {:#x} rsp {:#x} on vCPU {}: signal {}",
                addr,
                frame.error,
                frame.rip,
                frame.rsp,
                crate::percpu::cpu_index(),
                signo
            );
            signal::force_synchronous(frame, SigInfo::fault(signo, code, addr));
        }
        FaultOutcome::OutOfMemory => out_of_memory(),
    }
}

/// The legacy vsyscall page: programs built against old C libraries (static glibc before
/// 2.14 or so, old Go) call gettimeofday, time and getcpu at fixed addresses in the top
/// page of the address space. As with Linux's default (`vsyscall=xonly`) nothing is
/// mapped there: the call faults, and the kernel makes the call and returns to its caller,
/// as Linux's emulate_vsyscall does. False when this fault is not such a call (or cannot
/// be completed: a pointer the program cannot write, a stack it cannot read), which is
/// then a SIGSEGV. seccomp filters do not see these calls.
fn emulate_vsyscall(frame: &mut TrapFrame, addr: u64) -> bool {
    const VSYSCALL_PAGE: u64 = 0xffff_ffff_ff60_0000;
    const PF_INSTRUCTION_FETCH: u64 = 1 << 4;
    if addr & !0xfff != VSYSCALL_PAGE || frame.error & PF_INSTRUCTION_FETCH == 0 || frame.rip != addr {
        return false;
    }
    let ret = match addr & 0xfff {
        0x000 => vsyscall_gettimeofday(frame.rdi, frame.rsi),
        0x400 => vsyscall_time(frame.rdi),
        0x800 => vsyscall_getcpu(frame.rdi, frame.rsi),
        _ => None,
    };
    let (Some(ret), Ok(back)) = (ret, crate::mm::uaccess::read_u64(frame.rsp)) else { return false };
    frame.rax = ret as u64;
    frame.rip = back;
    frame.rsp += 8;
    true
}

fn vsyscall_gettimeofday(tv: u64, tz: u64) -> Option<i64> {
    let ns = crate::time::realtime_ns();
    let timeval = [ns / 1_000_000_000, (ns % 1_000_000_000) / 1000];
    let bytes: [u8; 16] = bytemuck::cast(timeval.map(u64::to_le_bytes));
    if tv != 0 {
        crate::mm::uaccess::copy_to_user(tv, &bytes).ok()?;
    }
    if tz != 0 {
        crate::mm::uaccess::copy_to_user(tz, &[0u8; 8]).ok()?;
    }
    Some(0)
}

fn vsyscall_time(t: u64) -> Option<i64> {
    let secs = (crate::time::realtime_ns() / 1_000_000_000) as i64;
    if t != 0 {
        crate::mm::uaccess::copy_to_user(t, &secs.to_le_bytes()).ok()?;
    }
    Some(secs)
}

/// The CPU as getcpu(2) answers it (`task::current_cpu`), on the one NUMA node.
fn vsyscall_getcpu(cpu: u64, node: u64) -> Option<i64> {
    let n = crate::task::current_cpu();
    for (ptr, value) in [(cpu, n), (node, 0)] {
        if ptr != 0 {
            crate::mm::uaccess::copy_to_user(ptr, &value.to_le_bytes()).ok()?;
        }
    }
    Some(0)
}

/// Guest RAM ran out under a page fault: the process dies by SIGKILL, as Linux's OOM
/// killer ends one, and the user learns why (a signal alone would not say it was
/// linuxrun's memory size).
fn out_of_memory() -> ! {
    let mib = crate::mm::fault::commit_limit() >> 20;
    crate::print::log(
        0,
        format_args!(
            "guest memory (--memory {mib}M) ran out; the program was killed with SIGKILL, as Linux's OOM \
             killer would (a larger --memory may help)"
        ),
    );
    crate::task::exit::terminate(ExitHow::Signal(SIGKILL))
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
    signal::deliver_pending(frame);
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
