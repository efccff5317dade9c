//! Converters between the Connect data model and the bytes of a Kafka record's key, value
//! or headers (`key.converter`, `value.converter`, `header.converter`).

use bytes::Bytes;

use crate::config::{ConfigDef, ConfigMap};
use crate::error::Result;
use crate::schema::SchemaRef;
use crate::value::Value;

/// A value with its schema (`None` for schemaless data).
pub type SchemaAndValue = (Option<SchemaRef>, Value);

pub trait Converter: Send + Sync {
    fn config_def(&self) -> ConfigDef;
    /// `is_key` says whether this instance converts keys or values.
    fn configure(&mut self, config: &ConfigMap, is_key: bool) -> Result<()>;
    /// Serializes (Kafka's `fromConnectData`); `None` is a null key or value (a tombstone).
    fn to_bytes(
        &self,
        topic: &str,
        schema: Option<&SchemaRef>,
        value: &Value,
    ) -> Result<Option<Bytes>>;
    /// Deserializes (Kafka's `toConnectData`); a null input gives [`Value::Null`].
    fn to_connect(&self, topic: &str, bytes: Option<&[u8]>) -> Result<SchemaAndValue>;
}
