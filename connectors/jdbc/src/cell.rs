//! Column values: a Connect value read through its schema (Connect's logical types and
//! Debezium's semantic types) into a [`Cell`] the dialects bind, and the column type
//! ([`SqlType`]) a schema asks for when a table is created or evolved.

use bytes::Bytes;
use weir_connect_api::schema::logical;
use weir_connect_api::{Schema, SchemaType, Value, calendar, decimal};

/// A value ready to bind: what it means, not how a dialect writes it.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Bool(bool),
    Int(i64),
    Float32(f32),
    Float64(f64),
    Text(String),
    Bytes(Bytes),
    /// Plain decimal text (no exponent).
    Decimal(String),
    /// Days since 1970-01-01.
    Date(i64),
    /// Microseconds since midnight (up to 24:00:00).
    Time(i64),
    /// A wall-clock date-time (no zone), as microseconds since 1970-01-01T00:00.
    LocalDateTime(i64),
    /// An instant, as microseconds since the epoch; written in the sink's time zone.
    Instant(i64),
    /// A time of day with its zone, as Debezium's ZonedTime writes it (`10:15:30.5Z`).
    ZonedTime(String),
    Json(String),
    Uuid(String),
    /// A duration in microseconds (Debezium's MicroDuration).
    Micros(i64),
    /// An ISO-8601 duration (Debezium's Interval in string mode).
    IsoInterval(String),
    /// A bit string, most significant bit first (`"0101"`).
    Bits(String),
    Array(Vec<Cell>),
}

/// The column type a schema asks for (before a dialect names it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SqlType {
    Bool,
    Int8,
    Int16,
    Int32,
    Int64,
    Float32,
    Float64,
    Text,
    Bytes,
    Decimal {
        precision: Option<u32>,
        scale: Option<i32>,
    },
    Date,
    Time,
    Timestamp,
    TimestampTz,
    TimeTz,
    Json {
        binary: bool,
    },
    Uuid,
    Interval,
    Xml,
    Bits {
        length: Option<u32>,
    },
    Array(Box<SqlType>),
}

// Debezium's semantic type names.
const DBZ_DATE: &str = "io.debezium.time.Date";
const DBZ_TIME: &str = "io.debezium.time.Time";
const DBZ_MICRO_TIME: &str = "io.debezium.time.MicroTime";
const DBZ_NANO_TIME: &str = "io.debezium.time.NanoTime";
const DBZ_TIMESTAMP: &str = "io.debezium.time.Timestamp";
const DBZ_MICRO_TIMESTAMP: &str = "io.debezium.time.MicroTimestamp";
const DBZ_NANO_TIMESTAMP: &str = "io.debezium.time.NanoTimestamp";
const DBZ_ZONED_TIMESTAMP: &str = "io.debezium.time.ZonedTimestamp";
const DBZ_ZONED_TIME: &str = "io.debezium.time.ZonedTime";
const DBZ_ISO_DATE: &str = "io.debezium.time.IsoDate";
const DBZ_ISO_TIME: &str = "io.debezium.time.IsoTime";
const DBZ_ISO_TIMESTAMP: &str = "io.debezium.time.IsoTimestamp";
const DBZ_MICRO_DURATION: &str = "io.debezium.time.MicroDuration";
const DBZ_INTERVAL: &str = "io.debezium.time.Interval";
const DBZ_JSON: &str = "io.debezium.data.Json";
const DBZ_UUID: &str = "io.debezium.data.Uuid";
const DBZ_XML: &str = "io.debezium.data.Xml";
const DBZ_BITS: &str = "io.debezium.data.Bits";
const DBZ_VARIABLE_SCALE_DECIMAL: &str = "io.debezium.data.VariableScaleDecimal";
/// Set by a source with `column.propagate.source.type`.
const SOURCE_COLUMN_TYPE: &str = "__debezium.source.column.type";
const SOURCE_COLUMN_LENGTH: &str = "__debezium.source.column.length";
const DECIMAL_PRECISION: &str = "connect.decimal.precision";

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// The column type for a field of `schema`, or a sentence saying why it has none.
pub fn sql_type(schema: &Schema) -> Result<SqlType, String> {
    let name = schema.name.as_deref().unwrap_or_default();
    let source_type = schema
        .parameters
        .get(SOURCE_COLUMN_TYPE)
        .map(|t| t.to_ascii_uppercase());
    Ok(match name {
        logical::DECIMAL => SqlType::Decimal {
            precision: schema
                .parameters
                .get(DECIMAL_PRECISION)
                .and_then(|p| p.parse().ok())
                .or_else(|| {
                    schema
                        .parameters
                        .get(SOURCE_COLUMN_LENGTH)
                        .and_then(|p| p.parse().ok())
                }),
            scale: schema
                .parameters
                .get(logical::DECIMAL_SCALE)
                .and_then(|s| s.parse().ok()),
        },
        DBZ_VARIABLE_SCALE_DECIMAL => SqlType::Decimal {
            precision: None,
            scale: None,
        },
        logical::DATE | DBZ_DATE | DBZ_ISO_DATE => SqlType::Date,
        logical::TIME | DBZ_TIME | DBZ_MICRO_TIME | DBZ_NANO_TIME | DBZ_ISO_TIME => SqlType::Time,
        DBZ_TIMESTAMP | DBZ_MICRO_TIMESTAMP | DBZ_NANO_TIMESTAMP | DBZ_ISO_TIMESTAMP => {
            SqlType::Timestamp
        }
        logical::TIMESTAMP => SqlType::Timestamp,
        DBZ_ZONED_TIMESTAMP => SqlType::TimestampTz,
        DBZ_ZONED_TIME => SqlType::TimeTz,
        DBZ_JSON => SqlType::Json {
            binary: source_type.as_deref() == Some("JSONB"),
        },
        DBZ_UUID => SqlType::Uuid,
        DBZ_XML => SqlType::Xml,
        DBZ_MICRO_DURATION | DBZ_INTERVAL => SqlType::Interval,
        DBZ_BITS => SqlType::Bits {
            length: schema.parameters.get("length").and_then(|l| l.parse().ok()),
        },
        _ => match schema.kind {
            SchemaType::Int8 => SqlType::Int8,
            SchemaType::Int16 => SqlType::Int16,
            SchemaType::Int32 => SqlType::Int32,
            SchemaType::Int64 => SqlType::Int64,
            SchemaType::Float32 => SqlType::Float32,
            SchemaType::Float64 => SqlType::Float64,
            SchemaType::Boolean => SqlType::Bool,
            SchemaType::String => SqlType::Text,
            SchemaType::Bytes => SqlType::Bytes,
            SchemaType::Map => SqlType::Json { binary: true },
            SchemaType::Array => {
                let elements = schema
                    .value_schema
                    .as_deref()
                    .ok_or("an array schema without an element schema")?;
                SqlType::Array(Box::new(sql_type(elements)?))
            }
            SchemaType::Struct => {
                return Err(format!(
                    "Unsupported source data type: STRUCT{} (nested structs have no column type; flatten them first)",
                    if name.is_empty() {
                        String::new()
                    } else {
                        format!(" ({name})")
                    }
                ));
            }
        },
    })
}

/// Reads `value` through its field `schema` into a cell.
pub fn cell(schema: &Schema, value: &Value) -> Result<Cell, String> {
    if value.is_null() {
        return Ok(Cell::Null);
    }
    let name = schema.name.as_deref().unwrap_or_default();
    let wrong = || {
        format!(
            "a {} value does not match the field's schema {}",
            value.kind().map_or("null", SchemaType::name),
            if name.is_empty() {
                schema.kind.name()
            } else {
                name
            }
        )
    };
    Ok(match (name, value) {
        (logical::DECIMAL, Value::Bytes(b)) => {
            let scale: i32 = schema
                .parameters
                .get(logical::DECIMAL_SCALE)
                .and_then(|s| s.parse().ok())
                .ok_or("a Decimal schema without a scale parameter")?;
            let unscaled = decimal::minimal(b)?;
            Cell::Decimal(decimal::plain_string(&unscaled, scale))
        }
        (DBZ_VARIABLE_SCALE_DECIMAL, Value::Struct(s)) => {
            let scale = match s.get("scale") {
                Some(Value::Int32(scale)) => *scale,
                _ => return Err("a VariableScaleDecimal without its scale".into()),
            };
            match s.get("value") {
                Some(Value::Bytes(b)) => {
                    Cell::Decimal(decimal::plain_string(&decimal::minimal(b)?, scale))
                }
                _ => return Err("a VariableScaleDecimal without its value".into()),
            }
        }
        (logical::DATE | DBZ_DATE, Value::Int32(days)) => Cell::Date(i64::from(*days)),
        (logical::TIME | DBZ_TIME, Value::Int32(ms)) => Cell::Time(i64::from(*ms) * 1000),
        (DBZ_MICRO_TIME, Value::Int64(us)) => Cell::Time(*us),
        (DBZ_NANO_TIME, Value::Int64(ns)) => Cell::Time(ns.div_euclid(1000)),
        (logical::TIMESTAMP, Value::Int64(ms)) => Cell::Instant(ms.saturating_mul(1000)),
        (DBZ_TIMESTAMP, Value::Int64(ms)) => Cell::LocalDateTime(ms.saturating_mul(1000)),
        (DBZ_MICRO_TIMESTAMP, Value::Int64(us)) => Cell::LocalDateTime(*us),
        (DBZ_NANO_TIMESTAMP, Value::Int64(ns)) => Cell::LocalDateTime(ns.div_euclid(1000)),
        (DBZ_ZONED_TIMESTAMP | DBZ_ISO_TIMESTAMP, Value::String(s)) => Cell::Instant(
            parse_instant(s).ok_or_else(|| format!("{s:?} is not an ISO-8601 timestamp"))?,
        ),
        (DBZ_ISO_DATE, Value::String(s)) => {
            Cell::Date(parse_date(s).ok_or_else(|| format!("{s:?} is not an ISO-8601 date"))?)
        }
        (DBZ_ISO_TIME, Value::String(s)) => {
            Cell::Time(parse_time(s).ok_or_else(|| format!("{s:?} is not an ISO-8601 time"))?)
        }
        (DBZ_ZONED_TIME, Value::String(s)) => Cell::ZonedTime(s.clone()),
        (DBZ_JSON, Value::String(s)) => Cell::Json(s.clone()),
        (DBZ_UUID, Value::String(s)) => Cell::Uuid(s.clone()),
        (DBZ_MICRO_DURATION, Value::Int64(us)) => Cell::Micros(*us),
        (DBZ_INTERVAL, Value::String(s)) => Cell::IsoInterval(s.clone()),
        (DBZ_BITS, Value::Bytes(b)) => {
            let length = schema
                .parameters
                .get("length")
                .and_then(|l| l.parse::<usize>().ok())
                .unwrap_or(b.len() * 8);
            Cell::Bits(
                (0..length)
                    .rev()
                    .map(|i| {
                        let set = b.get(i / 8).is_some_and(|byte| byte & (1 << (i % 8)) != 0);
                        if set { '1' } else { '0' }
                    })
                    .collect(),
            )
        }
        (_, Value::Int8(v)) => Cell::Int(i64::from(*v)),
        (_, Value::Int16(v)) => Cell::Int(i64::from(*v)),
        (_, Value::Int32(v)) => Cell::Int(i64::from(*v)),
        (_, Value::Int64(v)) => Cell::Int(*v),
        (_, Value::Float32(v)) => Cell::Float32(*v),
        (_, Value::Float64(v)) => Cell::Float64(*v),
        (_, Value::Boolean(v)) => Cell::Bool(*v),
        (_, Value::String(v)) => Cell::Text(v.clone()),
        (_, Value::Bytes(v)) => Cell::Bytes(v.clone()),
        (_, Value::Array(items)) => {
            let elements = schema.value_schema.as_deref().ok_or_else(wrong)?;
            Cell::Array(
                items
                    .iter()
                    .map(|item| cell(elements, item))
                    .collect::<Result<_, _>>()?,
            )
        }
        (_, Value::Map(entries)) => Cell::Json(map_json(entries)?),
        (_, Value::Struct(_)) => return Err(sql_type(schema).err().unwrap_or_else(wrong)),
        (_, Value::Null) => Cell::Null,
    })
}

/// A map as a JSON object (keys as text).
fn map_json(entries: &[(Value, Value)]) -> Result<String, String> {
    let mut object = serde_json::Map::new();
    for (k, v) in entries {
        let key = match k {
            Value::String(s) => s.clone(),
            Value::Int8(_) | Value::Int16(_) | Value::Int32(_) | Value::Int64(_) => {
                plain_json(k)?.to_string()
            }
            other => {
                return Err(format!(
                    "a map with {} keys cannot be written as a JSON column",
                    other.kind().map_or("null", SchemaType::name)
                ));
            }
        };
        object.insert(key, plain_json(v)?);
    }
    Ok(serde_json::Value::Object(object).to_string())
}

fn plain_json(value: &Value) -> Result<serde_json::Value, String> {
    use serde_json::Value as J;
    Ok(match value {
        Value::Null => J::Null,
        Value::Int8(v) => J::from(*v),
        Value::Int16(v) => J::from(*v),
        Value::Int32(v) => J::from(*v),
        Value::Int64(v) => J::from(*v),
        Value::Float32(v) => J::from(f64::from(*v)),
        Value::Float64(v) => J::from(*v),
        Value::Boolean(v) => J::from(*v),
        Value::String(v) => J::from(v.as_str()),
        Value::Bytes(b) => J::from(String::from_utf8_lossy(b).into_owned()),
        Value::Array(items) => J::Array(items.iter().map(plain_json).collect::<Result<_, _>>()?),
        Value::Map(entries) => {
            serde_json::from_str(&map_json(entries)?).map_err(|e| e.to_string())?
        }
        Value::Struct(s) => {
            let mut object = serde_json::Map::new();
            for (field, v) in s.iter() {
                object.insert(field.name.clone(), plain_json(v)?);
            }
            J::Object(object)
        }
    })
}

/// Whether `value` is the source's placeholder for an unchanged TOASTed column, in any of
/// the shapes Debezium writes it: the text, its bytes, a one-element array of either, or an
/// integer array of its bytes.
pub fn is_placeholder(value: &Value, placeholder: &[u8]) -> bool {
    match value {
        Value::String(s) => s.as_bytes() == placeholder,
        Value::Bytes(b) => b.as_ref() == placeholder,
        Value::Array(items) => match items.as_slice() {
            [Value::String(_) | Value::Bytes(_)] => is_placeholder(&items[0], placeholder),
            items if !items.is_empty() && items.len() == placeholder.len() => {
                items.iter().zip(placeholder).all(|(item, b)| match item {
                    Value::Int32(v) => *v == i32::from(*b as i8),
                    Value::Int64(v) => *v == i64::from(*b as i8),
                    _ => false,
                })
            }
            _ => false,
        },
        Value::Map(entries) => matches!(entries.as_slice(),
            [(Value::String(k), Value::String(v))] if k.as_bytes() == placeholder && v.as_bytes() == placeholder),
        _ => false,
    }
}

/// `YYYY-MM-DD` of a day count (astronomical years; `BC` years as PostgreSQL writes them
/// are the dialect's business).
pub fn date_text(days: i64) -> String {
    let (y, m, d) = calendar::civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `HH:MM:SS[.ffffff]` of microseconds since midnight (24:00:00 allowed).
pub fn time_text(micros: i64) -> String {
    let micros = micros.clamp(0, MICROS_PER_DAY);
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let base = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
    if frac == 0 {
        base
    } else {
        format!("{base}.{frac:06}")
    }
}

/// Splits microseconds since the epoch into (days, microseconds of the day).
pub fn split_micros(micros: i64) -> (i64, i64) {
    (
        micros.div_euclid(MICROS_PER_DAY),
        micros.rem_euclid(MICROS_PER_DAY),
    )
}

/// `YYYY-MM-DD HH:MM:SS[.ffffff]` of a wall-clock date-time.
pub fn local_text(micros: i64) -> String {
    let (days, time) = split_micros(micros);
    format!("{} {}", date_text(days), time_text(time))
}

/// The wall-clock time of an instant in `tz`, as microseconds since 1970-01-01T00:00, with
/// the zone's offset in seconds.
pub fn to_local(micros: i64, tz: &jiff::tz::TimeZone) -> (i64, i32) {
    let seconds = micros.div_euclid(1_000_000);
    let offset = jiff::Timestamp::from_second(seconds)
        .map(|ts| tz.to_offset(ts).seconds())
        .unwrap_or(0);
    (micros + i64::from(offset) * 1_000_000, offset)
}

/// `+HH:MM` of an offset in seconds.
pub fn offset_text(seconds: i32) -> String {
    let sign = if seconds < 0 { '-' } else { '+' };
    let s = seconds.unsigned_abs();
    format!("{sign}{:02}:{:02}", s / 3600, s / 60 % 60)
}

fn parse_instant(text: &str) -> Option<i64> {
    let ts: jiff::Timestamp = text.trim().parse().ok()?;
    Some(ts.as_microsecond())
}

fn parse_date(text: &str) -> Option<i64> {
    let date: jiff::civil::Date = text.trim().trim_end_matches('Z').parse().ok()?;
    Some(calendar::days_from_civil(
        i64::from(date.year()),
        date.month() as u32,
        date.day() as u32,
    ))
}

fn parse_time(text: &str) -> Option<i64> {
    let time: jiff::civil::Time = text.trim().trim_end_matches('Z').parse().ok()?;
    Some(
        i64::from(time.hour()) * 3_600_000_000
            + i64::from(time.minute()) * 60_000_000
            + i64::from(time.second()) * 1_000_000
            + i64::from(time.subsec_nanosecond()) / 1000,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_connect_api::SchemaBuilder;

    fn named(kind: SchemaBuilder, name: &str) -> Schema {
        (*kind.name(name).build()).clone()
    }

    #[test]
    fn debezium_semantic_types_become_cells() {
        let dec = (*logical::decimal(2).build()).clone();
        assert_eq!(
            cell(&dec, &Value::Bytes(Bytes::from_static(&[0x30, 0x39]))),
            Ok(Cell::Decimal("123.45".into()))
        );
        let micro_ts = named(SchemaBuilder::int64(), DBZ_MICRO_TIMESTAMP);
        assert_eq!(
            cell(&micro_ts, &Value::Int64(1_500_000)),
            Ok(Cell::LocalDateTime(1_500_000))
        );
        let zoned = named(SchemaBuilder::string(), DBZ_ZONED_TIMESTAMP);
        assert_eq!(
            cell(&zoned, &Value::String("2024-03-01T10:00:00.5+02:00".into())),
            Ok(Cell::Instant(1_709_280_000_500_000))
        );
        assert!(cell(&zoned, &Value::String("yesterday".into())).is_err());
        let bits = (*SchemaBuilder::bytes()
            .name(DBZ_BITS)
            .parameter("length", "4")
            .build())
        .clone();
        assert_eq!(
            cell(&bits, &Value::Bytes(Bytes::from_static(&[0b0101]))),
            Ok(Cell::Bits("0101".into()))
        );
        let nano_time = named(SchemaBuilder::int64(), DBZ_NANO_TIME);
        assert_eq!(
            cell(&nano_time, &Value::Int64(1_000_000_500)),
            Ok(Cell::Time(1_000_000))
        );
        let date = (*logical::date().build()).clone();
        assert_eq!(cell(&date, &Value::Int32(-1)), Ok(Cell::Date(-1)));
    }

    #[test]
    fn column_types_follow_the_schema() {
        let dec = (*logical::decimal(3)
            .parameter(DECIMAL_PRECISION, "12")
            .build())
        .clone();
        assert_eq!(
            sql_type(&dec),
            Ok(SqlType::Decimal {
                precision: Some(12),
                scale: Some(3)
            })
        );
        let arr = (*SchemaBuilder::array(SchemaBuilder::int32().build()).build()).clone();
        assert_eq!(sql_type(&arr), Ok(SqlType::Array(Box::new(SqlType::Int32))));
        let json = (*SchemaBuilder::string()
            .name(DBZ_JSON)
            .parameter(SOURCE_COLUMN_TYPE, "jsonb")
            .build())
        .clone();
        assert_eq!(sql_type(&json), Ok(SqlType::Json { binary: true }));
        let nested = (*SchemaBuilder::structure()
            .field("a", SchemaBuilder::int32().build())
            .build())
        .clone();
        assert!(sql_type(&nested).is_err_and(|e| e.contains("STRUCT")));
    }

    #[test]
    fn placeholders_in_every_shape() {
        let p = b"__debezium_unavailable_value";
        let text = Value::String("__debezium_unavailable_value".into());
        assert!(is_placeholder(&text, p));
        assert!(is_placeholder(&Value::Array(vec![text.clone()]), p));
        assert!(is_placeholder(&Value::Bytes(Bytes::from_static(p)), p));
        let ints = Value::Array(
            p.iter()
                .map(|b| Value::Int32(i32::from(*b as i8)))
                .collect(),
        );
        assert!(is_placeholder(&ints, p));
        assert!(!is_placeholder(&Value::String("real".into()), p));
        assert!(!is_placeholder(&Value::Int32(5), p));
    }

    #[test]
    fn temporal_text() {
        assert_eq!(date_text(19_000), "2022-01-08");
        assert_eq!(time_text(3_723_000_001), "01:02:03.000001");
        assert_eq!(time_text(MICROS_PER_DAY), "24:00:00");
        assert_eq!(local_text(-1), "1969-12-31 23:59:59.999999");
        let paris = jiff::tz::TimeZone::get("Europe/Paris").expect("zone");
        assert_eq!(to_local(0, &paris), (3_600_000_000, 3600));
        assert_eq!(offset_text(-16_200), "-04:30");
    }
}
