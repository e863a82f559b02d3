//! The classic consumer-group protocol (JoinGroup / SyncGroup / Heartbeat /
//! LeaveGroup) as one state machine per group.
//!
//! Everything here is synchronous and runs under the group's mutex: a call
//! changes state and either answers at once or parks a `oneshot` sender that
//! a later call (another member joining, the leader's SyncGroup, a timer)
//! completes. Time comes in as an argument so tests drive it by hand. This
//! module never does IO: the coordinator persists `snapshot()` when
//! `take_dirty()` says the group changed in a way worth recording.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

/// Kafka's group states (the names DescribeGroups and ListGroups report).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// What a JoinGroup caller eventually receives.
#[derive(Debug, Clone, Default)]
pub struct JoinResult {
    pub error_code: i16,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    pub skip_assignment: bool,
    /// Filled for the leader only: (member id, instance id, metadata).
    pub members: Vec<(String, Option<String>, Bytes)>,
}

impl JoinResult {
    fn error(code: ResponseError, member_id: &str) -> Self {
        JoinResult {
            error_code: code.code(),
            generation_id: -1,
            member_id: member_id.to_string(),
            ..Default::default()
        }
    }
}

/// What a SyncGroup caller eventually receives.
#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    pub error_code: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResult {
    fn error(code: ResponseError) -> Self {
        SyncResult {
            error_code: code.code(),
            ..Default::default()
        }
    }
}

/// Either an answer now, or a receiver that gets it later.
#[derive(Debug)]
pub enum Reply<T> {
    Now(T),
    Later(oneshot::Receiver<T>),
}

/// A JoinGroup request, as the state machine needs it.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// KIP-394 (JoinGroup v4+): a new member first gets MEMBER_ID_REQUIRED.
    pub require_known_member_id: bool,
    /// KIP-814 (JoinGroup v9+): the static leader may be told to skip assignment.
    pub supports_skip_assignment: bool,
}

#[derive(Debug)]
pub struct Member {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    pub assignment: Bytes,
    awaiting_join: Option<(oneshot::Sender<JoinResult>, bool)>,
    awaiting_sync: Option<oneshot::Sender<SyncResult>>,
    last_heartbeat: Instant,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(name, _)| name == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }
}

/// One classic group.
#[derive(Debug)]
pub struct ClassicGroup {
    pub group_id: String,
    pub state: GroupState,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Members told MEMBER_ID_REQUIRED that have not joined yet, with their expiry.
    pending_members: BTreeMap<String, Instant>,
    /// Static members: instance id → current member id.
    static_members: BTreeMap<String, String>,
    /// When the current PreparingRebalance must end, joined or not.
    rebalance_deadline: Option<Instant>,
    /// group.initial.rebalance.delay.ms bookkeeping for a group formed from empty.
    initial_delay_until: Option<Instant>,
    initial_delay: Duration,
    /// Set when the group reached a state worth persisting.
    dirty: bool,
    pub state_since_ms: i64,
}

impl ClassicGroup {
    pub fn new(group_id: &str, initial_delay: Duration) -> Self {
        ClassicGroup {
            group_id: group_id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            pending_members: BTreeMap::new(),
            static_members: BTreeMap::new(),
            rebalance_deadline: None,
            initial_delay_until: None,
            initial_delay,
            dirty: false,
            state_since_ms: crate::replica::now_ms(),
        }
    }

    /// A group rebuilt from `__consumer_offsets`: members come back without
    /// live sessions, so their session timers start now.
    #[allow(clippy::too_many_arguments)]
    pub fn restored(
        group_id: &str,
        initial_delay: Duration,
        generation_id: i32,
        protocol_type: Option<String>,
        protocol_name: Option<String>,
        leader_id: Option<String>,
        members: Vec<Member>,
        now: Instant,
    ) -> Self {
        let mut group = ClassicGroup::new(group_id, initial_delay);
        group.generation_id = generation_id;
        group.protocol_type = protocol_type;
        group.protocol_name = protocol_name;
        group.leader_id = leader_id;
        for mut m in members {
            m.last_heartbeat = now;
            if let Some(instance) = &m.group_instance_id {
                group
                    .static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            group.members.insert(m.member_id.clone(), m);
        }
        group.state = if group.members.is_empty() {
            GroupState::Empty
        } else {
            GroupState::Stable
        };
        group
    }

    pub fn take_dirty(&mut self) -> bool {
        std::mem::take(&mut self.dirty)
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.pending_members.is_empty()
    }

    fn transition(&mut self, state: GroupState) {
        self.state = state;
        self.state_since_ms = crate::replica::now_ms();
    }

    /// JoinGroup.
    pub fn join(&mut self, req: JoinRequest, now: Instant) -> Reply<JoinResult> {
        if self.state == GroupState::Dead {
            return Reply::Now(JoinResult::error(
                ResponseError::CoordinatorNotAvailable,
                &req.member_id,
            ));
        }
        if !self.protocols_compatible(&req) {
            return Reply::Now(JoinResult::error(
                ResponseError::InconsistentGroupProtocol,
                &req.member_id,
            ));
        }
        if req.member_id.is_empty() {
            return self.join_unknown_member(req, now);
        }
        // A static member must present the member id the group knows for it.
        if let Some(instance) = &req.group_instance_id {
            match self.static_members.get(instance) {
                Some(current) if *current != req.member_id => {
                    return Reply::Now(JoinResult::error(
                        ResponseError::FencedInstanceId,
                        &req.member_id,
                    ));
                }
                _ => {}
            }
        }
        if self.pending_members.remove(&req.member_id).is_some() {
            return Reply::Later(self.add_member_and_rebalance(req, now));
        }
        if !self.members.contains_key(&req.member_id) {
            return Reply::Now(JoinResult::error(
                ResponseError::UnknownMemberId,
                &req.member_id,
            ));
        }
        self.join_known_member(req, now)
    }

    fn join_unknown_member(&mut self, req: JoinRequest, now: Instant) -> Reply<JoinResult> {
        let new_id = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
        if let Some(instance) = req.group_instance_id.clone() {
            if let Some(old_id) = self.static_members.get(&instance).cloned() {
                return self.replace_static_member(req, old_id, new_id, now);
            }
            // A new static member joins directly (KIP-345 members skip KIP-394).
            let mut req = req;
            req.member_id = new_id;
            return Reply::Later(self.add_member_and_rebalance(req, now));
        }
        if req.require_known_member_id {
            let expiry = now + Duration::from_millis(req.session_timeout_ms.max(0) as u64);
            self.pending_members.insert(new_id.clone(), expiry);
            return Reply::Now(JoinResult::error(ResponseError::MemberIdRequired, &new_id));
        }
        let mut req = req;
        req.member_id = new_id;
        Reply::Later(self.add_member_and_rebalance(req, now))
    }

    /// KIP-345: a restarted static member takes over its old identity. In a
    /// stable group with unchanged subscriptions there is no rebalance: it
    /// gets the current generation back (and keeps its assignment).
    fn replace_static_member(
        &mut self,
        req: JoinRequest,
        old_id: String,
        new_id: String,
        now: Instant,
    ) -> Reply<JoinResult> {
        let Some(mut member) = self.members.remove(&old_id) else {
            self.static_members
                .remove(req.group_instance_id.as_deref().unwrap_or_default());
            let mut req = req;
            req.member_id = new_id;
            return Reply::Later(self.add_member_and_rebalance(req, now));
        };
        // Whoever was waiting under the old id is fenced.
        if let Some((tx, _)) = member.awaiting_join.take() {
            let _ = tx.send(JoinResult::error(ResponseError::FencedInstanceId, &old_id));
        }
        if let Some(tx) = member.awaiting_sync.take() {
            let _ = tx.send(SyncResult::error(ResponseError::FencedInstanceId));
        }
        let unchanged = member.protocols == req.protocols;
        member.member_id = new_id.clone();
        member.client_id = req.client_id.clone();
        member.client_host = req.client_host.clone();
        member.session_timeout = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
        member.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64);
        member.protocols = req.protocols.clone();
        member.last_heartbeat = now;
        if let Some(instance) = &req.group_instance_id {
            self.static_members.insert(instance.clone(), new_id.clone());
        }
        let was_leader = self.leader_id.as_deref() == Some(old_id.as_str());
        if was_leader {
            self.leader_id = Some(new_id.clone());
        }
        self.members.insert(new_id.clone(), member);
        self.dirty = true;
        if self.state == GroupState::Stable && unchanged {
            let mut result = self.join_result_for(&new_id);
            if was_leader {
                result.skip_assignment = req.supports_skip_assignment;
            }
            return Reply::Now(result);
        }
        let (tx, rx) = oneshot::channel();
        if let Some(m) = self.members.get_mut(&new_id) {
            m.awaiting_join = Some((tx, req.supports_skip_assignment));
        }
        self.prepare_rebalance(now);
        self.maybe_complete_join(now);
        Reply::Later(rx)
    }

    fn join_known_member(&mut self, req: JoinRequest, now: Instant) -> Reply<JoinResult> {
        let member_id = req.member_id.clone();
        let is_leader = self.leader_id.as_deref() == Some(member_id.as_str());
        let Some(member) = self.members.get_mut(&member_id) else {
            return Reply::Now(JoinResult::error(
                ResponseError::UnknownMemberId,
                &member_id,
            ));
        };
        let changed = member.protocols != req.protocols;
        member.protocols = req.protocols;
        member.session_timeout = Duration::from_millis(req.session_timeout_ms.max(0) as u64);
        member.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64);
        member.last_heartbeat = now;
        if self.state == GroupState::Stable && !changed && !is_leader {
            // Nothing to rebalance: tell the follower the current generation.
            return Reply::Now(self.join_result_for(&member_id));
        }
        let (tx, rx) = oneshot::channel();
        if let Some(member) = self.members.get_mut(&member_id) {
            if let Some((old, _)) = member
                .awaiting_join
                .replace((tx, req.supports_skip_assignment))
            {
                let _ = old.send(JoinResult::error(
                    ResponseError::RebalanceInProgress,
                    &member_id,
                ));
            }
        }
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        }
        self.maybe_complete_join(now);
        Reply::Later(rx)
    }

    fn add_member_and_rebalance(
        &mut self,
        req: JoinRequest,
        now: Instant,
    ) -> oneshot::Receiver<JoinResult> {
        let (tx, rx) = oneshot::channel();
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(instance) = &req.group_instance_id {
            self.static_members
                .insert(instance.clone(), req.member_id.clone());
        }
        let member = Member {
            member_id: req.member_id.clone(),
            group_instance_id: req.group_instance_id.clone(),
            client_id: req.client_id,
            client_host: req.client_host,
            session_timeout: Duration::from_millis(req.session_timeout_ms.max(0) as u64),
            rebalance_timeout: Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64),
            protocol_type: req.protocol_type,
            protocols: req.protocols,
            assignment: Bytes::new(),
            awaiting_join: Some((tx, req.supports_skip_assignment)),
            awaiting_sync: None,
            last_heartbeat: now,
        };
        if self.leader_id.is_none() {
            self.leader_id = Some(member.member_id.clone());
        }
        self.members.insert(member.member_id.clone(), member);
        if self.state != GroupState::PreparingRebalance {
            self.prepare_rebalance(now);
        } else if let Some(until) = self.initial_delay_until {
            // Each new member of a forming group extends the initial delay a
            // little (bounded by the rebalance timeout), as Kafka does.
            let extended = (now + self.initial_delay).min(self.rebalance_deadline.unwrap_or(until));
            self.initial_delay_until = Some(extended.max(until));
        }
        self.maybe_complete_join(now);
        rx
    }

    fn protocols_compatible(&self, req: &JoinRequest) -> bool {
        if req.protocol_type.is_empty() || req.protocols.is_empty() {
            return false;
        }
        if self.members.is_empty() {
            return true;
        }
        if self.protocol_type.as_deref() != Some(req.protocol_type.as_str()) {
            return false;
        }
        // Some protocol must be supported by every member, the joiner included.
        req.protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .filter(|m| m.member_id != req.member_id)
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    fn prepare_rebalance(&mut self, now: Instant) {
        // A group that is completing a rebalance drops the pending syncs:
        // those members must rejoin.
        for m in self.members.values_mut() {
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncResult::error(ResponseError::RebalanceInProgress));
            }
        }
        let timeout = self
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or(Duration::ZERO);
        self.rebalance_deadline = Some(now + timeout);
        self.initial_delay_until =
            if self.state == GroupState::Empty && !self.initial_delay.is_zero() {
                Some(now + self.initial_delay)
            } else {
                None
            };
        self.transition(GroupState::PreparingRebalance);
    }

    /// Completes the join phase when every member has rejoined (after the
    /// initial delay of a new group), or when the rebalance deadline passed.
    fn maybe_complete_join(&mut self, now: Instant) {
        if self.state != GroupState::PreparingRebalance {
            return;
        }
        if let Some(until) = self.initial_delay_until {
            if now < until {
                return;
            }
        }
        let all_joined = self.members.values().all(|m| m.awaiting_join.is_some());
        let deadline_passed = self.rebalance_deadline.is_some_and(|d| now >= d);
        if !all_joined && !deadline_passed {
            return;
        }
        // Members that did not rejoin in time are out.
        let missing: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.member_id.clone())
            .collect();
        for id in missing {
            self.remove_member(&id);
        }
        self.initial_delay_until = None;
        self.rebalance_deadline = None;
        self.generation_id += 1;
        if self.members.is_empty() {
            self.protocol_name = None;
            self.leader_id = None;
            self.transition(GroupState::Empty);
            self.dirty = true;
            return;
        }
        self.protocol_name = self.select_protocol();
        if self
            .leader_id
            .as_ref()
            .map_or(true, |l| !self.members.contains_key(l))
        {
            self.leader_id = self.members.keys().next().cloned();
        }
        self.transition(GroupState::CompletingRebalance);
        let ids: Vec<String> = self.members.keys().cloned().collect();
        for id in ids {
            let result = self.join_result_for(&id);
            if let Some(m) = self.members.get_mut(&id) {
                m.last_heartbeat = now;
                if let Some((tx, _)) = m.awaiting_join.take() {
                    let _ = tx.send(result);
                }
            }
        }
    }

    fn join_result_for(&self, member_id: &str) -> JoinResult {
        let leader = self.leader_id.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .values()
                .map(|m| {
                    (
                        m.member_id.clone(),
                        m.group_instance_id.clone(),
                        m.metadata_for(&protocol),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error_code: 0,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader,
            member_id: member_id.to_string(),
            skip_assignment: false,
            members,
        }
    }

    /// The protocol every member supports with the most first-choice votes
    /// (each member votes for its most preferred common protocol).
    fn select_protocol(&self) -> Option<String> {
        let first = self.members.values().next()?;
        let candidates: Vec<&String> = first
            .protocols
            .iter()
            .map(|(n, _)| n)
            .filter(|n| {
                self.members
                    .values()
                    .all(|m| m.protocols.iter().any(|(x, _)| x == *n))
            })
            .collect();
        let mut votes: BTreeMap<&String, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((name, _)) = m.protocols.iter().find(|(n, _)| candidates.contains(&n)) {
                *votes.entry(name).or_default() += 1;
            }
        }
        candidates
            .iter()
            .max_by_key(|c| {
                (
                    votes.get(*c).copied().unwrap_or(0),
                    std::cmp::Reverse(first.protocols.iter().position(|(n, _)| n == **c)),
                )
            })
            .map(|c| (*c).clone())
    }

    fn check_member(&self, member_id: &str, instance: Option<&str>) -> Result<(), ResponseError> {
        use crate::error::{prefix, refuse};
        if let Some(instance) = instance {
            if let Some(current) = self.static_members.get(instance) {
                if current != member_id {
                    refuse(
                        ResponseError::FencedInstanceId,
                        format_args!(
                            "group {}: instance {} now belongs to member {}, not {}",
                            prefix(&self.group_id),
                            prefix(instance),
                            prefix(current),
                            prefix(member_id)
                        ),
                    );
                    return Err(ResponseError::FencedInstanceId);
                }
            }
        }
        if !self.members.contains_key(member_id) {
            refuse(
                ResponseError::UnknownMemberId,
                format_args!(
                    "group {} ({:?}) has no member {}",
                    prefix(&self.group_id),
                    self.state,
                    prefix(member_id)
                ),
            );
            return Err(ResponseError::UnknownMemberId);
        }
        Ok(())
    }

    /// Logs why a request's generation is refused; returns ILLEGAL_GENERATION.
    fn refuse_generation(&self, asked: i32) -> i16 {
        crate::error::refuse(
            ResponseError::IllegalGeneration,
            format_args!(
                "group {}: generation {asked} asked, the group is at {}",
                crate::error::prefix(&self.group_id),
                self.generation_id
            ),
        )
    }

    /// SyncGroup.
    pub fn sync(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
        protocol_type: Option<&str>,
        protocol_name: Option<&str>,
        assignments: Vec<(String, Bytes)>,
        now: Instant,
    ) -> Reply<SyncResult> {
        if let Err(e) = self.check_member(member_id, instance) {
            return Reply::Now(SyncResult::error(e));
        }
        if generation_id != self.generation_id {
            self.refuse_generation(generation_id);
            return Reply::Now(SyncResult::error(ResponseError::IllegalGeneration));
        }
        if protocol_type.is_some_and(|t| Some(t) != self.protocol_type.as_deref())
            || protocol_name.is_some_and(|n| Some(n) != self.protocol_name.as_deref())
        {
            return Reply::Now(SyncResult::error(ResponseError::InconsistentGroupProtocol));
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => {
                Reply::Now(SyncResult::error(ResponseError::UnknownMemberId))
            }
            GroupState::PreparingRebalance => {
                Reply::Now(SyncResult::error(ResponseError::RebalanceInProgress))
            }
            GroupState::Stable => Reply::Now(self.sync_result_for(member_id)),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = self.members.get_mut(member_id) {
                    m.last_heartbeat = now;
                    m.awaiting_sync = Some(tx);
                }
                if self.leader_id.as_deref() == Some(member_id) {
                    let mut given: BTreeMap<String, Bytes> = assignments.into_iter().collect();
                    for m in self.members.values_mut() {
                        m.assignment = given.remove(&m.member_id).unwrap_or_default();
                    }
                    self.transition(GroupState::Stable);
                    self.dirty = true;
                    let ids: Vec<String> = self.members.keys().cloned().collect();
                    for id in ids {
                        let result = self.sync_result_for(&id);
                        if let Some(tx) = self
                            .members
                            .get_mut(&id)
                            .and_then(|m| m.awaiting_sync.take())
                        {
                            let _ = tx.send(result);
                        }
                    }
                }
                Reply::Later(rx)
            }
        }
    }

    fn sync_result_for(&self, member_id: &str) -> SyncResult {
        SyncResult {
            error_code: 0,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            assignment: self
                .members
                .get(member_id)
                .map(|m| m.assignment.clone())
                .unwrap_or_default(),
        }
    }

    /// The membership checks of a heartbeat without touching the session:
    /// fencing, membership and generation, in Kafka's order.
    pub fn heartbeat_check(
        &self,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
    ) -> Result<(), i16> {
        self.check_member(member_id, instance)
            .map_err(|e| e.code())?;
        if generation_id != self.generation_id {
            return Err(self.refuse_generation(generation_id));
        }
        Ok(())
    }

    /// Heartbeat.
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance: Option<&str>,
        generation_id: i32,
        now: Instant,
    ) -> i16 {
        if let Err(e) = self.check_member(member_id, instance) {
            return e.code();
        }
        if generation_id != self.generation_id {
            return self.refuse_generation(generation_id);
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.last_heartbeat = now;
        }
        match self.state {
            GroupState::PreparingRebalance => ResponseError::RebalanceInProgress.code(),
            GroupState::Stable | GroupState::CompletingRebalance => 0,
            GroupState::Empty | GroupState::Dead => ResponseError::UnknownMemberId.code(),
        }
    }

    /// LeaveGroup for one member (by member id, or by instance id with an
    /// empty member id as KIP-345 admin removal allows).
    pub fn leave(&mut self, member_id: &str, instance: Option<&str>, now: Instant) -> i16 {
        let id = match (member_id.is_empty(), instance) {
            (true, Some(instance)) => match self.static_members.get(instance) {
                Some(id) => id.clone(),
                None => return ResponseError::UnknownMemberId.code(),
            },
            _ => {
                if let Err(e) = self.check_member(member_id, instance) {
                    if self.pending_members.remove(member_id).is_some() {
                        return 0;
                    }
                    return e.code();
                }
                member_id.to_string()
            }
        };
        self.remove_member(&id);
        self.member_left(now);
        0
    }

    /// Removes a member, answering anything it was waiting for.
    fn remove_member(&mut self, member_id: &str) {
        if let Some(mut m) = self.members.remove(member_id) {
            if let Some((tx, _)) = m.awaiting_join.take() {
                let _ = tx.send(JoinResult::error(ResponseError::UnknownMemberId, member_id));
            }
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncResult::error(ResponseError::UnknownMemberId));
            }
            if let Some(instance) = &m.group_instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(member_id) {
                    self.static_members.remove(instance);
                }
            }
            if self.leader_id.as_deref() == Some(member_id) {
                self.leader_id = self.members.keys().next().cloned();
            }
        }
    }

    fn member_left(&mut self, now: Instant) {
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                if self.members.is_empty() {
                    self.generation_id += 1;
                    self.protocol_name = None;
                    self.leader_id = None;
                    self.transition(GroupState::Empty);
                    self.dirty = true;
                } else {
                    self.prepare_rebalance(now);
                }
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(now),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// Timers: expired sessions, rebalance deadlines, the initial delay, and
    /// pending (MEMBER_ID_REQUIRED) members that never came back.
    pub fn tick(&mut self, now: Instant) {
        self.pending_members.retain(|_, expiry| *expiry > now);
        let expired: Vec<String> = self
            .members
            .values()
            .filter(|m| {
                m.awaiting_join.is_none()
                    && m.awaiting_sync.is_none()
                    && now >= m.last_heartbeat + m.session_timeout
            })
            .map(|m| m.member_id.clone())
            .collect();
        if !expired.is_empty() {
            for id in &expired {
                tracing::info!(group = %self.group_id, member = %id, "member session expired");
                self.remove_member(id);
            }
            self.member_left(now);
        }
        // A member stuck in sync (the leader never sent assignments) is
        // bounded by its session timeout too.
        if self.state == GroupState::CompletingRebalance {
            let stuck = self
                .members
                .values()
                .any(|m| m.awaiting_sync.is_some() && now >= m.last_heartbeat + m.session_timeout);
            if stuck {
                self.prepare_rebalance(now);
            }
        }
        self.maybe_complete_join(now);
    }

    /// Whether DeleteGroups may remove this group.
    pub fn is_deletable(&self) -> bool {
        self.state == GroupState::Empty && self.is_empty()
    }

    pub fn mark_dead(&mut self) {
        self.transition(GroupState::Dead);
    }

    /// Members as persisted to `__consumer_offsets` and shown by DescribeGroups.
    pub fn member_list(&self) -> impl Iterator<Item = &Member> {
        self.members.values()
    }

    /// Rebuilds a `Member` from persisted group metadata.
    #[allow(clippy::too_many_arguments)]
    pub fn restored_member(
        member_id: String,
        group_instance_id: Option<String>,
        client_id: String,
        client_host: String,
        session_timeout_ms: i32,
        rebalance_timeout_ms: i32,
        protocol_type: String,
        protocol: Option<(String, Bytes)>,
        assignment: Bytes,
        now: Instant,
    ) -> Member {
        Member {
            member_id,
            group_instance_id,
            client_id,
            client_host,
            session_timeout: Duration::from_millis(session_timeout_ms.max(0) as u64),
            rebalance_timeout: Duration::from_millis(rebalance_timeout_ms.max(0) as u64),
            protocol_type,
            protocols: protocol.into_iter().collect(),
            assignment,
            awaiting_join: None,
            awaiting_sync: None,
            last_heartbeat: now,
        }
    }

    /// Whether a member subscribes to `topic` (consumer protocol metadata
    /// carries the subscription). Used by OffsetDelete.
    pub fn subscribes_to(&self, topic: &str) -> bool {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        self.protocol_type.as_deref() == Some("consumer")
            && self.members.values().any(|m| {
                crate::group::subscription_topics(&m.metadata_for(&protocol))
                    .iter()
                    .any(|t| t == topic)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(member_id: &str, instance: Option<&str>) -> JoinRequest {
        JoinRequest {
            member_id: member_id.to_string(),
            group_instance_id: instance.map(str::to_string),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: 10_000,
            rebalance_timeout_ms: 30_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"m"))],
            require_known_member_id: true,
            supports_skip_assignment: false,
        }
    }

    fn now_result<T: std::fmt::Debug>(r: Reply<T>) -> T {
        match r {
            Reply::Now(t) => t,
            Reply::Later(_) => panic!("expected an immediate answer"),
        }
    }

    fn later<T>(r: Reply<T>) -> oneshot::Receiver<T> {
        match r {
            Reply::Later(rx) => rx,
            Reply::Now(_) => panic!("expected a parked answer"),
        }
    }

    /// Joins a new dynamic member through the KIP-394 round trip.
    fn join_new(g: &mut ClassicGroup, now: Instant) -> (String, oneshot::Receiver<JoinResult>) {
        let first = now_result(g.join(req("", None), now));
        assert_eq!(first.error_code, ResponseError::MemberIdRequired.code());
        let rx = later(g.join(req(&first.member_id, None), now));
        (first.member_id, rx)
    }

    #[test]
    fn two_members_join_sync_and_stabilize() {
        let mut g = ClassicGroup::new("g", Duration::ZERO);
        let t = Instant::now();
        let (a, mut rx_a) = join_new(&mut g, t);
        // The first member alone completes the join at once.
        let ja = rx_a.try_recv().unwrap();
        assert_eq!(ja.generation_id, 1);
        assert_eq!(ja.leader, a);
        // A second member triggers a rebalance; both must rejoin.
        let (b, mut rx_b) = join_new(&mut g, t);
        assert!(rx_b.try_recv().is_err());
        assert_eq!(
            g.heartbeat(&a, None, 1, t),
            ResponseError::RebalanceInProgress.code()
        );
        let mut rx_a2 = later(g.join(req(&a, None), t));
        let (ja, jb) = (rx_a2.try_recv().unwrap(), rx_b.try_recv().unwrap());
        assert_eq!((ja.generation_id, jb.generation_id), (2, 2));
        assert_eq!(ja.members.len(), 2, "leader sees every member");
        assert!(jb.members.is_empty());
        let mut sb = later(g.sync(&b, None, 2, None, None, vec![], t));
        let sa = later(g.sync(
            &a,
            None,
            2,
            None,
            None,
            vec![
                (a.clone(), Bytes::from_static(b"A")),
                (b.clone(), Bytes::from_static(b"B")),
            ],
            t,
        ));
        assert_eq!(sb.try_recv().unwrap().assignment, Bytes::from_static(b"B"));
        drop(sa);
        assert_eq!(g.state, GroupState::Stable);
        assert_eq!(g.heartbeat(&b, None, 2, t), 0);
        assert_eq!(
            g.heartbeat(&b, None, 1, t),
            ResponseError::IllegalGeneration.code()
        );
        assert_eq!(
            g.heartbeat("nobody", None, 2, t),
            ResponseError::UnknownMemberId.code()
        );
    }

    #[test]
    fn expired_session_triggers_rebalance_without_the_member() {
        let mut g = ClassicGroup::new("g", Duration::ZERO);
        let t = Instant::now();
        let (a, mut rx_a) = join_new(&mut g, t);
        rx_a.try_recv().unwrap();
        let (b, rx_b) = join_new(&mut g, t);
        let mut rx_a = later(g.join(req(&a, None), t));
        drop(rx_b);
        rx_a.try_recv().unwrap();
        let _ = g.sync(&a, None, 2, None, None, vec![], t);
        assert_eq!(g.state, GroupState::Stable);
        // Only a heartbeats; b's session runs out.
        let t2 = t + Duration::from_secs(6);
        assert_eq!(g.heartbeat(&a, None, 2, t2), 0);
        g.tick(t + Duration::from_secs(11));
        assert!(!g.members.contains_key(&b));
        assert_eq!(g.state, GroupState::PreparingRebalance);
    }

    #[test]
    fn static_member_rejoin_in_stable_group_skips_rebalance() {
        let mut g = ClassicGroup::new("g", Duration::ZERO);
        let t = Instant::now();
        let mut rx = later(g.join(req("", Some("i1")), t));
        let j = rx.try_recv().unwrap();
        let _ = g.sync(
            &j.member_id,
            Some("i1"),
            1,
            None,
            None,
            vec![(j.member_id.clone(), Bytes::from_static(b"X"))],
            t,
        );
        assert_eq!(g.state, GroupState::Stable);
        // Restart: same instance id, no member id.
        let j2 = now_result(g.join(req("", Some("i1")), t));
        assert_eq!(j2.error_code, 0);
        assert_eq!(j2.generation_id, 1, "no new generation");
        assert_ne!(j2.member_id, j.member_id);
        assert_eq!(g.state, GroupState::Stable);
        // The old incarnation is fenced.
        assert_eq!(
            g.heartbeat(&j.member_id, Some("i1"), 1, t),
            ResponseError::FencedInstanceId.code()
        );
        let s = now_result(g.sync(&j2.member_id, Some("i1"), 1, None, None, vec![], t));
        assert_eq!(s.assignment, Bytes::from_static(b"X"));
    }

    #[test]
    fn leave_empties_the_group_and_unknown_members_are_refused() {
        let mut g = ClassicGroup::new("g", Duration::ZERO);
        let t = Instant::now();
        let (a, mut rx) = join_new(&mut g, t);
        rx.try_recv().unwrap();
        assert_eq!(
            g.leave("zzz", None, t),
            ResponseError::UnknownMemberId.code()
        );
        assert_eq!(g.leave(&a, None, t), 0);
        assert_eq!(g.state, GroupState::Empty);
        assert!(g.is_deletable());
        assert_eq!(
            now_result(g.join(req("unknown", None), t)).error_code,
            ResponseError::UnknownMemberId.code()
        );
    }

    #[test]
    fn initial_delay_holds_the_first_join() {
        let mut g = ClassicGroup::new("g", Duration::from_millis(3000));
        let t = Instant::now();
        let (_a, mut rx) = join_new(&mut g, t);
        assert!(rx.try_recv().is_err());
        g.tick(t + Duration::from_millis(3100));
        assert_eq!(rx.try_recv().unwrap().generation_id, 1);
    }

    #[test]
    fn inconsistent_protocols_are_refused() {
        let mut g = ClassicGroup::new("g", Duration::ZERO);
        let t = Instant::now();
        let (_a, mut rx) = join_new(&mut g, t);
        rx.try_recv().unwrap();
        let mut other = req("", None);
        other.protocols = vec![("roundrobin".into(), Bytes::new())];
        assert_eq!(
            now_result(g.join(other, t)).error_code,
            ResponseError::InconsistentGroupProtocol.code()
        );
    }
}
