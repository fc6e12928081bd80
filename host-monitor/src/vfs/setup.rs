//! Building the view from the command line: `--root`, `--bind`, the implicit mounts.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::mounts::{normalize, MountTable};
use super::View;
use crate::host::sys::{create_temp, TempKind};

/// One `--bind HOST[:GUEST]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub host: PathBuf,
    pub guest: Vec<u8>,
}

/// `HOST[:GUEST]`: split at the first ':'; GUEST defaults to HOST.
pub fn parse_bind(arg: &OsStr) -> Bind {
    let bytes = arg.as_bytes();
    match bytes.iter().position(|&b| b == b':') {
        Some(i) => Bind { host: PathBuf::from(OsStr::from_bytes(&bytes[..i])), guest: bytes[i + 1..].to_vec() },
        None => Bind { host: PathBuf::from(arg), guest: bytes.to_vec() },
    }
}

/// A per-run host directory serving /dev/shm where the host has none (macOS); removed at
/// exit by the process that made it.
#[derive(Debug)]
pub struct ShmDir {
    path: PathBuf,
    owner: u32,
}

impl ShmDir {
    fn create() -> Result<ShmDir, String> {
        let (path, _) = create_temp("linuxrun-shm-", TempKind::Dir)
            .map_err(|e| format!("cannot create a directory for /dev/shm: {e}"))?;
        Ok(ShmDir { path, owner: std::process::id() })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for ShmDir {
    fn drop(&mut self) {
        // A forked copy of the monitor must not remove its parent's directory.
        if std::process::id() == self.owner {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// What the command line asked for.
#[derive(Debug, Default)]
pub struct Request<'a> {
    pub root: Option<&'a Path>,
    pub binds: &'a [Bind],
    /// A packed program's read-only layer (`linuxrun pack`): mounted last, so packed paths
    /// win. Unlike `--bind`, a host path here is not made canonical: a packed symlink
    /// stays a symlink, read and followed in the guest's namespace.
    pub layer: &'a [Bind],
}

/// The view, and the /dev/shm directory to keep (and remove at exit) if one was made.
pub fn build(req: &Request<'_>) -> Result<(View, Option<ShmDir>), String> {
    let root = match req.root {
        Some(dir) => existing(dir, "--root")?,
        None => PathBuf::from("/"),
    };
    if !root.is_dir() {
        return Err(format!("--root {}: Not a directory", req.root.unwrap_or(&root).display()));
    }
    let mut table = MountTable::new(root.as_os_str().as_bytes().to_vec());
    let own_root = table.root_host() != b"/";
    if own_root {
        // The host's devices: null, zero, full, random, urandom, tty, stdin/out/err, fd/N.
        table.bind(b"/dev".to_vec(), b"/dev");
        for (guest, host) in implicit_binds() {
            if guest != b"/" {
                table.bind(host, &guest);
            }
        }
    }
    let shm = if Path::new("/dev/shm").is_dir() {
        None
    } else {
        let dir = ShmDir::create()?;
        table.bind(dir.path().as_os_str().as_bytes().to_vec(), b"/dev/shm");
        Some(dir)
    };
    for b in req.binds {
        if !b.guest.starts_with(b"/") {
            return Err(format!(
                "--bind {}:{}: the guest path must be absolute",
                b.host.display(),
                String::from_utf8_lossy(&b.guest)
            ));
        }
        let host = existing(&b.host, "--bind")?;
        table.bind(host.as_os_str().as_bytes().to_vec(), &b.guest);
    }
    for b in req.layer {
        table.bind(b.host.as_os_str().as_bytes().to_vec(), &b.guest);
    }
    Ok((View::new(table), shm))
}

/// `path` made canonical, or the message for a missing one.
fn existing(path: &Path, flag: &str) -> Result<PathBuf, String> {
    std::fs::canonicalize(path).map_err(|e| format!("{flag} {}: {}", path.display(), plain(&e)))
}

/// An io::Error's text without Rust's " (os error N)".
fn plain(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

/// (guest, host) of the places that stay reachable under another root: the working
/// directory, $HOME and /tmp, each at its own path.
fn implicit_binds() -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut v = Vec::new();
    if let Ok(cwd) = std::env::current_dir() {
        v.push(cwd.as_os_str().as_bytes().to_vec());
    }
    if let Some(home) = std::env::var_os("HOME").filter(|h| h.as_bytes().starts_with(b"/")) {
        v.push(home.as_bytes().to_vec());
    }
    v.push(b"/tmp".to_vec());
    v.into_iter()
        .filter_map(|guest| {
            let host = std::fs::canonicalize(OsStr::from_bytes(&guest)).ok()?;
            Some((normalize(&guest), host.as_os_str().as_bytes().to_vec()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_arguments() {
        assert_eq!(parse_bind(OsStr::new("/a/b")), Bind { host: "/a/b".into(), guest: b"/a/b".to_vec() });
        assert_eq!(parse_bind(OsStr::new("/a:/mnt/x")), Bind { host: "/a".into(), guest: b"/mnt/x".to_vec() });
    }

    #[test]
    fn bad_roots_and_binds_are_refused_with_the_flag_named() {
        let e = build(&Request { root: Some(Path::new("/nonexistent/rootfs")), ..Request::default() }).unwrap_err();
        assert!(e.contains("--root /nonexistent/rootfs") && e.contains("No such file"), "{e}");
        let e = build(&Request { root: Some(Path::new("/etc/passwd")), ..Request::default() }).unwrap_err();
        assert!(e.contains("Not a directory"), "{e}");
        let binds = [parse_bind(OsStr::new("/nonexistent/src:/x"))];
        let e = build(&Request { binds: &binds, ..Request::default() }).unwrap_err();
        assert!(e.contains("--bind /nonexistent/src"), "{e}");
        let binds = [parse_bind(OsStr::new("/tmp:relative"))];
        let e = build(&Request { binds: &binds, ..Request::default() }).unwrap_err();
        assert!(e.contains("absolute"), "{e}");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_default_on_linux_is_the_identity() {
        let (view, shm) = build(&Request::default()).unwrap();
        assert!(matches!(view, View::Identity));
        assert!(shm.is_none());
        let (view, _) = build(&Request { root: Some(Path::new("/")), ..Request::default() }).unwrap();
        assert!(matches!(view, View::Identity), "--root / is the host's own root");
    }

    #[test]
    fn a_root_keeps_dev_tmp_and_the_working_directory() {
        let _lock = super::super::PROCESS_WIDE.lock().unwrap_or_else(|e| e.into_inner());
        let (view, _shm) = build(&Request { root: Some(Path::new("/usr")), ..Request::default() }).unwrap();
        let View::Mounted(m) = &view else { panic!("a mounted view") };
        let guests: Vec<&[u8]> = m.table().mounts().iter().map(|m| m.guest.as_slice()).collect();
        assert!(guests.contains(&&b"/dev"[..]));
        assert!(guests.contains(&&b"/tmp"[..]));
        let cwd = std::env::current_dir().unwrap();
        assert!(guests.contains(&cwd.as_os_str().as_bytes()));
        assert_eq!(m.cwd().as_deref(), Some(cwd.as_os_str().as_bytes()));
        assert_eq!(view.root(), Some(Path::new("/usr")));
    }

    #[test]
    fn a_layer_keeps_its_symlinks_and_wins_over_binds() {
        let dir = std::env::temp_dir().join(format!("linuxrun-layer-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("lib.so.1");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("lib.so.1.2", &link).unwrap();
        let binds = [parse_bind(OsStr::new("/tmp:/opt/x"))];
        let layer = [Bind { host: link.clone(), guest: b"/opt/x".to_vec() }];
        let (view, _shm) = build(&Request { binds: &binds, layer: &layer, ..Request::default() }).unwrap();
        let View::Mounted(m) = &view else { panic!("a mounted view") };
        let mount = m.table().mounts().iter().find(|m| m.guest == b"/opt/x").unwrap();
        assert_eq!(mount.host, link.as_os_str().as_bytes(), "not made canonical, and on top");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
