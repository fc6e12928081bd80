//! Unit tests of the hypercall server that need a Linux host: they make the host calls
//! the Linux personality makes (splice into pipes, pidfds, CPU-time clocks of threads,
//! per-thread credentials). They live with the Linux personality so that `server/` stays
//! free of host conditions (docs/design-notes.md).

mod clock {
    use crate::server::clock::handle;
    use abi_shared::hypercall::ClockRequest;
    use abi_shared::hypercall::Response;
    use abi_shared::linux::errno;

    #[test]
    fn the_process_clock_counts_cpu_time_and_bad_clocks_are_einval() {
        // CLOCK_PROCESS_CPUTIME_ID of "this process" encoded with pid 0.
        let clock = (!0i32 << 3) | 2;
        let Response::Ret(a) = handle(&ClockRequest::CpuClock { clock, res: false }) else { panic!() };
        let mut x = 0u64;
        for i in 0..2_000_000u64 {
            x = std::hint::black_box(x.wrapping_add(i));
        }
        let Response::Ret(b) = handle(&ClockRequest::CpuClock { clock, res: false }) else { panic!() };
        assert!(a > 0 && b > a, "{a} {b}");
        assert_eq!(handle(&ClockRequest::CpuClock { clock, res: true }), Response::Ret(1));
        // A thread clock of a thread that is not ours.
        let other = (!1i32 << 3) | 6;
        assert_eq!(
            handle(&ClockRequest::CpuClock { clock: other, res: false }),
            Response::Ret(-i64::from(errno::EINVAL))
        );
    }

    #[test]
    fn a_monitor_thread_is_not_another_process() {
        let me = crate::host::sys::getpid();
        // SAFETY: gettid takes no arguments.
        let tid = unsafe { libc::gettid() };
        if tid != me {
            assert_eq!(
                handle(&ClockRequest::SchedRrGetInterval { pid: tid, own: false }),
                Response::Ret(-i64::from(errno::ESRCH))
            );
        }
        assert!(
            matches!(handle(&ClockRequest::SchedRrGetInterval { pid: tid, own: true }), Response::Ret(n) if n >= 0)
        );
    }
}

mod pidfd {
    use crate::guest_mem::GuestMemory;
    use crate::host::sys;
    use crate::server::pidfd::handle;
    use crate::server::FdGuard;
    use abi_shared::hypercall::PidfdRequest;
    use abi_shared::hypercall::Response;
    use abi_shared::linux::errno::EBADF;
    use std::os::fd::AsRawFd;

    fn serve(fds: &FdGuard, req: PidfdRequest<'_>) -> Response {
        let mut ram = vec![0u8; 4096];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        handle(fds, &mem, &req)
    }

    const BAD: Response = Response::Ret(-(EBADF as i64));

    #[test]
    fn getfd_cannot_reach_the_monitors_descriptors() {
        let fds = FdGuard::default();
        let own = sys::pidfd_open(sys::getpid(), 0).expect("a pidfd of the test process");
        let file = std::fs::File::open("/dev/null").unwrap();
        let target = file.as_raw_fd();
        let getfd = |fds: &FdGuard| serve(fds, PidfdRequest::PidfdGetfd { pidfd: own, targetfd: target, flags: 0 });
        fds.reserve(target);
        assert_eq!(getfd(&fds), BAD, "a reserved descriptor");
        fds.unreserve(target);
        fds.set_floor(target);
        assert_eq!(getfd(&fds), BAD, "a descriptor at the floor");
        fds.set_floor(target + 1);
        match getfd(&fds) {
            Response::Ret(fd) if fd >= 0 => sys::close_quietly(fd as i32),
            other => panic!("a program's descriptor below the floor: {other:?}"),
        }
        sys::close_quietly(own);
    }

    #[test]
    fn pidfd_pid_names_the_process_and_refuses_other_descriptors() {
        let fds = FdGuard::default();
        let own = sys::pidfd_open(sys::getpid(), 0).expect("a pidfd of the test process");
        assert_eq!(serve(&fds, PidfdRequest::PidfdPid { fd: own }), Response::Ret(sys::getpid().into()));
        let file = std::fs::File::open("/dev/null").unwrap();
        assert_eq!(serve(&fds, PidfdRequest::PidfdPid { fd: file.as_raw_fd() }), BAD);
        fds.reserve(own);
        assert_eq!(serve(&fds, PidfdRequest::PidfdPid { fd: own }), BAD);
        sys::close_quietly(own);
    }
}

mod splice {
    use crate::guest_mem::GuestMemory;
    use crate::host::sys;
    use crate::server::splice::handle;
    use crate::server::FdGuard;
    use abi_shared::hypercall::GuestSeg;
    use abi_shared::hypercall::SpliceRequest;
    use abi_shared::hypercall::{Response, SegList};
    use abi_shared::linux::{errno, general};
    use std::io::Read;
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

    fn pipe() -> (std::fs::File, OwnedFd) {
        let [r, w] = sys::pipe2(libc::O_CLOEXEC).unwrap();
        // SAFETY: pipe2 made two new descriptors nothing else owns.
        unsafe { (std::fs::File::from_raw_fd(r), OwnedFd::from_raw_fd(w)) }
    }

    #[test]
    fn vmsplice_copies_guest_memory_into_a_pipe_and_only_a_pipe() {
        let mut ram = vec![0u8; 8192];
        ram[100..105].copy_from_slice(b"hello");
        ram[5000..5006].copy_from_slice(b" world");
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let fds = FdGuard::default();
        let (mut read_end, write_end) = pipe();
        let segs = [GuestSeg { gpa: 100, len: 5 }, GuestSeg { gpa: 5000, len: 6 }];
        let req = |fd| SpliceRequest::Vmsplice { fd, buf: SegList::Borrowed(&segs), to_pipe: true, flags: 0 };
        assert_eq!(handle(&fds, &mem, &req(write_end.as_raw_fd())), Response::Ret(11));
        let mut got = [0u8; 11];
        read_end.read_exact(&mut got).unwrap();
        assert_eq!(&got, b"hello world");

        let file = std::fs::File::open("/dev/null").unwrap();
        let ebadf = Response::Ret(-i64::from(errno::EBADF));
        assert_eq!(handle(&fds, &mem, &req(file.as_raw_fd())), ebadf, "not a pipe");
        fds.reserve(write_end.as_raw_fd());
        assert_eq!(handle(&fds, &mem, &req(write_end.as_raw_fd())), ebadf, "the monitor's");
        let outside = [GuestSeg { gpa: 8000, len: 500 }];
        fds.unreserve(write_end.as_raw_fd());
        let r = SpliceRequest::Vmsplice {
            fd: write_end.as_raw_fd(),
            buf: SegList::Borrowed(&outside),
            to_pipe: true,
            flags: 0,
        };
        assert_eq!(
            handle(&fds, &mem, &r),
            Response::Malformed(abi_shared::hypercall::MalformedReason::BadGuestAddress)
        );
    }

    #[test]
    fn vmsplice_nonblock_on_an_empty_pipe_is_eagain() {
        let mut ram = vec![0u8; 4096];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let (read_end, _write_end) = pipe();
        let segs = [GuestSeg { gpa: 0, len: 16 }];
        let req = SpliceRequest::Vmsplice {
            fd: read_end.as_raw_fd(),
            buf: SegList::Borrowed(&segs),
            to_pipe: false,
            flags: general::SPLICE_F_NONBLOCK,
        };
        assert_eq!(handle(&FdGuard::default(), &mem, &req), Response::Ret(-i64::from(errno::EAGAIN)));
    }
}

mod creds {
    use crate::guest_mem::GuestMemory;
    use crate::host::sys;
    use crate::server::creds::{handle, mark_first_vcpu_thread, FirstVcpuChanges};
    use abi_shared::hypercall::{CredOp, Response};
    use abi_shared::linux::errno;

    /// A credential change on one host thread leaves the others as they were (the raw,
    /// per-thread call), and a follower started before it reaches the same state by making
    /// the same calls. Changing ids needs root; without it the change must be refused.
    #[test]
    fn a_change_is_the_calling_threads_and_a_follower_makes_it_too() {
        use std::sync::mpsc::channel;
        let before = sys::thread_creds();
        let first = std::sync::Arc::new(FirstVcpuChanges::default());
        let (go_tx, go_rx) = channel::<()>();
        let f = first.clone();
        let follower = std::thread::spawn(move || {
            let old = sys::thread_creds();
            go_rx.recv().unwrap();
            f.follow();
            (old, sys::thread_creds())
        });
        let f = first.clone();
        let changed = std::thread::spawn(move || {
            mark_first_vcpu_thread();
            let mut m = vec![0u8; 4096];
            let mem = GuestMemory::from_vec_for_test(&mut m);
            handle(&f, &mem, &CredOp::Setresuid(u32::MAX, 65534, u32::MAX))
        })
        .join()
        .unwrap();
        go_tx.send(()).unwrap();
        let (old, followed) = follower.join().unwrap();
        // This thread was never changed, nor the follower before it followed.
        assert_eq!(sys::thread_creds().uids, before.uids);
        assert_eq!(old.uids, before.uids);
        let Response::Creds(st) = changed else { panic!("{changed:?}") };
        if before.uids[1] == 0 {
            assert_eq!(st.ret, 0);
            assert_eq!(st.uids, [before.uids[0], 65534, before.uids[2], 65534], "the fs uid follows");
            assert_eq!(followed.uids, st.uids);
            assert_eq!(followed.caps, st.caps);
        } else {
            assert_eq!(st.ret, -i64::from(errno::EPERM));
            assert_eq!(followed.uids, before.uids);
        }
    }
}

mod procfs {
    use crate::guest_mem::GuestMemory;
    use crate::server::procfs::handle;
    use crate::server::FdGuard;
    use abi_shared::hypercall::{ProcfsRequest, Response};
    use abi_shared::linux::{errno, general};
    use std::fs::File;
    use std::io::Read;
    use std::os::fd::FromRawFd;

    /// The descriptor a request made, closed when the test is done with it.
    fn adopt(fd: i64) -> File {
        assert!(fd >= 0, "a descriptor, not an error: {fd}");
        // SAFETY: the request made a new descriptor that nothing else owns.
        unsafe { File::from_raw_fd(fd as i32) }
    }

    fn open_host(path: &[u8]) -> Response {
        let mut ram = vec![0u8; 4096];
        let mem = GuestMemory::from_vec_for_test(&mut ram);
        let flags = (general::O_RDONLY | general::O_CLOEXEC) as i32;
        handle(&FdGuard::default(), &mem, &ProcfsRequest::OpenHostProc { path, flags, mode: 0 })
    }

    #[test]
    fn host_proc_opens_the_machine_and_refuses_our_own_process() {
        let eacces = Response::Ret(-(errno::EACCES as i64));
        // Our own entries would be the monitor's: refused, however they are named.
        assert_eq!(open_host(b"self/mem"), eacces);
        assert_eq!(open_host(b"thread-self/status"), eacces);
        assert_eq!(open_host(format!("{}/mem", std::process::id()).as_bytes()), eacces);
        // SAFETY: gettid takes no arguments and cannot fail.
        let tid = unsafe { libc::gettid() };
        assert_eq!(open_host(format!("{tid}/status").as_bytes()), eacces);
        // Paths must stay below /proc.
        let bad = open_host(b"../etc/passwd");
        assert!(matches!(bad, Response::Malformed(_)), "{bad:?}");
        assert!(matches!(open_host(b"1//stat"), Response::Malformed(_)));
        // The machine's files and other processes open as the host's.
        let mut meminfo = String::new();
        adopt(match open_host(b"meminfo") {
            Response::Ret(fd) => fd,
            other => panic!("{other:?}"),
        })
        .read_to_string(&mut meminfo)
        .unwrap();
        assert!(meminfo.starts_with("MemTotal:"), "{meminfo}");
        assert!(matches!(open_host(b"1/stat"), Response::Ret(fd) if fd >= 0 && { drop(adopt(fd)); true }));
        assert_eq!(open_host(b"no-such-name"), Response::Ret(-(errno::ENOENT as i64)));
    }
}
