//! Classic BPF as seccomp runs it: the checks a filter must pass before it is attached
//! (Linux's `bpf_check_classic`, `check_load_and_stores` and `seccomp_check_filter`, with
//! their EINVAL), and the interpreter that runs it over a syscall's `seccomp_data`.
//! Pure code: unit-tested on the host.

use alloc::vec::Vec;

/// `struct sock_filter`, as the program gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    pub code: u16,
    pub jt: u8,
    pub jf: u8,
    pub k: u32,
}

impl SockFilter {
    /// From the 8 bytes of one `struct sock_filter`.
    pub fn from_bytes(b: &[u8; 8]) -> SockFilter {
        SockFilter {
            code: u16::from_le_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_le_bytes([b[4], b[5], b[6], b[7]]),
        }
    }
}

/// A filter's longest program (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;
/// `sizeof(struct seccomp_data)`: nr, arch, instruction_pointer, args[6].
pub const DATA_LEN: u32 = 64;
/// The scratch memory cells (BPF_MEMWORDS).
const MEM_WORDS: u32 = 16;

// Instruction classes and fields (linux/bpf_common.h).
const LD: u16 = 0x00;
const LDX: u16 = 0x01;
const ST: u16 = 0x02;
const STX: u16 = 0x03;
const ALU: u16 = 0x04;
const JMP: u16 = 0x05;
const RET: u16 = 0x06;
const MISC: u16 = 0x07;
const W: u16 = 0x00;
const IMM: u16 = 0x00;
const ABS: u16 = 0x20;
const MEM: u16 = 0x60;
const LEN: u16 = 0x80;
const K: u16 = 0x00;
const X: u16 = 0x08;
const A: u16 = 0x10;
const ADD: u16 = 0x00;
const SUB: u16 = 0x10;
const MUL: u16 = 0x20;
const DIV: u16 = 0x30;
const OR: u16 = 0x40;
const AND: u16 = 0x50;
const LSH: u16 = 0x60;
const RSH: u16 = 0x70;
const NEG: u16 = 0x80;
const XOR: u16 = 0xa0;
const JA: u16 = 0x00;
const JEQ: u16 = 0x10;
const JGT: u16 = 0x20;
const JGE: u16 = 0x30;
const JSET: u16 = 0x40;
const TAX: u16 = 0x00;
const TXA: u16 = 0x80;

/// One checked instruction, in the form the interpreter runs (seccomp's rewrites done:
/// a load of the data's length is a load of the constant 64).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Insn {
    LdAbs(u32),
    LdImm(u32),
    LdxImm(u32),
    LdMem(u32),
    LdxMem(u32),
    St(u32),
    Stx(u32),
    Alu { op: u16, src: Operand },
    Neg,
    Ja(u32),
    Jump { op: u16, src: Operand, jt: u8, jf: u8 },
    RetK(u32),
    RetA,
    Tax,
    Txa,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Operand {
    K(u32),
    X,
}

/// Check a filter as Linux does before attaching it; EINVAL is the only refusal.
pub fn check(prog: &[SockFilter]) -> Result<Vec<Insn>, ()> {
    if prog.is_empty() || prog.len() > MAX_INSNS {
        return Err(());
    }
    for (pc, f) in prog.iter().enumerate() {
        check_classic(f, pc, prog.len())?;
    }
    if !matches!(prog[prog.len() - 1].code, c if c == RET | K || c == RET | A) {
        return Err(());
    }
    check_load_and_stores(prog)?;
    prog.iter().map(seccomp_insn).collect()
}

/// bpf_check_classic's per-instruction rules that concern the codes seccomp allows.
fn check_classic(f: &SockFilter, pc: usize, len: usize) -> Result<(), ()> {
    let code = f.code;
    let ok = match code {
        c if c == ALU | DIV | K => f.k != 0,
        c if c == ALU | LSH | K || c == ALU | RSH | K => f.k < 32,
        c if c == LD | MEM || c == LDX | MEM || c == ST || c == STX => f.k < MEM_WORDS,
        c if c == JMP | JA => (f.k as u64) < (len - pc - 1) as u64,
        c if is_conditional_jump(c) => pc + f.jt as usize + 1 < len && pc + f.jf as usize + 1 < len,
        _ => true,
    };
    ok.then_some(()).ok_or(())
}

/// JEQ, JGT, JGE or JSET against K or X.
fn is_conditional_jump(code: u16) -> bool {
    code & !(0xf0 | X) == JMP && matches!(code & 0xf0, JEQ | JGT | JGE | JSET)
}

/// The binary ALU operations seccomp allows, against K or X (no MOD).
fn is_binary_alu(code: u16) -> bool {
    code & !(0xf0 | X) == ALU && matches!(code & 0xf0, ADD | SUB | MUL | DIV | AND | OR | XOR | LSH | RSH)
}

/// A scratch cell must be written on every path before it is read.
fn check_load_and_stores(prog: &[SockFilter]) -> Result<(), ()> {
    let mut masks = alloc::vec![u16::MAX; prog.len()];
    let mut valid: u16 = 0;
    for (pc, f) in prog.iter().enumerate() {
        valid &= masks[pc];
        match f.code {
            c if c == ST || c == STX => valid |= 1 << f.k,
            c if (c == LD | MEM || c == LDX | MEM) && valid & (1 << f.k) == 0 => return Err(()),
            c if c == JMP | JA => {
                masks[pc + 1 + f.k as usize] &= valid;
                valid = u16::MAX;
            }
            c if is_conditional_jump(c) => {
                masks[pc + 1 + f.jt as usize] &= valid;
                masks[pc + 1 + f.jf as usize] &= valid;
                valid = u16::MAX;
            }
            _ => {}
        }
    }
    Ok(())
}

/// seccomp_check_filter: the instructions a seccomp filter may use (no byte or half-word
/// loads, no indirect loads, no extensions), with aligned in-bounds data loads.
fn seccomp_insn(f: &SockFilter) -> Result<Insn, ()> {
    let (code, k) = (f.code, f.k);
    let operand = if code & X != 0 { Operand::X } else { Operand::K(k) };
    Ok(match code {
        c if c == LD | W | ABS => {
            if k >= DATA_LEN || k & 3 != 0 {
                return Err(());
            }
            Insn::LdAbs(k)
        }
        c if c == LD | W | LEN => Insn::LdImm(DATA_LEN),
        c if c == LDX | W | LEN => Insn::LdxImm(DATA_LEN),
        c if c == RET | K => Insn::RetK(k),
        c if c == RET | A => Insn::RetA,
        c if is_binary_alu(c) => Insn::Alu { op: c & 0xf0, src: operand },
        c if c == ALU | NEG => Insn::Neg,
        c if c == LD | IMM => Insn::LdImm(k),
        c if c == LDX | IMM => Insn::LdxImm(k),
        c if c == MISC | TAX => Insn::Tax,
        c if c == MISC | TXA => Insn::Txa,
        c if c == LD | MEM => Insn::LdMem(k),
        c if c == LDX | MEM => Insn::LdxMem(k),
        c if c == ST => Insn::St(k),
        c if c == STX => Insn::Stx(k),
        c if c == JMP | JA => Insn::Ja(k),
        c if is_conditional_jump(c) => Insn::Jump { op: c & 0xf0, src: operand, jt: f.jt, jf: f.jf },
        _ => return Err(()),
    })
}

/// Run a checked program over `data` (a `struct seccomp_data`): its return value.
pub fn run(prog: &[Insn], data: &[u8; DATA_LEN as usize]) -> u32 {
    let (mut a, mut x, mut mem) = (0u32, 0u32, [0u32; MEM_WORDS as usize]);
    let mut pc = 0usize;
    // Every jump goes forward and the last instruction returns (checked), so this ends.
    while let Some(&insn) = prog.get(pc) {
        pc += 1;
        match insn {
            Insn::LdAbs(k) => {
                let k = k as usize;
                a = u32::from_le_bytes([data[k], data[k + 1], data[k + 2], data[k + 3]]);
            }
            Insn::LdImm(k) => a = k,
            Insn::LdxImm(k) => x = k,
            Insn::LdMem(k) => a = mem[k as usize],
            Insn::LdxMem(k) => x = mem[k as usize],
            Insn::St(k) => mem[k as usize] = a,
            Insn::Stx(k) => mem[k as usize] = x,
            Insn::Alu { op, src } => {
                let v = match src {
                    Operand::K(k) => k,
                    Operand::X => x,
                };
                a = match op {
                    ADD => a.wrapping_add(v),
                    SUB => a.wrapping_sub(v),
                    MUL => a.wrapping_mul(v),
                    // Classic BPF: a division by a zero X ends the program with 0.
                    DIV if v == 0 => return 0,
                    DIV => a / v,
                    AND => a & v,
                    OR => a | v,
                    XOR => a ^ v,
                    LSH => a.wrapping_shl(v),
                    _ => a.wrapping_shr(v),
                };
            }
            Insn::Neg => a = a.wrapping_neg(),
            Insn::Ja(k) => pc += k as usize,
            Insn::Jump { op, src, jt, jf } => {
                let v = match src {
                    Operand::K(k) => k,
                    Operand::X => x,
                };
                let taken = match op {
                    JEQ => a == v,
                    JGT => a > v,
                    JGE => a >= v,
                    _ => a & v != 0,
                };
                pc += if taken { jt } else { jf } as usize;
            }
            Insn::RetK(k) => return k,
            Insn::RetA => return a,
            Insn::Tax => x = a,
            Insn::Txa => a = x,
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
        SockFilter { code, jt, jf, k }
    }

    const ALLOW: u32 = 0x7fff_0000;
    const ERRNO_1: u32 = 0x0005_0001;

    /// Allow everything but syscall 39 (getpid), which gets EPERM.
    fn deny_getpid() -> Vec<SockFilter> {
        alloc::vec![
            f(LD | W | ABS, 0, 0, 0),
            f(JMP | JEQ | K, 0, 1, 39),
            f(RET | K, 0, 0, ERRNO_1),
            f(RET | K, 0, 0, ALLOW),
        ]
    }

    fn data(nr: i32, args: [u64; 6]) -> [u8; 64] {
        let mut d = [0u8; 64];
        d[..4].copy_from_slice(&nr.to_le_bytes());
        d[4..8].copy_from_slice(&0xc000_003eu32.to_le_bytes());
        for (i, a) in args.iter().enumerate() {
            d[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        d
    }

    #[test]
    fn a_filter_picks_its_verdict_by_syscall_number() {
        let prog = check(&deny_getpid()).unwrap();
        assert_eq!(run(&prog, &data(39, [0; 6])), ERRNO_1);
        assert_eq!(run(&prog, &data(1, [0; 6])), ALLOW);
    }

    #[test]
    fn arguments_scratch_memory_and_arithmetic() {
        // Return (args[1] low word + 5) * 2 through M[3] and X.
        let prog = [
            f(LD | W | ABS, 0, 0, 24),
            f(ALU | ADD | K, 0, 0, 5),
            f(ST, 0, 0, 3),
            f(LDX | MEM, 0, 0, 3),
            f(MISC | TXA, 0, 0, 0),
            f(ALU | MUL | K, 0, 0, 2),
            f(RET | A, 0, 0, 0),
        ];
        let prog = check(&prog).unwrap();
        assert_eq!(run(&prog, &data(0, [0, 16, 0, 0, 0, 0])), 42);
        // The data's length is 64, and a division by a zero X returns 0.
        let prog = [f(LD | W | LEN, 0, 0, 0), f(ALU | DIV | X, 0, 0, 0), f(RET | A, 0, 0, 0)];
        assert_eq!(run(&check(&prog).unwrap(), &data(0, [0; 6])), 0);
        let prog = [f(LD | W | LEN, 0, 0, 0), f(RET | A, 0, 0, 0)];
        assert_eq!(run(&check(&prog).unwrap(), &data(0, [0; 6])), 64);
    }

    #[test]
    fn linux_refuses_what_it_refuses() {
        let ret = f(RET | K, 0, 0, ALLOW);
        assert!(check(&[]).is_err());
        assert!(check(&alloc::vec![ret; MAX_INSNS + 1]).is_err());
        assert!(check(&alloc::vec![ret; MAX_INSNS]).is_ok());
        // Not ending in a return; a jump past the end; a misaligned or out-of-range load.
        assert!(check(&[f(LD | IMM, 0, 0, 1)]).is_err());
        assert!(check(&[f(JMP | JEQ | K, 1, 0, 0), ret]).is_err());
        assert!(check(&[f(JMP | JA, 0, 0, 1), ret]).is_err());
        assert!(check(&[f(LD | W | ABS, 0, 0, 2), ret]).is_err());
        assert!(check(&[f(LD | W | ABS, 0, 0, 64), ret]).is_err());
        // Byte loads, indirect loads, MOD and division by a constant 0 are not seccomp's.
        assert!(check(&[f(0x30, 0, 0, 0), ret]).is_err());
        assert!(check(&[f(0x40, 0, 0, 0), ret]).is_err());
        assert!(check(&[f(ALU | 0x90, 0, 0, 3), ret]).is_err());
        assert!(check(&[f(ALU | DIV | K, 0, 0, 0), ret]).is_err());
        // A cell read before any write, on some path.
        assert!(check(&[f(LD | MEM, 0, 0, 0), ret]).is_err());
        let maybe_written = [f(JMP | JEQ | K, 0, 1, 7), f(ST, 0, 0, 1), f(LD | MEM, 0, 0, 1), ret];
        assert!(check(&maybe_written).is_err());
        let written = [f(ST, 0, 0, 1), f(JMP | JEQ | K, 0, 0, 7), f(LD | MEM, 0, 0, 1), ret];
        assert!(check(&written).is_ok());
    }
}
