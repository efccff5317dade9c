//! InitProducerId: ids for idempotent producers; an existing producer id with its epoch
//! gets the epoch bumped (KIP-360). Transactions are not supported.

use std::sync::Arc;

use kafka_protocol::messages::{InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: InitProducerIdRequest = req.decode()?;
    let out = InitProducerIdResponse::default();
    if request.transactional_id.is_some() {
        tracing::warn!(client = ?req.client_id, "transactional producer refused: transactions are not supported");
        return req.respond(
            &out.with_error_code(errors::INVALID_REQUEST)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        );
    }
    let (pid, epoch) = (request.producer_id.0, request.producer_epoch);
    let response = if pid >= 0 && (0..i16::MAX).contains(&epoch) {
        out.with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch + 1)
    } else {
        let ids = Arc::clone(&ctx.producer_ids);
        match tokio::task::spawn_blocking(move || ids.next()).await {
            Ok(Ok(id)) => out.with_producer_id(ProducerId(id)).with_producer_epoch(0),
            Ok(Err(e)) => {
                tracing::error!(error = %e, "cannot allocate a producer id");
                out.with_error_code(errors::COORDINATOR_NOT_AVAILABLE)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
            }
            Err(e) => {
                tracing::error!(error = %e, "producer id task failed");
                out.with_error_code(errors::COORDINATOR_NOT_AVAILABLE)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1)
            }
        }
    };
    req.respond(&response)
}
