//! `--strace` against the real strace: each program below runs natively under
//! `strace -f -o FILE` and under `linuxrun --strace-output FILE`, and the two files must
//! hold the same lines once normalised (see `normalise`). Needs /dev/kvm and strace
//! (scripts/test installs Debian's strace); without them a test checks nothing and says so.
//!
//! Normalisation, and why each step is legitimate:
//! - The serving column (` [guest]`, ` [hypercall]`) is linuxrun's own: dropped.
//! - Process ids differ between the runs: each is replaced by `P1`, `P2`... in the order
//!   the processes first appear, wherever the number occurs in the line.
//! - Addresses differ (the host's layout against the guest's): every `0x...` becomes `0xX`.
//! - strace pads each line to its result column; the padding is collapsed to one space
//!   (the two differ by the pid prefix's width when pids have different digit counts).
//! - strace splits a call that blocks while another process runs (`wait4(... <unfinished
//!   ...>` / `<... wait4 resumed>...`); linuxrun prints whole lines: the halves are joined.
//! - A SIGCHLD's delivery line (`--- SIGCHLD {...} ---`) comes wherever the parent next
//!   returns to user mode after the child ended, which depends on timing even natively:
//!   these lines are compared per process as a set (sorted, after the process's other
//!   lines), and the child's CPU times in them (`si_utime`, `si_stime`: under linuxrun the
//!   child's host process also built a VM) are not compared. Every other signal's line
//!   stays where it is.
//! - The C library's start-up calls (after each execve, up to the program's first marker
//!   call `close(-77)`) differ for good reasons (rseq is not implemented, brk and mmap
//!   addresses, random bytes, the kernel's auxv): dropped. The execve line itself stays.
//! - Programs are static, so no dynamic loader's calls come in.
//!
//! Everything else must be equal: call names, decoded flags and structs, strings and their
//! escaping, results and errno names, the order of each process's calls, exit lines.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::Command;

mod support;
use support::{build, kvm_available, linuxrun, skip, text};

/// The marker each program calls first in main: what comes before it is the C library's.
const MARK: &str = "close(-77)";

const PROLOGUE: &str = r#"
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#define MARK() close(-77)
"#;

/// open/read/close of a file, stat, a failed open, write, access, mkdir, lseek.
const FILES: &str = r#"
int main(int argc, char **argv) {
    MARK();
    const char *dir = argv[1];
    char path[512], buf[100];
    snprintf(path, sizeof path, "%s/data.txt", dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    write(fd, "hello \"world\"\n\tline two\\ \001\377 and a long tail of text\n", 53);
    close(fd);
    fd = open(path, O_RDONLY);
    read(fd, buf, sizeof buf);
    read(fd, buf, sizeof buf);
    lseek(fd, 6, SEEK_SET);
    read(fd, buf, 7);
    struct stat st;
    fstat(fd, &st);
    stat(path, &st);
    lstat("/nonexistent/file", &st);
    stat("/dev/null", &st);
    close(fd);
    open("/nonexistent/file", O_RDONLY);
    openat(AT_FDCWD, dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
    access(path, R_OK | W_OK);
    access("/nonexistent", F_OK);
    snprintf(path, sizeof path, "%s/sub", dir);
    mkdir(path, 0755);
    mkdir(path, 0700);
    rmdir(path);
    umask(022);
    write(1, "done\n", 5);
    return 0;
}
"#;

/// mmap/munmap/mprotect, fcntl, pipes, dup3, ioctl, a sleep.
const MEMORY_FDS: &str = r#"
int main(int argc, char **argv) {
    MARK();
    void *p = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    mprotect(p, 4096, PROT_READ);
    munmap(p, 8192);
    mmap(NULL, 4096, PROT_READ, MAP_SHARED, -1, 0);
    int fds[2];
    pipe2(fds, O_CLOEXEC);
    write(fds[1], "abc", 3);
    int n;
    ioctl(fds[0], FIONREAD, &n);
    struct winsize ws;
    ioctl(fds[0], TIOCGWINSZ, &ws);
    fcntl(fds[0], F_GETFD);
    fcntl(fds[0], F_SETFD, 0);
    fcntl(fds[0], F_GETFD);
    fcntl(fds[1], F_GETFL);
    fcntl(fds[0], F_SETFL, O_NONBLOCK);
    fcntl(fds[0], F_DUPFD_CLOEXEC, 20);
    dup3(fds[0], 30, O_CLOEXEC);
    char buf[8];
    read(fds[0], buf, sizeof buf);
    read(fds[0], buf, sizeof buf);
    struct timespec ts = {0, 1000};
    nanosleep(&ts, NULL);
    close(fds[0]);
    close(fds[1]);
    return 0;
}
"#;

/// rt_sigaction and rt_sigprocmask.
const SIGNALS: &str = r#"
static void handler(int s) { (void)s; }
int main(int argc, char **argv) {
    MARK();
    struct sigaction sa, old;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaddset(&sa.sa_mask, SIGINT);
    sigaddset(&sa.sa_mask, SIGTERM);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGUSR1, &sa, &old);
    sigaction(SIGUSR1, NULL, &old);
    sa.sa_handler = SIG_IGN;
    sa.sa_flags = 0;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGKILL, &sa, NULL);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigaddset(&set, SIGRTMIN + 2);
    sigprocmask(SIG_BLOCK, &set, NULL);
    sigprocmask(SIG_SETMASK, NULL, &set);
    sigfillset(&set);
    sigprocmask(SIG_SETMASK, &set, NULL);
    sigemptyset(&set);
    sigprocmask(SIG_SETMASK, &set, &set);
    kill(getpid(), 0);
    return 0;
}
"#;

/// fork + wait4 (an exit status and a signal death), and exec of itself.
const FORK_WAIT: &str = r#"
int main(int argc, char **argv) {
    MARK();
    if (argc > 1) {
        write(1, "exec'd\n", 7);
        return 4;
    }
    int st;
    pid_t p = fork();
    if (p == 0) {
        write(1, "child\n", 6);
        _exit(3);
    }
    wait4(p, &st, 0, NULL);
    p = fork();
    if (p == 0) {
        kill(getpid(), SIGTERM);
        _exit(0);
    }
    wait4(p, &st, 0, NULL);
    p = fork();
    if (p == 0) {
        char *args[] = {argv[0], "again", NULL};
        execve(argv[0], args, NULL);
        _exit(9);
    }
    waitpid(-1, &st, 0);
    wait4(-1, &st, WNOHANG, NULL);
    write(1, "parent\n", 7);
    return 0;
}
"#;

/// Signal delivery: a handler run for kill, tgkill and sigqueue (their senders, a queued
/// value), rt_sigreturn's mask, a child's SIGCHLD, a fault caught and left by siglongjmp,
/// signals ignored by SIG_IGN and by default, sigwait's siginfo, and the death by a fault.
const SIGNAL_DELIVERY: &str = r#"
#include <setjmp.h>
static sigjmp_buf jb;
static void handler(int s) { (void)s; }
static void on_segv(int s) { (void)s; siglongjmp(jb, 1); }
int main(int argc, char **argv) {
    MARK();
    signal(SIGUSR1, handler);
    kill(getpid(), SIGUSR1);
    raise(SIGUSR1);
    union sigval v = {.sival_int = 42};
    sigqueue(getpid(), SIGUSR1, v);
    pid_t p = fork();
    if (p == 0)
        _exit(7);
    waitpid(p, NULL, 0);
    signal(SIGSEGV, on_segv);
    if (!sigsetjmp(jb, 1))
        *(volatile int *)16 = 1;
    signal(SIGSEGV, SIG_DFL);
    signal(SIGPIPE, SIG_IGN);
    kill(getpid(), SIGPIPE);
    kill(getpid(), SIGWINCH);
    sigset_t set, old;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR2);
    sigprocmask(SIG_BLOCK, &set, &old);
    raise(SIGUSR2);
    int sig;
    sigwait(&set, &sig);
    sigprocmask(SIG_SETMASK, &old, NULL);
    *(volatile int *)0 = 1;
    return 0;
}
"#;

/// Calls a signal cuts short (sent by a child while the parent waits): pause (Linux's
/// ERESTARTNOHAND) and a pipe read (ERESTARTSYS) under a handler without SA_RESTART, so the
/// program sees EINTR, which rt_sigreturn's result shows. The child then writes a byte for
/// a second read: a parent that was too slow to block before a signal came (a very busy
/// machine) gets a different trace, never a hang.
const INTERRUPTED: &str = r#"
static void handler(int s) { (void)s; }
int main(int argc, char **argv) {
    MARK();
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = handler;
    sigaction(SIGUSR1, &sa, NULL);
    int fds[2];
    pipe(fds);
    pid_t parent = getpid();
    pid_t p = fork();
    if (p == 0) {
        struct timespec t = {0, 150000000};
        nanosleep(&t, NULL);
        kill(parent, SIGUSR1);
        nanosleep(&t, NULL);
        kill(parent, SIGUSR1);
        nanosleep(&t, NULL);
        write(fds[1], "x", 1);
        _exit(0);
    }
    pause();
    char c;
    read(fds[0], &c, 1);
    read(fds[0], &c, 1);
    waitpid(p, NULL, 0);
    return 0;
}
"#;

/// A child that stops itself (SIGSTOP) and is continued by its parent: strace's
/// `--- stopped by SIGSTOP ---` and the SIGCONT the child takes after it. The parent blocks
/// SIGCHLD: a SIGCHLD that came while it waits would cut the wait short (natively too, as
/// timing has it). SIGSTOP there, since the test's own group may be orphaned; then a child
/// in a session of its own, an orphaned group, whose SIGTSTP Linux discards: strace shows
/// the signal and no stop.
const STOPS: &str = r#"
int main(int argc, char **argv) {
    MARK();
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGCHLD);
    sigprocmask(SIG_BLOCK, &set, NULL);
    int st;
    pid_t p = fork();
    if (p == 0) {
        kill(getpid(), SIGSTOP);
        _exit(1);
    }
    waitpid(p, &st, WUNTRACED);
    kill(p, SIGCONT);
    waitpid(p, &st, 0);
    p = fork();
    if (p == 0) {
        setsid();
        kill(getpid(), SIGTSTP);
        _exit(2);
    }
    waitpid(p, &st, WUNTRACED);
    return 0;
}
"#;

/// A core-dumping death with RLIMIT_CORE raised (in the scratch directory): strace's
/// `+++ killed by SIGSEGV (core dumped) +++`.
const CORE_DUMP: &str = r#"
#include <sys/resource.h>
int main(int argc, char **argv) {
    MARK();
    struct rlimit r = {RLIM_INFINITY, RLIM_INFINITY};
    setrlimit(RLIMIT_CORE, &r);
    chdir(argv[1]);
    *(volatile int *)0 = 1;
    return 0;
}
"#;

/// seccomp: a filter attached (as root, which needs no no_new_privs) whose TRAP verdict
/// makes getppid a SIGSYS with its seccomp fields, and an ERRNO verdict.
const SECCOMP: &str = r#"
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <stddef.h>
#include <sys/syscall.h>
static void on_sys(int s) { (void)s; }
int main(int argc, char **argv) {
    signal(SIGSYS, on_sys);
    MARK();
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getppid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_TRAP | 5),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_getuid, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | EACCES),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    struct sock_fprog prog = {6, f};
    if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0)
        return 1;
    syscall(SYS_getppid);
    syscall(SYS_getuid);
    return 0;
}
"#;

/// Sockets: AF_UNIX and AF_INET addresses, refused and missing peers.
const SOCKETS: &str = r#"
int main(int argc, char **argv) {
    MARK();
    int u = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un un;
    memset(&un, 0, sizeof un);
    un.sun_family = AF_UNIX;
    strcpy(un.sun_path, "/nonexistent/sock");
    connect(u, (struct sockaddr *)&un, sizeof un);
    close(u);
    int s = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    struct sockaddr_in in;
    memset(&in, 0, sizeof in);
    in.sin_family = AF_INET;
    in.sin_port = htons(1);
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connect(s, (struct sockaddr *)&in, sizeof in);
    close(s);
    socket(AF_INET6, SOCK_DGRAM, 0);
    shutdown(-1, SHUT_RDWR);
    return 0;
}
"#;

/// Threads: a worker blocks in a pipe read until the first thread writes, then prints and
/// ends by returning (glibc's exit(0)). The sleeps order the two threads' calls: each
/// thread's sequence is fixed, and natively the worker's read and the first thread's
/// sleeps are split by the other's lines.
const THREADS: &str = r#"
#include <pthread.h>
static int pipe_fds[2];
static void *worker(void *arg) {
    char c;
    (void)arg;
    read(pipe_fds[0], &c, 1);
    write(1, "worker\n", 7);
    return NULL;
}
int main(int argc, char **argv) {
    MARK();
    pipe(pipe_fds);
    pthread_t t;
    pthread_create(&t, NULL, worker, NULL);
    struct timespec ts = {0, 200000000};
    nanosleep(&ts, NULL);
    write(pipe_fds[1], "x", 1);
    nanosleep(&ts, NULL);
    pthread_join(t, NULL);
    write(1, "main\n", 5);
    return 0;
}
"#;

fn strace_available() -> bool {
    match Command::new("strace").arg("-V").output() {
        Ok(o) if o.status.success() => true,
        _ => {
            skip("no strace (scripts/test installs Debian's strace package)");
            false
        }
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("linuxrun-strace-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Run `exe args` under real strace and under linuxrun; compare the normalised traces.
fn compare(name: &str, source: &str, args: &[&str]) {
    compare_in_env(name, source, args, &[]);
}

/// `compare` with these environment variables set for both runs; returns linuxrun's trace
/// as written (None when the test could not run here).
fn compare_in_env(name: &str, source: &str, args: &[&str], env: &[(&str, &str)]) -> Option<String> {
    if !kvm_available() || !strace_available() {
        return None;
    }
    let exe = build(&format!("strace_{name}"), &format!("{PROLOGUE}#include <stdio.h>\n{source}"));
    let dir = scratch(name);
    let native_out = dir.join("native.trace");
    let ours_out = dir.join("linuxrun.trace");
    let args: Vec<String> = args.iter().map(|a| a.replace("@DIR", dir.to_str().unwrap())).collect();

    let native = Command::new("strace")
        .arg("-f")
        .arg("-o")
        .arg(&native_out)
        .arg(&exe)
        .args(&args)
        .envs(env.iter().copied())
        .output()
        .expect("strace runs");
    // The scratch files the first run made would change the second's results.
    let _ = std::fs::remove_file(dir.join("data.txt"));
    let ours = Command::new(linuxrun())
        .arg("--strace-output")
        .arg(&ours_out)
        .arg(&exe)
        .args(&args)
        .envs(env.iter().copied())
        .output()
        .expect("runs");
    assert_eq!(native.status.code(), ours.status.code(), "{name}: exit status; stderr: {}", text(&ours.stderr));
    assert_eq!(text(&native.stdout), text(&ours.stdout), "{name}: stdout");
    assert!(ours.stderr.is_empty(), "{name}: trace lines must go to the file only: {}", text(&ours.stderr));

    let native_lines = normalise(&std::fs::read_to_string(&native_out).unwrap());
    let our_trace = std::fs::read_to_string(&ours_out).unwrap();
    let our_lines = normalise(&our_trace);
    let mut report = String::new();
    for (pid, want) in &native_lines {
        let got = our_lines.get(pid).cloned().unwrap_or_default();
        if &got != want {
            report += &format!("--- process {pid}: strace\n{}\n--- linuxrun\n{}\n", want.join("\n"), got.join("\n"));
        }
    }
    for pid in our_lines.keys().filter(|p| !native_lines.contains_key(*p)) {
        report += &format!("--- process {pid} only under linuxrun:\n{}\n", our_lines[pid].join("\n"));
    }
    assert!(report.is_empty(), "{name}: traces differ after normalisation\n{report}");
    let _ = std::fs::remove_dir_all(&dir);
    Some(our_trace)
}

/// The lines of a `strace -f -o` file (or linuxrun's), normalised as the module comment
/// says, by process (`P1`, `P2`...).
fn normalise(trace: &str) -> BTreeMap<String, Vec<String>> {
    let mut order: Vec<String> = Vec::new();
    let mut raw: Vec<(String, String)> = Vec::new();
    for line in trace.lines() {
        let (pid, rest) = line.split_once(' ').unwrap_or(("?", line));
        if !order.iter().any(|p| p == pid) {
            order.push(pid.to_owned());
        }
        raw.push((pid.to_owned(), rest.trim_start().to_owned()));
    }
    let token = |pid: &str| format!("P{}", order.iter().position(|p| p == pid).unwrap() + 1);
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut unfinished: BTreeMap<String, String> = BTreeMap::new();
    let mut in_startup: BTreeMap<String, bool> = BTreeMap::new();
    let mut async_signals: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (pid, mut rest) in raw {
        for suffix in [" [guest]", " [hypercall]"] {
            if let Some(r) = rest.strip_suffix(suffix) {
                rest = r.to_owned();
            }
        }
        if rest.starts_with("--- SIGCHLD ") {
            let line = cpu_times_placeholder(&rest);
            async_signals.entry(pid.clone()).or_default().push(line);
            continue;
        }
        if let Some(head) = rest.strip_suffix(" <unfinished ...>") {
            unfinished.insert(pid.clone(), head.to_owned());
            continue;
        }
        if rest.starts_with("<... ") {
            let tail = rest.split_once(" resumed>").map(|(_, t)| t).unwrap_or("");
            rest = format!("{}{tail}", unfinished.remove(&pid).unwrap_or_default());
        }
        let startup = in_startup.entry(pid.clone()).or_insert(false);
        if rest.starts_with("execve(") && rest.contains(" = 0") {
            *startup = true;
        } else if rest.starts_with(MARK) {
            *startup = false;
        } else if *startup {
            continue;
        }
        let mut line = collapse_padding(&rest);
        line = hex_placeholder(&line);
        for p in &order {
            line = replace_number(&line, p, &token(p));
        }
        out.entry(token(&pid)).or_default().push(line);
    }
    for (pid, mut lines) in async_signals {
        lines.sort();
        for line in lines {
            let mut line = hex_placeholder(&line);
            for p in &order {
                line = replace_number(&line, p, &token(p));
            }
            out.entry(token(&pid)).or_default().push(line);
        }
    }
    out
}

/// `si_utime=3, si_stime=1` → `si_utime=T, si_stime=T`.
fn cpu_times_placeholder(line: &str) -> String {
    let mut out = String::new();
    let mut rest = line;
    while let Some(i) = rest.find("time=") {
        out.push_str(&rest[..i + 5]);
        rest = rest[i + 5..].trim_start_matches(|c: char| c.is_ascii_digit());
        out.push('T');
    }
    out + rest
}

/// `call(args)      = ret` → `call(args) = ret`.
fn collapse_padding(line: &str) -> String {
    match line.find(")  ").or_else(|| line.find(") =")) {
        Some(i) => {
            let after = line[i + 1..].trim_start();
            if after.starts_with("= ") {
                format!("{} {after}", &line[..=i])
            } else {
                line.to_owned()
            }
        }
        None => line.to_owned(),
    }
}

fn hex_placeholder(line: &str) -> String {
    let b = line.as_bytes();
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < b.len() {
        let word_start = i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'\\');
        if word_start && b[i] == b'0' && b.get(i + 1) == Some(&b'x') && b.get(i + 2).is_some_and(u8::is_ascii_hexdigit)
        {
            out.push_str("0xX");
            i += 2;
            while i < b.len() && b[i].is_ascii_hexdigit() {
                i += 1;
            }
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

/// Every whole-number occurrence of `num` in `line` replaced by `with`.
fn replace_number(line: &str, num: &str, with: &str) -> String {
    if num.is_empty() || !num.bytes().all(|c| c.is_ascii_digit()) {
        return line.to_owned();
    }
    let b = line.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let before_ok = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        if before_ok && line[i..].starts_with(num) {
            let end = i + num.len();
            if end == b.len() || !b[end].is_ascii_alphanumeric() {
                out.push_str(with);
                i = end;
                continue;
            }
        }
        out.push(b[i] as char);
        i += 1;
    }
    out
}

#[test]
fn strace_files() {
    compare("files", FILES, &["@DIR"]);
}

#[test]
fn strace_memory_and_descriptors() {
    compare("memory_fds", MEMORY_FDS, &[]);
}

#[test]
fn strace_signal_actions_and_masks() {
    compare("signals", SIGNALS, &[]);
}

#[test]
fn strace_signal_delivery() {
    compare("signal_delivery", SIGNAL_DELIVERY, &[]);
}

#[test]
fn strace_interrupted_calls() {
    compare("interrupted", INTERRUPTED, &[]);
}

#[test]
fn strace_stops() {
    compare("stops", STOPS, &[]);
}

#[test]
fn strace_core_dump() {
    compare("core_dump", CORE_DUMP, &["@DIR"]);
}

#[test]
fn strace_fork_wait_exec() {
    compare("fork_wait", FORK_WAIT, &[]);
}

#[test]
fn strace_threads() {
    // Natively glibc registers each thread's rseq area (linuxrun does not implement rseq):
    // without this tunable the native worker has an rseq line more.
    let env = [("GLIBC_TUNABLES", "glibc.pthread.rseq=0")];
    let Some(trace) = compare_in_env("threads", THREADS, &[], &env) else { return };
    // The halves themselves, as strace writes them: the worker's read begun while the first
    // thread printed, and resumed with what it read.
    let lines: Vec<&str> = trace.lines().collect();
    let begun = lines.iter().filter(|l| l.ends_with("read(3,  <unfinished ...>")).count();
    let resumed = lines.iter().filter(|l| l.contains("<... read resumed>\"x\", 1)")).count();
    assert_eq!((begun, resumed), (1, 1), "the worker's read split as strace splits it:\n{trace}");
    let thread_ends = lines.iter().filter(|l| l.ends_with("+++ exited with 0 +++")).count();
    assert_eq!(thread_ends, 2, "an exit line for each thread:\n{trace}");
}

#[test]
fn strace_seccomp() {
    compare("seccomp", SECCOMP, &[]);
}

#[test]
fn strace_sockets() {
    compare("sockets", SOCKETS, &[]);
}

#[test]
fn normalisation_keeps_what_matters() {
    let trace = "100   execve(\"/p\", [\"/p\"], 0x7ffd /* 3 vars */) = 0\n\
                 100   brk(NULL)                         = 0x4000\n\
                 100   close(-77)                        = -1 EBADF (Bad file descriptor)\n\
                 100   clone(child_stack=NULL, flags=SIGCHLD) = 101\n\
                 100   wait4(101,  <unfinished ...>\n\
                 101   write(1, \"x\", 1)                  = 1 [hypercall]\n\
                 101   +++ exited with 0 +++\n\
                 100   --- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=101, si_uid=0, si_status=0, si_utime=2, si_stime=13} ---\n\
                 100   <... wait4 resumed>[{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = 101\n\
                 100   kill(100, SIGUSR1)                = 0\n\
                 100   --- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=100, si_uid=0} ---\n";
    let n = normalise(trace);
    assert_eq!(
        n["P1"],
        [
            "execve(\"/p\", [\"/p\"], 0xX /* 3 vars */) = 0",
            "close(-77) = -1 EBADF (Bad file descriptor)",
            "clone(child_stack=NULL, flags=SIGCHLD) = P2",
            "wait4(P2, [{WIFEXITED(s) && WEXITSTATUS(s) == 0}], 0, NULL) = P2",
            "kill(P1, SIGUSR1) = 0",
            "--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=P1, si_uid=0} ---",
            "--- SIGCHLD {si_signo=SIGCHLD, si_code=CLD_EXITED, si_pid=P2, si_uid=0, si_status=0, si_utime=T, si_stime=T} ---",
        ]
    );
    assert_eq!(n["P2"], ["write(1, \"x\", 1) = 1", "+++ exited with 0 +++"]);
}
