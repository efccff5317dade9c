//! Model-based test of a partition log: random appends, reads, rolls, checkpoints, clean
//! restarts and crashes (drop without close) against a `BTreeMap` of offset -> record.

mod common;

use std::collections::BTreeMap;

use bytes::Bytes;
use kafka_protocol::records::Compression;
use proptest::prelude::*;
use weir_broker::batch::NewRecord;
use weir_broker::{Error, PartitionLog};

use common::{as_stored, decode, encode, open_log, segment_bases, small_config};

type Field = Option<Vec<u8>>;

#[derive(Debug, Clone)]
enum Op {
    Append {
        records: Vec<(Field, Field)>,
        compression: u8,
        age: i64,
    },
    Read {
        at: u64,
        max_bytes: usize,
    },
    CloseReopen,
    CrashReopen,
    Roll,
    Checkpoint,
}

fn field() -> impl Strategy<Value = Field> {
    proptest::option::of(proptest::collection::vec(any::<u8>(), 0..40))
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (proptest::collection::vec((field(), field()), 1..=20), 0u8..3, 0i64..10_000)
            .prop_map(|(records, compression, age)| Op::Append { records, compression, age }),
        6 => (any::<u64>(), 0usize..3000).prop_map(|(at, max_bytes)| Op::Read { at, max_bytes }),
        1 => Just(Op::CloseReopen),
        1 => Just(Op::CrashReopen),
        1 => Just(Op::Roll),
        1 => Just(Op::Checkpoint),
    ]
}

/// One appended batch as the model remembers it.
struct ModelBatch {
    base: i64,
    next: i64,
    stored: Bytes,
}

struct Model {
    records: BTreeMap<i64, (Field, Field, i64)>,
    batches: Vec<ModelBatch>,
}

impl Model {
    fn log_end(&self) -> i64 {
        self.batches.last().map_or(0, |b| b.next)
    }
}

fn to_bytes(f: &Field) -> Option<Bytes> {
    f.as_ref().map(|v| Bytes::copy_from_slice(v))
}

fn check_read(log: &PartitionLog, model: &Model, dir: &std::path::Path, at: u64, max_bytes: usize) {
    let end = model.log_end();
    let offset = (at % (end as u64 + 2)) as i64;
    let result = log.read(offset, max_bytes);
    if offset > end {
        match result {
            Err(Error::OffsetOutOfRange {
                offset: o,
                log_start,
                log_end,
                ..
            }) => {
                assert_eq!((o, log_start, log_end), (offset, 0, end));
            }
            other => panic!("read past the log end {end} at {offset} gave {other:?}"),
        }
        return;
    }
    let data = result.expect("read inside the log");
    assert_eq!(data.high_watermark, end);
    assert_eq!(data.log_start, 0);
    if offset == end {
        assert!(
            data.records.is_empty(),
            "read at the log end returns nothing"
        );
        return;
    }
    let first = model
        .batches
        .iter()
        .position(|b| b.base <= offset && offset < b.next)
        .expect("model batch holding the offset");
    // The read returns whole stored batches, byte for byte, starting with the one holding
    // `offset`: find how many.
    let mut len = 0;
    let mut last = first;
    while len < data.records.len() {
        let b = model
            .batches
            .get(last)
            .expect("read returned more batches than the log holds");
        assert_eq!(
            &data.records[len..len + b.stored.len()],
            &b.stored[..],
            "batch at {} read back differently",
            b.base
        );
        len += b.stored.len();
        last += 1;
    }
    assert_eq!(len, data.records.len(), "read ends on a batch boundary");
    assert!(
        last > first,
        "read at {offset} below the log end returned no batch"
    );
    let first_len = model.batches[first].stored.len();
    assert!(
        len <= max_bytes.max(first_len),
        "read returned {len} bytes for max_bytes {max_bytes}"
    );
    // It stops early only at a segment end or when the next batch would not fit.
    if let Some(next) = model.batches.get(last) {
        let bases = segment_bases(dir);
        let seg_of = |o: i64| bases.iter().rev().find(|b| **b <= o).copied();
        if seg_of(next.base) == seg_of(model.batches[first].base) {
            assert!(
                len + next.stored.len() > max_bytes.max(first_len),
                "read stopped at {len} bytes although the next batch fits in {max_bytes}"
            );
        }
    }
    // And the records decode to exactly the model's, with their offsets.
    let from = model.batches[first].base;
    let to = model.batches[last - 1].next;
    let want: Vec<_> = model
        .records
        .range(from..to)
        .map(|(o, (k, v, ts))| (*o, to_bytes(k), to_bytes(v), *ts))
        .collect();
    assert_eq!(decode(&data.records), want);
}

fn check_whole_log(log: &PartitionLog, model: &Model) {
    assert_eq!(log.log_end(), model.log_end());
    assert_eq!(log.high_watermark(), model.log_end());
    assert_eq!(log.log_start(), 0);
    let stored = log.all_batches().expect("all batches");
    assert_eq!(stored.len(), model.batches.len(), "batch count");
    for (got, want) in stored.iter().zip(&model.batches) {
        assert_eq!(got, &want.stored, "batch at {}", want.base);
    }
}

fn run(segment_bytes: u64, index_interval: u64, ops: Vec<Op>) {
    let dir = common::tempdir();
    let config = small_config(segment_bytes, index_interval);
    let mut log = open_log(dir.path(), config.clone());
    let mut model = Model {
        records: BTreeMap::new(),
        batches: Vec::new(),
    };
    let mut now = 1_700_000_000_000i64;
    for op in ops {
        match op {
            Op::Append {
                records,
                compression,
                age,
            } => {
                now += 1;
                let new: Vec<NewRecord> = records
                    .iter()
                    .map(|(k, v)| NewRecord {
                        key: to_bytes(k),
                        value: to_bytes(v),
                        headers: vec![],
                        timestamp: now - age,
                    })
                    .collect();
                let compression = match compression {
                    0 => Compression::None,
                    1 => Compression::Gzip,
                    _ => Compression::Zstd,
                };
                let bytes = encode(&new, compression);
                let base = model.log_end();
                let info = log.append(&bytes, now).expect("append");
                assert_eq!(info.base_offset, base);
                assert_eq!(info.last_offset, base + records.len() as i64 - 1);
                assert_eq!(info.log_end, base + records.len() as i64);
                for (i, (k, v)) in records.into_iter().enumerate() {
                    model.records.insert(base + i as i64, (k, v, now - age));
                }
                model.batches.push(ModelBatch {
                    base,
                    next: info.log_end,
                    stored: as_stored(&bytes, base),
                });
            }
            Op::Read { at, max_bytes } => check_read(&log, &model, dir.path(), at, max_bytes),
            Op::CloseReopen => {
                log.close().expect("close");
                log = open_log(dir.path(), config.clone());
                check_whole_log(&log, &model);
            }
            Op::CrashReopen => {
                // Nothing was cut: the OS still has every write, so all of it must survive.
                drop(log);
                log = open_log(dir.path(), config.clone());
                check_whole_log(&log, &model);
            }
            Op::Roll => log.roll().expect("roll"),
            Op::Checkpoint => log.checkpoint().expect("checkpoint"),
        }
        assert_eq!(log.log_end(), model.log_end());
        assert_eq!(log.log_start(), 0);
    }
    check_whole_log(&log, &model);
    // Every offset reads back after a final crash and reopen.
    drop(log);
    let log = open_log(dir.path(), config);
    check_whole_log(&log, &model);
    for at in 0..=model.log_end() as u64 + 1 {
        check_read(&log, &model, dir.path(), at, 0);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn partition_log_matches_btreemap_model(
        segment_bytes in 300u64..4000,
        index_interval in 1u64..400,
        ops in proptest::collection::vec(op(), 1..40),
    ) {
        run(segment_bytes, index_interval, ops);
    }
}
