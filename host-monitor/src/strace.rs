//! Where `--strace` lines go and how they are laid out, as `strace -f` lays them out.
//!
//! The guest sends each line as `TID text`, with a tab where strace pads the line to its
//! result column. On stderr a line is prefixed `[pid TID] ` while more than one process of
//! the traced tree is alive (strace -f's rule); with `--strace-output FILE` every line is
//! prefixed `TID ` padded to five columns (strace -f -o FILE's rule). The processes of the
//! tree are host processes (forked monitors), so the pids of the live ones sit in a page
//! shared by all of them; the output file is opened once, O_APPEND, and every line is one
//! write, so the lines of parents and children interleave whole.

use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::OnceLock;

struct Tracer {
    /// The --strace-output file, else None (linuxrun's stderr).
    file: Option<File>,
    /// The live processes of the traced tree, by pid (0: a free slot), in a page shared
    /// by every forked monitor.
    live: &'static [AtomicI32; SLOTS],
}

const SLOTS: usize = 1024;

static TRACER: OnceLock<Tracer> = OnceLock::new();

/// strace's result column: the line is padded with spaces up to it, then ` = `.
const RESULT_COLUMN: usize = 39;

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
    let live = shared_slots()?;
    live[0].store(std::process::id() as i32, Ordering::Relaxed);
    let _ = TRACER.set(Tracer { file, live });
    Ok(fd)
}

fn set_append(f: &File) -> std::io::Result<()> {
    use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};
    let flags = fcntl_getfl(f)?;
    fcntl_setfl(f, flags | OFlags::APPEND)?;
    Ok(())
}

/// The pid slots, in an anonymous shared page that forked monitors keep sharing.
fn shared_slots() -> Result<&'static [AtomicI32; SLOTS], String> {
    const _: () = assert!(SLOTS * 4 <= 4096);
    // SAFETY: a fresh anonymous mapping of one page, never unmapped: the reference lives as
    // long as the process. Zeroed AtomicI32s are valid, and the page is aligned for them.
    unsafe {
        let p = libc::mmap(
            std::ptr::null_mut(),
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED | libc::MAP_ANON,
            -1,
            0,
        );
        if p == libc::MAP_FAILED {
            return Err(format!("--strace: shared page: {}", std::io::Error::last_os_error()));
        }
        Ok(&*(p as *const [AtomicI32; SLOTS]))
    }
}

/// A line from the guest (`TID text`, a tab before ` = `).
pub fn guest_line(raw: &[u8]) {
    let Some(t) = TRACER.get() else { return };
    let (tid, text) = match raw.iter().position(|&b| b == b' ') {
        Some(sp) => (std::str::from_utf8(&raw[..sp]).ok().and_then(|s| s.parse::<i32>().ok()), &raw[sp + 1..]),
        None => (None, raw),
    };
    let tid = tid.unwrap_or_else(|| std::process::id() as i32);
    t.write(tid, text);
}

impl Tracer {
    fn write(&self, tid: i32, text: &[u8]) {
        let mut out = Vec::with_capacity(text.len() + 48);
        if self.file.is_some() {
            let _ = write!(out, "{tid:<5} ");
        } else if self.live.iter().filter(|p| p.load(Ordering::Relaxed) != 0).nth(1).is_some() {
            let _ = write!(out, "[pid {tid:>5}] ");
        }
        for &b in text {
            if b == b'\t' {
                let col = out.len();
                out.resize(col.max(RESULT_COLUMN), b' ');
                out.push(b' ');
            } else {
                out.push(b);
            }
        }
        out.push(b'\n');
        match &self.file {
            Some(f) => {
                let _ = (&*f).write_all(&out);
            }
            None => crate::diag::write(&out),
        }
    }
}

/// A new process of the tree (each side of a fork says so, so that neither's next line can
/// come before the count has it).
pub fn process_started(pid: i32) {
    let Some(t) = TRACER.get() else { return };
    if t.live.iter().any(|p| p.load(Ordering::Relaxed) == pid) {
        return;
    }
    for slot in t.live {
        if slot.compare_exchange(0, pid, Ordering::Relaxed, Ordering::Relaxed).is_ok() {
            return;
        }
    }
}

/// A process of the tree is gone (it said so as it ended, or its parent reaped it: a
/// SIGKILL leaves it no time to say so).
pub fn process_gone(pid: i32) {
    let Some(t) = TRACER.get() else { return };
    for slot in t.live {
        let _ = slot.compare_exchange(pid, 0, Ordering::Relaxed, Ordering::Relaxed);
    }
}

/// The program (this process of the tree) ended: strace's `+++ exited with N +++` or
/// `+++ killed by SIGX +++` (`+++ killed by SIGX (core dumped) +++` with `core`), then one
/// process fewer.
pub fn process_ended(status: Option<i32>, signal: Option<i32>, core: bool) {
    let Some(t) = TRACER.get() else { return };
    let pid = std::process::id() as i32;
    let line = match (status, signal) {
        (_, Some(sig)) => format!("+++ killed by {}{} +++", signal_name(sig), if core { " (core dumped)" } else { "" }),
        (Some(code), None) => format!("+++ exited with {} +++", code & 0xff),
        (None, None) => return,
    };
    t.write(pid, line.as_bytes());
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
