//! Kernel access to user memory. The kernel never dereferences a user pointer: it resolves
//! each page through the VMAs (populating it as a touch would) and uses the direct map. A
//! bad pointer therefore becomes EFAULT, never a kernel fault.

use alloc::vec::Vec;

use abi_shared::hypercall::GuestSeg;
use abi_shared::layout::{user, PAGE_SIZE};
use abi_shared::linux::errno::EFAULT;
use abi_shared::linux::Pod;

use super::space::{Access, AddressSpace, SPACE};
use super::{filemap, frame, paging};

pub const EFAULT_RET: i64 = -(EFAULT as i64);

fn check_range(addr: u64, len: u64) -> Result<(), i64> {
    match addr.checked_add(len) {
        Some(end) if end <= user::TASK_SIZE => Ok(()),
        _ => Err(EFAULT_RET),
    }
}

/// Walk `[addr, addr+len)` page by page, handing each piece's GPA and length to `f`.
/// `Touch::Kernel`: the kernel copies the bytes itself (see `filemap::direct_access_ok`).
fn for_each_piece(
    addr: u64,
    len: u64,
    access: Access,
    touch: Touch,
    mut f: impl FnMut(u64, usize, usize),
) -> Result<(), i64> {
    check_range(addr, len)?;
    let mut space = SPACE.lock();
    let mut done = 0u64;
    while done < len {
        let va = addr + done;
        let in_page = (PAGE_SIZE - (va & (PAGE_SIZE - 1))).min(len - done);
        let gpa = page_gpa(&mut space, va, access)?;
        if touch == Touch::Kernel && !filemap::direct_access_ok(gpa) {
            return Err(EFAULT_RET);
        }
        if access == Access::Write {
            super::vfork::note_kernel_write(va);
        }
        f(gpa + (va & (PAGE_SIZE - 1)), done as usize, in_page as usize);
        done += in_page;
    }
    Ok(())
}

/// Who touches the bytes of a user buffer.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Touch {
    /// The kernel, through its direct map.
    Kernel,
    /// The host, with its own system calls (which answer EFAULT themselves).
    Host,
}

/// The frame of the page holding `va`, made present for `access` as a touch would. A page
/// already mapped for it (nearly every syscall's buffer) costs one page-table walk.
fn page_gpa(space: &mut AddressSpace, va: u64, access: Access) -> Result<u64, i64> {
    let mapped = paging::user_page_gpa(va, access == Access::Write);
    match mapped {
        Some(gpa) => Ok(gpa),
        None => space.populate(va, access).map_err(|_| EFAULT_RET),
    }
}

pub fn copy_from_user(addr: u64, out: &mut [u8]) -> Result<(), i64> {
    for_each_piece(addr, out.len() as u64, Access::Read, Touch::Kernel, |gpa, off, n| {
        // SAFETY: gpa..gpa+n is inside one populated frame, reached through the direct map.
        unsafe { core::ptr::copy_nonoverlapping(frame::frame_ptr(gpa), out[off..].as_mut_ptr(), n) };
    })
}

pub fn copy_to_user(addr: u64, data: &[u8]) -> Result<(), i64> {
    for_each_piece(addr, data.len() as u64, Access::Write, Touch::Kernel, |gpa, off, n| {
        // SAFETY: as above, for a frame the VMA allows writing.
        unsafe { core::ptr::copy_nonoverlapping(data[off..].as_ptr(), frame::frame_ptr(gpa), n) };
    })
}

/// Zero `[addr, addr+len)` up to its first page that cannot be written: the bytes zeroed,
/// or EFAULT if that is none (a read of /dev/zero, which Linux ends the same way).
pub fn zero_user(addr: u64, len: u64) -> i64 {
    let mut done = 0u64;
    let r = for_each_piece(addr, len, Access::Write, Touch::Kernel, |gpa, _, n| {
        // SAFETY: as for copy_to_user.
        unsafe { core::ptr::write_bytes(frame::frame_ptr(gpa), 0, n) };
        done += n as u64;
    });
    match r {
        Err(e) if done == 0 => e,
        _ => done as i64,
    }
}

pub fn write_struct<T: Pod>(addr: u64, value: &T) -> Result<(), i64> {
    copy_to_user(addr, value.as_bytes())
}

pub fn read_u64(addr: u64) -> Result<u64, i64> {
    let mut b = [0u8; 8];
    copy_from_user(addr, &mut b)?;
    Ok(u64::from_le_bytes(b))
}

pub fn read_u32(addr: u64) -> Result<u32, i64> {
    let mut b = [0u8; 4];
    copy_from_user(addr, &mut b)?;
    Ok(u32::from_le_bytes(b))
}

pub fn read_struct<T: Pod + Default>(addr: u64) -> Result<T, i64> {
    let mut v = T::default();
    copy_from_user(addr, v.as_bytes_mut())?;
    Ok(v)
}

/// A NUL-terminated string of at most `max` bytes (without the NUL). Err(-ENAMETOOLONG)
/// style limits are the caller's; here too long is reported as `None` inside Ok.
/// The string is scanned in place, a page at a time, through the direct map.
pub fn read_cstr(addr: u64, max: usize) -> Result<Option<Vec<u8>>, i64> {
    let mut out = Vec::new();
    let mut va = addr;
    let mut space = SPACE.lock();
    loop {
        check_range(va, 1)?;
        let in_page = (PAGE_SIZE - (va & (PAGE_SIZE - 1))) as usize;
        // At most one byte past `max` is needed to know the string is too long.
        let n = in_page.min(max.saturating_add(1) - out.len());
        let gpa = page_gpa(&mut space, va, Access::Read)?;
        if !filemap::direct_access_ok(gpa) {
            return Err(EFAULT_RET);
        }
        // SAFETY: [gpa, gpa + n) lies inside one populated frame, reached through the
        // direct map; the kernel only reads it.
        let bytes = unsafe { core::slice::from_raw_parts(frame::frame_ptr(gpa + (va & (PAGE_SIZE - 1))), n) };
        if let Some(nul) = bytes.iter().position(|&b| b == 0) {
            out.extend_from_slice(&bytes[..nul]);
            return Ok(Some(out));
        }
        out.extend_from_slice(bytes);
        if out.len() > max {
            return Ok(None);
        }
        va += n as u64;
    }
}

/// Guest-physical segments for a user buffer, populated for `access`. Adjacent frames are
/// merged, so a buffer in contiguous frames is one segment.
pub fn user_segments(addr: u64, len: u64, access: Access, segs: &mut Vec<GuestSeg>) -> Result<(), i64> {
    for_each_piece(addr, len, access, Touch::Host, |gpa, _, n| match segs.last_mut() {
        Some(last) if last.gpa + last.len == gpa => last.len += n as u64,
        _ => segs.push(GuestSeg { gpa, len: n as u64 }),
    })
}

/// A debugger's write (`--gdb`), as ptrace's POKEDATA with FOLL_FORCE: it may change
/// read-only private pages (a breakpoint in program text; each page is this process's
/// own frame, so the change stays in this process), but not a shared file mapping the
/// program may not write, nor an address outside every mapping.
pub fn poke_user(addr: u64, data: &[u8]) -> Result<(), i64> {
    check_range(addr, data.len() as u64)?;
    let mut space = SPACE.lock();
    let mut done = 0usize;
    while done < data.len() {
        let va = addr + done as u64;
        let n = ((PAGE_SIZE - (va & (PAGE_SIZE - 1))) as usize).min(data.len() - done);
        let vma = space.vmas.find(va).ok_or(EFAULT_RET)?;
        let writable = vma.prot & super::vma::PROT_WRITE != 0;
        if vma.file.as_ref().is_some_and(|f| f.window.is_some()) && !writable {
            return Err(EFAULT_RET);
        }
        let access = if writable { Access::Write } else { Access::Read };
        let gpa = page_gpa(&mut space, va, access)?;
        if !filemap::direct_access_ok(gpa) {
            return Err(EFAULT_RET);
        }
        super::vfork::note_kernel_write(va);
        // SAFETY: [gpa, gpa + n) lies inside one populated frame of this process, reached
        // through the direct map.
        unsafe {
            core::ptr::copy_nonoverlapping(data[done..].as_ptr(), frame::frame_ptr(gpa + (va & (PAGE_SIZE - 1))), n)
        };
        done += n;
    }
    Ok(())
}
