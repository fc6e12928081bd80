//! Debugging a program under linuxrun: Debian's gdb, in batch mode, attached to
//! `linuxrun --gdb 0` (a free port, which linuxrun prints). These run the real binary in a
//! VM, so they need /dev/kvm and gdb; without them a test checks nothing and says so (see
//! support::skip); under CI a missing prerequisite fails the test.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

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
    let mut cmd = Command::new(linuxrun());
    cmd.args(["--gdb", "0"]).arg(program);
    debug_with(cmd, program, commands)
}

/// `debug` with linuxrun started by `cmd` (in a directory of its own, with limits).
fn debug_with(mut cmd: Command, program: &Path, commands: &[&str]) -> Session {
    let mut child =
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("linuxrun starts");
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

/// The first file in `dir` whose name starts with "core".
fn core_file(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("core")))
}

/// Run `program` under linuxrun in `dir` with RLIMIT_CORE `limit` (as `ulimit -c`).
fn run_crashing(dir: &Path, program: &Path, limit: &str) -> std::process::Output {
    Command::new("/bin/sh")
        .args(["-c", &format!("ulimit -c {limit}; exec \"$0\" \"$1\""), linuxrun()])
        .arg(program)
        .current_dir(dir)
        .output()
        .expect("linuxrun runs")
}

/// Whether the host's core_pattern lets linuxrun's wait status show WCOREDUMP (a file
/// name relative to the working directory; see startup::die_with_core).
fn host_pattern_is_relative() -> bool {
    std::fs::read_to_string("/proc/sys/kernel/core_pattern")
        .is_ok_and(|p| !p.trim().is_empty() && !p.starts_with('|') && !p.starts_with('/'))
}

/// A SIGSEGV with `ulimit -c unlimited` leaves a core file in the working directory that
/// gdb opens: the backtrace names the crashing function and its caller, a global reads
/// back; the wait status says the core was dumped. With `ulimit -c 0` there is none.
#[test]
fn a_crash_leaves_a_core_file_gdb_opens() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    for (flavour, flags) in [("static", &["-static"][..]), ("dynamic", &[][..])] {
        let exe = build_debug(&format!("core_crash_{flavour}"), CRASH, flags);
        let dir = exe.with_extension("dir");
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let out = run_crashing(&dir, &exe, "unlimited");
        assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{flavour}: {}", text(&out.stderr));
        if host_pattern_is_relative() {
            assert!(out.status.core_dumped(), "{flavour}: WCOREDUMP");
        }
        let core = core_file(&dir).unwrap_or_else(|| panic!("{flavour}: no core file in {}", dir.display()));
        let gdb = Command::new("gdb")
            .args(["-nx", "-batch", "-ex", "bt", "-ex", "p target", "-ex", "info sharedlibrary"])
            .arg(&exe)
            .arg(&core)
            .output()
            .unwrap();
        let said = text(&gdb.stdout) + &text(&gdb.stderr);
        assert!(said.contains("Program terminated with signal SIGSEGV"), "{flavour}: {said}");
        assert!(has_line(&said, &["#0  0x", " in crash_here (n=7) at ", "/core_crash_"]), "{flavour}: {said}");
        assert!(has_line(&said, &["#1  0x", " in main () at "]), "{flavour}: {said}");
        assert!(said.contains("= (int * volatile) 0x0"), "{flavour}: {said}");
        if flavour == "dynamic" {
            assert!(has_line(&said, &["Yes", "libc.so.6"]), "{flavour}: the libraries are found: {said}");
        }
        std::fs::remove_file(&core).unwrap();
        let out = run_crashing(&dir, &exe, "0");
        assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{flavour}");
        assert!(!out.status.core_dumped(), "{flavour}: no core with ulimit -c 0");
        assert!(core_file(&dir).is_none(), "{flavour}: no core with ulimit -c 0");
    }
}

const ABORTS: &str = r#"#include <stdlib.h>
#include <stdio.h>
static void give_up(void) { fputs("giving up\n", stderr); abort(); }
int main(void) { give_up(); return 0; }
"#;

/// abort(): SIGABRT dumps core too; the backtrace goes through abort to the caller.
#[test]
fn an_abort_leaves_a_core_file() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    use std::os::unix::process::ExitStatusExt;
    let exe = build_debug("core_abort", ABORTS, &[]);
    let dir = exe.with_extension("dir");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = run_crashing(&dir, &exe, "unlimited");
    assert_eq!(out.status.signal(), Some(libc::SIGABRT), "{}", text(&out.stderr));
    let core = core_file(&dir).expect("a core file");
    let gdb = Command::new("gdb").args(["-nx", "-batch", "-ex", "bt"]).arg(&exe).arg(&core).output().unwrap();
    let said = text(&gdb.stdout) + &text(&gdb.stderr);
    assert!(said.contains("Program terminated with signal SIGABRT"), "{said}");
    assert!(has_line(&said, &[" in give_up () at "]), "{said}");
    assert!(has_line(&said, &[" in main () at "]), "{said}");
}

const THREADS: &str = r#"#include <pthread.h>
#include <unistd.h>
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t never = PTHREAD_COND_INITIALIZER;
int ready;
int fds[2];
volatile unsigned long spins;
void *waits_on_condvar(void *arg) {
    pthread_mutex_lock(&lock);
    ready++;
    for (;;)
        pthread_cond_wait(&never, &lock);
    return arg;
}
void *reads_a_pipe(void *arg) {
    char c;
    pthread_mutex_lock(&lock);
    ready++;
    pthread_mutex_unlock(&lock);
    read(fds[0], &c, 1);
    return arg;
}
void *spins_in_user_code(void *arg) {
    pthread_mutex_lock(&lock);
    ready++;
    pthread_mutex_unlock(&lock);
    for (;;)
        spins++;
    return arg;
}
int *volatile target = 0;
void crash_here(void) { *target = 1; }
int main(void) {
    void *(*run[3])(void *) = { waits_on_condvar, reads_a_pipe, spins_in_user_code };
    pthread_t t;
    if (pipe(fds))
        return 1;
    for (int i = 0; i < 3; i++)
        pthread_create(&t, 0, run[i], 0);
    for (;;) {
        pthread_mutex_lock(&lock);
        int n = ready;
        pthread_mutex_unlock(&lock);
        if (n == 3 && spins)
            break;
        usleep(1000);
    }
    /* Time for the others to be well inside their calls. */
    usleep(300000);
    crash_here();
    return 0;
}
"#;

/// gdb's `thread apply all bt`: each thread's functions, innermost first (a thread's
/// header is "Thread 2 (Thread ...):", not "Thread 2 hit Breakpoint ...").
fn thread_backtraces(said: &str) -> Vec<Vec<String>> {
    let mut threads: Vec<Vec<String>> = Vec::new();
    for line in said.lines() {
        if line.starts_with("Thread ") && line.ends_with("):") {
            threads.push(Vec::new());
        } else if let (Some(frame), Some(t)) = (line.strip_prefix('#'), threads.last_mut()) {
            // "#1  0x... in start_thread (arg=...) at ..." or "#0  spins_in_user_code (...".
            let rest = frame.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
            let rest = if rest.starts_with("0x") { rest.split_once(" in ").map_or("", |(_, r)| r) } else { rest };
            t.push(rest.split(" (").next().unwrap_or("").to_owned());
        }
    }
    threads
}

/// gdb's `info threads`: the lines naming a thread (its id, target id, frame).
fn thread_lines(said: &str) -> Vec<&str> {
    said.lines()
        .filter(|l| {
            let l = l.trim_start_matches(['*', ' ']);
            l.split_whitespace().next().is_some_and(|id| id.parse::<u32>().is_ok()) && l.contains("LWP ")
        })
        .collect()
}

/// A threaded program's crash leaves every thread in the core: one waiting on a condition
/// variable (a futex in the guest), one blocked in a read of a pipe (a host call), one
/// spinning in user code, and the main thread, which dies of SIGSEGV. gdb lists the four,
/// the one that died first, and unwinds each into its own function; where the host
/// dumps cores into the working directory, the threads' backtraces are those of the
/// program's core from Linux.
#[test]
fn a_threaded_crash_leaves_every_thread_in_the_core() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("core_threads", THREADS, &["-pthread"]);
    let dir = exe.with_extension("dir");
    let gdb_on = |core: &Path| {
        let out = Command::new("gdb")
            .args(["-nx", "-batch", "-iex", "set debuginfod enabled off"])
            .args(["-ex", "info threads", "-ex", "thread apply all bt"])
            .arg(&exe)
            .arg(core)
            .output()
            .unwrap();
        text(&out.stdout) + &text(&out.stderr)
    };
    let fresh_dir = || {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
    };
    fresh_dir();
    let out = run_crashing(&dir, &exe, "unlimited");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGSEGV), "{}", text(&out.stderr));
    let core = core_file(&dir).unwrap_or_else(|| panic!("no core file in {}", dir.display()));
    let said = gdb_on(&core);
    assert!(said.contains("Program terminated with signal SIGSEGV"), "{said}");
    let listed = thread_lines(&said);
    assert_eq!(listed.len(), 4, "four threads: {said}");
    assert!(listed[0].starts_with('*') && listed[0].contains("crash_here"), "the thread that died is current: {said}");
    let mut lwps: Vec<&str> = listed.iter().filter_map(|l| l.split("LWP ").nth(1)?.split(')').next()).collect();
    lwps.sort_unstable();
    lwps.dedup();
    assert_eq!(lwps.len(), 4, "each thread its own id: {said}");
    let got = thread_backtraces(&said);
    assert_eq!(got.len(), 4, "{said}");
    // The program's own functions (the C library's may have no names: Debian strips them).
    assert!(got.iter().any(|t| t.starts_with(&["crash_here".to_owned(), "main".to_owned()])), "{said}");
    for func in ["crash_here", "waits_on_condvar", "reads_a_pipe", "spins_in_user_code"] {
        let found = got.iter().filter(|t| t.iter().any(|f| f == func)).count();
        assert_eq!(found, 1, "one thread in {func}: {said}");
    }
    let spinner = got.iter().find(|t| t.iter().any(|f| f == "spins_in_user_code"));
    assert_eq!(spinner.and_then(|t| t.first()).map(String::as_str), Some("spins_in_user_code"), "{said}");
    // The same program's core from Linux, where the host writes one here.
    fresh_dir();
    let native = Command::new("/bin/sh")
        .args(["-c", "ulimit -c unlimited; exec \"$0\""])
        .arg(&exe)
        .current_dir(&dir)
        .output()
        .unwrap();
    assert_eq!(native.status.signal(), Some(libc::SIGSEGV));
    match core_file(&dir) {
        Some(native_core) => {
            let native_said = gdb_on(&native_core);
            let (mut got, mut want) = (got, thread_backtraces(&native_said));
            got.sort();
            want.sort();
            assert_eq!(got, want, "linuxrun's core:\n{said}\nLinux's:\n{native_said}");
        }
        None => eprintln!("the host wrote no core of the native run here: compared with the expected functions only"),
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const SPINS: &str = r#"#include <stdio.h>
#include <unistd.h>
volatile long spins;
int main(void) {
    puts("running"); fflush(stdout);
    for (;;) { spins++; if (spins % 1000000 == 0) getppid(); }
}
"#;

/// Ctrl-C in gdb (SIGINT to gdb) stops a program that runs forever, as on Linux: gdb
/// reports SIGINT where it is, with a backtrace into main, and `kill` ends it (and
/// linuxrun).
#[test]
fn gdb_ctrl_c_stops_a_running_program() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("gdb_spins", SPINS, &[]);
    let mut child = Command::new(linuxrun())
        .args(["--gdb", "0"])
        .arg(&exe)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let port: u16 = first.split("127.0.0.1:").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
    let gdb = Command::new("gdb")
        .args(["-nx", "-batch", "-ex", "set remotetimeout 60", "-ex"])
        .arg(format!("target remote 127.0.0.1:{port}"))
        .args(["-ex", "continue", "-ex", "bt", "-ex", "kill"])
        .arg(&exe)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Once the program runs (it says so, then never ends by itself), Ctrl-C.
    let mut running = String::new();
    stdout.read_line(&mut running).unwrap();
    assert_eq!(running, "running\n");
    let out = interrupt_until_done(gdb);
    let said = text(&out.stdout) + &text(&out.stderr);
    let status = child.wait().unwrap();
    assert!(said.contains("Program received signal SIGINT"), "{said}");
    // Wherever it was: in the loop, or still in the write of its "running" line.
    assert!(has_line(&said, &["main () at ", "/gdb_spins.c:"]), "{said}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(status.signal(), Some(libc::SIGKILL), "gdb's kill ends linuxrun: {said}");
}

/// `strace` run under linuxrun traces a static program run under linuxrun (a tracer and a
/// tracee in two VMs, through their monitors: docs/debugging.md, "ptrace inside the
/// guest"), and prints what native strace prints for it.
#[test]
fn strace_under_linuxrun_traces_a_program_under_linuxrun() {
    if !kvm_available() {
        return;
    }
    let native = |args: &[&str]| Command::new("strace").args(args).output();
    let exe = support::build_with(
        "strace_traced",
        "#include <unistd.h>\n#include <sys/syscall.h>\nint main(void) {\n    write(1, \"traced\\n\", 7);\n    \
         syscall(SYS_close, -1);\n    _exit(3);\n}\n",
        &["-static"],
    );
    let exe = exe.to_str().unwrap();
    let args = ["-e", "trace=write,close,exit_group", exe];
    let Ok(want) = native(&args) else {
        skip("strace is not installed");
        return;
    };
    if want.status.code() != Some(3) {
        skip("native strace cannot trace here (ptrace not permitted?)");
        return;
    }
    let got = Command::new(linuxrun()).arg("/usr/bin/strace").args(args).output().unwrap();
    let ctx = format!("native:\n{}\nlinuxrun:\n{}", text(&want.stderr), text(&got.stderr));
    assert_eq!(text(&got.stdout), "traced\n", "{ctx}");
    assert_eq!(text(&got.stderr), text(&want.stderr), "{ctx}");
    assert_eq!(got.status.code(), Some(3), "{ctx}");
}

/// `strace -f` under linuxrun follows a fork and the child's exec (issue 26's test for
/// ptrace inside the guest): each line native strace prints for the child and the parent
/// is printed, pids aside. The order of the two processes' lines is the scheduler's, so
/// the lines are compared as sets.
#[test]
fn strace_f_under_linuxrun_follows_fork_and_exec() {
    if !kvm_available() {
        return;
    }
    let exe = support::build_with(
        "strace_forker",
        "#include <stdio.h>\n#include <unistd.h>\n#include <sys/wait.h>\n#include <sys/syscall.h>\n\
         int main(int argc, char **argv) {\n    if (argc > 1) { syscall(SYS_write, 1, \"child\\n\", 6); return 4; }\n    \
         pid_t p = fork();\n    if (p == 0) { execl(argv[0], argv[0], \"x\", (char *)0); _exit(9); }\n    \
         int st; waitpid(p, &st, 0);\n    printf(\"child status %d\\n\", WEXITSTATUS(st));\n    return 0;\n}\n",
        &["-static"],
    );
    let exe = exe.to_str().unwrap();
    let args = ["-f", "-qq", "-e", "trace=execve,write,exit_group", "-e", "signal=none", exe];
    let Ok(want) = Command::new("strace").args(args).output() else {
        skip("strace is not installed");
        return;
    };
    if !want.status.success() {
        skip("native strace cannot trace here (ptrace not permitted?)");
        return;
    }
    let got = Command::new(linuxrun()).arg("/usr/bin/strace").args(args).output().unwrap();
    // "[pid 1234] " and the environment's address differ; strace splits a line that
    // another process's line interrupts ("<unfinished ...>"), which this program avoids.
    let lines = |out: &[u8]| {
        let mut v: Vec<String> = text(out)
            .lines()
            .map(|l| {
                let l = l.split_once("] ").filter(|_| l.starts_with("[pid ")).map_or(l, |(_, rest)| rest);
                match l.find(", 0x") {
                    Some(i) if l.starts_with("execve(") => l[..i].to_owned(),
                    _ => l.to_owned(),
                }
            })
            .collect();
        v.sort();
        v
    };
    let ctx = format!("native:\n{}\nlinuxrun:\n{}", text(&want.stderr), text(&got.stderr));
    assert_eq!(lines(&got.stderr), lines(&want.stderr), "{ctx}");
    assert_eq!(text(&got.stdout), "child\nchild status 4\n", "{ctx}");
    assert_eq!(got.status.code(), Some(0), "{ctx}");
}

/// Debian's gdb run under linuxrun debugs a program it starts under linuxrun with ptrace:
/// a breakpoint, a backtrace, a variable, and the crash.
#[test]
fn gdb_under_linuxrun_debugs_a_program_under_linuxrun() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe =
        build_debug("gdb_inside", "int f(int *p) { return *p; }\nint main(void) { return f(0); }\n", &["-static"]);
    let out = Command::new(linuxrun())
        .args(["/usr/bin/gdb", "-nx", "-batch", "-ex", "set startup-with-shell off", "-ex", "break f"])
        .args(["-ex", "run", "-ex", "bt", "-ex", "p p", "-ex", "continue"])
        .arg(&exe)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let gdb = format!("{}{}", text(&out.stdout), text(&out.stderr));
    assert!(has_line(&gdb, &["Breakpoint 1, f (p=0x0) at ", "gdb_inside.c:1"]), "{gdb}");
    assert!(has_line(&gdb, &["#1  ", " in main () at ", "gdb_inside.c:2"]), "{gdb}");
    assert!(gdb.contains("$1 = (int *) 0x0"), "{gdb}");
    assert!(gdb.contains("Program received signal SIGSEGV, Segmentation fault."), "{gdb}");
}

/// A program that says "ready", then blocks reading its stdin and reports the count: the
/// target of `strace -p` and `gdb -p`.
const WAITER: &str = "#include <stdio.h>\n#include <unistd.h>\nint main(void) {\n    char buf[64];\n    \
                      write(1, \"ready\\n\", 6);\n    long n = read(0, buf, sizeof buf);\n    \
                      printf(\"got %ld\\n\", n);\n    return 0;\n}\n";

/// Start `program` (under linuxrun when `under`) with piped stdin and stdout, and wait
/// until it says it is ready: its pid is then the process to attach to.
fn start_waiter(program: &Path, under: bool) -> (std::process::Child, BufReader<std::process::ChildStdout>) {
    let mut cmd = if under {
        let mut c = Command::new(linuxrun());
        c.arg(program);
        c
    } else {
        Command::new(program)
    };
    let mut child = cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().expect("the waiter starts");
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line, "ready\n");
    (child, out)
}

/// Run `tracer` (under linuxrun when `under`) against the waiter, natively or under
/// linuxrun like it (`PID` in `tracer` is its pid). With `attached`, the waiter gets its
/// line once the tracer's stderr has a line holding it (the tracer is attached and lets
/// it run); without, once the tracer is done. Returns the tracer's output (stdout, then
/// stderr) and what the waiter printed after "ready".
fn attach_to_waiter(program: &Path, under: bool, tracer: &[&str], attached: Option<&str>) -> (String, String) {
    let (mut waiter, mut waiter_out) = start_waiter(program, under);
    let pid = waiter.id().to_string();
    let args: Vec<&str> = tracer.iter().map(|a| if *a == "PID" { pid.as_str() } else { a }).collect();
    let mut cmd = if under { Command::new(linuxrun()) } else { Command::new(args[0]) };
    cmd.args(if under { &args[..] } else { &args[1..] });
    let mut t = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().expect("tracer starts");
    let mut err = BufReader::new(t.stderr.take().unwrap());
    let mut seen = String::new();
    if let Some(marker) = attached {
        let mut line = String::new();
        while !seen.contains(marker) {
            line.clear();
            if err.read_line(&mut line).unwrap() == 0 {
                break;
            }
            seen.push_str(&line);
        }
    } else {
        err.read_to_string(&mut seen).unwrap();
    }
    let mut stdin = waiter.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, b"hello\n").unwrap();
    drop(stdin);
    let mut rest = String::new();
    err.read_to_string(&mut rest).unwrap();
    seen.push_str(&rest);
    let mut out = String::new();
    t.stdout.take().unwrap().read_to_string(&mut out).unwrap();
    t.wait().unwrap();
    let mut waited = String::new();
    waiter_out.read_to_string(&mut waited).unwrap();
    waiter.wait().unwrap();
    (format!("{out}{seen}"), waited)
}

/// `strace -p PID` under linuxrun attaches to a program under linuxrun blocked in a read
/// (PTRACE_SEIZE and PTRACE_INTERRUPT, as strace does it) and prints what native strace
/// prints attached to the same program run natively: the write after the read, the exit
/// (the "Process N attached" line aside, whose pid differs).
#[test]
fn strace_p_under_linuxrun_attaches_to_a_program_under_linuxrun() {
    if !kvm_available() {
        return;
    }
    if Command::new("strace").arg("-V").output().is_err() {
        skip("strace is not installed");
        return;
    }
    let exe = support::build_with("strace_waiter", WAITER, &["-static"]);
    // Only the write: whether the read shows depends on whether the line came before the
    // interrupt took effect (natively too).
    let tracer = ["/usr/bin/strace", "-e", "trace=write", "-p", "PID"];
    let calls = |out: &str| out.lines().filter(|l| !l.contains(" attached")).collect::<Vec<_>>().join("\n");
    let (want, want_out) = attach_to_waiter(&exe, false, &tracer, Some(" attached"));
    if !want.contains("+++ exited with 0 +++") {
        skip("native strace cannot attach here (ptrace not permitted?)");
        return;
    }
    let (got, got_out) = attach_to_waiter(&exe, true, &tracer, Some(" attached"));
    assert!(got.contains(" attached"), "{got}");
    assert_eq!(calls(&got), calls(&want), "native:\n{want}\nlinuxrun:\n{got}");
    assert_eq!(got_out, "got 6\n");
    assert_eq!(want_out, "got 6\n");
}

/// `gdb -p PID` under linuxrun attaches to a program under linuxrun (PTRACE_ATTACH and
/// its SIGSTOP), shows where it waits, and detaches; the program then runs on.
#[test]
fn gdb_p_under_linuxrun_attaches_to_a_program_under_linuxrun() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("gdb_waiter", WAITER, &["-static"]);
    let exe_s = exe.to_str().unwrap();
    let tracer = ["/usr/bin/gdb", "-nx", "-batch", "-ex", "bt", "-ex", "detach", exe_s, "PID"];
    let (got, waited) = attach_to_waiter(&exe, true, &tracer, None);
    assert!(has_line(&got, &["#1  ", " in main () at ", "gdb_waiter.c:6"]), "{got}");
    assert!(has_line(&got, &["[Inferior 1 (process ", ") detached]"]), "{got}");
    assert_eq!(waited, "got 6\n", "{got}");
}

/// `info proc mappings` reads the program's own /proc/PID/maps (host I/O, answered from the
/// guest kernel's /proc), and `info proc` its command line, executable and working
/// directory: what the program sees, not the monitor's host process.
#[test]
fn gdb_info_proc_shows_the_programs_own_maps() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("gdb_maps", PROGRAM, &[]);
    let s = debug(&exe, &["break main", "continue", "info proc mappings", "info proc", "kill"]);
    let ctx = format!("gdb said:\n{}\nlinuxrun said:\n{}", s.gdb, s.stderr);
    let path = exe.to_str().unwrap();
    assert!(s.gdb.contains("process 1"), "{ctx}");
    assert!(has_line(&s.gdb, &["0x", "r-xp", path]), "the program's text: {ctx}");
    assert!(has_line(&s.gdb, &["0x", "rw-p", path]), "the program's data: {ctx}");
    assert!(has_line(&s.gdb, &["0x", "libc.so.6"]), "{ctx}");
    assert!(has_line(&s.gdb, &["0x", "[stack]"]), "{ctx}");
    assert!(!s.gdb.contains(linuxrun()), "nothing of the monitor's own process: {ctx}");
    assert!(s.gdb.contains(&format!("cmdline = '{path}'")), "{ctx}");
    assert!(s.gdb.contains(&format!("exe = '{path}'")), "{ctx}");
    let cwd = std::env::current_dir().unwrap();
    assert!(s.gdb.contains(&format!("cwd = '{}'", cwd.display())), "{ctx}");
}

const SIGNALS: &str = r#"#include <signal.h>
#include <unistd.h>
int *volatile target = (int *)0x1234;
static void on_usr1(int sig) { (void)sig; }
int main(void) {
    signal(SIGUSR1, on_usr1);
    kill(getpid(), SIGUSR1);
    *target = 1;
    return 0;
}
"#;

/// `$_siginfo` (qXfer:siginfo:read) at a breakpoint (SIGTRAP, SI_KERNEL as Linux's int3
/// gives), at a kill (SIGUSR1, SI_USER, the sender's pid) and at a fault (SIGSEGV,
/// SEGV_MAPERR, the faulting address).
#[test]
fn gdb_siginfo_says_why_the_program_stopped() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("gdb_siginfo", SIGNALS, &["-static"]);
    let s = debug(
        &exe,
        &[
            "break main",
            "continue",
            "p $_siginfo.si_signo",
            "p $_siginfo.si_code",
            "continue",
            "p $_siginfo.si_signo",
            "p $_siginfo.si_code",
            "set $sender = $_siginfo._sifields._kill.si_pid",
            "p $sender == (int) getpid()",
            "continue",
            "p $_siginfo.si_signo",
            "p $_siginfo.si_code",
            "p $_siginfo._sifields._sigfault.si_addr",
            "kill",
        ],
    );
    let ctx = format!("gdb said:\n{}\nlinuxrun said:\n{}", s.gdb, s.stderr);
    let want = ["$1 = 5", "$2 = 128", "$3 = 10", "$4 = 0", "$5 = 1", "$6 = 11", "$7 = 1", "$8 = (void *) 0x1234"];
    for w in want {
        assert!(s.gdb.lines().any(|l| l == w), "{w}: {ctx}");
    }
    assert!(s.gdb.contains("Program received signal SIGUSR1"), "{ctx}");
    assert!(s.gdb.contains("Program received signal SIGSEGV"), "{ctx}");
}

const WATCHED: &str = r#"int counter;
int other;
void bump(void) { counter += 5; }
int main(void) {
    other = 1;
    bump();
    other = counter;
    bump();
    bump();
    return counter;
}
"#;

/// Watchpoints are gdb's software ones (`set can-use-hw-watchpoints 0`: gdb single-steps
/// and compares): kvm_pvm never arms the debug registers (docs/debugging.md, "Hardware
/// breakpoints and watchpoints"), so the stub offers none, and a `watch` left to try
/// hardware fails to insert. The software watchpoint stops after each write that changes
/// the variable.
#[test]
fn gdb_software_watchpoints_stop_where_a_variable_changes() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("gdb_watch", WATCHED, &["-static"]);
    let s = debug(
        &exe,
        &[
            "break main",
            "continue",
            "delete",
            "set can-use-hw-watchpoints 0",
            "watch counter",
            "continue",
            "continue",
            "delete",
            "continue",
        ],
    );
    let ctx = format!("gdb said:\n{}\nlinuxrun said:\n{}", s.gdb, s.stderr);
    assert!(s.gdb.contains("Watchpoint 2: counter"), "{ctx}");
    assert!(s.gdb.contains("Old value = 0\nNew value = 5"), "{ctx}");
    assert!(s.gdb.contains("Old value = 5\nNew value = 10"), "{ctx}");
    assert!(has_line(&s.gdb, &["bump () at ", "/gdb_watch.c:3"]), "{ctx}");
    assert!(s.gdb.contains("exited with code 017"), "{ctx}");
    assert_eq!(s.status.code(), Some(15), "{ctx}");
}

/// gdb's `info threads` of a remote target: the lines naming a thread ("Thread 1.N").
fn remote_thread_lines(said: &str) -> Vec<&str> {
    said.lines()
        .filter(|l| {
            let l = l.trim_start_matches(['*', ' ']);
            l.split_whitespace().next().is_some_and(|id| id.parse::<u32>().is_ok()) && l.contains("Thread 1.")
        })
        .collect()
}

const ALL_STOP: &str = r#"#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t cond = PTHREAD_COND_INITIALIZER;
int ready, done;
int fds[2];
volatile unsigned long counter;
volatile int stop_spinning;
void *waits_on_condvar(void *arg) {
    pthread_mutex_lock(&lock);
    ready++;
    while (!done)
        pthread_cond_wait(&cond, &lock);
    pthread_mutex_unlock(&lock);
    return arg;
}
void *reads_a_pipe(void *arg) {
    char c;
    pthread_mutex_lock(&lock);
    ready++;
    pthread_mutex_unlock(&lock);
    if (read(fds[0], &c, 1) != 1)
        return 0;
    return arg;
}
void *spins_in_user_code(void *arg) {
    pthread_mutex_lock(&lock);
    ready++;
    pthread_mutex_unlock(&lock);
    while (!stop_spinning)
        counter++;
    return arg;
}
void breaks_here(void) {}
void *hits_a_breakpoint(void *arg) {
    breaks_here();
    return arg;
}
int main(void) {
    void *(*run[3])(void *) = { waits_on_condvar, reads_a_pipe, spins_in_user_code };
    pthread_t t[4];
    if (pipe(fds))
        return 1;
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], 0, run[i], 0);
    for (;;) {
        pthread_mutex_lock(&lock);
        int n = ready;
        pthread_mutex_unlock(&lock);
        if (n == 3 && counter)
            break;
        usleep(1000);
    }
    /* Time for the others to be well inside their calls. */
    usleep(100000);
    pthread_create(&t[3], 0, hits_a_breakpoint, 0);
    pthread_join(t[3], 0);
    stop_spinning = 1;
    pthread_join(t[2], 0);
    if (write(fds[1], "x", 1) != 1)
        return 2;
    pthread_join(t[1], 0);
    pthread_mutex_lock(&lock);
    done = 1;
    pthread_cond_broadcast(&cond);
    pthread_mutex_unlock(&lock);
    pthread_join(t[0], 0);
    printf("counted %s\n", counter ? "yes" : "no");
    return 7;
}
"#;

/// gdb's all-stop: when one thread stops at a breakpoint, every other thread is stopped
/// too before gdb hears of it: one spinning in user code (its counter does not move while
/// gdb waits), one waiting on a condition variable (a futex in the guest), one blocked in
/// a read of a pipe (a host call) and the main thread in pthread_join. gdb lists the five
/// and unwinds each into its own function, and `continue` lets the program end normally
/// (the blocked calls go on as if never interrupted).
#[test]
fn gdb_stops_every_thread_at_a_breakpoint() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("gdb_all_stop", ALL_STOP, &["-pthread"]);
    let s = debug(
        &exe,
        &[
            "set debuginfod enabled off",
            "break breaks_here",
            "continue",
            "p counter",
            "shell sleep 0.3",
            "p counter",
            "info threads",
            "thread apply all bt",
            "echo --- steps ---\\n",
            "stepi",
            "stepi",
            "stepi",
            "info threads",
            "continue",
        ],
    );
    let ctx = format!("gdb said:\n{}\nlinuxrun said:\n{}", s.gdb, s.stderr);
    assert!(has_line(&s.gdb, &["hit Breakpoint 1, breaks_here () at ", "/gdb_all_stop.c:"]), "{ctx}");
    let (at_break, after_steps) = s.gdb.split_once("--- steps ---").unwrap_or_else(|| panic!("{ctx}"));
    let value = |n: u32| {
        s.gdb.lines().find_map(|l| l.strip_prefix(&format!("${n} = ")).and_then(|v| v.trim().parse::<u64>().ok()))
    };
    let (first, second) = (value(1), value(2));
    assert!(first.is_some_and(|v| v > 0), "the spinner has counted: {ctx}");
    assert_eq!(first, second, "the spinner is stopped while gdb looks: {ctx}");
    let threads = remote_thread_lines(at_break);
    assert_eq!(threads.len(), 5, "five threads: {ctx}");
    assert!(threads.iter().any(|l| l.starts_with('*') && l.contains("breaks_here")), "{ctx}");
    // A single step lets the others run meanwhile (gdb's default), and its stop stops
    // them all again: every thread is still there, stopped.
    assert_eq!(remote_thread_lines(after_steps).len(), 5, "five threads after the steps: {ctx}");
    let got = thread_backtraces(at_break);
    assert_eq!(got.len(), 5, "{ctx}");
    for func in ["breaks_here", "waits_on_condvar", "reads_a_pipe", "spins_in_user_code", "main"] {
        let found = got.iter().filter(|t| t.iter().any(|f| f == func)).count();
        assert_eq!(found, 1, "one thread in {func}: {ctx}");
    }
    let spinner = got.iter().find(|t| t.iter().any(|f| f == "spins_in_user_code"));
    assert_eq!(spinner.and_then(|t| t.first()).map(String::as_str), Some("spins_in_user_code"), "{ctx}");
    assert!(s.gdb.contains("exited with code 07"), "{ctx}");
    assert_eq!(s.stdout, "counted yes\n", "{ctx}");
    assert_eq!(s.status.code(), Some(7), "{ctx}");
}

const THREADS_RUN_ON: &str = r#"#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t never = PTHREAD_COND_INITIALIZER;
int fds[2];
volatile unsigned long counter;
void *waits_on_condvar(void *arg) {
    pthread_mutex_lock(&lock);
    for (;;)
        pthread_cond_wait(&never, &lock);
    return arg;
}
void *reads_a_pipe(void *arg) {
    char c;
    if (read(fds[0], &c, 1) != 1)
        return 0;
    return arg;
}
void *spins_in_user_code(void *arg) {
    for (;;)
        counter++;
    return arg;
}
int main(void) {
    void *(*run[3])(void *) = { waits_on_condvar, reads_a_pipe, spins_in_user_code };
    pthread_t t;
    if (pipe(fds))
        return 1;
    for (int i = 0; i < 3; i++)
        pthread_create(&t, 0, run[i], 0);
    while (!counter)
        usleep(1000);
    puts("running");
    fflush(stdout);
    pthread_join(t, 0);
    return 0;
}
"#;

/// Ctrl-C in gdb stops a threaded program as a whole (all-stop): gdb reports the SIGINT,
/// the spinning thread's counter stays put while gdb looks, and every thread is listed.
#[test]
#[ignore = "known defect: in one CI run (of some 100 runs) the interrupt never stopped the threaded program and gdb waited for ever (docs/debugging.md); run with --ignored"]
fn gdb_ctrl_c_stops_every_thread() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("gdb_threads_run_on", THREADS_RUN_ON, &["-pthread"]);
    let mut child = Command::new(linuxrun())
        .args(["--gdb", "0"])
        .arg(&exe)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut first = String::new();
    stderr.read_line(&mut first).unwrap();
    let port: u16 = first.split("127.0.0.1:").nth(1).and_then(|r| r.split(' ').next()).unwrap().parse().unwrap();
    let gdb = Command::new("gdb")
        .args(["-nx", "-batch", "-ex", "set remotetimeout 60", "-ex"])
        .arg(format!("target remote 127.0.0.1:{port}"))
        .args(["-ex", "continue", "-ex", "p counter", "-ex", "shell sleep 0.3", "-ex", "p counter"])
        .args(["-ex", "info threads", "-ex", "kill"])
        .arg(&exe)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut running = String::new();
    stdout.read_line(&mut running).unwrap();
    assert_eq!(running, "running\n");
    let out = interrupt_until_done(gdb);
    let said = text(&out.stdout) + &text(&out.stderr);
    // gdb's `kill` ended the program; if gdb gave up instead, end it here.
    let _ = child.kill();
    let _ = child.wait();
    assert!(said.contains("received signal SIGINT"), "{said}");
    let value = |n: u32| said.lines().find_map(|l| l.strip_prefix(&format!("${n} = "))?.trim().parse::<u64>().ok());
    assert!(value(1).is_some_and(|v| v > 0), "{said}");
    assert_eq!(value(1), value(2), "the spinner is stopped while gdb looks: {said}");
    assert_eq!(remote_thread_lines(&said).len(), 4, "four threads: {said}");
}

/// Ctrl-C for gdb, as a terminal gives it: SIGINT, then its output once it has run its
/// commands. gdb takes a SIGINT for the program only once it waits for the program's stop
/// (one that comes while it still sends `continue` is lost, and it would wait for ever),
/// so the signal is sent again every few seconds, far apart enough that a second one
/// cannot catch gdb waiting for a stop it already asked for (in batch mode gdb would then
/// give up waiting). A gdb still there after that is killed, and the test fails on its
/// output instead of hanging.
fn interrupt_until_done(mut gdb: std::process::Child) -> std::process::Output {
    std::thread::sleep(Duration::from_millis(300));
    for _ in 0..6 {
        // SAFETY: kill(2) of the gdb process this test started.
        unsafe { libc::kill(gdb.id() as i32, libc::SIGINT) };
        let deadline = Instant::now() + Duration::from_secs(8);
        while Instant::now() < deadline {
            if gdb.try_wait().unwrap().is_some() {
                return gdb.wait_with_output().unwrap();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    let _ = gdb.kill();
    gdb.wait_with_output().unwrap()
}

const HELD_AT_A_CRASH: &str = r#"#include <pthread.h>
#include <unistd.h>
pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
pthread_cond_t never = PTHREAD_COND_INITIALIZER;
int ready;
int fds[2];
volatile unsigned long counter;
volatile int crash;
int *volatile target;
void *waits_on_condvar(void *arg) {
    pthread_mutex_lock(&lock);
    ready++;
    for (;;)
        pthread_cond_wait(&never, &lock);
    return arg;
}
void *reads_a_pipe(void *arg) {
    char c;
    pthread_mutex_lock(&lock);
    ready++;
    pthread_mutex_unlock(&lock);
    if (read(fds[0], &c, 1) != 1)
        return 0;
    return arg;
}
void tick(void) {
    counter++;
    if (crash)
        *target = 1;
}
void *spins_in_user_code(void *arg) {
    for (;;)
        tick();
    return arg;
}
int main(void) {
    pthread_t t;
    if (pipe(fds))
        return 1;
    pthread_create(&t, 0, waits_on_condvar, 0);
    pthread_create(&t, 0, reads_a_pipe, 0);
    for (;;) {
        pthread_mutex_lock(&lock);
        int n = ready;
        pthread_mutex_unlock(&lock);
        if (n == 2)
            break;
        usleep(1000);
    }
    usleep(100000);
    pthread_create(&t, 0, spins_in_user_code, 0);
    pthread_join(t, 0);
    return 0;
}
"#;

/// A thread gdb lets run alone (scheduler locking) dies of SIGSEGV and dumps core while
/// the others are held for gdb: they are not waited for (they are in the monitor, out of
/// a kick's reach), and the core still holds all four, with the registers each left when
/// it stopped.
#[test]
fn a_crash_while_gdb_holds_the_other_threads_keeps_them_in_the_core() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("gdb_held_core", HELD_AT_A_CRASH, &["-pthread"]);
    let dir = exe.with_extension("dir");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut cmd = Command::new("/bin/sh");
    cmd.args(["-c", "ulimit -c unlimited; exec \"$0\" --gdb 0 \"$1\"", linuxrun()]).arg(&exe);
    cmd.current_dir(&dir);
    let s = debug_with(
        cmd,
        &exe,
        &["break tick", "continue", "set scheduler-locking on", "set var crash = 1", "delete", "continue", "continue"],
    );
    let ctx = format!("gdb said:\n{}\nlinuxrun said:\n{}", s.gdb, s.stderr);
    assert!(s.gdb.contains("received signal SIGSEGV"), "{ctx}");
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(s.status.signal(), Some(libc::SIGSEGV), "{ctx}");
    let core = core_file(&dir).unwrap_or_else(|| panic!("no core file in {}: {ctx}", dir.display()));
    let out = Command::new("gdb")
        .args(["-nx", "-batch", "-iex", "set debuginfod enabled off"])
        .args(["-ex", "info threads", "-ex", "thread apply all bt"])
        .arg(&exe)
        .arg(&core)
        .output()
        .unwrap();
    let said = text(&out.stdout) + &text(&out.stderr);
    assert_eq!(thread_lines(&said).len(), 4, "four threads: {said}");
    let got = thread_backtraces(&said);
    for func in ["tick", "waits_on_condvar", "reads_a_pipe", "main"] {
        let found = got.iter().filter(|t| t.iter().any(|f| f == func)).count();
        assert_eq!(found, 1, "one thread in {func}: {said}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

const MEET_AT_A_BREAKPOINT: &str = r#"#include <pthread.h>
#include <stdio.h>
pthread_barrier_t go;
volatile int hits;
void breaks_here(void) { __sync_fetch_and_add(&hits, 1); }
void *worker(void *arg) {
    for (int i = 0; i < 3; i++) {
        pthread_barrier_wait(&go);
        breaks_here();
    }
    return arg;
}
int main(void) {
    pthread_t t[3];
    pthread_barrier_init(&go, 0, 3);
    for (int i = 0; i < 3; i++)
        pthread_create(&t[i], 0, worker, 0);
    for (int i = 0; i < 3; i++)
        pthread_join(t[i], 0);
    printf("hits %d\n", hits);
    return 5;
}
"#;

/// Three threads meet one breakpoint together, three times: each of the nine hits is
/// reported once (a thread held by another's stop on its way to report runs its `int3`
/// again), with no stray SIGTRAP, and the program ends normally.
#[test]
fn gdb_reports_each_hit_when_threads_meet_a_breakpoint_at_once() {
    if !kvm_available() || !gdb_available() {
        return;
    }
    let exe = build_debug("gdb_meet", MEET_AT_A_BREAKPOINT, &["-pthread"]);
    let mut commands = vec!["break breaks_here"];
    commands.extend(["continue"; 10]);
    let s = debug(&exe, &commands);
    let ctx = format!("gdb said:\n{}\nlinuxrun said:\n{}", s.gdb, s.stderr);
    let hits = s.gdb.lines().filter(|l| l.contains("hit Breakpoint 1, breaks_here ()")).count();
    assert_eq!(hits, 9, "{ctx}");
    assert!(!s.gdb.contains("SIGTRAP"), "{ctx}");
    assert!(s.gdb.contains("exited with code 05"), "{ctx}");
    assert_eq!(s.stdout, "hits 9\n", "{ctx}");
}
