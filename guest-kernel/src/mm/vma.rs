//! The map of user virtual memory areas (VMAs): which ranges exist and with what
//! protection. Pure bookkeeping, unit-tested on the host; page tables are elsewhere.

use alloc::collections::BTreeMap;
use alloc::sync::Arc;
use alloc::vec::Vec;

pub const PROT_READ: u32 = abi_shared::linux::general::PROT_READ;
pub const PROT_WRITE: u32 = abi_shared::linux::general::PROT_WRITE;
pub const PROT_EXEC: u32 = abi_shared::linux::general::PROT_EXEC;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaKind {
    /// Anonymous private memory: zero-filled on first touch.
    Anon,
    /// The program break area.
    Heap,
    /// The main thread's stack, and MAP_GROWSDOWN mappings: they grow down on faults
    /// below them.
    Stack,
    /// A loaded ELF segment (its pages were filled at load time).
    Image,
    /// A file mapping (`Vma::file` says which file).
    File,
    /// The vDSO's clock parameters ("[vvar]" in /proc/self/maps).
    Vvar,
    /// The vDSO's ELF image ("[vdso]" in /proc/self/maps).
    Vdso,
}

impl VmaKind {
    /// The pseudo-path /proc/self/maps shows for this kind, if it has one.
    pub fn maps_name(self) -> Option<&'static str> {
        match self {
            VmaKind::Vvar => Some("[vvar]"),
            VmaKind::Vdso => Some("[vdso]"),
            _ => None,
        }
    }
}

/// The file a mapping shows in /proc/<pid>/maps: a name (an id the procfs name table
/// gives out) and the file offset of the VMA's first byte. Kept apart from `FileBacking`
/// because loaded ELF segments have a name but no backing (their pages were copied).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRef {
    pub name: u32,
    pub offset: u64,
}

/// A host file held open for the mappings of it (the program may close its fd): the
/// monitor's handle, released when the last VMA using it goes (VMA splits share it).
#[derive(Debug, PartialEq, Eq)]
pub struct HeldFile {
    pub handle: i32,
}

impl Drop for HeldFile {
    fn drop(&mut self) {
        #[cfg(target_os = "none")]
        crate::hypercall::call_ret(&abi_shared::hypercall::Request::Mm(
            abi_shared::hypercall::MmRequest::FileRelease { handle: self.handle },
        ));
    }
}

/// What backs a file VMA.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileBacking {
    /// The held file private pages are read from (None for shared mappings: the host's
    /// own mapping of the file keeps it).
    pub file: Option<Arc<HeldFile>>,
    /// File offset of the VMA's first byte.
    pub offset: u64,
    /// MAP_SHARED: guest-physical address of the VMA's first byte in the file window,
    /// where the host mapped the file; the pages are the file's own, not copies.
    pub window: Option<u64>,
    /// Size of the file when it was mapped (shared: pages wholly beyond it are SIGBUS).
    pub size: u64,
    /// Shared: whether the host mapping may be written (the fd was O_RDWR).
    pub may_write: bool,
    /// A SysV shared memory attachment (shmat): what shmdt detaches. `offset` counts from
    /// the segment's start and `size` is the segment's size in pages.
    pub sysv_shm: bool,
}

impl FileBacking {
    pub fn private(file: Arc<HeldFile>, offset: u64) -> FileBacking {
        FileBacking { file: Some(file), offset, window: None, size: 0, may_write: true, sysv_shm: false }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: u32,
    pub kind: VmaKind,
    pub file: Option<FileBacking>,
    /// What /proc/self/maps names this mapping after.
    pub name: Option<FileRef>,
    /// mlock'ed (Linux's VM_LOCKED): its pages may not be discarded (MADV_DONTNEED and its
    /// kin are EINVAL there). Guest memory is never paged out, so that is all it means here.
    pub locked: bool,
    /// MADV_WIPEONFORK: a forked child finds zeros here.
    pub wipe_on_fork: bool,
}

impl Vma {
    pub fn anon(start: u64, end: u64, prot: u32, kind: VmaKind) -> Vma {
        Vma { start, end, prot, kind, file: None, name: None, locked: false, wipe_on_fork: false }
    }

    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    /// The part `[start, end)` of this VMA (inside it), its file offset adjusted.
    pub fn slice(&self, start: u64, end: u64) -> Vma {
        self.moved(start, end, start)
    }

    /// This VMA's bytes from `from` on, placed at `[start, end)` (mremap, which may also
    /// extend it past its old end: the file offset continues).
    pub fn moved(&self, start: u64, end: u64, from: u64) -> Vma {
        let delta = from - self.start;
        let file = self.file.as_ref().map(|f| FileBacking {
            offset: f.offset + delta,
            window: f.window.map(|w| w + delta),
            ..f.clone()
        });
        let name = self.name.map(|n| FileRef { offset: n.offset + delta, ..n });
        Vma { start, end, file, name, ..self.clone() }
    }

    /// File offset of `addr` (inside the VMA), for file VMAs.
    pub fn file_offset(&self, addr: u64) -> Option<u64> {
        self.file.as_ref().map(|f| f.offset + (addr - self.start))
    }

    fn can_merge_with(&self, next: &Vma) -> bool {
        let files_continue = match (&self.file, &next.file) {
            (None, None) => true,
            // Shared mappings never merge: each owns its own window range.
            (Some(a), Some(b)) => match (&a.file, &b.file) {
                (Some(fa), Some(fb)) => {
                    Arc::ptr_eq(fa, fb) && a.window.is_none() && a.offset + (self.end - self.start) == b.offset
                }
                _ => false,
            },
            _ => false,
        };
        // Named mappings merge only where the name continues (same file, adjacent offsets).
        let name_continues = self.name.map(|f| (f.name, f.offset + (self.end - self.start)));
        self.end == next.start
            && self.prot == next.prot
            && self.kind == next.kind
            && self.locked == next.locked
            && self.wipe_on_fork == next.wipe_on_fork
            && files_continue
            && name_continues == next.name.map(|f| (f.name, f.offset))
    }
}

/// VMAs keyed by start address; never overlapping.
#[derive(Default, Debug)]
pub struct VmaMap {
    map: BTreeMap<u64, Vma>,
}

impl VmaMap {
    pub const fn new() -> VmaMap {
        VmaMap { map: BTreeMap::new() }
    }

    /// How many VMAs there are (Linux caps this at vm.max_map_count).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn find(&self, addr: u64) -> Option<&Vma> {
        self.map.range(..=addr).next_back().map(|(_, v)| v).filter(|v| v.contains(addr))
    }

    pub fn iter(&self) -> impl Iterator<Item = &Vma> {
        self.map.values()
    }

    /// Whether no VMA intersects `[start, end)`.
    pub fn is_free(&self, start: u64, end: u64) -> bool {
        if let Some((_, v)) = self.map.range(..end).next_back() {
            if v.end > start {
                return false;
            }
        }
        true
    }

    /// The first VMA that starts above `addr`.
    pub fn next_above(&self, addr: u64) -> Option<&Vma> {
        self.map.range(addr.saturating_add(1)..).next().map(|(_, v)| v)
    }

    /// The last VMA that starts below `addr`.
    pub fn prev_below(&self, addr: u64) -> Option<&Vma> {
        self.map.range(..addr).next_back().map(|(_, v)| v)
    }

    /// The VMAs that intersect `[start, end)`, in address order.
    pub fn overlapping(&self, start: u64, end: u64) -> impl Iterator<Item = &Vma> {
        let first = self.map.range(..=start).next_back().filter(|(_, v)| v.end > start).map(|(&k, _)| k);
        let from = first.unwrap_or(start);
        self.map.range(from..end).map(|(_, v)| v).filter(move |v| v.end > start)
    }

    /// Whether `[start, end)` is entirely covered by VMAs (mprotect/mremap need that).
    pub fn is_fully_mapped(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.find(at) {
                Some(v) => at = v.end,
                None => return false,
            }
        }
        true
    }

    /// Add a VMA over free space, merging with compatible neighbours.
    pub fn insert(&mut self, vma: Vma) {
        debug_assert!(vma.start < vma.end && self.is_free(vma.start, vma.end));
        let mut vma = vma;
        if let Some((&pstart, prev)) = self.map.range(..vma.start).next_back() {
            if prev.can_merge_with(&vma) {
                vma = Vma { end: vma.end, ..prev.clone() };
                self.map.remove(&pstart);
            }
        }
        if let Some(next) = self.map.get(&vma.end) {
            if vma.can_merge_with(next) {
                vma.end = next.end;
                let key = next.start;
                self.map.remove(&key);
            }
        }
        self.map.insert(vma.start, vma);
    }

    /// Split any VMA that straddles `addr`, so that `addr` is a boundary.
    fn split_at(&mut self, addr: u64) {
        let Some(v) = self.find(addr).cloned() else { return };
        if v.start == addr {
            return;
        }
        self.map.insert(v.start, v.slice(v.start, addr));
        self.map.insert(addr, v.slice(addr, v.end));
    }

    /// Record that `[start, end)` shows as `name` in /proc/self/maps (its offset is that of
    /// `start`).
    pub fn set_name(&mut self, start: u64, end: u64, name: FileRef) {
        for p in self.remove_range(start, end) {
            let offset = name.offset + (p.start - start);
            self.insert(Vma { name: Some(FileRef { offset, ..name }), ..p });
        }
    }

    /// Remove `[start, end)` from the map; returns the removed pieces (to free their pages).
    pub fn remove_range(&mut self, start: u64, end: u64) -> Vec<Vma> {
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<u64> = self.map.range(start..end).map(|(&k, _)| k).collect();
        keys.into_iter().filter_map(|k| self.map.remove(&k)).collect()
    }

    /// Set the protection of `[start, end)`, which must be fully mapped.
    pub fn protect_range(&mut self, start: u64, end: u64, prot: u32) -> Result<(), ()> {
        self.update_range(start, end, |v| v.prot = prot)
    }

    /// Change the VMAs of `[start, end)`, which must be fully mapped, with `change` (the
    /// ones that straddle its ends are split first, and pieces merge again where they can).
    pub fn update_range(&mut self, start: u64, end: u64, change: impl Fn(&mut Vma)) -> Result<(), ()> {
        if !self.is_fully_mapped(start, end) {
            return Err(());
        }
        let pieces = self.remove_range(start, end);
        for mut p in pieces {
            change(&mut p);
            self.insert(p);
        }
        Ok(())
    }

    /// Highest free range of `len` bytes that ends at or below `top` and starts at or above
    /// `bottom` (Linux's top-down mmap placement).
    pub fn find_free_topdown(&self, len: u64, bottom: u64, top: u64) -> Option<u64> {
        let mut ceiling = top;
        for v in self.map.range(..top).rev().map(|(_, v)| v) {
            if v.end <= ceiling && ceiling - v.end >= len {
                return Some(ceiling - len);
            }
            ceiling = ceiling.min(v.start);
            if ceiling < bottom.saturating_add(len) {
                return None;
            }
        }
        (ceiling >= bottom.saturating_add(len)).then(|| ceiling - len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn anon(start: u64, end: u64, prot: u32) -> Vma {
        Vma::anon(start, end, prot, VmaKind::Anon)
    }

    fn file(start: u64, end: u64, held: &Arc<HeldFile>, offset: u64) -> Vma {
        let file = Some(FileBacking::private(held.clone(), offset));
        Vma { file, ..Vma::anon(start, end, PROT_READ, VmaKind::File) }
    }

    #[test]
    fn names_keep_offsets_when_split_and_merge_only_where_contiguous() {
        let mut m = VmaMap::new();
        m.insert(anon(0x1000, 0x5000, PROT_READ));
        m.set_name(0x1000, 0x5000, FileRef { name: 1, offset: 0x10000 });
        m.protect_range(0x3000, 0x4000, PROT_READ | PROT_WRITE).unwrap();
        let v = m.find(0x3000).unwrap().clone();
        assert_eq!((v.start, v.name), (0x3000, Some(FileRef { name: 1, offset: 0x12000 })));
        assert_eq!(m.find(0x4000).unwrap().name, Some(FileRef { name: 1, offset: 0x13000 }));
        m.protect_range(0x3000, 0x4000, PROT_READ).unwrap();
        assert_eq!(m.iter().count(), 1, "the same file at contiguous offsets merges back");
        m.insert(Vma { name: Some(FileRef { name: 2, offset: 0 }), ..anon(0x5000, 0x6000, PROT_READ) });
        assert_eq!(m.iter().count(), 2, "another file does not merge");
    }

    #[test]
    fn file_vmas_split_with_offsets_and_share_the_file() {
        let held = Arc::new(HeldFile { handle: 7 });
        let mut m = VmaMap::new();
        m.insert(file(0x10000, 0x20000, &held, 0x3000));
        let removed = m.remove_range(0x14000, 0x15000);
        assert_eq!(removed[0].file_offset(0x14000), Some(0x7000));
        assert_eq!(m.find(0x15000).unwrap().file_offset(0x15000), Some(0x8000));
        assert_eq!(Arc::strong_count(&held), 4, "both pieces and the removed one hold the file");
        drop(removed);
        assert_eq!(Arc::strong_count(&held), 3);
        // Putting the middle back with the right offset merges all three again.
        m.insert(file(0x14000, 0x15000, &held, 0x7000));
        assert_eq!(m.iter().count(), 1);
        // A wrong offset, or another file, does not merge.
        m.remove_range(0x14000, 0x15000);
        m.insert(file(0x14000, 0x15000, &held, 0x9000));
        assert_eq!(m.iter().count(), 3);
        m.remove_range(0x10000, 0x20000);
        assert_eq!(Arc::strong_count(&held), 1, "the last VMA gone, the file is released");
    }

    #[test]
    fn find_and_merge() {
        let mut m = VmaMap::new();
        m.insert(anon(0x1000, 0x3000, PROT_READ));
        m.insert(anon(0x3000, 0x5000, PROT_READ));
        assert_eq!(m.iter().count(), 1, "adjacent compatible VMAs merge");
        assert_eq!(m.find(0x4fff).unwrap().start, 0x1000);
        assert!(m.find(0x5000).is_none());
        assert!(m.find(0xfff).is_none());
    }

    #[test]
    fn remove_middle_splits() {
        let mut m = VmaMap::new();
        m.insert(anon(0x1000, 0x9000, PROT_READ | PROT_WRITE));
        let removed = m.remove_range(0x3000, 0x5000);
        assert_eq!(removed, [anon(0x3000, 0x5000, PROT_READ | PROT_WRITE)]);
        let left: Vec<_> = m.iter().map(|v| (v.start, v.end)).collect();
        assert_eq!(left, [(0x1000, 0x3000), (0x5000, 0x9000)]);
    }

    #[test]
    fn protect_requires_full_coverage() {
        let mut m = VmaMap::new();
        m.insert(anon(0x1000, 0x3000, PROT_READ));
        assert!(m.protect_range(0x1000, 0x4000, PROT_READ | PROT_WRITE).is_err());
        assert!(m.protect_range(0x2000, 0x3000, PROT_READ | PROT_WRITE).is_ok());
        assert_eq!(m.find(0x1000).unwrap().prot, PROT_READ);
        assert_eq!(m.find(0x2000).unwrap().prot, PROT_READ | PROT_WRITE);
        m.protect_range(0x2000, 0x3000, PROT_READ).unwrap();
        assert_eq!(m.iter().count(), 1, "restoring the protection merges again");
    }

    #[test]
    fn locks_split_and_merge_back() {
        let mut m = VmaMap::new();
        m.insert(anon(0x1000, 0x5000, PROT_READ));
        assert!(m.update_range(0x2000, 0x6000, |v| v.locked = true).is_err(), "a hole refuses");
        m.update_range(0x2000, 0x3000, |v| v.locked = true).unwrap();
        let locked: Vec<_> = m.iter().map(|v| (v.start, v.locked)).collect();
        assert_eq!(locked, [(0x1000, false), (0x2000, true), (0x3000, false)]);
        m.update_range(0x1000, 0x5000, |v| v.wipe_on_fork = true).unwrap();
        assert_eq!(m.iter().count(), 3, "a lock keeps its VMA apart");
        m.update_range(0x2000, 0x3000, |v| v.locked = false).unwrap();
        assert_eq!(m.iter().count(), 1, "unlocked again, it merges");
        assert!(m.find(0x4000).unwrap().wipe_on_fork);
    }

    #[test]
    fn topdown_placement_skips_used_ranges() {
        let mut m = VmaMap::new();
        m.insert(anon(0x8000, 0xa000, PROT_READ));
        assert_eq!(m.find_free_topdown(0x1000, 0x1000, 0xa000), Some(0x7000));
        assert_eq!(m.find_free_topdown(0x1000, 0x1000, 0xb000), Some(0xa000));
        assert_eq!(m.find_free_topdown(0x8000, 0x1000, 0xa000), None);
        assert_eq!(m.find_free_topdown(0x7000, 0x1000, 0xa000), Some(0x1000));
    }

    #[test]
    fn overlapping_finds_partial_and_whole_vmas() {
        let mut m = VmaMap::new();
        m.insert(anon(0x1000, 0x3000, PROT_READ));
        m.insert(anon(0x4000, 0x5000, PROT_WRITE));
        m.insert(anon(0x6000, 0x7000, PROT_READ));
        let starts: Vec<u64> = m.overlapping(0x2000, 0x6000).map(|v| v.start).collect();
        assert_eq!(starts, [0x1000, 0x4000]);
        assert_eq!(m.overlapping(0x3000, 0x4000).count(), 0);
        assert_eq!(m.overlapping(0x0, 0x8000).count(), 3);
    }

    #[test]
    fn is_free_detects_overlap() {
        let mut m = VmaMap::new();
        m.insert(anon(0x2000, 0x4000, PROT_READ));
        assert!(m.is_free(0x1000, 0x2000));
        assert!(!m.is_free(0x1000, 0x2001));
        assert!(!m.is_free(0x3fff, 0x5000));
        assert!(m.is_free(0x4000, 0x5000));
    }
}
