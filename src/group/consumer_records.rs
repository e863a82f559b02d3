//! A KIP-848 group as Kafka's `__consumer_offsets` records (types 3, 5-8), and back.
//!
//! Rather than emitting a record at each place state changes, the coordinator asks the
//! group for its whole state as records after every heartbeat and timer run, compares
//! that with what it last wrote, and appends only the difference (new or changed values,
//! tombstones for keys that disappeared). Groups are small, so the comparison is cheap,
//! and no code path can forget to persist a change. On load the latest value per key is
//! turned back into a group; members' sessions restart at load, as in Kafka.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use uuid::Uuid;

use super::consumer::{
    ConsumerGroup, ConsumerMember, TopicRegex, TopicsView, Tp, STATIC_LEAVE_EPOCH,
};
use super::schema_848::{
    encode_consumer_key, encode_value, member_state, ConsumerGroupKey as Key,
    ConsumerGroupMetadataValue, ConsumerGroupValue as Value, CurrentMemberAssignmentValue,
    MemberMetadataValue, TargetAssignmentMemberValue, TargetAssignmentMetadataValue,
    TopicPartitions,
};

/// Encoded key → encoded value, as written to the log.
pub type Written = BTreeMap<Vec<u8>, Vec<u8>>;
/// One record to append: key and value (`None`: tombstone).
pub type Change = (Vec<u8>, Option<Vec<u8>>);

fn to_topic_partitions(tps: &BTreeSet<Tp>) -> Vec<TopicPartitions> {
    let mut by_topic: BTreeMap<Uuid, Vec<i32>> = BTreeMap::new();
    for (id, p) in tps {
        by_topic.entry(*id).or_default().push(*p);
    }
    by_topic
        .into_iter()
        .map(|(topic_id, partitions)| TopicPartitions {
            topic_id,
            partitions,
            assignment_epochs: None,
        })
        .collect()
}

fn from_topic_partitions(tps: &[TopicPartitions]) -> BTreeSet<Tp> {
    tps.iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, *p)))
        .collect()
}

/// The group's state as Kafka's records.
fn records(g: &ConsumerGroup) -> Vec<(Key, Value)> {
    let group = g.group_id.clone();
    let mut out = vec![(
        Key::Metadata {
            group: group.clone(),
        },
        Value::Metadata(ConsumerGroupMetadataValue {
            epoch: g.group_epoch,
            ..Default::default()
        }),
    )];
    for m in g.members.values() {
        let member_id = m.member_id.clone();
        out.push((
            Key::MemberMetadata {
                group: group.clone(),
                member_id: member_id.clone(),
            },
            Value::MemberMetadata(MemberMetadataValue {
                instance_id: m.instance_id.clone(),
                rack_id: m.rack_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                subscribed_topic_names: m.subscribed_topic_names.clone(),
                subscribed_topic_regex: m
                    .subscribed_topic_regex
                    .as_ref()
                    .map(|r| r.as_str().to_string()),
                rebalance_timeout_ms: i32::try_from(m.rebalance_timeout.as_millis())
                    .unwrap_or(i32::MAX),
                server_assignor: m.server_assignor.clone(),
                classic_member_metadata: None,
            }),
        ));
        let target = g.target.get(&m.member_id).cloned().unwrap_or_default();
        out.push((
            Key::TargetAssignmentMember {
                group: group.clone(),
                member_id: member_id.clone(),
            },
            Value::TargetAssignmentMember(TargetAssignmentMemberValue {
                topic_partitions: to_topic_partitions(&target),
            }),
        ));
        let state = if !m.revoking.is_empty() {
            member_state::UNREVOKED_PARTITIONS
        } else if m.assigned != target {
            member_state::UNRELEASED_PARTITIONS
        } else {
            member_state::STABLE
        };
        // A static member that left with epoch -2 is stored with that epoch, as Kafka
        // does; its last real epoch goes in the previous epoch.
        let (member_epoch, previous_member_epoch) = if m.departed_static {
            (STATIC_LEAVE_EPOCH, m.member_epoch)
        } else {
            (m.member_epoch, m.previous_epoch)
        };
        out.push((
            Key::CurrentMemberAssignment {
                group: group.clone(),
                member_id,
            },
            Value::CurrentMemberAssignment(CurrentMemberAssignmentValue {
                member_epoch,
                previous_member_epoch,
                state,
                assigned_partitions: to_topic_partitions(&m.assigned),
                partitions_pending_revocation: to_topic_partitions(&m.revoking),
            }),
        ));
    }
    out.push((
        Key::TargetAssignmentMetadata { group },
        Value::TargetAssignmentMetadata(TargetAssignmentMetadataValue {
            assignment_epoch: g.assignment_epoch,
            ..Default::default()
        }),
    ));
    out
}

/// Encodes the group's records. A record that cannot be encoded (a string over
/// Kafka's 32767-byte limit) is left out with a warning rather than failing the group.
pub fn encode(g: &ConsumerGroup) -> Written {
    let mut out = Written::new();
    for (key, value) in records(g) {
        match (encode_consumer_key(&key), encode_value(&value)) {
            (Ok(k), Ok(v)) => {
                out.insert(k, v);
            }
            (Err(e), _) | (_, Err(e)) => {
                tracing::warn!(group = %g.group_id, ?key, error = %e, "cannot encode consumer group record")
            }
        }
    }
    out
}

/// What must be appended to go from `written` to `now`: changed or new values, then
/// tombstones for keys no longer present.
pub fn diff(written: &Written, now: &Written) -> Vec<Change> {
    let mut out: Vec<Change> = now
        .iter()
        .filter(|(k, v)| written.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), Some(v.clone())))
        .collect();
    out.extend(
        written
            .keys()
            .filter(|k| !now.contains_key(*k))
            .map(|k| (k.clone(), None)),
    );
    out
}

/// Replayed records of one group, latest value per key.
#[derive(Debug, Default)]
pub struct Loaded {
    pub values: HashMap<Key, Value>,
    /// Encoded form of `values`, so the restored group knows what is on disk.
    pub written: Written,
}

impl Loaded {
    pub fn apply(&mut self, key: Key, raw_key: &[u8], value: Option<(Value, &[u8])>) {
        match value {
            Some((v, raw)) => {
                self.values.insert(key, v);
                self.written.insert(raw_key.to_vec(), raw.to_vec());
            }
            None => {
                self.values.remove(&key);
                self.written.remove(raw_key);
            }
        }
    }
}

/// Rebuilds a group from its records; `None` when the group metadata record is gone
/// (the group was deleted).
pub fn restore(
    group_id: &str,
    loaded: Loaded,
    session_timeout: Duration,
    heartbeat_interval_ms: i32,
    view: &TopicsView,
    now: Instant,
) -> Option<ConsumerGroup> {
    let mut group_epoch = None;
    let mut assignment_epoch = 0;
    let mut metas: BTreeMap<String, MemberMetadataValue> = BTreeMap::new();
    let mut targets: BTreeMap<String, BTreeSet<Tp>> = BTreeMap::new();
    let mut currents: BTreeMap<String, CurrentMemberAssignmentValue> = BTreeMap::new();
    for (key, value) in loaded.values {
        match (key, value) {
            (Key::Metadata { .. }, Value::Metadata(v)) => group_epoch = Some(v.epoch),
            (Key::TargetAssignmentMetadata { .. }, Value::TargetAssignmentMetadata(v)) => {
                assignment_epoch = v.assignment_epoch
            }
            (Key::MemberMetadata { member_id, .. }, Value::MemberMetadata(v)) => {
                metas.insert(member_id, v);
            }
            (Key::TargetAssignmentMember { member_id, .. }, Value::TargetAssignmentMember(v)) => {
                targets.insert(member_id, from_topic_partitions(&v.topic_partitions));
            }
            (Key::CurrentMemberAssignment { member_id, .. }, Value::CurrentMemberAssignment(v)) => {
                currents.insert(member_id, v);
            }
            _ => {}
        }
    }
    let group_epoch = group_epoch?;
    let mut g = ConsumerGroup::new(group_id, session_timeout, heartbeat_interval_ms);
    g.group_epoch = group_epoch;
    g.assignment_epoch = assignment_epoch;
    for (member_id, meta) in metas {
        let current = currents.remove(&member_id).unwrap_or_default();
        let departed_static = current.member_epoch == STATIC_LEAVE_EPOCH;
        let (member_epoch, previous_epoch) = if departed_static {
            (current.previous_member_epoch, current.previous_member_epoch)
        } else {
            (current.member_epoch, current.previous_member_epoch)
        };
        let regex = meta.subscribed_topic_regex.as_deref().and_then(|r| {
            TopicRegex::new(r)
                .map_err(|e| tracing::warn!(group = group_id, %member_id, error = %e, "stored regex does not compile"))
                .ok()
        });
        let member = ConsumerMember::restored(
            member_id.clone(),
            meta,
            regex,
            member_epoch,
            previous_epoch,
            from_topic_partitions(&current.assigned_partitions),
            from_topic_partitions(&current.partitions_pending_revocation),
            departed_static,
            now,
        );
        g.members.insert(member_id, member);
    }
    g.target = targets
        .into_iter()
        .filter(|(m, _)| g.members.contains_key(m))
        .collect();
    g.after_restore(view);
    g.written = loaded.written;
    Some(g)
}

#[cfg(test)]
mod tests {
    use super::super::consumer::HeartbeatRequest;
    use super::super::schema_848::{decode_consumer_key, decode_value};
    use super::*;

    fn join(
        g: &mut ConsumerGroup,
        id: &str,
        view: &TopicsView,
        now: Instant,
        instance: Option<&str>,
    ) {
        let r = g.heartbeat(
            HeartbeatRequest {
                member_id: id.into(),
                member_epoch: 0,
                instance_id: instance.map(Into::into),
                rack_id: Some("rack-a".into()),
                rebalance_timeout_ms: 30_000,
                subscribed_topic_names: Some(vec!["t".into()]),
                subscribed_topic_regex: Some("other-.*".into()),
                server_assignor: Some("range".into()),
                owned: Some(BTreeSet::new()),
                client_id: format!("client-{id}"),
                client_host: "/127.0.0.1".into(),
            },
            view,
            now,
        );
        assert_eq!(r.error_code, 0, "{r:?}");
    }

    /// Encodes, decodes through the real codecs as replay does, and restores.
    fn reload(g: &ConsumerGroup, view: &TopicsView, now: Instant) -> ConsumerGroup {
        let mut loaded = Loaded::default();
        for (k, v) in encode(g) {
            let key = decode_consumer_key(&k).unwrap().unwrap();
            let value = decode_value(&key, &v).unwrap().unwrap();
            loaded.apply(key, &k, Some((value, &v)));
        }
        restore(
            &g.group_id,
            loaded,
            Duration::from_secs(45),
            5000,
            view,
            now,
        )
        .unwrap()
    }

    #[test]
    fn group_survives_encode_and_restore() {
        let id = Uuid::from_u128(9);
        let mut view = TopicsView::default();
        view.topics.insert("t".into(), (id, 4));
        let now = Instant::now();
        let mut g = ConsumerGroup::new("g", Duration::from_secs(45), 5000);
        join(&mut g, "m1", &view, now, Some("static-1"));
        join(&mut g, "m2", &view, now, None);
        let (changes, written) = g.pending_records();
        assert_eq!(changes.len(), 2 + 3 * 2, "group, target meta, 3 per member");
        g.mark_written(written);
        assert!(g.pending_records().0.is_empty(), "nothing changed since");

        let r = reload(&g, &view, now);
        assert_eq!(
            (r.group_epoch, r.assignment_epoch),
            (g.group_epoch, g.assignment_epoch)
        );
        assert_eq!(r.target, g.target);
        assert_eq!(r.assignor_name, "range");
        for (mid, m) in &g.members {
            let n = &r.members[mid];
            assert_eq!(
                (n.member_epoch, &n.assigned, &n.revoking),
                (m.member_epoch, &m.assigned, &m.revoking)
            );
            assert_eq!(
                (&n.instance_id, &n.rack_id, &n.client_id),
                (&m.instance_id, &m.rack_id, &m.client_id)
            );
            assert_eq!(n.subscribed_topic_names, m.subscribed_topic_names);
            assert_eq!(n.subscribed_topic_regex, m.subscribed_topic_regex);
            assert_eq!(n.rebalance_timeout, m.rebalance_timeout);
        }
        assert!(
            r.pending_records().0.is_empty(),
            "a restored group matches the log"
        );

        // A member leaving: tombstones for its three records, a new group epoch.
        let mut g2 = r;
        let left = g2.heartbeat(
            HeartbeatRequest {
                member_id: "m2".into(),
                member_epoch: -1,
                instance_id: None,
                rack_id: None,
                rebalance_timeout_ms: -1,
                subscribed_topic_names: None,
                subscribed_topic_regex: None,
                server_assignor: None,
                owned: None,
                client_id: "client-m2".into(),
                client_host: "/127.0.0.1".into(),
            },
            &view,
            now,
        );
        assert_eq!(left.error_code, 0);
        let (changes, _) = g2.pending_records();
        let tombstones = changes.iter().filter(|(_, v)| v.is_none()).count();
        assert_eq!(tombstones, 3, "{changes:?}");
        assert_eq!(
            g2.tombstones().len(),
            2 + 3 * 2,
            "deleting the group tombstones what is on disk"
        );
    }
}
