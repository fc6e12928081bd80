//! The text of each /proc file, gathered from the guest's state (and the host's, through a
//! few hypercalls) when the file is opened: like Linux's seq_file, a read sees a snapshot
//! taken at open.

use alloc::vec::Vec;
use core::fmt::Write;

use abi_shared::hypercall::{FsRequest, InfoRequest, ProcfsRequest, Request, Response, SegList};
use abi_shared::layout::{HUGE_PAGE_SIZE, PAGE_SIZE};

use super::cpuinfo::{self, Cpuid};
use super::render::{self, MapsLine, StatInfo, StatusInfo, Text, VmFigures};
use super::state::{self, ExecInfo};
use super::tree::File;
use crate::arch::platform::cpuid;
use crate::hypercall::{call, call_ret, kernel_buf_seg};
use crate::mm::paging;
use crate::mm::uaccess;
use crate::mm::vma::{Vma, VmaKind, PROT_EXEC, PROT_READ, PROT_WRITE};
use crate::task;

const F_GETFD: i32 = abi_shared::linux::general::F_GETFD as i32;
const F_GETFL: i32 = abi_shared::linux::general::F_GETFL as i32;
use abi_shared::linux::general::O_CLOEXEC;
use abi_shared::linux::general::SEEK_CUR;
/// Clock ticks per second (USER_HZ).
const HZ: u64 = 100;
const RLIMIT_RSS: usize = abi_shared::linux::general::RLIMIT_RSS as usize;
const RLIMIT_SIGPENDING: usize = abi_shared::linux::general::RLIMIT_SIGPENDING as usize;

/// Whose name and id a file shows: the process's (`/proc/<pid>/...`: its first thread's
/// name, the pid) or one thread's (`/proc/<pid>/task/<tid>/...`: its own name, its tid).
struct Subject {
    id: i32,
    comm: Vec<u8>,
}

fn subject(thread: Option<i32>) -> Subject {
    match thread.and_then(task::threads::find) {
        Some(t) => Subject { id: t.tid(), comm: t.comm() },
        None => Subject { id: task::pid(), comm: task::process_comm() },
    }
}

/// The content of `file` (of `thread`'s directory under task/, or the process's), or a
/// negative errno.
pub fn generate(file: File, thread: Option<i32>) -> Result<Vec<u8>, i64> {
    let mut t = Text::default();
    let exec = state::exec_info();
    match file {
        File::Cmdline => t.0 = user_bytes(exec.arg_start, exec.arg_end),
        File::Environ => t.0 = user_bytes(exec.env_start, exec.env_end),
        File::Auxv => t.0 = exec.auxv.clone(),
        File::Comm => {
            t.bytes(&subject(thread).comm);
            t.0.push(b'\n');
        }
        File::Maps => maps(&mut t),
        File::Status => status(&mut t, &subject(thread)),
        File::Stat => stat(&mut t, &exec, &subject(thread)),
        File::Statm => render::statm(&mut t, &vm_figures()),
        File::SmapsRollup => smaps_rollup(&mut t),
        // What a host without /proc gets (see tree::host_source).
        File::Mounts => t.bytes(render::MOUNTS.as_bytes()),
        File::Mountinfo => t.bytes(render::MOUNTINFO.as_bytes()),
        File::Filesystems => t.bytes(render::FILESYSTEMS.as_bytes()),
        File::Cgroup => t.bytes(b"0::/\n"),
        File::Limits => render::limits(&mut t, &task::rlimits()),
        File::Fdinfo(fd) => fdinfo(&mut t, fd)?,
        File::Cpuinfo => cpuinfo::render(&mut t, &read_cpuid(), task::cpu_count(), crate::time::tsc_khz()),
        // The machine's figures are the host's where it has a /proc (tree::host_source);
        // the guest's own (its RAM, its clocks) where it has none.
        File::Meminfo => {
            let total = crate::mm::guest_ram_size();
            let (free, _) = crate::mm::frame::usage();
            render::meminfo(&mut t, total / 1024, free.min(total) / 1024);
        }
        File::SysStat => sys_stat(&mut t, &exec),
        File::Uptime => {
            let up = crate::time::monotonic_ns();
            render::uptime(&mut t, up, up.saturating_mul(u64::from(task::cpu_count())).saturating_sub(cpu_ns()));
        }
        File::Loadavg => {
            let (loads, procs) = match call(&Request::Info(InfoRequest::Sysinfo)) {
                Response::Sysinfo(si) => (si.loads, u32::from(si.procs)),
                _ => ([0; 3], 1),
            };
            render::loadavg(&mut t, loads, 1, procs.max(1), task::pid());
        }
        File::Version => {
            t.bytes(b"Linux version ");
            t.bytes(&task::kernel_release());
            t.bytes(b" (linuxrun@linuxrun) (linuxrun guest kernel) ");
            t.bytes(&task::kernel_version());
            t.0.push(b'\n');
        }
        File::Osrelease => line(&mut t, &task::kernel_release()),
        File::KernelVersion => line(&mut t, &task::kernel_version()),
        File::Hostname => line(&mut t, &task::hostname()),
        File::Ostype => t.bytes(b"Linux\n"),
        // Pids and descriptors are the host's, and so are their limits; these numbers
        // are for a host without /proc/sys.
        File::PidMax => host_sysctl_or(&mut t, b"kernel/pid_max", b"4194304\n"),
        File::Tainted => t.bytes(b"0\n"),
        File::CapLastCap => {
            let _ = writeln!(t, "{}", render::CAP_LAST_CAP);
        }
        File::NgroupsMax => t.bytes(b"65536\n"),
        File::ThreadsMax => {
            // Linux: total pages / 8 pages per thread stack... divided by 4 (fork_init).
            let _ = writeln!(t, "{}", crate::mm::guest_ram_size() / PAGE_SIZE / 32);
        }
        File::RandomUuid => {
            let mut b = [0u8; 16];
            crate::random::fill(&mut b);
            render::uuid(&mut t, b);
        }
        File::RandomBootId => render::uuid(&mut t, exec.boot_id),
        File::EntropyAvail => t.bytes(b"256\n"),
        File::OvercommitMemory => t.bytes(b"0\n"),
        File::MaxMapCount => t.bytes(b"65530\n"),
        File::NrOpen => host_sysctl_or(&mut t, b"fs/nr_open", b"1048576\n"),
        File::FsFileMax => host_sysctl_or(&mut t, b"fs/file-max", b"9223372036854775807\n"),
    }
    Ok(t.0)
}

/// The host's /proc/sys/<rel> as it reads now, or `fallback` where the host has none.
fn host_sysctl_or(t: &mut Text, rel: &[u8], fallback: &[u8]) {
    let mut path = b"sys/".to_vec();
    path.extend_from_slice(rel);
    host_file_or(t, &path, |t| t.bytes(fallback));
}

/// The host's /proc/<rel> as it reads now (whole, up to 4 MiB), or what `fallback`
/// writes where the host has no such file (or it reads empty).
fn host_file_or(t: &mut Text, rel: &[u8], fallback: impl FnOnce(&mut Text)) {
    const O_RDONLY_CLOEXEC: i32 = O_CLOEXEC as i32;
    const MAX: usize = 4 << 20;
    let fd = call_ret(&Request::Procfs(ProcfsRequest::OpenHostProc { path: rel, flags: O_RDONLY_CLOEXEC, mode: 0 }));
    if fd < 0 {
        return fallback(t);
    }
    let start = t.0.len();
    let buf = alloc::vec![0u8; 16 * 1024];
    while t.0.len() - start < MAX {
        let seg = [kernel_buf_seg(&buf)];
        let n = call_ret(&Request::Fs(FsRequest::Read { fd: fd as i32, buf: SegList::Borrowed(&seg), offset: None }));
        if n <= 0 {
            break;
        }
        t.bytes(&buf[..n as usize]);
    }
    call_ret(&Request::Fs(FsRequest::Close { fd: fd as i32 }));
    if t.0.len() == start {
        fallback(t);
    }
}

fn line(t: &mut Text, value: &[u8]) {
    t.bytes(value);
    t.0.push(b'\n');
}

/// User memory `[start, end)` as it is now (the program may have rewritten its argv).
fn user_bytes(start: u64, end: u64) -> Vec<u8> {
    let mut v = alloc::vec![0u8; end.saturating_sub(start).min(1 << 20) as usize];
    if uaccess::copy_from_user(start, &mut v).is_err() {
        v.clear();
    }
    v
}

fn vmas() -> Vec<Vma> {
    crate::mm::SPACE.lock().vmas.iter().cloned().collect()
}

/// Linux's "major:minor" of a dev_t.
fn dev_parts(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

fn maps(t: &mut Text) {
    for v in vmas() {
        let file = v.name.and_then(|f| state::name(f.name).map(|n| (n, f.offset)));
        let label: Option<&[u8]> = match v.kind {
            VmaKind::Heap => Some(b"[heap]"),
            VmaKind::Stack => Some(b"[stack]"),
            kind => kind.maps_name().map(str::as_bytes),
        };
        let (name, offset, dev, inode) = match &file {
            Some(((path, dev, ino), off)) => (Some(&path[..]), *off, dev_parts(*dev), *ino),
            None => (label, 0, (0, 0), 0),
        };
        let line = MapsLine {
            start: v.start,
            end: v.end,
            read: v.prot & PROT_READ != 0,
            write: v.prot & PROT_WRITE != 0,
            exec: v.prot & PROT_EXEC != 0,
            shared: v.file.as_ref().is_some_and(|f| f.window.is_some()),
            offset,
            dev,
            inode,
            name,
        };
        render::maps_line(t, &line);
    }
    // Linux's last line: the legacy vsyscall page, execute-only (exception.rs emulates it).
    let vsyscall = MapsLine {
        start: 0xffff_ffff_ff60_0000,
        end: 0xffff_ffff_ff60_1000,
        read: false,
        write: false,
        exec: true,
        shared: false,
        offset: 0,
        dev: (0, 0),
        inode: 0,
        name: Some(b"[vsyscall]"),
    };
    render::maps_line(t, &vsyscall);
}

/// Bytes of `[start, end)` backed by a frame.
fn resident(start: u64, end: u64) -> u64 {
    let mut va = start;
    let mut bytes = 0;
    while va < end {
        match paging::probe(va) {
            paging::Probe::Absent { until } => va = until.max(va + PAGE_SIZE),
            paging::Probe::Huge { start: block, .. } => {
                let next = (block + HUGE_PAGE_SIZE).min(end);
                bytes += next - va;
                va = next;
            }
            paging::Probe::Page => {
                bytes += PAGE_SIZE;
                va += PAGE_SIZE;
            }
        }
    }
    bytes
}

/// The exe's name id, to tell its mappings (VmExe) from libraries' (VmLib).
fn is_exe_mapping(v: &Vma, exe: &[u8]) -> bool {
    v.name.and_then(|f| state::name(f.name)).is_some_and(|(p, _, _)| p == exe)
}

fn vm_figures() -> VmFigures {
    let exe = task::exe_path();
    let mut f = VmFigures::default();
    for v in vmas() {
        let len = v.end - v.start;
        f.size += len;
        f.rss += resident(v.start, v.end);
        if v.kind == VmaKind::Stack {
            f.stack += len;
        } else if v.prot & PROT_WRITE != 0 {
            f.data += len;
        }
        if v.prot & PROT_EXEC != 0 && v.name.is_some() {
            if is_exe_mapping(&v, &exe) {
                f.exe += len;
            } else {
                f.lib += len;
            }
        }
    }
    f.size /= 1024;
    f.rss /= 1024;
    f.data /= 1024;
    f.stack /= 1024;
    f.exe /= 1024;
    f.lib /= 1024;
    f.pte = (f.size / 512 / 4).max(4);
    f
}

fn smaps_rollup(t: &mut Text) {
    let all = vmas();
    let first = all.first().map_or(0, |v| v.start);
    let last = all.last().map_or(0, |v| v.end);
    render::smaps_rollup(t, first, last, &vm_figures());
}

fn groups() -> Vec<u32> {
    let n = call_ret(&Request::Info(InfoRequest::Getgroups { size: 0, buf: SegList::Borrowed(&[]) }));
    if n <= 0 {
        return Vec::new();
    }
    let buf = alloc::vec![0u8; n as usize * 4];
    let seg = [kernel_buf_seg(&buf)];
    let got = call_ret(&Request::Info(InfoRequest::Getgroups { size: n as i32, buf: SegList::Borrowed(&seg) }));
    buf.chunks_exact(4).take(got.max(0) as usize).map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// (process pending, blocked, ignored, caught, queued) signal sets of the running thread.
fn signal_sets() -> (u64, u64, u64, u64, u64) {
    let s = crate::signal::lock();
    let (mut ignored, mut caught) = (0u64, 0u64);
    for (i, a) in s.proc.actions.iter().enumerate().skip(1) {
        match a.handler {
            crate::signal::SIG_DFL => {}
            crate::signal::SIG_IGN => ignored |= 1 << (i - 1),
            _ => caught |= 1 << (i - 1),
        }
    }
    let queued = s.me.pending.count() + s.proc.shared.count();
    (s.proc.shared.mask, s.me.blocked, ignored, caught, queued)
}

fn rusage() -> abi_shared::hypercall::LinuxRusage {
    match call(&Request::Info(InfoRequest::Getrusage { who: 0 })) {
        Response::Rusage(r) => r,
        _ => Default::default(),
    }
}

fn status(t: &mut Text, who: &Subject) {
    // Credentials and seccomp are per thread: the named thread's (for /proc/PID, the
    // process's first), as Linux shows them.
    let subject = task::threads::find(who.id).unwrap_or_else(task::current);
    let (uids, gids, caps) = task::creds::of_thread(subject)
        .unwrap_or_else(|| (task::creds::uids(), task::creds::gids(), task::creds::caps()));
    let (pending, blocked, ignored, caught, queued) = signal_sets();
    let groups = groups();
    let ru = rusage();
    let seccomp = subject.seccomp();
    let info = StatusInfo {
        name: &who.comm,
        umask: task::umask(),
        tgid: task::pid(),
        pid: who.id,
        ppid: task::ppid(),
        uids,
        gids,
        fd_size: 64,
        groups: &groups,
        pgid: call_ret(&Request::Info(InfoRequest::Getpgid { pid: 0 })).max(0) as i32,
        sid: call_ret(&Request::Info(InfoRequest::Getsid { pid: 0 })).max(0) as i32,
        vm: vm_figures(),
        sig_queued: queued,
        sig_queue_limit: task::rlimits()[RLIMIT_SIGPENDING].0,
        sig_thread_pending: crate::task::current().signals().lock().pending.mask,
        sig_pending: pending,
        sig_blocked: blocked,
        sig_ignored: ignored,
        sig_caught: caught,
        threads: task::threads::count(),
        caps,
        no_new_privs: seccomp.no_new_privs(),
        seccomp: (seccomp.mode(), seccomp.filter_count()),
        cpus: task::cpu_count(),
        voluntary_switches: ru.ru_nvcsw as u64,
        involuntary_switches: ru.ru_nivcsw as u64,
    };
    render::status(t, &info);
}

/// (utime, stime) in clock ticks.
fn cpu_ticks() -> (u64, u64) {
    match call(&Request::Info(InfoRequest::Times)) {
        Response::Times { tms, .. } => (tms.tms_utime as u64, tms.tms_stime as u64),
        _ => (0, 0),
    }
}

fn cpu_ns() -> u64 {
    let (u, s) = cpu_ticks();
    (u + s) * (1_000_000_000 / HZ)
}

fn stat(t: &mut Text, exec: &ExecInfo, who: &Subject) {
    let exe = task::exe_path();
    let all = vmas();
    let exe_maps = || all.iter().filter(|v| is_exe_mapping(v, &exe));
    let code = exe_maps().filter(|v| v.prot & PROT_EXEC != 0);
    let data = exe_maps().filter(|v| v.prot & PROT_WRITE != 0);
    let (utime, stime) = cpu_ticks();
    let (pending, blocked, ignored, caught, _) = signal_sets();
    let ru = rusage();
    let vm = vm_figures();
    let info = StatInfo {
        pid: who.id,
        comm: &who.comm,
        ppid: task::ppid(),
        pgrp: call_ret(&Request::Info(InfoRequest::Getpgid { pid: 0 })).max(0) as i32,
        session: call_ret(&Request::Info(InfoRequest::Getsid { pid: 0 })).max(0) as i32,
        minflt: ru.ru_minflt as u64,
        majflt: ru.ru_majflt as u64,
        utime,
        stime,
        starttime: exec.start_monotonic_ns / (1_000_000_000 / HZ),
        vsize: vm.size * 1024,
        rss_pages: vm.rss / 4,
        rsslim: task::rlimits()[RLIMIT_RSS].0,
        start_code: code.clone().map(|v| v.start).min().unwrap_or(0),
        end_code: code.map(|v| v.end).max().unwrap_or(0),
        start_stack: exec.start_stack,
        sig_pending: pending,
        sig_blocked: blocked,
        sig_ignored: ignored,
        sig_caught: caught,
        start_data: data.clone().map(|v| v.start).min().unwrap_or(0),
        end_data: data.map(|v| v.end).max().unwrap_or(0),
        start_brk: crate::mm::SPACE.lock().brk_start,
        arg_start: exec.arg_start,
        arg_end: exec.arg_end,
        env_start: exec.env_start,
        env_end: exec.env_end,
    };
    render::stat(t, &info);
}

fn sys_stat(t: &mut Text, exec: &ExecInfo) {
    let (user, system) = cpu_ticks();
    let up_ticks = crate::time::monotonic_ns() / (1_000_000_000 / HZ);
    let idle = up_ticks.saturating_sub(user + system);
    let btime = crate::time::realtime_ns().saturating_sub(crate::time::monotonic_ns()) / 1_000_000_000;
    let _ = exec;
    render::sys_stat(t, task::cpu_count(), user, system, idle, btime, task::pid());
}

fn fdinfo(t: &mut Text, fd: i32) -> Result<(), i64> {
    let fl = call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_GETFL, arg: 0 }));
    if fl < 0 {
        return Err(fl);
    }
    let cloexec = call_ret(&Request::Fs(FsRequest::Fcntl { fd, cmd: F_GETFD, arg: 0 })) & 1 != 0;
    let pos = call_ret(&Request::Fs(FsRequest::Lseek { fd, offset: 0, whence: SEEK_CUR })).max(0) as u64;
    let ino = match call(&Request::Fs(FsRequest::Fstat { fd })) {
        Response::Stat(st) => st.st_ino,
        _ => 0,
    };
    let flags = fl as u32 | if cloexec { O_CLOEXEC } else { 0 };
    render::fdinfo(t, pos, flags, ino);
    Ok(())
}

fn read_cpuid() -> Cpuid {
    let mut c = Cpuid::default();
    let l0 = cpuid(0, 0);
    c.max_leaf = l0[0];
    for (i, reg) in [l0[1], l0[3], l0[2]].iter().enumerate() {
        c.vendor[i * 4..i * 4 + 4].copy_from_slice(&reg.to_le_bytes());
    }
    let l1 = cpuid(1, 0);
    c.signature = l1[0];
    c.ecx1 = l1[2];
    c.edx1 = l1[3];
    c.clflush = ((l1[1] >> 8) & 0xff) * 8;
    if c.max_leaf >= 7 {
        let l7 = cpuid(7, 0);
        (c.ebx7, c.ecx7, c.edx7) = (l7[1], l7[2], l7[3]);
    }
    if c.max_leaf >= 0xd {
        c.eax_d1 = cpuid(0xd, 1)[0];
    }
    let max_ext = cpuid(0x8000_0000, 0)[0];
    if max_ext >= 0x8000_0001 {
        let e = cpuid(0x8000_0001, 0);
        (c.ecx_ext, c.edx_ext) = (e[2], e[3]);
    }
    if max_ext >= 0x8000_0004 {
        for (i, leaf) in (0x8000_0002u32..=0x8000_0004).enumerate() {
            for (j, reg) in cpuid(leaf, 0).iter().enumerate() {
                let at = i * 16 + j * 4;
                c.brand[at..at + 4].copy_from_slice(&reg.to_le_bytes());
            }
        }
    }
    if max_ext >= 0x8000_0008 {
        c.addr_sizes = cpuid(0x8000_0008, 0)[0];
    }
    c.cache_kb = largest_cache_kb(c.max_leaf, max_ext);
    c
}

/// The largest cache: CPUID leaf 4 (Intel), else leaf 0x80000006's L2 (AMD).
fn largest_cache_kb(max_leaf: u32, max_ext: u32) -> u32 {
    let mut best = 0u32;
    if max_leaf >= 4 {
        for sub in 0..16 {
            let [a, b, c, _] = cpuid(4, sub);
            if a & 0x1f == 0 {
                break;
            }
            let ways = ((b >> 22) & 0x3ff) + 1;
            let parts = ((b >> 12) & 0x3ff) + 1;
            let line = (b & 0xfff) + 1;
            let sets = c + 1;
            best = best.max(ways.saturating_mul(parts).saturating_mul(line).saturating_mul(sets) / 1024);
        }
    }
    if best == 0 && max_ext >= 0x8000_0006 {
        best = cpuid(0x8000_0006, 0)[2] >> 16;
    }
    best
}
