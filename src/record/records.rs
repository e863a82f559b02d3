//! Decoding individual records inside a (decompressed) v2 batch body.
//!
//! Record layout: length varint, attributes i8, timestamp_delta varlong, offset_delta
//! varint, key_length varint + key, value_length varint + value, header_count varint,
//! then headers (key_length varint + key, value_length varint + value). Varints are
//! zigzag-encoded, as in protobuf. Every read is bounds-checked: this runs on bytes that
//! came from clients. [`read_record`] is the one place this framing is parsed, for
//! [`RecordIter`] over a slice and for produce validation over a decompressing stream.

use std::borrow::Cow;

use super::header::{checked_total_bytes, parse_header};
use super::{
    decompress, BatchHeader, Compression, RecordDefect, RecordError, TimestampType,
    BATCH_HEADER_BYTES,
};

/// Longest encoding of a zigzag varint of 32 bits, in bytes.
const MAX_VARINT_BYTES: usize = 5;
/// Longest encoding of a zigzag varlong of 64 bits, in bytes.
const MAX_VARLONG_BYTES: usize = 10;

/// One decoded record, borrowing key/value from the batch body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record<'a> {
    /// Absolute offset: base_offset + offset_delta.
    pub offset: i64,
    /// Absolute timestamp in ms: base_timestamp + timestamp_delta for CreateTime batches;
    /// the batch's max_timestamp (the append time) for LogAppendTime batches.
    pub timestamp: i64,
    pub key: Option<&'a [u8]>,
    /// `None` is a tombstone.
    pub value: Option<&'a [u8]>,
    pub headers_count: i32,
    /// The `headers_count` headers in wire form (without the count), for re-encoding
    /// a record unchanged (see `RecordHeaders::Encoded`).
    pub headers: &'a [u8],
}

impl<'a> Record<'a> {
    /// The headers as (key, value) pairs; a `None` value is a null header value.
    pub fn header_pairs(&self) -> Result<Vec<(&'a [u8], Option<&'a [u8]>)>, RecordError> {
        let mut c = Cursor::new(self.headers);
        let mut out = Vec::with_capacity(self.headers_count.max(0) as usize);
        for _ in 0..self.headers_count {
            let key = c
                .nullable_bytes()
                .map_err(malformed)?
                .ok_or(RecordError::MalformedRecord("null header key"))?;
            out.push((key, c.nullable_bytes().map_err(malformed)?));
        }
        Ok(out)
    }
}

/// A forward-only reader of a records section: a borrowed slice ([`Cursor`]) or a
/// decompressing stream (`stream::StreamSource`). One record walker,
/// [`read_record`], runs over both, so RecordIter and produce validation agree on
/// the framing byte for byte.
pub(crate) trait RecordSource {
    /// What a key, value or header span reads as: the bytes for a slice, nothing
    /// (they are skipped) for a stream.
    type Bytes;

    /// The next byte; the end of the section is a truncated record.
    fn byte(&mut self) -> Result<u8, RecordDefect>;
    /// The next `len` bytes (or skips them).
    fn take(&mut self, len: usize) -> Result<Self::Bytes, RecordDefect>;
    /// Bytes of the section read so far.
    fn position(&self) -> usize;
    /// The bytes read since `start` (a position this source returned).
    fn since(&self, start: usize) -> Self::Bytes;
    /// Whether the section has no byte left.
    fn at_end(&mut self) -> Result<bool, RecordDefect>;

    /// A base-128 unsigned value of at most `max_bytes` bytes.
    fn unsigned(&mut self, max_bytes: usize) -> Result<u64, RecordDefect> {
        unsigned_slow(self, max_bytes)
    }

    /// A zigzag varint of 32 bits.
    #[inline]
    fn varint(&mut self) -> Result<i32, RecordDefect> {
        let raw = self.unsigned(MAX_VARINT_BYTES)?;
        let raw = u32::try_from(raw).map_err(|_| RecordDefect::Malformed("varint overflow"))?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    /// A zigzag varlong of 64 bits.
    #[inline]
    fn varlong(&mut self) -> Result<i64, RecordDefect> {
        let raw = self.unsigned(MAX_VARLONG_BYTES)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }
}

/// [`RecordSource::unsigned`] a byte at a time.
pub(crate) fn unsigned_slow<S: RecordSource + ?Sized>(
    src: &mut S,
    max_bytes: usize,
) -> Result<u64, RecordDefect> {
    let mut value: u64 = 0;
    for i in 0..max_bytes {
        let b = src.byte()?;
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(RecordDefect::Malformed("varint too long"))
}

/// A slice of a records section.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Cursor<'a> {
        Cursor { buf, pos: 0 }
    }

    /// A varint length followed by that many bytes; -1 means null.
    fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>, RecordDefect> {
        match self.varint()? {
            -1 => Ok(None),
            n if n < 0 => Err(RecordDefect::Malformed("negative length")),
            n => self.take(n as usize).map(Some),
        }
    }
}

impl<'a> RecordSource for Cursor<'a> {
    type Bytes = &'a [u8];

    /// Decoded straight from the slice, without a call per byte: produce walks
    /// every record, so this is the hot path (most varints are 1 or 2 bytes).
    #[inline]
    fn unsigned(&mut self, max_bytes: usize) -> Result<u64, RecordDefect> {
        let rest = self.buf.get(self.pos..).unwrap_or_default();
        let mut value: u64 = 0;
        for (i, &b) in rest.iter().take(max_bytes).enumerate() {
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                self.pos += i + 1;
                return Ok(value);
            }
        }
        Err(RecordDefect::Malformed(if rest.len() < max_bytes {
            "truncated record"
        } else {
            "varint too long"
        }))
    }

    #[inline]
    fn byte(&mut self) -> Result<u8, RecordDefect> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(RecordDefect::Malformed("truncated record"))?;
        self.pos += 1;
        Ok(b)
    }

    #[inline]
    fn take(&mut self, len: usize) -> Result<&'a [u8], RecordDefect> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.buf.len())
            .ok_or(RecordDefect::Malformed("length exceeds record"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    fn position(&self) -> usize {
        self.pos
    }

    fn since(&self, start: usize) -> &'a [u8] {
        self.buf.get(start..self.pos).unwrap_or_default()
    }

    fn at_end(&mut self) -> Result<bool, RecordDefect> {
        Ok(self.pos >= self.buf.len())
    }
}

/// One record's fields as [`read_record`] finds them; key, value and headers are
/// whatever the source's [`RecordSource::Bytes`] is.
pub(crate) struct RecordFields<B> {
    pub(crate) timestamp_delta: i64,
    pub(crate) offset_delta: i32,
    pub(crate) key: Option<B>,
    pub(crate) value: Option<B>,
    pub(crate) headers_count: i32,
    /// The headers in wire form, without their count.
    pub(crate) headers: B,
}

/// Reads one record and checks its framing as Kafka's `DefaultRecord` does: a
/// non-negative size, attributes, timestamp delta, offset delta, key and value (-1
/// is null), a non-negative header count, headers with non-null keys, and exactly
/// `size` bytes used. No length may reach past the record's end, so a lying length
/// is caught before its bytes are read (a stream never reads on into the next record).
pub(crate) fn read_record<S: RecordSource>(
    src: &mut S,
) -> Result<RecordFields<S::Bytes>, RecordDefect> {
    let size = src.varint()?;
    let size =
        usize::try_from(size).map_err(|_| RecordDefect::Malformed("negative record size"))?;
    let end = src
        .position()
        .checked_add(size)
        .ok_or(RecordDefect::Malformed("record size overflows"))?;
    let _attributes = src.byte()?; // unused in v2; Kafka ignores them too
    let timestamp_delta = src.varlong()?;
    let offset_delta = src.varint()?;
    let key = nullable_within(src, end)?;
    let value = nullable_within(src, end)?;
    let headers_count = src.varint()?;
    if headers_count < 0 {
        return Err(RecordDefect::Malformed("negative header count"));
    }
    let headers_start = src.position();
    for _ in 0..headers_count {
        if nullable_within(src, end)?.is_none() {
            return Err(RecordDefect::Malformed("null header key"));
        }
        nullable_within(src, end)?;
    }
    if src.position() != end {
        return Err(RecordDefect::Malformed("record size mismatch"));
    }
    Ok(RecordFields {
        timestamp_delta,
        offset_delta,
        key,
        value,
        headers_count,
        headers: src.since(headers_start),
    })
}

/// A varint length (-1: null) and that many bytes, which must end by `end`.
#[inline]
fn nullable_within<S: RecordSource>(
    src: &mut S,
    end: usize,
) -> Result<Option<S::Bytes>, RecordDefect> {
    let len = src.varint()?;
    if len == -1 {
        return Ok(None);
    }
    let len = usize::try_from(len).map_err(|_| RecordDefect::Malformed("negative length"))?;
    let room = end.saturating_sub(src.position());
    if len > room {
        return Err(RecordDefect::Malformed("length exceeds record"));
    }
    src.take(len).map(Some)
}

/// Iterates the records of one batch body. Stops after the first error.
pub struct RecordIter<'a> {
    cur: Cursor<'a>,
    base_offset: i64,
    base_timestamp: i64,
    log_append_time: Option<i64>,
    remaining: i32,
    done: bool,
}

impl<'a> RecordIter<'a> {
    /// `body` is the (already decompressed) bytes after the 61-byte header.
    pub fn new(header: &BatchHeader, body: &'a [u8]) -> RecordIter<'a> {
        RecordIter {
            cur: Cursor::new(body),
            base_offset: header.base_offset,
            base_timestamp: header.base_timestamp,
            log_append_time: (header.timestamp_type() == TimestampType::LogAppendTime)
                .then_some(header.max_timestamp),
            remaining: header.records_count.max(0),
            done: false,
        }
    }

    fn next_record(&mut self) -> Result<Record<'a>, RecordError> {
        let r = read_record(&mut self.cur).map_err(malformed)?;
        Ok(Record {
            offset: self.base_offset.wrapping_add(i64::from(r.offset_delta)),
            timestamp: self
                .log_append_time
                .unwrap_or_else(|| self.base_timestamp.wrapping_add(r.timestamp_delta)),
            key: r.key,
            value: r.value,
            headers_count: r.headers_count,
            headers: r.headers,
        })
    }
}

/// A slice only fails on framing; anything else would be a bug, reported as such.
fn malformed(d: RecordDefect) -> RecordError {
    match d {
        RecordDefect::Malformed(m) => RecordError::MalformedRecord(m),
        _ => RecordError::MalformedRecord("unexpected record defect"),
    }
}

impl<'a> Iterator for RecordIter<'a> {
    type Item = Result<Record<'a>, RecordError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.remaining == 0 {
            self.done = true;
            if self.cur.pos != self.cur.buf.len() {
                return Some(Err(RecordError::MalformedRecord(
                    "bytes left after last record",
                )));
            }
            return None;
        }
        self.remaining -= 1;
        let r = self.next_record();
        if r.is_err() {
            self.done = true;
        }
        Some(r)
    }
}

/// Parses one whole batch (header + records section) and returns its header and the
/// decompressed records section, ready for [`RecordIter::new`]. Does not check the CRC.
pub fn batch_records(batch: &[u8]) -> Result<(BatchHeader, Cow<'_, [u8]>), RecordError> {
    let h = parse_header(batch)?;
    let total = checked_total_bytes(&h, batch.len())?;
    let section = &batch[BATCH_HEADER_BYTES..total];
    let body = match h.try_compression()? {
        Compression::None => Cow::Borrowed(section),
        codec => Cow::Owned(decompress(codec, section)?),
    };
    Ok((h, body))
}

/// Opaque in debug output: it holds sockets, files or locks, not values
/// worth printing.
impl std::fmt::Debug for RecordIter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecordIter").finish_non_exhaustive()
    }
}
