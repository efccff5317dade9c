//! `add.fields` / `add.headers` entries: which envelope field each names, what it is called
//! in the output, and its schema and value (Debezium's `FieldReference`).

use std::sync::Arc;

use weir_connect_api::{DataError, Headers, Schema, SchemaBuilder, SchemaRef, Struct, Value};

/// Fields of the transaction block (`provide.transaction.metadata=true`).
const TRANSACTION_FIELDS: [&str; 3] = ["id", "total_order", "data_collection_order"];
/// Top-level envelope fields; any other unqualified name is looked up in `source`.
const ENVELOPE_FIELDS: [&str; 4] = ["op", "ts_ms", "ts_us", "ts_ns"];

/// One `add.fields` / `add.headers` entry: `field`, `struct.field`, optionally `:alias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldRef {
    /// The envelope struct holding the field (`source`, `transaction`), `None` for top level.
    parent: Option<String>,
    field: String,
    /// The output name: prefix + (alias | field | struct_field).
    new_field: String,
}

/// Java's `String.split`: trailing empty strings are removed.
fn java_split(s: &str, sep: char) -> Vec<&str> {
    let mut parts: Vec<&str> = s.split(sep).collect();
    while parts.len() > 1 && parts.last().is_some_and(|p| p.is_empty()) {
        parts.pop();
    }
    parts
}

impl FieldRef {
    /// Parses one trimmed, non-empty list item.
    pub fn parse(prefix: &str, item: &str) -> Result<Self, String> {
        let parts = java_split(item, ':');
        if parts.len() > 2 {
            return Err(format!(
                "Unexpected field name: {item} (use <field> or <field>:<new name>)"
            ));
        }
        let path = java_split(parts[0], '.');
        let (parent, field) = match path.as_slice() {
            [field] => (default_parent(field), (*field).to_string()),
            [parent, field, ..] => (Some((*parent).to_string()), (*field).to_string()),
            [] => return Err(format!("Unexpected field name: {item}")),
        };
        let new_field = match parts.get(1) {
            Some(alias) => format!("{prefix}{alias}"),
            None if path.len() == 1 => format!("{prefix}{field}"),
            None => format!("{prefix}{}_{field}", parent.as_deref().unwrap_or_default()),
        };
        Ok(Self {
            parent,
            field,
            new_field,
        })
    }

    /// The simple field name (`ts_ms` for `source.ts_ms`).
    pub fn field(&self) -> &str {
        &self.field
    }

    /// The output field or header name.
    pub fn new_field(&self) -> &str {
        &self.new_field
    }

    /// The schema of the added field: the envelope field's type, name, version, doc and
    /// parameters, always optional. `None` when the field is neither in its struct nor at
    /// the top level of the envelope (Debezium then skips it silently).
    pub fn schema(&self, envelope: &Schema) -> Result<Option<SchemaRef>, DataError> {
        let parent = match &self.parent {
            None => envelope,
            Some(name) => {
                let f = envelope.field(name).ok_or_else(|| {
                    DataError::new(format!(
                        "cannot add {}.{}: the change event has no field \"{name}\"",
                        name, self.field
                    ))
                })?;
                &*f.schema
            }
        };
        let found = parent
            .fields
            .iter()
            .chain(envelope.fields.iter())
            .find(|f| f.name == self.field);
        Ok(found.map(|f| optional_copy(&f.schema)))
    }

    /// The field's raw value (no default substitution); null when its struct is null.
    pub fn value(&self, envelope: &Struct) -> Value {
        let value = match &self.parent {
            None => envelope.get(&self.field),
            Some(name) => match envelope.get(name) {
                Some(Value::Struct(parent)) if parent.schema().field(&self.field).is_some() => {
                    parent.get(&self.field)
                }
                Some(Value::Struct(_)) => envelope.get(&self.field),
                _ => None,
            },
        };
        value.cloned().unwrap_or(Value::Null)
    }
}

/// The struct an unqualified name lives in (Debezium's `determineStruct`).
fn default_parent(field: &str) -> Option<String> {
    if TRANSACTION_FIELDS.contains(&field) {
        Some("transaction".into())
    } else if ENVELOPE_FIELDS.contains(&field) {
        None
    } else {
        Some("source".into())
    }
}

/// Kafka's `SchemaUtil.copySchemaBasics(schema).optional()`: type, name, version, doc and
/// parameters, never the default. Kafka also loses the fields of a struct (so adding a whole
/// struct fails there); they are kept here, which changes nothing for valid configs.
pub(crate) fn optional_copy(schema: &Schema) -> SchemaRef {
    let mut copy = schema.clone();
    copy.optional = true;
    copy.default = None;
    Arc::new(copy)
}

/// Headers for `add.headers`. For a tombstone (`envelope` is `None`) only `op` entries make
/// a header, with the value `"d"`, as Debezium does so consumers can tell deletes apart.
pub(crate) fn make_headers(
    refs: &[FieldRef],
    envelope: Option<&Struct>,
) -> Result<Headers, DataError> {
    let mut headers = Headers::default();
    for r in refs {
        match envelope {
            None => {
                if r.field() == "op" {
                    let schema = SchemaBuilder::string().build();
                    headers.add(r.new_field(), Some(schema), Value::String("d".into()));
                }
            }
            Some(env) => {
                if let Some(schema) = r.schema(env.schema())? {
                    headers.add(r.new_field(), Some(schema), r.value(env));
                }
            }
        }
    }
    Ok(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(item: &str) -> (Option<String>, String, String) {
        let r = FieldRef::parse("__", item).expect("valid item");
        (r.parent, r.field, r.new_field)
    }

    #[test]
    fn names_follow_debezium() {
        let src = Some("source".to_string());
        assert_eq!(parsed("op"), (None, "op".into(), "__op".into()));
        assert_eq!(parsed("ts_ms"), (None, "ts_ms".into(), "__ts_ms".into()));
        assert_eq!(parsed("lsn"), (src.clone(), "lsn".into(), "__lsn".into()));
        assert_eq!(
            parsed("source.ts_ms"),
            (src.clone(), "ts_ms".into(), "__source_ts_ms".into())
        );
        assert_eq!(
            parsed("source.ts_ms:EVENT_TS"),
            (src, "ts_ms".into(), "__EVENT_TS".into())
        );
        assert_eq!(
            parsed("id"),
            (Some("transaction".into()), "id".into(), "__id".into())
        );
        assert_eq!(parsed("op:").2, "__op", "a trailing colon is ignored");
        let err = FieldRef::parse("__", "a:b:c").expect_err("two colons");
        assert!(err.starts_with("Unexpected field name: a:b:c"), "{err}");
    }
}
