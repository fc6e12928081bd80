//! The program's descriptors that stand for /proc files and directories: the host only
//! sees an anonymous file or an empty directory, so the guest remembers what each is (for
//! fstat, getdents64, readlink of /proc/self/fd/N and paths relative to it).
//!
//! An entry can outlive its descriptor if the program closes it some way the guest does
//! not watch; every use checks the host's (dev, ino) first, so a stale entry is dropped
//! instead of describing an unrelated file.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

use super::tree::Node;

/// A directory's listing and read position (shared by dup'ed descriptors, as the file
/// description is on Linux).
#[derive(Default)]
pub struct Cursor {
    pub pos: u64,
}

#[derive(Clone)]
pub struct Entry {
    pub node: Node,
    /// The canonical path (`/proc/<pid>/status`).
    pub path: Arc<[u8]>,
    pub cursor: Arc<Mutex<Cursor>>,
    /// The host's (st_dev, st_ino) of the descriptor when it was opened.
    pub host_id: (u64, u64),
}

static TABLE: Mutex<BTreeMap<i32, Entry>> = Mutex::new(BTreeMap::new());

pub fn insert(fd: i32, node: Node, path: &[u8], host_id: (u64, u64)) {
    let entry = Entry { node, path: Arc::from(path), cursor: Arc::new(Mutex::new(Cursor::default())), host_id };
    TABLE.lock().insert(fd, entry);
}

pub fn get(fd: i32) -> Option<Entry> {
    TABLE.lock().get(&fd).cloned()
}

pub fn remove(fd: i32) {
    TABLE.lock().remove(&fd);
}

/// `new` is now a duplicate of `old` (whatever `new` was is closed).
pub fn duplicated(old: i32, new: i32) {
    let mut t = TABLE.lock();
    t.remove(&new);
    if let Some(e) = t.get(&old).cloned() {
        t.insert(new, e);
    }
}

/// The canonical path of a /proc directory descriptor, for paths relative to it.
pub fn dir_path(fd: i32) -> Option<Vec<u8>> {
    get(fd).map(|e| e.path.to_vec())
}

/// After the close-on-exec sweep: forget the descriptors the host closed.
pub fn forget_closed() {
    const F_GETFD: i32 = 1;
    let fds: Vec<i32> = TABLE.lock().keys().copied().collect();
    for fd in fds {
        let r = crate::hypercall::call_ret(&abi_shared::hypercall::Request::Fcntl { fd, cmd: F_GETFD, arg: 0 });
        if r < 0 {
            remove(fd);
        }
    }
}
