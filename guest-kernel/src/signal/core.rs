//! Core dumps: a program killed by a signal whose default action dumps core, with
//! RLIMIT_CORE above zero, leaves a Linux ELF core file that `gdb PROGRAM CORE` opens.
//!
//! The file is written as the program's own (opened by the host with the program's
//! identity, relative to its working directory, 0600, O_NOFOLLOW), named after the host's
//! core_pattern as the monitor passes it on (see docs/debugging.md).
//!
//! Every other thread is stopped first, for good, and leaves its user registers
//! (task/fork_gate.rs, as Linux's zap_threads). Notes, in Linux's order: the dying
//! thread's NT_PRSTATUS, then NT_PRPSINFO, NT_SIGINFO, NT_AUXV, NT_FILE, its NT_FPREGSET;
//! then NT_PRSTATUS and NT_FPREGSET of each other thread. Segments: one PT_LOAD per
//! mapping, as /proc/self/maps lists them; the bytes of readable private mappings (shared
//! file mappings stay in their files), pages never touched left as holes.

use alloc::vec::Vec;

use abi_shared::hypercall::{ControlRequest, FsRequest, GuestSeg, Request, Response, SegList};
use abi_shared::layout::{selectors, PAGE_SIZE};

use super::SigInfo;
use crate::arch::entry::TrapFrame;
use crate::hypercall::{call, call_ret, kernel_buf_seg};
use crate::task::fork_gate::ThreadRegs;

const RLIMIT_CORE: u64 = abi_shared::linux::general::RLIMIT_CORE as u64;
const O_WRONLY: i32 = abi_shared::linux::general::O_WRONLY as i32;
const O_CREAT: i32 = abi_shared::linux::general::O_CREAT as i32;
const O_TRUNC: i32 = abi_shared::linux::general::O_TRUNC as i32;
const O_NOFOLLOW: i32 = abi_shared::linux::general::O_NOFOLLOW as i32;
const O_CLOEXEC: i32 = abi_shared::linux::general::O_CLOEXEC as i32;
use abi_shared::linux::general::AT_FDCWD;

use linux_raw_sys::elf_uapi::NT_AUXV;
use linux_raw_sys::elf_uapi::NT_FILE;
use linux_raw_sys::elf_uapi::NT_PRFPREG;
use linux_raw_sys::elf_uapi::NT_PRPSINFO;
use linux_raw_sys::elf_uapi::NT_PRSTATUS;
use linux_raw_sys::elf_uapi::NT_SIGINFO;

/// One mapping as /proc/self/maps shows it.
struct Mapping {
    start: u64,
    end: u64,
    flags: u32,
    /// Whether its bytes go into the file.
    dumped: bool,
    file: Option<(u64, Vec<u8>)>,
}

/// Write the core file for `sig` if RLIMIT_CORE allows one; whether one was written.
pub fn dump(frame: &TrapFrame, sig: i32, info: &SigInfo) -> bool {
    let limit = crate::task::rlimit_soft(RLIMIT_CORE);
    if limit == 0 || crate::task::dumpable() == 0 {
        return false;
    }
    // The others stop before anything is read, and never run again (the process ends
    // after the dump), so the file shows one instant of every thread and of the memory.
    let others = crate::task::fork_gate::stop_others_for_core();
    let Some(name) = core_name(sig) else { return false };
    let fd = call_ret(&Request::Fs(FsRequest::Openat {
        dirfd: AT_FDCWD,
        path: &name,
        flags: O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
        mode: 0o600,
    }));
    if fd < 0 {
        return false;
    }
    let fd = fd as i32;
    let ok = write_core(fd, &dying_thread(frame), &others, sig, info, limit).is_some();
    call_ret(&Request::Fs(FsRequest::Close { fd }));
    ok
}

/// The file name: the host's pattern with the specifiers Linux expands.
fn core_name(sig: i32) -> Option<Vec<u8>> {
    let pattern = match call(&Request::Control(ControlRequest::CorePattern)) {
        Response::Bytes { ret: 0, data } => data,
        _ => return None,
    };
    let mut out = Vec::new();
    let mut it = pattern.iter().copied();
    let num = |out: &mut Vec<u8>, n: u64| out.extend_from_slice(alloc::format!("{n}").as_bytes());
    while let Some(c) = it.next() {
        if c != b'%' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some(b'%') => out.push(b'%'),
            Some(b'p' | b'P') => num(&mut out, crate::task::pid() as u64),
            Some(b'i' | b'I') => num(&mut out, crate::task::tid() as u64),
            Some(b'u') => num(&mut out, crate::task::uid().into()),
            Some(b'g') => num(&mut out, crate::task::gid().into()),
            Some(b's') => num(&mut out, sig as u64),
            Some(b't') => num(&mut out, crate::time::realtime_ns() / 1_000_000_000),
            Some(b'h') => out.extend_from_slice(&crate::task::hostname()),
            Some(b'e') => out.extend(crate::task::comm().iter().map(|&b| if b == b'/' { b'!' } else { b })),
            Some(b'c') => num(&mut out, crate::task::rlimit_soft(RLIMIT_CORE)),
            _ => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

fn note(out: &mut Vec<u8>, kind: u32, desc: &[u8]) {
    out.extend_from_slice(&5u32.to_le_bytes());
    out.extend_from_slice(&(desc.len() as u32).to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    out.extend_from_slice(b"CORE\0\0\0\0");
    out.extend_from_slice(desc);
    out.resize(out.len().next_multiple_of(4), 0);
}

fn put(buf: &mut [u8], off: usize, bytes: &[u8]) {
    buf[off..off + bytes.len()].copy_from_slice(bytes);
}

/// The dying thread's registers: its trap frame as the signal found it, with FS/GS and
/// the FPU/SSE state as a debugger sees them.
fn dying_thread(frame: &TrapFrame) -> ThreadRegs {
    let regs = super::debug::regs_of(frame);
    ThreadRegs {
        vcpu: crate::percpu::cpu_index(),
        tid: crate::task::tid(),
        frame: TrapFrame { rflags: regs.rflags, ..*frame },
        fs_base: regs.fs_base,
        gs_base: regs.gs_base,
        fxsave: regs.fxsave,
    }
}

/// struct elf_prstatus (x86_64, 336 bytes) of one thread. Every thread's names the
/// signal, as Linux's do; the dying thread's siginfo code is `code`.
fn prstatus(t: &ThreadRegs, sig: i32, code: i32) -> Vec<u8> {
    let mut p = alloc::vec![0u8; 336];
    put(&mut p, 0, &sig.to_le_bytes());
    put(&mut p, 4, &code.to_le_bytes());
    put(&mut p, 12, &(sig as u16).to_le_bytes());
    put(&mut p, 32, &t.tid.to_le_bytes());
    put(&mut p, 36, &crate::task::ppid().to_le_bytes());
    put(&mut p, 40, &crate::task::pid().to_le_bytes());
    put(&mut p, 44, &crate::task::pid().to_le_bytes());
    let f = &t.frame;
    // user_regs_struct order.
    let gregs: [u64; 27] = [
        f.r15,
        f.r14,
        f.r13,
        f.r12,
        f.rbp,
        f.rbx,
        f.r11,
        f.r10,
        f.r9,
        f.r8,
        f.rax,
        f.rcx,
        f.rdx,
        f.rsi,
        f.rdi,
        super::debug::orig_rax_of(f, t.vcpu),
        f.rip,
        selectors::USER_CS as u64,
        f.rflags,
        f.rsp,
        selectors::USER_DS as u64,
        t.fs_base,
        t.gs_base,
        0,
        0,
        0,
        0,
    ];
    for (i, r) in gregs.iter().enumerate() {
        put(&mut p, 112 + 8 * i, &r.to_le_bytes());
    }
    put(&mut p, 328, &1i32.to_le_bytes());
    p
}

/// struct elf_prpsinfo (x86_64, 136 bytes).
fn prpsinfo() -> Vec<u8> {
    let mut p = alloc::vec![0u8; 136];
    p[0] = 0;
    p[1] = b'R';
    put(&mut p, 16, &crate::task::uid().to_le_bytes());
    put(&mut p, 20, &crate::task::gid().to_le_bytes());
    put(&mut p, 24, &crate::task::pid().to_le_bytes());
    put(&mut p, 28, &crate::task::ppid().to_le_bytes());
    put(&mut p, 32, &crate::task::pid().to_le_bytes());
    put(&mut p, 36, &crate::task::pid().to_le_bytes());
    let comm = crate::task::comm();
    let n = comm.len().min(15);
    put(&mut p, 40, &comm[..n]);
    // The command line, its NULs as spaces, cut as Linux cuts it (80 bytes).
    let args = super::debug::cmdline();
    let n = args.len().min(79);
    let psargs: Vec<u8> = args[..n].iter().map(|&b| if b == 0 { b' ' } else { b }).collect();
    put(&mut p, 56, psargs.strip_suffix(b" ").unwrap_or(&psargs));
    p
}

fn hex(field: &[u8]) -> Option<u64> {
    u64::from_str_radix(core::str::from_utf8(field).ok()?, 16).ok()
}

/// The mappings, from the text /proc/self/maps shows.
fn mappings() -> Vec<Mapping> {
    let text = super::debug::maps();
    let mut out = Vec::new();
    for line in text.split(|&b| b == b'\n') {
        let mut fields = line.splitn(6, |&b| b == b' ');
        let (Some(range), Some(perms), Some(offset), _, _) =
            (fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let name = fields.next().map(|n| n.trim_ascii_start()).unwrap_or(b"");
        let Some(dash) = range.iter().position(|&b| b == b'-') else { continue };
        let (Some(start), Some(end), Some(offset)) = (hex(&range[..dash]), hex(&range[dash + 1..]), hex(offset)) else {
            continue;
        };
        let p = |i: usize, c: u8| perms.get(i) == Some(&c);
        let flags =
            (if p(0, b'r') { 4 } else { 0 }) | (if p(1, b'w') { 2 } else { 0 }) | (if p(2, b'x') { 1 } else { 0 });
        let file = name.starts_with(b"/").then(|| (offset, name.to_vec()));
        // Every readable private mapping: Linux leaves out file pages never written, but
        // here every page of a private file mapping is the process's own copy, and which
        // were written (ld.so's relocations in what RELRO made read-only since) cannot be
        // told. Shared file mappings stay in their files, as Linux's default
        // coredump_filter has it; [vvar] is the kernel's.
        let dumped = p(0, b'r') && name != b"[vvar]" && p(3, b'p');
        out.push(Mapping { start, end, flags, dumped, file });
    }
    out
}

fn nt_file(maps: &[Mapping]) -> Vec<u8> {
    let files: Vec<&Mapping> = maps.iter().filter(|m| m.file.is_some()).collect();
    let mut d = Vec::new();
    d.extend_from_slice(&(files.len() as u64).to_le_bytes());
    d.extend_from_slice(&PAGE_SIZE.to_le_bytes());
    for m in &files {
        let off = m.file.as_ref().map_or(0, |f| f.0);
        for v in [m.start, m.end, off / PAGE_SIZE] {
            d.extend_from_slice(&v.to_le_bytes());
        }
    }
    for m in &files {
        if let Some((_, name)) = &m.file {
            d.extend_from_slice(name);
            d.push(0);
        }
    }
    d
}

fn pwrite(fd: i32, segs: &[GuestSeg], offset: u64) -> Option<()> {
    let len: u64 = segs.iter().map(|s| s.len).sum();
    let n = call_ret(&Request::Fs(FsRequest::Write { fd, buf: SegList::Borrowed(segs), offset: Some(offset as i64) }));
    (n >= 0 && n as u64 == len).then_some(())
}

fn write_core(fd: i32, me: &ThreadRegs, others: &[ThreadRegs], sig: i32, info: &SigInfo, limit: u64) -> Option<()> {
    let maps = mappings();
    let mut notes = Vec::new();
    // Linux's order (gdb takes the first NT_PRSTATUS for the thread that died): the dying
    // thread's status, the process's notes, the rest of its own; then each other thread's.
    note(&mut notes, NT_PRSTATUS, &prstatus(me, sig, info.code));
    note(&mut notes, NT_PRPSINFO, &prpsinfo());
    note(&mut notes, NT_SIGINFO, abi_shared::linux::Pod::as_bytes(info));
    note(&mut notes, NT_AUXV, &super::debug::auxv());
    note(&mut notes, NT_FILE, &nt_file(&maps));
    note(&mut notes, NT_PRFPREG, &me.fxsave);
    for t in others {
        note(&mut notes, NT_PRSTATUS, &prstatus(t, sig, 0));
        note(&mut notes, NT_PRFPREG, &t.fxsave);
    }
    let phnum = 1 + maps.len();
    let notes_off = 64 + 56 * phnum as u64;
    let mut data_off = (notes_off + notes.len() as u64).next_multiple_of(PAGE_SIZE);
    let mut head = Vec::new();
    // ELF header: ELFCLASS64, little-endian, ET_CORE, EM_X86_64.
    head.extend_from_slice(b"\x7fELF\x02\x01\x01\0\0\0\0\0\0\0\0\0");
    head.extend_from_slice(&4u16.to_le_bytes());
    head.extend_from_slice(&62u16.to_le_bytes());
    head.extend_from_slice(&1u32.to_le_bytes());
    head.extend_from_slice(&0u64.to_le_bytes()); // e_entry
    head.extend_from_slice(&64u64.to_le_bytes()); // e_phoff
    head.extend_from_slice(&0u64.to_le_bytes()); // e_shoff
    head.extend_from_slice(&0u32.to_le_bytes()); // e_flags
    for v in [64u16, 56, phnum as u16, 64, 0, 0] {
        head.extend_from_slice(&v.to_le_bytes());
    }
    let phdr =
        |head: &mut Vec<u8>, kind: u32, flags: u32, off: u64, vaddr: u64, filesz: u64, memsz: u64, align: u64| {
            head.extend_from_slice(&kind.to_le_bytes());
            head.extend_from_slice(&flags.to_le_bytes());
            for v in [off, vaddr, 0, filesz, memsz, align] {
                head.extend_from_slice(&v.to_le_bytes());
            }
        };
    phdr(&mut head, 4, 0, notes_off, 0, notes.len() as u64, 0, 0);
    let mut loads = Vec::new();
    for m in &maps {
        let size = m.end - m.start;
        let filesz = if m.dumped { size } else { 0 };
        phdr(&mut head, 1, m.flags, data_off, m.start, filesz, size, PAGE_SIZE);
        if m.dumped {
            loads.push((m.start, m.end, data_off));
        }
        data_off += filesz;
    }
    // RLIMIT_CORE caps the file: Linux stops writing there.
    let end = data_off.min(limit);
    head.extend_from_slice(&notes);
    pwrite(fd, &[kernel_buf_seg(&head)], 0)?;
    // Runs of present pages, each written with one pwrite at its place in the file.
    let mut segs: Vec<GuestSeg> = Vec::new();
    let (mut run_off, mut run_end) = (0, 0);
    for (start, stop, off) in loads {
        let mut va = start;
        while va < stop {
            let here = off + (va - start);
            if here + PAGE_SIZE > end {
                break;
            }
            // Only pages that exist: a page never touched stays a hole (it reads as zero).
            if let Some((gpa, _)) = crate::mm::paging::translate(va) {
                if here != run_end || segs.len() >= 256 {
                    if !segs.is_empty() {
                        pwrite(fd, &segs, run_off)?;
                    }
                    segs.clear();
                    run_off = here;
                }
                match segs.last_mut() {
                    Some(l) if l.gpa + l.len == gpa => l.len += PAGE_SIZE,
                    _ => segs.push(GuestSeg { gpa, len: PAGE_SIZE }),
                }
                run_end = here + PAGE_SIZE;
            }
            va += PAGE_SIZE;
        }
    }
    if !segs.is_empty() {
        pwrite(fd, &segs, run_off)?;
    }
    // The holes at the end count too: the file is as long as its last segment says.
    (call_ret(&Request::Fs(FsRequest::Ftruncate { fd, length: end as i64 })) >= 0).then_some(())
}
