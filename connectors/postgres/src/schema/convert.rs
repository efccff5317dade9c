//! Text values (pgoutput tuples, simple-query rows) to Connect values, as Debezium's
//! `PostgresValueConverter` produces them; the fallbacks Debezium puts in NOT NULL columns
//! that carry no value; and the TOAST placeholders.

use bytes::Bytes;
use weir_connect_api::{SchemaRef, SchemaType, Struct, Value};

use super::array::parse_array;
use super::hstore::{hstore_json, java_hashmap_order, parse_hstore};
use super::mapping::{Conv, TimeUnit};
use super::md5::name_uuid;
use super::numeric::Dec;
use super::options::{BinaryMode, DecimalMode, HstoreMode, IntervalMode, TimePrecisionMode};
use super::temporal::{self, PgInterval, Temporal};

/// Decodes hex digits (either case); `None` on odd length or a bad digit.
pub(crate) fn decode_hex(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    if !b.len().is_multiple_of(2) {
        return None;
    }
    let nib = |c: u8| -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    };
    b.chunks(2)
        .map(|p| Some(nib(p[0])? << 4 | nib(p[1])?))
        .collect()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Java's `Base64.getEncoder()` / `getUrlEncoder()` (both padded).
pub(crate) fn base64(bytes: &[u8], url_safe: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(alphabet[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn binary_value(bytes: Vec<u8>, mode: BinaryMode) -> Value {
    match mode {
        BinaryMode::Bytes => Value::Bytes(Bytes::from(bytes)),
        BinaryMode::Base64 => Value::String(base64(&bytes, false)),
        BinaryMode::Base64UrlSafe => Value::String(base64(&bytes, true)),
        BinaryMode::Hex => Value::String(hex(&bytes)),
    }
}

/// pgjdbc's money parsing as Debezium uses it: a leading `-` becomes parentheses, the first
/// character (the currency symbol) is dropped and thousands separators removed.
fn parse_money(text: &str) -> Option<Dec> {
    let t = match text.strip_prefix('-') {
        Some(rest) => format!("({rest})"),
        None => text.to_string(),
    };
    let negative = t.starts_with('(');
    let inner = if negative && t.ends_with(')') {
        &t[1..t.len() - 1]
    } else {
        t.as_str()
    };
    let mut chars = inner.chars();
    chars.next();
    let digits: String = chars.filter(|c| *c != ',').collect();
    Dec::parse(&if negative {
        format!("-{digits}")
    } else {
        digits
    })
}

fn decimal_value(d: &Dec, schema: &SchemaRef, mode: DecimalMode, variable: bool) -> Value {
    match mode {
        DecimalMode::Double => Value::Float64(d.to_f64()),
        DecimalMode::String => Value::String(d.to_plain_string()),
        DecimalMode::Precise if variable => {
            let d = d.stripped_non_negative();
            let mut s = Struct::new(schema.clone());
            // The schema is ours: both puts match it.
            let _ = s.put("scale", Value::Int32(d.scale()));
            let _ = s.put("value", Value::Bytes(Bytes::from(d.unscaled_bytes())));
            Value::Struct(s)
        }
        DecimalMode::Precise => Value::Bytes(Bytes::from(d.unscaled_bytes())),
    }
}

pub(crate) fn point_value(schema: &SchemaRef, x: f64, y: f64) -> Value {
    let mut wkb = Vec::with_capacity(21);
    wkb.push(1u8);
    wkb.extend_from_slice(&1u32.to_le_bytes());
    wkb.extend_from_slice(&x.to_le_bytes());
    wkb.extend_from_slice(&y.to_le_bytes());
    let mut s = Struct::new(schema.clone());
    let _ = s.put("x", Value::Float64(x));
    let _ = s.put("y", Value::Float64(y));
    let _ = s.put("wkb", Value::Bytes(Bytes::from(wkb)));
    Value::Struct(s)
}

fn parse_f64(s: &str) -> Result<f64, String> {
    s.trim()
        .parse::<f64>()
        .map_err(|_| format!("{s:?} is not a number"))
}

fn bits_value(text: &str) -> Value {
    // Debezium: bit i of the value is character len-1-i; bytes little-endian, as long as
    // the highest set bit needs.
    let bits: Vec<bool> = text.chars().rev().map(|c| c == '1').collect();
    let highest = bits.iter().rposition(|b| *b).map_or(0, |p| p + 1);
    let mut out = vec![0u8; highest.div_ceil(8)];
    for (i, set) in bits.iter().enumerate().take(highest) {
        if *set {
            out[i / 8] |= 1 << (i % 8);
        }
    }
    Value::Bytes(Bytes::from(out))
}

fn hstore_value(text: &str, mode: HstoreMode) -> Result<Value, String> {
    let entries = java_hashmap_order(parse_hstore(text)?);
    Ok(match mode {
        HstoreMode::Json => Value::String(hstore_json(&entries)),
        HstoreMode::Map => Value::Map(
            entries
                .into_iter()
                .map(|(k, v)| (Value::String(k), v.map_or(Value::Null, Value::String)))
                .collect(),
        ),
    })
}

fn time_value(micros: i128, unit: TimeUnit) -> Result<Value, String> {
    Ok(match unit {
        TimeUnit::Millis => Value::Int32((micros / 1000) as i32),
        TimeUnit::Micros => Value::Int64(micros as i64),
        TimeUnit::Nanos => Value::Int64((micros * 1000) as i64),
        TimeUnit::Iso => Value::String(format!("{}Z", temporal::format_time_of_day(micros, None))),
    })
}

fn timestamp_value(micros: i128, unit: TimeUnit) -> Result<Value, String> {
    let fit =
        |v: i128| i64::try_from(v).map_err(|_| format!("timestamp {micros} µs overflows int64"));
    Ok(match unit {
        TimeUnit::Millis => Value::Int64(fit(micros.div_euclid(1000))?),
        TimeUnit::Micros => Value::Int64(fit(micros)?),
        TimeUnit::Nanos => Value::Int64(fit(micros * 1000)?),
        TimeUnit::Iso => Value::String(temporal::format_instant(micros, None)),
    })
}

/// Converts one non-null text value of a column mapped to (`schema`, `conv`).
pub(crate) fn convert(conv: &Conv, schema: &SchemaRef, text: &str) -> Result<Value, String> {
    Ok(match conv {
        Conv::Bool => {
            Value::Boolean(text.eq_ignore_ascii_case("t") || text.eq_ignore_ascii_case("true"))
        }
        Conv::Bit => Value::Boolean(
            i64::from_str_radix(text, 2).map_err(|_| format!("{text:?} is not a bit string"))? != 0,
        ),
        Conv::Bits => bits_value(text),
        Conv::Int16 => Value::Int16(
            text.trim()
                .parse()
                .map_err(|_| format!("{text:?} is not a smallint"))?,
        ),
        Conv::Int32 => Value::Int32(
            text.trim()
                .parse()
                .map_err(|_| format!("{text:?} is not an integer"))?,
        ),
        Conv::Int64 => Value::Int64(
            text.trim()
                .parse()
                .map_err(|_| format!("{text:?} is not a bigint"))?,
        ),
        Conv::Float32 => Value::Float32(parse_f64(text)? as f32),
        Conv::Float64 => Value::Float64(parse_f64(text)?),
        Conv::Numeric {
            mode,
            scale,
            variable,
            rescale,
        } => {
            let special = match text {
                "NaN" => Some((f64::NAN, "NAN")),
                "Infinity" => Some((f64::INFINITY, "POSITIVE_INFINITY")),
                "-Infinity" => Some((f64::NEG_INFINITY, "NEGATIVE_INFINITY")),
                _ => None,
            };
            if let Some((double, name)) = special {
                return match mode {
                    DecimalMode::Double => Ok(Value::Float64(double)),
                    DecimalMode::String => Ok(Value::String(name.into())),
                    DecimalMode::Precise => Err(format!(
                        "got the special value {text} for a decimal column, which decimal.handling.mode=precise cannot express; set decimal.handling.mode to string or double"
                    )),
                };
            }
            let mut d = Dec::parse(text).ok_or_else(|| format!("{text:?} is not a numeric"))?;
            if *scale > d.scale() || (*rescale && *scale >= 0) {
                d = d.with_scale(*scale);
            }
            decimal_value(&d, schema, *mode, *variable)
        }
        Conv::Money { mode, digits } => {
            let d = parse_money(text).ok_or_else(|| format!("{text:?} is not a money value"))?;
            match mode {
                DecimalMode::Double => Value::Float64(d.to_f64()),
                DecimalMode::String => Value::String(d.to_plain_string()),
                DecimalMode::Precise => {
                    Value::Bytes(Bytes::from(d.with_scale(*digits as i32).unscaled_bytes()))
                }
            }
        }
        Conv::Text => Value::String(text.to_string()),
        Conv::Binary(mode) => {
            let hex = text.strip_prefix("\\x").ok_or_else(|| {
                "bytea value does not start with \\x (bytea_output must be hex)".to_string()
            })?;
            binary_value(
                decode_hex(hex).ok_or_else(|| "bytea value is not valid hex".to_string())?,
                *mode,
            )
        }
        Conv::Unknown(mode) => binary_value(text.as_bytes().to_vec(), *mode),
        Conv::Date(mode) => {
            let Temporal::Finite(days) = temporal::parse_date(text)? else {
                return Err(format!("{text:?} is not a date"));
            };
            match mode {
                TimePrecisionMode::IsoString => {
                    Value::String(format!("{}Z", temporal::format_date(days as i64)))
                }
                _ => Value::Int32(days as i64 as i32),
            }
        }
        Conv::Time(unit) => time_value(temporal::parse_time(text)?, *unit)?,
        Conv::TimeTz => Value::String(format!(
            "{}Z",
            temporal::format_time_of_day(temporal::parse_timetz(text)?, None)
        )),
        Conv::Timestamp(unit) => match temporal::parse_timestamp(text)? {
            Temporal::Finite(us) => timestamp_value(us, *unit)?,
            _ => return Err(format!("{text:?} is not a timestamp")),
        },
        Conv::TimestampTz { width } => match temporal::parse_timestamptz(text)? {
            Temporal::PosInfinity => Value::String("infinity".into()),
            Temporal::NegInfinity => Value::String("-infinity".into()),
            Temporal::Finite(us) => Value::String(temporal::format_instant(us, *width)),
        },
        Conv::Interval(mode) => {
            let i = PgInterval::parse(text)?;
            match mode {
                IntervalMode::Numeric => Value::Int64(i.micro_duration()),
                IntervalMode::String => Value::String(i.iso_string()),
            }
        }
        Conv::Point => {
            let inner = text.trim().trim_start_matches('(').trim_end_matches(')');
            let (x, y) = inner
                .split_once(',')
                .ok_or_else(|| format!("{text:?} is not a point"))?;
            point_value(schema, parse_f64(x)?, parse_f64(y)?)
        }
        Conv::Hstore(mode) => hstore_value(text, *mode)?,
        Conv::Array { elem, millis_only } => {
            let elem_schema = schema
                .value_schema
                .clone()
                .ok_or_else(|| "array schema without element schema".to_string())?;
            let mut out = Vec::new();
            for item in parse_array(text)? {
                out.push(match item {
                    None => Value::Null,
                    Some(t) => {
                        let t = if *millis_only {
                            truncate_to_millis(&t)
                        } else {
                            t
                        };
                        convert(elem, &elem_schema, &t)?
                    }
                });
            }
            Value::Array(out)
        }
    })
}

/// Cuts a time's fraction to 3 digits (pgjdbc's `java.sql.Time` in arrays).
fn truncate_to_millis(t: &str) -> String {
    let Some(dot) = t.find('.') else {
        return t.to_string();
    };
    let digits_end = t[dot + 1..]
        .find(|c: char| !c.is_ascii_digit())
        .map_or(t.len(), |i| dot + 1 + i);
    let keep = (dot + 4).min(digits_end);
    format!("{}{}", &t[..keep], &t[digits_end..])
}

/// The value Debezium puts in a NOT NULL column that has no value and no default
/// (`convertValue`'s fallback).
pub(crate) fn fallback(conv: &Conv, schema: &SchemaRef) -> Value {
    match conv {
        Conv::Bool | Conv::Bit => Value::Boolean(false),
        Conv::Bits => Value::Bytes(Bytes::new()),
        Conv::Int16 => Value::Int16(0),
        Conv::Int32 => Value::Int32(0),
        Conv::Int64 => Value::Int64(0),
        Conv::Float32 => Value::Float32(0.0),
        Conv::Float64 => Value::Float64(0.0),
        Conv::Numeric {
            mode,
            scale,
            variable,
            ..
        } => decimal_value(&Dec::zero((*scale).max(0)), schema, *mode, *variable),
        Conv::Money { mode, digits } => match mode {
            DecimalMode::Double => Value::Float64(0.0),
            DecimalMode::String => Value::String(Dec::zero(*digits as i32).to_plain_string()),
            DecimalMode::Precise => Value::Bytes(Bytes::from(vec![0u8])),
        },
        Conv::Text => Value::String(String::new()),
        Conv::Binary(BinaryMode::Bytes) | Conv::Unknown(BinaryMode::Bytes) => {
            Value::Bytes(Bytes::new())
        }
        Conv::Binary(_) | Conv::Unknown(_) => Value::String(String::new()),
        Conv::Date(TimePrecisionMode::IsoString) => Value::String("1970-01-01Z".into()),
        Conv::Date(_) => Value::Int32(0),
        Conv::Time(TimeUnit::Iso) => Value::String("00:00:00Z".into()),
        Conv::Time(TimeUnit::Millis) => Value::Int32(0),
        Conv::Time(_) => Value::Int64(0),
        Conv::TimeTz => Value::String("00:00:00Z".into()),
        Conv::Timestamp(TimeUnit::Iso) | Conv::TimestampTz { .. } => {
            Value::String("1970-01-01T00:00:00Z".into())
        }
        Conv::Timestamp(_) => Value::Int64(0),
        Conv::Interval(IntervalMode::Numeric) => Value::Int64(0),
        Conv::Interval(IntervalMode::String) => Value::String("P0Y0M0DT0H0M0S".into()),
        Conv::Point => point_value(schema, 0.0, 0.0),
        Conv::Hstore(HstoreMode::Json) => Value::String("{}".into()),
        Conv::Hstore(HstoreMode::Map) => Value::Map(Vec::new()),
        Conv::Array { .. } => Value::Array(Vec::new()),
    }
}

/// The TOAST placeholder Debezium emits for an unchanged TOASTed column of declared type
/// `type_oid` (see `UnchangedToastedPlaceholder`). Where Debezium would emit a value that
/// does not match the field schema (numeric, other arrays) we emit null instead.
pub(crate) fn toast_placeholder(
    conv: &Conv,
    schema: &SchemaRef,
    type_name: &str,
    placeholder: &[u8],
) -> Value {
    use std::str::from_utf8;
    let text = String::from_utf8_lossy(placeholder).into_owned();
    let _ = from_utf8;
    let elem_kind = schema.value_schema.as_ref().map(|s| s.kind);
    match type_name {
        "_text" | "_varchar" | "_bpchar" | "_json" | "_jsonb" => {
            return Value::Array(vec![Value::String(text)]);
        }
        "_bytea" => {
            return Value::Array(vec![match elem_kind {
                Some(SchemaType::Bytes) => Value::Bytes(Bytes::copy_from_slice(placeholder)),
                _ => Value::String(text),
            }]);
        }
        "_int4" | "_date" if elem_kind == Some(SchemaType::Int32) => {
            return Value::Array(
                placeholder
                    .iter()
                    .map(|b| Value::Int32(i32::from(*b as i8)))
                    .collect(),
            );
        }
        "_int8" if elem_kind == Some(SchemaType::Int64) => {
            return Value::Array(
                placeholder
                    .iter()
                    .map(|b| Value::Int64(i64::from(*b as i8)))
                    .collect(),
            );
        }
        "_uuid" => return Value::Array(vec![Value::String(name_uuid(placeholder))]),
        "hstore" => {
            return match conv {
                Conv::Hstore(HstoreMode::Map) => {
                    Value::Map(vec![(Value::String(text.clone()), Value::String(text))])
                }
                _ => Value::String(hstore_json(&[(text.clone(), Some(text))])),
            };
        }
        _ => {}
    }
    match (conv, schema.kind) {
        (Conv::Binary(BinaryMode::Base64 | BinaryMode::Base64UrlSafe), _)
        | (Conv::Unknown(BinaryMode::Base64 | BinaryMode::Base64UrlSafe), _) => Value::Null,
        (_, SchemaType::String) => Value::String(text),
        (Conv::Binary(_) | Conv::Unknown(_), SchemaType::Bytes) => {
            Value::Bytes(Bytes::copy_from_slice(placeholder))
        }
        _ => Value::Null,
    }
}
