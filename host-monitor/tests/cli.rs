//! The command line as a user meets it: --stats-json, --strace, --hypercalls, exit codes.
//! These run the real binary in a VM, so they need /dev/kvm (skipped loudly without it,
//! failed when CI is set).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn linuxrun() -> &'static str {
    env!("CARGO_BIN_EXE_linuxrun")
}

/// False (after saying why) when this machine cannot run VMs; CI must be able to.
fn kvm_available() -> bool {
    let ok = std::fs::OpenOptions::new().read(true).write(true).open("/dev/kvm").is_ok();
    if !ok {
        assert!(std::env::var_os("CI").is_none(), "CI has no usable /dev/kvm");
        eprintln!("SKIPPED: no usable /dev/kvm");
    }
    ok
}

/// A static test program built from C source in a temp dir.
fn build(name: &str, source: &str) -> PathBuf {
    build_with(name, source, &["-static"])
}

/// A test program built from C source in a temp dir with these link flags.
fn build_with(name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("linuxrun-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    let exe = dir.join(name);
    std::fs::write(&src, source).unwrap();
    let status = Command::new("gcc").args(flags).args(["-O2", "-o"]).arg(&exe).arg(&src).status().expect("gcc runs");
    assert!(status.success(), "gcc failed for {name}");
    exe
}

fn run(args: &[&str], program: &Path) -> Output {
    Command::new(linuxrun()).args(args).arg(program).output().expect("linuxrun runs")
}

const HELLO: &str = r#"
#include <stdio.h>
#include <unistd.h>
int main(void) { getpid(); getpid(); printf("hi\n"); return 7; }
"#;

#[test]
fn stats_json_has_the_documented_shape() {
    if !kvm_available() {
        return;
    }
    let exe = build("hello_stats", HELLO);
    let json_path = exe.with_extension("json");
    let out = run(&["--stats-json", json_path.to_str().unwrap()], &exe);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stdout, b"hi\n");
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let obj = v.as_object().unwrap();
    let keys: Vec<&str> = obj.keys().map(String::as_str).collect();
    assert_eq!(keys, ["hypercalls", "syscalls", "vm_exits"]);
    let getpid = obj["syscalls"].as_array().unwrap().iter().find(|s| s["name"] == "getpid").expect("getpid counted");
    assert_eq!(getpid["nr"], 39);
    assert_eq!(getpid["in_guest"], 2);
    assert_eq!(getpid["hypercall"], 0);
    let write = obj["syscalls"].as_array().unwrap().iter().find(|s| s["name"] == "write").expect("write counted");
    assert_eq!(write["in_guest"], 0);
    assert_eq!(write["hypercall"], 1);
    assert!(obj["hypercalls"].as_u64().unwrap() >= 3, "hello, startup, write and exit are hypercalls");
    assert!(obj["vm_exits"].as_object().unwrap().values().all(|n| n.is_u64()));
}

const CLOCK_LOOP: &str = r#"
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
int main(void) {
    struct timespec ts;
    struct timeval tv;
    long sum = 0;
    for (int i = 0; i < 1000; i++) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        clock_gettime(CLOCK_REALTIME, &ts);
        gettimeofday(&tv, NULL);
        sum += ts.tv_nsec + tv.tv_usec + time(NULL);
    }
    printf("%d\n", sum != 0);
    return 0;
}
"#;

/// The vDSO serves the clocks in user mode: of 1000 calls each, (almost) none reach the
/// kernel as syscalls. Counts, not timings.
#[test]
fn clock_calls_stay_in_the_vdso() {
    if !kvm_available() {
        return;
    }
    for (flavour, flags) in [("static", &["-static"][..]), ("dynamic", &[][..])] {
        let exe = build_with(&format!("clock_loop_{flavour}"), CLOCK_LOOP, flags);
        let json_path = exe.with_extension("json");
        let out = run(&["--stats-json", json_path.to_str().unwrap()], &exe);
        assert_eq!(out.status.code(), Some(0), "{flavour}");
        assert_eq!(out.stdout, b"1\n", "{flavour}");
        let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
        let count = |name: &str| {
            v["syscalls"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|s| s["name"] == name)
                .map(|s| s["in_guest"].as_u64().unwrap() + s["hypercall"].as_u64().unwrap())
                .sum::<u64>()
        };
        for name in ["clock_gettime", "gettimeofday", "time"] {
            assert!(count(name) < 10, "{flavour}: {} {name} syscalls for 1000+ calls", count(name));
        }
    }
}

#[test]
fn strace_marks_where_each_syscall_was_served() {
    if !kvm_available() {
        return;
    }
    let exe = build("hello_strace", HELLO);
    let out = run(&["--strace"], &exe);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stdout, b"hi\n", "trace lines go to stderr only");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines().any(|l| l == "getpid() = 1 [guest]" || (l.starts_with("getpid() = ") && l.ends_with(" [guest]"))),
        "{err}"
    );
    assert!(err.contains("write(1, \"hi\\n\", 3) = 3 [hypercall]"), "{err}");
    assert!(err.lines().any(|l| l == "exit_group(7) = ?"), "{err}");
}

#[test]
fn both_hypercall_paths_give_the_same_result() {
    if !kvm_available() {
        return;
    }
    let exe = build("hello_paths", HELLO);
    for path in ["shared", "exit"] {
        let out = run(&["--hypercalls", path], &exe);
        assert_eq!(out.status.code(), Some(7), "--hypercalls {path}");
        assert_eq!(out.stdout, b"hi\n", "--hypercalls {path}");
    }
}

#[test]
fn a_signal_death_is_reproduced() {
    if !kvm_available() {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let exe = build("die_by_usr1", "#include <signal.h>\nint main(void) { raise(SIGUSR1); return 0; }\n");
    let out = run(&[], &exe);
    assert_eq!(out.status.signal(), Some(10), "linuxrun dies from the program's signal");
}

#[test]
fn bad_memory_sizes_are_refused_by_the_cli() {
    let out = Command::new(linuxrun()).args(["--memory", "12X", "/bin/true"]).output().unwrap();
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("size"));
}
