//! The subset of Joda-Time's `DateTimeFormat` patterns a `path.format` uses: quoted
//! literals (`'year'=`, `''` for a quote), numeric fields padded to their letter count, and
//! English month and day names (`locale` is read, English is what is printed).

/// One piece of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    /// A field letter and how many times it repeats.
    Field(char, usize),
}

/// A parsed pattern.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct JodaPattern {
    tokens: Vec<Token>,
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
/// Letters weir prints: year (y, Y), week-year (x), month (M), day of month (d), day of
/// year (D), week (w), day of week (e, E), half-day (a), hours (H, k, h, K), minutes (m),
/// seconds (s), fraction (S), offset (Z).
const KNOWN: &str = "yYxMdDweEaHkhKmsSZ";

impl JodaPattern {
    /// Parses a pattern; an unknown letter or an unterminated quote is an error naming it.
    pub fn parse(pattern: &str) -> Result<Self, String> {
        let mut tokens = Vec::new();
        let chars: Vec<char> = pattern.chars().collect();
        let mut i = 0;
        let mut literal = String::new();
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    literal.push('\'');
                    i += 2;
                    continue;
                }
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(format!(
                                "Invalid path.format {pattern:?}: unterminated quote at position {i}"
                            ));
                        }
                        Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                            literal.push('\'');
                            j += 2;
                        }
                        Some('\'') => break,
                        Some(other) => {
                            literal.push(*other);
                            j += 1;
                        }
                    }
                }
                i = j + 1;
            } else if c.is_ascii_alphabetic() {
                if !KNOWN.contains(c) {
                    return Err(format!(
                        "Invalid path.format {pattern:?}: unsupported pattern letter '{c}' (quote literal text, as in 'year'=YYYY)"
                    ));
                }
                let mut n = 1;
                while chars.get(i + n) == Some(&c) {
                    n += 1;
                }
                if !literal.is_empty() {
                    tokens.push(Token::Literal(std::mem::take(&mut literal)));
                }
                tokens.push(Token::Field(c, n));
                i += n;
            } else {
                literal.push(c);
                i += 1;
            }
        }
        if !literal.is_empty() {
            tokens.push(Token::Literal(literal));
        }
        Ok(Self { tokens })
    }

    /// Prints the instant `ms` (since the epoch) in `tz`.
    pub fn print(&self, ms: i64, tz: &jiff::tz::TimeZone) -> Result<String, String> {
        let ts = jiff::Timestamp::from_millisecond(ms)
            .map_err(|e| format!("timestamp {ms} is out of range: {e}"))?;
        let z = ts.to_zoned(tz.clone());
        let mut out = String::new();
        for token in &self.tokens {
            match token {
                Token::Literal(text) => out.push_str(text),
                Token::Field(letter, n) => field(&mut out, &z, *letter, *n),
            }
        }
        Ok(out)
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
    if n >= 4 {
        out.push_str(full);
    } else {
        out.push_str(&full[..3]);
    }
}

fn field(out: &mut String, z: &jiff::Zoned, letter: char, n: usize) {
    let hour = i64::from(z.hour());
    match letter {
        'y' | 'Y' | 'x' => {
            let year = if letter == 'x' {
                i64::from(z.date().iso_week_date().year())
            } else {
                i64::from(z.year())
            };
            if n == 2 {
                pad(out, year.rem_euclid(100), 2);
            } else {
                pad(out, year, n);
            }
        }
        'M' if n >= 3 => name(out, MONTHS[(z.month() - 1) as usize], n),
        'M' => pad(out, i64::from(z.month()), n),
        'd' => pad(out, i64::from(z.day()), n),
        'D' => pad(out, i64::from(z.day_of_year()), n),
        'w' => pad(out, i64::from(z.date().iso_week_date().week()), n),
        'e' => pad(out, i64::from(z.weekday().to_monday_one_offset()), n),
        'E' => name(out, DAYS[(z.weekday().to_monday_zero_offset()) as usize], n),
        'a' => out.push_str(if hour < 12 { "AM" } else { "PM" }),
        'H' => pad(out, hour, n),
        'k' => pad(out, if hour == 0 { 24 } else { hour }, n),
        'K' => pad(out, hour % 12, n),
        'h' => pad(out, if hour % 12 == 0 { 12 } else { hour % 12 }, n),
        'm' => pad(out, i64::from(z.minute()), n),
        's' => pad(out, i64::from(z.second()), n),
        'S' => {
            let millis = format!("{:03}", z.millisecond());
            let mut digits: String = millis.chars().take(n).collect();
            while digits.len() < n {
                digits.push('0');
            }
            out.push_str(&digits);
        }
        'Z' => {
            let secs = z.offset().seconds();
            let sign = if secs < 0 { '-' } else { '+' };
            let (h, m) = (secs.abs() / 3600, secs.abs() / 60 % 60);
            if n == 1 {
                out.push_str(&format!("{sign}{h:02}{m:02}"));
            } else {
                out.push_str(&format!("{sign}{h:02}:{m:02}"));
            }
        }
        _ => {}
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
    fn confluent_patterns() {
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
        assert!(e.contains("unsupported pattern letter 'r'"), "{e}");
        let e = JodaPattern::parse("'year=YYYY").expect_err("open quote");
        assert!(e.contains("unterminated quote"), "{e}");
    }
}
