//! Produce: append each partition's record batches as sent; acks=0 gets no response.

use std::sync::Arc;

use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::messages::produce_request::PartitionProduceData;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};

use super::str_bytes;
use crate::broker::Broker;
use crate::server::api::{Answer, ProtocolError, Request};
use crate::server::{Context, errors};

const INVALID_REQUIRED_ACKS: i16 = 21;

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: ProduceRequest = req.decode()?;
    let acks = request.acks;
    // An append that fsyncs (flush.messages) must not block an async thread; one that only
    // writes to the page cache is cheaper inline than a hop to the blocking pool.
    let syncs = request
        .topic_data
        .iter()
        .any(|t| ctx.broker.syncs_on_append(t.name.as_str()));
    let responses = if syncs {
        let broker = Arc::clone(&ctx.broker);
        match tokio::task::spawn_blocking(move || append_all(&broker, request)).await {
            Ok(r) => r,
            Err(e) => {
                return Err(ProtocolError::Internal(format!("produce task failed: {e}")));
            }
        }
    } else {
        append_all(&ctx.broker, request)
    };
    if acks == 0 {
        return Ok(None);
    }
    req.respond(&ProduceResponse::default().with_responses(responses))
}

fn append_all(broker: &Broker, request: ProduceRequest) -> Vec<TopicProduceResponse> {
    let acks = request.acks;
    let transactional = request.transactional_id.is_some();
    request
        .topic_data
        .into_iter()
        .map(|t| {
            let topic = t.name.to_string();
            let partitions = t
                .partition_data
                .into_iter()
                .map(|p| append_one(broker, &topic, p, acks, transactional))
                .collect();
            TopicProduceResponse::default()
                .with_name(t.name)
                .with_partition_responses(partitions)
        })
        .collect()
}

fn append_one(
    broker: &Broker,
    topic: &str,
    p: PartitionProduceData,
    acks: i16,
    transactional: bool,
) -> PartitionProduceResponse {
    let out = PartitionProduceResponse::default().with_index(p.index);
    if !matches!(acks, -1..=1) {
        return out.with_error_code(INVALID_REQUIRED_ACKS);
    }
    if transactional {
        return out
            .with_error_code(errors::INVALID_REQUEST)
            .with_error_message(Some(str_bytes(
                "transactional producers are not supported by weir",
            )));
    }
    let Some(records) = p.records else {
        return out.with_error_code(errors::CORRUPT_MESSAGE);
    };
    match broker.append(topic, p.index, &records) {
        Ok(info) => out
            .with_base_offset(info.base_offset)
            .with_log_append_time_ms(-1)
            .with_log_start_offset(info.log_start),
        Err(e) => {
            tracing::debug!(topic, partition = p.index, error = %e, "produce refused");
            out.with_error_code(errors::code(&e))
                .with_error_message(Some(str_bytes(e.to_string())))
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1)
        }
    }
}
