//! Debezium's `ExtractNewRecordState` resolves by class name through the runtime's transform
//! registry and runs in a chain configured as Kafka Connect configures it.

use weir_connect_api::{ConfigMap, ConnectRecord, SchemaBuilder, SchemaRef, Struct, Value};
use weir_runtime::transforms::{TransformChain, new_transform};

fn config(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn row_schema() -> SchemaRef {
    SchemaBuilder::structure()
        .name("srv.public.customers.Value")
        .field("id", SchemaBuilder::int32().build())
        .field("name", SchemaBuilder::string().optional().build())
        .optional()
        .build()
}

/// A Debezium-shaped delete event for row `{id: 1, name: "Anne"}`.
fn delete_event() -> ConnectRecord {
    let envelope = SchemaBuilder::structure()
        .name("srv.public.customers.Envelope")
        .version(2)
        .field("before", row_schema())
        .field("after", row_schema())
        .field("op", SchemaBuilder::string().build())
        .field("ts_ms", SchemaBuilder::int64().optional().build())
        .build();
    let mut before = Struct::new(row_schema());
    before.put("id", Value::Int32(1)).expect("id");
    before
        .put("name", Value::String("Anne".into()))
        .expect("name");
    let mut value = Struct::new(envelope.clone());
    value.put("before", Value::Struct(before)).expect("before");
    value.put("op", Value::String("d".into())).expect("op");
    value.put("ts_ms", Value::Int64(7)).expect("ts_ms");
    ConnectRecord::new(
        "srv.public.customers",
        None,
        Value::Null,
        Some(envelope),
        Value::Struct(value),
    )
}

#[test]
fn unwrap_resolves_by_debezium_class_name() {
    assert!(new_transform(weir_connector_postgres::EXTRACT_NEW_RECORD_STATE_CLASS).is_some());
    let chain = TransformChain::from_config(&config(&[
        ("transforms", "unwrap"),
        (
            "transforms.unwrap.type",
            "io.debezium.transforms.ExtractNewRecordState",
        ),
        (
            "transforms.unwrap.delete.tombstone.handling.mode",
            "rewrite",
        ),
        ("transforms.unwrap.add.fields", "op,ts_ms"),
    ]))
    .expect("valid chain");
    let out = chain
        .apply(delete_event())
        .expect("applies")
        .pop()
        .expect("rewritten delete kept");
    let v = out.value.as_struct().expect("struct value");
    let names: Vec<&str> = v.iter().map(|(f, _)| f.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "__deleted", "__op", "__ts_ms"]);
    assert_eq!(v.get("__deleted"), Some(&Value::String("true".into())));
    assert_eq!(v.get("__op"), Some(&Value::String("d".into())));
    // A tombstone is dropped in rewrite mode.
    let mut tombstone = delete_event();
    tombstone.value_schema = None;
    tombstone.value = Value::Null;
    assert_eq!(chain.apply(tombstone).expect("applies"), vec![]);
}

#[test]
fn unwrap_config_errors_name_the_full_key() {
    let errors = TransformChain::from_config(&config(&[
        ("transforms", "unwrap"),
        (
            "transforms.unwrap.type",
            "io.debezium.transforms.ExtractNewRecordState",
        ),
        ("transforms.unwrap.delete.tombstone.handling.mode", "soft"),
    ]))
    .expect_err("invalid mode");
    let messages: Vec<(String, String)> = errors.into_iter().map(|e| (e.key, e.message)).collect();
    assert_eq!(
        messages,
        [(
            "transforms.unwrap.delete.tombstone.handling.mode".to_string(),
            "Invalid value soft for configuration transforms.unwrap.delete.tombstone.handling.mode: Value must be one of drop, tombstone, rewrite, rewrite-with-tombstone, delete-to-tombstone".to_string()
        )]
    );
}
