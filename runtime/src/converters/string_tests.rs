use super::*;
use weir_connect_api::Struct;

fn configured(encoding: Option<&str>) -> StringConverter {
    let mut c = StringConverter::default();
    let mut config = ConfigMap::new();
    if let Some(e) = encoding {
        config.insert(ENCODING.into(), e.into());
    }
    c.configure(&config, false).expect("valid encoding");
    c
}

fn text(c: &StringConverter, schema: Option<&SchemaRef>, v: Value) -> Vec<u8> {
    c.to_bytes("t", schema, &v)
        .expect("serializes")
        .expect("not null")
        .to_vec()
}

#[test]
fn strings_round_trip_with_an_optional_string_schema() {
    let c = configured(None);
    assert_eq!(
        text(&c, None, Value::String("héllo".into())),
        "héllo".as_bytes()
    );
    let (schema, value) = c.to_connect("t", Some("héllo".as_bytes())).expect("utf-8");
    assert_eq!(value, Value::String("héllo".into()));
    let schema = schema.expect("always a schema");
    assert!(schema.optional && schema.kind == weir_connect_api::SchemaType::String);
    assert_eq!(
        c.to_connect("t", Some(b"\xFFa")).expect("lossy").1,
        Value::String("\u{FFFD}a".into())
    );
}

#[test]
fn other_values_print_as_java_to_string() {
    let c = configured(None);
    assert_eq!(text(&c, None, Value::Int64(-42)), b"-42");
    assert_eq!(text(&c, None, Value::Float64(1.0)), b"1.0");
    assert_eq!(text(&c, None, Value::Float32(1e10)), b"1.0E10");
    assert_eq!(text(&c, None, Value::Float64(f64::NAN)), b"NaN");
    assert_eq!(text(&c, None, Value::Boolean(true)), b"true");
    let list = Value::Array(vec![
        Value::Int32(1),
        Value::Null,
        Value::String("x".into()),
    ]);
    assert_eq!(text(&c, None, list), b"[1, null, x]");
    let map = Value::Map(vec![
        (Value::String("a".into()), Value::Int32(1)),
        (Value::String("b".into()), Value::Int32(2)),
    ]);
    assert_eq!(text(&c, None, map), b"{a=1, b=2}");
    let schema = SchemaBuilder::structure()
        .field("id", SchemaBuilder::int32().build())
        .field("note", SchemaBuilder::string().optional().build())
        .field("price", logical::decimal(2).build())
        .build();
    let mut st = Struct::new(schema.clone());
    st.put("id", Value::Int32(7)).expect("valid");
    st.put("price", Value::Bytes(Bytes::from_static(&[0x30, 0x39])))
        .expect("valid");
    let out = text(&c, Some(&schema), Value::Struct(st));
    assert_eq!(out, b"Struct{id=7,price=123.45}");
}

#[test]
fn encodings_follow_java_charsets() {
    let latin1 = configured(Some("iso-8859-1"));
    assert_eq!(text(&latin1, None, Value::String("é€".into())), b"\xE9?");
    assert_eq!(
        latin1.to_connect("t", Some(b"\xE9")).expect("latin1").1,
        Value::String("é".into())
    );
    let ascii = configured(Some("US-ASCII"));
    assert_eq!(text(&ascii, None, Value::String("aé".into())), b"a?");
    let utf16 = configured(Some("UTF-16"));
    assert_eq!(
        text(&utf16, None, Value::String("A".into())),
        b"\xFE\xFF\x00A"
    );
    assert_eq!(
        utf16
            .to_connect("t", Some(b"\xFF\xFEA\x00"))
            .expect("LE bom")
            .1,
        Value::String("A".into())
    );
    let le = configured(Some("UTF-16LE"));
    assert_eq!(text(&le, None, Value::String("A".into())), b"A\x00");

    let mut c = StringConverter::default();
    let mut config = ConfigMap::new();
    config.insert(ENCODING.into(), "EBCDIC".into());
    let err = c
        .configure(&config, true)
        .expect_err("unsupported")
        .to_string();
    assert_eq!(
        err,
        "Invalid value EBCDIC for configuration converter.encoding: unsupported encoding; \
         weir supports UTF-8, US-ASCII, ISO-8859-1, UTF-16, UTF-16BE and UTF-16LE"
    );
}
