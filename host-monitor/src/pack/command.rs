//! The `linuxrun pack` command: parse, collect, encode, write, advise.
//!
//! Exit status: 0 written; 2 usage; 127 the program, its interpreter or a library it
//! needs not found; 126 the program is not an x86_64 ELF (a 32-bit or foreign one, a
//! script); 1 anything else (an `--add` that does not exist, a payload over the limit, an
//! unusable runtime, an unwritable OUTPUT, `--target aarch64-apple-darwin`).
//!
//! `--target x86_64-apple-darwin --runtime MACOS-LINUXRUN` writes a signed Mach-O for Intel
//! Macs ([`super::macho`]); `linuxrun pack --info PACKED` lists a packed file of either kind.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;

use super::collect::{show, Collection, Collector, Item};
use super::payload::{self, Entry, Kind, Manifest};
use super::source::{plain, Source};
use super::{hints, macho, output};
use crate::vfs::mounts::normalize;

#[derive(Parser, Debug)]
#[command(
    name = "linuxrun pack",
    about = "Pack a Linux program, its loader, libraries and chosen files into one executable",
    override_usage = "linuxrun pack PROGRAM [-o OUTPUT] [--add HOST[:GUEST]]... [--root DIR] [--env NAME=VALUE]... \
                      [--target TRIPLE] [--runtime PATH] [--args ARG...]\n       \
                      linuxrun pack --info PACKED"
)]
struct PackArgs {
    /// The program: a path, or a name looked up in PATH (in the root with --root).
    #[arg(value_name = "PROGRAM", required_unless_present = "info")]
    program: Option<OsString>,

    /// List what a packed file (for Linux or macOS) holds, instead of packing.
    #[arg(long, value_name = "PACKED", conflicts_with = "program")]
    info: Option<PathBuf>,

    /// The packed executable to write (default: PROGRAM's name with ".packed", here).
    #[arg(short, long, value_name = "OUTPUT")]
    output: Option<PathBuf>,

    /// A file or directory tree to pack (data, dlopened libraries), shown at GUEST (default:
    /// the same path); repeatable. An added ELF library brings its own libraries.
    #[arg(long = "add", value_name = "HOST[:GUEST]")]
    adds: Vec<OsString>,

    /// Read the program, its libraries and absolute --add paths from this Linux userland.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,

    /// Set NAME=VALUE in the program's environment; repeatable.
    #[arg(long = "env", value_name = "NAME=VALUE")]
    envs: Vec<OsString>,

    /// The linuxrun to embed: for Linux a static one (default: this one, if it is); for
    /// macOS one built by scripts/build-macos (required).
    #[arg(long, value_name = "PATH")]
    runtime: Option<PathBuf>,

    /// The host the output runs on: x86_64-unknown-linux-gnu (default) or
    /// x86_64-apple-darwin (a signed Mach-O for Intel Macs).
    #[arg(long, value_name = "TRIPLE")]
    target: Option<String>,

    /// Arguments placed before the user's; everything after --args.
    #[arg(long, value_name = "ARG", num_args = 1.., allow_hyphen_values = true)]
    args: Vec<OsString>,
}

struct Failure {
    message: String,
    code: u8,
}

fn fail(code: u8) -> impl Fn(String) -> Failure {
    move |message| Failure { message, code }
}

/// Run `linuxrun pack` with `argv` (what follows "pack").
pub fn main(argv: &[OsString]) -> ExitCode {
    let parsed = PackArgs::try_parse_from(std::iter::once(OsString::from("linuxrun pack")).chain(argv.iter().cloned()));
    let args = match parsed {
        Ok(a) => a,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { 2 } else { 0 });
        }
    };
    let done = match &args.info {
        Some(packed) => info(packed),
        None => pack(&args),
    };
    match done {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure { message, code }) => {
            eprintln!("linuxrun: pack: {message}");
            ExitCode::from(code)
        }
    }
}

/// The host a packed program runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Target {
    Linux,
    /// An Intel Mac: a signed Mach-O.
    MacX86_64,
}

const LINUX_TARGET: &str = "x86_64-unknown-linux-gnu";
const MAC_TARGET: &str = "x86_64-apple-darwin";

fn target(arg: Option<&str>) -> Result<Target, Failure> {
    match arg {
        None | Some(LINUX_TARGET) => Ok(Target::Linux),
        Some(MAC_TARGET) => Ok(Target::MacX86_64),
        Some("aarch64-apple-darwin") => {
            Err(fail(1)(format!("--target aarch64-apple-darwin: {}", macho::APPLE_SILICON)))
        }
        Some(other) => Err(fail(2)(format!("--target {other}: the targets are {LINUX_TARGET} and {MAC_TARGET}"))),
    }
}

/// The runtime's bytes, checked for the target.
fn runtime(args: &PackArgs, target: Target) -> Result<Vec<u8>, Failure> {
    match (target, &args.runtime) {
        (Target::Linux, Some(p)) => output::runtime(p).map_err(fail(1)),
        (Target::Linux, None) => {
            let me =
                std::env::current_exe().map_err(|e| fail(1)(format!("cannot find this linuxrun: {}", plain(&e))))?;
            output::runtime(&me).map_err(fail(1))
        }
        (Target::MacX86_64, None) => Err(fail(1)(format!(
            "--target {MAC_TARGET} needs --runtime: a linuxrun built for macOS (scripts/build-macos prints its path)"
        ))),
        (Target::MacX86_64, Some(p)) => {
            let bytes = std::fs::read(p).map_err(|e| fail(1)(format!("--runtime {}: {}", p.display(), plain(&e))))?;
            macho::check_runtime(&bytes).map_err(|e| fail(1)(format!("--runtime {}: {e}", p.display())))?;
            Ok(bytes)
        }
    }
}

/// `linuxrun pack --info PACKED`: what the payload of a packed file holds, whichever host it
/// is for, and whether its bytes are still the packed ones.
fn info(packed: &Path) -> Result<(), Failure> {
    let bytes = std::fs::read(packed).map_err(|e| fail(1)(format!("{}: {}", packed.display(), plain(&e))))?;
    let section = output::embedded_payload(&bytes)
        .ok_or_else(|| fail(1)(format!("{}: not a packed program (no linuxrun payload inside)", packed.display())))?;
    let p = payload::Payload::parse(section).map_err(|e| fail(1)(format!("{}: {e}", packed.display())))?;
    let m = p.manifest().map_err(|e| fail(1)(format!("{}: {e}", packed.display())))?;
    let kind = if macho::is_macho(&bytes) { "Mach-O for macOS" } else { "ELF for Linux" };
    println!("file: {} ({kind})", packed.display());
    println!("payload SHA-256: {}", if p.verify() { "matches its key" } else { "DOES NOT MATCH (damaged)" });
    super::run::print_info(&p, &m, &super::cache::cache_root(), section.len());
    if p.verify() {
        Ok(())
    } else {
        Err(fail(1)(format!("{}: the payload is damaged", packed.display())))
    }
}

fn pack(args: &PackArgs) -> Result<(), Failure> {
    let env = baked_env(&args.envs).map_err(fail(2))?;
    let target = target(args.target.as_deref())?;
    let runtime = runtime(args, target)?;
    let program_arg = args.program.as_deref().unwrap_or_default();
    let source = Source::new(match &args.root {
        Some(r) => {
            Some(std::fs::canonicalize(r).map_err(|e| fail(1)(format!("--root {}: {}", r.display(), plain(&e))))?)
        }
        None => None,
    });
    let program = program_path(&source, program_arg)?;
    let mut collector = Collector::new(source.clone(), std::env::var_os("LD_LIBRARY_PATH").as_deref());
    collector.program(&program).map_err(|e| Failure { message: e.message, code: e.code })?;
    for add in &args.adds {
        let (host, guest) = add_paths(&source, add).map_err(fail(2))?;
        collector.add(&host, &guest).map_err(|e| Failure { message: e.message, code: e.code })?;
    }
    let collection = collector.out;
    let mut env = env;
    if collection.used_ld_library_path && !env.iter().any(|(k, _)| k == b"LD_LIBRARY_PATH") {
        if let Some(p) = std::env::var_os("LD_LIBRARY_PATH") {
            eprintln!(
                "linuxrun: pack: libraries were found through LD_LIBRARY_PATH: it is set in the packed environment"
            );
            env.push((b"LD_LIBRARY_PATH".to_vec(), p.as_bytes().to_vec()));
        }
    }
    let output = args.output.clone().unwrap_or_else(|| default_output(&program));
    refuse_overwriting_inputs(&output, &collection)?;
    let manifest = manifest(args, &program, env, &collection);
    let bytes = payload::encode(&manifest, |e| read_entry(&collection, e))
        .map_err(|e| fail(1)(format!("reading the files to pack: {}", plain(&e))))?;
    match target {
        Target::Linux => output::write(&output, &runtime, &bytes).map_err(fail(1))?,
        Target::MacX86_64 => {
            output::check(&output, &bytes).map_err(fail(1))?;
            let name = show(program.rsplit(|&b| b == b'/').next().unwrap_or(b"program"));
            let signed =
                macho::embed_and_sign(&runtime, &bytes, &format!("linuxrun.packed.{name}")).map_err(fail(1))?;
            output::write_atomically(&output, |out| {
                std::io::Write::write_all(out, &signed)
                    .map_err(|e| format!("cannot write {}: {}", output.display(), plain(&e)))
            })
            .map_err(fail(1))?;
            eprintln!(
                "linuxrun: pack: {} is a Mach-O for Intel Macs, ad-hoc signed with the {} entitlement",
                output.display(),
                macho::HYPERVISOR_ENTITLEMENT
            );
        }
    }
    report(&output, &manifest, &collection, bytes.len());
    Ok(())
}

/// PROGRAM as an absolute path in the source: a name is looked up in PATH there.
fn program_path(source: &Source, name: &OsStr) -> Result<Vec<u8>, Failure> {
    let bytes = name.as_bytes();
    if bytes.contains(&b'/') {
        if bytes.starts_with(b"/") {
            return Ok(normalize(bytes));
        }
        if source.root().is_some() {
            return Err(fail(2)(format!(
                "{}: under --root, give PROGRAM as an absolute path in the root or a name",
                show(bytes)
            )));
        }
        let cwd = std::env::current_dir().map_err(|e| fail(1)(plain(&e)))?;
        return Ok(normalize(cwd.join(name).as_os_str().as_bytes()));
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    for dir in std::env::split_paths(&path).filter(|d| d.is_absolute()) {
        let candidate = normalize(dir.join(name).as_os_str().as_bytes());
        if let Ok((host, _)) = source.locate(&candidate) {
            if std::fs::metadata(&host).is_ok_and(|m| m.is_file()) {
                return Ok(candidate);
            }
        }
    }
    Err(fail(127)(format!("{}: command not found", name.to_string_lossy())))
}

/// `HOST[:GUEST]` of an --add: HOST absolute in the source or relative to here (then read
/// from this host's own files); GUEST absolute, by default HOST's absolute path.
fn add_paths(source: &Source, add: &OsStr) -> Result<(Vec<u8>, Vec<u8>), String> {
    let bind = crate::vfs::setup::parse_bind(add);
    let host = bind.host.as_os_str().as_bytes();
    let host_abs = if host.starts_with(b"/") {
        normalize(host)
    } else if source.root().is_some() {
        return Err(format!("--add {}: under --root, give an absolute path in the root", show(host)));
    } else {
        let cwd = std::env::current_dir().map_err(|e| plain(&e))?;
        normalize(cwd.join(&bind.host).as_os_str().as_bytes())
    };
    let guest = if bind.guest == host { host_abs.clone() } else { bind.guest.clone() };
    if !guest.starts_with(b"/") {
        return Err(format!("--add {}: the guest path must be absolute", add.to_string_lossy()));
    }
    Ok((host_abs, normalize(&guest)))
}

/// Environment variables as (name, value) pairs.
type EnvPairs = Vec<(Vec<u8>, Vec<u8>)>;

fn baked_env(envs: &[OsString]) -> Result<EnvPairs, String> {
    envs.iter()
        .map(|e| {
            let b = e.as_bytes();
            match b.iter().position(|&c| c == b'=') {
                Some(i) if i > 0 => Ok((b[..i].to_vec(), b[i + 1..].to_vec())),
                _ => Err(format!("--env {}: expected NAME=VALUE", e.to_string_lossy())),
            }
        })
        .collect()
}

fn default_output(program: &[u8]) -> PathBuf {
    let name = program.rsplit(|&b| b == b'/').next().unwrap_or(b"program");
    PathBuf::from(format!("{}.packed", show(name)))
}

/// OUTPUT must not be one of the files being packed (the rename would replace it).
fn refuse_overwriting_inputs(output: &Path, collection: &Collection) -> Result<(), Failure> {
    let Ok(out) = std::fs::canonicalize(output) else { return Ok(()) };
    let clash = collection.items.values().any(|i| match i {
        Item::File { host, .. } => std::fs::canonicalize(host).is_ok_and(|h| h == out),
        _ => false,
    });
    if clash {
        return Err(fail(1)(format!("{}: OUTPUT is one of the files to pack", output.display())));
    }
    Ok(())
}

fn manifest(args: &PackArgs, program: &[u8], env: EnvPairs, c: &Collection) -> Manifest {
    let argv0 = args.program.as_deref().unwrap_or_default().as_bytes().to_vec();
    let entries = c
        .items
        .iter()
        .map(|(path, item)| Entry {
            path: path.clone(),
            kind: match item {
                Item::File { mode, size, .. } => Kind::File { mode: *mode, size: *size },
                Item::Dir { mode } => Kind::Dir { mode: *mode },
                Item::Symlink { target } => Kind::Symlink { target: target.clone() },
            },
        })
        .collect();
    Manifest {
        program: program.to_vec(),
        argv0,
        args: args.args.iter().map(|a| a.as_bytes().to_vec()).collect(),
        env,
        binds: c.binds.iter().cloned().collect(),
        entries,
        packed_by: format!("linuxrun {}", env!("CARGO_PKG_VERSION")),
    }
}

/// A File entry's bytes; the size must still be the one collected.
fn read_entry(c: &Collection, e: &Entry) -> std::io::Result<Vec<u8>> {
    let (Some(Item::File { host, size, .. }), Kind::File { .. }) = (c.items.get(&e.path), &e.kind) else {
        return Err(std::io::Error::other("internal: entry without a file"));
    };
    let bytes = std::fs::read(host)?;
    if bytes.len() as u64 != *size {
        return Err(std::io::Error::other(format!("{} changed while packing", host.display())));
    }
    Ok(bytes)
}

fn report(output: &Path, m: &Manifest, c: &Collection, payload: usize) {
    let files = m.entries.iter().filter(|e| matches!(e.kind, Kind::File { .. })).count();
    eprintln!(
        "linuxrun: pack: wrote {} ({files} files, {} entries, {:.1} MiB packed into {:.1} MiB)",
        output.display(),
        m.entries.len(),
        c.content as f64 / 1048576.0,
        payload as f64 / 1048576.0
    );
    for w in &c.warnings {
        eprintln!("linuxrun: pack: warning: {w}");
    }
    for h in hints::hints(c) {
        eprintln!("linuxrun: pack: note: {h}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<PackArgs, clap::Error> {
        PackArgs::try_parse_from(std::iter::once("linuxrun pack").chain(args.iter().copied()))
    }

    #[test]
    fn args_take_everything_after_them() {
        let a = parse(&["sqlite3", "-o", "out", "--env", "A=1", "--args", "-o", "x", "--add", "y"]).unwrap();
        assert_eq!(a.output.as_deref(), Some(Path::new("out")));
        assert_eq!(a.args, ["-o", "x", "--add", "y"]);
        assert!(parse(&[]).is_err());
        assert!(parse(&["p", "--bogus"]).is_err());
    }

    #[test]
    fn targets_and_info() {
        assert_eq!(target(None).ok(), Some(Target::Linux));
        assert_eq!(target(Some("x86_64-unknown-linux-gnu")).ok(), Some(Target::Linux));
        assert_eq!(target(Some("x86_64-apple-darwin")).ok(), Some(Target::MacX86_64));
        let arm = target(Some("aarch64-apple-darwin")).err().unwrap();
        assert!(arm.code == 1 && arm.message.contains("Apple Silicon"), "{}", arm.message);
        assert_eq!(target(Some("mips")).err().unwrap().code, 2);
        let a = parse(&["--info", "x.packed"]).unwrap();
        assert!(a.program.is_none() && a.info.as_deref() == Some(Path::new("x.packed")));
        assert!(parse(&["prog", "--info", "x.packed"]).is_err());
    }

    #[test]
    fn environment_and_add_arguments() {
        assert_eq!(baked_env(&["A=b=c".into()]).unwrap(), [(b"A".to_vec(), b"b=c".to_vec())]);
        assert!(baked_env(&["=x".into()]).is_err());
        assert!(baked_env(&["NOEQUALS".into()]).is_err());
        let s = Source::default();
        assert_eq!(add_paths(&s, OsStr::new("/a/b/")).unwrap(), (b"/a/b".to_vec(), b"/a/b".to_vec()));
        assert_eq!(add_paths(&s, OsStr::new("/a:/x/y")).unwrap(), (b"/a".to_vec(), b"/x/y".to_vec()));
        assert!(add_paths(&s, OsStr::new("/a:rel")).is_err());
    }
}
