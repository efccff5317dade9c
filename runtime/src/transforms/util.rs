//! What the SMTs share: which half of a record they work on (`$Key` / `$Value`), Kafka's
//! `Requirements` checks with their messages, schemaless map access, schema copying and a
//! small schema cache.

use std::sync::{Arc, Mutex};

use weir_connect_api::config::{ConfigDef, ConfigError, ParsedConfig};
use weir_connect_api::{
    ConfigMap, ConnectRecord, ConnectorError, DataError, Schema, SchemaBuilder, SchemaRef, Struct,
    Value,
};

/// The half of a record a `$Key` / `$Value` transform operates on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Key,
    Value,
}

impl Target {
    pub fn schema(self, record: &ConnectRecord) -> Option<&SchemaRef> {
        match self {
            Target::Key => record.key_schema.as_ref(),
            Target::Value => record.value_schema.as_ref(),
        }
    }

    pub fn value(self, record: &ConnectRecord) -> &Value {
        match self {
            Target::Key => &record.key,
            Target::Value => &record.value,
        }
    }

    /// Moves the schema and value out of the record, leaving null behind.
    pub fn take(self, record: &mut ConnectRecord) -> (Option<SchemaRef>, Value) {
        match self {
            Target::Key => (
                record.key_schema.take(),
                std::mem::replace(&mut record.key, Value::Null),
            ),
            Target::Value => (
                record.value_schema.take(),
                std::mem::replace(&mut record.value, Value::Null),
            ),
        }
    }

    pub fn put(self, record: &mut ConnectRecord, schema: Option<SchemaRef>, value: Value) {
        match self {
            Target::Key => {
                record.key_schema = schema;
                record.key = value;
            }
            Target::Value => {
                record.value_schema = schema;
                record.value = value;
            }
        }
    }
}

/// The Java class Kafka Connect would hold for this value, for error messages that match
/// Kafka's (`found: java.lang.String`).
pub fn java_class(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Int8(_) => "java.lang.Byte",
        Value::Int16(_) => "java.lang.Short",
        Value::Int32(_) => "java.lang.Integer",
        Value::Int64(_) => "java.lang.Long",
        Value::Float32(_) => "java.lang.Float",
        Value::Float64(_) => "java.lang.Double",
        Value::Boolean(_) => "java.lang.Boolean",
        Value::String(_) => "java.lang.String",
        Value::Bytes(_) => "[B",
        Value::Array(_) => "java.util.ArrayList",
        Value::Map(_) => "java.util.HashMap",
        Value::Struct(_) => "org.apache.kafka.connect.data.Struct",
    }
}

pub fn require_struct<'a>(value: &'a Value, purpose: &str) -> Result<&'a Struct, DataError> {
    match value {
        Value::Struct(s) => Ok(s),
        other => Err(DataError::new(format!(
            "Only Struct objects supported for [{purpose}], found: {}",
            java_class(other)
        ))),
    }
}

/// A schemaless map; Kafka's SMTs treat its keys as strings.
pub type Entries = Vec<(Value, Value)>;

pub fn require_map<'a>(value: &'a Value, purpose: &str) -> Result<&'a Entries, DataError> {
    match value {
        Value::Map(m) => Ok(m),
        other => Err(DataError::new(format!(
            "Only Map objects supported in absence of schema for [{purpose}], found: {}",
            java_class(other)
        ))),
    }
}

pub fn require_schema(schema: Option<&SchemaRef>, purpose: &str) -> Result<SchemaRef, DataError> {
    schema
        .cloned()
        .ok_or_else(|| DataError::new(format!("Schema required for [{purpose}]")))
}

fn key_is(k: &Value, name: &str) -> bool {
    matches!(k, Value::String(s) if s == name)
}

pub fn map_get<'a>(entries: &'a Entries, name: &str) -> Option<&'a Value> {
    entries
        .iter()
        .find(|(k, _)| key_is(k, name))
        .map(|(_, v)| v)
}

/// Sets `name` as `HashMap.put` does: replaces the value in place or appends.
pub fn map_put(entries: &mut Entries, name: &str, value: Value) {
    match entries.iter_mut().find(|(k, _)| key_is(k, name)) {
        Some((_, v)) => *v = value,
        None => entries.push((Value::String(name.to_string()), value)),
    }
}

pub fn map_remove(entries: &mut Entries, name: &str) -> Option<Value> {
    let i = entries.iter().position(|(k, _)| key_is(k, name))?;
    Some(entries.remove(i).1)
}

/// A struct builder with the name, version, doc and parameters of `schema`
/// (Kafka's `SchemaUtil.copySchemaBasics`).
pub fn struct_like(schema: &Schema) -> SchemaBuilder {
    SchemaBuilder::structure().with_basics_of(schema)
}

/// A field's value; with `replace_null` a null becomes the field's default, as Kafka's
/// `Struct.get` (vs `getWithoutDefault`) does.
pub fn field_value(s: &Struct, name: &str, replace_null: bool) -> Value {
    let v = if replace_null {
        s.get_or_default(name)
    } else {
        s.get(name)
    };
    v.cloned().unwrap_or(Value::Null)
}

/// A struct of `schema` filled from `(field, value)` pairs, each checked against its field.
pub fn build_struct(
    schema: SchemaRef,
    values: impl IntoIterator<Item = (String, Value)>,
) -> Result<Struct, DataError> {
    let mut s = Struct::new(schema);
    for (name, v) in values {
        s.put(&name, v)?;
    }
    Ok(s)
}

/// Output schemas per input schema, as Kafka's `LRUCache<Schema, Schema>(16)`: every record
/// of a table shares one input `Arc`, so the pointer check almost always hits.
#[derive(Debug, Default)]
pub struct SchemaCache(Mutex<Vec<(SchemaRef, SchemaRef)>>);

impl SchemaCache {
    const CAPACITY: usize = 16;

    pub fn get_or_build(
        &self,
        input: &SchemaRef,
        build: impl FnOnce(&Schema) -> Result<SchemaRef, DataError>,
    ) -> Result<SchemaRef, DataError> {
        let mut entries = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, out)) = entries
            .iter()
            .find(|(i, _)| Arc::ptr_eq(i, input) || **i == **input)
        {
            return Ok(out.clone());
        }
        let out = build(input)?;
        if entries.len() >= Self::CAPACITY {
            entries.remove(0);
        }
        entries.push((input.clone(), out.clone()));
        Ok(out)
    }
}

/// Parses a transform's config against its definition, every error at once.
/// `replace.null.with.default`, shared by every SMT that reads fields (KIP-1040).
pub fn replace_null_with_default_def() -> ConfigDef {
    ConfigDef::new().define(
        "replace.null.with.default",
        weir_connect_api::ConfigType::Boolean,
        Some("true"),
        weir_connect_api::Importance::Medium,
        "Whether to replace fields that have a default value and that are null to the default value. When set to true, the default value is used, otherwise null is used.",
    )
}

/// Kafka's "Empty list" error for a required list key that was given no items.
pub fn non_empty_list(
    config: &ConfigMap,
    key: &str,
    list: &[String],
) -> Result<(), ConnectorError> {
    if list.is_empty() {
        let raw = config.get(key).map_or("", |v| v.as_str());
        return Err(invalid(key, raw, "Empty list"));
    }
    Ok(())
}

pub fn parse(def: &ConfigDef, config: &ConfigMap) -> Result<ParsedConfig, ConnectorError> {
    def.parse(config).map_err(ConnectorError::Config)
}

/// Kafka's `ConfigException(name, value, message)`.
pub fn invalid(key: &str, value: &str, why: &str) -> ConnectorError {
    ConnectorError::Config(vec![ConfigError::new(
        key,
        format!("Invalid value {value} for configuration {key}: {why}"),
    )])
}

/// A Java `List.toString()` of config values, as Kafka prints them in errors.
pub fn java_list(items: &[String]) -> String {
    format!("[{}]", items.join(", "))
}

/// Test helpers shared by the SMTs' unit tests.
#[cfg(test)]
pub mod testing {
    use weir_connect_api::{ConfigMap, ConnectRecord, Transform, Value};

    pub fn config(pairs: &[(&str, &str)]) -> ConfigMap {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    pub fn configured<T: Transform>(mut t: T, pairs: &[(&str, &str)]) -> T {
        t.configure(&config(pairs)).expect("valid transform config");
        t
    }

    pub fn config_errors<T: Transform>(mut t: T, pairs: &[(&str, &str)]) -> Vec<String> {
        match t.configure(&config(pairs)) {
            Err(weir_connect_api::ConnectorError::Config(errs)) => {
                errs.into_iter().map(|e| e.message).collect()
            }
            other => panic!("expected config errors, got {other:?}"),
        }
    }

    pub fn apply<T: Transform>(t: &T, r: ConnectRecord) -> ConnectRecord {
        t.apply(r)
            .expect("transform succeeds")
            .expect("record kept")
    }

    pub fn s(v: &str) -> Value {
        Value::String(v.to_string())
    }

    /// A schemaless map record value from string keys.
    pub fn map(pairs: &[(&str, Value)]) -> Value {
        Value::Map(pairs.iter().map(|(k, v)| (s(k), v.clone())).collect())
    }

    pub fn schemaless(value: Value) -> ConnectRecord {
        ConnectRecord::new("test", None, Value::Null, None, value)
    }
}
