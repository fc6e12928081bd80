//! Debugging a program under linuxrun: Debian's gdb, in batch mode, attached to
//! `linuxrun --gdb 0` (a free port, which linuxrun prints). These run the real binary in a
//! VM, so they need /dev/kvm and gdb; without them a test checks nothing and says so (see
//! support::skip); under CI a missing prerequisite fails the test.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};

mod support;
use support::{kvm_available, linuxrun, skip, text};

fn gdb_available() -> bool {
    match Command::new("gdb").arg("--version").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            skip("gdb is not installed");
            false
        }
    }
}

/// A C program built with debugging information (-g -O0) in a temp dir.
fn build_debug(name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("linuxrun-gdb-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    let exe = dir.join(name);
    std::fs::write(&src, source).unwrap();
    let status = Command::new("gcc").args(["-g", "-O0"]).args(flags).arg("-o").arg(&exe).arg(&src).status().unwrap();
    assert!(status.success(), "gcc failed for {name}");
    exe
}

/// Whether one line of `out` holds every part (gdb prints source files with their
/// directory).
fn has_line(out: &str, parts: &[&str]) -> bool {
    out.lines().any(|l| parts.iter().all(|p| l.contains(p)))
}

struct Session {
    /// What gdb printed (stdout and stderr).
    gdb: String,
    /// linuxrun's exit status, stdout and stderr.
    status: ExitStatus,
    stdout: String,
    stderr: String,
}

/// Start `linuxrun --gdb 0 PROGRAM`, read the port it listens on, run gdb in batch mode
/// with `commands` against it, and wait for both.
fn debug(program: &Path, commands: &[&str]) -> Session {
    let mut child = Command::new(linuxrun())
        .args(["--gdb", "0"])
        .arg(program)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("linuxrun starts");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let port = first
        .split("127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or_else(|| panic!("linuxrun did not say where it waits for gdb: {first:?}"));
    let mut gdb = Command::new("gdb");
    // A slow machine must not turn into a lost packet (gdb's default is 2 s).
    gdb.args(["-nx", "-batch", "-ex", "set remotetimeout 60", "-ex"]).arg(format!("target remote 127.0.0.1:{port}"));
    for c in commands {
        gdb.args(["-ex", c]);
    }
    let out = gdb.arg(program).stdin(Stdio::null()).output().expect("gdb runs");
    let status = child.wait().unwrap();
    let mut stdout = String::new();
    child.stdout.take().unwrap().read_to_string(&mut stdout).unwrap();
    let mut rest = String::new();
    stderr.read_to_string(&mut rest).unwrap();
    Session { gdb: text(&out.stdout) + &text(&out.stderr), status, stdout, stderr: first + &rest }
}

const PROGRAM: &str = r#"#include <stdio.h>
int some_global = 42;
static int square(int x) { return x * x; }
int main(void) {
    int v = square(some_global);
    printf("value %d\n", v);
    some_global = v;
    return 3;
}
"#;

fn break_at_main(flavour: &str, flags: &[&str]) {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug(&format!("gdb_main_{flavour}"), PROGRAM, flags);
    let s = debug(
        &exe,
        &["break main", "continue", "bt", "info registers rip", "p some_global", "next", "next", "p v", "continue"],
    );
    let ctx = format!("{flavour}: gdb said:\n{}\nlinuxrun said:\n{}", s.gdb, s.stderr);
    let name = exe.file_name().unwrap().to_str().unwrap().to_owned();
    assert!(has_line(&s.gdb, &["Breakpoint 1, main () at ", &format!("/{name}.c:5")]), "{ctx}");
    assert!(has_line(&s.gdb, &["#0  main () at ", &format!("/{name}.c:5")]), "{ctx}");
    assert!(s.gdb.contains("rip            0x") && s.gdb.contains("<main+"), "{ctx}");
    assert!(s.gdb.contains("$1 = 42"), "{ctx}");
    assert!(s.gdb.contains("7\t    some_global = v;"), "two `next`s reach line 7: {ctx}");
    assert!(s.gdb.contains("$2 = 1764"), "{ctx}");
    assert!(s.gdb.contains("exited with code 03"), "{ctx}");
    assert_eq!(s.stdout, "value 1764\n", "{ctx}");
    assert_eq!(s.status.code(), Some(3), "{ctx}");
}

/// The program stops before its first instruction; gdb sets a breakpoint at main, stops
/// there, shows the backtrace, a register and a variable, steps over a call, and sees
/// the program's exit status, which is also linuxrun's.
#[test]
fn gdb_breaks_at_main_of_a_static_program() {
    break_at_main("static", &["-static"]);
}

/// The same for a dynamic program: the first stop is in ld.so, and gdb finds main and
/// the libraries through the auxiliary vector and ld.so's debugger interface.
#[test]
fn gdb_breaks_at_main_of_a_dynamic_program() {
    break_at_main("dynamic", &[]);
}

const CRASH: &str = r#"#include <stdio.h>
int *volatile target = 0;
void crash_here(int n) {
    *target = n;
}
int main(void) {
    puts("about to crash");
    fflush(stdout);
    crash_here(7);
    return 0;
}
"#;

/// A SIGSEGV stops the program for gdb at the faulting instruction, in the right
/// function; `continue` delivers it, and the program dies of it (so does linuxrun).
#[test]
fn gdb_sees_a_segfault_where_it_happens() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("gdb_crash", CRASH, &[]);
    let s = debug(&exe, &["continue", "bt", "continue"]);
    let ctx = format!("gdb said:\n{}\nlinuxrun said:\n{}", s.gdb, s.stderr);
    assert!(s.gdb.contains("Program received signal SIGSEGV, Segmentation fault."), "{ctx}");
    assert!(has_line(&s.gdb, &["#0  0x", " in crash_here (n=7) at ", "/gdb_crash.c:4"]), "{ctx}");
    assert!(has_line(&s.gdb, &["#1  0x", " in main () at ", "/gdb_crash.c:9"]), "{ctx}");
    assert!(s.gdb.contains("Program terminated with signal SIGSEGV"), "{ctx}");
    assert_eq!(s.stdout, "about to crash\n", "{ctx}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(s.status.signal(), Some(libc::SIGSEGV), "{ctx}");
}

const STEPS: &str = r#"#include <unistd.h>
int counter;
int main(void) {
    for (int i = 0; i < 3; i++) {
        counter += 10;
        getppid();
    }
    return counter;
}
"#;

/// Single steps (stepi over a syscall included), a register write and a memory write
/// change what the program does.
#[test]
fn gdb_steps_and_writes_registers_and_memory() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("gdb_steps", STEPS, &["-static"]);
    let s = debug(
        &exe,
        &[
            "break getppid",
            "continue",
            "delete",
            "stepi",
            "p/x $rax",
            "stepi",
            "p $rax == getppid()",
            "stepi",
            "bt 1",
            "p counter",
            "set var counter = 100",
            "p $rsp = $rsp",
            "continue",
        ],
    );
    let ctx = format!("gdb said:\n{}\nlinuxrun said:\n{}", s.gdb, s.stderr);
    assert!(s.gdb.contains("Breakpoint 1, "), "{ctx}");
    // mov $0x6e, %eax; syscall (stepped over: the step ends after it, with its result);
    // ret, back in main.
    assert!(s.gdb.contains("$1 = 0x6e"), "{ctx}");
    assert!(s.gdb.contains("$2 = 1"), "{ctx}");
    assert!(has_line(&s.gdb, &["#0  ", "main () at ", "/gdb_steps.c:"]), "{ctx}");
    assert!(s.gdb.contains("$3 = 10"), "{ctx}");
    // 100 + 10 + 10 from the two rounds left.
    assert!(s.gdb.contains("exited with code 0170"), "{ctx}");
    assert_eq!(s.status.code(), Some(120), "{ctx}");
}
