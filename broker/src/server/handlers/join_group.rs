//! JoinGroup: joins (or rejoins) a consumer group; the answer waits for the rebalance.

use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{JoinGroupRequest, JoinGroupResponse};

use super::str_bytes;
use crate::coordinator::{JoinRequest, Protocol};
use crate::server::Context;
use crate::server::api::{Answer, Request};

/// What DescribeGroups shows as a member's host. The request does not carry the peer
/// address (yet), and weir listens on loopback by default.
const CLIENT_HOST: &str = "/127.0.0.1";

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: JoinGroupRequest = req.decode()?;
    let v = req.version;
    let join = JoinRequest {
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.as_ref().map(|i| i.to_string()),
        client_id: req.client_id.clone().unwrap_or_default(),
        client_host: CLIENT_HOST.to_string(),
        session_timeout_ms: request.session_timeout_ms,
        // v0 has no rebalance timeout: the session timeout serves for both (as in Kafka).
        rebalance_timeout_ms: if v >= 1 && request.rebalance_timeout_ms > 0 {
            request.rebalance_timeout_ms
        } else {
            request.session_timeout_ms
        },
        protocol_type: request.protocol_type.to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| Protocol {
                name: p.name.to_string(),
                metadata: p.metadata,
            })
            .collect(),
        // KIP-394; a static member is known by its instance id and skips the round trip.
        require_known_member_id: v >= 4 && request.group_instance_id.is_none(),
    };
    let out = ctx.groups.join(join).await;
    let members = out
        .members
        .into_iter()
        .map(|m| {
            JoinGroupResponseMember::default()
                .with_member_id(str_bytes(m.member_id))
                .with_group_instance_id(m.group_instance_id.map(str_bytes))
                .with_metadata(m.metadata)
        })
        .collect();
    let mut response = JoinGroupResponse::default()
        .with_error_code(out.error)
        .with_generation_id(out.generation_id)
        .with_leader(str_bytes(out.leader))
        .with_member_id(str_bytes(out.member_id))
        .with_members(members);
    response = if v >= 7 {
        response
            .with_protocol_type(out.protocol_type.map(str_bytes))
            .with_protocol_name(out.protocol_name.map(str_bytes))
    } else {
        // Not nullable before v7: Kafka sends an empty name.
        response.with_protocol_name(Some(str_bytes(out.protocol_name.unwrap_or_default())))
    };
    req.respond(&response)
}
