//! `TimestampRouter`: renames the topic from `topic.format` (`${topic}-${timestamp}`) with
//! the record timestamp formatted by `timestamp.format` (a Java `SimpleDateFormat`, in UTC).
//!
//! The formatter is weir's own and covers the pattern letters topic names use: `y`, `M`
//! (numeric, or `MMM` / `MMMM` names), `d`, `H`, `m`, `s`, `S`, with `'quoted'` literals.

use weir_connect_api::calendar::civil_from_days;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, DataError, Importance, Result, Transform,
};

use super::util;

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// One piece of a parsed date pattern.
#[derive(Debug, Clone, PartialEq)]
enum Token {
    Literal(String),
    /// A pattern letter repeated `count` times.
    Field(char, usize),
}

/// Parses a `SimpleDateFormat` pattern, rejecting letters this formatter does not know.
fn parse_pattern(pattern: &str) -> std::result::Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                let mut lit = String::new();
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    lit.push('\'');
                } else {
                    loop {
                        match chars.next() {
                            Some('\'') if chars.peek() == Some(&'\'') => {
                                chars.next();
                                lit.push('\'');
                            }
                            Some('\'') => break,
                            Some(c) => lit.push(c),
                            None => return Err("Unterminated quote".into()),
                        }
                    }
                }
                tokens.push(Token::Literal(lit));
            }
            'y' | 'M' | 'd' | 'H' | 'm' | 's' | 'S' => {
                let mut count = 1;
                while chars.peek() == Some(&c) {
                    chars.next();
                    count += 1;
                }
                tokens.push(Token::Field(c, count));
            }
            c if c.is_ascii_alphabetic() => {
                return Err(format!("Illegal pattern character '{c}'"));
            }
            c => tokens.push(Token::Literal(c.to_string())),
        }
    }
    Ok(tokens)
}

fn format(tokens: &[Token], millis: i64) -> String {
    let days = millis.div_euclid(86_400_000);
    let ms_of_day = millis.rem_euclid(86_400_000);
    let (year, month, day) = civil_from_days(days);
    let mut out = String::new();
    for t in tokens {
        let (c, n) = match t {
            Token::Literal(l) => {
                out.push_str(l);
                continue;
            }
            Token::Field(c, n) => (*c, *n),
        };
        let pad = |v: i64| format!("{v:0n$}");
        let text = match c {
            // "yy" is the two-digit year; any other count pads the full year.
            'y' if n == 2 => format!("{:02}", year.rem_euclid(100)),
            'y' => pad(year),
            'M' if n >= 4 => MONTHS[month as usize - 1].to_string(),
            'M' if n == 3 => MONTHS[month as usize - 1][..3].to_string(),
            'M' => pad(i64::from(month)),
            'd' => pad(i64::from(day)),
            'H' => pad(ms_of_day / 3_600_000),
            'm' => pad(ms_of_day / 60_000 % 60),
            's' => pad(ms_of_day / 1000 % 60),
            _ => pad(ms_of_day % 1000),
        };
        out.push_str(&text);
    }
    out
}

/// Formats `millis` with a fixed, known-valid pattern (Cast's ISO 8601 date strings).
pub(crate) fn format_with(pattern: &str, millis: i64) -> String {
    parse_pattern(pattern).map_or_else(|_| millis.to_string(), |t| format(&t, millis))
}

#[derive(Debug, Default)]
pub struct TimestampRouter {
    topic_format: String,
    timestamp_format: Vec<Token>,
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

    fn fmt(pattern: &str, millis: i64) -> String {
        format(&parse_pattern(pattern).expect("valid pattern"), millis)
    }

    #[test]
    fn formats_like_simple_date_format_in_utc() {
        // 2017-01-03T06:30:01.864Z
        let t = 1_483_425_001_864;
        assert_eq!(fmt("yyyyMMdd", t), "20170103");
        assert_eq!(
            fmt("yyyy-MM-dd'T'HH:mm:ss.SSS", t),
            "2017-01-03T06:30:01.864"
        );
        assert_eq!(fmt("yy_MMM_d 'at' H''m", t), "17_Jan_3 at 6'30");
        assert_eq!(fmt("yyyyMMMM", 0), "1970January");
        assert_eq!(fmt("yyyy-MM-dd HH", -1), "1969-12-31 23");
        assert_eq!(fmt("yyyy-MM-dd", 951_782_400_000), "2000-02-29");
        assert_eq!(
            parse_pattern("yyyyQ"),
            Err("Illegal pattern character 'Q'".into())
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
