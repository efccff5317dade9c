//! SyncGroup: the leader hands in the assignment; every member gets its own share.

use kafka_protocol::messages::{SyncGroupRequest, SyncGroupResponse};

use super::str_bytes;
use crate::coordinator::SyncRequest;
use crate::server::Context;
use crate::server::api::{Answer, Request};

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: SyncGroupRequest = req.decode()?;
    let sync = SyncRequest {
        group_id: request.group_id.to_string(),
        member_id: request.member_id.to_string(),
        group_instance_id: request.group_instance_id.map(|i| i.to_string()),
        generation_id: request.generation_id,
        protocol_type: request.protocol_type.map(|p| p.to_string()),
        protocol_name: request.protocol_name.map(|p| p.to_string()),
        assignments: request
            .assignments
            .into_iter()
            .map(|a| (a.member_id.to_string(), a.assignment))
            .collect(),
    };
    let out = ctx.groups.sync(sync).await;
    let mut response = SyncGroupResponse::default()
        .with_error_code(out.error)
        .with_assignment(out.assignment);
    if req.version >= 5 {
        response = response
            .with_protocol_type(out.protocol_type.map(str_bytes))
            .with_protocol_name(out.protocol_name.map(str_bytes));
    }
    req.respond(&response)
}
