//! What the coordinator takes and answers, free of wire-format details: the API handlers
//! translate between these and the kafka-protocol messages of each version.

use bytes::Bytes;

use crate::server::errors;

/// A group's state, named as Kafka names it in DescribeGroups and ListGroups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GroupState {
    /// No members; the group may still have committed offsets.
    Empty,
    /// Waiting for every member to (re)join before the next generation starts.
    PreparingRebalance,
    /// The generation has started; waiting for the leader's assignment (Kafka's AwaitingSync).
    CompletingRebalance,
    /// Every member has its assignment.
    Stable,
    /// Deleted or unknown.
    Dead,
}

impl GroupState {
    pub fn name(self) -> &'static str {
        match self {
            Self::Empty => "Empty",
            Self::PreparingRebalance => "PreparingRebalance",
            Self::CompletingRebalance => "CompletingRebalance",
            Self::Stable => "Stable",
            Self::Dead => "Dead",
        }
    }
}

/// One protocol a member supports (for consumers: an assignor and its subscription).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Protocol {
    pub name: String,
    pub metadata: Bytes,
}

/// A JoinGroup request.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    /// Empty for a member joining for the first time.
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<Protocol>,
    /// JoinGroup v4+ (KIP-394): an unknown member is first handed its id with
    /// MEMBER_ID_REQUIRED and joins with it on a second request.
    pub require_known_member_id: bool,
}

/// A JoinGroup answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinResponse {
    pub error: i16,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader: String,
    pub member_id: String,
    /// Every member with its metadata for the chosen protocol; for the leader only.
    pub members: Vec<JoinedMember>,
}

impl JoinResponse {
    pub(crate) fn error(member_id: impl Into<String>, error: i16) -> Self {
        Self {
            error,
            generation_id: -1,
            protocol_type: None,
            protocol_name: None,
            leader: String::new(),
            member_id: member_id.into(),
            members: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JoinedMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub metadata: Bytes,
}

/// A SyncGroup request; only the leader's carries assignments.
#[derive(Debug, Clone)]
pub struct SyncRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub generation_id: i32,
    /// v5+: checked against the group's when present.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignments: Vec<(String, Bytes)>,
}

/// A SyncGroup answer: this member's assignment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncResponse {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
}

impl SyncResponse {
    pub(crate) fn error(error: i16) -> Self {
        Self {
            error,
            protocol_type: None,
            protocol_name: None,
            assignment: Bytes::new(),
        }
    }
}

/// One member named in a LeaveGroup (v3+ may name several, or name them by instance id).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeavingMember {
    pub member_id: String,
    pub group_instance_id: Option<String>,
}

/// A LeaveGroup answer: a group-level error and one code per leaving member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaveResponse {
    pub error: i16,
    pub members: Vec<i16>,
}

impl LeaveResponse {
    pub(crate) fn error(error: i16) -> Self {
        Self {
            error,
            members: Vec::new(),
        }
    }
}

/// A group as ListGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupListing {
    pub group_id: String,
    /// "consumer" for consumer groups; empty when unknown (a group with offsets only).
    pub protocol_type: String,
    pub state: GroupState,
}

/// A group as DescribeGroups shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub error: i16,
    pub group_id: String,
    pub state: GroupState,
    pub protocol_type: String,
    /// The chosen protocol while Stable, else empty (as Kafka).
    pub protocol_data: String,
    pub members: Vec<MemberDescription>,
}

impl GroupDescription {
    /// A group with no members: `Empty` when it has committed offsets, else `Dead`.
    pub(crate) fn without_members(group_id: &str, state: GroupState) -> Self {
        Self {
            error: errors::NONE,
            group_id: group_id.to_string(),
            state,
            protocol_type: String::new(),
            protocol_data: String::new(),
            members: Vec::new(),
        }
    }
}

/// Metadata and assignment are only filled while the group is Stable (as Kafka).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}
