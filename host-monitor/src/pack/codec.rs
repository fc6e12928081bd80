//! zstd for the payload. On Linux the C library (the `zstd` crate, level 9: a good ratio
//! at a fast decompression); elsewhere the pure-Rust `ruzstd` (its fastest level, the one
//! it implements), so that the macOS runtime builds without a C cross compiler. Both write
//! and read standard zstd frames: a payload packed on one host runs on the other.

use std::io::Read;

#[cfg(target_os = "linux")]
mod imp {
    use std::io::Read;

    const LEVEL: i32 = 9;

    pub fn compress(plain: &[u8]) -> std::io::Result<Vec<u8>> {
        zstd::bulk::compress(plain, LEVEL)
    }

    pub fn decoder<'a>(compressed: &'a [u8]) -> std::io::Result<impl Read + 'a> {
        zstd::stream::Decoder::with_buffer(compressed)
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use std::io::Read;

    pub fn compress(plain: &[u8]) -> std::io::Result<Vec<u8>> {
        Ok(ruzstd::encoding::compress_to_vec(plain, ruzstd::encoding::CompressionLevel::Fastest))
    }

    pub fn decoder<'a>(compressed: &'a [u8]) -> std::io::Result<impl Read + 'a> {
        ruzstd::decoding::StreamingDecoder::new(compressed).map_err(std::io::Error::other)
    }
}

pub use imp::{compress, decoder};

pub fn decode_all(compressed: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut out = Vec::new();
    decoder(compressed)?.read_to_end(&mut out)?;
    Ok(out)
}
