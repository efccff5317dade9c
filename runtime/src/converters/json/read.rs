//! Reading a non-null JSON payload node as a value of a known schema (the typed half of
//! Kafka's `convertToConnect`), logical types first.

use weir_connect_api::schema::logical;
use weir_connect_api::{SchemaRef, SchemaType, Struct, Value};

use super::decimal;
use super::node::Node;
use super::payload::{
    PathError, Res, Settings, bytes_of, decimal_scale, logical_kind, to_connect, type_name,
};

pub fn typed(sc: &SchemaRef, node: &Node, s: Settings) -> Res<Value> {
    if let Some((name, _)) = logical_kind(sc) {
        return logical_value(sc, name, node);
    }
    let kind = sc.kind;
    Ok(match kind {
        SchemaType::Boolean => match node {
            Node::Bool(b) => Value::Boolean(*b),
            other => return Err(mismatch(kind, "a JSON boolean", other)),
        },
        SchemaType::Int8 => Value::Int8(int_in_range(kind, node)?),
        SchemaType::Int16 => Value::Int16(int_in_range(kind, node)?),
        SchemaType::Int32 => Value::Int32(int_in_range(kind, node)?),
        SchemaType::Int64 => Value::Int64(int_in_range(kind, node)?),
        SchemaType::Float32 => Value::Float32(float(kind, node)?),
        SchemaType::Float64 => Value::Float64(float(kind, node)?),
        SchemaType::String => match node {
            Node::Str(t) => Value::String(t.clone()),
            other => return Err(mismatch(kind, "a JSON string", other)),
        },
        SchemaType::Bytes => Value::Bytes(bytes_of(node, "bytes field")?),
        SchemaType::Array => {
            let Node::Array(items) = node else {
                return Err(PathError::new(format!(
                    "Arrays should be encoded as JSON arrays, but found {}",
                    node.type_name()
                )));
            };
            let elem = sc.value_schema.as_ref();
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                out.push(to_connect(elem, Some(item), s).map_err(|e| e.at(format!("[{i}]")))?);
            }
            Value::Array(out)
        }
        SchemaType::Map => map(sc, node, s)?,
        SchemaType::Struct => {
            if !matches!(node, Node::Object(_)) {
                return Err(PathError::new(format!(
                    "Structs should be encoded as JSON objects, but found {}",
                    node.type_name()
                )));
            }
            let mut st = Struct::new(sc.clone());
            for field in &sc.fields {
                let at = |e: PathError| e.at(format!(".{}", field.name));
                let v = to_connect(Some(&field.schema), node.get(&field.name), s).map_err(at)?;
                st.put(&field.name, v)
                    .map_err(|e| at(PathError::new(e.message)))?;
            }
            Value::Struct(st)
        }
    })
}

fn mismatch(kind: SchemaType, wanted: &str, found: &Node) -> PathError {
    PathError::new(format!(
        "Invalid value for {} schema: expected {wanted} but found {}",
        type_name(kind),
        found.type_name()
    ))
}

/// An integer of schema type `kind`; a number with a zero fraction (`12.0`, `1e2`) counts.
fn int_in_range<T: TryFrom<i128>>(kind: SchemaType, node: &Node) -> Res<T> {
    let Node::Number(text) = node else {
        return Err(mismatch(kind, "a JSON integer", node));
    };
    let parsed = if Node::is_integral(text) {
        text.parse::<i128>().ok()
    } else {
        text.parse::<f64>()
            .ok()
            .filter(|f| f.fract() == 0.0 && f.abs() < 1e20)
            .map(|f| f as i128)
    };
    match parsed {
        Some(n) => T::try_from(n).map_err(|_| {
            PathError::new(format!(
                "JSON number {text} is out of range for {}",
                type_name(kind)
            ))
        }),
        None => Err(PathError::new(format!(
            "JSON number {text} is not an integer as {} requires",
            type_name(kind)
        ))),
    }
}

/// A float, parsed straight from the number's text (no double rounding through f64 for
/// FLOAT32, as Jackson's `BigDecimal.floatValue()`). Also accepts the strings Jackson
/// writes for non-finite values, which Kafka itself would read back as 0.0.
fn float<F: std::str::FromStr>(kind: SchemaType, node: &Node) -> Res<F> {
    let text = match node {
        Node::Number(text) => text.as_str(),
        Node::Str(t) if matches!(t.as_str(), "NaN" | "Infinity" | "-Infinity") => {
            match t.as_str() {
                "NaN" => "NaN",
                "Infinity" => "inf",
                _ => "-inf",
            }
        }
        other => return Err(mismatch(kind, "a JSON number", other)),
    };
    text.parse()
        .map_err(|_| PathError::new(format!("invalid JSON number {text}")))
}

fn logical_value(sc: &SchemaRef, name: &str, node: &Node) -> Res<Value> {
    let int_repr = |what: &str| {
        PathError::new(format!(
            "Invalid type for {what}, underlying representation should be integer but was {}",
            node.type_name()
        ))
    };
    Ok(match name {
        logical::DECIMAL => {
            let scale = decimal_scale(sc)?;
            let unscaled = match node {
                Node::Number(text) => decimal::from_json_number(text, scale)
                    .map_err(|e| PathError::new(format!("Invalid Decimal: {e}")))?,
                Node::Str(_) => {
                    let raw = bytes_of(node, "Decimal field")?;
                    decimal::minimal(&raw).map_err(|e| {
                        PathError::new(format!("Invalid bytes for Decimal field: {e}"))
                    })?
                }
                other => {
                    return Err(PathError::new(format!(
                        "Invalid type for Decimal, underlying representation should be numeric or bytes but was {}",
                        other.type_name()
                    )));
                }
            };
            Value::Bytes(unscaled.into())
        }
        logical::DATE | logical::TIME => match node {
            Node::Number(t) if Node::is_integral(t) => {
                Value::Int32(t.parse().map_err(|_| int_repr(name_of(name)))?)
            }
            _ => return Err(int_repr(name_of(name))),
        },
        _ => match node {
            Node::Number(t) if Node::is_integral(t) => {
                Value::Int64(t.parse().map_err(|_| int_repr("Timestamp"))?)
            }
            _ => {
                return Err(PathError::new(format!(
                    "Invalid type for Timestamp, underlying representation should be integral but was {}",
                    node.type_name()
                )));
            }
        },
    })
}

fn name_of(logical_name: &str) -> &str {
    logical_name.rsplit('.').next().unwrap_or(logical_name)
}

/// String-keyed maps come as JSON objects, all others as arrays of `[key, value]` pairs.
fn map(sc: &SchemaRef, node: &Node, s: Settings) -> Res<Value> {
    let (ks, vs) = (sc.key_schema.as_ref(), sc.value_schema.as_ref());
    let mut out = Vec::new();
    if ks.is_none_or(|k| k.kind == SchemaType::String) {
        let Node::Object(entries) = node else {
            return Err(PathError::new(format!(
                "Maps with string fields should be encoded as JSON objects, but found {}",
                node.type_name()
            )));
        };
        for (k, v) in entries {
            let v = to_connect(vs, Some(v), s).map_err(|e| e.at(format!("[{k}]")))?;
            out.push((Value::String(k.clone()), v));
        }
        return Ok(Value::Map(out));
    }
    let Node::Array(entries) = node else {
        return Err(PathError::new(format!(
            "Maps with non-string fields should be encoded as JSON array of tuples, but found {}",
            node.type_name()
        )));
    };
    for (i, entry) in entries.iter().enumerate() {
        let at = |e: PathError| e.at(format!("[{i}]"));
        let pair = match entry {
            Node::Array(pair) if pair.len() == 2 => pair,
            Node::Array(pair) => {
                return Err(at(PathError::new(format!(
                    "Found invalid map entry, expected length 2 but found: {}",
                    pair.len()
                ))));
            }
            other => {
                return Err(at(PathError::new(format!(
                    "Found invalid map entry instead of array tuple: {}",
                    other.type_name()
                ))));
            }
        };
        let k = to_connect(ks, pair.first(), s).map_err(at)?;
        let v = to_connect(vs, pair.get(1), s).map_err(at)?;
        out.push((k, v));
    }
    Ok(Value::Map(out))
}
