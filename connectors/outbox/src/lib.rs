//! The transactional outbox event router, compatible with Debezium's `EventRouter`
//! (`io.debezium.transforms.outbox.EventRouter`).
//!
//! A service writes its business row and an outbox row in one transaction; the Postgres CDC
//! source captures the outbox insert; this transform turns the change event into the domain
//! event itself, in Debezium's order of steps:
//!
//! - tombstones are dropped; records that are not change events (heartbeats, transaction
//!   metadata, logical messages) pass through unchanged;
//! - deletes (and truncates) are dropped, so the usual "insert then delete in the same
//!   transaction" outbox still emits every insert; updates follow
//!   `table.op.invalid.behavior` (`warn` / `error`: logged and dropped; `fatal`: the record
//!   fails);
//! - creates and snapshot reads become: topic = the `route.by.field` column (default
//!   `aggregatetype`) through `route.topic.regex` / `route.topic.replacement` (default
//!   `outbox.event.${routedByValue}`); key = the `table.field.event.key` column (default
//!   `aggregateid`) with its schema; header `id` = the event id column; timestamp = the
//!   `table.field.event.timestamp` column or the change's `ts_ms`; value = the payload column,
//!   expanded from JSON text when `table.expand.json.payload` is on, or a struct of the
//!   payload and the columns placed in the `envelope` by `table.fields.additional.placement`
//!   (which also places columns in headers, or in the Kafka partition);
//! - an empty payload gives a tombstone when `route.tombstone.on.empty.payload` is on.
//!
//! weir differs in one place, on purpose: an outbox row with a null event key, or a payload
//! that is not JSON while expansion is on, fails its record (so `errors.tolerance` and the
//! dead-letter queue decide) instead of being emitted with a null key or an escaped string.
//! `table.malformed.row.behavior=warn` restores Debezium's behaviour.

mod config;
mod json;
mod router;
mod timestamp;

#[cfg(test)]
mod tests;

pub use config::{Settings, config_def};
pub use router::EventRouter;

/// Debezium's class name of the router, as connector configs name it.
pub const EVENT_ROUTER_CLASS: &str = "io.debezium.transforms.outbox.EventRouter";

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
