//! Physical frames of guest RAM.
//!
//! 4 KiB frames come from a bump pointer going up from the bottom of free memory, 2 MiB
//! frames from one going down from the top, so neither wastes space aligning the other.
//! Freed frames go on free lists threaded through the frames themselves (freeing needs no
//! heap). Never-used frames are already zero (guest RAM starts as fresh host memory, and
//! is not committed on the host until touched); reused ones are zeroed on allocation.
//!
//! Frames the host took back (`release`) are zero and uncommitted again, like never-used
//! ones: they are kept apart, in lists on the kernel heap (a link written into such a
//! frame would commit host memory again), and handed out without zeroing. Dirty frames
//! are preferred, so that memory the host already backs is reused first.
//!
//! The hypervisor knows guest RAM only up to `registered` (the monitor registers it in
//! doubling pieces, because a memory slot's set-up cost grows with its size). Both bump
//! pointers stay inside that part; when they meet, the monitor is asked for the next
//! piece (`ports::GROW_RAM`, one exit) and they start over inside it.

use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};
use spin::Mutex;

use abi_shared::layout::{ports, vcpu_block, HUGE_PAGE_SIZE, PAGE_SIZE, PHYS_MAP_BASE};

use crate::hypercall::transport;

struct Frames {
    /// Next never-used 4 KiB frame.
    low: u64,
    /// End of never-used memory; 2 MiB frames are taken just below it.
    high: u64,
    free_head: u64,
    free_count: u64,
    huge_free_head: u64,
    huge_free_count: u64,
    /// Runs of 4 KiB frames the host took back: (first GPA, pages).
    clean_runs: Vec<(u64, u64)>,
    clean_pages: u64,
    /// 2 MiB frames the host took back.
    clean_huge: Vec<u64>,
    /// The 2 MiB block of the last never-used 4 KiB frame handed out (see `commit_block`).
    committed_block: u64,
    /// Guest RAM the hypervisor knows: `[0, registered)`.
    registered: u64,
    /// End of guest RAM: how far `registered` may grow.
    ram_end: u64,
}

static FRAMES: Mutex<Frames> = Mutex::new(Frames {
    low: 0,
    high: 0,
    free_head: 0,
    free_count: 0,
    huge_free_head: 0,
    huge_free_count: 0,
    clean_runs: Vec::new(),
    clean_pages: 0,
    clean_huge: Vec::new(),
    committed_block: u64::MAX,
    registered: 0,
    ram_end: 0,
});

/// Frames are `[start, end)`; the caller already uses everything below `start`.
pub fn init(start: u64, end: u64) {
    let mut f = FRAMES.lock();
    f.ram_end = end & !(HUGE_PAGE_SIZE - 1);
    f.registered = transport::control::<AtomicU64>(vcpu_block::RAM_REGISTERED).load(Ordering::Acquire).min(f.ram_end);
    f.low = start;
    f.high = f.registered & !(HUGE_PAGE_SIZE - 1);
    if f.high < start {
        f.high = start;
        f.grow(0);
    }
}

/// The kernel's view of a frame.
pub fn frame_ptr(gpa: u64) -> *mut u8 {
    (PHYS_MAP_BASE + gpa) as *mut u8
}

/// Zero whole frames with `rep stosq`: the kernel is built without SSE, and the generic
/// memset it would get instead is several times slower on megabytes.
fn zero(gpa: u64, len: u64) {
    // SAFETY: [gpa, gpa+len) is guest RAM owned by the caller, mapped by the direct map;
    // len is a multiple of 8. rep stosq writes rcx quadwords of rax at rdi (DF is clear in
    // the kernel: the entry code runs cld).
    unsafe {
        core::arch::asm!(
            "rep stosq",
            inout("rdi") frame_ptr(gpa) => _,
            inout("rcx") len / 8 => _,
            in("rax") 0u64,
            options(nostack)
        );
    }
}

/// Pop a frame from an intrusive free list whose frames are `align`-aligned and below
/// `ram_end`. A link that is neither stops the kernel with a message: a write into a freed
/// frame (a missed TLB flush) would otherwise hand out an arbitrary frame, and the damage
/// would show much later, often as a guest that dies without a word.
fn pop(head: &mut u64, count: &mut u64, align: u64, ram_end: u64) -> Option<u64> {
    if *head == 0 {
        return None;
    }
    let gpa = *head;
    // SAFETY: a free frame holds the GPA of the next free frame in its first word.
    let next = unsafe { core::ptr::read(frame_ptr(gpa) as *const u64) };
    if next % align != 0 || next >= ram_end {
        crate::kpanic!(
            "free frame list corrupted: frame {:#x} links to {:#x} (something wrote into a freed frame)",
            gpa,
            next
        );
    }
    *head = next;
    *count -= 1;
    Some(gpa)
}

fn push(head: &mut u64, count: &mut u64, gpa: u64) {
    // SAFETY: the caller gives up the frame; its first word becomes the list link.
    unsafe { core::ptr::write(frame_ptr(gpa) as *mut u64, *head) };
    *head = gpa;
    *count += 1;
}

/// A zeroed 4 KiB frame, or None when guest RAM is exhausted.
pub fn alloc_zeroed() -> Option<u64> {
    let mut f = FRAMES.lock();
    let Frames { free_head, free_count, ram_end, .. } = &mut *f;
    if let Some(gpa) = pop(free_head, free_count, PAGE_SIZE, *ram_end) {
        drop(f);
        zero(gpa, PAGE_SIZE);
        return Some(gpa);
    }
    if let Some(gpa) = f.take_clean_page() {
        return Some(gpa);
    }
    if let Some(gpa) = f.bump_page() {
        return Some(gpa);
    }
    // Out of never-used memory: break up a free 2 MiB frame, a clean one first.
    if let Some(huge) = f.clean_huge.pop() {
        f.add_clean_run(huge + PAGE_SIZE, HUGE_PAGE_SIZE / PAGE_SIZE - 1);
        return Some(huge);
    }
    let Frames { huge_free_head, huge_free_count, free_head, free_count, ram_end, .. } = &mut *f;
    let huge = pop(huge_free_head, huge_free_count, HUGE_PAGE_SIZE, *ram_end)?;
    for piece in (1..HUGE_PAGE_SIZE / PAGE_SIZE).map(|i| huge + i * PAGE_SIZE) {
        push(free_head, free_count, piece);
    }
    drop(f);
    zero(huge, PAGE_SIZE);
    Some(huge)
}

/// A zeroed, 2 MiB-aligned 2 MiB frame, or None (the caller falls back to 4 KiB frames).
pub fn alloc_huge_zeroed() -> Option<u64> {
    let mut f = FRAMES.lock();
    let Frames { huge_free_head, huge_free_count, ram_end, .. } = &mut *f;
    if let Some(gpa) = pop(huge_free_head, huge_free_count, HUGE_PAGE_SIZE, *ram_end) {
        drop(f);
        zero(gpa, HUGE_PAGE_SIZE);
        return Some(gpa);
    }
    if let Some(gpa) = f.clean_huge.pop() {
        return Some(gpa);
    }
    f.bump_huge()
}

impl Frames {
    /// The next never-used 4 KiB frame, registering more RAM when the bump pointers met.
    fn bump_page(&mut self) -> Option<u64> {
        while self.low + PAGE_SIZE > self.high {
            if !self.grow(PAGE_SIZE) {
                return None;
            }
        }
        let gpa = self.low;
        self.low += PAGE_SIZE;
        self.commit_block(gpa);
        Some(gpa)
    }

    /// Have the host commit the 2 MiB block of `gpa` when the bump pointer first hands out
    /// a frame in it: one write from the kernel, where the host backs the block with one
    /// huge page. The hypervisor's shadow paging fills in the neighbours of a faulting user
    /// page along with it only when the host already backs them writably; untouched ones
    /// (or the host's shared zero page, after a read) would each cost a fault of their own.
    fn commit_block(&mut self, gpa: u64) {
        let block = gpa & !(HUGE_PAGE_SIZE - 1);
        if block != self.committed_block {
            self.committed_block = block;
            // SAFETY: gpa is a never-used frame of guest RAM, mapped by the direct map and
            // zero; writing a zero changes nothing but the host's backing.
            unsafe { core::ptr::write_volatile(frame_ptr(gpa) as *mut u64, 0) };
        }
    }

    /// The next never-used 2 MiB frame (from the top), registering more RAM if needed.
    fn bump_huge(&mut self) -> Option<u64> {
        while self.high < self.low + HUGE_PAGE_SIZE {
            if !self.grow(HUGE_PAGE_SIZE) {
                return None;
            }
        }
        self.high -= HUGE_PAGE_SIZE;
        Some(self.high)
    }

    /// Have the monitor register at least `need` more bytes of guest RAM; the never-used
    /// frames left between the bump pointers are kept as clean ones, and the pointers
    /// move to the new piece. False when guest RAM is all registered (or the host refused).
    fn grow(&mut self, need: u64) -> bool {
        if self.registered >= self.ram_end {
            return false;
        }
        let wanted = self.low.max(self.registered).saturating_add(need.max(HUGE_PAGE_SIZE)).min(self.ram_end);
        transport::control::<AtomicU64>(vcpu_block::RAM_WANTED).store(wanted, Ordering::Release);
        transport::ring_port(ports::GROW_RAM);
        let now = transport::control::<AtomicU64>(vcpu_block::RAM_REGISTERED).load(Ordering::Acquire).min(self.ram_end);
        if now <= self.registered {
            return false;
        }
        if self.low < self.high {
            self.add_range(self.low, self.high - self.low, true);
        }
        self.low = self.low.max(self.registered);
        self.high = now & !(HUGE_PAGE_SIZE - 1);
        self.registered = now;
        true
    }

    fn take_clean_page(&mut self) -> Option<u64> {
        let run = self.clean_runs.last_mut()?;
        run.1 -= 1;
        let gpa = run.0 + run.1 * PAGE_SIZE;
        if run.1 == 0 {
            self.clean_runs.pop();
        }
        self.clean_pages -= 1;
        Some(gpa)
    }

    fn add_clean_run(&mut self, gpa: u64, pages: u64) {
        if pages > 0 {
            self.clean_runs.push((gpa, pages));
            self.clean_pages += pages;
        }
    }
}

/// The host took back `[gpa, gpa+len)` (page aligned; frames the caller owned). With
/// `zeroed` the frames are kept as clean (zero, uncommitted); otherwise they are ordinary
/// free frames again. Aligned 2 MiB blocks become 2 MiB frames.
pub fn add_released(gpa: u64, len: u64, zeroed: bool) {
    FRAMES.lock().add_range(gpa, len, zeroed);
}

impl Frames {
    /// Take `[gpa, gpa+len)` back as free frames (clean ones with `zeroed`).
    fn add_range(&mut self, gpa: u64, len: u64, zeroed: bool) {
        let end = gpa + len;
        let mut at = gpa;
        while at < end {
            let huge = at.is_multiple_of(HUGE_PAGE_SIZE) && end - at >= HUGE_PAGE_SIZE;
            let next = if huge { at + HUGE_PAGE_SIZE } else { ((at / HUGE_PAGE_SIZE) + 1) * HUGE_PAGE_SIZE };
            let next = next.min(end);
            match (huge, zeroed) {
                (true, true) => self.clean_huge.push(at),
                (false, true) => self.add_clean_run(at, (next - at) / PAGE_SIZE),
                (true, false) => push(&mut self.huge_free_head, &mut self.huge_free_count, at),
                (false, false) => {
                    for page in (at..next).step_by(PAGE_SIZE as usize) {
                        push(&mut self.free_head, &mut self.free_count, page);
                    }
                }
            }
            at = next;
        }
    }
}

pub fn free(gpa: u64) {
    let mut f = FRAMES.lock();
    let Frames { free_head, free_count, .. } = &mut *f;
    push(free_head, free_count, gpa);
}

pub fn free_huge(gpa: u64) {
    let mut f = FRAMES.lock();
    let Frames { huge_free_head, huge_free_count, .. } = &mut *f;
    push(huge_free_head, huge_free_count, gpa);
}

/// How many freed 2 MiB frames wait for reuse (dirty: they are zeroed when handed out).
pub fn free_huge_frames() -> u64 {
    FRAMES.lock().huge_free_count
}

/// (free bytes, end of guest RAM) for sysinfo-like reports.
pub fn usage() -> (u64, u64) {
    let f = FRAMES.lock();
    let free = f.high.saturating_sub(f.low)
        + f.ram_end.saturating_sub(f.registered)
        + (f.free_count + f.clean_pages) * PAGE_SIZE
        + (f.huge_free_count + f.clean_huge.len() as u64) * HUGE_PAGE_SIZE;
    (free, f.ram_end)
}
