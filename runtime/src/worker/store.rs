//! The worker's state in its internal compacted topics on its log, as Kafka
//! Connect keeps it: connector and task configs and target states in `connect-configs`,
//! source offsets in `connect-offsets`, statuses in `connect-status`. A restarted worker
//! replays them and finds every connector, task config, target state and offset again.
//!
//! Task configs follow Kafka Connect's commit protocol: `task-<name>-<n>` records become
//! visible only when a `commit-<name>` record says how many tasks there are, so a worker
//! that stops halfway through writing a new task set keeps the previous one.

use std::collections::BTreeMap;

use bytes::Bytes;
use weir_broker::OffsetSpec;
use weir_broker::batch::NewRecord;
use weir_connect_api::ConfigMap;
use weir_connect_api::record::SourceMap;

use super::internal::{self, ConfigRecord, RecordError, Status, TargetState};
use crate::log::{Log, LogError, TopicSpec};
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
    /// `config.storage.replication.factor`, `offset.storage.replication.factor`,
    /// `status.storage.replication.factor` (3 as in Kafka Connect; -1: the cluster's
    /// default). The embedded log has one replica whatever they say.
    pub replication_factors: [i16; 3],
}

impl Default for InternalTopics {
    fn default() -> Self {
        Self {
            configs: "connect-configs".to_string(),
            offsets: "connect-offsets".to_string(),
            offsets_partitions: 25,
            status: "connect-status".to_string(),
            status_partitions: 5,
            replication_factors: [3; 3],
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Log(#[from] LogError),
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
    log: Log,
    topics: InternalTopics,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A read of new records from an internal topic: (partition, offset, key, value).
pub type Tailed = Vec<(i32, i64, Bytes, Option<Bytes>)>;

impl Stores {
    /// Creates the internal topics when missing, compacted, with Kafka Connect's partition
    /// counts and the configured replication factor (the embedded log also fsyncs every
    /// append to them).
    pub async fn open(log: Log, topics: InternalTopics) -> Result<Self, StoreError> {
        let [configs_rf, offsets_rf, status_rf] = topics.replication_factors;
        for (name, partitions, factor) in [
            (&topics.configs, 1, configs_rf),
            (&topics.offsets, topics.offsets_partitions, offsets_rf),
            (&topics.status, topics.status_partitions, status_rf),
        ] {
            let mut spec =
                TopicSpec::new(name, partitions).with_config("cleanup.policy", "compact");
            if log.embedded().is_some() {
                spec = spec.with_config("flush.messages", "1");
            } else {
                spec = spec.with_replication_factor(factor);
            }
            log.ensure_topic(spec).await?;
        }
        Ok(Self { log, topics })
    }

    async fn append(
        &self,
        topic: &str,
        key: String,
        value: Option<String>,
    ) -> Result<(), StoreError> {
        let partitions = self.log.partition_count(topic).await?.unwrap_or(1);
        let partition = partitioner::partition_for_key(key.as_bytes(), partitions);
        let record = NewRecord {
            key: Some(Bytes::from(key)),
            value: value.map(Bytes::from),
            headers: vec![],
            timestamp: now_ms(),
        };
        self.log.append(topic, partition, vec![record]).await?;
        Ok(())
    }

    /// Reads `topic` from `positions` (partition -> next offset; missing partitions from
    /// their start) to its end, and moves the positions past what was read.
    pub async fn tail(
        &self,
        topic: &str,
        positions: &mut BTreeMap<i32, i64>,
    ) -> Result<Tailed, StoreError> {
        let mut out = Vec::new();
        for p in 0..self.log.partition_count(topic).await?.unwrap_or(0) {
            let mut offset = match positions.get(&p) {
                Some(o) => *o,
                None => self
                    .log
                    .list_offset(topic, p, OffsetSpec::Earliest)
                    .await?
                    .unwrap_or(0),
            };
            let end = self
                .log
                .list_offset(topic, p, OffsetSpec::Latest)
                .await?
                .unwrap_or(0);
            while offset < end {
                let fetched = self.log.fetch(topic, p, offset, 1 << 20).await?;
                if fetched.next <= offset {
                    break;
                }
                out.extend(
                    fetched
                        .records
                        .into_iter()
                        .filter_map(|r| Some((p, r.offset, r.key?, r.value))),
                );
                offset = fetched.next;
            }
            positions.insert(p, offset);
        }
        Ok(out)
    }

    async fn read_all(&self, topic: &str) -> Result<Vec<(Bytes, Option<Bytes>)>, StoreError> {
        let mut positions = BTreeMap::new();
        let records = self.tail(topic, &mut positions).await?;
        Ok(records.into_iter().map(|(_, _, k, v)| (k, v)).collect())
    }

    pub async fn put_config(&self, record: &ConfigRecord) -> Result<(), StoreError> {
        let (key, value) = record.encode();
        self.append(&self.topics.configs, key, value).await
    }

    /// New records of `connect-configs` from `position` on (its one partition); moves
    /// `position` past them. Records whose key is unknown are skipped.
    pub async fn tail_configs(&self, position: &mut i64) -> Result<Vec<ConfigRecord>, StoreError> {
        let mut positions = BTreeMap::from([(0, *position)]);
        let tailed = self.tail(&self.topics.configs, &mut positions).await?;
        *position = positions.get(&0).copied().unwrap_or(*position);
        let mut out = Vec::new();
        for (_, _, key, value) in tailed {
            let key = String::from_utf8_lossy(&key).into_owned();
            if let Some(r) = ConfigRecord::decode(&key, value.as_deref())? {
                out.push(r);
            }
        }
        Ok(out)
    }

    pub async fn read_configs(&self) -> Result<ConfigState, StoreError> {
        let mut records = Vec::new();
        for (key, value) in self.read_all(&self.topics.configs).await? {
            let key = String::from_utf8_lossy(&key).into_owned();
            if let Some(r) = ConfigRecord::decode(&key, value.as_deref())? {
                records.push(r);
            }
        }
        Ok(ConfigState::replay(records))
    }

    pub async fn put_offsets(
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
            )
            .await?;
        }
        Ok(())
    }

    pub async fn read_offsets(
        &self,
        connector: &str,
    ) -> Result<BTreeMap<String, SourceMap>, StoreError> {
        let mut out = BTreeMap::new();
        for (key, value) in self.read_all(&self.topics.offsets).await? {
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

    pub async fn put_status(&self, key: String, status: &Status) -> Result<(), StoreError> {
        self.append(&self.topics.status, key, Some(status.encode()))
            .await
    }

    pub async fn delete_status(&self, key: String) -> Result<(), StoreError> {
        self.append(&self.topics.status, key, None).await
    }

    /// New status records from `positions` on: (key, status or `None` for a tombstone).
    pub async fn tail_statuses(
        &self,
        positions: &mut BTreeMap<i32, i64>,
    ) -> Result<Vec<(String, Option<Status>)>, StoreError> {
        let mut out = Vec::new();
        for (_, _, key, value) in self.tail(&self.topics.status, positions).await? {
            let key = String::from_utf8_lossy(&key).into_owned();
            match value {
                Some(v) => out.push((key.clone(), Some(Status::decode(&key, &v)?))),
                None => out.push((key, None)),
            }
        }
        Ok(out)
    }

    pub async fn read_statuses(&self) -> Result<BTreeMap<String, Status>, StoreError> {
        let mut out = BTreeMap::new();
        for (key, status) in self.tail_statuses(&mut BTreeMap::new()).await? {
            match status {
                Some(s) => out.insert(key, s),
                None => out.remove(&key),
            };
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use weir_broker::{Broker, BrokerOptions};

    fn config(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    async fn open(dir: &std::path::Path) -> (Arc<Broker>, Stores) {
        let mut options = BrokerOptions::new(dir);
        options.offsets_partitions = 1;
        let broker = Arc::new(Broker::open(options).expect("broker"));
        let stores = Stores::open(
            Log::Embedded(Arc::clone(&broker)),
            InternalTopics::default(),
        )
        .await
        .expect("stores");
        (broker, stores)
    }

    #[tokio::test]
    async fn state_survives_a_restart_with_kafka_connects_commit_rules() {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = config(&[("connector.class", "FileStreamSource"), ("topic", "t")]);
        let mut partition = SourceMap::new();
        partition.insert("filename".into(), "/in".into());
        let mut offset = SourceMap::new();
        offset.insert("position".into(), 42.into());
        {
            let (broker, s) = open(dir.path()).await;
            s.put_config(&ConfigRecord::Connector("a".into(), Some(src.clone())))
                .await
                .expect("put");
            s.put_config(&ConfigRecord::Task("a".into(), 0, src.clone()))
                .await
                .expect("put");
            s.put_config(&ConfigRecord::Commit("a".into(), 1))
                .await
                .expect("put");
            // A second task set that was never committed stays invisible.
            s.put_config(&ConfigRecord::Task("a".into(), 0, config(&[("x", "1")])))
                .await
                .expect("put");
            s.put_config(&ConfigRecord::Target("a".into(), TargetState::Paused))
                .await
                .expect("put");
            s.put_config(&ConfigRecord::Connector("gone".into(), Some(src.clone())))
                .await
                .expect("put");
            s.put_config(&ConfigRecord::Connector("gone".into(), None))
                .await
                .expect("put");
            s.put_offsets("a", &[(partition.clone(), Some(offset.clone()))])
                .await
                .expect("offsets");
            let status = Status {
                state: "RUNNING".into(),
                trace: None,
                worker_id: "127.0.0.1:8083".into(),
                generation: 1,
            };
            s.put_status(internal::connector_status_key("a"), &status)
                .await
                .expect("status");
            drop(s);
            match Arc::try_unwrap(broker) {
                Ok(b) => b.close().expect("close"),
                Err(_) => panic!("broker still shared"),
            }
        }
        let (_broker, s) = open(dir.path()).await;
        let state = s.read_configs().await.expect("replay");
        assert_eq!(state.connectors.keys().collect::<Vec<_>>(), ["a"]);
        assert_eq!(state.tasks["a"], vec![src]);
        assert_eq!(state.targets["a"], TargetState::Paused);
        let offsets = s.read_offsets("a").await.expect("offsets");
        assert_eq!(offsets[r#"{"filename":"/in"}"#], offset);
        assert!(s.read_offsets("other").await.expect("offsets").is_empty());
        s.put_offsets("a", &[(partition, None)])
            .await
            .expect("reset");
        assert!(s.read_offsets("a").await.expect("offsets").is_empty());
        let statuses = s.read_statuses().await.expect("statuses");
        assert_eq!(statuses["status-connector-a"].state, "RUNNING");
    }
}
