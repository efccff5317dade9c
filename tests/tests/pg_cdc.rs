//! The Postgres CDC source end to end: a real Postgres 15, `weir serve`, a Debezium config
//! posted to the REST API, and the events read back through the Kafka port.

use std::time::Duration;

use serde_json::json;
use weir_e2e::cdc::{self, confirmed_flush, connector_config, deploy, wait_events, wait_failed};
use weir_e2e::pg::{PgAuth, PgOptions, PgServer};
use weir_e2e::{RestApi, Workdir};

fn server(opts: PgOptions) -> PgServer {
    PgServer::start(opts).expect("start postgres")
}

const SCHEMA: &str = "CREATE DATABASE shop;";
const TABLES: &str = "CREATE TABLE customers (id serial PRIMARY KEY, name text NOT NULL, email varchar(100));
INSERT INTO customers (name, email) VALUES ('Anne', 'anne@example.com'), ('Bob', NULL), ('Cid', 'cid@example.com');
CREATE TABLE notes (body text);";

#[test]
fn snapshot_then_streaming_emit_debezium_events() {
    let pg = server(PgOptions::new());
    pg.sql(SCHEMA).expect("create db");
    pg.sql_db("shop", TABLES).expect("tables");
    let w = Workdir::new();
    let served = cdc::serve(&w);
    let rest = RestApi::new(served.rest());
    deploy(&rest, "shop", &connector_config(&pg, "shop", "shop", &[]));

    // The snapshot: three reads, marked first .. last.
    let snap = wait_events(&w, &served, "shop.public.customers", 3);
    let ops: Vec<_> = snap.iter().map(|e| e.op().unwrap_or("?")).collect();
    assert_eq!(ops, ["r", "r", "r"]);
    let marks: Vec<_> = snap
        .iter()
        .map(|e| {
            e.payload()["source"]["snapshot"]
                .as_str()
                .unwrap_or("?")
                .to_string()
        })
        .collect();
    assert_eq!(marks, ["first", "true", "last"], "snapshot markers");
    let first = &snap[0];
    assert_eq!(first.key, json!({"id": 1}));
    assert_eq!(
        first.payload()["after"],
        json!({"id": 1, "name": "Anne", "email": "anne@example.com"})
    );
    assert_eq!(first.payload()["before"], serde_json::Value::Null);
    let source = &first.payload()["source"];
    assert_eq!(source["connector"], "postgresql");
    assert_eq!(source["name"], "shop");
    assert_eq!(source["db"], "shop");
    assert_eq!(source["schema"], "public");
    assert_eq!(source["table"], "customers");
    let fields = first.field_order();
    assert_eq!(
        fields,
        [
            "before",
            "after",
            "source",
            "op",
            "ts_ms",
            "ts_us",
            "ts_ns",
            "transaction"
        ],
        "envelope field order"
    );

    // Streaming: create, update, delete (+ tombstone), in commit order.
    pg.sql_db(
        "shop",
        "INSERT INTO customers (name) VALUES ('Dee');
         UPDATE customers SET email = 'bob@example.com' WHERE id = 2;
         DELETE FROM customers WHERE id = 3;
         INSERT INTO notes VALUES ('no key');",
    )
    .expect("changes");
    let all = wait_events(&w, &served, "shop.public.customers", 3 + 4);
    let streamed = &all[3..];
    let ops: Vec<_> = streamed.iter().map(|e| e.op()).collect();
    assert_eq!(ops, [Some("c"), Some("u"), Some("d"), None], "{streamed:?}");
    assert_eq!(streamed[0].payload()["after"]["name"], "Dee");
    assert_eq!(streamed[1].payload()["after"]["email"], "bob@example.com");
    assert_eq!(streamed[1].payload()["source"]["snapshot"], "false");
    assert!(streamed[1].payload()["source"]["lsn"].as_u64().is_some());
    assert!(streamed[1].payload()["source"]["txId"].as_u64().is_some());
    assert_eq!(streamed[2].payload()["before"]["id"], 3);
    assert_eq!(streamed[2].payload()["after"], serde_json::Value::Null);
    assert_eq!(
        streamed[3].key,
        json!({"id": 3}),
        "the tombstone keeps the key"
    );
    assert!(streamed[3].value.is_null(), "tombstone");
    // A table without a primary key: null key.
    let notes = wait_events(&w, &served, "shop.public.notes", 1);
    assert!(notes[0].key.is_null());
    assert_eq!(notes[0].payload()["after"]["body"], "no key");

    // The slot is acknowledged past the streamed changes once their offsets are durable.
    let delete_lsn = streamed[2].payload()["source"]["lsn"]
        .as_u64()
        .expect("lsn");
    weir_e2e::wait_for(
        "the slot to be acknowledged past the streamed changes",
        Duration::from_secs(30),
        || confirmed_flush(&pg, "shop", "shop_slot").is_some_and(|l| l > delete_lsn),
        || format!("{:?}", confirmed_flush(&pg, "shop", "shop_slot")),
    );
}

#[test]
fn bad_setups_fail_the_task_with_a_sentence() {
    let pg = server(PgOptions::new().role("weir", "s3cret", PgAuth::ScramSha256));
    pg.sql(SCHEMA).expect("create db");
    pg.sql_db("shop", TABLES).expect("tables");
    pg.sql("CREATE ROLE plain LOGIN PASSWORD 'pw'")
        .expect("role");
    let w = Workdir::new();
    let served = cdc::serve(&w);
    let rest = RestApi::new(served.rest());
    let post = |name: &str, extra: &[(&str, &str)]| {
        let config = connector_config(&pg, "shop", name, extra);
        let r = rest.send(
            "POST",
            "/connectors",
            &json!({"name": name, "config": config}),
        );
        assert_eq!(r.status, 201, "{}", r.body);
        wait_failed(&rest, name)
    };
    let trace = post(
        "badpw",
        &[("database.user", "weir"), ("database.password", "wrong")],
    );
    assert!(trace.contains("password authentication failed"), "{trace}");
    assert!(!trace.contains("wrong"), "the password leaked: {trace}");
    let trace = post(
        "noprivs",
        &[("database.user", "plain"), ("database.password", "pw")],
    );
    assert!(trace.contains("REPLICATION"), "{trace}");
    let trace = post("notable", &[("table.include.list", "public.nope")]);
    assert!(trace.contains("public.nope"), "{trace}");

    // A slot held by another live connection: the message names its PID.
    pg.sql_db(
        "shop",
        "SELECT pg_create_logical_replication_slot('held', 'pgoutput')",
    )
    .expect("slot");
    let mut holder = std::process::Command::new(weir_e2e::pg::pg_bin("pg_recvlogical"));
    holder.args([
        "-h",
        pg.host(),
        "-p",
        &pg.port().to_string(),
        "-U",
        "postgres",
        "-d",
        "shop",
        "--slot",
        "held",
        "--start",
        "-o",
        "proto_version=1",
        "-o",
        "publication_names=x",
        "-f",
        "/dev/null",
    ]);
    let mut holder = holder.spawn().expect("pg_recvlogical");
    std::thread::sleep(Duration::from_millis(500));
    let trace = post(
        "inuse",
        &[
            ("slot.name", "held"),
            ("slot.max.retries", "1"),
            ("slot.retry.delay.ms", "100"),
            ("snapshot.mode", "no_data"),
        ],
    );
    let _ = holder.kill();
    let _ = holder.wait();
    assert!(trace.contains("in use") && trace.contains("PID"), "{trace}");
    served.stop();

    // wal_level=replica: the message says how to fix it.
    let replica = server(PgOptions::new().set("wal_level", "replica"));
    replica.sql(SCHEMA).expect("create db");
    let w = Workdir::new();
    let served = cdc::serve(&w);
    let rest = RestApi::new(served.rest());
    let config = connector_config(&replica, "shop", "walrep", &[]);
    let r = rest.send(
        "POST",
        "/connectors",
        &json!({"name": "walrep", "config": config}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let trace = wait_failed(&rest, "walrep");
    assert!(trace.contains("wal_level=logical"), "{trace}");
    // Nothing was written for the failed connectors.
    assert!(cdc::events(&w, &served, "walrep.public.customers").is_empty());
}
