//! Finding and checking the program before a VM is built, so that bad input gets a clear
//! message and the exit code a shell would give (127 not found, 126 cannot execute).

use std::ffi::{OsStr, OsString};
use std::fs;
use std::io::Read;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug)]
pub struct ProgramError {
    pub message: String,
    pub exit_code: i32,
}

fn not_found(name: &OsStr, why: &str) -> ProgramError {
    ProgramError { message: format!("{}: {why}", name.to_string_lossy()), exit_code: 127 }
}

fn cannot_execute(path: &Path, why: &str) -> ProgramError {
    ProgramError { message: format!("{}: {why}", path.display()), exit_code: 126 }
}

/// Resolve `name` as execvp does: a name with a slash is a path, anything else is looked up
/// in PATH.
pub fn resolve(name: &OsStr) -> Result<PathBuf, ProgramError> {
    if name.is_empty() {
        return Err(not_found(name, "command not found"));
    }
    if name.as_bytes().contains(&b'/') {
        let p = PathBuf::from(name);
        return if p.exists() { Ok(p) } else { Err(not_found(name, "No such file or directory")) };
    }
    let path = std::env::var_os("PATH").unwrap_or_else(|| OsString::from("/usr/local/bin:/usr/bin:/bin"));
    std::env::split_paths(&path)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file() && is_executable(p))
        .ok_or_else(|| not_found(name, "command not found"))
}

fn is_executable(p: &Path) -> bool {
    fs::metadata(p).map(|m| m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// What kind of executable the file is.
#[derive(Debug, PartialEq, Eq)]
pub enum Kind {
    StaticElf,
    DynamicElf { interpreter: String },
}

/// Check that `path` is something linuxrun can run now.
pub fn check(path: &Path) -> Result<Kind, ProgramError> {
    let meta = fs::metadata(path).map_err(|e| cannot_execute(path, &e.to_string()))?;
    if meta.is_dir() {
        return Err(cannot_execute(path, "Is a directory"));
    }
    if meta.permissions().mode() & 0o111 == 0 {
        return Err(cannot_execute(path, "Permission denied (not executable)"));
    }
    let mut head = Vec::new();
    fs::File::open(path)
        .and_then(|f| f.take(64 * 1024).read_to_end(&mut head))
        .map_err(|e| cannot_execute(path, &e.to_string()))?;
    classify(path, &head)
}

fn classify(path: &Path, head: &[u8]) -> Result<Kind, ProgramError> {
    if head.starts_with(b"#!") {
        return Err(cannot_execute(path, "#! scripts are not yet supported (run the interpreter instead)"));
    }
    if !head.starts_with(b"\x7fELF") {
        return Err(cannot_execute(path, "not an ELF executable (linuxrun runs Linux x86_64 programs)"));
    }
    if head.len() < 20 {
        return Err(cannot_execute(path, "truncated ELF header"));
    }
    let machine = u16::from_le_bytes([head[18], head[19]]);
    if let Some(name) = foreign_machine(machine) {
        return Err(cannot_execute(path, &format!("{name} ELF: linuxrun runs x86_64 programs")));
    }
    if head[4] != 2 {
        return Err(cannot_execute(path, "32-bit ELF: linuxrun runs 64-bit x86_64 programs only"));
    }
    if head[5] != 1 {
        return Err(cannot_execute(path, "big-endian ELF: linuxrun runs x86_64 programs"));
    }
    let elf =
        goblin::elf::Elf::parse_header(head).map_err(|e| cannot_execute(path, &format!("bad ELF header: {e}")))?;
    if elf.e_type != goblin::elf::header::ET_EXEC && elf.e_type != goblin::elf::header::ET_DYN {
        return Err(cannot_execute(path, "not an executable ELF file (a relocatable object or core dump?)"));
    }
    Ok(match interpreter(head) {
        Some(interp) => Kind::DynamicElf { interpreter: interp },
        None => Kind::StaticElf,
    })
}

fn foreign_machine(machine: u16) -> Option<&'static str> {
    use goblin::elf::header::*;
    match machine {
        EM_X86_64 | EM_386 => None,
        EM_AARCH64 => Some("aarch64"),
        EM_ARM => Some("32-bit ARM"),
        EM_RISCV => Some("RISC-V"),
        EM_PPC64 => Some("PowerPC 64"),
        EM_PPC => Some("PowerPC"),
        EM_S390 => Some("s390x"),
        EM_MIPS => Some("MIPS"),
        EM_LOONGARCH => Some("LoongArch"),
        _ => Some("non-x86_64"),
    }
}

/// The PT_INTERP path, if the program headers (within `head`) name one.
fn interpreter(head: &[u8]) -> Option<String> {
    let elf = goblin::elf::Elf::parse_header(head).ok()?;
    let ctx = goblin::container::Ctx::new(goblin::container::Container::Big, goblin::container::Endian::Little);
    let phdrs = goblin::elf::ProgramHeader::parse(head, elf.e_phoff as usize, elf.e_phnum as usize, ctx).ok()?;
    let p = phdrs.iter().find(|p| p.p_type == goblin::elf::program_header::PT_INTERP)?;
    let bytes = head.get(p.p_offset as usize..(p.p_offset + p.p_filesz) as usize)?;
    Some(String::from_utf8_lossy(bytes.split(|&b| b == 0).next().unwrap_or(bytes)).into_owned())
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

    #[test]
    fn foreign_and_32_bit_elves_are_named() {
        let p = Path::new("x");
        let e = classify(p, &header(2, 183)).unwrap_err();
        assert_eq!(e.exit_code, 126);
        assert!(e.message.contains("aarch64"), "{}", e.message);
        let e = classify(p, &header(1, 3)).unwrap_err();
        assert!(e.message.contains("32-bit"), "{}", e.message);
    }

    #[test]
    fn text_is_not_an_elf() {
        let e = classify(Path::new("x"), b"hello world, this is text").unwrap_err();
        assert_eq!(e.exit_code, 126);
    }

    #[test]
    fn static_elf_is_accepted() {
        let mut h = header(2, 62);
        h[52..54].copy_from_slice(&64u16.to_le_bytes()); // e_ehsize
        assert_eq!(classify(Path::new("x"), &h).unwrap(), Kind::StaticElf);
    }

    #[test]
    fn missing_program_is_127() {
        assert_eq!(resolve(OsStr::new("definitely-not-a-command-xyz")).unwrap_err().exit_code, 127);
        assert_eq!(resolve(OsStr::new("./no/such/file")).unwrap_err().exit_code, 127);
    }
}
