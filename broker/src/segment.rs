//! One segment of a partition: `<base>.log` of RecordBatch v2 bytes plus its sparse
//! `.index` and `.timeindex` (see `docs/storage-format.md`).

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;

use crate::batch::{self, BatchHeader, HEADER_LEN};
use crate::index::{OffsetIndex, TimeIndex};
use crate::io::{Backend, FileIo, read_exact_at};

/// The file name stem of a segment: Kafka's 20-digit zero-padded base offset.
pub fn file_stem(base_offset: i64) -> String {
    format!("{base_offset:020}")
}

/// What recovery cut off the end of a segment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncation {
    /// Byte position where the log now ends.
    pub position: u64,
    /// The offset the next batch would have had.
    pub offset: i64,
    pub bytes_dropped: u64,
    pub reason: String,
}

pub struct Segment {
    base_offset: i64,
    log: Arc<dyn FileIo>,
    log_path: PathBuf,
    index: OffsetIndex,
    time_index: TimeIndex,
    size: u64,
    next_offset: i64,
    /// Largest batch max timestamp so far (-1 when empty).
    max_timestamp: i64,
    /// Max timestamp of the first batch.
    first_timestamp: Option<i64>,
    /// Wall-clock ms when this process first appended here (or, for a segment found on
    /// disk, its first batch's timestamp); `segment.ms` counts from it, so producer
    /// timestamps far in the past cannot make every append roll.
    roll_base_ms: Option<i64>,
    bytes_since_index: u64,
    index_interval: u64,
    contiguous: bool,
    /// Headers of idempotent batches verified by recovery, for the producer state.
    recovered: Vec<BatchHeader>,
}

impl Segment {
    /// Opens (or creates) the segment starting at `base_offset` in `dir` and verifies its
    /// tail: every batch at or after byte `verify_from` (and at least the batches after the
    /// last index entry) is checked for framing and CRC; a torn or corrupt tail is cut off.
    /// With `contiguous` (a segment never compacted) each batch must start exactly where the
    /// previous one ended: the base offset is outside the CRC, so this is what catches a
    /// corrupted one.
    pub fn open(
        backend: &dyn Backend,
        dir: &Path,
        base_offset: i64,
        index_interval: u64,
        verify_from: u64,
        contiguous: bool,
    ) -> io::Result<(Self, Option<Truncation>)> {
        let stem = file_stem(base_offset);
        let log_path = dir.join(format!("{stem}.log"));
        let log = backend.open(&log_path)?;
        let index = OffsetIndex::open(backend, &dir.join(format!("{stem}.index")))?;
        let time_index = TimeIndex::open(backend, &dir.join(format!("{stem}.timeindex")))?;
        let size = log.len()?;
        let mut seg = Self {
            base_offset,
            log,
            log_path,
            index,
            time_index,
            size,
            next_offset: base_offset,
            max_timestamp: -1,
            first_timestamp: None,
            roll_base_ms: None,
            bytes_since_index: 0,
            index_interval: index_interval.max(1),
            contiguous,
            recovered: Vec::new(),
        };
        if !seg.index.is_sane(size) {
            seg.index.truncate_to_position(0)?;
            seg.time_index.truncate_to_offset(0)?;
        }
        let truncation = seg.recover(verify_from)?;
        if seg.size > 0 {
            let mut head = [0u8; HEADER_LEN];
            read_exact_at(seg.log.as_ref(), &mut head, 0)?;
            seg.first_timestamp = BatchHeader::parse(&head).map(|h| h.max_timestamp);
            seg.roll_base_ms = seg.first_timestamp;
        }
        Ok((seg, truncation))
    }

    /// Re-verifies the log from the index entry before `from` and rebuilds the index entries
    /// after it. Stops at the first torn or corrupt batch and truncates the log there.
    fn recover(&mut self, from: u64) -> io::Result<Option<Truncation>> {
        self.recovered.clear();
        let log_len = self.log.len()?;
        self.index
            .truncate_to_position(from.min(log_len).min(u64::from(u32::MAX)) as u32)?;
        let (rel, start) = self.index.last().unwrap_or((0, 0));
        self.index.truncate_to_position(start)?;
        self.time_index.truncate_to_offset(rel + 1)?;
        self.max_timestamp = if start == 0 {
            self.time_index.truncate_to_offset(0)?;
            -1
        } else {
            self.time_index.last().map_or(-1, |(t, _)| t)
        };
        self.next_offset = self.base_offset + i64::from(rel);
        self.size = u64::from(start);
        self.bytes_since_index = if start == 0 { 0 } else { self.index_interval };

        let mut head = [0u8; HEADER_LEN];
        let mut pos = u64::from(start);
        let reason = loop {
            if pos == log_len {
                return Ok(None);
            }
            let avail = log_len - pos;
            if avail < HEADER_LEN as u64 {
                break format!("torn batch header ({avail} bytes)");
            }
            read_exact_at(self.log.as_ref(), &mut head, pos)?;
            let Some(h) = BatchHeader::parse(&head) else {
                break "unreadable batch header".to_string();
            };
            if let Err(r) = h.check_framing(avail.min(usize::MAX as u64) as usize) {
                break r;
            }
            if pos == u64::from(start) && start > 0 && h.base_offset != self.next_offset {
                break "index entry does not point at its batch".to_string();
            }
            if self.contiguous && h.base_offset != self.next_offset {
                break format!(
                    "batch base offset {} does not follow offset {}",
                    h.base_offset,
                    self.next_offset - 1
                );
            }
            if h.base_offset - self.base_offset > i64::from(u32::MAX) {
                break format!(
                    "batch base offset {} is beyond the reach of segment {}",
                    h.base_offset, self.base_offset
                );
            }
            if h.base_offset < self.next_offset {
                break format!(
                    "batch base offset {} goes back before {}",
                    h.base_offset, self.next_offset
                );
            }
            let mut whole = vec![0u8; h.total_len()];
            read_exact_at(self.log.as_ref(), &mut whole, pos)?;
            if !batch::crc_matches(&whole) {
                break "CRC-32C mismatch".to_string();
            }
            self.track_appended(&h, pos)?;
            if h.producer_id >= 0 {
                self.recovered.push(h);
            }
            pos += h.total_len() as u64;
        };
        if pos == u64::from(start) && start > 0 {
            // The batch an index entry points at is unreadable: distrust the index, not the
            // log, and verify the whole segment from its first byte.
            self.index.truncate_to_position(0)?;
            self.time_index.truncate_to_offset(0)?;
            return self.recover(0);
        }
        self.log.set_len(pos)?;
        self.size = pos;
        Ok(Some(Truncation {
            position: pos,
            offset: self.next_offset,
            bytes_dropped: log_len - pos,
            reason,
        }))
    }

    /// Updates sizes, offsets and index entries for a batch written at `pos`.
    fn track_appended(&mut self, h: &BatchHeader, pos: u64) -> io::Result<()> {
        self.max_timestamp = self.max_timestamp.max(h.max_timestamp);
        if self.first_timestamp.is_none() {
            self.first_timestamp = Some(h.max_timestamp);
        }
        if self.bytes_since_index >= self.index_interval && pos > 0 {
            let rel = self.relative(h.base_offset);
            self.index.append(rel, pos as u32)?;
            self.time_index.maybe_append(self.max_timestamp, rel)?;
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.total_len() as u64;
        self.size = pos + h.total_len() as u64;
        self.next_offset = h.next_offset();
        Ok(())
    }

    fn relative(&self, offset: i64) -> u32 {
        (offset - self.base_offset).clamp(0, i64::from(u32::MAX)) as u32
    }

    /// Appends one batch whose base offset is already set. On error the segment's in-memory
    /// state is unchanged but the file may hold a partial write: the caller must fail-stop.
    pub fn append(&mut self, batch: &[u8], h: &BatchHeader) -> io::Result<()> {
        self.append_parts(batch, &[], h)
    }

    /// Appends one batch given as its (patched) header and the rest of its bytes. Small
    /// batches are joined into one write; large ones are written in two, which avoids
    /// copying megabytes to change eight bytes.
    pub fn append_parts(&mut self, head: &[u8], rest: &[u8], h: &BatchHeader) -> io::Result<()> {
        const JOIN_BELOW: usize = 64 * 1024;
        let pos = self.size;
        if rest.is_empty() {
            self.log.write_at(head, pos)?;
        } else if head.len() + rest.len() < JOIN_BELOW {
            let mut joined = Vec::with_capacity(head.len() + rest.len());
            joined.extend_from_slice(head);
            joined.extend_from_slice(rest);
            self.log.write_at(&joined, pos)?;
        } else {
            self.log.write_at(head, pos)?;
            self.log.write_at(rest, pos + head.len() as u64)?;
        }
        self.track_appended(h, pos)
    }

    /// Whether a batch of `len` bytes ending at `last_offset` still fits this segment.
    pub fn fits(&self, len: u64, last_offset: i64, segment_bytes: u64) -> bool {
        self.size == 0
            || (self.size + len <= segment_bytes
                && self.size + len <= u64::from(u32::MAX)
                && last_offset - self.base_offset <= i64::from(u32::MAX))
    }

    /// Fsyncs the log file only: what a flush needs, since recovery re-verifies and rebuilds
    /// index entries past the recovery point.
    pub fn sync_log(&self) -> io::Result<()> {
        self.log.sync()
    }

    /// Fsyncs the log and both indexes (roll, checkpoint, compaction).
    pub fn sync(&self) -> io::Result<()> {
        self.log.sync()?;
        self.index.sync()?;
        self.time_index.sync()
    }

    /// Idempotent batches re-verified when the segment was opened (taken once).
    pub fn take_recovered(&mut self) -> Vec<BatchHeader> {
        std::mem::take(&mut self.recovered)
    }

    pub fn base_offset(&self) -> i64 {
        self.base_offset
    }
    pub fn next_offset(&self) -> i64 {
        self.next_offset
    }
    pub fn size(&self) -> u64 {
        self.size
    }
    pub fn max_timestamp(&self) -> i64 {
        self.max_timestamp
    }
    pub fn first_timestamp(&self) -> Option<i64> {
        self.first_timestamp
    }
    /// Since when `segment.ms` counts for this segment (ms), once it holds data.
    pub fn roll_base_ms(&self) -> Option<i64> {
        self.roll_base_ms
    }
    /// Starts the `segment.ms` clock at the first append of this process, if not running.
    pub fn start_roll_clock(&mut self, now_ms: i64) {
        self.roll_base_ms = Some(self.roll_base_ms.map_or(now_ms, |b| b.min(now_ms)));
    }
    /// The newest timestamp in the segment, or the log file's modification time when its
    /// batches carry none (-1): what retention by time compares.
    pub fn retention_timestamp(&self) -> i64 {
        if self.max_timestamp >= 0 {
            return self.max_timestamp;
        }
        std::fs::metadata(&self.log_path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(i64::MAX, |d| d.as_millis() as i64)
    }
    pub fn log_path(&self) -> &Path {
        &self.log_path
    }
    pub fn file(&self) -> Arc<dyn FileIo> {
        Arc::clone(&self.log)
    }
    pub fn paths(&self) -> [PathBuf; 3] {
        [
            self.log_path.clone(),
            self.index.path().to_path_buf(),
            self.time_index.path().to_path_buf(),
        ]
    }

    pub fn read_header(&self, pos: u64) -> io::Result<BatchHeader> {
        let mut head = [0u8; HEADER_LEN];
        read_exact_at(self.log.as_ref(), &mut head, pos)?;
        BatchHeader::parse(&head)
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short batch header"))
    }

    /// Byte position of the batch holding `offset` (or the first batch after it, where
    /// compaction removed it); `None` when the segment ends before `offset`.
    pub fn position_of(&self, offset: i64) -> io::Result<Option<u64>> {
        if offset >= self.next_offset {
            return Ok(None);
        }
        let (_, start) = self.index.lookup(self.relative(offset));
        let mut pos = u64::from(start);
        while pos < self.size {
            let h = self.read_header(pos)?;
            if h.last_offset() >= offset {
                return Ok(Some(pos));
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }

    /// Reads whole batches from `pos`: at least one, then as many as fit in `max_bytes`.
    pub fn read_batches(&self, pos: u64, max_bytes: usize) -> io::Result<Bytes> {
        if pos >= self.size {
            return Ok(Bytes::new());
        }
        let first = self.read_header(pos)?;
        let want = (max_bytes.max(first.total_len()) as u64).min(self.size - pos) as usize;
        let mut buf = vec![0u8; want];
        read_exact_at(self.log.as_ref(), &mut buf, pos)?;
        let mut end = 0;
        while let Some(h) = BatchHeader::parse(&buf[end..]) {
            if end + h.total_len() > buf.len() || h.batch_length < 0 {
                break;
            }
            end += h.total_len();
        }
        buf.truncate(end);
        Ok(Bytes::from(buf))
    }

    /// Every batch of the segment, in order (compaction and tests).
    pub fn batches(&self) -> io::Result<Vec<Bytes>> {
        let mut out = Vec::new();
        let mut pos = 0;
        while pos < self.size {
            let h = self.read_header(pos)?;
            let mut whole = vec![0u8; h.total_len()];
            read_exact_at(self.log.as_ref(), &mut whole, pos)?;
            out.push(Bytes::from(whole));
            pos += h.total_len() as u64;
        }
        Ok(out)
    }

    /// The first record with a timestamp `>= target`, as `(offset, timestamp)`.
    pub fn find_by_timestamp(&self, target: i64) -> io::Result<Option<(i64, i64)>> {
        if self.max_timestamp < target {
            return Ok(None);
        }
        let rel = self.time_index.lookup_before(target);
        let mut pos = self
            .position_of(self.base_offset + i64::from(rel))?
            .unwrap_or(self.size);
        while pos < self.size {
            let h = self.read_header(pos)?;
            if h.max_timestamp >= target {
                let whole = self.read_batches(pos, h.total_len())?;
                let records = batch::raw_records(&whole)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                for r in records {
                    let ts = h.base_timestamp + r.timestamp_delta;
                    if ts >= target {
                        return Ok(Some((h.base_offset + i64::from(r.offset_delta), ts)));
                    }
                }
            }
            pos += h.total_len() as u64;
        }
        Ok(None)
    }
}
