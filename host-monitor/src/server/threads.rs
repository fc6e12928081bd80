//! What a thread waiting on a futex needs from the host: its vCPU thread sleeps on a word
//! of guest RAM (the guest kernel's per-vCPU wake word) until another vCPU wakes it, so a
//! waiting Linux thread uses no host core. The futex queues themselves are the guest
//! kernel's (task/futex.rs); only the sleep and the wake-up cross over.

use std::sync::atomic::AtomicU32;

use abi_shared::hypercall::{FutexRequest, MalformedReason, Response};

use crate::guest_mem::GuestMemory;
use crate::host::sys;

/// The u32 of guest RAM at `gpa`, which must be aligned.
fn guest_word(mem: &GuestMemory, gpa: u64) -> Option<&AtomicU32> {
    if !gpa.is_multiple_of(4) {
        return None;
    }
    mem.atomic_u32(gpa).ok()
}

/// Serve one futex request.
pub fn handle(mem: &GuestMemory, req: &FutexRequest) -> Response {
    match req {
        FutexRequest::FutexSleep { gpa, expected, timeout_ns, shared } => {
            futex_sleep(mem, *gpa, *expected, *timeout_ns, *shared)
        }
        FutexRequest::FutexPi { gpa, op, timeout } => futex_pi(mem, *gpa, *op, timeout.as_ref()),
        FutexRequest::FutexWake { gpa, count, shared } => futex_wake(mem, *gpa, *count, *shared),
    }
}

/// `FutexRequest::FutexSleep`: on the calling vCPU's thread, which sleeps.
fn futex_sleep(mem: &GuestMemory, gpa: u64, expected: u32, timeout_ns: u64, shared: bool) -> Response {
    let Some(word) = guest_word(mem, gpa) else {
        return Response::Malformed(MalformedReason::BadGuestAddress);
    };
    match sys::futex_wait(word, expected, timeout_ns, shared) {
        Ok(()) => Response::Ret(0),
        Err(e) => Response::Ret(-i64::from(e)),
    }
}

/// `FutexRequest::FutexPi`: on the calling vCPU's thread, whose tid is the Linux thread's.
fn futex_pi(mem: &GuestMemory, gpa: u64, op: i32, timeout: Option<&[i64; 2]>) -> Response {
    let Some(word) = guest_word(mem, gpa) else {
        return Response::Malformed(MalformedReason::BadGuestAddress);
    };
    match sys::futex_pi(word, op, timeout) {
        Ok(r) => Response::Ret(r),
        Err(e) => Response::Ret(-i64::from(e)),
    }
}

/// `FutexRequest::FutexWake`.
fn futex_wake(mem: &GuestMemory, gpa: u64, count: u32, shared: bool) -> Response {
    match guest_word(mem, gpa) {
        Some(word) => Response::Ret(i64::from(sys::futex_wake(word, count, shared))),
        None => Response::Malformed(MalformedReason::BadGuestAddress),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn a_sleeper_is_woken_by_another_thread_and_a_changed_word_does_not_sleep() {
        let mut buf = vec![0u8; 0x1000];
        let mem = GuestMemory::from_vec_for_test(&mut buf);
        let word = mem.atomic_u32(0x40).unwrap();
        word.store(7, Ordering::SeqCst);
        assert_eq!(
            futex_sleep(&mem, 0x40, 8, u64::MAX, false),
            Response::Ret(-(abi_shared::linux::errno::EAGAIN as i64))
        );
        assert_eq!(
            futex_sleep(&mem, 0x40, 7, 1_000_000, false),
            Response::Ret(-(abi_shared::linux::errno::ETIMEDOUT as i64))
        );
        assert_eq!(futex_sleep(&mem, 0x42, 7, 0, false), Response::Malformed(MalformedReason::BadGuestAddress));
        std::thread::scope(|s| {
            let sleeper = s.spawn(|| futex_sleep(&mem, 0x40, 7, 5_000_000_000, false));
            // The word stays 7: only a wake can end the sleep before its 5 s timeout. Wake
            // until the sleeper has gone (it may not sleep yet at the first wake).
            while !sleeper.is_finished() {
                futex_wake(&mem, 0x40, 1, false);
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            assert_eq!(sleeper.join().unwrap(), Response::Ret(0));
        });
    }
}
