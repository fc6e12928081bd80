//! Filesystems the guest kernel serves itself.

pub mod fdtable;
pub mod memdev;
pub mod procfs;
