//! Idempotent produce: one producer id per worker, a sequence number per partition, one
//! batch in flight per partition.

use std::time::Instant;

use anyhow::anyhow;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{InitProducerIdRequest, ProduceRequest, ProducerId};
use kafka_protocol::records::Compression;
use weir_broker::batch::{NewRecord, ProducerStamp, encode_batch_as};

use super::*;

impl KafkaLog {
    /// The worker's producer id and epoch, asked for once (InitProducerId).
    async fn producer_id(&self) -> anyhow::Result<(i64, i16)> {
        let mut current = self.producer.lock().await;
        if let Some(p) = *current {
            return Ok(p);
        }
        let response = self
            .retry("cannot get a producer id", CALL_DEADLINE, || {
                Box::pin(async move {
                    let r = self
                        .call(ANY, self.cfg.request_timeout, |_| {
                            InitProducerIdRequest::default()
                                .with_transactional_id(None)
                                .with_transaction_timeout_ms(60_000)
                                .with_producer_id(ProducerId(-1))
                                .with_producer_epoch(-1)
                        })
                        .await?;
                    error::check(r.error_code, None, "InitProducerId")?;
                    Ok(r)
                })
            })
            .await?;
        let p = (response.producer_id.0, response.producer_epoch);
        tracing::debug!(producer_id = p.0, epoch = p.1, "idempotent producer ready");
        *current = Some(p);
        Ok(p)
    }

    /// Forgets `stale` so the next append asks for a new producer id.
    async fn reset_producer(&self, stale: i64) {
        let mut current = self.producer.lock().await;
        if current.is_some_and(|(id, _)| id == stale) {
            *current = None;
        }
    }

    fn sequence_slot(&self, topic: &str, partition: i32) -> SequenceSlot {
        Arc::clone(
            lock(&self.sequences)
                .entry((topic.to_string(), partition))
                .or_default(),
        )
    }

    /// Appends `records` to the partition; returns the first one's offset.
    pub async fn append(&self, topic: &str, partition: i32, records: &[NewRecord]) -> Result<i64> {
        let slot = self.sequence_slot(topic, partition);
        // One batch in flight per partition keeps the sequence numbers in order.
        let mut seq = slot.lock().await;
        let mut first = None;
        let mut rest = records;
        while !rest.is_empty() {
            // A batch never spans the sequence number's wrap.
            let room = (i64::from(i32::MAX) - i64::from(seq.next) + 1).max(1) as usize;
            let (chunk, tail) = rest.split_at(rest.len().min(room));
            let base = self
                .produce(topic, partition, chunk, &mut seq)
                .await
                .map_err(|e| {
                    LogError::Kafka(format!("cannot append to {topic}-{partition}: {e:#}"))
                })?;
            first.get_or_insert(base);
            rest = tail;
        }
        Ok(first.unwrap_or(-1))
    }

    async fn produce(
        &self,
        topic: &str,
        partition: i32,
        records: &[NewRecord],
        seq: &mut Sequence,
    ) -> anyhow::Result<i64> {
        let give_up = Instant::now() + APPEND_DEADLINE;
        let mut backoff = self.cfg.retry.initial_backoff;
        loop {
            let (producer_id, epoch) = self.producer_id().await?;
            if seq.producer_id != producer_id {
                *seq = Sequence {
                    producer_id,
                    next: 0,
                };
            }
            let stamp = ProducerStamp {
                producer_id,
                epoch,
                base_sequence: seq.next,
            };
            let batch = encode_batch_as(records, Compression::None, Some(stamp))
                .map_err(|e| anyhow!("cannot encode a batch: {e}"))?;
            let batch = &batch;
            let sent = self
                .retry(
                    &format!("Produce to {topic}-{partition}"),
                    give_up.saturating_duration_since(Instant::now()),
                    || {
                        Box::pin(async move {
                            let node = self.leader(topic, partition).await?;
                            let response = self
                                .call(node, self.cfg.request_timeout, |_| {
                                    ProduceRequest::default()
                                        .with_acks(-1)
                                        .with_timeout_ms(30_000)
                                        .with_topic_data(vec![
                                            TopicProduceData::default()
                                                .with_name(topic_name(topic))
                                                .with_partition_data(vec![
                                                    PartitionProduceData::default()
                                                        .with_index(partition)
                                                        .with_records(Some(batch.clone())),
                                                ]),
                                        ])
                                })
                                .await?;
                            let p = response
                                .responses
                                .iter()
                                .flat_map(|t| &t.partition_responses)
                                .find(|p| p.index == partition)
                                .ok_or_else(|| {
                                    anyhow!("the broker did not answer for the partition")
                                })?;
                            match p.error_code {
                                error::NONE | DUPLICATE_SEQUENCE_NUMBER => Ok(Ok(p.base_offset)),
                                OUT_OF_ORDER_SEQUENCE_NUMBER
                                | UNKNOWN_PRODUCER_ID
                                | INVALID_PRODUCER_EPOCH
                                | INVALID_PRODUCER_ID_MAPPING => Ok(Err(p.error_code)),
                                code => {
                                    if KafkaError::new(code, String::new()).retriable() {
                                        lock(&self.meta).leaders.remove(topic);
                                    }
                                    error::check(code, p.error_message.as_deref(), "Produce")?;
                                    Ok(Ok(p.base_offset))
                                }
                            }
                        })
                    },
                )
                .await;
            match sent {
                Ok(Ok(base)) => {
                    let n = records.len() as i64;
                    seq.next = ((i64::from(seq.next) + n) % (i64::from(i32::MAX) + 1)) as i32;
                    return Ok(base);
                }
                Ok(Err(code)) if Instant::now() + backoff < give_up => {
                    // The cluster lost this producer's state: start over with a new id.
                    tracing::warn!(topic, partition, error = %KafkaError::new(code, "Produce".into()),
                        "the cluster refused the producer's sequence; continuing with a new producer id");
                    self.reset_producer(producer_id).await;
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.cfg.retry.max_backoff);
                }
                Ok(Err(code)) => return Err(KafkaError::new(code, "Produce".into()).into()),
                Err(e) => {
                    // The outcome is unknown: whatever comes next starts a new producer id.
                    self.reset_producer(producer_id).await;
                    return Err(e);
                }
            }
        }
    }
}
