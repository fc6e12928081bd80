//! Where `--strace` lines go and how they are laid out, as `strace -f` lays them out.
//!
//! The guest sends each call's line in two halves, as strace prints them: `TID \x01text`
//! when the call begins (its name and the arguments it reads), `TID \x02name\x01text` when
//! it ends (what it filled in, and its result); `TID \x03N` when a thread ends with exit(N)
//! while its process goes on; `TID text` for a whole line (a signal's, the first execve).
//! The text has a tab where strace pads the line to its result column.
//!
//! A begun half is written at once. If the same thread's end comes next, it completes the
//! line; if anything else comes first, the begun line is closed with ` <unfinished ...>`
//! and the end later comes as `<... name resumed>text`, strace's split of a call that
//! blocks while another thread or process prints. On stderr a line is prefixed
//! `[pid TID] ` while more than one thread of the traced tree is alive when it begins
//! (strace -f's rule: so a fork's own line has no prefix, the child not being there yet
//! when the call began); with `--strace-output FILE` every line is prefixed `TID ` padded
//! to five columns (strace -f -o FILE's rule).
//!
//! The processes of the tree are host processes (forked monitors): the live threads, which
//! thread has a begun line, and a lock over writing sit in a page shared by all of them;
//! the output file is opened once, O_APPEND, so the writes of all processes land in order.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

struct Tracer {
    /// The --strace-output file, else None (linuxrun's stderr).
    file: Option<File>,
    shared: &'static Shared,
}

/// What the processes of the traced tree share.
#[repr(C)]
struct Shared {
    /// The pid of the process writing a line now (0: nobody).
    lock: AtomicI32,
    /// The thread whose begun line is the last thing written (0: the last line is whole).
    open_tid: AtomicI32,
    /// That line's length so far (its result column is counted from its start).
    open_col: AtomicUsize,
    /// The live threads of the tree (0: a free slot) ...
    live: [AtomicI32; SLOTS],
    /// ... and the process each belongs to.
    owner: [AtomicI32; SLOTS],
}

const SLOTS: usize = 1000;

static TRACER: OnceLock<Tracer> = OnceLock::new();

/// strace's result column: the line is padded with spaces up to it, then ` = `.
const RESULT_COLUMN: usize = 39;

const BEGIN: u8 = 1;
const END: u8 = 2;
const THREAD_EXIT: u8 = 3;

/// Start tracing: open `output` (truncated, as strace -o does) above the program's
/// descriptors, at or above `floor`. Returns the descriptor, for the monitor's guard.
pub fn init(output: Option<&Path>, floor: i32) -> Result<Option<i32>, String> {
    let file = match output {
        Some(path) => {
            let f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .open(path)
                .map_err(|e| format!("--strace-output {}: {e}", path.display()))?;
            // O_APPEND after the truncation: each process's lines land at the end.
            let f = File::from(crate::host::sys::dup_above_floor(&f, floor).map_err(|e| e.to_string())?);
            set_append(&f).map_err(|e| format!("--strace-output {}: {e}", path.display()))?;
            Some(f)
        }
        None => None,
    };
    let fd = file.as_ref().map(|f| f.as_raw_fd());
    let shared = shared_page()?;
    let pid = std::process::id() as i32;
    shared.live[0].store(pid, Ordering::Relaxed);
    shared.owner[0].store(pid, Ordering::Relaxed);
    let _ = TRACER.set(Tracer { file, shared });
    Ok(fd)
}

fn set_append(f: &File) -> std::io::Result<()> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let flags = fcntl_getfl(f)?;
    fcntl_setfl(f, flags | OFlags::APPEND)?;
    Ok(())
}

/// The shared state, in anonymous shared memory that forked monitors keep sharing.
fn shared_page() -> Result<&'static Shared, String> {
    let size = std::mem::size_of::<Shared>();
    // SAFETY: a fresh anonymous mapping, never unmapped: the reference lives as long as the
    // process. Zeroed atomics are valid values, and the mapping is page-aligned.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            size,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANON,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return Err(format!("--strace: shared page: {}", std::io::Error::last_os_error()));
        }
        Ok(&*(p as *const Shared))
    }
}

/// A message from the guest (see the module documentation).
pub fn guest_line(raw: &[u8]) {
    let Some(t) = TRACER.get() else { return };
    let (tid, text) = match raw.iter().position(|&b| b == b' ') {
        Some(sp) => (std::str::from_utf8(&raw[..sp]).ok().and_then(|s| s.parse::<i32>().ok()), &raw[sp + 1..]),
        None => (None, raw),
    };
    let tid = tid.unwrap_or_else(|| std::process::id() as i32);
    match text.split_first() {
        Some((&BEGIN, rest)) => t.emit(tid, Piece::Begin(rest)),
        Some((&END, rest)) => {
            let (name, rest) = match rest.iter().position(|&b| b == BEGIN) {
                Some(i) => (&rest[..i], &rest[i + 1..]),
                None => (&b"?"[..], rest),
            };
            t.emit(tid, Piece::End { name, rest })
        }
        Some((&THREAD_EXIT, code)) => {
            let code = std::str::from_utf8(code).ok().and_then(|s| s.parse::<i32>().ok()).unwrap_or(0);
            t.emit(tid, Piece::Whole(format!("+++ exited with {} +++", code & 0xff).as_bytes()));
            thread_gone(tid);
        }
        _ => t.emit(tid, Piece::Whole(text)),
    }
}

enum Piece<'a> {
    Begin(&'a [u8]),
    End { name: &'a [u8], rest: &'a [u8] },
    Whole(&'a [u8]),
}

impl Tracer {
    /// Write `piece` of `tid`'s output, closing another thread's begun line first.
    fn emit(&self, tid: i32, piece: Piece<'_>) {
        let _held = self.lock();
        let s = self.shared;
        let open = s.open_tid.load(Ordering::Relaxed);
        let mut out = Vec::with_capacity(160);
        let continues = matches!(piece, Piece::End { .. }) && open == tid;
        if open != 0 && !continues {
            out.extend_from_slice(b" <unfinished ...>\n");
        }
        // Where the current line starts in `out`, less what was written of it before.
        let mut line_start = out.len();
        if continues {
            line_start = line_start.wrapping_sub(s.open_col.load(Ordering::Relaxed));
        } else {
            self.prefix(&mut out, tid);
        }
        let (text, ends) = match piece {
            Piece::Begin(text) => (text, false),
            Piece::End { rest, .. } if continues => (rest, true),
            Piece::End { name, rest } => {
                out.extend_from_slice(b"<... ");
                out.extend_from_slice(name);
                out.extend_from_slice(b" resumed>");
                (rest, true)
            }
            Piece::Whole(text) => (text, true),
        };
        for &b in text {
            if b == b'\t' {
                let col = out.len().wrapping_sub(line_start);
                out.resize(out.len() + RESULT_COLUMN.saturating_sub(col), b' ');
                out.push(b' ');
            } else {
                out.push(b);
            }
        }
        if ends {
            out.push(b'\n');
            s.open_tid.store(0, Ordering::Relaxed);
        } else {
            s.open_tid.store(tid, Ordering::Relaxed);
            s.open_col.store(out.len() - line_start, Ordering::Relaxed);
        }
        self.write_out(&out);
    }

    fn prefix(&self, out: &mut Vec<u8>, tid: i32) {
        if self.file.is_some() {
            let _ = write!(out, "{tid:<5} ");
        } else if self.shared.live.iter().filter(|p| p.load(Ordering::Relaxed) != 0).nth(1).is_some() {
            let _ = write!(out, "[pid {tid:>5}] ");
        }
    }

    fn write_out(&self, out: &[u8]) {
        match &self.file {
            Some(f) => {
                let _ = (&*f).write_all(out);
            }
            None => crate::diag::write(out),
        }
    }

    /// The lock over writing, shared by the tree's processes. After a second, a holder
    /// that no longer exists (killed while writing) loses it.
    fn lock(&self) -> Held<'_> {
        let me = std::process::id() as i32;
        let lock = &self.shared.lock;
        let since = Instant::now();
        let mut spins = 0u32;
        loop {
            let holder = match lock.compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed) {
                Ok(_) => break,
                Err(holder) => holder,
            };
            spins += 1;
            if spins < 100 {
                std::hint::spin_loop();
                continue;
            }
            std::thread::sleep(Duration::from_micros(20));
            // A holder blocked in its write (a full pipe, a stopped terminal) is waited
            // for; one that no longer exists is not.
            if since.elapsed() >= Duration::from_secs(1) && !process_exists(holder) {
                let _ = lock.compare_exchange(holder, 0, Ordering::AcqRel, Ordering::Relaxed);
            }
        }
        Held { lock, me }
    }
}

fn process_exists(pid: i32) -> bool {
    // SAFETY: kill with signal 0 sends nothing; it only checks that the process exists.
    unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH) }
}

struct Held<'a> {
    lock: &'a AtomicI32,
    me: i32,
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        let _ = self.lock.compare_exchange(self.me, 0, Ordering::Release, Ordering::Relaxed);
    }
}

/// A new thread or process of the tree, `tid` of process `pid`.
fn add_live(tid: i32, pid: i32) {
    let Some(t) = TRACER.get() else { return };
    let s = t.shared;
    if s.live.iter().any(|p| p.load(Ordering::Relaxed) == tid) {
        return;
    }
    for (slot, owner) in s.live.iter().zip(&s.owner) {
        if slot.compare_exchange(0, tid, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            owner.store(pid, Ordering::Relaxed);
            return;
        }
    }
}

/// A fork made a process of the tree: the parent says so with the child's pid, the child
/// with 0 (so that neither's next line can begin before the count has it). In the child
/// only the forking thread exists, as its first.
///
/// The parent's other threads are in the shared slots under the parent's pid, so the
/// child's own count needs nothing from them (and no lock that a thread of the parent may
/// have held at the fork).
pub fn forked(pid: i32) {
    if pid == 0 {
        let me = std::process::id() as i32;
        add_live(me, me);
    } else {
        add_live(pid, pid);
    }
}

/// A new thread of this process (before its creator's clone returns).
pub fn thread_started(tid: i32) {
    add_live(tid, std::process::id() as i32);
}

/// A thread of this process is gone (it told its exit, or it ended otherwise). Only this
/// process's own slots: the id may come from the guest's message.
pub fn thread_gone(tid: i32) {
    let Some(t) = TRACER.get() else { return };
    let me = std::process::id() as i32;
    for (slot, owner) in t.shared.live.iter().zip(&t.shared.owner) {
        if slot.load(Ordering::Relaxed) == tid && owner.load(Ordering::Relaxed) == me {
            owner.store(0, Ordering::Relaxed);
            slot.store(0, Ordering::Relaxed);
        }
    }
}

/// The live threads of process `pid` other than its first.
fn other_threads(pid: i32) -> Vec<i32> {
    let Some(t) = TRACER.get() else { return Vec::new() };
    let s = t.shared;
    s.live
        .iter()
        .zip(&s.owner)
        .filter(|(_, owner)| owner.load(Ordering::Relaxed) == pid)
        .map(|(slot, _)| slot.load(Ordering::Relaxed))
        .filter(|&tid| tid != 0 && tid != pid)
        .collect()
}

/// A process of the tree is gone with all its threads (it said so as it ended, or its
/// parent reaped it: a SIGKILL leaves it no time to say so).
pub fn process_gone(pid: i32) {
    let Some(t) = TRACER.get() else { return };
    let s = t.shared;
    for (slot, owner) in s.live.iter().zip(&s.owner) {
        if owner.load(Ordering::Relaxed) == pid {
            owner.store(0, Ordering::Relaxed);
            slot.store(0, Ordering::Relaxed);
        }
    }
}

/// The program (this process of the tree) ended: strace's `+++ exited with N +++` or
/// `+++ killed by SIGX +++` (`+++ killed by SIGX (core dumped) +++` with `core`) for each
/// of its threads still there, the first last; then it is gone.
pub fn process_ended(status: Option<i32>, signal: Option<i32>, core: bool) {
    let Some(t) = TRACER.get() else { return };
    let pid = std::process::id() as i32;
    let line = match (status, signal) {
        (_, Some(sig)) => format!("+++ killed by {}{} +++", signal_name(sig), if core { " (core dumped)" } else { "" }),
        (Some(code), None) => format!("+++ exited with {} +++", code & 0xff),
        (None, None) => return,
    };
    for tid in other_threads(pid) {
        t.emit(tid, Piece::Whole(line.as_bytes()));
        thread_gone(tid);
    }
    t.emit(pid, Piece::Whole(line.as_bytes()));
    process_gone(pid);
}

fn signal_name(sig: i32) -> String {
    match sig {
        1..=31 => abi_shared::linux::signal::NAMES[sig as usize].to_owned(),
        32 => "SIGRTMIN".to_owned(),
        33..=64 => format!("SIGRT_{}", sig - 32),
        _ => sig.to_string(),
    }
}
