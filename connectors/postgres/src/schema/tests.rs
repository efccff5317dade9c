//! Type-mapping tests. Expected values are Debezium 3.0.8's own test expectations
//! (`AbstractRecordsProducerTest`, `RecordsStreamProducerIT`) for the same Postgres input.

use bytes::Bytes;
use weir_connect_api::{SchemaRef, SchemaType, Value};

use super::types::oid;
use super::*;

fn col(name: &str, type_oid: u32, typmod: i32, optional: bool) -> ColumnInfo {
    ColumnInfo {
        name: name.into(),
        type_oid,
        type_modifier: typmod,
        optional,
        primary_key: false,
        key_seq: 0,
        default_expr: None,
    }
}

fn table(types: &TypeRegistry, opts: &ValueOptions, cols: Vec<ColumnInfo>) -> TableSchema {
    TableSchema::build(
        "server1",
        TableId {
            schema: "public".into(),
            table: "t".into(),
        },
        cols,
        types,
        opts,
        &|_| true,
    )
    .expect("table schema")
}

/// Maps one column and converts one value; returns the field schema and the value.
fn one_with(
    types: &TypeRegistry,
    opts: &ValueOptions,
    type_oid: u32,
    typmod: i32,
    v: ColumnValue<'_>,
) -> (SchemaRef, Value) {
    let t = table(types, opts, vec![col("c", type_oid, typmod, true)]);
    let row = t.row(&[v]).expect("row converts");
    let schema = t
        .value_schema()
        .field("c")
        .expect("column mapped")
        .schema
        .clone();
    (schema, row.get("c").cloned().expect("field"))
}

fn one(type_oid: u32, typmod: i32, text: &str) -> (SchemaRef, Value) {
    one_with(
        &TypeRegistry::builtin(),
        &ValueOptions::default(),
        type_oid,
        typmod,
        ColumnValue::Text(text),
    )
}

fn with_mode(opts: ValueOptions, type_oid: u32, typmod: i32, text: &str) -> (SchemaRef, Value) {
    one_with(
        &TypeRegistry::builtin(),
        &opts,
        type_oid,
        typmod,
        ColumnValue::Text(text),
    )
}

fn numeric_typmod(precision: i32, scale: i32) -> i32 {
    ((precision << 16) | scale) + 4
}

fn bytes(b: &[u8]) -> Value {
    Value::Bytes(Bytes::copy_from_slice(b))
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

fn name(schema: &SchemaRef) -> Option<&str> {
    schema.name.as_deref()
}

#[test]
fn integers_floats_and_bool() {
    assert_eq!(one(oid::INT2, -1, "1").1, Value::Int16(1));
    assert_eq!(one(oid::INT4, -1, "123456").1, Value::Int32(123_456));
    assert_eq!(
        one(oid::INT8, -1, "1234567890123").1,
        Value::Int64(1_234_567_890_123)
    );
    assert_eq!(
        one(oid::OID, -1, "4000000000").1,
        Value::Int64(4_000_000_000)
    );
    assert_eq!(one(oid::FLOAT4, -1, "3.3").1, Value::Float32(3.3));
    assert_eq!(one(oid::FLOAT8, -1, "4.44").1, Value::Float64(4.44));
    assert_eq!(
        one(oid::FLOAT4, -1, "Infinity").1,
        Value::Float32(f32::INFINITY)
    );
    assert_eq!(
        one(oid::FLOAT8, -1, "-Infinity").1,
        Value::Float64(f64::NEG_INFINITY)
    );
    assert!(matches!(one(oid::FLOAT8, -1, "NaN").1, Value::Float64(f) if f.is_nan()));
    let (schema, v) = one(oid::BOOL, -1, "t");
    assert_eq!(
        (schema.kind, schema.optional, v),
        (SchemaType::Boolean, true, Value::Boolean(true))
    );
    assert_eq!(one(oid::BOOL, -1, "f").1, Value::Boolean(false));
}

#[test]
fn numeric_precise() {
    let (schema, v) = one(oid::NUMERIC, numeric_typmod(3, 2), "1.10");
    assert_eq!(name(&schema), Some("org.apache.kafka.connect.data.Decimal"));
    let params: Vec<(&str, &str)> = schema
        .parameters
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(params, [("scale", "2"), ("connect.decimal.precision", "3")]);
    assert_eq!(v, bytes(&[110]));
    // d_int: 1 into numeric(3,2) -> 1.00
    assert_eq!(
        one(oid::NUMERIC, numeric_typmod(3, 2), "1.00").1,
        bytes(&[100])
    );
    assert_eq!(
        one(oid::NUMERIC, numeric_typmod(6, 4), "22.2200").1,
        bytes(&[0x03, 0x63, 0xf8])
    );
    // numeric without typmod: VariableScaleDecimal {scale, value}
    let (schema, v) = one(oid::NUMERIC, -1, "10.1111");
    assert_eq!(name(&schema), Some("io.debezium.data.VariableScaleDecimal"));
    assert_eq!(schema.doc.as_deref(), Some("Variable scaled decimal"));
    let st = v.as_struct().expect("struct");
    assert_eq!(st.get("scale"), Some(&Value::Int32(4)));
    assert_eq!(st.get("value"), Some(&bytes(&[0x01, 0x8a, 0xf7])));
    let v = one(oid::NUMERIC, -1, "22.2000").1;
    let st = v.as_struct().expect("struct");
    assert_eq!(st.get("scale"), Some(&Value::Int32(1)));
    assert_eq!(st.get("value"), Some(&bytes(&[0, 222])));
    let v = one(oid::NUMERIC, -1, "10").1;
    assert_eq!(
        v.as_struct().and_then(|s| s.get("scale")),
        Some(&Value::Int32(0))
    );
    // NaN cannot be expressed in precise mode: Debezium fails the record.
    let t = table(
        &TypeRegistry::builtin(),
        &ValueOptions::default(),
        vec![col("c", oid::NUMERIC, -1, true)],
    );
    assert!(t.row(&[ColumnValue::Text("NaN")]).is_err());
}

#[test]
fn numeric_string_and_double_modes() {
    let string = ValueOptions {
        decimal_handling: DecimalMode::String,
        ..Default::default()
    };
    let cases = [
        (numeric_typmod(3, 2), "1.10", "1.10"),
        (numeric_typmod(4, 0), "10", "10"),
        (-1, "10.1111", "10.1111"),
        (numeric_typmod(6, 4), "22.0000", "22.0000"),
        (-1, "22", "22"),
        (-1, "NaN", "NAN"),
        (-1, "Infinity", "POSITIVE_INFINITY"),
        (-1, "-Infinity", "NEGATIVE_INFINITY"),
    ];
    for (typmod, text, want) in cases {
        let (schema, v) = with_mode(string.clone(), oid::NUMERIC, typmod, text);
        assert_eq!((schema.kind, v), (SchemaType::String, s(want)), "{text}");
    }
    let double = ValueOptions {
        decimal_handling: DecimalMode::Double,
        ..Default::default()
    };
    assert_eq!(
        with_mode(double.clone(), oid::NUMERIC, numeric_typmod(3, 2), "1.10").1,
        Value::Float64(1.1)
    );
    assert_eq!(
        with_mode(double.clone(), oid::NUMERIC, -1, "10.1111").1,
        Value::Float64(10.1111)
    );
    assert!(
        matches!(with_mode(double, oid::NUMERIC, -1, "NaN").1, Value::Float64(f) if f.is_nan())
    );
}

#[test]
fn money_strips_symbol_and_separators() {
    let (schema, v) = one(oid::MONEY, -1, "$1,234.11");
    assert_eq!(name(&schema), Some("org.apache.kafka.connect.data.Decimal"));
    assert_eq!(
        schema.parameters.get("scale").map(String::as_str),
        Some("2")
    );
    assert_eq!(v, bytes(&[0x01, 0xe2, 0x13])); // 123411
    assert_eq!(
        one(oid::MONEY, -1, "-$1,234.11").1,
        bytes(&[0xfe, 0x1d, 0xed])
    ); // -123411
    let string = ValueOptions {
        decimal_handling: DecimalMode::String,
        ..Default::default()
    };
    assert_eq!(
        with_mode(string, oid::MONEY, -1, "-$1,234.11").1,
        s("-1234.11")
    );
    let three = ValueOptions {
        money_fraction_digits: 3,
        ..Default::default()
    };
    assert_eq!(
        with_mode(three, oid::MONEY, -1, "$1.50").1,
        bytes(&[0x05, 0xdc])
    ); // 1500
}

#[test]
fn bits_are_little_endian_with_length() {
    assert_eq!(one(oid::BIT, 1, "0").1, Value::Boolean(false));
    assert_eq!(one(oid::BIT, 1, "1").1, Value::Boolean(true));
    let (schema, v) = one(oid::BIT, 2, "11");
    assert_eq!(name(&schema), Some("io.debezium.data.Bits"));
    assert_eq!(
        schema.parameters.get("length").map(String::as_str),
        Some("2")
    );
    assert_eq!(v, bytes(&[3]));
    assert_eq!(one(oid::BIT, 7, "1000000").1, bytes(&[64]));
    assert_eq!(one(oid::BIT, 2, "00").1, bytes(&[]));
    assert_eq!(
        one(oid::BIT, 24, "000000110000001000000001").1,
        bytes(&[1, 2, 3])
    );
    let long = format!("1{}", "0".repeat(63));
    assert_eq!(
        one(oid::BIT, 64, &long).1,
        bytes(&[0, 0, 0, 0, 0, 0, 0, 0x80])
    );
    let (schema, v) = one(oid::VARBIT, -1, "101");
    assert_eq!(
        schema.parameters.get("length").map(String::as_str),
        Some("2147483647")
    );
    assert_eq!(v, bytes(&[5]));
    assert_eq!(
        one(oid::VARBIT, -1, "111011010001000110000001000000001").1,
        bytes(&[1, 2, 35, 0xda, 1])
    );
}

#[test]
fn strings_json_uuid_xml_network_ranges() {
    for (o, text) in [
        (oid::VARCHAR, "\u{17e}\u{161}"),
        (oid::BPCHAR, "cdef"),
        (oid::TEXT, "some text"),
        (oid::INET, "192.168.2.0/12"),
        (oid::CIDR, "192.168.100.128/25"),
        (oid::MACADDR, "08:00:2b:01:02:03"),
        (oid::MACADDR8, "08:00:2b:01:02:03:04:05"),
        (oid::TSRANGE, "[\"2019-03-31 15:30:00\",infinity)"),
        (oid::INT4RANGE, "[1000,6000)"),
        (oid::NUMRANGE, "[5.3,6.3)"),
        (oid::DATERANGE, "[2019-03-31,2019-04-30)"),
    ] {
        let (schema, v) = one(o, -1, text);
        assert_eq!(
            (schema.kind, schema.name.clone(), v),
            (SchemaType::String, None, s(text))
        );
    }
    for (o, logical, text) in [
        (oid::JSON, "io.debezium.data.Json", "{\"bar\": \"baz\"}"),
        (oid::JSONB, "io.debezium.data.Json", "{\"bar\": \"baz\"}"),
        (
            oid::XML,
            "io.debezium.data.Xml",
            "<foo>bar</foo><foo>bar</foo>",
        ),
        (
            oid::UUID,
            "io.debezium.data.Uuid",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        ),
    ] {
        let (schema, v) = one(o, -1, text);
        assert_eq!(
            (name(&schema), schema.version, v),
            (Some(logical), Some(1), s(text))
        );
    }
}

#[test]
fn bytea_in_every_binary_mode() {
    assert_eq!(one(oid::BYTEA, -1, "\\x010203").1, bytes(&[1, 2, 3]));
    let mode = |m| ValueOptions {
        binary_handling: m,
        ..Default::default()
    };
    assert_eq!(
        with_mode(mode(BinaryMode::Hex), oid::BYTEA, -1, "\\x010203").1,
        s("010203")
    );
    assert_eq!(
        with_mode(mode(BinaryMode::Base64), oid::BYTEA, -1, "\\x010203").1,
        s("AQID")
    );
    assert_eq!(
        with_mode(mode(BinaryMode::Base64UrlSafe), oid::BYTEA, -1, "\\x010203").1,
        s("AQID")
    );
    let (schema, v) = with_mode(
        mode(BinaryMode::Base64),
        oid::BYTEA_ARRAY,
        -1,
        "{\"\\\\x000102\",\"\\\\x030405\"}",
    );
    assert_eq!(
        schema.value_schema.as_ref().map(|e| (e.kind, e.optional)),
        Some((SchemaType::String, true))
    );
    assert_eq!(v, Value::Array(vec![s("AAEC"), s("AwQF")]));
}

#[test]
fn unknown_types_are_dropped_or_bytes() {
    let types = TypeRegistry::builtin();
    let t = table(
        &types,
        &ValueOptions::default(),
        vec![col("ccircle", 718, -1, true)],
    );
    assert_eq!(t.field_names().count(), 0);
    let text = "<(10,20),10>";
    let inc = |m| ValueOptions {
        include_unknown_datatypes: true,
        binary_handling: m,
        ..Default::default()
    };
    let (schema, v) = one_with(
        &types,
        &inc(BinaryMode::Bytes),
        718,
        -1,
        ColumnValue::Text(text),
    );
    assert_eq!(
        (schema.kind, v),
        (SchemaType::Bytes, bytes(text.as_bytes()))
    );
    let text = "<(10.0,20.0),10.0>";
    assert_eq!(
        one_with(
            &types,
            &inc(BinaryMode::Base64),
            718,
            -1,
            ColumnValue::Text(text)
        )
        .1,
        s("PCgxMC4wLDIwLjApLDEwLjA+")
    );
    assert_eq!(
        one_with(
            &types,
            &inc(BinaryMode::Base64UrlSafe),
            718,
            -1,
            ColumnValue::Text(text)
        )
        .1,
        s("PCgxMC4wLDIwLjApLDEwLjA-")
    );
    assert_eq!(
        one_with(
            &types,
            &inc(BinaryMode::Hex),
            718,
            -1,
            ColumnValue::Text(text)
        )
        .1,
        s("3c2831302e302c32302e30292c31302e303e")
    );
}

#[test]
fn dates_in_every_mode() {
    let (schema, v) = one(oid::DATE, -1, "2016-11-04");
    assert_eq!(
        (name(&schema), v),
        (Some("io.debezium.time.Date"), Value::Int32(17_109))
    );
    let mode = |m| ValueOptions {
        time_precision: m,
        ..Default::default()
    };
    let (schema, v) = with_mode(
        mode(TimePrecisionMode::Connect),
        oid::DATE,
        -1,
        "2016-11-04",
    );
    assert_eq!(
        (name(&schema), v),
        (
            Some("org.apache.kafka.connect.data.Date"),
            Value::Int32(17_109)
        )
    );
    let (schema, v) = with_mode(
        mode(TimePrecisionMode::IsoString),
        oid::DATE,
        -1,
        "2016-11-04",
    );
    assert_eq!(
        (name(&schema), v),
        (Some("io.debezium.time.IsoDate"), s("2016-11-04Z"))
    );
    // 'infinity' dates: Debezium's LocalDate -5877611-06-21 / -22 as epoch days.
    assert_eq!(
        one(oid::DATE, -1, "infinity").1,
        Value::Int32(-2_147_472_692)
    );
    assert_eq!(
        one(oid::DATE, -1, "-infinity").1,
        Value::Int32(-2_147_472_691)
    );
    assert_eq!(
        one(oid::DATE, -1, "0044-03-15 BC").1,
        Value::Int32(-735_160)
    );
}

#[test]
fn times_in_every_mode() {
    let (schema, v) = one(oid::TIME, -1, "13:51:30");
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.time.MicroTime"),
            Value::Int64(49_890_000_000)
        )
    );
    let (schema, v) = one(oid::TIME, 3, "13:51:30.123");
    assert_eq!(
        (name(&schema), v),
        (Some("io.debezium.time.Time"), Value::Int32(49_890_123))
    );
    assert_eq!(
        one(oid::TIME, -1, "24:00:00").1,
        Value::Int64(86_400_000_000)
    );
    let mode = |m| ValueOptions {
        time_precision: m,
        ..Default::default()
    };
    let (schema, v) = with_mode(
        mode(TimePrecisionMode::AdaptiveTimeMicroseconds),
        oid::TIME,
        3,
        "13:51:30.123",
    );
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.time.MicroTime"),
            Value::Int64(49_890_123_000)
        )
    );
    let (schema, v) = with_mode(
        mode(TimePrecisionMode::Connect),
        oid::TIME,
        -1,
        "13:51:30.123456",
    );
    assert_eq!(
        (name(&schema), v),
        (
            Some("org.apache.kafka.connect.data.Time"),
            Value::Int32(49_890_123)
        )
    );
    let (schema, v) = with_mode(
        mode(TimePrecisionMode::Nanoseconds),
        oid::TIME,
        -1,
        "13:51:30.123456",
    );
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.time.NanoTime"),
            Value::Int64(49_890_123_456_000)
        )
    );
    let (schema, v) = with_mode(
        mode(TimePrecisionMode::Microseconds),
        oid::TIME,
        0,
        "13:51:30",
    );
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.time.MicroTime"),
            Value::Int64(49_890_000_000)
        )
    );
    let (schema, v) = with_mode(
        mode(TimePrecisionMode::IsoString),
        oid::TIME,
        -1,
        "13:51:30.120",
    );
    assert_eq!(
        (name(&schema), v),
        (Some("io.debezium.time.IsoTime"), s("13:51:30.12Z"))
    );
    // timetz: ZonedTime in UTC, fraction digits as needed.
    let (schema, v) = one(oid::TIMETZ, -1, "13:51:30.123789+02");
    assert_eq!(
        (name(&schema), v),
        (Some("io.debezium.time.ZonedTime"), s("11:51:30.123789Z"))
    );
    assert_eq!(one(oid::TIMETZ, 3, "13:51:30.123+02").1, s("11:51:30.123Z"));
    assert_eq!(one(oid::TIMETZ, -1, "01:02:03+05:30").1, s("19:32:03Z"));
}

#[test]
fn timestamps_in_every_mode() {
    let (schema, v) = one(oid::TIMESTAMP, -1, "2016-11-04 13:51:30.123456");
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.time.MicroTimestamp"),
            Value::Int64(1_478_267_490_123_456)
        )
    );
    let (schema, v) = one(oid::TIMESTAMP, 3, "2016-11-04 13:51:30.123");
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.time.Timestamp"),
            Value::Int64(1_478_267_490_123)
        )
    );
    assert_eq!(
        one(oid::TIMESTAMP, -1, "1936-10-25 22:10:12.608").1,
        Value::Int64(-1_047_174_587_392_000)
    );
    assert_eq!(
        one(oid::TIMESTAMP, -1, "21016-11-04 13:51:30.123456").1,
        Value::Int64(601_060_312_290_123_456)
    );
    assert_eq!(
        one(oid::TIMESTAMP, -1, "294247-01-01 23:59:59.999999").1,
        Value::Int64(9_223_371_331_200_000_000 - 1)
    );
    assert_eq!(
        one(oid::TIMESTAMP, -1, "infinity").1,
        Value::Int64(9_223_372_036_825_200_000)
    );
    assert_eq!(
        one(oid::TIMESTAMP, -1, "-infinity").1,
        Value::Int64(-9_223_372_036_832_400_000)
    );
    let mode = |m| ValueOptions {
        time_precision: m,
        ..Default::default()
    };
    let (schema, v) = with_mode(
        mode(TimePrecisionMode::Connect),
        oid::TIMESTAMP,
        -1,
        "2016-11-04 13:51:30.123456",
    );
    assert_eq!(
        (name(&schema), v),
        (
            Some("org.apache.kafka.connect.data.Timestamp"),
            Value::Int64(1_478_267_490_123)
        )
    );
    let (schema, v) = with_mode(
        mode(TimePrecisionMode::Nanoseconds),
        oid::TIMESTAMP,
        3,
        "2016-11-04 13:51:30.123",
    );
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.time.NanoTimestamp"),
            Value::Int64(1_478_267_490_123_000_000)
        )
    );
    let (schema, v) = with_mode(
        mode(TimePrecisionMode::IsoString),
        oid::TIMESTAMP,
        -1,
        "2016-11-04 13:51:30.123456",
    );
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.time.IsoTimestamp"),
            s("2016-11-04T13:51:30.123456Z")
        )
    );
    // timestamptz: ZonedTimestamp with as many fraction digits as the column's precision.
    let (schema, v) = one(oid::TIMESTAMPTZ, -1, "2016-11-04 13:51:30.123456+02");
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.time.ZonedTimestamp"),
            s("2016-11-04T11:51:30.123456Z")
        )
    );
    assert_eq!(
        one(oid::TIMESTAMPTZ, -1, "21016-11-04 13:51:30.123456+07").1,
        s("+21016-11-04T06:51:30.123456Z")
    );
    assert_eq!(
        one(oid::TIMESTAMPTZ, -1, "21016-11-04 13:51:30+07").1,
        s("+21016-11-04T06:51:30.000000Z")
    );
    assert_eq!(
        one(oid::TIMESTAMPTZ, -1, "294247-01-01 23:59:59.999999+00").1,
        s("+294247-01-01T23:59:59.999999Z")
    );
    assert_eq!(
        one(oid::TIMESTAMPTZ, -1, "4714-12-31 23:59:59.999999+00 BC").1,
        s("-4713-12-31T23:59:59.999999Z")
    );
    assert_eq!(
        one(oid::TIMESTAMPTZ, 3, "2020-04-01 11:51:02.5+00").1,
        s("2020-04-01T11:51:02.500Z")
    );
    assert_eq!(
        one(oid::TIMESTAMPTZ, 0, "2020-04-01 11:51:02+00").1,
        s("2020-04-01T11:51:02Z")
    );
    assert_eq!(one(oid::TIMESTAMPTZ, -1, "infinity").1, s("infinity"));
    assert_eq!(one(oid::TIMESTAMPTZ, -1, "-infinity").1, s("-infinity"));
}

#[test]
fn intervals_numeric_and_string() {
    let (schema, v) = one(oid::INTERVAL, -1, "1 year 2 mons 3 days 04:05:06.78");
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.time.MicroDuration"),
            Value::Int64(37_091_106_780_000)
        )
    );
    let string = ValueOptions {
        interval_handling: IntervalMode::String,
        ..Default::default()
    };
    let (schema, v) = with_mode(
        string,
        oid::INTERVAL,
        -1,
        "1 year 2 mons 3 days 04:05:06.78",
    );
    assert_eq!(
        (name(&schema), v),
        (Some("io.debezium.time.Interval"), s("P1Y2M3DT4H5M6.78S"))
    );
}

#[test]
fn point_struct_with_wkb() {
    let (schema, v) = one(oid::POINT, -1, "(1,1)");
    assert_eq!(name(&schema), Some("io.debezium.data.geometry.Point"));
    let fields: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(fields, ["x", "y", "wkb", "srid"]);
    let st = v.as_struct().expect("point");
    assert_eq!(st.get("x"), Some(&Value::Float64(1.0)));
    let mut wkb = vec![1u8, 1, 0, 0, 0];
    wkb.extend_from_slice(&1f64.to_le_bytes());
    wkb.extend_from_slice(&1f64.to_le_bytes());
    assert_eq!(st.get("wkb"), Some(&bytes(&wkb)));
    assert_eq!(st.get("srid"), Some(&Value::Null));
}

#[test]
fn arrays_of_builtin_types() {
    let (schema, v) = one(oid::INT4_ARRAY, -1, "{1,2,3}");
    let elem = schema.value_schema.clone().expect("element");
    assert_eq!(
        (schema.kind, elem.kind, elem.optional),
        (SchemaType::Array, SchemaType::Int32, true)
    );
    assert_eq!(
        v,
        Value::Array(vec![Value::Int32(1), Value::Int32(2), Value::Int32(3)])
    );
    assert_eq!(
        one(oid::INT8_ARRAY, -1, "{1550166368505037572}").1,
        Value::Array(vec![Value::Int64(1_550_166_368_505_037_572)])
    );
    assert_eq!(
        one(oid::OID_ARRAY, -1, "{3,4000000000}").1,
        Value::Array(vec![Value::Int64(3), Value::Int64(4_000_000_000)])
    );
    assert_eq!(
        one(
            oid::BPCHAR_ARRAY,
            14,
            "{\"cone      \",\"ctwo      \",NULL}"
        )
        .1,
        Value::Array(vec![s("cone      "), s("ctwo      "), Value::Null])
    );
    assert_eq!(
        one(oid::DATE_ARRAY, -1, "{2016-11-04,2016-11-05}").1,
        Value::Array(vec![Value::Int32(17_109), Value::Int32(17_110)])
    );
    let (schema, v) = one(oid::NUMERIC_ARRAY, numeric_typmod(10, 2), "{1.2,3.40}");
    let elem = schema.value_schema.clone().expect("element");
    assert_eq!(
        elem.parameters
            .get("connect.decimal.precision")
            .map(String::as_str),
        Some("10")
    );
    assert_eq!(v, Value::Array(vec![bytes(&[120]), bytes(&[1, 84])]));
    let v = one(oid::NUMERIC_ARRAY, -1, "{1.1,2.22}").1;
    let Value::Array(items) = v else {
        panic!("array")
    };
    assert_eq!(
        items[1].as_struct().and_then(|s| s.get("scale")),
        Some(&Value::Int32(2))
    );
    let (schema, v) = one(
        oid::JSONB_ARRAY,
        -1,
        r#"{"{\"bar\": \"baz\"}","{\"foo\": \"qux\"}"}"#,
    );
    assert_eq!(
        schema
            .value_schema
            .as_ref()
            .and_then(|e| e.name.clone())
            .as_deref(),
        Some("io.debezium.data.Json")
    );
    assert_eq!(
        v,
        Value::Array(vec![s("{\"bar\": \"baz\"}"), s("{\"foo\": \"qux\"}")])
    );
    assert_eq!(
        one(
            oid::TSTZRANGE_ARRAY,
            -1,
            r#"{"[\"2017-06-05 11:29:12.549426+00\",)"}"#
        )
        .1,
        Value::Array(vec![s("[\"2017-06-05 11:29:12.549426+00\",)")])
    );
    assert_eq!(
        one(oid::TIMESTAMPTZ_ARRAY, -1, "{\"2020-04-01 11:51:02+00\"}").1,
        Value::Array(vec![s("2020-04-01T11:51:02.000000Z")])
    );
    // pgjdbc reads time arrays as java.sql.Time: milliseconds only.
    assert_eq!(
        one(oid::TIME_ARRAY, -1, "{00:01:02.123456}").1,
        Value::Array(vec![Value::Int64(62_123_000)])
    );
    assert_eq!(
        one(oid::TIMETZ_ARRAY, -1, "{13:51:02+02}").1,
        Value::Array(vec![s("11:51:02Z")])
    );
    // arrays Debezium leaves without schema
    let t = table(
        &TypeRegistry::builtin(),
        &ValueOptions::default(),
        vec![
            col("m", oid::MONEY_ARRAY, -1, true),
            col("i", oid::INTERVAL_ARRAY, -1, true),
        ],
    );
    assert_eq!(t.field_names().count(), 0);
}

fn registry_with_extensions() -> TypeRegistry {
    let mut types = TypeRegistry::builtin();
    let mut add = |oid: u32, name: &str, kind: TypeKind| {
        types.add(PgType {
            oid,
            name: name.into(),
            namespace: "public".into(),
            typtype: 'b',
            kind,
        })
    };
    add(16_400, "hstore", TypeKind::Base);
    add(16_405, "_hstore", TypeKind::Array { element: 16_400 });
    add(16_410, "citext", TypeKind::Base);
    add(16_420, "ltree", TypeKind::Base);
    add(16_425, "_ltree", TypeKind::Array { element: 16_420 });
    add(
        16_430,
        "mood",
        TypeKind::Enum(vec!["sad".into(), "ok".into(), "happy".into()]),
    );
    add(16_431, "_mood", TypeKind::Array { element: 16_430 });
    add(
        16_440,
        "money_dom",
        TypeKind::Domain {
            base: oid::NUMERIC,
            typmod: numeric_typmod(4, 2),
        },
    );
    add(
        16_441,
        "dom_of_dom",
        TypeKind::Domain {
            base: 16_440,
            typmod: -1,
        },
    );
    types
}

#[test]
fn extension_enum_and_domain_types() {
    let types = registry_with_extensions();
    let opts = ValueOptions::default();
    let text = |o: u32, t: &str| one_with(&types, &opts, o, -1, ColumnValue::Text(t));
    let (schema, v) = text(16_400, r#""key1"=>"val1", "key2"=>NULL"#);
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.data.Json"),
            s(r#"{"key1":"val1","key2":null}"#)
        )
    );
    let map = ValueOptions {
        hstore_handling: HstoreMode::Map,
        ..Default::default()
    };
    let (schema, v) = one_with(
        &types,
        &map,
        16_400,
        -1,
        ColumnValue::Text(r#""key4"=>"val4", "key5"=>NULL"#),
    );
    assert_eq!(schema.kind, SchemaType::Map);
    assert_eq!(
        v,
        Value::Map(vec![(s("key5"), Value::Null), (s("key4"), s("val4"))])
    );
    let v = text(
        16_405,
        r#"{"\"key4\"=>\"val4\", \"key5\"=>NULL","\"key6\"=>\"val6\""}"#,
    )
    .1;
    assert_eq!(
        v,
        Value::Array(vec![
            s(r#"{"key5":null,"key4":"val4"}"#),
            s(r#"{"key6":"val6"}"#)
        ])
    );
    assert_eq!(text(16_410, "Hello World").1, s("Hello World"));
    let (schema, v) = text(16_420, "Top.Collections.Pictures");
    assert_eq!(
        (name(&schema), v),
        (
            Some("io.debezium.data.Ltree"),
            s("Top.Collections.Pictures")
        )
    );
    let (schema, v) = text(16_425, "{Ship.Frigate,Ship.Destroyer}");
    assert_eq!(
        v,
        Value::Array(vec![s("Ship.Frigate"), s("Ship.Destroyer")])
    );
    assert_eq!(schema.value_schema.as_ref().map(|e| e.optional), Some(true));
    let (schema, v) = text(16_430, "happy");
    assert_eq!(
        (
            name(&schema),
            schema.parameters.get("allowed").map(String::as_str),
            v
        ),
        (
            Some("io.debezium.data.Enum"),
            Some("sad,ok,happy"),
            s("happy")
        )
    );
    let (schema, _) = text(16_431, "{ok}");
    assert_eq!(
        schema.value_schema.as_ref().map(|e| e.optional),
        Some(false)
    );
    // domains map as their base type, with the domain's type modifier
    let (schema, v) = text(16_441, "12.30");
    assert_eq!(
        schema
            .parameters
            .get("connect.decimal.precision")
            .map(String::as_str),
        Some("4")
    );
    assert_eq!(v, bytes(&[0x04, 0xce]));
}

#[test]
fn required_columns_without_value_get_debezium_fallbacks() {
    // RecordsStreamProducerIT.shouldProcessNotNullColumnsAdaptiveDateTypes: key-only
    // before-images of NOT NULL columns.
    let types = TypeRegistry::builtin();
    let t = table(
        &types,
        &ValueOptions::default(),
        vec![
            col("created_at", oid::TIMESTAMP, -1, false),
            col("created_at_tz", oid::TIMESTAMPTZ, -1, false),
            col("ctime", oid::TIME, -1, false),
            col("ctime_tz", oid::TIMETZ, -1, false),
            col("cdate", oid::DATE, -1, false),
            col("cmoney", oid::MONEY, -1, false),
            col("cbits", oid::BIT, 3, false),
        ],
    );
    let row = t.row(&[ColumnValue::Null; 7]).expect("row");
    assert_eq!(row.get("created_at"), Some(&Value::Int64(0)));
    assert_eq!(row.get("created_at_tz"), Some(&s("1970-01-01T00:00:00Z")));
    assert_eq!(row.get("ctime"), Some(&Value::Int64(0)));
    assert_eq!(row.get("ctime_tz"), Some(&s("00:00:00Z")));
    assert_eq!(row.get("cdate"), Some(&Value::Int32(0)));
    assert_eq!(row.get("cmoney"), Some(&bytes(&[0])));
    assert_eq!(row.get("cbits"), Some(&bytes(&[])));
    row.validate().expect("valid struct");
}

#[test]
fn toast_placeholders_per_type() {
    let types = TypeRegistry::builtin();
    let opts = ValueOptions::default();
    let p = "__debezium_unavailable_value";
    let toast = |o: u32| one_with(&types, &opts, o, -1, ColumnValue::Unchanged).1;
    assert_eq!(toast(oid::TEXT), s(p));
    assert_eq!(toast(oid::JSONB), s(p));
    assert_eq!(toast(oid::BYTEA), bytes(p.as_bytes()));
    assert_eq!(toast(oid::TEXT_ARRAY), Value::Array(vec![s(p)]));
    assert_eq!(
        toast(oid::INT4_ARRAY),
        Value::Array(p.bytes().map(|b| Value::Int32(i32::from(b))).collect())
    );
    assert_eq!(
        toast(oid::INT8_ARRAY),
        Value::Array(p.bytes().map(|b| Value::Int64(i64::from(b))).collect())
    );
    let Value::Array(uuid) = toast(oid::UUID_ARRAY) else {
        panic!("uuid array")
    };
    assert_eq!(uuid.len(), 1);
    assert_eq!(toast(oid::NUMERIC), Value::Null);
    let hex = ValueOptions {
        binary_handling: BinaryMode::Hex,
        ..Default::default()
    };
    assert_eq!(
        one_with(&types, &hex, oid::BYTEA, -1, ColumnValue::Unchanged).1,
        s(p)
    );
    let types = registry_with_extensions();
    assert_eq!(
        one_with(&types, &opts, 16_400, -1, ColumnValue::Unchanged).1,
        s(r#"{"__debezium_unavailable_value":"__debezium_unavailable_value"}"#)
    );
}

#[test]
fn defaults_follow_debezium() {
    let types = TypeRegistry::builtin();
    let mut id = col("id", oid::INT4, -1, false);
    id.default_expr = Some("nextval('t_id_seq'::regclass)".into());
    let mut name = col("name", oid::VARCHAR, 259, true);
    name.default_expr = Some("'abc'::character varying".into());
    let mut ts = col("ts", oid::TIMESTAMPTZ, -1, true);
    ts.default_expr = Some("'2021-03-20 13:44:28+00'::timestamp with time zone".into());
    let mut now = col("now", oid::TIMESTAMPTZ, -1, true);
    now.default_expr = Some("now()".into());
    let mut d = col("d", oid::NUMERIC, numeric_typmod(5, 2), true);
    d.default_expr = Some("12.5".into());
    let mut raw = col("raw", oid::BYTEA, -1, true);
    raw.default_expr = Some("'\\x00'::bytea".into());
    let t = table(
        &types,
        &ValueOptions::default(),
        vec![id, name, ts, now, d, raw],
    );
    let def = |f: &str| {
        t.value_schema()
            .field(f)
            .and_then(|f| f.schema.default.clone())
    };
    assert_eq!(def("id"), Some(Value::Int32(0)));
    assert_eq!(def("name"), Some(s("abc")));
    assert_eq!(def("ts"), Some(s("2021-03-20T13:44:28.000000Z")));
    assert_eq!(def("now"), Some(s("1970-01-01T00:00:00.000000Z")));
    assert_eq!(def("d"), Some(bytes(&[0x04, 0xe2])));
    assert_eq!(def("raw"), None);
}

#[test]
fn registry_from_catalog_rows() {
    let row = |v: &[Option<&str>]| v.iter().map(|c| c.map(str::to_string)).collect::<Vec<_>>();
    let rows = vec![
        row(&[
            Some("23"),
            Some("int4"),
            Some("pg_catalog"),
            Some("b"),
            Some("N"),
            Some("0"),
            Some("-1"),
            Some("0"),
            None,
        ]),
        row(&[
            Some("16500"),
            Some("mood"),
            Some("public"),
            Some("e"),
            Some("E"),
            Some("0"),
            Some("-1"),
            Some("0"),
            Some("{sad,\"so so\",happy}"),
        ]),
        row(&[
            Some("16501"),
            Some("_mood"),
            Some("public"),
            Some("b"),
            Some("A"),
            Some("0"),
            Some("-1"),
            Some("16500"),
            None,
        ]),
        row(&[
            Some("16502"),
            Some("posint"),
            Some("public"),
            Some("d"),
            Some("N"),
            Some("23"),
            Some("-1"),
            Some("0"),
            None,
        ]),
    ];
    let types = TypeRegistry::from_rows(&rows).expect("registry");
    assert_eq!(
        types.get(16_500).map(|t| t.kind.clone()),
        Some(TypeKind::Enum(vec![
            "sad".into(),
            "so so".into(),
            "happy".into()
        ]))
    );
    assert_eq!(
        types.get(16_501).map(|t| t.kind.clone()),
        Some(TypeKind::Array { element: 16_500 })
    );
    assert_eq!(types.resolve(16_502, -1), (23, -1));
    let bad = vec![row(&[
        Some("x"),
        Some("int4"),
        Some("pg_catalog"),
        Some("b"),
        Some("N"),
        Some("0"),
        Some("-1"),
        Some("0"),
        None,
    ])];
    assert!(TypeRegistry::from_rows(&bad).is_err());
}

#[test]
fn options_from_config_report_every_bad_key() {
    let mut cfg = weir_connect_api::ConfigMap::new();
    cfg.insert("decimal.handling.mode".into(), "string".into());
    cfg.insert("time.precision.mode".into(), "connect".into());
    cfg.insert("unavailable.value.placeholder".into(), "hex:5f5f".into());
    let o = ValueOptions::from_config(&cfg).expect("valid");
    assert_eq!(
        (o.decimal_handling, o.time_precision),
        (DecimalMode::String, TimePrecisionMode::Connect)
    );
    assert_eq!(o.placeholder_bytes(), b"__".to_vec());
    cfg.insert("binary.handling.mode".into(), "octal".into());
    cfg.insert("money.fraction.digits".into(), "x".into());
    let errs = ValueOptions::from_config(&cfg).expect_err("two bad keys");
    assert_eq!(errs.len(), 2);
    assert!(
        errs[0]
            .to_string()
            .starts_with("config key binary.handling.mode is invalid"),
        "{}",
        errs[0]
    );
}
