//! Fail-stop after a storage error: a fault-injecting backend tears a log write after a byte
//! budget or fails an fsync. The failing append errors, every later append is refused with
//! `PartitionFailed`, and a reopen with the real backend recovers the intact prefix.

mod common;

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use kafka_protocol::records::Compression;
use weir_broker::io::{Backend, FileIo, StdBackend};
use weir_broker::{Broker, BrokerOptions, Error, PartitionLog, TopicConfig};

use common::{Lcg, as_stored, encode, open_log, rec, sample_batch, tp};

/// What the backend does to the next writes and syncs.
#[derive(Debug, Default)]
struct Faults {
    /// Bytes that `.log` writes may still write; `None` is unlimited. A write that does not
    /// fit writes the part that does and fails.
    log_write_budget: Option<u64>,
    /// Fail every fsync.
    fail_sync: bool,
    torn_writes: usize,
    failed_syncs: usize,
}

#[derive(Clone, Default)]
struct FaultBackend(Arc<Mutex<Faults>>);

impl FaultBackend {
    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.0.lock().expect("fault state lock")
    }
}

struct FaultFile {
    inner: Arc<dyn FileIo>,
    is_log: bool,
    faults: FaultBackend,
}

impl Backend for FaultBackend {
    fn open(&self, path: &Path) -> io::Result<Arc<dyn FileIo>> {
        Ok(Arc::new(FaultFile {
            inner: StdBackend.open(path)?,
            is_log: path.extension().is_some_and(|e| e == "log"),
            faults: self.clone(),
        }))
    }
}

impl FileIo for FaultFile {
    fn read_at(&self, buf: &mut [u8], pos: u64) -> io::Result<usize> {
        self.inner.read_at(buf, pos)
    }
    fn write_at(&self, buf: &[u8], pos: u64) -> io::Result<()> {
        if self.is_log {
            let mut f = self.faults.faults();
            if let Some(budget) = f.log_write_budget {
                if (buf.len() as u64) > budget {
                    f.log_write_budget = Some(0);
                    f.torn_writes += 1;
                    drop(f);
                    self.inner.write_at(&buf[..budget as usize], pos)?;
                    return Err(io::Error::other(
                        "injected: device full after a partial write",
                    ));
                }
                f.log_write_budget = Some(budget - buf.len() as u64);
            }
        }
        self.inner.write_at(buf, pos)
    }
    fn set_len(&self, len: u64) -> io::Result<()> {
        self.inner.set_len(len)
    }
    fn sync(&self) -> io::Result<()> {
        let mut f = self.faults.faults();
        if f.fail_sync {
            f.failed_syncs += 1;
            return Err(io::Error::other("injected: fsync failed"));
        }
        drop(f);
        self.inner.sync()
    }
    fn len(&self) -> io::Result<u64> {
        self.inner.len()
    }
}

fn config(flush_every_batch: bool) -> TopicConfig {
    TopicConfig {
        segment_bytes: 1000,
        index_interval_bytes: 100,
        flush_messages: if flush_every_batch { 1 } else { i64::MAX },
        ..TopicConfig::default()
    }
}

/// Appends `n` batches through `log`; returns each batch's stored bytes.
fn fill(log: &mut PartitionLog, rng: &mut Lcg, n: usize) -> Vec<bytes::Bytes> {
    (0..n)
        .map(|_| {
            let base = log.log_end();
            let n = 1 + rng.below(4) as usize;
            let records = sample_batch(rng, n, 1_000_000 + base);
            let bytes = encode(&records, Compression::None);
            log.append(&bytes, 1_000_000 + base)
                .expect("append before the fault");
            as_stored(&bytes, base)
        })
        .collect()
}

fn assert_refuses_appends(log: &mut PartitionLog) {
    let bytes = encode(
        &[rec(Some("k"), Some("refused"), 2_000_000)],
        Compression::None,
    );
    match log.append(&bytes, 2_000_000) {
        Err(Error::PartitionFailed { tp: failed, cause }) => {
            assert_eq!(failed, tp());
            assert!(
                cause.contains("injected"),
                "cause names the failure: {cause}"
            );
        }
        other => panic!("append after a storage failure must be refused, got {other:?}"),
    }
    assert!(matches!(log.roll(), Err(Error::PartitionFailed { .. })));
    assert!(log.failure().is_some());
}

/// Reopens with the real backend: exactly `want` is stored and appends continue after it.
fn assert_recovers(dir: &Path, cfg: TopicConfig, want: &[bytes::Bytes], crash: bool) {
    let mut log = open_log(dir, cfg);
    let end = want.last().map_or(0, |b| {
        weir_broker::batch::next_offset_after(b).expect("whole batch")
    });
    assert_eq!(log.log_end(), end, "recovered log end (crash: {crash})");
    assert_eq!(
        log.all_batches().expect("all batches"),
        want,
        "recovered batches"
    );
    assert!(
        log.failure().is_none(),
        "a reopened log accepts appends again"
    );
    let bytes = encode(
        &[rec(Some("k"), Some("after"), 3_000_000)],
        Compression::None,
    );
    let info = log
        .append(&bytes, 3_000_000)
        .expect("append after recovery");
    assert_eq!(info.base_offset, end);
    let data = log.read(end, 1 << 20).expect("read new batch");
    assert_eq!(data.records, as_stored(&bytes, end));
}

/// A log write is torn after `partial` bytes of batch number `good` (0-based).
fn torn_write_case(good: usize, partial: u64, crash: bool) {
    let dir = common::tempdir();
    let backend = FaultBackend::default();
    let mut log = PartitionLog::open(tp(), dir.path(), config(false), Arc::new(backend.clone()))
        .expect("open");
    let mut rng = Lcg(good as u64 * 31 + partial);
    let written = fill(&mut log, &mut rng, good);
    let segments_before = log.segment_count();

    let base = log.log_end();
    let records = sample_batch(&mut rng, 3, 1_000_000 + base);
    let bytes = encode(&records, Compression::None);
    assert!(partial < bytes.len() as u64);
    backend.faults().log_write_budget = Some(partial);
    let err = log
        .append(&bytes, 1_000_000 + base)
        .expect_err("torn write must fail");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_eq!(backend.faults().torn_writes, 1);
    assert_eq!(log.log_end(), base, "a failed append assigns no offsets");
    assert_refuses_appends(&mut log);
    // Reads of what was written before still work.
    if let Some(first) = written.first() {
        assert_eq!(&log.read(0, 0).expect("read").records, first);
    }
    let what = format!("good {good}, partial {partial}, segments {segments_before}");
    if crash {
        drop(log);
    } else {
        log.close().expect(&what);
    }
    assert_recovers(dir.path(), config(false), &written, crash);
}

#[test]
fn torn_write_fails_stop_and_recovers() {
    for good in [0, 1, 4, 9, 17] {
        for partial in [0, 1, 11, 12, 60, 61, 62, 80] {
            for crash in [true, false] {
                torn_write_case(good, partial, crash);
            }
        }
    }
}

/// The torn write is the first batch of a new segment (the append rolled first).
#[test]
fn torn_write_right_after_roll_recovers() {
    let dir = common::tempdir();
    let backend = FaultBackend::default();
    let mut log = PartitionLog::open(tp(), dir.path(), config(false), Arc::new(backend.clone()))
        .expect("open");
    let mut rng = Lcg(5);
    let written = fill(&mut log, &mut rng, 5);
    log.roll().expect("roll");
    let segments = log.segment_count();
    assert!(segments >= 2);
    backend.faults().log_write_budget = Some(30);
    let bytes = encode(&sample_batch(&mut rng, 2, 1_000_100), Compression::Gzip);
    let err = log
        .append(&bytes, 1_000_100)
        .expect_err("torn write must fail");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert_refuses_appends(&mut log);
    drop(log);
    assert_recovers(dir.path(), config(false), &written, true);
}

/// With `flush.messages=1`, a failed fsync fails the append and stops the partition. The
/// batch itself reached the file (one segment: no roll comes first), so recovery keeps it
/// (as Kafka would: an error is no promise that nothing was written).
#[test]
fn failed_fsync_fails_stop() {
    let dir = common::tempdir();
    let backend = FaultBackend::default();
    let cfg = TopicConfig {
        segment_bytes: 1 << 20,
        ..config(true)
    };
    let mut log =
        PartitionLog::open(tp(), dir.path(), cfg.clone(), Arc::new(backend.clone())).expect("open");
    let mut rng = Lcg(11);
    let mut written = fill(&mut log, &mut rng, 6);
    backend.faults().fail_sync = true;
    let base = log.log_end();
    let bytes = encode(
        &sample_batch(&mut rng, 2, 1_000_000 + base),
        Compression::None,
    );
    let err = log
        .append(&bytes, 1_000_000 + base)
        .expect_err("fsync failure must fail");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    assert!(backend.faults().failed_syncs >= 1);
    assert_refuses_appends(&mut log);
    // A checkpoint after the failure writes nothing and does not clear it.
    backend.faults().fail_sync = false;
    log.checkpoint()
        .expect("checkpoint of a failed log is a no-op");
    assert!(!dir.path().join("recovery-point").exists());
    assert_refuses_appends(&mut log);
    drop(log);
    written.push(as_stored(&bytes, base));
    assert_recovers(dir.path(), cfg, &written, true);
}

/// With the OS flush policy the first fsync is at a roll: it fails, the append that wanted
/// to roll writes nothing, and the partition stops.
#[test]
fn failed_fsync_during_roll_fails_stop() {
    let dir = common::tempdir();
    let backend = FaultBackend::default();
    let mut log = PartitionLog::open(tp(), dir.path(), config(false), Arc::new(backend.clone()))
        .expect("open");
    let mut written = Vec::new();
    // Fill the first segment until the next batch cannot fit.
    let big = "x".repeat(300);
    loop {
        let base = log.log_end();
        let bytes = encode(
            &[rec(Some("k"), Some(&big), 1_000_000 + base)],
            Compression::None,
        );
        let size: u64 = written.iter().map(|b: &bytes::Bytes| b.len() as u64).sum();
        if size + bytes.len() as u64 > 1000 {
            backend.faults().fail_sync = true;
            let err = log
                .append(&bytes, 1_000_000 + base)
                .expect_err("roll fsync fails");
            assert!(matches!(err, Error::Io { .. }), "{err:?}");
            assert_eq!(log.log_end(), base);
            break;
        }
        log.append(&bytes, 1_000_000 + base).expect("append");
        written.push(as_stored(&bytes, base));
    }
    assert_refuses_appends(&mut log);
    drop(log);
    assert_recovers(dir.path(), config(false), &written, true);
}

/// Through the broker: the failure shows in `describe_topic` and later appends are refused
/// with `PartitionFailed`, while other partitions keep working; a restart recovers.
#[test]
fn broker_partition_fails_stop_and_restart_recovers() {
    let dir = common::tempdir();
    let backend = FaultBackend::default();
    let mut options = BrokerOptions::new(dir.path());
    options.offsets_partitions = 1;
    options.backend = Arc::new(backend.clone());
    let broker = Broker::open(options).expect("open broker");
    broker
        .create_topic("orders", 2, Default::default())
        .expect("create topic");
    // Timestamps near the wall clock: older ones would roll a segment per batch (segment.ms).
    let records = [rec(Some("a"), Some("1"), common::wall_now())];
    broker
        .append_records("orders", 0, &records, Compression::None)
        .expect("append");
    backend.faults().log_write_budget = Some(20);
    let err = broker
        .append_records("orders", 0, &records, Compression::None)
        .expect_err("torn write");
    assert!(matches!(err, Error::Io { .. }), "{err:?}");
    backend.faults().log_write_budget = None;
    let err = broker
        .append_records("orders", 0, &records, Compression::None)
        .expect_err("refused");
    assert!(matches!(err, Error::PartitionFailed { .. }), "{err:?}");
    let desc = broker.describe_topic("orders").expect("describe");
    assert!(desc.partitions[0].failure.is_some());
    assert!(desc.partitions[1].failure.is_none());
    broker
        .append_records("orders", 1, &records, Compression::None)
        .expect("other partition still appends");
    broker.close().expect("close");

    let broker = Broker::open(BrokerOptions::new(dir.path())).expect("reopen broker");
    let desc = broker.describe_topic("orders").expect("describe");
    assert_eq!(desc.partitions[0].log_end, 1);
    assert!(desc.partitions[0].failure.is_none());
    let info = broker
        .append_records("orders", 0, &records, Compression::None)
        .expect("append after restart");
    assert_eq!(info.base_offset, 1);
    assert_eq!(
        common::decode(
            &broker
                .fetch("orders", 0, 0, 1 << 20)
                .expect("fetch")
                .records
        )
        .len(),
        2
    );
}
