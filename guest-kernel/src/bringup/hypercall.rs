//! The hypercall client on the MMIO doorbell: encode a request into this vCPU's request
//! area, ring, decode the answer. Every request takes an exit for now; the shared-memory
//! worker of the x86_64 kernel (hypercall/transport.rs) is the later, faster path.

use abi_shared::hypercall::{
    decode_frame, encode_frame, ControlRequest, FsRequest, GuestSeg, MalformedReason, Request, Response,
};
use abi_shared::layout::{ports, vcpu_block, vcpu_block_gpa};
use abi_shared::linux::errno;

use crate::arch::{phys_to_virt, virt_to_phys};

fn area(offset: u64, size: u64) -> &'static mut [u8] {
    // SAFETY: the first vCPU's block lies in guest RAM (direct map); only this vCPU uses its
    // hypercall areas, one request at a time.
    unsafe { core::slice::from_raw_parts_mut(phys_to_virt(vcpu_block_gpa(0) + offset) as *mut u8, size as usize) }
}

fn exchange(req: &Request<'_>) -> bool {
    if encode_frame(req, area(vcpu_block::HC_REQUEST, vcpu_block::HC_REQUEST_SIZE)).is_err() {
        return false;
    }
    crate::arch::ring(ports::HYPERCALL);
    true
}

/// Send `req` and wait for the answer.
pub fn call(req: &Request<'_>) -> Response {
    if !exchange(req) {
        return Response::Malformed(MalformedReason::BadLength);
    }
    decode_frame::<Response>(area(vcpu_block::HC_RESPONSE, vcpu_block::HC_RESPONSE_SIZE))
        .unwrap_or(Response::Malformed(MalformedReason::Decode))
}

/// Send a request answered with a syscall result (`value` or `-errno`).
pub fn call_ret(req: &Request<'_>) -> i64 {
    ret_of(call(req))
}

/// The syscall result an answer stands for (EIO for an unexpected one).
pub fn ret_of(resp: Response) -> i64 {
    match resp {
        Response::Ret(v) => v,
        Response::Malformed(MalformedReason::BadGuestAddress) => -(errno::EFAULT as i64),
        Response::Malformed(MalformedReason::NotAllowed) => -(errno::EPERM as i64),
        Response::Malformed(_) => -(errno::EINVAL as i64),
        _ => -(errno::EIO as i64),
    }
}

/// A scatter list entry for a kernel buffer from the heap (physically contiguous).
pub fn kernel_buf_seg(buf: &[u8]) -> GuestSeg {
    GuestSeg { gpa: virt_to_phys(buf.as_ptr() as u64), len: buf.len() as u64 }
}

pub fn panic_message(message: &[u8]) {
    let _ = call(&Request::Control(ControlRequest::Panic { message }));
}

pub fn log(level: u8, message: &[u8]) {
    let _ = call(&Request::Control(ControlRequest::Log { level, message }));
}

/// Read a whole kernel buffer's worth from `fd` at `offset` (the loader's pread).
pub fn pread_kernel(fd: i32, buf: &mut [u8], offset: i64) -> i64 {
    let seg = [kernel_buf_seg(buf)];
    call_ret(&Request::Fs(FsRequest::Read {
        fd,
        buf: abi_shared::hypercall::SegList::Borrowed(&seg),
        offset: Some(offset),
    }))
}
