//! Benchmark of the JDBC sink through the real binary: rows/s from the log into a real
//! PostgreSQL (upsert) against `COPY` of the same rows, and into a real MariaDB (upsert)
//! against multi-row `INSERT`s of the same rows by the `mariadb` client, each baseline
//! measured in the same run; plus the worker's CPU and RSS.
//!
//! ```sh
//! cargo build --release --bins && cargo run --release -p weir-e2e --example jdbc_bench
//! ```
//! Options: `--rows N` (default 200,000), `--poll N` records per `put`
//! (`consumer.override.max.poll.records`, default 500 as in Kafka).

use std::time::{Duration, Instant};

use serde_json::json;
use weir_connect_api::calendar;
use weir_e2e::bench::{arg, cpu_secs, per_s, produce_lines, psql, rss_mib, scalar, timed};
use weir_e2e::mariadb::MariaDb;
use weir_e2e::pg::{PgOptions, PgServer};
use weir_e2e::{RestApi, Served, Workdir};

const TOPIC: &str = "bench";

/// One record as the JsonConverter (schemas on) writes it.
fn record(i: u64) -> String {
    json!({
        "schema": {"type": "struct", "name": "bench.Value", "optional": false, "fields": [
            {"field": "id", "type": "int64", "optional": false},
            {"field": "name", "type": "string", "optional": true},
            {"field": "qty", "type": "int32", "optional": true},
            {"field": "price", "type": "double", "optional": true},
            {"field": "ts", "type": "int64", "optional": true,
             "name": "org.apache.kafka.connect.data.Timestamp", "version": 1},
        ]},
        "payload": {"id": i, "name": format!("customer-{i}"), "qty": i % 1000,
                    "price": (i % 10_000) as f64 / 4.0, "ts": 1_700_000_000_000_i64 + i as i64},
    })
    .to_string()
}

/// The same row as `COPY` reads CSV (`'` = "") or as an SQL `VALUES` tuple (`'` = "'").
fn row(i: u64, quote: &str) -> String {
    let price = (i % 10_000) as f64 / 4.0;
    let ts = timestamp(i);
    format!(
        "{i},{quote}customer-{i}{quote},{},{price},{quote}{ts}{quote}",
        i % 1000
    )
}

/// The record's `ts` (a Connect Timestamp) as the sink writes it: UTC wall-clock time.
fn timestamp(i: u64) -> String {
    let millis = 1_700_000_000_000 + i as i64;
    let (days, ms) = (millis.div_euclid(86_400_000), millis.rem_euclid(86_400_000));
    let (y, m, d) = calendar::civil_from_days(days);
    let secs = ms / 1000;
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02}.{:03}",
        secs / 3600,
        secs / 60 % 60,
        secs % 60,
        ms % 1000
    )
}

/// Deploys a sink named `name` and waits until `count()` reaches `rows`; the time taken,
/// weir's CPU seconds and peak RSS meanwhile.
fn sink(
    api: &RestApi,
    served: &Served,
    name: &str,
    config: serde_json::Value,
    rows: u64,
    count: impl Fn() -> u64,
) -> (Duration, f64, f64) {
    let cpu_before = cpu_secs(served.pid());
    let started = Instant::now();
    let r = api.send("PUT", &format!("/connectors/{name}/config"), &config);
    assert_eq!(r.status, 201, "{}", r.body);
    let mut peak = 0.0f64;
    let mut last = Instant::now();
    while count() < rows {
        peak = peak.max(rss_mib(served.pid(), "VmRSS:"));
        assert!(
            started.elapsed() < Duration::from_secs(900),
            "{name} did not finish"
        );
        if last.elapsed() > Duration::from_secs(10) {
            last = Instant::now();
            eprintln!(
                "  {name}: {} of {rows} rows after {:.0} s",
                count(),
                started.elapsed().as_secs_f64()
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (started.elapsed(), cpu_secs(served.pid()) - cpu_before, peak)
}

fn main() {
    let rows = arg("--rows", 200_000);
    let poll = arg("--poll", 500);
    let pg = PgServer::start(PgOptions::new().set("synchronous_commit", "off")).expect("postgres");
    let maria = MariaDb::start().expect("mariadb");
    let w = Workdir::new();
    let served = w.serve(&[]);
    let api = RestApi::new(served.rest());
    let bootstrap = served.bootstrap();
    w.ok(&["topics", "--bootstrap", &bootstrap, "create", TOPIC], b"");
    produce_lines(&w, &bootstrap, TOPIC, (0..rows).map(record));

    let common = json!({
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "topics": TOPIC, "insert.mode": "upsert", "pk.mode": "record_value", "pk.fields": "id",
        "auto.create": "true", "batch.size": "3000",
        "consumer.override.max.poll.records": poll.to_string(),
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    });
    let with = |extra: serde_json::Value| weir_e2e::with_keys(common.clone(), &extra);

    let pg_url = format!("jdbc:postgresql://{}:{}/postgres", pg.host(), pg.port());
    let count_pg = || {
        scalar(&pg, "postgres", "SELECT count(*) FROM bench")
            .parse()
            .unwrap_or(0)
    };
    let pg_count = || {
        if scalar(&pg, "postgres", "SELECT to_regclass('bench') IS NOT NULL") == "t" {
            count_pg()
        } else {
            0
        }
    };
    let (pg_took, pg_cpu, pg_rss) = sink(
        &api,
        &served,
        "to-postgres",
        with(json!({"connection.url": pg_url, "connection.user": "postgres"})),
        rows,
        pg_count,
    );

    // Baseline: COPY of the same rows into a table of the same definition.
    let file = tempfile::NamedTempFile::new().expect("csv");
    std::fs::write(
        file.path(),
        (0..rows).map(|i| row(i, "") + "\n").collect::<String>(),
    )
    .expect("write csv");
    pg.sql_db("postgres", "CREATE TABLE copied (LIKE bench INCLUDING ALL)")
        .expect("copy table");
    let mut copy = psql(&pg, "postgres");
    copy.args([
        "-c",
        &format!(
            "\\copy copied (id, name, qty, price, ts) FROM '{}' CSV",
            file.path().display()
        ),
    ]);
    let copy_took = timed("COPY", copy, Duration::from_secs(600));
    assert_eq!(
        scalar(&pg, "postgres", "SELECT count(*) FROM copied"),
        rows.to_string()
    );
    let same = scalar(
        &pg,
        "postgres",
        "SELECT count(*) FROM bench b JOIN copied c USING (id) WHERE (b.name, b.qty, b.price, b.ts) = (c.name, c.qty, c.price, c.ts)",
    );
    assert_eq!(
        same,
        rows.to_string(),
        "the sink wrote the same rows COPY did"
    );

    let maria_url = maria.url("weir");
    let maria_count = || {
        maria
            .sql("weir", "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'bench' AND table_schema = 'weir'")
            .ok()
            .filter(|r| r.first().and_then(|r| r.first()).cloned().flatten().as_deref() == Some("1"))
            .and_then(|_| maria.sql("weir", "SELECT COUNT(*) FROM bench").ok())
            .and_then(|r| r.first()?.first()?.as_deref()?.parse().ok())
            .unwrap_or(0)
    };
    let (maria_took, maria_cpu, maria_rss) = sink(
        &api,
        &served,
        "to-mariadb",
        with(json!({"connection.url": maria_url, "connection.user": "root"})),
        rows,
        maria_count,
    );

    // Baseline: the same rows as multi-row INSERTs of 500 rows, one transaction, by the
    // mariadb client.
    maria
        .execute("weir", "CREATE TABLE inserted LIKE bench")
        .expect("insert table");
    let mut script = String::from("SET autocommit = 0;\n");
    let ids: Vec<u64> = (0..rows).collect();
    for chunk in ids.chunks(500) {
        script.push_str("INSERT INTO inserted (id, name, qty, price, ts) VALUES ");
        script.push_str(
            &chunk
                .iter()
                .map(|i| format!("({})", row(*i, "'")))
                .collect::<Vec<_>>()
                .join(","),
        );
        script.push_str(";\n");
    }
    script.push_str("COMMIT;\n");
    let started = Instant::now();
    maria.execute("weir", &script).expect("insert baseline");
    let insert_took = started.elapsed();
    let same = maria
        .sql("weir", "SELECT COUNT(*) FROM bench b JOIN inserted c USING (id) WHERE b.name = c.name AND b.qty = c.qty AND b.price = c.price AND b.ts = c.ts")
        .expect("compare");
    assert_eq!(
        same[0][0].as_deref(),
        Some(rows.to_string().as_str()),
        "the sink wrote the same rows"
    );

    println!(
        "JDBC sink benchmark: {rows} rows (id, name, qty, price, ts), JSON with schemas, upsert by id, {poll} records per put"
    );
    println!(
        "  PostgreSQL sink (log -> upsert): {:9.0} rows/s ({:.2} s)",
        per_s(rows, pg_took),
        pg_took.as_secs_f64()
    );
    println!(
        "  PostgreSQL COPY (baseline):      {:9.0} rows/s ({:.2} s)",
        per_s(rows, copy_took),
        copy_took.as_secs_f64()
    );
    println!(
        "  ratio sink/COPY:                 {:9.2}x",
        copy_took.as_secs_f64() / pg_took.as_secs_f64()
    );
    println!(
        "  MariaDB sink (log -> upsert):    {:9.0} rows/s ({:.2} s)",
        per_s(rows, maria_took),
        maria_took.as_secs_f64()
    );
    println!(
        "  MariaDB multi-row INSERT:        {:9.0} rows/s ({:.2} s)",
        per_s(rows, insert_took),
        insert_took.as_secs_f64()
    );
    println!(
        "  ratio sink/INSERT:               {:9.2}x",
        insert_took.as_secs_f64() / maria_took.as_secs_f64()
    );
    println!(
        "  weir CPU: {pg_cpu:.2} s to PostgreSQL, {maria_cpu:.2} s to MariaDB ({:.1} / {:.1} us per row); RSS peak {:.1} MiB",
        pg_cpu * 1e6 / rows as f64,
        maria_cpu * 1e6 / rows as f64,
        pg_rss.max(maria_rss)
    );
    let (clean, _) = served.stop();
    assert!(clean, "weir did not stop cleanly");
}
