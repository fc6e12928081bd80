//! The file tree a pack reads from: the host's own "/" or a `--root DIR`, with paths
//! resolved in it as the program's loader will resolve them at run time.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use crate::vfs::mounts::{child, normalize, parent};
use crate::vfs::{self, Last};

/// What one guest path is in the source tree (a final symlink not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    File { host: PathBuf, mode: u32, size: u64 },
    Dir { host: PathBuf, mode: u32 },
    Symlink { target: Vec<u8> },
}

/// A source tree: the host's "/" (None) or a root directory.
#[derive(Debug, Clone, Default)]
pub struct Source {
    root: Option<Vec<u8>>,
}

impl Source {
    pub fn new(root: Option<PathBuf>) -> Source {
        Source { root: root.map(|r| r.into_os_string().into_encoded_bytes()) }
    }

    pub fn root(&self) -> Option<&[u8]> {
        self.root.as_deref()
    }

    /// The host path of the absolute guest path `guest`, its directories resolved in the
    /// tree and its last component as it is; and the guest path of the directory holding
    /// it with symlinks resolved (where a relative symlink target starts).
    pub fn locate(&self, guest: &[u8]) -> Result<(PathBuf, Vec<u8>), String> {
        match &self.root {
            None => {
                let host = PathBuf::from(OsStr::from_bytes(guest));
                let dir = std::fs::canonicalize(OsStr::from_bytes(parent(guest)))
                    .map(|d| d.into_os_string().into_encoded_bytes())
                    .unwrap_or_else(|_| parent(guest).to_vec());
                Ok((host, dir))
            }
            Some(root) => {
                let r = vfs::resolve_in_root(root, guest, Last::NoFollow)
                    .map_err(|e| std::io::Error::from_raw_os_error(e).to_string())?;
                Ok((PathBuf::from(OsStr::from_bytes(&r.host)), parent(&r.guest).to_vec()))
            }
        }
    }

    /// What `guest` is, and the physical guest directory holding it.
    pub fn node(&self, guest: &[u8]) -> Result<(Node, Vec<u8>), String> {
        let (host, dir) = self.locate(guest)?;
        let meta = std::fs::symlink_metadata(&host).map_err(|e| plain(&e))?;
        let node = if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&host).map_err(|e| plain(&e))?;
            Node::Symlink { target: target.into_os_string().into_encoded_bytes() }
        } else if meta.is_dir() {
            Node::Dir { host, mode: mode_of(&meta) }
        } else if meta.is_file() {
            Node::File { host, mode: mode_of(&meta), size: meta.len() }
        } else {
            return Err("not a regular file, directory or symlink".into());
        };
        Ok((node, dir))
    }
}

/// Where a symlink at `literal` (whose physical directory is `physical_dir`) leads: the
/// literal path the run-time walk will take (lexical, since the layer's directories are
/// plain directories in the view) and the physical path to read it from now.
pub fn follow(literal: &[u8], physical_dir: &[u8], target: &[u8]) -> (Vec<u8>, Vec<u8>) {
    if target.starts_with(b"/") {
        return (normalize(target), normalize(target));
    }
    (normalize(&child(parent(literal), target)), normalize(&child(physical_dir, target)))
}

#[cfg(unix)]
fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

/// An io::Error's text without Rust's " (os error N)".
pub fn plain(e: &std::io::Error) -> String {
    let s = e.to_string();
    match s.find(" (os error") {
        Some(i) => s[..i].to_string(),
        None => s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_targets_are_lexical_in_the_layer_and_physical_in_the_source() {
        let (lit, phys) = follow(b"/lib/x86_64-linux-gnu/libz.so.1", b"/usr/lib/x86_64-linux-gnu", b"libz.so.1.2.13");
        assert_eq!(lit, b"/lib/x86_64-linux-gnu/libz.so.1.2.13");
        assert_eq!(phys, b"/usr/lib/x86_64-linux-gnu/libz.so.1.2.13");
        let (lit, phys) = follow(b"/lib64/ld.so", b"/usr/lib64", b"/lib/x86_64-linux-gnu/ld.so");
        assert_eq!(
            (lit.as_slice(), phys.as_slice()),
            (&b"/lib/x86_64-linux-gnu/ld.so"[..], &b"/lib/x86_64-linux-gnu/ld.so"[..])
        );
    }

    #[test]
    fn a_root_resolves_absolute_symlinks_inside_it() {
        let dir = std::env::temp_dir().join(format!("linuxrun-source-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("usr/lib")).unwrap();
        std::os::unix::fs::symlink("/usr/lib", dir.join("lib")).unwrap();
        std::fs::write(dir.join("usr/lib/libx.so"), b"x").unwrap();
        let src = Source::new(Some(dir.canonicalize().unwrap()));
        let (node, phys) = src.node(b"/lib/libx.so").unwrap();
        assert!(matches!(node, Node::File { size: 1, .. }), "{node:?}");
        assert_eq!(phys, b"/usr/lib");
        assert!(src.node(b"/lib/missing.so").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
