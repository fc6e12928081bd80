//! /proc, served by the guest kernel: the host's /proc would describe the monitor (and
//! macOS has none). The tree and the file formats are pure code (tested on the host); the
//! rest reads the guest's state and answers the file syscalls that name /proc.
//!
//! Guest fds are host fds, so an open /proc file is a real host descriptor: the host makes
//! an anonymous read-only file holding the text generated at open (`OpenMemory`), and
//! read, lseek, mmap, poll, dup and sendfile then need nothing more. A /proc directory is
//! a descriptor of an empty host directory whose entries the guest lists (getdents64).
//!
//! Known differences from Linux:
//! - chdir/fchdir into /proc is refused with EACCES;
//! - `..` is folded lexically before links are followed (`/proc/thread-self/..` is /proc);
//! - only this process is in /proc (other pids are ENOENT, /proc lists only ours);
//! - opening /proc/self/fd/N of a pipe or socket duplicates the descriptor;
//! - writes are refused (EACCES at open), even the ones Linux lets root make, except to the
//!   host's sysctls under /proc/sys (those the guest does not answer itself), which the
//!   host serves, writes included.

pub mod cpuinfo;
pub mod render;
pub mod tree;

#[cfg(target_os = "none")]
mod content;
#[cfg(target_os = "none")]
mod fds;
#[cfg(target_os = "none")]
mod state;
#[cfg(target_os = "none")]
mod syscalls;

#[cfg(target_os = "none")]
pub use content::generate;
#[cfg(target_os = "none")]
pub use state::{name_file_mapping, name_image, note_exec};
#[cfg(target_os = "none")]
pub use syscalls::*;
