//! Numbers as the JVM prints them: `Double.toString` / `Float.toString` (which Jackson uses
//! for `DoubleNode` / `FloatNode`) and `BigDecimal.toString` (Jackson's `DecimalNode`).
//!
//! Java's shortest-repr rules (JDK 19+, `Double.toString` javadoc): the shortest decimal
//! that rounds back to the value, except that a one-digit result is replaced by the closest
//! two-digit decimal when that one also rounds back (so `Double.MIN_VALUE` prints
//! `4.9E-324`, not `5.0E-324`). Magnitudes in [1e-3, 1e7) print plainly with at least one
//! fraction digit (`1.0`, `0.001`), others in computerized scientific notation (`1.0E7`,
//! `1.0E-4`). NaN and the infinities are not JSON numbers: Jackson writes them as the
//! strings `"NaN"`, `"Infinity"`, `"-Infinity"` (`QUOTE_NON_NUMERIC_NUMBERS` is on by
//! default), which the caller handles with [`non_finite`].

/// `"NaN"`, `"Infinity"` or `"-Infinity"` for a non-finite value.
pub fn non_finite(v: f64) -> Option<&'static str> {
    if v.is_nan() {
        Some("NaN")
    } else if v.is_infinite() {
        Some(if v > 0.0 { "Infinity" } else { "-Infinity" })
    } else {
        None
    }
}

/// Java's `Double.toString` for a finite value.
pub fn java_double(v: f64) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let a = v.abs();
    // 767 significant digits make any f64 exact.
    let sci = java_digits(format!("{a:e}"), &|p| format!("{a:.p$e}"), 770, &|t| {
        t.parse::<f64>() == Ok(a)
    });
    layout(v < 0.0, &sci)
}

/// Java's `Float.toString` for a finite value.
pub fn java_float(v: f32) -> String {
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    let a = v.abs();
    // 112 significant digits make any f32 exact.
    let sci = java_digits(format!("{a:e}"), &|p| format!("{a:.p$e}"), 115, &|t| {
        t.parse::<f32>() == Ok(a)
    });
    layout(v < 0.0, &sci)
}

/// Applies Java's choice among the decimals that round back to the value, starting from
/// Rust's shortest (`sci`): a one-digit result gives way to the closest two-digit decimal,
/// and when the value lies exactly halfway between two shortest candidates Java takes the
/// one with an even last digit (Rust's shortest rounds such ties up).
/// `fmt(p)` formats the value with `p` fraction digits in scientific notation.
fn java_digits(
    sci: String,
    fmt: &dyn Fn(usize) -> String,
    exact_precision: usize,
    round_trips: &dyn Fn(&str) -> bool,
) -> String {
    let (digits, exp) = split(&sci);
    let n = digits.len();
    if n == 1 {
        let two = fmt(1);
        return if round_trips(&two) { two } else { sci };
    }
    // Cheap filter: a tie needs the (n+1)-digit rounding to end in 5.
    let (next, next_exp) = split(&fmt(n));
    if next_exp != exp || !next.ends_with('5') {
        return sci;
    }
    let (exact, exact_exp) = split(&fmt(exact_precision));
    let rest = &exact[n.min(exact.len())..];
    let tie = exact_exp == exp && rest.starts_with('5') && rest[1..].bytes().all(|b| b == b'0');
    if !tie {
        return sci;
    }
    let floor = &exact[..n];
    let (want, want_exp) = if floor.ends_with(['0', '2', '4', '6', '8']) {
        (floor.to_string(), exp)
    } else {
        increment(floor, exp)
    };
    let candidate = format!("{}.{}e{want_exp}", &want[..1], &want[1..]);
    if want != digits && round_trips(&candidate) {
        candidate
    } else {
        sci
    }
}

/// The significant digits (no point) and the exponent of `{:e}` text.
fn split(sci: &str) -> (String, i32) {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let digits = mantissa.chars().filter(char::is_ascii_digit).collect();
    (digits, exp.parse().unwrap_or(0))
}

/// Adds one unit in the last place of a digit string (`19` -> `20`, `99` -> `10` with the
/// exponent raised).
fn increment(digits: &str, exp: i32) -> (String, i32) {
    let mut d: Vec<u8> = digits.bytes().collect();
    for b in d.iter_mut().rev() {
        if *b == b'9' {
            *b = b'0';
        } else {
            *b += 1;
            return (String::from_utf8_lossy(&d).into_owned(), exp);
        }
    }
    d.insert(0, b'1');
    d.pop();
    (String::from_utf8_lossy(&d).into_owned(), exp + 1)
}

/// Lays out Rust's `{:e}` text (`d.ddde<exp>`) the way Java does.
fn layout(negative: bool, sci: &str) -> String {
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    while digits.len() > 1 && digits.ends_with('0') {
        digits.pop();
    }
    let mut out = String::with_capacity(digits.len() + 8);
    if negative {
        out.push('-');
    }
    if (-3..7).contains(&exp) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        out.push('E');
        out.push_str(&exp.to_string());
    }
    out
}

/// Java's `BigDecimal.toString` of `unscaled × 10^-scale`, `unscaled` given as decimal
/// digits with an optional leading `-`.
pub fn big_decimal_string(unscaled: &str, scale: i32) -> String {
    let (sign, digits) = match unscaled.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", unscaled),
    };
    if scale == 0 {
        return unscaled.to_string();
    }
    let n = digits.len() as i64;
    let adjusted = n - 1 - i64::from(scale);
    if scale > 0 && adjusted >= -6 {
        let scale = scale as usize;
        return if digits.len() > scale {
            let point = digits.len() - scale;
            format!("{sign}{}.{}", &digits[..point], &digits[point..])
        } else {
            let zeros = "0".repeat(scale - digits.len());
            format!("{sign}0.{zeros}{digits}")
        };
    }
    let mut out = String::from(sign);
    out.push_str(&digits[..1]);
    if digits.len() > 1 {
        out.push('.');
        out.push_str(&digits[1..]);
    }
    out.push('E');
    if adjusted >= 0 {
        out.push('+');
    }
    out.push_str(&adjusted.to_string());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_print_as_java_does() {
        let cases: [(f64, &str); 16] = [
            (1.0, "1.0"),
            (-1.0, "-1.0"),
            (100.0, "100.0"),
            (12.34, "12.34"),
            (0.001, "0.001"),
            (0.0001, "1.0E-4"),
            (1e7, "1.0E7"),
            (9_999_999.0, "9999999.0"),
            (1.2345e10, "1.2345E10"),
            (-0.0, "-0.0"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::MAX, "1.7976931348623157E308"),
            (f64::MIN_POSITIVE, "2.2250738585072014E-308"),
            (4.9e-324, "4.9E-324"),
            (2e23, "2.0E23"),
            (123_456.789, "123456.789"),
        ];
        for (v, want) in cases {
            assert_eq!(java_double(v), want, "{v:e}");
        }
    }

    #[test]
    fn floats_print_as_java_does() {
        assert_eq!(java_float(12.34), "12.34");
        assert_eq!(java_float(1.0), "1.0");
        assert_eq!(java_float(0.1), "0.1");
        assert_eq!(java_float(3.4028235e38), "3.4028235E38");
        assert_eq!(java_float(1.4e-45), "1.4E-45");
        assert_eq!(java_float(1e-3), "0.001");
        // Exactly halfway between 2804159.2 and 2804159.3: Java takes the even digit.
        assert_eq!(java_float(f32::from_bits(0x4a2b_26fd)), "2804159.2");
        assert_eq!(java_float(f32::from_bits(0x4838_49e8)), "188711.62");
        assert_eq!(non_finite(f64::NEG_INFINITY), Some("-Infinity"));
    }

    #[test]
    fn big_decimals_print_as_java_does() {
        assert_eq!(big_decimal_string("12345", 2), "123.45");
        assert_eq!(big_decimal_string("15600", 4), "1.5600");
        assert_eq!(big_decimal_string("-5", 3), "-0.005");
        assert_eq!(big_decimal_string("1", 10), "1E-10");
        assert_eq!(big_decimal_string("123", -2), "1.23E+4");
        assert_eq!(big_decimal_string("0", 2), "0.00");
        assert_eq!(big_decimal_string("42", 0), "42");
    }
}
