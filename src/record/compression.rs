//! Batch compression codecs. Batches are stored and served compressed; whole
//! bodies are decompressed here when individual records must be read (timestamp
//! lookup, compaction, re-compression). Produce validation reads compressed
//! batches incrementally instead (see `stream`).

use std::io::{Read, Write};

use super::RecordError;

/// Largest decompressed batch body accepted, in bytes (256 MiB). Guards against
/// decompression bombs: a 1 MiB batch inflating without bound would take the broker down.
pub const MAX_DECOMPRESSED_BYTES: usize = 256 * 1024 * 1024;

/// xerial snappy-java stream header: magic, then version and min-compatible version.
pub(super) const XERIAL_MAGIC: [u8; 8] = [0x82, b'S', b'N', b'A', b'P', b'P', b'Y', 0];
/// Bytes of the xerial header: 8 magic + 4 version + 4 compatible version.
pub(super) const XERIAL_HEADER_BYTES: usize = 16;
/// Uncompressed bytes per xerial block; snappy-java's default (32 KiB).
const XERIAL_BLOCK_BYTES: usize = 32 * 1024;
/// zstd level Kafka's producer uses by default.
const ZSTD_LEVEL: i32 = 3;

/// Batch codec, attributes bits 0-2.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Snappy,
    Lz4,
    Zstd,
}

impl Compression {
    /// Every codec, in id order (tests and fuzz harnesses iterate over them).
    pub const ALL: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    /// Maps the 3-bit attribute id; 5-7 are reserved and rejected.
    pub fn from_id(id: u8) -> Result<Compression, RecordError> {
        match id {
            0 => Ok(Compression::None),
            1 => Ok(Compression::Gzip),
            2 => Ok(Compression::Snappy),
            3 => Ok(Compression::Lz4),
            4 => Ok(Compression::Zstd),
            other => Err(RecordError::UnsupportedCompression(other)),
        }
    }

    /// The 3-bit id stored in batch attributes.
    pub fn id(self) -> u8 {
        match self {
            Compression::None => 0,
            Compression::Gzip => 1,
            Compression::Snappy => 2,
            Compression::Lz4 => 3,
            Compression::Zstd => 4,
        }
    }
}

fn dec_err(e: impl std::fmt::Display) -> RecordError {
    RecordError::Decompress(e.to_string())
}

/// Reads a decoder to the end, refusing more than MAX_DECOMPRESSED_BYTES.
fn read_capped(reader: impl Read) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    reader
        .take(MAX_DECOMPRESSED_BYTES as u64 + 1)
        .read_to_end(&mut out)
        .map_err(dec_err)?;
    if out.len() > MAX_DECOMPRESSED_BYTES {
        return Err(RecordError::Decompress(format!(
            "decompressed size exceeds {MAX_DECOMPRESSED_BYTES} bytes"
        )));
    }
    Ok(out)
}

/// Decompresses a batch's records section.
pub fn decompress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        // Java's GZIPInputStream accepts concatenated members, so do we.
        Compression::Gzip => read_capped(flate2::read::MultiGzDecoder::new(data)),
        Compression::Snappy => {
            if data.len() >= XERIAL_HEADER_BYTES && data[..8] == XERIAL_MAGIC {
                snappy_xerial_decompress(&data[XERIAL_HEADER_BYTES..])
            } else {
                snappy_raw_decompress(data, MAX_DECOMPRESSED_BYTES)
            }
        }
        Compression::Lz4 => read_capped(lz4_flex::frame::FrameDecoder::new(data)),
        Compression::Zstd => read_capped(zstd::stream::read::Decoder::new(data).map_err(dec_err)?),
    }
}

fn snappy_raw_decompress(data: &[u8], budget: usize) -> Result<Vec<u8>, RecordError> {
    let len = snap::raw::decompress_len(data).map_err(dec_err)?;
    if len > budget {
        return Err(RecordError::Decompress(format!(
            "decompressed size exceeds {MAX_DECOMPRESSED_BYTES} bytes"
        )));
    }
    snap::raw::Decoder::new()
        .decompress_vec(data)
        .map_err(dec_err)
}

/// Body after the xerial header: repeated (u32 BE compressed length, raw snappy block).
fn snappy_xerial_decompress(mut blocks: &[u8]) -> Result<Vec<u8>, RecordError> {
    let mut out = Vec::new();
    while !blocks.is_empty() {
        if blocks.len() < 4 {
            return Err(RecordError::Decompress(
                "truncated xerial block length".into(),
            ));
        }
        let len = u32::from_be_bytes([blocks[0], blocks[1], blocks[2], blocks[3]]) as usize;
        let body = blocks
            .get(4..4usize.saturating_add(len))
            .ok_or_else(|| RecordError::Decompress("truncated xerial block".into()))?;
        let chunk = snappy_raw_decompress(body, MAX_DECOMPRESSED_BYTES - out.len())?;
        out.extend_from_slice(&chunk);
        blocks = &blocks[4 + len..];
    }
    Ok(out)
}

fn comp_err(e: impl std::fmt::Display) -> RecordError {
    RecordError::Compress(e.to_string())
}

/// Compresses a records section the way Kafka's Java producer would (snappy in xerial
/// framing, lz4 frame format with independent blocks, zstd level 3).
pub fn compress(codec: Compression, data: &[u8]) -> Result<Vec<u8>, RecordError> {
    match codec {
        Compression::None => Ok(data.to_vec()),
        Compression::Gzip => {
            let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            enc.write_all(data).map_err(comp_err)?;
            enc.finish().map_err(comp_err)
        }
        Compression::Snappy => {
            let mut out = Vec::with_capacity(XERIAL_HEADER_BYTES + data.len() / 2);
            out.extend_from_slice(&XERIAL_MAGIC);
            out.extend_from_slice(&1i32.to_be_bytes()); // version
            out.extend_from_slice(&1i32.to_be_bytes()); // minimum compatible version
            let mut enc = snap::raw::Encoder::new();
            for chunk in data.chunks(XERIAL_BLOCK_BYTES) {
                let block = enc.compress_vec(chunk).map_err(comp_err)?;
                let len = u32::try_from(block.len()).map_err(comp_err)?;
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(&block);
            }
            Ok(out)
        }
        Compression::Lz4 => {
            let mut enc = lz4_flex::frame::FrameEncoder::new(Vec::new());
            enc.write_all(data).map_err(comp_err)?;
            enc.finish().map_err(comp_err)
        }
        Compression::Zstd => zstd::stream::encode_all(data, ZSTD_LEVEL).map_err(comp_err),
    }
}
