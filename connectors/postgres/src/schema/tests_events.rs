//! Envelope, source block and event-sequence tests (Debezium 3.0 schemas, COMPAT 3.4-3.9).

use weir_connect_api::{SchemaRef, SchemaType, Struct, Value};

use super::types::oid;
use super::*;

fn orders() -> TableSchema {
    let col = |name: &str, type_oid: u32, optional: bool, key_seq: u32| ColumnInfo {
        name: name.into(),
        type_oid,
        type_modifier: -1,
        optional,
        primary_key: key_seq > 0,
        key_seq,
        default_expr: None,
    };
    TableSchema::build(
        "fulfillment",
        TableId {
            schema: "public".into(),
            table: "orders".into(),
        },
        vec![
            col("id", oid::INT4, false, 1),
            col("note", oid::TEXT, true, 0),
            col("secret", oid::TEXT, true, 0),
        ],
        &TypeRegistry::builtin(),
        &ValueOptions::default(),
        &|c| c != "secret" && c != "id",
    )
    .expect("schema")
}

fn row(t: &TableSchema, id: &str, note: &str) -> Struct {
    t.row(&[
        ColumnValue::Text(id),
        ColumnValue::Text(note),
        ColumnValue::Null,
    ])
    .expect("row")
}

fn fields(s: &SchemaRef) -> Vec<(String, SchemaType, bool)> {
    s.fields
        .iter()
        .map(|f| (f.name.clone(), f.schema.kind, f.schema.optional))
        .collect()
}

fn src() -> SourceInfo {
    SourceInfo {
        ts_us: 1_559_033_904_863_123,
        snapshot: SnapshotMarker::False,
        db: "postgres".into(),
        sequence: (Some(24_023_119), Some(24_023_128)),
        schema: "public".into(),
        table: "orders".into(),
        tx_id: Some(555),
        lsn: Some(24_023_128),
        xmin: None,
    }
}

#[test]
fn table_schemas_names_and_filter() {
    let t = orders();
    assert_eq!(t.topic(), "fulfillment.public.orders");
    let key = t.key_schema().expect("key");
    assert_eq!(key.name.as_deref(), Some("fulfillment.public.orders.Key"));
    assert_eq!(fields(key), [("id".to_string(), SchemaType::Int32, false)]);
    let value = t.value_schema();
    assert_eq!(
        value.name.as_deref(),
        Some("fulfillment.public.orders.Value")
    );
    assert!(value.optional);
    // key columns are kept even when the filter excludes them; others are filtered
    assert_eq!(t.field_names().collect::<Vec<_>>(), ["id", "note"]);
    let env = t.envelope_schema();
    assert_eq!(
        (env.name.as_deref(), env.version),
        (Some("fulfillment.public.orders.Envelope"), Some(2))
    );
    let names: Vec<&str> = env.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "before",
            "after",
            "source",
            "op",
            "ts_ms",
            "ts_us",
            "ts_ns",
            "transaction"
        ]
    );
    let tx = &env.field("transaction").expect("tx").schema;
    assert_eq!(
        (tx.name.as_deref(), tx.version, tx.optional),
        (Some("event.block"), Some(1), true)
    );
    assert_eq!(
        fields(tx),
        [
            ("id".to_string(), SchemaType::String, false),
            ("total_order".to_string(), SchemaType::Int64, false),
            (
                "data_collection_order".to_string(),
                SchemaType::Int64,
                false
            )
        ]
    );
    assert!(!env.field("op").expect("op").schema.optional);
}

#[test]
fn source_block_schema_and_values() {
    let s = source_schema();
    assert_eq!(
        (s.name.as_deref(), s.version),
        (Some("io.debezium.connector.postgresql.Source"), None)
    );
    let want = [
        ("version", SchemaType::String, false),
        ("connector", SchemaType::String, false),
        ("name", SchemaType::String, false),
        ("ts_ms", SchemaType::Int64, false),
        ("snapshot", SchemaType::String, true),
        ("db", SchemaType::String, false),
        ("sequence", SchemaType::String, true),
        ("ts_us", SchemaType::Int64, true),
        ("ts_ns", SchemaType::Int64, true),
        ("schema", SchemaType::String, false),
        ("table", SchemaType::String, false),
        ("txId", SchemaType::Int64, true),
        ("lsn", SchemaType::Int64, true),
        ("xmin", SchemaType::Int64, true),
    ];
    let got = fields(&s);
    assert_eq!(got.len(), want.len());
    for (g, w) in got.iter().zip(want) {
        assert_eq!((g.0.as_str(), g.1, g.2), w);
    }
    let snap = &s.field("snapshot").expect("snapshot").schema;
    assert_eq!(snap.name.as_deref(), Some("io.debezium.data.Enum"));
    assert_eq!(
        snap.parameters.get("allowed").map(String::as_str),
        Some(SNAPSHOT_ALLOWED)
    );
    assert_eq!(snap.default, Some(Value::String("false".into())));

    let b = EventBuilder::new("PostgreSQL_server");
    let st = b.source_struct(&src());
    assert_eq!(
        st.get("version"),
        Some(&Value::String("3.0.8.Final".into()))
    );
    assert_eq!(
        st.get("connector"),
        Some(&Value::String("postgresql".into()))
    );
    assert_eq!(st.get("ts_ms"), Some(&Value::Int64(1_559_033_904_863)));
    assert_eq!(
        st.get("ts_ns"),
        Some(&Value::Int64(1_559_033_904_863_123_000))
    );
    assert_eq!(st.get("snapshot"), Some(&Value::Null));
    assert_eq!(
        st.get("sequence"),
        Some(&Value::String("[\"24023119\",\"24023128\"]".into()))
    );
    assert_eq!(st.get("txId"), Some(&Value::Int64(555)));
    assert_eq!(st.get("lsn"), Some(&Value::Int64(24_023_128)));
    st.validate().expect("valid source");
    let mut inc = src();
    inc.snapshot = SnapshotMarker::Incremental;
    inc.sequence = (None, Some(5));
    let st = b.source_struct(&inc);
    assert_eq!(
        st.get("snapshot"),
        Some(&Value::String("incremental".into()))
    );
    assert_eq!(st.get("txId"), Some(&Value::Null));
    assert_eq!(
        st.get("sequence"),
        Some(&Value::String("[null,\"5\"]".into()))
    );
}

#[test]
fn create_update_delete_and_tombstone() {
    let t = orders();
    let b = EventBuilder::new("fulfillment");
    let tx = TxBlock {
        id: "555:24023128".into(),
        total_order: 1,
        data_collection_order: 1,
    };
    let r = b.read_or_create(&t, Op::Create, row(&t, "1", "a"), &src(), Some(&tx));
    assert_eq!(r.topic, "fulfillment.public.orders");
    assert_eq!(r.timestamp, None);
    let v = r.value.as_struct().expect("envelope");
    v.validate().expect("valid envelope");
    assert_eq!(v.get("op"), Some(&Value::String("c".into())));
    assert_eq!(v.get("before"), Some(&Value::Null));
    assert!(v.get("transaction").and_then(Value::as_struct).is_some());
    assert_eq!(
        r.key.as_struct().and_then(|k| k.get("id")),
        Some(&Value::Int32(1))
    );

    let out = b.update(&t, None, row(&t, "1", "b"), &src(), None);
    assert_eq!(out.len(), 1);
    assert_eq!(
        out[0].value.as_struct().and_then(|v| v.get("op")),
        Some(&Value::String("u".into()))
    );

    let out = b.delete(&t, row(&t, "1", "b"), &src(), None);
    assert_eq!(out.len(), 2);
    assert!(out[1].is_tombstone());
    assert_eq!(
        (out[1].key.clone(), out[1].value_schema.clone()),
        (out[0].key.clone(), None)
    );
    let mut quiet = EventBuilder::new("fulfillment");
    quiet.tombstones_on_delete = false;
    assert_eq!(quiet.delete(&t, row(&t, "1", "b"), &src(), None).len(), 1);

    let tr = b.truncate(&t, &src(), None);
    assert_eq!((tr.key.clone(), tr.key_schema.clone()), (Value::Null, None));
    let v = tr.value.as_struct().expect("envelope");
    assert_eq!(
        (v.get("op"), v.get("after")),
        (Some(&Value::String("t".into())), Some(&Value::Null))
    );
}

#[test]
fn primary_key_change_is_delete_tombstone_create_with_headers() {
    let t = orders();
    let b = EventBuilder::new("fulfillment");
    let out = b.update(&t, Some(row(&t, "1", "a")), row(&t, "2", "a"), &src(), None);
    let ops: Vec<Option<String>> = out
        .iter()
        .map(|r| {
            r.value
                .as_struct()
                .and_then(|v| v.get("op"))
                .and_then(|o| o.as_str())
                .map(str::to_string)
        })
        .collect();
    assert_eq!(ops, [Some("d".into()), None, Some("c".into())]);
    let key_id = |v: &Value| v.as_struct().and_then(|k| k.get("id")).cloned();
    assert_eq!(key_id(&out[0].key), Some(Value::Int32(1)));
    assert_eq!(key_id(&out[2].key), Some(Value::Int32(2)));
    let newkey = out[0]
        .headers
        .last("__debezium.newkey")
        .expect("newkey header");
    assert_eq!(key_id(&newkey.value), Some(Value::Int32(2)));
    assert_eq!(newkey.schema.as_ref(), t.key_schema());
    assert!(
        out[1].headers.last("__debezium.newkey").is_some(),
        "the tombstone keeps the delete's headers"
    );
    let oldkey = out[2]
        .headers
        .last("__debezium.oldkey")
        .expect("oldkey header");
    assert_eq!(key_id(&oldkey.value), Some(Value::Int32(1)));
}

#[test]
fn heartbeat_transaction_and_message_records() {
    let b = EventBuilder::new("fulfillment");
    let h = b.heartbeat(1_486_500_577_125);
    assert_eq!(
        (h.topic.as_str(), h.kafka_partition),
        ("__debezium-heartbeat.fulfillment", Some(0))
    );
    assert_eq!(
        h.key_schema
            .as_ref()
            .and_then(|s| s.name.clone())
            .as_deref(),
        Some("io.debezium.connector.common.ServerNameKey")
    );
    assert_eq!(
        h.key.as_struct().and_then(|k| k.get("serverName")),
        Some(&Value::String("fulfillment".into()))
    );
    assert_eq!(
        h.value.as_struct().and_then(|k| k.get("ts_ms")),
        Some(&Value::Int64(1_486_500_577_125))
    );

    let begin = b.transaction_begin("571:53195829", 1_486_500_577_125);
    assert_eq!(begin.topic, "fulfillment.transaction");
    let v = begin.value.as_struct().expect("value");
    let names: Vec<&str> = v.schema().fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(
        names,
        ["status", "id", "event_count", "data_collections", "ts_ms"]
    );
    assert_eq!(
        (v.get("status"), v.get("event_count")),
        (Some(&Value::String("BEGIN".into())), Some(&Value::Null))
    );
    let end = b.transaction_end("571:53195832", 1, &[("s1.a".into(), 1), ("s2.a".into(), 1)]);
    let v = end.value.as_struct().expect("value");
    assert_eq!(v.get("event_count"), Some(&Value::Int64(2)));
    let Some(Value::Array(cols)) = v.get("data_collections") else {
        panic!("collections")
    };
    assert_eq!(cols.len(), 2);
    v.validate().expect("valid END");

    let mut src = src();
    src.schema.clear();
    src.table.clear();
    let m = b.message("audit", b"hello", &src);
    assert_eq!(m.topic, "fulfillment.message");
    let v = m.value.as_struct().expect("value");
    assert_eq!(v.get("op"), Some(&Value::String("m".into())));
    let block = v
        .get("message")
        .and_then(Value::as_struct)
        .expect("message block");
    assert_eq!(
        block.get("content"),
        Some(&Value::Bytes(bytes::Bytes::from_static(b"hello")))
    );
    assert_eq!(
        m.key.as_struct().and_then(|k| k.get("prefix")),
        Some(&Value::String("audit".into()))
    );
}
