//! `add.fields`, `add.headers`, `route.by.field` and `drop.fields.*`.

use weir_connect_api::{Schema, SchemaType, Value};

use super::*;

const MODE: &str = "delete.tombstone.handling.mode";

fn field_schema<'a>(r: &'a ConnectRecord, name: &str) -> &'a Schema {
    &r.value_schema
        .as_ref()
        .and_then(|s| s.field(name))
        .unwrap_or_else(|| panic!("no field {name} in {:?}", field_names(r)))
        .schema
}

fn header<'a>(r: &'a ConnectRecord, key: &str) -> &'a Value {
    &r.headers
        .last(key)
        .unwrap_or_else(|| panic!("no header {key}"))
        .value
}

#[test]
fn add_fields_take_envelope_and_source_fields() {
    let t = unwrap(&[
        (MODE, "tombstone"),
        (
            "add.fields",
            "op, table,lsn,source.ts_ms,ts_ms,db,schema,nonexistent",
        ),
    ]);
    let out = kept(&t, update());
    assert_eq!(
        field_names(&out),
        [
            "id",
            "name",
            "email",
            "destination",
            "__op",
            "__table",
            "__lsn",
            "__source_ts_ms",
            "__ts_ms",
            "__db",
            "__schema",
        ],
        "a field found nowhere in the envelope is skipped, as in Debezium"
    );
    let v = value(&out);
    assert_eq!(v.get("__op"), Some(&s("u")));
    assert_eq!(v.get("__table"), Some(&s("customers")));
    assert_eq!(v.get("__lsn"), Some(&Value::Int64(LSN)));
    assert_eq!(v.get("__source_ts_ms"), Some(&Value::Int64(COMMIT_TS)));
    assert_eq!(v.get("__ts_ms"), Some(&Value::Int64(PROCESSED_TS)));
    assert_eq!(v.get("__db"), Some(&s("postgres")));
    assert_eq!(v.get("__schema"), Some(&s("public")));
    for (name, kind) in [
        ("__op", SchemaType::String),
        ("__lsn", SchemaType::Int64),
        ("__source_ts_ms", SchemaType::Int64),
    ] {
        let fs = field_schema(&out, name);
        assert_eq!(fs.kind, kind, "{name}");
        assert!(
            fs.optional,
            "{name} is optional even where the source is not"
        );
    }
    // The source's `snapshot` keeps its logical name but loses its default.
    let t = unwrap(&[(MODE, "tombstone"), ("add.fields", "snapshot")]);
    let out = kept(&t, create());
    let fs = field_schema(&out, "__snapshot");
    assert_eq!(fs.name.as_deref(), Some("io.debezium.data.Enum"));
    assert_eq!(fs.default, None);
}

#[test]
fn add_fields_aliases_prefix_and_transaction_fields() {
    let t = unwrap(&[
        (MODE, "tombstone"),
        (
            "add.fields",
            "op:OP,source.ts_ms:EVENT_TS,id,transaction.total_order",
        ),
        ("add.fields.prefix", "meta_"),
    ]);
    let out = kept(&t, create());
    let v = value(&out);
    assert_eq!(v.get("meta_OP"), Some(&s("c")));
    assert_eq!(v.get("meta_EVENT_TS"), Some(&Value::Int64(COMMIT_TS)));
    // No transaction block in this event: the fields are there, null.
    assert_eq!(v.get("meta_id"), Some(&Value::Null));
    assert_eq!(v.get("meta_transaction_total_order"), Some(&Value::Null));
}

#[test]
fn add_fields_on_rewritten_deletes_follow_deleted() {
    let t = unwrap(&[(MODE, "rewrite"), ("add.fields", "op,source.lsn")]);
    let out = kept(&t, delete());
    assert_eq!(
        field_names(&out),
        [
            "id",
            "name",
            "email",
            "destination",
            "__deleted",
            "__op",
            "__source_lsn"
        ]
    );
    assert_eq!(value(&out).get("__op"), Some(&s("d")));
    assert_eq!(value(&out).get("__source_lsn"), Some(&Value::Int64(LSN)));
    // Null-valued deletes get no fields.
    let t = unwrap(&[(MODE, "tombstone"), ("add.fields", "op")]);
    assert!(kept(&t, delete()).value.is_null());
}

#[test]
fn add_fields_refuses_duplicate_names() {
    let t = unwrap(&[(MODE, "tombstone"), ("add.fields", "op,op")]);
    let err = t.apply(create()).expect_err("duplicate field");
    assert_eq!(
        err.to_string(),
        "Cannot create field because of field name duplication __op"
    );
}

#[test]
fn add_headers_with_aliases_and_on_tombstones() {
    let t = unwrap(&[
        (MODE, "rewrite-with-tombstone"),
        ("add.headers", "op,source.ts_ms:ts,lsn,id"),
        ("add.headers.prefix", "dbz."),
    ]);
    let out = kept(&t, create());
    assert_eq!(header(&out, "dbz.op"), &s("c"));
    assert_eq!(header(&out, "dbz.ts"), &Value::Int64(COMMIT_TS));
    assert_eq!(header(&out, "dbz.lsn"), &Value::Int64(LSN));
    assert_eq!(header(&out, "dbz.id"), &Value::Null, "no transaction block");
    let op = out.headers.last("dbz.op").and_then(|h| h.schema.clone());
    assert!(op.is_some_and(|s| s.kind == SchemaType::String && s.optional));
    assert_eq!(header(&kept(&t, delete()), "dbz.op"), &s("d"));
    // A tombstone has no envelope: only `op` makes a header, "d".
    let out = kept(&t, tombstone());
    let keys: Vec<&str> = out.headers.iter().map(|h| h.key.as_str()).collect();
    assert_eq!(keys, ["dbz.op"]);
    assert_eq!(header(&out, "dbz.op"), &s("d"));
    // Records that are not envelopes get no headers.
    assert!(kept(&t, heartbeat()).headers.is_empty());
}

#[test]
fn route_by_field_uses_after_then_before() {
    let t = unwrap(&[(MODE, "rewrite"), ("route.by.field", "destination")]);
    let mut routed = row(1, "Anne", None);
    routed.put("destination", s("vip")).expect("destination");
    let out = kept(&t, event("c", None, Some(routed.clone())));
    assert_eq!(out.topic, "vip");
    let out = kept(&t, event("d", Some(routed.clone()), None));
    assert_eq!(out.topic, "vip");
    // Null keeps the topic.
    assert_eq!(kept(&t, create()).topic, TOPIC);
    // Tombstone-mode deletes are routed too, by `before`.
    let t = unwrap(&[(MODE, "tombstone"), ("route.by.field", "destination")]);
    assert_eq!(kept(&t, event("d", Some(routed), None)).topic, "vip");
}

#[test]
fn route_by_field_errors_name_the_field() {
    let t = unwrap(&[(MODE, "tombstone"), ("route.by.field", "nope")]);
    let err = t.apply(create()).expect_err("unknown field");
    assert_eq!(err.to_string(), "nope is not a valid field name");
    let t = unwrap(&[(MODE, "tombstone"), ("route.by.field", "id")]);
    let err = t.apply(create()).expect_err("not a string");
    assert_eq!(err.to_string(), "Field 'id' is not of type STRING");
}

fn with_drop_header(mut r: ConnectRecord, names: &[&str]) -> ConnectRecord {
    let list = Value::Array(names.iter().map(|n| s(n)).collect());
    r.headers.add("drop-fields", None, list);
    r
}

#[test]
fn drop_fields_keep_schema_compatible_drops_optional_fields_only() {
    let t = unwrap(&[
        (MODE, "tombstone"),
        ("drop.fields.header.name", "drop-fields"),
    ]);
    let out = kept(&t, with_drop_header(create(), &["id", "name"]));
    assert_eq!(field_names(&out), ["id", "email", "destination"]);
    assert_eq!(value(&out).get("id"), Some(&Value::Int32(1)));
    // Without the header nothing is dropped.
    assert_eq!(field_names(&kept(&t, create())).len(), 4);
}

#[test]
fn drop_fields_without_compatibility_and_from_key() {
    let t = unwrap(&[
        (MODE, "rewrite"),
        ("drop.fields.header.name", "drop-fields"),
        ("drop.fields.keep.schema.compatible", "false"),
        ("drop.fields.from.key", "true"),
    ]);
    let out = kept(&t, with_drop_header(create(), &["id", "name"]));
    assert_eq!(field_names(&out), ["email", "destination", "__deleted"]);
    let key = out.key.as_struct().expect("key struct");
    assert!(
        key.schema().fields.is_empty(),
        "id dropped from the key too"
    );
    assert_eq!(out.key_schema.as_ref().map(|s| s.fields.len()), Some(0));
    // Deletes drop before fields are added.
    let t = unwrap(&[
        (MODE, "rewrite"),
        ("drop.fields.header.name", "drop-fields"),
        ("add.fields", "op"),
    ]);
    let out = kept(&t, with_drop_header(delete(), &["name", "__op"]));
    assert_eq!(
        field_names(&out),
        ["id", "email", "destination", "__deleted", "__op"]
    );
}
