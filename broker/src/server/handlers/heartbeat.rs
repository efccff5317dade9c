//! Heartbeat: keeps a member's session alive; REBALANCE_IN_PROGRESS tells it to rejoin.

use kafka_protocol::messages::{HeartbeatRequest, HeartbeatResponse};

use crate::server::Context;
use crate::server::api::{Answer, Request};

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: HeartbeatRequest = req.decode()?;
    let error = ctx.groups.heartbeat(
        request.group_id.as_str(),
        request.member_id.as_str(),
        request.group_instance_id.as_deref(),
        request.generation_id,
    );
    req.respond(&HeartbeatResponse::default().with_error_code(error))
}
