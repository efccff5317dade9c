//! JDBC sink for PostgreSQL and MySQL/MariaDB, compatible with Confluent's
//! `io.confluent.connect.jdbc.JdbcSinkConnector` and Debezium's
//! `io.debezium.connector.jdbc.JdbcSinkConnector`: each class takes its own key names and
//! defaults ([`config`]), the URL picks the dialect ([`url`]).
//!
//! A `put` turns each record into a change ([`record`]: Debezium envelopes natively,
//! flattened records and tombstones alike), reduces the changes per table and key
//! ([`batch`]), creates or evolves tables when allowed ([`schema`]), and writes the whole
//! batch in one transaction as multi-row statements ([`db`], [`pg`], [`mysql`]). `put`
//! returns only once the transaction committed, so the offsets the worker commits never
//! pass an unwritten row. A statement refused for its data is found again record by record
//! under savepoints: the records at fault go to `errors.tolerance` / the dead-letter queue
//! with a sentence naming table, column and offset, the others commit. A lost connection
//! is retried with backoff (`max.retries`, `retry.backoff.ms`), then the task fails.

pub mod batch;
pub mod cell;
pub mod config;
pub mod db;
pub mod mysql;
pub mod pg;
pub mod record;
pub mod schema;
pub mod sql;
pub mod table;
pub mod target;
pub mod url;

use std::collections::{BTreeMap, HashMap};

use weir_connect_api::connector::BoxFuture;
use weir_connect_api::error::RecordFailure;
use weir_connect_api::{
    ConfigMap, ConnectRecord, ConnectorError, ConnectorType, Result, SharedConfigConnector,
    SinkTask, TopicPartition,
};

use crate::config::{Flavor, Settings};
use crate::db::{DbError, TableInfo};
use crate::sql::Sql;
use crate::table::TableId;
use crate::target::Target;

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
/// Confluent's class name.
pub const CONFLUENT_CLASS: &str = "io.confluent.connect.jdbc.JdbcSinkConnector";
/// Debezium's class name.
pub const DEBEZIUM_CLASS: &str = "io.debezium.connector.jdbc.JdbcSinkConnector";

/// Confluent's class: checks the config and hands every task the same one.
pub fn confluent_connector() -> SharedConfigConnector {
    SharedConfigConnector::new(ConnectorType::Sink, config::confluent_def, |config| {
        Settings::parse(Flavor::Confluent, config)
            .err()
            .unwrap_or_default()
    })
}

/// Debezium's class: checks the config and hands every task the same one.
pub fn debezium_connector() -> SharedConfigConnector {
    SharedConfigConnector::new(ConnectorType::Sink, config::debezium_def, |config| {
        Settings::parse(Flavor::Debezium, config)
            .err()
            .unwrap_or_default()
    })
}

/// The task: writes each `put` in one transaction.
pub struct JdbcSinkTask {
    flavor: Flavor,
    settings: Option<Settings>,
    target: Option<Target>,
    /// Tables as last described.
    tables: HashMap<TableId, TableInfo>,
}

impl JdbcSinkTask {
    pub fn confluent() -> Self {
        Self::new(Flavor::Confluent)
    }
    pub fn debezium() -> Self {
        Self::new(Flavor::Debezium)
    }
    fn new(flavor: Flavor) -> Self {
        Self {
            flavor,
            settings: None,
            target: None,
            tables: HashMap::new(),
        }
    }

    async fn put_records(&mut self, records: Vec<ConnectRecord>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let Some(settings) = self.settings.clone() else {
            return Err(ConnectorError::fatal("the JDBC sink task was not started"));
        };
        let mut attempt = 0u32;
        loop {
            match self.write(&settings, &records).await {
                Ok(failures) if failures.is_empty() => return Ok(()),
                Ok(failures) => return Err(ConnectorError::RecordsFailed(failures)),
                Err(DbError::Fatal(message)) => return Err(ConnectorError::fatal(message)),
                Err(DbError::Data(message)) => {
                    // A refusal no single record explains (a DDL statement, say).
                    return Err(ConnectorError::fatal(message));
                }
                Err(DbError::Transient(message)) => {
                    self.target = None;
                    self.tables.clear();
                    if attempt >= settings.max_retries {
                        return Err(ConnectorError::fatal(format!(
                            "writing to {} failed after {} attempts: {message}",
                            settings.url.display(),
                            attempt + 1
                        )));
                    }
                    attempt += 1;
                    tracing::warn!(target = %settings.url.display(), attempt, error = %message,
                        backoff = ?settings.retry_backoff, "JDBC write failed; retrying");
                    tokio::time::sleep(settings.retry_backoff).await;
                }
            }
        }
    }

    /// One attempt at the whole batch: the records that failed for their own reasons, or
    /// why the attempt failed as a whole.
    async fn write(
        &mut self,
        settings: &Settings,
        records: &[ConnectRecord],
    ) -> std::result::Result<Vec<RecordFailure>, DbError> {
        let sql = Sql {
            dialect: settings.url.dialect,
            quote: settings.quote_identifiers,
        };
        let mut failed: Vec<(usize, String)> = Vec::new();
        let mut changes = Vec::with_capacity(records.len());
        for (i, r) in records.iter().enumerate() {
            match record::change(settings, r) {
                Ok(change) => changes.push((i, change)),
                Err(reason) => failed.push((i, reason)),
            }
        }
        let plans = batch::plan(changes);
        let target = Target::connected(&mut self.target, settings).await?;
        let resolved =
            schema::resolve(target, settings, &sql, &mut self.tables, plans, &mut failed).await?;
        let works = db::works(&sql, settings.insert_mode, &resolved, false);
        match target.apply(&sql, settings, &works, false).await {
            Ok(_) => {}
            Err(DbError::Data(reason)) => {
                tracing::warn!(error = %reason,
                    "a batch was refused; writing it record by record to find the records at fault");
                // The table may have changed under us (a column dropped): describe it again
                // for the next batch.
                self.tables.clear();
                let works = db::works(&sql, settings.insert_mode, &resolved, true);
                for (indices, reason) in target.apply(&sql, settings, &works, true).await? {
                    if let Some(last) = indices.iter().max() {
                        failed.push((*last, reason));
                    }
                }
            }
            Err(e) => return Err(e),
        }
        failed.sort_by_key(|(i, _)| *i);
        failed.dedup_by_key(|(i, _)| *i);
        Ok(failed
            .into_iter()
            .map(|(index, reason)| RecordFailure {
                reason: at(&records[index], &reason),
                index,
                retriable: false,
            })
            .collect())
    }
}

/// `reason` with the record's coordinates.
fn at(record: &ConnectRecord, reason: &str) -> String {
    format!(
        "{reason} (record at topic {}, partition {}, offset {})",
        record.topic,
        record.kafka_partition.unwrap_or_default(),
        record.kafka_offset.unwrap_or_default()
    )
}

impl SinkTask for JdbcSinkTask {
    fn start(&mut self, config: &ConfigMap) -> Result<()> {
        let settings = Settings::parse(self.flavor, config).map_err(ConnectorError::Config)?;
        tracing::info!(target = %settings.url.display(), "JDBC sink task started");
        self.settings = Some(settings);
        Ok(())
    }

    fn put(&mut self, records: Vec<ConnectRecord>) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.put_records(records))
    }

    /// Every batch is committed before `put` returns; nothing is left to flush.
    fn flush(&mut self, _offsets: &BTreeMap<TopicPartition, i64>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn stop(&mut self) -> Result<()> {
        self.target = None;
        self.settings = None;
        Ok(())
    }
}
