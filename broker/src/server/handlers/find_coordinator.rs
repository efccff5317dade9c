//! FindCoordinator: this broker coordinates every group (and would every transaction).

use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};

use super::str_bytes;
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: FindCoordinatorRequest = req.decode()?;
    let node = BrokerId(ctx.config.node_id);
    let host = str_bytes(ctx.config.advertised_host.clone());
    let port = ctx.config.advertised_port;
    let response = if req.version >= 4 {
        let coordinators = request
            .coordinator_keys
            .into_iter()
            .map(|key| {
                let c = Coordinator::default().with_key(key.clone());
                if key.is_empty() {
                    c.with_error_code(errors::INVALID_GROUP_ID)
                        .with_node_id(BrokerId(-1))
                } else {
                    c.with_node_id(node).with_host(host.clone()).with_port(port)
                }
            })
            .collect();
        FindCoordinatorResponse::default().with_coordinators(coordinators)
    } else {
        FindCoordinatorResponse::default()
            .with_node_id(node)
            .with_host(host)
            .with_port(port)
    };
    req.respond(&response)
}
