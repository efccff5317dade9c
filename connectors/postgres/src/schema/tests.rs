//! Type-mapping tests. Expected values are Debezium 3.0.8's own test expectations
//! (`AbstractRecordsProducerTest`, `RecordsStreamProducerIT`) for the same Postgres input.

use bytes::Bytes;
use weir_connect_api::{SchemaRef, SchemaType, Value};

use super::types::oid;
use super::*;

pub(super) fn col(name: &str, type_oid: u32, typmod: i32, optional: bool) -> ColumnInfo {
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

pub(super) fn table(
    types: &TypeRegistry,
    opts: &ValueOptions,
    cols: Vec<ColumnInfo>,
) -> TableSchema {
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
pub(super) fn one_with(
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

pub(super) fn one(type_oid: u32, typmod: i32, text: &str) -> (SchemaRef, Value) {
    one_with(
        &TypeRegistry::builtin(),
        &ValueOptions::default(),
        type_oid,
        typmod,
        ColumnValue::Text(text),
    )
}

pub(super) fn with_mode(
    opts: ValueOptions,
    type_oid: u32,
    typmod: i32,
    text: &str,
) -> (SchemaRef, Value) {
    one_with(
        &TypeRegistry::builtin(),
        &opts,
        type_oid,
        typmod,
        ColumnValue::Text(text),
    )
}

pub(super) fn numeric_typmod(precision: i32, scale: i32) -> i32 {
    ((precision << 16) | scale) + 4
}

pub(super) fn bytes(b: &[u8]) -> Value {
    Value::Bytes(Bytes::copy_from_slice(b))
}

pub(super) fn s(v: &str) -> Value {
    Value::String(v.into())
}

pub(super) fn name(schema: &SchemaRef) -> Option<&str> {
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
