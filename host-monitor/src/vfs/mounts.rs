//! The mount table of the program's filesystem view: which host directory (or file) serves
//! each guest path. Pure path arithmetic on byte strings, no host calls.
//!
//! Guest paths here are absolute and normalized ("/", "/usr/lib", never a trailing slash,
//! ".", ".." or "//"); host paths are canonical absolute host paths (symlinks resolved when
//! the table was built).

/// One mount: the guest path `guest` shows the host path `host`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub guest: Vec<u8>,
    pub host: Vec<u8>,
}

/// The mounts, the root ("/") first. A path belongs to the mount with the longest guest
/// path that is a prefix of it at a component boundary, as with Linux mount points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountTable {
    mounts: Vec<Mount>,
}

impl MountTable {
    /// A table whose root is the host directory `root_host`.
    pub fn new(root_host: Vec<u8>) -> MountTable {
        MountTable { mounts: vec![Mount { guest: b"/".to_vec(), host: root_host }] }
    }

    /// Mount `host` at `guest` (normalized here). A mount at the same guest path is
    /// replaced: the later one is on top and hides it, as a second mount would.
    pub fn bind(&mut self, host: Vec<u8>, guest: &[u8]) {
        let guest = normalize(guest);
        match self.mounts.iter_mut().find(|m| m.guest == guest) {
            Some(m) => m.host = host,
            None => self.mounts.push(Mount { guest, host }),
        }
    }

    pub fn mounts(&self) -> &[Mount] {
        &self.mounts
    }

    /// True when the table is the host's own namespace: root "/" and nothing else.
    pub fn is_identity(&self) -> bool {
        self.mounts.len() == 1 && self.mounts[0].host == b"/"
    }

    /// The host directory serving "/".
    pub fn root_host(&self) -> &[u8] {
        &self.mounts[0].host
    }

    /// The mount holding the guest path `guest` (normalized, absolute) and the host path
    /// that names it.
    pub fn host_of(&self, guest: &[u8]) -> (usize, Vec<u8>) {
        let (index, rest) = self
            .mounts
            .iter()
            .enumerate()
            .filter_map(|(i, m)| strip_dir_prefix(guest, &m.guest).map(|rest| (i, rest)))
            .max_by_key(|(i, _)| self.mounts[*i].guest.len())
            .unwrap_or((0, guest));
        (index, join(&self.mounts[index].host, rest))
    }

    /// The guest path that shows the host path `host` (absolute, canonical), if any mount
    /// makes it visible: through the mount with the longest host path containing it.
    pub fn guest_of(&self, host: &[u8]) -> Option<Vec<u8>> {
        let (mount, rest) = self
            .mounts
            .iter()
            .filter_map(|m| strip_dir_prefix(host, &m.host).map(|rest| (m, rest)))
            .max_by_key(|(m, _)| m.host.len())?;
        Some(join(&mount.guest, rest))
    }

    /// The table after a chroot to the guest directory `guest_root` (normalized, symlinks
    /// resolved): that directory is "/", the mounts below it stay at their places inside
    /// it, and everything else is out of sight, as after Linux's chroot.
    pub fn chrooted(&self, guest_root: &[u8]) -> MountTable {
        let mut table = MountTable::new(self.host_of(guest_root).1);
        for m in &self.mounts {
            if let Some(inside) = strip_dir_prefix(&m.guest, guest_root).filter(|rest| !rest.is_empty()) {
                table.bind(m.host.clone(), inside);
            }
        }
        table
    }

    /// True when `guest` is a strict ancestor of a mount point: a directory the view must
    /// let a walk through even if the host directory under it lacks that entry (binding
    /// /home/me into a root without /home makes "/home" such a directory).
    pub fn is_above_mount_point(&self, guest: &[u8]) -> bool {
        self.mounts.iter().any(|m| m.guest.len() > guest.len() && strip_dir_prefix(&m.guest, guest).is_some())
    }
}

/// What follows `prefix` in `path` if `prefix` is `path` or one of its ancestor
/// directories: "" or a string starting with '/'. "/" is every absolute path's ancestor.
pub fn strip_dir_prefix<'p>(path: &'p [u8], prefix: &[u8]) -> Option<&'p [u8]> {
    if prefix == b"/" {
        return path.starts_with(b"/").then(|| if path == b"/" { &path[1..] } else { path });
    }
    let rest = path.strip_prefix(prefix)?;
    (rest.is_empty() || rest.starts_with(b"/")).then_some(rest)
}

/// `base` followed by `rest` ("" or starting with '/').
pub fn join(base: &[u8], rest: &[u8]) -> Vec<u8> {
    if rest.is_empty() {
        return base.to_vec();
    }
    if base == b"/" {
        return rest.to_vec();
    }
    let mut p = base.to_vec();
    p.extend_from_slice(rest);
    p
}

/// The directory `dir` (normalized) with one more component `name`.
pub fn child(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dir.to_vec();
    if p != b"/" {
        p.push(b'/');
    }
    p.extend_from_slice(name);
    p
}

/// The parent of a normalized path; "/" is its own parent.
pub fn parent(path: &[u8]) -> &[u8] {
    match path.iter().rposition(|&b| b == b'/') {
        Some(0) | None => b"/",
        Some(i) => &path[..i],
    }
}

/// `path` as an absolute normalized path, lexically: empty and "." components dropped,
/// ".." removing the previous one (never above "/").
pub fn normalize(path: &[u8]) -> Vec<u8> {
    let mut out: Vec<&[u8]> = Vec::new();
    for comp in path.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            name => out.push(name),
        }
    }
    if out.is_empty() {
        return b"/".to_vec();
    }
    out.iter().fold(Vec::new(), |mut p, c| {
        p.push(b'/');
        p.extend_from_slice(c);
        p
    })
}

/// The host's mount list (/proc/self/mounts text, or mountinfo's when `info`) as the view
/// shows it, as Linux shows a container's bind mounts: each mount of the view is listed at
/// its guest path with the host mount that holds its host directory (for mountinfo, the
/// directory inside that mount as the root field), followed by the host mounts below that
/// directory that the view reaches at their place. Mounts the view does not show are left
/// out.
pub fn view_mount_list(table: &MountTable, host_text: &[u8], info: bool) -> Vec<u8> {
    let at = if info { 4 } else { 1 };
    let lines: Vec<Vec<&[u8]>> =
        host_text.split(|&b| b == b'\n').filter(|l| !l.is_empty()).map(|l| l.split(|&b| b == b' ').collect()).collect();
    let point = |fields: &[&[u8]]| fields.get(at).map(|p| unescape(p));
    let mut out = Vec::new();
    // A host mount reached twice (below one bound directory and bound itself) is listed once.
    let mut listed: Vec<(usize, Vec<u8>)> = Vec::new();
    let mut emit = |out: &mut Vec<u8>, line: usize, guest: &[u8], root: Option<Vec<u8>>| {
        if !listed.iter().any(|(l, g)| *l == line && g == guest) {
            listed.push((line, guest.to_vec()));
            emit_line(out, &lines[line], at, info, guest, root.as_deref());
        }
    };
    for m in table.mounts() {
        // The host mount holding the bound directory: the longest mount point above it,
        // the last listed when several are stacked there.
        let holder = lines
            .iter()
            .enumerate()
            .filter_map(|(i, f)| {
                point(f).and_then(|p| strip_dir_prefix(&m.host, &p).map(|rest| (i, p.len(), rest.to_vec())))
            })
            .fold(None::<(usize, usize, Vec<u8>)>, |best, c| match best {
                Some(b) if b.1 > c.1 => Some(b),
                _ => Some(c),
            });
        let Some((line, _, rest)) = holder else { continue };
        let root = lines[line].get(3).map(|r| join(&unescape(r), &rest));
        emit(&mut out, line, &m.guest, root.filter(|_| !rest.is_empty()));
        for (i, fields) in lines.iter().enumerate() {
            let Some(p) = point(fields) else { continue };
            let Some(below) = strip_dir_prefix(&p, &m.host).filter(|r| !r.is_empty()) else { continue };
            let guest = join(&m.guest, below);
            if table.host_of(&guest).1 == p {
                emit(&mut out, i, &guest, None);
            }
        }
    }
    // The guest's /proc is there whatever the view holds: shown as the host's.
    let has_proc = out.split(|&b| b == b'\n').any(|l| l.split(|&b| b == b' ').nth(at) == Some(b"/proc"));
    if let Some(line) = lines.iter().position(|f| f.get(at) == Some(&&b"/proc"[..])).filter(|_| !has_proc) {
        emit(&mut out, line, b"/proc", None);
    }
    out
}

/// One line of a mount list: the host's `fields` with the mount point (field `at`) and, for
/// mountinfo, the root (field 3) replaced.
fn emit_line(out: &mut Vec<u8>, fields: &[&[u8]], at: usize, info: bool, guest: &[u8], root: Option<&[u8]>) {
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b' ');
        }
        match root {
            _ if i == at => out.extend_from_slice(&escape(guest)),
            Some(r) if i == 3 && info => out.extend_from_slice(&escape(r)),
            _ => out.extend_from_slice(f),
        }
    }
    out.push(b'\n');
}

/// A mount list field with Linux's octal escapes (`\040` for a space) undone.
fn unescape(field: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(field.len());
    let mut i = 0;
    while i < field.len() {
        let oct = field.get(i + 1..i + 4).filter(|d| field[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match oct {
            Some(d) => {
                out.push(d.iter().fold(0u8, |v, c| v.wrapping_mul(8).wrapping_add(c - b'0')));
                i += 4;
            }
            None => {
                out.push(field[i]);
                i += 1;
            }
        }
    }
    out
}

/// A path as the mount list spells it: space, tab, newline and backslash escaped.
fn escape(path: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(path.len());
    for &b in path {
        match b {
            b' ' | b'\t' | b'\n' | b'\\' => out.extend_from_slice(format!("\\{b:03o}").as_bytes()),
            _ => out.push(b),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> MountTable {
        let mut t = MountTable::new(b"/srv/rootfs".to_vec());
        t.bind(b"/dev".to_vec(), b"/dev");
        t.bind(b"/home/me/data".to_vec(), b"/mnt/data/");
        t.bind(b"/tmp/shm-1".to_vec(), b"/dev/shm");
        t
    }

    #[test]
    fn longest_guest_prefix_wins() {
        let t = table();
        assert_eq!(t.host_of(b"/"), (0, b"/srv/rootfs".to_vec()));
        assert_eq!(t.host_of(b"/etc/passwd"), (0, b"/srv/rootfs/etc/passwd".to_vec()));
        assert_eq!(t.host_of(b"/dev/null"), (1, b"/dev/null".to_vec()));
        assert_eq!(t.host_of(b"/dev/shm/x"), (3, b"/tmp/shm-1/x".to_vec()));
        assert_eq!(t.host_of(b"/dev/shmx"), (1, b"/dev/shmx".to_vec()));
        assert_eq!(t.host_of(b"/mnt/data"), (2, b"/home/me/data".to_vec()));
        assert_eq!(t.host_of(b"/mnt"), (0, b"/srv/rootfs/mnt".to_vec()));
    }

    #[test]
    fn host_paths_map_back_through_the_longest_host_prefix() {
        let t = table();
        assert_eq!(t.guest_of(b"/srv/rootfs/etc").as_deref(), Some(&b"/etc"[..]));
        assert_eq!(t.guest_of(b"/srv/rootfs").as_deref(), Some(&b"/"[..]));
        assert_eq!(t.guest_of(b"/home/me/data/f").as_deref(), Some(&b"/mnt/data/f"[..]));
        assert_eq!(t.guest_of(b"/tmp/shm-1").as_deref(), Some(&b"/dev/shm"[..]));
        assert_eq!(t.guest_of(b"/home/me"), None, "not visible in the view");
        assert_eq!(t.guest_of(b"/srv/rootfsx"), None);
    }

    #[test]
    fn a_second_mount_at_the_same_place_hides_the_first() {
        let mut t = table();
        t.bind(b"/other".to_vec(), b"/dev/./shm");
        assert_eq!(t.host_of(b"/dev/shm/a"), (3, b"/other/a".to_vec()));
        assert_eq!(t.mounts().len(), 4);
    }

    #[test]
    fn a_chroot_keeps_the_mounts_below_the_new_root() {
        let t = table();
        assert_eq!(t.chrooted(b"/"), t);
        let dev = t.chrooted(b"/dev");
        assert_eq!(dev.host_of(b"/null"), (0, b"/dev/null".to_vec()));
        assert_eq!(dev.host_of(b"/shm/x"), (1, b"/tmp/shm-1/x".to_vec()));
        assert_eq!(dev.host_of(b"/mnt/data"), (0, b"/dev/mnt/data".to_vec()), "outside the new root");
        let mnt = t.chrooted(b"/mnt");
        assert_eq!(mnt.root_host(), b"/srv/rootfs/mnt");
        assert_eq!(mnt.host_of(b"/data/f"), (1, b"/home/me/data/f".to_vec()));
        assert_eq!(mnt.guest_of(b"/srv/rootfs/etc"), None);
        let inside = t.chrooted(b"/mnt/data/sub");
        assert_eq!(inside, MountTable::new(b"/home/me/data/sub".to_vec()));
        assert_eq!(MountTable::new(b"/".to_vec()).chrooted(b"/run/sshd"), MountTable::new(b"/run/sshd".to_vec()));
    }

    #[test]
    fn ancestors_of_mount_points() {
        let t = table();
        assert!(t.is_above_mount_point(b"/mnt"));
        assert!(t.is_above_mount_point(b"/"));
        assert!(!t.is_above_mount_point(b"/mnt/data"));
        assert!(!t.is_above_mount_point(b"/mn"));
    }

    #[test]
    fn identity_only_for_a_bare_host_root() {
        assert!(MountTable::new(b"/".to_vec()).is_identity());
        assert!(!table().is_identity());
        let mut t = MountTable::new(b"/".to_vec());
        t.bind(b"/x".to_vec(), b"/y");
        assert!(!t.is_identity());
    }

    #[test]
    fn path_helpers() {
        assert_eq!(normalize(b"//a/./b/../c/"), b"/a/c");
        assert_eq!(normalize(b"/../.."), b"/");
        assert_eq!(parent(b"/a/b"), b"/a");
        assert_eq!(parent(b"/a"), b"/");
        assert_eq!(parent(b"/"), b"/");
        assert_eq!(child(b"/", b"x"), b"/x");
        assert_eq!(child(b"/a", b"x"), b"/a/x");
        assert_eq!(join(b"/", b"/x"), b"/x");
        assert_eq!(join(b"/r", b""), b"/r");
        assert_eq!(strip_dir_prefix(b"/", b"/"), Some(&b""[..]));
    }

    #[test]
    fn mount_lists_show_the_view() {
        let host = b"/dev/sda1 / ext4 rw 0 0\nproc /proc proc rw 0 0\ntmpfs /dev tmpfs rw 0 0\n\
/dev/sdb1 /srv ext4 rw 0 0\ntmpfs /srv/rootfs/run tmpfs rw 0 0\n/dev/sdc1 /home/my\\040disk xfs rw 0 0\n";
        let mut t = MountTable::new(b"/srv/rootfs".to_vec());
        t.bind(b"/dev".to_vec(), b"/dev");
        t.bind(b"/home/my disk/x".to_vec(), b"/mnt/a b");
        let got = String::from_utf8(view_mount_list(&t, host, false)).unwrap();
        assert_eq!(
            got,
            "/dev/sdb1 / ext4 rw 0 0\ntmpfs /run tmpfs rw 0 0\ntmpfs /dev tmpfs rw 0 0\n\
/dev/sdc1 /mnt/a\\040b xfs rw 0 0\nproc /proc proc rw 0 0\n"
        );
        let info = b"21 1 8:17 / /srv rw - ext4 /dev/sdb1 rw\n22 21 0:5 / /srv/rootfs/run rw - tmpfs tmpfs rw\n";
        let got = String::from_utf8(view_mount_list(&MountTable::new(b"/srv/rootfs".to_vec()), info, true)).unwrap();
        assert_eq!(got, "21 1 8:17 /rootfs / rw - ext4 /dev/sdb1 rw\n22 21 0:5 / /run rw - tmpfs tmpfs rw\n");
        assert_eq!(unescape(b"a\\134b\\0"), b"a\\b\\0");
    }
}
