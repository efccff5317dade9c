//! Payloads: Connect values to JSON and back, given their schema (Kafka's
//! `JsonConverter.convertToJson` / `convertToConnect`).
//!
//! Where Kafka is lenient on read (`intValue()` of a string is 0, `booleanValue()` of a
//! number is false, out-of-range ints wrap), weir rejects the payload with a message naming
//! the field and what was found: the record goes to error handling instead of silently
//! becoming wrong data.

use std::fmt::Write as _;

use bytes::Bytes;
use weir_connect_api::schema::logical;
use weir_connect_api::{DataError, Schema, SchemaRef, SchemaType, Struct, Value};

use super::node::Node;
use super::{base64, decimal, number};

/// The config settings payload conversion depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settings {
    /// `decimal.format=NUMERIC`: decimals as JSON numbers rather than base64 bytes.
    pub numeric_decimals: bool,
    /// `replace.null.with.default`: a null with a schema default becomes the default.
    pub replace_null_with_default: bool,
}

/// A conversion error with the path (innermost segment first) where it happened.
#[derive(Debug)]
pub struct PathError {
    message: String,
    path: Vec<String>,
}

pub type Res<T> = Result<T, PathError>;

impl PathError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            path: Vec::new(),
        }
    }
    /// Adds an outer segment: `.name` for a field, `[i]` for an element.
    pub fn at(mut self, segment: String) -> Self {
        self.path.push(segment);
        self
    }
    pub fn into_data(self) -> DataError {
        if self.path.is_empty() {
            return DataError::new(self.message);
        }
        let mut path = String::new();
        for seg in self.path.iter().rev() {
            path.push_str(seg);
        }
        let path = path.strip_prefix('.').unwrap_or(&path);
        DataError::new(format!("{} (at {path})", self.message))
    }
}

fn field_seg(name: &str) -> String {
    format!(".{name}")
}

/// Java's `Schema.Type` constant name (`INT32`, `FLOAT64`, ...), as Kafka's messages print it.
pub fn type_name(kind: SchemaType) -> String {
    kind.name().to_ascii_uppercase()
}

/// The physical type a logical schema must have for weir to treat it as that logical type.
pub(super) fn logical_kind(schema: &Schema) -> Option<(&str, SchemaType)> {
    let name = schema.name.as_deref()?;
    let kind = match name {
        logical::DECIMAL => SchemaType::Bytes,
        logical::DATE | logical::TIME => SchemaType::Int32,
        logical::TIMESTAMP => SchemaType::Int64,
        _ => return None,
    };
    (schema.kind == kind).then_some((name, kind))
}

pub(super) fn decimal_scale(schema: &Schema) -> Res<i32> {
    let raw = schema
        .parameters
        .get(logical::DECIMAL_SCALE)
        .ok_or_else(|| PathError::new("Invalid Decimal schema: scale parameter not found."))?;
    raw.parse().map_err(|_| {
        PathError::new(format!(
            "Invalid Decimal schema: scale parameter {raw:?} is not an integer"
        ))
    })
}

/// Connect value to JSON. `schema` `None` means schemaless: the type comes from the value.
pub fn to_json(schema: Option<&Schema>, value: &Value, s: Settings) -> Res<Node> {
    let Some(kind) = value.kind() else {
        return match schema {
            None => Ok(Node::Null),
            Some(sc) => match &sc.default {
                Some(d) if s.replace_null_with_default => to_json(Some(sc), d, s),
                _ if sc.optional => Ok(Node::Null),
                _ => Err(PathError::new(
                    "Conversion error: null value for field that is required and has no default value",
                )),
            },
        };
    };
    let schema = match (schema, value) {
        (Some(sc), _) => Some(sc),
        // A struct carries its own schema; Kafka would fail with "Mismatching schema.".
        (None, Value::Struct(st)) => Some(&**st.schema()),
        (None, _) => None,
    };
    if let Some(sc) = schema {
        if kind != sc.kind {
            return Err(PathError::new(format!(
                "Invalid type for {}: found a {} value",
                type_name(sc.kind),
                type_name(kind)
            )));
        }
        if let (Some((logical::DECIMAL, _)), Value::Bytes(b)) = (logical_kind(sc), value) {
            let unscaled = decimal::minimal(b).map_err(PathError::new)?;
            return Ok(if s.numeric_decimals {
                let digits = decimal::unscaled_string(&unscaled);
                Node::Number(number::big_decimal_string(&digits, decimal_scale(sc)?))
            } else {
                Node::Str(base64::encode(&unscaled))
            });
        }
    }
    Ok(match value {
        Value::Null => Node::Null,
        Value::Int8(v) => Node::Number(v.to_string()),
        Value::Int16(v) => Node::Number(v.to_string()),
        Value::Int32(v) => Node::Number(v.to_string()),
        Value::Int64(v) => Node::Number(v.to_string()),
        Value::Float32(v) => match number::non_finite(f64::from(*v)) {
            Some(text) => Node::Str(text.to_string()),
            None => Node::Number(number::java_float(*v)),
        },
        Value::Float64(v) => match number::non_finite(*v) {
            Some(text) => Node::Str(text.to_string()),
            None => Node::Number(number::java_double(*v)),
        },
        Value::Boolean(b) => Node::Bool(*b),
        Value::String(v) => Node::Str(v.clone()),
        Value::Bytes(b) => Node::Str(base64::encode(b)),
        Value::Array(items) => {
            let elem = schema.and_then(|sc| sc.value_schema.as_deref());
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(to_json(elem, item, s).map_err(|e| e.at(format!("[{i}]")))?);
            }
            Node::Array(out)
        }
        Value::Map(entries) => map_to_json(schema, entries, s)?,
        Value::Struct(st) => struct_to_json(schema, st, s)?,
    })
}

fn map_to_json(schema: Option<&Schema>, entries: &[(Value, Value)], s: Settings) -> Res<Node> {
    let (ks, vs) = match schema {
        Some(sc) => (sc.key_schema.as_deref(), sc.value_schema.as_deref()),
        None => (None, None),
    };
    // String-keyed maps are JSON objects, all others arrays of [key, value] pairs.
    let object_mode = match ks {
        Some(k) => k.kind == SchemaType::String,
        None => entries.iter().all(|(k, _)| matches!(k, Value::String(_))),
    };
    let mut pairs = Vec::with_capacity(entries.len());
    for (i, (k, v)) in entries.iter().enumerate() {
        let key = to_json(ks, k, s).map_err(|e| e.at(format!("[key {i}]")))?;
        let val = to_json(vs, v, s).map_err(|e| e.at(format!("[{}]", short(k))))?;
        pairs.push((key, val));
    }
    Ok(if object_mode {
        // Jackson's `asText()` of the key node: a null key becomes "null".
        let entries = pairs.into_iter().map(|(k, v)| {
            let key = match k {
                Node::Str(t) | Node::Number(t) => t,
                Node::Bool(b) => b.to_string(),
                other => other.to_json_string(),
            };
            (key, v)
        });
        Node::object(entries.collect())
    } else {
        Node::Array(
            pairs
                .into_iter()
                .map(|(k, v)| Node::Array(vec![k, v]))
                .collect(),
        )
    })
}

fn short(key: &Value) -> String {
    let mut out = String::new();
    match key {
        Value::String(t) => out.push_str(t),
        other => {
            let _ = write!(out, "{other:?}");
        }
    }
    out
}

fn struct_to_json(schema: Option<&Schema>, st: &Struct, s: Settings) -> Res<Node> {
    let sc = schema.unwrap_or(st.schema());
    if !std::ptr::eq(&**st.schema(), sc) && **st.schema() != *sc {
        return Err(PathError::new(format!(
            "Mismatching schema: the struct's schema ({}) is not the one given for it ({})",
            st.schema().name.as_deref().unwrap_or("unnamed"),
            sc.name.as_deref().unwrap_or("unnamed")
        )));
    }
    let mut out = Vec::with_capacity(sc.fields.len());
    // Raw field values (Kafka's `getWithoutDefault`): defaults apply in `to_json`.
    for (field, v) in st.iter() {
        let node = to_json(Some(&field.schema), v, s).map_err(|e| e.at(field_seg(&field.name)))?;
        out.push((field.name.clone(), node));
    }
    Ok(Node::object(out))
}

/// JSON to a Connect value. `node` `None` is a missing field; `schema` `None` infers the type
/// (object -> map of strings, integer -> int64, other numbers -> float64).
pub fn to_connect(schema: Option<&SchemaRef>, node: Option<&Node>, s: Settings) -> Res<Value> {
    let Some(sc) = schema else {
        return infer(node.unwrap_or(&Node::Null));
    };
    let node = match node {
        None | Some(Node::Null) => {
            return match &sc.default {
                Some(d) if s.replace_null_with_default => Ok(d.clone()),
                _ if sc.optional => Ok(Value::Null),
                _ => Err(PathError::new(format!(
                    "Invalid null value for required {} field",
                    type_name(sc.kind)
                ))),
            };
        }
        Some(n) => n,
    };
    super::read::typed(sc, node, s)
}

fn infer(node: &Node) -> Res<Value> {
    Ok(match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Boolean(*b),
        Node::Number(t) if Node::is_integral(t) => {
            Value::Int64(t.parse().map_err(|_| {
                PathError::new(format!("JSON integer {t} does not fit in an INT64"))
            })?)
        }
        Node::Number(t) => Value::Float64(
            t.parse()
                .map_err(|_| PathError::new(format!("invalid JSON number {t}")))?,
        ),
        Node::Str(t) => Value::String(t.clone()),
        Node::Array(items) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(infer(item).map_err(|e| e.at(format!("[{i}]")))?);
            }
            Value::Array(out)
        }
        Node::Object(entries) => {
            let mut out = Vec::with_capacity(entries.len());
            for (k, v) in entries {
                let v = infer(v).map_err(|e| e.at(field_seg(k)))?;
                out.push((Value::String(k.clone()), v));
            }
            Value::Map(out)
        }
    })
}

pub(super) fn bytes_of(node: &Node, what: &str) -> Res<Bytes> {
    match node {
        Node::Str(t) => base64::decode(t)
            .map(Bytes::from)
            .map_err(|e| PathError::new(format!("Invalid bytes for {what}: {e}"))),
        other => Err(PathError::new(format!(
            "Invalid type for {what}: expected a base64 string but found {}",
            other.type_name()
        ))),
    }
}
