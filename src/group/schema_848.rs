//! KIP-848 consumer-group records of the `__consumer_offsets` topic.
//!
//! A consumer group of the new protocol (`group.protocol=consumer`) keeps
//! its state as five kinds of records next to the offset commits. Layouts
//! follow Kafka 4.x's `group-coordinator/src/main/resources/common/message/`
//! schema files:
//!
//! | Type | Key (group, member)                       | Value fields                                                      |
//! |------|-------------------------------------------|-------------------------------------------------------------------|
//! | 3    | `ConsumerGroupMetadataKey` (g)            | `Epoch`; tags 0 `MetadataHash`, 1 `CreationTimeMs`                |
//! | 4    | `ConsumerGroupPartitionMetadataKey` (g)   | deprecated: key decoded, value never read or written              |
//! | 5    | `ConsumerGroupMemberMetadataKey` (g, m)   | instance, rack, client, subscription, ...; tag 0 classic metadata |
//! | 6    | `ConsumerGroupTargetAssignmentMetadataKey` (g) | `AssignmentEpoch`; tag 0 `AssignmentTimestamp`               |
//! | 7    | `ConsumerGroupTargetAssignmentMemberKey` (g, m) | `TopicPartitions`                                           |
//! | 8    | `ConsumerGroupCurrentMemberAssignmentKey` (g, m) | epochs, state, assigned / pending-revocation partitions    |
//!
//! Keys are not flexible: the `int16` record type, then `int16`-length
//! strings. Every value defines version 0 only, flexible from 0: the
//! `int16` version, then compact strings/arrays (unsigned varint length + 1,
//! 0 for null) and a tagged-field section closing every struct, nested ones
//! included.
//!
//! # Versions written
//!
//! Kafka 4.x writes every value at version 0 (the only one), so do we. A
//! tagged field is written only when it differs from its schema default,
//! as Kafka's generated code does, so a record without the newer tags is
//! byte-for-byte what Kafka 4.0 would write; brokers that predate a tag
//! skip it. Tags came with: `MetadataHash` 4.1 (KIP-1101),
//! `AssignmentTimestamp` and `AssignmentEpochs` 4.3 (KIP-1263, KIP-1251),
//! `CreationTimeMs` (KIP-1282). Decoders read every tag listed here and skip
//! unknown ones, so records of any 4.x broker load.
//!
//! Type 4 (`ConsumerGroupPartitionMetadata`) is the subscribed-topic
//! metadata Kafka 4.0 still writes and 4.1 replaced by `MetadataHash`.
//! gregor derives that information from live topic metadata, so it
//! recognises the key (a tombstone for it can be written) and ignores the
//! value. This module is the codec only: the consumer-group coordinator
//! decides what to persist and how to replay it.
//!
//! Decoders never panic: lengths are checked against the bytes left before
//! anything is allocated, and bytes after the last field are ignored, as in
//! Kafka.

use uuid::Uuid;

use super::schema::{record_type, Reader, SchemaError, Writer, NO_TIMESTAMP};

type Result<T> = std::result::Result<T, SchemaError>;

/// The only value version Kafka defines for records 3-8, and the one written.
pub const VALUE_VERSION: i16 = 0;

/// Values of `ConsumerGroupCurrentMemberAssignmentValue.State` (Kafka's
/// `MemberState`).
pub mod member_state {
    /// Reconciled with the target assignment.
    pub const STABLE: i8 = 0;
    /// Must revoke partitions before moving to the next epoch.
    pub const UNREVOKED_PARTITIONS: i8 = 1;
    /// At the target epoch, waiting for partitions others still hold.
    pub const UNRELEASED_PARTITIONS: i8 = 2;
    /// A state from a newer version.
    pub const UNKNOWN: i8 = 127;
}

/// A key of record type 3-8.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ConsumerGroupKey {
    Metadata {
        group: String,
    },
    /// Type 4, deprecated: recognised so replay can skip (or delete) it.
    PartitionMetadata {
        group: String,
    },
    MemberMetadata {
        group: String,
        member_id: String,
    },
    TargetAssignmentMetadata {
        group: String,
    },
    TargetAssignmentMember {
        group: String,
        member_id: String,
    },
    CurrentMemberAssignment {
        group: String,
        member_id: String,
    },
}

impl ConsumerGroupKey {
    /// The `int16` written in front of the key.
    pub fn record_type(&self) -> i16 {
        use ConsumerGroupKey::*;
        match self {
            Metadata { .. } => record_type::CONSUMER_GROUP_METADATA,
            PartitionMetadata { .. } => record_type::CONSUMER_GROUP_PARTITION_METADATA,
            MemberMetadata { .. } => record_type::CONSUMER_GROUP_MEMBER_METADATA,
            TargetAssignmentMetadata { .. } => {
                record_type::CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA
            }
            TargetAssignmentMember { .. } => record_type::CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER,
            CurrentMemberAssignment { .. } => record_type::CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT,
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

    /// The member id, for the per-member records 5, 7 and 8.
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

/// Decodes a key of record type 3-8; `Ok(None)` for any other type (the
/// body is then not looked at). Errors only when the key is too short for
/// its type or holds a null/invalid string.
pub fn decode_consumer_key(buf: &[u8]) -> Result<Option<ConsumerGroupKey>> {
    use ConsumerGroupKey::*;
    let mut r = Reader::new(buf);
    let ty = r.i16("key version")?;
    if !(3..=8).contains(&ty) {
        return Ok(None);
    }
    let group = r.string("group_id", false)?;
    let mut member = || r.string("member_id", false);
    Ok(Some(match ty {
        3 => Metadata { group },
        4 => PartitionMetadata { group },
        5 => MemberMetadata {
            group,
            member_id: member()?,
        },
        6 => TargetAssignmentMetadata { group },
        7 => TargetAssignmentMember {
            group,
            member_id: member()?,
        },
        _ => CurrentMemberAssignment {
            group,
            member_id: member()?,
        },
    }))
}

/// Encodes a key: the record type, the group id, then the member id for the
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

/// `ConsumerGroupMetadataValue` (type 3): the group epoch.
///
/// | Field               | Wire              | Default |
/// |---------------------|-------------------|---------|
/// | `epoch`             | int32             |         |
/// | `metadata_hash`     | tag 0, int64      | 0       |
/// | `creation_time_ms`  | tag 1, int64      | -1      |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupMetadataValue {
    pub epoch: i32,
    /// Hash of the subscribed topics' metadata; 0 = not computed.
    pub metadata_hash: i64,
    /// When the group was created; -1 = unknown.
    pub creation_time_ms: i64,
}

impl Default for ConsumerGroupMetadataValue {
    fn default() -> Self {
        ConsumerGroupMetadataValue {
            epoch: 0,
            metadata_hash: 0,
            creation_time_ms: NO_TIMESTAMP,
        }
    }
}

/// `ConsumerGroupMemberMetadataValue` (type 5), fields in wire order.
///
/// | Field                    | Wire                    | Nullable |
/// |--------------------------|-------------------------|----------|
/// | `instance_id`            | compact string          | yes      |
/// | `rack_id`                | compact string          | yes      |
/// | `client_id`              | compact string          | no       |
/// | `client_host`            | compact string          | no       |
/// | `subscribed_topic_names` | compact array of string | no       |
/// | `subscribed_topic_regex` | compact string          | yes      |
/// | `rebalance_timeout_ms`   | int32 (default -1)      |          |
/// | `server_assignor`        | compact string          | yes      |
/// | `classic_member_metadata`| tag 0, nullable struct  | yes (default null) |
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberMetadataValue {
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub server_assignor: Option<String>,
    /// Set only for a classic-protocol consumer that joined a consumer
    /// group (KIP-848 upgrade path); gregor's own members leave it `None`.
    pub classic_member_metadata: Option<ClassicMemberMetadata>,
}

impl Default for MemberMetadataValue {
    fn default() -> Self {
        MemberMetadataValue {
            instance_id: None,
            rack_id: None,
            client_id: String::new(),
            client_host: String::new(),
            subscribed_topic_names: Vec::new(),
            subscribed_topic_regex: None,
            rebalance_timeout_ms: -1,
            server_assignor: None,
            classic_member_metadata: None,
        }
    }
}

/// Tag 0 of [`MemberMetadataValue`]: `SessionTimeoutMs` int32, then
/// `SupportedProtocols` (compact array of name + compact bytes). As a
/// nullable tagged struct it is written as tag, size, a varint 1 (present),
/// then the struct; the size counts that marker.
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

/// `ConsumerGroupTargetAssignmentMetadataValue` (type 6): the epoch the
/// target assignment was computed at (int32); tag 0 `AssignmentTimestamp`
/// (int64, default 0 = not recorded).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetAssignmentMetadataValue {
    pub assignment_epoch: i32,
    pub assignment_timestamp_ms: i64,
}

/// Partitions of one topic, by topic id: 16-byte uuid, compact array of
/// int32, tagged fields.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicPartitions {
    pub topic_id: Uuid,
    pub partitions: Vec<i32>,
    /// Tag 0 in `ConsumerGroupCurrentMemberAssignmentValue` only (nullable
    /// compact int32 array aligned with `partitions`, default null): the
    /// epoch each partition was assigned at. The target-assignment struct
    /// has no such field; it decodes as `None` there and is not written.
    pub assignment_epochs: Option<Vec<i32>>,
}

/// `ConsumerGroupTargetAssignmentMemberValue` (type 7): a member's target.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TargetAssignmentMemberValue {
    pub topic_partitions: Vec<TopicPartitions>,
}

/// `ConsumerGroupCurrentMemberAssignmentValue` (type 8), in wire order:
/// `member_epoch` int32, `previous_member_epoch` int32, `state` int8 (see
/// [`member_state`]), then two compact arrays of [`TopicPartitions`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CurrentMemberAssignmentValue {
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: i8,
    pub assigned_partitions: Vec<TopicPartitions>,
    pub partitions_pending_revocation: Vec<TopicPartitions>,
}

/// A decoded value of record type 3 or 5-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConsumerGroupValue {
    Metadata(ConsumerGroupMetadataValue),
    MemberMetadata(MemberMetadataValue),
    TargetAssignmentMetadata(TargetAssignmentMetadataValue),
    TargetAssignmentMember(TargetAssignmentMemberValue),
    CurrentMemberAssignment(CurrentMemberAssignmentValue),
}

impl ConsumerGroupValue {
    /// The record type of the key this value belongs under.
    pub fn record_type(&self) -> i16 {
        use ConsumerGroupValue::*;
        match self {
            Metadata(_) => record_type::CONSUMER_GROUP_METADATA,
            MemberMetadata(_) => record_type::CONSUMER_GROUP_MEMBER_METADATA,
            TargetAssignmentMetadata(_) => record_type::CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA,
            TargetAssignmentMember(_) => record_type::CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER,
            CurrentMemberAssignment(_) => record_type::CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT,
        }
    }

    fn schema(record_type: i16) -> &'static str {
        match record_type {
            3 => "ConsumerGroupMetadataValue",
            5 => "ConsumerGroupMemberMetadataValue",
            6 => "ConsumerGroupTargetAssignmentMetadataValue",
            7 => "ConsumerGroupTargetAssignmentMemberValue",
            _ => "ConsumerGroupCurrentMemberAssignmentValue",
        }
    }
}

/// Encodes a value at [`VALUE_VERSION`], tagged fields only when they
/// differ from their defaults. Fails on strings over 32767 bytes or
/// collections over `i32::MAX` entries.
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
            if v.creation_time_ms != NO_TIMESTAMP {
                tags.push((1, v.creation_time_ms.to_be_bytes().to_vec()));
            }
        }
        ConsumerGroupValue::MemberMetadata(v) => {
            w.nullable_string("instance_id", v.instance_id.as_deref(), true)?;
            w.nullable_string("rack_id", v.rack_id.as_deref(), true)?;
            w.string("client_id", &v.client_id, true)?;
            w.string("client_host", &v.client_host, true)?;
            w.array_len(
                "subscribed_topic_names",
                v.subscribed_topic_names.len(),
                true,
            )?;
            for topic in &v.subscribed_topic_names {
                w.string("subscribed_topic_names", topic, true)?;
            }
            w.nullable_string(
                "subscribed_topic_regex",
                v.subscribed_topic_regex.as_deref(),
                true,
            )?;
            w.i32(v.rebalance_timeout_ms);
            w.nullable_string("server_assignor", v.server_assignor.as_deref(), true)?;
            if let Some(classic) = &v.classic_member_metadata {
                let mut s = Writer::default();
                s.uvarint(1); // not null
                s.i32(classic.session_timeout_ms);
                s.array_len(
                    "supported_protocols",
                    classic.supported_protocols.len(),
                    true,
                )?;
                for p in &classic.supported_protocols {
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
            write_topic_partitions(&mut w, "topic_partitions", &v.topic_partitions, false)?;
        }
        ConsumerGroupValue::CurrentMemberAssignment(v) => {
            w.i32(v.member_epoch);
            w.i32(v.previous_member_epoch);
            w.buf.push(v.state as u8);
            write_topic_partitions(&mut w, "assigned_partitions", &v.assigned_partitions, true)?;
            let pending = &v.partitions_pending_revocation;
            write_topic_partitions(&mut w, "partitions_pending_revocation", pending, true)?;
        }
    }
    write_tagged_fields(&mut w, tags)?;
    Ok(w.buf)
}

/// Decodes the value stored under `key`. `Ok(None)` for the deprecated
/// type 4, whose value is ignored without being read. Any version other
/// than 0 is [`SchemaError::UnsupportedVersion`].
pub fn decode_value(key: &ConsumerGroupKey, buf: &[u8]) -> Result<Option<ConsumerGroupValue>> {
    let ty = key.record_type();
    if let ConsumerGroupKey::PartitionMetadata { .. } = key {
        return Ok(None);
    }
    let r = &mut Reader::new(buf);
    let version = r.i16("value version")?;
    if version != VALUE_VERSION {
        let schema = ConsumerGroupValue::schema(ty);
        return Err(SchemaError::UnsupportedVersion { schema, version });
    }
    let value = match key {
        ConsumerGroupKey::Metadata { .. } => {
            let mut v = ConsumerGroupMetadataValue {
                epoch: r.i32("epoch")?,
                ..Default::default()
            };
            read_tagged_fields(r, |tag, t| {
                match tag {
                    0 => v.metadata_hash = t.i64("metadata_hash")?,
                    1 => v.creation_time_ms = t.i64("creation_time_ms")?,
                    _ => {}
                }
                Ok(())
            })?;
            ConsumerGroupValue::Metadata(v)
        }
        ConsumerGroupKey::MemberMetadata { .. } => {
            let mut v = MemberMetadataValue {
                instance_id: r.nullable_string("instance_id", true)?,
                rack_id: r.nullable_string("rack_id", true)?,
                client_id: r.string("client_id", true)?,
                client_host: r.string("client_host", true)?,
                subscribed_topic_names: {
                    let n = r.array_len("subscribed_topic_names", true)?;
                    let mut names = Vec::with_capacity(n.min(256));
                    for _ in 0..n {
                        names.push(r.string("subscribed_topic_names", true)?);
                    }
                    names
                },
                subscribed_topic_regex: r.nullable_string("subscribed_topic_regex", true)?,
                rebalance_timeout_ms: r.i32("rebalance_timeout_ms")?,
                server_assignor: r.nullable_string("server_assignor", true)?,
                classic_member_metadata: None,
            };
            read_tagged_fields(r, |tag, t| {
                if tag == 0 {
                    v.classic_member_metadata = read_classic_member_metadata(t)?;
                }
                Ok(())
            })?;
            ConsumerGroupValue::MemberMetadata(v)
        }
        ConsumerGroupKey::TargetAssignmentMetadata { .. } => {
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
            let topic_partitions = read_topic_partitions(r, "topic_partitions", false)?;
            r.skip_tagged_fields()?;
            ConsumerGroupValue::TargetAssignmentMember(TargetAssignmentMemberValue {
                topic_partitions,
            })
        }
        ConsumerGroupKey::CurrentMemberAssignment { .. } => {
            let v = CurrentMemberAssignmentValue {
                member_epoch: r.i32("member_epoch")?,
                previous_member_epoch: r.i32("previous_member_epoch")?,
                state: r.take(1, "state")?[0] as i8,
                assigned_partitions: read_topic_partitions(r, "assigned_partitions", true)?,
                partitions_pending_revocation: read_topic_partitions(
                    r,
                    "partitions_pending_revocation",
                    true,
                )?,
            };
            r.skip_tagged_fields()?;
            ConsumerGroupValue::CurrentMemberAssignment(v)
        }
        ConsumerGroupKey::PartitionMetadata { .. } => return Ok(None),
    };
    Ok(Some(value))
}

/// Reads a tagged-field section, handing each field's bytes to `known` in
/// a reader of their own (unknown tags are for `known` to ignore). Every
/// field takes at least two bytes, so a huge count fails fast.
fn read_tagged_fields<'a>(
    r: &mut Reader<'a>,
    mut known: impl FnMut(u32, &mut Reader<'a>) -> Result<()>,
) -> Result<()> {
    let count = r.uvarint("tagged field count")?;
    for _ in 0..count {
        let tag = r.uvarint("tagged field tag")?;
        let size = r.uvarint("tagged field size")?;
        let data = r.take(
            usize::try_from(size).unwrap_or(usize::MAX),
            "tagged field data",
        )?;
        known(tag, &mut Reader::new(data))?;
    }
    Ok(())
}

/// Writes a tagged-field section; `fields` are in ascending tag order.
fn write_tagged_fields(w: &mut Writer, fields: Vec<(u32, Vec<u8>)>) -> Result<()> {
    w.uvarint(fields.len() as u32);
    for (tag, data) in fields {
        if data.len() > i32::MAX as usize {
            return Err(SchemaError::TooLarge {
                field: "tagged field",
                length: data.len(),
            });
        }
        w.uvarint(tag);
        w.uvarint(data.len() as u32);
        w.buf.extend_from_slice(&data);
    }
    Ok(())
}

fn read_classic_member_metadata(r: &mut Reader<'_>) -> Result<Option<ClassicMemberMetadata>> {
    if r.uvarint("classic_member_metadata")? == 0 {
        return Ok(None);
    }
    let session_timeout_ms = r.i32("session_timeout_ms")?;
    let n = r.array_len("supported_protocols", true)?;
    let mut supported_protocols = Vec::with_capacity(n.min(64));
    for _ in 0..n {
        let name = r.string("name", true)?;
        let metadata = r.bytes("metadata", true)?;
        r.skip_tagged_fields()?;
        supported_protocols.push(ClassicProtocol { name, metadata });
    }
    r.skip_tagged_fields()?;
    Ok(Some(ClassicMemberMetadata {
        session_timeout_ms,
        supported_protocols,
    }))
}

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

/// A compact array of `TopicPartitions`; `with_epochs` reads tag 0 as
/// `AssignmentEpochs` (the current-assignment struct), otherwise every tag
/// is skipped (the target-assignment struct defines none).
fn read_topic_partitions(
    r: &mut Reader<'_>,
    field: &'static str,
    with_epochs: bool,
) -> Result<Vec<TopicPartitions>> {
    let n = r.array_len(field, true)?;
    let mut out = Vec::with_capacity(n.min(256));
    for _ in 0..n {
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
                    n => Some(read_i32s(t, "assignment_epochs", (n - 1) as usize)?),
                };
            }
            Ok(())
        })?;
        out.push(tp);
    }
    Ok(out)
}

fn write_topic_partitions(
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

    fn be32(v: i32) -> Vec<u8> {
        v.to_be_bytes().to_vec()
    }
    fn be64(v: i64) -> Vec<u8> {
        v.to_be_bytes().to_vec()
    }
    /// Compact string of fewer than 127 bytes.
    fn cs(s: &str) -> Vec<u8> {
        [vec![s.len() as u8 + 1], s.as_bytes().to_vec()].concat()
    }
    fn key(ty: i16, group: &str, member: Option<&str>) -> Vec<u8> {
        let mut v = ty.to_be_bytes().to_vec();
        for s in std::iter::once(group).chain(member) {
            v.extend((s.len() as i16).to_be_bytes());
            v.extend(s.as_bytes());
        }
        v
    }
    const T1: Uuid = Uuid::from_u128(0x0102_0304_0506_0708_090a_0b0c_0d0e_0f10);
    const T2: Uuid = Uuid::from_u128(0xffee_ddcc_bbaa_9988_7766_5544_3322_1100);

    fn member_key() -> ConsumerGroupKey {
        let (group, member_id) = ("g".to_string(), "m".to_string());
        ConsumerGroupKey::MemberMetadata { group, member_id }
    }
    fn current_key() -> ConsumerGroupKey {
        let (group, member_id) = ("g".to_string(), "m".to_string());
        ConsumerGroupKey::CurrentMemberAssignment { group, member_id }
    }
    fn key_for(value: &ConsumerGroupValue) -> ConsumerGroupKey {
        let group = "g".to_string();
        let member_id = "m".to_string();
        match value {
            ConsumerGroupValue::Metadata(_) => ConsumerGroupKey::Metadata { group },
            ConsumerGroupValue::MemberMetadata(_) => member_key(),
            ConsumerGroupValue::TargetAssignmentMetadata(_) => {
                ConsumerGroupKey::TargetAssignmentMetadata { group }
            }
            ConsumerGroupValue::TargetAssignmentMember(_) => {
                ConsumerGroupKey::TargetAssignmentMember { group, member_id }
            }
            ConsumerGroupValue::CurrentMemberAssignment(_) => current_key(),
        }
    }

    /// Every value type, with every field (tags included) away from its default.
    fn samples() -> Vec<ConsumerGroupValue> {
        let tp = |id, partitions: Vec<i32>, epochs: Option<Vec<i32>>| TopicPartitions {
            topic_id: id,
            partitions,
            assignment_epochs: epochs,
        };
        vec![
            ConsumerGroupValue::Metadata(ConsumerGroupMetadataValue {
                epoch: 42,
                metadata_hash: -7,
                creation_time_ms: 1_700_000_000_000,
            }),
            ConsumerGroupValue::MemberMetadata(MemberMetadataValue {
                instance_id: Some("inst".into()),
                rack_id: Some("rack-é".into()),
                client_id: "client".into(),
                client_host: "/10.0.0.1".into(),
                subscribed_topic_names: vec!["a".into(), "b".into()],
                subscribed_topic_regex: Some("t.*".into()),
                rebalance_timeout_ms: 300_000,
                server_assignor: Some("uniform".into()),
                classic_member_metadata: Some(ClassicMemberMetadata {
                    session_timeout_ms: 45_000,
                    supported_protocols: vec![ClassicProtocol {
                        name: "range".into(),
                        metadata: vec![0, 1, 2],
                    }],
                }),
            }),
            ConsumerGroupValue::TargetAssignmentMetadata(TargetAssignmentMetadataValue {
                assignment_epoch: 9,
                assignment_timestamp_ms: 123,
            }),
            ConsumerGroupValue::TargetAssignmentMember(TargetAssignmentMemberValue {
                topic_partitions: vec![tp(T1, vec![0, 2], None), tp(T2, vec![], None)],
            }),
            ConsumerGroupValue::CurrentMemberAssignment(CurrentMemberAssignmentValue {
                member_epoch: 10,
                previous_member_epoch: 9,
                state: member_state::UNREVOKED_PARTITIONS,
                assigned_partitions: vec![tp(T1, vec![1, 3], Some(vec![4, 10]))],
                partitions_pending_revocation: vec![tp(T2, vec![5], None)],
            }),
        ]
    }

    fn decode(key: &ConsumerGroupKey, buf: &[u8]) -> Result<ConsumerGroupValue> {
        decode_value(key, buf).map(|v| v.expect("not type 4"))
    }

    /// `bytes` decodes to `value` and `value` encodes to `bytes`.
    fn check_wire(value: ConsumerGroupValue, bytes: Vec<u8>) {
        assert_eq!(decode(&key_for(&value), &bytes).unwrap(), value);
        assert_eq!(encode_value(&value).unwrap(), bytes);
    }

    #[test]
    fn keys_exact_bytes_and_round_trip() {
        let keys = [
            (
                3,
                None,
                ConsumerGroupKey::Metadata {
                    group: "grp".into(),
                },
            ),
            (
                4,
                None,
                ConsumerGroupKey::PartitionMetadata {
                    group: "grp".into(),
                },
            ),
            (
                6,
                None,
                ConsumerGroupKey::TargetAssignmentMetadata {
                    group: "grp".into(),
                },
            ),
        ];
        for (ty, _, k) in keys {
            assert_eq!(encode_consumer_key(&k).unwrap(), key(ty, "grp", None));
            assert_eq!(decode_consumer_key(&key(ty, "grp", None)).unwrap(), Some(k));
        }
        let (g, m) = ("grp".to_string(), "mem-ü".to_string());
        for (ty, k) in [
            (
                5,
                ConsumerGroupKey::MemberMetadata {
                    group: g.clone(),
                    member_id: m.clone(),
                },
            ),
            (
                7,
                ConsumerGroupKey::TargetAssignmentMember {
                    group: g.clone(),
                    member_id: m.clone(),
                },
            ),
            (
                8,
                ConsumerGroupKey::CurrentMemberAssignment {
                    group: g.clone(),
                    member_id: m.clone(),
                },
            ),
        ] {
            let bytes = key(ty, &g, Some(&m));
            assert_eq!(encode_consumer_key(&k).unwrap(), bytes);
            assert_eq!(decode_consumer_key(&bytes).unwrap().as_ref(), Some(&k));
            assert_eq!(
                (k.record_type(), k.group(), k.member_id()),
                (ty, "grp", Some("mem-ü"))
            );
        }
        assert_eq!(key(5, "g", Some("m")), [0, 5, 0, 1, b'g', 0, 1, b'm']);
    }

    #[test]
    fn other_record_types_are_not_consumer_keys() {
        for ty in [-1i16, 0, 1, 2, 9, 16, 24, i16::MAX] {
            assert_eq!(decode_consumer_key(&key(ty, "g", None)).unwrap(), None);
            assert_eq!(decode_consumer_key(&ty.to_be_bytes()).unwrap(), None);
        }
        assert!(decode_consumer_key(&[0]).is_err());
        // A null group id (length -1) is not a valid key.
        assert!(decode_consumer_key(&[0, 3, 0xff, 0xff]).is_err());
        // The member id is required for the per-member types.
        assert!(decode_consumer_key(&key(5, "g", None)).is_err());
        let long = "x".repeat(0x8000);
        let k = ConsumerGroupKey::Metadata { group: long };
        assert!(matches!(
            encode_consumer_key(&k),
            Err(SchemaError::StringTooLong { .. })
        ));
    }

    #[test]
    fn every_value_round_trips() {
        let mut values = samples();
        values.push(ConsumerGroupValue::Metadata(Default::default()));
        values.push(ConsumerGroupValue::MemberMetadata(Default::default()));
        values.push(ConsumerGroupValue::TargetAssignmentMetadata(
            Default::default(),
        ));
        values.push(ConsumerGroupValue::TargetAssignmentMember(
            Default::default(),
        ));
        values.push(ConsumerGroupValue::CurrentMemberAssignment(
            Default::default(),
        ));
        for v in values {
            let bytes = encode_value(&v).unwrap();
            assert_eq!(&bytes[..2], &[0, 0]);
            assert_eq!(decode(&key_for(&v), &bytes).unwrap(), v);
            assert_eq!(v.record_type(), key_for(&v).record_type());
        }
    }

    #[test]
    fn group_metadata_value_wire_layout() {
        let v = ConsumerGroupMetadataValue {
            epoch: 5,
            ..Default::default()
        };
        // Defaults leave the tag section empty: what Kafka 4.0 writes.
        check_wire(
            ConsumerGroupValue::Metadata(v),
            [vec![0, 0], be32(5), vec![0]].concat(),
        );
        let v = ConsumerGroupMetadataValue {
            epoch: 5,
            metadata_hash: 0x0102,
            creation_time_ms: 7,
        };
        let tags = [vec![2, 0, 8], be64(0x0102), vec![1, 8], be64(7)].concat();
        check_wire(
            ConsumerGroupValue::Metadata(v),
            [vec![0, 0], be32(5), tags].concat(),
        );
    }

    #[test]
    fn member_metadata_value_wire_layout() {
        let v = MemberMetadataValue {
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
        let body = [
            vec![0, 0],                  // version
            vec![0],                     // instance_id: null
            cs("r"),                     // rack_id
            cs("c"),                     // client_id
            cs("/h"),                    // client_host
            [vec![2], cs("t")].concat(), // subscribed_topic_names
            vec![0],                     // subscribed_topic_regex: null
            be32(1000),                  // rebalance_timeout_ms
            cs("uniform"),               // server_assignor
        ]
        .concat();
        check_wire(
            ConsumerGroupValue::MemberMetadata(v.clone()),
            [body.clone(), vec![0]].concat(),
        );

        let classic = ClassicMemberMetadata {
            session_timeout_ms: 10,
            supported_protocols: vec![ClassicProtocol {
                name: "range".into(),
                metadata: vec![9, 8],
            }],
        };
        let data = [
            vec![1],
            be32(10),
            vec![2],
            cs("range"),
            vec![3, 9, 8, 0],
            vec![0],
        ]
        .concat();
        assert_eq!(data.len(), 17);
        let tags = [vec![1, 0, 17], data].concat();
        let v = MemberMetadataValue {
            classic_member_metadata: Some(classic),
            ..v
        };
        check_wire(ConsumerGroupValue::MemberMetadata(v), [body, tags].concat());
    }

    #[test]
    fn target_assignment_values_wire_layout() {
        let v = TargetAssignmentMetadataValue {
            assignment_epoch: 3,
            assignment_timestamp_ms: 0,
        };
        let bytes = [vec![0, 0], be32(3), vec![0]].concat();
        check_wire(ConsumerGroupValue::TargetAssignmentMetadata(v), bytes);
        let v = TargetAssignmentMetadataValue {
            assignment_epoch: 3,
            assignment_timestamp_ms: 2,
        };
        let bytes = [vec![0, 0], be32(3), vec![1, 0, 8], be64(2)].concat();
        check_wire(ConsumerGroupValue::TargetAssignmentMetadata(v), bytes);

        let tp = TopicPartitions {
            topic_id: T1,
            partitions: vec![1, 2],
            assignment_epochs: None,
        };
        let v = TargetAssignmentMemberValue {
            topic_partitions: vec![tp],
        };
        let bytes = [
            vec![0, 0, 2],
            T1.as_bytes().to_vec(),
            vec![3],
            be32(1),
            be32(2),
            vec![0], // TopicPartition tags
            vec![0], // value tags
        ]
        .concat();
        check_wire(ConsumerGroupValue::TargetAssignmentMember(v), bytes);
    }

    #[test]
    fn current_member_assignment_value_wire_layout() {
        let v = CurrentMemberAssignmentValue {
            member_epoch: 4,
            previous_member_epoch: 3,
            state: member_state::UNRELEASED_PARTITIONS,
            assigned_partitions: vec![TopicPartitions {
                topic_id: T2,
                partitions: vec![7],
                assignment_epochs: Some(vec![2]),
            }],
            partitions_pending_revocation: vec![],
        };
        let bytes = [
            vec![0, 0],
            be32(4),
            be32(3),
            vec![2], // state
            vec![2], // one assigned topic
            T2.as_bytes().to_vec(),
            vec![2],
            be32(7),
            vec![1, 0, 5, 2], // tag 0, 5 bytes: AssignmentEpochs [2]
            be32(2),
            vec![1], // no partitions pending revocation
            vec![0],
        ]
        .concat();
        check_wire(ConsumerGroupValue::CurrentMemberAssignment(v), bytes);
    }

    #[test]
    fn unknown_tagged_fields_are_skipped() {
        // Group metadata: unknown tag 9 between the known ones.
        let bytes = [
            vec![0, 0],
            be32(1),
            vec![3, 0, 8],
            be64(5),
            vec![9, 2, 0xaa, 0xbb],
        ]
        .concat();
        let bytes = [bytes, vec![1, 8], be64(6)].concat();
        let want = ConsumerGroupMetadataValue {
            epoch: 1,
            metadata_hash: 5,
            creation_time_ms: 6,
        };
        let k = ConsumerGroupKey::Metadata { group: "g".into() };
        assert_eq!(
            decode(&k, &bytes).unwrap(),
            ConsumerGroupValue::Metadata(want)
        );

        // Target member: tag 0 inside TopicPartition is not defined there.
        let tp = [
            T1.as_bytes().to_vec(),
            vec![2],
            be32(1),
            vec![1, 0, 2, 1, 0],
        ]
        .concat();
        let bytes = [vec![0, 0, 2], tp, vec![1, 4, 1, 0x7f]].concat();
        let k = ConsumerGroupKey::TargetAssignmentMember {
            group: "g".into(),
            member_id: "m".into(),
        };
        let tp = TopicPartitions {
            topic_id: T1,
            partitions: vec![1],
            assignment_epochs: None,
        };
        let want = TargetAssignmentMemberValue {
            topic_partitions: vec![tp],
        };
        assert_eq!(
            decode(&k, &bytes).unwrap(),
            ConsumerGroupValue::TargetAssignmentMember(want)
        );

        // Classic member metadata with unknown tags in both nested structs,
        // and a tag-0 payload marked null.
        let base = encode_value(&ConsumerGroupValue::MemberMetadata(Default::default())).unwrap();
        let body = &base[..base.len() - 1];
        let data = [
            vec![1],
            be32(10),
            vec![2],
            cs("p"),
            vec![1],
            vec![1, 5, 0],
            vec![1, 6, 1, 0],
        ]
        .concat();
        let bytes = [body.to_vec(), vec![1, 0, data.len() as u8], data].concat();
        let ConsumerGroupValue::MemberMetadata(v) = decode(&member_key(), &bytes).unwrap() else {
            panic!()
        };
        let p = ClassicProtocol {
            name: "p".into(),
            metadata: vec![],
        };
        let classic = ClassicMemberMetadata {
            session_timeout_ms: 10,
            supported_protocols: vec![p],
        };
        assert_eq!(v.classic_member_metadata, Some(classic));
        let bytes = [body.to_vec(), vec![1, 0, 1, 0]].concat();
        assert_eq!(
            decode(&member_key(), &bytes).unwrap(),
            ConsumerGroupValue::MemberMetadata(Default::default())
        );
    }

    #[test]
    fn type_4_values_are_ignored_and_versions_checked() {
        let k = ConsumerGroupKey::PartitionMetadata { group: "g".into() };
        assert_eq!(decode_value(&k, &[0xde, 0xad]).unwrap(), None);
        for version in [-1i16, 1, 2] {
            let bytes = [version.to_be_bytes().to_vec(), be32(1), vec![0]].concat();
            let err = decode_value(&ConsumerGroupKey::Metadata { group: "g".into() }, &bytes);
            let want = SchemaError::UnsupportedVersion {
                schema: "ConsumerGroupMetadataValue",
                version,
            };
            assert_eq!(err, Err(want));
        }
        // Bytes after the last field are ignored, as Kafka does.
        let mut bytes = encode_value(&samples()[4]).unwrap();
        bytes.extend([1, 2, 3]);
        assert_eq!(decode(&current_key(), &bytes).unwrap(), samples()[4]);
    }

    #[test]
    fn huge_lengths_fail_without_allocating() {
        let huge = [0xff, 0xff, 0xff, 0xff, 0x0f];
        // subscribed_topic_names claiming 2^32 - 2 entries.
        let bytes = [vec![0, 0, 0, 0, 1, 1], huge.to_vec()].concat();
        assert!(matches!(
            decode(&member_key(), &bytes),
            Err(SchemaError::Truncated { .. })
        ));
        // assigned_partitions, then a partition list, then assignment epochs.
        let head = [vec![0, 0], be32(1), be32(0), vec![0]].concat();
        assert!(decode(&current_key(), &[head.clone(), huge.to_vec()].concat()).is_err());
        let tp = [vec![2], T1.as_bytes().to_vec()].concat();
        assert!(decode(
            &current_key(),
            &[head.clone(), tp.clone(), huge.to_vec()].concat()
        )
        .is_err());
        let epochs = [vec![1, 1, 0, 5], huge.to_vec()].concat();
        let bytes = [head, tp, epochs].concat();
        assert!(decode(&current_key(), &bytes).is_err());
        // A tagged-field count of 2^32 - 1 with nothing behind it.
        let bytes = [vec![0, 0], be32(1), huge.to_vec()].concat();
        let k = ConsumerGroupKey::Metadata { group: "g".into() };
        assert!(matches!(
            decode(&k, &bytes),
            Err(SchemaError::Truncated { .. })
        ));
    }

    #[test]
    fn every_truncation_fails_cleanly() {
        for v in samples() {
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
        let encoded: Vec<_> = samples()
            .iter()
            .map(|v| (key_for(v), encode_value(v).unwrap()))
            .collect();
        for round in 0..30_000 {
            let (key, base) = &encoded[round % encoded.len()];
            let buf: Vec<u8> = if round % 2 == 0 {
                let mut b = base.clone();
                for _ in 0..1 + next() % 3 {
                    let i = (next() as usize) % b.len();
                    b[i] = next() as u8;
                }
                b
            } else {
                let mut b = vec![0, 0];
                b.extend((0..next() % 48).map(|_| next() as u8));
                b
            };
            let _ = decode_value(key, &buf);
            let _ = decode_consumer_key(&buf);
            let _ = decode_consumer_key(&[&[0, 3 + (round % 6) as u8][..], &buf].concat());
        }
    }
}
