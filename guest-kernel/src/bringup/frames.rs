//! Guest-physical frames for user memory and page tables: handed out upwards from after
//! the kernel heap, within the RAM the monitor has registered (asking for more with the
//! GROW_RAM doorbell), and recycled (zeroed) when a program unmaps them.

use alloc::vec::Vec;

use abi_shared::layout::{ports, vcpu_block, vcpu_block_gpa, PAGE_SIZE};
use spin::Mutex;

use crate::arch::phys_to_virt;

struct Frames {
    next: u64,
    end: u64,
    registered: u64,
    free: Vec<u64>,
}

static FRAMES: Mutex<Frames> = Mutex::new(Frames { next: 0, end: 0, registered: 0, free: Vec::new() });

fn block_word(offset: u64) -> *mut u64 {
    phys_to_virt(vcpu_block_gpa(0) + offset) as *mut u64
}

pub fn init(start: u64, end: u64) {
    let mut f = FRAMES.lock();
    f.next = start;
    f.end = end;
    // SAFETY: the word lies in the first vCPU's block, written by the monitor before boot.
    f.registered = unsafe { block_word(vcpu_block::RAM_REGISTERED).read_volatile() };
}

/// A zeroed frame, or None when guest RAM is used up.
pub fn alloc() -> Option<u64> {
    let mut f = FRAMES.lock();
    if let Some(gpa) = f.free.pop() {
        // SAFETY: a frame of guest RAM nobody uses (it was freed), through the direct map.
        unsafe { core::ptr::write_bytes(phys_to_virt(gpa) as *mut u8, 0, PAGE_SIZE as usize) };
        return Some(gpa);
    }
    if f.next + PAGE_SIZE > f.end {
        return None;
    }
    if f.next + PAGE_SIZE > f.registered {
        // SAFETY: the RAM_WANTED/RAM_REGISTERED words of the first vCPU's block, which the
        // monitor reads and writes only during the GROW_RAM exit.
        unsafe {
            block_word(vcpu_block::RAM_WANTED).write_volatile(f.next + PAGE_SIZE);
            crate::arch::ring(ports::GROW_RAM);
            f.registered = block_word(vcpu_block::RAM_REGISTERED).read_volatile();
        }
        if f.next + PAGE_SIZE > f.registered {
            return None;
        }
    }
    // Never handed out before: still zero, as the host's fresh anonymous memory is.
    let gpa = f.next;
    f.next += PAGE_SIZE;
    Some(gpa)
}

/// Guest RAM in all (the ceiling of what the program may commit, as Linux's overcommit
/// heuristic refuses a single allocation larger than RAM and swap).
pub fn total() -> u64 {
    FRAMES.lock().end
}

pub fn free(gpa: u64) {
    FRAMES.lock().free.push(gpa);
}
