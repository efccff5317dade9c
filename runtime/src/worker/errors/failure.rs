//! What a failed operation is called in messages, logs and DLQ headers, and the error that
//! fails a task.

use std::error::Error as StdError;
use std::fmt;

use weir_connect_api::ConnectorError;

use super::{RawRecord, Stage};

/// Why a task must fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureKind {
    /// `errors.tolerance=none` and an operation failed (Kafka: "Tolerance exceeded in error
    /// handler").
    ToleranceExceeded,
    /// A non-retriable error at a stage that tolerates only retriable ones: the task's own
    /// `put`/`poll` and the produce/consume stages (Kafka: "Unhandled exception in error
    /// handler").
    Unhandled,
    /// The failed record could not be written to the dead-letter queue; the task stops rather
    /// than lose it.
    DeadLetterQueue { topic: String, reason: String },
    /// The task was asked to stop while waiting to retry. The record was neither processed
    /// nor skipped: stop without committing past it.
    Interrupted,
}

/// The task must stop. `Display` is one sentence naming the connector, task, stage, class,
/// record position and the error with its causes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskFailure {
    pub kind: FailureKind,
    pub connector: String,
    pub task: u32,
    pub stage: Stage,
    /// The class (or weir plugin name) that ran the failed operation.
    pub class_name: String,
    pub topic: String,
    pub partition: i32,
    /// -1 when the record did not come from the log.
    pub offset: i64,
    /// A Java-like name of the error's kind (see [`exception_class`]).
    pub exception_class: &'static str,
    /// The error's message, then each cause's.
    pub chain: Vec<String>,
}

impl TaskFailure {
    /// Whether the failure only means "stopped by shutdown": the task ends as it would on a
    /// clean stop, not as FAILED.
    pub fn is_interrupted(&self) -> bool {
        self.kind == FailureKind::Interrupted
    }
}

impl fmt::Display for TaskFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FailureKind::ToleranceExceeded => f.write_str("Tolerance exceeded in error handler")?,
            FailureKind::Unhandled => f.write_str("Unhandled exception in error handler")?,
            FailureKind::DeadLetterQueue { topic, reason } => write!(
                f,
                "Could not write a failed record to the dead letter queue topic {topic} \
                 ({reason}); the task stops rather than lose it"
            )?,
            FailureKind::Interrupted => f.write_str("Task stopped while retrying")?,
        }
        write!(
            f,
            ": the {} stage ({}) of connector {} task {} failed on {}",
            self.stage.name(),
            self.class_name,
            self.connector,
            self.task,
            Position {
                topic: &self.topic,
                partition: self.partition,
                offset: self.offset,
            }
        )?;
        for message in &self.chain {
            write!(f, ": {message}")?;
        }
        Ok(())
    }
}

impl StdError for TaskFailure {}

/// `orders-0 at offset 42`, or `a record for orders-0` when it is not from the log.
pub(super) struct Position<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
}

impl<'a> Position<'a> {
    pub(super) fn of(record: &'a RawRecord) -> Self {
        Self {
            topic: &record.topic,
            partition: record.partition,
            offset: record.offset,
        }
    }
}

impl fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (t, p, o) = (self.topic, self.partition, self.offset);
        match (t.is_empty(), p >= 0, o >= 0) {
            (true, _, _) => f.write_str("a record"),
            (false, true, true) => write!(f, "{t}-{p} at offset {o}"),
            (false, true, false) => write!(f, "a record for {t}-{p}"),
            (false, false, _) => write!(f, "a record for topic {t}"),
        }
    }
}

/// The Java exception class Kafka Connect would report for this kind of error.
pub fn exception_class(error: &ConnectorError) -> &'static str {
    match error {
        ConnectorError::Data(_) => "org.apache.kafka.connect.errors.DataException",
        ConnectorError::Retriable { .. } => "org.apache.kafka.connect.errors.RetriableException",
        _ => "org.apache.kafka.connect.errors.ConnectException",
    }
}

/// The error's message and each cause's, skipping a cause that only repeats its parent.
pub(super) fn chain(error: &ConnectorError) -> Vec<String> {
    let mut out = vec![error.to_string()];
    let mut cause = error.source();
    while let Some(c) = cause {
        let message = c.to_string();
        if !message.is_empty() && out.last() != Some(&message) {
            out.push(message);
        }
        cause = c.source();
    }
    out
}

/// Java's `printStackTrace` shape without frames: the error, then `Caused by:` lines.
pub(super) fn stacktrace(class: &str, chain: &[String]) -> String {
    let mut out = String::new();
    for (i, message) in chain.iter().enumerate() {
        if i == 0 {
            out.push_str(&format!("{class}: {message}"));
        } else {
            out.push_str(&format!("\nCaused by: {message}"));
        }
    }
    out
}
