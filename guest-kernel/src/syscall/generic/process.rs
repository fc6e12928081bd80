//! The end of the program.

use abi_shared::hypercall::ExitHow;

use super::{terminate, Ctx};

/// One thread: exit ends the process as exit_group does.
pub fn exit(c: &mut Ctx<'_>) -> i64 {
    terminate(ExitHow::Status((c.args[0] & 0xff) as i32))
}

pub fn exit_group(c: &mut Ctx<'_>) -> i64 {
    terminate(ExitHow::Status((c.args[0] & 0xff) as i32))
}
