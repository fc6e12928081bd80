//! The descriptor layer: what each of the program's descriptors is.
//!
//! Every descriptor is a host descriptor: the host allocates the numbers and holds the
//! open files, so fork, exec, poll, mmap and dup need nothing from the guest. The guest
//! records the *kind* of each descriptor it serves itself or describes itself (a /proc
//! file, a signalfd, /dev/null, /dev/zero) or whose kind it knows from making it (pipe,
//! memfd); the syscalls dispatch on that kind. A number the table knows nothing about is
//! `Host`: forwarded.
//!
//! The table is kept by the syscall handlers that change descriptor numbers, each saying
//! what it did (`opened`, `closed`, `duplicated`, `closed_range`, and after execve's
//! close-on-exec sweep `after_close_on_exec`); nothing watches the hypercall answers.
//! A number must never keep a kind after the program reused it for another file (a read
//! would return zeros instead of the file's data), so every close path reports here.
//!
//! Lookups sit on the read/write/fstat path: the kinds of descriptors below `FAST_FDS`
//! live in an array of atomic bytes (one relaxed load, no lock); larger numbers in a map
//! behind a lock that is only taken once one exists. The private data of a descriptor
//! (Linux's `file->private_data`: a signalfd's mask, a /proc file's node) sits in a map
//! beside it and is shared by duplicates, as they share one open file. Every structure is
//! an atomic or behind a `spin::Mutex`, so several vCPUs may use the table; two threads
//! racing to close and reuse one number is as undefined for them as on Linux.

use core::any::Any;
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicU8, Ordering};

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

use spin::Mutex;

/// What a descriptor is. Eventfd, timerfd, epoll and socket descriptors get their kinds
/// with their syscalls (the byte encoding has room up to 15).
#[repr(u8)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A host descriptor the guest only forwards: files, directories, terminals, and every
    /// number the guest knows nothing about.
    Host = 0,
    Pipe = 1,
    Memfd = 2,
    /// A /proc file or directory: the host holds an anonymous copy or an empty directory;
    /// the private data is procfs's description of it.
    Proc = 3,
    /// A signalfd: the host holds a /dev/null placeholder; the private data is its mask.
    Signalfd = 4,
    /// /dev/null and /dev/zero, served in the guest (fs/memdev).
    DevNull = 5,
    DevZero = 6,
    /// A host inotify instance: a read must be one host read into one buffer (the host's
    /// inotify copies whole events only, and a scatter list would be read piece by piece).
    Inotify = 7,
}

const KIND_MASK: u8 = 0x0f;
const READABLE: u8 = 0x10;
const WRITABLE: u8 = 0x20;

/// A descriptor's kind and the access mode it was opened with (the guest checks it for
/// the kinds it serves itself).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Desc {
    pub kind: Kind,
    pub readable: bool,
    pub writable: bool,
}

impl Desc {
    pub const HOST: Desc = Desc { kind: Kind::Host, readable: true, writable: true };

    pub const fn new(kind: Kind, readable: bool, writable: bool) -> Desc {
        Desc { kind, readable, writable }
    }

    const fn encode(self) -> u8 {
        let mut b = self.kind as u8;
        if self.readable {
            b |= READABLE;
        }
        if self.writable {
            b |= WRITABLE;
        }
        b
    }

    const fn decode(b: u8) -> Desc {
        let kind = match b & KIND_MASK {
            1 => Kind::Pipe,
            2 => Kind::Memfd,
            3 => Kind::Proc,
            4 => Kind::Signalfd,
            5 => Kind::DevNull,
            6 => Kind::DevZero,
            7 => Kind::Inotify,
            _ => return Desc::HOST,
        };
        Desc { kind, readable: b & READABLE != 0, writable: b & WRITABLE != 0 }
    }
}

/// Linux's `file->private_data`: what a kind needs beyond the number.
pub type Private = Arc<dyn Any + Send + Sync>;

/// Descriptors below this number keep their kind in the lock-free array.
const FAST_FDS: usize = 1024;

pub struct FdTable {
    fast: [AtomicU8; FAST_FDS],
    /// Kinds of descriptors at FAST_FDS and above (a shell's fd 255, dup2 to a large number).
    high: Mutex<BTreeMap<i32, u8>>,
    /// Whether `high` has an entry, readable without the lock.
    high_in_use: AtomicBool,
    private: Mutex<BTreeMap<i32, Private>>,
    /// Bumped whenever a number stops naming what it named: caches keyed by descriptor
    /// number (procfs's name of the last mapped file) compare it.
    generation: AtomicU64,
}

impl FdTable {
    pub const fn new() -> FdTable {
        FdTable {
            fast: [const { AtomicU8::new(0) }; FAST_FDS],
            high: Mutex::new(BTreeMap::new()),
            high_in_use: AtomicBool::new(false),
            private: Mutex::new(BTreeMap::new()),
            generation: AtomicU64::new(0),
        }
    }

    /// What `fd` is (`Host` for a number the guest knows nothing about, or no descriptor).
    #[inline]
    pub fn get(&self, fd: i32) -> Desc {
        match usize::try_from(fd) {
            Ok(i) if i < FAST_FDS => Desc::decode(self.fast[i].load(Ordering::Relaxed)),
            Ok(_) if self.high_in_use.load(Ordering::Relaxed) => {
                self.high.lock().get(&fd).map_or(Desc::HOST, |&b| Desc::decode(b))
            }
            _ => Desc::HOST,
        }
    }

    fn store(&self, fd: i32, desc: Desc) {
        let Ok(i) = usize::try_from(fd) else { return };
        if i < FAST_FDS {
            self.fast[i].store(desc.encode(), Ordering::Relaxed);
            return;
        }
        let mut high = self.high.lock();
        if desc.kind == Kind::Host {
            high.remove(&fd);
        } else {
            high.insert(fd, desc.encode());
        }
        self.high_in_use.store(!high.is_empty(), Ordering::Relaxed);
    }

    /// The host gave out `fd` for a new open file described by `desc`.
    pub fn opened(&self, fd: i32, desc: Desc, private: Option<Private>) {
        self.forget(fd);
        self.store(fd, desc);
        if let Some(p) = private {
            self.private.lock().insert(fd, p);
        }
    }

    /// `fd` no longer names anything (close releases the number even when it reports an
    /// error).
    pub fn closed(&self, fd: i32) {
        self.forget(fd);
    }

    fn forget(&self, fd: i32) {
        if self.get(fd).kind != Kind::Host {
            self.store(fd, Desc::HOST);
            self.private.lock().remove(&fd);
        }
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// `new` became a duplicate of `old` (dup, dup2, dup3, F_DUPFD): the same open file,
    /// so the same kind, access mode and private data; whatever `new` named is gone.
    pub fn duplicated(&self, old: i32, new: i32) {
        if old == new {
            return;
        }
        let desc = self.get(old);
        let private = self.private(old);
        self.forget(new);
        if desc.kind != Kind::Host {
            self.opened(new, desc, private);
        }
    }

    /// close_range closed `first..=last`.
    pub fn closed_range(&self, first: u32, last: u32) {
        for fd in self.known() {
            if (first..=last).contains(&(fd as u32)) {
                self.forget(fd);
            }
        }
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// After execve's close-on-exec sweep: forget the descriptors `still_open` says the
    /// host closed (a signalfd without SFD_CLOEXEC lives on in the new image, as on Linux).
    pub fn after_close_on_exec(&self, still_open: impl Fn(i32) -> bool) {
        for fd in self.known() {
            if !still_open(fd) {
                self.forget(fd);
            }
        }
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// The private data of `fd`, if it has any.
    pub fn private(&self, fd: i32) -> Option<Private> {
        if self.get(fd).kind == Kind::Host {
            return None;
        }
        self.private.lock().get(&fd).cloned()
    }

    /// Every descriptor of `kind` that has private data, with it (duplicates share theirs).
    pub fn with_private(&self, kind: Kind) -> Vec<(i32, Private)> {
        let private = self.private.lock();
        self.known()
            .into_iter()
            .filter(|&fd| self.get(fd).kind == kind)
            .filter_map(|fd| private.get(&fd).map(|p| (fd, p.clone())))
            .collect()
    }

    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// Every descriptor whose kind is not `Host`.
    fn known(&self) -> Vec<i32> {
        let fast = (0..FAST_FDS).filter(|&i| self.fast[i].load(Ordering::Relaxed) & KIND_MASK != 0).map(|i| i as i32);
        let mut fds: Vec<i32> = fast.collect();
        if self.high_in_use.load(Ordering::Relaxed) {
            fds.extend(self.high.lock().keys().copied());
        }
        fds
    }
}

/// The program's descriptor table (one per process: threads share it).
pub static FDS: FdTable = FdTable::new();

#[inline]
pub fn get(fd: i32) -> Desc {
    FDS.get(fd)
}

#[inline]
pub fn kind(fd: i32) -> Kind {
    FDS.get(fd).kind
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev_null() -> Desc {
        Desc::new(Kind::DevNull, false, true)
    }

    #[test]
    fn unknown_numbers_are_host_descriptors() {
        let t = FdTable::new();
        assert_eq!(t.get(3), Desc::HOST);
        assert_eq!(t.get(-1), Desc::HOST);
        assert_eq!(t.get(100_000), Desc::HOST);
    }

    #[test]
    fn every_kind_and_access_mode_survives_the_encoding() {
        for kind in [
            Kind::Host,
            Kind::Pipe,
            Kind::Memfd,
            Kind::Proc,
            Kind::Signalfd,
            Kind::DevNull,
            Kind::DevZero,
            Kind::Inotify,
        ] {
            for (r, w) in [(true, false), (false, true), (true, true)] {
                let d = Desc::new(kind, r, w);
                let back = Desc::decode(d.encode());
                assert_eq!(back.kind, kind);
                if kind != Kind::Host {
                    assert_eq!(back, d);
                }
            }
        }
    }

    #[test]
    fn open_close_and_reuse() {
        let t = FdTable::new();
        t.opened(4, dev_null(), None);
        assert_eq!(t.get(4), dev_null());
        t.closed(4);
        assert_eq!(t.get(4), Desc::HOST);
    }

    #[test]
    fn high_numbers_use_the_map() {
        let t = FdTable::new();
        t.opened(5000, dev_null(), None);
        assert_eq!(t.get(5000), dev_null());
        t.duplicated(5000, 7);
        assert_eq!(t.get(7), dev_null());
        t.closed(5000);
        assert_eq!(t.get(5000), Desc::HOST);
        assert!(!t.high_in_use.load(Ordering::Relaxed));
    }

    #[test]
    fn duplicates_share_private_data_and_replace_the_target() {
        let t = FdTable::new();
        let mask: Private = Arc::new(AtomicU64::new(1));
        t.opened(3, Desc::new(Kind::Signalfd, true, true), Some(mask));
        t.opened(9, dev_null(), None);
        t.duplicated(3, 9);
        assert_eq!(t.get(9).kind, Kind::Signalfd);
        let a = t.private(3).unwrap().downcast::<AtomicU64>().unwrap();
        let b = t.private(9).unwrap().downcast::<AtomicU64>().unwrap();
        a.store(42, Ordering::Relaxed);
        assert_eq!(b.load(Ordering::Relaxed), 42);
        // A plain host descriptor duplicated over a known one leaves a host descriptor.
        t.duplicated(20, 9);
        assert_eq!(t.get(9), Desc::HOST);
        assert!(t.private(9).is_none());
    }

    #[test]
    fn close_range_and_exec_forget_what_the_host_closed() {
        let t = FdTable::new();
        for fd in [3, 4, 5, 2000] {
            t.opened(fd, dev_null(), None);
        }
        t.closed_range(4, 1999);
        assert_eq!((t.get(3).kind, t.get(4).kind, t.get(5).kind), (Kind::DevNull, Kind::Host, Kind::Host));
        t.after_close_on_exec(|fd| fd == 3);
        assert_eq!((t.get(3).kind, t.get(2000).kind), (Kind::DevNull, Kind::Host));
    }

    #[test]
    fn every_change_of_meaning_moves_the_generation() {
        let t = FdTable::new();
        let g = t.generation();
        t.closed(3);
        assert!(t.generation() > g);
        let g = t.generation();
        t.duplicated(3, 4);
        assert!(t.generation() > g);
    }
}
