//! JDBC sink for PostgreSQL and MySQL/MariaDB, compatible with Confluent's JdbcSinkConnector (io.confluent.connect.jdbc.JdbcSinkConnector).
//!
//! What will live here: insert, upsert (`ON CONFLICT ... DO UPDATE` / `ON DUPLICATE KEY
//! UPDATE`) and delete modes, primary-key modes, table auto-creation and evolution from Connect
//! schemas, and batched writes in one transaction per flush.

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
