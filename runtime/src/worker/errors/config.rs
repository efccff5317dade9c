//! The `errors.*` connector keys (Kafka Connect's `ConnectorConfig` and
//! `SinkConnectorConfig` "Error Handling" group), parsed once into [`ErrorConfig`].

use weir_connect_api::config::{
    ConfigDef, ConfigError, ConfigMap, ConfigType, Importance, Validator,
};

pub const RETRY_TIMEOUT: &str = "errors.retry.timeout";
pub const RETRY_DELAY_MAX_MS: &str = "errors.retry.delay.max.ms";
pub const TOLERANCE: &str = "errors.tolerance";
pub const LOG_ENABLE: &str = "errors.log.enable";
pub const LOG_INCLUDE_MESSAGES: &str = "errors.log.include.messages";
pub const DLQ_TOPIC_NAME: &str = "errors.deadletterqueue.topic.name";
pub const DLQ_TOPIC_REPLICATION_FACTOR: &str = "errors.deadletterqueue.topic.replication.factor";
pub const DLQ_CONTEXT_HEADERS_ENABLE: &str = "errors.deadletterqueue.context.headers.enable";

/// Kafka Connect's group name for these keys.
pub const GROUP: &str = "Error Handling";

/// The error-handling keys with Kafka's types, defaults and documentation. Unlike Kafka
/// Connect, the dead-letter-queue keys apply to source connectors too.
pub fn config_def() -> ConfigDef {
    ConfigDef::new()
        .define(
            RETRY_TIMEOUT,
            ConfigType::Long,
            Some("0"),
            Importance::Medium,
            "The maximum duration in milliseconds that a failed operation will be reattempted. \
             The default is 0, which means no retries will be attempted. Use -1 for infinite \
             retries.",
        )
        .with_validator(Validator::Range {
            min: Some(-1.0),
            max: None,
        })
        .define(
            RETRY_DELAY_MAX_MS,
            ConfigType::Long,
            Some("60000"),
            Importance::Medium,
            "The maximum duration in milliseconds between consecutive retry attempts. Jitter \
             will be added to the delay once this limit is reached to prevent thundering herd \
             issues.",
        )
        .with_validator(Validator::Range {
            min: Some(0.0),
            max: None,
        })
        .define(
            TOLERANCE,
            ConfigType::String,
            Some("none"),
            Importance::Medium,
            "Behavior for tolerating errors during connector operation. 'none' is the default \
             value and signals that any error will result in an immediate connector task \
             failure; 'all' changes the behavior to skip over problematic records.",
        )
        .with_validator(Validator::OneOf(vec!["none".into(), "all".into()]))
        .define(
            LOG_ENABLE,
            ConfigType::Boolean,
            Some("false"),
            Importance::Medium,
            "If true, write each error and the details of the failed operation and problematic \
             record to the Connect application log. This is 'false' by default, so that only \
             errors that are not tolerated are reported.",
        )
        .define(
            LOG_INCLUDE_MESSAGES,
            ConfigType::Boolean,
            Some("false"),
            Importance::Medium,
            "Whether to the include in the log the Connect record that resulted in a failure. \
             This is 'false' by default, which will prevent record keys, values, and headers \
             from being written to log files, although some information such as topic and \
             partition number will still be logged.",
        )
        .define(
            DLQ_TOPIC_NAME,
            ConfigType::String,
            Some(""),
            Importance::Medium,
            "The name of the topic to be used as the dead letter queue (DLQ) for messages that \
             result in an error when processed by this sink connector, or its transformations \
             or converters. The topic name is blank by default, which means that no messages \
             are to be recorded in the DLQ.",
        )
        .define(
            DLQ_TOPIC_REPLICATION_FACTOR,
            ConfigType::Short,
            Some("3"),
            Importance::Medium,
            "Replication factor used to create the dead letter queue topic when it doesn't \
             already exist.",
        )
        .define(
            DLQ_CONTEXT_HEADERS_ENABLE,
            ConfigType::Boolean,
            Some("false"),
            Importance::Medium,
            "If true, add headers containing error context to the messages written to the dead \
             letter queue. To avoid clashing with headers from the original record, all error \
             context header keys, all error context header keys will start with \
             <code>__connect.errors.</code>",
        )
}

/// `errors.tolerance`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Tolerance {
    /// The first failed record fails the task.
    #[default]
    None,
    /// Failed records are skipped (after logging and the dead-letter queue).
    All,
}

/// How long retriable failures are retried (`errors.retry.timeout`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryTimeout {
    /// `-1`: until the operation succeeds or the task is stopped.
    Forever,
    /// Milliseconds from the first attempt; 0 means a single attempt.
    Millis(u64),
}

/// The parsed `errors.*` keys of one connector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorConfig {
    pub retry_timeout: RetryTimeout,
    pub retry_delay_max_ms: u64,
    pub tolerance: Tolerance,
    pub log_enable: bool,
    pub log_include_messages: bool,
    /// Empty: no dead-letter queue.
    pub dlq_topic_name: String,
    /// Accepted for compatibility; a single node has no replicas.
    pub dlq_replication_factor: i16,
    pub dlq_context_headers: bool,
}

impl Default for ErrorConfig {
    /// Kafka Connect's defaults: no retries, no tolerance, no log, no dead-letter queue.
    fn default() -> Self {
        Self {
            retry_timeout: RetryTimeout::Millis(0),
            retry_delay_max_ms: 60_000,
            tolerance: Tolerance::None,
            log_enable: false,
            log_include_messages: false,
            dlq_topic_name: String::new(),
            dlq_replication_factor: 3,
            dlq_context_headers: false,
        }
    }
}

impl ErrorConfig {
    /// Parses the `errors.*` keys of a connector config (other keys are ignored); every bad
    /// key is reported, in definition order.
    pub fn from_config(config: &ConfigMap) -> Result<Self, Vec<ConfigError>> {
        let def = config_def();
        let parsed = def.parse(config);
        let mut errors = parsed.as_ref().err().cloned().unwrap_or_default();
        // Kafka only finds a bad DLQ topic name when the task starts; here it is a config error.
        let dlq = config.get(DLQ_TOPIC_NAME).map_or("", |s| s.trim());
        if let Err(e) = Some(dlq)
            .filter(|d| !d.is_empty())
            .map_or(Ok(()), weir_broker::topic::validate_topic_name)
        {
            errors.push(ConfigError::new(
                DLQ_TOPIC_NAME,
                format!("Invalid value {dlq} for configuration {DLQ_TOPIC_NAME}: {e}"),
            ));
        }
        let parsed = match parsed {
            Ok(p) if errors.is_empty() => p,
            _ => {
                let order = |e: &ConfigError| def.keys().iter().position(|k| k.name == e.key);
                errors.sort_by_key(order);
                return Err(errors);
            }
        };
        let defaults = Self::default();
        let timeout = parsed.int(RETRY_TIMEOUT).unwrap_or(0);
        let tolerance = parsed.string(TOLERANCE).unwrap_or("none");
        Ok(Self {
            retry_timeout: if timeout < 0 {
                RetryTimeout::Forever
            } else {
                RetryTimeout::Millis(timeout.unsigned_abs())
            },
            retry_delay_max_ms: parsed
                .int(RETRY_DELAY_MAX_MS)
                .map_or(defaults.retry_delay_max_ms, i64::unsigned_abs),
            tolerance: if tolerance.eq_ignore_ascii_case("all") {
                Tolerance::All
            } else {
                Tolerance::None
            },
            log_enable: parsed.boolean(LOG_ENABLE).unwrap_or(false),
            log_include_messages: parsed.boolean(LOG_INCLUDE_MESSAGES).unwrap_or(false),
            dlq_topic_name: dlq.to_string(),
            dlq_replication_factor: parsed
                .int(DLQ_TOPIC_REPLICATION_FACTOR)
                .and_then(|n| i16::try_from(n).ok())
                .unwrap_or(defaults.dlq_replication_factor),
            dlq_context_headers: parsed.boolean(DLQ_CONTEXT_HEADERS_ENABLE).unwrap_or(false),
        })
    }

    /// `errors.tolerance=all`.
    pub fn tolerates_all(&self) -> bool {
        self.tolerance == Tolerance::All
    }

    /// The dead-letter-queue topic, when one is configured.
    pub fn dlq_topic(&self) -> Option<&str> {
        Some(self.dlq_topic_name.as_str()).filter(|t| !t.is_empty())
    }
}
