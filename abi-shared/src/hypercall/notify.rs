//! inotify.

use serde::{Deserialize, Serialize};

/// `Request::Notify`: see the module documentation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NotifyRequest<'a> {
    // inotify, splice and pidfds: host objects like the rest of the program's descriptors.
    /// inotify_init1 with Linux's IN_NONBLOCK/IN_CLOEXEC `flags`. `Ret(fd)`.
    InotifyInit {
        flags: i32,
    },
    /// inotify_add_watch: `path` is a guest path, resolved in the filesystem view (a final
    /// symlink is not followed with IN_DONT_FOLLOW in `mask`). `Ret(watch descriptor)`.
    InotifyAddWatch {
        fd: i32,
        path: &'a [u8],
        mask: u32,
    },
    InotifyRmWatch {
        fd: i32,
        wd: i32,
    },
}
