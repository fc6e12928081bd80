//! Loading a program: the ELF image and the initial stack.

pub mod stack;

#[cfg(target_os = "none")]
mod elf;
#[cfg(target_os = "none")]
pub use elf::{exec, LoadError};
