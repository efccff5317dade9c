//! Streaming: pgoutput events to Debezium change events, with offsets that say how far the
//! slot may be acknowledged once they are durable.

use std::collections::HashMap;
use std::sync::Arc;

use weir_connect_api::{ConnectRecord, ConnectorError, SourcePosition, Struct};

use super::catalog::{self, db_error};
use super::emit::{Closed, Emitter};
use super::offsets::Offset;
use super::{PG_EPOCH_MICROS, Shared};
use crate::config::PostgresConfig;
use crate::pgoutput::{Event, LogicalMessage, Message, OldTuple, Relation, TupleValue};
use crate::schema::{
    ColumnInfo, ColumnValue, Op, SnapshotMarker, SourceInfo, TableId, TableSchema, TxBlock,
    TypeRegistry,
};
use crate::wire::{Connection, Lsn};

/// A relation as the stream described it.
enum Rel {
    Ignored,
    Captured(Arc<TableSchema>),
}

/// The transaction being received.
struct Tx {
    xid: u32,
    final_lsn: Lsn,
    commit_ts_us: i64,
    /// Records emitted for it (transaction metadata counts them).
    total_order: i64,
    per_table: Vec<(String, i64)>,
    began: bool,
    /// The LSN of the last change emitted, for resuming mid-transaction.
    last_emitted: Option<Lsn>,
}

/// Where streaming stands; survives reconnects within one engine run.
#[derive(Debug, Clone, Default)]
pub struct StreamPosition {
    /// The end LSN of the last transaction fully handed over (or an idle position).
    pub committed_end: Lsn,
    /// A transaction partly handed over: its xid and the last change LSN emitted.
    pub partial: Option<(u32, Lsn)>,
}

/// Turns decoded events into records.
pub struct Streamer {
    shared: Arc<Shared>,
    config: Arc<PostgresConfig>,
    catalog: Connection,
    types: TypeRegistry,
    relations: HashMap<u32, Rel>,
    tx: Option<Tx>,
    pub position: StreamPosition,
    /// Changes of this (xid, up to LSN) were emitted before a restart: skipped once.
    skip: Option<(u32, Lsn)>,
    /// (lsn_proc, lsn_commit, txId) of the last record handed over.
    pub last_emitted: Option<(Option<Lsn>, Option<Lsn>, Option<i64>)>,
}

impl Streamer {
    pub fn new(
        shared: Arc<Shared>,
        config: Arc<PostgresConfig>,
        catalog: Connection,
        types: TypeRegistry,
        position: StreamPosition,
    ) -> Self {
        let skip = position.partial;
        Self {
            shared,
            config,
            catalog,
            types,
            relations: HashMap::new(),
            tx: None,
            position,
            skip,
            last_emitted: None,
        }
    }

    pub fn builder(&self) -> &crate::schema::EventBuilder {
        &self.shared.builder
    }

    /// The catalog connection (heartbeat queries).
    pub fn catalog(&mut self) -> &mut Connection {
        &mut self.catalog
    }

    /// Called when the replication connection is reopened: the server resends from the last
    /// complete transaction, and changes already emitted of a partial one are skipped.
    pub fn reset_for_reconnect(&mut self) {
        if let Some(tx) = self.tx.take()
            && let Some(lsn) = tx.last_emitted
        {
            self.position.partial = Some((tx.xid, lsn));
        }
        self.skip = self.position.partial;
        self.relations.clear();
    }

    /// Whether no transaction is open (the idle position may be acknowledged).
    pub fn at_boundary(&self) -> bool {
        self.tx.is_none()
    }

    /// The offset of a record that is not a change (heartbeat, non-transactional message).
    pub fn current_offset(&self, idle_lsn: Option<Lsn>) -> Offset {
        let mut commit = self.position.committed_end;
        if self.tx.is_none()
            && let Some(l) = idle_lsn
        {
            commit = commit.max(l);
        }
        let (tx_id, proc) = match self
            .tx
            .as_ref()
            .and_then(|t| t.last_emitted.map(|l| (t.xid, l)))
        {
            Some((x, l)) => (Some(i64::from(x)), Some(l)),
            None => (None, Some(commit)),
        };
        Offset {
            lsn: proc,
            lsn_proc: proc,
            lsn_commit: Some(commit),
            tx_id,
            ..Offset::default()
        }
    }

    /// Stamps `record` with `offset` and remembers it as the last handed over.
    pub fn stamp(&mut self, record: &mut ConnectRecord, offset: &Offset) {
        record.source = Some(SourcePosition {
            partition: self.shared.partition.clone(),
            offset: offset.to_map(),
        });
        self.last_emitted = Some((offset.lsn_proc, offset.lsn_commit, offset.tx_id));
    }

    pub async fn handle(&mut self, event: Event, out: &mut Emitter) -> Result<(), Failure> {
        match event {
            Event::Begin {
                xid,
                final_lsn,
                commit_ts,
                ..
            } => {
                self.tx = Some(Tx {
                    xid,
                    final_lsn,
                    commit_ts_us: commit_ts + PG_EPOCH_MICROS,
                    total_order: 0,
                    per_table: Vec::new(),
                    began: false,
                    last_emitted: None,
                });
            }
            Event::Change { lsn, message } => self.change(lsn, message, out).await?,
            Event::Commit {
                xid,
                end_lsn,
                commit_ts,
                ..
            } => {
                self.commit(xid, end_lsn, commit_ts, out).await?;
            }
            Event::NonTxMessage { lsn, message } => {
                let offset = self.current_offset(None);
                self.message(lsn, message, None, offset, out).await?;
            }
        }
        Ok(())
    }

    async fn change(
        &mut self,
        lsn: Lsn,
        message: Message,
        out: &mut Emitter,
    ) -> Result<(), Failure> {
        if let Message::Relation(r) = message {
            return self.relation(r).await;
        }
        if let Some((xid, upto)) = self.skip
            && self.tx.as_ref().is_some_and(|t| t.xid == xid)
            && lsn <= upto
        {
            return Ok(());
        }
        let records = match message {
            Message::Insert(i) => {
                let Some(t) = self.table(i.rel)? else {
                    return Ok(());
                };
                if !self.config.emits('c') {
                    return Ok(());
                }
                let after = row(&t, &i.new, None)?;
                let src = self.source(&t, lsn);
                let tx = self.tx_block(&t);
                vec![
                    self.shared
                        .builder
                        .read_or_create(&t, Op::Create, after, &src, tx.as_ref()),
                ]
            }
            Message::Update(u) => {
                let Some(t) = self.table(u.rel)? else {
                    return Ok(());
                };
                if !self.config.emits('u') {
                    return Ok(());
                }
                let old_full = match &u.old {
                    Some(OldTuple::Full(v)) => Some(v.as_slice()),
                    _ => None,
                };
                let after = row(&t, &u.new, old_full)?;
                let before = match &u.old {
                    Some(OldTuple::Full(v)) | Some(OldTuple::Key(v)) => Some(row(&t, v, None)?),
                    None => None,
                };
                let src = self.source(&t, lsn);
                let tx = self.tx_block(&t);
                self.shared
                    .builder
                    .update(&t, before, after, &src, tx.as_ref())
            }
            Message::Delete(d) => {
                let Some(t) = self.table(d.rel)? else {
                    return Ok(());
                };
                if !self.config.emits('d') {
                    return Ok(());
                }
                let old = match &d.old {
                    OldTuple::Full(v) | OldTuple::Key(v) => v,
                };
                let before = row(&t, old, None)?;
                let src = self.source(&t, lsn);
                let tx = self.tx_block(&t);
                self.shared.builder.delete(&t, before, &src, tx.as_ref())
            }
            Message::Truncate(tr) => {
                if !self.config.emits('t') {
                    return Ok(());
                }
                let mut v = Vec::new();
                for rel in tr.rels {
                    if let Some(t) = self.table(rel)? {
                        let src = self.source(&t, lsn);
                        let tx = self.tx_block(&t);
                        v.push(self.shared.builder.truncate(&t, &src, tx.as_ref()));
                    }
                }
                v
            }
            Message::Message(m) => {
                let offset = self.change_offset(lsn, "MESSAGE");
                return self
                    .message(lsn, m, self.tx.as_ref().map(|t| t.xid), offset, out)
                    .await;
            }
            _ => return Ok(()),
        };
        if records.is_empty() {
            return Ok(());
        }
        self.begin_metadata(out).await?;
        let offset = self.change_offset(lsn, "CHANGE");
        self.emit(records, &offset, lsn, out).await
    }

    async fn emit(
        &mut self,
        mut records: Vec<ConnectRecord>,
        offset: &Offset,
        lsn: Lsn,
        out: &mut Emitter,
    ) -> Result<(), Failure> {
        for r in &mut records {
            self.stamp(r, offset);
        }
        if let Some(tx) = &mut self.tx {
            tx.last_emitted = Some(lsn);
        }
        out.push_all(records)
            .await
            .map_err(|Closed| Failure::Stopping)
    }

    fn change_offset(&self, lsn: Lsn, kind: &'static str) -> Offset {
        Offset {
            lsn: Some(lsn),
            lsn_proc: Some(lsn),
            lsn_commit: Some(self.position.committed_end),
            tx_id: self.tx.as_ref().map(|t| i64::from(t.xid)),
            ts_usec: self.tx.as_ref().map(|t| t.commit_ts_us),
            message_type: Some(kind),
            snapshot: None,
        }
    }

    async fn message(
        &mut self,
        lsn: Lsn,
        m: LogicalMessage,
        xid: Option<u32>,
        offset: Offset,
        out: &mut Emitter,
    ) -> Result<(), Failure> {
        if !self.config.messages.matches(&m.prefix) {
            return Ok(());
        }
        let src = SourceInfo {
            ts_us: self
                .tx
                .as_ref()
                .map_or_else(super::now_micros, |t| t.commit_ts_us),
            snapshot: SnapshotMarker::False,
            db: self.config.connect.dbname.clone(),
            sequence: (Some(self.position.committed_end), Some(lsn)),
            schema: String::new(),
            table: String::new(),
            tx_id: xid.map(i64::from),
            lsn: Some(lsn),
            xmin: None,
        };
        let record = self.shared.builder.message(&m.prefix, &m.content, &src);
        let mut records = vec![record];
        for r in &mut records {
            self.stamp(r, &offset);
        }
        if xid.is_some()
            && let Some(tx) = &mut self.tx
        {
            tx.last_emitted = Some(lsn);
        }
        out.push_all(records)
            .await
            .map_err(|Closed| Failure::Stopping)
    }

    async fn commit(
        &mut self,
        xid: u32,
        end_lsn: Lsn,
        _commit_ts: i64,
        out: &mut Emitter,
    ) -> Result<(), Failure> {
        let tx = self.tx.take();
        if tx.as_ref().is_some_and(|t| t.began)
            && let Some(t) = &tx
        {
            let id = format!("{}:{}", t.xid, t.final_lsn);
            let mut end =
                self.shared
                    .builder
                    .transaction_end(&id, t.commit_ts_us / 1000, &t.per_table);
            let offset = Offset {
                lsn: Some(end_lsn),
                lsn_proc: Some(end_lsn),
                lsn_commit: Some(end_lsn),
                ..Offset::default()
            };
            self.stamp(&mut end, &offset);
            out.push(end).await.map_err(|Closed| Failure::Stopping)?;
        } else if tx.as_ref().is_some_and(|t| t.last_emitted.is_some()) {
            // The transaction's last record, if not handed over yet, proves the whole
            // transaction durable once committed.
            let x = i64::from(xid);
            if let Some(last) = out.unsent_mut().last_mut()
                && let Some(pos) = &mut last.source
                && pos.offset.get("txId").and_then(|v| v.as_i64()) == Some(x)
            {
                pos.offset
                    .insert("lsn_commit".into(), serde_json::json!(end_lsn));
                self.last_emitted = self.last_emitted.map(|(p, _, t)| (p, Some(end_lsn), t));
            }
        }
        self.position.committed_end = self.position.committed_end.max(end_lsn);
        self.position.partial = None;
        if self.skip.is_some_and(|(x, _)| x == xid) {
            self.skip = None;
        }
        Ok(())
    }

    async fn begin_metadata(&mut self, out: &mut Emitter) -> Result<(), Failure> {
        if !self.config.provide_transaction_metadata {
            return Ok(());
        }
        let Some(tx) = &mut self.tx else {
            return Ok(());
        };
        if tx.began {
            return Ok(());
        }
        tx.began = true;
        let id = format!("{}:{}", tx.xid, tx.final_lsn);
        let mut begin = self
            .shared
            .builder
            .transaction_begin(&id, tx.commit_ts_us / 1000);
        let offset = Offset {
            lsn_commit: Some(self.position.committed_end),
            lsn_proc: Some(self.position.committed_end),
            lsn: Some(self.position.committed_end),
            ..Offset::default()
        };
        self.stamp(&mut begin, &offset);
        out.push(begin).await.map_err(|Closed| Failure::Stopping)
    }

    fn tx_block(&mut self, table: &TableSchema) -> Option<TxBlock> {
        if !self.config.provide_transaction_metadata {
            return None;
        }
        let tx = self.tx.as_mut()?;
        tx.total_order += 1;
        let name = table.id().to_string();
        let order = match tx.per_table.iter_mut().find(|(n, _)| *n == name) {
            Some((_, n)) => {
                *n += 1;
                *n
            }
            None => {
                tx.per_table.push((name, 1));
                1
            }
        };
        Some(TxBlock {
            id: format!("{}:{}", tx.xid, tx.final_lsn),
            total_order: tx.total_order,
            data_collection_order: order,
        })
    }

    fn source(&self, table: &TableSchema, lsn: Lsn) -> SourceInfo {
        SourceInfo {
            ts_us: self
                .tx
                .as_ref()
                .map_or_else(super::now_micros, |t| t.commit_ts_us),
            snapshot: SnapshotMarker::False,
            db: self.config.connect.dbname.clone(),
            sequence: (Some(self.position.committed_end), Some(lsn)),
            schema: table.id().schema.clone(),
            table: table.id().table.clone(),
            tx_id: self.tx.as_ref().map(|t| i64::from(t.xid)),
            lsn: Some(lsn),
            xmin: None,
        }
    }

    fn table(&self, rel: u32) -> Result<Option<Arc<TableSchema>>, Failure> {
        match self.relations.get(&rel) {
            Some(Rel::Captured(t)) => Ok(Some(Arc::clone(t))),
            Some(Rel::Ignored) => Ok(None),
            None => Err(Failure::Fatal(ConnectorError::fatal(format!(
                "the replication stream sent a change of relation {rel} before describing it"
            )))),
        }
    }

    /// A Relation message: (re)builds the table's schema, so a changed table produces events
    /// under its new schema without a restart.
    async fn relation(&mut self, r: Relation) -> Result<(), Failure> {
        let id = TableId {
            schema: if r.namespace.is_empty() {
                "pg_catalog".to_string()
            } else {
                r.namespace.clone()
            },
            table: r.name.clone(),
        };
        if !self.config.captures(&id.schema, &id.table) {
            self.relations.insert(r.oid, Rel::Ignored);
            return Ok(());
        }
        let catalog = catalog::table_columns(&mut self.catalog, &id)
            .await
            .map_err(Failure::from_connector)?;
        if r.columns
            .iter()
            .any(|c| self.types.get(c.type_oid).is_none())
        {
            self.types = super::load_types(&mut self.catalog)
                .await
                .map_err(Failure::from_connector)?;
        }
        let columns: Vec<ColumnInfo> = r
            .columns
            .iter()
            .map(|c| {
                let known = catalog.iter().find(|k| k.info.name == c.name);
                ColumnInfo {
                    name: c.name.clone(),
                    type_oid: c.type_oid,
                    type_modifier: c.type_modifier,
                    optional: known.is_none_or(|k| k.info.optional),
                    primary_key: known.is_some_and(|k| k.info.primary_key),
                    key_seq: known.map_or(0, |k| k.info.key_seq),
                    default_expr: known.and_then(|k| k.info.default_expr.clone()),
                }
            })
            .collect();
        let schema = super::build_table(&self.shared, &self.config, id, columns, &self.types)
            .map_err(Failure::Fatal)?;
        self.relations
            .insert(r.oid, Rel::Captured(Arc::new(schema)));
        Ok(())
    }
}

/// Converts one tuple; unchanged TOAST values come from the old full row when there is one.
fn row(
    table: &TableSchema,
    values: &[TupleValue],
    old_full: Option<&[TupleValue]>,
) -> Result<Struct, Failure> {
    let mut cols = Vec::with_capacity(values.len());
    for (i, v) in values.iter().enumerate() {
        let c = match v {
            TupleValue::Null => ColumnValue::Null,
            TupleValue::Unchanged => match old_full.and_then(|o| o.get(i)) {
                Some(TupleValue::Text(b)) => ColumnValue::Text(utf8(table, b)?),
                _ => ColumnValue::Unchanged,
            },
            TupleValue::Text(b) => ColumnValue::Text(utf8(table, b)?),
            TupleValue::Binary(_) => {
                return Err(Failure::Fatal(ConnectorError::fatal(format!(
                    "{} sent a binary column value; weir asks pgoutput for text values",
                    table.id()
                ))));
            }
        };
        cols.push(c);
    }
    table.row(&cols).map_err(|e| {
        Failure::Fatal(ConnectorError::Data(weir_connect_api::DataError::new(
            format!("cannot convert a row of {}: {e}", table.id()),
        )))
    })
}

fn utf8<'a>(table: &TableSchema, b: &'a [u8]) -> Result<&'a str, Failure> {
    std::str::from_utf8(b).map_err(|_| {
        Failure::Fatal(ConnectorError::fatal(format!(
            "{} sent a value that is not UTF-8 (the database encoding must be UTF8)",
            table.id()
        )))
    })
}

/// Why streaming stopped.
#[derive(Debug)]
pub enum Failure {
    /// The task is stopping.
    Stopping,
    /// A database error: retried when transient.
    Db(ConnectorError),
    Fatal(ConnectorError),
}

impl Failure {
    pub fn from_connector(e: ConnectorError) -> Self {
        if e.is_retriable() {
            Failure::Db(e)
        } else {
            Failure::Fatal(e)
        }
    }

    pub fn db(what: &str, e: crate::wire::WireError) -> Self {
        Failure::from_connector(db_error(what, e))
    }
}
