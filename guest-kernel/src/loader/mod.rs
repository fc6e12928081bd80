//! Loading a program: the ELF image and the initial stack.

pub mod args;
pub mod stack;
// x86_64 code pages: not built for the aarch64 guest (which has no vDSO yet).
#[cfg(any(not(target_os = "none"), target_arch = "x86_64"))]
pub mod vdso;

#[cfg(all(target_os = "none", target_arch = "x86_64"))]
mod elf;
// Shared with the aarch64 guest's bring-up loader (bringup/loader.rs).
pub(crate) mod elf_rules;
#[cfg(all(target_os = "none", target_arch = "x86_64"))]
pub use elf::{check, exec, load, rlimit_stack, Checked, LoadError, Program};
