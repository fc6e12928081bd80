//! `--stats` and `--stats-json`: where syscalls were served and what the VM exits were.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::Path;

use abi_shared::bootinfo::Flavour;
use abi_shared::syscalls::syscall_name;
use serde::Serialize;

use crate::machine::MachineError;
use crate::server::GuestOutcome;

#[derive(Serialize)]
pub struct SyscallRow {
    pub nr: u64,
    pub name: String,
    pub in_guest: u64,
    pub hypercall: u64,
}

#[derive(Serialize)]
pub struct Report {
    pub syscalls: Vec<SyscallRow>,
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
        let counters: &[(u64, u64)] = match outcome {
            Ok(GuestOutcome::Exited(_, c)) => c,
            _ => &[],
        };
        let syscalls = counters
            .iter()
            .enumerate()
            .filter(|(_, (g, h))| g + h > 0)
            .map(|(nr, &(in_guest, hypercall))| SyscallRow {
                nr: nr as u64,
                name: syscall_name(nr as u64).map(str::to_owned).unwrap_or_else(|| format!("syscall_{nr}")),
                in_guest,
                hypercall,
            })
            .collect();
        let mut vm_exits: BTreeMap<String, u64> = exits.iter().map(|(k, v)| (k.to_string(), *v)).collect();
        for (name, value) in kvm_counters {
            vm_exits.insert(format!("kvm_{name}"), value);
        }
        Report { syscalls, vm_exits, hypercalls, flavour }
    }

    pub fn print_table(&self) {
        // One buffer, written at once to linuxrun's own stderr.
        let mut e: Vec<u8> = Vec::new();
        let _ = writeln!(e, "linuxrun --stats (guest kernel flavour: {:?})", self.flavour);
        let _ = writeln!(e, "{:>4}  {:<24} {:>12} {:>12}", "nr", "syscall", "in guest", "hypercall");
        let (mut tg, mut th) = (0, 0);
        for r in &self.syscalls {
            let _ = writeln!(e, "{:>4}  {:<24} {:>12} {:>12}", r.nr, r.name, r.in_guest, r.hypercall);
            tg += r.in_guest;
            th += r.hypercall;
        }
        let _ = writeln!(e, "      {:<24} {:>12} {:>12}", "total", tg, th);
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
