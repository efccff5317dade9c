//! The broker's error type. Every variant names the thing at fault.

use std::io;
use std::path::PathBuf;

/// A topic-partition, printed the Kafka way (`orders-3`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TopicPartition {
    pub topic: String,
    pub partition: i32,
}

impl TopicPartition {
    pub fn new(topic: impl Into<String>, partition: i32) -> Self {
        Self {
            topic: topic.into(),
            partition,
        }
    }
}

impl std::fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("i/o error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error(
        "data directory {path} is in use by another weir process (is `weir serve` running on it?)"
    )]
    Locked { path: PathBuf },
    #[error("invalid topic name {name:?}: {reason}")]
    InvalidTopicName { name: String, reason: String },
    #[error("topic {0} already exists")]
    TopicExists(String),
    #[error("unknown topic {0}")]
    UnknownTopic(String),
    #[error("unknown partition {0}")]
    UnknownPartition(TopicPartition),
    #[error("invalid partition count {count} for topic {topic}: must be between 1 and {max}")]
    InvalidPartitions { topic: String, count: i32, max: i32 },
    #[error("invalid config {key}={value:?}: {reason}")]
    InvalidConfig {
        key: String,
        value: String,
        reason: String,
    },
    #[error("corrupt record batch for {tp} at byte {position} of the request: {reason}")]
    CorruptBatch {
        tp: TopicPartition,
        position: usize,
        reason: String,
    },
    #[error("record batch of {size} bytes for {tp} exceeds max.message.bytes={max}")]
    BatchTooLarge {
        tp: TopicPartition,
        size: usize,
        max: usize,
    },
    #[error("offset {offset} is out of range for {tp} (log start {log_start}, log end {log_end})")]
    OffsetOutOfRange {
        tp: TopicPartition,
        offset: i64,
        log_start: i64,
        log_end: i64,
    },
    #[error(
        "partition {tp} refuses appends after an earlier storage failure ({cause}); restart weir to recover it"
    )]
    PartitionFailed { tp: TopicPartition, cause: String },
    #[error(
        "out of order sequence number for producer {producer_id} on {tp}: expected {expected}, got {got}"
    )]
    OutOfOrderSequence {
        tp: TopicPartition,
        producer_id: i64,
        expected: i32,
        got: i32,
    },
    #[error(
        "producer {producer_id} on {tp} is fenced: epoch {got} is older than the current epoch {current}"
    )]
    ProducerFenced {
        tp: TopicPartition,
        producer_id: i64,
        current: i16,
        got: i16,
    },
    #[error("corrupt metadata file {path}: {reason}")]
    CorruptMetadata { path: PathBuf, reason: String },
    #[error("broker is closed")]
    Closed,
}

impl Error {
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        Error::Io {
            path: path.into(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
