//! KIP-848 consumer-group records of the `__consumer_offsets` topic.
//!
//! A consumer-protocol group (`group.protocol=consumer`) keeps its state in
//! these record types, laid out as in Kafka 4.x's schema files
//! (`group-coordinator/src/main/resources/common/message/`):
//!
//! | Type | Key (after the type) | Value (tagged fields in brackets)                              |
//! |------|----------------------|----------------------------------------------------------------|
//! | 3    | group                | `ConsumerGroupMetadataValue`: epoch [hash, creation time]      |
//! | 4    | group                | `ConsumerGroupPartitionMetadataValue`: deprecated, not read    |
//! | 5    | group, member        | `ConsumerGroupMemberMetadataValue` [classic member metadata]   |
//! | 6    | group                | `ConsumerGroupTargetAssignmentMetadataValue` [timestamp]       |
//! | 7    | group, member        | `ConsumerGroupTargetAssignmentMemberValue`                     |
//! | 8    | group, member        | `ConsumerGroupCurrentMemberAssignmentValue` [epochs per topic] |
//!
//! Keys are not flexible: `int16` type, then `int16`-length strings. Each
//! value schema has version 0 only, flexible from 0: the `int16` version,
//! compact strings and arrays (varint length + 1, 0 = null), and a
//! tagged-field section ending every struct, nested ones included.
//!
//! # Versions written
//!
//! Version 0, as Kafka 4.x. A tagged field is written only when it is not
//! its default, as Kafka's generated code does: a record that uses none of
//! the newer tags is byte for byte what Kafka 4.0 writes, and older brokers
//! skip tags they do not know. The tags date from 4.1 (`MetadataHash`,
//! KIP-1101), 4.3 (`AssignmentTimestamp`, `AssignmentEpochs`; KIP-1263,
//! KIP-1251) and trunk (`CreationTimeMs`, KIP-1282). All are decoded;
//! unknown tags are skipped, so records of any 4.x broker load.
//!
//! Type 4 (the subscribed topics' metadata) is written by Kafka 4.0 and was
//! replaced by `MetadataHash` in 4.1. gregor reads topic metadata live, so it
//! only recognises the key (and can write its tombstone). This module is the
//! codec; the group coordinator decides what to persist and replay.
//! Decoders never panic: lengths are checked against the bytes left before
//! anything is allocated. Bytes after the last field are ignored, as Kafka
//! does.

use uuid::Uuid;

use super::schema::{record_type::*, Reader, SchemaError, Writer};

type Result<T> = std::result::Result<T, SchemaError>;

/// The only value version Kafka defines for types 3-8, and the one written.
pub const VALUE_VERSION: i16 = 0;

/// Values of `ConsumerGroupCurrentMemberAssignmentValue.State` (Kafka's
/// `MemberState`).
pub mod member_state {
    /// Reconciled with the target assignment.
    pub const STABLE: i8 = 0;
    /// Must revoke partitions before moving to the next epoch.
    pub const UNREVOKED_PARTITIONS: i8 = 1;
    /// At the target epoch, waiting for partitions others still own.
    pub const UNRELEASED_PARTITIONS: i8 = 2;
    /// A state from a newer version.
    pub const UNKNOWN: i8 = 127;
}

/// The key of a record of type 3-8, in type order. `PartitionMetadata`
/// (type 4, deprecated) is recognised so replay can skip or delete it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConsumerGroupKey {
    Metadata { group: String },
    PartitionMetadata { group: String },
    MemberMetadata { group: String, member_id: String },
    TargetAssignmentMetadata { group: String },
    TargetAssignmentMember { group: String, member_id: String },
    CurrentMemberAssignment { group: String, member_id: String },
}

impl ConsumerGroupKey {
    /// The `int16` written in front of the key.
    pub fn record_type(&self) -> i16 {
        use ConsumerGroupKey::*;
        match self {
            Metadata { .. } => CONSUMER_GROUP_METADATA,
            PartitionMetadata { .. } => CONSUMER_GROUP_PARTITION_METADATA,
            MemberMetadata { .. } => CONSUMER_GROUP_MEMBER_METADATA,
            TargetAssignmentMetadata { .. } => CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA,
            TargetAssignmentMember { .. } => CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER,
            CurrentMemberAssignment { .. } => CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT,
        }
    }

    pub fn group(&self) -> &str {
        use ConsumerGroupKey::*;
        match self {
            Metadata { group }
            | PartitionMetadata { group }
            | TargetAssignmentMetadata { group }
            | MemberMetadata { group, .. }
            | TargetAssignmentMember { group, .. }
            | CurrentMemberAssignment { group, .. } => group,
        }
    }

    /// The member id of the per-member types 5, 7 and 8.
    pub fn member_id(&self) -> Option<&str> {
        use ConsumerGroupKey::*;
        match self {
            MemberMetadata { member_id, .. }
            | TargetAssignmentMember { member_id, .. }
            | CurrentMemberAssignment { member_id, .. } => Some(member_id),
            _ => None,
        }
    }
}

/// Decodes a key of record type 3-8, or `Ok(None)` for any other type
/// without looking at the body (see `schema::decode_key` for those). Fails
/// when the key is shorter than its type needs or holds a null string.
pub fn decode_consumer_key(buf: &[u8]) -> Result<Option<ConsumerGroupKey>> {
    use ConsumerGroupKey::*;
    let mut r = Reader::new(buf);
    let ty = r.i16("key version")?;
    if !(3..=8).contains(&ty) {
        return Ok(None);
    }
    let group = r.string("group_id", false)?;
    let member_id = match ty {
        5 | 7 | 8 => r.string("member_id", false)?,
        _ => String::new(),
    };
    Ok(Some(match ty {
        3 => Metadata { group },
        4 => PartitionMetadata { group },
        5 => MemberMetadata { group, member_id },
        6 => TargetAssignmentMetadata { group },
        7 => TargetAssignmentMember { group, member_id },
        _ => CurrentMemberAssignment { group, member_id },
    }))
}

/// Encodes a key: record type, group id, and the member id for the
/// per-member types. Fails only on a name over 32767 bytes.
pub fn encode_consumer_key(key: &ConsumerGroupKey) -> Result<Vec<u8>> {
    let mut w = Writer::default();
    w.i16(key.record_type());
    w.string("group_id", key.group(), false)?;
    if let Some(member_id) = key.member_id() {
        w.string("member_id", member_id, false)?;
    }
    Ok(w.buf)
}

/// `ConsumerGroupMetadataValue` (type 3): `Epoch` int32, then tag 0
/// `MetadataHash` int64 (default 0 = not computed) and tag 1
/// `CreationTimeMs` int64 (default -1, here `None`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConsumerGroupMetadataValue {
    pub epoch: i32,
    pub metadata_hash: i64,
    pub creation_time_ms: Option<i64>,
}

/// `ConsumerGroupMemberMetadataValue` (type 5). Wire order: `InstanceId`
/// (nullable), `RackId` (nullable), `ClientId`, `ClientHost`,
/// `SubscribedTopicNames` (array of string), `SubscribedTopicRegex`
/// (nullable), `RebalanceTimeoutMs` int32 (schema default -1),
/// `ServerAssignor` (nullable), then tag 0 `ClassicMemberMetadata`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberMetadataValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
    /// Set only for a classic-protocol consumer in a consumer group (the
    /// KIP-848 upgrade path); gregor's members leave it `None`.
    pub classic_member_metadata: Option<ClassicMemberMetadata>,
}

/// Tag 0 of [`MemberMetadataValue`]: `SessionTimeoutMs` int32, then
/// `SupportedProtocols`, an array of (`Name` string, `Metadata` bytes). As
/// a nullable tagged struct it is written as tag, size, a varint 1 (not
/// null) and the struct; the size counts the marker (KAFKA-18199).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicMemberMetadata {
    pub session_timeout_ms: i32,
    pub supported_protocols: Vec<ClassicProtocol>,
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ClassicProtocol {
    pub name: String,
    pub metadata: Vec<u8>,
}

/// `ConsumerGroupTargetAssignmentMetadataValue` (type 6): `AssignmentEpoch`
/// int32, the epoch the target was computed at; tag 0 `AssignmentTimestamp`
/// int64 (default 0 = not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetAssignmentMetadataValue {
    pub assignment_epoch: i32,
    pub assignment_timestamp_ms: i64,
}

/// One topic's partitions: `TopicId` uuid (16 bytes), `Partitions` array
/// of int32, tagged fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicPartitions {
    pub topic_id: Uuid,
    pub partitions: Vec<i32>,
    /// Tag 0 of the struct in type 8 only: a nullable int32 array aligned
    /// with `partitions`, the epoch each was assigned at (default null).
    /// Type 7's struct has no such tag: there it is skipped on read and
    /// never written.
    pub assignment_epochs: Option<Vec<i32>>,
}

/// `ConsumerGroupTargetAssignmentMemberValue` (type 7): `TopicPartitions`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetAssignmentMemberValue {
    pub topic_partitions: Vec<TopicPartitions>,
}

/// `ConsumerGroupCurrentMemberAssignmentValue` (type 8). Wire order:
/// `MemberEpoch` int32, `PreviousMemberEpoch` int32, `State` int8 (see
/// [`member_state`]), `AssignedPartitions`, `PartitionsPendingRevocation`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentMemberAssignmentValue {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: i8,
    pub assigned_partitions: Vec<TopicPartitions>,
    pub partitions_pending_revocation: Vec<TopicPartitions>,
}

/// A value of record type 3 or 5-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerGroupValue {
    Metadata(ConsumerGroupMetadataValue),
    MemberMetadata(MemberMetadataValue),
    TargetAssignmentMetadata(TargetAssignmentMetadataValue),
    TargetAssignmentMember(TargetAssignmentMemberValue),
    CurrentMemberAssignment(CurrentMemberAssignmentValue),
}

impl ConsumerGroupValue {
    /// The record type of the key this value is stored under.
    pub fn record_type(&self) -> i16 {
        use ConsumerGroupValue::*;
        match self {
            Metadata(_) => CONSUMER_GROUP_METADATA,
            MemberMetadata(_) => CONSUMER_GROUP_MEMBER_METADATA,
            TargetAssignmentMetadata(_) => CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA,
            TargetAssignmentMember(_) => CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER,
            CurrentMemberAssignment(_) => CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT,
        }
    }
}

/// Encodes a value at [`VALUE_VERSION`], each tagged field only when it
/// differs from its default. Fails on a string over 32767 bytes or a
/// collection over `i32::MAX` entries.
pub fn encode_value(value: &ConsumerGroupValue) -> Result<Vec<u8>> {
    let mut w = Writer::default();
    w.i16(VALUE_VERSION);
    let mut tags: Vec<(u32, Vec<u8>)> = Vec::new();
    match value {
        ConsumerGroupValue::Metadata(v) => {
            w.i32(v.epoch);
            if v.metadata_hash != 0 {
                tags.push((0, v.metadata_hash.to_be_bytes().to_vec()));
            }
            if let Some(t) = v.creation_time_ms.filter(|&t| t != -1) {
                tags.push((1, t.to_be_bytes().to_vec()));
            }
        }
        ConsumerGroupValue::MemberMetadata(v) => {
            w.nullable_string("instance_id", v.instance_id.as_deref(), true)?;
            w.nullable_string("rack_id", v.rack_id.as_deref(), true)?;
            w.string("client_id", &v.client_id, true)?;
            w.string("client_host", &v.client_host, true)?;
            let topics = &v.subscribed_topic_names;
            w.array_len("subscribed_topic_names", topics.len(), true)?;
            for topic in topics {
                w.string("subscribed_topic_names", topic, true)?;
            }
            let regex = v.subscribed_topic_regex.as_deref();
            w.nullable_string("subscribed_topic_regex", regex, true)?;
            w.i32(v.rebalance_timeout_ms);
            w.nullable_string("server_assignor", v.server_assignor.as_deref(), true)?;
            if let Some(classic) = &v.classic_member_metadata {
                let (mut s, protocols) = (Writer::default(), &classic.supported_protocols);
                s.uvarint(1); // not null
                s.i32(classic.session_timeout_ms);
                s.array_len("supported_protocols", protocols.len(), true)?;
                for p in protocols {
                    s.string("name", &p.name, true)?;
                    s.bytes("metadata", &p.metadata, true)?;
                    s.empty_tagged_fields();
                }
                s.empty_tagged_fields();
                tags.push((0, s.buf));
            }
        }
        ConsumerGroupValue::TargetAssignmentMetadata(v) => {
            w.i32(v.assignment_epoch);
            if v.assignment_timestamp_ms != 0 {
                tags.push((0, v.assignment_timestamp_ms.to_be_bytes().to_vec()));
            }
        }
        ConsumerGroupValue::TargetAssignmentMember(v) => {
            write_topics(&mut w, "topic_partitions", &v.topic_partitions, false)?;
        }
        ConsumerGroupValue::CurrentMemberAssignment(v) => {
            w.i32(v.member_epoch);
            w.i32(v.previous_member_epoch);
            w.buf.push(v.state as u8);
            write_topics(&mut w, "assigned_partitions", &v.assigned_partitions, true)?;
            let pending = &v.partitions_pending_revocation;
            write_topics(&mut w, "partitions_pending_revocation", pending, true)?;
        }
    }
    write_tagged_fields(&mut w, tags)?;
    Ok(w.buf)
}

/// Decodes the value stored under `key`: `Ok(None)` for the deprecated
/// type 4, whose value is not read. A version other than 0 is
/// [`SchemaError::UnsupportedVersion`].
pub fn decode_value(key: &ConsumerGroupKey, buf: &[u8]) -> Result<Option<ConsumerGroupValue>> {
    let r = &mut Reader::new(buf);
    Ok(Some(match key {
        ConsumerGroupKey::PartitionMetadata { .. } => return Ok(None),
        ConsumerGroupKey::Metadata { .. } => {
            version(r, "ConsumerGroupMetadataValue")?;
            let mut v = ConsumerGroupMetadataValue {
                epoch: r.i32("epoch")?,
                ..Default::default()
            };
            read_tagged_fields(r, |tag, t| {
                match tag {
                    0 => v.metadata_hash = t.i64("metadata_hash")?,
                    1 => v.creation_time_ms = Some(t.i64("creation_time_ms")?),
                    _ => {}
                }
                Ok(())
            })?;
            v.creation_time_ms = v.creation_time_ms.filter(|&t| t != -1);
            ConsumerGroupValue::Metadata(v)
        }
        ConsumerGroupKey::MemberMetadata { .. } => {
            version(r, "ConsumerGroupMemberMetadataValue")?;
            let mut v = MemberMetadataValue {
                instance_id: r.nullable_string("instance_id", true)?,
                rack_id: r.nullable_string("rack_id", true)?,
                client_id: r.string("client_id", true)?,
                client_host: r.string("client_host", true)?,
                ..Default::default()
            };
            let n = r.array_len("subscribed_topic_names", true)?;
            for _ in 0..n {
                let topic = r.string("subscribed_topic_names", true)?;
                v.subscribed_topic_names.push(topic);
            }
            v.subscribed_topic_regex = r.nullable_string("subscribed_topic_regex", true)?;
            v.rebalance_timeout_ms = r.i32("rebalance_timeout_ms")?;
            v.server_assignor = r.nullable_string("server_assignor", true)?;
            read_tagged_fields(r, |tag, t| {
                if tag == 0 {
                    v.classic_member_metadata = read_classic_member_metadata(t)?;
                }
                Ok(())
            })?;
            ConsumerGroupValue::MemberMetadata(v)
        }
        ConsumerGroupKey::TargetAssignmentMetadata { .. } => {
            version(r, "ConsumerGroupTargetAssignmentMetadataValue")?;
            let mut v = TargetAssignmentMetadataValue {
                assignment_epoch: r.i32("assignment_epoch")?,
                assignment_timestamp_ms: 0,
            };
            read_tagged_fields(r, |tag, t| {
                if tag == 0 {
                    v.assignment_timestamp_ms = t.i64("assignment_timestamp")?;
                }
                Ok(())
            })?;
            ConsumerGroupValue::TargetAssignmentMetadata(v)
        }
        ConsumerGroupKey::TargetAssignmentMember { .. } => {
            version(r, "ConsumerGroupTargetAssignmentMemberValue")?;
            let topic_partitions = topics(r, "topic_partitions", false)?;
            r.skip_tagged_fields()?;
            ConsumerGroupValue::TargetAssignmentMember(TargetAssignmentMemberValue {
                topic_partitions,
            })
        }
        ConsumerGroupKey::CurrentMemberAssignment { .. } => {
            version(r, "ConsumerGroupCurrentMemberAssignmentValue")?;
            let v = CurrentMemberAssignmentValue {
                member_epoch: r.i32("member_epoch")?,
                previous_member_epoch: r.i32("previous_member_epoch")?,
                state: r.take(1, "state")?[0] as i8,
                assigned_partitions: topics(r, "assigned_partitions", true)?,
                partitions_pending_revocation: topics(r, "partitions_pending_revocation", true)?,
            };
            r.skip_tagged_fields()?;
            ConsumerGroupValue::CurrentMemberAssignment(v)
        }
    }))
}

/// Reads the leading value version, which must be 0.
fn version(r: &mut Reader<'_>, schema: &'static str) -> Result<()> {
    match r.i16("value version")? {
        VALUE_VERSION => Ok(()),
        version => Err(SchemaError::UnsupportedVersion { schema, version }),
    }
}

/// Reads a tagged-field section, handing each field's bytes to `known` in
/// a reader of their own; `known` ignores tags it does not define. A field
/// takes at least two bytes, so a huge count fails as soon as input ends.
fn read_tagged_fields<'a>(
    r: &mut Reader<'a>,
    mut known: impl FnMut(u32, &mut Reader<'a>) -> Result<()>,
) -> Result<()> {
    let count = r.uvarint("tagged field count")?;
    for _ in 0..count {
        let tag = r.uvarint("tagged field tag")?;
        let size = usize::try_from(r.uvarint("tagged field size")?).unwrap_or(usize::MAX);
        known(tag, &mut Reader::new(r.take(size, "tagged field data")?))?;
    }
    Ok(())
}

/// Writes a tagged-field section; `fields` come in ascending tag order.
fn write_tagged_fields(w: &mut Writer, fields: Vec<(u32, Vec<u8>)>) -> Result<()> {
    w.uvarint(fields.len() as u32);
    for (tag, data) in fields {
        let length = data.len();
        if length > i32::MAX as usize {
            return Err(SchemaError::TooLarge {
                field: "tagged field",
                length,
            });
        }
        w.uvarint(tag);
        w.uvarint(length as u32);
        w.buf.extend_from_slice(&data);
    }
    Ok(())
}

fn read_classic_member_metadata(r: &mut Reader<'_>) -> Result<Option<ClassicMemberMetadata>> {
    if r.uvarint("classic_member_metadata")? == 0 {
        return Ok(None);
    }
    let session_timeout_ms = r.i32("session_timeout_ms")?;
    let mut protocols = Vec::new();
    for _ in 0..r.array_len("supported_protocols", true)? {
        let name = r.string("name", true)?;
        let metadata = r.bytes("metadata", true)?;
        r.skip_tagged_fields()?;
        protocols.push(ClassicProtocol { name, metadata });
    }
    r.skip_tagged_fields()?;
    let supported_protocols = protocols;
    Ok(Some(ClassicMemberMetadata {
        session_timeout_ms,
        supported_protocols,
    }))
}

/// `len` int32s, refused before allocating if the input cannot hold them.
fn read_i32s(r: &mut Reader<'_>, field: &'static str, len: usize) -> Result<Vec<i32>> {
    let remaining = r.remaining();
    if len > remaining / 4 {
        let needed = len.saturating_mul(4);
        return Err(SchemaError::Truncated {
            field,
            needed,
            remaining,
        });
    }
    (0..len).map(|_| r.i32(field)).collect()
}

/// An array of `TopicPartitions`; `with_epochs` reads tag 0 as
/// `AssignmentEpochs` (type 8), otherwise every tag is skipped (type 7).
fn topics(
    r: &mut Reader<'_>,
    field: &'static str,
    with_epochs: bool,
) -> Result<Vec<TopicPartitions>> {
    let mut out = Vec::new();
    for _ in 0..r.array_len(field, true)? {
        let mut id = [0u8; 16];
        id.copy_from_slice(r.take(16, "topic_id")?);
        let len = r.array_len("partitions", true)?;
        let mut tp = TopicPartitions {
            topic_id: Uuid::from_bytes(id),
            partitions: read_i32s(r, "partitions", len)?,
            assignment_epochs: None,
        };
        read_tagged_fields(r, |tag, t| {
            if with_epochs && tag == 0 {
                tp.assignment_epochs = match t.uvarint("assignment_epochs")? {
                    0 => None,
                    n => Some(read_i32s(t, "assignment_epochs", n as usize - 1)?),
                };
            }
            Ok(())
        })?;
        out.push(tp);
    }
    Ok(out)
}

fn write_topics(
    w: &mut Writer,
    field: &'static str,
    topics: &[TopicPartitions],
    with_epochs: bool,
) -> Result<()> {
    w.array_len(field, topics.len(), true)?;
    for tp in topics {
        w.buf.extend_from_slice(tp.topic_id.as_bytes());
        w.array_len("partitions", tp.partitions.len(), true)?;
        tp.partitions.iter().for_each(|p| w.i32(*p));
        let mut tags = Vec::new();
        if let (true, Some(epochs)) = (with_epochs, &tp.assignment_epochs) {
            let mut s = Writer::default();
            s.array_len("assignment_epochs", epochs.len(), true)?;
            epochs.iter().for_each(|e| s.i32(*e));
            tags.push((0, s.buf));
        }
        write_tagged_fields(w, tags)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ConsumerGroupValue as V;

    /// Bytes from whitespace-separated tokens: hex digits, or `'text` for
    /// the UTF-8 bytes of `text`. Keeps hand-assembled records readable.
    fn wire(s: &str) -> Vec<u8> {
        let hex = |t: &str| -> Vec<u8> {
            let byte = |i| u8::from_str_radix(&t[i..i + 2], 16).unwrap();
            (0..t.len()).step_by(2).map(byte).collect()
        };
        let token = |t: &str| t.strip_prefix('\'').map_or_else(|| hex(t), |s| s.into());
        s.split_whitespace().flat_map(token).collect()
    }

    const T1: Uuid = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
    const T2: Uuid = Uuid::from_u128(0xffee_ddcc_bbaa_9988_7766_5544_3322_1100);
    const T1_HEX: &str = "0102030405060708090a0b0c0d0e0f10";
    const T2_HEX: &str = "ffeeddccbbaa99887766554433221100";

    fn tp(topic_id: Uuid, partitions: Vec<i32>, epochs: Option<Vec<i32>>) -> TopicPartitions {
        let assignment_epochs = epochs;
        TopicPartitions {
            topic_id,
            partitions,
            assignment_epochs,
        }
    }

    /// The key (group "g", member "m" if it has one) for `value`'s type.
    fn key_for(value: &ConsumerGroupValue) -> ConsumerGroupKey {
        let ty = value.record_type().to_be_bytes().to_vec();
        decode_consumer_key(&[ty, wire("0001 'g 0001 'm")].concat())
            .unwrap()
            .unwrap()
    }

    fn decode(key: &ConsumerGroupKey, buf: &[u8]) -> Result<ConsumerGroupValue> {
        decode_value(key, buf).map(|v| v.expect("not type 4"))
    }

    /// Values and their bytes, assembled by hand in the schemas' field
    /// order; between them every field and tag is set. Decoding the bytes
    /// gives the value and encoding the value gives the bytes, so each is
    /// also a round trip.
    fn cases() -> Vec<(ConsumerGroupValue, String)> {
        let member = MemberMetadataValue {
            instance_id: None,
            rack_id: Some("r".into()),
            client_id: "c".into(),
            client_host: "/h".into(),
            subscribed_topic_names: vec!["t".into()],
            subscribed_topic_regex: None,
            rebalance_timeout_ms: 1000,
            server_assignor: Some("uniform".into()),
            classic_member_metadata: None,
        };
        let protocol = ClassicProtocol {
            name: "range".into(),
            metadata: vec![9, 8],
        };
        let full_member = MemberMetadataValue {
            instance_id: Some("i".into()),
            subscribed_topic_regex: Some("t.*".into()),
            classic_member_metadata: Some(ClassicMemberMetadata {
                session_timeout_ms: 10,
                supported_protocols: vec![protocol],
            }),
            ..member.clone()
        };
        let current = CurrentMemberAssignmentValue {
            member_epoch: 4,
            previous_member_epoch: 3,
            state: member_state::UNRELEASED_PARTITIONS,
            assigned_partitions: vec![tp(T2, vec![7], Some(vec![2]))],
            partitions_pending_revocation: vec![tp(T1, vec![], None)],
        };
        let meta = |epoch, metadata_hash, creation_time_ms| {
            V::Metadata(ConsumerGroupMetadataValue {
                epoch,
                metadata_hash,
                creation_time_ms,
            })
        };
        let target = |assignment_epoch, assignment_timestamp_ms| {
            let v = TargetAssignmentMetadataValue {
                assignment_epoch,
                assignment_timestamp_ms,
            };
            V::TargetAssignmentMetadata(v)
        };
        let target_member = TargetAssignmentMemberValue {
            topic_partitions: vec![tp(T1, vec![1, 2], None)],
        };
        // Instance id, rack, client id, host, [topic], regex, rebalance
        // timeout, assignor.
        let member_body = "02 'r 02 'c 03 '/h 02 02 't";
        let default_member = V::MemberMetadata(Default::default());
        let default_current = V::CurrentMemberAssignment(Default::default());
        vec![
            // Every type's `Default`.
            (meta(0, 0, None), "0000 00000000 00".into()),
            (
                default_member,
                "0000 00 00 01 01 01 00 00000000 00 00".into(),
            ),
            (target(0, 0), "0000 00000000 00".into()),
            (
                V::TargetAssignmentMember(Default::default()),
                "0000 01 00".into(),
            ),
            (default_current, "0000 00000000 00000000 00 01 01 00".into()),
            // Default tags are not written: the record Kafka 4.0 writes.
            (meta(5, 0, None), "0000 00000005 00".into()),
            // Tag 0 MetadataHash, tag 1 CreationTimeMs: 8 bytes each.
            (
                meta(5, 0x102, Some(7)),
                "0000 00000005 02 00 08 0000000000000102 01 08 0000000000000007".into(),
            ),
            (
                V::MemberMetadata(member),
                format!("0000 00 {member_body} 00 000003e8 08 'uniform 00"),
            ),
            // Tag 0, 17 bytes: not-null marker, session timeout,
            // [name, metadata, tags], tags.
            (
                V::MemberMetadata(full_member),
                format!(
                    "0000 02 'i {member_body} 04 't.* 000003e8 08 'uniform \
                     01 00 11 01 0000000a 02 06 'range 03 0908 00 00"
                ),
            ),
            (target(3, 0), "0000 00000003 00".into()),
            (
                target(3, 2),
                "0000 00000003 01 00 08 0000000000000002".into(),
            ),
            // [topic id, [partitions], tags], tags.
            (
                V::TargetAssignmentMember(target_member),
                format!("0000 02 {T1_HEX} 03 00000001 00000002 00 00"),
            ),
            // Epochs, state, [T2, [7], tag 0 of 5 bytes: AssignmentEpochs
            // [2]], [T1, [], no tags], no tags.
            (
                V::CurrentMemberAssignment(current),
                format!(
                    "0000 00000004 00000003 02 02 {T2_HEX} 02 00000007 01 00 05 02 00000002 \
                     02 {T1_HEX} 01 00 00"
                ),
            ),
        ]
    }

    #[test]
    fn hand_assembled_values_match_both_ways_and_round_trip() {
        for (value, bytes) in cases() {
            let bytes = wire(&bytes);
            assert_eq!(decode(&key_for(&value), &bytes).unwrap(), value);
            assert_eq!(encode_value(&value).unwrap(), bytes, "{value:?}");
        }
    }

    #[test]
    fn keys_exact_bytes_and_round_trip() {
        use ConsumerGroupKey::*;
        let (g, m) = (|| "grp".to_string(), || "mem-ü".to_string());
        let keys = [
            Metadata { group: g() },
            PartitionMetadata { group: g() },
            MemberMetadata {
                group: g(),
                member_id: m(),
            },
            TargetAssignmentMetadata { group: g() },
            TargetAssignmentMember {
                group: g(),
                member_id: m(),
            },
            CurrentMemberAssignment {
                group: g(),
                member_id: m(),
            },
        ];
        for (ty, key) in (3..=8).zip(keys) {
            let member = if [5, 7, 8].contains(&ty) {
                " 0006 'mem-ü"
            } else {
                ""
            };
            let bytes = wire(&format!("{ty:04x} 0003 'grp{member}"));
            assert_eq!(encode_consumer_key(&key).unwrap(), bytes);
            assert_eq!(decode_consumer_key(&bytes).unwrap(), Some(key));
        }
    }

    #[test]
    fn other_record_types_are_not_consumer_keys() {
        for ty in ["ffff", "0000", "0001", "0002", "0009", "0010", "7fff"] {
            assert_eq!(decode_consumer_key(&wire(ty)).unwrap(), None);
            let key = wire(&format!("{ty} 0001 'g"));
            assert_eq!(decode_consumer_key(&key).unwrap(), None);
        }
        assert!(decode_consumer_key(&[0]).is_err());
        // A null group id, and a per-member key without its member id.
        assert!(decode_consumer_key(&wire("0003 ffff")).is_err());
        assert!(decode_consumer_key(&wire("0005 0001 'g")).is_err());
        let long = ConsumerGroupKey::Metadata {
            group: "x".repeat(0x8000),
        };
        let err = encode_consumer_key(&long);
        assert!(matches!(err, Err(SchemaError::StringTooLong { .. })));
    }

    #[test]
    fn unknown_tagged_fields_are_skipped() {
        let meta = ConsumerGroupMetadataValue {
            epoch: 1,
            metadata_hash: 5,
            creation_time_ms: Some(6),
        };
        let target_member = TargetAssignmentMemberValue {
            topic_partitions: vec![tp(T1, vec![1], None)],
        };
        let current = CurrentMemberAssignmentValue {
            assigned_partitions: vec![tp(T1, vec![1], None)],
            ..Default::default()
        };
        let classic = ClassicMemberMetadata {
            session_timeout_ms: 10,
            supported_protocols: vec![ClassicProtocol::default()],
        };
        let member = MemberMetadataValue {
            classic_member_metadata: Some(classic),
            ..Default::default()
        };
        let empty_member = "0000 00 00 01 01 01 00 00000000 00";
        let cases = [
            // Unknown tag 9 between the known ones.
            (
                V::Metadata(meta),
                "0000 00000001 03 00 08 0000000000000005 09 02 aabb 01 08 0000000000000006".into(),
            ),
            // The type-7 struct defines no tag 0, the value no tag 4.
            (
                V::TargetAssignmentMember(target_member),
                format!("0000 02 {T1_HEX} 02 00000001 01 00 02 0100 01 04 01 7f"),
            ),
            // Type 8: AssignmentEpochs explicitly null, then unknown tag 3.
            (
                V::CurrentMemberAssignment(current),
                format!(
                    "0000 00000000 00000000 00 02 {T1_HEX} 02 00000001 02 00 01 00 03 00 01 00"
                ),
            ),
            // Unknown tags in both structs of ClassicMemberMetadata.
            (
                V::MemberMetadata(member),
                format!("{empty_member} 01 00 0f 01 0000000a 02 01 01 01 05 00 01 06 01 00"),
            ),
            // ClassicMemberMetadata present but marked null.
            (
                V::MemberMetadata(Default::default()),
                format!("{empty_member} 01 00 01 00"),
            ),
        ];
        for (value, bytes) in cases {
            assert_eq!(decode(&key_for(&value), &wire(&bytes)).unwrap(), value);
        }
    }

    #[test]
    fn type_4_values_are_ignored_and_versions_checked() {
        let key = ConsumerGroupKey::PartitionMetadata { group: "g".into() };
        assert_eq!(decode_value(&key, &[0xde, 0xad]).unwrap(), None);
        let key = ConsumerGroupKey::Metadata { group: "g".into() };
        for version in [-1i16, 1, 2] {
            let bytes = [version.to_be_bytes().to_vec(), wire("00000001 00")].concat();
            let schema = "ConsumerGroupMetadataValue";
            let want = SchemaError::UnsupportedVersion { schema, version };
            assert_eq!(decode_value(&key, &bytes), Err(want));
        }
        // Bytes after the last field are ignored, as Kafka does.
        let (v, bytes) = cases().pop().unwrap();
        let bytes = [wire(&bytes), vec![1, 2, 3]].concat();
        assert_eq!(decode(&key_for(&v), &bytes).unwrap(), v);
    }

    #[test]
    fn huge_lengths_fail_without_allocating() {
        let member = key_for(&V::MemberMetadata(Default::default()));
        let current = key_for(&V::CurrentMemberAssignment(Default::default()));
        let group = key_for(&V::Metadata(Default::default()));
        let huge = "ffffffff0f"; // varint 2^32 - 1
        let cases = [
            (&member, format!("0000 00 00 01 01 {huge}")),
            (&current, format!("0000 00000001 00000000 00 {huge}")),
            (
                &current,
                format!("0000 00000001 00000000 00 02 {T1_HEX} {huge}"),
            ),
            (
                &current,
                format!("0000 00000001 00000000 00 02 {T1_HEX} 01 01 00 05 {huge}"),
            ),
            (&group, format!("0000 00000001 {huge}")),
        ];
        for (key, bytes) in cases {
            let err = decode(key, &wire(&bytes));
            assert!(
                matches!(err, Err(SchemaError::Truncated { .. })),
                "{bytes}: {err:?}"
            );
        }
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        for (v, _) in cases() {
            let full = encode_value(&v).unwrap();
            for len in 0..full.len() {
                assert!(
                    decode(&key_for(&v), &full[..len]).is_err(),
                    "{v:?} at {len}"
                );
            }
            let key = encode_consumer_key(&key_for(&v)).unwrap();
            for len in 0..key.len() {
                assert!(decode_consumer_key(&key[..len]).is_err());
            }
        }
    }

    #[test]
    fn random_and_mutated_input_never_panics() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let encoded: Vec<_> = cases().iter().map(|(v, b)| (key_for(v), wire(b))).collect();
        for round in 0..40_000 {
            let (key, base) = &encoded[round % encoded.len()];
            let mut buf = base.clone();
            if round % 2 == 0 {
                for _ in 0..1 + next() % 3 {
                    let i = next() as usize % buf.len();
                    buf[i] = next() as u8;
                }
            } else {
                buf.truncate(2);
                buf.extend((0..next() % 48).map(|_| next() as u8));
            }
            let _ = decode_value(key, &buf);
            let _ = decode_consumer_key(&buf);
            let _ = decode_consumer_key(&[&[0, 3 + (round % 6) as u8][..], &buf].concat());
        }
    }
}
