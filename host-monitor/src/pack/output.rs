//! Writing the packed executable: the runtime with the payload in a section (an ELF note
//! in its own loaded segment, by libsui; for macOS see [`super::macho`]), written to a
//! temporary file beside OUTPUT and renamed at the end, so that a failure never leaves a
//! partial OUTPUT.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::elf;
use super::payload::SECTION;
use super::source::plain;

/// The largest payload: an ELF note's length is 32 bits. See docs/pack.md.
pub const MAX_PAYLOAD: u64 = u32::MAX as u64 - 4096;

/// The runtime's bytes, checked: a static x86_64 ELF without a payload of its own.
pub fn runtime(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("--runtime {}: {}", path.display(), plain(&e)))?;
    if super::macho::is_macho(&bytes) {
        return Err(format!(
            "--runtime {}: is a Mach-O (a linuxrun for macOS): pack for macOS with --target x86_64-apple-darwin",
            path.display()
        ));
    }
    elf::check_x86_64(&bytes).map_err(|e| format!("--runtime {}: {e}", path.display()))?;
    let parsed = goblin::elf::Elf::parse(&bytes).map_err(|e| format!("--runtime {}: {e}", path.display()))?;
    if parsed.interpreter.is_some() || !parsed.libraries.is_empty() {
        return Err(format!(
            "the runtime {} is dynamically linked, so the packed program would need this host's libraries; \
             build the static runtime with scripts/build-static and pass --runtime \
             target/x86_64-unknown-linux-gnu/release/linuxrun",
            path.display()
        ));
    }
    let has_payload = parsed.iter_note_headers(&bytes).into_iter().flatten().any(|n| n.is_ok_and(|n| n.name == "SUI"));
    if has_payload {
        return Err(format!("--runtime {}: already a packed program; give a plain linuxrun", path.display()));
    }
    Ok(bytes)
}

/// Refuse a payload over [`MAX_PAYLOAD`] and an OUTPUT that is a directory, before any
/// work on the output.
pub fn check(output: &Path, payload: &[u8]) -> Result<(), String> {
    if payload.len() as u64 > MAX_PAYLOAD {
        return Err(format!(
            "the compressed payload is {} MiB, more than the limit of {} MiB",
            payload.len() >> 20,
            MAX_PAYLOAD >> 20
        ));
    }
    if output.is_dir() {
        return Err(format!("{}: OUTPUT is a directory", output.display()));
    }
    Ok(())
}

/// Write `runtime` (a Linux ELF) with `payload` as OUTPUT (mode 0755), atomically.
pub fn write(output: &Path, runtime: &[u8], payload: &[u8]) -> Result<(), String> {
    check(output, payload)?;
    write_atomically(output, |out| {
        libsui::Elf::new(runtime).append(SECTION, payload, out).map_err(|e| format!("embedding the payload: {e}"))
    })
}

/// Write OUTPUT (mode 0755) with what `fill` writes, through a temporary file beside it.
pub fn write_atomically(
    output: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), String>,
) -> Result<(), String> {
    let tmp = temp_beside(output);
    let result = write_new(&tmp, fill)
        .and_then(|()| std::fs::rename(&tmp, output).map_err(|e| format!("{}: {}", output.display(), plain(&e))));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_new(
    tmp: &Path,
    fill: impl FnOnce(&mut std::io::BufWriter<std::fs::File>) -> Result<(), String>,
) -> Result<(), String> {
    let what = |e: std::io::Error| format!("cannot write {}: {}", tmp.display(), plain(&e));
    let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o755).open(tmp).map_err(what)?;
    let mut out = std::io::BufWriter::new(file);
    fill(&mut out)?;
    out.flush().map_err(what)?;
    out.get_ref().sync_all().map_err(what)
}

/// The payload embedded in a packed file (a Linux ELF or an Intel Mach-O), read from the
/// file's bytes: what `linuxrun pack --info` lists.
pub fn embedded_payload(bytes: &[u8]) -> Option<&[u8]> {
    if super::macho::is_macho(bytes) {
        return super::macho::payload_in(bytes);
    }
    let parsed = goblin::elf::Elf::parse(bytes).ok()?;
    let notes = parsed.iter_note_headers(bytes)?;
    notes.flatten().filter(|n| n.name == "SUI").find_map(|n| {
        // libsui's note: a little-endian u16 name length, the name, then the data.
        let len = u16::from_le_bytes(n.desc.get(..2)?.try_into().ok()?) as usize;
        (n.desc.get(2..2 + len)? == SECTION.as_bytes()).then(|| &n.desc[2 + len..])
    })
}

/// `.NAME.tmp-PID` in OUTPUT's directory (a rename there is atomic).
fn temp_beside(output: &Path) -> PathBuf {
    let name = output.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    output.with_file_name(format!(".{name}.tmp-{}", std::process::id()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unwritable_output_leaves_nothing() {
        let e = write(Path::new("/nonexistent-dir/out"), b"\x7fELF", b"x").unwrap_err();
        assert!(e.contains("cannot write") && e.contains("No such file"), "{e}");
    }

    #[test]
    fn a_directory_is_no_output() {
        let e = write(&std::env::temp_dir(), b"\x7fELF", b"x").unwrap_err();
        assert!(e.contains("is a directory"), "{e}");
    }

    #[test]
    fn a_script_is_no_runtime() {
        let e = runtime(Path::new("/nonexistent/linuxrun")).unwrap_err();
        assert!(e.contains("No such file"), "{e}");
    }
}
