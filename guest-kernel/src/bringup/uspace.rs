//! The program's address space: regions (a small sorted list standing in for mm/vma.rs),
//! demand-paged zero memory for the stack, brk and anonymous mmap, private copies of file
//! pages (filled when mapped), and the checked copies between user memory and the kernel.
//! One process, one vCPU.

use alloc::vec::Vec;

use abi_shared::hypercall::{FsRequest, GuestSeg, Request, SegList};
use abi_shared::layout::{user, PAGE_SIZE};
use spin::Mutex;

use crate::arch::mmu::{self, Prot};
use crate::arch::phys_to_virt;
use crate::bringup::{frames, hypercall};

#[derive(Clone, Copy, Debug)]
pub struct Region {
    pub start: u64,
    pub end: u64,
    pub prot: Prot,
    /// PROT_READ (a PROT_NONE region faults on every access).
    pub read: bool,
    /// Linux's VM_MAYWRITE: false for a MAP_SHARED file mapping (served as a private copy
    /// here), which mprotect may not make writable.
    pub may_write: bool,
}

/// Why mprotect refused (its errno).
pub enum ProtectError {
    /// Part of the range is not mapped (ENOMEM).
    Unmapped,
    /// Write access asked of a region that may not be written (EACCES).
    NotWritable,
}

/// The most one pread moves into a file mapping's frames (a bounded scatter list).
const FILL_CHUNK: u64 = 1 << 20;

pub struct Space {
    pub root: u64,
    regions: Vec<Region>,
    pub brk_start: u64,
    pub brk: u64,
    mmap_top: u64,
}

pub static SPACE: Mutex<Option<Space>> = Mutex::new(None);

pub const fn page_floor(a: u64) -> u64 {
    a & !(PAGE_SIZE - 1)
}

pub fn page_ceil(a: u64) -> Option<u64> {
    a.checked_add(PAGE_SIZE - 1).map(page_floor)
}

fn alloc_table() -> Option<u64> {
    frames::alloc()
}

impl Space {
    /// An empty address space with its own level-0 table, made current.
    pub fn new() -> Option<Space> {
        let root = frames::alloc()?;
        mmu::activate(root);
        Some(Space { root, regions: Vec::new(), brk_start: 0, brk: 0, mmap_top: user::MMAP_TOP })
    }

    fn find(&self, addr: u64) -> Option<&Region> {
        self.regions.iter().find(|r| r.start <= addr && addr < r.end)
    }

    /// Whether a region covers `addr` (SEGV_ACCERR rather than SEGV_MAPERR).
    pub fn is_mapped(&self, addr: u64) -> bool {
        self.find(addr).is_some()
    }

    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.regions.iter().any(|r| r.start < end && start < r.end)
    }

    /// Add a region (the caller checked it overlaps nothing).
    pub fn add(&mut self, start: u64, end: u64, prot: Prot, read: bool) {
        self.add_region(Region { start, end, prot, read, may_write: true });
    }

    pub fn add_region(&mut self, r: Region) {
        let at = self.regions.partition_point(|x| x.start < r.start);
        self.regions.insert(at, r);
    }

    /// Split regions so that `addr` is a boundary.
    fn split_at(&mut self, addr: u64) {
        if let Some(i) = self.regions.iter().position(|r| r.start < addr && addr < r.end) {
            let mut upper = self.regions[i];
            upper.start = addr;
            self.regions[i].end = addr;
            self.regions.insert(i + 1, upper);
        }
    }

    /// Map one page now (a frame the caller filled, or a fresh zero frame).
    pub fn map_page(&mut self, va: u64, gpa: u64, prot: Prot) -> bool {
        mmu::map(self.root, va, gpa, prot, &mut alloc_table)
    }

    /// Take a fault at `addr`: map a zero frame if a region allows the access and the page
    /// is not there yet. False: the access is not allowed (SIGSEGV).
    pub fn fault(&mut self, addr: u64, write: bool, exec: bool) -> bool {
        let Some(r) = self.find(addr).copied() else { return false };
        if !r.read || (write && !r.prot.write) || (exec && !r.prot.exec) {
            return false;
        }
        let va = page_floor(addr);
        let pte = mmu::lookup(self.root, va);
        if pte != 0 {
            // Present: a permission fault the region allows cannot happen; refuse.
            return write && mmu::pte_writable(pte);
        }
        match frames::alloc() {
            Some(gpa) => self.map_page(va, gpa, r.prot),
            None => false,
        }
    }

    /// Unmap `[start, end)` (page aligned): regions, pages, frames.
    pub fn unmap(&mut self, start: u64, end: u64) {
        self.split_at(start);
        self.split_at(end);
        self.regions.retain(|r| !(start <= r.start && r.end <= end));
        let mut va = start;
        while va < end {
            let (old, span) = mmu::lookup_span(self.root, va);
            if old != 0 {
                mmu::replace(self.root, va, 0);
                frames::free(mmu::pte_gpa(old));
            }
            va = va.saturating_add(span);
        }
    }

    /// mprotect: every page of `[start, end)` must be in a region, and a region that may
    /// not be written refuses write access, both checked before anything changes. Pages
    /// made PROT_NONE keep their frames (EL0 loses access, the contents stay for a later
    /// mprotect, as on Linux).
    pub fn protect(&mut self, start: u64, end: u64, prot: Prot, read: bool) -> Result<(), ProtectError> {
        let mut a = start;
        while a < end {
            match self.find(a) {
                Some(r) if prot.write && !r.may_write => return Err(ProtectError::NotWritable),
                Some(r) => a = r.end,
                None => return Err(ProtectError::Unmapped),
            }
        }
        self.split_at(start);
        self.split_at(end);
        for r in self.regions.iter_mut().filter(|r| start <= r.start && r.end <= end) {
            r.prot = prot;
            r.read = read;
        }
        let mut va = start;
        while va < end {
            let (old, span) = mmu::lookup_span(self.root, va);
            if old != 0 {
                let gpa = mmu::pte_gpa(old);
                mmu::replace(self.root, va, if read { mmu::user_pte(gpa, prot) } else { mmu::no_access_pte(gpa) });
            }
            va = va.saturating_add(span);
        }
        if prot.exec {
            mmu::sync_icache();
        }
        Ok(())
    }

    /// Back `[start, end)` (page aligned, inside a region the caller added) with fresh
    /// frames mapped `prot`, the first `bytes` of them read from `fd` at `offset`; the rest
    /// stays zero, as the tail of a file's last page reads. The host writes the frames
    /// directly (guest-physical scatter lists, a chunk per request). Err: the read's
    /// negative errno, or ENOMEM; the caller unmaps the range.
    pub fn fill_from_file(
        &mut self,
        fd: i32,
        start: u64,
        end: u64,
        bytes: u64,
        offset: u64,
        prot: Prot,
    ) -> Result<(), i64> {
        const ENOMEM: i64 = -(abi_shared::linux::errno::ENOMEM as i64);
        let read_end = start.saturating_add(bytes).min(end);
        let mut va = start;
        while va < end {
            let chunk_start = va;
            let mut segs: Vec<GuestSeg> = Vec::new();
            while va < end && va - chunk_start < FILL_CHUNK {
                let gpa = frames::alloc().ok_or(ENOMEM)?;
                if !self.map_page(va, gpa, prot) {
                    frames::free(gpa);
                    return Err(ENOMEM);
                }
                let want = read_end.saturating_sub(va).min(PAGE_SIZE);
                if want > 0 {
                    match segs.last_mut() {
                        Some(last) if last.gpa + last.len == gpa => last.len += want,
                        _ => segs.push(GuestSeg { gpa, len: want }),
                    }
                }
                va += PAGE_SIZE;
            }
            read_fully(fd, &mut segs, offset + (chunk_start - start))?;
        }
        if prot.exec {
            mmu::sync_icache();
        }
        Ok(())
    }

    /// A free range of `len` bytes for mmap (top-down below the last one handed out).
    pub fn free_range(&mut self, len: u64) -> Option<u64> {
        let mut top = self.mmap_top;
        loop {
            let start = top.checked_sub(len)?;
            if start < user::MMAP_MIN || start < self.brk {
                return None;
            }
            match self.regions.iter().filter(|r| r.start < top && start < r.end).map(|r| r.start).min() {
                Some(below) => top = below,
                None => {
                    self.mmap_top = start;
                    return Some(start);
                }
            }
        }
    }

    pub fn is_free(&self, start: u64, end: u64) -> bool {
        !self.overlaps(start, end)
    }

    /// The frame behind user page `va`, faulted in if needed, checked for `write`.
    fn frame_of(&mut self, va: u64, write: bool) -> Option<u64> {
        if va >= user::TASK_SIZE {
            return None;
        }
        let r = self.find(va)?;
        if !r.read || (write && !r.prot.write) {
            return None;
        }
        let mut pte = mmu::lookup(self.root, page_floor(va));
        if pte == 0 {
            if !self.fault(va, write, false) {
                return None;
            }
            pte = mmu::lookup(self.root, page_floor(va));
        }
        Some(mmu::pte_gpa(pte) + (va & (PAGE_SIZE - 1)))
    }

    /// Guest-physical pieces of the user buffer `[addr, addr+len)` (for a hypercall's
    /// scatter list); None if any byte is not accessible so.
    pub fn segments(&mut self, addr: u64, len: u64, write: bool) -> Option<Vec<GuestSeg>> {
        let end = addr.checked_add(len)?;
        let mut segs: Vec<GuestSeg> = Vec::new();
        let mut a = addr;
        while a < end {
            let n = (PAGE_SIZE - (a & (PAGE_SIZE - 1))).min(end - a);
            let gpa = self.frame_of(a, write)?;
            match segs.last_mut() {
                Some(last) if last.gpa + last.len == gpa => last.len += n,
                _ => segs.push(GuestSeg { gpa, len: n }),
            }
            a += n;
        }
        Some(segs)
    }

    /// Copy `data` to user memory at `addr`; false (EFAULT) if not writable there.
    pub fn copy_out(&mut self, addr: u64, data: &[u8]) -> bool {
        let Some(segs) = self.segments(addr, data.len() as u64, true) else { return false };
        let mut off = 0;
        for s in segs {
            // SAFETY: each segment is a piece of a user frame in guest RAM (direct map).
            unsafe {
                core::ptr::copy_nonoverlapping(data[off..].as_ptr(), phys_to_virt(s.gpa) as *mut u8, s.len as usize);
            }
            off += s.len as usize;
        }
        true
    }

    /// Copy `out.len()` bytes from user memory at `addr`; false (EFAULT) if not readable.
    pub fn copy_in(&mut self, addr: u64, out: &mut [u8]) -> bool {
        let Some(segs) = self.segments(addr, out.len() as u64, false) else { return false };
        let mut off = 0;
        for s in segs {
            // SAFETY: as in copy_out.
            unsafe {
                core::ptr::copy_nonoverlapping(
                    phys_to_virt(s.gpa) as *const u8,
                    out[off..].as_mut_ptr(),
                    s.len as usize,
                );
            }
            off += s.len as usize;
        }
        true
    }

    /// A NUL-terminated string from user memory (at most `max` bytes without the NUL).
    pub fn read_cstr(&mut self, addr: u64, max: usize) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        let mut a = addr;
        while out.len() <= max {
            let mut b = [0u8];
            if !self.copy_in(a, &mut b) {
                return None;
            }
            if b[0] == 0 {
                return Some(out);
            }
            out.push(b[0]);
            a += 1;
        }
        None
    }
}

/// Read from `fd` at `offset` into `segs` until they are full or the file ends: a read may
/// come back short (a network file system's request size) before the end of the file.
fn read_fully(fd: i32, segs: &mut Vec<GuestSeg>, mut offset: u64) -> Result<(), i64> {
    while !segs.is_empty() {
        let req = FsRequest::Read { fd, buf: SegList::Borrowed(segs), offset: Some(offset as i64) };
        let got = hypercall::call_ret(&Request::Fs(req));
        if got <= 0 {
            // The end of the file (the rest stays zero), or the read's error.
            return if got < 0 { Err(got) } else { Ok(()) };
        }
        offset += got as u64;
        drop_front(segs, got as u64);
    }
    Ok(())
}

/// Drop the first `n` bytes of a scatter list.
fn drop_front(segs: &mut Vec<GuestSeg>, mut n: u64) {
    let mut whole = 0;
    for s in segs.iter_mut() {
        if n < s.len {
            s.gpa += n;
            s.len -= n;
            break;
        }
        n -= s.len;
        whole += 1;
    }
    segs.drain(..whole);
}

/// Run `f` on the program's address space.
pub fn with<R>(f: impl FnOnce(&mut Space) -> R) -> R {
    let mut s = SPACE.lock();
    match s.as_mut() {
        Some(space) => f(space),
        None => crate::bringup::die(format_args!("no user address space")),
    }
}
