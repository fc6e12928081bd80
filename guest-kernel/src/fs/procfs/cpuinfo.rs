//! /proc/cpuinfo from CPUID, with Linux's names for the feature bits
//! (arch/x86/include/asm/cpufeatures.h) in Linux's order (by capability word).

use alloc::vec::Vec;
use core::fmt::Write;

use super::render::Text;

/// The CPUID leaves cpuinfo needs, read by the caller (pure data here, for tests).
#[derive(Clone)]
pub struct Cpuid {
    /// leaf 0: (max leaf, vendor string)
    pub max_leaf: u32,
    pub vendor: [u8; 12],
    /// leaf 1 eax, ecx, edx
    pub signature: u32,
    pub ecx1: u32,
    pub edx1: u32,
    /// leaf 7 subleaf 0 ebx, ecx, edx
    pub ebx7: u32,
    pub ecx7: u32,
    pub edx7: u32,
    /// leaf 0xd subleaf 1 eax
    pub eax_d1: u32,
    /// leaf 0x80000001 ecx, edx
    pub ecx_ext: u32,
    pub edx_ext: u32,
    /// leaves 0x80000002..4
    pub brand: [u8; 48],
    /// leaf 0x80000008 eax (address sizes)
    pub addr_sizes: u32,
    /// Largest cache in KiB.
    pub cache_kb: u32,
    pub clflush: u32,
}

impl Default for Cpuid {
    fn default() -> Cpuid {
        Cpuid {
            max_leaf: 0,
            vendor: [0; 12],
            signature: 0,
            ecx1: 0,
            edx1: 0,
            ebx7: 0,
            ecx7: 0,
            edx7: 0,
            eax_d1: 0,
            ecx_ext: 0,
            edx_ext: 0,
            brand: [0; 48],
            addr_sizes: 0,
            cache_kb: 0,
            clflush: 0,
        }
    }
}

type Names = [(u32, &'static str)];

const EDX1: &Names = &[
    (0, "fpu"),
    (1, "vme"),
    (2, "de"),
    (3, "pse"),
    (4, "tsc"),
    (5, "msr"),
    (6, "pae"),
    (7, "mce"),
    (8, "cx8"),
    (9, "apic"),
    (11, "sep"),
    (12, "mtrr"),
    (13, "pge"),
    (14, "mca"),
    (15, "cmov"),
    (16, "pat"),
    (17, "pse36"),
    (18, "pn"),
    (19, "clflush"),
    (21, "dts"),
    (22, "acpi"),
    (23, "mmx"),
    (24, "fxsr"),
    (25, "sse"),
    (26, "sse2"),
    (27, "ss"),
    (28, "ht"),
    (29, "tm"),
    (30, "ia64"),
    (31, "pbe"),
];

const EDX_EXT: &Names = &[
    (11, "syscall"),
    (19, "mp"),
    (20, "nx"),
    (22, "mmxext"),
    (25, "fxsr_opt"),
    (26, "pdpe1gb"),
    (27, "rdtscp"),
    (29, "lm"),
    (30, "3dnowext"),
    (31, "3dnow"),
];

const ECX1: &Names = &[
    (0, "pni"),
    (1, "pclmulqdq"),
    (2, "dtes64"),
    (3, "monitor"),
    (4, "ds_cpl"),
    (5, "vmx"),
    (6, "smx"),
    (7, "est"),
    (8, "tm2"),
    (9, "ssse3"),
    (10, "cid"),
    (11, "sdbg"),
    (12, "fma"),
    (13, "cx16"),
    (14, "xtpr"),
    (15, "pdcm"),
    (17, "pcid"),
    (18, "dca"),
    (19, "sse4_1"),
    (20, "sse4_2"),
    (21, "x2apic"),
    (22, "movbe"),
    (23, "popcnt"),
    (24, "tsc_deadline_timer"),
    (25, "aes"),
    (26, "xsave"),
    (28, "avx"),
    (29, "f16c"),
    (30, "rdrand"),
    (31, "hypervisor"),
];

const ECX_EXT: &Names = &[
    (0, "lahf_lm"),
    (1, "cmp_legacy"),
    (2, "svm"),
    (3, "extapic"),
    (4, "cr8_legacy"),
    (5, "abm"),
    (6, "sse4a"),
    (7, "misalignsse"),
    (8, "3dnowprefetch"),
    (9, "osvw"),
    (10, "ibs"),
    (11, "xop"),
    (12, "skinit"),
    (13, "wdt"),
    (15, "lwp"),
    (16, "fma4"),
    (17, "tce"),
    (19, "nodeid_msr"),
    (21, "tbm"),
    (22, "topoext"),
    (23, "perfctr_core"),
    (24, "perfctr_nb"),
    (26, "bpext"),
    (27, "ptsc"),
    (28, "perfctr_llc"),
    (29, "mwaitx"),
];

const EBX7: &Names = &[
    (0, "fsgsbase"),
    (1, "tsc_adjust"),
    (2, "sgx"),
    (3, "bmi1"),
    (4, "hle"),
    (5, "avx2"),
    (7, "smep"),
    (8, "bmi2"),
    (9, "erms"),
    (10, "invpcid"),
    (11, "rtm"),
    (12, "cqm"),
    (14, "mpx"),
    (15, "rdt_a"),
    (16, "avx512f"),
    (17, "avx512dq"),
    (18, "rdseed"),
    (19, "adx"),
    (20, "smap"),
    (21, "avx512ifma"),
    (23, "clflushopt"),
    (24, "clwb"),
    (25, "intel_pt"),
    (26, "avx512pf"),
    (27, "avx512er"),
    (28, "avx512cd"),
    (29, "sha_ni"),
    (30, "avx512bw"),
    (31, "avx512vl"),
];

const EAX_D1: &Names = &[(0, "xsaveopt"), (1, "xsavec"), (2, "xgetbv1"), (3, "xsaves")];

const ECX7: &Names = &[
    (1, "avx512vbmi"),
    (2, "umip"),
    (3, "pku"),
    (4, "ospke"),
    (5, "waitpkg"),
    (6, "avx512_vbmi2"),
    (8, "gfni"),
    (9, "vaes"),
    (10, "vpclmulqdq"),
    (11, "avx512_vnni"),
    (12, "avx512_bitalg"),
    (13, "tme"),
    (14, "avx512_vpopcntdq"),
    (16, "la57"),
    (22, "rdpid"),
    (24, "bus_lock_detect"),
    (25, "cldemote"),
    (27, "movdiri"),
    (28, "movdir64b"),
    (29, "enqcmd"),
    (30, "sgx_lc"),
];

const EDX7: &Names = &[
    (2, "avx512_4vnniw"),
    (3, "avx512_4fmaps"),
    (4, "fsrm"),
    (8, "avx512_vp2intersect"),
    (10, "md_clear"),
    (14, "serialize"),
    (16, "tsxldtrk"),
    (18, "pconfig"),
    (19, "arch_lbr"),
    (20, "ibt"),
    (22, "amx_bf16"),
    (23, "avx512_fp16"),
    (24, "amx_tile"),
    (25, "amx_int8"),
    (28, "flush_l1d"),
    (29, "arch_capabilities"),
];

/// The flags line: every set bit Linux has a name for, in Linux's word order.
pub fn flags(c: &Cpuid) -> Vec<&'static str> {
    let words: [(u32, &Names); 9] = [
        (c.edx1, EDX1),
        (c.edx_ext, EDX_EXT),
        (c.ecx1, ECX1),
        (c.ecx_ext, ECX_EXT),
        (c.ebx7, EBX7),
        (c.eax_d1, EAX_D1),
        (c.ecx7, ECX7),
        (c.edx7, EDX7),
        (0, &[]),
    ];
    words
        .iter()
        .flat_map(|(reg, names)| names.iter().filter(move |(bit, _)| reg & (1 << bit) != 0))
        .map(|(_, n)| *n)
        .collect()
}

/// Family, model and stepping as Linux derives them from the signature.
pub fn family_model_stepping(sig: u32) -> (u32, u32, u32) {
    let base_family = (sig >> 8) & 0xf;
    let family = if base_family == 0xf { base_family + ((sig >> 20) & 0xff) } else { base_family };
    let mut model = (sig >> 4) & 0xf;
    if base_family >= 6 {
        model += ((sig >> 16) & 0xf) << 4;
    }
    (family, model, sig & 0xf)
}

fn trimmed(bytes: &[u8]) -> &str {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    core::str::from_utf8(&bytes[..end]).unwrap_or("").trim()
}

/// The whole file: one block per CPU, blocks separated by an empty line.
pub fn render(out: &mut Text, c: &Cpuid, cpus: u32, tsc_khz: u64) {
    let (family, model, stepping) = family_model_stepping(c.signature);
    let flags = flags(c).join(" ");
    let mhz = alloc::format!("{}.{:03}", tsc_khz / 1000, tsc_khz % 1000);
    // bogomips: twice the clock in MHz, with two decimals (Linux's loops_per_jiffy based).
    let bogo = tsc_khz * 2 / 10;
    let (phys, virt) = (c.addr_sizes & 0xff, (c.addr_sizes >> 8) & 0xff);
    for cpu in 0..cpus.max(1) {
        let _ = write!(
            out,
            "processor\t: {cpu}\nvendor_id\t: {}\ncpu family\t: {family}\nmodel\t\t: {model}\nmodel name\t: {}\n\
             stepping\t: {stepping}\nmicrocode\t: 0xffffffff\ncpu MHz\t\t: {mhz}\ncache size\t: {} KB\n\
             physical id\t: 0\nsiblings\t: {cpus}\ncore id\t\t: {cpu}\ncpu cores\t: {cpus}\napicid\t\t: {cpu}\n\
             initial apicid\t: {cpu}\nfpu\t\t: yes\nfpu_exception\t: yes\ncpuid level\t: {}\nwp\t\t: yes\n\
             flags\t\t: {flags}\nbugs\t\t:\nbogomips\t: {}.{:02}\nclflush size\t: {}\ncache_alignment\t: {}\n\
             address sizes\t: {phys} bits physical, {virt} bits virtual\npower management:\n\n",
            trimmed(&c.vendor),
            trimmed(&c.brand),
            c.cache_kb,
            c.max_leaf,
            bogo / 100,
            bogo % 100,
            c.clflush,
            c.clflush,
            cpus = cpus.max(1),
        );
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;

    #[test]
    fn flags_follow_linux_names_and_order() {
        let c = Cpuid {
            edx1: 1 | (1 << 25) | (1 << 26),
            edx_ext: 1 << 29,
            ecx1: (1 << 0) | (1 << 28) | (1 << 31),
            ebx7: 1 << 5,
            ..Cpuid::default()
        };
        assert_eq!(flags(&c), ["fpu", "sse", "sse2", "lm", "pni", "avx", "hypervisor", "avx2"]);
    }

    #[test]
    fn signature_decoding() {
        // Skylake-SP: family 6, model 0x55, stepping 4.
        assert_eq!(family_model_stepping(0x0005_0654), (6, 0x55, 4));
        // Zen 2: family 0x17, model 0x31.
        assert_eq!(family_model_stepping(0x0083_0f10), (0x17, 0x31, 0));
    }

    #[test]
    fn one_block_per_cpu() {
        let mut c = Cpuid { max_leaf: 13, clflush: 64, ..Cpuid::default() };
        c.vendor.copy_from_slice(b"GenuineIntel");
        let mut t = Text::default();
        render(&mut t, &c, 3, 2_999_998);
        let s = std::string::String::from_utf8(t.0).unwrap();
        assert_eq!(s.matches("processor\t: ").count(), 3);
        assert!(s.contains("vendor_id\t: GenuineIntel\n"));
        assert!(s.contains("cpu MHz\t\t: 2999.998\n"));
        assert!(s.ends_with("power management:\n\n"));
    }
}
