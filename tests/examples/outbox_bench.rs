//! Benchmark of the outbox event router: outbox rows -> routed topic, against the plain CDC
//! source on the same rows in the same run.
//!
//! One Postgres 15 server; N outbox rows (Debezium's layout, a jsonb payload of about 150
//! bytes, one aggregate type) inserted in transactions of 1,000 rows after creating one
//! pgoutput slot per pass, back to back, so every pass decodes the same WAL. Passes, in
//! turn, twice each: (p) the plain Debezium-compatible source into `<pass>.public.outbox`;
//! (e) the same with `EventRouter` and `table.expand.json.payload=true`; (r) the router
//! leaving the payload as text. Each pass is timed from the POST until the topic's log end
//! reaches N; the best of two is kept; CPU seconds of weir during each pass are printed too
//! (steadier than wall time on a shared machine).
//!
//! ```sh
//! cargo build --release --bins && cargo run --release -p weir-e2e --example outbox_bench
//! ```
//! Options: `--rows N` (default 200,000).

use std::time::{Duration, Instant};

use weir_e2e::bench::{
    POLL, STALL, arg, insert_in_transactions, per_s, scalar, start_postgres, wait_records,
};
use weir_e2e::cdc::{connector_config, deploy};
use weir_e2e::pg::PgServer;
use weir_e2e::{RestApi, Served, Workdir, weir_bin};

const DB: &str = "outbox_bench";
const PUBLICATION: &str = "outbox_pub";
const ROWS_PER_TXN: u64 = 1000;
/// The passes: slot / topic prefix, and the router keys (none for plain CDC).
const PASSES: [(&str, Option<&str>); 6] = [
    ("p1", None),
    ("e1", Some("true")),
    ("r1", Some("false")),
    ("p2", None),
    ("e2", Some("true")),
    ("r2", Some("false")),
];

fn prepare(pg: &PgServer, rows: u64) {
    pg.sql(&format!("CREATE DATABASE {DB}")).expect("create db");
    let slots: String = PASSES
        .iter()
        .map(|(p, _)| {
            format!("SELECT pg_create_logical_replication_slot('{p}_slot', 'pgoutput');\n")
        })
        .collect();
    pg.sql_db(
        DB,
        &format!(
            "CREATE TABLE outbox (id uuid PRIMARY KEY, aggregatetype varchar(255) NOT NULL,
                 aggregateid varchar(255) NOT NULL, type varchar(255) NOT NULL, payload jsonb);
             CREATE PUBLICATION {PUBLICATION} FOR TABLE outbox;
             {slots}"
        ),
    )
    .expect("schema and slots");
    let started = Instant::now();
    insert_in_transactions(pg, DB, rows, ROWS_PER_TXN, |a, b| {
        format!(
            "INSERT INTO outbox SELECT gen_random_uuid(), 'order', g::text, 'OrderCreated',
               jsonb_build_object('orderId', g, 'customer', 'customer-' || g, 'total', g * 1.5,
                 'lines', jsonb_build_array(jsonb_build_object('sku', 'A-' || g, 'qty', 2),
                                            jsonb_build_object('sku', 'B-' || g, 'qty', 1)))
             FROM generate_series({a}, {b}) g"
        )
    });
    let inserted = started.elapsed();
    // Nothing left for autovacuum or the checkpointer to do while the passes run.
    pg.sql_db(DB, "CHECKPOINT; VACUUM ANALYZE outbox")
        .expect("checkpoint");
    let avg = scalar(
        pg,
        DB,
        "SELECT round(avg(pg_column_size(payload)), 1) FROM outbox",
    );
    println!(
        "data: {rows} outbox rows (payload {avg} B as stored) in transactions of {ROWS_PER_TXN}, \
         inserted in {:.1} s",
        inserted.as_secs_f64()
    );
}

/// One pass: deploys the connector, waits for N records, removes the connector.
/// Returns (seconds, weir CPU seconds).
fn pass(
    w: &Workdir,
    served: &Served,
    pg: &PgServer,
    rows: u64,
    name: &str,
    expand: Option<&str>,
) -> (f64, f64) {
    let slot = format!("{name}_slot");
    let mut keys = vec![
        ("slot.name", slot.as_str()),
        ("publication.name", PUBLICATION),
        ("publication.autocreate.mode", "disabled"),
        ("snapshot.mode", "no_data"),
        ("table.include.list", "public.outbox"),
    ];
    let replacement = format!("{name}.${{routedByValue}}");
    if let Some(expand) = expand {
        keys.extend([
            ("transforms", "outbox"),
            (
                "transforms.outbox.type",
                "io.debezium.transforms.outbox.EventRouter",
            ),
            (
                "transforms.outbox.route.topic.replacement",
                replacement.as_str(),
            ),
            ("transforms.outbox.table.expand.json.payload", expand),
        ]);
    }
    let config = connector_config(pg, DB, name, &keys);
    let topic = match expand {
        Some(_) => format!("{name}.order"),
        None => format!("{name}.public.outbox"),
    };
    let rest = RestApi::new(served.rest());
    let started = Instant::now();
    deploy(&rest, name, &config);
    let fill = wait_records(
        w,
        &served.bootstrap(),
        &topic,
        rows,
        served.pid(),
        POLL,
        STALL,
    )
    .unwrap_or_else(|count| panic!("{topic}: stuck at {count} of {rows} records"));
    let took = started.elapsed().max(fill.took);
    let r = rest.call("DELETE", &format!("/connectors/{name}"), None);
    assert!(
        r.status == 204 || r.status == 200,
        "DELETE {name}: {}",
        r.body
    );
    let what = match expand {
        None => "plain CDC          ",
        Some("true") => "router, expand JSON",
        Some(_) => "router, text       ",
    };
    println!(
        "({name}) {what} {rows:>9} events in {:>6.2} s  {:>9.0} events/s  weir CPU {:>6.2} s",
        took.as_secs_f64(),
        per_s(rows, Duration::from_secs_f64(took.as_secs_f64())),
        fill.cpu
    );
    (took.as_secs_f64(), fill.cpu)
}

fn best(results: &[(&str, f64, f64)], prefix: char) -> (f64, f64) {
    let of: Vec<_> = results.iter().filter(|r| r.0.starts_with(prefix)).collect();
    let secs = of.iter().map(|r| r.1).fold(f64::INFINITY, f64::min);
    let cpu = of.iter().map(|r| r.2).fold(f64::INFINITY, f64::min);
    (secs, cpu)
}

fn main() {
    let rows = arg("--rows", 200_000).max(1);
    let pg = start_postgres();
    prepare(&pg, rows);
    println!(
        "weir binary: {}; JsonConverter without schemas, other keys at their defaults",
        weir_bin().display()
    );
    let w = Workdir::new();
    let served = w.serve(&[]);
    let mut results = Vec::new();
    for (name, expand) in PASSES {
        let (secs, cpu) = pass(&w, &served, &pg, rows, name, expand);
        results.push((name, secs, cpu));
    }
    let _ = served.stop();

    let (plain, plain_cpu) = best(&results, 'p');
    for (label, prefix) in [("router, expand JSON", 'e'), ("router, text", 'r')] {
        let (secs, cpu) = best(&results, prefix);
        println!(
            "{label}: {:.0} events/s vs plain CDC {:.0} events/s: cost {:+.1}% in time, {:+.1}% in weir CPU",
            rows as f64 / secs,
            rows as f64 / plain,
            (secs / plain - 1.0) * 100.0,
            (cpu / plain_cpu - 1.0) * 100.0
        );
    }
    let (expand, _) = best(&results, 'e');
    let cost = (expand / plain - 1.0) * 100.0;
    println!(
        "goal: router (expand JSON) costs < 10% of the plain CDC rate: {cost:+.1}% {}",
        if cost < 10.0 { "PASS" } else { "BELOW" }
    );
}
