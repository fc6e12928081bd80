//! Filesystems the guest kernel serves itself.

pub mod procfs;
