//! What a syscall handler sees (its arguments and the user frame) and how it answers (a
//! value or -errno). At the bottom of the syscall path so that the handlers living with
//! their subsystem (signal/, fs/procfs/) do not import the dispatcher in syscall/.

use abi_shared::linux::errno;

use crate::arch::entry::TrapFrame;

/// What a handler sees.
pub struct Ctx<'a> {
    pub frame: &'a mut TrapFrame,
    pub args: [u64; 6],
    /// Set by handlers that rewrote the whole frame (rt_sigreturn): return with every
    /// register restored, and leave rax as the frame has it.
    pub full_return: bool,
}

impl Ctx<'_> {
    pub fn arg(&self, i: usize) -> u64 {
        self.args[i]
    }

    /// An `int` argument: Linux takes the low 32 bits.
    pub fn int(&self, i: usize) -> i32 {
        self.args[i] as i32
    }
}

pub type Handler = fn(&mut Ctx<'_>) -> i64;

pub const fn err(e: u32) -> i64 {
    -(e as i64)
}

pub const ENOSYS: i64 = err(errno::ENOSYS);
pub const EINVAL: i64 = err(errno::EINVAL);
pub const EFAULT: i64 = err(errno::EFAULT);
pub const ENOMEM: i64 = err(errno::ENOMEM);
pub const EINTR: i64 = err(errno::EINTR);
