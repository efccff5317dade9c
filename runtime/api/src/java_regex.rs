//! Java regular expressions as Kafka Connect's transforms use them: `Matcher.matches()`
//! (the whole string must match) and `Matcher.replaceFirst` replacement syntax (`$1`,
//! `${name}`, `\$`). Shared by `RegexRouter`, `TopicNameMatches` and Debezium's outbox
//! router, so every topic rewrite follows the same rules.

use std::borrow::Cow;

use regex::Regex;

/// A pattern or replacement Java would reject, with Java's wording where it has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JavaRegexError {
    #[error("Invalid regex: {0}")]
    Pattern(String),
    #[error("{0}")]
    Replacement(String),
}

/// Compiles `pattern` for a whole-string match (Java's `Matcher.matches()`).
pub fn whole_match(pattern: &str) -> Result<Regex, JavaRegexError> {
    Regex::new(&format!("^(?:{pattern})$")).map_err(|e| JavaRegexError::Pattern(e.to_string()))
}

/// A whole-string pattern and a Java replacement: Kafka's `RegexRouter` rewrite.
#[derive(Debug, Clone)]
pub struct TopicRewrite {
    regex: Regex,
    /// The replacement translated into the `regex` crate's syntax.
    replacement: String,
}

impl TopicRewrite {
    pub fn new(pattern: &str, java_replacement: &str) -> Result<Self, JavaRegexError> {
        let regex = whole_match(pattern)?;
        let replacement =
            translate(java_replacement, &regex).map_err(JavaRegexError::Replacement)?;
        Ok(Self { regex, replacement })
    }

    /// The rewritten name when the whole of `name` matches, else `name` unchanged.
    pub fn apply<'a>(&self, name: &'a str) -> Cow<'a, str> {
        if self.regex.is_match(name) {
            self.regex.replace(name, self.replacement.as_str())
        } else {
            Cow::Borrowed(name)
        }
    }
}

/// Translates Java's `Matcher.replaceFirst` syntax into the `regex` crate's: `$12` takes as
/// many digits as name an existing group, `${name}` is a named group, a backslash quotes
/// the next character, and every other `$` is an error, as in Java.
fn translate(java: &str, regex: &Regex) -> Result<String, String> {
    let groups = regex.captures_len() - 1; // minus the implicit whole match
    let mut out = String::with_capacity(java.len());
    let mut chars = java.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('$') => out.push_str("$$"),
                Some(q) => out.push(q),
                None => return Err("character to be escaped is missing".into()),
            },
            '$' => match chars.next() {
                Some('{') => {
                    let name: String = chars.by_ref().take_while(|c| *c != '}').collect();
                    if regex.capture_names().flatten().all(|n| n != name) {
                        return Err(format!("No group with name {{{name}}}"));
                    }
                    out.push_str(&format!("${{{name}}}"));
                }
                Some(d) if d.is_ascii_digit() => {
                    let mut n = d.to_digit(10).unwrap_or(0) as usize;
                    if n > groups {
                        return Err(format!("No group {n}"));
                    }
                    while let Some(next) = chars.peek().and_then(|c| c.to_digit(10)) {
                        let longer = n * 10 + next as usize;
                        if longer > groups {
                            break;
                        }
                        n = longer;
                        chars.next();
                    }
                    out.push_str(&format!("${{{n}}}"));
                }
                _ => return Err("Illegal group reference".into()),
            },
            c => out.push(c),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(regex: &str, replacement: &str, topic: &str) -> String {
        TopicRewrite::new(regex, replacement)
            .expect("valid")
            .apply(topic)
            .into_owned()
    }

    #[test]
    fn rewrites_like_java() {
        assert_eq!(route("(.*)", "prefix-$1", "orig"), "prefix-orig");
        assert_eq!(route("(.*)", "$1a", "t"), "ta", "$1 then a literal a");
        assert_eq!(route("(.*)", "\\$1", "t"), "$1", "escaped dollar");
        assert_eq!(route("(?<n>.*)", "x-${n}", "t"), "x-t");
        assert_eq!(
            route("foo", "bar", "foo-bar"),
            "foo-bar",
            "whole match only"
        );
        assert_eq!(
            route(
                "(?<routedByValue>.*)",
                "outbox.event.${routedByValue}",
                "Order"
            ),
            "outbox.event.Order"
        );
    }

    #[test]
    fn bad_replacements_say_why() {
        let e = TopicRewrite::new("(.*)", "$2").expect_err("no group 2");
        assert_eq!(e.to_string(), "No group 2");
        let e = TopicRewrite::new("(.*)", "${x}").expect_err("no group x");
        assert_eq!(e.to_string(), "No group with name {x}");
        let e = TopicRewrite::new("(", "x").expect_err("bad pattern");
        assert!(e.to_string().starts_with("Invalid regex:"), "{e}");
    }
}
