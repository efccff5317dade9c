//! `table.field.event.timestamp`: a column's value as epoch milliseconds.

use weir_connect_api::calendar::days_from_civil;
use weir_connect_api::schema::logical;
use weir_connect_api::{Schema, Value};

const DEBEZIUM_TIMESTAMP: &str = "io.debezium.time.Timestamp";
const DEBEZIUM_MICRO_TIMESTAMP: &str = "io.debezium.time.MicroTimestamp";
const DEBEZIUM_NANO_TIMESTAMP: &str = "io.debezium.time.NanoTimestamp";
const DEBEZIUM_ZONED_TIMESTAMP: &str = "io.debezium.time.ZonedTimestamp";

/// Milliseconds since the epoch from a timestamp column: Debezium's `Timestamp` (ms),
/// `MicroTimestamp` (µs) and `NanoTimestamp` (ns) as Debezium reads them, plus Connect's
/// `Timestamp` and `ZonedTimestamp` text (a `timestamptz` column), which Debezium rejects.
pub fn to_millis(schema: &Schema, value: &Value) -> Result<i64, String> {
    let name = schema.name.as_deref();
    match (name, value) {
        (Some(DEBEZIUM_TIMESTAMP | logical::TIMESTAMP), Value::Int64(v)) => Ok(*v),
        (Some(DEBEZIUM_MICRO_TIMESTAMP), Value::Int64(v)) => Ok(v.div_euclid(1_000)),
        (Some(DEBEZIUM_NANO_TIMESTAMP), Value::Int64(v)) => Ok(v.div_euclid(1_000_000)),
        (Some(DEBEZIUM_ZONED_TIMESTAMP), Value::String(text)) => parse_zoned(text)
            .ok_or_else(|| format!("{text:?} is not an ISO-8601 timestamp with an offset")),
        (None, _) => Err(format!(
            "unsupported field type {} (without logical schema name) for event timestamp",
            schema.kind
        )),
        (Some(other), _) => Err(format!(
            "unsupported field type {other} for event timestamp"
        )),
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)` as epoch milliseconds.
fn parse_zoned(text: &str) -> Option<i64> {
    let (date, rest) = text.split_once('T')?;
    let mut ymd = date.splitn(3, '-');
    let (y, m, d): (i64, u32, u32) = (
        ymd.next()?.parse().ok()?,
        ymd.next()?.parse().ok()?,
        ymd.next()?.parse().ok()?,
    );
    let zone_at = rest.find(['Z', '+', '-'])?;
    let (time, zone) = rest.split_at(zone_at);
    let offset_s = match zone {
        "Z" => 0,
        _ => {
            let sign = if zone.starts_with('-') { -1 } else { 1 };
            let (h, mi) = zone[1..].split_once(':')?;
            sign * (h.parse::<i64>().ok()? * 3600 + mi.parse::<i64>().ok()? * 60)
        }
    };
    let (hms, fraction) = time.split_once('.').unwrap_or((time, ""));
    let mut parts = hms.splitn(3, ':');
    let (h, mi, s): (i64, i64, i64) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    if !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let millis: i64 = format!("{fraction:0<3}")[..3].parse().ok()?;
    let days = days_from_civil(y, m, d);
    Some((days * 86_400 + h * 3600 + mi * 60 + s - offset_s) * 1000 + millis)
}

#[cfg(test)]
mod tests {
    use super::*;
    use weir_connect_api::SchemaBuilder;

    fn named(name: &str) -> Schema {
        (*SchemaBuilder::int64().name(name).build()).clone()
    }

    #[test]
    fn debezium_precisions_become_millis() {
        let v = Value::Int64(1_700_000_000_123_456);
        assert_eq!(
            to_millis(&named(DEBEZIUM_MICRO_TIMESTAMP), &v),
            Ok(1_700_000_000_123)
        );
        let v = Value::Int64(1_700_000_000_123);
        assert_eq!(
            to_millis(&named(DEBEZIUM_TIMESTAMP), &v),
            Ok(1_700_000_000_123)
        );
        let v = Value::Int64(1_700_000_000_123_456_789);
        assert_eq!(
            to_millis(&named(DEBEZIUM_NANO_TIMESTAMP), &v),
            Ok(1_700_000_000_123)
        );
        let plain = (*SchemaBuilder::int64().build()).clone();
        assert!(to_millis(&plain, &v).is_err());
    }

    #[test]
    fn zoned_text_parses_with_offsets() {
        assert_eq!(parse_zoned("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_zoned("2023-11-14T22:13:20.123456Z"),
            Some(1_700_000_000_123)
        );
        assert_eq!(
            parse_zoned("2023-11-15T00:13:20.5+02:00"),
            Some(1_700_000_000_500)
        );
        assert_eq!(parse_zoned("1969-12-31T23:59:59Z"), Some(-1000));
        assert_eq!(parse_zoned("2023-13-01T00:00:00Z"), None);
        assert_eq!(parse_zoned("yesterday"), None);
    }
}
