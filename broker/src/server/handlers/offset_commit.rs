//! OffsetCommit: validated against the group's generation, then made durable in
//! `__consumer_offsets` before the answer.

use std::sync::Arc;

use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{OffsetCommitRequest, OffsetCommitResponse};

use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: OffsetCommitRequest = req.decode()?;
    let group = request.group_id.to_string();
    let group_error = if group.is_empty() {
        errors::INVALID_GROUP_ID
    } else {
        ctx.groups.validate_commit(
            &group,
            request.member_id.as_str(),
            request.generation_id_or_member_epoch,
        )
    };
    let mut commits = Vec::new();
    let mut codes: Vec<Vec<i16>> = Vec::new();
    for t in &request.topics {
        let topic = t.name.to_string();
        let count = ctx.broker.partition_count(&topic);
        codes.push(
            t.partitions
                .iter()
                .map(|p| {
                    if group_error != errors::NONE {
                        return group_error;
                    }
                    if !count.is_some_and(|n| (0..n).contains(&p.partition_index)) {
                        return errors::UNKNOWN_TOPIC_OR_PARTITION;
                    }
                    let metadata = p
                        .committed_metadata
                        .as_ref()
                        .map(|m| m.to_string())
                        .unwrap_or_default();
                    commits.push((
                        topic.clone(),
                        p.partition_index,
                        p.committed_offset,
                        metadata,
                    ));
                    errors::NONE
                })
                .collect(),
        );
    }
    if !commits.is_empty() {
        let broker = Arc::clone(&ctx.broker);
        let g = group.clone();
        let stored = tokio::task::spawn_blocking(move || broker.commit_offsets(&g, &commits))
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r.map_err(|e| e.to_string()));
        if let Err(e) = stored {
            tracing::error!(group = %group, error = %e, "cannot store committed offsets");
            for c in codes.iter_mut().flatten() {
                if *c == errors::NONE {
                    *c = errors::COORDINATOR_NOT_AVAILABLE;
                }
            }
        }
    }
    let topics = request
        .topics
        .iter()
        .zip(codes)
        .map(|(t, codes)| {
            let partitions = t
                .partitions
                .iter()
                .zip(codes)
                .map(|(p, code)| {
                    OffsetCommitResponsePartition::default()
                        .with_partition_index(p.partition_index)
                        .with_error_code(code)
                })
                .collect();
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    req.respond(&OffsetCommitResponse::default().with_topics(topics))
}
