//! Linux's arm64 `rt_sigframe`: what a handler finds on its stack, and what rt_sigreturn
//! reads back (arch/arm64/kernel/signal.c). This is the per-architecture frame layer: it
//! knows the bytes, not the policy (which signal, which mask, which stack), so that the
//! shared signal code can use it once it is ported to aarch64.
//!
//! ```text
//! frame ->  siginfo                                  128
//!           ucontext: uc_flags, uc_link                16
//!                     uc_stack (stack_t)               24
//!                     uc_sigmask + glibc's padding    128
//!                     (align 16)                        8
//!                     sigcontext: fault_address         8
//!                                 regs[31], sp, pc     264
//!                                 pstate                 8
//!                                 (align 16)             8
//!                                 __reserved          4096  fpsimd_context, esr_context
//!                                                           (faults), a null header
//! record -> x29, x30 (the frame record the handler's x29 points at)    16
//! ```

use super::TrapFrame;

/// `struct _aarch64_ctx` magic of the FP/SIMD record.
pub const FPSIMD_MAGIC: u32 = 0x4650_8001;
/// ... of the fault's ESR record.
pub const ESR_MAGIC: u32 = 0x4553_5201;

const SIGINFO_SIZE: usize = 128;
const UC: usize = SIGINFO_SIZE;
const UC_STACK: usize = UC + 16;
const UC_SIGMASK: usize = UC + 40;
const MCONTEXT: usize = UC + 176;
const FAULT_ADDRESS: usize = MCONTEXT;
const REGS: usize = MCONTEXT + 8;
const SP: usize = REGS + 31 * 8;
const PC: usize = SP + 8;
const PSTATE: usize = PC + 8;
const RESERVED: usize = MCONTEXT + 288;
const RESERVED_SIZE: usize = 4096;
/// `sizeof(struct rt_sigframe)`, a multiple of 16.
pub const FRAME_SIZE: usize = RESERVED + RESERVED_SIZE;
const _: () = assert!(FRAME_SIZE == 4688 && FRAME_SIZE.is_multiple_of(16));
/// The frame record above the frame.
const RECORD_SIZE: usize = 16;

const FPSIMD_SIZE: usize = 16 + 32 * 16;
const ESR_SIZE: usize = 16;

/// PSTATE bits a program may hand back through rt_sigreturn: the flags, DIT, TCO, SSBS and
/// BTYPE. The mode (EL0t, AArch64), the DAIF masks and the EL1 controls are not its to set.
const PSTATE_USER_BITS: u64 = 0xf000_0000 | (1 << 24) | (1 << 25) | (1 << 12) | (3 << 10);
/// M[4:0] (the mode, with nRW) and DAIF: anything but zero is no valid EL0t state.
const PSTATE_MUST_BE_ZERO: u64 = 0x1f | (0xf << 6);

/// The stack_t of a frame.
#[derive(Clone, Copy, Debug, Default)]
pub struct StackT {
    pub sp: u64,
    pub flags: i32,
    pub size: u64,
}

/// What goes into a frame besides the registers.
pub struct FrameInput<'a> {
    /// The siginfo bytes (written only for SA_SIGINFO, as on Linux).
    pub info: Option<&'a [u8; SIGINFO_SIZE]>,
    /// The mask to restore.
    pub mask: u64,
    /// uc_stack: the alternate stack as it was when the signal came.
    pub stack: StackT,
    /// sigcontext.fault_address.
    pub fault_address: u64,
    /// The ESR of the last fault: an esr_context when not zero.
    pub fault_code: u64,
}

/// Where the frame goes below `sp_top` (the interrupted sp, or the alternate stack's top):
/// the frame record 16-aligned under it, the frame under that. Returns (frame, record).
pub fn place(sp_top: u64) -> Option<(u64, u64)> {
    let record = sp_top.checked_sub(RECORD_SIZE as u64)? & !15;
    let frame = record.checked_sub(FRAME_SIZE as u64)?;
    Some((frame, record))
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

fn get_u64(buf: &[u8], at: usize) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(&buf[at..at + 8]);
    u64::from_le_bytes(b)
}

fn get_u32(buf: &[u8], at: usize) -> u32 {
    let mut b = [0u8; 4];
    b.copy_from_slice(&buf[at..at + 4]);
    u32::from_le_bytes(b)
}

/// The bytes from the frame's address up to the end of its frame record: the frame for
/// the registers in `regs`, then the record (x29, x30).
pub fn build(regs: &TrapFrame, input: &FrameInput<'_>) -> alloc::vec::Vec<u8> {
    let mut b = alloc::vec![0u8; FRAME_SIZE + RECORD_SIZE];
    if let Some(info) = input.info {
        put(&mut b, 0, info);
    }
    put(&mut b, UC_STACK, &input.stack.sp.to_le_bytes());
    put(&mut b, UC_STACK + 8, &input.stack.flags.to_le_bytes());
    put(&mut b, UC_STACK + 16, &input.stack.size.to_le_bytes());
    put(&mut b, UC_SIGMASK, &input.mask.to_le_bytes());
    put(&mut b, FAULT_ADDRESS, &input.fault_address.to_le_bytes());
    for (i, x) in regs.x.iter().enumerate() {
        put(&mut b, REGS + i * 8, &x.to_le_bytes());
    }
    put(&mut b, SP, &regs.sp.to_le_bytes());
    put(&mut b, PC, &regs.pc.to_le_bytes());
    put(&mut b, PSTATE, &regs.pstate.to_le_bytes());
    let mut at = RESERVED;
    put(&mut b, at, &FPSIMD_MAGIC.to_le_bytes());
    put(&mut b, at + 4, &(FPSIMD_SIZE as u32).to_le_bytes());
    put(&mut b, at + 8, &(regs.fpsr as u32).to_le_bytes());
    put(&mut b, at + 12, &(regs.fpcr as u32).to_le_bytes());
    for (i, v) in regs.v.iter().enumerate() {
        put(&mut b, at + 16 + i * 16, &v.to_le_bytes());
    }
    at += FPSIMD_SIZE;
    if input.fault_code != 0 {
        put(&mut b, at, &ESR_MAGIC.to_le_bytes());
        put(&mut b, at + 4, &(ESR_SIZE as u32).to_le_bytes());
        put(&mut b, at + 8, &input.fault_code.to_le_bytes());
        at += ESR_SIZE;
    }
    // The terminator: a null header (magic 0, size 0), already zero.
    let _ = at;
    put(&mut b, FRAME_SIZE, &regs.x[29].to_le_bytes());
    put(&mut b, FRAME_SIZE + 8, &regs.x[30].to_le_bytes());
    b
}

/// The handler's registers: x0 the signal, x1/x2 the siginfo and ucontext for SA_SIGINFO
/// (otherwise they keep the interrupted values, as on Linux), sp the frame, x29 the frame
/// record, x30 the return (`restorer`), pc the handler.
pub fn enter_handler(regs: &mut TrapFrame, sig: i32, siginfo: bool, frame: u64, handler: u64, restorer: u64) {
    regs.x[0] = sig as u64;
    if siginfo {
        regs.x[1] = frame;
        regs.x[2] = frame + UC as u64;
    }
    regs.sp = frame;
    regs.x[29] = frame + FRAME_SIZE as u64;
    regs.x[30] = restorer;
    regs.pc = handler;
    // Tag Check Override is cleared for a handler; BTYPE is left alone (no BTI pages here).
    regs.pstate &= !(1 << 25);
}

/// What rt_sigreturn takes from a frame: the registers (written into `regs`), the mask and
/// the alternate stack to restore. Err: the frame is not one Linux would accept (the caller
/// raises SIGSEGV), and `regs` may be half written.
pub fn restore(regs: &mut TrapFrame, b: &[u8]) -> Result<(u64, StackT), ()> {
    if b.len() < FRAME_SIZE {
        return Err(());
    }
    for i in 0..31 {
        regs.x[i] = get_u64(b, REGS + i * 8);
    }
    regs.sp = get_u64(b, SP);
    regs.pc = get_u64(b, PC);
    let pstate = get_u64(b, PSTATE);
    if pstate & PSTATE_MUST_BE_ZERO != 0 {
        return Err(());
    }
    regs.pstate = pstate & PSTATE_USER_BITS;
    restore_reserved(regs, &b[RESERVED..RESERVED + RESERVED_SIZE])?;
    let mask = get_u64(b, UC_SIGMASK);
    let stack =
        StackT { sp: get_u64(b, UC_STACK), flags: get_u32(b, UC_STACK + 8) as i32, size: get_u64(b, UC_STACK + 16) };
    Ok((mask, stack))
}

/// Walk __reserved's records up to the null header: the FP/SIMD record is required (exactly
/// once, its own size), an ESR record is ignored, anything else is refused.
fn restore_reserved(regs: &mut TrapFrame, r: &[u8]) -> Result<(), ()> {
    let mut at = 0;
    let mut fpsimd = false;
    loop {
        if at + 8 > r.len() {
            return Err(());
        }
        let (magic, size) = (get_u32(r, at), get_u32(r, at + 4) as usize);
        if magic == 0 {
            return if size == 0 && fpsimd { Ok(()) } else { Err(()) };
        }
        if size < 8 || !size.is_multiple_of(16) || size > r.len() - at {
            return Err(());
        }
        match magic {
            FPSIMD_MAGIC if size == FPSIMD_SIZE && !fpsimd => {
                regs.fpsr = u64::from(get_u32(r, at + 8));
                regs.fpcr = u64::from(get_u32(r, at + 12));
                for (i, v) in regs.v.iter_mut().enumerate() {
                    let mut q = [0u8; 16];
                    q.copy_from_slice(&r[at + 16 + i * 16..at + 32 + i * 16]);
                    *v = u128::from_le_bytes(q);
                }
                fpsimd = true;
            }
            ESR_MAGIC => {}
            // SVE, ZA, extra_context...: records this kernel never writes.
            _ => return Err(()),
        }
        at += size;
    }
}

/// The page that stands in for the vDSO's `__kernel_rt_sigreturn`: glibc on arm64 passes no
/// SA_RESTORER, so Linux returns from a handler through the vDSO; we have no vDSO yet and
/// map this page instead. A `nop` first (the vDSO has one before the symbol, for unwinders),
/// then `mov x8, #139` (rt_sigreturn) and `svc #0`.
pub const SIGTRAMP_CODE: [u32; 3] = [0xd503_201f, 0xd280_1168, 0xd400_0001];
/// The offset of the return address in that page (after the nop).
pub const SIGTRAMP_ENTRY: u64 = 4;
