//! The map of user virtual memory areas (VMAs): which ranges exist and with what
//! protection. Pure bookkeeping, unit-tested on the host; page tables are elsewhere.

use alloc::collections::BTreeMap;
use alloc::vec::Vec;

pub const PROT_READ: u32 = 1;
pub const PROT_WRITE: u32 = 2;
pub const PROT_EXEC: u32 = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmaKind {
    /// Anonymous private memory: zero-filled on first touch.
    Anon,
    /// The program break area.
    Heap,
    /// The main thread's stack.
    Stack,
    /// A loaded ELF segment (its pages were filled at load time).
    Image,
    /// The vDSO's clock parameters ("[vvar]" in /proc/self/maps).
    Vvar,
    /// The vDSO's ELF image ("[vdso]" in /proc/self/maps).
    Vdso,
}

impl VmaKind {
    /// The pseudo-path /proc/self/maps shows for this kind, if it has one.
    #[allow(dead_code)] // for /proc/self/maps, which the guest does not serve yet
    pub fn maps_name(self) -> Option<&'static str> {
        match self {
            VmaKind::Vvar => Some("[vvar]"),
            VmaKind::Vdso => Some("[vdso]"),
            _ => None,
        }
    }
}

/// The file a mapping shows in /proc/<pid>/maps: a name (an id the procfs name table
/// gives out) and the file offset of the VMA's first byte.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileRef {
    pub name: u32,
    pub offset: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Vma {
    pub start: u64,
    pub end: u64,
    pub prot: u32,
    pub kind: VmaKind,
    pub file: Option<FileRef>,
}

impl Vma {
    pub fn contains(&self, addr: u64) -> bool {
        self.start <= addr && addr < self.end
    }

    fn can_merge_with(&self, next: &Vma) -> bool {
        // File mappings merge only where the file continues (same name, adjacent offsets).
        let continues = self.file.map(|f| (f.name, f.offset + (self.end - self.start)));
        self.end == next.start
            && self.prot == next.prot
            && self.kind == next.kind
            && continues == next.file.map(|f| (f.name, f.offset))
    }

    /// The file reference of the part of this VMA that starts at `addr`.
    pub fn file_at(&self, addr: u64) -> Option<FileRef> {
        self.file.map(|f| FileRef { offset: f.offset + (addr - self.start), ..f })
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
                vma.start = pstart;
                vma.file = prev.file;
                self.map.remove(&pstart);
            }
        }
        if let Some(next) = self.map.get(&vma.end).copied() {
            if vma.can_merge_with(&next) {
                vma.end = next.end;
                self.map.remove(&next.start);
            }
        }
        self.map.insert(vma.start, vma);
    }

    /// Split any VMA that straddles `addr`, so that `addr` is a boundary.
    fn split_at(&mut self, addr: u64) {
        let Some(v) = self.find(addr).copied() else { return };
        if v.start == addr {
            return;
        }
        self.map.insert(v.start, Vma { end: addr, ..v });
        self.map.insert(addr, Vma { start: addr, file: v.file_at(addr), ..v });
    }

    /// Record that `[start, end)` maps `file` (its offset is that of `start`).
    pub fn set_file(&mut self, start: u64, end: u64, file: FileRef) {
        for p in self.remove_range(start, end) {
            let offset = file.offset + (p.start - start);
            self.insert(Vma { file: Some(FileRef { offset, ..file }), ..p });
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
        if !self.is_fully_mapped(start, end) {
            return Err(());
        }
        let pieces = self.remove_range(start, end);
        for p in pieces {
            self.insert(Vma { prot, ..p });
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
        Vma { start, end, prot, kind: VmaKind::Anon, file: None }
    }

    #[test]
    fn file_mappings_keep_offsets_when_split_and_merge_only_where_contiguous() {
        let mut m = VmaMap::new();
        m.insert(anon(0x1000, 0x5000, PROT_READ));
        m.set_file(0x1000, 0x5000, FileRef { name: 1, offset: 0x10000 });
        m.protect_range(0x3000, 0x4000, PROT_READ | PROT_WRITE).unwrap();
        let v = *m.find(0x3000).unwrap();
        assert_eq!((v.start, v.file), (0x3000, Some(FileRef { name: 1, offset: 0x12000 })));
        assert_eq!(m.find(0x4000).unwrap().file, Some(FileRef { name: 1, offset: 0x13000 }));
        m.protect_range(0x3000, 0x4000, PROT_READ).unwrap();
        assert_eq!(m.iter().count(), 1, "the same file at contiguous offsets merges back");
        m.insert(Vma { file: Some(FileRef { name: 2, offset: 0 }), ..anon(0x5000, 0x6000, PROT_READ) });
        assert_eq!(m.iter().count(), 2, "another file does not merge");
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
    fn topdown_placement_skips_used_ranges() {
        let mut m = VmaMap::new();
        m.insert(anon(0x8000, 0xa000, PROT_READ));
        assert_eq!(m.find_free_topdown(0x1000, 0x1000, 0xa000), Some(0x7000));
        assert_eq!(m.find_free_topdown(0x1000, 0x1000, 0xb000), Some(0xa000));
        assert_eq!(m.find_free_topdown(0x8000, 0x1000, 0xa000), None);
        assert_eq!(m.find_free_topdown(0x7000, 0x1000, 0xa000), Some(0x1000));
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
