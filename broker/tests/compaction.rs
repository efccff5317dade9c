//! Log compaction (`cleanup.policy=compact`): only the newest record of every key stays in
//! closed segments, at its original offset; tombstones stay for `delete.retention.ms`; the
//! result reads back from offset 0 and survives restarts; an interrupted swap is finished or
//! rolled back on open.

mod common;

use std::path::Path;

use bytes::Bytes;
use kafka_protocol::records::Compression;
use weir_broker::{PartitionLog, TopicConfig};

use common::{
    Lcg, Rec, bytes_of, consume_all, copy_dir, decode, encode, open_log, rec, seg_path,
    segment_bases, split_batches,
};

/// Record timestamps start here and rise by 10 ms per offset.
const T0: i64 = 1_700_000_000_000;
const DELETE_RETENTION: i64 = 1_000;

fn config() -> TopicConfig {
    TopicConfig {
        compact: true,
        delete: false,
        segment_bytes: 400,
        index_interval_bytes: 64,
        delete_retention_ms: DELETE_RETENTION,
        min_compaction_lag_ms: 0,
        ..TopicConfig::default()
    }
}

/// Writes a keyed workload: a unique first key, an early tombstone, then keys `k0..k7` with several versions
/// each and some tombstones, in batches of 1-4 records. Returns every record as written.
fn write_workload(log: &mut PartitionLog, compression: Compression, batches: usize) -> Vec<Rec> {
    let mut rng = Lcg(41);
    let mut all = Vec::new();
    for i in 0..batches {
        let base = log.log_end();
        let n = 1 + rng.below(4) as usize;
        let records: Vec<_> = (0..n)
            .map(|j| {
                let offset = base + j as i64;
                let ts = T0 + offset * 10;
                if i == 0 && j == 0 {
                    return rec(Some("first"), Some("only version"), ts);
                }
                if i == 1 && j == 0 {
                    // Deleted early and never written again: an old tombstone.
                    return rec(Some("dead"), None, ts);
                }
                let key = format!("k{}", rng.below(8));
                let value = (rng.below(5) != 0).then(|| format!("{key}@{offset}"));
                rec(Some(&key), value.as_deref(), ts)
            })
            .collect();
        let bytes = encode(&records, compression);
        let info = log.append(&bytes, T0 + base * 10).expect("append");
        for (j, r) in records.into_iter().enumerate() {
            all.push((info.base_offset + j as i64, r.key, r.value, r.timestamp));
        }
    }
    all
}

/// What compaction at `now` must leave: every record of the active segment (offsets from
/// `active_base`), and in closed segments the newest record of each key, tombstones only
/// while younger than `delete.retention.ms`.
fn expected_after(all: &[Rec], active_base: i64, now: i64) -> Vec<Rec> {
    let newest = |r: &Rec| !all.iter().any(|o| o.1 == r.1 && o.0 > r.0);
    all.iter()
        .filter(|r| {
            r.0 >= active_base || (newest(r) && (r.2.is_some() || r.3 > now - DELETE_RETENTION))
        })
        .cloned()
        .collect()
}

/// Reads the whole log from every `step`-th offset and compares with `want`.
fn check_content(log: &PartitionLog, want: &[Rec], end: i64, what: &str) {
    assert_eq!(log.log_end(), end, "{what}: log end");
    assert_eq!(log.log_start(), 0, "{what}: log start");
    assert_eq!(
        consume_all(log, 0, 1 << 20),
        want,
        "{what}: read from offset 0"
    );
    assert_eq!(consume_all(log, 0, 0), want, "{what}: read batch by batch");
    for from in (0..end).step_by(5) {
        let tail: Vec<Rec> = want.iter().filter(|r| r.0 >= from).cloned().collect();
        assert_eq!(
            consume_all(log, from, 200),
            tail,
            "{what}: read from {from}"
        );
    }
    let stored: Vec<Rec> = log
        .all_batches()
        .expect("all batches")
        .iter()
        .flat_map(decode)
        .collect();
    assert_eq!(stored, want, "{what}: stored records");
}

fn compaction_round_trip(compression: Compression) {
    let dir = common::tempdir();
    let mut log = open_log(dir.path(), config());
    let all = write_workload(&mut log, compression, 60);
    log.roll().expect("roll");
    let end = log.log_end();
    assert!(log.segment_count() > 4, "several closed segments");
    let tombstones = all.iter().filter(|r| r.2.is_none()).count();
    assert!(tombstones > 3, "the workload has tombstones");
    let what = format!("{compression:?}");

    // Tombstones younger than delete.retention.ms stay, older ones go.
    let now = T0 + end * 10;
    let want = expected_after(&all, end, now);
    assert!(
        want.iter().any(|r| r.2.is_none()),
        "{what}: some tombstones are young"
    );
    assert!(
        expected_after(&all, end, T0) != want,
        "{what}: and some are old enough to go"
    );
    let stats = log.compact(now).expect("compact");
    assert_eq!(
        stats.records_removed,
        all.len() - want.len(),
        "{what}: removed"
    );
    assert!(stats.segments_rewritten > 0, "{what}: {stats:?}");
    check_content(&log, &want, end, &format!("{what}, compacted"));
    // Rewritten batches keep the producer's codec.
    for b in log.all_batches().expect("all batches") {
        let h = weir_broker::batch::BatchHeader::parse(&b).expect("header");
        assert_eq!(
            h.compression_code(),
            compression as i16,
            "{what}: codec kept"
        );
    }
    // Compacting again at the same time changes nothing.
    assert_eq!(log.compact(now).expect("compact").records_removed, 0);
    check_content(&log, &want, end, &format!("{what}, compacted twice"));

    // Later, every tombstone is past delete.retention.ms and goes too, even though nothing
    // was appended in between.
    let later = now + 2 * DELETE_RETENTION;
    let want = expected_after(&all, end, later);
    assert!(
        want.iter().all(|r| r.2.is_some()),
        "{what}: no tombstone left"
    );
    let stats = log.compact(later).expect("compact later");
    assert!(
        stats.records_removed > 0,
        "{what}: old tombstones removed: {stats:?}"
    );
    check_content(&log, &want, end, &format!("{what}, tombstones expired"));

    log.close().expect("close");
    let log = open_log(dir.path(), config());
    check_content(&log, &want, end, &format!("{what}, after restart"));
    drop(log);
    let mut log = open_log(dir.path(), config());
    check_content(&log, &want, end, &format!("{what}, after crash"));

    // New versions written after compaction supersede the kept ones at the next pass.
    let bytes = encode(
        &[
            rec(Some("first"), Some("second version"), later),
            rec(Some("k1"), None, later),
        ],
        compression,
    );
    log.append(&bytes, later).expect("append");
    log.roll().expect("roll");
    let mut all_now: Vec<Rec> = want.clone();
    all_now.push((
        end,
        Some(bytes_of("first")),
        Some(bytes_of("second version")),
        later,
    ));
    all_now.push((end + 1, Some(bytes_of("k1")), None, later));
    let want = expected_after(&all_now, end + 2, later);
    assert!(
        want.iter()
            .all(|r| r.1 != Some(bytes_of("first")) || r.0 == end)
    );
    log.compact(later).expect("compact");
    let got: Vec<Rec> = consume_all(&log, log.log_start(), 1 << 20);
    assert_eq!(got, want, "{what}: after superseding versions");
}

#[test]
fn compaction_keeps_newest_per_key_uncompressed() {
    compaction_round_trip(Compression::None);
}

#[test]
fn compaction_keeps_newest_per_key_gzip() {
    compaction_round_trip(Compression::Gzip);
}

#[test]
fn compaction_keeps_newest_per_key_zstd() {
    compaction_round_trip(Compression::Zstd);
}

/// A segment younger than `min.compaction.lag.ms` is left alone, and compacted at a later
/// pass once it is old enough, even if nothing new was appended.
#[test]
fn min_compaction_lag_defers_and_a_later_pass_catches_up() {
    let dir = common::tempdir();
    let cfg = TopicConfig {
        min_compaction_lag_ms: 60_000,
        ..config()
    };
    let mut log = open_log(dir.path(), cfg);
    let all = write_workload(&mut log, Compression::None, 30);
    log.roll().expect("roll");
    let end = log.log_end();
    let newest_ts = all.last().expect("records").3;
    let stats = log.compact(newest_ts + 1).expect("compact");
    assert_eq!(stats.records_removed, 0, "nothing is old enough yet");
    check_content(&log, &all, end, "too young");
    let later = newest_ts + 60_000;
    let stats = log.compact(later).expect("compact");
    let want = expected_after(&all, end, later);
    assert_eq!(stats.records_removed, all.len() - want.len());
    check_content(&log, &want, end, "old enough");
}

/// The active segment is never compacted, and a non-compacted topic is never touched.
#[test]
fn active_segment_and_delete_topics_are_left_alone() {
    let dir = common::tempdir();
    let mut log = open_log(
        dir.path(),
        TopicConfig {
            segment_bytes: 1 << 20,
            ..config()
        },
    );
    let all = write_workload(&mut log, Compression::None, 20);
    let end = log.log_end();
    assert_eq!(log.segment_count(), 1);
    assert_eq!(
        log.compact(T0 + 1_000_000)
            .expect("compact")
            .records_removed,
        0
    );
    check_content(&log, &all, end, "active only");

    let dir = common::tempdir();
    let mut log = open_log(
        dir.path(),
        TopicConfig {
            compact: false,
            delete: true,
            ..config()
        },
    );
    let all = write_workload(&mut log, Compression::None, 40);
    log.roll().expect("roll");
    let end = log.log_end();
    assert_eq!(
        log.compact(T0 + 1_000_000)
            .expect("compact")
            .records_removed,
        0
    );
    check_content(&log, &all, end, "delete policy");
}

/// A closed segment whose every record is superseded disappears; reads step over the gap.
#[test]
fn fully_superseded_segment_is_deleted_and_reads_skip_the_gap() {
    let dir = common::tempdir();
    let mut log = open_log(dir.path(), config());
    let mut all: Vec<Rec> = Vec::new();
    let mut put = |log: &mut PartitionLog, key: &str, value: &str| {
        let offset = log.log_end();
        let ts = T0 + offset * 10;
        let r = rec(Some(key), Some(value), ts);
        log.append(&encode(std::slice::from_ref(&r), Compression::None), ts)
            .expect("append");
        all.push((offset, r.key, r.value, ts));
    };
    put(&mut log, "keep", "forever");
    log.roll().expect("roll");
    for i in 0..5 {
        put(&mut log, &format!("gone{i}"), "old");
    }
    log.roll().expect("roll");
    for i in 0..5 {
        put(&mut log, &format!("gone{i}"), "new");
    }
    log.roll().expect("roll");
    let end = log.log_end();
    let bases = segment_bases(dir.path());
    assert_eq!(bases, vec![0, 1, 6, 11]);
    let stats = log.compact(T0 + 10_000).expect("compact");
    assert_eq!(stats.segments_deleted, 1);
    assert_eq!(stats.records_removed, 5);
    assert_eq!(segment_bases(dir.path()), vec![0, 6, 11]);
    let want = expected_after(&all, end, T0 + 10_000);
    check_content(&log, &want, end, "gap");
    // A read inside the gap returns the first batch after it.
    let data = log.read(3, 1).expect("read in gap");
    assert_eq!(decode(&data.records)[0].0, 6);
    log.close().expect("close");
    check_content(
        &open_log(dir.path(), config()),
        &want,
        end,
        "gap after restart",
    );
}

/// A compacted-topic partition, cleanly closed, and a copy of it that was compacted.
struct Before {
    raw: tempfile::TempDir,
    compacted: tempfile::TempDir,
    end: i64,
    /// A segment the compaction rewrote (not deleted).
    rewritten: i64,
}

fn before_and_after() -> Before {
    let raw = common::tempdir();
    let mut log = open_log(raw.path(), config());
    write_workload(&mut log, Compression::None, 60);
    log.roll().expect("roll");
    let end = log.log_end();
    log.close().expect("close");
    let compacted = copy_dir(raw.path());
    let mut log = open_log(compacted.path(), config());
    log.compact(T0 + end * 10).expect("compact");
    log.close().expect("close");
    let size = |dir: &Path, b: i64| std::fs::metadata(seg_path(dir, b, "log")).map(|m| m.len());
    let rewritten = segment_bases(compacted.path())
        .into_iter()
        .find(|b| size(compacted.path(), *b).ok() < size(raw.path(), *b).ok())
        .expect("a rewritten segment");
    Before {
        raw,
        compacted,
        end,
        rewritten,
    }
}

fn segment_records(dir: &Path, base: i64) -> Vec<Rec> {
    let bytes = Bytes::from(std::fs::read(seg_path(dir, base, "log")).expect("read segment"));
    split_batches(&bytes)
        .iter()
        .flat_map(|(_, b)| decode(b))
        .collect()
}

fn all_records(dir: &Path) -> Vec<Rec> {
    segment_bases(dir)
        .into_iter()
        .flat_map(|b| segment_records(dir, b))
        .collect()
}

/// Stray index swaps without a `.log.swap` (the crash came before the commit point) and a
/// leftover `.cleaning/` directory are discarded on open; the old segment stays.
#[test]
fn interrupted_swap_before_commit_is_rolled_back() {
    let b = before_and_after();
    let want = all_records(b.raw.path());
    let stem = format!("{:020}", b.rewritten);
    for swaps in [&["index"][..], &["index", "timeindex"][..]] {
        let dir = copy_dir(b.raw.path());
        for ext in swaps {
            std::fs::copy(
                seg_path(b.compacted.path(), b.rewritten, ext),
                dir.path().join(format!("{stem}.{ext}.swap")),
            )
            .expect("plant swap file");
        }
        let cleaning = dir.path().join(".cleaning");
        std::fs::create_dir_all(&cleaning).expect("mkdir .cleaning");
        std::fs::copy(
            seg_path(b.compacted.path(), b.rewritten, "log"),
            cleaning.join(format!("{stem}.log")),
        )
        .expect("plant cleaning file");
        let log = open_log(dir.path(), config());
        let what = format!("swaps {swaps:?}");
        assert!(!cleaning.exists(), "{what}: .cleaning removed");
        for ext in swaps {
            assert!(
                !dir.path().join(format!("{stem}.{ext}.swap")).exists(),
                "{what}: stray {ext}.swap removed"
            );
        }
        check_content(&log, &want, b.end, &what);
    }
}

/// A crash after the `.log.swap` rename (the commit point), at any step of finishing the
/// swap: the open completes it and the segment holds the compacted content.
#[test]
fn interrupted_swap_after_commit_is_completed() {
    let b = before_and_after();
    let stem = format!("{:020}", b.rewritten);
    let want: Vec<Rec> = segment_bases(b.raw.path())
        .into_iter()
        .flat_map(|base| {
            if base == b.rewritten {
                segment_records(b.compacted.path(), base)
            } else {
                segment_records(b.raw.path(), base)
            }
        })
        .collect();
    assert_ne!(want, all_records(b.raw.path()));
    // Which files are still `.swap` and which were already renamed into place.
    let states: [(&[&str], &[&str]); 3] = [
        (&["index", "timeindex", "log"], &[]),
        (&["timeindex", "log"], &["index"]),
        (&["log"], &["index", "timeindex"]),
    ];
    for (swapped, in_place) in states {
        let dir = copy_dir(b.raw.path());
        for ext in swapped {
            std::fs::copy(
                seg_path(b.compacted.path(), b.rewritten, ext),
                dir.path().join(format!("{stem}.{ext}.swap")),
            )
            .expect("plant swap file");
        }
        for ext in in_place {
            std::fs::copy(
                seg_path(b.compacted.path(), b.rewritten, ext),
                seg_path(dir.path(), b.rewritten, ext),
            )
            .expect("plant renamed file");
        }
        let what = format!("swap files {swapped:?}, renamed {in_place:?}");
        let log = open_log(dir.path(), config());
        for ext in ["index", "timeindex", "log"] {
            assert!(
                !dir.path().join(format!("{stem}.{ext}.swap")).exists(),
                "{what}: {ext}.swap consumed"
            );
            assert_eq!(
                std::fs::read(seg_path(dir.path(), b.rewritten, ext)).expect("read"),
                std::fs::read(seg_path(b.compacted.path(), b.rewritten, ext)).expect("read"),
                "{what}: {ext} is the compacted one"
            );
        }
        check_content(&log, &want, b.end, &what);
    }
}

/// When compaction empties the first segment it stays, empty, so the log start offset (and
/// every committed offset inside it) stays valid, as in Kafka.
#[test]
fn emptied_first_segment_keeps_the_log_start() {
    let dir = common::tempdir();
    let mut log = open_log(dir.path(), config());
    for v in ["a1", "a2"] {
        let r = rec(Some("a"), Some(v), T0);
        log.append(&encode(std::slice::from_ref(&r), Compression::None), T0)
            .expect("append");
    }
    log.roll().expect("roll");
    let r = rec(Some("a"), Some("a3"), T0);
    log.append(&encode(std::slice::from_ref(&r), Compression::None), T0)
        .expect("append");
    log.roll().expect("roll");
    let stats = log.compact(T0 + 10_000).expect("compact");
    assert_eq!(stats.records_removed, 2);
    assert_eq!(stats.segments_deleted, 0);
    assert_eq!(log.log_start(), 0, "log start must not move");
    assert_eq!(segment_bases(dir.path()), vec![0, 2, 3]);
    let data = log.read(0, 1 << 20).expect("read from the log start");
    assert_eq!(decode(&data.records)[0].0, 2);
    log.close().expect("close");
    let log = open_log(dir.path(), config());
    assert_eq!(log.log_start(), 0);
    assert_eq!(log.log_end(), 3);
}
