//! The worker config: a flat JSON map of Kafka-style keys (`configs/worker.json`), the same
//! shape as a Kafka Connect worker's properties. Values may be JSON strings, numbers or
//! booleans. Parsed once into [`WorkerConfig`]; every bad key is reported at once.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use weir_broker::config::BROKER_DEFAULT_KEYS;
use weir_broker::{BrokerOptions, TopicConfig};

/// Keys this version understands besides the `log.*` topic defaults.
const WORKER_KEYS: &[&str] = &[
    "data.dir",
    "log.dirs",
    "log.dir",
    "num.partitions",
    "auto.create.topics.enable",
    "offsets.topic.num.partitions",
    "log.retention.check.interval.ms",
    "log.flush.offset.checkpoint.interval.ms",
    "log.flush.scheduler.interval.ms",
    "listeners",
    "advertised.listeners",
    "socket.request.max.bytes",
    "max.connections",
    "node.id",
    "broker.id",
    "group.initial.rebalance.delay.ms",
    "group.min.session.timeout.ms",
    "group.max.session.timeout.ms",
];

#[derive(Debug, Clone)]
pub struct WorkerConfig {
    pub data_dir: PathBuf,
    pub topic_defaults: TopicConfig,
    pub num_partitions: i32,
    pub auto_create_topics: bool,
    pub offsets_partitions: i32,
    pub retention_check_interval: Duration,
    pub checkpoint_interval: Duration,
    /// How often `serve` looks for partitions whose `flush.ms` is due.
    pub flush_scheduler_interval: Duration,
    /// Where the Kafka protocol listener binds (`listeners`, `host:port`).
    pub listen: String,
    /// What clients are told to connect to (`advertised.listeners`); default: the bound
    /// address.
    pub advertised: Option<(String, u16)>,
    pub max_request_bytes: usize,
    pub max_connections: usize,
    pub node_id: i32,
    pub group: weir_broker::coordinator::CoordinatorConfig,
    /// The connector worker's keys (REST listener, converters, offset flushing, internal
    /// topics).
    pub worker: crate::worker::WorkerSettings,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            topic_defaults: TopicConfig::default(),
            num_partitions: 1,
            auto_create_topics: true,
            offsets_partitions: 50,
            retention_check_interval: Duration::from_millis(300_000),
            checkpoint_interval: Duration::from_millis(60_000),
            flush_scheduler_interval: Duration::from_millis(100),
            listen: "127.0.0.1:9092".to_string(),
            advertised: None,
            max_request_bytes: 100 * 1024 * 1024,
            max_connections: 1000,
            node_id: 0,
            group: weir_broker::coordinator::CoordinatorConfig::default(),
            worker: crate::worker::WorkerSettings::default(),
        }
    }
}

fn to_string_map(value: serde_json::Value) -> anyhow::Result<BTreeMap<String, String>> {
    let serde_json::Value::Object(obj) = value else {
        bail!("the worker config must be a JSON object of \"key\": \"value\" pairs");
    };
    let mut map = BTreeMap::new();
    for (k, v) in obj {
        let s = match v {
            serde_json::Value::String(s) => s,
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::Bool(b) => b.to_string(),
            other => {
                bail!("worker config key {k}: expected a string, number or boolean, got {other}")
            }
        };
        map.insert(k, s);
    }
    Ok(map)
}

impl WorkerConfig {
    /// Reads a worker config file.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read worker config {}", path.display()))?;
        let json: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("worker config {} is not valid JSON", path.display()))?;
        let map = to_string_map(json).with_context(|| format!("in {}", path.display()))?;
        Self::from_map(&map).with_context(|| format!("invalid worker config {}", path.display()))
    }

    /// Parses a flat key/value map; unknown keys are logged and ignored, as Kafka does.
    pub fn from_map(map: &BTreeMap<String, String>) -> anyhow::Result<Self> {
        let mut cfg = Self::default();
        let mut errors: Vec<String> = Vec::new();
        match TopicConfig::from_broker_keys(map) {
            Ok(t) => cfg.topic_defaults = t,
            Err(es) => errors.extend(es.iter().map(ToString::to_string)),
        }
        let mut int = |key: &str, min: i64| -> Option<i64> {
            let v = map.get(key)?;
            match v.trim().parse::<i64>() {
                Ok(n) if n >= min => Some(n),
                _ => {
                    errors.push(format!("{key}={v:?}: expected a whole number >= {min}"));
                    None
                }
            }
        };
        if let Some(n) = int("num.partitions", 1) {
            cfg.num_partitions = n.min(i64::from(i32::MAX)) as i32;
        }
        if let Some(n) = int("offsets.topic.num.partitions", 1) {
            cfg.offsets_partitions = n.min(1000) as i32;
        }
        if let Some(n) = int("log.retention.check.interval.ms", 1) {
            cfg.retention_check_interval = Duration::from_millis(n as u64);
        }
        if let Some(n) = int("log.flush.offset.checkpoint.interval.ms", 1) {
            cfg.checkpoint_interval = Duration::from_millis(n as u64);
        }
        if let Some(n) = int("log.flush.scheduler.interval.ms", 1) {
            cfg.flush_scheduler_interval = Duration::from_millis(n as u64);
        }
        if let Some(n) = int("socket.request.max.bytes", 1024) {
            cfg.max_request_bytes = n.min(i64::from(i32::MAX)) as usize;
        }
        if let Some(n) = int("max.connections", 1) {
            cfg.max_connections = n.min(1_000_000) as usize;
        }
        if let Some(n) = int("node.id", 0).or_else(|| int("broker.id", 0)) {
            cfg.node_id = n.min(i64::from(i32::MAX)) as i32;
        }
        if let Some(n) = int("group.initial.rebalance.delay.ms", 0) {
            cfg.group.initial_rebalance_delay_ms = n.min(i64::from(i32::MAX)) as i32;
        }
        if let Some(n) = int("group.min.session.timeout.ms", 1) {
            cfg.group.min_session_timeout_ms = n.min(i64::from(i32::MAX)) as i32;
        }
        if let Some(n) = int("group.max.session.timeout.ms", 1) {
            cfg.group.max_session_timeout_ms = n.min(i64::from(i32::MAX)) as i32;
        }
        for (key, target) in [("listeners", 0), ("advertised.listeners", 1)] {
            let Some(v) = map.get(key) else { continue };
            match parse_listener(v) {
                Ok((host, port)) if target == 0 => cfg.listen = format!("{host}:{port}"),
                Ok(hp) => cfg.advertised = Some(hp),
                Err(e) => errors.push(format!("{key}={v:?}: {e}")),
            }
        }
        if let Some(v) = map.get("auto.create.topics.enable") {
            match v.as_str() {
                "true" => cfg.auto_create_topics = true,
                "false" => cfg.auto_create_topics = false,
                _ => errors.push(format!(
                    "auto.create.topics.enable={v:?}: expected true or false"
                )),
            }
        }
        let dir = map
            .get("data.dir")
            .or_else(|| map.get("log.dirs"))
            .or_else(|| map.get("log.dir"));
        if let Some(d) = dir {
            if d.contains(',') {
                errors.push(format!("log.dirs={d:?}: weir keeps one data directory"));
            } else if d.trim().is_empty() {
                errors.push("data.dir is empty".to_string());
            } else {
                cfg.data_dir = PathBuf::from(d.trim());
            }
        }
        match crate::worker::WorkerSettings::from_map(map) {
            Ok(w) => cfg.worker = w,
            Err(es) => errors.extend(es),
        }
        cfg.worker.default_partitions = cfg.num_partitions;
        for key in map.keys() {
            let known = WORKER_KEYS.contains(&key.as_str())
                || crate::worker::WorkerSettings::knows(key)
                || BROKER_DEFAULT_KEYS.iter().any(|(k, _)| k == key);
            if !known {
                tracing::warn!(key = %key, "worker config key is not known to this version of weir; ignored");
            }
        }
        if !errors.is_empty() {
            bail!("{} error(s):\n  {}", errors.len(), errors.join("\n  "));
        }
        Ok(cfg)
    }

    /// Applies `weir serve --listen`.
    pub fn set_listen(&mut self, listen: &str) -> anyhow::Result<()> {
        let (host, port) =
            parse_listener(listen).map_err(|e| anyhow::anyhow!("--listen {listen:?}: {e}"))?;
        self.listen = format!("{host}:{port}");
        Ok(())
    }

    pub fn broker_options(&self) -> BrokerOptions {
        let mut o = BrokerOptions::new(&self.data_dir);
        o.defaults = self.topic_defaults.clone();
        o.offsets_partitions = self.offsets_partitions;
        o
    }
}

/// Parses one Kafka listener, `PLAINTEXT://host:port` or `host:port`, into (host, port).
fn parse_listener(v: &str) -> Result<(String, u16), String> {
    let v = v.trim();
    if v.contains(',') {
        return Err("weir has one listener; give a single address".to_string());
    }
    let addr = match v.split_once("://") {
        Some(("PLAINTEXT", rest)) => rest,
        Some((scheme, _)) => {
            return Err(format!(
                "security protocol {scheme} is not supported; use PLAINTEXT"
            ));
        }
        None => v,
    };
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| "expected host:port".to_string())?;
    let port: u16 = port
        .parse()
        .map_err(|_| format!("port {port:?} is not a number from 0 to 65535"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_errors_are_reported_together() {
        let mut m = BTreeMap::new();
        m.insert("num.partitions".to_string(), "zero".to_string());
        m.insert("log.segment.bytes".to_string(), "-5".to_string());
        m.insert("auto.create.topics.enable".to_string(), "maybe".to_string());
        let err = WorkerConfig::from_map(&m)
            .expect_err("three errors")
            .to_string();
        assert!(err.starts_with("3 error(s)"), "{err}");
        assert!(err.contains("log.segment.bytes"), "{err}");
        assert!(err.contains("num.partitions"), "{err}");
        assert!(err.contains("auto.create.topics.enable"), "{err}");
    }

    #[test]
    fn listeners_parse_like_kafka() {
        assert_eq!(
            parse_listener("PLAINTEXT://127.0.0.1:9092"),
            Ok(("127.0.0.1".to_string(), 9092))
        );
        assert_eq!(parse_listener(":9093"), Ok(("0.0.0.0".to_string(), 9093)));
        assert!(parse_listener("SSL://h:1").is_err_and(|e| e.contains("SSL")));
        assert!(parse_listener("h:port").is_err_and(|e| e.contains("port")));
    }

    #[test]
    fn shipped_worker_config_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/worker.json");
        let cfg = WorkerConfig::load(&path).expect("configs/worker.json is valid");
        assert_eq!(cfg.data_dir, PathBuf::from("./data"));
    }
}
