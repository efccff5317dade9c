//! Each group with something to time (member sessions, a join or sync deadline) has one
//! timer task. It sleeps until the group's earliest deadline, acts on whatever is due, and
//! exits when nothing is left to time; the coordinator starts it again when a deadline
//! appears. A request that sets an earlier deadline than the one the task sleeps until wakes
//! it through the group's `Notify`. The task stops on the coordinator's stop signal, or when
//! the coordinator is dropped.

use std::sync::Arc;

use tokio::sync::watch;
use tokio::time::Instant;

use super::group::Group;
use super::member::millis;
use super::types::GroupState;
use super::{CoordinatorConfig, GroupCell};
use crate::server::errors;

pub(crate) async fn run(
    cell: Arc<GroupCell>,
    config: Arc<CoordinatorConfig>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let next = {
            let mut group = cell.lock();
            if group.state != GroupState::Dead {
                group.expire(Instant::now(), &config);
            }
            match group
                .next_deadline()
                .filter(|_| group.state != GroupState::Dead)
            {
                Some(at) => {
                    group.timer.armed = Some(at);
                    at
                }
                None => {
                    group.timer = Default::default();
                    return;
                }
            }
        };
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = cell.wake.notified() => {}
            // Stop was signalled, or the coordinator (the sender) is gone.
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

impl Group {
    /// Acts on every deadline that has passed by `now`.
    pub fn expire(&mut self, now: Instant, cfg: &CoordinatorConfig) {
        let pending = self.pending_members.len();
        self.pending_members.retain(|_, expiry| *expiry > now);
        if self.pending_members.len() != pending {
            self.try_complete_join(now);
        }

        let due: Vec<String> = self
            .members
            .values()
            .filter(|m| m.deadline <= now)
            .map(|m| m.id.clone())
            .collect();
        for id in due {
            // Re-checked: removing an earlier member may have completed the rebalance,
            // which renews the sessions of the members it answered.
            let Some(m) = self.members.get_mut(&id).filter(|m| m.deadline <= now) else {
                continue;
            };
            if !m.is_new && (m.awaiting_join.is_some() || m.awaiting_sync.is_some()) {
                // A member parked in JoinGroup or SyncGroup cannot heartbeat; the
                // rebalance's own deadlines bound its wait.
                m.deadline = now + m.session_timeout;
                continue;
            }
            tracing::info!(group = %self.id, member = %id, "member session expired; removing it");
            self.remove_member_and_update(
                &id,
                errors::UNKNOWN_MEMBER_ID,
                now,
                cfg,
                "member session expired",
            );
        }

        if self.state == GroupState::PreparingRebalance
            && self.join_deadline.is_some_and(|at| at <= now)
        {
            match &mut self.initial_delay {
                Some(delay) if delay.new_member_added && !delay.remaining.is_zero() => {
                    // Members are still arriving: wait once more, within the rebalance timeout.
                    let step = millis(cfg.initial_rebalance_delay_ms).min(delay.remaining);
                    delay.remaining -= step;
                    delay.new_member_added = false;
                    self.join_deadline = Some(now + step);
                }
                _ => self.complete_join(now),
            }
        }

        if self.sync_deadline.is_some_and(|at| at <= now) {
            self.sync_deadline = None;
            let laggards = std::mem::take(&mut self.pending_sync);
            if matches!(
                self.state,
                GroupState::CompletingRebalance | GroupState::Stable
            ) && !laggards.is_empty()
            {
                for id in &laggards {
                    self.remove_member(id, errors::UNKNOWN_MEMBER_ID);
                }
                tracing::info!(group = %self.id, members = ?laggards,
                    "removed members that did not send SyncGroup in time");
                self.prepare_rebalance(now, cfg, "members did not sync in time");
            }
        }
    }
}
