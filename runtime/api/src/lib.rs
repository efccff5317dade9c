//! weir's connector SDK: the one crate every connector depends on.
//!
//! What lives here (filled by the worker-runtime issue and the connector issues):
//! - **Data model**: Kafka Connect's `Schema` (types, optional, defaults, names, versions,
//!   parameters, logical types such as `Decimal`, `Timestamp`, `Date`, `Time`), `Value` and
//!   `Struct`, and `ConnectRecord` (topic, partition, key/value with schemas, timestamp,
//!   headers; source partition and offset for source records; Kafka offset for sink records).
//! - **Plugin traits**: `SourceConnector`/`SourceTask` (poll, commit, commit-record),
//!   `SinkConnector`/`SinkTask` (put, flush, pre-commit offsets), `Transform`, `Predicate`,
//!   `Converter` and `HeaderConverter`, each split by concern rather than one wide trait.
//! - **Config metadata**: `ConfigDef` (keys, types, defaults, importance, docs,
//!   validators) so the REST API can validate and describe every plugin's config, with every
//!   error reported at once.
//! - **Errors with retry meaning**: `ConnectorError` says retriable, fatal, or which records
//!   of a batch failed; the worker alone applies retries, tolerance and the dead-letter queue.
//!
//! It has few dependencies on purpose: connectors and WASM plugins build against it without
//! pulling in the worker or the broker.

/// The version of the connector API, reported by `GET /connector-plugins`.
pub const API_VERSION: &str = env!("CARGO_PKG_VERSION");
