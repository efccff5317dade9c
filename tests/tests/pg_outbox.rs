//! The outbox event router end to end: a real Postgres 15, the CDC source with Debezium's
//! `EventRouter`, and the routed events read with kcat (librdkafka) from the Kafka port.

use std::path::Path;

use serde_json::{Value, json};
use weir_e2e::cdc::{self, connector_config, deploy, wait_failed, wait_streaming};
use weir_e2e::kcat::{self, KcatRecord, wait_records};
use weir_e2e::pg::{PgOptions, PgServer};
use weir_e2e::{RestApi, Served, Workdir};

/// The order service's tables: Debezium's default outbox layout.
const ORDER_SERVICE: &str =
    "CREATE TABLE orders (id int PRIMARY KEY, customer text NOT NULL, total numeric(10,2));
CREATE TABLE outbox (
  id uuid PRIMARY KEY,
  aggregatetype varchar(255) NOT NULL,
  aggregateid varchar(255) NOT NULL,
  type varchar(255) NOT NULL,
  payload jsonb
);";

/// Places order `id`: the order row and its event in one transaction; `then_delete` is the
/// insert-then-delete outbox style; `commit` false rolls everything back.
fn place_order(pg: &PgServer, id: u32, then_delete: bool, commit: bool) -> String {
    let event = format!("00000000-0000-4000-8000-{id:012}");
    let delete = if then_delete {
        format!("DELETE FROM outbox WHERE id = '{event}';")
    } else {
        String::new()
    };
    let end = if commit { "COMMIT" } else { "ROLLBACK" };
    pg.sql_db(
        "orders",
        &format!(
            "BEGIN;
             INSERT INTO orders VALUES ({id}, 'customer-{id}', {id}.50);
             INSERT INTO outbox VALUES ('{event}', 'order', '{id}', 'OrderCreated',
               '{{\"orderId\": {id}, \"total\": {id}.5, \"lines\": [{{\"sku\": \"A-{id}\", \"qty\": 2}}]}}');
             {delete}
             {end};"
        ),
    )
    .expect("order transaction");
    event
}

/// The shipped `configs/connectors/postgres-outbox.json`, pointed at `pg`.
fn shipped_outbox_config(pg: &PgServer) -> (String, Value) {
    let path =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../configs/connectors/postgres-outbox.json");
    let body: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("shipped config"))
            .expect("JSON");
    let mut config = body["config"].clone();
    let map = config.as_object_mut().expect("config object");
    for (k, v) in [
        ("database.hostname", pg.host().to_string()),
        ("database.port", pg.port().to_string()),
        ("database.user", "postgres".to_string()),
        ("database.password", String::new()),
    ] {
        map.insert(k.to_string(), Value::String(v));
    }
    let name = body["name"].as_str().expect("name").to_string();
    (name, config)
}

fn start() -> (PgServer, Workdir, Served, RestApi) {
    let pg = PgServer::start(PgOptions::new()).expect("start postgres");
    let w = Workdir::new();
    let served = cdc::serve(&w);
    let rest = RestApi::new(served.rest());
    (pg, w, served, rest)
}

#[test]
fn order_service_events_reach_a_kafka_client_routed_keyed_and_expanded() {
    let (pg, _w, served, rest) = start();
    pg.sql("CREATE DATABASE orders").expect("db");
    pg.sql_db("orders", ORDER_SERVICE).expect("tables");
    let (name, config) = shipped_outbox_config(&pg);
    deploy(&rest, &name, &config);
    wait_streaming(&pg, "orders", "orders_outbox");

    // Only the outbox table is published.
    let published = pg
        .sql_db(
            "orders",
            "SELECT tablename FROM pg_publication_tables WHERE pubname = 'orders_outbox'",
        )
        .expect("publication");
    assert_eq!(published, [[Some("outbox".to_string())]]);

    let first = place_order(&pg, 1, false, true);
    let second = place_order(&pg, 2, true, true);
    place_order(&pg, 3, false, false);
    // An update of an outbox row is not an event (table.op.invalid.behavior=warn).
    pg.sql_db(
        "orders",
        &format!("UPDATE outbox SET type = 'Changed' WHERE id = '{first}'"),
    )
    .expect("update");
    let fourth = place_order(&pg, 4, true, true);
    pg.sql_db(
        "orders",
        "INSERT INTO outbox VALUES ('00000000-0000-4000-9000-000000000001', 'customer', 'c-7', \
         'CustomerRenamed', '{\"name\": \"Eve\"}')",
    )
    .expect("customer event");

    let bootstrap = served.bootstrap();
    let customers = wait_records(&bootstrap, "outbox.event.customer", 1);
    let events = kcat::consume(&bootstrap, "outbox.event.order");
    let ids: Vec<_> = events.iter().map(|e| e.header("id")).collect();
    assert_eq!(
        ids,
        [
            Some(first.as_str()),
            Some(second.as_str()),
            Some(fourth.as_str())
        ],
        "every committed order once, in commit order; no rolled-back one: {events:?}"
    );
    let keys: Vec<_> = events.iter().map(|e| e.key.as_deref()).collect();
    assert_eq!(keys, [Some("1"), Some("2"), Some("4")]);
    assert!(
        events
            .iter()
            .all(|e| e.header("eventType") == Some("OrderCreated"))
    );
    assert_eq!(
        events[0].json(),
        json!({"orderId": 1, "total": 1.5, "lines": [{"sku": "A-1", "qty": 2}]}),
        "the jsonb payload arrives as JSON, not an escaped string"
    );
    // jsonb's own key order (shorter keys first) is kept.
    assert!(
        events[0]
            .value
            .as_deref()
            .is_some_and(|v| v.starts_with("{\"lines\":")),
        "{:?}",
        events[0].value
    );
    assert_eq!(customers[0].key.as_deref(), Some("c-7"));
    assert_eq!(customers[0].json(), json!({"name": "Eve"}));

    // The business table is not captured.
    assert!(kcat::consume(&bootstrap, "orders.public.orders").is_empty());
    // Listed as a transformation, like Kafka Connect lists Debezium's.
    let plugins = rest.get("/connector-plugins?connectorsOnly=false").json();
    assert!(
        plugins.as_array().is_some_and(|p| p.iter().any(|p| {
            p["class"] == "io.debezium.transforms.outbox.EventRouter"
                && p["type"] == "transformation"
        })),
        "{plugins}"
    );
    let status = rest.get(&format!("/connectors/{name}/status")).json();
    assert_eq!(status["tasks"][0]["state"], "RUNNING", "{status}");
}

/// An outbox with custom columns: routing by `kind` into `domain.<kind>.events`, the type in
/// a header, the schema version in the envelope, the partition and timestamp from columns,
/// and malformed rows into the dead-letter queue.
const CUSTOM_OUTBOX: &str = "CREATE TABLE events (
  event_id uuid PRIMARY KEY,
  kind text NOT NULL,
  agg text,
  event_type text NOT NULL,
  body text,
  ver int,
  part int,
  created timestamp,
  amount numeric(10,2) DEFAULT 12.50
);";

fn custom_config(pg: &PgServer, prefix: &str, extra: &[(&str, &str)]) -> Value {
    let mut pairs = vec![
        ("table.include.list", "public.events"),
        ("publication.autocreate.mode", "filtered"),
        ("snapshot.mode", "no_data"),
        ("transforms", "outbox"),
        (
            "transforms.outbox.type",
            "io.debezium.transforms.outbox.EventRouter",
        ),
        ("transforms.outbox.table.field.event.id", "event_id"),
        ("transforms.outbox.table.field.event.key", "agg"),
        ("transforms.outbox.table.field.event.payload", "body"),
        ("transforms.outbox.table.field.event.timestamp", "created"),
        ("transforms.outbox.table.field.event.schema.version", "ver"),
        ("transforms.outbox.route.by.field", "kind"),
        (
            "transforms.outbox.route.topic.replacement",
            "domain.${routedByValue}.events",
        ),
        (
            "transforms.outbox.table.fields.additional.placement",
            "event_type:header:eventType,ver:envelope:schemaVersion,part:partition,amount:header",
        ),
        ("transforms.outbox.table.expand.json.payload", "true"),
        (
            "key.converter",
            "org.apache.kafka.connect.storage.StringConverter",
        ),
    ];
    pairs.extend_from_slice(extra);
    connector_config(pg, "shipping", prefix, &pairs)
}

fn insert_event(pg: &PgServer, n: u32, agg: &str, body: &str, part: u32) -> String {
    let id = format!("00000000-0000-4000-8000-{n:012}");
    pg.sql_db(
        "shipping",
        &format!(
            "INSERT INTO events VALUES ('{id}', 'shipment', {agg}, 'Shipped', '{body}', 3, {part}, \
             '2026-01-02 03:04:05.678901')"
        ),
    )
    .expect("insert event");
    id
}

#[test]
fn custom_routing_placement_and_malformed_rows_to_the_dead_letter_queue() {
    let (pg, w, served, rest) = start();
    pg.sql("CREATE DATABASE shipping").expect("db");
    pg.sql_db("shipping", CUSTOM_OUTBOX).expect("table");
    let bootstrap = served.bootstrap();
    w.ok(
        &[
            "topics",
            "create",
            "domain.shipment.events",
            "--partitions",
            "3",
            "--bootstrap",
            &bootstrap,
        ],
        b"",
    );
    let config = custom_config(
        &pg,
        "ship",
        &[
            ("errors.tolerance", "all"),
            ("errors.deadletterqueue.topic.name", "outbox-dlq"),
            ("errors.deadletterqueue.context.headers.enable", "true"),
        ],
    );
    deploy(&rest, "shipping", &config);
    wait_streaming(&pg, "shipping", "ship_slot");

    let good = insert_event(&pg, 1, "'s-1'", r#"{"carrier": "DHL"}"#, 2);
    insert_event(&pg, 2, "NULL", r#"{"carrier": "UPS"}"#, 0);
    insert_event(&pg, 3, "'s-3'", "not json", 0);
    let after = insert_event(&pg, 4, "'s-4'", r#"{"carrier": "GLS"}"#, 1);

    let events = wait_records(&bootstrap, "domain.shipment.events", 2);
    assert_eq!(
        events.len(),
        2,
        "the malformed rows are not events: {events:?}"
    );
    // Two partitions: find each event by its id header.
    let by_id = |id: &str| {
        events
            .iter()
            .find(|e| e.header("id") == Some(id))
            .unwrap_or_else(|| panic!("event {id} missing: {events:?}"))
    };
    let e = by_id(&good);
    assert_eq!(e.header("eventType"), Some("Shipped"));
    assert_eq!(
        e.header("amount"),
        Some("12.50"),
        "a Decimal header as SimpleHeaderConverter prints it"
    );
    assert_eq!(e.key.as_deref(), Some("s-1"));
    assert_eq!(e.partition, 2, "partition from the part column");
    assert_eq!(
        e.timestamp, 1_767_323_045_678,
        "timestamp from the created column (ms)"
    );
    assert_eq!(
        e.json(),
        json!({"payload": {"carrier": "DHL"}, "schemaVersion": 3})
    );
    assert_eq!(by_id(&after).partition, 1);

    let dlq = wait_records(&bootstrap, "outbox-dlq", 2);
    let reasons: Vec<String> = dlq.iter().map(|r| r.dlq_reason()).collect();
    assert!(
        reasons[0].contains("event key column agg is null"),
        "{reasons:?}"
    );
    assert!(
        reasons[1].contains("the payload is not JSON"),
        "{reasons:?}"
    );
    for r in &dlq {
        assert_eq!(r.header("__connect.errors.stage"), Some("TRANSFORMATION"));
        assert_eq!(
            r.header("__connect.errors.topic"),
            Some("ship.public.events")
        );
        // The original change event, as the connector produced it.
        let value = r.json();
        assert_eq!(value["op"], "c", "{value}");
        assert_eq!(value["after"]["kind"], "shipment", "{value}");
    }
    assert_eq!(dlq[1].json()["after"]["body"], "not json");

    // Without tolerance, a malformed row stops the task with a sentence naming it.
    pg.sql_db(
        "shipping",
        "CREATE TABLE strict_events (LIKE events INCLUDING ALL)",
    )
    .expect("table");
    let mut strict = custom_config(&pg, "strict", &[]);
    strict["table.include.list"] = json!("public.strict_events");
    deploy(&rest, "strict", &strict);
    wait_streaming(&pg, "shipping", "strict_slot");
    pg.sql_db(
        "shipping",
        "INSERT INTO strict_events VALUES ('00000000-0000-4000-8000-000000000009', 'shipment', \
         NULL, 'Shipped', '{}', 1, 0, now())",
    )
    .expect("malformed row");
    let trace = wait_failed(&rest, "strict");
    assert!(trace.contains("event key column agg is null"), "{trace}");
    assert!(trace.contains("strict.public.strict_events"), "{trace}");
}

#[test]
fn debezium_leniency_and_tombstones_on_request() {
    let (pg, _w, served, rest) = start();
    pg.sql("CREATE DATABASE shipping").expect("db");
    pg.sql_db("shipping", CUSTOM_OUTBOX).expect("table");
    let config = custom_config(
        &pg,
        "lenient",
        &[
            ("transforms.outbox.table.malformed.row.behavior", "warn"),
            ("transforms.outbox.route.tombstone.on.empty.payload", "true"),
            (
                "transforms.outbox.table.fields.additional.placement",
                "event_type:header:eventType",
            ),
        ],
    );
    deploy(&rest, "lenient", &config);
    wait_streaming(&pg, "shipping", "lenient_slot");
    insert_event(&pg, 1, "NULL", "not json", 0);
    pg.sql_db(
        "shipping",
        "INSERT INTO events VALUES ('00000000-0000-4000-8000-000000000002', 'shipment', 's-2', \
         'Deleted', NULL, 1, NULL, NULL)",
    )
    .expect("empty payload");
    let events: Vec<KcatRecord> = wait_records(&served.bootstrap(), "domain.shipment.events", 2);
    assert_eq!(events[0].key, None, "Debezium's null key");
    assert_eq!(
        events[0].json(),
        json!("not json"),
        "the text left as a string"
    );
    assert_eq!(events[1].key.as_deref(), Some("s-2"));
    assert_eq!(events[1].value, None, "an empty payload is a tombstone");
    assert_eq!(events[1].header("eventType"), Some("Deleted"));
}

/// A `bytea` payload (Avro, Protobuf...) with Debezium's `BinaryDataConverter`: the event
/// value is the payload's bytes as the service wrote them; records that are not bytes (the
/// heartbeats) go to the delegate converter.
#[test]
fn binary_payloads_pass_through_binary_data_converter() {
    let (pg, _w, served, rest) = start();
    pg.sql("CREATE DATABASE billing").expect("db");
    pg.sql_db(
        "billing",
        "CREATE TABLE outbox (id uuid PRIMARY KEY, aggregatetype text NOT NULL,
           aggregateid text NOT NULL, type text NOT NULL, payload bytea)",
    )
    .expect("table");
    let config = connector_config(
        &pg,
        "billing",
        "billing",
        &[
            ("table.include.list", "public.outbox"),
            ("publication.autocreate.mode", "filtered"),
            ("snapshot.mode", "no_data"),
            ("heartbeat.interval.ms", "2000"),
            ("transforms", "outbox"),
            (
                "transforms.outbox.type",
                "io.debezium.transforms.outbox.EventRouter",
            ),
            (
                "key.converter",
                "org.apache.kafka.connect.storage.StringConverter",
            ),
            (
                "value.converter",
                "io.debezium.converters.BinaryDataConverter",
            ),
            (
                "value.converter.delegate.converter.type",
                "org.apache.kafka.connect.json.JsonConverter",
            ),
            (
                "value.converter.delegate.converter.type.schemas.enable",
                "false",
            ),
        ],
    );
    deploy(&rest, "billing", &config);
    wait_streaming(&pg, "billing", "billing_slot");
    pg.sql_db(
        "billing",
        "INSERT INTO outbox VALUES ('00000000-0000-4000-8000-000000000001', 'invoice', 'i-1', \
         'InvoiceIssued', convert_to('AVRO|invoice i-1|42.00', 'UTF8'))",
    )
    .expect("insert");
    let bootstrap = served.bootstrap();
    let events = wait_records(&bootstrap, "outbox.event.invoice", 1);
    assert_eq!(events[0].key.as_deref(), Some("i-1"));
    assert_eq!(
        events[0].value.as_deref(),
        Some("AVRO|invoice i-1|42.00"),
        "the payload's bytes, not base64 or JSON"
    );
    let beats = wait_records(&bootstrap, "__debezium-heartbeat.billing", 1);
    assert!(
        beats[0].json()["ts_ms"].as_i64().is_some(),
        "heartbeats through the delegate JsonConverter: {:?}",
        beats[0]
    );
}
