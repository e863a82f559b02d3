//! The consumer group protocol of KIP-848 (`group.protocol=consumer`):
//! the broker computes the assignment (uniform or range assignor) and each
//! member converges to it through ConsumerGroupHeartbeat, revoking partitions
//! before anyone else receives them.
//!
//! Epochs: the group epoch moves whenever membership, subscriptions or the
//! subscribed topics' partition counts change; the target assignment is
//! computed at a group epoch; a member's epoch reaches the target's epoch
//! once it has revoked everything the target takes away from it. A partition
//! is handed to its new owner only after the previous owner gave it up.
//!
//! Synchronous, under the group's mutex, with time passed in; no IO. The
//! coordinator persists the group after each change as Kafka's records
//! (`consumer_records`), so members keep their ids, epochs and partitions
//! across a broker restart.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// A topic-partition by topic ID, as the protocol names them.
pub type Tp = (Uuid, i32);

/// What the assignors need to know about subscribed topics.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TopicsView {
    /// name → (id, partition count)
    pub topics: BTreeMap<String, (Uuid, i32)>,
}

impl TopicsView {
    /// Every topic of the metadata image.
    pub fn from_image(image: &crate::cluster::MetadataImage) -> Self {
        TopicsView {
            topics: image
                .topics
                .values()
                .map(|t| (t.name.clone(), (t.topic_id, t.partitions.len() as i32)))
                .collect(),
        }
    }
}

/// Member epoch values with special meaning in requests.
pub const JOIN_EPOCH: i32 = 0;
pub const LEAVE_EPOCH: i32 = -1;
pub const STATIC_LEAVE_EPOCH: i32 = -2;

#[derive(Debug, Clone)]
pub struct HeartbeatRequest {
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub subscribed_topic_names: Option<Vec<String>>,
    pub subscribed_topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    /// Partitions the member owns now; `None` = unchanged since last time.
    pub owned: Option<BTreeSet<Tp>>,
    pub client_id: String,
    pub client_host: String,
}

#[derive(Debug, Clone, Default)]
pub struct HeartbeatResult {
    pub error_code: i16,
    pub error_message: Option<String>,
    pub member_id: String,
    pub member_epoch: i32,
    /// `None`: unchanged since the last response.
    pub assignment: Option<BTreeSet<Tp>>,
}

impl HeartbeatResult {
    /// A refused heartbeat; the reason goes to the client and the debug log.
    fn error(code: ResponseError, message: &str, member_id: &str) -> Self {
        crate::error::refuse(
            code,
            format_args!("{message} (member {})", crate::error::prefix(member_id)),
        );
        HeartbeatResult {
            error_code: code.code(),
            error_message: Some(message.to_string()),
            member_id: member_id.to_string(),
            member_epoch: -1,
            assignment: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerMember {
    pub member_id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub member_epoch: i32,
    pub(super) previous_epoch: i32,
    pub rebalance_timeout: Duration,
    pub subscribed_topic_names: Vec<String>,
    pub subscribed_topic_regex: Option<TopicRegex>,
    pub server_assignor: Option<String>,
    /// What the member has been told it owns (and has not been told to drop).
    pub assigned: BTreeSet<Tp>,
    /// Partitions the member was asked to revoke and still reports owning.
    pub revoking: BTreeSet<Tp>,
    /// The assignment last sent, so unchanged ones are not resent.
    last_sent: Option<BTreeSet<Tp>>,
    last_heartbeat: Instant,
    revoke_deadline: Option<Instant>,
    /// Static member that left with epoch -2: kept until its session ends.
    pub(super) departed_static: bool,
}

impl ConsumerMember {
    /// A member rebuilt from its `__consumer_offsets` records; its session starts now.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn restored(
        member_id: String,
        meta: super::schema_848::MemberMetadataValue,
        regex: Option<TopicRegex>,
        member_epoch: i32,
        previous_epoch: i32,
        assigned: BTreeSet<Tp>,
        revoking: BTreeSet<Tp>,
        departed_static: bool,
        now: Instant,
    ) -> Self {
        let rebalance_timeout = Duration::from_millis(meta.rebalance_timeout_ms.max(0) as u64);
        ConsumerMember {
            member_id,
            instance_id: meta.instance_id,
            rack_id: meta.rack_id,
            client_id: meta.client_id,
            client_host: meta.client_host,
            member_epoch,
            previous_epoch,
            rebalance_timeout,
            subscribed_topic_names: meta.subscribed_topic_names,
            subscribed_topic_regex: regex,
            server_assignor: meta.server_assignor,
            revoke_deadline: (!revoking.is_empty()).then(|| now + rebalance_timeout),
            assigned,
            revoking,
            last_sent: None,
            last_heartbeat: now,
            departed_static,
        }
    }
}

/// One consumer group.
#[derive(Debug)]
pub struct ConsumerGroup {
    pub group_id: String,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    pub target: BTreeMap<String, BTreeSet<Tp>>,
    topics_seen: TopicsView,
    session_timeout: Duration,
    pub heartbeat_interval_ms: i32,
    pub assignor_name: String,
    /// The records last appended to `__consumer_offsets` for this group.
    pub(super) written: super::consumer_records::Written,
}

/// Server-side assignors offered (KIP-848 names).
pub const ASSIGNORS: &[&str] = &["uniform", "range"];

impl ConsumerGroup {
    pub fn new(group_id: &str, session_timeout: Duration, heartbeat_interval_ms: i32) -> Self {
        ConsumerGroup {
            group_id: group_id.to_string(),
            group_epoch: 0,
            assignment_epoch: 0,
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            topics_seen: TopicsView::default(),
            session_timeout,
            heartbeat_interval_ms,
            assignor_name: "uniform".to_string(),
            written: Default::default(),
        }
    }

    /// Makes the group run with these timeouts (its dynamic group configs):
    /// the session timeout applies to every member's expiry from the next
    /// tick, the interval to the next heartbeat answers.
    pub fn set_timeouts(&mut self, session_timeout: Duration, heartbeat_interval_ms: i32) {
        self.session_timeout = session_timeout;
        self.heartbeat_interval_ms = heartbeat_interval_ms;
    }

    /// Records to append so the log matches the group, and the resulting written set
    /// (to store with [`ConsumerGroup::mark_written`] once the append succeeded).
    pub fn pending_records(
        &self,
    ) -> (
        Vec<super::consumer_records::Change>,
        super::consumer_records::Written,
    ) {
        let now = super::consumer_records::encode(self);
        (super::consumer_records::diff(&self.written, &now), now)
    }

    pub fn mark_written(&mut self, written: super::consumer_records::Written) {
        self.written = written;
    }

    /// Tombstones for every record of the group (it is being deleted).
    pub fn tombstones(&self) -> Vec<super::consumer_records::Change> {
        self.written.keys().map(|k| (k.clone(), None)).collect()
    }

    /// Derived state after loading: the topics as they are now, and the assignor.
    pub(super) fn after_restore(&mut self, view: &TopicsView) {
        self.topics_seen = self.relevant_topics(view);
        if let Some(a) = self
            .members
            .values()
            .find_map(|m| m.server_assignor.clone())
        {
            self.assignor_name = a;
        }
    }

    /// Kafka's state names for a consumer group.
    pub fn state_name(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.assignment_epoch < self.group_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.member_epoch != self.assignment_epoch)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// One ConsumerGroupHeartbeat.
    pub fn heartbeat(
        &mut self,
        req: HeartbeatRequest,
        view: &TopicsView,
        now: Instant,
    ) -> HeartbeatResult {
        if let Some(name) = &req.server_assignor {
            if !ASSIGNORS.contains(&name.as_str()) {
                return HeartbeatResult::error(
                    ResponseError::UnsupportedAssignor,
                    "server assignor not supported (uniform, range)",
                    &req.member_id,
                );
            }
        }
        // Compiled before anything changes, so a bad pattern leaves the
        // group as it was. `Some(None)`: the member clears its regex.
        let new_regex = match req.subscribed_topic_regex.as_deref() {
            None => None,
            Some("") => Some(None),
            Some(pattern) => match self.member_regex(&req.member_id, pattern) {
                Ok(r) => Some(Some(r)),
                Err(e) => {
                    return HeartbeatResult::error(
                        ResponseError::InvalidRegularExpression,
                        &format!("invalid subscribed topic regex: {e}"),
                        &req.member_id,
                    )
                }
            },
        };
        match req.member_epoch {
            LEAVE_EPOCH | STATIC_LEAVE_EPOCH => return self.leave(req, now),
            JOIN_EPOCH => self.join(&req, now),
            epoch => {
                let Some(member) = self.members.get(&req.member_id) else {
                    return HeartbeatResult::error(
                        ResponseError::UnknownMemberId,
                        "unknown member",
                        &req.member_id,
                    );
                };
                if epoch != member.member_epoch && epoch != member.previous_epoch {
                    return HeartbeatResult::error(
                        ResponseError::FencedMemberEpoch,
                        "member epoch is stale",
                        &req.member_id,
                    );
                }
            }
        }
        let member_id = req.member_id.clone();
        let mut changed = false;
        if let Some(member) = self.members.get_mut(&member_id) {
            member.last_heartbeat = now;
            member.client_id = req.client_id.clone();
            member.client_host = req.client_host.clone();
            // -1 means "unchanged" after the join (clients send it on
            // every later heartbeat).
            if req.rebalance_timeout_ms >= 0 {
                member.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms as u64);
            }
            if let Some(names) = &req.subscribed_topic_names {
                let mut names = names.clone();
                names.sort();
                names.dedup();
                if names != member.subscribed_topic_names {
                    member.subscribed_topic_names = names;
                    changed = true;
                }
            }
            if let Some(regex) = new_regex {
                if regex != member.subscribed_topic_regex {
                    member.subscribed_topic_regex = regex;
                    changed = true;
                }
            }
            if req.server_assignor.is_some() && req.server_assignor != member.server_assignor {
                member.server_assignor = req.server_assignor.clone();
                changed = true;
            }
            if req.rack_id.is_some() {
                member.rack_id = req.rack_id.clone();
            }
        }
        let relevant = self.relevant_topics(view);
        if relevant != self.topics_seen {
            self.topics_seen = relevant;
            changed = true;
        }
        if changed {
            self.group_epoch += 1;
        }
        if self.assignment_epoch < self.group_epoch {
            self.compute_target();
        }
        self.reconcile(&member_id, req.owned.as_ref(), now)
    }

    fn join(&mut self, req: &HeartbeatRequest, now: Instant) {
        // A static member coming back replaces its old incarnation and keeps
        // its assignment.
        let mut inherited: Option<ConsumerMember> = None;
        if let Some(instance) = &req.instance_id {
            let old = self
                .members
                .iter()
                .find(|(id, m)| m.instance_id.as_ref() == Some(instance) && **id != req.member_id)
                .map(|(id, _)| id.clone());
            if let Some(old) = old {
                inherited = self.members.remove(&old);
                if let Some(assigned) = self.target.remove(&old) {
                    self.target.insert(req.member_id.clone(), assigned);
                }
            }
        }
        let member = match (inherited, self.members.remove(&req.member_id)) {
            (Some(mut m), _) => {
                m.member_id = req.member_id.clone();
                m.departed_static = false;
                m.last_sent = None;
                m
            }
            (None, Some(mut m)) => {
                // Rejoin with the same id (e.g. after a fencing): start over.
                m.member_epoch = 0;
                m.previous_epoch = 0;
                m.assigned.clear();
                m.revoking.clear();
                m.last_sent = None;
                m
            }
            (None, None) => {
                self.group_epoch += 1;
                ConsumerMember {
                    member_id: req.member_id.clone(),
                    instance_id: req.instance_id.clone(),
                    rack_id: req.rack_id.clone(),
                    client_id: req.client_id.clone(),
                    client_host: req.client_host.clone(),
                    member_epoch: 0,
                    previous_epoch: 0,
                    rebalance_timeout: Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64),
                    subscribed_topic_names: Vec::new(),
                    subscribed_topic_regex: None,
                    server_assignor: None,
                    assigned: BTreeSet::new(),
                    revoking: BTreeSet::new(),
                    last_sent: None,
                    last_heartbeat: now,
                    revoke_deadline: None,
                    departed_static: false,
                }
            }
        };
        self.members.insert(req.member_id.clone(), member);
    }

    fn leave(&mut self, req: HeartbeatRequest, now: Instant) -> HeartbeatResult {
        let epoch = req.member_epoch;
        if !self.members.contains_key(&req.member_id) {
            return HeartbeatResult::error(
                ResponseError::UnknownMemberId,
                "unknown member",
                &req.member_id,
            );
        }
        if epoch == STATIC_LEAVE_EPOCH {
            // The static member will be back: keep its partitions reserved
            // until its session runs out.
            if let Some(m) = self.members.get_mut(&req.member_id) {
                m.departed_static = true;
                m.last_heartbeat = now;
            }
        } else {
            self.remove_member(&req.member_id);
        }
        HeartbeatResult {
            member_id: req.member_id,
            member_epoch: epoch,
            ..Default::default()
        }
    }

    fn remove_member(&mut self, member_id: &str) {
        if self.members.remove(member_id).is_some() {
            self.target.remove(member_id);
            self.group_epoch += 1;
        }
    }

    /// The member's compiled pattern when it is unchanged (heartbeats resend
    /// it), else a fresh compile.
    fn member_regex(&self, member_id: &str, pattern: &str) -> Result<TopicRegex, String> {
        match self
            .members
            .get(member_id)
            .and_then(|m| m.subscribed_topic_regex.as_ref())
        {
            Some(r) if r.as_str() == pattern => Ok(r.clone()),
            _ => TopicRegex::new(pattern),
        }
    }

    /// The subscribed topics that exist, with their partition counts.
    fn relevant_topics(&self, view: &TopicsView) -> TopicsView {
        let mut out = TopicsView::default();
        for m in self.members.values() {
            for name in &m.subscribed_topic_names {
                if let Some(t) = view.topics.get(name) {
                    out.topics.insert(name.clone(), *t);
                }
            }
            if let Some(regex) = &m.subscribed_topic_regex {
                for (name, t) in &view.topics {
                    if regex.matches(name) {
                        out.topics.insert(name.clone(), *t);
                    }
                }
            }
        }
        out
    }

    /// Which topics a member subscribes to, resolved against the view.
    fn member_topics(&self, m: &ConsumerMember) -> Vec<(Uuid, i32)> {
        let mut out = Vec::new();
        for (name, (id, count)) in &self.topics_seen.topics {
            let by_name = m.subscribed_topic_names.iter().any(|n| n == name);
            let by_regex = m
                .subscribed_topic_regex
                .as_ref()
                .is_some_and(|r| r.matches(name));
            if by_name || by_regex {
                out.push((*id, *count));
            }
        }
        out
    }

    fn compute_target(&mut self) {
        let assignor = self
            .members
            .values()
            .filter_map(|m| m.server_assignor.clone())
            .next()
            .unwrap_or_else(|| "uniform".to_string());
        let subscriptions: BTreeMap<String, Vec<(Uuid, i32)>> = self
            .members
            .values()
            .map(|m| (m.member_id.clone(), self.member_topics(m)))
            .collect();
        self.target = if assignor == "range" {
            assign_range(&subscriptions)
        } else {
            assign_uniform(&subscriptions, &self.target)
        };
        self.assignor_name = assignor;
        self.assignment_epoch = self.group_epoch;
    }

    /// Moves one member toward its target: first revoke what it must give
    /// up, then hand it partitions nobody else still owns.
    fn reconcile(
        &mut self,
        member_id: &str,
        owned: Option<&BTreeSet<Tp>>,
        now: Instant,
    ) -> HeartbeatResult {
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let owned_elsewhere: BTreeSet<Tp> = self
            .members
            .values()
            .filter(|m| m.member_id != member_id)
            .flat_map(|m| m.assigned.iter().chain(m.revoking.iter()).copied())
            .collect();
        let assignment_epoch = self.assignment_epoch;
        let Some(m) = self.members.get_mut(member_id) else {
            return HeartbeatResult::error(
                ResponseError::UnknownMemberId,
                "unknown member",
                member_id,
            );
        };
        // Partitions still being revoked are released once the member stops
        // reporting them.
        if let Some(owned) = owned {
            m.revoking.retain(|tp| owned.contains(tp));
        }
        let to_revoke: BTreeSet<Tp> = m.assigned.difference(&target).copied().collect();
        if !to_revoke.is_empty() {
            m.assigned = m.assigned.intersection(&target).copied().collect();
            m.revoking.extend(to_revoke);
            m.revoke_deadline = Some(now + m.rebalance_timeout);
        }
        if m.revoking.is_empty() {
            m.revoke_deadline = None;
            for tp in target.difference(&m.assigned.clone()) {
                if !owned_elsewhere.contains(tp) {
                    m.assigned.insert(*tp);
                }
            }
            if m.member_epoch != assignment_epoch {
                m.previous_epoch = m.member_epoch;
                m.member_epoch = assignment_epoch;
            }
        }
        let assignment = if m.last_sent.as_ref() != Some(&m.assigned) {
            m.last_sent = Some(m.assigned.clone());
            Some(m.assigned.clone())
        } else {
            None
        };
        HeartbeatResult {
            error_code: 0,
            error_message: None,
            member_id: member_id.to_string(),
            member_epoch: m.member_epoch,
            assignment,
        }
    }

    /// Session and revocation timeouts. Returns whether anything changed.
    pub fn tick(&mut self, now: Instant) -> bool {
        let session = self.session_timeout;
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                now >= m.last_heartbeat + session || m.revoke_deadline.is_some_and(|d| now >= d)
            })
            .map(|m| m.member_id.clone())
            .collect();
        let changed = !expired.is_empty();
        for id in expired {
            tracing::info!(group = %self.group_id, member = %id, "consumer group member expired");
            self.remove_member(&id);
        }
        if self.assignment_epoch < self.group_epoch && !self.members.is_empty() {
            self.compute_target();
            return true;
        }
        changed
    }

    /// Validates an OffsetCommit from a member of this group.
    pub fn check_commit(&self, member_id: &str, member_epoch: i32) -> Result<(), i16> {
        if member_epoch < 0 && member_id.is_empty() && self.members.is_empty() {
            return Ok(());
        }
        let Some(m) = self.members.get(member_id) else {
            return Err(ResponseError::UnknownMemberId.code());
        };
        if member_epoch != m.member_epoch && member_epoch != m.previous_epoch {
            return Err(ResponseError::StaleMemberEpoch.code());
        }
        Ok(())
    }
}

/// Uniform assignor: every subscribed partition to one member, balanced
/// within one per member, sticky — a member keeps what it had as long as
/// that stays within its fair share.
pub fn assign_uniform(
    subscriptions: &BTreeMap<String, Vec<(Uuid, i32)>>,
    previous: &BTreeMap<String, BTreeSet<Tp>>,
) -> BTreeMap<String, BTreeSet<Tp>> {
    let mut out: BTreeMap<String, BTreeSet<Tp>> = subscriptions
        .keys()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    // Partitions, each with the members that may take it.
    let mut partitions: BTreeMap<Tp, Vec<&String>> = BTreeMap::new();
    for (member, topics) in subscriptions {
        for (id, count) in topics {
            for p in 0..*count {
                partitions.entry((*id, p)).or_default().push(member);
            }
        }
    }
    if subscriptions.is_empty() {
        return out;
    }
    let total = partitions.len();
    let members = subscriptions.len();
    let floor = total / members;
    let mut with_extra = total % members;
    // Quota per member: floor or floor+1 (those keeping more get the extra first).
    let mut quota: BTreeMap<&String, usize> = subscriptions.keys().map(|m| (m, floor)).collect();
    let mut by_previous: Vec<(&String, usize)> = subscriptions
        .keys()
        .map(|m| (m, previous.get(m).map_or(0, |p| p.len())))
        .collect();
    by_previous.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (m, _) in by_previous {
        if with_extra == 0 {
            break;
        }
        if let Some(q) = quota.get_mut(m) {
            *q += 1;
            with_extra -= 1;
        }
    }
    let mut unassigned: Vec<Tp> = Vec::new();
    for (tp, eligible) in &partitions {
        let keeper = previous
            .iter()
            .find(|(m, owned)| owned.contains(tp) && eligible.contains(m))
            .map(|(m, _)| m);
        match keeper {
            Some(m) if out.get(m).map_or(0, |s| s.len()) < quota.get(m).copied().unwrap_or(0) => {
                out.entry(m.clone()).or_default().insert(*tp);
            }
            _ => unassigned.push(*tp),
        }
    }
    for tp in unassigned {
        let eligible = &partitions[&tp];
        // The eligible member furthest below its quota (then least loaded).
        let best = eligible
            .iter()
            .min_by_key(|m| {
                let have = out.get(**m).map_or(0, |s| s.len());
                let q = quota.get(**m).copied().unwrap_or(0);
                (have >= q, have, (**m).clone())
            })
            .map(|m| (*m).clone());
        if let Some(m) = best {
            out.entry(m).or_default().insert(tp);
        }
    }
    out
}

/// Range assignor: per topic, the subscribed members (sorted by id) get
/// contiguous ranges of partitions, the first ones one extra when uneven.
pub fn assign_range(
    subscriptions: &BTreeMap<String, Vec<(Uuid, i32)>>,
) -> BTreeMap<String, BTreeSet<Tp>> {
    let mut out: BTreeMap<String, BTreeSet<Tp>> = subscriptions
        .keys()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    let mut topics: BTreeMap<Uuid, (i32, Vec<&String>)> = BTreeMap::new();
    for (member, subs) in subscriptions {
        for (id, count) in subs {
            let e = topics.entry(*id).or_insert((*count, Vec::new()));
            e.1.push(member);
        }
    }
    for (id, (count, members)) in topics {
        let n = members.len() as i32;
        let (per, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, m) in members.iter().enumerate() {
            let take = per + i32::from((i as i32) < extra);
            for p in next..next + take {
                out.entry((*m).clone()).or_default().insert((id, p));
            }
            next += take;
        }
    }
    out
}

/// A KIP-848 topic subscription pattern. Kafka compiles it with RE2J and
/// requires the whole topic name to match; the `regex` crate has the same
/// RE2 syntax and linear-time guarantee, so a hostile pattern cannot stall
/// the coordinator.
#[derive(Debug, Clone)]
pub struct TopicRegex {
    source: String,
    compiled: regex::Regex,
}

/// Longest pattern accepted, in bytes; the compiled program is also bounded
/// by `REGEX_SIZE_LIMIT_BYTES`.
const REGEX_MAX_PATTERN_BYTES: usize = 4096;
const REGEX_SIZE_LIMIT_BYTES: usize = 1 << 20;

impl TopicRegex {
    pub fn new(source: &str) -> Result<Self, String> {
        if source.len() > REGEX_MAX_PATTERN_BYTES {
            return Err(format!(
                "regular expression is longer than {REGEX_MAX_PATTERN_BYTES} bytes"
            ));
        }
        let compiled = regex::RegexBuilder::new(&format!("^(?:{source})$"))
            .size_limit(REGEX_SIZE_LIMIT_BYTES)
            .build()
            .map_err(|e| e.to_string())?;
        Ok(TopicRegex {
            source: source.to_string(),
            compiled,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// Internal topics (`__consumer_offsets`, ...) never match a pattern,
    /// as in Kafka.
    pub fn matches(&self, topic: &str) -> bool {
        !topic.starts_with("__") && self.compiled.is_match(topic)
    }
}

impl PartialEq for TopicRegex {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view() -> TopicsView {
        let mut v = TopicsView::default();
        v.topics.insert("t".into(), (Uuid::from_u128(1), 6));
        v
    }

    fn req(id: &str, epoch: i32, owned: Option<Vec<i32>>) -> HeartbeatRequest {
        HeartbeatRequest {
            member_id: id.into(),
            member_epoch: epoch,
            instance_id: None,
            rack_id: None,
            rebalance_timeout_ms: 30_000,
            subscribed_topic_names: Some(vec!["t".into()]),
            subscribed_topic_regex: None,
            server_assignor: None,
            owned: owned.map(|ps| ps.into_iter().map(|p| (Uuid::from_u128(1), p)).collect()),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
        }
    }

    fn parts(s: &BTreeSet<Tp>) -> Vec<i32> {
        s.iter().map(|(_, p)| *p).collect()
    }

    #[test]
    fn second_member_gets_partitions_only_after_the_first_revokes() {
        let mut g = ConsumerGroup::new("g", Duration::from_secs(45), 5000);
        let t = Instant::now();
        let a = g.heartbeat(req("a", 0, Some(vec![])), &view(), t);
        assert_eq!(a.error_code, 0);
        assert_eq!(
            parts(a.assignment.as_ref().unwrap()),
            vec![0, 1, 2, 3, 4, 5]
        );
        let ea = a.member_epoch;
        // b joins: the target splits 3/3 but a still owns everything.
        let b = g.heartbeat(req("b", 0, Some(vec![])), &view(), t);
        assert_eq!(b.assignment.as_ref().map(|s| s.len()), Some(0));
        // a is told to shrink to its target.
        let a2 = g.heartbeat(req("a", ea, Some(vec![0, 1, 2, 3, 4, 5])), &view(), t);
        let keep = a2.assignment.clone().unwrap();
        assert_eq!(keep.len(), 3);
        // a confirms the revocation; then b receives the freed partitions.
        let owned: Vec<i32> = parts(&keep);
        let a3 = g.heartbeat(req("a", a2.member_epoch, Some(owned)), &view(), t);
        assert_eq!(a3.error_code, 0);
        let b2 = g.heartbeat(req("b", b.member_epoch, Some(vec![])), &view(), t);
        let got = b2.assignment.unwrap();
        assert_eq!(got.len(), 3);
        assert!(got.is_disjoint(&keep));
        assert_eq!(g.state_name(), "Stable");
    }

    /// A member keeps the rebalance timeout it joined with when later
    /// heartbeats say -1 ("unchanged"): it must not be expelled the moment it
    /// is asked to revoke.
    #[test]
    fn unchanged_rebalance_timeout_is_kept() {
        let mut g = ConsumerGroup::new("g", Duration::from_secs(45), 5000);
        let t = Instant::now();
        let a = g.heartbeat(req("a", 0, Some(vec![])), &view(), t);
        let _b = g.heartbeat(req("b", 0, Some(vec![])), &view(), t);
        let mut later = req("a", a.member_epoch, Some(vec![0, 1, 2, 3, 4, 5]));
        later.rebalance_timeout_ms = -1;
        later.subscribed_topic_names = None;
        let a2 = g.heartbeat(later, &view(), t);
        assert_eq!(a2.error_code, 0);
        assert_eq!(
            a2.assignment.map(|s| s.len()),
            Some(3),
            "a is asked to revoke 3"
        );
        g.tick(t + Duration::from_millis(100));
        assert!(g.members.contains_key("a"), "a still has 30 s to revoke");
    }

    #[test]
    fn stale_epochs_and_unknown_members_are_refused() {
        let mut g = ConsumerGroup::new("g", Duration::from_secs(45), 5000);
        let t = Instant::now();
        let a = g.heartbeat(req("a", 0, Some(vec![])), &view(), t);
        let bad = g.heartbeat(req("a", a.member_epoch + 5, None), &view(), t);
        assert_eq!(bad.error_code, ResponseError::FencedMemberEpoch.code());
        let unknown = g.heartbeat(req("zz", 3, None), &view(), t);
        assert_eq!(unknown.error_code, ResponseError::UnknownMemberId.code());
    }

    #[test]
    fn session_expiry_frees_partitions_for_the_others() {
        let mut g = ConsumerGroup::new("g", Duration::from_secs(10), 5000);
        let t = Instant::now();
        let a = g.heartbeat(req("a", 0, Some(vec![])), &view(), t);
        let _b = g.heartbeat(req("b", 0, Some(vec![])), &view(), t);
        g.tick(t + Duration::from_secs(11));
        assert!(g.members.is_empty());
        let c = g.heartbeat(
            req("c", 0, Some(vec![])),
            &view(),
            t + Duration::from_secs(12),
        );
        assert_eq!(c.assignment.unwrap().len(), 6);
        assert!(c.member_epoch > a.member_epoch);
    }

    #[test]
    fn uniform_is_balanced_and_sticky() {
        let id = Uuid::from_u128(1);
        let mut subs = BTreeMap::new();
        subs.insert("a".to_string(), vec![(id, 7)]);
        subs.insert("b".to_string(), vec![(id, 7)]);
        let first = assign_uniform(&subs, &BTreeMap::new());
        assert_eq!(first["a"].len() + first["b"].len(), 7);
        assert!((first["a"].len() as i32 - first["b"].len() as i32).abs() <= 1);
        subs.insert("c".to_string(), vec![(id, 7)]);
        let second = assign_uniform(&subs, &first);
        for m in ["a", "b"] {
            assert!(second[m].is_subset(&first[m]), "{m} only loses partitions");
        }
        let sizes: Vec<usize> = second.values().map(|s| s.len()).collect();
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
    }

    #[test]
    fn range_gives_contiguous_ranges() {
        let id = Uuid::from_u128(1);
        let mut subs = BTreeMap::new();
        subs.insert("a".to_string(), vec![(id, 5)]);
        subs.insert("b".to_string(), vec![(id, 5)]);
        let r = assign_range(&subs);
        assert_eq!(parts(&r["a"]), vec![0, 1, 2]);
        assert_eq!(parts(&r["b"]), vec![3, 4]);
    }

    #[test]
    fn topic_regexes() {
        let m = |p: &str, t: &str| TopicRegex::new(p).unwrap().matches(t);
        assert!(m("orders-.*", "orders-eu"));
        assert!(m("^a|b$", "b"));
        assert!(!m("orders-.+", "orders-"));
        // Whole-name match, as RE2J's matches().
        assert!(!m("orders", "orders-eu"));
        assert!(m("orders-(eu|us)-[0-9]+", "orders-us-42"));
        assert!(!m("orders-(eu|us)-[0-9]+", "orders-asia-1"));
        assert!(m("[a-z]+\\.events", "app.events"));
        // Internal topics never match.
        assert!(!m(".*", "__consumer_offsets"));
        assert!(TopicRegex::new("orders-(").is_err());
        assert!(TopicRegex::new(&"a".repeat(REGEX_MAX_PATTERN_BYTES + 1)).is_err());
    }
}
