//! Path resolution in the guest's view, component by component as Linux's namei does:
//! `..` never climbs above the guest root, symlinks are read and followed in the guest's
//! namespace (an absolute target starts again at the guest root), mount points are crossed
//! by the mount table, and the limits are Linux's (40 symlinks, 255-byte names, 4096-byte
//! paths).
//!
//! The host is only asked what one host path is (`lstat`) and what a symlink says
//! (`readlink`), through [`HostFs`], so that the walk is tested here against a fake.

use super::mounts::{child, parent, MountTable};
use crate::host::LinuxErrno;
use abi_shared::linux::errno;
use abi_shared::linux::PATH_MAX;

/// Linux's MAXSYMLINKS: the most symlinks one lookup follows.
pub const MAX_SYMLINKS: u32 = 40;
/// Linux's NAME_MAX: the longest component.
pub const NAME_MAX: usize = abi_shared::linux::general::NAME_MAX as usize;

const ENOENT: LinuxErrno = errno::ENOENT as LinuxErrno;
const ENOTDIR: LinuxErrno = errno::ENOTDIR as LinuxErrno;
const ELOOP: LinuxErrno = errno::ELOOP as LinuxErrno;
const ENAMETOOLONG: LinuxErrno = errno::ENAMETOOLONG as LinuxErrno;

/// What a host path is, as far as a walk cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Node {
    Dir,
    Symlink,
    Other,
}

/// The two host questions a walk asks.
pub trait HostFs {
    /// lstat: what `host` is (not following a final symlink).
    fn node(&self, host: &[u8]) -> Result<Node, LinuxErrno>;
    /// readlink: the target a symlink holds.
    fn readlink(&self, host: &[u8]) -> Result<Vec<u8>, LinuxErrno>;
}

/// What to do with the last component.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Last {
    /// Follow a final symlink (open, stat, chdir...).
    Follow,
    /// Name a final symlink itself (lstat, readlink, O_NOFOLLOW, O_CREAT|O_EXCL...).
    NoFollow,
    /// Resolve only the directory holding the last component and keep the name as given
    /// (mkdir, unlink, rmdir, rename, the new name of link and symlink): the host call
    /// then decides about the entry itself, exactly as Linux's parent lookups do.
    Parent,
}

/// A resolved guest path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    /// Its guest path, normalized (for `Last::Parent`, the parent's path and the name).
    pub guest: Vec<u8>,
    /// The host path for the host call; ends with '/' when the guest path demanded a
    /// directory (a trailing slash), so that the host reports ENOTDIR/EISDIR as Linux does.
    pub host: Vec<u8>,
    /// The mount it lies in (two paths in different mounts cannot be renamed or linked).
    pub mount: usize,
    /// Whether the walk saw it exist (`Last::Parent` does not look).
    pub exists: bool,
}

/// One pending component: its name and whether a slash followed it (then it must be a
/// directory, and a symlink there is followed even by nofollow lookups, as on Linux).
struct Comp {
    name: Vec<u8>,
    slash_after: bool,
}

/// Resolve `path` in the view `table`, relative paths from the guest directory `base`
/// (absolute, normalized).
pub fn resolve(
    table: &MountTable,
    fs: &impl HostFs,
    base: &[u8],
    path: &[u8],
    last: Last,
) -> Result<Resolved, LinuxErrno> {
    if path.is_empty() {
        return Err(ENOENT);
    }
    if path.len() >= PATH_MAX {
        return Err(ENAMETOOLONG);
    }
    let mut cur: Vec<u8> = if path.starts_with(b"/") { b"/".to_vec() } else { base.to_vec() };
    // Components still to walk, the next one last (symlink targets are pushed on top).
    let mut pending: Vec<Comp> = Vec::new();
    push_components(&mut pending, path, false);
    let mut links = 0u32;
    let mut exists = true;
    let mut want_dir = false;
    while let Some(comp) = pending.pop() {
        let is_last = pending.is_empty();
        if comp.name.len() > NAME_MAX {
            return Err(ENAMETOOLONG);
        }
        if is_last && last == Last::Parent {
            return Ok(parent_result(table, &cur, &comp));
        }
        match comp.name.as_slice() {
            b"." => continue,
            b".." => {
                cur = parent(&cur).to_vec();
                continue;
            }
            _ => {}
        }
        let next = child(&cur, &comp.name);
        let node = if table.is_above_mount_point(&next) { Ok(Node::Dir) } else { fs.node(&table.host_of(&next).1) };
        match node {
            Err(e) if e == ENOENT && is_last => {
                exists = false;
                want_dir = comp.slash_after;
                cur = next;
            }
            Err(e) => return Err(e),
            Ok(Node::Symlink) if !is_last || comp.slash_after || last == Last::Follow => {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(ELOOP);
                }
                let target = fs.readlink(&table.host_of(&next).1)?;
                if target.is_empty() {
                    return Err(ENOENT);
                }
                if target.starts_with(b"/") {
                    cur = b"/".to_vec();
                }
                push_components(&mut pending, &target, comp.slash_after);
                if pending.is_empty() {
                    // A target of slashes only: the guest root (or `cur` for "."-like ones).
                    want_dir = comp.slash_after;
                }
            }
            Ok(Node::Other) if !is_last || comp.slash_after => return Err(ENOTDIR),
            Ok(_) => {
                want_dir = comp.slash_after;
                cur = next;
            }
        }
    }
    let (mount, mut host) = table.host_of(&cur);
    if last == Last::Parent {
        // No last component at all ("/", "//"): the root itself, which no parent lookup
        // may remove or replace (see `parent_result`).
        return Ok(Resolved { guest: cur, host: child(&host, b"."), mount, exists: true });
    }
    if want_dir && !host.ends_with(b"/") {
        host.push(b'/');
    }
    Ok(Resolved { guest: cur, host, mount, exists })
}

/// The result of a `Last::Parent` lookup: the walked directory and the name as given.
fn parent_result(table: &MountTable, dir: &[u8], comp: &Comp) -> Resolved {
    let (mount, mut host) = match comp.name.as_slice() {
        // The entry of the directory itself: the host answers for "." and ".." (EINVAL,
        // EEXIST, ENOTEMPTY, EBUSY...) in the host directory that shows `dir`.
        b"." | b".." => {
            let (mount, host) = table.host_of(dir);
            (mount, child(&host, &comp.name))
        }
        name => {
            let path = child(dir, name);
            let (mount, host) = table.host_of(&path);
            if table.mounts()[mount].guest == path {
                // A mount point: Linux refuses to remove or rename it (EBUSY). Its host
                // directory must not be removed or replaced either, so the host is given
                // "DIR/.", on which those calls fail and mkdir says EEXIST.
                (mount, child(&host, b"."))
            } else {
                (mount, host)
            }
        }
    };
    if comp.slash_after {
        host.push(b'/');
    }
    Resolved { guest: child(dir, &comp.name), host, mount, exists: false }
}

/// Push the components of `path` so that its first component is popped first. The last
/// one must be a directory if `path` ends with a slash or `slash_after` says the symlink
/// it replaces had one.
fn push_components(pending: &mut Vec<Comp>, path: &[u8], slash_after: bool) {
    let trailing = path.ends_with(b"/") || slash_after;
    let mut first = true;
    for name in path.split(|&b| b == b'/').filter(|c| !c.is_empty()).rev() {
        pending.push(Comp { name: name.to_vec(), slash_after: !first || trailing });
        first = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// A host filesystem in memory: absolute host paths to directories, files and links.
    #[derive(Default)]
    struct FakeFs {
        entries: BTreeMap<Vec<u8>, Entry>,
    }

    enum Entry {
        Dir,
        File,
        Link(Vec<u8>),
    }

    impl FakeFs {
        fn dir(mut self, p: &str) -> Self {
            self.entries.insert(p.as_bytes().to_vec(), Entry::Dir);
            self
        }
        fn file(mut self, p: &str) -> Self {
            self.entries.insert(p.as_bytes().to_vec(), Entry::File);
            self
        }
        fn link(mut self, p: &str, target: &str) -> Self {
            self.entries.insert(p.as_bytes().to_vec(), Entry::Link(target.as_bytes().to_vec()));
            self
        }
    }

    impl HostFs for FakeFs {
        fn node(&self, host: &[u8]) -> Result<Node, LinuxErrno> {
            // The host walks the host path: every ancestor must be a directory.
            let mut at = Vec::new();
            for c in host.split(|&b| b == b'/').filter(|c| !c.is_empty()) {
                if !at.is_empty() && !matches!(self.entries.get(&at), Some(Entry::Dir)) {
                    return Err(if self.entries.contains_key(&at) { ENOTDIR } else { ENOENT });
                }
                at.push(b'/');
                at.extend_from_slice(c);
            }
            match self.entries.get(&at) {
                Some(Entry::Dir) => Ok(Node::Dir),
                Some(Entry::File) => Ok(Node::Other),
                Some(Entry::Link(_)) => Ok(Node::Symlink),
                None => Err(ENOENT),
            }
        }
        fn readlink(&self, host: &[u8]) -> Result<Vec<u8>, LinuxErrno> {
            match self.entries.get(host) {
                Some(Entry::Link(t)) => Ok(t.clone()),
                _ => Err(errno::EINVAL as LinuxErrno),
            }
        }
    }

    /// Root /r with etc/hostname, bin -> usr/bin, lib -> /usr/lib (absolute), usr/bin/sh;
    /// a bind of the host's /data at /mnt/data, and /home/me (outside the root's tree).
    fn setup() -> (MountTable, FakeFs) {
        let fs = FakeFs::default()
            .dir("/r")
            .dir("/r/etc")
            .file("/r/etc/hostname")
            .dir("/r/usr")
            .dir("/r/usr/bin")
            .file("/r/usr/bin/sh")
            .dir("/r/usr/lib")
            .file("/r/usr/lib/libc.so")
            .link("/r/bin", "usr/bin")
            .link("/r/lib", "/usr/lib")
            .link("/r/etc/loop", "loop")
            .link("/r/etc/up", "../../../..")
            .link("/r/etc/dangling", "/nowhere")
            .link("/r/etc/tohost", "/home/me/f")
            .dir("/data")
            .file("/data/x")
            .dir("/home")
            .dir("/home/me")
            .file("/home/me/f")
            .file("/etc/hostname");
        let mut t = MountTable::new(b"/r".to_vec());
        t.bind(b"/data".to_vec(), b"/mnt/data");
        t.bind(b"/home/me".to_vec(), b"/home/me");
        (t, fs)
    }

    fn host(path: &str, base: &str, last: Last) -> Result<String, LinuxErrno> {
        let (t, fs) = setup();
        resolve(&t, &fs, base.as_bytes(), path.as_bytes(), last).map(|r| String::from_utf8(r.host).unwrap())
    }

    fn follow(path: &str) -> Result<String, LinuxErrno> {
        host(path, "/", Last::Follow)
    }

    #[test]
    fn plain_paths_land_in_the_root() {
        assert_eq!(follow("/etc/hostname").unwrap(), "/r/etc/hostname");
        assert_eq!(follow("/").unwrap(), "/r");
        assert_eq!(follow("//etc//./hostname").unwrap(), "/r/etc/hostname");
        assert_eq!(host("hostname", "/etc", Last::Follow).unwrap(), "/r/etc/hostname");
    }

    #[test]
    fn dot_dot_never_leaves_the_root() {
        assert_eq!(follow("/../../etc/hostname").unwrap(), "/r/etc/hostname");
        assert_eq!(host("../../../etc", "/usr/bin", Last::Follow).unwrap(), "/r/etc");
        assert_eq!(follow("/etc/up/etc/hostname").unwrap(), "/r/etc/hostname");
    }

    #[test]
    fn symlinks_resolve_inside_the_root() {
        assert_eq!(follow("/bin/sh").unwrap(), "/r/usr/bin/sh");
        assert_eq!(follow("/lib/libc.so").unwrap(), "/r/usr/lib/libc.so", "absolute target: guest root");
        assert_eq!(follow("/etc/tohost").unwrap(), "/home/me/f", "absolute target through a bind");
        assert_eq!(follow("/etc/dangling").unwrap(), "/r/nowhere", "O_CREAT creates the target");
        let (t, fs) = setup();
        let r = resolve(&t, &fs, b"/", b"/etc/dangling", Last::Follow).unwrap();
        assert!(!r.exists);
        assert_eq!(r.guest, b"/nowhere");
    }

    #[test]
    fn the_last_symlink_is_kept_by_nofollow_lookups() {
        assert_eq!(host("/bin", "/", Last::NoFollow).unwrap(), "/r/bin");
        assert_eq!(host("/bin/", "/", Last::NoFollow).unwrap(), "/r/usr/bin/", "a trailing slash follows");
        assert_eq!(host("/lib/libc.so", "/", Last::NoFollow).unwrap(), "/r/usr/lib/libc.so");
    }

    #[test]
    fn parent_lookups_keep_the_name() {
        assert_eq!(host("/bin", "/", Last::Parent).unwrap(), "/r/bin");
        assert_eq!(host("/bin/new", "/", Last::Parent).unwrap(), "/r/usr/bin/new");
        assert_eq!(host("/etc/newdir/", "/", Last::Parent).unwrap(), "/r/etc/newdir/");
        assert_eq!(host("/etc/..", "/", Last::Parent).unwrap(), "/r/etc/..");
        assert_eq!(host("/missing/new", "/", Last::Parent), Err(ENOENT));
        assert_eq!(host("/mnt/data", "/", Last::Parent).unwrap(), "/data/.", "a mount point is never removed");
        assert_eq!(host("/", "/", Last::Parent).unwrap(), "/r/.", "nor is the root");
        assert_eq!(host("/mnt/data/x", "/", Last::Parent).unwrap(), "/data/x");
    }

    #[test]
    fn binds_are_crossed_both_ways() {
        assert_eq!(follow("/mnt/data/x").unwrap(), "/data/x");
        assert_eq!(follow("/mnt/data/../../etc/hostname").unwrap(), "/r/etc/hostname");
        assert_eq!(follow("/mnt").unwrap(), "/r/mnt", "above a mount point: walkable though absent");
        assert_eq!(follow("/home/me/f").unwrap(), "/home/me/f");
        let (t, fs) = setup();
        let a = resolve(&t, &fs, b"/", b"/mnt/data/x", Last::Follow).unwrap();
        let b = resolve(&t, &fs, b"/", b"/etc/hostname", Last::Follow).unwrap();
        assert_ne!(a.mount, b.mount);
    }

    #[test]
    fn linux_errors() {
        assert_eq!(follow("/etc/loop"), Err(ELOOP));
        assert_eq!(host("/etc/loop", "/", Last::NoFollow).unwrap(), "/r/etc/loop");
        assert_eq!(follow("/etc/loop/x"), Err(ELOOP));
        assert_eq!(follow("/etc/hostname/"), Err(ENOTDIR));
        assert_eq!(follow("/etc/hostname/x"), Err(ENOTDIR));
        assert_eq!(follow("/etc/hostname/."), Err(ENOTDIR));
        assert_eq!(follow("/nope/x"), Err(ENOENT));
        assert_eq!(follow(""), Err(ENOENT));
        assert_eq!(follow(&format!("/{}", "n".repeat(256))), Err(ENAMETOOLONG));
        assert!(follow(&format!("/{}", "n".repeat(255))).is_ok());
        assert_eq!(follow(&"/".repeat(4096)), Err(ENAMETOOLONG));
        assert_eq!(follow(&"/".repeat(4095)).unwrap(), "/r");
    }

    #[test]
    fn forty_symlinks_are_followed_and_the_forty_first_is_eloop() {
        let mut fs = FakeFs::default().dir("/r").file("/r/end");
        for i in 0..41 {
            let target = if i == 0 { "end".to_string() } else { format!("l{}", i - 1) };
            fs = fs.link(&format!("/r/l{i}"), &target);
        }
        let t = MountTable::new(b"/r".to_vec());
        assert_eq!(resolve(&t, &fs, b"/", b"/l39", Last::Follow).unwrap().host, b"/r/end");
        assert_eq!(resolve(&t, &fs, b"/", b"/l40", Last::Follow), Err(ELOOP));
    }

    #[test]
    fn missing_last_component_with_trailing_slash_asks_for_a_directory() {
        let r = follow("/etc/newdir/").unwrap();
        assert_eq!(r, "/r/etc/newdir/");
    }
}
