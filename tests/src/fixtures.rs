//! Files the cases run against: a fixed directory tree for the busybox cases and
//! malformed or foreign executables for the bad-input cases. Everything here is
//! deterministic, so the native and linuxrun work dirs start out identical.

use std::fs;
use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::Path;
use std::process::Command;

/// The fixed mtime of every fixture entry, so `ls -l` output is comparable.
pub const FIXED_MTIME: &str = "2021-03-04 05:06:07";

/// Deterministic pseudo-random bytes (64-bit LCG), for binary fixture content.
pub fn pseudo_random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 33) as u8
        })
        .collect()
}

fn write(dir: &Path, rel: &str, content: &[u8], mode: u32) -> Result<(), String> {
    let p = dir.join(rel);
    fs::write(&p, content).map_err(|e| format!("write {}: {e}", p.display()))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map_err(|e| format!("chmod {}: {e}", p.display()))
}

fn mkdir(dir: &Path, rel: &str, mode: u32) -> Result<(), String> {
    let p = dir.join(rel);
    fs::create_dir(&p).map_err(|e| format!("mkdir {}: {e}", p.display()))?;
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).map_err(|e| format!("chmod {}: {e}", p.display()))
}

/// Creates the busybox fixture in the (empty) directory `dir`:
///
/// ```text
/// a.txt b.txt words.txt nums.txt big.bin
/// tree/{f1, f2, exe, link -> f1, sub/f3}
/// empty/
/// ```
pub fn busybox_tree(dir: &Path) -> Result<(), String> {
    write(dir, "a.txt", b"alpha\nbeta\ngamma\n", 0o644)?;
    write(dir, "b.txt", b"one two three\nfour five\n\nsix\n", 0o644)?;
    const WORDS: &[&str] =
        &["pear", "apple", "fig", "banana", "kiwi", "Cherry", "date", "apple", "lime", "Zucchini", "fig", "melon"];
    let words: String = (0..200).map(|i| format!("{}\n", WORDS[(i * 7 + i / 5) % WORDS.len()])).collect();
    write(dir, "words.txt", words.as_bytes(), 0o644)?;
    let nums: String = (0..100).map(|i| format!("{}\n", (i * 37) % 101 * if i % 3 == 0 { 100 } else { 1 })).collect();
    write(dir, "nums.txt", nums.as_bytes(), 0o644)?;
    write(dir, "big.bin", &pseudo_random_bytes(1 << 20, 7), 0o644)?;
    mkdir(dir, "tree", 0o755)?;
    write(dir, "tree/f1", b"file one\n", 0o644)?;
    write(dir, "tree/f2", &[b'x'; 1000], 0o640)?;
    write(dir, "tree/exe", b"#!/bin/sh\necho hi\n", 0o755)?;
    symlink("f1", dir.join("tree/link")).map_err(|e| format!("symlink: {e}"))?;
    mkdir(dir, "tree/sub", 0o750)?;
    write(dir, "tree/sub/f3", b"three\n", 0o600)?;
    mkdir(dir, "empty", 0o755)?;
    set_fixed_mtimes(dir)
}

/// The busybox tree plus what the Debian-tool cases unpack and run: an uncompressed tar
/// of `tree/`, gzip and xz copies of two files (all made by the native tools, with fixed
/// metadata, so both sides start from the same bytes) and a python script.
pub fn tool_tree(dir: &Path) -> Result<(), String> {
    busybox_tree(dir)?;
    native(dir, "tar", &["cf", "tree.tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "tree"])?;
    native(dir, "gzip", &["-9kn", "a.txt"])?;
    native(dir, "xz", &["-k", "big.bin"])?;
    write(dir, "walk.py", PYTHON_SCRIPT.as_bytes(), 0o644)?;
    write(dir, "hello.c", b"#include <stdio.h>\nint main(void) { puts(\"hello from gcc\"); return 0; }\n", 0o644)?;
    set_fixed_mtimes(dir)
}

/// Exercises json, hashlib, sqlite3, zlib, re, os.walk, tempfile and shutil on the tree;
/// prints only what is the same wherever the tree is.
const PYTHON_SCRIPT: &str = r#"import hashlib, json, os, re, shutil, sqlite3, tempfile, zlib
walk = []
for d, dirs, files in os.walk("tree"):
    dirs.sort()
    for f in sorted(files):
        p = os.path.join(d, f)
        with open(p, "rb") as fh:
            data = fh.read()
        walk.append([p, len(data), hashlib.sha256(data).hexdigest()[:16], os.path.islink(p)])
print(json.dumps(walk, indent=1))
with tempfile.TemporaryDirectory() as t:
    copy = os.path.join(t, "copy")
    shutil.copytree("tree", copy, symlinks=True)
    same = all(open(os.path.join(copy, os.path.relpath(p, "tree")), "rb").read() == open(p, "rb").read() for p, *_ in walk)
    print("copytree identical:", same, sorted(os.listdir(copy)))
    db = sqlite3.connect(os.path.join(t, "words.db"))
    db.execute("create table w(word text)")
    db.executemany("insert into w values (?)", [(w,) for w in open("words.txt").read().split()])
    db.commit()
    print(db.execute("select word, count(*) from w group by word order by 2 desc, 1 limit 5").fetchall())
    db.close()
    shutil.rmtree(copy)
    print("after rmtree:", sorted(os.listdir(t)))
big = open("big.bin", "rb").read()
print(len(zlib.compress(big)), zlib.crc32(big), zlib.decompress(zlib.compress(b"x" * 999)) == b"x" * 999)
print(re.findall(r"[a-z]{4}", open("b.txt").read()), re.sub(r"(\w+)", r"<>", "a bc"))
print(sorted(os.listdir(".")))
"#;

fn native(dir: &Path, tool: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(tool).args(args).current_dir(dir).output().map_err(|e| format!("{tool}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{tool}: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

/// Sets FIXED_MTIME on every entry below `dir` (not following symlinks) with the
/// native `touch`, in UTC so the result does not depend on the machine's zone.
fn set_fixed_mtimes(dir: &Path) -> Result<(), String> {
    let mut paths = Vec::new();
    collect_paths(dir, &mut paths);
    let out = Command::new("touch")
        .env("TZ", "UTC")
        .args(["-h", "-d", FIXED_MTIME])
        .args(&paths)
        .output()
        .map_err(|e| format!("touch: {e}"))?;
    if !out.status.success() {
        return Err(format!("touch: {}", String::from_utf8_lossy(&out.stderr)));
    }
    Ok(())
}

fn collect_paths(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        if e.file_type().is_ok_and(|t| t.is_dir()) {
            collect_paths(&p, out);
        }
        out.push(p);
    }
}

/// A minimal ELF64 header (no program headers) for `e_machine`; enough for any
/// loader to read the class and machine and refuse the file.
pub fn elf64_header(e_machine: u16) -> Vec<u8> {
    let mut h = vec![0x7f, b'E', b'L', b'F', 2 /* ELFCLASS64 */, 1 /* LSB */, 1 /* EV_CURRENT */];
    h.resize(16, 0);
    h.extend_from_slice(&2u16.to_le_bytes()); // e_type = ET_EXEC
    h.extend_from_slice(&e_machine.to_le_bytes());
    h.extend_from_slice(&1u32.to_le_bytes()); // e_version
    h.extend_from_slice(&0x40_0000u64.to_le_bytes()); // e_entry
    h.extend_from_slice(&0u64.to_le_bytes()); // e_phoff
    h.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    h.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for v in [64u16, 56, 0, 64, 0, 0] {
        // e_ehsize, e_phentsize, e_phnum, e_shentsize, e_shnum, e_shstrndx
        h.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(h.len(), 64);
    h
}

/// A minimal ELF32 header: ELFCLASS32, e_machine 3 (i386).
pub fn elf32_header() -> Vec<u8> {
    let mut h = vec![0x7f, b'E', b'L', b'F', 1 /* ELFCLASS32 */, 1, 1];
    h.resize(16, 0);
    h.extend_from_slice(&2u16.to_le_bytes()); // e_type
    h.extend_from_slice(&3u16.to_le_bytes()); // e_machine = EM_386
    h.extend_from_slice(&1u32.to_le_bytes()); // e_version
    h.extend_from_slice(&0x0804_8000u32.to_le_bytes()); // e_entry
    h.extend_from_slice(&0u32.to_le_bytes()); // e_phoff
    h.extend_from_slice(&0u32.to_le_bytes()); // e_shoff
    h.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for v in [52u16, 32, 0, 40, 0, 0] {
        h.extend_from_slice(&v.to_le_bytes());
    }
    assert_eq!(h.len(), 52);
    h
}

/// Writes `content` to `dir/name` with `mode`.
pub fn file(dir: &Path, name: &str, content: &[u8], mode: u32) -> Result<(), String> {
    write(dir, name, content, mode)
}

/// /bin/true with its PT_INTERP path changed to one that does not exist (same length).
pub fn with_missing_interpreter() -> Vec<u8> {
    let mut elf = std::fs::read("/bin/true").unwrap_or_default();
    let (from, to): (&[u8], &[u8]) = (b"/lib64/ld-linux-x86-64.so.2", b"/lib64/ld-linux-x86-64.so.9");
    if let Some(at) = elf.windows(from.len()).position(|w| w == from) {
        elf[at..at + to.len()].copy_from_slice(to);
    }
    elf
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elf_headers_have_the_right_shape() {
        let h = elf64_header(183);
        assert_eq!(&h[..4], b"\x7fELF");
        assert_eq!(h[4], 2);
        assert_eq!(u16::from_le_bytes([h[18], h[19]]), 183);
        let h = elf32_header();
        assert_eq!(h[4], 1);
        assert_eq!(u16::from_le_bytes([h[18], h[19]]), 3);
    }

    #[test]
    fn pseudo_random_is_deterministic() {
        assert_eq!(pseudo_random_bytes(16, 1), pseudo_random_bytes(16, 1));
        assert_ne!(pseudo_random_bytes(16, 1), pseudo_random_bytes(16, 2));
    }
}
