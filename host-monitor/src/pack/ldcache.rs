//! Reading glibc's `/etc/ld.so.cache` (the "glibc-ld.so.cache1.1" format that ldconfig has
//! written since glibc 2.32, alone or after the old "ld.so-1.7.0" table) to find a library
//! by name as the dynamic loader does.

use std::collections::BTreeMap;

const MAGIC_OLD: &[u8] = b"ld.so-1.7.0";
const MAGIC_NEW: &[u8] = b"glibc-ld.so.cache1.1";
const NEW_HEADER: usize = 48;
const NEW_ENTRY: usize = 24;
const OLD_HEADER: usize = 16;
const OLD_ENTRY: usize = 12;
/// `FLAG_ELF_LIBC6 | FLAG_X8664_LIB64`: a 64-bit x86_64 glibc library.
const X86_64_LIBC6: i32 = 0x0303;

/// soname -> the path the cache gives for it (the first entry wins, as in the loader,
/// which finds the best one first; glibc-hwcaps variants are left aside, see docs/pack.md).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LdCache {
    map: BTreeMap<Vec<u8>, Vec<u8>>,
}

impl LdCache {
    /// Parse a cache file's bytes; a file in an unknown format gives an empty cache (the
    /// loader then uses its default directories, as it does).
    pub fn parse(bytes: &[u8]) -> LdCache {
        let Some(start) = new_header_offset(bytes) else { return LdCache::default() };
        let table = &bytes[start..];
        let nlibs = read_u32(table, 20).unwrap_or(0) as usize;
        let mut map = BTreeMap::new();
        for i in 0..nlibs {
            let at = NEW_HEADER + i * NEW_ENTRY;
            let (Some(flags), Some(key), Some(value), Some(hwcap)) =
                (read_u32(table, at), read_u32(table, at + 4), read_u32(table, at + 8), read_u64(table, at + 16))
            else {
                break;
            };
            if flags as i32 != X86_64_LIBC6 || hwcap != 0 {
                continue;
            }
            if let (Some(k), Some(v)) = (c_string(table, key as usize), c_string(table, value as usize)) {
                map.entry(k.to_vec()).or_insert_with(|| v.to_vec());
            }
        }
        LdCache { map }
    }

    pub fn lookup(&self, name: &[u8]) -> Option<&[u8]> {
        self.map.get(name).map(Vec::as_slice)
    }
}

/// Where the new-format table starts: at 0, or after the old table (8-byte aligned).
fn new_header_offset(bytes: &[u8]) -> Option<usize> {
    if bytes.starts_with(MAGIC_NEW) {
        return Some(0);
    }
    if !bytes.starts_with(MAGIC_OLD) {
        return None;
    }
    let nlibs = read_u32(bytes, 12)? as usize;
    let end = OLD_HEADER.checked_add(nlibs.checked_mul(OLD_ENTRY)?)?;
    let start = end.checked_add(7)? & !7;
    bytes.get(start..)?.starts_with(MAGIC_NEW).then_some(start)
}

fn read_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at.checked_add(4)?)?.try_into().ok()?))
}

fn read_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(b.get(at..at.checked_add(8)?)?.try_into().ok()?))
}

fn c_string(b: &[u8], at: usize) -> Option<&[u8]> {
    let rest = b.get(at..)?;
    Some(&rest[..rest.iter().position(|&c| c == 0)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new-format cache holding `entries` (flags, hwcap, name, path).
    fn cache(entries: &[(i32, u64, &str, &str)]) -> Vec<u8> {
        let mut strings = Vec::new();
        let strings_at = NEW_HEADER + entries.len() * NEW_ENTRY;
        let mut table = Vec::new();
        for (flags, hwcap, name, path) in entries {
            let key = strings_at + strings.len();
            strings.extend_from_slice(name.as_bytes());
            strings.push(0);
            let value = strings_at + strings.len();
            strings.extend_from_slice(path.as_bytes());
            strings.push(0);
            table.extend_from_slice(&flags.to_le_bytes());
            table.extend_from_slice(&(key as u32).to_le_bytes());
            table.extend_from_slice(&(value as u32).to_le_bytes());
            table.extend_from_slice(&0u32.to_le_bytes());
            table.extend_from_slice(&hwcap.to_le_bytes());
        }
        let mut out = MAGIC_NEW.to_vec();
        out.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        out.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        out.resize(NEW_HEADER, 0);
        out.extend(table);
        out.extend(strings);
        out
    }

    #[test]
    fn the_first_x86_64_entry_without_hwcaps_wins() {
        let c = LdCache::parse(&cache(&[
            (X86_64_LIBC6, 1 << 62, "libz.so.1", "/usr/lib/glibc-hwcaps/x86-64-v3/libz.so.1"),
            (0x0003, 0, "libz.so.1", "/usr/lib32/libz.so.1"),
            (X86_64_LIBC6, 0, "libz.so.1", "/lib/x86_64-linux-gnu/libz.so.1"),
            (X86_64_LIBC6, 0, "libz.so.1", "/usr/local/lib/libz.so.1"),
        ]));
        assert_eq!(c.lookup(b"libz.so.1"), Some(&b"/lib/x86_64-linux-gnu/libz.so.1"[..]));
        assert_eq!(c.lookup(b"libm.so.6"), None);
    }

    #[test]
    fn garbage_is_an_empty_cache() {
        assert_eq!(LdCache::parse(b"nonsense"), LdCache::default());
        let mut c = cache(&[(X86_64_LIBC6, 0, "libz.so.1", "/l/libz.so.1")]);
        c.truncate(NEW_HEADER + 10);
        assert_eq!(LdCache::parse(&c).lookup(b"libz.so.1"), None);
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn the_hosts_cache_knows_libc() {
        if let Ok(bytes) = std::fs::read("/etc/ld.so.cache") {
            let c = LdCache::parse(&bytes);
            assert!(c.lookup(b"libc.so.6").is_some(), "libc.so.6 in /etc/ld.so.cache");
        }
    }
}
