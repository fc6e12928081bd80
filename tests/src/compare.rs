//! Comparing two runs and explaining the first difference briefly.

use std::fmt::Write as _;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Replaces every occurrence of `from` in `data` with `to`; used to hide the work
/// directory name, which necessarily differs between the two runs.
pub fn replace_all(data: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    if from.is_empty() {
        return data.to_vec();
    }
    let mut out = Vec::with_capacity(data.len());
    let mut i = 0;
    while i < data.len() {
        if data[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(data[i]);
            i += 1;
        }
    }
    out
}

const CONTEXT_BEFORE: usize = 2;
const SHOWN_AFTER: usize = 6;
const MAX_LINE: usize = 160;

fn show_line(line: &[u8]) -> String {
    let s = String::from_utf8_lossy(line);
    if s.chars().count() > MAX_LINE {
        format!("{}…", s.chars().take(MAX_LINE).collect::<String>())
    } else {
        s.into_owned()
    }
}

/// A short unified-diff-like excerpt around the first differing line of two
/// outputs, or None if they are equal. `-` lines are native, `+` lines linuxrun.
pub fn first_difference(native: &[u8], other: &[u8]) -> Option<String> {
    if native == other {
        return None;
    }
    let a: Vec<&[u8]> = native.split(|&b| b == b'\n').collect();
    let b: Vec<&[u8]> = other.split(|&b| b == b'\n').collect();
    let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let mut out = String::new();
    let _ = writeln!(
        out,
        "@@ first difference at line {} (native {} bytes / {} lines, linuxrun {} bytes / {} lines) @@",
        first + 1,
        native.len(),
        a.len(),
        other.len(),
        b.len()
    );
    for line in &a[first.saturating_sub(CONTEXT_BEFORE)..first] {
        let _ = writeln!(out, "  {}", show_line(line));
    }
    for line in a.iter().skip(first).take(SHOWN_AFTER) {
        let _ = writeln!(out, "- {}", show_line(line));
    }
    for line in b.iter().skip(first).take(SHOWN_AFTER) {
        let _ = writeln!(out, "+ {}", show_line(line));
    }
    Some(out)
}

/// One line per entry below `root` (sorted, relative paths): type, permission bits,
/// and for files the size and a content hash, for symlinks the target. Timestamps
/// are left out on purpose: cp and mkdir stamp "now", which differs per run.
pub fn tree_listing(root: &Path) -> String {
    let mut lines = Vec::new();
    walk(root, root, &mut lines);
    lines.sort();
    lines.join("\n")
}

fn walk(root: &Path, dir: &Path, lines: &mut Vec<String>) {
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        let p = e.path();
        let rel = p.strip_prefix(root).unwrap().display().to_string();
        let Ok(md) = fs::symlink_metadata(&p) else {
            continue;
        };
        let mode = md.permissions().mode() & 0o7777;
        let ft = md.file_type();
        if ft.is_symlink() {
            let target = fs::read_link(&p).map(|t| t.display().to_string()).unwrap_or_default();
            lines.push(format!("{rel} link {mode:04o} -> {target}"));
        } else if ft.is_dir() {
            lines.push(format!("{rel} dir {mode:04o} nlink={}", md.nlink()));
            walk(root, &p, lines);
        } else {
            let hash = fs::read(&p).map(|d| fnv1a(&d)).unwrap_or(0);
            lines.push(format!("{rel} file {mode:04o} size={} nlink={} hash={hash:016x}", md.len(), md.nlink()));
        }
    }
}

fn fnv1a(data: &[u8]) -> u64 {
    data.iter().fold(0xcbf29ce484222325u64, |h, &b| (h ^ b as u64).wrapping_mul(0x100000001b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replace_all_replaces_every_occurrence() {
        assert_eq!(replace_all(b"/w/x and /w/y", b"/w", b"$W"), b"$W/x and $W/y");
        assert_eq!(replace_all(b"abc", b"", b"z"), b"abc");
    }

    #[test]
    fn equal_outputs_have_no_difference() {
        assert!(first_difference(b"a\nb\n", b"a\nb\n").is_none());
    }

    #[test]
    fn difference_points_at_first_differing_line() {
        let d = first_difference(b"l1\nl2\nl3\nl4\n", b"l1\nl2\nX3\nl4\n").unwrap();
        assert!(d.contains("line 3"), "{d}");
        assert!(d.contains("- l3") && d.contains("+ X3") && d.contains("  l2"), "{d}");
    }

    #[test]
    fn truncated_output_is_reported() {
        let d = first_difference(b"a\nb\nc\n", b"a\n").unwrap();
        assert!(d.contains("line 2") && d.contains("- b"), "{d}");
    }

    #[test]
    fn tree_listing_sees_content_and_modes() {
        let dir = std::env::temp_dir().join(format!("lrt-tree-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("d")).unwrap();
        fs::write(dir.join("d/f"), b"x").unwrap();
        std::os::unix::fs::symlink("d/f", dir.join("l")).unwrap();
        let one = tree_listing(&dir);
        fs::write(dir.join("d/f"), b"y").unwrap();
        let two = tree_listing(&dir);
        fs::remove_dir_all(&dir).unwrap();
        assert!(one.contains("d/f file") && one.contains("l link") && one.contains("-> d/f"), "{one}");
        assert_ne!(one, two);
    }
}
