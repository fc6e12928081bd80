//! What the Linux program inherits from linuxrun's own process: argv, environment, ids,
//! limits; and how linuxrun ends when the program dies from a signal.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use abi_shared::hypercall::Startup;

use crate::program::Launch;

/// Which of fds 0, 1 and 2 were closed when linuxrun started (bit n: fd n). Rust's
/// runtime opens /dev/null on a closed standard descriptor before `main`, so this is
/// recorded earlier, by a constructor.
static CLOSED_STDIO: AtomicU8 = AtomicU8::new(0);

extern "C" fn note_closed_stdio() {
    let closed = (0..3).filter(|&fd| {
        // SAFETY: F_GETFD only asks whether the descriptor is open; no memory involved.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        flags < 0
    });
    CLOSED_STDIO.store(closed.fold(0, |bits, fd| bits | 1 << fd), Ordering::Relaxed);
}

/// Runs `note_closed_stdio` before Rust's runtime starts (the C runtime calls the
/// constructors before `main`, which starts Rust's).
#[used]
#[cfg_attr(target_os = "linux", link_section = ".init_array")]
#[cfg_attr(target_os = "macos", link_section = "__DATA,__mod_init_func")]
static NOTE_CLOSED_STDIO: extern "C" fn() = note_closed_stdio;

/// Close again the standard descriptors that were closed when linuxrun started (Rust's
/// runtime put /dev/null there): the program must find them closed (EBADF, and its next
/// open gets the lowest of them) as on Linux. Call once the monitor has made its private
/// copies above the floor and before the program runs.
pub fn reclose_stdio() {
    let closed = CLOSED_STDIO.load(Ordering::Relaxed);
    for fd in (0..3).filter(|fd| closed & (1 << fd) != 0) {
        // SAFETY: fd is the runtime's /dev/null placeholder, which nothing in the monitor
        // uses (its messages go to diag's copy above the floor).
        unsafe { libc::close(fd) };
    }
}

/// The monitor's own descriptors live at or above `floor`, above the soft RLIMIT_NOFILE the
/// program sees where the host leaves room, so the program finds fd numbers exactly where
/// Linux would put them.
pub struct FdRange {
    pub floor: i32,
    pub nofile: (u64, u64),
}

impl FdRange {
    /// Whether the program may hold numbers at or above the floor from the start (its
    /// soft limit lies above it): then the monitor's descriptors are among the program's
    /// numbers. (A program that raises its soft limit above the floor later gets there
    /// too: see `ControlRequest::SetFdLimit`.)
    pub fn shared(&self) -> bool {
        self.nofile.0 > self.floor as u64
    }
}

/// How many descriptors the monitor keeps room for above the floor: its own few dozen,
/// and one per vCPU a program's threads may have.
const MONITOR_FDS: u64 = 64 + abi_shared::layout::MAX_VCPUS;

/// The host's soft RLIMIT_NOFILE while the program runs: the program's own, so that the
/// host kernel fails its open, dup, pipe... with EMFILE exactly at its limit (descriptors
/// already open above it, the monitor's, stay usable). `UNSET` until the program starts.
static PROGRAM_SOFT: AtomicU64 = AtomicU64::new(UNSET);
/// The soft limit that leaves the monitor room above the floor, and the host's hard limit.
static ROOM_SOFT: AtomicU64 = AtomicU64::new(0);
static HOST_HARD: AtomicU64 = AtomicU64::new(0);
const UNSET: u64 = u64::MAX;

// rlim_t and the resource constants have different types on different hosts.
#[allow(clippy::unnecessary_cast)]
fn set_soft_nofile(soft: u64) -> i32 {
    let lim =
        libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: HOST_HARD.load(Ordering::Relaxed) as libc::rlim_t };
    // SAFETY: lim is a valid rlimit within the hard limit; no memory is kept.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }
}

// rlim_t and the resource constants have different types on different hosts.
#[allow(clippy::unnecessary_cast)]
/// Raise our soft fd limit a little above what the program will see and return the floor
/// for the monitor's descriptors.
pub fn reserve_fd_range() -> FdRange {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: lim is a valid out-pointer.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    let (soft, hard) = (lim.rlim_cur as u64, lim.rlim_max as u64);
    HOST_HARD.store(hard, Ordering::Relaxed);
    let want = soft.saturating_add(MONITOR_FDS);
    // No room above the soft limit (soft = hard, as a service manager or `ulimit -n`
    // often sets it): a privileged monitor (CAP_SYS_RESOURCE, up to fs.nr_open) raises its
    // own hard limit to make room, so that the program still sees and gets exactly the
    // host's limits; the program's hard limit stays the original (the guest keeps it, and
    // a native exec gets it back).
    if hard < want && raise_hard_nofile(soft, want) {
        PROGRAM_HARD.store(hard, Ordering::Relaxed);
        HOST_HARD.store(want, Ordering::Relaxed);
    }
    let range = if HOST_HARD.load(Ordering::Relaxed) >= want {
        ROOM_SOFT.store(want, Ordering::Relaxed);
        FdRange { floor: soft.min(i32::MAX as u64) as i32, nofile: (soft, hard) }
    } else {
        // Unprivileged with soft = hard: no number above the limit can be had, so the
        // monitor's descriptors sit among the program's, in a block below the top (not at
        // it: programs like to name soft - 1). The program still sees and gets exactly the
        // host's limits: a number of that block it names (dup2, F_DUPFD) is made free by
        // moving the monitor's descriptor away (`own_fd`).
        ROOM_SOFT.store(hard, Ordering::Relaxed);
        let floor = soft - (soft / 2).min(MONITOR_FDS);
        FdRange { floor: floor as i32, nofile: (soft, hard) }
    };
    set_soft_nofile(ROOM_SOFT.load(Ordering::Relaxed));
    range
}

/// The hard limit the program saw before the monitor raised its own (`UNSET`: not raised).
static PROGRAM_HARD: AtomicU64 = AtomicU64::new(UNSET);

// rlim_t has different types on different hosts.
#[allow(clippy::unnecessary_cast)]
fn raise_hard_nofile(soft: u64, hard: u64) -> bool {
    let lim = libc::rlimit { rlim_cur: soft as libc::rlim_t, rlim_max: hard as libc::rlim_t };
    // SAFETY: lim is a valid rlimit; the call fails (EPERM, or EINVAL past fs.nr_open)
    // without changing anything when it is not allowed.
    unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 }
}

/// Before a native exec: the host program gets the program's RLIMIT_NOFILE, soft and hard,
/// not the room the monitor made for itself. `after_failed_exec` puts the room back.
// rlim_t has different types on different hosts.
#[allow(clippy::unnecessary_cast)]
pub fn program_fd_limits_for_exec() {
    let hard = PROGRAM_HARD.load(Ordering::Relaxed);
    let soft = PROGRAM_SOFT.load(Ordering::Relaxed);
    if hard != UNSET && soft != UNSET {
        let lim = libc::rlimit { rlim_cur: soft.min(hard) as libc::rlim_t, rlim_max: hard as libc::rlim_t };
        // SAFETY: lim is a valid rlimit; lowering a hard limit is always allowed.
        unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) };
    }
}

/// A native exec failed: the monitor's hard limit goes back up (it was privileged enough to
/// raise it at the start).
pub fn after_failed_exec() {
    if PROGRAM_HARD.load(Ordering::Relaxed) != UNSET {
        raise_hard_nofile(PROGRAM_SOFT.load(Ordering::Relaxed), HOST_HARD.load(Ordering::Relaxed));
    }
}

/// From now on the host enforces the program's RLIMIT_NOFILE (see `PROGRAM_SOFT`). Call
/// once the monitor's startup descriptors are open, before the program runs.
pub fn enforce_program_fd_limit(fds: &FdRange) {
    PROGRAM_SOFT.store(fds.nofile.0, Ordering::Relaxed);
    set_soft_nofile(fds.nofile.0);
}

/// The program set its soft RLIMIT_NOFILE (the guest checked it against the hard limit):
/// the host enforces the new one. Returns 0 (or -errno).
pub fn set_program_fd_limit(soft: u64) -> i64 {
    if PROGRAM_SOFT.load(Ordering::Relaxed) == UNSET {
        return 0; // Not running a program (unit tests of the server).
    }
    let soft = soft.min(HOST_HARD.load(Ordering::Relaxed));
    let makers = room_makers();
    PROGRAM_SOFT.store(soft, Ordering::Relaxed);
    // While another thread makes a descriptor with room, the last of them to finish puts
    // the new limit in place.
    if *makers == 0 && set_soft_nofile(soft) != 0 {
        let e = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL);
        return -i64::from(crate::host::errno_to_linux(e));
    }
    0
}

/// How many threads run `with_fd_room` now: the first raises the limit, the last puts the
/// program's back. Its lock is held to count and to set the limit, never while a
/// descriptor is made (that may be a fork, whose vfork parent waits for its child).
static ROOM_MAKERS: std::sync::Mutex<u32> = std::sync::Mutex::new(0);

fn room_makers() -> std::sync::MutexGuard<'static, u32> {
    ROOM_MAKERS.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Run `make` (which creates one of the monitor's descriptors above the floor) with the
/// room the program's limit would deny it, then put the program's limit back. The
/// program's one vCPU waits meanwhile (in this hypercall, or in its fork), so it never
/// sees the raised limit. Threads that serve hypercalls may make room at once: the limit
/// goes back only when the last of them is done.
pub fn with_fd_room<T>(make: impl FnOnce() -> T) -> T {
    if PROGRAM_SOFT.load(Ordering::Relaxed) == UNSET {
        return make();
    }
    {
        let mut makers = room_makers();
        if *makers == 0 {
            set_soft_nofile(PROGRAM_SOFT.load(Ordering::Relaxed).max(ROOM_SOFT.load(Ordering::Relaxed)));
        }
        *makers += 1;
    }
    let made = make();
    let mut makers = room_makers();
    *makers -= 1;
    if *makers == 0 {
        set_soft_nofile(PROGRAM_SOFT.load(Ordering::Relaxed));
    }
    made
}

#[allow(clippy::unnecessary_cast)]
/// The limits the program starts with, by Linux resource number: the host's own (through
/// the host personality: macOS numbers them differently), except RLIMIT_NOFILE, which is
/// the host's too (see `reserve_fd_range`).
fn host_rlimits(fds: &FdRange) -> Vec<(u32, u64, u64)> {
    const LINUX_RLIMIT_NOFILE: u32 = 7;
    (0..16u32)
        .filter_map(|res| {
            if res == LINUX_RLIMIT_NOFILE {
                return Some((res, fds.nofile.0, fds.nofile.1));
            }
            let host_res = crate::host::rlimit_resource_to_host(res)?;
            let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
            // SAFETY: lim is a valid out-pointer; unknown resources fail and are skipped.
            let r = unsafe { libc::getrlimit(host_res as _, &mut lim) };
            let (soft, hard) =
                (crate::host::rlim_to_linux(lim.rlim_cur as u64), crate::host::rlim_to_linux(lim.rlim_max as u64));
            (r == 0).then_some((res, soft, hard))
        })
        .collect()
}

fn cpu_count() -> u32 {
    std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1)
}

fn hostname() -> Vec<u8> {
    let mut buf = [0u8; 256];
    // SAFETY: buf is valid for buf.len() bytes.
    unsafe { libc::gethostname(buf.as_mut_ptr() as *mut libc::c_char, buf.len()) };
    buf[..buf.iter().position(|&b| b == 0).unwrap_or(buf.len())].to_vec()
}

/// (release, version) for the program's uname: a Linux host's own, so that programs print
/// what they would natively; elsewhere a Linux release new enough for current glibc.
fn kernel_identity() -> (Vec<u8>, Vec<u8>) {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: utsname is plain data; uname fills it.
        let mut u: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: u is a valid out-pointer.
        if unsafe { libc::uname(&mut u) } == 0 {
            // c_char is i8 on x86_64 and u8 on aarch64: the cast is a no-op on one of them.
            #[allow(clippy::unnecessary_cast)]
            let field = |f: &[libc::c_char]| f.iter().take_while(|&&c| c != 0).map(|&c| c as u8).collect::<Vec<u8>>();
            return (field(&u.release), field(&u.version));
        }
    }
    (b"6.1.0-linuxrun".to_vec(), b"#1 SMP PREEMPT_DYNAMIC linuxrun".to_vec())
}

fn current_umask() -> u32 {
    // SAFETY: umask only swaps the process mask; it is put back immediately.
    unsafe {
        let m = libc::umask(0o022);
        libc::umask(m);
        m as u32
    }
}

/// The startup block for `launch` (the program and arguments, scripts already replaced by
/// their interpreters).
pub fn collect(launch: &Launch, fds: &FdRange) -> Startup {
    let signals = crate::signals::inherited_state();
    crate::signals::apply(0, signals.0);
    let envp = std::env::vars_os()
        .map(|(k, v)| {
            let mut kv: OsString = k;
            kv.push("=");
            kv.push(v);
            kv.into_vec()
        })
        .collect();
    // SAFETY: these id getters cannot fail.
    let (pid, ppid, uid, euid, gid, egid) =
        unsafe { (libc::getpid(), libc::getppid(), libc::getuid(), libc::geteuid(), libc::getgid(), libc::getegid()) };
    Startup {
        exec_path: launch.exec_path.clone(),
        filename: launch.filename.clone(),
        argv: launch.argv.clone(),
        script_argv: launch.script_argv.clone(),
        envp,
        pid,
        ppid,
        uid,
        euid,
        gid,
        egid,
        umask: current_umask(),
        hostname: hostname(),
        kernel_release: kernel_identity().0,
        kernel_version: kernel_identity().1,
        rlimits: host_rlimits(fds),
        cpu_count: cpu_count(),
        ignored_signals: signals.0,
        blocked_signals: signals.1,
    }
}

/// End linuxrun by the program's fatal signal, so that the parent sees the same wait
/// status. A core dump of the monitor would be useless, so RLIMIT_CORE is set to 0 first.
pub fn die_by_signal(linux_sig: i32) -> ExitCode {
    let sig = crate::host::signal_to_host(linux_sig);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let no_core = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain libc calls on our own process: limit, default action, unblock, raise.
    unsafe {
        libc::setrlimit(libc::RLIMIT_CORE, &no_core);
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    // Still here: the signal's default action does not terminate (cannot happen for the
    // signals the guest reports); exit as a shell would report it.
    ExitCode::from((128 + linux_sig.clamp(0, 127)) as u8)
}

/// The name the program's core file gets (the guest expands its %-specifiers): the host's
/// core_pattern where it names a file; `core` where it pipes to a program (the program is
/// the host's crash handler, which would take linuxrun for the crashed process) or where
/// the host has none (not Linux). Linux appends `.%p` when core_uses_pid is set and the
/// pattern has no %p.
pub fn core_pattern() -> Vec<u8> {
    let read = |p: &str| std::fs::read(p).ok().map(|b| b.trim_ascii().to_vec());
    let pattern = read("/proc/sys/kernel/core_pattern").filter(|p| !p.is_empty() && !p.starts_with(b"|"));
    let mut pattern = pattern.unwrap_or_else(|| b"core".to_vec());
    let has_pid = pattern.windows(2).any(|w| w == b"%p");
    if !has_pid && read("/proc/sys/kernel/core_uses_pid").is_some_and(|v| v != b"0") {
        pattern.extend_from_slice(b".%p");
    }
    pattern
}

/// The program died of `linux_sig` and its core file was written: die of the same signal
/// so that the parent's wait status says so, with WCOREDUMP as on Linux where the host
/// allows it. The host kernel sets that bit only when it has dumped the dying process
/// itself, so linuxrun lets it dump, where that is harmless: with a core_pattern naming a
/// file relative to the working directory, linuxrun moves to a fresh private directory,
/// asks for a dump of nothing but its threads' registers (coredump_filter 0: a few KiB,
/// none of guest memory), and a helper process removes that directory once linuxrun is
/// gone. Elsewhere (a pipe to a crash handler, an absolute path, no Linux host) the host
/// writes no core of linuxrun's and the status lacks WCOREDUMP.
pub fn die_with_core(linux_sig: i32) -> ExitCode {
    if let Err(why) = prepare_host_dump() {
        log::info!("the wait status will not show the core dump: {why}");
        return die_by_signal(linux_sig);
    }
    let sig = crate::host::signal_to_host(linux_sig);
    use std::io::Write;
    let _ = std::io::stdout().flush();
    // SAFETY: plain libc calls on our own process: default action, unblock, raise.
    unsafe {
        libc::signal(sig, libc::SIG_DFL);
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, sig);
        libc::sigprocmask(libc::SIG_UNBLOCK, &set, std::ptr::null_mut());
        libc::raise(sig);
    }
    ExitCode::from((128 + linux_sig.clamp(0, 127)) as u8)
}

/// Make the host's own dump of linuxrun small and invisible (see `die_with_core`).
fn prepare_host_dump() -> Result<(), String> {
    let pattern = std::fs::read("/proc/sys/kernel/core_pattern").map_err(|e| format!("core_pattern: {e}"))?;
    let pattern = pattern.trim_ascii();
    if pattern.is_empty() || pattern.starts_with(b"|") || pattern.starts_with(b"/") {
        return Err("the host's core_pattern is not a relative file name".into());
    }
    std::fs::write("/proc/self/coredump_filter", b"0").map_err(|e| format!("coredump_filter: {e}"))?;
    let mut template = *b"/tmp/linuxrun-core-XXXXXX\0";
    // SAFETY: a writable NUL-terminated template, as mkdtemp requires.
    let dir = unsafe { libc::mkdtemp(template.as_mut_ptr().cast()) };
    if dir.is_null() {
        return Err(format!("mkdtemp: {}", std::io::Error::last_os_error()));
    }
    let dir = std::path::PathBuf::from(OsString::from_vec(template[..template.len() - 1].to_vec()));
    // A helper removes the directory once linuxrun is gone: it learns of that when the
    // pipe's write end closes with linuxrun, after the dump (a dying process lets go of
    // its descriptors only then). A shell started the usual way (std's spawn is safe in a
    // threaded process), its end of the pipe its only descriptor left open.
    let (read_end, write_end) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let helper = std::process::Command::new("/bin/sh")
        .args(["-c", "cat >/dev/null; rm -rf -- \"$0\""])
        .arg(&dir)
        .stdin(read_end)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = helper {
        let _ = std::fs::remove_dir(&dir);
        return Err(format!("cleanup helper: {e}"));
    }
    std::mem::forget(write_end);
    std::env::set_current_dir(&dir).map_err(|e| format!("chdir: {e}"))?;
    let unlimited = libc::rlimit { rlim_cur: libc::RLIM_INFINITY, rlim_max: libc::RLIM_INFINITY };
    let mut current = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: plain libc calls on our own process's limits with valid pointers.
    unsafe {
        libc::getrlimit(libc::RLIMIT_CORE, &mut current);
        let wanted = if current.rlim_max == libc::RLIM_INFINITY {
            unlimited
        } else {
            libc::rlimit { rlim_cur: current.rlim_max, ..current }
        };
        libc::setrlimit(libc::RLIMIT_CORE, &wanted);
    }
    Ok(())
}
