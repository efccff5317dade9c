//! Requests a member's session answers at once: Heartbeat, LeaveGroup, and the membership
//! check of an OffsetCommit. Each one from a current member renews its session.

use tokio::time::Instant;

use super::CoordinatorConfig;
use super::group::Group;
use super::types::{GroupState, LeavingMember};
use crate::server::errors;

impl Group {
    pub fn heartbeat(
        &mut self,
        member_id: &str,
        instance_id: Option<&str>,
        generation: i32,
        now: Instant,
    ) -> i16 {
        if self.state == GroupState::Dead {
            return errors::COORDINATOR_NOT_AVAILABLE;
        }
        if let Some(error) = self.validate_member(member_id, instance_id) {
            return error;
        }
        if generation != self.generation {
            return errors::ILLEGAL_GENERATION;
        }
        if self.state == GroupState::Empty {
            return errors::UNKNOWN_MEMBER_ID;
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.touch(now);
        }
        // During a rebalance the heartbeat answer is how members learn they must rejoin.
        if self.state == GroupState::PreparingRebalance {
            errors::REBALANCE_IN_PROGRESS
        } else {
            errors::NONE
        }
    }

    pub fn leave(&mut self, who: &LeavingMember, now: Instant, cfg: &CoordinatorConfig) -> i16 {
        if who.member_id.is_empty() {
            // An administrative removal names the static member by instance id only.
            let current = who
                .group_instance_id
                .as_ref()
                .and_then(|i| self.static_members.get(i))
                .cloned();
            return match current {
                Some(id) => {
                    self.remove_member_and_update(&id, errors::UNKNOWN_MEMBER_ID, now, cfg, "left");
                    errors::NONE
                }
                None => errors::UNKNOWN_MEMBER_ID,
            };
        }
        if self.pending_members.remove(&who.member_id).is_some() {
            self.try_complete_join(now);
            return errors::NONE;
        }
        if let Some(error) = self.validate_member(&who.member_id, who.group_instance_id.as_deref())
        {
            return error;
        }
        tracing::info!(group = %self.id, member = %who.member_id, "member left the group");
        self.remove_member_and_update(
            &who.member_id,
            errors::UNKNOWN_MEMBER_ID,
            now,
            cfg,
            "member left",
        );
        errors::NONE
    }

    /// Kafka's `validateOffsetCommit`: a commit by a member must come from a current member of
    /// the current generation; a simple commit (no member, generation -1) only to an empty
    /// group.
    pub fn validate_commit(&mut self, member_id: &str, generation: i32, now: Instant) -> i16 {
        if self.state == GroupState::Dead {
            return errors::COORDINATOR_NOT_AVAILABLE;
        }
        if generation < 0 && member_id.is_empty() {
            return if self.state == GroupState::Empty {
                errors::NONE
            } else {
                errors::UNKNOWN_MEMBER_ID
            };
        }
        if let Some(error) = self.validate_member(member_id, None) {
            return error;
        }
        if generation != self.generation {
            return errors::ILLEGAL_GENERATION;
        }
        if self.state == GroupState::CompletingRebalance {
            // The member has its new generation but not yet its assignment.
            return errors::REBALANCE_IN_PROGRESS;
        }
        if let Some(m) = self.members.get_mut(member_id) {
            m.touch(now);
        }
        errors::NONE
    }
}
