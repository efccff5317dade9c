//! weir's runtime: the `weir` binary's commands, the connector worker and its REST API.
//!
//! `weir serve` runs the worker with its log: the embedded broker ([`weir_broker`]) with its
//! Kafka listener and background work (flushing, retention, compaction, checkpoints), or an
//! external Kafka cluster (worker config `bootstrap.servers`, see [`log`]). The worker
//! ([`worker`]) hosts connectors: task supervision, converters, transforms, offsets and
//! status in internal topics, error handling and dead-letter queues, behind the Kafka
//! Connect-compatible REST API ([`rest`]). `weir topics`, `weir produce` and `weir consume`
//! open the data directory directly under its exclusive lock, or with `--bootstrap` talk to
//! a running broker through [`kafka_client`]; `weir bench` measures the storage engine.

pub mod bench;
pub mod cli;
mod commands;
pub mod config;
pub mod config_providers;
pub mod converters;
pub mod kafka_client;
pub mod log;
pub mod partitioner;
pub mod plugins;
pub mod rest;
pub mod rest_client;
pub mod transforms;
pub mod wasm;
pub mod worker;
