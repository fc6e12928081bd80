//! `#!` scripts as Linux's binfmt_script reads them (fs/binfmt_script.c, Linux 5.1+), for
//! the monitor's start of the first program and a later execve in the guest.
//!
//! Linux looks at the first BINPRM_BUF_SIZE (256) bytes of the file only:
//! - the interpreter path follows `#!` and any spaces/tabs, up to a space, tab or NUL;
//! - everything after it up to the end of the line, spaces and tabs trimmed at both ends,
//!   is ONE optional argument ("#!/bin/a b  c" gives "b  c");
//! - a line longer than the buffer is cut there, which is fine for the argument, but an
//!   interpreter path that might be cut (no space/tab/NUL after it within the buffer) is
//!   ENOEXEC, as is a line with no interpreter at all.
//!
//! The program then runs as `[interpreter, argument?, script path, argv[1..]...]`, and the
//! interpreter may itself be a script: Linux follows at most [`MAX_SCRIPT_DEPTH`] of them.

use alloc::vec::Vec;

/// Linux's BINPRM_BUF_SIZE: how much of the file the `#!` line is read from.
pub const BINPRM_BUF_SIZE: usize = 256;

/// How many scripts Linux follows for one execve (fs/exec.c: a depth above 5 is ELOOP).
pub const MAX_SCRIPT_DEPTH: usize = 5;

/// A parsed `#!` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shebang {
    pub interpreter: Vec<u8>,
    pub arg: Option<Vec<u8>>,
}

/// The `#!` line was unusable: execve fails with ENOEXEC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoExec;

/// The `#!` line of a file that starts with `head` (its first bytes; at least the first
/// BINPRM_BUF_SIZE if the file has that many). None if the file is not a script.
pub fn parse(head: &[u8]) -> Option<Result<Shebang, NoExec>> {
    if !head.starts_with(b"#!") {
        return None;
    }
    // The buffer as Linux has it: the file's first bytes, NUL-padded.
    let mut buf = [0u8; BINPRM_BUF_SIZE];
    let n = head.len().min(BINPRM_BUF_SIZE);
    buf[..n].copy_from_slice(&head[..n]);
    Some(parse_buffer(&mut buf))
}

fn is_space_or_tab(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

fn parse_buffer(buf: &mut [u8; BINPRM_BUF_SIZE]) -> Result<Shebang, NoExec> {
    let last = BINPRM_BUF_SIZE - 1;
    // Linux's strnchr: the newline is looked for up to the first NUL.
    let end = match buf.iter().take_while(|&&b| b != 0).position(|&b| b == b'\n') {
        Some(newline) => newline,
        None => {
            // No newline: the line may be cut. Refuse unless the interpreter path ends
            // (space, tab or NUL) within the buffer.
            let start = (2..=last).find(|&i| !is_space_or_tab(buf[i])).ok_or(NoExec)?;
            (start..=last).find(|&i| is_space_or_tab(buf[i]) || buf[i] == 0).ok_or(NoExec)?;
            last
        }
    };
    buf[end] = 0;
    // From here on the line is a C string: it ends at the first NUL.
    let line_end = buf[..end].iter().position(|&b| b == 0).unwrap_or(end);
    let mut trimmed_end = end;
    while trimmed_end > 0 && is_space_or_tab(buf[trimmed_end - 1]) {
        trimmed_end -= 1;
        buf[trimmed_end] = 0;
    }
    let line = &buf[..line_end.min(trimmed_end).max(2)];
    let name_start = (2..line.len()).find(|&i| !is_space_or_tab(line[i])).ok_or(NoExec)?;
    let name_end = (name_start..line.len()).find(|&i| is_space_or_tab(line[i])).unwrap_or(line.len());
    let arg_start = (name_end..line.len()).find(|&i| !is_space_or_tab(line[i]));
    Ok(Shebang { interpreter: line[name_start..name_end].to_vec(), arg: arg_start.map(|i| line[i..].to_vec()) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec;

    fn sb(interp: &str, arg: Option<&str>) -> Option<Result<Shebang, NoExec>> {
        Some(Ok(Shebang { interpreter: interp.as_bytes().to_vec(), arg: arg.map(|a| a.as_bytes().to_vec()) }))
    }

    #[test]
    fn interpreter_and_one_argument() {
        assert_eq!(parse(b"#!/bin/sh\necho hi\n"), sb("/bin/sh", None));
        assert_eq!(parse(b"#! /bin/sh -e\n"), sb("/bin/sh", Some("-e")));
        assert_eq!(parse(b"#!\t/usr/bin/env  python3 -u \t\nprint()\n"), sb("/usr/bin/env", Some("python3 -u")));
        assert_eq!(parse(b"#!/bin/busybox echo  a  b  \t \n"), sb("/bin/busybox", Some("echo  a  b")));
        assert_eq!(parse(b"#!./relative"), sb("./relative", None), "no newline, file ends: NUL-padded");
        assert_eq!(parse(b"#!/bin/sh\r\n"), sb("/bin/sh\r", None), "a CR is part of the name, as on Linux");
    }

    #[test]
    fn not_scripts_and_unusable_lines() {
        assert_eq!(parse(b"\x7fELF"), None);
        assert_eq!(parse(b"#"), None);
        assert_eq!(parse(b"#!\n"), Some(Err(NoExec)));
        assert_eq!(parse(b"#!   \t \n"), Some(Err(NoExec)));
        assert_eq!(parse(b"#!"), Some(Err(NoExec)));
    }

    #[test]
    fn a_nul_ends_the_line() {
        assert_eq!(parse(b"#!/bin/a\0b c\n"), sb("/bin/a", None));
        assert_eq!(parse(b"#!/bin/a x\0y\n"), sb("/bin/a", Some("x")));
    }

    #[test]
    fn long_lines_cut_the_argument_but_never_the_interpreter() {
        // A long argument is cut at the buffer's end (255 bytes of line).
        let mut line = b"#!/bin/busybox echo ".to_vec();
        line.extend(vec![b'y'; 300]);
        line.push(b'\n');
        let got = parse(&line).unwrap().unwrap();
        assert_eq!(got.interpreter, b"/bin/busybox");
        let arg = got.arg.unwrap();
        assert_eq!(arg.len(), 255 - b"#!/bin/busybox ".len());
        assert!(arg.starts_with(b"echo yyy"));
        // An interpreter path that does not end within the buffer: ENOEXEC.
        let mut line = b"#!/bin/".to_vec();
        line.extend(vec![b'b'; 300]);
        line.extend(b" x\n");
        assert_eq!(parse(&line), Some(Err(NoExec)));
        // One that ends exactly at the last byte is not known to be complete either.
        let mut line = b"#!/".to_vec();
        line.extend(vec![b'c'; 253]);
        assert_eq!(line.len(), 256);
        assert_eq!(parse(&line), Some(Err(NoExec)));
        // A newline within the buffer: fine however long the file is.
        let mut line = b"#!/bin/sh\n".to_vec();
        line.extend(vec![b'z'; 1000]);
        assert_eq!(parse(&line), sb("/bin/sh", None));
    }
}
