//! Connect's Decimal: the unscaled value as big-endian two's-complement bytes (Java's
//! `BigInteger.toByteArray`, always the minimal length), converted to and from decimal text.
//! Shared by the converters and the sinks that write decimals as text (JDBC).

/// Drops redundant sign bytes, as `BigInteger.toByteArray` never has them. Empty input is
/// an error: Java's `new BigInteger(new byte[0])` throws.
pub fn minimal(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.is_empty() {
        return Err("a Decimal's unscaled value cannot be zero bytes long".to_string());
    }
    let mut start = 0;
    while start + 1 < bytes.len() {
        let (b, next) = (bytes[start], bytes[start + 1]);
        if (b == 0x00 && next & 0x80 == 0) || (b == 0xFF && next & 0x80 != 0) {
            start += 1;
        } else {
            break;
        }
    }
    Ok(bytes[start..].to_vec())
}

fn negate(bytes: &mut [u8]) {
    let mut carry = true;
    for b in bytes.iter_mut().rev() {
        *b = !*b;
        if carry {
            let (v, overflow) = b.overflowing_add(1);
            *b = v;
            carry = overflow;
        }
    }
}

/// The unscaled value as decimal digits with a leading `-` when negative.
pub fn unscaled_string(twos: &[u8]) -> String {
    let negative = twos.first().is_some_and(|b| b & 0x80 != 0);
    let mut mag = twos.to_vec();
    if negative {
        negate(&mut mag);
    }
    // Repeated division by 10^9 over the big-endian magnitude.
    const CHUNK: u64 = 1_000_000_000;
    let mut chunks = Vec::new();
    while mag.iter().any(|&b| b != 0) {
        let mut rem = 0u64;
        for b in mag.iter_mut() {
            let cur = (rem << 8) | u64::from(*b);
            *b = (cur / CHUNK) as u8;
            rem = cur % CHUNK;
        }
        chunks.push(rem);
    }
    let mut out = String::from(if negative { "-" } else { "" });
    match chunks.split_last() {
        None => out.push('0'),
        Some((top, rest)) => {
            out.push_str(&top.to_string());
            for c in rest.iter().rev() {
                out.push_str(&format!("{c:09}"));
            }
        }
    }
    out
}

/// The decimal as plain text without an exponent (Java's `BigDecimal.toPlainString`):
/// unscaled 12345 at scale 2 is `123.45`, at scale -2 `1234500`.
pub fn plain_string(twos: &[u8], scale: i32) -> String {
    let digits = unscaled_string(twos);
    let (sign, digits) = match digits.strip_prefix('-') {
        Some(d) => ("-", d),
        None => ("", digits.as_str()),
    };
    let mut out = String::from(sign);
    if scale <= 0 {
        out.push_str(digits);
        if digits != "0" {
            out.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
        }
        return out;
    }
    let scale = scale as usize;
    if digits.len() > scale {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    } else {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(digits);
    }
    out
}

/// Longest unscaled value accepted from JSON, in decimal digits; keeps a hostile exponent
/// (`1e999999999`) from allocating without bound.
const MAX_DIGITS: usize = 10_000;

/// The two's-complement unscaled bytes of a JSON number at `scale`, which must not need
/// rounding: `123.4` at scale 2 is 12340; `1.234` at scale 2 is an error.
pub fn from_json_number(text: &str, scale: i32) -> Result<Vec<u8>, String> {
    let (negative, rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text),
    };
    let (mantissa, exp) = match rest.find(['e', 'E']) {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, "0"),
    };
    let exp: i64 = exp
        .parse()
        .map_err(|_| format!("{text} is not a valid decimal number"))?;
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).map(|b| b - b'0').collect();
    let shift = i128::from(scale) - (frac.len() as i128 - i128::from(exp));
    if shift >= 0 {
        if digits.len() as i128 + shift > MAX_DIGITS as i128 {
            return Err(format!(
                "{text} at scale {scale} needs more than {MAX_DIGITS} digits"
            ));
        }
        digits.extend(std::iter::repeat_n(0, shift as usize));
    } else {
        let cut = usize::try_from(-shift)
            .unwrap_or(usize::MAX)
            .min(digits.len());
        if digits[digits.len() - cut..].iter().any(|&d| d != 0) {
            return Err(format!(
                "{text} has more fractional digits than the schema's scale {scale}"
            ));
        }
        digits.truncate(digits.len() - cut);
    }
    // Decimal digits to a big-endian magnitude with a spare sign byte in front.
    let mut mag: Vec<u8> = vec![0];
    for d in digits {
        let mut carry = u32::from(d);
        for b in mag.iter_mut().rev() {
            let v = u32::from(*b) * 10 + carry;
            *b = v as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            mag.insert(0, carry as u8);
            carry >>= 8;
        }
        // Keep a zero sign byte in front so the magnitude reads as positive.
        if mag[0] != 0 {
            mag.insert(0, 0);
        }
    }
    if negative {
        negate(&mut mag);
    }
    minimal(&mag)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_strings_have_no_exponent() {
        assert_eq!(plain_string(&[0x30, 0x39], 2), "123.45");
        assert_eq!(plain_string(&[0x30, 0x39], -2), "1234500");
        assert_eq!(plain_string(&[0xFF, 0x64], 4), "-0.0156");
        assert_eq!(plain_string(&[0x00], 3), "0.000");
        assert_eq!(plain_string(&[0x00], -3), "0");
        assert_eq!(plain_string(&[0x05], 0), "5");
    }

    #[test]
    fn unscaled_bytes_round_trip_through_text() {
        assert_eq!(from_json_number("1.56", 2), Ok(vec![0x00, 0x9C]));
        assert_eq!(from_json_number("-1.56", 2), Ok(vec![0xFF, 0x64]));
        assert_eq!(from_json_number("0", 2), Ok(vec![0x00]));
        assert_eq!(from_json_number("1.5600", 2), Ok(vec![0x00, 0x9C]));
        assert_eq!(from_json_number("1.5e2", 0), Ok(vec![0x00, 0x96]));
        assert_eq!(from_json_number("-128", 0), Ok(vec![0x80]));
        assert_eq!(from_json_number("128", 0), Ok(vec![0x00, 0x80]));
        assert!(from_json_number("1.234", 2).is_err());
        assert!(from_json_number("1e99999", 0).is_err());
        let big = "123456789012345678901234567890123456789";
        let bytes = from_json_number(big, 0).expect("fits");
        assert_eq!(unscaled_string(&bytes), big);
        assert_eq!(unscaled_string(&[0xFF, 0x64]), "-156");
        assert_eq!(unscaled_string(&[0x80]), "-128");
        assert_eq!(unscaled_string(&[0x00]), "0");
        assert_eq!(minimal(&[0x00, 0x00, 0x9C]), Ok(vec![0x00, 0x9C]));
        assert_eq!(minimal(&[0xFF, 0xFF, 0x64]), Ok(vec![0xFF, 0x64]));
    }
}
