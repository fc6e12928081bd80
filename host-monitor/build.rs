//! Build the guest kernel for x86_64-unknown-none and hand its path to the monitor, which
//! embeds it with include_bytes!. A plain `cargo build` thus yields one self-contained
//! `linuxrun` binary.

use std::env;
use std::path::PathBuf;
use std::process::Command;

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
    let out = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // A separate target directory: the outer cargo holds the lock on the main one.
    let target_dir = out.join("guest-target");
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(&root)
        .args(["build", "--release", "-p", "guest-kernel", "--target", "x86_64-unknown-none", "--target-dir"])
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
    let status = cmd.status().expect("running cargo to build the guest kernel");
    if !status.success() {
        panic!("building the guest kernel failed (is the x86_64-unknown-none target installed? rust-toolchain.toml lists it)");
    }
    let kernel = target_dir.join("x86_64-unknown-none/release/guest-kernel");
    println!("cargo:rustc-env=LINUXRUN_GUEST_KERNEL={}", kernel.display());
}
