//! Listing /proc's directories: getdents64 over the guest's own tree merged with the host's
//! entries, and lseek's rewind and seek on such a directory.

use super::*;

const DT_DIR: u8 = abi_shared::linux::general::DT_DIR as u8;
const DT_REG: u8 = abi_shared::linux::general::DT_REG as u8;
const DT_LNK: u8 = abi_shared::linux::general::DT_LNK as u8;

fn dtype(node: Node) -> u8 {
    match node {
        Node::Dir(_) => DT_DIR,
        Node::File(_) => DT_REG,
        Node::Link(_) => DT_LNK,
    }
}

/// One directory entry: name, d_type, and the host's inode number for a host sysctl.
type DirEntry = (Vec<u8>, u8, Option<u64>);

/// A directory's entries as getdents64 lists them: ".", "..", then its children. A
/// /proc/sys directory (`path` is its canonical path) has the host's sysctls too, and all
/// its names come in name order. /proc has the host's entries in the host's order (the
/// fixed names, then every process), ours standing for the host's of the same name, and
/// ours the host lacks (all of them on a host without /proc) after them.
fn listing(dir: Dir, path: &[u8]) -> Vec<DirEntry> {
    let mut v: Vec<DirEntry> = alloc::vec![(b".".to_vec(), DT_DIR, None), (b"..".to_vec(), DT_DIR, None)];
    let own = alloc::format!("{}", task::pid()).into_bytes();
    match dir {
        Dir::Task => {
            v.extend(task::threads::tids().into_iter().map(|t| (alloc::format!("{t}").into_bytes(), DT_DIR, None)))
        }
        Dir::Fd | Dir::Fdinfo => {
            let kind = if dir == Dir::Fd { DT_LNK } else { DT_REG };
            v.extend(open_fds().into_iter().map(|fd| (alloc::format!("{fd}").into_bytes(), kind, None)));
        }
        _ => {}
    }
    let fixed = tree::fixed_entries(dir);
    let ours = |name: &[u8]| fixed.iter().find(|(n, _)| n.as_bytes() == name).map(|(_, node)| dtype(*node));
    if dir == Dir::Root {
        let mut seen_own = false;
        for (name, kind, ino) in host_entries(b"") {
            if name == own {
                seen_own = true;
                v.push((name, DT_DIR, None));
            } else if let Some(kind) = ours(&name) {
                v.push((name, kind, None));
            } else {
                v.push((name, kind, Some(ino)));
            }
        }
        for (name, node) in fixed {
            if !v.iter().any(|(n, _, _)| n.as_slice() == name.as_bytes()) {
                v.push((name.as_bytes().to_vec(), dtype(*node), None));
            }
        }
        if !seen_own {
            v.push((own, DT_DIR, None));
        }
    } else if tree::is_sys_dir(dir) {
        let mut all: BTreeMap<Vec<u8>, (u8, Option<u64>)> =
            host_entries(tree::host_rel(path)).into_iter().map(|(name, kind, ino)| (name, (kind, Some(ino)))).collect();
        all.extend(fixed.iter().map(|(n, node)| (n.as_bytes().to_vec(), (dtype(*node), None))));
        v.extend(all.into_iter().map(|(name, (kind, ino))| (name, kind, ino)));
    } else {
        v.extend(fixed.iter().map(|(n, node)| (n.as_bytes().to_vec(), dtype(*node), None)));
    }
    v
}

/// The entries of the host's /proc/<rel> in the host's order, without "." and ".." (none
/// if the host has no such directory): name, d_type, inode.
fn host_entries(rel: &[u8]) -> Vec<(Vec<u8>, u8, u64)> {
    let mut out = Vec::new();
    let fd = open_host(rel, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if fd < 0 {
        return out;
    }
    let fd = fd as i32;
    let buf = alloc::vec![0u8; 16 * 1024];
    loop {
        let seg = [kernel_buf_seg(&buf)];
        let n = call_ret(&Request::Fs(FsRequest::Getdents64 { fd, buf: SegList::Borrowed(&seg) }));
        if n <= 0 {
            break;
        }
        let mut at = 0usize;
        while let Some(rec) = buf.get(at..(n as usize).min(buf.len())).filter(|r| r.len() >= 19) {
            let reclen = usize::from(u16::from_le_bytes([rec[16], rec[17]]));
            if reclen < 19 || reclen > rec.len() {
                break;
            }
            let ino = u64::from_le_bytes(rec[..8].try_into().unwrap_or([0; 8]));
            let name = &rec[19..reclen];
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if name != b"." && name != b".." {
                out.push((name.to_vec(), rec[18], ino));
            }
            at += reclen;
        }
    }
    call_ret(&Request::Fs(FsRequest::Close { fd }));
    out
}

fn open_fds() -> Vec<i32> {
    let mut buf = alloc::vec![0u8; 64 * 1024];
    let seg = [kernel_buf_seg(&buf)];
    let n = call_ret(&Request::Procfs(ProcfsRequest::ListFds { buf: SegList::Borrowed(&seg) }));
    if n <= 0 {
        return Vec::new();
    }
    buf.truncate((n as usize).min(16 * 1024) * 4);
    buf.chunks_exact(4).map(|c| i32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect()
}

/// getdents64 on a /proc directory descriptor, served here. d_off is the index of the
/// next entry, which lseek(SEEK_SET) accepts back (telldir/seekdir).
pub fn getdents64(fd: i32, buf: u64, len: u64) -> Option<i64> {
    let (e, _) = checked_entry(fd)?;
    let Node::Dir(dir) = e.node else { return Some(err(errno::ENOTDIR)) };
    let mut cursor = e.cursor.lock();
    // Listed once per pass (from the start), so that processes coming and going between
    // two reads neither repeat nor skip names.
    if cursor.pos == 0 || cursor.listing.is_empty() {
        cursor.listing = listing(dir, &e.path);
    }
    let all = core::mem::take(&mut cursor.listing);
    let mut out: Vec<u8> = Vec::new();
    let mut pos = cursor.pos as usize;
    while let Some((name, kind, host_ino)) = all.get(pos) {
        let reclen = (19 + name.len() + 1).next_multiple_of(8);
        if (out.len() + reclen) as u64 > len {
            break;
        }
        let mut child = e.path.to_vec();
        child.push(b'/');
        child.extend_from_slice(name);
        out.extend_from_slice(&host_ino.unwrap_or(fnv(&child) >> 1 | 1).to_le_bytes());
        out.extend_from_slice(&((pos + 1) as i64).to_le_bytes());
        out.extend_from_slice(&(reclen as u16).to_le_bytes());
        out.push(*kind);
        out.extend_from_slice(name);
        out.resize(out.len() + reclen - 19 - name.len(), 0);
        pos += 1;
    }
    let ended = pos >= all.len();
    cursor.listing = all;
    if out.is_empty() && !ended {
        return Some(err(errno::EINVAL));
    }
    if uaccess::copy_to_user(buf, &out).is_err() {
        return Some(err(errno::EFAULT));
    }
    cursor.pos = pos as u64;
    Some(out.len() as i64)
}

/// lseek on a /proc directory: rewinddir and seekdir to a d_off we gave out.
pub fn lseek(fd: i32, offset: i64, whence: u32) -> Option<i64> {
    let e = fds::get(fd)?;
    if !matches!(e.node, Node::Dir(_)) {
        return None;
    }
    let mut cursor = e.cursor.lock();
    Some(match whence {
        SEEK_SET if offset >= 0 => {
            cursor.pos = offset as u64;
            offset
        }
        SEEK_CUR if offset == 0 => cursor.pos as i64,
        _ => err(errno::EINVAL),
    })
}
