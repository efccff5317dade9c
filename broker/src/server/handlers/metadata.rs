//! Metadata: brokers (just this one), topics and partitions, with auto-creation.

use std::collections::BTreeMap;

use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{BrokerId, MetadataRequest, MetadataResponse};

use super::{str_bytes, topic_name, topic_uuid};
use crate::error::Error;
use crate::groups::OFFSETS_TOPIC;
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

/// Kafka's AclOperation codes as a bit set: READ 3, WRITE 4, CREATE 5, DELETE 6, ALTER 7,
/// DESCRIBE 8, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11.
const TOPIC_OPERATIONS: i32 =
    1 << 3 | 1 << 4 | 1 << 5 | 1 << 6 | 1 << 7 | 1 << 8 | 1 << 10 | 1 << 11;
/// CREATE 5, ALTER 7, DESCRIBE 8, CLUSTER_ACTION 9, DESCRIBE_CONFIGS 10, ALTER_CONFIGS 11,
/// IDEMPOTENT_WRITE 12.
const CLUSTER_OPERATIONS: i32 = 1 << 5 | 1 << 7 | 1 << 8 | 1 << 9 | 1 << 10 | 1 << 11 | 1 << 12;

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: MetadataRequest = req.decode()?;
    let names: Vec<String> = match &request.topics {
        // v0 has no null: an empty list means every topic.
        Some(t) if !(t.is_empty() && req.version == 0) => t
            .iter()
            .filter_map(|t| t.name.as_ref().map(|n| n.to_string()))
            .collect(),
        _ => ctx.broker.topics(),
    };
    // v4+ says whether the client allows auto-creation; older versions always do.
    let allow_create = request.allow_auto_topic_creation || req.version < 4;
    // Without an authorizer every operation is allowed; clients that ask (v8+) get the bits
    // Kafka would send for a fully authorized principal rather than "not provided".
    let topic_ops = (req.version >= 8 && request.include_topic_authorized_operations)
        .then_some(TOPIC_OPERATIONS);
    let topics = names
        .iter()
        .map(|name| {
            let t = topic(ctx, name, allow_create && ctx.config.auto_create_topics);
            match topic_ops {
                Some(ops) if t.error_code == errors::NONE => {
                    t.with_topic_authorized_operations(ops)
                }
                _ => t,
            }
        })
        .collect();
    let broker = MetadataResponseBroker::default()
        .with_node_id(BrokerId(ctx.config.node_id))
        .with_host(str_bytes(ctx.config.advertised_host.clone()))
        .with_port(ctx.config.advertised_port);
    let mut response = MetadataResponse::default()
        .with_brokers(vec![broker])
        .with_controller_id(BrokerId(ctx.config.node_id))
        .with_topics(topics);
    if req.version >= 2 {
        response = response.with_cluster_id(Some(str_bytes(ctx.config.cluster_id.clone())));
    }
    if (8..=10).contains(&req.version) && request.include_cluster_authorized_operations {
        response = response.with_cluster_authorized_operations(CLUSTER_OPERATIONS);
    }
    req.respond(&response)
}

fn topic(ctx: &Context, name: &str, create: bool) -> MetadataResponseTopic {
    let mut description = ctx.broker.describe_topic(name);
    if create && matches!(description, Err(Error::UnknownTopic(_))) {
        match ctx
            .broker
            .create_topic(name, ctx.config.num_partitions, BTreeMap::new())
        {
            Ok(()) | Err(Error::TopicExists(_)) => {
                tracing::info!(topic = name, "topic auto-created by a metadata request");
            }
            Err(e) => tracing::warn!(topic = name, error = %e, "cannot auto-create topic"),
        }
        description = ctx.broker.describe_topic(name);
    }
    let out = MetadataResponseTopic::default().with_name(Some(topic_name(name)));
    match description {
        Ok(d) => {
            let node = BrokerId(ctx.config.node_id);
            let partitions = d
                .partitions
                .iter()
                .map(|p| {
                    MetadataResponsePartition::default()
                        .with_partition_index(p.partition)
                        .with_leader_id(node)
                        .with_leader_epoch(0)
                        .with_replica_nodes(vec![node])
                        .with_isr_nodes(vec![node])
                })
                .collect();
            out.with_topic_id(topic_uuid(&d.topic_id))
                .with_is_internal(name == OFFSETS_TOPIC)
                .with_partitions(partitions)
        }
        Err(e @ Error::InvalidTopicName { .. }) => out.with_error_code(errors::code(&e)),
        Err(_) => out.with_error_code(errors::UNKNOWN_TOPIC_OR_PARTITION),
    }
}
