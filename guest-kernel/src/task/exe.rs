//! The program's file: the path it was started by, and once known its absolute path with
//! symlinks resolved (what /proc/self/exe shows).

use spin::Mutex;

use alloc::vec::Vec;

use abi_shared::hypercall::{FsRequest, Request, SegList};

struct Exe {
    path: Vec<u8>,
    resolved: Option<Vec<u8>>,
}

/// Per process (all threads run one image).
static EXE: Mutex<Exe> = Mutex::new(Exe { path: Vec::new(), resolved: None });

/// The image now comes from `path`; the old /proc/self/exe is forgotten.
pub fn set_exe(path: &[u8]) {
    let mut exe = EXE.lock();
    exe.path = path.to_vec();
    exe.resolved = None;
    // A relative path means the current directory of now, which the program may change:
    // resolve it at once (an absolute one waits for the first readlink).
    if !path.starts_with(b"/") {
        exe.resolved = Some(absolute_path(path));
    }
}

/// The absolute path of the program's file, as /proc/self/exe gives it.
pub fn exe_path() -> Vec<u8> {
    let mut exe = EXE.lock();
    match &exe.resolved {
        Some(p) => p.clone(),
        None => {
            let abs = absolute_path(&exe.path);
            exe.resolved = Some(abs.clone());
            abs
        }
    }
}

/// `path` made absolute by the host: symlinks, `.` and `..` resolved. If the host cannot
/// (the file is gone), a relative path is joined to the working directory instead.
fn absolute_path(path: &[u8]) -> Vec<u8> {
    use abi_shared::linux::PATH_MAX;
    let mut buf = alloc::vec![0u8; PATH_MAX];
    let seg = [crate::hypercall::kernel_buf_seg(&buf)];
    let n = crate::hypercall::call_ret(&Request::Fs(FsRequest::Realpath { path, buf: SegList::Borrowed(&seg) }));
    if n > 0 {
        buf.truncate(n as usize);
        return buf;
    }
    if path.starts_with(b"/") {
        return path.to_vec();
    }
    let n = crate::hypercall::call_ret(&Request::Fs(FsRequest::Getcwd { buf: SegList::Borrowed(&seg) }));
    if n <= 0 {
        return path.to_vec();
    }
    // getcwd's length counts the NUL.
    buf.truncate(n as usize - 1);
    if buf.last() != Some(&b'/') {
        buf.push(b'/');
    }
    buf.extend_from_slice(path.strip_prefix(b"./").unwrap_or(path));
    buf
}
