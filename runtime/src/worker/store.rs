//! The worker's state in its internal compacted topics on the embedded broker, as Kafka
//! Connect keeps it: connector and task configs and target states in `connect-configs`,
//! source offsets in `connect-offsets`, statuses in `connect-status`. A restarted worker
//! replays them and finds every connector, task config, target state and offset again.
//!
//! Task configs follow Kafka Connect's commit protocol: `task-<name>-<n>` records become
//! visible only when a `commit-<name>` record says how many tasks there are, so a worker
//! that stops halfway through writing a new task set keeps the previous one.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::Compression;
use weir_broker::batch::{self, NewRecord};
use weir_broker::{Broker, OffsetSpec};
use weir_connect_api::ConfigMap;
use weir_connect_api::record::SourceMap;

use super::internal::{self, ConfigRecord, RecordError, Status, TargetState};
use crate::partitioner;

/// Names and partition counts of the internal topics (Kafka Connect's worker keys
/// `config.storage.topic`, `offset.storage.topic`, `status.storage.topic`).
#[derive(Debug, Clone)]
pub struct InternalTopics {
    pub configs: String,
    pub offsets: String,
    pub offsets_partitions: i32,
    pub status: String,
    pub status_partitions: i32,
}

impl Default for InternalTopics {
    fn default() -> Self {
        Self {
            configs: "connect-configs".to_string(),
            offsets: "connect-offsets".to_string(),
            offsets_partitions: 25,
            status: "connect-status".to_string(),
            status_partitions: 5,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Broker(#[from] weir_broker::Error),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error("cannot read {topic}-{partition} at offset {offset}: {reason}")]
    Decode {
        topic: String,
        partition: i32,
        offset: i64,
        reason: String,
    },
}

/// Connectors, their committed task configs and target states, as replayed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigState {
    pub connectors: BTreeMap<String, ConfigMap>,
    pub targets: BTreeMap<String, TargetState>,
    /// Committed task configs, in task order.
    pub tasks: BTreeMap<String, Vec<ConfigMap>>,
}

impl ConfigState {
    /// Applies records in log order, with Kafka Connect's rules.
    fn replay(records: impl IntoIterator<Item = ConfigRecord>) -> Self {
        let mut state = ConfigState::default();
        let mut pending: BTreeMap<String, BTreeMap<u32, ConfigMap>> = BTreeMap::new();
        for r in records {
            match r {
                ConfigRecord::Connector(name, Some(config)) => {
                    state
                        .targets
                        .entry(name.clone())
                        .or_insert(TargetState::Started);
                    state.connectors.insert(name, config);
                }
                ConfigRecord::Connector(name, None) => {
                    state.connectors.remove(&name);
                    state.targets.remove(&name);
                    state.tasks.remove(&name);
                    pending.remove(&name);
                }
                ConfigRecord::Task(name, n, config) => {
                    pending.entry(name).or_default().insert(n, config);
                }
                ConfigRecord::Commit(name, count) => {
                    let staged = pending.remove(&name).unwrap_or_default();
                    // Only a complete set replaces the visible one (Kafka logs and skips an
                    // inconsistent commit).
                    if (0..count).all(|n| staged.contains_key(&n)) {
                        let tasks = staged.into_values().take(count as usize).collect();
                        state.tasks.insert(name, tasks);
                    } else {
                        tracing::warn!(connector = %name, count,
                            "ignoring a task commit whose task configs are incomplete");
                    }
                }
                ConfigRecord::Target(name, target) => {
                    state.targets.insert(name, target);
                }
                ConfigRecord::Restart { .. } => {}
            }
        }
        state
    }
}

/// A source partition's identity: its JSON text with object keys sorted at every level, so
/// the same map matches however its keys were ordered.
pub fn partition_id(partition: &SourceMap) -> String {
    fn sorted(v: &serde_json::Value) -> serde_json::Value {
        match v {
            serde_json::Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort();
                let mut out = serde_json::Map::new();
                for k in keys {
                    out.insert(k.clone(), sorted(&m[k]));
                }
                serde_json::Value::Object(out)
            }
            serde_json::Value::Array(a) => serde_json::Value::Array(a.iter().map(sorted).collect()),
            other => other.clone(),
        }
    }
    sorted(&serde_json::Value::Object(partition.clone())).to_string()
}

/// Reads and writes the internal topics.
pub struct Stores {
    broker: Arc<Broker>,
    topics: InternalTopics,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Stores {
    /// Creates the compacted internal topics when missing. Every write is fsynced before it
    /// returns (`flush.messages=1`): a single broker has no replicas to rely on.
    pub fn open(broker: Arc<Broker>, topics: InternalTopics) -> Result<Self, StoreError> {
        for (name, partitions) in [
            (&topics.configs, 1),
            (&topics.offsets, topics.offsets_partitions),
            (&topics.status, topics.status_partitions),
        ] {
            if broker.partition_count(name).is_none() {
                let mut cfg = BTreeMap::new();
                cfg.insert("cleanup.policy".to_string(), "compact".to_string());
                cfg.insert("flush.messages".to_string(), "1".to_string());
                match broker.create_topic(name, partitions, cfg) {
                    Ok(()) | Err(weir_broker::Error::TopicExists(_)) => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        Ok(Self { broker, topics })
    }

    fn append(&self, topic: &str, key: String, value: Option<String>) -> Result<(), StoreError> {
        let partitions = self.broker.partition_count(topic).unwrap_or(1);
        let partition = partitioner::partition_for_key(key.as_bytes(), partitions);
        let record = NewRecord {
            key: Some(Bytes::from(key)),
            value: value.map(Bytes::from),
            headers: vec![],
            timestamp: now_ms(),
        };
        self.broker
            .append_records(topic, partition, &[record], Compression::None)?;
        Ok(())
    }

    /// Every (key, value) of a topic, partition by partition, in log order.
    fn read_all(&self, topic: &str) -> Result<Vec<(Bytes, Option<Bytes>)>, StoreError> {
        let mut out = Vec::new();
        for p in 0..self.broker.partition_count(topic).unwrap_or(0) {
            let mut offset = self
                .broker
                .list_offset(topic, p, OffsetSpec::Earliest)?
                .map_or(0, |(o, _)| o);
            loop {
                let data = self.broker.fetch(topic, p, offset, 1 << 20)?;
                let Some(next) = batch::next_offset_after(&data.records) else {
                    break;
                };
                let records =
                    batch::decode_records(data.records).map_err(|reason| StoreError::Decode {
                        topic: topic.to_string(),
                        partition: p,
                        offset,
                        reason,
                    })?;
                out.extend(
                    records
                        .into_iter()
                        .filter(|r| r.offset >= offset)
                        .filter_map(|r| Some((r.key?, r.value))),
                );
                offset = next;
            }
        }
        Ok(out)
    }

    pub fn put_config(&self, record: &ConfigRecord) -> Result<(), StoreError> {
        let (key, value) = record.encode();
        self.append(&self.topics.configs, key, value)
    }

    /// Replays `connect-configs`.
    pub fn read_configs(&self) -> Result<ConfigState, StoreError> {
        let mut records = Vec::new();
        for (key, value) in self.read_all(&self.topics.configs)? {
            let key = String::from_utf8_lossy(&key).into_owned();
            if let Some(r) = ConfigRecord::decode(&key, value.as_deref())? {
                records.push(r);
            }
        }
        Ok(ConfigState::replay(records))
    }

    /// Stores source offsets (`None` resets a partition).
    pub fn put_offsets(
        &self,
        connector: &str,
        offsets: &[(SourceMap, Option<SourceMap>)],
    ) -> Result<(), StoreError> {
        for (partition, offset) in offsets {
            let value = offset
                .as_ref()
                .map(|o| serde_json::Value::Object(o.clone()).to_string());
            self.append(
                &self.topics.offsets,
                internal::offset_key(connector, partition),
                value,
            )?;
        }
        Ok(())
    }

    /// The latest offset of every source partition of `connector`, keyed by the partition's
    /// JSON text.
    pub fn read_offsets(&self, connector: &str) -> Result<BTreeMap<String, SourceMap>, StoreError> {
        let mut out = BTreeMap::new();
        for (key, value) in self.read_all(&self.topics.offsets)? {
            let (c, partition, offset) = internal::decode_offset(&key, value.as_deref())?;
            if c != connector {
                continue;
            }
            let id = partition_id(&partition);
            match offset {
                Some(o) => out.insert(id, o),
                None => out.remove(&id),
            };
        }
        Ok(out)
    }

    pub fn put_status(&self, key: String, status: &Status) -> Result<(), StoreError> {
        self.append(&self.topics.status, key, Some(status.encode()))
    }

    /// Removes a status (a tombstone), for deleted connectors and tasks.
    pub fn delete_status(&self, key: String) -> Result<(), StoreError> {
        self.append(&self.topics.status, key, None)
    }

    /// The latest status under every key.
    pub fn read_statuses(&self) -> Result<BTreeMap<String, Status>, StoreError> {
        let mut out = BTreeMap::new();
        for (key, value) in self.read_all(&self.topics.status)? {
            let key = String::from_utf8_lossy(&key).into_owned();
            match value {
                Some(v) => {
                    let status = Status::decode(&key, &v)?;
                    out.insert(key, status);
                }
                None => {
                    out.remove(&key);
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_broker::BrokerOptions;

    fn config(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn open(dir: &std::path::Path) -> (Arc<Broker>, Stores) {
        let mut options = BrokerOptions::new(dir);
        options.offsets_partitions = 1;
        let broker = Arc::new(Broker::open(options).expect("broker"));
        let stores = Stores::open(Arc::clone(&broker), InternalTopics::default()).expect("stores");
        (broker, stores)
    }

    #[test]
    fn state_survives_a_restart_with_kafka_connects_commit_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = config(&[("connector.class", "FileStreamSource"), ("topic", "t")]);
        let mut partition = SourceMap::new();
        partition.insert("filename".into(), "/in".into());
        let mut offset = SourceMap::new();
        offset.insert("position".into(), 42.into());
        {
            let (broker, s) = open(dir.path());
            s.put_config(&ConfigRecord::Connector("a".into(), Some(src.clone())))
                .expect("put");
            s.put_config(&ConfigRecord::Task("a".into(), 0, src.clone()))
                .expect("put");
            s.put_config(&ConfigRecord::Commit("a".into(), 1))
                .expect("put");
            // A second task set that was never committed stays invisible.
            s.put_config(&ConfigRecord::Task("a".into(), 0, config(&[("x", "1")])))
                .expect("put");
            s.put_config(&ConfigRecord::Target("a".into(), TargetState::Paused))
                .expect("put");
            s.put_config(&ConfigRecord::Connector("gone".into(), Some(src.clone())))
                .expect("put");
            s.put_config(&ConfigRecord::Connector("gone".into(), None))
                .expect("put");
            s.put_offsets("a", &[(partition.clone(), Some(offset.clone()))])
                .expect("offsets");
            let status = Status {
                state: "RUNNING".into(),
                trace: None,
                worker_id: "127.0.0.1:8083".into(),
                generation: 1,
            };
            s.put_status(internal::connector_status_key("a"), &status)
                .expect("status");
            drop(s);
            match Arc::try_unwrap(broker) {
                Ok(b) => b.close().expect("close"),
                Err(_) => panic!("broker still shared"),
            }
        }
        let (_broker, s) = open(dir.path());
        let state = s.read_configs().expect("replay");
        assert_eq!(state.connectors.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(state.tasks["a"], vec![src]);
        assert_eq!(state.targets["a"], TargetState::Paused);
        let offsets = s.read_offsets("a").expect("offsets");
        assert_eq!(offsets[r#"{"filename":"/in"}"#], offset);
        assert!(s.read_offsets("other").expect("offsets").is_empty());
        s.put_offsets("a", &[(partition, None)]).expect("reset");
        assert!(s.read_offsets("a").expect("offsets").is_empty());
        let statuses = s.read_statuses().expect("statuses");
        assert_eq!(statuses["status-connector-a"].state, "RUNNING");
    }
}
