//! Log compaction for `cleanup.policy=compact`: keep the newest record of every key.
//!
//! Closed segments are rewritten one by one. A rewritten batch keeps its base offset, base
//! timestamp and last offset delta, so every kept record's bytes stay as they were; only the
//! record count, length and CRC change. Tombstones (null values) that are the newest record
//! of their key survive for `delete.retention.ms` after their timestamp, so that consumers
//! catching up see the delete.
//!
//! Crash safety: the cleaned files are written and fsynced under `.cleaning/`, then renamed
//! to `<base>.index.swap`, `<base>.timeindex.swap` and last `<base>.log.swap`. The rename of
//! the log file is the commit point: on open, a `.log.swap` completes the swap, while stray
//! index swaps without one are discarded.

use std::collections::HashMap;
use std::fs;
use std::path::Path;

use bytes::Bytes;

use crate::batch::{self, BatchHeader};
use crate::error::{Error, Result};
use crate::io;
use crate::log::PartitionLog;
use crate::segment::{self, Segment};

const CLEANING_DIR: &str = ".cleaning";

/// What one compaction pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CompactionStats {
    pub segments_rewritten: usize,
    pub segments_deleted: usize,
    pub records_removed: usize,
}

impl PartitionLog {
    /// Compacts the closed segments; a no-op unless the topic is compacted and new data
    /// arrived since the last pass (or that pass left tombstones or young segments waiting).
    pub fn compact(&mut self, now_ms: i64) -> Result<CompactionStats> {
        let mut stats = CompactionStats::default();
        if !self.config.compact
            || self.failed.is_some()
            || self.compacted_at == Some(self.log_end())
        {
            return Ok(stats);
        }
        let Some(active_base) = self.segments.keys().next_back().copied() else {
            return Ok(stats);
        };
        // Newest offset of every key, over the whole log.
        let mut latest: HashMap<Bytes, i64> = HashMap::new();
        for seg in self.segments.values() {
            for b in seg.batches().map_err(|e| Error::io(seg.log_path(), e))? {
                let Some(h) = BatchHeader::parse(&b) else {
                    continue;
                };
                if h.is_control() {
                    continue;
                }
                for r in batch::raw_records(&b).map_err(|reason| corrupt(seg, reason))? {
                    if let Some(k) = r.key {
                        latest.insert(k, h.base_offset + i64::from(r.offset_delta));
                    }
                }
            }
        }
        let mut deferred = false;
        let lag_limit = now_ms.saturating_sub(self.config.min_compaction_lag_ms);
        let tombstone_limit = now_ms.saturating_sub(self.config.delete_retention_ms);
        let bases: Vec<i64> = self
            .segments
            .range(..active_base)
            .map(|(b, _)| *b)
            .collect();
        for base in bases {
            let Some(seg) = self.segments.get(&base) else {
                continue;
            };
            if seg.max_timestamp() > lag_limit {
                // Too young for now; only time is needed for a later pass to clean it.
                deferred = true;
                break;
            }
            let mut kept_batches = Vec::new();
            let mut removed = 0;
            for b in seg.batches().map_err(|e| Error::io(seg.log_path(), e))? {
                let Some(h) = BatchHeader::parse(&b) else {
                    continue;
                };
                if h.is_control() {
                    kept_batches.push(b);
                    continue;
                }
                let records = batch::raw_records(&b).map_err(|reason| corrupt(seg, reason))?;
                let total = records.len();
                let keep: Vec<_> = records
                    .into_iter()
                    .filter(|r| {
                        let offset = h.base_offset + i64::from(r.offset_delta);
                        let Some(key) = &r.key else { return true };
                        let newest = latest.get(key) == Some(&offset);
                        let ts = h.base_timestamp + r.timestamp_delta;
                        let waiting_tombstone = r.value.is_none() && ts > tombstone_limit;
                        deferred |= newest && waiting_tombstone;
                        newest && (r.value.is_some() || waiting_tombstone)
                    })
                    .collect();
                removed += total - keep.len();
                if keep.len() == total {
                    kept_batches.push(b);
                } else if !keep.is_empty() {
                    kept_batches
                        .push(batch::rebuild_batch(&b, &keep).map_err(|r| corrupt(seg, r))?);
                }
            }
            if removed == 0 {
                continue;
            }
            stats.records_removed += removed;
            let first = self.segments.keys().next() == Some(&base);
            // An emptied segment is deleted, except the first: it keeps the log start offset
            // where it was, as Kafka does, so committed offsets inside it stay valid.
            if kept_batches.is_empty() && !first {
                self.segments.remove(&base);
                crate::log::delete_segment_files(&self.dir, base)?;
                stats.segments_deleted += 1;
            } else {
                match self.swap_segment(base, &kept_batches) {
                    Ok(seg) => {
                        self.segments.insert(base, seg);
                    }
                    Err(e) => {
                        // The segment may be out of memory or half swapped: stop serving
                        // writes until a restart completes or discards the swap.
                        tracing::error!(topic = %self.tp.topic, partition = self.tp.partition,
                            segment = base, error = %e, "compaction swap failed: partition refuses appends until reopened");
                        self.failed = Some(format!("compaction of segment {base} failed: {e}"));
                        return Err(e);
                    }
                }
                stats.segments_rewritten += 1;
            }
        }
        // Skip later passes until new data arrives, unless this one left work that only
        // needs time (a segment within min.compaction.lag.ms, a tombstone within
        // delete.retention.ms).
        self.compacted_at = (!deferred).then_some(self.log_end());
        if stats.records_removed > 0 {
            tracing::info!(topic = %self.tp.topic, partition = self.tp.partition,
                removed = stats.records_removed, rewritten = stats.segments_rewritten,
                deleted = stats.segments_deleted, "log compacted");
        }
        Ok(stats)
    }

    /// Writes `batches` as the new content of segment `base` and swaps it in atomically.
    fn swap_segment(&mut self, base: i64, batches: &[Bytes]) -> Result<Segment> {
        let work = self.dir.join(CLEANING_DIR);
        let _ = fs::remove_dir_all(&work);
        fs::create_dir_all(&work).map_err(|e| Error::io(&work, e))?;
        let interval = self.config.index_interval_bytes;
        let (mut cleaned, _) =
            Segment::open(self.backend.as_ref(), &work, base, interval, 0, false)
                .map_err(|e| Error::io(&work, e))?;
        for b in batches {
            let h = BatchHeader::parse(b).ok_or_else(|| Error::CorruptBatch {
                tp: self.tp.clone(),
                position: 0,
                reason: "short batch while compacting".into(),
            })?;
            cleaned
                .append(b, &h)
                .map_err(|e| Error::io(cleaned.log_path(), e))?;
        }
        cleaned
            .sync()
            .map_err(|e| Error::io(cleaned.log_path(), e))?;
        drop(cleaned);
        // The old segment's files are replaced by rename; drop our handles first.
        self.segments.remove(&base);
        let stem = segment::file_stem(base);
        for ext in ["index", "timeindex", "log"] {
            let from = work.join(format!("{stem}.{ext}"));
            let to = self.dir.join(format!("{stem}.{ext}.swap"));
            fs::rename(&from, &to).map_err(|e| Error::io(&from, e))?;
        }
        io::sync_dir(&self.dir).map_err(|e| Error::io(&self.dir, e))?;
        finish_interrupted_swaps(&self.dir)?;
        let (seg, _) = Segment::open(
            self.backend.as_ref(),
            &self.dir,
            base,
            interval,
            u64::MAX,
            false,
        )
        .map_err(|e| Error::io(self.dir.join(&stem), e))?;
        Ok(seg)
    }
}

fn corrupt(seg: &Segment, reason: String) -> Error {
    Error::CorruptMetadata {
        path: seg.log_path().to_path_buf(),
        reason: format!("cannot read records for compaction: {reason}"),
    }
}

/// Completes swaps whose `.log.swap` exists and discards the rest of an interrupted pass.
pub(crate) fn finish_interrupted_swaps(dir: &Path) -> Result<()> {
    let work = dir.join(CLEANING_DIR);
    if work.exists() {
        fs::remove_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    }
    let Ok(entries) = fs::read_dir(dir) else {
        return Ok(());
    };
    let mut swaps = Vec::new();
    for entry in entries.flatten() {
        if let Some(name) = entry.file_name().to_str()
            && let Some(stem) = name.strip_suffix(".swap")
        {
            swaps.push(stem.to_string());
        }
    }
    let committed: Vec<String> = swaps
        .iter()
        .filter_map(|s| s.strip_suffix(".log").map(str::to_string))
        .collect();
    // Index swaps first, the log swap last: until the log is renamed, a crash leaves the
    // `.log.swap` in place and the next open completes the rest.
    swaps.sort_by_key(|s| s.ends_with(".log"));
    for name in &swaps {
        let base = name.split('.').next().unwrap_or_default();
        let from = dir.join(format!("{name}.swap"));
        if committed.iter().any(|c| c == base) {
            let to = dir.join(name);
            fs::rename(&from, &to).map_err(|e| Error::io(&from, e))?;
        } else {
            fs::remove_file(&from).map_err(|e| Error::io(&from, e))?;
        }
    }
    io::sync_dir(dir).map_err(|e| Error::io(dir, e))
}
