//! gdb's host I/O (`vFile:` packets): the files gdb reads "on the target". gdb reads
//! `/proc/PID/maps` for `info proc mappings`, and `cmdline`, `exe` and `cwd` for `info
//! proc`; once the stub answers host I/O it also reads the program's shared libraries this
//! way (its default sysroot is `target:`).
//!
//! A /proc path is the program's own /proc as the guest kernel serves it (the host's
//! entries for our pid would describe the monitor), read by a stopped thread; gdb names the
//! program process 1 (the gdbstub crate's pid), so `/proc/1/` means `/proc/self/`. Any
//! other path is a file of the program's filesystem view (`--root`, `--bind`), opened
//! read-only by the monitor. gdb's writes (`remote put`, `remote delete`) are refused.

use std::collections::BTreeMap;
use std::os::unix::fs::{FileExt, MetadataExt};

use abi_shared::debug::{DebugCommand, MAX_DEBUG_IO};
use gdbstub::target::ext::host_io::{HostIoErrno, HostIoError, HostIoOpenFlags, HostIoOpenMode, HostIoStat};

use super::Debugee;

/// An open file of gdb's.
enum Open {
    /// A /proc file's text, read whole at open (as Linux's seq_file snapshots it).
    Text(Vec<u8>),
    File(std::fs::File),
}

#[derive(Default)]
pub struct Files {
    open: BTreeMap<u32, Open>,
    next: u32,
}

type Result<T> = std::result::Result<T, HostIoError<&'static str>>;

/// gdb's errno for a Linux one (gdb's numbering is Linux's up to EROFS).
fn gdb_errno(e: i32) -> HostIoError<&'static str> {
    use HostIoErrno::*;
    HostIoError::Errno(match e {
        1 => EPERM,
        2 => ENOENT,
        4 => EINTR,
        9 => EBADF,
        13 => EACCES,
        14 => EFAULT,
        16 => EBUSY,
        17 => EEXIST,
        19 => ENODEV,
        20 => ENOTDIR,
        21 => EISDIR,
        22 => EINVAL,
        23 => ENFILE,
        24 => EMFILE,
        27 => EFBIG,
        28 => ENOSPC,
        29 => ESPIPE,
        30 => EROFS,
        36 => ENAMETOOLONG,
        38 => ENOSYS,
        5 => EIO,
        _ => EUNKNOWN,
    })
}

fn io_errno(e: std::io::Error) -> HostIoError<&'static str> {
    gdb_errno(e.raw_os_error().unwrap_or(5))
}

/// The guest path of a /proc file gdb names, `/proc/1/...` (gdb's name for the program)
/// as `/proc/self/...`; None for a path outside /proc.
pub fn guest_proc_path(path: &[u8]) -> Option<Vec<u8>> {
    let path = &collapse_dots(path);
    let rest = path.strip_prefix(b"/proc")?;
    if !rest.is_empty() && !rest.starts_with(b"/") {
        return None;
    }
    Some(match rest.strip_prefix(b"/1") {
        Some(tail) if tail.is_empty() || tail.starts_with(b"/") => [b"/proc/self", tail].concat(),
        _ => path.to_vec(),
    })
}

/// `path` without empty and `.` components (`//proc/./1` is `/proc/1`), so that the /proc
/// test above sees what the view's resolution would.
fn collapse_dots(path: &[u8]) -> Vec<u8> {
    if !path.starts_with(b"/") {
        return path.to_vec();
    }
    let mut out = Vec::with_capacity(path.len());
    for part in path.split(|&b| b == b'/').filter(|p| !p.is_empty() && *p != b".") {
        out.push(b'/');
        out.extend_from_slice(part);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

/// The most a /proc file read through a stopped thread may hold (maps of a program with
/// very many mappings fit; a guest that never ends a file does not grow the monitor).
const MAX_PROC_TEXT: usize = 64 << 20;

/// Files gdb may have open at once.
const MAX_OPEN_FILES: usize = 64;

impl Debugee {
    /// A /proc file's text (`link`: a link's), read from the program by a stopped thread.
    fn guest_proc(&self, path: &[u8], link: bool) -> Result<Vec<u8>> {
        let mut text = Vec::new();
        loop {
            let cmd = DebugCommand::ReadProcFile { path: path.to_vec(), link, offset: text.len() as u64 };
            let Some(tid) = self.session.some_thread() else { return Err(gdb_errno(5)) };
            match self.session.command(tid, cmd) {
                Some((true, chunk)) => {
                    let done = chunk.len() < MAX_DEBUG_IO as usize;
                    text.extend_from_slice(&chunk);
                    if done {
                        return Ok(text);
                    }
                    if text.len() > MAX_PROC_TEXT {
                        return Err(gdb_errno(27));
                    }
                }
                Some((false, e)) => {
                    let errno = e.get(..4).map_or(5, |b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]));
                    return Err(gdb_errno(errno));
                }
                None => return Err(gdb_errno(5)),
            }
        }
    }

    fn add_open(&mut self, open: Open) -> u32 {
        let fd = self.files.next;
        self.files.next = self.files.next.wrapping_add(1);
        self.files.open.insert(fd, open);
        fd
    }
}

/// The host file the absolute guest path `path` names in the program's view: a regular
/// file, opened without waiting (a FIFO would hold the stub for ever).
fn host_file(path: &[u8]) -> Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    if !path.starts_with(b"/") {
        return Err(gdb_errno(2));
    }
    let host = crate::vfs::current().host_path_from_root(path, true).map_err(gdb_errno)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(host)
        .map_err(io_errno)?;
    if !file.metadata().map_err(io_errno)?.is_file() {
        return Err(gdb_errno(22));
    }
    Ok(file)
}

impl gdbstub::target::ext::host_io::HostIo for Debugee {
    fn support_open(&mut self) -> Option<gdbstub::target::ext::host_io::HostIoOpenOps<'_, Self>> {
        Some(self)
    }

    fn support_close(&mut self) -> Option<gdbstub::target::ext::host_io::HostIoCloseOps<'_, Self>> {
        Some(self)
    }

    fn support_pread(&mut self) -> Option<gdbstub::target::ext::host_io::HostIoPreadOps<'_, Self>> {
        Some(self)
    }

    fn support_fstat(&mut self) -> Option<gdbstub::target::ext::host_io::HostIoFstatOps<'_, Self>> {
        Some(self)
    }

    fn support_readlink(&mut self) -> Option<gdbstub::target::ext::host_io::HostIoReadlinkOps<'_, Self>> {
        Some(self)
    }
}

impl gdbstub::target::ext::host_io::HostIoOpen for Debugee {
    fn open(&mut self, filename: &[u8], flags: HostIoOpenFlags, _mode: HostIoOpenMode) -> Result<u32> {
        let writes = HostIoOpenFlags::O_WRONLY
            | HostIoOpenFlags::O_RDWR
            | HostIoOpenFlags::O_APPEND
            | HostIoOpenFlags::O_CREAT
            | HostIoOpenFlags::O_TRUNC;
        if flags.intersects(writes) {
            return Err(gdb_errno(13));
        }
        if self.files.open.len() >= MAX_OPEN_FILES {
            return Err(gdb_errno(24));
        }
        let open = match guest_proc_path(filename) {
            Some(p) => Open::Text(self.guest_proc(&p, false)?),
            None => Open::File(host_file(filename)?),
        };
        Ok(self.add_open(open))
    }
}

impl gdbstub::target::ext::host_io::HostIoClose for Debugee {
    fn close(&mut self, fd: u32) -> Result<()> {
        self.files.open.remove(&fd).map(|_| ()).ok_or_else(|| gdb_errno(9))
    }
}

impl gdbstub::target::ext::host_io::HostIoPread for Debugee {
    fn pread(&mut self, fd: u32, count: usize, offset: u64, buf: &mut [u8]) -> Result<usize> {
        let n = count.min(buf.len());
        match self.files.open.get(&fd).ok_or_else(|| gdb_errno(9))? {
            Open::Text(t) => {
                let start = offset.min(t.len() as u64) as usize;
                let end = t.len().min(start + n);
                buf[..end - start].copy_from_slice(&t[start..end]);
                Ok(end - start)
            }
            Open::File(f) => f.read_at(&mut buf[..n], offset).map_err(io_errno),
        }
    }
}

impl gdbstub::target::ext::host_io::HostIoFstat for Debugee {
    fn fstat(&mut self, fd: u32) -> Result<HostIoStat> {
        let text_mode = HostIoOpenMode::S_IFREG | HostIoOpenMode::S_IRUSR | HostIoOpenMode::S_IRGRP;
        let text_mode = text_mode | HostIoOpenMode::S_IROTH;
        Ok(match self.files.open.get(&fd).ok_or_else(|| gdb_errno(9))? {
            Open::Text(t) => HostIoStat {
                st_dev: 0,
                st_ino: 0,
                st_mode: text_mode,
                st_nlink: 1,
                st_uid: 0,
                st_gid: 0,
                st_rdev: 0,
                st_size: t.len() as u64,
                st_blksize: 4096,
                st_blocks: 0,
                st_atime: 0,
                st_mtime: 0,
                st_ctime: 0,
            },
            Open::File(f) => {
                let m = f.metadata().map_err(io_errno)?;
                HostIoStat {
                    st_dev: m.dev() as u32,
                    st_ino: m.ino() as u32,
                    st_mode: HostIoOpenMode::from_bits_truncate(m.mode()),
                    st_nlink: m.nlink() as u32,
                    st_uid: m.uid(),
                    st_gid: m.gid(),
                    st_rdev: m.rdev() as u32,
                    st_size: m.size(),
                    st_blksize: m.blksize(),
                    st_blocks: m.blocks(),
                    st_atime: m.atime() as u32,
                    st_mtime: m.mtime() as u32,
                    st_ctime: m.ctime() as u32,
                }
            }
        })
    }
}

impl gdbstub::target::ext::host_io::HostIoReadlink for Debugee {
    fn readlink(&mut self, filename: &[u8], buf: &mut [u8]) -> Result<usize> {
        let text = match guest_proc_path(filename) {
            Some(p) => self.guest_proc(&p, true)?,
            None => {
                use std::os::unix::ffi::OsStrExt;
                if !filename.starts_with(b"/") {
                    return Err(gdb_errno(2));
                }
                // The link itself, found in the program's view; its text is in the view's
                // terms already (a link inside a root was made by its programs).
                let host = crate::vfs::current().host_path_from_root(filename, false).map_err(gdb_errno)?;
                let link = std::fs::read_link(host).map_err(io_errno)?;
                link.as_os_str().as_bytes().to_vec()
            }
        };
        if text.len() > buf.len() {
            return Err(gdb_errno(36));
        }
        buf[..text.len()].copy_from_slice(&text);
        Ok(text.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gdbs_process_1_is_the_programs_own_proc() {
        assert_eq!(guest_proc_path(b"/proc/1/maps").as_deref(), Some(&b"/proc/self/maps"[..]));
        assert_eq!(guest_proc_path(b"/proc/1").as_deref(), Some(&b"/proc/self"[..]));
        assert_eq!(guest_proc_path(b"/proc/12/maps").as_deref(), Some(&b"/proc/12/maps"[..]));
        assert_eq!(guest_proc_path(b"/proc/self/exe").as_deref(), Some(&b"/proc/self/exe"[..]));
        assert_eq!(guest_proc_path(b"/lib/libc.so.6"), None);
        assert_eq!(guest_proc_path(b"/procfoo"), None);
    }
}
