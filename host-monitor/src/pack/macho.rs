//! Packing for Intel macOS (`linuxrun pack --target x86_64-apple-darwin`), done on Linux:
//! the runtime is a linuxrun cross-built for macOS (scripts/build-macos); libsui puts the
//! payload into it, then the apple-codesign crate ad-hoc signs the result with the
//! `com.apple.security.hypervisor` entitlement, without which macOS refuses to create a VM.
//! The payload is written before signing, so the signature's page hashes cover it.
//! See docs/macos.md.
//!
//! Where the payload sits: libsui writes an Intel Mach-O's payload (after a marker and its
//! length) at the end of `__LINKEDIT`, whose size (and the string table's) it extends to
//! cover it; the signature then follows. At run time libsui's `find_section` reads it back
//! from the executable's file. [`payload_in`] finds it the same way, here on Linux.

use goblin::mach::cputype::{CPU_TYPE_ARM64, CPU_TYPE_X86_64};
use goblin::mach::header::MH_EXECUTE;
use goblin::mach::load_command::CommandVariant;
use goblin::mach::Mach;

/// Bytes every linuxrun runtime holds: the name of the variable [`super::cache`] reads.
const LINUXRUN_MARK: &[u8] = b"LINUXRUN_CACHE_DIR";

/// The entitlements a packed macOS program is signed with: Hypervisor.framework's.
#[cfg_attr(not(all(feature = "macos-pack", target_os = "linux")), allow(dead_code))]
pub const ENTITLEMENTS: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
    <key>com.apple.security.hypervisor</key>
    <true/>
</dict>
</plist>
"#;

/// The entitlement itself.
pub const HYPERVISOR_ENTITLEMENT: &str = "com.apple.security.hypervisor";

/// How an Apple Silicon runtime is refused (and what docs/macos.md promises).
pub const APPLE_SILICON: &str = "an Apple Silicon (arm64) Mac cannot run a packed x86_64 Linux program yet: \
     its Hypervisor.framework runs only arm64 guests and linuxrun has no arm64 guest for x86_64 programs \
     (docs/macos.md, \"Apple Silicon\"); pack with --target x86_64-apple-darwin for Intel Macs";

/// libsui's marker in front of an Intel Mach-O's payload ("<~sui-data~>", then the bytes
/// EF BE AD DE), built at run time so that the runtime's own code never holds it: libsui
/// looks for the last one in the file.
fn marker() -> Vec<u8> {
    let mut m: Vec<u8> = std::hint::black_box(*b">~atad-ius~<").iter().rev().copied().collect();
    m.extend_from_slice(&std::hint::black_box([0xEF, 0xBE, 0xAD, 0xDE]));
    m
}

/// True when `bytes` start like a Mach-O or universal file, either byte order.
pub fn is_macho(bytes: &[u8]) -> bool {
    bytes.len() >= 4
        && matches!(
            u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
            0xfeedface | 0xfeedfacf | 0xcefaedfe | 0xcffaedfe | 0xcafebabe | 0xbebafeca
        )
}

/// Check that `bytes` are a linuxrun for Intel macOS that can take a payload: a 64-bit
/// x86_64 Mach-O executable (not universal), unsigned, not packed, holding linuxrun's code.
pub fn check_runtime(bytes: &[u8]) -> Result<(), String> {
    const HOW: &str = "build one with scripts/build-macos";
    if bytes.starts_with(b"\x7fELF") {
        return Err(format!("is an ELF file (a Linux linuxrun), not a Mach-O for x86_64-apple-darwin; {HOW}"));
    }
    if !is_macho(bytes) {
        return Err(format!("is not a Mach-O executable; {HOW}"));
    }
    let macho = match Mach::parse(bytes).map_err(|e| format!("is not a valid Mach-O file: {e}"))? {
        Mach::Binary(m) => m,
        Mach::Fat(_) => {
            return Err(format!("is a universal (fat) Mach-O; give the x86_64 one alone (lipo -thin x86_64), or {HOW}"))
        }
    };
    match macho.header.cputype {
        CPU_TYPE_X86_64 if macho.is_64 => {}
        CPU_TYPE_ARM64 => return Err(format!("is an arm64 Mach-O: {APPLE_SILICON}")),
        other => return Err(format!("is a Mach-O for CPU type {other:#x}, not x86_64; {HOW}")),
    }
    if macho.header.filetype != MH_EXECUTE {
        return Err(format!("is a Mach-O of file type {}, not an executable; {HOW}", macho.header.filetype));
    }
    if macho.load_commands.iter().any(|c| matches!(c.command, CommandVariant::CodeSignature(_))) {
        return Err("is already code-signed; give the unsigned build of scripts/build-macos (pack signs the result), \
             or remove the signature first (codesign --remove-signature on a Mac)"
            .into());
    }
    let packed = marker();
    if bytes.windows(packed.len()).any(|w| w == packed.as_slice()) {
        return Err("is already a packed program; give a plain linuxrun".into());
    }
    // A name only linuxrun's packed-program start reads (the payload's magic is no sign:
    // the compiler may compare it as immediates).
    if !bytes.windows(LINUXRUN_MARK.len()).any(|w| w == LINUXRUN_MARK) {
        return Err(format!("is a Mach-O executable but not linuxrun; {HOW}"));
    }
    Ok(())
}

/// The runtime with `payload` embedded, ad-hoc signed as `identifier` with [`ENTITLEMENTS`].
#[cfg(all(feature = "macos-pack", target_os = "linux"))]
pub fn embed_and_sign(runtime: &[u8], payload: &[u8], identifier: &str) -> Result<Vec<u8>, String> {
    use apple_codesign::{MachOSigner, SettingsScope, SigningSettings};

    let mut unsigned = Vec::with_capacity(runtime.len() + payload.len() + 64);
    libsui::Macho::from(runtime.to_vec())
        .and_then(|m| m.write_section(super::payload::SECTION, payload.to_vec()))
        .and_then(|m| m.build(&mut unsigned))
        .map_err(|e| format!("embedding the payload: {e}"))?;
    let mut settings = SigningSettings::default();
    settings.set_binary_identifier(SettingsScope::Main, identifier);
    settings.set_entitlements_xml(SettingsScope::Main, ENTITLEMENTS).map_err(|e| format!("entitlements: {e}"))?;
    let signer = MachOSigner::new(&unsigned).map_err(|e| format!("signing: {e}"))?;
    let mut signed = Vec::with_capacity(unsigned.len() + (1 << 20));
    signer.write_signed_binary(&settings, &mut signed).map_err(|e| format!("signing: {e}"))?;
    Ok(signed)
}

#[cfg(not(all(feature = "macos-pack", target_os = "linux")))]
pub fn embed_and_sign(_runtime: &[u8], _payload: &[u8], _identifier: &str) -> Result<Vec<u8>, String> {
    Err("this linuxrun cannot pack for macOS: that needs a Linux linuxrun built with the cargo feature \
         `macos-pack` (on by default; the runtimes of scripts/build-static and scripts/build-macos leave it \
         out): pack with a plain `cargo build` linuxrun on Linux"
        .into())
}

/// The payload of a packed Intel Mach-O file, found as libsui's runtime finds it: after
/// the last marker, a little-endian u64 length, then the bytes.
pub fn payload_in(bytes: &[u8]) -> Option<&[u8]> {
    let m = marker();
    let at = bytes.windows(m.len()).rposition(|w| w == m.as_slice())?;
    let len_at = at + m.len();
    let len = u64::from_le_bytes(bytes.get(len_at..len_at + 8)?.try_into().ok()?);
    let start = len_at + 8;
    bytes.get(start..start.checked_add(usize::try_from(len).ok()?)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit Mach-O header for `cputype` (no load commands).
    fn header(cputype: u32, filetype: u32) -> Vec<u8> {
        let mut h = Vec::new();
        for v in [0xfeedfacfu32, cputype, 3, filetype, 0, 0, 0, 0] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h
    }

    #[test]
    fn runtimes_for_the_wrong_system_or_cpu_are_refused() {
        let elf = check_runtime(b"\x7fELF\x02\x01\x01").unwrap_err();
        assert!(elf.contains("not a Mach-O") && elf.contains("scripts/build-macos"), "{elf}");
        assert!(check_runtime(b"#!/bin/sh\n").unwrap_err().contains("not a Mach-O"));
        let arm = check_runtime(&header(CPU_TYPE_ARM64, MH_EXECUTE)).unwrap_err();
        assert!(arm.contains("Apple Silicon"), "{arm}");
        let dylib = check_runtime(&header(CPU_TYPE_X86_64, 6)).unwrap_err();
        assert!(dylib.contains("not an executable"), "{dylib}");
        let plain = check_runtime(&header(CPU_TYPE_X86_64, MH_EXECUTE)).unwrap_err();
        assert!(plain.contains("not linuxrun"), "{plain}");
    }

    #[test]
    fn the_payload_is_found_after_the_last_marker() {
        let mut file = b"code".to_vec();
        file.extend(marker());
        file.extend(3u64.to_le_bytes());
        file.extend(b"abc");
        file.extend(b"signature");
        assert_eq!(payload_in(&file), Some(&b"abc"[..]));
        let cut = &file[..file.len() - 11];
        assert_eq!(payload_in(cut), None);
        assert_eq!(payload_in(b"no marker"), None);
    }
}
