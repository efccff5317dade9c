//! Reading topics with kcat (librdkafka), an independent Kafka client: records with their
//! keys, values, headers, partitions and timestamps, as a Kafka consumer sees them.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use crate::run_with_timeout;

/// One record as kcat's `-J` prints it.
#[derive(Debug, Clone, PartialEq)]
pub struct KcatRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub key: Option<String>,
    pub value: Option<String>,
    pub headers: Vec<(String, Option<String>)>,
}

impl KcatRecord {
    /// The last header named `key`.
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .and_then(|(_, v)| v.as_deref())
    }

    /// The error a dead-letter record carries (Kafka's `__connect.errors.exception.message`
    /// context header), empty when it has none.
    pub fn dlq_reason(&self) -> String {
        self.header("__connect.errors.exception.message")
            .unwrap_or_default()
            .to_string()
    }

    /// The value parsed as JSON (`Null` for a tombstone).
    pub fn json(&self) -> Value {
        self.value.as_deref().map_or(Value::Null, |v| {
            serde_json::from_str(v).unwrap_or(Value::String(v.into()))
        })
    }
}

/// kcat: `WEIR_KCAT`, else the one on `PATH` (`./scripts/test` installs Debian's).
pub fn kcat_bin() -> PathBuf {
    std::env::var_os("WEIR_KCAT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("kcat"))
}

/// Every record of `topic` from the beginning (empty when the topic does not exist yet).
/// kcat stops at the end of the topic, which it only sees when a fetch finds nothing new:
/// a topic written more often than every 500 ms (its fetch wait) keeps it reading.
pub fn consume(bootstrap: &str, topic: &str) -> Vec<KcatRecord> {
    let mut cmd = Command::new(kcat_bin());
    cmd.args([
        "-b",
        bootstrap,
        "-C",
        "-t",
        topic,
        "-o",
        "beginning",
        "-e",
        "-J",
        "-q",
    ]);
    let out = run_with_timeout(&format!("kcat -C -t {topic}"), cmd, Duration::from_secs(30));
    if !out.status.success() {
        return Vec::new();
    }
    out.lines()
        .iter()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .map(|m| {
            let text = |v: &Value| v.as_str().map(str::to_string);
            let headers = m["headers"]
                .as_array()
                .map(|h| {
                    h.chunks(2)
                        .map(|kv| (text(&kv[0]).unwrap_or_default(), kv.get(1).and_then(text)))
                        .collect()
                })
                .unwrap_or_default();
            KcatRecord {
                partition: m["partition"].as_i64().unwrap_or(-1) as i32,
                offset: m["offset"].as_i64().unwrap_or(-1),
                timestamp: m["ts"].as_i64().unwrap_or(-1),
                key: text(&m["key"]),
                value: text(&m["payload"]),
                headers,
            }
        })
        .collect()
}

/// Waits until `topic` holds at least `n` records; returns them.
pub fn wait_records(bootstrap: &str, topic: &str, n: usize) -> Vec<KcatRecord> {
    let deadline = std::time::Instant::now() + Duration::from_secs(90);
    loop {
        let records = consume(bootstrap, topic);
        if records.len() >= n || std::time::Instant::now() > deadline {
            assert!(
                records.len() >= n,
                "{topic}: expected {n} records, kcat read {}: {records:?}",
                records.len()
            );
            return records;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}
