//! The hypercall client: encode a request into this vCPU's area, ring the doorbell, decode
//! the answer. Each forwarded syscall is counted against the syscall in flight.

pub mod fds_end;
pub mod transport;

use abi_shared::hypercall::{
    decode_frame, encode_frame, ControlRequest, FsRequest, GuestSeg, MalformedReason, Request, Response, SegList,
};
use abi_shared::layout::{vcpu_block, KERNEL_BASE, PERCPU_WINDOW_VA, PHYS_MAP_BASE};
use abi_shared::linux::{errno, LinuxStat};

fn request_area() -> &'static mut [u8] {
    // SAFETY: the request area of this vCPU's block is mapped in the per-CPU window and only
    // this vCPU uses it, one request at a time.
    unsafe {
        core::slice::from_raw_parts_mut(
            (PERCPU_WINDOW_VA + vcpu_block::HC_REQUEST) as *mut u8,
            vcpu_block::HC_REQUEST_SIZE as usize,
        )
    }
}

fn response_area() -> &'static [u8] {
    // SAFETY: as for the request area; the host wrote the response before the doorbell
    // returned.
    unsafe {
        core::slice::from_raw_parts(
            (PERCPU_WINDOW_VA + vcpu_block::HC_RESPONSE) as *const u8,
            vcpu_block::HC_RESPONSE_SIZE as usize,
        )
    }
}

/// Encode `req` and have the host answer it into the response area; false if it does
/// not fit the request area.
fn exchange(req: &Request<'_>) -> bool {
    if encode_frame(req, request_area()).is_err() {
        return false;
    }
    crate::stats::note_hypercall();
    let must_exit = req.needs_vcpu_thread();
    let read_fd = match req {
        Request::Fs(FsRequest::Read { fd, offset: None, .. }) => Some(*fd),
        _ => None,
    };
    // A request that may make a descriptor voids what is known about where they end, from
    // before it is sent (a thread may ask meanwhile) until after its answer.
    let may_make_fds = !fds_end::only_closes(req);
    if may_make_fds {
        fds_end::may_change();
    }
    transport::ring(must_exit, read_fd);
    if may_make_fds {
        fds_end::may_change();
    }
    true
}

/// Send `req` and wait for the answer. Transport failures become `Malformed`. A `Ret`
/// answer is decoded by hand, as `call_ret` does.
pub fn call(req: &Request<'_>) -> Response {
    if !exchange(req) {
        return Response::Malformed(MalformedReason::BadLength);
    }
    if let Some(v) = abi_shared::hypercall::decode_ret_frame(response_area()) {
        return Response::Ret(v);
    }
    decode_frame::<Response>(response_area()).unwrap_or(Response::Malformed(MalformedReason::Decode))
}

/// Send a request whose answer is a syscall result (`value` or `-errno`). The usual
/// `Ret` answer is decoded by hand (`decode_ret_frame`), the rest as `call` does.
pub fn call_ret(req: &Request<'_>) -> i64 {
    if !exchange(req) {
        return -(errno::EINVAL as i64);
    }
    if let Some(v) = abi_shared::hypercall::decode_ret_frame(response_area()) {
        return v;
    }
    ret_of(decode_frame::<Response>(response_area()).unwrap_or(Response::Malformed(MalformedReason::Decode)))
}

/// Send a request answered with `Stat` (fstat, newfstatat): the struct, or `-errno`. The
/// struct is decoded by hand (`decode_stat_frame`), an error as `call_ret` does.
pub fn call_stat(req: &Request<'_>) -> Result<LinuxStat, i64> {
    if !exchange(req) {
        return Err(-(errno::EINVAL as i64));
    }
    if let Some(st) = abi_shared::hypercall::decode_stat_frame(response_area()) {
        return Ok(st);
    }
    match decode_frame::<Response>(response_area()).unwrap_or(Response::Malformed(MalformedReason::Decode)) {
        Response::Stat(st) => Ok(st),
        other => Err(ret_of(other)),
    }
}

/// The syscall result a `Ret` or `Malformed` answer stands for (EIO for an unexpected one).
/// An open that found /dev/null or /dev/zero is its descriptor for callers that do not
/// serve the device themselves.
pub fn ret_of(resp: Response) -> i64 {
    match resp {
        Response::Ret(v) | Response::OpenedCharDevice { fd: v, .. } => v,
        Response::Malformed(MalformedReason::BadGuestAddress) => -(errno::EFAULT as i64),
        Response::Malformed(MalformedReason::NotAllowed) => -(errno::EPERM as i64),
        Response::Malformed(_) => -(errno::EINVAL as i64),
        _ => -(errno::EIO as i64),
    }
}

/// Guest-physical address of a kernel virtual address (kernel image or direct map).
pub fn kernel_va_to_gpa(va: u64) -> u64 {
    if va >= PERCPU_WINDOW_VA {
        crate::percpu::block_gpa() + (va - PERCPU_WINDOW_VA)
    } else if va >= KERNEL_BASE {
        va - KERNEL_BASE
    } else {
        va - PHYS_MAP_BASE
    }
}

/// A scatter list for a kernel buffer from the heap (which is physically contiguous).
pub fn kernel_buf_seg(buf: &[u8]) -> GuestSeg {
    GuestSeg { gpa: kernel_va_to_gpa(buf.as_ptr() as u64), len: buf.len() as u64 }
}

pub fn log(level: u8, message: &[u8]) {
    let _ = call(&Request::Control(ControlRequest::Log { level, message }));
}

pub fn panic_message(message: &[u8]) {
    let _ = call(&Request::Control(ControlRequest::Panic { message }));
}

pub fn trace(line: &[u8]) {
    let _ = call(&Request::Control(ControlRequest::Trace { line }));
}

/// Read a whole kernel buffer's worth from `fd` at `offset` (the loader's pread).
pub fn pread_kernel(fd: i32, buf: &mut [u8], offset: i64) -> i64 {
    let seg = [kernel_buf_seg(buf)];
    call_ret(&Request::Fs(FsRequest::Read { fd, buf: SegList::Borrowed(&seg), offset: Some(offset) }))
}
