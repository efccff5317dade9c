//! One module per CLI verb.

pub mod consume;
pub mod produce;
pub mod serve;
pub mod topics;

use anyhow::Context;
use weir_broker::Broker;

use crate::config::WorkerConfig;

/// Opens the data directory for a one-shot command (exclusive lock: refuses while `weir
/// serve` runs on it).
pub(crate) fn open_broker(cfg: &WorkerConfig) -> anyhow::Result<Broker> {
    Broker::open(cfg.broker_options())
        .with_context(|| format!("cannot open data directory {}", cfg.data_dir.display()))
}
