//! Reading a compressed records section record by record, in bounded memory.
//!
//! Produce validation must look at every record of every batch, but a 1 MiB batch
//! may inflate to hundreds of MiB. [`StreamSource`] pulls decompressed bytes through
//! one fixed buffer and skips keys and values instead of keeping them, so the memory
//! a batch costs is the buffer plus the decoder's own state (gzip's 32 KiB window,
//! an lz4 block of at most 4 MiB, zstd's window), never the decompressed body.
//!
//! Snappy is the exception: raw snappy (what librdkafka sends) has no blocks and its
//! copies may reach back to any earlier byte, so it can only be decoded whole; it is
//! bounded by what snappy can encode in the bytes given ([`snappy_raw_len`]).
//! Xerial-framed snappy (the Java client's) is decoded one block at a time.

use std::io::{self, Read};

use super::compression::{XERIAL_HEADER_BYTES, XERIAL_MAGIC};
use super::records::{unsigned_slow, RecordSource};
use super::{RecordDefect, MAX_DECOMPRESSED_BYTES};

/// Decompressed bytes pulled from the decoder per read, in bytes. Big enough that
/// the per-read overhead vanishes next to decoding, small enough to stay in L1/L2.
const STREAM_BUFFER_BYTES: usize = 32 * 1024;

/// Most output bytes snappy can encode per input byte: a 3-byte copy element yields
/// at most 64 bytes (21.3x), rounded up. A declared length above this is a lie.
const SNAPPY_MAX_EXPANSION: usize = 22;

/// A decoder read through one fixed buffer, as a [`RecordSource`] that skips the
/// bytes it is asked to take.
pub(crate) struct StreamSource<R> {
    inner: R,
    buf: Box<[u8]>,
    /// Next unread byte of `buf`.
    start: usize,
    /// Bytes of `buf` filled by the last read.
    end: usize,
    /// Section bytes consumed before `buf[0]`.
    before: usize,
    eof: bool,
}

impl<R: Read> StreamSource<R> {
    pub(crate) fn new(inner: R) -> StreamSource<R> {
        StreamSource {
            inner,
            buf: vec![0u8; STREAM_BUFFER_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
            before: 0,
            eof: false,
        }
    }

    /// Makes at least one unread byte available; false at the end of the stream.
    #[inline]
    fn fill(&mut self) -> Result<bool, RecordDefect> {
        if self.start < self.end {
            return Ok(true);
        }
        if self.eof {
            return Ok(false);
        }
        self.refill()
    }

    #[cold]
    fn refill(&mut self) -> Result<bool, RecordDefect> {
        self.before += self.end;
        self.start = 0;
        self.end = 0;
        let n = loop {
            match self.inner.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(RecordDefect::Decompress(e.to_string())),
            }
        };
        if n == 0 {
            self.eof = true;
            return Ok(false);
        }
        if self.before.saturating_add(n) > MAX_DECOMPRESSED_BYTES {
            return Err(RecordDefect::TooLarge {
                limit_bytes: MAX_DECOMPRESSED_BYTES,
            });
        }
        self.end = n;
        Ok(true)
    }
}

impl<R: Read> RecordSource for StreamSource<R> {
    type Bytes = ();

    /// One-byte varints (most of a record's) without the general loop.
    #[inline]
    fn unsigned(&mut self, max_bytes: usize) -> Result<u64, RecordDefect> {
        match self.buf.get(self.start) {
            Some(&b) if self.start < self.end && b < 0x80 => {
                self.start += 1;
                Ok(u64::from(b))
            }
            _ => unsigned_slow(self, max_bytes),
        }
    }

    #[inline]
    fn byte(&mut self) -> Result<u8, RecordDefect> {
        if !self.fill()? {
            return Err(RecordDefect::Malformed("truncated record"));
        }
        let b = self.buf[self.start];
        self.start += 1;
        Ok(b)
    }

    fn take(&mut self, mut len: usize) -> Result<(), RecordDefect> {
        while len > 0 {
            if !self.fill()? {
                return Err(RecordDefect::Malformed("truncated record"));
            }
            let n = len.min(self.end - self.start);
            self.start += n;
            len -= n;
        }
        Ok(())
    }

    fn position(&self) -> usize {
        self.before + self.start
    }

    fn since(&self, _start: usize) {}

    fn at_end(&mut self) -> Result<bool, RecordDefect> {
        Ok(!self.fill()?)
    }
}

/// lz4 frame magic number (little-endian on the wire).
const LZ4_FRAME_MAGIC: u32 = 0x184D_2204;
/// lz4 FLG byte: version field (bits 6-7) must be 01.
const LZ4_VERSION_MASK: u8 = 0xC0;
const LZ4_VERSION_01: u8 = 0x40;
const LZ4_FLAG_BLOCK_CHECKSUM: u8 = 0x10;
const LZ4_FLAG_CONTENT_SIZE: u8 = 0x08;
const LZ4_FLAG_CONTENT_CHECKSUM: u8 = 0x04;
const LZ4_FLAG_DICT_ID: u8 = 0x01;
/// lz4 block size word: the high bit marks an uncompressed block.
const LZ4_BLOCK_SIZE_MASK: u32 = 0x7FFF_FFFF;

/// Checks that an lz4 records section is whole frames, each closed by its end
/// mark, walking only the frame and block headers (no decoding). lz4_flex treats
/// input that stops between blocks as the end of the frame, but Kafka's Java
/// decoder fails on it, so a consumer would; such a batch is refused here. Only
/// standard frames, as Kafka's clients write them, are accepted.
pub(crate) fn lz4_frames_complete(mut section: &[u8]) -> Result<(), RecordDefect> {
    let cut = || RecordDefect::Decompress("truncated lz4 frame".into());
    let take = |s: &mut &[u8], n: usize| -> Result<(), RecordDefect> {
        *s = s.get(n..).ok_or_else(cut)?;
        Ok(())
    };
    fn word(s: &[u8]) -> Option<u32> {
        Some(u32::from_le_bytes(s.get(..4)?.try_into().ok()?))
    }
    if section.is_empty() {
        return Err(cut());
    }
    while !section.is_empty() {
        if word(section) != Some(LZ4_FRAME_MAGIC) {
            return Err(RecordDefect::Decompress("not an lz4 frame".into()));
        }
        let flags = *section.get(4).ok_or_else(cut)?;
        if flags & LZ4_VERSION_MASK != LZ4_VERSION_01 {
            return Err(RecordDefect::Decompress(
                "unsupported lz4 frame version".into(),
            ));
        }
        // magic, FLG, BD, optional content size and dictionary id, header checksum
        let mut header = 4 + 2 + 1;
        if flags & LZ4_FLAG_CONTENT_SIZE != 0 {
            header += 8;
        }
        if flags & LZ4_FLAG_DICT_ID != 0 {
            header += 4;
        }
        take(&mut section, header)?;
        loop {
            let size = word(section).ok_or_else(cut)?;
            take(&mut section, 4)?;
            if size == 0 {
                break; // end mark
            }
            take(&mut section, (size & LZ4_BLOCK_SIZE_MASK) as usize)?;
            if flags & LZ4_FLAG_BLOCK_CHECKSUM != 0 {
                take(&mut section, 4)?;
            }
        }
        if flags & LZ4_FLAG_CONTENT_CHECKSUM != 0 {
            take(&mut section, 4)?;
        }
    }
    Ok(())
}

/// Whether a snappy records section uses the xerial (snappy-java) framing.
pub(crate) fn is_xerial(section: &[u8]) -> bool {
    section.len() >= XERIAL_HEADER_BYTES && section[..XERIAL_MAGIC.len()] == XERIAL_MAGIC
}

/// The decompressed length a raw snappy block declares, refused when it is more
/// than the block could encode or than the broker accepts; checked before any
/// output is allocated, so a ten-byte block cannot claim 256 MiB.
pub(crate) fn snappy_raw_len(block: &[u8]) -> Result<usize, RecordDefect> {
    let len = snap::raw::decompress_len(block).map_err(dec)?;
    if len > MAX_DECOMPRESSED_BYTES {
        return Err(RecordDefect::TooLarge {
            limit_bytes: MAX_DECOMPRESSED_BYTES,
        });
    }
    if len > block.len().saturating_mul(SNAPPY_MAX_EXPANSION) {
        return Err(RecordDefect::Decompress(format!(
            "snappy block of {} bytes claims {len} decompressed bytes",
            block.len()
        )));
    }
    Ok(len)
}

/// Decodes a raw snappy block into `out` (resized to fit, reusing its capacity).
pub(crate) fn snappy_raw_into(block: &[u8], out: &mut Vec<u8>) -> Result<(), RecordDefect> {
    let len = snappy_raw_len(block)?;
    out.clear();
    out.resize(len, 0);
    let n = snap::raw::Decoder::new()
        .decompress(block, out)
        .map_err(dec)?;
    out.truncate(n);
    Ok(())
}

fn dec(e: impl std::fmt::Display) -> RecordDefect {
    RecordDefect::Decompress(e.to_string())
}

/// Xerial snappy as a byte stream: after the 16-byte header, repeated (u32 BE
/// compressed length, raw snappy block), decoded one block at a time into a buffer
/// reused across blocks.
pub(crate) struct XerialReader<'a> {
    rest: &'a [u8],
    block: Vec<u8>,
    pos: usize,
    /// Decompressed bytes produced so far, against [`MAX_DECOMPRESSED_BYTES`].
    produced: usize,
}

impl<'a> XerialReader<'a> {
    /// `section` must satisfy [`is_xerial`].
    pub(crate) fn new(section: &'a [u8]) -> XerialReader<'a> {
        XerialReader {
            rest: section.get(XERIAL_HEADER_BYTES..).unwrap_or_default(),
            block: Vec::new(),
            pos: 0,
            produced: 0,
        }
    }

    fn next_block(&mut self) -> Result<(), RecordDefect> {
        let (len, rest) = match self.rest {
            [a, b, c, d, rest @ ..] => (u32::from_be_bytes([*a, *b, *c, *d]) as usize, rest),
            _ => {
                return Err(RecordDefect::Decompress(
                    "truncated xerial block length".into(),
                ))
            }
        };
        let body = rest
            .get(..len)
            .ok_or_else(|| RecordDefect::Decompress("truncated xerial block".into()))?;
        self.rest = &rest[len..];
        snappy_raw_into(body, &mut self.block)?;
        self.pos = 0;
        self.produced = self.produced.saturating_add(self.block.len());
        if self.produced > MAX_DECOMPRESSED_BYTES {
            return Err(RecordDefect::TooLarge {
                limit_bytes: MAX_DECOMPRESSED_BYTES,
            });
        }
        Ok(())
    }
}

impl Read for XerialReader<'_> {
    fn read(&mut self, dst: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.block.len() {
            if self.rest.is_empty() {
                return Ok(0);
            }
            self.next_block()
                .map_err(|d| io::Error::new(io::ErrorKind::InvalidData, d.to_string()))?;
        }
        let n = dst.len().min(self.block.len() - self.pos);
        dst[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
