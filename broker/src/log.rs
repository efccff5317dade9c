//! The log of one topic-partition: an ordered set of segments, the last one active.
//!
//! Offsets are assigned here, at append. Durability follows the topic's flush policy; after a
//! failed write or fsync the log refuses appends until it is reopened (fail-stop), because the
//! file may then hold bytes that the in-memory state does not describe.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::config::TopicConfig;
use crate::error::{Error, Result, TopicPartition};
use crate::io::{self, Backend};
use crate::producer::{ProducerStates, SequenceCheck, SequenceError};
use crate::segment::{self, Segment, Truncation};

const CHECKPOINT_FILE: &str = "recovery-point";

/// Where the last fsync left the log: every byte before it is durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct RecoveryPoint {
    offset: i64,
    segment: i64,
    position: u64,
}

/// The result of an append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    pub log_end: i64,
    pub log_start: i64,
}

/// Stored batches read from a partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchData {
    /// Whole RecordBatch v2 batches, exactly as stored.
    pub records: Bytes,
    pub high_watermark: i64,
    pub log_start: i64,
}

/// Which offset `list_offset` should find.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OffsetSpec {
    Earliest,
    Latest,
    /// The first record with a timestamp at or after this one (ms).
    Timestamp(i64),
}

pub struct PartitionLog {
    pub(crate) tp: TopicPartition,
    pub(crate) dir: PathBuf,
    pub(crate) backend: Arc<dyn Backend>,
    pub(crate) config: TopicConfig,
    pub(crate) segments: BTreeMap<i64, Segment>,
    log_end: i64,
    recovery_point: Option<RecoveryPoint>,
    checkpointed: Option<RecoveryPoint>,
    unflushed_messages: u64,
    last_flush: Instant,
    pub(crate) failed: Option<String>,
    /// Log end at the last compaction: nothing to clean while it is unchanged.
    pub(crate) compacted_at: Option<i64>,
    producers: ProducerStates,
}

impl PartitionLog {
    /// Opens the log in `dir` (created if missing), verifying everything written after the
    /// last recovery checkpoint and cutting off a torn or corrupt tail.
    pub fn open(
        tp: TopicPartition,
        dir: &Path,
        config: TopicConfig,
        backend: Arc<dyn Backend>,
    ) -> Result<Self> {
        let created = !dir.exists();
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        crate::compaction::finish_interrupted_swaps(dir)?;
        let checkpoint = read_checkpoint(dir);
        let mut producers = ProducerStates::load(dir);
        let mut bases = list_segment_bases(dir)?;
        if bases.is_empty() {
            bases.push(0);
        }
        let mut segments = BTreeMap::new();
        let mut cut_at: Option<i64> = None;
        let last = bases.last().copied();
        for base in bases {
            if let Some(cut) = cut_at {
                tracing::error!(topic = %tp.topic, partition = tp.partition, segment = base,
                    after_offset = cut, "deleting segment that follows a truncated one");
                delete_segment_files(dir, base)?;
                continue;
            }
            let verify_from = match checkpoint {
                Some(cp) if base < cp.segment => u64::MAX,
                Some(cp) if base == cp.segment => cp.position,
                _ => 0,
            };
            // The active segment is never compacted: its offsets must be contiguous.
            let contiguous = Some(base) == last;
            let (mut seg, truncation) = Segment::open(
                backend.as_ref(),
                dir,
                base,
                config.index_interval_bytes,
                verify_from,
                contiguous,
            )
            .map_err(|e| Error::io(dir.join(segment::file_stem(base)), e))?;
            if let Some(t) = truncation {
                report_truncation(&tp, seg.log_path(), &t);
                cut_at = Some(t.offset);
            }
            for h in seg.take_recovered() {
                producers.record(&h);
            }
            segments.insert(base, seg);
        }
        if created {
            // A new partition: its first segment files and the directory itself must survive
            // a crash as soon as anything is acknowledged.
            io::sync_dir(dir).map_err(|e| Error::io(dir, e))?;
            if let Some(parent) = dir.parent() {
                io::sync_dir(parent).map_err(|e| Error::io(parent, e))?;
            }
        }
        let log_end = segments
            .values()
            .next_back()
            .map_or(0, |s: &Segment| s.next_offset());
        Ok(Self {
            tp,
            dir: dir.to_path_buf(),
            backend,
            config,
            segments,
            log_end,
            recovery_point: None,
            checkpointed: checkpoint,
            unflushed_messages: 0,
            last_flush: Instant::now(),
            failed: None,
            compacted_at: None,
            producers,
        })
    }

    pub fn topic_partition(&self) -> &TopicPartition {
        &self.tp
    }
    pub fn config(&self) -> &TopicConfig {
        &self.config
    }
    pub fn set_config(&mut self, config: TopicConfig) {
        self.config = config;
    }
    pub fn log_end(&self) -> i64 {
        self.log_end
    }
    /// A single-replica log: every appended record is committed.
    pub fn high_watermark(&self) -> i64 {
        self.log_end
    }
    pub fn log_start(&self) -> i64 {
        self.segments.keys().next().copied().unwrap_or(self.log_end)
    }
    pub fn size_bytes(&self) -> u64 {
        self.segments.values().map(Segment::size).sum()
    }
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }
    pub fn failure(&self) -> Option<&str> {
        self.failed.as_deref()
    }

    fn active(&self) -> Result<&Segment> {
        self.segments.values().next_back().ok_or(Error::Closed)
    }

    fn fail(&mut self, path: &Path, e: std::io::Error) -> Error {
        tracing::error!(topic = %self.tp.topic, partition = self.tp.partition,
            path = %path.display(), error = %e, "storage failure: partition refuses appends until reopened");
        self.failed = Some(format!("{}: {e}", path.display()));
        Error::io(path, e)
    }

    fn check_writable(&self) -> Result<()> {
        match &self.failed {
            Some(cause) => Err(Error::PartitionFailed {
                tp: self.tp.clone(),
                cause: cause.clone(),
            }),
            None => Ok(()),
        }
    }

    /// Appends a producer's buffer of one or more RecordBatch v2 batches. Each batch is
    /// checked (framing, CRC-32C, record count) before anything is written; only its base
    /// offset is changed.
    pub fn append(&mut self, bytes: &[u8], now_ms: i64) -> Result<AppendInfo> {
        self.check_writable()?;
        let headers =
            batch::validate_produced(bytes).map_err(|(position, reason)| Error::CorruptBatch {
                tp: self.tp.clone(),
                position,
                reason,
            })?;
        if let Some(h) = headers
            .iter()
            .find(|h| h.total_len() > self.config.max_message_bytes)
        {
            return Err(Error::BatchTooLarge {
                tp: self.tp.clone(),
                size: h.total_len(),
                max: self.config.max_message_bytes,
            });
        }
        let mut first_offset = None;
        let mut last = -1;
        let mut pos = 0;
        let mut records = 0u64;
        for h in headers {
            let len = h.total_len();
            let stored = &bytes[pos..pos + len];
            // Only the base offset changes: patch a copy of the header and write the rest
            // of the batch straight from the caller's buffer.
            let mut head = [0u8; HEADER_LEN];
            head.copy_from_slice(&stored[..HEADER_LEN]);
            batch::set_base_offset(&mut head, self.log_end);
            match self.producers.check(&h) {
                Ok(SequenceCheck::Append) => {}
                Ok(SequenceCheck::Duplicate {
                    base_offset,
                    last_offset,
                }) => {
                    // A retried batch: answer with where it already is, write nothing.
                    first_offset.get_or_insert(base_offset);
                    last = last.max(last_offset);
                    pos += len;
                    continue;
                }
                Err(e) => return Err(self.sequence_error(&h, e)),
            }
            let h = BatchHeader {
                base_offset: self.log_end,
                ..h
            };
            self.maybe_roll(&h, now_ms)?;
            let base = *self.segments.keys().next_back().ok_or(Error::Closed)?;
            let result = match self.segments.get_mut(&base) {
                Some(seg) => {
                    seg.start_roll_clock(now_ms);
                    seg.append_parts(&head, &stored[HEADER_LEN..], &h)
                        .map_err(|e| (seg.log_path().to_path_buf(), e))
                }
                None => return Err(Error::Closed),
            };
            if let Err((path, e)) = result {
                return Err(self.fail(&path, e));
            }
            self.producers.record(&h);
            first_offset.get_or_insert(h.base_offset);
            last = h.last_offset();
            self.log_end = h.next_offset();
            records += h.records_count as u64;
            pos += len;
        }
        self.unflushed_messages += records;
        if self
            .config
            .flush_every_messages()
            .is_some_and(|n| self.unflushed_messages >= n)
        {
            self.flush()?;
        }
        Ok(AppendInfo {
            base_offset: first_offset.unwrap_or(self.log_end),
            last_offset: last,
            log_end: self.log_end,
            log_start: self.log_start(),
        })
    }

    fn sequence_error(&self, h: &BatchHeader, e: SequenceError) -> Error {
        match e {
            SequenceError::OutOfOrder { expected, got } => Error::OutOfOrderSequence {
                tp: self.tp.clone(),
                producer_id: h.producer_id,
                expected,
                got,
            },
            SequenceError::Fenced { current, got } => Error::ProducerFenced {
                tp: self.tp.clone(),
                producer_id: h.producer_id,
                current,
                got,
            },
        }
    }

    fn maybe_roll(&mut self, h: &BatchHeader, now_ms: i64) -> Result<()> {
        let active = self.active()?;
        let too_old = active
            .roll_base_ms()
            .is_some_and(|t| now_ms.saturating_sub(t) >= self.config.segment_ms);
        let fits = active.fits(
            h.total_len() as u64,
            h.last_offset(),
            self.config.segment_bytes,
        );
        if active.size() > 0 && (!fits || too_old) {
            self.roll()?;
        }
        Ok(())
    }

    /// Closes the active segment (fsyncing it) and starts a new one at the log end.
    pub fn roll(&mut self) -> Result<()> {
        self.check_writable()?;
        self.flush()?;
        let closing = self.active()?.base_offset();
        self.sync_segments(closing, Segment::sync)?;
        // The segment just closed becomes compactable.
        self.compacted_at = None;
        let base = self.log_end;
        if self.segments.contains_key(&base) {
            return Ok(());
        }
        let opened = Segment::open(
            self.backend.as_ref(),
            &self.dir,
            base,
            self.config.index_interval_bytes,
            0,
            true,
        );
        match opened {
            Ok((seg, _)) => {
                self.segments.insert(base, seg);
                if let Err(e) = io::sync_dir(&self.dir) {
                    let dir = self.dir.clone();
                    return Err(self.fail(&dir, e));
                }
                tracing::debug!(topic = %self.tp.topic, partition = self.tp.partition, base, "segment rolled");
                Ok(())
            }
            Err(e) => {
                let path = self.dir.join(segment::file_stem(base));
                Err(self.fail(&path, e))
            }
        }
    }

    /// Fsyncs unflushed appends and moves the recovery point to the log end.
    pub fn flush(&mut self) -> Result<()> {
        let active = self.active()?;
        let point = RecoveryPoint {
            offset: self.log_end,
            segment: active.base_offset(),
            position: active.size(),
        };
        if self.recovery_point == Some(point) && self.unflushed_messages == 0 {
            return Ok(());
        }
        // Segments from the one holding the old recovery point on may hold unsynced bytes.
        let from = self.recovery_point.map_or(i64::MIN, |p| p.segment);
        self.sync_segments(from, Segment::sync_log)?;
        self.recovery_point = Some(point);
        self.unflushed_messages = 0;
        self.last_flush = Instant::now();
        Ok(())
    }

    /// Runs `sync` on every segment from base `from` on; a failure fails the partition.
    fn sync_segments(
        &mut self,
        from: i64,
        sync: fn(&Segment) -> std::io::Result<()>,
    ) -> Result<()> {
        let failure = self
            .segments
            .range(from..)
            .find_map(|(_, s)| sync(s).err().map(|e| (s.log_path().to_path_buf(), e)));
        match failure {
            Some((path, e)) => Err(self.fail(&path, e)),
            None => Ok(()),
        }
    }

    /// Flushes when `flush.ms` is set and that long has passed since the last flush.
    pub fn flush_if_due(&mut self) -> Result<()> {
        let due = self.config.flush_ms != i64::MAX
            && self.is_dirty()
            && self.failed.is_none()
            && self.last_flush.elapsed().as_millis() >= self.config.flush_ms as u128;
        if due { self.flush() } else { Ok(()) }
    }

    /// Whether appends are waiting for an fsync.
    pub fn is_dirty(&self) -> bool {
        self.unflushed_messages > 0
    }

    /// Persists the recovery point (after a flush) so the next start verifies only what
    /// came after it.
    pub fn checkpoint(&mut self) -> Result<()> {
        if self.failed.is_some() {
            return Ok(());
        }
        self.flush()?;
        let Some(point) = self.recovery_point else {
            return Ok(());
        };
        if self.checkpointed == Some(point) {
            return Ok(());
        }
        // Recovery trusts index entries before the checkpoint: make them durable first.
        let from = self.checkpointed.map_or(i64::MIN, |p| p.segment);
        self.sync_segments(from, Segment::sync)?;
        // The producer state goes first: it must cover every batch before the checkpoint.
        let state_dir = self.dir.clone();
        self.producers
            .save(&state_dir, point.offset)
            .map_err(|e| Error::io(&state_dir, e))?;
        let path = self.dir.join(CHECKPOINT_FILE);
        let text = format!("1 {} {} {}\n", point.offset, point.segment, point.position);
        io::write_atomic(&path, text.as_bytes()).map_err(|e| Error::io(&path, e))?;
        self.checkpointed = Some(point);
        Ok(())
    }

    /// Reads whole batches starting with the one that holds `offset`.
    pub fn read(&self, offset: i64, max_bytes: usize) -> Result<FetchData> {
        let (log_start, log_end) = (self.log_start(), self.log_end);
        if offset < log_start || offset > log_end {
            return Err(Error::OffsetOutOfRange {
                tp: self.tp.clone(),
                offset,
                log_start,
                log_end,
            });
        }
        let mut records = Bytes::new();
        let from = self
            .segments
            .range(..=offset)
            .next_back()
            .map_or(log_start, |(b, _)| *b);
        for seg in self.segments.range(from..).map(|(_, s)| s) {
            let found = seg
                .position_of(offset)
                .map_err(|e| Error::io(seg.log_path(), e))?;
            if let Some(pos) = found {
                records = seg
                    .read_batches(pos, max_bytes)
                    .map_err(|e| Error::io(seg.log_path(), e))?;
                break;
            }
        }
        Ok(FetchData {
            records,
            high_watermark: log_end,
            log_start,
        })
    }

    /// The largest batch timestamp in the log, if any batch carries one.
    pub fn max_timestamp(&self) -> Option<i64> {
        self.segments
            .values()
            .map(Segment::max_timestamp)
            .max()
            .filter(|t| *t >= 0)
    }

    /// Finds an offset: `(offset, timestamp)`, or `None` when no record is that recent.
    pub fn list_offset(&self, spec: OffsetSpec) -> Result<Option<(i64, i64)>> {
        match spec {
            OffsetSpec::Earliest => Ok(Some((self.log_start(), -1))),
            OffsetSpec::Latest => Ok(Some((self.log_end, -1))),
            OffsetSpec::Timestamp(ts) => {
                for seg in self.segments.values() {
                    if let Some(hit) = seg
                        .find_by_timestamp(ts)
                        .map_err(|e| Error::io(seg.log_path(), e))?
                    {
                        return Ok(Some(hit));
                    }
                }
                Ok(None)
            }
        }
    }

    /// Deletes whole segments from the oldest by `retention.ms` and `retention.bytes`;
    /// returns how many were deleted. The active segment is rolled first when all of its
    /// data has expired, so that it can go too.
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<usize> {
        if !self.config.delete {
            return Ok(0);
        }
        let expired = |seg: &Segment, cfg: &TopicConfig| {
            cfg.retention_ms >= 0
                && seg.size() > 0
                && seg.retention_timestamp() < now_ms.saturating_sub(cfg.retention_ms)
        };
        if self.failed.is_none() && self.active().is_ok_and(|a| expired(a, &self.config)) {
            self.roll()?;
        }
        let mut total = self.size_bytes();
        let mut doomed = Vec::new();
        let active_base = self.active()?.base_offset();
        for (base, seg) in self.segments.range(..active_base) {
            let over_size = self.config.retention_bytes >= 0
                && total.saturating_sub(seg.size()) >= self.config.retention_bytes as u64;
            if !(expired(seg, &self.config) || over_size) {
                break;
            }
            total -= seg.size();
            doomed.push(*base);
        }
        for base in &doomed {
            if let Some(seg) = self.segments.remove(base) {
                tracing::info!(topic = %self.tp.topic, partition = self.tp.partition,
                    segment = base, bytes = seg.size(), "segment deleted by retention");
                drop(seg);
                delete_segment_files(&self.dir, *base)?;
            }
        }
        Ok(doomed.len())
    }

    /// Flushes, checkpoints and closes the log.
    pub fn close(mut self) -> Result<()> {
        self.checkpoint()
    }

    /// Every stored batch, oldest first (tests and tools).
    pub fn all_batches(&self) -> Result<Vec<Bytes>> {
        let mut out = Vec::new();
        for seg in self.segments.values() {
            out.extend(seg.batches().map_err(|e| Error::io(seg.log_path(), e))?);
        }
        Ok(out)
    }
}

fn report_truncation(tp: &TopicPartition, path: &Path, t: &Truncation) {
    tracing::warn!(topic = %tp.topic, partition = tp.partition, offset = t.offset,
        position = t.position, bytes_dropped = t.bytes_dropped, file = %path.display(),
        reason = %t.reason, "truncated torn or corrupt tail of segment");
}

fn read_checkpoint(dir: &Path) -> Option<RecoveryPoint> {
    let text = fs::read_to_string(dir.join(CHECKPOINT_FILE)).ok()?;
    let mut parts = text.split_whitespace();
    if parts.next()? != "1" {
        return None;
    }
    Some(RecoveryPoint {
        offset: parts.next()?.parse().ok()?,
        segment: parts.next()?.parse().ok()?,
        position: parts.next()?.parse().ok()?,
    })
}

/// Base offsets of the segments in `dir`, ascending.
pub(crate) fn list_segment_bases(dir: &Path) -> Result<Vec<i64>> {
    let mut bases = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        let name = entry.file_name();
        let Some(stem) = name.to_str().and_then(|n| n.strip_suffix(".log")) else {
            continue;
        };
        if stem.len() == 20
            && let Ok(base) = stem.parse::<i64>()
        {
            bases.push(base);
        }
    }
    bases.sort_unstable();
    Ok(bases)
}

pub(crate) fn delete_segment_files(dir: &Path, base: i64) -> Result<()> {
    let stem = segment::file_stem(base);
    for ext in ["log", "index", "timeindex"] {
        let path = dir.join(format!("{stem}.{ext}"));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::io(path, e)),
        }
    }
    io::sync_dir(dir).map_err(|e| Error::io(dir, e))
}
