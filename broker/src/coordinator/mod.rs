//! Kafka's classic consumer-group protocol (JoinGroup, SyncGroup, Heartbeat, LeaveGroup):
//! generations, member ids, leader election, the leader's assignment relayed to every member,
//! session and rebalance timeouts. Committed offsets live in the broker (`__consumer_offsets`).
//!
//! - `group.rs`: one group's state. States: Empty -> PreparingRebalance ->
//!   CompletingRebalance -> Stable, back to PreparingRebalance when a member joins, leaves or
//!   expires, and Dead once deleted.
//! - `join.rs`, `rebalance.rs` and `sync.rs`: the two phases of a rebalance; requests that
//!   must wait park a oneshot sender in their member and are answered when the phase
//!   completes.
//! - `session.rs`: what a member's session answers at once (heartbeat, leave, commit check).
//! - `admin.rs`: ListGroups, DescribeGroups, DeleteGroups.
//! - `timer.rs`: one task per group with live deadlines, no polling.
//!
//! Group membership is kept in memory only (as weir has one broker, a restart simply makes
//! every member rejoin: their heartbeats get UNKNOWN_MEMBER_ID).
//!
//! Shutdown: [`GroupCoordinator::shutdown`] answers every parked JoinGroup / SyncGroup with
//! NOT_COORDINATOR and waits for the timer tasks to stop; dropping the coordinator also
//! stops them.

mod admin;
mod group;
mod join;
mod member;
mod rebalance;
mod session;
mod sync;
mod timer;
mod types;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tracing::Instrument;

pub use types::{
    GroupDescription, GroupListing, GroupState, JoinRequest, JoinResponse, JoinedMember,
    LeaveResponse, LeavingMember, MemberDescription, Protocol, SyncRequest, SyncResponse,
};

use crate::broker::Broker;
use crate::server::errors;
use group::Group;

/// Group coordinator settings (Kafka's `group.*` broker keys).
#[derive(Debug, Clone)]
pub struct CoordinatorConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// How long the first rebalance of an empty group waits for more members.
    pub initial_rebalance_delay_ms: i32,
    /// The most members a group may have (`group.max.size`).
    pub max_group_size: usize,
    /// The most groups kept in memory; idle empty groups are forgotten first.
    pub max_groups: usize,
}

impl Default for CoordinatorConfig {
    fn default() -> Self {
        Self {
            min_session_timeout_ms: 6_000,
            max_session_timeout_ms: 1_800_000,
            initial_rebalance_delay_ms: 3_000,
            max_group_size: 10_000,
            max_groups: 100_000,
        }
    }
}

/// One group behind its lock, and the bell that wakes its timer task.
pub(crate) struct GroupCell {
    group: Mutex<Group>,
    wake: Notify,
}

impl GroupCell {
    /// Group methods never panic midway on reachable paths; should one, the state is still
    /// the best there is, so a poisoned lock is recovered rather than failing every request.
    fn lock(&self) -> MutexGuard<'_, Group> {
        self.group.lock().unwrap_or_else(|p| p.into_inner())
    }
}

pub struct GroupCoordinator {
    broker: Arc<Broker>,
    config: Arc<CoordinatorConfig>,
    /// Lock order: this map, then a group.
    groups: Mutex<HashMap<String, Arc<GroupCell>>>,
    timers: Mutex<JoinSet<()>>,
    stop: watch::Sender<bool>,
}

impl GroupCoordinator {
    pub fn new(broker: Arc<Broker>, config: CoordinatorConfig) -> Self {
        Self {
            broker,
            config: Arc::new(config),
            groups: Mutex::new(HashMap::new()),
            timers: Mutex::new(JoinSet::new()),
            stop: watch::channel(false).0,
        }
    }

    fn stopped(&self) -> bool {
        *self.stop.borrow()
    }

    fn map(&self) -> MutexGuard<'_, HashMap<String, Arc<GroupCell>>> {
        self.groups.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(&self, id: &str) -> Option<Arc<GroupCell>> {
        self.map().get(id).cloned()
    }

    /// The group, created if new; `None` when `max_groups` are in use and none is idle.
    fn get_or_create(&self, id: &str) -> Option<Arc<GroupCell>> {
        let mut map = self.map();
        if let Some(cell) = map.get(id) {
            return Some(Arc::clone(cell));
        }
        if map.len() >= self.config.max_groups {
            // Forget idle empty groups; marked Dead so a request holding one starts over.
            map.retain(|_, cell| {
                let mut group = cell.lock();
                let idle = group.is_idle();
                if idle {
                    group.state = GroupState::Dead;
                }
                !idle
            });
            if map.len() >= self.config.max_groups {
                tracing::warn!(
                    group = id,
                    max_groups = self.config.max_groups,
                    "cannot create group: too many active groups"
                );
                return None;
            }
        }
        let cell = Arc::new(GroupCell {
            group: Mutex::new(Group::new(id)),
            wake: Notify::new(),
        });
        map.insert(id.to_string(), Arc::clone(&cell));
        Some(cell)
    }

    /// Runs `f` on the group under its lock, then makes sure its timer covers the group's
    /// earliest deadline.
    fn with_group<T>(
        &self,
        cell: &Arc<GroupCell>,
        f: impl FnOnce(&mut Group, Instant, &CoordinatorConfig) -> T,
    ) -> T {
        let mut group = cell.lock();
        let out = f(&mut group, Instant::now(), &self.config);
        self.schedule(cell, &mut group);
        out
    }

    fn schedule(&self, cell: &Arc<GroupCell>, group: &mut Group) {
        if group.state == GroupState::Dead {
            cell.wake.notify_one();
            return;
        }
        let Some(next) = group.next_deadline() else {
            return;
        };
        if !group.timer.running {
            group.timer.running = self.spawn_timer(cell, &group.id);
            group.timer.armed = None;
        } else if group.timer.armed.is_none_or(|armed| next < armed) {
            cell.wake.notify_one();
        }
    }

    fn spawn_timer(&self, cell: &Arc<GroupCell>, group: &str) -> bool {
        if self.stopped() {
            return false;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            tracing::error!(group, "no tokio runtime: group timeouts are not enforced");
            return false;
        };
        let task = timer::run(
            Arc::clone(cell),
            Arc::clone(&self.config),
            self.stop.subscribe(),
        )
        .instrument(tracing::info_span!("group-timer", group));
        let mut timers = self.timers.lock().unwrap_or_else(|p| p.into_inner());
        while timers.try_join_next().is_some() {}
        timers.spawn_on(task, &runtime);
        true
    }

    pub async fn join(&self, req: JoinRequest) -> JoinResponse {
        let member_id = req.member_id.clone();
        if self.stopped() {
            return JoinResponse::error(member_id, errors::NOT_COORDINATOR);
        }
        if req.group_id.is_empty() {
            return JoinResponse::error(member_id, errors::INVALID_GROUP_ID);
        }
        let session = req.session_timeout_ms;
        if session < self.config.min_session_timeout_ms
            || session > self.config.max_session_timeout_ms
        {
            return JoinResponse::error(member_id, errors::INVALID_SESSION_TIMEOUT);
        }
        // Only a member without an id may create a group; a known member of an unknown
        // group starts over.
        let cell = if member_id.is_empty() {
            match self.get_or_create(&req.group_id) {
                Some(cell) => cell,
                None => return JoinResponse::error(member_id, errors::COORDINATOR_NOT_AVAILABLE),
            }
        } else {
            match self.get(&req.group_id) {
                Some(cell) => cell,
                None => return JoinResponse::error(member_id, errors::UNKNOWN_MEMBER_ID),
            }
        };
        let reply = self.with_group(&cell, |g, now, cfg| g.join(req, now, cfg));
        reply
            .wait(|| JoinResponse::error(member_id, errors::NOT_COORDINATOR))
            .await
    }

    pub async fn sync(&self, req: SyncRequest) -> SyncResponse {
        if self.stopped() {
            return SyncResponse::error(errors::NOT_COORDINATOR);
        }
        if req.group_id.is_empty() {
            return SyncResponse::error(errors::INVALID_GROUP_ID);
        }
        let Some(cell) = self.get(&req.group_id) else {
            return SyncResponse::error(errors::UNKNOWN_MEMBER_ID);
        };
        let reply = self.with_group(&cell, |g, now, _| g.sync(req, now));
        reply
            .wait(|| SyncResponse::error(errors::NOT_COORDINATOR))
            .await
    }

    pub fn heartbeat(
        &self,
        group: &str,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
    ) -> i16 {
        if group.is_empty() {
            return errors::INVALID_GROUP_ID;
        }
        let Some(cell) = self.get(group) else {
            return errors::UNKNOWN_MEMBER_ID;
        };
        self.with_group(&cell, |g, now, _| {
            g.heartbeat(member_id, instance_id, generation, now)
        })
    }

    pub fn leave(&self, group: &str, members: &[LeavingMember]) -> LeaveResponse {
        if group.is_empty() {
            return LeaveResponse::error(errors::INVALID_GROUP_ID);
        }
        let Some(cell) = self.get(group) else {
            return LeaveResponse {
                error: errors::NONE,
                members: vec![errors::UNKNOWN_MEMBER_ID; members.len()],
            };
        };
        self.with_group(&cell, |g, now, cfg| {
            if g.state == GroupState::Dead {
                return LeaveResponse::error(errors::COORDINATOR_NOT_AVAILABLE);
            }
            LeaveResponse {
                error: errors::NONE,
                members: members.iter().map(|m| g.leave(m, now, cfg)).collect(),
            }
        })
    }

    /// The error code for an OffsetCommit by `member_id` in `generation`: NONE for a current
    /// member of the current generation, or for a simple commit (generation -1, no member) to
    /// a group without members; otherwise Kafka's answer (UNKNOWN_MEMBER_ID,
    /// ILLEGAL_GENERATION, REBALANCE_IN_PROGRESS). A valid commit counts as a heartbeat.
    pub fn validate_commit(&self, group: &str, member_id: &str, generation: i32) -> i16 {
        match self.get(group) {
            Some(cell) => self.with_group(&cell, |g, now, _| {
                g.validate_commit(member_id, generation, now)
            }),
            None if generation >= 0 => errors::ILLEGAL_GENERATION,
            None if !member_id.is_empty() => errors::UNKNOWN_MEMBER_ID,
            None => errors::NONE,
        }
    }

    /// Stops the coordinator: every parked JoinGroup and SyncGroup is answered with
    /// NOT_COORDINATOR (so connections can drain), later ones get the same, and the timer
    /// tasks are awaited. Call it before waiting for the server's connections to finish.
    pub async fn shutdown(&self) {
        self.stop.send_replace(true);
        let cells: Vec<Arc<GroupCell>> = self.map().values().cloned().collect();
        for cell in cells {
            cell.lock().abandon_pending(errors::NOT_COORDINATOR);
        }
        let mut timers =
            std::mem::take(&mut *self.timers.lock().unwrap_or_else(|p| p.into_inner()));
        while timers.join_next().await.is_some() {}
    }
}

#[cfg(test)]
mod tests;
