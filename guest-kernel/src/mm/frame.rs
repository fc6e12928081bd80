//! Physical frames of guest RAM: a bump pointer over never-used memory plus a free list
//! threaded through freed frames (so freeing needs no heap).

use spin::Mutex;

use abi_shared::layout::{PAGE_SIZE, PHYS_MAP_BASE};

struct Frames {
    next: u64,
    end: u64,
    free_head: u64,
    free_count: u64,
}

static FRAMES: Mutex<Frames> = Mutex::new(Frames { next: 0, end: 0, free_head: 0, free_count: 0 });

pub fn init(start: u64, end: u64) {
    let mut f = FRAMES.lock();
    f.next = start;
    f.end = end;
}

/// The kernel's view of a frame.
pub fn frame_ptr(gpa: u64) -> *mut u8 {
    (PHYS_MAP_BASE + gpa) as *mut u8
}

fn zero(gpa: u64) {
    // SAFETY: gpa is a whole frame of guest RAM owned by the caller, mapped by the direct map.
    unsafe { core::ptr::write_bytes(frame_ptr(gpa), 0, PAGE_SIZE as usize) };
}

/// A zeroed frame, or None when guest RAM is exhausted.
pub fn alloc_zeroed() -> Option<u64> {
    let mut f = FRAMES.lock();
    if f.free_head != 0 {
        let gpa = f.free_head;
        // SAFETY: a free frame holds the GPA of the next free frame in its first word.
        f.free_head = unsafe { core::ptr::read(frame_ptr(gpa) as *const u64) };
        f.free_count -= 1;
        drop(f);
        zero(gpa);
        return Some(gpa);
    }
    if f.next + PAGE_SIZE > f.end {
        return None;
    }
    // Never-used frames are zero: guest RAM starts as fresh anonymous host memory.
    let gpa = f.next;
    f.next += PAGE_SIZE;
    Some(gpa)
}

pub fn free(gpa: u64) {
    let mut f = FRAMES.lock();
    // SAFETY: the caller gives up the frame; its first word becomes the list link.
    unsafe { core::ptr::write(frame_ptr(gpa) as *mut u64, f.free_head) };
    f.free_head = gpa;
    f.free_count += 1;
}

/// (frames in use or free-listed, total) for /proc-style accounting and sysinfo.
pub fn usage() -> (u64, u64, u64) {
    let f = FRAMES.lock();
    (f.next, f.end, f.free_count)
}
