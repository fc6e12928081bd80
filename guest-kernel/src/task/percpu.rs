//! The running thread, in this vCPU's per-CPU page (crate::percpu says how each vCPU
//! finds its own page).

use core::sync::atomic::{AtomicPtr, Ordering};

use crate::percpu::{slot_va, CURRENT_THREAD};

use super::Thread;

#[inline]
fn slot() -> &'static AtomicPtr<Thread> {
    // SAFETY: the per-CPU page is mapped for the whole run, this slot is 8-byte aligned
    // and used for nothing else, and a zeroed slot is a valid (null) pointer.
    unsafe { AtomicPtr::from_ptr(slot_va(CURRENT_THREAD) as *mut *mut Thread) }
}

/// The thread this vCPU runs, once one was set.
#[inline]
pub fn current_thread() -> Option<&'static Thread> {
    let p = slot().load(Ordering::Relaxed);
    // SAFETY: only `set_current_thread` stores here, and always a `&'static Thread`.
    unsafe { p.as_ref() }
}

/// This vCPU now runs `thread`.
pub fn set_current_thread(thread: &'static Thread) {
    slot().store(core::ptr::from_ref(thread).cast_mut(), Ordering::Relaxed);
}
