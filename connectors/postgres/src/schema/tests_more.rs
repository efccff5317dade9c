//! Type-mapping tests, continued: extension, enum and domain types, NOT NULL fallbacks,
//! TOAST placeholders, defaults, the catalog and the options.

use weir_connect_api::{SchemaType, Value};

use super::tests::{bytes, col, name, numeric_typmod, one, one_with, s, table};
use super::types::oid;
use super::*;

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
