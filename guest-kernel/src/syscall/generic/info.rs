//! uname, the clocks (on the generic timer) and getrandom.

use super::{Ctx, EFAULT, EINVAL};
use crate::bringup::{clock, uspace};

pub fn uname(c: &mut Ctx<'_>) -> i64 {
    let uts = super::UTS.get().copied().unwrap_or([[0; 65]; 6]);
    let bytes: alloc::vec::Vec<u8> = uts.iter().flatten().copied().collect();
    if uspace::with(|s| s.copy_out(c.args[0], &bytes)) {
        0
    } else {
        EFAULT
    }
}

const CLOCK_REALTIME: u64 = abi_shared::linux::general::CLOCK_REALTIME as u64;
const CLOCK_MONOTONIC: u64 = abi_shared::linux::general::CLOCK_MONOTONIC as u64;
const CLOCK_MONOTONIC_RAW: u64 = abi_shared::linux::general::CLOCK_MONOTONIC_RAW as u64;
const CLOCK_REALTIME_COARSE: u64 = abi_shared::linux::general::CLOCK_REALTIME_COARSE as u64;
const CLOCK_MONOTONIC_COARSE: u64 = abi_shared::linux::general::CLOCK_MONOTONIC_COARSE as u64;
const CLOCK_BOOTTIME: u64 = abi_shared::linux::general::CLOCK_BOOTTIME as u64;

fn clock_ns(id: u64) -> Option<u64> {
    match id {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => Some(clock::realtime_ns()),
        CLOCK_MONOTONIC | CLOCK_MONOTONIC_RAW | CLOCK_MONOTONIC_COARSE | CLOCK_BOOTTIME => Some(clock::monotonic_ns()),
        _ => None,
    }
}

fn put_pair(at: u64, a: u64, b: u64) -> i64 {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&a.to_le_bytes());
    bytes[8..].copy_from_slice(&b.to_le_bytes());
    if uspace::with(|s| s.copy_out(at, &bytes)) {
        0
    } else {
        EFAULT
    }
}

pub fn clock_gettime(c: &mut Ctx<'_>) -> i64 {
    let Some(ns) = clock_ns(c.args[0]) else { return EINVAL };
    put_pair(c.args[1], ns / 1_000_000_000, ns % 1_000_000_000)
}

pub fn clock_getres(c: &mut Ctx<'_>) -> i64 {
    if clock_ns(c.args[0]).is_none() {
        return EINVAL;
    }
    if c.args[1] == 0 {
        return 0;
    }
    put_pair(c.args[1], 0, clock::resolution_ns())
}

pub fn gettimeofday(c: &mut Ctx<'_>) -> i64 {
    if c.args[0] == 0 {
        return 0;
    }
    let ns = clock::realtime_ns();
    put_pair(c.args[0], ns / 1_000_000_000, ns % 1_000_000_000 / 1000)
}

pub fn getrandom(c: &mut Ctx<'_>) -> i64 {
    const GRND_NONBLOCK: u64 = abi_shared::linux::general::GRND_NONBLOCK as u64;
    const GRND_RANDOM: u64 = abi_shared::linux::general::GRND_RANDOM as u64;
    const GRND_INSECURE: u64 = abi_shared::linux::general::GRND_INSECURE as u64;
    if c.args[2] & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0 {
        return EINVAL;
    }
    let len = c.args[1].min(1 << 20) as usize;
    let mut buf = alloc::vec![0u8; len];
    crate::random::fill(&mut buf);
    if uspace::with(|s| s.copy_out(c.args[0], &buf)) {
        len as i64
    } else {
        EFAULT
    }
}
