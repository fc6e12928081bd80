//! Copies through a host buffer: Darwin's sendfile only sends files to sockets and it has
//! no copy_file_range. Compiled everywhere so that Linux tests exercise it.

use super::*;

/// Host buffer size of an emulated copy.
const COPY_BUFFER: usize = 128 * 1024;

/// Copy up to `count` bytes from `fd_in` to `fd_out` through a host buffer: at the given
/// offsets with pread/pwrite (file positions untouched), else at the file positions.
/// Ends at end of input, a short read (a pipe with nothing more now) or a short write;
/// an error after some bytes ends the copy with what was done, as Linux's copies do. Bytes
/// read from a file position but not written are given back with lseek (a pipe's are lost
/// then, which only a failing write causes).
#[cfg_attr(target_os = "linux", allow(dead_code))]
pub fn copy_through_buffer(
    fd_in: c_int,
    off_in: Option<i64>,
    fd_out: c_int,
    off_out: Option<i64>,
    count: u64,
) -> SysResult<i64> {
    if off_in.is_some_and(|o| o < 0) || off_out.is_some_and(|o| o < 0) {
        return Err(EINVAL);
    }
    let mut buf = vec![0u8; COPY_BUFFER.min(count as usize).max(1)];
    let mut done: u64 = 0;
    while done < count {
        let want = (count - done).min(buf.len() as u64) as usize;
        let got = match read_into(fd_in, &mut buf[..want], off_in.map(|o| o + done as i64)) {
            Ok(0) => break,
            Ok(n) => n,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e),
        };
        let mut written = 0usize;
        while written < got {
            let at = off_out.map(|o| o + (done + written as u64) as i64);
            match write_from(fd_out, &buf[written..got], at) {
                Ok(0) => break,
                Ok(n) => written += n,
                Err(e) if done == 0 && written == 0 => {
                    give_back(fd_in, off_in, got);
                    return Err(e);
                }
                Err(_) => break,
            }
        }
        done += written as u64;
        if written < got {
            give_back(fd_in, off_in, got - written);
            break;
        }
        if got < want {
            break;
        }
    }
    Ok(done as i64)
}

/// Move `fd_in`'s position back over `n` bytes read but not written (nothing to do when
/// it was read at an explicit offset).
fn give_back(fd_in: c_int, off_in: Option<i64>, n: usize) {
    if off_in.is_none() && n > 0 {
        // On a pipe it fails harmlessly.
        let _ = lseek(fd_in, -(n as i64), libc::SEEK_CUR);
    }
}
