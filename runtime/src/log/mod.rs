//! The worker's log: where source records, the internal `connect-*` topics, the dead-letter
//! queue and sink consumer-group offsets live. One interface, two implementations:
//!
//! - [`Log::Embedded`]: the broker in this process (the default), called directly: no
//!   protocol hop, appends fsynced when an offset commit needs them durable.
//! - [`Log::Kafka`]: an external Kafka cluster (worker config `bootstrap.servers`) through
//!   weir's own client on the `kafka-protocol` codec ([`kafka::KafkaLog`]): idempotent
//!   produce with acks=all, fetch from partition leaders, group offsets at the group's
//!   coordinator, topics created with CreateTopics.
//!
//! The set is closed (two implementations, chosen once at start), so this is an enum with
//! static dispatch rather than a trait object: no boxed futures on the record path.

pub mod kafka;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::records::{Compression, Record};
use weir_broker::batch::{self, NewRecord};
use weir_broker::{Broker, OffsetSpec};

pub use kafka::KafkaLog;

/// A failed log operation; the message names the topic, partition or group at fault.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error(transparent)]
    Broker(#[from] weir_broker::Error),
    #[error("{0}")]
    Kafka(String),
    /// The offset is before the log start or past its end (Kafka's OFFSET_OUT_OF_RANGE).
    #[error("offset {offset} is out of range for {topic}-{partition}")]
    OutOfRange {
        topic: String,
        partition: i32,
        offset: i64,
    },
}

impl LogError {
    fn kafka(e: anyhow::Error) -> Self {
        Self::Kafka(format!("{e:#}"))
    }
}

pub type Result<T, E = LogError> = std::result::Result<T, E>;

/// A topic to create when missing.
#[derive(Debug, Clone)]
pub struct TopicSpec {
    pub name: String,
    pub partitions: i32,
    /// `-1`: the cluster's default (the embedded broker has one replica).
    pub replication_factor: i16,
    pub configs: BTreeMap<String, String>,
}

impl TopicSpec {
    pub fn new(name: &str, partitions: i32) -> Self {
        Self {
            name: name.to_string(),
            partitions,
            replication_factor: -1,
            configs: BTreeMap::new(),
        }
    }

    pub fn with_config(mut self, key: &str, value: &str) -> Self {
        self.configs.insert(key.to_string(), value.to_string());
        self
    }

    pub fn with_replication_factor(mut self, factor: i16) -> Self {
        self.replication_factor = factor;
        self
    }
}

/// What one read of a partition returned.
#[derive(Debug, Default)]
pub struct Fetched {
    /// Data records at or after the requested offset, in offset order (control records of
    /// transactions left out).
    pub records: Vec<Record>,
    /// Where the next read starts: past every whole batch returned (records, control
    /// batches and compacted gaps alike), or the requested offset when nothing came back.
    pub next: i64,
    pub high_watermark: i64,
}

/// The worker's log; cheap to clone.
#[derive(Clone)]
pub enum Log {
    Embedded(Arc<Broker>),
    Kafka(Arc<KafkaLog>),
}

impl std::fmt::Debug for Log {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Embedded(_) => f.write_str("Log::Embedded"),
            Self::Kafka(k) => write!(f, "Log::Kafka({})", k.bootstrap()),
        }
    }
}

/// Runs a call that may fsync on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| LogError::Kafka(format!("a log call on the blocking pool failed: {e}")))?
}

/// Decodes a read of whole batches starting at `offset`.
fn decode_fetched(
    topic: &str,
    partition: i32,
    offset: i64,
    bytes: Bytes,
    high_watermark: i64,
) -> Result<Fetched> {
    let Some(next) = batch::next_offset_after(&bytes) else {
        return Ok(Fetched {
            records: Vec::new(),
            next: offset,
            high_watermark,
        });
    };
    let records = batch::decode_records(bytes).map_err(|e| {
        LogError::Kafka(format!(
            "cannot decode {topic}-{partition} at offset {offset}: {e}"
        ))
    })?;
    Ok(Fetched {
        records: records
            .into_iter()
            .filter(|r| r.offset >= offset && !r.control)
            .collect(),
        next: next.max(offset),
        high_watermark,
    })
}

impl Log {
    /// The embedded broker, when the log is in this process.
    pub fn embedded(&self) -> Option<&Arc<Broker>> {
        match self {
            Self::Embedded(b) => Some(b),
            Self::Kafka(_) => None,
        }
    }

    /// The Kafka cluster id (`GET /`'s `kafka_cluster_id`).
    pub async fn cluster_id(&self) -> String {
        match self {
            Self::Embedded(_) => weir_broker::server::ServerConfig::default().cluster_id,
            Self::Kafka(k) => k.cluster_id().await,
        }
    }

    /// Every topic name.
    pub async fn topics(&self) -> Result<Vec<String>> {
        match self {
            Self::Embedded(b) => Ok(b.topics()),
            Self::Kafka(k) => k.topics().await,
        }
    }

    /// The topic's partition count; `None` when it does not exist.
    pub async fn partition_count(&self, topic: &str) -> Result<Option<i32>> {
        match self {
            Self::Embedded(b) => Ok(b.partition_count(topic)),
            Self::Kafka(k) => k.partition_count(topic).await,
        }
    }

    /// Creates the topic unless it exists; returns its partition count either way.
    pub async fn ensure_topic(&self, spec: TopicSpec) -> Result<i32> {
        match self {
            Self::Embedded(b) => {
                if let Some(n) = b.partition_count(&spec.name) {
                    return Ok(n);
                }
                let b = Arc::clone(b);
                blocking(move || {
                    match b.create_topic(&spec.name, spec.partitions, spec.configs.clone()) {
                        Ok(()) => {
                            tracing::info!(topic = %spec.name, partitions = spec.partitions, "topic created");
                        }
                        Err(weir_broker::Error::TopicExists(_)) => {}
                        Err(e) => return Err(e.into()),
                    }
                    Ok(b.partition_count(&spec.name).unwrap_or(spec.partitions))
                })
                .await
            }
            Self::Kafka(k) => k.ensure_topic(&spec).await,
        }
    }

    /// Appends `records` as one batch; returns the offset of the first.
    pub async fn append(
        &self,
        topic: &str,
        partition: i32,
        records: Vec<NewRecord>,
    ) -> Result<i64> {
        match self {
            Self::Embedded(b) => {
                let b = Arc::clone(b);
                let topic = topic.to_string();
                blocking(move || {
                    Ok(
                        b.append_records(&topic, partition, &records, Compression::None)?
                            .base_offset,
                    )
                })
                .await
            }
            Self::Kafka(k) => k.append(topic, partition, &records).await,
        }
    }

    /// Makes what was appended to the partition durable. The embedded log fsyncs; a Kafka
    /// cluster acknowledged every append with acks=all already.
    pub async fn sync(&self, partitions: Vec<(String, i32)>) -> Result<()> {
        match self {
            Self::Embedded(b) => {
                let b = Arc::clone(b);
                blocking(move || {
                    for (topic, partition) in &partitions {
                        b.sync(topic, *partition)?;
                    }
                    Ok(())
                })
                .await
            }
            Self::Kafka(_) => Ok(()),
        }
    }

    /// Reads from `offset`, about `max_bytes` at most (at least one batch when there is one).
    pub async fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<Fetched> {
        match self {
            Self::Embedded(b) => {
                let data = b.fetch(topic, partition, offset, max_bytes)?;
                decode_fetched(topic, partition, offset, data.records, data.high_watermark)
            }
            Self::Kafka(k) => k.fetch(topic, partition, offset, max_bytes).await,
        }
    }

    /// Waits until one of `positions` (topic, partition, next offset) has records to read,
    /// or `timeout` passes.
    pub async fn wait_for_data(&self, positions: &[(String, i32, i64)], timeout: Duration) {
        match self {
            Self::Embedded(b) => {
                let mut appends = b.subscribe_appends();
                let deadline = tokio::time::Instant::now() + timeout;
                loop {
                    appends.borrow_and_update();
                    let ready = positions.iter().any(|(t, p, offset)| {
                        b.watermarks(t, *p).is_ok_and(|(_, end)| end > *offset)
                    });
                    if ready
                        || tokio::time::timeout_at(deadline, appends.changed())
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
            }
            Self::Kafka(k) => k.wait_for_data(positions, timeout).await,
        }
    }

    /// (log start, high watermark) of a partition.
    pub async fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        match self {
            Self::Embedded(b) => Ok(b.watermarks(topic, partition)?),
            Self::Kafka(k) => {
                let start = k
                    .list_offset(topic, partition, OffsetSpec::Earliest)
                    .await?;
                let end = k.list_offset(topic, partition, OffsetSpec::Latest).await?;
                Ok((start.unwrap_or(0), end.unwrap_or(0)))
            }
        }
    }

    /// The offset `spec` names (`None` when no record matches a timestamp).
    pub async fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<Option<i64>> {
        match self {
            Self::Embedded(b) => Ok(b.list_offset(topic, partition, spec)?.map(|(o, _)| o)),
            Self::Kafka(k) => k.list_offset(topic, partition, spec).await,
        }
    }

    /// The group's committed offset for one partition.
    pub async fn committed(&self, group: &str, topic: &str, partition: i32) -> Result<Option<i64>> {
        match self {
            Self::Embedded(b) => Ok(b.committed(group, topic, partition).map(|c| c.offset)),
            Self::Kafka(k) => {
                let all = k
                    .group_offsets(group, Some(&[(topic.to_string(), partition)]))
                    .await?;
                Ok(all.into_iter().next().map(|(_, _, o)| o))
            }
        }
    }

    /// Every committed offset of the group: (topic, partition, offset).
    pub async fn group_offsets(&self, group: &str) -> Result<Vec<(String, i32, i64)>> {
        match self {
            Self::Embedded(b) => Ok(b
                .group_offsets(group)
                .into_iter()
                .map(|(k, c)| (k.topic, k.partition, c.offset))
                .collect()),
            Self::Kafka(k) => k.group_offsets(group, None).await,
        }
    }

    /// Commits offsets for the group, as a client outside the group's membership would
    /// (generation -1): how Kafka Connect's sink tasks' offsets look to Kafka tools.
    pub async fn commit_offsets(
        &self,
        group: &str,
        commits: Vec<(String, i32, i64)>,
    ) -> Result<()> {
        match self {
            Self::Embedded(b) => {
                let b = Arc::clone(b);
                let group = group.to_string();
                blocking(move || {
                    let commits: Vec<(String, i32, i64, String)> = commits
                        .into_iter()
                        .map(|(t, p, o)| (t, p, o, String::new()))
                        .collect();
                    Ok(b.commit_offsets(&group, &commits)?)
                })
                .await
            }
            Self::Kafka(k) => k.commit_offsets(group, &commits).await,
        }
    }

    /// Removes the group's committed offsets of these partitions.
    pub async fn delete_offsets(&self, group: &str, partitions: Vec<(String, i32)>) -> Result<()> {
        match self {
            Self::Embedded(b) => {
                let b = Arc::clone(b);
                let group = group.to_string();
                blocking(move || Ok(b.delete_offsets(&group, &partitions)?)).await
            }
            Self::Kafka(k) => k.delete_offsets(group, &partitions).await,
        }
    }
}
