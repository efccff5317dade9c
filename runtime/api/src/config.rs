//! Config definitions (Kafka's `ConfigDef`): every key a plugin accepts, with type, default,
//! importance, documentation and validator. One definition serves validation (every error
//! at once), parsing into typed values, and the REST API's config and validate endpoints.
//! Connector configs stay flat string maps on the outside, as in Kafka Connect.

use std::collections::BTreeMap;
use std::fmt;

/// A flat connector or task config, as posted to the REST API.
pub type ConfigMap = BTreeMap<String, String>;

/// The type of a config value (Kafka's `ConfigDef.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    Int,
    Short,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigType {
    /// The name the REST API prints (`BOOLEAN`, `STRING`, ...).
    pub fn name(self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Int => "INT",
            ConfigType::Short => "SHORT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
            ConfigType::Password => "PASSWORD",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Importance {
    High,
    Medium,
    Low,
}

impl Importance {
    pub fn name(self) -> &'static str {
        match self {
            Importance::High => "HIGH",
            Importance::Medium => "MEDIUM",
            Importance::Low => "LOW",
        }
    }
}

/// Extra checks on a value beyond its type.
#[derive(Debug, Clone, PartialEq)]
pub enum Validator {
    /// Numbers within [min, max] (either bound optional).
    Range {
        min: Option<f64>,
        max: Option<f64>,
    },
    /// One of these strings (case-insensitive, as Kafka's `CaseInsensitiveValidString`).
    OneOf(Vec<String>),
    /// Every list element is one of these strings.
    AllOf(Vec<String>),
    NonEmptyString,
}

/// One config key.
impl Validator {
    /// One of `values` (Kafka's `ValidString.in`).
    pub fn one_of(values: &[&str]) -> Self {
        Validator::OneOf(values.iter().map(|v| (*v).to_string()).collect())
    }

    /// At least `min` (Kafka's `Range.atLeast`).
    pub fn at_least(min: f64) -> Self {
        Validator::Range {
            min: Some(min),
            max: None,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ConfigKey {
    pub name: String,
    pub kind: ConfigType,
    /// `None`: the key is required.
    pub default: Option<String>,
    pub importance: Importance,
    pub documentation: String,
    pub validator: Option<Validator>,
    pub group: Option<String>,
    pub display_name: Option<String>,
}

/// A typed config value.
#[derive(Clone, PartialEq)]
pub enum ConfigValue {
    Boolean(bool),
    String(String),
    Int(i32),
    Short(i16),
    Long(i64),
    Double(f64),
    List(Vec<String>),
    Class(String),
    Password(Secret),
}

impl fmt::Debug for ConfigValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConfigValue::Boolean(v) => write!(f, "{v}"),
            ConfigValue::String(v) | ConfigValue::Class(v) => write!(f, "{v:?}"),
            ConfigValue::Int(v) => write!(f, "{v}"),
            ConfigValue::Short(v) => write!(f, "{v}"),
            ConfigValue::Long(v) => write!(f, "{v}"),
            ConfigValue::Double(v) => write!(f, "{v}"),
            ConfigValue::List(v) => write!(f, "{v:?}"),
            ConfigValue::Password(s) => write!(f, "{s}"),
        }
    }
}

/// A secret (PASSWORD config): never printed, never logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    /// The secret itself, for the one place that needs it (a connection).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[hidden]")
    }
}

/// A config problem, naming the key (and never a secret's value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub key: String,
    pub message: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

/// The set of keys a plugin accepts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConfigDef {
    keys: Vec<ConfigKey>,
}

impl ConfigDef {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key (builder style). A `None` default makes it required.
    pub fn define(
        mut self,
        name: &str,
        kind: ConfigType,
        default: Option<&str>,
        importance: Importance,
        documentation: &str,
    ) -> Self {
        self.keys.push(ConfigKey {
            name: name.to_string(),
            kind,
            default: default.map(str::to_string),
            importance,
            documentation: documentation.to_string(),
            validator: None,
            group: None,
            display_name: None,
        });
        self
    }

    /// Attaches a validator to the key defined last.
    pub fn with_validator(mut self, validator: Validator) -> Self {
        if let Some(k) = self.keys.last_mut() {
            k.validator = Some(validator);
        }
        self
    }

    /// Adds every key of `other` (a connector's keys plus the framework's).
    pub fn merge(mut self, other: &ConfigDef) -> Self {
        for k in &other.keys {
            if !self.keys.iter().any(|m| m.name == k.name) {
                self.keys.push(k.clone());
            }
        }
        self
    }

    pub fn keys(&self) -> &[ConfigKey] {
        &self.keys
    }

    pub fn key(&self, name: &str) -> Option<&ConfigKey> {
        self.keys.iter().find(|k| k.name == name)
    }

    /// As [`ConfigDef::parse`], adding the errors to `errors`, so a caller that checks more
    /// than the definition can report every problem at once.
    pub fn parse_into(
        &self,
        config: &ConfigMap,
        errors: &mut Vec<ConfigError>,
    ) -> Option<ParsedConfig> {
        self.parse(config).map_err(|e| errors.extend(e)).ok()
    }

    /// Parses `config` into typed values; every error is returned, in key order. Keys the
    /// definition does not know are kept aside, as Kafka Connect tolerates them.
    pub fn parse(&self, config: &ConfigMap) -> Result<ParsedConfig, Vec<ConfigError>> {
        let mut values = BTreeMap::new();
        let mut errors = Vec::new();
        for key in &self.keys {
            let raw = config.get(&key.name).or(key.default.as_ref());
            let Some(raw) = raw else {
                errors.push(ConfigError::new(
                    &key.name,
                    format!(
                        "Missing required configuration \"{}\" which has no default value.",
                        key.name
                    ),
                ));
                continue;
            };
            match parse_value(key, raw) {
                Ok(v) => {
                    values.insert(key.name.clone(), v);
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Ok(ParsedConfig { values })
        } else {
            Err(errors)
        }
    }
}

fn invalid(key: &ConfigKey, raw: &str, why: &str) -> ConfigError {
    let shown = if key.kind == ConfigType::Password {
        "[hidden]"
    } else {
        raw
    };
    ConfigError::new(
        &key.name,
        format!(
            "Invalid value {shown} for configuration {}: {why}",
            key.name
        ),
    )
}

fn parse_value(key: &ConfigKey, raw: &str) -> Result<ConfigValue, ConfigError> {
    let trimmed = raw.trim();
    let number = |what: &str| invalid(key, raw, &format!("Not a number of type {what}"));
    let value = match key.kind {
        ConfigType::Boolean => match trimmed.to_ascii_lowercase().as_str() {
            "true" => ConfigValue::Boolean(true),
            "false" => ConfigValue::Boolean(false),
            _ => {
                return Err(invalid(
                    key,
                    raw,
                    "Expected value to be either true or false",
                ));
            }
        },
        ConfigType::String => ConfigValue::String(trimmed.to_string()),
        ConfigType::Class => ConfigValue::Class(trimmed.to_string()),
        ConfigType::Password => ConfigValue::Password(Secret::new(raw)),
        ConfigType::Int => ConfigValue::Int(trimmed.parse().map_err(|_| number("INT"))?),
        ConfigType::Short => ConfigValue::Short(trimmed.parse().map_err(|_| number("SHORT"))?),
        ConfigType::Long => ConfigValue::Long(trimmed.parse().map_err(|_| number("LONG"))?),
        ConfigType::Double => ConfigValue::Double(trimmed.parse().map_err(|_| number("DOUBLE"))?),
        ConfigType::List => ConfigValue::List(
            trimmed
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect(),
        ),
    };
    if let Some(v) = &key.validator {
        check(key, raw, &value, v)?;
    }
    Ok(value)
}

fn check(
    key: &ConfigKey,
    raw: &str,
    value: &ConfigValue,
    v: &Validator,
) -> Result<(), ConfigError> {
    let as_f64 = match value {
        ConfigValue::Int(n) => Some(f64::from(*n)),
        ConfigValue::Short(n) => Some(f64::from(*n)),
        ConfigValue::Long(n) => Some(*n as f64),
        ConfigValue::Double(n) => Some(*n),
        _ => None,
    };
    match v {
        Validator::Range { min, max } => {
            if let Some(n) = as_f64 {
                if min.is_some_and(|m| n < m) {
                    let m = min.unwrap_or_default();
                    return Err(invalid(key, raw, &format!("Value must be at least {m}")));
                }
                if max.is_some_and(|m| n > m) {
                    let m = max.unwrap_or_default();
                    return Err(invalid(
                        key,
                        raw,
                        &format!("Value must be no more than {m}"),
                    ));
                }
            }
        }
        Validator::OneOf(allowed) => {
            let ok = allowed.iter().any(|a| a.eq_ignore_ascii_case(raw.trim()));
            if !ok {
                return Err(invalid(
                    key,
                    raw,
                    &format!("String must be one of: {}", allowed.join(", ")),
                ));
            }
        }
        Validator::AllOf(allowed) => {
            let bad = match value {
                ConfigValue::List(items) => items
                    .iter()
                    .find(|i| !allowed.iter().any(|a| a.eq_ignore_ascii_case(i))),
                _ => None,
            };
            if let Some(bad) = bad {
                return Err(invalid(
                    key,
                    raw,
                    &format!("{bad} is not one of: {}", allowed.join(", ")),
                ));
            }
        }
        Validator::NonEmptyString => {
            if raw.trim().is_empty() {
                return Err(invalid(key, raw, "String must be non-empty"));
            }
        }
    }
    Ok(())
}

/// Typed values of a parsed config.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedConfig {
    values: BTreeMap<String, ConfigValue>,
}

impl ParsedConfig {
    pub fn get(&self, key: &str) -> Option<&ConfigValue> {
        self.values.get(key)
    }
    pub fn string(&self, key: &str) -> Option<&str> {
        match self.values.get(key)? {
            ConfigValue::String(s) | ConfigValue::Class(s) => Some(s),
            _ => None,
        }
    }
    pub fn int(&self, key: &str) -> Option<i64> {
        match self.values.get(key)? {
            ConfigValue::Int(n) => Some(i64::from(*n)),
            ConfigValue::Short(n) => Some(i64::from(*n)),
            ConfigValue::Long(n) => Some(*n),
            _ => None,
        }
    }
    pub fn boolean(&self, key: &str) -> Option<bool> {
        match self.values.get(key)? {
            ConfigValue::Boolean(b) => Some(*b),
            _ => None,
        }
    }
    pub fn list(&self, key: &str) -> Option<&[String]> {
        match self.values.get(key)? {
            ConfigValue::List(l) => Some(l),
            _ => None,
        }
    }
    pub fn password(&self, key: &str) -> Option<&Secret> {
        match self.values.get(key)? {
            ConfigValue::Password(s) => Some(s),
            _ => None,
        }
    }
}

/// Java's escapes in config text (`\n`, `\r`, `\t`, `\f`, `\\`; any other escaped
/// character stands for itself; a trailing backslash is dropped), as properties files and
/// separators typed into JSON configs carry them.
pub fn unescape_java(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('t') => out.push('\t'),
            Some('f') => out.push('\u{c}'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def() -> ConfigDef {
        ConfigDef::new()
            .define(
                "file",
                ConfigType::String,
                None,
                Importance::High,
                "Source file.",
            )
            .define(
                "batch.size",
                ConfigType::Int,
                Some("2000"),
                Importance::Low,
                "Lines per poll.",
            )
            .with_validator(Validator::Range {
                min: Some(1.0),
                max: None,
            })
            .define(
                "password",
                ConfigType::Password,
                None,
                Importance::High,
                "Secret.",
            )
            .define(
                "mode",
                ConfigType::String,
                Some("insert"),
                Importance::High,
                "Write mode.",
            )
            .with_validator(Validator::OneOf(vec!["insert".into(), "upsert".into()]))
    }

    #[test]
    fn every_error_is_reported_and_secrets_are_hidden() {
        let mut c = ConfigMap::new();
        c.insert("batch.size".into(), "0".into());
        c.insert("mode".into(), "merge".into());
        let errs = def().parse(&c).expect_err("four errors");
        let msgs: Vec<String> = errs.iter().map(ToString::to_string).collect();
        assert_eq!(
            msgs,
            [
                "Missing required configuration \"file\" which has no default value.",
                "Invalid value 0 for configuration batch.size: Value must be at least 1",
                "Missing required configuration \"password\" which has no default value.",
                "Invalid value merge for configuration mode: String must be one of: insert, upsert",
            ]
        );
        c.insert("file".into(), "/tmp/in".into());
        c.insert("password".into(), "hunter2".into());
        c.insert("batch.size".into(), "10".into());
        c.insert("mode".into(), "UPSERT".into());
        let parsed = def().parse(&c).expect("valid");
        assert_eq!(parsed.int("batch.size"), Some(10));
        assert_eq!(format!("{:?}", parsed.get("password")), "Some([hidden])");
        assert_eq!(
            parsed.password("password").map(Secret::expose),
            Some("hunter2")
        );
    }
}
