//! S3 sink, compatible with Confluent's S3SinkConnector
//! (`io.confluent.connect.s3.S3SinkConnector`): the same keys, object names and contents.
//!
//! Exactly-once end state: a file is named after the Kafka offset of its first record,
//! rotation depends only on the records (`flush.size`, record-time `rotate.interval.ms`,
//! schema changes), and the group commits, per partition, only offsets below every file not
//! uploaded yet ([`SinkTask::pre_commit`]). After a crash the task reads again from the
//! commit, cuts the same files and overwrites the same objects with the same bytes.
//! (Wall-clock rotation, `rotate.schedule.interval.ms` or the Wallclock extractor, is not
//! deterministic, as in Confluent's.)
//!
//! Memory is bounded whatever the number of partitions: not-yet-uploaded files share
//! `s3.spool.memory.bytes` and spool to disk past it ([`spool`]); uploads stream one part
//! at a time ([`store`]) in the background while `put` fills the next files
//! ([`uploader`]). When S3 is unreachable, uploads are retried with backoff and `put` fails
//! as retriable before taking more records, so the worker backs off and nothing piles up.

pub mod config;
pub mod format;
mod joda;
pub mod parquet_file;
pub mod partitioner;
pub mod spool;
pub mod store;
pub mod uploader;
pub mod writer;

use std::collections::BTreeMap;
use std::sync::Arc;

use weir_connect_api::connector::BoxFuture;
use weir_connect_api::error::RecordFailure;
use weir_connect_api::{
    ConfigMap, ConnectRecord, ConnectorError, ConnectorType, Converter, Result,
    SharedConfigConnector, SinkTask, SinkTaskContext, TopicPartition,
};

use crate::config::{NullValues, Settings};
use crate::spool::Budget;
use crate::store::Store;
use crate::uploader::{Done, MAX_QUEUED, Uploader, WAIT_FOR_UPLOAD};
use crate::writer::{Outcome, PartitionWriter};

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
/// Confluent's class name.
pub const CONNECTOR_CLASS: &str = "io.confluent.connect.s3.S3SinkConnector";
const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";

/// The connector: checks the config and hands every task the same one.
pub fn connector() -> SharedConfigConnector {
    SharedConfigConnector::new(ConnectorType::Sink, config::config_def, |config| {
        Settings::parse(config).err().unwrap_or_default()
    })
}

#[derive(Default)]
pub struct S3SinkTask {
    context: Option<Box<dyn SinkTaskContext>>,
    settings: Option<Arc<Settings>>,
    json: Option<Arc<dyn Converter>>,
    budget: Option<Arc<Budget>>,
    /// Connected and the bucket checked, on the first `put`.
    store: Option<Arc<Store>>,
    uploader: Option<Uploader>,
    /// A failure of a background upload that retrying cannot fix, for the next `put`.
    upload_failure: Option<ConnectorError>,
    writers: BTreeMap<TopicPartition, PartitionWriter>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl S3SinkTask {
    fn settings(&self) -> Result<Arc<Settings>> {
        self.settings
            .clone()
            .ok_or_else(|| ConnectorError::fatal("the S3 sink task was not started"))
    }

    async fn store(&mut self) -> Result<Arc<Store>> {
        if let Some(store) = &self.store {
            return Ok(Arc::clone(store));
        }
        let settings = self.settings()?;
        let store = Arc::new(Store::connect(&settings).await);
        store.check_bucket().await?;
        tracing::info!(bucket = %settings.bucket, endpoint = %settings.endpoint_name(), "S3 sink connected");
        self.store = Some(Arc::clone(&store));
        Ok(store)
    }

    /// Applies the uploads finished so far.
    fn collect_done(&mut self) {
        let Some(uploader) = self.uploader.as_mut() else {
            return;
        };
        while let Some(done) = uploader.try_done() {
            apply(&mut self.writers, &mut self.upload_failure, done);
        }
    }

    /// Hands rotated files to the uploader, oldest first, while it takes them.
    fn hand_over(&mut self) {
        let Some(uploader) = self.uploader.as_mut() else {
            return;
        };
        for (tp, writer) in &mut self.writers {
            while !writer.pending.is_empty() {
                let upload = writer.pending.remove(0);
                let start = upload.start_offset;
                match uploader.send(tp.clone(), upload) {
                    Ok(()) => {
                        writer.uploading.insert(start);
                    }
                    Err(upload) => {
                        writer.pending.insert(0, upload);
                        return;
                    }
                }
            }
        }
    }

    /// Waits (a little) until the uploader has room; while S3 is away the worker is told to
    /// back off instead, and the records stay in the log.
    async fn make_room(&mut self) -> Result<()> {
        self.collect_done();
        self.hand_over();
        let waiting = |t: &Self| {
            t.uploader.as_ref().map_or(0, Uploader::queued)
                + t.writers.values().map(|w| w.pending.len()).sum::<usize>()
        };
        if waiting(self) >= MAX_QUEUED
            && let Some(uploader) = self.uploader.as_mut()
            && let Some(done) = uploader.wait_done(WAIT_FOR_UPLOAD).await
        {
            apply(&mut self.writers, &mut self.upload_failure, done);
            self.collect_done();
            self.hand_over();
        }
        if let Some(e) = self.upload_failure.take() {
            return Err(e);
        }
        let n = waiting(self);
        if n >= MAX_QUEUED {
            let settings = self.settings()?;
            return Err(ConnectorError::retriable(format!(
                "{n} files wait for their upload to S3 bucket {} at {}; not taking more records yet",
                settings.bucket,
                settings.endpoint_name()
            )));
        }
        Ok(())
    }

    fn writer(&mut self, tp: &TopicPartition, now: i64) -> Result<&mut PartitionWriter> {
        if !self.writers.contains_key(tp) {
            let settings = self.settings()?;
            let (Some(json), Some(budget)) = (self.json.clone(), self.budget.clone()) else {
                return Err(ConnectorError::fatal("the S3 sink task was not started"));
            };
            let writer = PartitionWriter::new(tp.clone(), settings, json, budget, now);
            self.writers.insert(tp.clone(), writer);
        }
        self.writers
            .get_mut(tp)
            .ok_or_else(|| ConnectorError::fatal("the partition's writer vanished"))
    }

    async fn put_records(&mut self, records: Vec<ConnectRecord>) -> Result<()> {
        let store = self.store().await?;
        let settings = self.settings()?;
        if self.uploader.is_none() {
            let name = format!("s3-uploader-{}", settings.bucket);
            self.uploader = Some(Uploader::start(store, settings.retry_backoff, name));
        }
        // While earlier files cannot be uploaded no new records are taken (the worker
        // redelivers this batch after a backoff).
        self.make_room().await?;
        let mut failures = Vec::new();
        let now = now_ms();
        for (index, record) in records.iter().enumerate() {
            let tp = TopicPartition {
                topic: record.topic.clone(),
                partition: record.kafka_partition.unwrap_or_default(),
            };
            let offset = record.kafka_offset.unwrap_or_default();
            let writer = self.writer(&tp, now)?;
            if writer.seen(offset) {
                continue;
            }
            if record.value.is_null() {
                writer.skip(offset);
                if settings.null_values == NullValues::Fail {
                    failures.push(RecordFailure {
                        index,
                        reason: "Null valued records are not writeable with current behavior.on.null.values 'settings.".into(),
                        retriable: false,
                    });
                }
                continue;
            }
            match writer.write(record, now) {
                Ok(Outcome::Done) => {}
                Ok(Outcome::Failed(e)) => failures.push(RecordFailure {
                    index,
                    reason: e.to_string(),
                    retriable: false,
                }),
                // The spool could not be written or read back: the open files are no
                // longer whole, so the task fails and restarts from the last commit.
                Err(e) => return Err(ConnectorError::fatal(e.to_string())),
            }
        }
        for writer in self.writers.values_mut() {
            writer
                .tick(now)
                .map_err(|e| ConnectorError::fatal(e.to_string()))?;
        }
        self.hand_over();
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ConnectorError::RecordsFailed(failures))
        }
    }
}

/// A finished upload: its file no longer holds the partition's commit back; a failure
/// retrying cannot fix is kept for the next `put`.
fn apply(
    writers: &mut BTreeMap<TopicPartition, PartitionWriter>,
    failure: &mut Option<ConnectorError>,
    done: Done,
) {
    match done.result {
        Ok(()) => {
            if let Some(w) = writers.get_mut(&done.tp) {
                w.uploading.remove(&done.start_offset);
            }
        }
        Err(e) => {
            failure.get_or_insert(e);
        }
    }
}

impl SinkTask for S3SinkTask {
    fn initialize(&mut self, context: Box<dyn SinkTaskContext>) {
        self.context = Some(context);
    }

    fn start(&mut self, config: &ConfigMap) -> Result<()> {
        let settings = Settings::parse(config).map_err(ConnectorError::Config)?;
        let context = self.context.as_ref().ok_or_else(|| {
            ConnectorError::fatal("the S3 sink task needs the worker's context (initialize)")
        })?;
        let json = context.converter(JSON_CONVERTER, &settings.json_converter, false)?;
        if settings.rotate_interval_ms.is_some() && !settings.partitioner.is_time_based() {
            tracing::warn!(
                "rotate.interval.ms is ignored: it needs a time-based partitioner, as in Confluent's S3 sink"
            );
        }
        self.budget = Some(Budget::new(settings.spool_memory_bytes));
        self.json = Some(Arc::from(json));
        self.settings = Some(Arc::new(settings));
        Ok(())
    }

    fn close(&mut self, partitions: &[TopicPartition]) -> Result<()> {
        // Files not uploaded are dropped: their records are read again from the commit.
        for tp in partitions {
            self.writers.remove(tp);
        }
        Ok(())
    }

    fn put(&mut self, records: Vec<ConnectRecord>) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.put_records(records))
    }

    /// Files are uploaded in `put`; nothing is left to flush.
    fn flush(&mut self, _offsets: &BTreeMap<TopicPartition, i64>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn pre_commit(
        &mut self,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> BTreeMap<TopicPartition, i64> {
        self.collect_done();
        offsets
            .iter()
            .map(|(tp, delivered)| {
                let safe = self
                    .writers
                    .get(tp)
                    .map_or(*delivered, |w| w.committable(*delivered));
                (tp.clone(), safe)
            })
            .collect()
    }

    fn stop(&mut self) -> Result<()> {
        self.uploader = None;
        self.writers.clear();
        Ok(())
    }
}
