//! The dead-letter queue (Kafka Connect's `DeadLetterQueueReporter`): a failed record's
//! original key, value and headers, written to a topic on the worker's log, optionally
//! with `__connect.errors.*` headers saying where and why it failed.

use std::sync::atomic::{AtomicU32, Ordering};

use bytes::Bytes;
use weir_broker::batch::NewRecord;

use super::{RawRecord, Stage};
use crate::log::{Log, LogError, TopicSpec};
use crate::partitioner;

pub const HEADER_PREFIX: &str = "__connect.errors.";
pub const HEADER_ORIG_TOPIC: &str = "__connect.errors.topic";
pub const HEADER_ORIG_PARTITION: &str = "__connect.errors.partition";
pub const HEADER_ORIG_OFFSET: &str = "__connect.errors.offset";
pub const HEADER_CONNECTOR_NAME: &str = "__connect.errors.connector.name";
pub const HEADER_TASK_ID: &str = "__connect.errors.task.id";
pub const HEADER_STAGE: &str = "__connect.errors.stage";
pub const HEADER_EXECUTING_CLASS: &str = "__connect.errors.class.name";
pub const HEADER_EXCEPTION: &str = "__connect.errors.exception.class.name";
pub const HEADER_EXCEPTION_MESSAGE: &str = "__connect.errors.exception.message";
pub const HEADER_EXCEPTION_STACK_TRACE: &str = "__connect.errors.exception.stacktrace";

/// What the context headers say about one failure.
pub(super) struct FailureContext<'a> {
    pub connector: &'a str,
    pub task: u32,
    pub stage: Stage,
    pub class_name: &'a str,
    pub exception_class: &'a str,
    pub message: &'a str,
    pub stacktrace: &'a str,
}

/// Writes failed records to one topic.
pub(super) struct DeadLetterQueue {
    log: Log,
    topic: String,
    default_partitions: i32,
    replication_factor: i16,
    context_headers: bool,
    /// Round-robin position for records without a key.
    next: AtomicU32,
}

impl DeadLetterQueue {
    pub(super) fn new(
        log: Log,
        topic: &str,
        default_partitions: i32,
        replication_factor: i16,
        context_headers: bool,
    ) -> Self {
        Self {
            log,
            topic: topic.to_string(),
            default_partitions: default_partitions.max(1),
            replication_factor,
            context_headers,
            next: AtomicU32::new(0),
        }
    }

    pub(super) fn topic(&self) -> &str {
        &self.topic
    }

    /// Appends the record; returns once the log has it (fsynced when the embedded log's
    /// topic was created here, acknowledged by every in-sync replica on a Kafka cluster).
    pub(super) async fn write(
        &self,
        record: &RawRecord,
        context: &FailureContext<'_>,
    ) -> Result<(), LogError> {
        let partitions = self.partitions().await?;
        let partition = match &record.key {
            Some(key) => partitioner::partition_for_key(key, partitions),
            None => (self.next.fetch_add(1, Ordering::Relaxed) % partitions.unsigned_abs()) as i32,
        };
        let mut headers = record.headers.clone();
        if self.context_headers {
            headers.extend(context_headers(record, context));
        }
        let timestamp = record.timestamp.filter(|t| *t >= 0).unwrap_or_else(now_ms);
        let new = NewRecord {
            key: record.key.clone(),
            value: record.value.clone(),
            headers,
            timestamp,
        };
        self.log.append(&self.topic, partition, vec![new]).await?;
        Ok(())
    }

    /// The topic's partition count, creating it first when missing (with
    /// `errors.deadletterqueue.topic.replication.factor`). On the embedded log a topic
    /// created here fsyncs every write: the record may exist nowhere else once the task
    /// commits past it.
    async fn partitions(&self) -> Result<i32, LogError> {
        let spec = if self.log.embedded().is_some() {
            TopicSpec::new(&self.topic, self.default_partitions).with_config("flush.messages", "1")
        } else {
            TopicSpec::new(&self.topic, self.default_partitions)
                .with_replication_factor(self.replication_factor)
        };
        Ok(self.log.ensure_topic(spec).await?.max(1))
    }
}

/// Kafka Connect's ten context headers, values as UTF-8 text.
fn context_headers(record: &RawRecord, c: &FailureContext<'_>) -> Vec<(String, Option<Bytes>)> {
    let text = |s: String| Some(Bytes::from(s));
    vec![
        (HEADER_ORIG_TOPIC.into(), text(record.topic.clone())),
        (
            HEADER_ORIG_PARTITION.into(),
            text(record.partition.to_string()),
        ),
        (HEADER_ORIG_OFFSET.into(), text(record.offset.to_string())),
        (HEADER_CONNECTOR_NAME.into(), text(c.connector.to_string())),
        (HEADER_TASK_ID.into(), text(c.task.to_string())),
        (HEADER_STAGE.into(), text(c.stage.name().to_string())),
        (
            HEADER_EXECUTING_CLASS.into(),
            text(c.class_name.to_string()),
        ),
        (HEADER_EXCEPTION.into(), text(c.exception_class.to_string())),
        (HEADER_EXCEPTION_MESSAGE.into(), text(c.message.to_string())),
        (
            HEADER_EXCEPTION_STACK_TRACE.into(),
            text(c.stacktrace.to_string()),
        ),
    ]
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}
