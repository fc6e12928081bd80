//! Finding and checking the program before a VM is built, so that bad input gets a clear
//! message and the exit code a shell would give (127 not found, 126 cannot execute).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use abi_shared::linux::errno;
use abi_shared::shebang::{self, Shebang};

use crate::host::LinuxErrno;
use crate::vfs::View;

#[derive(Debug)]
pub struct ProgramError {
    pub message: String,
    pub exit_code: i32,
    /// What execve returns for this failure.
    pub errno: LinuxErrno,
}

const ENOENT: LinuxErrno = errno::ENOENT as LinuxErrno;
const EACCES: LinuxErrno = errno::EACCES as LinuxErrno;
const ENOEXEC: LinuxErrno = errno::ENOEXEC as LinuxErrno;

fn not_found(name: &OsStr, why: &str) -> ProgramError {
    ProgramError { message: format!("{}: {why}", name.to_string_lossy()), exit_code: 127, errno: ENOENT }
}

fn cannot_execute(path: &Path, why: &str, errno: LinuxErrno) -> ProgramError {
    ProgramError { message: format!("{}: {why}", path.display()), exit_code: 126, errno }
}

fn io_errno(e: &std::io::Error) -> LinuxErrno {
    e.raw_os_error().map_or(EACCES, crate::host::errno_to_linux)
}

/// A file found in the program's view: the guest path it goes by and the host path that
/// serves it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub guest: PathBuf,
    pub host: PathBuf,
}

/// Resolve `name` as execvp does, in the program's view: a name with a slash is a path,
/// anything else is looked up in PATH.
pub fn resolve(view: &View, name: &OsStr) -> Result<Found, ProgramError> {
    if name.is_empty() {
        return Err(not_found(name, "command not found"));
    }
    if name.as_bytes().contains(&b'/') {
        return match view.host_path(name.as_bytes()) {
            Ok(host) if host.exists() => Ok(Found { guest: PathBuf::from(name), host }),
            Ok(_) => Err(not_found(name, "No such file or directory")),
            Err(e) => Err(lookup_error(Path::new(name), e)),
        };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|dir| if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir }.join(name))
        .filter_map(|guest| Some(Found { host: view.host_path(guest.as_os_str().as_bytes()).ok()?, guest }))
        .find(|f| f.host.is_file() && is_executable(&f.host))
        .ok_or_else(|| not_found(name, "command not found"))
}

/// A path that could not be looked up, as a shell reports it: 127 if it does not exist,
/// 126 if it exists but cannot be reached or run.
fn lookup_error(path: &Path, e: LinuxErrno) -> ProgramError {
    let why = errno_text(e);
    if e == errno::ENOENT as LinuxErrno {
        ProgramError { message: format!("{}: {why}", path.display()), exit_code: 127, errno: e }
    } else {
        cannot_execute(path, why, e)
    }
}

fn errno_text(e: LinuxErrno) -> &'static str {
    match e as u32 {
        errno::ENOENT => "No such file or directory",
        errno::ENOTDIR => "Not a directory",
        errno::EACCES => "Permission denied",
        errno::ELOOP => "Too many levels of symbolic links",
        errno::ENAMETOOLONG => "File name too long",
        errno::ENOEXEC => "Exec format error",
        _ => "cannot be looked up",
    }
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// What the guest loader starts: the ELF file (a guest path) and the argument vector,
/// after `#!` scripts have been replaced by their interpreters as Linux's execve does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub exec_path: Vec<u8>,
    /// The program as named (a script's path, not its interpreter's).
    pub filename: Vec<u8>,
    pub argv: Vec<Vec<u8>>,
    /// The arguments as given, when scripts rewrote `argv`.
    pub script_argv: Option<Vec<Vec<u8>>>,
}

/// Check `program` (found as `found`) and its interpreters (`#!` or PT_INTERP) in the view,
/// and say what to start with which arguments.
pub fn prepare(view: &View, found: Found, argv: Vec<Vec<u8>>) -> Result<Launch, ProgramError> {
    let filename = found.guest.as_os_str().as_bytes().to_vec();
    let chain = follow_scripts(view, found)?;
    let script_argv = chain.argv_prefix.is_some().then(|| argv.clone());
    let argv = chain.apply(argv);
    Ok(Launch { exec_path: chain.elf.guest.into_os_string().into_vec(), filename, argv, script_argv })
}

/// Where `#!` scripts lead: the ELF file to load and, when scripts stood in the way, the
/// arguments that replace the caller's argv[0] (argv[1..] follow them), as execve does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chain {
    pub elf: Found,
    pub argv_prefix: Option<Vec<Vec<u8>>>,
}

impl Chain {
    pub fn apply(&self, argv: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        match &self.argv_prefix {
            None => argv,
            Some(prefix) => prefix.iter().cloned().chain(argv.into_iter().skip(1)).collect(),
        }
    }
}

/// Check `found` and follow its `#!` interpreters to an ELF whose PT_INTERP exists: the
/// checks of Linux's execve (and its errno, in the error), shared by the first program and
/// the program's own execve.
pub fn follow_scripts(view: &View, found: Found) -> Result<Chain, ProgramError> {
    let program = found.guest.clone();
    let mut file = found;
    let mut prefix: Option<Vec<Vec<u8>>> = None;
    // Linux follows MAX_SCRIPT_DEPTH scripts; one more is ELOOP.
    for _ in 0..=shebang::MAX_SCRIPT_DEPTH {
        match check(&file)? {
            Kind::StaticElf => return Ok(Chain { elf: file, argv_prefix: prefix }),
            Kind::DynamicElf { interpreter } => {
                check_elf_interpreter(view, &file, &interpreter)?;
                return Ok(Chain { elf: file, argv_prefix: prefix });
            }
            Kind::Script(sb) => {
                // The script's own argv[0] is dropped; what stood after it stays.
                let rest = prefix.take().unwrap_or_else(|| vec![Vec::new()]);
                prefix = Some(script_argv(&sb, file.guest.as_os_str().as_bytes(), rest));
                file = script_interpreter(view, &file, &sb.interpreter)?;
            }
        }
    }
    Err(cannot_execute(
        &program,
        "bad interpreter: Too many levels of symbolic links (#! scripts nested too deep)",
        errno::ELOOP as LinuxErrno,
    ))
}

/// The argument vector of a script's interpreter, as binfmt_script builds it:
/// `[interpreter, optional argument, script path, argv[1..]...]`.
pub fn script_argv(sb: &Shebang, script: &[u8], argv: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    let mut v = vec![sb.interpreter.clone()];
    v.extend(sb.arg.clone());
    v.push(script.to_vec());
    v.extend(argv.into_iter().skip(1));
    v
}

/// A script's interpreter, looked up in the view (relative to the working directory, as
/// Linux does): 127 if it does not exist, 126 if it is not an executable file.
fn script_interpreter(view: &View, script: &Found, interpreter: &[u8]) -> Result<Found, ProgramError> {
    let name = String::from_utf8_lossy(interpreter);
    let bad = |e: LinuxErrno| ProgramError {
        message: format!("{}: bad interpreter {name}: {}", script.guest.display(), errno_text(e)),
        exit_code: if e == errno::ENOENT as LinuxErrno { 127 } else { 126 },
        errno: e,
    };
    let host = view.host_path(interpreter).map_err(bad)?;
    let meta = fs::metadata(&host).map_err(|_| bad(errno::ENOENT as LinuxErrno))?;
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(bad(errno::EACCES as LinuxErrno));
    }
    Ok(Found { guest: PathBuf::from(OsStr::from_bytes(interpreter)), host })
}

/// A dynamic program's PT_INTERP must exist in the view: as a shell reports a missing
/// interpreter, exit 127 naming it (and the root it was looked for in).
fn check_elf_interpreter(view: &View, program: &Found, interpreter: &str) -> Result<(), ProgramError> {
    if let Some(host) = view.host_path(interpreter.as_bytes()).ok().filter(|h| h.exists()) {
        return runnable_interpreter(program, interpreter, &host);
    }
    let place = match view.root() {
        Some(root) => format!(" in the root {}", root.display()),
        None => String::new(),
    };
    Err(ProgramError {
        message: format!(
            "{}: cannot run: its ELF interpreter {interpreter} does not exist{place}",
            program.guest.display()
        ),
        exit_code: 127,
        errno: ENOENT,
    })
}

/// What Linux checks of an interpreter that exists before execve's point of no return:
/// open_exec wants an executable regular file (EACCES), then the magic and the machine
/// (ELIBBAD). Both are 126 for a shell.
fn runnable_interpreter(program: &Found, interpreter: &str, host: &Path) -> Result<(), ProgramError> {
    let refuse = |why: &str, errno: u32| ProgramError {
        message: format!("{}: cannot run: its ELF interpreter {interpreter} {why}", program.guest.display()),
        exit_code: 126,
        errno: errno as LinuxErrno,
    };
    if !fs::metadata(host).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0) {
        return Err(refuse("is not an executable file", errno::EACCES));
    }
    let mut head = [0u8; 20];
    let read = fs::File::open(host).and_then(|mut f| f.read_exact(&mut head));
    let machine = u16::from_le_bytes([head[18], head[19]]);
    if read.is_err() || !head.starts_with(b"\x7fELF") || machine != GUEST_MACHINE {
        return Err(refuse(&format!("is not an {GUEST_ARCH} ELF file"), errno::ELIBBAD));
    }
    Ok(())
}

/// What kind of executable the file is.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    StaticElf,
    DynamicElf { interpreter: String },
    Script(Shebang),
}

/// Check that `found` is something linuxrun can run now (messages name its guest path).
pub fn check(found: &Found) -> Result<Kind, ProgramError> {
    let (path, host) = (found.guest.as_path(), found.host.as_path());
    let meta = fs::metadata(host).map_err(|e| cannot_execute(path, &e.to_string(), io_errno(&e)))?;
    if meta.is_dir() {
        return Err(cannot_execute(path, "Is a directory", EACCES));
    }
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(cannot_execute(path, "Permission denied (not executable)", EACCES));
    }
    let mut head = Vec::new();
    fs::File::open(host)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .map_err(|e| cannot_execute(path, &e.to_string(), io_errno(&e)))?;
    classify(path, &head)
}

fn classify(path: &Path, head: &[u8]) -> Result<Kind, ProgramError> {
    if let Some(line) = shebang::parse(head) {
        return line.map(Kind::Script).map_err(|_| cannot_execute(path, "Exec format error (bad #! line)", ENOEXEC));
    }
    if !head.starts_with(b"\x7fELF") {
        return Err(cannot_execute(
            path,
            &format!("not an ELF executable (linuxrun runs Linux {GUEST_ARCH} programs)"),
            ENOEXEC,
        ));
    }
    if head.len() < 20 {
        return Err(cannot_execute(path, "truncated ELF header", ENOEXEC));
    }
    // Linux's 64-bit loader reads every ELF as 64-bit little-endian and looks only at
    // e_machine and e_type here, not at EI_CLASS or EI_DATA.
    let machine = u16::from_le_bytes([head[18], head[19]]);
    if let Some(name) = foreign_machine(machine) {
        return Err(cannot_execute(path, &format!("{name} ELF: linuxrun runs {GUEST_ARCH} programs"), ENOEXEC));
    }
    if machine == COMPAT_MACHINE {
        return Err(cannot_execute(
            path,
            &format!("32-bit ELF: linuxrun runs 64-bit {GUEST_ARCH} programs only"),
            ENOEXEC,
        ));
    }
    let e_type = u16::from_le_bytes([head[16], head[17]]);
    if e_type != goblin::elf::header::ET_EXEC && e_type != goblin::elf::header::ET_DYN {
        return Err(cannot_execute(path, "not an executable ELF file (a relocatable object or core dump?)", ENOEXEC));
    }
    Ok(match interpreter(head).map_err(|why| cannot_execute(path, why, ENOEXEC))? {
        Some(interp) => Kind::DynamicElf { interpreter: interp },
        None => Kind::StaticElf,
    })
}

/// The programs this linuxrun runs: those of its own architecture (the guest kernel's).
#[cfg(not(target_arch = "aarch64"))]
const GUEST_MACHINE: u16 = goblin::elf::header::EM_X86_64;
#[cfg(not(target_arch = "aarch64"))]
const COMPAT_MACHINE: u16 = goblin::elf::header::EM_386;
#[cfg(not(target_arch = "aarch64"))]
const GUEST_ARCH: &str = "x86_64";
#[cfg(target_arch = "aarch64")]
const GUEST_MACHINE: u16 = goblin::elf::header::EM_AARCH64;
#[cfg(target_arch = "aarch64")]
const COMPAT_MACHINE: u16 = goblin::elf::header::EM_ARM;
#[cfg(target_arch = "aarch64")]
const GUEST_ARCH: &str = "aarch64";

fn foreign_machine(machine: u16) -> Option<&'static str> {
    use goblin::elf::header::*;
    match machine {
        m if m == GUEST_MACHINE || m == COMPAT_MACHINE => None,
        EM_X86_64 => Some("x86_64"),
        EM_386 => Some("32-bit x86"),
        EM_AARCH64 => Some("aarch64"),
        EM_ARM => Some("32-bit ARM"),
        EM_RISCV => Some("RISC-V"),
        EM_PPC64 => Some("PowerPC 64"),
        EM_PPC => Some("PowerPC"),
        EM_S390 => Some("s390x"),
        EM_MIPS => Some("MIPS"),
        EM_LOONGARCH => Some("LoongArch"),
        _ => Some(if cfg!(target_arch = "aarch64") { "non-aarch64" } else { "non-x86_64" }),
    }
}

/// The PT_INTERP path, if the program headers (within `head`) name one; an error for a
/// PT_INTERP Linux refuses with ENOEXEC (2 to PATH_MAX bytes ending in a NUL; the path is
/// what stands before the first NUL). Headers the guest's loader will refuse, or that lie
/// beyond `head`, are left to it.
fn interpreter(head: &[u8]) -> Result<Option<String>, &'static str> {
    const PHDR_SIZE: usize = 56;
    let le64 = |b: &[u8], at: usize| b.get(at..at + 8).map(|s| u64::from_le_bytes(s.try_into().unwrap()));
    let (Some(phoff), Some(&[ent0, ent1, num0, num1])) = (le64(head, 32), head.get(54..58)) else { return Ok(None) };
    if u16::from_le_bytes([ent0, ent1]) as usize != PHDR_SIZE {
        return Ok(None);
    }
    let table = usize::try_from(phoff)
        .ok()
        .and_then(|o| head.get(o..o.checked_add(PHDR_SIZE * usize::from(u16::from_le_bytes([num0, num1])))?));
    let Some(table) = table else { return Ok(None) };
    let Some(p) =
        table.chunks_exact(PHDR_SIZE).find(|p| p[..4] == goblin::elf::program_header::PT_INTERP.to_le_bytes())
    else {
        return Ok(None);
    };
    let (offset, size) = (le64(p, 8).unwrap_or(0), le64(p, 32).unwrap_or(0));
    if !(2..=4096).contains(&size) {
        return Err("Exec format error (PT_INTERP is empty or too long)");
    }
    let Some(bytes) = usize::try_from(offset).ok().and_then(|o| head.get(o..o.checked_add(size as usize)?)) else {
        return Ok(None);
    };
    match bytes.split_last() {
        Some((0, path)) => {
            let path = path.split(|&b| b == 0).next().unwrap_or(path);
            Ok(Some(String::from_utf8_lossy(path).into_owned()))
        }
        _ => Err("Exec format error (PT_INTERP does not end in a NUL)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(class: u8, machine: u16) -> Vec<u8> {
        let mut h = vec![0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = class;
        h[5] = 1;
        h[6] = 1;
        h[16] = 2; // ET_EXEC
        h[18..20].copy_from_slice(&machine.to_le_bytes());
        h
    }

    /// The other architecture's ELF, and its name.
    #[cfg(not(target_arch = "aarch64"))]
    const OTHER: (u16, &str) = (183, "aarch64 ELF: linuxrun runs x86_64 programs");
    #[cfg(target_arch = "aarch64")]
    const OTHER: (u16, &str) = (62, "x86_64 ELF: linuxrun runs aarch64 programs");

    #[test]
    fn foreign_and_32_bit_elves_are_named() {
        let p = Path::new("x");
        let e = classify(p, &header(2, OTHER.0)).unwrap_err();
        assert_eq!(e.exit_code, 126);
        assert!(e.message.contains(OTHER.1), "{}", e.message);
        let e = classify(p, &header(1, COMPAT_MACHINE)).unwrap_err();
        assert!(e.message.contains("32-bit"), "{}", e.message);
    }

    #[test]
    fn text_is_not_an_elf() {
        let e = classify(Path::new("x"), b"hello world, this is text").unwrap_err();
        assert_eq!(e.exit_code, 126);
    }

    #[test]
    fn static_elf_is_accepted() {
        let mut h = header(2, GUEST_MACHINE);
        h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        assert_eq!(classify(Path::new("x"), &h).unwrap(), Kind::StaticElf);
    }

    #[test]
    fn missing_program_is_127() {
        let view = View::Identity;
        assert_eq!(resolve(&view, OsStr::new("definitely-not-a-command-xyz")).unwrap_err().exit_code, 127);
        assert_eq!(resolve(&view, OsStr::new("./no/such/file")).unwrap_err().exit_code, 127);
    }

    #[test]
    fn nested_scripts_replace_argv0_as_execve_does() {
        let dir = std::env::temp_dir().join(format!("linuxrun-chain-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let write = |name: &str, content: &[u8]| {
            let path = dir.join(name);
            fs::write(&path, content).unwrap();
            fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
            path
        };
        let mut elf = header(2, 62);
        elf[52..54].copy_from_slice(&64u16.to_le_bytes());
        let elf = write("elf", &elf);
        let s0 = write("s0", format!("#!{} a0\n", elf.display()).as_bytes());
        let s1 = write("s1", format!("#!{}\n", s0.display()).as_bytes());
        let chain = follow_scripts(&View::Identity, Found { guest: s1.clone(), host: s1.clone() }).unwrap();
        assert_eq!(chain.elf.host, elf);
        let bytes = |p: &Path| p.as_os_str().as_bytes().to_vec();
        let argv = chain.apply(vec![b"s1".to_vec(), b"x".to_vec()]);
        assert_eq!(argv, [bytes(&elf), b"a0".to_vec(), bytes(&s0), bytes(&s1), b"x".to_vec()]);
        fs::set_permissions(&s0, fs::Permissions::from_mode(0o644)).unwrap();
        let e = follow_scripts(&View::Identity, Found { guest: s1.clone(), host: s1 }).unwrap_err();
        assert_eq!(e.errno, EACCES);
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn script_arguments_are_linuxs() {
        let sb = Shebang { interpreter: b"/bin/i".to_vec(), arg: Some(b"-a b".to_vec()) };
        let argv = vec![b"name".to_vec(), b"x".to_vec(), b"y".to_vec()];
        let got = script_argv(&sb, b"./s", argv);
        assert_eq!(got, [&b"/bin/i"[..], b"-a b", b"./s", b"x", b"y"]);
        let sb = Shebang { interpreter: b"/bin/i".to_vec(), arg: None };
        assert_eq!(script_argv(&sb, b"/p/s", vec![b"s".to_vec()]), [&b"/bin/i"[..], b"/p/s"]);
    }
}
