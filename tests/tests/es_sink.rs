//! The Elasticsearch sink end to end: records produced with librdkafka to weir's Kafka port,
//! Confluent's configs posted to the REST API, documents read back from the
//! Elasticsearch-compatible test server (`tests/src/es.rs`; no real Elasticsearch can be
//! installed here).

use std::time::Duration;

use serde_json::{Value, json};
use weir_e2e::es::EsServer;
use weir_e2e::s3::{Produce, produce};
use weir_e2e::{RestApi, Workdir, kcat, wait_for, with_keys};

const WAIT: Duration = Duration::from_secs(60);

/// Confluent's config for `topic` on `es`, with `extra` keys on top.
fn sink(es: &EsServer, topic: &str, extra: Value) -> Value {
    let config = json!({
        "connector.class": "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector",
        "topics": topic,
        "connection.url": es.url(),
        "type.name": "_doc",
        "key.converter": "org.apache.kafka.connect.storage.StringConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true",
        "retry.backoff.ms": "20",
    });
    with_keys(config, &extra)
}

fn deploy(api: &RestApi, name: &str, config: &Value) {
    api.put_running(WAIT, name, config);
}

/// A value with JsonConverter's schema envelope: `{id, status, seq}`.
fn order(id: i64, status: &str, seq: i64) -> String {
    json!({
        "schema": {"type": "struct", "name": "shop.Order", "optional": false, "fields": [
            {"field": "id", "type": "int64", "optional": false},
            {"field": "status", "type": "string", "optional": false},
            {"field": "seq", "type": "int64", "optional": false}
        ]},
        "payload": {"id": id, "status": status, "seq": seq}
    })
    .to_string()
}

fn record(topic: &str, key: Option<String>, value: Option<String>) -> Produce {
    Produce {
        topic: topic.into(),
        partition: 0,
        key,
        value,
        ts: None,
    }
}

fn wait_docs(es: &EsServer, index: &str, n: usize, api: &RestApi) -> Vec<(String, Value)> {
    let mut docs = Vec::new();
    wait_for(
        &format!("{n} documents in {index}"),
        WAIT,
        || {
            docs = es.docs(index);
            docs.len() == n
        },
        || {
            format!(
                "{:?}\n{}",
                es.docs(index),
                api.get("/connectors?expand=status").body
            )
        },
    );
    docs
}

#[test]
fn insert_upsert_and_tombstone_delete() {
    let es = EsServer::start();
    let w = Workdir::new();
    let (served, api) = w.serve_flushing(300);
    produce(
        &served.bootstrap(),
        &[
            record("Orders", Some("1".into()), Some(order(1, "NEW", 0))),
            record("Orders", Some("2".into()), Some(order(2, "NEW", 1))),
            record("Orders", Some("1".into()), Some(order(1, "PAID", 2))),
            record("Orders", Some("2".into()), None),
            record("Orders", Some("3".into()), Some(order(3, "NEW", 4))),
        ],
    );
    deploy(
        &api,
        "orders",
        &sink(&es, "Orders", json!({"behavior.on.null.values": "delete"})),
    );
    let docs = wait_docs(&es, "orders", 2, &api);
    assert_eq!(
        docs,
        vec![
            (
                "1".to_string(),
                json!({"id": 1, "status": "PAID", "seq": 2})
            ),
            ("3".to_string(), json!({"id": 3, "status": "NEW", "seq": 4})),
        ]
    );
    // External versioning by offset; the mapping came from the value schema.
    assert_eq!(es.doc("orders", "1").expect("doc 1").1, 2);
    let mapping = es.mapping("orders").expect("mapping");
    assert_eq!(mapping["id"]["type"], "long", "{mapping}");
    assert_eq!(
        mapping["status"]["fields"]["keyword"]["type"], "keyword",
        "{mapping}"
    );

    // Upserts merge partial documents (schemaless JSON, mapping left to Elasticsearch).
    let partial = |k: &str, v: Value| {
        record(
            "profiles",
            Some(k.into()),
            Some(json!({"schema": null, "payload": v}).to_string()),
        )
    };
    produce(
        &served.bootstrap(),
        &[
            partial("a", json!({"name": "Ada", "city": "Paris"})),
            partial("a", json!({"city": "London"})),
            partial("b", json!({"name": "Bob"})),
        ],
    );
    deploy(
        &api,
        "profiles",
        &sink(
            &es,
            "profiles",
            json!({"write.method": "upsert", "schema.ignore": "true"}),
        ),
    );
    wait_for(
        "the merged profile",
        WAIT,
        || {
            es.doc("profiles", "a")
                .is_some_and(|(d, _)| d == json!({"name": "Ada", "city": "London"}))
                && es.doc("profiles", "b").is_some()
        },
        || format!("{:?}", es.docs("profiles")),
    );
}

#[test]
fn malformed_documents_and_bad_keys_go_to_the_dead_letter_queue() {
    let es = EsServer::start();
    let w = Workdir::new();
    let (served, api) = w.serve_flushing(300);
    let schemaless = |k: Option<&str>, v: Value| {
        record(
            "prices",
            k.map(str::to_string),
            Some(json!({"schema": null, "payload": v}).to_string()),
        )
    };
    produce(
        &served.bootstrap(),
        &[
            schemaless(Some("a"), json!({"price": 10})),
            schemaless(Some("b"), json!({"price": "not a number"})),
            schemaless(None, json!({"price": 12})),
            schemaless(Some("c"), json!({"price": 13})),
        ],
    );
    deploy(
        &api,
        "prices",
        &sink(
            &es,
            "prices",
            json!({
        "schema.ignore": "true", "errors.tolerance": "all",
        "errors.deadletterqueue.topic.name": "es-dlq",
        "errors.deadletterqueue.context.headers.enable": "true"}),
        ),
    );
    let dlq = kcat::wait_records(&served.bootstrap(), "es-dlq", 2);
    let reasons: Vec<String> = dlq.iter().map(|r| r.dlq_reason()).collect();
    assert!(
        reasons[0].contains("mapper_parsing_exception"),
        "{reasons:?}"
    );
    assert!(reasons[1].contains("can not be null"), "{reasons:?}");
    let docs = wait_docs(&es, "prices", 2, &api);
    let ids: Vec<&str> = docs.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["a", "c"]);

    // Without tolerance a malformed document fails the task, naming the field.
    produce(
        &served.bootstrap(),
        &[
            record(
                "strict",
                Some("x".into()),
                Some(json!({"schema": null, "payload": {"n": 1}}).to_string()),
            ),
            record(
                "strict",
                Some("y".into()),
                Some(json!({"schema": null, "payload": {"n": {"deep": true}}}).to_string()),
            ),
        ],
    );
    let r = api.send(
        "PUT",
        "/connectors/strict/config",
        &sink(&es, "strict", json!({"schema.ignore": "true"})),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    wait_for(
        "the strict task to fail",
        WAIT,
        || api.get("/connectors/strict/status").json()["tasks"][0]["state"] == "FAILED",
        || api.get("/connectors/strict/status").body,
    );
    let trace = api.get("/connectors/strict/status").json()["tasks"][0]["trace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        trace.contains("malformed") && trace.contains("strict/y"),
        "{trace}"
    );
}

#[test]
fn a_429_storm_is_recovered_without_loss_or_duplicates() {
    let es = EsServer::start();
    let w = Workdir::new();
    let (served, api) = w.serve_flushing(300);
    let records: Vec<Produce> = (0..300)
        .map(|i| {
            record(
                "clicks",
                None,
                Some(json!({"schema": null, "payload": {"n": i}}).to_string()),
            )
        })
        .collect();
    produce(&served.bootstrap(), &records);
    // Whole bulks refused, then single items, then a server error.
    es.reject_bulks(3);
    es.reject_items(150);
    es.fail_requests(2);
    deploy(
        &api,
        "clicks",
        &sink(
            &es,
            "clicks",
            json!({
        "key.ignore": "true", "schema.ignore": "true", "batch.size": "100", "max.retries": "8"}),
        ),
    );
    let docs = wait_docs(&es, "clicks", 300, &api);
    // 3 bulks of 100, each refused whole or in part at least once.
    assert!(
        es.bulk_requests() >= 8,
        "{} bulk requests",
        es.bulk_requests()
    );
    let mut seen: Vec<i64> = docs
        .iter()
        .map(|(_, d)| d["n"].as_i64().expect("n"))
        .collect();
    seen.sort();
    assert_eq!(seen, (0..300).collect::<Vec<_>>());
    assert!(
        docs.iter()
            .all(|(id, d)| *id == format!("clicks+0+{}", d["n"])),
        "ids are topic+partition+offset"
    );
    let status = api.get("/connectors/clicks/status").json();
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
}

#[test]
fn version_conflicts_and_data_streams() {
    let es = EsServer::start();
    let w = Workdir::new();
    let (served, api) = w.serve_flushing(300);
    // A newer version of doc 1 is already there: the older record loses, silently.
    let newer = "{\"index\":{\"_index\":\"items\",\"_id\":\"1\",\"version\":1000,\"version_type\":\"external\"}}\n{\"id\":1,\"status\":\"NEWER\",\"seq\":1000}\n";
    let r = weir_e2e::http("POST", &es.addr(), "/_bulk", Some(newer), &[]);
    assert_eq!(r.status, 200, "{}", r.body);
    produce(
        &served.bootstrap(),
        &[
            record("items", Some("1".into()), Some(order(1, "OLD", 0))),
            record("items", Some("2".into()), Some(order(2, "NEW", 1))),
        ],
    );
    deploy(&api, "items", &sink(&es, "items", json!({})));
    let docs = wait_docs(&es, "items", 2, &api);
    assert_eq!(docs[0].1["status"], "NEWER");
    assert_eq!(
        api.get("/connectors/items/status").json()["tasks"][0]["state"],
        "RUNNING"
    );

    // Data streams: `create` into logs-<dataset>-<topic>, with @timestamp from the record.
    produce(
        &served.bootstrap(),
        &[Produce {
            topic: "app".into(),
            partition: 0,
            key: None,
            ts: Some(1_700_000_000_000),
            value: Some(json!({"schema": null, "payload": {"msg": "hello"}}).to_string()),
        }],
    );
    deploy(
        &api,
        "logs",
        &sink(
            &es,
            "app",
            json!({
        "data.stream.type": "logs", "data.stream.dataset": "shop", "schema.ignore": "true", "key.ignore": "true"}),
        ),
    );
    let docs = wait_docs(&es, "logs-shop-app", 1, &api);
    assert!(es.is_data_stream("logs-shop-app"));
    assert_eq!(
        docs[0].1,
        json!({"msg": "hello", "@timestamp": 1_700_000_000_000i64})
    );
}

#[test]
fn sigkill_and_restart_end_in_the_source_state() {
    let es = EsServer::start();
    let w = Workdir::new();
    let (served, api) = w.serve_flushing(300);
    let n = 2000;
    let records: Vec<Produce> = (0..n)
        .map(|i| {
            record(
                "state",
                Some(format!("k{}", i % 97)),
                Some(order(i % 97, "S", i)),
            )
        })
        .collect();
    produce(&served.bootstrap(), &records);
    es.set_delay(Duration::from_millis(20));
    deploy(
        &api,
        "state",
        &sink(&es, "state", json!({"batch.size": "50"})),
    );
    // The end state: every key holds its last record, versioned by that record's offset.
    let last = |k: i64| (0..n).filter(|i| i % 97 == k).max().unwrap_or_default();
    let final_state = || {
        (0..97).all(|k| {
            es.doc("state", &format!("k{k}"))
                .is_some_and(|(d, v)| d["seq"] == last(k) && v == last(k))
        })
    };
    wait_for(
        "some documents",
        WAIT,
        || !es.docs("state").is_empty(),
        String::new,
    );
    drop(served); // SIGKILL mid-stream
    assert!(!final_state(), "the worker was killed before it finished");
    es.set_delay(Duration::ZERO);
    let (_served, api) = w.serve_flushing(300);
    api.wait_state(WAIT, "state", "RUNNING");
    wait_for("the final state", WAIT, final_state, || {
        format!("{:?}", es.docs("state").iter().take(5).collect::<Vec<_>>())
    });
    assert_eq!(es.docs("state").len(), 97);
}

#[test]
fn credentials_and_failover_between_urls() {
    let es = EsServer::start_with_auth("elastic", "s3cret");
    let w = Workdir::new();
    let (served, api) = w.serve_flushing(300);
    produce(
        &served.bootstrap(),
        &[record("users", Some("u1".into()), Some(order(1, "NEW", 0)))],
    );
    // The first URL refuses connections: requests move on to the next one.
    let urls = format!("http://127.0.0.1:1,{}", es.url());
    deploy(
        &api,
        "users",
        &sink(
            &es,
            "users",
            json!({"connection.url": urls, "connection.username": "elastic",
                   "connection.password": "s3cret", "max.retries": "3"}),
        ),
    );
    wait_docs(&es, "users", 1, &api);

    let r = api.send(
        "PUT",
        "/connectors/wrong/config",
        &sink(
            &es,
            "users",
            json!({"connection.username": "elastic", "connection.password": "nope"}),
        ),
    );
    assert_eq!(r.status, 201, "{}", r.body);
    let path = "/connectors/wrong/status";
    wait_for(
        "the task with a wrong password to fail",
        WAIT,
        || api.get(path).json()["tasks"][0]["state"] == "FAILED",
        || api.get(path).body,
    );
    let trace = api.get(path).json()["tasks"][0]["trace"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(
        trace.contains("refused the credentials") && trace.contains(&es.url()),
        "{trace}"
    );
    assert!(
        !trace.contains("nope"),
        "the password must not appear: {trace}"
    );
}

/// Postgres -> Debezium CDC -> two Elasticsearch sinks on the same change topic: one reads
/// Debezium's envelope natively (op `d` deletes by key), one after ExtractNewRecordState
/// (deletes as tombstones, `behavior.on.null.values=delete`). Both end with the table.
#[test]
fn debezium_changes_natively_and_through_extract_new_record_state() {
    use weir_e2e::cdc;
    use weir_e2e::pg::{PgOptions, PgServer};

    let pg = PgServer::start(PgOptions::new()).expect("start postgres");
    pg.sql("CREATE DATABASE shop").expect("create database");
    pg.sql_db(
        "shop",
        "CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, city text)",
    )
    .expect("create table");
    let es = EsServer::start();
    let w = Workdir::new();
    let served = cdc::serve(&w);
    let api = RestApi::new(served.rest());
    let with_schemas = [
        ("key.converter.schemas.enable", "true"),
        ("value.converter.schemas.enable", "true"),
    ];
    cdc::deploy(
        &api,
        "cdc",
        &cdc::connector_config(&pg, "shop", "srv", &with_schemas),
    );
    cdc::wait_streaming(&pg, "shop", "srv_slot");
    pg.sql_db(
        "shop",
        "INSERT INTO customers VALUES (1, 'Ada', 'Paris'), (2, 'Bob', 'Oslo'), (3, 'Cy', NULL);
         UPDATE customers SET city = 'London' WHERE id = 1;
         DELETE FROM customers WHERE id = 2;",
    )
    .expect("changes");
    let json_keys = json!({
        "topics": "srv.public.customers",
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "true",
    });
    let mut native = sink(&es, "srv.public.customers", json_keys.clone());
    native["behavior.on.null.values"] = json!("ignore");
    deploy(&api, "native", &native);
    let mut flat = sink(&es, "srv.public.customers", json_keys);
    for (k, v) in [
        ("transforms", "unwrap,key,route"),
        (
            "transforms.unwrap.type",
            "io.debezium.transforms.ExtractNewRecordState",
        ),
        (
            "transforms.unwrap.delete.tombstone.handling.mode",
            "tombstone",
        ),
        (
            "transforms.key.type",
            "org.apache.kafka.connect.transforms.ExtractField$Key",
        ),
        ("transforms.key.field", "id"),
        (
            "transforms.route.type",
            "org.apache.kafka.connect.transforms.RegexRouter",
        ),
        ("transforms.route.regex", ".*"),
        ("transforms.route.replacement", "customers-flat"),
        ("behavior.on.null.values", "delete"),
    ] {
        flat[k] = json!(v);
    }
    deploy(&api, "flat", &flat);
    let expected = vec![
        (
            "1".to_string(),
            json!({"id": 1, "name": "Ada", "city": "London"}),
        ),
        (
            "3".to_string(),
            json!({"id": 3, "name": "Cy", "city": null}),
        ),
    ];
    for index in ["srv.public.customers", "customers-flat"] {
        wait_for(
            &format!("{index} to hold the table"),
            WAIT,
            || es.docs(index) == expected,
            || {
                format!(
                    "{:?}\n{}",
                    es.docs(index),
                    api.get("/connectors?expand=status").body
                )
            },
        );
    }
}
