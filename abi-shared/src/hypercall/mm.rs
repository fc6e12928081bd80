//! Guest memory and the host files behind it: releasing RAM, held files for page faults, shared
//! file windows.

use super::SegList;
use serde::{Deserialize, Serialize};

/// `Request::Mm`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum MmRequest<'a> {
    /// Guest RAM the guest no longer uses (freed by munmap, MADV_DONTNEED, brk): the host
    /// gives its backing memory back to the host OS. Page-aligned ranges inside guest RAM.
    /// Answer `Ret(1)`: the ranges now read as zero; `Ret(0)`: released, contents undefined
    /// (the guest must zero them before reuse).
    ReleaseMemory { ranges: SegList<'a> },
    /// mmap of `fd`: hold its file for demand paging, independently of the fd (the program
    /// may close it). `write` when the mapping may write the file (MAP_SHARED with
    /// PROT_WRITE), which needs the fd open for writing. Answer: a handle (>= 0, held files
    /// are shared by all mappings of one file) or -errno (ENODEV: not a regular file).
    FileHold { fd: i32, write: bool },
    /// pread from a held file into guest RAM (page faults of file mappings).
    FileRead { handle: i32, buf: SegList<'a>, offset: u64 },
    /// The last mapping of a held file is gone.
    FileRelease { handle: i32 },
    /// MAP_SHARED of `fd`: map `len` bytes of the file from `offset` at `gpa` in the file
    /// window (writable when the fd allows, so that mprotect can add PROT_WRITE later;
    /// `write`: the mapping wants PROT_WRITE now, EACCES without an O_RDWR fd). Answer:
    /// `Ret(size << 1 | writable)` with the file's size, or -errno.
    FileMapShared { fd: i32, offset: u64, len: u64, gpa: u64, write: bool },
    /// Take a range of the file window back (munmap of shared file pages).
    FileUnmapShared { gpa: u64, len: u64 },
    /// msync(MS_SYNC) of a range of the file window.
    FileSyncShared { gpa: u64, len: u64 },
    /// mremap of a shared mapping: map what is mapped at window page `from` (the same file,
    /// from the same offset) again at the free window range `[to, to+len)`, `len` bytes,
    /// which may reach past the old range's end (the file goes on there). The old range
    /// stays mapped until the guest unmaps it. Answer: `Ret(0)` or -errno.
    FileRemapShared { from: u64, to: u64, len: u64 },
    /// madvise(MADV_REMOVE) of a range of the file window: free the file's pages there
    /// (punch a hole; they read as zero afterwards).
    FileRemoveShared { gpa: u64, len: u64 },
    /// Whether the file behind the file-window page at `gpa` reaches that page now (a
    /// shared file mapping's file may have grown or shrunk since mmap): `Ret(1)` yes,
    /// `Ret(0)` the page lies past its end, `Ret(-EINVAL)` no file is mapped there.
    WindowPageBacked { gpa: u64 },
}
