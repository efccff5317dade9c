//! weir's integrated log broker.
//!
//! - **Storage** ([`log`], [`segment`], [`index`], [`batch`], [`compaction`]): every
//!   topic-partition is a directory of segments named by base offset, each a `.log` of Kafka
//!   RecordBatch v2 bytes exactly as producers sent them (only the base offset is patched),
//!   with a sparse `.index` and `.timeindex`. Roll, retention, compaction, flush policy and
//!   crash recovery live here. The byte layout is in `docs/storage-format.md`.
//! - **Topics and offsets** ([`broker`], [`topic`], [`groups`]): topic metadata, Kafka's
//!   topic-name rules and configs, and committed consumer-group offsets kept in the compacted
//!   `__consumer_offsets` topic in Kafka's own record layout.
//! - **I/O seam** ([`io`]): the six-method file interface under segments, so tests can tear
//!   writes at any byte or fail an fsync.
//!
//! - **Kafka protocol** ([`server`], [`coordinator`], [`producer`], [`producer_ids`]): the
//!   TCP server with one handler per API, the classic consumer-group coordinator, and
//!   idempotent-producer sequence checks.
//!
//! The worker runtime uses the same in-process API as the protocol handlers (append, fetch,
//! wait for data, commit).

pub mod alloc_guard;
pub mod batch;
pub mod broker;
pub mod compaction;
pub mod config;
pub mod coordinator;
pub mod error;
pub mod groups;
pub mod index;
pub mod io;
pub mod log;
pub mod producer;
pub mod producer_ids;
pub mod segment;
pub mod server;
pub mod topic;

pub use broker::{Broker, BrokerOptions, PartitionDescription, TopicDescription};
pub use config::TopicConfig;
pub use error::{Error, Result, TopicPartition};
pub use log::{AppendInfo, FetchData, OffsetSpec, PartitionLog};
