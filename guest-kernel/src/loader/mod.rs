//! Loading a program: the ELF image and the initial stack.

pub mod args;
pub mod stack;
pub mod vdso;

#[cfg(target_os = "none")]
mod elf;
mod elf_rules;
#[cfg(target_os = "none")]
pub use elf::{check, exec, load, rlimit_stack, Checked, LoadError, Program};
