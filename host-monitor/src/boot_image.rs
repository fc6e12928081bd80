//! The boot image of an x86_64 guest: the kernel ELF at its physical addresses, the first
//! page tables (the direct map, the kernel window, the first vCPU's per-CPU window, and
//! under pvm the user-mode twin of the top table), each vCPU's GDT and TSS, and the
//! registers a vCPU starts with. The monitor builds all of it before the first entry; the
//! guest never builds its own descriptor tables (docs/design-notes.md).

use abi_shared::bootinfo::Flavour;
use abi_shared::layout::*;

use crate::guest_mem::GuestMemory;
use crate::machine::{oob, MachineError};
use crate::vmm::BootState;

/// The guest kernel, built by build.rs for the monitor's own architecture
/// (x86_64-unknown-none or aarch64-unknown-none).
static GUEST_KERNEL: &[u8] = include_bytes!(env!("LINUXRUN_GUEST_KERNEL"));

const PTE_P: u64 = 1;
const PTE_W: u64 = 2;
const PTE_U: u64 = 4;
const PTE_PS: u64 = 1 << 7;
const PTE_NX: u64 = 1 << 63;

/// pvm: the VIF MSR and its flag bits (direct switches, CR2 cell, user PML4 twin).
const MSR_PVM_VIF: u32 = 0x4b56_4d10;
const PVM_VIF_FLAGS: u64 = 0x5f;
const MSR_STAR: u32 = 0xc000_0081;
const MSR_LSTAR: u32 = 0xc000_0082;
const MSR_FMASK: u32 = 0xc000_0084;

/// The guest kernel's `syscall_entry` (its ELF symbol), for LSTAR: found by `load_kernel`.
static SYSCALL_ENTRY: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

/// Whether the monitor sets the syscall MSRs of `flavour`'s vCPUs itself (pvm, where the
/// guest's own `wrmsr`s each trap; the entry's address known): BootInfo's
/// `SYSCALL_MSRS_SET`.
pub fn sets_syscall_msrs(flavour: Flavour) -> bool {
    flavour == Flavour::Pvm && SYSCALL_ENTRY.get().is_some()
}

/// Allocates page-table pages in the boot area.
struct PtAlloc {
    next: u64,
}

impl PtAlloc {
    fn page(&mut self, mem: &GuestMemory) -> Result<u64, MachineError> {
        if self.next >= BOOT_PT_END {
            return Err(MachineError("guest memory too large for the boot page tables".into()));
        }
        let p = self.next;
        self.next += PAGE_SIZE;
        mem.write(p, &[0u8; PAGE_SIZE as usize]).map_err(oob)?;
        Ok(p)
    }
}

/// Table at `table`, entry `index`: return the next-level table, creating it.
fn next_table(mem: &GuestMemory, pt: &mut PtAlloc, table: u64, index: u64, u: u64) -> Result<u64, MachineError> {
    let slot = table + index * 8;
    let e = mem.read_u64(slot).map_err(oob)?;
    if e & PTE_P != 0 {
        return Ok(e & 0x000f_ffff_ffff_f000);
    }
    let t = pt.page(mem)?;
    mem.write_u64(slot, t | PTE_P | PTE_W | u).map_err(oob)?;
    Ok(t)
}

fn idx(va: u64, level: u32) -> u64 {
    (va >> (12 + 9 * level)) & 511
}

/// Page size of a boot mapping.
#[derive(Clone, Copy, PartialEq, Eq)]
enum PageSize {
    Small,
    Huge,
}

/// Map `[va, va+len)` to `[gpa, ...)` with pages of `size`.
#[allow(clippy::too_many_arguments)]
fn map_range(
    mem: &GuestMemory,
    pt: &mut PtAlloc,
    va: u64,
    gpa: u64,
    len: u64,
    flags: u64,
    u: u64,
    size: PageSize,
) -> Result<(), MachineError> {
    let step = if size == PageSize::Huge { HUGE_PAGE_SIZE } else { PAGE_SIZE };
    let mut off = 0;
    while off < len {
        let v = va + off;
        let pdpt = next_table(mem, pt, KERNEL_PML4_GPA, idx(v, 3), u)?;
        let pd = next_table(mem, pt, pdpt, idx(v, 2), u)?;
        let entry = match size {
            PageSize::Huge => (pd + idx(v, 1) * 8, (gpa + off) | flags | PTE_PS | u),
            PageSize::Small => (next_table(mem, pt, pd, idx(v, 1), u)? + idx(v, 0) * 8, (gpa + off) | flags | u),
        };
        mem.write_u64(entry.0, entry.1).map_err(oob)?;
        off += step;
    }
    Ok(())
}

/// Load the kernel ELF at its physical addresses; returns (entry, end GPA).
pub(crate) fn load_kernel(mem: &GuestMemory) -> Result<(u64, u64), MachineError> {
    let elf = goblin::elf::Elf::parse(GUEST_KERNEL).map_err(|e| MachineError(format!("embedded guest kernel: {e}")))?;
    let mut end = 0;
    for ph in elf.program_headers.iter().filter(|p| p.p_type == goblin::elf::program_header::PT_LOAD) {
        let gpa = ph.p_paddr;
        if gpa < KERNEL_LOAD_GPA || gpa + ph.p_memsz > KERNEL_WINDOW_SIZE {
            return Err(MachineError(format!("guest kernel segment at {gpa:#x} outside the kernel window")));
        }
        let file = GUEST_KERNEL
            .get(ph.p_offset as usize..(ph.p_offset + ph.p_filesz) as usize)
            .ok_or_else(|| MachineError("guest kernel segment outside its file".into()))?;
        mem.write(gpa, file).map_err(oob)?;
        end = end.max(gpa + ph.p_memsz);
    }
    let entry = elf.syms.iter().find(|s| elf.strtab.get_at(s.st_name) == Some("syscall_entry"));
    if let Some(sym) = entry {
        let _ = SYSCALL_ENTRY.set(sym.st_value);
    }
    Ok((elf.entry, end))
}

/// Where a vCPU's page tables show its block: the first vCPU's through the kernel window
/// (as the boot code always did), a thread's through the direct map (its block may lie
/// anywhere in guest RAM).
pub fn block_va(block: u64) -> u64 {
    if block == vcpu_block_gpa(0) {
        KERNEL_BASE + block
    } else {
        PHYS_MAP_BASE + block
    }
}

/// GDT in Linux's layout plus the TSS descriptor; TSS with the kernel and IST stacks.
pub fn write_gdt_tss(mem: &GuestMemory, block: u64) -> Result<(), MachineError> {
    let tss_va = block_va(block) + vcpu_block::TSS;
    let mut gdt = [0u64; 10];
    gdt[2] = 0x0020_9a00_0000_0000; // 0x10 kernel code
    gdt[3] = 0x0000_9200_0000_0000; // 0x18 kernel data
    gdt[4] = 0x00cf_fa00_0000_ffff; // 0x23 user code (32-bit)
    gdt[5] = 0x0000_f200_0000_0000; // 0x2b user data
    gdt[6] = 0x0020_fa00_0000_0000; // 0x33 user code
    gdt[8] = 0x67 | ((tss_va & 0xff_ffff) << 16) | (0x89 << 40) | (((tss_va >> 24) & 0xff) << 56);
    gdt[9] = tss_va >> 32;
    let bytes: Vec<u8> = gdt.iter().flat_map(|e| e.to_le_bytes()).collect();
    mem.write(block + vcpu_block::GDT, &bytes).map_err(oob)?;
    let tss = block + vcpu_block::TSS;
    mem.write_u64(tss + 4, PERCPU_WINDOW_VA + vcpu_block::KSTACK_TOP).map_err(oob)?; // RSP0
    mem.write_u64(tss + 0x24, PERCPU_WINDOW_VA + vcpu_block::IST1_TOP).map_err(oob)?; // IST1
    mem.write(tss + 0x66, &0x68u16.to_le_bytes()).map_err(oob)?; // no I/O bitmap
    Ok(())
}

/// The registers a vCPU starts with: long mode on page tables `cr3`, at `entry` on the
/// kernel stack of its block's per-CPU window, with `rdi` as its argument.
pub fn boot_state(flavour: Flavour, block: u64, cr3: u64, entry: u64, rdi: u64) -> BootState {
    let mut msrs = vec![(MSR_STAR, (0x23u64 << 48) | (0x10u64 << 32))];
    if flavour == Flavour::Pvm {
        msrs.push((MSR_PVM_VIF, (block + vcpu_block::VIF) | PVM_VIF_FLAGS));
    }
    if let Some(&entry) = SYSCALL_ENTRY.get().filter(|_| sets_syscall_msrs(flavour)) {
        msrs.push((MSR_LSTAR, entry));
        msrs.push((MSR_FMASK, abi_shared::bootinfo::SYSCALL_FMASK));
    }
    BootState {
        rip: entry,
        rsp: PERCPU_WINDOW_VA + vcpu_block::KSTACK_TOP,
        rdi,
        cr0: 0x8005_0033, // PG AM WP NE ET MP PE
        cr3,
        cr4: 0x1_0620, // FSGSBASE OSXMMEXCPT OSFXSR PAE
        efer: 0xd01,   // NXE LMA LME SCE
        gdt_base: block_va(block) + vcpu_block::GDT,
        gdt_limit: 10 * 8 - 1,
        idt_base: KERNEL_BASE + IDT_GPA,
        idt_limit: 4095,
        tr_base: block_va(block) + vcpu_block::TSS,
        tr_limit: 0x67,
        msrs,
    }
}

/// Where the boot image ended up.
pub struct BootImage {
    /// The kernel's entry point.
    pub entry: u64,
    /// The first free byte after the kernel image (the kernel heap starts there).
    pub free_start: u64,
    /// The next free page of the boot page-table area.
    pub boot_pt_next: u64,
}

/// Lay out the boot image in `mem` (`memory` bytes of guest RAM) for the first vCPU, whose
/// block is `vcpu_block_gpa(0)`.
pub fn lay_out(mem: &GuestMemory, memory: u64, flavour: Flavour) -> Result<BootImage, MachineError> {
    let u = if flavour == Flavour::Pvm { PTE_U } else { 0 };
    let (entry, kernel_end) = load_kernel(mem)?;
    // The kernel heap starts right after the image, in the huge page the image already
    // occupies: a small program's kernel allocations then touch no other 2 MiB of RAM.
    let free_start = (kernel_end + PAGE_SIZE - 1) & !(PAGE_SIZE - 1);
    if free_start + (16 << 20) > memory {
        return Err(MachineError(format!("--memory must be at least {} MiB", (free_start >> 20) + 16)));
    }
    let mut pt = PtAlloc { next: BOOT_PT_START };
    mem.write(KERNEL_PML4_GPA, &[0u8; 8192]).map_err(oob)?;
    let direct_map = memory & !(HUGE_PAGE_SIZE - 1);
    map_range(mem, &mut pt, PHYS_MAP_BASE, 0, direct_map, PTE_P | PTE_W | PTE_NX, u, PageSize::Huge)?;
    map_range(mem, &mut pt, KERNEL_BASE, 0, KERNEL_WINDOW_SIZE, PTE_P | PTE_W, u, PageSize::Huge)?;
    let block = vcpu_block_gpa(0);
    map_range(mem, &mut pt, PERCPU_WINDOW_VA, block, VCPU_BLOCK_SIZE, PTE_P | PTE_W | PTE_NX, u, PageSize::Small)?;
    if flavour == Flavour::Pvm {
        // The user-mode twin: a full copy (the hypervisor hides the upper half itself).
        let top = mem.read_vec(KERNEL_PML4_GPA, PAGE_SIZE).map_err(oob)?;
        mem.write(USER_PML4_GPA, &top).map_err(oob)?;
    }
    write_gdt_tss(mem, block)?;
    Ok(BootImage { entry, free_start, boot_pt_next: pt.next })
}
