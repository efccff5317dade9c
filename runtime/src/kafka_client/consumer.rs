//! Fetching one topic's partitions from their leaders: ListOffsets for start positions,
//! Fetch with a long poll, records decoded with [`weir_broker::batch::decode_records`].
//!
//! Two positions per partition: `fetched` (where the next Fetch starts) and `consumed`
//! (the next offset the caller has not yet handled), which is what a group commits. The
//! caller marks each record it prints, so stopping mid-batch commits exactly what was printed.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, anyhow};
use bytes::Bytes;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{BrokerId, FetchRequest, ListOffsetsRequest};
use kafka_protocol::records::Record;
use weir_broker::batch::{self, BatchHeader};

use super::admin::{Client, topic_name};
use super::error;

pub const EARLIEST: i64 = -2;
pub const LATEST: i64 = -1;

const PARTITION_MAX_BYTES: i32 = 1 << 20;
const FETCH_MAX_BYTES: i32 = 50 << 20;

/// ListOffsets for one partition at `timestamp` ([`EARLIEST`], [`LATEST`] or a time).
pub(crate) fn list_offsets_request(
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> ListOffsetsRequest {
    ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_topics(vec![
            ListOffsetsTopic::default()
                .with_name(topic_name(topic))
                .with_partitions(vec![
                    ListOffsetsPartition::default()
                        .with_partition_index(partition)
                        .with_current_leader_epoch(-1)
                        .with_timestamp(timestamp),
                ]),
        ])
}

/// The offset for `timestamp` (or [`EARLIEST`] / [`LATEST`]) in `partition`, asked of `node`.
pub async fn list_offset(
    client: &mut Client,
    node: i32,
    topic: &str,
    partition: i32,
    timestamp: i64,
) -> anyhow::Result<i64> {
    let request = list_offsets_request(topic, partition, timestamp);
    let what = format!("ListOffsets for {topic}-{partition}");
    let policy = client.cfg.retry;
    policy
        .run(async || {
            let (_, response) = client.conn(node).await?.send(&request).await?;
            let p = response
                .topics
                .iter()
                .flat_map(|t| &t.partitions)
                .find(|p| p.partition_index == partition)
                .ok_or_else(|| anyhow!("{what}: no answer for the partition"))?;
            error::check(p.error_code, None, &what)?;
            Ok(p.offset.max(0))
        })
        .await
}

/// One partition's state.
#[derive(Debug, Clone, Copy)]
struct Position {
    leader: i32,
    fetched: i64,
    consumed: i64,
    high_watermark: i64,
}

/// Fetches a set of partitions of one topic.
pub struct Fetcher {
    topic: String,
    positions: BTreeMap<i32, Position>,
}

impl Fetcher {
    pub fn new(topic: &str) -> Self {
        Self {
            topic: topic.to_string(),
            positions: BTreeMap::new(),
        }
    }

    /// Replaces the assignment: `starts` holds (partition, leader, first offset).
    pub fn assign(&mut self, starts: &[(i32, i32, i64)]) {
        self.positions = starts
            .iter()
            .map(|&(p, leader, offset)| {
                let pos = Position {
                    leader,
                    fetched: offset,
                    consumed: offset,
                    high_watermark: -1,
                };
                (p, pos)
            })
            .collect();
    }

    /// The next offset to hand to the caller, per partition (what a group commits).
    pub fn consumed(&self) -> BTreeMap<i32, i64> {
        self.positions
            .iter()
            .map(|(p, s)| (*p, s.consumed))
            .collect()
    }

    /// The caller has handled the record at `offset` of `partition`.
    pub fn mark(&mut self, partition: i32, offset: i64) {
        if let Some(s) = self.positions.get_mut(&partition) {
            s.consumed = s.consumed.max(offset + 1);
        }
    }

    /// Everything fetched so far was handled (skipped offsets such as control records and
    /// compacted gaps count as handled).
    pub fn mark_all_fetched(&mut self) {
        for s in self.positions.values_mut() {
            s.consumed = s.consumed.max(s.fetched);
        }
    }

    /// Whether every partition was read up to the high watermark of its last fetch.
    pub fn at_end(&self) -> bool {
        self.positions
            .values()
            .all(|s| s.high_watermark >= 0 && s.fetched >= s.high_watermark)
    }

    /// One Fetch per leader; returns the new records in offset order per partition.
    pub async fn poll(
        &mut self,
        client: &mut Client,
        max_wait: Duration,
    ) -> anyhow::Result<Vec<(i32, Record)>> {
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for (p, s) in &self.positions {
            by_leader.entry(s.leader).or_default().push(*p);
        }
        // With several leaders a long poll on one would delay the others.
        let wait = if by_leader.len() > 1 {
            Duration::from_millis(10)
        } else {
            max_wait
        };
        let mut out = Vec::new();
        for (node, partitions) in by_leader {
            let request = self.fetch_request(&partitions, wait);
            let timeout = client.cfg.request_timeout + wait;
            let conn = client.conn(node).await?;
            let (_, response) = conn.send_with_timeout(&request, timeout).await?;
            error::check(response.error_code, None, "Fetch")?;
            for t in &response.responses {
                for data in &t.partitions {
                    let p = data.partition_index;
                    let what = format!("Fetch from {}-{p}", self.topic);
                    error::check(data.error_code, None, &what)?;
                    let records = data.records.clone().unwrap_or_default();
                    self.take(p, data.high_watermark, records, &mut out)?;
                }
            }
        }
        Ok(out)
    }

    fn fetch_request(&self, partitions: &[i32], wait: Duration) -> FetchRequest {
        let partitions = partitions
            .iter()
            .filter_map(|p| {
                let s = self.positions.get(p)?;
                Some(
                    FetchPartition::default()
                        .with_partition(*p)
                        .with_current_leader_epoch(-1)
                        .with_fetch_offset(s.fetched)
                        .with_log_start_offset(-1)
                        .with_partition_max_bytes(PARTITION_MAX_BYTES),
                )
            })
            .collect();
        FetchRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_max_wait_ms(wait.as_millis().min(i32::MAX as u128) as i32)
            .with_min_bytes(1)
            .with_max_bytes(FETCH_MAX_BYTES)
            .with_session_epoch(-1)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(topic_name(&self.topic))
                    .with_partitions(partitions),
            ])
    }

    /// Decodes the whole batches of one partition's answer into `out`.
    fn take(
        &mut self,
        p: i32,
        high_watermark: i64,
        records: Bytes,
        out: &mut Vec<(i32, Record)>,
    ) -> anyhow::Result<()> {
        let Some(s) = self.positions.get_mut(&p) else {
            return Ok(());
        };
        s.high_watermark = high_watermark;
        // A broker may end the answer inside a batch (the size limit); that tail is fetched
        // again next time.
        let whole = whole_batches(&records);
        let records = records.slice(..whole);
        let Some(next) = batch::next_offset_after(&records) else {
            return Ok(());
        };
        let from = s.fetched;
        let decoded = batch::decode_records(records)
            .map_err(|e| anyhow!("cannot decode {}-{p} at offset {from}: {e}", self.topic))
            .context("the broker sent a corrupt batch")?;
        out.extend(
            decoded
                .into_iter()
                .filter(|r| r.offset >= from && !r.control)
                .map(|r| (p, r)),
        );
        s.fetched = s.fetched.max(next);
        Ok(())
    }
}

/// The length of the complete batches at the start of `bytes`.
pub(crate) fn whole_batches(bytes: &[u8]) -> usize {
    let mut at = 0;
    while let Some(h) = BatchHeader::parse(&bytes[at..]) {
        if h.check_framing(bytes.len() - at).is_err() {
            break;
        }
        at += h.total_len();
    }
    at
}
