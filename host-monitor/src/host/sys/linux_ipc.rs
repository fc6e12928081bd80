//! SysV IPC and POSIX message queues on a Linux host: the host's own objects, so that a
//! program and native programs share them. The host is x86_64 Linux (KVM runs x86_64
//! guests), whose IPC structs are the guest's byte for byte: they pass as bytes. The raw
//! syscalls are used (not libc's wrappers) so that the program's arguments reach the host
//! kernel as the program gave them (mq_open names without a leading slash, semctl's union).

use std::time::Duration;

use abi_shared::ipc::{self, CtlArg, IpcKind};

use super::*;

const E2BIG: LinuxErrno = errno::E2BIG as LinuxErrno;
const ENOMEM: LinuxErrno = errno::ENOMEM as LinuxErrno;

#[cfg(target_arch = "x86_64")]
const _: () = assert!(
    std::mem::size_of::<libc::shmid_ds>() == ipc::SHMID_DS_SIZE
        && std::mem::size_of::<libc::msqid_ds>() == ipc::MSQID_DS_SIZE
        && std::mem::size_of::<libc::sembuf>() == ipc::SEMBUF_SIZE
);

/// The most semaphores whose values one GETALL or SETALL moves (Linux's SEMMSL is 32000).
const MAX_SEMS: u64 = 65536;

/// semget, msgget or shmget: the id.
pub fn ipc_get(kind: IpcKind, key: i32, arg: u64, flags: i32) -> SysResult<i64> {
    // SAFETY: none of the three takes a pointer.
    check(unsafe {
        match kind {
            IpcKind::Sem => libc::syscall(libc::SYS_semget, key, arg as c_int, flags),
            IpcKind::Msg => libc::syscall(libc::SYS_msgget, key, flags),
            IpcKind::Shm => libc::syscall(libc::SYS_shmget, key, arg as libc::size_t, flags),
        }
    })
}

/// The ctl call with its last argument as a raw word (an int, or a pointer to a buffer
/// the caller has sized for the command).
///
/// # Safety
/// When `arg` is a pointer, it names a buffer as long as the command reads or writes.
unsafe fn ctl_raw(kind: IpcKind, id: i32, cmd: i32, semnum: i32, arg: usize) -> SysResult<i64> {
    // SAFETY: the caller's promise about `arg`.
    check(unsafe {
        match kind {
            IpcKind::Sem => libc::syscall(libc::SYS_semctl, id, semnum, cmd, arg),
            IpcKind::Msg => libc::syscall(libc::SYS_msgctl, id, cmd, arg),
            IpcKind::Shm => libc::syscall(libc::SYS_shmctl, id, cmd, arg),
        }
    })
}

/// The number of semaphores in set `id` (its IPC_STAT, which needs read permission).
pub fn sem_count(id: i32) -> SysResult<u64> {
    let mut ds = [0u8; ipc::SEMID_DS_SIZE];
    // SAFETY: ds is a semid64_ds-sized buffer, which IPC_STAT fills.
    unsafe { ctl_raw(IpcKind::Sem, id, ipc::IPC_STAT, 0, ds.as_mut_ptr() as usize) }?;
    Ok(ipc::semid_ds_nsems(&ds))
}

/// semctl/msgctl/shmctl: `buf` holds what the command reads and receives what it fills
/// (sized here: the struct's size, or a u16 per semaphore of the set).
pub fn ipc_ctl(kind: IpcKind, id: i32, cmd: i32, semnum: i32, value: i32, buf: &mut Vec<u8>) -> SysResult<i64> {
    let arg = ipc::ctl_arg(kind, cmd).ok_or(EINVAL)?;
    let word = match arg {
        CtlArg::None => 0,
        CtlArg::Value => value as u32 as usize,
        CtlArg::StructIn(n) | CtlArg::StructOut(n) => {
            buf.resize(n, 0);
            buf.as_mut_ptr() as usize
        }
        CtlArg::ArrayIn | CtlArg::ArrayOut => {
            // The set's size as the host knows it: the call reads or writes that many u16s,
            // whatever the guest thought (a set's size never changes; its id is not reused
            // until the id's sequence number wraps).
            let nsems = sem_count(id)?;
            if nsems > MAX_SEMS {
                return Err(ENOMEM);
            }
            buf.resize(nsems as usize * 2, 0);
            buf.as_mut_ptr() as usize
        }
    };
    // SAFETY: `word` is an int, or points to `buf`, sized for the command just above.
    unsafe { ctl_raw(kind, id, cmd, semnum, word) }
}

/// semtimedop with a relative timeout (None: wait for ever).
pub fn semtimedop(id: i32, sops: &[u8], timeout: Option<Duration>) -> SysResult<i64> {
    if !sops.len().is_multiple_of(ipc::SEMBUF_SIZE) || sops.len() / ipc::SEMBUF_SIZE > ipc::SEMOPM {
        return Err(E2BIG);
    }
    let ops: Vec<libc::sembuf> = sops
        .chunks_exact(ipc::SEMBUF_SIZE)
        .map(|b| libc::sembuf {
            sem_num: u16::from_le_bytes([b[0], b[1]]),
            sem_op: i16::from_le_bytes([b[2], b[3]]),
            sem_flg: i16::from_le_bytes([b[4], b[5]]),
        })
        .collect();
    let ts = timeout.map(|t| libc::timespec { tv_sec: t.as_secs() as libc::time_t, tv_nsec: t.subsec_nanos().into() });
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: ops holds ops.len() sembufs and ts_ptr is null or a timespec, both alive
    // for the call.
    check(unsafe { libc::syscall(libc::SYS_semtimedop, id, ops.as_ptr(), ops.len(), ts_ptr) })
}

/// msgsnd of a whole `struct msgbuf` (mtype, then the text).
pub fn msgsnd(id: i32, msg: &[u8], flags: i32) -> SysResult<i64> {
    let text = msg.len().checked_sub(8).ok_or(EINVAL)?;
    // SAFETY: msg holds the mtype and `text` bytes, which the kernel only reads.
    check(unsafe { libc::syscall(libc::SYS_msgsnd, id, msg.as_ptr(), text, flags) })
}

/// msgrcv into `buf` (mtype, then up to buf.len() - 8 bytes of text): the text's length.
pub fn msgrcv(id: i32, buf: &mut [u8], msgtyp: i64, flags: i32) -> SysResult<usize> {
    let text = buf.len().checked_sub(8).ok_or(EINVAL)?;
    // SAFETY: buf has room for the mtype and `text` bytes, as much as the kernel writes.
    let n = check(unsafe { libc::syscall(libc::SYS_msgrcv, id, buf.as_mut_ptr(), text, msgtyp, flags) })?;
    Ok(n as usize)
}

/// The size of shared memory segment `id` (its IPC_STAT, which needs read permission).
pub fn shm_size(id: i32) -> SysResult<u64> {
    let mut ds = [0u8; ipc::SHMID_DS_SIZE];
    // SAFETY: ds is a shmid64_ds-sized buffer, which IPC_STAT fills.
    unsafe { ctl_raw(IpcKind::Shm, id, ipc::IPC_STAT, 0, ds.as_mut_ptr() as usize) }?;
    Ok(ipc::shmid_ds_segsz(&ds))
}

/// shmat of segment `id` exactly at `addr`, replacing what is mapped there (SHM_REMAP).
///
/// # Safety
/// `[addr, addr + the segment's size rounded to pages)` is address space of this process
/// that nothing but the caller's own mappings use.
pub unsafe fn shm_attach_at(id: i32, addr: *mut u8, flags: i32) -> SysResult<()> {
    let flags = (flags & (ipc::SHM_RDONLY | ipc::SHM_EXEC)) | ipc::SHM_REMAP;
    // SAFETY: the caller's promise about the range.
    check(unsafe { libc::syscall(libc::SYS_shmat, id, addr, flags) }).map(drop)
}

/// mq_open: `attr` is (mq_maxmsg, mq_msgsize) for a queue O_CREAT makes.
pub fn mq_open(name: &CStr, flags: i32, mode: u32, attr: Option<[i64; 2]>) -> SysResult<c_int> {
    let attr = attr.map(|[maxmsg, msgsize]| {
        let mut a = [0i64; ipc::MQ_ATTR_SIZE / 8];
        a[1] = maxmsg;
        a[2] = msgsize;
        a
    });
    let attr_ptr = attr.as_ref().map_or(std::ptr::null(), |a| a.as_ptr());
    // SAFETY: name is NUL-terminated; attr_ptr is null or a struct mq_attr, read only.
    Ok(check(unsafe { libc::syscall(libc::SYS_mq_open, name.as_ptr(), flags, mode, attr_ptr) })? as c_int)
}

pub fn mq_unlink(name: &CStr) -> SysResult<()> {
    // SAFETY: name is NUL-terminated.
    check(unsafe { libc::syscall(libc::SYS_mq_unlink, name.as_ptr()) }).map(drop)
}

fn timespec(t: Option<[i64; 2]>) -> Option<libc::timespec> {
    t.map(|[s, ns]| libc::timespec { tv_sec: s as libc::time_t, tv_nsec: ns as _ })
}

pub fn mq_timedsend(fd: c_int, msg: &[u8], prio: u32, timeout: Option<[i64; 2]>) -> SysResult<()> {
    let ts = timespec(timeout);
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: msg and ts_ptr (null or a timespec) are read only, during the call.
    check(unsafe { libc::syscall(libc::SYS_mq_timedsend, fd, msg.as_ptr(), msg.len(), prio, ts_ptr) }).map(drop)
}

/// mq_timedreceive into `buf`: the message's length and priority.
pub fn mq_timedreceive(fd: c_int, buf: &mut [u8], timeout: Option<[i64; 2]>) -> SysResult<(usize, u32)> {
    let ts = timespec(timeout);
    let ts_ptr = ts.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
    let mut prio = 0u32;
    // SAFETY: buf is writable for buf.len() bytes, prio for a u32; ts_ptr null or a timespec.
    let n = check(unsafe {
        libc::syscall(libc::SYS_mq_timedreceive, fd, buf.as_mut_ptr(), buf.len(), &mut prio as *mut u32, ts_ptr)
    })?;
    Ok((n as usize, prio))
}

/// A queue's struct mq_attr, as Linux's 8 longs.
pub fn mq_getsetattr(fd: c_int, new_flags: Option<i64>) -> SysResult<[i64; 8]> {
    let new = new_flags.map(|f| [f, 0, 0, 0, 0, 0, 0, 0]);
    let new_ptr = new.as_ref().map_or(std::ptr::null(), |a| a.as_ptr());
    let mut old = [0i64; 8];
    // SAFETY: new_ptr is null or an mq_attr (read); old is an mq_attr (written).
    check(unsafe { libc::syscall(libc::SYS_mq_getsetattr, fd, new_ptr, old.as_mut_ptr()) })?;
    Ok(old)
}

/// What mq_notify registers.
pub struct MqNotification<'a> {
    pub how: i32,
    pub signo: i32,
    pub value: u64,
    /// SIGEV_THREAD's cookie: the kernel copies it when it registers.
    pub cookie: &'a [u8],
}

/// Linux's struct sigevent (64 bytes): value, signo, notify, then the union.
#[repr(C)]
struct Sigevent {
    value: u64,
    signo: c_int,
    notify: c_int,
    pad: [u64; 6],
}

/// mq_notify: None unregisters.
pub fn mq_notify(fd: c_int, n: Option<MqNotification<'_>>) -> SysResult<()> {
    let mut cookie = [0u8; ipc::NOTIFY_COOKIE_LEN];
    let ev = n.map(|n| {
        let value = if n.how == ipc::SIGEV_THREAD {
            // The kernel reads NOTIFY_COOKIE_LEN bytes from the pointer in sigev_value.
            let len = n.cookie.len().min(cookie.len());
            cookie[..len].copy_from_slice(&n.cookie[..len]);
            cookie.as_ptr() as u64
        } else {
            n.value
        };
        Sigevent { value, signo: n.signo, notify: n.how, pad: [0; 6] }
    });
    let ev_ptr = ev.as_ref().map_or(std::ptr::null(), |e| e as *const Sigevent);
    // SAFETY: ev_ptr is null or a sigevent; a SIGEV_THREAD one points to `cookie`, which
    // is alive and NOTIFY_COOKIE_LEN bytes long during the call.
    check(unsafe { libc::syscall(libc::SYS_mq_notify, fd, ev_ptr) }).map(drop)
}
