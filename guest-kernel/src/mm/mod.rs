//! User memory: VMAs, demand paging, brk and the mmap family; and the kernel's own frames
//! and heap.

pub mod vma;
pub mod window;

#[cfg(target_os = "none")]
pub mod fault;
#[cfg(target_os = "none")]
mod filemap;
#[cfg(target_os = "none")]
pub mod frame;
#[cfg(target_os = "none")]
pub mod heap;
#[cfg(target_os = "none")]
pub mod paging;
#[cfg(target_os = "none")]
mod release;
#[cfg(target_os = "none")]
mod space;
#[cfg(target_os = "none")]
pub mod tlb;
#[cfg(target_os = "none")]
pub mod uaccess;
#[cfg(target_os = "none")]
pub mod vcpu_roots;
#[cfg(target_os = "none")]
pub mod vfork;

#[cfg(target_os = "none")]
pub use space::*;
