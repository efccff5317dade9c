//! Kafka's `SimpleHeaderConverter` on the write side: a header value becomes the text
//! `Values.convertToString` gives it. Strings as they are, numbers and booleans as Java prints
//! them, Decimals as `BigDecimal.toString`, Date / Time / Timestamp in ISO 8601 (UTC), bytes
//! in base64, and arrays, maps and structs as `[a,b]`, `{k:v}` and `{"field":value}` with
//! strings inside quoted (a Debezium `__debezium.newkey` header reads `{"id":2}`).

use bytes::Bytes;
use weir_connect_api::schema::logical;
use weir_connect_api::{Schema, Value};

use super::json::{decimal, number};
use crate::transforms::java_string;

/// The header's bytes; `None` for a null value (a header without a value).
pub fn header_bytes(schema: Option<&Schema>, value: &Value) -> Option<Bytes> {
    if value.is_null() {
        return None;
    }
    let mut out = String::new();
    append(&mut out, schema, value, false);
    Some(Bytes::from(out))
}

/// Kafka's `Values.append`: `embedded` values (inside a container) quote strings and bytes.
fn append(out: &mut String, schema: Option<&Schema>, value: &Value, embedded: bool) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Array(items) => {
            let element = schema.and_then(|s| s.value_schema.as_deref());
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                append(out, element, item, true);
            }
            out.push(']');
        }
        Value::Map(entries) => {
            let keys = schema.and_then(|s| s.key_schema.as_deref());
            let values = schema.and_then(|s| s.value_schema.as_deref());
            out.push('{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                append(out, keys, k, true);
                out.push(':');
                append(out, values, v, true);
            }
            out.push('}');
        }
        Value::Struct(s) => {
            out.push('{');
            for (i, (field, v)) in s.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                quoted(out, &field.name);
                out.push(':');
                append(out, Some(&field.schema), v, true);
            }
            out.push('}');
        }
        Value::Bytes(b) if schema.is_some_and(|s| s.is_logical(logical::DECIMAL)) => {
            let scale = schema
                .and_then(|s| s.parameters.get(logical::DECIMAL_SCALE))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            out.push_str(&number::big_decimal_string(
                &decimal::unscaled_string(b),
                scale,
            ));
        }
        Value::String(s) if embedded => quoted(out, s),
        Value::Bytes(_) if embedded => {
            out.push('"');
            push_scalar(out, schema, value);
            out.push('"');
        }
        _ => push_scalar(out, schema, value),
    }
}

/// A string in quotes with `\` and `"` escaped, as `Values.escape` does.
fn quoted(out: &mut String, s: &str) {
    out.push('"');
    out.push_str(&s.replace('\\', "\\\\").replace('"', "\\\""));
    out.push('"');
}

fn push_scalar(out: &mut String, schema: Option<&Schema>, value: &Value) {
    match java_string(schema, value) {
        Ok(text) => out.push_str(&text),
        // Every scalar converts; containers are handled by the caller.
        Err(_) => out.push_str(&format!("{value:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_connect_api::{SchemaBuilder, Struct};

    fn text(schema: Option<&Schema>, value: Value) -> String {
        let bytes = header_bytes(schema, &value).expect("not null");
        String::from_utf8(bytes.to_vec()).expect("UTF-8")
    }

    #[test]
    fn scalars_print_as_java_does() {
        assert_eq!(text(None, Value::String("a\"b".into())), "a\"b");
        assert_eq!(text(None, Value::Int32(-7)), "-7");
        assert_eq!(text(None, Value::Float64(1.0)), "1.0");
        assert_eq!(text(None, Value::Float64(1e10)), "1.0E10");
        assert_eq!(text(None, Value::Boolean(true)), "true");
        assert_eq!(text(None, Value::Bytes(Bytes::from_static(b"hi!"))), "aGkh");
        assert!(header_bytes(None, &Value::Null).is_none());
        let dec = logical::decimal(2).build();
        assert_eq!(
            text(Some(&dec), Value::Bytes(Bytes::from_static(&[0x04, 0xe2]))),
            "12.50"
        );
        let date = logical::date().build();
        assert_eq!(text(Some(&date), Value::Int32(19_000)), "2022-01-08");
        let ts = logical::timestamp().build();
        assert_eq!(
            text(Some(&ts), Value::Int64(1_767_323_045_678)),
            "2026-01-02T03:04:05.678Z"
        );
    }

    #[test]
    fn containers_quote_what_they_hold() {
        let key = SchemaBuilder::structure()
            .name("srv.public.t.Key")
            .field("id", SchemaBuilder::int32().build())
            .field("code", SchemaBuilder::string().build())
            .build();
        let mut s = Struct::new(key.clone());
        s.put("id", Value::Int32(2)).expect("id");
        s.put("code", Value::String("x\\y".into())).expect("code");
        assert_eq!(
            text(Some(&key), Value::Struct(s)),
            r#"{"id":2,"code":"x\\y"}"#
        );
        let list = Value::Array(vec![Value::String("a".into()), Value::Null]);
        assert_eq!(text(None, list), r#"["a",null]"#);
        let map = Value::Map(vec![(Value::String("k".into()), Value::Int64(1))]);
        assert_eq!(text(None, map), r#"{"k":1}"#);
    }
}
