//! SysV IPC: semaphores, message queues and shared memory are the host's, so a program
//! shares them with native programs. The calls are forwarded with Linux's arguments
//! checked here in Linux's order; the structs and arrays a command reads or fills are
//! copied through kernel buffers (`ipc::ctl_arg` says which), never passed as pointers.
//!
//! A blocking semop or msgrcv blocks in the host; a host signal ends it with EINTR, which
//! is the program's only when a signal is deliverable now (else the wait goes on, as on
//! Linux, where a blocked signal does not interrupt). Linux never restarts semop and
//! semtimedop, and restarts msgsnd and msgrcv only when no handler ran (ERESTARTNOHAND),
//! which is what waiting on amounts to.
//!
//! shmat maps the segment through the file window, as MAP_SHARED maps a file: the host
//! attaches the segment there (so the pages are the segment's own), and the VMA records
//! that it is an attachment, for shmdt. A forked child inherits the attachment with the
//! host process; exec and exit unmap it, which detaches it in the host.

use alloc::vec;
use alloc::vec::Vec;

use abi_shared::hypercall::{GuestSeg, IpcRequest, MmRequest, Request, SegList};
use abi_shared::ipc::{self, CtlArg, IpcKind};
use abi_shared::linux::{errno, Timespec};

use super::{err, Ctx, EINTR, EINVAL, ENOMEM};
use crate::hypercall::{call_ret, kernel_buf_seg};
use crate::mm::paging::page_ceil;
use crate::mm::uaccess::{self, user_segments};
use crate::mm::vma::{FileBacking, PROT_READ, PROT_WRITE};
use crate::mm::{window, Access, SPACE};

use abi_shared::linux::general::PROT_EXEC;

/// Run a host wait again while it was cut short by a host signal that the program does
/// not take now (blocked in the guest, or its handler already ran elsewhere).
fn wait_on(mut call: impl FnMut() -> i64) -> i64 {
    loop {
        crate::task::fork_gate::checkpoint();
        let r = call();
        if r != EINTR || crate::signal::has_deliverable() {
            return r;
        }
    }
}

pub fn semget(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Ipc(IpcRequest::IpcGet {
        kind: IpcKind::Sem,
        key: c.int(0),
        arg: c.int(1) as u64,
        flags: c.int(2),
    }))
}

pub fn msgget(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Ipc(IpcRequest::IpcGet { kind: IpcKind::Msg, key: c.int(0), arg: 0, flags: c.int(1) }))
}

pub fn shmget(c: &mut Ctx<'_>) -> i64 {
    call_ret(&Request::Ipc(IpcRequest::IpcGet { kind: IpcKind::Shm, key: c.int(0), arg: c.arg(1), flags: c.int(2) }))
}

/// One ctl call through a kernel buffer (on the heap, which the host reaches through its
/// guest-physical address): `buf` holds what the command reads, or receives what it fills.
fn ctl_call(kind: IpcKind, id: i32, cmd: i32, semnum: i32, value: i32, buf: &mut [u8]) -> i64 {
    let seg = [kernel_buf_seg(buf)];
    let segs: &[GuestSeg] = if buf.is_empty() { &[] } else { &seg };
    call_ret(&Request::Ipc(IpcRequest::IpcCtl { kind, id, cmd, semnum, value, buf: SegList::Borrowed(segs) }))
}

/// The number of semaphores in set `id` (its IPC_STAT), for GETALL and SETALL.
fn sem_count(id: i32) -> Result<usize, i64> {
    let mut ds = vec![0u8; ipc::SEMID_DS_SIZE];
    let r = ctl_call(IpcKind::Sem, id, ipc::IPC_STAT, 0, 0, &mut ds);
    if r < 0 {
        return Err(r);
    }
    usize::try_from(ipc::semid_ds_nsems(&ds)).map_err(|_| ENOMEM)
}

/// A zeroed kernel buffer, or ENOMEM.
fn kernel_buf(len: usize) -> Result<Vec<u8>, i64> {
    let mut v = Vec::new();
    v.try_reserve_exact(len).map_err(|_| ENOMEM)?;
    v.resize(len, 0);
    Ok(v)
}

/// semctl/msgctl/shmctl: `arg` is the last argument (a pointer, or SETVAL's int).
fn ctl(kind: IpcKind, id: i32, semnum: i32, cmd: i32, arg: u64) -> i64 {
    let Some(what) = ipc::ctl_arg(kind, cmd) else { return EINVAL };
    match what {
        CtlArg::None => ctl_call(kind, id, cmd, semnum, 0, &mut []),
        CtlArg::Value => ctl_call(kind, id, cmd, semnum, arg as i32, &mut []),
        CtlArg::StructIn(n) => {
            // Linux reads the struct before it looks the id up.
            let mut buf = vec![0u8; n];
            tryret!(uaccess::copy_from_user(arg, &mut buf));
            ctl_call(kind, id, cmd, semnum, 0, &mut buf)
        }
        CtlArg::StructOut(n) => {
            let mut buf = vec![0u8; n];
            let r = ctl_call(kind, id, cmd, semnum, 0, &mut buf);
            if r >= 0 {
                tryret!(uaccess::copy_to_user(arg, &buf));
            }
            r
        }
        CtlArg::ArrayOut => {
            let mut buf = tryret!(sem_count(id).and_then(|n| kernel_buf(n * 2)));
            let r = ctl_call(kind, id, cmd, semnum, 0, &mut buf);
            if r >= 0 {
                tryret!(uaccess::copy_to_user(arg, &buf));
            }
            r
        }
        CtlArg::ArrayIn => {
            let mut buf = tryret!(sem_count(id).and_then(|n| kernel_buf(n * 2)));
            tryret!(uaccess::copy_from_user(arg, &mut buf));
            ctl_call(kind, id, cmd, semnum, 0, &mut buf)
        }
    }
}

pub fn semctl(c: &mut Ctx<'_>) -> i64 {
    ctl(IpcKind::Sem, c.int(0), c.int(1), c.int(2), c.arg(3))
}

pub fn msgctl(c: &mut Ctx<'_>) -> i64 {
    ctl(IpcKind::Msg, c.int(0), 0, c.int(1), c.arg(2))
}

pub fn shmctl(c: &mut Ctx<'_>) -> i64 {
    ctl(IpcKind::Shm, c.int(0), 0, c.int(1), c.arg(2))
}

pub fn semop(c: &mut Ctx<'_>) -> i64 {
    do_semtimedop(c.int(0), c.arg(1), c.arg(2) as u32, 0)
}

pub fn semtimedop(c: &mut Ctx<'_>) -> i64 {
    do_semtimedop(c.int(0), c.arg(1), c.arg(2) as u32, c.arg(3))
}

/// Linux's order: the timeout is read, the count checked, the operations read, then the
/// timeout's value checked.
fn do_semtimedop(id: i32, sops: u64, nsops: u32, timeout: u64) -> i64 {
    let timeout = if timeout == 0 { None } else { Some(tryret!(uaccess::read_struct::<Timespec>(timeout))) };
    if nsops == 0 || id < 0 {
        return EINVAL;
    }
    if nsops as usize > ipc::SEMOPM {
        return err(errno::E2BIG);
    }
    let mut ops = vec![0u8; nsops as usize * ipc::SEMBUF_SIZE];
    tryret!(uaccess::copy_from_user(sops, &mut ops));
    let relative = match timeout {
        Some(ts) => match crate::time::timespec_ns(&ts) {
            Some(ns) => Some(ns),
            None => return EINVAL,
        },
        None => None,
    };
    let deadline = relative.map(|ns| crate::time::monotonic_ns().saturating_add(ns));
    wait_on(|| {
        let timeout_ns = deadline.map(|d| d.saturating_sub(crate::time::monotonic_ns()));
        call_ret(&Request::Ipc(IpcRequest::Semop { id, sops: &ops, timeout_ns }))
    })
}

/// msgsnd: Linux reads mtype first, then checks the size, the id and mtype, then reads
/// the text.
pub fn msgsnd(c: &mut Ctx<'_>) -> i64 {
    let (id, msgp, size, flags) = (c.int(0), c.arg(1), c.arg(2), c.int(3));
    let mtype = tryret!(uaccess::read_u64(msgp)) as i64;
    if (size as i64) < 0 || id < 0 || size > ipc::MSG_MAX_BYTES as u64 || mtype < 1 {
        return EINVAL;
    }
    let mut segs = Vec::new();
    tryret!(user_segments(msgp, 8 + size, Access::Read, &mut segs));
    wait_on(|| call_ret(&Request::Ipc(IpcRequest::Msgsnd { id, msg: SegList::Borrowed(&segs), flags })))
}

/// msgrcv: the host receives, then writes as much as the program's buffer takes (the
/// segments end where it stops being writable: a longer message is EFAULT after it was
/// taken, as on Linux).
pub fn msgrcv(c: &mut Ctx<'_>) -> i64 {
    let (id, msgp, size, msgtyp, flags) = (c.int(0), c.arg(1), c.arg(2), c.arg(3) as i64, c.int(4));
    if id < 0 || (size as i64) < 0 {
        return EINVAL;
    }
    let size = size.min(ipc::MSG_MAX_BYTES as u64);
    let mut segs = Vec::new();
    let _ = user_segments(msgp, 8 + size, Access::Write, &mut segs);
    wait_on(|| call_ret(&Request::Ipc(IpcRequest::Msgrcv { id, msg: SegList::Borrowed(&segs), size, msgtyp, flags })))
}

/// Where shmat puts the segment: None lets the kernel choose; Err for an address Linux
/// refuses (EINVAL).
fn attach_address(addr: u64, flags: i32) -> Result<Option<u64>, i64> {
    if addr == 0 {
        return if flags & ipc::SHM_REMAP != 0 { Err(EINVAL) } else { Ok(None) };
    }
    if addr.is_multiple_of(ipc::SHMLBA) {
        return Ok(Some(addr));
    }
    if flags & ipc::SHM_RND == 0 {
        return Err(EINVAL);
    }
    let rounded = addr & !(ipc::SHMLBA - 1);
    if rounded == 0 && flags & ipc::SHM_REMAP != 0 {
        return Err(EINVAL);
    }
    Ok(if rounded == 0 { None } else { Some(rounded) })
}

/// The segment's size in pages (its IPC_STAT: shmat needs read permission anyway).
fn segment_len(id: i32) -> Result<u64, i64> {
    let mut ds = vec![0u8; ipc::SHMID_DS_SIZE];
    let r = ctl_call(IpcKind::Shm, id, ipc::IPC_STAT, 0, 0, &mut ds);
    if r < 0 {
        return Err(r);
    }
    Ok(page_ceil(ipc::shmid_ds_segsz(&ds)))
}

pub fn shmat(c: &mut Ctx<'_>) -> i64 {
    let (id, addr, flags) = (c.int(0), c.arg(1), c.int(2));
    if id < 0 {
        return EINVAL;
    }
    let at = tryret!(attach_address(addr, flags));
    let len = tryret!(segment_len(id));
    let mut prot = PROT_READ;
    if flags & ipc::SHM_RDONLY == 0 {
        prot |= PROT_WRITE;
    }
    if flags & ipc::SHM_EXEC != 0 {
        prot |= PROT_EXEC;
    }
    if let Some(a) = at {
        let fits = a.checked_add(len).is_some_and(|e| e <= abi_shared::layout::user::TASK_SIZE);
        if !fits || (flags & ipc::SHM_REMAP == 0 && !SPACE.lock().vmas.is_free(a, a + len)) {
            return EINVAL;
        }
    }
    let Some(gpa) = window::alloc(len) else { return ENOMEM };
    let r = call_ret(&Request::Ipc(IpcRequest::ShmAttach { id, gpa, len, flags }));
    if r < 0 {
        window::free(gpa, len);
        return r;
    }
    let backing = FileBacking {
        file: None,
        offset: 0,
        window: Some(gpa),
        size: len,
        may_write: flags & ipc::SHM_RDONLY == 0,
        sysv_shm: true,
    };
    let placed = SPACE.lock().map_file(at.unwrap_or(0), len, prot, at.is_some(), backing);
    placed.map_or_else(
        |e| {
            call_ret(&Request::Mm(MmRequest::FileUnmapShared { gpa, len }));
            window::free(gpa, len);
            e
        },
        |s| s as i64,
    )
}

/// shmdt: the attachment that starts at `addr` goes, every part of it still mapped where
/// shmat put it (Linux's rule); EINVAL when none starts there.
pub fn shmdt(c: &mut Ctx<'_>) -> i64 {
    let addr = c.arg(0);
    if !addr.is_multiple_of(abi_shared::layout::PAGE_SIZE) {
        return EINVAL;
    }
    let mut space = SPACE.lock();
    let attachment = |v: &crate::mm::vma::Vma| v.file.as_ref().filter(|f| f.sysv_shm).map(|f| (f.offset, f.size));
    let Some((0, size)) = space.vmas.find(addr).filter(|v| v.start == addr).and_then(attachment) else {
        return EINVAL;
    };
    let end = addr.saturating_add(size);
    let parts: Vec<(u64, u64)> = space
        .vmas
        .overlapping(addr, end)
        .filter(|v| attachment(v).is_some_and(|(off, _)| off == v.start - addr))
        .map(|v| (v.start, v.end.min(end)))
        .collect();
    for (s, e) in parts {
        space.unmap_range(s, e);
    }
    0
}
