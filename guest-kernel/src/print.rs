//! Kernel diagnostics: log lines and panics go to the monitor as hypercalls.

use core::fmt::{self, Write};
use core::sync::atomic::{AtomicU8, Ordering};

use abi_shared::bootinfo::flags;

/// A fixed buffer formatter (no allocation: usable when the heap is broken).
pub struct FixedBuf<const N: usize> {
    pub buf: [u8; N],
    pub len: usize,
}

impl<const N: usize> FixedBuf<N> {
    pub const fn new() -> Self {
        FixedBuf { buf: [0; N], len: 0 }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl<const N: usize> Write for FixedBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let take = s.len().min(N - self.len);
        self.buf[self.len..self.len + take].copy_from_slice(&s.as_bytes()[..take]);
        self.len += take;
        Ok(())
    }
}

/// The most verbose level shown (from the boot flags; 0 until then: errors only).
static LOG_LEVEL: AtomicU8 = AtomicU8::new(0);

/// The boot flags say how verbose to be (-v, -vv).
pub fn set_log_level(boot_flags: u64) {
    LOG_LEVEL.store(((boot_flags & flags::LOG_LEVEL_MASK) >> flags::LOG_LEVEL_SHIFT) as u8, Ordering::Relaxed);
}

pub fn log(level: u8, args: fmt::Arguments<'_>) {
    if level > LOG_LEVEL.load(Ordering::Relaxed) {
        return;
    }
    let mut b = FixedBuf::<512>::new();
    let _ = b.write_fmt(args);
    crate::hypercall::log(level, b.as_bytes());
}

pub fn panic_with(args: fmt::Arguments<'_>) -> ! {
    let mut b = FixedBuf::<1024>::new();
    let _ = b.write_fmt(args);
    crate::hypercall::panic_message(b.as_bytes());
    crate::arch::platform::halt_forever()
}

#[macro_export]
macro_rules! kdebug {
    ($($arg:tt)*) => { $crate::print::log(3, format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! kwarn {
    ($($arg:tt)*) => { $crate::print::log(1, format_args!($($arg)*)) };
}

#[macro_export]
macro_rules! kpanic {
    ($($arg:tt)*) => { $crate::print::panic_with(format_args!($($arg)*)) };
}

#[panic_handler]
fn on_panic(info: &core::panic::PanicInfo<'_>) -> ! {
    panic_with(format_args!("{} (syscall in flight: {})", info, crate::stats::in_flight_name()))
}
