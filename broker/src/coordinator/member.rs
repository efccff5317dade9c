//! One group member: what it joined with, its assignment, its parked JoinGroup / SyncGroup
//! answer channels, and when its session expires.

use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::types::{JoinRequest, JoinResponse, Protocol, SyncResponse};

/// How long a new member may wait in its first JoinGroup before it is dropped (Kafka's
/// `GroupCoordinator.NewMemberJoinTimeoutMs`). A new member cannot heartbeat, and a client
/// that gave up on a long rebalance retries with a fresh join, so without this the defunct
/// joins would pile up.
pub(crate) const NEW_MEMBER_JOIN_TIMEOUT: Duration = Duration::from_secs(300);

pub(crate) struct Member {
    pub id: String,
    pub instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout: Duration,
    pub rebalance_timeout: Duration,
    pub protocols: Vec<Protocol>,
    pub assignment: Bytes,
    /// The member's JoinGroup, answered when the rebalance completes.
    pub awaiting_join: Option<oneshot::Sender<JoinResponse>>,
    /// The member's SyncGroup, answered when the leader's assignment arrives.
    pub awaiting_sync: Option<oneshot::Sender<SyncResponse>>,
    /// Added in the current rebalance: expires after [`NEW_MEMBER_JOIN_TIMEOUT`] instead of
    /// its session timeout until its first JoinGroup is answered.
    pub is_new: bool,
    /// When the member is removed unless it is heard from.
    pub deadline: Instant,
}

pub(crate) fn millis(ms: i32) -> Duration {
    Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

impl Member {
    pub fn new(
        id: String,
        req: &JoinRequest,
        now: Instant,
        join: oneshot::Sender<JoinResponse>,
    ) -> Self {
        Self {
            id,
            instance_id: req.group_instance_id.clone(),
            client_id: req.client_id.clone(),
            client_host: req.client_host.clone(),
            session_timeout: millis(req.session_timeout_ms),
            rebalance_timeout: millis(req.rebalance_timeout_ms),
            protocols: req.protocols.clone(),
            assignment: Bytes::new(),
            awaiting_join: Some(join),
            awaiting_sync: None,
            is_new: true,
            deadline: now + NEW_MEMBER_JOIN_TIMEOUT,
        }
    }

    /// The member was heard from: its session starts over.
    pub fn touch(&mut self, now: Instant) {
        if !self.is_new {
            self.deadline = now + self.session_timeout;
        }
    }

    pub fn supports(&self, protocol: &str) -> bool {
        self.protocols.iter().any(|p| p.name == protocol)
    }

    /// The member's metadata for `protocol` (empty if it does not support it).
    pub fn metadata(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|p| p.name == protocol)
            .map(|p| p.metadata.clone())
            .unwrap_or_default()
    }

    /// Whether a rejoin carries exactly the protocols and metadata the member joined with.
    pub fn matches(&self, protocols: &[Protocol]) -> bool {
        self.protocols == protocols
    }

    pub fn answer_join(&mut self, response: JoinResponse) {
        if let Some(tx) = self.awaiting_join.take() {
            // The receiver is gone when the client's connection closed meanwhile.
            let _ = tx.send(response);
        }
    }

    pub fn answer_sync(&mut self, response: SyncResponse) {
        if let Some(tx) = self.awaiting_sync.take() {
            let _ = tx.send(response);
        }
    }
}

/// A new member id as Kafka makes them: `<client id or instance id>-<uuid>`.
pub(crate) fn new_member_id(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    // std's RandomState is seeded from the OS; two hashes of a counter give 128 random-looking
    // bits without another dependency. Ids only need to be unique and hard to guess.
    let random = |salt: u64| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(salt);
        h.finish()
    };
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&random(n).to_be_bytes());
    bytes[8..].copy_from_slice(&random(!n).to_be_bytes());
    let uuid = uuid::Builder::from_random_bytes(bytes).into_uuid();
    format!("{prefix}-{uuid}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_ids_are_unique_and_prefixed() {
        let a = new_member_id("rdkafka");
        let b = new_member_id("rdkafka");
        assert_ne!(a, b);
        assert!(a.starts_with("rdkafka-"), "{a}");
        let uuid = a.trim_start_matches("rdkafka-");
        assert_eq!(
            uuid::Uuid::parse_str(uuid)
                .map(|u| u.get_version_num())
                .ok(),
            Some(4)
        );
    }
}
