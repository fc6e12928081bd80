//! Build the guest kernel and hand its path to the monitor, which embeds it with
//! include_bytes!. A plain `cargo build` thus yields one self-contained `linuxrun` binary.
//! The guest kernel's architecture is the monitor's: x86_64-unknown-none for an x86_64
//! linuxrun, aarch64-unknown-none for an aarch64 one (arm64 Linux, Apple Silicon).

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The guest kernel's target for the monitor being built: its standard library (core,
/// alloc) must be installed.
fn guest_target() -> &'static str {
    match env::var("CARGO_CFG_TARGET_ARCH").as_deref() {
        Ok("aarch64") => "aarch64-unknown-none",
        _ => "x86_64-unknown-none",
    }
}

fn main() {
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let root = manifest.parent().expect("host-monitor lives in the workspace").to_path_buf();
    for dir in [
        "guest-kernel/src",
        "guest-kernel/Cargo.toml",
        "guest-kernel/build.rs",
        "abi-shared/src",
        "abi-shared/Cargo.toml",
        "linker",
    ] {
        println!("cargo:rerun-if-changed={}", root.join(dir).display());
    }
    ensure_guest_target();
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // A separate target directory: the outer cargo holds the lock on the main one.
    let target_dir = out.join("guest-target");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "-p", "guest-kernel", "--target", guest_target(), "--target-dir"])
        .arg(&target_dir);
    // The outer build's flags and wrappers (clippy, coverage, a host RUSTFLAGS) are for the
    // host crate, not for the freestanding kernel.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
    ] {
        cmd.env_remove(var);
    }
    match cmd.status() {
        Ok(status) if status.success() => {}
        Ok(_) => fail("building the guest kernel failed (its errors are above)"),
        Err(e) => fail(&format!("cannot run cargo to build the guest kernel: {e}")),
    }
    let kernel = target_dir.join(guest_target()).join("release/guest-kernel");
    println!("cargo:rustc-env=LINUXRUN_GUEST_KERNEL={}", kernel.display());
    hypervisor_stub(&manifest, &out);
}

/// A cross build for Intel macOS from another OS (scripts/build-macos) has no macOS SDK,
/// whose `Hypervisor.framework/Hypervisor.tbd` the linker would read to learn what the
/// framework exports. Write our own text stub, listing the `hv_*` functions that
/// `src/vmm/hvf_sys.rs` declares in its `#[link(name = "Hypervisor", kind = "framework")]`
/// block, and put its directory first in the framework search path. The linked program
/// then names the framework by its install name and the functions by name, exactly as a
/// build against the SDK does; dyld binds them on the Mac. On a Mac (an SDK present) the
/// SDK's stub is used as before.
fn hypervisor_stub(manifest: &Path, out: &Path) {
    let cross_to_intel_mac = env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("macos")
        && env::var("CARGO_CFG_TARGET_ARCH").as_deref() == Ok("x86_64")
        && !cfg!(target_os = "macos");
    if !cross_to_intel_mac {
        return;
    }
    let source = manifest.join("src/vmm/hvf_sys.rs");
    println!("cargo:rerun-if-changed={}", source.display());
    let text = std::fs::read_to_string(&source).unwrap_or_else(|e| fail(&format!("{}: {e}", source.display())));
    let symbols = hypervisor_functions(&text);
    if symbols.is_empty() {
        fail(&format!("{}: no Hypervisor.framework functions found for the link stub", source.display()));
    }
    let frameworks = out.join("frameworks");
    let dir = frameworks.join("Hypervisor.framework");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| fail(&format!("{}: {e}", dir.display())));
    let list: Vec<String> = symbols.iter().map(|s| format!("_{s}")).collect();
    let tbd = format!(
        "--- !tapi-tbd\n\
         tbd-version:     4\n\
         targets:         [ x86_64-macos ]\n\
         install-name:    '/System/Library/Frameworks/Hypervisor.framework/Versions/A/Hypervisor'\n\
         exports:\n\
         \x20 - targets:         [ x86_64-macos ]\n\
         \x20   symbols:         [ {} ]\n\
         ...\n",
        list.join(", ")
    );
    let path = dir.join("Hypervisor.tbd");
    std::fs::write(&path, tbd).unwrap_or_else(|e| fail(&format!("{}: {e}", path.display())));
    println!("cargo:rustc-link-search=framework={}", frameworks.display());
}

/// The `pub fn hv_*` names declared after the `#[link(name = "Hypervisor"` attribute.
fn hypervisor_functions(text: &str) -> Vec<String> {
    let Some(start) = text.find("#[link(name = \"Hypervisor\"") else { return Vec::new() };
    let block = &text[start..];
    let block = &block[..block.find("\n}").unwrap_or(block.len())];
    block
        .lines()
        .filter_map(|l| l.trim().strip_prefix("pub fn "))
        .filter_map(|l| l.split('(').next())
        .map(|name| name.trim().to_string())
        .filter(|name| name.starts_with("hv_"))
        .collect()
}

/// Makes sure the guest target's standard library is installed. rustup installs the
/// targets of rust-toolchain.toml only when it installs the toolchain itself; a machine
/// whose stable toolchain came first (a CI image, a distribution's rustup) lacks it, and
/// the guest build would fail with "can't find crate for `core`". With rustup we add it
/// here; without rustup we say what to install.
fn ensure_guest_target() {
    let target = guest_target();
    if guest_target_installed() {
        return;
    }
    let toolchain = env::var("RUSTUP_TOOLCHAIN").ok();
    let mut add = Command::new("rustup");
    add.args(["target", "add", guest_target()]);
    if let Some(t) = &toolchain {
        add.args(["--toolchain", t]);
    }
    println!("cargo:warning=installing the guest kernel's target: rustup target add {target}");
    match add.status() {
        Ok(s) if s.success() && guest_target_installed() => {}
        Ok(_) => fail(&format!(
            "`rustup target add {target}` failed; run it by hand (the guest kernel is built for that target)"
        )),
        Err(_) => fail(&format!(
            "the guest kernel is built for {target}, whose standard library is not installed, \
             and there is no rustup to add it: install Rust with rustup, or your distribution's \
             rust-std package for {target}"
        )),
    }
}

/// Whether the toolchain building us has `core` for the guest target.
fn guest_target_installed() -> bool {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).args(["--print", "target-libdir", "--target", guest_target()]).output() else {
        return false;
    };
    let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    out.status.success() && has_libcore(&dir)
}

fn has_libcore(dir: &Path) -> bool {
    std::fs::read_dir(dir)
        .is_ok_and(|entries| entries.flatten().any(|e| e.file_name().to_string_lossy().starts_with("libcore-")))
}

/// A build script's error without a panic's backtrace: the message, then exit 1.
fn fail(message: &str) -> ! {
    eprintln!("error: {message}");
    std::process::exit(1);
}
