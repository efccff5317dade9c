//! Postgres logical-replication CDC source, compatible with Debezium's PostgresConnector
//! (`io.debezium.connector.postgresql.PostgresConnector`), and Debezium's
//! `ExtractNewRecordState` transform.
//!
//! - [`wire`]: our own Postgres client on `postgres-protocol` + tokio (tokio-postgres has no
//!   replication mode): startup (optionally with `replication=database`), trust / cleartext /
//!   MD5 / SCRAM-SHA-256 auth, TLS per `database.sslmode`, the simple query protocol with
//!   streamed rows, and the CopyBoth replication stream (XLogData, keepalives, standby status).
//! - [`pgoutput`]: the pgoutput v1/v2 decoder and the assembly of streamed in-progress
//!   transactions (buffered per xid, spilled to disk beyond a memory bound).
//! - [`schema`]: the type registry, Debezium's type mapping of text values to Connect values,
//!   and the change-event envelope, source block, keys and topic names.
//! - [`task`]: the connector and its task: slot and publication management, the snapshot,
//!   streaming, offsets, and the LSN acknowledged only after records are durable in the log.
//! - [`transforms`][]: `io.debezium.transforms.ExtractNewRecordState`.

pub mod config;
pub mod pgoutput;
pub mod schema;
pub mod task;
pub mod transforms;
pub mod wire;

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;

/// The Debezium version reported in `source.version` and by `GET /connector-plugins`.
pub const DEBEZIUM_VERSION: &str = "3.0.8.Final";

/// `connector.class` of the Postgres source.
pub const CONNECTOR_CLASS: &str = "io.debezium.connector.postgresql.PostgresConnector";

/// `transforms.<alias>.type` of the unwrap transform.
pub const EXTRACT_NEW_RECORD_STATE_CLASS: &str = "io.debezium.transforms.ExtractNewRecordState";
