//! A program under linuxrun and a native program meet on the host's network: TCP on
//! 127.0.0.1 in both directions with real tools (python3's http.server, curl, wget, nc,
//! openssl, ssh/sshd, git, node, redis), and UNIX sockets whose paths go through the
//! filesystem view. Loopback only. These need /dev/kvm and the tools (see support/mod.rs
//! for how a test without them is counted and shown; scripts/test installs the tools).

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

mod support;
use support::{kvm_available, linuxrun, skip, text};

/// A host tool a test runs under linuxrun; None (after a counted skip) when it is missing.
fn tool(path: &str) -> Option<&str> {
    if Path::new(path).exists() {
        Some(path)
    } else {
        skip(&format!("{path} is not installed"));
        None
    }
}

/// A private directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("linuxrun-net-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// Kills the child when the test ends, passed or not.
struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Connect to 127.0.0.1:`port` as soon as someone listens there (30 s at most).
fn connect_when_listening(port: u16, server: &mut Child) -> TcpStream {
    let start = Instant::now();
    loop {
        if let Ok(s) = TcpStream::connect(("127.0.0.1", port)) {
            return s;
        }
        if let Ok(Some(status)) = server.try_wait() {
            panic!("the server ended before it listened: {status:?}");
        }
        assert!(start.elapsed() < Duration::from_secs(30), "nothing listened on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A child in its own process group (with everything it starts), stdout and stderr going
/// to files of the test's directory. If the test ends before the child, the whole group is
/// killed: nothing a test starts outlives it.
struct Job {
    child: Child,
    name: String,
    out: PathBuf,
    err: PathBuf,
    ended: bool,
}

impl Job {
    fn start(cmd: &mut Command, dir: &Path, name: &str, stdin: Stdio) -> Job {
        let out = dir.join(format!("{name}.out"));
        let err = dir.join(format!("{name}.err"));
        let child = cmd
            .stdin(stdin)
            .stdout(File::create(&out).unwrap())
            .stderr(File::create(&err).unwrap())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("{name} does not start: {e}"));
        Job { child, name: name.to_owned(), out, err, ended: false }
    }

    /// What it wrote to stderr so far (for failure messages).
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.err).unwrap_or_default()
    }

    /// Its exit status and output; fails the test (killing the group) after `secs`.
    fn finish(mut self, secs: u64) -> Output {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                self.kill_group();
                panic!("{} did not end within {secs} s; its stderr:\n{}", self.name, self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        // Whatever it left running in its group (none expected) goes with it.
        self.kill_group();
        self.ended = true;
        Output { status, stdout: std::fs::read(&self.out).unwrap(), stderr: std::fs::read(&self.err).unwrap() }
    }

    fn kill_group(&self) {
        // SAFETY: kill takes no pointers; the group is the one this child leads.
        unsafe { libc::kill(-(self.child.id() as i32), libc::SIGKILL) };
    }

    /// Wait until it listens on 127.0.0.1:`port` (120 s at most), without connecting: a
    /// server that serves one connection must keep it for the test. /proc/net/tcp lists
    /// listening sockets (state 0A) by hexadecimal address and port.
    fn wait_listening(&mut self, port: u16) {
        let start = Instant::now();
        let ours = [format!("0100007F:{port:04X}"), format!("00000000:{port:04X}")];
        loop {
            let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
            let listening = table.lines().any(|line| {
                let f: Vec<&str> = line.split_whitespace().collect();
                f.len() > 3 && ours.iter().any(|a| a == f[1]) && f[3] == "0A"
            });
            if listening {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.ended = true;
                panic!("{} ended before it listened ({status:?}); its stderr:\n{}", self.name, self.stderr());
            }
            if start.elapsed() > Duration::from_secs(120) {
                panic!("{} did not listen on port {port} within 120 s; its stderr:\n{}", self.name, self.stderr());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Job {
    fn drop(&mut self) {
        if !self.ended {
            self.kill_group();
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Runs `cmd` to its end (at most `secs`) with `stdin`, in the test's directory's files.
fn run_with(cmd: &mut Command, dir: &Path, name: &str, stdin: Stdio, secs: u64) -> Output {
    Job::start(cmd, dir, name, stdin).finish(secs)
}

/// The same with no input.
fn run(cmd: &mut Command, dir: &Path, name: &str, secs: u64) -> Output {
    run_with(cmd, dir, name, Stdio::null(), secs)
}

/// The output of a command that must succeed.
fn ok(out: Output) -> Output {
    assert_eq!(out.status.code(), Some(0), "stdout:\n{}\nstderr:\n{}", text(&out.stdout), text(&out.stderr));
    out
}

/// `args` run under linuxrun.
fn under_linuxrun<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let mut cmd = Command::new(linuxrun());
    cmd.args(args);
    cmd
}

/// `args` run natively.
fn native<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> Command {
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]);
    cmd
}

/// A native HTTP server on a thread: answers each request with its method and path.
fn native_http_server() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            // The whole head is read: unread bytes at close would reset the connection.
            let mut reader = BufReader::new(&conn);
            let mut first = String::new();
            reader.read_line(&mut first).unwrap_or_default();
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 2 {
                line.clear();
            }
            let mut words = first.split_whitespace();
            let (method, path) = (words.next().unwrap_or("?"), words.next().unwrap_or("?"));
            let body =
                if method == "GET" { format!("native saw {path}\n") } else { format!("native saw {method} {path}\n") };
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(body.as_bytes());
        }
    });
    port
}

/// `len` bytes of a fixed pseudo-random pattern (no compression helps, every byte counts).
fn pattern(len: usize) -> Vec<u8> {
    let mut x = 0x2545_f491_4f6c_dd1du64;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn a_native_client_fetches_from_python_http_server_under_linuxrun() {
    if !kvm_available() {
        return;
    }
    let Some(python) = tool("/usr/bin/python3") else { return };
    let dir = scratch("http-server");
    std::fs::write(dir.join("hello.txt"), "served from inside linuxrun\n").unwrap();
    let port = free_port();
    let mut server = Killed(
        Command::new(linuxrun())
            .args([python, "-m", "http.server", &port.to_string(), "--bind", "127.0.0.1", "--directory"])
            .arg(&dir)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    for _ in 0..3 {
        let mut conn = connect_when_listening(port, &mut server.0);
        conn.write_all(b"GET /hello.txt HTTP/1.0\r\nHost: localhost\r\n\r\n").unwrap();
        let mut reply = String::new();
        conn.read_to_string(&mut reply).unwrap();
        assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");
        assert!(reply.ends_with("\r\n\r\nserved from inside linuxrun\n"), "{reply}");
    }
}

#[test]
fn curl_under_linuxrun_fetches_from_a_native_server() {
    if !kvm_available() {
        return;
    }
    let Some(curl) = tool("/usr/bin/curl") else { return };
    let port = native_http_server();
    for host in ["127.0.0.1", "localhost"] {
        let url = format!("http://{host}:{port}/from/{host}");
        let out = Command::new(linuxrun()).args([curl, "-sS", "--max-time", "20", &url]).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        assert_eq!(text(&out.stdout), format!("native saw /from/{host}\n"), "{out:?}");
    }
}

/// Runs under linuxrun: `serve PATH` binds a UNIX stream socket at PATH, prints its name
/// and answers one connection with its message upper-cased; `ask PATH` connects to PATH,
/// sends "ping" and prints the answer.
const UNIX_PEER: &str = r#"
import socket, sys
mode, path = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
if mode == "serve":
    s.bind(path)
    s.listen(1)
    print(s.getsockname(), flush=True)
    c, _ = s.accept()
    c.sendall(c.recv(16).upper())
else:
    s.connect(path)
    print(s.getpeername())
    s.sendall(b"ping")
    print(s.recv(16).decode())
"#;

#[test]
fn unix_socket_paths_go_through_the_filesystem_view_to_native_peers() {
    if !kvm_available() {
        return;
    }
    let Some(python) = tool("/usr/bin/python3") else { return };
    let dir = scratch("unix");
    // The host directory appears to the program at a path of its own.
    let guest_dir = format!("/linuxrun-net-test-{}", std::process::id());
    let bind = format!("{}:{guest_dir}", dir.display());

    // The program listens at a guest path; a native client finds it at the host path.
    let guest_path = format!("{guest_dir}/inside.sock");
    let mut server = Killed(
        Command::new(linuxrun())
            .args(["--bind", &bind, python, "-c", UNIX_PEER, "serve", &guest_path])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut name = String::new();
    BufReader::new(server.0.stdout.as_mut().unwrap()).read_line(&mut name).unwrap();
    assert_eq!(name, format!("{guest_path}\n"), "getsockname shows the guest path");
    let mut conn = UnixStream::connect(dir.join("inside.sock")).unwrap();
    conn.write_all(b"hello").unwrap();
    let mut reply = String::new();
    conn.read_to_string(&mut reply).unwrap();
    assert_eq!(reply, "HELLO");

    // A native server at a host path; the program connects through the guest path.
    let listener = UnixListener::bind(dir.join("outside.sock")).unwrap();
    std::thread::spawn(move || {
        let (mut c, _) = listener.accept().unwrap();
        let mut buf = [0u8; 4];
        c.read_exact(&mut buf).unwrap();
        c.write_all(b"pong").unwrap();
    });
    let guest_path = format!("{guest_dir}/outside.sock");
    let out =
        Command::new(linuxrun()).args(["--bind", &bind, python, "-c", UNIX_PEER, "ask", &guest_path]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout), format!("{guest_path}\npong\n"), "{out:?}");
}

#[test]
fn redis_server_under_linuxrun_serves_native_clients() {
    if !kvm_available() {
        return;
    }
    let (Some(server), Some(cli), Some(bench)) =
        (tool("/usr/bin/redis-server"), tool("/usr/bin/redis-cli"), tool("/usr/bin/redis-benchmark"))
    else {
        return;
    };
    let dir = scratch("redis");
    let port = free_port().to_string();
    let mut redis = Killed(
        Command::new(linuxrun())
            .args([server, "--port", &port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir"])
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    drop(connect_when_listening(port.parse().unwrap(), &mut redis.0));
    let ask = |args: &[&str]| {
        let out = Command::new(cli).args(["-p", &port]).args(args).output().unwrap();
        assert_eq!(out.status.code(), Some(0), "{out:?}");
        text(&out.stdout)
    };
    assert_eq!(ask(&["ping"]), "PONG\n");
    assert_eq!(ask(&["set", "greeting", "hello from a VM"]), "OK\n");
    assert_eq!(ask(&["get", "greeting"]), "hello from a VM\n");
    for n in 1..=3 {
        assert_eq!(ask(&["incr", "counter"]), format!("{n}\n"));
    }
    // Many connections at once through the server's epoll loop.
    let out =
        Command::new(bench).args(["-p", &port, "-q", "-n", "2000", "-c", "20", "-t", "set,get"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    // greeting, counter and the one key redis-benchmark sets and gets.
    assert_eq!(ask(&["dbsize"]), "3\n");
}

#[test]
fn wget_under_linuxrun_downloads_from_native_python_http_server() {
    if !kvm_available() {
        return;
    }
    let (Some(python), Some(wget)) = (tool("/usr/bin/python3"), tool("/usr/bin/wget")) else { return };
    let dir = scratch("wget");
    let www = dir.join("www");
    std::fs::create_dir(&www).unwrap();
    std::fs::write(www.join("hello.txt"), "served natively\n").unwrap();
    let big = pattern(3 << 20);
    std::fs::write(www.join("big.bin"), &big).unwrap();
    let port = free_port();
    let mut server = Job::start(
        native(&[python, "-m", "http.server", &port.to_string(), "--bind", "127.0.0.1"]).arg("--directory").arg(&www),
        &dir,
        "http.server",
        Stdio::null(),
    );
    server.wait_listening(port);
    let url = |file: &str| format!("http://127.0.0.1:{port}/{file}");
    let out = ok(run(
        &mut under_linuxrun(&[wget, "-q", "--tries=1", "--timeout=60", "-O", "-", &url("hello.txt")]),
        &dir,
        "wget-1",
        120,
    ));
    assert_eq!(text(&out.stdout), "served natively\n");
    let got = dir.join("got.bin");
    let mut wget_big = under_linuxrun(&[wget, "-q", "--tries=1", "--timeout=60", "-O"]);
    ok(run(wget_big.arg(&got).arg(url("big.bin")), &dir, "wget-2", 120));
    assert!(std::fs::read(&got).unwrap() == big, "the 3 MiB file arrived changed");
    // A missing file: wget's exit status for an HTTP error.
    let out = run(&mut under_linuxrun(&[wget, "-q", "--tries=1", "-O", "-", &url("missing")]), &dir, "wget-3", 120);
    assert_eq!(out.status.code(), Some(8), "{out:?}");
}

/// Debian's netcat-openbsd.
const NC: &str = "/usr/bin/nc.openbsd";

/// nc sessions between `nc -l` and a connecting nc: once the listener sends 200 kB and
/// the connector only receives (-d: it reads no input), once the other way round. The
/// sender half-closes at the end of its input (-N), which ends both. (nc ends as soon as
/// the network side reaches its end, so a session carries data one way only: sending
/// both ways at once would cut the slower direction short, natively too.)
fn nc_sessions(dir: &Path, listener_under_linuxrun: bool) {
    let data = pattern(200_000);
    std::fs::write(dir.join("data"), &data).unwrap();
    let wrap = |args: &[&str], under: bool| if under { under_linuxrun(args) } else { native(args) };
    for listener_sends in [true, false] {
        let port = free_port().to_string();
        let input = || Stdio::from(File::open(dir.join("data")).unwrap());
        let (sender, receiver) = if listener_sends { ("nc-l", "nc") } else { ("nc", "nc-l") };
        let role = |name: &str| if name == sender { ("-N", input()) } else { ("-d", Stdio::null()) };
        let (flag, stdin) = role("nc-l");
        let mut listener =
            Job::start(&mut wrap(&[NC, flag, "-l", "127.0.0.1", &port], listener_under_linuxrun), dir, "nc-l", stdin);
        listener.wait_listening(port.parse().unwrap());
        let (flag, stdin) = role("nc");
        let connector =
            run_with(&mut wrap(&[NC, flag, "127.0.0.1", &port], !listener_under_linuxrun), dir, "nc", stdin, 120);
        let listener = listener.finish(120);
        let (connector, listener) = (ok(connector), ok(listener));
        let got = if receiver == "nc" { &connector.stdout } else { &listener.stdout };
        assert!(*got == data, "{receiver} got {} of the 200000 bytes {sender} sent", got.len());
    }
}

#[test]
fn nc_under_linuxrun_listens_for_a_native_nc() {
    if !kvm_available() || tool(NC).is_none() {
        return;
    }
    nc_sessions(&scratch("nc-listen"), true);
}

#[test]
fn nc_under_linuxrun_connects_to_a_native_nc() {
    if !kvm_available() || tool(NC).is_none() {
        return;
    }
    nc_sessions(&scratch("nc-connect"), false);
}

/// A TLS session: `openssl s_server -www` answers one `openssl s_client` with its status
/// page, over a self-signed certificate made for the test that the client verifies.
fn tls_session(dir: &Path, server_under_linuxrun: bool) {
    let openssl = "/usr/bin/openssl";
    ok(run(
        native(&[openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"])
            .args(["-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
            .arg("-keyout")
            .arg(dir.join("key.pem"))
            .arg("-out")
            .arg(dir.join("cert.pem")),
        dir,
        "req",
        60,
    ));
    let port = free_port();
    let wrap = |args: &[&str], under: bool| if under { under_linuxrun(args) } else { native(args) };
    let accept = format!("127.0.0.1:{port}");
    let mut server = Job::start(
        wrap(&[openssl, "s_server", "-accept", &accept, "-www", "-naccept", "1", "-cert"], server_under_linuxrun)
            .arg(dir.join("cert.pem"))
            .arg("-key")
            .arg(dir.join("key.pem")),
        dir,
        "s_server",
        Stdio::null(),
    );
    server.wait_listening(port);
    std::fs::write(dir.join("request"), "GET / HTTP/1.0\r\n\r\n").unwrap();
    let client = run_with(
        wrap(
            &[openssl, "s_client", "-connect", &accept, "-servername", "localhost", "-verify_return_error"],
            !server_under_linuxrun,
        )
        .args(["-verify_hostname", "localhost", "-ign_eof", "-CAfile"])
        .arg(dir.join("cert.pem")),
        dir,
        "s_client",
        Stdio::from(File::open(dir.join("request")).unwrap()),
        120,
    );
    let server = server.finish(120);
    let (client, _) = (ok(client), ok(server));
    let shown = text(&client.stdout);
    assert!(shown.contains("Verify return code: 0 (ok)"), "{shown}");
    assert!(shown.contains("HTTP/1.0 200 ok\r\n"), "{shown}");
    assert!(shown.contains("TLSv1.3"), "{shown}");
}

#[test]
fn openssl_s_server_under_linuxrun_serves_a_native_s_client() {
    if !kvm_available() || tool("/usr/bin/openssl").is_none() {
        return;
    }
    tls_session(&scratch("tls-server"), true);
}

#[test]
fn openssl_s_client_under_linuxrun_talks_to_a_native_s_server() {
    if !kvm_available() || tool("/usr/bin/openssl").is_none() {
        return;
    }
    tls_session(&scratch("tls-client"), false);
}

/// The user the tests run as (sshd logs in as that user).
fn user_name() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    text(&out.stdout).trim().to_owned()
}

/// An ssh login: a fresh sshd (its own host key, the test's authorized key, a config in
/// `dir`, on a high port of 127.0.0.1) runs a command for `ssh`, which sends it input
/// and reads its output. As root sshd separates privileges: the pre-authentication child
/// chroots into /run/sshd and becomes the `sshd` user.
fn ssh_session(dir: &Path, sshd_under_linuxrun: bool) {
    let (sshd, ssh, keygen) = ("/usr/sbin/sshd", "/usr/bin/ssh", "/usr/bin/ssh-keygen");
    for key in ["host_key", "user_key"] {
        ok(run(native(&[keygen, "-q", "-t", "ed25519", "-N", "", "-C", key, "-f"]).arg(dir.join(key)), dir, key, 60));
    }
    std::fs::copy(dir.join("user_key.pub"), dir.join("authorized_keys")).unwrap();
    // SAFETY: getuid takes no arguments and cannot fail.
    if unsafe { libc::getuid() } == 0 {
        // sshd's privilege-separation directory (the package's service would make it).
        std::fs::create_dir_all("/run/sshd").unwrap();
    }
    let port = free_port();
    let d = dir.display();
    let config = format!(
        "Port {port}\nListenAddress 127.0.0.1\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
         PidFile {d}/sshd.pid\nUsePAM no\nStrictModes no\nPasswordAuthentication no\n\
         KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\nPrintMotd no\nPrintLastLog no\n\
         UseDNS no\nLogLevel DEBUG1\n"
    );
    std::fs::write(dir.join("sshd_config"), config).unwrap();
    let config = dir.join("sshd_config");
    let sshd_args: [&std::ffi::OsStr; 5] =
        [sshd.as_ref(), "-D".as_ref(), "-e".as_ref(), "-f".as_ref(), config.as_ref()];
    let mut server = Job::start(
        &mut if sshd_under_linuxrun { under_linuxrun(&sshd_args) } else { native(&sshd_args) },
        dir,
        "sshd",
        Stdio::null(),
    );
    server.wait_listening(port);
    std::fs::write(dir.join("input"), "hello over ssh\n").unwrap();
    let known_hosts = format!("UserKnownHostsFile={d}/known_hosts");
    let ssh_args = [
        ssh,
        "-F",
        "/dev/null",
        "-p",
        &port.to_string(),
        "-i",
        &format!("{d}/user_key"),
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        &known_hosts,
        "-o",
        "ConnectTimeout=60",
        "-o",
        "LogLevel=ERROR",
        &format!("{}@127.0.0.1", user_name()),
        "tr a-z A-Z; id -un",
    ];
    let client = run_with(
        &mut if sshd_under_linuxrun { native(&ssh_args) } else { under_linuxrun(&ssh_args) },
        dir,
        "ssh",
        Stdio::from(File::open(dir.join("input")).unwrap()),
        120,
    );
    assert_eq!(client.status.code(), Some(0), "ssh: {}\nsshd's log:\n{}", text(&client.stderr), server.stderr());
    assert_eq!(text(&client.stdout), format!("HELLO OVER SSH\n{}\n", user_name()), "sshd's log:\n{}", server.stderr());
}

#[test]
fn sshd_under_linuxrun_runs_a_command_for_a_native_ssh() {
    if !kvm_available() || tool("/usr/sbin/sshd").is_none() || tool("/usr/bin/ssh").is_none() {
        return;
    }
    ssh_session(&scratch("sshd"), true);
}

#[test]
fn ssh_under_linuxrun_runs_a_command_on_a_native_sshd() {
    if !kvm_available() || tool("/usr/sbin/sshd").is_none() || tool("/usr/bin/ssh").is_none() {
        return;
    }
    ssh_session(&scratch("ssh"), false);
}

/// Debian's git (/usr/local/bin/git, first in PATH on some machines, is another build).
const GIT: &str = "/usr/bin/git";

/// git with no system or user configuration, Debian's git first in PATH.
fn git(dir: &Path, args: &[&str], under: bool) -> Command {
    let mut all = vec![GIT];
    all.extend_from_slice(args);
    let mut cmd = if under { under_linuxrun(&all) } else { native(&all) };
    cmd.current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        .env("PATH", "/usr/bin:/bin")
        .env("GIT_AUTHOR_NAME", "t")
        .env("GIT_AUTHOR_EMAIL", "t@example.com")
        .env("GIT_COMMITTER_NAME", "t")
        .env("GIT_COMMITTER_EMAIL", "t@example.com");
    cmd
}

/// A clone over git's own protocol: `git daemon` serves a repository of two commits made
/// natively, `git clone` fetches it; the clone is checked natively (history, files, fsck).
fn git_clone_session(dir: &Path, daemon_under_linuxrun: bool) {
    let src = dir.join("served/src");
    std::fs::create_dir_all(&src).unwrap();
    ok(run(&mut git(&src, &["init", "-q", "-b", "main"], false), dir, "init", 60));
    std::fs::write(src.join("README"), "first\n").unwrap();
    std::fs::write(src.join("data.bin"), pattern(1 << 20)).unwrap();
    ok(run(&mut git(&src, &["add", "-A"], false), dir, "add", 60));
    ok(run(&mut git(&src, &["commit", "-q", "-m", "first"], false), dir, "commit-1", 60));
    std::fs::write(src.join("README"), "second\n").unwrap();
    ok(run(&mut git(&src, &["commit", "-q", "-a", "-m", "second"], false), dir, "commit-2", 60));

    let port = free_port();
    let base = format!("--base-path={}", dir.join("served").display());
    let daemon_args = ["daemon", "--reuseaddr", "--export-all", &base, "--listen=127.0.0.1", &format!("--port={port}")];
    let mut daemon = Job::start(&mut git(dir, &daemon_args, daemon_under_linuxrun), dir, "daemon", Stdio::null());
    daemon.wait_listening(port);
    let url = format!("git://127.0.0.1:{port}/src");
    let clone = run(&mut git(dir, &["clone", "-q", &url, "dst"], !daemon_under_linuxrun), dir, "clone", 180);
    assert_eq!(clone.status.code(), Some(0), "clone: {}\ndaemon's log:\n{}", text(&clone.stderr), daemon.stderr());
    let dst = dir.join("dst");
    let log = ok(run(&mut git(&dst, &["log", "--format=%s"], false), dir, "log", 60));
    assert_eq!(text(&log.stdout), "second\nfirst\n");
    assert_eq!(std::fs::read_to_string(dst.join("README")).unwrap(), "second\n");
    assert!(std::fs::read(dst.join("data.bin")).unwrap() == pattern(1 << 20));
    ok(run(&mut git(&dst, &["fsck", "--strict", "--no-progress"], false), dir, "fsck", 60));
}

#[test]
fn git_under_linuxrun_clones_from_a_native_git_daemon() {
    if !kvm_available() || tool(GIT).is_none() {
        return;
    }
    git_clone_session(&scratch("git-clone"), false);
}

#[test]
fn git_daemon_under_linuxrun_serves_a_native_clone() {
    if !kvm_available() || tool(GIT).is_none() {
        return;
    }
    git_clone_session(&scratch("git-daemon"), true);
}

/// An HTTP server in Node.js: answers with the method, path and body it got.
const NODE_SERVER: &str = r#"
const port = Number(process.argv[process.argv.length - 1]);
require("http").createServer((req, res) => {
    let body = "";
    req.on("data", (d) => (body += d));
    req.on("end", () => res.end(`node saw ${req.method} ${req.url} [${body}]\n`));
}).listen(port, "127.0.0.1");
"#;

#[test]
fn node_http_server_under_linuxrun_answers_native_curl() {
    if !kvm_available() {
        return;
    }
    let (Some(node), Some(curl)) = (tool("/usr/bin/node"), tool("/usr/bin/curl")) else { return };
    let dir = scratch("node-server");
    let port = free_port();
    let mut server =
        Job::start(&mut under_linuxrun(&[node, "-e", NODE_SERVER, &port.to_string()]), &dir, "node", Stdio::null());
    server.wait_listening(port);
    let url = format!("http://127.0.0.1:{port}/path?q=1");
    let requests: [&[&str]; 2] = [&[], &["-d", "posted body"]];
    for (n, extra) in requests.into_iter().enumerate() {
        let mut cmd = native(&[curl, "-sS", "--max-time", "60", &url]);
        let out = ok(run(cmd.args(extra), &dir, &format!("curl-{n}"), 120));
        let want =
            if extra.is_empty() { "node saw GET /path?q=1 []\n" } else { "node saw POST /path?q=1 [posted body]\n" };
        assert_eq!(text(&out.stdout), want, "node's stderr:\n{}", server.stderr());
    }
}

#[test]
fn node_fetch_under_linuxrun_reads_a_native_server() {
    if !kvm_available() {
        return;
    }
    let Some(node) = tool("/usr/bin/node") else { return };
    let dir = scratch("node-fetch");
    let port = native_http_server();
    let script = "fetch(process.argv[process.argv.length - 1], { method: process.argv[process.argv.length - 2] })\
                  .then((r) => r.text()).then((t) => process.stdout.write(t))";
    for method in ["GET", "PUT"] {
        let url = format!("http://127.0.0.1:{port}/from/node");
        let out =
            ok(run(&mut under_linuxrun(&[node, "-e", script, method, &url]), &dir, &format!("fetch-{method}"), 180));
        let want = if method == "GET" { "native saw /from/node\n" } else { "native saw PUT /from/node\n" };
        assert_eq!(text(&out.stdout), want);
    }
}
