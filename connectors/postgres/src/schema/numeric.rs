//! Arbitrary-precision decimals as Java's `BigDecimal` handles them for Debezium: parse,
//! rescale, strip trailing zeros, plain string, and the unscaled value as big-endian two's
//! complement bytes (`BigInteger.toByteArray`).

/// A decimal: `(-1)^neg * digits * 10^-scale`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Dec {
    neg: bool,
    /// Decimal digits of the unscaled magnitude, most significant first, no leading zeros
    /// (empty for zero).
    digits: Vec<u8>,
    scale: i32,
}

impl Dec {
    /// Parses `[+-]digits[.digits][e[+-]n]` as `new BigDecimal(String)` does.
    pub(crate) fn parse(s: &str) -> Option<Dec> {
        let s = s.trim();
        let (neg, rest) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exp) = match rest.find(['e', 'E']) {
            Some(i) => (&rest[..i], rest[i + 1..].parse::<i32>().ok()?),
            None => (rest, 0),
        };
        let (int, frac) = match mantissa.find('.') {
            Some(i) => (&mantissa[..i], &mantissa[i + 1..]),
            None => (mantissa, ""),
        };
        if int.is_empty() && frac.is_empty() {
            return None;
        }
        let mut digits = Vec::with_capacity(int.len() + frac.len());
        for b in int.bytes().chain(frac.bytes()) {
            if !b.is_ascii_digit() {
                return None;
            }
            digits.push(b - b'0');
        }
        let first = digits.iter().position(|d| *d != 0).unwrap_or(digits.len());
        digits.drain(..first);
        let scale = i32::try_from(frac.len()).ok()?.checked_sub(exp)?;
        Some(Dec {
            neg: neg && !digits.is_empty(),
            digits,
            scale,
        })
    }

    pub(crate) fn zero(scale: i32) -> Dec {
        Dec {
            neg: false,
            digits: Vec::new(),
            scale,
        }
    }

    pub(crate) fn scale(&self) -> i32 {
        self.scale
    }

    /// `setScale(scale, HALF_UP)` (rounding only happens when the scale shrinks).
    pub(crate) fn with_scale(&self, scale: i32) -> Dec {
        let mut out = self.clone();
        if scale >= self.scale {
            let add = (scale - self.scale) as usize;
            if !out.digits.is_empty() {
                out.digits.extend(std::iter::repeat_n(0, add));
            }
            out.scale = scale;
            return out;
        }
        let drop = (self.scale - scale) as usize;
        if drop > out.digits.len() {
            // |value| < 0.1 * 10^-scale: rounds to zero.
            return Dec::zero(scale);
        }
        let keep = out.digits.len() - drop;
        let round_up = out.digits[keep] >= 5;
        out.digits.truncate(keep);
        if round_up {
            let mut i = out.digits.len();
            loop {
                if i == 0 {
                    out.digits.insert(0, 1);
                    break;
                }
                i -= 1;
                if out.digits[i] == 9 {
                    out.digits[i] = 0;
                } else {
                    out.digits[i] += 1;
                    break;
                }
            }
        }
        let first = out
            .digits
            .iter()
            .position(|d| *d != 0)
            .unwrap_or(out.digits.len());
        out.digits.drain(..first);
        out.neg = out.neg && !out.digits.is_empty();
        out.scale = scale;
        out
    }

    /// `stripTrailingZeros()` then, as Debezium does for VariableScaleDecimal, a negative
    /// scale is raised back to 0.
    pub(crate) fn stripped_non_negative(&self) -> Dec {
        let mut out = self.clone();
        if out.digits.is_empty() {
            out.scale = 0;
            return out;
        }
        while out.digits.last() == Some(&0) {
            out.digits.pop();
            out.scale -= 1;
        }
        if out.scale < 0 {
            out = out.with_scale(0);
        }
        out
    }

    /// `toPlainString()`.
    pub(crate) fn to_plain_string(&self) -> String {
        let mut s = String::new();
        if self.neg {
            s.push('-');
        }
        let digits: String = if self.digits.is_empty() {
            "0".into()
        } else {
            self.digits.iter().map(|d| char::from(b'0' + d)).collect()
        };
        if self.scale <= 0 {
            s.push_str(&digits);
            if digits != "0" {
                s.extend(std::iter::repeat_n('0', (-self.scale) as usize));
            }
            return s;
        }
        let scale = self.scale as usize;
        if digits.len() > scale {
            s.push_str(&digits[..digits.len() - scale]);
            s.push('.');
            s.push_str(&digits[digits.len() - scale..]);
        } else {
            s.push_str("0.");
            s.extend(std::iter::repeat_n('0', scale - digits.len()));
            s.push_str(&digits);
        }
        s
    }

    /// `doubleValue()` (correctly rounded).
    pub(crate) fn to_f64(&self) -> f64 {
        self.to_plain_string().parse::<f64>().unwrap_or(f64::NAN)
    }

    /// The unscaled value as `BigInteger.toByteArray()`: minimal big-endian two's complement.
    pub(crate) fn unscaled_bytes(&self) -> Vec<u8> {
        // Magnitude in little-endian u32 limbs, built nine decimal digits at a time.
        let mut limbs: Vec<u32> = Vec::new();
        for chunk in self.digits.chunks(9) {
            let mut mul: u64 = 1;
            let mut add: u64 = 0;
            for d in chunk {
                mul *= 10;
                add = add * 10 + u64::from(*d);
            }
            let mut carry = add;
            for limb in limbs.iter_mut() {
                let v = u64::from(*limb) * mul + carry;
                *limb = v as u32;
                carry = v >> 32;
            }
            if carry != 0 {
                limbs.push(carry as u32);
            }
        }
        let mut mag: Vec<u8> = limbs.iter().rev().flat_map(|l| l.to_be_bytes()).collect();
        let first = mag.iter().position(|b| *b != 0).unwrap_or(mag.len());
        mag.drain(..first);
        if mag.is_empty() {
            return vec![0];
        }
        if !self.neg {
            if mag[0] & 0x80 != 0 {
                mag.insert(0, 0);
            }
            return mag;
        }
        // Two's complement of the magnitude, one byte wider, then trimmed of redundant 0xff.
        let mut out = vec![0u8; mag.len() + 1];
        out[1..].copy_from_slice(&mag);
        let mut carry = 1u16;
        for b in out.iter_mut().rev() {
            let v = u16::from(!*b) + carry;
            *b = v as u8;
            carry = v >> 8;
        }
        while out.len() > 1 && out[0] == 0xff && out[1] & 0x80 != 0 {
            out.remove(0);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Dec {
        Dec::parse(s).expect("decimal")
    }

    #[test]
    fn big_integer_bytes_match_java() {
        assert_eq!(d("0").unscaled_bytes(), vec![0]);
        assert_eq!(d("1.10").unscaled_bytes(), vec![110]);
        assert_eq!(d("128").unscaled_bytes(), vec![0, 128]);
        assert_eq!(d("-128").unscaled_bytes(), vec![0x80]);
        assert_eq!(d("-129").unscaled_bytes(), vec![0xff, 0x7f]);
        assert_eq!(d("-1").unscaled_bytes(), vec![0xff]);
        assert_eq!(d("-256").unscaled_bytes(), vec![0xff, 0x00]);
        assert_eq!(d("10.1111").unscaled_bytes(), vec![0x01, 0x8a, 0xf7]);
        assert_eq!(
            d("12345678901234567890").unscaled_bytes(),
            vec![0x00, 0xab, 0x54, 0xa9, 0x8c, 0xeb, 0x1f, 0x0a, 0xd2]
        );
    }

    #[test]
    fn scale_and_plain_strings() {
        assert_eq!(d("1.1").with_scale(2).to_plain_string(), "1.10");
        assert_eq!(d("1.125").with_scale(2).to_plain_string(), "1.13");
        assert_eq!(d("-1.125").with_scale(2).to_plain_string(), "-1.13");
        assert_eq!(d("9.999").with_scale(2).to_plain_string(), "10.00");
        assert_eq!(d("0.001").with_scale(1).to_plain_string(), "0.0");
        assert_eq!(
            d("22.2000").stripped_non_negative().to_plain_string(),
            "22.2"
        );
        assert_eq!(d("1000").stripped_non_negative().to_plain_string(), "1000");
        assert_eq!(d("1000").stripped_non_negative().scale(), 0);
        assert_eq!(d("0.00").stripped_non_negative().to_plain_string(), "0");
        assert_eq!(d("0.05").to_plain_string(), "0.05");
        assert_eq!(d("1E+3").to_plain_string(), "1000");
    }
}
