//! The kernel heap: a linked-list allocator over a fixed run of guest RAM.

use linked_list_allocator::LockedHeap;

#[global_allocator]
static HEAP: LockedHeap = LockedHeap::empty();

/// # Safety
/// `[start, start + size)` must be unused, mapped kernel memory that stays reserved.
pub unsafe fn init(start: u64, size: u64) {
    // SAFETY: forwarded from the caller's contract.
    unsafe { HEAP.lock().init(start as *mut u8, size as usize) };
}
