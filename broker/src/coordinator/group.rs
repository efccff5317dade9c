//! One group's state: members, generation, leader and chosen protocol, and the deadlines its
//! timer watches. Every method runs under the group's lock and never waits; requests that
//! must wait (JoinGroup, SyncGroup) park a oneshot sender in their member and are answered
//! by whichever later event completes the phase. The rebalance itself is in `join.rs` and
//! `sync.rs`, expiry in `timer.rs`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use tokio::time::Instant;

use super::CoordinatorConfig;
use super::member::Member;
use super::types::{GroupDescription, GroupState, JoinedMember, MemberDescription, Protocol};
use crate::server::errors;

/// The pending first rebalance of an empty group (Kafka's `InitialDelayedJoin`): it waits
/// `initial_rebalance_delay_ms`, again while new members keep arriving, up to the rebalance
/// timeout, so a group of consumers started together gets one rebalance instead of many.
pub(crate) struct InitialDelay {
    /// What is left of the rebalance timeout after the current delay.
    pub remaining: Duration,
    pub new_member_added: bool,
}

/// The group's timer task: whether one runs, and the deadline it sleeps until.
#[derive(Default)]
pub(crate) struct TimerSlot {
    pub running: bool,
    pub armed: Option<Instant>,
}

pub(crate) struct Group {
    pub id: String,
    pub state: GroupState,
    pub generation: i32,
    /// Set by the first member to join; every later member must use the same.
    pub protocol_type: Option<String>,
    /// Chosen when a generation starts.
    pub protocol_name: Option<String>,
    pub leader: Option<String>,
    pub members: BTreeMap<String, Member>,
    /// Ids handed out with MEMBER_ID_REQUIRED, not yet joined, with their expiry.
    pub pending_members: HashMap<String, Instant>,
    /// group.instance.id -> member id of the static members.
    pub static_members: HashMap<String, String>,
    /// Members of this generation that have not sent SyncGroup yet.
    pub pending_sync: BTreeSet<String>,
    pub sync_deadline: Option<Instant>,
    /// When PreparingRebalance gives up on members that have not rejoined.
    pub join_deadline: Option<Instant>,
    pub initial_delay: Option<InitialDelay>,
    pub timer: TimerSlot,
}

impl Group {
    pub fn new(id: &str) -> Self {
        Self {
            id: id.to_string(),
            state: GroupState::Empty,
            generation: 0,
            protocol_type: None,
            protocol_name: None,
            leader: None,
            members: BTreeMap::new(),
            pending_members: HashMap::new(),
            static_members: HashMap::new(),
            pending_sync: BTreeSet::new(),
            sync_deadline: None,
            join_deadline: None,
            initial_delay: None,
            timer: TimerSlot::default(),
        }
    }

    /// Nothing but a name and a generation: safe to forget when memory is short.
    pub fn is_idle(&self) -> bool {
        self.state == GroupState::Empty
            && self.members.is_empty()
            && self.pending_members.is_empty()
            && !self.timer.running
    }

    /// Kafka's `validateCurrentMember`: the instance id, when given, must belong to this
    /// member id, and the member must be in the group.
    pub fn validate_member(&self, member_id: &str, instance_id: Option<&str>) -> Option<i16> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                Some(current) if current != member_id => return Some(errors::FENCED_INSTANCE_ID),
                Some(_) => {}
                None => return Some(errors::UNKNOWN_MEMBER_ID),
            }
        }
        (!self.members.contains_key(member_id)).then_some(errors::UNKNOWN_MEMBER_ID)
    }

    /// Whether a member with these protocols may join: the group's protocol type and at least
    /// one protocol every current member supports.
    pub fn supports_protocols(&self, protocol_type: &str, protocols: &[Protocol]) -> bool {
        if self.state == GroupState::Empty {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        self.protocol_type.as_deref() == Some(protocol_type)
            && protocols
                .iter()
                .any(|p| self.members.values().all(|m| m.supports(&p.name)))
    }

    /// The protocol for a new generation, by Kafka's vote: among the protocols every member
    /// supports, each member votes for the first in its own preference order; ties go to the
    /// leader's preference.
    pub fn select_protocol(&self) -> Option<String> {
        let leader = self
            .leader
            .as_ref()
            .and_then(|l| self.members.get(l))
            .or_else(|| self.members.values().next())?;
        let candidates: Vec<&str> = leader
            .protocols
            .iter()
            .map(|p| p.name.as_str())
            .filter(|name| self.members.values().all(|m| m.supports(name)))
            .collect();
        let mut votes = vec![0usize; candidates.len()];
        for m in self.members.values() {
            let choice = m
                .protocols
                .iter()
                .find_map(|p| candidates.iter().position(|c| *c == p.name));
            if let Some(i) = choice {
                votes[i] += 1;
            }
        }
        let best = votes.iter().max().copied().unwrap_or(0);
        let winner = votes
            .iter()
            .position(|v| *v == best)
            .and_then(|i| candidates.get(i));
        // No common protocol cannot happen (joins are checked); fall back to the leader's.
        winner
            .map(|w| w.to_string())
            .or_else(|| leader.protocols.first().map(|p| p.name.clone()))
    }

    /// The longest rebalance timeout of any member: how long a rebalance waits for rejoins.
    pub fn rebalance_timeout(&self) -> Duration {
        self.members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default()
    }

    /// Every member with its metadata for the chosen protocol (the leader's JoinGroup answer).
    pub fn member_list(&self) -> Vec<JoinedMember> {
        let protocol = self.protocol_name.as_deref().unwrap_or_default();
        self.members
            .values()
            .map(|m| JoinedMember {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                metadata: m.metadata(protocol),
            })
            .collect()
    }

    /// Removes a member, answering its parked requests with `error`. The group's state is
    /// left alone; see [`Group::remove_member_and_update`].
    pub fn remove_member(&mut self, id: &str, error: i16) -> bool {
        let Some(mut member) = self.members.remove(id) else {
            return false;
        };
        member.answer_join(super::types::JoinResponse::error(id, error));
        member.answer_sync(super::types::SyncResponse::error(error));
        if let Some(instance) = &member.instance_id
            && self.static_members.get(instance).is_some_and(|m| m == id)
        {
            self.static_members.remove(instance);
        }
        if self.leader.as_deref() == Some(id) {
            self.leader = self.members.keys().next().cloned();
        }
        self.pending_sync.remove(id);
        true
    }

    /// Removes a member and moves the group on: a stable group rebalances, a rebalancing one
    /// may now have every remaining member rejoined.
    pub fn remove_member_and_update(
        &mut self,
        id: &str,
        error: i16,
        now: Instant,
        cfg: &CoordinatorConfig,
        reason: &str,
    ) {
        if !self.remove_member(id, error) {
            return;
        }
        match self.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(now, cfg, reason)
            }
            GroupState::PreparingRebalance => self.try_complete_join(now),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    /// The earliest deadline the timer must act on, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        let join = self
            .join_deadline
            .filter(|_| self.state == GroupState::PreparingRebalance);
        self.members
            .values()
            .map(|m| m.deadline)
            .chain(self.pending_members.values().copied())
            .chain(join)
            .chain(self.sync_deadline)
            .min()
    }

    pub fn describe(&self) -> GroupDescription {
        let stable = self.state == GroupState::Stable;
        let protocol = if stable {
            self.protocol_name.clone().unwrap_or_default()
        } else {
            String::new()
        };
        let members = self
            .members
            .values()
            .map(|m| MemberDescription {
                member_id: m.id.clone(),
                group_instance_id: m.instance_id.clone(),
                client_id: m.client_id.clone(),
                client_host: m.client_host.clone(),
                metadata: if stable {
                    m.metadata(&protocol)
                } else {
                    Default::default()
                },
                assignment: if stable {
                    m.assignment.clone()
                } else {
                    Default::default()
                },
            })
            .collect();
        GroupDescription {
            error: errors::NONE,
            group_id: self.id.clone(),
            state: self.state,
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            protocol_data: protocol,
            members,
        }
    }

    /// Answers every parked request with `error` (coordinator shutdown).
    pub fn abandon_pending(&mut self, error: i16) {
        for m in self.members.values_mut() {
            m.answer_join(super::types::JoinResponse::error(m.id.clone(), error));
            m.answer_sync(super::types::SyncResponse::error(error));
        }
    }
}
