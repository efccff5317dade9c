//! `TimestampRouter`: renames the topic from `topic.format` (`${topic}-${timestamp}`) with
//! the record timestamp formatted by `timestamp.format` (a Java `SimpleDateFormat`, in UTC).
//!
//! The formatter (the connector API's `date_format`) covers the pattern letters topic names use: `y`, `M`
//! (numeric, or `MMM` / `MMMM` names), `d`, `H`, `m`, `s`, `S`, with `'quoted'` literals.

use weir_connect_api::date_format::{DateFields, DatePattern, Dialect};
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, DataError, Importance, Result, Transform,
};

use super::util;

/// Parses a `SimpleDateFormat` pattern, rejecting letters this formatter does not know.
fn parse_pattern(pattern: &str) -> std::result::Result<DatePattern, String> {
    DatePattern::parse(pattern, Dialect::SimpleDateFormat)
}

fn format(pattern: &DatePattern, millis: i64) -> String {
    pattern.format(&DateFields::utc(millis))
}

/// Formats `millis` with a fixed, known-valid pattern (Cast's ISO 8601 date strings).
pub(crate) fn format_with(pattern: &str, millis: i64) -> String {
    parse_pattern(pattern).map_or_else(|_| millis.to_string(), |t| format(&t, millis))
}

#[derive(Debug, Default)]
pub struct TimestampRouter {
    topic_format: String,
    timestamp_format: DatePattern,
}

impl Transform for TimestampRouter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "topic.format",
                ConfigType::String,
                Some("${topic}-${timestamp}"),
                Importance::High,
                "Format string which can contain <code>${topic}</code> and <code>${timestamp}</code> as placeholders for the topic and timestamp, respectively.",
            )
            .define(
                "timestamp.format",
                ConfigType::String,
                Some("yyyyMMdd"),
                Importance::High,
                "Format string for the timestamp that is compatible with <code>java.text.SimpleDateFormat</code>.",
            )
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.topic_format = c.string("topic.format").unwrap_or_default().to_string();
        let pattern = c.string("timestamp.format").unwrap_or_default();
        self.timestamp_format =
            parse_pattern(pattern).map_err(|e| util::invalid("timestamp.format", pattern, &e))?;
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        let ts = record.timestamp.ok_or_else(|| {
            DataError::new(format!(
                "Timestamp missing on record: topic {} partition {:?}",
                record.topic, record.kafka_partition
            ))
        })?;
        let formatted = format(&self.timestamp_format, ts);
        record.topic = self
            .topic_format
            .replace("${topic}", &record.topic)
            .replace("${timestamp}", &formatted);
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::util::testing::*;
    use weir_connect_api::Value;

    #[test]
    fn bad_patterns_are_config_errors() {
        assert_eq!(
            parse_pattern("yyyyQ"),
            Err("Illegal pattern character 'Q'".into())
        );
        assert_eq!(
            format(&parse_pattern("yyyy-MM-dd").expect("valid"), -1),
            "1969-12-31"
        );
    }

    #[test]
    fn routes_by_record_timestamp() {
        let t = configured(TimestampRouter::default(), &[]);
        let mut r = schemaless(Value::Null);
        r.topic = "test".into();
        r.timestamp = Some(1_483_425_001_864);
        assert_eq!(apply(&t, r.clone()).topic, "test-20170103");
        let t = configured(
            TimestampRouter::default(),
            &[
                ("topic.format", "${timestamp}/${topic}"),
                ("timestamp.format", "yyyy-MM"),
            ],
        );
        assert_eq!(apply(&t, r.clone()).topic, "2017-01/test");
        r.timestamp = None;
        let err = t.apply(r).expect_err("no timestamp");
        assert!(
            err.to_string().starts_with("Timestamp missing on record"),
            "{err}"
        );
    }
}
