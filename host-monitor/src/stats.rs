//! `--stats` and `--stats-json`: where syscalls were served and what the VM exits were.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use abi_shared::bootinfo::Flavour;
use abi_shared::syscalls::{syscall_name, Unsupported};
use serde::Serialize;

use crate::machine::MachineError;
use crate::server::{GuestCounters, GuestOutcome};

#[derive(Serialize)]
pub struct SyscallRow {
    pub nr: u64,
    pub name: String,
    pub in_guest: u64,
    pub hypercall: u64,
    /// Calls that returned an error (-4095..-1).
    pub failed: u64,
}

#[derive(Serialize)]
pub struct Report {
    pub syscalls: Vec<SyscallRow>,
    /// What the program asked for that linuxrun does not implement: syscall names and
    /// features of implemented calls ("ioctl 0x5401"), sorted.
    pub unimplemented: Vec<String>,
    pub vm_exits: BTreeMap<String, u64>,
    pub hypercalls: u64,
    #[serde(skip)]
    pub flavour: Flavour,
}

impl Report {
    pub fn new(
        outcome: &Result<GuestOutcome, MachineError>,
        exits: &BTreeMap<&'static str, u64>,
        kvm_counters: Vec<(String, u64)>,
        hypercalls: u64,
        flavour: Flavour,
    ) -> Report {
        let empty = GuestCounters::default();
        let counters = match outcome {
            Ok(GuestOutcome::Exited(_, c)) => c,
            _ => &empty,
        };
        let syscalls = counters
            .syscalls
            .iter()
            .enumerate()
            .filter(|(_, (g, h))| g + h > 0)
            .map(|(nr, &(in_guest, hypercall))| SyscallRow {
                nr: nr as u64,
                name: name_of(nr as u64),
                in_guest,
                hypercall,
                failed: counters.failed.get(nr).copied().unwrap_or(0),
            })
            .collect();
        let mut vm_exits: BTreeMap<String, u64> = exits.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        for (name, value) in kvm_counters {
            vm_exits.insert(format!("kvm_{name}"), value);
        }
        Report { syscalls, unimplemented: unimplemented(counters), vm_exits, hypercalls, flavour }
    }

    pub fn print_table(&self) {
        // One buffer, written at once to linuxrun's own stderr.
        let mut e: Vec<u8> = Vec::new();
        let _ = writeln!(e, "linuxrun --stats (guest kernel flavour: {:?})", self.flavour);
        let _ = writeln!(e, "{:>4}  {:<24} {:>12} {:>12} {:>10}", "nr", "syscall", "in guest", "hypercall", "failed");
        let (mut tg, mut th, mut tf) = (0, 0, 0);
        for r in &self.syscalls {
            let _ = writeln!(e, "{:>4}  {:<24} {:>12} {:>12} {:>10}", r.nr, r.name, r.in_guest, r.hypercall, r.failed);
            tg += r.in_guest;
            th += r.hypercall;
            tf += r.failed;
        }
        let _ = writeln!(e, "      {:<24} {:>12} {:>12} {:>10}", "total", tg, th, tf);
        if !self.unimplemented.is_empty() {
            let _ = writeln!(e, "not implemented (asked for): {}", self.unimplemented.join(", "));
        }
        let _ = writeln!(e, "hypercalls served: {}", self.hypercalls);
        let _ = writeln!(e, "VM exits by reason:");
        for (k, v) in &self.vm_exits {
            let _ = writeln!(e, "  {k:<28} {v:>12}");
        }
        crate::diag::write(&e);
    }

    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let json = serde_json::to_string(self).map_err(std::io::Error::other)?;
        std::fs::write(path, json + "\n")
    }
}

fn name_of(nr: u64) -> String {
    syscall_name(nr).map(str::to_owned).unwrap_or_else(|| format!("syscall_{nr}"))
}

/// The names of what the guest reported as not implemented, sorted and without repeats.
fn unimplemented(c: &GuestCounters) -> Vec<String> {
    let mut names: Vec<String> = c.unimplemented.iter().map(|&nr| name_of(nr)).collect();
    for &(kind, value) in &c.unsupported {
        if let Some(u) = Unsupported::from_raw(kind) {
            names.push(format!("{} {value:#x}", u.describe()));
        }
    }
    names.sort();
    names.dedup();
    names
}

/// Calls every program of a C library asks for and goes on without: counted and named by
/// --stats and -v, but no reason to mention them when a program fails.
const QUIET_PROBES: &[&str] = &["rseq"];

/// The line printed when a program that used something linuxrun lacks ends unsuccessfully
/// (`None` when there is nothing to say).
pub fn unimplemented_line(c: &GuestCounters, failed: bool) -> Option<String> {
    if !failed {
        return None;
    }
    let names: Vec<String> = unimplemented(c).into_iter().filter(|n| !QUIET_PROBES.contains(&n.as_str())).collect();
    if names.is_empty() {
        return None;
    }
    Some(format!("linuxrun: the program used {}, which linuxrun does not implement yet", names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_end_line_names_what_is_missing_only_after_a_failure() {
        let c = GuestCounters {
            unimplemented: vec![334, 435, 41, 41],
            unsupported: vec![(4, 0x5401)],
            ..Default::default()
        };
        assert_eq!(unimplemented_line(&c, false), None);
        assert_eq!(
            unimplemented_line(&c, true).as_deref(),
            Some("linuxrun: the program used clone3, ioctl 0x5401, socket, which linuxrun does not implement yet")
        );
        let probes_only = GuestCounters { unimplemented: vec![334], ..Default::default() };
        assert_eq!(unimplemented_line(&probes_only, true), None);
        assert_eq!(unimplemented(&probes_only), vec!["rseq".to_string()]);
    }
}
