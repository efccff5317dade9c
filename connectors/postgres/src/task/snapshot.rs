//! The snapshot: every captured table read through one consistent view (the snapshot the
//! slot exported, or one reader's exported snapshot), chunked by primary key (keyset), the
//! chunks of a table read by up to `snapshot.max.threads` connections and emitted in key
//! order. Each record's offset holds the snapshot position, so a restart resumes after the
//! last durable row instead of starting over.

use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use weir_connect_api::{ConnectRecord, ConnectorError, SourcePosition, Struct};

use super::catalog::{self, CatalogColumn, db_error};
use super::emit::Emitter;
use super::offsets::{Offset, SnapshotPosition};
use super::progress::Progress;
use super::{SESSION_SQL, Shared, now_micros};
use crate::config::PostgresConfig;
use crate::schema::{ColumnValue, Op, SnapshotMarker, SourceInfo, TableId, TableSchema};
use crate::wire::{Connection, Lsn, quote_ident, quote_literal};

/// One table to read: its schema and the columns in select order.
pub struct SnapshotTable {
    pub id: TableId,
    pub schema: Arc<TableSchema>,
    pub columns: Vec<CatalogColumn>,
}

impl SnapshotTable {
    fn key_columns(&self) -> Vec<&CatalogColumn> {
        let mut keys: Vec<&CatalogColumn> = self
            .columns
            .iter()
            .filter(|c| c.key_position.is_some())
            .collect();
        keys.sort_by_key(|c| c.key_position);
        keys
    }

    fn select_list(&self) -> String {
        self.columns
            .iter()
            .map(|c| quote_ident(&c.info.name))
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn qualified(&self) -> String {
        format!(
            "{}.{}",
            quote_ident(&self.id.schema),
            quote_ident(&self.id.table)
        )
    }

    /// `(k1, k2) > ('v1'::t1, 'v2'::t2)` for the keyset position after `key`.
    fn after_clause(&self, key: &[Option<String>]) -> String {
        let keys = self.key_columns();
        let cols = keys
            .iter()
            .map(|c| quote_ident(&c.info.name))
            .collect::<Vec<_>>()
            .join(", ");
        let vals = keys
            .iter()
            .zip(key)
            .map(|(c, v)| match v {
                Some(v) => format!("{}::{}", quote_literal(v), c.type_name),
                None => "NULL".to_string(),
            })
            .collect::<Vec<_>>()
            .join(", ");
        format!("({cols}) > ({vals})")
    }

    fn order_by(&self) -> String {
        self.key_columns()
            .iter()
            .map(|c| quote_ident(&c.info.name))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// A chunk read: the converted rows with their key text (for the resume position).
type Chunk = Vec<(Struct, Option<Vec<Option<String>>>)>;

/// Plain text rows (keys, estimates).
type TextRows = Vec<Vec<Option<String>>>;

enum Output {
    Chunk(Chunk),
    Text(TextRows),
}

struct Job {
    sql: String,
    /// `Some`: convert the rows to the table's values; `None`: return them as text.
    table: Option<Arc<SnapshotTableShared>>,
    reply: tokio::sync::oneshot::Sender<Result<Output, ConnectorError>>,
}

/// What a reader needs of a table.
struct SnapshotTableShared {
    id: TableId,
    schema: Arc<TableSchema>,
    key_indexes: Vec<usize>,
}

/// Reader connections sharing one snapshot.
pub struct Readers {
    jobs: Vec<mpsc::Sender<Job>>,
    handles: Vec<JoinHandle<()>>,
    pub tx_id: Option<i64>,
}

impl Drop for Readers {
    fn drop(&mut self) {
        for h in &self.handles {
            h.abort();
        }
    }
}

impl Readers {
    /// Opens `n` connections in one repeatable-read view: `snapshot` (exported by the slot)
    /// or, without one, the first reader's exported snapshot.
    pub async fn open(
        config: &PostgresConfig,
        n: usize,
        snapshot: Option<String>,
    ) -> Result<Readers, ConnectorError> {
        let mut conns = Vec::with_capacity(n);
        let mut name = snapshot;
        let mut tx_id = None;
        for _ in 0..n.max(1) {
            let mut conn = catalog::connect(config).await?;
            conn.execute(SESSION_SQL)
                .await
                .map_err(|e| db_error("cannot set the session", e))?;
            conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
                .await
                .map_err(|e| db_error("cannot begin the snapshot transaction", e))?;
            match &name {
                Some(s) => conn
                    .execute(&format!("SET TRANSACTION SNAPSHOT {}", quote_literal(s)))
                    .await
                    .map_err(|e| db_error("cannot import the slot's snapshot", e))?,
                None => {
                    let rows = conn
                        .simple_query("SELECT pg_export_snapshot()")
                        .await
                        .map_err(|e| db_error("cannot export a snapshot", e))?;
                    name = rows.first().and_then(|r| r.get(0)).map(str::to_string);
                }
            }
            if tx_id.is_none() {
                let rows = conn
                    .simple_query("SELECT txid_current()")
                    .await
                    .map_err(|e| db_error("cannot read the snapshot's transaction id", e))?;
                tx_id = rows
                    .first()
                    .and_then(|r| r.get(0))
                    .and_then(|v| v.parse().ok());
            }
            conns.push(conn);
        }
        let mut jobs = Vec::new();
        let mut handles = Vec::new();
        for (i, conn) in conns.into_iter().enumerate() {
            let (tx, rx) = mpsc::channel::<Job>(2);
            jobs.push(tx);
            let span = tracing::info_span!("pg-snapshot-reader", reader = i);
            handles.push(tokio::spawn(tracing::Instrument::instrument(
                reader(conn, rx),
                span,
            )));
        }
        Ok(Readers {
            jobs,
            handles,
            tx_id,
        })
    }

    fn len(&self) -> usize {
        self.jobs.len()
    }

    async fn submit(
        &self,
        reader: usize,
        sql: String,
        table: Option<&Arc<SnapshotTableShared>>,
    ) -> Result<Pending, ConnectorError> {
        let (reply, rx) = tokio::sync::oneshot::channel();
        self.jobs[reader % self.jobs.len()]
            .send(Job {
                sql,
                table: table.map(Arc::clone),
                reply,
            })
            .await
            .map_err(|_| ConnectorError::retriable("a snapshot reader stopped"))?;
        Ok(Pending(rx))
    }

    /// Runs a query on reader 0 and returns its rows as text.
    async fn text(&self, sql: String) -> Result<TextRows, ConnectorError> {
        match self.submit(0, sql, None).await?.wait().await? {
            Output::Text(rows) => Ok(rows),
            Output::Chunk(_) => Err(ConnectorError::fatal("a snapshot reader answered rows")),
        }
    }
}

/// A submitted job's answer.
struct Pending(tokio::sync::oneshot::Receiver<Result<Output, ConnectorError>>);

impl Pending {
    async fn wait(self) -> Result<Output, ConnectorError> {
        self.0
            .await
            .map_err(|_| ConnectorError::retriable("a snapshot reader stopped"))?
    }

    async fn chunk(self) -> Result<Chunk, ConnectorError> {
        match self.wait().await? {
            Output::Chunk(c) => Ok(c),
            Output::Text(_) => Err(ConnectorError::fatal("a snapshot reader answered text")),
        }
    }
}

async fn reader(mut conn: Connection, mut jobs: mpsc::Receiver<Job>) {
    while let Some(job) = jobs.recv().await {
        let result = read_chunk(&mut conn, &job).await;
        let _ = job.reply.send(result);
    }
    let _ = conn.execute("COMMIT").await;
    conn.close().await;
}

async fn read_chunk(conn: &mut Connection, job: &Job) -> Result<Output, ConnectorError> {
    let Some(table) = &job.table else {
        let rows = conn
            .simple_query(&job.sql)
            .await
            .map_err(|e| db_error("a snapshot query failed", e))?;
        return Ok(Output::Text(rows.iter().map(|r| r.to_vec()).collect()));
    };
    let mut rows = conn
        .query_stream(&job.sql)
        .await
        .map_err(|e| db_error(&format!("cannot read {}", table.id), e))?;
    let mut out = Vec::new();
    while let Some(row) = rows
        .next()
        .await
        .map_err(|e| db_error(&format!("cannot read {}", table.id), e))?
    {
        let values: Vec<ColumnValue<'_>> = (0..row.len())
            .map(|i| row.get(i).map_or(ColumnValue::Null, ColumnValue::Text))
            .collect();
        let value = table.schema.row(&values).map_err(|e| {
            ConnectorError::fatal(format!("cannot convert a row of {}: {e}", table.id))
        })?;
        let key = (!table.key_indexes.is_empty()).then(|| {
            table
                .key_indexes
                .iter()
                .map(|&i| row.get(i).map(str::to_string))
                .collect()
        });
        out.push((value, key));
    }
    Ok(Output::Chunk(out))
}

/// Builds the records of the snapshot in order and hands them to the emitter.
pub struct SnapshotRun<'a> {
    pub shared: &'a Shared,
    pub config: &'a PostgresConfig,
    pub emitter: &'a mut Emitter,
    pub position: SnapshotPosition,
    pub progress: &'a Progress,
    /// The record held back until the next one shows whether it was the last.
    held: Option<(Arc<TableSchema>, Struct, SnapshotPosition, SnapshotMarker)>,
    first: bool,
}

impl<'a> SnapshotRun<'a> {
    pub fn new(
        shared: &'a Shared,
        config: &'a PostgresConfig,
        emitter: &'a mut Emitter,
        position: SnapshotPosition,
        progress: &'a Progress,
    ) -> Self {
        let first = position.done.is_empty() && position.table.is_none();
        Self {
            shared,
            config,
            emitter,
            position,
            progress,
            held: None,
            first,
        }
    }

    /// Reads every table not yet done; the last record carries `snapshot_completed`.
    pub async fn run(
        mut self,
        tables: Vec<SnapshotTable>,
        readers: &Readers,
    ) -> Result<(), ConnectorError> {
        let tx_id = readers.tx_id;
        for table in tables {
            let name = table.id.to_string();
            if self.position.done.contains(&name) {
                continue;
            }
            let after = if self.position.table.as_deref() == Some(name.as_str()) {
                self.position.after.clone()
            } else {
                None
            };
            self.position.table = Some(name.clone());
            self.position.after = after.clone();
            self.progress
                .start_table(&name, estimate(readers, &table).await);
            self.table(&table, after, readers, tx_id).await?;
            self.mark_last(SnapshotMarker::LastInDataCollection);
            self.position.done.push(name);
            self.position.table = None;
            self.position.after = None;
        }
        self.mark_last(SnapshotMarker::Last);
        self.position.completed = true;
        if let Some((schema, value, mut position, marker)) = self.held.take() {
            position.completed = true;
            self.emit(&schema, value, position, marker, tx_id).await?;
        }
        self.progress.finish();
        self.emitter
            .flush()
            .await
            .map_err(|_| ConnectorError::retriable("the task is stopping"))
    }

    fn mark_last(&mut self, marker: SnapshotMarker) {
        if let Some(h) = &mut self.held
            && !matches!(h.3, SnapshotMarker::First)
        {
            h.3 = marker;
        }
    }

    async fn table(
        &mut self,
        table: &SnapshotTable,
        after: Option<Vec<Option<String>>>,
        readers: &Readers,
        tx_id: Option<i64>,
    ) -> Result<(), ConnectorError> {
        let keys = table.key_columns();
        let shared = Arc::new(SnapshotTableShared {
            id: table.id.clone(),
            schema: Arc::clone(&table.schema),
            key_indexes: keys
                .iter()
                .filter_map(|k| {
                    table
                        .columns
                        .iter()
                        .position(|c| c.info.name == k.info.name)
                })
                .collect(),
        });
        let base = format!("SELECT {} FROM {}", table.select_list(), table.qualified());
        let chunk = self.config.snapshot_fetch_size;
        let mut first_in_table = true;
        if keys.is_empty() {
            // No key: one streamed read of the whole table (restarted whole after a crash).
            let rows = readers
                .submit(0, base, Some(&shared))
                .await?
                .chunk()
                .await?;
            return self
                .rows(rows, &mut first_in_table, tx_id, &table.schema)
                .await;
        }
        let mut after = after;
        if readers.len() > 1 {
            let bounds = boundaries(readers, table, after.as_deref(), chunk).await?;
            let mut lows: Vec<Option<Vec<Option<String>>>> = vec![after.clone()];
            lows.extend(bounds.iter().cloned().map(Some));
            let sql_for = |i: usize| {
                let mut conds = Vec::new();
                if let Some(lo) = &lows[i] {
                    conds.push(table.after_clause(lo));
                }
                if let Some(hi) = bounds.get(i) {
                    conds.push(format!("NOT {}", table.after_clause(hi)));
                }
                let filter = if conds.is_empty() {
                    String::new()
                } else {
                    format!(" WHERE {}", conds.join(" AND "))
                };
                format!("{base}{filter} ORDER BY {}", table.order_by())
            };
            let n = lows.len();
            let mut pending = std::collections::VecDeque::new();
            for i in 0..n.min(readers.len()) {
                pending.push_back(readers.submit(i, sql_for(i), Some(&shared)).await?);
            }
            let mut next = pending.len();
            while let Some(job) = pending.pop_front() {
                let rows = job.chunk().await?;
                if next < n {
                    pending.push_back(readers.submit(next, sql_for(next), Some(&shared)).await?);
                    next += 1;
                }
                self.rows(rows, &mut first_in_table, tx_id, &table.schema)
                    .await?;
            }
            return Ok(());
        }
        loop {
            let filter = after
                .as_ref()
                .map(|a| format!(" WHERE {}", table.after_clause(a)))
                .unwrap_or_default();
            let sql = format!("{base}{filter} ORDER BY {} LIMIT {chunk}", table.order_by());
            let rows = readers.submit(0, sql, Some(&shared)).await?.chunk().await?;
            let full = rows.len() >= chunk;
            after = rows.last().and_then(|(_, k)| k.clone());
            self.rows(rows, &mut first_in_table, tx_id, &table.schema)
                .await?;
            if !full {
                return Ok(());
            }
        }
    }

    async fn rows(
        &mut self,
        rows: Chunk,
        first_in_table: &mut bool,
        tx_id: Option<i64>,
        schema: &Arc<TableSchema>,
    ) -> Result<(), ConnectorError> {
        let n = rows.len() as u64;
        for (value, key) in rows {
            let marker = if self.first {
                self.first = false;
                SnapshotMarker::First
            } else if *first_in_table {
                SnapshotMarker::FirstInDataCollection
            } else {
                SnapshotMarker::True
            };
            *first_in_table = false;
            self.position.after = key;
            let position = self.position.clone();
            if let Some((s, v, p, m)) =
                self.held
                    .replace((Arc::clone(schema), value, position, marker))
            {
                self.emit(&s, v, p, m, tx_id).await?;
            }
        }
        self.progress.add_rows(n);
        Ok(())
    }

    async fn emit(
        &mut self,
        schema: &TableSchema,
        value: Struct,
        position: SnapshotPosition,
        marker: SnapshotMarker,
        tx_id: Option<i64>,
    ) -> Result<(), ConnectorError> {
        let start_lsn: Lsn = position.start_lsn;
        let src = SourceInfo {
            ts_us: now_micros(),
            snapshot: marker,
            db: self.config.connect.dbname.clone(),
            sequence: (None, None),
            schema: schema.id().schema.clone(),
            table: schema.id().table.clone(),
            tx_id,
            lsn: Some(start_lsn),
            xmin: None,
        };
        let mut record: ConnectRecord =
            self.shared
                .builder
                .read_or_create(schema, Op::Read, value, &src, None);
        let offset = Offset {
            lsn: Some(start_lsn),
            lsn_proc: Some(start_lsn),
            lsn_commit: Some(start_lsn),
            tx_id,
            ts_usec: Some(src.ts_us),
            message_type: None,
            snapshot: Some(position),
        };
        record.source = Some(SourcePosition {
            partition: self.shared.partition.clone(),
            offset: offset.to_map(),
        });
        self.emitter
            .push(record)
            .await
            .map_err(|_| ConnectorError::retriable("the task is stopping"))
    }
}

/// The first key of every chunk of `chunk` rows after `after` (exclusive), read in the
/// snapshot's view by reader 0.
async fn boundaries(
    readers: &Readers,
    table: &SnapshotTable,
    after: Option<&[Option<String>]>,
    chunk: usize,
) -> Result<Vec<Vec<Option<String>>>, ConnectorError> {
    let keys = table.order_by();
    let filter = after
        .map(|a| format!(" WHERE {}", table.after_clause(a)))
        .unwrap_or_default();
    let casts = table
        .key_columns()
        .iter()
        .map(|c| format!("{}::text", quote_ident(&c.info.name)))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT {casts} FROM (SELECT {keys}, row_number() OVER (ORDER BY {keys}) AS weir_rn \
         FROM {}{filter}) s WHERE weir_rn % {chunk} = 0 ORDER BY weir_rn",
        table.qualified()
    );
    readers.text(sql).await
}

/// The planner's row estimate for progress.
async fn estimate(readers: &Readers, table: &SnapshotTable) -> Option<u64> {
    let sql = format!(
        "SELECT GREATEST(reltuples, 0)::bigint FROM pg_class WHERE oid = {}::regclass",
        quote_literal(&table.qualified())
    );
    let rows = readers.text(sql).await.ok()?;
    rows.first()?.first()?.as_deref()?.parse().ok()
}
