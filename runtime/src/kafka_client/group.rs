//! Membership in a Kafka group for any protocol type (`consumer`, `connect`): FindCoordinator
//! over the bootstrap list, JoinGroup (with the MEMBER_ID_REQUIRED round trip), the leader's
//! assignment relayed by SyncGroup, a background heartbeat, and LeaveGroup. What the members
//! say about themselves and how the leader assigns is the [`GroupProtocol`]'s business;
//! offsets are in [`super::offsets`].
//!
//! The member's [`MemberState`] is published on a watch channel: the heartbeat raises it to
//! `RejoinNeeded` when the group rebalances or moves to a new generation, and to `Lost` when
//! the coordinator has forgotten the member or has not answered a heartbeat for a whole
//! session timeout (the group has then given this member's work to others). A successful
//! [`Member::rejoin`] brings it back to `Stable`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use bytes::Bytes;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, LeaveGroupRequest,
    SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::{Mutex, watch};

use super::error::{self, MEMBER_ID_REQUIRED, UNKNOWN_MEMBER_ID};
use super::heartbeat::{Heartbeat, LastContact, Pulse, raise};
use super::{ClientConfig, Connection};

/// What a group's members exchange: their metadata when joining and, from the leader, each
/// member's assignment.
pub trait GroupProtocol: Send {
    /// The JoinGroup protocol type: `consumer` or `connect`.
    fn protocol_type(&self) -> &str;

    /// (name, metadata) of each supported protocol, in preference order. Called before every
    /// JoinGroup, so the metadata can say what the member runs at that moment.
    fn protocols(&mut self) -> anyhow::Result<Vec<(String, Bytes)>>;

    /// The leader's job: given the protocol the coordinator chose and every member's
    /// (member id, metadata), the assignment bytes per member id. A member left out gets an
    /// empty assignment.
    fn assign(
        &mut self,
        protocol: &str,
        members: &[(String, Bytes)],
    ) -> impl Future<Output = anyhow::Result<BTreeMap<String, Bytes>>> + Send;
}

/// Per-member timing settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GroupTimings {
    /// Without a heartbeat for this long the coordinator drops the member.
    pub session_timeout: Duration,
    /// How long the coordinator waits for every member to rejoin during a rebalance.
    pub rebalance_timeout: Duration,
    pub heartbeat_interval: Duration,
    /// [`Member::rejoin`] starts no new attempt after this long and returns its last error.
    /// The attempt under way may still wait up to the rebalance timeout for the group.
    pub join_timeout: Duration,
}

impl GroupTimings {
    /// `weir consume --group`.
    pub const fn consumer() -> Self {
        Self {
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(30),
            heartbeat_interval: Duration::from_secs(3),
            join_timeout: Duration::from_secs(60),
        }
    }

    /// Kafka Connect's defaults: `session.timeout.ms` 10000, `heartbeat.interval.ms` 3000,
    /// `rebalance.timeout.ms` 60000.
    pub const fn connect() -> Self {
        Self {
            session_timeout: Duration::from_secs(10),
            rebalance_timeout: Duration::from_secs(60),
            heartbeat_interval: Duration::from_secs(3),
            join_timeout: Duration::from_secs(60),
        }
    }
}

/// Where a member stands; ordered from best to worst.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum MemberState {
    /// In the current generation, heartbeating.
    Stable,
    /// The group rebalances or moved on: [`Member::rejoin`] is due. The member still owns
    /// its assignment (cooperative protocols keep running it through the rebalance).
    RejoinNeeded,
    /// The coordinator forgot the member, or did not answer for a whole session timeout:
    /// its work may already run elsewhere, so it must stop it, then rejoin.
    Lost,
}

/// The outcome of one JoinGroup + SyncGroup round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Joined {
    pub generation: i32,
    pub member_id: String,
    pub leader_id: String,
    pub is_leader: bool,
    /// The protocol the coordinator chose among the members' common ones.
    pub protocol_name: String,
    /// This member's assignment, as the leader's [`GroupProtocol::assign`] encoded it.
    pub assignment: Bytes,
    /// The membership was lost since the previous generation (see [`MemberState::Lost`]).
    pub was_lost: bool,
}

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Connects to the coordinator of `group`, asking each bootstrap address in turn.
pub(crate) async fn find_coordinator(
    cfg: &ClientConfig,
    group: &str,
) -> anyhow::Result<Connection> {
    let mut failures = Vec::new();
    for addr in cfg.bootstrap_addrs() {
        match coordinator_via(addr, cfg, group).await {
            Ok(conn) => return Ok(conn),
            Err(e) => {
                tracing::debug!(group, bootstrap = addr, error = %format!("{e:#}"),
                    "cannot find the group coordinator through this broker");
                failures.push(format!("{addr}: {e:#}"));
            }
        }
    }
    bail!(
        "cannot find the coordinator of group {group} through --bootstrap {}: {}",
        cfg.bootstrap,
        failures.join("; ")
    )
}

async fn coordinator_via(
    bootstrap: &str,
    cfg: &ClientConfig,
    group: &str,
) -> anyhow::Result<Connection> {
    let mut conn = Connection::connect(bootstrap, cfg).await?;
    let v = conn.version(ApiKey::FindCoordinator)?;
    let request = if v >= 4 {
        FindCoordinatorRequest::default().with_coordinator_keys(vec![s(group)])
    } else {
        FindCoordinatorRequest::default().with_key(s(group))
    };
    let what = format!("FindCoordinator for group {group}");
    // A plain loop rather than `RetryPolicy::run`: the heartbeat task calls this, and its
    // future must be `Send`, which an async closure's is not provably.
    let give_up = Instant::now() + cfg.retry.deadline;
    let mut backoff = cfg.retry.initial_backoff;
    let addr = loop {
        let (_, r) = conn.send(&request).await?;
        let (code, msg, host, port) = match r.coordinators.first() {
            Some(c) if v >= 4 => (
                c.error_code,
                c.error_message.clone(),
                c.host.clone(),
                c.port,
            ),
            _ => (r.error_code, r.error_message, r.host, r.port),
        };
        match error::check(code, msg.as_deref(), &what) {
            Ok(()) => break format!("{host}:{port}"),
            Err(e) if e.retriable() && Instant::now() + backoff < give_up => {
                tracing::debug!(error = %e, "retrying");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(cfg.retry.max_backoff);
            }
            Err(e) => return Err(e.into()),
        }
    };
    Connection::connect(&addr, cfg)
        .await
        .with_context(|| format!("cannot reach the coordinator of group {group}"))
}

/// Why a join round failed.
enum JoinFailure {
    /// The coordinator or the connection; classified by error code.
    Broker(anyhow::Error),
    /// The protocol's own metadata or assignment failed: retrying will not help.
    Protocol(anyhow::Error),
}

/// This process's membership in a group.
pub struct Member<P: GroupProtocol> {
    group: String,
    cfg: ClientConfig,
    timings: GroupTimings,
    protocol: P,
    member_id: String,
    generation: i32,
    pub(crate) coordinator: Arc<Mutex<Connection>>,
    state: watch::Sender<MemberState>,
    contact: LastContact,
    heartbeat: Option<Heartbeat>,
}

impl<P: GroupProtocol> Member<P> {
    /// Finds the coordinator of `group` and joins it; returns the member and its first
    /// generation.
    pub async fn join(
        cfg: &ClientConfig,
        group: &str,
        protocol: P,
        timings: GroupTimings,
    ) -> anyhow::Result<(Self, Joined)> {
        // Within the join timeout, a cluster still starting up is waited for.
        let started = Instant::now();
        let mut backoff = cfg.retry.initial_backoff;
        let coordinator = loop {
            match find_coordinator(cfg, group).await {
                Ok(c) => break c,
                Err(e) if started.elapsed() + backoff >= timings.join_timeout => {
                    return Err(e.context(format!(
                        "could not join group {group} within {:?}",
                        timings.join_timeout
                    )));
                }
                Err(e) => {
                    tracing::debug!(group, error = %format!("{e:#}"), "no coordinator yet");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(cfg.retry.max_backoff);
                }
            }
        };
        let mut member = Self {
            group: group.to_string(),
            cfg: cfg.clone(),
            timings,
            protocol,
            member_id: String::new(),
            generation: -1,
            coordinator: Arc::new(Mutex::new(coordinator)),
            state: watch::Sender::new(MemberState::RejoinNeeded),
            contact: LastContact::now(),
            heartbeat: None,
        };
        let joined = member.rejoin().await?;
        Ok((member, joined))
    }

    pub fn group(&self) -> &str {
        &self.group
    }

    /// The generation of the last join; -1 before the first.
    pub fn generation(&self) -> i32 {
        self.generation
    }

    pub fn member_id(&self) -> &str {
        &self.member_id
    }

    pub fn protocol(&self) -> &P {
        &self.protocol
    }

    pub fn protocol_mut(&mut self) -> &mut P {
        &mut self.protocol
    }

    pub(crate) fn cfg_retry(&self) -> super::RetryPolicy {
        self.cfg.retry
    }

    pub fn state(&self) -> MemberState {
        *self.state.borrow()
    }

    /// A receiver of every state change, to watch while doing something else (even while
    /// [`Member::rejoin`] runs).
    pub fn subscribe(&self) -> watch::Receiver<MemberState> {
        self.state.subscribe()
    }

    /// Whether [`Member::rejoin`] is due.
    pub fn needs_rejoin(&self) -> bool {
        self.state() != MemberState::Stable
    }

    /// Whether the membership was lost (see [`MemberState::Lost`]).
    pub fn is_lost(&self) -> bool {
        self.state() == MemberState::Lost
    }

    /// Asks for a rejoin (a commit found the generation stale, the config changed, ...).
    pub fn request_rejoin(&self) {
        raise(&self.state, MemberState::RejoinNeeded);
    }

    /// Resolves once a rejoin is due (at once if it already is).
    pub async fn rejoin_needed(&self) {
        let mut rx = self.state.subscribe();
        // The sender lives in `self`, so the channel cannot close while we wait.
        let _ = rx.wait_for(|s| *s != MemberState::Stable).await;
    }

    /// JoinGroup + SyncGroup until a generation is formed. Retries with backoff while the
    /// coordinator moves or is unavailable and while the group rebalances; gives up after
    /// [`GroupTimings::join_timeout`], or at once on an error retrying cannot fix (the
    /// protocol's own failure, an incompatible protocol, no authorization).
    pub async fn rejoin(&mut self) -> anyhow::Result<Joined> {
        self.stop_heartbeat().await;
        let started = Instant::now();
        let mut backoff = self.cfg.retry.initial_backoff;
        let mut attempts = 0u32;
        let mut last_was_member_id = false;
        loop {
            attempts += 1;
            let err = match self.join_and_sync().await {
                Ok(mut joined) => {
                    joined.was_lost = self.is_lost();
                    self.contact.touch();
                    self.state.send_replace(MemberState::Stable);
                    self.start_heartbeat();
                    tracing::info!(group = %self.group, generation = joined.generation,
                        member = %joined.member_id, leader = joined.is_leader,
                        protocol = %joined.protocol_name, "joined group");
                    return Ok(joined);
                }
                Err(JoinFailure::Protocol(e)) => return Err(e),
                Err(JoinFailure::Broker(e)) => e,
            };
            let kafka = error::kafka_error(&err).cloned();
            let code = kafka.as_ref().map(|k| k.code);
            // The KIP-394 round trip is part of joining: answer it at once, but only once.
            let pause = code != Some(MEMBER_ID_REQUIRED) || last_was_member_id;
            last_was_member_id = code == Some(MEMBER_ID_REQUIRED);
            match &kafka {
                Some(k) if k.code == MEMBER_ID_REQUIRED => {}
                Some(k) if k.code == UNKNOWN_MEMBER_ID => {
                    if self.generation >= 0 {
                        tracing::warn!(group = %self.group, member = %self.member_id,
                            "the coordinator no longer knows this member; membership lost");
                        raise(&self.state, MemberState::Lost);
                    }
                    self.member_id.clear();
                    self.generation = -1;
                }
                Some(k) if k.code == error::REBALANCE_IN_PROGRESS => {}
                Some(k) if k.code == error::ILLEGAL_GENERATION => {}
                Some(k) if k.coordinator_moved() => {
                    // The next attempt finds the coordinator again.
                    self.coordinator.lock().await.abandon();
                }
                Some(k) if k.retriable() => {}
                Some(_) => return Err(err),
                None => {
                    // No answer (connection refused, timed out, garbled): look again.
                    self.coordinator.lock().await.abandon();
                }
            }
            tracing::debug!(group = %self.group, attempt = attempts,
                error = %format!("{err:#}"), "join round failed");
            if self.generation >= 0 && self.contact.at().elapsed() > self.timings.session_timeout {
                raise(&self.state, MemberState::Lost);
            }
            let spent = started.elapsed();
            if spent >= self.timings.join_timeout {
                return Err(err.context(format!(
                    "could not join group {} within {:?} ({attempts} attempts)",
                    self.group, self.timings.join_timeout
                )));
            }
            if pause {
                tokio::time::sleep(backoff.min(self.timings.join_timeout - spent)).await;
                backoff = (backoff * 2).min(self.cfg.retry.max_backoff);
            }
        }
    }

    async fn join_and_sync(&mut self) -> Result<Joined, JoinFailure> {
        let protocols = self
            .protocol
            .protocols()
            .map_err(|e| JoinFailure::Protocol(e.context("cannot build the join metadata")))?;
        let protocol_type = self.protocol.protocol_type().to_string();
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_session_timeout_ms(millis(self.timings.session_timeout))
            .with_rebalance_timeout_ms(millis(self.timings.rebalance_timeout))
            .with_member_id(s(&self.member_id))
            .with_protocol_type(s(&protocol_type))
            .with_protocols(
                protocols
                    .into_iter()
                    .map(|(name, metadata)| {
                        JoinGroupRequestProtocol::default()
                            .with_name(s(&name))
                            .with_metadata(metadata)
                    })
                    .collect(),
            );
        let wait = self.timings.rebalance_timeout + self.cfg.request_timeout;
        let coordinator = Arc::clone(&self.coordinator);
        let mut conn = coordinator.lock().await;
        if conn.is_broken() {
            *conn = find_coordinator(&self.cfg, &self.group)
                .await
                .map_err(JoinFailure::Broker)?;
        }
        let (_, joined) = conn
            .send_with_timeout(&request, wait)
            .await
            .map_err(JoinFailure::Broker)?;
        if joined.error_code == MEMBER_ID_REQUIRED {
            // KIP-394: the coordinator hands out the id; join again with it.
            self.member_id = joined.member_id.to_string();
        }
        let what = format!("JoinGroup {}", self.group);
        error::check(joined.error_code, None, &what).map_err(|e| JoinFailure::Broker(e.into()))?;
        self.member_id = joined.member_id.to_string();
        self.generation = joined.generation_id;
        self.contact.touch();
        let protocol_name = joined
            .protocol_name
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default();
        let leader_id = joined.leader.to_string();
        let is_leader = leader_id == self.member_id;
        let assignments = if is_leader {
            let members: Vec<(String, Bytes)> = joined
                .members
                .iter()
                .map(|m| (m.member_id.to_string(), m.metadata.clone()))
                .collect();
            // The protocol may take its time (metadata requests): let go of the connection.
            drop(conn);
            let assigned = self
                .protocol
                .assign(&protocol_name, &members)
                .await
                .map_err(|e| {
                    JoinFailure::Protocol(e.context(format!(
                        "the leader of group {} could not assign generation {}",
                        self.group, self.generation
                    )))
                })?;
            conn = coordinator.lock().await;
            assigned
                .into_iter()
                .map(|(member, assignment)| {
                    SyncGroupRequestAssignment::default()
                        .with_member_id(s(&member))
                        .with_assignment(assignment)
                })
                .collect()
        } else {
            Vec::new()
        };
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_generation_id(self.generation)
            .with_member_id(s(&self.member_id))
            .with_protocol_type(Some(s(&protocol_type)))
            .with_protocol_name(Some(s(&protocol_name)))
            .with_assignments(assignments);
        let (_, synced) = conn
            .send_with_timeout(&request, wait)
            .await
            .map_err(JoinFailure::Broker)?;
        let what = format!("SyncGroup {}", self.group);
        error::check(synced.error_code, None, &what).map_err(|e| JoinFailure::Broker(e.into()))?;
        Ok(Joined {
            generation: self.generation,
            member_id: self.member_id.clone(),
            leader_id,
            is_leader,
            protocol_name,
            assignment: synced.assignment,
            was_lost: false,
        })
    }

    fn start_heartbeat(&mut self) {
        let pulse = Pulse {
            group: self.group.clone(),
            cfg: self.cfg.clone(),
            timings: self.timings,
            coordinator: Arc::clone(&self.coordinator),
            state: self.state.clone(),
            contact: self.contact.clone(),
            request: HeartbeatRequest::default()
                .with_group_id(GroupId(s(&self.group)))
                .with_generation_id(self.generation)
                .with_member_id(s(&self.member_id)),
        };
        self.heartbeat = Some(Heartbeat::start(pulse));
    }

    async fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.stop().await;
        }
    }

    /// Stops the heartbeat and leaves the group so the others rebalance at once.
    pub async fn leave(mut self) -> anyhow::Result<()> {
        self.stop_heartbeat().await;
        if self.member_id.is_empty() {
            return Ok(());
        }
        let mut conn = self.coordinator.lock().await;
        if conn.is_broken() {
            *conn = find_coordinator(&self.cfg, &self.group).await?;
        }
        let reason = format!(
            "the {} member is shutting down",
            self.protocol.protocol_type()
        );
        let request = if conn.version(ApiKey::LeaveGroup)? >= 3 {
            LeaveGroupRequest::default().with_members(vec![
                MemberIdentity::default()
                    .with_member_id(s(&self.member_id))
                    .with_reason(Some(s(&reason))),
            ])
        } else {
            LeaveGroupRequest::default().with_member_id(s(&self.member_id))
        }
        .with_group_id(GroupId(s(&self.group)));
        let (_, r) = conn.send(&request).await?;
        let code = r
            .members
            .iter()
            .map(|m| m.error_code)
            .find(|c| *c != error::NONE)
            .unwrap_or(r.error_code);
        error::check(code, None, &format!("LeaveGroup {}", self.group))?;
        Ok(())
    }
}

fn millis(d: Duration) -> i32 {
    i32::try_from(d.as_millis()).unwrap_or(i32::MAX)
}

#[cfg(test)]
#[path = "group_tests.rs"]
mod tests;
