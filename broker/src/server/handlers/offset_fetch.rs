//! OffsetFetch: committed offsets of a group (v8+: of several groups), -1 where none.

use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{OffsetFetchRequest, OffsetFetchResponse};

use super::{str_bytes, topic_name};
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

/// (topic, [(partition, offset, metadata, error)]) for a group.
type Found = Vec<(String, Vec<(i32, i64, String, i16)>)>;

fn lookup(ctx: &Context, group: &str, topics: Option<Vec<(String, Vec<i32>)>>) -> Found {
    match topics {
        Some(topics) => topics
            .into_iter()
            .map(|(topic, parts)| {
                // No commit (or no such topic): offset -1, no error, as Kafka answers.
                let rows = parts
                    .into_iter()
                    .map(|p| match ctx.broker.committed(group, &topic, p) {
                        Some(c) => (p, c.offset, c.metadata, errors::NONE),
                        None => (p, -1, String::new(), errors::NONE),
                    })
                    .collect();
                (topic, rows)
            })
            .collect(),
        None => {
            // Every partition the group has committed.
            let mut out: Found = Vec::new();
            for (k, c) in ctx.broker.group_offsets(group) {
                match out.last_mut() {
                    Some((t, rows)) if *t == k.topic => {
                        rows.push((k.partition, c.offset, c.metadata, errors::NONE))
                    }
                    _ => out.push((
                        k.topic,
                        vec![(k.partition, c.offset, c.metadata, errors::NONE)],
                    )),
                }
            }
            out
        }
    }
}

/// Builds the response topics of either layout (v0-7 or v8+) from what was found.
fn topics<P, T>(
    found: Found,
    partition: impl Fn(i32, i64, String, i16) -> P,
    topic: impl Fn(String, Vec<P>) -> T,
) -> Vec<T> {
    found
        .into_iter()
        .map(|(name, rows)| {
            let parts = rows
                .into_iter()
                .map(|(p, offset, metadata, code)| partition(p, offset, metadata, code))
                .collect();
            topic(name, parts)
        })
        .collect()
}

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: OffsetFetchRequest = req.decode()?;
    if req.version >= 8 {
        let groups = request
            .groups
            .iter()
            .map(|g| {
                let wanted = g.topics.as_ref().map(|ts| {
                    ts.iter()
                        .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
                        .collect()
                });
                let found = lookup(ctx, g.group_id.as_str(), wanted);
                let topics = topics(
                    found,
                    |p, offset, metadata, code| {
                        OffsetFetchResponsePartitions::default()
                            .with_partition_index(p)
                            .with_committed_offset(offset)
                            .with_committed_leader_epoch(-1)
                            .with_metadata(Some(str_bytes(metadata)))
                            .with_error_code(code)
                    },
                    |name, partitions| {
                        OffsetFetchResponseTopics::default()
                            .with_name(topic_name(name))
                            .with_partitions(partitions)
                    },
                );
                OffsetFetchResponseGroup::default()
                    .with_group_id(g.group_id.clone())
                    .with_topics(topics)
            })
            .collect();
        return req.respond(&OffsetFetchResponse::default().with_groups(groups));
    }
    let wanted = request.topics.as_ref().map(|ts| {
        ts.iter()
            .map(|t| (t.name.to_string(), t.partition_indexes.clone()))
            .collect()
    });
    let found = lookup(ctx, request.group_id.as_str(), wanted);
    let topics = topics(
        found,
        |p, offset, metadata, code| {
            OffsetFetchResponsePartition::default()
                .with_partition_index(p)
                .with_committed_offset(offset)
                .with_committed_leader_epoch(-1)
                .with_metadata(Some(str_bytes(metadata)))
                .with_error_code(code)
        },
        |name, partitions| {
            OffsetFetchResponseTopic::default()
                .with_name(topic_name(name))
                .with_partitions(partitions)
        },
    );
    req.respond(&OffsetFetchResponse::default().with_topics(topics))
}
