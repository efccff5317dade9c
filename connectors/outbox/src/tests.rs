//! The router on change events shaped as the Postgres source emits them.

use weir_connect_api::{
    ConfigMap, ConnectRecord, ConnectorError, SchemaBuilder, SchemaRef, SchemaType, Struct,
    Transform, Value,
};

use crate::EventRouter;

fn row_schema() -> SchemaRef {
    let opt_string = || SchemaBuilder::string().optional().build();
    SchemaBuilder::structure()
        .name("srv.public.outbox.Value")
        .field(
            "id",
            SchemaBuilder::string()
                .name("io.debezium.data.Uuid")
                .build(),
        )
        .field("aggregatetype", SchemaBuilder::string().build())
        .field("aggregateid", opt_string())
        .field("type", SchemaBuilder::string().build())
        .field(
            "payload",
            SchemaBuilder::string()
                .name("io.debezium.data.Json")
                .version(1)
                .optional()
                .build(),
        )
        .field(
            "created",
            SchemaBuilder::int64()
                .name("io.debezium.time.MicroTimestamp")
                .version(1)
                .optional()
                .build(),
        )
        .field("version", SchemaBuilder::int32().optional().build())
        .field("part", SchemaBuilder::int32().optional().build())
        .optional()
        .build()
}

fn envelope_schema(row: &SchemaRef) -> SchemaRef {
    SchemaBuilder::structure()
        .name("srv.public.outbox.Envelope")
        .version(2)
        .field("before", row.clone())
        .field("after", row.clone())
        .field("op", SchemaBuilder::string().build())
        .field("ts_ms", SchemaBuilder::int64().optional().build())
        .build()
}

/// An outbox change event; `set` overrides row columns of the default row.
fn change(op: &str, set: &[(&str, Value)]) -> ConnectRecord {
    let row_schema = row_schema();
    let mut row = Struct::new(row_schema.clone());
    let defaults = [
        (
            "id",
            Value::String("9f1c7a52-0000-4000-8000-000000000001".into()),
        ),
        ("aggregatetype", Value::String("Order".into())),
        ("aggregateid", Value::String("A1".into())),
        ("type", Value::String("OrderCreated".into())),
        (
            "payload",
            Value::String(r#"{"id": 7, "total": 9.5, "lines": [{"sku": "x"}]}"#.into()),
        ),
    ];
    for (k, v) in defaults.into_iter().chain(set.iter().cloned()) {
        row.put(k, v).expect("row column");
    }
    let envelope = envelope_schema(&row_schema);
    let mut value = Struct::new(envelope.clone());
    let side = if op == "d" { "before" } else { "after" };
    value.put(side, Value::Struct(row)).expect("row");
    value.put("op", Value::String(op.into())).expect("op");
    value
        .put("ts_ms", Value::Int64(1_700_000_000_000))
        .expect("ts");
    ConnectRecord::new(
        "srv.public.outbox",
        None,
        Value::Null,
        Some(envelope),
        Value::Struct(value),
    )
}

fn router(pairs: &[(&str, &str)]) -> EventRouter {
    let mut r = EventRouter::new();
    let config: ConfigMap = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    r.configure(&config).expect("valid config");
    r
}

fn routed(r: &EventRouter, record: ConnectRecord) -> ConnectRecord {
    r.apply(record).expect("applies").expect("kept")
}

fn header<'a>(record: &'a ConnectRecord, key: &str) -> &'a Value {
    &record.headers.last(key).expect("header").value
}

#[test]
fn defaults_route_by_aggregate_type_with_key_and_id_header() {
    let out = routed(&router(&[]), change("c", &[]));
    assert_eq!(out.topic, "outbox.event.Order");
    assert_eq!(out.key, Value::String("A1".into()));
    assert_eq!(
        out.key_schema.as_ref().map(|s| s.kind),
        Some(SchemaType::String)
    );
    assert_eq!(
        header(&out, "id"),
        &Value::String("9f1c7a52-0000-4000-8000-000000000001".into())
    );
    let id_schema = out.headers.last("id").and_then(|h| h.schema.clone());
    assert_eq!(
        id_schema.and_then(|s| s.name.clone()).as_deref(),
        Some("io.debezium.data.Uuid")
    );
    // Without expansion the value is the jsonb text, schema io.debezium.data.Json.
    assert!(matches!(&out.value, Value::String(s) if s.starts_with("{\"id\": 7")));
    assert_eq!(
        out.value_schema.as_ref().and_then(|s| s.name.as_deref()),
        Some("io.debezium.data.Json")
    );
    assert_eq!(out.timestamp, Some(1_700_000_000_000));
    assert_eq!(out.kafka_partition, None);
    // Snapshot reads route the same way.
    assert_eq!(
        routed(&router(&[]), change("r", &[])).topic,
        "outbox.event.Order"
    );
}

#[test]
fn expanded_payload_is_a_struct() {
    let r = router(&[("table.expand.json.payload", "true")]);
    let out = routed(&r, change("c", &[]));
    let s = out.value.as_struct().expect("struct value");
    assert_eq!(s.get("id"), Some(&Value::Int32(7)));
    assert_eq!(s.get("total"), Some(&Value::Float64(9.5)));
    assert_eq!(
        out.value_schema.as_ref().and_then(|s| s.name.as_deref()),
        Some("payload")
    );
}

#[test]
fn deletes_tombstones_and_updates_are_dropped_other_records_pass() {
    let r = router(&[]);
    assert!(r.apply(change("d", &[])).expect("delete").is_none());
    assert!(r.apply(change("u", &[])).expect("update").is_none());
    let mut tombstone = change("c", &[]);
    tombstone.value = Value::Null;
    assert!(r.apply(tombstone).expect("tombstone").is_none());
    let heartbeat = ConnectRecord::new(
        "__debezium-heartbeat.srv",
        None,
        Value::Null,
        Some(SchemaBuilder::string().build()),
        Value::String("beat".into()),
    );
    assert_eq!(r.apply(heartbeat.clone()).expect("passes"), Some(heartbeat));
    let fatal = router(&[("table.op.invalid.behavior", "fatal")]);
    let e = fatal.apply(change("u", &[])).expect_err("fatal update");
    assert!(e.to_string().contains("unexpected update"), "{e}");
    let old_name = router(&[("debezium.op.invalid.behavior", "fatal")]);
    assert!(old_name.apply(change("u", &[])).is_err());
}

#[test]
fn custom_route_field_and_replacement() {
    let r = router(&[
        ("route.by.field", "type"),
        ("route.topic.regex", "(?<kind>[A-Za-z]+)Created"),
        ("route.topic.replacement", "created.${kind}"),
    ]);
    assert_eq!(routed(&r, change("c", &[])).topic, "created.Order");
    // A value the regex does not match is the topic as is.
    let out = routed(
        &r,
        change("c", &[("type", Value::String("Shipped".into()))]),
    );
    assert_eq!(out.topic, "Shipped");
}

#[test]
fn additional_fields_go_to_headers_envelope_and_partition() {
    let r = router(&[
        (
            "table.fields.additional.placement",
            "type:header:eventType, aggregatetype:envelope:kind ,part:partition,aggregateid:header",
        ),
        ("table.field.event.schema.version", "version"),
        ("table.expand.json.payload", "true"),
    ]);
    let out = routed(
        &r,
        change(
            "c",
            &[("version", Value::Int32(3)), ("part", Value::Int32(2))],
        ),
    );
    assert_eq!(
        header(&out, "eventType"),
        &Value::String("OrderCreated".into())
    );
    assert_eq!(header(&out, "aggregateid"), &Value::String("A1".into()));
    assert_eq!(out.kafka_partition, Some(2));
    let schema = out.value_schema.clone().expect("schema");
    assert_eq!(
        schema.name.as_deref(),
        Some("srv.public.outbox.Order.Value")
    );
    assert_eq!(schema.version, Some(3));
    let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["payload", "kind"]);
    let v = out.value.as_struct().expect("envelope");
    assert_eq!(v.get("kind"), Some(&Value::String("Order".into())));
    let payload = v
        .get("payload")
        .and_then(Value::as_struct)
        .expect("payload");
    assert_eq!(payload.get("id"), Some(&Value::Int32(7)));
}

#[test]
fn missing_additional_columns_error_or_are_skipped() {
    let placement = ("table.fields.additional.placement", "nope:header");
    let e = router(&[placement])
        .apply(change("c", &[]))
        .expect_err("missing");
    assert!(e.to_string().contains("no column nope"), "{e}");
    let lenient = router(&[
        placement,
        ("table.fields.additional.error.on.missing", "false"),
    ]);
    assert!(
        routed(&lenient, change("c", &[]))
            .headers
            .last("nope")
            .is_none()
    );
}

#[test]
fn timestamp_from_a_column() {
    let r = router(&[("table.field.event.timestamp", "created")]);
    let out = routed(
        &r,
        change("c", &[("created", Value::Int64(1_600_000_000_123_456))]),
    );
    assert_eq!(out.timestamp, Some(1_600_000_000_123));
    // Null falls back to the change's ts_ms.
    assert_eq!(
        routed(&r, change("c", &[])).timestamp,
        Some(1_700_000_000_000)
    );
    let bad = router(&[("table.field.event.timestamp", "version")]);
    let e = bad
        .apply(change("c", &[("version", Value::Int32(1))]))
        .expect_err("int32 is no timestamp");
    assert!(e.to_string().contains("without logical schema name"), "{e}");
}

#[test]
fn empty_payload_tombstones_when_asked() {
    let r = router(&[("route.tombstone.on.empty.payload", "true")]);
    let out = routed(&r, change("c", &[("payload", Value::Null)]));
    assert!(out.value.is_null() && out.value_schema.is_none());
    assert_eq!(out.key, Value::String("A1".into()));
    let out = routed(&router(&[]), change("c", &[("payload", Value::Null)]));
    assert!(out.value.is_null() && out.value_schema.is_some());
}

#[test]
fn malformed_rows_fail_unless_debezium_leniency_is_asked() {
    let expand = ("table.expand.json.payload", "true");
    let not_json = ("payload", Value::String("not json".into()));
    let e = router(&[expand])
        .apply(change("c", std::slice::from_ref(&not_json)))
        .expect_err("not json");
    assert!(matches!(e, ConnectorError::Data(_)), "{e:?}");
    assert!(
        e.to_string().contains("the payload is not JSON")
            && e.to_string().contains("srv.public.outbox"),
        "{e}"
    );
    let e = router(&[])
        .apply(change("c", &[("aggregateid", Value::Null)]))
        .expect_err("null key");
    assert!(
        e.to_string()
            .contains("event key column aggregateid is null"),
        "{e}"
    );

    let lenient = router(&[expand, ("table.malformed.row.behavior", "warn")]);
    let out = routed(&lenient, change("c", &[not_json]));
    assert_eq!(out.value, Value::String("not json".into()));
    let out = routed(&lenient, change("c", &[("aggregateid", Value::Null)]));
    assert!(out.key.is_null());
    let e = router(&[])
        .apply(change(
            "c",
            &[("aggregatetype", Value::String(String::new()))],
        ))
        .map(|r| r.map(|r| r.topic));
    assert_eq!(
        e.expect("empty route value"),
        Some("outbox.event.".to_string())
    );
}

#[test]
fn bad_configs_name_the_key() {
    let mut r = EventRouter::new();
    let config: ConfigMap = [
        ("table.fields.additional.placement", "type:body"),
        ("route.topic.replacement", "x.${nope}"),
        ("table.op.invalid.behavior", "explode"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let e = r.configure(&config).expect_err("three errors").to_string();
    assert!(e.contains("table.fields.additional.placement"), "{e}");
    assert!(
        e.contains("route.topic.replacement") && e.contains("No group with name {nope}"),
        "{e}"
    );
    assert!(e.contains("table.op.invalid.behavior"), "{e}");
}

#[test]
fn blank_payload_is_empty_not_malformed_and_key_column_rules() {
    let r = router(&[
        ("table.expand.json.payload", "true"),
        ("route.tombstone.on.empty.payload", "true"),
    ]);
    let out = routed(&r, change("c", &[("payload", Value::String("  ".into()))]));
    assert!(
        out.value.is_null(),
        "a blank payload is a tombstone: {out:?}"
    );
    // A key column the table lacks is an error (Debezium 3.0's Struct.get); no key column
    // configured means a null key.
    let e = router(&[("table.field.event.key", "nope")])
        .apply(change("c", &[]))
        .expect_err("missing key column");
    assert!(e.to_string().contains("no column nope"), "{e}");
    let out = routed(&router(&[("table.field.event.key", "")]), change("c", &[]));
    assert!(out.key.is_null());
}
