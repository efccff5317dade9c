//! Topic configuration: Kafka's topic-level keys, their defaults, and the broker-level
//! `log.*` keys that set those defaults.

use std::collections::BTreeMap;

use crate::error::Error;

/// Parsed configuration of one topic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicConfig {
    pub compact: bool,
    pub delete: bool,
    pub retention_ms: i64,
    pub retention_bytes: i64,
    pub segment_bytes: u64,
    pub segment_ms: i64,
    pub delete_retention_ms: i64,
    pub flush_messages: i64,
    pub flush_ms: i64,
    pub index_interval_bytes: u64,
    pub max_message_bytes: usize,
    pub min_compaction_lag_ms: i64,
}

impl Default for TopicConfig {
    fn default() -> Self {
        Self {
            compact: false,
            delete: true,
            retention_ms: 7 * 24 * 3_600_000,
            retention_bytes: -1,
            segment_bytes: 1 << 30,
            segment_ms: 7 * 24 * 3_600_000,
            delete_retention_ms: 24 * 3_600_000,
            flush_messages: i64::MAX,
            flush_ms: i64::MAX,
            index_interval_bytes: 4096,
            max_message_bytes: 1_048_588,
            min_compaction_lag_ms: 0,
        }
    }
}

/// Topic keys accepted and stored but with no effect on a single-node broker.
const INERT_KEYS: &[&str] = &[
    "min.insync.replicas",
    "unclean.leader.election.enable",
    "preallocate",
    "file.delete.delay.ms",
    "segment.jitter.ms",
    "segment.index.bytes",
    "message.downconversion.enable",
    "message.timestamp.difference.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.after.max.ms",
    "max.compaction.lag.ms",
    "min.cleanable.dirty.ratio",
    "follower.replication.throttled.replicas",
    "leader.replication.throttled.replicas",
    "local.retention.ms",
    "local.retention.bytes",
];

/// Broker-level keys (worker config) and the topic key each one sets the default of.
pub const BROKER_DEFAULT_KEYS: &[(&str, &str)] = &[
    ("log.cleanup.policy", "cleanup.policy"),
    ("log.retention.ms", "retention.ms"),
    ("log.retention.bytes", "retention.bytes"),
    ("log.segment.bytes", "segment.bytes"),
    ("log.roll.ms", "segment.ms"),
    ("log.cleaner.delete.retention.ms", "delete.retention.ms"),
    ("log.flush.interval.messages", "flush.messages"),
    ("log.flush.interval.ms", "flush.ms"),
    ("log.index.interval.bytes", "index.interval.bytes"),
    ("message.max.bytes", "max.message.bytes"),
    ("log.cleaner.min.compaction.lag.ms", "min.compaction.lag.ms"),
];

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> Error {
    Error::InvalidConfig {
        key: key.to_string(),
        value: value.to_string(),
        reason: reason.into(),
    }
}

fn int(key: &str, value: &str, min: i64) -> Result<i64, Error> {
    let v: i64 = value
        .trim()
        .parse()
        .map_err(|_| invalid(key, value, "not a whole number"))?;
    if v < min {
        return Err(invalid(key, value, format!("must be at least {min}")));
    }
    Ok(v)
}

impl TopicConfig {
    /// Applies one topic-level key.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), Error> {
        match key {
            "cleanup.policy" => {
                let mut compact = false;
                let mut delete = false;
                for p in value.split(',').map(str::trim) {
                    match p {
                        "compact" => compact = true,
                        "delete" => delete = true,
                        _ => {
                            return Err(invalid(key, value, "expected delete, compact or both"));
                        }
                    }
                }
                self.compact = compact;
                self.delete = delete;
            }
            "retention.ms" => self.retention_ms = int(key, value, -1)?,
            "retention.bytes" => self.retention_bytes = int(key, value, -1)?,
            "segment.bytes" => self.segment_bytes = int(key, value, 100)? as u64,
            "segment.ms" => self.segment_ms = int(key, value, 1)?,
            "delete.retention.ms" => self.delete_retention_ms = int(key, value, 0)?,
            "flush.messages" => self.flush_messages = int(key, value, 1)?,
            "flush.ms" => self.flush_ms = int(key, value, 0)?,
            "index.interval.bytes" => self.index_interval_bytes = int(key, value, 1)? as u64,
            "max.message.bytes" => self.max_message_bytes = int(key, value, 64)? as usize,
            "min.compaction.lag.ms" => self.min_compaction_lag_ms = int(key, value, 0)?,
            "message.timestamp.type" if value == "CreateTime" => {}
            "message.timestamp.type" => {
                return Err(invalid(key, value, "only CreateTime is supported"));
            }
            "compression.type" if value == "producer" => {}
            "compression.type" => {
                return Err(invalid(
                    key,
                    value,
                    "only 'producer' is supported: batches are stored as producers compress them",
                ));
            }
            k if INERT_KEYS.contains(&k) => {}
            _ => return Err(invalid(key, value, "unknown topic config")),
        }
        Ok(())
    }

    /// `self` with `overrides` applied; every bad key is reported, not just the first.
    pub fn with_overrides(&self, overrides: &BTreeMap<String, String>) -> Result<Self, Vec<Error>> {
        let mut cfg = self.clone();
        let errors: Vec<Error> = overrides
            .iter()
            .filter_map(|(k, v)| cfg.set(k, v).err())
            .collect();
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// Topic defaults from broker-level `log.*` keys; other keys are ignored.
    pub fn from_broker_keys(map: &BTreeMap<String, String>) -> Result<Self, Vec<Error>> {
        let mut cfg = Self::default();
        let mut errors = Vec::new();
        for (broker_key, topic_key) in BROKER_DEFAULT_KEYS {
            if let Some(v) = map.get(*broker_key)
                && let Err(e) = cfg.set(topic_key, v)
            {
                errors.push(invalid(broker_key, v, e.to_string()));
            }
        }
        if errors.is_empty() {
            Ok(cfg)
        } else {
            Err(errors)
        }
    }

    /// Whether every `flush.messages` messages trigger an fsync.
    pub fn flush_every_messages(&self) -> Option<u64> {
        (self.flush_messages != i64::MAX).then_some(self.flush_messages as u64)
    }

    /// The durability this config gives, in words, for logs and `describe`.
    pub fn durability(&self) -> String {
        let by_count = match self.flush_every_messages() {
            Some(1) => Some("fsync after every batch".to_string()),
            Some(n) => Some(format!("fsync after every {n} messages")),
            None => None,
        };
        let by_time =
            (self.flush_ms != i64::MAX).then(|| format!("fsync every {} ms", self.flush_ms));
        match (by_count, by_time) {
            (Some(c), Some(t)) => format!("{c} and {t}"),
            (Some(c), None) => c,
            (None, Some(t)) => t,
            (None, None) => "left to the OS: fsync on segment roll, at each recovery checkpoint and at shutdown; a machine crash may lose recent appends".to_string(),
        }
    }

    /// Every effective value under its Kafka key, for `describe`.
    pub fn entries(&self) -> Vec<(&'static str, String)> {
        let policy = match (self.compact, self.delete) {
            (true, true) => "compact,delete",
            (true, false) => "compact",
            _ => "delete",
        };
        vec![
            ("cleanup.policy", policy.to_string()),
            ("retention.ms", self.retention_ms.to_string()),
            ("retention.bytes", self.retention_bytes.to_string()),
            ("segment.bytes", self.segment_bytes.to_string()),
            ("segment.ms", self.segment_ms.to_string()),
            ("delete.retention.ms", self.delete_retention_ms.to_string()),
            ("flush.messages", self.flush_messages.to_string()),
            ("flush.ms", self.flush_ms.to_string()),
            (
                "index.interval.bytes",
                self.index_interval_bytes.to_string(),
            ),
            ("max.message.bytes", self.max_message_bytes.to_string()),
            (
                "min.compaction.lag.ms",
                self.min_compaction_lag_ms.to_string(),
            ),
            ("message.timestamp.type", "CreateTime".to_string()),
            ("compression.type", "producer".to_string()),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_key_is_reported() {
        let mut o = BTreeMap::new();
        o.insert("retention.ms".to_string(), "soon".to_string());
        o.insert("cleanup.policy".to_string(), "shred".to_string());
        o.insert("no.such.key".to_string(), "1".to_string());
        let errs = TopicConfig::default()
            .with_overrides(&o)
            .expect_err("three bad keys");
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "invalid config cleanup.policy=\"shred\": expected delete, compact or both",
                "invalid config no.such.key=\"1\": unknown topic config",
                "invalid config retention.ms=\"soon\": not a whole number",
            ]
        );
    }

    #[test]
    fn broker_keys_set_defaults() {
        let mut m = BTreeMap::new();
        m.insert("log.segment.bytes".to_string(), "4096".to_string());
        m.insert("log.flush.interval.messages".to_string(), "1".to_string());
        let c = TopicConfig::from_broker_keys(&m).expect("valid");
        assert_eq!(c.segment_bytes, 4096);
        assert_eq!(c.durability(), "fsync after every batch");
        let mut both = c.clone();
        both.set("flush.ms", "500").expect("valid");
        assert_eq!(
            both.durability(),
            "fsync after every batch and fsync every 500 ms"
        );
    }
}
