//! SysV IPC (semaphores, message queues, shared memory) and POSIX message queues as Linux
//! x86_64 defines them: the commands of semctl/msgctl/shmctl and what each one's argument
//! is, so that the guest copies exactly the struct a command reads or fills and the host
//! never sees a guest pointer.

use serde::{Deserialize, Serialize};

/// Which SysV IPC family a request is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpcKind {
    Sem,
    Msg,
    Shm,
}

pub const IPC_PRIVATE: i32 = 0;
pub const IPC_CREAT: i32 = 0o1000;
pub const IPC_EXCL: i32 = 0o2000;
pub const IPC_NOWAIT: i32 = 0o4000;

pub const IPC_RMID: i32 = 0;
pub const IPC_SET: i32 = 1;
pub const IPC_STAT: i32 = 2;
pub const IPC_INFO: i32 = 3;

pub const GETPID: i32 = 11;
pub const GETVAL: i32 = 12;
pub const GETALL: i32 = 13;
pub const GETNCNT: i32 = 14;
pub const GETZCNT: i32 = 15;
pub const SETVAL: i32 = 16;
pub const SETALL: i32 = 17;
pub const SEM_STAT: i32 = 18;
pub const SEM_INFO: i32 = 19;
pub const SEM_STAT_ANY: i32 = 20;

pub const MSG_STAT: i32 = 11;
pub const MSG_INFO: i32 = 12;
pub const MSG_STAT_ANY: i32 = 13;

pub const SHM_LOCK: i32 = 11;
pub const SHM_UNLOCK: i32 = 12;
pub const SHM_STAT: i32 = 13;
pub const SHM_INFO: i32 = 14;
pub const SHM_STAT_ANY: i32 = 15;

/// shmat flags.
pub const SHM_RDONLY: i32 = 0o10000;
pub const SHM_RND: i32 = 0o20000;
pub const SHM_REMAP: i32 = 0o40000;
pub const SHM_EXEC: i32 = 0o100000;
/// Attach addresses are multiples of this (x86_64: a page).
pub const SHMLBA: u64 = 4096;

/// Linux's SEMOPM: the most operations one semop takes (E2BIG beyond).
pub const SEMOPM: usize = 500;
/// sizeof(struct sembuf): u16 sem_num, i16 sem_op, i16 sem_flg.
pub const SEMBUF_SIZE: usize = 6;
/// The offset of nsems in struct semid64_ds, and of shm_segsz in struct shmid64_ds.
pub const SEMID_DS_NSEMS: usize = 80;
pub const SHMID_DS_SEGSZ: usize = 48;

/// The struct sizes of x86_64 Linux (the "64" layouts, which x86_64 always uses).
pub const SEMID_DS_SIZE: usize = 104;
pub const MSQID_DS_SIZE: usize = 120;
pub const SHMID_DS_SIZE: usize = 112;
pub const SEMINFO_SIZE: usize = 40;
pub const MSGINFO_SIZE: usize = 32;
pub const SHMINFO_SIZE: usize = 72;
pub const SHM_INFO_SIZE: usize = 48;

/// The biggest message one msgsnd or msgrcv moves (Linux's own limit, the msgmax sysctl, is
/// 8192 by default); beyond it msgsnd is EINVAL and msgrcv receives at most this much.
pub const MSG_MAX_BYTES: usize = 1 << 20;
/// Linux's HARD_MSGSIZEMAX: no POSIX message queue holds bigger messages.
pub const MQ_MSGSIZE_MAX: usize = 16 << 20;
/// sizeof(struct mq_attr): mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs, 4 reserved longs.
pub const MQ_ATTR_SIZE: usize = 64;
/// The bytes of a SIGEV_THREAD notification cookie (Linux's NOTIFY_COOKIE_LEN).
pub const NOTIFY_COOKIE_LEN: usize = 32;
pub const SIGEV_SIGNAL: i32 = 0;
pub const SIGEV_NONE: i32 = 1;
pub const SIGEV_THREAD: i32 = 2;

/// What the last argument of a ctl command is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CtlArg {
    /// Nothing (IPC_RMID, GETVAL, SHM_LOCK...).
    None,
    /// semctl SETVAL: an int passed by value.
    Value,
    /// A struct of this many bytes that the call reads (IPC_SET).
    StructIn(usize),
    /// A struct of this many bytes that the call fills (IPC_STAT, *_STAT, *_INFO).
    StructOut(usize),
    /// semctl GETALL: a u16 per semaphore of the set, filled.
    ArrayOut,
    /// semctl SETALL: a u16 per semaphore of the set, read.
    ArrayIn,
}

/// The argument of `cmd` (without flags: x86_64 has no IPC_64 bit) for `kind`'s ctl call;
/// None for a command Linux does not know (EINVAL).
pub fn ctl_arg(kind: IpcKind, cmd: i32) -> Option<CtlArg> {
    use CtlArg::*;
    Some(match (kind, cmd) {
        (_, IPC_RMID) => None,
        (IpcKind::Sem, IPC_SET) => StructIn(SEMID_DS_SIZE),
        (IpcKind::Msg, IPC_SET) => StructIn(MSQID_DS_SIZE),
        (IpcKind::Shm, IPC_SET) => StructIn(SHMID_DS_SIZE),
        (IpcKind::Sem, IPC_STAT | SEM_STAT | SEM_STAT_ANY) => StructOut(SEMID_DS_SIZE),
        (IpcKind::Msg, IPC_STAT | MSG_STAT | MSG_STAT_ANY) => StructOut(MSQID_DS_SIZE),
        (IpcKind::Shm, IPC_STAT | SHM_STAT | SHM_STAT_ANY) => StructOut(SHMID_DS_SIZE),
        (IpcKind::Sem, IPC_INFO | SEM_INFO) => StructOut(SEMINFO_SIZE),
        (IpcKind::Msg, IPC_INFO | MSG_INFO) => StructOut(MSGINFO_SIZE),
        (IpcKind::Shm, IPC_INFO) => StructOut(SHMINFO_SIZE),
        (IpcKind::Shm, SHM_INFO) => StructOut(SHM_INFO_SIZE),
        (IpcKind::Sem, GETPID | GETVAL | GETNCNT | GETZCNT) => None,
        (IpcKind::Sem, SETVAL) => Value,
        (IpcKind::Sem, GETALL) => ArrayOut,
        (IpcKind::Sem, SETALL) => ArrayIn,
        (IpcKind::Shm, SHM_LOCK | SHM_UNLOCK) => None,
        _ => return Option::None,
    })
}

/// The semaphore count in a struct semid64_ds.
pub fn semid_ds_nsems(ds: &[u8]) -> u64 {
    u64_at(ds, SEMID_DS_NSEMS)
}

/// The segment size in a struct shmid64_ds.
pub fn shmid_ds_segsz(ds: &[u8]) -> u64 {
    u64_at(ds, SHMID_DS_SEGSZ)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    bytes.get(at..at + 8).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_knows_its_own_commands_only() {
        assert_eq!(ctl_arg(IpcKind::Sem, GETALL), Some(CtlArg::ArrayOut));
        assert_eq!(ctl_arg(IpcKind::Msg, GETALL), Some(CtlArg::StructOut(MSQID_DS_SIZE)), "13 is MSG_STAT_ANY");
        assert_eq!(ctl_arg(IpcKind::Shm, SETVAL), None);
        assert_eq!(ctl_arg(IpcKind::Shm, IPC_STAT | 0x100), None, "x86_64 has no IPC_64 bit");
        assert_eq!(ctl_arg(IpcKind::Sem, -1), None);
    }
}
