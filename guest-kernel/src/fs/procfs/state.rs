//! What /proc remembers about the process: where exec put argv, envp and auxv, when the
//! program started, the run's boot id, and the names of mapped files.

use alloc::vec::Vec;

use spin::Mutex;

use abi_shared::hypercall::{FsRequest, ProcfsRequest, Request, Response, SegList};
use abi_shared::linux::general::AT_FDCWD;

use crate::hypercall::{call, call_ret, kernel_buf_seg};
use crate::mm::uaccess;
use crate::mm::vma::FileRef;

#[derive(Default, Clone)]
pub struct ExecInfo {
    pub start_stack: u64,
    pub arg_start: u64,
    pub arg_end: u64,
    pub env_start: u64,
    pub env_end: u64,
    /// The auxv pairs as placed on the stack, AT_NULL included, as bytes.
    pub auxv: Vec<u8>,
    pub start_realtime_ns: u64,
    pub start_monotonic_ns: u64,
    pub boot_id: [u8; 16],
}

static EXEC: Mutex<Option<ExecInfo>> = Mutex::new(None);

pub fn exec_info() -> ExecInfo {
    EXEC.lock().clone().unwrap_or_default()
}

fn read_word(addr: u64) -> u64 {
    uaccess::read_u64(addr).unwrap_or(0)
}

/// After exec built the initial stack at `sp` (argc, argv, envp, auxv as Linux lays them
/// out), record where its parts are: /proc/self/{cmdline,environ,auxv,stat} show them.
pub fn note_exec(sp: u64, argv: &[Vec<u8>], envp: &[Vec<u8>]) {
    let strings_len = |v: &[Vec<u8>]| v.iter().map(|s| s.len() as u64 + 1).sum::<u64>();
    let argc = read_word(sp);
    let arg_start = read_word(sp + 8);
    let arg_end = arg_start + strings_len(argv);
    let envp_at = sp + 8 * (argc + 2);
    let env_start = if envp.is_empty() { arg_end } else { read_word(envp_at) };
    let env_end = env_start + strings_len(envp);
    let mut at = envp_at + 8 * (envp.len() as u64 + 1);
    let mut auxv = Vec::new();
    // Linux's saved_auxv holds at most AT_VECTOR_SIZE words.
    for _ in 0..64 {
        let (key, value) = (read_word(at), read_word(at + 8));
        auxv.extend_from_slice(&key.to_le_bytes());
        auxv.extend_from_slice(&value.to_le_bytes());
        at += 16;
        if key == 0 {
            break;
        }
    }
    let mut boot_id = [0u8; 16];
    crate::random::fill(&mut boot_id);
    *EXEC.lock() = Some(ExecInfo {
        start_stack: sp,
        arg_start,
        arg_end,
        env_start,
        env_end,
        auxv,
        start_realtime_ns: crate::time::realtime_ns(),
        start_monotonic_ns: crate::time::monotonic_ns(),
        boot_id,
    });
}

/// A mapped file's name, resolved (and its dev/ino looked up) when maps is first read.
struct Name {
    path: Vec<u8>,
    /// The path still needs symlinks resolved (loader paths such as PT_INTERP's).
    canonical: bool,
    /// (dev, ino) once looked up.
    id: Option<(u64, u64)>,
}

static NAMES: Mutex<Vec<Name>> = Mutex::new(Vec::new());
/// The last (fd, name id) a file mmap resolved, with the descriptor table's generation
/// then: ld.so maps each library several times from one fd, and this spares a hypercall
/// for each. Stale once the generation moved (some number was closed or replaced).
static LAST_FD_NAME: Mutex<Option<(i32, u32, u64)>> = Mutex::new(None);

/// The id of `path` in the name table (ids start at 1).
pub fn name_id(path: &[u8], canonical: bool) -> u32 {
    let mut names = NAMES.lock();
    if let Some(i) = names.iter().position(|n| n.path == path && n.canonical == canonical) {
        return i as u32 + 1;
    }
    names.push(Name { path: path.to_vec(), canonical, id: None });
    names.len() as u32
}

/// The name, device and inode of a name id, resolving it on first use.
pub fn name(id: u32) -> Option<(Vec<u8>, u64, u64)> {
    let (path, canonical, known) = {
        let names = NAMES.lock();
        let n = names.get(id.checked_sub(1)? as usize)?;
        (n.path.clone(), n.canonical, n.id)
    };
    if let Some((dev, ino)) = known {
        return Some((path, dev, ino));
    }
    let path = if canonical { path } else { realpath(&path).unwrap_or(path) };
    let (dev, ino) = match call(&Request::Fs(FsRequest::Fstatat { dirfd: AT_FDCWD, path: &path, flags: 0 })) {
        Response::Stat(st) => (st.st_dev, st.st_ino),
        _ => (0, 0),
    };
    let mut names = NAMES.lock();
    if let Some(n) = names.get_mut(id as usize - 1) {
        n.path = path.clone();
        n.canonical = true;
        n.id = Some((dev, ino));
    }
    Some((path, dev, ino))
}

fn realpath(path: &[u8]) -> Option<Vec<u8>> {
    let mut buf = alloc::vec![0u8; 4096];
    let seg = [kernel_buf_seg(&buf)];
    let n = call_ret(&Request::Fs(FsRequest::Realpath { path, buf: SegList::Borrowed(&seg) }));
    (n > 0).then(|| {
        buf.truncate(n as usize);
        buf
    })
}

/// The host's name for fd `fd` (what /proc/self/fd/N reads as), or a negative errno.
pub fn fd_path(fd: i32) -> Result<Vec<u8>, i64> {
    if crate::task::fdtable::kind(fd) == crate::task::fdtable::Kind::Signalfd {
        // Linux's name for it; the host holds a stand-in (a timerfd or /dev/null).
        return Ok(b"anon_inode:[signalfd]".to_vec());
    }
    let mut buf = alloc::vec![0u8; 4096];
    let seg = [kernel_buf_seg(&buf)];
    let n = call_ret(&Request::Procfs(ProcfsRequest::FdPath { fd, buf: SegList::Borrowed(&seg) }));
    if n < 0 {
        return Err(n);
    }
    buf.truncate(n as usize);
    Ok(buf)
}

/// Name the pages `[start, end)` that mmap filled from `fd` at `offset`.
pub fn name_file_mapping(start: u64, end: u64, fd: i32, offset: u64) {
    let cached = *LAST_FD_NAME.lock();
    let generation = crate::task::fdtable::FDS.generation();
    let id = match cached {
        Some((f, id, g)) if f == fd && g == generation => id,
        _ => {
            // A /proc file mapped: named by its /proc path, not the host's anonymous file.
            let path = match super::fds::get(fd) {
                Some(e) => e.path.to_vec(),
                None => match fd_path(fd) {
                    Ok(p) => p,
                    Err(_) => return,
                },
            };
            let id = name_id(&path, true);
            *LAST_FD_NAME.lock() = Some((fd, id, generation));
            id
        }
    };
    crate::mm::SPACE.lock().vmas.set_name(start, end, FileRef { name: id, offset });
}

/// Name an ELF segment the loader read from `path` (resolved lazily, like PT_INTERP's
/// /lib64 link, which Linux shows resolved).
pub fn name_image(start: u64, end: u64, path: &[u8], offset: u64) {
    if start >= end {
        return;
    }
    let id = name_id(path, false);
    crate::mm::SPACE.lock().vmas.set_name(start, end, FileRef { name: id, offset });
}
