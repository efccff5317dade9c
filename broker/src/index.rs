//! Sparse offset and time indexes of one segment, in Kafka's file layouts.
//!
//! `.index`: 8-byte entries `(relative offset u32, byte position u32)`, big-endian.
//! `.timeindex`: 12-byte entries `(max timestamp i64, relative offset u32)`, big-endian.
//! Both are kept in memory and appended to their file; the log is the source of truth and
//! recovery rebuilds any entry that disagrees with it.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::io::{Backend, FileIo, read_exact_at};

/// An append-only file of fixed-size entries, mirrored in memory.
struct EntryFile<const W: usize> {
    file: Arc<dyn FileIo>,
    path: PathBuf,
    entries: Vec<[u8; W]>,
}

impl<const W: usize> EntryFile<W> {
    fn open(backend: &dyn Backend, path: &Path) -> io::Result<Self> {
        let file = backend.open(path)?;
        let len = file.len()? as usize;
        let count = len / W;
        let mut bytes = vec![0u8; count * W];
        read_exact_at(file.as_ref(), &mut bytes, 0)?;
        let entries = bytes
            .chunks_exact(W)
            .map(|c| {
                let mut e = [0u8; W];
                e.copy_from_slice(c);
                e
            })
            .collect();
        if !len.is_multiple_of(W) {
            // A torn trailing entry: drop it.
            file.set_len((count * W) as u64)?;
        }
        Ok(Self {
            file,
            path: path.to_path_buf(),
            entries,
        })
    }

    fn push(&mut self, e: [u8; W]) -> io::Result<()> {
        self.file.write_at(&e, (self.entries.len() * W) as u64)?;
        self.entries.push(e);
        Ok(())
    }

    fn truncate(&mut self, keep: usize) -> io::Result<()> {
        if keep < self.entries.len() {
            self.entries.truncate(keep);
            self.file.set_len((keep * W) as u64)?;
        }
        Ok(())
    }
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Maps relative offsets to byte positions in the segment's log file.
pub struct OffsetIndex(EntryFile<8>);

impl OffsetIndex {
    pub fn open(backend: &dyn Backend, path: &Path) -> io::Result<Self> {
        Ok(Self(EntryFile::open(backend, path)?))
    }
    pub fn path(&self) -> &Path {
        &self.0.path
    }
    pub fn len(&self) -> usize {
        self.0.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.entries.is_empty()
    }
    pub fn entry(&self, i: usize) -> (u32, u32) {
        let e = &self.0.entries[i];
        (u32_at(e, 0), u32_at(e, 4))
    }
    pub fn last(&self) -> Option<(u32, u32)> {
        (!self.is_empty()).then(|| self.entry(self.len() - 1))
    }
    pub fn append(&mut self, relative_offset: u32, position: u32) -> io::Result<()> {
        let mut e = [0u8; 8];
        e[..4].copy_from_slice(&relative_offset.to_be_bytes());
        e[4..].copy_from_slice(&position.to_be_bytes());
        self.0.push(e)
    }
    /// The entry with the largest relative offset `<= target`, or `(0, 0)`.
    pub fn lookup(&self, target: u32) -> (u32, u32) {
        let n = self.0.entries.partition_point(|e| u32_at(e, 0) <= target);
        if n == 0 { (0, 0) } else { self.entry(n - 1) }
    }
    /// Drops every entry pointing at or past byte `position`.
    pub fn truncate_to_position(&mut self, position: u32) -> io::Result<()> {
        let keep = self.0.entries.partition_point(|e| u32_at(e, 4) < position);
        self.0.truncate(keep)
    }
    /// Whether entries strictly increase and stay inside a log of `log_len` bytes.
    pub fn is_sane(&self, log_len: u64) -> bool {
        (0..self.len()).all(|i| {
            let (o, p) = self.entry(i);
            u64::from(p) < log_len.max(1)
                && (i == 0 || {
                    let (po, pp) = self.entry(i - 1);
                    po < o && pp < p
                })
        })
    }
    pub fn sync(&self) -> io::Result<()> {
        self.0.file.sync()
    }
}

/// Maps timestamps to the first relative offset whose batch reached them.
pub struct TimeIndex(EntryFile<12>);

impl TimeIndex {
    pub fn open(backend: &dyn Backend, path: &Path) -> io::Result<Self> {
        Ok(Self(EntryFile::open(backend, path)?))
    }
    pub fn path(&self) -> &Path {
        &self.0.path
    }
    pub fn len(&self) -> usize {
        self.0.entries.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.entries.is_empty()
    }
    pub fn entry(&self, i: usize) -> (i64, u32) {
        let e = &self.0.entries[i];
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&e[..8]);
        (i64::from_be_bytes(ts), u32_at(e, 8))
    }
    pub fn last(&self) -> Option<(i64, u32)> {
        (!self.is_empty()).then(|| self.entry(self.len() - 1))
    }
    /// Appends when `timestamp` is larger than the last entry's (entries stay monotonic).
    pub fn maybe_append(&mut self, timestamp: i64, relative_offset: u32) -> io::Result<()> {
        if self
            .last()
            .is_some_and(|(t, o)| t >= timestamp || o >= relative_offset)
        {
            return Ok(());
        }
        let mut e = [0u8; 12];
        e[..8].copy_from_slice(&timestamp.to_be_bytes());
        e[8..].copy_from_slice(&relative_offset.to_be_bytes());
        self.0.push(e)
    }
    /// The relative offset of the last entry with a timestamp `< target`: every batch before
    /// it has a smaller timestamp, so a search for `target` can start there.
    pub fn lookup_before(&self, target: i64) -> u32 {
        let n = self.0.entries.partition_point(|e| self_ts(e) < target);
        if n == 0 { 0 } else { self.entry(n - 1).1 }
    }
    /// Drops every entry at or past relative offset `relative_offset`.
    pub fn truncate_to_offset(&mut self, relative_offset: u32) -> io::Result<()> {
        let keep = self
            .0
            .entries
            .partition_point(|e| u32_at(e, 8) < relative_offset);
        self.0.truncate(keep)
    }
    pub fn sync(&self) -> io::Result<()> {
        self.0.file.sync()
    }
}

fn self_ts(e: &[u8; 12]) -> i64 {
    let mut ts = [0u8; 8];
    ts.copy_from_slice(&e[..8]);
    i64::from_be_bytes(ts)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::io::StdBackend;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn offset_lookup_matches_linear_scan(
            steps in proptest::collection::vec((1u32..50, 1u32..5000), 0..200),
            probes in proptest::collection::vec(0u32..20_000, 1..50),
        ) {
            let dir = tempfile::tempdir().expect("tempdir");
            let path = dir.path().join("0.index");
            let mut idx = OffsetIndex::open(&StdBackend, &path).expect("open");
            let (mut o, mut p) = (0u32, 0u32);
            let mut model = vec![];
            for (do_, dp) in steps {
                o += do_; p += dp;
                idx.append(o, p).expect("append");
                model.push((o, p));
            }
            let reopened = OffsetIndex::open(&StdBackend, &path).expect("reopen");
            for t in probes {
                let want = model.iter().rev().find(|(mo, _)| *mo <= t).copied().unwrap_or((0, 0));
                prop_assert_eq!(idx.lookup(t), want);
                prop_assert_eq!(reopened.lookup(t), want);
            }
            prop_assert!(reopened.is_sane(u64::from(p) + 1));
        }

        #[test]
        fn time_index_stays_monotonic(ts in proptest::collection::vec(0i64..1000, 1..100)) {
            let dir = tempfile::tempdir().expect("tempdir");
            let mut idx = TimeIndex::open(&StdBackend, &dir.path().join("0.timeindex")).expect("open");
            for (i, t) in ts.iter().enumerate() {
                idx.maybe_append(*t, i as u32 + 1).expect("append");
            }
            for i in 1..idx.len() {
                prop_assert!(idx.entry(i - 1).0 < idx.entry(i).0);
                prop_assert!(idx.entry(i - 1).1 < idx.entry(i).1);
            }
        }
    }

    #[test]
    fn torn_entry_is_dropped_on_open() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("0.index");
        let mut idx = OffsetIndex::open(&StdBackend, &path).expect("open");
        idx.append(1, 100).expect("append");
        idx.append(2, 200).expect("append");
        drop(idx);
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open(&path)
            .expect("open file");
        f.set_len(13).expect("cut");
        let idx = OffsetIndex::open(&StdBackend, &path).expect("reopen");
        assert_eq!(idx.len(), 1);
        assert_eq!(std::fs::metadata(&path).expect("stat").len(), 8);
    }
}
