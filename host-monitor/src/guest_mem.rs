//! Guest RAM as the host sees it: one anonymous mapping, and checked access to it.
//!
//! The guest is untrusted. Every address and length that comes from it goes through
//! `GuestMemory::range`, which rejects anything outside guest RAM (including overflow),
//! before the host touches the bytes.

use std::collections::BTreeMap;
use std::io;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};

use crate::host::LinuxErrno;
use abi_shared::hypercall::GuestSeg;
use abi_shared::layout::{FILE_WINDOW_GPA, FILE_WINDOW_SIZE};

/// A guest address or length that does not lie inside guest RAM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutOfBounds {
    pub gpa: u64,
    pub len: u64,
}

impl std::fmt::Display for OutOfBounds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "guest range {:#x}+{:#x} is outside guest RAM", self.gpa, self.len)
    }
}

/// Alignment of the host mapping (the x86 large-page size).
const HUGE_ALIGN: usize = 2 << 20;

/// Most segments one request may name (Linux's IOV_MAX).
pub const MAX_SEGMENTS: usize = 1024;

pub struct GuestMemory {
    base: NonNull<u8>,
    size: u64,
    owned: bool,
    window: Option<FileWindow>,
}

/// Called after a range of the file window changed its host mapping: (gpa, len, host
/// address of the new file mapping, or None when the range became inaccessible). Hypervisors that do not follow host remappings by themselves (Hypervisor.
/// framework) remap the range there; KVM follows them through its MMU notifiers.
pub type WindowHook = Box<dyn Fn(u64, u64, Option<*mut u8>) + Send + Sync>;

/// Makes a chunk of the file window known to the hypervisor: (gpa, len, host address);
/// false if it could not. KVM registers a memory slot per chunk on first use, because a
/// slot costs set-up time in proportion to its size (about 1 ms per GiB on kvm_pvm), which
/// programs that never map a file shared should not pay.
pub type WindowActivate = Box<dyn Fn(u64, u64, *mut u8) -> bool + Send + Sync>;

/// Granularity of window activation (at most 64 chunks: one bit each).
pub const WINDOW_CHUNK: u64 = 1 << 30;
const _: () = assert!(FILE_WINDOW_SIZE / WINDOW_CHUNK <= 64);

/// The host side of the file window (see abi_shared::layout::FILE_WINDOW_GPA): a
/// PROT_NONE reservation where files are mapped for the guest's MAP_SHARED mappings.
struct FileWindow {
    base: NonNull<u8>,
    /// Mapped ranges, start GPA -> end GPA: only those may be named by requests (the rest
    /// would fault in the host).
    mapped: Mutex<BTreeMap<u64, u64>>,
    hook: OnceLock<WindowHook>,
    activate: OnceLock<WindowActivate>,
    /// Bit k: chunk k was activated.
    active: AtomicU64,
}

/// Remove `[start, end)` from a set of disjoint ranges, splitting those it cuts.
fn remove_interval(set: &mut BTreeMap<u64, u64>, start: u64, end: u64) {
    let first = set.range(..=start).next_back().map(|(&s, _)| s).unwrap_or(start);
    let hit: Vec<(u64, u64)> = set.range(first..end).map(|(&s, &e)| (s, e)).filter(|&(_, e)| e > start).collect();
    for (s, e) in hit {
        set.remove(&s);
        if s < start {
            set.insert(s, start);
        }
        if e > end {
            set.insert(end, e);
        }
    }
}

/// Where a checked guest range lies on the host.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    /// Guest RAM: anonymous memory, always accessible.
    Ram,
    /// The file window: a MAP_SHARED file mapping, whose pages past the file's current
    /// end raise SIGBUS when touched (the guest can truncate the file at any time).
    Window,
}

/// Copy `out.len()` bytes from the file window at `src` without risking SIGBUS: the
/// kernel copies (process_vm_readv on ourselves) and reports a page past the end of the
/// file as a short copy. Err(()) if not every byte could be read.
#[cfg(target_os = "linux")]
fn copy_from_window(src: *const u8, out: &mut [u8]) -> Result<(), ()> {
    let local = libc::iovec { iov_base: out.as_mut_ptr() as *mut libc::c_void, iov_len: out.len() };
    let remote = libc::iovec { iov_base: src as *mut libc::c_void, iov_len: out.len() };
    // SAFETY: both iovecs describe memory of this process (out is a host buffer, src a
    // checked window range); the kernel validates every page and faults nothing in us.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == out.len() as isize {
        Ok(())
    } else {
        Err(())
    }
}

/// Copy `data` into the file window at `dst` without risking SIGBUS (process_vm_writev
/// on ourselves, see `copy_from_window`).
#[cfg(target_os = "linux")]
fn copy_to_window(data: &[u8], dst: *mut u8) -> Result<(), ()> {
    let local = libc::iovec { iov_base: data.as_ptr() as *mut libc::c_void, iov_len: data.len() };
    let remote = libc::iovec { iov_base: dst as *mut libc::c_void, iov_len: data.len() };
    // SAFETY: as in copy_from_window; the kernel only reads `data`.
    let n = unsafe { libc::process_vm_writev(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n == data.len() as isize {
        Ok(())
    } else {
        Err(())
    }
}

#[cfg(target_os = "macos")]
extern "C" {
    /// Mach's checked copy out of a task's memory (mach/mach_vm.h): an address that cannot
    /// be read is an error code, not a signal.
    fn mach_vm_read_overwrite(task: libc::mach_port_t, address: u64, size: u64, data: u64, outsize: *mut u64) -> i32;
}

/// macOS: the kernel copies (mach_vm_read_overwrite on our own task), as on Linux.
#[cfg(target_os = "macos")]
#[allow(deprecated)] // libc's mach_task_self points to the mach2 crate, for one call.
fn copy_from_window(src: *const u8, out: &mut [u8]) -> Result<(), ()> {
    let mut copied = 0u64;
    // SAFETY: both ranges are memory of this process (src a checked window range, out a
    // host buffer of out.len() bytes); the kernel validates the source pages.
    let r = unsafe {
        mach_vm_read_overwrite(
            libc::mach_task_self(),
            src as u64,
            out.len() as u64,
            out.as_mut_ptr() as u64,
            &mut copied,
        )
    };
    if r == 0 && copied == out.len() as u64 {
        Ok(())
    } else {
        Err(())
    }
}

/// macOS: every page of the destination is first read through the kernel (a page past
/// the file's end fails there), then written directly; a truncation between the two can
/// still raise SIGBUS.
#[cfg(target_os = "macos")]
fn copy_to_window(data: &[u8], dst: *mut u8) -> Result<(), ()> {
    let mut byte = [0u8; 1];
    let mut at = dst as usize;
    let end = dst as usize + data.len();
    while at < end {
        copy_from_window(at as *const u8, &mut byte)?;
        at = (at | 4095) + 1;
    }
    // SAFETY: dst..dst+len is a checked, mapped window range whose pages the file backs;
    // data is a distinct buffer.
    unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
    Ok(())
}

/// A second mapping of the MAP_SHARED mapping at `source`, `len` bytes from there, at
/// `target` (which it replaces): mremap with an old size of 0 duplicates a shared mapping
/// (same file, same offset, same protection) and leaves the source as it is.
#[cfg(target_os = "linux")]
fn duplicate_shared_mapping(source: *mut u8, target: *mut u8, len: usize) -> Result<(), i32> {
    // SAFETY: `source` is a page of one of our window file mappings, `target` a window
    // range that holds only our reservation; MREMAP_FIXED replaces exactly that range.
    let p = unsafe {
        libc::mremap(
            source as *mut libc::c_void,
            0,
            len,
            libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
            target as *mut libc::c_void,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::ENOMEM));
    }
    Ok(())
}

/// Darwin has no mremap: a shared mapping cannot be grown or moved (the guest says ENOMEM).
#[cfg(not(target_os = "linux"))]
fn duplicate_shared_mapping(_source: *mut u8, _target: *mut u8, _len: usize) -> Result<(), i32> {
    Err(libc::ENOMEM)
}

/// Punch the file pages behind the shared mapping `[addr, addr+len)` out of the file.
#[cfg(target_os = "linux")]
fn remove_file_pages(addr: *mut u8, len: usize) -> Result<(), i32> {
    // SAFETY: the range is one of our MAP_SHARED file mappings; MADV_REMOVE frees the
    // file's pages behind it, which the guest asked for, and touches nothing else.
    if unsafe { libc::madvise(addr as *mut libc::c_void, len, libc::MADV_REMOVE) } != 0 {
        return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL));
    }
    Ok(())
}

/// Darwin cannot punch a hole through a mapping.
#[cfg(not(target_os = "linux"))]
fn remove_file_pages(_addr: *mut u8, _len: usize) -> Result<(), i32> {
    Err(libc::EOPNOTSUPP)
}

/// Fresh PROT_NONE reservation at `addr` (MAP_FIXED when given).
fn reserve(addr: *mut u8, len: usize) -> *mut libc::c_void {
    let fixed = if addr.is_null() { 0 } else { libc::MAP_FIXED };
    // SAFETY: an anonymous inaccessible mapping, either new or replacing part of the file
    // window, which only this module maps into.
    unsafe {
        libc::mmap(
            addr as *mut libc::c_void,
            len,
            libc::PROT_NONE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | fixed,
            -1,
            0,
        )
    }
}

/// Transparent huge pages for guest RAM from the kernel image up: KVM can then shadow a
/// guest 2 MiB page in one piece. Below it (boot page tables, IDT, the vCPU blocks) the
/// guest touches a few dozen scattered pages, and a huge page there would make the host
/// fault in and zero 2 MiB (~0.4 ms here) twice for every process start.
#[cfg(target_os = "linux")]
fn advise_huge_pages(ptr: *mut u8, len: usize) {
    let low = (abi_shared::layout::KERNEL_LOAD_GPA as usize).min(len);
    // SAFETY: advice on the mapping just created (`low <= len`); failure only changes
    // which page size backs it.
    unsafe {
        libc::madvise(ptr as *mut libc::c_void, low, libc::MADV_NOHUGEPAGE);
        libc::madvise(ptr.add(low) as *mut libc::c_void, len - low, libc::MADV_HUGEPAGE);
    }
}

// SAFETY: the mapping is plain memory shared with the guest; access goes through raw
// pointers whose ranges are checked, and concurrent guest writes are part of the contract
// (the host never relies on guest memory staying unchanged between two reads).
unsafe impl Send for GuestMemory {}
// SAFETY: as above; no interior references are handed out that outlive a call.
unsafe impl Sync for GuestMemory {}

impl GuestMemory {
    /// Reserve `size` bytes of guest RAM. MAP_NORESERVE: the host commits a page only when
    /// the guest touches it, so a large `--memory` costs nothing up front.
    pub fn new(size: u64) -> io::Result<GuestMemory> {
        let len = usize::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // Reserve 2 MiB more and trim, so that guest 2 MiB pages sit on 2 MiB-aligned host
        // memory that transparent huge pages can back in one piece.
        let slack = HUGE_ALIGN;
        // SAFETY: a fresh anonymous private mapping; no existing memory is affected.
        let raw = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len + slack,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if raw == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let head = (HUGE_ALIGN - (raw as usize % HUGE_ALIGN)) % HUGE_ALIGN;
        // SAFETY: head <= slack, so the aligned start and both trimmed pieces lie inside the
        // mapping just made; unmapping them leaves exactly [ptr, ptr + len).
        let ptr = unsafe {
            let ptr = (raw as *mut u8).add(head);
            if head > 0 {
                libc::munmap(raw, head);
            }
            if slack - head > 0 {
                libc::munmap(ptr.add(len) as *mut libc::c_void, slack - head);
            }
            ptr
        };
        #[cfg(target_os = "linux")]
        advise_huge_pages(ptr, len);
        let base = NonNull::new(ptr).ok_or_else(|| io::Error::from(io::ErrorKind::OutOfMemory))?;
        // Without the window, MAP_SHARED file mappings are refused (ENODEV), nothing else.
        let window = match reserve(std::ptr::null_mut(), FILE_WINDOW_SIZE as usize) {
            libc::MAP_FAILED => None,
            p => NonNull::new(p as *mut u8).map(|base| FileWindow {
                base,
                mapped: Mutex::new(BTreeMap::new()),
                hook: OnceLock::new(),
                activate: OnceLock::new(),
                active: AtomicU64::new(0),
            }),
        };
        Ok(GuestMemory { base, size, owned: true, window })
    }

    /// Install the hypervisor's remap hook (see `WindowHook`).
    #[allow(dead_code)] // Only Hypervisor.framework needs one.
    pub fn set_window_hook(&self, hook: WindowHook) {
        if let Some(w) = &self.window {
            let _ = w.hook.set(hook);
        }
    }

    /// Install the hypervisor's activation hook (see `WindowActivate`).
    #[allow(dead_code)] // Only KVM needs one.
    pub fn set_window_activate(&self, activate: WindowActivate) {
        if let Some(w) = &self.window {
            let _ = w.activate.set(activate);
        }
    }

    /// Make every chunk activated so far known to the hypervisor again (a forked child's
    /// new VM). False if one could not be.
    pub fn reactivate_window(&self) -> bool {
        let Some(w) = &self.window else { return true };
        let Some(activate) = w.activate.get() else { return true };
        let active = w.active.load(Ordering::Acquire);
        (0..64u64).filter(|k| active & (1 << k) != 0).all(|k| {
            // SAFETY: chunk k was activated, so it lies inside the window reservation.
            let host = unsafe { w.base.as_ptr().add((k * WINDOW_CHUNK) as usize) };
            activate(FILE_WINDOW_GPA + k * WINDOW_CHUNK, WINDOW_CHUNK, host)
        })
    }

    /// Activate the chunks `[gpa, gpa+len)` (inside the window) touches.
    fn activate_chunks(w: &FileWindow, gpa: u64, len: u64) -> bool {
        let Some(activate) = w.activate.get() else { return true };
        let first = (gpa - FILE_WINDOW_GPA) / WINDOW_CHUNK;
        let last = (gpa + len - 1 - FILE_WINDOW_GPA) / WINDOW_CHUNK;
        for k in first..=last {
            if w.active.load(Ordering::Acquire) & (1 << k) != 0 {
                continue;
            }
            // SAFETY: chunk k lies inside the window reservation (k < 64 chunks of it).
            let host = unsafe { w.base.as_ptr().add((k * WINDOW_CHUNK) as usize) };
            if !activate(FILE_WINDOW_GPA + k * WINDOW_CHUNK, WINDOW_CHUNK, host) {
                return false;
            }
            w.active.fetch_or(1 << k, Ordering::AcqRel);
        }
        true
    }

    /// Host address of a page-aligned window range, checked against the window.
    fn window_range(&self, gpa: u64, len: u64) -> Option<(&FileWindow, *mut u8)> {
        let w = self.window.as_ref()?;
        let off = gpa.checked_sub(FILE_WINDOW_GPA)?;
        let end = off.checked_add(len)?;
        if len == 0 || end > FILE_WINDOW_SIZE || !gpa.is_multiple_of(4096) || !len.is_multiple_of(4096) {
            return None;
        }
        // SAFETY: off + len <= FILE_WINDOW_SIZE, so the address lies inside the reservation.
        Some((w, unsafe { w.base.as_ptr().add(off as usize) }))
    }

    /// MAP_SHARED of host `fd` at window range `[gpa, gpa+len)`, readable, and writable
    /// when `writable`. Err(host errno).
    pub fn map_window(&self, gpa: u64, len: u64, fd: i32, offset: u64, writable: bool) -> Result<(), i32> {
        let (w, host) = self.window_range(gpa, len).ok_or(libc::EINVAL)?;
        let offset = libc::off_t::try_from(offset).map_err(|_| libc::EINVAL)?;
        let prot = libc::PROT_READ | if writable { libc::PROT_WRITE } else { 0 };
        let mut mapped = w.mapped.lock().map_err(|_| libc::EIO)?;
        if !Self::activate_chunks(w, gpa, len) {
            return Err(libc::ENODEV);
        }
        // SAFETY: the target lies inside the window reservation, which holds nothing but
        // what this module maps there; MAP_FIXED replaces exactly that range.
        let p = unsafe {
            libc::mmap(host as *mut libc::c_void, len as usize, prot, libc::MAP_SHARED | libc::MAP_FIXED, fd, offset)
        };
        if p == libc::MAP_FAILED {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
        }
        remove_interval(&mut mapped, gpa, gpa + len);
        mapped.insert(gpa, gpa + len);
        if let Some(hook) = w.hook.get() {
            hook(gpa, len, Some(host));
        }
        Ok(())
    }

    /// shmat of SysV shared memory segment `id` at window range `[gpa, gpa+len)`, which
    /// must be the segment's size in pages (so the attachment covers the range exactly);
    /// `flags` SHM_RDONLY, SHM_EXEC. Err(Linux errno). Unmapping the range
    /// (`unmap_window`) detaches it.
    pub fn attach_shm_window(&self, gpa: u64, len: u64, id: i32, flags: i32) -> Result<(), LinuxErrno> {
        const EINVAL: LinuxErrno = abi_shared::linux::errno::EINVAL as LinuxErrno;
        let (w, host) = self.window_range(gpa, len).ok_or(EINVAL)?;
        if crate::host::sys::shm_size(id)?.checked_next_multiple_of(4096) != Some(len) {
            return Err(EINVAL);
        }
        let mut mapped = w.mapped.lock().map_err(|_| abi_shared::linux::errno::EIO as LinuxErrno)?;
        if !Self::activate_chunks(w, gpa, len) {
            return Err(abi_shared::linux::errno::ENOMEM as LinuxErrno);
        }
        // SAFETY: the range lies inside the window reservation, which holds nothing but
        // what this module maps there, and is exactly as long as the segment (checked just
        // above; a segment's size never changes, and its id is not reused until the id's
        // sequence number wraps).
        unsafe { crate::host::sys::shm_attach_at(id, host, flags) }?;
        remove_interval(&mut mapped, gpa, gpa + len);
        mapped.insert(gpa, gpa + len);
        if let Some(hook) = w.hook.get() {
            hook(gpa, len, Some(host));
        }
        Ok(())
    }

    /// Make a window range inaccessible again (its file mapping goes).
    pub fn unmap_window(&self, gpa: u64, len: u64) -> Result<(), i32> {
        let (w, host) = self.window_range(gpa, len).ok_or(libc::EINVAL)?;
        let mut mapped = w.mapped.lock().map_err(|_| libc::EIO)?;
        remove_interval(&mut mapped, gpa, gpa + len);
        if reserve(host, len as usize) == libc::MAP_FAILED {
            return Err(libc::ENOMEM);
        }
        if let Some(hook) = w.hook.get() {
            hook(gpa, len, None);
        }
        Ok(())
    }

    /// mremap of a shared mapping: the file mapped at window page `from` mapped again at
    /// the unmapped window range `[to, to+len)`, from the same file offset (`len` may reach
    /// past what was mapped: the file goes on). The old mapping stays. Err(host errno).
    pub fn remap_window(&self, from: u64, to: u64, len: u64) -> Result<(), i32> {
        let (w, host) = self.window_range(to, len).ok_or(libc::EINVAL)?;
        if !from.is_multiple_of(4096) {
            return Err(libc::EINVAL);
        }
        let source = self.window_mapped(from, 4096).ok_or(libc::EINVAL)?;
        let mut mapped = w.mapped.lock().map_err(|_| libc::EIO)?;
        // The target must be free: a mapping there would be replaced under the guest.
        let end = to + len;
        if mapped.range(..end).next_back().is_some_and(|(_, &e)| e > to) {
            return Err(libc::EINVAL);
        }
        if !Self::activate_chunks(w, to, len) {
            return Err(libc::ENODEV);
        }
        duplicate_shared_mapping(source, host, len as usize)?;
        mapped.insert(to, end);
        if let Some(hook) = w.hook.get() {
            hook(to, len, Some(host));
        }
        Ok(())
    }

    /// madvise(MADV_REMOVE) of a mapped window range: the file's pages there are freed (a
    /// hole punched), and read as zeros afterwards.
    pub fn remove_window(&self, gpa: u64, len: u64) -> Result<(), i32> {
        let (_, host) = self.window_range(gpa, len).ok_or(libc::EINVAL)?;
        self.window_mapped(gpa, len).ok_or(libc::EINVAL)?;
        remove_file_pages(host, len as usize)
    }

    /// msync(MS_SYNC) of a mapped window range.
    pub fn sync_window(&self, gpa: u64, len: u64) -> Result<(), i32> {
        let (_, host) = self.window_range(gpa, len).ok_or(libc::EINVAL)?;
        self.window_mapped(gpa, len).ok_or(libc::ENOMEM)?;
        // SAFETY: the range is one of our MAP_SHARED file mappings; msync only writes back.
        if unsafe { libc::msync(host as *mut libc::c_void, len as usize, libc::MS_SYNC) } != 0 {
            return Err(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO));
        }
        Ok(())
    }

    /// Whether the file mapped at the window page holding `gpa` reaches that page now (None:
    /// no file is mapped there). Asked by the guest for a page past the size it knew.
    pub fn window_page_backed(&self, gpa: u64) -> Option<bool> {
        let page = gpa & !4095;
        let host = self.window_mapped(page, 4096)?;
        let mut byte = [0u8; 1];
        Some(copy_from_window(host, &mut byte).is_ok())
    }

    /// The host address of `[gpa, gpa+len)` if one mapped window range covers it.
    fn window_mapped(&self, gpa: u64, len: u64) -> Option<*mut u8> {
        let w = self.window.as_ref()?;
        let end = gpa.checked_add(len)?;
        let mapped = w.mapped.lock().ok()?;
        let (_, &mend) = mapped.range(..=gpa).next_back()?;
        if end > mend {
            return None;
        }
        // SAFETY: the range lies in a mapped part of the window reservation.
        Some(unsafe { w.base.as_ptr().add((gpa - FILE_WINDOW_GPA) as usize) })
    }

    /// Guest memory over a caller-owned buffer (unit tests of request handlers).
    #[cfg(test)]
    pub fn from_vec_for_test(buf: &mut Vec<u8>) -> GuestMemory {
        GuestMemory {
            base: NonNull::new(buf.as_mut_ptr()).unwrap(),
            size: buf.len() as u64,
            owned: false,
            window: None,
        }
    }

    pub fn size(&self) -> u64 {
        self.size
    }

    /// Right after a fork, on either side: give this process its own copy of the 2 MiB
    /// block at `gpa` in a fresh huge page, instead of the one it shares copy-on-write with
    /// the other process. KVM maps a shared page read-only and prefetches no neighbours with
    /// it (they must be writable on the host), and the first write splits the huge page
    /// into 4 KiB copies; for the guest kernel's own block, which a process touches all of
    /// at once, that is a shadow-paging fault (~40 µs on kvm_pvm) per page used. One copy
    /// costs ~0.5 ms. Best effort: on any failure the block stays shared.
    #[cfg(target_os = "linux")]
    pub fn unshare_huge_block(&self, gpa: u64) {
        let len = HUGE_ALIGN;
        let fits = gpa.checked_add(len as u64).is_some_and(|end| end <= self.size);
        if !self.owned || !gpa.is_multiple_of(len as u64) || !fits {
            return;
        }
        // SAFETY: a fresh anonymous mapping of twice the block, so that an aligned block
        // fits; nothing else is affected.
        let scratch = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                2 * len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        if scratch == libc::MAP_FAILED {
            return;
        }
        let head = (len - scratch as usize % len) % len;
        // SAFETY: `fresh..fresh + len` lies in the scratch mapping (head < len) and the block
        // in guest RAM (checked above); they are distinct mappings. At a fork the process
        // runs one thread (the worker was joined) and the vCPU is stopped, so nothing
        // writes the block meanwhile. mremap replaces the block's mapping with the copy at
        // the same address; afterwards only the scratch mapping's ends (or all of it, if
        // mremap failed) are left to unmap.
        unsafe {
            let fresh = (scratch as *mut u8).add(head);
            let target = self.base.as_ptr().add(gpa as usize);
            libc::madvise(fresh as *mut libc::c_void, len, libc::MADV_HUGEPAGE);
            std::ptr::copy_nonoverlapping(target, fresh, len);
            let moved = libc::mremap(
                fresh as *mut libc::c_void,
                len,
                len,
                libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED,
                target as *mut libc::c_void,
            );
            if moved == libc::MAP_FAILED {
                libc::munmap(scratch, 2 * len);
                return;
            }
            if head > 0 {
                libc::munmap(scratch, head);
            }
            libc::munmap(fresh.add(len) as *mut libc::c_void, len - head);
        }
    }

    /// Host address of GPA 0 (for the hypervisor's memory slot).
    pub fn host_base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Check that `[gpa, gpa+len)` lies in guest RAM (or in a mapped part of the file
    /// window) and return its host pointer.
    pub fn range(&self, gpa: u64, len: u64) -> Result<*mut u8, OutOfBounds> {
        self.locate(gpa, len).map(|(host, _)| host)
    }

    /// As `range`, and whether the range lies in the file window (`Place::Window`), where
    /// a plain host access can raise SIGBUS (see `copy_from_window`).
    fn locate(&self, gpa: u64, len: u64) -> Result<(*mut u8, Place), OutOfBounds> {
        let end = gpa.checked_add(len).ok_or(OutOfBounds { gpa, len })?;
        if end > self.size {
            let host = self.window_mapped(gpa, len).ok_or(OutOfBounds { gpa, len })?;
            return Ok((host, Place::Window));
        }
        // SAFETY: gpa < size (or len == 0 and gpa <= size), so the offset stays inside the
        // mapping or one past its end.
        Ok((unsafe { self.base.as_ptr().add(gpa as usize) }, Place::Ram))
    }

    /// Copy guest bytes out. Out of bounds also when the range lies in a shared file
    /// mapping whose file no longer reaches it (Linux answers EFAULT there too).
    pub fn read(&self, gpa: u64, out: &mut [u8]) -> Result<(), OutOfBounds> {
        let len = out.len() as u64;
        match self.locate(gpa, len)? {
            (src, Place::Ram) => {
                // SAFETY: src..src+len was checked to lie inside guest RAM, which is plain
                // anonymous memory; out is a distinct host buffer.
                unsafe { std::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len()) };
                Ok(())
            }
            (src, Place::Window) => copy_from_window(src, out).map_err(|()| OutOfBounds { gpa, len }),
        }
    }

    /// Copy bytes into guest memory (out of bounds as for `read`).
    pub fn write(&self, gpa: u64, data: &[u8]) -> Result<(), OutOfBounds> {
        let len = data.len() as u64;
        match self.locate(gpa, len)? {
            (dst, Place::Ram) => {
                // SAFETY: dst..dst+len was checked to lie inside guest RAM, which is plain
                // anonymous memory; data is a host buffer.
                unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
                Ok(())
            }
            (dst, Place::Window) => copy_to_window(data, dst).map_err(|()| OutOfBounds { gpa, len }),
        }
    }

    pub fn read_u64(&self, gpa: u64) -> Result<u64, OutOfBounds> {
        let mut b = [0u8; 8];
        self.read(gpa, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    pub fn read_u32(&self, gpa: u64) -> Result<u32, OutOfBounds> {
        let mut b = [0u8; 4];
        self.read(gpa, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// A guest word shared with the guest as an atomic (the transport's control words).
    pub fn atomic_u64(&self, gpa: u64) -> Result<&AtomicU64, OutOfBounds> {
        let p = self.range(gpa, 8)?;
        if !gpa.is_multiple_of(8) {
            return Err(OutOfBounds { gpa, len: 8 });
        }
        // SAFETY: in bounds and 8-byte aligned (guest RAM is page aligned); the memory lives
        // as long as self, and every access to it from the host side is atomic.
        Ok(unsafe { AtomicU64::from_ptr(p as *mut u64) })
    }

    pub fn atomic_u32(&self, gpa: u64) -> Result<&AtomicU32, OutOfBounds> {
        let p = self.range(gpa, 4)?;
        if !gpa.is_multiple_of(4) {
            return Err(OutOfBounds { gpa, len: 4 });
        }
        // SAFETY: as for atomic_u64, with 4-byte alignment.
        Ok(unsafe { AtomicU32::from_ptr(p as *mut u32) })
    }

    pub fn write_u64(&self, gpa: u64, v: u64) -> Result<(), OutOfBounds> {
        self.write(gpa, &v.to_le_bytes())
    }

    /// A checked copy of `len` guest bytes (for areas the guest may change concurrently).
    pub fn read_vec(&self, gpa: u64, len: u64) -> Result<Vec<u8>, OutOfBounds> {
        self.range(gpa, len)?;
        let mut v = vec![0u8; len as usize];
        self.read(gpa, &mut v)?;
        Ok(v)
    }

    /// Host iovecs for a guest scatter list, every segment checked. Used for readv/writev
    /// straight into and out of guest RAM.
    pub fn iovecs(&self, segs: &[GuestSeg]) -> Result<Vec<libc::iovec>, OutOfBounds> {
        if segs.len() > MAX_SEGMENTS {
            return Err(OutOfBounds { gpa: 0, len: segs.len() as u64 });
        }
        segs.iter()
            .filter(|s| s.len > 0)
            .map(|s| {
                Ok(libc::iovec { iov_base: self.range(s.gpa, s.len)? as *mut libc::c_void, iov_len: s.len as usize })
            })
            .collect()
    }

    /// Give the host memory behind page-aligned guest ranges back to the host OS (the guest
    /// freed them). All ranges are checked before any is touched. Returns whether the
    /// ranges now read as zero (Linux: MADV_DONTNEED on private anonymous memory does that;
    /// macOS's MADV_FREE_REUSABLE leaves the contents undefined).
    pub fn release(&self, segs: &[GuestSeg]) -> Result<bool, OutOfBounds> {
        const PAGE: u64 = 4096;
        if segs.len() > MAX_SEGMENTS {
            return Err(OutOfBounds { gpa: 0, len: segs.len() as u64 });
        }
        for s in segs {
            let in_ram = s.gpa.checked_add(s.len).is_some_and(|e| e <= self.size);
            if !s.gpa.is_multiple_of(PAGE) || !s.len.is_multiple_of(PAGE) || !in_ram {
                return Err(OutOfBounds { gpa: s.gpa, len: s.len });
            }
            self.range(s.gpa, s.len)?;
        }
        let mut zeroed = true;
        for s in segs.iter().filter(|s| s.len > 0) {
            let host = self.range(s.gpa, s.len)?;
            zeroed &= self.discard(host, s.len as usize);
        }
        Ok(zeroed)
    }

    /// Drop the host pages of `[host, host+len)` (inside guest RAM, page aligned in guest
    /// RAM, which starts 2 MiB aligned). Returns whether the range now reads as zero.
    fn discard(&self, host: *mut u8, len: usize) -> bool {
        if !self.owned {
            // A test buffer on the heap: only zero it.
            // SAFETY: the range was checked to lie inside guest RAM.
            unsafe { std::ptr::write_bytes(host, 0, len) };
            return true;
        }
        #[cfg(target_os = "linux")]
        {
            // SAFETY: the range lies inside our private anonymous mapping of guest RAM; the
            // guest gave these pages up, and MADV_DONTNEED makes them read as zero later.
            if unsafe { libc::madvise(host as *mut libc::c_void, len, libc::MADV_DONTNEED) } == 0 {
                return true;
            }
            // SAFETY: as above; without the advice the pages are zeroed by hand.
            unsafe { std::ptr::write_bytes(host, 0, len) };
            true
        }
        #[cfg(not(target_os = "linux"))]
        {
            // SAFETY: the range lies inside our mapping of guest RAM and the guest gave it up;
            // the kernel may reclaim the pages, whose contents are undefined from now on.
            unsafe { libc::madvise(host as *mut libc::c_void, len, libc::MADV_FREE_REUSABLE) };
            false
        }
    }

    /// Copy `data` into the guest scatter list; returns how many bytes fit.
    pub fn write_segs(&self, segs: &[GuestSeg], data: &[u8]) -> Result<usize, OutOfBounds> {
        let mut done = 0usize;
        for s in segs {
            if done == data.len() {
                break;
            }
            let n = (s.len as usize).min(data.len() - done);
            self.write(s.gpa, &data[done..done + n])?;
            done += n;
        }
        Ok(done)
    }
}

impl Drop for GuestMemory {
    fn drop(&mut self) {
        if let Some(w) = &self.window {
            // SAFETY: unmapping the window reservation made in `new`, exactly once.
            unsafe { libc::munmap(w.base.as_ptr() as *mut libc::c_void, FILE_WINDOW_SIZE as usize) };
        }
        if self.owned {
            // SAFETY: unmapping the mapping created in `new`, exactly once.
            unsafe { libc::munmap(self.base.as_ptr() as *mut libc::c_void, self.size as usize) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn an_unshared_block_keeps_its_bytes_and_stays_writable() {
        let m = GuestMemory::new(8 << 20).unwrap();
        let block = 4 << 20;
        m.write(block - 8, b"before!!").unwrap();
        m.write(block, b"first").unwrap();
        m.write(block + (2 << 20) - 4, b"last").unwrap();
        m.write(block + (2 << 20), b"after").unwrap();
        m.unshare_huge_block(block);
        assert_eq!(m.read_vec(block - 8, 8).unwrap(), b"before!!");
        assert_eq!(m.read_vec(block, 5).unwrap(), b"first");
        assert_eq!(m.read_vec(block + (2 << 20) - 4, 4).unwrap(), b"last");
        assert_eq!(m.read_vec(block + (2 << 20), 5).unwrap(), b"after");
        assert_eq!(m.read_vec(block + 4096, 4).unwrap(), [0; 4]);
        m.write(block + 4096, b"new").unwrap();
        assert_eq!(m.read_vec(block + 4096, 3).unwrap(), b"new");
        // Not a whole aligned block inside RAM: left alone.
        m.unshare_huge_block(block + 4096);
        m.unshare_huge_block(7 << 20);
        assert_eq!(m.read_vec(block + 4096, 3).unwrap(), b"new");
    }

    #[test]
    fn ranges_outside_ram_are_rejected() {
        let mut buf = vec![0u8; 8192];
        let m = GuestMemory::from_vec_for_test(&mut buf);
        assert!(m.range(0, 8192).is_ok());
        assert!(m.range(8192, 0).is_ok());
        assert!(m.range(8191, 2).is_err());
        assert!(m.range(u64::MAX, 2).is_err());
        assert!(m.range(1, u64::MAX).is_err());
        assert!(m.iovecs(&[GuestSeg { gpa: 4096, len: 4096 }, GuestSeg { gpa: 8000, len: 1000 }]).is_err());
    }

    #[test]
    fn write_segs_scatters_in_order() {
        let mut buf = vec![0u8; 64];
        let m = GuestMemory::from_vec_for_test(&mut buf);
        let n = m.write_segs(&[GuestSeg { gpa: 10, len: 2 }, GuestSeg { gpa: 20, len: 10 }], b"abcde").unwrap();
        assert_eq!(n, 5);
        drop(m);
        assert_eq!(&buf[10..12], b"ab");
        assert_eq!(&buf[20..23], b"cde");
    }

    #[test]
    fn release_zeroes_and_checks_every_range_first() {
        let mut buf = vec![7u8; 3 * 4096];
        let m = GuestMemory::from_vec_for_test(&mut buf);
        assert!(m.release(&[GuestSeg { gpa: 0, len: 4096 }, GuestSeg { gpa: 4096, len: 8192 + 4096 }]).is_err());
        assert!(m.release(&[GuestSeg { gpa: 100, len: 4096 }]).is_err());
        assert_eq!(m.release(&[GuestSeg { gpa: 4096, len: 4096 }]), Ok(true));
        drop(m);
        assert!(buf[..4096].iter().all(|&b| b == 7), "a refused request changes nothing");
        assert!(buf[4096..8192].iter().all(|&b| b == 0));
        assert!(buf[8192..].iter().all(|&b| b == 7));
    }

    #[test]
    fn remove_interval_splits_and_drops() {
        let mut set = BTreeMap::from([(0x1000, 0x5000), (0x6000, 0x8000)]);
        remove_interval(&mut set, 0x2000, 0x3000);
        assert_eq!(set, BTreeMap::from([(0x1000, 0x2000), (0x3000, 0x5000), (0x6000, 0x8000)]));
        remove_interval(&mut set, 0x4000, 0x7000);
        assert_eq!(set, BTreeMap::from([(0x1000, 0x2000), (0x3000, 0x4000), (0x7000, 0x8000)]));
        remove_interval(&mut set, 0, 0x10000);
        assert!(set.is_empty());
    }

    #[test]
    fn window_ranges_are_checked() {
        let m = GuestMemory::new(64 << 20).unwrap();
        assert!(m.range(FILE_WINDOW_GPA, 4096).is_err(), "an unmapped window range is not accessible");
        let file = tempfile_with(8192);
        use std::os::fd::AsRawFd;
        m.map_window(FILE_WINDOW_GPA + 4096, 8192, file.as_raw_fd(), 0, true).unwrap();
        assert!(m.range(FILE_WINDOW_GPA + 4096, 8192).is_ok());
        assert!(m.range(FILE_WINDOW_GPA, 8192).is_err());
        m.write(FILE_WINDOW_GPA + 4096, b"via the window").unwrap();
        m.sync_window(FILE_WINDOW_GPA + 4096, 4096).unwrap();
        let mut back = [0u8; 14];
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut back, 0).unwrap();
        assert_eq!(&back, b"via the window", "writes reach the file");
        m.unmap_window(FILE_WINDOW_GPA + 4096, 4096).unwrap();
        assert!(m.range(FILE_WINDOW_GPA + 4096, 1).is_err());
        assert!(m.range(FILE_WINDOW_GPA + 8192, 4096).is_ok());
        assert!(m.map_window(FILE_WINDOW_GPA - 4096, 8192, file.as_raw_fd(), 0, true).is_err());
        assert!(m.map_window(FILE_WINDOW_GPA + FILE_WINDOW_SIZE, 4096, file.as_raw_fd(), 0, true).is_err());
        assert!(m.release(&[GuestSeg { gpa: FILE_WINDOW_GPA + 8192, len: 4096 }]).is_err(), "only RAM is released");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn window_ranges_remap_longer_and_punch_holes() {
        use std::os::fd::AsRawFd;
        use std::os::unix::fs::FileExt;
        let m = GuestMemory::new(64 << 20).unwrap();
        let file = tempfile_with(3 * 4096);
        file.write_all_at(b"second page", 4096).unwrap();
        file.write_all_at(b"third page", 2 * 4096).unwrap();
        let (old, new) = (FILE_WINDOW_GPA + 4096, FILE_WINDOW_GPA + (1 << 20));
        m.map_window(old, 4096, file.as_raw_fd(), 4096, true).unwrap();
        assert!(m.remap_window(old, old, 4096).is_err(), "the target must be free");
        assert!(m.remap_window(old + 4096, new, 4096).is_err(), "the source must be mapped");
        m.remap_window(old, new, 2 * 4096).unwrap();
        assert_eq!(m.read_vec(old, 11).unwrap(), b"second page", "the old range stays");
        assert_eq!(m.read_vec(new, 11).unwrap(), b"second page", "the same file offset");
        assert_eq!(m.read_vec(new + 4096, 10).unwrap(), b"third page", "and the file goes on past the old end");
        m.write(new + 4096, b"THIRD").unwrap();
        let mut back = [0u8; 5];
        file.read_exact_at(&mut back, 2 * 4096).unwrap();
        assert_eq!(&back, b"THIRD", "the new range is a shared mapping of the file");
        assert_eq!(m.window_page_backed(new + 4096), Some(true));
        m.remove_window(new + 4096, 4096).unwrap();
        file.read_exact_at(&mut back, 2 * 4096).unwrap();
        assert_eq!(back, [0; 5], "MADV_REMOVE punched a hole");
        assert!(m.remove_window(FILE_WINDOW_GPA + (2 << 20), 4096).is_err(), "nothing mapped there");
        m.unmap_window(old, 4096).unwrap();
        m.unmap_window(new, 2 * 4096).unwrap();
    }

    fn tempfile_with(len: u64) -> std::fs::File {
        // Tests run in parallel: each file gets its own name.
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("linuxrun-window-test-{}-{n}", std::process::id()));
        let f = std::fs::OpenOptions::new().read(true).write(true).create(true).truncate(true).open(&path).unwrap();
        std::fs::remove_file(&path).unwrap();
        f.set_len(len).unwrap();
        f
    }

    #[test]
    fn too_many_segments_are_rejected() {
        let mut buf = vec![0u8; 64];
        let m = GuestMemory::from_vec_for_test(&mut buf);
        let segs = vec![GuestSeg { gpa: 0, len: 1 }; MAX_SEGMENTS + 1];
        assert!(m.iovecs(&segs).is_err());
    }
}
