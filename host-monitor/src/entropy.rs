//! Fresh entropy from the host for the guest's random generator: at boot, on each side of
//! every fork and at every execve (see the guest's `random.rs` for why each of these).

/// 32 bytes from the host's own generator (Linux getrandom(2), macOS getentropy(2)).
pub fn seed() -> [u8; 32] {
    let mut seed = [0u8; 32];
    if getrandom::fill(&mut seed).is_err() {
        // The host's generator does not fail once the system has booted; should it, the
        // clock at least keeps two processes from sharing a key.
        let t = crate::server::clock_ns(libc::CLOCK_MONOTONIC).to_le_bytes();
        for (i, b) in seed.iter_mut().enumerate() {
            *b ^= t[i % 8] ^ (std::process::id() >> (8 * (i % 4))) as u8;
        }
    }
    seed
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_seeds_differ() {
        assert_ne!(super::seed(), super::seed());
    }
}
