//! Fetch response assembly: encoded bytes around `sendfile(2)` file ranges.
//!
//! The crate encodes each partition's fields; we encode the few enclosing
//! fields by hand so the `records` field can be a run of file ranges whose
//! bytes the kernel copies straight from the page cache to the socket.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::protocol::Encodable;
use uuid::Uuid;

use crate::log::ReadSlice;
use crate::protocol::response::put_response_header;
use crate::protocol::{Chunk, ResponseFrame};

/// Fetch v12 is the first flexible version (compact arrays, tagged fields).
const FIRST_FLEXIBLE_VERSION: i16 = 12;
/// Fetch v13 names topics by ID.
const FIRST_VERSION_WITH_TOPIC_IDS: i16 = 13;

/// One partition of the response: its fields, and the records to send.
#[derive(Debug)]
pub struct PartitionOut {
    pub data: PartitionData,
    pub records: Option<ReadSlice>,
}

#[derive(Debug)]
pub struct TopicOut {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: Vec<PartitionOut>,
}

#[derive(Debug, thiserror::Error)]
#[error("fetch response encoding: {0}")]
pub struct FetchEncodeError(String);

fn err(e: impl std::fmt::Display) -> FetchEncodeError {
    FetchEncodeError(e.to_string())
}

/// Builds the whole frame: size, header, body with file ranges.
pub fn encode_fetch_response(
    correlation_id: i32,
    version: i16,
    error_code: i16,
    session_id: i32,
    topics: Vec<TopicOut>,
) -> Result<ResponseFrame, FetchEncodeError> {
    let flexible = version >= FIRST_FLEXIBLE_VERSION;
    let mut chunks: Vec<Chunk> = Vec::new();
    let mut cur = BytesMut::with_capacity(256);
    put_response_header(&mut cur, correlation_id, if flexible { 1 } else { 0 });
    cur.put_i32(0); // throttle_time_ms
    if version >= 7 {
        cur.put_i16(error_code);
        cur.put_i32(session_id);
    }
    put_array_len(&mut cur, topics.len(), flexible)?;
    for topic in topics {
        if version >= FIRST_VERSION_WITH_TOPIC_IDS {
            cur.put_slice(topic.topic_id.as_bytes());
        } else {
            put_string(&mut cur, &topic.name, flexible)?;
        }
        put_array_len(&mut cur, topic.partitions.len(), flexible)?;
        for partition in topic.partitions {
            put_partition(&mut cur, &mut chunks, partition, version, flexible)?;
        }
        if flexible {
            cur.put_u8(0); // topic tagged fields
        }
    }
    if flexible {
        cur.put_u8(0); // response tagged fields
    }
    chunks.push(Chunk::Bytes(cur.freeze()));
    let mut frame = ResponseFrame { chunks };
    let size = i32::try_from(frame.len()).map_err(|_| err("fetch response over 2 GiB"))?;
    frame.chunks.insert(
        0,
        Chunk::Bytes(bytes::Bytes::copy_from_slice(&size.to_be_bytes())),
    );
    Ok(frame)
}

/// Encodes a partition with null records through the crate, cuts the null
/// marker (and, when flexible, the empty tagged-field count that follows it)
/// off the end, then writes the real length and the file ranges.
fn put_partition(
    cur: &mut BytesMut,
    chunks: &mut Vec<Chunk>,
    partition: PartitionOut,
    version: i16,
    flexible: bool,
) -> Result<(), FetchEncodeError> {
    let mut data = partition.data;
    data.records = None;
    let start = cur.len();
    data.encode(cur, version).map_err(err)?;
    let tail: &[u8] = if flexible {
        &[0, 0]
    } else {
        &[0xff, 0xff, 0xff, 0xff]
    };
    if cur.len() < start + tail.len() || &cur[cur.len() - tail.len()..] != tail {
        return Err(err("unexpected partition encoding tail"));
    }
    cur.truncate(cur.len() - tail.len());
    let ranges = partition.records.map(|r| r.ranges).unwrap_or_default();
    let total: u64 = ranges.iter().map(|r| r.len).sum();
    let total = u32::try_from(total).map_err(|_| err("records over 4 GiB"))?;
    if flexible {
        put_uvarint(cur, total + 1);
    } else {
        cur.put_i32(total as i32);
    }
    if !ranges.is_empty() {
        let before = std::mem::replace(cur, BytesMut::with_capacity(256));
        chunks.push(Chunk::Bytes(before.freeze()));
        chunks.extend(ranges.into_iter().map(Chunk::File));
    }
    if flexible {
        cur.put_u8(0); // partition tagged fields
    }
    Ok(())
}

fn put_array_len(cur: &mut BytesMut, len: usize, flexible: bool) -> Result<(), FetchEncodeError> {
    let len = u32::try_from(len).map_err(|_| err("array too long"))?;
    if flexible {
        put_uvarint(cur, len + 1);
    } else {
        cur.put_i32(len as i32);
    }
    Ok(())
}

/// Topic names are at most 249 characters, so an i16 length always fits.
fn put_string(cur: &mut BytesMut, s: &str, flexible: bool) -> Result<(), FetchEncodeError> {
    let len = i16::try_from(s.len()).map_err(|_| err("string too long"))?;
    if flexible {
        put_uvarint(cur, len as u32 + 1);
    } else {
        cur.put_i16(len);
    }
    cur.put_slice(s.as_bytes());
    Ok(())
}

fn put_uvarint(cur: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        cur.put_u8((value as u8 & 0x7f) | 0x80);
        value >>= 7;
    }
    cur.put_u8(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::FetchResponse;
    use kafka_protocol::protocol::Decodable;

    /// A response without file ranges must decode with the crate's own
    /// decoder at every version we advertise.
    #[test]
    fn hand_encoding_matches_the_schema_at_every_version() {
        let spec = crate::handler::fetch::SPEC;
        for version in spec.min_version..=spec.max_version {
            let topics = vec![TopicOut {
                name: "t".into(),
                topic_id: Uuid::from_u128(7),
                partitions: vec![PartitionOut {
                    data: PartitionData::default()
                        .with_partition_index(3)
                        .with_high_watermark(42)
                        .with_last_stable_offset(42)
                        .with_log_start_offset(0),
                    records: None,
                }],
            }];
            let frame = encode_fetch_response(
                9,
                version,
                0,
                5.min(if version >= 7 { 5 } else { 0 }),
                topics,
            )
            .unwrap();
            let mut bytes = BytesMut::new();
            for c in frame.chunks {
                match c {
                    Chunk::Bytes(b) => bytes.extend_from_slice(&b),
                    Chunk::File(_) => unreachable!(),
                }
            }
            let mut body = bytes.freeze();
            let size = i32::from_be_bytes(body[..4].try_into().unwrap());
            assert_eq!(size as usize, body.len() - 4);
            let header_len = if version >= 12 { 5 } else { 4 };
            let mut rest = body.split_off(4 + header_len);
            let decoded = FetchResponse::decode(&mut rest, version).unwrap();
            assert!(rest.is_empty(), "v{version}: trailing bytes");
            let t = &decoded.responses[0];
            if version >= 13 {
                assert_eq!(t.topic_id, Uuid::from_u128(7));
            } else {
                assert_eq!(t.topic.0.as_str(), "t");
            }
            assert_eq!(t.partitions[0].partition_index, 3);
            assert_eq!(t.partitions[0].high_watermark, 42);
            assert_eq!(t.partitions[0].records.as_ref().map(|r| r.len()), Some(0));
        }
    }
}
