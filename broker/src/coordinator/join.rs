//! JoinGroup (Kafka's `handleJoinGroup`): validation, the MEMBER_ID_REQUIRED round trip,
//! new, known and static members. A join parks the member's answer and moves the group to
//! PreparingRebalance; `rebalance.rs` completes the phase and answers every parked join.

use tokio::sync::oneshot;
use tokio::time::Instant;

use super::CoordinatorConfig;
use super::group::Group;
use super::member::{self, Member, millis};
use super::types::{GroupState, JoinRequest, JoinResponse};
use crate::server::errors;

/// An answer now, or one that arrives when the group's phase completes.
pub(crate) enum Reply<T> {
    Ready(T),
    Wait(oneshot::Receiver<T>),
}

impl<T> Reply<T> {
    /// The answer; `closed()` if the coordinator dropped the request (shutdown).
    pub async fn wait(self, closed: impl FnOnce() -> T) -> T {
        match self {
            Reply::Ready(t) => t,
            Reply::Wait(rx) => rx.await.unwrap_or_else(|_| closed()),
        }
    }
}

fn fail(member_id: &str, error: i16) -> Reply<JoinResponse> {
    Reply::Ready(JoinResponse::error(member_id, error))
}

impl Group {
    pub fn join(
        &mut self,
        req: JoinRequest,
        now: Instant,
        cfg: &CoordinatorConfig,
    ) -> Reply<JoinResponse> {
        if self.state == GroupState::Dead {
            // Deleted while this request looked it up: the client rediscovers the
            // coordinator and joins a fresh group.
            return fail(&req.member_id, errors::COORDINATOR_NOT_AVAILABLE);
        }
        if !self.accepts(&req.member_id, cfg.max_group_size) {
            self.remove_member_and_update(
                &req.member_id,
                errors::GROUP_MAX_SIZE_REACHED,
                now,
                cfg,
                "group.max.size reached",
            );
            return fail("", errors::GROUP_MAX_SIZE_REACHED);
        }
        if !self.supports_protocols(&req.protocol_type, &req.protocols) {
            return fail(&req.member_id, errors::INCONSISTENT_GROUP_PROTOCOL);
        }
        let reply = if req.member_id.is_empty() {
            self.join_new(req, now, cfg)
        } else {
            self.join_known(req, now, cfg)
        };
        self.try_complete_join(now);
        reply
    }

    /// Kafka's `acceptJoiningMember`: members already in the group (or already rejoined) are
    /// always let in; new ones only below `group.max.size`.
    fn accepts(&self, member_id: &str, max: usize) -> bool {
        match self.state {
            GroupState::Empty | GroupState::Dead => true,
            GroupState::PreparingRebalance => {
                let awaiting = self
                    .members
                    .values()
                    .filter(|m| m.awaiting_join.is_some())
                    .count();
                self.members
                    .get(member_id)
                    .is_some_and(|m| m.awaiting_join.is_some())
                    || awaiting < max
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.members.contains_key(member_id) || self.members.len() < max
            }
        }
    }

    fn join_new(
        &mut self,
        req: JoinRequest,
        now: Instant,
        cfg: &CoordinatorConfig,
    ) -> Reply<JoinResponse> {
        let prefix = req.group_instance_id.as_deref().unwrap_or(&req.client_id);
        let member_id = member::new_member_id(prefix);
        if let Some(instance) = &req.group_instance_id {
            // A static member restarting with a new member id: its old incarnation is
            // fenced. (Kafka swaps the id in place and can skip the rebalance; weir simply
            // rebalances.)
            if let Some(old) = self.static_members.get(instance).cloned() {
                self.remove_member_and_update(
                    &old,
                    errors::FENCED_INSTANCE_ID,
                    now,
                    cfg,
                    "static member replaced",
                );
            }
            return self.add_member_and_rebalance(member_id, req, now, cfg);
        }
        if req.require_known_member_id {
            if self.members.len() + self.pending_members.len() >= cfg.max_group_size {
                return fail("", errors::GROUP_MAX_SIZE_REACHED);
            }
            let expiry = now + millis(req.session_timeout_ms);
            self.pending_members.insert(member_id.clone(), expiry);
            tracing::debug!(group = %self.id, member = %member_id, "new member must rejoin with its member id");
            return fail(&member_id, errors::MEMBER_ID_REQUIRED);
        }
        self.add_member_and_rebalance(member_id, req, now, cfg)
    }

    fn join_known(
        &mut self,
        req: JoinRequest,
        now: Instant,
        cfg: &CoordinatorConfig,
    ) -> Reply<JoinResponse> {
        if self.pending_members.contains_key(&req.member_id) {
            let id = req.member_id.clone();
            return self.add_member_and_rebalance(id, req, now, cfg);
        }
        if let Some(error) = self.validate_member(&req.member_id, req.group_instance_id.as_deref())
        {
            return fail(&req.member_id, error);
        }
        let is_leader = self.leader.as_deref() == Some(req.member_id.as_str());
        let Some(member) = self.members.get_mut(&req.member_id) else {
            return fail(&req.member_id, errors::UNKNOWN_MEMBER_ID);
        };
        member.touch(now);
        let unchanged = member.matches(&req.protocols);
        match self.state {
            GroupState::PreparingRebalance => self.update_member_and_rebalance(req, now, cfg),
            // A member that lost its JoinGroup answer asks again: give it the same answer.
            GroupState::CompletingRebalance if unchanged => {
                Reply::Ready(self.current_join_response(&req.member_id, is_leader))
            }
            // A follower with nothing new gets the current generation and goes on to
            // SyncGroup; a rejoining leader (e.g. topic metadata changed) forces a rebalance.
            GroupState::Stable if unchanged && !is_leader => {
                Reply::Ready(self.current_join_response(&req.member_id, false))
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                self.update_member_and_rebalance(req, now, cfg)
            }
            GroupState::Empty | GroupState::Dead => fail(&req.member_id, errors::UNKNOWN_MEMBER_ID),
        }
    }

    fn current_join_response(&self, member_id: &str, with_members: bool) -> JoinResponse {
        JoinResponse {
            error: errors::NONE,
            generation_id: self.generation,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader: self.leader.clone().unwrap_or_default(),
            member_id: member_id.to_string(),
            members: if with_members {
                self.member_list()
            } else {
                Vec::new()
            },
        }
    }

    fn add_member_and_rebalance(
        &mut self,
        id: String,
        req: JoinRequest,
        now: Instant,
        cfg: &CoordinatorConfig,
    ) -> Reply<JoinResponse> {
        let (tx, rx) = oneshot::channel();
        if let Some(delay) = &mut self.initial_delay {
            delay.new_member_added = true;
        }
        if self.members.is_empty() {
            self.protocol_type = Some(req.protocol_type.clone());
        }
        if self.leader.is_none() {
            self.leader = Some(id.clone());
        }
        if let Some(instance) = &req.group_instance_id {
            self.static_members.insert(instance.clone(), id.clone());
        }
        self.pending_members.remove(&id);
        tracing::debug!(group = %self.id, member = %id, client_id = %req.client_id, "member joins");
        self.members
            .insert(id.clone(), Member::new(id, &req, now, tx));
        self.maybe_prepare_rebalance(now, cfg, "new member joined");
        Reply::Wait(rx)
    }

    fn update_member_and_rebalance(
        &mut self,
        req: JoinRequest,
        now: Instant,
        cfg: &CoordinatorConfig,
    ) -> Reply<JoinResponse> {
        let (tx, rx) = oneshot::channel();
        if let Some(m) = self.members.get_mut(&req.member_id) {
            m.session_timeout = millis(req.session_timeout_ms);
            m.rebalance_timeout = millis(req.rebalance_timeout_ms);
            m.protocols = req.protocols;
            if let Some(stale) = m.awaiting_join.replace(tx) {
                // The same member joined again (its client gave up on the first request).
                let _ = stale.send(JoinResponse::error(&m.id, errors::REBALANCE_IN_PROGRESS));
            }
        }
        self.maybe_prepare_rebalance(now, cfg, "member rejoined");
        Reply::Wait(rx)
    }
}
