//! The built-in predicates of `org.apache.kafka.connect.transforms.predicates`:
//! `TopicNameMatches` (`pattern`, a whole-name match), `HasHeaderKey` (`name`) and
//! `RecordIsTombstone`.

use regex::Regex;
use weir_connect_api::config::Validator;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectRecord, Importance, Predicate, Result,
};

use super::regex_router::whole_match;
use super::util;

#[derive(Debug, Default)]
pub struct TopicNameMatches {
    pattern: Option<Regex>,
}

impl Predicate for TopicNameMatches {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "pattern",
                ConfigType::String,
                None,
                Importance::Medium,
                "A Java regular expression for matching against the name of a record's topic.",
            )
            .with_validator(Validator::NonEmptyString)
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.pattern = Some(whole_match(
            "pattern",
            c.string("pattern").unwrap_or_default(),
        )?);
        Ok(())
    }

    fn test(&self, record: &ConnectRecord) -> Result<bool> {
        Ok(self
            .pattern
            .as_ref()
            .is_some_and(|p| p.is_match(&record.topic)))
    }
}

#[derive(Debug, Default)]
pub struct HasHeaderKey {
    name: String,
}

impl Predicate for HasHeaderKey {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                "name",
                ConfigType::String,
                None,
                Importance::Medium,
                "The header name.",
            )
            .with_validator(Validator::NonEmptyString)
    }

    fn configure(&mut self, config: &ConfigMap) -> Result<()> {
        let c = util::parse(&self.config_def(), config)?;
        self.name = c.string("name").unwrap_or_default().to_string();
        Ok(())
    }

    fn test(&self, record: &ConnectRecord) -> Result<bool> {
        Ok(record.headers.last(&self.name).is_some())
    }
}

#[derive(Debug, Default, Clone, Copy)]
pub struct RecordIsTombstone;

impl Predicate for RecordIsTombstone {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }

    fn configure(&mut self, _config: &ConfigMap) -> Result<()> {
        Ok(())
    }

    fn test(&self, record: &ConnectRecord) -> Result<bool> {
        Ok(record.is_tombstone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transforms::util::testing::*;
    use weir_connect_api::{ConnectorError, Value};

    fn record(topic: &str) -> ConnectRecord {
        let mut r = schemaless(Value::Null);
        r.topic = topic.to_string();
        r
    }

    #[test]
    fn topic_name_matches_the_whole_name() {
        let mut p = TopicNameMatches::default();
        p.configure(&config(&[("pattern", "my-prefix-.*")]))
            .expect("valid");
        assert!(p.test(&record("my-prefix-orders")).expect("test"));
        assert!(!p.test(&record("x-my-prefix-orders")).expect("test"));
        let mut p = TopicNameMatches::default();
        p.configure(&config(&[("pattern", "orders")]))
            .expect("valid");
        assert!(
            !p.test(&record("orders-v2")).expect("test"),
            "find() would match, matches() does not"
        );
        let err = TopicNameMatches::default()
            .configure(&config(&[("pattern", "")]))
            .expect_err("empty");
        let ConnectorError::Config(errs) = err else {
            panic!("config error expected")
        };
        assert_eq!(
            errs[0].message,
            "Invalid value  for configuration pattern: String must be non-empty"
        );
    }

    #[test]
    fn header_key_and_tombstone() {
        let mut p = HasHeaderKey::default();
        p.configure(&config(&[("name", "h")])).expect("valid");
        let mut r = record("t");
        assert!(!p.test(&r).expect("test"));
        r.headers.add("h", None, Value::Null);
        assert!(p.test(&r).expect("test"));
        assert!(RecordIsTombstone.test(&r).expect("test"));
        r.value = Value::Int8(1);
        assert!(!RecordIsTombstone.test(&r).expect("test"));
    }
}
