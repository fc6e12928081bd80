//! `linuxrun pack` (issue 23): one executable holding the linuxrun runtime and a program
//! with its loader, libraries and chosen files, run as a read-only layer over the host's
//! filesystem view. See docs/pack.md.
//!
//! - [`command`]: the `pack` command line and its steps;
//! - [`source`], [`elf`], [`ldcache`], [`collect`]: finding what the loader will load;
//! - [`hints`]: what the program may still need (dlopen, gconv, NSS);
//! - [`payload`]: the OS-neutral format; [`output`]: embedding it in the runtime;
//!   [`macho`]: for macOS, a signed Mach-O made on Linux;
//! - [`cache`], [`run`]: a packed program's start (extraction, then an ordinary run).

mod cache;
mod codec;
mod collect;
mod command;
mod elf;
mod hints;
mod ldcache;
mod macho;
mod output;
mod payload;
mod run;
mod source;

use std::ffi::OsString;
use std::process::ExitCode;

use clap::Parser;

use crate::cli;

/// What the process does: run a program (the command line's, or the packed one), or
/// exit now (after `pack`, `--linuxrun-info`, or an error).
pub enum Entry {
    Run(Box<cli::Args>),
    Exit(ExitCode),
}

/// Decide from the executable and its command line.
pub fn entry() -> Entry {
    if let Some(section) = embedded() {
        return run::start(section);
    }
    let argv: Vec<OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "pack") {
        return Entry::Exit(command::main(&argv[2..]));
    }
    Entry::Run(Box::new(cli::Args::parse()))
}

/// The payload embedded in this executable, if it is a packed program.
fn embedded() -> Option<&'static [u8]> {
    libsui::find_section(payload::SECTION).ok().flatten()
}
