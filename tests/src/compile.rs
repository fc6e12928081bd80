//! Building the C test programs with the host gcc, once per link flavour.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

/// How a C program is linked. Each flavour is a separate set of cases, because the
/// loader paths differ (fixed-address ELF vs. self-relocating static-PIE vs. ld.so).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavour {
    Static,
    StaticPie,
    Dynamic,
    /// Dynamically linked against musl: its own ld.so (/lib/ld-musl-x86_64.so.1).
    Musl,
    /// A Go program (tests/go), built by Debian's Go toolchain: static, its own runtime.
    Go,
}

impl Flavour {
    pub fn name(self) -> &'static str {
        match self {
            Flavour::Static => "static",
            Flavour::StaticPie => "static-pie",
            Flavour::Dynamic => "dynamic",
            Flavour::Musl => "musl",
            Flavour::Go => "go",
        }
    }

    fn gcc_flags(self) -> &'static [&'static str] {
        match self {
            Flavour::Static => &["-static", "-fno-pie", "-no-pie"],
            Flavour::StaticPie => &["-static-pie", "-fPIE"],
            Flavour::Dynamic | Flavour::Musl => &["-fPIE", "-pie"],
            Flavour::Go => &[],
        }
    }

    /// musl-gcc is gcc with musl's headers, startup files and loader.
    fn compiler(self) -> &'static str {
        match self {
            Flavour::Musl => "musl-gcc",
            _ => "gcc",
        }
    }
}

/// Compiles `src` into `out_dir/<flavour>/<stem>` unless the binary is newer than
/// both the source and every header in `include_dir`. Returns the binary path or
/// gcc's error output.
pub fn compile(src: &Path, include_dir: &Path, out_dir: &Path, flavour: Flavour) -> Result<PathBuf, String> {
    let stem = src.file_stem().unwrap().to_string_lossy().into_owned();
    let dir = out_dir.join(flavour.name());
    let out = dir.join(&stem);
    if is_fresh(&out, src, include_dir) {
        return Ok(out);
    }
    if flavour == Flavour::Go {
        return compile_go(src, &dir, &out);
    }
    std::fs::create_dir_all(&dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    // Link to a temporary name and rename: an interrupted build must not leave a
    // truncated binary that looks up to date.
    let tmp = dir.join(format!(".{stem}.tmp"));
    let result = Command::new(flavour.compiler())
        .args(flavour.gcc_flags())
        .args(["-O2", "-g0", "-Wall", "-o"])
        .arg(&tmp)
        .arg("-I")
        .arg(include_dir)
        .arg(src)
        .output()
        .map_err(|e| format!("cannot run {} ({e}); install gcc, libc6-dev and musl-tools", flavour.compiler()))?;
    if !result.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(String::from_utf8_lossy(&result.stderr).into_owned());
    }
    std::fs::rename(&tmp, &out).map_err(|e| format!("rename {}: {e}", out.display()))?;
    Ok(out)
}

/// `go build` of one file, without cgo (a static binary, as Go programs usually ship),
/// with its build cache under `dir` (the user's home may not be writable).
fn compile_go(src: &Path, dir: &Path, out: &Path) -> Result<PathBuf, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("mkdir {}: {e}", dir.display()))?;
    let tmp = out.with_extension("tmp");
    let result = Command::new("go")
        .args(["build", "-o"])
        .arg(&tmp)
        .arg(src)
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", dir.join(".cache"))
        .env("GOPATH", dir.join(".gopath"))
        .env("GO111MODULE", "off")
        .output()
        .map_err(|e| format!("cannot run go ({e}); install golang-go"))?;
    if !result.status.success() {
        let _ = std::fs::remove_file(&tmp);
        return Err(String::from_utf8_lossy(&result.stderr).into_owned());
    }
    std::fs::rename(&tmp, out).map_err(|e| format!("rename {}: {e}", out.display()))?;
    Ok(out.to_path_buf())
}

fn mtime(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn is_fresh(out: &Path, src: &Path, include_dir: &Path) -> bool {
    let Some(built) = mtime(out) else {
        return false;
    };
    let headers = std::fs::read_dir(include_dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "h"));
    std::iter::once(src.to_path_buf()).chain(headers).all(|p| mtime(&p).is_some_and(|t| t <= built))
}

/// All `*.c` files in `dir`, sorted by name.
pub fn sources(dir: &Path) -> Vec<PathBuf> {
    sources_with(dir, "c")
}

/// All files in `dir` whose extension is `ext`, sorted by name.
pub fn sources_with(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    v.sort();
    v
}
