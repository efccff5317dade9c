//! Debezium's outbox `EventRouter` resolves by class name through the runtime's transform
//! registry, and its expanded payloads serialize as Kafka's JsonConverter writes them.

use weir_connect_api::{ConfigMap, ConnectRecord, SchemaBuilder, Struct, Value};
use weir_runtime::converters::converter_for;
use weir_runtime::transforms::TransformChain;

fn config(pairs: &[(&str, &str)]) -> ConfigMap {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// An insert into `srv.public.outbox` with a jsonb payload.
fn outbox_insert(payload: &str) -> ConnectRecord {
    let string = || SchemaBuilder::string().build();
    let row_schema = SchemaBuilder::structure()
        .name("srv.public.outbox.Value")
        .field("id", string())
        .field("aggregatetype", string())
        .field("aggregateid", string())
        .field(
            "payload",
            SchemaBuilder::string()
                .name("io.debezium.data.Json")
                .version(1)
                .optional()
                .build(),
        )
        .optional()
        .build();
    let mut row = Struct::new(row_schema.clone());
    for (k, v) in [
        ("id", "e-1"),
        ("aggregatetype", "order"),
        ("aggregateid", "7"),
        ("payload", payload),
    ] {
        row.put(k, Value::String(v.into())).expect("column");
    }
    let envelope = SchemaBuilder::structure()
        .name("srv.public.outbox.Envelope")
        .field("after", row_schema)
        .field("op", string())
        .build();
    let mut value = Struct::new(envelope.clone());
    value.put("after", Value::Struct(row)).expect("after");
    value.put("op", Value::String("c".into())).expect("op");
    ConnectRecord::new(
        "srv.public.outbox",
        None,
        Value::Null,
        Some(envelope),
        Value::Struct(value),
    )
}

fn json_with_schemas(record: &ConnectRecord) -> String {
    let mut converter =
        converter_for("org.apache.kafka.connect.json.JsonConverter").expect("JsonConverter");
    converter
        .configure(&config(&[("schemas.enable", "true")]), false)
        .expect("configure");
    let bytes = converter
        .to_bytes(&record.topic, record.value_schema.as_ref(), &record.value)
        .expect("converts")
        .expect("not null");
    String::from_utf8(bytes.to_vec()).expect("UTF-8")
}

#[test]
fn expanded_payload_serializes_with_its_inferred_schema() {
    let chain = TransformChain::from_config(&config(&[
        ("transforms", "outbox"),
        (
            "transforms.outbox.type",
            "io.debezium.transforms.outbox.EventRouter",
        ),
        ("transforms.outbox.table.expand.json.payload", "true"),
    ]))
    .expect("valid chain");
    let out = chain
        .apply(outbox_insert(r#"{"lines": [{"sku": "x"}], "orderId": 7}"#))
        .expect("applies")
        .pop()
        .expect("routed");
    assert_eq!(out.topic, "outbox.event.order");
    assert_eq!(
        json_with_schemas(&out),
        concat!(
            r#"{"schema":{"type":"struct","fields":["#,
            r#"{"type":"array","items":{"type":"struct","fields":[{"type":"string","optional":true,"field":"sku"}],"optional":true,"name":"payload.lines"},"optional":true,"field":"lines"},"#,
            r#"{"type":"int32","optional":true,"field":"orderId"}],"optional":true,"name":"payload"},"#,
            r#""payload":{"lines":[{"sku":"x"}],"orderId":7}}"#
        )
    );
}

#[test]
fn envelope_placement_names_the_value_schema_after_the_routed_value() {
    let chain = TransformChain::from_config(&config(&[
        ("transforms", "outbox"),
        (
            "transforms.outbox.type",
            "io.debezium.transforms.outbox.EventRouter",
        ),
        (
            "transforms.outbox.table.fields.additional.placement",
            "aggregatetype:envelope:kind",
        ),
    ]))
    .expect("valid chain");
    let out = chain
        .apply(outbox_insert(r#"{"a": 1}"#))
        .expect("applies")
        .pop()
        .expect("routed");
    assert_eq!(
        json_with_schemas(&out),
        concat!(
            r#"{"schema":{"type":"struct","fields":["#,
            r#"{"type":"string","optional":true,"name":"io.debezium.data.Json","version":1,"field":"payload"},"#,
            r#"{"type":"string","optional":false,"field":"kind"}],"optional":false,"name":"srv.public.outbox.order.Value"},"#,
            r#""payload":{"payload":"{\"a\": 1}","kind":"order"}}"#
        )
    );
}

#[test]
fn router_config_errors_name_the_full_key() {
    let errors = TransformChain::from_config(&config(&[
        ("transforms", "outbox"),
        (
            "transforms.outbox.type",
            "io.debezium.transforms.outbox.EventRouter",
        ),
        ("transforms.outbox.table.op.invalid.behavior", "explode"),
    ]))
    .expect_err("invalid behavior");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].key, "transforms.outbox.table.op.invalid.behavior");
    assert!(
        errors[0].message.contains("explode"),
        "{}",
        errors[0].message
    );
}
