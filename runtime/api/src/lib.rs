//! weir's connector SDK: the one crate every connector, transform and converter depends on.
//! A connector author reads only this crate.
//!
//! - **Data model** ([`schema`], [`value`]): Kafka Connect's `Schema` (int8..int64,
//!   float32/64, boolean, string, bytes, array, map, struct; optional, default, name, version,
//!   doc, parameters) with the logical types Decimal, Date, Time and Timestamp, and `Value` /
//!   `Struct`.
//! - **Records** ([`record`]): `ConnectRecord` (topic, partition, key/value with schemas,
//!   timestamp, headers, source partition and offset, Kafka offset for sinks).
//! - **Plugin traits** ([`connector`], [`transform`], [`converter`]): `Connector`,
//!   `SourceTask` (poll, commit), `SinkTask` (put, flush up to offsets), `Transform`,
//!   `Predicate`, `Converter`, split by concern.
//! - **Config metadata** ([`config`]): `ConfigDef` (name, type, default, importance,
//!   documentation, validators), used for validation with every error at once, for parsing,
//!   and for the REST API's plugin config and validate endpoints. Secrets print `[hidden]`.
//! - **Errors with retry meaning** ([`error`]): `ConnectorError` says retriable, fatal, or
//!   which records of a batch failed; the worker alone applies `errors.retry.timeout`,
//!   `errors.tolerance` and the dead-letter queue.
//!
//! Few dependencies on purpose: connectors and WASM plugins build against it without the
//! worker or the broker.

pub mod calendar;
pub mod config;
pub mod connector;
pub mod converter;
pub mod date_format;
pub mod decimal;
pub mod error;
pub mod java_regex;
pub mod record;
pub mod schema;
pub mod transform;
pub mod value;

pub use config::{ConfigDef, ConfigMap, ConfigType, Importance, Secret};
pub use connector::{
    Connector, ConnectorType, SharedConfigConnector, SinkTask, SinkTaskContext, SourceTask,
};
pub use converter::Converter;
pub use error::{ConnectorError, DataError, Result};
pub use record::{ConnectRecord, Header, Headers, SourcePosition, TopicPartition};
pub use schema::{Field, Schema, SchemaBuilder, SchemaRef, SchemaType};
pub use transform::{Predicate, Transform};
pub use value::{Struct, Value};

/// The version of the connector API, reported by `GET /connector-plugins`.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");
