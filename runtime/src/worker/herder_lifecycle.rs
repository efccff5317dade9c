//! The herder's private half: starting and stopping connector objects and task loops,
//! restarts, and config writes. Every caller holds the herder's operation lock.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tracing::Instrument;
use weir_connect_api::{ConfigMap, Connector, ConnectorType};

use super::{Result, RunningTask, Worker};
use crate::config_providers;
use crate::plugins::{self, ConnectorPlugin, TaskFactory};
use crate::worker::internal::{ConfigRecord, TargetState};
use crate::worker::metrics::TaskMetrics;
use crate::worker::task::{Control, TaskEnv, state, trace_of};

impl Worker {
    pub(in crate::worker) async fn put_record(&self, record: ConfigRecord) -> Result<()> {
        self.stores.put_config(&record).await?;
        Ok(())
    }

    pub(in crate::worker) fn fail_connector(&self, name: &str, trace: String) {
        tracing::error!(connector = name, "connector failed: {trace}");
        self.board.set(name, None, state::FAILED, Some(trace));
    }

    /// Starts the connector object and its tasks per the target state; failures become
    /// the FAILED state with a trace, never an error of the caller.
    pub(in crate::worker) async fn start_connector(&self, name: &str) {
        let Some((raw, target)) = self.lock().get(name).map(|e| (e.config.clone(), e.target))
        else {
            return;
        };
        if target == TargetState::Stopped {
            self.board.remove_tasks(name, 0);
            self.board.set(name, None, state::STOPPED, None);
            return;
        }
        let (instance, resolved, plugin) = match start_instance(&raw) {
            Ok(started) => started,
            Err(trace) => return self.fail_connector(name, trace),
        };
        let max = raw
            .get("tasks.max")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(1)
            .max(1);
        let configs = match instance.task_configs(max) {
            Ok(c) => c,
            Err(e) => return self.fail_connector(name, trace_of(&e)),
        };
        let enforce = raw.get("tasks.max.enforce").is_none_or(|v| v != "false");
        if enforce && configs.len() > max {
            return self.fail_connector(
                name,
                format!(
                    "The connector {name} has generated {} tasks, which is greater than {max}, \
                     the maximum number of tasks it is configured to create.",
                    configs.len()
                ),
            );
        }
        let stored: Vec<ConfigMap> = configs
            .iter()
            .map(|c| unresolve(c, &raw, &resolved))
            .collect();
        let previous = self.lock().get(name).map(|e| e.task_configs.clone());
        if previous.as_ref() != Some(&stored) {
            let mut records: Vec<ConfigRecord> = stored
                .iter()
                .enumerate()
                .map(|(i, c)| ConfigRecord::Task(name.to_string(), i as u32, c.clone()))
                .collect();
            records.push(ConfigRecord::Commit(name.to_string(), stored.len() as u32));
            for r in records {
                if let Err(e) = self.put_record(r).await {
                    return self.fail_connector(name, e.to_string());
                }
            }
            // Distributed mode: every worker's config tailer applies the new task set.
            if self.cluster.is_none() {
                self.board.remove_tasks(name, stored.len() as u32);
            }
        }
        let tasks = stored.len();
        let topics = {
            let mut entries = self.lock();
            let Some(e) = entries.get_mut(name) else {
                return;
            };
            if self.cluster.is_none() {
                e.task_configs = stored;
            }
            e.instance = Some(instance);
            Arc::clone(&e.topics)
        };
        self.board.set(name, None, running_state(target), None);
        if self.cluster.is_some() {
            // Distributed mode: the leader assigns the tasks.
            tracing::info!(connector = name, tasks, "connector started");
            return;
        }
        let count = configs.len() as u32;
        for (i, task_config) in configs.into_iter().enumerate() {
            self.spawn_task(
                name,
                i as u32,
                count,
                &resolved,
                task_config,
                plugin.task.clone(),
                target,
                &topics,
            );
        }
        tracing::info!(connector = name, tasks = count, "connector started");
    }

    #[allow(clippy::too_many_arguments)]
    pub(in crate::worker) fn spawn_task(
        &self,
        name: &str,
        task: u32,
        task_count: u32,
        connector_config: &ConfigMap,
        task_config: ConfigMap,
        factory: TaskFactory,
        target: TargetState,
        topics: &Arc<Mutex<BTreeSet<String>>>,
    ) {
        let initial = if target == TargetState::Paused {
            Control::Pause
        } else {
            Control::Run
        };
        let (control_tx, control_rx) = watch::channel(initial);
        let metrics = Arc::new(TaskMetrics::default());
        let env = TaskEnv {
            connector: name.to_string(),
            task,
            task_count,
            connector_config: connector_config.clone(),
            task_config,
            log: self.log.clone(),
            stores: Arc::clone(&self.stores),
            board: Arc::clone(&self.board),
            metrics: Arc::clone(&metrics),
            settings: Arc::clone(&self.settings),
            topics: Arc::clone(topics),
            control: control_rx,
            shutdown: self.shutdown.subscribe(),
        };
        self.board.set(name, Some(task), state::UNASSIGNED, None);
        let span = tracing::info_span!("task", id = %format!("{name}-{task}"));
        let (join, kind) = match factory {
            TaskFactory::Source(new) => (
                tokio::spawn(crate::worker::source::run(env, new()).instrument(span)),
                ConnectorType::Source,
            ),
            TaskFactory::Sink(new) => (
                tokio::spawn(crate::worker::sink::run(env, new()).instrument(span)),
                ConnectorType::Sink,
            ),
        };
        if let Some(e) = self.lock().get_mut(name) {
            e.tasks.insert(
                task,
                RunningTask {
                    control: control_tx,
                    join,
                    metrics,
                    kind,
                },
            );
        }
    }

    /// Stops one task and waits for its final commit (up to the graceful timeout).
    pub(in crate::worker) async fn stop_task(&self, name: &str, task: RunningTask) {
        task.control.send_replace(Control::Stop);
        let timeout = self.settings.task_shutdown_timeout;
        let abort = task.join.abort_handle();
        match tokio::time::timeout(timeout, task.join).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::error!(connector = name, error = %e, "a task ended abnormally"),
            Err(_) => {
                tracing::error!(
                    connector = name,
                    ?timeout,
                    "a task did not stop within task.shutdown.graceful.timeout.ms; abandoning it"
                );
                abort.abort();
            }
        }
    }

    /// Stops every task and the connector object.
    pub(in crate::worker) async fn stop_connector(&self, name: &str) {
        let (tasks, instance) = {
            let mut entries = self.lock();
            let Some(e) = entries.get_mut(name) else {
                return;
            };
            (std::mem::take(&mut e.tasks), e.instance.take())
        };
        for (_, t) in tasks {
            self.stop_task(name, t).await;
        }
        stop_instance(name, instance);
    }

    /// Stops the connector object only (its tasks keep running).
    pub(in crate::worker) fn stop_connector_instance(&self, name: &str) {
        let instance = self.lock().get_mut(name).and_then(|e| e.instance.take());
        stop_instance(name, instance);
    }

    /// Restarts the connector object only (its tasks keep running).
    pub(in crate::worker) async fn restart_connector_instance(&self, name: &str) {
        self.stop_connector_instance(name);
        let running_tasks = self.lock().get(name).is_some_and(|e| !e.tasks.is_empty());
        if running_tasks {
            let Some((raw, target)) = self.lock().get(name).map(|e| (e.config.clone(), e.target))
            else {
                return;
            };
            let started = start_instance(&raw).map(|(i, _, _)| i);
            match started {
                Ok(i) => {
                    if let Some(e) = self.lock().get_mut(name) {
                        e.instance = Some(i);
                    }
                    self.board.set(name, None, running_state(target), None);
                }
                Err(trace) => self.fail_connector(name, trace),
            }
        } else {
            self.stop_connector(name).await;
            self.start_connector(name).await;
        }
    }

    /// Stops one task and starts it again with its stored config.
    pub(in crate::worker) async fn restart_one_task(&self, name: &str, task: u32) {
        let running = self
            .lock()
            .get_mut(name)
            .and_then(|e| e.tasks.remove(&task));
        if let Some(t) = running {
            self.stop_task(name, t).await;
        }
        let Some((raw, stored, target, topics)) = self.lock().get(name).map(|e| {
            (
                e.config.clone(),
                e.task_configs.get(task as usize).cloned(),
                e.target,
                Arc::clone(&e.topics),
            )
        }) else {
            return;
        };
        let Some(stored) = stored else { return };
        let resolved = config_providers::resolve(&raw);
        let task_config = config_providers::resolve(&stored);
        let class = raw.get("connector.class").cloned().unwrap_or_default();
        match (resolved, task_config, plugins::connector(&class)) {
            (Ok(resolved), Ok(task_config), Some(plugin)) => {
                let count = self
                    .lock()
                    .get(name)
                    .map_or(1, |e| e.task_configs.len() as u32);
                self.spawn_task(
                    name,
                    task,
                    count,
                    &resolved,
                    task_config,
                    plugin.task.clone(),
                    target,
                    &topics,
                );
            }
            _ => self.board.set(
                name,
                Some(task),
                state::FAILED,
                Some("cannot restart the task: its connector's config no longer resolves".into()),
            ),
        }
    }
}

/// Resolves the connector's placeholders, finds its class and starts a connector object;
/// the error is the FAILED trace.
fn start_instance(
    raw: &ConfigMap,
) -> Result<(Box<dyn Connector>, ConfigMap, ConnectorPlugin), String> {
    let resolved = config_providers::resolve(raw).map_err(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("cannot resolve config placeholders: {}", lines.join("; "))
    })?;
    let class = raw.get("connector.class").map_or("", String::as_str);
    let plugin =
        plugins::connector(class).ok_or_else(|| format!("unknown connector class {class}"))?;
    let mut instance = plugin.new_connector();
    instance.start(&resolved).map_err(|e| trace_of(&e))?;
    Ok((instance, resolved, plugin))
}

/// The state a started connector reports under its target state.
fn running_state(target: TargetState) -> &'static str {
    if target == TargetState::Paused {
        state::PAUSED
    } else {
        state::RUNNING
    }
}

/// Stops a connector object, if any; a failing `stop` is logged.
fn stop_instance(name: &str, instance: Option<Box<dyn Connector>>) {
    if let Some(mut i) = instance
        && let Err(e) = i.stop()
    {
        tracing::warn!(connector = name, error = %e, "the connector's stop failed");
    }
}

/// A task config as stored: values that came from resolving a placeholder get the
/// placeholder back, so secrets never reach `connect-configs` or `GET .../tasks`.
fn unresolve(task: &ConfigMap, raw: &ConfigMap, resolved: &ConfigMap) -> ConfigMap {
    task.iter()
        .map(|(k, v)| {
            let placeholder = raw
                .get(k)
                .filter(|r| *r != v && resolved.get(k) == Some(v))
                .cloned();
            (k.clone(), placeholder.unwrap_or_else(|| v.clone()))
        })
        .collect()
}
