//! The worker's public face (Kafka Connect calls it the herder): every REST operation on
//! connectors, tasks, target states and offsets.
//!
//! Writes are serialized by one async lock and always go to `connect-configs` first, then
//! to the running instances, so a worker killed at any point restarts into the last written
//! state. Task loops run on their own tokio tasks ([`super::source`], [`super::sink`]) and
//! report their state on the shared [`StatusBoard`].

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument;
use weir_connect_api::{ConfigMap, Connector, ConnectorType};

use super::cluster::Cluster;
use super::internal::{ConfigRecord, TargetState};
use super::metrics::{TaskMetrics, TaskMetricsSnapshot};
use super::model::{
    ConfigPatch, ConnectorInfo, ConnectorOffsets, ConnectorState, RestartRequest, StatusDoc,
    TaskId, TaskInfo, TaskState, WorkerError,
};
use super::settings::WorkerSettings;
use super::store::Stores;
use super::task::{Control, InstanceState, StatusBoard, state};
use super::{offsets, validate};
use crate::log::Log;
use crate::plugins;

type Result<T, E = WorkerError> = std::result::Result<T, E>;

/// A task the worker runs.
pub(super) struct RunningTask {
    control: watch::Sender<Control>,
    join: JoinHandle<()>,
    metrics: Arc<TaskMetrics>,
    kind: ConnectorType,
}

/// One connector as this worker holds it.
pub(super) struct Entry {
    /// As stored: placeholders unresolved.
    pub(super) config: ConfigMap,
    pub(super) target: TargetState,
    /// The committed task configs, as stored.
    pub(super) task_configs: Vec<ConfigMap>,
    pub(super) instance: Option<Box<dyn Connector>>,
    pub(super) tasks: BTreeMap<u32, RunningTask>,
    pub(super) topics: Arc<Mutex<BTreeSet<String>>>,
}

impl Entry {
    pub(super) fn new(config: ConfigMap, target: TargetState) -> Self {
        Self {
            config,
            target,
            task_configs: Vec::new(),
            instance: None,
            tasks: BTreeMap::new(),
            topics: Arc::default(),
        }
    }
}

/// The connector worker. Cheap to share (`Arc<Worker>`); every method is safe to call
/// concurrently (writes are serialized inside).
pub struct Worker {
    pub(super) log: Log,
    pub(super) settings: Arc<WorkerSettings>,
    pub(super) stores: Arc<Stores>,
    pub(super) board: Arc<StatusBoard>,
    entries: Mutex<BTreeMap<String, Entry>>,
    /// Serializes changes to running instances (the caller of every lifecycle function
    /// holds it).
    pub(super) ops: tokio::sync::Mutex<()>,
    /// Distributed mode: serializes REST writes on the leader (they only write to
    /// `connect-configs`; applying what they wrote takes `ops`).
    writes: tokio::sync::Mutex<()>,
    pub(super) shutdown: watch::Sender<bool>,
    /// Distributed mode (`group.id` on an external Kafka cluster).
    pub(super) cluster: Option<Arc<Cluster>>,
}

fn kind_of(config: &ConfigMap) -> Option<ConnectorType> {
    let class = config.get("connector.class")?;
    plugins::connector(class).map(|p| p.kind)
}

fn kind_name(kind: Option<ConnectorType>) -> String {
    kind.map_or("unknown", ConnectorType::name).to_string()
}

impl Worker {
    /// Opens the internal topics, replays them and starts every connector and task.
    pub async fn start(log: Log, settings: WorkerSettings) -> Result<Arc<Self>> {
        let stores = Stores::open(log.clone(), settings.internal_topics.clone())
            .await
            .map_err(|e| {
                WorkerError::Internal(format!(
                    "the worker could not open its internal topics: {e}"
                ))
            })?;
        // In distributed mode the config tailer reads the configs (from the start).
        let distributed = settings.group_id.is_some() && log.embedded().is_none();
        let state = if distributed {
            super::store::ConfigState::default()
        } else {
            stores.read_configs().await.map_err(|e| {
                WorkerError::Internal(format!(
                    "the worker could not read {}: {e}",
                    settings.internal_topics.configs
                ))
            })?
        };
        let stores = Arc::new(stores);
        let board = Arc::new(StatusBoard::new(
            Arc::clone(&stores),
            settings.worker_id.clone(),
        ));
        let cluster = match (&settings.group_id, &log) {
            (Some(group), Log::Kafka(k)) => {
                let mut timings = crate::kafka_client::group::GroupTimings::connect();
                timings.session_timeout = settings.session_timeout;
                timings.heartbeat_interval = settings.heartbeat_interval;
                timings.rebalance_timeout = settings.rebalance_timeout;
                let url = format!("http://{}", settings.worker_id);
                Some(Arc::new(Cluster::new(
                    group,
                    url,
                    k.client_config().clone(),
                    timings,
                )))
            }
            _ => None,
        };
        let mut entries = BTreeMap::new();
        for (name, config) in state.connectors {
            let target = state
                .targets
                .get(&name)
                .copied()
                .unwrap_or(TargetState::Started);
            let mut entry = Entry::new(config, target);
            entry.task_configs = state.tasks.get(&name).cloned().unwrap_or_default();
            entries.insert(name, entry);
        }
        let names: Vec<String> = entries.keys().cloned().collect();
        let dirs = settings.plugin_path.clone();
        tokio::task::spawn_blocking(move || crate::wasm::registry::global().set_dirs(dirs))
            .await
            .map_err(|e| WorkerError::Internal(format!("cannot load the WASM plugins: {e}")))?;
        let worker = Arc::new(Self {
            log,
            settings: Arc::new(settings),
            stores,
            board,
            entries: Mutex::new(entries),
            ops: tokio::sync::Mutex::new(()),
            writes: tokio::sync::Mutex::new(()),
            shutdown: watch::channel(false).0,
            cluster,
        });
        tokio::spawn(
            Arc::clone(&worker.board)
                .run_writer(worker.shutdown.subscribe())
                .instrument(tracing::info_span!("status-writer")),
        );
        if worker.cluster.is_some() {
            worker.catch_up().await.map_err(|e| {
                WorkerError::Internal(format!("the worker could not read its configs: {e:#}"))
            })?;
            worker.start_cluster();
        } else {
            let _guard = worker.ops.lock().await;
            for name in names {
                worker.board.set(&name, None, state::UNASSIGNED, None);
                worker.start_connector(&name).await;
            }
        }
        if !worker.settings.plugin_reload_interval.is_zero() {
            let weak = Arc::downgrade(&worker);
            let interval = worker.settings.plugin_reload_interval;
            let shutdown = worker.shutdown.subscribe();
            tokio::spawn(
                super::plugin_watch::watch_plugins(weak, interval, shutdown)
                    .instrument(tracing::info_span!("wasm-plugin-watcher")),
            );
        }
        tracing::info!(connectors = worker.connectors().len(), "worker started");
        Ok(worker)
    }

    pub(super) fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// What a REST write holds: the operation lock, or in distributed mode the write lock
    /// (the write only goes to `connect-configs`; applying it takes the operation lock).
    async fn op_lock(&self) -> tokio::sync::MutexGuard<'_, ()> {
        if self.cluster.is_some() {
            self.writes.lock().await
        } else {
            self.ops.lock().await
        }
    }

    /// `host:port` the REST API advertises (`worker_id` in statuses).
    pub fn worker_id(&self) -> &str {
        &self.settings.worker_id
    }

    pub fn settings(&self) -> &WorkerSettings {
        &self.settings
    }

    /// The log's Kafka cluster id (`GET /`).
    pub async fn cluster_id(&self) -> String {
        self.log.cluster_id().await
    }

    /// Connector names, sorted.
    pub fn connectors(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    fn exists(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }

    /// `POST /connectors`: 409 when the name exists, 400 when the config is invalid.
    pub async fn create_connector(
        &self,
        name: &str,
        mut config: ConfigMap,
        initial: Option<TargetState>,
    ) -> Result<ConnectorInfo> {
        let _guard = self.op_lock().await;
        validate::check_name(name)?;
        config
            .entry("name".to_string())
            .or_insert_with(|| name.to_string());
        if self.exists(name) {
            return Err(WorkerError::Conflict(format!(
                "Connector {name} already exists"
            )));
        }
        validate::check_config(name, &config)?;
        let target = initial.unwrap_or(TargetState::Started);
        self.write_new(name, config, target).await?;
        self.connector_info(name)
    }

    async fn write_new(&self, name: &str, config: ConfigMap, target: TargetState) -> Result<()> {
        if self.cluster.is_some() {
            let mut records = Vec::new();
            if target != TargetState::Started {
                records.push(ConfigRecord::Target(name.to_string(), target));
            }
            records.push(ConfigRecord::Connector(name.to_string(), Some(config)));
            return self.write_through(records).await;
        }
        if target != TargetState::Started {
            self.put_record(ConfigRecord::Target(name.to_string(), target))
                .await?;
        }
        self.put_record(ConfigRecord::Connector(
            name.to_string(),
            Some(config.clone()),
        ))
        .await?;
        self.lock()
            .insert(name.to_string(), Entry::new(config, target));
        tracing::info!(
            connector = name,
            target = target.name(),
            "connector created"
        );
        self.board.set(name, None, state::UNASSIGNED, None);
        self.start_connector(name).await;
        Ok(())
    }

    /// `PUT /connectors/x/config`: create or update; `true` when created.
    pub async fn put_connector_config(
        &self,
        name: &str,
        mut config: ConfigMap,
    ) -> Result<(ConnectorInfo, bool)> {
        let _guard = self.op_lock().await;
        validate::check_name(name)?;
        config
            .entry("name".to_string())
            .or_insert_with(|| name.to_string());
        validate::check_config(name, &config)?;
        if !self.exists(name) {
            self.write_new(name, config, TargetState::Started).await?;
            return Ok((self.connector_info(name)?, true));
        }
        self.update(name, config).await?;
        Ok((self.connector_info(name)?, false))
    }

    async fn update(&self, name: &str, config: ConfigMap) -> Result<()> {
        let unchanged = self.lock().get(name).is_some_and(|e| e.config == config);
        if unchanged {
            return Ok(());
        }
        if self.cluster.is_some() {
            let record = ConfigRecord::Connector(name.to_string(), Some(config));
            return self.write_through(vec![record]).await;
        }
        self.put_record(ConfigRecord::Connector(
            name.to_string(),
            Some(config.clone()),
        ))
        .await?;
        self.stop_connector(name).await;
        if let Some(e) = self.lock().get_mut(name) {
            e.config = config;
        }
        tracing::info!(connector = name, "connector config updated");
        self.start_connector(name).await;
        Ok(())
    }

    /// `PATCH /connectors/x/config`: `null` values remove keys.
    pub async fn patch_connector_config(
        &self,
        name: &str,
        patch: ConfigPatch,
    ) -> Result<ConnectorInfo> {
        let _guard = self.op_lock().await;
        let mut config = self.connector_config(name)?;
        for (k, v) in patch {
            match v {
                Some(v) => config.insert(k, v),
                None => config.remove(&k),
            };
        }
        if config.get("name").is_some_and(|n| n != name) {
            let given = config.get("name").cloned().unwrap_or_default();
            return Err(WorkerError::BadRequest(format!(
                "Connector name configuration ({given}) doesn't match connector name in the URL ({name})"
            )));
        }
        config.insert("name".to_string(), name.to_string());
        validate::check_config(name, &config)?;
        self.update(name, config).await?;
        self.connector_info(name)
    }

    pub fn connector_info(&self, name: &str) -> Result<ConnectorInfo> {
        let entries = self.lock();
        let e = entries
            .get(name)
            .ok_or_else(|| WorkerError::connector_not_found(name))?;
        Ok(ConnectorInfo {
            name: name.to_string(),
            config: e.config.clone(),
            tasks: (0..e.task_configs.len() as u32)
                .map(|task| TaskId {
                    connector: name.to_string(),
                    task,
                })
                .collect(),
            kind: kind_name(kind_of(&e.config)),
        })
    }

    /// The config as stored (placeholders unresolved).
    pub fn connector_config(&self, name: &str) -> Result<ConfigMap> {
        self.lock()
            .get(name)
            .map(|e| e.config.clone())
            .ok_or_else(|| WorkerError::connector_not_found(name))
    }

    /// `DELETE /connectors/x`: stops everything and tombstones the config.
    pub async fn delete_connector(&self, name: &str) -> Result<()> {
        let _guard = self.op_lock().await;
        if !self.exists(name) {
            return Err(WorkerError::connector_not_found(name));
        }
        if self.cluster.is_some() {
            let tasks = self
                .lock()
                .get(name)
                .map_or(0, |e| e.task_configs.len() as u32);
            self.write_through(vec![ConfigRecord::Connector(name.to_string(), None)])
                .await?;
            // Statuses of instances nobody runs any more.
            self.board.tombstone_all(name, tasks);
            return Ok(());
        }
        self.put_record(ConfigRecord::Connector(name.to_string(), None))
            .await?;
        self.stop_connector(name).await;
        self.lock().remove(name);
        self.board.remove_connector(name);
        tracing::info!(connector = name, "connector deleted");
        Ok(())
    }

    /// 404 `No status found for connector x` when unknown.
    pub fn connector_status(&self, name: &str) -> Result<StatusDoc> {
        let (kind, task_count) = {
            let entries = self.lock();
            let e = entries.get(name).ok_or_else(|| {
                WorkerError::NotFound(format!("No status found for connector {name}"))
            })?;
            (kind_of(&e.config), e.task_configs.len() as u32)
        };
        let (c, connector_worker) = self.instance_state(name, None);
        let tasks = (0..task_count)
            .map(|t| {
                let (s, worker_id) = self.instance_state(name, Some(t));
                TaskState {
                    id: t,
                    state: s.state.to_string(),
                    worker_id,
                    trace: s.trace,
                }
            })
            .collect();
        Ok(StatusDoc {
            name: name.to_string(),
            connector: ConnectorState {
                state: c.state.to_string(),
                worker_id: connector_worker,
                trace: c.trace,
            },
            tasks,
            kind: kind_name(kind),
        })
    }

    /// An instance's state and the worker running it: this worker's own view of what it
    /// runs; in distributed mode what `connect-status` says of the others' instances.
    fn instance_state(&self, name: &str, task: Option<u32>) -> (InstanceState, String) {
        let own = || (self.board.get(name, task), self.worker_id().to_string());
        let unassigned = InstanceState {
            state: state::UNASSIGNED,
            trace: None,
        };
        let Some(cluster) = &self.cluster else {
            let (s, w) = own();
            return (s.unwrap_or(unassigned), w);
        };
        let mine = match task {
            None => cluster.owns_connector(name),
            Some(t) => cluster.owns_task(name, t),
        };
        if mine && let (Some(s), w) = own() {
            return (s, w);
        }
        match self.board.remote(name, task) {
            Some(r) => (
                InstanceState {
                    state: state::named(&r.state),
                    trace: r.trace,
                },
                r.worker_id,
            ),
            None => (unassigned, self.worker_id().to_string()),
        }
    }

    pub fn task_configs(&self, name: &str) -> Result<Vec<TaskInfo>> {
        let entries = self.lock();
        let e = entries
            .get(name)
            .ok_or_else(|| WorkerError::connector_not_found(name))?;
        Ok(e.task_configs
            .iter()
            .enumerate()
            .map(|(i, config)| TaskInfo {
                id: TaskId {
                    connector: name.to_string(),
                    task: i as u32,
                },
                config: config.clone(),
            })
            .collect())
    }

    /// 404 `No status found for task x-0` when unknown.
    pub fn task_status(&self, name: &str, task: u32) -> Result<TaskState> {
        let known = self
            .lock()
            .get(name)
            .is_some_and(|e| (task as usize) < e.task_configs.len());
        if !known {
            return Err(WorkerError::NotFound(format!(
                "No status found for task {name}-{task}"
            )));
        }
        let (s, worker_id) = self.instance_state(name, Some(task));
        Ok(TaskState {
            id: task,
            state: s.state.to_string(),
            worker_id,
            trace: s.trace,
        })
    }

    /// `POST /connectors/x/restart`: `None` for the legacy form (both flags false, 204),
    /// otherwise the status with the restarted instances `RESTARTING` (202).
    pub async fn restart_connector(
        &self,
        name: &str,
        request: RestartRequest,
    ) -> Result<Option<StatusDoc>> {
        let _guard = self.op_lock().await;
        if !self.exists(name) {
            return Err(WorkerError::connector_not_found(name));
        }
        let legacy = !request.include_tasks && !request.only_failed;
        let before = self.connector_status(name)?;
        let restart_connector = !request.only_failed || before.connector.state == state::FAILED;
        let tasks: Vec<u32> = if request.include_tasks {
            before
                .tasks
                .iter()
                .filter(|t| !request.only_failed || t.state == state::FAILED)
                .map(|t| t.id)
                .collect()
        } else {
            Vec::new()
        };
        let mut plan = before;
        if restart_connector {
            plan.connector.state = state::RESTARTING.to_string();
            plan.connector.trace = None;
        }
        for t in plan.tasks.iter_mut().filter(|t| tasks.contains(&t.id)) {
            t.state = state::RESTARTING.to_string();
            t.trace = None;
        }
        if self.cluster.is_some() {
            // Every worker restarts its own instances when it reads the request.
            let record = ConfigRecord::Restart {
                connector: name.to_string(),
                only_failed: request.only_failed,
                include_tasks: request.include_tasks,
            };
            self.write_through(vec![record]).await?;
            return Ok(if legacy { None } else { Some(plan) });
        }
        if restart_connector && tasks.len() == plan.tasks.len() && request.include_tasks {
            // Everything restarts: the connector regenerates its tasks.
            self.board.set(name, None, state::RESTARTING, None);
            self.stop_connector(name).await;
            self.start_connector(name).await;
        } else {
            if restart_connector {
                self.board.set(name, None, state::RESTARTING, None);
                self.restart_connector_instance(name).await;
            }
            for t in tasks {
                self.board.set(name, Some(t), state::RESTARTING, None);
                self.restart_one_task(name, t).await;
            }
        }
        Ok(if legacy { None } else { Some(plan) })
    }

    pub async fn restart_task(&self, name: &str, task: u32) -> Result<()> {
        let _guard = self.op_lock().await;
        let known = self
            .lock()
            .get(name)
            .map(|e| (task as usize) < e.task_configs.len());
        match known {
            None => Err(WorkerError::connector_not_found(name)),
            Some(false) => Err(WorkerError::NotFound(format!(
                "Task {name}-{task} not found"
            ))),
            Some(true) => {
                if let Some(cluster) = &self.cluster
                    && !cluster.owns_task(name, task)
                {
                    return self.restart_task_elsewhere(name, task).await;
                }
                let _ops = match &self.cluster {
                    Some(_) => Some(self.ops.lock().await),
                    None => None,
                };
                self.restart_one_task(name, task).await;
                Ok(())
            }
        }
    }

    pub async fn pause(&self, name: &str) -> Result<()> {
        self.set_target(name, TargetState::Paused).await
    }

    pub async fn resume(&self, name: &str) -> Result<()> {
        self.set_target(name, TargetState::Started).await
    }

    pub async fn stop(&self, name: &str) -> Result<()> {
        self.set_target(name, TargetState::Stopped).await
    }

    async fn set_target(&self, name: &str, target: TargetState) -> Result<()> {
        let _guard = self.op_lock().await;
        let previous = self
            .lock()
            .get(name)
            .map(|e| e.target)
            .ok_or_else(|| WorkerError::connector_not_found(name))?;
        if previous == target {
            return Ok(());
        }
        if self.cluster.is_some() {
            let mut records = vec![ConfigRecord::Target(name.to_string(), target)];
            if target == TargetState::Stopped {
                // Kafka Connect empties the task set of a stopped connector.
                records.push(ConfigRecord::Commit(name.to_string(), 0));
            }
            return self.write_through(records).await;
        }
        self.put_record(ConfigRecord::Target(name.to_string(), target))
            .await?;
        if let Some(e) = self.lock().get_mut(name) {
            e.target = target;
        }
        tracing::info!(
            connector = name,
            target = target.name(),
            "target state changed"
        );
        match (previous, target) {
            (_, TargetState::Stopped) => {
                self.stop_connector(name).await;
                // Kafka Connect empties the task set of a stopped connector.
                self.put_record(ConfigRecord::Commit(name.to_string(), 0))
                    .await?;
                if let Some(e) = self.lock().get_mut(name) {
                    e.task_configs.clear();
                }
                self.board.remove_tasks(name, 0);
                self.board.set(name, None, state::STOPPED, None);
            }
            (TargetState::Stopped, _) => self.start_connector(name).await,
            (_, TargetState::Paused) => self.signal_tasks(name, Control::Pause, state::PAUSED),
            (_, TargetState::Started) => self.signal_tasks(name, Control::Run, state::RUNNING),
        }
        Ok(())
    }

    /// Tells every task of a running connector to pause or run; the tasks report their
    /// own state as they get there.
    pub(super) fn signal_tasks(&self, name: &str, control: Control, connector_state: &'static str) {
        let entries = self.lock();
        let Some(e) = entries.get(name) else { return };
        let running = e.instance.is_some();
        for t in e.tasks.values() {
            t.control.send_replace(control);
        }
        drop(entries);
        if running {
            self.board.set(name, None, connector_state, None);
        }
    }

    /// `GET /connectors/x/offsets`.
    pub async fn offsets(&self, name: &str) -> Result<ConnectorOffsets> {
        let config = self.connector_config(name)?;
        offsets::read(&self.log, &self.stores, name, kind_of(&config)).await
    }

    /// `PATCH /connectors/x/offsets`: 400 unless STOPPED; returns the message.
    pub async fn alter_offsets(&self, name: &str, changes: ConnectorOffsets) -> Result<String> {
        let _guard = self.op_lock().await;
        let kind = self.stopped_kind(name)?;
        offsets::alter(&self.log, &self.stores, name, kind, changes).await
    }

    /// `DELETE /connectors/x/offsets`: 400 unless STOPPED; returns the message.
    pub async fn reset_offsets(&self, name: &str) -> Result<String> {
        let _guard = self.op_lock().await;
        let kind = self.stopped_kind(name)?;
        offsets::reset(&self.log, &self.stores, name, kind).await
    }

    /// The connector's type, or the 400 Kafka Connect answers when it is not STOPPED.
    fn stopped_kind(&self, name: &str) -> Result<Option<ConnectorType>> {
        let entries = self.lock();
        let e = entries
            .get(name)
            .ok_or_else(|| WorkerError::connector_not_found(name))?;
        if e.target != TargetState::Stopped || !e.tasks.is_empty() {
            return Err(WorkerError::BadRequest(format!(
                "Connectors must be in the STOPPED state before their offsets can be modified. \
                 This can be done for the specified connector by issuing a 'PUT' request to the \
                 '/connectors/{name}/stop' endpoint"
            )));
        }
        Ok(kind_of(&e.config))
    }

    /// `GET /connectors/x/topics`: topics the connector has used since the last reset.
    pub fn active_topics(&self, name: &str) -> Result<Vec<String>> {
        let entries = self.lock();
        let e = entries
            .get(name)
            .ok_or_else(|| WorkerError::connector_not_found(name))?;
        let topics = e.topics.lock().unwrap_or_else(|p| p.into_inner());
        Ok(topics.iter().cloned().collect())
    }

    /// `PUT /connectors/x/topics/reset`.
    pub fn reset_active_topics(&self, name: &str) -> Result<()> {
        let entries = self.lock();
        let e = entries
            .get(name)
            .ok_or_else(|| WorkerError::connector_not_found(name))?;
        e.topics.lock().unwrap_or_else(|p| p.into_inner()).clear();
        Ok(())
    }

    /// Counters of every running task, for `/metrics`.
    pub fn metrics(&self) -> Vec<TaskMetricsSnapshot> {
        let entries = self.lock();
        let mut out = Vec::new();
        for (name, e) in entries.iter() {
            for (id, t) in &e.tasks {
                out.push(t.metrics.snapshot(name, *id, t.kind.name()));
            }
        }
        out
    }

    /// Stops every task: sinks get a final flush and commit, sources a final offset commit.
    pub async fn shutdown(&self) {
        let _guard = self.ops.lock().await;
        self.shutdown.send_replace(true);
        for name in self.connectors() {
            let ran: Vec<u32> = self
                .lock()
                .get(&name)
                .map(|e| e.tasks.keys().copied().collect())
                .unwrap_or_default();
            self.stop_connector(&name).await;
            // As Kafka Connect does when a worker leaves.
            let stopped = self
                .lock()
                .get(&name)
                .is_none_or(|e| e.target == TargetState::Stopped);
            match &self.cluster {
                None if !stopped => self.board.set(&name, None, state::UNASSIGNED, None),
                None => {}
                Some(cluster) => {
                    if cluster.owns_connector(&name) && !stopped {
                        self.board.set(&name, None, state::UNASSIGNED, None);
                    }
                    for task in ran {
                        self.board.set(&name, Some(task), state::UNASSIGNED, None);
                    }
                }
            }
        }
        self.board.write_pending().await;
        drop(_guard);
        self.leave_cluster().await;
        tracing::info!("worker stopped every connector");
    }
}

#[cfg(test)]
#[path = "herder_tests.rs"]
mod tests;

#[path = "herder_lifecycle.rs"]
mod lifecycle;
