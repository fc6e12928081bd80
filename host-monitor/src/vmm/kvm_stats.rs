//! KVM's binary statistics for a vCPU (KVM_GET_STATS_FD): exits that never reach the
//! monitor (page faults, emulated instructions, interrupts) explain where time goes.

use std::os::fd::RawFd;

/// `_IO(KVMIO, 0xce)`
const KVM_GET_STATS_FD: libc::c_ulong = 0xae_ce;

/// The counters worth showing; zero ones are left out.
const WANTED: &[&str] = &[
    "exits",
    "io_exits",
    "mmio_exits",
    "halt_exits",
    "irq_exits",
    "signal_exits",
    "pf_taken",
    "pf_fixed",
    "insn_emulation",
    "tlb_flush",
    "hypercalls",
];

#[repr(C)]
#[derive(Default)]
struct Header {
    flags: u32,
    name_size: u32,
    num_desc: u32,
    id_offset: u32,
    desc_offset: u32,
    data_offset: u32,
}

fn pread_exact(fd: RawFd, buf: &mut [u8], off: u64) -> bool {
    // SAFETY: buf is a valid writable buffer of buf.len() bytes.
    let n = unsafe { libc::pread(fd, buf.as_mut_ptr() as *mut libc::c_void, buf.len(), off as libc::off_t) };
    n == buf.len() as isize
}

pub fn read(vcpu_fd: RawFd) -> Vec<(String, u64)> {
    // SAFETY: KVM_GET_STATS_FD takes no argument and returns a new fd or -1.
    let sfd = unsafe { libc::ioctl(vcpu_fd, KVM_GET_STATS_FD as _, 0) };
    if sfd < 0 {
        return Vec::new();
    }
    let out = read_from(sfd).unwrap_or_default();
    // SAFETY: sfd is the stats fd opened above.
    unsafe { libc::close(sfd) };
    out
}

fn read_from(sfd: RawFd) -> Option<Vec<(String, u64)>> {
    let mut hb = [0u8; std::mem::size_of::<Header>()];
    if !pread_exact(sfd, &mut hb, 0) {
        return None;
    }
    let w = |i: usize| u32::from_le_bytes(hb[i * 4..i * 4 + 4].try_into().unwrap_or_default());
    let h =
        Header { flags: w(0), name_size: w(1), num_desc: w(2), id_offset: w(3), desc_offset: w(4), data_offset: w(5) };
    let _ = (h.flags, h.id_offset);
    // struct kvm_stats_desc { u32 flags; s16 exponent; u16 size; u32 offset; u32 bucket_size; char name[]; }
    let desc_size = 16 + h.name_size as usize;
    if h.num_desc > 4096 || desc_size > 4096 {
        return None;
    }
    let mut descs = vec![0u8; desc_size * h.num_desc as usize];
    if !pread_exact(sfd, &mut descs, h.desc_offset as u64) {
        return None;
    }
    let mut out = Vec::new();
    for d in descs.chunks_exact(desc_size) {
        let size = u16::from_le_bytes([d[6], d[7]]);
        let offset = u32::from_le_bytes([d[8], d[9], d[10], d[11]]);
        let name_bytes = &d[16..];
        let name =
            String::from_utf8_lossy(&name_bytes[..name_bytes.iter().position(|&b| b == 0).unwrap_or(name_bytes.len())])
                .into_owned();
        if size != 1 || !WANTED.contains(&name.as_str()) {
            continue;
        }
        let mut v = [0u8; 8];
        if pread_exact(sfd, &mut v, h.data_offset as u64 + offset as u64) {
            let value = u64::from_le_bytes(v);
            if value > 0 {
                out.push((name, value));
            }
        }
    }
    Some(out)
}
