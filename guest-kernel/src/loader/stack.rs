//! The initial user stack exactly as Linux's `create_elf_tables` lays it out:
//!
//! ```text
//! STACK_TOP   8 zero bytes
//!             execfn string
//!             envp strings, argv strings (argv lowest)
//!             "x86_64" (AT_PLATFORM), 16 random bytes (AT_RANDOM)
//!             auxv pairs ... AT_NULL
//!             envp pointers, NULL
//!             argv pointers, NULL
//! sp (16-aligned) argc
//! ```

use alloc::vec;
use alloc::vec::Vec;

pub const AT_NULL: u64 = linux_raw_sys::auxvec::AT_NULL as u64;
pub const AT_PHDR: u64 = linux_raw_sys::auxvec::AT_PHDR as u64;
pub const AT_PHENT: u64 = linux_raw_sys::auxvec::AT_PHENT as u64;
pub const AT_PHNUM: u64 = linux_raw_sys::auxvec::AT_PHNUM as u64;
pub const AT_PAGESZ: u64 = linux_raw_sys::auxvec::AT_PAGESZ as u64;
pub const AT_BASE: u64 = linux_raw_sys::auxvec::AT_BASE as u64;
pub const AT_FLAGS: u64 = linux_raw_sys::auxvec::AT_FLAGS as u64;
pub const AT_ENTRY: u64 = linux_raw_sys::auxvec::AT_ENTRY as u64;
pub const AT_UID: u64 = linux_raw_sys::auxvec::AT_UID as u64;
pub const AT_EUID: u64 = linux_raw_sys::auxvec::AT_EUID as u64;
pub const AT_GID: u64 = linux_raw_sys::auxvec::AT_GID as u64;
pub const AT_EGID: u64 = linux_raw_sys::auxvec::AT_EGID as u64;
pub const AT_PLATFORM: u64 = linux_raw_sys::auxvec::AT_PLATFORM as u64;
pub const AT_HWCAP: u64 = linux_raw_sys::auxvec::AT_HWCAP as u64;
pub const AT_CLKTCK: u64 = linux_raw_sys::auxvec::AT_CLKTCK as u64;
pub const AT_SECURE: u64 = linux_raw_sys::auxvec::AT_SECURE as u64;
pub const AT_RANDOM: u64 = linux_raw_sys::auxvec::AT_RANDOM as u64;
pub const AT_HWCAP2: u64 = linux_raw_sys::auxvec::AT_HWCAP2 as u64;
pub const AT_EXECFN: u64 = linux_raw_sys::auxvec::AT_EXECFN as u64;
pub const AT_SYSINFO_EHDR: u64 = linux_raw_sys::auxvec::AT_SYSINFO_EHDR as u64;
pub const AT_MINSIGSTKSZ: u64 = linux_raw_sys::auxvec::AT_MINSIGSTKSZ as u64;

/// Inputs that the stack needs besides the auxv entries the loader computes.
pub struct StackInput<'a> {
    pub top: u64,
    pub argv: &'a [Vec<u8>],
    pub envp: &'a [Vec<u8>],
    pub execfn: &'a [u8],
    pub random: [u8; 16],
    /// (key, value) pairs; AT_PLATFORM, AT_RANDOM, AT_EXECFN and AT_NULL are added here.
    pub auxv: &'a [(u64, u64)],
}

/// The bytes to place at `[sp, top)` and `sp`.
pub struct StackImage {
    pub sp: u64,
    pub bytes: Vec<u8>,
}

/// Build the stack image, or None if it would not fit in `limit` bytes (E2BIG).
pub fn build(input: &StackInput<'_>, limit: u64) -> Option<StackImage> {
    // Strings first, growing down from the top.
    // Each string goes below the previous one: execfn, then envp and argv from their last
    // string down. The bytes are laid out in one pass (prepending each string to a buffer
    // would be quadratic in the argument size).
    let mut pushed: Vec<&[u8]> = Vec::with_capacity(1 + input.envp.len() + input.argv.len());
    pushed.push(input.execfn);
    pushed.extend(input.envp.iter().rev().map(|s| s.as_slice()));
    pushed.extend(input.argv.iter().rev().map(|s| s.as_slice()));
    let mut p = input.top - 8;
    let addrs: Vec<u64> = pushed
        .iter()
        .map(|s| {
            p -= s.len() as u64 + 1;
            p
        })
        .collect();
    let execfn = addrs[0];
    let envc = input.envp.len();
    let envp: Vec<u64> = addrs[1..1 + envc].iter().rev().copied().collect();
    let argv: Vec<u64> = addrs[1 + envc..].iter().rev().copied().collect();
    let mut strings: Vec<u8> = Vec::with_capacity((input.top - 8 - p) as usize);
    for s in pushed.iter().rev() {
        strings.extend_from_slice(s);
        strings.push(0);
    }
    let mut p = p & !15;
    let platform_str: &[u8] = if cfg!(target_arch = "aarch64") { b"aarch64\0" } else { b"x86_64\0" };
    p -= platform_str.len() as u64;
    let platform = p;
    p -= 16;
    let random = p;
    p &= !15;

    let mut aux: Vec<(u64, u64)> = input.auxv.to_vec();
    aux.push((AT_PLATFORM, platform));
    aux.push((AT_RANDOM, random));
    aux.push((AT_EXECFN, execfn));
    aux.push((AT_NULL, 0));
    let words = 1 + (argv.len() + 1) + (envp.len() + 1) + aux.len() * 2;
    let sp = (p - words as u64 * 8) & !15;
    if input.top - sp > limit {
        return None;
    }

    let mut bytes = vec![0u8; (input.top - sp) as usize];
    let mut put = |addr: u64, data: &[u8]| {
        let off = (addr - sp) as usize;
        bytes[off..off + data.len()].copy_from_slice(data);
    };
    let strings_start = input.top - 8 - strings.len() as u64;
    put(strings_start, &strings);
    put(platform, platform_str);
    put(random, &input.random);
    let mut table: Vec<u64> = Vec::with_capacity(words);
    table.push(input.argv.len() as u64);
    table.extend(&argv);
    table.push(0);
    table.extend(&envp);
    table.push(0);
    for (k, v) in aux {
        table.push(k);
        table.push(v);
    }
    let table_bytes: Vec<u8> = table.iter().flat_map(|w| w.to_le_bytes()).collect();
    put(sp, &table_bytes);
    Some(StackImage { sp, bytes })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn word(img: &StackImage, addr: u64) -> u64 {
        let off = (addr - img.sp) as usize;
        u64::from_le_bytes(img.bytes[off..off + 8].try_into().unwrap())
    }

    fn cstr(img: &StackImage, addr: u64) -> Vec<u8> {
        let off = (addr - img.sp) as usize;
        img.bytes[off..].iter().take_while(|&&b| b != 0).copied().collect()
    }

    #[test]
    fn layout_matches_linux() {
        let argv = vec![b"prog".to_vec(), b"arg one".to_vec()];
        let envp = vec![b"A=1".to_vec()];
        let top = 0x7fff_ffff_f000;
        let input = StackInput {
            top,
            argv: &argv,
            envp: &envp,
            execfn: b"/bin/prog",
            random: [7; 16],
            auxv: &[(AT_PAGESZ, 4096), (AT_ENTRY, 0x401000)],
        };
        let img = build(&input, 1 << 20).unwrap();
        assert_eq!(img.sp % 16, 0);
        assert_eq!(img.sp + img.bytes.len() as u64, top);
        assert_eq!(word(&img, img.sp), 2, "argc");
        assert_eq!(cstr(&img, word(&img, img.sp + 8)), b"prog");
        assert_eq!(cstr(&img, word(&img, img.sp + 16)), b"arg one");
        assert_eq!(word(&img, img.sp + 24), 0, "argv terminator");
        assert_eq!(cstr(&img, word(&img, img.sp + 32)), b"A=1");
        assert_eq!(word(&img, img.sp + 40), 0, "envp terminator");
        // auxv
        let mut at = img.sp + 48;
        let mut seen = std::collections::HashMap::new();
        loop {
            let (k, v) = (word(&img, at), word(&img, at + 8));
            if k == AT_NULL {
                break;
            }
            seen.insert(k, v);
            at += 16;
        }
        assert_eq!(seen[&AT_PAGESZ], 4096);
        assert_eq!(cstr(&img, seen[&AT_EXECFN]), b"/bin/prog");
        assert_eq!(cstr(&img, seen[&AT_PLATFORM]), b"x86_64");
        let r = seen[&AT_RANDOM];
        let off = (r - img.sp) as usize;
        assert_eq!(&img.bytes[off..off + 16], &[7; 16]);
        // the top 8 bytes are zero and the execfn string ends right below them
        assert_eq!(word(&img, top - 8), 0);
        assert_eq!(seen[&AT_EXECFN] + b"/bin/prog\0".len() as u64, top - 8);
    }

    #[test]
    fn too_large_is_refused() {
        let big = vec![vec![b'x'; 4096]; 64];
        let input = StackInput { top: 0x10_0000, argv: &big, envp: &[], execfn: b"x", random: [0; 16], auxv: &[] };
        assert!(build(&input, 128 * 1024).is_none());
        assert!(build(&input, 1 << 20).is_some());
    }
}
