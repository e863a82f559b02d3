//! Response frames: encoded bytes, optionally interleaved with file ranges
//! that the connection sends with `sendfile(2)` (Fetch), so record bytes never
//! pass through user space.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::ResponseHeader;
use kafka_protocol::protocol::Encodable;

use crate::log::FileRange;

/// One piece of a response on the wire.
#[derive(Debug)]
pub enum Chunk {
    Bytes(Bytes),
    File(FileRange),
}

/// A whole response, size prefix included in the first chunk.
#[derive(Debug)]
pub struct ResponseFrame {
    pub chunks: Vec<Chunk>,
}

impl ResponseFrame {
    pub fn from_bytes(bytes: Bytes) -> Self {
        ResponseFrame {
            chunks: vec![Chunk::Bytes(bytes)],
        }
    }

    /// Total bytes on the wire.
    pub fn len(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| match c {
                Chunk::Bytes(b) => b.len() as u64,
                Chunk::File(f) => f.len,
            })
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Why a response could not be encoded: a bug (a field that does not exist at
/// the negotiated version), never the client's fault.
#[derive(Debug, thiserror::Error)]
#[error("cannot encode response: {0}")]
pub struct EncodeError(pub String);

/// Writes the response header of `header_version` (0: correlation id only;
/// 1: plus tagged fields).
pub fn put_response_header(buf: &mut BytesMut, correlation_id: i32, header_version: i16) {
    buf.put_i32(correlation_id);
    if header_version >= 1 {
        buf.put_u8(0); // no tagged fields
    }
}

/// Encodes `size | header | body` for a plain (no file ranges) response.
pub fn encode_response<R: Encodable>(
    correlation_id: i32,
    header_version: i16,
    body: &R,
    version: i16,
) -> Result<Bytes, EncodeError> {
    let header = ResponseHeader::default().with_correlation_id(correlation_id);
    let header_size = header
        .compute_size(header_version)
        .map_err(|e| EncodeError(e.to_string()))?;
    let body_size = body
        .compute_size(version)
        .map_err(|e| EncodeError(e.to_string()))?;
    let total = header_size + body_size;
    let size_field = i32::try_from(total).map_err(|_| EncodeError("response too large".into()))?;
    let mut buf = BytesMut::with_capacity(4 + total);
    buf.put_i32(size_field);
    header
        .encode(&mut buf, header_version)
        .map_err(|e| EncodeError(e.to_string()))?;
    body.encode(&mut buf, version)
        .map_err(|e| EncodeError(e.to_string()))?;
    debug_assert_eq!(buf.len(), 4 + total);
    Ok(buf.freeze())
}
