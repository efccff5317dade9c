//! A group member's background heartbeat, and when the coordinator last vouched for the
//! membership.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::anyhow;
use kafka_protocol::messages::HeartbeatRequest;
use tokio::sync::{Mutex, watch};
use tokio::task::JoinHandle;

use super::error::{self, KafkaError};
use super::group::{GroupTimings, MemberState, find_coordinator};
use super::{ClientConfig, Connection};

/// When the coordinator last vouched for this membership (a heartbeat or a join answered),
/// shared with the heartbeat task.
#[derive(Clone)]
pub(super) struct LastContact {
    base: Instant,
    millis: Arc<AtomicU64>,
}

impl LastContact {
    pub(super) fn now() -> Self {
        Self {
            base: Instant::now(),
            millis: Arc::new(AtomicU64::new(0)),
        }
    }

    pub(super) fn touch(&self) {
        let ms = u64::try_from(self.base.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.millis.store(ms, Ordering::Relaxed);
    }

    pub(super) fn at(&self) -> Instant {
        self.base + Duration::from_millis(self.millis.load(Ordering::Relaxed))
    }
}

/// Moves the state to `to` unless it is already as bad or worse.
pub(super) fn raise(state: &watch::Sender<MemberState>, to: MemberState) {
    state.send_if_modified(|s| {
        let worse = to > *s;
        if worse {
            *s = to;
        }
        worse
    });
}

/// The background heartbeat of one generation; stopped before the next join.
pub(super) struct Heartbeat {
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Heartbeat {
    pub(super) fn start(pulse: Pulse) -> Self {
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(pulse.run(stopped));
        Self { stop, task }
    }

    /// Stops the task; a heartbeat in flight is abandoned (its connection is then replaced
    /// before the next request).
    pub(super) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

/// What the heartbeat task owns.
pub(super) struct Pulse {
    pub(super) group: String,
    pub(super) cfg: ClientConfig,
    pub(super) timings: GroupTimings,
    pub(super) coordinator: Arc<Mutex<Connection>>,
    pub(super) state: watch::Sender<MemberState>,
    pub(super) contact: LastContact,
    pub(super) request: HeartbeatRequest,
}

/// One heartbeat's answer.
enum Beat {
    Alive,
    /// REBALANCE_IN_PROGRESS: still a member; keep heartbeating until the rejoin.
    Rebalancing,
    /// The group moved to a newer generation without this member.
    Stale(KafkaError),
    /// The coordinator no longer knows the member.
    Forgotten(KafkaError),
    /// No usable answer; try again (against a rediscovered coordinator if it moved).
    Failed(anyhow::Error),
}

impl Pulse {
    /// Heartbeats every interval until stopped, or until the membership needs a rejoin the
    /// heartbeat cannot give: a new generation, a forgotten member, or no answer for a whole
    /// session timeout. A failed heartbeat is retried with backoff, finding the coordinator
    /// again, as long as the session lasts.
    async fn run(self, mut stop: watch::Receiver<bool>) {
        let interval = self.timings.heartbeat_interval;
        let mut pause = interval;
        let mut backoff = self.cfg.retry.initial_backoff;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = stop.changed() => return,
            }
            let expires =
                tokio::time::Instant::from_std(self.contact.at() + self.timings.session_timeout);
            let beat = tokio::select! {
                beat = tokio::time::timeout_at(expires, self.beat()) => beat,
                _ = stop.changed() => return,
            };
            match beat {
                Ok(Beat::Alive) => {
                    self.contact.touch();
                    pause = interval;
                    backoff = self.cfg.retry.initial_backoff;
                }
                Ok(Beat::Rebalancing) => {
                    self.contact.touch();
                    tracing::info!(group = %self.group, "group rebalancing; rejoin due");
                    raise(&self.state, MemberState::RejoinNeeded);
                    pause = interval;
                }
                Ok(Beat::Stale(e)) => {
                    tracing::info!(group = %self.group, error = %e, "generation over; rejoin due");
                    raise(&self.state, MemberState::RejoinNeeded);
                    return;
                }
                Ok(Beat::Forgotten(e)) => {
                    tracing::warn!(group = %self.group, error = %e, "membership lost");
                    raise(&self.state, MemberState::Lost);
                    return;
                }
                Ok(Beat::Failed(e)) => {
                    tracing::warn!(group = %self.group, error = %format!("{e:#}"),
                        retry_ms = backoff.as_millis() as u64, "heartbeat failed");
                    pause = backoff.min(interval);
                    backoff = (backoff * 2).min(self.cfg.retry.max_backoff);
                }
                Err(_) => {}
            }
            if self.contact.at().elapsed() >= self.timings.session_timeout {
                tracing::warn!(group = %self.group, session_timeout = ?self.timings.session_timeout,
                    "no heartbeat answered within the session timeout; membership lost");
                raise(&self.state, MemberState::Lost);
                return;
            }
        }
    }

    async fn beat(&self) -> Beat {
        let mut conn = self.coordinator.lock().await;
        if conn.is_broken() {
            match find_coordinator(&self.cfg, &self.group).await {
                Ok(c) => *conn = c,
                Err(e) => return Beat::Failed(e),
            }
        }
        let answer = conn
            .send_with_timeout(&self.request, self.timings.session_timeout)
            .await;
        let code = match answer {
            Ok((_, r)) => r.error_code,
            Err(e) => return Beat::Failed(e),
        };
        let e = KafkaError::new(code, format!("Heartbeat {}", self.group));
        match code {
            error::NONE => Beat::Alive,
            error::REBALANCE_IN_PROGRESS => Beat::Rebalancing,
            error::ILLEGAL_GENERATION => Beat::Stale(e),
            _ if e.needs_rejoin() => Beat::Forgotten(e),
            _ => {
                if e.coordinator_moved() {
                    conn.abandon();
                }
                Beat::Failed(anyhow!(e))
            }
        }
    }
}
