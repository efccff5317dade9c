//! CreateTopics: partitions, replication factor 1 (a single broker), and config overrides,
//! each validated with every error named.

use std::collections::BTreeMap;

use kafka_protocol::messages::create_topics_response::CreatableTopicResult;
use kafka_protocol::messages::{CreateTopicsRequest, CreateTopicsResponse};

use super::{str_bytes, topic_uuid};
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};
use crate::topic::validate_topic_name;

const INVALID_REPLICATION_FACTOR: i16 = 38;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;

/// Every bad config override, in one message (Kafka reports one; naming all saves rounds).
fn config_errors(ctx: &Context, configs: &BTreeMap<String, String>) -> Option<String> {
    let errors = ctx.broker.validate_topic_configs(configs);
    if errors.is_empty() {
        return None;
    }
    let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
    Some(all.join("; "))
}

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: CreateTopicsRequest = req.decode()?;
    let mut results = Vec::new();
    for t in &request.topics {
        let name = t.name.to_string();
        let out = CreatableTopicResult::default().with_name(t.name.clone());
        let partitions = if t.num_partitions == -1 {
            ctx.config.num_partitions
        } else {
            t.num_partitions
        };
        let configs: BTreeMap<String, String> = t
            .configs
            .iter()
            .filter_map(|c| Some((c.name.to_string(), c.value.as_ref()?.to_string())))
            .collect();
        let refused = |code: i16, message: String| {
            out.clone()
                .with_error_code(code)
                .with_error_message(Some(str_bytes(message)))
                .with_num_partitions(-1)
                .with_replication_factor(-1)
        };
        let result = if let Err(e) = validate_topic_name(&name) {
            refused(errors::code(&e), e.to_string())
        } else if !matches!(t.replication_factor, -1 | 1) {
            refused(
                INVALID_REPLICATION_FACTOR,
                format!(
                    "replication factor {} is larger than the 1 available broker",
                    t.replication_factor
                ),
            )
        } else if !t.assignments.is_empty() {
            refused(
                INVALID_REPLICA_ASSIGNMENT,
                "manual replica assignment is not supported by a single broker".to_string(),
            )
        } else if let Some(message) = config_errors(ctx, &configs) {
            refused(errors::INVALID_CONFIG, message)
        } else if request.validate_only {
            if ctx.broker.partition_count(&name).is_some() {
                refused(
                    errors::TOPIC_ALREADY_EXISTS,
                    format!("topic {name} already exists"),
                )
            } else {
                out.clone()
                    .with_num_partitions(partitions)
                    .with_replication_factor(1)
            }
        } else {
            match ctx.broker.create_topic(&name, partitions, configs) {
                Ok(()) => {
                    let id = ctx
                        .broker
                        .describe_topic(&name)
                        .map(|d| topic_uuid(&d.topic_id))
                        .unwrap_or_default();
                    out.clone()
                        .with_topic_id(id)
                        .with_num_partitions(partitions)
                        .with_replication_factor(1)
                }
                Err(e) => refused(errors::code(&e), e.to_string()),
            }
        };
        results.push(result);
    }
    req.respond(&CreateTopicsResponse::default().with_topics(results))
}
