//! The TCP connection to gdb as the `gdbstub` crate sees it, doing two things the crate
//! does not:
//!
//! - Output is gathered and sent once per packet (the crate writes a byte at a time: a
//!   system call, and with TCP_NODELAY a segment, for each).
//! - `qXfer:siginfo:read`, gdb's `$_siginfo`, for which the crate has no extension: the
//!   packet is answered here and never reaches the crate, and `qXfer:siginfo:read+` is
//!   added to the crate's qSupported reply, without which gdb never asks. The thread it
//!   is about is the one gdb last chose with `Hg` (gdb chooses before each transfer).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::fd::AsRawFd;
use std::sync::Arc;

use gdbstub::conn::{Connection, ConnectionExt};

use super::Session;

/// What is added to the crate's qSupported reply.
const SIGINFO_FEATURE: &[u8] = b";qXfer:siginfo:read+";
const SIGINFO_READ: &[u8] = b"qXfer:siginfo:read::";
/// How the crate's qSupported reply starts (after the packet's `$`).
const QSUPPORTED_REPLY: &[u8] = b"$PacketSize=";

pub struct Wire {
    stream: TcpStream,
    /// Written by the crate, not yet sent.
    out: Vec<u8>,
    /// Received, not yet split into packets (an incomplete packet waits here).
    raw: Vec<u8>,
    /// Received bytes for the crate.
    ready: VecDeque<u8>,
    /// gdb and the stub stopped acknowledging packets (QStartNoAckMode).
    no_ack: bool,
    /// The thread gdb chose with `Hg` (None: any).
    thread: Option<i32>,
    session: Arc<Session>,
}

/// The most of an unfinished packet kept here (gdb's packets are far smaller).
const MAX_UNFINISHED_PACKET: usize = 1 << 20;

impl Wire {
    pub fn new(stream: TcpStream, session: Arc<Session>) -> Wire {
        Wire { stream, out: Vec::new(), raw: Vec::new(), ready: VecDeque::new(), no_ack: false, thread: None, session }
    }

    pub fn fd(&self) -> i32 {
        self.stream.as_raw_fd()
    }

    /// A received byte for the crate, if one is there.
    pub fn pending(&mut self) -> Option<u8> {
        self.ready.pop_front()
    }

    /// Send what the crate wrote (an acknowledgement is written without a flush).
    pub fn send(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        advertise(&mut self.out);
        let r = Write::write_all(&mut self.stream, &self.out);
        self.out.clear();
        r
    }

    /// Wait for bytes from gdb and take them in (answering what is answered here).
    pub fn receive(&mut self) -> std::io::Result<()> {
        self.send()?;
        let mut buf = [0u8; 4096];
        let n = loop {
            match Read::read(&mut self.stream, &mut buf) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                r => break r?,
            }
        };
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        self.raw.extend_from_slice(&buf[..n]);
        self.split();
        self.send()
    }

    /// Move complete packets and single bytes (acknowledgements, Ctrl-C) from `raw` to the
    /// crate, except the packets answered here.
    fn split(&mut self) {
        loop {
            let Some(start) = self.raw.iter().position(|&b| b == b'$') else {
                self.ready.extend(self.raw.drain(..));
                return;
            };
            self.ready.extend(self.raw.drain(..start));
            let Some(hash) = self.raw.iter().position(|&b| b == b'#') else {
                // A packet that never ends is the crate's to refuse (its buffer is
                // bounded), not ours to keep growing.
                if self.raw.len() > MAX_UNFINISHED_PACKET {
                    self.ready.extend(self.raw.drain(..));
                }
                return;
            };
            if self.raw.len() < hash + 3 {
                return;
            }
            let packet: Vec<u8> = self.raw.drain(..hash + 3).collect();
            let body = &packet[1..hash];
            if let Some(reply) = self.answer(body) {
                if !self.no_ack {
                    self.out.push(b'+');
                }
                self.out.extend_from_slice(&frame(&reply));
                continue;
            }
            self.observe(body);
            self.ready.extend(packet);
        }
    }

    /// Note what the crate's packets change here: the thread gdb chose, ack mode.
    fn observe(&mut self, body: &[u8]) {
        if let Some(id) = body.strip_prefix(b"Hg") {
            self.thread = thread_id(id);
        } else if body == b"QStartNoAckMode" {
            self.no_ack = true;
        }
    }

    /// The reply to a packet answered here, or None for the crate's.
    fn answer(&self, body: &[u8]) -> Option<Vec<u8>> {
        let annex = body.strip_prefix(SIGINFO_READ)?;
        let (offset, len) = offset_and_length(annex)?;
        Some(match self.session.siginfo(self.thread) {
            Some(info) => transfer_reply(&info, offset, len),
            None => b"E01".to_vec(),
        })
    }
}

/// `Hg`'s thread id: `p<pid>.<tid>` or `<tid>`, hex; 0 and -1 name no one thread.
fn thread_id(id: &[u8]) -> Option<i32> {
    let tid = match id.iter().position(|&b| b == b'.') {
        Some(dot) => &id[dot + 1..],
        None => id,
    };
    let tid = i64::from_str_radix(std::str::from_utf8(tid).ok()?, 16).ok()?;
    (tid > 0).then_some(tid as i32)
}

/// `OFFSET,LENGTH` in hex.
fn offset_and_length(annex: &[u8]) -> Option<(usize, usize)> {
    let s = std::str::from_utf8(annex).ok()?;
    let (o, l) = s.split_once(',')?;
    Some((usize::from_str_radix(o, 16).ok()?, usize::from_str_radix(l, 16).ok()?))
}

/// A qXfer read's reply: `m` and the bytes when more follow, `l` with the last ones.
fn transfer_reply(data: &[u8], offset: usize, len: usize) -> Vec<u8> {
    let start = offset.min(data.len());
    let end = data.len().min(start.saturating_add(len));
    let mut reply = vec![if end < data.len() { b'm' } else { b'l' }];
    for &b in &data[start..end] {
        if matches!(b, b'#' | b'$' | b'}' | b'*') {
            reply.extend_from_slice(&[b'}', b ^ 0x20]);
        } else {
            reply.push(b);
        }
    }
    reply
}

/// `$body#checksum`.
fn frame(body: &[u8]) -> Vec<u8> {
    let sum = body.iter().fold(0u8, |a, &b| a.wrapping_add(b));
    let mut out = Vec::with_capacity(body.len() + 4);
    out.push(b'$');
    out.extend_from_slice(body);
    out.extend_from_slice(format!("#{sum:02x}").as_bytes());
    out
}

/// If `out` holds the crate's qSupported reply, add the features answered here (and mend
/// the checksum).
fn advertise(out: &mut Vec<u8>) {
    let Some(start) = out.windows(QSUPPORTED_REPLY.len()).position(|w| w == QSUPPORTED_REPLY) else { return };
    if start > 0 && out[start - 1] != b'+' {
        return;
    }
    let Some(hash) = out[start..].iter().position(|&b| b == b'#').map(|h| start + h) else { return };
    if out.len() < hash + 3 {
        return;
    }
    out.splice(hash..hash, SIGINFO_FEATURE.iter().copied());
    let hash = hash + SIGINFO_FEATURE.len();
    let sum = out[start + 1..hash].iter().fold(0u8, |a, &b| a.wrapping_add(b));
    out[hash + 1..hash + 3].copy_from_slice(format!("{sum:02x}").as_bytes());
}

impl Connection for Wire {
    type Error = std::io::Error;

    fn write(&mut self, byte: u8) -> Result<(), Self::Error> {
        self.out.push(byte);
        Ok(())
    }

    fn write_all(&mut self, buf: &[u8]) -> Result<(), Self::Error> {
        self.out.extend_from_slice(buf);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), Self::Error> {
        self.send()
    }
}

impl ConnectionExt for Wire {
    fn read(&mut self) -> Result<u8, Self::Error> {
        loop {
            if let Some(b) = self.pending() {
                return Ok(b);
            }
            self.receive()?;
        }
    }

    fn peek(&mut self) -> Result<Option<u8>, Self::Error> {
        Ok(self.ready.front().copied())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checksum_ok(packet: &[u8]) -> bool {
        let hash = packet.iter().position(|&b| b == b'#').unwrap();
        let sum = packet[1..hash].iter().fold(0u8, |a, &b| a.wrapping_add(b));
        packet[hash + 1..] == *format!("{sum:02x}").as_bytes()
    }

    #[test]
    fn the_qsupported_reply_gains_siginfo_with_a_good_checksum() {
        let mut out = b"+".to_vec();
        out.extend_from_slice(&frame(b"PacketSize=1000;vContSupported+"));
        advertise(&mut out);
        assert!(out.starts_with(b"+$PacketSize=1000;vContSupported+;qXfer:siginfo:read+#"));
        assert!(checksum_ok(&out[1..]));
        let mut other = frame(b"OK");
        advertise(&mut other);
        assert_eq!(other, frame(b"OK"));
    }

    #[test]
    fn transfers_escape_and_say_whether_more_follows() {
        let data = [b'a', b'#', b'}', b'b'];
        assert_eq!(transfer_reply(&data, 0, 2), b"ma}\x03".to_vec());
        assert_eq!(transfer_reply(&data, 2, 100), b"l}]b".to_vec());
        assert_eq!(transfer_reply(&data, 9, 4), b"l".to_vec());
        assert_eq!(offset_and_length(b"0,fff"), Some((0, 0xfff)));
    }

    #[test]
    fn hg_names_a_thread_or_none() {
        assert_eq!(thread_id(b"p1.1a"), Some(0x1a));
        assert_eq!(thread_id(b"2b"), Some(0x2b));
        assert_eq!(thread_id(b"0"), None);
        assert_eq!(thread_id(b"p1.-1"), None);
    }
}
