//! The pure rules behind the small guest-served calls of misc.rs (mlock ranges and flags,
//! personality, memfd_create's flags), kept apart so they are unit-tested on the host.

use abi_shared::layout::PAGE_SIZE;

/// EINVAL as a syscall result.
const EINVAL: i64 = -(abi_shared::linux::errno::EINVAL as i64);

/// The page range mlock/munlock act on, computed as Linux's do_mlock does (with its
/// wrapping arithmetic): the length grows by the offset into the first page and is rounded
/// up to pages. `Ok(None)`: nothing to do (an empty range); EINVAL when the end wraps.
pub fn lock_range(addr: u64, len: u64) -> Result<Option<(u64, u64)>, i64> {
    let len = lock_len(addr, len);
    let start = addr & !(PAGE_SIZE - 1);
    let end = start.wrapping_add(len);
    if end < start {
        return Err(EINVAL);
    }
    Ok((end > start).then_some((start, end)))
}

/// The length mlock acts on: grown by the offset into the first page, rounded up to pages,
/// wrapping as Linux's PAGE_ALIGN does (the RLIMIT_MEMLOCK check uses this, before the
/// range itself is checked).
pub fn lock_len(addr: u64, len: u64) -> u64 {
    let offset = addr & (PAGE_SIZE - 1);
    len.wrapping_add(offset).wrapping_add(PAGE_SIZE - 1) & !(PAGE_SIZE - 1)
}

/// Whether locking `bytes` more would exceed an RLIMIT_MEMLOCK of `limit` bytes (counted in
/// pages, as Linux counts them).
pub fn over_memlock_limit(bytes: u64, limit: u64) -> bool {
    bytes / PAGE_SIZE > limit / PAGE_SIZE
}

pub const MLOCK_ONFAULT: u64 = abi_shared::linux::general::MLOCK_ONFAULT as u64;
pub const MCL_CURRENT: u64 = abi_shared::linux::general::MCL_CURRENT as u64;
pub const MCL_FUTURE: u64 = abi_shared::linux::general::MCL_FUTURE as u64;
pub const MCL_ONFAULT: u64 = abi_shared::linux::general::MCL_ONFAULT as u64;

pub fn mlock2_flags_ok(flags: u64) -> bool {
    flags & !MLOCK_ONFAULT == 0
}

/// mlockall: at least one of MCL_CURRENT/MCL_FUTURE, nothing unknown, and MCL_ONFAULT only
/// with one of them.
pub fn mlockall_flags_ok(flags: u64) -> bool {
    flags != 0 && flags & !(MCL_CURRENT | MCL_FUTURE | MCL_ONFAULT) == 0 && flags != MCL_ONFAULT
}

/// personality's query value: return the persona without changing it.
pub const PERSONALITY_QUERY: u32 = 0xffff_ffff;
/// The execution domain of a persona (its low byte); PER_LINUX32 makes uname say i686.
const PER_MASK: u32 = 0xff;
const PER_LINUX32: u32 = 0x0008;

/// personality(2) on x86_64 Linux: any value other than the query is stored as it is (the
/// kernel does not check it); the old persona is returned either way. Returns (result, new).
pub fn personality(current: u32, requested: u32) -> (u32, u32) {
    if requested == PERSONALITY_QUERY {
        (current, current)
    } else {
        (current, requested)
    }
}

/// What uname reports as the machine under `persona` (Linux's override_architecture).
pub fn uname_machine(persona: u32) -> &'static [u8] {
    if persona & PER_MASK == PER_LINUX32 {
        b"i686"
    } else {
        b"x86_64"
    }
}

use abi_shared::linux::general::MFD_ALLOW_SEALING;
use abi_shared::linux::general::MFD_CLOEXEC;
use abi_shared::linux::general::MFD_EXEC;
use abi_shared::linux::general::MFD_HUGETLB;
use abi_shared::linux::general::MFD_NOEXEC_SEAL;
const MFD_ALL_FLAGS: u32 = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
/// With MFD_HUGETLB, bits 26..31 may name a huge page size.
const MFD_HUGE_SIZE_BITS: u32 = 0x3f << 26;
/// The longest memfd name: NAME_MAX less the "memfd:" prefix Linux adds.
pub const MFD_NAME_MAX: usize = 255 - 6;

/// memfd_create's flag check (before it reads the name): known bits only, huge page size
/// bits only with MFD_HUGETLB, and not both MFD_EXEC and MFD_NOEXEC_SEAL.
pub fn memfd_flags_ok(flags: u32) -> bool {
    let allowed = if flags & MFD_HUGETLB != 0 { MFD_ALL_FLAGS | MFD_HUGE_SIZE_BITS } else { MFD_ALL_FLAGS };
    flags & !allowed == 0 && !(flags & MFD_EXEC != 0 && flags & MFD_NOEXEC_SEAL != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_range_rounds_to_pages_like_linux() {
        assert_eq!(lock_range(0x1000, 1), Ok(Some((0x1000, 0x2000))));
        assert_eq!(lock_range(0x1fff, 2), Ok(Some((0x1000, 0x3000))));
        assert_eq!(lock_range(0x1234, 0), Ok(Some((0x1000, 0x2000))), "the offset alone makes a page");
        assert_eq!(lock_range(0x1000, 0), Ok(None));
        // A length that wraps to zero pages is an empty range on Linux, not an error.
        assert_eq!(lock_range(0x1000, u64::MAX), Ok(None));
        // One whose end wraps past the address space is EINVAL; just short of that is a
        // (huge) range for the VMA check to refuse.
        assert_eq!(lock_range(0x1000, u64::MAX - 0x1000), Err(EINVAL));
        assert_eq!(lock_range(0x1000, u64::MAX - 0x2000), Ok(Some((0x1000, 0xffff_ffff_ffff_f000))));
    }

    #[test]
    fn lock_len_wraps_like_page_align() {
        assert_eq!(lock_len(0x1010, 0x10), 0x1000);
        assert_eq!(lock_len(0x1000, u64::MAX), 0);
        assert_eq!(lock_len(0x1000, u64::MAX - 0x1000), 0xffff_ffff_ffff_f000);
    }

    #[test]
    fn memlock_limit_counts_pages() {
        assert!(!over_memlock_limit(8 << 20, 8 << 20));
        assert!(over_memlock_limit((8 << 20) + 4096, 8 << 20));
        assert!(!over_memlock_limit(4095, 0), "less than a page is no page");
        assert!(!over_memlock_limit(u64::MAX, u64::MAX));
    }

    #[test]
    fn mlock_flags() {
        assert!(mlock2_flags_ok(0) && mlock2_flags_ok(MLOCK_ONFAULT));
        assert!(!mlock2_flags_ok(2));
        assert!(mlockall_flags_ok(MCL_CURRENT) && mlockall_flags_ok(MCL_FUTURE | MCL_ONFAULT));
        assert!(!mlockall_flags_ok(0) && !mlockall_flags_ok(MCL_ONFAULT) && !mlockall_flags_ok(8));
    }

    #[test]
    fn personality_stores_anything_but_the_query() {
        assert_eq!(personality(0, PERSONALITY_QUERY), (0, 0));
        assert_eq!(personality(0, 0x0040_0008), (0, 0x0040_0008));
        assert_eq!(personality(0x0040_0008, 0), (0x0040_0008, 0));
        assert_eq!(personality(0, 0x1234_5678), (0, 0x1234_5678), "Linux does not validate it");
        assert_eq!(uname_machine(0x0040_0008), b"i686");
        assert_eq!(uname_machine(0x0040_0000), b"x86_64");
    }

    #[test]
    fn memfd_flags() {
        assert!(memfd_flags_ok(0) && memfd_flags_ok(MFD_CLOEXEC | MFD_ALLOW_SEALING));
        assert!(!memfd_flags_ok(0x20));
        assert!(!memfd_flags_ok(MFD_EXEC | MFD_NOEXEC_SEAL));
        assert!(!memfd_flags_ok(21 << 26), "a huge page size needs MFD_HUGETLB");
        assert!(memfd_flags_ok(MFD_HUGETLB | (21 << 26)));
    }
}
