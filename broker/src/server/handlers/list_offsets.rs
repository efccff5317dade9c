//! ListOffsets: earliest (-2), latest (-1), max timestamp (-3), or the first offset at or
//! after a timestamp.

use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ListOffsetsRequest, ListOffsetsResponse};

use crate::log::OffsetSpec;
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

const LATEST: i64 = -1;
const EARLIEST: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL: i64 = -4;
const LATEST_TIERED: i64 = -5;

fn lookup(
    ctx: &Context,
    topic: &str,
    partition: i32,
    ts: i64,
) -> crate::Result<Option<(i64, i64)>> {
    let spec = match ts {
        LATEST | LATEST_TIERED => OffsetSpec::Latest,
        EARLIEST | EARLIEST_LOCAL => OffsetSpec::Earliest,
        MAX_TIMESTAMP => {
            // The record with the largest timestamp: the first one at that timestamp.
            return match ctx.broker.max_timestamp(topic, partition)? {
                Some(max) => ctx
                    .broker
                    .list_offset(topic, partition, OffsetSpec::Timestamp(max)),
                None => Ok(None),
            };
        }
        ts => OffsetSpec::Timestamp(ts),
    };
    ctx.broker.list_offset(topic, partition, spec)
}

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: ListOffsetsRequest = req.decode()?;
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let topic = t.name.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let mut out = ListOffsetsPartitionResponse::default()
                        .with_partition_index(p.partition_index);
                    if req.version >= 4 {
                        out = out.with_leader_epoch(0);
                    }
                    match lookup(ctx, &topic, p.partition_index, p.timestamp) {
                        Ok(Some((offset, timestamp))) => {
                            out.with_offset(offset).with_timestamp(timestamp)
                        }
                        Ok(None) => out.with_offset(-1).with_timestamp(-1),
                        Err(e) => out
                            .with_error_code(errors::code(&e))
                            .with_offset(-1)
                            .with_timestamp(-1),
                    }
                })
                .collect();
            ListOffsetsTopicResponse::default()
                .with_name(t.name.clone())
                .with_partitions(partitions)
        })
        .collect();
    req.respond(&ListOffsetsResponse::default().with_topics(topics))
}
