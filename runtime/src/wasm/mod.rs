//! WASM plugins in the worker: the registry of plugin files ([`registry`]), Connect records
//! to and from the ABI's framing ([`records`]), and the adapters that make a plugin a
//! transform, predicate, source or sink ([`transform`], [`connector`]). The sandbox itself
//! is the `weir-wasm` crate.

pub mod connector;
pub mod records;
pub mod registry;
pub mod transform;

use std::collections::BTreeMap;
use std::time::Duration;

pub use connector::{WasmConnector, WasmSinkTask, WasmSourceTask};
pub use transform::{WasmPredicate, WasmTransform};
use weir_connect_api::config::ConfigError;
use weir_connect_api::{ConfigMap, ConnectorError, ConnectorType};
use weir_wasm::{Kind, PluginError};

/// `transforms.<alias>.type` / `predicates.<alias>.type` of a plugin named by `module`.
pub const TYPE: &str = "wasm";

/// The connector kind of a WASM plugin called `name`, if there is one.
pub fn connector_kind(name: &str) -> Option<ConnectorType> {
    match registry::global().named(name)?.ok()?.kind {
        Kind::Source => Some(ConnectorType::Source),
        Kind::Sink => Some(ConnectorType::Sink),
        _ => None,
    }
}

/// Names of the WASM source and sink plugins.
pub fn connector_names() -> Vec<String> {
    let r = registry::global();
    let mut out = r.names(Some(Kind::Source));
    out.extend(r.names(Some(Kind::Sink)));
    out
}

/// A plugin failure as the connector API's error: a data error (tolerable, dead-letter
/// queue) for a record's failure, retriable when the guest asked for a retry.
pub fn plugin_error(e: PluginError, record: Option<String>) -> ConnectorError {
    let message = match record {
        Some(at) => format!("{e} (record {at})"),
        None => e.to_string(),
    };
    if e.is_retriable() {
        ConnectorError::retriable(message)
    } else {
        ConnectorError::Data(weir_connect_api::DataError::new(message))
    }
}

/// A whole-number key of at least `min`, `default` when unset or empty; a bad value is
/// reported in `errors` (Kafka's message) and the default used.
pub fn number(
    config: &ConfigMap,
    key: &str,
    default: u64,
    min: u64,
    errors: &mut Vec<ConfigError>,
) -> u64 {
    match config.get(key).map(|v| v.trim()) {
        None | Some("") => default,
        Some(v) => {
            match v.parse::<u64>() {
                Ok(n) if n >= min => n,
                _ => {
                    errors.push(ConfigError::new(
                    key,
                    format!("Invalid value {v} for configuration {key}: Value must be at least {min}"),
                ));
                    default
                }
            }
        }
    }
}

/// The memory cap and call deadline from `<prefix>memory.max.bytes` and
/// `<prefix>call.timeout.ms`.
pub fn limits(
    config: &ConfigMap,
    prefix: &str,
    default_deadline: Duration,
    errors: &mut Vec<ConfigError>,
) -> (usize, Duration) {
    let memory = number(
        config,
        &format!("{prefix}memory.max.bytes"),
        weir_wasm::instance::DEFAULT_MEMORY_BYTES as u64,
        1 << 16,
        errors,
    );
    let timeout = number(
        config,
        &format!("{prefix}call.timeout.ms"),
        default_deadline.as_millis() as u64,
        10,
        errors,
    );
    (memory as usize, Duration::from_millis(timeout))
}

/// The keys under `prefix`, without it.
pub fn sub_map(config: &ConfigMap, prefix: &str) -> BTreeMap<String, String> {
    config
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(prefix)?.to_string(), v.clone())))
        .collect()
}
