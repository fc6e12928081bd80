//! The linuxrun guest kernel.
//!
//! Runs one Linux program in ring 3 of a hardware VM. It serves memory, time, signals and
//! identity itself and forwards what needs the host (files, terminals) as hypercalls. Built
//! for `x86_64-unknown-none` and embedded in the `linuxrun` binary; the pure parts (VMA
//! bookkeeping, the initial stack) also build on the host so they can be unit-tested.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![cfg_attr(not(target_os = "none"), allow(dead_code))]

extern crate alloc;

#[cfg(target_os = "none")]
mod arch;
#[cfg(target_os = "none")]
mod boot;
#[cfg(target_os = "none")]
mod exception;
/// The descriptor table, unit-tested on the host.
#[cfg(not(target_os = "none"))]
#[path = "task/fdtable.rs"]
mod fdtable;
mod fs;
#[cfg(target_os = "none")]
mod hypercall;
mod loader;
/// The pure rules of syscall/misc.rs, unit-tested on the host.
#[cfg(not(target_os = "none"))]
#[path = "syscall/misc_rules.rs"]
mod misc_rules;
mod mm;
#[cfg(target_os = "none")]
mod percpu;
#[cfg(target_os = "none")]
mod print;
mod random;
#[cfg(target_os = "none")]
mod signal;
mod vvar;
/// On the host, the part of signal/ that builds there: signalfd's records (and the
/// siginfo they are made from), unit-tested.
#[cfg(not(target_os = "none"))]
#[path = "signal"]
mod signal {
    #[path = "../task/siginfo.rs"]
    mod siginfo;
    pub use siginfo::SigInfo;
    pub mod signalfd;
}
#[cfg(target_os = "none")]
mod stats;
#[cfg(target_os = "none")]
mod syscall;
#[cfg(target_os = "none")]
mod sysctx;
#[cfg(target_os = "none")]
mod task;
#[cfg(target_os = "none")]
mod time;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the guest kernel runs inside linuxrun's VM; build it for x86_64-unknown-none");
}
