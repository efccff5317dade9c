//! Tests of `ExtractNewRecordState` on hand-built Debezium-shaped records: a
//! `srv.public.customers` table with an envelope as Debezium's Postgres connector makes it.

mod added;
mod errors;
mod modes;

use weir_connect_api::{
    ConfigMap, ConnectRecord, ConnectorError, SchemaBuilder, SchemaRef, Struct, Transform, Value,
};

use super::ExtractNewRecordState;

pub(super) const TOPIC: &str = "srv.public.customers";
pub(super) const COMMIT_TS: i64 = 1_559_033_904_863;
pub(super) const PROCESSED_TS: i64 = 1_559_033_904_900;
pub(super) const LSN: i64 = 24_023_128;

pub(super) fn s(v: &str) -> Value {
    Value::String(v.to_string())
}

/// `srv.public.customers.Value`, optional as the envelope's `before` / `after` fields are.
/// `email` has a default (`'n/a'` in the table), `destination` is used for routing.
pub(super) fn row_schema() -> SchemaRef {
    SchemaBuilder::structure()
        .name(format!("{TOPIC}.Value"))
        .field("id", SchemaBuilder::int32().build())
        .field("name", SchemaBuilder::string().optional().build())
        .field(
            "email",
            SchemaBuilder::string()
                .optional()
                .default_value(s("n/a"))
                .build(),
        )
        .field("destination", SchemaBuilder::string().optional().build())
        .optional()
        .build()
}

fn key_schema() -> SchemaRef {
    SchemaBuilder::structure()
        .name(format!("{TOPIC}.Key"))
        .field("id", SchemaBuilder::int32().build())
        .build()
}

fn source_schema() -> SchemaRef {
    let string = || SchemaBuilder::string().build();
    let opt_i64 = || SchemaBuilder::int64().optional().build();
    SchemaBuilder::structure()
        .name("io.debezium.connector.postgresql.Source")
        .field("version", string())
        .field("connector", string())
        .field("name", string())
        .field("ts_ms", SchemaBuilder::int64().build())
        .field(
            "snapshot",
            SchemaBuilder::string()
                .optional()
                .name("io.debezium.data.Enum")
                .version(1)
                .parameter("allowed", "true,last,false,incremental")
                .default_value(s("false"))
                .build(),
        )
        .field("db", string())
        .field("schema", string())
        .field("table", string())
        .field("txId", opt_i64())
        .field("lsn", opt_i64())
        .build()
}

fn transaction_schema() -> SchemaRef {
    SchemaBuilder::structure()
        .name("event.block")
        .version(1)
        .field("id", SchemaBuilder::string().build())
        .field("total_order", SchemaBuilder::int64().build())
        .field("data_collection_order", SchemaBuilder::int64().build())
        .optional()
        .build()
}

pub(super) fn envelope_schema() -> SchemaRef {
    SchemaBuilder::structure()
        .name(format!("{TOPIC}.Envelope"))
        .version(2)
        .field("before", row_schema())
        .field("after", row_schema())
        .field("source", source_schema())
        .field("transaction", transaction_schema())
        .field("op", SchemaBuilder::string().build())
        .field("ts_ms", SchemaBuilder::int64().optional().build())
        .build()
}

/// A row; `email: None` leaves it null (so the default may apply).
pub(super) fn row(id: i32, name: &str, email: Option<&str>) -> Struct {
    let mut r = Struct::new(row_schema());
    r.put("id", Value::Int32(id)).expect("id");
    r.put("name", s(name)).expect("name");
    r.put("email", email.map_or(Value::Null, s)).expect("email");
    r
}

fn source() -> Struct {
    let mut src = Struct::new(source_schema());
    for (k, v) in [
        ("version", s("3.0.8.Final")),
        ("connector", s("postgresql")),
        ("name", s("srv")),
        ("ts_ms", Value::Int64(COMMIT_TS)),
        ("snapshot", s("false")),
        ("db", s("postgres")),
        ("schema", s("public")),
        ("table", s("customers")),
        ("txId", Value::Int64(555)),
        ("lsn", Value::Int64(LSN)),
    ] {
        src.put(k, v).expect("source field");
    }
    src
}

/// A change event with key `{id}` (the row's id, or 0 for truncate).
pub(super) fn event(op: &str, before: Option<Struct>, after: Option<Struct>) -> ConnectRecord {
    let id = after
        .as_ref()
        .or(before.as_ref())
        .and_then(|r| r.get("id").cloned())
        .unwrap_or(Value::Int32(0));
    let mut env = Struct::new(envelope_schema());
    env.put("before", before.map_or(Value::Null, Value::Struct))
        .expect("before");
    env.put("after", after.map_or(Value::Null, Value::Struct))
        .expect("after");
    env.put("source", Value::Struct(source())).expect("source");
    env.put("op", s(op)).expect("op");
    env.put("ts_ms", Value::Int64(PROCESSED_TS)).expect("ts_ms");
    let mut key = Struct::new(key_schema());
    key.put("id", id).expect("key id");
    let mut r = ConnectRecord::new(
        TOPIC,
        Some(key_schema()),
        Value::Struct(key),
        Some(envelope_schema()),
        Value::Struct(env),
    );
    r.timestamp = Some(COMMIT_TS);
    r
}

pub(super) fn create() -> ConnectRecord {
    event("c", None, Some(row(1, "Anne", Some("annek@noanswer.org"))))
}

pub(super) fn update() -> ConnectRecord {
    event(
        "u",
        Some(row(1, "Anne", Some("annek@noanswer.org"))),
        Some(row(1, "Anne Marie", Some("annek@noanswer.org"))),
    )
}

pub(super) fn delete() -> ConnectRecord {
    event("d", Some(row(1, "Anne Marie", None)), None)
}

pub(super) fn truncate() -> ConnectRecord {
    let mut r = event("t", None, None);
    r.key_schema = None;
    r.key = Value::Null;
    r
}

/// The tombstone Debezium emits after a delete: same key, null value and schema.
pub(super) fn tombstone() -> ConnectRecord {
    let mut r = delete();
    r.value_schema = None;
    r.value = Value::Null;
    r
}

pub(super) fn heartbeat() -> ConnectRecord {
    let schema = SchemaBuilder::structure()
        .name("io.debezium.connector.common.Heartbeat")
        .field("ts_ms", SchemaBuilder::int64().build())
        .build();
    let mut v = Struct::new(schema.clone());
    v.put("ts_ms", Value::Int64(COMMIT_TS)).expect("ts_ms");
    ConnectRecord::new(
        "__debezium-heartbeat.srv",
        None,
        Value::Null,
        Some(schema),
        Value::Struct(v),
    )
}

/// The envelope as a `JsonConverter` with `schemas.enable=false` would hand it over.
pub(super) fn schemaless_event() -> ConnectRecord {
    let value = Value::Map(vec![
        (s("before"), Value::Null),
        (
            s("after"),
            Value::Map(vec![(s("id"), Value::Int32(1)), (s("name"), s("Anne"))]),
        ),
        (s("op"), s("c")),
    ]);
    ConnectRecord::new(TOPIC, None, Value::Null, None, value)
}

pub(super) fn config(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

pub(super) fn unwrap(pairs: &[(&str, &str)]) -> ExtractNewRecordState {
    let mut t = ExtractNewRecordState::new();
    t.configure(&config(pairs)).expect("valid unwrap config");
    t
}

/// Applies and returns the kept record, or `None` if it was dropped.
pub(super) fn run(t: &ExtractNewRecordState, r: ConnectRecord) -> Option<ConnectRecord> {
    t.apply(r).expect("unwrap succeeds")
}

pub(super) fn kept(t: &ExtractNewRecordState, r: ConnectRecord) -> ConnectRecord {
    run(t, r).expect("record kept")
}

/// The value's struct, or a panic naming what it was.
pub(super) fn value(r: &ConnectRecord) -> &Struct {
    r.value
        .as_struct()
        .unwrap_or_else(|| panic!("expected a struct value, got {:?}", r.value))
}

pub(super) fn field_names(r: &ConnectRecord) -> Vec<String> {
    r.value_schema
        .as_ref()
        .expect("value schema")
        .fields
        .iter()
        .map(|f| f.name.clone())
        .collect()
}

pub(super) fn config_errors(pairs: &[(&str, &str)]) -> Vec<String> {
    let mut t = ExtractNewRecordState::new();
    match t.configure(&config(pairs)) {
        Err(ConnectorError::Config(errs)) => errs.into_iter().map(|e| e.message).collect(),
        other => panic!("expected config errors, got {other:?}"),
    }
}
