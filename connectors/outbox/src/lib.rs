//! Outbox event router, compatible with Debezium's EventRouter transform (io.debezium.transforms.outbox.EventRouter).
//!
//! What will live here: the transform that turns change events of an outbox table into events
//! routed to `outbox.event.<aggregatetype>` topics, with Debezium's config keys and defaults
//! (table fields, routing, payload and header placement, tombstones on delete).

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
