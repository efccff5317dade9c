//! hstore values (`"k"=>"v", "n"=>NULL`) read as pgjdbc's `HStoreConverter` does into a Java
//! `HashMap`, whose iteration order Debezium's JSON and map outputs inherit; we reproduce
//! that order.

/// Java's `String.hashCode` over UTF-16 code units.
pub(crate) fn java_string_hash(s: &str) -> i32 {
    s.encode_utf16()
        .fold(0i32, |h, c| h.wrapping_mul(31).wrapping_add(i32::from(c)))
}

/// Orders entries as a default `java.util.HashMap` (capacity 16, load factor 0.75) iterates
/// them after inserting in the given order; a repeated key keeps its first place and takes
/// the last value. Buckets with 8+ colliding keys (tree bins) are not modelled.
pub(crate) fn java_hashmap_order<V: Clone>(entries: Vec<(String, V)>) -> Vec<(String, V)> {
    let mut unique: Vec<(String, V)> = Vec::with_capacity(entries.len());
    for (k, v) in entries {
        match unique.iter_mut().find(|(uk, _)| *uk == k) {
            Some(slot) => slot.1 = v,
            None => unique.push((k, v)),
        }
    }
    let mut capacity: u64 = 16;
    while unique.len() as u64 > capacity * 3 / 4 {
        capacity *= 2;
    }
    let bucket = |k: &str| {
        let h = java_string_hash(k) as u32;
        u64::from(h ^ (h >> 16)) & (capacity - 1)
    };
    let mut indexed: Vec<(u64, usize, (String, V))> = unique
        .into_iter()
        .enumerate()
        .map(|(i, e)| (bucket(&e.0), i, e))
        .collect();
    indexed.sort_by_key(|(b, i, _)| (*b, *i));
    indexed.into_iter().map(|(_, _, e)| e).collect()
}

/// Parses hstore text output into entries in text order.
pub(crate) fn parse_hstore(text: &str) -> Result<Vec<(String, Option<String>)>, String> {
    let bad = || format!("{text:?} is not an hstore value");
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    let quoted = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>| -> Result<String, String> {
        let mut s = String::new();
        loop {
            match chars.next() {
                Some('\\') => s.push(chars.next().ok_or_else(bad)?),
                Some('"') => return Ok(s),
                Some(c) => s.push(c),
                None => return Err(bad()),
            }
        }
    };
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        match chars.next() {
            None => break,
            Some('"') => {}
            Some(_) => return Err(bad()),
        }
        let key = quoted(&mut chars)?;
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        if chars.next() != Some('=') || chars.next() != Some('>') {
            return Err(bad());
        }
        while chars.peek().is_some_and(|c| c.is_whitespace()) {
            chars.next();
        }
        let value = match chars.next() {
            Some('"') => Some(quoted(&mut chars)?),
            Some('N') | Some('n') => {
                for _ in 0..3 {
                    chars.next();
                }
                None
            }
            _ => return Err(bad()),
        };
        out.push((key, value));
    }
    Ok(out)
}

/// Jackson's string escaping (quotes, backslash, control characters).
pub(crate) fn json_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Debezium's JSON form of an hstore map: `{"k":"v","n":null}` in HashMap order.
pub(crate) fn hstore_json(entries: &[(String, Option<String>)]) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        json_string(k, &mut out);
        out.push(':');
        match v {
            Some(v) => json_string(v, &mut out),
            None => out.push_str("null"),
        }
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_and_json_match_debezium_tests() {
        let parsed = parse_hstore(r#""key4"=>"val4", "key5"=>NULL"#).expect("hstore");
        assert_eq!(
            hstore_json(&java_hashmap_order(parsed)),
            r#"{"key5":null,"key4":"val4"}"#
        );
        let parsed =
            parse_hstore(r#""key1"=>"val1", "key2"=>"val2", "key3"=>"val3""#).expect("hstore");
        assert_eq!(
            hstore_json(&java_hashmap_order(parsed)),
            r#"{"key1":"val1","key2":"val2","key3":"val3"}"#
        );
        let parsed = parse_hstore(r#""key 2"=>" ##123 78", "key_#1"=>"val 1""#).expect("hstore");
        assert_eq!(
            hstore_json(&java_hashmap_order(parsed)),
            r#"{"key_#1":"val 1","key 2":" ##123 78"}"#
        );
        assert_eq!(java_string_hash("key4"), 3_288_501);
    }
}
