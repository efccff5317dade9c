//! `ExtractNewRecordState`: the transform itself, applying Debezium's steps in Debezium's
//! order.

use weir_connect_api::{
    ConfigDef, ConfigMap, ConnectRecord, ConnectorError, DataError, Result, Schema, SchemaRef,
    SchemaType, Struct, Transform, Value,
};

use super::config::{self, DeleteAction, Settings, TombstoneAction};
use super::fields;
use super::structs::{self, SchemaCache};

/// The field the rewrite modes add: `"true"` on deletes, `"false"` on creates and updates.
pub const DELETED_FIELD: &str = "__deleted";
/// Debezium's envelope schemas are named `<topic>.Envelope`; anything else passes through.
const ENVELOPE_SUFFIX: &str = ".Envelope";
const PURPOSE: &str = "source field insertion";

/// Debezium's `io.debezium.transforms.ExtractNewRecordState` ("unwrap"): replaces a change
/// event envelope by its `after` row (or `before` row for rewritten deletes), handles
/// deletes and tombstones per `delete.tombstone.handling.mode` (or the deprecated
/// `drop.tombstones` / `delete.handling.mode`), and adds envelope fields as value fields or
/// headers.
///
/// Records whose value schema is not a Debezium envelope (heartbeats, transaction metadata,
/// logical decoding messages, schemaless values) pass through untouched, as in Debezium,
/// which needs schemas to recognise an envelope. Tombstones (null values) are handled
/// whatever their origin. Truncate events are dropped.
#[derive(Debug)]
pub struct ExtractNewRecordState {
    settings: Settings,
    /// `__deleted` schemas by input value schema.
    rewritten: SchemaCache<SchemaRef>,
    /// `add.fields` schemas by (value schema, envelope schema, op).
    added: SchemaCache<(SchemaRef, SchemaRef, String)>,
}

impl Default for ExtractNewRecordState {
    /// Configured with Debezium's defaults, as after `configure` with an empty map.
    fn default() -> Self {
        let settings = match config::parse(&ConfigMap::new()) {
            Ok(s) => s,
            // Unreachable: every key has a valid default. Keep the safest behaviour anyway.
            Err(_) => Settings {
                handling: config::Handling {
                    tombstones: TombstoneAction::Drop,
                    deletes: DeleteAction::Drop,
                },
                route_by_field: None,
                add_fields: Vec::new(),
                add_headers: Vec::new(),
                drop_fields_header: None,
                drop_fields_from_key: false,
                drop_fields_keep_schema_compatible: true,
                replace_null_with_default: true,
            },
        };
        Self {
            settings,
            rewritten: SchemaCache::default(),
            added: SchemaCache::default(),
        }
    }
}

impl ExtractNewRecordState {
    /// A transform with Debezium's defaults; call [`Transform::configure`] to change them.
    pub fn new() -> Self {
        Self::default()
    }
}

fn is_envelope(schema: Option<&SchemaRef>) -> bool {
    schema
        .and_then(|s| s.name.as_deref())
        .is_some_and(|n| n.ends_with(ENVELOPE_SUFFIX))
}

/// Kafka's `Struct.getString`: the field must exist and be a string; null gives its default.
fn get_string<'a>(s: &'a Struct, name: &str) -> Result<Option<&'a str>, DataError> {
    let f = s
        .schema()
        .field(name)
        .ok_or_else(|| DataError::new(format!("{name} is not a valid field name")))?;
    if f.schema.kind != SchemaType::String {
        return Err(DataError::new(format!(
            "Field '{name}' is not of type STRING"
        )));
    }
    Ok(s.get_or_default(name).and_then(Value::as_str))
}

/// Debezium's `setTopic`: a null or blank name keeps the topic.
fn set_topic(record: &mut ConnectRecord, topic: Option<&str>) {
    if let Some(t) = topic.filter(|t| !t.trim().is_empty()) {
        record.topic = t.to_string();
    }
}

impl ExtractNewRecordState {
    /// The record with `value` / `value_schema` replaced (key, headers, topic, ... kept).
    fn with_value(
        mut record: ConnectRecord,
        schema: Option<SchemaRef>,
        value: Value,
    ) -> ConnectRecord {
        record.value_schema = schema;
        record.value = value;
        record
    }

    /// `InsertField$Value` with `__deleted`; non-struct rows pass unchanged.
    fn mark_deleted(&self, mut record: ConnectRecord, deleted: bool) -> Result<ConnectRecord> {
        let (Some(schema), Value::Struct(row)) = (&record.value_schema, &record.value) else {
            return Ok(record);
        };
        let out_schema = self.rewritten.get_or_build(schema.clone(), || {
            structs::with_static_field_schema(schema, DELETED_FIELD)
        })?;
        let flag = if deleted { "true" } else { "false" };
        let value = structs::with_static_field(
            row,
            out_schema.clone(),
            DELETED_FIELD,
            flag,
            self.settings.replace_null_with_default,
        )?;
        record.value_schema = Some(out_schema);
        record.value = Value::Struct(value);
        Ok(record)
    }

    /// `add.fields`: always rebuilds the value as a required struct, as Debezium does.
    fn add_fields(
        &self,
        mut record: ConnectRecord,
        envelope: &Struct,
        op: &str,
    ) -> Result<ConnectRecord> {
        let row = structs::require_struct(&record.value, PURPOSE)?;
        let refs = &self.settings.add_fields;
        let key = (
            row.schema().clone(),
            envelope.schema().clone(),
            op.to_string(),
        );
        let schema = self.added.get_or_build(key, || {
            structs::added_fields_schema(row.schema(), envelope.schema(), refs)
        })?;
        let value = structs::with_added_fields(row, schema.clone(), envelope, refs)?;
        record.value_schema = Some(schema);
        record.value = Value::Struct(value);
        Ok(record)
    }

    /// Drops the fields the `drop.fields.header.name` header lists (optional ones only
    /// while `drop.fields.keep.schema.compatible`), from the value and, with
    /// `drop.fields.from.key`, from the key.
    fn drop_fields(&self, mut record: ConnectRecord) -> Result<ConnectRecord> {
        let Some(header) = self.settings.drop_fields_header.as_deref() else {
            return Ok(record);
        };
        let listed = match record
            .headers
            .iter()
            .find(|h| h.key == header)
            .map(|h| &h.value)
        {
            None | Some(Value::Null) => None,
            Some(Value::Array(items)) => Some(
                items
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_string))
                    .collect::<Vec<_>>(),
            ),
            Some(_) => {
                return Err(DataError::new(format!(
                    "header {header} (drop.fields.header.name) must hold a list of field names"
                ))
                .into());
            }
        };
        let Some(names) = listed else {
            return Ok(record);
        };
        if names.is_empty() {
            return Ok(record);
        }
        if self.settings.drop_fields_from_key
            && let Value::Struct(key) = &record.key
        {
            let drop = self.droppable(key.schema(), &names);
            if !drop.is_empty() {
                let key = structs::without_fields(key, &drop)?;
                record.key_schema = Some(key.schema().clone());
                record.key = Value::Struct(key);
            }
        }
        if let Value::Struct(row) = &record.value {
            let drop = self.droppable(row.schema(), &names);
            if !drop.is_empty() {
                let row = structs::without_fields(row, &drop)?;
                record.value_schema = Some(row.schema().clone());
                record.value = Value::Struct(row);
            }
        }
        Ok(record)
    }

    fn droppable(&self, schema: &Schema, names: &[String]) -> Vec<String> {
        if !self.settings.drop_fields_keep_schema_compatible {
            return names.to_vec();
        }
        schema
            .fields
            .iter()
            .filter(|f| f.schema.optional && names.contains(&f.name))
            .map(|f| f.name.clone())
            .collect()
    }

    /// A delete event (`after` null, `before` set).
    fn delete(
        &self,
        record: ConnectRecord,
        envelope: &Struct,
        op: &str,
    ) -> Result<Option<ConnectRecord>> {
        let mut out = match self.settings.handling.deletes {
            DeleteAction::Drop => return Ok(None),
            DeleteAction::NullValue => {
                let (schema, value) = structs::extract(envelope, "after")?;
                Self::with_value(record, Some(schema), value)
            }
            DeleteAction::Tombstone => Self::with_value(record, None, Value::Null),
            DeleteAction::Rewrite => {
                let (schema, value) = structs::extract(envelope, "before")?;
                self.mark_deleted(Self::with_value(record, Some(schema), value), true)?
            }
        };
        if let Some(field) = &self.settings.route_by_field {
            let before = match envelope.get("before") {
                Some(Value::Struct(b)) => b,
                _ => {
                    return Err(DataError::new(format!(
                        "route.by.field {field}: the delete event on topic {} has no before row",
                        out.topic
                    ))
                    .into());
                }
            };
            set_topic(&mut out, get_string(before, field)?);
        }
        out = self.drop_fields(out)?;
        if !out.value.is_null() {
            out = self.add_fields(out, envelope, op)?;
        }
        Ok(Some(out))
    }

    /// A create, read or update event (`after` set).
    fn upsert(
        &self,
        record: ConnectRecord,
        envelope: &Struct,
        op: &str,
        after: (SchemaRef, Value),
    ) -> Result<ConnectRecord> {
        let mut out = Self::with_value(record, Some(after.0), after.1);
        if self.settings.handling.rewrite() {
            out = self.mark_deleted(out, false)?;
        }
        if let Some(field) = &self.settings.route_by_field {
            let row = structs::require_struct(
                &out.value,
                "Read record to set topic routing for CREATE / UPDATE",
            )?;
            let topic = get_string(row, field)?.map(str::to_string);
            set_topic(&mut out, topic.as_deref());
        }
        out = self.add_fields(out, envelope, op)?;
        self.drop_fields(out)
    }
}

impl Transform for ExtractNewRecordState {
    fn config_def(&self) -> ConfigDef {
        config::config_def()
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        self.settings = config::parse(config).map_err(ConnectorError::Config)?;
        self.rewritten = SchemaCache::default();
        self.added = SchemaCache::default();
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let tombstone = record.value.is_null();
        let envelope = is_envelope(record.value_schema.as_ref());
        if (envelope || tombstone) && !self.settings.add_headers.is_empty() {
            let original = if tombstone {
                None
            } else {
                Some(structs::require_struct(&record.value, PURPOSE)?)
            };
            let added = fields::make_headers(&self.settings.add_headers, original)?;
            record.headers.0.extend(added.0);
        }
        if tombstone {
            return Ok(match self.settings.handling.tombstones {
                TombstoneAction::Drop => None,
                TombstoneAction::Keep => Some(record),
            });
        }
        if !envelope {
            return Ok(Some(record));
        }
        let env = match std::mem::replace(&mut record.value, Value::Null) {
            Value::Struct(env) => env,
            other => return Err(structs::not_a_struct(&other, PURPOSE).into()),
        };
        // Debezium reads `op` only to key its schema cache; a missing one is not an error.
        let op = env.get("op").and_then(Value::as_str).unwrap_or_default();
        let (after_schema, after) = structs::extract(&env, "after")?;
        if after.is_null() {
            if structs::extract(&env, "before")?.1.is_null() {
                // A truncate event: neither row.
                return Ok(None);
            }
            return self.delete(record, &env, op);
        }
        self.upsert(record, &env, op, (after_schema, after))
            .map(Some)
    }
}
