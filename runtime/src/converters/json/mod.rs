//! `org.apache.kafka.connect.json.JsonConverter`, byte-compatible with Kafka's.
//!
//! With `schemas.enable=true` (the default) every non-null key or value is the envelope
//! `{"schema":<schema>,"payload":<payload>}`; with `false` only the payload. A null value
//! (tombstone) is always a Kafka null. Layout: [`schema`] (schema <-> JSON), [`payload`]
//! and `read` (values <-> JSON), and the JSON text itself in `node` / `parse`, written by
//! hand so key order, number text and string escaping match Jackson byte for byte.

pub(crate) mod base64;
pub(crate) use weir_connect_api::decimal;
mod node;
pub(crate) mod number;
mod parse;
pub mod payload;
mod read;
pub mod schema;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_read;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use weir_connect_api::config::Validator;
use weir_connect_api::converter::SchemaAndValue;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConfigType, ConnectorError, Converter, DataError, Importance, Result,
    SchemaRef, Value,
};

use node::Node;
use payload::Settings;

pub const SCHEMAS_ENABLE: &str = "schemas.enable";
pub const SCHEMAS_CACHE_SIZE: &str = "schemas.cache.size";
pub const DECIMAL_FORMAT: &str = "decimal.format";
pub const REPLACE_NULL_WITH_DEFAULT: &str = "replace.null.with.default";

/// Kafka's exact message for input that is not a schema/payload envelope.
pub const ENVELOPE_REQUIRED: &str = "JsonConverter with schemas.enable requires \"schema\" and \"payload\" fields and may not contain additional fields. If you are trying to deserialize plain JSON data, set schemas.enable=false in your converter configuration.";

#[derive(Debug, Clone)]
pub struct JsonConverter {
    schemas_enable: bool,
    /// How many schemas read from JSON are kept (Kafka's `schemas.cache.size`); 0 keeps none.
    schemas_cache_size: i64,
    settings: Settings,
    /// Connect schemas already read, by their JSON: every record of a table carries the
    /// same schema, and reading it again for each one was most of a read's cost.
    read_schemas: Arc<Mutex<HashMap<Node, Option<SchemaRef>>>>,
}

impl Default for JsonConverter {
    /// Kafka's defaults, so an unconfigured converter behaves as a configured-empty one.
    fn default() -> Self {
        Self {
            schemas_enable: true,
            schemas_cache_size: 1000,
            settings: Settings {
                numeric_decimals: false,
                replace_null_with_default: true,
            },
            read_schemas: Arc::default(),
        }
    }
}

impl JsonConverter {
    pub fn schemas_enabled(&self) -> bool {
        self.schemas_enable
    }

    pub fn schemas_cache_size(&self) -> i64 {
        self.schemas_cache_size
    }

    /// The Connect schema of a record's `schema` member, from the cache when it was read
    /// before. Schemas that fail to read are not cached.
    fn read_schema(&self, node: &Node) -> Result<Option<SchemaRef>> {
        let limit = usize::try_from(self.schemas_cache_size).unwrap_or(0);
        if limit > 0
            && let Some(hit) = self
                .read_schemas
                .lock()
                .ok()
                .and_then(|c| c.get(node).cloned())
        {
            return Ok(hit);
        }
        let schema = schema::to_connect(node, self.settings).map_err(|e| {
            let e = e.into_data();
            DataError::new(format!(
                "Invalid schema in the \"schema\" field: {}",
                e.message
            ))
        })?;
        if limit > 0
            && let Ok(mut cache) = self.read_schemas.lock()
        {
            if cache.len() >= limit {
                cache.clear();
            }
            cache.insert(node.clone(), schema.clone());
        }
        Ok(schema)
    }
}

impl Converter for JsonConverter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
            .define(
                SCHEMAS_ENABLE,
                ConfigType::Boolean,
                Some("true"),
                Importance::High,
                "Whether each serialized key and value carries its schema in a \
                 {\"schema\":...,\"payload\":...} envelope.",
            )
            .define(
                SCHEMAS_CACHE_SIZE,
                ConfigType::Int,
                Some("1000"),
                Importance::High,
                "How many schemas this converter instance may cache.",
            )
            .define(
                DECIMAL_FORMAT,
                ConfigType::String,
                Some("BASE64"),
                Importance::Low,
                "How decimals are serialized: BASE64 (the unscaled bytes, the default) or \
                 NUMERIC (a JSON number). Case-insensitive.",
            )
            .with_validator(Validator::OneOf(vec!["BASE64".into(), "NUMERIC".into()]))
            .define(
                REPLACE_NULL_WITH_DEFAULT,
                ConfigType::Boolean,
                Some("true"),
                Importance::Low,
                "Whether a null field whose schema has a default is written and read as that \
                 default (true) or as null (false).",
            )
    }

    fn configure(&mut self, config: &ConfigMap, _is_key: bool) -> Result<()> {
        let parsed = self
            .config_def()
            .parse(config)
            .map_err(ConnectorError::Config)?;
        let boolean = |key: &str, default: bool| parsed.boolean(key).unwrap_or(default);
        self.schemas_enable = boolean(SCHEMAS_ENABLE, true);
        self.schemas_cache_size = parsed.int(SCHEMAS_CACHE_SIZE).unwrap_or(1000);
        self.read_schemas = Arc::default();
        self.settings = Settings {
            numeric_decimals: parsed
                .string(DECIMAL_FORMAT)
                .is_some_and(|f| f.eq_ignore_ascii_case("NUMERIC")),
            replace_null_with_default: boolean(REPLACE_NULL_WITH_DEFAULT, true),
        };
        Ok(())
    }

    fn to_bytes(
        &self,
        _topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Bytes>> {
        // Kafka's rule: only a null value without a schema is a Kafka null (a tombstone, as
        // Debezium writes them). A null value with a schema is an envelope with a null (or
        // default) payload, or `null` when schemas are off.
        if schema.is_none() && value.is_null() {
            return Ok(None);
        }
        let s = self.settings;
        let payload =
            payload::to_json(schema.map(|sc| &**sc), value, s).map_err(|e| e.into_data())?;
        let node = if self.schemas_enable {
            let schema_node = match schema {
                Some(sc) => schema::to_json(sc, s).map_err(|e| e.into_data())?,
                None => Node::Null,
            };
            Node::Object(vec![
                ("schema".into(), schema_node),
                ("payload".into(), payload),
            ])
        } else {
            payload
        };
        Ok(Some(Bytes::from(node.to_json_string())))
    }

    fn to_connect(&self, _topic: &str, bytes: Option<&[u8]>) -> Result<SchemaAndValue> {
        let Some(bytes) = bytes else {
            return Ok((None, Value::Null));
        };
        let node = parse::parse(bytes).map_err(|e| {
            DataError::new(format!(
                "Converting byte[] to Kafka Connect data failed due to serialization error: {e}"
            ))
        })?;
        let s = self.settings;
        if !self.schemas_enable {
            let value = payload::to_connect(None, node.as_ref(), s).map_err(|e| e.into_data())?;
            return Ok((None, value));
        }
        let (schema_node, payload_node) = match &node {
            Some(Node::Object(entries)) if entries.len() == 2 => {
                match (
                    node.as_ref().and_then(|n| n.get("schema")),
                    node.as_ref().and_then(|n| n.get("payload")),
                ) {
                    (Some(sc), Some(p)) => (sc, p),
                    _ => return Err(DataError::new(ENVELOPE_REQUIRED).into()),
                }
            }
            _ => return Err(DataError::new(ENVELOPE_REQUIRED).into()),
        };
        let schema = self.read_schema(schema_node)?;
        let value = payload::to_connect(schema.as_ref(), Some(payload_node), s)
            .map_err(|e| e.into_data())?;
        Ok((schema, value))
    }
}

/// Settings for values handed to and read from WASM plugins: decimals as numbers, nulls kept.
const PLUGIN_SETTINGS: Settings = Settings {
    numeric_decimals: true,
    replace_null_with_default: false,
};

/// A Connect value as schemaless JSON text (what a WASM plugin sees of a struct, map, array,
/// number or boolean).
pub fn plugin_json(schema: Option<&weir_connect_api::Schema>, value: &Value) -> Result<String> {
    payload::to_json(schema, value, PLUGIN_SETTINGS)
        .map(|node| node.to_json_string())
        .map_err(|e| ConnectorError::Data(e.into_data()))
}

/// A Connect value read from JSON text a WASM plugin returned: typed by `schema` when there
/// is one (an unknown field or a wrong type is an error), inferred otherwise.
pub fn plugin_value(schema: Option<&SchemaRef>, text: &[u8]) -> Result<Value> {
    let node = parse::parse(text).map_err(|e| ConnectorError::Data(DataError::new(e)))?;
    payload::to_connect(schema, node.as_ref(), PLUGIN_SETTINGS)
        .map_err(|e| ConnectorError::Data(e.into_data()))
}
