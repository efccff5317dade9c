//! Column defaults in field schemas, as Debezium's `PostgresDefaultValueConverter` parses
//! the catalog's default expressions: simple literals, and a zero value for function
//! defaults (`nextval(...)`, `now()`); anything else leaves the schema without default.

use std::sync::OnceLock;

use regex::Regex;
use weir_connect_api::{SchemaRef, Value};

use super::convert::convert;
use super::mapping::Conv;
use super::types::{TypeKind, TypeRegistry};

fn function_pattern() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"^[(]?[A-Za-z0-9_.]+\((?:.+(?:, ?.+)*)?\)").ok())
        .as_ref()
}

fn literal_pattern() -> Option<&'static Regex> {
    static RE: OnceLock<Option<Regex>> = OnceLock::new();
    RE.get_or_init(|| Regex::new(r"'(.*?)'").ok()).as_ref()
}

/// `extractDefault(value, placeholder)`: the placeholder for generated values, the quoted
/// literal of a cast, or the raw text; `None` for `NULL::type`.
fn extract(expr: &str, generated: &str) -> Option<String> {
    let is_function = function_pattern().is_some_and(|re| re.is_match(expr));
    let current = [
        "current_timestamp",
        "current_time",
        "current_date",
        "localtime",
        "localtimestamp",
    ]
    .contains(&expr.to_lowercase().as_str());
    if is_function || current {
        return Some(generated.to_string());
    }
    if !expr.contains('\'') {
        return (!expr.starts_with("NULL::")).then(|| expr.to_string());
    }
    literal_pattern()?
        .captures(expr)?
        .get(1)
        .map(|m| m.as_str().to_string())
}

/// The default of a column of type `type_name` with default expression `expr`, converted
/// like a value of that column (`None` when Debezium sets none).
pub(crate) fn default_value(
    types: &TypeRegistry,
    type_name: &str,
    expr: &str,
    conv: &Conv,
    schema: &SchemaRef,
) -> Option<Value> {
    const TRIM: &[&str] = &[
        "bit",
        "varbit",
        "bool",
        "numeric",
        "float4",
        "float8",
        "int2",
        "int4",
        "serial",
        "int8",
        "bigserial",
        "smallserial",
        "uuid",
        "date",
        "time",
        "timestamp",
        "timestamptz",
        "interval",
    ];
    let expr = if TRIM.contains(&type_name) {
        expr.trim()
    } else {
        expr
    };
    let null_default = expr.starts_with("NULL::");
    let text = match type_name {
        "bit" => {
            let v = extract(expr, "00")?;
            if v.len() == 1 {
                (if v == "1" { "1" } else { "0" }).to_string()
            } else {
                v
            }
        }
        "varbit" => extract(expr, "0")?,
        "bool" if !null_default => {
            let v = extract(expr, "false")?;
            (if v.eq_ignore_ascii_case("true") {
                "t"
            } else {
                "f"
            })
            .to_string()
        }
        "bpchar" | "varchar" | "text" | "xml" => extract(expr, "")?,
        "json" | "jsonb" => extract(expr, "{}")?,
        "numeric" | "float4" | "float8" if !null_default => extract(expr, "0.0")?,
        "int2" | "int4" | "int8" | "serial" | "bigserial" | "smallserial" if !null_default => {
            extract(expr, "0")?
        }
        "uuid" => extract(expr, "00000000-0000-0000-0000-000000000000")?.to_lowercase(),
        "date" => {
            let v = extract(expr, "1970-01-01")?;
            v.split(' ').next().unwrap_or("").to_string()
        }
        "time" => {
            let v = extract(expr, "00:00")?;
            if v.matches(':').count() == 1 {
                format!("{v}:00")
            } else {
                v
            }
        }
        "timestamp" => {
            let v = extract(expr, "1970-01-01")?;
            if v.contains(' ') {
                v
            } else {
                format!("{v} 00:00:00")
            }
        }
        "timestamptz" => {
            let v = extract(expr, "1970-01-01")?;
            if v.contains(' ') {
                v
            } else {
                format!("{v} 00:00:00+00")
            }
        }
        "interval" => extract(expr, "epoch")?,
        other => {
            let is_enum = types
                .oid_of(other)
                .and_then(|o| types.get(o))
                .is_some_and(|t| matches!(t.kind, TypeKind::Enum(_)));
            if !is_enum {
                return None;
            }
            let v = expr.strip_suffix(&format!("::{other}"))?;
            v.strip_prefix('\'')?.strip_suffix('\'')?.to_string()
        }
    };
    match convert(conv, schema, &text).ok()? {
        // Kafka Connect cannot hold struct defaults (KAFKA-12694): Debezium leaves them out.
        Value::Struct(_) => None,
        v => Some(v),
    }
}
