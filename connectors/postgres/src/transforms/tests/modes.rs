//! Delete and tombstone handling in every mode, new and deprecated, and the records that
//! pass through or are dropped in all of them.

use weir_connect_api::{SchemaType, Value};

use super::*;
use crate::transforms::DELETED_FIELD;

const MODE: &str = "delete.tombstone.handling.mode";

/// The unwrapped create: the `after` row in a required copy of its schema.
fn assert_plain_create(out: &ConnectRecord) {
    assert_eq!(out.topic, TOPIC);
    let schema = out.value_schema.as_ref().expect("value schema");
    assert_eq!(schema.name.as_deref(), Some("srv.public.customers.Value"));
    assert!(
        !schema.optional,
        "Debezium rebuilds the row schema as required"
    );
    assert_eq!(field_names(out), ["id", "name", "email", "destination"]);
    let v = value(out);
    assert_eq!(v.get("id"), Some(&Value::Int32(1)));
    assert_eq!(v.get("name"), Some(&s("Anne")));
    assert_eq!(out.key, create().key, "key unchanged");
    assert_eq!(out.timestamp, Some(COMMIT_TS));
}

#[test]
fn empty_config_keeps_debezium_3_0_defaults() {
    // No delete.tombstone.handling.mode: drop.tombstones=true, delete.handling.mode=drop.
    let t = unwrap(&[]);
    assert_plain_create(&kept(&t, create()));
    assert_eq!(
        value(&kept(&t, update())).get("name"),
        Some(&s("Anne Marie"))
    );
    assert!(run(&t, delete()).is_none(), "delete dropped");
    assert!(run(&t, tombstone()).is_none(), "tombstone dropped");
    assert!(run(&t, truncate()).is_none(), "truncate dropped");
    assert_eq!(
        ExtractNewRecordState::default()
            .apply(delete())
            .expect("applies"),
        None,
        "an unconfigured transform behaves as configured with {{}}"
    );
}

#[test]
fn tombstone_mode_turns_deletes_into_null_values() {
    let t = unwrap(&[(MODE, "tombstone")]);
    assert_plain_create(&kept(&t, create()));
    let out = kept(&t, delete());
    assert!(out.value.is_null());
    // As Kafka's ExtractField$Value: the schema of `after` stays (Debezium's note on it).
    assert_eq!(out.value_schema, Some(row_schema()));
    assert_eq!(out.key, delete().key);
    assert!(
        run(&t, tombstone()).is_none(),
        "the original tombstone is dropped"
    );
}

#[test]
fn drop_mode_drops_deletes_and_tombstones() {
    let t = unwrap(&[(MODE, "DROP")]);
    assert_plain_create(&kept(&t, create()));
    assert!(run(&t, delete()).is_none());
    assert!(run(&t, tombstone()).is_none());
}

#[test]
fn rewrite_mode_marks_every_row() {
    let t = unwrap(&[(MODE, "rewrite")]);
    for (r, name) in [(create(), "Anne"), (update(), "Anne Marie")] {
        let out = kept(&t, r);
        assert_eq!(
            field_names(&out),
            ["id", "name", "email", "destination", DELETED_FIELD]
        );
        let deleted = out
            .value_schema
            .as_ref()
            .and_then(|s| s.field(DELETED_FIELD))
            .expect("__deleted field");
        assert_eq!(deleted.schema.kind, SchemaType::String);
        assert!(deleted.schema.optional);
        assert_eq!(value(&out).get(DELETED_FIELD), Some(&s("false")));
        assert_eq!(value(&out).get("name"), Some(&s(name)));
    }
    let out = kept(&t, delete());
    assert_eq!(out.topic, TOPIC);
    assert_eq!(value(&out).get("name"), Some(&s("Anne Marie")));
    assert_eq!(value(&out).get(DELETED_FIELD), Some(&s("true")));
    let schema = out.value_schema.as_ref().expect("schema");
    assert_eq!(schema.name.as_deref(), Some("srv.public.customers.Value"));
    assert!(!schema.optional);
    assert!(run(&t, tombstone()).is_none());
}

#[test]
fn rewrite_with_tombstone_keeps_tombstones() {
    let t = unwrap(&[(MODE, "rewrite-with-tombstone")]);
    assert_eq!(
        value(&kept(&t, delete())).get(DELETED_FIELD),
        Some(&s("true"))
    );
    assert_eq!(
        value(&kept(&t, create())).get(DELETED_FIELD),
        Some(&s("false"))
    );
    assert_eq!(kept(&t, tombstone()), tombstone());
}

#[test]
fn delete_to_tombstone_makes_real_tombstones() {
    let t = unwrap(&[(MODE, "delete-to-tombstone")]);
    let out = kept(&t, delete());
    assert!(out.value.is_null());
    assert_eq!(out.value_schema, None);
    assert_eq!(out.key, delete().key);
    assert!(run(&t, tombstone()).is_none());
    assert_plain_create(&kept(&t, create()));
}

#[test]
fn legacy_keys_map_as_debezium_2() {
    let t = unwrap(&[
        ("drop.tombstones", "false"),
        ("delete.handling.mode", "none"),
    ]);
    let out = kept(&t, delete());
    assert!(out.value.is_null());
    assert_eq!(out.value_schema, Some(row_schema()));
    assert_eq!(kept(&t, tombstone()), tombstone());
    assert!(value(&kept(&t, create())).get(DELETED_FIELD).is_none());

    let t = unwrap(&[("delete.handling.mode", "rewrite")]);
    assert_eq!(
        value(&kept(&t, delete())).get(DELETED_FIELD),
        Some(&s("true"))
    );
    assert_eq!(
        value(&kept(&t, update())).get(DELETED_FIELD),
        Some(&s("false"))
    );
    assert!(
        run(&t, tombstone()).is_none(),
        "drop.tombstones defaults to true"
    );

    let t = unwrap(&[("drop.tombstones", "false")]);
    assert!(
        run(&t, delete()).is_none(),
        "delete.handling.mode defaults to drop"
    );
    assert_eq!(kept(&t, tombstone()), tombstone());

    // The new key wins over the deprecated ones.
    let t = unwrap(&[
        (MODE, "tombstone"),
        ("delete.handling.mode", "rewrite"),
        ("drop.tombstones", "false"),
    ]);
    assert!(kept(&t, delete()).value.is_null());
    assert!(run(&t, tombstone()).is_none());
}

#[test]
fn truncates_drop_and_foreign_records_pass_in_every_mode() {
    let modes = [
        "",
        "drop",
        "tombstone",
        "rewrite",
        "rewrite-with-tombstone",
        "delete-to-tombstone",
    ];
    for mode in modes {
        let t = unwrap(&[(MODE, mode)]);
        assert!(run(&t, truncate()).is_none(), "{mode}: truncate");
        assert_eq!(kept(&t, heartbeat()), heartbeat(), "{mode}: heartbeat");
        assert_eq!(
            kept(&t, schemaless_event()),
            schemaless_event(),
            "{mode}: schemaless values are not recognised as envelopes"
        );
    }
}

#[test]
fn replace_null_with_default_applies_to_rewritten_rows_only() {
    // `email` is null in the delete's before row and has the default 'n/a'.
    let t = unwrap(&[(MODE, "rewrite")]);
    assert_eq!(value(&kept(&t, delete())).get("email"), Some(&s("n/a")));
    let t = unwrap(&[(MODE, "rewrite"), ("replace.null.with.default", "false")]);
    assert_eq!(value(&kept(&t, delete())).get("email"), Some(&Value::Null));
    // Without rewriting, the row is copied raw, as Debezium's addFields does.
    let t = unwrap(&[(MODE, "tombstone")]);
    let r = event("c", None, Some(row(2, "Bob", None)));
    assert_eq!(value(&kept(&t, r)).get("email"), Some(&Value::Null));
}

#[test]
fn headers_offsets_and_partition_are_kept() {
    let t = unwrap(&[(MODE, "rewrite")]);
    let mut r = create();
    r.headers.add("trace", None, s("abc"));
    r.kafka_partition = Some(3);
    r.source = Some(weir_connect_api::SourcePosition::default());
    let out = kept(&t, r);
    assert_eq!(out.headers.last("trace").map(|h| &h.value), Some(&s("abc")));
    assert_eq!(out.kafka_partition, Some(3));
    assert!(out.source.is_some());
}
