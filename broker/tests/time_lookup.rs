//! `list_offset`: Earliest, Latest, and by timestamp the first record (in offset order)
//! whose timestamp is at or after the target, across segments and after restarts.

mod common;

use kafka_protocol::records::Compression;
use proptest::prelude::*;
use weir_broker::{OffsetSpec, PartitionLog, TopicConfig};

use common::{Lcg, encode, open_log, rec};

const T0: i64 = 1_700_000_000_000;

fn config() -> TopicConfig {
    TopicConfig {
        segment_bytes: 400,
        index_interval_bytes: 50,
        ..TopicConfig::default()
    }
}

/// Appends one record per timestamp, in batches of 1-5; returns `(offset, timestamp)`s.
fn append_timestamps(log: &mut PartitionLog, stamps: &[i64], rng: &mut Lcg) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    let mut rest = stamps;
    while !rest.is_empty() {
        let n = (1 + rng.below(5) as usize).min(rest.len());
        let (now, later) = rest.split_at(n);
        let records: Vec<_> = now
            .iter()
            .map(|ts| rec(Some("k"), Some("some value bytes"), *ts))
            .collect();
        let compression = if rng.below(3) == 0 {
            Compression::Gzip
        } else {
            Compression::None
        };
        let max = now.iter().copied().max().unwrap_or(T0);
        let info = log
            .append(&encode(&records, compression), max)
            .expect("append");
        out.extend(
            now.iter()
                .enumerate()
                .map(|(i, ts)| (info.base_offset + i as i64, *ts)),
        );
        rest = later;
    }
    out
}

fn expected(records: &[(i64, i64)], target: i64) -> Option<(i64, i64)> {
    records.iter().find(|(_, ts)| *ts >= target).copied()
}

fn check_lookups(log: &PartitionLog, records: &[(i64, i64)], targets: &[i64], what: &str) {
    assert_eq!(
        log.list_offset(OffsetSpec::Earliest).expect("earliest"),
        Some((0, -1)),
        "{what}"
    );
    assert_eq!(
        log.list_offset(OffsetSpec::Latest).expect("latest"),
        Some((records.len() as i64, -1)),
        "{what}"
    );
    for t in targets {
        assert_eq!(
            log.list_offset(OffsetSpec::Timestamp(*t))
                .expect("time lookup"),
            expected(records, *t),
            "{what}: timestamp {t}"
        );
    }
}

#[test]
fn timestamp_lookup_finds_first_record_at_or_after() {
    let dir = common::tempdir();
    let mut log = open_log(dir.path(), config());
    let mut rng = Lcg(8);
    // Rising timestamps with repeats and gaps.
    let stamps: Vec<i64> = (0..200)
        .map(|i| T0 + (i / 2) * 10 + (i / 50) * 1000)
        .collect();
    let records = append_timestamps(&mut log, &stamps, &mut rng);
    assert!(log.segment_count() > 5);
    let last = *stamps.last().expect("stamps");
    let targets: Vec<i64> = (T0 - 20..=last + 20)
        .step_by(3)
        .chain([0, -1, last, last + 1])
        .collect();
    check_lookups(&log, &records, &targets, "live");
    assert_eq!(
        log.list_offset(OffsetSpec::Timestamp(last + 1))
            .expect("lookup"),
        None
    );
    log.close().expect("close");
    let log = open_log(dir.path(), config());
    check_lookups(&log, &records, &targets, "after restart");
    drop(log);
    let log = open_log(dir.path(), config());
    check_lookups(&log, &records, &targets, "after crash");
}

#[test]
fn empty_log_lookups() {
    let dir = common::tempdir();
    let log = open_log(dir.path(), config());
    assert_eq!(
        log.list_offset(OffsetSpec::Earliest).expect("earliest"),
        Some((0, -1))
    );
    assert_eq!(
        log.list_offset(OffsetSpec::Latest).expect("latest"),
        Some((0, -1))
    );
    assert_eq!(
        log.list_offset(OffsetSpec::Timestamp(0)).expect("lookup"),
        None
    );
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    /// Out-of-order timestamps: still the first record in offset order at or after the
    /// target, live and after a clean restart (where the time index is trusted).
    #[test]
    fn timestamp_lookup_with_unordered_timestamps(
        stamps in proptest::collection::vec(0i64..2_000, 1..150),
        targets in proptest::collection::vec(-10i64..2_100, 1..40),
        seed in any::<u64>(),
    ) {
        let stamps: Vec<i64> = stamps.into_iter().map(|s| T0 + s).collect();
        let targets: Vec<i64> = targets.into_iter().map(|t| T0 + t).collect();
        let dir = common::tempdir();
        let mut log = open_log(dir.path(), config());
        let records = append_timestamps(&mut log, &stamps, &mut Lcg(seed));
        check_lookups(&log, &records, &targets, "live");
        log.close().expect("close");
        let log = open_log(dir.path(), config());
        check_lookups(&log, &records, &targets, "after restart");
    }
}
