//! Consumer-group requests shared by `console-consumer --group` and
//! `consumer-groups`: DescribeGroups, ListGroups, DeleteGroups, OffsetFetch and
//! OffsetCommit (as a standalone member, generation -1), and decoding the
//! consumer-protocol assignment of a member.

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::DescribedGroup;
use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::{
    OffsetFetchRequestGroup, OffsetFetchRequestTopic, OffsetFetchRequestTopics,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerProtocolAssignment, DeleteGroupsRequest, DeleteGroupsResponse,
    DescribeGroupsRequest, DescribeGroupsResponse, GroupId, ListGroupsRequest, ListGroupsResponse,
    OffsetCommitRequest, OffsetCommitResponse, OffsetFetchRequest, OffsetFetchResponse,
};
use kafka_protocol::protocol::{Decodable, StrBytes};

use super::client::{check, Client};
use super::session::topic_name;

/// OffsetFetch v8 moved the group into a `groups` array.
const OFFSET_FETCH_GROUPS_VERSION: i16 = 8;

/// (topic, partition) -> committed offset.
pub type Committed = BTreeMap<(String, i32), i64>;

fn group_id(g: &str) -> GroupId {
    GroupId(StrBytes::from_string(g.to_string()))
}

/// DescribeGroups for one group (its coordinator must be `client`).
pub fn describe(client: &mut Client, group: &str) -> Result<DescribedGroup, String> {
    let req = DescribeGroupsRequest::default().with_groups(vec![group_id(group)]);
    let resp: DescribeGroupsResponse = client.call(ApiKey::DescribeGroups, &req)?;
    let g = resp
        .groups
        .into_iter()
        .next()
        .ok_or("empty DescribeGroups response")?;
    // Newer coordinators answer GROUP_ID_NOT_FOUND where older ones say "Dead".
    if g.error_code == ResponseError::GroupIdNotFound.code() {
        return Ok(g
            .with_error_code(0)
            .with_group_state(StrBytes::from_static_str("Dead")));
    }
    check(g.error_code, g.error_message.as_ref())
        .map_err(|e| format!("describing group {group}: {e}"))?;
    Ok(g)
}

/// Whether DescribeGroups' answer means the group does not exist.
pub fn is_dead(g: &DescribedGroup) -> bool {
    g.group_state.as_str() == "Dead"
}

/// All groups the broker knows.
pub fn list(client: &mut Client) -> Result<Vec<ListedGroup>, String> {
    let resp: ListGroupsResponse =
        client.call(ApiKey::ListGroups, &ListGroupsRequest::default())?;
    check(resp.error_code, None)?;
    Ok(resp.groups)
}

/// Deletes one group; the broker refuses groups with active members.
pub fn delete(client: &mut Client, group: &str) -> Result<(), String> {
    let req = DeleteGroupsRequest::default().with_groups_names(vec![group_id(group)]);
    let resp: DeleteGroupsResponse = client.call(ApiKey::DeleteGroups, &req)?;
    let r = resp.results.first().ok_or("empty DeleteGroups response")?;
    check(r.error_code, None)
}

/// The group's committed offsets (for `topic` only when given). Partitions without a
/// committed offset are left out.
pub fn committed(
    client: &mut Client,
    group: &str,
    topic: Option<(&str, &[i32])>,
) -> Result<Committed, String> {
    let version = client.version_for::<OffsetFetchRequest>(ApiKey::OffsetFetch)?;
    let mut req = OffsetFetchRequest::default();
    if version >= OFFSET_FETCH_GROUPS_VERSION {
        req.groups = vec![OffsetFetchRequestGroup::default()
            .with_group_id(group_id(group))
            .with_member_epoch(-1)
            .with_topics(topic.map(|(t, parts)| {
                vec![OffsetFetchRequestTopics::default()
                    .with_name(topic_name(t))
                    .with_partition_indexes(parts.to_vec())]
            }))];
    } else {
        req.group_id = group_id(group);
        req.topics = topic.map(|(t, parts)| {
            vec![OffsetFetchRequestTopic::default()
                .with_name(topic_name(t))
                .with_partition_indexes(parts.to_vec())]
        });
    }
    let resp: OffsetFetchResponse = client.call_at(ApiKey::OffsetFetch, version, &req)?;
    let mut out = Committed::new();
    let mut add = |t: &str, p: i32, offset: i64, code: i16| -> Result<(), String> {
        check(code, None).map_err(|e| format!("offsets of {t}-{p}: {e}"))?;
        if offset >= 0 {
            out.insert((t.to_string(), p), offset);
        }
        Ok(())
    };
    if version >= OFFSET_FETCH_GROUPS_VERSION {
        for g in &resp.groups {
            check(g.error_code, None).map_err(|e| format!("offsets of group {group}: {e}"))?;
            for t in &g.topics {
                for p in &t.partitions {
                    add(
                        t.name.0.as_str(),
                        p.partition_index,
                        p.committed_offset,
                        p.error_code,
                    )?;
                }
            }
        }
    } else {
        check(resp.error_code, None).map_err(|e| format!("offsets of group {group}: {e}"))?;
        for t in &resp.topics {
            for p in &t.partitions {
                add(
                    t.name.0.as_str(),
                    p.partition_index,
                    p.committed_offset,
                    p.error_code,
                )?;
            }
        }
    }
    Ok(out)
}

/// Commits `offsets` of `topic` for `group` as a standalone member (generation -1,
/// no member id), which the coordinator accepts while the group has no members.
pub fn commit(
    client: &mut Client,
    group: &str,
    topic: &str,
    offsets: &[(i32, i64)],
) -> Result<(), String> {
    if offsets.is_empty() {
        return Ok(());
    }
    let req = OffsetCommitRequest::default()
        .with_group_id(group_id(group))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(StrBytes::from_static_str(""))
        .with_retention_time_ms(-1)
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(topic_name(topic))
            .with_partitions(
                offsets
                    .iter()
                    .map(|&(p, o)| {
                        OffsetCommitRequestPartition::default()
                            .with_partition_index(p)
                            .with_committed_offset(o)
                            .with_committed_leader_epoch(-1)
                    })
                    .collect(),
            )]);
    let resp: OffsetCommitResponse = client.call(ApiKey::OffsetCommit, &req)?;
    for t in &resp.topics {
        for p in &t.partitions {
            check(p.error_code, None).map_err(|e| {
                format!(
                    "committing {topic}-{} for group {group}: {e}",
                    p.partition_index
                )
            })?;
        }
    }
    Ok(())
}

/// The (topic, partition)s in a member's consumer-protocol assignment; empty when
/// the group is not a consumer group or the bytes do not decode.
pub fn assigned_partitions(assignment: &Bytes) -> Vec<(String, i32)> {
    if assignment.len() < 2 {
        return Vec::new();
    }
    let mut buf = assignment.clone();
    let version = i16::from_be_bytes([buf[0], buf[1]]);
    let _ = bytes::Buf::get_i16(&mut buf);
    // Versions above the crate's are read as its newest: newer fields are appended.
    let version = version.clamp(0, 3);
    match ConsumerProtocolAssignment::decode(&mut buf, version) {
        Ok(a) => a
            .assigned_partitions
            .iter()
            .flat_map(|tp| tp.partitions.iter().map(|&p| (tp.topic.0.to_string(), p)))
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::{BufMut, BytesMut};
    use kafka_protocol::messages::consumer_protocol_assignment::TopicPartition;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn assignments_decode() {
        let a = ConsumerProtocolAssignment::default().with_assigned_partitions(vec![
            TopicPartition::default()
                .with_topic(topic_name("t"))
                .with_partitions(vec![0, 2]),
        ]);
        let mut buf = BytesMut::new();
        buf.put_i16(1);
        a.encode(&mut buf, 1).unwrap();
        assert_eq!(
            assigned_partitions(&buf.freeze()),
            vec![("t".to_string(), 0), ("t".to_string(), 2)]
        );
        assert!(assigned_partitions(&Bytes::from_static(b"\x00")).is_empty());
        assert!(assigned_partitions(&Bytes::from_static(b"\x00\x00\xff\xff\xff")).is_empty());
    }
}
