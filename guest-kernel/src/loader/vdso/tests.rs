//! Host tests of the vDSO image: parsed with goblin, looked up the way musl and glibc do,
//! and (on Linux hosts) the code run from a copy at another address, against Vvar's math.

use super::image::{self, elf_hash, SONAME, VERSION};
use super::{Function, CODE_OFFSET};

const EXPORTED: [&str; 10] = [
    "__vdso_clock_gettime",
    "clock_gettime",
    "__vdso_gettimeofday",
    "gettimeofday",
    "__vdso_time",
    "time",
    "__vdso_getcpu",
    "getcpu",
    "__vdso_clock_getres",
    "clock_getres",
];

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes(b[off..off + 2].try_into().unwrap())
}

fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

fn cstr(b: &[u8], off: usize) -> &[u8] {
    let end = b[off..].iter().position(|&c| c == 0).unwrap();
    &b[off..off + end]
}

/// A stand-in for the real code: a few bytes per function.
fn fake_image() -> Vec<u8> {
    let code = vec![0xc3u8; 5 * 16];
    let functions: Vec<Function> = super::FUNCTIONS
        .iter()
        .enumerate()
        .map(|(i, &name)| Function { name, offset: i as u64 * 16, size: 16 })
        .collect();
    image::build(&code, &functions)
}

/// The dynamic entries of an image, as a lookup reads them through PT_DYNAMIC.
fn dynamic(img: &[u8]) -> std::collections::HashMap<u64, u64> {
    let elf = goblin::elf::Elf::parse(img).unwrap();
    let ph = elf.program_headers.iter().find(|p| p.p_type == goblin::elf::program_header::PT_DYNAMIC).unwrap();
    let mut out = std::collections::HashMap::new();
    let mut at = ph.p_offset as usize;
    loop {
        let (tag, value) = (u64_at(img, at), u64_at(img, at + 8));
        if tag == 0 {
            return out;
        }
        out.insert(tag, value);
        at += 16;
    }
}

/// Does version index `ndx` name `want` (musl's checkver, glibc's version match)?
fn version_is(img: &[u8], dynv: &std::collections::HashMap<u64, u64>, ndx: u16, want: &str) -> bool {
    use goblin::elf::dynamic::{DT_STRTAB, DT_VERDEF};
    let strtab = dynv[&DT_STRTAB] as usize;
    let mut def = dynv[&DT_VERDEF] as usize;
    loop {
        let flags = u16_at(img, def + 2);
        if flags & goblin::elf::symver::VER_FLG_BASE == 0 && u16_at(img, def + 4) == ndx & 0x7fff {
            let aux = def + u32_at(img, def + 12) as usize;
            return u32_at(img, def + 8) == elf_hash(want.as_bytes())
                && cstr(img, strtab + u32_at(img, aux) as usize) == want.as_bytes();
        }
        match u32_at(img, def + 16) {
            0 => return false,
            next => def += next as usize,
        }
    }
}

/// musl's `__vdsosym`: a linear scan of DT_HASH's nchain symbols, with version check.
fn musl_lookup(img: &[u8], name: &str, version: &str) -> Option<u64> {
    use goblin::elf::dynamic::{DT_HASH, DT_STRTAB, DT_SYMTAB, DT_VERSYM};
    let dynv = dynamic(img);
    let (strtab, symtab, hash) = (dynv[&DT_STRTAB] as usize, dynv[&DT_SYMTAB] as usize, dynv[&DT_HASH] as usize);
    let versym = dynv[&DT_VERSYM] as usize;
    (0..u32_at(img, hash + 4) as usize).find_map(|i| {
        let sym = symtab + i * 24;
        let (info, shndx) = (img[sym + 4], u16_at(img, sym + 6));
        let ok_type = matches!(info & 0xf, 0..=2 | 5);
        let ok_bind = matches!(info >> 4, 1 | 2 | 10);
        let named = cstr(img, strtab + u32_at(img, sym) as usize) == name.as_bytes();
        let versioned = version_is(img, &dynv, u16_at(img, versym + 2 * i), version);
        (ok_type && ok_bind && shndx != 0 && named && versioned).then(|| u64_at(img, sym + 8))
    })
}

/// glibc's lookup through DT_HASH: bucket by ELF hash, follow the chain.
fn glibc_lookup(img: &[u8], name: &str, version: &str) -> Option<u64> {
    use goblin::elf::dynamic::{DT_HASH, DT_STRTAB, DT_SYMTAB, DT_VERSYM};
    let dynv = dynamic(img);
    let (strtab, symtab, hash) = (dynv[&DT_STRTAB] as usize, dynv[&DT_SYMTAB] as usize, dynv[&DT_HASH] as usize);
    let nbucket = u32_at(img, hash) as usize;
    let chain = |i: usize| u32_at(img, hash + 8 + 4 * (nbucket + i)) as usize;
    let mut i = u32_at(img, hash + 8 + 4 * (elf_hash(name.as_bytes()) as usize % nbucket)) as usize;
    while i != 0 {
        let sym = symtab + i * 24;
        let named = cstr(img, strtab + u32_at(img, sym) as usize) == name.as_bytes();
        let ndx = u16_at(img, dynv[&DT_VERSYM] as usize + 2 * i);
        if named && version_is(img, &dynv, ndx, version) {
            return Some(u64_at(img, sym + 8));
        }
        i = chain(i);
    }
    None
}

#[test]
fn glibc_version_hash() {
    // dl_vdso_vsym looks LINUX_2.6 up with this precomputed hash.
    assert_eq!(elf_hash(b"LINUX_2.6"), 0x3ae75f6);
}

#[test]
fn goblin_reads_a_shared_object_with_versioned_symbols() {
    let img = fake_image();
    let elf = goblin::elf::Elf::parse(&img).unwrap();
    assert_eq!(elf.header.e_type, goblin::elf::header::ET_DYN);
    assert_eq!(elf.soname, Some(SONAME));
    let load: Vec<_> =
        elf.program_headers.iter().filter(|p| p.p_type == goblin::elf::program_header::PT_LOAD).collect();
    assert_eq!(load.len(), 1);
    assert_eq!((load[0].p_offset, load[0].p_vaddr, load[0].p_filesz), (0, 0, img.len() as u64));
    let dynamic = elf.program_headers.iter().find(|p| p.p_type == goblin::elf::program_header::PT_DYNAMIC);
    assert_eq!(dynamic.unwrap().p_flags & goblin::elf::program_header::PF_W, 0, "glibc must not write it");

    let versym = elf.versym.as_ref().expect("versym");
    let verdef = elf.verdef.as_ref().expect("verdef");
    let version_name = |ndx: u16| {
        let def = verdef.iter().find(|d| d.vd_ndx == ndx).unwrap();
        let aux = def.iter().next().unwrap();
        elf.dynstrtab.get_at(aux.vda_name).unwrap().to_string()
    };
    assert_eq!(version_name(1), SONAME);
    let text = elf.section_headers.iter().find(|s| elf.shdr_strtab.get_at(s.sh_name) == Some(".text")).unwrap();
    assert_eq!(text.sh_offset, CODE_OFFSET);
    let mut names = Vec::new();
    for (i, sym) in elf.dynsyms.iter().enumerate().skip(1) {
        names.push(elf.dynstrtab.get_at(sym.st_name).unwrap().to_string());
        assert!(sym.is_function());
        assert!(text.vm_range().contains(&(sym.st_value as usize)));
        assert!(!versym.get_at(i).unwrap().is_hidden());
        assert_eq!(version_name(versym.get_at(i).unwrap().version()), VERSION);
    }
    names.sort();
    let mut want: Vec<String> = EXPORTED.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(names, want);
}

#[test]
fn musl_and_glibc_lookups_find_every_symbol() {
    let img = fake_image();
    for (i, name) in EXPORTED.iter().enumerate() {
        let want = Some(CODE_OFFSET + (i as u64 / 2) * 16);
        assert_eq!(musl_lookup(&img, name, VERSION), want, "musl: {name}");
        assert_eq!(glibc_lookup(&img, name, VERSION), want, "glibc: {name}");
        assert_eq!(glibc_lookup(&img, name, "LINUX_2.5"), None, "{name} at another version");
    }
    assert_eq!(musl_lookup(&img, "__vdso_sgx_enter_enclave", VERSION), None);
}

/// Runs the real code, copied with a vvar page to a fresh mapping (so at another address
/// than it was assembled at), and compares it with Vvar's math and the host kernel.
#[cfg(target_os = "linux")]
mod run {
    use super::super::{code, VVAR_SIZE};
    use super::*;
    use crate::vvar::{tsc_mult, Vvar};

    #[repr(C)]
    #[derive(Default, Debug, PartialEq, Eq, Clone, Copy)]
    struct Timespec {
        sec: i64,
        nsec: i64,
    }

    /// A vvar page and the image in page-aligned memory; the image made executable.
    struct Mapped {
        mem: *mut u8,
        layout: std::alloc::Layout,
        image: Vec<u8>,
    }

    fn raw_syscall(nr: u64, a: u64, b: u64, c: u64) -> i64 {
        let ret: i64;
        // SAFETY: a plain Linux syscall with three arguments; rcx and r11 are clobbered.
        unsafe {
            core::arch::asm!("syscall", inlateout("rax") nr as i64 => ret, in("rdi") a, in("rsi") b, in("rdx") c,
                lateout("rcx") _, lateout("r11") _, options(nostack));
        }
        ret
    }

    fn rdtsc() -> u64 {
        // SAFETY: lfence and rdtsc have no side effects.
        unsafe {
            core::arch::x86_64::_mm_lfence();
            core::arch::x86_64::_rdtsc()
        }
    }

    impl Mapped {
        fn new(vvar: &Vvar) -> Mapped {
            let image = image::build(code::bytes(), &code::functions());
            let size = VVAR_SIZE as usize + image.len().div_ceil(4096) * 4096;
            let layout = std::alloc::Layout::from_size_align(size, 4096).unwrap();
            // SAFETY: a non-zero size; freed in Drop with the same layout.
            let mem = unsafe { std::alloc::alloc_zeroed(layout) };
            assert!(!mem.is_null());
            let bytes = vvar.to_bytes();
            // SAFETY: both copies stay inside the allocation.
            unsafe {
                core::ptr::copy_nonoverlapping(bytes.as_ptr(), mem, bytes.len());
                core::ptr::copy_nonoverlapping(image.as_ptr(), mem.add(VVAR_SIZE as usize), image.len());
            }
            const SYS_MPROTECT: u64 = 10;
            let (text, len) = (mem as u64 + VVAR_SIZE, size as u64 - VVAR_SIZE);
            assert_eq!(raw_syscall(SYS_MPROTECT, text, len, 1 | 4), 0, "mprotect r-x");
            Mapped { mem, layout, image }
        }

        fn symbol(&self, name: &str) -> u64 {
            let at = glibc_lookup(&self.image, name, VERSION).unwrap();
            self.mem as u64 + VVAR_SIZE + at
        }

        fn clock_gettime(&self, clock: i32) -> (i64, Timespec) {
            let mut ts = Timespec::default();
            // SAFETY: the vDSO's clock_gettime has the C signature and writes one timespec.
            let f: extern "C" fn(i32, *mut Timespec) -> i64 =
                unsafe { core::mem::transmute(self.symbol("__vdso_clock_gettime") as usize) };
            (f(clock, &mut ts), ts)
        }

        fn clock_getres(&self, clock: i32) -> (i64, Timespec) {
            let mut ts = Timespec { sec: -1, nsec: -1 };
            // SAFETY: as clock_gettime.
            let f: extern "C" fn(i32, *mut Timespec) -> i64 =
                unsafe { core::mem::transmute(self.symbol("clock_getres") as usize) };
            (f(clock, &mut ts), ts)
        }

        fn gettimeofday(&self) -> (i64, Timespec, [u32; 2]) {
            let (mut tv, mut tz) = (Timespec::default(), [7u32; 2]);
            // SAFETY: the vDSO's gettimeofday writes a timeval and a timezone.
            let f: extern "C" fn(*mut Timespec, *mut [u32; 2]) -> i64 =
                unsafe { core::mem::transmute(self.symbol("__vdso_gettimeofday") as usize) };
            (f(&mut tv, &mut tz), tv, tz)
        }

        fn time(&self) -> (i64, i64) {
            let mut t = 0i64;
            // SAFETY: the vDSO's time writes one time_t.
            let f: extern "C" fn(*mut i64) -> i64 = unsafe { core::mem::transmute(self.symbol("time") as usize) };
            (f(&mut t), t)
        }

        fn getcpu(&self) -> (i64, u32, u32) {
            let (mut cpu, mut node) = (u32::MAX, u32::MAX);
            // SAFETY: the vDSO's getcpu writes two unsigned ints and ignores the cache.
            let f: extern "C" fn(*mut u32, *mut u32, *mut u8) -> i64 =
                unsafe { core::mem::transmute(self.symbol("__vdso_getcpu") as usize) };
            (f(&mut cpu, &mut node, core::ptr::null_mut()), cpu, node)
        }
    }

    impl Drop for Mapped {
        fn drop(&mut self) {
            let size = self.layout.size() as u64 - VVAR_SIZE;
            raw_syscall(10, self.mem as u64 + VVAR_SIZE, size, 1 | 2);
            // SAFETY: allocated in new() with this layout, writable again.
            unsafe { std::alloc::dealloc(self.mem, self.layout) };
        }
    }

    fn ns(ts: Timespec) -> u64 {
        ts.sec as u64 * 1_000_000_000 + ts.nsec as u64
    }

    /// A frozen clock: the TSC base is in the future, so every read is exactly the base.
    fn frozen() -> Vvar {
        Vvar {
            tsc_khz: 2_500_000,
            tsc_base: u64::MAX,
            realtime_base_ns: 1_700_000_123_456_789_012,
            monotonic_base_ns: 42_000_000_999,
            tsc_mult: tsc_mult(2_500_000),
        }
    }

    #[test]
    fn frozen_clocks_split_exactly() {
        let m = Mapped::new(&frozen());
        let real = Timespec { sec: 1_700_000_123, nsec: 456_789_012 };
        let mono = Timespec { sec: 42, nsec: 999 };
        for clock in [0, 5, 11] {
            assert_eq!(m.clock_gettime(clock), (0, real), "clock {clock}");
        }
        for clock in [1, 4, 6, 7] {
            assert_eq!(m.clock_gettime(clock), (0, mono), "clock {clock}");
        }
        assert_eq!(m.gettimeofday(), (0, Timespec { sec: 1_700_000_123, nsec: 456_789 }, [0, 0]));
        assert_eq!(m.time(), (1_700_000_123, 1_700_000_123));
    }

    #[test]
    fn seconds_split_exactly_at_the_edges() {
        for base in [0, 999_999_999, 1_000_000_000, 4_999_999_999_999, i64::MAX as u64, u64::MAX - 1] {
            let m = Mapped::new(&Vvar { realtime_base_ns: base, monotonic_base_ns: base, ..frozen() });
            let want = Timespec { sec: (base / 1_000_000_000) as i64, nsec: (base % 1_000_000_000) as i64 };
            assert_eq!(m.clock_gettime(1), (0, want), "base {base}");
            let usec = (base % 1_000_000_000 / 1000) as i64;
            assert_eq!(m.gettimeofday(), (0, Timespec { sec: want.sec, nsec: usec }, [0, 0]), "base {base}");
            assert_eq!(m.time().0, want.sec, "base {base}");
        }
    }

    #[test]
    fn running_clocks_match_vvar_math() {
        let vvar =
            Vvar { tsc_khz: 2_000_000, tsc_base: rdtsc() - 5_000_000, tsc_mult: tsc_mult(2_000_000), ..frozen() };
        let m = Mapped::new(&vvar);
        for (clock, reference) in [(0, Vvar::realtime_ns as fn(&Vvar, u64) -> u64), (1, Vvar::monotonic_ns)] {
            let before = reference(&vvar, rdtsc());
            let (ret, ts) = m.clock_gettime(clock);
            let after = reference(&vvar, rdtsc());
            assert_eq!(ret, 0);
            assert!((before..=after).contains(&ns(ts)), "{before} <= {} <= {after}", ns(ts));
        }
    }

    #[test]
    fn a_bogus_frequency_saturates_like_the_kernel() {
        let vvar = Vvar { tsc_khz: 0, tsc_base: 0, tsc_mult: u64::MAX, ..frozen() };
        let m = Mapped::new(&vvar);
        let want = vvar.monotonic_ns(rdtsc());
        assert_eq!(ns(m.clock_gettime(1).1), want);
    }

    #[test]
    fn resolutions_match_the_syscall() {
        let m = Mapped::new(&frozen());
        assert_eq!(m.clock_getres(0), (0, Timespec { sec: 0, nsec: 1 }));
        assert_eq!(m.clock_getres(7), (0, Timespec { sec: 0, nsec: 1 }));
        assert_eq!(m.clock_getres(5), (0, Timespec { sec: 0, nsec: 4_000_000 }));
        assert_eq!(m.clock_getres(6), (0, Timespec { sec: 0, nsec: 4_000_000 }));
    }

    #[test]
    fn other_clocks_and_getcpu_make_the_syscall() {
        let m = Mapped::new(&frozen());
        const EINVAL: i64 = abi_shared::linux::errno::EINVAL as i64;
        assert_eq!(m.clock_gettime(99).0, -EINVAL);
        assert_eq!(m.clock_gettime(-1).0, -EINVAL);
        assert_eq!(m.clock_getres(99).0, -EINVAL);
        // The host's CPU-time clock: not the frozen vvar value.
        let (ret, cpu) = m.clock_gettime(2);
        assert_eq!(ret, 0);
        assert!(cpu.sec < 1_000_000);
        let (ret, cpu, node) = m.getcpu();
        assert_eq!(ret, 0);
        assert!(cpu < 4096 && node < 4096);
    }
}
