//! Elasticsearch sink, compatible with Confluent's ElasticsearchSinkConnector
//! (`io.confluent.connect.elasticsearch.ElasticsearchSinkConnector`): the same indices,
//! document ids, versions and error rules over the `_bulk` API.
//!
//! Each `put` turns its records into bulk actions ([`docs`]), creates missing indices (with
//! a mapping from the value schema unless `schema.ignore`), and sends bulks of at most
//! `batch.size` records and `bulk.size.bytes`, `max.in.flight.requests` at a time. Every
//! item's result is classified ([`bulk`]): successes and deliberate ignores (version
//! conflicts under external versioning, deletes of missing documents) are done; malformed
//! documents follow `behavior.on.malformed.documents`; item-level 429 and 5xx are sent again
//! (only those items) with backoff. `put` returns only when every item is settled, so the
//! offsets the worker then commits never pass a document Elasticsearch has not taken. A
//! batch that still has retriable items after `max.retries` is redelivered by the worker:
//! ids and external versions make the replay idempotent.

pub mod bulk;
pub mod client;
pub mod config;
pub mod docs;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::task::JoinSet;
use weir_connect_api::connector::BoxFuture;
use weir_connect_api::error::RecordFailure;
use weir_connect_api::{
    ConfigMap, ConnectRecord, ConnectorError, ConnectorType, Converter, DataError, Result,
    SharedConfigConnector, SinkTask, SinkTaskContext, TopicPartition,
};

use crate::bulk::{Item, settle};
use crate::client::{Client, backoff};
use crate::config::{Malformed, Settings};
use crate::docs::Action;

/// The connector API version this crate was built against.
pub const API_VERSION: &str = weir_connect_api::API_VERSION;
/// Confluent's class name.
pub const CONNECTOR_CLASS: &str = "io.confluent.connect.elasticsearch.ElasticsearchSinkConnector";
const JSON_CONVERTER: &str = "org.apache.kafka.connect.json.JsonConverter";

/// The connector: checks the config and hands every task the same one.
pub fn connector() -> SharedConfigConnector {
    SharedConfigConnector::new(ConnectorType::Sink, config::config_def, |config| {
        Settings::parse(config).err().unwrap_or_default()
    })
}

#[derive(Default)]
pub struct ElasticsearchSinkTask {
    context: Option<Box<dyn SinkTaskContext>>,
    started: Option<Started>,
    /// Indices known to exist.
    indices: BTreeSet<String>,
}

/// What `start` sets up.
struct Started {
    settings: Arc<Settings>,
    json: Box<dyn Converter>,
    client: Arc<Client>,
}

impl ElasticsearchSinkTask {
    async fn put_records(&mut self, records: Vec<ConnectRecord>) -> Result<()> {
        if records.is_empty() {
            return Ok(());
        }
        let Some(started) = &self.started else {
            return Err(ConnectorError::fatal(
                "the Elasticsearch sink task was not started",
            ));
        };
        let (settings, json, client) = (
            Arc::clone(&started.settings),
            started.json.as_ref(),
            Arc::clone(&started.client),
        );
        let mut failures = Vec::new();
        let mut actions: Vec<(usize, Action)> = Vec::with_capacity(records.len());
        let mut mappings: BTreeMap<String, Option<serde_json::Value>> = BTreeMap::new();
        for (index, record) in records.iter().enumerate() {
            let built = docs::action(&settings, record, |r| document(&settings, json, r));
            match built {
                Ok(Some(action)) => {
                    if settings.data_stream.is_none() && !self.indices.contains(action.index()) {
                        let mapping = if settings.ignores_schema(&record.topic) {
                            None
                        } else {
                            docs::document_schema(record).and_then(docs::mapping)
                        };
                        mappings
                            .entry(action.index().to_string())
                            .or_insert(mapping);
                    }
                    actions.push((index, action));
                }
                Ok(None) => {}
                Err(e) if settings.drop_invalid_message => {
                    tracing::warn!(topic = %record.topic, offset = record.kafka_offset, error = %e,
                        "dropping a record that cannot be converted (drop.invalid.message)");
                }
                Err(e) => failures.push(failure(index, &e.to_string())),
            }
        }
        for (index, mapping) in mappings {
            client.ensure_index(&index, mapping).await?;
            self.indices.insert(index);
        }
        let outcomes = send_all(&settings, &client, actions).await?;
        for (index, outcome) in outcomes {
            match outcome {
                Item::Malformed(reason) => match settings.malformed {
                    Malformed::Ignore => {}
                    Malformed::Warn => tracing::warn!(
                        topic = %records[index].topic, offset = records[index].kafka_offset,
                        reason, "Elasticsearch refused a malformed document; ignoring it (behavior.on.malformed.documents=warn)"),
                    Malformed::Fail => failures.push(failure(
                        index,
                        &format!("Elasticsearch refused the document as malformed (behavior.on.malformed.documents=fail): {reason}"),
                    )),
                },
                Item::Failed(reason) => failures.push(failure(index, &reason)),
                Item::Done | Item::Retry(_) => {}
            }
        }
        if failures.is_empty() {
            Ok(())
        } else {
            failures.sort_by_key(|f| f.index);
            Err(ConnectorError::RecordsFailed(failures))
        }
    }
}

fn failure(index: usize, reason: &str) -> RecordFailure {
    RecordFailure {
        index,
        reason: reason.to_string(),
        retriable: false,
    }
}

/// The value as a JSON document: the worker's JsonConverter without schemas, decimals as
/// numbers. Without `schema.ignore`, a record must carry a schema (Confluent's rule).
fn document(
    settings: &Settings,
    json: &dyn Converter,
    record: &ConnectRecord,
) -> std::result::Result<Vec<u8>, DataError> {
    if record.value_schema.is_none() && !settings.ignores_schema(&record.topic) {
        return Err(DataError::new(format!(
            "Cannot create mapping when schema is null: the record of {} at offset {} has no value schema (set schema.ignore=true for schemaless JSON)",
            record.topic,
            record.kafka_offset.unwrap_or_default()
        )));
    }
    let bytes = json
        .to_bytes(&record.topic, record.value_schema.as_ref(), &record.value)
        .map_err(|e| DataError::new(format!("cannot convert the value to JSON: {e}")))?;
    Ok(bytes.map_or_else(|| b"null".to_vec(), |b| b.to_vec()))
}

/// Sends every action in bulks, `max.in.flight.requests` at once; items Elasticsearch asks
/// to retry go again (alone) with backoff. Returns each record's final outcome.
async fn send_all(
    settings: &Arc<Settings>,
    client: &Arc<Client>,
    actions: Vec<(usize, Action)>,
) -> Result<Vec<(usize, Item)>> {
    let mut pending = actions;
    let mut settled = Vec::with_capacity(pending.len());
    let mut attempt = 0;
    while !pending.is_empty() {
        let mut set = JoinSet::new();
        let mut chunks = chunk(pending, settings.batch_size, settings.bulk_size_bytes).into_iter();
        let mut retry = Vec::new();
        let mut next = || chunks.next();
        let mut in_flight = 0;
        loop {
            while in_flight < settings.max_in_flight.max(1) {
                let Some(batch) = next() else { break };
                let client = Arc::clone(client);
                set.spawn(async move {
                    let mut body = Vec::new();
                    for (_, action) in &batch {
                        action.write_to(&mut body);
                    }
                    let answer = client.bulk(body).await;
                    (batch, answer)
                });
                in_flight += 1;
            }
            let Some(joined) = set.join_next().await else {
                break;
            };
            in_flight -= 1;
            let (batch, answer) = joined
                .map_err(|e| ConnectorError::fatal(format!("a bulk request task failed: {e}")))?;
            let answer = answer?;
            let items = settle(&answer);
            if items.len() != batch.len() {
                return Err(ConnectorError::retriable(format!(
                    "Elasticsearch answered a bulk of {} documents with {} items",
                    batch.len(),
                    items.len()
                )));
            }
            for ((index, action), item) in batch.into_iter().zip(items) {
                match item {
                    Item::Retry(reason) => retry.push((index, action, reason)),
                    other => settled.push((index, other)),
                }
            }
        }
        if retry.is_empty() {
            break;
        }
        if attempt >= settings.max_retries {
            let (_, _, reason) = &retry[0];
            return Err(ConnectorError::retriable(format!(
                "{} documents were still refused after {} attempts (the batch is redelivered): {reason}",
                retry.len(),
                attempt + 1
            )));
        }
        let wait = backoff(settings.retry_backoff, attempt);
        tracing::warn!(
            items = retry.len(),
            ?wait,
            "Elasticsearch asked to retry some documents"
        );
        tokio::time::sleep(wait).await;
        attempt += 1;
        pending = retry.into_iter().map(|(i, a, _)| (i, a)).collect();
    }
    Ok(settled)
}

/// Splits actions into bulks of at most `size` actions and about `bytes` bytes.
fn chunk(actions: Vec<(usize, Action)>, size: usize, bytes: usize) -> Vec<Vec<(usize, Action)>> {
    let mut out = Vec::new();
    let mut current = Vec::new();
    let mut current_bytes = 0usize;
    for (i, action) in actions {
        let n = action.approximate_len();
        if !current.is_empty()
            && (current.len() >= size.max(1) || current_bytes.saturating_add(n) > bytes)
        {
            out.push(std::mem::take(&mut current));
            current_bytes = 0;
        }
        current_bytes = current_bytes.saturating_add(n);
        current.push((i, action));
    }
    if !current.is_empty() {
        out.push(current);
    }
    out
}

impl SinkTask for ElasticsearchSinkTask {
    fn initialize(&mut self, context: Box<dyn SinkTaskContext>) {
        self.context = Some(context);
    }

    fn start(&mut self, config: &ConfigMap) -> Result<()> {
        let settings = Settings::parse(config).map_err(ConnectorError::Config)?;
        let context = self.context.as_ref().ok_or_else(|| {
            ConnectorError::fatal(
                "the Elasticsearch sink task needs the worker's context (initialize)",
            )
        })?;
        let mut converter_config = ConfigMap::new();
        converter_config.insert("schemas.enable".into(), "false".into());
        converter_config.insert("decimal.format".into(), "NUMERIC".into());
        let json = context.converter(JSON_CONVERTER, &converter_config, false)?;
        self.started = Some(Started {
            client: Arc::new(Client::new(&settings)?),
            json,
            settings: Arc::new(settings),
        });
        Ok(())
    }

    fn put(&mut self, records: Vec<ConnectRecord>) -> BoxFuture<'_, Result<()>> {
        Box::pin(self.put_records(records))
    }

    /// Every record is settled before `put` returns; nothing is left to flush.
    fn flush(&mut self, _offsets: &BTreeMap<TopicPartition, i64>) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }

    fn stop(&mut self) -> Result<()> {
        self.started = None;
        Ok(())
    }
}
