//! Whether the machine has a core to spare for a polling hypercall worker.
//!
//! A woken worker polls for the next request for a while (`worker::SPIN`). That pays when
//! a core is idle, and costs another process its core when all are busy: `make -j2` of
//! four `gcc -O2 -c` on a 2-core kvm_pvm machine took 2.23 s with workers woken for
//! bursts and 1.99 s with `--hypercalls exit` (no workers), while with `-j1` the workers
//! won, 2.91 s against 3.26 s. So the vCPU thread wakes its sleeping worker for a burst
//! only while the host's count of running threads (the fourth field of /proc/loadavg,
//! counted at the moment of reading, not averaged) leaves a core free; otherwise it serves
//! the burst by exits, as `--hypercalls exit` does.
//!
//! The file stays open above the program's descriptors (reserved like the monitor's own):
//! opened while the program runs, it would take the program's lowest free descriptor.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

struct Source {
    loadavg: File,
    cpus: u32,
    epoch: Instant,
}

static SOURCE: OnceLock<Source> = OnceLock::new();
/// When the last reading was taken (ns since `epoch`, +1 so that 0 means never), and what
/// it said.
static READ_AT: AtomicU64 = AtomicU64::new(0);
static SPARE: AtomicBool = AtomicBool::new(true);
/// A reading is reused for this long: bursts come in quick succession, and a reading
/// costs a few microseconds.
const READING_LIFETIME_NANOS: u64 = 1_000_000;

/// Open /proc/loadavg at or above `floor`, before the program runs; returns the descriptor
/// for the fd guard. Without it (no /proc: macOS) every answer is "spare".
pub fn init(floor: i32) -> Option<i32> {
    let low = File::open("/proc/loadavg").ok()?;
    let loadavg = File::from(crate::host::sys::move_above_floor(low.into(), floor).ok()?);
    let fd = loadavg.as_raw_fd();
    // The count is the whole host's, so it is set against all its CPUs, not the ones this
    // process may use (a container's quota or cpuset would make an idle host look busy).
    // SAFETY: sysconf takes no pointers.
    let online = unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) };
    let cpus = u32::try_from(online).unwrap_or(1).max(1);
    SOURCE.set(Source { loadavg, cpus, epoch: Instant::now() }).ok()?;
    Some(fd)
}

/// Whether a worker polling now would find a core no other thread wants. Asked by a
/// running thread (the vCPU thread, serving an exit), which the count includes.
pub fn spare_core() -> bool {
    let Some(src) = SOURCE.get() else { return true };
    let now = src.epoch.elapsed().as_nanos() as u64 + 1;
    let read_at = READ_AT.load(Ordering::Relaxed);
    if read_at != 0 && now.saturating_sub(read_at) < READING_LIFETIME_NANOS {
        return SPARE.load(Ordering::Relaxed);
    }
    let mut buf = [0u8; 128];
    let spare = match src.loadavg.read_at(&mut buf, 0) {
        Ok(n) => running_threads(&buf[..n]).is_none_or(|running| leaves_a_core(running, src.cpus)),
        Err(_) => true,
    };
    SPARE.store(spare, Ordering::Relaxed);
    READ_AT.store(now, Ordering::Relaxed);
    spare
}

/// The running-thread count of /proc/loadavg ("0.35 1.30 1.51 3/250 12345": 3).
fn running_threads(loadavg: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(loadavg).ok()?;
    let field = text.split_ascii_whitespace().nth(3)?;
    field.split_once('/')?.0.parse().ok()
}

/// `running` counts the asking thread; a woken worker would add one more.
fn leaves_a_core(running: u32, cpus: u32) -> bool {
    running < cpus
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_running_count_is_the_fourth_field() {
        assert_eq!(running_threads(b"0.35 1.30 1.51 3/250 12345\n"), Some(3));
        assert_eq!(running_threads(b"12.00 9.10 4.00 17/1024 99\n"), Some(17));
        assert_eq!(running_threads(b"0.35 1.30 1.51\n"), None);
        assert_eq!(running_threads(b"0.35 1.30 1.51 x/250 1\n"), None);
        assert_eq!(running_threads(b""), None);
    }

    #[test]
    fn a_worker_is_woken_only_where_it_leaves_a_core() {
        // Alone on 2 cores: the asking vCPU thread runs, the worker takes the other core.
        assert!(leaves_a_core(1, 2));
        // Two busy processes on 2 cores: the worker would take one's core.
        assert!(!leaves_a_core(2, 2));
        assert!(!leaves_a_core(5, 2));
        // One core: a polling worker always takes it from someone.
        assert!(!leaves_a_core(1, 1));
        assert!(leaves_a_core(3, 8));
    }
}
