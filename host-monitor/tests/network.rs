//! A program under linuxrun and a native program meet on the host's network: TCP on
//! 127.0.0.1 in both directions with real tools (python3's http.server, curl), and UNIX
//! sockets whose paths go through the filesystem view. Loopback only. These need /dev/kvm
//! (see support/mod.rs for how a test without it is counted and shown).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
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
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // A native HTTP server: answers each request with the path it asked for.
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut line = String::new();
            BufReader::new(&conn).read_line(&mut line).unwrap();
            let path = line.split_whitespace().nth(1).unwrap_or("?").to_owned();
            let body = format!("native saw {path}\n");
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(body.as_bytes());
        }
    });
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
