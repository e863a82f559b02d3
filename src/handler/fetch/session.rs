//! Incremental fetch sessions (KIP-227).
//!
//! A consumer fetching many partitions sends the full list once; the broker
//! remembers it under a session id, and later requests carry only the
//! partitions whose fetch position changed. Responses of an incremental
//! fetch carry only partitions with news (records, a moved high watermark or
//! log start offset, or an error).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// `session_epoch` of a request that opens a new session.
pub const INITIAL_EPOCH: i32 = 0;
/// `session_epoch` of a request that wants no session (or closes one).
pub const FINAL_EPOCH: i32 = -1;

/// One partition as the session remembers it.
#[derive(Debug, Clone)]
pub struct SessionPartition {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
    pub fetch_offset: i64,
    pub partition_max_bytes: i32,
    pub current_leader_epoch: i32,
    /// What the last response told the client, to decide what is news.
    pub last_high_watermark: i64,
    pub last_log_start_offset: i64,
}

impl SessionPartition {
    fn same_key(&self, topic: &str, topic_id: Uuid, partition: i32) -> bool {
        self.partition == partition
            && if topic_id.is_nil() {
                self.topic == topic
            } else {
                self.topic_id == topic_id
            }
    }
}

#[derive(Debug)]
struct Session {
    next_epoch: i32,
    partitions: Vec<SessionPartition>,
    last_used: Instant,
}

/// All open fetch sessions of this broker, bounded by
/// `max.incremental.fetch.session.cache.slots`.
#[derive(Debug)]
pub struct FetchSessionCache {
    slots: usize,
    inner: Mutex<CacheInner>,
}

#[derive(Debug, Default)]
struct CacheInner {
    sessions: HashMap<i32, Session>,
    next_id: i32,
}

/// What a request asks of the session layer, resolved.
#[derive(Debug)]
pub struct SessionPlan {
    /// The id to put in the response (0: no session).
    pub session_id: i32,
    /// The partitions to read, in response order.
    pub partitions: Vec<SessionPartition>,
    /// Incremental: leave out partitions without news.
    pub incremental: bool,
}

/// Changes a request makes to its partitions.
#[derive(Debug)]
pub struct RequestedPartitions {
    pub upserts: Vec<SessionPartition>,
    /// (topic name, topic id, partition) to drop from the session.
    pub forgotten: Vec<(String, Uuid, i32)>,
}

impl FetchSessionCache {
    pub fn new(slots: usize) -> Self {
        FetchSessionCache {
            slots,
            inner: Mutex::new(CacheInner {
                sessions: HashMap::new(),
                next_id: 1,
            }),
        }
    }

    /// Resolves a request's session fields into the partitions to read, or a
    /// top-level error code (FETCH_SESSION_ID_NOT_FOUND, INVALID_FETCH_SESSION_EPOCH).
    pub fn plan(
        &self,
        session_id: i32,
        epoch: i32,
        request: RequestedPartitions,
    ) -> Result<SessionPlan, i16> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if epoch == FINAL_EPOCH {
            if session_id != 0 {
                inner.sessions.remove(&session_id);
            }
            return Ok(SessionPlan {
                session_id: 0,
                partitions: request.upserts,
                incremental: false,
            });
        }
        if epoch == INITIAL_EPOCH {
            if session_id != 0 {
                inner.sessions.remove(&session_id);
            }
            let id = self.new_session(&mut inner, request.upserts.clone());
            return Ok(SessionPlan {
                session_id: id,
                partitions: request.upserts,
                incremental: false,
            });
        }
        let Some(session) = inner.sessions.get_mut(&session_id) else {
            return Err(ResponseError::FetchSessionIdNotFound.code());
        };
        if session.next_epoch != epoch {
            return Err(ResponseError::InvalidFetchSessionEpoch.code());
        }
        session.next_epoch = next_epoch(epoch);
        session.last_used = Instant::now();
        for (topic, id, partition) in &request.forgotten {
            session
                .partitions
                .retain(|p| !p.same_key(topic, *id, *partition));
        }
        for update in request.upserts {
            match session
                .partitions
                .iter_mut()
                .find(|p| p.same_key(&update.topic, update.topic_id, update.partition))
            {
                Some(existing) => {
                    existing.fetch_offset = update.fetch_offset;
                    existing.partition_max_bytes = update.partition_max_bytes;
                    existing.current_leader_epoch = update.current_leader_epoch;
                }
                None => session.partitions.push(update),
            }
        }
        Ok(SessionPlan {
            session_id,
            partitions: session.partitions.clone(),
            incremental: true,
        })
    }

    /// Remembers what the response told the client about each partition.
    pub fn record_sent(&self, session_id: i32, sent: &[(String, Uuid, i32, i64, i64)]) {
        if session_id == 0 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(session) = inner.sessions.get_mut(&session_id) {
            for (topic, id, partition, hwm, log_start) in sent {
                if let Some(p) = session
                    .partitions
                    .iter_mut()
                    .find(|p| p.same_key(topic, *id, *partition))
                {
                    p.last_high_watermark = *hwm;
                    p.last_log_start_offset = *log_start;
                }
            }
        }
    }

    /// Creates a session, evicting the least recently used one when all
    /// slots are taken. Returns 0 when sessions are disabled (0 slots).
    fn new_session(&self, inner: &mut CacheInner, partitions: Vec<SessionPartition>) -> i32 {
        if self.slots == 0 {
            return 0;
        }
        if inner.sessions.len() >= self.slots {
            if let Some((&oldest, _)) = inner.sessions.iter().min_by_key(|(_, s)| s.last_used) {
                inner.sessions.remove(&oldest);
            }
        }
        let mut id = inner.next_id;
        while id == 0 || inner.sessions.contains_key(&id) {
            id = id.wrapping_add(1).max(1);
        }
        inner.next_id = id.wrapping_add(1).max(1);
        inner.sessions.insert(
            id,
            Session {
                next_epoch: 1,
                partitions,
                last_used: Instant::now(),
            },
        );
        id
    }

    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .sessions
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Epochs wrap from i32::MAX to 1 (0 and -1 have special meanings).
fn next_epoch(epoch: i32) -> i32 {
    if epoch == i32::MAX {
        1
    } else {
        epoch + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(topic: &str, partition: i32, offset: i64) -> SessionPartition {
        SessionPartition {
            topic: topic.into(),
            topic_id: Uuid::nil(),
            partition,
            fetch_offset: offset,
            partition_max_bytes: 1 << 20,
            current_leader_epoch: -1,
            last_high_watermark: -1,
            last_log_start_offset: -1,
        }
    }

    fn req(upserts: Vec<SessionPartition>) -> RequestedPartitions {
        RequestedPartitions {
            upserts,
            forgotten: vec![],
        }
    }

    #[test]
    fn full_then_incremental() {
        let cache = FetchSessionCache::new(10);
        let plan = cache
            .plan(
                0,
                INITIAL_EPOCH,
                req(vec![part("a", 0, 0), part("a", 1, 0)]),
            )
            .unwrap();
        assert!(plan.session_id > 0);
        assert!(!plan.incremental);
        let id = plan.session_id;
        let plan = cache.plan(id, 1, req(vec![part("a", 1, 7)])).unwrap();
        assert!(plan.incremental);
        assert_eq!(plan.partitions.len(), 2);
        assert_eq!(plan.partitions[1].fetch_offset, 7);
        let plan = cache
            .plan(
                id,
                2,
                RequestedPartitions {
                    upserts: vec![],
                    forgotten: vec![("a".into(), Uuid::nil(), 0)],
                },
            )
            .unwrap();
        assert_eq!(plan.partitions.len(), 1);
    }

    #[test]
    fn wrong_epoch_and_unknown_session_are_errors() {
        let cache = FetchSessionCache::new(10);
        let id = cache
            .plan(0, 0, req(vec![part("a", 0, 0)]))
            .unwrap()
            .session_id;
        assert_eq!(
            cache.plan(id, 5, req(vec![])).unwrap_err(),
            ResponseError::InvalidFetchSessionEpoch.code()
        );
        assert_eq!(
            cache.plan(id + 100, 1, req(vec![])).unwrap_err(),
            ResponseError::FetchSessionIdNotFound.code()
        );
    }

    #[test]
    fn final_epoch_closes_and_full_cache_evicts() {
        let cache = FetchSessionCache::new(2);
        let a = cache.plan(0, 0, req(vec![])).unwrap().session_id;
        let _b = cache.plan(0, 0, req(vec![])).unwrap().session_id;
        let _c = cache.plan(0, 0, req(vec![])).unwrap().session_id;
        assert_eq!(cache.len(), 2);
        assert!(cache.plan(a, 1, req(vec![])).is_err(), "oldest evicted");
        let plan = cache.plan(_c, FINAL_EPOCH, req(vec![])).unwrap();
        assert_eq!(plan.session_id, 0);
        assert_eq!(cache.len(), 1);
    }
}
