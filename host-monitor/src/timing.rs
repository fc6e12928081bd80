//! Where a process's start and end go: `-v` prints one `timing:` line per process with the
//! time each phase took (docs/performance.md, "Process creation"). The monitor marks the
//! end of each of its phases here; the guest kernel's own (its boot, loading the program)
//! come from the TSC stamps it leaves in the first vCPU's block (`vcpu_block::BOOT_TSC_*`).

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::guest_mem::GuestMemory;

/// Only `-v` asks for the line: otherwise marking costs one load.
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether `mark` records: from a process's start to its program's first instruction, and
/// again from the program's end (`resume`); not in between, where a thread's vCPU or the
/// parent's side of a fork would add phases that are not the process's start.
static RECORDING: AtomicBool = AtomicBool::new(false);

/// (phase that just ended, when). A forked child starts its own list.
static MARKS: Mutex<Vec<(&'static str, Instant)>> = Mutex::new(Vec::new());

/// The guest kernel's stamps, once read (`note_guest`).
static GUEST: Mutex<Option<(Instant, Instant, u64)>> = Mutex::new(None);

/// The guest's clock against the host's at one moment, to place the guest's stamps.
static TSC_AT_RUN: Mutex<Option<GuestClock>> = Mutex::new(None);

#[derive(Clone, Copy)]
struct GuestClock {
    host: Instant,
    guest_tsc: u64,
    tsc_khz: u64,
}

/// Record the phases from now on (`-v`).
pub fn enable() {
    ENABLED.store(true, Ordering::Relaxed);
}

pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// The phase `phase` ended now.
pub fn mark(phase: &'static str) {
    if !enabled() || !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    if let Ok(mut m) = MARKS.lock() {
        m.push((phase, Instant::now()));
    }
}

/// The program ended: record again, `phase` ending now.
pub fn resume(phase: &'static str) {
    RECORDING.store(true, Ordering::Relaxed);
    mark(phase);
}

/// The phase `phase` ended at `at`.
pub fn mark_at(phase: &'static str, at: Instant) {
    if !enabled() || !RECORDING.load(Ordering::Relaxed) {
        return;
    }
    if let Ok(mut m) = MARKS.lock() {
        m.push((phase, at));
    }
}

/// A new process (the start of linuxrun, or a forked child, which began at `at`): forget
/// the marks before.
pub fn restart_at(first: &'static str, at: Instant) {
    if !enabled() {
        return;
    }
    RECORDING.store(true, Ordering::Relaxed);
    if let Ok(mut m) = MARKS.lock() {
        m.clear();
        m.push((first, at));
    }
    if let Ok(mut c) = TSC_AT_RUN.lock() {
        *c = None;
    }
    if let Ok(mut g) = GUEST.lock() {
        *g = None;
    }
}

/// Whether the guest's clock is yet to be noted (`guest_clock`). Asked before every
/// KVM_RUN: while the program runs (`RECORDING` off) it costs two loads and no lock.
pub fn wants_guest_clock() -> bool {
    enabled() && RECORDING.load(Ordering::Relaxed) && TSC_AT_RUN.lock().is_ok_and(|c| c.is_none())
}

/// The guest's TSC read just before its first instruction runs (`guest_tsc`, ticking at
/// `tsc_khz`): the guest's stamps are placed on the host's clock from it.
pub fn guest_clock(guest_tsc: u64, tsc_khz: u64) {
    mark("to first KVM_RUN");
    if let Ok(mut c) = TSC_AT_RUN.lock() {
        *c = Some(GuestClock { host: Instant::now(), guest_tsc, tsc_khz });
    }
    RECORDING.store(false, Ordering::Relaxed);
}

/// The guest kernel's stamps, as host instants: (its first instruction, the program's
/// first instruction, hypercalls it made before that).
fn guest_stamps(mem: &GuestMemory) -> Option<(Instant, Instant, u64)> {
    use abi_shared::layout::{vcpu_block, vcpu_block_gpa};
    let clock = (*TSC_AT_RUN.lock().ok()?)?;
    let block = vcpu_block_gpa(0);
    let kmain = mem.read_u64(block + vcpu_block::BOOT_TSC_KMAIN).ok()?;
    let user = mem.read_u64(block + vcpu_block::BOOT_TSC_USER).ok()?;
    let hypercalls = mem.read_u64(block + vcpu_block::BOOT_HYPERCALLS).ok()?;
    // A forked child's block holds its parent's stamps, from before its clock was noted.
    if kmain < clock.guest_tsc || user < kmain || clock.tsc_khz == 0 {
        return None;
    }
    // The stamps are the guest's word: a wild one gives no line, never an overflow.
    let at = |tsc: u64| {
        let micros = u128::from(tsc - clock.guest_tsc) * 1000 / u128::from(clock.tsc_khz);
        clock.host.checked_add(std::time::Duration::from_micros(u64::try_from(micros).ok()?))
    };
    Some((at(kmain)?, at(user)?, hypercalls))
}

/// Read the guest kernel's stamps while its memory is still there.
pub fn note_guest(mem: &GuestMemory) {
    if !enabled() {
        return;
    }
    let stamps = guest_stamps(mem);
    if let Ok(mut g) = GUEST.lock() {
        *g = stamps;
    }
}

/// The `timing:` line: each phase's milliseconds, in order, the guest's phases placed
/// among the monitor's. None when nothing was marked.
pub fn line() -> Option<String> {
    let mut marks = MARKS.lock().ok()?.clone();
    let mut boot_hypercalls = None;
    if let Some((kmain, user, n)) = *GUEST.lock().ok()? {
        marks.push(("guest kernel start", kmain));
        marks.push(("guest boot and program load", user));
        boot_hypercalls = Some(n);
        marks.sort_by_key(|&(_, at)| at);
    }
    let (first, start) = *marks.first()?;
    let total = marks.last()?.1.duration_since(start);
    let mut out = format!("timing (pid {}, {first} to end, {:.2} ms):", std::process::id(), ms(total));
    let mut prev = start;
    for &(phase, at) in &marks[1..] {
        out.push_str(&format!(" {phase} {:.2}", ms(at.saturating_duration_since(prev))));
        if phase == "guest boot and program load" {
            if let Some(n) = boot_hypercalls {
                out.push_str(&format!(" ({n} hypercalls)"));
            }
        }
        out.push(',');
        prev = at;
    }
    out.pop();
    Some(out)
}

fn ms(d: std::time::Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_line_lists_phases_in_order() {
        enable();
        restart_at("start", Instant::now());
        mark("one");
        mark("two");
        // The program runs: a thread's or a fork's phases are not the process's start.
        guest_clock(0, 1);
        mark("a thread's vCPU");
        resume("three");
        let l = line().expect("marks were made");
        assert!(!l.contains("thread"), "{l}");
        assert!(l.contains(" to first KVM_RUN ") && l.contains(" three "), "{l}");
        assert!(l.starts_with("timing (pid ") && l.contains("start to end"), "{l}");
        let one = l.find(" one ").expect("phase one listed");
        let two = l.find(" two ").expect("phase two listed");
        assert!(one < two, "{l}");
    }
}
