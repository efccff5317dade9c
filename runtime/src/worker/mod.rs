//! The Kafka Connect worker: hosts connectors and tasks and moves records between them and
//! the log.
//!
//! - [`herder`]: the [`Worker`] every REST operation goes through: connector and task
//!   lifecycle, target states, offsets, statuses.
//! - [`model`]: the JSON shapes of Kafka Connect's REST API and the worker's errors.
//! - [`settings`]: the worker keys of the worker config.
//! - [`internal`] / [`store`]: the records of `connect-configs`, `connect-offsets` and
//!   `connect-status`, in Kafka Connect's formats, and the stores that write and replay them
//!   on the embedded broker.
//! - [`metrics`]: per-task counters for `/metrics`.
//! - [`cluster`] / [`assignor`]: distributed mode, workers sharing connectors through a
//!   Kafka group.

pub mod assignor;
pub mod cluster;
pub mod errors;
pub mod herder;
pub mod internal;
pub mod metrics;
pub mod model;
mod offsets;
mod plugin_watch;
pub mod settings;
mod sink;
mod source;
pub mod store;
pub mod task;
pub mod validate;

pub use herder::Worker;
pub use settings::WorkerSettings;
