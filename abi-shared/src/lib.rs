//! Everything the guest kernel and the host monitor must agree on.
//!
//! `no_std` so that the guest kernel can use it; the host uses the same definitions, so a
//! layout or protocol change is a compile-time change on both sides.
#![no_std]

extern crate alloc;

pub mod bootinfo;
pub mod debug;
pub mod hypercall;
pub mod ipc;
pub mod layout;
pub mod linux;
pub mod shebang;
pub mod syscalls;
pub mod vcpus;
