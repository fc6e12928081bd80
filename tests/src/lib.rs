//! Helpers for the differential tests (see `differential.rs` for the driver).
//!
//! The suite runs each case twice, natively and under linuxrun, and compares what
//! a user would observe: stdout, stderr (where deterministic), the exit status or
//! fatal signal, and for file-manipulating commands the resulting directory tree.
//! Native behaviour is the oracle.

pub mod cases;
pub mod compare;
pub mod compile;
pub mod elf_craft;
pub mod fixtures;
pub mod pool;
pub mod process;
