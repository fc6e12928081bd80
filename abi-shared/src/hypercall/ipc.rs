//! SysV IPC and POSIX message queues.

use super::SegList;
use serde::{Deserialize, Serialize};

/// `Request::Ipc`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum IpcRequest<'a> {
    // SysV IPC and POSIX message queues: the host's own, so that a program and native
    // programs share them. Structs travel in kernel buffers of the guest (`buf`), in
    // Linux's x86_64 layout; the host never sees a pointer of the program.
    /// semget/msgget/shmget (`kind`): `arg` is semget's nsems or shmget's size. `Ret(id)`.
    IpcGet {
        kind: crate::ipc::IpcKind,
        key: i32,
        arg: u64,
        flags: i32,
    },
    /// semctl/msgctl/shmctl: `semnum` is semctl's, `value` SETVAL's int; `buf` holds what
    /// the command reads (IPC_SET's struct, SETALL's u16 array) or receives what it fills
    /// (IPC_STAT, *_STAT, *_INFO, GETALL), as `ipc::ctl_arg` says. `Ret` as the call's.
    IpcCtl {
        kind: crate::ipc::IpcKind,
        id: i32,
        cmd: i32,
        semnum: i32,
        value: i32,
        buf: SegList<'a>,
    },
    /// semtimedop (and semop: no timeout) with the struct sembuf array `sops`; `timeout_ns`
    /// relative. Blocks in the host; a host signal ends it with -EINTR.
    Semop {
        id: i32,
        sops: &'a [u8],
        timeout_ns: Option<u64>,
    },
    /// msgsnd of the program's `struct msgbuf` (mtype, then `msg` total - 8 bytes of
    /// text) in the segments `msg`. `Ret(0)`.
    Msgsnd {
        id: i32,
        msg: SegList<'a>,
        flags: i32,
    },
    /// msgrcv of at most `size` bytes of text: the host writes mtype and the text into
    /// `msg` (the program's msgbuf, as far as it is mapped). `Ret(text length)`.
    Msgrcv {
        id: i32,
        msg: SegList<'a>,
        size: u64,
        msgtyp: i64,
        flags: i32,
    },
    /// shmat of segment `id` at the free file-window range `[gpa, gpa+len)`, where `len`
    /// is the segment's size in pages; `flags` SHM_RDONLY, SHM_EXEC. `Ret(0)`.
    ShmAttach {
        id: i32,
        gpa: u64,
        len: u64,
        flags: i32,
    },
    /// mq_open of queue `name` (without the leading slash, as the syscall takes it) with
    /// Linux's O_* `flags`, `mode`, and with O_CREAT the attributes (mq_maxmsg,
    /// mq_msgsize) if given. `Ret(fd)`.
    MqOpen {
        name: &'a [u8],
        flags: i32,
        mode: u32,
        attr: Option<[i64; 2]>,
    },
    MqUnlink {
        name: &'a [u8],
    },
    /// mq_timedsend (`send`, with priority `prio`) or mq_timedreceive of a message of at
    /// most `buf`'s length, with an absolute CLOCK_REALTIME (s, ns) `timeout`. Sending:
    /// `Ret(0)`; receiving: `Response::Bytes` with the length and the priority (u32).
    MqTransfer {
        fd: i32,
        buf: SegList<'a>,
        send: bool,
        prio: u32,
        timeout: Option<[i64; 2]>,
    },
    /// mq_notify: `how` None unregisters; SIGEV_SIGNAL sends `signo` with si_value
    /// `value`; SIGEV_THREAD names a netlink socket in `signo` and carries `cookie`.
    MqNotify {
        fd: i32,
        how: Option<i32>,
        signo: i32,
        value: u64,
        cookie: &'a [u8],
    },
    /// mq_getsetattr: `new_flags` sets mq_flags (O_NONBLOCK); the old struct mq_attr goes
    /// into `old`.
    MqGetsetattr {
        fd: i32,
        new_flags: Option<i64>,
        old: SegList<'a>,
    },
}
