//! `RegexRouter`: renames the topic when the whole name matches `regex`, using Java's
//! replacement syntax (`$1`, `${name}`, `\$`); a topic that does not match is unchanged.

use regex::Regex;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, Importance, Result, Transform,
};

use super::util;

#[derive(Debug, Default)]
pub struct RegexRouter {
    /// `^(?:regex)$`: Java's `Matcher.matches()` is a whole-string match.
    regex: Option<Regex>,
    /// The replacement translated into the `regex` crate's syntax.
    replacement: String,
}

/// Compiles a Java-style pattern for a whole-string match, or Kafka's "Invalid regex" error.
pub(crate) fn whole_match(key: &str, pattern: &str) -> Result<Regex> {
    Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| util::invalid(key, pattern, &format!("Invalid regex: {e}")))
}

/// Translates Java's `Matcher.replaceFirst` syntax into the `regex` crate's: `$12` takes as
/// many digits as name an existing group, `${name}` is a named group, a backslash quotes
/// the next character, and every other `$` is an error, as in Java.
fn translate(java: &str, regex: &Regex) -> std::result::Result<String, String> {
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

impl Transform for RegexRouter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "regex",
                ConfigType::String,
                None,
                Importance::High,
                "Regular expression to use for matching.",
            )
            .define(
                "replacement",
                ConfigType::String,
                None,
                Importance::High,
                "Replacement string.",
            )
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        let pattern = c.string("regex").unwrap_or_default();
        let regex = whole_match("regex", pattern)?;
        let java = c.string("replacement").unwrap_or_default();
        self.replacement =
            translate(java, &regex).map_err(|e| util::invalid("replacement", java, &e))?;
        self.regex = Some(regex);
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if let Some(re) = &self.regex
            && re.is_match(&record.topic)
        {
            record.topic = re
                .replace(&record.topic, self.replacement.as_str())
                .into_owned();
        }
        Ok(Some(record))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::util::testing::*;
    use weir_connect_api::Value;

    fn route(regex: &str, replacement: &str, topic: &str) -> String {
        let t = configured(
            RegexRouter::default(),
            &[("regex", regex), ("replacement", replacement)],
        );
        let mut r = schemaless(Value::Null);
        r.topic = topic.to_string();
        apply(&t, r).topic
    }

    #[test]
    fn routes_like_kafka() {
        assert_eq!(route("(.*)", "prefix-$1", "orig"), "prefix-orig");
        assert_eq!(route("(.*)-(\\d\\d)", "$1", "foo-22"), "foo");
        assert_eq!(
            route("([^.]+)\\.([^.]+)\\.([^.]+)", "$3", "db.public.users"),
            "users"
        );
        assert_eq!(
            route("(.*)", "$1a", "t"),
            "ta",
            "Java reads $1 then a literal a"
        );
        assert_eq!(route("(.*)", "\\$1", "t"), "$1", "escaped dollar");
        assert_eq!(route("(?<n>.*)", "x-${n}", "t"), "x-t");
        assert_eq!(
            route("foo", "bar", "foo-bar"),
            "foo-bar",
            "whole-name match only"
        );
    }

    #[test]
    fn bad_patterns_and_replacements_are_config_errors() {
        let errs = config_errors(
            RegexRouter::default(),
            &[("regex", "(.*)"), ("replacement", "$2")],
        );
        assert_eq!(
            errs,
            ["Invalid value $2 for configuration replacement: No group 2"]
        );
        let errs = config_errors(RegexRouter::default(), &[("regex", "(")]);
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].starts_with("Missing required configuration \"replacement\""));
        let errs = config_errors(
            RegexRouter::default(),
            &[("regex", "("), ("replacement", "x")],
        );
        assert!(errs[0].starts_with("Invalid value ( for configuration regex: Invalid regex:"));
    }
}
