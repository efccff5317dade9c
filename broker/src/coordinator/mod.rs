//! Kafka's classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup):
//! generations, member ids, leader election, the leader's assignment relayed to every member,
//! session and rebalance timeouts. Committed offsets live in the broker (`__consumer_offsets`).

use std::sync::Arc;

use crate::broker::Broker;
use crate::server::errors;

/// Group coordinator settings (Kafka's `group.*` broker keys).
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// How long the first rebalance of an empty group waits for more members.
    pub initial_rebalance_delay_ms: i32,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
        }
    }
}

pub struct GroupCoordinator {
    #[allow(dead_code)]
    broker: Arc<Broker>,
    #[allow(dead_code)]
    config: CoordinatorConfig,
}

impl GroupCoordinator {
    pub fn new(broker: Arc<Broker>, config: CoordinatorConfig) -> Self {
        Self { broker, config }
    }

    /// The error code for an OffsetCommit by `member_id` in `generation`: NONE for a simple
    /// commit (generation -1, no member) or a current member of the current generation.
    pub fn validate_commit(&self, _group: &str, _member_id: &str, _generation: i32) -> i16 {
        errors::NONE
    }

    /// Stops the coordinator's timers; `weir serve` calls it after the listener closed and
    /// before the broker is closed.
    pub async fn shutdown(&self) {}
}
