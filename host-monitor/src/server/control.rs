//! The control family: the handshake, start-up data, the program's end, the guest's logs,
//! traces and panics, kicks, the debugger's stops, and the process-wide host settings the
//! guest asks for (signal dispositions, the descriptor limit, the core pattern).

use abi_shared::hypercall::{
    ControlRequest, ExitHow, GuestSeg, HelloInfo, MalformedReason, Response, PROTOCOL_VERSION,
};

use super::{clock_ns, lock, GuestCounters, GuestOutcome, Server};
use crate::guest_mem::GuestMemory;

impl Server {
    /// Serve one control request.
    pub(super) fn control(&self, mem: &GuestMemory, req: &ControlRequest<'_>) -> Response {
        match req {
            ControlRequest::Hello { version } => self.hello(*version),
            ControlRequest::GetStartup { buf } => self.get_startup(mem, buf.as_slice()),
            ControlRequest::Exit { how, stats } => self.exit(mem, *how, stats.as_slice()),
            ControlRequest::Trace { line } => {
                if self.strace {
                    crate::strace::guest_line(line);
                }
                Response::Ret(0)
            }
            ControlRequest::Panic { message } => {
                *lock(&self.outcome) = Some(GuestOutcome::Panicked(String::from_utf8_lossy(message).into_owned()));
                Response::Ret(0)
            }
            ControlRequest::Log { level, message } => {
                log_guest_line(*level, message);
                Response::Ret(0)
            }
            ControlRequest::SignalDispositions { catch, ignore } => {
                crate::signals::apply(*catch, *ignore);
                Response::Ret(0)
            }
            ControlRequest::SetFdLimit { soft } => {
                // Above the floor, the program may take numbers among the monitor's.
                if i64::try_from(*soft).unwrap_or(i64::MAX) > i64::from(self.fds.floor()) {
                    self.fds.set_shared();
                }
                Response::Ret(crate::startup::set_program_fd_limit(*soft))
            }
            ControlRequest::KickVcpus { vcpus } => {
                crate::threads::kick_vcpus(*vcpus);
                Response::Ret(0)
            }
            // A traced process's stops go to its tracer; otherwise to `--gdb`'s session.
            ControlRequest::DebugStop { event, regs, .. } if self.ptrace().is_traced() => {
                self.ptrace().stopped(*event, regs).map_or(Response::Ret(0), Response::Debug)
            }
            ControlRequest::DebugReply { ok, data, .. } if self.ptrace().is_traced() => {
                self.ptrace().replied(*ok, data).map_or(Response::Ret(0), Response::Debug)
            }
            ControlRequest::DebugStop { tid, event, regs } => match self.debugger.get() {
                Some(d) => d.stopped(*tid, *event, regs),
                None => Response::Ret(0),
            },
            ControlRequest::DebugReply { tid, ok, data } => match self.debugger.get() {
                Some(d) => d.replied(*tid, *ok, data),
                None => Response::Ret(0),
            },
            ControlRequest::CorePattern => Response::Bytes { ret: 0, data: crate::startup::core_pattern() },
        }
    }

    fn hello(&self, version: u32) -> Response {
        if version != PROTOCOL_VERSION {
            return Response::Malformed(MalformedReason::Version);
        }
        Response::Hello(HelloInfo {
            version: PROTOCOL_VERSION,
            realtime_ns: clock_ns(libc::CLOCK_REALTIME),
            monotonic_ns: clock_ns(libc::CLOCK_MONOTONIC),
            startup_len: self.startup.len() as u64,
        })
    }

    fn get_startup(&self, mem: &GuestMemory, buf: &[GuestSeg]) -> Response {
        match mem.write_segs(buf, &self.startup) {
            Ok(n) if n == self.startup.len() => Response::Ret(n as i64),
            Ok(_) => Response::Malformed(MalformedReason::BadLength),
            Err(_) => Response::Malformed(MalformedReason::BadGuestAddress),
        }
    }

    /// The guest's counters arrive as up to four tables of little-endian u64s: per syscall
    /// (in_guest, hypercall) pairs, per syscall failed counts, the bitmap of unimplemented
    /// syscalls, and (kind, value) pairs of unsupported features (0 kind: unused).
    fn exit(&self, mem: &GuestMemory, how: ExitHow, stats: &[GuestSeg]) -> Response {
        let mut tables = Vec::new();
        for seg in stats.iter().take(4) {
            let Ok(bytes) = mem.read_vec(seg.gpa, seg.len.min(16 * 1024)) else {
                return Response::Malformed(MalformedReason::BadGuestAddress);
            };
            let words: Vec<u64> =
                bytes.chunks_exact(8).map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default())).collect();
            tables.push(words);
        }
        let table = |i: usize| tables.get(i).cloned().unwrap_or_default();
        let counters = GuestCounters {
            syscalls: table(0).chunks_exact(2).map(|p| (p[0], p[1])).collect(),
            failed: table(1),
            unimplemented: table(2)
                .iter()
                .enumerate()
                .flat_map(|(w, bits)| (0..64).filter(move |b| bits & (1 << b) != 0).map(move |b| w as u64 * 64 + b))
                .collect(),
            unsupported: table(3).chunks_exact(2).filter(|p| p[0] != 0).map(|p| (p[0], p[1])).collect(),
        };
        self.ptrace().exiting(match how {
            ExitHow::Status(code) => (code & 0xff) << 8,
            ExitHow::Signal(sig) => sig,
            ExitHow::CoreDumped(sig) => sig | 0x80,
        });
        *lock(&self.outcome) = Some(GuestOutcome::Exited(how, counters));
        if let Some(d) = self.debugger.get() {
            d.program_ended(how);
        }
        Response::Ret(0)
    }
}

/// A guest kernel log line: its errors are for the user (e.g. why a program cannot start),
/// the rest shows with `-v`.
fn log_guest_line(level: u8, message: &[u8]) {
    let level = match level {
        0 => log::Level::Error,
        1 => log::Level::Warn,
        2 => log::Level::Info,
        3 => log::Level::Debug,
        _ => log::Level::Trace,
    };
    if level == log::Level::Error {
        crate::diag!("linuxrun: {}", String::from_utf8_lossy(message));
    } else {
        log::log!(target: "guest", level, "{}", String::from_utf8_lossy(message));
    }
}
