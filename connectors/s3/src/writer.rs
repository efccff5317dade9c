//! One Kafka partition's files (Confluent's `TopicPartitionWriter`): records go to the open
//! file of their encoded partition; a rotation closes every open file of the Kafka
//! partition at once and queues them for upload.
//!
//! Rotation, checked in Confluent's order for each record:
//! 1. time, before the record is written: `rotate.interval.ms` when the record time (from
//!    the time-based partitioner's extractor) is that far past the first record's of the
//!    files, or the encoded partition changed (`rotate.file.on.partition.change`); and
//!    `rotate.schedule.interval.ms` when the wall clock passed the next multiple of it
//!    since local midnight (also checked on an idle `put`);
//! 2. a different value schema for the encoded partition (`schema.compatibility=NONE`);
//! 3. after the record is written: `flush.size` records in the Kafka partition's files.
//!
//! A file is named after the Kafka offset of its first record, so a replay from the last
//! committed offset cuts the same files and overwrites the same objects.

use std::collections::BTreeMap;
use std::sync::Arc;

use weir_connect_api::{ConnectRecord, Converter, DataError, SchemaRef, TopicPartition};

use crate::config::Settings;
use crate::format::FileWriter;
use crate::spool::{Budget, Parts};

/// A file being written.
struct OpenFile {
    start_offset: i64,
    schema: Option<SchemaRef>,
    records: u64,
    writer: FileWriter,
}

/// A finished file waiting for its upload.
pub struct Upload {
    pub key: String,
    pub start_offset: i64,
    pub records: u64,
    pub parts: Parts,
}

/// What happened to one record.
pub enum Outcome {
    /// Written (or skipped on purpose).
    Done,
    /// The record fails alone (errors.tolerance and the DLQ decide).
    Failed(DataError),
}

pub struct PartitionWriter {
    tp: TopicPartition,
    settings: Arc<Settings>,
    json: Arc<dyn Converter>,
    budget: Arc<Budget>,
    /// Open files by encoded partition.
    files: BTreeMap<String, OpenFile>,
    /// Records in the open files.
    record_count: u64,
    /// Record time of the first record of the open files (`rotate.interval.ms`).
    base_timestamp: Option<i64>,
    current_timestamp: Option<i64>,
    current_encoded: Option<String>,
    next_scheduled: Option<i64>,
    /// Finished files, oldest first, not handed to the uploader yet.
    pub pending: Vec<Upload>,
    /// First offsets of files handed to the uploader and not uploaded yet.
    pub uploading: std::collections::BTreeSet<i64>,
    /// The offset after the last record handled: a redelivered batch skips what it had.
    next_offset: Option<i64>,
}

impl PartitionWriter {
    pub fn new(
        tp: TopicPartition,
        settings: Arc<Settings>,
        json: Arc<dyn Converter>,
        budget: Arc<Budget>,
        now: i64,
    ) -> Self {
        let mut w = Self {
            tp,
            settings,
            json,
            budget,
            files: BTreeMap::new(),
            record_count: 0,
            base_timestamp: None,
            current_timestamp: None,
            current_encoded: None,
            next_scheduled: None,
            pending: Vec::new(),
            uploading: std::collections::BTreeSet::new(),
            next_offset: None,
        };
        w.schedule_next(now);
        w
    }

    /// Whether `offset` was handled already (a redelivery).
    pub fn seen(&self, offset: i64) -> bool {
        self.next_offset.is_some_and(|next| offset < next)
    }

    /// Marks a record handled without writing it (a skipped null).
    pub fn skip(&mut self, offset: i64) {
        self.next_offset = Some(offset + 1);
    }

    /// Where the group may commit: the first offset of a file not uploaded yet, or
    /// `delivered` when every record handled is in the bucket.
    pub fn committable(&self, delivered: i64) -> i64 {
        self.files
            .values()
            .map(|f| f.start_offset)
            .chain(self.pending.iter().map(|u| u.start_offset))
            .chain(self.uploading.iter().copied())
            .min()
            .map_or(delivered, |first| first.min(delivered))
    }

    /// Writes one record (its offset not seen yet); rotations queue uploads in `pending`.
    pub fn write(&mut self, record: &ConnectRecord, now: i64) -> Result<Outcome, DataError> {
        let offset = record.kafka_offset.unwrap_or_default();
        let settings = Arc::clone(&self.settings);
        let partitioner = &settings.partitioner;
        if partitioner.is_time_based() {
            match partitioner.timestamp(record, now) {
                Ok(ts) => {
                    self.current_timestamp = Some(ts);
                    self.base_timestamp.get_or_insert(ts);
                }
                Err(e) => {
                    self.skip(offset);
                    return Ok(Outcome::Failed(e));
                }
            }
        }
        let encoded = match partitioner.encode(record, &settings.directory_delim, now) {
            Ok(e) => e,
            Err(e) => {
                self.skip(offset);
                return Ok(Outcome::Failed(e));
            }
        };
        let schema_changed = self.files.get(&encoded).is_some_and(|f| {
            !FileWriter::same_schema(f.schema.as_ref(), record.value_schema.as_ref())
        });
        let on_time = self.rotate_on_time(&encoded, now);
        if on_time || (schema_changed && self.record_count > 0) {
            self.rotate()?;
            if on_time {
                self.schedule_next(now);
            }
            // The record starts the new files.
            self.base_timestamp = self.current_timestamp;
        }
        let file = match self.files.entry(encoded.clone()) {
            std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::btree_map::Entry::Vacant(e) => {
                let writer = match FileWriter::open(
                    &settings.format,
                    settings.compression,
                    &self.json,
                    &self.budget,
                    record.value_schema.as_ref(),
                ) {
                    Ok(w) => w,
                    Err(err) => {
                        self.next_offset = Some(offset + 1);
                        return Ok(Outcome::Failed(err));
                    }
                };
                e.insert(OpenFile {
                    start_offset: offset,
                    schema: record.value_schema.clone(),
                    records: 0,
                    writer,
                })
            }
        };
        let written = file
            .writer
            .encode(record)
            .and_then(|encoded| file.writer.write(record, encoded));
        self.next_offset = Some(offset + 1);
        if let Err(e) = written {
            if file.records == 0 {
                // Nothing of it written: the file never existed.
                self.files.remove(&encoded);
            }
            return Ok(Outcome::Failed(e));
        }
        file.records += 1;
        self.record_count += 1;
        self.current_encoded = Some(encoded);
        if self.record_count >= settings.flush_size {
            self.rotate()?;
        }
        Ok(Outcome::Done)
    }

    /// Confluent's `rotateOnTime`.
    fn rotate_on_time(&self, encoded: &str, now: i64) -> bool {
        if self.record_count == 0 {
            return false;
        }
        let s = &self.settings;
        let periodic = s.rotate_interval_ms.is_some_and(|interval| {
            s.partitioner.is_time_based()
                && (matches!((self.base_timestamp, self.current_timestamp),
                    (Some(base), Some(ts)) if ts - base >= interval)
                    || (s.rotate_on_partition_change
                        && self.current_encoded.as_deref() != Some(encoded)))
        });
        let scheduled = self.next_scheduled.is_some_and(|next| now >= next);
        periodic || scheduled
    }

    /// On an idle `put` (or at the end of one): the scheduled rotation, if due.
    pub fn tick(&mut self, now: i64) -> Result<(), DataError> {
        if self.record_count == 0 {
            if self.next_scheduled.is_some_and(|next| now >= next) {
                self.schedule_next(now);
            }
            return Ok(());
        }
        let encoded = self.current_encoded.clone().unwrap_or_default();
        if self.rotate_on_time(&encoded, now) {
            self.rotate()?;
            self.schedule_next(now);
        }
        Ok(())
    }

    fn schedule_next(&mut self, now: i64) {
        let s = &self.settings;
        self.next_scheduled = s.rotate_schedule_interval_ms.map(|interval| {
            let tz = s
                .partitioner
                .timezone
                .clone()
                .unwrap_or(jiff::tz::TimeZone::UTC);
            next_time_adjusted_by_day(now, interval, &tz)
        });
    }

    /// Closes every open file and queues it for upload.
    pub fn rotate(&mut self) -> Result<(), DataError> {
        let part_size = self.settings.part_size;
        for (encoded, file) in std::mem::take(&mut self.files) {
            let key = object_key(&self.settings, &self.tp, &encoded, file.start_offset);
            let spool = file.writer.finish()?;
            let parts = spool
                .into_parts(part_size)
                .map_err(|e| DataError::new(format!("cannot read back the spooled {key}: {e}")))?;
            self.pending.push(Upload {
                key,
                start_offset: file.start_offset,
                records: file.records,
                parts,
            });
        }
        self.record_count = 0;
        self.base_timestamp = None;
        Ok(())
    }
}

/// `<topics.dir>/<topic>/<encoded>/<topic>+<partition>+<start offset>.<ext>` (Confluent's
/// `fileKeyToCommit`; no leading directory when `topics.dir` is blank).
pub fn object_key(s: &Settings, tp: &TopicPartition, encoded: &str, start_offset: i64) -> String {
    let delim = &s.directory_delim;
    let name = format!(
        "{topic}{fd}{partition}{fd}{offset:0width$}{ext}",
        topic = tp.topic,
        fd = s.file_delim,
        partition = tp.partition,
        offset = start_offset,
        width = s.zero_pad_width,
        ext = s.format.extension(s.compression),
    );
    let dir = format!("{}{delim}{encoded}", tp.topic);
    if s.topics_dir.trim().is_empty() {
        format!("{dir}{delim}{name}")
    } else {
        format!("{}{delim}{dir}{delim}{name}", s.topics_dir)
    }
}

/// Confluent's `DateTimeUtils.getNextTimeAdjustedByDay`: the next multiple of `period`
/// after local midnight of `now` in `tz`, at most the next midnight.
pub fn next_time_adjusted_by_day(now: i64, period: i64, tz: &jiff::tz::TimeZone) -> i64 {
    let Ok(ts) = jiff::Timestamp::from_millisecond(now) else {
        return now + period;
    };
    let zoned = ts.to_zoned(tz.clone());
    let Ok(start) = zoned.start_of_day() else {
        return now + period;
    };
    let start_ms = start.timestamp().as_millisecond();
    let day_ms = start
        .tomorrow()
        .map(|t| t.timestamp().as_millisecond() - start_ms)
        .unwrap_or(24 * 60 * 60 * 1000);
    let next = ((now - start_ms) / period + 1) * period;
    start_ms + next.min(day_ms)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_keys_as_confluent_names_them() {
        let settings = |pairs: &[(&str, &str)]| {
            let mut c = weir_connect_api::ConfigMap::new();
            for (k, v) in [
                ("s3.bucket.name", "b"),
                ("storage.class", "io.confluent.connect.s3.storage.S3Storage"),
                (
                    "format.class",
                    "io.confluent.connect.s3.format.json.JsonFormat",
                ),
                ("flush.size", "1"),
            ]
            .iter()
            .chain(pairs)
            {
                c.insert((*k).to_string(), (*v).to_string());
            }
            Settings::parse(&c).expect("valid")
        };
        let tp = TopicPartition {
            topic: "orders".into(),
            partition: 3,
        };
        let key = |pairs: &[(&str, &str)], encoded: &str| {
            object_key(&settings(pairs), &tp, encoded, 12_345)
        };
        assert_eq!(
            key(&[], "partition=3"),
            "topics/orders/partition=3/orders+3+0000012345.json"
        );
        assert_eq!(
            key(
                &[
                    ("topics.dir", ""),
                    ("file.delim", "_"),
                    ("filename.offset.zero.pad.width", "3")
                ],
                "region=EU"
            ),
            "orders/region=EU/orders_3_12345.json"
        );
        assert_eq!(
            key(
                &[("topics.dir", "raw/kafka"), ("directory.delim", "-")],
                "partition=3"
            ),
            "raw/kafka-orders-partition=3-orders+3+0000012345.json"
        );
    }

    #[test]
    fn scheduled_rotation_aligns_to_local_midnight() {
        let utc = jiff::tz::TimeZone::UTC;
        // 2024-05-01T13:45:00Z, hourly -> 14:00.
        let now = 1_714_571_100_000;
        assert_eq!(
            next_time_adjusted_by_day(now, 3_600_000, &utc),
            1_714_572_000_000
        );
        // A 7 h period stops at midnight: 21:00 is followed by 00:00, not 04:00.
        let late = 1_714_597_200_000 + 60_000; // 21:01
        assert_eq!(
            next_time_adjusted_by_day(late, 7 * 3_600_000, &utc),
            1_714_608_000_000
        );
        let paris = jiff::tz::TimeZone::get("Europe/Paris").expect("zone");
        // 13:45Z is 15:45 in Paris; the next hour there is 16:00 = 14:00Z.
        assert_eq!(
            next_time_adjusted_by_day(now, 3_600_000, &paris),
            1_714_572_000_000
        );
    }
}
