//! Crash recovery: a partition directory is copied after a crash (drop without close), its
//! files are cut or damaged the way a crash or a bad disk would, and reopened. Everything
//! before the damage must read back intact, nothing after it may be visible, and appends
//! must continue at the offset after the last intact batch.

mod common;

use std::path::Path;

use bytes::Bytes;
use kafka_protocol::records::Compression;
use weir_broker::batch::BatchHeader;
use weir_broker::{Error, OffsetSpec, TopicConfig};

use common::{
    Lcg, as_stored, copy_dir, cut_file, decode, encode, flip_bit, open_log, rec, sample_batch,
    seg_path, segment_bases, small_config, split_batches,
};

const SEGMENT_BYTES: u64 = 2000;
const INDEX_INTERVAL: u64 = 150;

fn config() -> TopicConfig {
    small_config(SEGMENT_BYTES, INDEX_INTERVAL)
}

/// One stored batch and where it sits.
#[derive(Debug, Clone)]
struct Stored {
    segment: i64,
    position: u64,
    header: BatchHeader,
    bytes: Bytes,
}

/// Writes `batches` batches of 1-5 records (timestamps rising with the offset) and crashes:
/// the log is dropped without close. With `checkpoint_after`, a recovery checkpoint is
/// written after that many batches. Returns every stored batch, oldest first.
fn write_and_crash(dir: &Path, batches: usize, checkpoint_after: Option<usize>) -> Vec<Stored> {
    let mut rng = Lcg(7 + batches as u64);
    let mut log = open_log(dir, config());
    for i in 0..batches {
        let n = 1 + rng.below(5) as usize;
        let ts = 1_000_000 + log.log_end() * 10;
        let records = sample_batch(&mut rng, n, ts);
        let bytes = encode(&records, Compression::None);
        let info = log.append(&bytes, ts).expect("append");
        assert_eq!(info.log_end - info.base_offset, n as i64);
        if checkpoint_after == Some(i + 1) {
            log.checkpoint().expect("checkpoint");
        }
    }
    drop(log);
    let mut stored = Vec::new();
    for base in segment_bases(dir) {
        let bytes = Bytes::from(std::fs::read(seg_path(dir, base, "log")).expect("read log"));
        let mut position = 0;
        for (header, b) in split_batches(&bytes) {
            stored.push(Stored {
                segment: base,
                position,
                header,
                bytes: b.clone(),
            });
            position += b.len() as u64;
        }
    }
    stored
}

/// Reopens `dir` and checks that exactly `intact` is stored and readable, that the log end
/// is the offset after it, and that appends continue there (also after another restart).
fn check_recovered(dir: &Path, intact: &[Stored], what: &str) {
    let mut log = open_log(dir, config());
    // Segments are contiguous, so when the last one lost every batch its base offset, the
    // log end, is still the offset after the last intact batch.
    let end = intact.last().map_or(0, |s| s.header.next_offset());
    assert_eq!(log.log_end(), end, "{what}: log end");
    assert_eq!(log.log_start(), 0, "{what}: log start");
    let all = log.all_batches().expect("all batches");
    assert_eq!(all.len(), intact.len(), "{what}: batch count");
    for (got, want) in all.iter().zip(intact) {
        assert_eq!(
            got, &want.bytes,
            "{what}: batch at {}",
            want.header.base_offset
        );
    }
    let size: u64 = intact.iter().map(|s| s.bytes.len() as u64).sum();
    assert_eq!(log.size_bytes(), size, "{what}: size");
    // Time lookups see exactly the intact batches (their timestamps rise with the offset).
    let last_ts = intact.last().map_or(0, |s| s.header.max_timestamp);
    assert_eq!(
        log.list_offset(OffsetSpec::Timestamp(last_ts + 1))
            .expect("time lookup"),
        None,
        "{what}: no timestamp of a cut batch is visible"
    );
    for s in intact {
        let ts = s.header.base_timestamp;
        assert_eq!(
            log.list_offset(OffsetSpec::Timestamp(ts))
                .expect("time lookup"),
            Some((s.header.base_offset, ts)),
            "{what}: time lookup {ts}"
        );
        let data = log
            .read(s.header.base_offset, 1)
            .expect("read intact batch");
        assert_eq!(
            data.records, s.bytes,
            "{what}: read at {}",
            s.header.base_offset
        );
        let data = log
            .read(s.header.last_offset(), 1)
            .expect("read intact batch");
        assert_eq!(
            data.records,
            s.bytes,
            "{what}: read at {}",
            s.header.last_offset()
        );
    }
    assert!(
        log.read(end, 1 << 20)
            .expect("read at log end")
            .records
            .is_empty(),
        "{what}: nothing is visible past the log end"
    );
    assert!(
        matches!(log.read(end + 1, 1), Err(Error::OffsetOutOfRange { .. })),
        "{what}: offset past the log end is out of range"
    );

    let records = [
        rec(Some("after"), Some("crash"), 5_000_000),
        rec(None, Some("x"), 5_000_001),
    ];
    let bytes = encode(&records, Compression::None);
    let info = log
        .append(&bytes, 5_000_001)
        .expect("append after recovery");
    assert_eq!(
        info.base_offset, end,
        "{what}: append continues at the log end"
    );
    let data = log.read(end, 1 << 20).expect("read new batch");
    assert_eq!(data.records, as_stored(&bytes, end), "{what}: new batch");
    assert_eq!(
        log.list_offset(OffsetSpec::Timestamp(5_000_000))
            .expect("time lookup"),
        Some((end, 5_000_000)),
        "{what}: time lookup finds the new batch"
    );
    drop(log);

    // A second crash and restart still sees the recovered batches plus the new one.
    let log = open_log(dir, config());
    assert_eq!(
        log.log_end(),
        end + 2,
        "{what}: log end after second restart"
    );
    let all = log.all_batches().expect("all batches");
    assert_eq!(all.len(), intact.len() + 1, "{what}: batches after restart");
    assert_eq!(
        decode(&log.read(end, 0).expect("read new batch").records),
        vec![
            (
                end,
                Some(common::bytes_of("after")),
                Some(common::bytes_of("crash")),
                5_000_000
            ),
            (end + 1, None, Some(common::bytes_of("x")), 5_000_001),
        ],
        "{what}: new batch after restart"
    );
}

/// Cuts the last segment's log at every byte (every `step`-th byte plus every batch
/// boundary and its neighbours) and checks each recovery.
fn cut_last_segment_everywhere(stored: &[Stored], src: &Path, step: u64, what: &str) {
    let last = stored.last().expect("batches").segment;
    assert!(
        stored.iter().any(|s| s.segment != last),
        "{what}: the test needs several segments"
    );
    let log_len = std::fs::metadata(seg_path(src, last, "log"))
        .expect("stat log")
        .len();
    let mut cuts: Vec<u64> = (0..=log_len).step_by(step as usize).collect();
    for s in stored.iter().filter(|s| s.segment == last) {
        let end = s.position + s.bytes.len() as u64;
        cuts.extend([
            s.position.saturating_sub(1),
            s.position,
            s.position + 1,
            end - 1,
            end,
        ]);
    }
    cuts.push(log_len);
    cuts.sort_unstable();
    cuts.dedup();
    for cut in cuts {
        let copy = copy_dir(src);
        cut_file(&seg_path(copy.path(), last, "log"), cut);
        let intact: Vec<Stored> = stored
            .iter()
            .filter(|s| s.segment != last || s.position + s.bytes.len() as u64 <= cut)
            .cloned()
            .collect();
        check_recovered(copy.path(), &intact, &format!("{what}, cut at byte {cut}"));
    }
}

#[test]
fn cut_at_every_byte_of_last_segment_without_checkpoint() {
    let dir = common::tempdir();
    let stored = write_and_crash(dir.path(), 60, None);
    cut_last_segment_everywhere(&stored, dir.path(), 1, "no checkpoint");
}

#[test]
fn cut_last_segment_with_checkpoint_inside_it() {
    let dir = common::tempdir();
    let batches = 60;
    // Find where the last segment starts, then checkpoint a few batches into it.
    let probe = common::tempdir();
    let layout = write_and_crash(probe.path(), batches, None);
    let last = layout.last().expect("batches").segment;
    let first_in_last = layout
        .iter()
        .position(|s| s.segment == last)
        .expect("last segment batch");
    let stored = write_and_crash(dir.path(), batches, Some(first_in_last + 3));
    assert!(
        std::fs::metadata(dir.path().join("recovery-point")).is_ok(),
        "checkpoint file written"
    );
    cut_last_segment_everywhere(&stored, dir.path(), 3, "checkpoint in last segment");
}

#[test]
fn cut_last_segment_with_checkpoint_in_earlier_segment() {
    let dir = common::tempdir();
    let stored = write_and_crash(dir.path(), 60, Some(5));
    cut_last_segment_everywhere(&stored, dir.path(), 5, "checkpoint in first segment");
}

/// After a clean close (checkpoint at the end, so indexes are trusted), cut the offset and
/// time indexes of every segment at random lengths: reads and time lookups stay correct.
#[test]
fn cut_index_files_at_random_lengths() {
    let src = common::tempdir();
    let stored = write_and_crash(src.path(), 60, None);
    // Reopen and close cleanly so that a checkpoint covers everything.
    open_log(src.path(), config()).close().expect("close");
    let bases = segment_bases(src.path());
    let mut rng = Lcg(99);
    for round in 0..40 {
        let copy = copy_dir(src.path());
        for base in &bases {
            for ext in ["index", "timeindex"] {
                let path = seg_path(copy.path(), *base, ext);
                let len = std::fs::metadata(&path).expect("stat index").len();
                if rng.below(2) == 0 {
                    cut_file(&path, rng.below(len + 1));
                }
            }
        }
        let what = format!("index cut round {round}");
        let log = open_log(copy.path(), config());
        let end = stored.last().expect("batches").header.next_offset();
        assert_eq!(log.log_end(), end, "{what}");
        for s in &stored {
            for o in s.header.base_offset..=s.header.last_offset() {
                let data = log.read(o, 1).expect("read");
                assert_eq!(data.records, s.bytes, "{what}: read at {o}");
            }
            let first_ts = s.header.base_timestamp;
            assert_eq!(
                log.list_offset(OffsetSpec::Timestamp(first_ts))
                    .expect("time lookup"),
                Some((s.header.base_offset, first_ts)),
                "{what}: time lookup {first_ts}"
            );
        }
        check_recovered(copy.path(), &stored, &what);
    }
}

/// Index files that hold garbage (entries out of order or past the log) are rebuilt.
#[test]
fn garbage_index_files_are_rebuilt() {
    let src = common::tempdir();
    let stored = write_and_crash(src.path(), 60, None);
    open_log(src.path(), config()).close().expect("close");
    let bases = segment_bases(src.path());
    for base in &bases {
        let base = *base;
        // One real entry moved past its successor: still inside the log, but out of order.
        let index = std::fs::read(seg_path(src.path(), base, "index")).expect("read index");
        if index.len() >= 24 {
            let copy = copy_dir(src.path());
            let mut bad = index.clone();
            let next_pos = u32::from_be_bytes([bad[20], bad[21], bad[22], bad[23]]);
            bad[12..16].copy_from_slice(&(next_pos + 1).to_be_bytes());
            std::fs::write(seg_path(copy.path(), base, "index"), &bad).expect("write index");
            check_recovered(
                copy.path(),
                &stored,
                &format!("unordered index of segment {base}"),
            );
        }
        let copy = copy_dir(src.path());
        // Entries pointing far past the end of the log, and out of order.
        let mut junk = Vec::new();
        for (rel, pos) in [(1u32, 900_000u32), (2, 10), (3, 5)] {
            junk.extend_from_slice(&rel.to_be_bytes());
            junk.extend_from_slice(&pos.to_be_bytes());
        }
        std::fs::write(seg_path(copy.path(), base, "index"), &junk).expect("write junk index");
        check_recovered(
            copy.path(),
            &stored,
            &format!("junk index of segment {base}"),
        );
    }
}

/// Flips one bit inside a stored batch of the active segment after a crash: that batch and
/// everything after it are cut off, everything before stays.
#[test]
fn flipped_bit_in_active_segment_truncates_from_that_batch() {
    let src = common::tempdir();
    let stored = write_and_crash(src.path(), 60, None);
    let last = stored.last().expect("batches").segment;
    let mut rng = Lcg(3);
    let in_last: Vec<usize> = (0..stored.len())
        .filter(|i| stored[*i].segment == last)
        .collect();
    assert!(in_last.len() > 2, "several batches in the active segment");
    for i in in_last {
        let s = &stored[i];
        for _ in 0..10 {
            // Bytes 12..16 (leader epoch) are covered neither by the CRC nor by a check; the
            // base offset (0..8) is checked for contiguity in the active segment, the length
            // (8..12) and magic (16) are framing.
            let within = loop {
                let b = rng.below(s.bytes.len() as u64) as usize;
                if !(12..16).contains(&b) {
                    break b;
                }
            };
            let bit = rng.below(8) as u8;
            let copy = copy_dir(src.path());
            flip_bit(
                &seg_path(copy.path(), last, "log"),
                s.position as usize + within,
                bit,
            );
            let what = format!(
                "bit {bit} of byte {within} flipped in batch at {}",
                s.header.base_offset
            );
            check_recovered(copy.path(), &stored[..i], &what);
        }
    }
}

/// Without a checkpoint every segment is verified: a flipped bit in an older segment cuts
/// that segment there and deletes every later one.
#[test]
fn flipped_bit_in_older_segment_without_checkpoint_drops_later_segments() {
    let src = common::tempdir();
    let stored = write_and_crash(src.path(), 60, None);
    let bases = segment_bases(src.path());
    let victim_seg = bases[1];
    let i = stored
        .iter()
        .position(|s| s.segment == victim_seg)
        .expect("batch in second segment")
        + 2;
    let s = &stored[i];
    assert_eq!(s.segment, victim_seg, "victim batch in the second segment");
    let copy = copy_dir(src.path());
    flip_bit(
        &seg_path(copy.path(), victim_seg, "log"),
        s.position as usize + 40,
        3,
    );
    check_recovered(copy.path(), &stored[..i], "flip in second segment");
    assert_eq!(
        segment_bases(copy.path()),
        vec![bases[0], bases[1]],
        "later segments deleted"
    );
}
