//! Command-line interface.

use std::ffi::OsString;
use std::path::PathBuf;

use abi_shared::bootinfo::Flavour;
use clap::{Parser, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "linuxrun",
    version,
    about = "Run an unmodified Linux x86_64 program in a hardware VM with linuxrun's own small kernel",
    override_usage = "linuxrun [OPTIONS] PROGRAM [ARGS]..."
)]
pub struct Args {
    /// Print one line per syscall on stderr, as `strace -f` does (child processes too),
    /// each marked [guest] or [hypercall] (where it was served).
    #[arg(long)]
    pub strace: bool,

    /// Write the --strace lines to FILE instead of stderr, each prefixed with its process
    /// id, as `strace -f -o FILE` does (implies --strace).
    #[arg(long, value_name = "FILE")]
    pub strace_output: Option<PathBuf>,

    /// At exit, print per-syscall counts (served in the guest / by hypercall) and VM exits.
    #[arg(long)]
    pub stats: bool,

    /// Write the --stats report as JSON to FILE.
    #[arg(long, value_name = "FILE")]
    pub stats_json: Option<PathBuf>,

    /// Guest RAM (e.g. 512M, 16G); default: the host's RAM, at most 4G. Host memory is
    /// committed only as the guest touches it.
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memory: Option<u64>,

    /// How hypercalls reach the monitor: through shared memory served by a worker thread
    /// (no VM exit per request), or by an exit each (slower; for comparison and diagnosis).
    #[arg(long, value_enum, default_value = "shared")]
    pub hypercalls: HypercallPath,

    /// Force the guest kernel's privilege flavour (default: detected from the hypervisor).
    #[arg(long, value_enum)]
    pub platform: Option<Platform>,

    /// A Linux userland (a directory) to use as the program's "/"; also LINUXRUN_ROOT (this
    /// flag wins). Default: the host's own "/". The working directory, $HOME, /tmp and /dev
    /// stay reachable at their own paths.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,

    /// Show the host file or directory HOST at GUEST (default: the same path) in the
    /// program's filesystem; repeatable.
    #[arg(long = "bind", value_name = "HOST[:GUEST]")]
    pub binds: Vec<OsString>,

    /// A host program to run with the host's own kernel when the Linux program execs it
    /// (a tool linuxrun cannot run, or a Mach-O on macOS); repeatable. Its file is matched,
    /// not its name: any path to it counts.
    #[arg(long = "native", value_name = "PATH")]
    pub natives: Vec<PathBuf>,

    /// Wait for gdb on 127.0.0.1:PORT (`target remote 127.0.0.1:PORT`), with the program
    /// stopped before its first instruction, as qemu-user's -g; 0 picks a free port.
    #[arg(long, value_name = "PORT")]
    pub gdb: Option<u16>,

    /// More log output (-v: info, each call linuxrun does not implement named the first
    /// time, and a line per process with the time each phase of its start and end took;
    /// -vv: debug).
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Do not print the end-of-run line naming calls linuxrun does not implement (printed
    /// when a program that used them ends unsuccessfully).
    #[arg(long)]
    pub quiet: bool,

    /// The Linux program to run (searched in PATH when it has no slash), then its
    /// arguments. Everything from the program on is the program's, options included
    /// (`linuxrun ls --help` is ls's help), as with env, nice or strace.
    #[arg(value_name = "PROGRAM", required = true, num_args = 1.., trailing_var_arg = true)]
    command: Vec<OsString>,

    /// A packed program's argv[0] when it differs from the path it is started by (the
    /// name it was packed under; the path is the packed file's).
    #[arg(skip)]
    pub argv0: Option<OsString>,

    /// A packed program's read-only layer of files, mounted over the view.
    #[arg(skip)]
    pub layer: Vec<crate::vfs::setup::Bind>,
}

impl Args {
    /// The program as named on the command line.
    pub fn program(&self) -> &OsString {
        &self.command[0]
    }

    /// The program's argv[0]: the name it was given by, or packed under.
    pub fn argv0(&self) -> &OsString {
        self.argv0.as_ref().unwrap_or(&self.command[0])
    }

    /// Its arguments.
    pub fn args(&self) -> &[OsString] {
        &self.command[1..]
    }

    /// Whether syscalls are traced (--strace or --strace-output).
    pub fn tracing(&self) -> bool {
        self.strace || self.strace_output.is_some()
    }

    /// The root directory asked for: --root, else LINUXRUN_ROOT (if set and not empty).
    pub fn root_dir(&self) -> Option<PathBuf> {
        self.root.clone().or_else(|| std::env::var_os("LINUXRUN_ROOT").filter(|v| !v.is_empty()).map(PathBuf::from))
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum HypercallPath {
    /// A worker thread polls shared memory; the guest wakes it without an exit.
    Shared,
    /// Every hypercall is a VM exit served on the vCPU thread.
    Exit,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Platform {
    /// kvm_pvm: deprivileged kernel with direct-switch returns.
    Pvm,
    /// Real ring 0 (VMX/SVM KVM, Hypervisor.framework).
    Classic,
}

impl From<Platform> for Flavour {
    fn from(p: Platform) -> Flavour {
        match p {
            Platform::Pvm => Flavour::Pvm,
            Platform::Classic => Flavour::Classic,
        }
    }
}

/// The default guest RAM: the host's, between 1 GiB and 4 GiB. Untouched guest RAM costs
/// the host no memory, but a larger VM takes longer to set up (about 1 ms per GiB on
/// kvm_pvm), so programs that need more ask with --memory.
pub fn default_memory() -> u64 {
    // SAFETY: sysconf has no memory-safety preconditions.
    let (pages, size) = unsafe { (libc::sysconf(libc::_SC_PHYS_PAGES), libc::sysconf(libc::_SC_PAGESIZE)) };
    let total = (pages.max(0) as u64).saturating_mul(size.max(0) as u64);
    total.clamp(1 << 30, 4 << 30) & !((2 << 20) - 1)
}

/// "512M", "4G", "1048576" (bytes), "64k".
pub fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m = match c.to_ascii_lowercase() {
                'k' => 1u64 << 10,
                'm' => 1 << 20,
                'g' => 1 << 30,
                't' => 1 << 40,
                _ => return Err(format!("unknown size suffix in {s:?} (use K, M, G)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = num.parse().map_err(|_| format!("not a size: {s:?}"))?;
    let bytes = n.checked_mul(mult).ok_or_else(|| format!("size too large: {s:?}"))?;
    if !(64 << 20..=(256u64 << 30)).contains(&bytes) {
        return Err(format!("{s}: guest memory must be between 64M and 256G"));
    }
    Ok(bytes & !((2 << 20) - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_after_the_program_are_the_programs() {
        let a = Args::try_parse_from(["linuxrun", "--strace", "echo", "--strace", "-v", "--help", "--", "-V"]).unwrap();
        assert!(a.strace);
        assert_eq!(a.verbose, 0);
        assert_eq!(a.program(), "echo");
        assert_eq!(a.args(), ["--strace", "-v", "--help", "--", "-V"]);
        let a = Args::try_parse_from(["linuxrun", "-v", "--", "--weird-name", "x"]).unwrap();
        assert_eq!((a.verbose, a.program().as_os_str(), a.args()), (1, "--weird-name".as_ref(), &["x".into()][..]));
        assert!(Args::try_parse_from(["linuxrun", "--bogus", "echo"]).is_err());
        assert!(Args::try_parse_from(["linuxrun", "-v"]).is_err());
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512M"), Ok(512 << 20));
        assert_eq!(parse_size("4g"), Ok(4 << 30));
        assert!(parse_size("12X").is_err());
        assert!(parse_size("1M").is_err());
        assert!(parse_size("").is_err());
    }
}
