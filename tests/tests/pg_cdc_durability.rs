//! The Postgres CDC source under failure: `weir serve` killed with SIGKILL while it streams
//! and while it snapshots, and Postgres restarted (cleanly and by a crash) under a running
//! connector. The invariant every test checks: the slot's `confirmed_flush_lsn` never passes
//! a change that is not durable in the log, and after a restart every change arrives (at
//! least once; duplicates only inside the window the slot had not acknowledged).
//!
//! Tests in this file run one at a time (a lock): each drives a real Postgres and a real
//! `weir serve` hard, and the machines that run them have two cores.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use weir_e2e::cdc::tail::{Rec, TIMEOUT, Tail, lsn_now, serial};
use weir_e2e::cdc::{confirmed_flush, connector_config, deploy, serve};
use weir_e2e::pg::{PgOptions, PgServer};
use weir_e2e::{RestApi, Served, Workdir, wait_for};

/// Postgres with `fsync=off`: these tests crash weir (or restart Postgres cleanly, or
/// crash it without an OS crash), never the machine, so Postgres' own fsync does not matter.
fn server() -> PgServer {
    PgServer::start(PgOptions::new().set("fsync", "off")).expect("start postgres")
}

/// How many records carry each key id, among the records with `op`.
fn counts(recs: &[Rec], op: &str) -> BTreeMap<i64, usize> {
    let mut m = BTreeMap::new();
    for r in recs.iter().filter(|r| r.op == op) {
        if let Some(id) = r.id {
            *m.entry(id).or_insert(0) += 1;
        }
    }
    m
}

/// SIGKILL to `weir serve` (no shutdown, no final flush or commit), and reaps it.
fn kill9(served: Served) {
    let status = Command::new("kill")
        .args(["-9", &served.pid().to_string()])
        .status()
        .expect("run kill");
    assert!(status.success(), "kill -9 weir failed");
    drop(served);
}

/// Waits until no process holds `slot` (the walsender of a killed weir exits once it sees
/// the socket closed).
fn wait_slot_free(pg: &PgServer, db: &str, slot: &str) {
    let sql = format!("SELECT active FROM pg_replication_slots WHERE slot_name = '{slot}'");
    wait_for(
        &format!("slot {slot} to be released"),
        Duration::from_secs(30),
        || {
            pg.sql_db(db, &sql)
                .ok()
                .and_then(|r| r.first().and_then(|r| r[0].clone()))
                .as_deref()
                == Some("f")
        },
        || format!("{:?}", pg.sql_db(db, "SELECT * FROM pg_stat_replication")),
    );
}

/// The first column (an integer key) of every insert the slot still holds past its
/// `confirmed_flush_lsn` (what a restarted reader would receive again), from pgoutput's
/// binary Insert messages: 'I', relation oid (4), 'N', column count (2), then the first
/// column: kind 't', length (4), text. Also checks the count with the plain `count(*)`.
fn unacknowledged_inserts(pg: &PgServer, db: &str, slot: &str, publication: &str) -> Vec<i64> {
    let changes = format!(
        "pg_logical_slot_peek_binary_changes('{slot}', NULL, NULL, 'proto_version', '1', \
         'publication_names', '{publication}')"
    );
    let count: usize = pg
        .sql_db(
            db,
            &format!("SELECT count(*) FROM {changes} WHERE substring(data from 1 for 1) = 'I'"),
        )
        .expect("peek the slot")[0][0]
        .as_deref()
        .and_then(|c| c.parse().ok())
        .expect("a count");
    let ids: Vec<i64> = pg
        .sql_db(
            db,
            &format!(
                "SELECT convert_from(substring(data from 14 for (get_byte(data, 9) << 24) \
                 | (get_byte(data, 10) << 16) | (get_byte(data, 11) << 8) | get_byte(data, 12)), \
                 'UTF8')::bigint FROM {changes} WHERE substring(data from 1 for 1) = 'I'"
            ),
        )
        .expect("peek the slot's inserts")
        .into_iter()
        .map(|r| {
            r[0].as_deref()
                .and_then(|v| v.parse().ok())
                .expect("an integer id")
        })
        .collect();
    assert_eq!(ids.len(), count, "the two peeks disagree");
    ids
}

/// A procedure that inserts rows `a..=b` of `t`, each in its own transaction, pausing
/// `pause` seconds every 100 rows so a reader keeps up with it for a while.
const FILL: &str = "CREATE PROCEDURE fill(a int, b int, pause float8) LANGUAGE plpgsql AS $$
BEGIN
  FOR i IN a..b LOOP
    INSERT INTO t VALUES (i, 'row ' || i);
    COMMIT;
    IF i % 100 = 0 AND pause > 0 THEN PERFORM pg_sleep(pause); END IF;
  END LOOP;
END $$;";

fn setup_stream_table(pg: &PgServer, db: &str) {
    pg.sql(&format!("CREATE DATABASE {db}")).expect("create db");
    pg.sql_db(db, "CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL)")
        .expect("table");
    pg.sql_db(db, FILL).expect("procedure");
}

// ---------------------------------------------------------------------------------------

/// weir is killed with SIGKILL while a writer commits 20k one-row transactions. Before the
/// restart, every id missing from the log must still be in the slot (past its
/// confirmed_flush_lsn); after the restart every id arrives.
#[test]
fn kill9_mid_stream_loses_nothing_the_slot_acknowledged() {
    let _serial = serial();
    const N: i64 = 20_000;
    let pg = server();
    setup_stream_table(&pg, "dur");
    let w = Workdir::new();
    let served = serve(&w);
    let rest = RestApi::new(served.rest());
    deploy(&rest, "dur", &connector_config(&pg, "dur", "dur", &[]));
    let mut tail = Tail::new("dur.public.t");
    pg.sql_db("dur", "INSERT INTO t VALUES (0, 'warm-up')")
        .expect("warm-up row");
    tail.wait(&w, &served, "the warm-up row", TIMEOUT, |r| !r.is_empty());
    let warm = lsn_now(&pg, "dur");
    wait_for(
        "the slot to be acknowledged past the warm-up row",
        TIMEOUT,
        || confirmed_flush(&pg, "dur", "dur_slot").is_some_and(|l| l >= warm),
        || format!("{:?} < {warm}", confirmed_flush(&pg, "dur", "dur_slot")),
    );

    let (flushed, peeked, survivors) = std::thread::scope(|s| {
        let writer = s.spawn(|| pg.sql_db("dur", &format!("CALL fill(1, {N}, 0.02)")));
        tail.wait(&w, &served, "a few thousand streamed rows", TIMEOUT, |r| {
            r.len() > 3_000
        });
        kill9(served);
        writer
            .join()
            .expect("writer thread")
            .expect("the writer's inserts");
        // weir is dead: the log holds what it held at the kill, and the slot is free.
        let mut survivors = Tail::new("dur.public.t");
        survivors.poll(&w, None);
        wait_slot_free(&pg, "dur", "dur_slot");
        let flushed = confirmed_flush(&pg, "dur", "dur_slot").expect("confirmed_flush_lsn");
        let peeked = unacknowledged_inserts(&pg, "dur", "dur_slot", "dur_pub");
        (flushed, peeked, survivors.recs)
    });
    // A row committed before the slot's consistent point arrives as a read, after it as a
    // create: either proves it is in the log.
    let in_log: BTreeSet<i64> = survivors
        .iter()
        .filter(|r| r.op == "c" || r.op == "r")
        .filter_map(|r| r.id)
        .collect();
    let reads_before = survivors.iter().filter(|r| r.op == "r").count();
    let missing: Vec<i64> = (1..=N).filter(|id| !in_log.contains(id)).collect();
    let peeked_set: BTreeSet<i64> = peeked.iter().copied().collect();
    eprintln!(
        "at the kill: {} of {N} rows in the log, confirmed_flush_lsn {flushed:X}, {} inserts \
         unacknowledged",
        in_log.iter().filter(|id| **id >= 1).count(),
        peeked.len()
    );
    assert!(
        !missing.is_empty(),
        "weir was killed after the writer finished: the test did not kill it mid-stream"
    );
    assert!(
        missing.len() <= peeked.len(),
        "{} ids are missing from the log but only {} inserts are past the slot's \
         confirmed_flush_lsn {flushed:X}",
        missing.len(),
        peeked.len()
    );
    let lost: Vec<i64> = missing
        .iter()
        .filter(|id| !peeked_set.contains(id))
        .copied()
        .collect();
    assert!(
        lost.is_empty(),
        "the slot acknowledged {} changes that are not in the log (first ids {:?}): \
         confirmed_flush_lsn {flushed:X} passed records that were not durable",
        lost.len(),
        &lost[..lost.len().min(10)]
    );

    // Restart on the same data directory: the connector resumes and every row arrives.
    let served = serve(&w);
    let rest = RestApi::new(served.rest());
    rest.wait_state(TIMEOUT, "dur", "RUNNING");
    tail.recs.clear();
    tail.wait(&w, &served, "every id after the restart", TIMEOUT, |r| {
        let ids: BTreeSet<i64> = r
            .iter()
            .filter(|r| r.op == "c" || r.op == "r")
            .filter_map(|r| r.id)
            .collect();
        (1..=N).all(|id| ids.contains(&id))
    });
    let reads = tail.recs.iter().filter(|r| r.op == "r").count();
    assert_eq!(
        reads, reads_before,
        "the snapshot completed before the kill, yet the restart snapshotted again: the \
         committed offset was lost"
    );
    let mut per_id = counts(&tail.recs, "c");
    for (id, n) in counts(&tail.recs, "r") {
        *per_id.entry(id).or_insert(0) += n;
    }
    let dups: Vec<i64> = per_id
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(id, _)| *id)
        .collect();
    let extra: usize = per_id.values().map(|n| n - 1).sum();
    eprintln!(
        "after the restart: {} records, {extra} duplicates on {} ids",
        tail.recs.len(),
        dups.len()
    );
    let outside: Vec<i64> = dups
        .iter()
        .filter(|id| !peeked_set.contains(id))
        .copied()
        .collect();
    assert!(
        outside.is_empty(),
        "ids emitted again after the restart although the slot had acknowledged them \
         (the resume went back past the committed offset): {:?}",
        &outside[..outside.len().min(10)]
    );
    assert!(
        per_id.values().all(|n| *n <= 2),
        "an id was emitted more than twice"
    );
}

/// weir is killed with SIGKILL in the middle of a 300k-row snapshot read in chunks of 5000.
/// After the restart the snapshot goes on from its last durable chunk: every id arrives and
/// the two runs together read far less than the table twice.
#[test]
fn kill9_mid_snapshot_resumes_from_the_last_durable_chunk() {
    let _serial = serial();
    const ROWS: i64 = 300_000;
    let pg = server();
    pg.sql("CREATE DATABASE snap").expect("create db");
    pg.sql_db(
        "snap",
        &format!(
            "CREATE TABLE t (id int PRIMARY KEY, v text NOT NULL);
             INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, {ROWS}) g;"
        ),
    )
    .expect("table");
    let w = Workdir::new();
    let served = serve(&w);
    let rest = RestApi::new(served.rest());
    deploy(
        &rest,
        "snap",
        &connector_config(&pg, "snap", "snap", &[("snapshot.fetch.size", "5000")]),
    );
    let mut tail = Tail::new("snap.public.t");
    tail.wait(&w, &served, "the snapshot under way", TIMEOUT, |r| {
        r.len() >= 20_000
    });
    kill9(served);
    let mut first = Tail::new("snap.public.t");
    first.poll(&w, None);
    let first_reads = first.recs.iter().filter(|r| r.op == "r").count();
    eprintln!("at the kill: {first_reads} snapshot reads of {ROWS} in the log");
    assert!(
        (first_reads as i64) < ROWS,
        "the snapshot finished before the kill: the test did not kill weir mid-snapshot"
    );
    // Changes while weir is down and after the restart are streamed once the snapshot ends.
    pg.sql_db(
        "snap",
        &format!("INSERT INTO t VALUES ({}, 'down')", ROWS + 1),
    )
    .expect("insert while down");

    let served = serve(&w);
    let rest = RestApi::new(served.rest());
    rest.wait_state(TIMEOUT, "snap", "RUNNING");
    pg.sql_db(
        "snap",
        &format!("INSERT INTO t VALUES ({}, 'after')", ROWS + 2),
    )
    .expect("insert after the restart");
    tail.recs.clear();
    // Every id, and the streamed create of the row inserted after the restart (the resumed
    // snapshot may read it first; streaming delivers it once the snapshot ends).
    let all = |r: &[Rec]| {
        let ids: BTreeSet<i64> = r.iter().filter_map(|r| r.id).collect();
        ids.len() as i64 == ROWS + 2 && r.iter().any(|r| r.id == Some(ROWS + 2) && r.op == "c")
    };
    tail.wait(
        &w,
        &served,
        "every id and the streamed insert",
        TIMEOUT,
        all,
    );
    let ids: BTreeSet<i64> = tail.recs.iter().filter_map(|r| r.id).collect();
    assert_eq!(
        ids,
        (1..=ROWS + 2).collect::<BTreeSet<i64>>(),
        "ids in the topic"
    );
    let reads = tail.recs.iter().filter(|r| r.op == "r").count();
    let second_reads = reads - first_reads;
    eprintln!(
        "after the restart: {reads} snapshot reads in all, {second_reads} by the second run \
         ({} read twice)",
        reads as i64 - ROWS
    );
    assert!(
        (reads as i64) < 2 * ROWS,
        "{reads} snapshot reads for {ROWS} rows: the snapshot was read again from the start"
    );
    assert!(
        (second_reads as i64) < ROWS,
        "the second run read {second_reads} rows of {ROWS}: it did not resume"
    );
    // Rows read before the kill and durable are not read again: the second run starts at
    // most one uncommitted stretch before the end of what the first run wrote.
    assert!(
        second_reads as i64 <= ROWS + 2 - first_reads as i64 + 50_000,
        "the second run re-read {} rows the first run had written",
        second_reads as i64 - (ROWS + 2 - first_reads as i64)
    );
    let after: Vec<&Rec> = tail
        .recs
        .iter()
        .filter(|r| r.id == Some(ROWS + 2))
        .collect();
    assert!(
        after.iter().any(|r| r.op == "c"),
        "the row inserted after the restart was not streamed: {after:?}"
    );
}

/// Postgres restarted under a running connector, cleanly (fast shutdown) and by a crash
/// (SIGKILL to every Postgres process): the connector reconnects with backoff, comes back
/// to RUNNING, and every row committed before, during and after arrives.
#[test]
fn postgres_restart_under_the_connector_loses_nothing() {
    let _serial = serial();
    let mut pg = server();
    setup_stream_table(&pg, "rs");
    let w = Workdir::new();
    let served = serve(&w);
    let rest = RestApi::new(served.rest());
    deploy(&rest, "rs", &connector_config(&pg, "rs", "rs", &[]));
    let mut tail = Tail::new("rs.public.t");
    pg.sql_db("rs", "INSERT INTO t VALUES (0, 'warm-up')")
        .expect("warm-up row");
    tail.wait(&w, &served, "the warm-up row", TIMEOUT, |r| !r.is_empty());

    let mut next = 1;
    let mut batch = |pg: &PgServer, n: i64| {
        pg.sql_db("rs", &format!("CALL fill({next}, {}, 0)", next + n - 1))
            .expect("batch");
        next += n;
        next - 1
    };
    // A FAILED task never comes back by itself (Kafka Connect does not restart it): fail
    // at once with its trace instead of waiting for rows that cannot come.
    let has_all = |upto: i64| {
        let rest = &rest;
        move |r: &[Rec]| {
            let status = rest.get("/connectors/rs/status").json();
            assert_ne!(
                status["tasks"][0]["state"], "FAILED",
                "the task failed instead of reconnecting: {}",
                status["tasks"][0]["trace"]
            );
            let ids: BTreeSet<i64> = r
                .iter()
                .filter(|r| r.op == "c" || r.op == "r")
                .filter_map(|r| r.id)
                .collect();
            (1..=upto).all(|id| ids.contains(&id))
        }
    };

    // A clean restart right after a burst the connector may not have read yet.
    batch(&pg, 500);
    pg.restart().expect("restart postgres");
    let upto = batch(&pg, 500);
    tail.wait(
        &w,
        &served,
        "every row around the clean restart",
        TIMEOUT,
        has_all(upto),
    );
    rest.wait_state(TIMEOUT, "rs", "RUNNING");

    // A crash: Postgres recovers, the slot restarts from its last saved position.
    batch(&pg, 500);
    pg.kill9().expect("kill postgres");
    std::thread::sleep(Duration::from_secs(1));
    pg.restart().expect("start postgres after the crash");
    let upto = batch(&pg, 500);
    tail.wait(
        &w,
        &served,
        "every row around the crash",
        TIMEOUT,
        has_all(upto),
    );
    rest.wait_state(TIMEOUT, "rs", "RUNNING");

    // Still streaming, and the slot is acknowledged past everything.
    let upto = batch(&pg, 100);
    tail.wait(
        &w,
        &served,
        "rows after both restarts",
        TIMEOUT,
        has_all(upto),
    );
    let end = lsn_now(&pg, "rs");
    wait_for(
        "the slot to be acknowledged past the last row",
        TIMEOUT,
        || confirmed_flush(&pg, "rs", "rs_slot").is_some_and(|l| l >= end),
        || format!("{:?} < {end}", confirmed_flush(&pg, "rs", "rs_slot")),
    );
    let per_id = counts(&tail.recs, "c");
    let extra: usize = per_id.values().map(|n| n - 1).sum();
    eprintln!("{} records, {extra} duplicates", tail.recs.len());
}
