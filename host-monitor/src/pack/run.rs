//! A packed program's start: read the payload, make sure its tree is extracted in the
//! cache, and hand an ordinary run to main: the packed program with the baked arguments
//! and the user's, the baked environment, the tree mounted as a layer over the host's view.
//!
//! linuxrun's options come from the environment, since every argument is the program's:
//! LINUXRUN_STRACE=1, LINUXRUN_STATS=1, LINUXRUN_STATS_JSON=FILE, LINUXRUN_MEMORY=SIZE,
//! LINUXRUN_HYPERCALLS=shared|exit, LINUXRUN_PLATFORM=pvm|classic, LINUXRUN_VERBOSE=N
//! (and LINUXRUN_ROOT, as for linuxrun). `OUTPUT --linuxrun-info` lists the payload.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::process::ExitCode;

use super::cache;
use super::collect::show;
use super::payload::{Kind, Manifest, Payload};
use super::Entry;
use crate::cli;
use crate::vfs::setup::Bind;

/// linuxrun's own failure (as in main).
const EXIT_LINUXRUN_FAILED: u8 = 125;
/// The first argument that lists the payload instead of running the program.
pub const INFO_OPTION: &str = "--linuxrun-info";

pub fn start(section: &'static [u8]) -> Entry {
    match prepare(section) {
        Ok(entry) => entry,
        Err(message) => {
            eprintln!("linuxrun: {message}");
            Entry::Exit(ExitCode::from(EXIT_LINUXRUN_FAILED))
        }
    }
}

fn prepare(section: &'static [u8]) -> Result<Entry, String> {
    let payload = Payload::parse(section)?;
    let manifest = payload.manifest().map_err(|e| {
        // Checked only now: a hash of the whole payload costs the first run alone.
        if payload.verify() {
            e
        } else {
            "the embedded payload is damaged (its SHA-256 does not match)".to_string()
        }
    })?;
    let user_args: Vec<OsString> = std::env::args_os().skip(1).collect();
    let root = cache::cache_root();
    if user_args.first().is_some_and(|a| a == INFO_OPTION) {
        print_info(&payload, &manifest, &root, section.len());
        return Ok(Entry::Exit(ExitCode::SUCCESS));
    }
    if cfg!(target_arch = "aarch64") {
        // `pack` embeds only x86_64 runtimes, so this is a hand-made file; say it before
        // extracting anything (docs/macos.md, "Apple Silicon").
        return Err("this packed program is an x86_64 Linux program, and this linuxrun runtime is for arm64, \
             which cannot run it yet (on a Mac: Apple Silicon's Hypervisor.framework runs only arm64 guests; \
             see docs/macos.md)"
            .into());
    }
    let tree = match cache::ensure(&root, &payload, &manifest) {
        Ok(tree) => tree,
        // A read-only or foreign home cache: /tmp still serves.
        Err(first) if root != cache::fallback_root() => cache::ensure(&cache::fallback_root(), &payload, &manifest)
            .map_err(|second| format!("{first}; and {second}"))?,
        Err(first) => return Err(first),
    };
    for (name, value) in &manifest.env {
        // SAFETY (of the environment): linuxrun has started no thread yet.
        std::env::set_var(OsStr::from_bytes(name), OsStr::from_bytes(value));
    }
    let mut command = vec![OsString::from("linuxrun")];
    command.extend(options_from_env());
    command.push("--".into());
    command.push(OsStr::from_bytes(&manifest.program).to_os_string());
    command.extend(manifest.args.iter().map(|a| OsStr::from_bytes(a).to_os_string()));
    command.extend(user_args);
    let mut args = match <cli::Args as clap::Parser>::try_parse_from(&command) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("linuxrun: a LINUXRUN_* setting is wrong: {}", e.kind());
            let _ = e.print();
            return Ok(Entry::Exit(ExitCode::from(2)));
        }
    };
    args.argv0 = Some(OsStr::from_bytes(&manifest.argv0).to_os_string());
    args.layer = manifest.binds.iter().map(|g| Bind { host: cache::inside(&tree, g), guest: g.clone() }).collect();
    Ok(Entry::Run(Box::new(args)))
}

/// linuxrun's options as the LINUXRUN_* variables ask.
fn options_from_env() -> Vec<OsString> {
    let on = |name: &str| std::env::var_os(name).is_some_and(|v| !v.is_empty() && v != "0");
    let mut opts: Vec<OsString> = Vec::new();
    if on("LINUXRUN_STRACE") {
        opts.push("--strace".into());
    }
    if on("LINUXRUN_STATS") {
        opts.push("--stats".into());
    }
    for (var, flag) in [
        ("LINUXRUN_STATS_JSON", "--stats-json"),
        ("LINUXRUN_MEMORY", "--memory"),
        ("LINUXRUN_HYPERCALLS", "--hypercalls"),
        ("LINUXRUN_PLATFORM", "--platform"),
    ] {
        if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
            opts.push(flag.into());
            opts.push(v);
        }
    }
    let verbose = std::env::var("LINUXRUN_VERBOSE").ok().and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
    opts.extend((0..verbose.min(3)).map(|_| OsString::from("-v")));
    opts
}

pub(super) fn print_info(payload: &Payload<'_>, m: &Manifest, cache_root: &std::path::Path, section_len: usize) {
    let dir = cache_root.join(payload.key_hex());
    println!("packed program: {} (argv[0] {})", show(&m.program), show(&m.argv0));
    println!("packed by: {}", m.packed_by);
    let args: Vec<String> = m.args.iter().map(|a| show(a)).collect();
    println!("arguments before yours: {}", if args.is_empty() { "(none)".into() } else { args.join(" ") });
    for (k, v) in &m.env {
        println!("environment: {}={}", show(k), show(v));
    }
    println!("payload: {} bytes compressed, key {}", section_len, payload.key_hex());
    let state = if dir.exists() { "extracted" } else { "not extracted yet" };
    println!("cache: {} ({state})", dir.display());
    println!("mounted over the host's files:");
    for b in &m.binds {
        println!("  {}", show(b));
    }
    println!("contents:");
    for e in &m.entries {
        match &e.kind {
            Kind::File { mode, size } => println!("  file    {mode:04o} {size:>10} {}", show(&e.path)),
            Kind::Dir { mode } => println!("  dir     {mode:04o} {:>10} {}", "", show(&e.path)),
            Kind::Symlink { target } => println!("  symlink      {:>10} {} -> {}", "", show(&e.path), show(target)),
        }
    }
}
