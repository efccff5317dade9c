//! The plugin traits: connectors split work into task configs; tasks move the records.
//!
//! Methods that wait on the outside world are async and return a boxed future so the worker
//! can hold any task as `Box<dyn SourceTask>` / `Box<dyn SinkTask>`. A task runs on its own
//! named tokio task; `stop` is called between calls, never during one, so a sink always gets
//! its final `flush` before its offsets are committed.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;

use crate::config::{ConfigDef, ConfigMap};
use crate::error::Result;
use crate::record::{ConnectRecord, RecordMetadata, TopicPartition};

/// A boxed future that can move between threads.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Source or sink, as the REST API reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorType {
    Source,
    Sink,
}

impl ConnectorType {
    pub fn name(self) -> &'static str {
        match self {
            ConnectorType::Source => "source",
            ConnectorType::Sink => "sink",
        }
    }
}

/// A connector: validates its config and splits the work into at most `max_tasks` task
/// configs. It does no data movement itself.
pub trait Connector: Send {
    fn version(&self) -> &str;
    fn kind(&self) -> ConnectorType;
    /// Every key the connector accepts (the worker adds its own framework keys).
    fn config_def(&self) -> ConfigDef;
    /// The problems of `config` beyond its keys' types, each naming its key (Kafka's
    /// `Connector.validate`): what `start` would refuse. `PUT .../config/validate` and
    /// `POST /connectors` report them. By default none.
    fn validate(&self, _config: &ConfigMap) -> Vec<crate::config::ConfigError> {
        Vec::new()
    }
    /// Starts the connector with its full config (already validated against `config_def`).
    fn start(&mut self, config: &ConfigMap) -> Result<()>;
    /// Configs for up to `max_tasks` tasks.
    fn task_configs(&self, max_tasks: usize) -> Result<Vec<ConfigMap>>;
    fn stop(&mut self) -> Result<()>;
}

/// A connector whose whole job is to check its config and give every task the same copy,
/// as Kafka's sinks do in `taskConfigs`: `check` returns every problem of a config, each
/// naming its key (used by both `validate` and `start`).
#[derive(Debug, Clone)]
pub struct SharedConfigConnector {
    kind: ConnectorType,
    def: fn() -> ConfigDef,
    check: fn(&ConfigMap) -> Vec<crate::config::ConfigError>,
    config: ConfigMap,
}

impl SharedConfigConnector {
    pub fn new(
        kind: ConnectorType,
        def: fn() -> ConfigDef,
        check: fn(&ConfigMap) -> Vec<crate::config::ConfigError>,
    ) -> Self {
        Self {
            kind,
            def,
            check,
            config: ConfigMap::new(),
        }
    }
}

impl Connector for SharedConfigConnector {
    fn version(&self) -> &str {
        crate::API_VERSION
    }
    fn kind(&self) -> ConnectorType {
        self.kind
    }
    fn config_def(&self) -> ConfigDef {
        (self.def)()
    }
    fn validate(&self, config: &ConfigMap) -> Vec<crate::config::ConfigError> {
        (self.check)(config)
    }
    fn start(&mut self, config: &ConfigMap) -> Result<()> {
        let problems = (self.check)(config);
        if !problems.is_empty() {
            return Err(crate::error::ConnectorError::Config(problems));
        }
        self.config = config.clone();
        Ok(())
    }
    fn task_configs(&self, max_tasks: usize) -> Result<Vec<ConfigMap>> {
        Ok(vec![self.config.clone(); max_tasks.max(1)])
    }
    fn stop(&mut self) -> Result<()> {
        Ok(())
    }
}

/// What a source task can ask of the worker.
pub trait SourceTaskContext: Send + Sync {
    /// The last committed offset of a source partition (`connect-offsets`).
    fn committed_offset(
        &self,
        partition: &crate::record::SourceMap,
    ) -> Option<crate::record::SourceMap>;
}

/// Reads from an external system and returns records with their source positions.
pub trait SourceTask: Send {
    fn start(&mut self, config: &ConfigMap, context: Box<dyn SourceTaskContext>) -> Result<()>;
    /// The next records; an empty batch when there is nothing new (the task should then wait
    /// a little inside `poll`, not spin).
    fn poll(&mut self) -> BoxFuture<'_, Result<Vec<ConnectRecord>>>;
    /// Called after the worker committed the offsets of every record polled so far.
    fn commit(&mut self) -> BoxFuture<'_, Result<()>> {
        Box::pin(async { Ok(()) })
    }
    /// Called after the worker committed offsets: `offsets` holds, per source partition, the
    /// newest offset now durable in `connect-offsets`, every record up to it durable in the
    /// log. A source that acknowledges upstream (a replication slot) acknowledges only these.
    /// By default calls [`SourceTask::commit`].
    fn commit_offsets(
        &mut self,
        _offsets: &[crate::record::SourcePosition],
    ) -> BoxFuture<'_, Result<()>> {
        self.commit()
    }
    /// Called once a record is durable in the log.
    fn commit_record(&mut self, _record: &ConnectRecord, _metadata: RecordMetadata) {}
    fn stop(&mut self) -> Result<()>;
}

/// What a sink task can ask of the worker (Kafka's `SinkTaskContext`).
pub trait SinkTaskContext: Send + Sync {
    /// A converter from the worker's registry (a class name as `value.converter` takes it),
    /// configured with `config`: storage sinks write records with the worker's converters,
    /// as Confluent's JsonFormat writes with Kafka's JsonConverter.
    fn converter(
        &self,
        class: &str,
        config: &ConfigMap,
        is_key: bool,
    ) -> Result<Box<dyn crate::converter::Converter>>;
}

/// Writes records to an external system.
pub trait SinkTask: Send {
    /// Called once before `start` (Kafka's `initialize`).
    fn initialize(&mut self, _context: Box<dyn SinkTaskContext>) {}
    fn start(&mut self, config: &ConfigMap) -> Result<()>;
    /// Partitions assigned to this task (after a rebalance or at start).
    fn open(&mut self, _partitions: &[TopicPartition]) -> Result<()> {
        Ok(())
    }
    fn close(&mut self, _partitions: &[TopicPartition]) -> Result<()> {
        Ok(())
    }
    /// Delivers a batch; may buffer it until `flush`.
    fn put(&mut self, records: Vec<ConnectRecord>) -> BoxFuture<'_, Result<()>>;
    /// Makes everything `put` so far durable, up to `offsets` (next offset per partition).
    fn flush(&mut self, offsets: &BTreeMap<TopicPartition, i64>) -> BoxFuture<'_, Result<()>>;
    /// The offsets safe to commit; by default those just flushed.
    fn pre_commit(
        &mut self,
        offsets: &BTreeMap<TopicPartition, i64>,
    ) -> BTreeMap<TopicPartition, i64> {
        offsets.clone()
    }
    fn stop(&mut self) -> Result<()>;
}
