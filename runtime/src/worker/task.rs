//! What source and sink task loops share: the control signal from the herder, status
//! reporting, converters built from worker + connector config, and header conversion.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::watch;
use weir_connect_api::{ConfigMap, Converter, Header, Headers, Value};

use super::errors::{ErrorConfig, ErrorHandler};
use super::internal::{self, Status};
use super::metrics::TaskMetrics;
use super::settings::WorkerSettings;
use super::store::Stores;
use crate::converters;
use crate::log::Log;
use crate::transforms::TransformChain;

/// What the herder wants a task to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Control {
    Run,
    Pause,
    Stop,
}

/// Runtime states as the REST API and `connect-status` name them.
pub mod state {
    pub const UNASSIGNED: &str = "UNASSIGNED";
    pub const RUNNING: &str = "RUNNING";
    pub const PAUSED: &str = "PAUSED";
    pub const FAILED: &str = "FAILED";
    pub const RESTARTING: &str = "RESTARTING";
    pub const STOPPED: &str = "STOPPED";

    /// The constant for a state name read from `connect-status` (unknown: UNASSIGNED).
    pub fn named(name: &str) -> &'static str {
        [UNASSIGNED, RUNNING, PAUSED, FAILED, RESTARTING, STOPPED]
            .into_iter()
            .find(|s| *s == name)
            .unwrap_or(UNASSIGNED)
    }
}

/// A connector's or task's current state and failure trace, as last reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceState {
    pub state: &'static str,
    pub trace: Option<String>,
}

/// Which instance a status belongs to: the connector (`None`) or one task.
pub type InstanceKey = (String, Option<u32>);

/// Every instance's state, shared by the herder and the task loops. Each change is also
/// written to `connect-status`, by the board's writer task ([`StatusBoard::run_writer`]):
/// `set` never waits for the log, and a burst of changes to one instance writes its latest
/// state (the pending writes are bounded by the number of instances).
pub struct StatusBoard {
    states: Mutex<BTreeMap<InstanceKey, InstanceState>>,
    /// Distributed mode: what `connect-status` says of every instance (those of the other
    /// workers included), as read by the status tailer.
    remote: Mutex<BTreeMap<InstanceKey, Status>>,
    /// The group generation this worker's statuses are written in (1 outside a group).
    generation: std::sync::atomic::AtomicI32,
    /// Status records not written yet: key -> status (`None`: a tombstone).
    pending: Mutex<BTreeMap<String, Option<Status>>>,
    wake: tokio::sync::Notify,
    stores: Arc<Stores>,
    worker_id: String,
}

impl StatusBoard {
    pub fn new(stores: Arc<Stores>, worker_id: String) -> Self {
        Self {
            states: Mutex::new(BTreeMap::new()),
            remote: Mutex::new(BTreeMap::new()),
            generation: std::sync::atomic::AtomicI32::new(1),
            pending: Mutex::new(BTreeMap::new()),
            wake: tokio::sync::Notify::new(),
            stores,
            worker_id,
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    fn queue(&self, key: String, status: Option<Status>) {
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(key, status);
        self.wake.notify_one();
    }

    /// Writes queued statuses until `shutdown`, then what is still queued. A failed write
    /// is logged and tried again (statuses are rebuilt when a worker starts, so the status
    /// topic is informational).
    pub async fn run_writer(self: Arc<Self>, mut shutdown: watch::Receiver<bool>) {
        loop {
            let stopping = *shutdown.borrow();
            self.write_pending().await;
            if stopping {
                return;
            }
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = shutdown.changed() => {}
            }
        }
    }

    /// Writes every queued status now.
    pub async fn write_pending(&self) {
        let batch = std::mem::take(&mut *self.pending.lock().unwrap_or_else(|p| p.into_inner()));
        for (key, status) in batch {
            let written = match &status {
                Some(s) => self.stores.put_status(key.clone(), s).await,
                None => self.stores.delete_status(key.clone()).await,
            };
            if let Err(e) = written {
                tracing::warn!(key = %key, error = %e, "cannot record a status in the status topic");
                // Unless a newer state was queued meanwhile, keep it for the next round.
                self.pending
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .entry(key)
                    .or_insert(status);
            }
        }
    }

    /// Records a state (and queues its `connect-status` record).
    pub fn set(
        &self,
        connector: &str,
        task: Option<u32>,
        state: &'static str,
        trace: Option<String>,
    ) {
        let key = match task {
            None => internal::connector_status_key(connector),
            Some(t) => internal::task_status_key(connector, t),
        };
        let status = Status {
            state: state.to_string(),
            trace: trace.clone(),
            worker_id: self.worker_id.clone(),
            generation: self.generation(),
        };
        self.lock().insert(
            (connector.to_string(), task),
            InstanceState { state, trace },
        );
        self.queue(key, Some(status));
    }

    pub fn generation(&self) -> i32 {
        self.generation.load(std::sync::atomic::Ordering::Relaxed)
    }

    pub fn set_generation(&self, generation: i32) {
        self.generation
            .store(generation, std::sync::atomic::Ordering::Relaxed);
    }

    /// Takes in records read from `connect-status`: a status replaces the one known unless
    /// it comes from an older generation (a worker that stopped an instance after another
    /// one started it); a tombstone removes it.
    pub fn merge_remote(&self, records: Vec<(String, Option<Status>)>) {
        let mut remote = self.remote.lock().unwrap_or_else(|p| p.into_inner());
        for (key, status) in records {
            let Some(instance) = internal::parse_status_key(&key) else {
                continue;
            };
            match status {
                None => {
                    remote.remove(&instance);
                }
                Some(s) => {
                    let stale = remote.get(&instance).is_some_and(|old| {
                        old.generation > s.generation && old.worker_id != s.worker_id
                    });
                    if !stale {
                        remote.insert(instance, s);
                    }
                }
            }
        }
    }

    /// What `connect-status` last said of an instance.
    pub fn remote(&self, connector: &str, task: Option<u32>) -> Option<Status> {
        self.remote
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&(connector.to_string(), task))
            .cloned()
    }

    /// Forgets the local state of an instance this worker no longer runs.
    pub fn forget(&self, connector: &str, task: Option<u32>) {
        self.lock().remove(&(connector.to_string(), task));
    }

    pub fn get(&self, connector: &str, task: Option<u32>) -> Option<InstanceState> {
        self.lock().get(&(connector.to_string(), task)).cloned()
    }

    /// Forgets the task statuses of `connector` from task `from` on (and writes tombstones).
    pub fn remove_tasks(&self, connector: &str, from: u32) {
        let gone: Vec<u32> = self
            .lock()
            .keys()
            .filter(|(c, t)| c == connector && t.is_some_and(|t| t >= from))
            .filter_map(|(_, t)| *t)
            .collect();
        for t in gone {
            self.lock().remove(&(connector.to_string(), Some(t)));
            self.queue(internal::task_status_key(connector, t), None);
        }
    }

    /// Writes tombstones for the connector's status and those of its first `tasks` tasks,
    /// whoever ran them (a deleted connector's instances may run nowhere any more).
    pub fn tombstone_all(&self, connector: &str, tasks: u32) {
        self.queue(internal::connector_status_key(connector), None);
        for t in 0..tasks {
            self.queue(internal::task_status_key(connector, t), None);
        }
    }

    /// Forgets every status of `connector`.
    pub fn remove_connector(&self, connector: &str) {
        self.remove_tasks(connector, 0);
        self.lock().remove(&(connector.to_string(), None));
        self.queue(internal::connector_status_key(connector), None);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<InstanceKey, InstanceState>> {
        self.states.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Everything a task loop needs from the worker.
#[derive(Clone)]
pub struct TaskEnv {
    pub connector: String,
    pub task: u32,
    /// How many tasks the connector runs (a sink splits partitions among them).
    pub task_count: u32,
    /// The connector's config with placeholders resolved.
    pub connector_config: ConfigMap,
    /// The task's own config (resolved).
    pub task_config: ConfigMap,
    pub log: Log,
    pub stores: Arc<Stores>,
    pub board: Arc<StatusBoard>,
    pub metrics: Arc<TaskMetrics>,
    pub settings: Arc<WorkerSettings>,
    /// Topics the connector used (`GET /connectors/x/topics`).
    pub topics: Arc<Mutex<BTreeSet<String>>>,
    pub control: watch::Receiver<Control>,
    /// The worker is shutting down (cuts retries short).
    pub shutdown: watch::Receiver<bool>,
}

impl TaskEnv {
    pub fn report(&self, state: &'static str, trace: Option<String>) {
        self.board
            .set(&self.connector, Some(self.task), state, trace);
    }

    pub fn note_topic(&self, topic: &str) {
        let mut topics = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        if !topics.contains(topic) {
            topics.insert(topic.to_string());
        }
    }

    /// While paused, waits until the control changes or an offset commit is due; `false`
    /// once no longer paused (reporting RUNNING when resumed).
    pub async fn still_paused(&self, control: &mut watch::Receiver<Control>) -> bool {
        if *control.borrow_and_update() == Control::Pause {
            wait_control(control, self.settings.offset_flush_interval).await;
            if *control.borrow() == Control::Pause {
                return true;
            }
        }
        if *control.borrow() == Control::Run {
            self.report(state::RUNNING, None);
        }
        false
    }

    /// The current control value.
    pub fn control(&self) -> Control {
        *self.control.borrow()
    }
}

/// What every record of a task goes through besides the task itself: the converters, the
/// transform chain and the error handler, built from the connector's config.
pub struct Pipeline {
    pub converters: Converters,
    pub chain: TransformChain,
    pub errors: ErrorHandler,
}

impl Pipeline {
    pub fn from_env(env: &TaskEnv) -> Result<Self, String> {
        let config = &env.connector_config;
        let converters = Converters::from_config(config, &env.settings.converter_props)?;
        let chain =
            TransformChain::from_config(config).map_err(|es| join_errors("transforms", &es))?;
        let error_config =
            ErrorConfig::from_config(config).map_err(|es| join_errors("error handling", &es))?;
        let errors = ErrorHandler::new(
            error_config,
            &env.connector,
            env.task,
            env.log.clone(),
            Arc::clone(&env.metrics),
            env.settings.default_partitions,
        );
        Ok(Self {
            converters,
            chain,
            errors,
        })
    }
}

fn join_errors(what: &str, errors: &[weir_connect_api::config::ConfigError]) -> String {
    let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
    format!("invalid {what} config: {}", lines.join("; "))
}

/// A configured converter and its class name (for error reports).
pub struct NamedConverter {
    pub class: String,
    pub converter: Box<dyn Converter>,
}

/// The key and value converters of a connector: its own `key.converter` /
/// `value.converter` (with their prefixed sub-configs) or else the worker's.
pub struct Converters {
    pub key: NamedConverter,
    pub value: NamedConverter,
}

impl Converters {
    pub fn from_config(connector: &ConfigMap, worker: &ConfigMap) -> Result<Self, String> {
        Ok(Self {
            key: converter("key.converter", true, connector, worker)?,
            value: converter("value.converter", false, connector, worker)?,
        })
    }
}

fn converter(
    key: &str,
    is_key: bool,
    connector: &ConfigMap,
    worker: &ConfigMap,
) -> Result<NamedConverter, String> {
    // A connector that names its own converter configures it alone, as Kafka Connect does.
    let source = if connector.contains_key(key) {
        connector
    } else {
        worker
    };
    let class = source
        .get(key)
        .ok_or_else(|| format!("{key} is not set in the connector or the worker config"))?;
    let mut converter = converters::converter_for(class).ok_or_else(|| {
        format!(
            "{key}={class}: unknown converter; known: {}",
            converters::CONVERTER_CLASSES.join(", ")
        )
    })?;
    let prefix = format!("{key}.");
    let sub: ConfigMap = source
        .iter()
        .filter_map(|(k, v)| Some((k.strip_prefix(&prefix)?.to_string(), v.clone())))
        .collect();
    converter
        .configure(&sub, is_key)
        .map_err(|e| format!("{key}={class}: {e}"))?;
    Ok(NamedConverter {
        class: class.clone(),
        converter,
    })
}

/// A header value as bytes, as Kafka's `SimpleHeaderConverter` writes it.
pub fn header_bytes(header: &Header) -> Option<Bytes> {
    crate::converters::header::header_bytes(header.schema.as_deref(), &header.value)
}

/// Record headers from the log: UTF-8 values become strings, others stay bytes.
pub fn connect_headers(raw: &[(String, Option<Bytes>)]) -> Headers {
    let mut headers = Headers::default();
    for (k, v) in raw {
        let value = match v {
            None => Value::Null,
            Some(b) => match std::str::from_utf8(b) {
                Ok(s) => Value::String(s.to_string()),
                Err(_) => Value::Bytes(b.clone()),
            },
        };
        headers.add(k.clone(), None, value);
    }
    headers
}

/// A failure's text for a status trace: the error and its causes, one per line.
pub fn trace_of(error: &(dyn std::error::Error + 'static)) -> String {
    let mut out = error.to_string();
    let mut source = error.source();
    while let Some(s) = source {
        out.push_str("\nCaused by: ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

/// Waits until the control value changes or `timeout` passes.
pub async fn wait_control(control: &mut watch::Receiver<Control>, timeout: std::time::Duration) {
    let _ = tokio::time::timeout(timeout, control.changed()).await;
}

/// Why a task loop ended before it was told to stop.
#[derive(Debug)]
pub enum Halt {
    /// The worker shut down while a record was being retried: the record was neither
    /// processed nor skipped, so nothing past it is committed.
    Interrupted,
    /// The task failed; the text is its status trace.
    Failed(String),
}

impl From<String> for Halt {
    fn from(trace: String) -> Self {
        Halt::Failed(trace)
    }
}

impl From<super::errors::TaskFailure> for Halt {
    fn from(f: super::errors::TaskFailure) -> Self {
        if f.is_interrupted() {
            Halt::Interrupted
        } else {
            Halt::Failed(f.to_string())
        }
    }
}
