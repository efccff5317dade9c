//! A classic consumer-group member for one topic: FindCoordinator, JoinGroup (with the
//! MEMBER_ID_REQUIRED round trip), the leader's range assignment relayed by SyncGroup, a
//! background heartbeat, and LeaveGroup. Offsets are in [`super::offsets`].

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{anyhow, bail};
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::leave_group_request::MemberIdentity;
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, GroupId, HeartbeatRequest, JoinGroupRequest, JoinGroupResponse,
    LeaveGroupRequest, SyncGroupRequest,
};
use kafka_protocol::protocol::StrBytes;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use super::admin::Client;
use super::error::{self, KafkaError, MEMBER_ID_REQUIRED, UNKNOWN_MEMBER_ID};
use super::{ClientConfig, Connection, assignor};

const SESSION_TIMEOUT: Duration = Duration::from_secs(10);
const REBALANCE_TIMEOUT: Duration = Duration::from_secs(30);
const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(3);
const JOIN_ATTEMPTS: usize = 20;

fn s(v: &str) -> StrBytes {
    StrBytes::from_string(v.to_string())
}

/// Connects to the coordinator of `group`, asking the bootstrap broker where it is.
async fn find_coordinator(cfg: &ClientConfig, group: &str) -> anyhow::Result<Connection> {
    let mut bootstrap = Connection::connect(&cfg.bootstrap, cfg).await?;
    let v = bootstrap.version(ApiKey::FindCoordinator)?;
    let request = if v >= 4 {
        FindCoordinatorRequest::default().with_coordinator_keys(vec![s(group)])
    } else {
        FindCoordinatorRequest::default().with_key(s(group))
    };
    let what = format!("FindCoordinator for group {group}");
    let addr = cfg
        .retry
        .run(async || {
            let (_, r) = bootstrap.send(&request).await?;
            let (code, msg, host, port) = match r.coordinators.first() {
                Some(c) if v >= 4 => (
                    c.error_code,
                    c.error_message.clone(),
                    c.host.clone(),
                    c.port,
                ),
                _ => (
                    r.error_code,
                    r.error_message.clone(),
                    r.host.clone(),
                    r.port,
                ),
            };
            error::check(code, msg.as_deref(), &what)?;
            Ok(format!("{host}:{port}"))
        })
        .await?;
    Connection::connect(&addr, cfg).await
}

/// The background heartbeat of one generation; stopped before the next join.
struct Heartbeat {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

/// This process's membership in a group.
pub struct Member {
    pub group: String,
    topic: String,
    cfg: ClientConfig,
    pub member_id: String,
    pub generation: i32,
    pub(crate) coordinator: Arc<Mutex<Connection>>,
    /// Set by the heartbeat when the group moved on (rebalance, expired session).
    rejoin: Arc<AtomicBool>,
    heartbeat: Option<Heartbeat>,
}

impl Member {
    /// Joins `group` subscribed to `topic`; returns the member and its partitions.
    pub async fn join(
        client: &mut Client,
        group: &str,
        topic: &str,
    ) -> anyhow::Result<(Self, Vec<i32>)> {
        let cfg = client.cfg.clone();
        let coordinator = find_coordinator(&cfg, group).await?;
        let mut member = Self {
            group: group.to_string(),
            topic: topic.to_string(),
            cfg,
            member_id: String::new(),
            generation: -1,
            coordinator: Arc::new(Mutex::new(coordinator)),
            rejoin: Arc::new(AtomicBool::new(false)),
            heartbeat: None,
        };
        let partitions = member.rejoin(client).await?;
        Ok((member, partitions))
    }

    pub(crate) fn cfg_retry(&self) -> super::RetryPolicy {
        self.cfg.retry
    }

    /// Whether the group rebalanced (or forgot us) and [`Member::rejoin`] is due.
    pub fn needs_rejoin(&self) -> bool {
        self.rejoin.load(Ordering::Relaxed)
    }

    /// Asks the heartbeat-less path to rejoin (a commit found the generation stale).
    pub fn request_rejoin(&self) {
        self.rejoin.store(true, Ordering::Relaxed);
    }

    /// JoinGroup + SyncGroup until a generation is formed; returns this member's partitions.
    pub async fn rejoin(&mut self, client: &mut Client) -> anyhow::Result<Vec<i32>> {
        self.stop_heartbeat().await;
        let mut backoff = self.cfg.retry.initial_backoff;
        for _ in 0..JOIN_ATTEMPTS {
            match self.join_and_sync(client).await {
                Ok(partitions) => {
                    self.rejoin.store(false, Ordering::Relaxed);
                    self.start_heartbeat();
                    tracing::info!(group = %self.group, generation = self.generation,
                        member = %self.member_id, ?partitions, "joined group");
                    return Ok(partitions);
                }
                Err(e) => {
                    let Some(k) = error::kafka_error(&e).cloned() else {
                        return Err(e);
                    };
                    tracing::debug!(group = %self.group, error = %k, "join round failed");
                    if k.code == UNKNOWN_MEMBER_ID {
                        self.member_id.clear();
                    } else if k.coordinator_moved() {
                        tokio::time::sleep(backoff).await;
                        backoff = (backoff * 2).min(self.cfg.retry.max_backoff);
                        *self.coordinator.lock().await =
                            find_coordinator(&self.cfg, &self.group).await?;
                    } else if !(k.code == MEMBER_ID_REQUIRED || k.needs_rejoin()) {
                        return Err(e);
                    }
                }
            }
        }
        bail!(
            "could not join group {} after {JOIN_ATTEMPTS} attempts",
            self.group
        )
    }

    async fn join_and_sync(&mut self, client: &mut Client) -> anyhow::Result<Vec<i32>> {
        let what = format!("JoinGroup {}", self.group);
        let request = JoinGroupRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_session_timeout_ms(SESSION_TIMEOUT.as_millis() as i32)
            .with_rebalance_timeout_ms(REBALANCE_TIMEOUT.as_millis() as i32)
            .with_member_id(s(&self.member_id))
            .with_protocol_type(s("consumer"))
            .with_protocols(vec![
                JoinGroupRequestProtocol::default()
                    .with_name(s(assignor::PROTOCOL))
                    .with_metadata(assignor::encode_subscription(std::slice::from_ref(
                        &self.topic,
                    ))),
            ]);
        let wait = REBALANCE_TIMEOUT + self.cfg.request_timeout;
        let coordinator = Arc::clone(&self.coordinator);
        let mut conn = coordinator.lock().await;
        let (_, joined) = conn.send_with_timeout(&request, wait).await?;
        if joined.error_code == MEMBER_ID_REQUIRED {
            // KIP-394: the coordinator hands out the id; join again with it.
            self.member_id = joined.member_id.to_string();
        }
        error::check(joined.error_code, None, &what)?;
        self.member_id = joined.member_id.to_string();
        self.generation = joined.generation_id;
        let assignments = if joined.leader == joined.member_id {
            drop(conn);
            let a = self.assign(client, &joined).await?;
            conn = coordinator.lock().await;
            a
        } else {
            Vec::new()
        };
        let request = SyncGroupRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_generation_id(self.generation)
            .with_member_id(s(&self.member_id))
            .with_protocol_type(Some(s("consumer")))
            .with_protocol_name(Some(s(assignor::PROTOCOL)))
            .with_assignments(assignments);
        let (_, synced) = conn.send_with_timeout(&request, wait).await?;
        error::check(
            synced.error_code,
            None,
            &format!("SyncGroup {}", self.group),
        )?;
        let mut mine = assignor::decode_assignment(synced.assignment)?;
        Ok(mine.remove(&self.topic).unwrap_or_default())
    }

    /// The leader's job: a range assignment over every member's subscription.
    async fn assign(
        &self,
        client: &mut Client,
        joined: &JoinGroupResponse,
    ) -> anyhow::Result<Vec<SyncGroupRequestAssignment>> {
        let mut subscriptions = BTreeMap::new();
        for m in &joined.members {
            let topics = assignor::decode_subscription(m.metadata.clone())
                .map_err(|e| anyhow!("member {} sent a bad subscription: {e:#}", m.member_id))?;
            subscriptions.insert(m.member_id.to_string(), topics);
        }
        let mut topics: Vec<String> = subscriptions.values().flatten().cloned().collect();
        topics.sort();
        topics.dedup();
        let mut counts = BTreeMap::new();
        for t in client
            .metadata(Some(&topics), false)
            .await?
            .into_iter()
            .flatten()
        {
            counts.insert(t.name.clone(), t.partitions.len() as i32);
        }
        Ok(assignor::range_assign(&subscriptions, &counts)
            .into_iter()
            .map(|(member, a)| {
                SyncGroupRequestAssignment::default()
                    .with_member_id(s(&member))
                    .with_assignment(assignor::encode_assignment(&a))
            })
            .collect())
    }

    fn start_heartbeat(&mut self) {
        let (stop, mut stopped) = watch::channel(false);
        let conn = Arc::clone(&self.coordinator);
        let rejoin = Arc::clone(&self.rejoin);
        let request = HeartbeatRequest::default()
            .with_group_id(GroupId(s(&self.group)))
            .with_generation_id(self.generation)
            .with_member_id(s(&self.member_id));
        let group = self.group.clone();
        let task = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(HEARTBEAT_INTERVAL) => {}
                    _ = stopped.changed() => break,
                }
                let sent = conn.lock().await.send(&request).await;
                let code = match sent {
                    Ok((_, r)) => r.error_code,
                    Err(e) => {
                        tracing::warn!(group = %group, error = %e, "heartbeat failed; rejoining");
                        rejoin.store(true, Ordering::Relaxed);
                        break;
                    }
                };
                let e = KafkaError::new(code, format!("Heartbeat {group}"));
                if code != error::NONE && (e.needs_rejoin() || e.coordinator_moved()) {
                    tracing::info!(group = %group, error = %e, "group rebalancing; rejoining");
                    rejoin.store(true, Ordering::Relaxed);
                    break;
                } else if code != error::NONE {
                    tracing::warn!(group = %group, error = %e, "heartbeat refused");
                }
            }
        });
        self.heartbeat = Some(Heartbeat { stop, task });
    }

    async fn stop_heartbeat(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            let _ = h.stop.send(true);
            let _ = h.task.await;
        }
    }

    /// Stops the heartbeat and leaves the group so the others rebalance at once.
    pub async fn leave(mut self) -> anyhow::Result<()> {
        self.stop_heartbeat().await;
        let mut conn = self.coordinator.lock().await;
        let request = if conn.version(ApiKey::LeaveGroup)? >= 3 {
            LeaveGroupRequest::default().with_members(vec![
                MemberIdentity::default()
                    .with_member_id(s(&self.member_id))
                    .with_reason(Some(s("the consumer is shutting down"))),
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
