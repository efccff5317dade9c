//! The phase changes of a rebalance (Kafka's `prepareRebalance` and `onCompleteJoin`):
//! starting one, completing the join phase early once everybody has rejoined, and starting
//! the next generation by answering every parked JoinGroup.

use tokio::time::Instant;

use super::CoordinatorConfig;
use super::group::{Group, InitialDelay};
use super::member::millis;
use super::types::{GroupState, JoinResponse};
use crate::server::errors;

impl Group {
    pub fn maybe_prepare_rebalance(&mut self, now: Instant, cfg: &CoordinatorConfig, reason: &str) {
        if matches!(
            self.state,
            GroupState::Stable | GroupState::CompletingRebalance | GroupState::Empty
        ) {
            self.prepare_rebalance(now, cfg, reason);
        }
    }

    /// Starts a rebalance: members must rejoin before the join deadline.
    pub fn prepare_rebalance(&mut self, now: Instant, cfg: &CoordinatorConfig, reason: &str) {
        if self.state == GroupState::CompletingRebalance {
            // Members waiting in SyncGroup are told to rejoin.
            self.reset_assignments(errors::REBALANCE_IN_PROGRESS);
        }
        self.pending_sync.clear();
        self.sync_deadline = None;
        let timeout = self.rebalance_timeout();
        let delay = millis(cfg.initial_rebalance_delay_ms);
        if self.state == GroupState::Empty && !delay.is_zero() {
            self.join_deadline = Some(now + delay);
            self.initial_delay = Some(InitialDelay {
                remaining: timeout.saturating_sub(delay),
                new_member_added: false,
            });
        } else {
            self.join_deadline = Some(now + timeout);
            self.initial_delay = None;
        }
        self.state = GroupState::PreparingRebalance;
        tracing::info!(group = %self.id, generation = self.generation,
            members = self.members.len(), reason, "preparing to rebalance group");
        self.try_complete_join(now);
    }

    /// Completes the join phase early once every member has rejoined (the initial delay of
    /// an empty group always runs to its end).
    pub fn try_complete_join(&mut self, now: Instant) {
        if self.state == GroupState::PreparingRebalance
            && self.initial_delay.is_none()
            && self.pending_members.is_empty()
            && self.members.values().all(|m| m.awaiting_join.is_some())
        {
            self.complete_join(now);
        }
    }

    /// Ends the join phase: members that did not rejoin are removed, the next generation
    /// starts, and every parked JoinGroup is answered.
    pub fn complete_join(&mut self, now: Instant) {
        let gone: Vec<String> = self
            .members
            .values()
            .filter(|m| m.awaiting_join.is_none())
            .map(|m| m.id.clone())
            .collect();
        for id in &gone {
            self.remove_member(id, errors::UNKNOWN_MEMBER_ID);
        }
        if !gone.is_empty() {
            tracing::info!(group = %self.id, members = ?gone, "removed members that did not rejoin in time");
        }
        self.join_deadline = None;
        self.initial_delay = None;
        self.generation += 1;
        if self.members.is_empty() {
            self.state = GroupState::Empty;
            self.protocol_name = None;
            self.leader = None;
            tracing::info!(group = %self.id, generation = self.generation, "group is empty");
            return;
        }
        if !self
            .leader
            .as_ref()
            .is_some_and(|l| self.members.contains_key(l))
        {
            self.leader = self.members.keys().next().cloned();
        }
        self.protocol_name = self.select_protocol();
        self.state = GroupState::CompletingRebalance;
        let (generation, leader) = (self.generation, self.leader.clone().unwrap_or_default());
        let (protocol_type, protocol_name) =
            (self.protocol_type.clone(), self.protocol_name.clone());
        let all = self.member_list();
        for m in self.members.values_mut() {
            let members = if m.id == leader {
                all.clone()
            } else {
                Vec::new()
            };
            m.answer_join(JoinResponse {
                error: errors::NONE,
                generation_id: generation,
                protocol_type: protocol_type.clone(),
                protocol_name: protocol_name.clone(),
                leader: leader.clone(),
                member_id: m.id.clone(),
                members,
            });
            m.is_new = false;
            m.touch(now);
        }
        self.pending_sync = self.members.keys().cloned().collect();
        self.sync_deadline = Some(now + self.rebalance_timeout());
        tracing::info!(group = %self.id, generation, members = self.members.len(),
            protocol = protocol_name.as_deref().unwrap_or_default(), leader = %leader,
            "group rebalanced; awaiting the leader's assignment");
    }
}
