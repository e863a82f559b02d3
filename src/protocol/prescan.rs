//! A validating walk over a request body before `kafka-protocol` decodes it.
//!
//! # Why
//! `kafka-protocol` 0.18 decodes an array by reading its element count off the
//! wire and calling `Vec::with_capacity(count)` before decoding one element. The
//! allocation is `count × size_of::<Element>()`, and elements are tens to hundreds
//! of bytes in memory, so a 17-byte DescribeLogDirs v1 frame claiming 2^31-1
//! topics asks for gigabytes, and a failed allocation aborts the process (Rust
//! aborts on allocation failure; it cannot be caught). Whether the allocation
//! fails depends on the host (overcommit policy, `ulimit -v`), so no allocator
//! trick bounds it everywhere.
//!
//! # What
//! This module walks the body as the decoder will — same fields, same version
//! conditions, same tagged fields, from the tables in `request_layouts` that are
//! generated from the decoders themselves — and refuses any array whose count
//! cannot fit in the bytes left: each element takes at least the wire bytes of
//! its fixed fields (at least one byte). String and byte lengths are checked
//! the same way. After a successful walk, every `with_capacity` of the decoder
//! asks for at most `bytes left / min element bytes × element size`, which is
//! bounded by the frame size (`socket.request.max.bytes`) times a small factor,
//! whatever the host's memory settings. The walk allocates nothing and does
//! work linear in the frame.
//!
//! A frame the walk refuses would not have decoded anyway (it ends early), so
//! the walk never changes which requests are accepted.

/// A wire type, as the decoder reads it.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Ty {
    I8,
    I16,
    U16,
    I32,
    I64,
    F64,
    Uuid,
    Bool,
    /// i16 length (-1: null), then the bytes.
    Str,
    /// Unsigned varint length + 1 (0: null), then the bytes.
    CompactStr,
    /// i32 length (-1: null), then the bytes.
    Bytes,
    CompactBytes,
    /// Tagged-field headers only (never a field of a layout).
    #[allow(dead_code)]
    UnsignedVarInt,
    /// i32 count (-1: null), then the elements.
    Array(&'static Ty),
    /// Unsigned varint count + 1 (0: null), then the elements.
    CompactArray(&'static Ty),
    Struct(&'static Layout),
    /// i8 presence marker (1: present), then the struct.
    OptionStruct(&'static Layout),
}

/// A field read at versions `min..=max`.
#[derive(Debug)]
pub(crate) struct Field {
    pub(crate) min: i16,
    pub(crate) max: i16,
    pub(crate) ty: Ty,
}

/// A known tagged field, valid at versions `min..=max`.
#[derive(Debug)]
pub(crate) struct Tag {
    pub(crate) tag: u32,
    pub(crate) min: i16,
    pub(crate) max: i16,
    pub(crate) ty: Ty,
}

/// The layout of one message struct.
#[derive(Debug)]
pub(crate) struct Layout {
    /// Versions from this one on end the struct with tagged fields.
    pub(crate) flexible_from: i16,
    pub(crate) fields: &'static [Field],
    pub(crate) tags: &'static [Tag],
}

/// Why a body cannot be what it claims.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum ScanError {
    #[error("{what} at byte {at} needs {need} bytes, {left} left")]
    Short {
        what: &'static str,
        at: usize,
        need: u64,
        left: usize,
    },
    #[error(
        "array of {count} elements at byte {at} cannot fit in the {left} bytes left \
         (an element takes at least {min_bytes} bytes)"
    )]
    ImpossibleCount {
        count: u64,
        at: usize,
        left: usize,
        min_bytes: u64,
    },
    #[error("negative {what} {value} at byte {at}")]
    Negative {
        what: &'static str,
        value: i64,
        at: usize,
    },
    #[error("tag {tag} is not valid for version {version}")]
    TagNotValid { tag: u32, version: i16 },
}

/// Walks `body` of a request with this api key and version. Bodies of api keys
/// or versions kafka-protocol does not decode pass (the decoder refuses them
/// itself, before reading any array).
pub(crate) fn prescan(api_key: i16, version: i16, body: &[u8]) -> Result<(), ScanError> {
    walk(api_key, version, body).map(drop)
}

/// The walk; returns the bytes it read (None: no layout for the api key).
fn walk(api_key: i16, version: i16, body: &[u8]) -> Result<Option<usize>, ScanError> {
    let Some(layout) = super::request_layouts::request_layout(api_key) else {
        return Ok(None);
    };
    let mut cursor = Cursor {
        buf: body,
        pos: 0,
        version,
    };
    cursor.layout(layout)?;
    Ok(Some(cursor.pos))
}

struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
    version: i16,
}

fn applies(min: i16, max: i16, version: i16) -> bool {
    (min..=max).contains(&version)
}

/// Fewest wire bytes a value of `ty` takes at `version`.
fn min_bytes(ty: &Ty, version: i16) -> u64 {
    match ty {
        Ty::I8 | Ty::Bool | Ty::CompactStr | Ty::CompactBytes | Ty::UnsignedVarInt => 1,
        Ty::CompactArray(_) | Ty::OptionStruct(_) => 1,
        Ty::I16 | Ty::U16 | Ty::Str => 2,
        Ty::I32 | Ty::Bytes | Ty::Array(_) => 4,
        Ty::I64 | Ty::F64 => 8,
        Ty::Uuid => 16,
        Ty::Struct(layout) => {
            let fields: u64 = layout
                .fields
                .iter()
                .filter(|f| applies(f.min, f.max, version))
                .map(|f| min_bytes(&f.ty, version))
                .sum();
            fields + u64::from(version >= layout.flexible_from)
        }
    }
}

/// Bytes of a type whose every value has the same size (None: variable).
fn fixed_bytes(ty: &Ty) -> Option<u64> {
    match ty {
        Ty::I8 | Ty::Bool => Some(1),
        Ty::I16 | Ty::U16 => Some(2),
        Ty::I32 => Some(4),
        Ty::I64 | Ty::F64 => Some(8),
        Ty::Uuid => Some(16),
        _ => None,
    }
}

impl Cursor<'_> {
    fn left(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn skip(&mut self, what: &'static str, n: u64) -> Result<(), ScanError> {
        if n > self.left() as u64 {
            return Err(ScanError::Short {
                what,
                at: self.pos,
                need: n,
                left: self.left(),
            });
        }
        self.pos += n as usize;
        Ok(())
    }

    fn bytes<const N: usize>(&mut self, what: &'static str) -> Result<[u8; N], ScanError> {
        let at = self.pos;
        self.skip(what, N as u64)?;
        let mut out = [0u8; N];
        out.copy_from_slice(&self.buf[at..at + N]);
        Ok(out)
    }

    /// Read exactly as kafka-protocol reads it: at most 5 bytes, 7 bits each,
    /// bits past 32 dropped.
    fn uvarint(&mut self, what: &'static str) -> Result<u32, ScanError> {
        let mut value = 0u32;
        for i in 0..5 {
            let [b] = self.bytes::<1>(what)?;
            value |= u32::from(b & 0x7f).wrapping_shl(i * 7);
            if b < 0x80 {
                break;
            }
        }
        Ok(value)
    }

    fn layout(&mut self, layout: &Layout) -> Result<(), ScanError> {
        let version = self.version;
        for f in layout.fields {
            if applies(f.min, f.max, version) {
                self.value(&f.ty)?;
            }
        }
        if version < layout.flexible_from {
            return Ok(());
        }
        let count = self.uvarint("tagged field count")?;
        for _ in 0..count {
            let tag = self.uvarint("tag")?;
            let size = self.uvarint("tagged field size")?;
            let known = layout
                .tags
                .iter()
                .find(|t| t.tag == tag && applies(t.min, t.max, version));
            match known {
                // Decoded in place, the size unused, as the decoder does.
                Some(t) => self.value(&t.ty)?,
                None if layout.tags.iter().any(|t| t.tag == tag) => {
                    return Err(ScanError::TagNotValid { tag, version })
                }
                None => self.skip("tagged field", u64::from(size))?,
            }
        }
        Ok(())
    }

    fn length_i32(&mut self, what: &'static str) -> Result<Option<u64>, ScanError> {
        let at = self.pos;
        match i32::from_be_bytes(self.bytes::<4>(what)?) {
            -1 => Ok(None),
            n if n >= 0 => Ok(Some(n as u64)),
            n => Err(ScanError::Negative {
                what,
                value: i64::from(n),
                at,
            }),
        }
    }

    fn length_varint(&mut self, what: &'static str) -> Result<Option<u64>, ScanError> {
        Ok(match self.uvarint(what)? {
            0 => None,
            n => Some(u64::from(n) - 1),
        })
    }

    fn value(&mut self, ty: &Ty) -> Result<(), ScanError> {
        match ty {
            Ty::I8 | Ty::Bool => self.skip("int8", 1),
            Ty::I16 | Ty::U16 => self.skip("int16", 2),
            Ty::I32 => self.skip("int32", 4),
            Ty::I64 | Ty::F64 => self.skip("int64", 8),
            Ty::Uuid => self.skip("uuid", 16),
            Ty::UnsignedVarInt => self.uvarint("varint").map(drop),
            Ty::Str => {
                let at = self.pos;
                match i16::from_be_bytes(self.bytes::<2>("string length")?) {
                    -1 => Ok(()),
                    n if n >= 0 => self.skip("string", n as u64),
                    n => Err(ScanError::Negative {
                        what: "string length",
                        value: i64::from(n),
                        at,
                    }),
                }
            }
            Ty::CompactStr => match self.length_varint("string length")? {
                Some(n) => self.skip("string", n),
                None => Ok(()),
            },
            Ty::Bytes => match self.length_i32("bytes length")? {
                Some(n) => self.skip("bytes", n),
                None => Ok(()),
            },
            Ty::CompactBytes => match self.length_varint("bytes length")? {
                Some(n) => self.skip("bytes", n),
                None => Ok(()),
            },
            Ty::Array(elem) => {
                let at = self.pos;
                match self.length_i32("array length")? {
                    Some(n) => self.elements(at, n, elem),
                    None => Ok(()),
                }
            }
            Ty::CompactArray(elem) => {
                let at = self.pos;
                match self.length_varint("array length")? {
                    Some(n) => self.elements(at, n, elem),
                    None => Ok(()),
                }
            }
            Ty::Struct(layout) => self.layout(layout),
            Ty::OptionStruct(layout) => {
                let [present] = self.bytes::<1>("struct presence")?;
                if present == 1 {
                    self.layout(layout)?;
                }
                Ok(())
            }
        }
    }

    /// `count` elements of `elem`, the count read at byte `at`.
    fn elements(&mut self, at: usize, count: u64, elem: &Ty) -> Result<(), ScanError> {
        let min = min_bytes(elem, self.version).max(1);
        if count.saturating_mul(min) > self.left() as u64 {
            return Err(ScanError::ImpossibleCount {
                count,
                at,
                left: self.left(),
                min_bytes: min,
            });
        }
        if let Some(size) = fixed_bytes(elem) {
            return self.skip("array", count * size);
        }
        for _ in 0..count {
            self.value(elem)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alloc::largest_allocation_during;
    use crate::protocol::decode_request;
    use bytes::{BufMut, Bytes, BytesMut};
    use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
    use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
    use kafka_protocol::messages::fetch_request::{
        FetchPartition, FetchTopic, ForgottenTopic, ReplicaState,
    };
    use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
    use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
    use kafka_protocol::messages::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    /// Far below what any of the crafted frames below claims, far above what
    /// decoding a few bytes needs.
    const SMALL_ALLOCATION_BYTES: usize = 1 << 20;

    /// A request frame (size prefix stripped): header of the right version, then `body`.
    fn frame(api_key: ApiKey, version: i16, body: &[u8]) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(api_key as i16);
        b.put_i16(version);
        b.put_i32(7); // correlation id
        b.put_i16(-1); // null client id
        if api_key.request_header_version(version) >= 2 {
            b.put_u8(0); // no tagged fields
        }
        b.put_slice(body);
        b.freeze()
    }

    fn uvarint(mut n: u32) -> Vec<u8> {
        let mut out = Vec::new();
        while n >= 0x80 {
            out.push((n as u8) | 0x80);
            n >>= 7;
        }
        out.push(n as u8);
        out
    }

    /// The frame is refused by the pre-scan, and decoding it allocates nothing big.
    fn assert_refused(frame: Bytes) {
        let (result, largest) = largest_allocation_during(|| decode_request(frame.clone()));
        match result {
            Err(crate::protocol::RequestError::BadBody { reason, .. }) => {
                assert!(reason.contains("cannot fit"), "{reason}")
            }
            other => panic!("{frame:?}: {other:?}"),
        }
        assert!(
            largest < SMALL_ALLOCATION_BYTES,
            "{frame:?} allocated {largest} bytes"
        );
    }

    #[test]
    fn the_17_byte_describe_log_dirs_frame_is_refused_without_allocating() {
        // 4-byte size prefix + this: api key 35, v1, a topics count of 2^31-1.
        let f = frame(ApiKey::DescribeLogDirs, 1, &[0x7f, 0xff, 0xff, 0xff]);
        assert_eq!(f.len() + 4, 18);
        assert_refused(f);
        // Every version, flexible ones with a compact count.
        for v in 2..=4 {
            assert_refused(frame(ApiKey::DescribeLogDirs, v, &uvarint(u32::MAX)));
        }
    }

    #[test]
    fn metadata_with_a_huge_topic_count_is_refused_at_every_version() {
        for v in 0..=13 {
            let mut body = if v >= 9 {
                uvarint(0x8000_0000) // 2^31-1 topics, plus one
            } else {
                vec![0x7f, 0xff, 0xff, 0xff]
            };
            body.extend_from_slice(&[1, 0, 0]);
            assert_refused(frame(ApiKey::Metadata, v, &body));
        }
    }

    #[test]
    fn nested_and_primitive_arrays_are_checked_too() {
        // Fetch v4: one topic "t" whose partitions array claims 2^31-1 entries.
        let mut body = Vec::new();
        body.extend_from_slice(&(-1i32).to_be_bytes()); // replica id
        body.extend_from_slice(&500i32.to_be_bytes()); // max wait
        body.extend_from_slice(&1i32.to_be_bytes()); // min bytes
        body.extend_from_slice(&1000i32.to_be_bytes()); // max bytes
        body.push(0); // isolation level
        body.extend_from_slice(&1i32.to_be_bytes()); // topics: 1
        body.extend_from_slice(&1i16.to_be_bytes());
        body.push(b't');
        body.extend_from_slice(&i32::MAX.to_be_bytes()); // partitions
        assert_refused(frame(ApiKey::Fetch, 4, &body));
        // DeleteRecords-like arrays of int32 (OffsetForLeaderEpoch has none; use
        // ElectLeaders v0: topics[name, partitions: [int32]]).
        let mut body = Vec::new();
        body.extend_from_slice(&1i32.to_be_bytes());
        body.extend_from_slice(&1i16.to_be_bytes());
        body.push(b't');
        body.extend_from_slice(&0x1000_0000i32.to_be_bytes()); // 2^28 int32s in 0 bytes
        body.extend_from_slice(&30_000i32.to_be_bytes());
        assert_refused(frame(ApiKey::ElectLeaders, 0, &body));
    }

    #[test]
    fn a_count_that_fits_with_one_byte_elements_but_not_real_ones_is_refused() {
        // 20 Metadata v1 topics claimed, 30 bytes follow: each topic name takes at
        // least 2 bytes (its length), so 20 fit and 40 do not.
        let mut ok = 20i32.to_be_bytes().to_vec();
        for _ in 0..20 {
            ok.extend_from_slice(&0i16.to_be_bytes());
        }
        assert!(decode_request(frame(ApiKey::Metadata, 1, &ok)).is_ok());
        let mut bad = 40i32.to_be_bytes().to_vec();
        bad.extend_from_slice(&[0; 30]);
        assert_refused(frame(ApiKey::Metadata, 1, &bad));
    }

    #[test]
    fn long_strings_and_bad_tags_are_errors_not_allocations() {
        // CompactString length of 4 GiB in a flexible Metadata topic name.
        let mut body = uvarint(2); // one topic
        body.extend_from_slice(&uvarint(u32::MAX));
        let (r, largest) =
            largest_allocation_during(|| decode_request(frame(ApiKey::Metadata, 9, &body)));
        assert!(r.is_err());
        assert!(largest < SMALL_ALLOCATION_BYTES);
        // Fetch v12 tag 1 (replica state) exists only from v15.
        let mut body = vec![0u8; 4 * 4 + 1 + 8];
        body.extend_from_slice(&[1, 1, 1]); // no topics, no forgotten topics, rack ""
        body.extend_from_slice(&[1, 1, 0]); // one tagged field: tag 1, size 0
        assert_eq!(
            walk(ApiKey::Fetch as i16, 12, &body),
            Err(ScanError::TagNotValid {
                tag: 1,
                version: 12
            })
        );
    }

    /// Encodes `body` at `version` and checks that the walk reads exactly the
    /// bytes kafka-protocol wrote and that the decoder accepts the frame.
    fn assert_walks_exactly<R: Encodable>(api_key: ApiKey, version: i16, body: &R) {
        let mut b = BytesMut::new();
        body.encode(&mut b, version).unwrap();
        assert_eq!(
            walk(api_key as i16, version, &b),
            Ok(Some(b.len())),
            "{api_key:?} v{version}"
        );
        decode_request(frame(api_key, version, &b))
            .unwrap_or_else(|e| panic!("{api_key:?} v{version}: {e}"));
    }

    fn name(s: &'static str) -> TopicName {
        TopicName(StrBytes::from_static_str(s))
    }

    #[test]
    fn real_requests_walk_exactly_as_encoded() {
        for v in 0..=13 {
            let topics = vec![
                MetadataRequestTopic::default().with_name(Some(name("a"))),
                MetadataRequestTopic::default().with_name(Some(name("bb"))),
            ];
            let r = MetadataRequest::default().with_topics(Some(topics));
            assert_walks_exactly(ApiKey::Metadata, v, &r);
        }
        for v in 4..=18 {
            let mut partition = FetchPartition::default()
                .with_partition(3)
                .with_fetch_offset(9);
            if v >= 17 {
                partition = partition.with_replica_directory_id(uuid::Uuid::from_u128(5));
            }
            if v >= 18 {
                partition = partition.with_high_watermark(41);
            }
            let topic = FetchTopic::default()
                .with_topic(name("t"))
                .with_partitions(vec![partition.clone(), partition]);
            let forgotten = ForgottenTopic::default()
                .with_topic(name("f"))
                .with_partitions(vec![1, 2, 3]);
            let mut r = FetchRequest::default()
                .with_topics(vec![topic])
                .with_rack_id(StrBytes::from_static_str("r"));
            if v >= 7 {
                r = r.with_forgotten_topics_data(vec![forgotten]);
            }
            if v >= 12 {
                r = r.with_cluster_id(Some(StrBytes::from_static_str("c")));
            }
            if v >= 15 {
                r = r.with_replica_state(ReplicaState::default().with_replica_id(BrokerId(1)));
            }
            assert_walks_exactly(ApiKey::Fetch, v, &r);
        }
        for v in 3..=13 {
            let partition = produce_request::PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::from_static(b"not parsed here")));
            let topic = produce_request::TopicProduceData::default()
                .with_name(name("t"))
                .with_partition_data(vec![partition]);
            let r = ProduceRequest::default()
                .with_acks(1)
                .with_topic_data(vec![topic]);
            assert_walks_exactly(ApiKey::Produce, v, &r);
        }
        for v in 1..=4 {
            let topic = DescribableLogDirTopic::default()
                .with_topic(name("t"))
                .with_partitions(vec![0, 1]);
            let r = DescribeLogDirsRequest::default().with_topics(Some(vec![topic]));
            assert_walks_exactly(ApiKey::DescribeLogDirs, v, &r);
        }
        for v in 0..=9 {
            let protocol = JoinGroupRequestProtocol::default()
                .with_name(StrBytes::from_static_str("range"))
                .with_metadata(Bytes::from_static(b"m"));
            let r = JoinGroupRequest::default()
                .with_group_id(GroupId(StrBytes::from_static_str("g")))
                .with_protocol_type(StrBytes::from_static_str("consumer"))
                .with_protocols(vec![protocol]);
            assert_walks_exactly(ApiKey::JoinGroup, v, &r);
        }
        for v in 2..=7 {
            let topic = CreatableTopic::default()
                .with_name(name("t"))
                .with_num_partitions(1)
                .with_replication_factor(1)
                .with_configs(vec![CreatableTopicConfig::default()
                    .with_name(StrBytes::from_static_str("cleanup.policy"))
                    .with_value(Some(StrBytes::from_static_str("compact")))]);
            let r = CreateTopicsRequest::default().with_topics(vec![topic]);
            assert_walks_exactly(ApiKey::CreateTopics, v, &r);
        }
        for v in 0..=4 {
            assert_walks_exactly(ApiKey::ApiVersions, v, &ApiVersionsRequest::default());
        }
    }

    #[test]
    fn tables_match_the_kafka_protocol_in_cargo_lock() {
        let lock = include_str!("../../Cargo.lock");
        let want = format!(
            "name = \"kafka-protocol\"\nversion = \"{}\"",
            super::super::request_layouts::KAFKA_PROTOCOL_VERSION
        );
        assert!(
            lock.contains(&want),
            "kafka-protocol changed: run src/protocol/gen_request_layouts.py"
        );
    }
}
