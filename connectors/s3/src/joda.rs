//! `path.format`: a Joda-Time pattern (the connector API's `date_format`), printed in the
//! partitioner's `timezone`. `locale` is read; names print in English.

use weir_connect_api::date_format::{DateFields, DatePattern, Dialect, iso_week};

/// A parsed `path.format`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JodaPattern(DatePattern);

impl JodaPattern {
    /// Parses a pattern; an unknown letter or an unterminated quote is an error naming it.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        DatePattern::parse(pattern, Dialect::Joda)
            .map(JodaPattern)
            .map_err(|e| {
                format!(
                    "Invalid path.format {pattern:?}: {e} (quote literal text, as in 'year'=YYYY)"
                )
            })
    }

    /// Prints the instant `ms` (since the epoch) in `tz`.
    pub fn print(&self, ms: i64, tz: &jiff::tz::TimeZone) -> Result<String, String> {
        let ts = jiff::Timestamp::from_millisecond(ms)
            .map_err(|e| format!("timestamp {ms} is out of range: {e}"))?;
        let z = ts.to_zoned(tz.clone());
        let day_of_year = u32::try_from(z.day_of_year()).unwrap_or(1);
        let weekday = u32::from(z.weekday().to_monday_one_offset().unsigned_abs());
        let (week_year, week) = iso_week(i64::from(z.year()), day_of_year, weekday);
        let fields = DateFields {
            year: i64::from(z.year()),
            month: u32::from(z.month().unsigned_abs()),
            day: u32::from(z.day().unsigned_abs()),
            day_of_year,
            weekday,
            week_year,
            week,
            hour: u32::from(z.hour().unsigned_abs()),
            minute: u32::from(z.minute().unsigned_abs()),
            second: u32::from(z.second().unsigned_abs()),
            millisecond: u32::from(z.millisecond().unsigned_abs()),
            offset_seconds: z.offset().seconds(),
        };
        Ok(self.0.format(&fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn print(pattern: &str, ms: i64, zone: &str) -> String {
        let tz = jiff::tz::TimeZone::get(zone).expect("zone");
        JodaPattern::parse(pattern)
            .expect("pattern")
            .print(ms, &tz)
            .expect("print")
    }

    #[test]
    fn confluent_patterns_in_zones() {
        // 2024-05-01T13:45:06.789Z
        let ms = 1_714_571_106_789;
        assert_eq!(
            print("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", ms, "UTC"),
            "year=2024/month=05/day=01/hour=13"
        );
        assert_eq!(
            print("'dt'=YYYY-MM-dd/'hr'=HH", ms, "America/Los_Angeles"),
            "dt=2024-05-01/hr=06"
        );
        assert_eq!(
            print("yy/MMM/MMMM/E/EEEE", ms, "UTC"),
            "24/May/May/Wed/Wednesday"
        );
        assert_eq!(
            print("HH:mm:ss.SSS Z", ms, "Europe/Paris"),
            "15:45:06.789 +0200"
        );
        assert_eq!(print("'it''s' D", ms, "UTC"), "it's 122");
    }

    #[test]
    fn bad_patterns_name_the_problem() {
        let e = JodaPattern::parse("year=YYYY").expect_err("unquoted letters");
        assert!(e.contains("Illegal pattern character 'r'"), "{e}");
        let e = JodaPattern::parse("'year=YYYY").expect_err("open quote");
        assert!(e.contains("Unterminated quote"), "{e}");
    }
}
