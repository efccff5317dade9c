//! `weir serve`: the embedded broker and its background work, until SIGTERM or Ctrl-C.
//!
//! Named tasks, one owner, cooperative shutdown: each task loops on its interval and a
//! shared shutdown signal. The connector worker starts once the broker is open, with the REST
//! API in front of it. On SIGTERM the REST API stops accepting requests, the worker stops its
//! tasks (sinks flush and commit, sources commit their offsets), then the Kafka listener and
//! the background tasks finish their current step, and the broker flushes and checkpoints
//! every partition before the process exits.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use weir_broker::Broker;
use weir_broker::coordinator::GroupCoordinator;
use weir_broker::producer_ids::ProducerIds;
use weir_broker::server::{self, ServerConfig};

use crate::cli::ServeArgs;
use crate::config::WorkerConfig;
use crate::log::{KafkaLog, Log};
use crate::rest::{self, Loggers, RestOptions, RestState};
use crate::worker::Worker;
use crate::worker::settings::parse_rest_listener;

/// How long in-flight REST requests may take to finish at shutdown.
const REST_DRAIN: Duration = Duration::from_secs(10);

type Shutdown = watch::Receiver<bool>;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Runs `step` on a blocking thread every `every` until shutdown.
fn spawn_periodic<F>(
    tasks: &mut JoinSet<()>,
    name: &'static str,
    every: Duration,
    broker: Arc<Broker>,
    mut shutdown: Shutdown,
    step: F,
) where
    F: Fn(&Broker) -> weir_broker::Result<()> + Send + Sync + Copy + 'static,
{
    tasks.spawn(async move {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = shutdown.changed() => break,
            }
            let b = Arc::clone(&broker);
            match tokio::task::spawn_blocking(move || step(&b)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => tracing::error!(task = name, error = %e, "background step failed"),
                Err(e) => tracing::error!(task = name, error = %e, "background step panicked"),
            }
        }
        tracing::debug!(task = name, "stopped");
    });
}

async fn wait_for_signal() -> anyhow::Result<&'static str> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?;
    Ok(tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    })
}

pub fn run(mut cfg: WorkerConfig, args: &ServeArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    if let Some(listen) = &args.listen {
        cfg.set_listen(listen)?;
    }
    if let Some(listen) = &args.rest_listen {
        cfg.worker.rest_listen = parse_rest_listener(listen)
            .map_err(|e| anyhow::anyhow!("--rest-listen {listen:?}: {e}"))?;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("weir")
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(serve(&cfg, started))
}

/// Binds the Kafka listener and builds the server context.
async fn kafka_server(
    cfg: &WorkerConfig,
    broker: &Arc<Broker>,
) -> anyhow::Result<(TcpListener, Arc<server::Context>)> {
    let listener = TcpListener::bind(&cfg.listen)
        .await
        .with_context(|| format!("cannot listen for Kafka clients on {}", cfg.listen))?;
    let bound = listener.local_addr().context("listener has no address")?;
    let (host, port) = match &cfg.advertised {
        Some((h, p)) => (h.clone(), i32::from(*p)),
        None if bound.ip().is_unspecified() => ("localhost".to_string(), i32::from(bound.port())),
        None => (bound.ip().to_string(), i32::from(bound.port())),
    };
    let config = ServerConfig {
        advertised_host: host,
        advertised_port: port,
        node_id: cfg.node_id,
        max_request_bytes: cfg.max_request_bytes,
        max_connections: cfg.max_connections,
        auto_create_topics: cfg.auto_create_topics,
        num_partitions: cfg.num_partitions,
        ..ServerConfig::default()
    };
    let producer_ids = ProducerIds::open(&cfg.data_dir)?;
    let ctx = Arc::new(server::Context {
        broker: Arc::clone(broker),
        groups: GroupCoordinator::new(Arc::clone(broker), cfg.group.clone()),
        producer_ids: Arc::new(producer_ids),
        config,
    });
    Ok((listener, ctx))
}

/// `host:port` the REST API advertises as `worker_id`: `rest.advertised.host.name` /
/// `rest.advertised.port` when set, else the bound address (`localhost` for a wildcard
/// bind).
fn advertised(cfg: &WorkerConfig, bound: std::net::SocketAddr) -> String {
    let host = match &cfg.worker.rest_advertised_host {
        Some(h) => h.clone(),
        None if bound.ip().is_unspecified() => "localhost".to_string(),
        None => bound.ip().to_string(),
    };
    let port = cfg.worker.rest_advertised_port.unwrap_or(bound.port());
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Starts the worker with its REST `worker_id`; on failure closes the broker cleanly first.
async fn start_worker(
    cfg: &WorkerConfig,
    broker: Arc<Broker>,
    worker_id: String,
) -> anyhow::Result<(Arc<Broker>, Arc<Worker>)> {
    let mut settings = cfg.worker.clone();
    settings.worker_id = worker_id;
    match Worker::start(Log::Embedded(Arc::clone(&broker)), settings).await {
        Ok(worker) => Ok((broker, worker)),
        Err(e) => {
            close_broker(broker).await?;
            Err(anyhow::Error::new(e).context("the connector worker could not start"))
        }
    }
}

/// Binds the REST listener (before the worker starts: its statuses carry the REST address
/// as `worker_id`); returns it with that address.
async fn bind_rest(cfg: &WorkerConfig) -> anyhow::Result<(TcpListener, String)> {
    let listener = TcpListener::bind(&cfg.worker.rest_listen)
        .await
        .with_context(|| {
            format!(
                "cannot listen for REST clients on {}",
                cfg.worker.rest_listen
            )
        })?;
    let addr = advertised(
        cfg,
        listener
            .local_addr()
            .context("REST listener has no address")?,
    );
    Ok((listener, addr))
}

/// The REST API, served until [`Rest::stop`].
struct Rest {
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Rest {
    fn start(cfg: &WorkerConfig, listener: TcpListener, worker: &Arc<Worker>) -> Self {
        let state = RestState::new(
            Arc::clone(worker),
            Loggers::new(),
            RestOptions::from_settings(&cfg.worker),
        );
        let (stop, mut stopped) = watch::channel(false);
        let task = tokio::spawn(async move {
            axum::serve(listener, rest::router(state))
                .with_graceful_shutdown(async move {
                    let _ = stopped.changed().await;
                })
                .await
        });
        Self { stop, task }
    }

    /// Stops accepting requests and lets in-flight ones finish within a grace period.
    async fn stop(mut self) {
        let _ = self.stop.send(true);
        match tokio::time::timeout(REST_DRAIN, &mut self.task).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => tracing::error!(error = %e, "REST listener failed"),
            Ok(Err(e)) => tracing::error!(error = %e, "REST listener task ended abnormally"),
            Err(_) => {
                tracing::warn!(
                    grace_s = REST_DRAIN.as_secs(),
                    "REST requests still running after the grace period; aborted"
                );
                self.task.abort();
            }
        }
    }
}

/// The worker on an external Kafka cluster (`bootstrap.servers`): no embedded broker, no
/// Kafka listener, no data directory; the REST API until SIGTERM.
async fn serve_external(
    cfg: &WorkerConfig,
    started: Instant,
    bootstrap: &str,
) -> anyhow::Result<()> {
    let (rest_listener, rest_addr) = bind_rest(cfg).await?;
    let client_id = format!("weir-worker-{rest_addr}");
    let log = KafkaLog::connect(bootstrap, &client_id).await?;
    let mut settings = cfg.worker.clone();
    settings.worker_id = rest_addr.clone();
    let worker = Worker::start(Log::Kafka(log), settings)
        .await
        .context("the connector worker could not start")?;
    let rest = Rest::start(cfg, rest_listener, &worker);
    tracing::info!(
        bootstrap_servers = %bootstrap,
        rest = %rest_addr,
        startup_ms = started.elapsed().as_millis() as u64,
        "weir ready (log on an external Kafka cluster)"
    );
    let signal = wait_for_signal().await?;
    tracing::info!(signal, "shutting down");
    rest.stop().await;
    worker.shutdown().await;
    tracing::info!("weir stopped");
    Ok(())
}

/// Flushes, checkpoints and unlocks the broker once every other holder let go of it (task
/// handles of a stopped worker may still be dropping their clones).
async fn close_broker(mut broker: Arc<Broker>) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let broker = loop {
        match Arc::try_unwrap(broker) {
            Ok(b) => break b,
            Err(b) if Instant::now() < deadline => {
                broker = b;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(_) => anyhow::bail!("broker still in use at shutdown"),
        }
    };
    tokio::task::spawn_blocking(move || broker.close())
        .await
        .context("shutdown task failed")??;
    Ok(())
}

async fn serve(cfg: &WorkerConfig, started: Instant) -> anyhow::Result<()> {
    if let Some(bootstrap) = &cfg.worker.bootstrap_servers {
        return serve_external(cfg, started, bootstrap).await;
    }
    let broker = Arc::new(super::open_broker(cfg)?);
    let (rest_listener, rest_addr) = bind_rest(cfg).await?;
    let (broker, worker) = start_worker(cfg, broker, rest_addr.clone()).await?;
    tracing::info!(
        durability = %cfg.topic_defaults.durability(),
        "default durability (per-topic flush.messages / flush.ms may differ; see `weir topics describe`)"
    );
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut tasks = JoinSet::new();
    spawn_periodic(
        &mut tasks,
        "log-flusher",
        cfg.flush_scheduler_interval,
        Arc::clone(&broker),
        stop_rx.clone(),
        Broker::flush_due,
    );
    spawn_periodic(
        &mut tasks,
        "log-cleaner",
        cfg.retention_check_interval,
        Arc::clone(&broker),
        stop_rx.clone(),
        |b| b.run_cleanup(now_ms()).map(|_| ()),
    );
    spawn_periodic(
        &mut tasks,
        "checkpointer",
        cfg.checkpoint_interval,
        Arc::clone(&broker),
        stop_rx.clone(),
        Broker::checkpoint,
    );
    let (listener, ctx) = kafka_server(cfg, &broker).await?;
    let kafka_addr = format!(
        "{}:{}",
        ctx.config.advertised_host, ctx.config.advertised_port
    );
    let kafka = tokio::spawn(server::serve(listener, Arc::clone(&ctx), stop_rx.clone()));
    let rest = Rest::start(cfg, rest_listener, &worker);
    tracing::info!(
        kafka = %kafka_addr,
        rest = %rest_addr,
        data_dir = %cfg.data_dir.display(),
        startup_ms = started.elapsed().as_millis() as u64,
        "weir ready"
    );
    let signal = wait_for_signal().await?;
    tracing::info!(signal, "shutting down");
    // REST first: no new connector operations while the worker stops.
    rest.stop().await;
    worker.shutdown().await;
    drop(worker);
    let _ = stop_tx.send(true);
    // Answer JoinGroup/SyncGroup calls parked in a rebalance now, so their connections can
    // close instead of holding the drain for the whole grace period.
    ctx.groups.shutdown().await;
    // In-flight requests finish first, then the background tasks, then the final flush.
    match kafka.await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(error = %e, "kafka listener failed"),
        Err(e) => tracing::error!(error = %e, "kafka listener task ended abnormally"),
    }
    drop(ctx);
    while let Some(joined) = tasks.join_next().await {
        if let Err(e) = joined {
            tracing::error!(error = %e, "background task ended abnormally");
        }
    }
    close_broker(broker).await?;
    tracing::info!("weir stopped");
    Ok(())
}
