//! Records of the worker's internal topics, byte for byte as Kafka Connect writes them
//! (JSON without schemas; struct fields in the order of Kafka's schemas):
//!
//! | topic | key | value |
//! |---|---|---|
//! | `connect-configs` | `connector-<name>` | `{"properties":{…}}` (null: deleted) |
//! | `connect-configs` | `task-<name>-<n>` | `{"properties":{…}}` |
//! | `connect-configs` | `commit-<name>` | `{"tasks":N}` |
//! | `connect-configs` | `target-state-<name>` | `{"state":"STARTED\|PAUSED","state.v2":"…"}` |
//! | `connect-configs` | `restart-connector-<name>` | `{"only-failed":b,"include-tasks":b}` |
//! | `connect-offsets` | `["<name>",{<source partition>}]` | `{<source offset>}` (null: reset) |
//! | `connect-status` | `status-connector-<name>`, `status-task-<name>-<n>` | `{"state":…,"trace":…,"worker_id":…,"generation":N}` |

use weir_connect_api::ConfigMap;
use weir_connect_api::record::SourceMap;

/// A connector's target state (`PUT /connectors/<name>/pause|resume|stop`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Started,
    Paused,
    Stopped,
}

impl TargetState {
    pub fn name(self) -> &'static str {
        match self {
            TargetState::Started => "STARTED",
            TargetState::Paused => "PAUSED",
            TargetState::Stopped => "STOPPED",
        }
    }
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "STARTED" => TargetState::Started,
            "PAUSED" => TargetState::Paused,
            "STOPPED" => TargetState::Stopped,
            _ => return None,
        })
    }
}

/// A connector or task state as `connect-status` and the REST API report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub state: String,
    pub trace: Option<String>,
    pub worker_id: String,
    pub generation: i32,
}

/// One decoded record of `connect-configs`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigRecord {
    /// `None`: the connector was deleted (a tombstone).
    Connector(String, Option<ConfigMap>),
    Task(String, u32, ConfigMap),
    Commit(String, u32),
    Target(String, TargetState),
    Restart {
        connector: String,
        only_failed: bool,
        include_tasks: bool,
    },
}

/// Why an internal record cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unreadable record {key:?} in {topic}: {reason}")]
pub struct RecordError {
    pub topic: &'static str,
    pub key: String,
    pub reason: String,
}

/// A JSON string literal as Jackson writes it.
fn json_str(s: &str) -> String {
    serde_json::Value::String(s.to_string()).to_string()
}

fn properties(config: &ConfigMap) -> String {
    let entries: Vec<String> = config
        .iter()
        .map(|(k, v)| format!("{}:{}", json_str(k), json_str(v)))
        .collect();
    format!("{{\"properties\":{{{}}}}}", entries.join(","))
}

impl ConfigRecord {
    /// The record's key and value (`None` for a tombstone).
    pub fn encode(&self) -> (String, Option<String>) {
        match self {
            ConfigRecord::Connector(name, config) => {
                (format!("connector-{name}"), config.as_ref().map(properties))
            }
            ConfigRecord::Task(name, n, config) => {
                (format!("task-{name}-{n}"), Some(properties(config)))
            }
            ConfigRecord::Commit(name, tasks) => (
                format!("commit-{name}"),
                Some(format!("{{\"tasks\":{tasks}}}")),
            ),
            ConfigRecord::Target(name, state) => {
                // Workers before KIP-875 read only "state": a stopped connector is paused
                // for them.
                let legacy = match state {
                    TargetState::Started => "STARTED",
                    TargetState::Paused | TargetState::Stopped => "PAUSED",
                };
                (
                    format!("target-state-{name}"),
                    Some(format!(
                        "{{\"state\":\"{legacy}\",\"state.v2\":\"{}\"}}",
                        state.name()
                    )),
                )
            }
            ConfigRecord::Restart {
                connector,
                only_failed,
                include_tasks,
            } => (
                format!("restart-connector-{connector}"),
                Some(format!(
                    "{{\"only-failed\":{only_failed},\"include-tasks\":{include_tasks}}}"
                )),
            ),
        }
    }

    /// Reads a record; `Ok(None)` for keys this worker does not use (session keys, fencing,
    /// logger levels), which Kafka Connect also writes there.
    pub fn decode(key: &str, value: Option<&[u8]>) -> Result<Option<Self>, RecordError> {
        let err = |reason: String| RecordError {
            topic: "connect-configs",
            key: key.to_string(),
            reason,
        };
        let json: Option<serde_json::Value> = match value {
            None => None,
            Some(v) => Some(serde_json::from_slice(v).map_err(|e| err(e.to_string()))?),
        };
        let props = |j: &Option<serde_json::Value>| -> Result<ConfigMap, RecordError> {
            let obj = j
                .as_ref()
                .and_then(|j| j.get("properties"))
                .and_then(serde_json::Value::as_object)
                .ok_or_else(|| err("no \"properties\" object".into()))?;
            Ok(obj
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect())
        };
        if let Some(name) = key.strip_prefix("connector-") {
            let config = if json.is_some() {
                Some(props(&json)?)
            } else {
                None
            };
            return Ok(Some(ConfigRecord::Connector(name.to_string(), config)));
        }
        if let Some(rest) = key.strip_prefix("task-") {
            let (name, n) = rest
                .rsplit_once('-')
                .and_then(|(name, n)| Some((name, n.parse::<u32>().ok()?)))
                .ok_or_else(|| err("expected task-<connector>-<n>".into()))?;
            return Ok(Some(ConfigRecord::Task(name.to_string(), n, props(&json)?)));
        }
        let field = |name: &str| json.as_ref().and_then(|j| j.get(name));
        if let Some(name) = key.strip_prefix("commit-") {
            let tasks = field("tasks")
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| err("no \"tasks\" count".into()))?;
            return Ok(Some(ConfigRecord::Commit(name.to_string(), tasks as u32)));
        }
        if let Some(name) = key.strip_prefix("target-state-") {
            let state = field("state.v2")
                .or_else(|| field("state"))
                .and_then(serde_json::Value::as_str)
                .and_then(TargetState::parse)
                .ok_or_else(|| err("no valid \"state\"".into()))?;
            return Ok(Some(ConfigRecord::Target(name.to_string(), state)));
        }
        if let Some(name) = key.strip_prefix("restart-connector-") {
            let flag = |n: &str| {
                field(n)
                    .and_then(serde_json::Value::as_bool)
                    .unwrap_or(false)
            };
            return Ok(Some(ConfigRecord::Restart {
                connector: name.to_string(),
                only_failed: flag("only-failed"),
                include_tasks: flag("include-tasks"),
            }));
        }
        Ok(None)
    }
}

/// The `connect-offsets` key of a source partition: `["<connector>",{…}]`.
pub fn offset_key(connector: &str, partition: &SourceMap) -> String {
    serde_json::Value::Array(vec![
        serde_json::Value::String(connector.to_string()),
        serde_json::Value::Object(partition.clone()),
    ])
    .to_string()
}

/// Reads a `connect-offsets` record: (connector, partition, offset; `None` = reset).
pub fn decode_offset(
    key: &[u8],
    value: Option<&[u8]>,
) -> Result<(String, SourceMap, Option<SourceMap>), RecordError> {
    let err = |reason: &str| RecordError {
        topic: "connect-offsets",
        key: String::from_utf8_lossy(key).into_owned(),
        reason: reason.to_string(),
    };
    let parsed: serde_json::Value =
        serde_json::from_slice(key).map_err(|_| err("the key is not JSON"))?;
    let (connector, partition) = match parsed.as_array().map(Vec::as_slice) {
        Some([serde_json::Value::String(c), serde_json::Value::Object(p)]) => {
            (c.clone(), p.clone())
        }
        _ => return Err(err("expected [\"<connector>\",{partition}]")),
    };
    let offset = match value {
        None => None,
        Some(v) => match serde_json::from_slice(v) {
            Ok(serde_json::Value::Object(o)) => Some(o),
            Ok(serde_json::Value::Null) => None,
            _ => return Err(err("the offset is not a JSON object")),
        },
    };
    Ok((connector, partition, offset))
}

/// Keys of `connect-status`.
pub fn connector_status_key(name: &str) -> String {
    format!("status-connector-{name}")
}
pub fn task_status_key(name: &str, task: u32) -> String {
    format!("status-task-{name}-{task}")
}

/// The instance a `connect-status` key names: (connector, `None`) or (connector, task).
/// Topic-tracking keys and unknown ones are `None`.
pub fn parse_status_key(key: &str) -> Option<(String, Option<u32>)> {
    if let Some(name) = key.strip_prefix("status-connector-") {
        return Some((name.to_string(), None));
    }
    let rest = key.strip_prefix("status-task-")?;
    let (name, task) = rest.rsplit_once('-')?;
    Some((name.to_string(), Some(task.parse().ok()?)))
}

impl Status {
    /// `{"state":…,"trace":…,"worker_id":…,"generation":N}`, Kafka's field order.
    pub fn encode(&self) -> String {
        let trace = self.trace.as_deref().map_or("null".to_string(), json_str);
        format!(
            "{{\"state\":{},\"trace\":{trace},\"worker_id\":{},\"generation\":{}}}",
            json_str(&self.state),
            json_str(&self.worker_id),
            self.generation
        )
    }

    pub fn decode(key: &str, value: &[u8]) -> Result<Self, RecordError> {
        let err = |reason: &str| RecordError {
            topic: "connect-status",
            key: key.to_string(),
            reason: reason.to_string(),
        };
        let j: serde_json::Value = serde_json::from_slice(value).map_err(|_| err("not JSON"))?;
        let text = |f: &str| {
            j.get(f)
                .and_then(serde_json::Value::as_str)
                .map(str::to_string)
        };
        Ok(Status {
            state: text("state").ok_or_else(|| err("no \"state\""))?,
            trace: text("trace"),
            worker_id: text("worker_id").unwrap_or_default(),
            generation: j
                .get("generation")
                .and_then(serde_json::Value::as_i64)
                .unwrap_or(0) as i32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn config_records_match_kafka_connects_bytes() {
        let c = config(&[
            ("connector.class", "FileStreamSource"),
            ("file", "/tmp/\"x\""),
        ]);
        let cases = [
            (
                ConfigRecord::Connector("src".into(), Some(c.clone())),
                "connector-src",
                Some(
                    r#"{"properties":{"connector.class":"FileStreamSource","file":"/tmp/\"x\""}}"#,
                ),
            ),
            (
                ConfigRecord::Connector("src".into(), None),
                "connector-src",
                None,
            ),
            (
                ConfigRecord::Task("src".into(), 3, c.clone()),
                "task-src-3",
                Some(
                    r#"{"properties":{"connector.class":"FileStreamSource","file":"/tmp/\"x\""}}"#,
                ),
            ),
            (
                ConfigRecord::Commit("src".into(), 2),
                "commit-src",
                Some(r#"{"tasks":2}"#),
            ),
            (
                ConfigRecord::Target("src".into(), TargetState::Stopped),
                "target-state-src",
                Some(r#"{"state":"PAUSED","state.v2":"STOPPED"}"#),
            ),
            (
                ConfigRecord::Restart {
                    connector: "src".into(),
                    only_failed: true,
                    include_tasks: false,
                },
                "restart-connector-src",
                Some(r#"{"only-failed":true,"include-tasks":false}"#),
            ),
        ];
        for (record, key, value) in cases {
            let (k, v) = record.encode();
            assert_eq!(k, key);
            assert_eq!(v.as_deref(), value, "{key}");
            let back = ConfigRecord::decode(&k, v.as_deref().map(str::as_bytes))
                .expect("decodes")
                .expect("known key");
            assert_eq!(back, record);
        }
        // A connector name may itself contain dashes.
        let (k, v) = ConfigRecord::Task("my-src-1".into(), 12, c).encode();
        assert!(matches!(
            ConfigRecord::decode(&k, v.as_deref().map(str::as_bytes)),
            Ok(Some(ConfigRecord::Task(name, 12, _))) if name == "my-src-1"
        ));
        assert_eq!(ConfigRecord::decode("session-key", Some(b"{}")), Ok(None));
        let bad = ConfigRecord::decode("commit-x", Some(b"{\"tasks\":\"two\"}")).expect_err("bad");
        assert_eq!(
            bad.to_string(),
            "unreadable record \"commit-x\" in connect-configs: no \"tasks\" count"
        );
    }

    #[test]
    fn offsets_and_status_round_trip() {
        let mut partition = SourceMap::new();
        partition.insert("server".into(), "dbserver1".into());
        let key = offset_key("inventory-connector", &partition);
        assert_eq!(key, r#"["inventory-connector",{"server":"dbserver1"}]"#);
        let (c, p, o) =
            decode_offset(key.as_bytes(), Some(br#"{"lsn":24023128,"txId":555}"#)).expect("offset");
        assert_eq!((c.as_str(), &p), ("inventory-connector", &partition));
        assert_eq!(o.and_then(|o| o["lsn"].as_i64()), Some(24_023_128));
        assert!(decode_offset(b"{}", None).is_err());

        let status = Status {
            state: "FAILED".into(),
            trace: Some("error: the table \"x\" is gone".into()),
            worker_id: "127.0.0.1:8083".into(),
            generation: 4,
        };
        let text = status.encode();
        assert_eq!(
            text,
            r#"{"state":"FAILED","trace":"error: the table \"x\" is gone","worker_id":"127.0.0.1:8083","generation":4}"#
        );
        assert_eq!(
            Status::decode(&task_status_key("c", 0), text.as_bytes()).expect("status"),
            status
        );
        assert_eq!(connector_status_key("c"), "status-connector-c");
    }

    #[test]
    fn status_keys_name_their_instance() {
        assert_eq!(
            parse_status_key("status-connector-a-b"),
            Some(("a-b".to_string(), None))
        );
        assert_eq!(
            parse_status_key("status-task-my-conn-12"),
            Some(("my-conn".to_string(), Some(12)))
        );
        assert_eq!(
            parse_status_key(&task_status_key("x", 3)),
            Some(("x".to_string(), Some(3)))
        );
        assert_eq!(parse_status_key("status-task-nonumber"), None);
        assert_eq!(parse_status_key("status-topic-t:connector-c"), None);
    }
}
