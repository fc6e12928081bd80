//! The guest's random generator: ChaCha20 (RFC 8439's block function) keyed from the
//! host's entropy.
//!
//! The key comes from the monitor at boot (`BootInfo::random_seed`) and is refreshed with
//! fresh host entropy on each side of every fork and at every execve. A forked child runs
//! on a copy of its parent's memory, this generator's state included: without the
//! refresh, parent and child (and every program either of them execs) would produce the
//! same getrandom bytes, the same AT_RANDOM and so the same stack-protector canary.
//!
//! Why our own block function rather than a crate's: the guest kernel runs with the
//! program's SSE/AVX registers live (it does not save them on syscall entry), and the
//! ChaCha crates pick SIMD code paths by CPU detection, which would clobber them. This one
//! is scalar and checked against RFC 8439's test vector below.

use spin::Mutex;

/// "expand 32-byte k": ChaCha's constant words.
const SIGMA: [u32; 4] = [0x6170_7865, 0x3320_646e, 0x7962_2d32, 0x6b20_6574];

/// The column and diagonal quarter rounds of one double round.
const QUARTER_ROUNDS: [(usize, usize, usize, usize); 8] = [
    (0, 4, 8, 12),
    (1, 5, 9, 13),
    (2, 6, 10, 14),
    (3, 7, 11, 15),
    (0, 5, 10, 15),
    (1, 6, 11, 12),
    (2, 7, 8, 13),
    (3, 4, 9, 14),
];

/// One 64-byte ChaCha20 block (RFC 8439 §2.3): 32-bit block counter, 96-bit nonce.
pub fn chacha20_block(key: &[u32; 8], counter: u32, nonce: &[u32; 3]) -> [u8; 64] {
    let mut state = [0u32; 16];
    state[..4].copy_from_slice(&SIGMA);
    state[4..12].copy_from_slice(key);
    state[12] = counter;
    state[13..].copy_from_slice(nonce);
    let mut x = state;
    for _ in 0..10 {
        for &(a, b, c, d) in &QUARTER_ROUNDS {
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(16);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(12);
            x[a] = x[a].wrapping_add(x[b]);
            x[d] = (x[d] ^ x[a]).rotate_left(8);
            x[c] = x[c].wrapping_add(x[d]);
            x[b] = (x[b] ^ x[c]).rotate_left(7);
        }
    }
    let mut out = [0u8; 64];
    for (i, word) in x.iter().zip(state.iter()).map(|(a, b)| a.wrapping_add(*b)).enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&word.to_le_bytes());
    }
    out
}

/// A ChaCha20 key stream: a 64-bit block position split over the block counter and the
/// first nonce word, so one key never repeats a block.
pub struct Rng {
    key: [u32; 8],
    position: u64,
}

impl Rng {
    pub const fn unseeded() -> Self {
        Rng { key: [0; 8], position: 0 }
    }

    fn next_block(&mut self) -> [u8; 64] {
        let block = chacha20_block(&self.key, self.position as u32, &[(self.position >> 32) as u32, 0, 0]);
        self.position += 1;
        block
    }

    /// Mixes fresh host entropy into the key: the new key is the next block of the old
    /// stream XORed with `seed`, so it depends on both and on neither alone.
    pub fn reseed(&mut self, seed: &[u8; 32]) {
        let block = self.next_block();
        for (i, word) in self.key.iter_mut().enumerate() {
            let old = u32::from_le_bytes([block[i * 4], block[i * 4 + 1], block[i * 4 + 2], block[i * 4 + 3]]);
            let new = u32::from_le_bytes([seed[i * 4], seed[i * 4 + 1], seed[i * 4 + 2], seed[i * 4 + 3]]);
            *word = old ^ new;
        }
        self.position = 0;
    }

    pub fn fill(&mut self, out: &mut [u8]) {
        for chunk in out.chunks_mut(64) {
            let block = self.next_block();
            chunk.copy_from_slice(&block[..chunk.len()]);
        }
    }
}

/// The kernel's one generator. Shared by every vCPU, hence the lock.
static RNG: Mutex<Rng> = Mutex::new(Rng::unseeded());

/// Mixes fresh host entropy into the kernel's generator (boot, both sides of a fork,
/// execve).
pub fn reseed(seed: &[u8; 32]) {
    RNG.lock().reseed(seed);
}

/// Random bytes for getrandom, AT_RANDOM, /proc/sys/kernel/random/uuid.
pub fn fill(out: &mut [u8]) {
    RNG.lock().fill(out);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 8439 §2.3.2: key 00..1f, nonce 00:00:00:09:00:00:00:4a:00:00:00:00, counter 1.
    #[test]
    fn rfc8439_block_test_vector() {
        let key: [u32; 8] = core::array::from_fn(|i| u32::from_le_bytes(core::array::from_fn(|j| (i * 4 + j) as u8)));
        let nonce = [0x0900_0000, 0x4a00_0000, 0];
        let expected: [u8; 64] = [
            0x10, 0xf1, 0xe7, 0xe4, 0xd1, 0x3b, 0x59, 0x15, 0x50, 0x0f, 0xdd, 0x1f, 0xa3, 0x20, 0x71, 0xc4, 0xc7, 0xd1,
            0xf4, 0xc7, 0x33, 0xc0, 0x68, 0x03, 0x04, 0x22, 0xaa, 0x9a, 0xc3, 0xd4, 0x6c, 0x4e, 0xd2, 0x82, 0x64, 0x46,
            0x07, 0x9f, 0xaa, 0x09, 0x14, 0xc2, 0xd7, 0x05, 0xd9, 0x8b, 0x02, 0xa2, 0xb5, 0x12, 0x9c, 0xd1, 0xde, 0x16,
            0x4e, 0xb9, 0xcb, 0xd0, 0x83, 0xe8, 0xa2, 0x50, 0x3c, 0x4e,
        ];
        assert_eq!(chacha20_block(&key, 1, &nonce), expected);
    }

    #[test]
    fn the_stream_never_repeats_a_block() {
        let mut rng = Rng::unseeded();
        rng.reseed(&[7; 32]);
        let (mut a, mut b) = ([0u8; 64], [0u8; 64]);
        rng.fill(&mut a);
        rng.fill(&mut b);
        assert_ne!(a, b);
    }

    /// The fork case: two copies of one generator reseeded with different host entropy
    /// diverge; reseeded with the same entropy they would not, so the seed is what counts.
    #[test]
    fn copies_reseeded_differently_diverge() {
        let mut parent = Rng::unseeded();
        parent.reseed(&[1; 32]);
        let mut child = Rng { key: parent.key, position: parent.position };
        parent.reseed(&[2; 32]);
        child.reseed(&[3; 32]);
        let (mut p, mut c) = ([0u8; 32], [0u8; 32]);
        parent.fill(&mut p);
        child.fill(&mut c);
        assert_ne!(p, c);
    }

    #[test]
    fn reseeding_depends_on_the_old_state_too() {
        let mut one = Rng::unseeded();
        one.reseed(&[1; 32]);
        let mut two = Rng::unseeded();
        two.reseed(&[2; 32]);
        one.reseed(&[9; 32]);
        two.reseed(&[9; 32]);
        assert_ne!(one.key, two.key);
    }
}
