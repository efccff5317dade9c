//! Postgres logical-replication CDC source, compatible with Debezium's PostgresConnector (io.debezium.connector.postgresql.PostgresConnector).
//!
//! What will live here: a replication client written on postgres-protocol (startup with
//! `replication=database`, SCRAM/MD5 auth, CopyBoth framing, XLogData, keepalives and standby
//! status), a pgoutput v1/v2 decoder, the initial snapshot on an exported snapshot, the type
//! mapping to Connect schemas, and Debezium's change-event envelope, topic names and config keys.
//! The slot's flush LSN advances only after records and source offsets are durable in the log.

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
