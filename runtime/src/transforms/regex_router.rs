//! `RegexRouter`: renames the topic when the whole name matches `regex`, using Java's
//! replacement syntax (`$1`, `${name}`, `\$`); a topic that does not match is unchanged.

use regex::Regex;
use weir_connect_api::java_regex::{self, TopicRewrite};
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, Importance, Result, Transform,
};

use super::util;

#[derive(Debug, Default)]
pub struct RegexRouter {
    rewrite: Option<TopicRewrite>,
}

/// Compiles a Java-style pattern for a whole-string match, or Kafka's "Invalid regex" error.
pub(crate) fn whole_match(key: &str, pattern: &str) -> Result<Regex> {
    java_regex::whole_match(pattern).map_err(|e| util::invalid(key, pattern, &e.to_string()))
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
        whole_match("regex", pattern)?;
        let java = c.string("replacement").unwrap_or_default();
        let rewrite = TopicRewrite::new(pattern, java)
            .map_err(|e| util::invalid("replacement", java, &e.to_string()))?;
        self.rewrite = Some(rewrite);
        Ok(())
    }

    fn apply(&self, mut record: ConnectRecord) -> Result<Option<ConnectRecord>> {
        if let Some(rewrite) = &self.rewrite
            && let std::borrow::Cow::Owned(topic) = rewrite.apply(&record.topic)
        {
            record.topic = topic;
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
