//! A connector's transform chain, parsed once from its flat config:
//!
//! ```text
//! transforms=unwrap,route
//! transforms.route.type=org.apache.kafka.connect.transforms.RegexRouter
//! transforms.route.regex=...            (everything else under the alias goes to the SMT)
//! transforms.route.predicate=isData     (optional)
//! transforms.route.negate=false         (optional)
//! predicates=isData
//! predicates.isData.type=org.apache.kafka.connect.transforms.predicates.TopicNameMatches
//! ```
//!
//! Transforms apply in list order; `None` from one drops the record. A transform with a
//! predicate applies only where `predicate.test(record) != negate`, as Kafka's
//! `TransformationStage`.

use std::collections::BTreeSet;
use std::fmt;
use std::sync::Arc;

use weir_connect_api::config::ConfigError;
use weir_connect_api::{ConfigDef, ConfigMap, ConnectRecord, ConnectorError, Predicate, Transform};

use super::{PREDICATES, TRANSFORMS, new_predicate, new_transform, variants_of};

struct Stage {
    alias: String,
    transform: Box<dyn Transform>,
    predicate: Option<Arc<dyn Predicate>>,
    negate: bool,
}

/// The configured transforms of one connector, ready to apply.
#[derive(Default)]
pub struct TransformChain {
    stages: Vec<Stage>,
}

impl fmt::Debug for TransformChain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.stages.iter().map(|s| &s.alias))
            .finish()
    }
}

/// `transforms` / `predicates` as a list of aliases; duplicates are an error, as in Kafka.
fn aliases(config: &ConfigMap, key: &str, errors: &mut Vec<ConfigError>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let raw = config.get(key).map_or("", String::as_str);
    for alias in raw.split(',').map(str::trim).filter(|a| !a.is_empty()) {
        if out.iter().any(|a| a == alias) {
            errors.push(ConfigError::new(
                key,
                format!("Invalid value {raw} for configuration {key}: Duplicate alias provided."),
            ));
        } else {
            out.push(alias.to_string());
        }
    }
    out
}

/// Keys under `<key>.<alias>.` for aliases not listed in `<key>`: almost always a typo, but
/// Kafka Connect ignores them, so the same config must work here: they are logged, not
/// refused.
fn warn_unlisted(config: &ConfigMap, key: &str, listed: &[String]) {
    let prefix = format!("{key}.");
    let mut seen = BTreeSet::new();
    for k in config.keys() {
        let Some(rest) = k.strip_prefix(&prefix) else {
            continue;
        };
        if listed.iter().any(|a| {
            rest.strip_prefix(a.as_str())
                .is_some_and(|r| r.starts_with('.'))
        }) {
            continue;
        }
        let alias = rest.split('.').next().unwrap_or(rest);
        if seen.insert(alias.to_string()) {
            tracing::warn!(config = %k, alias,
                "ignoring config of an alias that is not listed in '{key}' (a typo?)");
        }
    }
}

/// The SMT's own settings: every key under `prefix` except the chain's own.
fn sub_config(config: &ConfigMap, prefix: &str) -> ConfigMap {
    config
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone())))
        .filter(|(k, _)| !matches!(k.as_str(), "type" | "predicate" | "negate"))
        .collect()
}

/// Validates `config` against `def` with every key under `prefix`, so messages name the
/// full key (`Missing required configuration "transforms.route.regex" ...`).
fn check_prefixed(def: &ConfigDef, prefix: &str, config: &ConfigMap) -> Vec<ConfigError> {
    let mut prefixed = ConfigDef::new();
    for k in def.keys() {
        let name = format!("{prefix}{}", k.name);
        prefixed = prefixed.define(
            &name,
            k.kind,
            k.default.as_deref(),
            k.importance,
            &k.documentation,
        );
        if let Some(v) = &k.validator {
            prefixed = prefixed.with_validator(v.clone());
        }
    }
    prefixed.parse(config).err().unwrap_or_default()
}

/// A plugin's `configure` error with its keys (and the keys its messages name) prefixed.
fn prefixed_errors(err: ConnectorError, prefix: &str) -> Vec<ConfigError> {
    match err {
        ConnectorError::Config(errs) => errs
            .into_iter()
            .map(|e| {
                let full = format!("{prefix}{}", e.key);
                let message = e
                    .message
                    .replace(
                        &format!("configuration {}:", e.key),
                        &format!("configuration {full}:"),
                    )
                    .replace(&format!("\"{}\"", e.key), &format!("\"{full}\""));
                ConfigError::new(full, message)
            })
            .collect(),
        other => vec![ConfigError::new(format!("{prefix}type"), other.to_string())],
    }
}

/// What the chain needs of transforms and predicates alike.
trait Plugin {
    /// Kafka's word in messages: "Transformation" or "Predicate".
    const KIND: &'static str;
    fn known() -> Vec<String>;
    fn create(class: &str) -> Option<Box<Self>>;
    fn definition(&self) -> ConfigDef;
    fn setup(&mut self, config: &ConfigMap) -> Result<(), ConnectorError>;
}

impl Plugin for dyn Transform {
    const KIND: &'static str = "Transformation";
    fn known() -> Vec<String> {
        let mut known: Vec<String> = TRANSFORMS.iter().map(|(n, _)| n.to_string()).collect();
        known.push(crate::wasm::TYPE.to_string());
        known.extend(crate::wasm::registry::global().names(Some(weir_wasm::Kind::Transform)));
        known
    }
    fn create(class: &str) -> Option<Box<Self>> {
        new_transform(class)
    }
    fn definition(&self) -> ConfigDef {
        self.config_def()
    }
    fn setup(&mut self, config: &ConfigMap) -> Result<(), ConnectorError> {
        self.configure(config)
    }
}

impl Plugin for dyn Predicate {
    const KIND: &'static str = "Predicate";
    fn known() -> Vec<String> {
        let mut known: Vec<String> = PREDICATES.iter().map(|(n, _)| n.to_string()).collect();
        known.push(crate::wasm::TYPE.to_string());
        known.extend(crate::wasm::registry::global().names(Some(weir_wasm::Kind::Predicate)));
        known
    }
    fn create(class: &str) -> Option<Box<Self>> {
        new_predicate(class)
    }
    fn definition(&self) -> ConfigDef {
        self.config_def()
    }
    fn setup(&mut self, config: &ConfigMap) -> Result<(), ConnectorError> {
        self.configure(config)
    }
}

/// Resolves and configures one plugin under `prefix`, or says why not.
fn build<P: Plugin + ?Sized>(
    config: &ConfigMap,
    prefix: &str,
    errors: &mut Vec<ConfigError>,
) -> Option<Box<P>> {
    let kind = P::KIND;
    let type_key = format!("{prefix}type");
    let Some(class) = config
        .get(&type_key)
        .map(|c| c.trim())
        .filter(|c| !c.is_empty())
    else {
        errors.push(ConfigError::new(
            &type_key,
            format!("Missing required configuration \"{type_key}\" which has no default value."),
        ));
        return None;
    };
    let Some(mut plugin) = P::create(class) else {
        let variants = variants_of(class);
        let why = if kind == "Transformation" && !variants.is_empty() {
            format!(
                "{kind} is abstract and cannot be created. Did you mean {}?",
                variants.join(", ")
            )
        } else {
            format!(
                "Class {class} could not be found. Known {}s: {}",
                kind.to_lowercase(),
                P::known().join(", ")
            )
        };
        errors.push(ConfigError::new(
            &type_key,
            format!("Invalid value {class} for configuration {type_key}: {why}"),
        ));
        return None;
    };
    let problems = check_prefixed(&plugin.definition(), prefix, config);
    if !problems.is_empty() {
        errors.extend(problems);
        return None;
    }
    match plugin.setup(&sub_config(config, prefix)) {
        Ok(()) => Some(plugin),
        Err(e) => {
            errors.extend(prefixed_errors(e, prefix));
            None
        }
    }
}

/// A stage's `predicate` and `negate`, checked as Kafka checks them.
fn stage_predicate(
    config: &ConfigMap,
    prefix: &str,
    predicates: &[(String, Arc<dyn Predicate>)],
    predicate_aliases: &[String],
    errors: &mut Vec<ConfigError>,
) -> (Option<Arc<dyn Predicate>>, bool) {
    let predicate_key = format!("{prefix}predicate");
    let negate_key = format!("{prefix}negate");
    let predicate_alias = config
        .get(&predicate_key)
        .map(|p| p.trim())
        .filter(|p| !p.is_empty());
    let negate = match config
        .get(&negate_key)
        .map(|n| n.trim().to_ascii_lowercase())
    {
        None => false,
        Some(n) if n == "true" => true,
        Some(n) if n == "false" => false,
        Some(n) => {
            errors.push(ConfigError::new(&negate_key, format!(
                "Invalid value {n} for configuration {negate_key}: Expected value to be either true or false"
            )));
            false
        }
    };
    if config.contains_key(&negate_key) && predicate_alias.is_none() {
        errors.push(ConfigError::new(&negate_key, format!(
            "Config '{negate_key}' was provided but there is no config '{predicate_key}' defining a predicate to be negated."
        )));
    }
    let predicate = match predicate_alias {
        None => None,
        Some(p) => match predicates.iter().find(|(a, _)| a == p) {
            Some((_, pred)) => Some(pred.clone()),
            None if predicate_aliases.iter().any(|a| a == p) => None, // its own error is reported
            None => {
                errors.push(ConfigError::new(&predicate_key, format!(
                    "Invalid value {p} for configuration {predicate_key}: Predicate '{p}' is not defined: list it in 'predicates' and set 'predicates.{p}.type'"
                )));
                None
            }
        },
    };
    (predicate, negate)
}

/// `items` spread over `origins` (indexes into `items`, as [`TransformChain::apply_batch`]
/// returns them): each item is moved to its last use and cloned for the earlier ones, so
/// the common one-to-one case copies nothing. An index out of range is left out.
pub fn fan_out<T: Clone>(items: Vec<T>, origins: &[u32]) -> Vec<T> {
    let mut uses = vec![0usize; items.len()];
    for o in origins {
        if let Some(n) = uses.get_mut(*o as usize) {
            *n += 1;
        }
    }
    let mut items: Vec<Option<T>> = items.into_iter().map(Some).collect();
    origins
        .iter()
        .filter_map(|o| {
            let o = *o as usize;
            let n = uses.get_mut(o)?;
            *n -= 1;
            if *n == 0 {
                items[o].take()
            } else {
                items[o].clone()
            }
        })
        .collect()
}

impl TransformChain {
    /// Parses and configures every transform and predicate; every problem is reported.
    pub fn from_config(config: &ConfigMap) -> Result<Self, Vec<ConfigError>> {
        let mut errors = Vec::new();
        let transform_aliases = aliases(config, "transforms", &mut errors);
        let predicate_aliases = aliases(config, "predicates", &mut errors);
        warn_unlisted(config, "transforms", &transform_aliases);
        warn_unlisted(config, "predicates", &predicate_aliases);

        let mut predicates: Vec<(String, Arc<dyn Predicate>)> = Vec::new();
        for alias in &predicate_aliases {
            let prefix = format!("predicates.{alias}.");
            if let Some(p) = build::<dyn Predicate>(config, &prefix, &mut errors) {
                predicates.push((alias.clone(), Arc::from(p)));
            }
        }

        let mut stages = Vec::new();
        for alias in &transform_aliases {
            let prefix = format!("transforms.{alias}.");
            let (predicate, negate) = stage_predicate(
                config,
                &prefix,
                &predicates,
                &predicate_aliases,
                &mut errors,
            );
            if let Some(transform) = build::<dyn Transform>(config, &prefix, &mut errors) {
                stages.push(Stage {
                    alias: alias.clone(),
                    transform,
                    predicate,
                    negate,
                });
            }
        }
        if errors.is_empty() {
            Ok(Self { stages })
        } else {
            Err(errors)
        }
    }

    /// Applies every transform in order: the records that come out (none when one was
    /// dropped, several when a WASM transform emitted more than one).
    pub fn apply(&self, record: ConnectRecord) -> Result<Vec<ConnectRecord>, ConnectorError> {
        let mut records = vec![record];
        for stage in &self.stages {
            let mut next = Vec::with_capacity(records.len());
            for record in records {
                let applies = match &stage.predicate {
                    None => true,
                    Some(p) => p.test(&record)? != stage.negate,
                };
                if applies {
                    next.extend(stage.transform.apply_many(record)?);
                } else {
                    next.push(record);
                }
            }
            if next.is_empty() {
                return Ok(next);
            }
            records = next;
        }
        Ok(records)
    }

    /// Whether a stage does better with whole batches (a WASM plugin): the worker then
    /// calls [`TransformChain::apply_batch`].
    pub fn batched(&self) -> bool {
        self.stages.iter().any(|s| s.transform.batched())
    }

    /// Applies every transform to a whole batch: the records that come out, in order, and
    /// the index of the input each came from. Any error fails the whole batch; the caller
    /// then goes record by record with [`TransformChain::apply`].
    pub fn apply_batch(
        &self,
        mut records: Vec<ConnectRecord>,
    ) -> Result<(Vec<ConnectRecord>, Vec<u32>), ConnectorError> {
        let mut origins: Vec<u32> = (0..records.len() as u32).collect();
        for stage in &self.stages {
            if records.is_empty() {
                break;
            }
            // The records the stage applies to go to it in one call; the others pass.
            let mut selected = Vec::with_capacity(records.len());
            let mut passing: Vec<Option<ConnectRecord>> = Vec::with_capacity(records.len());
            for record in records {
                let applies = match &stage.predicate {
                    None => true,
                    Some(p) => p.test(&record)? != stage.negate,
                };
                if applies {
                    selected.push(record);
                    passing.push(None);
                } else {
                    passing.push(Some(record));
                }
            }
            let (outputs, from) = stage.transform.apply_batch(selected)?;
            let mut outputs: Vec<(u32, ConnectRecord)> = from.into_iter().zip(outputs).collect();
            if !outputs.is_sorted_by_key(|(k, _)| *k) {
                outputs.sort_by_key(|(k, _)| *k); // stable: one input's outputs keep their order
            }
            let mut outputs = outputs.into_iter().peekable();
            let mut next = Vec::with_capacity(passing.len());
            let mut next_origins = Vec::with_capacity(passing.len());
            let mut k = 0u32;
            for (slot, origin) in passing.into_iter().zip(&origins) {
                match slot {
                    Some(record) => {
                        next.push(record);
                        next_origins.push(*origin);
                    }
                    None => {
                        while let Some((_, record)) = outputs.next_if(|(from, _)| *from == k) {
                            next.push(record);
                            next_origins.push(*origin);
                        }
                        k += 1;
                    }
                }
            }
            records = next;
            origins = next_origins;
        }
        Ok((records, origins))
    }

    /// The transform aliases, in application order.
    pub fn aliases(&self) -> impl Iterator<Item = &str> {
        self.stages.iter().map(|s| s.alias.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.stages.is_empty()
    }
}

#[cfg(test)]
#[path = "chain_tests.rs"]
mod tests;
