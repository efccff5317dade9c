//! The keys of `ExtractNewRecordState`, parsed once into [`Settings`].
//!
//! Debezium 3.0 reads `delete.tombstone.handling.mode` first; when it is blank, the
//! deprecated pair `drop.tombstones` (default `true`) / `delete.handling.mode` (default
//! `drop`) decides, exactly as Debezium 2.5-3.1 did. Both forms map onto one [`Handling`].

use weir_connect_api::config::{ConfigError, Validator};
use weir_connect_api::{ConfigDef, ConfigMap, ConfigType, Importance};

use super::fields::FieldRef;

pub(crate) const DELETE_TOMBSTONE_HANDLING_MODE: &str = "delete.tombstone.handling.mode";
pub(crate) const DROP_TOMBSTONES: &str = "drop.tombstones";
pub(crate) const DELETE_HANDLING_MODE: &str = "delete.handling.mode";
pub(crate) const ROUTE_BY_FIELD: &str = "route.by.field";
pub(crate) const ADD_FIELDS: &str = "add.fields";
pub(crate) const ADD_FIELDS_PREFIX: &str = "add.fields.prefix";
pub(crate) const ADD_HEADERS: &str = "add.headers";
pub(crate) const ADD_HEADERS_PREFIX: &str = "add.headers.prefix";
pub(crate) const DROP_FIELDS_HEADER_NAME: &str = "drop.fields.header.name";
pub(crate) const DROP_FIELDS_FROM_KEY: &str = "drop.fields.from.key";
pub(crate) const DROP_FIELDS_KEEP_SCHEMA_COMPATIBLE: &str = "drop.fields.keep.schema.compatible";
pub(crate) const REPLACE_NULL_WITH_DEFAULT: &str = "replace.null.with.default";

/// Prefix of added fields and headers unless configured (`__op`, `__source_ts_ms`).
const METADATA_FIELD_PREFIX: &str = "__";

/// `delete.tombstone.handling.mode` values (Debezium's `DeleteTombstoneHandling`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeleteTombstoneHandling {
    /// Drop delete events and tombstones.
    Drop,
    /// Delete event -> record with a null value; tombstones dropped.
    Tombstone,
    /// Delete event -> the `before` row plus `__deleted: "true"`; tombstones dropped.
    Rewrite,
    /// As `Rewrite`, and tombstones are kept.
    RewriteWithTombstone,
    /// Delete event -> a tombstone (null value and value schema); tombstones dropped.
    /// Newer than Debezium 3.0, accepted so configs written for later releases work.
    DeleteToTombstone,
}

impl DeleteTombstoneHandling {
    const ALL: [(&'static str, Self); 5] = [
        ("drop", Self::Drop),
        ("tombstone", Self::Tombstone),
        ("rewrite", Self::Rewrite),
        ("rewrite-with-tombstone", Self::RewriteWithTombstone),
        ("delete-to-tombstone", Self::DeleteToTombstone),
    ];

    /// Parses a value case-insensitively after trimming, as Debezium's `parse`.
    pub fn parse(raw: &str) -> Option<Self> {
        let raw = raw.trim();
        Self::ALL
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(raw))
            .map(|(_, v)| *v)
    }

    fn names() -> String {
        Self::ALL.map(|(n, _)| n).join(", ")
    }

    fn handling(self) -> Handling {
        let (tombstones, deletes) = match self {
            Self::Drop => (TombstoneAction::Drop, DeleteAction::Drop),
            Self::Tombstone => (TombstoneAction::Drop, DeleteAction::NullValue),
            Self::Rewrite => (TombstoneAction::Drop, DeleteAction::Rewrite),
            Self::RewriteWithTombstone => (TombstoneAction::Keep, DeleteAction::Rewrite),
            Self::DeleteToTombstone => (TombstoneAction::Drop, DeleteAction::Tombstone),
        };
        Handling {
            tombstones,
            deletes,
        }
    }
}

/// What happens to a tombstone (any record whose value is null).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TombstoneAction {
    Drop,
    Keep,
}

/// What happens to a delete event (an envelope whose `after` is null).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DeleteAction {
    Drop,
    /// Value null, value schema the `after` field's schema: what `ExtractField$Value`
    /// makes of it (Debezium's `tombstone` / legacy `none`; the JDBC sink relies on it).
    NullValue,
    /// Value and value schema null: a real tombstone (`delete-to-tombstone`).
    Tombstone,
    /// The `before` row with `__deleted: "true"`; creates and updates get `"false"`.
    Rewrite,
}

/// The record handling both config forms boil down to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Handling {
    pub tombstones: TombstoneAction,
    pub deletes: DeleteAction,
}

impl Handling {
    /// Whether creates and updates get `__deleted: "false"` (the rewrite modes).
    pub fn rewrite(self) -> bool {
        self.deletes == DeleteAction::Rewrite
    }
}

/// Every setting of the transform, parsed and checked.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub handling: Handling,
    pub route_by_field: Option<String>,
    pub add_fields: Vec<FieldRef>,
    pub add_headers: Vec<FieldRef>,
    pub drop_fields_header: Option<String>,
    pub drop_fields_from_key: bool,
    pub drop_fields_keep_schema_compatible: bool,
    pub replace_null_with_default: bool,
}

/// The transform's keys, with Debezium's defaults and documentation.
pub(crate) fn config_def() -> ConfigDef {
    let low = Importance::Low;
    ConfigDef::new()
        .define(
            DROP_TOMBSTONES,
            ConfigType::Boolean,
            Some("true"),
            low,
            "Deprecated, use \"delete.tombstone.handling.mode\" instead. Whether tombstones are dropped; read only when \"delete.tombstone.handling.mode\" is not set.",
        )
        .define(
            DELETE_HANDLING_MODE,
            ConfigType::String,
            Some("drop"),
            Importance::Medium,
            "Deprecated, use \"delete.tombstone.handling.mode\" instead. How to handle delete records: none - records are passed, drop - records are removed (the default), rewrite - __deleted field is added to records.",
        )
        .with_validator(Validator::OneOf(vec![
            "drop".into(),
            "rewrite".into(),
            "none".into(),
        ]))
        .define(
            DELETE_TOMBSTONE_HANDLING_MODE,
            ConfigType::String,
            Some(""),
            Importance::Medium,
            "How to handle delete records. Options are: drop - Remove the delete event and tombstone from the stream. tombstone - For each delete event, leave only a tombstone in the stream. rewrite - Remove tombstone from the record, and add a `__deleted` field with the value `true`. rewrite-with-tombstone - Retain tombstone in record and add a `__deleted` field with the value `true`. delete-to-tombstone - Convert delete events to tombstone events and drop tombstone events. When not set, the deprecated drop.tombstones and delete.handling.mode decide.",
        )
        .define(
            ROUTE_BY_FIELD,
            ConfigType::String,
            Some(""),
            low,
            "The column which determines how the events will be routed, the value will replace the topic name.",
        )
        .define(
            ADD_FIELDS_PREFIX,
            ConfigType::String,
            Some(METADATA_FIELD_PREFIX),
            low,
            "Adds this prefix to each field listed.",
        )
        .define(
            ADD_FIELDS,
            ConfigType::List,
            Some(""),
            low,
            "Adds each field listed, prefixed with __ (or __<struct>_ if the struct is specified). Example: 'version,connector,source.ts_ms' would add __version, __connector and __source_ts_ms fields. Optionally one can also map new field name like version:VERSION,connector:CONNECTOR,source.ts_ms:EVENT_TIMESTAMP. Please note that the new field name is case-sensitive.",
        )
        .define(
            ADD_HEADERS_PREFIX,
            ConfigType::String,
            Some(METADATA_FIELD_PREFIX),
            low,
            "Adds this prefix listed to each header.",
        )
        .define(
            ADD_HEADERS,
            ConfigType::List,
            Some(""),
            low,
            "Adds each field listed to the header, __ (or __<struct>_ if the struct is specified). Example: 'version,connector,source.ts_ms' would add __version, __connector and __source_ts_ms fields. Optionally one can also map new field name like version:VERSION,connector:CONNECTOR,source.ts_ms:EVENT_TIMESTAMP. Please note that the new field name is case-sensitive.",
        )
        .define(
            REPLACE_NULL_WITH_DEFAULT,
            ConfigType::Boolean,
            Some("true"),
            low,
            "When this option is enabled, null field values are replaced by source-defined defaults when rewriting the record.",
        )
        .define(
            DROP_FIELDS_HEADER_NAME,
            ConfigType::String,
            Some(""),
            low,
            "Specifies the name of a header that contains a list of fields to be removed from the event value.",
        )
        .define(
            DROP_FIELDS_FROM_KEY,
            ConfigType::Boolean,
            Some("false"),
            low,
            "Specifies whether to apply the drop fields behavior to the event key as well as the value. Default behavior is to only remove fields from the event value, not the key.",
        )
        .define(
            DROP_FIELDS_KEEP_SCHEMA_COMPATIBLE,
            ConfigType::Boolean,
            Some("true"),
            low,
            "Controls the output event's schema compatibility when using the drop fields feature. `true`: dropped fields are removed if the schema indicates its optional leaving the schemas unchanged, `false`: dropped fields are removed from the key/value schemas, regardless of optionality.",
        )
}

/// A config value as Debezium's `Configuration.getString` reads it: raw, untrimmed.
fn raw<'a>(config: &'a ConfigMap, key: &str, default: &'a str) -> &'a str {
    config.get(key).map_or(default, String::as_str)
}

fn invalid(key: &str, value: &str, why: &str) -> ConfigError {
    ConfigError::new(
        key,
        format!("Invalid value {value} for configuration {key}: {why}"),
    )
}

/// Parses `config`, returning every problem at once.
pub(crate) fn parse(config: &ConfigMap) -> Result<Settings, Vec<ConfigError>> {
    let mut errors = Vec::new();
    let parsed = config_def().parse_into(config, &mut errors);
    let boolean = |key: &str, default: bool| {
        parsed
            .as_ref()
            .and_then(|p| p.boolean(key))
            .unwrap_or(default)
    };

    let mode = raw(config, DELETE_TOMBSTONE_HANDLING_MODE, "");
    let handling = if mode.trim().is_empty() {
        legacy_handling(config, boolean(DROP_TOMBSTONES, true))
    } else {
        match DeleteTombstoneHandling::parse(mode) {
            Some(m) => m.handling(),
            None => {
                errors.push(invalid(
                    DELETE_TOMBSTONE_HANDLING_MODE,
                    mode,
                    &format!("Value must be one of {}", DeleteTombstoneHandling::names()),
                ));
                DeleteTombstoneHandling::Tombstone.handling()
            }
        }
    };

    let mut refs = |list_key: &str, prefix_key: &str| {
        let prefix = raw(config, prefix_key, METADATA_FIELD_PREFIX);
        let mut out = Vec::new();
        for item in raw(config, list_key, "").split(',').map(str::trim) {
            if item.is_empty() {
                continue;
            }
            match FieldRef::parse(prefix, item) {
                Ok(r) => out.push(r),
                Err(why) => errors.push(invalid(list_key, raw(config, list_key, ""), &why)),
            }
        }
        out
    };
    let add_fields = refs(ADD_FIELDS, ADD_FIELDS_PREFIX);
    let add_headers = refs(ADD_HEADERS, ADD_HEADERS_PREFIX);

    let route = raw(config, ROUTE_BY_FIELD, "");
    let drop_header = raw(config, DROP_FIELDS_HEADER_NAME, "");
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Settings {
        handling,
        route_by_field: (!route.is_empty()).then(|| route.to_string()),
        add_fields,
        add_headers,
        drop_fields_header: (!drop_header.trim().is_empty()).then(|| drop_header.to_string()),
        drop_fields_from_key: boolean(DROP_FIELDS_FROM_KEY, false),
        drop_fields_keep_schema_compatible: boolean(DROP_FIELDS_KEEP_SCHEMA_COMPATIBLE, true),
        replace_null_with_default: boolean(REPLACE_NULL_WITH_DEFAULT, true),
    })
}

/// The deprecated `drop.tombstones` / `delete.handling.mode` pair (already validated).
fn legacy_handling(config: &ConfigMap, drop_tombstones: bool) -> Handling {
    if config.contains_key(DROP_TOMBSTONES) || config.contains_key(DELETE_HANDLING_MODE) {
        tracing::warn!(
            "the deleted record handling configs \"drop.tombstones\" and \"delete.handling.mode\" \
             have been deprecated, please use \"delete.tombstone.handling.mode\" instead"
        );
    }
    let mode = raw(config, DELETE_HANDLING_MODE, "drop").trim();
    let deletes = if mode.eq_ignore_ascii_case("rewrite") {
        DeleteAction::Rewrite
    } else if mode.eq_ignore_ascii_case("none") {
        DeleteAction::NullValue
    } else {
        DeleteAction::Drop
    };
    Handling {
        tombstones: if drop_tombstones {
            TombstoneAction::Drop
        } else {
            TombstoneAction::Keep
        },
        deletes,
    }
}
