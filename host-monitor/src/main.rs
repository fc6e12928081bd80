//! `linuxrun`: run an unmodified Linux x86_64 program in a hardware VM with linuxrun's own
//! guest kernel, as if it were a native program of this host.
// Much of the monitor is unused where its backend is partial: macOS (the
// Hypervisor.framework backends) and arm64 Linux (no fork, threads or file window yet).
#![cfg_attr(not(all(target_os = "linux", target_arch = "x86_64")), allow(dead_code))]

mod boot_image;
mod cli;
mod diag;
mod entropy;
mod fork_suspend;
mod gdb;
mod guest_mem;
mod host;
mod machine;
mod native;
mod own_fd;
mod pack;
mod program;
#[cfg(target_os = "linux")]
mod ptrace;
#[cfg(not(target_os = "linux"))]
#[path = "ptrace_unported.rs"]
mod ptrace;
mod server;
mod signals;
mod spare_core;
mod startup;
mod stats;
mod strace;
mod threads;
mod timing;
mod vfs;
mod vmm;
mod worker;

use std::collections::BTreeMap;
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;
use std::sync::Arc;

use abi_shared::hypercall::ExitHow;

use crate::machine::{Machine, MachineConfig};
use crate::server::{GuestOutcome, Server};

/// Exit status when linuxrun itself fails (no KVM, a guest kernel crash...), as `env`,
/// `nice` and container runtimes use 125 for their own failures.
const EXIT_LINUXRUN_FAILED: u8 = 125;

fn main() -> ExitCode {
    let start = std::time::Instant::now();
    // `linuxrun pack ...` and a packed program's start are decided here (issue 23).
    let args = match pack::entry() {
        pack::Entry::Run(args) => *args,
        pack::Entry::Exit(code) => return code,
    };
    env_logger::Builder::new()
        .filter_level(match args.verbose {
            0 => log::LevelFilter::Warn,
            1 => log::LevelFilter::Info,
            2 => log::LevelFilter::Debug,
            _ => log::LevelFilter::Trace,
        })
        .format_timestamp(None)
        .target(env_logger::Target::Pipe(Box::new(diag::Writer)))
        .init();
    if args.verbose > 0 {
        timing::enable();
        timing::restart_at("main", start);
        timing::mark("arguments");
    }
    match run(&args) {
        Ok(code) => code,
        Err(Failure { message, code }) => {
            diag!("linuxrun: {message}");
            ExitCode::from(code)
        }
    }
}

struct Failure {
    message: String,
    code: u8,
}

fn run(args: &cli::Args) -> Result<ExitCode, Failure> {
    native::install(&args.natives).map_err(|message| Failure { message, code: 2 })?;
    let (view, shm_dir) = build_view(args)?;
    vfs::install(view);
    let view = vfs::current();
    let found = program::resolve(view, args.program()).map_err(program_failure)?;
    let mut argv = vec![args.argv0().as_bytes().to_vec()];
    argv.extend(args.args().iter().map(|a| a.as_bytes().to_vec()));
    let launch = program::prepare(view, found, argv).map_err(program_failure)?;
    timing::mark("program lookup");
    let fds = startup::reserve_fd_range();
    let diag_fd = diag::init(fds.floor);
    let loadavg_fd = spare_core::init(fds.floor);
    let strace_fd = if args.tracing() {
        strace::init(args.strace_output.as_deref(), fds.floor)
            .map_err(|message| Failure { message, code: EXIT_LINUXRUN_FAILED })?
    } else {
        None
    };
    let memory = args.memory.unwrap_or_else(cli::default_memory);
    timing::mark("fd floor and host setup");
    let cfg = MachineConfig {
        exitless: args.hypercalls == cli::HypercallPath::Shared,
        memory,
        flavour: args.platform.map(Into::into),
        strace: args.tracing(),
        guest_log_level: args.verbose + 1,
        fd_floor: fds.floor,
        debugger: args.gdb.is_some(),
    };
    let mut machine =
        Machine::build(&cfg).map_err(|e| Failure { message: e.to_string(), code: EXIT_LINUXRUN_FAILED })?;
    log::info!("guest kernel flavour: {:?}, {} MiB guest RAM", machine.flavour, memory >> 20);
    let startup = startup::collect(&launch, &fds);
    let guard = server::FdGuard::default();
    guard.set_floor(fds.floor);
    if fds.shared() {
        guard.set_shared();
    }
    for fd in machine.vm.owned_fds().into_iter().chain(diag_fd).chain(loadavg_fd).chain(strace_fd) {
        guard.reserve(fd);
    }
    let debugger = match args.gdb {
        Some(port) => Some(
            gdb::Session::start(port, fds.floor).map_err(|message| Failure { message, code: EXIT_LINUXRUN_FAILED })?,
        ),
        None => None,
    };
    for fd in debugger.iter().flat_map(|d| d.fds()) {
        guard.reserve(fd);
    }
    let server = Arc::new(Server::new(&startup, guard, args.tracing()));
    timing::mark("server setup");
    if let Some(d) = &debugger {
        server.set_debugger(d.clone());
    }
    let mut exits = BTreeMap::new();
    startup::reclose_stdio();
    startup::enforce_program_fd_limit(&fds);
    QUIET.store(args.quiet, std::sync::atomic::Ordering::Relaxed);
    let outcome = machine.run(server.clone(), &mut exits);
    timing::mark("worker and threads stop");
    // gdb hears how the program ended before linuxrun ends (a forked child has no
    // debugger: its copy of the session's thread does not exist).
    if let Some(d) = debugger.filter(|_| !machine.forked) {
        d.finish();
    }
    let hypercalls = server.hypercalls();
    trace_the_end(&outcome);
    // Reading KVM's counters takes a dozen system calls, worth it only for a report.
    let wanted = (args.stats || args.stats_json.is_some()) && !machine.forked;
    let counters = if wanted { machine.vcpu.counters() } else { Vec::new() };
    let report = stats::Report::new(&outcome, &exits, counters, hypercalls, machine.flavour);
    // --stats describe the process the user started; its forked children stay quiet (and
    // do not overwrite its JSON file).
    if args.stats && !machine.forked {
        report.print_table();
    }
    if let Some(file) = args.stats_json.as_ref().filter(|_| !machine.forked) {
        report
            .write_json(file)
            .map_err(|e| Failure { message: format!("{}: {e}", file.display()), code: EXIT_LINUXRUN_FAILED })?;
    }
    if !args.quiet {
        say_what_was_missing(&outcome);
    }
    // The per-run /dev/shm goes before linuxrun ends, however it ends.
    drop(shm_dir);
    let how = ending(outcome, &machine)?;
    if timing::enabled() {
        timing::mark("reports");
        timing::note_guest(&machine.mem);
        // The VM's teardown, timed: it happens at the end of `run` anyway (an end by a
        // signal or a core dump keeps the machine until the process is gone, as without -v).
        if matches!(how, Ending::Status(_)) {
            drop(machine);
            timing::mark("teardown");
        }
        if let Some(line) = timing::line() {
            log::info!("{line}");
        }
    }
    Ok(match how {
        Ending::Status(s) => ExitCode::from(s),
        Ending::Signal(sig) => startup::die_by_signal(sig),
        Ending::Core(sig) => startup::die_with_core(sig),
    })
}

/// How the program ended, for linuxrun to end the same way.
enum Ending {
    Status(u8),
    Signal(i32),
    Core(i32),
}

fn ending(outcome: Result<GuestOutcome, machine::MachineError>, machine: &Machine) -> Result<Ending, Failure> {
    match outcome {
        Ok(GuestOutcome::Exited(ExitHow::Status(s), _)) => Ok(Ending::Status(s as u8)),
        Ok(GuestOutcome::Exited(ExitHow::Signal(sig), _)) => Ok(Ending::Signal(sig)),
        Ok(GuestOutcome::Exited(ExitHow::CoreDumped(sig), _)) => Ok(Ending::Core(sig)),
        Ok(GuestOutcome::Panicked(msg)) => Err(Failure {
            message: format!("guest kernel panic: {msg}; vCPU state: {}", machine.vcpu.snapshot()),
            code: EXIT_LINUXRUN_FAILED,
        }),
        Err(e) => Err(Failure { message: format!("guest failed: {e}"), code: EXIT_LINUXRUN_FAILED }),
    }
}

/// `--strace`'s `+++ exited with N +++` / `+++ killed by SIG +++` line (with strace's
/// ` (core dumped)` when a core file was written).
fn trace_the_end(outcome: &Result<GuestOutcome, machine::MachineError>) {
    match outcome {
        Ok(GuestOutcome::Exited(ExitHow::Status(s), _)) => strace::process_ended(Some(*s), None, false),
        Ok(GuestOutcome::Exited(ExitHow::Signal(sig), _)) => strace::process_ended(None, Some(*sig), false),
        Ok(GuestOutcome::Exited(ExitHow::CoreDumped(sig), _)) => strace::process_ended(None, Some(*sig), true),
        _ => {}
    }
}

/// A program that ends unsuccessfully after asking for something linuxrun lacks: say what
/// (one line, whatever it used; probes that every C library makes are left out).
fn say_what_was_missing(outcome: &Result<GuestOutcome, machine::MachineError>) {
    if let Ok(GuestOutcome::Exited(how, counters)) = outcome {
        let failed = !matches!(how, ExitHow::Status(0));
        if let Some(line) = stats::unimplemented_line(counters, failed) {
            diag!("{line}");
        }
    }
}

/// `--quiet`, for the end of a child forked by a thread (which does not return to `run`).
static QUIET: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// The end of a process forked by a thread other than the first: that thread ran the child
/// (`threads.rs`), and ends it as `run` ends linuxrun (a forked child writes no report).
pub fn finish_forked_child(outcome: Result<GuestOutcome, machine::MachineError>, machine: &Machine) -> ! {
    trace_the_end(&outcome);
    if !QUIET.load(std::sync::atomic::Ordering::Relaxed) {
        say_what_was_missing(&outcome);
    }
    match ending(outcome, machine) {
        Ok(Ending::Status(s)) => std::process::exit(i32::from(s)),
        Ok(Ending::Signal(sig)) => {
            startup::die_by_signal(sig);
            std::process::exit(128 + sig.clamp(0, 127))
        }
        Ok(Ending::Core(sig)) => {
            startup::die_with_core(sig);
            std::process::exit(128 + sig.clamp(0, 127))
        }
        Err(Failure { message, code }) => {
            diag!("linuxrun: {message}");
            std::process::exit(i32::from(code))
        }
    }
}

/// The filesystem view the command line asks for; a bad --root or --bind is linuxrun's
/// usage error (125).
fn build_view(args: &cli::Args) -> Result<(vfs::View, Option<vfs::setup::ShmDir>), Failure> {
    let root = args.root_dir();
    let binds: Vec<vfs::setup::Bind> = args.binds.iter().map(|b| vfs::setup::parse_bind(b)).collect();
    vfs::setup::build(&vfs::setup::Request { root: root.as_deref(), binds: &binds, layer: &args.layer })
        .map_err(|message| Failure { message, code: EXIT_LINUXRUN_FAILED })
}

fn program_failure(e: program::ProgramError) -> Failure {
    Failure { message: e.message, code: e.exit_code as u8 }
}
