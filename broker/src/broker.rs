//! The broker: a data directory of topics, their partition logs, and committed group
//! offsets, shared by the protocol server, the worker and the CLI.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::time::Duration;

use kafka_protocol::records::Compression;
use tokio::sync::watch;

use crate::batch::{self, NewRecord};
use crate::config::TopicConfig;
use crate::error::{Error, Result, TopicPartition};
use crate::groups::{self, CommittedOffset, OFFSETS_TOPIC, OffsetKey};
use crate::io::{Backend, StdBackend};
use crate::log::{AppendInfo, FetchData, OffsetSpec, PartitionLog};
use crate::topic::{self, MetaStore, TopicMeta};

/// The most partitions a topic may have.
pub const MAX_PARTITIONS: i32 = 10_000;

/// How to open a broker.
#[derive(Clone)]
pub struct BrokerOptions {
    pub data_dir: PathBuf,
    /// Defaults for every topic (from the broker-level `log.*` keys).
    pub defaults: TopicConfig,
    /// Partitions of `__consumer_offsets` (Kafka's `offsets.topic.num.partitions`).
    pub offsets_partitions: i32,
    pub backend: Arc<dyn Backend>,
}

impl BrokerOptions {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            defaults: TopicConfig::default(),
            offsets_partitions: 50,
            backend: Arc::new(StdBackend),
        }
    }
}

/// One partition: its log behind a lock, and a watch on its log end for waiting readers.
pub struct Partition {
    log: Mutex<PartitionLog>,
    log_end: watch::Sender<i64>,
}

impl Partition {
    /// Locks the log. A panic while holding the lock poisons it; the log's own state stays
    /// consistent (every mutation is fail-stop), so the guard is recovered.
    pub fn lock(&self) -> MutexGuard<'_, PartitionLog> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }
}

struct Topic {
    meta: TopicMeta,
    config: TopicConfig,
    partitions: Vec<Arc<Partition>>,
}

/// A topic as `describe` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopicDescription {
    pub name: String,
    pub topic_id: String,
    pub internal: bool,
    pub overrides: BTreeMap<String, String>,
    pub config: TopicConfig,
    pub partitions: Vec<PartitionDescription>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartitionDescription {
    pub partition: i32,
    pub log_start: i64,
    pub log_end: i64,
    pub high_watermark: i64,
    pub size_bytes: u64,
    pub segments: usize,
    pub failure: Option<String>,
}

pub struct Broker {
    options: BrokerOptions,
    _lock: File,
    meta: MetaStore,
    topics: RwLock<BTreeMap<String, Arc<Topic>>>,
    /// Serialises metadata changes (create, delete, add partitions).
    admin: Mutex<()>,
    offsets: RwLock<HashMap<OffsetKey, CommittedOffset>>,
    /// Counts appends to any partition: a fetch that waits on several partitions wakes on
    /// this and re-checks its own.
    appends: watch::Sender<u64>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn lock_data_dir(dir: &Path) -> Result<File> {
    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let path = dir.join(".lock");
    let file = File::create(&path).map_err(|e| Error::io(&path, e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(fs::TryLockError::WouldBlock) => Err(Error::Locked {
            path: dir.to_path_buf(),
        }),
        Err(fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
    }
}

impl Broker {
    /// Opens the data directory under an exclusive lock, recovering every partition.
    pub fn open(options: BrokerOptions) -> Result<Self> {
        let started = std::time::Instant::now();
        let lock = lock_data_dir(&options.data_dir)?;
        let meta = MetaStore::new(&options.data_dir)?;
        remove_deleted_dirs(&options.data_dir);
        let broker = Self {
            _lock: lock,
            meta,
            topics: RwLock::new(BTreeMap::new()),
            admin: Mutex::new(()),
            offsets: RwLock::new(HashMap::new()),
            appends: watch::channel(0).0,
            options,
        };
        let stored = broker.meta.load()?;
        {
            let mut topics = broker.topics_mut();
            for (name, meta) in stored {
                let topic = broker.open_topic(&name, meta)?;
                topics.insert(name, Arc::new(topic));
            }
        }
        if broker.topic(OFFSETS_TOPIC).is_none() {
            let mut cfg = BTreeMap::new();
            cfg.insert("cleanup.policy".to_string(), "compact".to_string());
            cfg.insert("segment.bytes".to_string(), (100 << 20).to_string());
            // A commit is acknowledged only once it is on disk ("commit after durable").
            cfg.insert("flush.messages".to_string(), "1".to_string());
            broker.create_topic(OFFSETS_TOPIC, broker.options.offsets_partitions, cfg)?;
        }
        broker.load_offsets()?;
        tracing::info!(dir = %broker.options.data_dir.display(),
            topics = broker.topics().len(), elapsed_ms = started.elapsed().as_millis() as u64,
            "broker storage opened");
        Ok(broker)
    }

    pub fn data_dir(&self) -> &Path {
        &self.options.data_dir
    }
    pub fn defaults(&self) -> &TopicConfig {
        &self.options.defaults
    }

    fn topics_ref(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.topics.read().unwrap_or_else(|p| p.into_inner())
    }
    fn topics_mut(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Arc<Topic>>> {
        self.topics.write().unwrap_or_else(|p| p.into_inner())
    }
    fn admin_lock(&self) -> MutexGuard<'_, ()> {
        self.admin.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn partition_dir(&self, topic: &str, partition: i32) -> PathBuf {
        self.options.data_dir.join(format!("{topic}-{partition}"))
    }

    fn open_partition(&self, name: &str, p: i32, config: &TopicConfig) -> Result<Arc<Partition>> {
        let tp = TopicPartition::new(name, p);
        let log = PartitionLog::open(
            tp,
            &self.partition_dir(name, p),
            config.clone(),
            Arc::clone(&self.options.backend),
        )?;
        let (tx, _) = watch::channel(log.log_end());
        Ok(Arc::new(Partition {
            log: Mutex::new(log),
            log_end: tx,
        }))
    }

    fn open_topic(&self, name: &str, meta: TopicMeta) -> Result<Topic> {
        let config = self
            .options
            .defaults
            .with_overrides(&meta.configs)
            .map_err(|mut errs| errs.remove(0))?;
        let partitions = (0..meta.partitions)
            .map(|p| self.open_partition(name, p, &config))
            .collect::<Result<Vec<_>>>()?;
        Ok(Topic {
            meta,
            config,
            partitions,
        })
    }

    /// Creates a topic. Config overrides are validated first; every bad key is reported.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
    ) -> Result<()> {
        topic::validate_topic_name(name)?;
        if !(1..=MAX_PARTITIONS).contains(&partitions) {
            return Err(Error::InvalidPartitions {
                topic: name.to_string(),
                count: partitions,
                max: MAX_PARTITIONS,
            });
        }
        self.options
            .defaults
            .with_overrides(&configs)
            .map_err(|mut errs| errs.remove(0))?;
        let _admin = self.admin_lock();
        if self.topic(name).is_some() {
            return Err(Error::TopicExists(name.to_string()));
        }
        for p in 0..partitions {
            // Left over from a deletion interrupted by a crash: never resurrect its data.
            self.remove_partition_dir(name, p, "stale");
        }
        let meta = TopicMeta {
            partitions,
            configs,
            topic_id: topic::new_topic_id(name),
        };
        let opened = Arc::new(self.open_topic(name, meta.clone())?);
        let mut all = self.stored_metas();
        all.insert(name.to_string(), meta);
        self.meta.save(&all)?;
        self.topics_mut().insert(name.to_string(), opened);
        tracing::info!(topic = name, partitions, "topic created");
        Ok(())
    }

    /// Validates config overrides without creating anything: every error, in key order.
    pub fn validate_topic_configs(&self, configs: &BTreeMap<String, String>) -> Vec<Error> {
        self.options
            .defaults
            .with_overrides(configs)
            .err()
            .unwrap_or_default()
    }

    fn stored_metas(&self) -> BTreeMap<String, TopicMeta> {
        self.topics_ref()
            .iter()
            .map(|(n, t)| (n.clone(), t.meta.clone()))
            .collect()
    }

    /// Deletes a topic: metadata first (atomic), then its partition directories.
    pub fn delete_topic(&self, name: &str) -> Result<()> {
        let _admin = self.admin_lock();
        let topic = self
            .topic(name)
            .ok_or_else(|| Error::UnknownTopic(name.to_string()))?;
        let mut all = self.stored_metas();
        all.remove(name);
        self.meta.save(&all)?;
        self.topics_mut().remove(name);
        for p in 0..topic.meta.partitions {
            self.remove_partition_dir(name, p, &topic.meta.topic_id);
        }
        self.forget_topic_offsets(name)?;
        tracing::info!(topic = name, "topic deleted");
        Ok(())
    }

    /// Renames a partition directory out of the way (`*-delete`), then removes it; what
    /// cannot be removed now is removed at the next start.
    fn remove_partition_dir(&self, name: &str, p: i32, tag: &str) {
        let dir = self.partition_dir(name, p);
        if !dir.exists() {
            return;
        }
        let doomed = self
            .options
            .data_dir
            .join(format!("{name}-{p}.{tag}-delete"));
        match fs::rename(&dir, &doomed) {
            Ok(()) => {
                if let Err(e) = fs::remove_dir_all(&doomed) {
                    tracing::warn!(dir = %doomed.display(), error = %e,
                        "cannot remove deleted partition directory; it is removed at the next start");
                }
            }
            Err(e) => tracing::warn!(dir = %dir.display(), error = %e,
                "cannot move deleted partition directory out of the way"),
        }
    }

    /// Grows a topic to `count` partitions (Kafka never shrinks one).
    pub fn create_partitions(&self, name: &str, count: i32) -> Result<()> {
        let _admin = self.admin_lock();
        let topic = self
            .topic(name)
            .ok_or_else(|| Error::UnknownTopic(name.to_string()))?;
        let current = topic.meta.partitions;
        if count <= current || count > MAX_PARTITIONS {
            return Err(Error::InvalidPartitions {
                topic: name.to_string(),
                count,
                max: MAX_PARTITIONS,
            });
        }
        let mut partitions = topic.partitions.clone();
        for p in current..count {
            partitions.push(self.open_partition(name, p, &topic.config)?);
        }
        let meta = TopicMeta {
            partitions: count,
            ..topic.meta.clone()
        };
        let mut all = self.stored_metas();
        all.insert(name.to_string(), meta.clone());
        self.meta.save(&all)?;
        self.topics_mut().insert(
            name.to_string(),
            Arc::new(Topic {
                meta,
                config: topic.config.clone(),
                partitions,
            }),
        );
        Ok(())
    }

    fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.topics_ref().get(name).cloned()
    }

    /// Topic names, sorted.
    pub fn topics(&self) -> Vec<String> {
        self.topics_ref().keys().cloned().collect()
    }

    pub fn partition_count(&self, name: &str) -> Option<i32> {
        self.topic(name).map(|t| t.meta.partitions)
    }

    pub fn describe_topic(&self, name: &str) -> Result<TopicDescription> {
        let t = self
            .topic(name)
            .ok_or_else(|| Error::UnknownTopic(name.to_string()))?;
        let partitions = t
            .partitions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let log = p.lock();
                PartitionDescription {
                    partition: i as i32,
                    log_start: log.log_start(),
                    log_end: log.log_end(),
                    high_watermark: log.high_watermark(),
                    size_bytes: log.size_bytes(),
                    segments: log.segment_count(),
                    failure: log.failure().map(str::to_string),
                }
            })
            .collect();
        Ok(TopicDescription {
            name: name.to_string(),
            topic_id: t.meta.topic_id.clone(),
            internal: name == OFFSETS_TOPIC,
            overrides: t.meta.configs.clone(),
            config: t.config.clone(),
            partitions,
        })
    }

    /// The partition handle, for callers that hold it across many calls.
    pub fn partition(&self, topic: &str, partition: i32) -> Result<Arc<Partition>> {
        let t = self
            .topic(topic)
            .ok_or_else(|| Error::UnknownTopic(topic.to_string()))?;
        usize::try_from(partition)
            .ok()
            .and_then(|i| t.partitions.get(i).cloned())
            .ok_or_else(|| Error::UnknownPartition(TopicPartition::new(topic, partition)))
    }

    /// Appends a buffer of RecordBatch v2 batches as a producer sent it; returns the
    /// assigned offsets. Waiting readers are woken once the batch is in the log.
    pub fn append(&self, topic: &str, partition: i32, batches: &[u8]) -> Result<AppendInfo> {
        let p = self.partition(topic, partition)?;
        let mut log = p.lock();
        let result = log.append(batches, now_ms());
        // Even a failed append may have added earlier batches of the buffer: wake readers.
        p.log_end.send_replace(log.log_end());
        drop(log);
        self.appends.send_modify(|n| *n = n.wrapping_add(1));
        result
    }

    /// Fsyncs one partition's appends now (a source's records before its offsets commit).
    pub fn sync(&self, topic: &str, partition: i32) -> Result<()> {
        self.partition(topic, partition)?.lock().flush()
    }

    /// Whether appends to `topic` fsync before they return (`flush.messages`).
    pub fn syncs_on_append(&self, topic: &str) -> bool {
        self.topic(topic)
            .is_some_and(|t| t.config.flush_every_messages().is_some())
    }

    /// Encodes `records` as one batch and appends it (the CLI and internal writers).
    pub fn append_records(
        &self,
        topic: &str,
        partition: i32,
        records: &[NewRecord],
        compression: Compression,
    ) -> Result<AppendInfo> {
        let bytes =
            batch::encode_batch(records, compression).map_err(|reason| Error::CorruptBatch {
                tp: TopicPartition::new(topic, partition),
                position: 0,
                reason,
            })?;
        self.append(topic, partition, &bytes)
    }

    /// Reads stored batches from `offset`, at most about `max_bytes` (at least one batch).
    pub fn fetch(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        max_bytes: usize,
    ) -> Result<FetchData> {
        self.partition(topic, partition)?
            .lock()
            .read(offset, max_bytes)
    }

    /// Waits until the partition's log end passes `offset` or `timeout` runs out; returns
    /// whether data is there. Woken by the append itself: no polling.
    pub async fn wait_for(
        &self,
        topic: &str,
        partition: i32,
        offset: i64,
        timeout: Duration,
    ) -> Result<bool> {
        let mut rx = self.partition(topic, partition)?.log_end.subscribe();
        let reached = tokio::time::timeout(timeout, rx.wait_for(|end| *end > offset)).await;
        Ok(matches!(reached, Ok(Ok(_))))
    }

    /// (log start offset, high watermark) of a partition.
    pub fn watermarks(&self, topic: &str, partition: i32) -> Result<(i64, i64)> {
        let p = self.partition(topic, partition)?;
        let log = p.lock();
        Ok((log.log_start(), log.high_watermark()))
    }

    /// The largest record timestamp in a partition, if it holds any record.
    pub fn max_timestamp(&self, topic: &str, partition: i32) -> Result<Option<i64>> {
        Ok(self.partition(topic, partition)?.lock().max_timestamp())
    }

    /// A receiver that changes whenever any partition is appended to.
    pub fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appends.subscribe()
    }

    pub fn list_offset(
        &self,
        topic: &str,
        partition: i32,
        spec: OffsetSpec,
    ) -> Result<Option<(i64, i64)>> {
        self.partition(topic, partition)?.lock().list_offset(spec)
    }

    fn load_offsets(&self) -> Result<()> {
        let mut map = HashMap::new();
        let partitions = self.partition_count(OFFSETS_TOPIC).unwrap_or(0);
        for p in 0..partitions {
            let part = self.partition(OFFSETS_TOPIC, p)?;
            let log = part.lock();
            for b in log.all_batches()? {
                let records = batch::raw_records(&b).map_err(|reason| Error::CorruptBatch {
                    tp: TopicPartition::new(OFFSETS_TOPIC, p),
                    position: 0,
                    reason,
                })?;
                for r in records {
                    let Some(key) = r.key.and_then(OffsetKey::decode) else {
                        continue;
                    };
                    match r.value {
                        None => {
                            map.remove(&key);
                        }
                        Some(v) => match CommittedOffset::decode(v) {
                            Some(v) => {
                                map.insert(key, v);
                            }
                            None => tracing::warn!(group = %key.group, topic = %key.topic,
                                partition = key.partition, "skipping committed offset in an unknown format"),
                        },
                    }
                }
            }
        }
        *self.offsets.write().unwrap_or_else(|p| p.into_inner()) = map;
        Ok(())
    }

    /// Commits offsets for a group: durable in `__consumer_offsets` (per its flush policy)
    /// before they are visible to `committed`.
    pub fn commit_offsets(
        &self,
        group: &str,
        commits: &[(String, i32, i64, String)],
    ) -> Result<()> {
        let now = now_ms();
        let entries: Vec<(OffsetKey, Option<CommittedOffset>)> = commits
            .iter()
            .map(|(topic, partition, offset, metadata)| {
                (
                    OffsetKey {
                        group: group.to_string(),
                        topic: topic.clone(),
                        partition: *partition,
                    },
                    Some(CommittedOffset {
                        offset: *offset,
                        leader_epoch: -1,
                        metadata: metadata.clone(),
                        commit_timestamp: now,
                    }),
                )
            })
            .collect();
        self.write_offsets(group, entries)
    }

    fn write_offsets(
        &self,
        group: &str,
        entries: Vec<(OffsetKey, Option<CommittedOffset>)>,
    ) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let now = now_ms();
        let records: Vec<NewRecord> = entries
            .iter()
            .map(|(k, v)| NewRecord {
                key: Some(k.encode()),
                value: v.as_ref().map(CommittedOffset::encode),
                headers: vec![],
                timestamp: now,
            })
            .collect();
        let partitions = self.partition_count(OFFSETS_TOPIC).unwrap_or(1);
        let p = groups::partition_for(group, partitions);
        self.append_records(OFFSETS_TOPIC, p, &records, Compression::None)?;
        let mut map = self.offsets.write().unwrap_or_else(|p| p.into_inner());
        for (k, v) in entries {
            match v {
                Some(v) => map.insert(k, v),
                None => map.remove(&k),
            };
        }
        Ok(())
    }

    /// The committed offset of a group for one topic-partition.
    pub fn committed(&self, group: &str, topic: &str, partition: i32) -> Option<CommittedOffset> {
        let key = OffsetKey {
            group: group.to_string(),
            topic: topic.to_string(),
            partition,
        };
        self.offsets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(&key)
            .cloned()
    }

    /// Every commit of a group, sorted by topic-partition.
    pub fn group_offsets(&self, group: &str) -> Vec<(OffsetKey, CommittedOffset)> {
        let mut out: Vec<_> = self
            .offsets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .filter(|(k, _)| k.group == group)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// Groups that have committed offsets.
    pub fn groups(&self) -> Vec<String> {
        let mut g: Vec<String> = self
            .offsets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .map(|k| k.group.clone())
            .collect();
        g.sort();
        g.dedup();
        g
    }

    /// Deletes every commit of a group (tombstones in `__consumer_offsets`).
    pub fn delete_group_offsets(&self, group: &str) -> Result<()> {
        let keys = self
            .group_offsets(group)
            .into_iter()
            .map(|(k, _)| (k, None))
            .collect();
        self.write_offsets(group, keys)
    }

    /// Deletes a group's commits for some topic-partitions (tombstones).
    pub fn delete_offsets(&self, group: &str, partitions: &[(String, i32)]) -> Result<()> {
        let keys = partitions
            .iter()
            .map(|(topic, partition)| {
                let key = OffsetKey {
                    group: group.to_string(),
                    topic: topic.clone(),
                    partition: *partition,
                };
                (key, None)
            })
            .collect();
        self.write_offsets(group, keys)
    }

    fn forget_topic_offsets(&self, topic: &str) -> Result<()> {
        let mut by_group: BTreeMap<String, Vec<(OffsetKey, Option<CommittedOffset>)>> =
            BTreeMap::new();
        for k in self
            .offsets
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .filter(|k| k.topic == topic)
        {
            by_group
                .entry(k.group.clone())
                .or_default()
                .push((k.clone(), None));
        }
        for (group, entries) in by_group {
            self.write_offsets(&group, entries)?;
        }
        Ok(())
    }

    fn all_partitions(&self) -> Vec<Arc<Partition>> {
        self.topics_ref()
            .values()
            .flat_map(|t| t.partitions.iter().cloned())
            .collect()
    }

    /// Runs `step` on every partition; one partition's error does not stop the others, and
    /// the first error is returned.
    fn each_partition(&self, mut step: impl FnMut(&mut PartitionLog) -> Result<()>) -> Result<()> {
        let mut first_err = None;
        for p in self.all_partitions() {
            if let Err(e) = step(&mut p.lock()) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Fsyncs every partition whose `flush.ms` has passed since its last flush.
    pub fn flush_due(&self) -> Result<()> {
        self.each_partition(PartitionLog::flush_if_due)
    }

    /// Persists every partition's recovery point (after flushing it).
    pub fn checkpoint(&self) -> Result<()> {
        self.each_partition(PartitionLog::checkpoint)
    }

    /// Retention and compaction over every partition; returns (segments deleted, records
    /// compacted away).
    pub fn run_cleanup(&self, now_ms: i64) -> Result<(usize, usize)> {
        let (mut deleted, mut compacted) = (0, 0);
        self.each_partition(|log| {
            let retention = log.enforce_retention(now_ms).map(|n| deleted += n);
            let compaction = log.compact(now_ms).map(|s| compacted += s.records_removed);
            retention.and(compaction)
        })?;
        Ok((deleted, compacted))
    }

    /// Flushes and checkpoints everything; the directory lock is released on drop.
    pub fn close(self) -> Result<()> {
        self.checkpoint()?;
        tracing::info!(dir = %self.options.data_dir.display(), "broker storage closed cleanly");
        Ok(())
    }
}

/// Removes partition directories left over from a topic deletion that did not finish.
fn remove_deleted_dirs(dir: &Path) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name.to_str().is_some_and(|n| n.ends_with("-delete"))
            && let Err(e) = fs::remove_dir_all(entry.path())
        {
            tracing::warn!(dir = %entry.path().display(), error = %e, "cannot remove deleted partition directory");
        }
    }
}
