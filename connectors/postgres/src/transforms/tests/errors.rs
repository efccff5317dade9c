//! Config errors, all at once and naming the key, and the config definition.

use weir_connect_api::{SchemaBuilder, Transform, Value};

use super::*;

#[test]
fn every_config_error_is_reported_with_its_key() {
    let errors = config_errors(&[
        ("delete.tombstone.handling.mode", "soft"),
        ("delete.handling.mode", "keep"),
        ("drop.tombstones", "maybe"),
        ("add.fields", "op,a:b:c"),
        ("add.headers", "x:y:z"),
    ]);
    assert_eq!(
        errors,
        [
            "Invalid value maybe for configuration drop.tombstones: Expected value to be either true or false",
            "Invalid value keep for configuration delete.handling.mode: String must be one of: drop, rewrite, none",
            "Invalid value soft for configuration delete.tombstone.handling.mode: Value must be one of drop, tombstone, rewrite, rewrite-with-tombstone, delete-to-tombstone",
            "Invalid value op,a:b:c for configuration add.fields: Unexpected field name: a:b:c (use <field> or <field>:<new name>)",
            "Invalid value x:y:z for configuration add.headers: Unexpected field name: x:y:z (use <field> or <field>:<new name>)",
        ]
    );
}

#[test]
fn config_def_lists_debezium_keys_and_defaults() {
    let def = ExtractNewRecordState::new().config_def();
    let default = |k: &str| {
        def.key(k)
            .unwrap_or_else(|| panic!("{k} defined"))
            .default
            .clone()
    };
    assert_eq!(
        default("delete.tombstone.handling.mode").as_deref(),
        Some("")
    );
    assert_eq!(default("drop.tombstones").as_deref(), Some("true"));
    assert_eq!(default("delete.handling.mode").as_deref(), Some("drop"));
    assert_eq!(default("add.fields.prefix").as_deref(), Some("__"));
    assert_eq!(default("add.headers.prefix").as_deref(), Some("__"));
    assert_eq!(
        default("replace.null.with.default").as_deref(),
        Some("true")
    );
    assert_eq!(default("drop.fields.from.key").as_deref(), Some("false"));
    assert_eq!(
        default("drop.fields.keep.schema.compatible").as_deref(),
        Some("true")
    );
    for k in [
        "route.by.field",
        "add.fields",
        "add.headers",
        "drop.fields.header.name",
    ] {
        assert_eq!(default(k).as_deref(), Some(""), "{k}");
    }
}

#[test]
fn data_errors_name_the_problem() {
    // An envelope-named schema whose value is not a struct.
    let t = unwrap(&[]);
    let schema = SchemaBuilder::string()
        .name("srv.public.customers.Envelope")
        .build();
    let r = ConnectRecord::new(TOPIC, None, Value::Null, Some(schema), s("x"));
    let err = t.apply(r).expect_err("not a struct");
    assert_eq!(
        err.to_string(),
        "Only Struct objects supported for [source field insertion], found: java.lang.String"
    );
    // add.fields naming a block the envelope does not have.
    let t = unwrap(&[
        ("delete.tombstone.handling.mode", "tombstone"),
        ("add.fields", "nope.x"),
    ]);
    let err = t.apply(create()).expect_err("no such block");
    assert_eq!(
        err.to_string(),
        "cannot add nope.x: the change event has no field \"nope\""
    );
    // A drop-fields header that is not a list.
    let t = unwrap(&[
        ("delete.tombstone.handling.mode", "tombstone"),
        ("drop.fields.header.name", "drop"),
    ]);
    let mut r = create();
    r.headers.add("drop", None, s("name"));
    let err = t.apply(r).expect_err("not a list");
    assert_eq!(
        err.to_string(),
        "header drop (drop.fields.header.name) must hold a list of field names"
    );
}
