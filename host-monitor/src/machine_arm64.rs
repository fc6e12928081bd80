//! Building the aarch64 guest machine (docs/arm64.md): the kernel image at its physical
//! address as on x86_64, the boot page tables of the TTBR1 half (all guest RAM in 1 GiB
//! blocks at `layout::arm64::KERNEL_BASE`, and the doorbell page as device memory), the
//! BootInfo, and the vCPU's first state with the MMU on.

use std::sync::Arc;

use abi_shared::bootinfo::{BootInfo, Doorbell, BOOT_INFO_MAGIC, BOOT_INFO_VERSION};
use abi_shared::layout::arm64::*;
use abi_shared::layout::{vcpu_block, vcpu_block_gpa, BOOT_INFO_GPA, PAGE_SIZE};
use abi_shared::linux::Pod;

use super::{oob, Machine, MachineConfig, MachineError};
use crate::boot_image::load_kernel;
use crate::guest_mem::GuestMemory;
use crate::vmm::{Arm64BootState, Vm};

const GIB: u64 = 1 << 30;
/// Descriptor bits: a table (levels 0-2), a block (levels 1-2), the access flag,
/// inner-shareable, never executable at EL0 (UXN) or EL1 (PXN).
const TABLE: u64 = 0b11;
const BLOCK: u64 = 0b01;
const AF: u64 = 1 << 10;
const SH_INNER: u64 = 3 << 8;
const PXN: u64 = 1 << 53;
const UXN: u64 = 1 << 54;
/// An empty level-0 table for TTBR0 until the guest installs the program's.
const EMPTY_L0_GPA: u64 = 0x5000;

/// Write the TTBR1 boot tables; `mem_size` bytes of RAM from GPA 0.
fn write_boot_tables(mem: &GuestMemory, mem_size: u64) -> Result<(), MachineError> {
    for t in [BOOT_L0_GPA, BOOT_L1_LOW_GPA, BOOT_L1_HIGH_GPA, EMPTY_L0_GPA] {
        mem.write(t, &[0u8; PAGE_SIZE as usize]).map_err(oob)?;
    }
    mem.write_u64(BOOT_L0_GPA, BOOT_L1_LOW_GPA | TABLE).map_err(oob)?;
    mem.write_u64(BOOT_L0_GPA + 8, BOOT_L1_HIGH_GPA | TABLE).map_err(oob)?;
    let blocks = mem_size.div_ceil(GIB).min(512);
    for i in 0..blocks {
        let e = (i * GIB) | BLOCK | (ATTR_NORMAL << 2) | SH_INNER | AF | UXN;
        mem.write_u64(BOOT_L1_LOW_GPA + i * 8, e).map_err(oob)?;
    }
    let door = DOORBELL_GPA / GIB;
    if !(512..1024).contains(&door) {
        return Err(MachineError("the doorbell lies outside the boot tables".into()));
    }
    let e = (door * GIB) | BLOCK | (ATTR_DEVICE << 2) | AF | UXN | PXN;
    mem.write_u64(BOOT_L1_HIGH_GPA + (door - 512) * 8, e).map_err(oob)
}

pub fn build(mem: GuestMemory, vm: Arc<dyn Vm>, cfg: &MachineConfig) -> Result<Machine, MachineError> {
    let flavour = vm.flavour();
    let (entry, kernel_end) = load_kernel(&mem)?;
    let free_start = (kernel_end + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    if free_start + (32 << 20) > cfg.memory {
        return Err(MachineError(format!("--memory must be at least {} MiB", (free_start >> 20) + 32)));
    }
    write_boot_tables(&mem, cfg.memory)?;
    let block = vcpu_block_gpa(0);
    mem.write_u64(block + vcpu_block::RAM_REGISTERED, vm.ram_registered()).map_err(oob)?;
    let info = BootInfo {
        magic: BOOT_INFO_MAGIC,
        version: BOOT_INFO_VERSION,
        flavour: flavour as u32,
        mem_size: cfg.memory,
        free_start,
        boot_pt_next: EMPTY_L0_GPA + PAGE_SIZE,
        tsc_khz: vm.tsc_khz(),
        // Every request exits through the MMIO doorbell for now.
        doorbell: Doorbell::PortIo as u32,
        vcpu_count: 1,
        random_seed: crate::entropy::seed(),
        flags: (if cfg.strace { abi_shared::bootinfo::flags::STRACE } else { 0 })
            | (u64::from(cfg.guest_log_level.min(4)) << abi_shared::bootinfo::flags::LOG_LEVEL_SHIFT),
    };
    mem.write(BOOT_INFO_GPA, info.as_bytes()).map_err(oob)?;
    let mut vcpu = vm.create_vcpu(0, &mem).map_err(|e| MachineError(e.to_string()))?;
    let state = Arm64BootState {
        pc: entry,
        sp_el1: KERNEL_BASE + block + vcpu_block::KSTACK_TOP,
        x0: KERNEL_BASE + BOOT_INFO_GPA,
        pstate: BOOT_PSTATE,
        sctlr_el1: SCTLR,
        tcr_el1: TCR,
        mair_el1: MAIR,
        ttbr0_el1: EMPTY_L0_GPA,
        ttbr1_el1: BOOT_L0_GPA,
        cpacr_el1: CPACR,
    };
    vcpu.set_arm64_boot_state(&state).map_err(|e| MachineError(e.to_string()))?;
    Ok(Machine { mem: Arc::new(mem), wake: None, vm, vcpu, flavour, forked: false, index: 0, block })
}
