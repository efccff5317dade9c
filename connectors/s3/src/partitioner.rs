//! Confluent's partitioners (`io.confluent.connect.storage.partitioner.*`): the encoded
//! partition of a record, the directory its file goes to.
//!
//! - `DefaultPartitioner`: `partition=<kafka partition>`.
//! - `FieldPartitioner`: `<field>=<value>` per `partition.field.name`, joined by
//!   `directory.delim`.
//! - `TimeBasedPartitioner` (and `DailyPartitioner`, `HourlyPartitioner`): the record's time
//!   (from `timestamp.extractor`) rounded down to `partition.duration.ms` in `timezone`, then
//!   printed with the Joda pattern `path.format`.

use weir_connect_api::config::{ConfigError, ParsedConfig, Validator};
use weir_connect_api::schema::logical;
use weir_connect_api::{ConfigDef, ConfigType, ConnectRecord, DataError, Importance, Value};

use crate::config::string_of;
use crate::joda::JodaPattern;

pub const PARTITIONER_CLASS: &str = "partitioner.class";
pub const PARTITION_FIELD_NAME: &str = "partition.field.name";
pub const PATH_FORMAT: &str = "path.format";
pub const PARTITION_DURATION_MS: &str = "partition.duration.ms";
pub const LOCALE: &str = "locale";
pub const TIMEZONE: &str = "timezone";
pub const TIMESTAMP_EXTRACTOR: &str = "timestamp.extractor";
pub const TIMESTAMP_FIELD: &str = "timestamp.field";

const PACKAGE: &str = "io.confluent.connect.storage.partitioner.";
const DAILY_FORMAT: &str = "'year'=YYYY/'month'=MM/'day'=dd";
const HOURLY_FORMAT: &str = "'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH";
const DAY_MS: i64 = 24 * 60 * 60 * 1000;
const HOUR_MS: i64 = 60 * 60 * 1000;

/// Where a time-based partitioner takes a record's time from (`timestamp.extractor`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Extractor {
    /// The worker's clock when the record is written.
    Wallclock,
    /// The Kafka record's timestamp.
    Record,
    /// A field of the value (`timestamp.field`, nested with dots).
    RecordField(Vec<String>),
}

/// The partitioner of `partitioner.class`.
#[derive(Debug, Clone)]
pub enum Kind {
    Default,
    Field(Vec<String>),
    Time {
        duration_ms: i64,
        format: JodaPattern,
    },
}

/// The parsed partitioner keys.
#[derive(Debug, Clone)]
pub struct PartitionerSettings {
    pub kind: Kind,
    pub timezone: Option<jiff::tz::TimeZone>,
    pub extractor: Extractor,
}

pub fn partitioner_def() -> ConfigDef {
    use ConfigType::*;
    use Importance::*;
    ConfigDef::new()
        .define(PARTITIONER_CLASS, Class, Some("io.confluent.connect.storage.partitioner.DefaultPartitioner"), High, "The partitioner to use when writing data to the store. You can use ``DefaultPartitioner``, which preserves the Kafka partitions; ``FieldPartitioner``, which partitions the data to different directories according to the value of the partitioning field specified in ``partition.field.name``; ``TimeBasedPartitioner``, which partitions data according to ingestion time.")
        .define(PARTITION_FIELD_NAME, List, Some(""), Medium, "The name of the partitioning field when FieldPartitioner is used.")
        .define(PATH_FORMAT, String, Some(""), Medium, "This configuration is used to set the format of the data directories when partitioning with ``TimeBasedPartitioner``. The format set in this configuration converts the Unix timestamp to proper directories strings. For example, if you set ``path.format='year'=YYYY/'month'=MM/'day'=dd/'hour'=HH``, the data directories will have the format ``/year=2015/month=12/day=07/hour=15/``.")
        .define(PARTITION_DURATION_MS, Long, Some("-1"), Medium, "The duration of a partition milliseconds used by ``TimeBasedPartitioner``. The default value -1 means that we are not using ``TimeBasedPartitioner``.")
        .define(LOCALE, String, Some(""), Medium, "The locale to use when partitioning with ``TimeBasedPartitioner``. Used to format dates and times. For example, use ``en-US`` for US English, ``en-GB`` for UK English, ``fr-FR`` for French (in France). These may vary by Java version. See the `available locales <http://www.oracle.com/technetwork/java/javase/java8locales-2095355.html>`__.")
        .define(TIMEZONE, String, Some(""), Medium, "The timezone to use when partitioning with ``TimeBasedPartitioner``. Used to format and compute dates and times. All timezone IDs must be specified in the long format, such as ``America/Los_Angeles``, ``America/New_York``, and ``Europe/Paris``, or ``UTC``.")
        .define(TIMESTAMP_EXTRACTOR, String, Some("Wallclock"), Medium, "The extractor that gets the timestamp for records when partitioning with ``TimeBasedPartitioner``. It can be set to ``Wallclock``, ``Record`` or ``RecordField`` in order to use one of the built-in timestamp extractors or be given the fully-qualified class name of a user-defined class that extends the ``TimestampExtractor`` interface.")
        .define(TIMESTAMP_FIELD, String, Some("timestamp"), Medium, "The record field to be used as timestamp by the timestamp extractor.")
        .with_validator(Validator::NonEmptyString)
}

impl PartitionerSettings {
    /// The partitioner keys; problems are added to `errors`.
    pub fn parse(p: &ParsedConfig, errors: &mut Vec<ConfigError>) -> Option<Self> {
        let class = string_of(p, PARTITIONER_CLASS);
        let simple = class.strip_prefix(PACKAGE).unwrap_or(&class);
        let before = errors.len();
        let timezone = match string_of(p, TIMEZONE).trim() {
            "" => None,
            zone => match timezone(zone) {
                Ok(tz) => Some(tz),
                Err(message) => {
                    errors.push(ConfigError::new(TIMEZONE, message));
                    None
                }
            },
        };
        let extractor = extractor(p, errors);
        let kind = match simple {
            "DefaultPartitioner" => Kind::Default,
            "FieldPartitioner" => {
                let fields = p.list(PARTITION_FIELD_NAME).unwrap_or_default().to_vec();
                if fields.is_empty() {
                    errors.push(ConfigError::new(
                        PARTITION_FIELD_NAME,
                        format!("FieldPartitioner requires {PARTITION_FIELD_NAME}"),
                    ));
                }
                Kind::Field(fields)
            }
            "DailyPartitioner" | "HourlyPartitioner" => {
                let (duration_ms, pattern) = if simple == "DailyPartitioner" {
                    (DAY_MS, DAILY_FORMAT)
                } else {
                    (HOUR_MS, HOURLY_FORMAT)
                };
                time_keys_present(p, false, errors);
                Kind::Time {
                    duration_ms,
                    format: JodaPattern::parse(pattern).unwrap_or_default(),
                }
            }
            "TimeBasedPartitioner" => {
                time_keys_present(p, true, errors);
                let format = match JodaPattern::parse(&string_of(p, PATH_FORMAT)) {
                    Ok(f) => f,
                    Err(message) => {
                        errors.push(ConfigError::new(PATH_FORMAT, message));
                        JodaPattern::default()
                    }
                };
                Kind::Time {
                    duration_ms: p.int(PARTITION_DURATION_MS).unwrap_or(-1),
                    format,
                }
            }
            _ => {
                errors.push(ConfigError::new(
                    PARTITIONER_CLASS,
                    format!(
                        "Invalid value {class} for configuration {PARTITIONER_CLASS}: weir knows DefaultPartitioner, FieldPartitioner, TimeBasedPartitioner, DailyPartitioner and HourlyPartitioner (package {PACKAGE})"
                    ),
                ));
                Kind::Default
            }
        };
        (errors.len() == before).then_some(PartitionerSettings {
            kind,
            timezone,
            extractor,
        })
    }

    /// Whether the partition depends on the record's time.
    pub fn is_time_based(&self) -> bool {
        matches!(self.kind, Kind::Time { .. })
    }

    /// The encoded partition of a record (`partition=3`, `region=EU`,
    /// `year=2024/month=05`); `delim` joins field partitions.
    pub fn encode(
        &self,
        record: &ConnectRecord,
        delim: &str,
        now_ms: i64,
    ) -> Result<String, DataError> {
        match &self.kind {
            Kind::Default => Ok(format!(
                "partition={}",
                record.kafka_partition.unwrap_or_default()
            )),
            Kind::Field(fields) => {
                let mut parts = Vec::with_capacity(fields.len());
                for name in fields {
                    let value = field_value(&record.value, name)?;
                    parts.push(format!("{name}={}", field_text(name, value)?));
                }
                Ok(parts.join(delim))
            }
            Kind::Time {
                duration_ms,
                format,
            } => {
                let tz = self.timezone.clone().unwrap_or(jiff::tz::TimeZone::UTC);
                let ts = self.timestamp(record, now_ms)?;
                let bucket = bucket_start(*duration_ms, ts, &tz);
                format.print(bucket, &tz).map_err(DataError::new)
            }
        }
    }

    /// The record's time per `timestamp.extractor` (ms since the epoch).
    pub fn timestamp(&self, record: &ConnectRecord, now_ms: i64) -> Result<i64, DataError> {
        match &self.extractor {
            Extractor::Wallclock => Ok(now_ms),
            Extractor::Record => record.timestamp.ok_or_else(|| {
                DataError::new(format!(
                    "Unable to determine timestamp using timestamp.extractor Record for record of {}-{} at offset {}: the record has no timestamp",
                    record.topic,
                    record.kafka_partition.unwrap_or_default(),
                    record.kafka_offset.unwrap_or_default()
                ))
            }),
            Extractor::RecordField(path) => field_timestamp(&record.value, path),
        }
    }
}

/// `partition.duration.ms` bucket of `ts`, rounded in local time of `tz` (Confluent's
/// `TimeBasedPartitioner.getPartition`).
pub fn bucket_start(duration_ms: i64, ts: i64, tz: &jiff::tz::TimeZone) -> i64 {
    let offset_of = |ms: i64| {
        jiff::Timestamp::from_millisecond(ms)
            .map(|t| i64::from(tz.to_offset(t).seconds()) * 1000)
            .unwrap_or(0)
    };
    let local = ts + offset_of(ts);
    // Java's `/` truncates toward zero.
    let floored = (local / duration_ms) * duration_ms;
    // Joda's convertLocalToUTC(strict=false): the offset at the local instant, then once
    // more at the estimated UTC instant.
    let guess = floored - offset_of(floored);
    floored - offset_of(guess)
}

fn timezone(zone: &str) -> Result<jiff::tz::TimeZone, String> {
    if zone == "UTC" || zone == "Z" {
        return Ok(jiff::tz::TimeZone::UTC);
    }
    jiff::tz::TimeZone::get(zone).map_err(|e| format!("Invalid timezone {zone:?}: {e}"))
}

fn extractor(p: &ParsedConfig, errors: &mut Vec<ConfigError>) -> Extractor {
    let class = string_of(p, TIMESTAMP_EXTRACTOR);
    let simple = class
        .rsplit(['.', '$'])
        .next()
        .unwrap_or(&class)
        .trim_end_matches("TimestampExtractor");
    match simple {
        "Wallclock" => Extractor::Wallclock,
        "Record" => Extractor::Record,
        "RecordField" => Extractor::RecordField(
            string_of(p, TIMESTAMP_FIELD)
                .split('.')
                .map(str::to_string)
                .collect(),
        ),
        _ => {
            errors.push(ConfigError::new(
                TIMESTAMP_EXTRACTOR,
                format!(
                    "Invalid value {class} for configuration {TIMESTAMP_EXTRACTOR}: expected Wallclock, Record or RecordField"
                ),
            ));
            Extractor::Wallclock
        }
    }
}

/// TimeBasedPartitioner's required keys (`path.format` and `partition.duration.ms` only
/// when `explicit`; Daily and Hourly fix them).
fn time_keys_present(p: &ParsedConfig, explicit: bool, errors: &mut Vec<ConfigError>) {
    if explicit {
        if string_of(p, PATH_FORMAT).trim().is_empty() {
            errors.push(ConfigError::new(
                PATH_FORMAT,
                format!("Path format cannot be empty. Set {PATH_FORMAT} for TimeBasedPartitioner"),
            ));
        }
        if p.int(PARTITION_DURATION_MS).unwrap_or(-1) <= 0 {
            errors.push(ConfigError::new(
                PARTITION_DURATION_MS,
                format!("{PARTITION_DURATION_MS} must be positive for TimeBasedPartitioner"),
            ));
        }
    }
    for key in [LOCALE, TIMEZONE] {
        if string_of(p, key).trim().is_empty() {
            errors.push(ConfigError::new(
                key,
                format!(
                    "{key} must be set for time-based partitioners (e.g. {})",
                    if key == LOCALE { "en-US" } else { "UTC" }
                ),
            ));
        }
    }
}

/// A field of a struct value, nested with dots (`address.country`), for FieldPartitioner.
/// Maps (schemaless JSON) are read too, which Confluent's FieldPartitioner refuses.
fn field_value<'a>(value: &'a Value, name: &str) -> Result<&'a Value, DataError> {
    let mut current = value;
    for segment in name.split('.') {
        current = match current {
            Value::Struct(s) => {
                if s.schema().field(segment).is_none() {
                    return Err(DataError::new(format!(
                        "FieldPartitioner: Field '{name}' is not present in the schema (partition.field.name)"
                    )));
                }
                s.get(segment).unwrap_or(&Value::Null)
            }
            Value::Map(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == Some(segment))
                .map_or(&Value::Null, |(_, v)| v),
            Value::Null => &Value::Null,
            other => {
                return Err(DataError::new(format!(
                    "FieldPartitioner: field {name:?} needs a struct (or map) value, found {}",
                    kind_name(other)
                )));
            }
        };
    }
    Ok(current)
}

/// A partition field's text: numbers, strings and booleans as Java prints them; `null`.
fn field_text(name: &str, value: &Value) -> Result<String, DataError> {
    Ok(match value {
        Value::Null => "null".into(),
        Value::Int8(n) => n.to_string(),
        Value::Int16(n) => n.to_string(),
        Value::Int32(n) => n.to_string(),
        Value::Int64(n) => n.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::String(s) => s.clone(),
        other => {
            return Err(DataError::new(format!(
                "FieldPartitioner: field {name:?} is {}; only numbers, strings and booleans can partition",
                kind_name(other)
            )));
        }
    })
}

/// RecordFieldTimestampExtractor: a long (ms), a Date/Timestamp, or an ISO-8601 string.
fn field_timestamp(value: &Value, path: &[String]) -> Result<i64, DataError> {
    let dotted = path.join(".");
    let mut current = value;
    // The logical name of the current field's schema (Connect's Date is int32 days).
    let mut logical_name: Option<String> = None;
    for segment in path {
        current = match current {
            Value::Struct(s) => {
                logical_name = s
                    .schema()
                    .field(segment)
                    .and_then(|f| f.schema.name.clone());
                s.get(segment).unwrap_or(&Value::Null)
            }
            Value::Map(entries) => {
                logical_name = None;
                entries
                    .iter()
                    .find(|(k, _)| k.as_str() == Some(segment))
                    .map_or(&Value::Null, |(_, v)| v)
            }
            other => {
                return Err(DataError::new(format!(
                    "Unable to extract timestamp.field {dotted:?}: {} has no fields",
                    kind_name(other)
                )));
            }
        };
    }
    match current {
        Value::Int64(ms) => Ok(*ms),
        // Connect's Date is days since the epoch (Confluent's extractor cannot read it).
        Value::Int32(days) if logical_name.as_deref() == Some(logical::DATE) => {
            Ok(i64::from(*days) * DAY_MS)
        }
        // As Confluent's: any other int is milliseconds.
        Value::Int32(ms) => Ok(i64::from(*ms)),
        Value::String(text) => parse_iso(text).ok_or_else(|| {
            DataError::new(format!(
                "Unable to parse timestamp.field {dotted:?} value {text:?} as an ISO-8601 date-time"
            ))
        }),
        Value::Null => Err(DataError::new(format!(
            "Unable to extract timestamp.field {dotted:?}: the field is missing or null"
        ))),
        other => Err(DataError::new(format!(
            "Unable to extract timestamp.field {dotted:?}: unsupported type {}; expected a long, a Date/Timestamp or a string",
            kind_name(other)
        ))),
    }
}

/// Milliseconds as digits (Confluent's `^-?[0-9]{1,19}$`), else an ISO-8601 date-time
/// (with offset, or UTC when it has none) or date.
fn parse_iso(text: &str) -> Option<i64> {
    let text = text.trim();
    let digits = text.strip_prefix('-').unwrap_or(text);
    if (1..=19).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    if let Ok(ts) = text.parse::<jiff::Timestamp>() {
        return Some(ts.as_millisecond());
    }
    if let Ok(dt) = text.parse::<jiff::civil::DateTime>() {
        return dt
            .to_zoned(jiff::tz::TimeZone::UTC)
            .ok()
            .map(|z| z.timestamp().as_millisecond());
    }
    text.parse::<jiff::civil::Date>()
        .ok()?
        .to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

fn kind_name(value: &Value) -> String {
    value
        .kind()
        .map_or_else(|| "null".to_string(), |k| k.name().to_string())
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use weir_connect_api::{ConfigMap, SchemaBuilder, Struct};

    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<PartitionerSettings, Vec<ConfigError>> {
        let config: ConfigMap = pairs
            .iter()
            .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
            .collect();
        let parsed = partitioner_def().parse(&config)?;
        let mut errors = Vec::new();
        PartitionerSettings::parse(&parsed, &mut errors).ok_or(errors)
    }

    fn record(value: Value, ts: Option<i64>) -> ConnectRecord {
        let mut r = ConnectRecord::new("t", None, Value::Null, None, value);
        r.kafka_partition = Some(3);
        r.timestamp = ts;
        r
    }

    #[test]
    fn default_field_and_time_encodings() {
        let default = settings(&[]).expect("defaults");
        assert_eq!(
            default
                .encode(&record(Value::Null, None), "/", 0)
                .expect("p"),
            "partition=3"
        );

        let address = SchemaBuilder::structure()
            .field("country", SchemaBuilder::string().build())
            .build();
        let schema = SchemaBuilder::structure()
            .field("region", SchemaBuilder::string().build())
            .field("n", SchemaBuilder::int32().optional().build())
            .field("address", Arc::clone(&address))
            .build();
        let mut a = Struct::new(address);
        a.put("country", Value::String("FR".into()))
            .expect("country");
        let mut v = Struct::new(schema);
        v.put("region", Value::String("EU".into())).expect("region");
        v.put("address", Value::Struct(a)).expect("address");
        let field = settings(&[
            (
                "partitioner.class",
                "io.confluent.connect.storage.partitioner.FieldPartitioner",
            ),
            ("partition.field.name", "region,n,address.country"),
        ])
        .expect("field");
        assert_eq!(
            field
                .encode(&record(Value::Struct(v.clone()), None), "/", 0)
                .expect("p"),
            "region=EU/n=null/address.country=FR"
        );
        let missing = settings(&[
            ("partitioner.class", "FieldPartitioner"),
            ("partition.field.name", "nope"),
        ])
        .expect("field");
        let e = missing
            .encode(&record(Value::Struct(v), None), "/", 0)
            .expect_err("missing");
        assert!(e.to_string().contains("Field 'nope' is not present"), "{e}");

        let hourly = settings(&[
            ("partitioner.class", "HourlyPartitioner"),
            ("locale", "en-US"),
            ("timezone", "America/New_York"),
            ("timestamp.extractor", "Record"),
        ])
        .expect("hourly");
        // 2024-05-01T13:45:06Z is 09:45 in New York.
        let r = record(Value::Null, Some(1_714_571_106_000));
        assert_eq!(
            hourly.encode(&r, "/", 0).expect("p"),
            "year=2024/month=05/day=01/hour=09"
        );
        let e = hourly
            .encode(&record(Value::Null, None), "/", 0)
            .expect_err("no timestamp");
        assert!(
            e.to_string().contains("Unable to determine timestamp"),
            "{e}"
        );
    }

    #[test]
    fn record_field_timestamps() {
        let by_field = settings(&[
            ("partitioner.class", "DailyPartitioner"),
            ("locale", "en-US"),
            ("timezone", "UTC"),
            ("timestamp.extractor", "RecordField"),
            ("timestamp.field", "meta.at"),
        ])
        .expect("daily");
        let at = |v: Value| {
            let r = record(
                Value::Map(vec![(
                    Value::String("meta".into()),
                    Value::Map(vec![(Value::String("at".into()), v)]),
                )]),
                None,
            );
            by_field.encode(&r, "/", 0)
        };
        let day = "year=2024/month=05/day=01";
        assert_eq!(at(Value::Int64(1_714_571_106_000)).expect("long"), day);
        assert_eq!(
            at(Value::String("1714571106000".into())).expect("digits"),
            day
        );
        assert_eq!(
            at(Value::String("2024-05-01T23:59:59+00:00".into())).expect("iso"),
            day
        );
        assert_eq!(at(Value::String("2024-05-01".into())).expect("date"), day);
        let e = at(Value::String("yesterday".into())).expect_err("bad text");
        assert!(e.to_string().contains("\"yesterday\""), "{e}");
        let e = at(Value::Boolean(true)).expect_err("bad type");
        assert!(e.to_string().contains("unsupported type boolean"), "{e}");
    }

    #[test]
    fn missing_time_keys_are_named() {
        let errors =
            settings(&[("partitioner.class", "TimeBasedPartitioner")]).expect_err("incomplete");
        let keys: Vec<&str> = errors.iter().map(|e| e.key.as_str()).collect();
        assert_eq!(
            keys,
            ["path.format", "partition.duration.ms", "locale", "timezone"]
        );
        let errors = settings(&[
            ("partitioner.class", "HourlyPartitioner"),
            ("locale", "en-US"),
            ("timezone", "Mars/Olympus"),
        ])
        .expect_err("bad zone");
        assert!(
            errors[0]
                .message
                .contains("Invalid timezone \"Mars/Olympus\""),
            "{errors:?}"
        );
        let errors = settings(&[("partitioner.class", "RandomPartitioner")]).expect_err("unknown");
        assert_eq!(errors[0].key, "partitioner.class");
    }
}
