//! Schemas as JSON (Kafka's `JsonConverter.asJsonSchema` / `asConnectSchema`).
//!
//! Key order is Kafka's, which comes from Jackson's insertion-ordered `ObjectNode`: `type`;
//! then `items`, or `keys` and `values`, or `fields`; then `optional` (always), `name`,
//! `version`, `doc`, `parameters`, `default` when set. A struct field's schema gets its
//! `field` name appended last.

use std::sync::Arc;

use weir_connect_api::{Field, Schema, SchemaRef, SchemaType};

use super::node::Node;
use super::payload::{self, PathError, Res, Settings};

/// The JSON `type` string: Connect's type name, except `float32` is `float` and `float64`
/// is `double`.
fn json_type(kind: SchemaType) -> &'static str {
    match kind {
        SchemaType::Float32 => "float",
        SchemaType::Float64 => "double",
        other => other.name(),
    }
}

fn from_json_type(name: &str) -> Option<SchemaType> {
    Some(match name {
        "float" => SchemaType::Float32,
        "double" => SchemaType::Float64,
        "float32" | "float64" => return None,
        other => SchemaType::parse(other).filter(|_| other == other.to_ascii_lowercase())?,
    })
}

pub fn to_json(schema: &Schema, s: Settings) -> Res<Node> {
    let mut obj = vec![("type".to_string(), Node::Str(json_type(schema.kind).into()))];
    let sub = |child: &Option<SchemaRef>, what: &str| -> Res<Node> {
        match child {
            Some(c) => to_json(c, s),
            None => Err(PathError::new(format!(
                "{} schema has no {what} schema",
                payload::type_name(schema.kind)
            ))),
        }
    };
    match schema.kind {
        SchemaType::Array => obj.push(("items".into(), sub(&schema.value_schema, "element")?)),
        SchemaType::Map => {
            obj.push(("keys".into(), sub(&schema.key_schema, "key")?));
            obj.push(("values".into(), sub(&schema.value_schema, "value")?));
        }
        SchemaType::Struct => {
            let mut fields = Vec::with_capacity(schema.fields.len());
            for f in &schema.fields {
                let node = to_json(&f.schema, s).map_err(|e| e.at(format!(".{}", f.name)))?;
                let Node::Object(mut entries) = node else {
                    continue;
                };
                entries.push(("field".into(), Node::Str(f.name.clone())));
                fields.push(Node::object(entries));
            }
            obj.push(("fields".into(), Node::Array(fields)));
        }
        _ => {}
    }
    obj.push(("optional".into(), Node::Bool(schema.optional)));
    if let Some(name) = &schema.name {
        obj.push(("name".into(), Node::Str(name.clone())));
    }
    if let Some(version) = schema.version {
        obj.push(("version".into(), Node::Number(version.to_string())));
    }
    if let Some(doc) = &schema.doc {
        obj.push(("doc".into(), Node::Str(doc.clone())));
    }
    if !schema.parameters.is_empty() {
        obj.push(("parameters".into(), parameters(schema)));
    }
    if let Some(default) = &schema.default {
        let node = payload::to_json(Some(schema), default, s)
            .map_err(|e| e.at(".<default>".to_string()))?;
        obj.push(("default".into(), node));
    }
    Ok(Node::Object(obj))
}

/// Parameters in insertion order, as Kafka writes them.
fn parameters(schema: &Schema) -> Node {
    Node::Object(
        schema
            .parameters
            .iter()
            .map(|(k, v)| (k.clone(), Node::Str(v.clone())))
            .collect(),
    )
}

/// A schema from JSON; JSON `null` is no schema (schemaless payload).
pub fn to_connect(node: &Node, s: Settings) -> Res<Option<SchemaRef>> {
    if matches!(node, Node::Null) {
        return Ok(None);
    }
    parse(node, s).map(Some)
}

fn parse(node: &Node, s: Settings) -> Res<SchemaRef> {
    let type_name = match node.get("type") {
        Some(Node::Str(t)) => t.as_str(),
        _ => return Err(PathError::new("Schema must contain 'type' field")),
    };
    let kind = from_json_type(type_name)
        .ok_or_else(|| PathError::new(format!("Unknown schema type: {type_name}")))?;
    let mut schema = Schema::of(kind);
    let child = |key: &str, what: &str| -> Res<SchemaRef> {
        match node.get(key) {
            Some(Node::Null) | None => Err(PathError::new(format!(
                "{} schema did not specify the {what} type",
                if kind == SchemaType::Array {
                    "Array"
                } else {
                    "Map"
                }
            ))),
            Some(n) => parse(n, s).map_err(|e| e.at(format!(".{key}"))),
        }
    };
    match kind {
        SchemaType::Array => schema.value_schema = Some(child("items", "element")?),
        SchemaType::Map => {
            schema.key_schema = Some(child("keys", "key")?);
            schema.value_schema = Some(child("values", "value")?);
        }
        SchemaType::Struct => {
            let Some(Node::Array(fields)) = node.get("fields") else {
                return Err(PathError::new(
                    "Struct schema's \"fields\" argument is not an array.",
                ));
            };
            for (index, f) in fields.iter().enumerate() {
                let Some(Node::Str(name)) = f.get("field") else {
                    return Err(PathError::new(
                        "Struct schema's field name not specified properly",
                    )
                    .at(format!(".fields[{index}]")));
                };
                let field_schema = parse(f, s).map_err(|e| e.at(format!(".{name}")))?;
                schema.fields.push(Field {
                    name: name.clone(),
                    index,
                    schema: field_schema,
                });
            }
        }
        _ => {}
    }
    schema.optional = matches!(node.get("optional"), Some(Node::Bool(true)));
    if let Some(Node::Str(name)) = node.get("name") {
        schema.name = Some(name.clone());
    }
    if let Some(Node::Number(v)) = node.get("version")
        && Node::is_integral(v)
    {
        let version = v
            .parse()
            .map_err(|_| PathError::new(format!("Schema version {v} does not fit in an int32")))?;
        schema.version = Some(version);
    }
    if let Some(Node::Str(doc)) = node.get("doc") {
        schema.doc = Some(doc.clone());
    }
    if let Some(Node::Object(params)) = node.get("parameters") {
        for (k, v) in params {
            let Node::Str(v) = v else {
                return Err(PathError::new("Schema parameters must have string values."));
            };
            schema.parameters.insert(k.clone(), v.clone());
        }
    }
    if let Some(default) = node.get("default") {
        // Read with the schema as built so far, as Kafka reads it with the builder.
        let base = Arc::new(schema.clone());
        let value = payload::to_connect(Some(&base), Some(default), s)
            .map_err(|e| e.at(".<default>".to_string()))?;
        if !value.is_null() {
            schema.default = Some(value);
        }
    }
    Ok(Arc::new(schema))
}
