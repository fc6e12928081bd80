//! The payload format, the same on every host OS (docs/pack.md):
//!
//! ```text
//! magic     16 bytes  "LINUXRUN-PACK\0\0" and the format version (1)
//! key       32 bytes  SHA-256 of everything after it: the cache directory's name
//! mlen       8 bytes  little-endian length of the manifest
//! manifest  mlen      zstd(postcard(Manifest))
//! data      the rest  zstd(the files' bytes, in manifest order)
//! ```

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::codec;

pub const MAGIC: &[u8; 15] = b"LINUXRUN-PACK\0\0";
pub const VERSION: u8 = 1;
const HEADER: usize = 16 + 32 + 8;
/// The section (ELF note, Mach-O section) that holds the payload.
pub const SECTION: &str = "linuxrun-pack";

/// What a packed program is and holds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The program's path in the view (a packed file).
    pub program: Vec<u8>,
    /// Its argv[0]: the name it was packed under.
    pub argv0: Vec<u8>,
    /// Arguments placed before the user's (`--args`).
    pub args: Vec<Vec<u8>>,
    /// Environment set for the program (`--env`).
    pub env: Vec<(Vec<u8>, Vec<u8>)>,
    /// Guest paths mounted at run time, each from the same path in the extracted tree.
    pub binds: Vec<Vec<u8>>,
    pub entries: Vec<Entry>,
    /// The linuxrun version that packed it.
    pub packed_by: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: Vec<u8>,
    pub kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    Dir {
        mode: u32,
    },
    /// `size` bytes of the data stream, following the previous files'.
    File {
        mode: u32,
        size: u64,
    },
    Symlink {
        target: Vec<u8>,
    },
}

/// A payload read from a section: its key and its parts, not yet decompressed.
#[derive(Debug, Clone, Copy)]
pub struct Payload<'a> {
    pub key: [u8; 32],
    manifest: &'a [u8],
    data: &'a [u8],
    hashed: &'a [u8],
}

/// Build a payload; `read` gives each File entry's bytes in order.
pub fn encode(
    manifest: &Manifest,
    mut read: impl FnMut(&Entry) -> std::io::Result<Vec<u8>>,
) -> std::io::Result<Vec<u8>> {
    let plain = postcard::to_allocvec(manifest).map_err(std::io::Error::other)?;
    let manifest_z = codec::compress(&plain)?;
    let mut files = Vec::new();
    for e in manifest.entries.iter().filter(|e| matches!(e.kind, Kind::File { .. })) {
        files.extend_from_slice(&read(e)?);
    }
    let data = codec::compress(&files)?;
    let mut body = (manifest_z.len() as u64).to_le_bytes().to_vec();
    body.extend_from_slice(&manifest_z);
    body.extend_from_slice(&data);
    let mut out = MAGIC.to_vec();
    out.push(VERSION);
    out.extend_from_slice(&Sha256::digest(&body));
    out.extend(body);
    Ok(out)
}

impl<'a> Payload<'a> {
    /// Split a section into its parts; a foreign or damaged one is an error.
    pub fn parse(section: &'a [u8]) -> Result<Payload<'a>, String> {
        if section.len() < HEADER || &section[..15] != MAGIC {
            return Err("the embedded payload is not a linuxrun pack".into());
        }
        if section[15] != VERSION {
            return Err(format!("payload format {} (this runtime reads {VERSION})", section[15]));
        }
        let key: [u8; 32] = section[16..48].try_into().map_err(|_| "short payload".to_string())?;
        let mlen = u64::from_le_bytes(section[48..56].try_into().map_err(|_| "short payload".to_string())?);
        let rest = &section[HEADER..];
        let mlen = usize::try_from(mlen).ok().filter(|&m| m <= rest.len()).ok_or("truncated payload")?;
        Ok(Payload { key, manifest: &rest[..mlen], data: &rest[mlen..], hashed: &section[48..] })
    }

    /// The key as the cache directory's name.
    pub fn key_hex(&self) -> String {
        self.key.iter().map(|b| format!("{b:02x}")).collect()
    }

    pub fn manifest(&self) -> Result<Manifest, String> {
        let plain = codec::decode_all(self.manifest).map_err(|e| format!("payload manifest: {e}"))?;
        postcard::from_bytes(&plain).map_err(|e| format!("payload manifest: {e}"))
    }

    /// True when the payload's bytes are those it was packed with.
    pub fn verify(&self) -> bool {
        Sha256::digest(self.hashed).as_slice() == self.key
    }

    /// A reader of the files' bytes, in manifest order.
    pub fn data(&self) -> std::io::Result<impl std::io::Read + 'a> {
        codec::decoder(self.data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    fn sample() -> Manifest {
        Manifest {
            program: b"/usr/bin/x".to_vec(),
            argv0: b"x".to_vec(),
            args: vec![b"-q".to_vec()],
            env: vec![(b"A".to_vec(), b"1".to_vec())],
            binds: vec![b"/usr/bin/x".to_vec()],
            entries: vec![
                Entry { path: b"/usr/bin/x".to_vec(), kind: Kind::File { mode: 0o755, size: 3 } },
                Entry { path: b"/usr/bin/y".to_vec(), kind: Kind::Symlink { target: b"x".to_vec() } },
                Entry { path: b"/usr/share/z".to_vec(), kind: Kind::File { mode: 0o644, size: 2 } },
            ],
            packed_by: "test".into(),
        }
    }

    #[test]
    fn a_payload_round_trips_and_is_verified() {
        let m = sample();
        let bytes = encode(&m, |e| Ok(if e.path.ends_with(b"x") { b"abc".to_vec() } else { b"de".to_vec() })).unwrap();
        let p = Payload::parse(&bytes).unwrap();
        assert!(p.verify());
        assert_eq!(p.manifest().unwrap(), m);
        let mut data = Vec::new();
        p.data().unwrap().read_to_end(&mut data).unwrap();
        assert_eq!(data, b"abcde");
        assert_eq!(p.key_hex().len(), 64);
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(!Payload::parse(&bad).unwrap().verify());
    }

    #[test]
    fn foreign_sections_are_refused() {
        assert!(Payload::parse(b"short").is_err());
        let mut bytes = encode(&sample(), |_| Ok(b"abc".to_vec())).unwrap();
        bytes[15] = 9;
        assert!(Payload::parse(&bytes).unwrap_err().contains("format 9"));
        bytes[15] = VERSION;
        bytes[48..56].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Payload::parse(&bytes).is_err());
    }
}
