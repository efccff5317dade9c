//! CreatePartitions: grow a topic (never shrink it).

use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{CreatePartitionsRequest, CreatePartitionsResponse};

use super::str_bytes;
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: CreatePartitionsRequest = req.decode()?;
    let results = request
        .topics
        .iter()
        .map(|t| {
            let name = t.name.as_str();
            let out = CreatePartitionsTopicResult::default().with_name(t.name.clone());
            let current = ctx.broker.partition_count(name);
            let outcome = match current {
                None => Err((
                    errors::UNKNOWN_TOPIC_OR_PARTITION,
                    format!("unknown topic {name}"),
                )),
                Some(n) if t.count <= n => Err((
                    errors::INVALID_PARTITIONS,
                    format!(
                        "topic {name} has {n} partitions; the new count {} must be larger",
                        t.count
                    ),
                )),
                Some(_) if request.validate_only => Ok(()),
                Some(_) => ctx
                    .broker
                    .create_partitions(name, t.count)
                    .map_err(|e| (errors::code(&e), e.to_string())),
            };
            match outcome {
                Ok(()) => out,
                Err((code, message)) => out
                    .with_error_code(code)
                    .with_error_message(Some(str_bytes(message))),
            }
        })
        .collect();
    req.respond(&CreatePartitionsResponse::default().with_results(results))
}
