//! What the command-line test files share: the binary under test, the KVM check and the
//! counted skips, building C test programs.
// Each test file uses its own subset.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

pub fn linuxrun() -> &'static str {
    env!("CARGO_BIN_EXE_linuxrun")
}

/// False (after saying why) when this machine cannot run VMs; CI must be able to.
pub fn kvm_available() -> bool {
    match std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm") {
        Ok(_) => true,
        Err(e) => {
            skip(&format!("no usable /dev/kvm ({e})"));
            false
        }
    }
}

/// How many tests of this run skipped their checks.
static SKIPPED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

/// A test that cannot check anything here says so where it is seen: the test harness
/// hides a passing test's eprintln!, so this writes to stderr itself, and counts. Under
/// CI a missing prerequisite is an error instead.
pub fn skip(why: &str) {
    assert!(std::env::var_os("CI").is_none(), "CI must be able to run this test: {why}");
    let n = SKIPPED.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let test = std::thread::current().name().unwrap_or("a test").to_owned();
    use std::io::Write;
    let _ = writeln!(
        std::io::stderr(),
        "!!! SKIP {test}: {why}; it checked nothing ({n} skipped so far in {})",
        env!("CARGO_CRATE_NAME")
    );
}

/// A static test program built from C source in a temp dir.
pub fn build(name: &str, source: &str) -> PathBuf {
    build_with(name, source, &["-static"])
}

/// A test program built from C source in a temp dir with these link flags.
pub fn build_with(name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("linuxrun-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    let exe = dir.join(name);
    std::fs::write(&src, source).unwrap();
    let status = Command::new("gcc").args(flags).args(["-O2", "-o"]).arg(&exe).arg(&src).status().expect("gcc runs");
    assert!(status.success(), "gcc failed for {name}");
    exe
}

pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}
