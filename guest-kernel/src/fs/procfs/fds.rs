//! The program's descriptors that stand for /proc files and directories: the host only
//! sees an anonymous file or an empty directory, so the guest remembers what each is (for
//! fstat, getdents64, readlink of /proc/self/fd/N and paths relative to it). The
//! descriptor table (task/fdtable.rs) holds them as kind `Proc` with an `Entry` as private
//! data, and keeps them right across close, dup and exec.
//!
//! An entry could still outlive its descriptor if the program closed it some way the
//! guest does not see; every use checks the host's (dev, ino) first, so a stale entry is
//! dropped instead of describing an unrelated file.

use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use super::tree::Node;
use crate::task::fdtable::{self, Desc, Kind, FDS};

/// A directory's listing and read position (shared by dup'ed descriptors, as the file
/// description is on Linux).
#[derive(Default)]
pub struct Cursor {
    pub pos: u64,
    /// The entries listed when the directory was last read from its start: name, d_type,
    /// and the host's inode number for a host entry.
    pub listing: Vec<(Vec<u8>, u8, Option<u64>)>,
}

pub struct Entry {
    pub node: Node,
    /// The canonical path (`/proc/<pid>/status`).
    pub path: Arc<[u8]>,
    pub cursor: Mutex<Cursor>,
    /// The host's (st_dev, st_ino) of the descriptor when it was opened.
    pub host_id: (u64, u64),
}

/// `fd` was just opened for `node`, for reading and/or writing (only a comm file may be
/// opened for writing; the guest serves those writes itself).
pub fn insert(fd: i32, node: Node, path: &[u8], host_id: (u64, u64), (readable, writable): (bool, bool)) {
    let entry = Entry { node, path: Arc::from(path), cursor: Mutex::new(Cursor::default()), host_id };
    FDS.opened(fd, Desc::new(Kind::Proc, readable, writable), Some(Arc::new(entry)));
}

/// The entry of `fd`, if it is a /proc descriptor (one relaxed load when it is not).
pub fn get(fd: i32) -> Option<Arc<Entry>> {
    if fdtable::kind(fd) != Kind::Proc {
        return None;
    }
    FDS.private(fd)?.downcast::<Entry>().ok()
}

/// The host's descriptor is no longer the one we opened.
pub fn remove(fd: i32) {
    FDS.closed(fd);
}

/// The canonical path of a /proc directory descriptor, for paths relative to it.
pub fn dir_path(fd: i32) -> Option<Vec<u8>> {
    get(fd).map(|e| e.path.to_vec())
}
