//! The machine as it is (issue 26, item 1): under linuxrun, /proc shows the host's
//! processes and figures, so ps, pgrep, pkill, pstree, top, free, df, mount, uptime and
//! vmstat print what they print natively, and the host sees a linuxrun'd program by its
//! Linux command line. Each test runs the real tool natively and under linuxrun and
//! compares what does not vary between two samples (numbers that move are masked).
//! They need /dev/kvm and Debian's procps; without them a test says so and checks nothing.

use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

mod support;
use support::{kvm_available, linuxrun, skip, text};

/// The tools exist here (procps and coreutils as Debian installs them).
fn have(tools: &[&str]) -> bool {
    for t in tools {
        if !Path::new(t).exists() {
            skip(&format!("no {t}"));
            return false;
        }
    }
    true
}

fn native(args: &[&str]) -> Output {
    Command::new(args[0]).args(&args[1..]).env("LC_ALL", "C").output().expect("the native tool runs")
}

fn under(args: &[&str]) -> Output {
    let out = Command::new(linuxrun()).args(args).env("LC_ALL", "C").output().expect("linuxrun runs");
    assert!(out.status.success(), "{args:?} under linuxrun: {:?}\n{}", out.status, text(&out.stderr));
    out
}

/// Digit runs as `#` and blanks as one space: two samples of the machine differ in their
/// numbers (and the padding that aligns them) only.
fn mask(s: &str) -> String {
    // A field may fill its column: top prints "%Cpu(s): 75.0 us" but "%Cpu(s):100.0 us",
    // and "ni, 75.0 id" but "ni,100.0 id", so a colon or a comma is a separator whether or
    // not a space follows it.
    masked_digits(s).replace(':', ": ").replace(',', ", ").split_whitespace().collect::<Vec<_>>().join(" ")
}

fn masked_digits(s: &str) -> String {
    let mut out = String::new();
    let mut in_number = false;
    for c in s.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('#');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// A child killed when the test ends, however it ends.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A native sleeper: a process the host shows that linuxrun did not start.
fn native_sleeper() -> Reaped {
    Reaped(Command::new("/bin/sleep").arg("3141").stdin(Stdio::null()).spawn().expect("sleep runs"))
}

fn host_comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim_end().to_owned()
}

/// Give `ready` a while to hold (a process starting on a busy machine); the checks that
/// follow fail if it never does.
fn wait_for(mut ready: impl FnMut() -> bool) {
    for _ in 0..3000 {
        if ready() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn ps_shows_another_process_as_native_ps_does() {
    if !kvm_available() || !have(&["/usr/bin/ps", "/usr/bin/pstree"]) {
        return;
    }
    let sleeper = native_sleeper();
    let pid = sleeper.0.id().to_string();
    wait_for(|| host_comm(sleeper.0.id()) == "sleep");
    let ps = ["/usr/bin/ps", "-o", "pid,ppid,user,comm,args", "-p", &pid];
    let want = native(&ps);
    assert!(text(&want.stdout).contains("sleep 3141"), "{}", text(&want.stdout));
    assert_eq!(text(&under(&ps).stdout), text(&want.stdout));
    let pstree = ["/usr/bin/pstree", "-p", &pid];
    assert_eq!(text(&under(&pstree).stdout), text(&native(&pstree).stdout));
    // ps aux lists it too, with the same owner, pid and command.
    let aux = text(&under(&["/usr/bin/ps", "aux"]).stdout);
    let line =
        aux.lines().find(|l| l.split_whitespace().nth(1) == Some(pid.as_str())).expect("ps aux lists the sleeper");
    let words: Vec<&str> = line.split_whitespace().collect();
    assert_eq!(words[10..], ["/bin/sleep", "3141"], "{line}");
    let user = text(&native(&["/usr/bin/ps", "-o", "user=", "-p", &pid]).stdout);
    assert_eq!(words[0], user.trim());
    // /proc lists the host's processes (pid 1 and the sleeper), and our own pid once.
    let ls = text(&under(&["/bin/sh", "-c", "ls /proc; echo self=$$"]).stdout);
    let names: Vec<&str> = ls.lines().collect();
    assert!(names.contains(&"1") && names.contains(&pid.as_str()), "{ls}");
    let own = names.last().unwrap().strip_prefix("self=").unwrap();
    assert_eq!(names.iter().filter(|n| **n == own).count(), 1, "{ls}");
}

#[test]
fn a_linuxrun_program_is_seen_by_its_linux_command_line() {
    if !kvm_available() || !have(&["/usr/bin/ps", "/usr/bin/pgrep", "/usr/bin/pkill"]) {
        return;
    }
    let mut child = Command::new(linuxrun()).args(["/bin/sleep", "2718"]).stdin(Stdio::null()).spawn().unwrap();
    let pid = child.id();
    let guard = scopeguard(pid);
    // The program names itself once it has started.
    wait_for(|| host_comm(pid) == "sleep");
    let p = pid.to_string();
    // The host (native pgrep and ps) sees the Linux program...
    let found = text(&native(&["/usr/bin/pgrep", "-f", "^/bin/sleep 2718$"]).stdout);
    assert_eq!(found.trim(), p);
    assert_eq!(text(&native(&["/usr/bin/pgrep", "-x", "sleep"]).stdout).lines().filter(|l| *l == p).count(), 1);
    let args = text(&native(&["/usr/bin/ps", "-o", "comm=,args=", "-p", &p]).stdout);
    assert_eq!(args.split_whitespace().collect::<Vec<_>>(), ["sleep", "/bin/sleep", "2718"]);
    // ...and so does a program under linuxrun, to the exact argv.
    assert_eq!(text(&under(&["/usr/bin/pgrep", "-f", "^/bin/sleep 2718$"]).stdout).trim(), p);
    let cmdline = under(&["/bin/cat", &format!("/proc/{p}/cmdline")]).stdout;
    assert_eq!(cmdline, b"/bin/sleep\x002718\x00");
    assert_eq!(text(&under(&["/usr/bin/ps", "-o", "comm=,args=", "-p", &p]).stdout), args);
    // Its exe is the Linux program (the host's link names the linuxrun binary).
    let exe = text(&under(&["/usr/bin/readlink", &format!("/proc/{p}/exe")]).stdout);
    let sleep = std::fs::canonicalize("/bin/sleep").unwrap();
    assert_eq!(exe.trim_end(), sleep.to_str().unwrap());
    // pkill under linuxrun ends it.
    under(&["/usr/bin/pkill", "-f", "^/bin/sleep 2718$"]);
    let status = child.wait().unwrap();
    drop(guard);
    use std::os::unix::process::ExitStatusExt;
    const SIGTERM: i32 = 15;
    assert_eq!(status.signal(), Some(SIGTERM), "{status:?}");
}

/// Kill `pid` (SIGKILL) when dropped, in case a check failed before pkill did.
fn scopeguard(pid: u32) -> impl Drop {
    struct Kill(u32);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = Command::new("/bin/kill").args(["-KILL", &self.0.to_string()]).stderr(Stdio::null()).status();
        }
    }
    Kill(pid)
}

#[test]
fn memory_and_load_are_the_hosts() {
    if !kvm_available() || !have(&["/usr/bin/free", "/usr/bin/uptime", "/usr/bin/vmstat", "/usr/bin/top"]) {
        return;
    }
    let total = |s: &str| s.lines().find(|l| l.starts_with("MemTotal:")).map(str::to_owned);
    let meminfo = text(&under(&["/bin/cat", "/proc/meminfo"]).stdout);
    assert_eq!(total(&meminfo), total(&std::fs::read_to_string("/proc/meminfo").unwrap()));
    // free: the same table, the same totals.
    let columns = |s: &str| -> Vec<(String, Option<String>)> {
        s.lines().map(|l| (mask(l), l.split_whitespace().nth(1).map(str::to_owned))).collect()
    };
    let free = text(&under(&["/usr/bin/free"]).stdout);
    let want = text(&native(&["/usr/bin/free"]).stdout);
    assert_eq!(columns(&free)[1..], columns(&want)[1..], "{free}\n{want}");
    assert_eq!(free.lines().next(), want.lines().next());
    for tool in [&["/usr/bin/uptime"][..], &["/usr/bin/top", "-b", "-n1"][..]] {
        let got = text(&under(tool).stdout);
        let want = text(&native(tool).stdout);
        let head = |s: &str| s.lines().take(5).map(mask).collect::<Vec<_>>();
        assert_eq!(head(&got), head(&want), "{tool:?}\n{got}\n{want}");
    }
    // vmstat rereads /proc/stat: the second line counts the second between them, so its
    // interrupts and context switches are not the first line's totals.
    let vm = text(&under(&["/usr/bin/vmstat", "1", "2"]).stdout);
    let lines: Vec<&str> = vm.lines().collect();
    let want = text(&native(&["/usr/bin/vmstat", "1", "2"]).stdout);
    assert_eq!(lines[..2], want.lines().take(2).collect::<Vec<_>>()[..]);
    assert_eq!(lines.len(), 4, "{vm}");
    let field = |l: &str, i: usize| l.split_whitespace().nth(i).map(str::to_owned);
    assert_eq!(lines[3].split_whitespace().count(), want.lines().nth(3).unwrap().split_whitespace().count());
    assert_ne!((field(lines[2], 12), field(lines[2], 14)), (field(lines[3], 12), field(lines[3], 14)), "{vm}");
}

#[test]
fn mounts_and_disk_space_are_the_hosts() {
    if !kvm_available() || !have(&["/usr/bin/df", "/usr/bin/mount"]) {
        return;
    }
    let mount = ["/usr/bin/mount"];
    assert_eq!(text(&under(&mount).stdout), text(&native(&mount).stdout));
    let mounts = under(&["/bin/cat", "/proc/self/mounts"]).stdout;
    assert_eq!(text(&mounts), std::fs::read_to_string("/proc/self/mounts").unwrap());
    // df -h: the same file systems at the same places with the same sizes; use moves.
    let stable = |s: &str| -> Vec<String> {
        s.lines()
            .map(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                format!("{} {} {}", w[0], w[1], w[w.len() - 1])
            })
            .collect()
    };
    let df = ["/usr/bin/df", "-h"];
    assert_eq!(stable(&text(&under(&df).stdout)), stable(&text(&native(&df).stdout)));
    let df_proc = ["/usr/bin/df", "-a", "-T", "/proc"];
    assert_eq!(text(&under(&df_proc).stdout), text(&native(&df_proc).stdout));
}
