//! The sync phase (Kafka's `handleSyncGroup`): every member's SyncGroup is parked until the
//! leader's arrives with the assignments; then each gets its own and the group is Stable.

use std::collections::HashMap;

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::group::Group;
use super::join::Reply;
use super::types::{GroupState, SyncRequest, SyncResponse};
use crate::server::errors;

fn fail(error: i16) -> Reply<SyncResponse> {
    Reply::Ready(SyncResponse::error(error))
}

impl Group {
    pub fn sync(&mut self, req: SyncRequest, now: Instant) -> Reply<SyncResponse> {
        if self.state == GroupState::Dead {
            return fail(errors::COORDINATOR_NOT_AVAILABLE);
        }
        if let Some(error) = self.validate_member(&req.member_id, req.group_instance_id.as_deref())
        {
            return fail(error);
        }
        if req.generation_id != self.generation {
            return fail(errors::ILLEGAL_GENERATION);
        }
        let differs = |asked: &Option<String>, ours: &Option<String>| {
            asked.as_ref().is_some_and(|a| ours.as_ref() != Some(a))
        };
        if differs(&req.protocol_type, &self.protocol_type)
            || differs(&req.protocol_name, &self.protocol_name)
        {
            return fail(errors::INCONSISTENT_GROUP_PROTOCOL);
        }
        match self.state {
            GroupState::Empty | GroupState::Dead => fail(errors::UNKNOWN_MEMBER_ID),
            GroupState::PreparingRebalance => fail(errors::REBALANCE_IN_PROGRESS),
            GroupState::Stable => {
                self.synced(&req.member_id);
                let Some(m) = self.members.get_mut(&req.member_id) else {
                    return fail(errors::UNKNOWN_MEMBER_ID);
                };
                m.touch(now);
                Reply::Ready(SyncResponse {
                    error: errors::NONE,
                    protocol_type: self.protocol_type.clone(),
                    protocol_name: self.protocol_name.clone(),
                    assignment: m.assignment.clone(),
                })
            }
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = self.members.get_mut(&req.member_id) {
                    if let Some(stale) = m.awaiting_sync.replace(tx) {
                        let _ = stale.send(SyncResponse::error(errors::REBALANCE_IN_PROGRESS));
                    }
                    m.touch(now);
                }
                self.synced(&req.member_id);
                if self.leader.as_deref() == Some(req.member_id.as_str()) {
                    self.assign(req.assignments, now);
                }
                Reply::Wait(rx)
            }
        }
    }

    fn synced(&mut self, member_id: &str) {
        self.pending_sync.remove(member_id);
        if self.pending_sync.is_empty() {
            self.sync_deadline = None;
        }
    }

    /// Stores the leader's assignments (members it left out get an empty one, as in Kafka),
    /// answers every parked SyncGroup, and makes the group Stable.
    fn assign(&mut self, assignments: Vec<(String, bytes::Bytes)>, now: Instant) {
        let mut given: HashMap<String, bytes::Bytes> = assignments.into_iter().collect();
        let mut missing = Vec::new();
        for m in self.members.values_mut() {
            m.assignment = given.remove(&m.id).unwrap_or_else(|| {
                missing.push(m.id.clone());
                bytes::Bytes::new()
            });
        }
        if !missing.is_empty() {
            tracing::warn!(group = %self.id, generation = self.generation, members = ?missing,
                "leader's assignment leaves members out; they get an empty assignment");
        }
        self.state = GroupState::Stable;
        let (protocol_type, protocol_name) =
            (self.protocol_type.clone(), self.protocol_name.clone());
        for m in self.members.values_mut() {
            if m.awaiting_sync.is_some() {
                m.answer_sync(SyncResponse {
                    error: errors::NONE,
                    protocol_type: protocol_type.clone(),
                    protocol_name: protocol_name.clone(),
                    assignment: m.assignment.clone(),
                });
                m.touch(now);
            }
        }
        tracing::info!(group = %self.id, generation = self.generation,
            members = self.members.len(), "group is stable");
    }

    /// Drops the current assignments and answers parked SyncGroups with `error`.
    pub fn reset_assignments(&mut self, error: i16) {
        for m in self.members.values_mut() {
            m.assignment = bytes::Bytes::new();
            m.answer_sync(SyncResponse::error(error));
        }
    }
}
