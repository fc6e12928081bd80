//! Ending the process.

use abi_shared::hypercall::{ExitHow, Request, SegList, Startup};

use super::Ctx;
use crate::arch::platform;
use crate::hypercall;
use crate::loader::LoadError;

/// Tell the monitor how the program ended (with the syscall counters) and stop.
pub fn terminate(how: ExitHow) -> ! {
    let (faults, huge) = super::stats::memory_counters();
    let (released, release_calls) = super::stats::release_counters();
    // SAFETY: a plain read of a counter only the entry code's fallback path increments.
    let fallbacks = unsafe { core::ptr::read_volatile(&raw const crate::arch::trap::PVM_FALLBACKS) };
    crate::print::log(
        2,
        format_args!(
            "{faults} user page faults, {huge} 2 MiB mappings, {fallbacks} declined direct switches, \
             {} KiB given back to the host in {release_calls} hypercalls",
            released >> 10
        ),
    );
    let seg = [super::stats::counters_segment()];
    hypercall::call(&Request::Exit { how, stats: SegList::Borrowed(&seg) });
    platform::halt_forever()
}

pub fn exit(c: &mut Ctx<'_>) -> i64 {
    terminate(ExitHow::Status(c.int(0) & 0xff))
}

pub fn exit_group(c: &mut Ctx<'_>) -> i64 {
    terminate(ExitHow::Status(c.int(0) & 0xff))
}

/// The loader could not start the program: say why, and exit as a shell would (127 when
/// the file cannot be found, 126 when it cannot be executed).
pub fn exit_with_loader_error(startup: &Startup, e: LoadError) -> ! {
    let path = core::str::from_utf8(&startup.exec_path).unwrap_or("program");
    let (status, why) = match e {
        LoadError::Open(r) if r == -(abi_shared::linux::errno::ENOENT as i64) => (127, "No such file or directory"),
        LoadError::Open(_) => (126, "cannot open the file"),
        LoadError::Read => (126, "cannot read the file"),
        LoadError::NotElf => (126, "not an ELF executable"),
        LoadError::WrongMachine => (126, "not an x86_64 ELF executable"),
        LoadError::Interpreter(_) => (127, "cannot open its ELF interpreter (the dynamic loader)"),
        LoadError::BadLayout => (126, "malformed ELF program headers"),
        LoadError::NoMemory => (126, "not enough guest memory to load it (see --memory)"),
        LoadError::StackTooBig => (126, "argument list too long"),
    };
    crate::print::log(0, format_args!("{path}: {why}"));
    terminate(ExitHow::Status(status))
}
