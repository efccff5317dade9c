//! Shared helpers for the storage-engine integration tests: building batches, opening
//! partition logs in temp dirs, decoding what a read returns, and copying or damaging
//! partition directories to simulate crashes.

// Each test binary uses a different subset of these helpers.
#![allow(dead_code)]

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::records::Compression;
use weir_broker::batch::{self, BatchHeader, NewRecord};
use weir_broker::io::StdBackend;
use weir_broker::{PartitionLog, TopicConfig, TopicPartition};

/// A record as the tests compare it: offset, key, value, timestamp.
pub type Rec = (i64, Option<Bytes>, Option<Bytes>, i64);

pub fn tp() -> TopicPartition {
    TopicPartition::new("t", 0)
}

/// A delete-policy topic with small segments and a dense index.
pub fn small_config(segment_bytes: u64, index_interval_bytes: u64) -> TopicConfig {
    TopicConfig {
        segment_bytes,
        index_interval_bytes,
        ..TopicConfig::default()
    }
}

pub fn open_log(dir: &Path, config: TopicConfig) -> PartitionLog {
    PartitionLog::open(tp(), dir, config, Arc::new(StdBackend)).expect("open partition log")
}

/// Milliseconds since the epoch, for records appended through the broker (which rolls by
/// `segment.ms` against the wall clock).
pub fn wall_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_millis() as i64
}

pub fn bytes_of(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

pub fn rec(key: Option<&str>, value: Option<&str>, timestamp: i64) -> NewRecord {
    NewRecord {
        key: key.map(bytes_of),
        value: value.map(bytes_of),
        headers: vec![],
        timestamp,
    }
}

pub fn encode(records: &[NewRecord], compression: Compression) -> Bytes {
    batch::encode_batch(records, compression).expect("encode batch")
}

/// The bytes a batch is stored as: the producer's bytes with the base offset patched.
pub fn as_stored(encoded: &[u8], base_offset: i64) -> Bytes {
    let mut v = encoded.to_vec();
    batch::set_base_offset(&mut v, base_offset);
    Bytes::from(v)
}

/// Decodes a buffer of stored batches (CRC checked by the codec) into comparable records.
pub fn decode(bytes: &Bytes) -> Vec<Rec> {
    batch::decode_records(bytes.clone())
        .expect("stored batches decode")
        .into_iter()
        .map(|r| (r.offset, r.key, r.value, r.timestamp))
        .collect()
}

/// Splits a buffer of whole batches into `(header, bytes)` pairs.
pub fn split_batches(bytes: &Bytes) -> Vec<(BatchHeader, Bytes)> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < bytes.len() {
        let h = BatchHeader::parse(&bytes[pos..]).expect("whole batch header");
        h.check_framing(bytes.len() - pos).expect("whole batch");
        out.push((h, bytes.slice(pos..pos + h.total_len())));
        pos += h.total_len();
    }
    out
}

/// Base offsets of the segments in a partition directory, ascending.
pub fn segment_bases(dir: &Path) -> Vec<i64> {
    let mut bases: Vec<i64> = fs::read_dir(dir)
        .expect("list partition dir")
        .filter_map(|e| {
            let name = e.expect("dir entry").file_name();
            let name = name.to_str()?.to_string();
            let stem = name.strip_suffix(".log")?;
            (stem.len() == 20).then(|| stem.parse().ok())?
        })
        .collect();
    bases.sort_unstable();
    bases
}

pub fn seg_path(dir: &Path, base: i64, ext: &str) -> PathBuf {
    dir.join(format!("{base:020}.{ext}"))
}

/// A temp dir, on tmpfs where there is one: crashes here are simulated by cutting files,
/// never by losing power, so the many fsyncs of a recovery loop need not reach a disk.
pub fn tempdir() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    if shm.is_dir()
        && let Ok(dir) = tempfile::Builder::new().prefix("weir-test").tempdir_in(shm)
    {
        return dir;
    }
    tempfile::tempdir().expect("tempdir")
}

/// Copies the files of a partition directory (not subdirectories) into a new temp dir.
pub fn copy_dir(src: &Path) -> tempfile::TempDir {
    let dst = tempdir();
    for entry in fs::read_dir(src).expect("list source dir") {
        let entry = entry.expect("dir entry");
        if entry.file_type().expect("file type").is_file() {
            fs::copy(entry.path(), dst.path().join(entry.file_name())).expect("copy file");
        }
    }
    dst
}

/// Truncates a file to `len` bytes, as a crash that lost its tail would.
pub fn cut_file(path: &Path, len: u64) {
    let f = fs::OpenOptions::new()
        .write(true)
        .open(path)
        .expect("open file to cut");
    f.set_len(len).expect("cut file");
}

pub fn flip_bit(path: &Path, byte: usize, bit: u8) {
    let mut data = fs::read(path).expect("read file");
    data[byte] ^= 1 << bit;
    fs::write(path, data).expect("write flipped file");
}

/// Every record of the log, read the way a consumer does: from `from`, batch after batch,
/// continuing at the offset after the last whole batch returned.
pub fn consume_all(log: &PartitionLog, from: i64, max_bytes: usize) -> Vec<Rec> {
    let mut out = Vec::new();
    let mut offset = from;
    while offset < log.log_end() {
        let data = log.read(offset, max_bytes).expect("read");
        assert!(
            !data.records.is_empty(),
            "read at {offset} below log end {} returned nothing",
            log.log_end()
        );
        let next = batch::next_offset_after(&data.records).expect("whole batches");
        assert!(next > offset, "read at {offset} made no progress");
        out.extend(decode(&data.records).into_iter().filter(|r| r.0 >= offset));
        offset = next;
    }
    out
}

/// A small deterministic generator, so crash tests are reproducible without a seed file.
pub struct Lcg(pub u64);

impl Lcg {
    pub fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A batch of `n` records with keys `k<i>` and values of varying length.
pub fn sample_batch(rng: &mut Lcg, n: usize, timestamp: i64) -> Vec<NewRecord> {
    (0..n)
        .map(|_| {
            let key = format!("k{}", rng.below(20));
            let value = "v".repeat(1 + rng.below(40) as usize);
            rec(Some(&key), Some(&value), timestamp)
        })
        .collect()
}
