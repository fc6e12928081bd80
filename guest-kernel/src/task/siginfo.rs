//! `siginfo_t` as the guest keeps it (its own file so that the host build, which cannot
//! compile the rest of task/ and signal/, can unit-test signalfd's records).

/// `siginfo_t` (128 bytes). Only the fields our signals use are named.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SigInfo {
    pub signo: i32,
    pub errno: i32,
    pub code: i32,
    pub pad: i32,
    /// si_pid/si_uid for kill, si_addr for faults.
    pub fields: [u64; 14],
}

impl SigInfo {
    pub fn fault(signo: i32, code: i32, addr: u64) -> SigInfo {
        let mut i = SigInfo { signo, code, ..SigInfo::default() };
        i.fields[0] = addr;
        i
    }

    pub fn sent_by(signo: i32, code: i32, pid: i32, uid: u32) -> SigInfo {
        let mut i = SigInfo { signo, code, ..SigInfo::default() };
        i.fields[0] = (pid as u32 as u64) | ((uid as u64) << 32);
        i
    }
}
