//! Fetch: stored batches returned unchanged, with Kafka's long poll (`min_bytes`,
//! `max_wait_ms`) woken by appends rather than by polling.

use std::time::{Duration, Instant};

use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
use kafka_protocol::messages::{FetchRequest, FetchResponse};

use crate::error::Error;
use crate::server::api::{Answer, Request};
use crate::server::{Context, errors};

pub async fn handle(ctx: &Context, req: Request) -> Answer {
    let request: FetchRequest = req.decode()?;
    let deadline = Instant::now()
        + Duration::from_millis(request.max_wait_ms.max(0) as u64).min(ctx.config.fetch_max_wait);
    let min_bytes = request.min_bytes.max(0) as usize;
    let max_bytes = if request.max_bytes > 0 {
        request.max_bytes as usize
    } else {
        usize::MAX
    };
    let mut appends = ctx.broker.subscribe_appends();
    loop {
        // Mark the current count seen before reading, so an append that lands between the
        // read and the wait still wakes us.
        appends.borrow_and_update();
        let (topics, bytes, failed) = read(ctx, &request, max_bytes);
        let now = Instant::now();
        if bytes >= min_bytes.max(1) || failed || now >= deadline {
            let response = FetchResponse::default().with_responses(topics);
            return req.respond(&response);
        }
        let wait = deadline - now;
        if tokio::time::timeout(wait, appends.changed()).await.is_err() {
            // Timed out: answer with what there is (nothing new arrived).
            let (topics, _, _) = read(ctx, &request, max_bytes);
            return req.respond(&FetchResponse::default().with_responses(topics));
        }
    }
}

/// Reads every requested partition once; returns the response topics, the bytes found, and
/// whether any partition answered with an error (which ends the long poll).
fn read(
    ctx: &Context,
    request: &FetchRequest,
    max_bytes: usize,
) -> (Vec<FetchableTopicResponse>, usize, bool) {
    let mut total = 0usize;
    let mut failed = false;
    let topics = request
        .topics
        .iter()
        .map(|t| {
            let topic = t.topic.to_string();
            let partitions = t
                .partitions
                .iter()
                .map(|p| {
                    let out = PartitionData::default().with_partition_index(p.partition);
                    // Past the response limit, later partitions get no data this time; the
                    // first batch found is always returned whole (KIP-74).
                    let budget = if total == 0 {
                        (p.partition_max_bytes.max(0) as usize).min(max_bytes)
                    } else {
                        (p.partition_max_bytes.max(0) as usize).min(max_bytes.saturating_sub(total))
                    };
                    let data = if total > 0 && budget == 0 {
                        ctx.broker.watermarks(&topic, p.partition).map(
                            |(log_start, high_watermark)| crate::FetchData {
                                records: bytes::Bytes::new(),
                                high_watermark,
                                log_start,
                            },
                        )
                    } else {
                        ctx.broker
                            .fetch(&topic, p.partition, p.fetch_offset, budget.max(1))
                    };
                    match data {
                        Ok(d) => {
                            total += d.records.len();
                            out.with_high_watermark(d.high_watermark)
                                .with_last_stable_offset(d.high_watermark)
                                .with_log_start_offset(d.log_start)
                                .with_records(Some(d.records))
                        }
                        Err(e) => {
                            failed = true;
                            let (hw, start) = match &e {
                                Error::OffsetOutOfRange {
                                    log_start, log_end, ..
                                } => (*log_end, *log_start),
                                _ => (-1, -1),
                            };
                            out.with_error_code(errors::code(&e))
                                .with_high_watermark(hw)
                                .with_last_stable_offset(hw)
                                .with_log_start_offset(start)
                                .with_records(Some(bytes::Bytes::new()))
                        }
                    }
                })
                .collect();
            FetchableTopicResponse::default()
                .with_topic(t.topic.clone())
                .with_partitions(partitions)
        })
        .collect();
    (topics, total, failed)
}
