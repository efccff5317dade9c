//! Retention: `retention.bytes` and `retention.ms` delete whole segments from the oldest,
//! never the active one (unless all of its data expired, then it is rolled first).

mod common;

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;
use kafka_protocol::records::Compression;
use weir_broker::{Broker, BrokerOptions, Error, OffsetSpec, PartitionLog, TopicConfig};

use common::{Lcg, as_stored, encode, open_log, rec, sample_batch, seg_path, segment_bases};

const NOW: i64 = 1_700_000_000_000;

fn config() -> TopicConfig {
    TopicConfig {
        segment_bytes: 500,
        index_interval_bytes: 100,
        ..TopicConfig::default()
    }
}

/// Appends `n` batches stamped `ts`; returns (base offset, stored bytes) of each.
fn append_batches(log: &mut PartitionLog, rng: &mut Lcg, n: usize, ts: i64) -> Vec<(i64, Bytes)> {
    (0..n)
        .map(|_| {
            let base = log.log_end();
            let k = 1 + rng.below(4) as usize;
            let bytes = encode(&sample_batch(rng, k, ts), Compression::None);
            log.append(&bytes, NOW).expect("append");
            (base, as_stored(&bytes, base))
        })
        .collect()
}

fn seg_sizes(dir: &Path) -> Vec<(i64, u64)> {
    segment_bases(dir)
        .into_iter()
        .map(|b| {
            let len = std::fs::metadata(seg_path(dir, b, "log"))
                .expect("stat segment")
                .len();
            (b, len)
        })
        .collect()
}

/// Checks that the log starts at `start`, that reads below it are out of range and reads
/// from it return the stored batches from there on.
fn check_starts_at(log: &PartitionLog, start: i64, batches: &[(i64, Bytes)], what: &str) {
    assert_eq!(log.log_start(), start, "{what}: log start");
    assert_eq!(
        log.list_offset(OffsetSpec::Earliest).expect("earliest"),
        Some((start, -1)),
        "{what}: earliest"
    );
    if start > 0 {
        match log.read(start - 1, 1 << 20) {
            Err(Error::OffsetOutOfRange {
                offset, log_start, ..
            }) => assert_eq!((offset, log_start), (start - 1, start), "{what}"),
            other => panic!("{what}: read below the log start gave {other:?}"),
        }
        assert!(
            matches!(log.read(0, 1), Err(Error::OffsetOutOfRange { .. })),
            "{what}: offset 0 is gone"
        );
    }
    let kept: Vec<Bytes> = batches
        .iter()
        .filter(|(b, _)| *b >= start)
        .map(|(_, s)| s.clone())
        .collect();
    assert_eq!(
        log.all_batches().expect("all batches"),
        kept,
        "{what}: kept batches"
    );
    if let Some(first) = kept.first() {
        assert_eq!(
            &log.read(start, 1).expect("read log start").records,
            first,
            "{what}"
        );
    }
}

#[test]
fn retention_bytes_deletes_oldest_whole_segments_but_never_the_active_one() {
    for retention in [0i64, 1, 499, 500, 1500, 2600, 4000, 100_000] {
        let dir = common::tempdir();
        let mut log = open_log(dir.path(), config());
        let mut rng = Lcg(retention as u64);
        let batches = append_batches(&mut log, &mut rng, 40, NOW - 10);
        let sizes = seg_sizes(dir.path());
        assert!(sizes.len() >= 5, "several segments: {sizes:?}");
        let end = log.log_end();

        // Kafka's rule: delete the oldest closed segment while what remains without it is
        // still at least retention.bytes.
        let mut total: u64 = sizes.iter().map(|(_, s)| s).sum();
        let mut doomed = 0;
        for (_, size) in &sizes[..sizes.len() - 1] {
            if total - size < retention as u64 {
                break;
            }
            total -= size;
            doomed += 1;
        }
        let start = sizes[doomed].0;

        log.set_config(TopicConfig {
            retention_bytes: retention,
            ..config()
        });
        let deleted = log.enforce_retention(NOW).expect("retention");
        let what = format!("retention.bytes={retention}");
        assert_eq!(deleted, doomed, "{what}: segments deleted");
        assert_eq!(
            segment_bases(dir.path()),
            sizes[doomed..].iter().map(|(b, _)| *b).collect::<Vec<_>>(),
            "{what}"
        );
        assert_eq!(log.log_end(), end, "{what}: log end unchanged");
        assert_eq!(log.size_bytes(), total, "{what}: size");
        check_starts_at(&log, start, &batches, &what);
        // Idempotent.
        assert_eq!(log.enforce_retention(NOW).expect("retention"), 0, "{what}");

        log.close().expect("close");
        let log = open_log(dir.path(), config());
        check_starts_at(&log, start, &batches, &format!("{what}, after restart"));
        assert_eq!(log.log_end(), end);
        drop(log);
        let mut log = open_log(dir.path(), config());
        check_starts_at(&log, start, &batches, &format!("{what}, after crash"));
        let info = log
            .append(
                &encode(&[rec(Some("k"), Some("v"), NOW)], Compression::None),
                NOW,
            )
            .expect("append");
        assert_eq!(info.base_offset, end);
    }
}

/// Builds three segments: old data, newer data, and an active segment of the newest.
fn three_generations(dir: &Path, rng: &mut Lcg) -> (PartitionLog, Vec<(i64, Bytes)>, Vec<i64>) {
    let cfg = TopicConfig {
        segment_bytes: 1 << 20,
        retention_ms: 5_000,
        ..config()
    };
    let mut log = open_log(dir, cfg);
    let mut batches = append_batches(&mut log, rng, 5, NOW - 60_000);
    log.roll().expect("roll");
    batches.extend(append_batches(&mut log, rng, 5, NOW - 30_000));
    log.roll().expect("roll");
    batches.extend(append_batches(&mut log, rng, 5, NOW - 1_000));
    let bases = segment_bases(dir);
    assert_eq!(bases.len(), 3);
    (log, batches, bases)
}

#[test]
fn retention_ms_uses_record_timestamps() {
    for restart in [None, Some(true), Some(false)] {
        let dir = common::tempdir();
        let mut rng = Lcg(1);
        let (mut log, batches, bases) = three_generations(dir.path(), &mut rng);
        let cfg = log.config().clone();
        match restart {
            Some(true) => {
                log.close().expect("close");
                log = open_log(dir.path(), cfg.clone());
            }
            Some(false) => {
                drop(log);
                log = open_log(dir.path(), cfg.clone());
            }
            None => {}
        }
        let what = format!("restart {restart:?}");
        let end = log.log_end();
        // At NOW - 70s nothing is older than retention.ms (5 s).
        assert_eq!(
            log.enforce_retention(NOW - 70_000).expect("retention"),
            0,
            "{what}"
        );
        // At NOW - 40s the first segment (newest record NOW - 60s) expired, not the second.
        assert_eq!(
            log.enforce_retention(NOW - 40_000).expect("retention"),
            1,
            "{what}"
        );
        check_starts_at(&log, bases[1], &batches, &what);
        // The second expired too, the active one not yet.
        assert_eq!(log.enforce_retention(NOW).expect("retention"), 1, "{what}");
        check_starts_at(&log, bases[2], &batches, &what);
        assert_eq!(log.log_end(), end);

        // Everything expired: the active segment is rolled and deleted, the log end stays.
        assert_eq!(
            log.enforce_retention(NOW + 10_000).expect("retention"),
            1,
            "{what}"
        );
        assert_eq!(log.log_end(), end, "{what}: log end unchanged");
        assert_eq!(log.log_start(), end, "{what}: empty log starts at its end");
        assert_eq!(log.segment_count(), 1, "{what}: one empty active segment");
        assert_eq!(segment_bases(dir.path()), vec![end], "{what}");
        assert!(
            log.read(end, 1 << 20)
                .expect("read at end")
                .records
                .is_empty()
        );
        assert!(matches!(
            log.read(end - 1, 1),
            Err(Error::OffsetOutOfRange { .. })
        ));
        assert_eq!(
            log.list_offset(OffsetSpec::Timestamp(0)).expect("lookup"),
            None
        );
        assert_eq!(
            log.enforce_retention(NOW + 10_000).expect("retention"),
            0,
            "{what}"
        );

        // Restarts keep the empty log's start, and appends continue at the old end.
        log.close().expect("close");
        let mut log = open_log(dir.path(), cfg.clone());
        assert_eq!(
            (log.log_start(), log.log_end()),
            (end, end),
            "{what}: after restart"
        );
        let bytes = encode(
            &[rec(Some("k"), Some("new"), NOW + 10_000)],
            Compression::None,
        );
        let info = log.append(&bytes, NOW + 10_000).expect("append");
        assert_eq!(info.base_offset, end);
        drop(log);
        let log = open_log(dir.path(), cfg);
        assert_eq!(
            (log.log_start(), log.log_end()),
            (end, end + 1),
            "{what}: after crash"
        );
        assert_eq!(
            log.read(end, 0).expect("read").records,
            as_stored(&bytes, end)
        );
    }
}

/// A segment that is still young stops retention, even if an older-numbered one behind it
/// would have expired (segments go strictly from the oldest).
#[test]
fn retention_ms_stops_at_the_first_unexpired_segment() {
    let dir = common::tempdir();
    let mut rng = Lcg(2);
    let mut log = open_log(
        dir.path(),
        TopicConfig {
            retention_ms: 5_000,
            segment_bytes: 1 << 20,
            ..config()
        },
    );
    let mut batches = append_batches(&mut log, &mut rng, 3, NOW - 1_000);
    log.roll().expect("roll");
    batches.extend(append_batches(&mut log, &mut rng, 3, NOW - 60_000));
    log.roll().expect("roll");
    batches.extend(append_batches(&mut log, &mut rng, 3, NOW - 1_000));
    assert_eq!(log.enforce_retention(NOW).expect("retention"), 0);
    check_starts_at(&log, 0, &batches, "young first segment");
}

#[test]
fn no_retention_without_delete_policy_or_limits() {
    let dir = common::tempdir();
    let mut rng = Lcg(3);
    let mut log = open_log(dir.path(), config());
    let batches = append_batches(&mut log, &mut rng, 30, NOW - 1_000_000_000);
    let segments = log.segment_count();
    for cfg in [
        TopicConfig {
            compact: true,
            delete: false,
            retention_bytes: 0,
            retention_ms: 0,
            ..config()
        },
        TopicConfig {
            retention_bytes: -1,
            retention_ms: -1,
            ..config()
        },
    ] {
        log.set_config(cfg);
        assert_eq!(log.enforce_retention(NOW).expect("retention"), 0);
        assert_eq!(log.segment_count(), segments);
        check_starts_at(&log, 0, &batches, "no retention");
    }
}

/// Through the broker: `run_cleanup` applies a topic's retention override, and the new log
/// start survives a restart.
#[test]
fn broker_cleanup_applies_retention_and_it_persists() {
    let dir = common::tempdir();
    let mut options = BrokerOptions::new(dir.path());
    options.offsets_partitions = 1;
    let broker = Broker::open(options.clone()).expect("open broker");
    let mut overrides = BTreeMap::new();
    overrides.insert("segment.bytes".to_string(), "300".to_string());
    overrides.insert("retention.bytes".to_string(), "0".to_string());
    broker
        .create_topic("events", 1, overrides)
        .expect("create topic");
    let now = common::wall_now();
    let value = "x".repeat(100);
    for _ in 0..10 {
        broker
            .append_records(
                "events",
                0,
                &[rec(Some("k"), Some(&value), now)],
                Compression::None,
            )
            .expect("append");
    }
    let before = broker
        .describe_topic("events")
        .expect("describe")
        .partitions[0]
        .clone();
    assert!(before.segments > 2);
    let (deleted, _) = broker.run_cleanup(now).expect("cleanup");
    assert_eq!(deleted, before.segments - 1);
    let after = broker
        .describe_topic("events")
        .expect("describe")
        .partitions[0]
        .clone();
    assert_eq!(after.segments, 1);
    assert!(after.log_start > 0);
    assert_eq!(after.log_end, 10);
    assert!(matches!(
        broker.fetch("events", 0, 0, 1),
        Err(Error::OffsetOutOfRange { .. })
    ));
    broker.close().expect("close");
    let broker = Broker::open(options).expect("reopen broker");
    let again = broker
        .describe_topic("events")
        .expect("describe")
        .partitions[0]
        .clone();
    assert_eq!((again.log_start, again.log_end), (after.log_start, 10));
}
