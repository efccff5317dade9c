//! Kafka error codes with their retry meaning, and the retry loop with backoff.

use std::fmt;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;

pub const NONE: i16 = 0;
pub const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
pub const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
pub const COORDINATOR_NOT_AVAILABLE: i16 = 15;
pub const NOT_COORDINATOR: i16 = 16;
pub const ILLEGAL_GENERATION: i16 = 22;
pub const UNKNOWN_MEMBER_ID: i16 = 25;
pub const REBALANCE_IN_PROGRESS: i16 = 27;
pub const TOPIC_ALREADY_EXISTS: i16 = 36;
pub const MEMBER_ID_REQUIRED: i16 = 79;
pub const FENCED_INSTANCE_ID: i16 = 82;

/// A Kafka error code in a response, with what was being done.
#[derive(Debug, Clone)]
pub struct KafkaError {
    pub code: i16,
    /// The request and resource, e.g. `Produce to orders-2`.
    pub what: String,
    /// The broker's own message, when it sent one.
    pub message: Option<String>,
}

impl KafkaError {
    pub fn new(code: i16, what: String) -> Self {
        Self {
            code,
            what,
            message: None,
        }
    }

    /// Whether trying again later can succeed (Kafka's own classification, except that a
    /// corrupt batch stays corrupt).
    pub fn retriable(&self) -> bool {
        self.code != 2 && ResponseError::try_from_code(self.code).is_some_and(|e| e.is_retriable())
    }

    /// The coordinator moved or is not ready: find it again, then retry.
    pub fn coordinator_moved(&self) -> bool {
        matches!(
            self.code,
            COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR
        )
    }

    /// The group moved on without this member: join again.
    pub fn needs_rejoin(&self) -> bool {
        matches!(
            self.code,
            REBALANCE_IN_PROGRESS | ILLEGAL_GENERATION | UNKNOWN_MEMBER_ID | FENCED_INSTANCE_ID
        )
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = ResponseError::try_from_code(self.code)
            .map_or_else(|| "NONE".to_string(), |e| e.to_string());
        write!(f, "{}: {name} (error code {})", self.what, self.code)?;
        match &self.message {
            Some(m) if !m.is_empty() => write!(f, ": {m}"),
            _ => Ok(()),
        }
    }
}

impl std::error::Error for KafkaError {}

/// `Ok` for error code 0, else a [`KafkaError`] naming `what`.
pub fn check(code: i16, message: Option<&str>, what: &str) -> Result<(), KafkaError> {
    if code == NONE {
        return Ok(());
    }
    Err(KafkaError {
        code,
        what: what.to_string(),
        message: message.map(str::to_string),
    })
}

/// The Kafka error inside `e`, if that is what it is.
pub fn kafka_error(e: &anyhow::Error) -> Option<&KafkaError> {
    e.chain().find_map(|c| c.downcast_ref::<KafkaError>())
}

/// How retriable errors are retried: exponential backoff up to a total deadline.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
    /// Give up once retrying would pass this much time in total.
    pub deadline: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_secs(1),
            deadline: Duration::from_secs(30),
        }
    }
}

impl RetryPolicy {
    /// Runs `attempt` until it succeeds, fails with a non-retriable error, or the deadline
    /// passes (then the last error is returned).
    pub async fn run<T>(
        &self,
        mut attempt: impl AsyncFnMut() -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        let give_up = Instant::now() + self.deadline;
        let mut backoff = self.initial_backoff;
        loop {
            match attempt().await {
                Ok(v) => return Ok(v),
                Err(e)
                    if kafka_error(&e).is_some_and(KafkaError::retriable)
                        && Instant::now() + backoff < give_up =>
                {
                    tracing::debug!(error = %e, backoff_ms = backoff.as_millis() as u64, "retrying");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(self.max_backoff);
                }
                Err(e) => return Err(e),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_carry_their_retry_meaning() {
        let e = |code| KafkaError {
            code,
            what: "Produce to t-0".to_string(),
            message: None,
        };
        assert!(e(5).retriable(), "LEADER_NOT_AVAILABLE");
        assert!(e(COORDINATOR_LOAD_IN_PROGRESS).retriable());
        assert!(!e(2).retriable(), "a corrupt batch stays corrupt");
        assert!(!e(TOPIC_ALREADY_EXISTS).retriable());
        assert!(e(REBALANCE_IN_PROGRESS).needs_rejoin());
        assert!(e(NOT_COORDINATOR).coordinator_moved());
        assert_eq!(
            e(36).to_string(),
            "Produce to t-0: TopicAlreadyExists (error code 36)"
        );
    }

    #[tokio::test]
    async fn retries_until_success() {
        let policy = RetryPolicy {
            initial_backoff: Duration::from_millis(1),
            ..RetryPolicy::default()
        };
        let mut calls = 0;
        let out = policy
            .run(async || {
                calls += 1;
                if calls < 3 {
                    check(5, None, "Metadata")?;
                }
                Ok(calls)
            })
            .await
            .expect("succeeds on the third call");
        assert_eq!(out, 3);
        let fatal = policy
            .run(async || -> anyhow::Result<()> { Ok(check(36, None, "CreateTopics t")?) })
            .await;
        assert!(fatal.is_err());
    }
}
