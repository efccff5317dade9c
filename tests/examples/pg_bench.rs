//! Benchmark of the Postgres CDC source through the real binary, against Postgres's own
//! tools measured in the same run on the same data:
//!
//! - (a) baseline: `pg_recvlogical` draining N inserted rows from a fresh pgoutput slot
//!   to /dev/null, up to the WAL insert position taken after the inserts;
//! - (b) weir: the Debezium-compatible source (`snapshot.mode=no_data`) streaming the same
//!   WAL from its own slot, created at the same point, into the embedded log, until the
//!   topic's log end (`weir topics describe --bootstrap`) reaches N; ratio to (a);
//! - (c) latency from commit to record in the log at a fixed rate of single-row
//!   transactions (`pgbench -R`), read back by `kcat` following the topic, with
//!   `pg_recvlogical` (test_decoding) following its own slot at the same time as reference;
//! - (d) the initial snapshot of the N-row table against `COPY t TO STDOUT` via psql;
//! - (e) weir's RSS during (b).
//!
//! ```sh
//! cargo build --release --bins && cargo run --release -p weir-e2e --example pg_bench
//! ```
//! Options: `--rows N` (default 1,000,000), `--rate N` changes/s for (c) (default 10,000),
//! `--secs N` for (c) (default 10), `--flush-ms N` the connectors' offset.flush.interval.ms
//! (default 1000: the slot is acknowledged about every second), `--baseline-only` (runs
//! only (a) and the COPY of (d)).

use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use weir_e2e::bench::{
    Fill, Follower, POLL, STALL, arg, cpu_secs, insert_in_transactions, mb_per_s, output, per_s,
    percentile, pg_client, psql, rss_mib, scalar, start_postgres, timed, wait_records,
};
use weir_e2e::cdc::{connector_config, deploy};
use weir_e2e::pg::PgServer;
use weir_e2e::{RestApi, Served, Workdir, weir_bin};

const DB: &str = "bench";
const PUBLICATION: &str = "bench_pub";
const PREFIX: &str = "bench";
const ROWS_PER_TXN: u64 = 1000;
/// Topic config of the benchmark's topics (see [`create_topic`]).
const TOPIC_CONFIG: &str = "max.message.bytes=16777216";

/// The database after the inserts: the WAL both consumers read.
struct Data {
    rows: u64,
    start_lsn: String,
    end_lsn: String,
    wal_bytes: u64,
    table_bytes: u64,
}

/// Creates the tables, the publication and both slots (back to back, before any change),
/// then inserts `rows` rows of about 100 bytes in transactions of 1000 rows.
fn prepare(pg: &PgServer, rows: u64) -> Data {
    pg.sql(&format!("CREATE DATABASE {DB}")).expect("create db");
    pg.sql_db(
        DB,
        &format!(
            "CREATE TABLE t (id bigint PRIMARY KEY, payload text NOT NULL);
             CREATE TABLE lat (id bigserial PRIMARY KEY,
                 ts bigint NOT NULL DEFAULT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint,
                 pad text);
             CREATE PUBLICATION {PUBLICATION} FOR TABLE t, lat;
             SELECT pg_create_logical_replication_slot('base_slot', 'pgoutput');
             SELECT pg_create_logical_replication_slot('weir_slot', 'pgoutput');"
        ),
    )
    .expect("schema and slots");
    let start_lsn = scalar(
        pg,
        DB,
        "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = 'base_slot'",
    );
    let started = Instant::now();
    insert_in_transactions(pg, DB, rows, ROWS_PER_TXN, |a, b| {
        format!(
            "INSERT INTO t SELECT g, substr(md5(g::text) || md5((g + 1)::text) || \
             md5((g + 2)::text), 1, 88) FROM generate_series({a}, {b}) g"
        )
    });
    let inserted = started.elapsed();
    pg.sql_db(DB, "CHECKPOINT; VACUUM ANALYZE t")
        .expect("checkpoint");
    let end_lsn = scalar(pg, DB, "SELECT pg_current_wal_insert_lsn()");
    let wal_bytes: u64 = scalar(
        pg,
        DB,
        &format!("SELECT '{end_lsn}'::pg_lsn - '{start_lsn}'"),
    )
    .parse()
    .expect("WAL bytes");
    let table_bytes: u64 = scalar(pg, DB, "SELECT pg_relation_size('t')")
        .parse()
        .expect("table bytes");
    let avg: String = scalar(pg, DB, "SELECT round(avg(pg_column_size(t.*)), 1) FROM t");
    println!(
        "data: {rows} rows ({avg} B per row as stored) in transactions of {ROWS_PER_TXN}, \
         inserted in {:.1} s; WAL {start_lsn} .. {end_lsn} = {:.1} MB; table {:.1} MB",
        inserted.as_secs_f64(),
        wal_bytes as f64 / 1e6,
        table_bytes as f64 / 1e6
    );
    Data {
        rows,
        start_lsn,
        end_lsn,
        wal_bytes,
        table_bytes,
    }
}

/// (a): pg_recvlogical from `base_slot` to /dev/null until the end LSN.
fn baseline_stream(pg: &PgServer, data: &Data) -> Duration {
    let mut cmd = pg_client(pg, "pg_recvlogical");
    cmd.args(["-d", DB, "-S", "base_slot", "--start", "--no-loop"])
        .args(["--endpos", &data.end_lsn, "-f", "/dev/null"])
        .args(["-o", "proto_version=1", "-o"])
        .arg(format!("publication_names={PUBLICATION}"));
    let took = timed("pg_recvlogical", cmd, Duration::from_secs(1200));
    println!(
        "(a) pg_recvlogical -> /dev/null   {:>9} changes in {:>6.2} s  {:>9.0} changes/s  {:>6.1} MB/s of WAL",
        data.rows,
        took.as_secs_f64(),
        per_s(data.rows, took),
        mb_per_s(data.wal_bytes, took)
    );
    took
}

/// (d) baseline: `COPY t TO STDOUT` through psql to /dev/null, best of two.
fn baseline_copy(pg: &PgServer, data: &Data) -> Duration {
    let best = (0..2)
        .map(|_| {
            let mut cmd = psql(pg, DB);
            cmd.args(["-c", "COPY t TO STDOUT"]);
            timed("psql COPY", cmd, Duration::from_secs(1200))
        })
        .min()
        .unwrap_or_default();
    println!(
        "(d) baseline COPY t TO STDOUT (psql) {:>9} rows in {:>6.2} s  {:>9.0} rows/s  {:>6.1} MB/s of table",
        data.rows,
        best.as_secs_f64(),
        per_s(data.rows, best),
        mb_per_s(data.table_bytes, best)
    );
    best
}

/// Deploys a connector and waits until `topic` holds `n` records; timed from the POST.
fn run_connector(
    w: &Workdir,
    served: &Served,
    name: &str,
    config: &Value,
    topic: &str,
    n: u64,
) -> Fill {
    let rest = RestApi::new(served.rest());
    let started = Instant::now();
    deploy(&rest, name, config);
    let running = started.elapsed();
    let mut fill = wait_records(w, &served.bootstrap(), topic, n, served.pid(), POLL, STALL)
        .unwrap_or_else(|count| {
            let log = served.log_so_far();
            let tail = log[log.len().saturating_sub(40)..].join("\n");
            let status = rest.get(&format!("/connectors/{name}/status")).body;
            panic!("{topic}: stuck at {count} of {n} records for {STALL:?}\n{status}\nweir log:\n{tail}")
        });
    fill.took += running;
    fill.first = fill.first.map(|f| f + running);
    fill
}

/// (b): the source streaming the same WAL from `weir_slot`.
fn weir_stream(
    w: &Workdir,
    served: &Served,
    pg: &PgServer,
    data: &Data,
    base: Duration,
    flush_ms: &str,
) -> f64 {
    let config = connector_config(
        pg,
        DB,
        PREFIX,
        &[
            ("slot.name", "weir_slot"),
            ("publication.name", PUBLICATION),
            ("publication.autocreate.mode", "disabled"),
            ("snapshot.mode", "no_data"),
            ("table.include.list", "public.t,public.lat"),
            ("offset.flush.interval.ms", flush_ms),
        ],
    );
    let topic = format!("{PREFIX}.public.t");
    let fill = run_connector(w, served, PREFIX, &config, &topic, data.rows);
    let took = fill.took;
    let walsender = scalar(
        pg,
        DB,
        "SELECT coalesce(active_pid, 0) FROM pg_replication_slots WHERE slot_name = 'weir_slot'",
    );
    let walsender_cpu = walsender.parse::<u32>().map_or(0.0, cpu_secs);
    let ratio = base.as_secs_f64() / took.as_secs_f64();
    println!(
        "(b) weir source -> log            {:>9} changes in {:>6.2} s  {:>9.0} changes/s  {:>6.1} MB/s of WAL  ratio to (a) {ratio:.2}x",
        data.rows,
        took.as_secs_f64(),
        per_s(data.rows, took),
        mb_per_s(data.wal_bytes, took),
    );
    if let Some(first) = fill.first {
        let rest = took.saturating_sub(first);
        println!(
            "    POST -> first record {:.2} s; first record -> last {:.2} s ({:.0} changes/s); \
             CPU: weir {:.1} s, its walsender {walsender_cpu:.1} s",
            first.as_secs_f64(),
            rest.as_secs_f64(),
            per_s(data.rows, rest),
            fill.cpu
        );
    }
    println!(
        "(e) weir RSS during (b): peak sampled {:.1} MiB, VmHWM {:.1} MiB",
        fill.peak_rss,
        rss_mib(served.pid(), "VmHWM:")
    );
    ratio
}

/// (c): pgbench commits single-row transactions at `rate`/s for `secs` s into `lat`;
/// kcat follows the topic and each line is stamped on arrival. Returns p99 in ms. The
/// reference in the same run: pg_recvlogical with test_decoding (text output) on a slot of
/// its own, its lines stamped the same way: Postgres's own decoding latency.
fn latency(w: &Workdir, served: &Served, pg: &PgServer, rate: u64, secs: u64) -> f64 {
    let topic = format!("{PREFIX}.public.lat");
    let mut kcat = Command::new("kcat");
    kcat.args(["-C", "-b", &served.bootstrap(), "-t", &topic, "-p", "0"])
        .args(["-o", "beginning", "-u", "-q", "-f", "%T\\t%s\\n"])
        .args([
            "-X",
            "fetch.wait.max.ms=5",
            "-X",
            "fetch.error.backoff.ms=5",
        ]);
    let kcat = Follower::spawn("kcat (apt install kcat)", kcat);
    pg.sql_db(
        DB,
        "SELECT pg_create_logical_replication_slot('lat_slot', 'test_decoding')",
    )
    .expect("test_decoding slot");
    let mut recv = pg_client(pg, "pg_recvlogical");
    recv.args(["-d", DB, "-S", "lat_slot", "--start", "-f", "-", "-F", "0"]);
    let reference = Follower::spawn("pg_recvlogical", recv);
    std::thread::sleep(Duration::from_secs(2));

    let script = w.dir.path().join("lat.sql");
    std::fs::write(&script, "INSERT INTO lat (pad) VALUES (repeat('x', 80));\n").expect("script");
    let mut bench = pg_client(pg, "pgbench");
    bench
        .arg("-n")
        .args([
            "-R",
            &rate.to_string(),
            "-T",
            &secs.to_string(),
            "-c",
            "4",
            "-j",
            "1",
        ])
        .arg("-f")
        .arg(&script)
        .arg(DB);
    let out = output(&mut bench);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tps = text
        .lines()
        .find(|l| l.starts_with("tps"))
        .unwrap_or("tps = ?")
        .to_string();
    let sent: usize = scalar(pg, DB, "SELECT count(*) FROM lat")
        .parse()
        .expect("count");
    let deadline = Instant::now() + Duration::from_secs(60);
    while (kcat.count("{") < sent || reference.count("INSERT") < sent) && Instant::now() < deadline
    {
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = kcat.stop();
    let reference: Vec<f64> = reference
        .stop()
        .iter()
        .filter_map(|(at, line)| {
            let ts = line.split_once("ts[bigint]:")?.1.split(' ').next()?;
            Some((at - ts.parse::<i64>().ok()?) as f64 / 1e3)
        })
        .collect();
    let _ = pg.sql_db(DB, "SELECT pg_drop_replication_slot('lat_slot')");

    // From the row's clock_timestamp() (just before commit) and from the commit record's
    // own timestamp (source.ts_us), to the arrival at the consumer; and the split at the
    // record's Kafka timestamp, which the worker stamps (ms) when it converts the record.
    let (mut from_row, mut from_commit) = (Vec::new(), Vec::new());
    let (mut to_worker, mut from_worker) = (Vec::new(), Vec::new());
    for (at, line) in &got {
        let (kafka_ts, json) = line.split_once('\t').unwrap_or(("", line));
        let Ok(v) = serde_json::from_str::<Value>(json) else {
            continue;
        };
        let p = v.get("payload").unwrap_or(&v);
        if let Some(ts) = p["after"]["ts"].as_i64() {
            from_row.push((at - ts) as f64 / 1e3);
        }
        if let Some(ts) = p["source"]["ts_us"].as_i64() {
            from_commit.push((at - ts) as f64 / 1e3);
            if let Ok(k) = kafka_ts.parse::<i64>() {
                to_worker.push((k * 1000 - ts) as f64 / 1e3);
                from_worker.push((at - k * 1000) as f64 / 1e3);
            }
        }
    }
    println!(
        "(c) latency at {rate} changes/s for {secs} s (pgbench -R, 4 clients, {}): {} committed, {} received by weir, {} by the reference",
        tps.trim(),
        sent,
        got.len(),
        reference.len()
    );
    let mut p99 = f64::NAN;
    for (what, mut v) in [
        ("commit -> consumer, from row clock_timestamp()", from_row),
        ("commit -> consumer, from commit ts (ts_us)", from_commit),
        ("  of which commit -> worker (record ts, ms)", to_worker),
        ("  of which worker -> consumer", from_worker),
        ("reference: pg_recvlogical test_decoding", reference),
    ] {
        v.sort_by(f64::total_cmp);
        println!(
            "    {what:<46}: p50 {:>7.2} ms  p90 {:>7.2} ms  p99 {:>7.2} ms  max {:>8.2} ms",
            percentile(&v, 0.5),
            percentile(&v, 0.9),
            percentile(&v, 0.99),
            v.last().copied().unwrap_or(f64::NAN)
        );
        if p99.is_nan() {
            p99 = percentile(&v, 0.99);
        }
    }
    p99
}

/// (d): a second connector snapshots `t` (snapshot.mode=initial) into its own topic.
fn weir_snapshot(
    w: &Workdir,
    served: &Served,
    pg: &PgServer,
    data: &Data,
    copy: Duration,
    flush_ms: &str,
) -> f64 {
    let rest = RestApi::new(served.rest());
    let r = rest.call("DELETE", &format!("/connectors/{PREFIX}"), None);
    assert!(r.status < 300, "DELETE the streaming connector: {}", r.body);
    let config = connector_config(
        pg,
        DB,
        "snap",
        &[
            ("snapshot.mode", "initial"),
            ("table.include.list", "public.t"),
            ("publication.autocreate.mode", "filtered"),
            ("offset.flush.interval.ms", flush_ms),
        ],
    );
    let fill = run_connector(w, served, "snap", &config, "snap.public.t", data.rows);
    let ratio = copy.as_secs_f64() / fill.took.as_secs_f64();
    println!(
        "(d) weir snapshot -> log          {:>9} rows    in {:>6.2} s  {:>9.0} rows/s  {:>6.1} MB/s of table  ratio to COPY {ratio:.2}x  (weir CPU {:.1} s, RSS peak {:.1} MiB)",
        data.rows,
        fill.took.as_secs_f64(),
        per_s(data.rows, fill.took),
        mb_per_s(data.table_bytes, fill.took),
        fill.cpu,
        fill.peak_rss
    );
    ratio
}

fn create_topic(w: &Workdir, served: &Served, topic: &str) {
    let bootstrap = served.bootstrap();
    let args = ["topics", "create", topic, "--bootstrap", &bootstrap];
    w.ok(&[&args[..], &["--config", TOPIC_CONFIG]].concat(), b"");
}

fn verdict(ok: bool) -> &'static str {
    if ok { "PASS" } else { "BELOW" }
}

fn main() {
    let rows = arg("--rows", 1_000_000).max(1);
    let rate = arg("--rate", 10_000).max(1);
    let secs = arg("--secs", 10).max(1);
    let flush_ms = arg("--flush-ms", 1000).max(1).to_string();
    let baseline_only = std::env::args().any(|a| a == "--baseline-only");

    let pg = start_postgres();
    let data = prepare(&pg, rows);
    println!(
        "both slots start at {}; consumers read up to {}",
        data.start_lsn, data.end_lsn
    );

    let copy = baseline_copy(&pg, &data);
    let base = baseline_stream(&pg, &data);
    if baseline_only {
        return;
    }

    println!(
        "weir binary: {}; topics created with {TOPIC_CONFIG}; connectors: JsonConverter \
         without schemas, offset.flush.interval.ms={flush_ms}, other keys at their defaults",
        weir_bin().display()
    );
    let w = Workdir::new();
    let served = w.serve(&[]);
    println!("weir idle RSS {:.1} MiB", rss_mib(served.pid(), "VmRSS:"));
    // The topics exist up front: kcat follows the latency topic from offset 0, and the
    // source's batches of max.batch.size (2048) JSON records exceed the 1 MiB default
    // max.message.bytes (the worker does not split them yet; see BENCHMARKS.md).
    for topic in ["public.t", "public.lat"].map(|t| format!("{PREFIX}.{t}")) {
        create_topic(&w, &served, &topic);
    }
    create_topic(&w, &served, "snap.public.t");

    let stream_ratio = weir_stream(&w, &served, &pg, &data, base, &flush_ms);
    let stream_rate = per_s(rows, base) * stream_ratio;
    let p99 = latency(&w, &served, &pg, rate, secs);
    let snap_ratio = weir_snapshot(&w, &served, &pg, &data, copy, &flush_ms);
    let _ = served.stop();

    println!(
        "goal: streaming >= 0.9x pg_recvlogical: {stream_ratio:.2}x {}",
        verdict(stream_ratio >= 0.9)
    );
    println!(
        "goal: streaming >= 100k changes/s: {stream_rate:.0} {}",
        verdict(stream_rate >= 100_000.0)
    );
    println!(
        "goal: p99 commit -> log <= 20 ms at {rate}/s: {p99:.2} ms {}",
        verdict(p99 <= 20.0)
    );
    println!(
        "goal: snapshot >= 0.7x COPY: {snap_ratio:.2}x {}",
        verdict(snap_ratio >= 0.7)
    );
}
