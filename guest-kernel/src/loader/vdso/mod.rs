//! The vDSO: clock reads served in user mode, without entering the kernel, as on Linux.
//!
//! Every program gets, at an mmap-placed address, a read-only "vvar" page holding the clock
//! parameters (vvar.rs) followed by a small ELF shared object (image.rs) whose code
//! (code.rs) reads the TSC and those parameters. The auxv announces the ELF header with
//! AT_SYSINFO_EHDR; glibc and musl then call its `__vdso_clock_gettime` & co. instead of
//! making the syscalls.
//!
//! ```text
//! base                [vvar]  VVAR_SIZE, PROT_READ
//! base + VVAR_SIZE    [vdso]  ELF header ... tables ... code at CODE_OFFSET, PROT_READ|EXEC
//! ```

pub mod image;

// The code is ELF assembly: the guest's own target, and Linux hosts for the unit tests.
#[cfg(any(target_os = "none", target_os = "linux"))]
pub mod code;

/// Size of the vvar page, right below the vDSO image.
pub const VVAR_SIZE: u64 = 4096;
/// Where the code sits in the image (the ELF tables fit below it).
pub const CODE_OFFSET: u64 = 0x800;

/// The functions of the code, in the order of its offset table; each is exported as
/// `__vdso_<name>` and as the weak alias `<name>`, like Linux does.
pub const FUNCTIONS: [&str; 5] = ["clock_gettime", "gettimeofday", "time", "getcpu", "clock_getres"];

/// One function of the code: its offset from the start of the code and its size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Function {
    pub name: &'static str,
    pub offset: u64,
    pub size: u64,
}

#[cfg(target_os = "none")]
pub use kernel::map_into_process;

#[cfg(test)]
mod tests;

#[cfg(target_os = "none")]
mod kernel {
    use super::{code, image, VVAR_SIZE};
    use crate::mm::paging::page_ceil;
    use crate::mm::uaccess;
    use crate::mm::vma::{VmaKind, PROT_EXEC, PROT_READ, PROT_WRITE};
    use crate::mm::SPACE;

    /// Map the vvar page and the vDSO into the current (fresh) address space, filled with
    /// the clock parameters and the image. Returns the vDSO's address (AT_SYSINFO_EHDR).
    pub fn map_into_process() -> Result<u64, i64> {
        let image = image::build(code::bytes(), &code::functions());
        let image_len = page_ceil(image.len() as u64);
        let base = {
            let mut space = SPACE.lock();
            let base = space.find_placement(0, VVAR_SIZE + image_len)?;
            // Writable while the kernel fills them (through the VMAs, like the loader).
            space.map_anon(base, VVAR_SIZE, PROT_READ | PROT_WRITE, true, VmaKind::Vvar)?;
            space.map_anon(base + VVAR_SIZE, image_len, PROT_READ | PROT_WRITE, true, VmaKind::Vdso)?;
            base
        };
        let vdso = base + VVAR_SIZE;
        uaccess::copy_to_user(base, &crate::time::vvar().to_bytes())?;
        uaccess::copy_to_user(vdso, &image)?;
        let mut space = SPACE.lock();
        let denied = -(abi_shared::linux::errno::ENOMEM as i64);
        space.protect(base, vdso, PROT_READ).map_err(|_| denied)?;
        space.protect(vdso, vdso + image_len, PROT_READ | PROT_EXEC).map_err(|_| denied)?;
        Ok(vdso)
    }
}
