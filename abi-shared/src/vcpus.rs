//! Sets of vCPU indexes: which vCPUs of a process to kick, which run threads. A process
//! has at most `MAX_VCPUS` vCPUs, more than a machine word holds.

use core::sync::atomic::{AtomicU64, Ordering};

use serde::{Deserialize, Serialize};

use crate::layout::MAX_VCPUS;

const WORDS: usize = (MAX_VCPUS as usize).div_ceil(64);

/// A set of vCPU indexes (each below `MAX_VCPUS`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct VcpuSet {
    words: [u64; WORDS],
}

impl VcpuSet {
    pub const EMPTY: VcpuSet = VcpuSet { words: [0; WORDS] };

    /// Every index.
    pub const fn all() -> VcpuSet {
        VcpuSet { words: [u64::MAX; WORDS] }
    }

    pub const fn only(index: u32) -> VcpuSet {
        VcpuSet::EMPTY.with(index)
    }

    /// The set with `index` added (an index out of range is ignored).
    pub const fn with(mut self, index: u32) -> VcpuSet {
        if (index as u64) < MAX_VCPUS {
            self.words[index as usize / 64] |= 1 << (index % 64);
        }
        self
    }

    /// The set without `index`.
    pub const fn without(mut self, index: u32) -> VcpuSet {
        if (index as u64) < MAX_VCPUS {
            self.words[index as usize / 64] &= !(1 << (index % 64));
        }
        self
    }

    pub const fn contains(&self, index: u32) -> bool {
        (index as u64) < MAX_VCPUS && self.words[index as usize / 64] & (1 << (index % 64)) != 0
    }

    pub fn is_empty(&self) -> bool {
        self.words.iter().all(|&w| w == 0)
    }

    /// The indexes in the set, lowest first.
    pub fn iter(self) -> impl Iterator<Item = u32> {
        (0..WORDS).flat_map(move |i| {
            let mut w = self.words[i];
            core::iter::from_fn(move || {
                (w != 0).then(|| {
                    let bit = w.trailing_zeros();
                    w &= w - 1;
                    i as u32 * 64 + bit
                })
            })
        })
    }
}

/// A `VcpuSet` shared between vCPUs: each index is set and cleared atomically.
pub struct AtomicVcpuSet {
    words: [AtomicU64; WORDS],
}

impl AtomicVcpuSet {
    /// A set holding `index` only.
    pub const fn only(index: u32) -> AtomicVcpuSet {
        let set = VcpuSet::only(index);
        let mut words = [const { AtomicU64::new(0) }; WORDS];
        let mut i = 0;
        while i < WORDS {
            words[i] = AtomicU64::new(set.words[i]);
            i += 1;
        }
        AtomicVcpuSet { words }
    }

    pub fn insert(&self, index: u32) {
        if (index as u64) < MAX_VCPUS {
            self.words[index as usize / 64].fetch_or(1 << (index % 64), Ordering::SeqCst);
        }
    }

    pub fn remove(&self, index: u32) {
        if (index as u64) < MAX_VCPUS {
            self.words[index as usize / 64].fetch_and(!(1 << (index % 64)), Ordering::SeqCst);
        }
    }

    pub fn contains(&self, index: u32) -> bool {
        (index as u64) < MAX_VCPUS && self.words[index as usize / 64].load(Ordering::SeqCst) & (1 << (index % 64)) != 0
    }

    /// Make it hold `index` only.
    pub fn set_only(&self, index: u32) {
        let set = VcpuSet::only(index);
        for (w, v) in self.words.iter().zip(set.words) {
            w.store(v, Ordering::SeqCst);
        }
    }

    /// The indexes now in the set (each word read atomically).
    pub fn load(&self) -> VcpuSet {
        let mut set = VcpuSet::EMPTY;
        for (v, w) in set.words.iter_mut().zip(&self.words) {
            *v = w.load(Ordering::SeqCst);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indexes_beyond_one_word_are_kept_and_listed_in_order() {
        let s = VcpuSet::EMPTY.with(3).with(64).with(200).with(MAX_VCPUS as u32);
        assert!(s.contains(64) && s.contains(200) && !s.contains(65));
        let mut it = s.iter();
        assert_eq!((it.next(), it.next(), it.next(), it.next()), (Some(3), Some(64), Some(200), None));
        assert!(s.without(64).without(3).without(200).is_empty());
        let a = AtomicVcpuSet::only(0);
        a.insert(130);
        a.remove(0);
        assert_eq!(a.load(), VcpuSet::only(130));
    }
}
