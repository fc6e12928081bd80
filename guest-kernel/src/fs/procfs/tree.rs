//! The shape of /proc: which names exist, what they are, and how a path resolves. Pure
//! logic, unit-tested on the host; reading the process state is elsewhere.
//!
//! Resolution is lexical first (`//`, `.` and `..` are folded before anything is looked
//! up, so `/proc/thread-self/..` is `/proc`, not Linux's `/proc/<pid>/task`), then a walk
//! from /proc in which the links inside /proc (`self`, `thread-self`, `mounts`) are
//! followed here and links out of it (`exe`, `cwd`, `root`, `fd/N`) are handed back.
//!
//! /proc/sys holds the few files the guest answers itself (the kernel's name and release,
//! the host name, random ids, limits of the guest); any other name under it is the
//! host's sysctl of that name (`Resolved::Host`), which the host serves. So is any name
//! at the top of /proc the guest does not serve: other processes' directories (`/proc/1`,
//! the host's view of them) and the system files it has no better answer for
//! (`/proc/vmstat`, `/proc/diskstats`, ...). The program's own pid and its threads' ids
//! are always the guest's.

use alloc::vec::Vec;

use abi_shared::linux::errno;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    Root,
    /// /proc/<pid> (and /proc/<pid>/task/<tid> of each thread, which shows the process's).
    Pid,
    Task,
    Fd,
    Fdinfo,
    Sys,
    SysKernel,
    SysKernelRandom,
    SysVm,
    SysFs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum File {
    Cpuinfo,
    Meminfo,
    SysStat,
    Uptime,
    Loadavg,
    Filesystems,
    Version,
    Cmdline,
    Comm,
    Environ,
    Auxv,
    Maps,
    SmapsRollup,
    Stat,
    Statm,
    Status,
    Mounts,
    Mountinfo,
    Limits,
    Cgroup,
    Fdinfo(i32),
    Osrelease,
    Ostype,
    Hostname,
    KernelVersion,
    PidMax,
    Tainted,
    CapLastCap,
    NgroupsMax,
    ThreadsMax,
    RandomUuid,
    RandomBootId,
    EntropyAvail,
    OvercommitMemory,
    MaxMapCount,
    NrOpen,
    FsFileMax,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// /proc/self -> "<pid>"
    ProcSelf,
    /// /proc/thread-self -> "<pid>/task/<tid>"
    ThreadSelf,
    /// /proc/mounts -> "self/mounts"
    Mounts,
    Exe,
    Cwd,
    Root,
    Fd(i32),
}

impl Link {
    /// Links whose target is outside /proc: the caller follows those.
    pub fn leaves_proc(self) -> bool {
        !matches!(self, Link::ProcSelf | Link::ThreadSelf | Link::Mounts)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node {
    Dir(Dir),
    File(File),
    Link(Link),
}

impl Node {
    /// Linux's permission bits for this node.
    pub fn mode(self) -> u32 {
        match self {
            Node::Dir(Dir::Fd | Dir::Fdinfo) => 0o500,
            Node::Dir(_) => 0o555,
            Node::Link(_) => 0o777,
            Node::File(File::Environ | File::Auxv) => 0o400,
            Node::File(File::Comm | File::Hostname | File::PidMax | File::Tainted | File::ThreadsMax)
            | Node::File(File::OvercommitMemory | File::MaxMapCount | File::NrOpen | File::FsFileMax) => 0o644,
            Node::File(File::Fdinfo(_)) => 0o400,
            Node::File(_) => 0o444,
        }
    }

    /// Whether the node belongs to the process (owned by its uid) rather than the system.
    pub fn per_process(self) -> bool {
        match self {
            Node::Dir(d) => matches!(d, Dir::Pid | Dir::Task | Dir::Fd | Dir::Fdinfo),
            Node::Link(l) => l.leaves_proc(),
            Node::File(f) => matches!(
                f,
                File::Cmdline
                    | File::Comm
                    | File::Environ
                    | File::Auxv
                    | File::Maps
                    | File::SmapsRollup
                    | File::Stat
                    | File::Statm
                    | File::Status
                    | File::Mounts
                    | File::Mountinfo
                    | File::Limits
                    | File::Cgroup
                    | File::Fdinfo(_)
            ),
        }
    }
}

type Entries = &'static [(&'static str, Node)];

const ROOT: Entries = &[
    ("cpuinfo", Node::File(File::Cpuinfo)),
    ("filesystems", Node::File(File::Filesystems)),
    ("loadavg", Node::File(File::Loadavg)),
    ("meminfo", Node::File(File::Meminfo)),
    ("mounts", Node::Link(Link::Mounts)),
    ("self", Node::Link(Link::ProcSelf)),
    ("stat", Node::File(File::SysStat)),
    ("sys", Node::Dir(Dir::Sys)),
    ("thread-self", Node::Link(Link::ThreadSelf)),
    ("uptime", Node::File(File::Uptime)),
    ("version", Node::File(File::Version)),
];

const PID: Entries = &[
    ("auxv", Node::File(File::Auxv)),
    ("cgroup", Node::File(File::Cgroup)),
    ("cmdline", Node::File(File::Cmdline)),
    ("comm", Node::File(File::Comm)),
    ("cwd", Node::Link(Link::Cwd)),
    ("environ", Node::File(File::Environ)),
    ("exe", Node::Link(Link::Exe)),
    ("fd", Node::Dir(Dir::Fd)),
    ("fdinfo", Node::Dir(Dir::Fdinfo)),
    ("limits", Node::File(File::Limits)),
    ("maps", Node::File(File::Maps)),
    ("mountinfo", Node::File(File::Mountinfo)),
    ("mounts", Node::File(File::Mounts)),
    ("root", Node::Link(Link::Root)),
    ("smaps_rollup", Node::File(File::SmapsRollup)),
    ("stat", Node::File(File::Stat)),
    ("statm", Node::File(File::Statm)),
    ("status", Node::File(File::Status)),
    ("task", Node::Dir(Dir::Task)),
];

const SYS: Entries =
    &[("fs", Node::Dir(Dir::SysFs)), ("kernel", Node::Dir(Dir::SysKernel)), ("vm", Node::Dir(Dir::SysVm))];

const SYS_KERNEL: Entries = &[
    ("cap_last_cap", Node::File(File::CapLastCap)),
    ("hostname", Node::File(File::Hostname)),
    ("ngroups_max", Node::File(File::NgroupsMax)),
    ("osrelease", Node::File(File::Osrelease)),
    ("ostype", Node::File(File::Ostype)),
    ("pid_max", Node::File(File::PidMax)),
    ("random", Node::Dir(Dir::SysKernelRandom)),
    ("tainted", Node::File(File::Tainted)),
    ("threads-max", Node::File(File::ThreadsMax)),
    ("version", Node::File(File::KernelVersion)),
];

const SYS_KERNEL_RANDOM: Entries = &[
    ("boot_id", Node::File(File::RandomBootId)),
    ("entropy_avail", Node::File(File::EntropyAvail)),
    ("uuid", Node::File(File::RandomUuid)),
];

const SYS_VM: Entries =
    &[("max_map_count", Node::File(File::MaxMapCount)), ("overcommit_memory", Node::File(File::OvercommitMemory))];

const SYS_FS: Entries = &[("file-max", Node::File(File::FsFileMax)), ("nr_open", Node::File(File::NrOpen))];

/// The fixed entries of a directory (Root and Task add the pid, Fd and Fdinfo the fds).
pub fn fixed_entries(dir: Dir) -> Entries {
    match dir {
        Dir::Root => ROOT,
        Dir::Pid => PID,
        Dir::Sys => SYS,
        Dir::SysKernel => SYS_KERNEL,
        Dir::SysKernelRandom => SYS_KERNEL_RANDOM,
        Dir::SysVm => SYS_VM,
        Dir::SysFs => SYS_FS,
        Dir::Task | Dir::Fd | Dir::Fdinfo => &[],
    }
}

/// The host's /proc file a file of ours is, where the host has one: the machine's
/// figures, and the mount list (which the host shows through the program's filesystem
/// view). Opened there, so that a read after lseek(0) is fresh, as vmstat and top reread
/// them; the guest generates them only on a host without /proc.
pub fn host_source(file: File) -> Option<&'static [u8]> {
    Some(match file {
        File::Meminfo => b"meminfo",
        File::SysStat => b"stat",
        File::Uptime => b"uptime",
        File::Loadavg => b"loadavg",
        File::Mounts => b"self/mounts",
        File::Mountinfo => b"self/mountinfo",
        _ => return None,
    })
}

/// A decimal name as /proc spells numbers: digits only, no leading zero, fits an i32.
pub fn parse_number(name: &[u8]) -> Option<i32> {
    if name.is_empty() || name.len() > 10 || (name[0] == b'0' && name.len() > 1) {
        return None;
    }
    let mut v: i64 = 0;
    for &b in name {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v * 10 + i64::from(b - b'0');
    }
    i32::try_from(v).ok()
}

/// Who is asking: the process, the calling thread and every thread of the process.
#[derive(Clone, Copy, Debug)]
pub struct Ids<'a> {
    pub pid: i32,
    pub tid: i32,
    pub tids: &'a [i32],
}

/// One name in a directory. Fd entries are returned for any number: whether that fd is
/// open is for the caller to check. A thread's directory under task/ shows its process's
/// files (the process's view: per-thread files are not told apart yet).
pub fn lookup(dir: Dir, name: &[u8], ids: &Ids<'_>) -> Option<Node> {
    if let Some((_, n)) = fixed_entries(dir).iter().find(|(n, _)| n.as_bytes() == name) {
        return Some(*n);
    }
    match dir {
        Dir::Root => parse_number(name).filter(|n| *n == ids.pid || ids.tids.contains(n)).map(|_| Node::Dir(Dir::Pid)),
        Dir::Task => parse_number(name).filter(|t| ids.tids.contains(t)).map(|_| Node::Dir(Dir::Pid)),
        Dir::Fd => parse_number(name).map(|fd| Node::Link(Link::Fd(fd))),
        Dir::Fdinfo => parse_number(name).map(|fd| Node::File(File::Fdinfo(fd))),
        _ => None,
    }
}

/// The thread a canonical path's file belongs to: `<tid>` in `/proc/<pid>/task/<tid>/...`;
/// None for the process's own files.
pub fn thread_of(canonical: &[u8]) -> Option<i32> {
    let mut parts = canonical.split(|&b| b == b'/').filter(|c| !c.is_empty());
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(b"proc"), Some(_), Some(b"task"), Some(tid)) => parse_number(tid),
        _ => None,
    }
}

/// `path` (absolute) with `//`, `.` and `..` folded: its components, and whether it ended
/// with a slash (which asks for a directory).
pub fn normalise(path: &[u8]) -> (Vec<&[u8]>, bool) {
    let mut parts: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    let trailing = path.len() > 1 && (path.ends_with(b"/") || path.ends_with(b"/.") || path.ends_with(b"/.."));
    (parts, trailing)
}

/// Whether an absolute path lies in /proc once normalised.
pub fn is_under_proc(path: &[u8]) -> bool {
    path.starts_with(b"/") && normalise(path).0.first() == Some(&&b"proc"[..])
}

#[derive(Debug, PartialEq, Eq)]
pub enum Resolved {
    /// A node of /proc and its canonical path (`/proc/<pid>/...`, never `self`).
    Node(Node, Vec<u8>),
    /// The path names a link out of /proc that is to be followed.
    Follow(Link),
    /// A link out of /proc in the middle of the path: `rest` is relative to its target.
    Through(Link, Vec<u8>),
    /// A name the guest does not serve, under /proc/sys or at the top of /proc: the host's
    /// /proc/<path> (relative to /proc, components already folded; a trailing slash kept).
    Host(Vec<u8>),
}

/// The directories of /proc/sys, whose other names are the host's.
pub fn is_sys_dir(dir: Dir) -> bool {
    matches!(dir, Dir::Sys | Dir::SysKernel | Dir::SysKernelRandom | Dir::SysVm | Dir::SysFs)
}

/// The directories whose names the guest does not serve are the host's: /proc itself and
/// /proc/sys's.
pub fn has_host_names(dir: Dir) -> bool {
    dir == Dir::Root || is_sys_dir(dir)
}

/// The path below /proc of a canonical /proc path ("" for /proc itself).
pub fn host_rel(canonical: &[u8]) -> &[u8] {
    let rel = canonical.strip_prefix(b"/proc").unwrap_or(b"");
    rel.strip_prefix(b"/").unwrap_or(rel)
}

fn push_component(path: &mut Vec<u8>, name: &[u8]) {
    path.push(b'/');
    path.extend_from_slice(name);
}

fn pid_path(pid: i32) -> Vec<u8> {
    let mut p = b"/proc/".to_vec();
    p.extend_from_slice(alloc::format!("{pid}").as_bytes());
    p
}

/// Resolve an absolute path that `is_under_proc`. `follow` says whether a final link is
/// followed (stat, open) or named (lstat, readlink, O_NOFOLLOW). Errors are Linux errnos.
pub fn resolve(path: &[u8], ids: &Ids<'_>, follow: bool) -> Result<Resolved, u32> {
    let pid = ids.pid;
    let (parts, trailing) = normalise(path);
    let follow = follow || trailing;
    let mut node = Node::Dir(Dir::Root);
    let mut canonical = b"/proc".to_vec();
    let rest = parts.get(1..).unwrap_or(&[]);
    for (i, name) in rest.iter().enumerate() {
        let last = i + 1 == rest.len();
        let Node::Dir(dir) = node else { return Err(errno::ENOTDIR) };
        node = match lookup(dir, name, ids) {
            Some(n) => n,
            None if has_host_names(dir) => {
                let mut rel = host_rel(&canonical).to_vec();
                for part in core::iter::once(name).chain(&rest[i + 1..]) {
                    if !rel.is_empty() {
                        rel.push(b'/');
                    }
                    rel.extend_from_slice(part);
                }
                if trailing {
                    rel.push(b'/');
                }
                return Ok(Resolved::Host(rel));
            }
            None => return Err(errno::ENOENT),
        };
        push_component(&mut canonical, name);
        let Node::Link(link) = node else { continue };
        if last && !follow {
            break;
        }
        if link.leaves_proc() {
            if last {
                return Ok(Resolved::Follow(link));
            }
            return Ok(Resolved::Through(link, rest[i + 1..].join(&b'/')));
        }
        canonical = pid_path(pid);
        node = match link {
            Link::ThreadSelf => {
                canonical.extend_from_slice(alloc::format!("/task/{}", ids.tid).as_bytes());
                Node::Dir(Dir::Pid)
            }
            Link::Mounts => {
                canonical.extend_from_slice(b"/mounts");
                Node::File(File::Mounts)
            }
            _ => Node::Dir(Dir::Pid),
        };
    }
    if trailing && !matches!(node, Node::Dir(_)) {
        return Err(errno::ENOTDIR);
    }
    Ok(Resolved::Node(node, canonical))
}

/// What an internal link reads as (readlink of /proc/self is the pid, as on Linux).
pub fn internal_link_target(link: Link, ids: &Ids<'_>) -> Vec<u8> {
    match link {
        Link::ThreadSelf => alloc::format!("{}/task/{}", ids.pid, ids.tid).into_bytes(),
        Link::Mounts => b"self/mounts".to_vec(),
        _ => alloc::format!("{}", ids.pid).into_bytes(),
    }
}

/// `base/rel` for a relative path, `rel` itself for an absolute one.
pub fn join(base: &[u8], rel: &[u8]) -> Vec<u8> {
    if rel.starts_with(b"/") {
        return rel.to_vec();
    }
    let mut p = base.to_vec();
    if !p.ends_with(b"/") {
        p.push(b'/');
    }
    p.extend_from_slice(rel);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Process 42, asked by its thread 43 (of 42 and 43).
    const IDS: Ids<'static> = Ids { pid: 42, tid: 43, tids: &[42, 43] };

    fn node(path: &str) -> Result<Resolved, u32> {
        resolve(path.as_bytes(), &IDS, true)
    }

    #[test]
    fn normalise_folds_dots_and_slashes() {
        assert_eq!(normalise(b"//proc/./self/../42//maps").0, [&b"proc"[..], b"42", b"maps"]);
        assert!(is_under_proc(b"/tmp/../proc"));
        assert!(is_under_proc(b"/proc"));
        assert!(!is_under_proc(b"/procfs/x"));
        assert!(!is_under_proc(b"proc/self"));
        assert!(normalise(b"/proc/self/").1);
    }

    #[test]
    fn self_and_pid_are_the_same_directory() {
        let a = node("/proc/self/status").unwrap();
        assert_eq!(a, Resolved::Node(Node::File(File::Status), b"/proc/42/status".to_vec()));
        assert_eq!(node("/proc/42/status").unwrap(), a);
        assert_eq!(
            node("/proc/thread-self/status").unwrap(),
            Resolved::Node(Node::File(File::Status), b"/proc/42/task/43/status".to_vec())
        );
        assert_eq!(
            node("/proc/self/task/43/status").unwrap(),
            Resolved::Node(Node::File(File::Status), b"/proc/42/task/43/status".to_vec())
        );
        assert_eq!(node("/proc/self/task/44"), Err(errno::ENOENT));
        // A thread opens as its process's directory at the top, as on Linux (which hides
        // it from listings); other numbers are other processes, the host's.
        assert_eq!(
            node("/proc/43/status").unwrap(),
            Resolved::Node(Node::File(File::Status), b"/proc/43/status".to_vec())
        );
        assert_eq!(node("/proc/44/status").unwrap(), Resolved::Host(b"44/status".to_vec()));
        assert_eq!(node("/proc/042/status").unwrap(), Resolved::Host(b"042/status".to_vec()));
    }

    #[test]
    fn a_task_file_names_its_thread() {
        assert_eq!(thread_of(b"/proc/42/task/43/comm"), Some(43));
        assert_eq!(thread_of(b"/proc/42/task/43"), Some(43));
        assert_eq!(thread_of(b"/proc/42/comm"), None);
        assert_eq!(thread_of(b"/proc/42/task"), None);
        assert_eq!(thread_of(b"/proc/self/status"), None);
    }

    #[test]
    fn links_are_named_or_followed() {
        let named = resolve(b"/proc/self", &IDS, false).unwrap();
        assert_eq!(named, Resolved::Node(Node::Link(Link::ProcSelf), b"/proc/self".to_vec()));
        assert_eq!(internal_link_target(Link::ProcSelf, &IDS), b"42");
        assert_eq!(internal_link_target(Link::ThreadSelf, &IDS), b"42/task/43");
        assert_eq!(node("/proc/self/exe").unwrap(), Resolved::Follow(Link::Exe));
        assert_eq!(
            resolve(b"/proc/self/exe", &IDS, false).unwrap(),
            Resolved::Node(Node::Link(Link::Exe), b"/proc/42/exe".to_vec())
        );
        assert_eq!(node("/proc/self/fd/7").unwrap(), Resolved::Follow(Link::Fd(7)));
        assert_eq!(node("/proc/self/cwd/a/b").unwrap(), Resolved::Through(Link::Cwd, b"a/b".to_vec()));
        assert_eq!(
            node("/proc/mounts").unwrap(),
            Resolved::Node(Node::File(File::Mounts), b"/proc/42/mounts".to_vec())
        );
    }

    #[test]
    fn files_are_not_directories() {
        assert_eq!(node("/proc/self/status/x"), Err(errno::ENOTDIR));
        assert_eq!(node("/proc/self/status/"), Err(errno::ENOTDIR));
        assert_eq!(node("/proc/nothing").unwrap(), Resolved::Host(b"nothing".to_vec()));
        assert_eq!(node("/proc/self/nothing"), Err(errno::ENOENT));
        assert_eq!(
            node("/proc/sys/kernel/random/uuid").unwrap(),
            Resolved::Node(Node::File(File::RandomUuid), b"/proc/sys/kernel/random/uuid".to_vec())
        );
        assert_eq!(node("/proc/").unwrap(), Resolved::Node(Node::Dir(Dir::Root), b"/proc".to_vec()));
    }

    #[test]
    fn other_sys_names_are_the_hosts() {
        assert_eq!(node("/proc/sys/kernel/domainname").unwrap(), Resolved::Host(b"sys/kernel/domainname".to_vec()));
        assert_eq!(node("/proc/sys/vm/nr_hugepages").unwrap(), Resolved::Host(b"sys/vm/nr_hugepages".to_vec()));
        assert_eq!(node("/proc/sys/net/core/somaxconn").unwrap(), Resolved::Host(b"sys/net/core/somaxconn".to_vec()));
        assert_eq!(
            node("/proc/sys/kernel/random/./poolsize").unwrap(),
            Resolved::Host(b"sys/kernel/random/poolsize".to_vec())
        );
        assert_eq!(node("/proc/sys/kernel/keys/").unwrap(), Resolved::Host(b"sys/kernel/keys/".to_vec()));
        // The guest's own files stay the guest's, and a file is no directory.
        assert_eq!(
            node("/proc/sys/kernel/hostname").unwrap(),
            Resolved::Node(Node::File(File::Hostname), b"/proc/sys/kernel/hostname".to_vec())
        );
        assert_eq!(node("/proc/sys/kernel/hostname/x"), Err(errno::ENOTDIR));
        assert_eq!(host_rel(b"/proc"), b"");
        assert_eq!(host_rel(b"/proc/sys/kernel/random"), b"sys/kernel/random");
    }

    #[test]
    fn numbers_are_spelled_as_proc_does() {
        assert_eq!(parse_number(b"0"), Some(0));
        assert_eq!(parse_number(b"123"), Some(123));
        assert_eq!(parse_number(b"01"), None);
        assert_eq!(parse_number(b"-1"), None);
        assert_eq!(parse_number(b"99999999999"), None);
    }

    #[test]
    fn join_keeps_absolute_paths() {
        assert_eq!(join(b"/proc/42", b"fd"), b"/proc/42/fd");
        assert_eq!(join(b"/", b"proc"), b"/proc");
        assert_eq!(join(b"/x", b"/proc"), b"/proc");
    }
}
