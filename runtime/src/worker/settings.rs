//! The worker's own keys of the worker config (Kafka Connect's worker properties), parsed
//! with every error reported at once.

use std::collections::BTreeMap;
use std::time::Duration;

use weir_connect_api::{ConfigMap, Secret};

use super::store::InternalTopics;

/// Keys this module reads (the worker config warns about keys nobody reads).
pub const SETTINGS_KEYS: &[&str] = &[
    "rest.listeners",
    "rest.advertised.host.name",
    "rest.advertised.port",
    "rest.auth.basic.username",
    "rest.auth.basic.password",
    "rest.auth.bearer.token",
    "key.converter",
    "value.converter",
    "header.converter",
    "offset.flush.interval.ms",
    "offset.flush.timeout.ms",
    "task.shutdown.graceful.timeout.ms",
    "config.storage.topic",
    "offset.storage.topic",
    "offset.storage.partitions",
    "status.storage.topic",
    "status.storage.partitions",
    "topic.tracking.enable",
    "topic.tracking.allow.reset",
    "group.id",
    "bootstrap.servers",
    "config.storage.replication.factor",
    "offset.storage.replication.factor",
    "status.storage.replication.factor",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "rebalance.timeout.ms",
    "scheduled.rebalance.max.delay.ms",
    "connect.protocol",
    "plugin.path",
    "plugin.reload.interval.ms",
];

/// Prefixes of keys passed on as they are (converter sub-configs).
pub const SETTINGS_PREFIXES: &[&str] = &["key.converter.", "value.converter.", "header.converter."];

/// How REST clients must authenticate (none by default).
#[derive(Debug, Clone, Default)]
pub enum RestAuth {
    #[default]
    None,
    Basic {
        username: String,
        password: Secret,
    },
    Bearer(Secret),
}

#[derive(Debug, Clone)]
pub struct WorkerSettings {
    /// Where the REST API binds (`rest.listeners`, `http://host:port` or `host:port`).
    pub rest_listen: String,
    /// `host:port` reported as `worker_id`; set by `serve` once the listener is bound.
    pub worker_id: String,
    pub rest_auth: RestAuth,
    /// `rest.advertised.host.name` / `rest.advertised.port`: what `worker_id` says instead
    /// of the bound address.
    pub rest_advertised_host: Option<String>,
    pub rest_advertised_port: Option<u16>,
    /// Worker-level converter keys: `key.converter`, `value.converter` and their prefixed
    /// sub-configs; a connector's own keys override them.
    pub converter_props: ConfigMap,
    pub offset_flush_interval: Duration,
    pub offset_flush_timeout: Duration,
    pub task_shutdown_timeout: Duration,
    pub internal_topics: InternalTopics,
    pub topic_tracking: bool,
    pub topic_tracking_reset: bool,
    /// Partitions of topics a source creates on first write (`num.partitions`).
    pub default_partitions: i32,
    /// Directories of WASM plugins (`plugin.path`, comma-separated, as Kafka Connect's).
    pub plugin_path: Vec<std::path::PathBuf>,
    /// How often plugin files are checked for changes (`plugin.reload.interval.ms`); zero
    /// turns hot reload off.
    pub plugin_reload_interval: Duration,
    /// `bootstrap.servers`: the log is this external Kafka cluster instead of the embedded
    /// broker.
    pub bootstrap_servers: Option<String>,
    /// `group.id`: with `bootstrap.servers`, the worker shares connectors with every worker
    /// of this group (distributed mode).
    pub group_id: Option<String>,
    /// Group membership timings (`session.timeout.ms`, `heartbeat.interval.ms`,
    /// `rebalance.timeout.ms`).
    pub session_timeout: Duration,
    pub heartbeat_interval: Duration,
    pub rebalance_timeout: Duration,
}

impl Default for WorkerSettings {
    fn default() -> Self {
        let mut converter_props = ConfigMap::new();
        converter_props.insert(
            "key.converter".into(),
            "org.apache.kafka.connect.json.JsonConverter".into(),
        );
        converter_props.insert(
            "value.converter".into(),
            "org.apache.kafka.connect.json.JsonConverter".into(),
        );
        Self {
            rest_listen: "127.0.0.1:8083".into(),
            worker_id: "127.0.0.1:8083".into(),
            rest_auth: RestAuth::None,
            rest_advertised_host: None,
            rest_advertised_port: None,
            converter_props,
            offset_flush_interval: Duration::from_millis(60_000),
            offset_flush_timeout: Duration::from_millis(5_000),
            task_shutdown_timeout: Duration::from_millis(5_000),
            internal_topics: InternalTopics::default(),
            topic_tracking: true,
            topic_tracking_reset: true,
            default_partitions: 1,
            plugin_path: Vec::new(),
            plugin_reload_interval: Duration::from_millis(1_000),
            bootstrap_servers: None,
            group_id: None,
            session_timeout: Duration::from_millis(10_000),
            heartbeat_interval: Duration::from_millis(3_000),
            rebalance_timeout: Duration::from_millis(60_000),
        }
    }
}

impl WorkerSettings {
    /// Reads the worker keys of `map`; errors are `key=value: reason` lines.
    pub fn from_map(map: &BTreeMap<String, String>) -> Result<Self, Vec<String>> {
        let mut s = Self::default();
        let mut errors = Vec::new();
        let mut ms = |key: &str, min: i64| -> Option<Duration> {
            let v = map.get(key)?;
            match v.trim().parse::<i64>() {
                Ok(n) if n >= min => Some(Duration::from_millis(n as u64)),
                _ => {
                    errors.push(format!("{key}={v:?}: expected a whole number >= {min}"));
                    None
                }
            }
        };
        if let Some(d) = ms("offset.flush.interval.ms", 1) {
            s.offset_flush_interval = d;
        }
        if let Some(d) = ms("offset.flush.timeout.ms", 1) {
            s.offset_flush_timeout = d;
        }
        if let Some(d) = ms("task.shutdown.graceful.timeout.ms", 0) {
            s.task_shutdown_timeout = d;
        }
        if let Some(d) = ms("plugin.reload.interval.ms", 0) {
            s.plugin_reload_interval = d;
        }
        if let Some(d) = ms("session.timeout.ms", 1) {
            s.session_timeout = d;
        }
        if let Some(d) = ms("heartbeat.interval.ms", 1) {
            s.heartbeat_interval = d;
        }
        if let Some(d) = ms("rebalance.timeout.ms", 1) {
            s.rebalance_timeout = d;
        }
        if let Some(v) = map.get("scheduled.rebalance.max.delay.ms")
            && v.trim() != "0"
        {
            tracing::warn!(
                "scheduled.rebalance.max.delay.ms={v}: weir reassigns the work of a departed worker at the next rebalance (as with 0)"
            );
        }
        if let Some(v) = map.get("connect.protocol")
            && !["sessioned", "compatible"].contains(&v.trim())
        {
            errors.push(format!(
                "connect.protocol={v:?}: weir speaks the incremental cooperative protocols sessioned and compatible"
            ));
        }
        if let Some(v) = map.get("bootstrap.servers") {
            let servers: Vec<&str> = v
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .collect();
            match servers.iter().find(|a| {
                a.rsplit_once(':')
                    .is_none_or(|(_, p)| p.parse::<u16>().is_err())
            }) {
                _ if servers.is_empty() => errors.push("bootstrap.servers is empty".to_string()),
                Some(bad) => {
                    errors.push(format!("bootstrap.servers={v:?}: {bad:?} is not host:port"))
                }
                None => s.bootstrap_servers = Some(servers.join(",")),
            }
        }
        if let Some(v) = map.get("group.id") {
            if v.trim().is_empty() {
                errors.push("group.id is empty".to_string());
            } else {
                s.group_id = Some(v.trim().to_string());
            }
        }
        for (i, key) in [
            "config.storage.replication.factor",
            "offset.storage.replication.factor",
            "status.storage.replication.factor",
        ]
        .into_iter()
        .enumerate()
        {
            if let Some(v) = map.get(key) {
                match v.trim().parse::<i16>() {
                    Ok(n) if n >= 1 || n == -1 => s.internal_topics.replication_factors[i] = n,
                    _ => errors.push(format!(
                        "{key}={v:?}: expected a replication factor >= 1, or -1 for the cluster's default"
                    )),
                }
            }
        }
        if let Some(v) = map.get("plugin.path") {
            s.plugin_path = v
                .split(',')
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(std::path::PathBuf::from)
                .collect();
        }
        for (key, target) in [
            (
                "offset.storage.partitions",
                &mut s.internal_topics.offsets_partitions,
            ),
            (
                "status.storage.partitions",
                &mut s.internal_topics.status_partitions,
            ),
        ] {
            if let Some(v) = map.get(key) {
                match v.trim().parse::<i32>() {
                    Ok(n) if n >= 1 => *target = n,
                    // Kafka's -1 means "the broker's default": one partition here.
                    Ok(-1) => *target = 1,
                    _ => errors.push(format!("{key}={v:?}: expected a partition count >= 1")),
                }
            }
        }
        for (key, target) in [
            ("config.storage.topic", &mut s.internal_topics.configs),
            ("offset.storage.topic", &mut s.internal_topics.offsets),
            ("status.storage.topic", &mut s.internal_topics.status),
        ] {
            if let Some(v) = map.get(key) {
                if v.trim().is_empty() {
                    errors.push(format!("{key} is empty"));
                } else {
                    *target = v.trim().to_string();
                }
            }
        }
        for (key, target) in [
            ("topic.tracking.enable", &mut s.topic_tracking),
            ("topic.tracking.allow.reset", &mut s.topic_tracking_reset),
        ] {
            match map.get(key).map(|v| v.trim()) {
                None => {}
                Some("true") => *target = true,
                Some("false") => *target = false,
                Some(v) => errors.push(format!("{key}={v:?}: expected true or false")),
            }
        }
        if let Some(v) = map.get("rest.listeners") {
            match parse_rest_listener(v) {
                Ok(addr) => s.rest_listen = addr,
                Err(e) => errors.push(format!("rest.listeners={v:?}: {e}")),
            }
        }
        if let Some(h) = map.get("rest.advertised.host.name") {
            if h.trim().is_empty() {
                errors.push("rest.advertised.host.name is empty".to_string());
            } else {
                s.rest_advertised_host = Some(h.trim().to_string());
            }
        }
        if let Some(p) = map.get("rest.advertised.port") {
            match p.trim().parse::<u16>() {
                Ok(port) if port > 0 => s.rest_advertised_port = Some(port),
                _ => errors.push(format!(
                    "rest.advertised.port={p:?}: expected a port from 1 to 65535"
                )),
            }
        }
        let user = map.get("rest.auth.basic.username");
        let password = map.get("rest.auth.basic.password");
        let token = map.get("rest.auth.bearer.token");
        s.rest_auth = match (user, password, token) {
            (None, None, None) => RestAuth::None,
            (Some(u), Some(p), None) => RestAuth::Basic {
                username: u.clone(),
                password: Secret::new(p.clone()),
            },
            (None, None, Some(t)) if !t.is_empty() => RestAuth::Bearer(Secret::new(t.clone())),
            (None, None, Some(_)) => {
                errors.push("rest.auth.bearer.token is empty".to_string());
                RestAuth::None
            }
            (Some(_), None, _) | (None, Some(_), _) => {
                errors.push(
                    "rest.auth.basic.username and rest.auth.basic.password go together".to_string(),
                );
                RestAuth::None
            }
            (Some(_), Some(_), Some(_)) => {
                errors
                    .push("choose one of rest.auth.basic.* and rest.auth.bearer.token".to_string());
                RestAuth::None
            }
        };
        for (k, v) in map {
            let converter_key = ["key.converter", "value.converter", "header.converter"]
                .contains(&k.as_str())
                || SETTINGS_PREFIXES.iter().any(|p| k.starts_with(p));
            if converter_key {
                s.converter_props.insert(k.clone(), v.clone());
            }
        }
        if errors.is_empty() {
            Ok(s)
        } else {
            Err(errors)
        }
    }

    /// Whether `key` is read here.
    pub fn knows(key: &str) -> bool {
        SETTINGS_KEYS.contains(&key) || SETTINGS_PREFIXES.iter().any(|p| key.starts_with(p))
    }
}

/// `http://host:port` or `host:port`; only plain HTTP.
pub fn parse_rest_listener(v: &str) -> Result<String, String> {
    let v = v.trim();
    if v.contains(',') {
        return Err("weir serves REST on one listener; give a single address".to_string());
    }
    let addr = match v.split_once("://") {
        Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
        Some((scheme, _)) => return Err(format!("scheme {scheme} is not supported; use http")),
        None => v,
    };
    let (host, port) = addr
        .rsplit_once(':')
        .ok_or_else(|| "expected host:port".to_string())?;
    port.parse::<u16>()
        .map_err(|_| format!("port {port:?} is not a number from 0 to 65535"))?;
    let host = if host.is_empty() { "0.0.0.0" } else { host };
    Ok(format!("{host}:{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn worker_keys_parse_and_errors_name_the_key() {
        let s = WorkerSettings::from_map(&map(&[
            ("rest.listeners", "http://127.0.0.1:0"),
            ("offset.flush.interval.ms", "1000"),
            (
                "value.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
            ("key.converter.schemas.enable", "false"),
            ("rest.auth.bearer.token", "t0ken"),
            ("rest.advertised.host.name", "worker-1.internal"),
            ("rest.advertised.port", "18083"),
        ]))
        .expect("valid");
        assert_eq!(s.rest_advertised_host.as_deref(), Some("worker-1.internal"));
        assert_eq!(s.rest_advertised_port, Some(18083));
        assert_eq!(s.rest_listen, "127.0.0.1:0");
        assert_eq!(s.offset_flush_interval, Duration::from_secs(1));
        assert_eq!(s.converter_props["key.converter.schemas.enable"], "false");
        assert!(matches!(s.rest_auth, RestAuth::Bearer(_)));
        let errors = WorkerSettings::from_map(&map(&[
            ("rest.listeners", "https://h:1"),
            ("offset.flush.interval.ms", "soon"),
            ("rest.auth.basic.username", "u"),
        ]))
        .expect_err("three errors");
        assert_eq!(errors.len(), 3, "{errors:?}");
        assert!(
            errors[0].starts_with("offset.flush.interval.ms"),
            "{errors:?}"
        );
    }

    #[test]
    fn cluster_keys_parse_and_errors_name_the_key() {
        let s = WorkerSettings::from_map(&map(&[
            ("bootstrap.servers", "k1:9092, k2:9092"),
            ("group.id", "connect-cluster"),
            ("config.storage.replication.factor", "1"),
            ("status.storage.replication.factor", "-1"),
            ("session.timeout.ms", "6000"),
        ]))
        .expect("valid");
        assert_eq!(s.bootstrap_servers.as_deref(), Some("k1:9092,k2:9092"));
        assert_eq!(s.group_id.as_deref(), Some("connect-cluster"));
        assert_eq!(s.internal_topics.replication_factors, [1, 3, -1]);
        assert_eq!(s.session_timeout, Duration::from_secs(6));
        let errors = WorkerSettings::from_map(&map(&[
            ("bootstrap.servers", "k1"),
            ("group.id", " "),
            ("offset.storage.replication.factor", "0"),
            ("connect.protocol", "eager"),
        ]))
        .expect_err("four errors");
        assert_eq!(errors.len(), 4, "{errors:?}");
        for key in [
            "bootstrap.servers",
            "group.id",
            "offset.storage.replication.factor",
            "connect.protocol",
        ] {
            assert!(
                errors.iter().any(|e| e.starts_with(key)),
                "{key}: {errors:?}"
            );
        }
    }
}
