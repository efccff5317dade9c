//! Connector config validation, as Kafka Connect's `AbstractHerder.validateConnectorConfig`
//! does it: the framework keys (`name`, `connector.class`, `tasks.max`, converters,
//! `transforms` / `predicates` and the keys of every configured transform and predicate,
//! `errors.*`, a sink's `topics` / `topics.regex`) merged with the connector's own
//! `config_def()`, every key checked, every error reported at once.
//!
//! The result is Kafka's `ConfigInfos` JSON (`PUT /connector-plugins/x/config/validate`);
//! [`invalid_message`] turns it into the 400 text of `POST /connectors` and
//! `PUT /connectors/x/config`. The plugin listing and per-plugin key lists of
//! `/connector-plugins` live here too, so all three endpoints share one definition.

mod defs;
mod rules;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use weir_connect_api::{ConfigDef, ConfigMap, ConnectorError, ConnectorType};

use self::defs::{Def, alias_defs, framework_defs};
use self::rules::{framework_errors, header_converter, sink_topic_errors};
use super::model::WorkerError;
use crate::converters::{CONVERTER_CLASSES, converter_for};
use crate::plugins;
use crate::transforms::{self, TransformChain};

pub const NAME: &str = "name";
pub const CONNECTOR_CLASS: &str = "connector.class";
pub const TASKS_MAX: &str = "tasks.max";
pub const TASKS_MAX_ENFORCE: &str = "tasks.max.enforce";
pub const KEY_CONVERTER: &str = "key.converter";
pub const VALUE_CONVERTER: &str = "value.converter";
pub const HEADER_CONVERTER: &str = "header.converter";
pub const TRANSFORMS: &str = "transforms";
pub const PREDICATES: &str = "predicates";
pub const CONFIG_RELOAD_ACTION: &str = "config.action.reload";
pub const TOPICS: &str = "topics";
pub const TOPICS_REGEX: &str = "topics.regex";

/// The one header converter weir runs: headers are written as Kafka's
/// `SimpleHeaderConverter` writes them.
pub const HEADER_CONVERTER_CLASSES: &[&str] =
    &["org.apache.kafka.connect.storage.SimpleHeaderConverter"];

/// `definition` of one key (Kafka's `ConfigKeyInfo`), fields in Kafka's order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigKeyInfo {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub required: bool,
    pub default_value: Option<String>,
    pub importance: String,
    pub documentation: String,
    pub group: Option<String>,
    pub width: String,
    pub display_name: String,
    pub dependents: Vec<String>,
    pub order: i32,
}

/// `value` of one key: the parsed value (`null` when missing or invalid; passwords
/// `[hidden]`) and its errors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigValueInfo {
    pub name: String,
    pub value: Option<String>,
    pub recommended_values: Vec<String>,
    pub errors: Vec<String>,
    pub visible: bool,
}

/// One key: its definition (`null` for a key no definition knows) and its value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigInfo {
    pub definition: Option<ConfigKeyInfo>,
    pub value: ConfigValueInfo,
}

/// The answer of `PUT /connector-plugins/x/config/validate`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConfigInfos {
    pub name: String,
    pub error_count: usize,
    pub groups: Vec<String>,
    pub configs: Vec<ConfigInfo>,
}

/// One entry of `GET /connector-plugins`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PluginInfo {
    pub class: String,
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The prefixed keys of a converter the connector config names (`value.converter=...`)
/// with the errors of its sub-config (`value.converter.schemas.enable=...`).
fn converter_infos(config: &ConfigMap, key: &str, is_key: bool) -> Vec<ConfigInfo> {
    let Some(mut converter) = config.get(key).and_then(|c| converter_for(c)) else {
        return Vec::new();
    };
    let prefix = format!("{key}.");
    let sub: ConfigMap = config
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_string(), v.clone())))
        .collect();
    let rename = |name: &str, message: String| {
        message
            .replace(
                &format!("configuration {name}:"),
                &format!("configuration {prefix}{name}:"),
            )
            .replace(&format!("\"{name}\""), &format!("\"{prefix}{name}\""))
    };
    let mut infos = Vec::new();
    let mut clean = true;
    for (i, k) in converter.config_def().keys().iter().enumerate() {
        let def = Def::from_key(k, "", None, i as i32 + 1);
        let (value, errors) = def.check(&sub);
        clean &= errors.is_empty();
        let mut info = entry(
            &def,
            value,
            errors.into_iter().map(|e| rename(&k.name, e)).collect(),
        );
        if let Some(d) = &mut info.definition {
            d.name = format!("{prefix}{}", d.name);
        }
        info.value.name = format!("{prefix}{}", info.value.name);
        infos.push(info);
    }
    if clean && let Err(e) = converter.configure(&sub, is_key) {
        let problems = match e {
            ConnectorError::Config(errs) => errs
                .into_iter()
                .map(|c| (format!("{prefix}{}", c.key), rename(&c.key, c.message)))
                .collect(),
            other => vec![(key.to_string(), other.to_string())],
        };
        for (name, message) in problems {
            match infos.iter_mut().find(|i| i.value.name == name) {
                Some(info) => info.value.errors.push(message),
                None => infos.push(orphan(name, config, vec![message])),
            }
        }
    }
    infos
}

fn entry(def: &Def, value: Option<String>, errors: Vec<String>) -> ConfigInfo {
    ConfigInfo {
        definition: Some(def.info()),
        value: ConfigValueInfo {
            name: def.name.clone(),
            value,
            recommended_values: def.recommended.clone(),
            errors,
            visible: true,
        },
    }
}

/// An error on a key no definition covers (shown without a definition, as Kafka does).
fn orphan(name: String, config: &ConfigMap, errors: Vec<String>) -> ConfigInfo {
    ConfigInfo {
        definition: None,
        value: ConfigValueInfo {
            value: config.get(&name).cloned(),
            name,
            recommended_values: Vec::new(),
            errors,
            visible: true,
        },
    }
}

/// The connector's own keys of `config`: everything that is not Kafka Connect's (the
/// framework keys of `kind`'s connectors, converter, transform and predicate sub-keys,
/// client overrides, topic creation). A WASM connector passes these to its plugin.
pub fn connector_own_keys(kind: ConnectorType, config: &ConfigMap) -> BTreeMap<String, String> {
    const PREFIXES: &[&str] = &[
        "key.converter.",
        "value.converter.",
        "header.converter.",
        "transforms.",
        "predicates.",
        "consumer.override.",
        "producer.override.",
        "admin.override.",
        "topic.creation.",
    ];
    // Kafka Connect keys weir accepts without defining them for every kind.
    const UNDEFINED: &[&str] = &[
        TOPICS,
        TOPICS_REGEX,
        "offsets.storage.topic",
        "exactly.once.support",
        "transaction.boundary",
        "topic.creation.groups",
    ];
    let framework: Vec<String> = framework_defs(Some(kind))
        .into_iter()
        .map(|d| d.name)
        .collect();
    config
        .iter()
        .filter(|(k, _)| {
            !framework.contains(k)
                && !UNDEFINED.contains(&k.as_str())
                && !PREFIXES.iter().any(|p| k.starts_with(p))
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Validates a connector config: framework keys, the connector's own keys, transforms,
/// predicates and converter sub-configs. Never fails: problems are in the result.
pub fn validate(config: &ConfigMap) -> ConfigInfos {
    let class = config.get(CONNECTOR_CLASS).map_or("", |c| c.trim());
    let plugin = plugins::connector(class);
    let mut defs = framework_defs(plugin.as_ref().map(|p| p.kind));
    defs.extend(alias_defs(config, TRANSFORMS));
    defs.extend(alias_defs(config, PREDICATES));
    if let Some(p) = &plugin {
        // A connector key with a framework key's name replaces it in place, as Kafka's
        // `putAll` of the connector's definition does.
        for k in p.new_connector().config_def().keys() {
            let def = Def::from_key(k, "", None, -1);
            match defs.iter_mut().find(|d| d.name == k.name) {
                Some(existing) => *existing = def,
                None => defs.push(def),
            }
        }
    }
    let mut extra: BTreeMap<String, Vec<String>> = BTreeMap::new();
    framework_errors(config, &mut extra);
    if let Some(p) = &plugin {
        for e in p.new_connector().validate(config) {
            extra.entry(e.key).or_default().push(e.message);
        }
    }
    if plugin.is_some_and(|p| p.kind == ConnectorType::Sink) {
        sink_topic_errors(config, &mut extra);
    }
    if let Err(errors) = TransformChain::from_config(config) {
        for e in errors {
            extra.entry(e.key).or_default().push(e.message);
        }
    }
    let mut configs = Vec::new();
    let mut keyed = Vec::new();
    for def in &defs {
        let (value, mut errors) = def.check(config);
        for more in extra.remove(&def.name).unwrap_or_default() {
            // The connector's own check repeats what the definition already found.
            if !errors.contains(&more) {
                errors.push(more);
            }
        }
        keyed.push(entry(def, value, errors));
    }
    // Errors on keys nothing defines come first, as in Kafka's `generateResult`.
    for (name, errors) in extra {
        configs.push(orphan(name, config, errors));
    }
    configs.extend(keyed);
    configs.extend(converter_infos(config, KEY_CONVERTER, true));
    configs.extend(converter_infos(config, VALUE_CONVERTER, false));
    let mut groups: Vec<String> = Vec::new();
    for g in configs
        .iter()
        .filter_map(|c| c.definition.as_ref()?.group.as_ref())
    {
        if !groups.contains(g) {
            groups.push(g.clone());
        }
    }
    ConfigInfos {
        name: config.get(CONNECTOR_CLASS).cloned().unwrap_or_default(),
        error_count: configs.iter().map(|c| c.value.errors.len()).sum(),
        groups,
        configs,
    }
}

/// `None` when `infos` has no error, else Kafka's 400 message listing every error.
pub fn invalid_message(infos: &ConfigInfos) -> Option<String> {
    if infos.error_count == 0 {
        return None;
    }
    let mut m = format!(
        "Connector configuration is invalid and contains the following {} error(s):",
        infos.error_count
    );
    for e in infos.configs.iter().flat_map(|c| &c.value.errors) {
        m.push('\n');
        m.push_str(e);
    }
    m.push_str(
        "\nYou can also find the above list of errors at the endpoint \
         `/connector-plugins/{connectorType}/config/validate`",
    );
    Some(m)
}

/// `GET /connector-plugins`: sinks, then sources (Kafka's order); with `connectors_only`
/// false also transformations, predicates, converters and header converters.
pub fn connector_plugins(connectors_only: bool) -> Vec<PluginInfo> {
    let ours = || Some(env!("CARGO_PKG_VERSION").to_string());
    let info = |class: &str, kind: &str, version: Option<String>| PluginInfo {
        class: class.to_string(),
        kind: kind.to_string(),
        version,
    };
    let mut out = Vec::new();
    for kind in [ConnectorType::Sink, ConnectorType::Source] {
        let mut of_kind: Vec<_> = plugins::CONNECTORS
            .iter()
            .filter(|p| p.kind == kind)
            .collect();
        of_kind.sort_by_key(|p| p.class);
        for p in of_kind {
            let version = (p.new)().version().to_string();
            out.push(info(
                p.class,
                kind.name(),
                Some(version).filter(|v| !v.is_empty()),
            ));
        }
    }
    // WASM plugins from plugin.path, by name, with their content hash as the version.
    let wasm = crate::wasm::registry::global().listing();
    let wasm_of = |kind: &str| {
        wasm.iter()
            .filter(|l| l.kind.name() == kind)
            .map(|l| info(&l.name, kind, Some(l.version.clone())))
            .collect::<Vec<_>>()
    };
    out.extend(wasm_of("sink"));
    out.extend(wasm_of("source"));
    if connectors_only {
        return out;
    }
    let sorted = |mut v: Vec<&'static str>| {
        v.sort_unstable();
        v
    };
    for (kind, classes) in [
        (
            "transformation",
            sorted(transforms::TRANSFORMS.iter().map(|(c, _)| *c).collect()),
        ),
        (
            "predicate",
            sorted(transforms::PREDICATES.iter().map(|(c, _)| *c).collect()),
        ),
        ("converter", sorted(CONVERTER_CLASSES.to_vec())),
        (
            "header_converter",
            sorted(HEADER_CONVERTER_CLASSES.to_vec()),
        ),
    ] {
        out.extend(classes.into_iter().map(|c| info(c, kind, ours())));
        out.extend(wasm_of(kind));
    }
    out
}

/// `GET /connector-plugins/{plugin}/config`: the plugin's keys (a connector's first, then
/// the framework's), by class name or alias; `None` for an unknown plugin.
pub fn plugin_config(plugin: &str) -> Option<Vec<ConfigKeyInfo>> {
    let plugin = plugin.trim();
    let own = |def: ConfigDef| -> Vec<ConfigKeyInfo> {
        def.keys()
            .iter()
            .map(|k| Def::from_key(k, "", None, -1).info())
            .collect()
    };
    if let Some(p) = plugins::connector(plugin) {
        let mut keys = own(p.new_connector().config_def());
        for d in framework_defs(Some(p.kind)) {
            if !keys.iter().any(|k| k.name == d.name) {
                keys.push(d.info());
            }
        }
        return Some(keys);
    }
    if let Some(t) = transforms::new_transform(plugin) {
        return Some(own(t.config_def()));
    }
    if let Some(p) = transforms::new_predicate(plugin) {
        return Some(own(p.config_def()));
    }
    if let Some(c) = converter_for(plugin) {
        return Some(own(c.config_def()));
    }
    header_converter(plugin).map(|_| Vec::new())
}

/// Kafka Connect's name rules: not empty, no control characters.
pub fn check_name(name: &str) -> Result<(), WorkerError> {
    if name.trim().is_empty() {
        return Err(WorkerError::BadRequest(
            "Connector name cannot be empty".to_string(),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(WorkerError::BadRequest(format!(
            "Connector name {name:?} must not contain ISO control characters"
        )));
    }
    Ok(())
}

/// The name in the config must match the URL's; the whole config must validate.
pub fn check_config(name: &str, config: &ConfigMap) -> Result<(), WorkerError> {
    if let Some(given) = config.get("name")
        && given != name
    {
        return Err(WorkerError::BadRequest(format!(
            "Connector name configuration ({given}) doesn't match connector name in the URL ({name})"
        )));
    }
    let infos = validate(config);
    match invalid_message(&infos) {
        Some(message) => Err(WorkerError::BadRequest(message)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests;
