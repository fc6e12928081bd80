//! The guest's allocator of file-window space (abi_shared::layout::FILE_WINDOW_GPA): each
//! MAP_SHARED file mapping gets a guest-physical range there, where the host maps the
//! file. First fit over free ranges; freed ranges merge with their neighbours.

use alloc::collections::BTreeMap;

/// Free ranges, start -> length.
pub struct RangeAlloc {
    free: BTreeMap<u64, u64>,
}

impl RangeAlloc {
    pub const fn empty() -> RangeAlloc {
        RangeAlloc { free: BTreeMap::new() }
    }

    pub fn new(start: u64, len: u64) -> RangeAlloc {
        let mut a = RangeAlloc::empty();
        a.free.insert(start, len);
        a
    }

    pub fn alloc(&mut self, len: u64) -> Option<u64> {
        let (&start, &have) = self.free.iter().find(|(_, &l)| l >= len)?;
        self.free.remove(&start);
        if have > len {
            self.free.insert(start + len, have - len);
        }
        Some(start)
    }

    pub fn free(&mut self, start: u64, len: u64) {
        let (mut start, mut len) = (start, len);
        if let Some((&ps, &pl)) = self.free.range(..start).next_back() {
            if ps + pl == start {
                self.free.remove(&ps);
                start = ps;
                len += pl;
            }
        }
        if let Some(nl) = self.free.remove(&(start + len)) {
            len += nl;
        }
        self.free.insert(start, len);
    }
}

#[cfg(target_os = "none")]
pub static WINDOW: spin::Mutex<Option<RangeAlloc>> = spin::Mutex::new(None);

/// A window range of `len` bytes (page multiple), or None when the window is full.
#[cfg(target_os = "none")]
pub fn alloc(len: u64) -> Option<u64> {
    use abi_shared::layout::{FILE_WINDOW_GPA, FILE_WINDOW_SIZE};
    let mut w = WINDOW.lock();
    w.get_or_insert_with(|| RangeAlloc::new(FILE_WINDOW_GPA, FILE_WINDOW_SIZE)).alloc(len)
}

#[cfg(target_os = "none")]
pub fn free(start: u64, len: u64) {
    super::filemap::forget_truncation(start, start + len);
    if let Some(w) = WINDOW.lock().as_mut() {
        w.free(start, len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_fit_and_merge_back() {
        let mut a = RangeAlloc::new(0x10000, 0x10000);
        let x = a.alloc(0x4000).unwrap();
        let y = a.alloc(0x4000).unwrap();
        let z = a.alloc(0x8000).unwrap();
        assert_eq!((x, y, z), (0x10000, 0x14000, 0x18000));
        assert_eq!(a.alloc(0x1000), None);
        a.free(y, 0x4000);
        assert_eq!(a.alloc(0x8000), None, "a hole of 16 KiB holds no 32 KiB");
        a.free(x, 0x4000);
        a.free(z, 0x8000);
        assert_eq!(a.alloc(0x10000), Some(0x10000), "everything merged back into one range");
    }
}
