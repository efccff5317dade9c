//! Error handling for the task loops, as Kafka Connect's `RetryWithToleranceOperator`,
//! `LogReporter` and `DeadLetterQueueReporter` do it: retriable failures are retried with
//! exponential backoff for up to `errors.retry.timeout`; a record that still fails is logged
//! (`errors.log.enable`), written with its original bytes to the dead-letter queue
//! (`errors.deadletterqueue.topic.name`) and counted; then `errors.tolerance` decides
//! whether the task skips it or fails.
//!
//! As in Kafka Connect, the converter, header-converter and transformation stages tolerate
//! any error, while the task's own `put`/`poll` and the produce/consume stages tolerate only
//! retriable ones when run through [`ErrorHandler::run`]; records a connector reports as
//! failed ([`ErrorHandler::report`], Kafka's `ErrantRecordReporter`) follow the tolerance
//! alone. Every failure is logged and dead-lettered before the decision, so a task that fails
//! has its record in the DLQ too, as in Kafka. Unlike Kafka Connect, source connectors get a
//! dead-letter queue as well.

mod config;
mod dlq;
mod failure;
#[cfg(test)]
mod tests;

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;
use std::time::Duration;

use crate::log::Log;
use bytes::Bytes;
use tokio::sync::watch;
use tokio::time::Instant;
use weir_connect_api::ConnectorError;

pub use config::{
    DLQ_CONTEXT_HEADERS_ENABLE, DLQ_TOPIC_NAME, DLQ_TOPIC_REPLICATION_FACTOR, ErrorConfig, GROUP,
    LOG_ENABLE, LOG_INCLUDE_MESSAGES, RETRY_DELAY_MAX_MS, RETRY_TIMEOUT, RetryTimeout, TOLERANCE,
    Tolerance, config_def,
};
pub use dlq::{
    HEADER_CONNECTOR_NAME, HEADER_EXCEPTION, HEADER_EXCEPTION_MESSAGE,
    HEADER_EXCEPTION_STACK_TRACE, HEADER_EXECUTING_CLASS, HEADER_ORIG_OFFSET,
    HEADER_ORIG_PARTITION, HEADER_ORIG_TOPIC, HEADER_PREFIX, HEADER_STAGE, HEADER_TASK_ID,
};
pub use failure::{FailureKind, TaskFailure, exception_class};

use dlq::{DeadLetterQueue, FailureContext};
use failure::Position;

use super::metrics::TaskMetrics;

/// Kafka's `RetryWithToleranceOperator.RETRIES_DELAY_MIN_MS`: the first backoff.
pub const RETRY_DELAY_MIN: Duration = Duration::from_millis(300);

/// How much of a key or value `errors.log.include.messages` logs.
const LOGGED_BYTES: usize = 1024;

/// Where in the pipeline an operation failed (Kafka's `Stage`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stage {
    KeyConverter,
    ValueConverter,
    HeaderConverter,
    Transformation,
    TaskPut,
    TaskPoll,
    KafkaProduce,
    KafkaConsume,
}

impl Stage {
    /// The name in DLQ headers and messages (`KEY_CONVERTER`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Stage::KeyConverter => "KEY_CONVERTER",
            Stage::ValueConverter => "VALUE_CONVERTER",
            Stage::HeaderConverter => "HEADER_CONVERTER",
            Stage::Transformation => "TRANSFORMATION",
            Stage::TaskPut => "TASK_PUT",
            Stage::TaskPoll => "TASK_POLL",
            Stage::KafkaProduce => "KAFKA_PRODUCE",
            Stage::KafkaConsume => "KAFKA_CONSUME",
        }
    }

    /// Whether `errors.tolerance=all` covers every error of the stage, not only retriable
    /// ones that ran out of retries (Kafka's `TOLERABLE_EXCEPTIONS`).
    pub fn tolerates_any_error(self) -> bool {
        matches!(
            self,
            Stage::KeyConverter
                | Stage::ValueConverter
                | Stage::HeaderConverter
                | Stage::Transformation
        )
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The original record as the log holds it (sink side) or as converted so far (source side).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawRecord {
    pub topic: String,
    /// -1 when not known yet (a source record before partitioning).
    pub partition: i32,
    /// -1 when the record is not from the log.
    pub offset: i64,
    pub timestamp: Option<i64>,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    pub headers: Vec<(String, Option<Bytes>)>,
}

/// Retries, tolerance, error log and dead-letter queue of one task. Shared by reference in
/// the task loop; every method takes `&self`.
pub struct ErrorHandler {
    config: ErrorConfig,
    connector: String,
    task: u32,
    metrics: Arc<TaskMetrics>,
    dlq: Option<DeadLetterQueue>,
}

impl ErrorHandler {
    /// `default_partitions`: partitions of the DLQ topic when it has to be created (on the
    /// first failed record).
    pub fn new(
        config: ErrorConfig,
        connector: &str,
        task: u32,
        log: Log,
        metrics: Arc<TaskMetrics>,
        default_partitions: i32,
    ) -> Self {
        let dlq = config.dlq_topic().map(|topic| {
            DeadLetterQueue::new(
                log,
                topic,
                default_partitions,
                config.dlq_replication_factor,
                config.dlq_context_headers,
            )
        });
        Self {
            config,
            connector: connector.to_string(),
            task,
            metrics,
            dlq,
        }
    }

    pub fn config(&self) -> &ErrorConfig {
        &self.config
    }

    /// Runs `op` for one record at one stage. Retriable errors are retried with exponential
    /// backoff (300 ms, doubling, capped by `errors.retry.delay.max.ms`, until
    /// `errors.retry.timeout` has elapsed; 0 = no retry; -1 = until success or `shutdown`),
    /// other errors are not retried.
    ///
    /// `Ok(Some(v))`: success. `Ok(None)`: failed but tolerated: logged, dead-lettered and
    /// counted; skip the record. `Err(_)`: the task must fail, or, when
    /// [`TaskFailure::is_interrupted`], stop without committing past the record.
    pub async fn run<T>(
        &self,
        stage: Stage,
        class_name: &str,
        record: &RawRecord,
        shutdown: &watch::Receiver<bool>,
        mut op: impl FnMut() -> Result<T, ConnectorError>,
    ) -> Result<Option<T>, TaskFailure> {
        let start = Instant::now();
        let mut attempt: u32 = 0;
        let error = loop {
            attempt = attempt.saturating_add(1);
            let error = match op() {
                Ok(v) => return Ok(Some(v)),
                Err(e) => e,
            };
            if !error.is_retriable() {
                break error;
            }
            let Some(delay) = self.retry_delay(attempt, start.elapsed()) else {
                break error;
            };
            tracing::debug!(connector = %self.connector, task = self.task, stage = %stage,
                attempt, delay_ms = delay.as_millis() as u64, error = %error,
                "retrying a failed operation");
            if sleep_unless_shutdown(delay, shutdown).await {
                return Err(self.failure(
                    FailureKind::Interrupted,
                    stage,
                    class_name,
                    record,
                    &error,
                ));
            }
        };
        let tolerable = stage.tolerates_any_error() || error.is_retriable();
        self.handle(stage, class_name, record, &error, tolerable)
            .await
            .map(|()| None)
    }

    /// Reports a failure the caller already has (a record a sink's `put` rejected through
    /// `RecordsFailed`, a failed produce), with the same logging, DLQ and tolerance rules.
    /// `Ok(())`: tolerated, skip the record.
    pub async fn report(
        &self,
        stage: Stage,
        class_name: &str,
        record: &RawRecord,
        error: &ConnectorError,
    ) -> Result<(), TaskFailure> {
        self.handle(stage, class_name, record, error, true).await
    }

    /// The wait before the next attempt, or `None` when retrying is over (Kafka's
    /// `checkRetry` and `backoff`).
    fn retry_delay(&self, attempt: u32, elapsed: Duration) -> Option<Duration> {
        let delay = backoff(attempt, self.config.retry_delay_max_ms);
        match self.config.retry_timeout {
            RetryTimeout::Forever => Some(delay),
            RetryTimeout::Millis(timeout) => {
                let timeout = Duration::from_millis(timeout);
                // The last attempt happens at the deadline.
                (elapsed < timeout).then(|| delay.min(timeout - elapsed))
            }
        }
    }

    /// Logs, dead-letters and counts a failed record, then applies the tolerance.
    async fn handle(
        &self,
        stage: Stage,
        class_name: &str,
        record: &RawRecord,
        error: &ConnectorError,
        tolerable: bool,
    ) -> Result<(), TaskFailure> {
        self.metrics.add_error();
        if self.config.log_enable {
            self.log(stage, class_name, record, error);
        }
        if let Some(dlq) = &self.dlq {
            let class = exception_class(error);
            let chain = failure::chain(error);
            let context = FailureContext {
                connector: &self.connector,
                task: self.task,
                stage,
                class_name,
                exception_class: class,
                message: &error.to_string(),
                stacktrace: &failure::stacktrace(class, &chain),
            };
            if let Err(e) = dlq.write(record, &context).await {
                let kind = FailureKind::DeadLetterQueue {
                    topic: dlq.topic().to_string(),
                    reason: e.to_string(),
                };
                return Err(self.failure(kind, stage, class_name, record, error));
            }
            self.metrics.add_dlq_write();
        }
        if !tolerable {
            return Err(self.failure(FailureKind::Unhandled, stage, class_name, record, error));
        }
        if !self.config.tolerates_all() {
            let kind = FailureKind::ToleranceExceeded;
            return Err(self.failure(kind, stage, class_name, record, error));
        }
        Ok(())
    }

    fn failure(
        &self,
        kind: FailureKind,
        stage: Stage,
        class_name: &str,
        record: &RawRecord,
        error: &ConnectorError,
    ) -> TaskFailure {
        TaskFailure {
            kind,
            connector: self.connector.clone(),
            task: self.task,
            stage,
            class_name: class_name.to_string(),
            topic: record.topic.clone(),
            partition: record.partition,
            offset: record.offset,
            exception_class: exception_class(error),
            chain: failure::chain(error),
        }
    }

    /// Kafka's `LogReporter`: the failure and where it happened; the record's content only
    /// with `errors.log.include.messages`.
    fn log(&self, stage: Stage, class_name: &str, record: &RawRecord, error: &ConnectorError) {
        let error = failure::chain(error).join(": ");
        let position = Position::of(record);
        if self.config.log_include_messages {
            let headers: Vec<&str> = record.headers.iter().map(|(k, _)| k.as_str()).collect();
            tracing::error!(connector = %self.connector, task = self.task, stage = %stage,
                class = class_name, topic = %record.topic, partition = record.partition,
                offset = record.offset, timestamp = ?record.timestamp,
                key = %shown(record.key.as_ref()), value = %shown(record.value.as_ref()),
                headers = ?headers, error = %error,
                "error encountered in task: the {stage} stage failed on {position}");
        } else {
            tracing::error!(connector = %self.connector, task = self.task, stage = %stage,
                class = class_name, topic = %record.topic, partition = record.partition,
                offset = record.offset, error = %error,
                "error encountered in task: the {stage} stage failed on {position}");
        }
    }
}

/// Kafka's backoff: 300 ms doubling per attempt; past the cap, a random delay in the upper
/// half of the cap (Kafka draws from the whole of it) so stalled tasks spread out.
fn backoff(attempt: u32, max_ms: u64) -> Duration {
    let retry = attempt.saturating_sub(1);
    let min = RETRY_DELAY_MIN.as_millis() as u64;
    let delay = min.checked_shl(retry).filter(|d| d >> retry == min);
    match delay {
        Some(d) if d <= max_ms => Duration::from_millis(d),
        _ => Duration::from_millis(max_ms / 2 + random_below(max_ms - max_ms / 2)),
    }
}

/// A uniformly spread value in `[0, bound)`, from the standard library's per-instance
/// random hash keys (jitter needs no better randomness).
fn random_below(bound: u64) -> u64 {
    if bound == 0 {
        return 0;
    }
    // Each `RandomState` has fresh keys, so even an empty hash differs from the last one.
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
        % bound
}

/// Sleeps for `delay`; returns `true` early when `shutdown` is (or becomes) set.
async fn sleep_unless_shutdown(delay: Duration, shutdown: &watch::Receiver<bool>) -> bool {
    let mut shutdown = shutdown.clone();
    let sleep = tokio::time::sleep(delay);
    tokio::pin!(sleep);
    tokio::select! {
        () = &mut sleep => false,
        // The guard `wait_for` returns must not live across the await below (not `Send`).
        stopped = async { shutdown.wait_for(|stop| *stop).await.is_ok() } => {
            if !stopped {
                // Nobody can signal a stop any more: just wait.
                sleep.await;
            }
            stopped
        }
    }
}

/// A key or value as lossy text, cut at [`LOGGED_BYTES`].
fn shown(bytes: Option<&Bytes>) -> String {
    match bytes {
        None => "null".to_string(),
        Some(b) if b.len() <= LOGGED_BYTES => String::from_utf8_lossy(b).into_owned(),
        Some(b) => format!(
            "{}... ({} bytes)",
            String::from_utf8_lossy(&b[..LOGGED_BYTES]),
            b.len()
        ),
    }
}
