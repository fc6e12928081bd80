//! The command line as a user meets it: --stats-json, --strace, --hypercalls, exit codes.
//! These run the real binary in a VM, so they need /dev/kvm. Without it (or without a tool
//! a test needs) a test checks nothing and prints a `!!! SKIP` line with a running count on
//! stderr, past the harness's capture of passing tests' output; when CI is set, a missing
//! prerequisite fails the test instead.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

mod support;
use support::{build, build_with, kvm_available, linuxrun, skip, text};

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
    assert_eq!(keys, ["hypercalls", "syscalls", "unimplemented", "vm_exits"]);
    let getpid = obj["syscalls"].as_array().unwrap().iter().find(|s| s["name"] == "getpid").expect("getpid counted");
    assert_eq!(getpid["nr"], 39);
    assert_eq!(getpid["in_guest"], 2);
    assert_eq!(getpid["hypercall"], 0);
    assert_eq!(getpid["failed"], 0);
    let write = obj["syscalls"].as_array().unwrap().iter().find(|s| s["name"] == "write").expect("write counted");
    assert_eq!(write["in_guest"], 0);
    assert_eq!(write["hypercall"], 1);
    assert!(obj["hypercalls"].as_u64().unwrap() >= 3, "hello, startup, write and exit are hypercalls");
    assert!(obj["vm_exits"].as_object().unwrap().values().all(|n| n.is_u64()));
}

const OPEN_DEVICES: &str = r#"
#include <fcntl.h>
#include <unistd.h>
int main(void) {
    for (int i = 0; i < 10; i++) {
        close(open("/dev/null", O_WRONLY));
        close(open("/dev/zero", O_RDONLY));
    }
    return 0;
}
"#;

/// Opening /dev/null or /dev/zero is one hypercall: the host's answer says which device
/// it opened, so the guest need not ask (it serves their reads and writes itself).
#[test]
fn opening_dev_null_is_one_hypercall() {
    if !kvm_available() {
        return;
    }
    let exe = build("open_devices", OPEN_DEVICES);
    let json_path = exe.with_extension("json");
    let out = run(&["--stats-json", json_path.to_str().unwrap()], &exe);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let syscalls = v["syscalls"].as_array().unwrap();
    let openat = syscalls.iter().find(|s| s["name"] == "openat").expect("openat counted");
    assert_eq!(openat["hypercall"], 20, "{openat}");
}

const TWO_THREADS_COUNTING: &str = r#"
#include <pthread.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
static atomic_int done;
static void *stat_loop(void *arg) {
    struct stat st;
    while (!atomic_load(&done))
        stat("/", &st);
    return arg;
}
int main(void) {
    pthread_t t;
    pthread_create(&t, 0, stat_loop, 0);
    for (int i = 0; i < 200000; i++)
        syscall(SYS_getppid);
    atomic_store(&done, 1);
    pthread_join(t, 0);
    return 0;
}
"#;

/// Whether a syscall needed a hypercall is counted per thread: one thread's forwarded
/// stats do not make another thread's getppid calls look forwarded, and no count is lost
/// when two threads count at once.
#[test]
fn threads_count_their_own_hypercalls() {
    if !kvm_available() {
        return;
    }
    let exe = build_with("two_threads_counting", TWO_THREADS_COUNTING, &["-static", "-pthread"]);
    let json_path = exe.with_extension("json");
    let out = run(&["--stats-json", json_path.to_str().unwrap()], &exe);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let syscalls = v["syscalls"].as_array().unwrap();
    let getppid = syscalls.iter().find(|s| s["name"] == "getppid").expect("getppid counted");
    assert_eq!(getppid["in_guest"], 200000, "{getppid}");
    assert_eq!(getppid["hypercall"], 0, "{getppid}");
    // And the other way round: a getppid starting on the other vCPU does not make this
    // thread's forwarded stat look served in the guest (it did ~20 times in a run).
    let stat = syscalls.iter().find(|s| s["name"] == "newfstatat").expect("stat counted");
    assert_eq!(stat["in_guest"], 0, "{stat}");
    assert!(stat["hypercall"].as_u64().unwrap() > 0, "{stat}");
}

const UNIMPLEMENTED: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    /* kexec_load: Linux has it, linuxrun will not. */
    long r = syscall(SYS_kexec_load, 0, 0, 0, 0);
    printf("%ld %d\n", r, errno);
    close(-1);
    close(-1);
    return atoi(argv[1]);
}
"#;

/// A program that hit a call linuxrun lacks and then fails gets one line naming it at the
/// end (not when it succeeds, not with --quiet); -v names the call when it is hit; --stats
/// counts failed calls and lists what was not implemented.
#[test]
fn unimplemented_calls_are_named_when_the_program_fails() {
    if !kvm_available() {
        return;
    }
    let exe = build("unimplemented", UNIMPLEMENTED);
    let go = |args: &[&str], status: &str| Command::new(linuxrun()).args(args).arg(&exe).arg(status).output().unwrap();
    let line = "linuxrun: the program used kexec_load, which linuxrun does not implement yet\n";
    let failed = go(&[], "1");
    assert_eq!(failed.status.code(), Some(1));
    assert_eq!(text(&failed.stdout), "-1 38\n");
    assert!(text(&failed.stderr).ends_with(line), "{}", text(&failed.stderr));
    assert_eq!(text(&failed.stderr).matches("does not implement").count(), 1);
    let ok = go(&[], "0");
    assert_eq!(ok.status.code(), Some(0));
    assert!(!text(&ok.stderr).contains("does not implement"), "{}", text(&ok.stderr));
    let quiet = go(&["--quiet"], "1");
    assert_eq!(quiet.status.code(), Some(1));
    assert!(!text(&quiet.stderr).contains("does not implement"), "{}", text(&quiet.stderr));
    let verbose = go(&["-v"], "0");
    let said = text(&verbose.stderr);
    assert_eq!(said.matches("not implemented yet: syscall kexec_load (246)").count(), 1, "{said}");
    let json_path = exe.with_extension("json");
    let stats = go(&["--stats-json", json_path.to_str().unwrap()], "0");
    assert_eq!(stats.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&json_path).unwrap()).unwrap();
    let close = v["syscalls"].as_array().unwrap().iter().find(|s| s["name"] == "close").expect("close counted");
    assert_eq!(close["failed"], 2);
    let kexec = v["syscalls"].as_array().unwrap().iter().find(|s| s["name"] == "kexec_load").expect("kexec counted");
    assert_eq!(kexec["failed"], 1);
    let names: Vec<&str> = v["unimplemented"].as_array().unwrap().iter().map(|n| n.as_str().unwrap()).collect();
    assert!(names.contains(&"kexec_load"), "{names:?}");
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
    // strace pads each call to its result column (40): compare with the padding collapsed.
    let lines: Vec<String> = err.lines().map(|l| l.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
    let pid = out_pid(&lines);
    assert!(lines.contains(&format!("getpid() = {pid} [guest]")), "{err}");
    assert!(lines.iter().any(|l| l == "write(1, \"hi\\n\", 3) = 3 [hypercall]"), "{err}");
    assert!(lines.iter().any(|l| l == "exit_group(7) = ?"), "{err}");
    assert_eq!(lines.last().map(String::as_str), Some("+++ exited with 7 +++"), "{err}");
    assert!(lines[0].starts_with(&format!("execve(\"{}\", [\"", exe.display())), "the first line is the execve: {err}");
    assert!(err.contains("exit_group(7)                           = ?\n"), "padded to strace's column: {err}");
}

/// The pid set_tid_address returned (the first process's).
fn out_pid(lines: &[String]) -> String {
    let l = lines.iter().find(|l| l.starts_with("set_tid_address(")).expect("set_tid_address line");
    l.split(" = ").nth(1).unwrap().split(' ').next().unwrap().to_owned()
}

const FORKER: &str = r#"
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t p = fork();
    if (p == 0) { write(1, "c\n", 2); _exit(5); }
    int st;
    waitpid(p, &st, 0);
    write(1, "p\n", 2);
    return WEXITSTATUS(st);
}
"#;

#[test]
fn strace_prefixes_pids_while_the_tree_has_more_than_one_process() {
    if !kvm_available() {
        return;
    }
    let exe = build("forker_strace", FORKER);
    let out = run(&["--strace"], &exe);
    assert_eq!(out.status.code(), Some(5));
    let err = text(&out.stderr);
    let child = err
        .lines()
        .find(|l| l.contains("write(1, \"c\\n\", 2)"))
        .unwrap_or_else(|| panic!("the child is traced too: {err}"));
    assert!(child.starts_with("[pid "), "a child's line while two processes live: {err}");
    let child_pid = child[5..child.find(']').unwrap()].trim().to_owned();
    assert!(err.contains(&format!("[pid {child_pid:>5}] +++ exited with 5 +++\n")), "{err}");
    // Once the child is gone, the parent's lines have no prefix again.
    assert!(err.lines().any(|l| l.starts_with("write(1, \"p\\n\", 2)")), "{err}");
    assert!(err.ends_with("+++ exited with 5 +++\n"), "{err}");
}

#[test]
fn strace_output_goes_to_its_file_with_a_pid_on_every_line() {
    if !kvm_available() {
        return;
    }
    let exe = build("forker_strace_output", FORKER);
    let file = exe.with_extension("trace");
    let out = run(&["--strace-output", file.to_str().unwrap()], &exe);
    assert_eq!(out.status.code(), Some(5));
    assert!(out.stderr.is_empty(), "nothing on stderr: {}", text(&out.stderr));
    assert_eq!(out.stdout, b"c\np\n");
    let trace = std::fs::read_to_string(&file).unwrap();
    let pids: std::collections::BTreeSet<&str> = trace.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(pids.len(), 2, "two processes, each line prefixed by its pid: {trace}");
    assert!(pids.iter().all(|p| p.parse::<u32>().is_ok()), "{trace}");
    assert_eq!(trace.matches("+++ exited with").count(), 2, "{trace}");
    assert!(trace.lines().all(|l| !l.is_empty()), "whole lines only: {trace}");
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

/// A minimal Linux userland for --root: Debian's static busybox as /bin/busybox, a few
/// files and links, and nothing else (no ld.so, no /etc/hostname). Removed on drop.
struct Tree {
    dir: PathBuf,
}

impl Tree {
    fn new(name: &str) -> Option<Tree> {
        if !Path::new("/bin/busybox").exists() {
            skip("no /bin/busybox (Debian's busybox-static)");
            return None;
        }
        let dir = std::env::temp_dir().join(format!("linuxrun-root-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let root = dir.join("root");
        for d in ["bin", "etc", "usr/share"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
        std::fs::write(root.join("etc/linuxrun-id"), "the tree's own file\n").unwrap();
        // An absolute symlink: it must resolve inside the root, not on the host.
        std::os::unix::fs::symlink("/etc", root.join("usr/share/etc-abs")).unwrap();
        std::fs::create_dir_all(dir.join("work")).unwrap();
        std::fs::write(dir.join("work/note"), "in the working directory\n").unwrap();
        Some(Tree { dir })
    }

    fn root(&self) -> PathBuf {
        self.dir.join("root")
    }

    /// linuxrun with `args` (options then the program and its arguments), run in work/.
    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("linuxrun runs")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(linuxrun());
        c.args(args).current_dir(self.dir.join("work")).env_remove("LINUXRUN_ROOT");
        c
    }
}

impl Drop for Tree {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn root_shows_the_trees_files_not_the_hosts() {
    let Some(t) = Tree::new("files") else { return };
    if !kvm_available() {
        return;
    }
    let root = t.root();
    let root = root.to_str().unwrap();
    let out = t.run(&["--root", root, "/bin/busybox", "cat", "/etc/linuxrun-id"]);
    assert_eq!((out.status.code(), text(&out.stdout)), (Some(0), "the tree's own file\n".into()), "{out:?}");
    // The host has /etc/hostname; the tree has not.
    let out = t.run(&["--root", root, "/bin/busybox", "cat", "/etc/hostname"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(text(&out.stderr).contains("No such file"), "{out:?}");
    // ls / lists the tree only.
    let out = t.run(&["--root", root, "/bin/busybox", "ls", "/"]);
    assert_eq!(text(&out.stdout), "bin\netc\nusr\n", "{out:?}");
    // An absolute symlink resolves in the root; '..' at the root stays there.
    let out = t.run(&[
        "--root",
        root,
        "/bin/busybox",
        "cat",
        "/usr/share/etc-abs/linuxrun-id",
        "/../../../etc/linuxrun-id",
        "/usr/../../etc/../etc/linuxrun-id",
    ]);
    assert_eq!(text(&out.stdout), "the tree's own file\n".repeat(3), "{out:?}");
    let out = t.run(&["--root", root, "/bin/busybox", "readlink", "-f", "/usr/share/etc-abs/linuxrun-id"]);
    assert_eq!(text(&out.stdout), "/etc/linuxrun-id\n", "realpath answers guest paths: {out:?}");
}

#[test]
fn the_working_directory_home_and_tmp_stay_reachable() {
    let Some(t) = Tree::new("cwd") else { return };
    if !kvm_available() {
        return;
    }
    let root = t.root();
    let work = t.dir.join("work").canonicalize().unwrap();
    let out = t
        .command(&[
            "--root",
            root.to_str().unwrap(),
            "/bin/busybox",
            "sh",
            "-c",
            "pwd; read l < note; echo $l; cd /tmp && pwd",
        ])
        .env("HOME", &t.dir)
        .output()
        .unwrap();
    // busybox sh runs the builtins without forking.
    assert_eq!(text(&out.stdout), format!("{}\nin the working directory\n/tmp\n", work.display()), "{out:?}");
    let out = t
        .command(&["--root", root.to_str().unwrap(), "/bin/busybox", "cat", "work/note"])
        .current_dir("/")
        .env("HOME", &t.dir)
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "", "/ is the tree's: {out:?}");
    let home_note = t.dir.join("work/note");
    let out = t
        .command(&["--root", root.to_str().unwrap(), "/bin/busybox", "cat", home_note.to_str().unwrap()])
        .env("HOME", &t.dir)
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "in the working directory\n", "$HOME is reachable: {out:?}");
}

#[test]
fn bind_shows_a_host_directory_at_a_guest_path() {
    let Some(t) = Tree::new("bind") else { return };
    if !kvm_available() {
        return;
    }
    let data = t.dir.join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(data.join("f"), "bound\n").unwrap();
    let bind = format!("{}:/mnt/data", data.display());
    let root = t.root();
    let root = root.to_str().unwrap();
    let out = t.run(&["--root", root, "--bind", &bind, "/bin/busybox", "cat", "/mnt/data/f"]);
    assert_eq!(text(&out.stdout), "bound\n", "{out:?}");
    // Written through the bind, visible on the host; moving it to the root is EXDEV, which
    // mv answers by copying.
    let out = t.run(&["--root", root, "--bind", &bind, "/bin/busybox", "mv", "/mnt/data/f", "/etc/moved"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(std::fs::read_to_string(t.root().join("etc/moved")).unwrap(), "bound\n");
    assert!(!data.join("f").exists());
    // Without a root, a bind alone remaps one path of the host's namespace.
    let bind = format!("{}:/linuxrun-test-bind", t.root().join("etc").display());
    let out = t.run(&["--bind", &bind, "/bin/busybox", "cat", "/linuxrun-test-bind/linuxrun-id"]);
    assert_eq!(text(&out.stdout), "the tree's own file\n", "{out:?}");
}

#[test]
fn linuxrun_root_is_the_environment_form_and_the_flag_wins() {
    let Some(t) = Tree::new("env") else { return };
    if !kvm_available() {
        return;
    }
    let out = t.command(&["/bin/busybox", "cat", "/etc/linuxrun-id"]).env("LINUXRUN_ROOT", t.root()).output().unwrap();
    assert_eq!(text(&out.stdout), "the tree's own file\n", "{out:?}");
    let root = t.root();
    let out = t
        .command(&["--root", root.to_str().unwrap(), "/bin/busybox", "cat", "/etc/linuxrun-id"])
        .env("LINUXRUN_ROOT", "/nonexistent/linuxrun-root")
        .output()
        .unwrap();
    assert_eq!(text(&out.stdout), "the tree's own file\n", "{out:?}");
}

#[test]
fn bad_roots_and_binds_are_usage_errors() {
    let Some(t) = Tree::new("bad") else { return };
    let out = t.run(&["--root", "/nonexistent/linuxrun-root", "/bin/busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(text(&out.stderr).contains("--root /nonexistent/linuxrun-root"), "{out:?}");
    let out = t.run(&["--root", "/etc/passwd", "/bin/busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(text(&out.stderr).contains("Not a directory"), "{out:?}");
    let out = t.run(&["--bind", "/nonexistent/linuxrun-src:/x", "/bin/busybox", "true"]);
    assert_eq!(out.status.code(), Some(125), "{out:?}");
    assert!(text(&out.stderr).contains("/nonexistent/linuxrun-src"), "{out:?}");
}

#[test]
fn a_dynamic_program_without_its_interpreter_in_the_root_is_127() {
    let Some(t) = Tree::new("dynamic") else { return };
    if !Path::new("/bin/true").exists() {
        skip("no /bin/true");
        return;
    }
    std::fs::copy("/bin/true", t.root().join("bin/true")).unwrap();
    let root = t.root();
    let out = t.run(&["--root", root.to_str().unwrap(), "/bin/true"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
    let err = text(&out.stderr);
    assert!(err.contains("/lib64/ld-linux-x86-64.so.2") && err.contains(root.to_str().unwrap()), "{err}");
    // A program missing from the root is not found, although the host has it.
    let out = t.run(&["--root", root.to_str().unwrap(), "/bin/sh", "-c", "true"]);
    assert_eq!(out.status.code(), Some(127), "{out:?}");
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
    let status = proc_status(pid);
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).expect("VmRSS line");
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// /proc/<pid>/status of our child `pid`. When the tests run in a pid namespace whose
/// /proc is the outer one's, `pid` is not the /proc name: find the entry whose NSpid
/// line ends with it (and is a child of ours).
fn proc_status(pid: u32) -> String {
    let field = |status: &str, key: &str| -> Option<String> {
        status.lines().find(|l| l.starts_with(key)).map(|l| l[key.len()..].trim().to_string())
    };
    let ours = |status: &str| {
        field(status, "NSpid:").and_then(|v| v.split_whitespace().last().map(str::to_string)) == Some(pid.to_string())
    };
    if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        if ours(&s) && field(&s, "PPid:").is_some() {
            let me = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
            let my_pid = field(&me, "Pid:");
            if field(&s, "PPid:") == my_pid {
                return s;
            }
        }
    }
    let my_host_pid = std::fs::read_link("/proc/self").ok().and_then(|p| p.to_str().map(str::to_string));
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(s) = std::fs::read_to_string(entry.path().join("status")) else { continue };
        if ours(&s) && (my_host_pid.is_none() || field(&s, "PPid:") == my_host_pid) {
            return s;
        }
    }
    panic!("no /proc entry for child pid {pid}");
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

/// `wait FILE`: says it is about to wait (word 1 of the shared file becomes 1), then waits
/// on word 0 with a shared futex (5 s at most) and prints how the wait ended. `wake FILE`:
/// once the waiter said so, stores 1 in word 0 and wakes it.
const SHARED_FUTEX: &str = r#"
#include <fcntl.h>
#include <linux/futex.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
int main(int argc, char **argv) {
    if (argc != 3) return 2;
    int fd = open(argv[2], O_RDWR);
    uint32_t *w = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (fd < 0 || w == MAP_FAILED) return 2;
    if (strcmp(argv[1], "wait") == 0) {
        __atomic_store_n(&w[1], 1, __ATOMIC_SEQ_CST);
        struct timespec five = {5, 0};
        long r = syscall(SYS_futex, &w[0], FUTEX_WAIT, 0, &five, NULL, 0);
        puts(r == 0 ? "woken" : "not woken");
        return 0;
    }
    while (!__atomic_load_n(&w[1], __ATOMIC_SEQ_CST)) usleep(1000);
    usleep(100000);
    __atomic_store_n(&w[0], 1, __ATOMIC_SEQ_CST);
    long woken = syscall(SYS_futex, &w[0], FUTEX_WAKE, 1, NULL, NULL, 0);
    printf("woke %ld\n", woken);
    return 0;
}
"#;

#[test]
fn a_shared_futex_wakes_across_linuxrun_and_native_processes() {
    if !kvm_available() {
        return;
    }
    let exe = build("shared_futex", SHARED_FUTEX);
    for (waiter_inside, name) in [(true, "native wakes linuxrun"), (false, "linuxrun wakes native")] {
        let file = exe.with_file_name(format!("shared_futex_{waiter_inside}.data"));
        std::fs::write(&file, [0u8; 4096]).unwrap();
        let command = |inside: bool, role: &str| {
            let mut c = if inside { Command::new(linuxrun()) } else { Command::new(&exe) };
            if inside {
                c.arg(&exe);
            }
            c.arg(role).arg(&file);
            c
        };
        let waiter = command(waiter_inside, "wait").stdout(std::process::Stdio::piped()).spawn().unwrap();
        let waker = command(!waiter_inside, "wake").output().unwrap();
        let waited = waiter.wait_with_output().unwrap();
        assert_eq!((text(&waited.stdout).as_str(), text(&waker.stdout).as_str()), ("woken\n", "woke 1\n"), "{name}");
    }
}

/// `create`: a SysV semaphore set (value 0) and a shared memory segment, their ids printed.
/// `wait SEM SHM`: attaches the segment, waits on the semaphore (semtimedop, 5 s at most)
/// and prints what the poster wrote there. `post SEM SHM`: writes to the segment, then
/// posts. `remove SEM SHM`.
const SYSV_SHARE: &str = r#"
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/sem.h>
#include <sys/shm.h>
#include <time.h>
int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "create") == 0) {
        printf("%d %d\n", semget(IPC_PRIVATE, 1, 0600), shmget(IPC_PRIVATE, 4096, 0600));
        return 0;
    }
    if (argc != 4) return 2;
    int sem = atoi(argv[2]), shm = atoi(argv[3]);
    if (strcmp(argv[1], "remove") == 0) return semctl(sem, 0, IPC_RMID) | shmctl(shm, IPC_RMID, NULL);
    char *mem = shmat(shm, NULL, 0);
    if (mem == (void *)-1) return 3;
    struct sembuf op = {0, 1, 0};
    if (strcmp(argv[1], "post") == 0) {
        snprintf(mem, 64, "written by %s", argv[0][0] ? "the poster" : "?");
        puts(semop(sem, &op, 1) == 0 ? "posted" : "not posted");
        return 0;
    }
    op.sem_op = -1;
    struct timespec five = {5, 0};
    if (semtimedop(sem, &op, 1, &five) == 0) printf("woken: %s\n", mem);
    else puts("not woken");
    return 0;
}
"#;

/// Removes the test's SysV objects however the test ends.
struct SysvObjects<'a> {
    exe: &'a std::path::Path,
    ids: Vec<String>,
}

impl Drop for SysvObjects<'_> {
    fn drop(&mut self) {
        let _ = Command::new(self.exe).arg("remove").args(&self.ids).status();
    }
}

#[test]
fn a_sysv_semaphore_and_segment_are_shared_by_linuxrun_and_native_processes() {
    if !kvm_available() {
        return;
    }
    let exe = build("sysv_share", SYSV_SHARE);
    for (waiter_inside, name) in [(true, "native posts to linuxrun"), (false, "linuxrun posts to native")] {
        let created = Command::new(&exe).arg("create").output().unwrap();
        let ids: Vec<String> = text(&created.stdout).split_whitespace().map(String::from).collect();
        assert_eq!(ids.len(), 2, "{}", text(&created.stdout));
        let objects = SysvObjects { exe: &exe, ids };
        let command = |inside: bool, role: &str| {
            let mut c = if inside { Command::new(linuxrun()) } else { Command::new(&exe) };
            if inside {
                c.arg(&exe);
            }
            c.arg(role).args(&objects.ids);
            c
        };
        let waiter = command(waiter_inside, "wait").stdout(std::process::Stdio::piped()).spawn().unwrap();
        let poster = command(!waiter_inside, "post").output().unwrap();
        let waited = waiter.wait_with_output().unwrap();
        assert_eq!(
            (text(&waited.stdout).as_str(), text(&poster.stdout).as_str()),
            ("woken: written by the poster\n", "posted\n"),
            "{name}"
        );
    }
}

/// A program that says "ready" and then waits in one of several ways for signals sent from
/// outside (by this test, through the host).
const OUTSIDE_SIGNALS: &str = r#"
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
static volatile sig_atomic_t got;
static void on_term(int s) { (void)s; write(1, "term\n", 5); _exit(9); }
static void on_winch(int s) { (void)s; got = 1; }
int main(int argc, char **argv) {
    const char *mode = argc > 1 ? argv[1] : "spin";
    if (!strcmp(mode, "term")) signal(SIGTERM, on_term);
    if (!strcmp(mode, "winch")) signal(SIGWINCH, on_winch);
    printf("ready\n");
    fflush(stdout);
    if (!strcmp(mode, "read")) {
        char line[64];
        if (fgets(line, sizeof line, stdin)) printf("read %s", line);
        return 0;
    }
    if (!strcmp(mode, "winch")) {
        /* pause() could miss a signal that lands just before it: it is blocked until then. */
        sigset_t set, none;
        sigemptyset(&set);
        sigaddset(&set, SIGWINCH);
        sigprocmask(SIG_BLOCK, &set, 0);
        sigemptyset(&none);
        while (!got) sigsuspend(&none);
        printf("winch\n");
        return 0;
    }
    for (;;) { }
}
"#;

/// Start the program under linuxrun in `mode` and wait for its "ready".
fn start_outside_signals(mode: &str) -> (std::process::Child, std::io::BufReader<std::process::ChildStdout>) {
    use std::io::BufRead;
    use std::os::unix::process::CommandExt;
    use std::process::Stdio;
    // One binary per mode: the tests run in parallel and must not overwrite each other.
    let exe = build(&format!("outside_signals_{mode}"), OUTSIDE_SIGNALS);
    // Its own process group, with us in another: in a fresh session (as CI runs the tests)
    // our group is orphaned, and the kernel would discard SIGTSTP sent to its members.
    let mut child = Command::new(linuxrun());
    // SAFETY: between fork and exec only async-signal-safe calls: signal() is one. A test
    // run started in the background by a shell without job control inherits SIGINT and
    // SIGQUIT ignored, which the program would inherit too (as on Linux): the signals
    // these tests send must have their default actions to begin with.
    unsafe {
        child.pre_exec(|| {
            libc::signal(libc::SIGINT, libc::SIG_DFL);
            libc::signal(libc::SIGQUIT, libc::SIG_DFL);
            Ok(())
        });
    }
    let mut child = child
        .arg(&exe)
        .arg(mode)
        .process_group(0)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("linuxrun runs");
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, out)
}

fn send(child: &std::process::Child, sig: i32) {
    // SAFETY: kill takes no pointers; the child is ours and not yet reaped.
    assert_eq!(unsafe { libc::kill(child.id() as i32, sig) }, 0);
}

/// The child's exit status, failing the test instead of hanging if it does not end.
fn wait_bounded(child: &mut std::process::Child) -> std::process::ExitStatus {
    for _ in 0..2000 {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let _ = child.kill();
    panic!("the program did not end within 20 s");
}

#[test]
fn ctrl_c_ends_a_busy_program_as_a_shell_expects() {
    if !kvm_available() {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let (mut child, _out) = start_outside_signals("spin");
    send(&child, libc::SIGINT);
    assert_eq!(wait_bounded(&mut child).signal(), Some(libc::SIGINT));
}

#[test]
fn sigterm_from_the_host_runs_the_programs_handler() {
    if !kvm_available() {
        return;
    }
    use std::io::Read;
    let (mut child, mut out) = start_outside_signals("term");
    send(&child, libc::SIGTERM);
    let status = wait_bounded(&mut child);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!((status.code(), rest.as_str()), (Some(9), "term\n"));
}

#[test]
fn sigwinch_reaches_its_handler_during_sigsuspend() {
    if !kvm_available() {
        return;
    }
    use std::io::Read;
    let (mut child, mut out) = start_outside_signals("winch");
    send(&child, libc::SIGWINCH);
    let status = wait_bounded(&mut child);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!((status.code(), rest.as_str()), (Some(0), "winch\n"));
}

#[test]
fn stop_signals_stop_the_process_and_sigcont_continues_it() {
    if !kvm_available() {
        return;
    }
    use std::io::{Read, Write};
    let (mut child, mut out) = start_outside_signals("read");
    let pid = child.id() as i32;
    for sig in [libc::SIGSTOP, libc::SIGTSTP] {
        send(&child, sig);
        let mut status = 0;
        // SAFETY: waitpid on our own child with a valid status pointer.
        let got = unsafe { libc::waitpid(pid, &mut status, libc::WUNTRACED) };
        assert_eq!(got, pid);
        assert!(libc::WIFSTOPPED(status), "stopped by {sig}: status {status:#x}");
        assert_eq!(libc::WSTOPSIG(status), sig);
        send(&child, libc::SIGCONT);
    }
    child.stdin.take().unwrap().write_all(b"hello\n").unwrap();
    let status = wait_bounded(&mut child);
    let mut rest = String::new();
    out.read_to_string(&mut rest).unwrap();
    assert_eq!((status.code(), rest.as_str()), (Some(0), "read hello\n"));
}

/// Uses io_uring, which linuxrun's guest does not implement (ENOSYS) and the host kernel
/// does: which of the two ran the program shows in its output. (Once the guest serves
/// io_uring, this needs another call only the host answers.)
const HOST_ONLY: &str = r#"
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv) {
    char params[120];
    memset(params, 0, sizeof params);
    if (syscall(SYS_io_uring_setup, 1, params) < 0) { printf("no io_uring\n"); return 1; }
    printf("io_uring, argv[1]=%s\n", argc > 1 ? argv[1] : "-");
    return 0;
}
"#;

const LAUNCHER: &str = r#"
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(int argc, char **argv) { (void)argc; execv(argv[1], argv + 1); printf("exec: %s\n", strerror(errno)); return 126; }
"#;

#[test]
fn native_programs_run_on_the_host_kernel_when_execd() {
    if !kvm_available() {
        return;
    }
    let host_only = build_with("host_only", HOST_ONLY, &["-static"]);
    let launcher = build("launcher", LAUNCHER);
    let launch = |native: &[&Path]| {
        let mut cmd = Command::new(linuxrun());
        for n in native {
            cmd.arg("--native").arg(n);
        }
        cmd.arg(&launcher).arg(&host_only).arg("hello").output().expect("linuxrun runs")
    };
    let inside = launch(&[]);
    assert_eq!((text(&inside.stdout).as_str(), inside.status.code()), ("no io_uring\n", Some(1)));
    let native = launch(&[&host_only]);
    assert_eq!((text(&native.stdout).as_str(), native.status.code()), ("io_uring, argv[1]=hello\n", Some(0)));
    let missing = Command::new(linuxrun()).args(["--native", "/nonexistent/tool"]).arg(&launcher).output().unwrap();
    assert_eq!(missing.status.code(), Some(2));
    assert!(text(&missing.stderr).contains("--native /nonexistent/tool"));
}

/// The master side of a pty and what was read from it and not matched yet.
struct PtyTalk {
    master: std::fs::File,
    seen: String,
}

impl PtyTalk {
    fn send(&mut self, input: &str) {
        use std::io::Write;
        self.master.write_all(input.as_bytes()).unwrap();
    }

    /// Read (non-blocking) until `want` shows up (true) or `tries` times 10 ms pass.
    fn expect(&mut self, want: &str, tries: u32) -> bool {
        use std::io::Read;
        for _ in 0..tries {
            let mut buf = [0u8; 4096];
            match self.master.read(&mut buf) {
                Ok(n) if n > 0 => self.seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                _ => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
            if let Some(at) = self.seen.find(want) {
                self.seen = self.seen.split_off(at + want.len());
                return true;
            }
        }
        false
    }

    fn step(&mut self, input: &str, want: &str) {
        self.send(input);
        assert!(self.expect(want, 2000), "no {want:?} after {input:?}; the terminal shows {:?}", self.seen);
    }

    /// Type a command line once the shell shows `want` and then its next prompt: typing
    /// ahead of the prompt could be flushed (readline changes the terminal modes).
    fn command(&mut self, input: &str, want: &str) {
        self.step(input, want);
        assert!(self.expect("$ ", 2000), "no prompt after {input:?}; the terminal shows {:?}", self.seen);
    }
}

/// An interactive bash under linuxrun on a pseudo-terminal, driven like a user would: a
/// background job, a foreground job stopped with Ctrl-Z (the terminal sends SIGTSTP to the
/// foreground process group bash gave the terminal to), `jobs`, `bg`, `kill` and `wait`.
#[test]
fn interactive_bash_on_a_pty_has_job_control() {
    use std::os::fd::{FromRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    if !kvm_available() {
        return;
    }
    if !Path::new("/bin/bash").exists() {
        skip("no /bin/bash");
        return;
    }
    let (master, slave) = {
        let (mut m, mut s) = (0, 0);
        // SAFETY: openpty writes two fds; no name, termios or window size is passed.
        // (Null pointers of Darwin's mutable kinds coerce to Linux's const ones.)
        let r =
            unsafe { libc::openpty(&mut m, &mut s, std::ptr::null_mut(), std::ptr::null_mut(), std::ptr::null_mut()) };
        assert_eq!(r, 0, "openpty");
        // SAFETY: both are fresh descriptors owned from here on.
        unsafe { (std::fs::File::from_raw_fd(m), OwnedFd::from_raw_fd(s)) }
    };
    let mut cmd = Command::new(linuxrun());
    cmd.args(["/bin/bash", "--norc", "--noprofile", "-i"])
        .env("PS1", "$ ")
        .env("TERM", "dumb")
        .stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    // SAFETY: only async-signal-safe calls between fork and exec: a new session whose
    // controlling terminal is the pty (stdin).
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY as _, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("linuxrun runs");
    drop(cmd);
    // SAFETY: F_SETFL on our own descriptor.
    unsafe { libc::fcntl(std::os::fd::AsRawFd::as_raw_fd(&master), libc::F_SETFL, libc::O_NONBLOCK) };
    let mut term = PtyTalk { master, seen: String::new() };
    term.step("", "$ ");
    term.command("sleep 30 &\n", "[1]");
    term.command("jobs\n", "Running");
    // Wait for the echo: a Ctrl-Z flushes the terminal's unread input, as on Linux.
    term.step("sleep 30\n", "sleep 30\r\n");
    // Ctrl-Z stops the job once bash has made it the terminal's foreground group; until
    // then bash itself gets (and ignores) it, so press it until the job stops.
    let stopped = (0..100).any(|_| {
        term.send("\x1a");
        term.expect("Stopped", 20)
    });
    assert!(stopped, "Ctrl-Z did not stop the foreground job; the terminal shows {:?}", term.seen);
    assert!(term.expect("$ ", 2000), "no prompt after the stop");
    term.command("jobs\n", "[2]+  Stopped");
    term.command("bg\n", "[2]+ sleep 30 &");
    term.command("kill %1 %2; wait; echo done $?\n", "done 0");
    term.send("exit\n");
    assert_eq!(wait_bounded(&mut child).code(), Some(0));
}

/// Reports to the file named by argv[1] what a program started with closed stdio finds.
const CLOSED_STDIO: &str = r#"
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(int argc, char **argv) {
    int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dprintf(out, "report fd %d\n", out);
    for (int fd = 0; fd < 3; fd++) {
        errno = 0;
        int r = fcntl(fd, F_GETFD);
        dprintf(out, "fd %d: %d errno %d\n", fd, r < 0 ? -1 : 0, errno);
    }
    errno = 0;
    long w = write(2, "x", 1);
    dprintf(out, "write(2): %ld errno %d\n", w, errno);
    dprintf(out, "next open: %d\n", open("/dev/null", O_RDONLY));
    return 0;
}
"#;

/// Runs `argv` through sh with the redirections `redirect` (e.g. ">&-"); returns its output.
fn run_redirected(redirect: &str, argv: &[&str]) -> Output {
    let script = format!("\"$@\" {redirect}");
    Command::new("/bin/sh").arg("-c").arg(script).arg("sh").args(argv).output().expect("sh runs")
}

#[test]
fn stdio_closed_at_start_stays_closed_for_the_program() {
    if !kvm_available() {
        return;
    }
    let exe = build("closed_stdio", CLOSED_STDIO);
    let exe = exe.to_str().unwrap();
    let report = |name: &str| exe.to_string() + name;
    for redirect in ["<&- >&- 2>&-", ">&-", "2>&-", "<&-"] {
        run_redirected(redirect, &[exe, &report(".native")]);
        run_redirected(redirect, &[linuxrun(), exe, &report(".linuxrun")]);
        let native = std::fs::read_to_string(report(".native")).unwrap();
        let ours = std::fs::read_to_string(report(".linuxrun")).unwrap();
        assert_eq!(ours, native, "with {redirect}");
    }
    // A shell that cannot write reports the error and fails, as natively.
    let native = run_redirected(">&-", &["/bin/sh", "-c", "echo hi"]);
    let ours = run_redirected(">&-", &[linuxrun(), "/bin/sh", "-c", "echo hi"]);
    assert_eq!(ours.status.code(), native.status.code());
    assert_eq!(text(&ours.stderr), text(&native.stderr));
}

/// Touches 512 MiB of anonymous memory.
const TOUCH_512M: &str = r#"
#include <stdio.h>
#include <sys/mman.h>
int main(void) {
    size_t len = 512ul << 20;
    char *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) { perror("mmap"); return 3; }
    for (size_t i = 0; i < len; i += 4096) p[i] = 1;
    printf("touched all\n");
    return 0;
}
"#;

#[test]
fn running_out_of_guest_memory_kills_like_the_oom_killer_and_says_so() {
    if !kvm_available() {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let exe = build("touch_512m", TOUCH_512M);
    let out = run(&["--memory", "256M"], &exe);
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{out:?}");
    assert!(out.stdout.is_empty());
    let stderr = text(&out.stderr);
    assert_eq!(stderr.matches("linuxrun: guest memory (--memory 256M) ran out").count(), 1, "{stderr}");
}

const GROUPS: &str = r#"
#include <stdio.h>
#include <unistd.h>
int main(void) {
    gid_t g[64];
    int n = getgroups(64, g);
    printf("%d:", n);
    for (int i = 0; i < n; i++) printf(" %u", g[i]);
    printf("\n");
    return 0;
}
"#;

/// getgroups shows the supplementary groups the program was started with, as natively
/// (issue 27 item 7: a root program saw none). setpriv gives them, which needs root.
#[test]
fn getgroups_shows_the_supplementary_groups() {
    if !kvm_available() {
        return;
    }
    if !Path::new("/usr/bin/setpriv").exists() || !rustix::process::geteuid().is_root() {
        skip("needs root and setpriv to start a program with supplementary groups");
        return;
    }
    let exe = build("groups", GROUPS);
    let with_groups = |inside: bool| {
        let mut c = Command::new("/usr/bin/setpriv");
        c.args(["--groups", "5,6,100", "--"]);
        if inside {
            c.arg(linuxrun());
        }
        text(&c.arg(&exe).output().unwrap().stdout)
    };
    let native = with_groups(false);
    assert_eq!(native, "3: 5 6 100\n");
    assert_eq!(with_groups(true), native);
}

/// RLIMIT_NOFILE reads as the host's, soft and hard: as inherited, with soft = hard (where
/// linuxrun without CAP_SYS_RESOURCE has no room above the limit for its own descriptors),
/// and with room.
#[test]
fn the_fd_limits_read_as_the_hosts() {
    if !kvm_available() {
        return;
    }
    let show = "ulimit -Sn; ulimit -Hn; ulimit -n 100 && ulimit -Sn";
    for outer in ["", "ulimit -n 1000;", "ulimit -Sn 700;"] {
        let sh = |inner: String| {
            let out = Command::new("/bin/sh").args(["-c", &format!("{outer} {inner}")]).output().expect("sh runs");
            text(&out.stdout)
        };
        let native = sh(format!("/bin/sh -c '{show}'"));
        let under = sh(format!("exec {} /bin/sh -c '{show}'", linuxrun()));
        assert_eq!(under, native, "after `{outer}`");
    }
}

const FORKS: &str = r#"
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
int main(void) {
    pid_t pid = fork();
    if (pid == 0)
        _exit(3);
    int status;
    waitpid(pid, &status, 0);
    printf("child %d\n", WEXITSTATUS(status));
    return 7;
}
"#;

/// `-v` says where a process's start and end went: one timing line per process (the first
/// from linuxrun's `main`, a forked child's from its fork), the guest kernel's boot among
/// the monitor's phases.
#[test]
fn verbose_times_each_process_by_phase() {
    if !kvm_available() {
        return;
    }
    let exe = build("forks_timing", FORKS);
    let out = run(&["-v"], &exe);
    assert_eq!(out.status.code(), Some(7));
    assert_eq!(out.stdout, b"child 3\n");
    let said = text(&out.stderr);
    let lines: Vec<&str> = said.lines().filter(|l| l.contains("timing (pid ")).collect();
    assert_eq!(lines.len(), 2, "one line per process: {said}");
    let first = lines.iter().find(|l| l.contains("main to end")).expect("the first process's line");
    for phase in ["VM create", "memory slots", "boot image", "guest boot and program load", "program run", "teardown"] {
        assert!(first.contains(&format!(" {phase} ")), "{phase} in {first}");
    }
    assert!(first.contains(" hypercalls)"), "the boot's hypercalls counted: {first}");
    let child = lines.iter().find(|l| l.contains("fork asked to end")).expect("the child's line");
    for phase in ["host fork", "VM create", "memory slots", "vCPU state restore", "program run", "teardown"] {
        assert!(child.contains(&format!(" {phase} ")), "{phase} in {child}");
    }
    // Without -v, no such line.
    let quiet = run(&[], &exe);
    assert!(!text(&quiet.stderr).contains("timing ("));
}

/// Threads made one after another, each joined before the next is made (the pattern of
/// a program that runs short jobs on fresh threads); then a fork from the first thread,
/// whose child makes a thread too, and a thread that forks.
const THREADS_ONE_AFTER_ANOTHER: &str = r#"
#define _GNU_SOURCE
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
static atomic_int done;
static void *body(void *arg) {
    *(pid_t *)arg = syscall(SYS_gettid);
    atomic_store(&done, 1);
    return arg;
}
/* One thread: it must run, have an id of its own and hand back its value. */
static int one_thread(void) {
    pid_t tid = 0;
    pthread_t t;
    void *r;
    atomic_store(&done, 0);
    if (pthread_create(&t, NULL, body, &tid) != 0)
        return 1;
    while (!atomic_load(&done))
        ;
    if (pthread_join(t, &r) != 0 || r != &tid || tid <= 0 || tid == getpid())
        return 1;
    return 0;
}
static void *forks(void *arg) {
    (void)arg;
    pid_t pid = fork();
    if (pid == 0)
        _exit(one_thread() ? 5 : 6);
    int status;
    waitpid(pid, &status, 0);
    return (void *)(long)WEXITSTATUS(status);
}
int main(void) {
    int bad = 0;
    for (int i = 0; i < 300; i++)
        bad += one_thread();
    /* Right after a thread ended: its vCPU may still wait in the guest, which a child
       has not got (the child's thread must get a vCPU of its own). */
    pid_t pid = fork();
    if (pid == 0)
        _exit(one_thread() ? 3 : 4);
    int status;
    waitpid(pid, &status, 0);
    pthread_t t;
    void *r = 0;
    bad += one_thread();
    if (pthread_create(&t, NULL, forks, NULL) != 0 || pthread_join(t, &r) != 0)
        bad++;
    printf("bad %d, child %d, thread's child %ld\n", bad, WEXITSTATUS(status), (long)r);
    return 0;
}
"#;

/// A thread made just after another ended starts on the ended thread's vCPU, which waits
/// in the guest for a while (no exit to start it, no host thread to wake): the -v summary
/// counts such starts. Forks from the first thread and from another, each with a thread
/// in the child, still work while a vCPU waits.
#[test]
fn a_new_thread_starts_on_an_ended_threads_waiting_vcpu() {
    if !kvm_available() {
        return;
    }
    let exe = build_with("threads_one_after_another", THREADS_ONE_AFTER_ANOTHER, &["-static", "-pthread"]);
    let out = run(&["-v"], &exe);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "bad 0, child 4, thread's child 6\n");
    let said = text(&out.stderr);
    let summary = said.lines().find(|l| l.contains("threads started on a vCPU waiting in the guest"));
    let count = summary
        .and_then(|l| l.split(" KiB given back").nth(1))
        .and_then(|rest| rest.split(", ").nth(1).and_then(|s| s.split(' ').next()).and_then(|n| n.parse::<u64>().ok()));
    // 300 threads one after another: on a busy machine some ended vCPUs give up waiting
    // before the next thread is made, but not every one.
    assert!(count.is_some_and(|n| n > 0), "no thread started in the guest: {said}");
}
