//! The content-addressed cache of extracted payloads: `CACHE/<key>/tree/...`, where the key
//! is the payload's SHA-256. A first run extracts into a private temporary directory beside
//! it and renames that into place, so a crash or concurrent first runs never leave a
//! half-written tree under the key's name: a tree is either absent or complete.

use std::io::Read;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use super::payload::{Kind, Manifest, Payload};
use super::source::plain;

/// The cache directory: LINUXRUN_CACHE_DIR, else $XDG_CACHE_HOME/linuxrun/pack, else
/// $HOME/.cache/linuxrun/pack, else /tmp/linuxrun-UID/pack.
pub fn cache_root() -> PathBuf {
    let abs = |v: std::ffi::OsString| Some(PathBuf::from(v)).filter(|p| p.is_absolute());
    if let Some(dir) = std::env::var_os("LINUXRUN_CACHE_DIR").and_then(abs) {
        return dir;
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").and_then(abs) {
        return dir.join("linuxrun/pack");
    }
    if let Some(home) = std::env::var_os("HOME").and_then(abs) {
        return home.join(".cache/linuxrun/pack");
    }
    fallback_root()
}

/// The cache directory when the usual one cannot be written: /tmp/linuxrun-UID/pack.
pub fn fallback_root() -> PathBuf {
    // SAFETY: getuid cannot fail.
    std::env::temp_dir().join(format!("linuxrun-{}/pack", unsafe { libc::getuid() }))
}

/// How old a crashed first run's temporary directory must be before another run removes
/// it (a live first run takes seconds).
const LEFTOVER_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// The extracted tree of `payload` under `root`, extracting it first if needed.
pub fn ensure(root: &Path, payload: &Payload<'_>, manifest: &Manifest) -> Result<PathBuf, String> {
    let dir = root.join(payload.key_hex());
    refuse_foreign(&dir)?;
    if is_complete(&dir, manifest) {
        return Ok(dir.join("tree"));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(root)
        .map_err(|e| format!("cache {}: {}", root.display(), plain(&e)))?;
    refuse_foreign(root)?;
    sweep_leftovers(root);
    // Whoever changes a tree holds the root's lock, so the look below and the
    // set-aside cannot interleave with another first run's rename: without it, a run could
    // set aside the complete tree a concurrent run just put in place and is using.
    let _lock = lock_root(root)?;
    if is_complete(&dir, manifest) {
        return Ok(dir.join("tree"));
    }
    if dir.exists() {
        set_aside(root, &dir);
    }
    if !payload.verify() {
        return Err("the embedded payload is damaged (its SHA-256 does not match)".into());
    }
    let tmp = private_dir(root, &payload.key_hex())?;
    if let Err(e) = extract(&tmp.join("tree"), payload, manifest) {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(format!("extracting into {}: {e}", tmp.display()));
    }
    if std::fs::rename(&tmp, &dir).is_err() {
        // Another first run won the race: its tree is as good as ours.
        let _ = std::fs::remove_dir_all(&tmp);
    }
    if is_complete(&dir, manifest) {
        Ok(dir.join("tree"))
    } else {
        Err(format!("cache {}: could not put the extracted tree in place", dir.display()))
    }
}

/// A tree someone else made (in a shared /tmp, say) could hold anything: only our own
/// trees are used.
fn refuse_foreign(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::MetadataExt;
    match std::fs::symlink_metadata(dir) {
        // SAFETY: geteuid cannot fail.
        Ok(meta) if !meta.is_dir() || meta.uid() != unsafe { libc::geteuid() } => {
            Err(format!("cache {}: not a directory of this user's; remove it", dir.display()))
        }
        _ => Ok(()),
    }
}

/// Remove the temporary and set-aside directories that crashed runs left, once they are
/// old enough not to belong to a run still extracting.
fn sweep_leftovers(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let name = name.to_string_lossy();
        let old = e.metadata().ok().and_then(|m| m.modified().ok()).and_then(|t| t.elapsed().ok());
        if (name.starts_with(".tmp-") || name.starts_with(".stale-")) && old.is_some_and(|age| age > LEFTOVER_AGE) {
            let _ = std::fs::remove_dir_all(e.path());
        }
    }
}

/// A tree is complete once renamed into place; checked cheaply by its program and every
/// mounted path being there (a cleaner may have removed files since).
fn is_complete(dir: &Path, manifest: &Manifest) -> bool {
    let tree = dir.join("tree");
    std::iter::once(&manifest.program)
        .chain(&manifest.binds)
        .all(|p| std::fs::symlink_metadata(inside(&tree, p)).is_ok())
}

/// Move a damaged tree out of the way (atomically, so a run using it is not confused by
/// a half-removed one), then remove it.
fn set_aside(root: &Path, dir: &Path) {
    let stale = root.join(format!(".stale-{}-{}", std::process::id(), nanos()));
    if std::fs::rename(dir, &stale).is_ok() {
        let _ = std::fs::remove_dir_all(&stale);
    }
}

/// The cache root's lock (flock on the directory itself, so it adds no file), held until
/// the returned handle is dropped. Only first runs take it, while they change a tree.
fn lock_root(root: &Path) -> Result<std::fs::File, String> {
    let dir = std::fs::File::open(root).map_err(|e| format!("cache {}: {}", root.display(), plain(&e)))?;
    dir.lock().map_err(|e| format!("cache {}: {}", root.display(), plain(&e)))?;
    Ok(dir)
}

fn private_dir(root: &Path, key: &str) -> Result<PathBuf, String> {
    for attempt in 0..100u32 {
        let tmp = root.join(format!(".tmp-{}-{}-{}-{attempt}", &key[..16], std::process::id(), nanos()));
        match std::fs::DirBuilder::new().mode(0o700).create(&tmp) {
            Ok(()) => return Ok(tmp),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(format!("cache {}: {}", root.display(), plain(&e))),
        }
    }
    Err(format!("cache {}: no free temporary name", root.display()))
}

fn nanos() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// The host path of the guest path `guest` inside an extracted tree.
pub fn inside(tree: &Path, guest: &[u8]) -> PathBuf {
    use std::os::unix::ffi::OsStrExt;
    tree.join(std::ffi::OsStr::from_bytes(guest.strip_prefix(b"/").unwrap_or(guest)))
}

/// Write every entry under `tree`. Files lose their write and set-id bits: the layer is
/// read-only (for anyone but root, who is not stopped by modes).
fn extract(tree: &Path, payload: &Payload<'_>, manifest: &Manifest) -> std::io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    std::fs::create_dir_all(tree)?;
    let mut data = payload.data()?;
    for e in &manifest.entries {
        let path = inside(tree, &e.path);
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        match &e.kind {
            Kind::Dir { .. } => std::fs::create_dir_all(&path)?,
            Kind::Symlink { target } => std::os::unix::fs::symlink(std::ffi::OsStr::from_bytes(target), &path)?,
            Kind::File { mode, size } => {
                let mut out = std::fs::File::create_new(&path)?;
                let copied = std::io::copy(&mut (&mut data).take(*size), &mut out)?;
                if copied != *size {
                    return Err(std::io::Error::other("the payload's data ends early"));
                }
                out.set_permissions(std::fs::Permissions::from_mode(mode & 0o555))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::payload::{encode, Entry};
    use super::*;

    #[test]
    fn a_tree_is_extracted_once_and_reused() {
        let root = std::env::temp_dir().join(format!("linuxrun-cache-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let m = Manifest {
            program: b"/bin/p".to_vec(),
            binds: vec![b"/bin/p".to_vec(), b"/lib/l.so".to_vec()],
            entries: vec![
                Entry { path: b"/bin/p".to_vec(), kind: Kind::File { mode: 0o4755, size: 2 } },
                Entry { path: b"/lib/l.so".to_vec(), kind: Kind::Symlink { target: b"l.so.1".to_vec() } },
                Entry { path: b"/share/d".to_vec(), kind: Kind::Dir { mode: 0o755 } },
            ],
            ..Manifest::default()
        };
        let bytes = encode(&m, |_| Ok(b"hi".to_vec())).unwrap();
        let p = Payload::parse(&bytes).unwrap();
        let tree = ensure(&root, &p, &m).unwrap();
        assert_eq!(std::fs::read(tree.join("bin/p")).unwrap(), b"hi");
        let mode = std::fs::metadata(tree.join("bin/p")).unwrap().permissions().mode();
        assert_eq!(mode & 0o7777, 0o555);
        assert_eq!(std::fs::read_link(tree.join("lib/l.so")).unwrap(), Path::new("l.so.1"));
        assert!(tree.join("share/d").is_dir());
        assert_eq!(ensure(&root, &p, &m).unwrap(), tree);
        // A tree someone damaged is replaced.
        let _ = std::fs::set_permissions(tree.join("bin"), std::fs::Permissions::from_mode(0o755));
        std::fs::remove_file(tree.join("bin/p")).unwrap();
        assert_eq!(ensure(&root, &p, &m).unwrap(), tree);
        assert!(tree.join("bin/p").exists());
        let leftovers: Vec<_> = std::fs::read_dir(&root).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(leftovers, [std::ffi::OsString::from(p.key_hex())]);
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } == 0 {
            std::os::unix::fs::chown(root.join(p.key_hex()), Some(65534), None).unwrap();
            assert!(ensure(&root, &p, &m).unwrap_err().contains("not a directory of this user's"));
        }
        std::fs::remove_dir_all(&root).unwrap();
    }
}
