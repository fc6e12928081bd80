//! What a packed program may still need that no `DT_NEEDED` names: libraries it may
//! `dlopen` (library names found as strings in its objects), gconv modules (iconv) and
//! NSS modules (user, group and host look-ups). Printed by `pack`, as advice.

use std::collections::BTreeSet;

use super::collect::{show, Collection, Item};

/// Imports that make glibc load NSS modules named by /etc/nsswitch.conf.
const NSS_IMPORTS: &[&str] = &[
    "getpwuid",
    "getpwnam",
    "getpwuid_r",
    "getpwnam_r",
    "getpwent",
    "getgrgid",
    "getgrnam",
    "getgrgid_r",
    "getgrnam_r",
    "getgrouplist",
    "initgroups",
    "getspnam",
    "getaddrinfo",
    "gethostbyname",
    "gethostbyname_r",
    "getnameinfo",
    "getservbyname",
];
/// Imports that make glibc load gconv modules.
const GCONV_IMPORTS: &[&str] = &["iconv_open"];
/// The most library names one hint lists.
const MAX_NAMES: usize = 20;

/// Advice lines for `collection`.
pub fn hints(collection: &Collection) -> Vec<String> {
    let mut out = Vec::new();
    let imports: BTreeSet<&str> =
        collection.objects.iter().flat_map(|o| o.info.imports.iter().map(String::as_str)).collect();
    let libdir = collection
        .items
        .keys()
        .find(|k| k.ends_with(b"/libc.so.6"))
        .map(|k| show(&k[..k.len() - b"/libc.so.6".len()]))
        .unwrap_or_else(|| "/usr/lib/x86_64-linux-gnu".into());
    let dlopened = dlopen_candidates(collection);
    if !dlopened.is_empty() {
        let shown: Vec<&str> = dlopened.iter().take(MAX_NAMES).map(String::as_str).collect();
        let more = dlopened.len().saturating_sub(MAX_NAMES);
        let more = if more > 0 { format!(" and {more} more") } else { String::new() };
        out.push(format!(
            "it may dlopen libraries named in its binaries but not packed: {}{more}; add the ones it needs with --add",
            shown.join(", ")
        ));
    }
    if GCONV_IMPORTS.iter().any(|i| imports.contains(i)) {
        out.push(format!("it converts character sets (iconv_open): gconv modules may be needed: --add {libdir}/gconv"));
    }
    if NSS_IMPORTS.iter().any(|i| imports.contains(i)) {
        out.push(format!(
            "it looks up users, groups or hosts: glibc reads the run host's /etc/nsswitch.conf and dlopens the modules \
             it names beyond the built-in files and dns (e.g. --add {libdir}/libnss_systemd.so.2)"
        ));
    }
    out
}

/// Library names ("libfoo.so", "libfoo.so.1") found as strings in the packed objects'
/// files, that no packed path ends with.
fn dlopen_candidates(collection: &Collection) -> BTreeSet<String> {
    let packed: BTreeSet<&[u8]> =
        collection.items.keys().map(|k| k.rsplit(|&b| b == b'/').next().unwrap_or(k)).collect();
    let mut names = BTreeSet::new();
    for obj in &collection.objects {
        let Some(Item::File { host, .. }) =
            collection.items.get(&obj.path).or_else(|| follow_to_file(collection, &obj.path))
        else {
            continue;
        };
        let Ok(bytes) = std::fs::read(host) else { continue };
        for s in bytes.split(|&b| b == 0) {
            if is_library_name(s) && !packed.contains(s) {
                names.insert(show(s));
            }
        }
    }
    names
}

/// The file a packed symlink chain ends at, if it is packed.
fn follow_to_file<'a>(collection: &'a Collection, path: &[u8]) -> Option<&'a Item> {
    let mut path = path.to_vec();
    for _ in 0..40 {
        match collection.items.get(&path)? {
            Item::Symlink { target } => {
                path = super::source::follow(&path, crate::vfs::mounts::parent(&path), target).0;
            }
            item => return Some(item),
        }
    }
    None
}

/// "libNAME.so" or "libNAME.so.N[.N...]", NAME of letters, digits and `_+-.`.
fn is_library_name(s: &[u8]) -> bool {
    let Some(rest) = s.strip_prefix(b"lib") else { return false };
    let Some(at) = find(rest, b".so") else { return false };
    let (name, version) = (&rest[..at], &rest[at + 3..]);
    !name.is_empty()
        && name.iter().all(|&c| c.is_ascii_alphanumeric() || b"_+-.".contains(&c))
        && (version.is_empty()
            || version.starts_with(b".") && version[1..].iter().all(|&c| c.is_ascii_digit() || c == b'.'))
        && !version.ends_with(b".")
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_names() {
        for good in ["libfoo.so", "libfoo.so.1", "libgtk-3.so.0", "libstdc++.so.6.0.30"] {
            assert!(is_library_name(good.as_bytes()), "{good}");
        }
        for bad in ["foo.so", "lib.so", "libfoo.so.", "libfoo.sox", "libfoo.so.1a", "lib%s.so", "libfoo"] {
            assert!(!is_library_name(bad.as_bytes()), "{bad}");
        }
    }
}
