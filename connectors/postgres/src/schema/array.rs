//! Postgres array literals (`{1,2,NULL}`, `{"a b","c\"d"}`), one dimension, as the text
//! output of `array_out` carries them.

/// Parses a one-dimensional array literal into its elements (`None` for SQL NULL). A
/// leading dimension decoration (`[0:2]=`) is skipped; nested arrays are refused.
pub(crate) fn parse_array(text: &str) -> Result<Vec<Option<String>>, String> {
    let mut s = text.trim();
    if s.starts_with('[') {
        match s.find('=') {
            Some(eq) => s = s[eq + 1..].trim_start(),
            None => return Err(format!("array literal {text:?} has a bad dimension prefix")),
        }
    }
    let inner = s
        .strip_prefix('{')
        .and_then(|r| r.strip_suffix('}'))
        .ok_or_else(|| format!("array literal {text:?} is not enclosed in braces"))?;
    let mut out = Vec::new();
    if inner.trim().is_empty() {
        return Ok(out);
    }
    let mut chars = inner.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
            chars.next();
        }
        match chars.peek() {
            Some('{') => {
                return Err(format!(
                    "array literal {text:?} has more than one dimension"
                ));
            }
            Some('"') => {
                chars.next();
                let mut v = String::new();
                loop {
                    match chars.next() {
                        Some('\\') => match chars.next() {
                            Some(c) => v.push(c),
                            None => {
                                return Err(format!("array literal {text:?} ends in an escape"));
                            }
                        },
                        Some('"') => break,
                        Some(c) => v.push(c),
                        None => {
                            return Err(format!("array literal {text:?} has an unclosed quote"));
                        }
                    }
                }
                out.push(Some(v));
                while chars.peek().is_some_and(|c| c.is_ascii_whitespace()) {
                    chars.next();
                }
            }
            _ => {
                let mut v = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    chars.next();
                    if c == '\\' {
                        if let Some(n) = chars.next() {
                            v.push(n);
                        }
                    } else {
                        v.push(c);
                    }
                }
                let v = v.trim_end();
                if v.eq_ignore_ascii_case("NULL") {
                    out.push(None);
                } else {
                    out.push(Some(v.to_string()));
                }
            }
        }
        match chars.next() {
            Some(',') => continue,
            None => break,
            Some(c) => return Err(format!("array literal {text:?} has {c:?} after an element")),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_quoting_escapes_and_nulls() {
        assert_eq!(
            parse_array(r#"{1,2,NULL, 3 }"#).expect("ints"),
            vec![Some("1".into()), Some("2".into()), None, Some("3".into())]
        );
        assert_eq!(
            parse_array(r#"{"a b","c\"d","NULL",null,"x\\y"}"#).expect("quoted"),
            vec![
                Some("a b".into()),
                Some("c\"d".into()),
                Some("NULL".into()),
                None,
                Some("x\\y".into())
            ]
        );
        assert_eq!(
            parse_array("{}").expect("empty"),
            Vec::<Option<String>>::new()
        );
        assert_eq!(
            parse_array("[0:1]={7,8}").expect("dims"),
            vec![Some("7".into()), Some("8".into())]
        );
        assert!(parse_array("{{1},{2}}").is_err());
        assert!(parse_array("1,2").is_err());
    }
}
