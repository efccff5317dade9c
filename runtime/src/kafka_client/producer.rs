//! Produce with acks=-1: one RecordBatch v2 per request (built by
//! [`weir_broker::batch::encode_batch`]), sent to the partition's leader, retried on
//! retriable errors with fresh metadata.

use std::collections::BTreeMap;

use anyhow::{Context, anyhow};
use kafka_protocol::messages::ProduceRequest;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::records::Compression;
use weir_broker::batch::{NewRecord, encode_batch};

use super::admin::{Client, topic_name};
use super::error;

/// Sends batches to one topic.
pub struct Producer {
    client: Client,
    topic: String,
    /// partition -> leader node.
    leaders: BTreeMap<i32, i32>,
    compression: Compression,
}

impl Producer {
    /// Looks the topic up (the broker may auto-create it) and returns the producer and the
    /// topic's partition count.
    pub async fn new(
        mut client: Client,
        topic: &str,
        compression: Compression,
    ) -> anyhow::Result<(Self, i32)> {
        let meta = client.topic(topic, true).await?;
        let count = meta.partitions.len() as i32;
        let producer = Self {
            client,
            topic: topic.to_string(),
            leaders: meta.partitions.into_iter().collect(),
            compression,
        };
        Ok((producer, count))
    }

    /// Sends `records` to `partition` and waits for every in-sync replica (acks=-1).
    pub async fn send(&mut self, partition: i32, records: &[NewRecord]) -> anyhow::Result<()> {
        let batch = encode_batch(records, self.compression)
            .map_err(|e| anyhow!("cannot encode a batch for {}-{partition}: {e}", self.topic))?;
        let request = ProduceRequest::default()
            .with_acks(-1)
            .with_timeout_ms(30_000)
            .with_topic_data(vec![
                TopicProduceData::default()
                    .with_name(topic_name(&self.topic))
                    .with_partition_data(vec![
                        PartitionProduceData::default()
                            .with_index(partition)
                            .with_records(Some(batch)),
                    ]),
            ]);
        let what = format!("Produce to {}-{partition}", self.topic);
        let policy = self.client.cfg.retry;
        let mut first = true;
        policy
            .run(async || {
                if !first {
                    // A retriable error may mean the leader moved: look again.
                    let meta = self.client.topic(&self.topic, false).await?;
                    self.leaders = meta.partitions.into_iter().collect();
                }
                first = false;
                let node = *self
                    .leaders
                    .get(&partition)
                    .ok_or_else(|| anyhow!("{} has no partition {partition}", self.topic))?;
                let conn = self.client.conn(node).await?;
                let (_, response) = conn.send(&request).await?;
                let p = response
                    .responses
                    .iter()
                    .flat_map(|t| &t.partition_responses)
                    .find(|p| p.index == partition)
                    .ok_or_else(|| anyhow!("{what}: the broker did not answer for it"))?;
                error::check(p.error_code, p.error_message.as_deref(), &what)?;
                Ok(())
            })
            .await
            .with_context(|| format!("cannot produce {} records", records.len()))
    }
}
