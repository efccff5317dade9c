//! `io.debezium.transforms.ExtractNewRecordState` ("unwrap", COMPAT.md 3.12): flattens
//! Debezium change events to the row they carry, as Debezium 3.0 does.
//!
//! - `config`: the keys, Debezium's defaults, and the mapping of the deprecated
//!   `drop.tombstones` / `delete.handling.mode` onto `delete.tombstone.handling.mode`.
//! - `fields`: `add.fields` / `add.headers` entries (`op`, `source.ts_ms`, `name:alias`).
//! - `structs`: the Kafka SMT steps Debezium delegates to (`ExtractField`, `InsertField`,
//!   `ReplaceField`) and a bounded schema cache.
//! - `unwrap`: the transform.
//!
//! Debezium recognises an envelope by its value schema's name (`*.Envelope`), so a
//! schemaless value (a `JsonConverter` with `schemas.enable=false` upstream) is never
//! unwrapped: it passes through unchanged, as in Debezium.
//!
//! Without `delete.tombstone.handling.mode`, the deprecated keys decide with their own
//! defaults (`drop.tombstones=true`, `delete.handling.mode=drop`): delete events and
//! tombstones are both dropped, which is what Debezium 3.0 (and every release before 3.2)
//! does with an empty config.

mod config;
mod fields;
mod structs;
mod unwrap;

#[cfg(test)]
mod tests;

pub use config::DeleteTombstoneHandling;
pub use unwrap::{DELETED_FIELD, ExtractNewRecordState};
