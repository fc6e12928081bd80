//! ptrace between linuxrun'd processes needs Linux's abstract UNIX sockets and
//! SO_PEERCRED (ptrace.rs): elsewhere a program's ptrace calls fail with ENOSYS.

use abi_shared::debug::{DebugCommand, DebugEvent};
use abi_shared::linux::errno;

use crate::host::LinuxErrno;

const ENOSYS: LinuxErrno = errno::ENOSYS as LinuxErrno;

#[derive(Default)]
pub struct Ptrace;

pub struct Reported {
    pub pid: i32,
    pub status: i32,
}

pub fn note_doorbell(_pid: i32) {}
pub fn attacher_waiting() -> bool {
    false
}

impl Ptrace {
    pub fn set_floor(&self, _floor: i32) {}
    pub fn forget_in_child(&self) {}
    pub fn trace_me(&self) -> Result<i64, LinuxErrno> {
        Err(ENOSYS)
    }
    pub fn is_traced(&self) -> bool {
        false
    }
    pub fn stopped(&self, _event: DebugEvent, _regs: &[u8]) -> Option<DebugCommand> {
        None
    }
    pub fn replied(&self, _ok: bool, _data: &[u8]) -> Option<DebugCommand> {
        None
    }
    pub fn wait(&self, _pid: i32, _peek: bool) -> Option<Reported> {
        None
    }
    pub fn forked_tracee(&self, _options: u64, _seized: bool) -> Result<i64, LinuxErrno> {
        Err(ENOSYS)
    }
    pub fn exiting(&self, _status: i32) {}
    pub fn has_adopted_tracees(&self) -> bool {
        false
    }
    pub fn wait_for_news(&self) -> Result<(), LinuxErrno> {
        Err(ENOSYS)
    }
    pub fn has_tracees(&self) -> bool {
        false
    }
    pub fn regs(&self, _pid: i32) -> Result<(i32, Vec<u8>), LinuxErrno> {
        Err(ENOSYS)
    }
    pub fn set_options(&self, _pid: i32, _options: u64) -> Result<(), LinuxErrno> {
        Err(ENOSYS)
    }
    pub fn command(&self, _pid: i32, _cmd: DebugCommand) -> Result<Option<(bool, Vec<u8>)>, LinuxErrno> {
        Err(ENOSYS)
    }
    pub fn detach(&self, _pid: i32, _signal: i32) -> Result<(), LinuxErrno> {
        Err(ENOSYS)
    }
    pub fn attach(&self, _pid: i32, _seize: bool, _options: u64) -> Result<i64, LinuxErrno> {
        Err(ENOSYS)
    }
    pub fn attached(&self, _tracer: i32) -> Result<i64, LinuxErrno> {
        Err(ENOSYS)
    }
    pub fn interrupt(&self, _pid: i32) -> Result<i64, LinuxErrno> {
        Err(ENOSYS)
    }
    pub fn listen(&self, _pid: i32) -> Result<i64, LinuxErrno> {
        Err(ENOSYS)
    }
}
