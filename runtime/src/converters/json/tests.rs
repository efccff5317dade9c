//! Golden serialization tests: exact bytes as Kafka's JsonConverter writes them. Expected
//! strings follow Kafka's `asJsonSchema` key order and Jackson's number and string output.

use bytes::Bytes;
use weir_connect_api::schema::logical;
use weir_connect_api::{ConfigMap, Converter, SchemaBuilder, SchemaRef, Struct, Value};

use super::JsonConverter;

pub(super) fn converter(pairs: &[(&str, &str)]) -> JsonConverter {
    let mut c = JsonConverter::default();
    let config: ConfigMap = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    c.configure(&config, false).expect("valid config");
    c
}

pub(super) fn write(c: &JsonConverter, schema: Option<&SchemaRef>, v: &Value) -> String {
    let bytes = c
        .to_bytes("t", schema, v)
        .expect("serializes")
        .expect("not a tombstone");
    String::from_utf8(bytes.to_vec()).expect("JSON is UTF-8")
}

fn key_schema() -> SchemaRef {
    SchemaBuilder::structure()
        .name("dbserver1.public.customers.Key")
        .field("id", SchemaBuilder::int32().build())
        .build()
}

#[test]
fn compat_md_key_example_is_byte_exact() {
    let schema = key_schema();
    let mut key = Struct::new(schema.clone());
    key.put("id", Value::Int32(1001)).expect("valid");
    assert_eq!(
        write(&converter(&[]), Some(&schema), &Value::Struct(key)),
        r#"{"schema":{"type":"struct","fields":[{"type":"int32","optional":false,"field":"id"}],"optional":false,"name":"dbserver1.public.customers.Key"},"payload":{"id":1001}}"#
    );
}

#[test]
fn debezium_envelope_with_optional_structs() {
    let row = SchemaBuilder::structure()
        .name("dbserver1.public.customers.Value")
        .field("id", SchemaBuilder::int32().build())
        .field("email", SchemaBuilder::string().optional().build())
        .optional()
        .build();
    let envelope = SchemaBuilder::structure()
        .name("dbserver1.public.customers.Envelope")
        .version(1)
        .field("before", row.clone())
        .field("after", row.clone())
        .field("op", SchemaBuilder::string().build())
        .field("ts_ms", SchemaBuilder::int64().optional().build())
        .build();
    let mut after = Struct::new(row);
    after.put("id", Value::Int32(1001)).expect("valid");
    after
        .put("email", Value::String("sally@example.com".into()))
        .expect("valid");
    let mut v = Struct::new(envelope.clone());
    v.put("after", Value::Struct(after)).expect("valid");
    v.put("op", Value::String("c".into())).expect("valid");
    v.put("ts_ms", Value::Int64(1_559_033_904_863))
        .expect("valid");
    let row_json = r#""fields":[{"type":"int32","optional":false,"field":"id"},{"type":"string","optional":true,"field":"email"}],"optional":true,"name":"dbserver1.public.customers.Value""#;
    let expected = format!(
        r#"{{"schema":{{"type":"struct","fields":[{{"type":"struct",{row_json},"field":"before"}},{{"type":"struct",{row_json},"field":"after"}},{{"type":"string","optional":false,"field":"op"}},{{"type":"int64","optional":true,"field":"ts_ms"}}],"optional":false,"name":"dbserver1.public.customers.Envelope","version":1}},"payload":{{"before":null,"after":{{"id":1001,"email":"sally@example.com"}},"op":"c","ts_ms":1559033904863}}}}"#
    );
    assert_eq!(
        write(&converter(&[]), Some(&envelope), &Value::Struct(v)),
        expected
    );
}

#[test]
fn every_primitive_type_with_float_and_double_names() {
    let c = converter(&[]);
    let cases: Vec<(SchemaRef, Value, &str)> = vec![
        (
            SchemaBuilder::int8().build(),
            Value::Int8(-8),
            r#"{"schema":{"type":"int8","optional":false},"payload":-8}"#,
        ),
        (
            SchemaBuilder::int16().build(),
            Value::Int16(300),
            r#"{"schema":{"type":"int16","optional":false},"payload":300}"#,
        ),
        (
            SchemaBuilder::int32().optional().build(),
            Value::Int32(7),
            r#"{"schema":{"type":"int32","optional":true},"payload":7}"#,
        ),
        (
            SchemaBuilder::int64().build(),
            Value::Int64(i64::MIN),
            r#"{"schema":{"type":"int64","optional":false},"payload":-9223372036854775808}"#,
        ),
        (
            SchemaBuilder::float32().build(),
            Value::Float32(12.34),
            r#"{"schema":{"type":"float","optional":false},"payload":12.34}"#,
        ),
        (
            SchemaBuilder::float64().build(),
            Value::Float64(1.0),
            r#"{"schema":{"type":"double","optional":false},"payload":1.0}"#,
        ),
        (
            SchemaBuilder::float64().build(),
            Value::Float64(1e-5),
            r#"{"schema":{"type":"double","optional":false},"payload":1.0E-5}"#,
        ),
        (
            SchemaBuilder::float64().build(),
            Value::Float64(f64::NAN),
            r#"{"schema":{"type":"double","optional":false},"payload":"NaN"}"#,
        ),
        (
            SchemaBuilder::boolean().build(),
            Value::Boolean(true),
            r#"{"schema":{"type":"boolean","optional":false},"payload":true}"#,
        ),
        (
            SchemaBuilder::string().build(),
            Value::String("a\"\\\n\u{1}é".into()),
            r#"{"schema":{"type":"string","optional":false},"payload":"a\"\\\n\u0001é"}"#,
        ),
        (
            SchemaBuilder::bytes().build(),
            Value::Bytes(Bytes::from_static(b"test-string")),
            r#"{"schema":{"type":"bytes","optional":false},"payload":"dGVzdC1zdHJpbmc="}"#,
        ),
    ];
    for (schema, value, expected) in cases {
        assert_eq!(write(&c, Some(&schema), &value), expected);
    }
}

#[test]
fn schema_metadata_order_and_defaults() {
    let schema = SchemaBuilder::boolean()
        .name("bool")
        .version(2)
        .doc("the documentation")
        .parameter("foo", "bar")
        .default_value(Value::Boolean(true))
        .build();
    assert_eq!(
        write(&converter(&[]), Some(&schema), &Value::Boolean(false)),
        r#"{"schema":{"type":"boolean","optional":false,"name":"bool","version":2,"doc":"the documentation","parameters":{"foo":"bar"},"default":true},"payload":false}"#
    );
    let array = SchemaBuilder::array(SchemaBuilder::int32().build())
        .optional()
        .build();
    assert_eq!(
        write(
            &converter(&[("schemas.enable", "true")]),
            Some(&array),
            &Value::Array(vec![Value::Int32(1), Value::Int32(2)])
        ),
        r#"{"schema":{"type":"array","items":{"type":"int32","optional":false},"optional":true},"payload":[1,2]}"#
    );
}

#[test]
fn decimals_as_base64_or_numeric() {
    let schema = logical::decimal(2).build();
    let v = Value::Bytes(Bytes::from_static(&[0x00, 0x9C]));
    let schema_json = r#"{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2"}}"#;
    assert_eq!(
        write(&converter(&[]), Some(&schema), &v),
        format!(r#"{{"schema":{schema_json},"payload":"AJw="}}"#)
    );
    let numeric = converter(&[("decimal.format", "numeric")]);
    assert_eq!(
        write(&numeric, Some(&schema), &v),
        format!(r#"{{"schema":{schema_json},"payload":1.56}}"#)
    );
    let big = Value::Bytes(Bytes::from_static(&[0x30, 0x39]));
    let plain = converter(&[("decimal.format", "NUMERIC"), ("schemas.enable", "false")]);
    assert_eq!(write(&plain, Some(&schema), &big), "123.45");
    let tiny = logical::decimal(10).build();
    assert_eq!(
        write(&plain, Some(&tiny), &Value::Bytes(Bytes::from_static(&[1]))),
        "1E-10"
    );
    // Debezium adds a precision parameter; Decimal.builder puts `scale` first.
    let dbz = logical::decimal(2)
        .parameter("connect.decimal.precision", "10")
        .build();
    assert_eq!(
        write(&converter(&[]), Some(&dbz), &v),
        r#"{"schema":{"type":"bytes","optional":false,"name":"org.apache.kafka.connect.data.Decimal","version":1,"parameters":{"scale":"2","connect.decimal.precision":"10"}},"payload":"AJw="}"#
    );
}

#[test]
fn logical_dates_and_times_are_their_numbers() {
    let c = converter(&[("schemas.enable", "false")]);
    assert_eq!(
        write(&c, Some(&logical::date().build()), &Value::Int32(10000)),
        "10000"
    );
    assert_eq!(
        write(
            &c,
            Some(&logical::time().build()),
            &Value::Int32(14_400_000)
        ),
        "14400000"
    );
    assert_eq!(
        write(
            &c,
            Some(&logical::timestamp().build()),
            &Value::Int64(4_000_000_000)
        ),
        "4000000000"
    );
    assert_eq!(
        write(
            &converter(&[]),
            Some(&logical::date().build()),
            &Value::Int32(1)
        ),
        r#"{"schema":{"type":"int32","optional":false,"name":"org.apache.kafka.connect.data.Date","version":1},"payload":1}"#
    );
}

#[test]
fn maps_with_string_keys_are_objects_others_pair_arrays() {
    let c = converter(&[]);
    let by_int = SchemaBuilder::map(
        SchemaBuilder::int32().build(),
        SchemaBuilder::string().build(),
    )
    .build();
    let v = Value::Map(vec![
        (Value::Int32(1), Value::String("a".into())),
        (Value::Int32(2), Value::String("b".into())),
    ]);
    assert_eq!(
        write(&c, Some(&by_int), &v),
        r#"{"schema":{"type":"map","keys":{"type":"int32","optional":false},"values":{"type":"string","optional":false},"optional":false},"payload":[[1,"a"],[2,"b"]]}"#
    );
    let by_str = SchemaBuilder::map(
        SchemaBuilder::string().build(),
        SchemaBuilder::int32().build(),
    )
    .build();
    let v = Value::Map(vec![(Value::String("k".into()), Value::Int32(1))]);
    assert_eq!(
        write(&c, Some(&by_str), &v),
        r#"{"schema":{"type":"map","keys":{"type":"string","optional":false},"values":{"type":"int32","optional":false},"optional":false},"payload":{"k":1}}"#
    );
}

#[test]
fn schemaless_payloads_and_tombstones() {
    let c = converter(&[("schemas.enable", "false")]);
    let v = Value::Map(vec![
        (
            Value::String("b".into()),
            Value::Array(vec![Value::Int64(1), Value::Float64(2.5)]),
        ),
        (Value::String("a".into()), Value::Null),
    ]);
    assert_eq!(write(&c, None, &v), r#"{"b":[1,2.5],"a":null}"#);
    let mixed = Value::Map(vec![(Value::Int64(1), Value::Boolean(true))]);
    assert_eq!(write(&c, None, &mixed), "[[1,true]]");
    assert_eq!(
        write(&converter(&[]), None, &Value::Int64(5)),
        r#"{"schema":null,"payload":5}"#
    );
    let schema = key_schema();
    for c in [converter(&[]), c] {
        // Only a null value without a schema is a Kafka null (a tombstone).
        assert_eq!(
            c.to_bytes("t", None, &Value::Null).expect("tombstone"),
            None
        );
        // With a required schema, Kafka refuses the null.
        let err = c
            .to_bytes("t", Some(&schema), &Value::Null)
            .expect_err("required");
        assert_eq!(
            err.to_string(),
            "Conversion error: null value for field that is required and has no default value"
        );
    }
    // With an optional schema, Kafka writes the envelope with a null payload.
    let optional = SchemaBuilder::string().optional().build();
    assert_eq!(
        write(&converter(&[]), Some(&optional), &Value::Null),
        r#"{"schema":{"type":"string","optional":true},"payload":null}"#
    );
    let schemaless = converter(&[("schemas.enable", "false")]);
    assert_eq!(write(&schemaless, Some(&optional), &Value::Null), "null");
}

#[test]
fn null_fields_take_their_default_unless_disabled() {
    let schema = SchemaBuilder::structure()
        .field(
            "n",
            SchemaBuilder::int32()
                .optional()
                .default_value(Value::Int32(42))
                .build(),
        )
        .build();
    let v = Value::Struct(Struct::new(schema.clone()));
    let on = converter(&[("schemas.enable", "false")]);
    assert_eq!(write(&on, Some(&schema), &v), r#"{"n":42}"#);
    let off = converter(&[
        ("schemas.enable", "false"),
        ("replace.null.with.default", "false"),
    ]);
    assert_eq!(write(&off, Some(&schema), &v), r#"{"n":null}"#);
}

#[test]
fn write_errors_name_the_problem() {
    let c = converter(&[]);
    let schema = key_schema();
    let err = c.to_bytes(
        "t",
        Some(&schema),
        &Value::Struct(Struct::new(schema.clone())),
    );
    assert_eq!(
        err.expect_err("id is required").to_string(),
        "Conversion error: null value for field that is required and has no default value (at id)"
    );
    let f64_schema = SchemaBuilder::float64().build();
    let err = c.to_bytes("t", Some(&f64_schema), &Value::Boolean(true));
    assert_eq!(
        err.expect_err("mismatch").to_string(),
        "Invalid type for FLOAT64: found a BOOLEAN value"
    );
}

#[test]
fn config_errors_are_all_reported() {
    let mut c = JsonConverter::default();
    let config: ConfigMap = [
        ("schemas.enable", "maybe"),
        ("decimal.format", "HEX"),
        ("schemas.cache.size", "x"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let err = c
        .configure(&config, true)
        .expect_err("three errors")
        .to_string();
    assert_eq!(
        err,
        "Invalid value maybe for configuration schemas.enable: Expected value to be either true or false; \
         Invalid value x for configuration schemas.cache.size: Not a number of type INT; \
         Invalid value HEX for configuration decimal.format: String must be one of: BASE64, NUMERIC"
    );
}
