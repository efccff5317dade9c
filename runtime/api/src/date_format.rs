//! Java date patterns: `java.text.SimpleDateFormat` (TimestampRouter's `timestamp.format`)
//! and Joda-Time's `DateTimeFormat` (the storage partitioners' `path.format`). Both quote
//! literal text (`'year'=`, `''` for a quote) and repeat a letter to pad a number or to spell
//! a month or day name (English); the dialect decides which letters are known and what `S`
//! means. The caller breaks the instant into [`DateFields`] (in UTC here, or in a time zone
//! with a zone library).

use crate::calendar::{civil_from_days, days_from_civil};

/// Which Java formatter a pattern is written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// `SimpleDateFormat`: years, months, days, hours, minutes, seconds, milliseconds (`S`
    /// is the millisecond count).
    SimpleDateFormat,
    /// Joda-Time: also day of year (`D`), ISO week and week-year (`w`, `x`), day of week
    /// (`e`, `E`), half-day (`a`), clock hours (`k`, `K`, `h`), offset (`Z`); `Y` is the year
    /// of era and `S` the fraction of second.
    Joda,
}

impl Dialect {
    fn letters(self) -> &'static str {
        match self {
            Dialect::SimpleDateFormat => "yMdHmsS",
            Dialect::Joda => "yYxMdDweEaHkhKmsSZ",
        }
    }
}

/// An instant broken into the fields patterns print.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DateFields {
    pub year: i64,
    /// 1-12.
    pub month: u32,
    pub day: u32,
    /// 1-366.
    pub day_of_year: u32,
    /// ISO day of week, Monday = 1.
    pub weekday: u32,
    pub week_year: i64,
    pub week: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
    pub millisecond: u32,
    /// Offset from UTC of the zone the fields are in.
    pub offset_seconds: i32,
}

impl DateFields {
    /// The fields of `millis` since the epoch in UTC.
    pub fn utc(millis: i64) -> Self {
        let days = millis.div_euclid(86_400_000);
        let ms = millis.rem_euclid(86_400_000);
        let (year, month, day) = civil_from_days(days);
        let day_of_year = u32::try_from(days - days_from_civil(year, 1, 1) + 1).unwrap_or(1);
        // 1970-01-01 was a Thursday.
        let weekday = u32::try_from((days + 3).rem_euclid(7) + 1).unwrap_or(1);
        let (week_year, week) = iso_week(year, day_of_year, weekday);
        let ms = u32::try_from(ms).unwrap_or(0);
        DateFields {
            year,
            month,
            day,
            day_of_year,
            weekday,
            week_year,
            week,
            hour: ms / 3_600_000,
            minute: ms / 60_000 % 60,
            second: ms / 1000 % 60,
            millisecond: ms % 1000,
            offset_seconds: 0,
        }
    }
}

/// The ISO week-year and week of a date.
pub fn iso_week(year: i64, day_of_year: u32, weekday: u32) -> (i64, u32) {
    let weeks_in = |y: i64| {
        let p =
            |y: i64| (y + y.div_euclid(4) - y.div_euclid(100) + y.div_euclid(400)).rem_euclid(7);
        if p(y) == 4 || p(y - 1) == 3 {
            53u32
        } else {
            52
        }
    };
    let week = (i64::from(day_of_year) - i64::from(weekday) + 10).div_euclid(7);
    if week < 1 {
        (year - 1, weeks_in(year - 1))
    } else if week > i64::from(weeks_in(year)) {
        (year + 1, 1)
    } else {
        (year, u32::try_from(week).unwrap_or(1))
    }
}

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
const DAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

/// One piece of a parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    /// A pattern letter repeated `count` times.
    Field(char, usize),
}

/// A parsed pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatePattern {
    dialect: Dialect,
    tokens: Vec<Token>,
}

impl Default for DatePattern {
    fn default() -> Self {
        Self {
            dialect: Dialect::Joda,
            tokens: Vec::new(),
        }
    }
}

impl DatePattern {
    /// Parses `pattern`; errors as Java words them (`Illegal pattern character 'Q'`,
    /// `Unterminated quote`).
    pub fn parse(pattern: &str, dialect: Dialect) -> Result<Self, String> {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars().peekable();
        let mut literal = String::new();
        while let Some(c) = chars.next() {
            if c == '\'' {
                if chars.peek() == Some(&'\'') {
                    chars.next();
                    literal.push('\'');
                    continue;
                }
                loop {
                    match chars.next() {
                        Some('\'') if chars.peek() == Some(&'\'') => {
                            chars.next();
                            literal.push('\'');
                        }
                        Some('\'') => break,
                        Some(other) => literal.push(other),
                        None => return Err("Unterminated quote".into()),
                    }
                }
            } else if c.is_ascii_alphabetic() {
                if !dialect.letters().contains(c) {
                    return Err(format!("Illegal pattern character '{c}'"));
                }
                let mut count = 1;
                while chars.peek() == Some(&c) {
                    chars.next();
                    count += 1;
                }
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(Token::Field(c, count));
            } else {
                literal.push(c);
            }
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(Self { dialect, tokens })
    }

    /// Prints `fields`.
    pub fn format(&self, f: &DateFields) -> String {
        let mut out = String::new();
        for token in &self.tokens {
            match token {
                Token::Literal(text) => out.push_str(text),
                Token::Field(letter, n) => self.field(&mut out, f, *letter, *n),
            }
        }
        out
    }

    fn field(&self, out: &mut String, f: &DateFields, letter: char, n: usize) {
        let hour = i64::from(f.hour);
        match letter {
            'y' | 'Y' | 'x' => {
                let year = if letter == 'x' { f.week_year } else { f.year };
                if n == 2 {
                    pad(out, year.rem_euclid(100), 2);
                } else {
                    pad(out, year, n);
                }
            }
            'M' if n >= 3 => name(out, MONTHS[(f.month.clamp(1, 12) - 1) as usize], n),
            'M' => pad(out, i64::from(f.month), n),
            'd' => pad(out, i64::from(f.day), n),
            'D' => pad(out, i64::from(f.day_of_year), n),
            'w' => pad(out, i64::from(f.week), n),
            'e' => pad(out, i64::from(f.weekday), n),
            'E' => name(out, DAYS[(f.weekday.clamp(1, 7) - 1) as usize], n),
            'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
            'H' => pad(out, hour, n),
            'k' => pad(out, if hour == 0 { 24 } else { hour }, n),
            'K' => pad(out, hour % 12, n),
            'h' => pad(out, if hour % 12 == 0 { 12 } else { hour % 12 }, n),
            'm' => pad(out, i64::from(f.minute), n),
            's' => pad(out, i64::from(f.second), n),
            'S' if self.dialect == Dialect::SimpleDateFormat => {
                pad(out, i64::from(f.millisecond), n);
            }
            'S' => {
                // Joda: the first `n` digits of the fraction of second.
                let millis = format!("{:03}", f.millisecond);
                out.extend(millis.chars().chain(std::iter::repeat('0')).take(n));
            }
            'Z' => {
                let secs = f.offset_seconds;
                let sign = if secs < 0 { '-' } else { '+' };
                let (h, m) = (secs.abs() / 3600, secs.abs() / 60 % 60);
                let sep = if n == 1 { "" } else { ":" };
                out.push_str(&format!("{sign}{h:02}{sep}{m:02}"));
            }
            _ => {}
        }
    }
}

fn pad(out: &mut String, value: i64, width: usize) {
    if value < 0 {
        out.push('-');
    }
    let digits = value.unsigned_abs().to_string();
    for _ in digits.len()..width {
        out.push('0');
    }
    out.push_str(&digits);
}

fn name(out: &mut String, full: &str, n: usize) {
    out.push_str(if n >= 4 { full } else { &full[..3] });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sdf(pattern: &str, millis: i64) -> String {
        DatePattern::parse(pattern, Dialect::SimpleDateFormat)
            .expect("valid pattern")
            .format(&DateFields::utc(millis))
    }

    #[test]
    fn simple_date_format_in_utc() {
        // 2017-01-03T06:30:01.864Z
        let t = 1_483_425_001_864;
        assert_eq!(sdf("yyyyMMdd", t), "20170103");
        assert_eq!(
            sdf("yyyy-MM-dd'T'HH:mm:ss.SSS", t),
            "2017-01-03T06:30:01.864"
        );
        assert_eq!(sdf("yy_MMM_d 'at' H''m", t), "17_Jan_3 at 6'30");
        assert_eq!(sdf("yyyyMMMM", 0), "1970January");
        assert_eq!(sdf("yyyy-MM-dd HH", -1), "1969-12-31 23");
        assert_eq!(sdf("yyyy-MM-dd", 951_782_400_000), "2000-02-29");
        assert_eq!(
            DatePattern::parse("yyyyQ", Dialect::SimpleDateFormat),
            Err("Illegal pattern character 'Q'".into())
        );
        assert_eq!(
            DatePattern::parse("yyyyE", Dialect::SimpleDateFormat),
            Err("Illegal pattern character 'E'".into()),
            "Joda-only letters stay unknown to SimpleDateFormat"
        );
        assert_eq!(
            DatePattern::parse("'open", Dialect::Joda),
            Err("Unterminated quote".into())
        );
    }

    #[test]
    fn joda_fields_in_utc() {
        let joda = |p: &str, ms: i64| {
            DatePattern::parse(p, Dialect::Joda)
                .expect("valid")
                .format(&DateFields::utc(ms))
        };
        // 2024-05-01T13:45:06.789Z, a Wednesday, day 122, ISO week 18.
        let t = 1_714_571_106_789;
        assert_eq!(
            joda("'year'=YYYY/'month'=MM/'day'=dd/'hour'=HH", t),
            "year=2024/month=05/day=01/hour=13"
        );
        assert_eq!(joda("E EEEE e D w xxxx", t), "Wed Wednesday 3 122 18 2024");
        assert_eq!(joda("h:mm a S SS Z ZZ", t), "1:45 PM 7 78 +0000 +00:00");
        // 2021-01-01 is in ISO week 53 of 2020.
        assert_eq!(joda("xxxx-ww", 1_609_459_200_000), "2020-53");
    }
}
