//! Produce: append each partition's record batches as sent; acks=0 gets no response.

use std::sync::Arc;

use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::ProduceResponse;
use kafka_protocol::messages::produce_response::{PartitionProduceResponse, TopicProduceResponse};

use super::str_bytes;
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

const INVALID_REQUIRED_ACKS: i16 = 21;

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: ProduceRequest = req.decode()?;
    let acks = request.acks;
    let transactional = request.transactional_id.is_some();
    let broker = Arc::clone(&ctx.broker);
    // Appends may fsync (flush.messages): run them off the async threads, all at once.
    let appended = tokio::task::spawn_blocking(move || {
        request
            .topic_data
            .into_iter()
            .map(|t| {
                let topic = t.name.to_string();
                let partitions = t
                    .partition_data
                    .into_iter()
                    .map(|p| {
                        let out = PartitionProduceResponse::default().with_index(p.index);
                        if !matches!(acks, -1..=1) {
                            return out.with_error_code(INVALID_REQUIRED_ACKS);
                        }
                        if transactional {
                            return out.with_error_code(errors::INVALID_REQUEST).with_error_message(
                                Some(str_bytes("transactional producers are not supported by weir")),
                            );
                        }
                        let Some(records) = p.records else {
                            return out.with_error_code(errors::CORRUPT_MESSAGE);
                        };
                        match broker.append(&topic, p.index, &records) {
                            Ok(info) => {
                                let start = broker
                                    .list_offset(&topic, p.index, crate::OffsetSpec::Earliest)
                                    .ok()
                                    .flatten()
                                    .map_or(-1, |(o, _)| o);
                                out.with_base_offset(info.base_offset)
                                    .with_log_append_time_ms(-1)
                                    .with_log_start_offset(start)
                            }
                            Err(e) => {
                                tracing::debug!(topic = %topic, partition = p.index, error = %e, "produce refused");
                                out.with_error_code(errors::code(&e))
                                    .with_error_message(Some(str_bytes(e.to_string())))
                                    .with_base_offset(-1)
                                    .with_log_append_time_ms(-1)
                                    .with_log_start_offset(-1)
                            }
                        }
                    })
                    .collect();
                TopicProduceResponse::default()
                    .with_name(t.name)
                    .with_partition_responses(partitions)
            })
            .collect::<Vec<_>>()
    })
    .await;
    let responses = match appended {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "produce task failed");
            return Ok(None);
        }
    };
    if acks == 0 {
        return Ok(None);
    }
    req.respond(&ProduceResponse::default().with_responses(responses))
}
