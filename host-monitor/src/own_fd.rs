//! The monitor's descriptors that can move to another number.
//!
//! Where the host leaves no room above the program's RLIMIT_NOFILE (unprivileged, soft =
//! hard), the monitor's descriptors lie among the numbers the program may name. Linux lets
//! a program `dup2` onto any number below its limit, so when it names one of the monitor's,
//! the monitor moves its own descriptor to another free number first. A `MovableFd` is
//! used only through `with` (a read lock), so that no use sees the old number once the
//! move (under the write lock) has closed it. KVM's descriptors (the VM, vCPUs, ioeventfds)
//! are not movable: the library that drives them keeps the numbers.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::sync::{Arc, Mutex, PoisonError, RwLock, RwLockWriteGuard, TryLockError, Weak};

use crate::host::sys;

pub struct MovableFd {
    fd: RwLock<OwnedFd>,
}

/// Every live movable descriptor, to find the one a program names.
static MOVABLE: Mutex<Vec<Weak<MovableFd>>> = Mutex::new(Vec::new());

impl MovableFd {
    /// `fd`, from now on movable.
    pub fn new(fd: OwnedFd) -> Arc<MovableFd> {
        let movable = Arc::new(MovableFd { fd: RwLock::new(fd) });
        let mut all = MOVABLE.lock().unwrap_or_else(PoisonError::into_inner);
        all.retain(|w| w.strong_count() > 0);
        all.push(Arc::downgrade(&movable));
        movable
    }

    /// Use the descriptor: it keeps its number until `f` returns.
    pub fn with<T>(&self, f: impl FnOnce(BorrowedFd<'_>) -> T) -> T {
        let fd = self.fd.read().unwrap_or_else(PoisonError::into_inner);
        f(fd.as_fd())
    }

    /// Its number now (for the fd guard, which the mover keeps up to date).
    pub fn raw(&self) -> i32 {
        self.with(|fd| fd.as_raw_fd())
    }

    /// The write lock, waited for while uses end. A use cut short by a fork (another
    /// thread held the read lock then) never ends in the child: after about a second
    /// the move is given up rather than waited for for ever.
    fn exclusive(&self) -> Option<RwLockWriteGuard<'_, OwnedFd>> {
        for _ in 0..1000 {
            match self.fd.try_write() {
                Ok(fd) => return Some(fd),
                Err(TryLockError::Poisoned(p)) => return Some(p.into_inner()),
                Err(TryLockError::WouldBlock) => std::thread::sleep(std::time::Duration::from_millis(1)),
            }
        }
        None
    }

    /// Make it name what `file` names, at the same number (dup2 onto it).
    pub fn replace_with(&self, file: BorrowedFd<'_>) -> sys::SysResult<()> {
        let fd = self.exclusive().ok_or(abi_shared::linux::errno::EBUSY as crate::host::LinuxErrno)?;
        sys::dup2(file.as_raw_fd(), fd.as_raw_fd())?;
        sys::set_cloexec_quietly(fd.as_raw_fd(), true);
        Ok(())
    }

    /// Move to the lowest free number at or above `floor` (failing that, any free number),
    /// closing `from`, unless it has moved already. Returns the new number.
    fn move_from(&self, from: i32, floor: i32) -> Option<i32> {
        let mut fd = self.exclusive()?;
        if fd.as_raw_fd() != from {
            return None;
        }
        let copy = [floor, floor / 2, 0]
            .into_iter()
            .find_map(|at| crate::startup::with_fd_room(|| sys::dup_above_floor(fd.as_fd(), at)).ok())?;
        let to = copy.as_raw_fd();
        // The old number closes as the old descriptor drops, under the lock: no `with`
        // sees it afterwards.
        *fd = copy;
        Some(to)
    }
}

/// Free `fd`, one of the monitor's descriptors, for the program: move it to another number
/// (see `MovableFd::move_from`). Returns that number, or None when `fd` is none of the
/// movable ones (or no number is free).
pub fn move_away(fd: i32, floor: i32) -> Option<i32> {
    let live: Vec<Arc<MovableFd>> =
        MOVABLE.lock().unwrap_or_else(PoisonError::into_inner).iter().filter_map(Weak::upgrade).collect();
    live.iter().find(|m| m.raw() == fd)?.move_from(fd, floor)
}

/// Descriptors the monitor holds outside the fd guard's own list (ptrace's sockets, made
/// and dropped deep inside its state): while a `HeldFd` lives the guard treats its number
/// as reserved, so the program can neither name it nor sweep it with close_range or exec.
static HELD: RwLock<Vec<i32>> = RwLock::new(Vec::new());

pub struct HeldFd(OwnedFd);

impl HeldFd {
    pub fn new(fd: OwnedFd) -> HeldFd {
        HELD.write().unwrap_or_else(PoisonError::into_inner).push(fd.as_raw_fd());
        HeldFd(fd)
    }
}

impl std::ops::Deref for HeldFd {
    type Target = OwnedFd;
    fn deref(&self) -> &OwnedFd {
        &self.0
    }
}

impl AsFd for HeldFd {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.0.as_fd()
    }
}

impl Drop for HeldFd {
    fn drop(&mut self) {
        let fd = self.0.as_raw_fd();
        let mut held = HELD.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(i) = held.iter().position(|&h| h == fd) {
            held.swap_remove(i);
        }
    }
}

/// Whether `fd` is a live `HeldFd`'s number (asked for every descriptor a request names:
/// no copy of the list).
pub fn is_held(fd: i32) -> bool {
    HELD.read().unwrap_or_else(PoisonError::into_inner).contains(&fd)
}

/// The numbers of every live `HeldFd`.
pub fn held() -> Vec<i32> {
    HELD.read().unwrap_or_else(PoisonError::into_inner).clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The descriptor moves, and a use afterwards finds the new number.
    #[test]
    fn a_movable_descriptor_moves_and_frees_its_number() {
        let moving = MovableFd::new(std::fs::File::open("/dev/null").unwrap().into());
        let old = moving.raw();
        let to = move_away(old, old + 1).expect("moved");
        assert!(to > old);
        assert_eq!(moving.raw(), to);
        assert_eq!(sys::fd_flags(to), Ok(libc::FD_CLOEXEC));
        assert_eq!(move_away(old, old + 1), None, "nothing movable there any more");
    }
}
