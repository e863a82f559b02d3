//! Decoding one request frame (the bytes after the 4-byte size prefix).

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

/// Why a frame could not become a typed request. Each variant decides how the
/// connection reacts (see `server::connection`).
#[derive(Debug, thiserror::Error)]
pub enum RequestError {
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    #[error("unknown api key {api_key} (version {api_version})")]
    UnknownApiKey { api_key: i16, api_version: i16 },
    #[error("malformed request header for api key {api_key} v{api_version}: {reason}")]
    BadHeader {
        api_key: i16,
        api_version: i16,
        reason: String,
    },
    #[error("malformed {api_key:?} v{api_version} request body: {reason}")]
    BadBody {
        api_key: ApiKey,
        api_version: i16,
        correlation_id: i32,
        reason: String,
    },
}

/// A request whose header and body both decoded.
#[derive(Debug)]
pub struct DecodedRequest {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub header: RequestHeader,
    pub body: RequestKind,
}

/// The header alone: enough to answer or refuse before looking at the body.
#[derive(Debug)]
pub struct PeekedHeader {
    pub api_key: ApiKey,
    pub api_version: i16,
    pub header: RequestHeader,
    /// The body bytes that follow the header.
    pub body: Bytes,
}

/// Decodes the header; the body stays undecoded so the caller can check the
/// version against what the broker advertises first.
pub fn decode_header(mut frame: Bytes) -> Result<PeekedHeader, RequestError> {
    if frame.len() < 8 {
        return Err(RequestError::TooShort(frame.len()));
    }
    let raw_key = (&frame[0..2]).get_i16();
    let api_version = (&frame[2..4]).get_i16();
    let api_key = ApiKey::try_from(raw_key).map_err(|()| RequestError::UnknownApiKey {
        api_key: raw_key,
        api_version,
    })?;
    let header_version = api_key.request_header_version(api_version);
    let header =
        RequestHeader::decode(&mut frame, header_version).map_err(|e| RequestError::BadHeader {
            api_key: raw_key,
            api_version,
            reason: e.to_string(),
        })?;
    Ok(PeekedHeader {
        api_key,
        api_version,
        header,
        body: frame,
    })
}

/// Decodes the body of a request whose version the broker supports, after
/// checking that every array count in it fits the bytes present.
pub fn decode_body(peeked: PeekedHeader) -> Result<DecodedRequest, RequestError> {
    let PeekedHeader {
        api_key,
        api_version,
        header,
        mut body,
    } = peeked;
    // Array counts must fit the bytes present before the decoder pre-sizes
    // vectors with them (see `prescan`).
    if let Err(e) = super::prescan::prescan(api_key as i16, api_version, &body) {
        return Err(RequestError::BadBody {
            api_key,
            api_version,
            correlation_id: header.correlation_id,
            reason: e.to_string(),
        });
    }
    let kind = RequestKind::decode(api_key, &mut body, api_version).map_err(|e| {
        RequestError::BadBody {
            api_key,
            api_version,
            correlation_id: header.correlation_id,
            reason: e.to_string(),
        }
    })?;
    Ok(DecodedRequest {
        api_key,
        api_version,
        header,
        body: kind,
    })
}

/// Header and body in one step (used by the fuzz target and tests).
pub fn decode_request(frame: Bytes) -> Result<DecodedRequest, RequestError> {
    decode_body(decode_header(frame)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::BufMut;

    #[test]
    fn short_and_unknown_frames_are_errors_not_panics() {
        assert!(matches!(
            decode_request(Bytes::from_static(b"\x00\x12")),
            Err(RequestError::TooShort(2))
        ));
        let mut b = bytes::BytesMut::new();
        b.put_i16(999);
        b.put_i16(0);
        b.put_i32(7);
        b.put_i16(-1);
        assert!(matches!(
            decode_request(b.freeze()),
            Err(RequestError::UnknownApiKey { api_key: 999, .. })
        ));
    }

    #[test]
    fn api_versions_v0_decodes() {
        let mut b = bytes::BytesMut::new();
        b.put_i16(18);
        b.put_i16(0);
        b.put_i32(42);
        b.put_i16(4);
        b.put_slice(b"test");
        let req = decode_request(b.freeze()).unwrap();
        assert_eq!(req.api_key, ApiKey::ApiVersions);
        assert_eq!(req.header.correlation_id, 42);
    }

    /// A Metadata v0 request claiming 2^31-1 topics (~150 GB pre-sized by the
    /// decoder) in 4 bytes: it must fail cleanly; without `crate::alloc`
    /// this aborts the process.
    #[test]
    fn absurd_array_lengths_are_errors() {
        let frame = Bytes::from_static(&[
            0, 3, 0, 0, 0, 0, 0, 1, 0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0,
        ]);
        assert!(decode_request(frame).is_err());
    }

    #[test]
    fn truncated_bodies_are_errors() {
        // Metadata v1 header followed by half an array length.
        let mut b = bytes::BytesMut::new();
        b.put_i16(3);
        b.put_i16(1);
        b.put_i32(1);
        b.put_i16(-1);
        b.put_u8(0);
        assert!(matches!(
            decode_request(b.freeze()),
            Err(RequestError::BadBody { .. })
        ));
    }
}
