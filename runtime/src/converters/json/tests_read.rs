//! Deserialization tests: Kafka's own test inputs read back, round trips, and malformed
//! input rejected with a message naming what is wrong.

use bytes::Bytes;
use weir_connect_api::schema::logical;
use weir_connect_api::{Converter, SchemaBuilder, SchemaRef, SchemaType, Struct, Value};

use super::ENVELOPE_REQUIRED;
use super::tests::{converter, write};

fn read(c: &super::JsonConverter, json: &str) -> (Option<SchemaRef>, Value) {
    c.to_connect("t", Some(json.as_bytes()))
        .expect("valid input")
}

fn read_err(c: &super::JsonConverter, json: &str) -> String {
    c.to_connect("t", Some(json.as_bytes()))
        .expect_err("invalid input")
        .to_string()
}

#[test]
fn kafka_test_inputs_read_back() {
    let c = converter(&[]);
    let (s, v) = read(
        &c,
        r#"{ "schema": { "type": "boolean", "optional": false, "name": "bool", "version": 2, "doc": "the documentation", "parameters": { "foo": "bar" }}, "payload": true }"#,
    );
    let s = s.expect("schema");
    assert_eq!(
        (s.name.as_deref(), s.version, s.doc.as_deref()),
        (Some("bool"), Some(2), Some("the documentation"))
    );
    assert_eq!(s.parameters.get("foo").map(String::as_str), Some("bar"));
    assert_eq!(v, Value::Boolean(true));
    assert_eq!(
        read(&c, r#"{ "schema": { "type": "int8" }, "payload": 0012 }"#).1,
        Value::Int8(12)
    );
    assert_eq!(
        read(&c, r#"{ "schema": { "type": "float" }, "payload": 12.34 }"#).1,
        Value::Float32(12.34)
    );
    let (s, v) = read(
        &c,
        r#"{ "schema": { "type": "boolean", "default": true }, "payload": null }"#,
    );
    assert_eq!(
        (s.expect("schema").default.clone(), v),
        (Some(Value::Boolean(true)), Value::Boolean(true))
    );
    let (_, v) = read(
        &c,
        r#"{ "schema": { "type": "map", "keys": { "type" : "int32" }, "values": { "type" : "int32" } }, "payload": [ [1, 12], [2, 15] ] }"#,
    );
    assert_eq!(
        v,
        Value::Map(vec![
            (Value::Int32(1), Value::Int32(12)),
            (Value::Int32(2), Value::Int32(15))
        ])
    );
    let (s, v) = read(
        &c,
        r#"{ "schema": { "type": "struct", "fields": [{ "field":"optional", "type": "string", "optional": true }, {  "field": "required", "type": "string" }] }, "payload": { "required": "required" } }"#,
    );
    let st = v.as_struct().expect("a struct");
    assert_eq!(st.get("optional"), Some(&Value::Null));
    assert_eq!(st.get("required"), Some(&Value::String("required".into())));
    assert_eq!(s.expect("schema").fields.len(), 2);
}

#[test]
fn decimals_read_from_base64_or_numbers_at_the_schema_scale() {
    let c = converter(&[]);
    let prefix = r#"{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "parameters": { "scale": "2" } }, "payload": "#;
    let want = Value::Bytes(Bytes::from_static(&[0x00, 0x9C]));
    for payload in [r#""AJw=""#, "1.56", "1.5600", "156e-2"] {
        let (s, v) = read(&c, &format!("{prefix}{payload} }}"));
        assert_eq!(v, want, "{payload}");
        assert_eq!(
            s.as_ref()
                .and_then(|s| s.parameters.get("scale"))
                .map(String::as_str),
            Some("2")
        );
    }
    assert_eq!(
        read_err(&c, &format!("{prefix}1.567 }}")),
        "Invalid Decimal: 1.567 has more fractional digits than the schema's scale 2"
    );
    let err = read_err(&c, &format!("{prefix}true }}"));
    assert_eq!(
        err,
        "Invalid type for Decimal, underlying representation should be numeric or bytes but was BOOLEAN"
    );
    let default = r#"{ "schema": { "type": "bytes", "name": "org.apache.kafka.connect.data.Decimal", "version": 1, "default": "AJw=", "parameters": { "scale": "2" } }, "payload": null }"#;
    assert_eq!(read(&c, default).1, want);
}

#[test]
fn round_trips_keep_schema_and_value() {
    let inner = SchemaBuilder::structure()
        .name("inner")
        .field("d", logical::date().build())
        .optional()
        .build();
    let schema = SchemaBuilder::structure()
        .name("outer")
        .version(3)
        .doc("all types")
        .field("i8", SchemaBuilder::int8().build())
        .field("f32", SchemaBuilder::float32().build())
        .field("f64", SchemaBuilder::float64().optional().build())
        .field("bytes", SchemaBuilder::bytes().build())
        .field(
            "price",
            logical::decimal(3)
                .parameter("connect.decimal.precision", "9")
                .build(),
        )
        .field("ts", logical::timestamp().build())
        .field(
            "tags",
            SchemaBuilder::array(SchemaBuilder::string().build()).build(),
        )
        .field(
            "by_id",
            SchemaBuilder::map(SchemaBuilder::int64().build(), inner.clone()).build(),
        )
        .field("inner", inner.clone())
        .field(
            "n",
            SchemaBuilder::int32()
                .optional()
                .default_value(Value::Int32(5))
                .build(),
        )
        .build();
    let mut d = Struct::new(inner.clone());
    d.put("d", Value::Int32(19_000)).expect("valid");
    let mut v = Struct::new(schema.clone());
    for (name, value) in [
        ("i8", Value::Int8(-1)),
        ("f32", Value::Float32(0.1)),
        ("f64", Value::Float64(f64::INFINITY)),
        ("bytes", Value::Bytes(Bytes::from_static(b"\x00\x01\xFE"))),
        ("price", Value::Bytes(Bytes::from_static(&[0xFF, 0x64]))),
        ("ts", Value::Int64(1_700_000_000_000)),
        ("tags", Value::Array(vec![Value::String("x".into())])),
        (
            "by_id",
            Value::Map(vec![(Value::Int64(9), Value::Struct(d.clone()))]),
        ),
        ("inner", Value::Struct(d)),
        ("n", Value::Int32(6)),
    ] {
        v.put(name, value).expect("valid");
    }
    let v = Value::Struct(v);
    for c in [converter(&[]), converter(&[("decimal.format", "NUMERIC")])] {
        let text = write(&c, Some(&schema), &v);
        let (s, back) = read(&c, &text);
        assert_eq!(s.as_deref(), Some(&*schema), "{text}");
        assert_eq!(back, v, "{text}");
        assert_eq!(write(&c, s.as_ref(), &back), text, "stable bytes");
    }
}

#[test]
fn schemaless_reads_infer_types() {
    let c = converter(&[("schemas.enable", "false")]);
    let (s, v) = read(
        &c,
        r#"{"a": 1, "b": [2.5, "x", null, false], "c": {"d": 9223372036854775807}}"#,
    );
    assert!(s.is_none());
    let expected = Value::Map(vec![
        (Value::String("a".into()), Value::Int64(1)),
        (
            Value::String("b".into()),
            Value::Array(vec![
                Value::Float64(2.5),
                Value::String("x".into()),
                Value::Null,
                Value::Boolean(false),
            ]),
        ),
        (
            Value::String("c".into()),
            Value::Map(vec![(Value::String("d".into()), Value::Int64(i64::MAX))]),
        ),
    ]);
    assert_eq!(v, expected);
    assert_eq!(
        read(&c, "  ").1,
        Value::Null,
        "empty input is Kafka's SchemaAndValue.NULL"
    );
    assert_eq!(
        c.to_connect("t", None).expect("tombstone"),
        (None, Value::Null)
    );
    let env = read(&c, r#"{"schema":{"type":"int32"},"payload":1}"#).1;
    assert!(
        matches!(env, Value::Map(ref m) if m.len() == 2),
        "no envelope unwrapping when disabled"
    );
    let (s, v) = read(&converter(&[]), r#"{"schema":null,"payload":12.24}"#);
    assert_eq!((s, v), (None, Value::Float64(12.24)));
}

#[test]
fn malformed_input_is_rejected_with_a_reason() {
    let c = converter(&[]);
    let err = read_err(&c, r#"{"schema": {"type": "int32"}, "payload": 1"#);
    assert_eq!(
        err,
        "Converting byte[] to Kafka Connect data failed due to serialization error: unexpected end of input"
    );
    let err = read_err(&c, "{\"a\" 1}");
    assert!(
        err.ends_with("unexpected character '1' at offset 5"),
        "{err}"
    );
    for bad in [
        r#"{"payload": 1}"#,
        r#"{"schema": null, "payload": 1, "extra": 2}"#,
        "[1]",
        "",
        "42",
    ] {
        assert_eq!(read_err(&c, bad), ENVELOPE_REQUIRED, "{bad}");
    }
    let err = read_err(
        &c,
        r#"{"schema": {"type": "struct", "fields": [{"field": "id", "type": "int32"}]}, "payload": {"id": "1001"}}"#,
    );
    assert_eq!(
        err,
        "Invalid value for INT32 schema: expected a JSON integer but found STRING (at id)"
    );
    let err = read_err(
        &c,
        r#"{"schema": {"type": "struct", "fields": [{"field": "id", "type": "int32"}]}, "payload": {}}"#,
    );
    assert_eq!(err, "Invalid null value for required INT32 field (at id)");
    let err = read_err(&c, r#"{"schema": {"type": "int8"}, "payload": 300}"#);
    assert_eq!(err, "JSON number 300 is out of range for INT8");
    let err = read_err(&c, r#"{"schema": {"type": "float32"}, "payload": 1}"#);
    assert_eq!(
        err,
        "Invalid schema in the \"schema\" field: Unknown schema type: float32"
    );
    let err = read_err(
        &c,
        r#"{"schema": {"type": "array", "items": {"type": "int64"}}, "payload": [1, "x"]}"#,
    );
    assert_eq!(
        err,
        "Invalid value for INT64 schema: expected a JSON integer but found STRING (at [1])"
    );
    let err = read_err(
        &c,
        r#"{"schema": {"type": "struct", "fields": []}, "payload": [1]}"#,
    );
    assert_eq!(
        err,
        "Structs should be encoded as JSON objects, but found ARRAY"
    );
    let err = read_err(&c, r#"{"schema": {"type": "bytes"}, "payload": "AJ*="}"#);
    assert_eq!(
        err,
        "Invalid bytes for bytes field: illegal character '*' in base64 text at position 2"
    );
    let err = read_err(&c, r#"{"schema": {"optional": true}, "payload": 1}"#);
    assert_eq!(
        err,
        "Invalid schema in the \"schema\" field: Schema must contain 'type' field"
    );
}

#[test]
fn parsed_schemas_have_connect_types() {
    let c = converter(&[]);
    let (s, _) = read(
        &c,
        r#"{"schema":{"type":"map","keys":{"type":"string"},"values":{"type":"double","optional":true},"optional":true},"payload":{"a":null}}"#,
    );
    let s = s.expect("schema");
    assert_eq!(s.kind, SchemaType::Map);
    assert!(s.optional);
    assert_eq!(
        s.value_schema.as_ref().map(|v| v.kind),
        Some(SchemaType::Float64)
    );
}

#[test]
fn non_finite_floats_round_trip_and_float32_parses_directly() {
    let with = converter(&[]);
    let f32_schema = SchemaBuilder::float32().build();
    for v in [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        16_777_216.0,
        0.1,
    ] {
        let text = write(&with, Some(&f32_schema), &Value::Float32(v));
        match read(&with, &text).1 {
            Value::Float32(back) => assert!(back == v || back.is_nan() && v.is_nan(), "{text}"),
            other => panic!("{text} read back as {other:?}"),
        }
    }
    let (_, v) = read(
        &with,
        r#"{"schema":{"type":"float"},"payload":"-Infinity"}"#,
    );
    assert_eq!(v, Value::Float32(f32::NEG_INFINITY));
    // 1.00000005960464477550 lies just above the midpoint between two f32s; rounding
    // through f64 first would land on the midpoint and round to even (1.0).
    let (_, v) = read(
        &with,
        r#"{"schema":{"type":"float"},"payload":1.00000005960464477550}"#,
    );
    assert_eq!(v, Value::Float32(1.000_000_1));
}

#[test]
fn schemas_read_once_are_shared_from_the_cache() {
    let record = r#"{"schema": {"type": "struct", "fields": [{"field": "id", "type": "int32"}], "optional": false, "name": "row"}, "payload": {"id": 1}}"#;
    let other = r#"{"schema": {"type": "struct", "fields": [{"field": "id", "type": "int64"}], "optional": false, "name": "row"}, "payload": {"id": 1}}"#;
    let c = converter(&[]);
    let (a, _) = read(&c, record);
    let (b, _) = read(&c, record);
    let (d, _) = read(&c, other);
    let (a, b, d) = (a.expect("a"), b.expect("b"), d.expect("d"));
    assert!(
        std::sync::Arc::ptr_eq(&a, &b),
        "the same schema JSON reads as one shared schema"
    );
    assert_eq!(
        d.fields[0].schema.kind,
        SchemaType::Int64,
        "a different schema is read anew"
    );
    let uncached = converter(&[("schemas.cache.size", "0")]);
    let (x, _) = read(&uncached, record);
    let (y, _) = read(&uncached, record);
    let (x, y) = (x.expect("x"), y.expect("y"));
    assert!(
        !std::sync::Arc::ptr_eq(&x, &y) && x == y,
        "schemas.cache.size=0 keeps none"
    );
    assert!(
        read_err(&c, r#"{"schema": {"type": "nope"}, "payload": 1}"#).contains("Invalid schema")
    );
}
