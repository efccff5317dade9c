//! The value conversions behind `Cast`, following Java's: integer narrowing wraps, float to
//! integer saturates then wraps, strings parse strictly, Decimals convert as `BigDecimal`,
//! dates print in ISO 8601 (`Values.dateFormatFor`) and bytes print as base64.

use weir_connect_api::schema::logical;
use weir_connect_api::{DataError, Schema, SchemaType, Value};

use super::timestamp_router::format_with;
use crate::converters::json::base64::encode as base64;

const INPUTS: &str = "[INT8, INT16, INT32, INT64, FLOAT32, FLOAT64, BOOLEAN, STRING, BYTES]";
const MILLIS_PER_DAY: i64 = 86_400_000;

/// A value as the Java object Kafka's Cast would see.
enum Java<'a> {
    Int(i64),
    F32(f32),
    F64(f64),
    /// `BigDecimal`: unscaled value and scale.
    Decimal(i128, u32),
    Bool(bool),
    Str(&'a str),
    Bytes(&'a [u8]),
    /// `java.util.Date`, epoch milliseconds.
    Date(i64),
}

fn unexpected(class: &str) -> DataError {
    DataError::new(format!(
        "Unexpected type in Cast transformation: class {class}"
    ))
}

fn java_form<'a>(schema: Option<&Schema>, value: &'a Value) -> Result<Java<'a>, DataError> {
    let named = |n: &str| schema.is_some_and(|s| s.is_logical(n));
    Ok(match value {
        Value::Int32(d) if named(logical::DATE) => Java::Date(i64::from(*d) * MILLIS_PER_DAY),
        Value::Int32(t) if named(logical::TIME) => Java::Date(i64::from(*t)),
        Value::Int64(t) if named(logical::TIMESTAMP) => Java::Date(*t),
        Value::Bytes(b) if named(logical::DECIMAL) => {
            let scale = schema
                .and_then(|s| s.parameters.get(logical::DECIMAL_SCALE))
                .and_then(|s| s.parse().ok())
                .unwrap_or(0);
            if b.is_empty() || b.len() > 16 {
                return Err(DataError::new("Decimal value too large to cast"));
            }
            let fill = if b[0] & 0x80 != 0 { 0xff } else { 0 };
            let mut buf = [fill; 16];
            buf[16 - b.len()..].copy_from_slice(b);
            Java::Decimal(i128::from_be_bytes(buf), scale)
        }
        Value::Int8(n) => Java::Int(i64::from(*n)),
        Value::Int16(n) => Java::Int(i64::from(*n)),
        Value::Int32(n) => Java::Int(i64::from(*n)),
        Value::Int64(n) => Java::Int(*n),
        Value::Float32(f) => Java::F32(*f),
        Value::Float64(f) => Java::F64(*f),
        Value::Boolean(b) => Java::Bool(*b),
        Value::String(s) => Java::Str(s),
        Value::Bytes(b) => Java::Bytes(b),
        other => {
            let kind = other.kind().map_or("NULL", SchemaType::name).to_uppercase();
            return Err(DataError::new(format!(
                "Cast transformation does not support casting from {kind}; supported types are {INPUTS}"
            )));
        }
    })
}

/// `Number.longValue()`: floats saturate, decimals truncate toward zero.
fn long_value(j: &Java) -> Option<i64> {
    Some(match j {
        Java::Int(n) => *n,
        Java::F32(f) => *f as i64,
        Java::F64(f) => *f as i64,
        Java::Decimal(u, scale) => (u / 10i128.pow(*scale)) as i64,
        Java::Bool(b) => i64::from(*b),
        _ => return None,
    })
}

/// `Number.intValue()`, the base of `byteValue()` / `shortValue()`.
fn int_value(j: &Java) -> Option<i32> {
    Some(match j {
        Java::F32(f) => *f as i32,
        Java::F64(f) => *f as i32,
        other => long_value(other)? as i32,
    })
}

fn double_value(j: &Java) -> Option<f64> {
    Some(match j {
        Java::Int(n) => *n as f64,
        Java::F32(f) => f64::from(*f),
        Java::F64(f) => *f,
        Java::Decimal(u, scale) => *u as f64 / 10f64.powi(*scale as i32),
        Java::Bool(b) => f64::from(u8::from(*b)),
        _ => return None,
    })
}

fn class_of(j: &Java) -> &'static str {
    match j {
        Java::Bytes(_) => "[B",
        Java::Date(_) => "java.util.Date",
        _ => "java.lang.Object",
    }
}

pub fn cast_value(
    schema: Option<&Schema>,
    value: &Value,
    target: SchemaType,
) -> Result<Value, DataError> {
    if value.is_null() {
        return Ok(Value::Null);
    }
    let j = java_form(schema, value)?;
    let range = |s: &str| {
        DataError::new(format!(
            "Value ({s}) was out of range for requested data type"
        ))
    };
    if let Java::Str(s) = j {
        let parsed = match target {
            SchemaType::Int8 => s.parse().map(Value::Int8).ok(),
            SchemaType::Int16 => s.parse().map(Value::Int16).ok(),
            SchemaType::Int32 => s.parse().map(Value::Int32).ok(),
            SchemaType::Int64 => s.parse().map(Value::Int64).ok(),
            SchemaType::Float32 => s.trim().parse().map(Value::Float32).ok(),
            SchemaType::Float64 => s.trim().parse().map(Value::Float64).ok(),
            SchemaType::Boolean => Some(Value::Boolean(s.eq_ignore_ascii_case("true"))),
            _ => Some(Value::String(s.to_string())),
        };
        return parsed.ok_or_else(|| range(s));
    }
    let bad = || unexpected(class_of(&j));
    Ok(match target {
        SchemaType::Int8 => Value::Int8(int_value(&j).ok_or_else(bad)? as i8),
        SchemaType::Int16 => Value::Int16(int_value(&j).ok_or_else(bad)? as i16),
        SchemaType::Int32 => Value::Int32(int_value(&j).ok_or_else(bad)?),
        SchemaType::Int64 => Value::Int64(long_value(&j).ok_or_else(bad)?),
        SchemaType::Float32 => Value::Float32(double_value(&j).ok_or_else(bad)? as f32),
        SchemaType::Float64 => Value::Float64(double_value(&j).ok_or_else(bad)?),
        SchemaType::Boolean => Value::Boolean(match j {
            Java::Bool(b) => b,
            ref other => long_value(other).ok_or_else(bad)? != 0,
        }),
        _ => Value::String(to_java_string(&j)),
    })
}

/// Kafka's `Values.convertToString` of a primitive or logical value (not of a container).
pub(crate) fn java_string(schema: Option<&Schema>, value: &Value) -> Result<String, DataError> {
    java_form(schema, value).map(|j| to_java_string(&j))
}

fn to_java_string(j: &Java) -> String {
    match j {
        Java::Int(n) => n.to_string(),
        Java::F32(f) => java_float(f64::from(*f), f.to_string()),
        Java::F64(f) => java_float(*f, f.to_string()),
        Java::Decimal(u, scale) => decimal_string(*u, *scale),
        Java::Bool(b) => b.to_string(),
        Java::Str(s) => s.to_string(),
        Java::Bytes(b) => base64(b),
        Java::Date(ms) => {
            let pattern = if *ms < MILLIS_PER_DAY {
                "HH:mm:ss.SSS'Z'"
            } else if ms % MILLIS_PER_DAY == 0 {
                "yyyy-MM-dd"
            } else {
                "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'"
            };
            format_with(pattern, *ms)
        }
    }
}

/// `Double.toString` / `Float.toString` from Rust's shortest representation `short`.
fn java_float(v: f64, short: String) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let abs = v.abs();
    if abs == 0.0 || (1e-3..1e7).contains(&abs) {
        return if short.contains('.') {
            short
        } else {
            format!("{short}.0")
        };
    }
    // Scientific: Rust's `{:e}` of the same shortest digits, in Java's spelling (1.0E10).
    let sci = format!("{v:e}");
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let mantissa = if mantissa.contains('.') {
        mantissa.to_string()
    } else {
        format!("{mantissa}.0")
    };
    format!("{mantissa}E{exp}")
}

/// `BigDecimal.toPlainString` of an unscaled value and a scale.
fn decimal_string(unscaled: i128, scale: u32) -> String {
    let digits = unscaled.unsigned_abs().to_string();
    let sign = if unscaled < 0 { "-" } else { "" };
    let scale = scale as usize;
    if scale == 0 {
        return format!("{sign}{digits}");
    }
    let padded = format!("{digits:0>width$}", width = scale + 1);
    let (int, frac) = padded.split_at(padded.len() - scale);
    format!("{sign}{int}.{frac}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_connect_api::SchemaBuilder;

    fn cast(v: Value, t: SchemaType) -> Value {
        cast_value(None, &v, t).expect("castable")
    }

    #[test]
    fn numbers_follow_java_conversions() {
        assert_eq!(cast(Value::Int64(300), SchemaType::Int8), Value::Int8(44));
        assert_eq!(
            cast(Value::Float64(1e20), SchemaType::Int32),
            Value::Int32(i32::MAX)
        );
        assert_eq!(
            cast(Value::Float64(-1.9), SchemaType::Int64),
            Value::Int64(-1)
        );
        assert_eq!(
            cast(Value::Boolean(true), SchemaType::Float32),
            Value::Float32(1.0)
        );
        assert_eq!(
            cast(Value::Float32(0.5), SchemaType::Boolean),
            Value::Boolean(false)
        );
        assert_eq!(
            cast(Value::String("yes".into()), SchemaType::Boolean),
            Value::Boolean(false)
        );
        assert_eq!(
            cast(Value::Float64(1e10), SchemaType::String),
            Value::String("1.0E10".into())
        );
        assert_eq!(
            cast(Value::Float32(2.5), SchemaType::String),
            Value::String("2.5".into())
        );
        assert_eq!(
            cast(Value::Bytes(b"hi!?".as_slice().into()), SchemaType::String),
            Value::String("aGkhPw==".into())
        );
        let err = cast_value(
            None,
            &Value::Bytes(b"x".as_slice().into()),
            SchemaType::Int8,
        )
        .expect_err("bytes");
        assert_eq!(
            err.to_string(),
            "Unexpected type in Cast transformation: class [B"
        );
        let err = cast_value(None, &Value::Array(vec![]), SchemaType::Int8).expect_err("array");
        assert!(
            err.to_string()
                .starts_with("Cast transformation does not support casting from ARRAY")
        );
    }

    #[test]
    fn logical_types_read_as_kafka_does() {
        let dec = logical::decimal(2).build();
        let v = Value::Bytes(vec![0xfb, 0x2e].into()); // -1234 unscaled = -12.34
        assert_eq!(
            cast_value(Some(&dec), &v, SchemaType::String),
            Ok(Value::String("-12.34".into()))
        );
        assert_eq!(
            cast_value(Some(&dec), &v, SchemaType::Int32),
            Ok(Value::Int32(-12))
        );
        assert_eq!(
            cast_value(Some(&dec), &v, SchemaType::Float64),
            Ok(Value::Float64(-12.34))
        );
        let date = logical::date().build();
        assert_eq!(
            cast_value(Some(&date), &Value::Int32(17_169), SchemaType::String),
            Ok(Value::String("2017-01-03".into()))
        );
        let plain = SchemaBuilder::int32().build();
        assert_eq!(
            cast_value(Some(&plain), &Value::Int32(7), SchemaType::String),
            Ok(Value::String("7".into()))
        );
    }
}
