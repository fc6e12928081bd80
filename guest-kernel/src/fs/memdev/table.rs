//! Which descriptors the guest serves itself (/dev/null, /dev/zero, signalfds), and what
//! each hypercall does to that knowledge. Pure code, tested on the host.
//!
//! The table must never describe a number the program has since reused for another file
//! (a read would then return zeros instead of the file's data). Requests that close or
//! replace a descriptor update it. `effect` names every request kind, with no catch-all,
//! so that a kind added later must be classified before the guest compiles: forgetting
//! everything to be safe would break a signalfd, whose host descriptor is only a
//! placeholder. The close-on-exec sweep is the caller's to reconcile (it asks the host
//! which numbers survived).

use abi_shared::hypercall::Request;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Device {
    Null,
    Zero,
    /// A signalfd: `ctx` indexes the table's signal masks. Duplicates share the context
    /// (signalfd4 on any of them changes the mask for all), as they share one open file.
    Signal {
        ctx: u8,
    },
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
    /// Each signalfd context's mask; a context is live while a slot refers to it.
    signal_masks: [u64; SLOTS],
}

impl OpenDev {
    pub fn is_signalfd(&self) -> bool {
        matches!(self.device, Device::Signal { .. })
    }
}

impl Table {
    pub const fn new() -> Table {
        Table { slots: [None; SLOTS], signal_masks: [0; SLOTS] }
    }

    fn context_in_use(&self, ctx: u8) -> bool {
        self.slots.iter().flatten().any(|(_, d)| d.device == Device::Signal { ctx })
    }

    /// Record `fd` as a new signalfd with `mask`. A signalfd must be known, so it may push
    /// out a /dev/null or /dev/zero entry (those are merely forwarded then); false when the
    /// table holds nothing but signalfds.
    pub fn insert_signalfd(&mut self, fd: i32, mask: u64) -> bool {
        self.forget(fd);
        let Some(ctx) = (0..SLOTS as u8).find(|&c| !self.context_in_use(c)) else { return false };
        self.signal_masks[ctx as usize] = mask;
        self.insert(fd, OpenDev { device: Device::Signal { ctx }, readable: true, writable: true })
    }

    /// The mask of signalfd `fd`, if it is one.
    pub fn signal_mask(&self, fd: i32) -> Option<u64> {
        match self.get(fd)?.device {
            Device::Signal { ctx } => Some(self.signal_masks[ctx as usize]),
            _ => None,
        }
    }

    /// signalfd4 on an existing signalfd: the new mask for every duplicate.
    pub fn set_signal_mask(&mut self, fd: i32, mask: u64) -> bool {
        match self.get(fd).map(|d| d.device) {
            Some(Device::Signal { ctx }) => {
                self.signal_masks[ctx as usize] = mask;
                true
            }
            _ => false,
        }
    }

    /// The numbers the table describes.
    pub fn fds(&self) -> impl Iterator<Item = i32> + '_ {
        self.slots.iter().flatten().map(|(fd, _)| *fd)
    }

    pub fn is_empty(&self) -> bool {
        self.slots.iter().all(Option::is_none)
    }

    pub fn get(&self, fd: i32) -> Option<OpenDev> {
        self.slots.iter().flatten().find(|(f, _)| *f == fd).map(|(_, d)| *d)
    }

    /// `fd` now names `dev` (whatever it named before is gone). A full table drops a device
    /// entry, except to make room for a signalfd, which pushes out a device entry instead.
    pub fn insert(&mut self, fd: i32, dev: OpenDev) -> bool {
        self.forget(fd);
        let slot = match self.slots.iter().position(Option::is_none) {
            Some(free) => free,
            None if dev.is_signalfd() => {
                match self.slots.iter().position(|s| matches!(s, Some((_, d)) if !d.is_signalfd())) {
                    Some(victim) => victim,
                    None => return false,
                }
            }
            None => return false,
        };
        self.slots[slot] = Some((fd, dev));
        true
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
            Some(dev) => {
                self.insert(new, dev);
            }
            None => self.forget(new),
        }
    }

    fn forget_range(&mut self, first: u32, last: u32) {
        for s in self.slots.iter_mut() {
            if matches!(s, Some((f, _)) if (first..=last).contains(&(*f as u32))) {
                *s = None;
            }
        }
    }

    /// Update the table for `req`, answered with `ret` (`Some` for a `Ret` answer).
    pub fn observe(&mut self, req: &Request<'_>, ret: Option<i64>) {
        match effect(req, ret) {
            Effect::Keep => {}
            Effect::Forget(fd) => self.forget(fd),
            Effect::Duplicate { old, new } => self.duplicate(old, new),
            Effect::ForgetRange { first, last } => self.forget_range(first, last),
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
    ForgetRange {
        first: u32,
        last: u32,
    },
}

const F_DUPFD: i32 = 0;
const F_DUPFD_CLOEXEC: i32 = 1030;
const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;

/// What `req` (answered with `ret`) does to existing descriptor numbers.
pub fn effect(req: &Request<'_>, ret: Option<i64>) -> Effect {
    let new_fd = ret.filter(|r| (0..=i64::from(i32::MAX)).contains(r)).map(|r| r as i32);
    match req {
        // close releases the number even when it reports an error
        Request::Close { fd } => Effect::Forget(*fd),
        // A failed dup3 leaves `newfd` open as it was (every error comes before the close).
        Request::Dup3 { oldfd, newfd, .. } => match new_fd {
            Some(_) => Effect::Duplicate { old: *oldfd, new: *newfd },
            None => Effect::Keep,
        },
        // CLOSE_RANGE_CLOEXEC only marks them; the exec sweep is reconciled by the caller
        Request::CloseRange { flags, .. } if flags & CLOSE_RANGE_CLOEXEC != 0 => Effect::Keep,
        Request::CloseRange { first, last, .. } => Effect::ForgetRange { first: *first, last: *last },
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
        | Request::IoctlGetSid { .. }
        | Request::Exit { .. }
        | Request::Panic { .. }
        | Request::Getgroups { .. }
        | Request::Getpgid { .. }
        | Request::Getsid { .. }
        | Request::Setpgid { .. }
        | Request::Setsid
        | Request::Getrusage { .. }
        | Request::Times
        | Request::Sysinfo
        | Request::SchedGetscheduler { .. }
        | Request::SchedGetparam { .. }
        | Request::Getxattr { .. }
        | Request::Listxattr { .. }
        | Request::Setxattr { .. }
        | Request::Removexattr { .. }
        | Request::ListFds { .. }
        | Request::FileMapShared { .. }
        | Request::FileUnmapShared { .. }
        | Request::FileSyncShared { .. }
        | Request::PrepareExec { .. }
        | Request::ExecNative { .. }
        | Request::CloseOnExec
        | Request::IoctlSetCtty { .. }
        | Request::IoctlNoCtty { .. }
        | Request::IoctlGetPtyNumber { .. }
        | Request::IoctlSetPtyLock { .. }
        | Request::VforkCopyBack { .. }
        | Request::VforkTakeCopyBack { .. }
        | Request::SetFdLimit { .. }
        | Request::WindowPageBacked { .. } => Effect::Keep,
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
    fn failed_dup3_leaves_the_target_alone() {
        let mut t = table_with(&[(4, ZERO_RO)]);
        t.observe(&Request::Dup3 { oldfd: 9, newfd: 4, flags: 0 }, Some(-9));
        assert_eq!(t.get(4), Some(ZERO_RO));
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
    fn close_range_forgets_its_range_unless_it_only_marks_cloexec() {
        let mut t = table_with(&[(3, NULL_RW), (4, ZERO_RO), (9, NULL_RW)]);
        t.observe(&Request::CloseRange { first: 3, last: 4, flags: CLOSE_RANGE_CLOEXEC }, Some(0));
        assert_eq!(t.get(3), Some(NULL_RW));
        t.observe(&Request::CloseRange { first: 4, last: u32::MAX, flags: 0 }, Some(0));
        assert_eq!(t.get(3), Some(NULL_RW));
        assert_eq!(t.get(4), None);
        assert_eq!(t.get(9), None);
    }

    #[test]
    fn close_on_exec_is_left_to_the_caller() {
        // exec asks the host which descriptors survived; the table itself keeps them all
        let mut t = table_with(&[(3, NULL_RW), (4, ZERO_RO)]);
        t.observe(&Request::CloseOnExec, Some(0));
        assert_eq!(t.fds().count(), 2);
    }

    #[test]
    fn signalfds_share_a_mask_with_their_duplicates_and_outlive_device_entries() {
        let mut t = Table::new();
        for fd in 0..SLOTS as i32 {
            t.insert(fd, NULL_RW);
        }
        assert!(t.insert_signalfd(100, 0b110));
        assert_eq!(t.signal_mask(100), Some(0b110));
        t.observe(&Request::Dup { fd: 100 }, Some(101));
        assert!(t.set_signal_mask(101, 0b1));
        assert_eq!(t.signal_mask(100), Some(0b1));
        // a second signalfd gets its own context even though the first's is shared
        assert!(t.insert_signalfd(102, 0b1000));
        assert_eq!(t.signal_mask(102), Some(0b1000));
        assert_eq!(t.signal_mask(101), Some(0b1));
        // closing one duplicate keeps the context for the other
        t.observe(&Request::Close { fd: 100 }, Some(0));
        assert_eq!(t.signal_mask(101), Some(0b1));
        // room was made by dropping device entries; those are not signalfds
        assert_eq!(t.get(0), None);
        assert!(!t.set_signal_mask(5, 1));
        assert_eq!(t.get(5), Some(NULL_RW));
    }

    #[test]
    fn a_table_of_signalfds_only_refuses_another() {
        let mut t = Table::new();
        for fd in 0..SLOTS as i32 {
            assert!(t.insert_signalfd(fd, 1));
        }
        assert!(!t.insert_signalfd(99, 1));
        assert_eq!(t.signal_mask(99), None);
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
