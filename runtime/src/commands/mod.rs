//! One module per CLI verb. `produce`, `consume` and `topics` work on the data directory, or
//! with `--bootstrap` against a running broker through [`crate::kafka_client`]; `connectors`
//! and `plugins` talk to the REST API of a running worker through [`crate::rest_client`].

pub mod connectors;
pub mod consume;
mod consume_remote;
pub mod plugins;
pub mod produce;
pub mod serve;
pub mod topics;

use anyhow::Context;
use weir_broker::Broker;

use crate::config::WorkerConfig;
use crate::kafka_client::ClientConfig;

/// Opens the data directory for a one-shot command (exclusive lock: refuses while `weir
/// serve` runs on it, and says how to reach the running broker instead).
pub(crate) fn open_broker(cfg: &WorkerConfig) -> anyhow::Result<Broker> {
    match Broker::open(cfg.broker_options()) {
        Err(e @ weir_broker::Error::Locked { .. }) => Err(anyhow::Error::new(e).context(format!(
            "cannot open data directory {}; to work with the running broker, pass \
             --bootstrap HOST:PORT (the kafka= address `weir serve` logs at start) or set \
             WEIR_BOOTSTRAP",
            cfg.data_dir.display()
        ))),
        other => {
            other.with_context(|| format!("cannot open data directory {}", cfg.data_dir.display()))
        }
    }
}

/// Runs a `--bootstrap` command on a small async runtime (a worker for the command, one for
/// background work such as group heartbeats).
pub(crate) fn block_on<F: Future<Output = anyhow::Result<()>>>(f: F) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("weir-client")
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

/// The client settings for `--bootstrap ADDR`.
pub(crate) fn client_config(bootstrap: &str) -> anyhow::Result<ClientConfig> {
    if bootstrap
        .rsplit_once(':')
        .is_none_or(|(h, p)| h.is_empty() || p.parse::<u16>().is_err())
    {
        anyhow::bail!("--bootstrap {bootstrap:?}: expected host:port");
    }
    Ok(ClientConfig::new(bootstrap))
}
