//! Running one program with a clean environment, captured output and a hard
//! timeout. A hung guest must never hang the suite: on timeout the whole process
//! group is killed and the case reported as failed.

use std::ffi::OsString;
use std::fmt;
use std::fs::File;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The environment every program sees, identical for the native and linuxrun runs
/// so that programs printing their environment compare equal.
pub const CLEAN_ENV: &[(&str, &str)] = &[
    ("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"),
    ("HOME", "/tmp"),
    ("LANG", "C"),
    ("TZ", "UTC"),
];

/// How a run ended, as a user (or a shell) would observe it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Status {
    Exit(i32),
    Signal(i32),
    /// Killed by the harness after the per-run timeout.
    Timeout(Duration),
    /// The program could not even be started (e.g. missing binary).
    SpawnFailed(String),
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Exit(c) => write!(f, "exit {c}"),
            Status::Signal(s) => write!(f, "killed by signal {s} ({})", signal_name(*s)),
            Status::Timeout(d) => write!(f, "timed out after {}s (killed)", d.as_secs()),
            Status::SpawnFailed(e) => write!(f, "could not start: {e}"),
        }
    }
}

fn signal_name(sig: i32) -> &'static str {
    match sig {
        1 => "SIGHUP",
        2 => "SIGINT",
        3 => "SIGQUIT",
        4 => "SIGILL",
        5 => "SIGTRAP",
        6 => "SIGABRT",
        7 => "SIGBUS",
        8 => "SIGFPE",
        9 => "SIGKILL",
        11 => "SIGSEGV",
        13 => "SIGPIPE",
        14 => "SIGALRM",
        15 => "SIGTERM",
        _ => "?",
    }
}

/// Everything observable about one run.
#[derive(Debug)]
pub struct Outcome {
    pub status: Status,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

extern "C" {
    // std already links libc; declaring kill(2) avoids a dependency for one call.
    fn kill(pid: i32, sig: i32) -> i32;
}
const SIGKILL: i32 = 9;

/// Runs `argv` in `cwd` with `CLEAN_ENV`, stdin from `stdin` (or /dev/null), and
/// returns its outcome. Never blocks longer than `timeout` (plus a moment to reap).
pub fn run(argv: &[OsString], cwd: &Path, stdin: Option<&Path>, timeout: Duration) -> Outcome {
    run_or(argv, cwd, stdin, timeout, |e| Outcome {
        status: Status::SpawnFailed(e.to_string()),
        stdout: vec![],
        stderr: vec![],
    })
}

/// As `run`, but a program the kernel refuses to execute ends as a shell reports it: exit
/// 127 when a file is missing (ENOENT: the program or its ELF interpreter), 126 for any
/// other exec error (ENOEXEC, EACCES...), with the error on stderr. The native side of a
/// differential case runs this way, since linuxrun reports a refused program like a shell.
pub fn run_as_shell_would(argv: &[OsString], cwd: &Path, stdin: Option<&Path>, timeout: Duration) -> Outcome {
    run_or(argv, cwd, stdin, timeout, |e| {
        const ENOENT: i32 = 2;
        let status = match e.raw_os_error() {
            Some(ENOENT) => Status::Exit(127),
            Some(_) => Status::Exit(126),
            None => Status::SpawnFailed(e.to_string()),
        };
        Outcome { status, stdout: vec![], stderr: format!("could not start: {e}\n").into_bytes() }
    })
}

/// Spawn `cmd`, again while the kernel says its file is busy (ETXTBSY): a program this
/// suite has just written can still be open for writing in a child another test thread is
/// forking at that moment (until that child's exec closes it), a race of the harness's, not
/// of the program under test.
fn spawn_past_busy_text(cmd: &mut Command) -> std::io::Result<std::process::Child> {
    const ETXTBSY: i32 = 26;
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(ETXTBSY) && tries < 100 => {
                tries += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

fn run_or(
    argv: &[OsString],
    cwd: &Path,
    stdin: Option<&Path>,
    timeout: Duration,
    spawn_failed: impl Fn(std::io::Error) -> Outcome,
) -> Outcome {
    let failed = |e: String| Outcome { status: Status::SpawnFailed(e), stdout: vec![], stderr: vec![] };
    let stdin = match stdin {
        Some(p) => match File::open(p) {
            Ok(f) => Stdio::from(f),
            Err(e) => return failed(format!("stdin {}: {e}", p.display())),
        },
        None => Stdio::null(),
    };
    let mut cmd = Command::new(&argv[0]);
    cmd.args(&argv[1..])
        .current_dir(cwd)
        .env_clear()
        .envs(CLEAN_ENV.iter().copied())
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        // Own process group, so a timeout can kill linuxrun and anything it started.
        .process_group(0);
    let mut child = match spawn_past_busy_text(&mut cmd) {
        Ok(c) => c,
        Err(e) => return spawn_failed(e),
    };
    let pgid = child.id() as i32;
    let deadline = Instant::now() + timeout;

    // Drain both pipes on threads: a child blocked on a full pipe would never exit.
    let (tx, rx) = mpsc::channel();
    for (is_err, mut pipe) in [
        (false, Box::new(child.stdout.take().unwrap()) as Box<dyn Read + Send>),
        (true, Box::new(child.stderr.take().unwrap())),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = pipe.read_to_end(&mut buf);
            let _ = tx.send((is_err, buf));
        });
    }

    let kill_group = || unsafe {
        kill(-pgid, SIGKILL);
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break exit_status(st),
            Ok(None) if Instant::now() >= deadline => {
                kill_group();
                let _ = child.wait();
                break Status::Timeout(timeout);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => break Status::SpawnFailed(format!("wait: {e}")),
        }
    };

    // The pipes close when the last holder exits; a straggler holding them open
    // (something linuxrun left behind) counts as a hang too.
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    for _ in 0..2 {
        let left = deadline.saturating_duration_since(Instant::now()).max(Duration::from_secs(1));
        match rx.recv_timeout(left) {
            Ok((false, b)) => stdout = b,
            Ok((true, b)) => stderr = b,
            Err(_) => {
                kill_group();
                let status = Status::Timeout(timeout);
                return Outcome { status, stdout, stderr };
            }
        }
    }
    Outcome { status, stdout, stderr }
}

fn exit_status(st: std::process::ExitStatus) -> Status {
    match (st.code(), st.signal()) {
        (Some(c), _) => Status::Exit(c),
        (None, Some(s)) => Status::Signal(s),
        (None, None) => Status::SpawnFailed(format!("unknown status {st:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sh(script: &str, timeout: Duration) -> Outcome {
        let argv: Vec<OsString> = vec!["/bin/sh".into(), "-c".into(), script.into()];
        run(&argv, Path::new("/"), None, timeout)
    }

    #[test]
    fn captures_output_and_exit_code() {
        let o = sh("echo out; echo err >&2; exit 42", Duration::from_secs(10));
        assert_eq!(o.status, Status::Exit(42));
        assert_eq!(o.stdout, b"out\n");
        assert_eq!(o.stderr, b"err\n");
    }

    #[test]
    fn reports_death_by_signal() {
        let o = sh("kill -TERM $$", Duration::from_secs(10));
        assert_eq!(o.status, Status::Signal(15));
    }

    #[test]
    fn environment_is_clean() {
        let o = sh("env | sort", Duration::from_secs(10));
        let env = String::from_utf8(o.stdout).unwrap();
        assert!(env.contains("LANG=C\n") && env.contains("TZ=UTC\n"), "{env}");
        assert!(!env.contains("CARGO"), "{env}");
    }

    #[test]
    fn timeout_kills_the_group() {
        let start = Instant::now();
        // The background sleep holds the pipes open: it must be killed too.
        let o = sh("sleep 30 & sleep 30", Duration::from_millis(300));
        assert!(matches!(o.status, Status::Timeout(_)), "{:?}", o.status);
        assert!(start.elapsed() < Duration::from_secs(10));
    }

    #[test]
    fn refused_exec_is_reported_as_a_shell_does() {
        let run = |p: &str| run_as_shell_would(&[p.into()], Path::new("/"), None, Duration::from_secs(5)).status;
        assert_eq!(run("/nonexistent/prog"), Status::Exit(127));
        assert_eq!(run("/etc/passwd"), Status::Exit(126));
    }

    #[test]
    fn missing_program_is_spawn_failure() {
        let argv: Vec<OsString> = vec!["/nonexistent/prog".into()];
        let o = run(&argv, Path::new("/"), None, Duration::from_secs(1));
        assert!(matches!(o.status, Status::SpawnFailed(_)));
    }
}
