//! Decoding individual records inside a (decompressed) v2 batch body.
//!
//! Record layout: length varint, attributes i8, timestamp_delta varlong, offset_delta
//! varint, key_length varint + key, value_length varint + value, header_count varint,
//! then headers (key_length varint + key, value_length varint + value). Varints are
//! zigzag-encoded, as in protobuf. Every read is bounds-checked: this runs on bytes that
//! came from clients.

use std::borrow::Cow;

use super::header::{checked_total_bytes, parse_header};
use super::{decompress, BatchHeader, Compression, RecordError, TimestampType, BATCH_HEADER_BYTES};

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
        let mut c = Cursor {
            buf: self.headers,
            pos: 0,
        };
        let mut out = Vec::with_capacity(self.headers_count.max(0) as usize);
        for _ in 0..self.headers_count {
            let key = c
                .nullable_bytes()?
                .ok_or(RecordError::MalformedRecord("null header key"))?;
            out.push((key, c.nullable_bytes()?));
        }
        Ok(out)
    }
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn unsigned(&mut self, max_bytes: usize) -> Result<u64, RecordError> {
        let mut value: u64 = 0;
        for i in 0..max_bytes {
            let b = *self
                .buf
                .get(self.pos)
                .ok_or(RecordError::MalformedRecord("truncated varint"))?;
            self.pos += 1;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(RecordError::MalformedRecord("varint too long"))
    }

    fn varint(&mut self) -> Result<i32, RecordError> {
        let raw = self.unsigned(MAX_VARINT_BYTES)?;
        let raw =
            u32::try_from(raw).map_err(|_| RecordError::MalformedRecord("varint overflow"))?;
        Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
    }

    fn varlong(&mut self) -> Result<i64, RecordError> {
        let raw = self.unsigned(MAX_VARLONG_BYTES)?;
        Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
    }

    fn byte(&mut self) -> Result<u8, RecordError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or(RecordError::MalformedRecord("truncated record"))?;
        self.pos += 1;
        Ok(b)
    }

    fn bytes(&mut self, len: usize) -> Result<&'a [u8], RecordError> {
        let end = self
            .pos
            .checked_add(len)
            .filter(|&e| e <= self.buf.len())
            .ok_or(RecordError::MalformedRecord("length exceeds record"))?;
        let s = &self.buf[self.pos..end];
        self.pos = end;
        Ok(s)
    }

    /// A varint length followed by that many bytes; -1 means null.
    fn nullable_bytes(&mut self) -> Result<Option<&'a [u8]>, RecordError> {
        match self.varint()? {
            -1 => Ok(None),
            n if n < 0 => Err(RecordError::MalformedRecord("negative length")),
            n => self.bytes(n as usize).map(Some),
        }
    }
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
            cur: Cursor { buf: body, pos: 0 },
            base_offset: header.base_offset,
            base_timestamp: header.base_timestamp,
            log_append_time: (header.timestamp_type() == TimestampType::LogAppendTime)
                .then_some(header.max_timestamp),
            remaining: header.records_count.max(0),
            done: false,
        }
    }

    fn next_record(&mut self) -> Result<Record<'a>, RecordError> {
        let len = self.cur.varint()?;
        if len < 0 {
            return Err(RecordError::MalformedRecord("negative record length"));
        }
        let body = self.cur.bytes(len as usize)?;
        let mut c = Cursor { buf: body, pos: 0 };
        let _attributes = c.byte()?;
        let ts_delta = c.varlong()?;
        let offset_delta = c.varint()?;
        let key = c.nullable_bytes()?;
        let value = c.nullable_bytes()?;
        let headers_count = c.varint()?;
        if headers_count < 0 {
            return Err(RecordError::MalformedRecord("negative header count"));
        }
        let headers_start = c.pos;
        for _ in 0..headers_count {
            let key_len = c.varint()?;
            if key_len < 0 {
                return Err(RecordError::MalformedRecord("null header key"));
            }
            c.bytes(key_len as usize)?;
            c.nullable_bytes()?;
        }
        if c.pos != body.len() {
            return Err(RecordError::MalformedRecord("record length mismatch"));
        }
        Ok(Record {
            offset: self.base_offset.wrapping_add(i64::from(offset_delta)),
            timestamp: self
                .log_append_time
                .unwrap_or_else(|| self.base_timestamp.wrapping_add(ts_delta)),
            key,
            value,
            headers_count,
            headers: &body[headers_start..c.pos],
        })
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
