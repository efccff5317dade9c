//! The Postgres CDC source on big data: a 1M-row snapshot read by two connections while a
//! writer inserts, updates and deletes; transactions larger than `logical_decoding_work_mem`
//! streamed in progress with protocol v2 (committed, aborted, and with a rolled-back
//! savepoint); and heartbeats that let the slot advance when only uncaptured tables change.
//!
//! Tests in this file run one at a time (a lock): each drives a real Postgres and a real
//! `weir serve` hard, and the machines that run them have two cores.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use weir_e2e::bench::high_watermark;
use weir_e2e::cdc::tail::{TIMEOUT, Tail, log_tail, lsn_now, serial};
use weir_e2e::cdc::{confirmed_flush, connector_config, deploy, serve};
use weir_e2e::pg::{PgOptions, PgServer};
use weir_e2e::{RestApi, Workdir, wait_for};

fn int(v: &Option<String>) -> i64 {
    v.as_deref()
        .and_then(|v| v.parse().ok())
        .expect("an integer column")
}

// ---------------------------------------------------------------------------------------

/// A writer's mix of changes, each in its own transaction, counting only rows it really
/// changed: inserts of new ids, updates that change `v`, updates that change nothing (they
/// still produce an event), deletes, and updates of rows it inserted itself.
const CHURN: &str = "CREATE PROCEDURE churn(n int, pause float8,
    INOUT ins int DEFAULT 0, INOUT upd int DEFAULT 0, INOUT del int DEFAULT 0)
LANGUAGE plpgsql AS $$
DECLARE k int; c int;
BEGIN
  FOR i IN 1..n LOOP
    k := (i * 7919) % 1000000 + 1;
    CASE i % 5
      WHEN 0 THEN INSERT INTO t VALUES (2000000 + i, i, 'new ' || i); ins := ins + 1;
      WHEN 1 THEN UPDATE t SET v = v + 1 WHERE id = k; GET DIAGNOSTICS c = ROW_COUNT; upd := upd + c;
      WHEN 2 THEN UPDATE t SET v = v WHERE id = k; GET DIAGNOSTICS c = ROW_COUNT; upd := upd + c;
      WHEN 3 THEN DELETE FROM t WHERE id = k; GET DIAGNOSTICS c = ROW_COUNT; del := del + c;
      ELSE UPDATE t SET note = 'changed' WHERE id = 2000000 + i - 4;
        GET DIAGNOSTICS c = ROW_COUNT; upd := upd + c;
    END CASE;
    COMMIT;
    IF i % 50 = 0 THEN PERFORM pg_sleep(pause); END IF;
  END LOOP;
END $$;";

/// A 1M-row snapshot read by two connections while a writer changes the table: folding
/// the topic by key gives the table, and the topic holds exactly one read per row of the
/// snapshot plus one event per change (two per delete: `d` and its tombstone).
#[test]
fn snapshot_of_a_million_rows_under_concurrent_writes_folds_to_the_table() {
    let _serial = serial();
    const ROWS: usize = 1_000_000;
    let pg = PgServer::start(PgOptions::new().set("fsync", "off")).expect("start postgres");
    pg.sql("CREATE DATABASE big").expect("create db");
    pg.sql_db(
        "big",
        &format!(
            "CREATE TABLE t (id int PRIMARY KEY, v int NOT NULL, note text);
             INSERT INTO t SELECT g, 0, md5(g::text) FROM generate_series(1, {ROWS}) g;
             ANALYZE t;"
        ),
    )
    .expect("table");
    pg.sql_db("big", CHURN).expect("procedure");
    let w = Workdir::new();
    let served = serve(&w);
    let rest = RestApi::new(served.rest());
    let started = Instant::now();
    deploy(
        &rest,
        "big",
        &connector_config(&pg, "big", "big", &[("snapshot.max.threads", "2")]),
    );
    let mut tail = Tail::new("big.public.t");
    // The writer starts once the snapshot reads (its view is fixed by then): every change
    // it makes is streamed, none is part of the snapshot.
    tail.wait(&w, &served, "the snapshot under way", TIMEOUT, |r| {
        !r.is_empty()
    });
    let counts = pg
        .sql_db("big", "CALL churn(5000, 0.05)")
        .expect("the writer's changes");
    let (ins, upd, del) = (
        int(&counts[0][0]) as usize,
        int(&counts[0][1]) as usize,
        int(&counts[0][2]) as usize,
    );
    let snapshot_done = high_watermark(&w, &served.bootstrap(), "big.public.t").unwrap_or(0);
    eprintln!(
        "writer: {ins} inserts, {upd} updates, {del} deletes, done when {snapshot_done} of \
         {ROWS} rows were in the topic"
    );
    assert!(
        snapshot_done < ROWS as u64,
        "the snapshot ended before the writer finished its changes"
    );
    // Wait on the log end (cheap) and parse the records once, at the end.
    let expected = ROWS + ins + upd + 2 * del;
    // About 100 s on an idle two-core machine in a debug build; generous for a busy one.
    let deadline = started + Duration::from_secs(300);
    loop {
        let end = high_watermark(&w, &served.bootstrap(), "big.public.t").unwrap_or(0);
        if end >= expected as u64 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "timed out with {end} records of {expected}\n{}",
            log_tail(&served)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(2));
    tail.poll(&w, Some(&served));
    eprintln!("{} records in {:?}", tail.recs.len(), started.elapsed());
    let by_op = |op: &str| tail.recs.iter().filter(|r| r.op == op).count();
    assert_eq!(by_op("r"), ROWS, "snapshot reads");
    assert_eq!(by_op("c"), ins, "creates");
    assert_eq!(by_op("u"), upd, "updates");
    assert_eq!(by_op("d"), del, "deletes");
    assert_eq!(by_op("tombstone"), del, "tombstones");
    assert_eq!(tail.recs.len(), expected, "records in all");

    // Fold: the last event of a key wins; a delete or tombstone removes it.
    let mut folded: BTreeMap<i64, (i64, Option<String>)> = BTreeMap::new();
    for r in &tail.recs {
        let id = r.id.expect("every change event has a key");
        match r.op.as_str() {
            "r" | "c" | "u" => {
                let v = r.after["v"].as_i64().expect("after.v");
                let note = r.after["note"].as_str().map(str::to_string);
                folded.insert(id, (v, note));
            }
            "d" | "tombstone" => {
                folded.remove(&id);
            }
            other => panic!("unexpected op {other:?} for id {id}"),
        }
    }
    let table: BTreeMap<i64, (i64, Option<String>)> = pg
        .sql_db("big", "SELECT id, v, note FROM t ORDER BY id")
        .expect("select the table")
        .into_iter()
        .map(|r| (int(&r[0]), (int(&r[1]), r[2].clone())))
        .collect();
    if folded != table {
        let diff: Vec<_> = table
            .iter()
            .filter(|(k, v)| folded.get(k) != Some(v))
            .map(|(k, v)| (k, v, folded.get(k)))
            .take(10)
            .collect();
        let extra: Vec<_> = folded
            .keys()
            .filter(|k| !table.contains_key(k))
            .take(10)
            .collect();
        panic!(
            "the folded topic differs from the table ({} vs {} rows); (id, table, topic): \
             {diff:?}; in the topic only: {extra:?}",
            folded.len(),
            table.len()
        );
    }
}

/// Transactions larger than `logical_decoding_work_mem` (64kB) are streamed while in
/// progress (protocol v2, `streaming on`): a committed 50k-row one arrives whole, in order,
/// under one txId; an aborted one and the rolled-back savepoint of a third emit nothing.
#[test]
fn large_transactions_streamed_in_progress() {
    let _serial = serial();
    let pg = PgServer::start(
        PgOptions::new()
            .set("fsync", "off")
            .set("logical_decoding_work_mem", "64kB"),
    )
    .expect("start postgres");
    pg.sql("CREATE DATABASE lt").expect("create db");
    pg.sql_db("lt", "CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)")
        .expect("table");
    let w = Workdir::new();
    let served = serve(&w);
    let rest = RestApi::new(served.rest());
    deploy(&rest, "lt", &connector_config(&pg, "lt", "lt", &[]));
    let mut tail = Tail::new("lt.public.t");
    pg.sql_db("lt", "INSERT INTO t VALUES (0, 'warm-up')")
        .expect("warm-up row");
    tail.wait(&w, &served, "the warm-up row", TIMEOUT, |r| !r.is_empty());

    pg.sql_db(
        "lt",
        "BEGIN;
         INSERT INTO t SELECT g, 'committed ' || g FROM generate_series(1, 50000) g;
         COMMIT;
         BEGIN;
         INSERT INTO t SELECT g, 'aborted ' || g FROM generate_series(100001, 150000) g;
         ROLLBACK;
         BEGIN;
         INSERT INTO t SELECT g, 'before the savepoint' FROM generate_series(200001, 200010) g;
         SAVEPOINT s;
         INSERT INTO t SELECT g, 'rolled back ' || g FROM generate_series(210001, 260000) g;
         ROLLBACK TO SAVEPOINT s;
         INSERT INTO t SELECT g, 'after the savepoint' FROM generate_series(200011, 200020) g;
         COMMIT;
         INSERT INTO t VALUES (999999, 'end');",
    )
    .expect("transactions");
    tail.wait(
        &w,
        &served,
        "the row after the large transactions",
        TIMEOUT,
        |r| r.iter().any(|r| r.id == Some(999_999)),
    );
    std::thread::sleep(Duration::from_secs(1));
    tail.poll(&w, Some(&served));

    let recs = &tail.recs[1..];
    let ids: Vec<i64> = recs.iter().filter_map(|r| r.id).collect();
    let expected: Vec<i64> = (1..=50_000)
        .chain(200_001..=200_020)
        .chain([999_999])
        .collect();
    if ids != expected {
        let aborted = ids
            .iter()
            .filter(|id| (100_001..=150_000).contains(*id))
            .count();
        let savepoint = ids
            .iter()
            .filter(|id| (210_001..=260_000).contains(*id))
            .count();
        let committed: BTreeSet<i64> = ids.iter().copied().filter(|id| *id <= 50_000).collect();
        panic!(
            "{} records after the warm-up, expected {}: {} distinct of the 50000 committed \
             rows, {aborted} of the aborted transaction, {savepoint} of the rolled-back \
             savepoint; first difference at {:?}",
            ids.len(),
            expected.len(),
            committed.len(),
            ids.iter().zip(&expected).position(|(a, b)| a != b)
        );
    }
    assert!(recs.iter().all(|r| r.op == "c"), "only creates");
    let tx = |range: std::ops::RangeInclusive<i64>| -> BTreeSet<Option<i64>> {
        recs.iter()
            .filter(|r| r.id.is_some_and(|id| range.contains(&id)))
            .map(|r| r.tx_id)
            .collect()
    };
    let big = tx(1..=50_000);
    assert!(
        big.len() == 1 && big.iter().all(Option::is_some),
        "the 50k rows carry txIds {big:?}"
    );
    let saved = tx(200_001..=200_020);
    assert!(
        saved.len() == 1 && saved.iter().all(Option::is_some) && saved != big,
        "the savepoint transaction's rows carry txIds {saved:?} (the large one {big:?})"
    );
    // The transactions were streamed in progress, not decoded at commit only.
    wait_for(
        "the slot's statistics to count streamed transactions",
        Duration::from_secs(30),
        || {
            pg.sql_db(
                "lt",
                "SELECT stream_txns FROM pg_stat_replication_slots WHERE slot_name = 'lt_slot'",
            )
            .ok()
            .and_then(|r| r.first().map(|r| int(&r[0])))
            .is_some_and(|n| n >= 1)
        },
        || {
            format!(
                "{:?}",
                pg.sql_db("lt", "SELECT * FROM pg_stat_replication_slots")
            )
        },
    );
}

/// Only an uncaptured table changes: heartbeats still reach `__debezium-heartbeat.<prefix>`
/// and carry offsets, so the slot's confirmed_flush_lsn moves past the uncaptured writes
/// (Postgres can recycle the WAL). Both with the whole-database publication (the changes
/// reach the connector and are filtered) and with a filtered one (they never do).
#[test]
fn heartbeats_advance_the_slot_past_uncaptured_changes() {
    let _serial = serial();
    let pg = PgServer::start(PgOptions::new().set("fsync", "off")).expect("start postgres");
    pg.sql("CREATE DATABASE hb").expect("create db");
    pg.sql_db(
        "hb",
        "CREATE TABLE quiet (id int PRIMARY KEY);
         CREATE TABLE noisy (id int PRIMARY KEY, v text);",
    )
    .expect("tables");
    let w = Workdir::new();
    let served = serve(&w);
    let rest = RestApi::new(served.rest());
    let prefixes = [("hb1", "all_tables"), ("hb2", "filtered")];
    for (prefix, mode) in prefixes {
        let config = connector_config(
            &pg,
            "hb",
            prefix,
            &[
                ("heartbeat.interval.ms", "500"),
                ("table.include.list", "public.quiet"),
                ("publication.autocreate.mode", mode),
            ],
        );
        deploy(&rest, prefix, &config);
    }
    let mut beats: Vec<Tail> = prefixes
        .iter()
        .map(|(p, _)| Tail::new(&format!("__debezium-heartbeat.{p}")))
        .collect();
    for (tail, (prefix, _)) in beats.iter_mut().zip(prefixes) {
        tail.wait(&w, &served, "two heartbeats", TIMEOUT, |r| r.len() >= 2);
        let first = &tail.recs[0];
        assert!(
            first.other["ts_ms"].as_i64().is_some(),
            "{prefix}: a heartbeat value is {{ts_ms}}: {first:?}"
        );
    }

    for i in 0..20 {
        pg.sql_db(
            "hb",
            &format!(
                "INSERT INTO noisy SELECT g, 'noise' FROM generate_series({}, {}) g",
                i * 500 + 1,
                i * 500 + 500
            ),
        )
        .expect("uncaptured writes");
    }
    let end = lsn_now(&pg, "hb");
    for ((prefix, mode), tail) in prefixes.iter().zip(&mut beats) {
        let slot = format!("{prefix}_slot");
        wait_for(
            &format!("{prefix} ({mode}): confirmed_flush_lsn to pass the uncaptured writes"),
            TIMEOUT,
            || confirmed_flush(&pg, "hb", &slot).is_some_and(|l| l >= end),
            || {
                format!(
                    "{:?} < {end}\n{}",
                    confirmed_flush(&pg, "hb", &slot),
                    log_tail(&served)
                )
            },
        );
        let before = tail.recs.len();
        tail.wait(&w, &served, "more heartbeats", TIMEOUT, |r| {
            r.len() > before
        });
        let mut noisy = Tail::new(&format!("{prefix}.public.noisy"));
        noisy.poll(&w, Some(&served));
        assert!(
            noisy.recs.is_empty(),
            "{prefix}: the uncaptured table reached its topic"
        );
    }
}
