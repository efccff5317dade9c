//! A source task's loop: poll -> transforms -> converters -> append to the log; once the log
//! has the records, their source offsets are pending, and every `offset.flush.interval.ms`
//! (and at stop) the partitions written are fsynced, then the offsets are written to
//! `connect-offsets` (itself fsynced per append), then the task's `commit` is called: a
//! source may acknowledge upstream (a Postgres slot's flush LSN) only what is durable.
//! Offsets never run ahead of the log: a worker killed at any point re-reads at most the
//! records polled since the last offset commit.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use bytes::Bytes;
use weir_broker::batch::NewRecord;
use weir_connect_api::record::{RecordMetadata, SourceMap};
use weir_connect_api::{
    ConnectRecord, ConnectorError, Converter, SchemaRef, SourcePosition, SourceTask, Value,
};

use super::errors::{RawRecord, Stage};
use super::task::{Control, Halt, Pipeline, TaskEnv, header_bytes, state, trace_of, wait_control};
use crate::log::TopicSpec;
use crate::partitioner;

/// Source offsets waiting for the next commit, by the partition's JSON text.
type Pending = BTreeMap<String, (SourceMap, SourceMap)>;

/// Where a converted record went: its topic, partition and index in that batch.
type Slot = (String, i32, usize);

/// Answers `committed_offset` from `connect-offsets` as read when the task started.
struct OffsetReader {
    offsets: BTreeMap<String, SourceMap>,
}

impl weir_connect_api::connector::SourceTaskContext for OffsetReader {
    fn committed_offset(&self, partition: &SourceMap) -> Option<SourceMap> {
        let id = super::store::partition_id(partition);
        self.offsets.get(&id).cloned()
    }
}

/// Runs the task until told to stop or it fails; the final status is the caller's.
pub async fn run(env: TaskEnv, task: Box<dyn SourceTask>) {
    let name = format!("{}-{}", env.connector, env.task);
    match SourceLoop::start(env.clone(), task).await {
        Ok(mut l) => {
            let result = match l.run().await {
                Ok(()) | Err(Halt::Interrupted) => Ok(()),
                Err(Halt::Failed(trace)) => Err(trace),
            };
            let stopped = l.finish().await;
            if let Err(trace) = result.and(stopped) {
                tracing::error!(task = %name, "source task failed: {trace}");
                env.report(state::FAILED, Some(trace));
            }
        }
        Err(trace) => {
            tracing::error!(task = %name, "source task could not start: {trace}");
            env.report(state::FAILED, Some(trace));
        }
    }
}

struct SourceLoop {
    env: TaskEnv,
    task: Box<dyn SourceTask>,
    pipeline: Pipeline,
    pending: Pending,
    /// Partitions appended to since the last commit: fsynced before offsets are written, so
    /// a committed source offset never points past records a crash could lose.
    unsynced: BTreeSet<(String, i32)>,
    last_commit: Instant,
    /// For records without key and partition: Kafka's producer spreads them round-robin.
    next_partition: i32,
}

impl SourceLoop {
    async fn start(env: TaskEnv, mut task: Box<dyn SourceTask>) -> Result<Self, String> {
        let pipeline = Pipeline::from_env(&env)?;
        let offsets = env
            .stores
            .read_offsets(&env.connector)
            .await
            .map_err(|e| format!("cannot read the connector's source offsets: {e}"))?;
        task.start(&env.task_config, Box::new(OffsetReader { offsets }))
            .map_err(|e| trace_of(&e))?;
        if env.control() == Control::Run {
            env.report(state::RUNNING, None);
        }
        Ok(Self {
            env,
            task,
            pipeline,
            pending: Pending::new(),
            unsynced: BTreeSet::new(),
            last_commit: Instant::now(),
            next_partition: 0,
        })
    }

    async fn run(&mut self) -> Result<(), Halt> {
        let mut control = self.env.control.clone();
        let mut retry_delay = Duration::from_millis(300);
        loop {
            let current = *control.borrow_and_update();
            match current {
                Control::Stop => return Ok(()),
                Control::Pause => {
                    self.env.report(state::PAUSED, None);
                    // Offsets still commit while paused.
                    while self.env.still_paused(&mut control).await {
                        self.commit_if_due().await?;
                    }
                    continue;
                }
                Control::Run => {}
            }
            let started = Instant::now();
            let records = match self.task.poll().await {
                Ok(r) => {
                    retry_delay = Duration::from_millis(300);
                    r
                }
                Err(e) if e.is_retriable() => {
                    tracing::warn!(task = %self.name(), error = %e, "poll failed; retrying");
                    self.env.metrics.add_error();
                    wait_control(&mut control, retry_delay).await;
                    retry_delay = (retry_delay * 2).min(Duration::from_secs(30));
                    continue;
                }
                Err(e) => return Err(Halt::Failed(trace_of(&e))),
            };
            if !records.is_empty() {
                self.env.metrics.add_in(records.len());
                self.send(records).await?;
                self.env.metrics.observe_batch(started.elapsed());
            }
            self.commit_if_due().await?;
        }
    }

    fn name(&self) -> String {
        format!("{}-{}", self.env.connector, self.env.task)
    }

    /// Transforms, converts and appends one polled batch; the records' source offsets
    /// become pending once the log has them (filtered and tolerated records included).
    async fn send(&mut self, records: Vec<ConnectRecord>) -> Result<(), Halt> {
        let mut batches: BTreeMap<(String, i32), Vec<NewRecord>> = BTreeMap::new();
        let mut placed: Vec<(ConnectRecord, Vec<Slot>)> = Vec::new();
        // A chain with a WASM stage transforms the whole poll in one call; when that fails,
        // each record goes through it again alone (with the error handler).
        let mut transformed: Vec<Option<Vec<ConnectRecord>>> = Vec::new();
        if self.pipeline.chain.batched() {
            match self.pipeline.chain.apply_batch(records.clone()) {
                Ok((outputs, origins)) => {
                    transformed = vec![Some(Vec::new()); records.len()];
                    for (record, origin) in outputs.into_iter().zip(origins) {
                        if let Some(Some(group)) = transformed.get_mut(origin as usize) {
                            group.push(record);
                        }
                    }
                }
                Err(e) => {
                    tracing::debug!(task = %self.name(), error = %e, "the transform chain failed on a batch; going record by record");
                }
            }
        }
        let mut transformed = transformed.into_iter();
        for record in records {
            let slots = self
                .convert(&record, transformed.next().flatten())
                .await?
                .into_iter()
                .map(|(topic, partition, new)| {
                    let batch = batches.entry((topic.clone(), partition)).or_default();
                    batch.push(new);
                    (topic, partition, batch.len() - 1)
                })
                .collect();
            placed.push((record, slots));
        }
        // Per partition: (first index, count, base offset) of each chunk the log accepted.
        let mut acked: BTreeMap<(String, i32), Vec<AckedChunk>> = BTreeMap::new();
        for ((topic, partition), batch) in batches
            .into_iter()
            .flat_map(|(tp, b)| chunks(b).into_iter().map(move |c| (tp.clone(), c)))
        {
            let (start, batch) = batch;
            let appended = self.env.log.append(&topic, partition, batch.clone()).await;
            match appended {
                Ok(base_offset) => {
                    acked.entry((topic, partition)).or_default().push((
                        start,
                        batch.len(),
                        base_offset,
                    ));
                }
                Err(e) => {
                    let error = ConnectorError::retriable(format!(
                        "cannot append to {topic}-{partition}: {e}"
                    ));
                    for r in batch {
                        let raw = RawRecord {
                            topic: topic.clone(),
                            partition,
                            offset: -1,
                            timestamp: Some(r.timestamp),
                            key: r.key,
                            value: r.value,
                            headers: r.headers,
                        };
                        self.pipeline
                            .errors
                            .report(Stage::KafkaProduce, "weir.broker", &raw, &error)
                            .await?;
                    }
                }
            }
        }
        self.unsynced.extend(acked.keys().cloned());
        let now = now_ms();
        for (record, slots) in placed {
            for (topic, partition, index) in slots {
                let Some(offset) = acked.get(&(topic, partition)).and_then(|chunks| {
                    chunks
                        .iter()
                        .find(|(start, len, _)| (*start..start + len).contains(&index))
                        .map(|(start, _, base)| base + (index - start) as i64)
                }) else {
                    continue;
                };
                let metadata = RecordMetadata {
                    partition,
                    offset,
                    timestamp: record.timestamp.unwrap_or(now),
                };
                self.task.commit_record(&record, metadata);
                self.env.metrics.add_out(1);
            }
            if let Some(position) = record.source {
                let id = super::store::partition_id(&position.partition);
                self.pending
                    .insert(id, (position.partition, position.offset));
            }
        }
        self.env.metrics.set_offset_lag(self.pending.len() as u64);
        Ok(())
    }

    /// One record through transforms and converters: what goes to the log (none when a
    /// transform dropped it or a tolerated error skipped it, several when a WASM transform
    /// emitted more than one).
    /// `transformed`: what the chain already made of the record in a batch, if it did.
    async fn convert(
        &mut self,
        record: &ConnectRecord,
        transformed: Option<Vec<ConnectRecord>>,
    ) -> Result<Vec<(String, i32, NewRecord)>, Halt> {
        let mut raw = RawRecord {
            topic: record.topic.clone(),
            partition: record.kafka_partition.unwrap_or(-1),
            offset: -1,
            timestamp: record.timestamp,
            key: None,
            value: None,
            headers: vec![],
        };
        let chain = &self.pipeline.chain;
        let shutdown = self.env.shutdown.clone();
        let transformed = match transformed.map_or_else(|| chain.apply(record.clone()), Ok) {
            Ok(r) => r,
            Err(_) => {
                // The dead-letter queue gets the record as the connector produced it.
                self.fill_original(record, &mut raw);
                let retried = self
                    .pipeline
                    .errors
                    .run(Stage::Transformation, "transforms", &raw, &shutdown, || {
                        chain.apply(record.clone())
                    })
                    .await?;
                retried.unwrap_or_default()
            }
        };
        let mut out = Vec::with_capacity(transformed.len());
        for r in transformed {
            if let Some(placed) = self.serialize(r, &mut raw).await? {
                out.push(placed);
            }
        }
        Ok(out)
    }

    /// One transformed record through the key and value converters.
    async fn serialize(
        &mut self,
        r: ConnectRecord,
        raw: &mut RawRecord,
    ) -> Result<Option<(String, i32, NewRecord)>, Halt> {
        let shutdown = self.env.shutdown.clone();
        raw.topic = r.topic.clone();
        let key_conv = &self.pipeline.converters.key;
        let key = self
            .pipeline
            .errors
            .run(Stage::KeyConverter, &key_conv.class, raw, &shutdown, || {
                key_conv
                    .converter
                    .to_bytes(&r.topic, r.key_schema.as_ref(), &r.key)
            })
            .await?;
        let Some(key) = key else { return Ok(None) };
        raw.key = key.clone();
        let value_conv = &self.pipeline.converters.value;
        let value = self
            .pipeline
            .errors
            .run(
                Stage::ValueConverter,
                &value_conv.class,
                raw,
                &shutdown,
                || {
                    value_conv
                        .converter
                        .to_bytes(&r.topic, r.value_schema.as_ref(), &r.value)
                },
            )
            .await?;
        let Some(value) = value else { return Ok(None) };
        let headers: Vec<(String, Option<Bytes>)> = r
            .headers
            .iter()
            .map(|h| (h.key.clone(), header_bytes(h)))
            .collect();
        let partition = self
            .partition_for(&r.topic, r.kafka_partition, key.as_deref())
            .await?;
        self.env.note_topic(&r.topic);
        let new = NewRecord {
            key,
            value,
            headers,
            timestamp: r.timestamp.unwrap_or_else(now_ms),
        };
        Ok(Some((r.topic, partition, new)))
    }

    /// Sets `raw`'s key, value and headers to `record` converted as it left the connector
    /// (before transforms), for the error log and the dead-letter queue. A part that does
    /// not convert stays null.
    fn fill_original(&self, record: &ConnectRecord, raw: &mut RawRecord) {
        let converters = &self.pipeline.converters;
        let bytes = |c: &dyn Converter, schema: Option<&SchemaRef>, value: &Value| {
            c.to_bytes(&record.topic, schema, value).ok().flatten()
        };
        raw.key = bytes(
            &*converters.key.converter,
            record.key_schema.as_ref(),
            &record.key,
        );
        raw.value = bytes(
            &*converters.value.converter,
            record.value_schema.as_ref(),
            &record.value,
        );
        raw.headers = record
            .headers
            .iter()
            .map(|h| (h.key.clone(), header_bytes(h)))
            .collect();
    }

    /// The record's partition: its own, else by key hash, else round-robin. Creates the
    /// topic on first use with the worker's default partition count.
    async fn partition_for(
        &mut self,
        topic: &str,
        wanted: Option<i32>,
        key: Option<&[u8]>,
    ) -> Result<i32, String> {
        let log = &self.env.log;
        let partitions = match log.partition_count(topic).await {
            Ok(Some(n)) => n,
            Ok(None) => {
                let spec = TopicSpec::new(topic, self.env.settings.default_partitions);
                log.ensure_topic(spec)
                    .await
                    .map_err(|e| format!("cannot create topic {topic}: {e}"))?
            }
            Err(e) => return Err(format!("cannot look up topic {topic}: {e}")),
        };
        Ok(match (wanted, key) {
            (Some(p), _) if (0..partitions).contains(&p) => p,
            (Some(p), _) => {
                return Err(format!(
                    "a record asks for partition {p} of {topic}, which has {partitions}"
                ));
            }
            (None, Some(k)) => partitioner::partition_for_key(k, partitions),
            (None, None) => {
                self.next_partition = (self.next_partition + 1) % partitions.max(1);
                self.next_partition
            }
        })
    }

    async fn commit_if_due(&mut self) -> Result<(), String> {
        if self.last_commit.elapsed() >= self.env.settings.offset_flush_interval {
            self.commit().await?;
        }
        Ok(())
    }

    /// Writes pending offsets to `connect-offsets`, then calls the task's `commit`.
    async fn commit(&mut self) -> Result<(), String> {
        self.last_commit = Instant::now();
        if self.pending.is_empty() {
            return Ok(());
        }
        let offsets: Vec<(SourceMap, Option<SourceMap>)> = self
            .pending
            .values()
            .map(|(p, o)| (p.clone(), Some(o.clone())))
            .collect();
        let unsynced = std::mem::take(&mut self.unsynced);
        let written = match self.env.log.sync(unsynced.iter().cloned().collect()).await {
            Err(e) => Err(format!("cannot make the appended records durable: {e}")),
            Ok(()) => self
                .env
                .stores
                .put_offsets(&self.env.connector, &offsets)
                .await
                .map_err(|e| e.to_string()),
        };
        let written = (written, unsynced);
        match written {
            (Ok(()), _) => {
                let committed: Vec<SourcePosition> = std::mem::take(&mut self.pending)
                    .into_values()
                    .map(|(partition, offset)| SourcePosition { partition, offset })
                    .collect();
                self.env.metrics.set_offset_lag(0);
                if let Err(e) = self.task.commit_offsets(&committed).await {
                    tracing::warn!(task = %self.name(), error = %e, "the task's commit failed");
                }
                Ok(())
            }
            // Kept pending: the next commit tries again; the records are in the log.
            (Err(e), unsynced) => {
                self.unsynced.extend(unsynced);
                tracing::error!(task = %self.name(), error = %e, "cannot commit source offsets");
                Ok(())
            }
        }
    }

    /// The final offset commit and the task's `stop`.
    async fn finish(&mut self) -> Result<(), String> {
        let committed = self.commit().await;
        let stopped = self.task.stop().map_err(|e| trace_of(&e));
        committed.and(stopped)
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// About half of Kafka's default `max.message.bytes` (1 MiB): one poll's records are appended
/// as several batches, each well under the limit (a single larger record still fails, as in
/// Kafka, and goes through `errors.*`).
const APPEND_CHUNK_BYTES: usize = 512 * 1024;

/// A chunk the log accepted: index of its first record in the partition's batch, record
/// count, base offset.
type AckedChunk = (usize, usize, i64);

/// Splits one partition's records into appendable chunks: (index of the first, records).
fn chunks(records: Vec<NewRecord>) -> Vec<(usize, Vec<NewRecord>)> {
    let mut out: Vec<(usize, Vec<NewRecord>)> = Vec::new();
    let mut size = 0;
    for (i, r) in records.into_iter().enumerate() {
        let len = 24
            + r.key.as_ref().map_or(0, |k| k.len())
            + r.value.as_ref().map_or(0, |v| v.len())
            + r.headers
                .iter()
                .map(|(k, v)| k.len() + v.as_ref().map_or(0, |v| v.len()) + 8)
                .sum::<usize>();
        match out.last_mut() {
            Some((_, chunk)) if size + len <= APPEND_CHUNK_BYTES => {
                chunk.push(r);
                size += len;
            }
            _ => {
                out.push((i, vec![r]));
                size = len;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_poll_is_appended_in_chunks_under_the_message_limit() {
        let record = |n: usize| NewRecord {
            key: None,
            value: Some(bytes::Bytes::from(vec![b'x'; n])),
            headers: vec![],
            timestamp: 0,
        };
        let out = chunks((0..12).map(|_| record(100 * 1024)).collect());
        assert_eq!(
            out.iter().map(|(s, c)| (*s, c.len())).collect::<Vec<_>>(),
            [(0, 5), (5, 5), (10, 2)]
        );
        // A record larger than a chunk stays whole, in a chunk of its own.
        let out = chunks(vec![record(10), record(2 << 20), record(10)]);
        assert_eq!(
            out.iter().map(|(s, c)| (*s, c.len())).collect::<Vec<_>>(),
            [(0, 1), (1, 1), (2, 1)]
        );
    }
}
