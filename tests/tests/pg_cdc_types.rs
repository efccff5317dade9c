//! The Postgres type matrix end to end: one table with a column per type family, read by
//! four connectors with different value modes, plus TOAST, primary-key changes and a column
//! added mid-stream. Every value is compared with the literal JSON Debezium 3.0 emits for
//! the same input (derived from Debezium's `PostgresValueConverter`, its `io.debezium.time`
//! and `io.debezium.data` schema builders, and Kafka's `JsonConverter`).

use serde_json::{Value, json};
use weir_e2e::cdc::{Event, connector_config, deploy, wait_events};
use weir_e2e::pg::{PgOptions, PgServer};
use weir_e2e::{RestApi, Workdir};

const SETUP: &str = r#"CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN posint AS int4 CHECK (VALUE > 0);
CREATE TYPE pair AS (a int, b text);
CREATE TABLE all_types (id int PRIMARY KEY, i2 int2, i4 int4, i8 int8, num numeric(10,2),
  numv numeric, f4 float4, f8 float8, b bool, t text, vc varchar(10), ch char(5), bin bytea,
  d date, t3 time(3), t6 time(6), ttz timetz, ts3 timestamp(3), ts6 timestamp (6),
  tstz timestamptz, iv interval, u uuid, j json, jb jsonb, x xml, ip inet, cid cidr,
  mac macaddr, ia int4[], ta text[], mo mood, m money, b1 bit(1), b8 bit(8), vb varbit(16),
  dom posint, unk pair, nn text NOT NULL);
CREATE TABLE toast_default (id int PRIMARY KEY, n int, big text);
CREATE TABLE toast_full (id int PRIMARY KEY, n int, big text);
ALTER TABLE toast_default ALTER COLUMN big SET STORAGE EXTERNAL;
ALTER TABLE toast_full ALTER COLUMN big SET STORAGE EXTERNAL;
ALTER TABLE toast_full REPLICA IDENTITY FULL;
INSERT INTO toast_default VALUES (1, 0, repeat('x', 10000));
INSERT INTO toast_full VALUES (1, 0, repeat('x', 10000));
CREATE TABLE pk_move (id int PRIMARY KEY, v text);
INSERT INTO pk_move VALUES (1, 'a');
CREATE TABLE evolve (id int PRIMARY KEY, a text);
INSERT INTO evolve VALUES (1, 'x');"#;

/// One `all_types` row; the float columns vary so that NaN and infinities are covered.
fn insert_row(id: i64, f4: &str, f8: &str) -> String {
    format!(
        r#"INSERT INTO all_types VALUES ({id}, 32767, 2147483647, 9223372036854775807,
  12345678.91, 1.23456, {f4}, {f8}, true, 'hello', 'var', 'ab', '\xdeadbeef', '2024-02-29',
  '13:14:15.123', '13:14:15.123456', '13:14:15.5+02', '2024-02-29 13:14:15.123',
  '2024-02-29 13:14:15.123456', '2024-02-29 13:14:15.1234+02',
  '1 year 2 months 3 days 04:05:06.78', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
  '{{"a": 1, "b" : [1,2]}}', '{{"b": [1,2], "a": 1}}', '<a>1</a>', '192.168.0.1/24',
  '10.0.0.0/8', '08:00:2b:01:02:03', '{{1,2,NULL}}', '{{a,"b c"}}', 'ok', 12.34, B'1',
  B'10100101', B'101', 42, ROW(1, 'x'), 'required');"#
    )
}

/// The `after` image Debezium emits for [`insert_row`] with default modes (precise
/// decimals, adaptive time precision, bytes, numeric intervals) and schemaless JSON.
fn expected_row(id: i64, f4: Value, f8: Value) -> Value {
    json!({
        "id": id, "i2": 32767, "i4": 2147483647, "i8": 9223372036854775807i64,
        // Decimal: base64 of the big-endian two's-complement unscaled value 1234567891.
        "num": "SZYC0w==",
        // numeric without scale: VariableScaleDecimal {scale, value = unscaled 123456}.
        "numv": {"scale": 5, "value": "AeJA"},
        "f4": f4, "f8": f8, "b": true,
        "t": "hello", "vc": "var", "ch": "ab   ",
        "bin": "3q2+7w==",
        // io.debezium.time.Date: days since the epoch.
        "d": 19782,
        // time(3) -> Time (ms), time(6) -> MicroTime (µs); timetz -> UTC ISO (ISO_OFFSET_TIME).
        "t3": 47655123, "t6": 47655123456i64, "ttz": "11:14:15.5Z",
        // timestamp(3) -> Timestamp (ms), timestamp(6) -> MicroTimestamp (µs), wall clock as UTC.
        "ts3": 1709212455123i64, "ts6": 1709212455123456i64,
        // timestamptz: UTC, fraction as wide as the column scale (6), zeros kept.
        "tstz": "2024-02-29T11:14:15.123400Z",
        // MicroDuration: ((1*12+2) * 365.25/12 + 3) days + 04:05:06.78, in µs.
        "iv": 37091106780000i64,
        "u": "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        "j": "{\"a\": 1, \"b\" : [1,2]}",
        "jb": "{\"a\": 1, \"b\": [1, 2]}",
        "x": "<a>1</a>",
        "ip": "192.168.0.1/24", "cid": "10.0.0.0/8", "mac": "08:00:2b:01:02:03",
        "ia": [1, 2, null], "ta": ["a", "b c"],
        "mo": "ok",
        // money: Decimal with scale money.fraction.digits=2, unscaled 1234.
        "m": "BNI=",
        // bit(1) -> boolean; Bits are little-endian bytes: 10100101 -> 0xA5, 101 -> 0x05.
        "b1": true, "b8": "pQ==", "vb": "BQ==",
        "dom": 42,
        "nn": "required"
    })
}

/// Sets `fields` of an object (`patch` is an object).
fn patched(mut v: Value, patch: Value) -> Value {
    let map = v.as_object_mut().expect("object");
    for (k, x) in patch.as_object().expect("patch object") {
        map.insert(k.clone(), x.clone());
    }
    v
}

/// The `before` image of a delete under REPLICA IDENTITY DEFAULT: the key, nulls, and the
/// fallback Debezium puts in NOT NULL columns that carry no value ("" for strings).
fn key_only_before(after: &Value, id: i64) -> Value {
    let mut v = after.clone();
    for (k, x) in v.as_object_mut().expect("object") {
        *x = match k.as_str() {
            "id" => json!(id),
            "nn" => json!(""),
            _ => Value::Null,
        };
    }
    v
}

/// Compares two row images field by field, naming the field that differs.
fn check_row(ctx: &str, actual: &Value, expected: &Value) {
    if expected.is_null() {
        assert!(actual.is_null(), "{ctx}: expected null, got {actual}");
        return;
    }
    let (a, e) = (
        actual
            .as_object()
            .unwrap_or_else(|| panic!("{ctx}: not an object: {actual}")),
        expected.as_object().expect("expected object"),
    );
    for (k, want) in e {
        assert_eq!(a.get(k), Some(want), "{ctx}: field {k}");
    }
    let extra: Vec<_> = a.keys().filter(|k| !e.contains_key(*k)).collect();
    assert!(extra.is_empty(), "{ctx}: unexpected fields {extra:?}");
}

/// Checks the five events one `all_types` row lifecycle produces: r (row 1), c, u, d and the
/// tombstone (row 2).
fn check_lifecycle(ctx: &str, events: &[Event], rows: [&Value; 4]) {
    let ops: Vec<_> = events.iter().map(Event::op).collect();
    assert_eq!(
        ops,
        [Some("r"), Some("c"), Some("u"), Some("d"), None],
        "{ctx}"
    );
    let [read, created, updated, deleted] = rows;
    let p: Vec<&Value> = events.iter().map(Event::payload).collect();
    assert_eq!(events[0].key_payload(), &json!({"id": 1}), "{ctx}: key");
    check_row(&format!("{ctx} r before"), &p[0]["before"], &Value::Null);
    check_row(&format!("{ctx} r after"), &p[0]["after"], read);
    assert_ne!(
        p[0]["source"]["snapshot"], "false",
        "{ctx}: r is a snapshot read"
    );
    check_row(&format!("{ctx} c before"), &p[1]["before"], &Value::Null);
    check_row(&format!("{ctx} c after"), &p[1]["after"], created);
    assert_eq!(p[1]["source"]["snapshot"], "false", "{ctx}");
    // REPLICA IDENTITY DEFAULT: an update without key change has no before image.
    check_row(&format!("{ctx} u before"), &p[2]["before"], &Value::Null);
    check_row(&format!("{ctx} u after"), &p[2]["after"], updated);
    check_row(&format!("{ctx} d before"), &p[3]["before"], deleted);
    check_row(&format!("{ctx} d after"), &p[3]["after"], &Value::Null);
    for e in &events[1..] {
        assert_eq!(e.key_payload(), &json!({"id": 2}), "{ctx}: key");
    }
    assert!(events[4].value.is_null(), "{ctx}: tombstone");
}

/// A field schema as JsonConverter writes it: optional unless `required`, plus `extra`.
fn fs(field: &str, ty: &str, extra: Value) -> (String, Value) {
    let mut v = json!({"type": ty, "optional": true, "field": field});
    if let Some(x) = extra.as_object() {
        for (k, x) in x {
            v[k] = x.clone();
        }
    }
    (field.to_string(), v)
}

/// A Debezium/Connect logical type: `{name, version: 1}` plus `params`.
fn logical(name: &str, params: Value) -> Value {
    let mut v = json!({"name": name, "version": 1});
    if !params.is_null() {
        v["parameters"] = params;
    }
    v
}

/// The `all_types` value fields' schemas with default modes.
fn default_field_schemas() -> Vec<(String, Value)> {
    let n = Value::Null;
    let t = |name: &str| logical(name, Value::Null);
    vec![
        fs("id", "int32", json!({"optional": false})),
        fs("i2", "int16", n.clone()),
        fs("i4", "int32", n.clone()),
        fs("i8", "int64", n.clone()),
        fs(
            "num",
            "bytes",
            logical(
                "org.apache.kafka.connect.data.Decimal",
                json!({"scale": "2", "connect.decimal.precision": "10"}),
            ),
        ),
        fs(
            "numv",
            "struct",
            json!({"name": "io.debezium.data.VariableScaleDecimal", "version": 1,
                "doc": "Variable scaled decimal", "fields": [
                {"type": "int32", "optional": false, "field": "scale"},
                {"type": "bytes", "optional": false, "field": "value"}]}),
        ),
        fs("f4", "float", n.clone()),
        fs("f8", "double", n.clone()),
        fs("b", "boolean", n.clone()),
        fs("t", "string", n.clone()),
        fs("vc", "string", n.clone()),
        fs("ch", "string", n.clone()),
        fs("bin", "bytes", n.clone()),
        fs("d", "int32", t("io.debezium.time.Date")),
        fs("t3", "int32", t("io.debezium.time.Time")),
        fs("t6", "int64", t("io.debezium.time.MicroTime")),
        fs("ttz", "string", t("io.debezium.time.ZonedTime")),
        fs("ts3", "int64", t("io.debezium.time.Timestamp")),
        fs("ts6", "int64", t("io.debezium.time.MicroTimestamp")),
        fs("tstz", "string", t("io.debezium.time.ZonedTimestamp")),
        fs("iv", "int64", t("io.debezium.time.MicroDuration")),
        fs("u", "string", t("io.debezium.data.Uuid")),
        fs("j", "string", t("io.debezium.data.Json")),
        fs("jb", "string", t("io.debezium.data.Json")),
        fs("x", "string", t("io.debezium.data.Xml")),
        fs("ip", "string", n.clone()),
        fs("cid", "string", n.clone()),
        fs("mac", "string", n.clone()),
        fs(
            "ia",
            "array",
            json!({"items": {"type": "int32", "optional": true}}),
        ),
        fs(
            "ta",
            "array",
            json!({"items": {"type": "string", "optional": true}}),
        ),
        fs(
            "mo",
            "string",
            logical("io.debezium.data.Enum", json!({"allowed": "sad,ok,happy"})),
        ),
        fs(
            "m",
            "bytes",
            logical(
                "org.apache.kafka.connect.data.Decimal",
                json!({"scale": "2"}),
            ),
        ),
        fs("b1", "boolean", n.clone()),
        fs(
            "b8",
            "bytes",
            logical("io.debezium.data.Bits", json!({"length": "8"})),
        ),
        fs(
            "vb",
            "bytes",
            logical("io.debezium.data.Bits", json!({"length": "16"})),
        ),
        fs("dom", "int32", n.clone()),
        fs("unk", "bytes", n),
        fs("nn", "string", json!({"optional": false})),
    ]
}

/// Checks the `after` field's struct schema against `expected`, field by field and in order.
fn check_value_schema(ctx: &str, ev: &Event, value_name: &str, expected: &[(String, Value)]) {
    let after = ev.value["schema"]["fields"]
        .as_array()
        .and_then(|f| f.iter().find(|f| f["field"] == "after"))
        .unwrap_or_else(|| panic!("{ctx}: no after field in {}", ev.value["schema"]));
    assert_eq!(after["name"], value_name, "{ctx}");
    assert_eq!(after["optional"], true, "{ctx}");
    let fields = after["fields"].as_array().expect("after fields");
    let names: Vec<_> = fields
        .iter()
        .map(|f| f["field"].as_str().unwrap_or("?"))
        .collect();
    let want: Vec<_> = expected.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, want, "{ctx}: value field order");
    for ((name, want), got) in expected.iter().zip(fields) {
        assert_eq!(got, want, "{ctx}: schema of field {name}");
    }
}

/// The envelope, source and key schemas of a schema-enabled event.
fn check_envelope_schema(ctx: &str, ev: &Event, prefix: &str) {
    let s = &ev.value["schema"];
    assert_eq!(s["type"], "struct", "{ctx}");
    assert_eq!(s["optional"], false, "{ctx}");
    assert_eq!(
        s["name"],
        format!("{prefix}.public.all_types.Envelope"),
        "{ctx}"
    );
    assert_eq!(s["version"], 2, "{ctx}: envelope schema version");
    let fields = s["fields"].as_array().expect("envelope fields");
    let names: Vec<_> = fields
        .iter()
        .map(|f| f["field"].as_str().unwrap_or("?"))
        .collect();
    // Debezium's envelope builder: before, after, source, then op, ts_*, transaction.
    let order = [
        "before",
        "after",
        "source",
        "op",
        "ts_ms",
        "ts_us",
        "ts_ns",
        "transaction",
    ];
    assert_eq!(names, order, "{ctx}: envelope field order");
    let by = |n: &str| fields.iter().find(|f| f["field"] == n).expect("field");
    assert_eq!(
        by("before")["name"],
        format!("{prefix}.public.all_types.Value")
    );
    assert_eq!(
        by("op"),
        &json!({"type": "string", "optional": false, "field": "op"})
    );
    for ts in ["ts_ms", "ts_us", "ts_ns"] {
        assert_eq!(
            by(ts),
            &json!({"type": "int64", "optional": true, "field": ts}),
            "{ctx}"
        );
    }
    assert_eq!(by("transaction")["name"], "event.block", "{ctx}");
    assert_eq!(by("transaction")["optional"], true, "{ctx}");
    let src = by("source");
    assert_eq!(
        src["name"], "io.debezium.connector.postgresql.Source",
        "{ctx}"
    );
    assert_eq!(src["optional"], false, "{ctx}");
    let req = |f: &str, t: &str| json!({"type": t, "optional": false, "field": f});
    let opt = |f: &str, t: &str| json!({"type": t, "optional": true, "field": f});
    let snapshot = json!({"type": "string", "optional": true, "name": "io.debezium.data.Enum",
        "version": 1, "parameters": {"allowed":
        "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental"},
        "default": "false", "field": "snapshot"});
    let want = [
        req("version", "string"),
        req("connector", "string"),
        req("name", "string"),
        req("ts_ms", "int64"),
        snapshot,
        req("db", "string"),
        opt("sequence", "string"),
        opt("ts_us", "int64"),
        opt("ts_ns", "int64"),
        req("schema", "string"),
        req("table", "string"),
        opt("txId", "int64"),
        opt("lsn", "int64"),
        opt("xmin", "int64"),
    ];
    let got = src["fields"].as_array().expect("source fields");
    // Newer Debezium releases append origin fields; the 3.0 ones come first, in this order.
    assert!(got.len() >= want.len(), "{ctx}: source fields {got:?}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{ctx}: source field");
    }
    let key = &ev.key;
    assert_eq!(
        key["schema"],
        json!({"type": "struct", "optional": false, "name": format!("{prefix}.public.all_types.Key"),
            "fields": [{"type": "int32", "optional": false, "field": "id"}]}),
        "{ctx}: key schema"
    );
}

/// Fields drop in order: weir stops before Postgres, whose shutdown would otherwise wait
/// for the connectors' walsenders.
struct Rig {
    rest: RestApi,
    served: weir_e2e::Served,
    w: Workdir,
    pg: PgServer,
}

impl Rig {
    fn new() -> Rig {
        let pg = PgServer::start(PgOptions::new()).expect("start postgres");
        pg.sql("CREATE DATABASE types").expect("create db");
        pg.sql_db("types", SETUP).expect("setup");
        pg.sql_db("types", &insert_row(1, "1.5", "2.25"))
            .expect("row 1");
        let w = Workdir::new();
        let served = w.serve(&[]);
        let rest = RestApi::new(served.rest());
        Rig {
            rest,
            served,
            w,
            pg,
        }
    }

    fn deploy(&self, prefix: &str, extra: &[(&str, &str)]) {
        let config = connector_config(&self.pg, "types", prefix, extra);
        deploy(&self.rest, prefix, &config);
    }

    fn events(&self, topic: &str, n: usize) -> Vec<Event> {
        let got = wait_events(&self.w, &self.served, topic, n);
        assert_eq!(got.len(), n, "{topic}: {got:?}");
        got
    }

    fn sql(&self, sql: &str) {
        self.pg.sql_db("types", sql).expect("sql");
    }
}

const ALL_TYPES_ONLY: (&str, &str) = ("table.include.list", "public.all_types");
const LIFECYCLE: &str =
    "UPDATE all_types SET t = 'changed', f4 = 1.5, f8 = 'Infinity' WHERE id = 2;
DELETE FROM all_types WHERE id = 2;";

#[test]
fn type_matrix_in_every_mode() {
    let rig = Rig::new();
    let schemas = [
        ("key.converter.schemas.enable", "true"),
        ("value.converter.schemas.enable", "true"),
    ];
    rig.deploy("typesa", &[ALL_TYPES_ONLY]);
    rig.deploy(
        "typesb",
        &[
            ALL_TYPES_ONLY,
            schemas[0],
            schemas[1],
            ("include.unknown.datatypes", "true"),
        ],
    );
    rig.deploy(
        "typesc",
        &[
            ALL_TYPES_ONLY,
            schemas[0],
            schemas[1],
            ("decimal.handling.mode", "string"),
            ("time.precision.mode", "connect"),
            ("binary.handling.mode", "base64"),
            ("interval.handling.mode", "string"),
        ],
    );
    rig.deploy(
        "typesd",
        &[ALL_TYPES_ONLY, ("decimal.handling.mode", "double")],
    );
    for p in ["typesa", "typesb", "typesc", "typesd"] {
        rig.events(&format!("{p}.public.all_types"), 1);
    }
    rig.sql(&insert_row(2, "'NaN'", "'-Infinity'"));
    rig.sql(LIFECYCLE);

    // Kafka's JsonConverter (Jackson, QUOTE_NON_NUMERIC_NUMBERS) writes non-finite floats
    // as the strings "NaN", "Infinity" and "-Infinity".
    let row1 = expected_row(1, json!(1.5), json!(2.25));
    let row2 = expected_row(2, json!("NaN"), json!("-Infinity"));
    let row2u = patched(
        row2.clone(),
        json!({"t": "changed", "f4": 1.5, "f8": "Infinity"}),
    );
    let gone = key_only_before(&row1, 2);

    // Defaults, schemaless: the unknown composite column is dropped.
    let drop_unk = |v: &Value| {
        let mut v = v.clone();
        v.as_object_mut().expect("object").remove("unk");
        v
    };
    let a = rig.events("typesa.public.all_types", 5);
    let rows = [&row1, &row2, &row2u, &gone].map(drop_unk);
    check_lifecycle("defaults", &a, [&rows[0], &rows[1], &rows[2], &rows[3]]);

    // Schemas enabled, include.unknown.datatypes: the composite is its text as bytes.
    let unk = json!({"unk": "KDEseCk="});
    let b = rig.events("typesb.public.all_types", 5);
    let rows = [
        patched(row1.clone(), unk.clone()),
        patched(row2.clone(), unk.clone()),
        patched(row2u.clone(), unk),
        patched(gone.clone(), json!({"unk": null})),
    ];
    check_lifecycle("schemas", &b, [&rows[0], &rows[1], &rows[2], &rows[3]]);
    for (i, ev) in b[..4].iter().enumerate() {
        let ctx = format!("schemas event {i}");
        check_envelope_schema(&ctx, ev, "typesb");
        check_value_schema(
            &ctx,
            ev,
            "typesb.public.all_types.Value",
            &default_field_schemas(),
        );
    }

    // decimal string, time connect, binary base64, interval string (schemas enabled).
    let modes = json!({
        "num": "12345678.91", "numv": "1.23456", "m": "12.34", "bin": "3q2+7w==",
        "d": 19782, "t3": 47655123, "t6": 47655123, "ts3": 1709212455123i64,
        "ts6": 1709212455123i64, "iv": "P1Y2M3DT4H5M6.78S"
    });
    let c = rig.events("typesc.public.all_types", 5);
    let rows = [&row1, &row2, &row2u].map(|r| drop_unk(&patched(r.clone(), modes.clone())));
    check_lifecycle(
        "modes",
        &c,
        [&rows[0], &rows[1], &rows[2], &drop_unk(&gone)],
    );
    let connect = |n: &str| logical(&format!("org.apache.kafka.connect.data.{n}"), Value::Null);
    let changed: Vec<(String, Value)> = vec![
        fs("num", "string", Value::Null),
        fs("numv", "string", Value::Null),
        fs("bin", "string", Value::Null),
        fs("d", "int32", connect("Date")),
        fs("t3", "int32", connect("Time")),
        fs("t6", "int32", connect("Time")),
        fs("ts3", "int64", connect("Timestamp")),
        fs("ts6", "int64", connect("Timestamp")),
        fs(
            "iv",
            "string",
            logical("io.debezium.time.Interval", Value::Null),
        ),
        fs("m", "string", Value::Null),
    ];
    let want: Vec<_> = default_field_schemas()
        .into_iter()
        .filter(|(n, _)| n != "unk")
        .map(|(n, v)| {
            changed
                .iter()
                .find(|(c, _)| *c == n)
                .cloned()
                .unwrap_or((n, v))
        })
        .collect();
    check_value_schema("modes", &c[1], "typesc.public.all_types.Value", &want);

    // decimal.handling.mode=double.
    let doubles = json!({"num": 12345678.91, "numv": 1.23456, "m": 12.34});
    let d = rig.events("typesd.public.all_types", 5);
    let rows = [&row1, &row2, &row2u].map(|r| drop_unk(&patched(r.clone(), doubles.clone())));
    check_lifecycle(
        "double",
        &d,
        [&rows[0], &rows[1], &rows[2], &drop_unk(&gone)],
    );
}

#[test]
fn toast_pk_change_and_added_column() {
    let rig = Rig::new();
    rig.deploy(
        "evts",
        &[(
            "table.include.list",
            "public.toast_default,public.toast_full,public.pk_move,public.evolve",
        )],
    );
    for t in ["toast_default", "toast_full", "pk_move", "evolve"] {
        rig.events(&format!("evts.public.{t}"), 1);
    }
    rig.sql(
        "UPDATE toast_default SET n = 1 WHERE id = 1;
         UPDATE toast_full SET n = 1 WHERE id = 1;
         UPDATE pk_move SET id = 100 WHERE id = 1;
         INSERT INTO evolve VALUES (2, 'y');
         ALTER TABLE evolve ADD COLUMN b int DEFAULT 7;
         INSERT INTO evolve VALUES (3, 'z', 8);
         UPDATE evolve SET a = 'w' WHERE id = 1;",
    );
    let big = "x".repeat(10000);

    // TOAST, REPLICA IDENTITY DEFAULT: the unchanged out-of-line value is not in the WAL.
    let t = rig.events("evts.public.toast_default", 2);
    check_row(
        "toast r",
        &t[0].payload()["after"],
        &json!({"id": 1, "n": 0, "big": big}),
    );
    assert_eq!(t[1].op(), Some("u"));
    check_row("toast u before", &t[1].payload()["before"], &Value::Null);
    check_row(
        "toast u after",
        &t[1].payload()["after"],
        &json!({"id": 1, "n": 1, "big": "__debezium_unavailable_value"}),
    );
    // REPLICA IDENTITY FULL: the old tuple carries it and Debezium fills the new image.
    let t = rig.events("evts.public.toast_full", 2);
    assert_eq!(t[1].op(), Some("u"));
    let p = t[1].payload();
    check_row(
        "full u before",
        &p["before"],
        &json!({"id": 1, "n": 0, "big": big}),
    );
    check_row(
        "full u after",
        &p["after"],
        &json!({"id": 1, "n": 1, "big": big}),
    );

    // Primary-key change: d for the old key, its tombstone, then c for the new key.
    let k = rig.events("evts.public.pk_move", 4);
    let ops: Vec<_> = k.iter().map(Event::op).collect();
    assert_eq!(ops, [Some("r"), Some("d"), None, Some("c")], "{k:?}");
    let keys: Vec<_> = k.iter().map(|e| e.key.clone()).collect();
    assert_eq!(
        keys,
        [
            json!({"id": 1}),
            json!({"id": 1}),
            json!({"id": 1}),
            json!({"id": 100})
        ]
    );
    check_row(
        "pk d before",
        &k[1].payload()["before"],
        &json!({"id": 1, "v": null}),
    );
    check_row("pk d after", &k[1].payload()["after"], &Value::Null);
    check_row("pk c before", &k[3].payload()["before"], &Value::Null);
    check_row(
        "pk c after",
        &k[3].payload()["after"],
        &json!({"id": 100, "v": "a"}),
    );

    // ALTER TABLE ADD COLUMN mid-stream: later events carry the new field, no restart.
    let e = rig.events("evts.public.evolve", 4);
    let ops: Vec<_> = e.iter().map(Event::op).collect();
    assert_eq!(ops, [Some("r"), Some("c"), Some("c"), Some("u")]);
    check_row(
        "evolve r",
        &e[0].payload()["after"],
        &json!({"id": 1, "a": "x"}),
    );
    check_row(
        "evolve c",
        &e[1].payload()["after"],
        &json!({"id": 2, "a": "y"}),
    );
    check_row(
        "evolve c+b",
        &e[2].payload()["after"],
        &json!({"id": 3, "a": "z", "b": 8}),
    );
    check_row(
        "evolve u+b",
        &e[3].payload()["after"],
        &json!({"id": 1, "a": "w", "b": 7}),
    );
}
