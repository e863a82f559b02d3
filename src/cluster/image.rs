//! The in-memory metadata image and the pure functions that evolve it.
//!
//! Request handlers read an `Arc<MetadataImage>`; they never look at the Raft
//! log. The state machine owns one mutable working image, applies each
//! committed [`MetadataCommand`] to it with [`apply_command`], and publishes an
//! immutable copy. `apply_command` is a pure function of (image, command) so
//! that every replica and every replay produces the same image and the same
//! [`CommandResult`], and so it can be unit-tested without Raft or disk.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::types::{CommandResult, MetadataCommand, MetadataRejection};

/// Upper bound on a topic's partition count. A typo like `partitions:
/// 2000000000` would otherwise make every replica try to allocate the
/// partition table and die the same way on every replay of the log.
pub const MAX_PARTITIONS_PER_TOPIC: i32 = 100_000;

/// Kafka's limit on topic-name length (leaves room for partition suffixes in
/// directory names).
pub const MAX_TOPIC_NAME_LEN: usize = 249;

/// Controller id published before any leader is known.
pub const NO_CONTROLLER: i32 = -1;

/// A broker as it registered itself with the quorum.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct BrokerRegistration {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
}

/// One partition's replica assignment and leadership.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct PartitionImage {
    pub partition_index: i32,
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub replicas: Vec<i32>,
    pub isr: Vec<i32>,
}

/// One topic.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct TopicImage {
    pub name: String,
    pub topic_id: Uuid,
    pub partitions: Vec<PartitionImage>,
    pub configs: BTreeMap<String, String>,
    /// Name starts with `__` (e.g. `__consumer_offsets`); handlers use this to
    /// hide/protect broker-owned topics.
    pub internal: bool,
}

/// A consistent, immutable view of all cluster metadata after some log index.
///
/// Also the snapshot payload: a snapshot is exactly this struct as JSON, so
/// restoring a snapshot and replaying the rest of the log yields the same
/// image the node had before it stopped.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq)]
pub struct MetadataImage {
    /// Empty until the first `SetClusterId` is applied (which `open` does on
    /// first start, before returning).
    pub cluster_id: String,
    /// Current Raft leader (the "active controller"), `-1` if unknown. Not
    /// derived from the log: the store overwrites it from Raft metrics.
    pub controller_id: i32,
    pub brokers: BTreeMap<i32, BrokerRegistration>,
    /// Topics by name.
    pub topics: BTreeMap<String, TopicImage>,
    /// Secondary index: topic id -> name. Kept in sync by `apply_command`.
    pub topic_names_by_id: HashMap<Uuid, String>,
    /// The first producer id not yet handed out.
    pub next_producer_id: i64,
    /// Dynamic group configs by group id; a group without any is absent.
    /// `default` so snapshots written before group configs existed load.
    #[serde(default)]
    pub group_configs: BTreeMap<String, BTreeMap<String, String>>,
    /// Raft log index of the last entry reflected in this image (0 before any).
    pub last_applied_index: u64,
}

impl Default for MetadataImage {
    fn default() -> Self {
        MetadataImage {
            cluster_id: String::new(),
            controller_id: NO_CONTROLLER,
            brokers: BTreeMap::new(),
            topics: BTreeMap::new(),
            topic_names_by_id: HashMap::new(),
            next_producer_id: 0,
            group_configs: BTreeMap::new(),
            last_applied_index: 0,
        }
    }
}

impl MetadataImage {
    /// Looks a topic up by id through the id index.
    pub fn topic_by_id(&self, id: &Uuid) -> Option<&TopicImage> {
        self.topic_names_by_id
            .get(id)
            .and_then(|name| self.topics.get(name))
    }

    /// Looks a topic up by name.
    pub fn topic(&self, name: &str) -> Option<&TopicImage> {
        self.topics.get(name)
    }

    /// Checks the invariants `apply_command` maintains. Used after loading a
    /// snapshot from disk, so a hand-edited or corrupt snapshot is refused at
    /// open instead of producing confusing answers later.
    pub fn check_consistency(&self) -> Result<(), String> {
        if self.topics.len() != self.topic_names_by_id.len() {
            return Err(format!(
                "{} topics but {} topic ids",
                self.topics.len(),
                self.topic_names_by_id.len()
            ));
        }
        for (name, topic) in &self.topics {
            if &topic.name != name {
                return Err(format!("topic keyed '{name}' is named '{}'", topic.name));
            }
            if self.topic_names_by_id.get(&topic.topic_id) != Some(name) {
                return Err(format!("topic '{name}' missing from the id index"));
            }
            for (i, p) in topic.partitions.iter().enumerate() {
                if p.partition_index as i64 != i as i64 {
                    return Err(format!(
                        "topic '{name}' partition {i} has index {}",
                        p.partition_index
                    ));
                }
            }
        }
        Ok(())
    }
}

/// Applies one command to `image`, returning the deterministic answer.
///
/// Validation happens *here*, against the image as of this log position, not
/// in the proposer: two concurrent proposals (e.g. two CreateTopic for the same
/// name) are then resolved by log order, and the loser gets a `Rejected`.
/// A rejected command leaves the image untouched.
pub fn apply_command(image: &mut MetadataImage, cmd: &MetadataCommand) -> CommandResult {
    let res = match cmd {
        MetadataCommand::SetClusterId { cluster_id } => set_cluster_id(image, cluster_id),
        MetadataCommand::RegisterBroker {
            node_id,
            host,
            port,
            rack,
        } => register_broker(image, *node_id, host, *port, rack),
        MetadataCommand::CreateTopic {
            name,
            topic_id,
            partitions,
            replication_factor,
            configs,
        } => create_topic(
            image,
            name,
            *topic_id,
            *partitions,
            *replication_factor,
            configs,
        ),
        MetadataCommand::DeleteTopic { topic_id } => delete_topic(image, *topic_id),
        MetadataCommand::AlterTopicConfigs {
            topic_id,
            set,
            delete,
        } => alter_topic_configs(image, *topic_id, set, delete),
        MetadataCommand::CreatePartitions {
            topic_id,
            total_count,
        } => create_partitions(image, *topic_id, *total_count),
        MetadataCommand::AllocateProducerIds {
            node_id,
            block_size,
        } => allocate_producer_ids(image, *node_id, *block_size),
        MetadataCommand::AlterGroupConfigs {
            group_id,
            set,
            delete,
        } => alter_group_configs(image, group_id, set, delete),
    };
    res.unwrap_or_else(CommandResult::Rejected)
}

type Applied = Result<CommandResult, MetadataRejection>;

fn set_cluster_id(image: &mut MetadataImage, cluster_id: &str) -> Applied {
    if cluster_id.is_empty() || cluster_id.len() > 256 {
        return Err(MetadataRejection::InvalidClusterId {
            reason: "must be 1..=256 bytes".into(),
        });
    }
    if image.cluster_id.is_empty() {
        image.cluster_id = cluster_id.to_string();
        Ok(CommandResult::Ok)
    } else if image.cluster_id == cluster_id {
        Ok(CommandResult::Ok)
    } else {
        Err(MetadataRejection::ClusterIdAlreadySet {
            existing: image.cluster_id.clone(),
        })
    }
}

fn register_broker(
    image: &mut MetadataImage,
    node_id: i32,
    host: &str,
    port: i32,
    rack: &Option<String>,
) -> Applied {
    let invalid = |reason: &str| MetadataRejection::InvalidBrokerRegistration {
        reason: reason.to_string(),
    };
    if node_id < 0 {
        return Err(invalid("node id must be >= 0"));
    }
    if host.is_empty() {
        return Err(invalid("host must not be empty"));
    }
    if !(0..=65535).contains(&port) {
        return Err(invalid("port must be in 0..=65535"));
    }
    image.brokers.insert(
        node_id,
        BrokerRegistration {
            node_id,
            host: host.to_string(),
            port,
            rack: rack.clone(),
        },
    );
    Ok(CommandResult::Ok)
}

/// Kafka's topic-name rules: 1..=249 chars of `[a-zA-Z0-9._-]`, not `.`/`..`.
pub fn validate_topic_name(name: &str) -> Result<(), MetadataRejection> {
    let invalid = |reason: &str| MetadataRejection::InvalidTopicName {
        name: name.to_string(),
        reason: reason.to_string(),
    };
    if name.is_empty() {
        return Err(invalid("empty"));
    }
    if name == "." || name == ".." {
        return Err(invalid("'.' and '..' are reserved"));
    }
    if name.len() > MAX_TOPIC_NAME_LEN {
        return Err(invalid("longer than 249 characters"));
    }
    if !name
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'_' || b == b'-')
    {
        return Err(invalid(
            "only ASCII alphanumerics, '.', '_' and '-' are allowed",
        ));
    }
    Ok(())
}

/// Picks the replica set for a new partition: the `replication_factor` lowest
/// registered broker ids, leader first. With one broker this is `[node_id]`,
/// which is all single-node mode needs; spreading leaders across brokers is a
/// multi-node concern and can change here without touching callers (existing
/// assignments live in the image, not recomputed).
fn assign_replicas(
    image: &MetadataImage,
    replication_factor: usize,
) -> Result<Vec<i32>, MetadataRejection> {
    if image.brokers.len() < replication_factor {
        return Err(MetadataRejection::InvalidReplicationFactor {
            reason: format!(
                "replication factor {replication_factor} is larger than the {} registered broker(s)",
                image.brokers.len()
            ),
        });
    }
    Ok(image
        .brokers
        .keys()
        .take(replication_factor)
        .copied()
        .collect())
}

fn new_partition(partition_index: i32, replicas: &[i32]) -> PartitionImage {
    PartitionImage {
        partition_index,
        leader_id: replicas.first().copied().unwrap_or(-1),
        leader_epoch: 0,
        replicas: replicas.to_vec(),
        isr: replicas.to_vec(),
    }
}

fn create_topic(
    image: &mut MetadataImage,
    name: &str,
    topic_id: Uuid,
    partitions: i32,
    replication_factor: i16,
    configs: &BTreeMap<String, String>,
) -> Applied {
    validate_topic_name(name)?;
    if topic_id.is_nil() {
        return Err(MetadataRejection::InvalidTopicId {
            reason: "the all-zero uuid is reserved".into(),
        });
    }
    if image.topics.contains_key(name) {
        return Err(MetadataRejection::TopicAlreadyExists {
            name: name.to_string(),
        });
    }
    if image.topic_names_by_id.contains_key(&topic_id) {
        return Err(MetadataRejection::TopicIdAlreadyExists { topic_id });
    }
    if !(1..=MAX_PARTITIONS_PER_TOPIC).contains(&partitions) {
        return Err(MetadataRejection::InvalidPartitions {
            reason: format!("partition count {partitions} not in 1..={MAX_PARTITIONS_PER_TOPIC}"),
        });
    }
    if replication_factor < 1 {
        return Err(MetadataRejection::InvalidReplicationFactor {
            reason: format!(
                "replication factor {replication_factor} must be >= 1 (resolve broker defaults before proposing)"
            ),
        });
    }
    let replicas = assign_replicas(image, replication_factor as usize)?;
    let topic = TopicImage {
        name: name.to_string(),
        topic_id,
        partitions: (0..partitions)
            .map(|i| new_partition(i, &replicas))
            .collect(),
        configs: configs.clone(),
        internal: name.starts_with("__"),
    };
    image.topics.insert(name.to_string(), topic);
    image.topic_names_by_id.insert(topic_id, name.to_string());
    Ok(CommandResult::TopicCreated {
        name: name.to_string(),
        topic_id,
        partitions,
    })
}

fn delete_topic(image: &mut MetadataImage, topic_id: Uuid) -> Applied {
    let name = image
        .topic_names_by_id
        .remove(&topic_id)
        .ok_or(MetadataRejection::UnknownTopicId { topic_id })?;
    image.topics.remove(&name);
    Ok(CommandResult::TopicDeleted { name, topic_id })
}

fn topic_mut(
    image: &mut MetadataImage,
    topic_id: Uuid,
) -> Result<&mut TopicImage, MetadataRejection> {
    let name = image
        .topic_names_by_id
        .get(&topic_id)
        .ok_or(MetadataRejection::UnknownTopicId { topic_id })?;
    image
        .topics
        .get_mut(name)
        .ok_or(MetadataRejection::UnknownTopicId { topic_id })
}

fn alter_topic_configs(
    image: &mut MetadataImage,
    topic_id: Uuid,
    set: &BTreeMap<String, String>,
    delete: &[String],
) -> Applied {
    // A key both set and deleted has no obvious meaning; refuse rather than
    // pick an order silently (Kafka rejects duplicate keys too).
    if let Some(key) = delete.iter().find(|k| set.contains_key(*k)) {
        return Err(MetadataRejection::InvalidConfig {
            reason: format!("config '{key}' is both set and deleted"),
        });
    }
    if let Some(key) = set.keys().chain(delete.iter()).find(|k| k.is_empty()) {
        return Err(MetadataRejection::InvalidConfig {
            reason: format!("empty config name '{key}'"),
        });
    }
    let topic = topic_mut(image, topic_id)?;
    for key in delete {
        topic.configs.remove(key);
    }
    for (k, v) in set {
        topic.configs.insert(k.clone(), v.clone());
    }
    Ok(CommandResult::Ok)
}

/// Same rules as topic configs (no key both set and deleted, no empty
/// names), plus a non-empty group id. A group left without configs is
/// dropped, so ListConfigResources stops listing it.
fn alter_group_configs(
    image: &mut MetadataImage,
    group_id: &str,
    set: &BTreeMap<String, String>,
    delete: &[String],
) -> Applied {
    if group_id.is_empty() {
        return Err(MetadataRejection::InvalidConfig {
            reason: "empty group id".into(),
        });
    }
    if let Some(key) = delete.iter().find(|k| set.contains_key(*k)) {
        return Err(MetadataRejection::InvalidConfig {
            reason: format!("config '{key}' is both set and deleted"),
        });
    }
    if set.keys().chain(delete.iter()).any(|k| k.is_empty()) {
        return Err(MetadataRejection::InvalidConfig {
            reason: "empty config name".into(),
        });
    }
    let configs = image.group_configs.entry(group_id.to_string()).or_default();
    for key in delete {
        configs.remove(key);
    }
    for (k, v) in set {
        configs.insert(k.clone(), v.clone());
    }
    if configs.is_empty() {
        image.group_configs.remove(group_id);
    }
    Ok(CommandResult::Ok)
}

fn create_partitions(image: &mut MetadataImage, topic_id: Uuid, total_count: i32) -> Applied {
    let (current, rf) = {
        let topic = topic_mut(image, topic_id)?;
        let rf = topic
            .partitions
            .first()
            .map(|p| p.replicas.len())
            .unwrap_or(1);
        (topic.partitions.len() as i64, rf.max(1))
    };
    if (total_count as i64) <= current {
        return Err(MetadataRejection::InvalidPartitions {
            reason: format!(
                "topic already has {current} partitions; new count {total_count} must be larger"
            ),
        });
    }
    if total_count > MAX_PARTITIONS_PER_TOPIC {
        return Err(MetadataRejection::InvalidPartitions {
            reason: format!("partition count {total_count} exceeds {MAX_PARTITIONS_PER_TOPIC}"),
        });
    }
    let replicas = assign_replicas(image, rf)?;
    let topic = topic_mut(image, topic_id)?;
    for i in (current as i32)..total_count {
        topic.partitions.push(new_partition(i, &replicas));
    }
    Ok(CommandResult::Ok)
}

fn allocate_producer_ids(image: &mut MetadataImage, node_id: i32, block_size: i64) -> Applied {
    if node_id < 0 {
        return Err(MetadataRejection::InvalidProducerIdBlock {
            reason: format!("node id {node_id} must be >= 0"),
        });
    }
    if block_size < 1 {
        return Err(MetadataRejection::InvalidProducerIdBlock {
            reason: format!("block size {block_size} must be >= 1"),
        });
    }
    let first = image.next_producer_id;
    let next = first
        .checked_add(block_size)
        .ok_or(MetadataRejection::InvalidProducerIdBlock {
            reason: "producer id space exhausted".into(),
        })?;
    image.next_producer_id = next;
    Ok(CommandResult::ProducerIdBlock {
        first,
        size: block_size,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(node_id: i32) -> MetadataCommand {
        MetadataCommand::RegisterBroker {
            node_id,
            host: "localhost".into(),
            port: 9092,
            rack: None,
        }
    }

    fn create(name: &str, id: Uuid, partitions: i32) -> MetadataCommand {
        MetadataCommand::CreateTopic {
            name: name.into(),
            topic_id: id,
            partitions,
            replication_factor: 1,
            configs: BTreeMap::new(),
        }
    }

    fn image_with_broker(id: i32) -> MetadataImage {
        let mut img = MetadataImage::default();
        assert_eq!(apply_command(&mut img, &broker(id)), CommandResult::Ok);
        img
    }

    #[test]
    fn create_topic_assigns_lowest_broker() {
        let mut img = image_with_broker(7);
        apply_command(&mut img, &broker(3));
        let id = Uuid::new_v4();
        let res = apply_command(&mut img, &create("t", id, 3));
        assert_eq!(
            res,
            CommandResult::TopicCreated {
                name: "t".into(),
                topic_id: id,
                partitions: 3
            }
        );
        let t = img.topic_by_id(&id).expect("topic by id");
        assert_eq!(t.partitions.len(), 3);
        for (i, p) in t.partitions.iter().enumerate() {
            assert_eq!(p.partition_index, i as i32);
            assert_eq!(p.leader_id, 3);
            assert_eq!(p.replicas, vec![3]);
            assert_eq!(p.isr, vec![3]);
            assert_eq!(p.leader_epoch, 0);
        }
        assert!(!t.internal);
        img.check_consistency().expect("consistent");
    }

    #[test]
    fn rejections_leave_image_unchanged() {
        let mut img = image_with_broker(1);
        let id = Uuid::new_v4();
        apply_command(&mut img, &create("t", id, 1));
        let before = img.clone();
        let cases = vec![
            create("t", Uuid::new_v4(), 1),
            create("u", id, 1),
            create("bad name", Uuid::new_v4(), 1),
            create("..", Uuid::new_v4(), 1),
            create("u", Uuid::nil(), 1),
            create("u", Uuid::new_v4(), 0),
            create("u", Uuid::new_v4(), MAX_PARTITIONS_PER_TOPIC + 1),
            MetadataCommand::CreateTopic {
                name: "u".into(),
                topic_id: Uuid::new_v4(),
                partitions: 1,
                replication_factor: 2,
                configs: BTreeMap::new(),
            },
            MetadataCommand::DeleteTopic {
                topic_id: Uuid::new_v4(),
            },
            MetadataCommand::CreatePartitions {
                topic_id: id,
                total_count: 1,
            },
            MetadataCommand::AlterTopicConfigs {
                topic_id: id,
                set: [("a".to_string(), "1".to_string())].into(),
                delete: vec!["a".into()],
            },
            MetadataCommand::AllocateProducerIds {
                node_id: 1,
                block_size: 0,
            },
            MetadataCommand::SetClusterId {
                cluster_id: String::new(),
            },
        ];
        for cmd in cases {
            let res = apply_command(&mut img, &cmd);
            assert!(
                matches!(res, CommandResult::Rejected(_)),
                "{cmd:?} -> {res:?}"
            );
            assert_eq!(img, before, "{cmd:?} changed the image");
        }
    }

    #[test]
    fn no_brokers_means_no_topics() {
        let mut img = MetadataImage::default();
        let res = apply_command(&mut img, &create("t", Uuid::new_v4(), 1));
        assert!(matches!(
            res,
            CommandResult::Rejected(MetadataRejection::InvalidReplicationFactor { .. })
        ));
    }

    #[test]
    fn delete_configs_partitions_internal() {
        let mut img = image_with_broker(0);
        let id = Uuid::new_v4();
        apply_command(&mut img, &create("__consumer_offsets", id, 2));
        assert!(img
            .topic("__consumer_offsets")
            .map(|t| t.internal)
            .unwrap_or(false));

        let res = apply_command(
            &mut img,
            &MetadataCommand::AlterTopicConfigs {
                topic_id: id,
                set: [("cleanup.policy".to_string(), "compact".to_string())].into(),
                delete: vec![],
            },
        );
        assert_eq!(res, CommandResult::Ok);
        apply_command(
            &mut img,
            &MetadataCommand::AlterTopicConfigs {
                topic_id: id,
                set: [("retention.ms".to_string(), "1".to_string())].into(),
                delete: vec!["cleanup.policy".into()],
            },
        );
        let t = img.topic_by_id(&id).expect("topic");
        assert_eq!(t.configs.len(), 1);
        assert_eq!(t.configs.get("retention.ms").map(String::as_str), Some("1"));

        let res = apply_command(
            &mut img,
            &MetadataCommand::CreatePartitions {
                topic_id: id,
                total_count: 5,
            },
        );
        assert_eq!(res, CommandResult::Ok);
        assert_eq!(img.topic_by_id(&id).map(|t| t.partitions.len()), Some(5));
        img.check_consistency().expect("consistent");

        let res = apply_command(&mut img, &MetadataCommand::DeleteTopic { topic_id: id });
        assert_eq!(
            res,
            CommandResult::TopicDeleted {
                name: "__consumer_offsets".into(),
                topic_id: id
            }
        );
        assert!(img.topics.is_empty());
        assert!(img.topic_names_by_id.is_empty());
    }

    #[test]
    fn cluster_id_first_wins() {
        let mut img = MetadataImage::default();
        let set = |id: &str| MetadataCommand::SetClusterId {
            cluster_id: id.into(),
        };
        assert_eq!(apply_command(&mut img, &set("a")), CommandResult::Ok);
        assert_eq!(apply_command(&mut img, &set("a")), CommandResult::Ok);
        assert!(matches!(
            apply_command(&mut img, &set("b")),
            CommandResult::Rejected(MetadataRejection::ClusterIdAlreadySet { .. })
        ));
        assert_eq!(img.cluster_id, "a");
    }

    #[test]
    fn producer_id_blocks_are_disjoint() {
        let mut img = MetadataImage::default();
        let alloc = |size| MetadataCommand::AllocateProducerIds {
            node_id: 1,
            block_size: size,
        };
        assert_eq!(
            apply_command(&mut img, &alloc(10)),
            CommandResult::ProducerIdBlock { first: 0, size: 10 }
        );
        assert_eq!(
            apply_command(&mut img, &alloc(5)),
            CommandResult::ProducerIdBlock { first: 10, size: 5 }
        );
        img.next_producer_id = i64::MAX - 1;
        assert!(matches!(
            apply_command(&mut img, &alloc(5)),
            CommandResult::Rejected(_)
        ));
    }

    #[test]
    fn image_json_roundtrip() {
        let mut img = image_with_broker(1);
        apply_command(&mut img, &create("t", Uuid::new_v4(), 2));
        let bytes = serde_json::to_vec(&img).expect("serialize");
        let back: MetadataImage = serde_json::from_slice(&bytes).expect("deserialize");
        assert_eq!(back, img);
    }

    #[test]
    fn group_configs_set_delete_and_old_snapshots() {
        let mut img = MetadataImage::default();
        let alter = |set: &[(&str, &str)], delete: &[&str]| MetadataCommand::AlterGroupConfigs {
            group_id: "g".into(),
            set: set
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            delete: delete.iter().map(|k| k.to_string()).collect(),
        };
        let set = alter(&[("consumer.heartbeat.interval.ms", "6000")], &[]);
        assert_eq!(apply_command(&mut img, &set), CommandResult::Ok);
        assert_eq!(
            img.group_configs["g"]["consumer.heartbeat.interval.ms"],
            "6000"
        );
        let both = alter(&[("a", "1")], &["a"]);
        assert!(matches!(
            apply_command(&mut img, &both),
            CommandResult::Rejected(_)
        ));
        let delete = alter(&[], &["consumer.heartbeat.interval.ms"]);
        assert_eq!(apply_command(&mut img, &delete), CommandResult::Ok);
        assert!(
            img.group_configs.is_empty(),
            "a group without configs is dropped"
        );
        // A snapshot from before group configs existed has no such field.
        let mut json = serde_json::to_value(MetadataImage::default()).expect("serialize");
        json.as_object_mut()
            .expect("object")
            .remove("group_configs");
        let back: MetadataImage = serde_json::from_value(json).expect("old snapshot loads");
        assert!(back.group_configs.is_empty());
    }
}
