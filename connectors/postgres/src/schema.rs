//! Debezium's mapping of Postgres rows to Kafka Connect records (Debezium 3.0 behaviour,
//! COMPAT.md section 3).
//!
//! - [`TypeRegistry`]: every `pg_type` row (one catalog query), domains resolved to their
//!   base type and arrays to their element type.
//! - Type mapping: the Connect schema of each column type and the conversion of its text
//!   value (pgoutput tuples and simple-query rows carry text), under the
//!   `decimal.handling.mode`, `time.precision.mode`, `binary.handling.mode`,
//!   `interval.handling.mode`, `hstore.handling.mode`, `money.fraction.digits` and
//!   `include.unknown.datatypes` settings ([`ValueOptions`]). NOT NULL columns without a
//!   value get Debezium's fallback (0, "", epoch...), as in key-only delete before-images.
//! - [`TableSchema`]: key, value and envelope schemas and the topic of a table, and rows
//!   turned into value structs, with TOAST placeholders for unchanged values.
//! - [`EventBuilder`]: create/read/update/delete/truncate events, tombstones, primary-key
//!   changes, logical decoding messages, heartbeats and transaction metadata.
//!
//! Known differences from Debezium 3.0 (where its output would not validate against its
//! own schema, we emit null instead): TOAST placeholders of numeric, non-text arrays other
//! than int4/int8/date/uuid/bytea; `bit[]` columns are dropped; `time(0-3)[]` uses the
//! element's adaptive schema. `tsvector` is an unknown type, as in 3.0 (3.1 maps it to
//! `io.debezium.data.TsVector`). PostGIS and pgvector types are not mapped (unknown).

mod array;
mod convert;
mod defaults;
mod envelope;
mod hstore;
mod mapping;
mod md5;
mod numeric;
mod options;
mod table;
mod temporal;
mod types;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_events;
#[cfg(test)]
mod tests_more;

pub use envelope::{
    EventBuilder, Op, SNAPSHOT_ALLOWED, SnapshotMarker, SourceInfo, TxBlock, source_schema,
    transaction_block_schema,
};
pub use options::{
    BinaryMode, DecimalMode, HstoreMode, IntervalMode, TimePrecisionMode, ValueOptions,
};
pub use table::{
    ColumnInfo, ColumnValue, TABLE_COLUMNS_SQL, TableId, TableSchema, table_columns_sql,
};
pub use types::{PgType, TypeKind, TypeRegistry, oid};

/// A WAL position (as the `wire` module's `Lsn`).
pub type Lsn = u64;

/// Errors of the schema module.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    /// A catalog row could not be read.
    #[error("the catalog answer could not be read: {0}")]
    Catalog(String),
    /// A config key has an invalid value.
    #[error("config key {key} is invalid: {message}")]
    Config { key: String, message: String },
    /// A row has another number of columns than its table schema.
    #[error("a row of table {table} has {got} columns but its schema has {expected}")]
    RowShape {
        table: String,
        expected: usize,
        got: usize,
    },
    /// A column value could not be converted.
    #[error("column {column} of table {table} could not be converted: {message}")]
    Value {
        table: String,
        column: String,
        message: String,
    },
}
