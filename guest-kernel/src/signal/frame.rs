//! Linux's x86_64 `rt_sigframe`: built on the user stack to enter a handler, read back by
//! rt_sigreturn.
//!
//! ```text
//! sp ->  pretcode (sa_restorer)           8
//!        ucontext: flags, link, stack    40
//!                  sigcontext           256
//!                  sigmask                8
//!        siginfo                        128
//!        ... fxsave area (64-aligned)   512
//! ```

use abi_shared::layout::user;

use super::{Action, AltStack, SigInfo, SA_NODEFER, SA_ONSTACK, SA_RESETHAND, SA_RESTORER, SIG_DFL, UNBLOCKABLE};
use crate::arch::entry::TrapFrame;
use crate::mm::uaccess;

const FXSAVE_SIZE: u64 = 512;
const REDZONE: u64 = 128;
pub const SS_ONSTACK: i32 = abi_shared::linux::general::SS_ONSTACK as i32;
pub use crate::task::signals::SS_DISABLE;
/// What a handler needs at least (AT_MINSIGSTKSZ): the frame, the FPU area and slack.
pub const MIN_SIGSTKSZ: u64 = 2048;

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct SigContext {
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rdi: u64,
    pub rsi: u64,
    pub rbp: u64,
    pub rbx: u64,
    pub rdx: u64,
    pub rax: u64,
    pub rcx: u64,
    pub rsp: u64,
    pub rip: u64,
    pub eflags: u64,
    /// cs, gs, fs, ss as four u16.
    pub segs: u64,
    pub err: u64,
    pub trapno: u64,
    pub oldmask: u64,
    pub cr2: u64,
    pub fpstate: u64,
    pub reserved: [u64; 8],
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct UContext {
    pub flags: u64,
    pub link: u64,
    pub ss_sp: u64,
    pub ss_flags: u64,
    pub ss_size: u64,
    pub mcontext: SigContext,
    pub sigmask: u64,
}

#[repr(C)]
#[derive(Clone, Copy, Debug, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub struct RtSigFrame {
    pub pretcode: u64,
    pub uc: UContext,
    pub info: SigInfo,
}

/// RFLAGS bits user code may change through sigreturn (Linux's FIX_EFLAGS).
const FIX_EFLAGS: u64 = 0x0000_0001 | 0x4 | 0x10 | 0x40 | 0x80 | 0x100 | 0x400 | 0x800 | 0x4_0000 | 0x1_0000;

#[repr(C, align(64))]
struct FxArea([u8; 512]);

fn fxsave() -> FxArea {
    let mut a = FxArea([0; 512]);
    // SAFETY: fxsave64 writes 512 bytes to a 16-byte aligned buffer; the kernel never uses
    // the FPU, so these are the user's registers.
    unsafe { core::arch::asm!("fxsave64 [{}]", in(reg) a.0.as_mut_ptr(), options(nostack)) };
    a
}

fn fxrstor(a: &FxArea) {
    // SAFETY: the area is 16-byte aligned and its MXCSR was masked to valid bits.
    unsafe { core::arch::asm!("fxrstor64 [{}]", in(reg) a.0.as_ptr(), options(nostack)) };
}

/// The FPU state a handler starts with (as after `fninit`, MXCSR 0x1f80).
fn reset_fpu() {
    let mut a = FxArea([0; 512]);
    a.0[0..2].copy_from_slice(&0x037fu16.to_le_bytes());
    a.0[24..28].copy_from_slice(&0x1f80u32.to_le_bytes());
    fxrstor(&a);
}

fn on_altstack(alt: &AltStack, sp: u64) -> bool {
    alt.flags & SS_DISABLE == 0 && sp > alt.sp && sp <= alt.sp + alt.size
}

/// Build the frame for `sig` and point `frame` at the handler.
pub fn setup(frame: &mut TrapFrame, sig: i32, info: &SigInfo, act: &Action) -> Result<(), ()> {
    if act.flags & SA_RESTORER == 0 {
        return Err(());
    }
    let (alt, old_mask) = {
        let mut me = crate::task::current().signals().lock();
        // After rt_sigsuspend the handler's frame records the mask from before the wait.
        let mask = me.saved_mask.take().unwrap_or(me.blocked);
        (me.altstack, mask)
    };
    let mut sp = frame.rsp;
    let use_alt = act.flags & SA_ONSTACK != 0 && alt.flags & SS_DISABLE == 0 && !on_altstack(&alt, sp);
    if use_alt {
        sp = alt.sp + alt.size;
    } else {
        sp = sp.wrapping_sub(REDZONE);
    }
    let fpstate = (sp.wrapping_sub(FXSAVE_SIZE)) & !63;
    let size = core::mem::size_of::<RtSigFrame>() as u64;
    let frame_addr = ((fpstate.wrapping_sub(size)) & !15).wrapping_sub(8);
    if frame_addr >= user::TASK_SIZE || fpstate >= user::TASK_SIZE {
        return Err(());
    }
    let fx = fxsave();
    uaccess::copy_to_user(fpstate, &fx.0).map_err(|_| ())?;
    let on_alt_now = on_altstack(&alt, frame.rsp);
    let f = RtSigFrame {
        pretcode: act.restorer,
        uc: UContext {
            flags: 0,
            link: 0,
            ss_sp: alt.sp,
            ss_flags: if alt.flags & SS_DISABLE != 0 {
                SS_DISABLE as u64
            } else if on_alt_now {
                SS_ONSTACK as u64
            } else {
                0
            },
            ss_size: alt.size,
            mcontext: SigContext {
                r8: frame.r8,
                r9: frame.r9,
                r10: frame.r10,
                r11: frame.r11,
                r12: frame.r12,
                r13: frame.r13,
                r14: frame.r14,
                r15: frame.r15,
                rdi: frame.rdi,
                rsi: frame.rsi,
                rbp: frame.rbp,
                rbx: frame.rbx,
                rdx: frame.rdx,
                rax: frame.rax,
                rcx: frame.rcx,
                rsp: frame.rsp,
                rip: frame.rip,
                eflags: frame.rflags,
                segs: 0x33 | (0x2b << 48),
                err: if info.signo == abi_shared::linux::signal::SIGSEGV { frame.error } else { 0 },
                trapno: if frame.vector < 32 { frame.vector } else { 0 },
                oldmask: old_mask,
                cr2: if frame.vector == 14 { info.fields[0] } else { 0 },
                fpstate,
                reserved: [0; 8],
            },
            sigmask: old_mask,
        },
        info: *info,
    };
    uaccess::write_struct(frame_addr, &f).map_err(|_| ())?;
    {
        let mut st = super::lock();
        let mut add = act.mask;
        if act.flags & SA_NODEFER == 0 {
            add |= super::bit(sig);
        }
        st.me.blocked = (old_mask | add) & !UNBLOCKABLE;
        if act.flags & SA_RESETHAND != 0 {
            // Only the handler goes back to the default; the flags and mask stay (Linux).
            st.proc.actions[sig as usize].handler = SIG_DFL;
            super::host::actions_changed();
        }
    }
    reset_fpu();
    frame.rdi = sig as u64;
    frame.rsi = frame_addr + core::mem::offset_of!(RtSigFrame, info) as u64;
    frame.rdx = frame_addr + core::mem::offset_of!(RtSigFrame, uc) as u64;
    frame.rax = 0;
    frame.rip = act.handler;
    frame.rsp = frame_addr;
    frame.rflags &= !(0x100 | 0x400 | 0x1_0000); // TF, DF, RF
    frame.cs = 0x33;
    frame.ss = 0x2b;
    Ok(())
}

/// Where the signal mask that rt_sigreturn restores lies, for a user stack pointer `rsp`
/// at the call (for --strace's `rt_sigreturn({mask=[...]})`).
pub fn sigreturn_mask_address(rsp: u64) -> u64 {
    rsp.wrapping_sub(8)
        .wrapping_add((core::mem::offset_of!(RtSigFrame, uc) + core::mem::offset_of!(UContext, sigmask)) as u64)
}

/// rt_sigreturn: the frame sits at the user rsp (the restorer's `ret` popped pretcode).
pub fn restore(frame: &mut TrapFrame) -> Result<(), ()> {
    let addr = frame.rsp.wrapping_sub(8);
    let f: RtSigFrame = read_frame(addr)?;
    let m = &f.uc.mcontext;
    frame.r8 = m.r8;
    frame.r9 = m.r9;
    frame.r10 = m.r10;
    frame.r11 = m.r11;
    frame.r12 = m.r12;
    frame.r13 = m.r13;
    frame.r14 = m.r14;
    frame.r15 = m.r15;
    frame.rdi = m.rdi;
    frame.rsi = m.rsi;
    frame.rbp = m.rbp;
    frame.rbx = m.rbx;
    frame.rdx = m.rdx;
    frame.rax = m.rax;
    frame.rcx = m.rcx;
    frame.rsp = m.rsp;
    frame.rip = m.rip;
    frame.rflags = (frame.rflags & !FIX_EFLAGS) | (m.eflags & FIX_EFLAGS) | 0x2;
    frame.cs = 0x33;
    frame.ss = 0x2b;
    if m.fpstate != 0 {
        let mut fx = FxArea([0; 512]);
        uaccess::copy_from_user(m.fpstate, &mut fx.0).map_err(|_| ())?;
        // Reserved MXCSR bits would make fxrstor fault in the kernel.
        let mxcsr = u32::from_le_bytes([fx.0[24], fx.0[25], fx.0[26], fx.0[27]]) & 0xffbf;
        fx.0[24..28].copy_from_slice(&mxcsr.to_le_bytes());
        fxrstor(&fx);
    }
    let mut me = crate::task::current().signals().lock();
    me.blocked = f.uc.sigmask & !UNBLOCKABLE;
    // restore_altstack: the saved settings come back unless we are running on it.
    if !on_altstack(&me.altstack, frame.rsp) {
        if f.uc.ss_flags as i32 & SS_DISABLE != 0 {
            me.altstack.flags = SS_DISABLE;
        } else if f.uc.ss_size >= MIN_SIGSTKSZ {
            me.altstack = AltStack { sp: f.uc.ss_sp, flags: 0, size: f.uc.ss_size };
        }
    }
    Ok(())
}

fn read_frame(addr: u64) -> Result<RtSigFrame, ()> {
    let mut f = RtSigFrame::default();
    // SAFETY: RtSigFrame is Pod: any bytes form a valid value.
    let bytes = unsafe {
        core::slice::from_raw_parts_mut(&mut f as *mut RtSigFrame as *mut u8, core::mem::size_of::<RtSigFrame>())
    };
    uaccess::copy_from_user(addr, bytes).map_err(|_| ())?;
    Ok(f)
}
