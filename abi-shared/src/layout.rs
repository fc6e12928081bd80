//! The guest's physical and virtual memory layout.
//!
//! Guest-physical memory is one region starting at GPA 0. The monitor builds the first page
//! tables, loads the kernel and fills the per-vCPU blocks; the guest kernel owns the page
//! tables from its first instruction on.
//!
//! ```text
//! GPA 0x0000_1000  BootInfo
//! GPA 0x0000_2000  kernel PML4 (8 KiB aligned), user-mode twin at +0x1000 (pvm flavour)
//! GPA 0x0001_0000  page-table pages built by the monitor (up to BOOT_PT_END)
//! GPA 0x0010_0000  IDT (shared by all vCPUs)
//! GPA 0x0020_0000  per-vCPU blocks, VCPU_BLOCK_SIZE each
//! GPA 0x0040_0000  kernel image (linked at KERNEL_BASE + GPA)
//! GPA free_start   the kernel heap, from the page after the image, then the frames the
//!                  guest kernel hands out (user memory, page tables)
//! ```

/// Upper-half base of the kernel image window: kernel VA = KERNEL_BASE + GPA for the first
/// `KERNEL_WINDOW_SIZE` bytes of guest RAM. The code model `kernel` needs the top 2 GiB.
pub const KERNEL_BASE: u64 = 0xffff_ffff_8000_0000;
/// How much of low guest RAM the kernel window maps (the image and its boot structures).
pub const KERNEL_WINDOW_SIZE: u64 = 64 << 20;
/// Direct map of all guest RAM: VA = PHYS_MAP_BASE + GPA (PML4 slot 273, as on Linux).
pub const PHYS_MAP_BASE: u64 = 0xffff_8880_0000_0000;
/// The per-CPU window (top 1 GiB, reachable with 32-bit absolute addresses): each vCPU's page tables map its own block here, so
/// entry code finds its stack and scratch space at a fixed address without `swapgs` (the
/// pvm flavour leaves the user's GS in place on `syscall`).
pub const PERCPU_WINDOW_VA: u64 = 0xffff_ffff_c000_0000;

pub const BOOT_INFO_GPA: u64 = 0x1000;
pub const KERNEL_PML4_GPA: u64 = 0x2000;
/// pvm flavour: the hypervisor runs user mode on the PML4 at CR3 | 0x1000, a full copy.
pub const USER_PML4_GPA: u64 = 0x3000;
pub const BOOT_PT_START: u64 = 0x1_0000;
pub const BOOT_PT_END: u64 = 0x10_0000;
pub const IDT_GPA: u64 = 0x10_0000;

pub const VCPU_BLOCKS_GPA: u64 = 0x20_0000;
pub const VCPU_BLOCK_SIZE: u64 = 0x4_0000;
/// The vCPU blocks between VCPU_BLOCKS_GPA and the kernel image; the blocks of further
/// vCPUs come from guest RAM the guest kernel allocates (2 MiB at a time).
pub const STATIC_VCPU_BLOCKS: u64 = 8;
/// The most vCPUs (so threads running at once) a process has.
pub const MAX_VCPUS: u64 = 256;

/// Offsets inside a per-vCPU block.
pub mod vcpu_block {
    /// pvm flavour: the VIF page registered through MSR 0x4b564d10; CR2 is at +8.
    pub const VIF: u64 = 0x0000;
    /// The guest kernel's per-CPU structure.
    pub const PERCPU: u64 = 0x1000;
    /// u64 in the per-CPU page: the syscall being served (u64::MAX: none), so that the
    /// monitor can name it when the guest dies without a word (triple fault).
    pub const SYSCALL_IN_FLIGHT: u64 = PERCPU + 0x10;
    pub const GDT: u64 = 0x2000;
    pub const TSS: u64 = 0x3000;
    /// Hypercall request area: u32 length, then the postcard-encoded request.
    pub const HC_REQUEST: u64 = 0x4000;
    pub const HC_REQUEST_SIZE: u64 = 0x4000;
    /// Hypercall response area: u32 length, then the postcard-encoded response.
    pub const HC_RESPONSE: u64 = 0x8000;
    pub const HC_RESPONSE_SIZE: u64 = 0x4000;
    /// Control words of the shared-memory transport, each on its own cache line:
    /// u64 request sequence (guest), u64 response sequence (host), u32 "worker asleep".
    pub const HC_CONTROL: u64 = 0xc000;
    pub const HC_REQ_SEQ: u64 = HC_CONTROL;
    pub const HC_RESP_SEQ: u64 = HC_CONTROL + 64;
    pub const HC_WORKER_ASLEEP: u64 = HC_CONTROL + 128;
    /// The guest's earliest timer that raises a signal: u64 deadline on the guest's
    /// monotonic clock (which is the host's CLOCK_MONOTONIC; 0: none) and u64 its Linux
    /// signal. Guest-written. A host thread interrupts the vCPU when it is due, so that a
    /// program looping without syscalls gets its SIGALRM, as on Linux.
    pub const TIMER_DEADLINE: u64 = HC_CONTROL + 0x180;
    pub const TIMER_SIGNAL: u64 = HC_CONTROL + 0x188;
    /// Host-written: the deadline the sleeping worker wakes up by itself for (0: none). A
    /// guest that moves its timer earlier than this rings the wake port.
    pub const WORKER_WAKES_AT: u64 = HC_CONTROL + 0x1c0;
    /// Host-written: guest RAM `[0, value)` is known to the hypervisor. The monitor
    /// registers guest RAM in growing pieces (a memory slot's set-up cost grows with its
    /// size), so the guest must not touch a frame at or above this before asking for more
    /// with `ports::GROW_RAM`.
    pub const RAM_REGISTERED: u64 = HC_CONTROL + 0x1c8;
    /// Guest-written before `ports::GROW_RAM`: the end of guest RAM it needs registered.
    pub const RAM_WANTED: u64 = HC_CONTROL + 0x1d0;
    /// The file window after a touch the host could not serve (a page of a shared file
    /// mapping whose file was truncated below it; KVM_RUN fails with EFAULT): u64,
    /// `WINDOW_RESYNC_ASKED` set by the monitor before it interrupts the vCPU, then the
    /// guest unmaps every page past its file's end and answers 0 (`WINDOW_RESYNC_IDLE`),
    /// or `WINDOW_RESYNC_FOUND_NOTHING` if there was none (the monitor then gives up).
    pub const WINDOW_RESYNC: u64 = HC_CONTROL + 0x1d8;
    pub const WINDOW_RESYNC_IDLE: u64 = 0;
    pub const WINDOW_RESYNC_ASKED: u64 = 1;
    pub const WINDOW_RESYNC_FOUND_NOTHING: u64 = 2;
    /// Guest-written once, in the first vCPU's block, for `-v`'s timing line: the TSC at
    /// the guest kernel's first instruction and just before the program's first, and how
    /// many hypercalls it made in between (u64 each).
    pub const BOOT_TSC_KMAIN: u64 = HC_CONTROL + 0x1e0;
    pub const BOOT_TSC_USER: u64 = HC_CONTROL + 0x1e8;
    pub const BOOT_HYPERCALLS: u64 = HC_CONTROL + 0x1f0;
    /// Signals the host caught for the program and the guest has not taken yet: u64, bit
    /// n-1 = Linux signal n, set by the monitor's signal handler, swapped to 0 by the guest.
    pub const HOST_SIGNALS_PENDING: u64 = HC_CONTROL + 0x200;
    /// Per Linux signal n, at `HOST_SIGNAL_INFO + n * HOST_SIGNAL_INFO_SIZE`: the siginfo
    /// of its latest instance as a `HostSignalInfo` (written before the pending bit is set).
    pub const HOST_SIGNAL_INFO: u64 = HC_CONTROL + 0x400;
    pub const HOST_SIGNAL_INFO_SIZE: u64 = 32;
    /// Real-time signals queue every instance on Linux, so the monitor queues them here
    /// rather than in their one slot: `HOST_RT_QUEUE_LEN` entries of `HostSignalInfo`
    /// whose `pad` word is the entry's state (0 free, 2 being written, `seq << 1 | 1` full;
    /// `seq` from the counter at `HOST_RT_SEQ` orders them). A real-time signal that finds
    /// the queue full goes to its slot as before, and its bit in `HOST_RT_OVERFLOW` says so.
    pub const HOST_RT_SEQ: u64 = HC_CONTROL + 0xc28;
    pub const HOST_RT_OVERFLOW: u64 = HC_CONTROL + 0xc30;
    pub const HOST_RT_QUEUE: u64 = HC_CONTROL + 0xc40;
    pub const HOST_RT_QUEUE_LEN: u64 = 28;
    /// u64: non-zero while a thread owns this block's vCPU. The guest sets it when it gives
    /// the block to a new thread; the monitor stores 0 once that thread's vCPU will never
    /// run again (after `VcpuRequest::ThreadExit`), so the guest may hand the block out anew.
    pub const VCPU_IN_USE: u64 = HC_CONTROL + 0x1000;
    /// u32: the word the thread on this vCPU sleeps on in the host while it waits for a
    /// futex (`FutexRequest::FutexSleep`); a waker stores 1 in it before `FutexRequest::FutexWake`.
    pub const FUTEX_WAKE_WORD: u64 = HC_CONTROL + 0x1040;
    /// A thread's vCPU: its own top of the page tables, which the guest builds (the other
    /// levels are shared with every vCPU of the process): the PML4 (8 KiB aligned, as pvm
    /// wants, with the user-mode twin at +0x1000), then the PDPT, PD and PT that lead to
    /// the per-CPU window, which maps this block.
    pub const PAGE_TABLES: u64 = 0x1_0000;
    pub const PAGE_TABLES_SIZE: u64 = 0x5000;
    /// Stack for double faults and NMIs (IST1), from above the page tables up to here.
    pub const IST1_TOP: u64 = 0x2_0000;
    /// Kernel stack: syscalls and exceptions from user mode (TSS.RSP0).
    pub const KSTACK_TOP: u64 = 0x4_0000;
    /// The guest kernel's entry frame (its `TrapFrame`: 22 u64, r15 first) sits at the top
    /// of the kernel stack: the user registers of the latest entry from user mode, which
    /// the monitor shows when the guest dies without a word (a triple fault).
    pub const ENTRY_FRAME_WORDS: u64 = 22;
    pub const ENTRY_FRAME: u64 = KSTACK_TOP - ENTRY_FRAME_WORDS * 8;
    /// Word indexes in the entry frame.
    pub mod entry_frame {
        pub const R10: u64 = 5;
        pub const RDI: u64 = 9;
        pub const RSI: u64 = 10;
        pub const RDX: u64 = 11;
        pub const RAX: u64 = 14;
        /// The exception vector, or u64::MAX for a syscall.
        pub const VECTOR: u64 = 15;
        pub const ERROR: u64 = 16;
        pub const RIP: u64 = 17;
        pub const CS: u64 = 18;
        pub const RSP: u64 = 20;
    }
}

pub const KERNEL_LOAD_GPA: u64 = 0x40_0000;

/// GDT selectors, Linux's layout (so `STAR` and user-visible CS/SS match Linux).
pub mod selectors {
    pub const KERNEL_CS: u16 = 0x10;
    pub const KERNEL_DS: u16 = 0x18;
    pub const USER32_CS: u16 = 0x23;
    pub const USER_DS: u16 = 0x2b;
    pub const USER_CS: u16 = 0x33;
    pub const TSS: u16 = 0x40;
}

/// The interrupt vector the monitor injects when it caught a signal for a vCPU running user
/// code, so that the guest kernel takes the signal without waiting for a syscall.
pub const SIGNAL_KICK_VECTOR: u8 = 0x20;

/// How long the hypercall worker keeps polling after a request before it sleeps (µs); the
/// guest uses it to tell a burst of requests from a lone one.
pub const WORKER_POLL_MICROS: u64 = 100;

/// Port-I/O doorbells (the exit transport).
pub mod ports {
    /// `out` here: the request in this vCPU's hypercall area is ready; serve it now (an
    /// exit to the monitor's vCPU thread).
    pub const HYPERCALL: u16 = 0x510;
    /// Shared-memory transport: wake the sleeping host worker. Bound to an eventfd inside
    /// the host kernel (ioeventfd), so it costs no exit to the monitor, from the first time
    /// it is rung (that one exits, and the monitor binds it).
    pub const HYPERCALL_WAKE: u16 = 0x511;
    /// Shared-memory transport: the answer is slow in coming (a blocking read, say); stop
    /// this vCPU until it is there instead of spinning.
    pub const HYPERCALL_WAIT: u16 = 0x512;
    /// `out` here: register guest RAM up to at least `vcpu_block::RAM_WANTED` (an exit to
    /// the monitor's vCPU thread, rare: the registered part doubles each time). The
    /// monitor answers in `vcpu_block::RAM_REGISTERED`, unchanged when it cannot.
    pub const GROW_RAM: u16 = 0x513;
    /// Shared-memory transport: `out` here to have the vCPU thread serve the request in
    /// this vCPU's hypercall area (an exit, as `HYPERCALL`) with the worker kept from
    /// polling meanwhile, and then wake the worker, which polls for the requests that
    /// follow. For a request in a burst that finds the worker asleep where waking it costs
    /// the guest as much as an exit (kvm_pvm), and for a read expected to wait.
    pub const HYPERCALL_WORKER_ASLEEP: u16 = 0x514;
    /// Shared-memory transport: wake the sleeping worker by an exit, where the guest does
    /// not use `HYPERCALL_WAKE` (its exits prove the hypervisor dear), so that the monitor
    /// never binds that port: a KVM VM torn down within ~10 ms of getting an ioeventfd
    /// waits about that long on kvm_pvm.
    pub const WORKER_WAKE_BY_EXIT: u16 = 0x515;
}

/// The Linux user address space: the lower half, as on Linux x86_64 with 4-level paging.
pub mod user {
    /// One past the highest user address (TASK_SIZE_MAX).
    pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
    /// Top of the initial stack without ASLR.
    pub const STACK_TOP: u64 = 0x7fff_ffff_f000;
    /// Where PIE executables with an interpreter go (ELF_ET_DYN_BASE without ASLR).
    pub const ET_DYN_BASE: u64 = 0x5555_5555_4000;
    /// Top of the mmap area; mappings are placed top-down below it.
    pub const MMAP_TOP: u64 = 0x7fff_f7ff_f000;
    /// Lowest address mmap hands out (vm.mmap_min_addr).
    pub const MMAP_MIN: u64 = 0x1_0000;
}

/// The file window: guest-physical space beyond the largest guest RAM where the host maps
/// files for MAP_SHARED mappings (a second memory slot over a host reservation). The
/// guest allocates ranges of it and maps user pages to them; the host places the file
/// there with mmap(MAP_SHARED), so both sides share the host's page cache.
pub const FILE_WINDOW_GPA: u64 = 256 << 30;
pub const FILE_WINDOW_SIZE: u64 = 64 << 30;

pub const PAGE_SIZE: u64 = 4096;
pub const HUGE_PAGE_SIZE: u64 = 2 << 20;

/// GPA of vCPU `n`'s block.
pub const fn vcpu_block_gpa(n: u64) -> u64 {
    VCPU_BLOCKS_GPA + n * VCPU_BLOCK_SIZE
}

/// The arm64 guest (docs/arm64.md). Guest RAM starts at GPA 0 as on x86_64, and the GPAs
/// above (BootInfo, the vCPU blocks with their hypercall areas and kernel stacks, the
/// kernel image at `KERNEL_LOAD_GPA`) are the same; what differs is the virtual side and
/// the doorbell.
pub mod arm64 {
    /// The TTBR1 half: VA = KERNEL_BASE + GPA for all guest RAM (the kernel image, the
    /// vCPU blocks, the heap and every frame). The kernel is linked at
    /// KERNEL_BASE + KERNEL_LOAD_GPA. TTBR0 (the lower 48 bits) is the program's.
    pub const KERNEL_BASE: u64 = 0xffff_0000_0000_0000;
    /// A 64-bit store here exits to the monitor (KVM_EXIT_MMIO) with the doorbell number
    /// (`layout::ports`) as its data: the arm64 counterpart of the x86_64 port doorbells.
    /// Outside guest RAM and the file window, below 1 TiB (KVM's default 40-bit IPA space).
    pub const DOORBELL_GPA: u64 = 0xff_0000_0000;
    /// The monitor's boot page tables (4 KiB granule, 48-bit VA): TTBR1's level-0 table and
    /// the level-1 tables of its first two entries (RAM in 1 GiB blocks; the doorbell).
    pub const BOOT_L0_GPA: u64 = 0x2000;
    pub const BOOT_L1_LOW_GPA: u64 = 0x3000;
    pub const BOOT_L1_HIGH_GPA: u64 = 0x4000;
    /// MAIR_EL1: attribute 0 normal write-back memory, attribute 1 Device-nGnRE.
    pub const MAIR: u64 = 0x04_ff;
    pub const ATTR_NORMAL: u64 = 0;
    pub const ATTR_DEVICE: u64 = 1;
    /// TCR_EL1: T0SZ = T1SZ = 16 (48-bit halves), 4 KiB granules, inner-shareable
    /// write-back walks, 40-bit intermediate physical addresses.
    pub const TCR: u64 =
        16 | (1 << 8) | (1 << 10) | (3 << 12) | (16 << 16) | (1 << 24) | (1 << 26) | (3 << 28) | (2 << 30) | (2 << 32);
    /// SCTLR_EL1: MMU, caches, SP alignment checks on, the RES1 bits of ARMv8.0 set (SPAN
    /// among them: PAN stays off on exception entry), and EL0 may use DC ZVA, read CTR_EL0,
    /// run WFI/WFE and cache maintenance by VA, as on Linux.
    pub const SCTLR: u64 = 0x30d0_0800
        | 1
        | (1 << 2)
        | (1 << 3)
        | (1 << 4)
        | (1 << 12)
        | (1 << 14)
        | (1 << 15)
        | (1 << 16)
        | (1 << 18)
        | (1 << 26);
    /// CPACR_EL1.FPEN = 0b11: FP/SIMD do not trap at EL0 or EL1.
    pub const CPACR: u64 = 3 << 20;
    /// PSTATE at the first instruction: EL1h with D, A, I and F masked.
    pub const BOOT_PSTATE: u64 = 0x3c5;
}

// The arm64 doorbell is a page no guest RAM or file-window mapping can cover, in the
// second level-1 table of the boot tables, within a 40-bit IPA space; the boot tables sit
// between BootInfo and the monitor's x86_64 page-table area; TCR has 48-bit halves with
// 4 KiB granules; SCTLR turns the MMU on.
const _: () = {
    const GIB: u64 = 1 << 30;
    assert!(arm64::DOORBELL_GPA >= FILE_WINDOW_GPA + FILE_WINDOW_SIZE);
    assert!(arm64::DOORBELL_GPA < 1 << 40);
    assert!(arm64::DOORBELL_GPA.is_multiple_of(GIB));
    assert!(arm64::DOORBELL_GPA / GIB >= 512 && arm64::DOORBELL_GPA / GIB < 1024);
    assert!(arm64::BOOT_L0_GPA > BOOT_INFO_GPA && arm64::BOOT_L1_HIGH_GPA + PAGE_SIZE <= BOOT_PT_START);
    assert!(arm64::TCR & 0x3f == 16 && (arm64::TCR >> 16) & 0x3f == 16);
    assert!((arm64::TCR >> 14) & 3 == 0 && (arm64::TCR >> 30) & 3 == 2);
    assert!(arm64::SCTLR & 1 == 1);
};
