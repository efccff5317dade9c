//! The Kafka SMT steps Debezium delegates to, on structs: `ExtractField$Value` (take
//! `after` / `before`), `InsertField$Value` with a static field (`__deleted`),
//! `ReplaceField` with `exclude` (dropped fields), plus the added-fields schema and a small
//! bounded schema cache.

use std::sync::{Arc, Mutex};

use weir_connect_api::{DataError, Schema, SchemaBuilder, SchemaRef, Struct, Value};

use super::fields::FieldRef;

/// The Java class name Kafka's `Requirements` messages print for a value.
fn java_class(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Map(_) => "java.util.HashMap",
        Value::Array(_) => "java.util.ArrayList",
        Value::String(_) => "java.lang.String",
        Value::Struct(_) => "org.apache.kafka.connect.data.Struct",
        _ => "a primitive value",
    }
}

/// Kafka's `requireStruct`.
pub(crate) fn require_struct<'a>(value: &'a Value, purpose: &str) -> Result<&'a Struct, DataError> {
    match value {
        Value::Struct(s) => Ok(s),
        other => Err(not_a_struct(other, purpose)),
    }
}

/// Kafka's `requireStruct` message for a value that is not a struct.
pub(crate) fn not_a_struct(value: &Value, purpose: &str) -> DataError {
    DataError::new(format!(
        "Only Struct objects supported for [{purpose}], found: {}",
        java_class(value)
    ))
}

/// `ExtractField$Value` with `field=<name>` on an envelope: the field's schema and its value
/// (a null value becomes the field's default, as Kafka's `Struct.get`).
pub(crate) fn extract(envelope: &Struct, name: &str) -> Result<(SchemaRef, Value), DataError> {
    let field = envelope
        .schema()
        .field(name)
        .ok_or_else(|| DataError::new(format!("Unknown field: {name}")))?;
    let value = envelope
        .get_or_default(name)
        .cloned()
        .unwrap_or(Value::Null);
    Ok((field.schema.clone(), value))
}

/// A required struct builder with the name, version, doc and parameters of `schema`
/// (Kafka's `SchemaUtil.copySchemaBasics(schema, SchemaBuilder.struct())`).
pub(crate) fn struct_like(schema: &Schema) -> SchemaBuilder {
    SchemaBuilder::structure().with_basics_of(schema)
}

/// Adds a field, refusing a duplicate name as Kafka's `SchemaBuilder.field` does.
fn add_field(
    b: SchemaBuilder,
    seen: &mut Vec<String>,
    name: &str,
    schema: SchemaRef,
) -> Result<SchemaBuilder, DataError> {
    if seen.iter().any(|s| s == name) {
        return Err(DataError::new(format!(
            "Cannot create field because of field name duplication {name}"
        )));
    }
    seen.push(name.to_string());
    Ok(b.field(name, schema))
}

fn field_value(s: &Struct, name: &str, replace_null_with_default: bool) -> Value {
    let v = if replace_null_with_default {
        s.get_or_default(name)
    } else {
        s.get(name)
    };
    v.cloned().unwrap_or(Value::Null)
}

/// A struct of `schema` filled with `(field, value)` pairs, each checked against its field.
fn fill(
    schema: SchemaRef,
    values: impl IntoIterator<Item = (String, Value)>,
) -> Result<Struct, DataError> {
    let mut out = Struct::new(schema);
    for (name, v) in values {
        out.put(&name, v)?;
    }
    Ok(out)
}

/// The schema `InsertField$Value` makes for `static.field=<name>`: the input's fields plus
/// an optional string.
pub(crate) fn with_static_field_schema(
    schema: &Schema,
    name: &str,
) -> Result<SchemaRef, DataError> {
    let mut seen = Vec::new();
    let mut b = struct_like(schema);
    for f in &schema.fields {
        b = add_field(b, &mut seen, &f.name, f.schema.clone())?;
    }
    b = add_field(
        b,
        &mut seen,
        name,
        SchemaBuilder::string().optional().build(),
    )?;
    Ok(b.build())
}

/// `InsertField$Value` with a static string field, into `schema` (from
/// [`with_static_field_schema`]).
pub(crate) fn with_static_field(
    value: &Struct,
    schema: SchemaRef,
    name: &str,
    static_value: &str,
    replace_null_with_default: bool,
) -> Result<Struct, DataError> {
    let copied = value.iter().map(|(f, _)| {
        (
            f.name.clone(),
            field_value(value, &f.name, replace_null_with_default),
        )
    });
    let added = std::iter::once((name.to_string(), Value::String(static_value.to_string())));
    fill(schema, copied.chain(added))
}

/// The schema of the unwrapped value with `add.fields`: a required copy of the value's
/// schema plus one optional field per entry found in the envelope.
pub(crate) fn added_fields_schema(
    value: &Schema,
    envelope: &Schema,
    refs: &[FieldRef],
) -> Result<SchemaRef, DataError> {
    let mut seen = Vec::new();
    let mut b = struct_like(value);
    for f in &value.fields {
        b = add_field(b, &mut seen, &f.name, f.schema.clone())?;
    }
    for r in refs {
        if let Some(schema) = r.schema(envelope)? {
            b = add_field(b, &mut seen, r.new_field(), schema)?;
        }
    }
    Ok(b.build())
}

/// The unwrapped value with `add.fields` values, into `schema` (from
/// [`added_fields_schema`]). Values are copied raw, nulls stay null.
pub(crate) fn with_added_fields(
    value: &Struct,
    schema: SchemaRef,
    envelope: &Struct,
    refs: &[FieldRef],
) -> Result<Struct, DataError> {
    let mut out = Struct::new(schema);
    for (f, v) in value.iter() {
        out.put(&f.name, v.clone())?;
    }
    for r in refs {
        if out.schema().field(r.new_field()).is_some() && r.schema(envelope.schema())?.is_some() {
            out.put(r.new_field(), r.value(envelope))?;
        }
    }
    Ok(out)
}

/// `ReplaceField` with `exclude=<names>`: the struct without those fields (remaining
/// nulls become their defaults, as `ReplaceField` reads with `Struct.get`).
pub(crate) fn without_fields(value: &Struct, names: &[String]) -> Result<Struct, DataError> {
    let schema = value.schema();
    let mut b = struct_like(schema);
    for f in schema.fields.iter().filter(|f| !names.contains(&f.name)) {
        b = b.field(f.name.clone(), f.schema.clone());
    }
    let out_schema = b.build();
    let kept = out_schema
        .fields
        .iter()
        .map(|f| (f.name.clone(), field_value(value, &f.name, true)))
        .collect::<Vec<_>>();
    fill(out_schema, kept)
}

/// Output schemas by input, bounded like Debezium's `BoundedConcurrentHashMap(64)`. Every
/// record of a table shares one input `Arc`, so the pointer check almost always hits.
#[derive(Debug)]
pub(crate) struct SchemaCache<K>(Mutex<Vec<(K, SchemaRef)>>);

impl<K> Default for SchemaCache<K> {
    fn default() -> Self {
        Self(Mutex::new(Vec::new()))
    }
}

impl<K: CacheKey> SchemaCache<K> {
    const CAPACITY: usize = 64;

    pub fn get_or_build(
        &self,
        key: K,
        build: impl FnOnce() -> Result<SchemaRef, DataError>,
    ) -> Result<SchemaRef, DataError> {
        let mut entries = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, out)) = entries.iter().find(|(k, _)| k.same(&key)) {
            return Ok(out.clone());
        }
        let out = build()?;
        if entries.len() >= Self::CAPACITY {
            entries.remove(0);
        }
        entries.push((key, out.clone()));
        Ok(out)
    }
}

/// Cache key equality: pointer first, then structure.
pub(crate) trait CacheKey {
    fn same(&self, other: &Self) -> bool;
}

fn same_schema(a: &SchemaRef, b: &SchemaRef) -> bool {
    Arc::ptr_eq(a, b) || **a == **b
}

impl CacheKey for SchemaRef {
    fn same(&self, other: &Self) -> bool {
        same_schema(self, other)
    }
}

/// `add.fields` output schemas depend on the value schema, the envelope schema (where the
/// added fields' types come from) and, as in Debezium, the operation.
impl CacheKey for (SchemaRef, SchemaRef, String) {
    fn same(&self, other: &Self) -> bool {
        self.2 == other.2 && same_schema(&self.0, &other.0) && same_schema(&self.1, &other.1)
    }
}
