//! Which descriptors name /dev/null or /dev/zero, and what each hypercall does to that
//! knowledge. Pure code, tested on the host.
//!
//! The table must never describe a number the program has since reused for another file
//! (a read would then return zeros instead of the file's data). Requests that close or
//! replace a descriptor update it; every request not known to leave existing descriptor
//! numbers alone empties it, so a request kind added later errs on the safe side (the
//! device is then just forwarded, as before it was known).

use abi_shared::hypercall::Request;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
}

/// An open /dev/null or /dev/zero: the device and the open's access mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OpenDev {
    pub device: Device,
    pub readable: bool,
    pub writable: bool,
}

/// Programs keep a few such descriptors at most; more are simply not served in the guest.
pub const SLOTS: usize = 16;

pub struct Table {
    slots: [Option<(i32, OpenDev)>; SLOTS],
}

impl Table {
    pub const fn new() -> Table {
        Table { slots: [None; SLOTS] }
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    pub fn get(&self, fd: i32) -> Option<OpenDev> {
        self.slots.iter().flatten().find(|(f, _)| *f == fd).map(|(_, d)| *d)
    }

    /// `fd` now names `dev` (whatever it named before is gone).
    pub fn insert(&mut self, fd: i32, dev: OpenDev) {
        self.forget(fd);
        if let Some(free) = self.slots.iter_mut().find(|s| s.is_none()) {
            *free = Some((fd, dev));
        }
    }

    pub fn forget(&mut self, fd: i32) {
        for s in self.slots.iter_mut() {
            if matches!(s, Some((f, _)) if *f == fd) {
                *s = None;
            }
        }
    }

    /// `new` became a duplicate of `old` (same open file, same access mode).
    pub fn duplicate(&mut self, old: i32, new: i32) {
        match self.get(old) {
            Some(dev) => self.insert(new, dev),
            None => self.forget(new),
        }
    }

    pub fn clear(&mut self) {
        self.slots = [None; SLOTS];
    }

    /// Update the table for `req`, answered with `ret` (`Some` for a `Ret` answer).
    pub fn observe(&mut self, req: &Request<'_>, ret: Option<i64>) {
        match effect(req, ret) {
            Effect::Keep => {}
            Effect::Forget(fd) => self.forget(fd),
            Effect::Duplicate { old, new } => self.duplicate(old, new),
            Effect::ForgetAll => self.clear(),
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
pub enum Effect {
    /// No existing descriptor number changes meaning.
    Keep,
    Forget(i32),
    Duplicate {
        old: i32,
        new: i32,
    },
    /// Unknown or wholesale (close-on-exec): forget everything.
    ForgetAll,
}

const F_DUPFD: i32 = 0;
const F_DUPFD_CLOEXEC: i32 = 1030;

/// What `req` (answered with `ret`) does to existing descriptor numbers.
pub fn effect(req: &Request<'_>, ret: Option<i64>) -> Effect {
    let new_fd = ret.filter(|r| (0..=i64::from(i32::MAX)).contains(r)).map(|r| r as i32);
    match req {
        // close releases the number even when it reports an error
        Request::Close { fd } => Effect::Forget(*fd),
        Request::Dup3 { oldfd, newfd, .. } => match new_fd {
            Some(_) => Effect::Duplicate { old: *oldfd, new: *newfd },
            None => Effect::Forget(*newfd),
        },
        // new descriptors take free numbers; only a duplicate of a known one matters
        Request::Dup { fd } => new_fd.map_or(Effect::Keep, |new| Effect::Duplicate { old: *fd, new }),
        Request::Fcntl { fd, cmd: F_DUPFD | F_DUPFD_CLOEXEC, .. } => {
            new_fd.map_or(Effect::Keep, |new| Effect::Duplicate { old: *fd, new })
        }
        Request::Hello { .. }
        | Request::GetStartup { .. }
        | Request::Trace { .. }
        | Request::Log { .. }
        | Request::Openat { .. }
        | Request::Read { .. }
        | Request::Write { .. }
        | Request::Lseek { .. }
        | Request::Fstat { .. }
        | Request::Fstatat { .. }
        | Request::Statx { .. }
        | Request::Getdents64 { .. }
        | Request::Mkdirat { .. }
        | Request::Unlinkat { .. }
        | Request::Renameat2 { .. }
        | Request::Symlinkat { .. }
        | Request::Readlinkat { .. }
        | Request::Truncate { .. }
        | Request::Ftruncate { .. }
        | Request::Fsync { .. }
        | Request::Fdatasync { .. }
        | Request::Fchmodat { .. }
        | Request::Fchmod { .. }
        | Request::Faccessat { .. }
        | Request::Getcwd { .. }
        | Request::Chdir { .. }
        | Request::Fchdir { .. }
        | Request::Fcntl { .. }
        | Request::IoctlTcgets { .. }
        | Request::IoctlGetWinsize { .. }
        | Request::IoctlFionread { .. }
        | Request::IoctlGetPgrp { .. }
        | Request::Umask { .. }
        | Request::Sleep { .. }
        | Request::Pipe2 { .. }
        | Request::Linkat { .. }
        | Request::Utimensat { .. }
        | Request::Fchownat { .. }
        | Request::Fchown { .. }
        | Request::Realpath { .. }
        | Request::Poll { .. }
        | Request::CpuTime { .. }
        | Request::FcntlLock { .. }
        | Request::Flock { .. }
        | Request::Statfs { .. }
        | Request::Fstatfs { .. }
        | Request::Sendfile { .. }
        | Request::CopyFileRange { .. }
        | Request::Fallocate { .. }
        | Request::Fadvise { .. }
        | Request::MemfdCreate { .. }
        | Request::OpenMemory { .. }
        | Request::OpenEmptyDir { .. }
        | Request::FdPath { .. }
        | Request::ReleaseMemory { .. }
        | Request::FileHold { .. }
        | Request::FileRead { .. }
        | Request::FileRelease { .. }
        | Request::Fork { .. }
        | Request::Wait4 { .. }
        | Request::Waitid { .. }
        | Request::Kill { .. }
        | Request::Sigqueue { .. }
        | Request::StopSelf { .. }
        | Request::SignalDispositions { .. }
        | Request::Getpriority { .. }
        | Request::Setpriority { .. }
        | Request::IoctlTcsets { .. }
        | Request::IoctlSetWinsize { .. }
        | Request::IoctlSetPgrp { .. }
        | Request::IoctlGetSid { .. } => Effect::Keep,
        _ => Effect::ForgetAll,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NULL_RW: OpenDev = OpenDev { device: Device::Null, readable: true, writable: true };
    const ZERO_RO: OpenDev = OpenDev { device: Device::Zero, readable: true, writable: false };

    fn table_with(fds: &[(i32, OpenDev)]) -> Table {
        let mut t = Table::new();
        for (fd, d) in fds {
            t.insert(*fd, *d);
        }
        t
    }

    #[test]
    fn close_forgets_even_when_it_fails() {
        let mut t = table_with(&[(3, NULL_RW), (4, ZERO_RO)]);
        t.observe(&Request::Close { fd: 3 }, Some(-5));
        assert_eq!(t.get(3), None);
        assert_eq!(t.get(4), Some(ZERO_RO));
    }

    #[test]
    fn dup3_onto_a_known_number_replaces_it() {
        let mut t = table_with(&[(4, ZERO_RO)]);
        // fd 5 (a regular file) over fd 4: 4 is no longer /dev/zero
        t.observe(&Request::Dup3 { oldfd: 5, newfd: 4, flags: 0 }, Some(4));
        assert_eq!(t.get(4), None);
        // /dev/null's fd 3 onto 1 (a shell's `>/dev/null`): both name /dev/null
        let mut t = table_with(&[(3, NULL_RW)]);
        t.observe(&Request::Dup3 { oldfd: 3, newfd: 1, flags: 0 }, Some(1));
        assert_eq!(t.get(1), Some(NULL_RW));
        assert_eq!(t.get(3), Some(NULL_RW));
    }

    #[test]
    fn failed_dup3_forgets_the_target_to_be_safe() {
        let mut t = table_with(&[(4, ZERO_RO)]);
        t.observe(&Request::Dup3 { oldfd: 9, newfd: 4, flags: 0 }, Some(-9));
        assert_eq!(t.get(4), None);
    }

    #[test]
    fn dup_and_fcntl_dupfd_copy_a_known_descriptor() {
        let mut t = table_with(&[(3, NULL_RW)]);
        t.observe(&Request::Dup { fd: 3 }, Some(7));
        t.observe(&Request::Fcntl { fd: 3, cmd: F_DUPFD_CLOEXEC, arg: 10 }, Some(10));
        t.observe(&Request::Fcntl { fd: 3, cmd: F_DUPFD, arg: 20 }, Some(-24));
        assert_eq!(t.get(7), Some(NULL_RW));
        assert_eq!(t.get(10), Some(NULL_RW));
        assert_eq!(t.get(20), None);
    }

    #[test]
    fn other_fcntl_and_file_requests_keep_the_table() {
        let mut t = table_with(&[(3, NULL_RW)]);
        t.observe(&Request::Fcntl { fd: 3, cmd: 4, arg: 0o4000 }, Some(0));
        t.observe(&Request::Openat { dirfd: -100, path: b"/etc/passwd", flags: 0, mode: 0 }, Some(5));
        t.observe(&Request::Fork { vfork: false }, None);
        assert_eq!(t.get(3), Some(NULL_RW));
    }

    #[test]
    fn close_on_exec_and_unknown_requests_forget_everything() {
        let mut t = table_with(&[(3, NULL_RW), (4, ZERO_RO)]);
        t.observe(&Request::CloseOnExec, Some(0));
        assert!(t.is_empty());
    }

    #[test]
    fn a_full_table_drops_new_entries_and_insert_replaces() {
        let mut t = Table::new();
        for fd in 0..(SLOTS as i32 + 4) {
            t.insert(fd, NULL_RW);
        }
        assert_eq!(t.get(SLOTS as i32 - 1), Some(NULL_RW));
        assert_eq!(t.get(SLOTS as i32), None);
        t.insert(0, ZERO_RO);
        assert_eq!(t.get(0), Some(ZERO_RO));
        t.duplicate(99, 1);
        assert_eq!(t.get(1), None);
    }
}
