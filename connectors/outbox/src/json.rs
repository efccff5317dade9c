//! `table.expand.json.payload`: a JSON text becomes a Connect value with an inferred schema,
//! as Debezium's `JsonSchemaData` infers it: objects become optional structs named by their
//! path from the payload column (`payload`, `payload.customer`), fields in document order;
//! strings, booleans, int32 / int64 / float64 numbers; arrays of one element type (objects
//! merged field by field); nulls and empty arrays left out unless configured otherwise.
//!
//! Where Debezium gives up (a top-level scalar or array, an array of mixed number types,
//! an int where an earlier element had a float), weir widens or accepts: the payload is valid
//! JSON, so it arrives as JSON.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use weir_connect_api::{DataError, SchemaBuilder, SchemaRef, SchemaType, Struct, Value};

use crate::config::{EmptyArrayBehavior, NullBehavior};

/// A parsed JSON document that keeps object keys in document order (jsonb's own order, as
/// Postgres prints it), which `serde_json::Value` would sort.
#[derive(Debug, Clone, PartialEq)]
enum Json {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

struct JsonVisitor;

impl<'de> Visitor<'de> for JsonVisitor {
    type Value = Json;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Json, E> {
        Ok(Json::Null)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Json, E> {
        Ok(Json::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Json, E> {
        Ok(Json::Int(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Json, E> {
        i64::try_from(v)
            .map(Json::Int)
            .map_err(|_| E::custom(format!("the number {v} does not fit a 64-bit integer")))
    }
    fn visit_f64<E>(self, v: f64) -> Result<Json, E> {
        Ok(Json::Float(v))
    }
    fn visit_str<E>(self, v: &str) -> Result<Json, E> {
        Ok(Json::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Json, E> {
        Ok(Json::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Json, A::Error> {
        let mut items = Vec::with_capacity(seq.size_hint().unwrap_or(0));
        while let Some(item) = seq.next_element()? {
            items.push(item);
        }
        Ok(Json::Arr(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Json, A::Error> {
        let mut fields: Vec<(String, Json)> = Vec::new();
        while let Some((key, value)) = map.next_entry::<String, Json>()? {
            // A repeated key keeps its first position and its last value, as jsonb does.
            match fields.iter_mut().find(|(k, _)| *k == key) {
                Some(slot) => slot.1 = value,
                None => fields.push((key, value)),
            }
        }
        Ok(Json::Obj(fields))
    }
}

impl<'de> Deserialize<'de> for Json {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Json, D::Error> {
        d.deserialize_any(JsonVisitor)
    }
}

/// Turns JSON text into a Connect schema and value.
#[derive(Debug, Clone, Copy)]
pub struct Expander {
    pub nulls: NullBehavior,
    pub empty_arrays: EmptyArrayBehavior,
}

impl Expander {
    /// Parses `text` and infers its schema; `root` names the top-level struct (Debezium
    /// uses the payload column's name). The error says what is wrong with the text.
    pub fn expand(&self, root: &str, text: &str) -> Result<(Option<SchemaRef>, Value), DataError> {
        let json: Json = serde_json::from_str(text)
            .map_err(|e| DataError::new(format!("the payload is not JSON: {e}")))?;
        let schema = match self.schema_of(Some(root), &json)? {
            Some(schema) => schema,
            // A top-level empty array stays an empty array whatever the behaviour for
            // fields says.
            None if matches!(json, Json::Arr(_)) => {
                SchemaBuilder::array(SchemaBuilder::string().optional().build())
                    .optional()
                    .build()
            }
            // A top-level null: nothing to type.
            None => return Ok((None, Value::Null)),
        };
        let value = value_of(&json, &schema)?;
        Ok((Some(schema), value))
    }

    fn schema_of(&self, key: Option<&str>, node: &Json) -> Result<Option<SchemaRef>, DataError> {
        Ok(Some(match node {
            Json::Null => match self.nulls {
                NullBehavior::OptionalBytes => SchemaBuilder::bytes().optional().build(),
                NullBehavior::Ignore => return Ok(None),
            },
            Json::Bool(_) => SchemaBuilder::boolean().optional().build(),
            Json::Int(i) => int_schema(*i),
            Json::Float(_) => SchemaBuilder::float64().optional().build(),
            Json::Str(_) => SchemaBuilder::string().optional().build(),
            Json::Arr(items) if items.is_empty() => match self.empty_arrays {
                EmptyArrayBehavior::OptionalString => {
                    SchemaBuilder::array(SchemaBuilder::string().optional().build())
                        .optional()
                        .build()
                }
                EmptyArrayBehavior::Ignore => return Ok(None),
            },
            Json::Arr(items) => {
                let element = self.element_schema(key, items)?;
                SchemaBuilder::array(element).optional().build()
            }
            Json::Obj(fields) => {
                let mut builder = SchemaBuilder::structure().optional();
                if let Some(k) = key {
                    builder = builder.name(k);
                }
                let mut seen: Vec<&str> = Vec::with_capacity(fields.len());
                for (name, child) in fields {
                    if seen.contains(&name.as_str()) {
                        continue;
                    }
                    let path = match key {
                        Some(k) if !k.trim().is_empty() => format!("{k}.{name}"),
                        _ => name.clone(),
                    };
                    if let Some(s) = self.schema_of(Some(&path), child)? {
                        builder = builder.field(name.clone(), s);
                        seen.push(name);
                    }
                }
                builder.build()
            }
        }))
    }

    /// The element schema of a non-empty array: objects merged field by field, numbers
    /// widened to the widest kind present, any other mix an error.
    fn element_schema(&self, key: Option<&str>, items: &[Json]) -> Result<SchemaRef, DataError> {
        let present: Vec<&Json> = items.iter().filter(|i| **i != Json::Null).collect();
        let Some(first) = present.first() else {
            return self
                .schema_of(None, &Json::Null)?
                .ok_or_else(|| DataError::new("an array of nulls has no element type"));
        };
        let kind = |j: &Json| std::mem::discriminant(&number_as_float(j));
        if let Some(odd) = present.iter().find(|j| kind(j) != kind(first)) {
            return Err(DataError::new(format!(
                "an array mixes element types ({} and {})",
                type_name(first),
                type_name(odd)
            )));
        }
        match first {
            Json::Obj(_) => {
                let mut merged: Option<SchemaRef> = None;
                for item in &present {
                    if let Some(s) = self.schema_of(key, item)? {
                        merged = Some(match merged {
                            None => s,
                            Some(m) => merge(&m, &s),
                        });
                    }
                }
                merged.ok_or_else(|| DataError::new("an array of objects has no element type"))
            }
            Json::Int(_) | Json::Float(_) => {
                let float = present.iter().any(|j| matches!(j, Json::Float(_)));
                let wide = present
                    .iter()
                    .any(|j| matches!(j, Json::Int(i) if i32::try_from(*i).is_err()));
                Ok(match (float, wide) {
                    (true, _) => SchemaBuilder::float64().optional().build(),
                    (false, true) => SchemaBuilder::int64().optional().build(),
                    (false, false) => SchemaBuilder::int32().optional().build(),
                })
            }
            other => self
                .schema_of(None, other)?
                .ok_or_else(|| DataError::new("an array has elements of no known type")),
        }
    }
}

fn int_schema(i: i64) -> SchemaRef {
    if i32::try_from(i).is_ok() {
        SchemaBuilder::int32().optional().build()
    } else {
        SchemaBuilder::int64().optional().build()
    }
}

/// Ints and floats count as one kind when checking that an array is homogeneous.
fn number_as_float(j: &Json) -> Json {
    match j {
        Json::Int(_) | Json::Float(_) => Json::Float(0.0),
        Json::Arr(_) => Json::Arr(Vec::new()),
        Json::Obj(_) => Json::Obj(Vec::new()),
        Json::Str(_) => Json::Str(String::new()),
        other => other.clone(),
    }
}

fn type_name(j: &Json) -> &'static str {
    match j {
        Json::Null => "null",
        Json::Bool(_) => "boolean",
        Json::Int(_) | Json::Float(_) => "number",
        Json::Str(_) => "string",
        Json::Arr(_) => "array",
        Json::Obj(_) => "object",
    }
}

/// The union of two struct schemas: `left`'s fields first, then `right`'s new ones; a
/// field typed bytes (a null seen first) takes the other side's real type.
fn merge(left: &SchemaRef, right: &SchemaRef) -> SchemaRef {
    let mut fields: Vec<(String, SchemaRef)> = left
        .fields
        .iter()
        .map(|f| (f.name.clone(), f.schema.clone()))
        .collect();
    for f in &right.fields {
        match fields.iter_mut().find(|(n, _)| *n == f.name) {
            None => fields.push((f.name.clone(), f.schema.clone())),
            Some((_, s)) if s.kind == SchemaType::Bytes && f.schema.kind != SchemaType::Bytes => {
                *s = f.schema.clone();
            }
            Some(_) => {}
        }
    }
    let mut builder = SchemaBuilder::structure().optional();
    if let Some(name) = &left.name {
        builder = builder.name(name.clone());
    }
    for (name, schema) in fields {
        builder = builder.field(name, schema);
    }
    builder.build()
}

/// The value of `node` shaped by `schema` (which [`Expander::schema_of`] inferred from it or
/// from sibling array elements). Numbers widen to the schema's type.
fn value_of(node: &Json, schema: &SchemaRef) -> Result<Value, DataError> {
    Ok(match (node, schema.kind) {
        (Json::Null, _) => Value::Null,
        (Json::Bool(b), _) => Value::Boolean(*b),
        (Json::Str(s), _) => Value::String(s.clone()),
        (Json::Int(i), SchemaType::Int32) => match i32::try_from(*i) {
            Ok(v) => Value::Int32(v),
            Err(_) => Value::Int64(*i),
        },
        (Json::Int(i), SchemaType::Float64) => Value::Float64(*i as f64),
        (Json::Int(i), _) => Value::Int64(*i),
        (Json::Float(f), _) => Value::Float64(*f),
        (Json::Arr(items), _) => {
            let element = schema.value_schema.clone();
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(match &element {
                    Some(e) => value_of(item, e)?,
                    None => Value::Null,
                });
            }
            Value::Array(out)
        }
        (Json::Obj(fields), SchemaType::Struct) => {
            let mut s = Struct::new(schema.clone());
            for (name, child) in fields {
                if let Some(f) = schema.field(name) {
                    let v = value_of(child, &f.schema)?;
                    s.put(name, v)?;
                }
            }
            Value::Struct(s)
        }
        (Json::Obj(_), other) => {
            return Err(DataError::new(format!(
                "an object where the payload's schema has {other}"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expander() -> Expander {
        Expander {
            nulls: NullBehavior::Ignore,
            empty_arrays: EmptyArrayBehavior::Ignore,
        }
    }

    fn names(schema: &SchemaRef) -> Vec<&str> {
        schema.fields.iter().map(|f| f.name.as_str()).collect()
    }

    #[test]
    fn objects_become_named_structs_in_document_order() {
        let text = r#"{"id": 1, "customer": {"name": "Ann", "vip": true}, "total": 9.5,
            "big": 9000000000, "note": null, "tags": [], "lines": [{"sku": "a"}, {"qty": 2}]}"#;
        let (schema, value) = expander().expand("payload", text).expect("expands");
        let schema = schema.expect("schema");
        assert_eq!(schema.name.as_deref(), Some("payload"));
        assert_eq!(names(&schema), ["id", "customer", "total", "big", "lines"]);
        let customer = &schema.field("customer").expect("customer").schema;
        assert_eq!(customer.name.as_deref(), Some("payload.customer"));
        assert_eq!(
            schema.field("id").expect("id").schema.kind,
            SchemaType::Int32
        );
        assert_eq!(
            schema.field("big").expect("big").schema.kind,
            SchemaType::Int64
        );
        let lines = &schema.field("lines").expect("lines").schema;
        let element = lines.value_schema.as_ref().expect("element");
        assert_eq!(element.name.as_deref(), Some("payload.lines"));
        assert_eq!(names(element), ["sku", "qty"]);
        let s = value.as_struct().expect("struct");
        assert_eq!(s.get("id"), Some(&Value::Int32(1)));
        assert_eq!(s.get("big"), Some(&Value::Int64(9_000_000_000)));
        assert_eq!(s.get("total"), Some(&Value::Float64(9.5)));
        let Some(Value::Array(lines)) = s.get("lines") else {
            panic!("lines: {s:?}")
        };
        let second = lines[1].as_struct().expect("line");
        assert_eq!(second.get("sku"), Some(&Value::Null));
        assert_eq!(second.get("qty"), Some(&Value::Int32(2)));
    }

    #[test]
    fn nulls_and_empty_arrays_kept_when_configured() {
        let e = Expander {
            nulls: NullBehavior::OptionalBytes,
            empty_arrays: EmptyArrayBehavior::OptionalString,
        };
        let (schema, value) = e.expand("payload", r#"{"a": null, "b": []}"#).expect("ok");
        let schema = schema.expect("schema");
        assert_eq!(schema.field("a").expect("a").schema.kind, SchemaType::Bytes);
        let b = &schema.field("b").expect("b").schema;
        assert_eq!(b.kind, SchemaType::Array);
        let s = value.as_struct().expect("struct");
        assert_eq!(s.get("b"), Some(&Value::Array(vec![])));
    }

    #[test]
    fn numbers_widen_and_top_level_scalars_and_arrays_expand() {
        let (schema, value) = expander().expand("payload", "[1, 2.5, 3]").expect("ok");
        let schema = schema.expect("schema");
        assert_eq!(
            schema.value_schema.as_ref().map(|s| s.kind),
            Some(SchemaType::Float64)
        );
        assert_eq!(
            value,
            Value::Array(vec![
                Value::Float64(1.0),
                Value::Float64(2.5),
                Value::Float64(3.0)
            ])
        );
        let (_, v) = expander().expand("payload", "\"hello\"").expect("string");
        assert_eq!(v, Value::String("hello".into()));
        let (s, v) = expander().expand("payload", "null").expect("null");
        assert!(s.is_none() && v.is_null());
        let (s, v) = expander().expand("payload", "[]").expect("empty array");
        assert_eq!(s.map(|s| s.kind), Some(SchemaType::Array));
        assert_eq!(v, Value::Array(vec![]));
    }

    #[test]
    fn malformed_text_and_mixed_arrays_are_errors() {
        let e = expander()
            .expand("payload", "not json")
            .expect_err("not json");
        assert!(e.message.starts_with("the payload is not JSON"), "{e}");
        let e = expander()
            .expand("payload", r#"{"a": [1, "x"]}"#)
            .expect_err("mixed");
        assert_eq!(
            e.message,
            "an array mixes element types (number and string)"
        );
        let e = expander()
            .expand("payload", "18446744073709551615")
            .expect_err("too big");
        assert!(e.message.contains("does not fit"), "{e}");
    }
}
