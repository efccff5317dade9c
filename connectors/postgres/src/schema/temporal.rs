//! Dates, times and intervals: parsing Postgres's text output (ISO `DateStyle`, `postgres`
//! `IntervalStyle`) and printing Java's ISO-8601 formats as Debezium produces them.

/// Microseconds per second / day.
pub(crate) const MICROS_PER_SECOND: i128 = 1_000_000;
pub(crate) const MICROS_PER_DAY: i128 = 86_400 * MICROS_PER_SECOND;

pub(crate) use weir_connect_api::calendar::{civil_from_days, days_from_civil};

/// A date, timestamp or timestamptz value: finite (days or µs since the epoch) or infinite.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Temporal {
    Finite(i128),
    PosInfinity,
    NegInfinity,
}

fn err(what: &str, s: &str) -> String {
    format!("{s:?} is not a Postgres {what} in ISO format")
}

fn num(s: &str, what: &str, whole: &str) -> Result<i64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(err(what, whole));
    }
    s.parse::<i64>().map_err(|_| err(what, whole))
}

/// Splits a trailing ` BC` / ` AD` era marker.
fn split_era(s: &str) -> (&str, bool) {
    if let Some(r) = s.strip_suffix(" BC") {
        (r, true)
    } else if let Some(r) = s.strip_suffix(" AD") {
        (r, false)
    } else {
        (s, false)
    }
}

/// `YYYY-MM-DD` (year of era, any width) to days since the epoch.
fn parse_ymd(s: &str, bc: bool, what: &str, whole: &str) -> Result<i64, String> {
    let mut parts = s.splitn(3, '-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(err(what, whole));
    };
    let y = num(y, what, whole)?;
    let m = num(m, what, whole)?;
    let d = num(d, what, whole)?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) {
        return Err(err(what, whole));
    }
    let year = if bc { 1 - y } else { y };
    Ok(days_from_civil(year, m as u32, d as u32))
}

/// `HH:MM:SS[.ffffff]` to µs (hours may exceed 23, as in `24:00:00`).
fn parse_hms(s: &str, what: &str, whole: &str) -> Result<i128, String> {
    let mut parts = s.splitn(3, ':');
    let (Some(h), Some(m), Some(sec)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(err(what, whole));
    };
    let (sec, frac) = match sec.find('.') {
        Some(i) => (&sec[..i], &sec[i + 1..]),
        None => (sec, ""),
    };
    let h = num(h, what, whole)?;
    let m = num(m, what, whole)?;
    let sec = num(sec, what, whole)?;
    let mut nanos: i128 = 0;
    if !frac.is_empty() {
        if frac.len() > 9 || !frac.bytes().all(|b| b.is_ascii_digit()) {
            return Err(err(what, whole));
        }
        nanos = format!("{frac:0<9}")
            .parse::<i128>()
            .map_err(|_| err(what, whole))?;
    }
    Ok(
        (i128::from(h) * 3600 + i128::from(m) * 60 + i128::from(sec)) * MICROS_PER_SECOND
            + nanos / 1000,
    )
}

/// A zone offset `+HH[:MM[:SS]]` / `-HHMM` to seconds.
fn parse_offset(s: &str, what: &str, whole: &str) -> Result<i128, String> {
    let (sign, rest) = match s.as_bytes().first() {
        Some(b'+') => (1, &s[1..]),
        Some(b'-') => (-1, &s[1..]),
        _ => return Err(err(what, whole)),
    };
    let fields: Vec<&str> = if rest.contains(':') {
        rest.split(':').collect()
    } else {
        rest.as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap_or("x"))
            .collect()
    };
    let mut secs = 0i128;
    for (i, f) in fields.iter().enumerate() {
        if i > 2 {
            return Err(err(what, whole));
        }
        secs += i128::from(num(f, what, whole)?) * [3600, 60, 1][i];
    }
    Ok(sign * secs)
}

/// Finds where the zone offset starts in `HH:MM:SS.ffffff+02`.
fn offset_start(s: &str) -> Option<usize> {
    s.rfind(['+', '-'])
}

/// A `date` value to days since the epoch; `infinity` maps to Debezium's sentinel dates.
pub(crate) fn parse_date(s: &str) -> Result<Temporal, String> {
    match s {
        // Debezium maps infinite dates to LocalDate -5877611-06-21 / -22 (sic).
        "infinity" => {
            return Ok(Temporal::Finite(i128::from(days_from_civil(
                -5_877_611, 6, 21,
            ))));
        }
        "-infinity" => {
            return Ok(Temporal::Finite(i128::from(days_from_civil(
                -5_877_611, 6, 22,
            ))));
        }
        _ => {}
    }
    let (body, bc) = split_era(s);
    Ok(Temporal::Finite(i128::from(parse_ymd(
        body, bc, "date", s,
    )?)))
}

/// The µs Debezium uses for infinite timestamps (pgjdbc's `DATE_POSITIVE_INFINITY` read as µs).
pub(crate) const TS_POS_INFINITY_MICROS: i128 = 9_223_372_036_825_200_000;
pub(crate) const TS_NEG_INFINITY_MICROS: i128 = -9_223_372_036_832_400_000;

/// A `timestamp` value (wall clock read as UTC) to µs since the epoch.
pub(crate) fn parse_timestamp(s: &str) -> Result<Temporal, String> {
    match s {
        "infinity" => return Ok(Temporal::Finite(TS_POS_INFINITY_MICROS)),
        "-infinity" => return Ok(Temporal::Finite(TS_NEG_INFINITY_MICROS)),
        _ => {}
    }
    let (body, bc) = split_era(s);
    let (date, time) = body
        .split_once([' ', 'T'])
        .ok_or_else(|| err("timestamp", s))?;
    let days = parse_ymd(date, bc, "timestamp", s)?;
    Ok(Temporal::Finite(
        i128::from(days) * MICROS_PER_DAY + parse_hms(time, "timestamp", s)?,
    ))
}

/// A `timestamptz` value to µs since the epoch (UTC).
pub(crate) fn parse_timestamptz(s: &str) -> Result<Temporal, String> {
    match s {
        "infinity" => return Ok(Temporal::PosInfinity),
        "-infinity" => return Ok(Temporal::NegInfinity),
        _ => {}
    }
    let (body, bc) = split_era(s);
    let (date, time) = body
        .split_once([' ', 'T'])
        .ok_or_else(|| err("timestamptz", s))?;
    let days = parse_ymd(date, bc, "timestamptz", s)?;
    let (clock, offset) = match time.strip_suffix('Z') {
        Some(c) => (c, 0),
        None => {
            let at = offset_start(time).ok_or_else(|| err("timestamptz", s))?;
            (&time[..at], parse_offset(&time[at..], "timestamptz", s)?)
        }
    };
    let local = i128::from(days) * MICROS_PER_DAY + parse_hms(clock, "timestamptz", s)?;
    Ok(Temporal::Finite(local - offset * MICROS_PER_SECOND))
}

/// A `time` value to µs of the day (`24:00:00` allowed), as Debezium's `Strings.asDuration`.
pub(crate) fn parse_time(s: &str) -> Result<i128, String> {
    parse_hms(s, "time", s)
}

/// A `timetz` value to µs of the day in UTC (wrapped into one day).
pub(crate) fn parse_timetz(s: &str) -> Result<i128, String> {
    let at = offset_start(s).ok_or_else(|| err("timetz", s))?;
    let local = parse_hms(&s[..at], "timetz", s)?;
    let offset = parse_offset(&s[at..], "timetz", s)?;
    Ok((local - offset * MICROS_PER_SECOND).rem_euclid(MICROS_PER_DAY))
}

/// Java's ISO year: 4 digits at least, `+` above 9999, `-` below 0.
fn iso_year(y: i64) -> String {
    if y > 9999 {
        format!("+{y}")
    } else if y < 0 {
        format!("-{:04}", -y)
    } else {
        format!("{y:04}")
    }
}

/// A nanosecond fraction: `None` prints Java's ISO form (nothing for 0, else trailing zeros
/// stripped), `Some(w)` exactly `w` digits (Debezium's fixed-width ZonedTimestamp).
fn fraction(nanos: i128, width: Option<u32>) -> String {
    match width {
        Some(w) if (1..=9).contains(&w) => {
            let digits = format!("{nanos:09}");
            format!(".{}", &digits[..w as usize])
        }
        _ => {
            if nanos == 0 {
                String::new()
            } else {
                let digits = format!("{nanos:09}");
                format!(".{}", digits.trim_end_matches('0'))
            }
        }
    }
}

/// `HH:mm:ss[.fraction]` of µs in the day.
pub(crate) fn format_time_of_day(micros: i128, width: Option<u32>) -> String {
    let m = micros.rem_euclid(MICROS_PER_DAY);
    let secs = m / MICROS_PER_SECOND;
    format!(
        "{:02}:{:02}:{:02}{}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60,
        fraction((m % MICROS_PER_SECOND) * 1000, width)
    )
}

/// `yyyy-MM-dd` of a day count.
pub(crate) fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{}-{m:02}-{d:02}", iso_year(y))
}

/// `yyyy-MM-ddTHH:mm:ss[.fraction]Z` of µs since the epoch.
pub(crate) fn format_instant(micros: i128, width: Option<u32>) -> String {
    let days = micros.div_euclid(MICROS_PER_DAY);
    let in_day = micros.rem_euclid(MICROS_PER_DAY);
    format!(
        "{}T{}Z",
        format_date(days as i64),
        format_time_of_day(in_day, width)
    )
}

/// An interval as pgjdbc's `PGInterval` reads the `postgres` style
/// (`1 year 2 mons 3 days 04:05:06.78`, `@ 1 hour ago` for `postgres_verbose`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct PgInterval {
    pub years: i32,
    pub months: i32,
    pub days: i32,
    pub hours: i32,
    pub minutes: i32,
    /// Whole seconds plus µs, as `PGInterval.getSeconds()` recomputes them.
    pub seconds: f64,
}

impl PgInterval {
    pub(crate) fn parse(text: &str) -> Result<PgInterval, String> {
        let bad = || format!("{text:?} is not a Postgres interval");
        let verbose = text.starts_with('@');
        let lower = text.replace(['+', '@'], " ").to_lowercase();
        let (mut years, mut months, mut days, mut hours, mut minutes) =
            (0i32, 0i32, 0i32, 0i32, 0i32);
        let mut seconds = 0f64;
        let int = |v: Option<&str>| -> Result<i32, String> {
            v.map_or(Ok(0), |v| v.parse::<i32>().map_err(|_| bad()))
        };
        let mut value: Option<&str> = None;
        for (i, token) in lower.split_whitespace().enumerate() {
            if i % 2 == 0 {
                let Some(colon) = token.find(':') else {
                    value = Some(token);
                    continue;
                };
                let neg = token.starts_with('-');
                let start = usize::from(neg);
                hours = token[start..colon].parse::<i32>().map_err(|_| bad())?;
                let min_end = (colon + 3).min(token.len());
                minutes = token[colon + 1..min_end]
                    .parse::<i32>()
                    .map_err(|_| bad())?;
                if let Some(second_colon) = token[colon + 1..].find(':') {
                    seconds = token[colon + 1 + second_colon + 1..]
                        .parse::<f64>()
                        .map_err(|_| bad())?;
                }
                if neg {
                    hours = -hours;
                    minutes = -minutes;
                    seconds = -seconds;
                }
                value = None;
            } else if token.starts_with("year") {
                years = int(value)?;
            } else if token.starts_with("mon") {
                months = int(value)?;
            } else if token.starts_with("day") {
                days = int(value)?;
            } else if token.starts_with("hour") {
                hours = int(value)?;
            } else if token.starts_with("min") {
                minutes = int(value)?;
            } else if token.starts_with("sec") {
                seconds = value.map_or(Ok(0.0), |v| v.parse::<f64>().map_err(|_| bad()))?;
            }
        }
        if verbose && lower.ends_with("ago") {
            years = -years;
            months = -months;
            days = -days;
            hours = -hours;
            minutes = -minutes;
            seconds = -seconds;
        }
        // PGInterval.setSeconds / getSeconds: whole seconds plus rounded µs.
        let whole = seconds.trunc();
        let micros = ((seconds - whole) * 1e6 + 0.5).floor();
        let seconds = whole + micros / 1e6;
        Ok(PgInterval {
            years,
            months,
            days,
            hours,
            minutes,
            seconds,
        })
    }

    /// Debezium's `MicroDuration.durationMicros` with 365.25/12 days per month.
    pub(crate) fn micro_duration(&self) -> i64 {
        let days_per_month = 365.25 / 12.0;
        let days = f64::from(self.years * 12 + self.months) * days_per_month + f64::from(self.days);
        let secs = ((days * 24.0 + f64::from(self.hours)) * 60.0 + f64::from(self.minutes)) * 60.0
            + self.seconds;
        (secs * 1e6) as i64
    }

    /// Debezium's `Interval.toIsoString`: `P<y>Y<m>M<d>DT<h>H<m>M<s>S`.
    pub(crate) fn iso_string(&self) -> String {
        format!(
            "P{}Y{}M{}DT{}H{}M{}S",
            self.years,
            self.months,
            self.days,
            self.hours,
            self.minutes,
            java_seconds(self.seconds)
        )
    }
}

/// `BigDecimal.valueOf(double).stripTrailingZeros().toPlainString()` (scale capped at 9).
fn java_seconds(s: f64) -> String {
    if s == 0.0 {
        return "0".into();
    }
    let mut text = format!("{s}");
    if let Some(dot) = text.find('.') {
        if text.len() - dot - 1 > 9 {
            text.truncate(dot + 10);
        }
        let trimmed = text.trim_end_matches('0').trim_end_matches('.');
        text = trimmed.to_string();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn civil_round_trips() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2016, 11, 4), 17_109);
        for d in [-800_000i64, -1, 0, 1, 17_109, 3_000_000] {
            let (y, m, dd) = civil_from_days(d);
            assert_eq!(days_from_civil(y, m, dd), d);
        }
        assert_eq!(format_date(days_from_civil(-4713, 12, 31)), "-4713-12-31");
        assert_eq!(format_date(days_from_civil(21016, 11, 4)), "+21016-11-04");
    }

    #[test]
    fn intervals_parse_like_pgjdbc() {
        let i = PgInterval::parse("1 year 2 mons 3 days 04:05:06.78").expect("interval");
        assert_eq!(
            (i.years, i.months, i.days, i.hours, i.minutes),
            (1, 2, 3, 4, 5)
        );
        assert_eq!(i.iso_string(), "P1Y2M3DT4H5M6.78S");
        let n = PgInterval::parse("-1 years -2 mons +3 days -04:05:06").expect("negative");
        assert_eq!(
            (n.years, n.months, n.days, n.hours, n.minutes),
            (-1, -2, 3, -4, -5)
        );
        assert_eq!(n.iso_string(), "P-1Y-2M3DT-4H-5M-6S");
        assert_eq!(
            PgInterval::parse("00:00:00").expect("zero").iso_string(),
            "P0Y0M0DT0H0M0S"
        );
    }
}
