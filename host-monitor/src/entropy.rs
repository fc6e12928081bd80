//! Fresh entropy from the host for the guest's random generator: at boot, on each side of
//! every fork and at every execve (see the guest's `random.rs` for why each of these).

/// 32 bytes from the host's own generator (Linux getrandom(2), macOS getentropy(2)).
pub fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if !fill(&mut seed) {
        // The host's generator does not fail once the system has booted; should it, the
        // clock at least keeps two processes from sharing a key.
        let t = crate::server::clock_ns(libc::CLOCK_MONOTONIC).to_le_bytes();
        for (i, b) in seed.iter_mut().enumerate() {
            *b ^= t[i % 8] ^ (std::process::id() >> (8 * (i % 4))) as u8;
        }
    }
    seed
}

/// getrandom(2) through libc. Not the getrandom crate here: in a statically linked
/// linuxrun (the arm64 test build, the packed runtime) it cannot find glibc's getrandom
/// and falls back to opening /dev/urandom, which then holds one of the program's low
/// descriptor numbers (fd 3) for the whole run.
#[cfg(target_os = "linux")]
fn fill(buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        let rest = &mut buf[done..];
        // SAFETY: the pointer and length describe `rest`, which getrandom only writes.
        let n = unsafe { libc::getrandom(rest.as_mut_ptr().cast(), rest.len(), 0) };
        if n < 0 {
            if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            return false;
        }
        done += n as usize;
    }
    true
}

#[cfg(not(target_os = "linux"))]
fn fill(buf: &mut [u8]) -> bool {
    getrandom::fill(buf).is_ok()
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_seeds_differ() {
        assert_ne!(super::seed(), super::seed());
    }
}
