//! The linuxrun guest kernel.
//!
//! Runs one Linux program in ring 3 of a hardware VM. It serves memory, time, signals and
//! identity itself and forwards what needs the host (files, terminals) as hypercalls. Built
//! for `x86_64-unknown-none` and embedded in the `linuxrun` binary; the pure parts (VMA
//! bookkeeping, the initial stack) also build on the host so they can be unit-tested.
//!
//! For `aarch64-unknown-none` (docs/arm64.md) only the bring-up path builds so far:
//! `arch/aarch64/` (EL1 entry, vectors, the MMU), `bringup/` (frames, the user address
//! space, the hypercall client on the MMIO doorbell, the ELF loader on the shared rules of
//! `loader/`) and `syscall/generic/` (the arm64 syscall table, generic numbering); every
//! other module is x86_64-only until it is ported.
#![cfg_attr(target_os = "none", no_std, no_main)]
#![cfg_attr(not(target_os = "none"), allow(dead_code))]
// The aarch64 bring-up path uses only part of the shared modules (loader/) so far.
#![cfg_attr(all(target_os = "none", target_arch = "aarch64"), allow(dead_code))]

extern crate alloc;

/// The value of a `Result<T, i64>`, or return its error (a negative errno) from the
/// syscall handler. Defined before the modules (textual scope) so that every syscall handler
/// module sees it.
#[cfg_attr(not(target_os = "none"), allow(unused_macros))] // The host's unit-test build has no handlers.
macro_rules! tryret {
    ($e:expr) => {
        match $e {
            Ok(v) => v,
            Err(e) => return e,
        }
    };
}

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod arch;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod boot;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod exception;
/// The descriptor table, unit-tested on the host.
#[cfg(not(target_os = "none"))]
#[path = "task/fdtable.rs"]
mod fdtable;
#[cfg(any(not(target_os = "none"), target_arch = "x86_64"))]
mod fs;
/// The futex queue's pure logic (task/futex_queue.rs), unit-tested on the host.
#[cfg(not(target_os = "none"))]
#[path = "task/futex_queue.rs"]
mod futex_queue;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod hypercall;
mod loader;
/// The pure rules of syscall/misc.rs, unit-tested on the host.
#[cfg(not(target_os = "none"))]
#[path = "syscall/misc_rules.rs"]
mod misc_rules;
#[cfg(any(not(target_os = "none"), target_arch = "x86_64"))]
mod mm;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod percpu;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod print;
mod random;
/// The classic BPF of seccomp filters (task/seccomp_bpf.rs), unit-tested on the host.
#[cfg(not(target_os = "none"))]
#[path = "task/seccomp_bpf.rs"]
mod seccomp_bpf;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod signal;
#[cfg(any(not(target_os = "none"), target_arch = "x86_64"))]
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
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod stats;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod syscall;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod sysctx;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod task;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod time;

// aarch64: the bring-up kernel (see the module documentation).
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
#[path = "arch/aarch64/mod.rs"]
mod arch;
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
#[path = "boot_aarch64.rs"]
mod boot;
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
mod bringup;
#[cfg(all(target_os = "none", target_arch = "aarch64"))]
#[path = "syscall/generic/mod.rs"]
mod syscall;

#[cfg(not(target_os = "none"))]
fn main() {
    eprintln!("the guest kernel runs inside linuxrun's VM; build it for x86_64-unknown-none");
}
