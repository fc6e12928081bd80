//! The vvar page: the clock parameters the vDSO reads from user mode. Its layout is defined
//! here once, below both users (time.rs and loader/vdso); the kernel fills it (loader/vdso/mod.rs) and the vDSO code (code.rs) reads the
//! fields through `offset_of!`, and both compute the time with the same integer math, so a
//! vDSO read and a syscall read are ordered with each other.
//!
//! The parameters are written once, before the program's first instruction, and never
//! change (there is no settimeofday nor recalibration); a writer that changes them later
//! would need a sequence counter here.

/// The vvar page, as the vDSO sees it (at the page below the vDSO's ELF header).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Vvar {
    /// TSC ticks per millisecond.
    pub tsc_khz: u64,
    /// The TSC at the calibration point.
    pub tsc_base: u64,
    /// CLOCK_REALTIME at the calibration point, in ns.
    pub realtime_base_ns: u64,
    /// CLOCK_MONOTONIC at the calibration point, in ns.
    pub monotonic_base_ns: u64,
    /// Nanoseconds per TSC tick in 32.32 fixed point (`tsc_mult(tsc_khz)`): a tick count
    /// becomes ns with one multiplication, where a division would cost ~30 cycles.
    pub tsc_mult: u64,
}

/// Field offsets, for the vDSO's assembly.
pub const OFF_TSC_KHZ: usize = core::mem::offset_of!(Vvar, tsc_khz);
pub const OFF_TSC_BASE: usize = core::mem::offset_of!(Vvar, tsc_base);
pub const OFF_REALTIME_BASE: usize = core::mem::offset_of!(Vvar, realtime_base_ns);
pub const OFF_MONOTONIC_BASE: usize = core::mem::offset_of!(Vvar, monotonic_base_ns);
pub const OFF_TSC_MULT: usize = core::mem::offset_of!(Vvar, tsc_mult);

impl Vvar {
    /// The page's bytes (little endian, `repr(C)` order).
    pub fn to_bytes(self) -> [u8; core::mem::size_of::<Vvar>()] {
        let mut out = [0u8; core::mem::size_of::<Vvar>()];
        let fields = [
            (OFF_TSC_KHZ, self.tsc_khz),
            (OFF_TSC_BASE, self.tsc_base),
            (OFF_REALTIME_BASE, self.realtime_base_ns),
            (OFF_MONOTONIC_BASE, self.monotonic_base_ns),
            (OFF_TSC_MULT, self.tsc_mult),
        ];
        for (off, value) in fields {
            out[off..off + 8].copy_from_slice(&value.to_le_bytes());
        }
        out
    }

    /// Nanoseconds since the calibration point at TSC value `tsc` (0 before it).
    pub fn elapsed_ns(&self, tsc: u64) -> u64 {
        ticks_to_ns(tsc.saturating_sub(self.tsc_base), self.tsc_mult)
    }

    pub fn realtime_ns(&self, tsc: u64) -> u64 {
        self.realtime_base_ns.wrapping_add(self.elapsed_ns(tsc))
    }

    pub fn monotonic_ns(&self, tsc: u64) -> u64 {
        self.monotonic_base_ns.wrapping_add(self.elapsed_ns(tsc))
    }
}

/// The 32.32 fixed-point ns per tick for a TSC of `khz` ticks per millisecond, truncated
/// (a frequency of 0 is taken as 1). The error is below 2^-32 ns per tick: under 0.1 ms a
/// day at 1 GHz, far below the kHz resolution of the calibration itself.
pub fn tsc_mult(khz: u64) -> u64 {
    ((1_000_000u128 << 32) / khz.max(1) as u128).min(u64::MAX as u128) as u64
}

/// `ticks * mult >> 32`, as the vDSO computes it with one `mul` and one `shrd`: a result
/// that does not fit 64 bits (only possible with a bogus frequency) saturates.
pub fn ticks_to_ns(ticks: u64, mult: u64) -> u64 {
    let ns = (ticks as u128 * mult as u128) >> 32;
    ns.min(u64::MAX as u128) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_convert_at_the_calibrated_rate() {
        let ghz3 = tsc_mult(3_000_000);
        assert_eq!(ticks_to_ns(3_000_000, ghz3), 999_999, "truncated 1/3 ns per tick");
        assert_eq!(ticks_to_ns(3_000_000_000, ghz3), 999_999_999);
        assert_eq!(ticks_to_ns(2_999, ghz3), 999, "truncates");
        assert_eq!(ticks_to_ns(2_000_000, tsc_mult(2_000_000)), 1_000_000, "exact for a power-of-two ratio");
        assert_eq!(ticks_to_ns(0, tsc_mult(1)), 0);
        // A day of ticks at 3 GHz: within 0.1 ms of the exact value.
        let day = 86_400 * 3_000_000_000u64;
        assert!((day / 3).abs_diff(ticks_to_ns(day, ghz3)) < 100_000);
        // A century still fits.
        let century = 100 * 365 * day;
        assert!(ticks_to_ns(century, ghz3) < u64::MAX);
    }

    #[test]
    fn slow_and_bogus_frequencies() {
        assert_eq!(tsc_mult(0), tsc_mult(1));
        assert_eq!(tsc_mult(1_000_000), 1 << 32, "1 GHz: 1 ns per tick");
        assert_eq!(ticks_to_ns(u64::MAX, tsc_mult(1)), u64::MAX, "saturates");
        assert_eq!(ticks_to_ns(u64::MAX, u64::MAX), u64::MAX);
    }

    #[test]
    fn clocks_start_at_their_bases() {
        let v = Vvar {
            tsc_khz: 1_000_000,
            tsc_base: 500,
            realtime_base_ns: 10,
            monotonic_base_ns: 20,
            tsc_mult: tsc_mult(1_000_000),
        };
        assert_eq!(v.realtime_ns(400), 10, "a TSC below the base counts as the base");
        assert_eq!(v.realtime_ns(1500), 1010);
        assert_eq!(v.monotonic_ns(1500), 1020);
    }

    #[test]
    fn bytes_follow_the_field_offsets() {
        let v = Vvar { tsc_khz: 1, tsc_base: 2, realtime_base_ns: 3, monotonic_base_ns: 4, tsc_mult: 5 };
        let b = v.to_bytes();
        let at = |off: usize| u64::from_le_bytes(b[off..off + 8].try_into().unwrap());
        assert_eq!(
            [at(OFF_TSC_KHZ), at(OFF_TSC_BASE), at(OFF_REALTIME_BASE), at(OFF_MONOTONIC_BASE), at(OFF_TSC_MULT)],
            [1, 2, 3, 4, 5]
        );
    }
}
