//! Record schemas of the `__consumer_offsets` topic.
//!
//! Kafka keeps all group-coordinator state as records in the compacted
//! `__consumer_offsets` topic. Every record key starts with a big-endian
//! `int16` *record type* (historically called the "key version"), followed by
//! the key fields; every non-null value starts with a big-endian `int16`
//! *value version*, followed by the value fields encoded at that version. A
//! record whose value is null is a tombstone: after compaction it deletes the
//! state stored under the same key.
//!
//! The layouts below follow Kafka's schema files in
//! `group-coordinator/src/main/resources/common/message/` (Kafka 4.x):
//!
//! | Record type | Key schema              | Value schema         | Value versions | Flexible |
//! |-------------|-------------------------|----------------------|----------------|----------|
//! | 0           | `LegacyOffsetCommitKey` | `OffsetCommitValue`  | 0-4            | 4+       |
//! | 1           | `OffsetCommitKey`       | `OffsetCommitValue`  | 0-4            | 4+       |
//! | 2           | `GroupMetadataKey`      | `GroupMetadataValue` | 0-4            | 4+       |
//! | 3-24        | KIP-848 / KIP-932 / KIP-1071 records | (not decoded) | -   | -        |
//!
//! Key bodies are never flexible: they use `int16`-length strings. Values
//! use the classic encoding (`int16`-length strings, `int32`-length bytes
//! and arrays) up to version 3, and the "flexible" encoding from version 4:
//! compact strings/bytes/arrays (unsigned-varint length + 1) and a tagged
//! field section at the end of every struct.
//!
//! # Versions written
//!
//! Kafka 4's group coordinator (`GroupCoordinatorRecordHelpers`) writes:
//! * offset commit keys with record type **1** (type 0 is only ever read);
//! * `OffsetCommitValue` at version **1** when the commit carries an explicit
//!   expire timestamp (an `OffsetCommit` request v2-v4 with a retention time),
//!   otherwise at version **3**: Kafka writes "the highest supported
//!   non-flexible version until a tagged field is introduced", since version 4
//!   adds nothing but an empty tagged-field section that brokers older than
//!   KIP-915 could not read;
//! * `GroupMetadataValue` at version **3**, a constant since Kafka 4.0 dropped
//!   the pre-2.3 metadata versions that selected 0-2.
//!
//! The `encode_*` functions here make the same choices, so a Kafka broker (or
//! a tool such as `kafka-console-consumer --formatter ...OffsetsMessageFormatter`)
//! can read everything gregor writes, and gregor can replay a topic written by
//! Kafka. `*_with_version` variants encode any version for tests and tooling.
//!
//! # Leniency
//!
//! Decoders never panic. Like Kafka's generated readers they ignore bytes left
//! over after the last field, treat any negative classic string length as
//! null, and reject strings longer than 32767 bytes and collections that claim
//! more elements than there are bytes left. None of these schemas defines a
//! tagged field, so the tagged-field sections of version-4 values are checked
//! for structure and skipped; gregor writes them empty. (Kafka's coordinator
//! also never re-emits unknown tagged fields: it rebuilds records from state.)

use thiserror::Error;

/// Record types (the leading `int16` of a key) used in `__consumer_offsets`.
///
/// Types 3 and up belong to the KIP-848 consumer-group protocol, KIP-932
/// share groups and KIP-1071 streams groups. gregor does not interpret them
/// yet, but replay must skip them rather than fail (see [`decode_record`]).
pub mod record_type {
    /// Offset commit key written by Kafka before 0.9; read-only.
    pub const LEGACY_OFFSET_COMMIT: i16 = 0;
    /// Offset commit key; the type Kafka writes.
    pub const OFFSET_COMMIT: i16 = 1;
    /// Classic group metadata key.
    pub const GROUP_METADATA: i16 = 2;
    pub const CONSUMER_GROUP_METADATA: i16 = 3;
    pub const CONSUMER_GROUP_PARTITION_METADATA: i16 = 4;
    pub const CONSUMER_GROUP_MEMBER_METADATA: i16 = 5;
    pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_METADATA: i16 = 6;
    pub const CONSUMER_GROUP_TARGET_ASSIGNMENT_MEMBER: i16 = 7;
    pub const CONSUMER_GROUP_CURRENT_MEMBER_ASSIGNMENT: i16 = 8;
    pub const SHARE_GROUP_PARTITION_METADATA: i16 = 9;
    pub const SHARE_GROUP_MEMBER_METADATA: i16 = 10;
    pub const SHARE_GROUP_METADATA: i16 = 11;
    pub const SHARE_GROUP_TARGET_ASSIGNMENT_METADATA: i16 = 12;
    pub const SHARE_GROUP_TARGET_ASSIGNMENT_MEMBER: i16 = 13;
    pub const SHARE_GROUP_CURRENT_MEMBER_ASSIGNMENT: i16 = 14;
    pub const SHARE_GROUP_STATE_PARTITION_METADATA: i16 = 15;
    pub const CONSUMER_GROUP_REGULAR_EXPRESSION: i16 = 16;
    pub const STREAMS_GROUP_METADATA: i16 = 17;
    pub const STREAMS_GROUP_PARTITION_METADATA: i16 = 18;
    pub const STREAMS_GROUP_MEMBER_METADATA: i16 = 19;
    pub const STREAMS_GROUP_TARGET_ASSIGNMENT_METADATA: i16 = 20;
    pub const STREAMS_GROUP_TARGET_ASSIGNMENT_MEMBER: i16 = 21;
    pub const STREAMS_GROUP_CURRENT_MEMBER_ASSIGNMENT: i16 = 22;
    pub const STREAMS_GROUP_TOPOLOGY: i16 = 23;
    pub const STREAMS_GROUP_TARGET_ASSIGNMENT_RESOLVED_TOPIC_IDS: i16 = 24;

    /// The Kafka schema name of a record type's key, for logs and tooling.
    pub fn name(record_type: i16) -> Option<&'static str> {
        Some(match record_type {
            0 => "LegacyOffsetCommitKey",
            1 => "OffsetCommitKey",
            2 => "GroupMetadataKey",
            3 => "ConsumerGroupMetadataKey",
            4 => "ConsumerGroupPartitionMetadataKey",
            5 => "ConsumerGroupMemberMetadataKey",
            6 => "ConsumerGroupTargetAssignmentMetadataKey",
            7 => "ConsumerGroupTargetAssignmentMemberKey",
            8 => "ConsumerGroupCurrentMemberAssignmentKey",
            9 => "ShareGroupPartitionMetadataKey",
            10 => "ShareGroupMemberMetadataKey",
            11 => "ShareGroupMetadataKey",
            12 => "ShareGroupTargetAssignmentMetadataKey",
            13 => "ShareGroupTargetAssignmentMemberKey",
            14 => "ShareGroupCurrentMemberAssignmentKey",
            15 => "ShareGroupStatePartitionMetadataKey",
            16 => "ConsumerGroupRegularExpressionKey",
            17 => "StreamsGroupMetadataKey",
            18 => "StreamsGroupPartitionMetadataKey",
            19 => "StreamsGroupMemberMetadataKey",
            20 => "StreamsGroupTargetAssignmentMetadataKey",
            21 => "StreamsGroupTargetAssignmentMemberKey",
            22 => "StreamsGroupCurrentMemberAssignmentKey",
            23 => "StreamsGroupTopologyKey",
            24 => "StreamsGroupTargetAssignmentResolvedTopicIdsKey",
            _ => return None,
        })
    }
}

/// Highest `OffsetCommitValue` version defined by Kafka.
pub const OFFSET_COMMIT_VALUE_MAX_VERSION: i16 = 4;
/// Highest `GroupMetadataValue` version defined by Kafka.
pub const GROUP_METADATA_VALUE_MAX_VERSION: i16 = 4;
/// The `GroupMetadataValue` version Kafka 4 writes (its
/// `GROUP_METADATA_VALUE_VERSION` constant).
pub const GROUP_METADATA_VALUE_WRITE_VERSION: i16 = 3;
/// Sentinel for "no leader epoch" (`RecordBatch.NO_PARTITION_LEADER_EPOCH`),
/// also the schema default of `leaderEpoch` for versions without it.
pub const NO_LEADER_EPOCH: i32 = -1;
/// Sentinel for "no timestamp" (`OffsetCommitRequest.DEFAULT_TIMESTAMP`),
/// the schema default of `expireTimestamp` and `currentStateTimestamp`.
pub const NO_TIMESTAMP: i64 = -1;

/// Kafka's generated code refuses strings longer than this on read and write,
/// in both the classic and the compact encoding.
const MAX_STRING_LEN: usize = 0x7fff;

/// Why a `__consumer_offsets` record could not be decoded or encoded.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SchemaError {
    /// The input ended before the field was complete.
    #[error("truncated {field}: needs {needed} bytes, {remaining} remaining")]
    Truncated {
        field: &'static str,
        needed: usize,
        remaining: usize,
    },
    /// The value version is outside the schema's `validVersions`.
    #[error("unsupported {schema} version {version}")]
    UnsupportedVersion { schema: &'static str, version: i16 },
    /// A field that is not nullable at this version was encoded as null.
    #[error("non-nullable field {field} was serialized as null")]
    UnexpectedNull { field: &'static str },
    /// A length prefix is out of range (e.g. a string over 32767 bytes).
    #[error("field {field} has invalid length {length}")]
    InvalidLength { field: &'static str, length: i64 },
    /// A string field is not valid UTF-8.
    #[error("string field {field} is not valid UTF-8")]
    InvalidUtf8 { field: &'static str },
    /// An unsigned varint is longer than 5 bytes or overflows 32 bits.
    #[error("invalid unsigned varint in {field}")]
    InvalidVarint { field: &'static str },
    /// Encoding: a string is longer than Kafka's 32767-byte limit.
    #[error("string field {field} is {length} bytes, more than 32767")]
    StringTooLong { field: &'static str, length: usize },
    /// Encoding: a byte field or array has more than `i32::MAX` entries.
    #[error("field {field} has {length} entries, more than i32::MAX")]
    TooLarge { field: &'static str, length: usize },
}

type Result<T> = std::result::Result<T, SchemaError>;

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

/// A decoded `__consumer_offsets` key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum OffsetsRecordKey {
    /// Record type 0 or 1 (`LegacyOffsetCommitKey` / `OffsetCommitKey`; the
    /// two share one layout). Encoded as type 1, as Kafka does.
    OffsetCommit {
        group: String,
        topic: String,
        partition: i32,
    },
    /// Record type 2 (`GroupMetadataKey`).
    GroupMetadata { group: String },
    /// Any other record type: KIP-848 consumer groups, share groups, streams
    /// groups, or something newer. The key body is not interpreted.
    Other { version: i16 },
}

impl OffsetsRecordKey {
    /// The record type written in front of the key.
    pub fn key_version(&self) -> i16 {
        match self {
            OffsetsRecordKey::OffsetCommit { .. } => record_type::OFFSET_COMMIT,
            OffsetsRecordKey::GroupMetadata { .. } => record_type::GROUP_METADATA,
            OffsetsRecordKey::Other { version } => *version,
        }
    }

    /// The group the record belongs to, when the key names it.
    pub fn group(&self) -> Option<&str> {
        match self {
            OffsetsRecordKey::OffsetCommit { group, .. } => Some(group),
            OffsetsRecordKey::GroupMetadata { group } => Some(group),
            OffsetsRecordKey::Other { .. } => None,
        }
    }
}

/// Decodes a record key.
///
/// Record types 0 and 1 decode to [`OffsetsRecordKey::OffsetCommit`], 2 to
/// [`OffsetsRecordKey::GroupMetadata`], and every other type (including
/// negative ones) to [`OffsetsRecordKey::Other`] without looking at the body,
/// the way Kafka's loader skips record types it does not know.
pub fn decode_key(buf: &[u8]) -> Result<OffsetsRecordKey> {
    let mut r = Reader::new(buf);
    let version = r.i16("key version")?;
    match version {
        record_type::LEGACY_OFFSET_COMMIT | record_type::OFFSET_COMMIT => {
            let group = r.string("group", false)?;
            let topic = r.string("topic", false)?;
            let partition = r.i32("partition")?;
            Ok(OffsetsRecordKey::OffsetCommit {
                group,
                topic,
                partition,
            })
        }
        record_type::GROUP_METADATA => Ok(OffsetsRecordKey::GroupMetadata {
            group: r.string("group", false)?,
        }),
        version => Ok(OffsetsRecordKey::Other { version }),
    }
}

/// Encodes a record key. Offset commit keys are written with record type 1,
/// like Kafka; `Other` keys are written as their record type alone.
///
/// Test-only: panics if a string is longer than 32767 bytes. The broker uses
/// [`try_encode_key`], because group ids and topic names come from requests.
#[cfg(test)]
pub fn encode_key(key: &OffsetsRecordKey) -> Vec<u8> {
    try_encode_key(key).unwrap_or_else(|e| panic!("cannot encode __consumer_offsets key: {e}"))
}

/// Fallible form of [`encode_key`].
pub fn try_encode_key(key: &OffsetsRecordKey) -> Result<Vec<u8>> {
    let mut w = Writer::default();
    w.i16(key.key_version());
    match key {
        OffsetsRecordKey::OffsetCommit {
            group,
            topic,
            partition,
        } => {
            w.string("group", group, false)?;
            w.string("topic", topic, false)?;
            w.i32(*partition);
        }
        OffsetsRecordKey::GroupMetadata { group } => w.string("group", group, false)?,
        OffsetsRecordKey::Other { .. } => {}
    }
    Ok(w.buf)
}

/// Reads the leading `int16` version of a value (or record type of a key)
/// without decoding the rest.
pub fn value_version(buf: &[u8]) -> Result<i16> {
    Reader::new(buf).i16("value version")
}

// ---------------------------------------------------------------------------
// OffsetCommitValue
// ---------------------------------------------------------------------------

/// `OffsetCommitValue`, versions 0-4 (flexible from 4).
///
/// | Field              | Versions | Default |
/// |--------------------|----------|---------|
/// | `offset`           | 0+       |         |
/// | `leader_epoch`     | 3+       | -1      |
/// | `metadata`         | 0+       |         |
/// | `commit_timestamp` | 0+       |         |
/// | `expire_timestamp` | 1 only   | -1      |
///
/// `leader_epoch` and `expire_timestamp` keep Kafka's `-1` sentinels so a
/// record decodes to exactly what was stored; see the `*_opt` accessors.
/// `metadata` is not nullable in the record: Kafka stores a null commit
/// metadata from the request as `""`.
///
/// The schema has no topic id: Kafka 4.x's `OffsetCommitValue.json` defines
/// none (offsets stay keyed by topic name), so there is no field for one.
/// Should a later Kafka add it as a tagged field of version 4, decoding
/// skips it instead of failing.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct OffsetCommitValue {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp: i64,
    pub expire_timestamp: i64,
}

impl OffsetCommitValue {
    /// Builds a value from optional epoch / expiry, mapping `None` to the
    /// `-1` sentinels Kafka stores.
    pub fn new(
        offset: i64,
        leader_epoch: Option<i32>,
        metadata: impl Into<String>,
        commit_timestamp: i64,
        expire_timestamp: Option<i64>,
    ) -> Self {
        OffsetCommitValue {
            offset,
            leader_epoch: leader_epoch.unwrap_or(NO_LEADER_EPOCH),
            metadata: metadata.into(),
            commit_timestamp,
            expire_timestamp: expire_timestamp.unwrap_or(NO_TIMESTAMP),
        }
    }

    /// The leader epoch, or `None` for Kafka's "no epoch" (any negative).
    pub fn leader_epoch_opt(&self) -> Option<i32> {
        (self.leader_epoch >= 0).then_some(self.leader_epoch)
    }

    /// The expire timestamp, or `None` when it is the `-1` sentinel.
    pub fn expire_timestamp_opt(&self) -> Option<i64> {
        (self.expire_timestamp != NO_TIMESTAMP).then_some(self.expire_timestamp)
    }
}

/// The version Kafka 4 writes for `value`: 1 when an expire timestamp is
/// present (version 1 is the only one with that field, so this is the only
/// way to keep it), otherwise 3, the highest non-flexible version.
pub fn offset_commit_value_version(value: &OffsetCommitValue) -> i16 {
    if value.expire_timestamp != NO_TIMESTAMP {
        1
    } else {
        3
    }
}

/// Encodes `value` at the version Kafka 4 writes
/// ([`offset_commit_value_version`]). Fields absent at that version are
/// dropped, as Kafka drops ignorable fields: at version 1 the leader epoch,
/// at version 3 the expire timestamp.
///
/// Test-only: panics if `metadata` is longer than 32767 bytes. The broker uses
/// [`try_encode_offset_commit_value`] so no request can panic a connection.
#[cfg(test)]
pub fn encode_offset_commit_value(value: &OffsetCommitValue) -> Vec<u8> {
    try_encode_offset_commit_value(value)
        .unwrap_or_else(|e| panic!("cannot encode OffsetCommitValue: {e}"))
}

/// Fallible form of [`encode_offset_commit_value`].
pub fn try_encode_offset_commit_value(value: &OffsetCommitValue) -> Result<Vec<u8>> {
    encode_offset_commit_value_with_version(value, offset_commit_value_version(value))
}

/// Encodes `value` at an explicit version 0-4. Fields the version lacks are
/// dropped (all of them are `ignorable` in the schema), as Kafka does.
pub fn encode_offset_commit_value_with_version(
    value: &OffsetCommitValue,
    version: i16,
) -> Result<Vec<u8>> {
    const SCHEMA: &str = "OffsetCommitValue";
    if !(0..=OFFSET_COMMIT_VALUE_MAX_VERSION).contains(&version) {
        return Err(SchemaError::UnsupportedVersion {
            schema: SCHEMA,
            version,
        });
    }
    let flexible = version >= 4;
    let mut w = Writer::default();
    w.i16(version);
    w.i64(value.offset);
    if version >= 3 {
        w.i32(value.leader_epoch);
    }
    w.string("metadata", &value.metadata, flexible)?;
    w.i64(value.commit_timestamp);
    if version == 1 {
        w.i64(value.expire_timestamp);
    }
    if flexible {
        w.empty_tagged_fields();
    }
    Ok(w.buf)
}

/// Decodes an `OffsetCommitValue` of any version 0-4. Fields the version
/// lacks take their schema defaults (`-1`).
pub fn decode_offset_commit_value(buf: &[u8]) -> Result<OffsetCommitValue> {
    let mut r = Reader::new(buf);
    let version = r.i16("value version")?;
    if !(0..=OFFSET_COMMIT_VALUE_MAX_VERSION).contains(&version) {
        return Err(SchemaError::UnsupportedVersion {
            schema: "OffsetCommitValue",
            version,
        });
    }
    let flexible = version >= 4;
    let offset = r.i64("offset")?;
    let leader_epoch = if version >= 3 {
        r.i32("leader_epoch")?
    } else {
        NO_LEADER_EPOCH
    };
    let metadata = r.string("metadata", flexible)?;
    let commit_timestamp = r.i64("commit_timestamp")?;
    let expire_timestamp = if version == 1 {
        r.i64("expire_timestamp")?
    } else {
        NO_TIMESTAMP
    };
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(OffsetCommitValue {
        offset,
        leader_epoch,
        metadata,
        commit_timestamp,
        expire_timestamp,
    })
}

// ---------------------------------------------------------------------------
// GroupMetadataValue
// ---------------------------------------------------------------------------

/// `GroupMetadataValue`, versions 0-4 (flexible from 4): the state of a
/// classic (`JoinGroup`/`SyncGroup`) group.
///
/// | Field                     | Versions | Nullable |
/// |---------------------------|----------|----------|
/// | `protocol_type`           | 0+       | no       |
/// | `generation`              | 0+       |          |
/// | `protocol`                | 0+       | yes      |
/// | `leader`                  | 0+       | yes      |
/// | `current_state_timestamp` | 2+       | (default -1) |
/// | `members`                 | 0+       | no       |
///
/// Kafka writes an empty group as `protocol_type = ""`, `generation = 0`,
/// `protocol = None`, `leader = None`, no members.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GroupMetadataValue {
    pub protocol_type: String,
    pub generation: i32,
    pub protocol: Option<String>,
    pub leader: Option<String>,
    pub current_state_timestamp: i64,
    pub members: Vec<MemberMetadata>,
}

/// One member of a [`GroupMetadataValue`].
///
/// | Field               | Versions | Nullable |
/// |---------------------|----------|----------|
/// | `member_id`         | 0+       | no       |
/// | `group_instance_id` | 3+       | yes (default null) |
/// | `client_id`         | 0+       | no       |
/// | `client_host`       | 0+       | no       |
/// | `rebalance_timeout` | 1+       | (default 0) |
/// | `session_timeout`   | 0+       |          |
/// | `subscription`      | 0+       | no       |
/// | `assignment`        | 0+       | no       |
///
/// A version-0 record has no rebalance timeout and decodes with the schema
/// default 0; pre-KIP-848 Kafka substituted the session timeout when loading
/// such a member, which is the coordinator's call, not the schema's.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct MemberMetadata {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout: i32,
    pub session_timeout: i32,
    pub subscription: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// Encodes `value` at version 3, the version Kafka 4 always writes
/// ([`GROUP_METADATA_VALUE_WRITE_VERSION`]): every field of the schema is
/// present at 3, and 4 would only add empty tagged-field sections that
/// brokers older than KIP-915 cannot read.
///
/// Test-only: panics if a string is longer than 32767 bytes (Kafka fails the
/// same write) or a subscription/assignment is over `i32::MAX` bytes. The broker
/// uses [`try_encode_group_metadata_value`]: group ids come from requests.
#[cfg(test)]
pub fn encode_group_metadata_value(value: &GroupMetadataValue) -> Vec<u8> {
    try_encode_group_metadata_value(value)
        .unwrap_or_else(|e| panic!("cannot encode GroupMetadataValue: {e}"))
}

/// Fallible form of [`encode_group_metadata_value`].
pub fn try_encode_group_metadata_value(value: &GroupMetadataValue) -> Result<Vec<u8>> {
    encode_group_metadata_value_with_version(value, GROUP_METADATA_VALUE_WRITE_VERSION)
}

/// Encodes `value` at an explicit version 0-4. Fields the version lacks are
/// dropped (all are `ignorable` in the schema), as Kafka does.
pub fn encode_group_metadata_value_with_version(
    value: &GroupMetadataValue,
    version: i16,
) -> Result<Vec<u8>> {
    const SCHEMA: &str = "GroupMetadataValue";
    if !(0..=GROUP_METADATA_VALUE_MAX_VERSION).contains(&version) {
        return Err(SchemaError::UnsupportedVersion {
            schema: SCHEMA,
            version,
        });
    }
    let flexible = version >= 4;
    let mut w = Writer::default();
    w.i16(version);
    w.string("protocol_type", &value.protocol_type, flexible)?;
    w.i32(value.generation);
    w.nullable_string("protocol", value.protocol.as_deref(), flexible)?;
    w.nullable_string("leader", value.leader.as_deref(), flexible)?;
    if version >= 2 {
        w.i64(value.current_state_timestamp);
    }
    w.array_len("members", value.members.len(), flexible)?;
    for m in &value.members {
        w.string("member_id", &m.member_id, flexible)?;
        if version >= 3 {
            w.nullable_string(
                "group_instance_id",
                m.group_instance_id.as_deref(),
                flexible,
            )?;
        }
        w.string("client_id", &m.client_id, flexible)?;
        w.string("client_host", &m.client_host, flexible)?;
        if version >= 1 {
            w.i32(m.rebalance_timeout);
        }
        w.i32(m.session_timeout);
        w.bytes("subscription", &m.subscription, flexible)?;
        w.bytes("assignment", &m.assignment, flexible)?;
        if flexible {
            w.empty_tagged_fields();
        }
    }
    if flexible {
        w.empty_tagged_fields();
    }
    Ok(w.buf)
}

/// Decodes a `GroupMetadataValue` of any version 0-4. Fields the version
/// lacks take their schema defaults.
pub fn decode_group_metadata_value(buf: &[u8]) -> Result<GroupMetadataValue> {
    let r = &mut Reader::new(buf);
    let version = r.i16("value version")?;
    if !(0..=GROUP_METADATA_VALUE_MAX_VERSION).contains(&version) {
        return Err(SchemaError::UnsupportedVersion {
            schema: "GroupMetadataValue",
            version,
        });
    }
    let flexible = version >= 4;
    let protocol_type = r.string("protocol_type", flexible)?;
    let generation = r.i32("generation")?;
    let protocol = r.nullable_string("protocol", flexible)?;
    let leader = r.nullable_string("leader", flexible)?;
    let current_state_timestamp = if version >= 2 {
        r.i64("current_state_timestamp")?
    } else {
        NO_TIMESTAMP
    };
    let count = r.array_len("members", flexible)?;
    // `count` is bounded by the bytes left, but not by memory: cap the
    // up-front reservation and let the vector grow if the members are real.
    let mut members = Vec::with_capacity(count.min(64));
    for _ in 0..count {
        let member_id = r.string("member_id", flexible)?;
        let group_instance_id = if version >= 3 {
            r.nullable_string("group_instance_id", flexible)?
        } else {
            None
        };
        let client_id = r.string("client_id", flexible)?;
        let client_host = r.string("client_host", flexible)?;
        let rebalance_timeout = if version >= 1 {
            r.i32("rebalance_timeout")?
        } else {
            0
        };
        let session_timeout = r.i32("session_timeout")?;
        let subscription = r.bytes("subscription", flexible)?;
        let assignment = r.bytes("assignment", flexible)?;
        if flexible {
            r.skip_tagged_fields()?;
        }
        members.push(MemberMetadata {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            rebalance_timeout,
            session_timeout,
            subscription,
            assignment,
        });
    }
    if flexible {
        r.skip_tagged_fields()?;
    }
    Ok(GroupMetadataValue {
        protocol_type,
        generation,
        protocol,
        leader,
        current_state_timestamp,
        members,
    })
}

// ---------------------------------------------------------------------------
// Whole records (replay)
// ---------------------------------------------------------------------------

/// A decoded `__consumer_offsets` record; `value: None` is a tombstone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OffsetsRecord {
    OffsetCommit {
        group: String,
        topic: String,
        partition: i32,
        value: Option<OffsetCommitValue>,
    },
    GroupMetadata {
        group: String,
        value: Option<GroupMetadataValue>,
    },
    /// A record type gregor does not interpret (KIP-848 consumer groups,
    /// share groups, streams groups, newer types). Replay skips it.
    Unknown(UnknownRecord),
}

/// A record whose type gregor does not interpret, recognised and skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownRecord {
    /// The record type from the key.
    pub key_version: i16,
    /// For the known group-coordinator types 3-24, whose keys all start with
    /// the group id: that id, if it decodes. Lets a coordinator tell that a
    /// group id is taken by a non-classic group. `None` otherwise.
    pub group_id: Option<String>,
    /// Whether the value was null.
    pub tombstone: bool,
}

impl UnknownRecord {
    /// Kafka's name for the key schema, if the type is one Kafka defines.
    pub fn name(&self) -> Option<&'static str> {
        record_type::name(self.key_version)
    }
}

/// Decodes one record for replay. A key of an unknown type yields
/// [`OffsetsRecord::Unknown`] whatever its value holds, so replay never fails
/// on record types it does not understand; for offset commits and group
/// metadata a value that does not decode (including an unknown value version)
/// is an error, as it is for Kafka's loader.
pub fn decode_record(key: &[u8], value: Option<&[u8]>) -> Result<OffsetsRecord> {
    Ok(match decode_key(key)? {
        OffsetsRecordKey::OffsetCommit {
            group,
            topic,
            partition,
        } => OffsetsRecord::OffsetCommit {
            group,
            topic,
            partition,
            value: value.map(decode_offset_commit_value).transpose()?,
        },
        OffsetsRecordKey::GroupMetadata { group } => OffsetsRecord::GroupMetadata {
            group,
            value: value.map(decode_group_metadata_value).transpose()?,
        },
        OffsetsRecordKey::Other { version } => {
            let group_id = if (3..=24).contains(&version) {
                let mut r = Reader::new(key);
                r.i16("key version")
                    .and_then(|_| r.string("group_id", false))
                    .ok()
            } else {
                None
            };
            OffsetsRecord::Unknown(UnknownRecord {
                key_version: version,
                group_id,
                tombstone: value.is_none(),
            })
        }
    })
}

// ---------------------------------------------------------------------------
// Partitioning
// ---------------------------------------------------------------------------

/// Java's `String.hashCode()`: `h = 31 * h + c` over the UTF-16 code units,
/// wrapping on overflow.
pub fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16().fold(0i32, |h, unit| {
        h.wrapping_mul(31).wrapping_add(i32::from(unit))
    })
}

/// Kafka's `Utils.abs`: `|n|`, except that `i32::MIN` (whose absolute value
/// does not fit) maps to 0. Note this is *not* `n & 0x7fffffff` (Kafka's
/// `Utils.toPositive`, used by the producer partitioner): for `-1` the two
/// give 1 and 2147483647.
pub fn kafka_abs(n: i32) -> i32 {
    if n == i32::MIN {
        0
    } else {
        n.abs()
    }
}

/// The `__consumer_offsets` partition that owns `group_id`:
/// `Utils.abs(groupId.hashCode()) % partitions`, as in Kafka's group
/// coordinator, so clients and Kafka tooling agree on the coordinator.
///
/// `partitions` must be positive (`offsets.topic.num.partitions`, default
/// 50); for zero or a negative count this returns 0 rather than panic.
pub fn partition_for_group(group_id: &str, partitions: i32) -> i32 {
    if partitions <= 0 {
        return 0;
    }
    kafka_abs(java_string_hash(group_id)) % partitions
}

// ---------------------------------------------------------------------------
// Primitive encoding
// ---------------------------------------------------------------------------

pub(super) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(super) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    pub(super) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    pub(super) fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8]> {
        let remaining = self.remaining();
        if n > remaining {
            return Err(SchemaError::Truncated {
                field,
                needed: n,
                remaining,
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N, field)?);
        Ok(out)
    }

    pub(super) fn i16(&mut self, field: &'static str) -> Result<i16> {
        self.array(field).map(i16::from_be_bytes)
    }

    pub(super) fn i32(&mut self, field: &'static str) -> Result<i32> {
        self.array(field).map(i32::from_be_bytes)
    }

    pub(super) fn i64(&mut self, field: &'static str) -> Result<i64> {
        self.array(field).map(i64::from_be_bytes)
    }

    /// Unsigned LEB128 varint of at most 5 bytes, fitting in 32 bits.
    pub(super) fn uvarint(&mut self, field: &'static str) -> Result<u32> {
        let mut value = 0u32;
        for i in 0..5 {
            let b = self.take(1, field)?[0];
            // The fifth byte holds bits 28-31: anything above 0x0f is either
            // a continuation (too long) or bits that do not fit.
            if i == 4 && b > 0x0f {
                return Err(SchemaError::InvalidVarint { field });
            }
            value |= u32::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(SchemaError::InvalidVarint { field })
    }

    /// A length prefix: `int16`/`int32` in the classic encoding, varint of
    /// length + 1 in the compact one; negative means null.
    fn length(&mut self, field: &'static str, flexible: bool, classic_i16: bool) -> Result<i64> {
        Ok(if flexible {
            i64::from(self.uvarint(field)?) - 1
        } else if classic_i16 {
            i64::from(self.i16(field)?)
        } else {
            i64::from(self.i32(field)?)
        })
    }

    pub(super) fn nullable_string(
        &mut self,
        field: &'static str,
        flexible: bool,
    ) -> Result<Option<String>> {
        let len = self.length(field, flexible, true)?;
        if len < 0 {
            return Ok(None);
        }
        if len > MAX_STRING_LEN as i64 {
            return Err(SchemaError::InvalidLength { field, length: len });
        }
        let raw = self.take(len as usize, field)?;
        std::str::from_utf8(raw)
            .map(|s| Some(s.to_owned()))
            .map_err(|_| SchemaError::InvalidUtf8 { field })
    }

    pub(super) fn string(&mut self, field: &'static str, flexible: bool) -> Result<String> {
        self.nullable_string(field, flexible)?
            .ok_or(SchemaError::UnexpectedNull { field })
    }

    pub(super) fn bytes(&mut self, field: &'static str, flexible: bool) -> Result<Vec<u8>> {
        let len = self.length(field, flexible, false)?;
        if len < 0 {
            return Err(SchemaError::UnexpectedNull { field });
        }
        // 0 <= len < 2^32, which fits in usize on every supported target;
        // saturate rather than truncate on anything narrower.
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        self.take(len, field).map(<[u8]>::to_vec)
    }

    /// A non-nullable array's element count, checked against the bytes left
    /// (every element takes at least one byte) before anything is allocated.
    pub(super) fn array_len(&mut self, field: &'static str, flexible: bool) -> Result<usize> {
        let len = self.length(field, flexible, false)?;
        if len < 0 {
            return Err(SchemaError::UnexpectedNull { field });
        }
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let remaining = self.remaining();
        if len > remaining {
            return Err(SchemaError::Truncated {
                field,
                needed: len,
                remaining,
            });
        }
        Ok(len)
    }

    /// Skips a tagged-field section: a varint count, then per field a
    /// varint tag, a varint size and that many bytes. No schema here defines
    /// a tag, so every field is unknown and, as in Kafka, ignored.
    pub(super) fn skip_tagged_fields(&mut self) -> Result<()> {
        let count = self.uvarint("tagged field count")?;
        for _ in 0..count {
            self.uvarint("tagged field tag")?;
            let size = self.uvarint("tagged field size")?;
            self.take(
                usize::try_from(size).unwrap_or(usize::MAX),
                "tagged field data",
            )?;
        }
        Ok(())
    }
}

#[derive(Default)]
pub(super) struct Writer {
    pub(super) buf: Vec<u8>,
}

impl Writer {
    pub(super) fn i16(&mut self, v: i16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn i32(&mut self, v: i32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn i64(&mut self, v: i64) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }

    pub(super) fn uvarint(&mut self, mut v: u32) {
        while v >= 0x80 {
            self.buf.push((v as u8 & 0x7f) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
    }

    /// Writes a length prefix for `len` entries; callers have checked that
    /// `len` fits (<= i32::MAX, so len + 1 fits a u32 varint).
    fn length(&mut self, len: usize, flexible: bool, classic_i16: bool) {
        if flexible {
            self.uvarint(len as u32 + 1);
        } else if classic_i16 {
            self.i16(len as i16);
        } else {
            self.i32(len as i32);
        }
    }

    pub(super) fn nullable_string(
        &mut self,
        field: &'static str,
        s: Option<&str>,
        flexible: bool,
    ) -> Result<()> {
        match s {
            None if flexible => self.uvarint(0),
            None => self.i16(-1),
            Some(s) => {
                if s.len() > MAX_STRING_LEN {
                    return Err(SchemaError::StringTooLong {
                        field,
                        length: s.len(),
                    });
                }
                self.length(s.len(), flexible, true);
                self.buf.extend_from_slice(s.as_bytes());
            }
        }
        Ok(())
    }

    pub(super) fn string(&mut self, field: &'static str, s: &str, flexible: bool) -> Result<()> {
        self.nullable_string(field, Some(s), flexible)
    }

    fn checked_len(field: &'static str, len: usize) -> Result<usize> {
        if len > i32::MAX as usize {
            return Err(SchemaError::TooLarge { field, length: len });
        }
        Ok(len)
    }

    pub(super) fn bytes(&mut self, field: &'static str, b: &[u8], flexible: bool) -> Result<()> {
        let len = Self::checked_len(field, b.len())?;
        self.length(len, flexible, false);
        self.buf.extend_from_slice(b);
        Ok(())
    }

    pub(super) fn array_len(
        &mut self,
        field: &'static str,
        len: usize,
        flexible: bool,
    ) -> Result<()> {
        let len = Self::checked_len(field, len)?;
        self.length(len, flexible, false);
        Ok(())
    }

    /// A tagged-field section with no fields.
    pub(super) fn empty_tagged_fields(&mut self) {
        self.uvarint(0);
    }
}

#[cfg(test)]
#[path = "schema_tests.rs"]
mod tests;
