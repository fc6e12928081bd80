//! The text of /proc files, in Linux's exact formats, from plain data. Pure: unit-tested
//! on the host; gathering the data is the caller's business.

use alloc::vec::Vec;
use core::fmt::{self, Write};

/// A byte buffer that `write!` can append to (file names need not be UTF-8).
#[derive(Default)]
pub struct Text(pub Vec<u8>);

impl Write for Text {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

impl Text {
    pub fn bytes(&mut self, b: &[u8]) {
        self.0.extend_from_slice(b);
    }
}

/// One line of /proc/<pid>/maps.
pub struct MapsLine<'a> {
    pub start: u64,
    pub end: u64,
    pub read: bool,
    pub write: bool,
    pub exec: bool,
    pub shared: bool,
    pub offset: u64,
    pub dev: (u32, u32),
    pub inode: u64,
    pub name: Option<&'a [u8]>,
}

/// Linux pads the fields before a name to 72 columns (25 + 6 * sizeof(void *) - 1).
const MAPS_NAME_COLUMN: usize = 72;

pub fn maps_line(out: &mut Text, l: &MapsLine<'_>) {
    let line_start = out.0.len();
    let flag = |on: bool, c: char| if on { c } else { '-' };
    let _ = write!(
        out,
        "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
        l.start,
        l.end,
        flag(l.read, 'r'),
        flag(l.write, 'w'),
        flag(l.exec, 'x'),
        if l.shared { 's' } else { 'p' },
        l.offset,
        l.dev.0,
        l.dev.1,
        l.inode
    );
    if let Some(name) = l.name {
        while out.0.len() - line_start < MAPS_NAME_COLUMN {
            out.0.push(b' ');
        }
        out.0.push(b' ');
        // seq_file_path escapes a newline in a name as "\012".
        for &b in name {
            if b == b'\n' {
                out.bytes(b"\\012");
            } else {
                out.0.push(b);
            }
        }
    }
    out.0.push(b'\n');
}

/// Memory figures in KiB (status, statm, smaps_rollup).
#[derive(Clone, Copy, Default, Debug)]
pub struct VmFigures {
    pub size: u64,
    pub rss: u64,
    pub data: u64,
    pub stack: u64,
    pub exe: u64,
    pub lib: u64,
    pub pte: u64,
}

/// What /proc/<pid>/status shows.
pub struct StatusInfo<'a> {
    pub name: &'a [u8],
    pub umask: u32,
    /// The process's id (Tgid) and the id the file is about (Pid: the tid in a task/ file).
    pub tgid: i32,
    pub pid: i32,
    pub ppid: i32,
    pub uids: [u32; 4],
    pub gids: [u32; 4],
    pub fd_size: u64,
    pub groups: &'a [u32],
    pub pgid: i32,
    pub sid: i32,
    pub vm: VmFigures,
    pub sig_queued: u64,
    pub sig_queue_limit: u64,
    /// The thread's own pending signals (SigPnd) and the process's (ShdPnd).
    pub sig_thread_pending: u64,
    pub sig_pending: u64,
    pub sig_blocked: u64,
    pub sig_ignored: u64,
    pub sig_caught: u64,
    pub threads: u32,
    /// Effective, permitted, inheritable and bounding capability sets.
    pub caps: [u64; 4],
    /// no_new_privs, the seccomp mode and how many filters (the thread's).
    pub no_new_privs: bool,
    pub seccomp: (u8, usize),
    pub cpus: u32,
    pub voluntary_switches: u64,
    pub involuntary_switches: u64,
}

/// A task name as status prints it: escapes for `\` and newline, like Linux's proc_task_name.
fn escaped_name(out: &mut Text, name: &[u8]) {
    for &b in name {
        match b {
            b'\\' => out.bytes(b"\\\\"),
            b'\n' => out.bytes(b"\\n"),
            b => out.0.push(b),
        }
    }
}

/// The CPU list as Linux prints it: "0", "0-3".
fn cpu_list(cpus: u32) -> alloc::string::String {
    match cpus {
        0 | 1 => alloc::string::String::from("0"),
        n => alloc::format!("0-{}", n - 1),
    }
}

/// The CPU mask as Linux prints it: hex words of 32 bits, most significant first.
fn cpu_mask(cpus: u32) -> alloc::string::String {
    let mut words: Vec<u32> = Vec::new();
    let mut left = cpus.max(1);
    while left > 0 {
        let n = left.min(32);
        words.push(if n == 32 { u32::MAX } else { (1u32 << n) - 1 });
        left -= n;
    }
    let parts: Vec<alloc::string::String> = words.iter().rev().map(|w| alloc::format!("{w:08x}")).collect();
    let joined = parts.join(",");
    // Linux prints the mask without leading zeros in its first word.
    let trimmed = joined.trim_start_matches('0');
    alloc::string::String::from(if trimmed.is_empty() || trimmed.starts_with(',') { "0" } else { trimmed })
}

fn kb_line(out: &mut Text, label: &str, kb: u64) {
    let _ = writeln!(out, "{label}\t{kb:>8} kB");
}

pub fn status(out: &mut Text, s: &StatusInfo<'_>) {
    out.bytes(b"Name:\t");
    escaped_name(out, s.name);
    let _ = write!(
        out,
        "\nUmask:\t{:04o}\nState:\tR (running)\nTgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{}\nTracerPid:\t0\n",
        s.umask, s.tgid, s.pid, s.ppid,
    );
    let [a, b, c, d] = s.uids;
    let _ = writeln!(out, "Uid:\t{a}\t{b}\t{c}\t{d}");
    let [a, b, c, d] = s.gids;
    let _ = writeln!(out, "Gid:\t{a}\t{b}\t{c}\t{d}");
    let _ = write!(out, "FDSize:\t{}\nGroups:\t", s.fd_size);
    for g in s.groups {
        let _ = write!(out, "{g} ");
    }
    // Linux ends the list with a space, even an empty one.
    if s.groups.is_empty() {
        out.bytes(b" ");
    }
    let _ = write!(out, "\nNStgid:\t{}\nNSpid:\t{}\nNSpgid:\t{}\nNSsid:\t{}\n", s.tgid, s.pid, s.pgid, s.sid);
    let vm = &s.vm;
    for (label, kb) in [
        ("VmPeak:", vm.size),
        ("VmSize:", vm.size),
        ("VmLck:", 0),
        ("VmPin:", 0),
        ("VmHWM:", vm.rss),
        ("VmRSS:", vm.rss),
        ("RssAnon:", vm.rss),
        ("RssFile:", 0),
        ("RssShmem:", 0),
        ("VmData:", vm.data),
        ("VmStk:", vm.stack),
        ("VmExe:", vm.exe),
        ("VmLib:", vm.lib),
        ("VmPTE:", vm.pte),
        ("VmSwap:", 0),
        ("HugetlbPages:", 0),
    ] {
        kb_line(out, label, kb);
    }
    let _ = write!(
        out,
        "CoreDumping:\t0\nTHP_enabled:\t1\nThreads:\t{}\nSigQ:\t{}/{}\nSigPnd:\t{:016x}\nShdPnd:\t{:016x}\n\
         SigBlk:\t{:016x}\nSigIgn:\t{:016x}\nSigCgt:\t{:016x}\n",
        s.threads,
        s.sig_queued,
        s.sig_queue_limit,
        s.sig_thread_pending,
        s.sig_pending,
        s.sig_blocked,
        s.sig_ignored,
        s.sig_caught
    );
    let _ = write!(
        out,
        "CapInh:\t{:016x}\nCapPrm:\t{:016x}\nCapEff:\t{:016x}\nCapBnd:\t{:016x}\nCapAmb:\t{:016x}\n\
         NoNewPrivs:\t{}\nSeccomp:\t{}\nSeccomp_filters:\t{}\nSpeculation_Store_Bypass:\tthread vulnerable\n\
         SpeculationIndirectBranch:\tconditional enabled\n",
        s.caps[2],
        s.caps[1],
        s.caps[0],
        s.caps[3],
        0,
        u8::from(s.no_new_privs),
        s.seccomp.0,
        s.seccomp.1
    );
    let _ = write!(
        out,
        "Cpus_allowed:\t{}\nCpus_allowed_list:\t{}\nMems_allowed:\t1\nMems_allowed_list:\t0\n\
         voluntary_ctxt_switches:\t{}\nnonvoluntary_ctxt_switches:\t{}\n",
        cpu_mask(s.cpus),
        cpu_list(s.cpus),
        s.voluntary_switches,
        s.involuntary_switches
    );
}

/// Every capability Linux 5.9+ knows (CAP_LAST_CAP = 40).
#[cfg(test)]
pub const ALL_CAPS: u64 = (1 << 41) - 1;
pub const CAP_LAST_CAP: u32 = abi_shared::linux::general::CAP_LAST_CAP;

/// What /proc/<pid>/stat shows (fields Linux always prints as 0 are not here).
#[derive(Default)]
pub struct StatInfo<'a> {
    pub pid: i32,
    pub comm: &'a [u8],
    pub ppid: i32,
    pub pgrp: i32,
    pub session: i32,
    pub minflt: u64,
    pub majflt: u64,
    pub utime: u64,
    pub stime: u64,
    pub starttime: u64,
    pub vsize: u64,
    pub rss_pages: u64,
    pub rsslim: u64,
    pub start_code: u64,
    pub end_code: u64,
    pub start_stack: u64,
    pub sig_pending: u64,
    pub sig_blocked: u64,
    pub sig_ignored: u64,
    pub sig_caught: u64,
    pub start_data: u64,
    pub end_data: u64,
    pub start_brk: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
}

/// PF_RANDOMIZE: what a freshly executed program's task flags show.
const TASK_FLAGS: u32 = 0x0040_0000;
use abi_shared::linux::general::SIGCHLD;

/// The 52 fields of /proc/<pid>/stat in Linux's order (fs/proc/array.c do_task_stat).
pub fn stat(out: &mut Text, s: &StatInfo<'_>) {
    let _ = write!(out, "{} (", s.pid);
    out.bytes(s.comm);
    // Only the low 31 bits of each signal set are shown, as Linux does.
    let low = |set: u64| set & 0x7fff_ffff;
    let _ = writeln!(
        out,
        ") R {} {} {} 0 -1 {} {} 0 {} 0 {} {} 0 0 20 0 1 0 {} {} {} {} {} {} {} 0 0 {} {} {} {} 0 0 0 {} 0 0 0 0 0 0 {} {} {} {} {} {} {} 0",
        s.ppid,
        s.pgrp,
        s.session,
        TASK_FLAGS,
        s.minflt,
        s.majflt,
        s.utime,
        s.stime,
        s.starttime,
        s.vsize,
        s.rss_pages,
        s.rsslim,
        s.start_code,
        s.end_code,
        s.start_stack,
        low(s.sig_pending),
        low(s.sig_blocked),
        low(s.sig_ignored),
        low(s.sig_caught),
        SIGCHLD,
        s.start_data,
        s.end_data,
        s.start_brk,
        s.arg_start,
        s.arg_end,
        s.env_start,
        s.env_end
    );
}

/// /proc/<pid>/statm: sizes in pages.
pub fn statm(out: &mut Text, vm: &VmFigures) {
    let p = |kb: u64| kb / 4;
    let _ = writeln!(out, "{} {} 0 {} 0 {} 0", p(vm.size), p(vm.rss), p(vm.exe), p(vm.data + vm.stack));
}

/// /proc/<pid>/smaps_rollup: the totals over every mapping.
pub fn smaps_rollup(out: &mut Text, first: u64, last: u64, vm: &VmFigures) {
    let _ = writeln!(out, "{first:08x}-{last:08x} ---p 00000000 00:00 0                          [rollup]");
    for (label, kb) in [
        ("Rss:", vm.rss),
        ("Pss:", vm.rss),
        ("Pss_Dirty:", vm.rss),
        ("Pss_Anon:", vm.rss),
        ("Pss_File:", 0),
        ("Pss_Shmem:", 0),
        ("Shared_Clean:", 0),
        ("Shared_Dirty:", 0),
        ("Private_Clean:", 0),
        ("Private_Dirty:", vm.rss),
        ("Referenced:", vm.rss),
        ("Anonymous:", vm.rss),
        ("KSM:", 0),
        ("LazyFree:", 0),
        ("AnonHugePages:", 0),
        ("ShmemPmdMapped:", 0),
        ("FilePmdMapped:", 0),
        ("Shared_Hugetlb:", 0),
        ("Private_Hugetlb:", 0),
        ("Swap:", 0),
        ("SwapPss:", 0),
        ("Locked:", 0),
    ] {
        let _ = writeln!(out, "{label:<16}{kb:>8} kB");
    }
}

/// /proc/meminfo from the guest's RAM (KiB). Lines as Linux 6.x prints them.
pub fn meminfo(out: &mut Text, total_kb: u64, free_kb: u64) {
    let commit = total_kb;
    for (label, kb) in [
        ("MemTotal:", total_kb),
        ("MemFree:", free_kb),
        ("MemAvailable:", free_kb),
        ("Buffers:", 0),
        ("Cached:", 0),
        ("SwapCached:", 0),
        ("Active:", total_kb - free_kb.min(total_kb)),
        ("Inactive:", 0),
        ("Active(anon):", total_kb - free_kb.min(total_kb)),
        ("Inactive(anon):", 0),
        ("Active(file):", 0),
        ("Inactive(file):", 0),
        ("Unevictable:", 0),
        ("Mlocked:", 0),
        ("SwapTotal:", 0),
        ("SwapFree:", 0),
        ("Zswap:", 0),
        ("Zswapped:", 0),
        ("Dirty:", 0),
        ("Writeback:", 0),
        ("AnonPages:", total_kb - free_kb.min(total_kb)),
        ("Mapped:", 0),
        ("Shmem:", 0),
        ("KReclaimable:", 0),
        ("Slab:", 0),
        ("SReclaimable:", 0),
        ("SUnreclaim:", 0),
        ("KernelStack:", 0),
        ("PageTables:", 0),
        ("SecPageTables:", 0),
        ("NFS_Unstable:", 0),
        ("Bounce:", 0),
        ("WritebackTmp:", 0),
        ("CommitLimit:", commit),
        ("Committed_AS:", total_kb - free_kb.min(total_kb)),
        ("VmallocTotal:", 34_359_738_367),
        ("VmallocUsed:", 0),
        ("VmallocChunk:", 0),
        ("Percpu:", 0),
        ("HardwareCorrupted:", 0),
        ("AnonHugePages:", 0),
        ("ShmemHugePages:", 0),
        ("ShmemPmdMapped:", 0),
        ("FileHugePages:", 0),
        ("FilePmdMapped:", 0),
    ] {
        let _ = writeln!(out, "{label:<16}{kb:>8} kB");
    }
    for label in ["HugePages_Total:", "HugePages_Free:", "HugePages_Rsvd:", "HugePages_Surp:"] {
        let _ = writeln!(out, "{label:<16}{:>8}", 0);
    }
    for (label, kb) in [("Hugepagesize:", 2048), ("Hugetlb:", 0), ("DirectMap4k:", 0), ("DirectMap2M:", total_kb)] {
        let _ = writeln!(out, "{label:<16}{kb:>8} kB");
    }
}

/// Seconds with two decimals, as uptime and loadavg print them.
fn centi(out: &mut Text, centis: u64) {
    let _ = write!(out, "{}.{:02}", centis / 100, centis % 100);
}

pub fn uptime(out: &mut Text, up_ns: u64, idle_ns: u64) {
    centi(out, up_ns / 10_000_000);
    out.0.push(b' ');
    centi(out, idle_ns / 10_000_000);
    out.0.push(b'\n');
}

/// Loads as sysinfo gives them (fixed point, 16 fractional bits).
pub fn loadavg(out: &mut Text, loads: [u64; 3], running: u32, total: u32, last_pid: i32) {
    for l in loads {
        centi(out, (l >> 16) * 100 + (((l & 0xffff) * 100) >> 16));
        out.0.push(b' ');
    }
    let _ = writeln!(out, "{running}/{total} {last_pid}");
}

/// A version 4 UUID from 16 random bytes, as random/uuid prints it.
pub fn uuid(out: &mut Text, mut b: [u8; 16]) {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    for (i, byte) in b.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.0.push(b'-');
        }
        let _ = write!(out, "{byte:02x}");
    }
    out.0.push(b'\n');
}

/// /proc/stat: CPU times in clock ticks, one line for all and one per CPU.
pub fn sys_stat(out: &mut Text, cpus: u32, user: u64, system: u64, idle: u64, btime: u64, pid: i32) {
    let line = |out: &mut Text, name: &str, u: u64, s: u64, i: u64| {
        let _ = writeln!(out, "{name} {u} 0 {s} {i} 0 0 0 0 0 0");
    };
    line(out, "cpu ", user, system, idle * u64::from(cpus.max(1)));
    for c in 0..cpus.max(1) {
        let (u, s) = if c == 0 { (user, system) } else { (0, 0) };
        line(out, &alloc::format!("cpu{c}"), u, s, idle);
    }
    let _ = writeln!(
        out,
        "intr 0\nctxt 0\nbtime {btime}\nprocesses {pid}\nprocs_running 1\nprocs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0"
    );
}

/// The filesystems a Linux of today lists (nodev ones first, as registered).
pub const FILESYSTEMS: &str = "nodev\tsysfs\nnodev\ttmpfs\nnodev\tbdev\nnodev\tproc\nnodev\tcgroup\nnodev\tcgroup2\n\
nodev\tcpuset\nnodev\tdevtmpfs\nnodev\tdebugfs\nnodev\tsecurityfs\nnodev\tsockfs\nnodev\tbpf\nnodev\tpipefs\n\
nodev\tramfs\nnodev\thugetlbfs\nnodev\tdevpts\n\text3\n\text2\n\text4\nnodev\tautofs\nnodev\tmqueue\n\
nodev\toverlay\n";

/// The guest's mounts: the host's tree at /, this /proc, the host's /dev.
pub const MOUNTS: &str = "hostfs / hostfs rw,relatime 0 0\nproc /proc proc rw,nosuid,nodev,noexec,relatime 0 0\n\
devtmpfs /dev devtmpfs rw,nosuid 0 0\n";

pub const MOUNTINFO: &str = "1 0 0:1 / / rw,relatime shared:1 - hostfs hostfs rw\n\
2 1 0:2 / /proc rw,nosuid,nodev,noexec,relatime shared:2 - proc proc rw\n\
3 1 0:3 / /dev rw,nosuid shared:3 - devtmpfs devtmpfs rw\n";

/// /proc/<pid>/limits rows: (Linux resource number order) name and unit.
const LIMIT_NAMES: [(&str, &str); 16] = [
    ("Max cpu time", "seconds"),
    ("Max file size", "bytes"),
    ("Max data size", "bytes"),
    ("Max stack size", "bytes"),
    ("Max core file size", "bytes"),
    ("Max resident set", "bytes"),
    ("Max processes", "processes"),
    ("Max open files", "files"),
    ("Max locked memory", "bytes"),
    ("Max address space", "bytes"),
    ("Max file locks", "locks"),
    ("Max pending signals", "signals"),
    ("Max msgqueue size", "bytes"),
    ("Max nice priority", ""),
    ("Max realtime priority", ""),
    ("Max realtime timeout", "us"),
];

pub fn limits(out: &mut Text, limits: &[(u64, u64); 16]) {
    let _ = writeln!(out, "{:<25} {:<20} {:<20} {:<10}", "Limit", "Soft Limit", "Hard Limit", "Units");
    let value = |v: u64| if v == u64::MAX { alloc::string::String::from("unlimited") } else { alloc::format!("{v}") };
    for ((name, unit), (soft, hard)) in LIMIT_NAMES.iter().zip(limits) {
        let _ = write!(out, "{:<25} {:<20} {:<20} ", name, value(*soft), value(*hard));
        if unit.is_empty() {
            out.0.push(b'\n');
        } else {
            let _ = writeln!(out, "{unit:<10}");
        }
    }
}

/// /proc/<pid>/fdinfo/N.
pub fn fdinfo(out: &mut Text, pos: u64, flags: u32, ino: u64) {
    let _ = writeln!(out, "pos:\t{pos}\nflags:\t0{flags:o}\nmnt_id:\t1\nino:\t{ino}");
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    fn text(f: impl FnOnce(&mut Text)) -> std::string::String {
        let mut t = Text::default();
        f(&mut t);
        std::string::String::from_utf8(t.0).unwrap()
    }

    #[test]
    fn maps_lines_pad_the_name_to_column_73() {
        let l = MapsLine {
            start: 0x5555_5555_4000,
            end: 0x5555_5555_6000,
            read: true,
            write: false,
            exec: true,
            shared: false,
            offset: 0x2000,
            dev: (8, 1),
            inode: 1234,
            name: Some(b"/usr/bin/cat"),
        };
        let s = text(|t| maps_line(t, &l));
        assert_eq!(s, "555555554000-555555556000 r-xp 00002000 08:01 1234                       /usr/bin/cat\n");
        assert_eq!(s.find('/'), Some(73));
        let anon = MapsLine { name: None, inode: 0, dev: (0, 0), offset: 0, start: 0x1000, end: 0x2000, ..l };
        assert_eq!(text(|t| maps_line(t, &anon)), "00001000-00002000 r-xp 00000000 00:00 0 \n");
    }

    #[test]
    fn status_has_the_fields_programs_parse() {
        let info = StatusInfo {
            name: b"prog",
            umask: 0o22,
            tgid: 7,
            pid: 7,
            ppid: 3,
            uids: [1000; 4],
            gids: [100; 4],
            fd_size: 64,
            groups: &[4, 24],
            pgid: 7,
            sid: 3,
            vm: VmFigures { size: 2048, rss: 512, ..VmFigures::default() },
            sig_queued: 0,
            sig_queue_limit: 100,
            sig_thread_pending: 0,
            sig_pending: 0,
            sig_blocked: 1 << 1,
            sig_ignored: 0,
            sig_caught: 0,
            threads: 3,
            caps: [0, 0, 0, ALL_CAPS],
            no_new_privs: false,
            seccomp: (0, 0),
            cpus: 4,
            voluntary_switches: 1,
            involuntary_switches: 2,
        };
        let s = text(|t| status(t, &info));
        for want in [
            "Name:\tprog\n",
            "Umask:\t0022\n",
            "Pid:\t7\n",
            "PPid:\t3\n",
            "Uid:\t1000\t1000\t1000\t1000\n",
            "Groups:\t4 24 \n",
            "VmSize:\t    2048 kB\n",
            "VmRSS:\t     512 kB\n",
            "SigBlk:\t0000000000000002\n",
            "Threads:\t3\n",
            "Cpus_allowed:\tf\n",
            "Cpus_allowed_list:\t0-3\n",
        ] {
            assert!(s.contains(want), "{want:?} missing from\n{s}");
        }
    }

    #[test]
    fn stat_has_52_fields() {
        let info = StatInfo { pid: 9, comm: b"a b", ppid: 1, ..StatInfo::default() };
        let s = text(|t| stat(t, &info));
        assert!(s.starts_with("9 (a b) R 1 "));
        // Split after the comm (which may hold spaces), as parsers do.
        let after = &s[s.rfind(')').unwrap() + 2..];
        assert_eq!(after.split_whitespace().count() + 2, 52);
    }

    #[test]
    fn meminfo_aligns_values() {
        let s = text(|t| meminfo(t, 1024 * 1024, 1000));
        assert!(s.starts_with("MemTotal:        1048576 kB\nMemFree:            1000 kB\n"));
        assert!(s.contains("\nHugePages_Total:       0\n"));
    }

    #[test]
    fn uuid_is_version_4() {
        let s = text(|t| uuid(t, [0xff; 16]));
        assert_eq!(s, "ffffffff-ffff-4fff-bfff-ffffffffffff\n");
    }

    #[test]
    fn uptime_and_loadavg_have_two_decimals() {
        assert_eq!(text(|t| uptime(t, 12_345_678_901, 5_000_000)), "12.34 0.00\n");
        assert_eq!(text(|t| loadavg(t, [1 << 16, (1 << 16) / 2, 0], 1, 100, 42)), "1.00 0.50 0.00 1/100 42\n");
    }

    #[test]
    fn limits_table_matches_linux() {
        let mut l = [(u64::MAX, u64::MAX); 16];
        l[7] = (1024, 4096);
        let s = text(|t| limits(t, &l));
        let mut lines = s.lines();
        assert_eq!(
            lines.next().unwrap(),
            "Limit                     Soft Limit           Hard Limit           Units     "
        );
        assert_eq!(
            lines.next().unwrap(),
            "Max cpu time              unlimited            unlimited            seconds   "
        );
        assert!(s.contains("Max open files            1024                 4096                 files     \n"));
        assert!(s.contains("Max nice priority         unlimited            unlimited            \n"));
    }

    #[test]
    fn cpu_masks() {
        assert_eq!(cpu_mask(1), "1");
        assert_eq!(cpu_mask(2), "3");
        assert_eq!(cpu_mask(32), "ffffffff");
        assert_eq!(cpu_mask(33), "1,ffffffff");
        assert_eq!(cpu_list(1), "0");
        assert_eq!(cpu_list(8), "0-7");
    }
}
