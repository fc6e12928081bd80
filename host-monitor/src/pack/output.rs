//! Writing the packed executable: the runtime with the payload in a section (an ELF note
//! in its own loaded segment, by libsui), written to a temporary file beside OUTPUT and
//! renamed at the end, so that a failure never leaves a partial OUTPUT.

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

/// Write `runtime` with `payload` as OUTPUT (mode 0755), atomically.
pub fn write(output: &Path, runtime: &[u8], payload: &[u8]) -> Result<(), String> {
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
    let tmp = temp_beside(output);
    let result = write_new(&tmp, runtime, payload)
        .and_then(|()| std::fs::rename(&tmp, output).map_err(|e| format!("{}: {}", output.display(), plain(&e))));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

fn write_new(tmp: &Path, runtime: &[u8], payload: &[u8]) -> Result<(), String> {
    let what = |e: std::io::Error| format!("cannot write {}: {}", tmp.display(), plain(&e));
    let file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o755).open(tmp).map_err(what)?;
    let mut out = std::io::BufWriter::new(file);
    libsui::Elf::new(runtime).append(SECTION, payload, &mut out).map_err(|e| format!("embedding the payload: {e}"))?;
    out.flush().map_err(what)?;
    out.get_ref().sync_all().map_err(what)
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
