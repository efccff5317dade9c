//! The JDBC sinks end to end: a real PostgreSQL source captured by weir's CDC connector,
//! applied by the JDBC sinks to a second real PostgreSQL (Debezium's class and keys) and
//! to a real MariaDB (Confluent's class and keys), each compared row for row with the
//! source; plus the failure paths (records a table cannot take, the worker killed mid-
//! workload, the target database down for a while).

use std::path::Path;
use std::time::Duration;

use serde_json::{Value, json};
use weir_e2e::cdc::{self, connector_config, deploy, wait_failed};
use weir_e2e::jdbc::{
    SOURCE_SCHEMA, Workload, evolve_source, mariadb_tables, pg_tables, wait_equal,
};
use weir_e2e::kcat::{self, KcatRecord};
use weir_e2e::mariadb::MariaDb;
use weir_e2e::pg::{PgOptions, PgServer};
use weir_e2e::s3::{Produce, produce};
use weir_e2e::{RestApi, Served, Workdir, with_keys};

const CONVERGE: Duration = Duration::from_secs(180);

/// A shipped config from `configs/connectors/`, with `extra` keys on top.
fn shipped(file: &str, extra: Value) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../configs/connectors")
        .join(file);
    let body: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("shipped config"))
            .expect("JSON");
    with_keys(body["config"].clone(), &extra)
}

/// The capture of database `shop` with schemas on (the JDBC sinks need them) and
/// truncates captured.
fn capture(source: &PgServer) -> Value {
    connector_config(
        source,
        "shop",
        "dbserver1",
        &[
            ("key.converter.schemas.enable", "true"),
            ("value.converter.schemas.enable", "true"),
            ("skipped.operations", "none"),
        ],
    )
}

fn pg_replica_config(replica: &PgServer) -> Value {
    shipped(
        "postgres-jdbc-sink.json",
        json!({
            "connection.url": format!("jdbc:postgresql://{}:{}/replica", replica.host(), replica.port()),
            "connection.username": "postgres",
            "connection.password": "",
            "flush.retry.delay.ms": "300",
            "flush.max.retries": "100",
        }),
    )
}

fn mariadb_config(maria: &MariaDb) -> Value {
    shipped(
        "mariadb-jdbc-sink.json",
        json!({
            "connection.url": maria.url("inventory"),
            "connection.user": "root",
            "connection.password": "",
            "retry.backoff.ms": "300",
            "max.retries": "100",
        }),
    )
}

struct Pipeline {
    source: PgServer,
    replica: PgServer,
    maria: MariaDb,
    w: Workdir,
}

impl Pipeline {
    fn start() -> Pipeline {
        let source = PgServer::start(PgOptions::new()).expect("source postgres");
        source.sql("CREATE DATABASE shop").expect("shop");
        source.sql_db("shop", SOURCE_SCHEMA).expect("schema");
        let replica = PgServer::start(PgOptions::new()).expect("replica postgres");
        replica.sql("CREATE DATABASE replica").expect("replica db");
        let maria = MariaDb::start().expect("mariadb");
        maria
            .execute("", "CREATE DATABASE inventory")
            .expect("inventory db");
        Pipeline {
            source,
            replica,
            maria,
            w: Workdir::new(),
        }
    }

    fn serve(&self) -> (Served, RestApi) {
        let served = cdc::serve(&self.w);
        let rest = RestApi::new(served.rest());
        (served, rest)
    }

    fn deploy_all(&self, rest: &RestApi) {
        deploy(rest, "shop-cdc", &capture(&self.source));
        deploy(rest, "inventory-replica", &pg_replica_config(&self.replica));
        deploy(rest, "inventory-mariadb", &mariadb_config(&self.maria));
    }

    /// Waits until both copies equal the source.
    fn wait_copies(&self, evolved: bool, served: Option<&Served>) {
        let source =
            || pg_tables(&self.source, "shop", evolved, str::to_string).expect("source tables");
        let log = || {
            served
                .map(|s| {
                    s.log_so_far()
                        .iter()
                        .filter(|l| {
                            l.contains("WARN") || l.contains("ERROR") || l.contains("failed")
                        })
                        .rev()
                        .take(30)
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n")
                        + &RestApi::new(s.rest()).get("/connectors?expand=status").body
                })
                .unwrap_or_default()
        };
        wait_equal(
            "the PostgreSQL replica to equal the source",
            CONVERGE,
            source,
            || pg_tables(&self.replica, "replica", evolved, str::to_string),
            log,
        );
        wait_equal(
            "the MariaDB copy to equal the source",
            CONVERGE,
            source,
            || mariadb_tables(&self.maria, "inventory", evolved),
            log,
        );
    }
}

#[test]
fn cdc_workload_reaches_postgres_and_mariadb_row_for_row() {
    let p = Pipeline::start();
    let mut work = Workload::new(20_261_123);
    // Rows that exist before the capture starts arrive through the snapshot.
    work.run(&p.source, "shop", 60);
    let (served, rest) = p.serve();
    p.deploy_all(&rest);
    work.run(&p.source, "shop", 400);
    p.wait_copies(false, Some(&served));

    // Schema evolution mid-stream: a nullable column and a NOT NULL one with a default.
    evolve_source(&p.source, "shop", &mut work);
    work.run(&p.source, "shop", 300);
    p.wait_copies(true, Some(&served));
    let replica_columns = p
        .replica
        .sql_db("replica", "SELECT column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') FROM information_schema.columns WHERE table_name = 'items' AND column_name IN ('extra', 'level') ORDER BY 1")
        .expect("replica columns");
    assert_eq!(
        replica_columns,
        [
            vec![Some("extra text YES ".to_string())],
            vec![Some("level integer NO 1".to_string())]
        ],
        "added nullable, and NOT NULL with the source's default"
    );
    let maria_types = p
        .maria
        .sql("inventory", "SELECT column_name, column_type, column_key FROM information_schema.columns WHERE table_schema = 'inventory' AND table_name = 'lines' ORDER BY ordinal_position")
        .expect("mariadb columns");
    let typed: Vec<String> = maria_types
        .iter()
        .map(|r| {
            r.iter()
                .map(|c| c.clone().unwrap_or_default())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    assert_eq!(
        typed,
        [
            "order_id int(11) PRI",
            "line_no smallint(6) PRI",
            "sku longtext ",
            "amount decimal(10,2) ",
            "note longtext "
        ],
        "auto.create: the key from the record key, types from the Connect schemas"
    );
    let (clean, log) = served.stop();
    assert!(clean, "weir stopped cleanly: {}", log.join("\n"));
}

#[test]
fn killing_the_worker_during_the_workload_still_ends_equal() {
    let p = Pipeline::start();
    let mut work = Workload::new(99);
    work.run(&p.source, "shop", 20);
    let (served, rest) = p.serve();
    p.deploy_all(&rest);
    let mut served = Some(served);
    std::thread::scope(|scope| {
        let source = &p.source;
        let writer = scope.spawn(move || {
            for _ in 0..30 {
                work.run(source, "shop", 20);
                std::thread::sleep(Duration::from_millis(150));
            }
        });
        for round in 0..3u64 {
            std::thread::sleep(Duration::from_millis(1500 + 700 * round));
            drop(served.take()); // SIGKILL: no flush, no offset commit
            let (again, rest) = p.serve();
            rest.wait_state(Duration::from_secs(60), "inventory-replica", "RUNNING");
            rest.wait_state(Duration::from_secs(60), "inventory-mariadb", "RUNNING");
            served = Some(again);
        }
        writer.join().expect("workload thread");
    });
    p.wait_copies(false, served.as_ref());
}

#[test]
fn a_target_outage_is_retried_without_loss() {
    let mut p = Pipeline::start();
    let mut work = Workload::new(5);
    let (served, rest) = p.serve();
    deploy(&rest, "shop-cdc", &capture(&p.source));
    deploy(&rest, "inventory-replica", &pg_replica_config(&p.replica));
    work.run(&p.source, "shop", 50);
    wait_equal(
        "the replica to catch up",
        CONVERGE,
        || pg_tables(&p.source, "shop", false, str::to_string).expect("source"),
        || pg_tables(&p.replica, "replica", false, str::to_string),
        String::new,
    );
    p.replica.stop().expect("stop the replica");
    work.run(&p.source, "shop", 100);
    std::thread::sleep(Duration::from_secs(4));
    let status = rest.get("/connectors/inventory-replica/status").json();
    assert_eq!(
        status["tasks"][0]["state"], "RUNNING",
        "retrying, not failed: {status}"
    );
    p.replica.restart().expect("start the replica again");
    wait_equal(
        "the replica to catch up after the outage",
        CONVERGE,
        || pg_tables(&p.source, "shop", false, str::to_string).expect("source"),
        || pg_tables(&p.replica, "replica", false, str::to_string),
        || served.log_so_far().join("\n"),
    );
    assert!(
        served
            .log_so_far()
            .iter()
            .any(|l| l.contains("JDBC write failed; retrying")),
        "the outage was retried with backoff"
    );
}

/// A record with a JsonConverter schema envelope.
fn record(topic: &str, offset_key: i64, value: Value) -> Produce {
    Produce {
        topic: topic.into(),
        partition: 0,
        key: Some(offset_key.to_string()),
        value: Some(value.to_string()),
        ts: None,
    }
}

fn account(id: Option<i64>, code: &str, amount: &str, extra: Option<&str>) -> Value {
    let mut fields = vec![
        json!({"field": "id", "type": "int32", "optional": true}),
        json!({"field": "code", "type": "string", "optional": false}),
        json!({"field": "amount", "type": "string", "optional": true}),
    ];
    let mut payload = json!({"id": id, "code": code, "amount": amount});
    if let Some(extra) = extra {
        fields.push(json!({"field": "extra", "type": "string", "optional": false}));
        payload["extra"] = json!(extra);
    }
    json!({"schema": {"type": "struct", "name": "account", "optional": false, "fields": fields}, "payload": payload})
}

#[test]
fn records_a_table_cannot_take_fail_alone_with_sentences() {
    let maria = MariaDb::start().expect("mariadb");
    maria
        .execute("weir", "CREATE TABLE accounts (id int PRIMARY KEY, code varchar(5) NOT NULL, amount decimal(6,2))")
        .expect("accounts");
    let w = Workdir::new();
    let (served, rest) = w.serve_flushing(300);
    let records = vec![
        record("accounts", 0, account(Some(1), "abc", "1.50", None)),
        record(
            "accounts",
            1,
            account(Some(2), "much-too-long", "2.00", None),
        ),
        record("accounts", 2, account(Some(3), "def", "3.25", None)),
        record("accounts", 3, account(None, "nokey", "4.00", None)),
        record("accounts", 4, json!({"id": 9, "code": "schemaless"})),
        record(
            "accounts",
            5,
            account(Some(6), "ghi", "6.00", Some("new field")),
        ),
        record("accounts", 6, account(Some(7), "jkl", "99999.99", None)),
        record("accounts", 7, account(Some(8), "mno", "8.00", None)),
        record("ghosts", 0, account(Some(1), "boo", "1.00", None)),
    ];
    produce(&served.bootstrap(), &records);
    let config = json!({
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "topics": "accounts,ghosts",
        "connection.url": maria.url("weir"),
        "connection.user": "root",
        "insert.mode": "upsert",
        "pk.mode": "record_value",
        "pk.fields": "id",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": "accounts-dlq",
        "errors.deadletterqueue.context.headers.enable": "true",
    });
    deploy(&rest, "accounts", &config);
    let dead = kcat::wait_records(&served.bootstrap(), "accounts-dlq", 6);
    let reasons: Vec<(String, String)> = dead
        .iter()
        .map(|r: &KcatRecord| (r.key.clone().unwrap_or_default(), r.dlq_reason()))
        .collect();
    let reason_of = |key: &str, topic: &str| -> String {
        dead.iter()
            .find(|r| {
                r.key.as_deref() == Some(key) && r.header("__connect.errors.topic") == Some(topic)
            })
            .map(KcatRecord::dlq_reason)
            .unwrap_or_else(|| panic!("no dead letter for key {key} of {topic}: {reasons:?}"))
    };
    let too_long = reason_of("1", "accounts");
    assert!(
        too_long.contains("accounts")
            && too_long.contains("'code'")
            && too_long.contains("offset 1"),
        "{too_long}"
    );
    assert!(
        reason_of("3", "accounts").contains("primary key column \"id\" is null"),
        "{reasons:?}"
    );
    // The converter refuses plain JSON before the sink sees it.
    assert!(
        reason_of("4", "accounts").contains("schemas.enable"),
        "{reasons:?}"
    );
    let evolve = reason_of("5", "accounts");
    assert!(
        evolve.contains("missing column \"extra\"") && evolve.contains("auto.evolve=false"),
        "{evolve}"
    );
    let overflow = reason_of("6", "accounts");
    assert!(
        overflow.contains("'amount'") && overflow.contains("offset 6"),
        "{overflow}"
    );
    let ghost = reason_of("0", "ghosts");
    assert!(
        ghost.contains("Table ghosts is missing and auto-creation is disabled (auto.create=false)"),
        "{ghost}"
    );
    let rows = maria
        .sql("weir", "SELECT id, code, amount FROM accounts ORDER BY id")
        .expect("rows");
    assert_eq!(
        rows,
        [
            ["1", "abc", "1.50"],
            ["3", "def", "3.25"],
            ["8", "mno", "8.00"]
        ]
        .iter()
        .map(|r| r.iter().map(|c| Some((*c).to_string())).collect::<Vec<_>>())
        .collect::<Vec<_>>(),
        "the good records are written, each bad one alone is refused"
    );

    // Without tolerance the first bad record fails the task, naming table, column, offset.
    let replica = PgServer::start(PgOptions::new()).expect("postgres");
    replica.sql("CREATE TABLE accounts (id int PRIMARY KEY, code varchar(5) NOT NULL, amount numeric(6,2))").expect("table");
    produce(
        &served.bootstrap(),
        &[
            record("strict", 0, account(Some(1), "abc", "1.50", None)),
            record("strict", 1, account(Some(2), "much-too-long", "2.00", None)),
            record("strict", 2, account(Some(3), "def", "3.25", None)),
        ],
    );
    let strict = with_keys(
        config,
        &json!({
            "topics": "strict",
            "table.name.format": "accounts",
            "connection.url": format!("jdbc:postgresql://{}:{}/postgres", replica.host(), replica.port()),
            "connection.user": "postgres",
            "errors.tolerance": "none",
        }),
    );
    let r = rest.send(
        "POST",
        "/connectors",
        &json!({"name": "strict", "config": strict}),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let trace = wait_failed(&rest, "strict");
    assert!(
        trace.contains("accounts")
            && trace.contains("column \"code\"")
            && trace.contains("offset 1"),
        "{trace}"
    );
    let written = replica
        .sql("SELECT id FROM accounts ORDER BY id")
        .expect("rows");
    assert!(
        written.contains(&vec![Some("1".to_string())])
            && !written.contains(&vec![Some("2".to_string())]),
        "{written:?}"
    );

    // Config errors name the key.
    let bad = rest.send(
        "PUT",
        "/connector-plugins/io.confluent.connect.jdbc.JdbcSinkConnector/config/validate",
        &json!({"connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector", "topics": "t", "connection.url": "jdbc:oracle:thin:@h:1521:x", "insert.mode": "upsert"}),
    );
    let body = bad.json();
    let errors: Vec<String> = body["configs"]
        .as_array()
        .expect("configs")
        .iter()
        .filter(|c| !c["value"]["errors"].as_array().is_none_or(Vec::is_empty))
        .map(|c| {
            format!(
                "{}: {}",
                c["value"]["name"].as_str().unwrap_or_default(),
                c["value"]["errors"]
            )
        })
        .collect();
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with("connection.url: ") && e.contains("jdbc:oracle"))
            && errors
                .iter()
                .any(|e| e.starts_with("pk.mode: ") && e.contains("needs a primary key")),
        "{errors:?}"
    );
    drop(served);
}

#[test]
fn update_mode_changes_existing_rows_only_in_both_dialects() {
    let maria = MariaDb::start().expect("mariadb");
    let pg = PgServer::start(PgOptions::new()).expect("postgres");
    let table = "CREATE TABLE accounts (id int PRIMARY KEY, code varchar(5) NOT NULL, amount decimal(6,2)); \
                 INSERT INTO accounts VALUES (1, 'old', 1.00), (2, 'keep', 2.00);";
    maria.execute("weir", table).expect("mariadb table");
    pg.sql(table).expect("postgres table");
    let w = Workdir::new();
    let (served, rest) = w.serve_flushing(300);
    produce(
        &served.bootstrap(),
        &[
            record("updates", 0, account(Some(1), "new", "1.50", None)),
            record("updates", 1, account(Some(3), "none", "3.00", None)),
        ],
    );
    let base = json!({
        "connector.class": "io.confluent.connect.jdbc.JdbcSinkConnector",
        "topics": "updates", "table.name.format": "accounts",
        "insert.mode": "update", "pk.mode": "record_value", "pk.fields": "id",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
    });
    let pg_url = format!(
        "jdbc:postgresql://{}:{}/postgres?user=postgres",
        pg.host(),
        pg.port()
    );
    deploy(
        &rest,
        "to-maria",
        &with_keys(
            base.clone(),
            &json!({"connection.url": maria.url("weir"), "connection.user": "root"}),
        ),
    );
    deploy(
        &rest,
        "to-pg",
        &with_keys(base, &json!({"connection.url": pg_url})),
    );
    let expected: Vec<Vec<Option<String>>> = [["1", "new", "1.50"], ["2", "keep", "2.00"]]
        .iter()
        .map(|r| r.iter().map(|c| Some((*c).to_string())).collect())
        .collect();
    weir_e2e::wait_for(
        "both tables updated",
        CONVERGE,
        || {
            maria
                .sql("weir", "SELECT id, code, amount FROM accounts ORDER BY id")
                .ok()
                == Some(expected.clone())
                && pg
                    .sql("SELECT id, code, amount FROM accounts ORDER BY id")
                    .ok()
                    == Some(expected.clone())
        },
        || {
            format!(
                "{:?}\n{:?}",
                maria.sql("weir", "SELECT * FROM accounts"),
                pg.sql("SELECT * FROM accounts")
            )
        },
    );
    drop(served);
}
