//! File requests in a mounted view: a temp dir as the root and a bind, with the paths a
//! program would use resolved as Linux resolves them in that namespace.

use super::*;
use crate::vfs::mounts::MountTable;
use crate::vfs::PROCESS_WIDE;
use abi_shared::hypercall::FsRequest;
use abi_shared::linux::general as lx;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

const AT_FDCWD: i32 = lx::AT_FDCWD;
const RAM: usize = 64 * 1024;

/// root/{etc/f, etc/abs -> /etc/f, etc/up -> ../../..} and data/{d} bound at /mnt/data.
struct Setup {
    dir: PathBuf,
    view: View,
}

impl Setup {
    fn new(name: &str) -> Setup {
        let dir = std::env::temp_dir().join(format!("linuxrun-view-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("root/etc")).unwrap();
        std::fs::create_dir_all(dir.join("data/d")).unwrap();
        std::fs::write(dir.join("root/etc/f"), b"root file").unwrap();
        std::os::unix::fs::symlink("/etc/f", dir.join("root/etc/abs")).unwrap();
        std::os::unix::fs::symlink("../../..", dir.join("root/etc/up")).unwrap();
        let dir = dir.canonicalize().unwrap();
        let mut table = MountTable::new(dir.join("root").as_os_str().as_bytes().to_vec());
        table.bind(dir.join("data").as_os_str().as_bytes().to_vec(), b"/mnt/data");
        Setup { dir, view: View::new(table) }
    }

    fn host(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    fn call(&self, mem: &GuestMemory, req: FsRequest<'_>) -> Response {
        handle_in(&FdGuard::default(), &self.view, mem, &req)
    }

    fn open(&self, mem: &GuestMemory, dirfd: i32, path: &[u8], flags: u32) -> i64 {
        match self.call(mem, FsRequest::Openat { dirfd, path, flags: flags as i32, mode: 0o644 }) {
            Response::Ret(v) => v,
            other => panic!("expected Ret, got {other:?}"),
        }
    }

    /// The content of the file the guest path names, read through the server.
    fn read(&self, mem: &GuestMemory, dirfd: i32, path: &[u8]) -> Result<Vec<u8>, i64> {
        let fd = self.open(mem, dirfd, path, lx::O_RDONLY);
        if fd < 0 {
            return Err(-fd);
        }
        let segs = [GuestSeg { gpa: 0x1000, len: 256 }];
        let n = self.call(mem, FsRequest::Read { fd: fd as i32, buf: SegList::Borrowed(&segs), offset: None });
        self.call(mem, FsRequest::Close { fd: fd as i32 });
        let Response::Ret(n) = n else { panic!("read: {n:?}") };
        Ok(mem.read_vec(0x1000, n as u64).unwrap())
    }
}

impl Drop for Setup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn errno_of(e: u32) -> i64 {
    i64::from(e)
}

#[test]
fn absolute_paths_symlinks_and_dot_dot_stay_in_the_root() {
    let s = Setup::new("abs");
    let mut ram = vec![0u8; RAM];
    let mem = GuestMemory::from_vec_for_test(&mut ram);
    for p in [&b"/etc/f"[..], b"/etc/abs", b"/../../etc/f", b"/etc/up/etc/f", b"/mnt/data/../../etc/f"] {
        assert_eq!(s.read(&mem, AT_FDCWD, p).unwrap(), b"root file", "{}", String::from_utf8_lossy(p));
    }
    assert_eq!(s.read(&mem, AT_FDCWD, b"/etc/f/"), Err(errno_of(errno::ENOTDIR)));
    assert_eq!(s.read(&mem, AT_FDCWD, b"/etc/missing"), Err(errno_of(errno::ENOENT)));
    // O_NOFOLLOW on the final link: ELOOP, as on Linux.
    assert_eq!(s.open(&mem, AT_FDCWD, b"/etc/abs", lx::O_RDONLY | lx::O_NOFOLLOW), -errno_of(errno::ELOOP));
    // lstat sees the link, stat its target.
    let mode = |flags: u32| match s
        .call(&mem, FsRequest::Fstatat { dirfd: AT_FDCWD, path: b"/etc/abs", flags: flags as i32 })
    {
        Response::Stat(st) => st.st_mode & lx::S_IFMT,
        other => panic!("{other:?}"),
    };
    assert_eq!(mode(lx::AT_SYMLINK_NOFOLLOW), lx::S_IFLNK);
    assert_eq!(mode(0), lx::S_IFREG);
}

#[test]
fn dirfd_relative_paths_start_from_the_directorys_guest_path() {
    let s = Setup::new("dirfd");
    let mut ram = vec![0u8; RAM];
    let mem = GuestMemory::from_vec_for_test(&mut ram);
    let etc = s.open(&mem, AT_FDCWD, b"/etc", lx::O_RDONLY | lx::O_DIRECTORY) as i32;
    assert!(etc >= 0);
    assert_eq!(s.read(&mem, etc, b"f").unwrap(), b"root file");
    assert_eq!(s.read(&mem, etc, b"../../../../etc/f").unwrap(), b"root file", "'..' clamped at the root");
    let data = s.open(&mem, AT_FDCWD, b"/mnt/data/d", lx::O_RDONLY | lx::O_DIRECTORY) as i32;
    assert_eq!(s.read(&mem, data, b"../../../etc/f").unwrap(), b"root file", "'..' crosses the mount point");
    let file = s.open(&mem, AT_FDCWD, b"/etc/f", lx::O_RDONLY) as i32;
    assert_eq!(s.read(&mem, file, b"x"), Err(errno_of(errno::ENOTDIR)));
    for fd in [etc, data, file] {
        s.call(&mem, FsRequest::Close { fd });
    }
}

#[test]
fn creating_and_removing_use_the_parent_and_keep_link_text() {
    let s = Setup::new("create");
    let mut ram = vec![0u8; RAM];
    let mem = GuestMemory::from_vec_for_test(&mut ram);
    assert_eq!(
        s.call(&mem, FsRequest::Mkdirat { dirfd: AT_FDCWD, path: b"/mnt/data/new/", mode: 0o755 }),
        Response::Ret(0)
    );
    assert!(s.host("data/new").is_dir());
    // mknod resolves its parent in the view too: a FIFO in the bind, through the root's
    // `up` link (which cannot climb out of the root), with a dirfd that is no descriptor.
    let fifo = lx::S_IFIFO | 0o600;
    let made = s.call(&mem, FsRequest::Mknodat { dirfd: -5, path: b"/etc/up/mnt/data/p", mode: fifo, dev: 0 });
    assert_eq!(made, Response::Ret(0));
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::symlink_metadata(s.host("data/p")).unwrap().file_type().is_fifo());
    let made = s.call(&mem, FsRequest::Symlinkat { target: b"/etc/f", newdirfd: AT_FDCWD, linkpath: b"/mnt/data/l" });
    assert_eq!(made, Response::Ret(0));
    assert_eq!(std::fs::read_link(s.host("data/l")).unwrap(), Path::new("/etc/f"), "the target text as given");
    assert_eq!(s.read(&mem, AT_FDCWD, b"/mnt/data/l").unwrap(), b"root file", "resolved in the guest's root");
    let segs = [GuestSeg { gpa: 0x2000, len: 64 }];
    let n =
        s.call(&mem, FsRequest::Readlinkat { dirfd: AT_FDCWD, path: b"/mnt/data/l", buf: SegList::Borrowed(&segs) });
    assert_eq!(n, Response::Ret(6));
    assert_eq!(mem.read_vec(0x2000, 6).unwrap(), b"/etc/f");
    // unlink names the link, not its target.
    assert_eq!(s.call(&mem, FsRequest::Unlinkat { dirfd: AT_FDCWD, path: b"/mnt/data/l", flags: 0 }), Response::Ret(0));
    assert!(s.host("root/etc/f").exists());
    // O_CREAT|O_EXCL through a link is EEXIST, never a file at the target.
    std::os::unix::fs::symlink("/etc/new", s.host("data/dangling")).unwrap();
    let excl = lx::O_WRONLY | lx::O_CREAT | lx::O_EXCL;
    assert_eq!(s.open(&mem, AT_FDCWD, b"/mnt/data/dangling", excl), -errno_of(errno::EEXIST));
    // Plain O_CREAT follows a dangling link and creates its target in the root.
    let fd = s.open(&mem, AT_FDCWD, b"/mnt/data/dangling", lx::O_WRONLY | lx::O_CREAT);
    assert!(fd >= 0);
    s.call(&mem, FsRequest::Close { fd: fd as i32 });
    assert!(s.host("root/etc/new").is_file());
    // Neither a mount point nor the root is ever removed, even when empty.
    std::fs::remove_dir_all(s.host("data")).unwrap();
    std::fs::create_dir(s.host("data")).unwrap();
    let rmdir =
        |path: &[u8]| s.call(&mem, FsRequest::Unlinkat { dirfd: AT_FDCWD, path, flags: lx::AT_REMOVEDIR as i32 });
    assert!(matches!(rmdir(b"/mnt/data"), Response::Ret(e) if e < 0));
    assert!(s.host("data").is_dir());
    let empty_root = Setup::new("empty-root");
    std::fs::remove_dir_all(empty_root.host("root/etc")).unwrap();
    let rm_root =
        empty_root.call(&mem, FsRequest::Unlinkat { dirfd: AT_FDCWD, path: b"/", flags: lx::AT_REMOVEDIR as i32 });
    assert!(matches!(rm_root, Response::Ret(e) if e < 0), "{rm_root:?}");
    assert!(empty_root.host("root").is_dir());
    assert_eq!(
        s.call(&mem, FsRequest::Mkdirat { dirfd: AT_FDCWD, path: b"/", mode: 0o755 }),
        Response::Ret(-errno_of(errno::EEXIST))
    );
}

#[test]
fn renames_and_links_across_mounts_are_exdev() {
    let s = Setup::new("exdev");
    let mut ram = vec![0u8; RAM];
    let mem = GuestMemory::from_vec_for_test(&mut ram);
    let rename = |old: &[u8], new: &[u8]| {
        s.call(
            &mem,
            FsRequest::Renameat2 { olddirfd: AT_FDCWD, oldpath: old, newdirfd: AT_FDCWD, newpath: new, flags: 0 },
        )
    };
    assert_eq!(rename(b"/etc/f", b"/mnt/data/f"), Response::Ret(-errno_of(errno::EXDEV)));
    assert_eq!(rename(b"/etc/f", b"/etc/g"), Response::Ret(0));
    let link = |old: &[u8], new: &[u8]| {
        s.call(&mem, FsRequest::Linkat { olddirfd: AT_FDCWD, oldpath: old, newdirfd: AT_FDCWD, newpath: new, flags: 0 })
    };
    assert_eq!(link(b"/etc/g", b"/mnt/data/g"), Response::Ret(-errno_of(errno::EXDEV)));
    assert_eq!(link(b"/etc/g", b"/etc/h"), Response::Ret(0));
}

#[test]
fn chdir_getcwd_and_realpath_speak_guest_paths() {
    let _lock = PROCESS_WIDE.lock().unwrap_or_else(|e| e.into_inner());
    let before = std::env::current_dir().unwrap();
    let s = Setup::new("cwd");
    let mut ram = vec![0u8; RAM];
    let mem = GuestMemory::from_vec_for_test(&mut ram);
    let getcwd = || {
        let segs = [GuestSeg { gpa: 0x3000, len: 4096 }];
        match s.call(&mem, FsRequest::Getcwd { buf: SegList::Borrowed(&segs) }) {
            Response::Ret(n) if n > 0 => mem.read_vec(0x3000, n as u64 - 1).unwrap(),
            other => panic!("getcwd: {other:?}"),
        }
    };
    assert_eq!(s.call(&mem, FsRequest::Chdir { path: b"/mnt/data/d" }), Response::Ret(0));
    assert_eq!(getcwd(), b"/mnt/data/d");
    assert_eq!(std::env::current_dir().unwrap(), s.host("data/d"), "the host's cwd moved too");
    assert_eq!(s.read(&mem, AT_FDCWD, b"../../../etc/f").unwrap(), b"root file");
    assert_eq!(s.call(&mem, FsRequest::Chdir { path: b"../../../etc/up" }), Response::Ret(0));
    assert_eq!(getcwd(), b"/");
    let etc = s.open(&mem, AT_FDCWD, b"etc", lx::O_RDONLY | lx::O_DIRECTORY) as i32;
    assert_eq!(s.call(&mem, FsRequest::Fchdir { fd: etc }), Response::Ret(0));
    assert_eq!(getcwd(), b"/etc");
    s.call(&mem, FsRequest::Close { fd: etc });
    let segs = [GuestSeg { gpa: 0x4000, len: 4096 }];
    let n = s.call(&mem, FsRequest::Realpath { path: b"abs", buf: SegList::Borrowed(&segs) });
    assert_eq!(n, Response::Ret(6));
    assert_eq!(mem.read_vec(0x4000, 6).unwrap(), b"/etc/f");
    let missing = s.call(&mem, FsRequest::Realpath { path: b"missing", buf: SegList::Borrowed(&segs) });
    assert_eq!(missing, Response::Ret(-errno_of(errno::ENOENT)));
    std::env::set_current_dir(before).unwrap();
}

#[test]
fn host_paths_of_descriptors_map_back_to_guest_paths() {
    let s = Setup::new("fdpath");
    let mut ram = vec![0u8; RAM];
    let mem = GuestMemory::from_vec_for_test(&mut ram);
    let fd = s.open(&mem, AT_FDCWD, b"/mnt/data/d", lx::O_RDONLY | lx::O_DIRECTORY) as i32;
    assert_eq!(s.view.guest_path_of_fd(fd).as_deref(), Some(&b"/mnt/data/d"[..]));
    s.call(&mem, FsRequest::Close { fd });
    assert_eq!(s.view.guest_view_of_host_path(b"/nonexistent/elsewhere"), None);
    assert_eq!(View::Identity.guest_view_of_host_path(b"/x").as_deref(), Some(&b"/x"[..]));
}
