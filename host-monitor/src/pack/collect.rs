//! Collecting what a program needs, as its dynamic loader will find it: the program, its
//! `PT_INTERP`, every `DT_NEEDED` library recursively (`DT_RPATH` of the object and its
//! loaders, `LD_LIBRARY_PATH`, `DT_RUNPATH`, `/etc/ld.so.cache`, the default directories;
//! `$ORIGIN` expanded), `/etc/ld.so.cache` itself, and the `--add`ed files and trees.
//! Every path is kept as the loader will open it, with symlink chains as symlinks.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use super::elf::{self, ElfInfo, NotLoadable};
use super::ldcache::LdCache;
use super::source::{follow, plain, Node, Source};
use crate::vfs::mounts::{child, normalize, parent};

/// The most file content one pack holds (uncompressed), so that the note segment and
/// the first run's extraction stay reasonable. See docs/pack.md.
pub const MAX_CONTENT: u64 = 2 << 30;

/// The loader's default directories (Debian's multiarch ones, then the generic ones).
const DEFAULT_DIRS: &[&str] =
    &["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/usr/lib64", "/lib", "/usr/lib"];

const LD_SO_CACHE: &[u8] = b"/etc/ld.so.cache";

/// The most symlinks one chain may hold, as Linux's MAXSYMLINKS.
const MAX_SYMLINKS: usize = 40;

/// One packed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    File { host: PathBuf, mode: u32, size: u64 },
    Dir { mode: u32 },
    Symlink { target: Vec<u8> },
}

/// A failure, with the exit status it deserves (127: not found, 126: not loadable, 1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectError {
    pub message: String,
    pub code: u8,
}

fn failed(code: u8, message: String) -> CollectError {
    CollectError { message, code }
}

/// An ELF object collected, with what it needs.
#[derive(Debug, Clone)]
pub struct Object {
    pub path: Vec<u8>,
    pub info: ElfInfo,
    /// What `$ORIGIN` stands for in its search paths.
    origin: Vec<u8>,
    /// Its DT_RPATH and its loaders' (expanded), for the libraries it loads.
    rpath_chain: Vec<String>,
}

/// What a pack holds.
#[derive(Debug, Default)]
pub struct Collection {
    pub items: BTreeMap<Vec<u8>, Item>,
    /// The paths mounted at run time (files, symlinks and added trees).
    pub binds: BTreeSet<Vec<u8>>,
    pub objects: Vec<Object>,
    /// Libraries of `--add`ed objects that were not found (a warning, not an error).
    pub warnings: Vec<String>,
    /// True when a library was found through LD_LIBRARY_PATH.
    pub used_ld_library_path: bool,
    pub content: u64,
}

pub struct Collector {
    source: Source,
    cache: LdCache,
    ld_library_path: Vec<String>,
    /// Needed names (and sonames) already satisfied.
    loaded: BTreeSet<String>,
    pub out: Collection,
}

impl Collector {
    pub fn new(source: Source, ld_library_path: Option<&std::ffi::OsStr>) -> Collector {
        let ld_library_path = ld_library_path
            .map(|p| {
                p.as_bytes()
                    .split(|&b| b == b':' || b == b';')
                    .filter(|d| !d.is_empty())
                    .map(|d| String::from_utf8_lossy(d).into_owned())
                    .collect()
            })
            .unwrap_or_default();
        let mut c = Collector {
            source,
            cache: LdCache::default(),
            ld_library_path,
            loaded: BTreeSet::new(),
            out: Collection::default(),
        };
        // The cache may be a symlink (to /var/cache/ldconfig/ld.so.cache on some systems).
        if let Ok((host, _)) = c.chain_content(LD_SO_CACHE) {
            c.cache = std::fs::read(host).map(|b| LdCache::parse(&b)).unwrap_or_default();
        }
        c
    }

    /// The program (an absolute path in the source), its interpreter and libraries.
    pub fn program(&mut self, path: &[u8]) -> Result<(), CollectError> {
        let (host, physical) = self.chain(path).map_err(|why| failed(127, format!("{}: {why}", show(path))))?;
        let bytes = read(&host)?;
        let info = elf::inspect(&bytes).map_err(|e| match e {
            NotLoadable::NotElf if bytes.starts_with(b"#!") => failed(
                126,
                format!(
                    "{}: cannot pack a #! script: pack its interpreter, --add the script and pass it with --args",
                    show(path)
                ),
            ),
            e => failed(126, format!("{}: cannot pack: {e}", show(path))),
        })?;
        if let Some(interp) = &info.interp {
            self.chain(interp.as_bytes())
                .map_err(|why| failed(127, format!("{}: its ELF interpreter {interp}: {why}", show(path))))?;
            // The loader then finds at run time what it found here, whatever the run
            // host's cache says.
            if self.chain_content(LD_SO_CACHE).is_ok() {
                self.chain(LD_SO_CACHE).map_err(|why| failed(1, format!("/etc/ld.so.cache: {why}")))?;
            } else {
                // No cache in the source: an empty one hides the run host's, which could
                // name other libraries than the ones packed (the loader ignores an empty
                // cache and searches its default directories, as it did here).
                self.record_file(LD_SO_CACHE, PathBuf::from("/dev/null"), 0o644, 0)?;
                self.out.binds.insert(LD_SO_CACHE.to_vec());
            }
        }
        // The executable's $ORIGIN is where it really lies (the loader reads /proc/self/exe).
        self.libraries(path, info, parent(&physical).to_vec(), true)
    }

    /// `--add SOURCE[:GUEST]`: a file or tree; an added ELF object brings its libraries.
    /// Added at its own path, a symlink chain stays a chain (to a file or a tree); added
    /// elsewhere, what the chain leads to is shown at GUEST.
    pub fn add(&mut self, source: &[u8], guest: &[u8]) -> Result<(), CollectError> {
        let what = |why: String| failed(1, format!("--add {}: {why}", show(source)));
        let (node, literal) = if source == guest {
            self.links_to_end(source).map_err(what)?
        } else {
            self.chain_end(source).map_err(what)?
        };
        let at = if source == guest { literal } else { guest.to_vec() };
        self.out.binds.insert(at.clone());
        match node {
            Node::File { host, mode, size } => {
                self.record_file(&at, host.clone(), mode, size)?;
                self.maybe_object(&at, &host)
            }
            Node::Dir { host, mode } => self.tree(&host, &at, mode),
            Node::Symlink { .. } => Err(what("Too many levels of symbolic links".into())),
        }
    }

    /// Record the symlinks of the chain at `path` (as [`Self::chain`] does) and say what it
    /// ends at (a file or a directory) and under which literal path.
    fn links_to_end(&mut self, path: &[u8]) -> Result<(Node, Vec<u8>), String> {
        let (mut literal, mut physical) = (normalize(path), normalize(path));
        for _ in 0..=MAX_SYMLINKS {
            match self.source.node(&physical)? {
                (Node::Symlink { target }, dir) => {
                    self.out.binds.insert(literal.clone());
                    self.out.items.insert(literal.clone(), Item::Symlink { target: target.clone() });
                    (literal, physical) = follow(&literal, &dir, &target);
                }
                (node, _) => return Ok((node, literal)),
            }
        }
        Err("Too many levels of symbolic links".into())
    }

    /// What the symlink chain at `path` ends at, recording nothing.
    fn chain_end(&self, path: &[u8]) -> Result<(Node, Vec<u8>), String> {
        let (mut literal, mut physical) = (normalize(path), normalize(path));
        for _ in 0..=MAX_SYMLINKS {
            match self.source.node(&physical)? {
                (Node::Symlink { target }, dir) => (literal, physical) = follow(&literal, &dir, &target),
                (node, _) => return Ok((node, physical)),
            }
        }
        Err("Too many levels of symbolic links".into())
    }

    /// Follow the symlink chain at `path`, recording each link and the final file under
    /// the literal path the loader will open; the final file's host path and physical path.
    fn chain(&mut self, path: &[u8]) -> Result<(PathBuf, Vec<u8>), String> {
        let (mut literal, mut physical) = (normalize(path), normalize(path));
        for _ in 0..=MAX_SYMLINKS {
            let (node, dir) = self.source.node(&physical)?;
            self.out.binds.insert(literal.clone());
            match node {
                Node::Symlink { target } => {
                    self.out.items.insert(literal.clone(), Item::Symlink { target: target.clone() });
                    (literal, physical) = follow(&literal, &dir, &target);
                }
                Node::File { host, mode, size } => {
                    self.record_file(&literal, host.clone(), mode, size).map_err(|e| e.message)?;
                    return Ok((host, child(&dir, name_of(&physical))));
                }
                Node::Dir { .. } => return Err("Is a directory".into()),
            }
        }
        Err("Too many levels of symbolic links".into())
    }

    /// The host file at the end of the symlink chain at `path`, recording nothing.
    fn chain_content(&self, path: &[u8]) -> Result<(PathBuf, Vec<u8>), String> {
        match self.chain_end(path)? {
            (Node::File { host, .. }, physical) => Ok((host, physical)),
            _ => Err("Is a directory".into()),
        }
    }

    fn record_file(&mut self, guest: &[u8], host: PathBuf, mode: u32, size: u64) -> Result<(), CollectError> {
        let item = Item::File { host, mode, size };
        if self.out.items.insert(guest.to_vec(), item).is_none() {
            self.out.content = self.out.content.saturating_add(size);
        }
        if self.out.content > MAX_CONTENT {
            return Err(failed(
                1,
                format!("the payload would hold more than {} MiB of files (the limit)", MAX_CONTENT >> 20),
            ));
        }
        Ok(())
    }

    /// A directory tree read from `host`, recorded under `guest`; symlinks stay symlinks.
    fn tree(&mut self, host: &std::path::Path, guest: &[u8], mode: u32) -> Result<(), CollectError> {
        let what = |why: String| failed(1, format!("--add {}: {why}", host.display()));
        self.out.items.insert(guest.to_vec(), Item::Dir { mode });
        let mut entries: Vec<_> = std::fs::read_dir(host)
            .map_err(|e| what(plain(&e)))?
            .collect::<Result<_, _>>()
            .map_err(|e| what(plain(&e)))?;
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            let inner = child(guest, e.file_name().as_bytes());
            let meta = std::fs::symlink_metadata(&path).map_err(|e| what(plain(&e)))?;
            if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&path).map_err(|e| what(plain(&e)))?;
                self.out.items.insert(inner, Item::Symlink { target: target.into_os_string().into_encoded_bytes() });
            } else if meta.is_dir() {
                self.tree(&path, &inner, mode_of(&meta))?;
            } else if meta.is_file() {
                self.record_file(&inner, path.clone(), mode_of(&meta), meta.len())?;
                self.maybe_object(&inner, &path)?;
            }
        }
        Ok(())
    }

    /// If `host` is an x86_64 shared object, bring its libraries (missing ones warned).
    fn maybe_object(&mut self, guest: &[u8], host: &std::path::Path) -> Result<(), CollectError> {
        if !starts_like_elf(host) {
            return Ok(());
        }
        let Ok(bytes) = read(host) else { return Ok(()) };
        match elf::inspect(&bytes) {
            Ok(info) => self.libraries(guest, info, parent(guest).to_vec(), false),
            Err(NotLoadable::NotElf) => Ok(()),
            Err(e) => {
                self.out.warnings.push(format!("{}: {e}; packed as a plain file", show(guest)));
                Ok(())
            }
        }
    }

    /// The libraries `root` (at `path`, with $ORIGIN `origin`) needs, breadth first as the
    /// loader maps them. `required`: a missing one is an error (else a warning).
    fn libraries(&mut self, path: &[u8], info: ElfInfo, origin: Vec<u8>, required: bool) -> Result<(), CollectError> {
        let first = Object { rpath_chain: self.own_rpath(&info, &origin), path: path.to_vec(), info, origin };
        if let Some(soname) = &first.info.soname {
            self.loaded.insert(soname.clone());
        }
        let mut queue = VecDeque::from([first]);
        while let Some(obj) = queue.pop_front() {
            for name in obj.info.needed.clone() {
                if !self.loaded.insert(name.clone()) {
                    continue;
                }
                match self.find(&name, &obj) {
                    Some((lib_path, lib)) => {
                        if let Some(soname) = &lib.soname {
                            self.loaded.insert(soname.clone());
                        }
                        let origin = parent(&lib_path).to_vec();
                        let mut chain = self.own_rpath(&lib, &origin);
                        chain.extend(obj.rpath_chain.iter().cloned());
                        queue.push_back(Object { path: lib_path, info: lib, rpath_chain: chain, origin });
                    }
                    None if required => {
                        return Err(failed(
                            127,
                            format!("{}: needs {name}, which the loader would not find", show(&obj.path)),
                        ));
                    }
                    None => self.out.warnings.push(format!("{}: needs {name}, not found", show(&obj.path))),
                }
            }
            self.out.objects.push(obj);
        }
        Ok(())
    }

    /// An object's DT_RPATH, expanded (none when it has DT_RUNPATH, as the loader ignores it).
    fn own_rpath(&self, info: &ElfInfo, origin: &[u8]) -> Vec<String> {
        if !info.runpath.is_empty() {
            return Vec::new();
        }
        info.rpath.iter().filter_map(|d| expand(d, origin)).collect()
    }

    /// Search `name` for `requester` in the loader's order; record what is found.
    fn find(&mut self, name: &str, requester: &Object) -> Option<(Vec<u8>, ElfInfo)> {
        if name.contains('/') {
            return self.candidate(name.as_bytes());
        }
        let runpath: Vec<String> = requester.info.runpath.iter().filter_map(|d| expand(d, &requester.origin)).collect();
        let rpath = if runpath.is_empty() { requester.rpath_chain.clone() } else { Vec::new() };
        for dir in &rpath {
            if let Some(found) = self.candidate(&child(dir.as_bytes(), name.as_bytes())) {
                return Some(found);
            }
        }
        for dir in self.ld_library_path.clone() {
            if let Some(found) = self.candidate(&child(dir.as_bytes(), name.as_bytes())) {
                self.out.used_ld_library_path = true;
                return Some(found);
            }
        }
        for dir in &runpath {
            if let Some(found) = self.candidate(&child(dir.as_bytes(), name.as_bytes())) {
                return Some(found);
            }
        }
        if let Some(path) = self.cache.lookup(name.as_bytes()).map(<[u8]>::to_vec) {
            if let Some(found) = self.candidate(&path) {
                return Some(found);
            }
        }
        DEFAULT_DIRS.iter().find_map(|dir| self.candidate(&child(dir.as_bytes(), name.as_bytes())))
    }

    /// `path` if it holds an x86_64 ELF object (the loader skips others), recorded.
    fn candidate(&mut self, path: &[u8]) -> Option<(Vec<u8>, ElfInfo)> {
        let (host, _) = self.chain_content(path).ok()?;
        let info = elf::inspect(&read(&host).ok()?).ok()?;
        self.chain(path).ok()?;
        Some((normalize(path), info))
    }
}

/// A search directory with `$ORIGIN` replaced; None for `$LIB`/`$PLATFORM` (not packed)
/// and relative directories (relative to the run's working directory, not packable).
fn expand(dir: &str, origin: &[u8]) -> Option<String> {
    let origin = String::from_utf8_lossy(origin);
    let d = dir.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin);
    (d.starts_with('/') && !d.contains('$')).then(|| String::from_utf8_lossy(&normalize(d.as_bytes())).into_owned())
}

/// The first bytes only: most files of an added tree are not ELF objects.
fn starts_like_elf(host: &std::path::Path) -> bool {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(host).and_then(|mut f| f.read_exact(&mut magic)).is_ok() && elf::is_elf(&magic)
}

fn name_of(path: &[u8]) -> &[u8] {
    path.rsplit(|&b| b == b'/').next().unwrap_or(path)
}

fn read(host: &std::path::Path) -> Result<Vec<u8>, CollectError> {
    std::fs::read(host).map_err(|e| failed(1, format!("{}: {}", host.display(), plain(&e))))
}

fn mode_of(meta: &std::fs::Metadata) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    meta.permissions().mode() & 0o7777
}

pub fn show(path: &[u8]) -> String {
    String::from_utf8_lossy(path).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_is_expanded_and_unexpandable_directories_dropped() {
        assert_eq!(expand("$ORIGIN/../lib", b"/opt/app/bin").as_deref(), Some("/opt/app/lib"));
        assert_eq!(expand("${ORIGIN}", b"/opt").as_deref(), Some("/opt"));
        assert_eq!(expand("/usr/$LIB", b"/"), None);
        assert_eq!(expand("lib", b"/"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_dynamic_host_program_brings_its_loader_and_libc() {
        let Ok(sh) = std::fs::canonicalize("/bin/sh") else { return };
        let bytes = std::fs::read(&sh).unwrap();
        if elf::inspect(&bytes).map(|i| i.interp.is_none()).unwrap_or(true) {
            return;
        }
        let mut c = Collector::new(Source::default(), None);
        c.program(sh.as_os_str().as_bytes()).unwrap();
        let paths: Vec<String> = c.out.items.keys().map(|k| show(k)).collect();
        assert!(paths.iter().any(|p| p.ends_with("/libc.so.6")), "{paths:?}");
        assert!(paths.iter().any(|p| p.contains("ld-linux-x86-64.so.2")), "{paths:?}");
        assert!(c.out.binds.contains(sh.as_os_str().as_bytes()));
    }

    #[test]
    fn an_added_symlink_to_a_tree_stays_a_symlink_or_shows_the_tree_elsewhere() {
        let dir = std::env::temp_dir().join(format!("linuxrun-add-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("real/sub")).unwrap();
        std::fs::write(dir.join("real/sub/x"), b"x").unwrap();
        std::os::unix::fs::symlink("real", dir.join("link")).unwrap();
        let d = dir.as_os_str().as_bytes();
        let mut c = Collector::new(Source::default(), None);
        c.add(&child(d, b"link"), &child(d, b"link")).unwrap();
        assert_eq!(c.out.items.get(&child(d, b"link")), Some(&Item::Symlink { target: b"real".to_vec() }));
        assert!(matches!(c.out.items.get(&child(d, b"real/sub/x")), Some(Item::File { size: 1, .. })));
        assert!(c.out.binds.contains(&child(d, b"real")) && c.out.binds.contains(&child(d, b"link")));
        c.add(&child(d, b"link"), b"/opt/y").unwrap();
        assert!(matches!(c.out.items.get(&b"/opt/y/sub/x"[..]), Some(Item::File { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_roots_cache_is_read_through_a_symlink() {
        let Ok(cache) = std::fs::read("/etc/ld.so.cache") else { return };
        let root = std::env::temp_dir().join(format!("linuxrun-ldcache-root-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("etc")).unwrap();
        std::fs::create_dir_all(root.join("var/cache")).unwrap();
        std::fs::write(root.join("var/cache/ld.so.cache"), cache).unwrap();
        std::os::unix::fs::symlink("/var/cache/ld.so.cache", root.join("etc/ld.so.cache")).unwrap();
        let c = Collector::new(Source::new(Some(root.clone())), None);
        assert!(c.cache.lookup(b"libc.so.6").is_some());
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn missing_programs_are_127_and_non_elf_126() {
        let mut c = Collector::new(Source::default(), None);
        assert_eq!(c.program(b"/nonexistent/prog").unwrap_err().code, 127);
        let dir = std::env::temp_dir().join(format!("linuxrun-collect-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let script = dir.join("script");
        std::fs::write(&script, b"#!/bin/sh\necho hi\n").unwrap();
        let e = c.program(script.as_os_str().as_bytes()).unwrap_err();
        assert_eq!(e.code, 126, "{e:?}");
        assert!(c.add(b"/nonexistent/data", b"/nonexistent/data").is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
