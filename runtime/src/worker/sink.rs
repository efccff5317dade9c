//! A sink task's loop: read the subscribed topics from the log as consumer group
//! `connect-<name>` -> converters -> transforms -> `put`; every `offset.flush.interval.ms`
//! (and at stop) `flush` up to the delivered offsets, then commit what `pre_commit` returns
//! to the group. The connector's tasks split the matching partitions between them.
//!
//! A failed `flush` commits nothing and rewinds to the last commit, so the task sees those
//! records again: at least once, never a gap.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use kafka_protocol::records::Record;
use regex::Regex;
use weir_broker::OffsetSpec;
use weir_connect_api::{ConnectRecord, ConnectorError, SinkTask, TopicPartition};

use super::errors::{RawRecord, Stage};
use super::task::{
    Control, Halt, Pipeline, TaskEnv, connect_headers, state, trace_of, wait_control,
};
use crate::log::{Log, LogError};

/// Records handed to one `put` at most (Kafka's `max.poll.records` default; a connector
/// changes it with `consumer.override.max.poll.records`).
const MAX_POLL_RECORDS: usize = 500;
/// Bytes read from one partition per fetch.
const FETCH_BYTES: usize = 1 << 20;
/// How often the subscription is matched against the topics again.
const REFRESH_EVERY: Duration = Duration::from_secs(1);

/// Runs the task until told to stop or it fails; the final status is the caller's.
pub async fn run(env: TaskEnv, task: Box<dyn SinkTask>) {
    let name = format!("{}-{}", env.connector, env.task);
    match SinkLoop::start(env.clone(), task) {
        Ok(mut l) => {
            let result = match l.run().await {
                Ok(()) | Err(Halt::Interrupted) => Ok(()),
                Err(Halt::Failed(trace)) => Err(trace),
            };
            // After a failure the task's buffered records are not flushed: they are read
            // again from the last commit.
            let finished = match &result {
                Ok(()) => l.finish().await,
                Err(_) => l.task.stop().map_err(|e| trace_of(&e)),
            };
            if let Err(trace) = result.and(finished) {
                tracing::error!(task = %name, "sink task failed: {trace}");
                env.report(state::FAILED, Some(trace));
            }
        }
        Err(trace) => {
            tracing::error!(task = %name, "sink task could not start: {trace}");
            env.report(state::FAILED, Some(trace));
        }
    }
}

/// Converted records ready for `put`, their original log records (for the DLQ), and the
/// positions reached once they are delivered.
#[derive(Default)]
struct Batch {
    records: Vec<ConnectRecord>,
    raws: Vec<RawRecord>,
    next: Vec<(TopicPartition, i64)>,
}

enum Subscription {
    Topics(Vec<String>),
    Pattern(Regex),
}

struct SinkLoop {
    env: TaskEnv,
    task: Box<dyn SinkTask>,
    pipeline: Pipeline,
    group: String,
    /// Kafka's task class name (for `__connect.errors.class.name`).
    task_class: String,
    subscription: Subscription,
    /// `auto.offset.reset` (`consumer.override.auto.offset.reset`): start at the log start.
    from_earliest: bool,
    /// Next offset to read per assigned partition.
    positions: BTreeMap<TopicPartition, i64>,
    /// Decoded records not handed out yet, per partition.
    buffered: BTreeMap<TopicPartition, VecDeque<Record>>,
    max_poll_records: usize,
    /// Offsets as last committed (where a failed flush rewinds to).
    committed: BTreeMap<TopicPartition, i64>,
    last_commit: Instant,
    last_refresh: Option<Instant>,
    /// Per partition, the high watermark of its last read (for the lag metric).
    high_watermarks: BTreeMap<TopicPartition, i64>,
}

impl SinkLoop {
    fn start(env: TaskEnv, mut task: Box<dyn SinkTask>) -> Result<Self, String> {
        let pipeline = Pipeline::from_env(&env)?;
        let subscription = subscription(&env.connector_config)?;
        let from_earliest = !matches!(
            env.connector_config
                .get("consumer.override.auto.offset.reset")
                .map(String::as_str),
            Some("latest")
        );
        let max_poll_records = match env
            .connector_config
            .get("consumer.override.max.poll.records")
        {
            None => MAX_POLL_RECORDS,
            Some(v) => v
                .trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| {
                    format!("consumer.override.max.poll.records={v:?}: expected a positive number")
                })?,
        };
        task.initialize(Box::new(WorkerSinkContext));
        task.start(&env.task_config).map_err(|e| trace_of(&e))?;
        if env.control() == Control::Run {
            env.report(state::RUNNING, None);
        }
        Ok(Self {
            group: format!("connect-{}", env.connector),
            task_class: task_class(&env.connector_config),
            env,
            task,
            pipeline,
            subscription,
            from_earliest,
            positions: BTreeMap::new(),
            buffered: BTreeMap::new(),
            max_poll_records,
            committed: BTreeMap::new(),
            last_commit: Instant::now(),
            last_refresh: None,
            high_watermarks: BTreeMap::new(),
        })
    }

    fn name(&self) -> String {
        format!("{}-{}", self.env.connector, self.env.task)
    }

    async fn run(&mut self) -> Result<(), Halt> {
        let mut control = self.env.control.clone();
        loop {
            let current = *control.borrow_and_update();
            match current {
                Control::Stop => return Ok(()),
                Control::Pause => {
                    self.env.report(state::PAUSED, None);
                    // Offsets still commit while paused.
                    while self.env.still_paused(&mut control).await {
                        self.commit_if_due().await;
                    }
                    continue;
                }
                Control::Run => {}
            }
            self.refresh_assignment().await?;
            let started = Instant::now();
            let (batch, read) = self.read_batch().await?;
            if !batch.records.is_empty() {
                self.put(batch.records, batch.raws).await?;
                self.env.metrics.observe_batch(started.elapsed());
            }
            // Positions move only once the records are delivered.
            self.positions.extend(batch.next);
            self.update_lag();
            self.commit_if_due().await;
            if read == 0 {
                // Nothing new: an empty `put`, as Kafka's worker makes after an empty poll,
                // lets the task act on time (a storage sink's scheduled rotation).
                self.put(Vec::new(), Vec::new()).await?;
                // Then sleep until an append, a control change, or the next due
                // commit or refresh.
                let until_commit = self
                    .env
                    .settings
                    .offset_flush_interval
                    .saturating_sub(self.last_commit.elapsed());
                let wait = until_commit.min(REFRESH_EVERY);
                let positions: Vec<(String, i32, i64)> = self
                    .positions
                    .iter()
                    .map(|(tp, o)| (tp.topic.clone(), tp.partition, *o))
                    .collect();
                tokio::select! {
                    _ = self.env.log.wait_for_data(&positions, wait) => {}
                    _ = control.changed() => {}
                }
            }
        }
    }

    /// Matches the subscription against the topics; this task takes every `task_count`-th
    /// partition of the sorted list. New partitions start at the group's commit or at
    /// `auto.offset.reset`.
    async fn refresh_assignment(&mut self) -> Result<(), String> {
        if self
            .last_refresh
            .is_some_and(|t| t.elapsed() < REFRESH_EVERY)
        {
            return Ok(());
        }
        self.last_refresh = Some(Instant::now());
        let log = &self.env.log;
        let topics: Vec<String> = match &self.subscription {
            Subscription::Topics(t) => t.clone(),
            Subscription::Pattern(re) => log
                .topics()
                .await
                .map_err(|e| format!("cannot list the topics to match topics.regex: {e}"))?
                .into_iter()
                .filter(|t| re.is_match(t) && !t.starts_with("__"))
                .collect(),
        };
        let mut all = Vec::new();
        for topic in topics {
            let count = log
                .partition_count(&topic)
                .await
                .map_err(|e| format!("cannot look up topic {topic}: {e}"))?
                .unwrap_or(0);
            for partition in 0..count {
                all.push(TopicPartition {
                    topic: topic.clone(),
                    partition,
                });
            }
        }
        all.sort();
        let count = self.env.task_count.max(1) as usize;
        let mine: Vec<TopicPartition> = all
            .into_iter()
            .enumerate()
            .filter(|(i, _)| i % count == self.env.task as usize)
            .map(|(_, tp)| tp)
            .collect();
        let new: Vec<TopicPartition> = mine
            .iter()
            .filter(|tp| !self.positions.contains_key(tp))
            .cloned()
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        for tp in &new {
            let committed = log
                .committed(&self.group, &tp.topic, tp.partition)
                .await
                .map_err(|e| {
                    format!(
                        "cannot read the committed offset of {}-{}: {e}",
                        tp.topic, tp.partition
                    )
                })?;
            let start = match committed {
                Some(offset) => offset,
                None => reset_position(log, self.from_earliest, tp).await?,
            };
            self.positions.insert(tp.clone(), start);
            self.committed.insert(tp.clone(), start);
            self.env.note_topic(&tp.topic);
        }
        self.task.open(&new).map_err(|e| trace_of(&e))?;
        Ok(())
    }

    /// Reads up to `max.poll.records` records and converts them; returns them and how many
    /// log records were read (tolerated failures and dropped records included). Decoded
    /// records beyond the batch wait in `buffered` (at most one fetch per partition).
    async fn read_batch(&mut self) -> Result<(Batch, usize), Halt> {
        let mut batch = Batch::default();
        let mut read = 0;
        let tps: Vec<(TopicPartition, i64)> = self
            .positions
            .iter()
            .map(|(k, v)| (k.clone(), *v))
            .collect();
        for (tp, position) in tps {
            if batch.records.len() >= self.max_poll_records {
                break;
            }
            let buffered = self.buffered.entry(tp.clone()).or_default();
            if buffered.front().is_none_or(|r| r.offset != position) {
                buffered.clear();
                let fetched = match self
                    .env
                    .log
                    .fetch(&tp.topic, tp.partition, position, FETCH_BYTES)
                    .await
                {
                    Ok(f) => f,
                    Err(LogError::OutOfRange { .. }) => {
                        // Retention removed what was not read yet (or the log was cut):
                        // start again where auto.offset.reset says, as Kafka's consumer.
                        let reset = reset_position(&self.env.log, self.from_earliest, &tp).await?;
                        tracing::warn!(task = %self.name(), topic = %tp.topic, partition = tp.partition,
                            position, reset, "offset out of range; resetting per auto.offset.reset");
                        batch.next.push((tp.clone(), reset));
                        continue;
                    }
                    Err(e) => {
                        return Err(Halt::Failed(format!(
                            "cannot read {}-{}: {e}",
                            tp.topic, tp.partition
                        )));
                    }
                };
                self.high_watermarks
                    .insert(tp.clone(), fetched.high_watermark);
                if fetched.records.is_empty() {
                    if fetched.next > position {
                        // Only transaction markers or compacted-away offsets: step past them.
                        batch.next.push((tp.clone(), fetched.next));
                    }
                    continue;
                }
                let buffered = self.buffered.entry(tp.clone()).or_default();
                buffered.extend(fetched.records);
            }
            let buffered = self.buffered.entry(tp.clone()).or_default();
            let take = buffered
                .len()
                .min(self.max_poll_records - batch.records.len());
            let records: Vec<_> = buffered.drain(..take).collect();
            let mut next = position;
            let mut raws = Vec::with_capacity(records.len());
            for r in records {
                next = r.offset + 1;
                read += 1;
                raws.push(RawRecord {
                    topic: tp.topic.clone(),
                    partition: tp.partition,
                    offset: r.offset,
                    timestamp: Some(r.timestamp),
                    key: r.key,
                    value: r.value,
                    headers: r
                        .headers
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect(),
                });
            }
            if self.pipeline.chain.batched() {
                self.convert_batch(raws, &mut batch).await?;
            } else {
                for raw in raws {
                    let records = self.convert(&raw).await?;
                    push_all(&mut batch, raw, records);
                }
            }
            self.env.metrics.add_in(take);
            batch.next.push((tp, next));
        }
        Ok((batch, read))
    }

    /// One record through the converters: `None` when a tolerated error skipped it.
    async fn deserialize(&mut self, raw: &RawRecord) -> Result<Option<ConnectRecord>, Halt> {
        let shutdown = self.env.shutdown.clone();
        let k = &self.pipeline.converters.key;
        let key = self
            .pipeline
            .errors
            .run(Stage::KeyConverter, &k.class, raw, &shutdown, || {
                k.converter.to_connect(&raw.topic, raw.key.as_deref())
            })
            .await?;
        let Some((key_schema, key)) = key else {
            return Ok(None);
        };
        let v = &self.pipeline.converters.value;
        let value = self
            .pipeline
            .errors
            .run(Stage::ValueConverter, &v.class, raw, &shutdown, || {
                v.converter.to_connect(&raw.topic, raw.value.as_deref())
            })
            .await?;
        let Some((value_schema, value)) = value else {
            return Ok(None);
        };
        let mut record = ConnectRecord::new(&raw.topic, key_schema, key, value_schema, value);
        record.kafka_partition = Some(raw.partition);
        record.kafka_offset = Some(raw.offset);
        record.timestamp = raw.timestamp;
        record.headers = connect_headers(&raw.headers);
        Ok(Some(record))
    }

    /// One record through the converters and transforms: what the task gets of it (none
    /// when a transform dropped it or a tolerated error skipped it).
    async fn convert(&mut self, raw: &RawRecord) -> Result<Vec<ConnectRecord>, Halt> {
        let Some(record) = self.deserialize(raw).await? else {
            return Ok(Vec::new());
        };
        let shutdown = self.env.shutdown.clone();
        let chain = &self.pipeline.chain;
        let transformed = self
            .pipeline
            .errors
            .run(Stage::Transformation, "transforms", raw, &shutdown, || {
                chain.apply(record.clone())
            })
            .await?;
        Ok(transformed.unwrap_or_default())
    }

    /// A fetched run of records through the converters, then the transform chain in one
    /// call (a WASM stage then makes one guest call for the whole run). When the chain
    /// fails, the run goes again record by record, so the error handler sees which records
    /// fail and the others pass.
    async fn convert_batch(&mut self, raws: Vec<RawRecord>, batch: &mut Batch) -> Result<(), Halt> {
        let mut records = Vec::with_capacity(raws.len());
        let mut kept = Vec::with_capacity(raws.len());
        for raw in raws {
            if let Some(record) = self.deserialize(&raw).await? {
                records.push(record);
                kept.push(raw);
            }
        }
        match self.pipeline.chain.apply_batch(records) {
            Ok((records, origins)) => {
                let raws = crate::transforms::fan_out(kept, &origins);
                batch.records.extend(records);
                batch.raws.extend(raws);
            }
            Err(e) => {
                tracing::debug!(task = %self.name(), error = %e, "the transform chain failed on a batch; going record by record");
                for raw in kept {
                    let records = self.convert(&raw).await?;
                    push_all(batch, raw, records);
                }
            }
        }
        Ok(())
    }

    /// Hands a batch to the task. Retriable failures redeliver the same batch after a
    /// backoff; records the task reports as failed go through the error handler with their
    /// original bytes.
    async fn put(&mut self, batch: Vec<ConnectRecord>, raws: Vec<RawRecord>) -> Result<(), Halt> {
        let mut delay = Duration::from_millis(300);
        let mut control = self.env.control.clone();
        loop {
            match self.task.put(batch.clone()).await {
                Ok(()) => {
                    self.env.metrics.add_out(batch.len());
                    return Ok(());
                }
                Err(ConnectorError::RecordsFailed(failures)) => {
                    for f in &failures {
                        let Some(raw) = raws.get(f.index) else {
                            continue;
                        };
                        let error = if f.retriable {
                            ConnectorError::retriable(f.reason.clone())
                        } else {
                            ConnectorError::fatal(f.reason.clone())
                        };
                        self.pipeline
                            .errors
                            .report(Stage::TaskPut, &self.task_class, raw, &error)
                            .await?;
                    }
                    self.env
                        .metrics
                        .add_out(batch.len().saturating_sub(failures.len()));
                    return Ok(());
                }
                Err(e) if e.is_retriable() => {
                    self.env.metrics.add_error();
                    tracing::warn!(task = %self.name(), error = %e, ?delay, "put failed; redelivering the batch");
                    if *self.env.shutdown.borrow() || *control.borrow() == Control::Stop {
                        return Err(Halt::Interrupted);
                    }
                    wait_control(&mut control, delay).await;
                    delay = (delay * 2).min(Duration::from_secs(30));
                }
                Err(e) => return Err(Halt::Failed(trace_of(&e))),
            }
        }
    }

    /// Records not read yet, from the high watermarks of the last reads.
    fn update_lag(&self) {
        let lag: i64 = self
            .positions
            .iter()
            .filter_map(|(tp, position)| {
                self.high_watermarks
                    .get(tp)
                    .map(|hw| (hw - position).max(0))
            })
            .sum();
        self.env.metrics.set_offset_lag(lag as u64);
    }

    /// Where a partition without a committed offset (or out of range) starts:
    /// `auto.offset.reset` (earliest unless `consumer.override.auto.offset.reset=latest`).
    async fn commit_if_due(&mut self) {
        if self.last_commit.elapsed() >= self.env.settings.offset_flush_interval {
            self.commit().await;
        }
    }

    /// `flush` up to the delivered positions, then commits what `pre_commit` allows.
    async fn commit(&mut self) {
        self.last_commit = Instant::now();
        if self.positions == self.committed {
            return;
        }
        let offsets = self.positions.clone();
        if let Err(e) = self.task.flush(&offsets).await {
            tracing::error!(task = %self.name(), error = %e,
                "flush failed; rewinding to the last committed offsets");
            self.positions = self.committed.clone();
            return;
        }
        let allowed = self.task.pre_commit(&offsets);
        let commits: Vec<(String, i32, i64, String)> = allowed
            .iter()
            .filter(|(tp, o)| self.committed.get(*tp) != Some(*o))
            .map(|(tp, o)| (tp.topic.clone(), tp.partition, *o, String::new()))
            .collect();
        if commits.is_empty() {
            return;
        }
        let c = commits
            .iter()
            .map(|(t, p, o, _)| (t.clone(), *p, *o))
            .collect();
        match self.env.log.commit_offsets(&self.group, c).await {
            Ok(()) => {
                for (topic, partition, offset, _) in commits {
                    self.committed
                        .insert(TopicPartition { topic, partition }, offset);
                }
            }
            Err(e) => {
                tracing::error!(task = %self.name(), error = %e, "cannot commit sink offsets")
            }
        }
    }

    /// The final flush and commit, `close` of the partitions, then `stop`.
    async fn finish(&mut self) -> Result<(), String> {
        self.commit().await;
        let partitions: Vec<TopicPartition> = self.positions.keys().cloned().collect();
        let closed = self.task.close(&partitions).map_err(|e| trace_of(&e));
        let stopped = self.task.stop().map_err(|e| trace_of(&e));
        closed.and(stopped)
    }
}

/// What a sink task may ask of the worker: converters from its registry.
struct WorkerSinkContext;

impl weir_connect_api::SinkTaskContext for WorkerSinkContext {
    fn converter(
        &self,
        class: &str,
        config: &weir_connect_api::ConfigMap,
        is_key: bool,
    ) -> weir_connect_api::Result<Box<dyn weir_connect_api::Converter>> {
        let mut converter = crate::converters::converter_for(class).ok_or_else(|| {
            ConnectorError::fatal(format!(
                "unknown converter class {class:?}; known: {}",
                crate::converters::CONVERTER_CLASSES.join(", ")
            ))
        })?;
        converter.configure(config, is_key)?;
        Ok(converter)
    }
}

/// `topics` (comma-separated) or `topics.regex`, exactly one.
fn subscription(config: &weir_connect_api::ConfigMap) -> Result<Subscription, String> {
    let topics = config
        .get("topics")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty());
    let regex = config
        .get("topics.regex")
        .map(|t| t.trim())
        .filter(|t| !t.is_empty());
    match (topics, regex) {
        (Some(t), None) => Ok(Subscription::Topics(
            t.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )),
        (None, Some(r)) => Regex::new(&format!("^(?:{r})$"))
            .map(Subscription::Pattern)
            .map_err(|e| format!("topics.regex={r:?} is not a valid regular expression: {e}")),
        (Some(_), Some(_)) => {
            Err("topics and topics.regex are mutually exclusive options, but both are set.".into())
        }
        (None, None) => Err("Must configure one of topics or topics.regex".into()),
    }
}

/// Adds what one log record became to the batch, each with the record's raw form (for the
/// dead-letter queue).
fn push_all(batch: &mut Batch, raw: RawRecord, records: Vec<ConnectRecord>) {
    // The last copy is the record itself: the common one-record case clones nothing.
    batch.raws.extend(std::iter::repeat_n(raw, records.len()));
    batch.records.extend(records);
}

/// The task class Kafka would name for the connector class (`...SinkConnector` ->
/// `...SinkTask`).
fn task_class(config: &weir_connect_api::ConfigMap) -> String {
    let class = config.get("connector.class").map_or("", String::as_str);
    let resolved = crate::plugins::connector(class).map_or_else(|| class.to_string(), |p| p.class);
    match resolved.strip_suffix("Connector") {
        Some(base) => format!("{base}Task"),
        None => format!("{resolved}Task"),
    }
}

/// Where a partition without a committed offset (or out of range) starts:
/// `auto.offset.reset` (earliest unless `consumer.override.auto.offset.reset=latest`).
async fn reset_position(
    log: &Log,
    from_earliest: bool,
    tp: &TopicPartition,
) -> Result<i64, String> {
    let spec = if from_earliest {
        OffsetSpec::Earliest
    } else {
        OffsetSpec::Latest
    };
    Ok(log
        .list_offset(&tp.topic, tp.partition, spec)
        .await
        .map_err(|e| {
            format!(
                "cannot find where {}-{} starts: {e}",
                tp.topic, tp.partition
            )
        })?
        .unwrap_or(0))
}
