//! The engine: setup, snapshot, then streaming with reconnects, on its own tokio task.
//!
//! The slot is acknowledged from two sources only: the `lsn_commit` of offsets the worker
//! reports durable, and, when every record handed over is durable and no transaction is open,
//! the position the server last reported (so filtered or quiet tables never make Postgres
//! keep WAL forever).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::watch;
use weir_connect_api::{ConfigMap, ConnectorError};

use super::catalog::{self, db_error};
use super::emit::{Closed, Emitter, Item};
use super::offsets::{Offset, SnapshotPosition};
use super::progress::Progress;
use super::snapshot::{Readers, SnapshotRun, SnapshotTable};
use super::stream::{Failure, StreamPosition, Streamer};
use super::{SESSION_SQL, Shared, build_table, load_types, now_micros};
use crate::config::{PostgresConfig, SnapshotMode};
use crate::pgoutput::{Assembler, AssemblerConfig};
use crate::schema::{EventBuilder, TableId, ValueOptions};
use crate::wire::{
    Connection, Lsn, Replication, ReplicationStream, StreamSettings, WireError, format_lsn,
    parse_lsn, quote_ident,
};

pub struct Engine {
    pub config: Arc<PostgresConfig>,
    pub raw: ConfigMap,
    pub start: Option<Offset>,
    pub committed: watch::Receiver<Option<Offset>>,
    pub shutdown: watch::Receiver<bool>,
    pub progress: Arc<Progress>,
}

enum Outcome {
    Stopped,
    Finished,
}

/// What setup found and made.
struct Setup {
    catalog: Connection,
    shared: Arc<Shared>,
    tables: Vec<TableId>,
    types: crate::schema::TypeRegistry,
}

/// How the engine starts reading.
enum Plan {
    Snapshot {
        exported: Option<Box<(Connection, String)>>,
        position: SnapshotPosition,
    },
    Stream(StreamPosition),
    Finished,
}

impl Engine {
    pub async fn run(mut self, mut emitter: Emitter) {
        let outcome = self.main(&mut emitter).await;
        match outcome {
            Ok(Outcome::Stopped) => {}
            Ok(Outcome::Finished) => emitter.finish(Item::Finished).await,
            Err(e) => {
                tracing::error!(connector = %self.config.topic_prefix, "{e}");
                emitter.finish(Item::Failed(e)).await;
            }
        }
        if self.config.slot_drop_on_stop && *self.shutdown.borrow() {
            match catalog::connect(&self.config).await {
                Ok(mut conn) => {
                    if let Err(e) = catalog::drop_slot(&mut conn, &self.config.slot_name).await {
                        tracing::warn!("slot.drop.on.stop: {e}");
                    }
                    conn.close().await;
                }
                Err(e) => tracing::warn!("slot.drop.on.stop: {e}"),
            }
        }
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// Sleeps `d`, or less when the task stops; false when stopping.
    async fn pause(&mut self, d: Duration) -> bool {
        tokio::select! {
            _ = tokio::time::sleep(d) => !self.stopping(),
            _ = self.shutdown.changed() => false,
        }
    }

    async fn main(&mut self, emitter: &mut Emitter) -> Result<Outcome, ConnectorError> {
        let (setup, plan) = {
            let mut attempt = 0u32;
            loop {
                match self.setup().await {
                    Ok(s) => break s,
                    Err(e) if e.is_retriable() && self.may_retry(attempt) => {
                        attempt += 1;
                        tracing::warn!("{e}; retrying (attempt {attempt})");
                        if !self.pause(backoff(attempt, self.config.retry_delay)).await {
                            return Ok(Outcome::Stopped);
                        }
                    }
                    Err(e) => return Err(e),
                }
            }
        };
        let Setup {
            mut catalog,
            shared,
            tables,
            types,
        } = setup;
        let position = match plan {
            Plan::Finished => return Ok(Outcome::Finished),
            Plan::Stream(p) => p,
            Plan::Snapshot { exported, position } => {
                let start = position.start_lsn;
                match self
                    .snapshot(
                        &mut catalog,
                        &shared,
                        &tables,
                        &types,
                        exported,
                        position,
                        emitter,
                    )
                    .await
                {
                    Ok(()) => {}
                    Err(_) if self.stopping() => return Ok(Outcome::Stopped),
                    Err(e) => return Err(e),
                }
                if self.config.snapshot_mode == SnapshotMode::InitialOnly {
                    return Ok(Outcome::Finished);
                }
                StreamPosition {
                    committed_end: start,
                    partial: None,
                }
            }
        };
        let mut streamer =
            Streamer::new(shared, Arc::clone(&self.config), catalog, types, position);
        self.stream(&mut streamer, emitter).await
    }

    fn may_retry(&self, attempt: u32) -> bool {
        self.config.errors_max_retries < 0 || i64::from(attempt) < self.config.errors_max_retries
    }

    async fn setup(&mut self) -> Result<(Setup, Plan), ConnectorError> {
        let config = Arc::clone(&self.config);
        let mut conn = catalog::connect(&config).await?;
        conn.execute(SESSION_SQL)
            .await
            .map_err(|e| db_error("cannot set the session", e))?;
        catalog::preflight(&mut conn, &config).await?;
        let tables = catalog::captured_tables(&mut conn, &config).await?;
        let types = load_types(&mut conn).await?;
        catalog::ensure_publication(&mut conn, &config, &tables).await?;
        let options = ValueOptions::from_config(&self.raw).map_err(|errors| {
            let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
            ConnectorError::fatal(all.join("; "))
        })?;
        let mut builder = EventBuilder::new(&config.topic_prefix);
        builder.tombstones_on_delete = config.tombstones_on_delete;
        builder.heartbeat_prefix = config.heartbeat_prefix.clone();
        builder.transaction_topic_suffix = config.transaction_suffix.clone();
        builder.binary_handling = options.binary_handling;
        let shared = Arc::new(Shared {
            builder,
            partition: super::offsets::partition(&config.topic_prefix),
            options,
        });
        let plan = self.plan(&mut conn).await?;
        Ok((
            Setup {
                catalog: conn,
                shared,
                tables,
                types,
            },
            plan,
        ))
    }

    /// Decides snapshot or stream from the stored offset, the slot and `snapshot.mode`;
    /// creates the slot when missing (exporting its snapshot when one is needed).
    async fn plan(&mut self, conn: &mut Connection) -> Result<Plan, ConnectorError> {
        let config = Arc::clone(&self.config);
        let mode = config.snapshot_mode;
        let stored = self.start.clone();
        let resume = stored.as_ref().and_then(|o| o.snapshot.clone());
        let streaming = stored.is_some() && resume.is_none();
        if mode == SnapshotMode::InitialOnly && streaming {
            return Ok(Plan::Finished);
        }
        let slot = catalog::slot_info(conn, &config.slot_name).await?;
        let Some(slot) = slot else {
            if streaming && !matches!(mode, SnapshotMode::WhenNeeded | SnapshotMode::Always) {
                return Err(ConnectorError::fatal(format!(
                    "replication slot \"{}\" no longer exists, so the changes after the stored \
                     offset are lost: set snapshot.mode=when_needed to take a new snapshot, or \
                     delete the connector's offsets",
                    config.slot_name
                )));
            }
            let snapshot = mode != SnapshotMode::NoData;
            let (repl, start, name) = self.create_slot(snapshot).await?;
            if !snapshot {
                repl.close().await;
                return Ok(Plan::Stream(StreamPosition {
                    committed_end: start,
                    partial: None,
                }));
            }
            let position = resume.unwrap_or_default();
            return Ok(Plan::Snapshot {
                exported: name.map(|n| Box::new((repl, n))),
                position: SnapshotPosition {
                    start_lsn: start,
                    ..position
                },
            });
        };
        catalog::check_slot(&slot, &config)?;
        if let Some(pid) = slot.active_pid {
            tracing::warn!(
                "replication slot \"{}\" is active for PID {pid}; streaming waits for it",
                config.slot_name
            );
        }
        let confirmed = slot.confirmed_flush.unwrap_or(0);
        let snapshot = match mode {
            SnapshotMode::NoData => false,
            SnapshotMode::Always => true,
            _ => stored.is_none() || resume.is_some(),
        };
        if snapshot {
            let position = match resume {
                Some(p) => p,
                None => SnapshotPosition {
                    start_lsn: confirmed,
                    ..SnapshotPosition::default()
                },
            };
            return Ok(Plan::Snapshot {
                exported: None,
                position,
            });
        }
        let stored = stored.unwrap_or_default();
        let committed_end = stored.lsn_commit.unwrap_or(confirmed).max(confirmed);
        let partial = match (stored.tx_id, stored.lsn_proc) {
            (Some(x), Some(p)) if p > committed_end => Some((x as u32, p)),
            _ => None,
        };
        Ok(Plan::Stream(StreamPosition {
            committed_end,
            partial,
        }))
    }

    async fn replication_connection(&self) -> Result<Connection, ConnectorError> {
        let mut cfg = self.config.connect.clone();
        cfg.replication = true;
        let mut conn = Connection::connect(&cfg)
            .await
            .map_err(|e| db_error("cannot open a replication connection to Postgres", e))?;
        conn.execute(SESSION_SQL)
            .await
            .map_err(|e| db_error("cannot set the replication session", e))?;
        Ok(conn)
    }

    /// Creates the slot; returns the connection (it must stay idle while the exported
    /// snapshot is imported), the consistent point and the snapshot name.
    async fn create_slot(
        &self,
        export: bool,
    ) -> Result<(Connection, Lsn, Option<String>), ConnectorError> {
        let mut repl = self.replication_connection().await?;
        let slot = quote_ident(&self.config.slot_name);
        let sql = if repl.server_version_num() >= 150000 {
            let snap = if export { "export" } else { "nothing" };
            format!("CREATE_REPLICATION_SLOT {slot} LOGICAL pgoutput (SNAPSHOT '{snap}')")
        } else {
            let snap = if export {
                "EXPORT_SNAPSHOT"
            } else {
                "NOEXPORT_SNAPSHOT"
            };
            format!("CREATE_REPLICATION_SLOT {slot} LOGICAL pgoutput {snap}")
        };
        let rows = repl.simple_query(&sql).await.map_err(|e| {
            db_error(
                &format!(
                    "cannot create replication slot \"{}\"",
                    self.config.slot_name
                ),
                e,
            )
        })?;
        let row = rows
            .first()
            .ok_or_else(|| ConnectorError::fatal("CREATE_REPLICATION_SLOT returned no row"))?;
        let point = row
            .get(1)
            .ok_or_else(|| ConnectorError::fatal("CREATE_REPLICATION_SLOT returned no LSN"))?;
        let start = parse_lsn(point)
            .map_err(|e| ConnectorError::fatal(format!("bad consistent point {point}: {e}")))?;
        let name = row.get(2).map(str::to_string);
        tracing::info!(
            slot = %self.config.slot_name,
            "created replication slot \"{}\" at {}",
            self.config.slot_name,
            format_lsn(start)
        );
        Ok((repl, start, name))
    }

    #[allow(clippy::too_many_arguments)]
    async fn snapshot(
        &mut self,
        catalog: &mut Connection,
        shared: &Arc<Shared>,
        tables: &[TableId],
        types: &crate::schema::TypeRegistry,
        exported: Option<Box<(Connection, String)>>,
        position: SnapshotPosition,
        emitter: &mut Emitter,
    ) -> Result<(), ConnectorError> {
        let config = Arc::clone(&self.config);
        let (repl, name) = match exported.map(|b| *b) {
            Some((c, n)) => (Some(c), Some(n)),
            None => (None, None),
        };
        let readers = Readers::open(&config, config.snapshot_max_threads, name).await?;
        // Every reader imported the snapshot: the slot's connection may go.
        if let Some(repl) = repl {
            repl.close().await;
        }
        let mut list = Vec::new();
        for id in tables {
            let name = id.to_string();
            if config.snapshot_tables.has_include() && !config.snapshot_tables.matches(&name) {
                continue;
            }
            let columns = catalog::table_columns(catalog, id).await?;
            let infos = columns.iter().map(|c| c.info.clone()).collect();
            let schema = build_table(shared, &config, id.clone(), infos, types)?;
            list.push(SnapshotTable {
                id: id.clone(),
                schema: Arc::new(schema),
                columns,
            });
        }
        let progress = Arc::clone(&self.progress);
        SnapshotRun::new(shared, &config, emitter, position, &progress)
            .run(list, &readers)
            .await
    }

    /// Streams until stopped; transient failures reconnect with backoff.
    async fn stream(
        &mut self,
        streamer: &mut Streamer,
        emitter: &mut Emitter,
    ) -> Result<Outcome, ConnectorError> {
        let mut attempt = 0u32;
        loop {
            let started = Instant::now();
            let err = match self.stream_once(streamer, emitter).await {
                Ok(()) | Err(Failure::Stopping) => return Ok(Outcome::Stopped),
                Err(Failure::Fatal(e)) => return Err(e),
                Err(Failure::Db(e)) => e,
            };
            if self.stopping() {
                return Ok(Outcome::Stopped);
            }
            if started.elapsed() > Duration::from_secs(60) {
                attempt = 0;
            }
            if !self.may_retry(attempt) {
                return Err(err);
            }
            attempt += 1;
            let delay = backoff(attempt, self.config.retry_delay);
            tracing::warn!(
                "Postgres replication interrupted: {err}; reconnecting in {} ms (attempt {attempt})",
                delay.as_millis()
            );
            if !self.pause(delay).await {
                return Ok(Outcome::Stopped);
            }
            streamer.reset_for_reconnect();
            match catalog::connect(&self.config).await {
                Ok(mut c) => {
                    if c.execute(SESSION_SQL).await.is_ok() {
                        *streamer.catalog() = c;
                    }
                }
                Err(e) => tracing::warn!("cannot reopen the catalog connection: {e}"),
            }
        }
    }

    async fn start_stream(&mut self, start: Lsn) -> Result<ReplicationStream, Failure> {
        let config = Arc::clone(&self.config);
        let mut tries = 0u32;
        loop {
            let conn = self
                .replication_connection()
                .await
                .map_err(Failure::from_connector)?;
            let v2 = conn.server_version_num() >= 140000;
            let mut options = vec![
                (
                    "proto_version".to_string(),
                    if v2 { "2" } else { "1" }.to_string(),
                ),
                (
                    "publication_names".to_string(),
                    quote_ident(&config.publication_name),
                ),
            ];
            if v2 {
                options.push(("messages".into(), "true".into()));
                options.push(("streaming".into(), "on".into()));
            }
            for (k, v) in &config.slot_stream_params {
                options.retain(|(o, _)| o != k);
                options.push((k.clone(), v.clone()));
            }
            let settings = StreamSettings {
                status_interval: config.status_update_interval,
                channel_capacity: 4096,
            };
            match conn
                .start_replication(&config.slot_name, start, &options, settings)
                .await
            {
                Ok(s) => return Ok(s),
                Err(e) if e.code() == Some("55006") => {
                    let pid = slot_pid(&e);
                    if tries >= config.slot_max_retries {
                        return Err(Failure::Fatal(catalog::slot_in_use(
                            &config.slot_name,
                            pid.unwrap_or(0),
                        )));
                    }
                    tries += 1;
                    tracing::warn!(
                        "replication slot \"{}\" is in use (PID {}); retry {tries} of {}",
                        config.slot_name,
                        pid.unwrap_or(0),
                        config.slot_max_retries
                    );
                    let delay = config
                        .slot_retry_delay
                        .min(Duration::from_millis(500 << tries.min(5)));
                    if !self.pause(delay).await {
                        return Err(Failure::Stopping);
                    }
                }
                Err(e) => return Err(Failure::db("cannot start replication", e)),
            }
        }
    }

    async fn stream_once(
        &mut self,
        streamer: &mut Streamer,
        emitter: &mut Emitter,
    ) -> Result<(), Failure> {
        let mut stream = self.start_stream(streamer.position.committed_end).await?;
        tracing::info!(
            slot = %self.config.slot_name,
            "streaming changes from {}",
            format_lsn(streamer.position.committed_end)
        );
        let spill = tempfile::Builder::new()
            .prefix("weir-pg-spill-")
            .tempdir()
            .map_err(|e| {
                Failure::Fatal(ConnectorError::fatal(format!(
                    "cannot create a spill directory: {e}"
                )))
            })?;
        let mut assembler = Assembler::new(AssemblerConfig {
            memory_limit: self.config.stream_memory_limit,
            spill_dir: spill.path().to_path_buf(),
        });
        let mut keepalive: Option<Lsn> = None;
        let linger = Duration::from_millis(1);
        let mut batch_started: Option<Instant> = None;
        let heartbeat = self.config.heartbeat_interval;
        let mut next_heartbeat = heartbeat.map(|h| tokio::time::Instant::now() + h);
        let mut ack_tick = tokio::time::interval(Duration::from_secs(1));
        ack_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let linger_at = batch_started.map(|t| tokio::time::Instant::from_std(t + linger));
            tokio::select! {
                biased;
                _ = self.shutdown.changed() => {
                    let _ = emitter.flush().await;
                    let _ = stream.close().await;
                    return Err(Failure::Stopping);
                }
                _ = self.committed.changed() => {
                    self.ack(&stream, streamer, &assembler, keepalive);
                }
                m = stream.recv() => {
                    match m.map_err(|e| Failure::db("the replication stream failed", e))? {
                        Replication::XLog(x) => {
                            assembler.push(x.wal_start, x.data).map_err(|e| {
                                Failure::Fatal(ConnectorError::fatal(format!(
                                    "cannot decode the replication stream: {e}"
                                )))
                            })?;
                            while let Some(ev) = assembler.next_event().map_err(|e| {
                                Failure::Fatal(ConnectorError::fatal(format!(
                                    "cannot assemble the replication stream: {e}"
                                )))
                            })? {
                                streamer.handle(ev, emitter).await?;
                            }
                            if emitter.has_unsent() {
                                batch_started.get_or_insert_with(Instant::now);
                            } else {
                                batch_started = None;
                            }
                        }
                        Replication::Keepalive { wal_end } => {
                            keepalive = Some(wal_end);
                            emitter.flush().await.map_err(|Closed| Failure::Stopping)?;
                            batch_started = None;
                            self.ack(&stream, streamer, &assembler, keepalive);
                        }
                    }
                }
                _ = sleep_until(linger_at) => {
                    emitter.flush().await.map_err(|Closed| Failure::Stopping)?;
                    batch_started = None;
                }
                _ = sleep_until(next_heartbeat) => {
                    next_heartbeat = heartbeat.map(|h| tokio::time::Instant::now() + h);
                    let idle = (streamer.at_boundary() && assembler.is_idle()).then_some(keepalive).flatten();
                    self.heartbeat(streamer, emitter, idle).await?;
                }
                _ = ack_tick.tick() => {
                    self.ack(&stream, streamer, &assembler, keepalive);
                }
            }
        }
    }

    /// Moves the slot's flush LSN as far as durable offsets (and idleness) allow.
    fn ack(
        &self,
        stream: &ReplicationStream,
        streamer: &Streamer,
        assembler: &Assembler,
        keepalive: Option<Lsn>,
    ) {
        let committed = self.committed.borrow().clone();
        let mut ack = committed.as_ref().and_then(Offset::flushable).unwrap_or(0);
        let all_durable = match (&streamer.last_emitted, &committed) {
            (None, _) => true,
            (Some(last), Some(c)) => *last == (c.lsn_proc, c.lsn_commit, c.tx_id),
            (Some(_), None) => false,
        };
        if all_durable && streamer.at_boundary() && assembler.is_idle() {
            ack = ack.max(streamer.position.committed_end);
            if let Some(k) = keepalive {
                ack = ack.max(k);
            }
        }
        if ack > stream.flushed() {
            stream.set_flushed(ack);
        }
    }

    async fn heartbeat(
        &mut self,
        streamer: &mut Streamer,
        emitter: &mut Emitter,
        idle: Option<Lsn>,
    ) -> Result<(), Failure> {
        if let Some(sql) = self.config.heartbeat_action_query.clone()
            && let Err(e) = streamer.catalog().execute(&sql).await
        {
            tracing::warn!("heartbeat.action.query failed: {e}");
        }
        let offset = streamer.current_offset(idle);
        let mut record = streamer_builder(streamer).heartbeat(now_micros() / 1000);
        streamer.stamp(&mut record, &offset);
        emitter
            .push(record)
            .await
            .map_err(|Closed| Failure::Stopping)?;
        emitter.flush().await.map_err(|Closed| Failure::Stopping)
    }
}

fn streamer_builder(streamer: &Streamer) -> &EventBuilder {
    streamer.builder()
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Exponential backoff from 500 ms, capped at `max`.
fn backoff(attempt: u32, max: Duration) -> Duration {
    Duration::from_millis(500u64.saturating_mul(1 << attempt.min(10)))
        .min(max.max(Duration::from_millis(500)))
}

/// The PID in "replication slot \"x\" is active for PID 123".
fn slot_pid(e: &WireError) -> Option<i32> {
    let text = e.to_string();
    let at = text.find("PID ")?;
    text[at + 4..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect::<String>()
        .parse()
        .ok()
}
