//! `struct stat` to Linux's for hosts whose C library names the fields as Linux's does
//! (Linux itself, and the placeholder personality of hosts without one). macOS has its
//! own in darwin.rs (other field names, timespec members, device number layout).

use abi_shared::linux::LinuxStat;

/// `struct stat` as x86_64 Linux lays it out.
// The casts are identities on x86_64 hosts; on other Linux hosts some fields are narrower.
#[allow(clippy::unnecessary_cast)]
pub fn stat_to_linux(st: &libc::stat) -> LinuxStat {
    LinuxStat {
        st_dev: st.st_dev as u64,
        st_ino: st.st_ino as u64,
        st_nlink: st.st_nlink as u64,
        st_mode: st.st_mode as u32,
        st_uid: st.st_uid as u32,
        st_gid: st.st_gid as u32,
        pad0: 0,
        st_rdev: st.st_rdev as u64,
        st_size: st.st_size as i64,
        st_blksize: st.st_blksize as i64,
        st_blocks: st.st_blocks as i64,
        st_atime: st.st_atime as i64,
        st_atime_nsec: st.st_atime_nsec as i64,
        st_mtime: st.st_mtime as i64,
        st_mtime_nsec: st.st_mtime_nsec as i64,
        st_ctime: st.st_ctime as i64,
        st_ctime_nsec: st.st_ctime_nsec as i64,
        unused: [0; 3],
    }
}
