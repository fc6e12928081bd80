//! What packing needs to know about an ELF file: that it is a 64-bit x86_64 object, its
//! `PT_INTERP`, its `DT_NEEDED` names, search paths and soname, and what it imports.

use goblin::elf::header::EM_X86_64;
use goblin::elf::Elf;

/// The dynamic-linking facts of one x86_64 ELF object.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ElfInfo {
    pub interp: Option<String>,
    pub needed: Vec<String>,
    /// DT_RPATH directories (ignored by the loader when DT_RUNPATH is present).
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
    pub soname: Option<String>,
    /// Undefined dynamic symbols: what the object takes from its libraries.
    pub imports: Vec<String>,
}

/// Why a file cannot be packed as (or loaded into) an x86_64 Linux program.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotLoadable {
    NotElf,
    /// A 32-bit ELF, or one for another machine: the text says which.
    Foreign(String),
    Malformed(String),
}

impl std::fmt::Display for NotLoadable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NotLoadable::NotElf => write!(f, "not an ELF file"),
            NotLoadable::Foreign(what) => write!(f, "{what}, not an x86_64 (64-bit) ELF"),
            NotLoadable::Malformed(why) => write!(f, "malformed ELF: {why}"),
        }
    }
}

/// True when `bytes` start like an ELF file.
pub fn is_elf(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\x7fELF")
}

/// Check the identification before parsing: the loader skips 32-bit and foreign objects.
pub fn check_x86_64(bytes: &[u8]) -> Result<(), NotLoadable> {
    if !is_elf(bytes) {
        return Err(NotLoadable::NotElf);
    }
    if bytes.len() < 20 {
        return Err(NotLoadable::Malformed("truncated header".into()));
    }
    if bytes[4] != 2 {
        return Err(NotLoadable::Foreign("a 32-bit ELF".into()));
    }
    let machine = u16::from_le_bytes([bytes[18], bytes[19]]);
    if bytes[5] != 1 || machine != EM_X86_64 {
        return Err(NotLoadable::Foreign(format!("an ELF for another architecture (e_machine {machine})")));
    }
    Ok(())
}

/// Parse an x86_64 ELF object's dynamic-linking facts.
pub fn inspect(bytes: &[u8]) -> Result<ElfInfo, NotLoadable> {
    check_x86_64(bytes)?;
    let elf = Elf::parse(bytes).map_err(|e| NotLoadable::Malformed(e.to_string()))?;
    let split = |list: &[&str]| -> Vec<String> {
        list.iter().flat_map(|s| s.split(':')).filter(|d| !d.is_empty()).map(String::from).collect()
    };
    let imports = elf
        .dynsyms
        .iter()
        .filter(|s| s.is_import())
        .filter_map(|s| elf.dynstrtab.get_at(s.st_name).map(String::from))
        .collect();
    Ok(ElfInfo {
        interp: elf.interpreter.map(String::from),
        needed: elf.libraries.iter().map(|s| s.to_string()).collect(),
        rpath: split(&elf.rpaths),
        runpath: split(&elf.runpaths),
        soname: elf.soname.map(String::from),
        imports,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identification_is_checked_before_parsing() {
        assert_eq!(check_x86_64(b"#!/bin/sh\n"), Err(NotLoadable::NotElf));
        let mut h = [0u8; 64];
        h[..4].copy_from_slice(b"\x7fELF");
        h[4] = 1;
        assert!(matches!(check_x86_64(&h), Err(NotLoadable::Foreign(w)) if w.contains("32-bit")));
        h[4] = 2;
        h[5] = 1;
        h[18] = 183; // aarch64
        assert!(matches!(check_x86_64(&h), Err(NotLoadable::Foreign(w)) if w.contains("183")));
        h[18] = 62;
        assert_eq!(check_x86_64(&h), Ok(()));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_running_test_binary_is_inspected() {
        let bytes = std::fs::read("/proc/self/exe").unwrap();
        let info = inspect(&bytes).unwrap();
        if info.interp.is_some() {
            assert!(info.needed.iter().any(|n| n.starts_with("libc.so")), "{info:?}");
        }
    }
}
