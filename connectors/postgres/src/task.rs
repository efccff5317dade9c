//! The connector and its one task. The task's engine runs on its own named tokio task:
//! setup (preflight checks, publication, slot), the snapshot, then streaming, handing records
//! to `poll` through a bounded channel. `commit_offsets` tells the engine which offsets are
//! durable; only those move the slot's `confirmed_flush_lsn`.

mod catalog;
mod emit;
mod engine;
mod offsets;
mod progress;
mod snapshot;
mod stream;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use weir_connect_api::connector::{BoxFuture, SourceTaskContext};
use weir_connect_api::record::SourceMap;
use weir_connect_api::{
    ConfigDef, ConfigMap, ConnectRecord, Connector, ConnectorError, ConnectorType, Result,
    SourcePosition, SourceTask,
};

use crate::config::{self, PostgresConfig};
use crate::schema::{ColumnInfo, EventBuilder, TableId, TableSchema, TypeRegistry, ValueOptions};
use crate::wire::Connection;
use emit::Item;
pub use offsets::Offset;
pub use progress::Progress;

/// Session settings every connection uses, so text values have one format.
pub(crate) const SESSION_SQL: &str = "SET DateStyle = 'ISO, MDY'; SET IntervalStyle = 'postgres'; \
     SET extra_float_digits = 3; SET bytea_output = 'hex'; SET TimeZone = 'UTC'";

/// Microseconds from the Unix epoch to Postgres' (2000-01-01).
pub(crate) const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;

pub(crate) fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_micros() as i64)
}

/// What the snapshot and the stream share.
pub struct Shared {
    pub builder: EventBuilder,
    pub partition: SourceMap,
    pub options: ValueOptions,
}

pub(crate) async fn load_types(conn: &mut Connection) -> Result<TypeRegistry> {
    let rows = conn
        .simple_query(TypeRegistry::LOAD_SQL)
        .await
        .map_err(|e| catalog::db_error("cannot load the types of the database", e))?;
    let rows: Vec<Vec<Option<String>>> = rows.iter().map(|r| r.to_vec()).collect();
    TypeRegistry::from_rows(&rows)
        .map_err(|e| ConnectorError::fatal(format!("cannot read pg_type: {e}")))
}

pub(crate) fn build_table(
    shared: &Shared,
    config: &PostgresConfig,
    id: TableId,
    columns: Vec<ColumnInfo>,
    types: &TypeRegistry,
) -> Result<TableSchema> {
    let name = id.to_string();
    let keep = |column: &str| config.columns.matches(&format!("{name}.{column}"));
    TableSchema::build(
        &config.topic_prefix,
        id,
        columns,
        types,
        &shared.options,
        &keep,
    )
    .map_err(|e| ConnectorError::fatal(format!("cannot map the columns of {name}: {e}")))
}

/// `io.debezium.connector.postgresql.PostgresConnector`.
#[derive(Debug, Default)]
pub struct PostgresConnector {
    config: ConfigMap,
}

impl Connector for PostgresConnector {
    fn version(&self) -> &str {
        crate::DEBEZIUM_VERSION
    }

    fn kind(&self) -> ConnectorType {
        ConnectorType::Source
    }

    fn config_def(&self) -> ConfigDef {
        config::config_def()
    }

    fn start(&mut self, config: &ConfigMap) -> Result<()> {
        config::parse(config)?;
        self.config = config.clone();
        Ok(())
    }

    /// One task, whatever `tasks.max` says: a slot has one reader.
    fn task_configs(&self, _max_tasks: usize) -> Result<Vec<ConfigMap>> {
        Ok(vec![self.config.clone()])
    }

    fn stop(&mut self) -> Result<()> {
        Ok(())
    }
}

/// The running engine as the task sees it.
struct EngineHandle {
    rx: mpsc::Receiver<Item>,
    committed: watch::Sender<Option<Offset>>,
    shutdown: watch::Sender<bool>,
    progress: Arc<Progress>,
}

/// The Postgres source task.
#[derive(Default)]
pub struct PostgresTask {
    config: Option<Arc<PostgresConfig>>,
    raw: ConfigMap,
    /// The position to start from: the committed offset, then the last record returned.
    start: Option<Offset>,
    engine: Option<EngineHandle>,
    finished: bool,
}

impl std::fmt::Debug for PostgresTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresTask")
            .field("running", &self.engine.is_some())
            .finish_non_exhaustive()
    }
}

impl PostgresTask {
    /// The snapshot's progress, while an engine runs.
    pub fn progress(&self) -> Option<progress::State> {
        self.engine.as_ref().map(|e| e.progress.snapshot())
    }

    fn spawn(&mut self) -> Result<&mut EngineHandle> {
        let config = self
            .config
            .clone()
            .ok_or_else(|| ConnectorError::fatal("the task was polled before start"))?;
        let (emitter_shutdown_tx, shutdown_rx) = watch::channel(false);
        let (emitter, rx) = emit::Emitter::new(
            config.max_batch_size,
            config.max_queue_size,
            shutdown_rx.clone(),
        );
        let (committed_tx, committed_rx) = watch::channel(None);
        let progress = Arc::new(Progress::default());
        let engine = engine::Engine {
            config: Arc::clone(&config),
            raw: self.raw.clone(),
            start: self.start.clone(),
            committed: committed_rx,
            shutdown: shutdown_rx,
            progress: Arc::clone(&progress),
        };
        let span = tracing::info_span!("pg-engine", prefix = %config.topic_prefix);
        tokio::spawn(tracing::Instrument::instrument(engine.run(emitter), span));
        Ok(self.engine.insert(EngineHandle {
            rx,
            committed: committed_tx,
            shutdown: emitter_shutdown_tx,
            progress,
        }))
    }
}

impl SourceTask for PostgresTask {
    fn start(&mut self, config: &ConfigMap, context: Box<dyn SourceTaskContext>) -> Result<()> {
        let parsed = config::parse(config)?;
        let partition = offsets::partition(&parsed.topic_prefix);
        self.start = context
            .committed_offset(&partition)
            .map(|o| Offset::from_map(&o));
        self.config = Some(Arc::new(parsed));
        self.raw = config.clone();
        Ok(())
    }

    fn poll(&mut self) -> BoxFuture<'_, Result<Vec<ConnectRecord>>> {
        Box::pin(async move {
            let wait = self
                .config
                .as_ref()
                .map_or(Duration::from_millis(500), |c| c.poll_interval);
            if self.finished {
                tokio::time::sleep(wait).await;
                return Ok(Vec::new());
            }
            let engine = match self.engine {
                Some(ref mut e) => e,
                None => self.spawn()?,
            };
            match tokio::time::timeout(wait, engine.rx.recv()).await {
                Err(_) => Ok(Vec::new()),
                Ok(Some(Item::Records(records))) => {
                    if let Some(pos) = records.last().and_then(|r| r.source.as_ref()) {
                        self.start = Some(Offset::from_map(&pos.offset));
                    }
                    Ok(records)
                }
                Ok(Some(Item::Finished)) => {
                    self.finished = true;
                    Ok(Vec::new())
                }
                Ok(Some(Item::Failed(e))) => {
                    self.engine = None;
                    Err(e)
                }
                Ok(None) => {
                    self.engine = None;
                    Err(ConnectorError::retriable(
                        "the Postgres engine stopped unexpectedly; restarting it",
                    ))
                }
            }
        })
    }

    fn commit_offsets(&mut self, offsets: &[SourcePosition]) -> BoxFuture<'_, Result<()>> {
        let ours = self.config.as_ref().and_then(|c| {
            let partition = offsets::partition(&c.topic_prefix);
            offsets
                .iter()
                .find(|p| p.partition == partition)
                .map(|p| Offset::from_map(&p.offset))
        });
        if let (Some(offset), Some(engine)) = (ours, &self.engine) {
            engine.committed.send_replace(Some(offset));
        }
        Box::pin(async { Ok(()) })
    }

    fn stop(&mut self) -> Result<()> {
        if let Some(engine) = self.engine.take() {
            engine.shutdown.send_replace(true);
        }
        Ok(())
    }
}
