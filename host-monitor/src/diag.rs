//! Where linuxrun's own messages go: a private copy of the stderr it was started with.
//!
//! The program's fd 2 is the same file, but the program may close or redirect it (coreutils
//! close stderr at exit); `--strace` lines, `--stats` and linuxrun's errors must still reach
//! the user. The copy sits above the program's descriptors, with the monitor's own.

use std::io::Write;
use std::sync::{Arc, OnceLock};

use crate::own_fd::MovableFd;

static STDERR: OnceLock<Arc<MovableFd>> = OnceLock::new();

/// Duplicate fd 2 to the lowest free fd at or above `floor`; returns it (for the fd guard).
pub fn init(floor: i32) -> Option<i32> {
    let copy = MovableFd::new(crate::host::sys::dup_above_floor(std::io::stderr(), floor).ok()?);
    let fd = copy.raw();
    STDERR.set(copy).ok()?;
    Some(fd)
}

/// Write a whole message (one write, so lines from different threads do not interleave).
pub fn write(bytes: &[u8]) {
    match STDERR.get() {
        Some(copy) => copy.with(|fd| {
            let mut rest = bytes;
            while !rest.is_empty() {
                match rustix::io::write(fd, rest) {
                    Ok(0) => break,
                    Ok(n) => rest = &rest[n..],
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(_) => break,
                }
            }
        }),
        None => {
            let _ = std::io::stderr().write_all(bytes);
        }
    }
}

/// A writer for env_logger and the --stats table.
pub struct Writer;

impl Write for Writer {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        write(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// `eprintln!` to linuxrun's own stderr.
#[macro_export]
macro_rules! diag {
    ($($arg:tt)*) => {{
        let mut line = format!($($arg)*);
        line.push('\n');
        $crate::diag::write(line.as_bytes());
    }};
}
