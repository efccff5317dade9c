//! Errors connectors report, with the retry meaning the worker acts on.

use std::fmt;

/// A value that does not match its schema, or data a converter cannot represent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DataError {
    pub message: String,
}

impl DataError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

/// What a connector, task, transform or converter returns on failure. The worker alone
/// decides what happens next: retries with backoff (`errors.retry.timeout`), tolerance
/// (`errors.tolerance`) and the dead-letter queue.
#[derive(Debug, thiserror::Error)]
pub enum ConnectorError {
    /// A transient failure (a connection dropped, a server said "try again"): retried.
    #[error("{message}")]
    Retriable {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// A failure retrying cannot fix (bad credentials, a missing table): the task fails.
    #[error("{message}")]
    Fatal {
        message: String,
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// Some records of a batch failed (index in the batch, reason); the others succeeded.
    #[error("{} record(s) of the batch failed, the first at index {}: {}",
        .0.len(), .0.first().map_or(0, |f| f.index), .0.first().map_or("", |f| f.reason.as_str()))]
    RecordsFailed(Vec<RecordFailure>),
    /// One record could not be converted or transformed.
    #[error(transparent)]
    Data(#[from] DataError),
    /// The configuration is invalid; every problem is listed.
    #[error("{}", ConfigErrors(.0))]
    Config(Vec<crate::config::ConfigError>),
}

struct ConfigErrors<'a>(&'a [crate::config::ConfigError]);

impl fmt::Display for ConfigErrors<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

/// One failed record of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFailure {
    pub index: usize,
    pub reason: String,
    /// Whether retrying this record may succeed.
    pub retriable: bool,
}

impl ConnectorError {
    pub fn retriable(message: impl Into<String>) -> Self {
        ConnectorError::Retriable {
            message: message.into(),
            source: None,
        }
    }

    pub fn fatal(message: impl Into<String>) -> Self {
        ConnectorError::Fatal {
            message: message.into(),
            source: None,
        }
    }

    /// Adds the underlying cause, kept for the status trace.
    pub fn caused_by(self, cause: impl std::error::Error + Send + Sync + 'static) -> Self {
        match self {
            ConnectorError::Retriable { message, .. } => ConnectorError::Retriable {
                message,
                source: Some(Box::new(cause)),
            },
            ConnectorError::Fatal { message, .. } => ConnectorError::Fatal {
                message,
                source: Some(Box::new(cause)),
            },
            other => other,
        }
    }

    /// Whether the worker should retry the operation.
    pub fn is_retriable(&self) -> bool {
        match self {
            ConnectorError::Retriable { .. } => true,
            ConnectorError::RecordsFailed(f) => f.iter().all(|f| f.retriable),
            _ => false,
        }
    }
}

pub type Result<T, E = ConnectorError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_meaning() {
        assert!(ConnectorError::retriable("timeout").is_retriable());
        assert!(!ConnectorError::fatal("bad password").is_retriable());
        let partial = ConnectorError::RecordsFailed(vec![RecordFailure {
            index: 3,
            reason: "version conflict".into(),
            retriable: false,
        }]);
        assert!(!partial.is_retriable());
        assert_eq!(
            partial.to_string(),
            "1 record(s) of the batch failed, the first at index 3: version conflict"
        );
    }
}
