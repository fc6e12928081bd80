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
    let dir = std::env::temp_dir().join(format!("linuxrun-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let src = dir.join(format!("{name}.c"));
    let exe = dir.join(name);
    std::fs::write(&src, source).unwrap();
    let status = Command::new("gcc").args(["-static", "-O2", "-o"]).arg(&exe).arg(&src).status().expect("gcc runs");
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

const MAP_TOUCH_UNMAP: &str = r#"
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#define SIZE (256UL << 20)
static void wait_for_go(const char *what) {
    char c;
    printf("%s\n", what);
    fflush(stdout);
    if (read(0, &c, 1) != 1) _exit(3);
}
int main(void) {
    char *p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return 1;
    memset(p, 0x5a, SIZE);
    wait_for_go("mapped");
    if (munmap(p, SIZE) != 0) return 2;
    wait_for_go("unmapped");
    /* Mapping again reuses what the host took back: it must read as zero. */
    p = mmap(NULL, SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    for (size_t i = 0; i < SIZE; i += 4096)
        if (p[i] != 0) return 4;
    printf("zero\n");
    return 0;
}
"#;

/// VmRSS of a host process in KiB.
fn vm_rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn munmap_gives_memory_back_to_the_host() {
    if !kvm_available() {
        return;
    }
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let exe = build("map_touch_unmap", MAP_TOUCH_UNMAP);
    let mut child = Command::new(linuxrun())
        .args(["--memory", "1G"])
        .arg(&exe)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    let mut next_line = |line: &mut String| {
        line.clear();
        stdout.read_line(line).unwrap();
        line.trim().to_string()
    };
    assert_eq!(next_line(&mut line), "mapped");
    let touched = vm_rss_kib(child.id());
    stdin.write_all(b"g").unwrap();
    assert_eq!(next_line(&mut line), "unmapped");
    let after = vm_rss_kib(child.id());
    stdin.write_all(b"g").unwrap();
    assert_eq!(next_line(&mut line), "zero");
    assert!(child.wait().unwrap().success());
    assert!(touched >= 256 << 10, "the touched 256 MiB are resident ({touched} KiB)");
    assert!(touched - after >= 200 << 10, "munmap gave most of 256 MiB back: RSS {touched} -> {after} KiB");
}

const SHARED_WRITER: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char c;
    int fd = open(argv[1], O_RDWR);
    char *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) return 1;
    close(fd);
    memcpy(p + 6, "through the mapping", 19);
    printf("written\n");
    fflush(stdout);
    if (read(0, &c, 1) != 1) return 2;
    return p[0] == 'X' ? 0 : 3;
}
"#;

#[test]
fn shared_file_mapping_is_coherent_with_other_processes() {
    if !kvm_available() {
        return;
    }
    use std::io::{BufRead, BufReader, Write};
    use std::process::Stdio;
    let exe = build("shared_writer", SHARED_WRITER);
    let file = exe.with_file_name("shared_writer.data");
    std::fs::write(&file, "start ------------------- end\n").unwrap();
    let mut child =
        Command::new(linuxrun()).arg(&exe).arg(&file).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "written");
    // Before any munmap or msync, as on Linux: the host's page cache is the mapping.
    let seen = std::fs::read_to_string(&file).unwrap();
    // And the other way round: a host write shows in the program's mapping.
    std::fs::OpenOptions::new().write(true).open(&file).unwrap().write_all(b"X").unwrap();
    child.stdin.take().unwrap().write_all(b"g").unwrap();
    let status = child.wait().unwrap();
    assert_eq!(seen, "start through the mapping end\n");
    assert!(status.success(), "the program saw the host's write: {status:?}");
}
