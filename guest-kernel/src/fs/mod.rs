//! Filesystems the guest kernel serves itself.

pub mod memdev;
pub mod procfs;
