//! The list of cases: C programs × link flavours, busybox applets, and bad inputs
//! that only linuxrun sees.

use crate::compile::Flavour;
use crate::fixtures;
use crate::process::Status;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Debian's busybox-static; a statically linked multi-call binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// What a case's work directory must contain before the program runs.
#[derive(Clone, Debug)]
pub enum Fixture {
    Empty,
    BusyboxTree,
    /// The busybox tree plus archives and a script for the Debian-tool cases.
    ToolTree,
    File {
        name: &'static str,
        content: Vec<u8>,
        mode: u32,
    },
    /// Several files: (name, content, mode).
    Files(Vec<(&'static str, Vec<u8>, u32)>),
}

impl Fixture {
    pub fn create(&self, dir: &Path) -> Result<(), String> {
        match self {
            Fixture::Empty => Ok(()),
            Fixture::BusyboxTree => fixtures::busybox_tree(dir),
            Fixture::ToolTree => fixtures::tool_tree(dir),
            Fixture::File { name, content, mode } => fixtures::file(dir, name, content, *mode),
            Fixture::Files(files) => {
                files.iter().try_for_each(|(name, content, mode)| fixtures::file(dir, name, content, *mode))
            }
        }
    }
}

/// The same command run natively and under linuxrun; results must match.
#[derive(Clone, Debug)]
pub struct Differential {
    /// C source and flavour to build first (argv[0] is the resulting binary).
    pub build: Option<(PathBuf, Flavour)>,
    pub argv: Vec<OsString>,
    /// File (relative to the work dir) to use as stdin; /dev/null otherwise.
    pub stdin: Option<&'static str>,
    pub fixture: Fixture,
    /// What the native run must give. Checked too, so a broken test program or
    /// host setup is reported as such instead of as a linuxrun bug.
    pub native_status: Status,
    pub compare_stderr: bool,
    /// Compare the work dir's contents afterwards (for commands that change files).
    pub compare_tree: bool,
}

/// What linuxrun must do with an input it cannot or must not run.
#[derive(Clone, Debug)]
pub enum Refusal {
    Exit(i32),
    NonZero,
}

/// A program linuxrun must refuse; there is no native counterpart to compare with.
#[derive(Clone, Debug)]
pub struct BadInput {
    /// Program argument given to linuxrun; a leading "./" means "in the work dir"
    /// and is turned into an absolute path.
    pub program: &'static str,
    pub fixture: Fixture,
    pub expect: Refusal,
    /// stderr must mention at least one of these (case-insensitive).
    pub stderr_mentions: &'static [&'static str],
    /// Run linuxrun as an unprivileged user (uid/gid 65534) through setpriv; only possible
    /// (and only meaningful) when the suite runs as root, as CI does.
    pub as_nobody: bool,
}

#[derive(Clone, Debug)]
pub enum Body {
    Differential(Differential),
    LinuxrunOnly(BadInput),
    /// A case whose program this machine lacks: counted and shown as a skip (why).
    Unavailable(String),
}

#[derive(Clone, Debug)]
pub struct Case {
    pub name: String,
    pub body: Body,
}

/// Link flavours the C programs are built in.
pub fn flavours() -> Vec<Flavour> {
    vec![Flavour::Static, Flavour::StaticPie, Flavour::Dynamic, Flavour::Musl]
}

/// The C programs that are also built against musl (its dynamic loader takes other paths
/// through ld.so loading, TLS and the vDSO). The others use glibc-only interfaces or check
/// glibc's own behaviour, and fail natively with musl.
const MUSL_PROGRAMS: &[&str] = &[
    "abort",
    "args_env",
    "epoll",
    "eventfd",
    "exit_status",
    "cputime",
    "files_big",
    "files_locks",
    "files_mknod",
    "files_more",
    "futex_requeue_pi",
    "futex_shared",
    "hello",
    "inotify",
    "killed_by_signal",
    "random_fresh",
    "mem_big",
    "mem_big_image",
    "mem_filemap",
    "mem_grow",
    "mem_limits",
    "mem_segv",
    "mem_stack",
    "mqueue",
    "pidfd",
    "priority",
    "procfs",
    "procfs_sys",
    "segv_death",
    "signals",
    "signals_frames",
    "signals_ignored_blocked",
    "signalfd",
    "signalfd_epoll",
    "sigpipe",
    "socket_inet",
    "splice",
    "stdio_stderr",
    "sysv_msg",
    "sysv_sem",
    "sysv_shm",
    "terminal",
    "thread_basic",
    "thread_creds",
    "thread_exec",
    "thread_futex",
    "thread_names",
    "thread_pi",
    "thread_signals",
    "thread_sync",
    "thread_vfork",
    "timerfd",
    "timer_interrupts",
    "timer_thread",
    "time",
    "vfork_memory",
    "wait_stop",
];

/// Runs of one C program: (name suffix, arguments, expected native status).
/// Programs not listed here run once without arguments and must exit 0.
fn c_program_runs(stem: &str) -> Vec<(String, Vec<&'static str>, Status)> {
    match stem {
        "exit_status" => [("0", 0), ("1", 1), ("42", 42), ("255", 255)]
            .into_iter()
            .map(|(arg, code)| (format!("-{arg}"), vec![arg], Status::Exit(code)))
            .collect(),
        "args_env" => vec![(String::new(), vec!["one", "two words", "", "-x", "ünïcödé"], Status::Exit(0))],
        "killed_by_signal" => vec![(String::new(), vec![], Status::Signal(15))],
        "abort" => vec![(String::new(), vec![], Status::Signal(6))],
        "segv_death" => vec![(String::new(), vec![], Status::Signal(11))],
        "sigpipe" => vec![(String::new(), vec![], Status::Signal(13))],
        _ => vec![(String::new(), vec![], Status::Exit(0))],
    }
}

/// One case per C source × flavour × run. Binaries land in `out_dir/<flavour>/`.
pub fn c_cases(sources: &[PathBuf], out_dir: &Path) -> Vec<Case> {
    let mut cases = Vec::new();
    for flavour in flavours() {
        for src in sources {
            let stem = src.file_stem().unwrap().to_string_lossy().into_owned();
            if flavour == Flavour::Musl && !MUSL_PROGRAMS.contains(&stem.as_str()) {
                continue;
            }
            let binary = out_dir.join(flavour.name()).join(&stem);
            for (suffix, args, status) in c_program_runs(&stem) {
                let mut argv: Vec<OsString> = vec![binary.clone().into()];
                argv.extend(args.iter().map(OsString::from));
                cases.push(Case {
                    name: format!("{}/{stem}{suffix}", flavour.name()),
                    body: Body::Differential(Differential {
                        build: Some((src.clone(), flavour)),
                        argv,
                        stdin: None,
                        fixture: Fixture::Empty,
                        native_status: status,
                        // Our own programs write nothing nondeterministic to stderr.
                        compare_stderr: true,
                        compare_tree: false,
                    }),
                });
            }
        }
    }
    cases
}

/// One case per Go source in tests/go: built by Debian's Go toolchain, run natively and
/// under linuxrun.
pub fn go_cases(sources: &[PathBuf], out_dir: &Path) -> Vec<Case> {
    sources
        .iter()
        .map(|src| {
            let stem = src.file_stem().unwrap().to_string_lossy().into_owned();
            Case {
                name: format!("go/{stem}"),
                body: Body::Differential(Differential {
                    build: Some((src.clone(), Flavour::Go)),
                    argv: vec![out_dir.join(Flavour::Go.name()).join(&stem).into()],
                    stdin: None,
                    fixture: Fixture::Empty,
                    native_status: Status::Exit(0),
                    compare_stderr: true,
                    compare_tree: false,
                }),
            }
        })
        .collect()
}

struct Applet {
    name: &'static str,
    args: &'static [&'static str],
    stdin: Option<&'static str>,
    status: i32,
    tree: bool,
}

const fn applet(name: &'static str, args: &'static [&'static str]) -> Applet {
    Applet { name, args, stdin: None, status: 0, tree: false }
}
const fn with_stdin(a: Applet, stdin: &'static str) -> Applet {
    Applet { stdin: Some(stdin), ..a }
}
const fn failing(a: Applet, status: i32) -> Applet {
    Applet { status, ..a }
}
/// Commands that change files: the resulting tree is compared, not just stdout.
const fn changes_tree(a: Applet) -> Applet {
    Applet { tree: true, ..a }
}

/// Busybox applets run on the fixed fixture tree (see fixtures::busybox_tree).
const APPLETS: &[Applet] = &[
    applet("echo", &["echo", "hello", "world"]),
    applet("echo-escapes", &["echo", "-e", "tab\\there\\nnew line\\c"]),
    applet("cat", &["cat", "a.txt", "b.txt"]),
    with_stdin(applet("cat-stdin", &["cat"]), "a.txt"),
    failing(applet("cat-missing", &["cat", "a.txt", "missing"]), 1),
    applet("ls-l", &["ls", "-l", "tree"]),
    applet("ls-lR", &["ls", "-lR", "tree", "empty"]),
    applet("ls-1a", &["ls", "-1a", "tree"]),
    failing(applet("ls-missing", &["ls", "missing"]), 1),
    applet("wc", &["wc", "a.txt", "words.txt", "big.bin"]),
    with_stdin(applet("wc-l-stdin", &["wc", "-l"]), "words.txt"),
    applet("sort", &["sort", "words.txt"]),
    applet("sort-nr", &["sort", "-n", "-r", "nums.txt"]),
    applet("sort-u", &["sort", "-u", "words.txt"]),
    applet("sha256sum", &["sha256sum", "big.bin", "a.txt", "tree/f2"]),
    with_stdin(applet("sha256sum-stdin", &["sha256sum"]), "big.bin"),
    applet("head", &["head", "-n", "3", "words.txt"]),
    applet("head-c", &["head", "-c", "100", "big.bin"]),
    with_stdin(applet("tr", &["tr", "a-z", "A-Z"]), "a.txt"),
    with_stdin(applet("tr-d", &["tr", "-d", "aeiou\\n"]), "words.txt"),
    applet("seq", &["seq", "1", "1000"]),
    applet("seq-sep", &["seq", "-s", ",", "5", "5", "50"]),
    changes_tree(applet("mkdir-p", &["mkdir", "-p", "x/y/z"])),
    changes_tree(applet("mkdir-m", &["mkdir", "-m", "700", "m700"])),
    changes_tree(failing(applet("mkdir-existing", &["mkdir", "tree"]), 1)),
    changes_tree(applet("rmdir", &["rmdir", "empty"])),
    changes_tree(failing(applet("rmdir-nonempty", &["rmdir", "tree"]), 1)),
    changes_tree(applet("rm", &["rm", "a.txt"])),
    changes_tree(applet("rm-r", &["rm", "-r", "tree"])),
    changes_tree(failing(applet("rm-missing", &["rm", "missing"]), 1)),
    changes_tree(applet("rm-f-missing", &["rm", "-f", "missing", "a.txt"])),
    changes_tree(applet("cp", &["cp", "a.txt", "c.txt"])),
    changes_tree(applet("cp-r", &["cp", "-r", "tree", "tree2"])),
    changes_tree(applet("cp-a", &["cp", "-a", "tree", "tree3"])),
    changes_tree(applet("mv", &["mv", "a.txt", "moved.txt"])),
    changes_tree(applet("mv-into-dir", &["mv", "tree", "b.txt", "empty/"])),
];

pub fn busybox_cases() -> Vec<Case> {
    APPLETS
        .iter()
        .map(|a| {
            let mut argv: Vec<OsString> = vec![BUSYBOX.into()];
            argv.extend(a.args.iter().map(OsString::from));
            Case {
                name: format!("busybox/{}", a.name),
                body: Body::Differential(Differential {
                    build: None,
                    argv,
                    stdin: a.stdin,
                    fixture: Fixture::BusyboxTree,
                    native_status: Status::Exit(a.status),
                    compare_stderr: true,
                    compare_tree: a.tree,
                }),
            }
        })
        .collect()
}

/// Inputs linuxrun must refuse the way a shell would: 127 for "not found", 126 for
/// "found but cannot execute", with a message that names the reason.
pub fn bad_input_cases() -> Vec<Case> {
    let bad = |name: &str, b: BadInput| Case { name: format!("bad-input/{name}"), body: Body::LinuxrunOnly(b) };
    let mut v = vec![
        bad(
            "not-found-path",
            BadInput {
                program: "/nonexistent/linuxrun-test-missing",
                fixture: Fixture::Empty,
                expect: Refusal::Exit(127),
                stderr_mentions: &["linuxrun-test-missing"],
                as_nobody: false,
            },
        ),
        bad(
            "not-found-name",
            BadInput {
                program: "linuxrun-test-no-such-program",
                fixture: Fixture::Empty,
                expect: Refusal::Exit(127),
                stderr_mentions: &["linuxrun-test-no-such-program"],
                as_nobody: false,
            },
        ),
        bad(
            "no-exec-bit",
            BadInput {
                program: "./notes.txt",
                fixture: Fixture::File { name: "notes.txt", content: b"just some text\n".to_vec(), mode: 0o644 },
                expect: Refusal::Exit(126),
                stderr_mentions: &["notes.txt"],
                as_nobody: false,
            },
        ),
        bad(
            "not-elf",
            BadInput {
                program: "./garbage",
                fixture: Fixture::File {
                    name: "garbage",
                    content: b"\x01\x02 not an executable\n".to_vec(),
                    mode: 0o755,
                },
                expect: Refusal::Exit(126),
                stderr_mentions: &["garbage"],
                as_nobody: false,
            },
        ),
        bad(
            "directory",
            BadInput {
                program: "/tmp",
                fixture: Fixture::Empty,
                expect: Refusal::Exit(126),
                stderr_mentions: &["/tmp"],
                as_nobody: false,
            },
        ),
        bad(
            "aarch64-elf",
            BadInput {
                program: "./arm64",
                fixture: Fixture::File { name: "arm64", content: fixtures::elf64_header(183), mode: 0o755 },
                expect: Refusal::Exit(126),
                stderr_mentions: &["aarch64"],
                as_nobody: false,
            },
        ),
        bad(
            "elf32",
            BadInput {
                program: "./i386",
                fixture: Fixture::File { name: "i386", content: fixtures::elf32_header(), mode: 0o755 },
                expect: Refusal::Exit(126),
                stderr_mentions: &["32-bit", "32 bit", "elfclass32"],
                as_nobody: false,
            },
        ),
        // /dev/kvm is root-only on our machines: an unprivileged user gets a clear
        // message about it, not a crash.
        bad(
            "no-kvm-permission",
            BadInput {
                program: "/bin/busybox",
                fixture: Fixture::Empty,
                expect: Refusal::Exit(125),
                stderr_mentions: &["/dev/kvm"],
                as_nobody: true,
            },
        ),
    ];
    // A dynamic program whose interpreter does not exist: 127 and the interpreter's
    // name, as a shell reports it.
    v.push(bad(
        "missing-interpreter",
        BadInput {
            program: "./no-ld",
            fixture: Fixture::File { name: "no-ld", content: fixtures::with_missing_interpreter(), mode: 0o755 },
            expect: Refusal::Exit(127),
            stderr_mentions: &["/lib64/ld-linux-x86-64.so.9"],
            as_nobody: false,
        },
    ));
    v
}

/// Debian's own dynamically linked tools (coreutils, grep, sed, awk, find, gzip, xz, tar,
/// python3, perl, file), run on files every Debian machine has. Each must behave exactly as
/// natively: stdout, stderr and exit status.
const SYSTEM_COMMANDS: &[(&str, &[&str], i32)] = &[
    ("true", &["/bin/true"], 0),
    ("false", &["/bin/false"], 1),
    ("echo", &["/bin/echo", "hello", "world"], 0),
    // Everything after the program is the program's, linuxrun's own option names included.
    ("echo-linuxrun-options", &["/bin/echo", "--strace", "-v", "--memory", "1G", "--", "-V", "--help"], 0),
    ("ls-version", &["/bin/ls", "--version"], 0),
    ("sort-help", &["/usr/bin/sort", "--help"], 0),
    ("cat", &["/bin/cat", "/etc/passwd"], 0),
    ("sort", &["/usr/bin/sort", "-t:", "-k3", "-n", "/etc/passwd"], 0),
    ("wc", &["/usr/bin/wc", "/etc/passwd"], 0),
    ("sha256sum", &["/usr/bin/sha256sum", "/etc/passwd", "/bin/true"], 0),
    ("head", &["/usr/bin/head", "-3", "/etc/passwd"], 0),
    ("tail", &["/usr/bin/tail", "-2", "/etc/passwd"], 0),
    ("cut", &["/usr/bin/cut", "-d:", "-f1,3", "/etc/passwd"], 0),
    ("seq", &["/usr/bin/seq", "1", "3", "20"], 0),
    ("date", &["/bin/date", "-u", "-d", "@1234567890"], 0),
    ("expr", &["/usr/bin/expr", "6", "*", "7"], 0),
    // nice sets the priority and execs the second nice, which prints the value it inherited.
    ("nice", &["/usr/bin/nice", "-n", "5", "/usr/bin/nice"], 0),
    ("ls-l", &["/bin/ls", "-l", "/etc/passwd", "/bin/true"], 0),
    ("ls-missing", &["/bin/ls", "/nonexistent"], 2),
    ("uname", &["/bin/uname", "-a"], 0),
    ("id", &["/usr/bin/id"], 0),
    ("grep", &["/bin/grep", "-n", "root", "/etc/passwd"], 0),
    ("grep-r", &["/bin/grep", "-rl", "NF_INET_PRE_ROUTING", "/usr/include/linux"], 0),
    ("sed", &["/bin/sed", "-e", "s/:.*//", "/etc/passwd"], 0),
    ("awk", &["/usr/bin/awk", "-F:", "{ n += $3 } END { print NR, n }", "/etc/passwd"], 0),
    ("find", &["/usr/bin/find", "/usr/include/linux/netfilter", "-name", "*.h", "-newer", "/etc/hostname"], 0),
    ("gzip", &["/bin/gzip", "-9c", "/etc/passwd"], 0),
    ("xz", &["/usr/bin/xz", "-c", "/etc/passwd"], 0),
    ("tar", &["/bin/tar", "cf", "-", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "/usr/include/linux/netfilter"], 0),
    ("file", &["/usr/bin/file", "/bin/true", "/etc/passwd"], 0),
    (
        "sqlite3",
        &["/usr/bin/sqlite3", "test.db", "create table t(a, b); begin; insert into t values (1, 'x'), (2, 'y'); commit; select count(*), sum(a) from t;"],
        0,
    ),
    ("python3", &["/usr/bin/python3", "-c", "import json, hashlib, zlib; print(json.dumps({'h': hashlib.sha256(b'x').hexdigest(), 'z': len(zlib.compress(b'a' * 1000))}))"], 0),
    // Tools that execve another program in the same process.
    ("exec-busybox-sh", &["/bin/busybox", "sh", "-c", "exec /bin/echo hi"], 0),
    ("exec-env-i-true", &["/usr/bin/env", "-i", "/bin/true"], 0),
    ("exec-env-printenv", &["/usr/bin/env", "FOO=1", "/usr/bin/printenv", "FOO"], 0),
    ("exec-env-i-env", &["/usr/bin/env", "-i", "A=1", "B=two words", "/usr/bin/env"], 0),
    ("exec-missing", &["/usr/bin/env", "/nonexistent"], 127),
    ("exec-proc-exe", &["/usr/bin/env", "-i", "/bin/cat", "/proc/self/cmdline"], 0),
    // /proc as the guest serves it, read by real tools.
    ("proc-cmdline", &["/bin/cat", "/proc/self/cmdline"], 0),
    ("proc-readlink-exe", &["/usr/bin/readlink", "/proc/self/exe"], 0),
    ("proc-stat-types", &["/usr/bin/stat", "-c", "%n %F %a", "/proc/self/status", "/proc/self", "/proc/self/fd", "/proc/self/exe"], 0),
    ("proc-ostype", &["/bin/cat", "/proc/sys/kernel/ostype"], 0),
    ("python3-proc", &["/usr/bin/python3", "-c", "import os, sys; print(sorted(os.listdir('/proc/self/fd'), key=int)); print(os.readlink('/proc/self/exe') == os.path.realpath(sys.executable)); print(open('/proc/self/status').read().splitlines()[0])"], 0),
    (
        "bash-pipeline",
        &["/bin/bash", "-c", "for i in 1 2 3; do echo $i; done | wc -l; ls /usr/include/linux/netfilter | head -3; x=$(echo sub); echo $x $((6 * 7)); false || exit 5"],
        5,
    ),
    ("sh-commands", &["/bin/sh", "-c", "/bin/echo a; /bin/true && echo ok; /bin/false; echo $?; exit 3"], 3),
    // Background jobs (SIGCHLD into bash's handler), `wait`, kill of a job and its status,
    // traps of signals sent by the shell itself and by a subshell, PIPESTATUS after SIGPIPE.
    (
        "bash-jobs",
        &["/bin/bash", "-c", "sleep 0.1 & wait; echo waited $?; sleep 5 & p=$!; kill $p; wait $p; echo killed $?; (exit 4) & wait $!; echo sub $?"],
        0,
    ),
    (
        "bash-traps",
        &["/bin/bash", "-c", "trap 'echo usr1' USR1; kill -USR1 $$; trap 'echo term; exit 7' TERM; (sleep 0.2; kill -TERM $$) & while :; do sleep 0.05; done"],
        7,
    ),
    ("bash-pipestatus", &["/bin/bash", "-c", "yes | head -2; echo ${PIPESTATUS[@]}; seq 100000 | true; echo ${PIPESTATUS[@]}"], 0),
    ("dash-jobs", &["/bin/dash", "-c", "sleep 0.1 & wait; echo waited $?; trap 'echo int' INT; kill -INT $$; echo after"], 0),
    ("python3-subprocess", &["/usr/bin/python3", "-c", PYTHON_SUBPROCESS], 0),
    // python3's signal module: a handler for a signal it sends itself, setitimer's SIGALRM
    // during a sleep, pthread_sigmask and sigwait, SIGCHLD from a child, and the handler
    // of a signal sent by a child process (from outside).
    ("python3-signal", &["/usr/bin/python3", "-c", PYTHON_SIGNAL], 0),
    // Every process draws its own entropy: three python3 started by one parent print three
    // different os.getrandom values (and so get different hash seeds).
    ("python3-random", &["/usr/bin/python3", "-c", PYTHON_RANDOM], 0),
    // Threads: python3's threading, queue and thread pool; multiprocessing's Lock, shared
    // Value and Queue (POSIX semaphores, futexes shared between processes, a feeder
    // thread); sort and xz with two threads.
    ("python3-threads", &["/usr/bin/python3", "-c", PYTHON_THREADS], 0),
    ("python3-multiprocessing", &["/usr/bin/python3", "-c", PYTHON_MULTIPROCESSING], 0),
    // subprocess from threads (a fork from a thread other than the first, several at once,
    // while the others wait on locks), and a thread pool running commands.
    ("python3-subprocess-threads", &["/usr/bin/python3", "-c", PYTHON_SUBPROCESS_THREADS], 0),
    ("sort-parallel", &["/bin/sh", "-c", "seq 1 200000 | sort --parallel=2 -S 1M -rn | md5sum"], 0),
    ("xz-threads", &["/bin/sh", "-c", "seq 1 300000 | xz -T2 --block-size=200KiB -3 | xz -dc | md5sum"], 0),
    // Sockets and event loops: asyncio TCP echo, a threading socketserver, selectors on a
    // socketpair, urllib against http.server in a thread, getaddrinfo, UDP; all loopback.
    ("python3-net", &["/usr/bin/python3", "-c", PYTHON_NET], 0),
    // Credentials: os.setgroups/os.setresgid/os.setresuid to nobody in a child (Python's
    // calls reach every thread), what the child may do then, and the parent untouched.
    ("python3-creds", &["/usr/bin/python3", "-c", PYTHON_CREDS], 0),
    ("perl", &["/usr/bin/perl", "-e", "my %h = map { $_ => $_ ** 2 } 1..5; print join(',', map { \"$_=$h{$_}\" } sort keys %h), \"\\n\""], 0),
];

const PYTHON_NET: &str = r#"import asyncio, socket, selectors, socketserver, threading, http.server, urllib.request, json

async def echo_main():
    async def handle(r, w):
        data = await r.readline()
        w.write(data.upper()); await w.drain(); w.close()
    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    outs = []
    for i in range(3):
        r, w = await asyncio.open_connection("127.0.0.1", port)
        w.write(b"hello %d\n" % i); await w.drain()
        outs.append((await r.readline()).decode().strip()); w.close()
    srv.close(); await srv.wait_closed()
    return outs
print("asyncio", asyncio.run(echo_main()))

class H(socketserver.StreamRequestHandler):
    def handle(self):
        self.wfile.write(self.rfile.readline()[::-1])
with socketserver.ThreadingTCPServer(("127.0.0.1", 0), H) as s:
    t = threading.Thread(target=s.serve_forever); t.start()
    c = socket.create_connection(s.server_address); c.sendall(b"abc\n")
    print("socketserver", c.recv(100)); c.close(); s.shutdown(); t.join()

sel = selectors.DefaultSelector()
a, b = socket.socketpair()
sel.register(b, selectors.EVENT_READ, "b")
a.send(b"x")
print("selectors", [(k.data, ev) for k, ev in sel.select(timeout=5)])

class Q(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = json.dumps({"path": self.path}).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
        self.wfile.write(body)
    def log_message(self, *a): pass
httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Q)
t = threading.Thread(target=httpd.serve_forever); t.start()
print("http", urllib.request.urlopen("http://127.0.0.1:%d/x?y=1" % httpd.server_address[1]).read())
httpd.shutdown(); t.join()
print("getaddrinfo", sorted(set(a[4][0] for a in socket.getaddrinfo("localhost", 80, socket.AF_INET))))
u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0))
u.sendto(b"dgram", u.getsockname()); print("udp", u.recvfrom(100)[0])
"#;

const PYTHON_CREDS: &str = r#"import errno, os, sys
def attempt(name, f, *a):
    try:
        r = f(*a)
        print(name, 'ok' if r is None else r)
    except OSError as e:
        print(name, errno.errorcode[e.errno])
print('start', os.getresuid(), os.getresgid(), sorted(os.getgroups()))
pid = os.fork()
if pid == 0:
    attempt('setgroups', os.setgroups, [4, 2])
    print('groups', os.getgroups())
    attempt('setgroups-empty', os.setgroups, [])
    attempt('setresgid', os.setresgid, 65534, 65534, 65534)
    attempt('setresuid', os.setresuid, 65534, 65534, 65534)
    print('child', os.getresuid(), os.getresgid(), os.getgroups())
    attempt('setuid-root', os.setuid, 0)
    attempt('setgroups-again', os.setgroups, [])
    attempt('open-shadow', lambda: open('/etc/shadow').close())
    status = [l for l in open('/proc/self/status') if l.startswith(('Uid:', 'Gid:', 'Groups:'))]
    print(''.join(status), end='')
    sys.stdout.flush()
    os._exit(0)
os.waitpid(pid, 0)
print('parent', os.getresuid(), os.getresgid())
"#;

const PYTHON_SIGNAL: &str = r#"import os, signal, subprocess, sys, time
got = []
signal.signal(signal.SIGUSR1, lambda s, f: got.append(s))
os.kill(os.getpid(), signal.SIGUSR1)
print("self", got)
signal.signal(signal.SIGALRM, lambda s, f: got.append("alarm"))
signal.setitimer(signal.ITIMER_REAL, 0.05)
time.sleep(1)
print("timer", got[-1])
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
os.kill(os.getpid(), signal.SIGUSR2)
print("sigwait", signal.sigwait({signal.SIGUSR2}) == signal.SIGUSR2)
signal.signal(signal.SIGCHLD, lambda s, f: got.append("chld"))
subprocess.run(["/bin/true"])
print("sigchld", "chld" in got)
signal.signal(signal.SIGUSR1, lambda s, f: got.append("outside"))
subprocess.run(["/bin/sh", "-c", "kill -USR1 %d" % os.getpid()])
deadline = time.time() + 10
while "outside" not in got and time.time() < deadline:
    time.sleep(0.01)
print("outside", "outside" in got)
"#;

const PYTHON_THREADS: &str = r#"import threading, queue, concurrent.futures as cf
q = queue.Queue()
def work(i):
    q.put(i * i)
    return i + 1
with cf.ThreadPoolExecutor(4) as ex:
    results = list(ex.map(work, range(200)))
print("pool", sum(results), sum(q.get() for _ in range(200)))
lock = threading.Lock()
count = [0]
def add():
    for _ in range(20000):
        with lock:
            count[0] += 1
ts = [threading.Thread(target=add) for _ in range(4)]
[t.start() for t in ts]
[t.join() for t in ts]
print("locked count", count[0])
ev = threading.Event()
t = threading.Timer(0.05, ev.set)
t.start()
print("timer fired", ev.wait(5))
print("threads left", threading.active_count())
"#;

const PYTHON_SUBPROCESS_THREADS: &str = r#"import subprocess, threading, concurrent.futures as cf
def run(i):
    r = subprocess.run(["/bin/sh", "-c", f"echo child {i}; exit {i % 3}"], capture_output=True, text=True)
    return r.stdout.strip(), r.returncode
with cf.ThreadPoolExecutor(4) as ex:
    for out, rc in ex.map(run, range(12)):
        print(out, rc)
res = {}
def one():
    res["t"] = subprocess.check_output(["/bin/echo", "from", "a", "thread"], text=True).strip()
    try:
        subprocess.run(["/nonexistent/program"])
    except FileNotFoundError:
        res["missing"] = "FileNotFoundError"
t = threading.Thread(target=one)
t.start(); t.join()
print(res["t"], res["missing"])
"#;

const PYTHON_MULTIPROCESSING: &str = r#"import multiprocessing as mp
def add(lock, val):
    for _ in range(300):
        with lock:
            val.value += 1
if __name__ == "__main__":
    lock = mp.Lock()
    val = mp.Value("i", 0, lock=False)
    ps = [mp.Process(target=add, args=(lock, val)) for _ in range(3)]
    [p.start() for p in ps]
    [p.join() for p in ps]
    print("value", val.value, [p.exitcode for p in ps])
    q = mp.Queue()
    p = mp.Process(target=q.put, args=("from child",))
    p.start()
    print(q.get(timeout=10))
    p.join()
"#;

const PYTHON_RANDOM: &str = r#"import os, subprocess, sys
draw = "import os; print(os.getrandom(8).hex(), hash('x'))"
outs = [subprocess.run([sys.executable, "-c", draw], capture_output=True, text=True).stdout for _ in range(3)]
print("children differ", len(set(outs)) == 3)
print("parent differs", (os.getrandom(8).hex() + " " + str(hash("x")) + "\n") not in outs)
"#;

/// python3's subprocess: run with capture_output and check, CalledProcessError, a pipe
/// between two children, stdin input, a shell, children killed by a signal they sent
/// themselves (returncode -signal), and a program that does not exist.
const PYTHON_SUBPROCESS: &str = r#"import subprocess
r = subprocess.run(["/bin/echo", "hello"], capture_output=True, check=True)
print(r.returncode, r.stdout, r.stderr)
r = subprocess.run(["/bin/sh", "-c", "echo out; echo err >&2; exit 3"], capture_output=True)
print(r.returncode, r.stdout, r.stderr)
try:
    subprocess.run(["/bin/false"], check=True)
except subprocess.CalledProcessError as e:
    print("CalledProcessError", e.returncode)
p1 = subprocess.Popen(["/usr/bin/seq", "1", "1000"], stdout=subprocess.PIPE)
p2 = subprocess.Popen(["/usr/bin/wc", "-l"], stdin=p1.stdout, stdout=subprocess.PIPE)
p1.stdout.close()
out, _ = p2.communicate()
print("pipe", out.strip(), p1.wait(), p2.returncode)
for sig in ("TERM", "KILL", "INT"):
    r = subprocess.run(["/bin/sh", "-c", "kill -%s $$; echo not reached" % sig], capture_output=True)
    print("killed", sig, r.returncode, r.stdout)
print(subprocess.check_output("echo $((6*7)) | tr 4 x", shell=True, text=True).strip())
r = subprocess.run(["/bin/cat"], input=b"fed through stdin", capture_output=True)
print(r.stdout)
try:
    subprocess.run(["/nonexistent/prog"])
except FileNotFoundError as e:
    print("FileNotFoundError", e.errno)
"#;

/// A small C project built by GNU make: make, gcc, cc1, as, collect2 and ld all run under
/// linuxrun, the built program runs last, and the objects and binary must be the native
/// build's bytes.
fn make_cases() -> Vec<Case> {
    if !Path::new("/usr/bin/make").exists() || !Path::new("/usr/bin/gcc").exists() {
        return vec![];
    }
    let file = |name: &'static str, text: &str| (name, text.as_bytes().to_vec(), 0o644);
    let project = vec![
        file("common.h", "int add(int a, int b);\nconst char *greeting(int n);\n"),
        file(
            "main.c",
            "#include <stdio.h>\n#include <stdlib.h>\n#include \"common.h\"\nint main(int argc, char **argv)\n{\n    int n = argc > 1 ? atoi(argv[1]) : 1;\n    for (int i = 0; i < n; i++)\n        printf(\"%s %d\\n\", greeting(i), add(i, 40));\n    return 0;\n}\n",
        ),
        file("util.c", "#include \"common.h\"\nint add(int a, int b) { return a + b; }\n"),
        file(
            "greet.c",
            "#include \"common.h\"\nconst char *greeting(int n)\n{\n    static const char *w[] = {\"hello\", \"bonjour\", \"hallo\"};\n    return w[n % 3];\n}\n",
        ),
        file(
            "Makefile",
            "CC = gcc\nCFLAGS = -O2 -Wall\nOBJS = main.o util.o greet.o\n\nrun: prog\n\t./prog 3\n\nprog: $(OBJS)\n\t$(CC) -o $@ $(OBJS)\n\n%.o: %.c common.h\n\t$(CC) $(CFLAGS) -c $<\n",
        ),
    ];
    // make -j2 waits for a jobserver token in pselect6 and relies on SIGCHLD from the host
    // to wake it when a job ends; plain make waits in wait4.
    let runs: Vec<(&str, &[&str])> =
        vec![("make", &["/usr/bin/make", "run"]), ("make-j2", &["/usr/bin/make", "-j2", "run"])];
    runs.into_iter()
        .map(|(name, argv)| Case {
            name: format!("tool/{name}"),
            body: Body::Differential(Differential {
                build: None,
                argv: argv.iter().map(OsString::from).collect(),
                stdin: None,
                fixture: Fixture::Files(project.clone()),
                native_status: Status::Exit(0),
                compare_stderr: true,
                compare_tree: true,
            }),
        })
        .collect()
}

/// Debian tools with several options each on the tool fixture tree (see
/// fixtures::tool_tree): archives and compressed files made natively are unpacked, trees
/// copied and changed, and the resulting work dir compared where a command writes.
const TOOLS: &[Applet] = &[
    applet("ls-lR", &["/bin/ls", "-lR", "--time-style=+%s", "tree", "empty"]),
    applet("ls-1sSr", &["/bin/ls", "-1sSr", "."]),
    applet("stat", &["/usr/bin/stat", "-c", "%n %s %F %a %h %Y", "tree/f1", "tree/link", "tree/sub", "big.bin"]),
    applet("stat-L", &["/usr/bin/stat", "-L", "-c", "%n %s %F", "tree/link"]),
    applet("du", &["/usr/bin/du", "-sb", "tree"]),
    with_stdin(applet("tr", &["/usr/bin/tr", "-s", "a-z", "A-Z"]), "words.txt"),
    applet("sort-fu", &["/usr/bin/sort", "-f", "-u", "words.txt"]),
    applet("sort-k", &["/usr/bin/sort", "-k1,1nr", "nums.txt"]),
    applet("uniq", &["/usr/bin/uniq", "-c", "-i", "words.txt"]),
    applet("nl", &["/usr/bin/nl", "-ba", "b.txt"]),
    applet("od", &["/usr/bin/od", "-A", "x", "-t", "x1z", "-N", "64", "big.bin"]),
    applet("base64", &["/usr/bin/base64", "-w", "60", "tree/f2"]),
    applet("cksum", &["/usr/bin/cksum", "a.txt", "b.txt", "big.bin"]),
    applet("md5sum", &["/usr/bin/md5sum", "a.txt", "big.bin"]),
    applet("sha256sum-tree", &["/usr/bin/sha256sum", "tree/f1", "tree/f2", "tree/exe", "tree/sub/f3", "big.bin"]),
    applet("tac", &["/usr/bin/tac", "nums.txt"]),
    applet("paste", &["/usr/bin/paste", "-d,", "a.txt", "nums.txt"]),
    applet("comm", &["/usr/bin/comm", "--nocheck-order", "-3", "a.txt", "b.txt"]),
    applet("realpath", &["/usr/bin/realpath", "--relative-to=.", "tree/link", "tree/sub/../f2"]),
    applet("printf", &["/usr/bin/printf", "%05d|%-6s|%x\n", "42", "ab", "255"]),
    applet("grep-c", &["/bin/grep", "-c", "-i", "apple", "words.txt", "a.txt"]),
    applet("grep-rn", &["/bin/grep", "-rn", "--include=f*", "e", "tree"]),
    applet("sed-n", &["/bin/sed", "-n", "2,5p;/apple/=", "words.txt"]),
    applet("awk-printf", &["/usr/bin/awk", "{ s[$1]++ } END { for (w in s) n++; printf \"%d distinct\\n\", n }", "words.txt"]),
    applet("find-printf", &["/usr/bin/find", "tree", "-type", "f", "-printf", "%p %s %m\n"]),
    applet("tar-t", &["/bin/tar", "tvf", "tree.tar"]),
    changes_tree(applet("tar-x", &["/bin/tar", "xf", "tree.tar", "-C", "empty"])),
    changes_tree(applet("tar-c", &["/bin/tar", "cf", "out.tar", "--sort=name", "--mtime=@0", "--owner=0", "--group=0", "tree"])),
    changes_tree(applet("gzip-d", &["/bin/gzip", "-df", "a.txt.gz"])),
    changes_tree(applet("gzip-k", &["/bin/gzip", "-9kn", "big.bin"])),
    applet("gzip-t", &["/bin/gzip", "-tv", "a.txt.gz"]),
    changes_tree(applet("xz-d", &["/usr/bin/xz", "-dk", "--stdout", "big.bin.xz"])),
    changes_tree(applet("xz-k", &["/usr/bin/xz", "-k", "-0", "a.txt"])),
    changes_tree(applet("cp-r", &["/bin/cp", "-r", "tree", "copy"])),
    changes_tree(applet("cp-a", &["/bin/cp", "-a", "tree", "copy"])),
    changes_tree(applet("mv", &["/bin/mv", "tree", "empty/moved"])),
    changes_tree(applet("rm-r", &["/bin/rm", "-r", "tree", "a.txt"])),
    changes_tree(applet("mkdir-p", &["/bin/mkdir", "-p", "-m", "750", "x/y/z"])),
    changes_tree(applet("ln-s", &["/bin/ln", "-s", "a.txt", "tree/sub", "empty/"])),
    changes_tree(applet("chmod-R", &["/bin/chmod", "-R", "go-rwx", "tree"])),
    changes_tree(applet("touch", &["/usr/bin/touch", "-d", "@86400", "new.txt", "a.txt"])),
    changes_tree(applet("split", &["/usr/bin/split", "-l", "30", "nums.txt", "part."])),
    changes_tree(applet("python3-walk", &["/usr/bin/python3", "walk.py"])),
    changes_tree(applet("sqlite3-file", &["/usr/bin/sqlite3", "t.db", "create table t(x); insert into t values (1),(2),(3); select sum(x) from t;"])),
    applet("perl-files", &["/usr/bin/perl", "-e", "opendir(my $d, 'tree') or die; print join(' ', sort grep { !/^\\./ } readdir $d), qq(\\n); open(my $f, '<', 'nums.txt') or die; my @l = <$f>; print scalar(@l), qq(\\n);"]),
    // gcc runs cpp/cc1, as, collect2 and ld as child processes: the binary must be the
    // same bytes as the native build's.
    changes_tree(applet("gcc", &["/usr/bin/gcc", "-O2", "-o", "hello", "hello.c"])),
    failing(applet("cat-missing", &["/bin/cat", "a.txt", "missing"]), 1),
];

fn tool_cases() -> impl Iterator<Item = Case> {
    TOOLS.iter().map(|a| Case {
        name: format!("tool/{}", a.name),
        body: needs(
            a.args[0],
            Body::Differential(Differential {
                build: None,
                argv: a.args.iter().map(OsString::from).collect(),
                stdin: a.stdin,
                fixture: Fixture::ToolTree,
                native_status: Status::Exit(a.status),
                compare_stderr: true,
                compare_tree: a.tree,
            }),
        ),
    })
}

/// Crafted ELF files (src/elf_craft.rs) that bend one rule of the format each, run
/// directly (`elf/NAME`: linuxrun's first program) and through bash's exec (`elf-execve/NAME`:
/// the execve syscall inside linuxrun): the loader must decide as Linux's binfmt_elf does.
pub fn elf_cases() -> Vec<Case> {
    let via_bash = Path::new("/bin/bash").exists();
    let mut v = Vec::new();
    for crafted in crate::elf_craft::cases() {
        let differential = |argv: &[&str]| {
            Body::Differential(Differential {
                build: None,
                argv: argv.iter().map(OsString::from).collect(),
                stdin: None,
                fixture: Fixture::Files(
                    core::iter::once(("prog", crafted.file.clone(), 0o755))
                        .chain(crafted.companion.map(|(name, content)| (name, content.to_vec(), 0o755)))
                        .collect(),
                ),
                native_status: crafted.native.clone(),
                // The messages are the shell's and linuxrun's own.
                compare_stderr: false,
                compare_tree: false,
            })
        };
        v.push(Case { name: format!("elf/{}", crafted.name), body: differential(&["./prog"]) });
        if via_bash {
            let body = differential(&["/bin/bash", "-c", "exec \"$0\"", "./prog"]);
            v.push(Case { name: format!("elf-execve/{}", crafted.name), body });
        }
    }
    v
}

/// Dynamically linked system binaries and Debian tools, where installed.
pub fn dynamic_cases() -> Vec<Case> {
    let tools: Vec<Case> = tool_cases().collect();
    SYSTEM_COMMANDS
        .iter()
        .map(|(name, argv, status)| Case {
            name: format!("system/{name}"),
            body: needs(
                argv[0],
                Body::Differential(Differential {
                    build: None,
                    argv: argv.iter().map(OsString::from).collect(),
                    stdin: None,
                    fixture: Fixture::Empty,
                    native_status: Status::Exit(*status),
                    compare_stderr: true,
                    compare_tree: false,
                }),
            ),
        })
        .chain(tools)
        .chain(java_cases())
        .chain(threaded_tool_cases())
        .chain(make_cases())
        .collect()
}

/// `body` where `program` is installed, else a skip that says what is missing.
fn needs(program: &str, body: Body) -> Body {
    if Path::new(program).exists() {
        body
    } else {
        Body::Unavailable(format!("{program} is not installed"))
    }
}

/// Java (issue 21's real threaded programs): the JVM starts a dozen threads of its own
/// (compiler, GC, finalizer) before `main`. `java -version` needs a JRE; the thread pool
/// program runs through the source launcher, which needs a JDK (Debian's
/// `default-jdk-headless`, not installed by scripts/test: too heavy for every run).
fn java_cases() -> impl Iterator<Item = Case> {
    let version = Differential {
        build: None,
        argv: vec!["/usr/bin/java".into(), "-version".into()],
        stdin: None,
        fixture: Fixture::Empty,
        native_status: Status::Exit(0),
        compare_stderr: true,
        compare_tree: false,
    };
    let threads = Differential {
        argv: vec!["/usr/bin/java".into(), "Threads.java".into()],
        fixture: Fixture::Files(vec![("Threads.java", JAVA_THREADS.as_bytes().to_vec(), 0o644)]),
        ..version.clone()
    };
    [
        ("java-version", needs("/usr/bin/java", Body::Differential(version))),
        ("java-threads", needs("/usr/bin/javac", Body::Differential(threads))),
    ]
    .into_iter()
    .map(|(name, body)| Case { name: format!("system/{name}"), body })
}

/// A fixed thread pool, `synchronized` counters, a CountDownLatch, a parallel stream and
/// a thread that ends by an exception the pool reports: deterministic output only.
const JAVA_THREADS: &str = r#"import java.util.*;
import java.util.concurrent.*;
import java.util.stream.*;

public class Threads {
    static long counter = 0;
    static synchronized void add(long n) { counter += n; }

    public static void main(String[] args) throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        List<Callable<Long>> jobs = new ArrayList<>();
        for (long i = 1; i <= 8; i++) {
            final long k = i;
            jobs.add(() -> { for (int j = 0; j < 100000; j++) add(1); return k * k; });
        }
        long sum = 0;
        for (Future<Long> f : pool.invokeAll(jobs)) sum += f.get();
        System.out.println("squares " + sum + " counter " + counter);
        CountDownLatch latch = new CountDownLatch(3);
        for (int i = 0; i < 3; i++) pool.submit(latch::countDown);
        System.out.println("latch " + latch.await(10, TimeUnit.SECONDS));
        Future<?> bad = pool.submit(() -> { throw new IllegalStateException("boom"); });
        try { bad.get(); } catch (ExecutionException e) { System.out.println("caught " + e.getCause().getMessage()); }
        pool.shutdown();
        System.out.println("terminated " + pool.awaitTermination(10, TimeUnit.SECONDS));
        System.out.println("parallel " + LongStream.rangeClosed(1, 1000000).parallel().sum());
        Thread t = new Thread(() -> System.out.println("thread " + Thread.currentThread().getName()), "worker-1");
        t.start(); t.join();
    }
}
"#;

/// Threaded programs of other runtimes (issue 21), where installed: zstd with two worker
/// threads (a round trip, as `xz-threads`) and Node.js (worker threads, libuv's thread
/// pool, timers, Promise.all).
fn threaded_tool_cases() -> impl Iterator<Item = Case> {
    let zstd = Differential {
        build: None,
        argv: ["/bin/sh", "-c", "seq 1 1000000 | zstd -q -T2 -B1MiB -3 -c | zstd -q -dc | md5sum"]
            .iter()
            .map(OsString::from)
            .collect(),
        stdin: None,
        fixture: Fixture::Empty,
        native_status: Status::Exit(0),
        compare_stderr: true,
        compare_tree: false,
    };
    let node = Differential { argv: vec!["/usr/bin/node".into(), "-e".into(), NODE_THREADS.into()], ..zstd.clone() };
    [
        ("zstd-threads", needs("/usr/bin/zstd", Body::Differential(zstd))),
        ("node-workers", needs("/usr/bin/node", Body::Differential(node))),
    ]
    .into_iter()
    .map(|(name, body)| Case { name: format!("system/{name}"), body })
}

/// Four workers sum squares over their ranges (BigInt) and count themselves in a
/// SharedArrayBuffer, one waits with Atomics.wait for the main thread's notify; pbkdf2 on
/// libuv's thread pool four at once, three timers (none fires early), all awaited with
/// Promise.all.
const NODE_THREADS: &str = r#"const { Worker } = require('worker_threads');
const crypto = require('crypto');
const sumCode = `
const { parentPort, workerData } = require('worker_threads');
let s = 0n;
for (let i = workerData.from; i < workerData.to; i++) s += BigInt(i) * BigInt(i);
Atomics.add(new Int32Array(workerData.sab), 0, 1);
parentPort.postMessage(s.toString());
`;
const waitCode = `
const { parentPort, workerData } = require('worker_threads');
const a = new Int32Array(workerData.sab);
Atomics.wait(a, 1, 0);
parentPort.postMessage(Atomics.load(a, 1));
`;
function run(code, workerData) {
  return new Promise((resolve, reject) => {
    const w = new Worker(code, { eval: true, workerData });
    w.on('message', resolve);
    w.on('error', reject);
  });
}
(async () => {
  const sab = new SharedArrayBuffer(8);
  const waiter = run(waitCode, { sab });
  const parts = await Promise.all([0, 1, 2, 3].map(k => run(sumCode, { from: k * 100000, to: (k + 1) * 100000, sab })));
  console.log('parts', parts.join(' '));
  console.log('total', parts.reduce((a, b) => a + BigInt(b), 0n).toString(), 'workers', new Int32Array(sab)[0]);
  const a = new Int32Array(sab);
  Atomics.store(a, 1, 42);
  Atomics.notify(a, 1);
  console.log('waiter got', await waiter);
  const keys = await Promise.all([1, 2, 3, 4].map(i => new Promise((res, rej) =>
    crypto.pbkdf2('pw' + i, 'salt', 2000, 16, 'sha256', (e, k) => e ? rej(e) : res(k.toString('hex'))))));
  console.log('pbkdf2', keys.join(' '));
  // Promise.all answers in its input's order; the order the timers fire in depends on
  // how long the loop took between the setTimeout calls (each takes the time anew).
  const t0 = performance.now();
  const fired = await Promise.all([30, 10, 20].map(ms => new Promise(r => setTimeout(() => r([ms, performance.now() - t0]), ms))));
  console.log('timers', fired.map(f => f[0]).join(' '), 'none early', fired.every(([ms, at]) => at >= ms - 1));
})().catch(e => { console.error(e); process.exit(1); });
"#;

/// The threaded Rust program (tests/src/bin/rust_threads.rs: std's threads and locks,
/// rayon), which cargo builds with this suite and names to it (CARGO_BIN_EXE_rust_threads).
pub fn rust_cases(rust_threads: &Path) -> Vec<Case> {
    vec![Case {
        name: "rust/threads".into(),
        body: Body::Differential(Differential {
            build: None,
            argv: vec![rust_threads.into()],
            stdin: None,
            fixture: Fixture::Empty,
            native_status: Status::Exit(0),
            compare_stderr: true,
            compare_tree: false,
        }),
    }]
}

/// `#!` scripts: the kernel (here linuxrun) runs the interpreter named on the first line
/// with `[interpreter, optional argument, script path, arguments...]`, following nested
/// scripts. `interp_src` is tests/c/script_interp.c, which prints its argument vector.
pub fn script_cases(interp_src: &Path, out_dir: &Path) -> Vec<Case> {
    let interp = out_dir.join(Flavour::Static.name()).join("script_interp");
    let interp = interp.to_string_lossy().into_owned();
    let script = |line: String| (line.into_bytes(), 0o755);
    let differential = |name: &str, files: Vec<(&'static str, (Vec<u8>, u32))>, argv: &[&str]| Case {
        name: format!("script/{name}"),
        body: Body::Differential(Differential {
            build: Some((interp_src.to_path_buf(), Flavour::Static)),
            argv: argv.iter().map(OsString::from).collect(),
            stdin: None,
            fixture: Fixture::Files(files.into_iter().map(|(n, (c, m))| (n, c, m)).collect()),
            native_status: Status::Exit(0),
            compare_stderr: true,
            compare_tree: false,
        }),
    };
    // Five nested scripts are the most Linux follows (s4 -> s3 -> ... -> s0 -> ELF).
    let chain = |levels: usize| -> Vec<(&'static str, (Vec<u8>, u32))> {
        const NAMES: [&str; 6] = ["s0", "s1", "s2", "s3", "s4", "s5"];
        (0..levels)
            .map(|i| {
                let line = if i == 0 { format!("#!{interp}\n") } else { format!("#!./{} arg{i}\n", NAMES[i - 1]) };
                (NAMES[i], script(line))
            })
            .collect()
    };
    let mut long = format!("#!{interp} ");
    long.push_str(&"y".repeat(300));
    long.push('\n');
    let mut v = vec![
        differential("plain", vec![("s", script(format!("#!{interp}\necho not run\n")))], &["./s", "x", "two words"]),
        differential(
            "optional-argument",
            vec![("s", script(format!("#! \t{interp}  -o  one  argument \t\n")))],
            &["./s", "x"],
        ),
        differential("long-line-cut", vec![("s", script(long))], &["./s"]),
        differential("busybox-echo", vec![("s", script("#!/bin/busybox echo\n".into()))], &["./s", "a", "b"]),
        differential("nested", chain(2), &["./s1", "x"]),
        differential("nested-5", chain(5), &["./s4", "x"]),
    ];
    let bad =
        |name: &str, fixture: Fixture, program: &'static str, code: i32, mentions: &'static [&'static str]| Case {
            name: format!("script/{name}"),
            body: Body::LinuxrunOnly(BadInput {
                program,
                fixture,
                expect: Refusal::Exit(code),
                stderr_mentions: mentions,
                as_nobody: false,
            }),
        };
    let files = |list: Vec<(&'static str, (Vec<u8>, u32))>| {
        Fixture::Files(list.into_iter().map(|(n, (c, m))| (n, c, m)).collect())
    };
    v.extend([
        // Six nested scripts: ELOOP, which a shell reports as 126.
        bad("nested-6-eloop", files(chain(6)), "./s5", 126, &["too many levels"]),
        bad(
            "missing-interpreter",
            files(vec![("s", script("#!/nonexistent/interp\n".into()))]),
            "./s",
            127,
            &["/nonexistent/interp"],
        ),
        bad(
            "not-executable",
            files(vec![("s", ("#!/bin/busybox echo\n".into(), 0o644))]),
            "./s",
            126,
            &["permission denied"],
        ),
        bad(
            "interpreter-not-executable",
            files(vec![("s", script("#!/etc/passwd\n".into()))]),
            "./s",
            126,
            &["/etc/passwd"],
        ),
        bad("no-interpreter", files(vec![("s", script("#!  \n".into()))]), "./s", 126, &["exec format"]),
    ]);
    v
}
