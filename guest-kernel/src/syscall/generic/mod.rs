//! System calls of the aarch64 guest: `svc #0` from EL0 lands here with the number in x8
//! and the arguments in x0-x5. One declarative table (table.rs) maps the generic (arm64)
//! numbering to handlers with the same row format as the x86_64 table (syscall/table.rs);
//! absent rows answer -ENOSYS. The handlers here are the bring-up ones (fs, mm, ids,
//! info, process); as the x86_64 handlers are ported, the rows point at them instead.

mod fs;
mod futex;
mod ids;
mod info;
mod mm;
mod path;
mod process;
/// `siginfo_t`, shared with the x86_64 kernel.
#[path = "../../task/siginfo.rs"]
mod siginfo;
mod signal;
mod table;

use abi_shared::hypercall::{ControlRequest, ExitHow, Request, SegList, Startup};

pub use signal::set_sigtramp;

use crate::arch::TrapFrame;
use crate::bringup::{hypercall, uspace};

pub const ENOSYS: i64 = -(abi_shared::linux::errno::ENOSYS as i64);
pub const EFAULT: i64 = -(abi_shared::linux::errno::EFAULT as i64);
pub const EINVAL: i64 = -(abi_shared::linux::errno::EINVAL as i64);
pub const ENOMEM: i64 = -(abi_shared::linux::errno::ENOMEM as i64);
pub const EBADF: i64 = -(abi_shared::linux::errno::EBADF as i64);

/// A handler's view of the call.
pub struct Ctx<'a> {
    pub frame: &'a mut TrapFrame,
    pub args: [u64; 6],
}

pub type Handler = fn(&mut Ctx<'_>) -> i64;

struct Ids {
    pid: i32,
    ppid: i32,
    uid: u32,
    euid: u32,
    gid: u32,
    egid: u32,
}

static IDS: spin::Once<Ids> = spin::Once::new();
static UTS: spin::Once<[[u8; 65]; 6]> = spin::Once::new();

pub fn init(startup: &Startup) {
    ids::init_limits(&startup.rlimits);
    path::init_exe(&startup.exec_path);
    IDS.call_once(|| Ids {
        pid: startup.pid,
        ppid: startup.ppid,
        uid: startup.uid,
        euid: startup.euid,
        gid: startup.gid,
        egid: startup.egid,
    });
    UTS.call_once(|| {
        let mut u = [[0u8; 65]; 6];
        let fields: [&[u8]; 6] =
            [b"Linux", &startup.hostname, &startup.kernel_release, &startup.kernel_version, b"aarch64", b"(none)"];
        for (slot, v) in u.iter_mut().zip(fields) {
            let n = v.len().min(64);
            slot[..n].copy_from_slice(&v[..n]);
        }
        u
    });
}

fn ids() -> &'static Ids {
    IDS.get().unwrap_or_else(|| crate::bringup::die(format_args!("syscalls before init")))
}

/// The program ends (exit_group, or a signal's default action).
pub fn terminate(how: ExitHow) -> ! {
    let _ = hypercall::call(&Request::Control(ControlRequest::Exit { how, stats: SegList::Borrowed(&[]) }));
    crate::bringup::die(format_args!("the monitor resumed a guest that exited"))
}

/// The program could not be loaded: say why, and end as a shell would (127 when the file
/// or its ELF interpreter cannot be found, 126 when it cannot be executed), with the
/// x86_64 kernel's words (syscall/process.rs).
pub fn exit_with_loader_error(startup: &Startup, e: crate::bringup::loader::LoadError) -> ! {
    use abi_shared::linux::errno::{E2BIG, ENOENT, ENOEXEC, ENOMEM};
    let path = core::str::from_utf8(&startup.exec_path).unwrap_or("program");
    let (status, why) = match e.errno as u32 {
        ENOENT if e.interpreter => (127, "cannot open its ELF interpreter (the dynamic loader)"),
        _ if e.interpreter => (126, "cannot load its ELF interpreter (the dynamic loader)"),
        ENOENT => (127, "No such file or directory"),
        ENOEXEC => (126, "not an aarch64 ELF executable"),
        ENOMEM => (126, "not enough guest memory to load it (see --memory)"),
        E2BIG => (126, "argument list too long"),
        _ => (126, "cannot load it"),
    };
    let mut line = alloc::vec::Vec::new();
    line.extend_from_slice(path.as_bytes());
    line.extend_from_slice(b": ");
    line.extend_from_slice(why.as_bytes());
    hypercall::log(0, &line);
    terminate(ExitHow::Status(status))
}

const EC_SVC64: u64 = 0x15;
const EC_IABT_LOW: u64 = 0x20;
const EC_PC_ALIGN: u64 = 0x22;
const EC_DABT_LOW: u64 = 0x24;
const EC_SP_ALIGN: u64 = 0x26;
const EC_FP_EXC: u64 = 0x2c;
const EC_BRK64: u64 = 0x3c;

/// rt_sigreturn: its return is the restored x0, never an interrupted call's.
const NR_RT_SIGRETURN: u64 = 139;

/// Every exception from EL0 comes here (arch/aarch64: the vectors), `kind` naming the
/// vector: a syscall, or a fault that the address space resolves or that becomes a signal.
/// Pending signals are delivered before the return to EL0.
#[no_mangle]
extern "C" fn linuxrun_trap_from_user(frame: &mut TrapFrame, kind: u64) {
    if kind != crate::arch::vector::SYNC {
        // No interrupt controller yet: nothing should interrupt EL0.
        crate::bringup::die(format_args!("unexpected exception (vector {kind}) from EL0 at pc {:#x}", frame.pc));
    }
    let esr = crate::arch::esr_el1();
    match esr >> 26 {
        EC_SVC64 => return syscall(frame),
        ec @ (EC_DABT_LOW | EC_IABT_LOW) => {
            let far = crate::arch::far_el1();
            let fsc = esr & 0x3f;
            let write = ec == EC_DABT_LOW && esr & (1 << 6) != 0;
            // Translation (0b0001xx) and permission (0b0011xx) faults at levels 0-3.
            let handled = matches!(fsc & 0x3c, 0x04 | 0x0c) && uspace::with(|s| s.fault(far, write, ec == EC_IABT_LOW));
            if !handled {
                signal::abort_fault(esr, far);
            }
        }
        EC_PC_ALIGN => signal::alignment_fault(esr, crate::arch::far_el1()),
        EC_SP_ALIGN => signal::alignment_fault(esr, frame.sp),
        EC_FP_EXC => signal::fp_exception(esr, frame.pc),
        EC_BRK64 => signal::breakpoint(frame.pc),
        _ => signal::undefined(esr, frame.pc),
    }
    signal::deliver(frame, None);
}

fn syscall(frame: &mut TrapFrame) {
    let nr = frame.x[8];
    let args = [frame.x[0], frame.x[1], frame.x[2], frame.x[3], frame.x[4], frame.x[5]];
    let mut ctx = Ctx { frame, args };
    let ret = match table::lookup(nr) {
        Some(e) => (e.handler)(&mut ctx),
        None => unimplemented(nr),
    };
    frame.x[0] = ret as u64;
    let restart = (nr != NR_RT_SIGRETURN).then_some(signal::Restart { ret, orig_x0: args[0] });
    signal::deliver(frame, restart);
}

/// The generic numbers answered ENOSYS so far, one bit each.
static UNIMPLEMENTED: [core::sync::atomic::AtomicU64; 8] = [const { core::sync::atomic::AtomicU64::new(0) }; 8];

/// Syscall `nr` is not implemented: ENOSYS, named with -v the first time (by number: the
/// monitor's syscall names are x86_64's).
fn unimplemented(nr: u64) -> i64 {
    let (word, bit) = (nr as usize / 64, 1u64 << (nr % 64));
    let first =
        UNIMPLEMENTED.get(word).is_some_and(|w| w.fetch_or(bit, core::sync::atomic::Ordering::Relaxed) & bit == 0);
    if first {
        let line = alloc::format!("not implemented yet: arm64 syscall {nr}, answered ENOSYS");
        hypercall::log(2, line.as_bytes());
    }
    ENOSYS
}
