//! Distributed mode: workers with the same `group.id` on one Kafka cluster share the
//! connectors, as Kafka Connect's distributed workers do.
//!
//! - Membership: each worker joins the group at the cluster's group coordinator with
//!   protocol type `connect` and Kafka Connect's incremental cooperative protocols
//!   (`sessioned`, `compatible`; [`crate::kafka_client::connect_protocol`]). Its metadata
//!   carries its REST URL, how far it has read `connect-configs`, and what it runs now.
//! - The leader reads `connect-configs` to its end and assigns connectors and tasks
//!   ([`super::assignor`]): new or orphaned work goes to the least loaded workers, and a
//!   worker holding more than its share gives the excess up first and gets it back in the
//!   follow-up round. Only moved connectors and tasks stop.
//! - Every worker tails `connect-configs` ([`Worker::catch_up`]) and applies what it reads
//!   to the connectors and tasks it runs (config changes, new task configs, target states,
//!   restart requests); the leader also asks for a rebalance when the set of connectors or
//!   their task counts change. The worker that runs a connector writes its task configs.
//! - Every worker tails `connect-status`, so any worker answers the status of every
//!   connector and task, with the worker that runs it.
//! - REST writes go to the leader (a follower forwards them, see `rest::forward`); during a
//!   rebalance they are answered 409 as Kafka Connect does.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::watch;
use weir_connect_api::ConfigMap;

use super::Worker;
use super::assignor::{self, Owned};
use super::internal::{ConfigRecord, TargetState};
use super::model::WorkerError;
use super::task::{Control, state};
use crate::kafka_client::ClientConfig;
use crate::kafka_client::connect_protocol::{self, Assignment, WorkerMetadata};
use crate::kafka_client::group::{GroupProtocol, GroupTimings, Joined, Member, MemberState};

/// How often the tailers look again when the log gives no wake-up.
const TAIL_WAIT: Duration = Duration::from_millis(500);
/// Pause between failed join attempts.
const JOIN_BACKOFF: Duration = Duration::from_secs(1);

/// Where this worker stands in the group, as the REST API needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum View {
    /// Joining or rebalancing: writes are refused with 409.
    Rebalancing,
    Stable {
        leader: bool,
        /// The leader's REST URL (`http://host:port`).
        leader_url: String,
        generation: i32,
    },
}

/// A worker's distributed-mode state.
pub struct Cluster {
    group: String,
    /// This worker's REST URL, as other workers reach it.
    url: String,
    client: ClientConfig,
    timings: GroupTimings,
    view: watch::Sender<View>,
    /// What this worker runs by assignment.
    owned: Mutex<Owned>,
    /// The next `connect-configs` offset to read.
    position: Mutex<i64>,
    /// Serializes reading and applying `connect-configs`.
    catching_up: tokio::sync::Mutex<()>,
    /// Task configs read but not committed yet (Kafka Connect's commit protocol).
    staged: Mutex<BTreeMap<String, BTreeMap<u32, ConfigMap>>>,
    /// Target states read before their connector's config.
    early_targets: Mutex<BTreeMap<String, TargetState>>,
    /// Connector -> task count the last assignment of this worker (as leader) was made for.
    assigned_for: Mutex<Option<BTreeMap<String, u32>>>,
    /// Asks the membership task to rejoin (the leader saw the connectors change).
    rebalance: tokio::sync::Notify,
    /// Tells the membership task to leave the group (after the worker stopped its work).
    leave: watch::Sender<bool>,
    member_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Cluster {
    pub fn new(group: &str, url: String, client: ClientConfig, timings: GroupTimings) -> Self {
        Self {
            group: group.to_string(),
            url,
            client,
            timings,
            view: watch::Sender::new(View::Rebalancing),
            owned: Mutex::new(Owned::default()),
            position: Mutex::new(0),
            catching_up: tokio::sync::Mutex::new(()),
            staged: Mutex::new(BTreeMap::new()),
            early_targets: Mutex::new(BTreeMap::new()),
            assigned_for: Mutex::new(None),
            rebalance: tokio::sync::Notify::new(),
            leave: watch::Sender::new(false),
            member_task: Mutex::new(None),
        }
    }

    pub fn view(&self) -> View {
        self.view.borrow().clone()
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn owns_connector(&self, name: &str) -> bool {
        lock(&self.owned).connectors.contains(name)
    }

    pub fn owns_task(&self, name: &str, task: u32) -> bool {
        lock(&self.owned).tasks.contains(&(name.to_string(), task))
    }

    /// The tasks of `name` this worker runs by assignment.
    fn owned_tasks(&self, name: &str) -> Vec<u32> {
        lock(&self.owned)
            .tasks
            .iter()
            .filter(|(c, _)| c == name)
            .map(|(_, t)| *t)
            .collect()
    }

    fn owned(&self) -> Owned {
        lock(&self.owned).clone()
    }

    pub fn position(&self) -> i64 {
        *lock(&self.position)
    }
}

/// The `connect` group protocol of one worker.
struct ConnectGroup {
    worker: Weak<Worker>,
}

impl GroupProtocol for ConnectGroup {
    fn protocol_type(&self) -> &str {
        "connect"
    }

    fn protocols(&mut self) -> anyhow::Result<Vec<(String, Bytes)>> {
        let worker = self
            .worker
            .upgrade()
            .ok_or_else(|| anyhow::anyhow!("the worker is gone"))?;
        let cluster = worker.cluster()?;
        let owned = cluster.owned();
        let allocation = Assignment {
            connectors: owned.connectors.into_iter().collect(),
            tasks: owned.tasks.into_iter().collect(),
            config_offset: cluster.position(),
            leader_url: cluster.url.clone(),
            ..Assignment::default()
        };
        Ok(connect_protocol::protocols(
            &cluster.url,
            cluster.position(),
            Some(&allocation),
        )?)
    }

    async fn assign(
        &mut self,
        protocol: &str,
        members: &[(String, Bytes)],
    ) -> anyhow::Result<BTreeMap<String, Bytes>> {
        let worker = self
            .worker
            .upgrade()
            .ok_or_else(|| anyhow::anyhow!("the worker is gone"))?;
        worker.leader_assign(protocol, members).await
    }
}

impl Worker {
    /// The distributed-mode state; an error outside distributed mode.
    pub(super) fn cluster(&self) -> anyhow::Result<&Arc<Cluster>> {
        self.cluster
            .as_ref()
            .ok_or_else(|| anyhow::anyhow!("the worker is not in distributed mode"))
    }

    /// Distributed mode: where this worker stands (`None` outside a group).
    pub fn cluster_view(&self) -> Option<View> {
        self.cluster.as_ref().map(|c| c.view())
    }

    /// Starts the tailers and the membership task.
    pub(super) fn start_cluster(self: &Arc<Self>) {
        let Some(cluster) = &self.cluster else { return };
        let weak = Arc::downgrade(self);
        tokio::spawn(tracing::Instrument::instrument(
            tail_configs(weak.clone(), self.shutdown.subscribe()),
            tracing::info_span!("config-tailer"),
        ));
        tokio::spawn(tracing::Instrument::instrument(
            tail_statuses(weak.clone(), self.shutdown.subscribe()),
            tracing::info_span!("status-tailer"),
        ));
        let task = tokio::spawn(tracing::Instrument::instrument(
            membership(weak, cluster.leave.subscribe()),
            tracing::info_span!("group-member", group = %cluster.group),
        ));
        *lock(&cluster.member_task) = Some(task);
    }

    /// Leaves the group once the worker stopped its work; waits for the membership task.
    pub(super) async fn leave_cluster(&self) {
        let Some(cluster) = &self.cluster else { return };
        cluster.leave.send_replace(true);
        let task = lock(&cluster.member_task).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(Duration::from_secs(10), task).await;
        }
    }

    /// Distributed mode: writes `records` to `connect-configs` and returns once this worker
    /// has read and applied them (so the caller's next read sees them).
    pub(super) async fn write_through(
        &self,
        records: Vec<ConfigRecord>,
    ) -> Result<(), WorkerError> {
        for r in records {
            self.put_record(r).await?;
        }
        self.catch_up().await.map_err(|e| {
            WorkerError::Internal(format!("cannot read back the config topic: {e:#}"))
        })?;
        Ok(())
    }

    /// Distributed mode: a task restart for a task another worker runs goes to that worker.
    pub(super) async fn restart_task_elsewhere(
        &self,
        name: &str,
        task: u32,
    ) -> Result<(), WorkerError> {
        let owner = self
            .board
            .remote(name, Some(task))
            .map(|s| s.worker_id)
            .filter(|w| !w.is_empty() && w != self.worker_id());
        let Some(owner) = owner else {
            return Err(WorkerError::Conflict(
                "Cannot complete request because of a conflicting operation (e.g. worker rebalance)"
                    .to_string(),
            ));
        };
        crate::rest::forward::post_to(
            &owner,
            &format!("/connectors/{name}/tasks/{task}/restart"),
            &self.settings.rest_auth,
        )
        .await
    }

    /// Reads `connect-configs` to its end and applies what is new; returns the position.
    pub(super) async fn catch_up(&self) -> anyhow::Result<i64> {
        let cluster = self.cluster()?;
        let _serial = cluster.catching_up.lock().await;
        let mut position = cluster.position();
        let records = self.stores.tail_configs(&mut position).await?;
        if !records.is_empty() {
            let _ops = self.ops.lock().await;
            for r in records {
                self.apply_config(r).await;
            }
        }
        *lock(&cluster.position) = position;
        if matches!(cluster.view(), View::Stable { leader: true, .. }) {
            let configured = self.configured();
            let assigned_for = lock(&cluster.assigned_for).clone();
            if assigned_for.as_ref() != Some(&configured) {
                tracing::info!("connectors or task counts changed; asking for a rebalance");
                cluster.rebalance.notify_one();
            }
        }
        Ok(position)
    }

    /// Connector -> task count, as an assignment needs it (a stopped connector has none).
    fn configured(&self) -> BTreeMap<String, u32> {
        self.lock()
            .iter()
            .map(|(name, e)| {
                let tasks = if e.target == TargetState::Stopped {
                    0
                } else {
                    e.task_configs.len() as u32
                };
                (name.clone(), tasks)
            })
            .collect()
    }

    /// One record of `connect-configs`, applied to what this worker holds and runs. The
    /// caller holds the operation lock.
    async fn apply_config(&self, record: ConfigRecord) {
        let Ok(cluster) = self.cluster() else { return };
        match record {
            ConfigRecord::Connector(name, Some(config)) => {
                let known = self.lock().get(&name).map(|e| e.config == config);
                match known {
                    None => {
                        let target = lock(&cluster.early_targets)
                            .remove(&name)
                            .unwrap_or(TargetState::Started);
                        self.lock()
                            .insert(name.clone(), super::herder::Entry::new(config, target));
                        tracing::info!(connector = %name, "connector config read");
                    }
                    Some(true) => {}
                    Some(false) => {
                        if let Some(e) = self.lock().get_mut(&name) {
                            e.config = config;
                        }
                        if cluster.owns_connector(&name) {
                            tracing::info!(connector = %name, "connector config changed; restarting it");
                            self.stop_connector_instance(&name);
                            self.start_connector(&name).await;
                        }
                    }
                }
            }
            ConfigRecord::Connector(name, None) => {
                lock(&cluster.staged).remove(&name);
                self.stop_connector(&name).await;
                self.lock().remove(&name);
                let mut owned = lock(&cluster.owned);
                owned.connectors.remove(&name);
                owned.tasks.retain(|(c, _)| *c != name);
                drop(owned);
                self.board.remove_connector(&name);
                tracing::info!(connector = %name, "connector deleted");
            }
            ConfigRecord::Task(name, task, config) => {
                lock(&cluster.staged)
                    .entry(name)
                    .or_default()
                    .insert(task, config);
            }
            ConfigRecord::Commit(name, count) => {
                let staged = lock(&cluster.staged).remove(&name).unwrap_or_default();
                if !(0..count).all(|n| staged.contains_key(&n)) {
                    tracing::warn!(connector = %name, count,
                        "ignoring a task commit whose task configs are incomplete");
                    return;
                }
                let configs: Vec<ConfigMap> = staged.into_values().take(count as usize).collect();
                self.apply_task_configs(&name, configs).await;
            }
            ConfigRecord::Target(name, target) => {
                let previous = self.lock().get_mut(&name).map(|e| {
                    let previous = e.target;
                    e.target = target;
                    previous
                });
                match previous {
                    None => {
                        lock(&cluster.early_targets).insert(name, target);
                    }
                    Some(previous) if previous != target => {
                        self.apply_target(&name, previous, target).await;
                    }
                    Some(_) => {}
                }
            }
            ConfigRecord::Restart {
                connector,
                only_failed,
                include_tasks,
            } => {
                self.apply_restart(&connector, only_failed, include_tasks)
                    .await;
            }
        }
    }

    /// A new committed task set: running tasks whose config changed restart with the new
    /// one, tasks past the new count stop (the leader's rebalance moves the rest).
    async fn apply_task_configs(&self, name: &str, configs: Vec<ConfigMap>) {
        let previous = self
            .lock()
            .get_mut(name)
            .map(|e| std::mem::replace(&mut e.task_configs, configs.clone()));
        let Some(previous) = previous else { return };
        if previous == configs {
            return;
        }
        let running: Vec<u32> = self
            .lock()
            .get(name)
            .map(|e| e.tasks.keys().copied().collect())
            .unwrap_or_default();
        for task in running {
            if task as usize >= configs.len() {
                let t = self
                    .lock()
                    .get_mut(name)
                    .and_then(|e| e.tasks.remove(&task));
                if let Some(t) = t {
                    self.stop_task(name, t).await;
                }
                self.board.forget(name, Some(task));
            } else if previous.get(task as usize) != configs.get(task as usize)
                || previous.len() != configs.len()
            {
                self.restart_one_task(name, task).await;
            }
        }
        if let Ok(cluster) = self.cluster()
            && cluster.owns_connector(name)
        {
            self.board.remove_tasks(name, configs.len() as u32);
        }
    }

    /// A target state change, for the instances this worker runs.
    async fn apply_target(&self, name: &str, previous: TargetState, target: TargetState) {
        let Ok(cluster) = self.cluster() else { return };
        let owns_connector = cluster.owns_connector(name);
        match (previous, target) {
            (_, TargetState::Stopped) => {
                self.stop_connector(name).await;
                if owns_connector {
                    self.board.set(name, None, state::STOPPED, None);
                }
            }
            (TargetState::Stopped, _) => {
                if owns_connector {
                    self.start_connector(name).await;
                }
                self.start_owned_tasks(name).await;
            }
            (_, TargetState::Paused) => {
                self.signal_tasks(name, Control::Pause, state::PAUSED);
                if owns_connector {
                    self.board.set(name, None, state::PAUSED, None);
                }
            }
            (_, TargetState::Started) => {
                self.signal_tasks(name, Control::Run, state::RUNNING);
                if owns_connector {
                    self.board.set(name, None, state::RUNNING, None);
                }
            }
        }
    }

    /// A restart request, for the instances this worker runs.
    async fn apply_restart(&self, name: &str, only_failed: bool, include_tasks: bool) {
        let Ok(cluster) = self.cluster() else { return };
        let failed = |task: Option<u32>| {
            self.board
                .get(name, task)
                .is_some_and(|s| s.state == state::FAILED)
        };
        if cluster.owns_connector(name) && (!only_failed || failed(None)) {
            self.board.set(name, None, state::RESTARTING, None);
            self.stop_connector_instance(name);
            self.start_connector(name).await;
        }
        if include_tasks {
            for task in cluster.owned_tasks(name) {
                if !only_failed || failed(Some(task)) {
                    self.board.set(name, Some(task), state::RESTARTING, None);
                    self.restart_one_task(name, task).await;
                }
            }
        }
    }

    /// Starts the tasks of `name` this worker owns that are not running.
    async fn start_owned_tasks(&self, name: &str) {
        let Ok(cluster) = self.cluster() else { return };
        for task in cluster.owned_tasks(name) {
            let running = self
                .lock()
                .get(name)
                .is_some_and(|e| e.tasks.contains_key(&task));
            if !running {
                self.restart_one_task(name, task).await;
            }
        }
    }

    /// The leader's assignment (see the module docs).
    async fn leader_assign(
        &self,
        protocol: &str,
        members: &[(String, Bytes)],
    ) -> anyhow::Result<BTreeMap<String, Bytes>> {
        let cluster = self.cluster()?;
        let version = connect_protocol::protocol_version(protocol).ok_or_else(|| {
            anyhow::anyhow!("the group chose protocol {protocol}, which weir does not speak")
        })?;
        let mut owned_by = BTreeMap::new();
        let mut leader = String::new();
        let mut furthest = 0;
        for (member, metadata) in members {
            let m = WorkerMetadata::decode(metadata)?;
            if m.url == cluster.url && leader.is_empty() {
                leader = member.clone();
            }
            furthest = furthest.max(m.config_offset);
            let owned = m.allocation.map_or_else(Owned::default, |a| Owned {
                connectors: a.connectors.into_iter().collect(),
                tasks: a.tasks.into_iter().collect(),
            });
            owned_by.insert(member.clone(), owned);
        }
        // The assignment must know at least what every member has read.
        let mut position = self.catch_up().await?;
        while position < furthest {
            tokio::time::sleep(Duration::from_millis(50)).await;
            position = self.catch_up().await?;
        }
        let configured = self.configured();
        let plans = assignor::assign(&owned_by, &configured);
        *lock(&cluster.assigned_for) = Some(configured);
        let mut out = BTreeMap::new();
        for (member, _) in members {
            let plan = plans.get(member).cloned().unwrap_or_default();
            let a = Assignment {
                version,
                error: connect_protocol::NO_ERROR,
                leader: leader.clone(),
                leader_url: cluster.url.clone(),
                config_offset: position,
                connectors: plan.assigned.connectors.into_iter().collect(),
                tasks: plan.assigned.tasks.into_iter().collect(),
                revoked_connectors: plan.revoked.connectors.into_iter().collect(),
                revoked_tasks: plan.revoked.tasks.into_iter().collect(),
                delay_ms: 0,
            };
            out.insert(member.clone(), a.encode()?);
        }
        tracing::info!(members = members.len(), "assignment computed");
        Ok(out)
    }

    /// Carries out this worker's share of a rebalance; returns whether it gave anything up
    /// (then the cooperative protocol asks for a follow-up round at once).
    async fn apply_assignment(&self, joined: &Joined) -> anyhow::Result<bool> {
        let cluster = self.cluster()?;
        let a = if joined.assignment.is_empty() {
            Assignment::default()
        } else {
            Assignment::decode(&joined.assignment)?
        };
        // Know at least the configs the assignment was made from.
        let mut position = self.catch_up().await?;
        while position < a.config_offset {
            tokio::time::sleep(Duration::from_millis(50)).await;
            position = self.catch_up().await?;
        }
        let _ops = self.ops.lock().await;
        self.board.set_generation(joined.generation);
        for (name, task) in &a.revoked_tasks {
            let t = self.lock().get_mut(name).and_then(|e| e.tasks.remove(task));
            if let Some(t) = t {
                self.stop_task(name, t).await;
            }
            self.board.set(name, Some(*task), state::UNASSIGNED, None);
            self.board.forget(name, Some(*task));
            lock(&cluster.owned).tasks.remove(&(name.clone(), *task));
        }
        for name in &a.revoked_connectors {
            self.stop_connector_instance(name);
            self.board.set(name, None, state::UNASSIGNED, None);
            self.board.forget(name, None);
            lock(&cluster.owned).connectors.remove(name);
        }
        if *self.shutdown.borrow() {
            return Ok(false);
        }
        for name in &a.connectors {
            lock(&cluster.owned).connectors.insert(name.clone());
            self.start_connector(name).await;
        }
        for (name, task) in &a.tasks {
            lock(&cluster.owned).tasks.insert((name.clone(), *task));
            self.restart_one_task(name, *task).await;
        }
        if !a.connectors.is_empty()
            || !a.tasks.is_empty()
            || !a.revoked_tasks.is_empty()
            || !a.revoked_connectors.is_empty()
        {
            tracing::info!(generation = joined.generation,
                started_connectors = ?a.connectors, started_tasks = ?a.tasks,
                stopped_connectors = ?a.revoked_connectors, stopped_tasks = ?a.revoked_tasks,
                "assignment applied");
        }
        cluster.view.send_replace(View::Stable {
            leader: joined.is_leader,
            leader_url: a.leader_url.clone(),
            generation: joined.generation,
        });
        Ok(!a.revoked_connectors.is_empty() || !a.revoked_tasks.is_empty())
    }

    /// The membership was lost: whatever this worker runs may already run elsewhere.
    async fn drop_everything(&self) {
        let Ok(cluster) = self.cluster() else { return };
        let _ops = self.ops.lock().await;
        let owned = std::mem::take(&mut *lock(&cluster.owned));
        let names: BTreeSet<String> = owned
            .connectors
            .iter()
            .cloned()
            .chain(owned.tasks.iter().map(|(c, _)| c.clone()))
            .collect();
        for name in names {
            self.stop_connector(&name).await;
        }
        tracing::warn!("group membership lost; stopped every connector and task here");
    }
}

/// The membership task: join, carry out assignments, rejoin when the group or the
/// connectors change, leave when told to.
async fn membership(worker: Weak<Worker>, mut leave: watch::Receiver<bool>) {
    let Some((cfg, group, timings)) = worker.upgrade().and_then(|w| {
        let c = w.cluster().ok()?;
        Some((c.client.clone(), c.group.clone(), c.timings))
    }) else {
        return;
    };
    let (mut member, mut joined) = loop {
        let attempt = Member::join(
            &cfg,
            &group,
            ConnectGroup {
                worker: worker.clone(),
            },
            timings,
        );
        tokio::select! {
            r = attempt => match r {
                Ok(m) => break m,
                Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot join the group yet; trying again"),
            },
            _ = leave.changed() => return,
        }
        tokio::select! {
            _ = tokio::time::sleep(JOIN_BACKOFF) => {}
            _ = leave.changed() => return,
        }
    };
    loop {
        let Some(w) = worker.upgrade() else { return };
        let Ok(cluster) = w.cluster().cloned() else {
            return;
        };
        let follow_up = match w.apply_assignment(&joined).await {
            Ok(revoked) => revoked,
            Err(e) => {
                tracing::error!(error = %format!("{e:#}"), "cannot apply the assignment; rejoining");
                true
            }
        };
        drop(w);
        if !follow_up {
            tokio::select! {
                _ = member.rejoin_needed() => {}
                _ = cluster.rebalance.notified() => member.request_rejoin(),
                _ = leave.changed() => break,
            }
        }
        if *leave.borrow() {
            break;
        }
        cluster.view.send_replace(View::Rebalancing);
        if member.state() == MemberState::Lost
            && let Some(w) = worker.upgrade()
        {
            w.drop_everything().await;
        }
        joined = loop {
            tokio::select! {
                r = member.rejoin() => match r {
                    Ok(j) => break j,
                    Err(e) => tracing::warn!(error = %format!("{e:#}"), "rejoin failed; trying again"),
                },
                _ = leave.changed() => {
                    let _ = member.leave().await;
                    return;
                }
            }
            if member.state() == MemberState::Lost
                && let Some(w) = worker.upgrade()
            {
                w.drop_everything().await;
            }
            tokio::time::sleep(JOIN_BACKOFF).await;
        };
    }
    if let Err(e) = member.leave().await {
        tracing::warn!(error = %format!("{e:#}"), "cannot leave the group");
    }
}

/// Reads `connect-configs` as it grows.
async fn tail_configs(worker: Weak<Worker>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let Some(w) = worker.upgrade() else { return };
        if let Err(e) = w.catch_up().await {
            tracing::warn!(error = %format!("{e:#}"), "cannot read the config topic");
        }
        let position = w.cluster().map(|c| c.position()).unwrap_or(0);
        let topic = w.settings.internal_topics.configs.clone();
        let log = w.log.clone();
        drop(w);
        let watched = [(topic, 0, position)];
        tokio::select! {
            _ = log.wait_for_data(&watched, TAIL_WAIT) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Reads `connect-status` as it grows, so every worker knows every instance's state.
async fn tail_statuses(worker: Weak<Worker>, mut shutdown: watch::Receiver<bool>) {
    let mut positions = BTreeMap::new();
    loop {
        let Some(w) = worker.upgrade() else { return };
        match w.stores.tail_statuses(&mut positions).await {
            Ok(records) => w.board.merge_remote(records),
            Err(e) => tracing::warn!(error = %format!("{e:#}"), "cannot read the status topic"),
        }
        let topic = w.settings.internal_topics.status.clone();
        let watched: Vec<(String, i32, i64)> = positions
            .iter()
            .map(|(p, o)| (topic.clone(), *p, *o))
            .collect();
        let log = w.log.clone();
        drop(w);
        tokio::select! {
            _ = log.wait_for_data(&watched, TAIL_WAIT) => {}
            _ = shutdown.changed() => return,
        }
    }
}
