//! weir's runtime: the `weir` binary's commands and, in later issues, the connector worker.
//!
//! Today this crate wires the embedded broker ([`weir_broker`]) into the CLI:
//! `weir serve` runs the broker, its Kafka listener and its background work (flushing,
//! retention, compaction, checkpoints) until SIGTERM; `weir topics`, `weir produce` and
//! `weir consume` open the data directory directly under its exclusive lock, or with
//! `--bootstrap` talk to a running broker through [`kafka_client`]; `weir bench` measures the
//! storage engine.
//!
//! What will live here next: the worker that hosts
//! connectors (task supervision, converters, transforms, offsets and status in internal
//! topics, error handling and dead-letter queues), the Kafka Connect-compatible REST API,
//! metrics, and the registry from `connector.class` to each connector crate.

pub mod bench;
pub mod cli;
mod commands;
pub mod config;
pub mod config_providers;
pub mod converters;
pub mod kafka_client;
pub mod partitioner;
pub mod plugins;
pub mod rest;
pub mod rest_client;
pub mod transforms;
pub mod wasm;
pub mod worker;
