//! From a record to the change it makes to a table. Debezium change events are read
//! natively (`c`/`r`/`u` write `after`, `d` deletes by key, `t` truncates, `m` is skipped),
//! and flattened records (`ExtractNewRecordState`) and tombstones alike. The primary key
//! comes from `pk.mode`; TOAST placeholders mark columns to leave as they are.

use std::sync::Arc;

use weir_connect_api::{
    ConnectRecord, Schema, SchemaBuilder, SchemaRef, SchemaType, Struct, Value,
};

use crate::cell::{self, Cell};
use crate::config::{Flavor, PkMode, Settings};
use crate::table::{self, TableId};

/// A column of a change: its name and the field schema it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    pub name: String,
    pub schema: SchemaRef,
}

/// A row to write: key columns and cells, then the other columns and cells (`None`: the
/// source did not send the value, TOAST; the column keeps what the table has).
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub key: Vec<Column>,
    pub key_cells: Vec<Cell>,
    pub columns: Vec<Column>,
    pub cells: Vec<Option<Cell>>,
}

/// What a record does to its table.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    Upsert(TableId, Row),
    /// Deletes by key (the row's `columns` are empty).
    Delete(TableId, Row),
    Truncate(TableId),
    /// Nothing to do (a tombstone or delete with deletes off, a logical message).
    Skip,
}

/// The change `record` makes, or a sentence saying why it cannot be written.
pub fn change(settings: &Settings, record: &ConnectRecord) -> Result<Change, String> {
    let table = || table::destination(settings.flavor, &settings.table_format, record);
    let row_struct = match envelope(record) {
        Some(event) => {
            let op = match event.get("op") {
                Some(Value::String(op)) => op.as_str(),
                _ => return Err("the Debezium event has no op".into()),
            };
            match op {
                "c" | "r" | "u" => match event.get("after") {
                    Some(Value::Struct(after)) => after,
                    _ => return Err(format!("the Debezium event (op {op}) has no after state")),
                },
                "d" if settings.delete_enabled => {
                    let before = event.get("before").and_then(Value::as_struct);
                    return Ok(Change::Delete(table()?, key_row(settings, record, before)?));
                }
                "t" if settings.truncate_enabled => return Ok(Change::Truncate(table()?)),
                "d" | "t" | "m" => return Ok(Change::Skip),
                other => return Err(format!("unknown Debezium op {other:?}")),
            }
        }
        None if record.value.is_null() => {
            if settings.delete_enabled {
                return Ok(Change::Delete(table()?, key_row(settings, record, None)?));
            }
            return match settings.flavor {
                Flavor::Debezium => Ok(Change::Skip),
                Flavor::Confluent => Err(format!(
                    "the record has a null value (a tombstone) and delete.enabled=false; a tombstone can only delete a row (delete.enabled=true, {}=record_key)",
                    settings.pk_mode_key()
                )),
            };
        }
        None => match (&record.value, &record.value_schema) {
            (Value::Struct(s), Some(_)) => s,
            (value, schema) => {
                return Err(format!(
                    "the JDBC sink needs struct values with a schema, but the value is a {}{} (with JsonConverter set value.converter.schemas.enable=true)",
                    value.kind().map_or("null", SchemaType::name),
                    if schema.is_none() {
                        " without schema"
                    } else {
                        ""
                    }
                ));
            }
        },
    };
    let mut row = key_row(settings, record, Some(row_struct))?;
    for (field, value) in row_struct.iter() {
        if row.key.iter().any(|k| k.name == field.name)
            || !settings.fields.allows(&record.topic, &field.name)
        {
            continue;
        }
        let cell = if cell::is_placeholder(value, &settings.placeholder) {
            None
        } else {
            Some(
                cell::cell(&field.schema, value)
                    .map_err(|e| format!("column {:?}: {e}", field.name))?,
            )
        };
        row.columns.push(Column {
            name: field.name.clone(),
            schema: Arc::clone(&field.schema),
        });
        row.cells.push(cell);
    }
    Ok(Change::Upsert(table()?, row))
}

/// The Debezium envelope of a record, if it is one (`op` plus `after` or `before`).
fn envelope(record: &ConnectRecord) -> Option<&Struct> {
    let s = record.value.as_struct()?;
    let schema = s.schema();
    let has = |name: &str| schema.field(name).is_some();
    (has("op") && (has("after") || has("before"))).then_some(s)
}

/// The key columns of `record` under `pk.mode`; `value` is the row (or before-image) the
/// `record_value` mode reads.
fn key_row(
    settings: &Settings,
    record: &ConnectRecord,
    value: Option<&Struct>,
) -> Result<Row, String> {
    let mut row = Row {
        key: Vec::new(),
        key_cells: Vec::new(),
        columns: Vec::new(),
        cells: Vec::new(),
    };
    let mut push = |name: &str, schema: &SchemaRef, value: &Value| -> Result<(), String> {
        if value.is_null() {
            return Err(format!("the primary key column {name:?} is null"));
        }
        let cell = cell::cell(schema, value).map_err(|e| format!("key column {name:?}: {e}"))?;
        row.key.push(Column {
            name: name.to_string(),
            schema: Arc::clone(schema),
        });
        row.key_cells.push(cell);
        Ok(())
    };
    let fields = &settings.pk_fields;
    match settings.pk_mode {
        PkMode::None => {}
        PkMode::Kafka => {
            let partition = record.kafka_partition.unwrap_or_default();
            let offset = record.kafka_offset.unwrap_or_default();
            push(
                &fields[0],
                &SchemaBuilder::string().build(),
                &Value::String(record.topic.clone()),
            )?;
            push(
                &fields[1],
                &SchemaBuilder::int32().build(),
                &Value::Int32(partition),
            )?;
            push(
                &fields[2],
                &SchemaBuilder::int64().build(),
                &Value::Int64(offset),
            )?;
        }
        PkMode::RecordKey => {
            let Some(schema) = &record.key_schema else {
                return Err(format!(
                    "{}=record_key needs a record key with a schema, but the key {}",
                    settings.pk_mode_key(),
                    if record.key.is_null() {
                        "is null"
                    } else {
                        "has no schema"
                    }
                ));
            };
            match (&record.key, schema.kind) {
                (Value::Struct(key), SchemaType::Struct) => {
                    push_struct_fields(key, fields, "key", &mut push)?;
                }
                (Value::Null, _) => return Err("the record key is null".into()),
                (key, _) => {
                    let [name] = fields.as_slice() else {
                        return Err(format!(
                            "Need exactly one PK column defined since the key schema for records is a primitive type, defined columns are: {fields:?}"
                        ));
                    };
                    push(name, schema, key)?;
                }
            }
        }
        PkMode::RecordValue => {
            let Some(value) = value else {
                return Err(format!(
                    "{}=record_value needs the row's values to find its key",
                    settings.pk_mode_key()
                ));
            };
            push_struct_fields(value, fields, "value", &mut push)?;
        }
    }
    Ok(row)
}

fn push_struct_fields(
    s: &Struct,
    names: &[String],
    what: &str,
    push: &mut impl FnMut(&str, &SchemaRef, &Value) -> Result<(), String>,
) -> Result<(), String> {
    if names.is_empty() {
        for (field, value) in s.iter() {
            push(&field.name, &field.schema, value)?;
        }
        return Ok(());
    }
    for name in names {
        let field = s.schema().field(name).ok_or_else(|| {
            format!(
                "the primary key field {name:?} is not a field of the record {what} ({})",
                field_names(s.schema())
            )
        })?;
        push(name, &field.schema, s.get(name).unwrap_or(&Value::Null))?;
    }
    Ok(())
}

fn field_names(schema: &Schema) -> String {
    schema
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_connect_api::ConfigMap;

    fn settings(flavor: Flavor, pairs: &[(&str, &str)]) -> Settings {
        let mut config: ConfigMap = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        config.insert("connection.url".into(), "jdbc:postgresql://h/db".into());
        Settings::parse(flavor, &config).expect("settings")
    }

    fn row_schema() -> SchemaRef {
        SchemaBuilder::structure()
            .field("id", SchemaBuilder::int32().build())
            .field("name", SchemaBuilder::string().optional().build())
            .field("bio", SchemaBuilder::string().optional().build())
            .optional()
            .build()
    }

    fn row(id: i32, name: &str, bio: &str) -> Value {
        let mut s = Struct::new(row_schema());
        s.put("id", Value::Int32(id)).expect("id");
        s.put("name", Value::String(name.into())).expect("name");
        s.put("bio", Value::String(bio.into())).expect("bio");
        Value::Struct(s)
    }

    fn key(id: i32) -> (Option<SchemaRef>, Value) {
        let schema = SchemaBuilder::structure()
            .field("id", SchemaBuilder::int32().build())
            .build();
        let mut s = Struct::new(schema.clone());
        s.put("id", Value::Int32(id)).expect("id");
        (Some(schema), Value::Struct(s))
    }

    fn event(op: &str, before: Option<Value>, after: Option<Value>) -> ConnectRecord {
        let schema = SchemaBuilder::structure()
            .name("dbserver1.public.users.Envelope")
            .field("before", row_schema())
            .field("after", row_schema())
            .field("op", SchemaBuilder::string().build())
            .build();
        let mut s = Struct::new(schema.clone());
        s.put("before", before.unwrap_or(Value::Null))
            .expect("before");
        s.put("after", after.unwrap_or(Value::Null)).expect("after");
        s.put("op", Value::String(op.into())).expect("op");
        let (ks, k) = key(1);
        ConnectRecord::new(
            "dbserver1.public.users",
            ks,
            k,
            Some(schema),
            Value::Struct(s),
        )
    }

    #[test]
    fn debezium_events_natively() {
        let s = settings(
            Flavor::Debezium,
            &[
                ("primary.key.mode", "record_key"),
                ("delete.enabled", "true"),
                ("truncate.enabled", "true"),
            ],
        );
        let Ok(Change::Upsert(table, written)) = change(
            &s,
            &event(
                "u",
                None,
                Some(row(1, "ann", "__debezium_unavailable_value")),
            ),
        ) else {
            panic!("an upsert");
        };
        assert_eq!(table.parts(), ["dbserver1_public_users"]);
        assert_eq!(written.key_cells, [Cell::Int(1)]);
        let names: Vec<&str> = written.columns.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["name", "bio"]);
        assert_eq!(
            written.cells,
            [Some(Cell::Text("ann".into())), None],
            "TOAST placeholder: leave the column"
        );
        assert!(
            matches!(change(&s, &event("d", Some(row(1, "a", "b")), None)), Ok(Change::Delete(_, r)) if r.key_cells == [Cell::Int(1)])
        );
        assert!(matches!(
            change(&s, &event("t", None, None)),
            Ok(Change::Truncate(_))
        ));
        assert_eq!(change(&s, &event("m", None, None)), Ok(Change::Skip));
        let off = settings(Flavor::Debezium, &[("primary.key.mode", "record_key")]);
        assert_eq!(
            change(&off, &event("d", Some(row(1, "a", "b")), None)),
            Ok(Change::Skip)
        );
        assert_eq!(change(&off, &event("t", None, None)), Ok(Change::Skip));
    }

    #[test]
    fn flattened_records_and_tombstones() {
        let s = settings(
            Flavor::Confluent,
            &[
                ("pk.mode", "record_value"),
                ("pk.fields", "id"),
                ("fields.whitelist", "name"),
            ],
        );
        let r = ConnectRecord::new(
            "users",
            None,
            Value::Null,
            Some(row_schema()),
            row(7, "bo", "x"),
        );
        let Ok(Change::Upsert(table, written)) = change(&s, &r) else {
            panic!("an upsert");
        };
        assert_eq!(table.parts(), ["users"]);
        assert_eq!(written.key_cells, [Cell::Int(7)]);
        assert_eq!(
            written.cells,
            [Some(Cell::Text("bo".into()))],
            "fields.whitelist keeps only name"
        );
        let tombstone = ConnectRecord::new("users", None, Value::Null, None, Value::Null);
        assert!(change(&s, &tombstone).is_err_and(|e| e.contains("delete.enabled=false")));
        let deletes = settings(
            Flavor::Confluent,
            &[("pk.mode", "record_key"), ("delete.enabled", "true")],
        );
        let (ks, k) = key(3);
        let tombstone = ConnectRecord::new("users", ks, k, None, Value::Null);
        assert!(
            matches!(change(&deletes, &tombstone), Ok(Change::Delete(_, r)) if r.key_cells == [Cell::Int(3)])
        );
    }

    #[test]
    fn key_problems_are_sentences() {
        let s = settings(Flavor::Confluent, &[("pk.mode", "record_key")]);
        let r = ConnectRecord::new(
            "users",
            None,
            Value::Null,
            Some(row_schema()),
            row(1, "a", "b"),
        );
        assert!(change(&s, &r).is_err_and(|e| e.contains("record_key needs a record key")));
        let prim = ConnectRecord::new(
            "users",
            Some(SchemaBuilder::int64().build()),
            Value::Int64(5),
            Some(row_schema()),
            row(1, "a", "b"),
        );
        assert!(change(&s, &prim).is_err_and(|e| e.contains("Need exactly one PK column")));
        let named = settings(
            Flavor::Confluent,
            &[("pk.mode", "record_key"), ("pk.fields", "uid")],
        );
        assert!(
            matches!(change(&named, &prim), Ok(Change::Upsert(_, r)) if r.key[0].name == "uid")
        );
        let missing = settings(
            Flavor::Confluent,
            &[("pk.mode", "record_value"), ("pk.fields", "nope")],
        );
        assert!(change(&missing, &r).is_err_and(|e| {
            e.contains("\"nope\" is not a field of the record value (id, name, bio)")
        }));
        let kafka = settings(Flavor::Confluent, &[("pk.mode", "kafka")]);
        let mut at = r.clone();
        at.kafka_partition = Some(2);
        at.kafka_offset = Some(40);
        let Ok(Change::Upsert(_, row)) = change(&kafka, &at) else {
            panic!("an upsert");
        };
        assert_eq!(
            row.key_cells,
            [Cell::Text("users".into()), Cell::Int(2), Cell::Int(40)]
        );
        assert_eq!(row.columns.len(), 3);
        let schemaless = ConnectRecord::new("users", None, Value::Null, None, Value::Map(vec![]));
        assert!(change(&kafka, &schemaless).is_err_and(|e| e.contains("schemas.enable=true")));
    }
}
