//! /proc, served by the guest kernel for the program's own process (the host's entries
//! for our pid would describe the monitor), and forwarded to the host's /proc for the rest
//! of the machine: other processes, meminfo, stat, uptime, loadavg, the mount list, and
//! any name the guest has no better answer for (docs/proc.md gives the rule; macOS has no
//! /proc, and there only the guest's part is there). The tree and the file formats are
//! pure code (tested on the host); the rest reads the guest's state and answers the file
//! syscalls that name /proc.
//!
//! Guest fds are host fds, so an open /proc file is a real host descriptor: the host makes
//! an anonymous read-only file holding the text generated at open (`OpenMemory`), and
//! read, lseek, mmap, poll, dup and sendfile then need nothing more. A /proc directory is
//! a descriptor of an empty host directory whose entries the guest lists (getdents64).
//!
//! Known differences from Linux:
//! - chdir/fchdir into /proc is refused with EACCES;
//! - `..` is folded lexically before links are followed (`/proc/thread-self/..` is /proc);
//! - other processes are the host's view of them: another linuxrun'd process shows the
//!   monitor's exe, memory figures and threads (its cmdline and comm are the program's);
//! - opening /proc/self/fd/N of a pipe or socket duplicates the descriptor;
//! - writes to the guest's own files are refused (EACCES at open), even the ones Linux lets
//!   root make; the host's (sysctls the guest does not answer itself, other processes'
//!   files, system files) are the host's to allow, writes included.

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
